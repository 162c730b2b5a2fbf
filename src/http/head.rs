//! HTTP/1.x message heads over a reassembled byte stream: detection, parsing, body framing.
//!
//! This module only looks at bytes; it keeps no connection state beyond the small scanners
//! below. A head is parsed once, when its terminating blank line is present, so a request
//! dribbled one byte per segment costs linear time, not one parse per byte.

use crate::event::{trim, Head, Headers, LowerName, StartLine};

/// The names and tokens the scans and [`request_fields`] look for, compared a word at a time.
const UPGRADE: LowerName = LowerName::new(b"upgrade");
const CONTENT_LENGTH: LowerName = LowerName::new(b"content-length");
const TRANSFER_ENCODING: LowerName = LowerName::new(b"transfer-encoding");
const SEC_WEBSOCKET_: LowerName = LowerName::new(b"sec-websocket-");
const WEBSOCKET: LowerName = LowerName::new(b"websocket");
const H2C: LowerName = LowerName::new(b"h2c");
const CHUNKED: LowerName = LowerName::new(b"chunked");
const SEC_WEBSOCKET_ACCEPT: LowerName = LowerName::new(b"sec-websocket-accept");
const SEC_WEBSOCKET_EXTENSIONS: LowerName = LowerName::new(b"sec-websocket-extensions");

/// Most header fields parsed in one head.
pub const MAX_HEADERS: usize = 256;

/// Result of looking for a head at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadParse {
    /// A complete head.
    Complete(Head),
    /// No blank line yet.
    Partial,
    /// The bytes up to the blank line are not a valid head.
    Invalid(String),
}

/// Finds the end of a head (`\r\n\r\n`, or a bare `\n\n`) in `buf`, starting the search at
/// `from` (the caller remembers how far it already looked). Returns the head length.
#[must_use]
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let tail = buf.get(start..)?;
    let mut i = 0;
    // memchr: a head's lines are tens of bytes, searched a vector at a time.
    while let Some(pos) = tail.get(i..).and_then(|t| memchr::memchr(b'\n', t)) {
        let at = i + pos;
        // `at` is a newline; a head ends at "\n\r\n" or "\n\n".
        match (tail.get(at + 1), tail.get(at + 2)) {
            (Some(b'\n'), _) => return Some(start + at + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(start + at + 3),
            _ => {}
        }
        i = at + 1;
    }
    None
}

/// Parses a head that starts at `buf[0]` and is `len` bytes long (from [`find_head_end`]).
#[must_use]
pub fn parse_head(buf: &[u8], len: usize, request: bool) -> HeadParse {
    let Some(bytes) = buf.get(..len) else {
        return HeadParse::Partial;
    };
    let mut storage = header_slots();
    match parse_raw(bytes, request, &mut storage) {
        Ok(raw) => HeadParse::Complete(owned_head(bytes, &raw, request)),
        Err(why) => HeadParse::Invalid(why),
    }
}

/// The owned [`Head`] of `bytes` (a whole head) as httparse read it into `raw`.
fn owned_head(bytes: &[u8], raw: &RawHead<'_, '_>, request: bool) -> Head {
    // The head is checked as UTF-8 once: its start line, names and values are slices of
    // that text (each starts and ends at an ASCII byte or the head's ends), not checked
    // again one by one. A head that is not UTF-8 has each part replaced on its own.
    let whole = std::str::from_utf8(bytes).ok();
    let part = |slice: &[u8]| -> Option<&str> {
        let at = slice.as_ptr().addr().wrapping_sub(bytes.as_ptr().addr());
        whole?.get(at..at.checked_add(slice.len())?)
    };
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    let start_line = part(first_line).map_or_else(|| text(first_line), str::to_owned);
    let start = if request {
        StartLine::Request {
            method: raw.method.unwrap_or_default().to_owned(),
            target: raw.path.unwrap_or_default().to_owned(),
        }
    } else {
        StartLine::Response {
            status: raw.code.unwrap_or(0),
            reason: raw.reason.unwrap_or_default().to_owned(),
        }
    };
    let head_bytes = bytes.get(..raw.len).unwrap_or(bytes);
    Head {
        start,
        version_minor: raw.version.unwrap_or(1),
        start_line,
        headers: owned_headers(bytes, whole, raw.headers),
        len: raw.len,
        raw: part(head_bytes).map_or_else(|| text(head_bytes), str::to_owned),
    }
}

/// The [`Headers`] of `fields` (httparse's, slices of `bytes`; `whole` is `bytes` when it is
/// UTF-8): each value sliced from that text, trimmed. A head that is not UTF-8 has each
/// value replaced on its own.
fn owned_headers(bytes: &[u8], whole: Option<&str>, fields: &[httparse::Header<'_>]) -> Headers {
    let mut headers = Headers::with_capacity(fields.len());
    for h in fields {
        let at = h.value.as_ptr().addr().wrapping_sub(bytes.as_ptr().addr());
        match whole.and_then(|w| w.get(at..at.checked_add(h.value.len())?)) {
            Some(value) => headers.push(h.name, trim(value)),
            None => headers.push(h.name, String::from_utf8_lossy(h.value).trim()),
        }
    }
    headers
}

/// `bytes` as an owned string, invalid UTF-8 replaced. Heads are nearly always ASCII:
/// `str::from_utf8` checks them a word at a time, where `from_utf8_lossy` walks them in
/// chunks (1.7 % of a run, parsing every upgrade's head).
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(valid) => valid.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Parses what a snap-length cut left of a head that starts at `buf[0]` and has no end in
/// `buf`: the complete lines before the cut (a header line the cut split is dropped, since
/// its value may be short). `None` when the start line is cut before its status code (or
/// before the request's version), or the lines do not parse. The head's `raw` is the captured lines, its `len` the bytes captured.
#[must_use]
pub fn parse_cut_head(buf: &[u8], request: bool) -> Option<Head> {
    // Without a complete line, the start line itself was cut: it is kept when what is left
    // still parses (a status code, or a request line up to its version).
    let lines = match buf.iter().rposition(|&b| b == b'\n') {
        Some(last_newline) => buf.get(..=last_newline)?,
        None => buf,
    };
    let crlf = lines.ends_with(b"\r\n") || !lines.ends_with(b"\n");
    let mut closed = Vec::with_capacity(lines.len() + 2);
    closed.extend_from_slice(lines);
    closed.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    if !lines.ends_with(b"\n") {
        closed.extend_from_slice(b"\r\n");
    }
    match parse_head(&closed, closed.len(), request) {
        HeadParse::Complete(mut head) => {
            head.len = buf.len();
            head.raw = String::from_utf8_lossy(lines).into_owned();
            Some(head)
        }
        HeadParse::Partial | HeadParse::Invalid(_) => None,
    }
}

/// Uninitialised stack slots for httparse: a zeroed 8 KiB vector per head was an allocation
/// plus a memset on every HTTP message of every keep-alive connection.
fn header_slots<'b>() -> [std::mem::MaybeUninit<httparse::Header<'b>>; MAX_HEADERS] {
    [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS]
}

/// A head as httparse sees it, borrowing the bytes: shared by [`parse_head`] (which builds an
/// owned [`Head`]) and [`scan_head`] (which builds nothing).
struct RawHead<'h, 'b> {
    method: Option<&'b str>,
    path: Option<&'b str>,
    code: Option<u16>,
    reason: Option<&'b str>,
    version: Option<u8>,
    headers: &'h [httparse::Header<'b>],
    len: usize,
}

/// Parses with the leniency wssniff wants: what real peers send, not only what RFC 9112
/// allows (extra spaces in the start line; obsolete folding and spaces before the colon in
/// responses, which some servers still produce).
fn parse_raw<'h, 'b>(
    bytes: &'b [u8],
    request: bool,
    storage: &'h mut [std::mem::MaybeUninit<httparse::Header<'b>>],
) -> Result<RawHead<'h, 'b>, String> {
    let status = |r: Result<httparse::Status<usize>, httparse::Error>| match r {
        Ok(httparse::Status::Complete(n)) => Ok(n),
        Ok(httparse::Status::Partial) => Err("incomplete head".to_owned()),
        Err(e) => Err(error_text(e)),
    };
    if request {
        let mut req = httparse::Request::new(&mut []);
        let len = status(
            httparse::ParserConfig::default()
                .allow_multiple_spaces_in_request_line_delimiters(true)
                .parse_request_with_uninit_headers(&mut req, bytes, storage),
        )?;
        Ok(RawHead {
            method: req.method,
            path: req.path,
            code: None,
            reason: None,
            version: req.version,
            headers: req.headers,
            len,
        })
    } else {
        let mut resp = httparse::Response::new(&mut []);
        let len = status(
            httparse::ParserConfig::default()
                .allow_spaces_after_header_name_in_responses(true)
                .allow_obsolete_multiline_headers_in_responses(true)
                .allow_multiple_spaces_in_response_status_delimiters(true)
                .parse_response_with_uninit_headers(&mut resp, bytes, storage),
        )?;
        Ok(RawHead {
            method: None,
            path: None,
            code: resp.code,
            reason: resp.reason,
            version: resp.version,
            headers: resp.headers,
            len,
        })
    }
}

fn error_text(e: httparse::Error) -> String {
    match e {
        httparse::Error::TooManyHeaders => format!("more than {MAX_HEADERS} header fields"),
        other => other.to_string(),
    }
}

/// Whether bytes look like the start of an HTTP message of the wanted kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniff {
    /// A method name or `HTTP/` status line starts here.
    Yes,
    /// Definitely not.
    No,
    /// Too few bytes to tell.
    NeedMore,
}

/// Methods whose presence at a line start marks a request when resynchronising.
const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// Does `data` start like a request (`TOKEN SP`) or a response (`HTTP/1.`)?
#[must_use]
pub fn sniff(data: &[u8], request: bool) -> Sniff {
    if request {
        // A method is a token; real ones are short upper-case words.
        for (i, &b) in data.iter().enumerate().take(17) {
            if b == b' ' {
                return if i >= 3 { Sniff::Yes } else { Sniff::No };
            }
            if !b.is_ascii_uppercase() && b != b'-' && b != b'_' {
                return Sniff::No;
            }
        }
        if data.len() >= 17 {
            Sniff::No
        } else {
            Sniff::NeedMore
        }
    } else {
        let want = b"HTTP/1.";
        let n = data.len().min(want.len());
        if data.get(..n) != want.get(..n) {
            Sniff::No
        } else if n < want.len() {
            Sniff::NeedMore
        } else {
            Sniff::Yes
        }
    }
}

/// Finds the first line start at or after `from` where a message of the wanted kind begins.
#[must_use]
pub fn find_message_start(data: &[u8], from: usize, request: bool) -> Option<usize> {
    let mut i = from;
    while i < data.len() {
        let at_line_start = i == 0 || data.get(i - 1) == Some(&b'\n');
        if at_line_start {
            let rest = data.get(i..).unwrap_or_default();
            let hit = if request {
                METHODS.iter().any(|m| rest.starts_with(m))
            } else {
                rest.starts_with(b"HTTP/1.")
            };
            if hit {
                return Some(i);
            }
        }
        i = match data
            .get(i..)
            .and_then(|t| t.iter().position(|&b| b == b'\n'))
        {
            Some(p) => i + p + 1,
            None => return None,
        };
    }
    None
}

/// How the bytes after a head are delimited (RFC 9112 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// Body framing of a request head.
#[must_use]
pub fn request_body(head: &Head) -> Body {
    request_fields(head).body
}

/// What the pairing reads of a request head's fields, from one walk over them (the
/// lookups one by one walked an upgrade's seven fields five times).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestFields {
    /// `Upgrade` names websocket, or a `Sec-WebSocket-*` field is present.
    pub websocket: bool,
    /// `Upgrade` names h2c.
    pub h2c: bool,
    /// As [`request_body`].
    pub body: Body,
}

/// The [`RequestFields`] of a request head.
#[must_use]
pub fn request_fields(head: &Head) -> RequestFields {
    let (mut websocket, mut h2c, mut chunked, mut length) = (false, false, false, None);
    for h in &head.headers {
        // By length first, as in `scan_of`; lengths in bytes, as the comparisons count.
        match h.name.len() {
            7 if h.is_named(&UPGRADE) => {
                websocket |= h.holds_name(&WEBSOCKET);
                h2c |= h.holds_name(&H2C);
            }
            14 if length.is_none() && h.is_named(&CONTENT_LENGTH) => {
                length = Some(h.value);
            }
            17 if h.is_named(&TRANSFER_ENCODING) => chunked |= h.holds_name(&CHUNKED),
            _ => {}
        }
        websocket = websocket
            || h.name.len() > 14
                && h.name
                    .get(..14)
                    .is_some_and(|p| SEC_WEBSOCKET_.matches(p.as_bytes()));
    }
    RequestFields {
        websocket,
        h2c,
        body: request_framing(chunked, length.and_then(content_length_value)),
    }
}

/// Body framing of a response head, given the method of the request it answers.
#[must_use]
pub fn response_body(head: &Head, request_method: Option<&str>) -> Body {
    response_framing(
        head.status().unwrap_or(0),
        request_method == Some("HEAD"),
        head.has_token("Transfer-Encoding", "chunked"),
        content_length(head),
    )
}

/// What the pairing reads of a response head's fields, from one walk over them (looked up
/// one by one, a 101's fields were walked up to seven times: the accept, `Upgrade` thrice,
/// the extensions, the body's framing twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseFields {
    /// A `Sec-WebSocket-Accept` field is present.
    pub accept: bool,
    /// An `Upgrade` field is present.
    pub upgrade: bool,
    /// `Upgrade` names websocket.
    pub websocket: bool,
    /// `Upgrade` names h2c.
    pub h2c: bool,
    /// A `Sec-WebSocket-Extensions` field is present.
    pub extensions: bool,
    status: u16,
    chunked: bool,
    content_length: Option<u64>,
}

impl ResponseFields {
    /// As [`response_body`], `head_method` saying whether the request's method was HEAD.
    #[must_use]
    pub fn body(&self, head_method: bool) -> Body {
        response_framing(self.status, head_method, self.chunked, self.content_length)
    }
}

/// The [`ResponseFields`] of a response head.
#[must_use]
pub fn response_fields(head: &Head) -> ResponseFields {
    let mut f = ResponseFields {
        accept: false,
        upgrade: false,
        websocket: false,
        h2c: false,
        extensions: false,
        status: head.status().unwrap_or(0),
        chunked: false,
        content_length: None,
    };
    let mut length = None;
    for h in &head.headers {
        // By length first, as in `request_fields`.
        match h.name.len() {
            7 if h.is_named(&UPGRADE) => {
                f.upgrade = true;
                f.websocket |= h.holds_name(&WEBSOCKET);
                f.h2c |= h.holds_name(&H2C);
            }
            14 if length.is_none() && h.is_named(&CONTENT_LENGTH) => {
                length = Some(h.value);
            }
            17 if h.is_named(&TRANSFER_ENCODING) => f.chunked |= h.holds_name(&CHUNKED),
            20 if h.is_named(&SEC_WEBSOCKET_ACCEPT) => f.accept = true,
            24 if h.is_named(&SEC_WEBSOCKET_EXTENSIONS) => f.extensions = true,
            _ => {}
        }
    }
    f.content_length = length.and_then(content_length_value);
    f
}

/// RFC 9112 §6.3 for requests: chunked, else Content-Length, else no body.
fn request_framing(chunked: bool, content_length: Option<u64>) -> Body {
    if chunked {
        return Body::Chunked;
    }
    match content_length {
        Some(n) if n > 0 => Body::Length(n),
        _ => Body::None,
    }
}

/// RFC 9112 §6.3 for responses: none for 1xx/204/304/HEAD, chunked, Content-Length, else the
/// body runs until the connection closes.
fn response_framing(
    status: u16,
    head_method: bool,
    chunked: bool,
    content_length: Option<u64>,
) -> Body {
    if (100..200).contains(&status) || status == 204 || status == 304 || head_method {
        return Body::None;
    }
    if chunked {
        return Body::Chunked;
    }
    match content_length {
        Some(0) => Body::None,
        Some(n) => Body::Length(n),
        None => Body::UntilClose,
    }
}

/// What the connection bookkeeping needs from an ordinary (non-WebSocket) message: enough to
/// find the next one, read without building a [`Head`] (no allocation). Keep-alive HTTP is
/// most of the HTTP on a busy link, and none of it is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    /// `Upgrade` names websocket, or a `Sec-WebSocket-*` header is present: parse it fully.
    pub websocket: bool,
    /// `Upgrade` names h2c (HTTP/2 over cleartext, RFC 7540 §3.2).
    pub h2c: bool,
    /// A request whose target names an Engine.IO revision (`EIO=`): its bodies are read.
    pub engineio: bool,
    /// Response status (0 for a request).
    pub status: u16,
    /// The request method is HEAD.
    pub head_method: bool,
    /// The request method is CONNECT.
    pub connect_method: bool,
    /// `Transfer-Encoding` lists chunked.
    pub chunked: bool,
    /// The first `Content-Length`, when it parses.
    pub content_length: Option<u64>,
}

impl Scan {
    /// Body framing of this request.
    #[must_use]
    pub fn request_body(&self) -> Body {
        request_framing(self.chunked, self.content_length)
    }

    /// Body framing of this response to a request whose method was HEAD or not.
    #[must_use]
    pub fn response_body(&self, head_method: bool) -> Body {
        response_framing(self.status, head_method, self.chunked, self.content_length)
    }
}

/// Reads the head at the start of `buf` (`len` bytes, from [`find_head_end`]) for a [`Scan`].
/// `None` when it does not parse (or has too many fields): [`parse_head`] then says why.
#[must_use]
pub fn scan_head(buf: &[u8], len: usize, request: bool) -> Option<Scan> {
    read_head(buf, len, request, |_| false).map(|(scan, _)| scan)
}

/// [`scan_head`], and the owned [`Head`] as [`parse_head`] builds it when `wants_head` says
/// the caller needs it after seeing the scan: an upgrade's head is parsed once, not scanned
/// and then parsed again. `None` when the head does not parse (or has too many fields).
#[must_use]
pub fn read_head(
    buf: &[u8],
    len: usize,
    request: bool,
    wants_head: impl FnOnce(&Scan) -> bool,
) -> Option<(Scan, Option<Head>)> {
    let bytes = buf.get(..len)?;
    let mut storage = header_slots();
    let raw = parse_raw(bytes, request, &mut storage).ok()?;
    let scan = scan_of(&raw);
    let head = wants_head(&scan).then(|| owned_head(bytes, &raw, request));
    Some((scan, head))
}

/// What [`Scan`] says of a head httparse read.
fn scan_of(raw: &RawHead<'_, '_>) -> Scan {
    let (headers, status, head_method, connect_method) = (
        raw.headers,
        raw.code.unwrap_or(0),
        raw.method == Some("HEAD"),
        raw.method == Some("CONNECT"),
    );
    let mut scan = Scan {
        websocket: false,
        h2c: false,
        engineio: raw.path.is_some_and(|p| mentions_eio(p.as_bytes())),
        status,
        head_method,
        connect_method,
        chunked: false,
        content_length: None,
    };
    let mut seen_length = false;
    for h in headers.iter() {
        let name = h.name.as_bytes();
        // By length first: most names are none of these four, and no two share a length
        // (a `Sec-WebSocket-*` name is longer than 14 bytes).
        match name.len() {
            7 if UPGRADE.matches(name) => each_item(h.value, |t| {
                scan.websocket |= WEBSOCKET.matches(t);
                scan.h2c |= H2C.matches(t);
            }),
            14 if !seen_length && CONTENT_LENGTH.matches(name) => {
                // As `content_length`: the first field decides, its first comma item.
                seen_length = true;
                // The first item found by byte: `split(',')` set up a searcher for a few
                // digits (~160 instructions a value on b30).
                scan.content_length = std::str::from_utf8(h.value).ok().and_then(|v| {
                    let first = match v.bytes().position(|b| b == b',') {
                        Some(comma) => v.get(..comma)?,
                        None => v,
                    };
                    trim(first).parse().ok()
                });
            }
            17 if TRANSFER_ENCODING.matches(name) => {
                each_item(h.value, |t| scan.chunked |= CHUNKED.matches(t));
            }
            15.. if !scan.websocket
                && name.get(..14).is_some_and(|p| SEC_WEBSOCKET_.matches(p)) =>
            {
                scan.websocket = true;
            }
            _ => {}
        }
    }
    scan
}

/// Whether a request target carries an `EIO=` parameter (Engine.IO, `engineio::target`):
/// a byte search over the target only.
#[must_use]
pub fn mentions_eio(target: &[u8]) -> bool {
    eio_parameter(target).is_some()
}

/// Where the value of the first `EIO=` in a request target starts. Found from the `=`
/// signs (few in a target, found a vector at a time), not by a window at every byte.
#[must_use]
pub fn eio_parameter(target: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'=', target)
        .find(|&at| at.checked_sub(3).and_then(|from| target.get(from..at)) == Some(b"EIO"))
        .map(|at| at + 1)
}

fn content_length(head: &Head) -> Option<u64> {
    head.value("Content-Length").and_then(content_length_value)
}

/// The first field decides, its first comma item.
fn content_length_value(value: &str) -> Option<u64> {
    value.split(',').next().and_then(|v| v.trim().parse().ok())
}

/// Hands each comma item of `value`, trimmed of ASCII white space, to `each`: a byte loop
/// (values are a word or two; one walk for every token looked for).
fn each_item(value: &[u8], mut each: impl FnMut(&[u8])) {
    let mut rest = value;
    loop {
        match rest.iter().position(|&b| b == b',') {
            Some(comma) => {
                each(rest.get(..comma).unwrap_or_default().trim_ascii());
                rest = rest.get(comma + 1..).unwrap_or_default();
            }
            None => return each(rest.trim_ascii()),
        }
    }
}

/// Most bytes in a chunk-size or trailer line before the body is declared malformed.
const MAX_CHUNK_LINE: usize = 4096;

/// Walks a chunked body without copying chunk data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunked {
    in_trailers: bool,
}

/// What [`Chunked::step`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkStep {
    /// Consume this many bytes of control data (and call again).
    Control(usize),
    /// Consume the control line (`.0` bytes) then skip `.1` bytes of chunk data and its CRLF.
    Data(usize, u64),
    /// The body ended after this many bytes.
    Done(usize),
    /// More bytes are needed.
    NeedMore,
    /// Not a valid chunked body.
    Invalid,
}

impl Chunked {
    /// Looks at the bytes at the current position of a chunked body.
    pub fn step(&mut self, data: &[u8]) -> ChunkStep {
        let Some(nl) = data.iter().take(MAX_CHUNK_LINE).position(|&b| b == b'\n') else {
            return if data.len() >= MAX_CHUNK_LINE {
                ChunkStep::Invalid
            } else {
                ChunkStep::NeedMore
            };
        };
        let line = data.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.in_trailers {
            return if line.is_empty() {
                ChunkStep::Done(nl + 1)
            } else {
                ChunkStep::Control(nl + 1)
            };
        }
        let size_text = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let Some(size) = std::str::from_utf8(size_text)
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
        else {
            return ChunkStep::Invalid;
        };
        if size == 0 {
            self.in_trailers = true;
            return ChunkStep::Control(nl + 1);
        }
        // Chunk data is followed by CRLF.
        ChunkStep::Data(nl + 1, size.saturating_add(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_found_incrementally() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        assert_eq!(find_head_end(buf, 0), Some(27));
        for from in 0..27 {
            assert_eq!(find_head_end(buf, from), Some(27), "from {from}");
        }
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nHost: a\n\n", 0), Some(24));
    }

    #[test]
    fn parses_request_and_response_heads() {
        let req = b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n";
        let HeadParse::Complete(h) = parse_head(req, req.len(), true) else {
            panic!()
        };
        assert_eq!(h.method(), Some("GET"));
        assert_eq!(h.start_line, "GET /chat HTTP/1.1");
        assert!(h.has_token("connection", "upgrade"));
        assert!(h.has_token("Upgrade", "websocket"));
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        let HeadParse::Complete(h) = parse_head(resp, resp.len(), false) else {
            panic!()
        };
        assert_eq!(h.status(), Some(101));
        assert!(matches!(
            parse_head(b"\x16\x03\x01\r\n\r\n", 7, true),
            HeadParse::Invalid(_)
        ));
    }

    #[test]
    fn sniffing_and_resync() {
        assert_eq!(sniff(b"GET /", true), Sniff::Yes);
        assert_eq!(sniff(b"GE", true), Sniff::NeedMore);
        assert_eq!(sniff(b"\x16\x03\x01", true), Sniff::No);
        assert_eq!(sniff(b"HTTP/1.1 200", false), Sniff::Yes);
        assert_eq!(sniff(b"HTT", false), Sniff::NeedMore);
        assert_eq!(sniff(b"SSH-2.0", false), Sniff::No);
        let data = b"tail of body\r\nGET /ws HTTP/1.1\r\n";
        assert_eq!(find_message_start(data, 0, true), Some(14));
        assert_eq!(
            find_message_start(b"xx HTTP/1.1\r\nHTTP/1.1 101", 0, false),
            Some(13)
        );
    }

    #[test]
    fn an_eio_parameter_is_found_anywhere_in_the_target() {
        for (target, at) in [
            (&b"EIO=4"[..], Some(4)),
            (b"/socket.io/?x=1&EIO=4&t=2", Some(20)),
            (b"/?a==EIO=3", Some(9)),
            (b"/?EI=O", None),
            (b"=EIO", None),
            (b"EIO", None),
            (b"", None),
        ] {
            assert_eq!(eio_parameter(target), at, "{target:?}");
            assert_eq!(
                mentions_eio(target),
                target.windows(4).any(|w| w == b"EIO="),
                "{target:?}"
            );
        }
    }

    #[test]
    fn body_framing() {
        let parse = |b: &[u8], req| match parse_head(b, b.len(), req) {
            HeadParse::Complete(h) => h,
            other => panic!("{other:?}"),
        };
        let h = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false);
        assert_eq!(response_body(&h, Some("GET")), Body::Length(5));
        assert_eq!(response_body(&h, Some("HEAD")), Body::None);
        let h = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!(response_body(&h, None), Body::Chunked);
        let h = parse(b"HTTP/1.0 200 OK\r\n\r\n", false);
        assert_eq!(response_body(&h, None), Body::UntilClose);
        let h = parse(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", true);
        assert_eq!(request_body(&h), Body::Length(3));
    }

    #[test]
    fn scan_agrees_with_the_full_parse() {
        let heads: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (
                b"POST /x HTTP/1.1\r\nContent-Length:  7 \r\nContent-Length: 9\r\n\r\n",
                true,
            ),
            (
                b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
                true,
            ),
            (b"HEAD / HTTP/1.1\r\n\r\n", true),
            (b"GET /ws HTTP/1.1\r\nUpgrade: h2c, WebSocket\r\n\r\n", true),
            (b"GET /ws HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n", true),
            (
                b"GET /ws HTTP/1.1\r\nSec-WebSocket-: x\r\nupgrade: H2C\r\n\r\n",
                true,
            ),
            (
                b"GET /ws HTTP/1.1\r\nContent-Length: x\r\nContent-Length: 4\r\n\r\n",
                true,
            ),
            (
                b"POST /ws HTTP/1.1\r\nTRANSFER-ENCODING: chunked\r\nContent-Length: 4\r\n\r\n",
                true,
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
            (
                b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                false,
            ),
            (b"HTTP/1.0 200 OK\r\n\r\n", false),
            (b"HTTP/1.1 100 Continue\r\n\r\n", false),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false),
            (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nSec-WebSocket-Accept: x\r\nsec-websocket-extensions: a\r\n\r\n",
                false,
            ),
            (
                b"HTTP/1.1 101 X\r\nUPGRADE: websockets, WebSocket \r\nConnection: upgrade\r\n\r\n",
                false,
            ),
            (
                b"HTTP/1.1 101 X\r\nUpgrade: websockets\r\nSEC-WEBSOCKET-ACCEPTS: x\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n",
                false,
            ),
        ];
        for (bytes, request) in heads {
            let len = find_head_end(bytes, 0).unwrap();
            let scan = scan_head(bytes, len, *request).unwrap();
            let HeadParse::Complete(head) = parse_head(bytes, len, *request) else {
                panic!()
            };
            let ws = head.has_token("Upgrade", "websocket")
                || head.headers.iter().any(|h| {
                    h.name.len() > 14 && h.name.to_ascii_lowercase().starts_with("sec-websocket-")
                });
            assert_eq!(scan.websocket, ws, "{bytes:?}");
            // The head read with the scan is the head parse_head builds; none when unwanted.
            let (again, built) = read_head(bytes, len, *request, |s| *s == scan).unwrap();
            assert_eq!((again, built.as_ref()), (scan, Some(&head)), "{bytes:?}");
            assert_eq!(
                read_head(bytes, len, *request, |_| false),
                Some((scan, None))
            );
            if *request {
                assert_eq!(scan.request_body(), request_body(&head), "{bytes:?}");
                // One walk reads what the lookups one by one read.
                let one_by_one = RequestFields {
                    websocket: ws,
                    h2c: head.has_token("Upgrade", "h2c"),
                    body: request_framing(
                        head.has_token("Transfer-Encoding", "chunked"),
                        content_length(&head),
                    ),
                };
                assert_eq!(request_fields(&head), one_by_one, "{bytes:?}");
                assert_eq!(scan.head_method, head.method() == Some("HEAD"));
            } else {
                // One walk reads what the pairing's lookups one by one read.
                let fields = response_fields(&head);
                assert_eq!(
                    (
                        fields.accept,
                        fields.upgrade,
                        fields.websocket,
                        fields.h2c,
                        fields.extensions
                    ),
                    (
                        head.value("Sec-WebSocket-Accept").is_some(),
                        head.fields("Upgrade").next().is_some(),
                        head.has_token("Upgrade", "websocket"),
                        head.has_token("Upgrade", "h2c"),
                        head.fields("Sec-WebSocket-Extensions").next().is_some()
                    ),
                    "{bytes:?}"
                );
                for method in [None, Some("HEAD")] {
                    assert_eq!(
                        scan.response_body(method.is_some()),
                        response_body(&head, method),
                        "{bytes:?}"
                    );
                    assert_eq!(
                        fields.body(method.is_some()),
                        response_body(&head, method),
                        "{bytes:?}"
                    );
                }
            }
        }
        assert_eq!(scan_head(b"\x16\x03\x01\r\n\r\n", 7, true), None);
    }

    #[test]
    fn the_quick_trim_is_str_trim() {
        for value in [
            "",
            "a",
            " a",
            "a ",
            "\ta\t",
            "\u{a0}a",
            "a\u{a0}",
            "\u{b}a",
            "a\u{85}",
            "é",
            "aé",
            "\u{3000}x\u{3000}",
            "x y",
            "\u{1}",
        ] {
            assert_eq!(trim(value), value.trim(), "{value:?}");
        }
    }

    #[test]
    fn chunked_body_walk() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
        let mut c = Chunked::default();
        let mut pos = 0usize;
        loop {
            match c.step(&body[pos..]) {
                ChunkStep::Control(n) => pos += n,
                ChunkStep::Data(n, skip) => pos += n + usize::try_from(skip).unwrap(),
                ChunkStep::Done(n) => {
                    pos += n;
                    break;
                }
                other => panic!("{other:?} at {pos}"),
            }
        }
        assert_eq!(pos, body.len());
        assert_eq!(Chunked::default().step(b"zz\r\n"), ChunkStep::Invalid);
    }

    #[test]
    fn a_cut_head_keeps_its_complete_lines_and_drops_the_split_one() {
        let cut = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Ke";
        let head = parse_cut_head(cut, true).unwrap_or_else(|| unreachable!());
        assert_eq!(head.method(), Some("GET"));
        let names: Vec<&str> = head.headers.iter().map(|h| h.name).collect();
        assert_eq!(names, ["Host", "Upgrade"]);
        assert_eq!(head.len, cut.len());
        assert!(head.raw.ends_with("websocket\r\n"));
        let status = parse_cut_head(b"HTTP/1.1 101 Switching Protocols\r\nUpg", false);
        assert_eq!(status.and_then(|h| h.status()), Some(101));
        let reason_cut = parse_cut_head(b"HTTP/1.1 101 Switching P", false);
        assert_eq!(reason_cut.and_then(|h| h.status()), Some(101));
        assert_eq!(parse_cut_head(b"GET /chat HTT", true), None);
        assert_eq!(parse_cut_head(b"HTTP/1.1 10", false), None);
    }
}
