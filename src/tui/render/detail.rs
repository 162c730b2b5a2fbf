//! The detail views. A handshake: why it failed and how to fix it (findings with their
//! explanation and hint), the evidence (request and response as on the wire, with the headers
//! that broke a rule highlighted, expected vs actual accept, packets, timings), or the raw
//! bytes. A WebSocket connection: its story, then its stream followed frame by frame from the
//! engine's frame log (time, direction, opcode, length, flags, payload start or close code and
//! reason), silences and frames not kept marked, or the raw bytes of its packets. A TLS
//! connection: what the hellos, certificate and alerts showed. An Engine.IO session: its
//! connections, polls, upgrade and probe, pings, namespaces, errors and how it ended.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::verdict_style;
use crate::event::{BrokenAt, HopLink};
use crate::event::{ConnectionRecord, HandshakeRecord, Message};
use crate::event::{LoggedFrame, Peer, TlsRecord};
use crate::finding::{Finding, HeadPart, MessageRef, Severity};
use crate::present::{
    accept_check, body_lines, citing, connection_story, escape, format_time_of_day, format_ts,
    missing_lines, packet_list, request_summary, AcceptCheck,
};
use crate::tui::app::{App, HexDump, HexLoading, HexWindow, MAX_HEX_PACKETS};
use crate::tui::tabs::{short_duration, ConnRow, Tab};

/// Bytes per hex dump line (fits 80 columns with the offset and the text column).
const HEX_WIDTH: usize = 16;

/// The lines of the current detail view, its title, and the line of the followed stream's
/// first close frame (what [`super::jump`] searches and the renderer draws).
pub(crate) fn current(app: &App) -> Option<(Line<'static>, Vec<Line<'static>>, Option<usize>)> {
    match app.tab {
        Tab::Handshakes => {
            let r = app.selected_record()?;
            Some(handshake(app, r))
        }
        Tab::EngineIo => {
            let s = app.engineio.selected_record()?;
            let title = Line::from(vec![
                Span::styled(
                    format!(" Engine.IO session {} ", s.ending),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(" its connections, polls, upgrade and heartbeat "),
            ]);
            Some((title, engineio_lines(s), None))
        }
        Tab::H2 => {
            let r = app.h2.selected_record()?;
            Some(handshake(app, &r.0))
        }
        Tab::Connections => {
            let row = app.conns.selected_record()?;
            let c = &row.record;
            let title = Line::from(vec![
                Span::styled(
                    format!(" {} ", c.ending.as_str()),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(if app.detail_hex {
                    " raw packets (Tab: the stream · ] [ } {: other packets) "
                } else {
                    " the stream, frame by frame (Tab: raw packets · e: the close) "
                }),
            ]);
            if app.detail_hex {
                let at = app.conns.selected_index();
                let hex = app
                    .hex
                    .as_ref()
                    .filter(|h| h.connection.is_some() && h.connection == at);
                let loading = app.hex_loading.filter(|l| Some(l.connection) == at);
                return Some((title, connection_hex_lines(hex, loading), None));
            }
            let (lines, close) = connection_lines(row);
            Some((title, lines, close))
        }
        Tab::Tls => {
            let t = app.tls.selected_record()?;
            let title = Line::from(Span::styled(
                format!(" TLS {} ", t.outcome.as_str()),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            Some((title, tls_lines(t), None))
        }
    }
}

/// Draws the detail view of the selected row of the current tab.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let Some((title, lines, _)) = current(app) else {
        return;
    };
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    // Scrolled by screen rows (long lines wrap); the last row stays reachable.
    let rows = paragraph.line_count(area.width);
    let max_scroll = u16::try_from(rows.saturating_sub(1)).unwrap_or(u16::MAX);
    frame.render_widget(
        paragraph
            .block(Block::default().borders(Borders::TOP).title(title))
            .scroll((app.detail_scroll.min(max_scroll), 0)),
        area,
    );
}

fn handshake(
    app: &App,
    record: &HandshakeRecord,
) -> (Line<'static>, Vec<Line<'static>>, Option<usize>) {
    let (title, lines) = if app.detail_hex {
        let hex = app.hex.as_ref().filter(|h| h.record_id == record.id);
        (" raw bytes (Tab: analysis) ", hex_lines(record, hex))
    } else {
        (
            " analysis (Tab: raw bytes) ",
            detail_lines(record, app.connection_of(record), app.hop_of(record)),
        )
    };
    let title = Line::from(vec![
        Span::styled(
            format!(" #{} ", record.id),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("{} ", record.verdict.as_str().to_uppercase()),
            verdict_style(record.verdict),
        ),
        Span::raw(title),
    ]);
    (title, lines, None)
}

fn label(s: &str) -> Span<'static> {
    Span::styled(format!("{s:<11}"), Style::new().fg(Color::Cyan))
}

fn section(s: &str) -> Line<'static> {
    Line::styled(
        s.to_owned(),
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    )
}

fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::Warning => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        Severity::Info => Style::new().fg(Color::Blue),
    }
}

/// The analysis of `r` as lines: summary, accept check, findings, request and response.
#[must_use]
pub fn detail_lines(
    r: &HandshakeRecord,
    conn: Option<&ConnectionRecord>,
    hop: Option<&HopLink>,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let status = r
        .response
        .as_ref()
        .map_or_else(|| "no response".to_owned(), |m| escape(&m.head.start_line));
    out.push(Line::from(vec![
        Span::styled(
            format!("{} → {}", r.client, r.server),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw("  "),
        Span::styled(r.verdict.as_str().to_uppercase(), verdict_style(r.verdict)),
        Span::raw(format!("  {status}")),
    ]));
    out.push(Line::from(vec![
        label("time"),
        Span::raw(format!("{} UTC", format_ts(r.ts))),
    ]));
    let request = escape(&request_summary(r));
    let host = r.host.as_deref().map(escape).unwrap_or_else(|| "-".into());
    out.push(Line::from(vec![
        label("request"),
        Span::raw(format!("{request}   Host {host}")),
    ]));
    if let Some(origin) = &r.origin {
        out.push(Line::from(vec![label("origin"), Span::raw(escape(origin))]));
    }
    let mut packets = Vec::new();
    if let Some(m) = &r.request {
        packets.push(format!("request {}", packet_list(&m.packets)));
    }
    for m in &r.interim {
        packets.push(format!("interim {}", packet_list(&m.packets)));
    }
    if let Some(m) = &r.response {
        packets.push(format!("response {}", packet_list(&m.packets)));
    }
    out.push(Line::from(vec![
        label("packets"),
        Span::raw(if packets.is_empty() {
            "-".to_owned()
        } else {
            packets.join("  ")
        }),
    ]));
    let t = &r.timing;
    let mut timing = Vec::new();
    if let Some(ms) = t.connect_rtt_ms {
        timing.push(format!("connect rtt {ms:.3} ms"));
    }
    if let Some(ms) = t.response_ms {
        timing.push(format!("response {ms:.3} ms"));
    }
    if let Some(ms) = t.waited_ms {
        timing.push(format!("waited {ms:.3} ms without answer"));
    }
    out.push(Line::from(vec![
        label("timing"),
        Span::raw(if timing.is_empty() {
            "-".to_owned()
        } else {
            timing.join("  ")
        }),
    ]));
    if let Some(ending) = r.ending {
        out.push(Line::from(vec![
            label("ending"),
            Span::raw(ending.describe()),
        ]));
    }
    out.push(Line::from(vec![
        label("community"),
        Span::raw(r.community_id.clone()),
    ]));
    if let Some(t) = &r.tls {
        out.push(Line::from(vec![
            label("tls"),
            Span::raw(escape(&crate::present::tls_carrier_words(t))),
        ]));
    }
    if !r.subprotocols_offered.is_empty() || r.subprotocol.is_some() {
        out.push(Line::from(vec![
            label("subproto"),
            Span::raw(format!(
                "offered [{}] → chosen {}",
                escape(&r.subprotocols_offered.join(", ")),
                r.subprotocol
                    .as_deref()
                    .map(escape)
                    .unwrap_or_else(|| "none".into())
            )),
        ]));
    }
    if !r.extensions_offered.is_empty() || !r.extensions.is_empty() {
        out.push(Line::from(vec![
            label("extensions"),
            Span::raw(format!(
                "offered [{}] → accepted [{}]",
                escape(&r.extensions_offered.join(", ")),
                escape(&r.extensions.join(", "))
            )),
        ]));
    }

    out.push(Line::raw(""));
    out.push(section("Sec-WebSocket-Accept"));
    out.push(Line::from(vec![
        label("key"),
        Span::raw(
            r.key
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "(none)".into()),
        ),
    ]));
    out.push(Line::from(vec![
        label("expected"),
        Span::raw(
            r.expected_accept
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "(no valid key)".into()),
        ),
    ]));
    let check = accept_check(r.expected_accept.as_deref(), r.accept.as_deref(), r.status);
    let (mark, style) = match check {
        Some(AcceptCheck::Match) => (" ✔ matches", Style::new().fg(Color::Green)),
        Some(AcceptCheck::Mismatch) => (
            " ✘ MISMATCH",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        Some(AcceptCheck::NoSwitch) | None => ("", Style::new()),
    };
    out.push(Line::from(vec![
        label("actual"),
        Span::raw(
            r.accept
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "(none)".into()),
        ),
        Span::styled(mark, style),
    ]));

    out.push(Line::raw(""));
    out.push(section(&format!("Findings ({})", r.findings.len())));
    if r.findings.is_empty() {
        out.push(Line::styled(
            "  none: every RFC 6455 rule was kept",
            Style::new().fg(Color::Green),
        ));
    }
    // A hop known after this record was written can correct one of its findings: the
    // corrected cause is shown in its place (the hop carries it; nothing is derived here).
    let correction = hop.and_then(|h| h.correction.as_ref().filter(|_| h.downstream == r.id));
    let findings = match hop {
        Some(h) => h.corrected_findings(&r.findings, r.id),
        None => r.findings.iter().collect(),
    };
    // The heads mark the lines the findings shown cite, the corrected one included.
    let cited: Vec<Finding> = findings.iter().map(|f| (*f).clone()).collect();
    for f in findings {
        finding_lines(f, &mut out);
        if let Some(c) = correction.filter(|c| std::ptr::eq(f, &c.finding)) {
            out.push(Line::styled(
                format!(
                    "          (in place of {}: both legs of the proxy hop show the proxy broke it)",
                    c.replaces.as_str()
                ),
                Style::new().fg(Color::DarkGray),
            ));
        }
    }

    out.push(Line::raw(""));
    head_lines(
        "Request",
        r.request.as_ref(),
        MessageRef::Request,
        &cited,
        &mut out,
    );
    for (i, m) in r.interim.iter().enumerate() {
        head_lines(
            "Interim response",
            Some(m),
            MessageRef::Interim(i),
            &cited,
            &mut out,
        );
    }
    head_lines(
        "Response",
        r.response.as_ref(),
        MessageRef::Response,
        &cited,
        &mut out,
    );
    if let Some(h) = hop {
        out.push(Line::raw(""));
        out.push(section("Proxy hop"));
        let role = if h.downstream == r.id {
            format!("client side of the proxy; upstream leg is #{}", h.upstream)
        } else {
            format!(
                "upstream side of the proxy; client leg is #{}",
                h.downstream
            )
        };
        // The hop names the real client: on the upstream leg `r.client` is the proxy's own
        // outgoing address.
        out.push(Line::raw(format!(
            "  {} → {} → {} ({role})",
            h.client, h.proxy, h.upstream_server
        )));
        let style = if h.broken_at == BrokenAt::Nowhere {
            Style::new().fg(Color::Green)
        } else {
            Style::new().fg(Color::Red)
        };
        out.push(Line::styled(format!("  {}", escape(&h.explanation)), style));
        for c in &h.request_changes {
            out.push(Line::raw(format!(
                "  request {} {}: {} → {}{}",
                c.kind.as_str(),
                escape(&c.name),
                escape(c.before.as_deref().unwrap_or("-")),
                escape(c.after.as_deref().unwrap_or("-")),
                if c.hop_by_hop { "  (hop-by-hop)" } else { "" }
            )));
        }
    }
    out.push(Line::raw(""));
    out.push(section("After the switch"));
    match conn {
        Some(c) => {
            out.push(Line::raw(format!("  {}", connection_story(c))));
            for f in &c.findings {
                finding_lines(f, &mut out);
            }
        }
        None if r.status == Some(101) => out.push(Line::styled(
            "  the connection has not ended yet (its story is told when it closes)",
            Style::new().fg(Color::DarkGray),
        )),
        None => out.push(Line::styled(
            "  no switch: the connection never became a WebSocket",
            Style::new().fg(Color::DarkGray),
        )),
    }
    out
}

fn finding_lines(f: &Finding, out: &mut Vec<Line<'static>>) {
    let packets = if f.packets.is_empty() {
        String::new()
    } else {
        format!(" [packet {}]", packet_list(&f.packets))
    };
    out.push(Line::from(vec![
        Span::styled(
            format!("  {:<7} ", f.severity.as_str()),
            severity_style(f.severity),
        ),
        Span::styled(
            f.code.as_str().to_owned(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(": {}{packets}", escape(&f.message))),
    ]));
    for line in &f.lines {
        out.push(Line::from(vec![
            Span::raw("          evidence: "),
            Span::styled(escape(line), Style::new().fg(Color::Yellow)),
        ]));
    }
    out.push(Line::from(vec![
        Span::styled("          why: ", Style::new().fg(Color::Cyan)),
        Span::raw(f.code.title()),
    ]));
    out.push(Line::from(vec![
        Span::styled("          fix: ", Style::new().fg(Color::Green)),
        Span::raw(f.hint),
    ]));
}

/// The codes citing a line and the style of the worst of them, if any cite it.
fn marks(citing: &[&Finding]) -> Option<(String, Style)> {
    let worst = citing.iter().map(|f| f.severity).max()?;
    let mut codes: Vec<&str> = citing.iter().map(|f| f.code.as_str()).collect();
    codes.dedup();
    Some((codes.join(", "), severity_style(worst)))
}

/// One message's head as on the wire, each line its findings' evidence cites highlighted with
/// their codes, then the lines it lacks (the same evidence the report marks).
fn head_lines(
    title: &str,
    msg: Option<&Message>,
    at: MessageRef,
    findings: &[Finding],
    out: &mut Vec<Line<'static>>,
) {
    let Some(m) = msg else {
        out.push(section(title));
        out.push(Line::styled(
            "  not captured",
            Style::new().fg(Color::DarkGray),
        ));
        return;
    };
    out.push(section(&format!(
        "{title} (packet {}{})",
        packet_list(&m.packets),
        if m.truncated { ", cut by snaplen" } else { "" }
    )));
    let mut push = |line: String, part: HeadPart| {
        let text = format!("  {}", escape(&line));
        let cited: Vec<&Finding> = citing(findings, at, &part).collect();
        match marks(&cited) {
            Some((codes, style)) => out.push(Line::from(vec![
                Span::styled(text, style.add_modifier(Modifier::REVERSED)),
                Span::styled(format!("  ◀ {codes}"), style),
            ])),
            None => out.push(Line::raw(text)),
        }
    };
    push(m.head.start_line.clone(), HeadPart::StartLine);
    for (i, h) in m.head.headers.iter().enumerate() {
        push(h.line(), HeadPart::Header(i));
    }
    for (line, f) in missing_lines(findings, at) {
        out.push(Line::from(vec![
            Span::styled(
                format!("  missing: {}", escape(line)),
                severity_style(f.severity).add_modifier(Modifier::ITALIC),
            ),
            Span::styled(
                format!("  ◀ {}", f.code.as_str()),
                severity_style(f.severity),
            ),
        ]));
    }
    if let Some(body) = &m.body {
        let lines = body_lines(body, BODY_LINES);
        if !lines.is_empty() {
            out.push(Line::raw(""));
        }
        for line in lines {
            out.push(Line::styled(
                format!("  {}", escape(&line)),
                Style::new().fg(Color::Cyan),
            ));
        }
    }
}

/// Most lines of a kept body shown under its response.
const BODY_LINES: usize = 40;

/// The raw frames of `r` as a hex dump.
fn hex_lines(r: &HandshakeRecord, hex: Option<&HexDump>) -> Vec<Line<'static>> {
    packet_hex_lines(hex, &format!("the packets of handshake #{}", r.id))
}

/// A connection's packets as a hex dump, under a line saying which of them they are, or
/// what is being loaded and how far a scan for them has got.
fn connection_hex_lines(hex: Option<&HexDump>, loading: Option<HexLoading>) -> Vec<Line<'static>> {
    if let Some(l) = loading {
        let what = match l.window {
            HexWindow::Ends => "the packets of this connection".to_owned(),
            HexWindow::From(p) => format!(
                "packets {} to {} of this connection",
                p.saturating_add(1),
                p.saturating_add(MAX_HEX_PACKETS as u64)
            ),
        };
        let mut out = vec![Line::raw(format!("loading {what} …"))];
        if l.scanning {
            #[allow(clippy::cast_precision_loss)]
            let percent = if l.of == 0 {
                0.0
            } else {
                (l.done.min(l.of) as f64 * 100.0 / l.of as f64).floor()
            };
            out.push(Line::styled(
                format!(
                    "scanning the capture for them: {percent:.0} % ({} of {} packets) · Esc gives up",
                    l.done.min(l.of),
                    l.of
                ),
                Style::new().fg(Color::Yellow),
            ));
        }
        return out;
    }
    let mut out = Vec::new();
    if let Some(h) = hex {
        let shown = h.packets.len() as u64;
        let which = match (&h.positions, h.total) {
            (Some(r), Some(t)) => format!("packets {} to {} of {t}", r.start + 1, r.end),
            (Some(r), None) => format!("packets {} to {}", r.start + 1, r.end),
            (None, Some(t)) if t > shown => format!("the first and the last of {t} packets"),
            (None, Some(t)) => format!("all {t} packets"),
            (None, None) => "the packets its records cite".to_owned(),
        };
        out.push(Line::styled(
            format!("{which} · ] [ next / previous {MAX_HEX_PACKETS} · }} {{ a tenth on / back"),
            dim(),
        ));
    }
    out.extend(packet_hex_lines(hex, "the packets of this connection"));
    out
}

/// Loaded packets as a hex dump, or a line saying `what` is being loaded.
fn packet_hex_lines(hex: Option<&HexDump>, what: &str) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let Some(hex) = hex else {
        out.push(Line::raw(format!("loading {what} …")));
        return out;
    };
    if let Some(note) = &hex.note {
        out.push(Line::styled(escape(note), Style::new().fg(Color::Yellow)));
    }
    for (number, bytes) in &hex.packets {
        out.push(section(&format!(
            "packet {number} ({} bytes captured){}",
            bytes.len(),
            hex.labels
                .get(number)
                .map_or_else(String::new, |what| format!(": {what}"))
        )));
        for (i, chunk) in bytes.chunks(HEX_WIDTH).enumerate() {
            let mut hexpart = String::with_capacity(HEX_WIDTH * 3);
            for b in chunk {
                hexpart.push_str(&format!("{b:02x} "));
            }
            // Only printable ASCII reaches the terminal; everything else is a dot.
            let text: String = chunk
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            out.push(Line::from(vec![
                Span::styled(
                    format!("{:04x}  ", i * HEX_WIDTH),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::raw(format!("{hexpart:<48} ")),
                Span::styled(text, Style::new().fg(Color::Cyan)),
            ]));
        }
    }
    out
}

/// A silence between two frames at least this long is marked in the followed stream.
const SILENCE_MARK_NS: i64 = 1_000_000_000;

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

fn marker(text: String) -> Line<'static> {
    Line::styled(
        format!("  ┄┄ {text} ┄┄"),
        Style::new()
            .fg(Color::Yellow)
            .add_modifier(Modifier::ITALIC),
    )
}

fn seconds(ns: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let ms = ns as f64 / 1e6;
    short_duration(ms)
}

/// A frame's payload start as shown: a close frame's code and reason, text (escaped) when it
/// reads as UTF-8, else hex.
fn frame_payload(f: &LoggedFrame) -> String {
    let p = f.preview();
    if f.is_close() {
        let code = f
            .close_code
            .map_or_else(|| "no code".to_owned(), |c| c.to_string());
        return if p.is_empty() {
            code
        } else {
            format!("{code} \"{}\"", escape(&String::from_utf8_lossy(p)))
        };
    }
    if p.is_empty() {
        return String::new();
    }
    // A preview may end inside a character: what reads as text up to there is text.
    let text = match std::str::from_utf8(p) {
        Ok(t) => Some(t),
        Err(e) if e.error_len().is_none() => p
            .get(..e.valid_up_to())
            .and_then(|v| std::str::from_utf8(v).ok()),
        Err(_) => None,
    };
    // Compressed frames inflate to another length: only a full preview says there is more.
    let cut = if f.rsv1() {
        p.len() >= crate::event::FRAME_PREVIEW_BYTES
    } else {
        (p.len() as u64) < f.payload_len
    };
    let more = if cut { "…" } else { "" };
    match text.filter(|_| f.opcode != 0x2) {
        Some(t) => format!("\"{}{more}\"", escape(t)),
        None => {
            let hex: Vec<String> = p.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("{}{more}", hex.join(" "))
        }
    }
}

fn frame_line(f: &LoggedFrame, start: crate::capture::Timestamp) -> Line<'static> {
    let dir = match f.peer {
        Peer::Client => "C→S",
        Peer::Server => "S→C",
    };
    let dir_style = match f.peer {
        Peer::Client => Style::new().fg(Color::Cyan),
        Peer::Server => Style::new().fg(Color::Magenta),
    };
    let op_style = if f.is_close() {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if f.opcode >= 0x8 {
        Style::new().fg(Color::Blue)
    } else {
        Style::new()
    };
    #[allow(clippy::cast_precision_loss)]
    let since = f.ts.nanos_since(start).max(0) as f64 / 1e9;
    let rel = if since < 1000.0 {
        format!("+{since:.6}")
    } else {
        format!("+{}", seconds(f.ts.nanos_since(start)))
    };
    Line::from(vec![
        Span::styled(format!("  {} {rel:>11} ", format_time_of_day(f.ts)), dim()),
        Span::styled(format!("{dir} "), dir_style),
        Span::styled(format!("{:<6} ", f.opcode_name()), op_style),
        Span::raw(format!("{:>7} ", f.payload_len)),
        Span::styled(format!("{:<13} ", f.flag_words()), dim()),
        Span::raw(frame_payload(f)),
    ])
}

/// A WebSocket connection's detail: its story, findings and closes, then its stream frame by
/// frame; also the index of the line of the first close frame.
#[must_use]
pub fn connection_lines(row: &ConnRow) -> (Vec<Line<'static>>, Option<usize>) {
    let c = &row.record;
    let mut out = Vec::new();
    out.push(Line::from(vec![
        Span::styled(
            format!("{} → {}", c.client, c.server),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  {}  {}",
            c.ending.as_str(),
            short_duration(c.duration_ms)
        )),
    ]));
    out.push(Line::from(vec![
        label("time"),
        Span::raw(format!(
            "{} → {} UTC",
            format_ts(c.ts),
            format_time_of_day(c.end_ts)
        )),
    ]));
    let handshake = match c.handshake_id {
        Some(id) => format!(
            "#{id}  {}{}",
            row.host.as_deref().map(escape).unwrap_or_default(),
            row.path.as_deref().map(escape).unwrap_or_default()
        ),
        // HTTP/2 has no 101: a stream's opening is its extended CONNECT and the 200.
        None if c.h2_stream_id.is_some() => "not captured: frames seen without a handshake (the capture started after the stream's extended CONNECT and its 200)".to_owned(),
        None => "not captured: frames seen without a handshake (the capture started after the 101)"
            .to_owned(),
    };
    out.push(Line::from(vec![label("handshake"), Span::raw(handshake)]));
    out.push(Line::from(vec![
        label("story"),
        Span::raw(connection_story(c)),
    ]));
    for (name, d) in [
        ("client→", &c.client_to_server),
        ("server→", &c.server_to_client),
    ] {
        out.push(Line::from(vec![
            label(name),
            Span::raw(format!(
                "{} frames {} B: {} text, {} binary, {} ping, {} pong, {} close{}",
                d.frames,
                d.payload_bytes,
                d.text_messages,
                d.binary_messages,
                d.pings,
                d.pongs,
                d.closes,
                if d.decoding_stopped {
                    "; decoding stopped"
                } else {
                    ""
                }
            )),
        ]));
    }
    let mut tcp = c.tcp_end.describe().to_string();
    if let Some(ms) = c.idle_before_end_ms {
        tcp.push_str(&format!("; {} after the last frame", short_duration(ms)));
    }
    tcp.push_str(&format!(
        "; longest silence {}",
        short_duration(c.max_silence_ms)
    ));
    out.push(Line::from(vec![label("tcp"), Span::raw(tcp)]));
    // The findings in one line each here; why and how to fix them after the frames, so the
    // stream starts on the first screen.
    for f in &c.findings {
        out.push(Line::from(vec![
            label("finding"),
            Span::styled(format!("{} ", f.code.as_str()), severity_style(f.severity)),
            Span::raw(escape(&f.message)),
        ]));
    }
    out.push(Line::raw(""));
    let log = &c.frame_log;
    let total = c.client_to_server.frames + c.server_to_client.frames;
    let kept = log.len() as u64;
    out.push(section(&if log.omitted > 0 || log.refused {
        format!("Frames ({kept} of {total} kept: the first and the last)")
    } else {
        format!("Frames ({total})")
    }));
    out.push(Line::styled(
        "  time          since start dir opcode  length flags         payload",
        dim().add_modifier(Modifier::BOLD),
    ));
    let (frames, split) = log.in_time_order();
    let mut close = None;
    let mut prev: Option<crate::capture::Timestamp> = None;
    for (i, f) in frames.iter().enumerate() {
        if split == Some(i) {
            out.push(marker(format!(
                "{} frames ({} B of payload) not kept{}",
                log.omitted,
                log.omitted_bytes,
                if log.refused {
                    ": the memory budget was full"
                } else {
                    ""
                }
            )));
        } else if let Some(p) = prev {
            let gap = f.ts.nanos_since(p);
            if gap >= SILENCE_MARK_NS {
                out.push(marker(format!("{} without a frame", seconds(gap))));
            }
        }
        if f.is_close() && close.is_none() {
            close = Some(out.len());
        }
        out.push(frame_line(f, c.ts));
        prev = Some(f.ts);
    }
    if frames.is_empty() {
        out.push(Line::styled("  no frame was decoded", dim()));
    } else if split.is_none() && log.omitted > 0 {
        out.push(marker(format!("{} later frames not kept", log.omitted)));
    }
    if let Some(p) = prev {
        let gap = c.end_ts.nanos_since(p);
        if gap >= SILENCE_MARK_NS {
            out.push(marker(format!("{} without a frame", seconds(gap))));
        }
    }
    out.push(Line::styled(
        format!(
            "  {} end: {}",
            format_time_of_day(c.end_ts),
            c.tcp_end.describe()
        ),
        Style::new().add_modifier(Modifier::BOLD),
    ));
    if !c.findings.is_empty() {
        out.push(Line::raw(""));
        out.push(section(&format!("Findings ({})", c.findings.len())));
        for f in &c.findings {
            finding_lines(f, &mut out);
        }
        out.push(Line::from(vec![
            label("community"),
            Span::raw(c.community_id.clone()),
        ]));
    }
    (out, close)
}

/// The detail of Engine.IO session `s`: its story, the open packet's terms, a line per
/// connection that carried it (its part, addresses, transport, what it carried), the
/// upgrade with its probe, pings and pongs, namespaces, errors, the ending and the findings.
#[must_use]
pub fn engineio_lines(s: &crate::event::EngineIoSession) -> Vec<Line<'static>> {
    use crate::tui::engineio::{connection_detail, role};
    let mut out = vec![
        Line::from(Span::styled(
            escape(&crate::present::engineio_story(s)),
            Style::new().add_modifier(Modifier::BOLD),
        )),
        Line::from(vec![
            label("time"),
            Span::raw(format!(
                "{} UTC → {} ({})",
                format_ts(s.ts),
                format_time_of_day(s.end_ts),
                short_duration(
                    #[allow(clippy::cast_precision_loss)]
                    {
                        s.end_ts.0.saturating_sub(s.ts.0) as f64 / 1e6
                    }
                )
            )),
        ]),
    ];
    match &s.open {
        Some(o) => {
            let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
            out.push(Line::from(vec![
                label("open"),
                Span::raw(format!(
                    "packet {} over {} · upgrades [{}] · pingInterval {} · pingTimeout {}{}",
                    o.packet,
                    o.transport,
                    escape(&o.upgrades.join(", ")),
                    ms(o.ping_interval_ms),
                    ms(o.ping_timeout_ms),
                    o.max_payload
                        .map(|m| format!(" · maxPayload {m}"))
                        .unwrap_or_default()
                )),
            ]));
        }
        None => out.push(Line::from(vec![
            label("open"),
            Span::styled("not captured", dim()),
        ])),
    }
    out.push(Line::default());
    out.push(section(&format!(
        "Connections ({}; {} polling requests)",
        s.connections.len(),
        s.polls
    )));
    for c in &s.connections {
        out.push(Line::from(vec![
            Span::styled(
                format!("  {:<9} ", role(s, c)),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(format!(
                "{} → {} {} · {}",
                c.client,
                c.server,
                c.transport,
                connection_detail(s, c)
            )),
        ]));
    }
    out.push(Line::default());
    match &s.upgrade {
        Some(u) => out.push(Line::from(vec![
            label("upgrade"),
            Span::raw(format!(
                "handshake {} · HTTP {} ({}) · probe sent {} · probe answered {} · upgraded {}",
                u.handshake_id
                    .map_or_else(|| "not kept".to_owned(), |id| format!("#{id}")),
                u.status
                    .map_or_else(|| "no answer".to_owned(), |st| st.to_string()),
                u.verdict,
                yes_no(u.probe_sent),
                yes_no(u.probe_answered),
                yes_no(u.upgraded)
            )),
        ])),
        None => out.push(Line::from(vec![
            label("upgrade"),
            Span::styled("none attempted", dim()),
        ])),
    }
    out.push(Line::from(vec![
        label("heartbeat"),
        Span::raw(format!(
            "{} pings, {} pongs, longest wait for a pong {:.0} ms",
            s.heartbeat.pings, s.heartbeat.pongs, s.heartbeat.max_pong_wait_ms
        )),
    ]));
    for n in &s.namespaces {
        out.push(Line::from(vec![
            label("namespace"),
            Span::raw(format!(
                "{} {}{}",
                escape(&n.namespace),
                if n.connected { "connected" } else { "refused" },
                n.error
                    .as_deref()
                    .map(|e| format!(": {}", escape(e)))
                    .unwrap_or_default()
            )),
        ]));
    }
    for e in &s.errors {
        out.push(Line::from(vec![
            label("error"),
            Span::raw(format!(
                "HTTP {} code {} from {}: {} [packet {}]",
                e.status,
                e.code,
                e.server,
                escape(&e.message),
                e.packet
            )),
        ]));
    }
    out.push(Line::from(vec![
        label("ended"),
        Span::raw(format!("{} on {}", s.ending, s.transport)),
    ]));
    if !s.findings.is_empty() {
        out.push(Line::default());
        out.push(section("Findings"));
        for f in &s.findings {
            finding_lines(f, &mut out);
        }
    }
    out
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A TLS connection's detail: the story, what each hello and the certificate said, alerts,
/// findings.
#[must_use]
pub fn tls_lines(t: &TlsRecord) -> Vec<Line<'static>> {
    let mut out = vec![
        Line::from(Span::styled(
            format!("{} → {}", t.client, t.server),
            Style::new().add_modifier(Modifier::BOLD),
        )),
        Line::from(vec![
            label("story"),
            Span::raw(escape(&crate::present::tls_story(t))),
        ]),
        Line::from(vec![
            label("time"),
            Span::raw(format!("{} UTC", format_ts(t.ts))),
        ]),
        Line::from(vec![
            label("offered"),
            Span::raw(format!(
                "versions [{}]  alpn [{}]  {} ciphers",
                t.versions_offered.join(", "),
                escape(&t.alpn_offered.join(", ")),
                t.ciphers_offered
            )),
        ]),
    ];
    if let Some(cert) = &t.certificate {
        out.push(Line::from(vec![
            label("certificate"),
            Span::raw(format!(
                "{} (issuer {}){}",
                escape(&cert.subject),
                escape(&cert.issuer),
                if cert.self_signed {
                    ", self-signed"
                } else {
                    ""
                }
            )),
        ]));
    }
    for a in &t.alerts {
        out.push(Line::from(vec![
            label("alert"),
            Span::raw(format!(
                "{} {} {}{} [packet {}]",
                a.from.as_str(),
                a.level.unwrap_or("?"),
                escape(a.description.as_deref().unwrap_or("encrypted")),
                if a.probable { " (probable)" } else { "" },
                a.packet
            )),
        ]));
    }
    out.push(Line::raw(""));
    out.push(section(&format!("Findings ({})", t.findings.len())));
    for f in &t.findings {
        finding_lines(f, &mut out);
    }
    out
}
