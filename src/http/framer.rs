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
//!  chunked walked chunk by chunk, nothing) or Framer::await_response (an upgrade request:
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

/// Whether `data` starts like a TLS record (RFC 8446 §5.1: content type 20–23, legacy
/// version 3.x): the bytes of a TLS connection, not HTTP.
#[must_use]
pub fn tls_record_start(data: &[u8]) -> bool {
    matches!(data, [0x14..=0x17, 0x03, 0x00..=0x04, ..])
}
