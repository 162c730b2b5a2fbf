//! The application-parser switch: which parser reads each direction of a connection, chosen
//! by content and switched by events, and the [`Connection`] that joins it to the TCP
//! lifecycle.
//!
//! Each direction has a [`Lane`]; the lanes share the connection's HTTP/1 pairing and its
//! WebSocket sessions:
//!
//! ```text
//!   SYN seen ─▶ Http ──WebSocket 101──────────────▶ WebSocket (both directions; frames walked)
//!                │  ──101 after Upgrade: h2c──────▶ H2c       (opaque until HTTP/2, issue 13)
//!                │  ──101 to another protocol─────▶ Tunnel    (opaque)
//!                │  ──not HTTP, a TLS record──────▶ Tls       (both directions: records walked;
//!                │                                              with keys, plaintext ─▶ an inner
//!                │                                              Dispatch over two Relays)
//!                └─ ──not HTTP / cap hit / body until close──▶ Ignored
//!   no SYN   ─▶ FrameSniff ──a run of sane frames──▶ WebSocket (handshake not observed)
//!                          └─not frames──▶ Http (resynchronising)
//!   a gap that loses the place: Http/FrameSniff ─▶ Http (resynchronising);
//!   WebSocket ─▶ WebSocketResync ──next packet starts a whole frame──▶ WebSocket
//!                                └─anything else──▶ Ignored (declared unknown)
//!   a snap-length cut: the parser reads what the cut left first (Dispatch::cut), then the gap
//! ```
//!
//! Opaque lanes store nothing: their stream is told to ignore its bytes, so bulk traffic of
//! a protocol wssniff does not read costs a table lookup per packet and no more. A `Tls`
//! lane reads the handshake's records; without keys a side's bulk is then only counted by its
//! TCP stream (`tls::connection`, count-only) and its last flight walked at the end; with keys its
//! plaintext (a [`Relay`](crate::tcp::stream::Relay) per direction) feeds an inner switch
//! over `Relay`s ([`Dispatch`] implements [`Application`] for any [`ByteStream`]), so
//! decrypted bytes get the whole HTTP/1 and WebSocket analysis; TLS inside TLS is not
//! read (the inner switch ignores it). Issue 13
//! turns `H2c` (and ALPN `h2`) into an HTTP/2 parser that feeds one WebSocket session per
//! extended CONNECT stream, which is why sessions and completed exchanges are keyed by
//! [`StreamId`] and not only by connection. A layer that reads WebSocket payloads (Engine.IO,
//! issue 14) attaches its observer to the session of the stream it follows.
//!
//! This stage sits after `websocket` because it chooses between HTTP and WebSocket; `tcp`
//! only knows the [`Application`] trait that [`Dispatch`] implements. Never does I/O.

use crate::capture::{Packet, Timestamp};
use crate::decode::Segment;
use crate::engineio::{self, observer::EioObserver};
use crate::event::{ConnectionRecord, Ending, HeadCut, Peer, TlsCarrier, TlsRecord};
use crate::h2::connection::{H2Connection, H2Limits};
use crate::h2::frame::{self as h2frame, PrefaceMatch};
use crate::http::exchange::{Exchange, Next, Output, Protocol, StreamId};
use crate::http::framer::{self, AfterBody, Framed, Framer};
use crate::http::head::Sniff;
use crate::memory::{Account, Meter, Use};
use crate::tcp::community_id;
use crate::tcp::connection::{Application, Closure, Cut, Link, Opening, QuietKinds, TcpConnection};
use crate::tcp::flow::{FlowKey, Side};
use crate::tcp::reassembly::{Gap, StreamLimits};
use crate::tcp::stream::ByteStream;
use crate::tls::connection::TlsConnection;
use crate::tls::keyschedule::KeyBytes;
use crate::tls::{record, KeyAnswer, KeyRequest};
use crate::websocket::session::{self, FrameSniff, OpenedBy, Session, Step, TcpEnd};

/// Caps for one connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Per-direction stream caps.
    pub stream: StreamLimits,
    /// Longest request or response head accepted before giving up on it.
    pub max_header_bytes: usize,
    /// Most requests awaiting a response (pipelining) before the connection is given up.
    pub max_pending: usize,
    /// WebSocket frames with a larger payload are reported (`frame_too_large`).
    pub max_payload: u64,
    /// Bytes kept of the body of every response to an upgrade request that is not a 101
    /// (`--body-bytes`; 0 keeps none).
    pub body_bytes: usize,
    /// Bytes kept of each Engine.IO polling body (`--eio-body-bytes`).
    pub eio_body_bytes: usize,
    /// A key store will be asked for each TLS session's keys: the TLS layer waits for the
    /// answer after the ServerHello (see [`crate::tls`]).
    pub decrypt: bool,
    /// HTTP/2 caps (header blocks, HPACK tables, followed streams).
    pub h2: H2Limits,
    /// WebSocket sessions keep their frame log (`ConnectionRecord::frame_log`): on for the
    /// TUI, which shows it; off elsewhere, so the other outputs pay nothing for it.
    pub frame_log: bool,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            stream: StreamLimits::default(),
            max_header_bytes: 64 * 1024,
            max_pending: 1024,
            max_payload: DEFAULT_MAX_PAYLOAD,
            body_bytes: crate::http::body::DEFAULT_BODY_BYTES,
            eio_body_bytes: crate::http::exchange::EIO_BODY_BYTES,
            decrypt: false,
            h2: H2Limits::default(),
            frame_log: false,
        }
    }
}

/// Default `--max-payload`: 16 MiB, between websockets' 1 MiB `max_size` and ws's 100 MiB
/// `maxPayload`.
pub const DEFAULT_MAX_PAYLOAD: u64 = 16 * 1024 * 1024;
/// Bytes of a flow without a visible handshake buffered while deciding whether it carries
/// WebSocket frames.
const FRAME_SNIFF_BUDGET: usize = 32 * 1024;
/// Parser steps per direction per segment; each step consumes bytes or changes state, so
/// this is only a safety net.
const MAX_STEPS: usize = 100_000;

/// Which parser reads one direction's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// HTTP/1.x, framed by this direction's [`Framer`].
    Http(Framer),
    /// First bytes of a direction whose SYN was not captured: WebSocket frames, or HTTP?
    FrameSniff,
    /// RFC 6455 frames, walked by the connection's WebSocket session.
    WebSocket,
    /// A WebSocket direction that lost its place (a snap-length cut, a gap in a frame):
    /// decoding resumes if the next packet starts with a whole, sane frame
    /// ([`session::resumes`]), else the direction is declared unknown ([`Lane::Ignored`]).
    WebSocketResync,
    /// HTTP/2 in cleartext, after the client preface (prior knowledge) or `Upgrade: h2c` and
    /// a 101: read by the connection's [`H2Connection`].
    H2c,
    /// After a 101 to another protocol: opaque.
    Tunnel,
    /// TLS records: walked by the connection's TLS layer (both directions).
    Tls,
    /// Not a protocol wssniff reads, or given up (a cap, a body that runs to the close).
    Ignored,
}

impl Lane {
    /// Whether nothing is read from this direction any more.
    #[must_use]
    pub fn is_opaque(self) -> bool {
        matches!(self, Lane::Tunnel | Lane::Ignored)
    }
}

/// One WebSocket carried by the connection.
#[derive(Debug)]
struct WebSocketStream {
    id: StreamId,
    /// Boxed: about 1 KiB that only WebSocket connections need.
    session: Box<Session>,
}

/// A connection's TLS layer and, once it decrypts, the switch reading the plaintext.
#[derive(Debug)]
struct TlsLayer {
    conn: TlsConnection,
    /// The parsers of the decrypted bytes (created with the first plaintext).
    inner: Option<Box<Dispatch>>,
    /// The record, once the connection finished.
    record: Option<TlsRecord>,
    /// The ALPN selection was looked at for `h2` (done once, when the inner switch could
    /// still take it).
    alpn_checked: bool,
}

/// The per-connection parser switch: the two lanes, the HTTP/1 pairing they share, and the
/// WebSocket sessions the connection carries.
#[derive(Debug)]
pub struct Dispatch {
    limits: ConnLimits,
    lanes: [Lane; 2],
    http: Exchange,
    websockets: Vec<WebSocketStream>,
    /// Memory registered for `websockets`.
    websockets_account: Account,
    /// What the Engine.IO observer of a finished WebSocket session read, until taken.
    engineio: Option<Box<EioObserver>>,
    /// How the connection ended, once it has, for the WebSocket records.
    ended: Option<(TcpEnd, Option<Peer>)>,
    /// Directions switched to WebSocket by a 101 whose first bytes are not decoded yet: they
    /// are checked for HTTP first (a 101 that did not switch), never read as frames.
    fresh: [bool; 2],
    /// The next gap on this side ([`Side::index`]) is the rest of a packet the snap length
    /// cut (told by [`Application::cut`] just before).
    cut_pending: [bool; 2],
    /// The TLS layer, once a direction started with a TLS record (boxed: most connections
    /// of a plaintext capture never need it).
    tls: Option<Box<TlsLayer>>,
    /// Reads decrypted bytes (TLS inside TLS is not followed).
    nested: bool,
    /// The HTTP/2 reader, once the connection turned out to speak it (boxed: most
    /// connections never do).
    h2: Option<Box<H2Connection>>,
}

impl Dispatch {
    /// The switch of a new connection: both directions start as HTTP at a message boundary.
    #[must_use]
    pub fn new(limits: ConnLimits) -> Self {
        Dispatch {
            limits,
            lanes: [Lane::Http(Framer::new()), Lane::Http(Framer::new())],
            http: Exchange::new(
                limits.max_header_bytes,
                limits.max_pending,
                limits.body_bytes,
            )
            .keeping_eio_bodies(limits.eio_body_bytes),
            websockets: Vec::new(),
            websockets_account: Account::default(),
            engineio: None,
            ended: None,
            fresh: [false, false],
            cut_pending: [false, false],
            tls: None,
            nested: false,
            h2: None,
        }
    }

    /// The parser reading `side`.
    #[must_use]
    pub fn lane(&self, side: Side) -> Lane {
        // Only the one asked for is copied (both were, on every parser call).
        let [lo, hi] = &self.lanes;
        match side {
            Side::LoToHi => *lo,
            Side::HiToLo => *hi,
        }
    }

    fn lane_mut(&mut self, side: Side) -> &mut Lane {
        let [lo, hi] = &mut self.lanes;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    /// Switches `side` to `lane`; an opaque lane stops the stream from storing anything.
    fn set_lane<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side, lane: Lane) {
        *self.lane_mut(side) = lane;
        if lane.is_opaque() {
            link.stream_mut(side).ignore();
        }
    }

    fn session_mut(&mut self, id: StreamId) -> Option<&mut Session> {
        self.websockets
            .iter_mut()
            .find(|w| w.id == id)
            .map(|w| &mut *w.session)
    }

    /// Starts (or, when sniffed again, replaces) the WebSocket session of stream `id`.
    fn open_session(&mut self, id: StreamId, session: Session) {
        match self.websockets.iter_mut().find(|w| w.id == id) {
            Some(w) => *w.session = session,
            None => self.websockets.push(WebSocketStream {
                id,
                session: Box::new(session),
            }),
        }
    }

    /// Whether the connection carries a WebSocket on stream `id`.
    #[must_use]
    pub fn has_session(&self, id: StreamId) -> bool {
        self.websockets.iter().any(|w| w.id == id)
    }

    /// Links the WebSocket session on stream `id` to the handshake record `handshake` that
    /// opened it.
    pub fn set_handshake(&mut self, id: StreamId, handshake: u64, failed: bool) {
        if let Some(inner) = self.inner_mut() {
            inner.set_handshake(id, handshake, failed);
        }
        if let Some(s) = self.session_mut(id) {
            s.set_handshake(handshake, failed);
        }
    }

    /// Frames the client has sent on the WebSocket of stream `id` (0 when there is none).
    #[must_use]
    pub fn client_frames(&self, id: StreamId) -> u64 {
        self.websockets
            .iter()
            .find(|w| w.id == id)
            .map_or(0, |w| w.session.frames_from(Peer::Client))
    }

    /// The switch reading decrypted bytes, when there is one.
    fn inner_mut(&mut self) -> Option<&mut Dispatch> {
        self.tls.as_deref_mut()?.inner.as_deref_mut()
    }

    fn inner(&self) -> Option<&Dispatch> {
        self.tls.as_deref()?.inner.as_deref()
    }

    /// Whether a WebSocket upgrade request was seen (in plaintext or decrypted).
    #[must_use]
    pub fn saw_upgrade(&self) -> bool {
        self.http.saw_upgrade()
            || self.h2.as_ref().is_some_and(|h| h.saw_request())
            || self.inner().is_some_and(Dispatch::saw_upgrade)
    }

    /// Whether an upgrade request (or an HTTP/2 server SETTINGS, see
    /// [`Dispatch::take_h2_server_settings`]) arrived since the last call (and clears the flag).
    pub fn take_new_upgrade(&mut self) -> bool {
        let inner = self.inner_mut().is_some_and(Dispatch::take_new_upgrade);
        let h2 = self.h2.as_mut().is_some_and(|h| h.take_new_request());
        self.http.take_new_upgrade() | h2 | inner
    }

    /// The server's SETTINGS_ENABLE_CONNECT_PROTOCOL when an HTTP/2 server SETTINGS was read
    /// since the last call (in plaintext or decrypted); asked only after
    /// [`Dispatch::take_new_upgrade`] said true, so other connections never pay for it.
    pub fn take_h2_server_settings(&mut self) -> Option<bool> {
        let inner = self.inner_mut().and_then(Dispatch::take_h2_server_settings);
        self.h2
            .as_mut()
            .and_then(|h| h.take_server_settings())
            .or(inner)
    }

    /// When the oldest unanswered upgrade request was sent.
    #[must_use]
    pub fn unanswered_since(&self) -> Option<Timestamp> {
        [
            self.http.unanswered_since(),
            self.h2.as_ref().and_then(|h| h.unanswered_since()),
            self.inner().and_then(Dispatch::unanswered_since),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Gives the upgrade requests waiting for an answer their handshake ids, oldest first.
    pub fn assign_ids(&mut self, next: &mut dyn FnMut() -> u64) {
        self.http.assign_ids(next);
        if let Some(h) = self.h2.as_mut() {
            h.assign_ids(next);
        }
        if let Some(inner) = self.inner_mut() {
            inner.assign_ids(next);
        }
    }

    /// After the connection finished: one WebSocket connection record (with its stream)
    /// per call, until none is left. Endpoints are left for the caller, which knows the
    /// flow key.
    pub fn take_connection_record(&mut self) -> Option<(StreamId, ConnectionRecord)> {
        if let Some(inner) = self.inner_mut() {
            if let Some(r) = inner.take_connection_record() {
                return Some(r);
            }
        }
        let (tcp, closer) = self.ended?;
        if self.websockets.is_empty() {
            return None;
        }
        let mut w = self.websockets.remove(0);
        if w.id == StreamId::HTTP1 {
            if let Some(eio) = w.session.content_observer_as::<EioObserver>() {
                self.engineio = Some(Box::new(std::mem::take(eio)));
            }
            return Some((w.id, (*w.session).finish(tcp, closer)));
        }
        // An HTTP/2 stream ends by its own frames (END_STREAM, RST_STREAM) in place of FIN
        // and RST; when it never did, or only after the connection's first FIN or RST (a
        // client's Close and END_STREAM answering the server's FIN), the connection's end is
        // the stream's.
        let torn_down = matches!(
            tcp.ending,
            Ending::ClientFin | Ending::ServerFin | Ending::ClientRst | Ending::ServerRst
        );
        let own = self
            .h2
            .as_ref()
            .and_then(|h| h.stream_ending(w.id))
            .filter(|e| !torn_down || e.at <= tcp.at);
        let (tcp, closer) = own.as_ref().map_or((tcp, closer), |e| {
            let end = TcpEnd {
                ending: e.ending,
                at: e.at,
                rst: e.rst,
            };
            (end, Some(e.closer))
        });
        if let Some(eio) = w.session.content_observer_as::<EioObserver>() {
            self.engineio = Some(Box::new(std::mem::take(eio)));
        }
        let mut record = (*w.session).finish(tcp, closer);
        record.h2_stream_id = Some(w.id.0);
        let goaway = self.h2.as_ref().and_then(|h| h.stream_goaway(w.id));
        let reset = own.as_ref().and_then(|e| e.reset.as_ref());
        crate::h2::ending::stream_findings(&mut record, w.id.0, reset, goaway);
        Some((w.id, record))
    }

    /// The Engine.IO packets read from the WebSocket session (HTTP/1 or an HTTP/2 stream)
    /// whose connection record was taken last ([`Dispatch::take_connection_record`]).
    pub fn take_engineio(&mut self) -> Option<Box<EioObserver>> {
        if let Some(inner) = self.inner_mut() {
            if let Some(eio) = inner.take_engineio() {
                return Some(eio);
            }
        }
        self.engineio.take()
    }

    /// Bytes held by the pairing and the sessions, computed now (walked).
    #[must_use]
    pub fn memory(&self) -> usize {
        self.http.memory()
            + self.websockets_memory()
            + self.tls_memory()
            + self.h2.as_ref().map_or(0, |h| h.memory())
    }

    /// The TLS layer's bytes and the inner switch's (walked).
    fn tls_memory(&self) -> usize {
        self.tls.as_deref().map_or(0, |t| {
            std::mem::size_of::<TlsLayer>()
                + t.conn.memory()
                + t.inner
                    .as_deref()
                    .map_or(0, |d| std::mem::size_of::<Dispatch>() + d.memory())
        })
    }

    fn websockets_memory(&self) -> usize {
        self.websockets.capacity() * std::mem::size_of::<WebSocketStream>()
            + self
                .websockets
                .iter()
                .map(|w| std::mem::size_of::<Session>() + w.session.memory())
                .sum::<usize>()
    }

    /// Registers the current sizes with `meter`.
    pub fn settle(&mut self, meter: &mut Meter) {
        self.http.settle(meter);
        if let Some(tls) = self.tls.as_deref_mut() {
            // The layer's own box and the inner switch's are counted with the TLS bytes.
            tls.conn.settle_with(
                meter,
                std::mem::size_of::<TlsLayer>()
                    + tls
                        .inner
                        .as_deref()
                        .map_or(0, |_| std::mem::size_of::<Dispatch>()),
            );
            if let Some(inner) = tls.inner.as_deref_mut() {
                inner.settle(meter);
            }
        }
        // Capacity, not length: a session opened and dropped within one segment (HTTP after
        // a 101) leaves an empty vector that still holds its allocation.
        if self.websockets.capacity() != 0 || self.websockets_account.held() != 0 {
            let bytes = self.websockets_memory();
            self.websockets_account.set(meter, bytes);
        }
        if let Some(h) = self.h2.as_mut() {
            h.settle(meter);
        }
    }

    /// Withdraws everything registered with `meter`.
    pub fn release(&mut self, meter: &mut Meter) {
        self.http.release(meter);
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.conn.release(meter);
            if let Some(inner) = tls.inner.as_deref_mut() {
                inner.release(meter);
            }
        }
        self.websockets_account.set(meter, 0);
        if let Some(h) = self.h2.as_mut() {
            h.release(meter);
        }
    }

    /// The connection is being evicted to make room under the memory budget: its pending
    /// exchanges and WebSocket records are marked.
    pub fn evicted_for_memory(&mut self) {
        self.http.evicted_for_memory();
        for w in &mut self.websockets {
            w.session.evicted_for_memory();
        }
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.conn.evicted_for_memory();
            if let Some(inner) = tls.inner.as_deref_mut() {
                inner.evicted_for_memory();
            }
        }
    }

    /// Reports upgrade requests unanswered since `cutoff` as timed out at `now`.
    pub fn expire_unanswered<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        cutoff: Timestamp,
        now: Timestamp,
        out: &mut Output,
    ) {
        self.http.expire_unanswered(link, cutoff, now, out);
        if let Some(h) = self.h2.as_mut() {
            h.expire_unanswered(link, cutoff, now, out);
        }
    }

    /// The connection speaks HTTP/2 from here on, `client` sending the preface: both
    /// directions go to a new [`H2Connection`]. `upgraded`: after `Upgrade: h2c` and a 101.
    #[inline(never)]
    fn start_h2<S: ByteStream>(&mut self, link: &mut Link<'_, S>, client: Side, upgraded: bool) {
        link.set_client(client);
        self.h2 = Some(Box::new(
            H2Connection::new(self.limits.h2, client, upgraded, true)
                .keeping_bodies(self.limits.body_bytes)
                .keeping_eio_bodies(self.limits.eio_body_bytes),
        ));
        *self.lane_mut(client) = Lane::H2c;
        *self.lane_mut(client.reverse()) = Lane::H2c;
    }

    /// The TLS session selected `h2` by ALPN (RFC 9113 §3.2): the decrypted bytes are HTTP/2
    /// from their first octet, the TLS client's side sending the preface, whichever direction
    /// decrypts first. Nothing happens when HTTP/2 was already found or a direction was
    /// already read as HTTP/1 (the selection came too late to matter), or the client is not
    /// known.
    #[cold]
    #[inline(never)]
    fn alpn_h2<S: ByteStream>(&mut self, link: &mut Link<'_, S>) {
        let untouched = self
            .lanes
            .iter()
            .all(|l| matches!(l, Lane::Http(f) if f.at_start()));
        if let (None, true, Some(client)) = (&self.h2, untouched, link.client()) {
            self.start_h2(link, client, false);
        }
    }

    /// At a stream's first byte: the client preface (RFC 9113 §3.3, prior knowledge) starts
    /// HTTP/2; a server's SETTINGS sent before it (§3.4) waits for the client's side. `None`:
    /// neither, frame as HTTP/1. Cold and out of line: the HTTP/1 framing step stays small.
    #[cold]
    #[inline(never)]
    fn h2_at_start<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> Option<bool> {
        if link.stream(side).data().first() == Some(&b'P') {
            match h2frame::preface(link.stream(side).data()) {
                PrefaceMatch::Complete => {
                    self.start_h2(link, side, false);
                    return Some(true);
                }
                PrefaceMatch::Partial => return Some(false),
                PrefaceMatch::No => {}
            }
        }
        // A server's SETTINGS read while the client's preface waits unread on the other side
        // (both directions arrived before either was read, as when TLS keys come late).
        let other = side.reverse();
        if starts_with_settings(link.stream(side).data())
            && h2frame::preface(link.stream(other).data()) == PrefaceMatch::Complete
            && matches!(self.lane(other), Lane::Http(f) if f.at_start())
        {
            self.start_h2(link, other, false);
            return Some(true);
        }
        server_preface_first(link, side).then_some(false)
    }

    /// A direction whose start was not captured and whose bytes are no WebSocket frames: are
    /// they HTTP/2 frames (by shape, [`h2frame::sniff_frames`])? `Some(go_on)` when that
    /// decided the lane (HTTP/2 from here, both directions, the HPACK state unknown; or wait
    /// for more bytes), `None` to go on as HTTP. The client is who sends requests or masked
    /// WebSocket frames ([`h2_client_by_content`]); while nothing shows it the bytes wait, up
    /// to the sniffing budget. Cold: only directions without a SYN reach it, once.
    #[cold]
    #[inline(never)]
    fn h2_midway<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> Option<bool> {
        let data = link.stream(side).data();
        let shape = h2frame::sniff_frames(data);
        if self.h2.is_some() {
            // The other direction is HTTP/2 already: this one joins at a frame boundary, once
            // one whole sane frame shows it starts at one.
            let whole = h2frame::whole_frames(data).next().is_some();
            return match shape {
                h2frame::ShapeSniff::Frames => {
                    *self.lane_mut(side) = Lane::H2c;
                    Some(true)
                }
                h2frame::ShapeSniff::NeedMore if whole => {
                    *self.lane_mut(side) = Lane::H2c;
                    Some(true)
                }
                h2frame::ShapeSniff::NeedMore if data.len() < FRAME_SNIFF_BUDGET => Some(false),
                _ => {
                    self.set_lane(link, side, Lane::Ignored);
                    Some(false)
                }
            };
        }
        match shape {
            h2frame::ShapeSniff::No => return None,
            h2frame::ShapeSniff::NeedMore if data.len() < FRAME_SNIFF_BUDGET => return Some(false),
            h2frame::ShapeSniff::NeedMore => return None,
            h2frame::ShapeSniff::Frames => {}
        }
        let Some(client) = h2_client_by_content(link).or(link.client()) else {
            return (data.len() < FRAME_SNIFF_BUDGET).then_some(false);
        };
        link.set_client(client);
        self.h2 = Some(Box::new(
            H2Connection::new(self.limits.h2, client, false, false)
                .keeping_bodies(self.limits.body_bytes)
                .keeping_eio_bodies(self.limits.eio_body_bytes),
        ));
        *self.lane_mut(side) = Lane::H2c;
        // The other direction's buffered bytes join now if they start at a frame, so both
        // are read in capture order (a response before the DATA that follows it).
        let other = side.reverse();
        if self.lane(other) == Lane::FrameSniff && !link.stream(other).data().is_empty() {
            let _ = self.h2_midway(link, other);
        }
        Some(true)
    }

    /// One HTTP/2 step, on `side` or, when the other direction is HTTP/2 too and its next
    /// buffered byte came in an earlier packet, on that one: bytes of both directions buffered
    /// together (mid-connection sniffing, TLS keys that came late) are read in capture order.
    #[inline(never)]
    fn h2_step_ordered<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        out: &mut Output,
    ) -> bool {
        let other = side.reverse();
        let first = |link: &Link<'_, S>, s: Side| link.stream(s).origin(0).map(|o| o.packet);
        if self.lane(other) == Lane::H2c {
            if let (Some(theirs), Some(ours)) = (first(link, other), first(link, side)) {
                if theirs < ours && self.h2_step(link, other, out) {
                    return true;
                }
            }
        }
        self.h2_step(link, side, out)
    }

    /// One HTTP/2 step on `side`; false when it needs more bytes or stopped.
    #[inline(never)]
    fn h2_step<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        out: &mut Output,
    ) -> bool {
        let Some(h2) = self.h2.as_mut() else {
            self.set_lane(link, side, Lane::Ignored);
            return false;
        };
        let go_on = h2.step(link, side, out);
        for (id, side, bytes) in h2.take_not_kept() {
            // DATA the budget could not relay: the stream's session says so.
            let peer = link.peer_of(side);
            if let Some(w) = self.websockets.iter_mut().find(|w| w.id == id) {
                w.session.not_kept(peer, bytes, true);
            }
        }
        let Some(h2) = self.h2.as_mut() else {
            return false;
        };
        for f in h2.take_floods() {
            // A flood is a fact of the connection: every WebSocket on it carries it.
            let open: Vec<StreamId> = h2.open_streams().collect();
            for w in self.websockets.iter_mut().filter(|w| open.contains(&w.id)) {
                w.session.carry(f.clone());
            }
        }
        self.judge_unseen(link);
        let Some(h2) = self.h2.as_mut() else {
            return false;
        };
        for o in h2.take_opened() {
            let deflate = session::deflate_params(&o.extensions);
            let mut session = Session::new(o.start, deflate, self.limits.max_payload)
                .with_frame_log(self.limits.frame_log);
            if let Some(version) = o.engineio {
                // Engine.IO over an RFC 8441 WebSocket: read as after a 101.
                let observer = Box::new(EioObserver::new(version));
                session.observe_content(observer, engineio::observer::limits());
            }
            self.open_session(o.stream, session);
        }
        if self.h2.as_ref().is_some_and(|h| h.is_stopped(side)) {
            self.set_lane(link, side, Lane::Ignored);
            return false;
        }
        go_on
    }

    /// Judges the DATA of streams a connection captured mid-way shows without their opening
    /// (or with headers it could not decode): a whole WebSocket frame masked as its sender
    /// must ([`session::resumes`]) opens a WebSocket whose handshake was not observed, with a
    /// finding saying what is unknown; anything else, or more than
    /// [`UNSEEN_SNIFF_BYTES`](crate::h2::connection::UNSEEN_SNIFF_BYTES) undecided, is not one.
    #[inline(never)]
    fn judge_unseen<S: ByteStream>(&mut self, link: &Link<'_, S>) {
        use crate::finding::{Code, Finding};
        use crate::h2::connection::UNSEEN_SNIFF_BYTES;
        let Some(unseen) = self.h2.as_ref().map(|h2| h2.unseen_streams()) else {
            return;
        };
        for u in unseen {
            let Some(h2) = self.h2.as_mut() else {
                return;
            };
            let Some(relays) = h2.unseen_relays_mut(u.stream) else {
                continue;
            };
            let mut verdict = None;
            for side in [Side::LoToHi, Side::HiToLo] {
                let Some(relay) = relays.get(side.index()) else {
                    continue;
                };
                let data = relay.data();
                if data.is_empty() {
                    continue;
                }
                let masked = link.peer_of(side) == Peer::Client;
                match session::resumes(data, masked) {
                    FrameSniff::WebSocket { .. } => verdict = verdict.or(Some(true)),
                    FrameSniff::NeedMore if data.len() < UNSEEN_SNIFF_BYTES => {}
                    FrameSniff::NeedMore | FrameSniff::No => verdict = Some(false),
                }
            }
            match verdict {
                Some(true) => {
                    h2.confirm_unseen(u.stream);
                    let id = u.stream.0;
                    let opening = if u.request.is_some() {
                        OpenedBy::ExtendedConnectUndecoded
                    } else {
                        OpenedBy::ExtendedConnect
                    };
                    let message = match &u.request {
                        None => format!("HTTP/2 stream {id} was open before the capture started: its extended CONNECT and the answer are not in the capture, so the path, Origin, subprotocol and extensions are unknown; the WebSocket is known from its DATA frames only"),
                        Some(known) => format!("HTTP/2 stream {id}'s request was captured, but {known}; the WebSocket is known from its DATA frames only"),
                    };
                    let mut session = Session::sniffed(u.start, self.limits.max_payload)
                        .opened_by(opening)
                        .with_frame_log(self.limits.frame_log);
                    session.carry(Finding::new(Code::H2FieldsUnknown, message));
                    session.observe_content(
                        Box::new(EioObserver::sniffing()),
                        engineio::observer::limits(),
                    );
                    self.open_session(u.stream, session);
                }
                Some(false) => h2.reject_unseen(u.stream),
                None => {}
            }
        }
    }

    /// Walks the WebSocket frames the HTTP/2 layer relayed from `side` on each open stream.
    #[inline(never)]
    fn h2_frames<S: ByteStream>(&mut self, link: &Link<'_, S>, side: Side) {
        let Some(h2) = self.h2.as_mut() else {
            return;
        };
        let peer = link.peer_of(side);
        let open: Vec<StreamId> = h2.open_streams().collect();
        for id in open {
            let Some(relay) = h2.relays_mut(id).and_then(|r| r.get_mut(side.index())) else {
                continue;
            };
            let Some(w) = self.websockets.iter_mut().find(|w| w.id == id) else {
                continue;
            };
            for _ in 0..MAX_STEPS {
                if relay.data().is_empty() {
                    break;
                }
                let step = w.session.step(peer, relay.data(), &|i| relay.origin(i));
                match step {
                    Step::Consume(n) => relay.consume(n),
                    Step::NeedMore => break,
                    Step::Stop => {
                        relay.ignore();
                        break;
                    }
                }
            }
        }
    }

    /// One HTTP framing step on `side`; false when it needs more bytes or stopped.
    fn http_step<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        mut framer: Framer,
        out: &mut Output,
    ) -> bool {
        if framer.at_start() {
            if let Some(go_on) = self.h2_at_start(link, side) {
                return go_on;
            }
        }
        let framed = framer.step(
            link,
            side,
            self.limits.max_header_bytes,
            &mut out.effect.head_bytes_scanned,
        );
        *self.lane_mut(side) = Lane::Http(framer);
        match framed {
            Framed::NeedMore => false,
            Framed::Continue => true,
            Framed::NotHttp => {
                self.http.not_http(link, side);
                if framer::tls_record_start(link.stream(side).data()) && self.start_tls(link, side)
                {
                    return true;
                }
                self.set_lane(link, side, Lane::Ignored);
                false
            }
            Framed::HeaderLimit { is_request } => {
                out.effect.header_limit = true;
                self.http.header_limit(link, side, is_request, out);
                self.set_lane(link, side, Lane::Ignored);
                false
            }
            Framed::Head { len, is_request } => {
                let next = self.http.on_head(link, side, len, is_request, out);
                self.apply(link, side, framer, next)
            }
            Framed::Body => {
                let next = self.http.on_body(link, side, out);
                self.apply(link, side, framer, next)
            }
        }
    }

    /// This response answered the upgrade the client waits for: it may send again.
    fn release_client(&mut self, side: Side) {
        let client = side.reverse();
        if let Lane::Http(mut waiting) = self.lane(client) {
            if waiting.is_awaiting_response() {
                waiting.release();
                *self.lane_mut(client) = Lane::Http(waiting);
            }
        }
    }

    /// Applies the pairing's decision after a head on `side`.
    fn apply<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        mut framer: Framer,
        next: Next,
    ) -> bool {
        match next {
            Next::NeedMore => return false,
            Next::Body {
                body,
                release_client,
            } => {
                if release_client {
                    self.release_client(side);
                }
                match framer.body(link.stream_mut(side), body) {
                    AfterBody::Framing => *self.lane_mut(side) = Lane::Http(framer),
                    AfterBody::UntilClose => self.set_lane(link, side, Lane::Ignored),
                }
            }
            Next::AwaitResponse(body) => {
                framer.await_response(link.stream_mut(side), body);
                *self.lane_mut(side) = Lane::Http(framer);
            }
            Next::ReadBody { release_client } => {
                if release_client {
                    self.release_client(side);
                }
                framer.read_body();
                *self.lane_mut(side) = Lane::Http(framer);
            }
            Next::Resync => {
                framer.lose_place();
                *self.lane_mut(side) = Lane::Http(framer);
            }
            Next::GiveUp => {
                self.set_lane(link, side, Lane::Ignored);
                self.set_lane(link, side.reverse(), Lane::Ignored);
            }
            Next::Restart => {
                // Both directions at a message boundary again: sniffed as HTTP, so bytes of
                // another protocol end up ignored, never read as frames.
                self.lanes = [Lane::Http(Framer::new()), Lane::Http(Framer::new())];
            }
            Next::Switch(protocol) => {
                let lane = match protocol {
                    Protocol::WebSocket {
                        start,
                        extensions,
                        extensions_known,
                        engineio,
                    } => {
                        if !self.has_session(StreamId::HTTP1) {
                            // RFC 6455 §4.1: frames may follow the 101 at once, in the same
                            // segment.
                            let max = self.limits.max_payload;
                            let session = if extensions_known {
                                let deflate = session::deflate_params(&extensions);
                                Session::new(start, deflate, max)
                            } else {
                                Session::extensions_unknown(start, max)
                            };
                            let mut session = session.with_frame_log(self.limits.frame_log);
                            if let Some(version) = engineio {
                                // Engine.IO rides this WebSocket: its packets are read through
                                // the content hook (only for these sessions).
                                let observer = Box::new(EioObserver::new(version));
                                session.observe_content(observer, engineio::observer::limits());
                            }
                            self.open_session(StreamId::HTTP1, session);
                        }
                        Lane::WebSocket
                    }
                    Protocol::H2c => {
                        // The 101 came from the server (`side`); the client's preface follows.
                        self.start_h2(link, side.reverse(), true);
                        return true;
                    }
                    Protocol::Tunnel => Lane::Tunnel,
                };
                self.fresh = [lane == Lane::WebSocket; 2];
                self.set_lane(link, side, lane);
                self.set_lane(link, side.reverse(), lane);
            }
        }
        true
    }

    /// The first bytes after a 101 on `side`: HTTP sends the direction back to HTTP (and the
    /// other one too while it has sent nothing; then the connection carries no WebSocket and
    /// its session is dropped). `Some(go_on)` when it decided that, `None` to read frames.
    fn check_http_after_switch<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
    ) -> Option<bool> {
        let i = side.index();
        if !self.fresh.get(i).copied().unwrap_or(false) {
            return None;
        }
        let data = link.stream(side).data();
        match framer::http_after_switch(data, link.sends_requests(side)) {
            Sniff::NeedMore => return Some(false),
            Sniff::No => {
                if let Some(f) = self.fresh.get_mut(i) {
                    *f = false;
                }
                return None;
            }
            Sniff::Yes => {}
        }
        let first_line = data.iter().position(|&b| b == b'\n').unwrap_or(0);
        let packets = link.stream(side).packets(0..first_line.saturating_add(1));
        self.http.http_after_switch(side, link.client(), &packets);
        *self.lane_mut(side) = Lane::Http(Framer::new());
        let other = side.reverse();
        if self.fresh.get(other.index()).copied().unwrap_or(false) {
            *self.lane_mut(other) = Lane::Http(Framer::new());
            // Neither side sent a frame: no WebSocket was opened on this connection.
            self.websockets.retain(|w| w.id != StreamId::HTTP1);
        }
        self.fresh = [false, false];
        Some(true)
    }

    /// A TLS record where HTTP was expected: the TLS layer reads this direction, and the
    /// other one too unless it already speaks HTTP (a ws:// client answered by a TLS server
    /// is HTTP's story, `http_malformed`). False when TLS is not followed here.
    fn start_tls<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> bool {
        let other = side.reverse();
        let other_fresh = match self.lane(other) {
            Lane::Http(f) => f.at_start() || f.is_resyncing(),
            Lane::FrameSniff | Lane::Tls => true,
            _ => false,
        };
        if self.nested || !other_fresh {
            return false;
        }
        if self.tls.is_none() {
            if record::starts_client_hello(link.stream(side).data()) {
                link.suggest_client(side);
            }
            self.tls = Some(Box::new(TlsLayer {
                conn: TlsConnection::new(self.limits.decrypt),
                inner: None,
                record: None,
                alpn_checked: false,
            }));
        }
        *self.lane_mut(side) = Lane::Tls;
        *self.lane_mut(other) = Lane::Tls;
        true
    }

    /// Walks TLS records on `side`, then lets the inner switch read any new plaintext.
    fn tls_step<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side, out: &mut Output) {
        let peer = link.peer_of(side);
        let Some(tls) = self.tls.as_deref_mut() else {
            self.set_lane(link, side, Lane::Ignored);
            return;
        };
        tls.conn.set_room(link.room());
        tls.conn.process(link.stream_mut(side), side.index(), peer);
        let (times, bytes) = tls.conn.take_refused();
        if let Some(meter) = link.meter().filter(|_| times > 0) {
            meter.refuse_times(Use::Tls, times, bytes);
        }
        if tls.conn.decrypting() {
            let limits = self.limits;
            let client = link.client();
            let now = link.now;
            Self::read_plaintext(tls, limits, client, now, link.meter(), out);
        }
    }

    /// Hands new plaintext (and its losses) to the inner switch.
    fn read_plaintext(
        tls: &mut TlsLayer,
        limits: ConnLimits,
        client: Option<Side>,
        now: Timestamp,
        meter: Option<&mut Meter>,
        out: &mut Output,
    ) {
        let inner = tls.inner.get_or_insert_with(|| {
            let mut d = Dispatch::new(limits);
            d.nested = true;
            Box::new(d)
        });
        let gaps = tls.conn.take_plaintext_gaps();
        let alpn_h2 = !tls.alpn_checked && tls.conn.alpn() == Some("h2");
        let mut client = client;
        let mut link = Link::new(tls.conn.plaintext_mut(), &mut client, now);
        if let Some(meter) = meter {
            // The parsers of the plaintext grow within the same budget.
            link = link.with_meter(meter);
        }
        if alpn_h2 {
            tls.alpn_checked = true;
            inner.alpn_h2(&mut link);
        }
        for (index, gap, packet) in gaps {
            inner.gap(&mut link, side_of(index), gap, packet);
        }
        for side in [Side::LoToHi, Side::HiToLo] {
            if !link.stream(side).data().is_empty() {
                Application::process(&mut **inner, &mut link, side, out);
            }
        }
    }

    /// The TLS layer's [`KeyRequest`], while it waits for keys after a ServerHello.
    #[must_use]
    pub fn tls_key_request(&self) -> Option<&KeyRequest> {
        self.tls.as_deref().and_then(|t| t.conn.key_request())
    }

    /// Answers [`Dispatch::tls_key_request`] and goes on reading both directions.
    pub fn install_tls_keys<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        answer: KeyAnswer,
        out: &mut Output,
    ) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.conn.install_keys(answer);
        }
        for side in [Side::LoToHi, Side::HiToLo] {
            if self.lane(side) == Lane::Tls && !link.stream(side).data().is_empty() {
                Application::process(self, link, side, out);
            }
        }
    }

    /// After the connection finished: its TLS record, once. Endpoints are left for the
    /// caller, which knows the flow key.
    pub fn take_tls_record(&mut self) -> Option<TlsRecord> {
        self.tls.as_deref_mut()?.record.take()
    }

    /// The TLS 1.2 session tickets the server issued since the last call, each with its
    /// session's master secret ([`TlsConnection::take_issued_tickets`]).
    pub fn take_tls_tickets(&mut self) -> Vec<([u8; 32], KeyBytes)> {
        self.tls
            .as_deref_mut()
            .map(|t| t.conn.take_issued_tickets())
            .unwrap_or_default()
    }

    /// The decrypted TLS connection every handshake and WebSocket of this connection came
    /// out of (its parsers read only plaintext once the TLS layer starts); `None` in
    /// plaintext or without keys.
    #[must_use]
    pub fn tls_carrier(&self) -> Option<TlsCarrier> {
        self.tls
            .as_deref()
            .filter(|t| t.inner.is_some())
            .map(|t| t.conn.carrier())
    }

    /// Decodes one step of WebSocket frames; false when it needs more bytes or stopped.
    fn frames_step<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> bool {
        if let Some(go_on) = self.check_http_after_switch(link, side) {
            return go_on;
        }
        let peer = link.peer_of(side);
        let room = link.room();
        let (step, refused) = {
            let stream = link.stream(side);
            let Some(session) = self.websockets.iter_mut().find(|w| w.id == StreamId::HTTP1) else {
                self.set_lane(link, side, Lane::Ignored);
                return false;
            };
            session.session.set_room(room);
            let step = session
                .session
                .step(peer, stream.data(), &|i| stream.origin(i));
            (step, session.session.take_inflaters_refused())
        };
        if let Some(meter) = link.meter() {
            // The session marks its record; the meter counts each refusal.
            for _ in 0..refused.0 {
                meter.refuse(Use::Message, refused.1);
            }
        }
        match step {
            Step::Consume(n) => {
                link.stream_mut(side).consume(n);
                true
            }
            Step::NeedMore => false,
            Step::Stop => {
                self.set_lane(link, side, Lane::Ignored);
                false
            }
        }
    }

    /// A WebSocket direction that lost its place: the buffered bytes start at a packet
    /// boundary (the gap took the rest of the cut packet); a whole frame there, masked as its
    /// sender must, resumes decoding; anything else leaves the direction unknown.
    fn frames_resync<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> bool {
        let peer = link.peer_of(side);
        let data = link.stream(side).data();
        match session::resumes(data, peer == Peer::Client) {
            FrameSniff::NeedMore if data.len() < FRAME_SNIFF_BUDGET => false,
            FrameSniff::WebSocket { .. } => {
                if let Some(s) = self.session_mut(StreamId::HTTP1) {
                    s.resume(peer);
                }
                *self.lane_mut(side) = Lane::WebSocket;
                true
            }
            FrameSniff::NeedMore | FrameSniff::No => {
                self.set_lane(link, side, Lane::Ignored);
                false
            }
        }
    }

    /// A direction that started mid-connection: a run of WebSocket frames makes this a
    /// WebSocket connection whose handshake was not captured; anything else goes to the
    /// HTTP resynchronisation it would have had anyway (nothing was consumed).
    fn frame_sniff<S: ByteStream>(&mut self, link: &mut Link<'_, S>, side: Side) -> bool {
        let data = link.stream(side).data();
        let verdict = match session::sniff(data) {
            FrameSniff::NeedMore if data.len() >= FRAME_SNIFF_BUDGET => FrameSniff::No,
            v => v,
        };
        if verdict != FrameSniff::NeedMore && !matches!(verdict, FrameSniff::WebSocket { .. }) {
            if let Some(go_on) = self.h2_midway(link, side) {
                return go_on;
            }
        }
        match verdict {
            FrameSniff::NeedMore => false,
            FrameSniff::No => {
                *self.lane_mut(side) = Lane::Http(Framer::resync());
                true
            }
            FrameSniff::WebSocket { masked } => {
                let client = if masked { side } else { side.reverse() };
                if link.client().is_some_and(|c| c != client) || self.http.saw_upgrade() {
                    *self.lane_mut(side) = Lane::Http(Framer::resync());
                    return true;
                }
                link.set_client(client);
                let start = link.stream(side).origin(0).map_or(link.now, |o| o.ts);
                let mut session = Session::sniffed(start, self.limits.max_payload)
                    .with_frame_log(self.limits.frame_log);
                // Engine.IO is told by content here (no request named it).
                session.observe_content(
                    Box::new(EioObserver::sniffing()),
                    engineio::observer::limits(),
                );
                self.open_session(StreamId::HTTP1, session);
                *self.lane_mut(side) = Lane::WebSocket;
                let other = side.reverse();
                let other_unsure = match self.lane(other) {
                    Lane::FrameSniff => true,
                    Lane::Http(f) => f.at_start() || f.is_resyncing(),
                    _ => false,
                };
                if other_unsure {
                    *self.lane_mut(other) = Lane::WebSocket;
                }
                true
            }
        }
    }
}

impl<S: ByteStream> Application<S> for Dispatch {
    type Out = Output;

    fn midstream(&mut self, side: Side) {
        if let Lane::Http(f) = self.lane(side) {
            if f.at_start() {
                *self.lane_mut(side) = if self.has_session(StreamId::HTTP1) {
                    Lane::WebSocket
                } else {
                    Lane::FrameSniff
                };
            }
        }
    }

    fn gap(&mut self, link: &mut Link<'_, S>, side: Side, gap: Gap, packet: u64) {
        let cut = self
            .cut_pending
            .get_mut(side.index())
            .is_some_and(std::mem::take);
        if self.lane(side) == Lane::H2c {
            if gap.needs_resync {
                // The next frame header is lost: HTTP/2 has no way to find it again.
                let peer = link.peer_of(side);
                if let Some(h2) = self.h2.as_mut() {
                    h2.lost(side, gap.len, packet);
                    for id in h2.open_streams().collect::<Vec<_>>() {
                        if let Some(s) = self.websockets.iter_mut().find(|w| w.id == id) {
                            s.session.lost(peer, gap.len, packet);
                        }
                    }
                }
                self.set_lane(link, side, Lane::Ignored);
            }
            return;
        }
        if self.lane(side) == Lane::Tls {
            if let Some(tls) = self.tls.as_deref_mut() {
                tls.conn.gap(side.index(), gap, packet);
            }
            return;
        }
        if matches!(self.lane(side), Lane::WebSocket | Lane::WebSocketResync) {
            let peer = link.peer_of(side);
            // The memory budget's doing, not the capture's (see `Marks::memcap`).
            let memcap = link.stream(side).marks().memcap > 0;
            if let Some(s) = self.session_mut(StreamId::HTTP1) {
                if cut {
                    s.cut_short(peer, gap.len, packet, gap.needs_resync);
                    if gap.needs_resync {
                        *self.lane_mut(side) = Lane::WebSocketResync;
                    }
                } else if memcap {
                    s.not_kept(peer, gap.len, gap.needs_resync);
                    if gap.needs_resync {
                        self.set_lane(link, side, Lane::Ignored);
                    }
                } else if gap.needs_resync {
                    // A frame header (or a payload being read) is missing: nothing says
                    // where the next frame starts, unless the next packet starts with one.
                    s.lost(peer, gap.len, packet);
                    *self.lane_mut(side) = Lane::WebSocketResync;
                } else {
                    s.lost_in_payload(gap.len, packet);
                }
            }
            return;
        }
        if gap.needs_resync {
            let lost_place = match self.lane(side) {
                Lane::Http(f) => !f.is_awaiting_response(),
                Lane::FrameSniff => true,
                _ => false,
            };
            if lost_place {
                *self.lane_mut(side) = Lane::Http(Framer::resync());
            }
        }
    }

    fn cut(&mut self, link: &mut Link<'_, S>, side: Side, cut: Cut, out: &mut Output) {
        if let Some(pending) = self.cut_pending.get_mut(side.index()) {
            *pending = true;
        }
        if matches!(self.lane(side), Lane::WebSocket | Lane::WebSocketResync) {
            // Frames before the cut are read first; a frame header the cut left says how
            // long its payload is, so the bytes cut from it are skipped and the next frame
            // is still found.
            self.process(link, side, out);
            return;
        }
        if !matches!(self.lane(side), Lane::Http(_)) {
            return;
        }
        // Complete heads before the cut go the usual way first.
        self.process(link, side, out);
        let Lane::Http(framer) = self.lane(side) else {
            return;
        };
        if !framer.in_head() || link.stream(side).data().is_empty() {
            return;
        }
        let is_request = link.sends_requests(side).unwrap_or(true);
        let cut = HeadCut {
            snaplen: cut.snaplen,
            missing_bytes: cut.missing,
            packet: cut.packet,
        };
        let next = self.http.on_cut_head(link, side, is_request, cut, out);
        self.apply(link, side, framer, next);
    }

    fn process(&mut self, link: &mut Link<'_, S>, side: Side, out: &mut Output) {
        for _ in 0..MAX_STEPS {
            if link.stream(side).data().is_empty() {
                break;
            }
            let go_on = match self.lane(side) {
                Lane::Http(framer) => self.http_step(link, side, framer, out),
                Lane::FrameSniff => self.frame_sniff(link, side),
                Lane::WebSocket => self.frames_step(link, side),
                Lane::WebSocketResync => self.frames_resync(link, side),
                Lane::Tls => {
                    self.tls_step(link, side, out);
                    false
                }
                Lane::H2c => self.h2_step_ordered(link, side, out),
                Lane::Tunnel | Lane::Ignored => false,
            };
            if !go_on {
                break;
            }
        }
        if self.h2.is_some() {
            // Both: a step in capture order may have read the other direction too.
            self.h2_frames(link, side);
            self.h2_frames(link, side.reverse());
        }
    }

    fn finish(&mut self, link: &mut Link<'_, S>, closure: Closure, out: &mut Output) {
        for side in [Side::LoToHi, Side::HiToLo] {
            let unseen = link.acked_unseen(side);
            if unseen > 0 {
                let peer = link.peer_of(side);
                if let Some(s) = self.session_mut(StreamId::HTTP1) {
                    s.unseen(peer, unseen);
                }
            }
        }
        if !self.websockets.is_empty() {
            let tcp = TcpEnd {
                ending: closure.ending,
                at: closure.at,
                rst: closure.rst,
            };
            self.ended = Some((tcp, closure.closer.map(|side| link.peer_of(side))));
        }
        self.http.finish(link, closure.ending, closure.at, out);
        if let Some(h) = self.h2.as_mut() {
            h.finish(link, closure.ending, closure.at, out);
        }
        if let Some(tls) = self.tls.as_deref_mut() {
            for side in [Side::LoToHi, Side::HiToLo] {
                // Records the TCP layer had no budget to hold (waiting for keys or their end).
                tls.conn.note_not_kept(link.stream(side).marks().memcap);
                // Bulk counted by the TCP stream: its last flight is walked now.
                if let Some(counted) = link.stream(side).counted() {
                    tls.conn
                        .walk_counted(side.index(), link.peer_of(side), counted);
                }
            }
            let record =
                tls.conn
                    .finish(closure.ending, closure.at, closure.closer.map(Side::index));
            tls.record = Some(record);
            if let Some(inner) = tls.inner.as_deref_mut() {
                for relay in tls.conn.plaintext_mut().iter_mut() {
                    relay.finish();
                }
                let mut client = link.client();
                let mut link = Link::new(tls.conn.plaintext_mut(), &mut client, link.now);
                Application::finish(inner, &mut link, closure, out);
            }
        }
    }
}

/// The side whose streams sit at array index `index` (0 or 1) of a [`Link`].
fn side_of(index: usize) -> Side {
    if index == 0 {
        Side::LoToHi
    } else {
        Side::HiToLo
    }
}

/// Most bytes held on a direction that opened with an HTTP/2 SETTINGS frame while waiting
/// for the client's preface.
const SERVER_PREFACE_HOLD: usize = 16 * 1024;

/// Whether `side` opened with an HTTP/2 SETTINGS frame (a server's preface) while the other
/// direction has not started: a prior-knowledge server that spoke first.
fn server_preface_first<S: ByteStream>(link: &Link<'_, S>, side: Side) -> bool {
    let data = link.stream(side).data();
    starts_with_settings(data)
        && data.len() <= SERVER_PREFACE_HOLD
        && link.sends_requests(side) != Some(true)
        && link.stream(side.reverse()).data().is_empty()
}

/// Which side is the client of an HTTP/2 connection captured mid-way, from the whole frames
/// buffered on either side: a header block naming request pseudo-header fields (static-table
/// names or literals, RFC 7541 Appendix A: `:method`, `:path`, …) comes from the client, one
/// naming `:status` from the server; DATA whose payload starts with masked WebSocket frames
/// comes from the client (RFC 6455 §5.3). `None` when nothing buffered says.
fn h2_client_by_content<S: ByteStream>(link: &Link<'_, S>) -> Option<Side> {
    use crate::h2::hpack::{HpackDecoder, HpackLimits};
    for side in [Side::LoToHi, Side::HiToLo] {
        for (h, payload) in h2frame::whole_frames(link.stream(side).data()) {
            match h2frame::parse_payload(&h, payload) {
                Ok(h2frame::Frame::Headers { block, .. }) => {
                    let list = HpackDecoder::new(HpackLimits::default(), false).decode(block);
                    for name in list.fields.iter().filter_map(|f| f.name.as_deref()) {
                        match name {
                            ":method" | ":path" | ":scheme" | ":authority" | ":protocol" => {
                                return Some(side)
                            }
                            ":status" => return Some(side.reverse()),
                            _ => {}
                        }
                    }
                }
                Ok(h2frame::Frame::Data { data, .. }) if h.stream != 0 => {
                    if let FrameSniff::WebSocket { masked } = session::sniff(data) {
                        return Some(if masked { side } else { side.reverse() });
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// Whether `data` starts with the header of a SETTINGS frame (not an ACK) on stream 0.
fn starts_with_settings(data: &[u8]) -> bool {
    matches!(data, [_, _, _, 0x04, 0x00, 0, 0, 0, 0, ..])
}

/// What a segment did to the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentEffect {
    /// The connection is over (RST, or FIN from both sides): finalise and remove it.
    pub closed: bool,
    /// A head exceeded the header cap.
    pub header_limit: bool,
    /// Bytes were dropped by a stream cap.
    pub dropped_by_cap: u64,
    /// The pending-request cap was hit and the connection given up.
    pub pending_limit: bool,
    /// Bytes examined looking for the end of HTTP heads.
    pub head_bytes_scanned: u64,
    /// The packet was a copy of one just seen and was dropped unread.
    pub duplicate: bool,
    /// HTTP requests a snap-length cut ended before they showed a WebSocket upgrade.
    pub requests_cut: u64,
    /// The segment touched neither the streams nor the parsers ([`crate::tcp::connection::TcpEffect::quiet`]):
    /// nothing was completed, no size changed, no upgrade arrived.
    pub quiet: bool,
}

/// One TCP connection with the parsers reading it.
#[derive(Debug)]
pub struct Connection {
    tcp: TcpConnection,
    app: Dispatch,
    /// This state's own size (it lives in a box of its own).
    account: Account,
    /// The connection's Community ID, computed (one SHA-1) by the first record that needs
    /// it: its handshake, WebSocket and TLS records all carry the same one.
    community_id: Option<String>,
    /// [`Dispatch::saw_upgrade`] as of the last time a parser ran ([`Connection::note_upgrade`]):
    /// a quiet segment runs none, so it answers from here instead of asking every parser.
    upgrade_seen: bool,
    /// Which plain segments are quiet, as of the last segment that was not
    /// ([`Connection::note_quiet`]): the engine hands those to [`Connection::on_quiet_segment`].
    quiet: QuietKinds,
}

impl Connection {
    /// A connection whose first data segment is arriving, after the SYNs in `opening`.
    #[must_use]
    pub fn new(opening: &Opening, limits: ConnLimits, meter: &mut Meter) -> Self {
        let mut account = Account::default();
        account.set(meter, std::mem::size_of::<Connection>());
        Connection {
            tcp: opening.open(limits.stream),
            app: Dispatch::new(limits),
            account,
            community_id: None,
            upgrade_seen: false,
            quiet: QuietKinds::NONE,
        }
    }

    /// The Community ID of this connection, whose flow key is `key`: computed once (its
    /// bytes then counted on `meter` with the connection's own while it is live), then
    /// copied (the hash does not depend on which side is the client).
    pub fn community_id(&mut self, key: &FlowKey, meter: &mut Meter) -> String {
        if let Some(id) = &self.community_id {
            return id.clone();
        }
        let (lo, hi) = (key.lo(), key.hi());
        let id = community_id::tcp((lo.ip(), lo.port()), (hi.ip(), hi.port()));
        // A finished connection's memory is already withdrawn ([`Connection::finish`]).
        if self.account.held() > 0 {
            self.account
                .set(meter, std::mem::size_of::<Connection>() + id.capacity());
        }
        self.community_id = Some(id.clone());
        id
    }

    /// The TCP lifecycle.
    #[must_use]
    pub fn tcp(&self) -> &TcpConnection {
        &self.tcp
    }

    /// The parser switch.
    #[must_use]
    pub fn dispatch(&self) -> &Dispatch {
        &self.app
    }

    /// The client → server side, once known.
    #[must_use]
    pub fn client_side(&self) -> Option<Side> {
        self.tcp.client_side()
    }

    /// SYN to SYN-ACK time in nanoseconds, when both were captured.
    #[must_use]
    pub fn connect_rtt_ns(&self) -> Option<i64> {
        self.tcp.connect_rtt_ns()
    }

    /// Whether a WebSocket upgrade request was seen on this connection.
    #[must_use]
    pub fn saw_upgrade(&self) -> bool {
        self.app.saw_upgrade()
    }

    /// [`Connection::saw_upgrade`] as the last [`Connection::note_upgrade`] found it: what it
    /// still is after a quiet segment, which ran no parser.
    #[must_use]
    #[inline]
    pub fn upgrade_seen(&self) -> bool {
        self.upgrade_seen
    }

    /// Asks the parsers whether an upgrade was seen (after they ran); returns whether that
    /// is so and whether it was not at the last call.
    #[inline]
    pub fn note_upgrade(&mut self) -> (bool, bool) {
        let seen = self.app.saw_upgrade();
        let new = seen && !self.upgrade_seen;
        self.upgrade_seen = seen;
        (seen, new)
    }

    /// Whether an upgrade request (or an HTTP/2 server SETTINGS) arrived since the last call
    /// (and clears the flag).
    pub fn take_new_upgrade(&mut self) -> bool {
        self.app.take_new_upgrade()
    }

    /// See [`Dispatch::take_h2_server_settings`].
    pub fn take_h2_server_settings(&mut self) -> Option<bool> {
        self.app.take_h2_server_settings()
    }

    /// When the oldest unanswered upgrade request was sent.
    #[must_use]
    pub fn unanswered_since(&self) -> Option<Timestamp> {
        self.app.unanswered_since()
    }

    /// Gives the upgrade requests waiting for an answer their handshake ids, oldest first.
    pub fn assign_ids(&mut self, next: &mut dyn FnMut() -> u64) {
        self.app.assign_ids(next);
    }

    /// The TLS layer's [`KeyRequest`], while it waits for keys after a ServerHello.
    #[must_use]
    pub fn tls_key_request(&self) -> Option<&KeyRequest> {
        self.app.tls_key_request()
    }

    /// Answers [`Connection::tls_key_request`]; the TLS layer goes on with the bytes it had
    /// left buffered (what it completes goes to `out`).
    pub fn install_tls_keys(&mut self, answer: KeyAnswer, out: &mut Output, meter: &mut Meter) {
        {
            let mut link = self.tcp.link(meter);
            self.app.install_tls_keys(&mut link, answer, out);
        }
        self.tcp.settle(meter);
        self.app.settle(meter);
    }

    /// The decrypted TLS connection this connection's handshakes and WebSockets came out of
    /// ([`Dispatch::tls_carrier`]).
    #[must_use]
    pub fn tls_carrier(&self) -> Option<TlsCarrier> {
        self.app.tls_carrier()
    }

    /// The TLS 1.2 session tickets issued on this connection since the last call, with their
    /// master secret ([`Dispatch::take_tls_tickets`]).
    pub fn take_tls_tickets(&mut self) -> Vec<([u8; 32], KeyBytes)> {
        self.app.take_tls_tickets()
    }

    /// After [`Connection::finish`]: the TLS record, when the connection carried TLS.
    pub fn take_tls_record(&mut self) -> Option<TlsRecord> {
        self.app.take_tls_record()
    }

    /// Links the WebSocket session on stream `id` to the handshake record that opened it.
    pub fn set_handshake(&mut self, id: StreamId, handshake: u64, failed: bool) {
        self.app.set_handshake(id, handshake, failed);
    }

    /// Frames the client has sent on the WebSocket of stream `id` (0 when there is none): a
    /// client that sends one has taken the switch.
    #[must_use]
    pub fn client_frames(&self, id: StreamId) -> u64 {
        self.app.client_frames(id)
    }

    /// After [`Connection::finish`]: the WebSocket connection records, one per call.
    pub fn take_connection_record(&mut self) -> Option<(StreamId, ConnectionRecord)> {
        self.app.take_connection_record()
    }

    /// The Engine.IO packets of the WebSocket whose record was just taken, if it carried
    /// Engine.IO.
    pub fn take_engineio(&mut self) -> Option<Box<EioObserver>> {
        self.app.take_engineio()
    }

    /// Takes one segment travelling on `side`; completed exchanges go to `out.completed`.
    // Inlined into its one caller (the engine): its own call setup cost more than its body.
    #[inline(always)]
    pub fn on_segment(
        &mut self,
        side: Side,
        seg: &Segment<'_>,
        packet: &Packet<'_>,
        out: &mut Output,
        meter: &mut Meter,
    ) -> SegmentEffect {
        out.effect = Default::default();
        let tcp = self
            .tcp
            .on_segment(side, seg, packet, &mut self.app, out, meter);
        if tcp.quiet {
            // Nothing changed size: the settles below would register what is registered.
            return SegmentEffect {
                duplicate: tcp.duplicate,
                quiet: true,
                ..SegmentEffect::default()
            };
        }
        self.tcp.settle(meter);
        self.app.settle(meter);
        SegmentEffect {
            closed: tcp.closed,
            dropped_by_cap: tcp.dropped_by_cap,
            header_limit: out.effect.header_limit,
            pending_limit: out.effect.pending_limit,
            head_bytes_scanned: out.effect.head_bytes_scanned,
            duplicate: tcp.duplicate,
            requests_cut: out.effect.requests_cut,
            quiet: false,
        }
    }

    /// Notes which plain segments are quiet now ([`TcpConnection::quiet_kinds`]; none while
    /// a TLS key request waits: the engine answers it on the next segment). Called after
    /// each segment that was not quiet, the only kind that can change the answer.
    pub fn note_quiet(&mut self) {
        self.quiet = if self.app.tls_key_request().is_none() {
            self.tcp.quiet_kinds()
        } else {
            QuietKinds::NONE
        };
    }

    /// Whether a segment without SYN, FIN or RST, not cut, sent on `side` (with a payload
    /// when `data`) is quiet ([`Connection::note_quiet`]).
    #[must_use]
    #[inline(always)]
    pub fn takes_quietly(&self, side: Side, data: bool) -> bool {
        self.quiet.holds(side, data)
    }

    /// [`Connection::on_segment`] for a segment [`Connection::takes_quietly`]: it reaches no
    /// parser. Returns whether it was a copy.
    #[inline(always)]
    pub fn on_quiet_segment(
        &mut self,
        side: Side,
        seg: &Segment<'_>,
        ts: Timestamp,
        out: &mut Output,
    ) -> bool {
        // As `on_segment` does: what a connection's end reads there is this segment's.
        out.effect = Default::default();
        self.tcp.on_quiet_segment(side, seg, ts)
    }

    /// The connection is being evicted to make room under the memory budget (the engine's
    /// emergency mode): what it reports next says so.
    pub fn evicted_by_memcap(&mut self) {
        self.app.evicted_for_memory();
    }

    /// Reports every upgrade request sent at or before `cutoff` and still unanswered at
    /// `now` as timed out.
    pub fn expire_unanswered(
        &mut self,
        cutoff: Timestamp,
        now: Timestamp,
        out: &mut Output,
        meter: &mut Meter,
    ) {
        let mut link = self.tcp.link(meter);
        self.app.expire_unanswered(&mut link, cutoff, now, out);
        self.app.settle(meter);
        // A parser ran: the next segment takes the long way and notes what is quiet again.
        self.quiet = QuietKinds::NONE;
    }

    /// Ends the connection: gives up on holes, analyses what is left and reports every
    /// upgrade request still waiting (`ending` applies when no FIN or RST was seen). Its
    /// memory is withdrawn from `meter`: the connection is about to be dropped.
    pub fn finish(&mut self, ending: Ending, out: &mut Output, meter: &mut Meter) {
        self.tcp.finish(ending, &mut self.app, out, meter);
        self.tcp.release(meter);
        self.app.release(meter);
        self.account.set(meter, 0);
    }

    /// Bytes held for this connection, computed now by walking its buffers (what the
    /// accounting must agree with).
    #[must_use]
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Connection>()
            + self.tcp.memory()
            + self.app.memory()
            + self.community_id.as_ref().map_or(0, String::capacity)
    }
}

#[cfg(test)]
mod tests;
