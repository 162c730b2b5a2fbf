//! Human line output, tcpdump-like: one line per handshake, one per WebSocket connection end,
//! each followed by its findings indented.
//!
//! ```text
//! 2026-11-21 23:45:18.123456 #1 127.0.0.1:51234 > 127.0.0.1:8080 GET /chat → 101 ok (0.8 ms)
//! 2026-11-21 23:45:19.000001 #2 127.0.0.1:51236 > 127.0.0.1:8081 GET /ws → 200 FAILED (1.1 ms)
//!     error upgrade_ignored: server answered 200 instead of 101 … [packet 7, 9]
//!           fix: Classic header stripping: …
//! 2026-11-21 23:45:20.500000 #1 127.0.0.1:51234 > 127.0.0.1:8080 closed clean: server 1001 "going away" → client 1001; c→s 3 msgs 45 B, s→c 3 msgs 60 B, 2.1 s
//! 2026-11-21 23:45:21.000000 TLS FAILED 127.0.0.1:51240 > 127.0.0.1:8443 sni=wrong.example TLSv1.3 → handshake failed: server alert unrecognized_name
//!     error tls_unrecognized_name: the server sent a fatal unrecognized_name alert to the SNI wrong.example [packet 5]
//! ```
//!
//! TLS connections get a line when they failed (or a finding warns) and, decrypted, when they
//! carried WebSocket handshakes; every one with `-v`. A handshake decrypted out of TLS names
//! its TLS connection in its tail (`TLSv1.3 sni=chat.example`).

use std::io::{self, Write};

use super::Sink;
use crate::event::{BrokenAt, HopLink};
use crate::event::{
    ConnectionRecord, EngineIoSession, Event, HandshakeRecord, Message, TlsRecord, Verdict,
};
use crate::finding::{Finding, Severity};
use crate::present::{
    body_lines, connection_story, escape, format_ms, format_ts, packet_list, request_summary,
    tls_carrier_words, tls_story,
};

/// Most lines of a kept body printed with `-v`.
const BODY_LINES: usize = 20;

/// How much to print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineStyle {
    /// ANSI colours.
    pub color: bool,
    /// Evidence lines, info findings and the full heads.
    pub verbose: bool,
}

/// Writes handshakes as human-readable lines.
pub struct LineSink<W: Write> {
    out: W,
    style: LineStyle,
}

impl<W: Write> LineSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W, style: LineStyle) -> Self {
        LineSink { out, style }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.style.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn verdict(&self, v: Verdict) -> String {
        match v {
            Verdict::Ok => self.paint("ok", "32"),
            Verdict::Warning => self.paint("warning", "33"),
            Verdict::Failed => self.paint("FAILED", "1;31"),
            Verdict::Incomplete => self.paint("incomplete", "36"),
        }
    }

    fn write_record(&mut self, r: &HandshakeRecord) -> io::Result<()> {
        let request = escape(&request_summary(r));
        let status = match (&r.response, r.status) {
            (Some(resp), Some(code)) => {
                let reason = match &resp.head.start {
                    crate::event::StartLine::Response { reason, .. } => escape(reason),
                    crate::event::StartLine::Request { .. } => String::new(),
                };
                format!("{code} {reason}").trim_end().to_owned()
            }
            _ => "no response".to_owned(),
        };
        let mut tail = Vec::new();
        if let Some(ms) = r.timing.response_ms {
            tail.push(format_ms(ms));
        } else if let Some(ms) = r.timing.waited_ms {
            tail.push(format!("waited {}", format_ms(ms)));
        }
        if let Some(t) = &r.tls {
            tail.push(escape(&tls_carrier_words(t)));
        }
        if let Some(h2) = &r.h2 {
            tail.push(format!("h2 stream {}", h2.stream_id));
        }
        if let Some(p) = &r.subprotocol {
            tail.push(format!("proto={}", escape(p)));
        }
        if !r.extensions.is_empty() {
            tail.push(format!("ext={}", escape(&r.extensions.join(","))));
        }
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!(" ({})", tail.join(", "))
        };
        let host = r
            .host
            .as_deref()
            .map(|h| format!(" host={}", escape(h)))
            .unwrap_or_default();
        writeln!(
            self.out,
            "{} #{} {} > {} {request}{host} → {status} {}{tail}",
            format_ts(r.ts),
            r.id,
            r.client,
            r.server,
            self.verdict(r.verdict),
        )?;
        self.write_findings(&r.findings)?;
        if self.style.verbose {
            // curl -v's marks: `>` what the client sent, `<` what it got back.
            if let Some(msg) = &r.request {
                self.write_head(msg, '>')?;
            }
            for msg in r.interim.iter().chain(&r.response) {
                self.write_head(msg, '<')?;
            }
        }
        Ok(())
    }

    fn write_connection(&mut self, r: &ConnectionRecord) -> io::Result<()> {
        let id = r
            .handshake_id
            .map_or_else(|| "#-".to_owned(), |id| format!("#{id}"));
        let stream = r
            .h2_stream_id
            .map(|s| format!(" h2 stream {s}"))
            .unwrap_or_default();
        writeln!(
            self.out,
            "{} {id} {} > {}{stream} {}",
            format_ts(r.end_ts),
            r.client,
            r.server,
            connection_story(r),
        )?;
        self.write_findings(&r.findings)
    }

    /// Two legs of one proxied handshake: which hop broke it, and the hop-by-hop headers the
    /// proxy changed (all changes with -v).
    fn write_hop(&mut self, h: &HopLink) -> io::Result<()> {
        let head = if h.broken_at == BrokenAt::Nowhere {
            self.paint("proxy hop", "32")
        } else {
            self.paint("proxy hop", "1;31")
        };
        writeln!(
            self.out,
            "    {head}: #{} via {} → #{} to {}: {}",
            h.downstream,
            h.proxy,
            h.upstream,
            h.upstream_server,
            escape(&h.explanation)
        )?;
        if let Some((before, after)) = &h.request_line {
            writeln!(
                self.out,
                "          request line: {} → {}",
                escape(before),
                escape(after)
            )?;
        }
        let shown = h
            .request_changes
            .iter()
            .filter(|c| self.style.verbose || c.hop_by_hop);
        for c in shown {
            writeln!(
                self.out,
                "          request {} {}: {} → {}",
                c.kind.as_str(),
                escape(&c.name),
                escape(c.before.as_deref().unwrap_or("-")),
                escape(c.after.as_deref().unwrap_or("-"))
            )?;
        }
        // The client's record was printed before the upstream leg was known: say which of its
        // findings the hop corrects, then the corrected cause as a finding of that record.
        if let Some(c) = &h.correction {
            writeln!(
                self.out,
                "    corrects #{}'s {}:",
                h.downstream,
                c.replaces.as_str()
            )?;
            self.write_findings(std::slice::from_ref(&c.finding))?;
        }
        Ok(())
    }

    fn write_findings(&mut self, findings: &[Finding]) -> io::Result<()> {
        for f in findings {
            if f.severity == Severity::Info && !self.style.verbose {
                continue;
            }
            let sev = match f.severity {
                Severity::Error => self.paint("error", "31"),
                Severity::Warning => self.paint("warning", "33"),
                Severity::Info => self.paint("info", "34"),
            };
            let frames = if f.packets.is_empty() {
                String::new()
            } else {
                format!(" [packet {}]", packet_list(&f.packets))
            };
            writeln!(
                self.out,
                "    {sev} {}: {}{frames}",
                f.code.as_str(),
                escape(&f.message)
            )?;
            if self.style.verbose {
                for line in &f.lines {
                    writeln!(self.out, "          | {}", escape(line))?;
                }
            }
            if f.severity > Severity::Info {
                writeln!(self.out, "          fix: {}", f.hint)?;
            }
        }
        Ok(())
    }

    /// A TLS connection: only the failed ones (or those with a warning) and, decrypted, those
    /// that carried WebSocket handshakes unless `-v`, so a capture of other TLS traffic does
    /// not print one line per connection.
    fn write_tls(&mut self, r: &TlsRecord) -> io::Result<()> {
        let notable = r.outcome.is_failure()
            || r.carried_websockets()
            || r.findings.iter().any(|f| f.severity > Severity::Info);
        if !notable && !self.style.verbose {
            return Ok(());
        }
        let mark = if r.outcome.is_failure() {
            self.paint("TLS FAILED", "1;31")
        } else {
            "tls".to_owned()
        };
        writeln!(
            self.out,
            "{} {mark} {} > {} {}",
            format_ts(r.ts),
            r.client,
            r.server,
            escape(&tls_story(r)),
        )?;
        self.write_findings(&r.findings)
    }

    /// One line per Engine.IO session (the sid shortened: it is a session credential), its
    /// findings below it.
    fn write_engineio(&mut self, s: &EngineIoSession) -> io::Result<()> {
        let worst = s.findings.iter().map(|f| f.severity).max();
        let mark = match worst {
            Some(Severity::Error) => self.paint("SOCKET.IO FAILED", "1;31"),
            Some(Severity::Warning) => self.paint("socket.io WARNING", "1;33"),
            _ => "socket.io".to_owned(),
        };
        let server = s
            .connections
            .first()
            .map(|c| format!("{} > {} ", c.client, c.server))
            .unwrap_or_default();
        writeln!(
            self.out,
            "{} {mark} {server}{}",
            format_ts(s.ts),
            escape(&crate::present::engineio_story(s)),
        )?;
        self.write_findings(&s.findings)
    }

    fn write_head(&mut self, msg: &Message, mark: char) -> io::Result<()> {
        writeln!(self.out, "      {mark} {}", escape(&msg.head.start_line))?;
        for h in &msg.head.headers {
            writeln!(self.out, "      {mark} {}", escape(&h.line()))?;
        }
        if let Some(body) = &msg.body {
            let lines = body_lines(body, BODY_LINES);
            if !lines.is_empty() {
                // As curl -v: a blank line between head and body.
                writeln!(self.out, "      {mark}")?;
            }
            for line in lines {
                writeln!(self.out, "      {mark} {}", escape(&line))?;
            }
        }
        Ok(())
    }
}

impl<W: Write> Sink for LineSink<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::Handshake(r) => self.write_record(r),
            Event::Connection(r) => self.write_connection(r),
            Event::Hop(h) => self.write_hop(h),
            Event::Notice(_) => Ok(()),
            Event::Tls(t) => self.write_tls(t),
            Event::EngineIo(s) => self.write_engineio(s),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
