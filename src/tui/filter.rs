//! The filter bar's language and what it searches: `v:`/`verdict:`, `code:`, bare verdict
//! names and finding codes, and free text matched against every text a handshake row or its
//! detail view shows (columns, headers, findings). Shared by the handshake table and the other
//! tabs; imports nothing else of the TUI, so every part of it can use it.

use crate::event::{HandshakeRecord, Verdict};
use crate::finding::Code;

/// Response latency, or how long the client waited for an answer that never came.
#[must_use]
pub(crate) fn latency_ms(r: &HandshakeRecord) -> Option<f64> {
    r.timing.response_ms.or(r.timing.waited_ms)
}

/// How the latency column shows a record: the response time, or how long the request waited
/// without an answer (a different thing, shown apart as `wait …`).
#[must_use]
pub(crate) fn latency_cell(r: &HandshakeRecord) -> String {
    match (r.timing.response_ms, r.timing.waited_ms) {
        (Some(ms), _) => format!("{ms:.1}ms"),
        (None, Some(ms)) => format!("wait {ms:.0}ms"),
        (None, None) => String::new(),
    }
}

/// Every text a handshake row or its detail view shows, for the filter: the columns, the
/// subprotocols and extensions, every request and response header line, the finding codes.
pub(crate) fn handshake_text(r: &HandshakeRecord, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "{}\n{} → {}\n{}\n{}\n{}\n{}",
        crate::present::format_time_of_day(r.ts),
        r.client,
        r.server,
        r.status.map(|s| s.to_string()).unwrap_or_default(),
        latency_cell(r),
        r.verdict.as_str(),
        r.community_id,
    );
    for v in [
        &r.host,
        &r.path,
        &r.method,
        &r.origin,
        &r.subprotocol,
        &r.key,
        &r.accept,
    ]
    .into_iter()
    .flatten()
    {
        out.push_str(v);
        out.push('\n');
    }
    for v in r
        .subprotocols_offered
        .iter()
        .chain(&r.extensions_offered)
        .chain(&r.extensions)
    {
        out.push_str(v);
        out.push('\n');
    }
    for m in r.request.iter().chain(&r.interim).chain(&r.response) {
        out.push_str(&m.head.start_line);
        out.push('\n');
        for h in &m.head.headers {
            out.push_str(&h.line());
            out.push('\n');
        }
    }
    for f in &r.findings {
        out.push_str(f.code.as_str());
        out.push('\n');
        out.push_str(&f.message);
        out.push('\n');
    }
}

/// What the table shows: free-text terms plus the quick filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Lower-case terms; each must occur somewhere in a row: any column, any request or
    /// response header line, a finding's code or message.
    pub terms: Vec<String>,
    /// Only this verdict.
    pub verdict: Option<Verdict>,
    /// Only handshakes with a finding of this code.
    pub code: Option<Code>,
}

impl Filter {
    /// Parses the filter bar: `v:failed` / `verdict:failed`, `code:accept_mismatch`, a bare
    /// verdict name or finding code, anything else is a text term. Unknown `code:` values are
    /// returned as errors so the user learns why nothing matched.
    ///
    /// # Errors
    /// A `code:` or `verdict:` value that does not exist.
    pub fn parse(s: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for token in s.split_whitespace() {
            let lower = token.to_lowercase();
            if let Some(v) = lower
                .strip_prefix("verdict:")
                .or_else(|| lower.strip_prefix("v:"))
            {
                filter.verdict =
                    Some(Verdict::parse(v).ok_or_else(|| format!("unknown verdict `{v}`"))?);
            } else if let Some(c) = lower
                .strip_prefix("code:")
                .or_else(|| lower.strip_prefix("c:"))
            {
                filter.code =
                    Some(Code::parse(c).ok_or_else(|| format!("unknown finding code `{c}`"))?);
            } else if let Some(v) = Verdict::parse(&lower) {
                filter.verdict = Some(v);
            } else if let Some(c) = Code::parse(&lower) {
                filter.code = Some(c);
            } else {
                filter.terms.push(lower);
            }
        }
        Ok(filter)
    }

    /// The filter written back in the syntax [`Filter::parse`] reads.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(v) = self.verdict {
            parts.push(format!("v:{}", v.as_str()));
        }
        if let Some(c) = self.code {
            parts.push(format!("code:{}", c.as_str()));
        }
        parts.extend(self.terms.iter().cloned());
        parts.join(" ")
    }

    /// No restriction at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.verdict.is_none() && self.code.is_none()
    }

    /// Whether `r` passes.
    #[must_use]
    pub fn matches(&self, r: &HandshakeRecord) -> bool {
        if !self.matches_quick(r) {
            return false;
        }
        if self.terms.is_empty() {
            return true;
        }
        let mut hay = String::new();
        handshake_text(r, &mut hay);
        self.terms_in(hay)
    }

    /// Whether every text term is in `hay`, a text [`fold_case`] already lower-cased (a
    /// cached haystack): no copy, no case folding, one substring search per term.
    #[must_use]
    pub(crate) fn terms_in_folded(&self, hay: &str) -> bool {
        self.terms.iter().all(|t| hay.contains(t.as_str()))
    }

    /// Whether `r` passes the quick filters (verdict, finding code), the text aside.
    #[must_use]
    pub(crate) fn matches_quick(&self, r: &HandshakeRecord) -> bool {
        self.verdict.is_none_or(|v| v == r.verdict)
            && self
                .code
                .is_none_or(|code| r.findings.iter().any(|f| f.code == code))
    }

    /// Whether every row `self` passes also passes `wider`: the same quick filters or more,
    /// and each of `wider`'s terms inside one of `self`'s (the filter as typed one more
    /// character), so a view can be narrowed instead of rebuilt from every record.
    #[must_use]
    pub(crate) fn narrows(&self, wider: &Filter) -> bool {
        (wider.verdict.is_none() || wider.verdict == self.verdict)
            && (wider.code.is_none() || wider.code == self.code)
            && wider
                .terms
                .iter()
                .all(|w| self.terms.iter().any(|t| t.contains(w.as_str())))
    }

    /// Whether every text term is in `hay` (compared lower-cased, [`fold_case`]).
    pub(crate) fn terms_in(&self, hay: String) -> bool {
        self.terms_in_folded(&fold_case(hay))
    }
}

/// `hay` lower-cased as the filter compares it. Most text on the wire is ASCII, and the rest
/// of a row (`→`, `…`) has no case: lower-cased in place then, without the copy and the
/// Unicode tables `to_lowercase` costs; only text with an upper-case letter beyond ASCII
/// takes them.
#[must_use]
pub(crate) fn fold_case(mut hay: String) -> String {
    hay.make_ascii_lowercase();
    if !hay.is_ascii()
        && hay
            .chars()
            .any(|c| !c.is_ascii() && !c.to_lowercase().eq(std::iter::once(c)))
    {
        hay = hay.to_lowercase();
    }
    hay
}

/// Most bytes of search text one view caches ([`Haystacks`]); past it, the text of a
/// record is built again at each filter pass (slower keys, bounded memory).
pub const MAX_HAYSTACK_BYTES: usize = 32 * 1024 * 1024;

/// Bytes a cached haystack costs besides its text (the boxed slice and its allocation).
const HAYSTACK_ENTRY_BYTES: usize = 32;

/// Each record's search text (every column, header and finding it shows, lower-cased),
/// built once when the record arrives and kept by the record's arrival index, so a
/// keystroke in the filter bar is a substring search per record instead of formatting and
/// lower-casing every record again. Dropped ([`Haystacks::invalidate`]) when what a record
/// shows changes (a proxy hop arrives for a handshake); bounded by [`MAX_HAYSTACK_BYTES`].
#[derive(Debug, Default)]
pub(crate) struct Haystacks {
    texts: Vec<Option<Box<str>>>,
    bytes: usize,
    /// Nothing is cached: every filter pass builds each text again (the cost before the
    /// cache, which the timing test measures it against).
    off: bool,
}

impl Haystacks {
    /// Caches nothing from now on (and forgets what it held).
    pub(crate) fn disable(&mut self) {
        *self = Haystacks {
            off: true,
            ..Haystacks::default()
        };
    }

    /// Builds the text of record `index` with `build` (unless cached already or the cache
    /// is full).
    pub(crate) fn build(&mut self, index: usize, build: impl FnOnce(&mut String)) {
        if self.off
            || self.texts.get(index).is_some_and(Option::is_some)
            || self.bytes >= MAX_HAYSTACK_BYTES
        {
            return;
        }
        if self.texts.len() <= index {
            self.texts.resize(index + 1, None);
        }
        let mut hay = String::new();
        build(&mut hay);
        let hay = fold_case(hay).into_boxed_str();
        self.bytes += hay.len() + HAYSTACK_ENTRY_BYTES;
        if let Some(slot) = self.texts.get_mut(index) {
            *slot = Some(hay);
        }
    }

    /// The cached text of record `index`, lower-cased.
    #[must_use]
    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        self.texts.get(index).and_then(Option::as_deref)
    }

    /// Forgets the text of record `index` (what the record shows changed).
    pub(crate) fn invalidate(&mut self, index: usize) {
        if let Some(old) = self.texts.get_mut(index).and_then(Option::take) {
            self.bytes -= old.len() + HAYSTACK_ENTRY_BYTES;
        }
    }

    /// Bytes held (at most about [`MAX_HAYSTACK_BYTES`]).
    #[must_use]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `filter`'s text terms are all in record `index`'s text: the cached one, or
    /// one built by `build` now when it is not cached.
    pub(crate) fn terms_in(
        &self,
        filter: &Filter,
        index: usize,
        build: impl FnOnce(&mut String),
    ) -> bool {
        if filter.terms.is_empty() {
            return true;
        }
        match self.get(index) {
            Some(hay) => filter.terms_in_folded(hay),
            None => {
                let mut hay = String::new();
                build(&mut hay);
                filter.terms_in(hay)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terms match whatever the case of the text, ASCII or not, with caseless symbols
    /// (`→`) around them.
    #[test]
    fn terms_match_case_insensitively_beyond_ascii() {
        let f = Filter::parse("évil proxy").unwrap();
        assert!(f.terms_in("10.0.0.1 → ÉVIL Proxy".to_owned()));
        assert!(f.terms_in("évil → PROXY".to_owned()));
        assert!(!f.terms_in("evil → proxy".to_owned()));
        let typed = |s: &str| Filter::parse(s).unwrap();
        assert!(typed("evil.v").narrows(&typed("evil")));
        assert!(typed("evil v:failed").narrows(&typed("evil")));
        assert!(typed("evil").narrows(&Filter::default()));
        assert!(
            !typed("evi").narrows(&typed("evil")),
            "a deleted character widens"
        );
        assert!(!typed("evil").narrows(&typed("evil v:failed")));
        assert!(!typed("other").narrows(&typed("evil")));
        let ascii = Filter::parse("origin: http://evil").unwrap();
        assert!(ascii.terms_in("Origin: HTTP://EVIL.example → x".to_owned()));
    }
}
