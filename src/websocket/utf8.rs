//! Incremental UTF-8 validation of text messages (RFC 6455 §8.1), fed in arbitrary pieces:
//! a character split across chunks or frames is carried over in a 4-byte buffer, so the
//! check needs no copy of the message.
//!
//! In: byte pieces in order. Out: whether everything fed so far is valid UTF-8 and ends on a
//! character boundary. Holds 6 bytes of state; never allocates.

/// Incremental UTF-8 validation across frames and chunks.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Utf8Check {
    pending: [u8; 4],
    pending_len: usize,
    invalid: bool,
}

impl Utf8Check {
    /// Checks the next piece of the text.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) {
        while self.pending_len > 0 && !self.invalid {
            let Some((&b, rest)) = chunk.split_first() else {
                return;
            };
            chunk = rest;
            if let Some(slot) = self.pending.get_mut(self.pending_len) {
                *slot = b;
            }
            self.pending_len += 1;
            match std::str::from_utf8(self.pending.get(..self.pending_len).unwrap_or_default()) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() || self.pending_len >= 4 => self.invalid = true,
                Err(_) => {}
            }
        }
        if self.invalid {
            return;
        }
        if let Err(e) = std::str::from_utf8(chunk) {
            if e.error_len().is_some() {
                self.invalid = true;
            } else {
                let tail = chunk.get(e.valid_up_to()..).unwrap_or_default();
                for (slot, b) in self.pending.iter_mut().zip(tail) {
                    *slot = *b;
                }
                self.pending_len = tail.len().min(3);
            }
        }
    }

    /// Whether the whole text fed so far is valid UTF-8, ending on a character boundary.
    pub(crate) fn valid_at_end(&self) -> bool {
        !self.invalid && self.pending_len == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    fn check(pieces: &[&[u8]]) -> bool {
        let mut u = Utf8Check::default();
        for p in pieces {
            u.feed(p);
        }
        u.valid_at_end()
    }

    #[test]
    fn keeps_state_across_chunks() {
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

    #[test]
    fn a_four_byte_character_fed_one_byte_at_a_time_is_valid() {
        assert!(check(&[b"\xf0", b"\x9f", b"\x98", b"\x80", b"!"]));
        assert!(check(&[b"", b"ok", b""]));
    }

    #[test]
    fn invalid_sequences_are_caught_wherever_they_fall() {
        // A lone continuation byte, an overlong encoding, a surrogate, a byte never valid.
        for bad in [&b"\x80"[..], b"\xc0\xaf", b"\xed\xa0\x80", b"\xff"] {
            assert!(!check(&[b"ok ", bad, b" ok"]), "{bad:?}");
        }
        // A character cut off by a non-continuation byte in the next piece.
        assert!(!check(&[b"\xe2\x82", b"A"]));
        // Once invalid, always invalid, even if later pieces are fine.
        let mut u = Utf8Check::default();
        u.feed(b"\xff");
        u.feed(b"fine");
        assert!(!u.valid_at_end());
    }
}
