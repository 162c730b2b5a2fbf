//! One connection's HTTP/1.x pairing: which response answers which request (pipelining,
//! interim 1xx responses), the evidence marks that belong to each exchange, and what the
//! connection becomes after a 101.
//!
//! The [`framer`](super::framer) of each direction delimits heads; [`Exchange::on_head`] reads
//! one and answers with a [`Next`] that the parser switch (`dispatch`) applies to the framers:
//!
//! ```text
//!  request head ──plain (no WebSocket headers)──▶ pending (method only) ─▶ Next::Body
//!               ──upgrade──▶ pending (the request kept) ─▶ Next::AwaitResponse
//!  response head ──1xx──▶ interim (kept while an upgrade waits) ─▶ Next::Body(None)
//!                ──101──▶ Completed (switched) ─▶ Next::Switch(WebSocket | H2c | Tunnel)
//!                ──other─▶ pairs with the oldest pending request; an upgrade's answer
//!                          ─▶ Completed, and the waiting client is released
//!  the end / the response timeout ──▶ Completed for every upgrade still unanswered
//! ```
//!
//! Ordinary keep-alive messages are read from an allocation-free [`http::Scan`]; only
//! messages that play a part in an upgrade are parsed into a [`Message`]. Evidence problems
//! (gaps, snap-length cuts, conflicting retransmissions noted in each stream's
//! [`Marks`], malformed heads, the header cap) are gathered
//! per direction and handed to the exchange that completes next, as findings.
//!
//! Never does I/O, never decodes WebSocket frames (the switch does, after [`Next::Switch`]).

use std::collections::VecDeque;

use super::body::{BodyReader, Progress};
use super::head::{self as http, Body, HeadParse};
use crate::capture::Timestamp;
use crate::event::{Ending, H2Stream, HeadCut, Message};
use crate::finding::{Code, Finding};
use crate::memory::{Account, Meter, Use};
use crate::tcp::connection::Link;
use crate::tcp::flow::Side;
use crate::tcp::stream::{ByteStream, Marks};

/// Most interim (1xx) responses kept for one exchange.
const MAX_INTERIM: usize = 8;
/// Pending requests beyond which the queue grows straight to the pending cap.
const QUEUE_JUMP: usize = 64;

/// Which HTTP stream of a connection an exchange (and the WebSocket it opens) belongs to: the
/// HTTP/2 stream identifier (RFC 9113 §5.1.1), or [`StreamId::HTTP1`] for the one sequence
/// of exchanges of an HTTP/1.x connection (0: h2 never gives a request that number).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u32);

impl StreamId {
    /// The exchanges of an HTTP/1.x connection.
    pub const HTTP1: StreamId = StreamId(0);
}

/// A WebSocket exchange whose outcome is known (answered, or never answered).
#[derive(Debug)]
pub struct Completed {
    /// The stream it was on ([`StreamId::HTTP1`] for HTTP/1.x).
    pub stream: StreamId,
    /// The upgrade request, when captured.
    pub request: Option<Message>,
    /// The final response, when captured.
    pub response: Option<Message>,
    /// Interim responses before it.
    pub interim: Vec<Message>,
    /// How the connection ended, when there is no response.
    pub ending: Option<Ending>,
    /// When it ended (for the time waited).
    pub ended_at: Option<Timestamp>,
    /// Evidence problems (gaps, truncation, malformed heads) seen during the exchange.
    pub extra: Vec<Finding>,
    /// The response switched the connection to WebSocket: a connection record will follow.
    pub switched: bool,
    /// The handshake id the engine reserved for the request ([`Exchange::assign_ids`]);
    /// `None` when the engine has not seen the request waiting, or there is none.
    pub id: Option<u64>,
    /// HTTP/2 facts of an extended CONNECT exchange; `None` for HTTP/1.x.
    pub h2: Option<H2Stream>,
}

/// Caps hit and work done while parsing HTTP, for the engine's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpEffect {
    /// A head exceeded the header cap.
    pub header_limit: bool,
    /// The pending-request cap was hit and the connection given up.
    pub pending_limit: bool,
    /// Bytes examined looking for the end of HTTP heads (each byte once: the search resumes
    /// where it stopped, so a head dribbled a byte per segment costs linear time).
    pub head_bytes_scanned: u64,
    /// HTTP requests a snap-length cut ended before anything showed whether they asked for
    /// a WebSocket.
    pub requests_cut: u64,
}

/// Where the HTTP layer puts what it completes; owned by the caller, drained after each
/// segment.
#[derive(Debug, Default)]
pub struct Output {
    /// Exchanges whose outcome became known, in the order they did.
    pub completed: Vec<Completed>,
    /// Caps and work since the caller last reset it.
    pub effect: HttpEffect,
    /// Engine.IO polling exchanges whose bodies were read, in the order they completed.
    pub engineio: Vec<EioPoll>,
}

/// Bytes kept of each Engine.IO polling body by default (`--eio-body-bytes`, issue 14's
/// default cap): an open packet, an error body or a batch of packets fits; longer bodies are
/// cut and marked so (`truncated`).
pub const EIO_BODY_BYTES: usize = 64 * 1024;

/// An Engine.IO polling exchange (a GET or POST whose target has `EIO=` and does not ask
/// for WebSocket), with the first `--eio-body-bytes` ([`EIO_BODY_BYTES`]) of each body in its
/// message's `body`.
#[derive(Debug)]
pub struct EioPoll {
    /// The request (its body, for a POST).
    pub request: Message,
    /// The response (its body), when it came before the connection ended.
    pub response: Option<Message>,
    /// Bodies of this exchange that were not read because the memory budget (`--memcap`)
    /// had no room for them (0, 1 or 2): the session record says so (`memcap_reached`).
    pub bodies_unread: u8,
    /// The exchange was not followed: its HTTP/2 connection already had
    /// `h2::engineio::MAX_POLLS` polling streams open, so only its request head is known
    /// (no body, no response; handed on at once). The session record says so
    /// (`engineio_polls_not_followed`).
    pub not_followed: bool,
}

/// The protocol a 101 switched the connection to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 6455 frames follow (the request or the response said websocket).
    WebSocket {
        /// When the 101 was complete (the session starts there).
        start: Timestamp,
        /// The response's `Sec-WebSocket-Extensions` list.
        extensions: Vec<String>,
        /// Whether that list is the whole answer: false when a snap-length cut ended the 101
        /// before its last line (the extensions may lie beyond the cut).
        extensions_known: bool,
        /// The request target named this Engine.IO revision (`EIO=N`): the session's
        /// messages are Engine.IO packets.
        engineio: Option<u8>,
    },
    /// HTTP/2 over cleartext after `Upgrade: h2c` (RFC 7540 §3.2).
    H2c,
    /// Another protocol (a Docker attach, a raw TCP tunnel, …): opaque bytes.
    Tunnel,
}

/// What the framers do after [`Exchange::on_head`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The head is incomplete after all: wait for more bytes.
    NeedMore,
    /// Frame `body` on this side, then the next head. `release_client`: this response
    /// answered the upgrade the client waits for, so it may send again.
    Body {
        /// How the bytes after the head are delimited.
        body: Body,
        /// The client's framer may read requests again.
        release_client: bool,
    },
    /// An upgrade request: skip its declared body and read nothing more from the client
    /// until the answer.
    AwaitResponse(Body),
    /// A refusal of an upgrade: its body is read by the pairing ([`Exchange::on_body`]) to
    /// keep its first bytes; the exchange is reported when that is done.
    ReadBody {
        /// The client's framer may read requests again.
        release_client: bool,
    },
    /// The head was malformed (and skipped): look for the next message start.
    Resync,
    /// Too many requests are pending: stop reading both directions.
    GiveUp,
    /// A 101: both directions now carry `Protocol`.
    Switch(Protocol),
    /// A 101 to a WebSocket request that names another protocol (`Upgrade: websockets`):
    /// nothing switched as far as WebSocket goes; both directions start over as HTTP (the
    /// next bytes are sniffed, so another protocol ends up ignored, not read as frames).
    Restart,
}

/// A request waiting for its response.
#[derive(Debug)]
struct Pending {
    head_method: bool,
    /// The request method is CONNECT: a 2xx answer turns the connection into a tunnel whose
    /// bytes (TLS as a rule) are read as a new connection's.
    connect: bool,
    /// The request asked for `Upgrade: h2c`.
    h2c: bool,
    /// Boxed: plain requests (most of a pipelined flood) keep 8 bytes here, not a message.
    upgrade: Option<Box<Message>>,
    /// When the request head was complete.
    since: Timestamp,
    /// The handshake id reserved for an upgrade request, once assigned.
    id: Option<u64>,
    /// A snap-length cut ended the request's head: a WebSocket answer to it is reported even
    /// when the captured lines did not show the upgrade.
    cut: bool,
    /// Such a request's captured lines, kept until its answer says whether it was a
    /// WebSocket attempt (a 101 or WebSocket headers) or only counted as cut.
    /// Boxed like `upgrade`: only a cut request that may prove an attempt is kept.
    cut_request: Option<Box<Message>>,
    /// An Engine.IO polling request, answered with its body read (boxed: ordinary
    /// requests keep 8 bytes here).
    eio: Option<Box<Message>>,
    /// The memory budget had no room to read that request's body.
    eio_unread: bool,
}

/// HTTP-level evidence problems in one direction since the last completed exchange.
#[derive(Debug, Default)]
struct HttpMarks {
    header_limit: bool,
    malformed: Option<String>,
    /// What the memory budget refused to keep of this direction's messages, if anything.
    memcap: Option<&'static str>,
}

/// A response to an upgrade request whose body is being read before the exchange is
/// reported.
#[derive(Debug)]
struct Reading {
    reader: BodyReader,
    /// The exchange, until it is reported: when the body ends, the excerpt is full, the
    /// connection ends or the response timeout passes.
    done: Option<Completed>,
    /// When the response head was complete.
    since: Timestamp,
}

impl Reading {
    fn memory(&self) -> usize {
        let heads = self.done.as_ref().map_or(0, |c| {
            c.request.as_ref().map_or(0, head_bytes) + c.response.as_ref().map_or(0, head_bytes)
        });
        std::mem::size_of::<Reading>() + self.reader.memory() + heads
    }
}

/// One connection's request/response pairing.
#[derive(Debug)]
pub struct Exchange {
    max_header_bytes: usize,
    max_pending: usize,
    /// Bytes kept of the body of a response to an upgrade that is not a 101 (`--body-bytes`).
    body_bytes: usize,
    /// Bytes kept of each Engine.IO polling body (`--eio-body-bytes`).
    eio_body_bytes: usize,
    /// The refusal whose body is being read, if any.
    reading: Option<Box<Reading>>,
    /// The body of the Engine.IO request last queued (a POST), while it is read.
    eio_request_body: Option<Box<BodyReader>>,
    /// An Engine.IO response whose body is being read, with its exchange.
    eio_response: Option<Box<(BodyReader, EioPoll)>>,
    /// HTTP came after a 101 on this connection: a finding for the next exchange reported.
    after_switch: Option<Finding>,
    pending: VecDeque<Pending>,
    interim: Vec<Message>,
    marks: [HttpMarks; 2],
    saw_upgrade: bool,
    /// An upgrade request arrived since [`Exchange::take_new_upgrade`] was last called.
    new_upgrade: bool,
    /// Bytes of the heads in `pending` and `interim`, kept as they change (the queue's slots
    /// are added from its capacity; see [`Exchange::memory`]).
    held: usize,
    account: Account,
}

/// Bytes a kept head holds: its raw text and its parsed fields.
pub(crate) fn head_bytes(m: &Message) -> usize {
    m.head.raw.len() + m.head.headers.bytes()
}

/// Bytes a pending request holds beyond its slot in the queue (the slots are counted by the
/// queue's capacity: a grown queue holds them whether filled or not).
fn pending_bytes(p: &Pending) -> usize {
    p.upgrade
        .as_deref()
        .map_or(0, |m| std::mem::size_of::<Message>() + head_bytes(m))
        + p.cut_request
            .as_deref()
            .map_or(0, |m| std::mem::size_of::<Message>() + head_bytes(m))
        + p.eio.as_deref().map_or(0, |m| {
            std::mem::size_of::<Message>()
                + head_bytes(m)
                + m.body.as_ref().map_or(0, |b| b.bytes.capacity())
        })
}

/// Bytes an Engine.IO body read in flight holds.
fn eio_reading_bytes(
    request: Option<&BodyReader>,
    response: Option<&(BodyReader, EioPoll)>,
) -> usize {
    request.map_or(0, |r| std::mem::size_of::<BodyReader>() + r.memory())
        + response.map_or(0, |(r, poll)| {
            std::mem::size_of::<(BodyReader, EioPoll)>()
                + r.memory()
                + head_bytes(&poll.request)
                + poll.request.body.as_ref().map_or(0, |b| b.bytes.capacity())
                + poll.response.as_ref().map_or(0, head_bytes)
        })
}

impl Exchange {
    /// Pairing for a new connection: heads up to `max_header_bytes`, at most `max_pending`
    /// requests awaiting a response, the first `body_bytes` of a refusal's body kept.
    #[must_use]
    pub fn new(max_header_bytes: usize, max_pending: usize, body_bytes: usize) -> Self {
        Exchange {
            max_header_bytes,
            max_pending,
            body_bytes,
            eio_body_bytes: EIO_BODY_BYTES,
            reading: None,
            eio_request_body: None,
            eio_response: None,
            after_switch: None,
            pending: VecDeque::new(),
            interim: Vec::new(),
            marks: [HttpMarks::default(), HttpMarks::default()],
            saw_upgrade: false,
            new_upgrade: false,
            held: 0,
            account: Account::default(),
        }
    }

    /// The same pairing, keeping the first `bytes` of each Engine.IO polling body
    /// (`--eio-body-bytes`; default [`EIO_BODY_BYTES`]).
    #[must_use]
    pub fn keeping_eio_bodies(mut self, bytes: usize) -> Self {
        self.eio_body_bytes = bytes;
        self
    }

    /// Whether a WebSocket upgrade request was seen on this connection.
    #[must_use]
    pub fn saw_upgrade(&self) -> bool {
        self.saw_upgrade
    }

    /// Whether an upgrade request arrived since the last call (and clears the flag).
    pub fn take_new_upgrade(&mut self) -> bool {
        std::mem::take(&mut self.new_upgrade)
    }

    /// When the oldest unanswered upgrade request was sent.
    #[must_use]
    pub fn unanswered_since(&self) -> Option<Timestamp> {
        self.pending
            .iter()
            .filter(|p| p.upgrade.is_some())
            .map(|p| p.since)
            .min()
    }

    /// Gives each upgrade request waiting for its answer that has no handshake id yet the
    /// next one from `next`, oldest first: ids follow the order requests were seen.
    pub fn assign_ids(&mut self, next: &mut dyn FnMut() -> u64) {
        for p in &mut self.pending {
            if p.upgrade.is_some() && p.id.is_none() {
                p.id = Some(next());
            }
        }
    }

    /// Whether an upgrade request waits for its answer.
    #[must_use]
    pub fn upgrade_pending(&self) -> bool {
        self.pending.iter().any(|p| p.upgrade.is_some())
    }

    /// Bytes held by pending requests, interim responses and a body being read, computed
    /// now (walked).
    #[must_use]
    pub fn memory(&self) -> usize {
        self.pending.capacity() * std::mem::size_of::<Pending>()
            + self.pending.iter().map(pending_bytes).sum::<usize>()
            + self.interim.iter().map(head_bytes).sum::<usize>()
            + self.reading.as_ref().map_or(0, |r| r.memory())
            + self.eio_reading()
    }

    /// Bytes of the Engine.IO bodies being read; `settle` runs on every segment of every
    /// HTTP connection, so the sum is out of line and reached only when a body is read.
    #[inline]
    fn eio_reading(&self) -> usize {
        if self.eio_request_body.is_none() && self.eio_response.is_none() {
            0
        } else {
            self.eio_reading_cold()
        }
    }

    #[inline(never)]
    #[cold]
    fn eio_reading_cold(&self) -> usize {
        eio_reading_bytes(
            self.eio_request_body.as_deref(),
            self.eio_response.as_deref(),
        )
    }

    /// The running figure [`Exchange::memory`] must agree with.
    fn registered(&self) -> usize {
        self.pending.capacity() * std::mem::size_of::<Pending>() + self.held
    }

    /// Registers the bytes held now with `meter` (0 after [`Exchange::release`]).
    pub fn settle(&mut self, meter: &mut Meter) {
        let reading = self.reading.as_ref().map_or(0, |r| r.memory()) + self.eio_reading();
        self.account.set(meter, self.registered() + reading);
    }

    /// Withdraws what is registered with `meter` (the connection is being dropped).
    pub fn release(&mut self, meter: &mut Meter) {
        self.account.set(meter, 0);
    }

    /// The connection is being evicted to make room under the memory budget: the exchanges
    /// still waiting say so.
    pub fn evicted_for_memory(&mut self) {
        let [lo, _] = &mut self.marks;
        lo.memcap
            .get_or_insert("the connection was evicted to make room for new ones");
    }

    fn marks_mut(&mut self, side: Side) -> &mut HttpMarks {
        let [lo, hi] = &mut self.marks;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    /// Queues a request for its answer if the memory budget has room; otherwise marks
    /// `side` and returns false (the caller gives the connection up: answers can no longer
    /// be paired).
    fn push_pending<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        p: Pending,
    ) -> bool {
        // A full queue grows by doubling up to QUEUE_JUMP slots, then straight to the cap: a
        // flood pays one allocation instead of a chain of ever larger ones, whose freed
        // predecessors the allocator could not give back (they cost RSS the meter never saw).
        let (len, cap) = (self.pending.len(), self.pending.capacity());
        let grow_to = if len < cap {
            cap
        } else if cap < QUEUE_JUMP {
            (cap * 2).max(4)
        } else {
            self.max_pending.max(cap + 1)
        };
        let bytes = pending_bytes(&p) + (grow_to - cap) * std::mem::size_of::<Pending>();
        if link.admit(Use::Pending, bytes).is_err() {
            self.marks_mut(side).memcap =
                Some("a pipelined request was not kept (the connection was not followed further)");
            return false;
        }
        if grow_to > cap {
            self.pending.reserve_exact(grow_to - len);
        }
        self.held += pending_bytes(&p);
        self.pending.push_back(p);
        true
    }

    fn pop_pending(&mut self) -> Option<Pending> {
        let p = self.pending.pop_front()?;
        self.held = self.held.saturating_sub(pending_bytes(&p));
        Some(p)
    }

    fn take_interim(&mut self) -> Vec<Message> {
        let interim = std::mem::take(&mut self.interim);
        let bytes: usize = interim.iter().map(head_bytes).sum();
        self.held = self.held.saturating_sub(bytes);
        interim
    }

    /// Reports every upgrade request sent at or before `cutoff` and still unanswered at
    /// `now` as timed out. A response that turns up later is not reported again.
    pub fn expire_unanswered<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        cutoff: Timestamp,
        now: Timestamp,
        out: &mut Output,
    ) {
        if self.reading.as_ref().is_some_and(|r| r.since <= cutoff) {
            self.report_body(out, false);
        }
        let mut expired = Vec::new();
        for p in &mut self.pending {
            if p.since <= cutoff {
                if let Some(request) = p.upgrade.take() {
                    self.held = self
                        .held
                        .saturating_sub(std::mem::size_of::<Message>() + head_bytes(&request));
                    expired.push((request, p.id));
                }
            }
        }
        // The same evidence as at the connection's end (live capture reports a request at
        // its timeout, before the connection ends).
        let lost = server_bytes_lost(link);
        for (request, id) in expired {
            let mut done = self.complete(
                link,
                Some(*request),
                None,
                Some((Ending::ResponseTimeout, now)),
                false,
                id,
            );
            response_not_captured(&mut done, lost);
            out.completed.push(done);
        }
    }

    /// The connection ended (`ending` at `at`): every upgrade request still waiting is
    /// reported unanswered.
    pub fn finish<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        ending: Ending,
        at: Timestamp,
        out: &mut Output,
    ) {
        self.report_body(out, true);
        self.reading = None;
        self.eio_request_body = None;
        self.report_eio_response(out, true);
        let lost = server_bytes_lost(link);
        while let Some(p) = self.pop_pending() {
            if p.cut && p.upgrade.is_none() {
                // Cut too early to tell, and never answered.
                out.effect.requests_cut += 1;
            }
            if let Some(request) = p.eio {
                out.engineio.push(EioPoll {
                    request: *request,
                    response: None,
                    bodies_unread: u8::from(p.eio_unread),
                    not_followed: false,
                });
                continue;
            }
            if let Some(request) = p.upgrade {
                let end = Some((ending, at));
                let mut done = self.complete(link, Some(*request), None, end, false, p.id);
                response_not_captured(&mut done, lost);
                out.completed.push(done);
            }
        }
        // The connection is over: its queue's slots go too.
        self.pending = VecDeque::new();
    }

    /// `side` carries something other than HTTP: if a WebSocket request waits for this
    /// side's answer, say what came instead.
    pub fn not_http<S: ByteStream>(&mut self, link: &Link<'_, S>, side: Side) {
        let waiting = link.sends_requests(side) == Some(false) && self.upgrade_pending();
        if !waiting {
            return;
        }
        let data = link.stream(side).data();
        let preview: String = data.iter().take(8).map(|b| format!("{b:02x} ")).collect();
        let tls = matches!(data, [0x16 | 0x15, 0x03, 0x00..=0x04, ..]);
        let what = if tls {
            " (a TLS record: the server expects wss://, the client spoke ws://)"
        } else {
            ""
        };
        self.marks_mut(side).malformed = Some(format!(
            "the server answered with bytes that are not HTTP: {}{what}",
            preview.trim_end()
        ));
    }

    /// `side`'s head passed the header cap without ending. If it was heading for a
    /// WebSocket upgrade (or answers one), that is reported; the framer stops either way.
    pub fn header_limit<S: ByteStream>(
        &mut self,
        link: &Link<'_, S>,
        side: Side,
        is_request: bool,
        out: &mut Output,
    ) {
        let stream = link.stream(side);
        let data = stream.data();
        let limit = self.max_header_bytes;
        let lower: Vec<u8> = data
            .iter()
            .take(limit)
            .map(u8::to_ascii_lowercase)
            .collect();
        let websocket = lower.windows(14).any(|w| w == b"sec-websocket-")
            || lower.windows(9).any(|w| w == b"websocket");
        let packets = stream.packets(0..data.len().min(limit));
        let upgrade_pending = !is_request && self.upgrade_pending();
        if websocket || upgrade_pending {
            let who = if is_request { "request" } else { "response" };
            let finding = Finding::new(
                Code::HeaderLimitExceeded,
                format!("the {who} head passed {limit} bytes without ending (--max-header-bytes)"),
            )
            .packets(&packets);
            if is_request {
                out.completed.push(Completed {
                    stream: StreamId::HTTP1,
                    request: None,
                    response: None,
                    interim: Vec::new(),
                    ending: None,
                    ended_at: None,
                    extra: vec![finding],
                    switched: false,
                    id: None,
                    h2: None,
                });
            } else {
                self.marks_mut(side).header_limit = true;
            }
        }
    }

    /// A complete head of `len` bytes starts `side`'s buffer: pair it and say what the
    /// framers do next.
    pub fn on_head<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        len: usize,
        is_request: bool,
        out: &mut Output,
    ) -> Next {
        if self.reading.is_some() && link.sends_requests(side) == Some(false) {
            // The server's framer found a head while a body was being read: it lost its
            // place (a capture gap), so the body is cut here.
            self.report_body(out, false);
            self.reading = None;
        }
        if self.eio_response.is_some() && link.sends_requests(side) == Some(false) {
            self.report_eio_response(out, false);
        }
        let data = link.stream(side).data();
        // Whether `plain_message` will turn this message down (exactly its conditions): then
        // the head is built from the same parse as the scan, not parsed a second time.
        let (pending, max_pending) = (self.pending.len(), self.max_pending);
        let answers_upgrade = self
            .pending
            .front()
            .is_some_and(|p| p.upgrade.is_some() || p.eio.is_some());
        let needs_head = |scan: &http::Scan| {
            scan.websocket
                || scan.engineio
                || if is_request {
                    pending >= max_pending
                } else {
                    scan.status == 101 || answers_upgrade
                }
        };
        let mut parsed = None;
        if let Some((scan, head)) = http::read_head(data, len, is_request, needs_head) {
            match head {
                Some(head) => parsed = Some(HeadParse::Complete(head)),
                None => {
                    if let Some(next) = self.plain_message(link, side, is_request, len, scan) {
                        return next;
                    }
                }
            }
        }
        let stream = link.stream(side);
        match parsed.unwrap_or_else(|| http::parse_head(stream.data(), len, is_request)) {
            HeadParse::Complete(head) => {
                let first = stream.origin(0);
                let last = stream.origin(len.saturating_sub(1));
                let msg = Message {
                    packets: stream.packets(0..len),
                    first_ts: first.map_or(link.now, |o| o.ts),
                    last_ts: last.map_or(link.now, |o| o.ts),
                    truncated: stream.marks().truncated,
                    body: None,
                    cut: None,
                    head,
                };
                link.stream_mut(side).consume(len as u64);
                if is_request {
                    self.on_request(link, side, msg, out)
                } else {
                    self.on_response(link, side, msg, out)
                }
            }
            HeadParse::Partial => Next::NeedMore,
            HeadParse::Invalid(why) => {
                let who = if is_request { "request" } else { "response" };
                self.marks_mut(side).malformed = Some(format!("malformed HTTP {who} head: {why}"));
                link.stream_mut(side).consume(len as u64);
                Next::Resync
            }
        }
    }

    /// A snap-length cut ended `side`'s segment inside the head at the front of its buffer
    /// (`is_request`: read as a request). What the captured lines prove is paired and
    /// reported like a complete head, marked cut (so the checks leave alone what the cut
    /// hid); a request cut before its start line could be read is only counted. The bytes
    /// are consumed; the cut's gap follows, and the framer looks for the next message start
    /// unless it waits for the answer to an upgrade.
    pub fn on_cut_head<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        is_request: bool,
        cut: HeadCut,
        out: &mut Output,
    ) -> Next {
        let stream = link.stream(side);
        let data = stream.data();
        let len = data.len();
        let head = http::parse_cut_head(data, is_request);
        let first = stream.origin(0);
        let last = stream.origin(len.saturating_sub(1));
        let packets = stream.packets(0..len);
        link.stream_mut(side).consume(len as u64);
        let Some(head) = head else {
            if is_request && self.pending.len() < self.max_pending {
                // Its answer still pairs with it, and a WebSocket answer is reported.
                // Refused by the budget, it is simply not paired (marked).
                let _ = self.push_pending(
                    link,
                    side,
                    Pending {
                        head_method: false,
                        connect: false,
                        h2c: false,
                        upgrade: None,
                        eio: None,
                        since: last.map_or(link.now, |o| o.ts),
                        id: None,
                        cut: true,
                        cut_request: None,
                        eio_unread: false,
                    },
                );
            }
            return Next::Resync;
        };
        let msg = Message {
            packets,
            first_ts: first.map_or(link.now, |o| o.ts),
            last_ts: last.map_or(link.now, |o| o.ts),
            truncated: true,
            body: None,
            cut: Some(cut),
            head,
        };
        let next = if is_request {
            self.on_request(link, side, msg, out)
        } else {
            self.on_response(link, side, msg, out)
        };
        // Where the head ended is beyond the cut: no body length read from it applies.
        match next {
            Next::Body { release_client, .. } => Next::Body {
                body: Body::None,
                release_client,
            },
            Next::AwaitResponse(_) => Next::AwaitResponse(Body::None),
            other => other,
        }
    }

    /// Handles a message that plays no part in a WebSocket exchange from its [`http::Scan`]
    /// alone: its place in the pairing and its body framing, nothing built. `None` when the
    /// message needs the full path (WebSocket headers, a 101, an answer to an upgrade
    /// request, or the pending-request cap).
    fn plain_message<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        is_request: bool,
        len: usize,
        scan: http::Scan,
    ) -> Option<Next> {
        if scan.websocket || scan.engineio {
            return None;
        }
        if is_request {
            if self.pending.len() >= self.max_pending {
                return None;
            }
            let stream = link.stream_mut(side);
            let since = stream
                .origin(len.saturating_sub(1))
                .map_or(link.now, |o| o.ts);
            link.stream_mut(side).consume(len as u64);
            let kept = self.push_pending(
                link,
                side,
                Pending {
                    head_method: scan.head_method,
                    connect: scan.connect_method,
                    h2c: scan.h2c,
                    upgrade: None,
                    since,
                    id: None,
                    cut: false,
                    cut_request: None,
                    eio: None,
                    eio_unread: false,
                },
            );
            if !kept {
                return Some(Next::GiveUp);
            }
            return Some(Next::Body {
                body: scan.request_body(),
                release_client: false,
            });
        }
        let answers_upgrade = self
            .pending
            .front()
            .is_some_and(|p| p.upgrade.is_some() || p.eio.is_some());
        if scan.status == 101 || answers_upgrade {
            return None;
        }
        link.stream_mut(side).consume(len as u64);
        if (100..200).contains(&scan.status) {
            return Some(Next::Body {
                body: Body::None,
                release_client: false,
            });
        }
        let pending = self.pop_pending();
        let head_method = pending.as_ref().is_some_and(|p| p.head_method);
        // An ordinary keep-alive exchange: its evidence problems are not ours.
        self.take_marks(link);
        if pending.is_some_and(|p| p.connect) && (200..300).contains(&scan.status) {
            // A tunnel (RFC 9110 §9.3.6): no body; the next bytes are the tunnelled
            // protocol's, read as if the connection started there (TLS to an https://
            // or wss:// origin through a forward proxy, or HTTP).
            return Some(Next::Restart);
        }
        Some(Next::Body {
            body: scan.response_body(head_method),
            release_client: false,
        })
    }

    fn on_request<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        msg: Message,
        out: &mut Output,
    ) -> Next {
        let head = &msg.head;
        let fields = http::request_fields(head);
        let upgrade = fields.websocket
            // A head cut before its Upgrade line: an Engine.IO target asking for the
            // websocket transport shows the attempt (a complete head shows its headers).
            || (msg.cut.is_some() && engine_io_websocket(head));
        let (h2c, body) = (fields.h2c, fields.body);
        let head_method = head.method() == Some("HEAD");
        let connect = head.method() == Some("CONNECT");
        // An Engine.IO polling request: answered with its bodies read (a POST's here).
        let eio = !upgrade && msg.cut.is_none() && engine_io_target(head);
        let mut eio_body = (eio && body != Body::None && !matches!(body, Body::UntilClose))
            .then(|| Box::new(BodyReader::for_head(head, body, self.eio_body_bytes)));
        // The budget first (counted by `admit`): a body it has no room for is skipped
        // unread, and the session record says so.
        let eio_unread = eio_body
            .as_ref()
            .is_some_and(|r| link.admit(Use::Body, r.most_memory()).is_err());
        if eio_unread {
            eio_body = None;
        }
        if self.pending.len() >= self.max_pending {
            out.effect.pending_limit = true;
            return Next::GiveUp;
        }
        if upgrade {
            self.saw_upgrade = true;
            // A new exchange starts: earlier evidence problems belong to earlier traffic, but
            // those seen while this request's own head arrived (a retransmission of it with
            // different bytes) belong to this exchange.
            let first = msg.first_packet();
            let evidence = link.stream_mut(side).marks_mut().take();
            let marks = std::mem::take(self.marks_mut(side));
            let own = evidence.packets.iter().any(|&p| p >= first);
            self.take_marks(link);
            if own {
                *link.stream_mut(side).marks_mut() = evidence;
                *self.marks_mut(side) = marks;
            }
        }
        let since = msg.last_ts;
        let cut = msg.cut.is_some();
        let (upgrade_request, cut_request, eio_request) = match (upgrade, cut) {
            (true, _) => (Some(msg), None, None),
            (false, true) => (None, Some(msg), None),
            (false, false) if eio => (None, None, Some(msg)),
            (false, false) => (None, None, None),
        };
        let kept = self.push_pending(
            link,
            side,
            Pending {
                head_method,
                connect,
                h2c,
                upgrade: upgrade_request.map(Box::new),
                since,
                id: None,
                cut,
                cut_request: cut_request.map(Box::new),
                eio: eio_request.map(Box::new),
                eio_unread,
            },
        );
        if !kept {
            return Next::GiveUp;
        }
        self.new_upgrade |= upgrade;
        if let Some(reader) = eio_body {
            self.eio_request_body = Some(reader);
            return Next::ReadBody {
                release_client: false,
            };
        }
        if eio_unread {
            // Skipped like any body the analysis does not read.
            return Next::Body {
                body,
                release_client: false,
            };
        }
        if upgrade {
            Next::AwaitResponse(body)
        } else {
            Next::Body {
                body,
                release_client: false,
            }
        }
    }

    fn on_response<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        msg: Message,
        out: &mut Output,
    ) -> Next {
        let since = msg.last_ts;
        let status = msg.head.status().unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            if self.pending.front().is_some_and(|p| p.upgrade.is_some())
                && self.interim.len() < MAX_INTERIM
            {
                if link.admit(Use::Pending, head_bytes(&msg)).is_ok() {
                    self.held += head_bytes(&msg);
                    self.interim.push(msg);
                } else {
                    self.marks_mut(side).memcap = Some("an interim (1xx) response was not kept");
                }
            }
            return Next::Body {
                body: Body::None,
                release_client: false,
            };
        }
        // Without its request, only the response's own headers say it is WebSocket (a bare
        // 101 may be h2c or a Docker attach), or a 101 to a request a cut left unreadable.
        let mut pending = self.pop_pending();
        let cut_plain = pending
            .as_ref()
            .is_some_and(|p| p.cut && p.upgrade.is_none());
        // The fields the pairing reads, in one walk.
        let fields = http::response_fields(&msg.head);
        let websocket_response = fields.accept
            || fields.websocket
            || (status == 101 && cut_plain && !pending.as_ref().is_some_and(|p| p.h2c));
        if cut_plain && !websocket_response {
            // Cut too early to tell, and the answer does not tell either.
            out.effect.requests_cut += 1;
        }
        let unsolicited = pending.is_none() || pending.as_ref().is_some_and(|p| p.cut);
        let answered_upgrade = pending.as_ref().is_some_and(|p| p.upgrade.is_some());
        // A 101 to a WebSocket request whose Upgrade names another protocol (a typo such as
        // `websockets`) opens no WebSocket: a compliant client fails it (RFC 6455 §4.1).
        let elsewhere = status == 101 && answered_upgrade && fields.upgrade && !fields.websocket;
        let opens_websocket =
            status == 101 && !elsewhere && (websocket_response || answered_upgrade);
        let engineio = pending
            .as_ref()
            .and_then(|p| p.upgrade.as_deref())
            .and_then(|m| eio_version(&m.head));
        let switch = (status == 101).then(|| {
            if opens_websocket {
                Protocol::WebSocket {
                    start: msg.last_ts,
                    extensions: if fields.extensions {
                        msg.head.list("Sec-WebSocket-Extensions")
                    } else {
                        Vec::new()
                    },
                    extensions_known: msg.cut.is_none(),
                    engineio,
                }
            } else if pending.as_ref().is_some_and(|p| p.h2c) || fields.h2c {
                Protocol::H2c
            } else {
                Protocol::Tunnel
            }
        });
        let head_method = pending.as_ref().is_some_and(|p| p.head_method);
        let body = fields.body(head_method);
        if switch.is_none() {
            if let Some(p) = pending.as_mut() {
                if let Some(request) = p.eio.take() {
                    let unread = u8::from(p.eio_unread);
                    return self.on_eio_response(link, *request, msg, body, unread, out);
                }
            }
        }
        let id = pending.as_ref().and_then(|p| p.id);
        let request = pending.and_then(|p| match p.upgrade {
            Some(request) => Some(request),
            None if websocket_response => p.cut_request,
            None => None,
        });
        // A head cut by the snap length: its body, if any, is not in the capture either.
        let head_cut = msg.cut.is_some();
        match request {
            Some(request) => {
                let mut done =
                    self.complete(link, Some(*request), Some(msg), None, opens_websocket, id);
                if switch.is_none() && body != Body::None && self.body_bytes > 0 && !head_cut {
                    // A refusal with a body: its first bytes are the server's reason.
                    let reader = match done.response.as_ref() {
                        Some(resp) => BodyReader::for_head(&resp.head, body, self.body_bytes),
                        None => BodyReader::new(body, super::body::Coding::Identity, 0),
                    };
                    if link.admit(Use::Body, reader.most_memory()).is_ok() {
                        self.reading = Some(Box::new(Reading {
                            reader,
                            done: Some(done),
                            since,
                        }));
                        return Next::ReadBody {
                            release_client: answered_upgrade,
                        };
                    }
                    done.extra.push(Finding::new(
                        Code::MemcapReached,
                        "the response body was not read (no excerpt): wssniff's memory budget (--memcap) was full",
                    ));
                }
                out.completed.push(done);
            }
            None if websocket_response && unsolicited => {
                let mut done = self.complete(link, None, Some(msg), None, opens_websocket, None);
                let client = link.client();
                let unseen = client.map_or(0, |c| link.acked_unseen(c));
                if cut_plain {
                    done.extra.push(Finding::new(
                        Code::RequestNotCaptured,
                        "the request was cut by the snap length before its request line ended: the capture holds only its first bytes",
                    ));
                } else if unseen > 0 {
                    done.extra.push(Finding::new(
                        Code::RequestNotCaptured,
                        format!(
                            "the request is not in the capture: the server acknowledged {unseen} bytes from the client"
                        ),
                    ));
                }
                out.completed.push(done);
            }
            None => {
                // An ordinary keep-alive exchange: its evidence problems are not ours.
                self.take_marks(link);
            }
        }
        if elsewhere && !matches!(switch, Some(Protocol::H2c)) {
            return Next::Restart;
        }
        if let Some(protocol) = switch {
            // Switched protocols: what follows is not HTTP.
            return Next::Switch(protocol);
        }
        // Only the answer to the upgrade releases a client waiting for it (pipelined plain
        // requests before the upgrade are answered first).
        Next::Body {
            body,
            release_client: answered_upgrade,
        }
    }

    /// Body bytes of the refusal being read start `side`'s buffer (the framer is in
    /// [`Framer::read_body`](super::framer::Framer::read_body)): reads them, reports the
    /// exchange once the body ended or its excerpt is full, and says how the framer goes on.
    pub fn on_body<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        out: &mut Output,
    ) -> Next {
        let server = link.sends_requests(side) == Some(false);
        if self.eio_request_body.is_some() && !server {
            return self.on_eio_request_body(link, side);
        }
        if self.eio_response.is_some() && (server || self.eio_request_body.is_none()) {
            return self.on_eio_response_body(link, side, out);
        }
        let Some(reading) = self.reading.as_mut() else {
            return Next::Body {
                body: Body::None,
                release_client: false,
            };
        };
        let read = reading.reader.read(link.stream(side).data());
        link.stream_mut(side).consume(read.consumed as u64);
        match read.progress {
            Progress::More if !reading.reader.is_full() => Next::NeedMore,
            Progress::More => {
                // The excerpt is settled: report now (a body may never end), then skip the
                // rest without reading it where the framing allows.
                self.report_body(out, false);
                match self.reading.as_ref().and_then(|r| r.reader.remaining()) {
                    Some(body) => {
                        self.reading = None;
                        Next::Body {
                            body,
                            release_client: false,
                        }
                    }
                    None => Next::NeedMore,
                }
            }
            Progress::Complete => {
                self.report_body(out, false);
                self.reading = None;
                Next::Body {
                    body: Body::None,
                    release_client: false,
                }
            }
            Progress::Invalid => {
                self.report_body(out, false);
                self.reading = None;
                Next::Resync
            }
        }
    }

    /// The bytes after a 101 on `side` were HTTP, not WebSocket frames (`packets` carried
    /// them): the next exchange reported says so.
    pub fn http_after_switch(&mut self, side: Side, link_client: Option<Side>, packets: &[u64]) {
        let who = if link_client == Some(side) {
            "the client sent an HTTP request"
        } else {
            "the server sent an HTTP response"
        };
        self.after_switch = Some(
            Finding::new(
                Code::HttpAfterSwitch,
                format!("after the 101 {who} on the same connection, not WebSocket frames: the connection did not switch; what follows is analysed as HTTP"),
            )
            .packets(packets),
        );
    }

    /// The answer to an Engine.IO polling request: reported at once, or after its body.
    fn on_eio_response<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        request: Message,
        response: Message,
        body: Body,
        unread: u8,
        out: &mut Output,
    ) -> Next {
        // An ordinary exchange as far as evidence goes: its problems are not an upgrade's.
        self.take_marks(link);
        let reader = BodyReader::for_head(&response.head, body, self.eio_body_bytes);
        let readable = body != Body::None && response.cut.is_none();
        let refused = readable && link.admit(Use::Body, reader.most_memory()).is_err();
        let poll = EioPoll {
            request,
            response: Some(response),
            bodies_unread: unread + u8::from(refused),
            not_followed: false,
        };
        if !readable || refused {
            out.engineio.push(poll);
            return Next::Body {
                body,
                release_client: false,
            };
        }
        self.eio_response = Some(Box::new((reader, poll)));
        Next::ReadBody {
            release_client: false,
        }
    }

    /// Body bytes of the Engine.IO request last queued start `side`'s buffer.
    fn on_eio_request_body<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> Next {
        let Some(reader) = self.eio_request_body.as_mut() else {
            return Next::NeedMore;
        };
        let read = reader.read(link.stream(side).data());
        link.stream_mut(side).consume(read.consumed as u64);
        let next = match read.progress {
            Progress::More if !reader.is_full() => return Next::NeedMore,
            Progress::More => match reader.remaining() {
                Some(body) => Next::Body {
                    body,
                    release_client: false,
                },
                None => Next::NeedMore,
            },
            Progress::Complete => Next::Body {
                body: Body::None,
                release_client: false,
            },
            Progress::Invalid => Next::Resync,
        };
        // The request whose body this is was queued last (the client's framer reads no
        // other head before the body ends); a response that came first took it already.
        let excerpt = reader.take_excerpt(false);
        if let Some(m) = self.pending.back_mut().and_then(|p| p.eio.as_deref_mut()) {
            if m.body.is_none() {
                self.held += excerpt.bytes.capacity();
                m.body = Some(excerpt);
            }
        }
        if next != Next::NeedMore {
            self.eio_request_body = None;
        }
        next
    }

    /// Body bytes of an Engine.IO response start `side`'s buffer.
    fn on_eio_response_body<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        out: &mut Output,
    ) -> Next {
        let Some(reading) = self.eio_response.as_mut() else {
            return Next::NeedMore;
        };
        let read = reading.0.read(link.stream(side).data());
        link.stream_mut(side).consume(read.consumed as u64);
        match read.progress {
            Progress::More if !reading.0.is_full() => Next::NeedMore,
            Progress::More => {
                let rest = reading.0.remaining();
                self.report_eio_response(out, false);
                match rest {
                    Some(body) => Next::Body {
                        body,
                        release_client: false,
                    },
                    None => Next::Resync,
                }
            }
            Progress::Complete => {
                self.report_eio_response(out, false);
                Next::Body {
                    body: Body::None,
                    release_client: false,
                }
            }
            Progress::Invalid => {
                self.report_eio_response(out, false);
                Next::Resync
            }
        }
    }

    /// Hands on the Engine.IO exchange whose response body is being read, with what was
    /// read of it.
    fn report_eio_response(&mut self, out: &mut Output, ended: bool) {
        if let Some(reading) = self.eio_response.take() {
            let (mut reader, mut poll) = *reading;
            if let Some(resp) = poll.response.as_mut() {
                resp.body = Some(reader.take_excerpt(ended));
            }
            out.engineio.push(poll);
        }
    }

    /// Reports the exchange whose body is being read, with the excerpt so far, unless it was
    /// reported already. `ended`: the connection ended.
    fn report_body(&mut self, out: &mut Output, ended: bool) {
        let Some(reading) = self.reading.as_mut() else {
            return;
        };
        if let Some(mut done) = reading.done.take() {
            let excerpt = reading.reader.take_excerpt(ended);
            if let Some(resp) = done.response.as_mut() {
                resp.body = Some(excerpt);
            }
            out.completed.push(done);
        }
    }

    /// An exchange whose outcome is known, with the interim responses and evidence marks
    /// gathered since the last one. `end` is how and when the connection ended, for a request
    /// that got no answer; `id` the handshake id reserved for the request.
    fn complete<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        request: Option<Message>,
        response: Option<Message>,
        end: Option<(Ending, Timestamp)>,
        switched: bool,
        id: Option<u64>,
    ) -> Completed {
        Completed {
            stream: StreamId::HTTP1,
            request,
            response,
            interim: self.take_interim(),
            ending: end.map(|(e, _)| e),
            ended_at: end.map(|(_, t)| t),
            extra: {
                let mut extra = self.take_marks(link);
                extra.extend(self.after_switch.take());
                extra
            },
            switched,
            id,
            h2: None,
        }
    }

    /// Turns the evidence marks of both directions (the streams' and the pairing's own) into
    /// findings and clears them.
    fn take_marks<S: ByteStream>(&mut self, link: &mut Link<'_, S>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for side in [Side::LoToHi, Side::HiToLo] {
            let evidence = link.stream_mut(side).marks_mut().take();
            let marks = std::mem::take(self.marks_mut(side));
            if evidence == Marks::default()
                && marks.malformed.is_none()
                && !marks.header_limit
                && marks.memcap.is_none()
            {
                continue;
            }
            if evidence.memcap > 0 {
                findings.push(
                    Finding::new(
                        Code::MemcapReached,
                        format!(
                            "{} bytes of the {} stream were not kept (holes given up, unfinished heads dropped): wssniff's memory budget (--memcap) was full",
                            evidence.memcap,
                            link.peer_of(side).as_str()
                        ),
                    )
                    .packets(&evidence.packets),
                );
            }
            if let Some(what) = marks.memcap {
                findings.push(Finding::new(
                    Code::MemcapReached,
                    format!("{what}: wssniff's memory budget (--memcap) was full"),
                ));
            }
            if let Some(gap) = evidence.gap {
                findings.push(
                    Finding::new(
                        Code::CaptureGap,
                        format!(
                            "{} bytes missing from the capture at stream offset {}",
                            gap.len, gap.offset
                        ),
                    )
                    .packets(&evidence.packets),
                );
            }
            if evidence.truncated {
                let who = match link.sends_requests(side) {
                    Some(false) => "server",
                    _ => "client",
                };
                findings.push(
                    Finding::new(
                        Code::SnaplenTruncated,
                        format!(
                            "{who} packets cut at {} bytes (the snap length): {} bytes on the wire are not in the capture",
                            evidence.snaplen, evidence.cut_bytes
                        ),
                    )
                    .packets(&evidence.packets),
                );
            }
            if evidence.conflict {
                findings.push(
                    Finding::new(
                        Code::OverlapConflict,
                        "a retransmission carried different bytes; the first copy was used",
                    )
                    .packets(&evidence.packets),
                );
            }
            if marks.header_limit {
                findings.push(Finding::new(
                    Code::HeaderLimitExceeded,
                    "the response head passed the header cap without ending",
                ));
            }
            if let Some(why) = marks.malformed {
                findings.push(Finding::new(Code::HttpMalformed, why).packets(&evidence.packets));
            }
        }
        findings
    }
}

/// Whether a request target names an Engine.IO revision (`EIO=`): Socket.IO's transport,
/// whose polling bodies are read (`engineio` reads the rest of the target).
fn engine_io_target(head: &crate::event::Head) -> bool {
    match &head.start {
        crate::event::StartLine::Request { target, .. } => http::mentions_eio(target.as_bytes()),
        crate::event::StartLine::Response { .. } => false,
    }
}

/// The Engine.IO revision a request target names (`EIO=4`), if any.
pub(crate) fn eio_version(head: &crate::event::Head) -> Option<u8> {
    let crate::event::StartLine::Request { target, .. } = &head.start else {
        return None;
    };
    // A byte search and a slice parse: `str::find` set up a two-way searcher and the
    // digits were collected into a String, for every answered upgrade.
    let at = http::eio_parameter(target.as_bytes())?;
    let digits = target
        .as_bytes()
        .get(at..)?
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    target.get(at..at + digits)?.parse().ok()
}

/// Whether a request target asks Engine.IO (Socket.IO's transport) for its websocket
/// transport: `/socket.io/?EIO=4&transport=websocket`.
fn engine_io_websocket(head: &crate::event::Head) -> bool {
    let crate::event::StartLine::Request { target, .. } = &head.start else {
        return false;
    };
    let lower = target.to_ascii_lowercase();
    lower.contains("eio=") && lower.contains("transport=websocket")
}

/// Bytes of the server's stream the capture lost (a gap the client's ACK proved, or
/// acknowledged beyond the last captured byte): an answer may be among them.
fn server_bytes_lost<S: ByteStream>(link: &Link<'_, S>) -> u64 {
    let server = link.client().map(Side::reverse);
    server.map_or(0, |s| {
        link.acked_unseen(s) + link.stream(s).marks().gap.map_or(0, |g| g.len)
    })
}

/// An unanswered upgrade request whose client acknowledged `unseen` server bytes the capture
/// never saw: the server did answer (a one-way capture, or capture loss), whatever the
/// ending suggests.
fn response_not_captured(done: &mut Completed, unseen: u64) {
    if unseen == 0 {
        return;
    }
    let packets = done.request.as_ref().map(|r| r.packets.clone());
    done.extra.push(
        Finding::new(
            Code::ResponseAckedNotCaptured,
            format!(
                "the response is not in the capture: the client acknowledged {unseen} bytes from the server"
            ),
        )
        .packets(&packets.unwrap_or_default()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::framer::{AfterBody, Framed, Framer};
    use crate::tcp::reassembly::Gap;
    use crate::tcp::stream::Relay;

    const C: Side = Side::LoToHi;
    const S: Side = Side::HiToLo;

    /// The pairing driven by two framers over relays, with the switch's part reduced to what
    /// the pairing decides: a test here reads the [`Next`] values and [`Completed`] exchanges.
    struct Http {
        streams: [Relay; 2],
        client: Option<Side>,
        framers: [Framer; 2],
        stopped: [bool; 2],
        exchange: Exchange,
        out: Output,
        switched: Option<Protocol>,
        restarts: u32,
        packet: u64,
        /// The memory budget the parsers grow within (unbounded unless a test sets one).
        meter: Meter,
    }

    impl Http {
        fn new() -> Self {
            Http {
                streams: [Relay::new(), Relay::new()],
                client: Some(C),
                framers: [Framer::new(), Framer::new()],
                stopped: [false, false],
                exchange: Exchange::new(1024, 4, 4096),
                out: Output::default(),
                switched: None,
                restarts: 0,
                packet: 0,
                meter: Meter::new(),
            }
        }

        /// `bytes` arrive on `side` (one packet), and both sides are parsed.
        fn send(&mut self, side: Side, bytes: &[u8]) -> &mut Self {
            self.packet += 1;
            self.streams[side.index()].append(bytes, self.packet, Timestamp(self.packet as i64));
            self.parse(side);
            self.parse(side.reverse());
            self
        }

        fn parse(&mut self, side: Side) {
            let i = side.index();
            while !self.stopped[i] {
                let mut link = Link::new(
                    &mut self.streams,
                    &mut self.client,
                    Timestamp(self.packet as i64),
                )
                .with_meter(&mut self.meter);
                if link.stream(side).data().is_empty() {
                    return;
                }
                let mut framer = self.framers[i];
                let mut scanned = 0;
                let framed = framer.step(&mut link, side, 1024, &mut scanned);
                self.framers[i] = framer;
                let next = match framed {
                    Framed::NeedMore => return,
                    Framed::Continue => continue,
                    Framed::NotHttp => {
                        self.exchange.not_http(&link, side);
                        self.stopped[i] = true;
                        return;
                    }
                    Framed::HeaderLimit { is_request } => {
                        self.exchange
                            .header_limit(&link, side, is_request, &mut self.out);
                        self.stopped[i] = true;
                        return;
                    }
                    Framed::Head { len, is_request } => {
                        self.exchange
                            .on_head(&mut link, side, len, is_request, &mut self.out)
                    }
                    Framed::Body => self.exchange.on_body(&mut link, side, &mut self.out),
                };
                match next {
                    Next::NeedMore => return,
                    Next::Body {
                        body,
                        release_client,
                    } => {
                        let other = &mut self.framers[side.reverse().index()];
                        if release_client && other.is_awaiting_response() {
                            other.release();
                        }
                        if framer.body(link.stream_mut(side), body) == AfterBody::UntilClose {
                            self.stopped[i] = true;
                        }
                    }
                    Next::AwaitResponse(body) => framer.await_response(link.stream_mut(side), body),
                    Next::ReadBody { release_client } => {
                        let other = &mut self.framers[side.reverse().index()];
                        if release_client && other.is_awaiting_response() {
                            other.release();
                        }
                        framer.read_body();
                    }
                    Next::Resync => framer.lose_place(),
                    Next::GiveUp => self.stopped = [true, true],
                    Next::Switch(p) => {
                        self.switched = Some(p);
                        self.stopped = [true, true];
                    }
                    Next::Restart => {
                        self.framers = [Framer::new(), Framer::new()];
                        self.restarts += 1;
                        return;
                    }
                }
                self.framers[i] = framer;
            }
        }

        fn completed(&mut self) -> Vec<Completed> {
            std::mem::take(&mut self.out.completed)
        }

        fn finish(&mut self, ending: Ending) -> Vec<Completed> {
            let mut link = Link::new(&mut self.streams, &mut self.client, Timestamp(99));
            self.exchange
                .finish(&mut link, ending, Timestamp(99), &mut self.out);
            self.completed()
        }
    }

    const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    const SWITCH: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    fn status(m: &Option<Message>) -> Option<u16> {
        m.as_ref().and_then(|m| m.head.status())
    }

    fn codes(c: &Completed) -> Vec<&'static str> {
        c.extra.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn interim_responses_before_the_101_are_kept_with_the_exchange() {
        let mut h = Http::new();
        h.send(C, UPGRADE);
        h.send(
            S,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n",
        );
        assert!(h.completed().is_empty(), "interim responses do not answer");
        h.send(S, SWITCH);
        let done = h.completed();
        assert_eq!(done.len(), 1);
        let c = &done[0];
        assert_eq!(status(&c.response), Some(101));
        let interim: Vec<_> = c.interim.iter().filter_map(|m| m.head.status()).collect();
        assert_eq!(interim, [100, 102]);
        assert!(c.switched && c.request.is_some());
        assert_eq!(
            h.switched,
            Some(Protocol::WebSocket {
                start: Timestamp(3),
                extensions: vec!["permessage-deflate".to_owned()],
                extensions_known: true,
                engineio: None,
            })
        );
    }

    #[test]
    fn an_upgrade_pipelined_behind_plain_requests_gets_the_third_answer() {
        let mut h = Http::new();
        h.send(
            C,
            &[
                b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n".as_slice(),
                UPGRADE,
            ]
            .concat(),
        );
        assert!(h.framers[C.index()].is_awaiting_response());
        h.send(S, OK);
        h.send(S, OK);
        assert!(h.completed().is_empty(), "plain exchanges are not reported");
        assert!(
            h.framers[C.index()].is_awaiting_response(),
            "answers to the plain requests do not release the client"
        );
        h.send(S, SWITCH);
        let done = h.completed();
        assert_eq!(done.len(), 1);
        let request = done[0].request.as_ref().map(|r| r.head.raw.clone());
        assert!(request.is_some_and(|raw| raw.starts_with("GET /chat")));
        assert!(done[0].switched);
    }

    #[test]
    fn a_refused_upgrade_releases_the_client_for_its_next_request() {
        let mut h = Http::new();
        h.send(C, UPGRADE);
        h.send(C, b"GET /next HTTP/1.1\r\n\r\n");
        h.send(S, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        let done = h.completed();
        assert_eq!(status(&done[0].response), Some(403));
        assert!(!done[0].switched && h.switched.is_none());
        // The request that waited behind the upgrade is read now: one pending, plain.
        assert_eq!(h.exchange.pending.len(), 1);
        assert!(!h.exchange.upgrade_pending());
    }

    #[test]
    fn a_101_after_upgrade_h2c_switches_to_h2_and_reports_nothing() {
        let mut h = Http::new();
        h.send(
            C,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        );
        h.send(
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        );
        assert_eq!(h.switched, Some(Protocol::H2c));
        assert!(h.completed().is_empty());
        assert!(!h.exchange.saw_upgrade(), "h2c is not a WebSocket upgrade");
    }

    #[test]
    fn a_2xx_to_connect_starts_the_connection_over_as_the_tunnelled_protocol() {
        let mut h = Http::new();
        let connect = b"CONNECT chat.example:443 HTTP/1.1\r\nHost: chat.example:443\r\n\r\n";
        h.send(C, connect);
        h.send(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(h.restarts, 0, "a refusal leaves the connection HTTP");
        h.send(C, connect);
        h.send(S, b"HTTP/1.1 200 Connection established\r\n\r\n");
        assert_eq!(
            h.restarts, 1,
            "no body: the tunnel starts right after the head"
        );
        assert!(h.completed().is_empty());
        // Only CONNECT opens a tunnel.
        let mut h = Http::new();
        h.send(C, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        h.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.restarts, 0);
    }

    #[test]
    fn a_101_to_another_protocol_is_an_opaque_tunnel() {
        let mut h = Http::new();
        h.send(
            C,
            b"POST /attach HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n",
        );
        h.send(
            S,
            b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n",
        );
        assert_eq!(h.switched, Some(Protocol::Tunnel));
        assert!(h.completed().is_empty());
    }

    #[test]
    fn a_websocket_101_without_its_request_is_still_reported() {
        let mut h = Http::new();
        h.send(S, SWITCH);
        let done = h.completed();
        assert_eq!(done.len(), 1);
        assert!(done[0].request.is_none() && done[0].switched);
    }

    #[test]
    fn evidence_before_the_upgrade_belongs_to_earlier_traffic_and_after_it_to_the_upgrade() {
        let gap = |offset| Gap {
            offset,
            len: 5,
            needs_resync: false,
        };
        let mut h = Http::new();
        h.send(C, b"GET /a HTTP/1.1\r\n\r\n");
        h.streams[C.index()].marks_mut().note_gap(gap(1), 1);
        h.send(S, OK);
        h.send(C, UPGRADE);
        h.streams[S.index()].marks_mut().note_gap(gap(50), 4);
        h.send(S, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        let done = h.completed();
        assert_eq!(codes(&done[0]), ["capture_gap"]);
        assert_eq!(done[0].extra[0].packets, [4]);
    }

    #[test]
    fn an_upgrade_never_answered_is_reported_at_the_end_or_at_its_timeout_once() {
        let mut h = Http::new();
        h.send(C, UPGRADE);
        let done = h.finish(Ending::ServerFin);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].ending, Some(Ending::ServerFin));
        assert!(done[0].response.is_none());

        let mut h = Http::new();
        h.send(C, UPGRADE);
        assert_eq!(h.exchange.unanswered_since(), Some(Timestamp(1)));
        let mut link = Link::new(&mut h.streams, &mut h.client, Timestamp(10));
        h.exchange
            .expire_unanswered(&mut link, Timestamp(1), Timestamp(10), &mut h.out);
        let done = h.completed();
        assert_eq!(done[0].ending, Some(Ending::ResponseTimeout));
        h.send(S, SWITCH);
        assert!(
            h.completed().is_empty(),
            "a late answer is not reported again"
        );
        assert!(h.finish(Ending::CaptureEnded).is_empty());
    }

    #[test]
    fn a_tls_record_answering_an_upgrade_says_wss_was_expected() {
        let mut h = Http::new();
        h.send(C, UPGRADE);
        h.send(S, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);
        assert!(h.stopped[S.index()]);
        let done = h.finish(Ending::ServerRst);
        assert_eq!(codes(&done[0]), ["http_malformed"]);
        assert!(done[0].extra[0].message.contains("a TLS record"));
    }

    #[test]
    fn too_many_pending_requests_give_up_the_connection() {
        let mut h = Http::new();
        let get = b"GET /x HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        for _ in 0..4 {
            h.exchange.pending.push_back(Pending {
                head_method: false,
                connect: false,
                h2c: false,
                upgrade: None,
                since: Timestamp(0),
                id: None,
                cut: false,
                cut_request: None,
                eio: None,
                eio_unread: false,
            });
        }
        h.send(C, get);
        assert_eq!(h.stopped, [true, true]);
        assert!(h.out.effect.pending_limit);
    }

    #[test]
    fn engine_io_polls_are_paired_with_both_bodies_and_plain_requests_stay_unread() {
        let mut h = Http::new();
        h.send(
            C,
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        h.send(
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0{\"sid\":1",
        );
        assert!(h.out.engineio.is_empty(), "the body is still arriving");
        h.send(S, b"}");
        // A POST's body, then a plain request whose answer is not read.
        h.send(
            C,
            b"POST /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n\r\nGET /plain HTTP/1.1\r\n\r\n",
        );
        h.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
        let polls = std::mem::take(&mut h.out.engineio);
        assert_eq!(polls.len(), 2);
        let body = |m: Option<&Message>| m.and_then(|m| m.body.as_ref()).map(|b| b.bytes.clone());
        assert_eq!(
            body(polls[0].response.as_ref()),
            Some(b"0{\"sid\":1}".to_vec())
        );
        assert_eq!(body(Some(&polls[1].request)), Some(b"40".to_vec()));
        assert_eq!(body(polls[1].response.as_ref()), Some(b"ok".to_vec()));
        assert!(h.completed().is_empty());
        assert_eq!(h.exchange.memory(), h.exchange.registered());
    }

    /// engine.io compresses a polling answer of 1 KiB or more (`httpCompression`) when the
    /// client accepts it: gzip, chunked once the length is unknown. The poll's body is the
    /// decoded payload (issue 14: "gzip/deflate decoded with a cap").
    #[test]
    fn a_gzipped_chunked_polling_answer_is_read_decoded() {
        use std::io::Write;
        let payload = format!("4{}", "x".repeat(2000));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(payload.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        resp.extend(format!("{:x}\r\n", gz.len()).as_bytes());
        resp.extend(&gz);
        resp.extend(b"\r\n0\r\n\r\n");
        let mut h = Http::new();
        h.send(
            C,
            b"GET /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
        );
        h.send(S, &resp);
        let polls = std::mem::take(&mut h.out.engineio);
        assert_eq!(polls.len(), 1);
        let body = polls[0].response.as_ref().unwrap().body.as_ref().unwrap();
        assert_eq!(body.bytes, payload.as_bytes());
        assert_eq!(body.content_encoding.as_deref(), Some("gzip"));
        assert!(!body.truncated && !body.undecoded && body.problem.is_none());
    }

    #[test]
    fn engine_io_bodies_the_budget_has_no_room_for_are_skipped_and_said_on_the_poll() {
        let go = |budget: usize| {
            let mut h = Http::new();
            h.meter = Meter::with_budget(Some(budget));
            h.send(
                C,
                b"POST /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nContent-Length: 2\r\n\r\n40",
            );
            h.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            h.send(
                C,
                b"GET /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nHost: x\r\n\r\n",
            );
            h.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n6");
            let polls = std::mem::take(&mut h.out.engineio);
            let unread: Vec<u8> = polls.iter().map(|p| p.bodies_unread).collect();
            let bodies = polls
                .iter()
                .filter(|p| p.response.as_ref().is_some_and(|r| r.body.is_some()))
                .count();
            (unread, bodies, h.meter.refused(Use::Body).times)
        };
        // Room for a 64 KiB excerpt: both exchanges read.
        assert_eq!(go(1 << 20), (vec![0, 0], 2, 0));
        // 16 KiB: none fits; both polls still pair (the next request follows), and each says
        // what was not read.
        assert_eq!(go(16 << 10), (vec![2, 1], 0, 3));
    }

    #[test]
    fn engine_io_bodies_are_cut_at_the_configured_cap() {
        let mut h = Http::new();
        h.exchange = Exchange::new(1024, 4, 4096).keeping_eio_bodies(4);
        h.send(
            C,
            b"GET /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        h.send(
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n4hello\x1e6",
        );
        let polls = std::mem::take(&mut h.out.engineio);
        let body = polls[0].response.as_ref().unwrap().body.as_ref().unwrap();
        assert_eq!(
            (body.bytes.as_slice(), body.truncated),
            (&b"4hel"[..], true)
        );
    }

    #[test]
    fn a_refusal_is_reported_once_its_body_is_read_and_the_next_request_follows() {
        let mut h = Http::new();
        h.send(C, UPGRADE);
        h.send(
            S,
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n1b\r\nFailed to open a WebSocket ",
        );
        assert!(h.completed().is_empty(), "the body is still arriving");
        assert!(h.exchange.memory() > 0);
        h.send(C, b"GET /next HTTP/1.1\r\n\r\n");
        h.send(
            S,
            b"\r\n20\r\nconnection: missing subprotocol.\r\n0\r\n\r\n",
        );
        let done = h.completed();
        assert_eq!(done.len(), 1);
        let body = done[0].response.as_ref().and_then(|r| r.body.clone());
        let body = body.unwrap_or_default();
        assert_eq!(
            body.text().as_deref(),
            Some("Failed to open a WebSocket connection: missing subprotocol.")
        );
        assert!(!body.truncated);
        // The framer is back at heads: the answer to /next pairs.
        h.send(S, OK);
        assert_eq!(h.exchange.pending.len(), 0);
        // Nothing but the queue's empty slots (counted by capacity) is held.
        assert_eq!(
            h.exchange.memory(),
            h.exchange.pending.capacity() * std::mem::size_of::<Pending>()
        );
    }

    #[test]
    fn a_refusal_body_the_budget_has_no_room_for_is_not_read_and_the_exchange_says_so() {
        let go = |budget: usize| {
            let mut h = Http::new();
            h.meter = Meter::with_budget(Some(budget));
            h.send(C, UPGRADE);
            h.send(
                S,
                b"HTTP/1.1 400 Bad Request\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
            );
            let done = h.completed();
            assert_eq!(done.len(), 1, "reported at once, body or not");
            (
                done[0].response.as_ref().and_then(|r| r.body.clone()),
                codes(&done[0]),
                h.meter.refused(Use::Body).times,
            )
        };
        // Room for the excerpt and an inflater: read (the gzip is corrupt, said in the body).
        let (body, found, refused) = go(1 << 20);
        assert!(body.is_some());
        assert!(!found.contains(&"memcap_reached"));
        assert_eq!(refused, 0);
        // 16 KiB: no room for a 48 KiB inflater; the exchange is marked, the refusal counted.
        let (body, found, refused) = go(16 << 10);
        assert!(body.is_none(), "{body:?}");
        assert!(found.contains(&"memcap_reached"), "{found:?}");
        assert_eq!(refused, 1);
    }

    #[test]
    fn a_refusal_whose_body_never_ends_is_reported_when_the_excerpt_is_full_or_at_the_end() {
        let mut h = Http::new();
        h.exchange.body_bytes = 8;
        h.send(C, UPGRADE);
        h.send(S, b"HTTP/1.0 200 OK\r\n\r\nevent: tick\n");
        let done = h.completed();
        let body = done[0].response.as_ref().and_then(|r| r.body.clone());
        assert_eq!(
            body.map(|b| (b.bytes, b.truncated)),
            Some((b"event: t".to_vec(), true))
        );
        assert!(h.stopped[S.index()], "the rest runs to the close: not read");

        let mut h = Http::new();
        h.send(C, UPGRADE);
        h.send(S, b"HTTP/1.1 503 x\r\nContent-Length: 50\r\n\r\nbusy");
        assert!(h.completed().is_empty());
        let done = h.finish(Ending::ServerFin);
        assert_eq!(done.len(), 1, "reported once, at the end");
        let body = done[0]
            .response
            .as_ref()
            .and_then(|r| r.body.clone())
            .unwrap_or_default();
        assert_eq!(
            (body.bytes.as_slice(), body.truncated),
            (&b"busy"[..], true)
        );
        assert_eq!(
            body.problem.as_deref(),
            Some("the body ended after 4 of its 50 bytes")
        );
    }

    #[test]
    fn the_running_byte_count_agrees_with_a_walk() {
        let mut h = Http::new();
        h.send(C, UPGRADE);
        h.send(C, b"GET /behind HTTP/1.1\r\n\r\n");
        h.send(S, b"HTTP/1.1 100 Continue\r\nX-Pad: aaaaaaaaaa\r\n\r\n");
        assert!(h.exchange.held > 0);
        assert_eq!(h.exchange.registered(), h.exchange.memory());
        let mut link = Link::new(&mut h.streams, &mut h.client, Timestamp(10));
        h.exchange
            .expire_unanswered(&mut link, Timestamp(9), Timestamp(10), &mut h.out);
        assert_eq!(h.exchange.registered(), h.exchange.memory());
        h.finish(Ending::CaptureEnded);
        assert_eq!((h.exchange.registered(), h.exchange.memory()), (0, 0));
    }

    #[test]
    fn the_engine_io_revision_is_the_first_eio_parameter_up_to_three_digits() {
        let version = |target: &str| {
            let head = b"GET / HTTP/1.1\r\n\r\n";
            let HeadParse::Complete(mut head) = http::parse_head(head, head.len(), true) else {
                unreachable!()
            };
            head.start = crate::event::StartLine::Request {
                method: "GET".to_owned(),
                target: target.to_owned(),
            };
            eio_version(&head)
        };
        assert_eq!(version("/socket.io/?EIO=4&transport=websocket"), Some(4));
        assert_eq!(version("/?EIO=3&EIO=4"), Some(3));
        assert_eq!(version("/?EIO=0034"), Some(3));
        assert_eq!(version("/?EIO=256"), None);
        assert_eq!(version("/?EIO=x4"), None);
        assert_eq!(version("/?EIO="), None);
        assert_eq!(version("/?EIO=7\u{e9}"), Some(7));
        assert_eq!(version("/?eio=4"), None);
    }
}
