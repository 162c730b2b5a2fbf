//! One data message being assembled from its frames (RFC 6455 §5.4), as far as anything
//! needs its bytes: the UTF-8 check of text, the preview of a direction's first message, and
//! the content hook's copy when an observer asked for it.
//!
//! In: the message's plain bytes (unmasked, inflated) in order, and its frame lengths. Out:
//! whether the walker must still read payloads, the UTF-8 verdict, the preview text and the
//! captured content. A message keeps no payload beyond the [`PREVIEW_BYTES`] preview and, for
//! an observer, its byte cap; everything else is looked at in passing.

use crate::capture::Timestamp;
use crate::websocket::content::Completeness;
use crate::websocket::utf8::Utf8Check;

/// Text bytes of one message checked for UTF-8; the rest of a longer message is not checked.
pub const MAX_UTF8_CHECK: u64 = 1024 * 1024;
/// Bytes of the first data message kept as the preview.
pub const PREVIEW_BYTES: usize = 48;

/// A data message between its first frame and its last.
#[derive(Debug)]
pub(crate) struct Message {
    /// Text (else binary).
    pub(crate) text: bool,
    /// RSV1 under negotiated permessage-deflate.
    pub(crate) compressed: bool,
    /// Payload bytes on the wire so far (compressed size when compressed).
    pub(crate) len: u64,
    /// Frames so far.
    pub(crate) frames: u64,
    /// Packet of the first frame's header.
    pub(crate) first_packet: u64,
    /// `None` when not checked (binary, too long, compressed without an inflater, …).
    pub(crate) utf8: Option<Utf8Check>,
    /// Inflated bytes so far.
    pub(crate) inflated: u64,
    /// The preview being filled, for a direction's first message.
    pub(crate) preview: Option<Vec<u8>>,
    /// The copy for a content observer, when one wants this message.
    pub(crate) capture: Option<Capture>,
}

/// A message's plain bytes kept for a content observer, up to a cap.
#[derive(Debug)]
pub(crate) struct Capture {
    /// The bytes so far, at most `limit`.
    pub(crate) bytes: Vec<u8>,
    limit: usize,
    /// The plain bytes cannot be known (see [`Completeness::Undecoded`]).
    undecoded: bool,
    /// Capture time of the first frame's header.
    pub(crate) ts: Timestamp,
    /// Where the last byte read came from.
    pub(crate) last_packet: u64,
    /// Capture time of the packet that carried the last byte read.
    pub(crate) end_ts: Timestamp,
}

impl Capture {
    /// A capture of at most `limit` bytes, for a message whose first header came in `packet`
    /// at `ts`.
    pub(crate) fn new(limit: usize, packet: u64, ts: Timestamp) -> Self {
        Capture {
            bytes: Vec::new(),
            limit,
            undecoded: false,
            ts,
            last_packet: packet,
            end_ts: ts,
        }
    }

    fn room(&self) -> usize {
        self.limit.saturating_sub(self.bytes.len())
    }
}

impl Message {
    /// A message starting at a Text or Binary frame from `packet`. `checkable`: its plain
    /// bytes can be known (not compressed, or compressed with a live inflater); `first`: the
    /// direction has no preview yet; `capture`: a content observer wants a copy.
    pub(crate) fn new(
        text: bool,
        compressed: bool,
        checkable: bool,
        first: bool,
        packet: u64,
        capture: Option<Capture>,
    ) -> Self {
        Message {
            text,
            compressed,
            len: 0,
            frames: 0,
            first_packet: packet,
            utf8: (text && checkable).then(Utf8Check::default),
            inflated: 0,
            preview: (first && checkable).then(Vec::new),
            capture: capture.map(|c| Capture {
                undecoded: !checkable,
                ..c
            }),
        }
    }

    /// Whether anything still needs this message's plain bytes (with a live inflater, a
    /// compressed message always does: context takeover needs every byte).
    pub(crate) fn wants_payload(&self, inflater_alive: bool) -> bool {
        (self.compressed && inflater_alive)
            || self.utf8.is_some()
            || self
                .preview
                .as_ref()
                .is_some_and(|p| p.len() < PREVIEW_BYTES)
            || self
                .capture
                .as_ref()
                .is_some_and(|c| !c.undecoded && c.room() > 0)
    }

    /// Feeds plain (unmasked, inflated) message bytes to the UTF-8 check and the preview.
    pub(crate) fn plain(&mut self, bytes: &[u8]) {
        if let Some(u) = self.utf8.as_mut() {
            let checked = if self.compressed {
                self.inflated
            } else {
                self.len
            };
            if checked > MAX_UTF8_CHECK {
                self.utf8 = None;
            } else {
                u.feed(bytes);
            }
        }
        if let Some(p) = self.preview.as_mut() {
            let room = PREVIEW_BYTES.saturating_sub(p.len());
            p.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
        if let Some(c) = self.capture.as_mut() {
            let room = c.room();
            c.bytes
                .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
    }

    /// The plain bytes can no longer be known (the inflater failed or is gone).
    pub(crate) fn undecodable(&mut self) {
        self.utf8 = None;
        if let Some(c) = self.capture.as_mut() {
            c.undecoded = true;
        }
    }

    /// A frame of this message ended; its last byte read came from `packet` at `ts`.
    pub(crate) fn frame_read_to(&mut self, packet: u64, ts: Timestamp) {
        if let Some(c) = self.capture.as_mut() {
            c.last_packet = packet;
            c.end_ts = ts;
        }
    }

    /// Whether the captured bytes are the whole message, `ended` saying whether its last
    /// frame arrived.
    pub(crate) fn completeness(&self, ended: bool) -> Completeness {
        let Some(c) = &self.capture else {
            return Completeness::Unfinished;
        };
        let plain = if self.compressed {
            self.inflated
        } else {
            self.len
        };
        if c.undecoded {
            Completeness::Undecoded
        } else if !ended {
            Completeness::Unfinished
        } else if (c.bytes.len() as u64) < plain {
            Completeness::Truncated
        } else {
            Completeness::Complete
        }
    }

    /// Bytes held for the content observer (memory accounting).
    pub(crate) fn memory(&self) -> usize {
        self.capture.as_ref().map_or(0, |c| c.bytes.capacity())
    }

    /// The UTF-8 verdict: `Some(false)` for a text message found invalid.
    pub(crate) fn utf8_valid(&self) -> Option<bool> {
        self.utf8.map(|u| u.valid_at_end())
    }
}

/// The preview shown for a message: text up to the last whole character, binary as hex.
pub(crate) fn preview_text(bytes: &[u8], text: bool) -> String {
    if text {
        // The preview may end inside a character: cut there rather than show U+FFFD.
        let valid = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        };
        valid.to_owned()
    } else {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Peer;
    use crate::websocket::testing::{clean_close, codes, end, feed, plain, server};

    #[test]
    fn the_preview_stops_at_its_size_and_at_a_whole_character() {
        let mut m = Message::new(true, false, true, true, 1, None);
        m.plain("x".repeat(41).as_bytes());
        assert!(m.wants_payload(false));
        m.plain("ééééé".as_bytes()); // 7 bytes of room: the preview ends inside the fourth é
        let p = m.preview.clone().unwrap_or_default();
        assert_eq!(p.len(), PREVIEW_BYTES);
        assert_eq!(preview_text(&p, true), format!("{}ééé", "x".repeat(41)));
        assert_eq!(preview_text(&[1, 0xab], false), "01 ab");
    }

    #[test]
    fn a_binary_message_with_a_full_preview_needs_no_more_bytes() {
        let mut m = Message::new(false, false, true, true, 1, None);
        assert!(m.utf8.is_none());
        assert!(m.wants_payload(false));
        m.plain(&[0u8; PREVIEW_BYTES]);
        assert!(!m.wants_payload(false));
        // A compressed one does while its inflater lives.
        let m = Message::new(false, true, true, false, 1, None);
        assert!(m.wants_payload(true) && !m.wants_payload(false));
    }

    #[test]
    fn text_past_the_check_limit_is_not_judged() {
        let mut m = Message::new(true, false, true, false, 1, None);
        m.len = MAX_UTF8_CHECK + 1;
        m.plain(b"\xff");
        assert_eq!(m.utf8_valid(), None);
        let mut m = Message::new(true, false, true, false, 1, None);
        m.plain(b"\xff");
        assert_eq!(m.utf8_valid(), Some(false));
        m.undecodable();
        assert_eq!(m.utf8_valid(), None);
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
}
