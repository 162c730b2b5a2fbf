//! Traffic crafted to mislead rather than exhaust: overlapping segments that disagree about
//! the bytes, and a 101 replaying another connection's accept value.

use wssniff::engine::EngineConfig;
use wssniff::event::Event;

use crate::traffic::{packet, Run, UPGRADE};

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
