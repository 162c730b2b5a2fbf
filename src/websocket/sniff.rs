//! Mid-stream recognition: is a flow whose opening handshake was not captured a run of
//! WebSocket frames?
//!
//! In: the first bytes seen of one direction. Out: a [`FrameSniff`] verdict, and for a
//! session recognised this way, [`plausible`] judges the first header of the other direction
//! (which may start mid-frame). The rules are strict on purpose: a false WebSocket on a TLS,
//! SSH or bulk-data flow would be reported as a stream of protocol violations. Reads only the
//! bytes given; never allocates.

use crate::websocket::frame::{
    close_code_kind, parse_header, unmask, CloseCodeKind, FrameHeader, Opcode,
};
use crate::websocket::rules::MAX_CONTROL_PAYLOAD;
use crate::websocket::utf8::Utf8Check;

/// Frames that must chain without fault before a flow without a visible handshake is taken
/// for WebSocket.
pub const MIN_SNIFF_FRAMES: usize = 3;
/// Largest payload a sniffed frame may declare: a flow of random bytes claims huge lengths.
const MAX_SNIFF_PAYLOAD: u64 = 16 * 1024 * 1024;

/// A header a sane endpoint could send without any extension knowledge.
pub(crate) fn plausible(h: &FrameHeader) -> bool {
    !h.rsv2
        && !h.rsv3
        && !matches!(h.opcode, Opcode::Reserved(_))
        && (!h.opcode.is_control() || (h.fin && h.payload_len <= MAX_CONTROL_PAYLOAD as u64))
        && !h.non_minimal_length
        && h.payload_len <= MAX_SNIFF_PAYLOAD
}

/// What [`sniff`] makes of a flow's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameSniff {
    /// At least [`MIN_SNIFF_FRAMES`] sane frames chain from the first byte; `masked` says
    /// whether they were masked (then this direction is the client's).
    WebSocket {
        /// The frames carry a mask.
        masked: bool,
    },
    /// Not enough bytes to decide.
    NeedMore,
    /// Not a run of WebSocket frames.
    No,
}

/// Decides whether `data`, the first bytes seen of one direction of a flow whose handshake
/// was not captured, is a run of WebSocket frames: every header sane (no RSV2/RSV3, known
/// opcodes, unfragmented control frames of at most 125 bytes, minimal lengths, payloads
/// under 16 MiB), masking the same on every frame, continuation only inside a message, and
/// each frame ending exactly where the next begins. Complete unfragmented text frames must be
/// UTF-8 and close frames must carry a valid code, which random bulk data almost never does.
/// TLS records (`0x14`–`0x17`) and text protocols fail on the first byte.
#[must_use]
pub fn sniff(data: &[u8]) -> FrameSniff {
    sniff_frames(data, MIN_SNIFF_FRAMES, None)
}

/// Whether a direction of a known WebSocket resumes at `data[0]` after the capture lost its
/// place (a snap-length cut, a gap) at a packet boundary: one whole frame that passes the
/// same checks as [`sniff`], masked as its sender must (`masked`: the client's). One frame is
/// enough here because the roles are known and the position is a packet's first byte; if it
/// does not pass, the direction stays unknown rather than guessed.
#[must_use]
pub fn resumes(data: &[u8], masked: bool) -> FrameSniff {
    sniff_frames(data, 1, Some(masked))
}

fn sniff_frames(data: &[u8], min_frames: usize, want_masked: Option<bool>) -> FrameSniff {
    let mut at = 0usize;
    let mut frames = 0usize;
    let mut masked = want_masked;
    let mut in_message = false;
    let mut starts = 0usize;
    loop {
        let rest = data.get(at..).unwrap_or_default();
        let h = match parse_header(rest) {
            Err(_) => return FrameSniff::No,
            Ok(None) => return FrameSniff::NeedMore,
            Ok(Some(h)) => h,
        };
        if !plausible(&h) || *masked.get_or_insert(h.mask.is_some()) != h.mask.is_some() {
            return FrameSniff::No;
        }
        let data_frame = matches!(
            h.opcode,
            Opcode::Text | Opcode::Binary | Opcode::Continuation
        );
        // RSV1 only on a message's first frame (the one extension that uses it), and no
        // sender emits an empty non-final fragment.
        let rsv1_ok = !h.rsv1 || matches!(h.opcode, Opcode::Text | Opcode::Binary);
        if !rsv1_ok || (data_frame && !h.fin && h.payload_len == 0) {
            return FrameSniff::No;
        }
        match h.opcode {
            Opcode::Continuation if !in_message && frames > 0 => return FrameSniff::No,
            Opcode::Text | Opcode::Binary if in_message => return FrameSniff::No,
            Opcode::Text | Opcode::Binary | Opcode::Continuation => in_message = !h.fin,
            _ => {}
        }
        if h.opcode != Opcode::Continuation {
            starts += 1;
        }
        let len = usize::try_from(h.frame_len()).unwrap_or(usize::MAX);
        if rest.len() < len {
            return FrameSniff::NeedMore;
        }
        let payload = rest.get(h.header_len..len).unwrap_or_default();
        if !sniffed_payload_ok(&h, payload) {
            return FrameSniff::No;
        }
        at = at.saturating_add(len);
        frames += 1;
        // Resuming on one frame: it must end where the captured bytes end (senders write
        // a frame per send), or be followed by more frames.
        let resume_ok = want_masked.is_none() || at == data.len() || frames > min_frames;
        if frames >= min_frames && starts > 0 && resume_ok {
            return FrameSniff::WebSocket {
                masked: masked.unwrap_or(false),
            };
        }
    }
}

/// Content rules a sniffed frame must keep: UTF-8 in a whole uncompressed text message, a
/// valid code in a close frame.
fn sniffed_payload_ok(h: &FrameHeader, payload: &[u8]) -> bool {
    let whole_text = h.opcode == Opcode::Text && h.fin && !h.rsv1;
    if !whole_text && h.opcode != Opcode::Close {
        return true;
    }
    let mut utf8 = Utf8Check::default();
    let mut scratch = [0u8; 4096];
    let mut head = [0u8; 2];
    let mut done = 0u64;
    for piece in payload.chunks(scratch.len()) {
        let Some(buf) = scratch.get_mut(..piece.len()) else {
            return false;
        };
        buf.copy_from_slice(piece);
        if let Some(key) = h.mask {
            unmask(buf, key, done);
        }
        if done == 0 {
            for (d, s) in head.iter_mut().zip(buf.iter()) {
                *d = *s;
            }
        }
        let text = if h.opcode == Opcode::Close && done == 0 {
            buf.get(2..).unwrap_or_default()
        } else {
            buf
        };
        utf8.feed(text);
        done += piece.len() as u64;
    }
    if h.opcode == Opcode::Close {
        return match payload.len() {
            0 => true,
            1 => false,
            _ => {
                matches!(
                    close_code_kind(u16::from_be_bytes(head)),
                    CloseCodeKind::Normal | CloseCodeKind::Error | CloseCodeKind::Application
                ) && utf8.valid_at_end()
            }
        };
    }
    utf8.valid_at_end()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::websocket::testing::{client, close, server};

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
    fn payload_rules_judge_text_and_close_frames() {
        let run = |last: Vec<u8>| {
            let mut r = server(0x81, b"one");
            r.extend(server(0x82, b"\xff\xfe"));
            r.extend(last);
            sniff(&r)
        };
        assert_eq!(
            run(server(0x88, &close(1000, "bye"))),
            FrameSniff::WebSocket { masked: false }
        );
        // Invalid UTF-8 in a whole text frame, a reserved close code, a 1-byte close body.
        assert_eq!(run(server(0x81, b"\xc3(")), FrameSniff::No);
        assert_eq!(run(server(0x88, &close(1005, ""))), FrameSniff::No);
        assert_eq!(run(server(0x88, &[0x03])), FrameSniff::No);
        // A compressed text frame is not judged: its bytes are deflate, not UTF-8.
        assert_eq!(
            run(server(0xc1, b"\xc3(")),
            FrameSniff::WebSocket { masked: false }
        );
    }

    #[test]
    fn fragment_order_is_enforced() {
        // Text (no FIN), continuation (FIN), then a new message: fine.
        let mut ok = server(0x01, b"a");
        ok.extend(server(0x80, b"b"));
        ok.extend(server(0x81, b"c"));
        assert_eq!(sniff(&ok), FrameSniff::WebSocket { masked: false });
        // A new message inside a fragmented one, and RSV1 on a continuation.
        let mut nested = server(0x01, b"a");
        nested.extend(server(0x81, b"b"));
        assert_eq!(sniff(&nested), FrameSniff::No);
        let mut rsv1 = server(0x01, b"a");
        rsv1.extend(server(0xc0, b"b"));
        assert_eq!(sniff(&rsv1), FrameSniff::No);
    }

    #[test]
    fn plausible_headers_need_no_extension_knowledge() {
        let h = |bytes: &[u8]| parse_header(bytes).unwrap().unwrap();
        assert!(plausible(&h(&[0x81, 0x05])));
        assert!(plausible(&h(&[0xc1, 0x05])), "RSV1 alone may be deflate");
        assert!(!plausible(&h(&[0xa1, 0x05])), "RSV2");
        assert!(!plausible(&h(&[0x83, 0x00])), "reserved opcode");
        assert!(!plausible(&h(&[0x09, 0x00])), "fragmented ping");
        assert!(!plausible(&h(&[0x89, 0x7e, 0x00, 0x7e])), "126-byte ping");
        assert!(
            !plausible(&h(&[0x82, 0x7e, 0x00, 0x05])),
            "non-minimal length"
        );
        assert!(
            !plausible(&h(&[0x82, 0x7f, 0, 0, 0, 0, 0x01, 0, 0, 1])),
            "over 16 MiB"
        );
    }
}
