//! Engine.IO packets and polling payloads (protocol revisions 3 and 4).
//!
//! A packet is a type digit and its data: `0` open (JSON: sid, upgrades, pingInterval,
//! pingTimeout, maxPayload), `1` close, `2` ping, `3` pong (`2probe`/`3probe` test a new
//! transport), `4` message (a Socket.IO packet), `5` upgrade, `6` noop. Over WebSocket each
//! message is one packet (a binary message is a binary Engine.IO message; v3 prefixes it
//! with the byte 4). A polling body holds several:
//!
//! ```text
//!  v4:  2␞4hello␞bAQID              packets separated by U+001E, binary as b + base64
//!  v3:  6:4hello2:2probe            length-prefixed; the length counts UTF-16 code units
//!       5:b4AQID                    binary as b4 + base64 in text mode
//!       \x00 \x05 \xff 4 hello      XHR2 binary payloads: 0 = string, 1 = binary,
//!                                   length digits as bytes, 255, the packet
//!       ___eio[3]("6:4hello");      JSONP: the text payload inside a JavaScript string
//! ```
//!
//! Error bodies are JSON `{"code":N,"message":…}` ([`error_body`]). Every parser borrows or
//! makes a bounded copy, stops at [`MAX_PACKETS`], and reports malformed input as
//! [`Malformed`].

use std::borrow::Cow;

/// Most packets read from one polling body; the rest are counted, not parsed.
pub const MAX_PACKETS: usize = 256;

/// Engine.IO packet types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `0`: the server opens the session.
    Open,
    /// `1`: either side closes it.
    Close,
    /// `2`: ping (v4: from the server; v3: from the client).
    Ping,
    /// `3`: pong.
    Pong,
    /// `4`: a message (Socket.IO rides here).
    Message,
    /// `5`: the client switches to the transport it probed.
    Upgrade,
    /// `6`: nothing (ends a pending poll during an upgrade).
    Noop,
}

impl Kind {
    fn from_digit(b: u8) -> Option<Kind> {
        Some(match b {
            b'0' => Kind::Open,
            b'1' => Kind::Close,
            b'2' => Kind::Ping,
            b'3' => Kind::Pong,
            b'4' => Kind::Message,
            b'5' => Kind::Upgrade,
            b'6' => Kind::Noop,
            _ => return None,
        })
    }

    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Close => "close",
            Kind::Ping => "ping",
            Kind::Pong => "pong",
            Kind::Message => "message",
            Kind::Upgrade => "upgrade",
            Kind::Noop => "noop",
        }
    }
}

/// One Engine.IO packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Its type.
    pub kind: Kind,
    /// The bytes after the type (for a binary message, the decoded bytes).
    pub data: Cow<'a, [u8]>,
    /// A binary message.
    pub binary: bool,
}

impl Packet<'_> {
    /// `2probe` / `3probe`: the test of a new transport.
    #[must_use]
    pub fn is_probe(&self) -> bool {
        matches!(self.kind, Kind::Ping | Kind::Pong) && self.data.as_ref() == b"probe"
    }
}

/// Why a packet or payload did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// Reads one text packet (a WebSocket text message, or one packet of a payload).
///
/// ```
/// use wssniff::engineio::packet::{parse_packet, Kind};
/// let p = parse_packet(b"2probe").unwrap();
/// assert_eq!(p.kind, Kind::Ping);
/// assert!(p.is_probe());
/// ```
///
/// # Errors
/// Empty input or an unknown type digit.
pub fn parse_packet(bytes: &[u8]) -> Result<Packet<'_>, Malformed> {
    let (&first, rest) = bytes
        .split_first()
        .ok_or_else(|| malformed("an empty Engine.IO packet"))?;
    if first == b'b' {
        // A base64 binary message inside a text payload (v4 `b…`, v3 `b4…`).
        let b64 = rest.strip_prefix(b"4").unwrap_or(rest);
        return Ok(Packet {
            kind: Kind::Message,
            data: Cow::Owned(decode_base64(b64)?),
            binary: true,
        });
    }
    let kind = Kind::from_digit(first).ok_or_else(|| {
        malformed(format!(
            "an Engine.IO packet of unknown type {}",
            char::from(first).escape_default()
        ))
    })?;
    Ok(Packet {
        kind,
        data: Cow::Borrowed(rest),
        binary: false,
    })
}

/// Reads one binary WebSocket message: v4 carries the bytes as a message; v3 prefixes the
/// packet type as a byte.
#[must_use]
pub fn parse_binary_message(version: u8, bytes: &[u8]) -> Packet<'_> {
    let data = if version <= 3 {
        bytes.get(1..).unwrap_or_default()
    } else {
        bytes
    };
    Packet {
        kind: Kind::Message,
        data: Cow::Borrowed(data),
        binary: true,
    }
}

fn decode_base64(b64: &[u8]) -> Result<Vec<u8>, Malformed> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| malformed("a binary Engine.IO packet that is not base64"))
}

/// A polling body's packets: at most [`MAX_PACKETS`], and how many more there were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The packets, in order.
    pub packets: Vec<Packet<'a>>,
    /// Packets past [`MAX_PACKETS`], not parsed.
    pub more: usize,
}

impl<'a> Payload<'a> {
    fn push(&mut self, p: Packet<'a>) {
        if self.packets.len() < MAX_PACKETS {
            self.packets.push(p);
        } else {
            self.more += 1;
        }
    }
}

/// Reads a polling body of protocol revision `version` (v4 record-separated; v3 and
/// earlier length-prefixed, XHR2 binary or JSONP).
///
/// ```
/// use wssniff::engineio::packet::{parse_payload, Kind};
/// let v4 = parse_payload(4, b"2\x1e4hello").unwrap();
/// assert_eq!(v4.packets.len(), 2);
/// let v3 = parse_payload(3, "6:4héllo2:40".as_bytes()).unwrap();
/// assert_eq!(v3.packets[0].kind, Kind::Message);
/// ```
///
/// # Errors
/// A packet that does not parse, a length that runs past the body, or a JSONP wrapper that
/// is not a string literal.
pub fn parse_payload(version: u8, body: &[u8]) -> Result<Payload<'_>, Malformed> {
    let mut payload = Payload::default();
    if body.is_empty() {
        return Ok(payload);
    }
    if version >= 4 {
        for part in body.split(|&b| b == 0x1e) {
            if payload.packets.len() >= MAX_PACKETS {
                payload.more += 1;
                continue;
            }
            payload.push(parse_packet(part)?);
        }
        return Ok(payload);
    }
    if let Some(inner) = jsonp_string(body) {
        let text = inner?;
        let owned = parse_v3_text(text.as_bytes())?;
        for p in owned.packets {
            payload.push(Packet {
                kind: p.kind,
                data: Cow::Owned(p.data.into_owned()),
                binary: p.binary,
            });
        }
        payload.more += owned.more;
        return Ok(payload);
    }
    if matches!(body.first(), Some(0 | 1)) {
        return parse_v3_binary(body);
    }
    parse_v3_text(body)
}

/// v3 text payload: `<length>:<packet>` where the length counts UTF-16 code units.
fn parse_v3_text(body: &[u8]) -> Result<Payload<'_>, Malformed> {
    let mut payload = Payload::default();
    let mut rest = body;
    while !rest.is_empty() {
        let colon = rest
            .iter()
            .take(12)
            .position(|&b| b == b':')
            .ok_or_else(|| malformed("a v3 payload without a length prefix"))?;
        let digits = rest.get(..colon).unwrap_or_default();
        let units: usize = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| malformed("a v3 payload length that is not a number"))?;
        let after = rest.get(colon + 1..).unwrap_or_default();
        let bytes = utf16_prefix_len(after, units).ok_or_else(|| {
            malformed(format!(
                "a v3 payload length of {units} UTF-16 code units runs past the body"
            ))
        })?;
        let (packet, tail) = after.split_at(bytes);
        payload.push(parse_packet(packet)?);
        rest = tail;
    }
    Ok(payload)
}

/// Bytes of the first `units` UTF-16 code units of UTF-8 `text` (a character above U+FFFF
/// is two units); `None` when the text is shorter or is not UTF-8 there.
fn utf16_prefix_len(text: &[u8], units: usize) -> Option<usize> {
    let mut counted = 0usize;
    let mut at = 0usize;
    while counted < units {
        let lead = *text.get(at)?;
        let (len, u) = match lead {
            0x00..=0x7f => (1, 1),
            0xc2..=0xdf => (2, 1),
            0xe0..=0xef => (3, 1),
            0xf0..=0xf4 => (4, 2),
            _ => return None,
        };
        let ch = text.get(at..at + len)?;
        std::str::from_utf8(ch).ok()?;
        counted += u;
        at += len;
    }
    (counted == units).then_some(at)
}

/// v3 XHR2 binary payload: a 0 (string) or 1 (binary) byte, the length as digit bytes
/// (0–9), 255, then the packet.
fn parse_v3_binary(body: &[u8]) -> Result<Payload<'_>, Malformed> {
    let mut payload = Payload::default();
    let mut rest = body;
    while let Some((&marker, after)) = rest.split_first() {
        if marker > 1 {
            return Err(malformed("a v3 binary payload with a bad type byte"));
        }
        let end = after
            .iter()
            .take(12)
            .position(|&b| b == 0xff)
            .ok_or_else(|| malformed("a v3 binary payload without its length end (255)"))?;
        let mut len = 0usize;
        for &d in after.get(..end).unwrap_or_default() {
            if d > 9 {
                return Err(malformed("a v3 binary payload length digit above 9"));
            }
            len = len.saturating_mul(10).saturating_add(usize::from(d));
        }
        let data = after.get(end + 1..).unwrap_or_default();
        let packet = data
            .get(..len)
            .ok_or_else(|| malformed("a v3 binary payload length runs past the body"))?;
        rest = data.get(len..).unwrap_or_default();
        if marker == 0 {
            payload.push(parse_packet(packet)?);
        } else {
            payload.push(parse_binary_message(3, packet));
        }
    }
    Ok(payload)
}

/// Longest JSONP string decoded.
const MAX_JSONP: usize = 64 * 1024;

/// `___eio[N]("…");`: the JavaScript string's value; `None` when the body is not JSONP.
fn jsonp_string(body: &[u8]) -> Option<Result<String, Malformed>> {
    let rest = body.strip_prefix(b"___eio[")?;
    let open = rest.iter().take(12).position(|&b| b == b'(')?;
    let lit = rest.get(open + 1..)?;
    let lit = lit.strip_suffix(b";").unwrap_or(lit);
    let lit = lit.strip_suffix(b")")?;
    let text = std::str::from_utf8(lit).ok()?;
    Some(unescape_js_string(text))
}

fn unescape_js_string(lit: &str) -> Result<String, Malformed> {
    let bad = || malformed("a JSONP payload that is not a JavaScript string");
    let inner = lit
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .ok_or_else(bad)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if out.len() > MAX_JSONP {
            break;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().ok_or_else(bad)? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The open packet's parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Open {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to (`[]`: none).
    pub upgrades: Vec<String>,
    /// Milliseconds between pings.
    pub ping_interval_ms: Option<u64>,
    /// Milliseconds to wait for the pong (v4) or the next ping (v3) before closing.
    pub ping_timeout_ms: Option<u64>,
    /// Largest payload the server accepts, in bytes (v4).
    pub max_payload: Option<u64>,
}

/// Reads an open packet's JSON (the bytes after `0`).
///
/// # Errors
/// Not JSON, or no string `sid`.
pub fn parse_open(data: &[u8]) -> Result<Open, Malformed> {
    let v: serde_json::Value = serde_json::from_slice(data)
        .map_err(|_| malformed("an Engine.IO open packet that is not JSON"))?;
    let sid = v
        .get("sid")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed("an Engine.IO open packet without a sid"))?;
    let upgrades = v
        .get("upgrades")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .take(8)
                .filter_map(|u| u.as_str().map(|s| s.chars().take(32).collect()))
                .collect()
        })
        .unwrap_or_default();
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
    Ok(Open {
        sid: sid.chars().take(128).collect(),
        upgrades,
        ping_interval_ms: num("pingInterval"),
        ping_timeout_ms: num("pingTimeout"),
        max_payload: num("maxPayload"),
    })
}

/// An Engine.IO error body: `{"code":N,"message":…}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ErrorBody {
    /// The code: 0 transport unknown, 1 session ID unknown, 2 bad handshake method, 3 bad
    /// request, 4 forbidden, 5 unsupported protocol version.
    pub code: i64,
    /// The server's message.
    pub message: String,
}

/// python-engineio's plain-text refusals (`Content-Type: text/plain`, the message as a JSON
/// string in 4.x, bare text before) that say what an engine.io error code says, by the start
/// of the message: the code, and the message as kept (a stale sid's answer names the sid,
/// a session credential the record holds anyway: it is not repeated).
const PYTHON_ERRORS: &[(&str, i64, &str)] = &[
    ("Invalid session", 1, "Invalid session"),
    ("Invalid transport", 0, "Invalid transport"),
    (
        "The client is using an unsupported version",
        5,
        "The client is using an unsupported version of the Socket.IO or Engine.IO protocols",
    ),
];

/// Longest plain-text body read as a python-engineio refusal.
const MAX_PLAIN_ERROR: usize = 512;

/// Reads python-engineio's plain-text refusal ([`PYTHON_ERRORS`]); `None` for any other body.
fn python_error(body: &[u8]) -> Option<ErrorBody> {
    if body.len() > MAX_PLAIN_ERROR {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let text = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(_) => return None,
        Err(_) => text.to_owned(),
    };
    PYTHON_ERRORS
        .iter()
        .find(|(start, _, _)| text.starts_with(start))
        .map(|&(_, code, message)| ErrorBody {
            code,
            message: message.to_owned(),
        })
}

/// Reads an error body: engine.io's `{"code":N,"message":…}`, or python-engineio's
/// plain-text answer meaning the same ([`PYTHON_ERRORS`]); `None` when the body is neither.
#[must_use]
pub fn error_body(body: &[u8]) -> Option<ErrorBody> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return python_error(body);
    };
    if v.is_string() {
        return python_error(body);
    }
    Some(ErrorBody {
        code: v.get("code")?.as_i64()?,
        message: v
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(256)
            .collect(),
    })
}

/// What an error code means, as the Engine.IO server names it.
#[must_use]
pub fn error_name(code: i64) -> &'static str {
    match code {
        0 => "Transport unknown",
        1 => "Session ID unknown",
        2 => "Bad handshake method",
        3 => "Bad request",
        4 => "Forbidden",
        5 => "Unsupported protocol version",
        _ => "unknown error code",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn kinds(p: &Payload<'_>) -> Vec<Kind> {
        p.packets.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn v4_payloads_split_on_the_record_separator_and_decode_binary() {
        let p = parse_payload(4, b"2\x1e4hello\x1ebAQID").unwrap();
        assert_eq!(kinds(&p), [Kind::Ping, Kind::Message, Kind::Message]);
        assert_eq!(p.packets[1].data.as_ref(), b"hello");
        assert_eq!(p.packets[2].data.as_ref(), [1, 2, 3]);
        assert!(p.packets[2].binary);
    }

    #[test]
    fn v3_lengths_count_utf16_code_units_not_bytes() {
        // "é" is two bytes and one unit; "😀" four bytes and two units.
        let body = "2:4é5:4a😀b2:40".as_bytes();
        let p = parse_payload(3, body).unwrap();
        assert_eq!(kinds(&p), [Kind::Message, Kind::Message, Kind::Message]);
        assert_eq!(p.packets[1].data.as_ref(), "a😀b".as_bytes());
        assert_eq!(p.packets[2].data.as_ref(), b"0");
        // A byte count would cut inside a character: that is a malformed length.
        assert!(parse_payload(3, "3:4é".as_bytes()).is_err());
        assert!(parse_payload(3, b"99:4x").is_err());
        assert!(parse_payload(3, b"x:4").is_err());
    }

    #[test]
    fn v3_binary_text_and_jsonp_forms() {
        let p = parse_payload(3, b"6:b4AQID").unwrap();
        assert_eq!(p.packets[0].data.as_ref(), [1, 2, 3]);
        let xhr2 = parse_payload(3, b"\x00\x02\xff40\x01\x04\xff\x04\x01\x02\x03").unwrap();
        assert_eq!(kinds(&xhr2), [Kind::Message, Kind::Message]);
        assert_eq!(xhr2.packets[1].data.as_ref(), [1, 2, 3]);
        let jsonp = parse_payload(3, br#"___eio[2]("5:4hi\"x2:40");"#).unwrap();
        assert_eq!(jsonp.packets[0].data.as_ref(), b"hi\"x");
        assert_eq!(jsonp.packets.len(), 2);
    }

    #[test]
    fn open_and_error_bodies() {
        let o = parse_open(br#"{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#).unwrap();
        assert_eq!(o.sid, "abc");
        assert_eq!(o.upgrades, ["websocket"]);
        assert_eq!(
            (o.ping_interval_ms, o.ping_timeout_ms),
            (Some(300), Some(200))
        );
        assert!(parse_open(b"{}").is_err());
        let e = error_body(br#"{"code":1,"message":"Session ID unknown"}"#).unwrap();
        assert_eq!((e.code, e.message.as_str()), (1, "Session ID unknown"));
        assert_eq!(error_body(b"ok"), None);
    }

    #[test]
    fn bad_packets_are_malformed_values() {
        assert!(parse_packet(b"").is_err());
        assert!(parse_packet(b"9x").is_err());
        assert!(parse_packet(b"b!!").is_err());
        assert!(parse_payload(4, b"2\x1e").is_err());
        assert!(parse_payload(3, b"\x00\x0a\xff").is_err());
    }

    #[test]
    fn a_flood_of_packets_stops_at_the_cap() {
        let body = vec![b"6\x1e".as_slice(); MAX_PACKETS + 10].concat();
        let p = parse_payload(4, body.strip_suffix(b"\x1e").unwrap()).unwrap();
        assert_eq!((p.packets.len(), p.more), (MAX_PACKETS, 10));
    }

    /// python-engineio refuses a stale sid with 400 and text, not engine.io's JSON object:
    /// 4.x sends the message as a JSON string naming the sid, older releases bare text. Both
    /// are the code engine.io would have sent; the sid is not kept in the message; other
    /// text is no error body.
    #[test]
    fn python_engineio_plain_text_refusals_read_as_their_codes() {
        let stale = error_body(br#""Invalid session 51yLYCh_B7FLDCOzAAAA""#).unwrap();
        assert_eq!((stale.code, stale.message.as_str()), (1, "Invalid session"));
        assert_eq!(error_body(b"Invalid session").map(|e| e.code), Some(1));
        assert_eq!(
            error_body(br#""Invalid transport""#).map(|e| e.code),
            Some(0)
        );
        let v3 = br#""The client is using an unsupported version of the Socket.IO or Engine.IO protocols""#;
        assert_eq!(error_body(v3).map(|e| e.code), Some(5));
        assert_eq!(error_body(br#""Bad Request""#), None);
        assert_eq!(error_body(b"<html>Invalid session</html>"), None);
        assert_eq!(error_body(&[b'x'; 600]), None);
        let ours = error_body(br#"{"code":1,"message":"Session ID unknown"}"#).unwrap();
        assert_eq!(
            (ours.code, ours.message.as_str()),
            (1, "Session ID unknown")
        );
    }
}
