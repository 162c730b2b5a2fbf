//! End-of-run summary: handshakes by verdict, findings by code, and the capture counters.
//!
//! In: every event of the run. Out: a few lines for standard error. It counts what the
//! records say and never looks at packets; when the line output left info findings out
//! (no `-v`), their counts go on a line of their own that says `-v` prints them, so the
//! footer never counts what the lines above it did not show without saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::Sink;
use crate::capture::{Linktype, ReadSummary};
use crate::engine::Stats;
use crate::event::BrokenAt;
use crate::event::{Event, Verdict};
use crate::finding::{Finding, Severity};
use crate::present::{escape, format_ts};

/// Counts what went by; prints it at the end.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Handshakes per verdict.
    pub verdicts: BTreeMap<Verdict, u64>,
    /// Findings per code (each handshake counted once per code).
    pub findings: BTreeMap<&'static str, u64>,
    /// Notices seen.
    pub notices: Vec<String>,
    /// WebSocket connections by how they ended.
    pub endings: BTreeMap<&'static str, u64>,
    /// Proxied handshakes with both legs linked.
    pub hops: u64,
    /// Of those, the ones the proxy broke (`proxy_request` or `proxy_response`).
    pub broken_hops: u64,
    /// The line output leaves info findings out (lines without `-v`): their counts are
    /// listed apart, saying `-v` prints them.
    pub info_hidden: bool,
    /// Codes seen at least once with a severity above info (printed by the default lines).
    pub(crate) above_info: BTreeSet<&'static str>,
    /// TLS connections seen.
    pub tls: TlsCounts,
    /// Engine.IO (Socket.IO) sessions seen.
    pub engineio: EngineIoCounts,
}

/// Engine.IO sessions by the transport they ended on and whether they failed.
#[derive(Clone, Debug, Default)]
pub struct EngineIoCounts {
    /// Sessions seen.
    pub total: u64,
    /// Those that moved to WebSocket (upgraded, or websocket-only).
    pub websocket: u64,
    /// Those that stayed on polling.
    pub polling: u64,
    /// Those with a finding above info (a warning or an error): what "with a warning or an
    /// error" counts in the summary and the report.
    pub failed: u64,
}

/// Most server names the summary counts TLS connections under; the rest are counted together.
const MAX_SNI_NAMES: usize = 1000;

/// TLS connections by server name and by what could be seen of them.
#[derive(Clone, Debug, Default)]
pub struct TlsCounts {
    /// Connections per SNI (`(no SNI)` when the ClientHello had none or was not captured).
    pub by_sni: BTreeMap<String, u64>,
    /// Connections whose name did not fit in `by_sni`.
    pub other_names: u64,
    /// All TLS connections.
    pub total: u64,
    /// Those whose handshake failed or was aborted.
    pub failed: u64,
    /// Those decrypted with a key log.
    pub decrypted: u64,
    /// Those (decrypted) that carried WebSocket handshakes.
    pub carried: u64,
}

impl Sink for Summary {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::Handshake(r) => {
                *self.verdicts.entry(r.verdict).or_default() += 1;
                self.count_codes(&r.findings);
            }
            Event::Connection(r) => {
                *self.endings.entry(r.ending.as_str()).or_default() += 1;
                self.count_codes(&r.findings);
            }
            Event::Notice(n) => self.notices.push(n.message.clone()),
            Event::Tls(t) => {
                self.count_codes(&t.findings);
                let c = &mut self.tls;
                c.total += 1;
                c.failed += u64::from(t.outcome.is_failure());
                c.decrypted += u64::from(t.decrypted);
                c.carried += u64::from(t.carried_websockets());
                let name = t.sni.clone().unwrap_or_else(|| "(no SNI)".to_owned());
                if c.by_sni.len() < MAX_SNI_NAMES || c.by_sni.contains_key(&name) {
                    *c.by_sni.entry(name).or_default() += 1;
                } else {
                    c.other_names += 1;
                }
            }
            Event::EngineIo(s) => {
                self.count_codes(&s.findings);
                let c = &mut self.engineio;
                c.total += 1;
                if s.transport == "websocket" {
                    c.websocket += 1;
                } else {
                    c.polling += 1;
                }
                c.failed += u64::from(s.findings.iter().any(|f| f.severity > Severity::Info));
            }
            Event::Hop(h) => {
                self.hops += 1;
                // An upstream that refused an intact request, or an answer not captured, is
                // not a hop breaking the handshake.
                if matches!(
                    h.broken_at,
                    BrokenAt::ProxyRequest | BrokenAt::ProxyResponse
                ) {
                    self.broken_hops += 1;
                }
                // The client's record was counted before the hop was known: count the
                // corrected cause in place of the finding it replaces.
                if let Some(c) = &h.correction {
                    let replaced = c.replaces.as_str();
                    if let Some(n) = self.findings.get_mut(replaced) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.findings.remove(replaced);
                        }
                    }
                    self.count_codes(std::slice::from_ref(&c.finding));
                }
            }
        }
        Ok(())
    }
}

impl Summary {
    /// Counts each code of one record's findings once.
    fn count_codes(&mut self, findings: &[Finding]) {
        let mut codes: Vec<&'static str> = findings.iter().map(|f| f.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        for c in codes {
            *self.findings.entry(c).or_default() += 1;
        }
        for f in findings.iter().filter(|f| f.severity > Severity::Info) {
            self.above_info.insert(f.code.as_str());
        }
    }

    /// Number of handshakes with verdict `v`.
    #[must_use]
    pub fn count(&self, v: Verdict) -> u64 {
        self.verdicts.get(&v).copied().unwrap_or(0)
    }

    /// Writes the human summary.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(
        &self,
        out: &mut dyn Write,
        stats: &Stats,
        read: Option<&ReadSummary>,
    ) -> io::Result<()> {
        let total: u64 = self.verdicts.values().sum();
        writeln!(
            out,
            "{total} WebSocket handshake{}: {} ok, {} warning, {} failed, {} incomplete",
            if total == 1 { "" } else { "s" },
            self.count(Verdict::Ok),
            self.count(Verdict::Warning),
            self.count(Verdict::Failed),
            self.count(Verdict::Incomplete),
        )?;
        let connections: u64 = self.endings.values().sum();
        if connections > 0 {
            let list: Vec<String> = self
                .endings
                .iter()
                .map(|(e, n)| format!("{n} {e}"))
                .collect();
            writeln!(
                out,
                "{connections} WebSocket connection{}: {}",
                if connections == 1 { "" } else { "s" },
                list.join(", ")
            )?;
        }
        self.write_tls(out, stats)?;
        let e = &self.engineio;
        if e.total > 0 {
            writeln!(
                out,
                "{} Socket.IO session{}: {} on websocket, {} on polling, {} with a warning or an error",
                e.total,
                if e.total == 1 { "" } else { "s" },
                e.websocket,
                e.polling,
                e.failed
            )?;
        }
        if self.hops > 0 {
            writeln!(
                out,
                "{} proxied handshake{} seen on both legs, {} broken by a hop",
                self.hops,
                if self.hops == 1 { "" } else { "s" },
                self.broken_hops
            )?;
        }
        let (shown, info): (Vec<_>, Vec<_>) = self
            .findings
            .iter()
            .partition(|(c, _)| !self.info_hidden || self.above_info.contains(*c));
        for (label, counts) in [
            ("findings", shown),
            ("info findings (printed with -v)", info),
        ] {
            if !counts.is_empty() {
                writeln!(out, "{label}: {}", top_counts(counts))?;
            }
        }
        let span = match (stats.first_ts, stats.last_ts) {
            (Some(a), Some(b)) => {
                #[allow(clippy::cast_precision_loss)]
                let secs = b.nanos_since(a) as f64 / 1e9;
                format!(", {} .. {} ({secs:.3} s)", format_ts(a), format_ts(b))
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "{} packets ({} bytes){span}; {} TCP segments, {} connections ({} with an upgrade)",
            stats.packets, stats.bytes, stats.tcp_segments, stats.flows, stats.upgrade_flows
        )?;
        for line in capture_evidence_lines(stats) {
            writeln!(out, "{line}")?;
        }
        if let Some(read) = read {
            let types: Vec<String> = read.linktypes.iter().map(Linktype::to_string).collect();
            if !types.is_empty() {
                writeln!(out, "link types: {}", types.join(", "))?;
            }
            if let Some(drops) = read.drops.filter(|d| *d > 0) {
                writeln!(
                    out,
                    "wssniff: warning: the capture file records {drops} packets dropped while capturing: handshakes may be missing or incomplete"
                )?;
            }
        }
        let caps = [
            (
                stats.flows_evicted_capacity,
                "connections evicted by --max-flows",
            ),
            (
                stats.flows_evicted_idle,
                "connections expired by --flow-timeout",
            ),
            (stats.header_limit_hits, "heads over --max-header-bytes"),
            (
                stats.bytes_dropped_by_caps,
                "bytes dropped by --max-buffer-bytes",
            ),
            (
                stats.pending_limit_hits,
                "connections with too many pipelined requests",
            ),
            (
                stats.records_out_of_order,
                "handshake records written out of id order",
            ),
            (
                stats.flows_evicted_memcap,
                "connections evicted by --memcap",
            ),
            (stats.memcap_records, "records marked memcap_reached"),
            (
                stats.engineio_bodies_cut,
                "Engine.IO sessions with a body cut by --eio-body-bytes",
            ),
            (
                stats.engineio_polls_not_followed,
                "Engine.IO sessions with polls not followed (over 32 polling streams open on one HTTP/2 connection)",
            ),
            (stats.ip_fragments, "IP fragments not reassembled"),
            (stats.truncated_packets, "packets cut by the snap length"),
            (stats.malformed, "malformed packets"),
            (
                stats.unsupported_linktype,
                "packets of unsupported link types",
            ),
        ];
        let hit: Vec<String> = caps
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if !hit.is_empty() {
            writeln!(out, "limits and skips: {}", hit.join("; "))?;
        }
        if !stats.memcap_refused.is_empty() {
            let refused: Vec<String> = stats
                .memcap_refused
                .iter()
                .map(|(what, r)| format!("{what} ×{} ({} bytes)", r.times, r.bytes))
                .collect();
            writeln!(
                out,
                "memory budget (--memcap) refused: {}",
                refused.join(", ")
            )?;
        }
        Ok(())
    }
}

/// What the capture lacked or repeated, one line each, only when there is something to say:
/// the capture's loss beside the network's, one-way connections, snap-length cuts, and what
/// was normalised. The summary and the forensic report print the same lines.
#[must_use]
pub fn capture_evidence_lines(stats: &Stats) -> Vec<String> {
    let e = &stats.capture_evidence;
    let loss = &e.loss;
    let mut lines = Vec::new();
    if loss.gaps > 0 || loss.retransmitted_segments > 0 {
        lines.push(format!(
            "capture loss: {}% ({} of {} ACKs acknowledged bytes the capture never saw, as Zeek's capture_loss), {} bytes missed; network loss: {} segments ({} bytes) retransmitted",
            e.capture_loss_percent,
            loss.gaps,
            loss.acks,
            loss.missed_bytes,
            loss.retransmitted_segments,
            loss.retransmitted_bytes
        ));
    }
    if e.one_sided_connections > 0 {
        lines.push(format!(
            "one direction only: {} connection{} (the other side's bytes are acknowledged but not captured: asymmetric routing or a one-way SPAN)",
            e.one_sided_connections,
            if e.one_sided_connections == 1 { "" } else { "s" }
        ));
    }
    if stats.truncated_packets > 0 {
        lines.push(format!(
            "snap length: {} packets cut, {} HTTP requests cut before their headers; capture with -s 0 to keep whole packets",
            stats.truncated_packets, e.http_requests_cut_before_headers
        ));
    }
    if e.duplicate_packets > 0 || e.timestamps_out_of_order > 0 || e.reordered_packets > 0 {
        lines.push(format!(
            "normalised: {} duplicate packets dropped (copies of a packet just seen: a SPAN port or overlapping files), {} packets put back in timestamp order (within the re-sort window), {} packets timestamped before a packet analysed earlier (later than the window: analysed where the file has them)",
            e.duplicate_packets, e.reordered_packets, e.timestamps_out_of_order
        ));
    }
    if e.timestamps_out_of_order > 0 {
        lines.push(
            "out of order beyond the re-sort window: widen it (--reorder-window SECONDS) or sort the file first (reordercap in.pcap sorted.pcap)".to_owned(),
        );
    }
    lines
}

impl Summary {
    /// TLS connections per SNI, what was not decrypted and the way out, and QUIC: a capture
    /// of wss:// or HTTP/3 traffic never reads as "0 handshakes" without a reason.
    fn write_tls(&self, out: &mut dyn Write, stats: &Stats) -> io::Result<()> {
        let c = &self.tls;
        if c.total > 0 {
            let mut names: Vec<(&String, &u64)> = c.by_sni.iter().collect();
            names.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let mut list: Vec<String> = names
                .iter()
                .take(10)
                .map(|(n, k)| format!("{} ×{k}", escape(n)))
                .collect();
            let shown: u64 = names.iter().take(10).map(|(_, k)| **k).sum();
            if c.total > shown {
                // Connections, and the names they went to: "3 more" alone reads as three
                // more names.
                let rest = c.total - shown;
                let others = names.len().saturating_sub(10);
                let under = match (others, c.other_names > 0) {
                    (0, true) => "other names".to_owned(),
                    (n, true) => format!("more than {n} other names"),
                    (1, false) => "1 other name".to_owned(),
                    (n, false) => format!("{n} other names"),
                };
                list.push(format!(
                    "{rest} more connection{} under {under}",
                    if rest == 1 { "" } else { "s" }
                ));
            }
            // With keys, how many of the decrypted ones carried WebSockets.
            let carried = if c.decrypted > 0 {
                format!(" ({} carried WebSocket handshakes)", c.carried)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{} TLS connection{}: {} failed, {} decrypted{carried}; by SNI: {}",
                c.total,
                if c.total == 1 { "" } else { "s" },
                c.failed,
                c.decrypted,
                list.join(", ")
            )?;
            let hidden = c.total - c.decrypted;
            if hidden > 0 {
                writeln!(
                    out,
                    "{hidden} TLS connection{} not decrypted: WebSocket handshakes inside {} cannot be seen. Give wssniff the session keys with --keylog FILE (the client's SSLKEYLOGFILE), or capture behind the TLS terminator (between the proxy and the WebSocket server)",
                    if hidden == 1 { "" } else { "s" },
                    if hidden == 1 { "it" } else { "them" },
                )?;
            }
        }
        if stats.quic_packets > 0 {
            writeln!(
                out,
                "QUIC: {} packets on UDP 443 ({} client Initial): HTTP/3, where RFC 9220 WebSockets run, is counted, not analysed",
                stats.quic_packets, stats.quic_initials
            )?;
        }
        Ok(())
    }
}

/// `code ×n` for the ten most frequent codes, most frequent first, ties by name.
fn top_counts(mut counts: Vec<(&&'static str, &u64)>) -> String {
    counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = counts
        .iter()
        .take(10)
        .map(|(c, n)| format!("{c} ×{n}"))
        .collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_line(by_sni: &[(&str, u64)], other_names: u64) -> String {
        let mut summary = Summary::default();
        let c = &mut summary.tls;
        for (name, n) in by_sni {
            c.by_sni.insert((*name).to_owned(), *n);
            c.total += n;
        }
        c.other_names = other_names;
        c.total += other_names;
        let mut out = Vec::new();
        summary
            .write_tls(&mut out, &Stats::default())
            .unwrap_or_else(|_| unreachable!());
        String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }

    #[test]
    fn the_tls_line_counts_the_connections_past_the_tenth_name_and_their_names() {
        let mut names: Vec<(String, u64)> = (0..10).map(|i| (format!("n{i}.example"), 5)).collect();
        names.push(("last.example".to_owned(), 3));
        let by: Vec<(&str, u64)> = names.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let line = tls_line(&by, 0);
        assert!(
            line.ends_with("n9.example ×5, 3 more connections under 1 other name"),
            "{line}"
        );
        names.push(("more.example".to_owned(), 1));
        let by: Vec<(&str, u64)> = names.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let line = tls_line(&by, 0);
        assert!(
            line.ends_with(", 4 more connections under 2 other names"),
            "{line}"
        );
        // Names past the map's cap are counted, not named: how many is unknown.
        let line = tls_line(&by, 2);
        assert!(
            line.ends_with(", 6 more connections under more than 2 other names"),
            "{line}"
        );
        let line = tls_line(&[("a.example", 1)], 1);
        assert!(
            line.ends_with("a.example ×1, 1 more connection under other names"),
            "{line}"
        );
    }
}
