//! A WebSocket connection after the switch: RFC 6455 frames in both directions, walked header
//! by header, and the connection's story (counters, close handshake, how it ended, findings).
//!
//! The exchange layer hands each direction's reassembled bytes to [`Session::step`], which
//! answers how many bytes to consume. Data payloads are skipped with a consume past the end of
//! the buffer, so the reassembly layer drops them on arrival without copying; only control
//! payloads (at most 125 bytes kept), the start of the first message (the preview) and text
//! messages being checked for UTF-8 are looked at, through a fixed scratch buffer. State per
//! direction is a handful of counters, so a connection with millions of frames is O(1) memory.
//!
//! ```text
//!   Header ──parse_header──▶ payload wanted? ──no──▶ consume(frame) ──▶ Header
//!     ▲                           │ yes
//!     └──── end of frame ◀── Payload (unmask into scratch → close body / UTF-8 / inflate)
//! ```
//!
//! permessage-deflate (RFC 7692) messages are inflated only to check text for UTF-8 and to
//! fill the preview, and only within [`MAX_INFLATE_PER_DIRECTION`]; past it the inflater is
//! dropped (with context takeover it cannot be restarted) and the check stops.
//!
//! Never does I/O; time is capture time.

use flate2::{Decompress, FlushDecompress, Status};

use crate::capture::Timestamp;
use crate::event::{
    CloseFrame, CloseInfo, ConnectionEnding, ConnectionRecord, DeflateParams, DirectionStats,
    Ending, Intervals, Peer,
};
use crate::finding::{Code, Evidence, Finding, FrameSender, Severity};
use crate::tcp::reassembly::Origin;
use crate::websocket::frame::{
    close_code_kind, close_code_meaning, parse_close, parse_header, unmask, CloseCodeKind,
    FrameError, FrameHeader, Opcode,
};

/// Text bytes of one message checked for UTF-8; the rest of a longer message is not checked.
pub const MAX_UTF8_CHECK: u64 = 1024 * 1024;
/// Inflated bytes produced for one message before its check is abandoned (bomb guard).
pub const MAX_INFLATE_PER_MESSAGE: u64 = 1024 * 1024;
/// Inflated bytes per direction before the inflater (≈45 KiB with its 32 KiB window) is
/// dropped for good: bounds both time and memory on long compressed connections.
pub const MAX_INFLATE_PER_DIRECTION: u64 = 16 * 1024 * 1024;
/// Bytes of the first data message kept as the preview.
pub const PREVIEW_BYTES: usize = 48;
/// Longest control payload (RFC 6455 §5.5); longer ones are kept only this far.
const MAX_CONTROL_PAYLOAD: usize = 125;
/// Frames that must chain without fault before a flow without a visible handshake is taken
/// for WebSocket.
pub const MIN_SNIFF_FRAMES: usize = 3;
/// Largest payload a sniffed frame may declare: a flow of random bytes claims huge lengths.
const MAX_SNIFF_PAYLOAD: u64 = 16 * 1024 * 1024;
/// Evidence frame numbers kept per finding.
const MAX_EVIDENCE_PACKETS: usize = 4;
/// Silence before a teardown that can be an idle timeout.
const MIN_IDLE_SECONDS: f64 = 1.0;

/// What the consumer should do with the stream after a [`Session::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Drop this many bytes from the front (may run past the buffered bytes).
    Consume(u64),
    /// Nothing more can be decoded until more bytes arrive.
    NeedMore,
    /// This direction is no longer decoded.
    Stop,
}

/// How the TCP connection ended, as the exchange layer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpEnd {
    /// First FIN or RST, or the capture end / eviction.
    pub ending: Ending,
    /// When.
    pub at: Timestamp,
    /// Whether an RST was seen at any point.
    pub rst: bool,
}

/// A frame header with where it came from.
#[derive(Clone, Copy, Debug)]
struct Seen {
    header: FrameHeader,
    packet: u64,
    ts: Timestamp,
}

#[derive(Debug)]
enum Walk {
    Header,
    Payload {
        seen: Seen,
        remaining: u64,
        offset: u64,
        /// Kept payload of a control frame.
        control: Option<Vec<u8>>,
    },
    Stopped,
}

/// Incremental UTF-8 validation across frames and chunks (RFC 6455 §8.1).
#[derive(Clone, Copy, Debug, Default)]
struct Utf8Check {
    pending: [u8; 4],
    pending_len: usize,
    invalid: bool,
}

impl Utf8Check {
    fn feed(&mut self, mut chunk: &[u8]) {
        while self.pending_len > 0 && !self.invalid {
            let Some((&b, rest)) = chunk.split_first() else {
                return;
            };
            chunk = rest;
            if let Some(slot) = self.pending.get_mut(self.pending_len) {
                *slot = b;
            }
            self.pending_len += 1;
            match std::str::from_utf8(self.pending.get(..self.pending_len).unwrap_or_default()) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() || self.pending_len >= 4 => self.invalid = true,
                Err(_) => {}
            }
        }
        if self.invalid {
            return;
        }
        if let Err(e) = std::str::from_utf8(chunk) {
            if e.error_len().is_some() {
                self.invalid = true;
            } else {
                let tail = chunk.get(e.valid_up_to()..).unwrap_or_default();
                for (slot, b) in self.pending.iter_mut().zip(tail) {
                    *slot = *b;
                }
                self.pending_len = tail.len().min(3);
            }
        }
    }

    fn valid_at_end(&self) -> bool {
        !self.invalid && self.pending_len == 0
    }
}

#[derive(Debug)]
struct Message {
    text: bool,
    compressed: bool,
    len: u64,
    frames: u64,
    first_frame: u64,
    /// `None` when not checked (too long, compressed without an inflater, …).
    utf8: Option<Utf8Check>,
    inflated: u64,
    preview: Option<Vec<u8>>,
}

/// One direction's decoder and counters.
#[derive(Debug)]
struct Direction {
    walk: Walk,
    message: Option<Message>,
    stats: DirectionStats,
    last_ping: Option<Timestamp>,
    ping_ns: (u64, i64, i64, i64),
    close_sent: bool,
    inflater: Option<Box<Decompress>>,
    inflate_budget: u64,
    /// Frames decoded without fault so far (a sniffed session drops a direction that starts
    /// mid-frame silently instead of reporting nonsense).
    clean_frames: u64,
}

impl Direction {
    fn new() -> Self {
        Direction {
            walk: Walk::Header,
            message: None,
            stats: DirectionStats::default(),
            last_ping: None,
            ping_ns: (0, i64::MAX, 0, 0),
            close_sent: false,
            inflater: None,
            inflate_budget: MAX_INFLATE_PER_DIRECTION,
            clean_frames: 0,
        }
    }
}

#[derive(Debug)]
struct Violation {
    code: Code,
    peer: Peer,
    count: u64,
    message: String,
    packets: Vec<u64>,
}

/// The finding vocabulary's name for the end that sent a frame.
fn sender(peer: Peer) -> FrameSender {
    match peer {
        Peer::Client => FrameSender::Client,
        Peer::Server => FrameSender::Server,
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
    start: Timestamp,
    deflate: Option<DeflateParams>,
    max_payload: u64,
    dirs: [Direction; 2],
    close: CloseInfo,
    last_frame_ts: Option<Timestamp>,
    max_silence_ns: i64,
    violations: Vec<Violation>,
    gaps: u64,
    gap_packets: Vec<u64>,
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
            start,
            deflate,
            max_payload,
            dirs: [Direction::new(), Direction::new()],
            close: CloseInfo::default(),
            last_frame_ts: None,
            max_silence_ns: 0,
            violations: Vec::new(),
            gaps: 0,
            gap_packets: Vec::new(),
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

    /// Links this session to the handshake record that opened it.
    pub fn set_handshake(&mut self, id: u64, failed: bool) {
        self.handshake_id = Some(id);
        self.handshake_failed = failed;
    }

    /// Bytes held (memory accounting): the inflaters, when alive.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.dirs
            .iter()
            .filter(|d| d.inflater.is_some())
            .count()
            .saturating_mul(48 * 1024)
    }

    /// Bytes of `peer`'s stream were lost inside a frame header (or a payload being read):
    /// decoding of that direction stops, as nothing says where the next frame begins.
    pub fn lost(&mut self, peer: Peer, bytes: u64, packet: u64) {
        self.gaps = self.gaps.saturating_add(bytes);
        if packet != 0 && self.gap_packets.len() < MAX_EVIDENCE_PACKETS {
            self.gap_packets.push(packet);
        }
        let d = self.dir_mut(peer);
        if !matches!(d.walk, Walk::Stopped) {
            d.walk = Walk::Stopped;
            d.stats.decoding_stopped = true;
            d.inflater = None;
        }
    }

    /// Bytes of `peer`'s stream were lost inside payload that was being skipped: counters
    /// stay right, but the evidence is incomplete.
    pub fn lost_in_payload(&mut self, bytes: u64, packet: u64) {
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

    fn violation(&mut self, code: Code, peer: Peer, packet: u64, message: impl FnOnce() -> String) {
        if let Some(v) = self
            .violations
            .iter_mut()
            .find(|v| v.code == code && v.peer == peer)
        {
            v.count += 1;
            if v.packets.len() < MAX_EVIDENCE_PACKETS {
                v.packets.push(packet);
            }
            return;
        }
        // One entry per (code, peer): bounded by the catalogue size.
        self.violations.push(Violation {
            code,
            peer,
            count: 1,
            message: message(),
            packets: vec![packet],
        });
    }

    /// Decodes what it can of `peer`'s buffered bytes `data`; `origin(i)` says which capture
    /// frame carried `data[i]`.
    pub fn step(
        &mut self,
        peer: Peer,
        data: &[u8],
        origin: &dyn Fn(usize) -> Option<Origin>,
    ) -> Step {
        if data.is_empty() {
            return Step::NeedMore;
        }
        let walk = std::mem::replace(&mut self.dir_mut(peer).walk, Walk::Stopped);
        match walk {
            Walk::Stopped => Step::Stop,
            Walk::Header => match parse_header(data) {
                Ok(None) => {
                    self.dir_mut(peer).walk = Walk::Header;
                    Step::NeedMore
                }
                Err(FrameError::LengthMsbSet) => {
                    let frame = origin(0).map_or(0, |o| o.packet);
                    if self.observed || self.dir(peer).clean_frames > 0 {
                        self.violation(Code::FrameLengthInvalid, peer, frame, || {
                            format!("the {} sent a 64-bit frame length with its most significant bit set (RFC 6455 §5.2); decoding stopped", peer.as_str())
                        });
                    }
                    self.dir_mut(peer).stats.decoding_stopped = true;
                    Step::Stop
                }
                Ok(Some(header)) => {
                    let o = origin(0);
                    let seen = Seen {
                        header,
                        packet: o.map_or(0, |o| o.packet),
                        ts: o.map_or(self.start, |o| o.ts),
                    };
                    if !self.observed && self.dir(peer).clean_frames == 0 && !plausible(&header) {
                        // A sniffed session's other direction started mid-packet: say nothing.
                        self.dir_mut(peer).stats.decoding_stopped = true;
                        return Step::Stop;
                    }
                    let want = self.on_header(peer, seen);
                    if header.payload_len == 0 {
                        self.end_of_frame(peer, seen, None);
                        self.dir_mut(peer).walk = Walk::Header;
                        return Step::Consume(header.header_len as u64);
                    }
                    if want {
                        let control = header.opcode.is_control().then(Vec::new);
                        self.dir_mut(peer).walk = Walk::Payload {
                            seen,
                            remaining: header.payload_len,
                            offset: 0,
                            control,
                        };
                        Step::Consume(header.header_len as u64)
                    } else {
                        self.end_of_frame(peer, seen, None);
                        self.dir_mut(peer).walk = Walk::Header;
                        Step::Consume(header.frame_len())
                    }
                }
            },
            Walk::Payload {
                seen,
                remaining,
                offset,
                mut control,
            } => {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let chunk = data.get(..n).unwrap_or_default();
                self.payload_chunk(peer, &seen, chunk, offset, control.as_mut());
                let remaining = remaining - n as u64;
                if remaining == 0 {
                    self.end_of_frame(peer, seen, control.as_deref());
                    self.dir_mut(peer).walk = Walk::Header;
                } else {
                    self.dir_mut(peer).walk = Walk::Payload {
                        seen,
                        remaining,
                        offset: offset + n as u64,
                        control,
                    };
                }
                Step::Consume(n as u64)
            }
        }
    }

    /// Counts and checks a header; returns whether its payload must be read.
    fn on_header(&mut self, peer: Peer, seen: Seen) -> bool {
        let h = seen.header;
        let frame = seen.packet;
        let p = peer.as_str();
        // Silence between frames in either direction (idle-timeout evidence).
        let prev = self.last_frame_ts.unwrap_or(self.start);
        self.max_silence_ns = self.max_silence_ns.max(seen.ts.nanos_since(prev));
        self.last_frame_ts = Some(self.last_frame_ts.map_or(seen.ts, |t| t.max(seen.ts)));
        let start = self.start;
        let observed = self.observed;
        let deflate = self.deflate;
        let max_payload = self.max_payload;
        {
            let d = self.dir_mut(peer);
            d.clean_frames += 1;
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
                Opcode::Close => s.closes += 1,
                _ => {}
            }
        }
        // RFC 6455 §5.1/§5.3: client frames MUST be masked, server frames MUST NOT be.
        match (peer, h.mask.is_some()) {
            (Peer::Client, false) => self.violation(Code::FrameClientUnmasked, peer, frame, || {
                "the client sent a frame without a mask (RFC 6455 §5.1: the server must close with 1002)".to_owned()
            }),
            (Peer::Server, true) => self.violation(Code::FrameServerMasked, peer, frame, || {
                "the server sent a masked frame (RFC 6455 §5.1: the client must close the connection)".to_owned()
            }),
            _ => {}
        }
        // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them; RFC 7692 §6
        // gives RSV1 to permessage-deflate, on the first frame of a data message only.
        let rsv1_ok = deflate.is_some() && matches!(h.opcode, Opcode::Text | Opcode::Binary);
        if h.rsv2 || h.rsv3 || (h.rsv1 && !rsv1_ok && observed) {
            let why = if h.rsv2 || h.rsv3 {
                "RSV2/RSV3, which no negotiated extension defines".to_owned()
            } else if deflate.is_none() {
                "RSV1 although permessage-deflate was not negotiated".to_owned()
            } else {
                format!(
                    "RSV1 on a {} frame (RFC 7692 §6: only the first frame of a data message)",
                    h.opcode.name()
                )
            };
            self.violation(Code::FrameRsvUnnegotiated, peer, frame, || {
                format!("the {p} set {why}")
            });
        }
        if let Opcode::Reserved(op) = h.opcode {
            self.violation(Code::FrameOpcodeUnknown, peer, frame, || {
                format!("the {p} sent reserved opcode 0x{op:x} (RFC 6455 §5.2)")
            });
        }
        if h.non_minimal_length {
            self.violation(Code::FrameLengthInvalid, peer, frame, || {
                format!("the {p} encoded a {}-byte payload length in more bytes than needed (RFC 6455 §5.2: the minimal number of bytes MUST be used)", h.payload_len)
            });
        }
        if h.opcode.is_control() && (h.payload_len > MAX_CONTROL_PAYLOAD as u64 || !h.fin) {
            let why = if h.fin {
                format!("{} bytes long (at most 125)", h.payload_len)
            } else {
                "fragmented (FIN not set)".to_owned()
            };
            self.violation(Code::FrameControlInvalid, peer, frame, || {
                format!(
                    "the {p} sent a {} frame {why} (RFC 6455 §5.5)",
                    h.opcode.name()
                )
            });
        }
        if h.payload_len > max_payload {
            self.violation(Code::FrameTooLarge, peer, frame, || {
                format!(
                    "the {p} sent a {}-byte frame, over the {max_payload}-byte limit (--max-payload)",
                    h.payload_len
                )
            });
        }
        let data_frame = matches!(
            h.opcode,
            Opcode::Text | Opcode::Binary | Opcode::Continuation
        );
        if data_frame && self.dir(peer).close_sent {
            self.violation(Code::FrameAfterClose, peer, frame, || {
                format!(
                    "the {p} sent a {} frame after its close frame (RFC 6455 §5.5.1)",
                    h.opcode.name()
                )
            });
        }
        if h.opcode.is_control() {
            return h.payload_len > 0;
        }
        match h.opcode {
            Opcode::Continuation if self.dir(peer).message.is_none() => {
                // A sniffed stream may begin inside a fragmented message.
                if observed || self.dir(peer).stats.frames > 1 {
                    self.violation(Code::FrameContinuationUnexpected, peer, frame, || {
                        format!("the {p} sent a continuation frame with no message to continue (RFC 6455 §5.4)")
                    });
                }
                return false;
            }
            Opcode::Text | Opcode::Binary => {
                if self.dir(peer).message.is_some() {
                    self.violation(Code::FrameContinuationUnexpected, peer, frame, || {
                        format!("the {p} started a new {} message inside a fragmented one (RFC 6455 §5.4)", h.opcode.name())
                    });
                    self.dir_mut(peer).message = None;
                }
                let compressed = h.rsv1 && deflate.is_some();
                let first =
                    self.dir(peer).stats.messages == 0 && self.dir(peer).stats.preview.is_none();
                let d = self.dir_mut(peer);
                if compressed && d.inflater.is_none() && d.inflate_budget > 0 {
                    // Created on first use; miniz's 32 KiB window inflates any negotiated size.
                    d.inflater = Some(Box::new(Decompress::new(false)));
                }
                let text = h.opcode == Opcode::Text;
                // RSV1 without known deflate (a sniffed session, or a violation already
                // reported): the payload's encoding is unknown, so it is not judged.
                let opaque = h.rsv1 && !compressed;
                let checkable = !opaque && (!compressed || d.inflater.is_some());
                d.message = Some(Message {
                    text,
                    compressed,
                    len: 0,
                    frames: 0,
                    first_frame: frame,
                    utf8: (text && checkable).then(Utf8Check::default),
                    inflated: 0,
                    preview: (first && checkable).then(Vec::new),
                });
            }
            _ => {}
        }
        self.wants_payload(peer)
    }

    /// Whether the current data message needs its payload bytes.
    fn wants_payload(&self, peer: Peer) -> bool {
        let d = self.dir(peer);
        d.message.as_ref().is_some_and(|m| {
            // With context takeover every compressed message must go through the inflater.
            (m.compressed && d.inflater.is_some())
                || m.utf8.is_some()
                || m.preview.as_ref().is_some_and(|p| p.len() < PREVIEW_BYTES)
        })
    }

    fn payload_chunk(
        &mut self,
        peer: Peer,
        seen: &Seen,
        chunk: &[u8],
        offset: u64,
        control: Option<&mut Vec<u8>>,
    ) {
        let mask = seen.header.mask;
        let mut scratch = [0u8; 4096];
        let mut done = 0u64;
        let mut control = control;
        for piece in chunk.chunks(scratch.len()) {
            let Some(buf) = scratch.get_mut(..piece.len()) else {
                return;
            };
            buf.copy_from_slice(piece);
            if let Some(key) = mask {
                unmask(buf, key, offset + done);
            }
            done += piece.len() as u64;
            if let Some(c) = control.as_deref_mut() {
                let room = MAX_CONTROL_PAYLOAD.saturating_sub(c.len());
                c.extend_from_slice(buf.get(..room.min(buf.len())).unwrap_or_default());
                continue;
            }
            self.message_bytes(peer, buf, false);
        }
    }

    /// Feeds unmasked payload bytes of the current data message (or the RFC 7692 tail when
    /// `tail` is set) to the inflater, the UTF-8 check and the preview.
    fn message_bytes(&mut self, peer: Peer, bytes: &[u8], tail: bool) {
        let d = self.dir_mut(peer);
        let Some(m) = d.message.as_mut() else {
            return;
        };
        if !m.compressed {
            if !tail {
                consume_plain(m, bytes);
            }
            return;
        }
        let Some(inflater) = d.inflater.as_mut() else {
            m.utf8 = None;
            return;
        };
        let mut out = [0u8; 4096];
        let mut input = bytes;
        let mut failed = false;
        let mut over = false;
        // Each round consumes input or produces output; the bound is a safety net.
        for _ in 0..100_000 {
            let before_in = inflater.total_in();
            let before_out = inflater.total_out();
            let flush = if tail {
                FlushDecompress::Sync
            } else {
                FlushDecompress::None
            };
            let status = inflater.decompress(input, &mut out, flush);
            let used = usize::try_from(inflater.total_in() - before_in).unwrap_or(usize::MAX);
            let made = usize::try_from(inflater.total_out() - before_out).unwrap_or(0);
            input = input.get(used..).unwrap_or_default();
            m.inflated = m.inflated.saturating_add(made as u64);
            d.inflate_budget = d.inflate_budget.saturating_sub(made as u64);
            consume_plain(m, out.get(..made).unwrap_or_default());
            if m.inflated > MAX_INFLATE_PER_MESSAGE || d.inflate_budget == 0 {
                over = true;
                break;
            }
            match status {
                Err(_) => {
                    failed = true;
                    break;
                }
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    if input.is_empty() && made < out.len() {
                        break;
                    }
                    if used == 0 && made == 0 {
                        break;
                    }
                }
            }
        }
        if failed || over {
            // The shared window is now unknown: nothing later in this direction can be
            // inflated (RFC 7692 §7.2.3 context takeover), so stop for good.
            d.inflater = None;
            m.utf8 = None;
            if over {
                d.inflate_budget = 0;
            }
        }
        if failed {
            let frame = m.first_frame;
            let p = peer.as_str();
            self.violation(Code::InflateFailed, peer, frame, || {
                format!("a compressed message from the {p} could not be inflated (RFC 7692 §7.2.2); later messages in that direction were not checked")
            });
        }
    }

    fn end_of_frame(&mut self, peer: Peer, seen: Seen, control: Option<&[u8]>) {
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
            self.message_bytes(peer, &[0x00, 0x00, 0xff, 0xff], true);
            let reset = self.deflate.is_some_and(|p| match peer {
                Peer::Client => p.client_no_context_takeover,
                Peer::Server => p.server_no_context_takeover,
            });
            if reset {
                if let Some(i) = self.dir_mut(peer).inflater.as_mut() {
                    i.reset(false);
                }
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
        // RFC 6455 §8.1: a text message that is not UTF-8 must fail the connection (1007).
        if m.utf8.is_some_and(|u| !u.valid_at_end()) {
            let p = peer.as_str();
            let how = if m.compressed {
                " (after inflating)"
            } else {
                ""
            };
            self.violation(Code::TextInvalidUtf8, peer, m.first_frame, || {
                format!("the {p} sent a text message that is not valid UTF-8{how}")
            });
        }
    }

    fn on_close(&mut self, peer: Peer, seen: Seen, payload: &[u8]) {
        let body = parse_close(payload);
        let p = peer.as_str();
        let frame = seen.packet;
        if body.one_byte {
            self.violation(Code::CloseFrameInvalid, peer, frame, || {
                format!("the {p} sent a 1-byte close payload (RFC 6455 §5.5.1: a body starts with a 2-byte code)")
            });
        } else if !body.reason_utf8 {
            self.violation(Code::CloseFrameInvalid, peer, frame, || {
                format!("the {p}'s close reason is not valid UTF-8 (RFC 6455 §5.5.1)")
            });
        }
        if let Some(code) = body.code {
            match close_code_kind(code) {
                CloseCodeKind::ReservedLocal => {
                    self.violation(Code::CloseCodeReserved, peer, frame, || {
                        format!("the {p} sent close code {code} ({}), which MUST NOT be sent (RFC 6455 §7.4.1)", close_code_meaning(code))
                    });
                }
                CloseCodeKind::Invalid => {
                    self.violation(Code::CloseFrameInvalid, peer, frame, || {
                        format!("the {p} sent close code {code}, which is not a valid code to send (RFC 6455 §7.4)")
                    });
                }
                _ => {}
            }
        }
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
                packet: frame,
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
    pub fn finish(mut self, tcp: TcpEnd, closer: Option<Peer>) -> ConnectionRecord {
        let end = tcp.at.max(self.start);
        let ending = match tcp.ending {
            Ending::CaptureEnded => ConnectionEnding::Open,
            Ending::Evicted => ConnectionEnding::Evicted,
            _ if tcp.rst => ConnectionEnding::Rst,
            _ if self.close.handshake_completed => ConnectionEnding::Clean,
            _ if self.close.initiator.is_some() => ConnectionEnding::CloseNotAnswered,
            _ => ConnectionEnding::FinWithoutClose,
        };
        let torn_down = !matches!(ending, ConnectionEnding::Open | ConnectionEnding::Evicted);
        let last = self.last_frame_ts.unwrap_or(self.start);
        let idle_ns = end.nanos_since(last).max(0);
        if torn_down {
            self.max_silence_ns = self.max_silence_ns.max(idle_ns);
        } else {
            self.max_silence_ns = self.max_silence_ns.max(end.nanos_since(last));
        }
        let mut findings = self.ending_findings(ending, closer, torn_down.then_some(idle_ns));
        for v in std::mem::take(&mut self.violations) {
            let message = if v.count > 1 {
                format!("{} ({} times)", v.message, v.count)
            } else {
                v.message
            };
            findings.push(Finding::new(v.code, message).packets(&v.packets).evidence(
                Evidence::Frames {
                    sender: sender(v.peer),
                },
            ));
        }
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
        if !self.observed {
            findings.push(Finding::new(
                Code::HandshakeNotObserved,
                "frames without a captured opening handshake: the capture started after the 101",
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
        }
    }

    fn ending_findings(
        &self,
        ending: ConnectionEnding,
        closer: Option<Peer>,
        idle_ns: Option<i64>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        // RFC 6455 §4.1: after a failed handshake the client must _Fail the WebSocket
        // Connection_ (drop TCP, no close frame); the handshake record already says why.
        let expected_drop = self.handshake_failed && !self.close.handshake_completed;
        let who = closer.map_or("one side", Peer::as_str);
        let closer_sent_close = closer.is_some_and(|p| self.dir(p).close_sent);
        #[allow(clippy::cast_precision_loss)]
        let idle_s = idle_ns.map(|n| n as f64 / 1e9);
        let idle = match idle_s {
            Some(s) if !closer_sent_close && !self.close.handshake_completed => idle_timeout(s),
            _ => None,
        };
        if expected_drop {
            // Nothing to add about how TCP ended: it is the failure itself.
        } else if let (Some(what), Some(s)) = (idle, idle_s) {
            out.push(Finding::new(
                Code::IdleTimeout,
                format!(
                    "the {who} tore the connection down ({}) after {s:.1} s with no frames and no close frame: {what}",
                    if ending == ConnectionEnding::Rst { "RST" } else { "FIN" }
                ),
            ));
        } else {
            match ending {
                ConnectionEnding::FinWithoutClose => out.push(Finding::new(
                    Code::CloseFrameMissing,
                    format!("the {who} closed TCP (FIN) without a close frame from either side; applications report 1006 (abnormal closure)"),
                )),
                ConnectionEnding::Rst => {
                    let when = if self.close.handshake_completed {
                        "after the close handshake"
                    } else if self.close.initiator.is_some() {
                        "during the close handshake"
                    } else {
                        "with no close frame; applications report 1006 (abnormal closure)"
                    };
                    out.push(Finding::new(
                        Code::ConnectionReset,
                        format!("the {who} reset the connection (RST) {when}"),
                    ));
                }
                ConnectionEnding::CloseNotAnswered => {
                    let init = self.close.initiator.unwrap_or(Peer::Client);
                    out.push(Finding::new(
                        Code::CloseNotAnswered,
                        format!(
                            "the {} sent a close frame but the {} never answered it before TCP closed (RFC 6455 §5.5.1)",
                            init.as_str(),
                            init.other().as_str()
                        ),
                    ));
                }
                _ => {}
            }
        }
        for (peer, cf) in [
            (Peer::Client, &self.close.client),
            (Peer::Server, &self.close.server),
        ] {
            let Some(cf) = cf else { continue };
            let Some(code) = cf.code else { continue };
            // An echoed code says nothing new: report the initiator's reason only.
            if self.close.initiator != Some(peer) {
                continue;
            }
            let reason = if cf.reason.is_empty() {
                String::new()
            } else {
                format!(" {:?}", cf.reason)
            };
            let code_kind = close_code_kind(code);
            let f = match code_kind {
                CloseCodeKind::Error => Finding::new(
                    Code::CloseError,
                    format!(
                        "the {} closed with {code} ({}){reason}",
                        peer.as_str(),
                        close_code_meaning(code)
                    ),
                ),
                CloseCodeKind::Application => Finding::new(
                    Code::CloseApplication,
                    format!(
                        "the {} closed with application code {code}{reason}",
                        peer.as_str()
                    ),
                ),
                _ => continue,
            };
            out.push(f.packets(&[cf.packet]).evidence(Evidence::CloseFrame {
                sender: sender(peer),
            }));
        }
        out
    }
}

/// Whether a teardown after `seconds` of silence looks like an intermediary's idle timer,
/// and which one. Timers fire on whole seconds after the last byte, so the silence lands
/// just past a round number.
fn idle_timeout(seconds: f64) -> Option<String> {
    if seconds < MIN_IDLE_SECONDS {
        return None;
    }
    let known: &[(f64, &str)] = &[
        (
            30.0,
            "30 s is the default backend timeout of Google Cloud load balancers",
        ),
        (
            60.0,
            "60 s is nginx's default proxy_read_timeout and the AWS ALB default idle timeout",
        ),
        (
            100.0,
            "100 s is Cloudflare's idle timeout for proxied WebSockets",
        ),
        (350.0, "350 s is the AWS NLB idle timeout"),
    ];
    for (n, what) in known {
        if seconds >= *n - 0.5 && seconds <= n * 1.03 + 0.5 {
            return Some(format!("likely an intermediary idle timeout ({what})"));
        }
    }
    let whole = seconds.floor();
    let past = seconds - whole;
    // A timer set to N s fires at N s plus scheduling delay: allow 0.5% or 100 ms past N.
    if past <= (0.005 * whole).max(0.1) {
        return Some(format!(
            "likely an idle timeout of {whole:.0} s in a proxy or load balancer (e.g. nginx proxy_read_timeout {whole:.0}s)"
        ));
    }
    None
}

/// Feeds plain (unmasked, inflated) message bytes to the UTF-8 check and the preview.
fn consume_plain(m: &mut Message, bytes: &[u8]) {
    if let Some(u) = m.utf8.as_mut() {
        let checked = if m.compressed { m.inflated } else { m.len };
        if checked > MAX_UTF8_CHECK {
            m.utf8 = None;
        } else {
            u.feed(bytes);
        }
    }
    if let Some(p) = m.preview.as_mut() {
        let room = PREVIEW_BYTES.saturating_sub(p.len());
        p.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }
}

fn preview_text(bytes: &[u8], text: bool) -> String {
    if text {
        // The preview may end inside a character: cut there rather than show U+FFFD.
        let valid = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        };
        valid.to_owned()
    } else {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A header a sane endpoint could send without any extension knowledge.
fn plausible(h: &FrameHeader) -> bool {
    !h.rsv2
        && !h.rsv3
        && !matches!(h.opcode, Opcode::Reserved(_))
        && (!h.opcode.is_control() || (h.fin && h.payload_len <= MAX_CONTROL_PAYLOAD as u64))
        && !h.non_minimal_length
        && h.payload_len <= MAX_SNIFF_PAYLOAD
}

/// What [`sniff`] makes of a flow's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameSniff {
    /// At least [`MIN_SNIFF_FRAMES`] sane frames chain from the first byte; `masked` says
    /// whether they were masked (then this direction is the client's).
    WebSocket {
        /// The frames carry a mask.
        masked: bool,
    },
    /// Not enough bytes to decide.
    NeedMore,
    /// Not a run of WebSocket frames.
    No,
}

/// Decides whether `data`, the first bytes seen of one direction of a flow whose handshake
/// was not captured, is a run of WebSocket frames: every header sane (no RSV2/RSV3, known
/// opcodes, unfragmented control frames of at most 125 bytes, minimal lengths, payloads
/// under 16 MiB), masking the same on every frame, continuation only inside a message, and
/// each frame ending exactly where the next begins. Complete unfragmented text frames must be
/// UTF-8 and close frames must carry a valid code, which random bulk data almost never does.
/// TLS records (`0x14`–`0x17`) and text protocols fail on the first byte.
#[must_use]
pub fn sniff(data: &[u8]) -> FrameSniff {
    let mut at = 0usize;
    let mut frames = 0usize;
    let mut masked = None;
    let mut in_message = false;
    let mut starts = 0usize;
    loop {
        let rest = data.get(at..).unwrap_or_default();
        let h = match parse_header(rest) {
            Err(_) => return FrameSniff::No,
            Ok(None) => return FrameSniff::NeedMore,
            Ok(Some(h)) => h,
        };
        if !plausible(&h) || *masked.get_or_insert(h.mask.is_some()) != h.mask.is_some() {
            return FrameSniff::No;
        }
        let data_frame = matches!(
            h.opcode,
            Opcode::Text | Opcode::Binary | Opcode::Continuation
        );
        // RSV1 only on a message's first frame (the one extension that uses it), and no
        // sender emits an empty non-final fragment.
        let rsv1_ok = !h.rsv1 || matches!(h.opcode, Opcode::Text | Opcode::Binary);
        if !rsv1_ok || (data_frame && !h.fin && h.payload_len == 0) {
            return FrameSniff::No;
        }
        match h.opcode {
            Opcode::Continuation if !in_message && frames > 0 => return FrameSniff::No,
            Opcode::Text | Opcode::Binary if in_message => return FrameSniff::No,
            Opcode::Text | Opcode::Binary | Opcode::Continuation => in_message = !h.fin,
            _ => {}
        }
        if h.opcode != Opcode::Continuation {
            starts += 1;
        }
        let len = usize::try_from(h.frame_len()).unwrap_or(usize::MAX);
        if rest.len() < len {
            return FrameSniff::NeedMore;
        }
        let payload = rest.get(h.header_len..len).unwrap_or_default();
        if !sniffed_payload_ok(&h, payload) {
            return FrameSniff::No;
        }
        at = at.saturating_add(len);
        frames += 1;
        if frames >= MIN_SNIFF_FRAMES && starts > 0 {
            return FrameSniff::WebSocket {
                masked: masked.unwrap_or(false),
            };
        }
    }
}

/// Content rules a sniffed frame must keep: UTF-8 in a whole uncompressed text message, a
/// valid code in a close frame.
fn sniffed_payload_ok(h: &FrameHeader, payload: &[u8]) -> bool {
    let whole_text = h.opcode == Opcode::Text && h.fin && !h.rsv1;
    if !whole_text && h.opcode != Opcode::Close {
        return true;
    }
    let mut utf8 = Utf8Check::default();
    let mut scratch = [0u8; 4096];
    let mut head = [0u8; 2];
    let mut done = 0u64;
    for piece in payload.chunks(scratch.len()) {
        let Some(buf) = scratch.get_mut(..piece.len()) else {
            return false;
        };
        buf.copy_from_slice(piece);
        if let Some(key) = h.mask {
            unmask(buf, key, done);
        }
        if done == 0 {
            for (d, s) in head.iter_mut().zip(buf.iter()) {
                *d = *s;
            }
        }
        let text = if h.opcode == Opcode::Close && done == 0 {
            buf.get(2..).unwrap_or_default()
        } else {
            buf
        };
        utf8.feed(text);
        done += piece.len() as u64;
    }
    if h.opcode == Opcode::Close {
        return match payload.len() {
            0 => true,
            1 => false,
            _ => {
                matches!(
                    close_code_kind(u16::from_be_bytes(head)),
                    CloseCodeKind::Normal | CloseCodeKind::Error | CloseCodeKind::Application
                ) && utf8.valid_at_end()
            }
        };
    }
    utf8.valid_at_end()
}

/// Parses `Sec-WebSocket-Extensions` items as accepted by the server into the negotiated
/// permessage-deflate parameters (RFC 7692 §7.1), if it was accepted.
#[must_use]
pub fn deflate_params(extensions: &[String]) -> Option<DeflateParams> {
    let item = extensions.iter().find(|e| {
        e.split(';')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("permessage-deflate"))
    })?;
    let mut p = DeflateParams {
        client_max_window_bits: 15,
        server_max_window_bits: 15,
        ..DeflateParams::default()
    };
    for param in item.split(';').skip(1) {
        let (k, v) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        let bits = v.and_then(|v| v.parse::<u8>().ok()).unwrap_or(15);
        match k.to_ascii_lowercase().as_str() {
            "client_no_context_takeover" => p.client_no_context_takeover = true,
            "server_no_context_takeover" => p.server_no_context_takeover = true,
            "client_max_window_bits" => p.client_max_window_bits = bits,
            "server_max_window_bits" => p.server_max_window_bits = bits,
            _ => {}
        }
    }
    Some(p)
}

/// Severity helper for the line output: whether a record has anything above info.
#[must_use]
pub fn has_problems(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity > Severity::Info)
}

#[cfg(test)]
mod tests;
