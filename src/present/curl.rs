//! The curl replay line: the captured request sent again to the captured server, as a shell
//! command a person can paste. The TUI copies it, the report prints it; both call
//! [`curl_command`], so they cannot disagree, and both lay it out for reading and copying
//! with [`curl_for_copying`] (the TUI's popup, the Markdown report).

use super::escape;
use super::redact::{has_placeholder, PLACEHOLDER_NOTE};
use crate::event::{HandshakeRecord, StartLine};

/// Headers curl computes itself; copying them would make the replay wrong.
const CURL_SKIP: &[&str] = &["content-length", "transfer-encoding"];

/// Quotes for a POSIX shell: single quotes, `'` as `'\''`. Control characters are shown
/// escaped (`\x1b`) so the command cannot carry them into a terminal.
#[must_use]
fn shell_quote(s: &str) -> String {
    format!("'{}'", escape(s).replace('\'', "'\\''"))
}

/// A `curl -i` command sending the captured request to the captured server: the request's
/// HTTP version (`--http1.0` or `--http1.1`), its method when not GET, and every header as on
/// the wire but those curl computes. The URL names the server's address and the Host header
/// goes in `-H`, so the request reaches the same hop with the same Host even where the name
/// resolves elsewhere. `None` when the request was not captured.
#[must_use]
pub fn curl_command(r: &HandshakeRecord) -> Option<String> {
    let req = r.request.as_ref()?;
    let StartLine::Request { method, target } = &req.head.start else {
        return None;
    };
    let version = if req.head.version_minor == 0 {
        "--http1.0"
    } else {
        "--http1.1"
    };
    let mut parts = vec![format!("curl -i {version}")];
    if method != "GET" {
        parts.push(format!("-X {}", shell_quote(method)));
    }
    for h in &req.head.headers {
        if CURL_SKIP.iter().any(|s| h.name.eq_ignore_ascii_case(s)) {
            continue;
        }
        parts.push(format!("-H {}", shell_quote(&h.line())));
    }
    let path = if target.starts_with('/') {
        target.clone()
    } else {
        format!("/{target}")
    };
    parts.push(shell_quote(&format!("http://{}{path}", r.server)));
    Some(parts.join(" "))
}

/// The curl command laid out for copying from the screen: one argument per line (an option
/// with its quoted value together), each line but the last ending in ` \`, so a terminal
/// selection pastes as one command and no line wraps inside an argument.
#[must_use]
pub fn curl_for_copying(cmd: &str) -> String {
    // Shell words as `curl_command` writes them: single-quoted values, `'\''` for
    // a quote inside one.
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for ch in cmd.chars() {
        if escaped {
            word.push(ch);
            escaped = false;
            continue;
        }
        match ch {
            '\'' => {
                quoted = !quoted;
                word.push(ch);
            }
            '\\' if !quoted => {
                escaped = true;
                word.push(ch);
            }
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(ch),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut it = words.into_iter().peekable();
    while let Some(w) = it.next() {
        let mut line = w;
        if line.starts_with('-') && it.peek().is_some_and(|n| n.starts_with('\'')) {
            if let Some(value) = it.next() {
                line.push(' ');
                line.push_str(&value);
            }
        }
        lines.push(line);
    }
    let last = lines.len().saturating_sub(1);
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let indent = if i == 0 { "" } else { "  " };
            let cont = if i == last { "" } else { " \\" };
            format!("{indent}{l}{cont}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What to say next to a curl line whose credentials are placeholders (a redacted record):
/// replaying it sends the placeholders, not the credentials. `None` when there are none.
#[must_use]
pub fn curl_replay_note(cmd: &str) -> Option<&'static str> {
    has_placeholder(cmd).then_some(PLACEHOLDER_NOTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_line_says_so() {
        assert_eq!(curl_replay_note("curl -i 'http://h/'"), None);
        assert_eq!(
            curl_replay_note("curl -i -H 'Authorization: Bearer <redacted:0123abcd>' 'http://h/'"),
            Some(PLACEHOLDER_NOTE)
        );
    }

    #[test]
    fn curl_is_laid_out_one_argument_per_line() {
        let cmd = "curl -i --http1.1 -H 'User-Agent: a b' -H 'X: it'\\''s' 'http://h/p'";
        assert_eq!(
            curl_for_copying(cmd),
            "curl \\\n  -i \\\n  --http1.1 \\\n  -H 'User-Agent: a b' \\\n  -H 'X: it'\\''s' \\\n  'http://h/p'"
        );
    }

    #[test]
    fn shell_quote_is_inert() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
        assert_eq!(shell_quote("x\x1b[2Jy"), "'x\\x1b[2Jy'");
    }
}
