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
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|raw| raw.len() == 16)
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
    }
}
