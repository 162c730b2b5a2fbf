//! HTTP/1.x message heads as parsed from the wire: the shape every stage after `http` speaks
//! (handshake checks, hop diffs, sinks). Parsing lives in `http::head`.

use serde::Serialize;

/// One header field as on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Field name as sent (case preserved).
    pub name: String,
    /// Field value, trimmed of surrounding whitespace; invalid UTF-8 replaced.
    pub value: String,
}

impl Header {
    /// The header line as it would appear on the wire (`Name: value`).
    #[must_use]
    pub fn line(&self) -> String {
        format!("{}: {}", self.name, self.value)
    }
}

/// The kind-specific part of a head's start line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD target HTTP/1.x`
    Request {
        /// Method token.
        method: String,
        /// Request target.
        target: String,
    },
    /// `HTTP/1.x status reason`
    Response {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
    },
}

/// A parsed request or response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Request or status line fields.
    pub start: StartLine,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// The start line exactly as sent (invalid UTF-8 replaced).
    pub start_line: String,
    /// Header fields in wire order.
    pub headers: Vec<Header>,
    /// Length of the head in bytes, blank line included.
    pub len: usize,
    /// The head exactly as sent, line endings and blank line included (invalid UTF-8
    /// replaced). Kept so a forensic report can show the bytes as on the wire: `headers`
    /// loses whitespace, obsolete line folding and the line-ending style.
    pub raw: String,
}

impl Head {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every header field named `name` (case-insensitive).
    pub fn fields<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    }

    /// The first value of header `name`.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Whether any value of `name`, as a comma list, holds `token` (case-insensitive).
    #[must_use]
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        // One loop, no flattening iterator (the checks call this a dozen times a head); a
        // value shorter than the token cannot hold it, since trimming only shortens.
        self.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case(name)
                && h.value.len() >= token.len()
                && h.value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    }

    /// All comma-separated items of every `name` header, trimmed, empty items skipped.
    #[must_use]
    pub fn list(&self, name: &str) -> Vec<String> {
        let mut items = Vec::new();
        for value in self.values(name) {
            for item in value.split(',').map(str::trim) {
                if !item.is_empty() {
                    items.push(item.to_owned());
                }
            }
        }
        items
    }

    /// The status code, for a response.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The method, for a request.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }
}
