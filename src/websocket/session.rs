//! A WebSocket connection after the switch: both directions' frames, and the connection's
//! story (counters, close handshake, how it ended, findings) as a [`ConnectionRecord`].
//!
//! The exchange layer hands each direction's reassembled bytes to [`Session::step`], which
//! answers how many bytes to consume. The session ties the focused pieces together:
//!
//! ```text
//!   bytes ─▶ walker (headers, unmasking) ─▶ Session: counters, rules (§5), message
//!                                            ├─ inflate (RFC 7692) ─▶ utf8 (§8.1), preview
//!                                            └─ close frames ─▶ ending (§7, idle timeout)
//! ```
//!
//! Data payloads are skipped unread unless something needs them (the UTF-8 check of text,
//! the preview of a direction's first message, the inflater under permessage-deflate, a
//! [`ContentObserver`] registered with [`Session::observe_content`]). State per direction is
//! a handful of counters, so a connection with millions of frames is O(1) memory. Recognising a flow whose handshake was not captured is [`sniff`]'s job; parsing the
//! accepted extensions is [`deflate_params`]'s. Never does I/O; time is capture time.

pub use crate::websocket::ending::TcpEnd;
pub use crate::websocket::extensions::deflate_params;
pub use crate::websocket::inflate::{MAX_INFLATE_PER_DIRECTION, MAX_INFLATE_PER_MESSAGE};
pub use crate::websocket::message::{MAX_UTF8_CHECK, PREVIEW_BYTES};
pub use crate::websocket::sniff::{resumes, sniff, FrameSniff, MIN_SNIFF_FRAMES};
pub use crate::websocket::walker::Step;

use crate::capture::Timestamp;
use crate::event::{
    CloseFrame, CloseInfo, ConnectionEnding, ConnectionRecord, DeflateParams, DirectionStats,
    FrameLog, Intervals, LoggedFrame, Peer,
};
use crate::finding::{Code, Finding, Severity};
use crate::tcp::reassembly::Origin;
use crate::websocket::content::{
    Completeness, ContentLimits, ContentObserver, ContentTap, MessageContent, MessageStart,
};
use crate::websocket::ending::{classify, ending_findings};
use crate::websocket::frame::{parse_close, Opcode};
use crate::websocket::inflate::{Inflate, Inflater, INFLATER_MEMORY};
use crate::websocket::message::{preview_text, Capture, Message};
use crate::websocket::rules::{self, HeaderContext, Violations, MAX_EVIDENCE_PACKETS};
use crate::websocket::sniff::plausible;
use crate::websocket::walker::{FrameVisitor, Seen, Walker, Want};

/// Most findings of the carrying layer kept per WebSocket ([`Session::carry`]).
const MAX_CARRIED: usize = 8;
/// The RFC 7692 §7.2.2 tail appended to a compressed message before inflating its end.
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// One direction's decoder and counters.
#[derive(Debug)]
struct Direction {
    walker: Walker,
    message: Option<Message>,
    stats: DirectionStats,
    last_ping: Option<Timestamp>,
    ping_ns: (u64, i64, i64, i64),
    close_sent: bool,
    inflater: Inflater,
    /// Frames decoded without fault so far (a sniffed session drops a direction that starts
    /// mid-frame silently instead of reporting nonsense).
    clean_frames: u64,
    /// The frame being walked, as the frame log will keep it (its preview fills as the
    /// payload is read).
    logging: Option<LoggedFrame>,
    /// This side's latest close frame's time, and the time of the frame before it (either
    /// side's; the session's start if none): kept when a close frame comes, so a close that
    /// answers the teardown (sent after it) still lets the record measure the silence before
    /// the teardown ([`Session::last_frame_before`]) without work on every frame.
    last_close: Option<(Timestamp, Timestamp)>,
}

impl Direction {
    fn new() -> Self {
        Direction {
            walker: Walker::new(),
            message: None,
            stats: DirectionStats::default(),
            last_ping: None,
            ping_ns: (0, i64::MAX, 0, 0),
            close_sent: false,
            inflater: Inflater::new(),
            clean_frames: 0,
            logging: None,
            last_close: None,
        }
    }
}

/// One WebSocket connection's frames and story.
#[derive(Debug)]
pub struct Session {
    handshake_id: Option<u64>,
    /// The opening handshake failed (bad accept, unoffered subprotocol…): a compliant client
    /// drops the socket without a close frame, so that is no finding of its own.
    handshake_failed: bool,
    observed: bool,
    /// What opened this WebSocket, for the words of `handshake_not_observed` when the
    /// opening was not captured.
    opening: OpenedBy,
    start: Timestamp,
    deflate: Option<DeflateParams>,
    max_payload: u64,
    dirs: [Direction; 2],
    close: CloseInfo,
    last_frame_ts: Option<Timestamp>,
    max_silence_ns: i64,
    violations: Violations,
    /// Findings of the layer below about the connection the WebSocket rides on (an HTTP/2
    /// frame flood), at most [`MAX_CARRIED`].
    carried: Vec<Finding>,
    gaps: u64,
    gap_packets: Vec<u64>,
    /// The content hook, when a layer registered an observer.
    content: Option<ContentTap>,
    /// Whether the negotiated extensions are known (false: the 101 was cut before them).
    extensions_known: bool,
    /// Bytes of frames the snap length cut off, and the first packets cut.
    cut: (u64, Vec<u64>),
    /// Per peer (client, server): bytes its side sent that the other acknowledged but the
    /// capture does not hold at the end (a one-way capture, or loss at the tail).
    unseen: [u64; 2],
    /// Bytes the owner's memory budget has room for during the step at hand
    /// ([`Session::set_room`]): an inflater is created only if it fits.
    room: usize,
    /// Bytes of frames not kept for want of memory budget (`--memcap`).
    memcap_lost: u64,
    /// Inflaters not created for want of memory budget: (count since last taken, ever).
    inflaters_refused: (u32, bool),
    /// The connection was evicted to make room under the memory budget.
    memcap_evicted: bool,
    /// The first and last frames (bounded; counted in [`Session::memory`]).
    log: FrameLog,
    /// Whether frames are logged at all ([`Session::with_frame_log`]).
    log_frames: bool,
}

/// How a WebSocket was opened, as far as a session whose opening was not captured can say
/// what is missing: the wording differs per protocol (HTTP/2 has no 101).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenedBy {
    /// HTTP/1.1: a GET with Upgrade answered 101 (RFC 6455 §4).
    Upgrade,
    /// An HTTP/2 stream opened before the capture: its extended CONNECT and the `:status`
    /// 200 answering it (RFC 8441 §4) were not captured.
    ExtendedConnect,
    /// An HTTP/2 stream whose request HEADERS were captured but not decodable in full (HPACK
    /// state from before the capture): whether it was an extended CONNECT answered 200 is not
    /// known.
    ExtendedConnectUndecoded,
}

impl OpenedBy {
    /// The `handshake_not_observed` message for a WebSocket opened this way.
    fn not_observed(self) -> &'static str {
        match self {
            OpenedBy::Upgrade => {
                "frames without a captured opening handshake: the capture started after the 101"
            }
            OpenedBy::ExtendedConnect => {
                "frames without a captured opening handshake: the capture started after this HTTP/2 stream's extended CONNECT and the :status 200 that answered it (RFC 8441: there is no 101 on HTTP/2)"
            }
            OpenedBy::ExtendedConnectUndecoded => {
                "frames without a readable opening handshake: this HTTP/2 stream's request was captured but not all its fields could be decoded (HPACK state from before the capture), so its extended CONNECT and the answer are not known (RFC 8441: there is no 101 on HTTP/2)"
            }
        }
    }
}

fn ms(ns: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let v = ns as f64 / 1e6;
    (v * 1000.0).round() / 1000.0
}

impl Session {
    /// A session that starts at the 101 response (`start`), with the negotiated
    /// permessage-deflate parameters, if any.
    #[must_use]
    pub fn new(start: Timestamp, deflate: Option<DeflateParams>, max_payload: u64) -> Self {
        Session {
            handshake_id: None,
            handshake_failed: false,
            observed: true,
            opening: OpenedBy::Upgrade,
            start,
            deflate,
            max_payload,
            dirs: [Direction::new(), Direction::new()],
            close: CloseInfo::default(),
            last_frame_ts: None,
            max_silence_ns: 0,
            violations: Violations::default(),
            carried: Vec::new(),
            gaps: 0,
            gap_packets: Vec::new(),
            content: None,
            extensions_known: true,
            cut: (0, Vec::new()),
            unseen: [0, 0],
            room: usize::MAX,
            memcap_lost: 0,
            inflaters_refused: (0, false),
            memcap_evicted: false,
            log: FrameLog::default(),
            log_frames: false,
        }
    }

    /// A session recognised from its frames alone (the handshake was not captured).
    /// Extensions are unknown, so RSV1 is not judged and nothing is inflated.
    #[must_use]
    pub fn sniffed(start: Timestamp, max_payload: u64) -> Self {
        Session {
            observed: false,
            ..Session::new(start, None, max_payload)
        }
    }

    /// A session whose 101 was cut by the snap length before its extension lines: whether
    /// permessage-deflate was negotiated is unknown, so RSV1 is not judged and nothing is
    /// inflated (as for a sniffed session), though the handshake was observed.
    #[must_use]
    pub fn extensions_unknown(start: Timestamp, max_payload: u64) -> Self {
        Session {
            extensions_known: false,
            ..Session::new(start, None, max_payload)
        }
    }

    /// The same session, opened as `opening` says (a sniffed HTTP/2 stream's is an extended
    /// CONNECT, not a 101): only the words of `handshake_not_observed` depend on it.
    #[must_use]
    pub fn opened_by(mut self, opening: OpenedBy) -> Self {
        self.opening = opening;
        self
    }

    /// The same session, keeping its frame log when `on` (the TUI shows it; the other outputs
    /// do not, and pay nothing for it).
    #[must_use]
    pub fn with_frame_log(mut self, on: bool) -> Self {
        self.log_frames = on;
        self
    }

    /// At the end: `bytes` that `peer` sent were acknowledged by the other side but are not
    /// in the capture, so how the connection closed cannot be told from what was captured.
    pub fn unseen(&mut self, peer: Peer, bytes: u64) {
        let [c, s] = &mut self.unseen;
        *(if peer == Peer::Client { c } else { s }) = bytes;
    }

    /// `peer`'s direction found a frame boundary again after [`Session::lost`] (the next
    /// packet starts with a whole, sane frame): decoding goes on from there.
    pub fn resume(&mut self, peer: Peer) {
        let d = self.dir_mut(peer);
        d.walker = Walker::new();
    }

    /// Links this session to the handshake record that opened it.
    pub fn set_handshake(&mut self, id: u64, failed: bool) {
        self.handshake_id = Some(id);
        self.handshake_failed = failed;
    }

    /// Frames `peer` has sent so far.
    #[must_use]
    pub fn frames_from(&self, peer: Peer) -> u64 {
        self.dir(peer).stats.frames
    }

    /// Registers `observer` for the content of this session's messages from the next one on
    /// (see [`ContentObserver`]), within `limits`; replaces any observer registered before.
    pub fn observe_content(&mut self, observer: Box<dyn ContentObserver>, limits: ContentLimits) {
        self.content = Some(ContentTap::new(observer, limits));
    }

    /// The registered observer, if any.
    pub fn content_observer(&mut self) -> Option<&mut dyn ContentObserver> {
        self.content.as_mut().map(ContentTap::observer_mut)
    }

    /// The registered observer as its concrete type, if it is a `T`.
    pub fn content_observer_as<T: ContentObserver>(&mut self) -> Option<&mut T> {
        let any: &mut dyn std::any::Any = self.content_observer()?;
        any.downcast_mut::<T>()
    }

    /// Bytes held (memory accounting): the inflaters, when alive, content being
    /// collected for an observer, what the observer kept, and the frame log.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.log.memory()
            + self.content.as_ref().map_or(0, ContentTap::memory)
            + self
                .dirs
                .iter()
                .map(|d| d.inflater.memory() + d.message.as_ref().map_or(0, Message::memory))
                .sum::<usize>()
    }

    /// Bytes held by the frame log alone (tests compare the rest of [`Session::memory`]).
    #[cfg(test)]
    pub(crate) fn log_memory(&self) -> usize {
        self.log.memory()
    }

    /// Bytes of `peer`'s stream were lost inside a frame header (or a payload being read):
    /// decoding of that direction stops, as nothing says where the next frame begins.
    pub fn lost(&mut self, peer: Peer, bytes: u64, packet: u64) {
        self.note_gap(bytes, packet);
        let d = self.dir_mut(peer);
        if d.walker.stop() {
            d.stats.decoding_stopped = true;
            d.inflater.lose();
            self.abandon_message(peer);
        }
    }

    /// The current message of `peer` will never end: an observer gets what arrived.
    fn abandon_message(&mut self, peer: Peer) {
        if let Some(m) = self.dir_mut(peer).message.take() {
            self.deliver(peer, &m, false);
        }
    }

    /// Hands a data message's captured content to the observer, if it has any.
    fn deliver(&mut self, peer: Peer, m: &Message, ended: bool) {
        let (Some(tap), Some(c)) = (self.content.as_mut(), m.capture.as_ref()) else {
            return;
        };
        tap.deliver(&MessageContent {
            peer,
            opcode: if m.text { Opcode::Text } else { Opcode::Binary },
            bytes: &c.bytes,
            completeness: m.completeness(ended),
            compressed: m.compressed,
            wire_len: m.len,
            frames: m.frames,
            first_packet: m.first_packet,
            last_packet: c.last_packet,
            ts: c.ts,
            end_ts: c.end_ts,
        });
    }

    /// Hands a control frame's payload to the observer, if it wants it.
    fn deliver_control(&mut self, peer: Peer, seen: &Seen, payload: &[u8], last: Option<Origin>) {
        let Some(tap) = self.content.as_mut() else {
            return;
        };
        let h = seen.header;
        if !tap.wants_control(&message_start(peer, seen, false)) {
            return;
        }
        let (last_packet, end_ts) = last.map_or((seen.packet, seen.ts), |o| (o.packet, o.ts));
        tap.deliver(&MessageContent {
            peer,
            opcode: h.opcode,
            bytes: payload,
            completeness: if h.payload_len > payload.len() as u64 {
                Completeness::Truncated
            } else {
                Completeness::Complete
            },
            compressed: false,
            wire_len: h.payload_len,
            frames: 1,
            first_packet: seen.packet,
            last_packet,
            ts: seen.ts,
            end_ts,
        });
    }

    /// The owner's memory budget has room for `room` more bytes during the next steps.
    pub fn set_room(&mut self, room: usize) {
        self.room = room;
    }

    /// Inflaters refused for want of budget since the last call, and the bytes each would
    /// have taken (for the owner's meter).
    pub fn take_inflaters_refused(&mut self) -> (u32, usize) {
        (
            std::mem::take(&mut self.inflaters_refused.0),
            INFLATER_MEMORY,
        )
    }

    /// A finding of the layer that carries this WebSocket (an HTTP/2 flood on its
    /// connection), for the connection record; beyond [`MAX_CARRIED`] they are dropped.
    pub fn carry(&mut self, finding: Finding) {
        if self.carried.len() < MAX_CARRIED {
            self.carried.push(finding);
        }
    }

    /// The connection is being evicted to make room under the memory budget (`--memcap`).
    pub fn evicted_for_memory(&mut self) {
        self.memcap_evicted = true;
    }

    /// Bytes of `peer`'s stream were not kept because the memory budget was full (`--memcap`);
    /// `lost_place`: a frame header was among them, so decoding of that direction stops.
    pub fn not_kept(&mut self, peer: Peer, bytes: u64, lost_place: bool) {
        self.memcap_lost = self.memcap_lost.saturating_add(bytes);
        if lost_place {
            let d = self.dir_mut(peer);
            if d.walker.stop() {
                d.stats.decoding_stopped = true;
                d.inflater.lose();
                self.abandon_message(peer);
            }
        }
    }

    /// Bytes of `peer`'s stream were lost inside payload that was being skipped: counters
    /// stay right, but the evidence is incomplete.
    pub fn lost_in_payload(&mut self, bytes: u64, packet: u64) {
        self.note_gap(bytes, packet);
    }

    /// The snap length cut `bytes` of `peer`'s frames in `packet`: like a loss (decoding
    /// stops when the place is lost, `resync`), but reported as the cut it is, not as a
    /// capture gap.
    pub fn cut_short(&mut self, peer: Peer, bytes: u64, packet: u64, resync: bool) {
        self.cut.0 = self.cut.0.saturating_add(bytes);
        if packet != 0 && self.cut.1.len() < MAX_EVIDENCE_PACKETS {
            self.cut.1.push(packet);
        }
        if resync {
            let d = self.dir_mut(peer);
            if d.walker.stop() {
                d.stats.decoding_stopped = true;
                d.inflater.lose();
                self.abandon_message(peer);
            }
        }
    }

    fn note_gap(&mut self, bytes: u64, packet: u64) {
        self.gaps = self.gaps.saturating_add(bytes);
        if packet != 0 && self.gap_packets.len() < MAX_EVIDENCE_PACKETS {
            self.gap_packets.push(packet);
        }
    }

    fn dir_mut(&mut self, peer: Peer) -> &mut Direction {
        let [c, s] = &mut self.dirs;
        match peer {
            Peer::Client => c,
            Peer::Server => s,
        }
    }

    fn dir(&self, peer: Peer) -> &Direction {
        let [c, s] = &self.dirs;
        match peer {
            Peer::Client => c,
            Peer::Server => s,
        }
    }

    /// Decodes what it can of `peer`'s buffered bytes `data`; `origin(i)` says which capture
    /// packet carried `data[i]`.
    pub fn step(
        &mut self,
        peer: Peer,
        data: &[u8],
        origin: &dyn Fn(usize) -> Option<Origin>,
    ) -> Step {
        let start = self.start;
        let mut walker = std::mem::replace(&mut self.dir_mut(peer).walker, Walker::new());
        let step = walker.step(
            data,
            origin,
            start,
            &mut Visit {
                session: self,
                peer,
            },
        );
        self.dir_mut(peer).walker = walker;
        step
    }

    /// Counts and checks a header; returns whether its payload must be read.
    fn on_header(&mut self, peer: Peer, seen: Seen) -> bool {
        let h = seen.header;
        let packet = seen.packet;
        // Silence between frames in either direction (idle-timeout evidence).
        let prev = self.last_frame_ts.unwrap_or(self.start);
        self.max_silence_ns = self.max_silence_ns.max(seen.ts.nanos_since(prev));
        self.last_frame_ts = Some(self.last_frame_ts.map_or(seen.ts, |t| t.max(seen.ts)));
        let start = self.start;
        let observed = self.observed;
        let deflate = self.deflate;
        let log_frames = self.log_frames;
        {
            let d = self.dir_mut(peer);
            d.clean_frames += 1;
            if log_frames {
                d.logging = Some(logged(&seen, peer));
            }
            let s = &mut d.stats;
            s.frames += 1;
            s.bytes = s.bytes.saturating_add(h.frame_len());
            s.payload_bytes = s.payload_bytes.saturating_add(h.payload_len);
            if s.first_frame_ms.is_none() && observed {
                s.first_frame_ms = Some(ms(seen.ts.nanos_since(start)));
            }
            match h.opcode {
                Opcode::Ping => {
                    s.pings += 1;
                    if let Some(last) = d.last_ping {
                        let gap = seen.ts.nanos_since(last);
                        let (n, min, max, sum) = d.ping_ns;
                        d.ping_ns = (n + 1, min.min(gap), max.max(gap), sum.saturating_add(gap));
                    }
                    d.last_ping = Some(seen.ts);
                }
                Opcode::Pong => s.pongs += 1,
                Opcode::Close => {
                    s.closes += 1;
                    d.last_close = Some((seen.ts, prev));
                }
                _ => {}
            }
        }
        let cx = HeaderContext {
            peer,
            // RSV1 is judged only against known extensions.
            observed: observed && self.extensions_known,
            deflate: deflate.is_some(),
            max_payload: self.max_payload,
            close_sent: self.dir(peer).close_sent,
        };
        rules::check_header(&h, &cx, packet, &mut self.violations);
        if h.opcode.is_control() {
            return h.payload_len > 0;
        }
        match h.opcode {
            Opcode::Continuation if self.dir(peer).message.is_none() => {
                // A sniffed stream may begin inside a fragmented message.
                if observed || self.dir(peer).stats.frames > 1 {
                    rules::orphan_continuation(peer, packet, &mut self.violations);
                }
                return false;
            }
            Opcode::Text | Opcode::Binary => {
                if self.dir(peer).message.is_some() {
                    rules::message_inside_message(peer, h.opcode, packet, &mut self.violations);
                    self.abandon_message(peer);
                }
                let compressed = h.rsv1 && deflate.is_some();
                let capture = self
                    .content
                    .as_mut()
                    .and_then(|tap| tap.start(&message_start(peer, &seen, compressed)))
                    .map(|limit| Capture::new(limit, packet, seen.ts));
                // An inflater is created only if the memory budget has room for it; without
                // one this message is not checked.
                let fits = self.dir(peer).inflater.is_alive() || INFLATER_MEMORY <= self.room;
                if compressed && !fits {
                    self.inflaters_refused.0 += 1;
                    self.inflaters_refused.1 = true;
                } else if compressed && !self.dir(peer).inflater.is_alive() {
                    self.room = self.room.saturating_sub(INFLATER_MEMORY);
                }
                let d = self.dir_mut(peer);
                let first = d.stats.messages == 0 && d.stats.preview.is_none();
                let inflatable = if compressed {
                    fits && d.inflater.start_message()
                } else {
                    d.inflater.is_alive()
                };
                // RSV1 without known deflate (a sniffed session, or a violation already
                // reported): the payload's encoding is unknown, so it is not judged.
                let opaque = h.rsv1 && !compressed;
                let checkable = !opaque && (!compressed || inflatable);
                let text = h.opcode == Opcode::Text;
                d.message = Some(Message::new(
                    text, compressed, checkable, first, packet, capture,
                ));
            }
            _ => {}
        }
        let d = self.dir(peer);
        d.message
            .as_ref()
            .is_some_and(|m| m.wants_payload(d.inflater.is_alive()))
    }

    /// Feeds unmasked payload bytes of the current data message (or the RFC 7692 tail when
    /// `tail` is set) to the inflater, the UTF-8 check and the preview.
    fn message_bytes(&mut self, peer: Peer, bytes: &[u8], tail: bool) {
        let Direction {
            message,
            inflater,
            logging,
            ..
        } = self.dir_mut(peer);
        let Some(m) = message.as_mut() else {
            return;
        };
        if !m.compressed {
            if !tail {
                m.plain(bytes);
                if let Some(f) = logging.as_mut() {
                    f.push_preview(bytes);
                }
            }
            return;
        }
        let result = inflater.inflate(bytes, tail, &mut |out| {
            m.inflated = m.inflated.saturating_add(out.len() as u64);
            m.plain(out);
            if let Some(f) = logging.as_mut() {
                f.push_preview(out);
            }
        });
        let packet = m.first_packet;
        match result {
            Inflate::Done => {}
            Inflate::Unavailable | Inflate::OverBudget => m.undecodable(),
            Inflate::Failed => {
                m.undecodable();
                rules::inflate_failed(peer, packet, &mut self.violations);
            }
        }
    }

    /// Moves the frame just walked into the log, with a control frame's payload (a close
    /// frame's code apart, its reason as the preview). The log grows only while the memory
    /// budget has room.
    fn log_frame(&mut self, peer: Peer, control: Option<&[u8]>) {
        let Some(mut f) = self.dir_mut(peer).logging.take() else {
            return;
        };
        if let Some(payload) = control {
            if f.is_close() {
                let body = parse_close(payload);
                f.close_code = body.code;
                f.push_preview(body.reason.as_bytes());
            } else {
                f.push_preview(payload);
            }
        }
        let growth = self.log.growth();
        let room = growth <= self.room;
        if room {
            self.room = self.room.saturating_sub(growth);
        }
        self.log.push(f, room);
    }

    fn end_of_frame(&mut self, peer: Peer, seen: Seen, control: Option<&[u8]>) {
        self.log_frame(peer, control);
        let h = seen.header;
        match h.opcode {
            Opcode::Close => self.on_close(peer, seen, control.unwrap_or_default()),
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                let d = self.dir_mut(peer);
                let Some(m) = d.message.as_mut() else {
                    return;
                };
                m.len = m.len.saturating_add(h.payload_len);
                m.frames += 1;
                if h.fin {
                    self.end_of_message(peer);
                }
            }
            _ => {}
        }
    }

    fn end_of_message(&mut self, peer: Peer) {
        let compressed = self
            .dir(peer)
            .message
            .as_ref()
            .is_some_and(|m| m.compressed);
        if compressed {
            // RFC 7692 §7.2.2: append 0x00 0x00 0xff 0xff, then inflate.
            self.message_bytes(peer, &DEFLATE_TAIL, true);
            let reset = self.deflate.is_some_and(|p| match peer {
                Peer::Client => p.client_no_context_takeover,
                Peer::Server => p.server_no_context_takeover,
            });
            if reset {
                self.dir_mut(peer).inflater.reset();
            }
        }
        let d = self.dir_mut(peer);
        let Some(m) = d.message.take() else {
            return;
        };
        let s = &mut d.stats;
        s.messages += 1;
        if m.text {
            s.text_messages += 1;
            s.text_bytes = s.text_bytes.saturating_add(m.len);
        } else {
            s.binary_messages += 1;
            s.binary_bytes = s.binary_bytes.saturating_add(m.len);
        }
        if m.frames > 1 {
            s.fragmented_messages += 1;
        }
        if m.compressed {
            s.compressed_messages += 1;
        }
        s.largest_message = s.largest_message.max(m.len);
        if let Some(p) = &m.preview {
            if s.preview.is_none() {
                s.preview = Some(preview_text(p, m.text));
            }
        }
        if m.utf8_valid() == Some(false) {
            rules::invalid_text(peer, m.compressed, m.first_packet, &mut self.violations);
        }
        self.deliver(peer, &m, true);
    }

    fn on_close(&mut self, peer: Peer, seen: Seen, payload: &[u8]) {
        let body = parse_close(payload);
        rules::check_close(&body, peer, seen.packet, &mut self.violations);
        let first = {
            let d = self.dir_mut(peer);
            let first = !d.close_sent;
            d.close_sent = true;
            first
        };
        if first {
            let cf = CloseFrame {
                code: body.code,
                reason: body.reason,
                packet: seen.packet,
                ts: seen.ts,
            };
            match peer {
                Peer::Client => self.close.client = Some(cf),
                Peer::Server => self.close.server = Some(cf),
            }
            self.close.initiator.get_or_insert(peer);
            self.close.handshake_completed =
                self.close.client.is_some() && self.close.server.is_some();
        }
    }

    /// Ends the session: the connection record, with everything but the endpoints (the
    /// engine knows those) filled in. `closer` is the peer that sent the first FIN/RST.
    #[must_use]
    pub fn finish(self, tcp: TcpEnd, closer: Option<Peer>) -> ConnectionRecord {
        self.finish_observed(tcp, closer).0
    }

    /// [`finish`](Session::finish), handing back the content observer (after it received
    /// the messages still in flight, as [`Completeness::Unfinished`]).
    #[must_use]
    pub fn finish_observed(
        mut self,
        tcp: TcpEnd,
        closer: Option<Peer>,
    ) -> (ConnectionRecord, Option<Box<dyn ContentObserver>>) {
        self.abandon_message(Peer::Client);
        self.abandon_message(Peer::Server);
        let observer = self.content.take().map(ContentTap::into_observer);
        (self.record(tcp, closer), observer)
    }

    /// The time of the last frame no later than `end` (the teardown), or the session's start.
    /// Frames after the teardown are usually one close frame answering it: the frame before
    /// the first such close is the one asked for. When a later frame that is not a close came
    /// first, that frame is not known and the last frame stands (no silence measured, as
    /// before): a silence is never made longer than it was.
    fn last_frame_before(&self, end: Timestamp) -> Timestamp {
        let last = self.last_frame_ts.unwrap_or(self.start);
        if last <= end {
            return last;
        }
        self.dirs
            .iter()
            .filter_map(|d| d.last_close)
            .find(|&(close, before)| close > end && before <= end)
            .map_or(last, |(_, before)| before)
    }

    fn record(mut self, tcp: TcpEnd, closer: Option<Peer>) -> ConnectionRecord {
        let end = tcp.at.max(self.start);
        let ending = classify(&tcp, &self.close);
        let torn_down = !matches!(ending, ConnectionEnding::Open | ConnectionEnding::Evicted);
        let last = self.last_frame_before(end);
        let idle_ns = end.nanos_since(last).max(0);
        if torn_down {
            self.max_silence_ns = self.max_silence_ns.max(idle_ns);
        } else {
            self.max_silence_ns = self.max_silence_ns.max(end.nanos_since(last));
        }
        let mut findings = ending_findings(
            ending,
            closer,
            &tcp,
            torn_down.then_some(idle_ns),
            end.nanos_since(self.start),
            &self.close,
            // A client that sent frames took the switch: its ending is a finding again.
            self.handshake_failed && self.frames_from(Peer::Client) == 0,
        );
        if let Some((who, bytes)) = [("client", self.unseen[0]), ("server", self.unseen[1])]
            .into_iter()
            .find(|(_, n)| *n > 0)
        {
            // A close frame may be among the bytes not captured: no finding says one is missing.
            findings
                .retain(|f| !matches!(f.code, Code::CloseNotAnswered | Code::CloseFrameMissing));
            findings.push(Finding::new(
                Code::CaptureGap,
                format!(
                    "the {who}'s last {bytes} bytes are not in the capture (the other side acknowledged them): its frames, close included, are unknown"
                ),
            ));
        }
        findings.extend(std::mem::take(&mut self.violations).into_findings());
        findings.append(&mut self.carried);
        if self.gaps > 0 {
            findings.push(
                Finding::new(
                    Code::CaptureGap,
                    format!(
                        "{} bytes of WebSocket frames missing from the capture; counters cover what was captured",
                        self.gaps
                    ),
                ).packets(&self.gap_packets),
            );
        }
        if self.cut.0 > 0 {
            findings.push(
                Finding::new(
                    Code::SnaplenTruncated,
                    format!(
                        "{} bytes of WebSocket frames cut by the snap length; counters cover what was captured",
                        self.cut.0
                    ),
                )
                .packets(&self.cut.1),
            );
        }
        if self.memcap_lost > 0 || self.inflaters_refused.1 || self.memcap_evicted {
            let mut what = Vec::new();
            if self.memcap_evicted {
                what.push("the connection was evicted to make room for new ones".to_owned());
            }
            if self.memcap_lost > 0 {
                what.push(format!(
                    "{} bytes of WebSocket frames were not kept",
                    self.memcap_lost
                ));
            }
            if self.inflaters_refused.1 {
                what.push("compressed messages were not inflated (UTF-8 not checked)".to_owned());
            }
            findings.push(Finding::new(
                Code::MemcapReached,
                format!(
                    "{}: wssniff's memory budget (--memcap) was full; counters cover what was kept",
                    what.join("; ")
                ),
            ));
        }
        if !self.observed {
            findings.push(Finding::new(
                Code::HandshakeNotObserved,
                self.opening.not_observed(),
            ));
        }
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let [client, server] = self.dirs;
        let stats = |d: Direction| {
            let mut s = d.stats;
            let (n, min, max, sum) = d.ping_ns;
            if n > 0 {
                #[allow(clippy::cast_possible_wrap)]
                let mean = sum / (n as i64).max(1);
                s.ping_intervals = Some(Intervals {
                    count: n,
                    min_ms: ms(min),
                    max_ms: ms(max),
                    mean_ms: ms(mean),
                });
            }
            s
        };
        ConnectionRecord {
            handshake_id: self.handshake_id,
            ts: self.start,
            end_ts: end,
            client: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            server: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            community_id: String::new(),
            handshake_observed: self.observed,
            permessage_deflate: self.deflate,
            duration_ms: ms(end.nanos_since(self.start)),
            client_to_server: stats(client),
            server_to_client: stats(server),
            close: self.close,
            ending,
            tcp_end: tcp.ending,
            idle_before_end_ms: torn_down.then_some(ms(idle_ns)),
            max_silence_ms: ms(self.max_silence_ns),
            findings,
            loss: Default::default(),
            h2_stream_id: None,
            h2_goaway: None,
            tls: None,
            frame_log: self.log,
        }
    }
}

/// The frame log's entry for a frame whose header was just read (its preview fills later).
fn logged(seen: &Seen, peer: Peer) -> LoggedFrame {
    let h = &seen.header;
    let flags = u8::from(h.fin) << 7
        | u8::from(h.rsv1) << 6
        | u8::from(h.rsv2) << 5
        | u8::from(h.rsv3) << 4
        | u8::from(h.mask.is_some());
    LoggedFrame::new(
        seen.ts,
        seen.packet,
        peer,
        h.opcode.bits(),
        flags,
        h.payload_len,
    )
}

/// What a content observer is told at a message's (or control frame's) first header.
fn message_start(peer: Peer, seen: &Seen, compressed: bool) -> MessageStart {
    MessageStart {
        peer,
        opcode: seen.header.opcode,
        frame_len: seen.header.payload_len,
        fin: seen.header.fin,
        compressed,
        packet: seen.packet,
        ts: seen.ts,
    }
}

/// The session seen from one direction's walker.
struct Visit<'s> {
    session: &'s mut Session,
    peer: Peer,
}

impl FrameVisitor for Visit<'_> {
    fn bad_length(&mut self, packet: u64) {
        let s = &mut *self.session;
        if s.observed || s.dir(self.peer).clean_frames > 0 {
            rules::length_msb_set(self.peer, packet, &mut s.violations);
        }
        s.dir_mut(self.peer).stats.decoding_stopped = true;
    }

    fn header(&mut self, seen: Seen) -> Want {
        let s = &mut *self.session;
        if !s.observed && s.dir(self.peer).clean_frames == 0 && !plausible(&seen.header) {
            // A sniffed session's other direction started mid-packet: say nothing.
            s.dir_mut(self.peer).stats.decoding_stopped = true;
            return Want::Stop;
        }
        if s.on_header(self.peer, seen) {
            Want::Payload
        } else {
            Want::Skip
        }
    }

    fn data(&mut self, _seen: &Seen, plain: &[u8]) {
        self.session.message_bytes(self.peer, plain, false);
    }

    fn end(&mut self, seen: Seen, control: Option<&[u8]>, last: Option<Origin>) {
        let s = &mut *self.session;
        let op = seen.header.opcode;
        if matches!(op, Opcode::Text | Opcode::Binary | Opcode::Continuation) {
            if let Some(m) = s.dir_mut(self.peer).message.as_mut() {
                let (packet, ts) = last.map_or((seen.packet, seen.ts), |o| (o.packet, o.ts));
                m.frame_read_to(packet, ts);
            }
        }
        s.end_of_frame(self.peer, seen, control);
        if op.is_control() {
            s.deliver_control(self.peer, &seen, control.unwrap_or_default(), last);
        }
    }
}

/// Severity helper for the line output: whether a record has anything above info.
#[must_use]
pub fn has_problems(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity > Severity::Info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FRAME_LOG_HEAD, FRAME_LOG_TAIL};
    use crate::websocket::testing::{clean_close, client, close, codes, end, feed, plain, server};

    /// Feeds `bytes` to `peer` as carried by one packet at `ms` milliseconds.
    fn feed_at(s: &mut Session, peer: Peer, bytes: &[u8], ms: i64) {
        let origin = |_: usize| {
            Some(Origin {
                offset: 0,
                packet: 1,
                ts: Timestamp(ms * 1_000_000),
            })
        };
        let mut buf = bytes.to_vec();
        while let Step::Consume(n) = s.step(peer, &buf, &origin) {
            buf.drain(..usize::try_from(n).unwrap().min(buf.len()));
            if buf.is_empty() {
                break;
            }
        }
    }

    /// The record of `s` torn down by a server FIN at `ms` milliseconds.
    fn server_fin_at(s: Session, ms: i64) -> ConnectionRecord {
        let tcp = TcpEnd {
            ending: crate::event::Ending::ServerFin,
            at: Timestamp(ms * 1_000_000),
            rst: false,
        };
        s.finish(tcp, Some(Peer::Server))
    }

    #[test]
    fn the_silence_before_the_teardown_ends_at_the_last_frame_before_it() {
        // The server falls silent after its message at 1 s and sends FIN at 61 s; the
        // client's close frame answers that FIN at 61.2 s. The silence is the 60 s before
        // the FIN (it was 0: measured from the late close).
        let mut s = plain();
        feed_at(&mut s, Peer::Client, &client(0x81, b"hi"), 500);
        feed_at(&mut s, Peer::Server, &server(0x81, b"hi"), 1_000);
        feed_at(
            &mut s,
            Peer::Client,
            &client(0x88, &close(1000, "bye")),
            61_200,
        );
        let r = server_fin_at(s, 61_000);
        assert_eq!(r.idle_before_end_ms, Some(60_000.0));
        assert_eq!(r.ending, ConnectionEnding::FinWithoutClose);
        // Both closes after the teardown: the first one's predecessor.
        let mut s = plain();
        feed_at(&mut s, Peer::Server, &server(0x81, b"hi"), 1_000);
        feed_at(
            &mut s,
            Peer::Client,
            &client(0x88, &close(1000, "bye")),
            3_000,
        );
        feed_at(
            &mut s,
            Peer::Server,
            &server(0x88, &close(1000, "bye")),
            3_100,
        );
        assert_eq!(server_fin_at(s, 2_000).idle_before_end_ms, Some(1_000.0));
        // A close before the teardown and its answer after: up to that close.
        let mut s = plain();
        feed_at(
            &mut s,
            Peer::Client,
            &client(0x88, &close(1000, "bye")),
            1_000,
        );
        feed_at(
            &mut s,
            Peer::Server,
            &server(0x88, &close(1000, "bye")),
            1_500,
        );
        assert_eq!(server_fin_at(s, 1_200).idle_before_end_ms, Some(200.0));
        // A data frame after the teardown, before the late close: the frame before it is
        // not known, and no silence is made up.
        let mut s = plain();
        feed_at(&mut s, Peer::Server, &server(0x81, b"hi"), 1_000);
        feed_at(&mut s, Peer::Client, &client(0x81, b"late"), 3_000);
        feed_at(
            &mut s,
            Peer::Client,
            &client(0x88, &close(1000, "bye")),
            3_100,
        );
        assert_eq!(server_fin_at(s, 2_000).idle_before_end_ms, Some(0.0));
        // Nothing after the teardown: as always, from the last frame.
        let mut s = plain();
        feed_at(&mut s, Peer::Server, &server(0x81, b"hi"), 1_000);
        assert_eq!(server_fin_at(s, 4_000).idle_before_end_ms, Some(3_000.0));
    }

    #[test]
    fn clean_session_has_no_findings() {
        let mut s = plain();
        feed(&mut s, Peer::Client, &client(0x81, b"hello"));
        feed(&mut s, Peer::Server, &server(0x81, b"hello"));
        clean_close(&mut s);
        let r = end(s);
        assert!(r.findings.is_empty(), "{:?}", codes(&r));
        assert_eq!(r.ending, ConnectionEnding::Clean);
        assert_eq!(r.client_to_server.preview.as_deref(), Some("hello"));
        assert_eq!(r.close.initiator, Some(Peer::Client));
    }

    #[test]
    fn skipped_payloads_are_counted_without_being_read() {
        // A 1 MiB binary frame: the walker consumes it in one step past the header.
        let mut s = plain();
        let header = [0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 0];
        feed(&mut s, Peer::Server, &server(0x82, b"first")); // takes the preview
        assert_eq!(
            s.step(Peer::Server, &header, &|_| None),
            Step::Consume(10 + (1 << 20))
        );
        let r = end(s);
        assert_eq!(r.server_to_client.binary_bytes, 5 + (1 << 20));
        assert_eq!(
            r.server_to_client.preview.as_deref(),
            Some("66 69 72 73 74")
        );
    }

    #[test]
    fn a_lost_header_stops_the_direction_and_is_reported_as_a_gap() {
        let mut s = plain();
        feed(&mut s, Peer::Server, &server(0x81, b"one"));
        s.lost(Peer::Server, 100, 7);
        s.lost_in_payload(20, 8);
        assert_eq!(
            s.step(Peer::Server, &server(0x81, b"two"), &|_| None),
            Step::Stop
        );
        // The other direction is still decoded.
        feed(&mut s, Peer::Client, &client(0x81, b"hi"));
        let r = end(s);
        assert!(r.server_to_client.decoding_stopped);
        assert!(!r.client_to_server.decoding_stopped);
        assert_eq!(r.server_to_client.messages, 1);
        assert_eq!(r.client_to_server.messages, 1);
        let gap = r
            .findings
            .iter()
            .find(|f| f.code == Code::CaptureGap)
            .unwrap();
        assert!(gap.message.starts_with("120 bytes"), "{}", gap.message);
        assert_eq!(gap.packets, [7, 8]);
    }

    #[test]
    fn a_sniffed_direction_that_starts_mid_frame_is_dropped_silently() {
        let mut s = Session::sniffed(Timestamp(0), 1 << 20);
        // RSV2 and a reserved opcode: garbage from the middle of a frame.
        assert_eq!(
            s.step(Peer::Client, &[0xa3, 0x01, 0x00], &|_| None),
            Step::Stop
        );
        feed(&mut s, Peer::Server, &server(0x81, b"tick"));
        let r = end(s);
        assert!(r.client_to_server.decoding_stopped);
        assert_eq!(r.client_to_server.frames, 0);
        assert_eq!(codes(&r), ["close_frame_missing", "handshake_not_observed"]);
    }

    #[test]
    fn a_missed_opening_is_worded_for_the_protocol_that_opened_it() {
        let message = |s: Session| {
            let mut s = s;
            feed(&mut s, Peer::Server, &server(0x81, b"tick"));
            let r = end(s);
            r.findings
                .iter()
                .find(|f| f.code == Code::HandshakeNotObserved)
                .map(|f| f.message.clone())
                .unwrap_or_default()
        };
        let h1 = message(Session::sniffed(Timestamp(0), 1 << 20));
        assert!(h1.ends_with("the capture started after the 101"), "{h1}");
        // HTTP/2 has no 101: what is missing is the extended CONNECT and its 200.
        let h2 =
            message(Session::sniffed(Timestamp(0), 1 << 20).opened_by(OpenedBy::ExtendedConnect));
        assert!(
            h2.contains("after this HTTP/2 stream's extended CONNECT and the :status 200")
                && !h2.contains("after the 101"),
            "{h2}"
        );
        let undecoded = message(
            Session::sniffed(Timestamp(0), 1 << 20).opened_by(OpenedBy::ExtendedConnectUndecoded),
        );
        assert!(
            undecoded.contains("request was captured but not all its fields could be decoded")
                && !undecoded.contains("after the 101"),
            "{undecoded}"
        );
    }

    #[test]
    fn memory_counts_live_inflaters_only() {
        let params = deflate_params(&["permessage-deflate".to_owned()]);
        let mut s = Session::new(Timestamp(0), params, 1 << 20);
        assert_eq!(s.memory(), 0);
        // A compressed message creates the server's inflater; a lost stream drops it.
        feed(&mut s, Peer::Server, &server(0xc1, &[0x4a, 0x04, 0x00]));
        assert!(s.memory() > 0);
        s.lost(Peer::Server, 1, 1);
        assert_eq!(s.memory(), s.log_memory(), "only the frame log is left");
    }

    #[test]
    fn the_frame_log_keeps_frames_with_previews_and_the_close() {
        let mut s = plain().with_frame_log(true);
        feed(&mut s, Peer::Client, &client(0x81, b"hello there"));
        feed(&mut s, Peer::Server, &server(0x82, &[1, 2, 3]));
        feed(&mut s, Peer::Server, &server(0x89, b"hb"));
        clean_close(&mut s);
        let r = end(s);
        let (frames, split) = r.frame_log.in_time_order();
        assert_eq!(split, None);
        let words: Vec<(Peer, String, u64, String)> = frames
            .iter()
            .map(|f| (f.peer, f.opcode_name(), f.payload_len, f.flag_words()))
            .collect();
        assert_eq!(
            words[0],
            (Peer::Client, "text".into(), 11, "FIN MASK".into())
        );
        assert_eq!(frames[0].preview(), b"hello there");
        // A skipped binary payload leaves the preview empty unless the session read it (the
        // first message of a direction is read for its preview).
        assert_eq!(words[1], (Peer::Server, "binary".into(), 3, "FIN".into()));
        assert_eq!(frames[2].preview(), b"hb", "control payloads are kept");
        let close = frames.iter().find(|f| f.is_close()).unwrap();
        assert_eq!(close.close_code, r.close.client.as_ref().unwrap().code);
        assert_eq!(
            close.preview(),
            r.close.client.as_ref().unwrap().reason.as_bytes()
        );
        assert_eq!(
            frames.len() as u64,
            r.client_to_server.frames + r.server_to_client.frames
        );
    }

    #[test]
    fn the_frame_log_is_bounded_and_counted_in_memory() {
        let mut s = plain().with_frame_log(true);
        let before = s.memory();
        for _ in 0..1000 {
            feed(&mut s, Peer::Server, &server(0x81, b"tick"));
        }
        assert!(s.memory() > before);
        assert!(
            s.memory()
                <= before + (FRAME_LOG_HEAD + FRAME_LOG_TAIL) * std::mem::size_of::<LoggedFrame>()
        );
        let r = end(s);
        assert_eq!(r.frame_log.len(), FRAME_LOG_HEAD + FRAME_LOG_TAIL);
        assert_eq!(
            r.frame_log.omitted,
            1000 - (FRAME_LOG_HEAD + FRAME_LOG_TAIL) as u64
        );
    }

    #[test]
    fn a_full_budget_keeps_the_frame_log_from_growing() {
        let mut s = plain().with_frame_log(true);
        s.set_room(0);
        feed(&mut s, Peer::Server, &server(0x81, b"tick"));
        assert_eq!(s.memory(), 0);
        let r = end(s);
        assert!(r.frame_log.refused);
        assert_eq!((r.frame_log.len(), r.frame_log.omitted), (0, 1));
    }

    #[test]
    fn without_the_frame_log_nothing_is_logged() {
        let mut s = plain();
        feed(&mut s, Peer::Server, &server(0x81, b"tick"));
        let r = end(s);
        assert!(r.frame_log.is_empty());
    }

    #[test]
    fn has_problems_ignores_info_findings() {
        assert!(!has_problems(&[Finding::new(
            Code::HandshakeNotObserved,
            "x"
        )]));
        assert!(has_problems(&[Finding::new(
            Code::FrameClientUnmasked,
            "x"
        )]));
    }
}
