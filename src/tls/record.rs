//! The TLS record layer as a passive observer reads it (RFC 8446 §5.1, RFC 5246 §6.2.1):
//! 5-byte headers, content types, the names of versions and alerts.
//!
//! In: bytes of one direction, at a record boundary. Out: a [`Header`] or why there is none
//! yet. Never buffers, never decrypts; the walker in `connection` decides which payloads it
//! needs whole and which it skips.
//!
//! ```text
//!  +------+---------+---------+---------+---------------------------+
//!  | type | version (2 bytes) | length (2 bytes)  | fragment (length)  |
//!  +------+---------+---------+---------+---------------------------+
//! ```

/// Bytes of a record header.
pub const HEADER_LEN: usize = 5;

/// Longest record payload accepted: RFC 5246 §6.2.3 allows 2^14 + 2048 bytes of
/// ciphertext (TLS 1.3 less); anything longer is not TLS, or the walker lost its place.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// change_cipher_spec (20).
pub const CHANGE_CIPHER_SPEC: u8 = 20;
/// alert (21).
pub const ALERT: u8 = 21;
/// handshake (22).
pub const HANDSHAKE: u8 = 22;
/// application_data (23).
pub const APPLICATION_DATA: u8 = 23;
/// heartbeat (24, RFC 6520).
pub const HEARTBEAT: u8 = 24;

/// One record header, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// ContentType (20–24).
    pub content_type: u8,
    /// legacy_record_version as on the wire (0x0301–0x0304; TLS 1.3 writes 0x0303).
    pub version: u16,
    /// Payload bytes that follow the header.
    pub len: usize,
}

/// Why [`parse_header`] returned no header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoHeader {
    /// Fewer than [`HEADER_LEN`] bytes.
    NeedMore,
    /// The bytes are not a TLS record header (type, version or length out of range).
    Invalid,
}

/// Reads the record header at the start of `data`.
///
/// ```
/// use wssniff::tls::record::{parse_header, Header, NoHeader, HANDSHAKE};
/// assert_eq!(
///     parse_header(&[0x16, 0x03, 0x01, 0x00, 0x2a]),
///     Ok(Header { content_type: HANDSHAKE, version: 0x0301, len: 42 })
/// );
/// assert_eq!(parse_header(&[0x16, 0x03]), Err(NoHeader::NeedMore));
/// assert_eq!(parse_header(b"GET /"), Err(NoHeader::Invalid));
/// ```
///
/// # Errors
/// [`NoHeader::NeedMore`] when fewer than 5 bytes are there (after checking what is),
/// [`NoHeader::Invalid`] when they cannot start a record.
pub fn parse_header(data: &[u8]) -> Result<Header, NoHeader> {
    let invalid_prefix = match data {
        [t, ..] if !(CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(t) => true,
        [_, major, ..] if *major != 3 => true,
        [_, _, minor, ..] if *minor > 4 => true,
        _ => false,
    };
    if invalid_prefix {
        return Err(NoHeader::Invalid);
    }
    let [t, major, minor, hi, lo, ..] = *data else {
        return Err(NoHeader::NeedMore);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > MAX_RECORD_LEN {
        return Err(NoHeader::Invalid);
    }
    Ok(Header {
        content_type: t,
        version: u16::from_be_bytes([major, minor]),
        len,
    })
}

/// Longest alert record payload [`starts_alert`] takes: an encrypted alert is its 2 bytes
/// plus the suite's overhead, at most 82 (CBC with HMAC-SHA384: 16 IV, 48 MAC, 16 padding);
/// AEAD adds 24 or 16.
const MAX_ALERT_RECORD: usize = 96;

/// Whether a TCP segment of TLS ≤ 1.2 bulk starts with an alert record: type 21, version
/// 3.0–3.3, 2 to [`MAX_ALERT_RECORD`] bytes, whole in the segment, and followed by its end or
/// by what can start another record header. What the bulk count shows every segment it does
/// not walk ([`crate::tcp::stream::SegmentWatch`]): one compare for a segment that starts
/// otherwise. A stack writes an alert by itself, so it usually starts a segment as sent;
/// one that rode behind other records in a segment (or in one merged by the capturing host's
/// receive offload) is not seen this way. Ciphertext passes the test by chance about once in
/// 2^40 segments.
#[must_use]
pub fn starts_alert(segment: &[u8]) -> bool {
    let &[ALERT, 3, minor, hi, lo, ..] = segment else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if minor > 3 || !(2..=MAX_ALERT_RECORD).contains(&len) {
        return false;
    }
    let plausible = |t: &u8| (CHANGE_CIPHER_SPEC..=APPLICATION_DATA).contains(t);
    match segment.get(HEADER_LEN + len..) {
        None => false,
        Some([]) => true,
        Some([t]) | Some([t, 3]) => plausible(t),
        Some([t, 3, m, ..]) => plausible(t) && *m <= 3,
        Some(_) => false,
    }
}

/// Whether `data` starts like a TLS connection's first record: a handshake record holding a
/// ClientHello (or, mid-connection, any well-formed record header). How dispatch recognises
/// TLS by content, on any port.
#[must_use]
pub fn starts_client_hello(data: &[u8]) -> bool {
    data.first() == Some(&HANDSHAKE)
        && !matches!(parse_header(data), Err(NoHeader::Invalid))
        && matches!(data.get(HEADER_LEN), None | Some(1))
}

/// The name of a protocol version as Wireshark and Zeek spell it (`TLSv1.3`), or `0xNNNN`.
#[must_use]
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        0x7f00..=0x7fff => format!("TLSv1.3-draft{}", v & 0xff),
        _ => format!("0x{v:04x}"),
    }
}

/// Whether `v` is a GREASE value (RFC 8701: 0x?A?A), which clients offer to keep servers
/// tolerant and which means nothing.
#[must_use]
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The IANA name of cipher suite `id`, or `0xNNNN`.
#[must_use]
pub fn cipher_name(id: u16) -> String {
    tls_parser::TlsCipherSuite::from_id(id)
        .map_or_else(|| format!("0x{id:04x}"), |c| c.name.to_owned())
}

/// The RFC 8446 §6 / RFC 5246 §7.2 name of alert `description` (snake_case as the RFCs
/// spell it), or `unknown(N)`.
#[must_use]
pub fn alert_name(description: u8) -> String {
    let name = match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return format!("unknown({description})"),
    };
    name.to_owned()
}

/// Longest TLS 1.3 record that is taken for an encrypted alert when it is the last thing a
/// side sent before closing: an alert is 2 bytes + 1 inner content type + a 16-byte AEAD
/// tag (19), a little padding allowed. A Finished message is at least 53 bytes, so during the
/// handshake nothing else is this short.
pub const MAX_TLS13_ALERT_LEN: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_before_they_are_complete() {
        assert_eq!(parse_header(&[]), Err(NoHeader::NeedMore));
        assert_eq!(parse_header(&[0x17]), Err(NoHeader::NeedMore));
        assert_eq!(
            parse_header(&[0x17, 0x03, 0x03, 0x40]),
            Err(NoHeader::NeedMore)
        );
        assert_eq!(parse_header(&[0x19]), Err(NoHeader::Invalid));
        assert_eq!(parse_header(&[0x17, 0x02]), Err(NoHeader::Invalid));
        assert_eq!(parse_header(&[0x17, 0x03, 0x05]), Err(NoHeader::Invalid));
        // 2^14 + 2048 is the largest legal ciphertext; one more is not TLS.
        assert!(parse_header(&[0x17, 0x03, 0x03, 0x48, 0x00]).is_ok());
        assert_eq!(
            parse_header(&[0x17, 0x03, 0x03, 0x48, 0x01]),
            Err(NoHeader::Invalid)
        );
    }

    #[test]
    fn a_client_hello_starts_tls_and_http_does_not() {
        assert!(starts_client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
        assert!(starts_client_hello(&[0x16, 0x03, 0x01]));
        assert!(!starts_client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x02]));
        assert!(!starts_client_hello(&[0x17, 0x03, 0x03, 0x00, 0x20]));
        assert!(!starts_client_hello(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn an_alert_record_at_a_segment_start_is_told_from_ciphertext() {
        let alert = |len: u16| {
            let mut r = vec![ALERT, 3, 3];
            r.extend_from_slice(&len.to_be_bytes());
            r.resize(HEADER_LEN + usize::from(len), 0x9c);
            r
        };
        // Alone, plaintext (2 bytes) or encrypted (AES-GCM: 26), or followed by a record.
        assert!(starts_alert(&alert(2)));
        assert!(starts_alert(&alert(26)));
        assert!(starts_alert(
            &[alert(26), vec![APPLICATION_DATA, 3, 3, 0, 9]].concat()
        ));
        assert!(starts_alert(
            &[alert(26), vec![APPLICATION_DATA, 3]].concat()
        ));
        // Cut, too long for an alert, followed by what is no record, or another type.
        assert!(!starts_alert(&alert(26)[..20]));
        assert!(!starts_alert(&alert(200)));
        assert!(!starts_alert(&[alert(26), vec![0x9c, 0x9c, 0x9c]].concat()));
        assert!(!starts_alert(
            &[alert(26), vec![APPLICATION_DATA, 3, 9]].concat()
        ));
        assert!(!starts_alert(&[0x17, 3, 3, 0, 26]));
        assert!(!starts_alert(&[ALERT, 3, 5, 0, 2, 1, 0]));
        assert!(!starts_alert(&[ALERT, 3]));
    }

    #[test]
    fn names_follow_the_rfcs_and_grease_is_recognised() {
        assert_eq!(version_name(0x0304), "TLSv1.3");
        assert_eq!(version_name(0x0a0a), "0x0a0a");
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0xfefe), "0xfefe");
        assert_eq!(alert_name(112), "unrecognized_name");
        assert_eq!(alert_name(48), "unknown_ca");
        assert_eq!(alert_name(200), "unknown(200)");
    }
}
