//! Findings that must not blame without evidence (issue 15 items 3–5), on hand-built traffic
//! where no real peer behaves that way on demand: a client that takes a failed 101 anyway,
//! a client that neither speaks nor closes, a teardown next to the one-second boundary.

use wssniff::capture::Timestamp;
use wssniff::engine::{EngineConfig, RecordOrder};
use wssniff::event::{ConnectionEnding, Event};

use crate::traffic::{packet, Run, UPGRADE};

/// A 101 whose accept does not answer the key: a compliant client must fail it.
const BAD_ACCEPT_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
/// A 101 that answers `UPGRADE`'s key (the RFC 6455 example).
const GOOD_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/// A masked text frame "hi" (zero mask key).
const CLIENT_TEXT: &[u8] = &[0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];

fn request() -> Vec<u8> {
    let mut r = UPGRADE.to_vec();
    r.extend_from_slice(b"\r\n");
    r
}

/// Client and server sequence numbers after the handshake of `Run::handshake`.
struct Seqs {
    client: u32,
    server: u32,
}

/// SYN, SYN-ACK, the upgrade request and `response`, 1 ms apart, on client port `cport`.
fn handshake(run: &mut Run, cport: u16, response: &[u8]) -> Seqs {
    let req = request();
    run.feed(&packet(true, cport, 1000, "S", b""));
    run.feed(&packet(false, cport, 5000, "SA", b""));
    run.feed(&packet(true, cport, 1001, "A", &req));
    run.feed(&packet(false, cport, 5001, "A", response));
    Seqs {
        client: 1001 + req.len() as u32,
        server: 5001 + response.len() as u32,
    }
}

/// What was emitted, as `handshake #id`, `connection of #id`, `hop`, in order.
fn story(run: &Run) -> Vec<String> {
    run.events
        .iter()
        .filter_map(|e| match e {
            Event::Handshake(h) => Some(format!("handshake #{}", h.id)),
            Event::Connection(c) => Some(format!(
                "connection of #{}",
                c.handshake_id.unwrap_or_default()
            )),
            Event::Hop(_) => Some("hop".to_owned()),
            Event::Notice(_) | Event::Tls(_) | Event::EngineIo(_) => None,
        })
        .collect()
}

#[test]
fn a_client_that_fails_the_handshake_opens_no_connection() {
    let mut run = Run::new(EngineConfig::default());
    let s = handshake(&mut run, 40_000, BAD_ACCEPT_101);
    // Held until the client shows what it does with the 101.
    assert!(story(&run).is_empty(), "{:?}", story(&run));
    assert_eq!(run.engine.memory(), run.engine.memory_walked());
    run.feed(&packet(true, 40_000, s.client, "FA", b""));
    run.feed(&packet(false, 40_000, s.server, "FA", b""));
    run.finish();
    assert_eq!(story(&run), ["handshake #1"]);
    let Some(Event::Handshake(h)) = run.events.first() else {
        unreachable!()
    };
    assert_eq!(h.ending, Some(wssniff::event::Ending::ClientFin));
    assert_eq!(
        run.handshake_codes(),
        ["accept_mismatch", "closed_after_failed_handshake"]
    );
    assert!(h.findings[1].message.contains("as RFC 6455 §4.1 requires"));
    assert_eq!(run.engine.stats().connections, 0);
    assert_eq!(run.engine.memory(), 0);
}

#[test]
fn a_client_that_takes_a_failed_101_anyway_has_a_connection() {
    let mut run = Run::new(EngineConfig::default());
    let s = handshake(&mut run, 40_001, BAD_ACCEPT_101);
    // A lenient client speaks: the switch took effect on both sides, the record goes out at
    // once, as it is.
    run.feed(&packet(true, 40_001, s.client, "A", CLIENT_TEXT));
    assert_eq!(story(&run), ["handshake #1"]);
    let c = s.client + CLIENT_TEXT.len() as u32;
    run.feed(&packet(true, 40_001, c, "FA", b""));
    run.feed(&packet(false, 40_001, s.server, "FA", b""));
    run.finish();
    assert_eq!(story(&run), ["handshake #1", "connection of #1"]);
    assert_eq!(run.handshake_codes(), ["accept_mismatch"]);
    let Some(Event::Connection(conn)) = run.events.get(1) else {
        unreachable!()
    };
    // Its dropped TCP is a finding again: nothing excuses it any more.
    assert_eq!(conn.ending, ConnectionEnding::FinWithoutClose);
    let codes: Vec<&str> = conn.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["close_frame_missing"]);
}

#[test]
fn frames_and_fin_in_one_go_still_count_as_taking_the_switch() {
    // The client's frame and its FIN arrive together (one segment): it took the switch.
    let mut run = Run::new(EngineConfig::default());
    let s = handshake(&mut run, 40_002, BAD_ACCEPT_101);
    run.feed(&packet(false, 40_002, s.server, "FA", b""));
    run.feed(&packet(true, 40_002, s.client, "FA", CLIENT_TEXT));
    run.finish();
    assert_eq!(story(&run), ["handshake #1", "connection of #1"]);
    assert_eq!(run.handshake_codes(), ["accept_mismatch"]);
}

#[test]
fn live_capture_does_not_wait_forever_for_a_silent_client() {
    let mut run = Run::new(EngineConfig {
        response_timeout_ns: Some(2_000_000_000),
        order: RecordOrder::AsKnown,
        ..EngineConfig::default()
    });
    let s = handshake(&mut run, 40_003, BAD_ACCEPT_101);
    let events = &mut run.events;
    run.engine
        .tick(Timestamp(run.ts + 1_000_000_000), &mut |e| events.push(e));
    assert!(story(&run).is_empty());
    let events = &mut run.events;
    run.engine
        .tick(Timestamp(run.ts + 2_500_000_000), &mut |e| events.push(e));
    assert_eq!(story(&run), ["handshake #1"]);
    assert_eq!(run.handshake_codes(), ["accept_mismatch"]);
    // Its record went out without an ending: the connection's own record follows, as
    // before, when the connection ends.
    run.feed(&packet(true, 40_003, s.client, "FA", b""));
    run.feed(&packet(false, 40_003, s.server, "FA", b""));
    run.finish();
    assert_eq!(story(&run), ["handshake #1", "connection of #1"]);
}

#[test]
fn a_good_handshake_is_never_held() {
    let mut run = Run::new(EngineConfig::default());
    handshake(&mut run, 40_004, GOOD_101);
    assert_eq!(story(&run), ["handshake #1"]);
    assert_eq!(run.handshake_codes(), Vec::<String>::new());
}
