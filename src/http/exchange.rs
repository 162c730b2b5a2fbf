//! One TCP connection's HTTP/1.x conversation: which side is the client, where each message
//! starts and ends, and which response answers which request.
//!
//! Each direction runs a small state machine over its reassembled [`Stream`]:
//!
//! ```text
//!  Start ──sniff──▶ Head ──head parsed──▶ (body: skipped via Stream::consume) ──▶ Head …
//!    │               ▲  └─WebSocket request─▶ AwaitResponse (client waits for the answer)
//!    │ gap           │
//!  Resync ──message start found──┘     WebSocket 101 ──▶ Frames (both directions; see session)
//!    │  ▲                              other 101 ──▶ Done (tunnel; not HTTP any more)
//!    │  └─ not frames ── FrameSniff ◀── no SYN (capture started mid-connection)
//!    │                     └─ a run of sane frames ──▶ Frames (handshake not observed)
//!    └─ not HTTP (TLS, SSH…) ──▶ Done (stream ignored: bulk traffic costs nothing more)
//! ```
//!
//! Completed WebSocket exchanges (or requests that never got an answer) come out as
//! [`Completed`] values for the engine to analyse; a WebSocket connection's story comes out
//! of [`Connection::take_connection_record`] when it ends.

use std::collections::VecDeque;

use super::head::{self as http, Body, ChunkStep, Chunked, HeadParse, Sniff};
use crate::capture::{Packet, Timestamp};
use crate::decode::Segment;
use crate::event::{ConnectionRecord, Ending, Message, Peer};
use crate::finding::{Code, Finding};
use crate::tcp::flow::Side;
use crate::tcp::reassembly::{Gap, Stream, StreamLimits};
use crate::websocket::session::{self, FrameSniff, Session, Step, TcpEnd};

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
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            stream: StreamLimits::default(),
            max_header_bytes: 64 * 1024,
            max_pending: 1024,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// Default `--max-payload`: 16 MiB, between websockets' 1 MiB `max_size` and ws's 100 MiB
/// `maxPayload`.
pub const DEFAULT_MAX_PAYLOAD: u64 = 16 * 1024 * 1024;
/// Bytes of a flow without a visible handshake buffered while deciding whether it carries
/// WebSocket frames.
const FRAME_SNIFF_BUDGET: usize = 32 * 1024;
/// Bytes of a desynchronised stream scanned for a message start before giving up on it.
const RESYNC_BUDGET: usize = 64 * 1024;
/// Most interim (1xx) responses kept for one exchange.
const MAX_INTERIM: usize = 8;

/// A WebSocket exchange whose outcome is known (answered, or never answered).
#[derive(Debug)]
pub struct Completed {
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DirState {
    /// At the first byte of a stream that began with a SYN: a message boundary.
    Start,
    /// Somewhere inside a message: look for the next message start.
    Resync { budget: usize },
    /// Accumulating a head; `scanned` bytes were already searched for its end.
    Head { scanned: usize },
    /// Inside a chunked body.
    Chunked(Chunked),
    /// The client sent a WebSocket upgrade and waits for the answer.
    AwaitResponse,
    /// After a WebSocket 101: RFC 6455 frames, decoded by the connection's [`Session`].
    Frames,
    /// First bytes of a direction whose SYN was not captured: WebSocket frames, or HTTP?
    FrameSniff,
    /// Not HTTP (any more): the stream is ignored.
    Done,
}

#[derive(Debug)]
struct Pending {
    head_method: bool,
    upgrade: Option<Message>,
    /// When the request head was complete.
    since: Timestamp,
}

/// Evidence problems in one direction since the last completed exchange.
#[derive(Debug, Default)]
struct Marks {
    gap: Option<Gap>,
    truncated: bool,
    conflict: bool,
    header_limit: bool,
    malformed: Option<String>,
    frames: Vec<u64>,
}

impl Marks {
    fn note_packet(&mut self, frame: u64) {
        if self.frames.len() < 8 && self.frames.last() != Some(&frame) {
            self.frames.push(frame);
        }
    }
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
    /// Bytes examined looking for the end of HTTP heads (each byte once: the search resumes
    /// where it stopped, so a head dribbled a byte per segment costs linear time).
    pub head_bytes_scanned: u64,
}

/// One TCP connection's state.
#[derive(Debug)]
pub struct Connection {
    limits: ConnLimits,
    /// The side that carries client → server bytes, once known.
    client: Option<Side>,
    streams: [Stream; 2],
    states: [DirState; 2],
    marks: [Marks; 2],
    syn_ts: Option<Timestamp>,
    synack_ts: Option<Timestamp>,
    pending: VecDeque<Pending>,
    interim: Vec<Message>,
    first_close: Option<(Side, bool, Timestamp)>,
    fin_seen: [bool; 2],
    last_ts: Timestamp,
    saw_upgrade: bool,
    /// An upgrade request arrived since [`Connection::take_new_upgrade`] was last called.
    new_upgrade: bool,
    rst_seen: bool,
    /// Boxed: about 1 KiB that only WebSocket connections need, while most tracked
    /// connections (plain HTTP, TLS, half-open SYNs) never get one.
    session: Option<Box<Session>>,
    ended: Option<(TcpEnd, Option<Peer>)>,
}

impl Connection {
    /// A connection seen for the first time.
    #[must_use]
    pub fn new(limits: ConnLimits) -> Self {
        Connection {
            limits,
            client: None,
            streams: [Stream::new(limits.stream), Stream::new(limits.stream)],
            states: [DirState::Start, DirState::Start],
            marks: [Marks::default(), Marks::default()],
            syn_ts: None,
            synack_ts: None,
            pending: VecDeque::new(),
            interim: Vec::new(),
            first_close: None,
            fin_seen: [false, false],
            last_ts: Timestamp::default(),
            saw_upgrade: false,
            new_upgrade: false,
            rst_seen: false,
            session: None,
            ended: None,
        }
    }

    /// The client → server side, once known.
    #[must_use]
    pub fn client_side(&self) -> Option<Side> {
        self.client
    }

    /// SYN to SYN-ACK time in nanoseconds, when both were captured.
    #[must_use]
    pub fn connect_rtt_ns(&self) -> Option<i64> {
        Some(self.synack_ts?.nanos_since(self.syn_ts?))
    }

    /// Whether both directions are ignored (nothing more to learn from this connection).
    #[must_use]
    pub fn is_inert(&self) -> bool {
        self.states.iter().all(|s| *s == DirState::Done) && self.pending.is_empty()
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

    /// Reports every upgrade request sent at or before `cutoff` and still unanswered at
    /// `now` as timed out. A response that turns up later is not reported again.
    pub fn expire_unanswered(
        &mut self,
        cutoff: Timestamp,
        now: Timestamp,
        out: &mut Vec<Completed>,
    ) {
        let mut expired = Vec::new();
        for p in &mut self.pending {
            if p.since <= cutoff {
                if let Some(request) = p.upgrade.take() {
                    expired.push(request);
                }
            }
        }
        for request in expired {
            let done = self.complete(
                Some(request),
                None,
                Some((Ending::ResponseTimeout, now)),
                false,
            );
            out.push(done);
        }
    }

    /// Bytes held for this connection (memory accounting).
    #[must_use]
    pub fn memory(&self) -> usize {
        let head = |m: &Message| {
            m.head.raw.len()
                + m.head
                    .headers
                    .iter()
                    .map(|h| h.name.len() + h.value.len())
                    .sum::<usize>()
        };
        self.streams.iter().map(Stream::memory).sum::<usize>()
            + self.session.as_deref().map_or(0, Session::memory)
            + self.pending.len() * std::mem::size_of::<Pending>()
            + self
                .pending
                .iter()
                .filter_map(|p| p.upgrade.as_ref())
                .map(head)
                .sum::<usize>()
            + self.interim.iter().map(head).sum::<usize>()
    }

    /// Whether this connection switched to WebSocket (or was recognised as one).
    #[must_use]
    pub fn is_websocket(&self) -> bool {
        self.session.is_some()
    }

    /// Links the WebSocket session to the handshake record `id` that opened it.
    pub fn set_handshake(&mut self, id: u64, failed: bool) {
        if let Some(s) = self.session.as_mut() {
            s.set_handshake(id, failed);
        }
    }

    /// After [`Connection::finish`]: the WebSocket connection's record, once. Endpoints are
    /// left for the caller, which knows the flow key.
    pub fn take_connection_record(&mut self) -> Option<ConnectionRecord> {
        let (tcp, closer) = self.ended.take()?;
        Some((*self.session.take()?).finish(tcp, closer))
    }

    fn peer_of(&self, side: Side) -> Peer {
        if self.client.is_none_or(|c| c == side) {
            Peer::Client
        } else {
            Peer::Server
        }
    }

    /// A SYN (or SYN-ACK when `synack`) with sequence number `seq` on `side`: who the client
    /// is, where each stream starts, and the connect time.
    pub fn syn(&mut self, side: Side, seq: u32, synack: bool, ts: Timestamp) {
        if synack {
            self.client.get_or_insert(side.reverse());
            self.synack_ts.get_or_insert(ts);
        } else {
            self.client.get_or_insert(side);
            self.syn_ts.get_or_insert(ts);
        }
        if let Some(s) = self.streams.get_mut(side.index()) {
            s.syn(seq);
        }
    }

    /// Takes one segment travelling on `side`.
    pub fn on_segment(
        &mut self,
        side: Side,
        seg: &Segment<'_>,
        frame: &Packet<'_>,
        out: &mut Vec<Completed>,
    ) -> SegmentEffect {
        let mut effect = SegmentEffect::default();
        let i = side.index();
        let o = side.reverse().index();
        self.last_ts = frame.ts;
        if seg.flags.syn {
            self.syn(side, seg.seq, seg.flags.ack, frame.ts);
        }
        if seg.flags.ack {
            let gap = self.streams.get_mut(o).and_then(|s| s.peer_ack(seg.ack));
            if let Some(gap) = gap {
                self.on_gap(side.reverse(), gap, frame.number);
            }
        }
        if !seg.payload.is_empty() {
            let Some(stream) = self.streams.get_mut(i) else {
                return effect;
            };
            if !stream.is_started() && !seg.flags.syn {
                // First bytes of a direction whose SYN was not captured: mid-message, maybe.
                if let Some(state) = self.states.get_mut(i) {
                    if *state == DirState::Start {
                        *state = if self.session.is_some() {
                            DirState::Frames
                        } else {
                            DirState::FrameSniff
                        };
                    }
                }
            }
            let push = stream.push(seg.seq, seg.payload, frame.number, frame.ts);
            let cut = if seg.payload_truncated {
                let missing = u64::from(frame.orig_len).saturating_sub(frame.data.len() as u64);
                stream.cut_short(seg.seq, seg.payload.len(), missing)
            } else {
                None
            };
            effect.dropped_by_cap += push.dropped_by_cap;
            if let Some(m) = self.marks.get_mut(i) {
                if push.conflicting_overlap {
                    m.conflict = true;
                    m.note_packet(frame.number);
                }
                if seg.payload_truncated {
                    m.truncated = true;
                    m.note_packet(frame.number);
                }
            }
            if let Some(gap) = push.gap {
                self.on_gap(side, gap, frame.number);
            }
            if let Some(gap) = cut {
                self.on_gap(side, gap, frame.number);
            }
        }
        self.process(side, out, &mut effect);
        self.process(side.reverse(), out, &mut effect);
        self.rst_seen |= seg.flags.rst;
        if seg.flags.fin || seg.flags.rst {
            self.first_close
                .get_or_insert((side, seg.flags.rst, frame.ts));
        }
        if seg.flags.fin {
            if let Some(s) = self.streams.get_mut(i) {
                s.fin(seg.seq, seg.payload.len());
            }
            if let Some(f) = self.fin_seen.get_mut(i) {
                *f = true;
            }
        }
        effect.closed = seg.flags.rst || self.fin_seen.iter().all(|f| *f);
        effect
    }

    /// Ends the connection: gives up on holes, analyses what is left and reports every
    /// upgrade request still waiting. `ending` applies when no FIN/RST was seen.
    pub fn finish(&mut self, ending: Ending, out: &mut Vec<Completed>) {
        let mut effect = SegmentEffect::default();
        for side in [Side::LoToHi, Side::HiToLo] {
            let gap = self.streams.get_mut(side.index()).and_then(Stream::flush);
            if let Some(gap) = gap {
                self.on_gap(side, gap, 0);
            }
        }
        for side in [Side::LoToHi, Side::HiToLo] {
            self.process(side, out, &mut effect);
        }
        let (ending, ended_at) = match (self.first_close, ending) {
            (_, Ending::Evicted) => (Ending::Evicted, self.last_ts),
            (Some((side, rst, ts)), _) => {
                let by_client = self.client.is_none_or(|c| c == side);
                let e = match (by_client, rst) {
                    (true, false) => Ending::ClientFin,
                    (true, true) => Ending::ClientRst,
                    (false, false) => Ending::ServerFin,
                    (false, true) => Ending::ServerRst,
                };
                (e, ts)
            }
            (None, e) => (e, self.last_ts),
        };
        if self.session.is_some() {
            let closer = self.first_close.map(|(side, _, _)| self.peer_of(side));
            let tcp = TcpEnd {
                ending,
                at: ended_at,
                rst: self.rst_seen,
            };
            self.ended = Some((tcp, closer));
        }
        while let Some(p) = self.pending.pop_front() {
            if let Some(request) = p.upgrade {
                let done = self.complete(Some(request), None, Some((ending, ended_at)), false);
                out.push(done);
            }
        }
    }

    fn on_gap(&mut self, side: Side, gap: Gap, frame: u64) {
        let i = side.index();
        if let Some(m) = self.marks.get_mut(i) {
            m.gap = Some(m.gap.map_or(gap, |g| Gap {
                len: g.len + gap.len,
                ..g
            }));
            if frame != 0 {
                m.note_packet(frame);
            }
        }
        if self.state(side) == DirState::Frames {
            let peer = self.peer_of(side);
            if let Some(s) = self.session.as_mut() {
                if gap.needs_resync {
                    // A frame header (or a payload being read) is missing: nothing says
                    // where the next frame starts.
                    s.lost(peer, gap.len, frame);
                    self.set_state(side, DirState::Done);
                } else {
                    s.lost_in_payload(gap.len, frame);
                }
            }
            return;
        }
        if gap.needs_resync {
            if let Some(state) = self.states.get_mut(i) {
                if !matches!(*state, DirState::Done | DirState::AwaitResponse) {
                    *state = DirState::Resync {
                        budget: RESYNC_BUDGET,
                    };
                }
            }
        }
    }

    fn set_state(&mut self, side: Side, state: DirState) {
        if let Some(s) = self.states.get_mut(side.index()) {
            *s = state;
        }
        if state == DirState::Done {
            if let Some(stream) = self.streams.get_mut(side.index()) {
                stream.ignore();
            }
        }
    }

    fn state(&self, side: Side) -> DirState {
        self.states
            .get(side.index())
            .copied()
            .unwrap_or(DirState::Done)
    }

    fn data(&self, side: Side) -> &[u8] {
        self.streams
            .get(side.index())
            .map(Stream::data)
            .unwrap_or_default()
    }

    fn consume(&mut self, side: Side, n: u64) {
        if let Some(s) = self.streams.get_mut(side.index()) {
            s.consume(n);
        }
    }

    /// Does `side` carry requests? `None` while unknown.
    fn sends_requests(&self, side: Side) -> Option<bool> {
        self.client.map(|c| c == side)
    }

    /// Runs `side`'s state machine over its buffered bytes until it needs more.
    fn process(&mut self, side: Side, out: &mut Vec<Completed>, effect: &mut SegmentEffect) {
        // Each iteration consumes bytes or changes state; the bound is a safety net.
        for _ in 0..100_000 {
            if self.data(side).is_empty() {
                return;
            }
            match self.state(side) {
                DirState::Done | DirState::AwaitResponse => return,
                DirState::Frames => {
                    if !self.frames_step(side) {
                        return;
                    }
                }
                DirState::FrameSniff => {
                    if !self.frame_sniff(side) {
                        return;
                    }
                }
                DirState::Start => {
                    if !self.sniff_start(side) {
                        return;
                    }
                }
                DirState::Resync { budget } => {
                    if !self.resync(side, budget) {
                        return;
                    }
                }
                DirState::Head { scanned } => {
                    if !self.head(side, scanned, out, effect) {
                        return;
                    }
                }
                DirState::Chunked(mut chunked) => {
                    let step = chunked.step(self.data(side));
                    match step {
                        ChunkStep::Control(n) => {
                            self.consume(side, n as u64);
                            self.set_state(side, DirState::Chunked(chunked));
                        }
                        ChunkStep::Data(n, skip) => {
                            self.consume(side, (n as u64).saturating_add(skip));
                            self.set_state(side, DirState::Chunked(chunked));
                        }
                        ChunkStep::Done(n) => {
                            self.consume(side, n as u64);
                            self.set_state(side, DirState::Head { scanned: 0 });
                        }
                        ChunkStep::NeedMore => return,
                        ChunkStep::Invalid => {
                            self.set_state(
                                side,
                                DirState::Resync {
                                    budget: RESYNC_BUDGET,
                                },
                            );
                        }
                    }
                }
            }
        }
    }

    /// Decodes one step of WebSocket frames; false when it needs more bytes or stopped.
    fn frames_step(&mut self, side: Side) -> bool {
        let peer = self.peer_of(side);
        let (Some(session), Some(stream)) = (self.session.as_mut(), self.streams.get(side.index()))
        else {
            self.set_state(side, DirState::Done);
            return false;
        };
        match session.step(peer, stream.data(), &|i| stream.origin(i)) {
            Step::Consume(n) => {
                self.consume(side, n);
                true
            }
            Step::NeedMore => false,
            Step::Stop => {
                self.set_state(side, DirState::Done);
                false
            }
        }
    }

    /// A direction that started mid-connection: a run of WebSocket frames makes this a
    /// WebSocket connection whose handshake was not captured; anything else goes to the
    /// HTTP resynchronisation it would have had anyway (nothing was consumed).
    fn frame_sniff(&mut self, side: Side) -> bool {
        let data = self.data(side);
        let verdict = match session::sniff(data) {
            FrameSniff::NeedMore if data.len() >= FRAME_SNIFF_BUDGET => FrameSniff::No,
            v => v,
        };
        match verdict {
            FrameSniff::NeedMore => false,
            FrameSniff::No => {
                self.set_state(
                    side,
                    DirState::Resync {
                        budget: RESYNC_BUDGET,
                    },
                );
                true
            }
            FrameSniff::WebSocket { masked } => {
                let client = if masked { side } else { side.reverse() };
                if self.client.is_some_and(|c| c != client) || self.saw_upgrade {
                    self.set_state(
                        side,
                        DirState::Resync {
                            budget: RESYNC_BUDGET,
                        },
                    );
                    return true;
                }
                self.client = Some(client);
                let start = self
                    .streams
                    .get(side.index())
                    .and_then(|s| s.origin(0))
                    .map_or(self.last_ts, |o| o.ts);
                self.session = Some(Box::new(Session::sniffed(start, self.limits.max_payload)));
                self.set_state(side, DirState::Frames);
                let other = side.reverse();
                if matches!(
                    self.state(other),
                    DirState::FrameSniff | DirState::Resync { .. } | DirState::Start
                ) {
                    self.set_state(other, DirState::Frames);
                }
                true
            }
        }
    }

    /// At a stream's first byte: is this HTTP, and which side is the client?
    fn sniff_start(&mut self, side: Side) -> bool {
        let data = self.data(side);
        let (as_request, as_response) = match self.sends_requests(side) {
            Some(true) => (http::sniff(data, true), Sniff::No),
            Some(false) => (Sniff::No, http::sniff(data, false)),
            None => (http::sniff(data, true), http::sniff(data, false)),
        };
        if as_request == Sniff::Yes {
            self.client.get_or_insert(side);
        } else if as_response == Sniff::Yes {
            self.client.get_or_insert(side.reverse());
        } else if as_request == Sniff::NeedMore || as_response == Sniff::NeedMore {
            return false;
        } else {
            self.not_http(side);
            return false;
        }
        self.set_state(side, DirState::Head { scanned: 0 });
        true
    }

    /// The stream carries something else: stop reading it, and if a WebSocket request
    /// waits for this side's answer, say what came instead.
    fn not_http(&mut self, side: Side) {
        let waiting = self.sends_requests(side) == Some(false)
            && self.pending.iter().any(|p| p.upgrade.is_some());
        if waiting {
            let data = self.data(side);
            let preview: String = data.iter().take(8).map(|b| format!("{b:02x} ")).collect();
            let tls = matches!(data, [0x16 | 0x15, 0x03, 0x00..=0x04, ..]);
            let what = if tls {
                " (a TLS record: the server expects wss://, the client spoke ws://)"
            } else {
                ""
            };
            if let Some(m) = self.marks.get_mut(side.index()) {
                m.malformed = Some(format!(
                    "the server answered with bytes that are not HTTP: {}{what}",
                    preview.trim_end()
                ));
            }
        }
        self.set_state(side, DirState::Done);
    }

    fn resync(&mut self, side: Side, budget: usize) -> bool {
        let data = self.data(side);
        if matches!(data, [0x14..=0x17, 0x03, 0x00..=0x04, ..]) {
            // A TLS record mid-connection: nothing to find here.
            self.not_http(side);
            return false;
        }
        let found = match self.sends_requests(side) {
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
            self.consume(side, pos as u64);
            if is_request {
                self.client.get_or_insert(side);
            } else {
                self.client.get_or_insert(side.reverse());
            }
            self.set_state(side, DirState::Head { scanned: 0 });
            return true;
        }
        // Keep a short tail: a method name may be split across segments.
        let drop = data.len().saturating_sub(16);
        let left = budget.saturating_sub(drop);
        self.consume(side, drop as u64);
        if left == 0 {
            self.not_http(side);
        } else {
            self.set_state(side, DirState::Resync { budget: left });
        }
        false
    }

    fn head(
        &mut self,
        side: Side,
        scanned: usize,
        out: &mut Vec<Completed>,
        effect: &mut SegmentEffect,
    ) -> bool {
        let is_request = self.sends_requests(side).unwrap_or(true);
        let data = self.data(side);
        effect.head_bytes_scanned += data.len().saturating_sub(scanned) as u64;
        let Some(len) = http::find_head_end(data, scanned) else {
            if data.len() > self.limits.max_header_bytes {
                effect.header_limit = true;
                self.header_limit(side, is_request, out);
                return false;
            }
            let scanned = data.len();
            self.set_state(side, DirState::Head { scanned });
            return false;
        };
        if len > self.limits.max_header_bytes {
            effect.header_limit = true;
            self.header_limit(side, is_request, out);
            return false;
        }
        if let Some(scan) = http::scan_head(data, len, is_request) {
            if self.plain_message(side, is_request, len, scan) {
                return true;
            }
        }
        let data = self.data(side);
        match http::parse_head(data, len, is_request) {
            HeadParse::Complete(head) => {
                let Some(stream) = self.streams.get(side.index()) else {
                    return false;
                };
                let first = stream.origin(0);
                let last = stream.origin(len.saturating_sub(1));
                let truncated = self.marks.get(side.index()).is_some_and(|m| m.truncated);
                let msg = Message {
                    packets: stream.packets(0..len),
                    first_ts: first.map(|o| o.ts).unwrap_or(self.last_ts),
                    last_ts: last.map(|o| o.ts).unwrap_or(self.last_ts),
                    truncated,
                    head,
                };
                self.consume(side, len as u64);
                if is_request {
                    self.on_request(side, msg, effect);
                } else {
                    self.on_response(side, msg, out);
                }
                true
            }
            HeadParse::Partial => false,
            HeadParse::Invalid(why) => {
                if let Some(m) = self.marks.get_mut(side.index()) {
                    let who = if is_request { "request" } else { "response" };
                    m.malformed = Some(format!("malformed HTTP {who} head: {why}"));
                }
                self.consume(side, len as u64);
                self.set_state(
                    side,
                    DirState::Resync {
                        budget: RESYNC_BUDGET,
                    },
                );
                true
            }
        }
    }

    /// Handles a message that plays no part in a WebSocket exchange from its [`http::Scan`]
    /// alone: its place in the request/response pairing and its body framing, nothing built.
    /// Returns false when the message needs the full path (WebSocket headers, a 101, an
    /// answer to an upgrade request, or the pending-request cap).
    fn plain_message(
        &mut self,
        side: Side,
        is_request: bool,
        len: usize,
        scan: http::Scan,
    ) -> bool {
        if scan.websocket {
            return false;
        }
        if is_request {
            if self.pending.len() >= self.limits.max_pending {
                return false;
            }
            let since = self
                .streams
                .get(side.index())
                .and_then(|s| s.origin(len.saturating_sub(1)))
                .map_or(self.last_ts, |o| o.ts);
            self.consume(side, len as u64);
            self.pending.push_back(Pending {
                head_method: scan.head_method,
                upgrade: None,
                since,
            });
            match scan.request_body() {
                Body::Chunked => self.set_state(side, DirState::Chunked(Chunked::default())),
                Body::Length(n) => {
                    self.consume(side, n);
                    self.set_state(side, DirState::Head { scanned: 0 });
                }
                Body::None | Body::UntilClose => {
                    self.set_state(side, DirState::Head { scanned: 0 })
                }
            }
            return true;
        }
        let answers_upgrade = self.pending.front().is_some_and(|p| p.upgrade.is_some());
        if scan.status == 101 || answers_upgrade {
            return false;
        }
        self.consume(side, len as u64);
        if (100..200).contains(&scan.status) {
            self.set_state(side, DirState::Head { scanned: 0 });
            return true;
        }
        let head_method = self.pending.pop_front().is_some_and(|p| p.head_method);
        // An ordinary keep-alive exchange: its evidence problems are not ours.
        self.take_marks();
        match scan.response_body(head_method) {
            Body::None => self.set_state(side, DirState::Head { scanned: 0 }),
            Body::Length(n) => {
                self.consume(side, n);
                self.set_state(side, DirState::Head { scanned: 0 });
            }
            Body::Chunked => self.set_state(side, DirState::Chunked(Chunked::default())),
            Body::UntilClose => self.set_state(side, DirState::Done),
        }
        true
    }

    fn header_limit(&mut self, side: Side, is_request: bool, out: &mut Vec<Completed>) {
        let data = self.data(side);
        let limit = self.limits.max_header_bytes;
        // The head never ended; if it was heading for a WebSocket upgrade, say so.
        let lower: Vec<u8> = data
            .iter()
            .take(limit)
            .map(u8::to_ascii_lowercase)
            .collect();
        let websocket = lower.windows(14).any(|w| w == b"sec-websocket-")
            || lower.windows(9).any(|w| w == b"websocket");
        let frames = self
            .streams
            .get(side.index())
            .map(|s| s.packets(0..data.len().min(limit)))
            .unwrap_or_default();
        let upgrade_pending = !is_request && self.pending.iter().any(|p| p.upgrade.is_some());
        if websocket || upgrade_pending {
            let who = if is_request { "request" } else { "response" };
            let finding = Finding::new(
                Code::HeaderLimitExceeded,
                format!("the {who} head passed {limit} bytes without ending (--max-header-bytes)"),
            )
            .packets(&frames);
            if is_request {
                out.push(Completed {
                    request: None,
                    response: None,
                    interim: Vec::new(),
                    ending: None,
                    ended_at: None,
                    extra: vec![finding],
                    switched: false,
                });
            } else if let Some(m) = self.marks.get_mut(side.index()) {
                m.header_limit = true;
            }
        }
        self.set_state(side, DirState::Done);
    }

    fn on_request(&mut self, side: Side, msg: Message, effect: &mut SegmentEffect) {
        let head = &msg.head;
        let upgrade = head.has_token("Upgrade", "websocket")
            || head.headers.iter().any(|h| {
                h.name.len() > 14
                    && h.name
                        .get(..14)
                        .is_some_and(|p| p.eq_ignore_ascii_case("sec-websocket-"))
            });
        let body = http::request_body(head);
        let head_method = head.method() == Some("HEAD");
        if self.pending.len() >= self.limits.max_pending {
            effect.pending_limit = true;
            self.set_state(side, DirState::Done);
            self.set_state(side.reverse(), DirState::Done);
            return;
        }
        if upgrade {
            self.saw_upgrade = true;
            // A new exchange starts: earlier evidence problems belong to earlier traffic, but
            // those seen while this request's own head arrived (a retransmission of it with
            // different bytes) belong to this exchange.
            let first = msg.first_packet();
            let own = self
                .marks
                .get_mut(side.index())
                .map(std::mem::take)
                .filter(|m| m.frames.iter().any(|&f| f >= first));
            self.take_marks();
            if let (Some(own), Some(slot)) = (own, self.marks.get_mut(side.index())) {
                *slot = own;
            }
        }
        let since = msg.last_ts;
        self.new_upgrade |= upgrade;
        self.pending.push_back(Pending {
            head_method,
            upgrade: upgrade.then_some(msg),
            since,
        });
        match body {
            Body::Length(n) => self.consume(side, n),
            Body::Chunked if !upgrade => {
                self.set_state(side, DirState::Chunked(Chunked::default()));
                return;
            }
            _ => {}
        }
        self.set_state(
            side,
            if upgrade {
                DirState::AwaitResponse
            } else {
                DirState::Head { scanned: 0 }
            },
        );
    }

    fn on_response(&mut self, side: Side, msg: Message, out: &mut Vec<Completed>) {
        let status = msg.head.status().unwrap_or(0);
        let client = side.reverse();
        if (100..200).contains(&status) && status != 101 {
            if self.pending.front().is_some_and(|p| p.upgrade.is_some())
                && self.interim.len() < MAX_INTERIM
            {
                self.interim.push(msg);
            }
            self.set_state(side, DirState::Head { scanned: 0 });
            return;
        }
        // Without its request, only the response's own headers say it is WebSocket (a bare
        // 101 may be h2c or a Docker attach).
        let websocket_response = msg.head.value("Sec-WebSocket-Accept").is_some()
            || msg.head.has_token("Upgrade", "websocket");
        let pending = self.pending.pop_front();
        let unsolicited = pending.is_none();
        let opens_websocket = status == 101
            && (websocket_response || pending.as_ref().is_some_and(|p| p.upgrade.is_some()));
        if opens_websocket && self.session.is_none() {
            // RFC 6455 §4.1: frames may follow the 101 at once, in the same segment.
            let extensions = msg.head.list("Sec-WebSocket-Extensions");
            self.session = Some(Box::new(Session::new(
                msg.last_ts,
                session::deflate_params(&extensions),
                self.limits.max_payload,
            )));
        }
        let head_method = pending.as_ref().is_some_and(|p| p.head_method);
        let answered_upgrade = pending.as_ref().is_some_and(|p| p.upgrade.is_some());
        let body = http::response_body(&msg.head, head_method.then_some("HEAD"));
        match pending.and_then(|p| p.upgrade) {
            Some(request) => {
                let done = self.complete(Some(request), Some(msg), None, opens_websocket);
                out.push(done);
            }
            None if websocket_response && unsolicited => {
                let done = self.complete(None, Some(msg), None, opens_websocket);
                out.push(done);
            }
            None => {
                // An ordinary keep-alive exchange: its evidence problems are not ours.
                self.take_marks();
            }
        }
        if status == 101 {
            // Switched protocols: what follows is not HTTP; WebSocket frames are decoded.
            let next = if opens_websocket {
                DirState::Frames
            } else {
                DirState::Done
            };
            self.set_state(side, next);
            self.set_state(client, next);
            return;
        }
        // Only the answer to the upgrade releases a client waiting for it (pipelined plain
        // requests before the upgrade are answered first).
        if answered_upgrade && self.state(client) == DirState::AwaitResponse {
            self.set_state(client, DirState::Head { scanned: 0 });
        }
        match body {
            Body::None => self.set_state(side, DirState::Head { scanned: 0 }),
            Body::Length(n) => {
                self.consume(side, n);
                self.set_state(side, DirState::Head { scanned: 0 });
            }
            Body::Chunked => self.set_state(side, DirState::Chunked(Chunked::default())),
            Body::UntilClose => self.set_state(side, DirState::Done),
        }
    }

    /// An exchange whose outcome is known, with the interim responses and evidence marks
    /// gathered since the last one. `end` is how and when the connection ended, for a request
    /// that got no answer.
    fn complete(
        &mut self,
        request: Option<Message>,
        response: Option<Message>,
        end: Option<(Ending, Timestamp)>,
        switched: bool,
    ) -> Completed {
        Completed {
            request,
            response,
            interim: std::mem::take(&mut self.interim),
            ending: end.map(|(e, _)| e),
            ended_at: end.map(|(_, t)| t),
            extra: self.take_marks(),
            switched,
        }
    }

    /// Turns the evidence marks of both directions into findings and clears them.
    fn take_marks(&mut self) -> Vec<Finding> {
        let mut findings = Vec::new();
        for m in &mut self.marks {
            let m = std::mem::take(m);
            if let Some(gap) = m.gap {
                findings.push(
                    Finding::new(
                        Code::CaptureGap,
                        format!(
                            "{} bytes missing from the capture at stream offset {}",
                            gap.len, gap.offset
                        ),
                    )
                    .packets(&m.frames),
                );
            }
            if m.truncated {
                findings.push(
                    Finding::new(Code::SnaplenTruncated, "packets cut by the snap length")
                        .packets(&m.frames),
                );
            }
            if m.conflict {
                findings.push(
                    Finding::new(
                        Code::OverlapConflict,
                        "a retransmission carried different bytes; the first copy was used",
                    )
                    .packets(&m.frames),
                );
            }
            if m.header_limit {
                findings.push(Finding::new(
                    Code::HeaderLimitExceeded,
                    "the response head passed the header cap without ending",
                ));
            }
            if let Some(why) = m.malformed {
                findings.push(Finding::new(Code::HttpMalformed, why).packets(&m.frames));
            }
        }
        findings
    }
}
