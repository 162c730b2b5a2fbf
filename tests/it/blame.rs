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

/// A close frame sent after the other side tore TCP down answers the teardown: the side that
/// closed first sent no close frame, and it is the one to blame (issue 15). The real case:
/// hypercorn under a rapid reset closes TCP (FIN) with no close frame, the client's Close
/// comes 9 ms after that FIN and the server's kernel resets the socket it had closed. It was
/// `connection_reset` "by the server during the close handshake", as if the server had failed
/// a closing handshake the client opened.
#[test]
fn a_close_frame_after_the_peers_fin_is_no_close_handshake_of_the_peer() {
    let conns =
        crate::util::connections(&crate::util::sample("h2c-hypercorn-rapid-reset.pcap"), &[]);
    let [c] = conns.as_slice() else {
        panic!("one connection: {conns:?}")
    };
    assert_eq!(c["tcp_end"], "server_fin", "{c}");
    assert_eq!(c["close"]["initiator"], "client", "{c}");
    assert!(
        c["close"]["client"]["ts"].as_f64() > c["end_ts"].as_f64(),
        "the client's Close came after the server's FIN: {c}"
    );
    assert_eq!(c["ending"], "fin_without_close", "{c}");
    let found = crate::util::codes(c);
    assert!(
        !found
            .iter()
            .any(|f| f == "connection_reset" || f == "close_not_answered"),
        "{found:?}"
    );
    let missing = c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "close_frame_missing")
        .unwrap_or_else(|| panic!("close_frame_missing: {found:?}"));
    let message = missing["message"].as_str().unwrap();
    assert!(
        message.starts_with("the server closed TCP (FIN) without a close frame")
            && message.contains("the client's close frame came only after that FIN"),
        "{message}"
    );
}

/// The same on HTTP/1.1, hand-built (no real client writes a Close to a connection its peer
/// has closed on demand): the server's FIN, then the client's Close, with and without the
/// server's RST answering it, is the server's teardown without a close frame; a Close sent
/// before the FIN is still a close handshake the server did not answer.
#[test]
fn an_http1_close_frame_after_the_servers_fin_blames_the_server_not_the_handshake() {
    // A masked close frame, code 1000, zero mask key.
    const CLIENT_CLOSE: &[u8] = &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
    let connection = |cport: u16, close_first: bool, rst: bool| {
        let mut run = Run::new(EngineConfig::default());
        let s = handshake(&mut run, cport, GOOD_101);
        run.feed(&packet(true, cport, s.client, "A", CLIENT_TEXT));
        let c = s.client + CLIENT_TEXT.len() as u32;
        if close_first {
            run.feed(&packet(true, cport, c, "A", CLIENT_CLOSE));
            run.feed(&packet(false, cport, s.server, "FA", b""));
        } else {
            run.feed(&packet(false, cport, s.server, "FA", b""));
            run.feed(&packet(true, cport, c, "A", CLIENT_CLOSE));
        }
        if rst {
            run.feed(&packet(false, cport, s.server + 1, "R", b""));
        }
        run.finish();
        let conn = run
            .events
            .iter()
            .find_map(|e| match e {
                Event::Connection(c) => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        let codes: Vec<&str> = conn.findings.iter().map(|f| f.code.as_str()).collect();
        (
            conn.ending,
            codes.join(","),
            conn.findings[0].message.clone(),
        )
    };
    for rst in [false, true] {
        let (ending, codes, message) = connection(40_010 + u16::from(rst), false, rst);
        assert_eq!(ending, ConnectionEnding::FinWithoutClose, "rst {rst}");
        assert_eq!(codes, "close_frame_missing", "rst {rst}");
        assert!(
            message.contains("the server closed TCP (FIN) without a close frame; the client's close frame came only after that FIN"),
            "{message}"
        );
    }
    // The Close before the FIN: the server closed TCP without answering it.
    let (ending, codes, _) = connection(40_012, true, false);
    assert_eq!(ending, ConnectionEnding::CloseNotAnswered);
    assert_eq!(codes, "close_not_answered");
    let (ending, codes, message) = connection(40_013, true, true);
    assert_eq!(ending, ConnectionEnding::Rst);
    assert_eq!(codes, "connection_reset");
    assert!(message.contains("during the close handshake"), "{message}");
}
