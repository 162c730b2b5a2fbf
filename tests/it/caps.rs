//! Adversarial traffic against the caps (issue 7): floods of flows, heads that never end,
//! endless pipelines, sequence numbers jumping by gigabytes, a connection that never closes,
//! idle expiry, and work that must stay linear where a naive parser goes quadratic.

use wssniff::dispatch::ConnLimits;
use wssniff::engine::EngineConfig;
use wssniff::event::Event;

use crate::packet::{v4, Link, Tcp};
use crate::traffic::{packet, Run, SERVER, UPGRADE};

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
