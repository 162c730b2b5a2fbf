//! Memory accounting: the engine's meter (every buffer registers with it) equals a walk of the
//! flow table after every packet, on every bundled sample and on adversarial traffic, and
//! returns to 0 when the capture ends.

use std::ops::ControlFlow;

use wssniff::capture::{FileSource, Linktype, Packet, Timestamp};
use wssniff::engine::{Engine, EngineConfig};
use wssniff::event::{Event, Verdict};
use wssniff::finding::Code;
use wssniff::memory::Use;

use crate::packet::{v4, Link, Tcp};
use crate::util::*;

/// Runs every packet of `path` and checks the meter against the walk after each.
fn check_capture(path: &std::path::Path) -> (u64, usize) {
    let mut source = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut engine = Engine::new(EngineConfig::default());
    let mut packets = 0u64;
    source.for_each_packet(|packet| {
        packets += 1;
        engine.process(packet, &mut |_| {});
        assert_eq!(
            engine.memory(),
            engine.memory_walked(),
            "{} packet {}",
            path.display(),
            packet.number
        );
        ControlFlow::Continue(())
    });
    let peak = engine.peak_memory();
    engine.finish(&mut |_| {});
    assert_eq!(
        engine.memory(),
        0,
        "{}: released at the end",
        path.display()
    );
    assert_eq!(engine.memory_walked(), 0);
    (packets, peak)
}

#[test]
fn the_meter_equals_the_walk_at_every_packet_of_every_sample() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain(
            std::fs::read_dir(root().join("samples/tls"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        )
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the samples are there");
    let mut checked = 0;
    for f in &files {
        let (packets, peak) = check_capture(f);
        assert!(packets > 0 && peak > 0, "{}", f.display());
        checked += packets;
    }
    assert!(checked > 100);
}

const CLIENT: [u8; 4] = [10, 9, 0, 1];
const SERVER: [u8; 4] = [10, 9, 0, 2];

/// A raw IPv4 TCP packet of connection `port` (flags in tcpdump's letters).
fn packet(to_server: bool, port: u16, seq: u32, ack: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let (client, server) = (v4(CLIENT, port), v4(SERVER, 80));
    let (src, dst) = if to_server {
        (client, server)
    } else {
        (server, client)
    };
    Tcp::new(src, dst, seq, ack, flags, payload).build(Link::Ip)
}

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
const SWITCH: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
/// "Hello" compressed (RFC 7692 §7.2.3.1), unmasked, RSV1 set.
const DEFLATED_HELLO: &[u8] = &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn the_meter_equals_the_walk_under_adversarial_traffic_and_returns_to_zero() {
    let mut config = EngineConfig::default();
    // A small table: evictions happen, and idle expiry on the ticks.
    config.flows.max_flows = 2;
    config.flows.idle_timeout_ns = 30 * 1_000_000_000;
    config.response_timeout_ns = Some(1_000_000_000);
    let mut engine = Engine::new(config);
    let mut number = 0u64;
    let mut ts = 1_700_000_000_000_000_000i64;
    let mut feed = |engine: &mut Engine, data: &[u8], step_ns: i64| {
        number += 1;
        ts += step_ns;
        let p = Packet {
            number,
            ts: Timestamp(ts),
            linktype: Linktype::IPV4,
            data,
            orig_len: data.len() as u32,
        };
        engine.process(&p, &mut |_| {});
        assert_eq!(engine.memory(), engine.memory_walked(), "packet {number}");
        if number.is_multiple_of(97) {
            engine.tick(Timestamp(ts + 2_000_000_000), &mut |_| {});
            assert_eq!(engine.memory(), engine.memory_walked(), "tick {number}");
        }
    };
    let head_line = b"X-Endless: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for conn in 0..200u16 {
        let port = 20_000 + conn;
        let (c, s) = (1000u32, 9000u32);
        feed(&mut engine, &packet(true, port, c, 0, "S", b""), 1_000);
        feed(
            &mut engine,
            &packet(false, port, s, c + 1, "SA", b""),
            1_000,
        );
        let mut seq = c + 1;
        match conn % 5 {
            // Out-of-order segments held behind a hole that never fills, then an RST.
            0 => {
                for k in 1..40u32 {
                    feed(
                        &mut engine,
                        &packet(true, port, seq + k * 700, s + 1, "A", &[b'o'; 600]),
                        1_000,
                    );
                }
                feed(
                    &mut engine,
                    &packet(false, port, s + 1, c + 1, "AR", b""),
                    1_000,
                );
            }
            // A head that never ends, past the header cap.
            1 => {
                feed(
                    &mut engine,
                    &packet(true, port, seq, s + 1, "A", b"GET /x HTTP/1.1\r\n"),
                    1_000,
                );
                seq += 17;
                for _ in 0..1200 {
                    feed(
                        &mut engine,
                        &packet(true, port, seq, s + 1, "A", head_line),
                        1_000,
                    );
                    seq += head_line.len() as u32;
                }
            }
            // A flood of pipelined requests, upgrades among them, never answered.
            2 => {
                for k in 0..300 {
                    let req: &[u8] = if k % 7 == 0 {
                        UPGRADE
                    } else {
                        b"GET /p HTTP/1.1\r\n\r\n"
                    };
                    feed(
                        &mut engine,
                        &packet(true, port, seq, s + 1, "A", req),
                        1_000,
                    );
                    seq += req.len() as u32;
                }
            }
            // A permessage-deflate WebSocket (inflaters held), closed with FINs.
            3 => {
                feed(
                    &mut engine,
                    &packet(true, port, seq, s + 1, "A", UPGRADE),
                    1_000,
                );
                seq += UPGRADE.len() as u32;
                let mut sseq = s + 1;
                feed(
                    &mut engine,
                    &packet(false, port, sseq, seq, "A", SWITCH),
                    1_000,
                );
                sseq += SWITCH.len() as u32;
                for _ in 0..50 {
                    feed(
                        &mut engine,
                        &packet(false, port, sseq, seq, "A", DEFLATED_HELLO),
                        1_000,
                    );
                    sseq += DEFLATED_HELLO.len() as u32;
                }
                feed(
                    &mut engine,
                    &packet(false, port, sseq, seq, "AF", b""),
                    1_000,
                );
                feed(
                    &mut engine,
                    &packet(true, port, seq, sseq + 1, "AF", b""),
                    1_000,
                );
            }
            // Interim responses to an upgrade, then silence until the idle timeout.
            _ => {
                feed(
                    &mut engine,
                    &packet(true, port, seq, s + 1, "A", UPGRADE),
                    1_000,
                );
                seq += UPGRADE.len() as u32;
                let cont = b"HTTP/1.1 102 Processing\r\nX-Pad: 0123456789\r\n\r\n";
                let mut sseq = s + 1;
                for _ in 0..5 {
                    feed(
                        &mut engine,
                        &packet(false, port, sseq, seq, "A", cont),
                        1_000,
                    );
                    sseq += cont.len() as u32;
                }
                feed(
                    &mut engine,
                    &packet(true, port, seq, sseq, "A", b""),
                    40_000_000_000,
                );
            }
        }
    }
    assert!(engine.peak_memory() > 64 * 1024, "{}", engine.peak_memory());
    assert!(engine.stats().flows_evicted_capacity > 0);
    engine.finish(&mut |_| {});
    assert_eq!(engine.memory(), 0);
    assert_eq!(engine.memory_walked(), 0);
}

/// Feeds raw IPv4 packets to an engine with `budget`, checking after each packet that the
/// meter equals the walk and stays within the budget plus one packet's growth; returns the
/// events and the engine after `finish`.
struct Budgeted {
    engine: Engine,
    events: Vec<Event>,
    number: u64,
    ts: i64,
    budget: usize,
}

/// What one packet may add past the budget: its own bytes and what parsing them registers.
const ONE_PACKET_SLACK: usize = 128 * 1024;

impl Budgeted {
    fn new(budget: usize) -> Self {
        let config = EngineConfig {
            memcap: Some(budget),
            ..EngineConfig::default()
        };
        Budgeted {
            engine: Engine::new(config),
            events: Vec::new(),
            number: 0,
            ts: 1_700_000_000_000_000_000,
            budget,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        self.number += 1;
        self.ts += 1_000;
        let p = Packet {
            number: self.number,
            ts: Timestamp(self.ts),
            linktype: Linktype::IPV4,
            data,
            orig_len: data.len() as u32,
        };
        let events = &mut self.events;
        self.engine.process(&p, &mut |e| events.push(e));
        assert_eq!(
            self.engine.memory(),
            self.engine.memory_walked(),
            "packet {}",
            self.number
        );
        assert!(
            self.engine.memory() <= self.budget + ONE_PACKET_SLACK,
            "packet {}: {} held over a budget of {}",
            self.number,
            self.engine.memory(),
            self.budget
        );
    }

    /// SYN, SYN-ACK and the client's first bytes on connection `port`.
    fn open(&mut self, port: u16, first: &[u8]) {
        self.feed(&packet(true, port, 1000, 0, "S", b""));
        self.feed(&packet(false, port, 9000, 1001, "SA", b""));
        self.feed(&packet(true, port, 1001, 9001, "A", first));
    }

    fn finish(mut self) -> (Engine, Vec<Event>) {
        let events = &mut self.events;
        self.engine.finish(&mut |e| events.push(e));
        assert_eq!(self.engine.memory(), 0, "released at the end");
        (self.engine, self.events)
    }
}

fn handshakes(events: &[Event]) -> Vec<&wssniff::event::HandshakeRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Handshake(h) => Some(&**h),
            _ => None,
        })
        .collect()
}

fn has_code(findings: &[wssniff::finding::Finding], code: Code) -> bool {
    findings.iter().any(|f| f.code == code)
}

#[test]
fn a_full_budget_refuses_new_head_bytes_and_marks_the_handshake_it_cut() {
    let mut run = Budgeted::new(2 << 20);
    // An upgrade request that waits for its answer.
    run.open(1, UPGRADE);
    // Heads that never end, on 100 connections (30 KiB each wanted), then pipelined
    // requests that stay pending fill the budget for good.
    let line = [b'a'; 1000];
    for port in 100..200u16 {
        run.open(port, b"GET /x HTTP/1.1\r\nX-Long: ");
    }
    for round in 0..30u32 {
        for port in 100..200u16 {
            let seq = 1001 + 26 + round * 1000;
            run.feed(&packet(true, port, seq, 9001, "A", &line));
        }
    }
    let burst = b"GET /p HTTP/1.1\r\n\r\n".repeat(50);
    for port in 200..300u16 {
        run.open(port, &burst);
        for k in 1..20u32 {
            run.feed(&packet(
                true,
                port,
                1001 + k * burst.len() as u32,
                9001,
                "A",
                &burst,
            ));
        }
    }
    assert!(run.engine.meter_refusals(Use::Pending).times > 0);
    // The answer to the waiting upgrade cannot be buffered either: it is dropped, marked.
    let partial = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n";
    run.feed(&packet(
        false,
        1,
        9001,
        1001 + UPGRADE.len() as u32,
        "A",
        partial,
    ));
    let (engine, events) = run.finish();
    let hs = handshakes(&events);
    let first = hs.iter().find(|h| h.id == 1).expect("the upgrade's record");
    assert!(
        has_code(&first.findings, Code::MemcapReached),
        "{:?}",
        first.findings
    );
    assert!(
        !has_code(&first.findings, Code::NoResponse)
            && !has_code(&first.findings, Code::ResponseNotCaptured),
        "whether an answer came is not known: {:?}",
        first.findings
    );
    assert_eq!(first.verdict, Verdict::Incomplete);
    let stats = engine.stats();
    assert!(stats.memcap_records >= 1);
    assert!(stats.memcap_refused.contains_key("unparsed"), "{stats:?}");
    assert!(stats.memcap_refused.contains_key("pending"));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Notice(n) if n.code == "memcap")));
}

#[test]
fn out_of_order_segments_that_do_not_fit_give_up_their_holes() {
    let mut run = Budgeted::new(1 << 20);
    // 40 connections each hold 60 KiB behind a one-byte hole: 2.4 MiB wanted.
    for port in 1..=40u16 {
        run.open(port, b"G");
        for k in 0..60u32 {
            run.feed(&packet(
                true,
                port,
                1001 + 2 + k * 1000,
                9001,
                "A",
                &[b'o'; 1000],
            ));
        }
    }
    let refused = run.engine.meter_refusals(Use::Segments);
    assert!(refused.times > 0, "{refused:?}");
    assert!(run.engine.peak_memory() <= (1 << 20) + ONE_PACKET_SLACK);
    let (engine, _) = run.finish();
    assert!(engine.stats().memcap_refused.contains_key("segments"));
}

#[test]
fn new_connections_evict_the_least_recently_active_when_the_budget_is_full() {
    let mut run = Budgeted::new(1 << 20);
    // Each connection keeps its state (a pipelined request waits): ~1 KiB each.
    for port in 1..=4000u16 {
        run.open(port, b"GET /a HTTP/1.1\r\n\r\n");
    }
    let evicted = run.engine.stats().flows_evicted_memcap;
    assert!(evicted > 0, "emergency mode evicted connections");
    assert!(run.engine.flow_count() < 4000);
    // The newest connections are still tracked: eviction went least recently active first.
    let (engine, _) = run.finish();
    assert_eq!(engine.stats().flows_evicted_memcap, evicted);
}

#[test]
fn the_same_capture_and_budget_refuse_the_same_growth() {
    let go = || {
        let mut run = Budgeted::new(1 << 20);
        for port in 1..=200u16 {
            run.open(port, b"GET /x HTTP/1.1\r\nX: ");
            for k in 0..10u32 {
                run.feed(&packet(
                    true,
                    port,
                    1001 + 21 + k * 1000,
                    9001,
                    "A",
                    &[b'z'; 1000],
                ));
            }
        }
        let (engine, events) = run.finish();
        (format!("{:?}", engine.stats()), events.len())
    };
    assert_eq!(go(), go());
}

/// Runs adversarial `attack` (`connections` × `amount`) through an engine with `budget`,
/// checking the meter against the walk and the budget at every packet (as [`Budgeted`]).
fn run_attack(
    attack: crate::fuzz::bodies::adversarial::Attack,
    connections: u32,
    amount: u32,
    budget: usize,
) -> (Engine, Vec<Event>) {
    let mut run = Budgeted::new(budget);
    crate::fuzz::bodies::adversarial::generate(attack, connections, amount, &mut |_, p| {
        run.feed(p)
    });
    assert!(run.engine.peak_memory() <= budget + ONE_PACKET_SLACK);
    run.finish()
}

#[test]
fn tls_handshake_messages_that_never_end_are_refused_and_the_records_marked() {
    use crate::fuzz::bodies::adversarial::Attack;
    // 300 connections × 16 KiB of one unfinished ClientHello: 4.7 MiB wanted, 1 MiB given.
    let (engine, events) = run_attack(Attack::TlsHandshake, 300, 16 * 1024, 1 << 20);
    let refused = engine.meter_refusals(Use::Tls);
    assert!(refused.times > 0, "{refused:?}");
    let tls: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Tls(t) => Some(t),
            _ => None,
        })
        .collect();
    // Connections whose first record the TCP layer had no room for are not known as TLS;
    // the others get their record.
    assert!(tls.len() >= 200, "{} records", tls.len());
    let marked = tls
        .iter()
        .filter(|t| has_code(&t.findings, Code::MemcapReached))
        .count();
    assert!(marked > 0, "{marked} marked");
    let stats = engine.stats();
    assert!(stats.memcap_refused.contains_key("tls"), "{stats:?}");
    assert!(stats.memcap_records >= marked as u64);
    // Without a budget nothing is refused and no record is marked: the refusals above are
    // the budget's.
    let (engine, events) = run_attack(Attack::TlsHandshake, 300, 16 * 1024, usize::MAX / 2);
    assert_eq!(engine.meter_refusals(Use::Tls).times, 0);
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::Tls(t) if has_code(&t.findings, Code::MemcapReached))));
}

#[test]
fn h2_header_blocks_and_hpack_tables_grow_only_within_the_budget() {
    use crate::fuzz::bodies::adversarial::Attack;
    // Header blocks that never end: 300 × 16 KiB wanted, 1 MiB given.
    let (engine, events) = run_attack(Attack::H2Headers, 300, 16 * 1024, 1 << 20);
    assert!(engine.meter_refusals(Use::Http2).times > 0);
    assert!(engine.stats().memcap_refused.contains_key("http2"));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Notice(n) if n.code == "memcap")));
    // Tables filled to their 64 KiB cap: 60 connections × 2 directions' worth wanted.
    let (engine, _) = run_attack(Attack::Hpack, 60, 72 * 1024, 1 << 20);
    assert!(engine.meter_refusals(Use::Http2).times > 0);
    // Unbounded, the same tables are all kept.
    let (engine, _) = run_attack(Attack::Hpack, 60, 72 * 1024, usize::MAX / 2);
    assert_eq!(engine.meter_refusals(Use::Http2).times, 0);
    assert!(
        engine.peak_memory() > 60 * 60 * 1024,
        "{}",
        engine.peak_memory()
    );
}
