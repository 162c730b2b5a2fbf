//! Self-contained HTML rendering of the [`ReportModel`]: inline CSS, inline SVG charts, no
//! scripts and no URLs that a browser would fetch, so the file opens offline, attaches to a
//! ticket and prints. The layout is one column that narrows on a phone; long header lines,
//! curl lines and captured values wrap (on screen and in print) instead of hiding behind a
//! horizontal scroll bar, and a wrapped head line continues indented under its start.
//!
//! Every piece of captured text goes through [`esc`]: control characters become visible
//! `\xNN` escapes first, then `& < > " '` become entities.

use std::fmt::Write as _;

use super::model::{
    ConnGroupModel, ConnSummary, ConnectionsModel, Detail, FindingCount, HopModel, ReportModel,
    Wire,
};
use super::svg;
use crate::event::{HeaderChange, Verdict};
use crate::finding::Severity;
use crate::present::escape_html as esc;
use crate::present::{
    broken_at_headline, close_order, format_ms, packet_list, plural, AcceptCheck,
};

/// Inline `code` spans in trusted catalogue text (hints) become `<code>`; the text itself is
/// escaped first.
fn hint(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

const CSS: &str = r"
:root{--ok:#2e7d32;--warning:#ef6c00;--failed:#c62828;--incomplete:#6a1b9a;--fg:#1a1a1a;--muted:#555;--line:#ddd}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:1.5em;margin:.2em 0}h2{border-bottom:2px solid var(--line);padding-bottom:.2em;margin-top:1.6em}
h3{margin-top:1.4em}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
pre{background:#f6f8fa;border:1px solid var(--line);padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}
.wire .l{display:block;white-space:pre-wrap;overflow-wrap:anywhere;padding-left:2ch;text-indent:-2ch}.wire .mark{background:#ffebee;border-left:4px solid var(--failed);font-weight:bold}
.wire .missing{color:var(--failed);font-style:italic}.wire .why{color:var(--failed);font-weight:normal}
table{border-collapse:collapse;margin:.5em 0;font-size:14px}
td,th{border:1px solid var(--line);padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right}td,th,td code{overflow-wrap:anywhere}code{overflow-wrap:break-word}
.scroll{overflow-x:auto;max-width:100%}
.v{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-weight:bold;font-size:.85em}
.v-ok{background:var(--ok)}.v-warning{background:var(--warning)}.v-failed{background:var(--failed)}.v-incomplete{background:var(--incomplete)}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:110px}
.card b{font-size:1.6em;display:block}
.group,.hop{border:1px solid var(--line);border-radius:6px;padding:4px 14px;margin:14px 0;break-inside:avoid-page}
.hop.broken{border-left:6px solid var(--failed)}.hop.fine{border-left:6px solid var(--ok)}
.group.conn{border-left:6px solid var(--warning)}.group.conn.error{border-left-color:var(--failed)}
.lead{font-size:1.1em;font-weight:bold}
.finding{margin:.4em 0}.finding .fix{color:var(--muted)}
.chart{max-width:720px;display:block;margin:.4em 0}.chart text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;fill:var(--fg)}
.muted{color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}.grid>div{min-width:0}
@media print{body{max-width:none;font-size:11pt}.group,.hop{break-inside:avoid}a{color:inherit;text-decoration:none}}
@media (max-width:600px){body{padding:6px;font-size:14px}td,th{padding:2px 4px}}
";

fn verdict(v: Verdict) -> String {
    format!(r#"<span class="v v-{v}">{v}</span>"#, v = v.as_str())
}

fn opt<T: ToString>(v: Option<T>, none: &str) -> String {
    v.map_or_else(|| none.to_owned(), |v| esc(&v.to_string()))
}

/// Renders the whole report.
#[must_use]
pub(crate) fn render(m: &ReportModel) -> String {
    let mut o = String::new();
    let c = &m.capture;
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>WebSocket handshake report: {}</title><style>{CSS}</style></head><body>\n",
        esc(&c.file)
    );
    let _ = writeln!(
        o,
        "<h1>WebSocket handshake report</h1><p class=\"muted\">Capture <code>{}</code> · generated {} UTC by {}</p>",
        esc(&c.file),
        esc(&m.generated),
        esc(&m.tool)
    );
    let _ = writeln!(o, "<p class=\"lead\">{}</p>", esc(&m.headline()));
    o.push_str("<div class=\"cards\">");
    let _ = write!(
        o,
        "<div class=\"card\"><b>{}</b>handshakes</div>",
        m.handshakes()
    );
    for v in m.verdict_counts() {
        let _ = write!(
            o,
            "<div class=\"card\" style=\"border-left:6px solid {}\"><b>{}</b>{}</div>",
            svg::verdict_colour(v.verdict),
            v.count,
            v.verdict.as_str()
        );
    }
    let _ = write!(
        o,
        "<div class=\"card\"><b>{}</b>proxy hops</div><div class=\"card\"><b>{}</b>WebSocket connections</div>",
        m.hops.len(),
        m.connections.incident_counts().0
    );
    let _ = writeln!(
        o,
        "<div class=\"card\" style=\"border-left:6px solid {}\"><b>{}</b>ended badly</div></div>",
        svg::verdict_colour(Verdict::Warning),
        m.connections.incident_counts().1
    );
    if let Some(note) = m.incidents_note() {
        let _ = writeln!(o, "<p class=\"muted\">{}.</p>", esc(&note));
    }

    o.push_str("<h2 id=\"capture\">Capture</h2><div class=\"scroll\"><table>");
    let rows: Vec<(&str, String)> = vec![
        ("file", format!("<code>{}</code>", esc(&c.file))),
        (
            "size",
            c.size.map_or_else(
                || "unknown (standard input)".to_owned(),
                |s| format!("{s} bytes"),
            ),
        ),
        (
            "SHA-256",
            c.sha256.as_deref().map_or_else(
                || "unknown".to_owned(),
                |h| format!("<code>{}</code>", esc(h)),
            ),
        ),
        (
            "link types",
            if c.linktypes.is_empty() {
                "none".to_owned()
            } else {
                esc(&c.linktypes.join(", "))
            },
        ),
        ("first packet", opt(c.first_packet.as_ref(), "–")),
        ("last packet", opt(c.last_packet.as_ref(), "–")),
        (
            "duration",
            c.duration_s
                .map_or_else(|| "–".to_owned(), |d| format!("{d:.6} s")),
        ),
        ("packets", format!("{} ({} bytes)", c.packets, c.bytes)),
        (
            "TCP connections",
            format!("{} ({} with a WebSocket upgrade)", c.flows, c.upgrade_flows),
        ),
        ("snap length", opt(c.snaplen, "unknown")),
        ("drops", opt(c.drops, "not recorded in the file")),
    ];
    for (k, v) in rows {
        let _ = write!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    if let Some(e) = &c.read_error {
        let _ = write!(
            o,
            "<tr><th>read error</th><td><code>{}</code></td></tr>",
            esc(e)
        );
    }
    o.push_str("</table></div>\n");
    if !c.files.is_empty() {
        o.push_str("<h3>Files, in the order read</h3><div class=\"scroll\"><table><tr><th>file</th><th>size</th><th>SHA-256</th><th>packets</th><th>read error</th></tr>");
        for f in &c.files {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&f.file),
                opt(f.size, "unknown"),
                esc(f.sha256.as_deref().unwrap_or("unknown")),
                f.packets,
                f.read_error.as_deref().map_or_else(String::new, esc)
            );
        }
        o.push_str("</table></div>\n");
    }

    o.push_str("<h2 id=\"summary\">Summary</h2>");
    if !m.findings.is_empty() {
        findings_table(&mut o, "handshakes", &m.findings);
    } else {
        o.push_str("<p>No findings.</p>");
    }
    if !m.targets.is_empty() {
        o.push_str("<h3>Hosts and paths with the most failures</h3><div class=\"scroll\"><table><tr><th>host</th><th>path</th><th>failed</th><th>of</th></tr>");
        for t in &m.targets {
            let _ = write!(o, "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>", esc(&t.host), esc(&t.path), t.failed, t.total);
        }
        o.push_str("</table></div>");
    }
    for n in &m.notices {
        let _ = write!(o, "<p>Note: <code>{}</code></p>", esc(n));
    }
    for l in &m.capture_evidence {
        let _ = write!(o, "<p>Capture: {}.</p>", esc(l));
    }
    for l in &m.limits {
        let _ = write!(o, "<p class=\"muted\">Limit: {}.</p>", esc(l));
    }
    if !m.tls.is_empty() {
        let t = &m.tls;
        let _ = write!(
            o,
            "<h3>TLS connections</h3><p>{} TLS connections, {} failed, {} not decrypted.</p>",
            t.total, t.failed, t.not_decrypted
        );
        if t.not_decrypted > 0 {
            o.push_str("<p>WebSocket handshakes inside connections that were not decrypted cannot be seen: run wssniff with <code>--keylog FILE</code> (the client's SSLKEYLOGFILE), or capture behind the TLS terminator.</p>");
        }
        if !t.failures.is_empty() {
            o.push_str("<ul>");
            for r in &t.failures {
                let _ = write!(
                    o,
                    "<li>{} UTC {} → {}: <code>{}</code><ul>",
                    esc(&r.time),
                    r.client,
                    r.server,
                    esc(&r.story)
                );
                for (c, msg, hint) in &r.findings {
                    let _ = write!(
                        o,
                        "<li><code>{}</code>: {} Fix: {}</li>",
                        esc(c),
                        esc(msg),
                        esc(hint)
                    );
                }
                o.push_str("</ul></li>");
            }
            o.push_str("</ul>");
        }
        if t.failures_unlisted > 0 {
            let _ = write!(
                o,
                "<p class=\"muted\">… and {} more failed TLS connections.</p>",
                t.failures_unlisted
            );
        }
        if !t.carriers.is_empty() {
            o.push_str("<p>Decrypted, and carried WebSocket handshakes:</p><ul>");
            for r in &t.carriers {
                let _ = write!(
                    o,
                    "<li>{} UTC {} → {}: <code>{}</code></li>",
                    esc(&r.time),
                    r.client,
                    r.server,
                    esc(&r.story)
                );
            }
            o.push_str("</ul>");
        }
        if t.carriers_unlisted > 0 {
            let _ = write!(
                o,
                "<p class=\"muted\">… and {} more that carried WebSocket handshakes.</p>",
                t.carriers_unlisted
            );
        }
    }
    if !m.socketio.is_empty() {
        let s = &m.socketio;
        let _ = write!(
            o,
            "<h3>Socket.IO sessions</h3><p>{} Socket.IO session{}: {} on websocket, {} on polling, {} with a warning or an error.</p><ul>",
            s.total,
            if s.total == 1 { "" } else { "s" },
            s.websocket,
            s.polling,
            s.failed
        );
        for r in &s.sessions {
            let _ = write!(
                o,
                "<li>{} UTC: <code>{}</code><ul>",
                esc(&r.time),
                esc(&r.story)
            );
            for c in &r.connections {
                let _ = write!(o, "<li>connection <code>{}</code></li>", esc(c));
            }
            for (c, msg, hint) in &r.findings {
                let _ = write!(
                    o,
                    "<li><code>{}</code>: {} Fix: {}</li>",
                    esc(c),
                    esc(msg),
                    esc(hint)
                );
            }
            o.push_str("</ul></li>");
        }
        o.push_str("</ul>");
        if s.sessions_unlisted > 0 {
            let _ = write!(
                o,
                "<p class=\"muted\">… and {} more sessions.</p>",
                s.sessions_unlisted
            );
        }
    }
    if m.total > 0 {
        o.push_str("<h3>Timeline</h3>");
        let _ = write!(
            o,
            "<p class=\"muted\">From {} UTC.</p>",
            opt(m.timeline.start.as_ref(), "–")
        );
        o.push_str(&svg::timeline(&m.timeline));
        // One chart a row: side by side, a 640-unit chart shrinks below legible text.
        o.push_str("<h3>Latency</h3>");
        o.push_str(&svg::latency(&m.latency));
        o.push_str("<h3>Status codes</h3>");
        o.push_str(&svg::statuses(&m.statuses));
        o.push('\n');
    }

    // A hop whose handshake is a problem incident is shown there, with both legs, once.
    let own_section: Vec<&HopModel> = m
        .hops
        .iter()
        .filter(|h| !m.groups.iter().any(|g| g.hops.contains(&h.anchor)))
        .collect();
    if !own_section.is_empty() {
        o.push_str("<h2 id=\"hops\">Proxy hops</h2><p class=\"muted\">Both legs of a proxied handshake were captured (same Sec-WebSocket-Key, the second request sent while the first waited). The tables show what the proxy changed.</p>");
        for h in own_section {
            let class = if matches!(h.link.broken_at, crate::event::BrokenAt::Nowhere) {
                "fine"
            } else {
                "broken"
            };
            let _ = write!(
                o,
                "<section class=\"hop {class}\" id=\"{}\"><h3>Hop {}: client → proxy {} → upstream {}</h3>",
                esc(&h.anchor),
                esc(h.anchor.trim_start_matches("hop")),
                esc(&h.link.proxy.to_string()),
                esc(&h.link.upstream_server.to_string()),
            );
            hop_body(&mut o, h);
            o.push_str("<div class=\"grid\">");
            if let Some(w) = &h.downstream_request {
                wire(&mut o, "Request as the client sent it", w);
            }
            if let Some(w) = &h.upstream_request {
                wire(&mut o, "Request as the proxy forwarded it", w);
            }
            o.push_str("</div></section>\n");
        }
    }

    if !m.groups.is_empty() {
        o.push_str("<h2 id=\"problems\">Problem handshakes</h2>");
        for (i, g) in m.groups.iter().enumerate() {
            let d = &g.detail;
            let hops: Vec<&HopModel> = g
                .hops
                .iter()
                .filter_map(|a| m.hops.iter().find(|h| &h.anchor == a))
                .collect();
            if g.upstream_legs.is_empty() {
                let _ = write!(
                    o,
                    "<section class=\"group\" id=\"{}\"><h3>{}. {} <code>{}</code> → {} at {} <span class=\"muted\">({})</span></h3>",
                    esc(&g.anchor),
                    i + 1,
                    verdict(g.verdict),
                    esc(&d.request_summary),
                    opt(d.status, "no response"),
                    esc(&d.server),
                    plural(g.count, "handshake")
                );
                detail(&mut o, d, false);
            } else {
                let path: Vec<String> = g.upstream_legs.iter().map(|l| esc(&l.server)).collect();
                let _ = write!(
                    o,
                    "<section class=\"group\" id=\"{}\"><h3>{}. {} <code>{}</code> → {} via proxy {} → upstream {} <span class=\"muted\">({}, {})</span></h3>",
                    esc(&g.anchor),
                    i + 1,
                    verdict(g.verdict),
                    esc(&d.request_summary),
                    opt(d.status, "no response"),
                    esc(&d.server),
                    path.join(" → upstream "),
                    plural(g.count, "proxied handshake"),
                    legs_words(g.count, g.upstream_legs.len() + 1)
                );
                // The hop anchors live here now: links to a hop land on its incident.
                for h in &hops {
                    let _ = write!(o, "<div id=\"{}\">", esc(&h.anchor));
                    hop_body(&mut o, h);
                    o.push_str("</div>");
                }
                let legs = std::iter::once(d).chain(&g.upstream_legs);
                let count = g.upstream_legs.len() + 1;
                for (n, leg) in legs.enumerate() {
                    let _ = write!(
                        o,
                        "<h4>Leg {} of {count}: {} <span class=\"muted\">(handshake #{}, {} → {})</span></h4>",
                        n + 1,
                        if n == 0 { "client → proxy" } else if n + 1 == count { "proxy → upstream" } else { "proxy → next proxy" },
                        leg.id,
                        esc(&leg.client),
                        esc(&leg.server)
                    );
                    detail(&mut o, leg, true);
                }
            }
            if g.count > 1 {
                let _ = write!(o, "<details><summary>All {} occurrences</summary><div class=\"scroll\"><table><tr><th>#</th><th>time (UTC)</th><th>client</th><th>frames</th><th>community id</th></tr>", g.count);
                for oc in &g.occurrences {
                    let packets = packet_list(&oc.packets);
                    let _ = write!(o, "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>", occurrence_ids(oc), esc(&oc.time), esc(&oc.client), packets, esc(&oc.community_id));
                }
                o.push_str("</table></div>");
                if g.unlisted > 0 {
                    let _ = write!(o, "<p>… and {} more, not listed.</p>", g.unlisted);
                }
                o.push_str("</details>");
            }
            o.push_str("</section>\n");
        }
    }

    after_the_switch(&mut o, &m.connections);

    o.push_str("<h2 id=\"all\">All handshakes</h2><div class=\"scroll\"><table><tr><th>#</th><th>time (UTC)</th><th>client</th><th>server</th><th>request</th><th>status</th><th>verdict</th><th>latency</th><th>top finding</th></tr>");
    for r in &m.handshakes {
        let link = match (&r.group, &r.hop) {
            (Some(g), _) => format!(" <a href=\"#{}\">details</a>", esc(g)),
            (None, Some(h)) => format!(" <a href=\"#{}\">hop</a>", esc(h)),
            (None, None) => String::new(),
        };
        let _ = write!(
            o,
            "<tr id=\"h{}\"><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}{link}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            r.id,
            r.id,
            esc(&r.time),
            esc(&r.client),
            esc(&r.server),
            esc(&r.request),
            opt(r.status, "–"),
            verdict(r.verdict),
            r.latency_ms.map_or_else(|| "–".to_owned(), format_ms),
            r.top_finding.as_deref().map_or_else(|| "–".to_owned(), |c| format!("<code>{}</code>", esc(c)))
        );
    }
    o.push_str("</table></div>");
    if m.handshakes_unlisted > 0 {
        let _ = write!(
            o,
            "<p>… and {} more handshakes, not listed.</p>",
            m.handshakes_unlisted
        );
    }
    all_connections(&mut o, &m.connections);
    o.push_str("\n</body></html>\n");
    o
}

/// The "After the switch" section: endings, findings and problem connection groups.
fn after_the_switch(o: &mut String, c: &ConnectionsModel) {
    o.push_str("<h2 id=\"after\">After the switch</h2>");
    if c.total == 0 {
        o.push_str("<p>No WebSocket connection was opened in this capture.</p>\n");
        return;
    }
    let _ = write!(o, "<p>{}</p>", c.summary_sentence());
    o.push_str(
        "<div class=\"scroll\"><table><tr><th>ending</th><th>connections</th><th>meaning</th></tr>",
    );
    for e in &c.endings {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td></tr>",
            e.ending.as_str(),
            e.count,
            esc(e.meaning)
        );
    }
    o.push_str("</table></div>");
    findings_table(o, "connections", &c.findings);
    if !c.groups.is_empty() {
        o.push_str("<h3>Problem connections</h3>");
    }
    for (i, g) in c.groups.iter().enumerate() {
        let codes: Vec<String> = g
            .findings
            .iter()
            .map(|f| format!("<code>{}</code>", esc(f.code)))
            .collect();
        let _ = write!(
            o,
            "<section class=\"group conn {}\" id=\"{}\"><h3>C{}. {} {} at {}{} <span class=\"muted\">({})</span></h3>",
            g.severity.as_str(),
            esc(&g.anchor),
            i + 1,
            verdict(if g.severity == Severity::Error {
                Verdict::Failed
            } else {
                Verdict::Warning
            }),
            codes.join(", "),
            esc(&g.server),
            g.path
                .as_deref()
                .map_or_else(String::new, |p| format!(" <code>{}</code>", esc(p))),
            conn_group_count(g)
        );
        if let Some(h) = &g.host {
            let _ = write!(o, "<p>Opened with Host <code>{}</code>.</p>", esc(h));
        } else if g.path.is_none() {
            o.push_str("<p class=\"muted\">The opening handshake is not known (not captured, or over the caps).</p>");
        }
        let legs = g.upstream_legs.len() + 1;
        if legs > 1 {
            let _ = write!(
                o,
                "<h4>Leg 1 of {legs}: client → proxy {}</h4>",
                esc(&g.server)
            );
        }
        for f in &g.findings {
            conn_finding(o, f);
        }
        for (n, l) in g.upstream_legs.iter().enumerate() {
            let _ = write!(
                o,
                "<h4>Leg {} of {legs}: proxy → upstream {}{}</h4>",
                n + 2,
                esc(&l.server),
                l.host.as_deref().map_or_else(String::new, |h| format!(
                    ", opened with Host <code>{}</code>",
                    esc(h)
                ))
            );
            if l.findings.is_empty() {
                o.push_str("<p class=\"muted\">No finding on this leg.</p>");
            }
            for f in &l.findings {
                conn_finding(o, f);
            }
        }
        let _ = write!(o, "<p>{}:</p><ol>", conn_occurrences_title(g));
        for s in &g.occurrences {
            occurrence(o, s);
        }
        o.push_str("</ol>");
        if g.unlisted > 0 {
            let _ = write!(o, "<p>… and {} more, not listed.</p>", g.unlisted);
        }
        o.push_str("</section>\n");
    }
}

/// `(2 connections)`, or `(1 proxied connection, 2 legs)` (trusted: numbers).
pub(super) fn conn_group_count(g: &ConnGroupModel) -> String {
    if g.upstream_legs.is_empty() {
        plural(g.count, "connection")
    } else {
        format!(
            "{}, {}",
            plural(g.count, "proxied connection"),
            legs_words(g.count, g.upstream_legs.len() + 1)
        )
    }
}

/// What the list of a connection group's incidents is called.
pub(super) fn conn_occurrences_title(g: &ConnGroupModel) -> String {
    match (g.count, g.upstream_legs.is_empty()) {
        (1, true) => "The connection".to_owned(),
        (1, false) => "The proxied connection, leg by leg".to_owned(),
        (n, true) => format!("All {n} connections"),
        (n, false) => format!("All {n} proxied connections, leg by leg"),
    }
}

fn conn_finding(o: &mut String, f: &super::model::FindingDetail) {
    {
        let _ = write!(
            o,
            "<div class=\"finding\"><b>{}</b> <code>{}</code>: {}<br><span class=\"muted\">{}</span>",
            f.severity.as_str(),
            esc(f.code),
            esc(&f.message),
            hint(f.title)
        );
        if f.severity != Severity::Info {
            let _ = write!(o, "<br><span class=\"fix\">Fix: {}</span>", hint(f.hint));
        }
        o.push_str("</div>");
    }
}

fn handshake_link(s: &ConnSummary) -> String {
    let hs = match (s.handshake_id, &s.handshake_anchor) {
        (Some(id), Some(a)) => format!("<a href=\"#{}\">handshake #{id}</a>", esc(a)),
        (Some(id), None) => format!("handshake #{id}"),
        (None, _) => "handshake not captured".to_owned(),
    };
    match &s.hop {
        Some(h) => format!(
            "{hs} (a leg of <a href=\"#{}\">proxy hop {}</a>)",
            esc(h),
            esc(h.trim_start_matches("hop"))
        ),
        None => hs,
    }
}

fn occurrence(o: &mut String, s: &ConnSummary) {
    let _ = write!(
        o,
        "<li>{} to {} UTC, client {} → server {}, {}, community id <code>{}</code><ul><li><code>{}</code></li>",
        esc(&s.time),
        esc(&s.end_time),
        esc(&s.client),
        esc(&s.server),
        handshake_link(s),
        esc(&s.community_id),
        esc(&s.story)
    );
    let list = close_order(
        s.close_initiator,
        s.client_close.as_ref(),
        s.server_close.as_ref(),
    );
    let words: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, (who, c))| {
            format!(
                "{}{} {} {}(packet {})",
                who.as_str(),
                if i == 0 && list.len() > 1 {
                    " first:"
                } else {
                    ""
                },
                esc(&c.label()),
                if c.reason.is_empty() {
                    String::new()
                } else {
                    format!("reason <code>{}</code> ", esc(&c.reason))
                },
                c.packet
            )
        })
        .collect();
    let _ = write!(
        o,
        "<li>close frames: {}</li><li>TCP: {}{}</li></ul></li>",
        if words.is_empty() {
            "none".to_owned()
        } else {
            words.join("; then ")
        },
        esc(s.tcp_end_words()),
        s.idle_before_end_ms.map_or_else(String::new, |ms| format!(
            ", {} after the last frame",
            format_ms(ms)
        ))
    );
    if !s.upstream.is_empty() {
        // The incident's other legs, under its client leg.
        let tail = "</ul></li>";
        o.truncate(o.len() - tail.len());
        for (n, leg) in s.upstream.iter().enumerate() {
            let _ = write!(o, "<li>leg {} (proxy → upstream):<ol>", n + 2);
            occurrence(o, leg);
            o.push_str("</ol></li>");
        }
        o.push_str(tail);
    }
}

/// Every connection in brief (up to the cap), folded away.
fn all_connections(o: &mut String, c: &ConnectionsModel) {
    if c.connections.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<h2 id=\"connections\">All WebSocket connections</h2><details><summary>{}</summary><div class=\"scroll\"><table><tr><th>time (UTC)</th><th>client</th><th>server</th><th>handshake</th><th>ending</th><th>top finding</th><th>story</th></tr>",
        plural(c.connections.len() as u64, "connection")
    );
    for s in &c.connections {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&s.time),
            esc(&s.client),
            esc(&s.server),
            match (s.handshake_id, &s.handshake_anchor) {
                (Some(id), Some(a)) => format!("<a href=\"#{}\">#{id}</a>", esc(a)),
                (Some(id), None) => format!("#{id}"),
                (None, _) => "–".to_owned(),
            },
            s.ending.as_str(),
            s.top_finding
                .map_or_else(|| "–".to_owned(), |c| format!("<code>{}</code>", esc(c))),
            esc(&s.story)
        );
    }
    o.push_str("</table></div></details>");
    if c.connections_unlisted > 0 {
        let _ = write!(
            o,
            "<p>… and {} more connections, not listed.</p>",
            c.connections_unlisted
        );
    }
}

fn changes(o: &mut String, title: &str, list: &[HeaderChange]) {
    if list.is_empty() {
        return;
    }
    let _ = write!(o, "<p>{}:</p><div class=\"scroll\"><table><tr><th>change</th><th>header</th><th>before</th><th>after</th></tr>", esc(title));
    for ch in list {
        let _ = write!(
            o,
            "<tr><td>{}{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            ch.kind.as_str(),
            if ch.hop_by_hop {
                " <span class=\"muted\">(hop-by-hop)</span>"
            } else {
                ""
            },
            esc(&ch.name),
            ch.before
                .as_deref()
                .map_or_else(|| "–".to_owned(), |v| format!("<code>{}</code>", esc(v))),
            ch.after
                .as_deref()
                .map_or_else(|| "–".to_owned(), |v| format!("<code>{}</code>", esc(v)))
        );
    }
    o.push_str("</table></div>");
}

/// `2 legs` for one proxied handshake, `2 legs each` for several.
pub(super) fn legs_words(incidents: u64, legs: usize) -> String {
    format!("{legs} legs{}", if incidents == 1 { "" } else { " each" })
}

/// `4`, or `4 → 5` for a proxied handshake's legs (trusted: numbers).
pub(super) fn occurrence_ids(oc: &super::model::Occurrence) -> String {
    std::iter::once(oc.id)
        .chain(oc.upstream_ids.iter().copied())
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(" → ")
}

/// The hop's verdict, explanation, legs and header changes (the requests are shown by the
/// caller: as two wire dumps in the hop section, as each leg's detail in an incident).
fn hop_body(o: &mut String, h: &HopModel) {
    let l = &h.link;
    let _ = write!(
        o,
        "<p><b>{}</b></p><p>{}</p>",
        esc(broken_at_headline(l.broken_at)),
        hint(&l.explanation)
    );
    let _ = write!(
        o,
        "<p>Legs: handshake #{} (client → proxy, status {}) and #{} (proxy → upstream, status {}); Sec-WebSocket-Key <code>{}</code>.</p>",
        l.downstream,
        opt(l.downstream_status, "none"),
        l.upstream,
        opt(l.upstream_status, "none"),
        esc(&l.key)
    );
    if let Some((a, b)) = &l.request_line {
        let _ = write!(
            o,
            "<p>Request line: <code>{}</code> → <code>{}</code></p>",
            esc(a),
            esc(b)
        );
    }
    changes(
        o,
        "Request headers, client leg → upstream leg",
        &l.request_changes,
    );
    changes(
        o,
        "Response headers, upstream's answer → proxy's answer",
        &l.response_changes,
    );
}

/// One handshake in full; `in_incident` when it is shown as a leg of its proxied handshake
/// (the hop is right there, so no link to it).
fn detail(o: &mut String, d: &Detail, in_incident: bool) {
    o.push_str("<ul>");
    let _ = write!(
        o,
        "<li>handshake #{} at {} UTC, client {} → server {}{}</li>",
        d.id,
        esc(&d.time),
        esc(&d.client),
        esc(&d.server),
        d.host
            .as_deref()
            .map_or_else(String::new, |h| format!(", Host <code>{}</code>", esc(h)))
    );
    let _ = write!(
        o,
        "<li>community id <code>{}</code></li>",
        esc(&d.community_id)
    );
    if let Some(t) = &d.tls {
        let _ = write!(o, "<li>over TLS: <code>{}</code></li>", esc(t));
    }
    if let Some(f) = &d.wireshark_filter {
        let _ = write!(o, "<li>Wireshark: <code>{}</code></li>", esc(f));
    }
    match (d.latency_ms, d.waited_ms, d.ending) {
        (Some(ms), _, _) => {
            let _ = write!(o, "<li>response after {}</li>", format_ms(ms));
        }
        (None, Some(ms), e) => {
            let _ = write!(
                o,
                "<li>no response after {}{}</li>",
                format_ms(ms),
                e.map_or_else(String::new, |e| format!("; {}", esc(e)))
            );
        }
        (None, None, Some(e)) => {
            let _ = write!(o, "<li>no response; {}</li>", esc(e));
        }
        (None, None, None) => {}
    }
    if let Some(h) = d.hop.as_ref().filter(|_| !in_incident) {
        let _ = write!(
            o,
            "<li>one leg of <a href=\"#{}\">proxy hop {}</a></li>",
            esc(h),
            esc(h.trim_start_matches("hop"))
        );
    }
    o.push_str("</ul>");
    for f in &d.findings {
        let packets = if f.packets.is_empty() {
            String::new()
        } else {
            format!(
                " <span class=\"muted\">[packet {}]</span>",
                packet_list(&f.packets)
            )
        };
        let _ = write!(
            o,
            "<div class=\"finding\"><b>{}</b> <code>{}</code>: {}{packets}<br><span class=\"muted\">{}</span>",
            f.severity.as_str(),
            esc(f.code),
            esc(&f.message),
            hint(f.title)
        );
        if let Some(replaced) = f.replaces {
            let _ = write!(
                o,
                "<br><span class=\"muted\">In place of <code>{}</code>: both legs of the proxy hop show the proxy broke it.</span>",
                esc(replaced)
            );
        }
        if f.severity != Severity::Info {
            let _ = write!(o, "<br><span class=\"fix\">Fix: {}</span>", hint(f.hint));
        }
        o.push_str("</div>");
    }
    if let Some(check) = d.accept_check {
        let words = match check {
            AcceptCheck::Mismatch => format!("<b>{}</b>", esc(check.words())),
            _ => esc(check.words()),
        };
        let _ = write!(
            o,
            "<p>Sec-WebSocket-Accept: expected <code>{}</code>, actual <code>{}</code>  ({words})</p>",
            opt(d.expected_accept.as_ref(), "–"),
            opt(d.actual_accept.as_ref(), "none"),
        );
    }
    o.push_str("<div class=\"grid\">");
    if let Some(w) = &d.request {
        wire(o, "Request", w);
    }
    for w in &d.interim {
        wire(o, "Interim response", w);
    }
    if let Some(w) = &d.response {
        wire(o, "Response", w);
    }
    o.push_str("</div>");
    if let Some(c) = &d.curl {
        let _ = write!(o, "<p>Reproduce:</p><pre>{}</pre>", esc(c));
    }
    if let Some(note) = d.curl_note {
        let _ = write!(o, "<p class=\"muted\">{}</p>", esc(note));
    }
}

fn wire(o: &mut String, what: &str, w: &Wire) {
    let packets = packet_list(w.packets.get(..20).unwrap_or(&w.packets));
    let _ =
        write!(
        o,
        "<div><p>{} <span class=\"muted\">(packet {}{}, {} UTC{})</span></p><pre class=\"wire\">",
        esc(what),
        packets,
        if w.packets.len() > 20 { ", …" } else { "" },
        esc(&w.time),
        if w.bare_lf { ", bare LF line endings" } else { "" }
    );
    for l in &w.lines {
        if l.marks.is_empty() {
            let _ = write!(o, "<span class=\"l\">{}</span>", esc(&l.text));
        } else {
            let _ = write!(
                o,
                "<span class=\"l mark\">{}  <span class=\"why\">← {}</span></span>",
                esc(&l.text),
                esc(&l.marks.join(", "))
            );
        }
    }
    for m in &w.missing {
        let _ = write!(
            o,
            "<span class=\"l missing\">missing: {}  ← {}</span>",
            esc(&m.line),
            esc(m.code)
        );
    }
    if !w.body.is_empty() {
        o.push_str("<span class=\"l\"></span>");
        for line in &w.body {
            let _ = write!(o, "<span class=\"l\">{}</span>", esc(line));
        }
    }
    o.push_str("</pre></div>");
}

/// Findings by code (handshakes or connections, per `counted`); nothing when there are none.
fn findings_table(o: &mut String, counted: &str, findings: &[FindingCount]) {
    if findings.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<div class=\"scroll\"><table><tr><th>finding</th><th>severity</th><th>{counted}</th><th>meaning</th></tr>"
    );
    for f in findings {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&f.code),
            f.severity.as_str(),
            f.count,
            hint(&f.title)
        );
    }
    o.push_str("</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_turns_backticks_into_code_after_escaping() {
        assert_eq!(hint("use `a<b`"), "use <code>a&lt;b</code>");
    }
}
