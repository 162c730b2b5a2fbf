//! Session unit tests: hand-crafted frames only for violations real libraries refuse to send.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// One frame: first byte `b0` (FIN/RSV/opcode), payload, masked with KEY when `masked`.
fn frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut p = payload.to_vec();
    if masked {
        out.extend_from_slice(&KEY);
        unmask(&mut p, KEY, 0);
    }
    out.extend_from_slice(&p);
    out
}

fn client(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, true)
}

fn server(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, false)
}

/// Feeds `bytes` to `peer`'s walker the way the exchange layer does.
fn feed(s: &mut Session, peer: Peer, bytes: &[u8]) {
    let mut buf = bytes.to_vec();
    while !buf.is_empty() {
        match s.step(peer, &buf, &|_| None) {
            Step::Consume(n) => {
                let n = usize::try_from(n).unwrap().min(buf.len());
                buf.drain(..n);
            }
            Step::NeedMore | Step::Stop => break,
        }
    }
}

fn end(s: Session) -> ConnectionRecord {
    s.finish(
        TcpEnd {
            ending: Ending::ServerFin,
            at: Timestamp(0),
            rst: false,
        },
        Some(Peer::Server),
    )
}

fn codes(r: &ConnectionRecord) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

fn plain() -> Session {
    Session::new(Timestamp(0), None, 1 << 20)
}

fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A clean exchange with both close frames, to compare violations against.
fn clean_close(s: &mut Session) {
    feed(s, Peer::Client, &client(0x88, &close(1000, "bye")));
    feed(s, Peer::Server, &server(0x88, &close(1000, "bye")));
}

#[test]
fn clean_session_has_no_findings() {
    let mut s = plain();
    feed(&mut s, Peer::Client, &client(0x81, b"hello"));
    feed(&mut s, Peer::Server, &server(0x81, b"hello"));
    clean_close(&mut s);
    let r = end(s);
    assert!(r.findings.is_empty(), "{:?}", codes(&r));
    assert_eq!(r.ending, ConnectionEnding::Clean);
    assert_eq!(r.client_to_server.preview.as_deref(), Some("hello"));
    assert_eq!(r.close.initiator, Some(Peer::Client));
}

#[test]
fn masking_rules_per_direction() {
    let mut s = plain();
    feed(&mut s, Peer::Client, &server(0x81, b"hi"));
    feed(&mut s, Peer::Server, &client(0x81, b"hi"));
    clean_close(&mut s);
    let c = codes(&end(s));
    assert!(
        c.contains(&"frame_client_unmasked") && c.contains(&"frame_server_masked"),
        "{c:?}"
    );
}

#[test]
fn rsv1_without_deflate_and_rsv2_always() {
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0xc1, b"x"));
    clean_close(&mut s);
    assert!(codes(&end(s)).contains(&"frame_rsv_unnegotiated"));
    let deflate = DeflateParams {
        client_max_window_bits: 15,
        server_max_window_bits: 15,
        ..DeflateParams::default()
    };
    let mut s = Session::new(Timestamp(0), Some(deflate), 1 << 20);
    // RSV1 on a ping is invalid even with permessage-deflate (RFC 7692 §6).
    feed(&mut s, Peer::Server, &server(0xc9, b""));
    feed(&mut s, Peer::Server, &server(0xa2, b"x"));
    clean_close(&mut s);
    let r = end(s);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::FrameRsvUnnegotiated)
        .unwrap();
    assert!(
        f.message.contains("2 times") || f.message.contains("RSV1 on a ping"),
        "{}",
        f.message
    );
}

#[test]
fn control_frames_must_be_short_and_whole() {
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x89, &[b'p'; 126]));
    feed(&mut s, Peer::Server, &server(0x09, b"frag"));
    clean_close(&mut s);
    let r = end(s);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::FrameControlInvalid)
        .unwrap();
    assert!(f.message.contains("2 times"), "{}", f.message);
}

#[test]
fn reserved_opcode_and_bad_continuations() {
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x83, b"?"));
    feed(&mut s, Peer::Server, &server(0x80, b"orphan"));
    feed(&mut s, Peer::Server, &server(0x01, b"part"));
    feed(&mut s, Peer::Server, &server(0x81, b"new"));
    clean_close(&mut s);
    let r = end(s);
    let c = codes(&r);
    assert!(c.contains(&"frame_opcode_unknown"), "{c:?}");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::FrameContinuationUnexpected)
        .unwrap();
    assert!(f.message.contains("2 times"));
}

#[test]
fn control_frame_between_fragments_is_legal() {
    let mut s = plain();
    feed(&mut s, Peer::Client, &client(0x01, b"hel"));
    feed(&mut s, Peer::Client, &client(0x89, b""));
    feed(&mut s, Peer::Client, &client(0x80, b"lo"));
    clean_close(&mut s);
    let r = end(s);
    assert!(r.findings.is_empty(), "{:?}", codes(&r));
    assert_eq!(r.client_to_server.fragmented_messages, 1);
    assert_eq!(r.client_to_server.text_bytes, 5);
}

#[test]
fn data_after_close() {
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x88, &close(1001, "")));
    feed(&mut s, Peer::Server, &server(0x81, b"late"));
    feed(&mut s, Peer::Client, &client(0x88, &close(1001, "")));
    assert!(codes(&end(s)).contains(&"frame_after_close"));
}

#[test]
fn invalid_utf8_even_split_across_frames() {
    // "é" is C3 A9: split across two frames it is still valid...
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x01, b"caf\xc3"));
    feed(&mut s, Peer::Server, &server(0x80, b"\xa9"));
    clean_close(&mut s);
    assert!(end(s).findings.is_empty());
    // ...and a lone continuation byte, or a truncated sequence at the end, is not.
    for bad in [&b"ab\xa9cd"[..], b"end\xc3"] {
        let mut s = plain();
        feed(&mut s, Peer::Server, &server(0x81, bad));
        clean_close(&mut s);
        assert_eq!(codes(&end(s)), ["text_invalid_utf8"], "{bad:?}");
    }
    // Binary is never judged.
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x82, b"\xff\xfe"));
    clean_close(&mut s);
    assert!(end(s).findings.is_empty());
}

#[test]
fn reserved_and_invalid_close_codes() {
    for (code, want) in [
        (1006, "close_code_reserved"),
        (1005, "close_code_reserved"),
        (1015, "close_code_reserved"),
        (999, "close_frame_invalid"),
        (2000, "close_frame_invalid"),
    ] {
        let mut s = plain();
        feed(&mut s, Peer::Server, &server(0x88, &close(code, "")));
        feed(&mut s, Peer::Client, &client(0x88, &close(1000, "")));
        assert!(codes(&end(s)).contains(&want), "{code}");
    }
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x88, &[0x03]));
    feed(&mut s, Peer::Client, &client(0x88, &[]));
    assert!(codes(&end(s)).contains(&"close_frame_invalid"));
}

#[test]
fn max_payload_and_length_rules() {
    let mut s = Session::new(Timestamp(0), None, 100);
    feed(&mut s, Peer::Server, &server(0x82, &[0u8; 101]));
    feed(
        &mut s,
        Peer::Server,
        &[0x82, 0x7e, 0x00, 0x05, 1, 2, 3, 4, 5],
    );
    clean_close(&mut s);
    let c = codes(&end(s));
    assert!(
        c.contains(&"frame_too_large") && c.contains(&"frame_length_invalid"),
        "{c:?}"
    );
    let mut s = plain();
    feed(
        &mut s,
        Peer::Server,
        &[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0],
    );
    let r = end(s);
    assert!(r.server_to_client.decoding_stopped);
    assert!(codes(&r).contains(&"frame_length_invalid"));
}

#[test]
fn skipped_payloads_are_counted_without_being_read() {
    // A 1 MiB binary frame: the walker consumes it in one step past the header.
    let mut s = plain();
    let header = [0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 0];
    feed(&mut s, Peer::Server, &server(0x82, b"first")); // takes the preview
    assert_eq!(
        s.step(Peer::Server, &header, &|_| None),
        Step::Consume(10 + (1 << 20))
    );
    let r = end(s);
    assert_eq!(r.server_to_client.binary_bytes, 5 + (1 << 20));
    assert_eq!(
        r.server_to_client.preview.as_deref(),
        Some("66 69 72 73 74")
    );
}

#[test]
fn deflate_messages_are_inflated_with_context_takeover() {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::default(), false);
    let mut deflate = |text: &[u8]| {
        let mut out = vec![0u8; 256];
        let before = c.total_out();
        c.compress(text, &mut out, FlushCompress::Sync).unwrap();
        out.truncate(usize::try_from(c.total_out() - before).unwrap());
        // RFC 7692 §7.2.1: drop the 00 00 ff ff tail.
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    };
    let first = deflate(b"hello hello hello");
    let second = deflate(b"hello hello hello"); // back-references into the first
    let bad = deflate(b"bad \xff text");
    let params = deflate_params(&["permessage-deflate".to_owned()]);
    let mut s = Session::new(Timestamp(0), params, 1 << 20);
    feed(&mut s, Peer::Server, &server(0xc1, &first));
    feed(&mut s, Peer::Server, &server(0xc1, &second));
    feed(&mut s, Peer::Server, &server(0xc1, &bad));
    clean_close(&mut s);
    let r = end(s);
    assert_eq!(
        r.server_to_client.preview.as_deref(),
        Some("hello hello hello")
    );
    assert_eq!(r.server_to_client.compressed_messages, 3);
    assert_eq!(codes(&r), ["text_invalid_utf8"]);
}

#[test]
fn corrupt_deflate_data_is_reported_once() {
    let params = deflate_params(&["permessage-deflate; server_no_context_takeover".to_owned()]);
    assert!(params.unwrap().server_no_context_takeover);
    let mut s = Session::new(Timestamp(0), params, 1 << 20);
    feed(&mut s, Peer::Server, &server(0xc1, &[0xff; 16]));
    feed(&mut s, Peer::Server, &server(0xc1, &[0xff; 16]));
    clean_close(&mut s);
    assert_eq!(codes(&end(s)), ["inflate_failed"]);
}

#[test]
fn endings_without_close_frames() {
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x81, b"x"));
    let r = s.finish(
        TcpEnd {
            ending: Ending::ServerRst,
            at: Timestamp(300_000_000),
            rst: true,
        },
        Some(Peer::Server),
    );
    assert_eq!(r.ending, ConnectionEnding::Rst);
    assert_eq!(codes(&r), ["connection_reset"]);
    let mut s = plain();
    feed(&mut s, Peer::Client, &client(0x88, &close(1000, "")));
    let r = end(s);
    assert_eq!(r.ending, ConnectionEnding::CloseNotAnswered);
    assert_eq!(codes(&r), ["close_not_answered"]);
}

#[test]
fn idle_timeout_needs_a_round_number_of_seconds() {
    assert!(idle_timeout(60.02).unwrap().contains("nginx"));
    assert!(idle_timeout(100.3).unwrap().contains("Cloudflare"));
    assert!(idle_timeout(2.001).unwrap().contains("2 s"));
    assert_eq!(idle_timeout(0.5), None);
    assert_eq!(idle_timeout(37.4), None);
    // A teardown 60 s after the last frame, no close frame: the seed case.
    let mut s = plain();
    feed(&mut s, Peer::Server, &server(0x81, b"x"));
    let r = s.finish(
        TcpEnd {
            ending: Ending::ServerFin,
            at: Timestamp(60_004_000_000),
            rst: false,
        },
        Some(Peer::Server),
    );
    assert_eq!(codes(&r), ["idle_timeout"]);
    assert!((r.max_silence_ms - 60_004.0).abs() < 1.0);
}

#[test]
fn sniffing_accepts_frame_runs_and_rejects_other_protocols() {
    let mut run = Vec::new();
    for _ in 0..3 {
        run.extend(server(0x81, b"tick"));
    }
    assert_eq!(sniff(&run), FrameSniff::WebSocket { masked: false });
    let mut masked = Vec::new();
    for _ in 0..3 {
        masked.extend(client(0x82, b"abc"));
    }
    assert_eq!(sniff(&masked), FrameSniff::WebSocket { masked: true });
    assert_eq!(sniff(&run[..8]), FrameSniff::NeedMore);
    // Mixed masking, TLS, SSH, HTTP and zeros are not WebSocket.
    let mut mixed = server(0x81, b"a");
    mixed.extend(client(0x81, b"b"));
    mixed.extend(server(0x81, b"c"));
    assert_eq!(sniff(&mixed), FrameSniff::No);
    let tls = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    assert_eq!(sniff(&tls), FrameSniff::No);
    assert_eq!(sniff(&[0x17, 0x03, 0x03, 0x00, 0x20]), FrameSniff::No);
    assert_eq!(sniff(b"SSH-2.0-OpenSSH_9.6\r\n"), FrameSniff::No);
    assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), FrameSniff::No);
    assert_eq!(sniff(b"HTTP/1.1 200 OK\r\n"), FrameSniff::No);
    // Zero bytes parse as empty continuation frames: three in a row are not a message.
    assert_eq!(sniff(&[0u8; 64]), FrameSniff::No);
}

#[test]
fn sniffing_pseudo_random_bulk_never_matches() {
    // xorshift bytes standing in for encrypted or compressed bulk data.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hits = 0;
    for _ in 0..20_000 {
        let mut buf = [0u8; 256];
        for b in &mut buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        if matches!(sniff(&buf), FrameSniff::WebSocket { .. }) {
            hits += 1;
        }
    }
    assert_eq!(hits, 0);
}

#[test]
fn utf8_check_keeps_state_across_chunks() {
    let text = "añ€😀".as_bytes();
    for split in 0..text.len() {
        let mut u = Utf8Check::default();
        u.feed(&text[..split]);
        u.feed(&text[split..]);
        assert!(u.valid_at_end(), "split at {split}");
    }
    let mut u = Utf8Check::default();
    u.feed(b"\xf0\x9f");
    assert!(!u.valid_at_end());
}

/// A frame rule's finding cites which side sent the offending frames.
#[test]
fn violations_cite_the_sender() {
    use crate::finding::{Evidence, FrameSender};
    let mut s = plain();
    feed(&mut s, Peer::Client, &server(0x81, b"hi"));
    feed(&mut s, Peer::Server, &client(0x81, b"hi"));
    clean_close(&mut s);
    let r = end(s);
    let cited = |code: &str| {
        r.findings
            .iter()
            .find(|f| f.code.as_str() == code)
            .map(|f| f.evidence.clone())
    };
    assert_eq!(
        cited("frame_client_unmasked"),
        Some(vec![Evidence::Frames {
            sender: FrameSender::Client
        }])
    );
    assert_eq!(
        cited("frame_server_masked"),
        Some(vec![Evidence::Frames {
            sender: FrameSender::Server
        }])
    );
}
