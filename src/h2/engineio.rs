//! Engine.IO polling over HTTP/2 streams: a browser talking to an h2 server polls with GET
//! and POST streams of the page's connection, their bodies in DATA frames. The streams whose
//! `:path` names Engine.IO (`EIO=`, not its websocket transport, which is an extended
//! CONNECT the connection tracks as a WebSocket) are followed here, their bodies read by the
//! bounded body reader (`--eio-body-bytes`, the HTTP/1.1 polls' cap), and each exchange is
//! handed on as the same [`EioPoll`] an HTTP/1.1 poll is, so one Engine.IO session record
//! holds the polls, the upgrade and its WebSocket whichever HTTP version carried them.
//!
//! Inputs are the connection's decoded request and response heads and the DATA bytes of
//! these streams; the output is [`Output::engineio`]. Reached only from an HTTP/2
//! connection's header blocks whose `:path` holds `EIO=`: other streams, and every plaintext
//! HTTP/1.1 byte, never touch it. Bounded: at most [`MAX_POLLS`] streams at once (a poll
//! beyond them is not followed: it is handed on at its request head, marked
//! [`EioPoll::not_followed`], and its session says so), each body kept up to the cap, every
//! reader's worst case admitted by the memory budget first (a body it has no room for is not
//! read, and the session says so). Never does I/O.

use crate::capture::Timestamp;
use crate::event::Message;
use crate::http::body::BodyReader;
use crate::http::exchange::{EioPoll, Output};
use crate::http::head::Body;

use super::hpack::HeaderList;

/// Most Engine.IO polling streams followed at once on one connection (a browser has a GET
/// and a POST in flight; a proxy's upstream connection carries more clients' polls).
pub const MAX_POLLS: usize = 32;

/// Whether a request's fields are an Engine.IO polling request: its `:path` names `EIO=`
/// and it is no extended CONNECT (the websocket transport is followed as a WebSocket).
#[must_use]
pub fn is_polling_request(list: &HeaderList) -> bool {
    list.value(":method").is_some_and(|m| m != "CONNECT")
        && list
            .value(":path")
            .is_some_and(|p| crate::http::head::mentions_eio(p.as_bytes()))
}

/// The Engine.IO revision an extended CONNECT's `:path` names (`EIO=4`): its WebSocket's
/// messages are Engine.IO packets.
#[must_use]
pub fn websocket_revision(request: &Message) -> Option<u8> {
    crate::http::exchange::eio_version(&request.head)
}

/// One polling stream: its request and response, and the readers of their bodies.
#[derive(Debug)]
struct PollStream {
    id: u32,
    request: Message,
    /// The request's body (a POST's payload) while its DATA comes.
    request_body: Option<BodyReader>,
    response: Option<Message>,
    response_body: Option<BodyReader>,
    /// Bodies the budget had no room to read.
    unread: u8,
}

impl PollStream {
    fn memory(&self) -> usize {
        std::mem::size_of::<PollStream>()
            + crate::http::exchange::head_bytes(&self.request)
            + self
                .response
                .as_ref()
                .map_or(0, crate::http::exchange::head_bytes)
            + self.request_body.as_ref().map_or(0, BodyReader::memory)
            + self.response_body.as_ref().map_or(0, BodyReader::memory)
    }

    /// The finished exchange, with what was read of each body (`ended`: its END_STREAM was
    /// seen, else it was cut by a reset or the connection's end).
    fn into_poll(mut self, ended: bool) -> EioPoll {
        if let Some(mut r) = self.request_body.take() {
            self.request.body = Some(r.take_excerpt(ended));
        }
        if let (Some(resp), Some(mut r)) = (self.response.as_mut(), self.response_body.take()) {
            resp.body = Some(r.take_excerpt(ended));
        }
        EioPoll {
            request: self.request,
            response: self.response,
            bodies_unread: self.unread,
            not_followed: false,
        }
    }
}

/// The Engine.IO polling streams of one HTTP/2 connection.
#[derive(Debug)]
pub struct EioStreams {
    polls: Vec<PollStream>,
    /// Bytes kept of each body (`--eio-body-bytes`).
    body_bytes: usize,
}

impl EioStreams {
    /// No stream followed yet; bodies kept up to `body_bytes`.
    #[must_use]
    pub fn new(body_bytes: usize) -> Self {
        EioStreams {
            polls: Vec::new(),
            body_bytes,
        }
    }

    /// Whether stream `id` is a polling stream followed here.
    #[must_use]
    pub fn has(&self, id: u32) -> bool {
        self.polls.iter().any(|p| p.id == id)
    }

    /// Whether DATA from the server (`from_server`) or the client on stream `id` is read.
    #[must_use]
    pub fn reads(&self, id: u32, from_server: bool) -> bool {
        self.polls.iter().any(|p| {
            p.id == id
                && if from_server {
                    p.response_body.is_some()
                } else {
                    p.request_body.is_some()
                }
        })
    }

    /// Heap bytes held (heads and readers).
    #[must_use]
    pub fn memory(&self) -> usize {
        self.polls.capacity() * std::mem::size_of::<PollStream>()
            + self.polls.iter().map(PollStream::memory).sum::<usize>()
    }

    /// A reader for a body of `m`, admitted by `room` (the budget's answer for its worst
    /// case): `Err(())` when it had none.
    fn reader(&self, m: &Message, room: &mut dyn FnMut(usize) -> bool) -> Result<BodyReader, ()> {
        let r = BodyReader::for_head(&m.head, Body::UntilClose, self.body_bytes);
        if room(r.most_memory()) {
            Ok(r)
        } else {
            Err(())
        }
    }

    /// A polling request's head on stream `id`; `end_stream`: it has no body (a GET).
    /// Beyond [`MAX_POLLS`] open streams it is not followed: it is handed on now, as a poll
    /// with neither body nor response marked [`EioPoll::not_followed`], so the session its
    /// `sid` names says that some of its exchanges were not read (no cap goes unsaid).
    pub fn request(
        &mut self,
        id: u32,
        request: Message,
        end_stream: bool,
        room: &mut dyn FnMut(usize) -> bool,
        out: &mut Output,
    ) {
        if self.has(id) {
            return;
        }
        if self.polls.len() >= MAX_POLLS {
            out.engineio.push(EioPoll {
                request,
                response: None,
                bodies_unread: 0,
                not_followed: true,
            });
            return;
        }
        let mut unread = 0;
        let request_body = if end_stream {
            None
        } else {
            match self.reader(&request, room) {
                Ok(r) => Some(r),
                Err(()) => {
                    unread = 1;
                    None
                }
            }
        };
        self.polls.push(PollStream {
            id,
            request,
            request_body,
            response: None,
            response_body: None,
            unread,
        });
    }

    /// A header block from the server on stream `id`: its final response (an interim 1xx is
    /// skipped; trailers end the body). `end_stream`: nothing follows, the exchange is done.
    pub fn response(
        &mut self,
        id: u32,
        response: Message,
        end_stream: bool,
        room: &mut dyn FnMut(usize) -> bool,
        out: &mut Output,
    ) {
        let interim = response
            .head
            .status()
            .is_some_and(|s| (100..200).contains(&s));
        let Some(at) = self.polls.iter().position(|p| p.id == id) else {
            return;
        };
        let reader = (!interim && !end_stream).then(|| self.reader(&response, room));
        let Some(p) = self.polls.get_mut(at) else {
            return;
        };
        if p.response.is_none() && !interim {
            match reader {
                Some(Ok(r)) => p.response_body = Some(r),
                Some(Err(())) => p.unread += 1,
                None => {}
            }
            p.response = Some(response);
        }
        if end_stream {
            self.end(id, true, None, out);
        }
    }

    /// `bytes` of DATA on stream `id` from the server (`from_server`) or the client, the last
    /// of them captured at `ts`.
    pub fn data(&mut self, id: u32, from_server: bool, bytes: &[u8], ts: Timestamp) {
        let Some(p) = self.polls.iter_mut().find(|p| p.id == id) else {
            return;
        };
        let (reader, message) = if from_server {
            (p.response_body.as_mut(), p.response.as_mut())
        } else {
            (p.request_body.as_mut(), Some(&mut p.request))
        };
        if let Some(r) = reader {
            if !r.is_full() {
                r.read(bytes);
            }
        }
        if let Some(m) = message {
            m.last_ts = m.last_ts.max(ts);
        }
    }

    /// The sender (`from_server` or the client) ended stream `id` (END_STREAM) at `ts`, when
    /// known: the request's end settles its body; the response's end hands the exchange on.
    pub fn end(&mut self, id: u32, from_server: bool, ts: Option<Timestamp>, out: &mut Output) {
        let Some(at) = self.polls.iter().position(|p| p.id == id) else {
            return;
        };
        if !from_server {
            if let Some(p) = self.polls.get_mut(at) {
                if let Some(mut r) = p.request_body.take() {
                    p.request.body = Some(r.take_excerpt(true));
                }
                if let Some(ts) = ts {
                    p.request.last_ts = p.request.last_ts.max(ts);
                }
            }
            return;
        }
        let p = self.polls.remove(at);
        let mut poll = p.into_poll(true);
        if let (Some(r), Some(ts)) = (poll.response.as_mut(), ts) {
            r.last_ts = r.last_ts.max(ts);
        }
        out.engineio.push(poll);
    }

    /// Stream `id` was reset: the exchange is handed on with what it had (a response that
    /// never came is none, as an HTTP/1.1 poll's whose connection ended).
    pub fn reset(&mut self, id: u32, out: &mut Output) {
        if let Some(at) = self.polls.iter().position(|p| p.id == id) {
            let p = self.polls.remove(at);
            out.engineio.push(p.into_poll(false));
        }
    }

    /// The connection ended: every exchange still open is handed on, in stream order.
    pub fn finish(&mut self, out: &mut Output) {
        for p in std::mem::take(&mut self.polls) {
            out.engineio.push(p.into_poll(false));
        }
    }
}
