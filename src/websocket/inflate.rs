//! permessage-deflate (RFC 7692) inflation for one direction, within fixed budgets.
//!
//! In: the unmasked payload bytes of compressed messages, then the §7.2.2 tail
//! (`00 00 ff ff`) at each message's end. Out: inflated bytes, in pieces of at most 4 KiB,
//! to a callback (the UTF-8 check, the preview, the content hook); nothing is kept.
//!
//! With context takeover (§7.2.3) every compressed message of a direction must go through
//! the same inflater. Corrupt data drops the inflater and its window (the next compressed
//! message starts a fresh one, which decodes it only if the sender reset its context too); a
//! spent budget ends inflation of the direction for good: [`MAX_INFLATE_PER_MESSAGE`] guards
//! against a bomb in one message, [`MAX_INFLATE_PER_DIRECTION`] bounds time and memory on
//! long compressed connections. The inflater (≈45 KiB with miniz's 32 KiB window) is created
//! on first use. Never reports anything itself: the caller turns a failure into a finding.

use flate2::{Decompress, FlushDecompress, Status};

/// Inflated bytes produced for one message before its check is abandoned (bomb guard).
pub const MAX_INFLATE_PER_MESSAGE: u64 = 1024 * 1024;
/// Inflated bytes per direction before the inflater (≈45 KiB with its 32 KiB window) is
/// dropped for good: bounds both time and memory on long compressed connections.
pub const MAX_INFLATE_PER_DIRECTION: u64 = 16 * 1024 * 1024;
/// Bytes an inflater is counted as holding (memory accounting).
pub(crate) const INFLATER_MEMORY: usize = 48 * 1024;

/// How a call to [`Inflater::inflate`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inflate {
    /// All input was taken; output so far was delivered.
    Done,
    /// No inflater (never created, spent, failed before, or the stream was lost).
    Unavailable,
    /// The data is not valid deflate; the inflater is gone for good.
    Failed,
    /// A budget ran out; the inflater is gone for good.
    OverBudget,
}

/// One direction's inflater and what it may still produce.
#[derive(Debug)]
pub(crate) struct Inflater {
    inner: Option<Box<Decompress>>,
    /// Bytes the direction may still inflate.
    budget: u64,
    /// Bytes inflated for the current message.
    message_out: u64,
}

impl Inflater {
    /// No inflater yet, the whole direction budget left.
    pub(crate) fn new() -> Self {
        Inflater {
            inner: None,
            budget: MAX_INFLATE_PER_DIRECTION,
            message_out: 0,
        }
    }

    /// A compressed message begins: creates the inflater on first use (unless the budget is
    /// spent) and returns whether one is alive to inflate it.
    pub(crate) fn start_message(&mut self) -> bool {
        if self.inner.is_none() && self.budget > 0 {
            // miniz's 32 KiB window inflates any negotiated window size.
            self.inner = Some(Box::new(Decompress::new(false)));
        }
        self.message_out = 0;
        self.inner.is_some()
    }

    /// Whether an inflater is alive.
    pub(crate) fn is_alive(&self) -> bool {
        self.inner.is_some()
    }

    /// The stream lost bytes: the shared window is unknown from here on.
    pub(crate) fn lose(&mut self) {
        self.inner = None;
    }

    /// No context takeover (§7.1.1): the next message starts from an empty window.
    pub(crate) fn reset(&mut self) {
        if let Some(i) = self.inner.as_mut() {
            i.reset(false);
        }
    }

    /// Bytes held, for memory accounting.
    pub(crate) fn memory(&self) -> usize {
        if self.inner.is_some() {
            INFLATER_MEMORY
        } else {
            0
        }
    }

    /// Inflates `input`, a piece of the current message (`tail`: the §7.2.2 tail, flushed),
    /// handing every inflated piece to `out`.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        tail: bool,
        out: &mut dyn FnMut(&[u8]),
    ) -> Inflate {
        let Some(inflater) = self.inner.as_mut() else {
            return Inflate::Unavailable;
        };
        let mut buf = [0u8; 4096];
        let mut input = input;
        let mut end = Inflate::Done;
        let flush = if tail {
            FlushDecompress::Sync
        } else {
            FlushDecompress::None
        };
        // Each round consumes input or produces output; the bound is a safety net.
        for _ in 0..100_000 {
            let before_in = inflater.total_in();
            let before_out = inflater.total_out();
            let status = inflater.decompress(input, &mut buf, flush);
            let used = usize::try_from(inflater.total_in() - before_in).unwrap_or(usize::MAX);
            let made = usize::try_from(inflater.total_out() - before_out).unwrap_or(0);
            input = input.get(used..).unwrap_or_default();
            self.message_out = self.message_out.saturating_add(made as u64);
            self.budget = self.budget.saturating_sub(made as u64);
            out(buf.get(..made).unwrap_or_default());
            if self.message_out > MAX_INFLATE_PER_MESSAGE || self.budget == 0 {
                end = Inflate::OverBudget;
                break;
            }
            match status {
                Err(_) => {
                    end = Inflate::Failed;
                    break;
                }
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    if input.is_empty() && made < buf.len() {
                        break;
                    }
                    if used == 0 && made == 0 {
                        break;
                    }
                }
            }
        }
        match end {
            Inflate::Failed => self.inner = None,
            Inflate::OverBudget => {
                self.inner = None;
                self.budget = 0;
            }
            Inflate::Done | Inflate::Unavailable => {}
        }
        end
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::capture::Timestamp;
    use crate::event::Peer;
    use crate::websocket::extensions::deflate_params;
    use crate::websocket::session::Session;
    use crate::websocket::testing::{clean_close, codes, end, feed, server};
    use flate2::{Compress, Compression, FlushCompress};

    /// A compressor producing RFC 7692 message payloads (sync flush, tail removed).
    struct Deflater(Compress);

    impl Deflater {
        fn new() -> Self {
            Deflater(Compress::new(Compression::default(), false))
        }
        fn message(&mut self, text: &[u8]) -> Vec<u8> {
            let mut out = vec![0u8; text.len() + 64];
            let before = self.0.total_out();
            self.0
                .compress(text, &mut out, FlushCompress::Sync)
                .unwrap();
            out.truncate(usize::try_from(self.0.total_out() - before).unwrap());
            // RFC 7692 §7.2.1: drop the 00 00 ff ff tail.
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            out.truncate(out.len() - 4);
            out
        }
    }

    fn inflate_message(i: &mut Inflater, payload: &[u8]) -> (Vec<u8>, Inflate) {
        let mut got = Vec::new();
        assert!(i.start_message() || !i.is_alive());
        let a = i.inflate(payload, false, &mut |b| got.extend_from_slice(b));
        let b = i.inflate(&[0x00, 0x00, 0xff, 0xff], true, &mut |b| {
            got.extend_from_slice(b)
        });
        (got, if a == Inflate::Done { b } else { a })
    }

    #[test]
    fn messages_share_the_window_with_context_takeover() {
        let mut d = Deflater::new();
        let first = d.message(b"hello hello hello");
        let second = d.message(b"hello hello hello"); // back-references into the first
        let mut i = Inflater::new();
        assert_eq!(
            inflate_message(&mut i, &first),
            (b"hello hello hello".to_vec(), Inflate::Done)
        );
        assert_eq!(
            inflate_message(&mut i, &second),
            (b"hello hello hello".to_vec(), Inflate::Done)
        );
        assert_eq!(i.memory(), INFLATER_MEMORY);
        // A reset window cannot resolve the back-reference.
        let mut i = Inflater::new();
        inflate_message(&mut i, &first);
        i.reset();
        assert_ne!(inflate_message(&mut i, &second).0, b"hello hello hello");
    }

    #[test]
    fn corrupt_data_fails_and_the_inflater_is_gone() {
        let mut i = Inflater::new();
        let (_, end) = inflate_message(&mut i, &[0xff; 16]);
        assert_eq!(end, Inflate::Failed);
        assert!(!i.is_alive());
        assert_eq!(i.memory(), 0);
        // The rest of the message cannot be inflated; the next one gets a fresh inflater, as
        // the direction's budget is untouched.
        assert_eq!(i.inflate(b"x", false, &mut |_| {}), Inflate::Unavailable);
        assert!(i.start_message());
    }

    #[test]
    fn a_bomb_stops_at_the_message_cap_and_spends_the_direction() {
        let mut d = Deflater::new();
        let zeros = vec![0u8; 2 * 1024 * 1024];
        let bomb = d.message(&zeros);
        assert!(bomb.len() < 8 * 1024, "{}", bomb.len());
        let mut i = Inflater::new();
        let mut total = 0u64;
        assert!(i.start_message());
        let end = i.inflate(&bomb, false, &mut |b| total += b.len() as u64);
        assert_eq!(end, Inflate::OverBudget);
        assert!(total > MAX_INFLATE_PER_MESSAGE && total <= MAX_INFLATE_PER_MESSAGE + 4096);
        assert!(
            !i.start_message(),
            "the direction's budget is spent for good"
        );
    }

    #[test]
    fn a_lost_stream_drops_the_window() {
        let mut i = Inflater::new();
        assert!(i.start_message());
        i.lose();
        assert!(!i.is_alive());
        assert_eq!(i.inflate(b"x", true, &mut |_| {}), Inflate::Unavailable);
    }

    #[test]
    fn deflate_messages_are_inflated_with_context_takeover() {
        let mut d = Deflater::new();
        let first = d.message(b"hello hello hello");
        let second = d.message(b"hello hello hello");
        let bad = d.message(b"bad \xff text");
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
}
