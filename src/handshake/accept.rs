//! Sec-WebSocket-Key / Sec-WebSocket-Accept arithmetic (RFC 6455 §1.3, §4.2.2 item 5.4).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID every server appends to the client's key (RFC 6455 §1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The Sec-WebSocket-Accept value a server must send for `key`:
/// base64(SHA-1(key + GUID)), with the key used exactly as sent (trimmed).
///
/// ```
/// // The example from RFC 6455 §1.3.
/// assert_eq!(
///     wssniff::handshake::accept::expected_accept("dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
#[must_use]
pub fn expected_accept(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Whether `key` is base64 of exactly 16 bytes, as RFC 6455 §4.1 item 7 requires.
#[must_use]
pub fn key_is_valid(key: &str) -> bool {
    let key = key.trim();
    // Decoded on the stack: 24 base64 characters are at most 18 bytes.
    let mut raw = [0u8; 18];
    key.len() == 24 && STANDARD.decode_slice(key, &mut raw) == Ok(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_validity() {
        assert!(key_is_valid("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!key_is_valid("dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!key_is_valid("aGVsbG8=")); // 5 bytes
        assert!(!key_is_valid("not base64 at all!!!!!!!"));
        assert!(!key_is_valid(""));
        // 24 characters that decode to 17 or 18 bytes, or hold a bad padding or character.
        assert!(!key_is_valid("dGhlIHNhbXBsZSBub25jZQ=A"));
        assert!(!key_is_valid("dGhlIHNhbXBsZSBub25jZQAA"));
        assert!(!key_is_valid("dGhlIHNhbXBsZSBub25jZQ=a"));
        assert!(!key_is_valid("dGhlIHNhbXBsZSBub25jZ*=="));
        assert!(key_is_valid(" dGhlIHNhbXBsZSBub25jZQ== "));
    }

    /// The stack decode agrees with decoding to a Vec on every kind of 24-character key.
    #[test]
    fn key_validity_matches_a_full_decode() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ *";
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..50_000 {
            let mut key = [0u8; 24];
            for b in &mut key {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly the base64 alphabet, so valid keys come up.
                let pick = (seed % if i % 2 == 0 { 64 } else { 69 }) as usize;
                *b = alphabet[pick];
            }
            if i % 3 == 0 {
                key[22] = b'=';
                key[23] = b'=';
            }
            let key = std::str::from_utf8(&key).unwrap();
            let full = STANDARD.decode(key.trim()).is_ok_and(|raw| raw.len() == 16);
            assert_eq!(key_is_valid(key), key.trim().len() == 24 && full, "{key}");
        }
    }
}
