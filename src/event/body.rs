//! The first bytes of an HTTP body as the sinks see them: decoded (chunked and gzip/deflate
//! undone), bounded, with what is known about the rest. `http::body` produces it; the sinks
//! show it escaped, the handshake checks quote a short reason from it.
//!
//! Holds bytes, never interprets them beyond telling text from binary.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// Most bytes of a binary body shown as hex (JSON `hex`, the `-v` line).
pub const BINARY_SHOWN: usize = 64;
/// Most characters of a body quoted as a finding's reason.
pub const REASON_CHARS: usize = 160;

/// The first bytes of one HTTP body, decoded, and what is known about the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyExcerpt {
    /// The first bytes of the body after transfer and content decoding (at most the reader's
    /// cap, `--body-bytes`).
    pub bytes: Vec<u8>,
    /// The body's length as sent (after chunked decoding, before content decoding), when the
    /// whole body was seen or its Content-Length said so.
    pub length: Option<u64>,
    /// `bytes` is not the whole body: it was longer than the cap, or the capture or the
    /// connection ended before it did, or it could not be decoded to the end.
    pub truncated: bool,
    /// The `Content-Encoding` the body was sent with (`gzip`, `deflate`, `br`, …), when not
    /// identity.
    pub content_encoding: Option<String>,
    /// `bytes` are still encoded: the coding is not one wssniff decodes (`br`, `zstd`) or the
    /// data was corrupt from the start.
    pub undecoded: bool,
    /// What went wrong reading it, for a person: a corrupt gzip stream, a bad chunk size, the
    /// connection ending mid-body.
    pub problem: Option<String>,
}

impl BodyExcerpt {
    /// Whether the bytes are binary rather than text: a NUL byte, invalid UTF-8 (a sequence
    /// cut by the cap at the end does not count), many control characters, or still encoded.
    #[must_use]
    pub fn is_binary(&self) -> bool {
        if self.undecoded {
            return true;
        }
        let bytes = &self.bytes;
        if bytes.contains(&0) {
            return true;
        }
        let valid = match std::str::from_utf8(bytes) {
            Ok(_) => true,
            // Only an incomplete sequence at the very end (the cap cut a character).
            Err(e) => e.error_len().is_none() && bytes.len() - e.valid_up_to() < 4,
        };
        if !valid {
            return true;
        }
        let controls = bytes
            .iter()
            .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
            .count();
        controls * 8 > bytes.len()
    }

    /// The bytes as text (invalid UTF-8 replaced), `None` when binary. Not escaped: sinks
    /// escape it for their medium.
    #[must_use]
    pub fn text(&self) -> Option<String> {
        (!self.is_binary()).then(|| String::from_utf8_lossy(&self.bytes).into_owned())
    }

    /// Hex of the first [`BINARY_SHOWN`] bytes (`3c 68 74 …`), for a binary body.
    #[must_use]
    pub fn hex(&self) -> String {
        let shown: Vec<String> = self
            .bytes
            .iter()
            .take(BINARY_SHOWN)
            .map(|b| format!("{b:02x}"))
            .collect();
        shown.join(" ")
    }

    /// One line for a person saying what the body is: `59 bytes`, `first 4096 of 120000
    /// bytes, gzip`, `binary, 312 bytes`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.is_binary() {
            parts.push("binary".to_owned());
        }
        parts.push(match (self.length, self.truncated) {
            (Some(n), false) => format!("{n} bytes"),
            (Some(n), true) => format!("first {} of {n} bytes", self.bytes.len()),
            (None, false) => format!("{} bytes", self.bytes.len()),
            (None, true) => format!("first {} bytes", self.bytes.len()),
        });
        if let Some(coding) = &self.content_encoding {
            parts.push(if self.undecoded {
                format!("{coding}, not decoded")
            } else {
                coding.clone()
            });
        }
        if let Some(problem) = &self.problem {
            parts.push(problem.clone());
        }
        parts.join(", ")
    }

    /// A short text reason to quote in a finding: the body's text with HTML tags removed and
    /// whitespace collapsed, cut at [`REASON_CHARS`]. `None` for a binary or empty body, or
    /// when nothing is left once the words in `noise` (the status line, the Server value:
    /// what an error page only repeats) are taken out.
    #[must_use]
    pub fn reason(&self, noise: &[&str]) -> Option<String> {
        let text = self.text()?;
        let trimmed = text.trim_start();
        let plain = if trimmed.starts_with('<') {
            strip_tags(trimmed)
        } else {
            text.clone()
        };
        let collapsed = plain.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut rest = collapsed.clone();
        for n in noise.iter().filter(|n| !n.is_empty()) {
            rest = rest.replace(n, " ");
        }
        if !rest.chars().any(char::is_alphanumeric) {
            return None;
        }
        let mut reason: String = collapsed.chars().take(REASON_CHARS).collect();
        if collapsed.chars().count() > REASON_CHARS || self.truncated {
            reason.push('…');
        }
        Some(reason)
    }
}

/// Text outside `<…>` tags, with `<script>`/`<style>` contents left out: the words of an
/// error page.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(rest.get(..open).unwrap_or_default());
        out.push(' ');
        let after = rest.get(open..).unwrap_or_default();
        let lower: String = after
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        let skip_to = if lower.starts_with("<script") {
            "</script>"
        } else if lower.starts_with("<style") {
            "</style>"
        } else {
            ">"
        };
        rest = match find_ci(after, skip_to) {
            Some(end) => after.get(end + skip_to.len()..).unwrap_or_default(),
            None => "",
        };
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Byte position of `needle` (ASCII) in `hay`, ignoring ASCII case.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    hay.as_bytes()
        .windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
}

impl Serialize for BodyExcerpt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.text();
        let mut st = s.serialize_struct("BodyExcerpt", 6)?;
        match &text {
            Some(t) => st.serialize_field("text", t)?,
            None => st.serialize_field("hex", &self.hex())?,
        }
        st.serialize_field("kept_bytes", &self.bytes.len())?;
        st.serialize_field("length", &self.length)?;
        st.serialize_field("truncated", &self.truncated)?;
        if let Some(coding) = &self.content_encoding {
            st.serialize_field("content_encoding", coding)?;
            st.serialize_field("decoded", &!self.undecoded)?;
        }
        if let Some(problem) = &self.problem {
            st.serialize_field("problem", problem)?;
        }
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8]) -> BodyExcerpt {
        BodyExcerpt {
            bytes: bytes.to_vec(),
            length: Some(bytes.len() as u64),
            ..BodyExcerpt::default()
        }
    }

    #[test]
    fn text_and_binary_are_told_apart() {
        assert!(!body(b"Failed to open a WebSocket connection.\n").is_binary());
        assert!(!body("caf\u{e9} \x1b[31m".as_bytes()).is_binary());
        assert!(body(b"\x89PNG\r\n\x1a\n\0\0").is_binary());
        assert!(body(b"\xff\xfe\xfd").is_binary());
        assert!(body(&[1, 2, 3, 4, 5, 6, b'a']).is_binary());
        // A character cut by the cap at the end is still text.
        let mut cut = body("d\u{e9}j\u{e0}".as_bytes());
        cut.bytes.pop();
        assert!(!cut.is_binary());
        assert_eq!(body(&[0, 1, 0xab]).hex(), "00 01 ab");
    }

    #[test]
    fn a_reason_is_the_text_without_tags_or_what_the_page_only_repeats() {
        let b = body(b"Failed to open a WebSocket connection: missing subprotocol.\n");
        assert_eq!(
            b.reason(&["400 Bad Request"]).as_deref(),
            Some("Failed to open a WebSocket connection: missing subprotocol.")
        );
        let nginx = body(b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n");
        assert_eq!(nginx.reason(&["502 Bad Gateway", "nginx/1.22.1"]), None);
        let page = body(b"<html><style>p{x}</style><p>Origin &quot;x&quot; not allowed</p></html>");
        assert_eq!(
            page.reason(&[]).as_deref(),
            Some("Origin \"x\" not allowed")
        );
        let long = body(&[b'a'; 500]);
        assert_eq!(long.reason(&[]).map(|r| r.chars().count()), Some(161));
        assert_eq!(body(b"\0\0").reason(&[]), None);
        assert_eq!(body(b"  \n").reason(&[]), None);
    }

    #[test]
    fn json_carries_text_or_hex_and_the_truncated_flag() {
        let mut b = body(b"hi");
        b.truncated = true;
        b.length = Some(10);
        b.content_encoding = Some("gzip".to_owned());
        let v = serde_json::to_value(&b).unwrap_or_default();
        assert_eq!(v["text"], "hi");
        assert_eq!(v["truncated"], true);
        assert_eq!(v["length"], 10);
        assert_eq!(v["decoded"], true);
        assert_eq!(b.describe(), "first 2 of 10 bytes, gzip");
        let v = serde_json::to_value(body(&[0, 1])).unwrap_or_default();
        assert_eq!(v["hex"], "00 01");
        assert!(v.get("text").is_none() && v.get("content_encoding").is_none());
    }
}
