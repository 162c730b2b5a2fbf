//! Credential redaction: the one place that decides which captured values are secrets and
//! masks them, for every output (line output, JSON Lines, the report, the TUI and its exports).
//!
//! Input: an [`Event`] as the engine emitted it; output: the same event with every credential
//! replaced by a placeholder that carries a short keyed hash, `<redacted:3f2a9c1d>`
//! (HMAC-SHA256 of the value under a local key, first 4 bytes in hex), so two requests with the
//! same credential can still be matched while the value cannot be recovered by hashing guesses
//! without the key. The run applies [`Redactor::event`] once, where events leave the engine,
//! so no sink ever holds a secret; with `--no-redact` ([`Redactor::disabled`]) events pass
//! unchanged. The key is handed in: reading or creating the key file is the run's job, never
//! done here (no I/O). Raw packets (`-w`, the TUI's pcap export) are not events and stay raw.
//!
//! What counts as a credential (decided here, documented in README "Redaction"):
//! - headers: `Authorization` / `Proxy-Authorization` (the scheme is kept: `Bearer <…>`),
//!   `Cookie` (each cookie's value; names kept), `Set-Cookie` (the value; attributes kept),
//!   and any header whose name says it carries one (`X-Api-Key`, `X-Auth-Token`,
//!   `X-CSRF-Token`, `X-Amz-Security-Token`, `…-Secret`, `…-Password`, `…-Session…`, …), but
//!   not the `WWW-Authenticate` challenges nor `Sec-WebSocket-Key` (a nonce, not a secret);
//! - `Sec-WebSocket-Protocol` entries that carry a token, as browsers' apps do for want of
//!   headers: Kubernetes' `base64url.bearer.authorization.k8s.io.<token>`, the entry after one
//!   named like a credential (`["access_token", "<token>"]`), a JWT, or a long random-looking
//!   entry;
//! - credential-like parameters ([`is_credential_name`]: `token`, `access_token`, `auth`,
//!   `key`, `sig`, `signature`, `password`, `jwt`, `api_key`, `secret`, `session`, …,
//!   case-insensitive) in the query and fragment of the request target and of URLs in other
//!   headers (`Referer`, `Location`), and the password of a URL's userinfo;
//! - in text (WebSocket message previews, close reasons, HTTP bodies, free text of findings
//!   and hops, see [`Redactor::text`]): JSON members with a credential-like key (Socket.IO's
//!   `40{"token":"…"}`), `name=value` pairs, header-like lines (`Authorization: …`, STOMP's
//!   `passcode:…`), `Bearer …` tokens and JWTs;
//! - any other text of the same record that repeats a value masked above (a finding that
//!   quotes a header, the server echoing a subprotocol).
//!
//! Engine.IO's `sid` is masked too (issue 14: it is a session credential, whoever holds it
//! can poll as the session until it ends); the polls and the upgrade stay joinable by the
//! placeholder, which is the same for the same sid, and the `engineio_session` record joins
//! them anyway. Every scan is linear in the text it reads.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::event::{
    ConnectionRecord, DirectionStats, Event, HandshakeRecord, Head, HeaderChange, HopLink, Message,
    StartLine,
};
use crate::finding::Finding;

/// How every placeholder starts; a value that already starts so is not masked again.
pub const PLACEHOLDER_PREFIX: &str = "<redacted";
/// Hex digits of the keyed hash in a placeholder (32 bits: enough to tell credentials apart
/// in one capture, too few to be worth attacking).
const HASH_HEX_DIGITS: usize = 8;
/// Shortest key a [`Redactor`] accepts, in bytes.
pub const MIN_KEY_BYTES: usize = 16;
/// Masked values remembered per record to mask where the record's free text repeats them.
const MAX_REMEMBERED: usize = 64;
/// Shortest remembered value replaced in free text: shorter ones would match ordinary words.
const MIN_REMEMBERED_LEN: usize = 4;
/// Longest parameter or key name considered (longer ones are not names people give secrets).
const MAX_NAME_LEN: usize = 64;
/// Most texts [`CleanTexts`] remembers, and the longest one it takes (bytes): at most
/// 512 KiB of text, however many records a run redacts.
const MAX_CLEAN_TEXTS: usize = 1024;
const MAX_CLEAN_TEXT_LEN: usize = 512;

/// Masks credentials in events (see the module documentation for what is masked).
#[derive(Clone)]
pub struct Redactor {
    /// The HMAC key; `None` when redaction is off (`--no-redact`).
    key: Option<Arc<[u8]>>,
    /// Free texts the text rules found nothing in (shared by clones: what the rules find
    /// does not depend on the key).
    clean: Arc<CleanTexts>,
}

/// Free texts (finding messages, the lines they quote) in which [`Scope::text`]'s rules
/// found nothing to mask, so the same text in a later record is passed without scanning it
/// again. wssniff writes the same few messages around the same captured values on record
/// after record (b30: 217 finding messages, 76 distinct; 293 quoted lines, 43), and the
/// scanners cost ~2,300 instructions a text. Only a text found clean is remembered, keyed by
/// all its bytes, and whether the rules find something depends on the text alone (not on the
/// key, not on the record: the values a record masked elsewhere are replaced before, by
/// [`Scope::remembered`], outside this). Bounded by [`MAX_CLEAN_TEXTS`] and
/// [`MAX_CLEAN_TEXT_LEN`]; when full, nothing more is added and the rest is scanned each time.
#[derive(Default)]
struct CleanTexts {
    /// Seeded per process (foldhash): texts hold captured values, so colliding ones cannot be
    /// precomputed.
    texts: Mutex<HashSet<Box<str>, foldhash::fast::RandomState>>,
}

impl CleanTexts {
    fn holds(&self, text: &str) -> bool {
        // A poisoned lock only loses the shortcut: the text is scanned.
        self.texts.lock().is_ok_and(|texts| texts.contains(text))
    }

    fn remember(&self, text: &str) {
        if text.len() > MAX_CLEAN_TEXT_LEN {
            return;
        }
        if let Ok(mut texts) = self.texts.lock() {
            if texts.len() < MAX_CLEAN_TEXTS {
                texts.insert(Box::from(text));
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.texts.lock().map_or(0, |texts| texts.len())
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("Redactor")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl Redactor {
    /// A redactor hashing masked values under `key`.
    ///
    /// # Errors
    /// The key is shorter than [`MIN_KEY_BYTES`].
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the redaction key must be at least {MIN_KEY_BYTES} bytes, this one has {}",
                key.len()
            ));
        }
        Ok(Redactor {
            key: Some(Arc::from(key)),
            clean: Arc::default(),
        })
    }

    /// No redaction at all (`--no-redact`): every event passes unchanged.
    #[must_use]
    pub fn disabled() -> Self {
        Redactor {
            key: None,
            clean: Arc::default(),
        }
    }

    /// Whether values are masked.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.key.is_some()
    }

    /// The placeholder for `secret`: `<redacted:` + the first [`HASH_HEX_DIGITS`] hex digits
    /// of HMAC-SHA256(key, secret) + `>`. Equal secrets give equal placeholders under one key.
    #[must_use]
    pub fn placeholder(&self, secret: &str) -> String {
        let Some(key) = &self.key else {
            return secret.to_owned();
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            // HMAC takes keys of any length; this cannot happen, and masking without a hash
            // is still safe.
            return format!("{PLACEHOLDER_PREFIX}>");
        };
        mac.update(secret.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(PLACEHOLDER_PREFIX.len() + HASH_HEX_DIGITS + 2);
        out.push_str(PLACEHOLDER_PREFIX);
        out.push(':');
        for b in digest.iter().take(HASH_HEX_DIGITS / 2) {
            out.push_str(&format!("{b:02x}"));
        }
        out.push('>');
        out
    }

    /// The event with every credential masked (unchanged when redaction is off).
    #[must_use]
    pub fn event(&self, event: Event) -> Event {
        if !self.is_enabled() {
            return event;
        }
        match event {
            Event::Handshake(mut r) => {
                // The record is shared (the hop tracker keeps it): copied only when something
                // in it is masked, so a capture without credentials costs no copy.
                if self.handshake_needs(&r) {
                    self.handshake(Arc::make_mut(&mut r));
                }
                Event::Handshake(r)
            }
            Event::Connection(mut c) => {
                self.connection(&mut c);
                Event::Connection(c)
            }
            Event::Hop(mut h) => {
                self.hop(&mut h);
                Event::Hop(h)
            }
            // Notices are wssniff's own words about the capture: no captured value.
            Event::Notice(n) => Event::Notice(n),
            // A TLS record holds names (SNI, ALPN, certificate subjects), no credentials.
            Event::Tls(t) => Event::Tls(t),
            // An Engine.IO session keeps no Socket.IO payload (a CONNECT's auth object is
            // never stored); its sid is shortened by the human outputs.
            Event::EngineIo(mut s) => {
                if let Some(sid) = s.sid.as_mut() {
                    *sid = self.placeholder(sid);
                }
                Event::EngineIo(s)
            }
        }
    }

    /// Whether [`Redactor::handshake`] would mask anything in `r` (a read-only pass: nothing
    /// is allocated unless something is found).
    #[must_use]
    pub fn handshake_needs(&self, r: &HandshakeRecord) -> bool {
        if !self.is_enabled() {
            return false;
        }
        let mut scope = Scope::new(self);
        let changed = |c: Cow<'_, str>| matches!(c, Cow::Owned(_));
        for m in r.request.iter().chain(&r.interim).chain(&r.response) {
            let head = &m.head;
            if changed(scope.start_line(&head.start_line))
                || head.headers.iter().any(|h| match header_rule(h.name) {
                    // Most headers: `Scope::header_value`'s own first test, in this loop.
                    HeaderRule::Other => {
                        has_url_secret_byte(h.value.as_bytes()) && changed(scope.url(h.value))
                    }
                    _ => changed(scope.header_value(h.name, h.value)),
                })
                // The raw head holds the same start line and fields; only a folded value
                // (obs-fold) can hide something the parsed fields do not show the same way.
                || (has_folded_line(&head.raw) && changed(scope.raw_head(&head.raw)))
                || m.body
                    .as_ref()
                    .and_then(crate::event::BodyExcerpt::text)
                    .is_some_and(|t| changed(scope.text(&t)))
            {
                return true;
            }
        }
        let mut prev: Option<&str> = None;
        for item in &r.subprotocols_offered {
            if subprotocol_secret(item, prev).is_some() {
                return true;
            }
            prev = Some(item);
        }
        r.path.as_deref().is_some_and(|p| changed(scope.target(p)))
            || r.origin.as_deref().is_some_and(|o| changed(scope.url(o)))
            || r.subprotocol
                .as_deref()
                .is_some_and(|p| subprotocol_secret(p, None).is_some())
            // `free_text` as `handshake` masks messages: nothing is masked in this record so
            // far, so it is `text` through the remembered clean texts.
            || r.findings.iter().any(|f| {
                changed(scope.free_text(&f.message))
                    || f.lines.iter().any(|l| changed(scope.quoted_line(l)))
            })
    }

    /// Masks the credentials of a handshake record in place: heads (parsed and raw), the
    /// target, subprotocols, Origin, findings.
    pub fn handshake(&self, r: &mut HandshakeRecord) {
        if !self.is_enabled() {
            return;
        }
        let mut scope = Scope::new(self);
        for m in r
            .request
            .iter_mut()
            .chain(r.interim.iter_mut())
            .chain(r.response.iter_mut())
        {
            scope.message(m);
        }
        set(&mut r.path, |p| scope.target(p));
        set(&mut r.origin, |o| scope.url(o));
        let offered = std::mem::take(&mut r.subprotocols_offered);
        r.subprotocols_offered = scope.subprotocol_items(offered);
        set(&mut r.subprotocol, |s| scope.subprotocol_chosen(s));
        scope.findings(&mut r.findings);
    }

    /// Masks the credentials of a WebSocket connection record in place: the message
    /// previews, close reasons and findings.
    pub fn connection(&self, c: &mut ConnectionRecord) {
        if !self.is_enabled() {
            return;
        }
        let mut scope = Scope::new(self);
        for d in [&mut c.client_to_server, &mut c.server_to_client] {
            scope.direction(d);
        }
        for close in [c.close.client.as_mut(), c.close.server.as_mut()]
            .into_iter()
            .flatten()
        {
            assign(&mut close.reason, |t| scope.text(t));
        }
        // The frame log's text previews and close reasons (binary payloads hold no text).
        for f in c.frame_log.frames_mut() {
            if matches!(f.opcode, 0x0 | 0x1 | 0x8) && !f.preview().is_empty() {
                let text = String::from_utf8_lossy(f.preview()).into_owned();
                if let Cow::Owned(masked) = scope.text(&text) {
                    f.set_preview(masked.as_bytes());
                }
            }
        }
        scope.findings(&mut c.findings);
    }

    /// Masks the credentials of a proxy hop in place: request lines, header changes, the
    /// explanation and the corrected finding (it quotes the upstream's body).
    pub fn hop(&self, h: &mut HopLink) {
        if !self.is_enabled() {
            return;
        }
        let mut scope = Scope::new(self);
        if let Some((before, after)) = &mut h.request_line {
            assign(before, |l| scope.start_line(l));
            assign(after, |l| scope.start_line(l));
        }
        for change in h
            .request_changes
            .iter_mut()
            .chain(h.response_changes.iter_mut())
        {
            scope.change(change);
        }
        assign(&mut h.explanation, |t| scope.free_text(t));
        if let Some(c) = &mut h.correction {
            scope.findings(std::slice::from_mut(&mut c.finding));
        }
    }

    /// Masks credentials in text that is not a head: an HTTP body or its first bytes, a
    /// WebSocket message preview, a close reason. JSON members with a credential-like key
    /// (`{"token":"…"}`, Socket.IO's `40{"auth":{"token":…}}`), `name=value` pairs (form
    /// bodies, query strings), header-like lines (`Authorization: …`, STOMP's `passcode:…`),
    /// `Bearer …` tokens and JWTs. Text cut short (a preview, a capped body) is masked to its
    /// end when a value is cut. Borrowed back when nothing needed masking.
    #[must_use]
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.is_enabled() {
            return Cow::Borrowed(text);
        }
        Scope::new(self).text(text)
    }

    /// Masks credentials in one header value, by the header's name (see the module docs).
    #[must_use]
    pub fn header_value<'v>(&self, name: &str, value: &'v str) -> Cow<'v, str> {
        if !self.is_enabled() {
            return Cow::Borrowed(value);
        }
        Scope::new(self).header_value(name, value)
    }

    /// Masks credential-like query and fragment parameters and a userinfo password in a
    /// request target or URL.
    #[must_use]
    pub fn target<'v>(&self, target: &'v str) -> Cow<'v, str> {
        if !self.is_enabled() {
            return Cow::Borrowed(target);
        }
        Scope::new(self).target(target)
    }
}

/// Whether `text` holds a placeholder, i.e. something was masked (so a sink can say so next
/// to a command that would replay it, like the curl line).
#[must_use]
pub fn has_placeholder(text: &str) -> bool {
    text.contains(PLACEHOLDER_PREFIX)
}

/// The words a sink prints next to a replay command that holds placeholders.
pub const PLACEHOLDER_NOTE: &str =
    "Credentials in this command are redaction placeholders: run wssniff with --no-redact to replay them.";

/// Whether a parameter, JSON key or header name says its value is a credential
/// (case-insensitive): `token`, `access_token`, `auth`, `key`, `sig`, `signature`,
/// `password`, `passwd`, `pwd`, `jwt`, `api_key`, `apikey`, `secret`, `session`,
/// `X-Amz-Credential`, … — any name containing `token`, `secret`, `passw`, `passcode`,
/// `apikey`, `api_key`, `api-key`, `signature`, `credential`, `session`, `sessid`, `csrf`,
/// `xsrf`, `jwt` or `authorization`; `auth`, `key`, `sig`, `pass`, `pwd`, `ticket` and `sid` alone or
/// as a `_`/`-`-separated part (`auth_key`, `x-auth`, `access-key`), so `author` and
/// `keyboard` are not. `Sec-WebSocket-Key` is a nonce, not a secret.
#[must_use]
pub fn is_credential_name(name: &str) -> bool {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return false;
    }
    // Lower-cased on the stack: this runs for every header, parameter and JSON key of every
    // record, and an allocation each time was most of the redaction's cost.
    let mut buf = [0u8; MAX_NAME_LEN];
    let Some(dst) = buf.get_mut(..name.len()) else {
        return false;
    };
    dst.copy_from_slice(name.as_bytes());
    dst.make_ascii_lowercase();
    // ASCII lower-casing keeps UTF-8 valid.
    let Ok(lower) = std::str::from_utf8(dst) else {
        return false;
    };
    if lower == "sec-websocket-key" {
        return false;
    }
    // `sid`: Engine.IO's session id, a session credential (`?EIO=4&sid=…`).
    const PARTS: &[&str] = &["auth", "key", "sig", "pass", "pwd", "ticket", "sid"];
    contains_credential_word(lower.as_bytes())
        || lower
            .split(['_', '-', '.'])
            .any(|part| PARTS.contains(&part))
}

/// Whether `lower` contains one of the words [`is_credential_name`] lists (`token`, `secret`,
/// `passw`, …, `authorization`; the tests hold the two lists together): one pass, each position tried only
/// against the words starting with its byte (fifteen substring searches cost more to set up
/// than a header name is long).
fn contains_credential_word(lower: &[u8]) -> bool {
    (0..lower.len()).any(|i| {
        let rest = lower.get(i..).unwrap_or_default();
        let at = |word: &[u8]| rest.starts_with(word);
        match rest.first() {
            Some(b't') => at(b"token"),
            Some(b's') => at(b"secret") || at(b"signature") || at(b"session") || at(b"sessid"),
            Some(b'p') => at(b"passw") || at(b"passcode"),
            Some(b'a') => at(b"apikey") || at(b"api_key") || at(b"api-key") || at(b"authorization"),
            Some(b'c') => at(b"credential") || at(b"csrf"),
            Some(b'x') => at(b"xsrf"),
            Some(b'j') => at(b"jwt"),
            _ => false,
        }
    })
}

/// Whether a raw head continues a field on the next line (obsolete line folding).
fn has_folded_line(raw: &str) -> bool {
    // Line ends found by `memchr`: two substring searches cost more to set up than most heads
    // are long.
    let bytes = raw.as_bytes();
    memchr::memchr_iter(b'\n', bytes).any(|at| matches!(bytes.get(at + 1), Some(b' ' | b'\t')))
}

/// How a header's value is masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderRule {
    /// `Scheme credentials`: the scheme kept, the rest masked.
    Authorization,
    /// `a=1; b=2`: each value masked, names kept.
    Cookie,
    /// `name=value; Path=/; HttpOnly`: the value masked, attributes kept.
    SetCookie,
    /// The whole value masked.
    Whole,
    /// `Sec-WebSocket-Protocol`: only entries that carry a token.
    Subprotocols,
    /// Anything else: credential parameters of URLs in it.
    Other,
}

/// Header names real peers send on nearly every handshake that hold no credential: answered
/// without searching (most headers of most records are these), by [`is_plain_header`]. Each
/// gets [`HeaderRule::Other`] from the full rules too; a test holds the three to that.
#[cfg(test)]
const PLAIN_HEADERS: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "origin",
    "user-agent",
    "date",
    "server",
    "content-length",
    "content-type",
    "cache-control",
    "pragma",
    "accept",
    "accept-encoding",
    "accept-language",
    "transfer-encoding",
    "via",
];

fn header_rule(name: &str) -> HeaderRule {
    let name = trim(name);
    if is_plain_header(name) {
        return HeaderRule::Other;
    }
    full_header_rule(name)
}

/// `s.trim()`, without its search for Unicode whitespace when both ends are ASCII bytes that
/// are not whitespace (header names nearly always: they are tokens).
fn trim(s: &str) -> &str {
    // `char::is_whitespace` also counts U+000B, which `is_ascii_whitespace` does not.
    let plain =
        |b: Option<&u8>| b.is_some_and(|&b| b.is_ascii() && !b.is_ascii_whitespace() && b != 0x0b);
    let bytes = s.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) {
        s
    } else {
        s.trim()
    }
}

/// Whether `name` is one of the header names real peers send on nearly every handshake that
/// hold no credential (the tests' `PLAIN_HEADERS`), in any case: lower-cased on the stack
/// and matched by length and bytes in one `match`, not compared with each name in turn.
fn is_plain_header(name: &str) -> bool {
    use crate::event::LowerName;
    let name = name.as_bytes();
    // Each name a word at a time against its constant (this runs for every header of every
    // record): `const` items, so the words are computed when wssniff is built.
    macro_rules! is {
        ($plain:literal) => {{
            const PLAIN: LowerName = LowerName::new($plain);
            PLAIN.matches(name)
        }};
    }
    // By length first: at most four names share one, so a name is compared with few.
    match name.len() {
        3 => is!(b"via"),
        4 => is!(b"host") || is!(b"date"),
        6 => is!(b"origin") || is!(b"server") || is!(b"pragma") || is!(b"accept"),
        7 => is!(b"upgrade"),
        10 => is!(b"connection") || is!(b"user-agent"),
        12 => is!(b"content-type"),
        13 => is!(b"cache-control"),
        14 => is!(b"content-length"),
        15 => is!(b"accept-encoding") || is!(b"accept-language"),
        17 => is!(b"sec-websocket-key") || is!(b"transfer-encoding"),
        20 => is!(b"sec-websocket-accept"),
        21 => is!(b"sec-websocket-version"),
        24 => is!(b"sec-websocket-extensions"),
        _ => false,
    }
}

/// Whether `bytes` holds `?`, `#` or `@`, the bytes a URL's secrets hang on (a query, a
/// fragment, a userinfo): a word at a time, as most header values and targets have none. Up
/// to 32 bytes (most values) are read as overlapping words from both ends, with no loop and
/// no byte-by-byte tail.
fn has_url_secret_byte(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A word's bytes equal to `b`, as high bits (exact as a yes or no).
    let equal = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let flags = |w: u64| equal(w, b'?') | equal(w, b'#') | equal(w, b'@');
    // A word that cannot be loaded (it always can, by the lengths below) reads as `?`s: the
    // caller then reads the value whole, which is right for any value.
    let word = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
            .map_or(ONES * u64::from(b'?'), u64::from_le_bytes)
    };
    let half = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|c| <[u8; 4]>::try_from(c).ok())
            .map_or(u32::from_le_bytes(*b"????"), u32::from_le_bytes)
    };
    let len = bytes.len();
    let found = match len {
        0 => 0,
        1..=3 => {
            let at = |i: usize| bytes.get(i).copied().unwrap_or(b'?');
            // Every byte of a value of one to three is one of these; the rest `a`s.
            let w = u32::from_le_bytes([at(0), at(len / 2), at(len - 1), b'a']);
            flags(u64::from(w) | (ONES * u64::from(b'a')) << 32)
        }
        4..=7 => flags(u64::from(half(0)) | u64::from(half(len - 4)) << 32),
        8..=16 => flags(word(0)) | flags(word(len - 8)),
        17..=32 => flags(word(0)) | flags(word(8)) | flags(word(len - 16)) | flags(word(len - 8)),
        _ => {
            // Whole words, then the last eight bytes (overlapping the words before).
            let mut chunks = bytes.chunks_exact(8);
            let mut found = chunks.by_ref().fold(0, |f, c| {
                f | flags(<[u8; 8]>::try_from(c).map_or(ONES * u64::from(b'?'), u64::from_le_bytes))
            });
            if !chunks.remainder().is_empty() {
                found |= flags(word(len - 8));
            }
            found
        }
    };
    found != 0
}

fn full_header_rule(name: &str) -> HeaderRule {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "cookie" => return HeaderRule::Cookie,
        "set-cookie" | "set-cookie2" => return HeaderRule::SetCookie,
        "sec-websocket-protocol" => return HeaderRule::Subprotocols,
        // Challenges and their answers' metadata name schemes and realms, not secrets, and
        // are what a person debugging a 401 needs to see.
        "www-authenticate"
        | "proxy-authenticate"
        | "authentication-info"
        | "proxy-authentication-info" => return HeaderRule::Other,
        _ => {}
    }
    if lower.contains("authorization") {
        HeaderRule::Authorization
    } else if lower.contains("cookie") || is_credential_name(&lower) {
        HeaderRule::Whole
    } else {
        HeaderRule::Other
    }
}

/// One record's redaction: remembers what it masked so the record's free text (finding
/// messages, quoted lines) can be masked where it repeats those values.
struct Scope<'r> {
    redactor: &'r Redactor,
    /// (secret, placeholder), at most [`MAX_REMEMBERED`].
    masked: Vec<(String, String)>,
}

impl<'r> Scope<'r> {
    fn new(redactor: &'r Redactor) -> Self {
        Scope {
            redactor,
            masked: Vec::new(),
        }
    }

    /// The placeholder for `secret` (remembered), or `None` when there is nothing to mask:
    /// an empty value, or one that is already a placeholder.
    fn mask(&mut self, secret: &str) -> Option<String> {
        if secret.trim().is_empty() || secret.starts_with(PLACEHOLDER_PREFIX) {
            return None;
        }
        let p = self.redactor.placeholder(secret);
        if secret.len() >= MIN_REMEMBERED_LEN
            && self.masked.len() < MAX_REMEMBERED
            && !self.masked.iter().any(|(s, _)| s == secret)
        {
            self.masked.push((secret.to_owned(), p.clone()));
        }
        Some(p)
    }

    /// `text` with each of `ranges` (sorted by start, byte offsets on ASCII boundaries)
    /// replaced by its placeholder; overlapping ranges after the first are dropped.
    fn splice<'t>(&mut self, text: &'t str, mut ranges: Vec<(usize, usize)>) -> Cow<'t, str> {
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len() + 16 * ranges.len());
        let mut at = 0;
        let mut changed = false;
        for (start, end) in ranges {
            if start < at || end <= start {
                continue;
            }
            let (Some(before), Some(secret)) = (text.get(at..start), text.get(start..end)) else {
                continue;
            };
            let Some(p) = self.mask(secret) else {
                continue;
            };
            out.push_str(before);
            out.push_str(&p);
            at = end;
            changed = true;
        }
        if !changed {
            return Cow::Borrowed(text);
        }
        out.push_str(text.get(at..).unwrap_or_default());
        Cow::Owned(out)
    }

    fn message(&mut self, m: &mut Message) {
        self.head(&mut m.head);
        if let Some(body) = &mut m.body {
            // A kept body (a refusal's reason) is text like a preview; binary passes.
            if let Some(text) = body.text() {
                if let Cow::Owned(masked) = self.text(&text) {
                    body.bytes = masked.into_bytes();
                }
            }
        }
    }

    fn head(&mut self, head: &mut Head) {
        if let StartLine::Request { target, .. } = &mut head.start {
            assign(target, |t| self.target(t));
        }
        assign(&mut head.start_line, |l| self.start_line(l));
        for i in 0..head.headers.len() {
            let masked =
                head.headers
                    .get(i)
                    .and_then(|h| match self.header_value(h.name, h.value) {
                        Cow::Owned(masked) => Some(masked),
                        Cow::Borrowed(_) => None,
                    });
            if let Some(masked) = masked {
                head.headers.set_value(i, masked);
            }
        }
        assign(&mut head.raw, |raw| self.raw_head(raw));
    }

    /// `GET /ws?token=… HTTP/1.1`: the target masked; a status line passes.
    fn start_line<'t>(&mut self, line: &'t str) -> Cow<'t, str> {
        // The target is part of the line: without `?`, `#` or `@` in the line (a status line,
        // most request lines) it has none of the bytes `target` masks around.
        if !has_url_secret_byte(line.as_bytes()) {
            return Cow::Borrowed(line);
        }
        // `line.splitn(3, ' ')`, the spaces found byte by byte: a method is a few bytes long.
        let space = |s: &str| s.bytes().position(|b| b == b' ');
        let Some(first) = space(line) else {
            return Cow::Borrowed(line);
        };
        let (method, after) = (
            line.get(..first).unwrap_or_default(),
            line.get(first + 1..).unwrap_or_default(),
        );
        if method.starts_with("HTTP/") {
            return Cow::Borrowed(line);
        }
        let (target, rest) = match space(after) {
            Some(second) => (
                after.get(..second).unwrap_or_default(),
                after.get(second + 1..),
            ),
            None => (after, None),
        };
        match self.target(target) {
            Cow::Borrowed(_) => Cow::Borrowed(line),
            Cow::Owned(t) => {
                let rest = rest.map(|r| format!(" {r}")).unwrap_or_default();
                Cow::Owned(format!("{method} {t}{rest}"))
            }
        }
    }

    /// The head as on the wire, line by line: the start line's target, each header's value
    /// by its name (surrounding whitespace and line endings kept), and the continuation lines
    /// of a masked header (obsolete folding) masked whole.
    fn raw_head<'t>(&mut self, raw: &'t str) -> Cow<'t, str> {
        // Allocated at the first line that changes: most heads hold no credential.
        let mut out: Option<String> = None;
        let mut at = 0;
        let mut folding_masked = false;
        for (i, line) in raw.split_inclusive('\n').enumerate() {
            let body_len = line.trim_end_matches(['\r', '\n']).len();
            let (body, ending) = line.split_at(body_len);
            let masked: Cow<'_, str> = if i == 0 {
                self.start_line(body)
            } else if body.starts_with([' ', '\t']) {
                if folding_masked {
                    let content = body.trim_start_matches([' ', '\t']);
                    let indent = body.len() - content.len();
                    match self.mask(content) {
                        Some(p) => Cow::Owned(format!("{}{p}", body.get(..indent).unwrap_or(""))),
                        None => Cow::Borrowed(body),
                    }
                } else {
                    Cow::Borrowed(body)
                }
            } else if let Some((name, value)) = body.split_once(':') {
                folding_masked = header_rule(name) != HeaderRule::Other;
                let trimmed = value.trim_start_matches([' ', '\t']);
                let lead = value.len() - trimmed.len();
                let content = trimmed.trim_end_matches([' ', '\t']);
                let trail = trimmed.len() - content.len();
                match self.header_value(name, content) {
                    Cow::Borrowed(_) => Cow::Borrowed(body),
                    Cow::Owned(v) => Cow::Owned(format!(
                        "{name}:{}{v}{}",
                        value.get(..lead).unwrap_or(""),
                        trimmed
                            .get(content.len()..content.len() + trail)
                            .unwrap_or("")
                    )),
                }
            } else {
                folding_masked = false;
                Cow::Borrowed(body)
            };
            match (&mut out, masked) {
                (None, Cow::Borrowed(_)) => {}
                (None, Cow::Owned(m)) => {
                    let mut o = String::with_capacity(raw.len() + 32);
                    o.push_str(raw.get(..at).unwrap_or(""));
                    o.push_str(&m);
                    o.push_str(ending);
                    out = Some(o);
                }
                (Some(o), m) => {
                    o.push_str(&m);
                    o.push_str(ending);
                }
            }
            at += line.len();
        }
        out.map_or(Cow::Borrowed(raw), Cow::Owned)
    }

    fn header_value<'v>(&mut self, name: &str, value: &'v str) -> Cow<'v, str> {
        match header_rule(name) {
            HeaderRule::Authorization => self.authorization(value),
            HeaderRule::Cookie => self.cookies(value),
            HeaderRule::SetCookie => self.set_cookie(value),
            HeaderRule::Whole => match self.mask(value) {
                Some(p) => Cow::Owned(p),
                None => Cow::Borrowed(value),
            },
            HeaderRule::Subprotocols => self.subprotocol_header(value),
            HeaderRule::Other => self.url(value),
        }
    }

    /// `Bearer abc` → `Bearer <…>`; a value without a scheme is masked whole.
    fn authorization<'v>(&mut self, value: &'v str) -> Cow<'v, str> {
        let ranges = match value.find([' ', '\t']) {
            Some(space) => {
                let rest = value.get(space..).unwrap_or("");
                let start = space + (rest.len() - rest.trim_start().len());
                vec![(start, value.trim_end().len())]
            }
            None => vec![(0, value.len())],
        };
        self.splice(value, ranges)
    }

    /// `a=1; b=2` → each value masked, names and separators kept; a part without `=` is
    /// masked whole.
    fn cookies<'v>(&mut self, value: &'v str) -> Cow<'v, str> {
        let mut ranges = Vec::new();
        let mut offset = 0;
        for part in value.split(';') {
            ranges.push(pair_value(part, offset));
            offset += part.len() + 1;
        }
        self.splice(value, ranges)
    }

    /// `name=value; Path=/` → the first pair's value masked, the attributes kept.
    fn set_cookie<'v>(&mut self, value: &'v str) -> Cow<'v, str> {
        let first = value.split(';').next().unwrap_or("");
        let range = pair_value(first, 0);
        self.splice(value, vec![range])
    }

    /// `Sec-WebSocket-Protocol: v4.channel.k8s.io, base64url.bearer.authorization.k8s.io.XYZ`
    /// → only the token-carrying entries masked, separators kept.
    fn subprotocol_header<'v>(&mut self, value: &'v str) -> Cow<'v, str> {
        let mut ranges = Vec::new();
        subprotocol_ranges(value, 0, &mut ranges);
        self.splice(value, ranges)
    }

    fn subprotocol_items(&mut self, items: Vec<String>) -> Vec<String> {
        let mut prev: Option<String> = None;
        items
            .into_iter()
            .map(|item| {
                let masked = match subprotocol_secret(&item, prev.as_deref()) {
                    Some(range) => self.splice(&item, vec![range]).into_owned(),
                    None => item.clone(),
                };
                prev = Some(item);
                masked
            })
            .collect()
    }

    /// The server's chosen subprotocol: masked as an offered entry would be, or where it
    /// repeats a masked one.
    fn subprotocol_chosen<'v>(&mut self, value: &'v str) -> Cow<'v, str> {
        match subprotocol_secret(value, None) {
            Some(range) => self.splice(value, vec![range]),
            None => self.remembered(value),
        }
    }

    /// A request target or URL: credential parameters in the query and fragment, and the
    /// userinfo password (or a userinfo without one, often a token) of an absolute URL.
    fn target<'v>(&mut self, target: &'v str) -> Cow<'v, str> {
        // Both rules below hang on one of these bytes; most targets have none.
        if !has_url_secret_byte(target.as_bytes()) {
            return Cow::Borrowed(target);
        }
        let mut ranges = Vec::new();
        if let Some(scheme_end) = target.find("://") {
            let authority_start = scheme_end + 3;
            let rest = target.get(authority_start..).unwrap_or("");
            let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = rest.get(..authority_len).unwrap_or("");
            if let Some(at) = authority.rfind('@') {
                let userinfo = authority.get(..at).unwrap_or("");
                match userinfo.find(':') {
                    Some(colon) => ranges.push((authority_start + colon + 1, authority_start + at)),
                    None => ranges.push((authority_start, authority_start + at)),
                }
            }
        }
        if let Some(q) = target.find(['?', '#']) {
            let params = target.get(q + 1..).unwrap_or("");
            let mut offset = q + 1;
            for part in params.split(['&', ';', '#', '?']) {
                if let Some(eq) = part.find('=') {
                    let name = part.get(..eq).unwrap_or("");
                    if is_credential_name(&percent_decode(name)) {
                        ranges.push((offset + eq + 1, offset + part.len()));
                    }
                }
                offset += part.len() + 1;
            }
        }
        self.splice(target, ranges)
    }

    /// A header value that may hold URLs (`Referer`, `Location`, `Origin`): only when it
    /// looks like one is it read as a target.
    fn url<'v>(&mut self, value: &'v str) -> Cow<'v, str> {
        // A value with no `?`, `#` or `@` is passed by the target's own first test; one with
        // `@` but no `://` and no query holds no userinfo either, so reading every value as a
        // target masks exactly what reading only URL-like ones did.
        self.target(value)
    }

    fn direction(&mut self, d: &mut DirectionStats) {
        if let Some(p) = &mut d.preview {
            assign(p, |t| self.text(t));
        }
    }

    fn change(&mut self, c: &mut HeaderChange) {
        let HeaderChange {
            name,
            before,
            after,
            ..
        } = c;
        for v in [before.as_mut(), after.as_mut()].into_iter().flatten() {
            assign(v, |t| self.header_value(name, t));
        }
    }

    fn findings(&mut self, findings: &mut [Finding]) {
        for f in findings {
            assign(&mut f.message, |t| self.free_text(t));
            for line in &mut f.lines {
                assign(line, |l| self.quoted_line(l));
            }
        }
    }

    /// A header line quoted as evidence (`Name: value`), else free text.
    fn quoted_line<'t>(&mut self, line: &'t str) -> Cow<'t, str> {
        if let Some((name, value)) = line.split_once(':') {
            let is_name = !name.is_empty() && name.bytes().all(is_header_name_byte);
            if is_name {
                let content = value.trim_start();
                let lead = value.len() - content.len();
                return match self.header_value(name, content) {
                    Cow::Borrowed(_) => self.free_text(line),
                    Cow::Owned(v) => {
                        Cow::Owned(format!("{name}:{}{v}", value.get(..lead).unwrap_or("")))
                    }
                };
            }
        }
        self.free_text(line)
    }

    /// Text wssniff wrote around captured values (finding messages, a hop's explanation):
    /// the values this record masked elsewhere, then the text rules.
    fn free_text<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        match self.remembered(text) {
            Cow::Borrowed(t) => self.known_text(t),
            Cow::Owned(t) => Cow::Owned(self.text(&t).into_owned()),
        }
    }

    /// [`Scope::text`] of text wssniff wrote, through [`CleanTexts`]: passed unscanned when
    /// the rules already found nothing in exactly this text, remembered when they find
    /// nothing now.
    fn known_text<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        let redactor = self.redactor;
        let clean = &redactor.clean;
        if clean.holds(text) {
            return Cow::Borrowed(text);
        }
        let out = self.text(text);
        if matches!(out, Cow::Borrowed(_)) {
            clean.remember(text);
        }
        out
    }

    /// `text` with every value masked so far in this record replaced by its placeholder,
    /// longest first (so a value containing another is replaced whole).
    fn remembered<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        if !self.masked.iter().any(|(s, _)| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut pairs: Vec<&(String, String)> = self.masked.iter().collect();
        pairs.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let mut out = text.to_owned();
        for (secret, placeholder) in pairs {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), placeholder);
            }
        }
        Cow::Owned(out)
    }

    fn text<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        let mut ranges = Vec::new();
        // Each scanner needs its own byte (a quote before a key, `=`, `:`, the `b` of a
        // scheme, the `J` of `eyJ`), looked for with `memchr`; most texts (previews, finding
        // messages) lack most of them.
        let bytes = text.as_bytes();
        let has = |b: u8| memchr::memchr(b, bytes).is_some();
        if memchr::memchr2(b'"', b'\'', bytes).is_some() {
            json_members(text, &mut ranges);
        }
        if has(b'=') {
            name_value_pairs(text, &mut ranges);
        }
        if has(b':') {
            header_lines(text, &mut ranges);
        }
        if memchr::memchr2(b'b', b'B', bytes).is_some() {
            auth_schemes(text, &mut ranges);
        }
        if has(b'J') {
            jwts(text, &mut ranges);
        }
        self.splice(text, ranges)
    }
}

/// Replaces `*field` with `f(field)` when `f` changed it.
fn assign(field: &mut String, f: impl FnOnce(&str) -> Cow<'_, str>) {
    if let Cow::Owned(new) = f(field) {
        *field = new;
    }
}

fn set(field: &mut Option<String>, f: impl FnOnce(&str) -> Cow<'_, str>) {
    if let Some(v) = field {
        assign(v, f);
    }
}

/// The range (offset by `offset`) of the value in `name=value` (leading spaces skipped);
/// the whole part when it has no `=`.
fn pair_value(part: &str, offset: usize) -> (usize, usize) {
    let content = part.trim();
    let lead = part.len() - part.trim_start().len();
    match content.find('=') {
        Some(eq) => (offset + lead + eq + 1, offset + lead + content.len()),
        None => (offset + lead, offset + lead + content.len()),
    }
}

/// Which part of one `Sec-WebSocket-Protocol` entry is a token, `prev` being the entry
/// before it.
fn subprotocol_secret(item: &str, prev: Option<&str>) -> Option<(usize, usize)> {
    if item.is_empty() || item.starts_with(PLACEHOLDER_PREFIX) {
        return None;
    }
    // Kubernetes: `base64url.bearer.authorization.k8s.io.<base64url token>`.
    const K8S: &str = "base64url.bearer.authorization.k8s.io.";
    if item.len() > K8S.len()
        && item
            .get(..K8S.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(K8S))
    {
        return Some((K8S.len(), item.len()));
    }
    // `new WebSocket(url, ["access_token", token])`: the entry after a credential name (a
    // plain name, not itself a token such as Kubernetes' entry, which names `authorization`).
    let names_credential = |p: &str| {
        (is_credential_name(p) || p.eq_ignore_ascii_case("bearer"))
            && !p.contains('.')
            && subprotocol_secret(p, None).is_none()
    };
    if prev.is_some_and(names_credential) {
        return Some((0, item.len()));
    }
    if is_jwt_at(item.as_bytes(), 0).is_some_and(|end| end == item.len()) || looks_random(item) {
        return Some((0, item.len()));
    }
    None
}

/// The token-carrying entries of a `Sec-WebSocket-Protocol` value, offset by `offset`.
fn subprotocol_ranges(value: &str, offset: usize, ranges: &mut Vec<(usize, usize)>) {
    let mut at = offset;
    let mut prev: Option<&str> = None;
    for part in value.split(',') {
        let item = part.trim();
        let lead = part.len() - part.trim_start().len();
        if let Some((from, to)) = subprotocol_secret(item, prev) {
            ranges.push((at + lead + from, at + lead + to));
        }
        prev = Some(item);
        at += part.len() + 1;
    }
}

/// A long entry of token characters mixing letters and digits: a token, not a protocol name
/// (those are short words such as `graphql-transport-ws`, `v12.stomp`, `mqtt`).
fn looks_random(item: &str) -> bool {
    item.len() >= 32
        && item.bytes().all(is_token68_byte)
        && item.bytes().any(|b| b.is_ascii_digit())
        && item.bytes().any(|b| b.is_ascii_alphabetic())
}

fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.%".contains(&b)
}

/// Percent-decodes a parameter name for matching (`access%5Ftoken`); bytes that do not
/// decode are kept.
fn percent_decode(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The end of a quoted string whose opening quote `q` is at `open`: the index of the
/// closing quote, or the text's end when it is cut (a preview). Backslash escapes skipped.
fn string_end(bytes: &[u8], open: usize, q: u8) -> usize {
    let mut i = open + 1;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            i += 2;
        } else if b == q {
            return i;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| matches!(b, b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// JSON (and JavaScript-ish) members `"key": value` with a credential-like key: a string
/// value's content, or a scalar (number, literal), is masked; objects and arrays are walked
/// into, their own members judged by their keys.
fn json_members(text: &str, ranges: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'"' && b != b'\'' {
            i += 1;
            continue;
        }
        let end = string_end(bytes, i, b);
        let after = skip_spaces(bytes, end + 1);
        if bytes.get(after) == Some(&b':') {
            let key = text.get(i + 1..end).unwrap_or("");
            if is_credential_name(key) {
                let v = skip_spaces(bytes, after + 1);
                match bytes.get(v) {
                    Some(&q @ (b'"' | b'\'')) => {
                        ranges.push((v + 1, string_end(bytes, v, q)));
                    }
                    Some(c) if c.is_ascii_alphanumeric() || *c == b'-' => {
                        let mut e = v;
                        while bytes.get(e).is_some_and(|c| {
                            !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                        }) {
                            e += 1;
                        }
                        // `null`, `true`, `false` hide nothing.
                        if !matches!(text.get(v..e), Some("null" | "true" | "false")) {
                            ranges.push((v, e));
                        }
                    }
                    _ => {}
                }
            }
        }
        i = end + 1;
    }
}

/// `name=value` with a credential-like name, where the name starts the text or follows a
/// separator (`?`, `&`, `;`, space, quote, …): form bodies, query strings in text, cookies.
fn name_value_pairs(text: &str, ranges: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    for (eq, _) in text.match_indices('=') {
        let mut start = eq;
        while start > 0
            && bytes.get(start - 1).is_some_and(|b| is_name_byte(*b))
            && eq - start < MAX_NAME_LEN
        {
            start -= 1;
        }
        if start == eq
            || bytes
                .get(start.wrapping_sub(1))
                .is_some_and(|b| is_name_byte(*b))
        {
            continue;
        }
        let name = text.get(start..eq).unwrap_or("");
        if !is_credential_name(&percent_decode(name)) {
            continue;
        }
        let v = eq + 1;
        match bytes.get(v) {
            Some(&q @ (b'"' | b'\'')) => ranges.push((v + 1, string_end(bytes, v, q))),
            Some(_) => {
                let mut e = v;
                while bytes.get(e).is_some_and(|c| {
                    !matches!(
                        c,
                        b'&' | b';'
                            | b','
                            | b' '
                            | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'"'
                            | b'\''
                            | b'<'
                            | b'>'
                            | b'#'
                            | b')'
                            | b'}'
                            | b']'
                            | 0
                    )
                }) {
                    e += 1;
                }
                ranges.push((v, e));
            }
            None => {}
        }
    }
}

/// Header-like lines in text, `Authorization: Bearer …` or STOMP's `passcode:secret`: a line
/// (after a newline, or the text's start) whose name is a credential header or name has its
/// value masked to the line's end (the scheme of an Authorization kept, only the token
/// entries of a `Sec-WebSocket-Protocol`), and so do the lines folded into it.
fn header_lines(text: &str, ranges: &mut Vec<(usize, usize)>) {
    let mut offset = 0;
    let mut folding_masked = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        // A NUL ends a STOMP frame; what follows starts the next one.
        let body = body.split('\0').next().unwrap_or("");
        if body.starts_with([' ', '\t']) {
            if folding_masked {
                let content = body.trim();
                let start = offset + (body.len() - body.trim_start().len());
                ranges.push((start, start + content.len()));
            }
            offset += line.len();
            continue;
        }
        folding_masked = false;
        if let Some((name, value)) = body.split_once(':') {
            let is_name = !name.is_empty() && name.bytes().all(is_header_name_byte);
            let rule = if is_name {
                header_rule(name)
            } else {
                HeaderRule::Other
            };
            let content = value.trim();
            let lead = value.len() - value.trim_start().len();
            let start = offset + name.len() + 1 + lead;
            let end = start + content.len();
            match rule {
                HeaderRule::Authorization => match content.find([' ', '\t']) {
                    Some(space) => {
                        let rest = content.get(space..).unwrap_or("");
                        ranges.push((start + space + (rest.len() - rest.trim_start().len()), end));
                    }
                    None => ranges.push((start, end)),
                },
                HeaderRule::Cookie | HeaderRule::SetCookie | HeaderRule::Whole => {
                    ranges.push((start, end));
                }
                HeaderRule::Subprotocols => subprotocol_ranges(content, start, ranges),
                HeaderRule::Other => {}
            }
            folding_masked = !matches!(rule, HeaderRule::Other | HeaderRule::Subprotocols);
        }
        offset += line.len();
    }
}

/// Byte ranges of the credentials in raw bytes as on the wire (an HTTP head and what follows
/// it, a WebSocket payload), for masking bytes in place where the bytes themselves are shown
/// (the TUI's hex view): credential header lines, `name=value` parameters (the request
/// line's query too), JSON members, `Bearer` tokens and JWTs, by the rules of
/// [`Redactor::text`]. Non-ASCII bytes are read as opaque. Ranges may overlap.
#[must_use]
pub fn secret_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let ascii: String = bytes
        .iter()
        .map(|&b| if b.is_ascii() { char::from(b) } else { '\u{1}' })
        .collect();
    let mut ranges = Vec::new();
    json_members(&ascii, &mut ranges);
    name_value_pairs(&ascii, &mut ranges);
    header_lines(&ascii, &mut ranges);
    auth_schemes(&ascii, &mut ranges);
    jwts(&ascii, &mut ranges);
    ranges.retain(|(start, end)| start < end);
    ranges
}

/// `Bearer <token>` and `Basic <base64 of user:password>` anywhere in text (a message quoting
/// an Authorization value, a body echoing it). A bearer token must look like one (6 or more
/// characters with a digit or punctuation) and Basic credentials must decode to `user:pass`,
/// so prose such as "Bearer authentication" or "Basic auth" is left alone.
fn auth_schemes(text: &str, ranges: &mut Vec<(usize, usize)>) {
    use base64::Engine as _;
    let bytes = text.as_bytes();
    // Case-insensitive positions, as `match_indices` on a lower-cased copy would give them
    // (neither word overlaps itself or the other), without the copy: every `b` or `B` (found
    // with `memchr`, once for both schemes) where a scheme follows. The ranges are sorted
    // before they are used, so the order they are found in does not matter.
    let scheme_at = |at: usize| {
        ["bearer", "basic"].into_iter().find(|scheme| {
            bytes
                .get(at..at + scheme.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(scheme.as_bytes()))
        })
    };
    for (at, scheme) in memchr::memchr2_iter(b'b', b'B', bytes)
        .filter_map(|at| scheme_at(at).map(|scheme| (at, scheme)))
    {
        if at > 0 && bytes.get(at - 1).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let after = at + scheme.len();
        if !bytes.get(after).is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let start = skip_spaces(bytes, after);
        let mut end = start;
        while bytes.get(end).is_some_and(|b| is_token68_byte(*b)) {
            end += 1;
        }
        let token = text.get(start..end).unwrap_or("");
        // `Bearer realm="x"`: an auth-param of a challenge, not a token.
        let param = token.ends_with('=') && bytes.get(end) == Some(&b'"');
        let credential = if scheme == "basic" {
            base64::engine::general_purpose::STANDARD
                .decode(token)
                .is_ok_and(|d| d.contains(&b':'))
        } else {
            token.len() >= 6
                && token
                    .bytes()
                    .any(|b| b.is_ascii_digit() || b"-._~+/=".contains(&b))
        };
        if credential && !param {
            ranges.push((start, end));
        }
    }
}

/// JWTs anywhere in text: `eyJ…` `.` `…` `.` `…` in base64url.
fn jwts(text: &str, ranges: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    // Every `eyJ`: `match_indices`' positions (the word does not overlap itself) without a
    // substring searcher to set up per text.
    // Found by their `J` (rarer in text than `e`), two bytes after the start.
    let starts = memchr::memchr_iter(b'J', bytes)
        .filter_map(|j| j.checked_sub(2))
        .filter(|at| bytes.get(*at..*at + 3) == Some(b"eyJ"));
    for at in starts {
        if at > 0 && bytes.get(at - 1).is_some_and(|b| is_base64url_byte(*b)) {
            continue;
        }
        if let Some(end) = is_jwt_at(bytes, at) {
            ranges.push((at, end));
        }
    }
}

fn is_base64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The end of a JWT starting at `at` (`eyJ` + header, payload, optional signature), if one
/// does.
fn is_jwt_at(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at..at + 3) != Some(b"eyJ") {
        return None;
    }
    let mut i = at;
    let mut dots = 0;
    let mut segment = 0;
    while let Some(&b) = bytes.get(i) {
        if is_base64url_byte(b) {
            segment += 1;
        } else if b == b'.' && segment > 0 && dots < 2 {
            dots += 1;
            segment = 0;
        } else {
            break;
        }
        i += 1;
    }
    (dots == 2 && i - at >= 16).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(b"wssniff test key, 32 bytes long!").unwrap()
    }

    /// The text with every placeholder replaced by `<R>`, for readable expectations.
    fn shape(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find(PLACEHOLDER_PREFIX) {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('>').map_or(rest.len(), |e| at + e + 1);
            out.push_str("<R>");
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn a_kept_body_is_masked_like_a_preview() {
        let text = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 9\r\n\r\n";
        let crate::http::head::HeadParse::Complete(head) =
            crate::http::head::parse_head(text.as_bytes(), text.len(), false)
        else {
            panic!("head")
        };
        let mut m = Message {
            head,
            packets: vec![1],
            first_ts: crate::capture::Timestamp(0),
            last_ts: crate::capture::Timestamp(0),
            truncated: false,
            body: Some(crate::event::BodyExcerpt {
                bytes: br#"{"error":"bad token","token":"s3cret-value"}"#.to_vec(),
                ..Default::default()
            }),
            cut: None,
        };
        let redactor = r();
        let mut scope = Scope::new(&redactor);
        scope.message(&mut m);
        let body = m.body.and_then(|b| b.text()).unwrap_or_default();
        assert!(!body.contains("s3cret"), "{body}");
        assert_eq!(shape(&body), r#"{"error":"bad token","token":"<R>"}"#);
    }

    #[test]
    fn placeholders_are_keyed_stable_and_short() {
        let a = r();
        let p = a.placeholder("s3cret");
        assert_eq!(p, a.placeholder("s3cret"));
        assert_ne!(p, a.placeholder("s3cret2"));
        assert_eq!(p.len(), "<redacted:>".len() + HASH_HEX_DIGITS);
        let b = Redactor::new(b"another key of at least 16 bytes").unwrap();
        assert_ne!(p, b.placeholder("s3cret"));
        assert!(Redactor::new(b"short").is_err());
        assert!(!format!("{a:?}").contains("test key"));
    }

    #[test]
    fn header_values_by_name() {
        let r = r();
        let cases: &[(&str, &str, &str)] = &[
            ("Authorization", "Bearer s3cret", "Bearer <R>"),
            ("proxy-authorization", "Basic dXNlcjpwYXNz", "Basic <R>"),
            ("Authorization", "s3cret", "<R>"),
            ("Cookie", "session=abc; theme=dark", "session=<R>; theme=<R>"),
            ("Set-Cookie", "sid=abc; Path=/; HttpOnly", "sid=<R>; Path=/; HttpOnly"),
            ("X-Api-Key", "k-123", "<R>"),
            ("X-Auth-Token", "t-123", "<R>"),
            ("X-CSRF-Token", "c", "<R>"),
            ("WWW-Authenticate", "Bearer realm=\"wssniff\"", "Bearer realm=\"wssniff\""),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Host", "example.com:8080", "example.com:8080"),
            ("Referer", "https://a.example/app?room=1&token=abc", "https://a.example/app?room=1&token=<R>"),
            (
                "Sec-WebSocket-Protocol",
                "v4.channel.k8s.io, base64url.bearer.authorization.k8s.io.ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklp",
                "v4.channel.k8s.io, base64url.bearer.authorization.k8s.io.<R>",
            ),
            ("Sec-WebSocket-Protocol", "access_token, abc.def", "access_token, <R>"),
            ("Sec-WebSocket-Protocol", "chat, superchat", "chat, superchat"),
            ("Sec-WebSocket-Protocol", "graphql-transport-ws", "graphql-transport-ws"),
        ];
        for (name, value, want) in cases {
            assert_eq!(
                shape(&r.header_value(name, value)),
                *want,
                "{name}: {value}"
            );
        }
    }

    /// The words of [`is_credential_name`]'s documentation: [`contains_credential_word`]
    /// must find exactly these.
    const CREDENTIAL_WORDS: &[&str] = &[
        "token",
        "secret",
        "passw",
        "passcode",
        "apikey",
        "api_key",
        "api-key",
        "signature",
        "credential",
        "session",
        "sessid",
        "csrf",
        "xsrf",
        "jwt",
        "authorization",
    ];

    #[test]
    fn the_credential_word_scan_finds_exactly_the_listed_words() {
        let contains = |name: &str| CREDENTIAL_WORDS.iter().any(|w| name.contains(w));
        let mut names: Vec<String> = CREDENTIAL_WORDS
            .iter()
            .flat_map(|w| {
                let cut = &w[..w.len() - 1];
                [
                    (*w).to_owned(),
                    format!("x-{w}-y"),
                    cut.to_owned(),
                    format!("a{cut}b{w}"),
                ]
            })
            .collect();
        names.extend(
            [
                "", "t", "tokenize", "sess", "api", "apikeys", "author", "x-csr", "jw", "passwd",
            ]
            .map(str::to_owned),
        );
        for name in &names {
            assert_eq!(
                contains_credential_word(name.as_bytes()),
                contains(name),
                "{name}"
            );
        }
    }

    #[test]
    fn credential_names() {
        for n in [
            "token",
            "access_token",
            "AUTH",
            "key",
            "sig",
            "signature",
            "password",
            "passwd",
            "pwd",
            "jwt",
            "api_key",
            "apikey",
            "api-key",
            "secret",
            "client_secret",
            "session",
            "JSESSIONID",
            "PHPSESSID",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "auth_key",
            "x-auth",
            "passcode",
            "csrf_token",
            "refresh_token",
            "id_token",
            "access-key",
            "sid",
        ] {
            assert!(is_credential_name(n), "{n}");
        }
        for n in [
            "author",
            "keyboard",
            "room",
            "EIO",
            "transport",
            "Sec-WebSocket-Key",
            "v",
            "monkey",
            "signal",
            "",
        ] {
            assert!(!is_credential_name(n), "{n}");
        }
    }

    #[test]
    fn targets_mask_parameters_and_userinfo() {
        let r = r();
        let cases: &[(&str, &str)] = &[
            ("/ws?token=abc&room=lobby", "/ws?token=<R>&room=lobby"),
            ("/ws?Access_Token=abc", "/ws?Access_Token=<R>"),
            ("/ws?access%5Ftoken=abc", "/ws?access%5Ftoken=<R>"),
            ("/ws?room=1;sig=xyz", "/ws?room=1;sig=<R>"),
            (
                "/cb#access_token=abc&state=1",
                "/cb#access_token=<R>&state=1",
            ),
            ("/ws?token=", "/ws?token="),
            (
                "/ws?EIO=4&transport=websocket&sid=abc",
                "/ws?EIO=4&transport=websocket&sid=<R>",
            ),
            ("http://user:pw@h:1/ws", "http://user:<R>@h:1/ws"),
            ("http://tok@h/ws", "http://<R>@h/ws"),
            ("/plain", "/plain"),
        ];
        for (t, want) in cases {
            assert_eq!(shape(&r.target(t)), *want, "{t}");
        }
    }

    #[test]
    fn text_masks_json_pairs_lines_schemes_and_jwts() {
        let r = r();
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1";
        let cases: Vec<(String, &str)> = vec![
            (r#"40{"token":"abc"}"#.into(), r#"40{"token":"<R>"}"#),
            (
                r#"42["auth",{"token": "abc", "room":"x"}]"#.into(),
                r#"42["auth",{"token": "<R>", "room":"x"}]"#,
            ),
            (
                r#"{"auth":{"user":"bob","password":"hunter2"}}"#.into(),
                r#"{"auth":{"user":"bob","password":"<R>"}}"#,
            ),
            (
                r#"{"apiKey": 12345, "n": 1}"#.into(),
                r#"{"apiKey": <R>, "n": 1}"#,
            ),
            (r#"{"token": null}"#.into(), r#"{"token": null}"#),
            (
                r#"40{"token":"eyJhbGciOiJIUzI1"#.into(),
                r#"40{"token":"<R>"#,
            ),
            ("user=bob&password=hunter2".into(), "user=bob&password=<R>"),
            (
                "CONNECT\nlogin:guest\npasscode:guest\n\n\0".into(),
                "CONNECT\nlogin:guest\npasscode:<R>\n\n\0",
            ),
            (
                "Authorization: Bearer abc\r\n".into(),
                "Authorization: Bearer <R>\r\n",
            ),
            (
                "sent Bearer abc.def to the server".into(),
                "sent Bearer <R> to the server",
            ),
            ("Bearer realm=\"x\"".into(), "Bearer realm=\"x\""),
            (format!("hello {jwt} bye"), "hello <R> bye"),
            (
                "hello world: nothing here".into(),
                "hello world: nothing here",
            ),
            ("tick 3".into(), "tick 3"),
        ];
        for (t, want) in &cases {
            assert_eq!(shape(&r.text(t)), *want, "{t}");
        }
        // Nothing to mask: the text is borrowed back, not copied.
        assert!(matches!(r.text("tick 3"), Cow::Borrowed(_)));
        // Masking is idempotent: placeholders are not masked again.
        let once = r.text(r#"{"token":"abc"}"#).into_owned();
        assert_eq!(r.text(&once), once);
    }

    #[test]
    fn raw_heads_keep_their_shape() {
        let r = r();
        let mut scope = Scope::new(&r);
        let raw = "GET /ws?token=abc HTTP/1.1\r\nHost: h\r\nAuthorization:  Bearer abc \r\nX-Long: a,\r\n  b\r\nCookie: a=1;\r\n\tb=2\r\n\r\n";
        let got = scope.raw_head(raw).into_owned();
        assert_eq!(
            shape(&got),
            "GET /ws?token=<R> HTTP/1.1\r\nHost: h\r\nAuthorization:  Bearer <R> \r\nX-Long: a,\r\n  b\r\nCookie: a=<R>;\r\n\t<R>\r\n\r\n"
        );
        // The token means the same wherever it appears: query and header give one hash.
        let q = &got[got.find("token=").unwrap() + 6..got.find(" HTTP").unwrap()];
        let a = &got[got.find("Bearer ").unwrap() + 7..got.find(" \r\nX-Long").unwrap()];
        assert_eq!(q, a);
        assert_eq!(got.lines().count(), raw.lines().count());
    }

    #[test]
    fn free_text_masks_values_the_record_masked_elsewhere() {
        let r = r();
        let mut scope = Scope::new(&r);
        let _ = scope.header_value("Sec-WebSocket-Protocol", "access_token, abcdef");
        assert_eq!(
            shape(&scope.free_text("server chose abcdef, not offered")),
            "server chose <R>, not offered"
        );
        assert_eq!(
            shape(&scope.quoted_line("Sec-WebSocket-Protocol: abcdef")),
            "Sec-WebSocket-Protocol: <R>"
        );
    }

    #[test]
    fn remembered_clean_texts_never_pass_a_secret() {
        let r = r();
        let clean = "server answered 200 instead of 101 (Server: nginx/1.22.1): the request reached an HTTP handler";
        let secret = "the body says \"token=abcdef123456\" (Authorization: Bearer s3cret-token1)";
        for _ in 0..3 {
            assert!(matches!(Scope::new(&r).free_text(clean), Cow::Borrowed(_)));
            assert!(matches!(
                Scope::new(&r).quoted_line("Server: nginx/1.22.1"),
                Cow::Borrowed(_)
            ));
            let masked = Scope::new(&r).free_text(secret);
            assert!(
                !masked.contains("abcdef123456") && !masked.contains("s3cret"),
                "{masked}"
            );
            let quoted = Scope::new(&r).quoted_line("X-Note: token=abcdef123456");
            assert_eq!(shape(&quoted), "X-Note: token=<R>");
        }
        // The clean ones are remembered, shared by clones; a text with a secret never is, nor
        // one that differs from a clean one by a byte.
        let clone = r.clone();
        assert!(clone.clean.holds(clean) && clone.clean.holds("Server: nginx/1.22.1"));
        assert!(!r.clean.holds(secret) && !r.clean.holds("X-Note: token=abcdef123456"));
        let near = clean.replace("handler", "handler token=abcdef");
        assert_eq!(
            shape(&Scope::new(&r).free_text(&near)),
            clean.replace("handler", "handler token=<R>")
        );
        // A record whose message repeats a value masked elsewhere in it is masked there, even
        // where the same text alone was remembered clean.
        let mut scope = Scope::new(&r);
        let _ = scope.header_value("Sec-WebSocket-Protocol", "access_token, abcdefgh");
        let echoed = "server chose abcdefgh, not offered";
        assert!(matches!(Scope::new(&r).free_text(echoed), Cow::Borrowed(_)));
        assert!(r.clean.holds(echoed));
        assert_eq!(
            shape(&scope.free_text(echoed)),
            "server chose <R>, not offered"
        );
        // Bounded: a full set takes no more, long texts are not taken, and secrets are
        // still found.
        for i in 0..MAX_CLEAN_TEXTS + 10 {
            let _ = Scope::new(&r).free_text(&format!("clean text {i}"));
        }
        assert_eq!(r.clean.len(), MAX_CLEAN_TEXTS);
        let long = "x".repeat(MAX_CLEAN_TEXT_LEN + 1);
        let _ = Scope::new(&r).free_text(&long);
        assert!(!r.clean.holds(&long));
        let masked = Scope::new(&r).free_text(secret);
        assert!(
            !masked.contains("abcdef123456") && !masked.contains("s3cret"),
            "{masked}"
        );
    }

    #[test]
    fn secret_ranges_cover_the_wire_bytes_of_every_credential() {
        let raw = b"GET /ws?token=abc&room=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nCookie: a=1\r\nSec-WebSocket-Protocol: access_token, tok123\r\nX-\xff: \xfe\r\n\r\n";
        let mut masked = raw.to_vec();
        for (s, e) in secret_ranges(raw) {
            masked[s..e].fill(b'*');
        }
        assert_eq!(
            String::from_utf8_lossy(&masked),
            "GET /ws?token=***&room=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ******\r\nCookie: ***\r\nSec-WebSocket-Protocol: access_token, ******\r\nX-\u{fffd}: \u{fffd}\r\n\r\n"
        );
    }

    #[test]
    fn disabled_passes_everything() {
        let off = Redactor::disabled();
        assert!(!off.is_enabled());
        assert_eq!(off.header_value("Authorization", "Bearer x"), "Bearer x");
        assert_eq!(off.text(r#"{"token":"x"}"#), r#"{"token":"x"}"#);
        assert_eq!(off.target("/?token=x"), "/?token=x");
    }

    #[test]
    fn hostile_text_is_linear_and_safe() {
        let r = r();
        for t in [
            "=".repeat(100_000),
            "a=".repeat(50_000),
            "\"".repeat(100_000),
            "\"token\":".repeat(10_000),
            "eyJ.".repeat(20_000),
            "bearer ".repeat(10_000),
            "é=é&token=é\"".repeat(5_000),
        ] {
            let out = r.text(&t);
            assert!(out.len() <= t.len() * 20 + 64);
        }
    }

    /// The scanners before they looked for `J` and read both schemes in one pass, kept to
    /// hold the new ones against.
    fn previous_jwts(text: &str, ranges: &mut Vec<(usize, usize)>) {
        let bytes = text.as_bytes();
        for at in
            memchr::memchr_iter(b'e', bytes).filter(|at| bytes.get(*at..*at + 3) == Some(b"eyJ"))
        {
            if at > 0 && bytes.get(at - 1).is_some_and(|b| is_base64url_byte(*b)) {
                continue;
            }
            if let Some(end) = is_jwt_at(bytes, at) {
                ranges.push((at, end));
            }
        }
    }

    fn previous_auth_schemes(text: &str, ranges: &mut Vec<(usize, usize)>) {
        use base64::Engine as _;
        let bytes = text.as_bytes();
        for scheme in ["bearer", "basic"] {
            let at_scheme = |at: &usize| {
                bytes
                    .get(*at..*at + scheme.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(scheme.as_bytes()))
            };
            for at in memchr::memchr2_iter(b'b', b'B', bytes).filter(at_scheme) {
                if at > 0 && bytes.get(at - 1).is_some_and(u8::is_ascii_alphanumeric) {
                    continue;
                }
                let after = at + scheme.len();
                if !bytes.get(after).is_some_and(|b| *b == b' ' || *b == b'\t') {
                    continue;
                }
                let start = skip_spaces(bytes, after);
                let mut end = start;
                while bytes.get(end).is_some_and(|b| is_token68_byte(*b)) {
                    end += 1;
                }
                let token = &text[start..end];
                let param = token.ends_with('=') && bytes.get(end) == Some(&b'"');
                let credential = if scheme == "basic" {
                    base64::engine::general_purpose::STANDARD
                        .decode(token)
                        .is_ok_and(|d| d.contains(&b':'))
                } else {
                    token.len() >= 6
                        && token
                            .bytes()
                            .any(|b| b.is_ascii_digit() || b"-._~+/=".contains(&b))
                };
                if credential && !param {
                    ranges.push((start, end));
                }
            }
        }
    }

    /// Random texts of scheme words, JWT pieces and filler: the same ranges (as a set: they
    /// are sorted before use) as the previous scanners found, and `text` takes them all.
    #[test]
    fn scanners_find_what_the_previous_ones_found() {
        let pieces = [
            "eyJ",
            "eyJhbGciOiJIUzI1NiJ9",
            ".",
            "e",
            "J",
            "y",
            "x",
            "-",
            " ",
            "\t",
            "=",
            "\"",
            "bearer ",
            "Bearer",
            "BASIC ",
            "basic",
            "b",
            "B",
            "dXNlcjpwYXNz",
            "abc123",
            "realm=",
            "é",
            "Authorization: ",
        ];
        let mut seed = 0x853c_49e6_748f_ea9b_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let r = r();
        for _ in 0..20_000 {
            let len = (next() % 16) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            jwts(&text, &mut ours);
            previous_jwts(&text, &mut theirs);
            auth_schemes(&text, &mut ours);
            previous_auth_schemes(&text, &mut theirs);
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "{text:?}");
            let _ = r.text(&text);
        }
    }

    #[test]
    fn plain_headers_get_what_the_full_rules_give() {
        for name in PLAIN_HEADERS {
            assert!(is_plain_header(name), "{name}");
            assert!(!is_plain_header(&format!("{name}x")), "{name}");
            assert_eq!(full_header_rule(name), HeaderRule::Other, "{name}");
            assert_eq!(header_rule(&name.to_ascii_uppercase()), HeaderRule::Other);
        }
        assert!(!is_plain_header("cookie") && !is_plain_header(""));
        // Any one byte changed (to another letter, a digit, a dash) makes a name that is not
        // in the list: the length table holds exactly the list.
        for name in PLAIN_HEADERS {
            for i in 0..name.len() {
                for b in [b'a', b'z', b'0', b'-', b'_'] {
                    let mut bytes = name.as_bytes().to_vec();
                    bytes[i] = b;
                    let other = String::from_utf8(bytes).unwrap();
                    assert_eq!(
                        is_plain_header(&other),
                        PLAIN_HEADERS.contains(&other.as_str()),
                        "{other}"
                    );
                }
            }
        }
    }

    /// The word test for `?`, `#`, `@` against the byte rule at every position of every
    /// length to six words (the short forms to 32 bytes and the loop), among bytes next to them.
    #[test]
    fn url_secret_bytes_are_found_anywhere() {
        for len in 0..=48 {
            for fill in [b'a', b'>', b'A', b'"', 0xff, 0] {
                let clean = vec![fill; len];
                assert!(!has_url_secret_byte(&clean));
                for pos in 0..len {
                    for b in [b'?', b'#', b'@', b'>', b'"', b'$', b'A', b'\x80', b'\xc0'] {
                        let mut bytes = clean.clone();
                        bytes[pos] = b;
                        let want = matches!(b, b'?' | b'#' | b'@');
                        assert_eq!(has_url_secret_byte(&bytes), want, "{bytes:?}");
                    }
                }
            }
        }
        assert_eq!(header_rule("Authorization"), HeaderRule::Authorization);
        assert_eq!(header_rule(" X-Api-Key"), HeaderRule::Whole);
    }

    /// `trim` is `str::trim` for every end: ASCII, ASCII whitespace (U+000B among it), the
    /// Unicode spaces, non-ASCII letters.
    #[test]
    fn trim_is_str_trim() {
        let ends = [
            "", "a", "-", " ", "\t", "\n", "\u{b}", "\u{c}", "\r", "\u{85}", "\u{a0}", "\u{2003}",
            "\u{3000}", "é", "€", "\u{7f}", "\u{0}",
        ];
        for a in ends {
            for b in ends {
                for middle in ["", "X-Api-Key", " x "] {
                    let name = format!("{a}{middle}{b}");
                    assert_eq!(trim(&name), name.trim(), "{name:?}");
                }
            }
        }
    }

    /// The start line's target masked as `splitn(3, ' ')` found it (the rule before the byte
    /// search): request and status lines, no space, one, several, leading and trailing ones.
    #[test]
    fn start_lines_split_as_splitn_did() {
        fn previous(scope: &mut Scope<'_>, line: &str) -> String {
            let mut parts = line.splitn(3, ' ');
            let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
                return line.to_owned();
            };
            if method.starts_with("HTTP/") {
                return line.to_owned();
            }
            match scope.target(target) {
                Cow::Borrowed(_) => line.to_owned(),
                Cow::Owned(t) => {
                    let rest = parts.next().map(|r| format!(" {r}")).unwrap_or_default();
                    format!("{method} {t}{rest}")
                }
            }
        }
        let r = r();
        let pieces = [
            "GET",
            " ",
            "/ws?token=abc",
            "HTTP/1.1",
            "HTTP/",
            "?",
            "#k=v",
            "x",
            "  ",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let line: String = (0..(seed % 7))
                .map(|i| pieces[((seed >> (8 * i + 3)) % pieces.len() as u64) as usize])
                .collect();
            let ours = Scope::new(&r).start_line(&line).into_owned();
            assert_eq!(ours, previous(&mut Scope::new(&r), &line), "{line:?}");
        }
    }
}
