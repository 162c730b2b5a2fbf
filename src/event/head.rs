//! HTTP/1.x message heads as parsed from the wire: the shape every stage after `http` speaks
//! (handshake checks, hop diffs, sinks). Parsing lives in `http::head`.

use std::borrow::Cow;

use serde::Serialize;

/// One header field as on the wire, owned: what a head is built from outside the HTTP/1
/// parser (HTTP/2's fields, hop diffs, tests). A [`Head`] keeps its fields in [`Headers`]
/// and lends them out as [`Field`]s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Field name as sent (case preserved).
    pub name: String,
    /// Field value, trimmed of surrounding whitespace; invalid UTF-8 replaced.
    pub value: String,
}

/// One header field of a [`Head`], borrowed from its [`Headers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Field<'h> {
    /// Field name as sent (case preserved).
    pub name: &'h str,
    /// Field value, trimmed of surrounding whitespace; invalid UTF-8 replaced.
    pub value: &'h str,
}

impl Field<'_> {
    /// The header line as it would appear on the wire (`Name: value`).
    #[must_use]
    pub fn line(&self) -> String {
        format!("{}: {}", self.name, self.value)
    }

    /// Whether this field is `name` (case-insensitive).
    #[inline]
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        same_name(self.name, name)
    }

    /// Whether the value, as a comma list, holds `token` (case-insensitive; items trimmed
    /// as text).
    #[must_use]
    pub fn holds(&self, token: &str) -> bool {
        any_item(self.value, token.len(), |t| same_name(t, token))
    }

    /// Whether this field is `name` (case-insensitive), `name` known in advance.
    #[inline]
    #[must_use]
    pub fn is_named(&self, name: &LowerName) -> bool {
        name.matches(self.name.as_bytes())
    }

    /// [`Field::holds`] of a token known in advance.
    #[must_use]
    pub fn holds_name(&self, token: &LowerName) -> bool {
        any_item(self.value, token.len(), |t| token.matches(t.as_bytes()))
    }

    /// The owned copy.
    #[must_use]
    pub fn to_header(&self) -> Header {
        Header {
            name: self.name.to_owned(),
            value: self.value.to_owned(),
        }
    }
}

/// A name or value of [`Headers`]: one the handshake's fixed fields spell as wssniff knows
/// them is a constant, any other its own copy.
type Part = Cow<'static, str>;

/// A head's header fields in wire order. Names and values that an upgrade's fixed fields
/// spell as RFC 6455 does (`Upgrade: websocket`, `Sec-WebSocket-Version: 13`, …) are kept
/// as constants, not copied: a `String` per name and value made 19 allocations for b30's
/// upgrade requests' heads, and as many frees. Read as [`Field`]s, as plainly as strings
/// (one text with ranges into it made every read check two character boundaries a part:
/// as much as the allocations saved).
#[derive(Clone, Default)]
pub struct Headers {
    fields: Vec<(Part, Part)>,
}

impl Headers {
    /// Room for `fields` fields.
    #[must_use]
    pub fn with_capacity(fields: usize) -> Self {
        Headers {
            fields: Vec::with_capacity(fields),
        }
    }

    /// Adds a field at the end.
    pub fn push(&mut self, name: &str, value: &str) {
        self.fields.push((known_name(name), known_value(value)));
    }

    /// Replaces the value of field `i` (nothing when there is none).
    pub fn set_value(&mut self, i: usize, value: String) {
        if let Some((_, v)) = self.fields.get_mut(i) {
            *v = Cow::Owned(value);
        }
    }

    /// How many fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// No fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Field `i`, in wire order.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<Field<'_>> {
        self.fields.get(i).map(field)
    }

    /// The last field.
    #[must_use]
    pub fn last(&self) -> Option<Field<'_>> {
        self.fields.last().map(field)
    }

    /// Bytes of the names and values (what a kept head's fields hold).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.fields.iter().map(|(n, v)| n.len() + v.len()).sum()
    }

    /// The fields in wire order.
    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            fields: self.fields.iter(),
        }
    }
}

#[inline]
fn field((name, value): &(Part, Part)) -> Field<'_> {
    Field { name, value }
}

/// `name` as a constant when it is one of the upgrade's fields (or of the few most
/// responses carry) spelled as RFC 6455 and RFC 9110 spell them, else its copy.
fn known_name(name: &str) -> Part {
    const KNOWN: &[&str] = &[
        "Host",
        "Date",
        "Origin",
        "Server",
        "Upgrade",
        "Connection",
        "User-Agent",
        "Content-Type",
        "Cache-Control",
        "Content-Length",
        "Sec-WebSocket-Key",
        "Transfer-Encoding",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
    ];
    known(name, KNOWN)
}

/// `value` as a constant when it is one the upgrade's fields hold as RFC 6455 spells it,
/// else its copy.
fn known_value(value: &str) -> Part {
    const KNOWN: &[&str] = &[
        "13",
        "Upgrade",
        "upgrade",
        "chunked",
        "websocket",
        "keep-alive",
        "permessage-deflate",
    ];
    known(value, KNOWN)
}

#[inline]
fn known(text: &str, constants: &'static [&'static str]) -> Part {
    match constants.iter().find(|k| **k == text) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text.to_owned()),
    }
}

/// The fields of [`Headers`] in wire order.
#[derive(Clone)]
pub struct HeadersIter<'h> {
    fields: std::slice::Iter<'h, (Part, Part)>,
}

impl<'h> Iterator for HeadersIter<'h> {
    type Item = Field<'h>;

    #[inline]
    fn next(&mut self) -> Option<Field<'h>> {
        self.fields.next().map(field)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl DoubleEndedIterator for HeadersIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.fields.next_back().map(field)
    }
}

impl ExactSizeIterator for HeadersIter<'_> {}

impl<'h> IntoIterator for &'h Headers {
    type Item = Field<'h>;
    type IntoIter = HeadersIter<'h>;

    fn into_iter(self) -> HeadersIter<'h> {
        self.iter()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(fields: I) -> Self {
        let mut headers = Headers::default();
        for h in fields {
            headers.push(&h.name, &h.value);
        }
        headers
    }
}

impl<'h> FromIterator<Field<'h>> for Headers {
    fn from_iter<I: IntoIterator<Item = Field<'h>>>(fields: I) -> Self {
        let mut headers = Headers::default();
        for h in fields {
            headers.push(h.name, h.value);
        }
        headers
    }
}

impl From<Vec<Header>> for Headers {
    fn from(fields: Vec<Header>) -> Self {
        fields.into_iter().collect()
    }
}

/// Equal when the fields are, whether each part is a constant or a copy.
impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Whether an item of the comma list `value`, trimmed, is one `is` accepts. An item shorter
/// than `len` is not tried, since trimming only shortens. Items are found with a byte loop
/// (values are short; `split` sets up a searcher), and only those long enough trimmed.
#[inline]
fn any_item(value: &str, len: usize, is: impl Fn(&str) -> bool) -> bool {
    let mut rest = value;
    loop {
        let comma = rest.bytes().position(|b| b == b',');
        let item = comma.map_or(Some(rest), |at| rest.get(..at));
        if item.is_some_and(|t| t.len() >= len && is(trim(t))) {
            return true;
        }
        match comma.and_then(|at| rest.get(at + 1..)) {
            Some(more) => rest = more,
            None => return false,
        }
    }
}

/// `text.trim()`, without its walk when `text` starts and ends with ASCII bytes past the
/// space (as header values and their items nearly always do: httparse already dropped the
/// spaces and tabs around a value): `str::trim` decodes characters from both ends for
/// Unicode's white space (b30: 65 instructions a value).
#[inline]
#[must_use]
pub fn trim(text: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    if plain(text.as_bytes().first()) && plain(text.as_bytes().last()) {
        text
    } else {
        text.trim()
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
    pub headers: Headers,
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
            .filter(move |h| h.is(name))
            .map(|h| h.value)
    }

    /// Every header field named `name` (case-insensitive).
    pub fn fields<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Field<'a>> + 'a {
        self.headers.iter().filter(move |h| h.is(name))
    }

    /// The first value of header `name`.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.is(name)).map(|h| h.value)
    }

    /// Whether any value of `name`, as a comma list, holds `token` (case-insensitive).
    #[must_use]
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        // One loop, no flattening iterator: the checks call this a dozen times a head.
        self.headers.iter().any(|h| h.is(name) && h.holds(token))
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

#[inline]
fn same_name(a: &str, b: &str) -> bool {
    eq_ignore_ascii_case(a.as_bytes(), b.as_bytes())
}

/// `a.eq_ignore_ascii_case(b)`, a word at a time: the header lookups compare names and
/// tokens of four to twenty-odd bytes a dozen times a head, and the standard loop lowers
/// them one byte at a time below sixteen. Inlined: most calls end at the lengths.
#[inline]
#[must_use]
pub fn eq_ignore_ascii_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && same_length_equal(a, b)
}

/// [`eq_ignore_ascii_case`] of two slices of one length: whole words, then the last word
/// (overlapping the one before); under eight bytes, the first and last four.
fn same_length_equal(a: &[u8], b: &[u8]) -> bool {
    if let (Some(a_last), Some(b_last)) = (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        let (a_words, _) = a.as_chunks::<8>();
        let (b_words, _) = b.as_chunks::<8>();
        return lowercase_word(a_last) == lowercase_word(b_last)
            && a_words
                .iter()
                .zip(b_words)
                .all(|(x, y)| lowercase_word(x) == lowercase_word(y));
    }
    match (
        a.first_chunk::<4>(),
        b.first_chunk::<4>(),
        a.last_chunk::<4>(),
        b.last_chunk::<4>(),
    ) {
        (Some(a0), Some(b0), Some(a1), Some(b1)) => {
            lowercase_half(a0) == lowercase_half(b0) && lowercase_half(a1) == lowercase_half(b1)
        }
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// A name or token the header lookups compare fields with, known when wssniff is built:
/// lower-cased, as the eight-byte words of [`same_length_equal`] (the last overlapping the
/// one before; four-byte halves under eight bytes) and the bits that make its letters upper
/// case. A field's word then needs one OR to compare (a byte `x` with `x | 0x20 == c`, `c` a
/// lower-case letter, is `c` or its capital; the other bytes are compared as they are), where
/// [`eq_ignore_ascii_case`] lowers both sides (b30: 1.5 M instructions comparing names).
/// Names under four bytes, longer than 32 or not ASCII are compared by
/// [`eq_ignore_ascii_case`].
#[derive(Clone, Copy, Debug)]
pub struct LowerName {
    lower: &'static [u8],
    /// Each word's offset, its bytes (letters lower case) and its letters' case bits.
    words: [(usize, u64, u64); 4],
    /// How many of `words` are used; 0: compared by [`eq_ignore_ascii_case`].
    count: usize,
    /// The words are four-byte halves.
    halves: bool,
}

impl LowerName {
    /// The compare for `name` (any case; its letters are lowered here).
    #[must_use]
    pub const fn new(name: &'static [u8]) -> Self {
        let len = name.len();
        if !name.is_ascii() || len < 4 || len > 32 {
            return Self::plain(name);
        }
        let (halves, size) = if len < 8 { (true, 4) } else { (false, 8) };
        // Whole words, then one ending at the last byte when the length is not a multiple.
        let whole = len / size;
        let count = whole + if len.is_multiple_of(size) { 0 } else { 1 };
        LowerName {
            lower: name,
            words: [
                Self::slot(name, 0, count, whole, size),
                Self::slot(name, 1, count, whole, size),
                Self::slot(name, 2, count, whole, size),
                Self::slot(name, 3, count, whole, size),
            ],
            count,
            halves,
        }
    }

    /// Word `k` of `count`: whole words first, then the one ending at the last byte.
    const fn slot(
        name: &[u8],
        k: usize,
        count: usize,
        whole: usize,
        size: usize,
    ) -> (usize, u64, u64) {
        if k >= count {
            (0, 0, 0)
        } else if k < whole {
            Self::word(name, k * size, size)
        } else {
            Self::word(name, name.len() - size, size)
        }
    }

    const fn plain(name: &'static [u8]) -> Self {
        LowerName {
            lower: name,
            words: [(0, 0, 0); 4],
            count: 0,
            halves: false,
        }
    }

    /// The word of `size` bytes at `at`, little-endian as the field's is read, lowered, and
    /// its letters' case bits.
    const fn word(name: &[u8], at: usize, size: usize) -> (usize, u64, u64) {
        let mut rest = match name.split_at_checked(at) {
            Some((_, rest)) => rest,
            None => &[],
        };
        let (mut word, mut case) = (0u64, 0u64);
        let mut i = 0;
        while i < size {
            let Some((&b, more)) = rest.split_first() else {
                break;
            };
            let b = b.to_ascii_lowercase();
            word |= (b as u64) << (8 * i);
            if b.is_ascii_lowercase() {
                case |= 0x20 << (8 * i);
            }
            rest = more;
            i += 1;
        }
        (at, word, case)
    }

    /// Length in bytes.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.lower.len()
    }

    /// Never: a name is not empty (clippy's pairing for `len`).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Whether `name` is this one, ignoring ASCII case (as [`eq_ignore_ascii_case`]).
    #[inline]
    #[must_use]
    pub fn matches(&self, name: &[u8]) -> bool {
        name.len() == self.lower.len() && self.same_length(name)
    }

    fn same_length(&self, name: &[u8]) -> bool {
        let words = self.words.get(..self.count).unwrap_or_default();
        if words.is_empty() {
            return eq_ignore_ascii_case(name, self.lower);
        }
        // A word out of `name` (cannot be: the lengths are equal) reads as all ones, which
        // no ASCII word matches.
        let read = |at: usize| -> u64 {
            if self.halves {
                name.get(at..)
                    .and_then(<[u8]>::first_chunk::<4>)
                    .map_or(u64::MAX, |w| u64::from(u32::from_le_bytes(*w)))
            } else {
                name.get(at..)
                    .and_then(<[u8]>::first_chunk::<8>)
                    .map_or(u64::MAX, |w| u64::from_le_bytes(*w))
            }
        };
        words
            .iter()
            .all(|&(at, word, case)| read(at) | case == word)
    }
}

fn lowercase_half(bytes: &[u8; 4]) -> u64 {
    lowercase(u64::from(u32::from_le_bytes(*bytes)))
}

fn lowercase_word(bytes: &[u8; 8]) -> u64 {
    lowercase(u64::from_le_bytes(*bytes))
}

/// Eight bytes with `A`-`Z` lowered, others unchanged (bytes above 0x7f too): a byte is
/// upper case when its low seven bits reach `A` but pass no `Z` and its top bit is clear.
fn lowercase(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const TOP: u64 = 0x8080_8080_8080_8080;
    let low = word & LOW7;
    // Adding 0x80 - b'A' (0x3f) sets a byte's top bit from `A` on, 0x80 - b'Z' - 1 (0x25)
    // from past `Z` on; no byte carries into the next (at most 0x7f + 0x3f).
    let from_a = low.wrapping_add(0x3f3f_3f3f_3f3f_3f3f);
    let past_z = low.wrapping_add(0x2525_2525_2525_2525);
    let upper = from_a & !past_z & !word & TOP;
    word | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_compare_agrees_with_the_standard_one_for_every_byte_pair() {
        // Every pair of bytes at the first, a middle and the last position of names that
        // take one word, a word and a tail, two words, and the short path.
        for len in [1, 3, 4, 6, 7, 8, 11, 16, 21] {
            for at in [0, len / 2, len - 1] {
                for x in 0..=255u8 {
                    for y in 0..=255u8 {
                        let mut a = vec![b'k'; len];
                        let mut b = vec![b'K'; len];
                        a[at] = x;
                        b[at] = y;
                        assert_eq!(
                            eq_ignore_ascii_case(&a, &b),
                            a.eq_ignore_ascii_case(&b),
                            "{len} {at} {x:#x} {y:#x}"
                        );
                    }
                }
            }
        }
        assert!(!eq_ignore_ascii_case(b"Upgrade", b"Upgrades"));
        assert!(eq_ignore_ascii_case(
            b"SEC-WEBSOCKET-EXTENSIONS",
            b"sec-websocket-extensions"
        ));
        assert!(!eq_ignore_ascii_case(
            b"Sec-WebSocket-Extension@",
            b"sec-websocket-extension`"
        ));
    }

    #[test]
    fn a_name_known_in_advance_compares_as_the_word_compare_for_every_byte() {
        // Each byte value at the first, a middle and the last position of names of every
        // word layout (the byte fallback, halves, one word, words and an overlapping tail,
        // the longest kept in words, and past it), in each case of the name.
        const NAMES: &[&[u8]] = &[
            b"via",
            b"host",
            b"Origin",
            b"upgrade",
            b"Location",
            b"connection",
            b"WWW-Authenticate",
            b"sec-websocket-key",
            b"Sec-WebSocket-Version",
            b"sec-websocket-extensions",
            b"content-security-policy-report-o",
            b"content-security-policy-report-only",
            b"x_y-z.0@[]`{",
        ];
        for &name in NAMES {
            let lower = LowerName::new(name);
            let len = name.len();
            assert_eq!(lower.len(), len);
            for at in [0, len / 2, len - 1] {
                for x in 0..=255u8 {
                    for base in [name.to_ascii_lowercase(), name.to_ascii_uppercase()] {
                        let mut field = base.clone();
                        field[at] = x;
                        assert_eq!(
                            lower.matches(&field),
                            eq_ignore_ascii_case(&field, name),
                            "{:?} {at} {x:#x}",
                            String::from_utf8_lossy(name)
                        );
                    }
                }
            }
            assert!(!lower.matches(&name[..len - 1]));
            assert!(!lower.matches(&[name, b"x"].concat()));
        }
        let header = |value| Field {
            name: "Connection",
            value,
        };
        for value in [
            "keep-alive, \u{a0}Upgrade",
            "UPGRADE",
            "upgrades",
            "up",
            "",
            ",,",
            "x,upgrade ",
        ] {
            let h = header(value);
            assert_eq!(
                h.holds_name(&LowerName::new(b"upgrade")),
                h.holds("upgrade"),
                "{value:?}"
            );
            assert!(h.is_named(&LowerName::new(b"CONNECTION")));
        }
    }

    #[test]
    fn lookups_keep_their_meaning() {
        let head = Head {
            start: StartLine::Response {
                status: 101,
                reason: "Switching Protocols".to_owned(),
            },
            version_minor: 1,
            start_line: "HTTP/1.1 101 Switching Protocols".to_owned(),
            headers: [
                ("connection", "keep-alive, \u{a0}Upgrade"),
                ("UPGRADE", "h2c"),
                ("Upgrade", " WebSocket ,"),
                ("Sec-WebSocket-Extensions", "a, ,b"),
                ("x", "u"),
            ]
            .into_iter()
            .map(|(name, value)| Header {
                name: name.to_owned(),
                value: value.to_owned(),
            })
            .collect(),
            len: 0,
            raw: String::new(),
        };
        // Items are trimmed as text (a no-break space too), names and tokens compared
        // without case; a value shorter than the token holds none.
        assert!(head.has_token("Connection", "upgrade"));
        assert!(head.has_token("upgrade", "websocket"));
        assert!(head.has_token("Upgrade", "H2C"));
        assert!(!head.has_token("X", "uu"));
        assert!(head.has_token("X", "U"));
        assert_eq!(head.value("upgrade"), Some("h2c"));
        assert_eq!(head.values("Upgrade").count(), 2);
        assert_eq!(head.fields("SEC-websocket-extensions").count(), 1);
        assert_eq!(head.list("Sec-WebSocket-Extensions"), ["a", "b"]);
        assert_eq!(head.list("Upgrade"), ["h2c", "WebSocket"]);
        assert!(head.list("Origin").is_empty());
    }
}
