//! Prometheus metrics (`--metrics ADDR`, live capture): a sink that turns events and the
//! run's counters into prometheus-client families, and a small HTTP listener that serves them
//! at `/metrics` in the OpenMetrics text format.
//!
//! Labels come only from closed sets (verdicts, finding codes, endings, TLS outcomes, budget
//! buffer names), so the number of series is bounded whatever the traffic; the per-server
//! family is off unless `--metrics-servers N` asks for it, and then holds at most N servers
//! plus `other`. The listener is new attack surface, so it does one thing: it reads one
//! bounded request head with a timeout, answers `GET`/`HEAD /metrics` and nothing else, and
//! closes the connection.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{RunEnd, Sink};
use crate::capture::live::LiveStats;
use crate::engine::Stats;
use crate::event::Event;

/// The port `--metrics` binds when given a port alone or nothing but a host (the
/// conventional exporter range; node_exporter is 9100).
pub const DEFAULT_PORT: u16 = 9464;

/// Longest request head the listener reads: a scrape is one short line and a few headers.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// How long one connection may take to send its request or read the answer: a client that
/// dribbles holds the (single) listener thread at most this long.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The content type of the OpenMetrics text format prometheus-client writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Response-time buckets in seconds: sub-millisecond loopback to a 10 s proxy timeout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Parses `--metrics`: `PORT`, `HOST:PORT` or `[V6]:PORT` with a numeric host. A port alone
/// binds loopback: exposing metrics beyond the host is something the user names.
///
/// # Errors
/// The text is neither a port nor an IP address with a port.
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    Err(format!(
        "--metrics {text:?}: expected PORT, IP:PORT or [IPv6]:PORT (e.g. 127.0.0.1:{DEFAULT_PORT})"
    ))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndingLabel {
    ending: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabel {
    outcome: &'static str,
    decrypted: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BufferLabel {
    buffer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// A counter that mirrors a running total kept elsewhere (the engine's and the capture's
/// counters): it advances by the difference since the last look.
#[derive(Default)]
struct Mirrored {
    counter: Counter,
    seen: u64,
}

impl Mirrored {
    fn set(&mut self, total: u64) {
        advance(&self.counter, total, &mut self.seen);
    }
}

/// Moves `counter` on to a running `total` last seen at `seen`.
fn advance(counter: &Counter, total: u64, seen: &mut u64) {
    if total > *seen {
        counter.inc_by(total - *seen);
        *seen = total;
    }
}

/// Every family, and the registry that exposes them (shared with the listener).
pub struct Metrics {
    registry: Arc<Registry>,
    handshakes: Family<VerdictLabel, Counter>,
    findings: Family<CodeLabel, Counter>,
    connections: Family<EndingLabel, Counter>,
    response_seconds: Histogram,
    tls: Family<TlsLabel, Counter>,
    servers: Family<ServerLabel, Counter>,
    /// `--metrics-servers`: the servers given their own label; the rest count as `other`.
    server_limit: usize,
    servers_named: BTreeSet<String>,
    packets: Mirrored,
    bytes: Mirrored,
    flows: Mirrored,
    flows_evicted: Family<ReasonLabel, Counter>,
    evicted_seen: [u64; 3],
    memcap_refused: Family<BufferLabel, Counter>,
    refused_seen: std::collections::BTreeMap<&'static str, u64>,
    peak_flows: Gauge,
    captured: Mirrored,
    kernel_dropped: Mirrored,
    interface_dropped: Mirrored,
    shed: Mirrored,
}

impl Metrics {
    /// Registers every family; `server_limit` servers get their own label (0: no per-server
    /// family at all).
    #[must_use]
    pub fn new(server_limit: usize) -> Self {
        let mut registry = Registry::default();
        let handshakes = Family::<VerdictLabel, Counter>::default();
        registry.register(
            "wssniff_handshakes",
            "WebSocket handshakes by verdict",
            handshakes.clone(),
        );
        let findings = Family::<CodeLabel, Counter>::default();
        registry.register(
            "wssniff_findings",
            "Findings on handshakes and connections, by code (wssniff --list-findings)",
            findings.clone(),
        );
        let connections = Family::<EndingLabel, Counter>::default();
        registry.register(
            "wssniff_connections",
            "WebSocket connections by how they ended",
            connections.clone(),
        );
        let response_seconds = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "wssniff_handshake_response_seconds",
            "Upgrade request to the first byte of its response",
            response_seconds.clone(),
        );
        let tls = Family::<TlsLabel, Counter>::default();
        registry.register(
            "wssniff_tls_connections",
            "TLS connections by outcome and whether a key log decrypted them",
            tls.clone(),
        );
        let servers = Family::<ServerLabel, Counter>::default();
        if server_limit > 0 {
            registry.register(
                "wssniff_server_handshakes",
                "WebSocket handshakes by server and verdict (the first --metrics-servers servers; the rest as other)",
                servers.clone(),
            );
        }
        let packets = Mirrored::default();
        registry.register(
            "wssniff_packets",
            "Packets analysed",
            packets.counter.clone(),
        );
        let bytes = Mirrored::default();
        registry.register(
            "wssniff_bytes",
            "Bytes of packets analysed, as captured",
            bytes.counter.clone(),
        );
        let flows = Mirrored::default();
        registry.register(
            "wssniff_flows",
            "TCP connections tracked",
            flows.counter.clone(),
        );
        let flows_evicted = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "wssniff_flows_evicted",
            "TCP connections evicted: capacity (--max-flows), idle (--flow-timeout), memcap (memory budget emergency)",
            flows_evicted.clone(),
        );
        let memcap_refused = Family::<BufferLabel, Counter>::default();
        registry.register(
            "wssniff_memcap_refused",
            "Buffer growths the memory budget (--memcap) refused, by buffer",
            memcap_refused.clone(),
        );
        let peak_flows = Gauge::default();
        registry.register(
            "wssniff_flows_peak",
            "Most TCP connections tracked at once",
            peak_flows.clone(),
        );
        let captured = Mirrored::default();
        registry.register(
            "wssniff_capture_packets",
            "Packets the capture delivered",
            captured.counter.clone(),
        );
        let kernel_dropped = Mirrored::default();
        registry.register(
            "wssniff_capture_kernel_dropped",
            "Packets the kernel dropped (libpcap ps_drop)",
            kernel_dropped.counter.clone(),
        );
        let interface_dropped = Mirrored::default();
        registry.register(
            "wssniff_capture_interface_dropped",
            "Packets the interface dropped (libpcap ps_ifdrop)",
            interface_dropped.counter.clone(),
        );
        let shed = Mirrored::default();
        registry.register(
            "wssniff_capture_shed",
            "Packets wssniff shed because the analysis fell behind",
            shed.counter.clone(),
        );
        let build = Family::<VersionLabel, Gauge>::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("wssniff_build_info", "wssniff's version", build);
        Metrics {
            registry: Arc::new(registry),
            handshakes,
            findings,
            connections,
            response_seconds,
            tls,
            servers,
            server_limit,
            servers_named: BTreeSet::new(),
            packets,
            bytes,
            flows,
            flows_evicted,
            evicted_seen: [0; 3],
            memcap_refused,
            refused_seen: std::collections::BTreeMap::new(),
            peak_flows,
            captured,
            kernel_dropped,
            interface_dropped,
            shed,
        }
    }

    /// The exposition as served at `/metrics`.
    #[must_use]
    pub fn render(&self) -> String {
        render(&self.registry)
    }

    /// Brings the mirrored counters up to the engine's and the capture's totals.
    pub fn counters(&mut self, stats: &Stats, live: Option<&LiveStats>) {
        self.packets.set(stats.packets);
        self.bytes.set(stats.bytes);
        self.flows.set(stats.flows);
        self.peak_flows
            .set(i64::try_from(stats.peak_flows).unwrap_or(i64::MAX));
        let evicted = [
            ("capacity", stats.flows_evicted_capacity),
            ("idle", stats.flows_evicted_idle),
            ("memcap", stats.flows_evicted_memcap),
        ];
        for ((reason, total), seen) in evicted.into_iter().zip(&mut self.evicted_seen) {
            advance(
                &self.flows_evicted.get_or_create(&ReasonLabel { reason }),
                total,
                seen,
            );
        }
        for (buffer, refused) in &stats.memcap_refused {
            let seen = self.refused_seen.entry(buffer).or_default();
            let counter = self.memcap_refused.get_or_create(&BufferLabel { buffer });
            advance(&counter, refused.times, seen);
        }
        if let Some(live) = live {
            self.captured.set(live.captured);
            self.kernel_dropped.set(live.kernel_dropped);
            self.interface_dropped.set(live.interface_dropped);
            self.shed.set(live.shed);
        }
    }

    /// Starts serving `/metrics` on `addr` from a thread of its own; returns the address
    /// bound (with the port the system chose for port 0).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn serve(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let bound = listener.local_addr()?;
        let registry = Arc::clone(&self.registry);
        std::thread::Builder::new()
            .name("wssniff-metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    // One connection at a time, each bounded in bytes and time.
                    let _ = answer(stream, &registry);
                }
            })?;
        Ok(bound)
    }

    fn server_label(&mut self, server: SocketAddr) -> String {
        let name = server.to_string();
        if self.servers_named.contains(&name) {
            return name;
        }
        if self.servers_named.len() < self.server_limit {
            self.servers_named.insert(name.clone());
            return name;
        }
        "other".to_owned()
    }
}

impl Sink for Metrics {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::Handshake(r) => {
                let verdict = r.verdict.as_str();
                self.handshakes
                    .get_or_create(&VerdictLabel { verdict })
                    .inc();
                for f in &r.findings {
                    self.findings
                        .get_or_create(&CodeLabel {
                            code: f.code.as_str(),
                        })
                        .inc();
                }
                if let Some(ms) = r.timing.response_ms {
                    self.response_seconds.observe(ms / 1000.0);
                }
                if self.server_limit > 0 {
                    let server = self.server_label(r.server);
                    self.servers
                        .get_or_create(&ServerLabel { server, verdict })
                        .inc();
                }
            }
            Event::Connection(c) => {
                self.connections
                    .get_or_create(&EndingLabel {
                        ending: c.ending.as_str(),
                    })
                    .inc();
                for f in &c.findings {
                    self.findings
                        .get_or_create(&CodeLabel {
                            code: f.code.as_str(),
                        })
                        .inc();
                }
            }
            Event::Tls(t) => {
                self.tls
                    .get_or_create(&TlsLabel {
                        outcome: t.outcome.as_str(),
                        decrypted: if t.decrypted { "true" } else { "false" },
                    })
                    .inc();
            }
            // Engine.IO sessions count in the findings by code (a metric family of their
            // own is issue 14's next step).
            Event::EngineIo(s) => {
                for f in &s.findings {
                    self.findings
                        .get_or_create(&CodeLabel {
                            code: f.code.as_str(),
                        })
                        .inc();
                }
            }
            Event::Hop(_) | Event::Notice(_) => {}
        }
        Ok(())
    }

    fn end(&mut self, run: &RunEnd<'_>) -> io::Result<()> {
        self.counters(run.stats, run.live);
        Ok(())
    }
}

/// The exposition of `registry` (an empty string if encoding failed, which for a `String`
/// writer it does not).
fn render(registry: &Registry) -> String {
    let mut text = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// Reads one request head from `stream` (bounded, with a timeout) and answers it; the
/// connection closes after the answer.
fn answer(mut stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_BYTES {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let reply = respond(&head, || render(registry));
    stream.write_all(&reply)?;
    stream.flush()
}

/// The whole HTTP/1.1 response to a request head: the exposition for `GET /metrics`
/// (headers only for `HEAD`), 404 for other paths, 405 for other methods, 400 for what is
/// not an HTTP request line, 431 for a head past [`MAX_REQUEST_BYTES`].
fn respond(head: &[u8], body: impl FnOnce() -> String) -> Vec<u8> {
    let complete = head.windows(4).any(|w| w == b"\r\n\r\n");
    let line = head
        .split(|&b| b == b'\n')
        .next()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .and_then(|l| std::str::from_utf8(l).ok())
        .unwrap_or("");
    let mut words = line.split(' ');
    let (method, target, version) = (words.next(), words.next(), words.next());
    let well_formed = words.next().is_none()
        && version.is_some_and(|v| v.starts_with("HTTP/1."))
        && target.is_some_and(|t| t.starts_with('/'));
    let path = target.map(|t| t.split('?').next().unwrap_or(t));
    let (status, content_type, text, with_body) = if !complete && head.len() >= MAX_REQUEST_BYTES {
        (
            "431 Request Header Fields Too Large",
            "text/plain",
            String::new(),
            true,
        )
    } else if !complete || !well_formed {
        ("400 Bad Request", "text/plain", String::new(), true)
    } else if !matches!(method, Some("GET" | "HEAD")) {
        ("405 Method Not Allowed", "text/plain", String::new(), true)
    } else if path != Some("/metrics") {
        (
            "404 Not Found",
            "text/plain",
            "wssniff serves /metrics only\n".to_owned(),
            true,
        )
    } else {
        ("200 OK", CONTENT_TYPE, body(), method == Some("GET"))
    };
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        text.len()
    )
    .into_bytes();
    if with_body {
        reply.extend_from_slice(text.as_bytes());
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(reply: &[u8]) -> String {
        String::from_utf8_lossy(reply)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn only_get_and_head_of_metrics_are_answered() {
        let body = || "x 1\n".to_owned();
        let get = respond(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", body);
        let text = String::from_utf8(get).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(
            text.contains(CONTENT_TYPE) && text.ends_with("\r\n\r\nx 1\n"),
            "{text}"
        );
        let head = respond(b"HEAD /metrics?x=1 HTTP/1.1\r\n\r\n", body);
        let head = String::from_utf8(head).unwrap();
        assert!(
            head.contains("Content-Length: 4\r\n") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        assert_eq!(
            status(&respond(b"GET / HTTP/1.1\r\n\r\n", body)),
            "HTTP/1.1 404 Not Found"
        );
        let post = respond(b"POST /metrics HTTP/1.1\r\n\r\n", body);
        assert_eq!(status(&post), "HTTP/1.1 405 Method Not Allowed");
        assert!(String::from_utf8_lossy(&post).contains("Allow: GET, HEAD"));
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\n",
        ] {
            assert_eq!(
                status(&respond(bad, body)),
                "HTTP/1.1 400 Bad Request",
                "{bad:?}"
            );
        }
        let long = vec![b'a'; MAX_REQUEST_BYTES];
        assert_eq!(
            status(&respond(&long, body)),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn listen_address_defaults_to_loopback() {
        assert_eq!(
            parse_listen_address("9464").unwrap().to_string(),
            "127.0.0.1:9464"
        );
        assert_eq!(
            parse_listen_address("0.0.0.0:1").unwrap().to_string(),
            "0.0.0.0:1"
        );
        assert_eq!(
            parse_listen_address("[::1]:9").unwrap().to_string(),
            "[::1]:9"
        );
        assert_eq!(
            parse_listen_address("::1").unwrap().to_string(),
            "[::1]:9464"
        );
        assert!(parse_listen_address("localhost:9464").is_err());
    }

    #[test]
    fn mirrored_counters_follow_totals_and_servers_are_capped() {
        let mut m = Metrics::new(1);
        let stats = Stats {
            packets: 10,
            ..Stats::default()
        };
        m.counters(&stats, None);
        m.counters(&stats, None);
        let text = m.render();
        assert!(text.contains("wssniff_packets_total 10\n"), "{text}");
        assert_eq!(
            m.server_label("127.0.0.1:1".parse().unwrap()),
            "127.0.0.1:1"
        );
        assert_eq!(m.server_label("127.0.0.1:2".parse().unwrap()), "other");
        assert_eq!(
            m.server_label("127.0.0.1:1".parse().unwrap()),
            "127.0.0.1:1"
        );
    }
}
