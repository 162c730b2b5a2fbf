//! Markdown rendering of the [`ReportModel`]: the HTML report's content without the charts.
//!
//! Captured text only ever appears inside code spans or fenced blocks, fenced with more
//! backticks than it contains, after control characters were escaped (`\x1b`): a header value
//! cannot inject Markdown, HTML or terminal escapes into whatever displays the report.

use std::fmt::Write as _;

use super::model::{
    CloseModel, ConnSummary, ConnectionsModel, Detail, FindingCount, HopModel, ReportModel, TlsRow,
    Wire,
};
use crate::finding::Severity;
use crate::present::{
    broken_at_headline, close_order, curl_for_copying, escape, format_ms, packet_list, plural,
    AcceptCheck,
};

/// Longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Untrusted text as an inline code span (CommonMark §6.1): the fence is one backtick longer
/// than the longest run inside, padded with spaces so edge backticks stay content. `|` is
/// escaped because GFM splits table cells on it even inside code spans.
fn code(s: &str) -> String {
    let s = escape(s).replace('|', "\\|");
    if s.is_empty() {
        return "` `".to_owned();
    }
    let fence = "`".repeat(longest_backtick_run(&s) + 1);
    format!("{fence} {s} {fence}")
}

/// Untrusted lines as a fenced block, the fence longer than any backtick run inside.
fn block(lines: &[String]) -> String {
    let body: Vec<String> = lines.iter().map(|l| escape(l)).collect();
    let longest = body
        .iter()
        .map(|l| longest_backtick_run(l))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}text\n{}\n{fence}\n", body.join("\n"))
}

fn opt<T: ToString>(v: Option<T>, none: &str) -> String {
    v.map_or_else(|| none.to_owned(), |v| v.to_string())
}

/// Renders the whole report.
#[must_use]
pub(crate) fn render(m: &ReportModel) -> String {
    let mut o = String::new();
    let c = &m.capture;
    let _ = writeln!(o, "# WebSocket handshake report: {}\n", code(&c.file));
    let _ = writeln!(
        o,
        "{} Generated {} UTC by {}.\n",
        m.headline(),
        m.generated,
        m.tool
    );
    o.push_str("## Capture\n\n| | |\n|---|---|\n");
    let _ = writeln!(o, "| file | {} |", code(&c.file));
    let _ = writeln!(
        o,
        "| size | {} |",
        opt(
            c.size.map(|s| format!("{s} bytes")),
            "unknown (standard input)"
        )
    );
    let _ = writeln!(
        o,
        "| SHA-256 | {} |",
        c.sha256
            .as_deref()
            .map_or_else(|| "unknown".to_owned(), |h| format!("`{h}`"))
    );
    let _ = writeln!(
        o,
        "| link types | {} |",
        if c.linktypes.is_empty() {
            "none".to_owned()
        } else {
            c.linktypes.join(", ")
        }
    );
    let _ = writeln!(
        o,
        "| first packet | {} |",
        opt(c.first_packet.as_ref(), "–")
    );
    let _ = writeln!(o, "| last packet | {} |", opt(c.last_packet.as_ref(), "–"));
    let _ = writeln!(
        o,
        "| duration | {} |",
        opt(c.duration_s.map(|d| format!("{d:.6} s")), "–")
    );
    let _ = writeln!(o, "| packets | {} ({} bytes) |", c.packets, c.bytes);
    let _ = writeln!(
        o,
        "| TCP connections | {} ({} with a WebSocket upgrade) |",
        c.flows, c.upgrade_flows
    );
    let _ = writeln!(o, "| snap length | {} |", opt(c.snaplen, "unknown"));
    let _ = writeln!(
        o,
        "| drops | {} |",
        opt(c.drops, "not recorded in the file")
    );
    if let Some(e) = &c.read_error {
        let _ = writeln!(o, "| read error | {} |", code(e));
    }
    o.push('\n');
    if !c.files.is_empty() {
        o.push_str("Files, in the order read:\n\n| file | size | SHA-256 | packets | read error |\n|---|---:|---|---:|---|\n");
        for f in &c.files {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                code(&f.file),
                opt(f.size, "unknown"),
                f.sha256
                    .as_deref()
                    .map_or_else(|| "unknown".to_owned(), code),
                f.packets,
                f.read_error.as_deref().map_or_else(String::new, code)
            );
        }
        o.push('\n');
    }

    o.push_str("## Summary\n\n| verdict | handshakes |\n|---|---:|\n");
    for v in m.verdict_counts() {
        let _ = writeln!(o, "| {} | {} |", v.verdict.as_str(), v.count);
    }
    o.push('\n');
    if let Some(note) = m.incidents_note() {
        let _ = writeln!(o, "{note}.\n");
    }
    findings_table(&mut o, "handshakes", &m.findings);
    if !m.targets.is_empty() {
        o.push_str("Hosts and paths with the most failures:\n\n| host | path | failed | of |\n|---|---|---:|---:|\n");
        for t in &m.targets {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                code(&t.host),
                code(&t.path),
                t.failed,
                t.total
            );
        }
        o.push('\n');
    }
    if !m.statuses.is_empty() {
        let list: Vec<String> = m
            .statuses
            .iter()
            .map(|s| format!("{} ×{}", s.label, s.count))
            .collect();
        let _ = writeln!(o, "Response status: {}.\n", list.join(", "));
    }
    for n in &m.notices {
        let _ = writeln!(o, "Note: {}\n", code(n));
    }
    for l in &m.capture_evidence {
        let _ = writeln!(o, "Capture: {l}.\n");
    }
    for l in &m.limits {
        let _ = writeln!(o, "Limit: {l}.\n");
    }
    if !m.tls.is_empty() {
        o.push_str("## TLS connections\n\n");
        let t = &m.tls;
        let _ = writeln!(
            o,
            "{} TLS connections, {} failed, {} not decrypted.\n",
            t.total, t.failed, t.not_decrypted
        );
        if t.not_decrypted > 0 {
            o.push_str("WebSocket handshakes inside connections that were not decrypted cannot be seen: run wssniff with `--keylog FILE` (the client's SSLKEYLOGFILE), or capture behind the TLS terminator.\n\n");
        }
        for r in &t.failures {
            tls_row(&mut o, r);
            for (c, msg, hint) in &r.findings {
                let _ = writeln!(o, "  - {}: {} Fix: {}", code(c), escape(msg), escape(hint));
            }
        }
        if t.failures_unlisted > 0 {
            let _ = writeln!(
                o,
                "- … and {} more failed TLS connections",
                t.failures_unlisted
            );
        }
        if !t.carriers.is_empty() {
            o.push_str("\nDecrypted, and carried WebSocket handshakes:\n\n");
            for r in &t.carriers {
                tls_row(&mut o, r);
            }
        }
        if t.carriers_unlisted > 0 {
            let _ = writeln!(
                o,
                "- … and {} more that carried WebSocket handshakes",
                t.carriers_unlisted
            );
        }
        o.push('\n');
    }

    if !m.socketio.is_empty() {
        let s = &m.socketio;
        o.push_str("## Socket.IO sessions\n\n");
        let _ = writeln!(
            o,
            "{} Socket.IO session{}: {} on websocket, {} on polling, {} with a warning or an error.\n",
            s.total,
            if s.total == 1 { "" } else { "s" },
            s.websocket,
            s.polling,
            s.failed
        );
        for r in &s.sessions {
            let _ = writeln!(o, "- {} UTC: {}", r.time, code(&r.story));
            for c in &r.connections {
                let _ = writeln!(o, "  - connection {}", code(c));
            }
            for (c, msg, hint) in &r.findings {
                let _ = writeln!(o, "  - {}: {} Fix: {}", code(c), escape(msg), escape(hint));
            }
        }
        if s.sessions_unlisted > 0 {
            let _ = writeln!(o, "- … and {} more sessions", s.sessions_unlisted);
        }
        o.push('\n');
    }

    // A hop whose handshake is a problem incident is shown there, with both legs, once.
    let own_section: Vec<&HopModel> = m
        .hops
        .iter()
        .filter(|h| !m.groups.iter().any(|g| g.hops.contains(&h.anchor)))
        .collect();
    if !own_section.is_empty() {
        o.push_str("## Proxy hops\n\n");
        for h in own_section {
            let l = &h.link;
            let _ = writeln!(
                o,
                "### Hop {}: handshake #{} → proxy {} → upstream {}\n",
                h.anchor.trim_start_matches("hop"),
                l.downstream,
                l.proxy,
                l.upstream_server
            );
            hop_body(&mut o, h);
        }
    }

    if !m.groups.is_empty() {
        o.push_str("## Problem handshakes\n\n");
        for (i, g) in m.groups.iter().enumerate() {
            let d = &g.detail;
            if g.upstream_legs.is_empty() {
                let _ = writeln!(
                    o,
                    "### {}. {} {} → {} at {} ({})\n",
                    i + 1,
                    g.verdict.as_str().to_uppercase(),
                    code(&d.request_summary),
                    opt(d.status, "no response"),
                    d.server,
                    plural(g.count, "handshake")
                );
                detail(&mut o, d, false);
            } else {
                let path: Vec<&str> = g.upstream_legs.iter().map(|l| l.server.as_str()).collect();
                let count = g.upstream_legs.len() + 1;
                let _ = writeln!(
                    o,
                    "### {}. {} {} → {} via proxy {} → upstream {} ({}, {})\n",
                    i + 1,
                    g.verdict.as_str().to_uppercase(),
                    code(&d.request_summary),
                    opt(d.status, "no response"),
                    d.server,
                    path.join(" → upstream "),
                    plural(g.count, "proxied handshake"),
                    super::html::legs_words(g.count, count),
                );
                for h in g
                    .hops
                    .iter()
                    .filter_map(|a| m.hops.iter().find(|h| &h.anchor == a))
                {
                    hop_body(&mut o, h);
                }
                for (n, leg) in std::iter::once(d).chain(&g.upstream_legs).enumerate() {
                    let _ = writeln!(
                        o,
                        "#### Leg {} of {count}: {} (handshake #{}, {} → {})\n",
                        n + 1,
                        if n == 0 {
                            "client → proxy"
                        } else if n + 1 == count {
                            "proxy → upstream"
                        } else {
                            "proxy → next proxy"
                        },
                        leg.id,
                        leg.client,
                        leg.server
                    );
                    detail(&mut o, leg, true);
                }
            }
            if g.count > 1 {
                let _ = writeln!(o, "All {} occurrences:\n\n| # | time | client | frames | community id |\n|---:|---|---|---|---|", g.count);
                for oc in &g.occurrences {
                    let packets = packet_list(&oc.packets);
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} | `{}` |",
                        super::html::occurrence_ids(oc),
                        oc.time,
                        oc.client,
                        packets,
                        oc.community_id
                    );
                }
                if g.unlisted > 0 {
                    let _ = writeln!(o, "\n… and {} more, not listed.", g.unlisted);
                }
                o.push('\n');
            }
        }
    }

    after_the_switch(&mut o, &m.connections);

    o.push_str("## All handshakes\n\n| # | time | client | server | request | status | verdict | latency | top finding |\n|---:|---|---|---|---|---:|---|---:|---|\n");
    for r in &m.handshakes {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.id,
            r.time,
            r.client,
            r.server,
            code(&r.request),
            opt(r.status, "–"),
            r.verdict.as_str(),
            opt(r.latency_ms.map(format_ms), "–"),
            r.top_finding
                .as_deref()
                .map_or_else(|| "–".to_owned(), |c| format!("`{c}`")),
        );
    }
    if m.handshakes_unlisted > 0 {
        let _ = writeln!(
            o,
            "\n… and {} more handshakes, not listed.",
            m.handshakes_unlisted
        );
    }
    o.push('\n');
    all_connections(&mut o, &m.connections);
    o
}

/// The "After the switch" section: endings, findings and problem connection groups.
fn after_the_switch(o: &mut String, c: &ConnectionsModel) {
    o.push_str("## After the switch\n\n");
    if c.total == 0 {
        o.push_str("No WebSocket connection was opened in this capture.\n\n");
        return;
    }
    let _ = writeln!(o, "{}\n", c.summary_sentence());
    o.push_str("| ending | connections | meaning |\n|---|---:|---|\n");
    for e in &c.endings {
        let _ = writeln!(o, "| {} | {} | {} |", e.ending.as_str(), e.count, e.meaning);
    }
    o.push('\n');
    findings_table(o, "connections", &c.findings);
    if c.groups.is_empty() {
        return;
    }
    o.push_str("### Problem connections\n\n");
    for (i, g) in c.groups.iter().enumerate() {
        let codes: Vec<String> = g.findings.iter().map(|f| format!("`{}`", f.code)).collect();
        let _ = writeln!(
            o,
            "#### C{}. {} {} at {}{} ({})\n",
            i + 1,
            g.severity.as_str().to_uppercase(),
            codes.join(", "),
            g.server,
            g.path
                .as_deref()
                .map_or_else(String::new, |p| format!(" {}", code(p))),
            super::html::conn_group_count(g)
        );
        if let Some(h) = &g.host {
            let _ = writeln!(o, "Opened with Host {}.\n", code(h));
        } else if g.path.is_none() {
            o.push_str("The opening handshake is not known (not captured, or over the caps).\n\n");
        }
        let legs = g.upstream_legs.len() + 1;
        if legs > 1 {
            let _ = writeln!(o, "Leg 1 of {legs}: client → proxy {}.\n", g.server);
        }
        conn_findings(o, &g.findings);
        for (n, l) in g.upstream_legs.iter().enumerate() {
            let _ = writeln!(
                o,
                "Leg {} of {legs}: proxy → upstream {}{}.\n",
                n + 2,
                l.server,
                l.host
                    .as_deref()
                    .map_or_else(String::new, |h| format!(", opened with Host {}", code(h)))
            );
            if l.findings.is_empty() {
                o.push_str("No finding on this leg.\n\n");
            }
            conn_findings(o, &l.findings);
        }
        let _ = writeln!(o, "{}:\n", super::html::conn_occurrences_title(g));
        for (n, s) in g.occurrences.iter().enumerate() {
            occurrence(o, n + 1, s, "");
        }
        if g.unlisted > 0 {
            let _ = writeln!(o, "… and {} more, not listed.\n", g.unlisted);
        }
        o.push('\n');
    }
}

fn close_words(who: &str, c: &CloseModel) -> String {
    format!(
        "{who} {}{} (packet {})",
        c.label(),
        if c.reason.is_empty() {
            String::new()
        } else {
            format!(" reason {}", code(&c.reason))
        },
        c.packet
    )
}

/// A connection group's findings in full, one item each.
fn conn_findings(o: &mut String, findings: &[super::model::FindingDetail]) {
    for f in findings {
        let _ = writeln!(
            o,
            "- **{}** `{}`: {}  ",
            f.severity.as_str(),
            f.code,
            code(&f.message)
        );
        let _ = writeln!(o, "  {}  ", f.title);
        if f.severity != Severity::Info {
            let _ = writeln!(o, "  Fix: {}", f.hint);
        }
    }
    if !findings.is_empty() {
        o.push('\n');
    }
}

/// One connection as a numbered item (`n.`, or `leg n:` for a further leg, `indent` deeper),
/// its further legs below it.
fn occurrence(o: &mut String, n: usize, s: &ConnSummary, indent: &str) {
    let mark = if indent.is_empty() {
        format!("{n}.")
    } else {
        format!("- leg {n} (proxy → upstream):")
    };
    let pad = format!(
        "{indent}{}",
        " ".repeat(if indent.is_empty() { 3 } else { 2 })
    );
    let _ = writeln!(
        o,
        "{indent}{mark} {} to {} UTC, client {} → server {}, {}, community id `{}`",
        s.time,
        s.end_time,
        s.client,
        s.server,
        match (s.handshake_id, &s.hop) {
            (Some(id), Some(h)) => format!(
                "handshake #{id} (a leg of proxy hop {})",
                h.trim_start_matches("hop")
            ),
            (Some(id), None) => format!("handshake #{id}"),
            (None, _) => "handshake not captured".to_owned(),
        },
        s.community_id
    );
    let _ = writeln!(o, "{pad}- {}", code(&s.story));
    let list = close_order(
        s.close_initiator,
        s.client_close.as_ref(),
        s.server_close.as_ref(),
    );
    let words: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, (who, c))| {
            if i == 0 && list.len() > 1 {
                close_words(&format!("{} first:", who.as_str()), c)
            } else {
                close_words(who.as_str(), c)
            }
        })
        .collect();
    let _ = writeln!(
        o,
        "{pad}- close frames: {}",
        if words.is_empty() {
            "none".to_owned()
        } else {
            words.join("; then ")
        }
    );
    let _ = writeln!(
        o,
        "{pad}- TCP: {}{}",
        s.tcp_end_words(),
        s.idle_before_end_ms.map_or_else(String::new, |ms| format!(
            ", {} after the last frame",
            format_ms(ms)
        ))
    );
    for (i, leg) in s.upstream.iter().enumerate() {
        occurrence(o, i + 2, leg, &pad);
    }
}

/// Every connection in brief (up to the cap).
fn all_connections(o: &mut String, c: &ConnectionsModel) {
    if c.connections.is_empty() {
        return;
    }
    o.push_str("## All WebSocket connections\n\n| time | client | server | handshake | ending | top finding | story |\n|---|---|---|---:|---|---|---|\n");
    for s in &c.connections {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.time,
            s.client,
            s.server,
            opt(s.handshake_id.map(|id| format!("#{id}")), "–"),
            s.ending.as_str(),
            s.top_finding
                .map_or_else(|| "–".to_owned(), |c| format!("`{c}`")),
            code(&s.story)
        );
    }
    if c.connections_unlisted > 0 {
        let _ = writeln!(
            o,
            "\n… and {} more connections, not listed.",
            c.connections_unlisted
        );
    }
    o.push('\n');
}

/// The hop's verdict, explanation, legs and header changes.
fn hop_body(o: &mut String, h: &HopModel) {
    let l = &h.link;
    let _ = writeln!(o, "**{}**\n", broken_at_headline(l.broken_at));
    let _ = writeln!(o, "{}\n", escape(&l.explanation));
    let _ = writeln!(o, "Legs: handshake #{} (client → proxy, status {}) and #{} (proxy → upstream, status {}), same Sec-WebSocket-Key {}.\n", l.downstream, opt(l.downstream_status, "none"), l.upstream, opt(l.upstream_status, "none"), code(&l.key));
    if let Some((a, b)) = &l.request_line {
        let _ = writeln!(o, "Request line: {} → {}\n", code(a), code(b));
    }
    changes_table(
        o,
        "Request headers, client leg → upstream leg",
        &l.request_changes,
    );
    changes_table(
        o,
        "Response headers, upstream's answer → proxy's answer",
        &l.response_changes,
    );
}

/// One handshake in full; `in_incident` when it is shown as a leg of its proxied handshake
/// (the hop is right above it, so no pointer to it).
fn detail(o: &mut String, d: &Detail, in_incident: bool) {
    let _ = writeln!(
        o,
        "- handshake #{} at {} UTC, client {} → server {}{}",
        d.id,
        d.time,
        d.client,
        d.server,
        d.host
            .as_deref()
            .map_or_else(String::new, |h| format!(", Host {}", code(h)))
    );
    let _ = writeln!(o, "- community id: `{}`", d.community_id);
    if let Some(t) = &d.tls {
        let _ = writeln!(o, "- over TLS: {}", code(t));
    }
    if let Some(f) = &d.wireshark_filter {
        let _ = writeln!(o, "- Wireshark: `{f}`");
    }
    match (d.latency_ms, d.waited_ms, d.ending) {
        (Some(ms), _, _) => {
            let _ = writeln!(o, "- response after {}", format_ms(ms));
        }
        (None, Some(ms), e) => {
            let _ = writeln!(
                o,
                "- no response after {}{}",
                format_ms(ms),
                e.map_or_else(String::new, |e| format!("; {e}"))
            );
        }
        (None, None, e) => {
            if let Some(e) = e {
                let _ = writeln!(o, "- no response; {e}");
            }
        }
    }
    if let Some(h) = d.hop.as_ref().filter(|_| !in_incident) {
        let _ = writeln!(
            o,
            "- this is one leg of proxy hop {} (see Proxy hops)",
            h.trim_start_matches("hop")
        );
    }
    o.push('\n');
    for f in &d.findings {
        let packets = if f.packets.is_empty() {
            String::new()
        } else {
            format!(" [packet {}]", packet_list(&f.packets))
        };
        let _ = writeln!(
            o,
            "- **{}** `{}`: {}{packets}  ",
            f.severity.as_str(),
            f.code,
            code(&f.message)
        );
        let _ = writeln!(o, "  {}  ", f.title);
        if let Some(replaced) = f.replaces {
            let _ = writeln!(
                o,
                "  In place of `{replaced}`: both legs of the proxy hop show the proxy broke it.  "
            );
        }
        if f.severity != Severity::Info {
            let _ = writeln!(o, "  Fix: {}", f.hint);
        }
    }
    o.push('\n');
    if let Some(check) = d.accept_check {
        let words = match check {
            AcceptCheck::Mismatch => format!("**{}**", check.words()),
            _ => check.words().to_owned(),
        };
        let _ = writeln!(
            o,
            "Sec-WebSocket-Accept: expected {}, actual {} ({words})\n",
            d.expected_accept
                .as_deref()
                .map_or_else(|| "–".to_owned(), code),
            d.actual_accept
                .as_deref()
                .map_or_else(|| "none".to_owned(), code),
        );
    }
    if let Some(w) = &d.request {
        wire(o, "Request", w);
    }
    for w in &d.interim {
        wire(o, "Interim response", w);
    }
    if let Some(w) = &d.response {
        wire(o, "Response", w);
    }
    if let Some(c) = &d.curl {
        // One argument per line with `\`, as the TUI's popup: it reads, wraps and copies.
        let lines: Vec<String> = curl_for_copying(c).lines().map(str::to_owned).collect();
        let _ = writeln!(o, "Reproduce:\n\n{}", block(&lines));
    }
    if let Some(note) = d.curl_note {
        let _ = writeln!(o, "{note}\n");
    }
}

fn wire(o: &mut String, what: &str, w: &Wire) {
    let packets = packet_list(w.packets.get(..20).unwrap_or(&w.packets));
    let _ = writeln!(
        o,
        "{what} (packet {}{}, {} UTC{}); lines marked `>>` are cited by a finding:\n",
        packets,
        if w.packets.len() > 20 { ", …" } else { "" },
        w.time,
        if w.bare_lf {
            ", bare LF line endings"
        } else {
            ""
        }
    );
    let mut lines: Vec<String> = w
        .lines
        .iter()
        .map(|l| {
            if l.marks.is_empty() {
                format!("   {}", l.text)
            } else {
                format!(">> {}    <- {}", l.text, l.marks.join(", "))
            }
        })
        .collect();
    for m in &w.missing {
        lines.push(format!("-- missing: {}    <- {}", m.line, m.code));
    }
    if !w.body.is_empty() {
        lines.push(String::new());
        lines.extend(w.body.iter().map(|l| format!("   {l}")));
    }
    o.push_str(&block(&lines));
    o.push('\n');
}

/// One direction of a hop's header diff as a table (nothing when nothing changed).
fn changes_table(o: &mut String, title: &str, changes: &[crate::event::HeaderChange]) {
    if changes.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "{title}:\n\n| change | header | before | after |\n|---|---|---|---|"
    );
    for ch in changes {
        let _ = writeln!(
            o,
            "| {}{} | {} | {} | {} |",
            ch.kind.as_str(),
            if ch.hop_by_hop { " (hop-by-hop)" } else { "" },
            code(&ch.name),
            ch.before.as_deref().map_or_else(|| "–".to_owned(), code),
            ch.after.as_deref().map_or_else(|| "–".to_owned(), code)
        );
    }
    o.push('\n');
}

/// Findings by code (handshakes or connections, per `counted`); nothing when there are none.
fn findings_table(o: &mut String, counted: &str, findings: &[FindingCount]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "| finding | severity | {counted} | meaning |\n|---|---|---:|---|"
    );
    for f in findings {
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | {} |",
            f.code,
            f.severity.as_str(),
            f.count,
            f.title.replace('|', "\\|")
        );
    }
    o.push('\n');
}

/// One TLS connection's line: when, who to whom, and its story.
fn tls_row(o: &mut String, r: &TlsRow) {
    let _ = writeln!(
        o,
        "- {} UTC {} → {}: {}",
        r.time,
        r.client,
        r.server,
        code(&r.story)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_fence_backticks_and_escape_controls() {
        assert_eq!(code("a"), "` a `");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("x``y"), "``` x``y ```");
        assert_eq!(code("a|b"), "` a\\|b `");
        assert_eq!(code("\x1b[31m<script>"), "` \\x1b[31m<script> `");
    }

    #[test]
    fn blocks_fence_longer_than_content() {
        let b = block(&["```".to_owned(), "x".to_owned()]);
        assert!(b.starts_with("````text\n"), "{b}");
        assert!(b.ends_with("\n````\n"), "{b}");
    }
}
