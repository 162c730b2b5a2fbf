//! The offline forensic report (`--report FILE`): one self-contained HTML or Markdown file (or
//! the same content as JSON) that an on-call engineer can attach to an incident ticket.
//!
//! [`Report`] is a sink: it takes every [`Event`] of a run, keeps bounded state (counters,
//! at most [`MAX_RECORDS`] full records, [`MAX_GROUPS`] problem-incident groups (grouped by
//! [`crate::present::incident`], so a proxied handshake is one incident) with at most
//! [`MAX_OCCURRENCES`] listed incidents each, [`MAX_HOPS`] proxy hops, a decimated timeline,
//! and for the WebSocket
//! connections after the switch [`MAX_CONNECTIONS`] summaries and [`MAX_CONNECTION_GROUPS`]
//! problem groups) and renders once at the end, when the capture metadata ([`CaptureInfo`])
//! is known. Rendering goes through one plain data model (`model`), so the HTML, Markdown
//! and JSON say the same thing.
//!
//! Output is deterministic for the same input: every collection is ordered, and the only
//! wall-clock value is the generation time, which `SOURCE_DATE_EPOCH` fixes. Every piece of
//! captured text is untrusted: escaped for HTML, made inert (code spans, fences) in Markdown.

mod html;
mod markdown;
pub mod model;
mod svg;

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::capture::{FileRead, ReadSummary, Timestamp};
use crate::engine::Stats;
use crate::event::Event;
use crate::sink::Sink;

use model::Collector;
pub use model::ReportModel;

/// Full handshake records kept for the handshake table.
pub const MAX_RECORDS: usize = 2_000;
/// Version of the report JSON's structure (`report_schema`, docs/report-schema.md): changes
/// only with a breaking change to its fields.
pub const REPORT_SCHEMA: u32 = 1;
/// Proxy hops (from the engine's `Event::Hop`) kept with both requests as on the wire.
pub const MAX_HOPS: usize = 1_000;
/// Distinct problem-incident groups (each leg's server, Host, path, verdict and finding set)
/// kept with full detail.
pub const MAX_GROUPS: usize = 200;
/// Incidents listed per problem group; the rest are counted.
pub const MAX_OCCURRENCES: usize = 50;
/// Distinct (host, path) pairs counted for the "most failures" table.
pub const MAX_TARGETS: usize = crate::present::incident::MAX_TARGETS;
/// Points kept for the timeline chart; beyond it every other point is dropped (deterministic).
pub const MAX_TIMELINE_POINTS: usize = 5_000;
/// WebSocket connections listed in the "After the switch" table; the rest are counted.
pub const MAX_CONNECTIONS: usize = 2_000;
/// Distinct problem-connection groups (server, Host, path, finding set) kept with detail.
pub const MAX_CONNECTION_GROUPS: usize = 200;
/// Opened handshakes remembered (Host and path) until their connection ends, so the
/// connection can be grouped by the path it was opened on; beyond it the path is unknown.
pub const MAX_OPEN_LINKS: usize = 10_000;

/// Output format, from the report file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Self-contained HTML with inline CSS and SVG charts.
    Html,
    /// Markdown: the same content without charts.
    Markdown,
    /// The report model as JSON (for diffing and scripts).
    Json,
}

impl Format {
    /// The format's name for messages (`HTML`, `Markdown`, `JSON`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Html => "HTML",
            Format::Markdown => "Markdown",
            Format::Json => "JSON",
        }
    }

    /// Picks the format from `path`'s extension (`.html`, `.htm`, `.md`, `.json`).
    ///
    /// # Errors
    /// A message naming the accepted extensions.
    pub fn from_path(path: &Path) -> Result<Format, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("html" | "htm") => Ok(Format::Html),
            Some("md" | "markdown") => Ok(Format::Markdown),
            Some("json") => Ok(Format::Json),
            _ => Err(format!(
                "--report {}: unknown report format; name the file .html, .htm, .md or .json",
                path.display()
            )),
        }
    }
}

/// What the report says about the capture file itself, gathered after the run.
#[derive(Clone, Debug, Default)]
pub struct CaptureInfo {
    /// The input as the user named it.
    pub file: String,
    /// File size in bytes (not known for standard input).
    pub size: Option<u64>,
    /// SHA-256 of the whole file, hex (not known for standard input).
    pub sha256: Option<String>,
    /// Link types, in order of first appearance.
    pub linktypes: Vec<String>,
    /// Snap length from the file header.
    pub snaplen: Option<u32>,
    /// Packets dropped by the capturing kernel, when the file records it.
    pub drops: Option<u64>,
    /// Why reading stopped early, if it did.
    pub read_error: Option<String>,
    /// Several files read as one (`-r` repeated, a directory, a pattern): each of them, in
    /// the order read; empty for one file.
    pub files: Vec<CaptureFile>,
    /// Engine counters.
    pub stats: Stats,
    /// The report's generation time.
    pub generated: Timestamp,
}

impl CaptureInfo {
    /// Gathers the metadata of `file` (hashing it in a second, streaming pass: the capture
    /// reader may stop early at damage or `-c`, and the hash must cover the whole file).
    #[must_use]
    pub fn gather(file: &str, stats: &Stats, read: &ReadSummary, generated: Timestamp) -> Self {
        let (size, sha256) = if file == "-" {
            (None, None)
        } else {
            match hash_file(Path::new(file)) {
                Ok((size, hex)) => (Some(size), Some(hex)),
                Err(_) => (None, None),
            }
        };
        CaptureInfo {
            file: file.to_owned(),
            size,
            sha256,
            linktypes: read.linktypes.iter().map(ToString::to_string).collect(),
            snaplen: read.snaplen,
            drops: read.drops,
            read_error: read.error.as_ref().map(ToString::to_string),
            files: Vec::new(),
            stats: stats.clone(),
            generated,
        }
    }

    /// Gathers the metadata of several files read as one capture: `file` says how many,
    /// `size` adds them up, and [`CaptureInfo::files`] has each one's size and SHA-256 (a
    /// second streaming pass over each), packets and damage. `read` is the merged summary.
    #[must_use]
    pub fn gather_files(
        files: &[FileRead],
        stats: &Stats,
        read: &ReadSummary,
        generated: Timestamp,
    ) -> Self {
        let each: Vec<CaptureFile> = files
            .iter()
            .map(|f| {
                let (size, sha256) = match hash_file(Path::new(&f.path)) {
                    Ok((size, hex)) => (Some(size), Some(hex)),
                    Err(_) => (None, None),
                };
                CaptureFile {
                    file: f.path.clone(),
                    size,
                    sha256,
                    packets: f.summary.packets,
                    read_error: f.summary.error.as_ref().map(ToString::to_string),
                }
            })
            .collect();
        let size = each.iter().map(|f| f.size).sum::<Option<u64>>();
        CaptureInfo {
            file: format!("{} files read as one capture", each.len()),
            size,
            sha256: None,
            linktypes: read.linktypes.iter().map(ToString::to_string).collect(),
            snaplen: read.snaplen,
            drops: read.drops,
            read_error: each.iter().find_map(|f| f.read_error.clone()),
            files: each,
            stats: stats.clone(),
            generated,
        }
    }
}

/// One of several files read as one capture, as the report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureFile {
    /// The path as given or found.
    pub file: String,
    /// Size in bytes (`None` when it could not be read again).
    pub size: Option<u64>,
    /// SHA-256 of the whole file, hex.
    pub sha256: Option<String>,
    /// Packets read from it.
    pub packets: u64,
    /// Why its reading stopped early, if it did.
    pub read_error: Option<String>,
}

/// Size and SHA-256 (hex) of a file, read in constant memory.
///
/// # Errors
/// The file cannot be read.
pub(crate) fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut input = BufReader::new(File::open(path)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
    }
    let digest = hasher.finalize();
    Ok((size, digest.iter().map(|b| format!("{b:02x}")).collect()))
}

/// The generation time: `SOURCE_DATE_EPOCH` (seconds) when set and valid, else the clock.
/// Reproducible-builds convention, so two reports of the same capture can be diffed.
#[must_use]
pub fn generation_time() -> Timestamp {
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        return Timestamp(secs.saturating_mul(1_000_000_000));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Timestamp(nanos)
}

/// The report sink: collects events, renders at the end.
#[derive(Debug, Default)]
pub struct Report {
    collector: Collector,
}

impl Report {
    /// An empty report.
    #[must_use]
    pub fn new() -> Self {
        Report::default()
    }

    /// Builds the data model the renderers share.
    #[must_use]
    pub fn model(&self, info: &CaptureInfo) -> ReportModel {
        self.collector.model(info)
    }

    /// Renders the report as text in `format`.
    #[must_use]
    pub fn render(&self, format: Format, info: &CaptureInfo) -> String {
        let model = self.model(info);
        match format {
            Format::Html => html::render(&model),
            Format::Markdown => markdown::render(&model),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(&model).unwrap_or_default();
                s.push('\n');
                s
            }
        }
    }

    /// Renders the report into `out` (a file opened earlier: live capture opens its outputs
    /// before it gives up root) and returns how many bytes it wrote.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write_to(
        &self,
        out: &mut dyn Write,
        format: Format,
        info: &CaptureInfo,
    ) -> io::Result<u64> {
        let text = self.render(format, info);
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(text.len() as u64)
    }
}

impl Sink for Report {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.collector.take(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        CloseFrame, CloseInfo, ConnectionEnding, ConnectionRecord, DirectionStats, Ending,
        HandshakeRecord, Message, Peer, Timing, Verdict,
    };
    use crate::event::{Head, Header, StartLine};
    use crate::finding::{Code, Finding, HeadPart, MessageRef};

    const EVIL: &str = "<script>alert(1)</script>\x1b[2J\x1b[31m``|";

    fn evil_record() -> HandshakeRecord {
        let raw = format!("GET /x<script> HTTP/1.1\r\nHost: h\r\nX-Evil: {EVIL}\r\n\r\n");
        let head = Head {
            start: StartLine::Request {
                method: "GET".into(),
                target: "/x<script>".into(),
            },
            version_minor: 1,
            start_line: "GET /x<script> HTTP/1.1".into(),
            headers: vec![
                Header {
                    name: "Host".into(),
                    value: "h".into(),
                },
                Header {
                    name: "X-Evil".into(),
                    value: EVIL.into(),
                },
            ]
            .into(),
            len: raw.len(),
            raw,
        };
        HandshakeRecord {
            id: 1,
            ts: Timestamp(1_700_000_000_000_000_000),
            client: "10.0.0.1:40000".parse().unwrap(),
            server: "10.0.0.2:80".parse().unwrap(),
            community_id: "1:x".into(),
            verdict: Verdict::Failed,
            status: None,
            method: Some("GET".into()),
            host: Some(EVIL.into()),
            path: Some("/x<script>".into()),
            origin: None,
            key: None,
            accept: None,
            expected_accept: None,
            subprotocols_offered: vec![],
            subprotocol: None,
            extensions_offered: vec![],
            extensions: vec![],
            request: Some(Message {
                head,
                packets: vec![4],
                first_ts: Timestamp(1_700_000_000_000_000_000),
                last_ts: Timestamp(1_700_000_000_000_000_000),
                truncated: false,
                body: None,
                cut: None,
            }),
            response: None,
            interim: vec![],
            timing: Timing::default(),
            ending: None,
            findings: vec![
                Finding::new(Code::RequestKeyMissing, format!("evil {EVIL}"))
                    .packets(&[4])
                    .line(format!("X-Evil: {EVIL}"))
                    .cite(MessageRef::Request, HeadPart::Header(1)),
            ],
            loss: Default::default(),
            h2: None,
            tls: None,
        }
    }

    #[test]
    fn untrusted_text_is_inert_in_html_and_markdown() {
        let mut report = Report::new();
        report
            .event(&Event::Handshake(std::sync::Arc::new(evil_record())))
            .unwrap();
        let info = CaptureInfo {
            file: "evil<script>.pcap".into(),
            ..CaptureInfo::default()
        };
        let html = report.render(Format::Html, &info);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains('\x1b'));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\x1b[31m``|"));
        // The cited header line is marked in the wire dump.
        assert!(
            html.contains("<span class=\"l mark\">X-Evil: &lt;script&gt;"),
            "{html}"
        );

        let md = report.render(Format::Markdown, &info);
        assert!(!md.contains('\x1b'));
        // Inline: a code span fenced with more backticks than the value holds, `|` escaped.
        assert!(
            md.contains("``` evil <script>alert(1)</script>\\x1b[2J\\x1b[31m``\\| ```"),
            "{md}"
        );
        assert_no_bare_markup(&md);
    }

    /// A failed wss:// handshake names its TLS connection in its detail; the SNI is the
    /// client's text, as inert as any header.
    #[test]
    fn a_failed_handshake_decrypted_from_tls_names_its_tls_connection() {
        let mut report = Report::new();
        let mut r = evil_record();
        r.tls = Some(crate::event::TlsCarrier {
            sni: Some(format!("chat.example{EVIL}")),
            version: Some("TLSv1.3".into()),
            cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            alpn: Some("http/1.1".into()),
            h2_offered: false,
        });
        report
            .event(&Event::Handshake(std::sync::Arc::new(r)))
            .unwrap();
        let info = CaptureInfo::default();
        let md = report.render(Format::Markdown, &info);
        assert!(
            md.contains("- over TLS: ``` TLSv1.3 sni=chat.example<script>alert(1)</script>\\x1b[2J\\x1b[31m``\\| alpn=http/1.1 ```"),
            "{md}"
        );
        let html = report.render(Format::Html, &info);
        assert!(
            html.contains("<li>over TLS: <code>TLSv1.3 sni=chat.example&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script"));
    }

    fn evil_connection(handshake_id: Option<u64>) -> ConnectionRecord {
        let close = |code, frame| CloseFrame {
            code: Some(code),
            reason: EVIL.into(),
            packet: frame,
            ts: Timestamp(1_700_000_001_000_000_000),
        };
        ConnectionRecord {
            handshake_id,
            ts: Timestamp(1_700_000_000_500_000_000),
            end_ts: Timestamp(1_700_000_002_000_000_000),
            client: "10.0.0.1:40000".parse().unwrap(),
            server: "10.0.0.2:80".parse().unwrap(),
            community_id: "1:x".into(),
            handshake_observed: handshake_id.is_some(),
            permessage_deflate: None,
            duration_ms: 1500.0,
            client_to_server: DirectionStats::default(),
            server_to_client: DirectionStats::default(),
            close: CloseInfo {
                client: Some(close(1000, 9)),
                server: Some(close(1008, 8)),
                initiator: Some(Peer::Server),
                handshake_completed: true,
            },
            ending: ConnectionEnding::Clean,
            tcp_end: Ending::ServerFin,
            idle_before_end_ms: Some(0.5),
            max_silence_ms: 1000.0,
            findings: vec![Finding::new(
                Code::CloseError,
                format!("the server closed with 1008 (policy violation) {EVIL}"),
            )],
            loss: Default::default(),
            h2_stream_id: None,
            h2_goaway: None,
            tls: None,
            frame_log: Default::default(),
        }
    }

    #[test]
    fn close_reasons_are_inert_in_html_and_markdown() {
        let mut report = Report::new();
        let mut opened = evil_record();
        opened.status = Some(101);
        opened.verdict = Verdict::Ok;
        report
            .event(&Event::Handshake(std::sync::Arc::new(opened)))
            .unwrap();
        report
            .event(&Event::Connection(Box::new(evil_connection(Some(1)))))
            .unwrap();
        let info = CaptureInfo::default();
        let m = report.model(&info);
        assert_eq!(m.connections.total, 1);
        assert_eq!(m.connections.problems, 1);
        let g = &m.connections.groups[0];
        // Grouped under the path of the handshake that opened it, linked to its row.
        assert_eq!(g.path.as_deref(), Some("/x<script>"));
        assert_eq!(g.occurrences[0].handshake_anchor.as_deref(), Some("h1"));
        assert_eq!(g.occurrences[0].server_close.as_ref().unwrap().reason, EVIL);

        let html = report.render(Format::Html, &info);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains('\x1b'));
        assert!(
            html.contains("server first: 1008 (policy violation) reason <code>&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\x1b[31m``|</code>"),
            "{html}"
        );
        assert!(html.contains("<a href=\"#h1\">handshake #1</a>"), "{html}");
        assert!(html.contains("<tr id=\"h1\">"), "{html}");

        let md = report.render(Format::Markdown, &info);
        assert!(!md.contains('\x1b'));
        assert!(
            md.contains("server first: 1008 (policy violation) reason ``` <script>alert(1)</script>\\x1b[2J\\x1b[31m``\\| ``` (packet 8)"),
            "{md}"
        );
        assert_no_bare_markup(&md);
    }

    #[test]
    fn identical_problem_connections_collapse_and_cap_their_listing() {
        let mut report = Report::new();
        let n = MAX_OCCURRENCES as u64 + 7;
        for i in 0..n {
            let mut c = evil_connection(None);
            c.ts = Timestamp(c.ts.0 + i64::try_from(n - i).unwrap());
            c.community_id = format!("1:{i}");
            report.event(&Event::Connection(Box::new(c))).unwrap();
        }
        let m = report.model(&CaptureInfo::default());
        let c = &m.connections;
        assert_eq!((c.total, c.problems, c.groups.len()), (n, n, 1));
        let g = &c.groups[0];
        assert_eq!((g.count, g.unlisted), (n, 7));
        assert_eq!(g.occurrences.len(), MAX_OCCURRENCES);
        assert!(g.path.is_none() && g.occurrences[0].handshake_anchor.is_none());
        // Listed in time order, whatever order they ended in.
        assert!(g.occurrences.windows(2).all(|w| w[0].time <= w[1].time));
        let md = report.render(Format::Markdown, &CaptureInfo::default());
        assert!(md.contains("… and 7 more, not listed."), "{md}");
        assert!(md.contains(&format!("{n} of {n} WebSocket connections ended badly")));
    }

    /// A hop from the client leg (handshake 1) to the upstream leg (handshake 2), both
    /// answered `status`.
    fn hop_link(status: u16) -> crate::event::HopLink {
        crate::event::HopLink {
            downstream: 1,
            upstream: 2,
            client: "10.0.0.1:40000".parse().unwrap(),
            proxy: "10.0.0.2:80".parse().unwrap(),
            proxy_software: None,
            upstream_server: "10.0.0.3:8080".parse().unwrap(),
            key: "k".into(),
            request_line: None,
            request_changes: vec![],
            upstream_status: Some(status),
            downstream_status: Some(status),
            response_changes: vec![],
            broken_at: crate::event::BrokenAt::Nowhere,
            explanation: String::new(),
            correction: None,
            downstream_h2_stream: None,
            upstream_h2_stream: None,
        }
    }

    /// The two connections a proxied WebSocket's legs opened are one incident under "After
    /// the switch", whichever ended first (they were two groups, counted as two); without
    /// the hop, or when its handshakes did not switch, they stay apart.
    #[test]
    fn a_proxied_websockets_connections_are_one_incident() {
        let link = hop_link(101);
        let model = |order: [u64; 2], hop: bool, status: u16| {
            let mut report = Report::new();
            for id in [1, 2] {
                let mut r = evil_record();
                r.id = id;
                r.status = Some(status);
                r.verdict = Verdict::Ok;
                report
                    .event(&Event::Handshake(std::sync::Arc::new(r)))
                    .unwrap();
            }
            if hop {
                report.event(&Event::Hop(Box::new(link.clone()))).unwrap();
            }
            for id in order {
                let mut c = evil_connection(Some(id));
                c.community_id = format!("1:{id}");
                report.event(&Event::Connection(Box::new(c))).unwrap();
            }
            report.model(&CaptureInfo::default())
        };
        for order in [[1, 2], [2, 1]] {
            let m = model(order, true, 101);
            let c = &m.connections;
            assert_eq!((c.total, c.problems), (2, 2), "records are still counted");
            let i = c.incidents.unwrap();
            assert_eq!((i.total, i.problems, i.proxied), (1, 1, 1), "{order:?}");
            assert_eq!(c.groups.len(), 1, "{order:?}");
            let g = &c.groups[0];
            assert_eq!(g.upstream_legs.len(), 1);
            let oc = &g.occurrences[0];
            assert_eq!(oc.handshake_id, Some(1), "the client leg first");
            assert_eq!(oc.upstream[0].handshake_id, Some(2));
            assert!(m
                .headline()
                .contains("1 of 1 WebSocket connection (1 proxied) ended badly"));
        }
        for (hop, status) in [(false, 101), (true, 200)] {
            let m = model([1, 2], hop, status);
            let g = &m.connections.groups;
            let incidents: u64 = g.iter().map(|g| g.count).sum();
            assert_eq!(incidents, 2, "hop {hop}, status {status}");
            assert!(g.iter().all(|g| g.upstream_legs.is_empty()));
            assert!(m.connections.incidents.is_none());
        }
    }

    /// Outside code spans and fences, captured text never appears.
    fn assert_no_bare_markup(md: &str) {
        let mut in_fence = false;
        for line in md.lines() {
            if line.starts_with("```") {
                in_fence = !in_fence;
            } else if !in_fence {
                let bare = strip_code_spans(line);
                assert!(!bare.contains("<script"), "bare markup in: {line}");
            }
        }
    }

    /// Removes CommonMark code spans (a run of n backticks up to the next run of exactly n).
    fn strip_code_spans(line: &str) -> String {
        let chars: Vec<char> = line.chars().collect();
        let run = |at: usize| chars[at..].iter().take_while(|c| **c == '`').count();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '`' {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let n = run(i);
            let mut j = i + n;
            let mut closed = None;
            while j < chars.len() {
                if chars[j] == '`' {
                    let m = run(j);
                    if m == n {
                        closed = Some(j + m);
                        break;
                    }
                    j += m;
                } else {
                    j += 1;
                }
            }
            match closed {
                Some(end) => i = end,
                None => {
                    out.extend(&chars[i..i + n]);
                    i += n;
                }
            }
        }
        out
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(Format::from_path(Path::new("r.HTML")), Ok(Format::Html));
        assert_eq!(Format::from_path(Path::new("r.htm")), Ok(Format::Html));
        assert_eq!(Format::from_path(Path::new("r.md")), Ok(Format::Markdown));
        assert_eq!(Format::from_path(Path::new("r.json")), Ok(Format::Json));
        assert!(Format::from_path(Path::new("r.pdf")).is_err());
        assert!(Format::from_path(Path::new("report")).is_err());
    }

    /// "Hosts and paths with the most failures" counts by path: two handshakes that differ
    /// only in a query token are one row (it used to be one row each, `1 | 1`, with the
    /// token printed in the table).
    #[test]
    fn failure_table_groups_by_path_without_the_query() {
        let mut report = Report::new();
        for (id, target) in [
            (1, "/chat?token=s3cr3t-a"),
            (2, "/chat?token=s3cr3t-b"),
            (3, "/other"),
        ] {
            let mut r = evil_record();
            r.id = id;
            r.host = Some("h".into());
            r.path = Some(target.into());
            report
                .event(&Event::Handshake(std::sync::Arc::new(r)))
                .unwrap();
        }
        let m = report.model(&CaptureInfo::default());
        let rows: Vec<(&str, &str, u64, u64)> = m
            .targets
            .iter()
            .map(|t| (t.host.as_str(), t.path.as_str(), t.failed, t.total))
            .collect();
        assert_eq!(rows, vec![("h", "/chat", 2, 2), ("h", "/other", 1, 1)]);
        let md = report.render(Format::Markdown, &CaptureInfo::default());
        let table = md
            .split("Hosts and paths with the most failures:")
            .nth(1)
            .and_then(|t| t.split("\n\n").nth(1))
            .unwrap();
        assert!(table.contains("| ` h ` | ` /chat ` | 2 | 2 |"), "{table}");
        assert!(!table.contains("s3cr3t"), "{table}");
    }

    /// Issue 16: the failure table's header counts handshakes as the rest of the report
    /// does (incidents: a proxied handshake once), but it counted records, so a proxied
    /// failure showed twice: once under the Host the client asked for and once under the
    /// Host the proxy sent upstream (or twice under one, `2 | 2`). Now once, under the
    /// client's; without the hop the two records stay two handshakes.
    #[test]
    fn failure_table_counts_a_proxied_failure_once_under_the_clients_host() {
        let link = hop_link(400);
        let rows = |hop: bool| {
            let mut report = Report::new();
            for (id, host) in [(1, "public.example"), (2, "backend")] {
                let mut r = evil_record();
                r.id = id;
                r.host = Some(host.into());
                r.path = Some("/ws?token=t".into());
                report
                    .event(&Event::Handshake(std::sync::Arc::new(r)))
                    .unwrap();
            }
            if hop {
                report.event(&Event::Hop(Box::new(link.clone()))).unwrap();
            }
            report
                .model(&CaptureInfo::default())
                .targets
                .iter()
                .map(|t| (t.host.clone(), t.failed, t.total))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(true), vec![("public.example".to_owned(), 1, 1)]);
        assert_eq!(
            rows(false),
            vec![
                ("backend".to_owned(), 1, 1),
                ("public.example".to_owned(), 1, 1)
            ]
        );
    }

    #[test]
    fn identical_failures_collapse_into_one_group() {
        let mut report = Report::new();
        for id in 1..=(MAX_OCCURRENCES as u64 + 5) {
            let mut r = evil_record();
            r.id = id;
            r.ts = Timestamp(r.ts.0 + i64::try_from(id).unwrap());
            report
                .event(&Event::Handshake(std::sync::Arc::new(r)))
                .unwrap();
        }
        let m = report.model(&CaptureInfo::default());
        assert_eq!(m.groups.len(), 1);
        let g = &m.groups[0];
        assert_eq!(g.count, MAX_OCCURRENCES as u64 + 5);
        assert_eq!(g.occurrences.len(), MAX_OCCURRENCES);
        assert_eq!(g.unlisted, 5);
        assert_eq!(g.detail.id, 1);
    }
}
