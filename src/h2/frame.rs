//! HTTP/2 frames over borrowed slices (RFC 9113 §4, §6): the 9-byte frame header, each frame
//! type's payload (padding and priority fields stripped), SETTINGS parameters, error codes
//! by name, and the client connection preface.
//!
//! [`FrameHeader::parse`] reads a header from the front of a buffer; [`parse_payload`] reads a
//! complete payload into a [`Frame`] that borrows it, or says which rule the payload breaks
//! ([`FrameError`]). Both check every length before reading: no input makes them panic or
//! allocate. Never keeps state (which stream is open, what SETTINGS say: the connection's
//! business) and never decompresses header blocks (HPACK is the decoder's).

/// The client connection preface (RFC 9113 §3.4): these 24 octets, then a SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of a frame header (RFC 9113 §4.1).
pub const FRAME_HEADER_LEN: usize = 9;

/// How `data` relates to the client preface: all of it, a prefix of it, or something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefaceMatch {
    /// The full 24 octets are there.
    Complete,
    /// `data` is a proper prefix of the preface: wait for more.
    Partial,
    /// Not the preface.
    No,
}

/// Whether `data` starts with the client connection preface.
///
/// ```
/// use wssniff::h2::frame::{preface, PrefaceMatch};
/// assert_eq!(preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"), PrefaceMatch::Complete);
/// assert_eq!(preface(b"PRI * HT"), PrefaceMatch::Partial);
/// assert_eq!(preface(b"GET / HTTP/1.1\r\n"), PrefaceMatch::No);
/// ```
#[must_use]
pub fn preface(data: &[u8]) -> PrefaceMatch {
    let n = data.len().min(PREFACE.len());
    if data.get(..n) != PREFACE.get(..n) {
        PrefaceMatch::No
    } else if n == PREFACE.len() {
        PrefaceMatch::Complete
    } else {
        PrefaceMatch::Partial
    }
}

/// A frame type (RFC 9113 §6, RFC 8441); an unknown type is a value, not an error (§4.1:
/// "Implementations MUST ignore and discard frames of unknown types").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameType(pub u8);

impl FrameType {
    /// DATA (§6.1).
    pub const DATA: FrameType = FrameType(0x0);
    /// HEADERS (§6.2).
    pub const HEADERS: FrameType = FrameType(0x1);
    /// PRIORITY (§6.3).
    pub const PRIORITY: FrameType = FrameType(0x2);
    /// RST_STREAM (§6.4).
    pub const RST_STREAM: FrameType = FrameType(0x3);
    /// SETTINGS (§6.5).
    pub const SETTINGS: FrameType = FrameType(0x4);
    /// PUSH_PROMISE (§6.6).
    pub const PUSH_PROMISE: FrameType = FrameType(0x5);
    /// PING (§6.7).
    pub const PING: FrameType = FrameType(0x6);
    /// GOAWAY (§6.8).
    pub const GOAWAY: FrameType = FrameType(0x7);
    /// WINDOW_UPDATE (§6.9).
    pub const WINDOW_UPDATE: FrameType = FrameType(0x8);
    /// CONTINUATION (§6.10).
    pub const CONTINUATION: FrameType = FrameType(0x9);

    /// The RFC's name, or `UNKNOWN`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self.0 {
            0x0 => "DATA",
            0x1 => "HEADERS",
            0x2 => "PRIORITY",
            0x3 => "RST_STREAM",
            0x4 => "SETTINGS",
            0x5 => "PUSH_PROMISE",
            0x6 => "PING",
            0x7 => "GOAWAY",
            0x8 => "WINDOW_UPDATE",
            0x9 => "CONTINUATION",
            _ => "UNKNOWN",
        }
    }
}

/// Frame flags (RFC 9113 §6); which bits mean something depends on the type.
pub mod flags {
    /// DATA, HEADERS: the sender's last frame on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a pad length octet and padding are present.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: stream dependency and weight fields are present.
    pub const PRIORITY: u8 = 0x20;
}

/// An HTTP/2 error code (RFC 9113 §7); unknown codes are values too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// NO_ERROR: a graceful shutdown.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// CANCEL: the stream is no longer needed (what browsers send after a WebSocket closes).
    pub const CANCEL: ErrorCode = ErrorCode(0x8);

    /// The RFC's name (`PROTOCOL_ERROR`, `CANCEL`, …), or `None` for an unregistered code.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }

    /// The name, or the code in hex (`0x1f`) when unregistered: for messages.
    #[must_use]
    pub fn describe(self) -> String {
        self.name()
            .map_or_else(|| format!("0x{:x}", self.0), str::to_owned)
    }
}

/// A SETTINGS parameter identifier (RFC 9113 §6.5.2, RFC 8441 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SettingId(pub u16);

impl SettingId {
    /// SETTINGS_HEADER_TABLE_SIZE: the most the peer's HPACK encoder may use.
    pub const HEADER_TABLE_SIZE: SettingId = SettingId(0x1);
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: SettingId = SettingId(0x2);
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: SettingId = SettingId(0x3);
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: SettingId = SettingId(0x4);
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: SettingId = SettingId(0x5);
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: SettingId = SettingId(0x6);
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3): 1 lets the client use extended CONNECT.
    pub const ENABLE_CONNECT_PROTOCOL: SettingId = SettingId(0x8);
}

/// A frame header (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub len: u32,
    /// Frame type.
    pub kind: FrameType,
    /// Flag bits.
    pub flags: u8,
    /// Stream identifier (31 bits; the reserved bit is dropped, as §4.1 says to ignore it).
    pub stream: u32,
}

impl FrameHeader {
    /// Reads a frame header from the front of `data`; `None` when fewer than 9 bytes.
    ///
    /// ```
    /// use wssniff::h2::frame::{FrameHeader, FrameType};
    /// let h = FrameHeader::parse(&[0, 0, 6, 4, 0, 0, 0, 0, 0]).unwrap();
    /// assert_eq!((h.len, h.kind, h.stream), (6, FrameType::SETTINGS, 0));
    /// ```
    #[must_use]
    pub fn parse(data: &[u8]) -> Option<FrameHeader> {
        let &[l0, l1, l2, kind, flags, s0, s1, s2, s3, ..] = data else {
            return None;
        };
        Some(FrameHeader {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameType(kind),
            flags,
            stream: u32::from_be_bytes([s0 & 0x7f, s1, s2, s3]),
        })
    }

    /// Whether `flag` is set.
    #[must_use]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Header and payload length in bytes.
    #[must_use]
    pub fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// Stream dependency fields (RFC 9113 §5.3.2, deprecated but still sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream this one depends on.
    pub depends_on: u32,
    /// The exclusive flag.
    pub exclusive: bool,
    /// Weight minus one.
    pub weight: u8,
}

/// One SETTINGS parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Which parameter.
    pub id: SettingId,
    /// Its value.
    pub value: u32,
}

/// A parsed frame payload, borrowing the buffer it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA: the stream's bytes, padding removed.
    Data {
        /// The data, without pad length and padding.
        data: &'a [u8],
        /// The sender's last frame on this stream.
        end_stream: bool,
    },
    /// HEADERS: the first fragment of a header block.
    Headers {
        /// The header block fragment, without padding and priority fields.
        block: &'a [u8],
        /// The sender's last frame on this stream (trailers, or a request without body).
        end_stream: bool,
        /// No CONTINUATION follows.
        end_headers: bool,
        /// Priority fields, when the PRIORITY flag was set.
        priority: Option<Priority>,
    },
    /// PRIORITY.
    Priority(Priority),
    /// RST_STREAM: the stream ends abnormally.
    RstStream(ErrorCode),
    /// SETTINGS: the sender's parameters (or an acknowledgement, with none).
    Settings {
        /// An acknowledgement of the peer's SETTINGS.
        ack: bool,
        /// The parameters, 6 bytes each (see [`settings`]).
        params: &'a [u8],
    },
    /// PUSH_PROMISE: a header block for a stream the server will push.
    PushPromise {
        /// The promised stream.
        promised: u32,
        /// The header block fragment.
        block: &'a [u8],
        /// No CONTINUATION follows.
        end_headers: bool,
    },
    /// PING.
    Ping {
        /// An answer to the peer's PING.
        ack: bool,
    },
    /// GOAWAY: the sender stops accepting streams above `last_stream`.
    GoAway {
        /// Highest stream the sender may have processed.
        last_stream: u32,
        /// Why.
        code: ErrorCode,
        /// Opaque diagnostic bytes (often text).
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// Flow-control credit granted (31 bits).
        increment: u32,
    },
    /// CONTINUATION: a further fragment of a header block.
    Continuation {
        /// The fragment.
        block: &'a [u8],
        /// The header block ends here.
        end_headers: bool,
    },
    /// A type this parser does not know (to be ignored, §4.1).
    Unknown,
}

/// Why a frame payload breaks RFC 9113 (each a connection or stream error for a receiver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The payload is shorter than its fixed fields (or the pad length octet) need.
    #[error("{kind} frame of {len} bytes is too short for its fields")]
    TooShort {
        /// The frame's type name.
        kind: &'static str,
        /// Its payload length.
        len: u32,
    },
    /// A frame whose length is fixed by the RFC has another length (FRAME_SIZE_ERROR).
    #[error("{kind} frame must be {expected} bytes long, not {len}")]
    WrongLength {
        /// The frame's type name.
        kind: &'static str,
        /// What the RFC prescribes.
        expected: u32,
        /// What it had.
        len: u32,
    },
    /// The padding is as long as the payload or longer (§6.1: PROTOCOL_ERROR).
    #[error("{kind} frame's pad length {pad} leaves no room in {len} bytes")]
    PadTooLong {
        /// The frame's type name.
        kind: &'static str,
        /// Declared padding.
        pad: u8,
        /// Payload length.
        len: u32,
    },
    /// A stream frame on stream 0, or a connection frame on a stream (§6: PROTOCOL_ERROR).
    #[error("{kind} frame on stream {stream}")]
    WrongStream {
        /// The frame's type name.
        kind: &'static str,
        /// The stream it named.
        stream: u32,
    },
    /// A SETTINGS acknowledgement with a payload (§6.5: FRAME_SIZE_ERROR).
    #[error("SETTINGS acknowledgement with a {len}-byte payload")]
    SettingsAckPayload {
        /// Payload length.
        len: u32,
    },
}

/// Which frame types belong on a stream (true) or on stream 0 (false); `None`: either.
fn on_stream(kind: FrameType) -> Option<bool> {
    match kind {
        FrameType::DATA
        | FrameType::HEADERS
        | FrameType::PRIORITY
        | FrameType::RST_STREAM
        | FrameType::PUSH_PROMISE
        | FrameType::CONTINUATION => Some(true),
        FrameType::SETTINGS | FrameType::PING | FrameType::GOAWAY => Some(false),
        _ => None,
    }
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = p.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Strips the pad length octet and the padding of a PADDED frame (§6.1, §6.2, §6.6).
fn unpad<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<&'a [u8], FrameError> {
    if !h.has(flags::PADDED) {
        return Ok(payload);
    }
    let kind = h.kind.name();
    let (&pad, rest) = payload
        .split_first()
        .ok_or(FrameError::TooShort { kind, len: h.len })?;
    rest.len()
        .checked_sub(usize::from(pad))
        .and_then(|keep| rest.get(..keep))
        .ok_or(FrameError::PadTooLong {
            kind,
            pad,
            len: h.len,
        })
}

fn priority_at(p: &[u8], at: usize) -> Option<Priority> {
    let dep = u32_at(p, at)?;
    Some(Priority {
        depends_on: dep & 0x7fff_ffff,
        exclusive: dep & 0x8000_0000 != 0,
        weight: *p.get(at + 4)?,
    })
}

/// Reads the complete payload `payload` of the frame `h` heads.
///
/// ```
/// use wssniff::h2::frame::{parse_payload, Frame, FrameHeader};
/// // A padded DATA frame on stream 1 with END_STREAM: pad length 2, "hi", 2 pad bytes.
/// let bytes = [0, 0, 5, 0, 0x9, 0, 0, 0, 1, 2, b'h', b'i', 0, 0];
/// let h = FrameHeader::parse(&bytes).unwrap();
/// let frame = parse_payload(&h, &bytes[9..]).unwrap();
/// assert_eq!(frame, Frame::Data { data: b"hi", end_stream: true });
/// ```
pub fn parse_payload<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    let kind = h.kind.name();
    let fixed = |expected: u32| {
        if h.len == expected {
            Ok(())
        } else {
            Err(FrameError::WrongLength {
                kind,
                expected,
                len: h.len,
            })
        }
    };
    let short = FrameError::TooShort { kind, len: h.len };
    if let Some(wants_stream) = on_stream(h.kind) {
        if wants_stream == (h.stream == 0) {
            return Err(FrameError::WrongStream {
                kind,
                stream: h.stream,
            });
        }
    }
    Ok(match h.kind {
        FrameType::DATA => Frame::Data {
            data: unpad(h, payload)?,
            end_stream: h.has(flags::END_STREAM),
        },
        FrameType::HEADERS => {
            let rest = unpad(h, payload)?;
            let (priority, block) = if h.has(flags::PRIORITY) {
                let p = priority_at(rest, 0).ok_or(short)?;
                (Some(p), rest.get(5..).ok_or(short)?)
            } else {
                (None, rest)
            };
            Frame::Headers {
                block,
                end_stream: h.has(flags::END_STREAM),
                end_headers: h.has(flags::END_HEADERS),
                priority,
            }
        }
        FrameType::PRIORITY => {
            fixed(5)?;
            Frame::Priority(priority_at(payload, 0).ok_or(short)?)
        }
        FrameType::RST_STREAM => {
            fixed(4)?;
            Frame::RstStream(ErrorCode(u32_at(payload, 0).ok_or(short)?))
        }
        FrameType::SETTINGS => {
            let ack = h.has(flags::ACK);
            if ack && h.len != 0 {
                return Err(FrameError::SettingsAckPayload { len: h.len });
            }
            if !h.len.is_multiple_of(6) {
                return Err(FrameError::WrongLength {
                    kind,
                    expected: h.len - h.len % 6,
                    len: h.len,
                });
            }
            Frame::Settings {
                ack,
                params: payload,
            }
        }
        FrameType::PUSH_PROMISE => {
            let rest = unpad(h, payload)?;
            Frame::PushPromise {
                promised: u32_at(rest, 0).ok_or(short)? & 0x7fff_ffff,
                block: rest.get(4..).ok_or(short)?,
                end_headers: h.has(flags::END_HEADERS),
            }
        }
        FrameType::PING => {
            fixed(8)?;
            Frame::Ping {
                ack: h.has(flags::ACK),
            }
        }
        FrameType::GOAWAY => Frame::GoAway {
            last_stream: u32_at(payload, 0).ok_or(short)? & 0x7fff_ffff,
            code: ErrorCode(u32_at(payload, 4).ok_or(short)?),
            debug: payload.get(8..).unwrap_or_default(),
        },
        FrameType::WINDOW_UPDATE => {
            fixed(4)?;
            Frame::WindowUpdate {
                increment: u32_at(payload, 0).ok_or(short)? & 0x7fff_ffff,
            }
        }
        FrameType::CONTINUATION => Frame::Continuation {
            block: payload,
            end_headers: h.has(flags::END_HEADERS),
        },
        _ => Frame::Unknown,
    })
}

/// The parameters of a SETTINGS payload, in order (a trailing partial entry is dropped;
/// [`parse_payload`] rejects those).
pub fn settings(params: &[u8]) -> impl Iterator<Item = Setting> + '_ {
    params.chunks_exact(6).map(|c| {
        let (id, value) = c.split_at(2);
        Setting {
            id: SettingId(u16::from_be_bytes([
                id.first().copied().unwrap_or(0),
                id.get(1).copied().unwrap_or(0),
            ])),
            value: u32_at(value, 0).unwrap_or(0),
        }
    })
}

/// What a direction's first bytes, captured after the connection's start, look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeSniff {
    /// At least [`SNIFF_FRAMES`] HTTP/2 frames in a row, each sane by shape alone.
    Frames,
    /// Sane so far, too few frames to tell: wait for more bytes.
    NeedMore,
    /// Not HTTP/2 frames from here.
    No,
}

/// Frames in a row that make [`sniff_frames`] call a direction HTTP/2.
pub const SNIFF_FRAMES: usize = 3;
/// Largest frame length believed when sniffing: the default SETTINGS_MAX_FRAME_SIZE (RFC 9113
/// §4.2); peers that raised it are not recognised mid-connection by their larger frames.
const SNIFF_MAX_LEN: u32 = 16_384;

/// Whether a frame header is one a sane peer sends, by its shape alone (RFC 9113 §6): a known
/// type, only the flags that type defines, the reserved bit clear, the length that type
/// requires and the stream (zero or not) that type belongs to.
fn sane(h: &FrameHeader, reserved: bool) -> bool {
    let (allowed, on_stream, len_ok) = match h.kind {
        FrameType::DATA => (flags::END_STREAM | flags::PADDED, Some(true), true),
        FrameType::HEADERS => (
            flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY,
            Some(true),
            h.len > 0,
        ),
        FrameType::PRIORITY => (0, Some(true), h.len == 5),
        FrameType::RST_STREAM => (0, Some(true), h.len == 4),
        FrameType::SETTINGS => (
            flags::ACK,
            Some(false),
            h.len.is_multiple_of(6) && (h.flags & flags::ACK == 0 || h.len == 0),
        ),
        FrameType::PUSH_PROMISE => (flags::END_HEADERS | flags::PADDED, Some(true), h.len >= 4),
        FrameType::PING => (flags::ACK, Some(false), h.len == 8),
        FrameType::GOAWAY => (0, Some(false), h.len >= 8),
        FrameType::WINDOW_UPDATE => (0, None, h.len == 4),
        FrameType::CONTINUATION => (flags::END_HEADERS, Some(true), h.len > 0),
        _ => return false,
    };
    !reserved
        && h.flags & !allowed == 0
        && len_ok
        && h.len <= SNIFF_MAX_LEN
        && on_stream.is_none_or(|s| s == (h.stream != 0))
}

/// Whether `data`, the first bytes of a direction whose start was not captured, starts with
/// HTTP/2 frames. Mid-connection there is no preface to go by: only a run of
/// [`SNIFF_FRAMES`] frames that each pass the shape rules of [`sane`] says HTTP/2 (random or
/// other-protocol bytes pass one header's rules rarely, three in a row practically never).
///
/// ```
/// use wssniff::h2::frame::{sniff_frames, ShapeSniff};
/// let ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
/// let update = [0, 0, 4, 8, 0, 0, 0, 0, 3, 0, 0, 1, 0];
/// assert_eq!(sniff_frames(&ping), ShapeSniff::NeedMore);
/// assert_eq!(sniff_frames(&[&ping[..], &update, &ping].concat()), ShapeSniff::Frames);
/// assert_eq!(sniff_frames(b"GET / HTTP/1.1\r\n"), ShapeSniff::No);
/// ```
#[must_use]
pub fn sniff_frames(data: &[u8]) -> ShapeSniff {
    let mut at = 0usize;
    for _ in 0..SNIFF_FRAMES {
        let rest = data.get(at..).unwrap_or_default();
        if rest.len() < FRAME_HEADER_LEN {
            return ShapeSniff::NeedMore;
        }
        let Some(h) = FrameHeader::parse(rest) else {
            return ShapeSniff::NeedMore;
        };
        let reserved = rest.get(5).is_some_and(|b| b & 0x80 != 0);
        if !sane(&h, reserved) {
            return ShapeSniff::No;
        }
        at = at.saturating_add(FRAME_HEADER_LEN + h.len as usize);
    }
    ShapeSniff::Frames
}

/// The frames at the front of `data` (whole ones only), for a look at their payloads.
pub fn whole_frames(data: &[u8]) -> impl Iterator<Item = (FrameHeader, &[u8])> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let rest = data.get(at..)?;
        let h = FrameHeader::parse(rest)?;
        let payload = rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + h.len as usize)?;
        at = at.saturating_add(FRAME_HEADER_LEN + h.len as usize);
        Some((h, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut v = vec![len[1], len[2], len[3], kind, flags];
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn parse(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
        let h = FrameHeader::parse(bytes).unwrap();
        parse_payload(&h, &bytes[FRAME_HEADER_LEN..])
    }

    #[test]
    fn header_reads_24_bit_length_and_drops_the_reserved_bit() {
        let h = FrameHeader::parse(&[0xff, 0xff, 0xff, 0x1, 0x25, 0x80, 0, 0, 3]).unwrap();
        assert_eq!(h.len, 0xff_ffff);
        assert_eq!(h.stream, 3);
        assert!(h.has(flags::END_STREAM) && h.has(flags::END_HEADERS) && h.has(flags::PRIORITY));
        assert_eq!(h.frame_len(), 9 + 0xff_ffff);
        assert!(FrameHeader::parse(&[0; 8]).is_none());
    }

    #[test]
    fn headers_strip_padding_and_priority() {
        // PADDED | PRIORITY | END_HEADERS: pad 1, dependency on stream 3 exclusive, weight 15.
        let payload = [1, 0x80, 0, 0, 3, 15, 0x82, 0x84, 0];
        let bytes = frame(1, 0x2c, 1, &payload);
        let f = parse(&bytes).unwrap();
        assert_eq!(
            f,
            Frame::Headers {
                block: &[0x82, 0x84],
                end_stream: false,
                end_headers: true,
                priority: Some(Priority {
                    depends_on: 3,
                    exclusive: true,
                    weight: 15
                }),
            }
        );
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        let cases: &[(Vec<u8>, FrameError)] = &[
            (
                frame(0, 0x8, 1, &[5, b'x']),
                FrameError::PadTooLong {
                    kind: "DATA",
                    pad: 5,
                    len: 2,
                },
            ),
            (
                frame(0, 0x8, 1, &[]),
                FrameError::TooShort {
                    kind: "DATA",
                    len: 0,
                },
            ),
            (
                frame(0, 0, 0, b"x"),
                FrameError::WrongStream {
                    kind: "DATA",
                    stream: 0,
                },
            ),
            (
                frame(4, 0, 1, &[]),
                FrameError::WrongStream {
                    kind: "SETTINGS",
                    stream: 1,
                },
            ),
            (
                frame(3, 0, 1, &[0, 0, 8]),
                FrameError::WrongLength {
                    kind: "RST_STREAM",
                    expected: 4,
                    len: 3,
                },
            ),
            (
                frame(4, 1, 0, &[0; 6]),
                FrameError::SettingsAckPayload { len: 6 },
            ),
            (
                frame(4, 0, 0, &[0; 7]),
                FrameError::WrongLength {
                    kind: "SETTINGS",
                    expected: 6,
                    len: 7,
                },
            ),
            (
                frame(7, 0, 0, &[0; 7]),
                FrameError::TooShort {
                    kind: "GOAWAY",
                    len: 7,
                },
            ),
            (
                frame(1, 0x20, 1, &[0, 0, 0]),
                FrameError::TooShort {
                    kind: "HEADERS",
                    len: 3,
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse(bytes), Err(*want), "{bytes:02x?}");
        }
    }

    #[test]
    fn settings_goaway_rst_and_unknown_types() {
        let bytes = frame(4, 0, 0, &[0, 8, 0, 0, 0, 1, 0, 1, 0, 0, 0x10, 0]);
        let f = parse(&bytes).unwrap();
        let Frame::Settings { ack: false, params } = f else {
            panic!("{f:?}")
        };
        let got: Vec<_> = settings(params).map(|s| (s.id, s.value)).collect();
        assert_eq!(
            got,
            [
                (SettingId::ENABLE_CONNECT_PROTOCOL, 1),
                (SettingId::HEADER_TABLE_SIZE, 4096)
            ]
        );
        let bytes = frame(7, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0xb, b'c', b'a', b'l', b'm']);
        let f = parse(&bytes).unwrap();
        assert_eq!(
            f,
            Frame::GoAway {
                last_stream: 5,
                code: ErrorCode(0xb),
                debug: b"calm"
            }
        );
        assert_eq!(ErrorCode(0xb).describe(), "ENHANCE_YOUR_CALM");
        assert_eq!(ErrorCode(0x1f).describe(), "0x1f");
        let bytes = frame(3, 0, 3, &[0, 0, 0, 8]);
        let f = parse(&bytes).unwrap();
        assert_eq!(f, Frame::RstStream(ErrorCode::CANCEL));
        assert_eq!(
            parse(&frame(0xee, 0xff, 7, b"whatever")),
            Ok(Frame::Unknown)
        );
    }

    #[test]
    fn frames_are_recognised_by_shape_and_other_bytes_are_not() {
        let frame = |kind: u8, flags: u8, stream: u32, len: usize| {
            let n = u32::try_from(len).unwrap().to_be_bytes();
            let mut v = vec![n[1], n[2], n[3], kind, flags];
            v.extend_from_slice(&stream.to_be_bytes());
            v.extend(std::iter::repeat_n(0u8, len));
            v
        };
        let good = [frame(1, 0x4, 3, 13), frame(0, 0, 3, 20), frame(8, 0, 0, 4)].concat();
        assert_eq!(sniff_frames(&good), ShapeSniff::Frames);
        assert_eq!(sniff_frames(&good[..30]), ShapeSniff::NeedMore);
        assert_eq!(whole_frames(&good[..30]).count(), 1);
        for bad in [
            frame(4, 0, 1, 6),      // SETTINGS on a stream
            frame(6, 0, 0, 7),      // PING of 7 bytes
            frame(3, 0, 0, 4),      // RST_STREAM on stream 0
            frame(0, 0x2, 1, 4),    // DATA with a flag it does not define
            frame(0x20, 0, 1, 4),   // an unknown type
            frame(0, 0, 1, 20_000), // longer than the default maximum
        ] {
            let run = [bad, frame(8, 0, 0, 4), frame(8, 0, 0, 4)].concat();
            assert_eq!(sniff_frames(&run), ShapeSniff::No);
        }
        let mut reserved = frame(0, 0, 1, 4);
        reserved[5] |= 0x80;
        assert_eq!(sniff_frames(&reserved), ShapeSniff::No);
        // WebSocket frames and HTTP are no HTTP/2.
        assert_eq!(sniff_frames(b"\x81\x05Hello\x81\x05Hello"), ShapeSniff::No);
        assert_eq!(sniff_frames(b"HTTP/1.1 200 OK\r\n\r\n"), ShapeSniff::No);
    }
}
