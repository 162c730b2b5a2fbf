//! Text helpers for output: escaping untrusted bytes and formatting capture time.

use std::fmt::Write as _;

use crate::capture::Timestamp;
use crate::event::{CloseFrame, ConnectionEnding, ConnectionRecord, DirectionStats, Peer};

/// Makes untrusted text safe for a terminal: control characters (ESC, CR, BEL, …) and
/// invisible Unicode controls become `\xNN` / `\u{…}` escapes, so a header value cannot
/// move the cursor, recolour the screen or hide text.
#[must_use]
pub fn escape(s: &str) -> String {
    if s.chars().all(|c| !c.is_control() && !is_invisible(c)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\t' {
            out.push(c);
        } else if c.is_control() {
            let code = u32::from(c);
            if code < 0x100 {
                let _ = write!(out, "\\x{code:02x}");
            } else {
                let _ = write!(out, "\\u{{{code:x}}}");
            }
        } else if is_invisible(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes untrusted text for HTML text and attribute values.
#[must_use]
pub fn escape_html(s: &str) -> String {
    let s = escape(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bidirectional overrides and zero-width characters that can disguise text.
fn is_invisible(c: char) -> bool {
    matches!(u32::from(c), 0x200B..=0x200F | 0x202A..=0x202E | 0x2066..=0x2069 | 0xFEFF)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC.
#[must_use]
pub fn format_ts(ts: Timestamp) -> String {
    let secs = ts.secs();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ts.subsec_nanos() / 1000
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The connection's story in one line, for people: how it ended, the close frames in
/// order, message counts per direction and the duration. Untrusted text is escaped.
#[must_use]
pub fn connection_story(record: &ConnectionRecord) -> String {
    let close = |peer: &str, c: &Option<CloseFrame>| {
        c.as_ref().map(|c| {
            let code = c
                .code
                .map_or_else(|| "(no code)".to_owned(), |n| n.to_string());
            if c.reason.is_empty() {
                format!("{peer} {code}")
            } else {
                // Escaped once (not Debug-quoted on top, which doubled every backslash).
                format!("{peer} {code} \"{}\"", escape(&c.reason))
            }
        })
    };
    let client = close("client", &record.close.client);
    let server = close("server", &record.close.server);
    let closes = match record.close.initiator {
        Some(Peer::Server) => [server, client],
        _ => [client, server],
    };
    let closes: Vec<String> = closes.into_iter().flatten().collect();
    let closes = if closes.is_empty() {
        "no close frame".to_owned()
    } else {
        closes.join(" → ")
    };
    let dir = |s: &DirectionStats| {
        format!(
            "{} msg{} {} B",
            s.messages,
            if s.messages == 1 { "" } else { "s" },
            s.payload_bytes
        )
    };
    let state = if record.ending == ConnectionEnding::Open {
        "still open".to_owned()
    } else {
        format!("closed {}", record.ending.as_str())
    };
    format!(
        "{state}: {closes}; c→s {}, s→c {}, {:.1} s",
        dir(&record.client_to_server),
        dir(&record.server_to_client),
        record.duration_ms / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape("plain value"), "plain value");
        assert_eq!(escape("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(escape("x\ry\u{7}"), "x\\x0dy\\x07");
        assert_eq!(escape("ab\u{202e}cd"), "ab\\u{202e}cd");
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_ts(Timestamp(0)), "1970-01-01 00:00:00.000000");
        assert_eq!(
            format_ts(Timestamp(1_700_000_000_123_456_789)),
            "2023-11-14 22:13:20.123456"
        );
    }
}
