//! Hostile input (issue 7): adversarial traffic against the caps, malformed capture files,
//! untrusted text on the terminal and in reports. Traffic is generated here (the shared
//! packet builder, `fuzz/src/packet.rs`) and fed to the library `Engine` or written as a pcap
//! for the binary.

use std::io::Write;
use std::path::{Path, PathBuf};

use wssniff::capture::{Linktype, Packet, Timestamp};
use wssniff::engine::{Engine, EngineConfig};
use wssniff::event::Event;
use wssniff::http::exchange::ConnLimits;

use crate::packet::{pcap, pcapng, v4, Link, Tcp};
use crate::util::*;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const T0: i64 = 1_700_000_000_000_000_000;

/// A raw IPv4 TCP packet (link type IPV4) between CLIENT:`cport` and SERVER:80; flags in
/// tcpdump's letters, an `A` acknowledging 1.
fn packet(client_to_server: bool, cport: u16, seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let (client, server) = (v4(CLIENT, cport), v4(SERVER, 80));
    let (src, dst) = if client_to_server {
        (client, server)
    } else {
        (server, client)
    };
    Tcp::new(src, dst, seq, 1, flags, payload).build(Link::Ip)
}

/// Drives an engine frame by frame and keeps what it emits.
struct Run {
    engine: Engine,
    events: Vec<Event>,
    frame: u64,
    ts: i64,
    peak_memory: usize,
}

impl Run {
    fn new(config: EngineConfig) -> Self {
        Run {
            engine: Engine::new(config),
            events: Vec::new(),
            frame: 0,
            ts: T0,
            peak_memory: 0,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        self.frame += 1;
        self.ts += 1_000_000;
        let frame = Packet {
            number: self.frame,
            ts: Timestamp(self.ts),
            linktype: Linktype::IPV4,
            data,
            orig_len: data.len() as u32,
        };
        let events = &mut self.events;
        self.engine.process(&frame, &mut |e| events.push(e));
    }

    /// Feeds and records the memory the engine reports (walks the flow table: small runs).
    fn feed_measured(&mut self, data: &[u8]) {
        self.feed(data);
        self.peak_memory = self.peak_memory.max(self.engine.memory());
    }

    /// A client stream: SYN, then `data` in segments of `mss` bytes.
    fn client_stream(&mut self, cport: u16, data: &[u8], mss: usize) {
        let isn = 1000u32;
        self.feed_measured(&packet(true, cport, isn, "S", b""));
        self.feed_measured(&packet(false, cport, 5000, "SA", b""));
        let mut seq = isn + 1;
        for chunk in data.chunks(mss) {
            self.feed_measured(&packet(true, cport, seq, "A", chunk));
            seq = seq.wrapping_add(chunk.len() as u32);
        }
    }

    fn finish(&mut self) {
        let events = &mut self.events;
        self.engine.finish(&mut |e| events.push(e));
    }

    fn notices(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Notice(n) => Some(n.code),
                _ => None,
            })
            .collect()
    }

    fn handshake_codes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Handshake(h) => Some(h.findings.iter().map(|f| f.code.as_str().to_owned())),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// The bound on one connection's memory implied by its caps: two stream buffers, two
/// out-of-order holds, the pending upgrade head and the interim heads (each ≤ the header cap,
/// counted twice: raw text and parsed fields).
fn connection_bound(c: &ConnLimits) -> usize {
    let s = c.stream;
    2 * (s.max_buffered + s.max_out_of_order + 64 * 1024) + 2 * 9 * c.max_header_bytes + 64 * 1024
}

#[test]
fn a_million_syns_to_distinct_ports_stay_under_max_flows() {
    let mut config = EngineConfig::default();
    config.flows.max_flows = 10_000;
    let mut run = Run::new(config);
    let n: u32 = 1_000_000;
    for i in 0..n {
        let ip = [10, 1, (i >> 16) as u8, (i >> 8) as u8];
        let port = 1024 + (i & 0xff) as u16 * 200 + (i >> 24) as u16;
        let syn = Tcp {
            window: 1024,
            ..Tcp::new(v4(ip, port), v4(SERVER, 443), i, 0, "S", b"")
        };
        run.feed(&syn.build(Link::Ip));
        assert!(run.engine.flow_count() <= 10_000);
    }
    let stats = run.engine.stats();
    assert_eq!(stats.flows, u64::from(n));
    assert_eq!(stats.peak_flows, 10_000);
    // Eviction drops an eighth at a time; every flow is accounted for.
    assert!(stats.flows_evicted_capacity >= u64::from(n) - 10_000);
    assert!(
        run.notices().contains(&"flow_limit"),
        "the cap that bit is reported"
    );
    // SYN-only flows hold no buffers.
    assert!(
        run.engine.memory() <= 10_000 * 1024,
        "{}",
        run.engine.memory()
    );
}

#[test]
fn headers_that_never_end_stop_at_the_header_cap() {
    // 2 MB of header lines after an upgrade request, never a blank line.
    let mut data = UPGRADE.to_vec();
    while data.len() < 2_000_000 {
        data.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let config = EngineConfig::default();
    let mut run = Run::new(config);
    run.client_stream(40_000, &data, 1460);
    assert!(
        run.peak_memory <= connection_bound(&config.conn),
        "{}",
        run.peak_memory
    );
    run.finish();
    assert_eq!(run.engine.stats().header_limit_hits, 1);
    assert!(run.notices().contains(&"header_limit"));
    assert!(run
        .handshake_codes()
        .contains(&"header_limit_exceeded".to_owned()));
}

#[test]
fn one_ten_megabyte_header_line_stops_at_the_header_cap() {
    let mut data = UPGRADE.to_vec();
    data.extend_from_slice(b"Cookie: ");
    data.resize(data.len() + 10 * 1024 * 1024, b'a');
    let config = EngineConfig::default();
    let mut run = Run::new(config);
    run.client_stream(40_000, &data, 65_000);
    assert!(
        run.peak_memory <= connection_bound(&config.conn),
        "{}",
        run.peak_memory
    );
    run.finish();
    assert_eq!(run.engine.stats().header_limit_hits, 1);
    assert!(run
        .handshake_codes()
        .contains(&"header_limit_exceeded".to_owned()));
}

#[test]
fn a_hundred_thousand_headers_are_refused_not_stored() {
    // With the header cap raised past them, the field count limit is what bites.
    let mut data = UPGRADE.to_vec();
    for i in 0..100_000 {
        data.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    data.extend_from_slice(b"\r\n");
    let mut config = EngineConfig::default();
    config.conn.max_header_bytes = 4 * 1024 * 1024;
    config.conn.stream.max_buffered = 4 * 1024 * 1024;
    let mut run = Run::new(config);
    run.client_stream(40_000, &data, 1460);
    run.finish();
    assert_eq!(run.engine.stats().header_limit_hits, 0);
    let hs: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Handshake(h) => Some(h),
            _ => None,
        })
        .collect();
    // The head was malformed (too many fields): no request parsed, the reason recorded.
    let text = format!("{:?}", hs.iter().map(|h| &h.findings).collect::<Vec<_>>());
    assert!(
        text.contains("header fields") || hs.is_empty(),
        "too many header fields must be named: {text}"
    );
    // And with the default cap, it is the header cap.
    let mut run = Run::new(EngineConfig::default());
    run.client_stream(40_001, &data, 1460);
    run.finish();
    assert_eq!(run.engine.stats().header_limit_hits, 1);
}

#[test]
fn ten_thousand_pipelined_requests_hit_the_pending_cap() {
    let mut data = Vec::new();
    for i in 0..10_000 {
        data.extend_from_slice(format!("GET /r{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    let config = EngineConfig::default();
    let mut run = Run::new(config);
    run.client_stream(40_000, &data, 1460);
    assert!(
        run.peak_memory <= connection_bound(&config.conn),
        "{}",
        run.peak_memory
    );
    run.finish();
    let stats = run.engine.stats();
    assert_eq!(stats.pending_limit_hits, 1);
    assert!(run.notices().contains(&"pending_limit"));
}

#[test]
fn overlapping_segments_that_disagree_keep_the_first_copy_and_say_so() {
    let mut run = Run::new(EngineConfig::default());
    let req = [UPGRADE, b"\r\n"].concat();
    run.feed(&packet(true, 40_000, 1000, "S", b""));
    run.feed(&packet(false, 40_000, 5000, "SA", b""));
    run.feed(&packet(true, 40_000, 1001, "A", &req[..40]));
    // The same bytes again with different content, overlapping the first copy.
    let mut evil = req[10..40].to_vec();
    evil.iter_mut().for_each(|b| *b = b'Z');
    run.feed(&packet(true, 40_000, 1011, "A", &evil));
    run.feed(&packet(true, 40_000, 1041, "A", &req[40..]));
    run.finish();
    let codes = run.handshake_codes();
    assert!(codes.contains(&"overlap_conflict".to_owned()), "{codes:?}");
    let host = run.events.iter().find_map(|e| match e {
        Event::Handshake(h) => h.host.clone(),
        _ => None,
    });
    assert_eq!(host.as_deref(), Some("example.com"), "first copy wins");
}

#[test]
fn sequence_numbers_jumping_by_two_gigabytes_stay_bounded() {
    let config = EngineConfig::default();
    let mut run = Run::new(config);
    run.feed(&packet(true, 40_000, 1000, "S", b""));
    run.feed(&packet(false, 40_000, 5000, "SA", b""));
    let chunk = vec![b'x'; 1400];
    let mut seq = 1001u32;
    for _ in 0..2000 {
        seq = seq.wrapping_add(0x8000_0000 - 7);
        run.feed_measured(&packet(true, 40_000, seq, "A", &chunk));
    }
    assert!(
        run.peak_memory <= connection_bound(&config.conn),
        "{}",
        run.peak_memory
    );
    run.finish();
    assert!(run.engine.stats().bytes_dropped_by_caps > 0 || run.engine.stats().flows == 1);
}

#[test]
fn a_websocket_connection_that_never_closes_holds_constant_memory() {
    let config = EngineConfig::default();
    let mut run = Run::new(config);
    let req = [UPGRADE, b"\r\n"].concat();
    run.feed(&packet(true, 40_000, 1000, "S", b""));
    run.feed(&packet(false, 40_000, 5000, "SA", b""));
    run.feed(&packet(true, 40_000, 1001, "A", &req));
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    run.feed(&packet(false, 40_000, 5001, "A", resp));
    let mut seq = 5001 + resp.len() as u32;
    let frame = [0x81, 0x05, b'h', b'e', b'l', b'l', b'o'];
    let mut after_1k = 0;
    for i in 0..50_000 {
        run.feed(&packet(false, 40_000, seq, "A", &frame));
        seq = seq.wrapping_add(frame.len() as u32);
        if i == 1000 {
            after_1k = run.engine.memory();
        }
    }
    assert_eq!(run.engine.flow_count(), 1);
    assert!(
        run.engine.memory() <= after_1k.max(4096),
        "memory grew with the frame count: {after_1k} → {}",
        run.engine.memory()
    );
    run.finish();
    assert_eq!(run.engine.stats().connections, 1);
}

#[test]
fn idle_connections_expire_and_are_counted() {
    let mut config = EngineConfig::default();
    config.flows.idle_timeout_ns = 10 * 1_000_000_000;
    let mut run = Run::new(config);
    for port in 0..100u16 {
        run.feed(&packet(true, 30_000 + port, 1, "S", b""));
    }
    run.ts += 60 * 1_000_000_000;
    run.feed(&packet(true, 50_000, 1, "S", b""));
    assert_eq!(run.engine.flow_count(), 1);
    assert_eq!(run.engine.stats().flows_evicted_idle, 100);
}

// ---- malformed capture files ----

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wssniff-hostile-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pcap_header(snaplen: u32) -> Vec<u8> {
    pcap::file_header(pcap::LINKTYPE_IPV4, snaplen).to_vec()
}

fn pcap_record(ts: u32, data: &[u8], caplen: u32, origlen: u32) -> Vec<u8> {
    pcap::record_claiming(ts, 0, data, caplen, origlen)
}

/// A pcap with one complete upgrade exchange (request, answer 403), then whatever `tail` is.
fn capture_with_tail(tail: &[u8], snaplen: u32) -> Vec<u8> {
    let req = [UPGRADE, b"\r\n"].concat();
    let pkts = [
        packet(true, 40_000, 1000, "S", b""),
        packet(false, 40_000, 5000, "SA", b""),
        packet(true, 40_000, 1001, "A", &req),
        packet(
            false,
            40_000,
            5001,
            "A",
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        ),
        packet(true, 40_000, 1001 + req.len() as u32, "FA", b""),
        packet(false, 40_000, 5047, "FA", b""),
    ];
    let mut bytes = pcap_header(snaplen);
    for (i, p) in pkts.iter().enumerate() {
        bytes.extend(pcap_record(
            1_700_000_000 + i as u32,
            p,
            p.len() as u32,
            p.len() as u32,
        ));
    }
    bytes.extend_from_slice(tail);
    bytes
}

fn run_file(path: &Path) -> (Option<i32>, String, Vec<serde_json::Value>) {
    let out = wssniff(&["-r", path.to_str().unwrap(), "--json"]);
    let recs = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code(), stderr(&out), recs)
}

#[test]
fn damaged_captures_keep_every_result_before_the_damage() {
    let dir = tmpdir("damaged");
    let good = capture_with_tail(b"", 65_535);
    let (code, err, recs) = {
        let p = dir.join("good.pcap");
        std::fs::write(&p, &good).unwrap();
        run_file(&p)
    };
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(recs.len(), 1);
    let pkt = packet(true, 40_001, 1, "S", b"");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // A record header then only part of its packet.
        (
            "mid-packet",
            pcap_record(1, &pkt[..10], pkt.len() as u32, pkt.len() as u32),
            "truncated capture",
        ),
        // A record header cut short.
        (
            "mid-header",
            pcap_record(1, &pkt, 40, 40)[..9].to_vec(),
            "truncated capture",
        ),
        // caplen past the end of the file.
        (
            "longer-than-file",
            pcap_record(1, &pkt, 50_000, 50_000),
            "truncated capture",
        ),
        // caplen far past the snap length and any sane size.
        (
            "huge-caplen",
            pcap_record(1, &pkt, 0x7fff_ffff, 40),
            "after packet 6",
        ),
    ];
    for (name, tail, needle) in cases {
        let p = dir.join(format!("{name}.pcap"));
        std::fs::write(&p, capture_with_tail(&tail, 65_535)).unwrap();
        let (code, err, recs) = run_file(&p);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("wssniff: ")).collect();
        assert_eq!(errors.len(), 1, "{name}: one error line: {err}");
        assert!(errors[0].contains(needle), "{name}: {err}");
        assert!(err.contains("after packet 6"), "{name}: names where: {err}");
        assert_eq!(
            recs.len(),
            1,
            "{name}: the handshake before the damage is kept"
        );
        assert_eq!(recs[0]["status"], 403, "{name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn record_longer_than_the_snaplen_is_read_and_flagged_not_trusted() {
    // caplen 200 in a file whose snaplen says 64: the record is read as it is (libpcap does
    // the same) and nothing before or after is lost.
    let dir = tmpdir("snaplen");
    let p = dir.join("snap.pcap");
    let pkt = packet(true, 40_001, 1, "S", &[b'x'; 160]);
    std::fs::write(
        &p,
        capture_with_tail(
            &pcap_record(9, &pkt, pkt.len() as u32, pkt.len() as u32),
            64,
        ),
    )
    .unwrap();
    let (code, err, recs) = run_file(&p);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(recs.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn pcapng_unknown_blocks_are_skipped() {
    let dir = tmpdir("pcapng");
    let req = [UPGRADE, b"\r\n"].concat();
    let pkts = [
        packet(true, 40_000, 1000, "S", b""),
        packet(false, 40_000, 5000, "SA", b""),
        packet(true, 40_000, 1001, "A", &req),
        packet(
            false,
            40_000,
            5001,
            "A",
            b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    let mut bytes = pcapng::section_header();
    bytes.extend(pcapng::interface(228, 65_535));
    // Unknown block types, before and between packets (one from the local-use range).
    bytes.extend(pcapng::block(0x0000_0bad, b"who knows"));
    for (i, p) in pkts.iter().enumerate() {
        bytes.extend(pcapng::enhanced_packet(0, i as u64, p));
        bytes.extend(pcapng::block(0x8000_1234, &[1, 2, 3]));
    }
    let p = dir.join("unknown.pcapng");
    std::fs::write(&p, &bytes).unwrap();
    let (code, err, recs) = run_file(&p);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], 426);
    // A block whose length field is wrong is damage: results before it are kept.
    let mut bad = bytes.clone();
    bad.extend_from_slice(&6u32.to_le_bytes());
    bad.extend_from_slice(&7u32.to_le_bytes());
    bad.extend_from_slice(&[0; 16]);
    std::fs::write(&p, &bad).unwrap();
    let (code, err, recs) = run_file(&p);
    assert_eq!(code, Some(2), "{err}");
    let errors = err.lines().filter(|l| l.starts_with("wssniff: ")).count();
    assert_eq!(errors, 1, "{err}");
    assert_eq!(recs.len(), 1, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_magic_zero_length_directory_and_missing_file_are_one_line_errors() {
    let dir = tmpdir("bad");
    let magic = dir.join("magic.pcap");
    let mut bytes = capture_with_tail(b"", 65_535);
    bytes[0] = 0x00;
    std::fs::write(&magic, &bytes).unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let short = dir.join("short.pcap");
    std::fs::write(&short, &bytes[1..3]).unwrap();
    let cases = [
        (magic.clone(), "unrecognised magic number 00c3b2a1"),
        (empty, "empty file"),
        (short, "not a pcap or pcapng file"),
        (dir.clone(), "is a directory"),
        (dir.join("missing.pcap"), "No such file"),
    ];
    for (p, needle) in cases {
        let (code, err, recs) = run_file(&p);
        assert_eq!(code, Some(2), "{}", p.display());
        assert!(err.contains(needle), "{}: {err}", p.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(recs.is_empty());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_fifo_is_read_as_a_stream_and_a_cut_stream_keeps_its_results() {
    let dir = tmpdir("fifo");
    let fifo = dir.join("in.pcap");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    let pkt = packet(true, 40_001, 1, "S", b"");
    let bytes = capture_with_tail(&pcap_record(1, &pkt[..10], 40, 40), 65_535);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(&bytes).unwrap();
        })
    };
    let (code, err, recs) = run_file(&fifo);
    writer.join().unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("truncated capture"), "{err}");
    assert_eq!(recs.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

// ---- untrusted text ----

/// A 101 handshake whose text carries what httparse lets through and a terminal or browser
/// could act on: C1 controls (U+009B is CSI on many terminals), bidi overrides, invalid UTF-8,
/// HTML; then a close frame whose reason (free bytes) holds raw ESC sequences and markup.
fn evil_capture() -> Vec<u8> {
    let req = b"GET /\xc2\x9b2J/\xe2\x80\xaeevil HTTP/1.1\r\nHost: <script>alert(1)</script>\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: http://\xff\xfe\xc2\x9b31m.example\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Protocol: a\xc2\x9b5mb, \"><img src=x onerror=alert(2)>\r\n\r\n";
    let resp = b"HTTP/1.1 101 \xc2\x9b1mSwitching <b>Protocols</b>\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nServer: evil\xe2\x80\xae\xc2\x9b8m\r\nSec-WebSocket-Protocol: <i>x</i>\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let reason = b"\x1b[2J\x1b]0;pwned\x07<script>alert(3)</script>\x08\x08";
    let mut close = vec![0x88, 2 + reason.len() as u8, 0x03, 0xe8];
    close.extend_from_slice(reason);
    let seq_c = 1001 + req.len() as u32;
    let seq_s = 5001 + resp.len() as u32;
    let pkts = [
        packet(true, 40_000, 1000, "S", b""),
        packet(false, 40_000, 5000, "SA", b""),
        packet(true, 40_000, 1001, "A", req),
        packet(false, 40_000, 5001, "A", resp),
        packet(false, 40_000, seq_s, "A", &close),
        packet(false, 40_000, seq_s + close.len() as u32, "FA", b""),
        packet(true, 40_000, seq_c, "FA", b""),
    ];
    let mut bytes = pcap_header(65_535);
    for (i, p) in pkts.iter().enumerate() {
        bytes.extend(pcap_record(
            1_700_000_000 + i as u32,
            p,
            p.len() as u32,
            p.len() as u32,
        ));
    }
    bytes
}

/// Removes the SGR colour sequences wssniff itself writes (`ESC [ digits;… m`).
fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let n = tail
            .find(|c: char| !c.is_ascii_digit() && c != ';')
            .unwrap_or(tail.len());
        if tail[n..].starts_with('m') {
            rest = &tail[n + 1..];
        } else {
            out.push_str("\x1b[");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn escapes_and_markup_from_the_wire_never_reach_the_terminal_or_browser() {
    let dir = tmpdir("evil");
    let p = dir.join("evil.pcap");
    std::fs::write(&p, evil_capture()).unwrap();
    let html = dir.join("r.html");
    let md = dir.join("r.md");
    for extra in [
        &["-v", "--color", "never"][..],
        &["-v", "--color", "always"][..],
    ] {
        let mut args = vec!["-r", p.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = wssniff(&args);
        let text = stdout(&out);
        if let Ok(dump) = std::env::var("WSSNIFF_DUMP") {
            std::fs::write(dump, &text).unwrap();
        }
        // The handshake and the connection end are both printed, the text escaped visibly.
        assert!(text.contains("GET /\\x9b2J/\\u{202e}evil"), "{text:?}");
        assert!(
            text.contains("server 1000 \"\\x1b[2J\\x1b]0;pwned\\x07<script>"),
            "close reason escaped once: {text:?}"
        );
        // Nothing from the wire may emit ESC, BEL, BS or a C1 CSI; colour codes we emit
        // ourselves are SGR sequences only.
        let raw = strip_sgr(&text);
        for bad in ['\x1b', '\x07', '\x08', '\u{9b}'] {
            assert!(
                !raw.contains(bad),
                "{extra:?}: raw {bad:?} in output: {raw:?}"
            );
        }
        assert!(!stderr(&out).contains('\x1b'));
    }
    for r in [&html, &md] {
        let out = wssniff(&[
            "-r",
            p.to_str().unwrap(),
            "-q",
            "--report",
            r.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(r).unwrap();
        for bad in ['\x1b', '\x07', '\x08', '\u{9b}'] {
            assert!(!text.contains(bad), "{}: raw {bad:?}", r.display());
        }
    }
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(!text.contains("<script>alert"), "HTML-escaped");
    assert!(!text.contains("<img src=x"), "HTML-escaped");
    assert!(!text.contains("<script>alert"), "HTML-escaped");
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The TUI draws the same hostile capture: no cell of the table or of the detail view (at
/// two sizes, every page) holds a character the terminal would act on.
#[test]
fn escapes_from_the_wire_never_reach_the_tui() {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use wssniff::tui::action::Action;
    use wssniff::tui::app::App;
    use wssniff::tui::feed::read_all;
    use wssniff::tui::render::{layout, render};

    let dir = tmpdir("tui-evil");
    let path = dir.join("evil.pcap");
    std::fs::write(&path, evil_capture()).unwrap();
    let mut app = App::new("file evil.pcap".to_owned(), None);
    for feed in read_all(path.to_str().unwrap(), EngineConfig::default()).unwrap() {
        app.apply_feed(feed);
    }
    let dangerous = |c: char| c.is_control() || ('\u{200b}'..='\u{206f}').contains(&c);
    let mut screens = 0;
    for (width, height) in [(80u16, 24u16), (160, 48)] {
        let mut draw = |app: &mut App| {
            let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
            app.set_table_rows(
                layout(ratatui::layout::Rect::new(0, 0, width, height)).table_rows(),
            );
            terminal.draw(|f| render(f, f.area(), app)).unwrap();
            let buffer = terminal.backend().buffer().clone();
            for cell in &buffer.content {
                assert!(
                    !cell.symbol().chars().any(dangerous),
                    "raw control in a TUI cell: {:?}",
                    cell.symbol()
                );
            }
            let text: String = buffer.content.iter().map(|c| c.symbol()).collect();
            screens += 1;
            text
        };
        assert!(
            draw(&mut app).contains("\\x9b"),
            "the C1 CSI is shown escaped"
        );
        app.update(Action::Open);
        for _ in 0..6 {
            draw(&mut app);
            app.update(Action::Page(1));
        }
        app.update(Action::Back);
    }
    assert!(screens >= 14);
    std::fs::remove_dir_all(&dir).ok();
}

/// Time stays linear where a naive parser goes quadratic: a head dribbled one byte per
/// segment is searched for its end once per byte, not once per segment from the start. The
/// work counter (bytes examined) grows with the head, by the same factor, for 4 KiB and 32 KiB.
#[test]
fn dribbled_heads_cost_linear_work() {
    let scanned = |size: usize| {
        let mut data = UPGRADE.to_vec(); // header lines, no blank line yet
        while data.len() < size {
            data.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        data.extend_from_slice(b"\r\n");
        let mut run = Run::new(EngineConfig::default());
        run.client_stream(40_000, &data, 1);
        run.finish();
        assert_eq!(run.engine.stats().header_limit_hits, 0);
        (data.len() as u64, run.engine.stats().head_bytes_scanned)
    };
    let (small_len, small) = scanned(4 * 1024);
    let (big_len, big) = scanned(32 * 1024);
    assert!(
        small <= 2 * small_len,
        "{small} bytes examined for a {small_len}-byte head"
    );
    assert!(
        big <= 2 * big_len,
        "{big} bytes examined for a {big_len}-byte head"
    );
    // Quadratic work would grow 64-fold for an 8-fold larger head; linear grows ~8-fold.
    assert!(big < small * 10, "{small} → {big}");
}

/// A "stale" accept: the second connection's 101 carries the accept value that answered the
/// first connection's key (a cache or a replaying proxy). The finding names the handshake the
/// value belongs to, not only that it is wrong.
#[test]
fn a_replayed_accept_is_traced_to_the_handshake_it_answered() {
    let request = |key: &str| {
        format!(
            "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    };
    let response = |accept: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    };
    let first_key = "dGhlIHNhbXBsZSBub25jZQ==";
    let first_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    let mut run = Run::new(EngineConfig::default());
    for (cport, key) in [(40_001u16, first_key), (40_002, "AAAAAAAAAAAAAAAAAAAAAA==")] {
        let req = request(key);
        let resp = response(first_accept);
        run.feed(&packet(true, cport, 1000, "S", b""));
        run.feed(&packet(false, cport, 5000, "SA", b""));
        run.feed(&packet(true, cport, 1001, "A", req.as_bytes()));
        run.feed(&packet(false, cport, 5001, "A", resp.as_bytes()));
    }
    run.finish();
    let handshakes: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Handshake(h) => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(handshakes.len(), 2);
    assert!(
        handshakes[0].findings.is_empty(),
        "{:?}",
        handshakes[0].findings
    );
    let replayed = &handshakes[1].findings[0];
    assert_eq!(replayed.code.as_str(), "accept_mismatch");
    assert!(
        replayed
            .message
            .contains(&format!("key {first_key} of handshake #1"))
            && replayed.message.contains("stale"),
        "{}",
        replayed.message
    );
}
