//! How every sink shows a kept HTTP body: its text as lines (or a note for binary), then a
//! bracketed note when the lines are not the whole body. Plain strings, not escaped: each
//! sink escapes for its medium.

use crate::event::BodyExcerpt;

/// Lines of a body as shown, at most `max_lines` of its text (a note says how many more):
/// the text split at line ends (`\r\n` or `\n`), then `[first 4096 of 120000 bytes, gzip]`
/// when it is cut or was decoded; a binary body is one line, `[binary, 312 bytes: 89 50 4e
/// …]`. Empty for an empty body.
#[must_use]
pub(crate) fn body_lines(body: &BodyExcerpt, max_lines: usize) -> Vec<String> {
    if body.bytes.is_empty() && !body.truncated && body.problem.is_none() {
        return Vec::new();
    }
    let Some(text) = body.text() else {
        let more = if body.bytes.len() > crate::event::body::BINARY_SHOWN {
            " …"
        } else {
            ""
        };
        return vec![format!("[{}: {}{more}]", body.describe(), body.hex())];
    };
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    let hidden = lines.len().saturating_sub(max_lines);
    lines.truncate(max_lines);
    let mut note = Vec::new();
    if hidden > 0 {
        note.push(format!("{hidden} more lines"));
    }
    if body.truncated || body.content_encoding.is_some() || body.problem.is_some() || hidden > 0 {
        note.push(body.describe());
        lines.push(format!("[{}]", note.join("; ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8], truncated: bool) -> BodyExcerpt {
        BodyExcerpt {
            bytes: bytes.to_vec(),
            length: Some(if truncated { 9000 } else { bytes.len() as u64 }),
            truncated,
            ..BodyExcerpt::default()
        }
    }

    #[test]
    fn text_is_split_into_lines_and_a_cut_is_said() {
        assert_eq!(body_lines(&body(b"a\r\nb\n", false), 10), ["a", "b"]);
        assert_eq!(
            body_lines(&body(b"a\nb\nc", true), 2),
            ["a", "b", "[1 more lines; first 5 of 9000 bytes]"]
        );
        assert_eq!(
            body_lines(&body(&[0x89, b'P', 0, 1], false), 10),
            ["[binary, 4 bytes: 89 50 00 01]"]
        );
        assert!(body_lines(&body(b"", false), 10).is_empty());
    }
}
