//! RFC 6455 §5.2 frame headers: bytes in, [`FrameHeader`] out.
//!
//! Pure and stateless: [`parse_header`] looks only at the 2–14 header bytes and never at the
//! payload, so a walker can skip payloads it does not need without copying them. Close
//! payloads (§5.5.1) and close codes (§7.4) are decoded here too because they are part of the
//! wire format, not of any one connection's story.
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-------+-+-------------+-------------------------------+
//!  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//!  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//!  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//!  | |1|2|3|       |K|             |                               |
//!  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//!  |     Extended payload length continued, if payload len == 127  |
//!  + - - - - - - - - - - - - - - - +-------------------------------+
//!  |                               |Masking-key, if MASK set to 1  |
//!  +-------------------------------+-------------------------------+
//!  | Masking-key (continued)       |          Payload Data         |
//!  +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! This module never allocates and never panics on any input.

/// A frame opcode (RFC 6455 §5.2, §11.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: first frame of a text message.
    Text,
    /// 0x2: first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
    /// 0x3–0x7 and 0xB–0xF: reserved, no meaning without an extension that defines it.
    Reserved(u8),
}

impl Opcode {
    /// The opcode of the low four bits of `b`.
    #[must_use]
    pub fn from_bits(b: u8) -> Opcode {
        match b & 0x0f {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            other => Opcode::Reserved(other),
        }
    }

    /// The four bits on the wire (the inverse of [`Opcode::from_bits`]).
    #[must_use]
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xa,
            Opcode::Reserved(b) => b & 0x0f,
        }
    }

    /// Control frames have the high opcode bit set (§5.5): close, ping, pong and 0xB–0xF.
    #[must_use]
    pub fn is_control(self) -> bool {
        match self {
            Opcode::Close | Opcode::Ping | Opcode::Pong => true,
            Opcode::Reserved(b) => b >= 0x8,
            _ => false,
        }
    }

    /// Lower-case name, as used in output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
            Opcode::Reserved(_) => "reserved",
        }
    }
}

/// One decoded frame header. The payload follows `header_len` bytes after its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1 (permessage-deflate: "compressed", RFC 7692 §6).
    pub rsv1: bool,
    /// RSV2 (no registered extension uses it).
    pub rsv2: bool,
    /// RSV3 (no registered extension uses it).
    pub rsv3: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, when MASK is set (client-to-server frames, §5.3).
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// Header length in bytes (2 to 14).
    pub header_len: usize,
    /// The length used more bytes than needed (§5.2: "the minimal number of bytes MUST be
    /// used"). Receivers vary in whether they enforce it, so it is reported, not rejected.
    pub non_minimal_length: bool,
}

impl FrameHeader {
    /// Header plus payload bytes.
    #[must_use]
    pub fn frame_len(&self) -> u64 {
        self.payload_len.saturating_add(self.header_len as u64)
    }

    /// Whether any RSV bit is set.
    #[must_use]
    pub fn any_rsv(&self) -> bool {
        self.rsv1 || self.rsv2 || self.rsv3
    }
}

/// A header that no conforming endpoint can have sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// §5.2: "the most significant bit MUST be 0" in the 64-bit length.
    #[error("64-bit payload length has its most significant bit set")]
    LengthMsbSet,
}

/// Parses the frame header at the start of `data`.
///
/// Returns `Ok(None)` when `data` holds only part of the header (read more and call again).
///
/// ```
/// use wssniff::websocket::frame::{parse_header, Opcode};
/// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
/// let h = parse_header(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]).unwrap().unwrap();
/// assert!(h.fin);
/// assert_eq!(h.opcode, Opcode::Text);
/// assert_eq!((h.header_len, h.payload_len, h.mask), (2, 5, None));
///
/// // The same message masked, as a client sends it.
/// let h = parse_header(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f]).unwrap().unwrap();
/// assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(h.header_len, 6);
///
/// // 256 bytes of binary data in a single unmasked frame: a 16-bit length.
/// let h = parse_header(&[0x82, 0x7e, 0x01, 0x00]).unwrap().unwrap();
/// assert_eq!((h.opcode, h.payload_len, h.header_len), (Opcode::Binary, 256, 4));
///
/// // A 64-bit length whose first byte is cut off: need more.
/// assert_eq!(parse_header(&[0x82, 0x7f, 0x00, 0x00]), Ok(None));
/// ```
///
/// # Errors
/// [`FrameError`] when the header breaks a rule of §5.2 that makes its length meaningless.
pub fn parse_header(data: &[u8]) -> Result<Option<FrameHeader>, FrameError> {
    let (Some(&b0), Some(&b1)) = (data.first(), data.get(1)) else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    let (payload_len, len_bytes, non_minimal) = match len7 {
        126 => {
            let Some(&[a, b]) = data.get(2..4).and_then(|s| <&[u8; 2]>::try_from(s).ok()) else {
                return Ok(None);
            };
            let n = u16::from_be_bytes([a, b]);
            (u64::from(n), 2, n < 126)
        }
        127 => {
            let Some(bytes) = data.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) else {
                return Ok(None);
            };
            let n = u64::from_be_bytes(bytes);
            if n >> 63 != 0 {
                return Err(FrameError::LengthMsbSet);
            }
            (n, 8, n <= 0xffff)
        }
        n => (u64::from(n), 0, false),
    };
    let mask_at = 2 + len_bytes;
    let mask = if masked {
        let Some(key) = data
            .get(mask_at..mask_at + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
        else {
            return Ok(None);
        };
        Some(key)
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode: Opcode::from_bits(b0),
        mask,
        payload_len,
        header_len: mask_at + if masked { 4 } else { 0 },
        non_minimal_length: non_minimal,
    }))
}

/// Unmasks (or masks: XOR is its own inverse) `data` in place, where `data` starts `offset`
/// bytes into the payload (§5.3: octet i is XORed with key octet i mod 4).
///
/// ```
/// use wssniff::websocket::frame::unmask;
/// let mut p = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// unmask(&mut p, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(&p, b"Hello");
/// ```
pub fn unmask(data: &mut [u8], key: [u8; 4], offset: u64) {
    let mut k = key;
    // Rotate the key so index 0 of `data` lines up with payload octet `offset`.
    #[allow(clippy::cast_possible_truncation)]
    k.rotate_left((offset % 4) as usize);
    // Eight bytes at a time (the key twice in a word), then the last few one by one: each
    // whole word starts at a multiple of four, so the tail starts with the key's first byte.
    let [a, b, c, d] = k;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = data.chunks_exact_mut(8);
    for word in &mut words {
        if let Ok(word) = <&mut [u8; 8]>::try_from(word) {
            *word = (u64::from_ne_bytes(*word) ^ wide).to_ne_bytes();
        }
    }
    for (b, m) in words.into_remainder().iter_mut().zip(k.iter().cycle()) {
        *b ^= m;
    }
}

/// A decoded close payload (§5.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseBody {
    /// The status code, when the payload has one.
    pub code: Option<u16>,
    /// The reason, lossily decoded (invalid UTF-8 shown as U+FFFD).
    pub reason: String,
    /// The reason bytes are valid UTF-8 (§5.5.1: they MUST be).
    pub reason_utf8: bool,
    /// The payload was exactly one byte: no valid close body is one byte long.
    pub one_byte: bool,
}

/// Decodes an unmasked close payload.
///
/// ```
/// use wssniff::websocket::frame::parse_close;
/// let c = parse_close(&[0x03, 0xe8, b'b', b'y', b'e']);
/// assert_eq!((c.code, c.reason.as_str(), c.reason_utf8), (Some(1000), "bye", true));
/// assert_eq!(parse_close(&[]).code, None);
/// assert!(parse_close(&[0x03]).one_byte);
/// ```
#[must_use]
pub fn parse_close(payload: &[u8]) -> CloseBody {
    match payload {
        [] => CloseBody {
            code: None,
            reason: String::new(),
            reason_utf8: true,
            one_byte: false,
        },
        [_] => CloseBody {
            code: None,
            reason: String::new(),
            reason_utf8: true,
            one_byte: true,
        },
        [a, b, rest @ ..] => CloseBody {
            code: Some(u16::from_be_bytes([*a, *b])),
            reason: String::from_utf8_lossy(rest).into_owned(),
            reason_utf8: std::str::from_utf8(rest).is_ok(),
            one_byte: false,
        },
    }
}

/// What a close code may be on the wire (§7.4.1, §7.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCodeKind {
    /// 1000 normal closure or 1001 going away.
    Normal,
    /// 1002–1014 other than the reserved ones: a protocol-defined error.
    Error,
    /// 1005, 1006, 1015: reserved for APIs to report a condition; MUST NOT be sent.
    ReservedLocal,
    /// 3000–4999: registered (3xxx) or private (4xxx) application codes.
    Application,
    /// Anything else (below 1000, 1004, 1016–2999, 5000+): not a valid code to send.
    Invalid,
}

/// Classifies a close code.
///
/// ```
/// use wssniff::websocket::frame::{close_code_kind, CloseCodeKind};
/// assert_eq!(close_code_kind(1000), CloseCodeKind::Normal);
/// assert_eq!(close_code_kind(1011), CloseCodeKind::Error);
/// assert_eq!(close_code_kind(1006), CloseCodeKind::ReservedLocal);
/// assert_eq!(close_code_kind(4001), CloseCodeKind::Application);
/// assert_eq!(close_code_kind(999), CloseCodeKind::Invalid);
/// ```
#[must_use]
pub fn close_code_kind(code: u16) -> CloseCodeKind {
    match code {
        1000 | 1001 => CloseCodeKind::Normal,
        1005 | 1006 | 1015 => CloseCodeKind::ReservedLocal,
        1004 => CloseCodeKind::Invalid,
        1002..=1014 => CloseCodeKind::Error,
        3000..=4999 => CloseCodeKind::Application,
        _ => CloseCodeKind::Invalid,
    }
}

/// The registered meaning of a close code (IANA WebSocket Close Code Number Registry).
#[must_use]
pub fn close_code_meaning(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1005 => "no status received (reserved)",
        1006 => "abnormal closure (reserved)",
        1007 => "invalid frame payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "TLS handshake failure (reserved)",
        3000..=3999 => "registered application code",
        4000..=4999 => "private application code",
        _ => "not a valid close code",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_prefix_of_a_header_asks_for_more() {
        let full = [0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd];
        for n in 0..full.len() {
            assert_eq!(parse_header(&full[..n]), Ok(None), "prefix {n}");
        }
        let h = parse_header(&full).unwrap().unwrap();
        assert_eq!(h.payload_len, 65536);
        assert_eq!(h.header_len, 14);
        assert_eq!(h.mask, Some([0xaa, 0xbb, 0xcc, 0xdd]));
        assert!(!h.non_minimal_length);
    }

    #[test]
    fn flags_and_opcodes() {
        let h = parse_header(&[0x4b, 0x00]).unwrap().unwrap();
        assert!(!h.fin && h.rsv1 && !h.rsv2 && !h.rsv3);
        assert_eq!(h.opcode, Opcode::Reserved(0xb));
        assert!(h.opcode.is_control());
        assert!(!Opcode::Reserved(3).is_control());
        let h = parse_header(&[0x30, 0x00]).unwrap().unwrap();
        assert!(h.rsv2 && h.rsv3);
        assert_eq!(h.opcode, Opcode::Continuation);
    }

    #[test]
    fn length_rules() {
        assert_eq!(
            parse_header(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(FrameError::LengthMsbSet)
        );
        let h = parse_header(&[0x82, 0x7e, 0x00, 0x05]).unwrap().unwrap();
        assert!(h.non_minimal_length);
        let h = parse_header(&[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0x01, 0x00])
            .unwrap()
            .unwrap();
        assert!(h.non_minimal_length);
        assert_eq!(h.frame_len(), 10 + 256);
    }

    #[test]
    fn unmask_at_an_offset() {
        let key = [1, 2, 3, 4];
        let mut whole = *b"abcdefgh";
        unmask(&mut whole, key, 0);
        let mut tail = *b"defgh";
        unmask(&mut tail, key, 3);
        assert_eq!(&whole[3..], &tail);
    }

    #[test]
    fn unmask_matches_the_byte_by_byte_definition() {
        // RFC 6455 §5.3: octet i of the payload is XORed with octet i mod 4 of the key.
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let payload: Vec<u8> = (0..=255u8).cycle().take(80).collect();
        for start in 0..9 {
            for len in 0..40 {
                let mut got = payload[start..start + len].to_vec();
                unmask(&mut got, key, start as u64);
                let want: Vec<u8> = (start..start + len)
                    .map(|i| payload[i] ^ key[i % 4])
                    .collect();
                assert_eq!(got, want, "start {start} len {len}");
            }
        }
    }

    #[test]
    fn close_bodies() {
        let c = parse_close(&[0x0f, 0xa1, 0xff]);
        assert_eq!(c.code, Some(4001));
        assert!(!c.reason_utf8);
        assert_eq!(close_code_kind(1004), CloseCodeKind::Invalid);
        assert_eq!(close_code_kind(2999), CloseCodeKind::Invalid);
        assert_eq!(close_code_kind(1015), CloseCodeKind::ReservedLocal);
    }
}
