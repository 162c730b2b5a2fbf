//! One direction's HTTP/1.x message boundaries: where heads start and end, and how the bytes
//! after a head are skipped, over any [`ByteStream`].
//!
//! ```text
//!  Start ──sniff: a request or a response──▶ Head ──end found──▶ Framed::Head (to the pairing)
//!    │ not HTTP                               ▲  │ passed the cap ──▶ Framed::HeaderLimit
//!    ▼                                        │  ▼
//!  Framed::NotHttp ◀── budget spent, or ── Resync ◀── gap, malformed head or chunked body
//!                      a TLS record           (scans for a request line or a status line)
//!
//!  after a head the pairing decides: Framer::body (Content-Length skipped with one consume,
//!  chunked walked chunk by chunk, nothing), Framer::read_body (the pairing reads the body
//!  itself: Framed::Body until it is done) or Framer::await_response (an upgrade request:
//!  nothing more is read from the client until the answer)
//! ```
//!
//! The framer reads; it never builds a head (the pairing does, from the bytes the framer
//! delimited), never decides which protocol comes next and never allocates.

use crate::http::head::{self as http, Body, ChunkStep, Chunked, Sniff};
use crate::tcp::connection::Link;
use crate::tcp::flow::Side;
use crate::tcp::stream::ByteStream;

/// Bytes of a desynchronised stream scanned for a message start before giving up on it.
pub const RESYNC_BUDGET: usize = 64 * 1024;

/// Where a direction is between HTTP messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the first byte of a stream that began with a SYN: a message boundary.
    Start,
    /// Somewhere inside a message: look for the next message start.
    Resync { budget: usize },
    /// Accumulating a head; `scanned` bytes were already searched for its end.
    Head { scanned: usize },
    /// Inside a chunked body.
    Chunked(Chunked),
    /// The client sent an upgrade request and waits for the answer.
    AwaitResponse,
    /// The pairing reads this message's body itself ([`Framed::Body`]).
    Body,
}

/// One direction's HTTP/1.x framer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framer {
    state: State,
}

/// What one [`Framer::step`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framed {
    /// Nothing more until more bytes arrive.
    NeedMore,
    /// Bytes were consumed or the state changed: step again.
    Continue,
    /// A complete head of `len` bytes starts the buffer, a request or a response.
    Head {
        /// Length of the head, blank line included.
        len: usize,
        /// Whether it is read as a request.
        is_request: bool,
    },
    /// The head passed the header cap without ending.
    HeaderLimit {
        /// Whether it was read as a request.
        is_request: bool,
    },
    /// The bytes are not HTTP (TLS, SSH, a binary protocol, or no message start within the
    /// resynchronisation budget): nothing more to read in this direction.
    NotHttp,
    /// Body bytes the pairing reads itself (after [`Framer::read_body`]) start the buffer.
    Body,
}

/// What [`Framer::body`] left the direction at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterBody {
    /// The next head (or a body being walked) follows.
    Framing,
    /// The body runs until the connection closes: nothing more to frame.
    UntilClose,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    /// A direction whose first byte is a message boundary (the stream began with a SYN).
    #[must_use]
    pub fn new() -> Self {
        Framer {
            state: State::Start,
        }
    }

    /// A direction whose position is unknown (after a gap, mid-connection): scan for the
    /// next message start.
    #[must_use]
    pub fn resync() -> Self {
        Framer {
            state: State::Resync {
                budget: RESYNC_BUDGET,
            },
        }
    }

    /// Whether no byte has been framed yet (the direction is at its first byte).
    #[must_use]
    pub fn at_start(&self) -> bool {
        self.state == State::Start
    }

    /// Whether it is accumulating a head whose end has not arrived.
    #[must_use]
    pub fn in_head(&self) -> bool {
        matches!(self.state, State::Head { .. })
    }

    /// Whether it is looking for a message start after losing its place.
    #[must_use]
    pub fn is_resyncing(&self) -> bool {
        matches!(self.state, State::Resync { .. })
    }

    /// Whether it waits for the answer to an upgrade request (and reads nothing meanwhile).
    #[must_use]
    pub fn is_awaiting_response(&self) -> bool {
        self.state == State::AwaitResponse
    }

    /// Whether the pairing reads the current body itself.
    #[must_use]
    pub fn is_reading_body(&self) -> bool {
        self.state == State::Body
    }

    /// The pairing reads the body after the head it consumed; [`Framer::body`] takes over
    /// again when it is done.
    pub fn read_body(&mut self) {
        self.state = State::Body;
    }

    /// The answer to the upgrade came (and was not a switch): read requests again.
    pub fn release(&mut self) {
        self.state = State::Head { scanned: 0 };
    }

    /// The pairing consumed a head; `body` says how the bytes after it are delimited.
    pub fn body<S: ByteStream>(&mut self, stream: &mut S, body: Body) -> AfterBody {
        self.state = match body {
            Body::None => State::Head { scanned: 0 },
            Body::Length(n) => {
                stream.consume(n);
                State::Head { scanned: 0 }
            }
            Body::Chunked => State::Chunked(Chunked::default()),
            Body::UntilClose => return AfterBody::UntilClose,
        };
        AfterBody::Framing
    }

    /// The pairing consumed an upgrade request: skip its declared length (a chunked body is
    /// not walked) and wait for the answer.
    pub fn await_response<S: ByteStream>(&mut self, stream: &mut S, body: Body) {
        if let Body::Length(n) = body {
            stream.consume(n);
        }
        self.state = State::AwaitResponse;
    }

    /// The head at the front did not parse: look for the next message start.
    pub fn lose_place(&mut self) {
        *self = Framer::resync();
    }

    /// Frames what it can of `side`'s buffered bytes, one step. `max_header_bytes` caps a
    /// head; `scanned` counts the bytes searched for head ends (each byte once).
    pub fn step<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        max_header_bytes: usize,
        scanned: &mut u64,
    ) -> Framed {
        match self.state {
            State::AwaitResponse => Framed::NeedMore,
            State::Body if link.stream(side).data().is_empty() => Framed::NeedMore,
            State::Body => Framed::Body,
            State::Start => self.start(link, side),
            State::Resync { budget } => self.find_start(link, side, budget),
            State::Head { scanned: from } => {
                let is_request = link.sends_requests(side).unwrap_or(true);
                let data = link.stream(side).data();
                *scanned += data.len().saturating_sub(from) as u64;
                match http::find_head_end(data, from) {
                    Some(len) if len > max_header_bytes => Framed::HeaderLimit { is_request },
                    Some(len) => Framed::Head { len, is_request },
                    None if data.len() > max_header_bytes => Framed::HeaderLimit { is_request },
                    None => {
                        self.state = State::Head {
                            scanned: data.len(),
                        };
                        Framed::NeedMore
                    }
                }
            }
            State::Chunked(mut chunked) => {
                let stream = link.stream_mut(side);
                match chunked.step(stream.data()) {
                    ChunkStep::Control(n) => {
                        stream.consume(n as u64);
                        self.state = State::Chunked(chunked);
                    }
                    ChunkStep::Data(n, skip) => {
                        stream.consume((n as u64).saturating_add(skip));
                        self.state = State::Chunked(chunked);
                    }
                    ChunkStep::Done(n) => {
                        stream.consume(n as u64);
                        self.state = State::Head { scanned: 0 };
                    }
                    ChunkStep::NeedMore => return Framed::NeedMore,
                    ChunkStep::Invalid => *self = Framer::resync(),
                }
                Framed::Continue
            }
        }
    }

    /// At a stream's first byte: is this HTTP, and which side is the client?
    fn start<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> Framed {
        let data = link.stream(side).data();
        let (as_request, as_response) = match link.sends_requests(side) {
            Some(true) => (http::sniff(data, true), Sniff::No),
            Some(false) => (Sniff::No, http::sniff(data, false)),
            None => (http::sniff(data, true), http::sniff(data, false)),
        };
        if as_request == Sniff::Yes {
            link.suggest_client(side);
        } else if as_response == Sniff::Yes {
            link.suggest_client(side.reverse());
        } else if as_request == Sniff::NeedMore || as_response == Sniff::NeedMore {
            return Framed::NeedMore;
        } else {
            return Framed::NotHttp;
        }
        self.state = State::Head { scanned: 0 };
        Framed::Continue
    }

    /// Inside an unknown message: skip to the next request line or status line.
    fn find_start<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        budget: usize,
    ) -> Framed {
        let data = link.stream(side).data();
        if tls_record_start(data) {
            // A TLS record mid-connection: nothing to find here.
            return Framed::NotHttp;
        }
        let found = match link.sends_requests(side) {
            Some(want) => http::find_message_start(data, 0, want).map(|p| (p, want)),
            None => {
                let req = http::find_message_start(data, 0, true);
                let resp = http::find_message_start(data, 0, false);
                match (req, resp) {
                    (Some(a), Some(b)) if b < a => Some((b, false)),
                    (Some(a), _) => Some((a, true)),
                    (None, Some(b)) => Some((b, false)),
                    (None, None) => None,
                }
            }
        };
        if let Some((pos, is_request)) = found {
            link.stream_mut(side).consume(pos as u64);
            link.suggest_client(if is_request { side } else { side.reverse() });
            self.state = State::Head { scanned: 0 };
            return Framed::Continue;
        }
        // Keep a short tail: a method name may be split across segments.
        let drop = data.len().saturating_sub(16);
        let left = budget.saturating_sub(drop);
        link.stream_mut(side).consume(drop as u64);
        if left == 0 {
            return Framed::NotHttp;
        }
        self.state = State::Resync { budget: left };
        Framed::NeedMore
    }
}

/// Longest first line read to tell HTTP from WebSocket frames after a 101.
const MAX_SWITCH_SNIFF: usize = 8192;

/// Whether the bytes after a 101 start with an HTTP message rather than WebSocket frames:
/// a request line (`METHOD target HTTP/1.x`) from the client, a status line (`HTTP/1.x`)
/// from the server (`request`: which one this direction sends; `None` either). Frames fail
/// fast: a client frame's second byte has the mask bit, a server frame does not start with
/// `HTTP/1.`; only a whole first line says `Yes`.
#[must_use]
pub fn http_after_switch(data: &[u8], request: Option<bool>) -> Sniff {
    let as_request = request != Some(false)
        && !matches!(data.get(1), Some(b) if *b >= 0x80)
        && http::sniff(data, true) != Sniff::No;
    let as_response = request != Some(true) && http::sniff(data, false) != Sniff::No;
    if !as_request && !as_response {
        return Sniff::No;
    }
    let Some(nl) = data.iter().take(MAX_SWITCH_SNIFF).position(|&b| b == b'\n') else {
        return if data.len() >= MAX_SWITCH_SNIFF {
            Sniff::No
        } else {
            Sniff::NeedMore
        };
    };
    let line = data.get(..nl).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let request_line = as_request
        && (line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
        && http::sniff(line, true) == Sniff::Yes;
    let status_line = as_response && line.starts_with(b"HTTP/1.");
    if request_line || status_line {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// Whether `data` starts like a TLS record (RFC 8446 §5.1: content type 20–23, legacy
/// version 3.x): the bytes of a TLS connection, not HTTP.
#[must_use]
pub fn tls_record_start(data: &[u8]) -> bool {
    matches!(data, [0x14..=0x17, 0x03, 0x00..=0x04, ..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::tcp::stream::Relay;

    const C: Side = Side::LoToHi;
    const S: Side = Side::HiToLo;

    /// Both directions as relays (the framer cannot tell them from TCP streams), the client
    /// known or not.
    struct Pair {
        streams: [Relay; 2],
        client: Option<Side>,
        packet: u64,
    }

    impl Pair {
        fn new(client: Option<Side>) -> Self {
            Pair {
                streams: [Relay::new(), Relay::new()],
                client,
                packet: 0,
            }
        }

        fn push(&mut self, side: Side, bytes: &[u8]) {
            self.packet += 1;
            let [c, s] = &mut self.streams;
            let stream = if side == C { c } else { s };
            stream.append(bytes, self.packet, Timestamp(0));
        }

        fn link(&mut self) -> Link<'_, Relay> {
            Link::new(&mut self.streams, &mut self.client, Timestamp(0))
        }

        /// Steps `side`'s framer until it reports something other than `Continue`.
        fn frame(&mut self, framer: &mut Framer, side: Side) -> Framed {
            let mut scanned = 0;
            self.frame_counting(framer, side, 1024, &mut scanned)
        }

        fn frame_counting(
            &mut self,
            framer: &mut Framer,
            side: Side,
            cap: usize,
            scanned: &mut u64,
        ) -> Framed {
            let mut link = self.link();
            loop {
                match framer.step(&mut link, side, cap, scanned) {
                    Framed::Continue => {}
                    other => return other,
                }
            }
        }

        fn data(&mut self, side: Side) -> Vec<u8> {
            self.link().stream(side).data().to_vec()
        }

        /// The pairing's part after a head: consume it and frame `body`.
        fn take_head(&mut self, framer: &mut Framer, side: Side, len: usize, body: Body) {
            let mut link = self.link();
            link.stream_mut(side).consume(len as u64);
            assert_eq!(framer.body(link.stream_mut(side), body), AfterBody::Framing);
        }
    }

    const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn the_first_head_names_the_client_whichever_side_sends_it() {
        let mut p = Pair::new(None);
        p.push(S, b"HTTP/1.1 200 OK\r\n\r\n");
        let mut f = Framer::new();
        assert_eq!(
            p.frame(&mut f, S),
            Framed::Head {
                len: 19,
                is_request: false
            }
        );
        assert_eq!(p.client, Some(C));
    }

    #[test]
    fn a_chunked_body_is_walked_and_the_next_head_found() {
        let mut p = Pair::new(Some(C));
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: t\r\n\r\n";
        p.push(
            C,
            &[
                b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".as_slice(),
                body,
            ]
            .concat(),
        );
        p.push(C, GET);
        let mut f = Framer::new();
        let Framed::Head { len, is_request } = p.frame(&mut f, C) else {
            unreachable!("a head first")
        };
        assert!(is_request);
        p.take_head(&mut f, C, len, Body::Chunked);
        assert_eq!(
            p.frame(&mut f, C),
            Framed::Head {
                len: GET.len(),
                is_request: true
            }
        );
        assert_eq!(p.data(C), GET);
    }

    #[test]
    fn a_length_body_is_skipped_even_before_it_arrives() {
        let mut p = Pair::new(Some(C));
        p.push(S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
        let mut f = Framer::new();
        let Framed::Head { len, .. } = p.frame(&mut f, S) else {
            unreachable!("a head first")
        };
        p.take_head(&mut f, S, len, Body::Length(10));
        assert!(p.data(S).is_empty());
        // The rest of the body is dropped on arrival, never buffered.
        p.push(S, b"456789HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(p.data(S), b"HTTP/1.1 204 No Content\r\n\r\n");
        assert!(matches!(p.frame(&mut f, S), Framed::Head { len: 27, .. }));
    }

    #[test]
    fn after_a_gap_it_resynchronises_on_the_next_request_line() {
        let mut p = Pair::new(Some(C));
        p.push(
            C,
            b"ody of something lost\r\nmore\r\nGET /b HTTP/1.1\r\n\r\n",
        );
        let mut f = Framer::resync();
        assert_eq!(
            p.frame(&mut f, C),
            Framed::Head {
                len: 19,
                is_request: true
            }
        );
        assert!(p.data(C).starts_with(b"GET /b"));
    }

    #[test]
    fn mid_stream_with_the_client_unknown_the_earliest_message_start_wins() {
        let mut p = Pair::new(None);
        p.push(S, b"xx\r\nHTTP/1.1 200 OK\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        let mut f = Framer::resync();
        assert!(matches!(
            p.frame(&mut f, S),
            Framed::Head {
                is_request: false,
                ..
            }
        ));
        assert_eq!(
            p.client,
            Some(C),
            "a response start makes the other side the client"
        );
    }

    #[test]
    fn resync_keeps_a_short_tail_and_gives_up_after_its_budget() {
        let mut p = Pair::new(Some(C));
        let junk = vec![b'z'; RESYNC_BUDGET / 2];
        let mut f = Framer::resync();
        p.push(C, &junk);
        assert_eq!(p.frame(&mut f, C), Framed::NeedMore);
        assert_eq!(
            p.data(C).len(),
            16,
            "a method split across segments survives"
        );
        p.push(C, &junk);
        p.push(C, b"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
        assert_eq!(p.frame(&mut f, C), Framed::NotHttp);
    }

    #[test]
    fn tls_where_http_was_expected_is_not_http() {
        let hello = [
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ];
        let mut p = Pair::new(Some(C));
        p.push(C, &hello);
        assert_eq!(p.frame(&mut Framer::new(), C), Framed::NotHttp);
        assert_eq!(p.frame(&mut Framer::resync(), C), Framed::NotHttp);
        assert!(tls_record_start(&p.data(C)));
        assert!(!tls_record_start(GET));
    }

    #[test]
    fn a_head_past_the_cap_is_reported_and_each_byte_is_scanned_once() {
        let mut p = Pair::new(Some(C));
        let mut f = Framer::new();
        let mut scanned = 0;
        p.push(C, b"GET / HTTP/1.1\r\n");
        for _ in 0..40 {
            p.push(C, b"X-A: b\r\n");
            assert_eq!(
                p.frame_counting(&mut f, C, 1000, &mut scanned),
                Framed::NeedMore
            );
        }
        assert_eq!(scanned, 16 + 40 * 8, "the search resumes where it stopped");
        p.push(C, &[b'x'; 1000]);
        assert_eq!(
            p.frame_counting(&mut f, C, 1000, &mut scanned),
            Framed::HeaderLimit { is_request: true }
        );
    }

    #[test]
    fn http_after_a_101_is_told_from_frames() {
        let masked_hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f];
        let hello = [0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
        assert_eq!(http_after_switch(GET, Some(true)), Sniff::Yes);
        assert_eq!(
            http_after_switch(b"GET /a HTT", Some(true)),
            Sniff::NeedMore
        );
        assert_eq!(http_after_switch(&masked_hello, Some(true)), Sniff::No);
        // RSV1 + text without FIN: 'A', a compressed fragment; its mask bit says frame.
        assert_eq!(
            http_after_switch(&[0x41, 0x85, 1, 2], Some(true)),
            Sniff::No
        );
        assert_eq!(
            http_after_switch(b"HTTP/1.1 400 Bad\r\n", Some(false)),
            Sniff::Yes
        );
        assert_eq!(http_after_switch(&hello, Some(false)), Sniff::No);
        assert_eq!(http_after_switch(b"HTTP/1.1 200 OK", None), Sniff::NeedMore);
        assert_eq!(http_after_switch(b"GETTING THERE\n", Some(true)), Sniff::No);
        assert_eq!(http_after_switch(&[b'G'; 9000], Some(true)), Sniff::No);
    }

    #[test]
    fn a_client_awaiting_the_answer_to_its_upgrade_reads_nothing_until_released() {
        let mut p = Pair::new(Some(C));
        p.push(C, GET);
        let mut f = Framer::new();
        let Framed::Head { len, .. } = p.frame(&mut f, C) else {
            unreachable!("a head first")
        };
        {
            let mut link = p.link();
            link.stream_mut(C).consume(len as u64);
            f.await_response(link.stream_mut(C), Body::None);
        }
        p.push(C, GET);
        assert!(f.is_awaiting_response());
        assert_eq!(p.frame(&mut f, C), Framed::NeedMore);
        f.release();
        assert!(matches!(p.frame(&mut f, C), Framed::Head { .. }));
    }
}
