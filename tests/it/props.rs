//! Property tests: reassembly and the handshake verdict do not depend on how the bytes were
//! cut into segments, in what order they came, or how often.

use proptest::prelude::*;
use wssniff::capture::{Linktype, Packet, Timestamp};
use wssniff::engine::{Engine, EngineConfig};
use wssniff::event::Event;
use wssniff::tcp::reassembly::{Stream, StreamLimits};

use crate::packet::{v4, Link, Tcp};

/// Cut points → (offset, len) segments covering `0..len`.
fn cover(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % len.max(1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1] - w[0])).collect()
}

/// Pushes segments (offset, len) of `data` and returns everything delivered in order.
fn reassemble(data: &[u8], isn: u32, segs: &[(usize, usize)]) -> Vec<u8> {
    let mut s = Stream::new(StreamLimits::default());
    s.syn(isn);
    let mut out = Vec::new();
    for (i, &(off, len)) in segs.iter().enumerate() {
        let seq = isn.wrapping_add(1).wrapping_add(off as u32);
        s.push(
            seq,
            &data[off..off + len],
            i as u64 + 1,
            Timestamp(i as i64),
        );
        out.extend_from_slice(s.data());
        s.consume(s.data().len() as u64);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn reassembly_is_independent_of_segmentation_order_duplication_and_overlap(
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        extra in proptest::collection::vec((any::<usize>(), 1usize..600), 0..40),
        order in proptest::collection::vec(any::<u32>(), 0..120),
        isn in any::<u32>(),
    ) {
        let len = data.len();
        let mut segs = cover(len, &cuts);
        // Duplicates and overlapping copies of the same bytes (agreeing ones).
        for (start, n) in extra {
            let start = start % len;
            segs.push((start, n.min(len - start)));
        }
        // Reorder: a permutation driven by `order` (Fisher-Yates with the given draws).
        for (i, r) in order.iter().enumerate() {
            let a = i % segs.len();
            let b = (*r as usize) % segs.len();
            segs.swap(a, b);
        }
        prop_assert_eq!(reassemble(&data, isn, &segs), data);
    }
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Three responses with different verdicts: ok, failed (bad accept), failed (403).
const RESPONSES: [&[u8]; 3] = [
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!",
];

/// Runs one connection through the engine with each direction cut at `cuts` and the
/// request's segments sent in `order`; returns (verdict, finding codes) of its handshake.
fn verdict(
    response: &[u8],
    req_cuts: &[usize],
    resp_cuts: &[usize],
    order: &[u32],
) -> (String, Vec<String>) {
    let mut engine = Engine::new(EngineConfig::default());
    let mut events = Vec::new();
    let mut n = 0u64;
    let mut feed = |engine: &mut Engine, c2s: bool, seq: u32, flags: &str, payload: &[u8]| {
        let (client, server) = (v4([10, 0, 0, 1], 40_000), v4([10, 0, 0, 2], 80));
        let (src, dst) = if c2s {
            (client, server)
        } else {
            (server, client)
        };
        let bytes = Tcp::new(src, dst, seq, 0, flags, payload).build(Link::Ip);
        n += 1;
        let packet = Packet {
            number: n,
            ts: Timestamp(1_000_000 * n as i64),
            linktype: Linktype::IPV4,
            data: &bytes,
            orig_len: bytes.len() as u32,
        };
        engine.process(&packet, &mut |e| events.push(e));
    };
    feed(&mut engine, true, 100, "S", b"");
    feed(&mut engine, false, 900, "SA", b"");
    let mut req = cover(REQUEST.len(), req_cuts);
    // Reorder the request's segments (the capture sees them out of order).
    for (i, r) in order.iter().enumerate() {
        let a = i % req.len();
        let b = (*r as usize) % req.len();
        req.swap(a, b);
    }
    for (off, len) in req {
        feed(
            &mut engine,
            true,
            101 + off as u32,
            "A",
            &REQUEST[off..off + len],
        );
    }
    for (off, len) in cover(response.len(), resp_cuts) {
        feed(
            &mut engine,
            false,
            901 + off as u32,
            "A",
            &response[off..off + len],
        );
    }
    engine.finish(&mut |e| events.push(e));
    let hs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Handshake(h) => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(hs.len(), 1);
    let mut codes: Vec<String> = hs[0]
        .findings
        .iter()
        .map(|f| f.code.as_str().to_owned())
        .collect();
    codes.sort();
    (format!("{:?}", hs[0].verdict), codes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn handshake_verdict_is_independent_of_segmentation(
        which in 0usize..3,
        req_cuts in proptest::collection::vec(any::<usize>(), 0..30),
        resp_cuts in proptest::collection::vec(any::<usize>(), 0..30),
        order in proptest::collection::vec(any::<u32>(), 0..30),
    ) {
        let response = RESPONSES[which];
        let whole = verdict(response, &[], &[], &[]);
        let cut = verdict(response, &req_cuts, &resp_cuts, &order);
        prop_assert_eq!(cut, whole);
    }
}

#[test]
fn the_three_reference_verdicts_differ() {
    // Guards the property above against comparing three identical answers.
    let v: Vec<String> = RESPONSES
        .iter()
        .map(|r| verdict(r, &[], &[], &[]).0)
        .collect();
    assert_eq!(v, ["Ok", "Failed", "Failed"]);
    assert_ne!(
        verdict(RESPONSES[1], &[], &[], &[]).1,
        verdict(RESPONSES[2], &[], &[], &[]).1
    );
}
