//! Presentation every sink words alike: escaping untrusted text, capture time and durations,
//! the order verdicts are listed in, the curl replay line and shell quoting, the words for
//! how connections ended and what the accept check says, credential redaction (`redact`:
//! applied once to every event before any sink sees it), and the grouping of records into
//! incidents (`incident`: a proxied handshake's legs as one, identical failures as one group
//! with a count) that the report and the TUI share.
//!
//! Inputs are event types (records, hops); outputs are plain strings or small enums a sink
//! styles its own way (ANSI colours, ratatui spans, HTML, Markdown). Nothing here derives a
//! fact about the traffic: that is the engine's job, and a sink that needs a new fact asks the
//! engine for it instead of working it out here. No I/O.

mod body;
mod curl;
mod engineio;
mod evidence;
pub mod incident;
pub mod redact;
mod tls;
mod words;

pub(crate) use body::body_lines;
pub use curl::{curl_command, curl_for_copying, curl_replay_note};
pub use engineio::{engineio_story, short_sid};
pub(crate) use evidence::{citing, missing_lines, raw_line_parts};
pub use redact::Redactor;
pub use tls::{carried_words, outcome_words, tls_carrier_words, tls_story};
pub(crate) use words::{
    accept_check, broken_at_headline, close_order, connection_ending_meaning, connection_story,
    AcceptCheck,
};

use crate::capture::Timestamp;
use crate::event::{HandshakeRecord, Verdict};

/// Makes untrusted text safe for a terminal: control characters (ESC, CR, BEL, …) and
/// invisible Unicode controls become `\xNN` / `\u{…}` escapes, so a header value cannot
/// move the cursor, recolour the screen or hide text.
#[must_use]
pub(crate) fn escape(s: &str) -> String {
    if s.chars().all(|c| !c.is_control() && !is_invisible(c)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\t' {
            out.push(c);
        } else if c.is_control() && u32::from(c) < 0x100 {
            out.push_str("\\x");
            push_hex(&mut out, u32::from(c), 2);
        } else if c.is_control() || is_invisible(c) {
            out.push_str("\\u{");
            push_hex(&mut out, u32::from(c), 1);
            out.push('}');
        } else {
            out.push(c);
        }
    }
    out
}

/// Appends `code` in lower-case hex, at least `width` digits (what `{:0width$x}` writes,
/// without the formatting machinery: hostile text can be all control characters).
fn push_hex(out: &mut String, code: u32, width: u32) {
    let digits = (32 - code.leading_zeros()).div_ceil(4).max(width);
    for i in (0..digits).rev() {
        out.push(char::from_digit((code >> (4 * i)) & 0xf, 16).unwrap_or('0'));
    }
}

/// Escapes untrusted text for HTML text and attribute values (after [`escape`], so control
/// characters are visible escapes there too).
#[must_use]
pub(crate) fn escape_html(s: &str) -> String {
    let s = escape(s);
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
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
pub(crate) fn format_ts(ts: Timestamp) -> String {
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

/// `HH:MM:SS.mmm` in UTC: the time of day to the millisecond, for narrow columns.
#[must_use]
pub(crate) fn format_time_of_day(ts: Timestamp) -> String {
    let full = format_ts(ts);
    full.get(11..23).unwrap_or(&full).to_owned()
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

/// A duration in milliseconds as people read it in a line or a table: `4.2 ms`.
#[must_use]
pub(crate) fn format_ms(ms: f64) -> String {
    format!("{ms:.1} ms")
}

/// `n word` or `n words`.
#[must_use]
pub(crate) fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// A file size as a message states it: `812 bytes`, `48.2 KiB (49321 bytes)`, `3.1 MiB
/// (3250585 bytes)`: the rounded figure to read, the exact one to compare.
#[must_use]
pub(crate) fn byte_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    #[allow(clippy::cast_precision_loss)]
    let scaled = |unit: u64| bytes as f64 / unit as f64;
    if bytes < KIB {
        plural(bytes, "byte")
    } else if bytes < KIB * KIB {
        format!("{:.1} KiB ({bytes} bytes)", scaled(KIB))
    } else {
        format!("{:.1} MiB ({bytes} bytes)", scaled(KIB * KIB))
    }
}

/// Packet numbers as evidence is cited: `4, 6, 9`.
#[must_use]
pub(crate) fn packet_list(packets: &[u64]) -> String {
    packets
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /path` (raw: escape it for the output), or `(request not captured)`.
#[must_use]
pub(crate) fn request_summary(r: &HandshakeRecord) -> String {
    match (&r.method, &r.path) {
        (Some(m), Some(p)) => format!("{m} {p}"),
        _ => "(request not captured)".to_owned(),
    }
}

/// The path of a request target, without its query or fragment: what tables group by, so
/// `/chat?token=a` and `/chat?token=b` count as one path and no query value (a token, a
/// session id) is shown where only the path was asked for.
#[must_use]
pub(crate) fn target_path(target: &str) -> &str {
    target
        .find(['?', '#'])
        .and_then(|i| target.get(..i))
        .unwrap_or(target)
}

/// Verdicts in the order every listing and every cycle uses: worst first, the order people
/// triage in.
pub(crate) const VERDICTS_WORST_FIRST: [Verdict; 4] = [
    Verdict::Failed,
    Verdict::Incomplete,
    Verdict::Warning,
    Verdict::Ok,
];

/// How bad a verdict is, for sorting: `ok` 0 up to `failed` 3 (the reverse of
/// [`VERDICTS_WORST_FIRST`]).
#[must_use]
pub(crate) fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Ok => 0,
        Verdict::Warning => 1,
        Verdict::Incomplete => 2,
        Verdict::Failed => 3,
    }
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
    fn control_escapes_are_the_formatted_ones() {
        for code in (0..0x3000).chain([0xfeff, 0x10_ffff]) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let want = if c == '\t' || !(c.is_control() || is_invisible(c)) {
                c.to_string()
            } else if c.is_control() && code < 0x100 {
                format!("\\x{code:02x}")
            } else {
                format!("\\u{{{code:x}}}")
            };
            assert_eq!(escape(&c.to_string()), want, "{code:x}");
        }
    }

    #[test]
    fn escape_html_neutralises_markup_and_terminal_escapes() {
        assert_eq!(
            escape_html("<script>alert('x')</script>&\x1b[31m\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\\x1b[31m&quot;"
        );
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_ts(Timestamp(0)), "1970-01-01 00:00:00.000000");
        assert_eq!(
            format_ts(Timestamp(1_700_000_000_123_456_789)),
            "2023-11-14 22:13:20.123456"
        );
        assert_eq!(
            format_time_of_day(Timestamp(1_700_000_000_123_456_789)),
            "22:13:20.123"
        );
    }

    #[test]
    fn verdict_rank_follows_the_worst_first_order() {
        let ranks: Vec<u8> = VERDICTS_WORST_FIRST
            .iter()
            .map(|v| verdict_rank(*v))
            .collect();
        assert_eq!(ranks, vec![3, 2, 1, 0]);
    }

    #[test]
    fn lists_and_counts() {
        assert_eq!(packet_list(&[4, 6]), "4, 6");
        assert_eq!(plural(1, "hop"), "1 hop");
        assert_eq!(plural(2, "hop"), "2 hops");
        assert_eq!(format_ms(4.26), "4.3 ms");
    }

    #[test]
    fn target_paths_drop_the_query() {
        assert_eq!(target_path("/chat?token=abc&room=1"), "/chat");
        assert_eq!(target_path("/a#frag"), "/a");
        assert_eq!(target_path("/plain"), "/plain");
        assert_eq!(target_path("?only"), "");
        assert_eq!(target_path("http://h/x?y"), "http://h/x");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size(1), "1 byte");
        assert_eq!(byte_size(812), "812 bytes");
        assert_eq!(byte_size(49_321), "48.2 KiB (49321 bytes)");
        assert_eq!(byte_size(3_250_585), "3.1 MiB (3250585 bytes)");
    }
}
