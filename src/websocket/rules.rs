//! The RFC 6455 rules a frame sequence must keep (§5 framing, §5.5 control frames, §7.4
//! close codes, §8.1 UTF-8; RFC 7692 §6 for RSV1), and the bounded collector their
//! violations go to.
//!
//! In: one decoded header (or close body, or message verdict) with what the session knows
//! about its context. Out: entries in [`Violations`], one per (code, peer) with a count and
//! at most [`MAX_EVIDENCE_PACKETS`] packet numbers, so a flood of bad frames costs no memory.
//! The wording of each finding lives here, next to the rule it cites. Holds no connection
//! state and never decides what the walker does next.

use crate::event::Peer;
use crate::finding::{Code, Evidence, Finding, FrameSender};
use crate::websocket::frame::{
    close_code_kind, close_code_meaning, CloseBody, CloseCodeKind, FrameHeader, Opcode,
};

/// Longest control payload (RFC 6455 §5.5); longer ones are kept only this far.
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;
/// Evidence packet numbers kept per finding.
pub(crate) const MAX_EVIDENCE_PACKETS: usize = 4;

/// The finding vocabulary's name for the end that sent a frame.
pub(crate) fn sender(peer: Peer) -> FrameSender {
    match peer {
        Peer::Client => FrameSender::Client,
        Peer::Server => FrameSender::Server,
    }
}

#[derive(Debug)]
struct Violation {
    code: Code,
    peer: Peer,
    count: u64,
    message: String,
    packets: Vec<u64>,
}

/// Violations seen on one connection, one entry per (code, peer): bounded by the size of
/// the catalogue whatever the traffic.
#[derive(Debug, Default)]
pub(crate) struct Violations {
    list: Vec<Violation>,
}

impl Violations {
    /// Records one occurrence; the message is built only for the first.
    pub(crate) fn record(
        &mut self,
        code: Code,
        peer: Peer,
        packet: u64,
        message: impl FnOnce() -> String,
    ) {
        if let Some(v) = self
            .list
            .iter_mut()
            .find(|v| v.code == code && v.peer == peer)
        {
            v.count += 1;
            if v.packets.len() < MAX_EVIDENCE_PACKETS {
                v.packets.push(packet);
            }
            return;
        }
        self.list.push(Violation {
            code,
            peer,
            count: 1,
            message: message(),
            packets: vec![packet],
        });
    }

    /// The findings, in the order first seen, each citing the frames of the side that sent
    /// them; repeated ones say how many times.
    pub(crate) fn into_findings(self) -> impl Iterator<Item = Finding> {
        self.list.into_iter().map(|v| {
            let message = if v.count > 1 {
                format!("{} ({} times)", v.message, v.count)
            } else {
                v.message
            };
            Finding::new(v.code, message)
                .packets(&v.packets)
                .evidence(Evidence::Frames {
                    sender: sender(v.peer),
                })
        })
    }
}

/// What a header is judged against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderContext {
    /// Who sent the frame.
    pub(crate) peer: Peer,
    /// The opening handshake was captured (extensions are known).
    pub(crate) observed: bool,
    /// permessage-deflate was negotiated.
    pub(crate) deflate: bool,
    /// `--max-payload`.
    pub(crate) max_payload: u64,
    /// This peer already sent a close frame.
    pub(crate) close_sent: bool,
}

/// Judges one header by itself (§5.1–§5.5, RFC 7692 §6), from `packet`.
pub(crate) fn check_header(h: &FrameHeader, cx: &HeaderContext, packet: u64, v: &mut Violations) {
    let peer = cx.peer;
    let p = peer.as_str();
    // RFC 6455 §5.1/§5.3: client frames MUST be masked, server frames MUST NOT be.
    match (peer, h.mask.is_some()) {
        (Peer::Client, false) => v.record(Code::FrameClientUnmasked, peer, packet, || {
            "the client sent a frame without a mask (RFC 6455 §5.1: the server must close with 1002)".to_owned()
        }),
        (Peer::Server, true) => v.record(Code::FrameServerMasked, peer, packet, || {
            "the server sent a masked frame (RFC 6455 §5.1: the client must close the connection)".to_owned()
        }),
        _ => {}
    }
    // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them; RFC 7692 §6
    // gives RSV1 to permessage-deflate, on the first frame of a data message only.
    let rsv1_ok = cx.deflate && matches!(h.opcode, Opcode::Text | Opcode::Binary);
    if h.rsv2 || h.rsv3 || (h.rsv1 && !rsv1_ok && cx.observed) {
        let why = if h.rsv2 || h.rsv3 {
            "RSV2/RSV3, which no negotiated extension defines".to_owned()
        } else if !cx.deflate {
            "RSV1 although permessage-deflate was not negotiated".to_owned()
        } else {
            format!(
                "RSV1 on a {} frame (RFC 7692 §6: only the first frame of a data message)",
                h.opcode.name()
            )
        };
        v.record(Code::FrameRsvUnnegotiated, peer, packet, || {
            format!("the {p} set {why}")
        });
    }
    if let Opcode::Reserved(op) = h.opcode {
        v.record(Code::FrameOpcodeUnknown, peer, packet, || {
            format!("the {p} sent reserved opcode 0x{op:x} (RFC 6455 §5.2)")
        });
    }
    if h.non_minimal_length {
        v.record(Code::FrameLengthInvalid, peer, packet, || {
            format!("the {p} encoded a {}-byte payload length in more bytes than needed (RFC 6455 §5.2: the minimal number of bytes MUST be used)", h.payload_len)
        });
    }
    if h.opcode.is_control() && (h.payload_len > MAX_CONTROL_PAYLOAD as u64 || !h.fin) {
        let why = if h.fin {
            format!("{} bytes long (at most 125)", h.payload_len)
        } else {
            "fragmented (FIN not set)".to_owned()
        };
        v.record(Code::FrameControlInvalid, peer, packet, || {
            format!(
                "the {p} sent a {} frame {why} (RFC 6455 §5.5)",
                h.opcode.name()
            )
        });
    }
    let max_payload = cx.max_payload;
    if h.payload_len > max_payload {
        v.record(Code::FrameTooLarge, peer, packet, || {
            format!(
                "the {p} sent a {}-byte frame, over the {max_payload}-byte limit (--max-payload)",
                h.payload_len
            )
        });
    }
    let data_frame = matches!(
        h.opcode,
        Opcode::Text | Opcode::Binary | Opcode::Continuation
    );
    if data_frame && cx.close_sent {
        v.record(Code::FrameAfterClose, peer, packet, || {
            format!(
                "the {p} sent a {} frame after its close frame (RFC 6455 §5.5.1)",
                h.opcode.name()
            )
        });
    }
}

/// A 64-bit length with its most significant bit set (§5.2): the direction cannot be
/// decoded further.
pub(crate) fn length_msb_set(peer: Peer, packet: u64, v: &mut Violations) {
    v.record(Code::FrameLengthInvalid, peer, packet, || {
        format!("the {} sent a 64-bit frame length with its most significant bit set (RFC 6455 §5.2); decoding stopped", peer.as_str())
    });
}

/// §5.4: a continuation frame with no message to continue.
pub(crate) fn orphan_continuation(peer: Peer, packet: u64, v: &mut Violations) {
    let p = peer.as_str();
    v.record(Code::FrameContinuationUnexpected, peer, packet, || {
        format!("the {p} sent a continuation frame with no message to continue (RFC 6455 §5.4)")
    });
}

/// §5.4: a new data message started before the fragmented one ended.
pub(crate) fn message_inside_message(peer: Peer, opcode: Opcode, packet: u64, v: &mut Violations) {
    let p = peer.as_str();
    v.record(Code::FrameContinuationUnexpected, peer, packet, || {
        format!(
            "the {p} started a new {} message inside a fragmented one (RFC 6455 §5.4)",
            opcode.name()
        )
    });
}

/// Judges a close frame's body (§5.5.1) and code (§7.4).
pub(crate) fn check_close(body: &CloseBody, peer: Peer, packet: u64, v: &mut Violations) {
    let p = peer.as_str();
    if body.one_byte {
        v.record(Code::CloseFrameInvalid, peer, packet, || {
            format!("the {p} sent a 1-byte close payload (RFC 6455 §5.5.1: a body starts with a 2-byte code)")
        });
    } else if !body.reason_utf8 {
        v.record(Code::CloseFrameInvalid, peer, packet, || {
            format!("the {p}'s close reason is not valid UTF-8 (RFC 6455 §5.5.1)")
        });
    }
    if let Some(code) = body.code {
        match close_code_kind(code) {
            CloseCodeKind::ReservedLocal => {
                v.record(Code::CloseCodeReserved, peer, packet, || {
                    format!("the {p} sent close code {code} ({}), which MUST NOT be sent (RFC 6455 §7.4.1)", close_code_meaning(code))
                });
            }
            CloseCodeKind::Invalid => {
                v.record(Code::CloseFrameInvalid, peer, packet, || {
                    format!("the {p} sent close code {code}, which is not a valid code to send (RFC 6455 §7.4)")
                });
            }
            _ => {}
        }
    }
}

/// §8.1: a text message that is not UTF-8 must fail the connection (1007).
pub(crate) fn invalid_text(peer: Peer, compressed: bool, packet: u64, v: &mut Violations) {
    let p = peer.as_str();
    let how = if compressed { " (after inflating)" } else { "" };
    v.record(Code::TextInvalidUtf8, peer, packet, || {
        format!("the {p} sent a text message that is not valid UTF-8{how}")
    });
}

/// RFC 7692 §7.2.2: a compressed message that does not inflate.
pub(crate) fn inflate_failed(peer: Peer, packet: u64, v: &mut Violations) {
    let p = peer.as_str();
    v.record(Code::InflateFailed, peer, packet, || {
        format!("a compressed message from the {p} could not be inflated (RFC 7692 §7.2.2); later messages in that direction were not checked")
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::capture::Timestamp;
    use crate::event::DeflateParams;
    use crate::websocket::frame::{parse_close, parse_header};
    use crate::websocket::session::Session;
    use crate::websocket::testing::{clean_close, client, close, codes, end, feed, plain, server};

    fn judged(bytes: &[u8], cx: HeaderContext) -> Vec<&'static str> {
        let h = parse_header(bytes).unwrap().unwrap();
        let mut v = Violations::default();
        check_header(&h, &cx, 7, &mut v);
        v.into_findings().map(|f| f.code.as_str()).collect()
    }

    const SERVER: HeaderContext = HeaderContext {
        peer: Peer::Server,
        observed: true,
        deflate: false,
        max_payload: 1 << 20,
        close_sent: false,
    };

    #[test]
    fn a_clean_header_breaks_no_rule() {
        assert!(judged(&server(0x81, b"hi"), SERVER).is_empty());
        let c = HeaderContext {
            peer: Peer::Client,
            ..SERVER
        };
        assert!(judged(&client(0x82, b"hi"), c).is_empty());
    }

    #[test]
    fn rsv1_is_judged_only_when_the_extensions_are_known() {
        assert_eq!(
            judged(&server(0xc1, b"x"), SERVER),
            ["frame_rsv_unnegotiated"]
        );
        let sniffed = HeaderContext {
            observed: false,
            ..SERVER
        };
        assert!(judged(&server(0xc1, b"x"), sniffed).is_empty());
        // RSV2 is never defined, known extensions or not.
        assert_eq!(
            judged(&server(0xa1, b"x"), sniffed),
            ["frame_rsv_unnegotiated"]
        );
        let deflate = HeaderContext {
            deflate: true,
            ..SERVER
        };
        assert!(judged(&server(0xc1, b"x"), deflate).is_empty());
        assert_eq!(
            judged(&server(0xc0, b"x"), deflate),
            ["frame_rsv_unnegotiated"]
        );
    }

    #[test]
    fn data_after_close_and_oversized_frames() {
        let closed = HeaderContext {
            close_sent: true,
            max_payload: 1,
            ..SERVER
        };
        assert_eq!(
            judged(&server(0x82, b"xy"), closed),
            ["frame_too_large", "frame_after_close"]
        );
        // Control frames after close are not data.
        assert!(judged(&server(0x8a, b""), closed).is_empty());
    }

    #[test]
    fn violations_are_counted_once_per_code_and_peer_with_bounded_evidence() {
        let mut v = Violations::default();
        for packet in 1..=10 {
            orphan_continuation(Peer::Server, packet, &mut v);
        }
        orphan_continuation(Peer::Client, 11, &mut v);
        let f: Vec<Finding> = v.into_findings().collect();
        assert_eq!(f.len(), 2);
        assert!(f[0].message.ends_with("(10 times)"), "{}", f[0].message);
        assert_eq!(f[0].packets, [1, 2, 3, 4]);
        assert!(!f[1].message.contains("times"));
    }

    #[test]
    fn close_bodies_and_codes() {
        let judge = |payload: &[u8]| {
            let mut v = Violations::default();
            check_close(&parse_close(payload), Peer::Server, 1, &mut v);
            v.into_findings()
                .map(|f| f.code.as_str())
                .collect::<Vec<_>>()
        };
        assert!(judge(&close(1000, "bye")).is_empty());
        assert!(judge(&[]).is_empty());
        assert_eq!(judge(&[0x03]), ["close_frame_invalid"]);
        assert_eq!(judge(&[0x03, 0xe8, 0xff]), ["close_frame_invalid"]);
        assert_eq!(judge(&close(1006, "")), ["close_code_reserved"]);
    }

    /// A frame rule's finding cites which side sent the offending frames.
    #[test]
    fn violations_cite_the_sender() {
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
}
