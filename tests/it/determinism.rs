//! Deterministic output (issue 11): the same capture gives byte-identical JSON Lines, line
//! output, summary and report whatever the flow table's hasher seed, with handshake ids in
//! request order and, reading a file, records in id order. A hand-built capture produces the
//! ties (flows evicted, expiring and drained together at identical timestamps, responses in the
//! opposite order of their requests); every bundled sample is analysed 20 times.

use std::cell::RefCell;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::rc::Rc;

use clap::Parser;
use etherparse::PacketBuilder;
use wssniff::capture::{FileSource, Linktype, Packet, ReadSummary, Timestamp};
use wssniff::cli::Cli;
use wssniff::engine::{Engine, EngineConfig, RecordOrder, Stats};
use wssniff::event::Event;
use wssniff::handshake::accept::expected_accept;
use wssniff::report::{CaptureInfo, Format, Report};
use wssniff::run::{analyse, Step};
use wssniff::sink::{JsonSink, LineSink, LineStyle, RunEnd, Sink};
use wssniff::tcp::flow::FlowLimits;

use crate::util::*;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// A distinct Sec-WebSocket-Key per client port (base64 of 16 bytes).
fn key(port: u16) -> String {
    format!("{port:05}AAAAAAAAAAAAAAAAA==")
}

/// A buffer the sinks write into and the test reads back.
#[derive(Clone, Default)]
struct Buf(Rc<RefCell<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.borrow().clone()).unwrap()
    }
}

/// Every output the CLI can write for one run.
struct Outputs {
    line_out: Buf,
    json_out: Buf,
    line: LineSink<Buf>,
    json: JsonSink<Buf>,
    report: Report,
}

impl Outputs {
    fn new() -> Self {
        let style = LineStyle {
            color: false,
            verbose: true,
        };
        let (line_out, json_out) = (Buf::default(), Buf::default());
        Outputs {
            line: LineSink::new(line_out.clone(), style),
            json: JsonSink::new(json_out.clone()),
            line_out,
            json_out,
            report: Report::new(),
        }
    }

    fn event(&mut self, e: &Event) {
        self.line.event(e).unwrap();
        self.json.event(e).unwrap();
        self.report.event(e).unwrap();
    }

    /// (JSON Lines, then the line output and the report) once the run is over.
    fn render(mut self, file: &str, stats: &Stats, read: &ReadSummary) -> (String, String) {
        let end = RunEnd {
            stats,
            read,
            live: None,
        };
        for sink in [&mut self.line as &mut dyn Sink, &mut self.json] {
            sink.end(&end).unwrap();
            sink.finish().unwrap();
        }
        let info = CaptureInfo::gather(file, stats, read, Timestamp(T0));
        let mut rest = self.line_out.text();
        for format in [Format::Markdown, Format::Json, Format::Html] {
            rest.push_str(&self.report.render(format, &info));
        }
        (self.json_out.text(), rest)
    }
}

/// One packet of the hand-built capture.
struct Pkt {
    ts: i64,
    data: Vec<u8>,
}

/// Builds raw IPv4 packets between `CLIENT:port` and `SERVER:80`, tracking sequence numbers.
#[derive(Default)]
struct Capture {
    packets: Vec<Pkt>,
}

const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;

impl Capture {
    fn push(&mut self, ts: i64, to_server: bool, port: u16, seq: u32, flags: &str, payload: &[u8]) {
        let mut b = if to_server {
            PacketBuilder::ipv4(CLIENT, SERVER, 64).tcp(port, 80, seq, 65_535)
        } else {
            PacketBuilder::ipv4(SERVER, CLIENT, 64).tcp(80, port, seq, 65_535)
        };
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('F') {
            b = b.fin();
        }
        if flags.contains('A') {
            b = b.ack(1);
        }
        let mut data = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut data, payload).unwrap();
        self.packets.push(Pkt { ts: T0 + ts, data });
    }

    /// SYN, SYN-ACK at `ts`.
    fn open(&mut self, ts: i64, port: u16) {
        self.push(ts, true, port, CLIENT_ISN, "S", b"");
        self.push(ts, false, port, SERVER_ISN, "SA", b"");
    }

    /// The upgrade request (the client's first bytes) at `ts`, with a key of its own.
    fn request(&mut self, ts: i64, port: u16) -> usize {
        let key = key(port);
        let req = format!(
            "GET /p{port} HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        self.push(ts, true, port, CLIENT_ISN + 1, "A", req.as_bytes());
        req.len()
    }

    /// The server's first bytes at `ts`: a 101, or a 403.
    fn response(&mut self, ts: i64, port: u16, switch: bool) -> usize {
        let resp = if switch {
            let accept = expected_accept(&key(port));
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
        } else {
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_owned()
        };
        self.push(ts, false, port, SERVER_ISN + 1, "A", resp.as_bytes());
        resp.len()
    }

    /// FIN from both sides at `ts` (after `sent` request and `answered` response bytes).
    fn close(&mut self, ts: i64, port: u16, sent: usize, answered: usize) {
        self.push(ts, false, port, SERVER_ISN + 1 + answered as u32, "FA", b"");
        self.push(ts, true, port, CLIENT_ISN + 1 + sent as u32, "FA", b"");
    }

    /// The capture: every kind of tie.
    fn ties() -> Capture {
        let mut c = Capture::default();
        // Two connections whose responses arrive in the opposite order of their requests.
        c.open(MS, 41_000);
        c.open(MS, 41_001);
        let sent0 = c.request(2 * MS, 41_000);
        let sent1 = c.request(3 * MS, 41_001);
        let answered1 = c.response(4 * MS, 41_001, false);
        let answered0 = c.response(5 * MS, 41_000, false);
        c.close(6 * MS, 41_000, sent0, answered0);
        c.close(6 * MS, 41_001, sent1, answered1);
        // Eight WebSocket connections opened at one instant: the table (10 flows) evicts the
        // tied ones, the rest expire together, with identical timestamps throughout.
        for port in 42_000..42_008 {
            c.open(10 * MS, port);
            c.request(10 * MS, port);
            c.response(10 * MS, port, true);
        }
        // Six upgrades without an answer, requests at one instant; they fill the table.
        for port in 43_000..43_006 {
            c.open(20 * MS, port);
            c.request(20 * MS, port);
        }
        // Long after the idle timeout: everything left expires in one sweep.
        c.open(5_000 * MS, 44_000);
        // Two WebSocket connections still open at the end, last seen at the same instant.
        for port in [44_002, 44_001] {
            c.open(5_001 * MS, port);
            c.request(5_001 * MS, port);
            c.response(5_002 * MS, port, true);
        }
        c
    }

    /// The engine's counters after the capture.
    fn stats(&self, config: EngineConfig) -> Stats {
        let mut engine = Engine::new(config);
        for (i, p) in self.packets.iter().enumerate() {
            let packet = Packet {
                number: i as u64 + 1,
                ts: Timestamp(p.ts),
                linktype: Linktype::IPV4,
                data: &p.data,
                orig_len: p.data.len() as u32,
            };
            engine.process(&packet, &mut |_| {});
        }
        engine.finish(&mut |_| {});
        engine.stats().clone()
    }

    fn run(&self, config: EngineConfig) -> (String, String) {
        let mut engine = Engine::new(config);
        let mut outputs = Outputs::new();
        for (i, p) in self.packets.iter().enumerate() {
            let packet = Packet {
                number: i as u64 + 1,
                ts: Timestamp(p.ts),
                linktype: Linktype::IPV4,
                data: &p.data,
                orig_len: p.data.len() as u32,
            };
            engine.process(&packet, &mut |e| outputs.event(&e));
        }
        engine.finish(&mut |e| outputs.event(&e));
        let read = ReadSummary {
            packets: self.packets.len() as u64,
            ..ReadSummary::default()
        };
        outputs.render("-", engine.stats(), &read)
    }
}

fn ties_config(seed: u64, order: RecordOrder) -> EngineConfig {
    EngineConfig {
        flows: FlowLimits {
            max_flows: 10,
            idle_timeout_ns: 1_000 * MS,
        },
        hash_seed: Some(seed),
        order,
        ..EngineConfig::default()
    }
}

fn json_lines(json: &str) -> Vec<serde_json::Value> {
    json.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SEEDS: [u64; 6] = [0, 1, 2, 3, 0x5eed, u64::MAX];

#[test]
fn ties_give_byte_identical_output_whatever_the_hasher_seed() {
    let capture = Capture::ties();
    for order in [RecordOrder::ById, RecordOrder::AsKnown] {
        let first = capture.run(ties_config(SEEDS[0], order));
        for seed in &SEEDS[1..] {
            let again = capture.run(ties_config(*seed, order));
            assert!(
                again.0 == first.0,
                "{order:?}, seed {seed}: JSON differs\n{}\n---\n{}",
                first.0,
                again.0
            );
            assert!(
                again.1 == first.1,
                "{order:?}, seed {seed}: line output or report differs"
            );
        }
    }
    // The capture does produce the ties it is about.
    let (json, text) = capture.run(ties_config(SEEDS[0], RecordOrder::ById));
    let recs = json_lines(&json);
    let endings: Vec<&str> = recs
        .iter()
        .filter(|r| r["type"] == "connection")
        .map(|r| r["ending"].as_str().unwrap())
        .collect();
    assert!(endings.contains(&"evicted"), "{endings:?}");
    assert!(endings.contains(&"open"), "{endings:?}");
    assert!(text.contains("#18 "), "{text}");
    let stats = capture.stats(ties_config(SEEDS[0], RecordOrder::ById));
    assert!(stats.flows_evicted_capacity > 0, "{stats:?}");
    assert!(stats.flows_evicted_idle > 0, "{stats:?}");
}

#[test]
fn ids_follow_the_requests_and_a_file_writes_them_in_id_order() {
    let capture = Capture::ties();
    let (json, text) = capture.run(ties_config(7, RecordOrder::ById));
    let recs = json_lines(&json);
    let handshakes: Vec<&serde_json::Value> =
        recs.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(handshakes.len(), 18);
    // In the output, ids run 1, 2, 3, … and their requests in packet order.
    let ids: Vec<u64> = handshakes
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=18).collect::<Vec<_>>());
    let request_packets: Vec<u64> = handshakes
        .iter()
        .map(|r| r["request"]["packets"][0].as_u64().unwrap())
        .collect();
    assert!(
        request_packets.windows(2).all(|w| w[0] < w[1]),
        "{request_packets:?}"
    );
    // The connection asked first is #1 though its 403 came second.
    assert_eq!(handshakes[0]["path"], "/p41000");
    assert_eq!(handshakes[1]["path"], "/p41001");
    assert!(
        handshakes[0]["response"]["packets"][0].as_u64()
            > handshakes[1]["response"]["packets"][0].as_u64()
    );
    let first = text.find(" #1 ").unwrap();
    let second = text.find(" #2 ").unwrap();
    assert!(first < second, "{text}");
    // Each connection record follows its handshake's.
    for (at, r) in recs.iter().enumerate() {
        if r["type"] == "connection" {
            let id = &r["handshake_id"];
            let opened = recs
                .iter()
                .position(|h| h["type"] == "handshake" && &h["id"] == id)
                .unwrap();
            assert!(opened < at, "connection of #{id} before its handshake");
        }
    }

    // Live, a record goes out as soon as it is known: the first 403 before the second
    // request's; the ids are the same.
    let (live, _) = capture.run(ties_config(7, RecordOrder::AsKnown));
    let live = json_lines(&live);
    let live_ids: Vec<u64> = live
        .iter()
        .filter(|r| r["type"] == "handshake")
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(&live_ids[..2], &[2, 1]);
    let mut sorted = live_ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ids);
}

#[test]
fn a_handshake_left_unanswered_gives_up_its_place_past_the_hold_cap() {
    use wssniff::engine::MAX_HELD_EVENTS;
    let mut c = Capture::default();
    // #1 never gets an answer: everything after it waits, up to the cap.
    c.open(MS, 40_000);
    c.request(MS, 40_000);
    let answered = MAX_HELD_EVENTS as u16 + 1;
    for i in 0..answered {
        let port = 41_000 + i;
        let t = 2 * MS + i64::from(i);
        c.open(t, port);
        let sent = c.request(t, port);
        let got = c.response(t, port, false);
        c.close(t, port, sent, got);
    }
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for (i, p) in c.packets.iter().enumerate() {
        let packet = Packet {
            number: i as u64 + 1,
            ts: Timestamp(p.ts),
            linktype: Linktype::IPV4,
            data: &p.data,
            orig_len: p.data.len() as u32,
        };
        engine.process(&packet, &mut |e| out.push(e));
    }
    let ids = |events: &[Event]| -> Vec<u64> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Handshake(h) => Some(h.id),
                _ => None,
            })
            .collect()
    };
    // Past the cap, #1 let the others go, in order.
    let before_end = ids(&out);
    assert_eq!(before_end.len(), usize::from(answered));
    assert_eq!(before_end.first(), Some(&2));
    assert!(before_end.windows(2).all(|w| w[0] < w[1]));
    engine.finish(&mut |e| out.push(e));
    // #1 comes when its outcome is known (the capture ended), out of id order, and says so.
    assert_eq!(ids(&out).last(), Some(&1));
    assert_eq!(engine.stats().records_out_of_order, 1);
    let notices: Vec<&str> = out
        .iter()
        .filter_map(|e| match e {
            Event::Notice(n) => Some(n.code),
            _ => None,
        })
        .collect();
    assert_eq!(notices, ["order_limit"]);
}

/// Runs a sample through the same pipeline as `wssniff -r FILE` (flags parsed by the CLI),
/// into every output.
fn run_sample(path: &Path) -> (String, String) {
    let file = path.to_str().unwrap();
    let key = test_config_home().join("wssniff/redact.key");
    let config = Cli::parse_from([
        "wssniff",
        "-r",
        file,
        "--redact-key-file",
        key.to_str().unwrap(),
    ])
    .into_config(false)
    .unwrap();
    // Redacted as the binary does, with the tests' fixed key.
    let redactor = wssniff::run::redactor(&config.redact).unwrap();
    let mut source = FileSource::open(file).unwrap();
    let mut engine = Engine::new(config.engine);
    // As `wssniff -r` does: the engine always asks the (here empty) key log, which a pcapng
    // file's Decryption Secrets Blocks may fill, so a TLS record says why it was not
    // decrypted (the first TLS capture among the samples, engineio-wss.pcap, showed the
    // difference).
    let (mut keys, _) =
        wssniff::run::keylog::Keys::open(None, config.keylog_max_sessions, false).unwrap();
    engine.set_key_store(Box::new(wssniff::tls::keystore::SharedKeyLog::new(
        keys.shared(),
    )));
    let mut outputs = Outputs::new();
    let read = analyse(&mut source, None, &mut engine, Some(&mut keys), |step| {
        if let Step::Event(e) = step {
            outputs.event(&redactor.event(e));
        }
        ControlFlow::Continue(())
    });
    engine.finish(&mut |e| outputs.event(&redactor.event(e)));
    outputs.render(file, engine.stats(), &read)
}

#[test]
fn every_sample_analysed_twenty_times_gives_identical_output() {
    let mut samples: Vec<_> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    samples.sort();
    assert!(samples.len() >= 20);
    for path in samples {
        // Each engine draws its own hasher seed.
        let first = run_sample(&path);
        for run in 1..20 {
            let again = run_sample(&path);
            assert!(again == first, "{}: run {run} differs", path.display());
        }
        // And the in-process pipeline is the one the binary runs.
        let out = wssniff(&["-r", path.to_str().unwrap(), "--json"]);
        assert_eq!(stdout(&out), first.0, "{}", path.display());
    }
}
