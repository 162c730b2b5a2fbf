//! One TCP connection's lifecycle: who the client is, where each stream starts, how long the
//! connect took, the two reassembled streams with their evidence, and how the connection
//! closed, handed to whatever application parser reads the bytes.
//!
//! ```text
//!  Segment ──▶ SYN / SYN-ACK: client side, stream origins, connect RTT
//!          ──▶ ACK: a hole in the peer's stream that the peer acknowledged was lost by the
//!              capture ─▶ gap (evidence + Application::gap)
//!          ──▶ payload: first bytes without a SYN ─▶ Application::midstream
//!                       reassembly::Stream::push; snap-length cut and conflicting
//!                       retransmission ─▶ evidence marks; holes given up ─▶ gap
//!                       ─▶ Application::process (this side, then the other)
//!          ──▶ FIN / RST: first close and by whom; closed when RST or both FINs
//!  finish  ──▶ holes flushed (gaps), last Application::process, Application::finish(Closure)
//! ```
//!
//! The application parser is a type parameter ([`Application`]), so this stage knows nothing
//! of HTTP or WebSocket: the concrete parser switch lives downstream (`dispatch`), and each
//! segment costs a static call, not a dynamic one. [`Opening`] is the few bytes kept for a
//! connection that has only exchanged SYNs (a port scan or a SYN flood stays like that),
//! replayed into a [`TcpConnection`] when data flows.
//!
//! Never parses payload and never does I/O; time is the timestamp of the packet at hand.

use crate::capture::{Packet, Timestamp};
use crate::decode::Segment;
use crate::event::{Ending, Peer};
use crate::memory::{Account, Meter, Refused, Use};
use crate::tcp::flow::Side;
use crate::tcp::ledger::{Ledger, Loss};
use crate::tcp::reassembly::{Gap, Stream, StreamLimits};
use crate::tcp::stream::ByteStream;

/// What an application parser sees of its connection while it works: both directions' byte
/// streams and the connection facts it may refine. Lent by the producer for one call.
///
/// A link also carries the engine's memory [`Meter`]: a parser that grows a buffer asks it
/// first ([`Link::reserve`], [`Link::admit`]) and gives up the growth when refused.
#[derive(Debug)]
pub struct Link<'a, S> {
    streams: &'a mut [S; 2],
    client: &'a mut Option<Side>,
    /// Timestamp of the packet being processed (or of the last one, at the end).
    pub now: Timestamp,
    /// The connection's acknowledgement evidence, read only when a parser asks
    /// ([`Link::acked_unseen`]); `None` when the producer has no acknowledgements.
    ledger: Option<&'a Ledger>,
    /// The memory budget; `None` on an unmetered link (unit tests), which refuses nothing.
    meter: Option<&'a mut Meter>,
}

impl<'a, S: ByteStream> Link<'a, S> {
    /// A link over `streams` (indexed by [`Side::index`]) and the connection's client side.
    pub fn new(streams: &'a mut [S; 2], client: &'a mut Option<Side>, now: Timestamp) -> Self {
        Link {
            streams,
            client,
            now,
            ledger: None,
            meter: None,
        }
    }

    /// The same link, its parsers growing within `meter`'s budget.
    #[must_use]
    pub fn with_meter(mut self, meter: &'a mut Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Bytes the budget has room for now (`usize::MAX` unmetered).
    #[must_use]
    pub fn room(&self) -> usize {
        self.meter.as_deref().map_or(usize::MAX, Meter::room)
    }

    /// Whether `bytes` more of `what` fit in the budget (the owner registers what it keeps
    /// when it settles); a refusal is counted. See [`Meter::admit`].
    pub fn admit(&mut self, what: Use, bytes: usize) -> Result<(), Refused> {
        match self.meter.as_deref_mut() {
            Some(meter) => meter.admit(what, bytes),
            None => Ok(()),
        }
    }

    /// Grows `account` by `bytes` of `what` if the budget has room: the one call a buffer
    /// makes before it grows. See [`Account::reserve`]. Unmetered, always granted and not
    /// registered.
    pub fn reserve(
        &mut self,
        account: &mut Account,
        what: Use,
        bytes: usize,
    ) -> Result<(), Refused> {
        match self.meter.as_deref_mut() {
            Some(meter) => account.reserve(meter, what, bytes),
            None => Ok(()),
        }
    }

    /// The meter, for parsers that register their buffers' sizes ([`Account::set`]).
    pub fn meter(&mut self) -> Option<&mut Meter> {
        self.meter.as_deref_mut()
    }

    /// The same link, with the connection's acknowledgement evidence (see
    /// [`Link::acked_unseen`]): a reference, worked out only when a parser asks (a record
    /// being completed), not for every segment.
    #[must_use]
    pub fn with_ledger(mut self, ledger: &'a Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Bytes of `side`'s stream that the other side acknowledged although the capture does
    /// not hold them: proof that `side` sent them (a one-way capture, or capture loss).
    #[must_use]
    pub fn acked_unseen(&self, side: Side) -> u64 {
        self.ledger.map_or(0, |l| l.acked_unseen(side.index()))
    }

    /// The byte stream travelling on `side`.
    #[must_use]
    pub fn stream(&self, side: Side) -> &S {
        let [lo, hi] = &*self.streams;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    /// The byte stream travelling on `side`, to consume from.
    pub fn stream_mut(&mut self, side: Side) -> &mut S {
        let [lo, hi] = &mut *self.streams;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    /// The side that carries client → server bytes, once known.
    #[must_use]
    pub fn client(&self) -> Option<Side> {
        *self.client
    }

    /// Content says `side` is the client's: taken unless the SYN (or earlier content) already
    /// said otherwise.
    pub fn suggest_client(&mut self, side: Side) {
        self.client.get_or_insert(side);
    }

    /// Content proves `side` is the client's (WebSocket masking), whatever was assumed.
    pub fn set_client(&mut self, side: Side) {
        *self.client = Some(side);
    }

    /// Does `side` carry requests? `None` while the client is unknown.
    #[must_use]
    pub fn sends_requests(&self, side: Side) -> Option<bool> {
        self.client.map(|c| c == side)
    }

    /// Who sends on `side` (the client while unknown).
    #[must_use]
    pub fn peer_of(&self, side: Side) -> Peer {
        if self.client.is_none_or(|c| c == side) {
            Peer::Client
        } else {
            Peer::Server
        }
    }
}

/// How a TCP connection ended, as its lifecycle saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closure {
    /// First FIN or RST and by which side, or the capture end / eviction.
    pub ending: Ending,
    /// Capture time of that FIN or RST (or of the last packet, when neither was seen).
    pub at: Timestamp,
    /// Whether an RST was seen at any point.
    pub rst: bool,
    /// The side whose FIN or RST came first, when one did.
    pub closer: Option<Side>,
}

/// A segment cut by the snap length: how much the capture kept and how much it lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Bytes the capture kept of the packet (its snap length).
    pub snaplen: u32,
    /// Bytes of the segment's payload on the wire past the captured ones.
    pub missing: u64,
    /// The packet that was cut.
    pub packet: u64,
}

/// The parser that reads a connection's bytes: the seam between TCP and the application
/// layers. [`TcpConnection`] calls it in packet order; it owns nothing of TCP's and sees the
/// streams only through a [`Link`].
pub trait Application<S: ByteStream> {
    /// Where the parser puts what it completes (exchanges, counters), owned by the caller.
    type Out;

    /// `side`'s first bytes arrived without its SYN: the capture started mid-connection, and
    /// the first byte is not known to be a message boundary.
    fn midstream(&mut self, side: Side);

    /// Bytes of `side`'s stream were lost by the capture, proven by `packet` (0 at the end of
    /// the capture). Already noted in the stream's evidence.
    fn gap(&mut self, link: &mut Link<'_, S>, side: Side, gap: Gap, packet: u64);

    /// `side`'s segment was cut by the snap length after the bytes now buffered: whatever is
    /// still buffered may be read as far as it goes (an HTTP head that ends beyond the cut)
    /// before the missing bytes are declared a gap. By default nothing is read.
    fn cut(&mut self, link: &mut Link<'_, S>, side: Side, cut: Cut, out: &mut Self::Out) {
        let _ = (link, side, cut, out);
    }

    /// New bytes may be readable on `side` (or a state change on the other side may let it
    /// go on): parse as far as the buffered bytes allow. Called only while `side` has
    /// buffered bytes.
    fn process(&mut self, link: &mut Link<'_, S>, side: Side, out: &mut Self::Out);

    /// The connection is over: report what is still waiting.
    fn finish(&mut self, link: &mut Link<'_, S>, closure: Closure, out: &mut Self::Out);
}

/// Which plain segments of a connection are quiet (change nothing but the copy filter, the
/// ledger and the time): two bits a side (`Side::index`), a bare ACK and data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuietKinds(u8);

impl QuietKinds {
    /// None is.
    pub const NONE: QuietKinds = QuietKinds(0);
    const BARE: u8 = 1;
    const DATA: u8 = 2;

    /// Whether a plain segment sent on `side` is quiet, with a payload when `data`.
    #[must_use]
    #[inline(always)]
    pub fn holds(self, side: Side, data: bool) -> bool {
        let bit = if data { Self::DATA } else { Self::BARE };
        self.0 >> (2 * side.index()) & bit != 0
    }
}

/// What a segment did at the TCP level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpEffect {
    /// The connection is over (RST, or FIN from both sides): finalise and remove it.
    pub closed: bool,
    /// Bytes were dropped by a stream cap.
    pub dropped_by_cap: u64,
    /// The packet was a copy of one just seen (a SPAN port or an overlapping merge captured
    /// it twice) and was dropped unread.
    pub duplicate: bool,
    /// Neither the streams' bytes nor the application were touched: no payload (or one
    /// dropped unread by a direction nobody reads), no SYN, FIN or RST, no gap and no parser
    /// call (a bare ACK on a connection with nothing buffered, or a duplicate). Every size and parser state is as before, so the caller skips the
    /// bookkeeping that only data can change (most packets of a busy link are these).
    pub quiet: bool,
}

/// Copies of a packet this close in time (nanoseconds) are one packet captured twice: a SPAN
/// port's duplicate arrives microseconds after the original, a merge of overlapping files
/// repeats the timestamp. A retransmission comes a retransmission timeout later (200 ms at
/// least on Linux) and carries a new IP id or TCP timestamp besides.
pub const DUPLICATE_WINDOW_NS: i64 = 5_000_000;

/// Packets of a connection remembered to recognise copies (SPAN duplicates are adjacent or
/// nearly so).
const RECENT_PACKETS: usize = 4;

/// What identifies one captured packet of a connection, for recognising its copies: its
/// direction and flags, sequence and acknowledgment numbers, length and
/// [`Segment::wire_id`]. Compared field by field, cheapest first: this runs on every packet,
/// and almost every comparison ends at the sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketId {
    seq: u32,
    ack: u32,
    len: u32,
    side_flags: u8,
    wire: u64,
}

/// The [`PacketId`] of `seg`, sent by `side`.
#[must_use]
pub fn packet_id(side: Side, seg: &Segment<'_>) -> PacketId {
    let f = seg.flags;
    let side_flags = u8::from(side == Side::HiToLo) << 4
        | u8::from(f.syn)
        | u8::from(f.ack) << 1
        | u8::from(f.fin) << 2
        | u8::from(f.rst) << 3;
    PacketId {
        seq: seg.seq,
        ack: seg.ack,
        // Segments are far below 4 GiB; saturating keeps a hostile length harmless.
        len: u32::try_from(seg.payload.len()).unwrap_or(u32::MAX),
        side_flags,
        wire: seg.wire_id,
    }
}

/// Whether a packet `id` at `ts` is a copy of the remembered `(id, ts)` (`None`: nothing).
fn same_packet(remembered: Option<(PacketId, Timestamp)>, id: &PacketId, ts: Timestamp) -> bool {
    remembered.is_some_and(|(r, at)| r == *id && ts.nanos_since(at).abs() <= DUPLICATE_WINDOW_NS)
}

/// The last packets a connection took ([`RECENT_PACKETS`] of them), to recognise their copies:
/// a SPAN port's duplicate arrives microseconds after the original, possibly after the
/// connection it belongs to has closed (the engine keeps the packets of connections closed
/// moments ago for that).
#[derive(Clone, Copy, Debug)]
pub struct RecentPackets {
    /// The packets remembered; a slot not yet used holds [`EMPTY_SLOT`], which matches no
    /// packet (no `Option` tag to test on every packet).
    ids: [PacketId; RECENT_PACKETS],
    /// When each was taken.
    at: [Timestamp; RECENT_PACKETS],
    /// Next slot to overwrite.
    next: usize,
}

/// A [`PacketId`] no packet has: [`packet_id`] sets only the low five bits of `side_flags`.
const EMPTY_SLOT: PacketId = PacketId {
    seq: 0,
    ack: 0,
    len: 0,
    side_flags: 0xff,
    wire: 0,
};

impl Default for RecentPackets {
    fn default() -> Self {
        RecentPackets {
            ids: [EMPTY_SLOT; RECENT_PACKETS],
            at: [Timestamp::default(); RECENT_PACKETS],
            next: 0,
        }
    }
}

impl RecentPackets {
    /// Whether the packet `id` at `ts` is a copy of one remembered.
    #[must_use]
    #[inline(always)]
    pub fn holds(&self, id: &PacketId, ts: Timestamp) -> bool {
        self.ids
            .iter()
            .zip(&self.at)
            .any(|(r, at)| r == id && ts.nanos_since(*at).abs() <= DUPLICATE_WINDOW_NS)
    }

    /// Remembers the packet `id` taken at `ts`, forgetting the oldest.
    #[inline(always)]
    pub fn remember(&mut self, id: PacketId, ts: Timestamp) {
        if let (Some(slot), Some(at)) = (self.ids.get_mut(self.next), self.at.get_mut(self.next)) {
            *slot = id;
            *at = ts;
        }
        self.next = (self.next + 1) % RECENT_PACKETS;
    }

    /// Whether the packet `id` at `ts` is a copy of one remembered; remembers it if not.
    #[inline(always)]
    pub fn is_copy(&mut self, id: PacketId, ts: Timestamp) -> bool {
        if self.holds(&id, ts) {
            return true;
        }
        self.remember(id, ts);
        false
    }
}

/// The SYN and SYN-ACK of a connection that has carried no data yet: a few bytes per
/// half-open connection, replayed into a [`TcpConnection`] by [`Opening::open`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Opening {
    syn: Option<(Side, u32, Timestamp)>,
    synack: Option<(Side, u32, Timestamp)>,
    /// The SYN-ACK's acknowledgment number (the client's ISN + 1, even when the SYN itself was
    /// not captured).
    synack_ack: Option<u32>,
    /// The last two packets taken, newest first, to drop their copies: a SPAN port's copy
    /// of the SYN can come after the SYN-ACK (the copy is microseconds late, the answer on
    /// loopback or a LAN is quicker).
    last: [Option<(PacketId, Timestamp)>; 2],
}

impl Opening {
    /// Remembers the first SYN (or SYN-ACK when `synack`, acknowledging `ack`) of `side` with
    /// sequence number `seq`.
    pub fn note(&mut self, side: Side, seq: u32, synack: bool, ack: u32, ts: Timestamp) {
        if synack {
            self.synack.get_or_insert((side, seq, ts));
            self.synack_ack.get_or_insert(ack);
        } else {
            self.syn.get_or_insert((side, seq, ts));
        }
    }

    /// Whether an RST from `side` refuses this connection: the other side's SYN was seen and
    /// no SYN-ACK (a closed port answers the SYN with an RST). Asked only of an RST to a
    /// connection still opening.
    #[must_use]
    pub fn refused_by(&self, side: Side) -> bool {
        self.synack.is_none() && self.syn.is_some_and(|(s, _, _)| s == side.reverse())
    }

    /// Whether the packet (its [`packet_id`]) is a copy of one of the last two taken;
    /// remembers it if not.
    pub fn is_copy(&mut self, id: PacketId, ts: Timestamp) -> bool {
        let [newest, older] = self.last;
        if same_packet(newest, &id, ts) || same_packet(older, &id, ts) {
            return true;
        }
        self.last = [Some((id, ts)), newest];
        false
    }

    /// The last packets taken, as the remembered packets of a [`RecentPackets`].
    #[must_use]
    pub fn recent(&self) -> RecentPackets {
        let mut recent = RecentPackets::default();
        let [newest, older] = self.last;
        for (id, ts) in [older, newest].into_iter().flatten() {
            recent.remember(id, ts);
        }
        recent
    }

    /// The full connection state, as if it had seen the SYNs remembered so far.
    #[must_use]
    pub fn open(&self, limits: StreamLimits) -> TcpConnection {
        let mut tcp = TcpConnection::new(limits);
        tcp.recent = self.recent();
        // The SYNs count in the ledger as the segments they were: the connection is not
        // one-sided because its server sent nothing but the SYN-ACK.
        if let Some((side, seq, ts)) = self.syn {
            tcp.syn(side, seq, false, ts);
            tcp.ledger.segment(side.index(), seq, 1, true, None);
        }
        if let Some((side, seq, ts)) = self.synack {
            tcp.syn(side, seq, true, ts);
            tcp.ledger
                .segment(side.index(), seq, 1, true, self.synack_ack);
        }
        tcp
    }
}

/// One TCP connection: lifecycle facts and the two reassembled streams.
#[derive(Debug)]
pub struct TcpConnection {
    streams: [Stream; 2],
    /// Memory registered for each stream.
    accounts: [Account; 2],
    /// The side that carries client → server bytes, once known (SYN, or content).
    client: Option<Side>,
    syn_ts: Option<Timestamp>,
    synack_ts: Option<Timestamp>,
    /// The first FIN or RST: side, whether RST, when.
    first_close: Option<(Side, bool, Timestamp)>,
    fin_seen: [bool; 2],
    rst_seen: bool,
    last_ts: Timestamp,
    /// Sequence space captured against the peers' acknowledgements (capture vs network loss).
    ledger: Ledger,
    /// The last packets taken, to drop their copies.
    recent: RecentPackets,
}

impl TcpConnection {
    /// A connection seen for the first time.
    #[must_use]
    pub fn new(limits: StreamLimits) -> Self {
        TcpConnection {
            streams: [Stream::new(limits), Stream::new(limits)],
            accounts: [Account::default(), Account::default()],
            client: None,
            syn_ts: None,
            synack_ts: None,
            first_close: None,
            fin_seen: [false, false],
            rst_seen: false,
            last_ts: Timestamp::default(),
            ledger: Ledger::default(),
            recent: RecentPackets::default(),
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

    /// The stream travelling on `side`.
    #[must_use]
    pub fn stream(&self, side: Side) -> &Stream {
        let [lo, hi] = &self.streams;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    fn stream_mut(&mut self, side: Side) -> &mut Stream {
        let [lo, hi] = &mut self.streams;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    /// A link for the application parser over this connection's streams, within `meter`.
    pub fn link<'a>(&'a mut self, meter: &'a mut Meter) -> Link<'a, Stream> {
        Link::new(&mut self.streams, &mut self.client, self.last_ts)
            .with_ledger(&self.ledger)
            .with_meter(meter)
    }

    /// Loss evidence so far: ACKs, capture gaps and missed bytes, retransmissions.
    #[must_use]
    pub fn loss(&self) -> Loss {
        self.ledger.loss()
    }

    /// Whether the capture holds one direction only although the other demonstrably spoke
    /// (its bytes or its SYN were acknowledged).
    #[must_use]
    pub fn one_sided(&self) -> bool {
        self.ledger.one_sided()
    }

    /// Packets captured travelling on `side`.
    #[must_use]
    pub fn segments(&self, side: Side) -> u64 {
        self.ledger.segments(side.index())
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
        self.stream_mut(side).syn(seq);
    }

    /// Takes one segment travelling on `side`, handing its bytes and gaps to `app`.
    // Inlined into the engine's packet loop (through `Connection::on_segment`): the call
    // and the copies of its arguments cost more than the work of most segments.
    #[inline(always)]
    pub fn on_segment<A: Application<Stream>>(
        &mut self,
        side: Side,
        seg: &Segment<'_>,
        packet: &Packet<'_>,
        app: &mut A,
        out: &mut A::Out,
        meter: &mut Meter,
    ) -> TcpEffect {
        let mut effect = TcpEffect::default();
        if self.is_copy(side, seg, packet.ts) {
            effect.duplicate = true;
            effect.quiet = true;
            return effect;
        }
        let flags = seg.flags;
        // A payload for a direction nobody reads any more (ignored, not counted: TLS without
        // keys, a protocol wssniff does not parse) is dropped by the push unread, so it
        // changes no size and reaches no parser, as a bare ACK does (most of a TLS bulk
        // transfer's packets are these).
        let unread = seg.payload.is_empty()
            || (!seg.payload_truncated && self.stream(side).drops_every_byte());
        let mut quiet = unread && !(flags.syn || flags.fin || flags.rst);
        self.last_ts = packet.ts;
        if seg.flags.syn {
            self.syn(side, seg.seq, seg.flags.ack, packet.ts);
        }
        let missing = if seg.payload_truncated {
            u64::from(packet.orig_len).saturating_sub(packet.data.len() as u64)
        } else {
            0
        };
        if seg.flags.ack {
            let peer = side.reverse();
            // An ACK may release the peer's held segments (sizes change) even without a gap.
            quiet &= !self.stream(peer).holds_out_of_order();
            if let Some(gap) = self.stream_mut(peer).peer_ack(seg.ack) {
                quiet = false;
                if let Some(start) = self.stream(peer).seq_at(gap.offset) {
                    self.ledger.hole_acked(peer.index(), start, gap.len);
                }
                self.gap(peer, gap, packet.number, app, meter);
            }
        }
        // The segment's length on the wire: a snap-length cut is not a loss.
        let wire_len = (seg.payload.len() as u64)
            .saturating_add(missing)
            .saturating_add(u64::from(seg.flags.syn) + u64::from(seg.flags.fin));
        self.ledger.segment(
            side.index(),
            seg.seq,
            u32::try_from(wire_len).unwrap_or(u32::MAX),
            seg.flags.syn,
            seg.flags.ack.then_some(seg.ack),
        );
        if seg.flags.fin {
            self.ledger.fin(side.index());
        }
        // Bytes dropped unread change nothing in the stream (`drops_every_byte`): no push.
        if !unread {
            let stream = self.stream_mut(side);
            if !stream.is_started() && !seg.flags.syn {
                app.midstream(side);
            }
            let stream = self.stream_mut(side);
            let push =
                stream.push_within(seg.seq, seg.payload, packet.number, packet.ts, meter.room());
            effect.dropped_by_cap += push.dropped_by_cap;
            let evidence = stream.marks_mut();
            if push.conflicting_overlap {
                evidence.conflict = true;
                evidence.note_packet(packet.number);
            }
            let refused = push.refused_segments + push.refused_unparsed;
            if refused > 0 {
                if push.refused_segments > 0 {
                    meter.refuse(Use::Segments, idx(push.refused_segments));
                }
                if push.refused_unparsed > 0 {
                    meter.refuse(Use::Unparsed, idx(push.refused_unparsed));
                }
                evidence.note_memcap(refused, packet.number);
            }
            if let Some(gap) = push.gap {
                if refused > 0 {
                    // The budget's doing: marked above, not a capture gap.
                    let mut link = Link::new(&mut self.streams, &mut self.client, self.last_ts)
                        .with_ledger(&self.ledger)
                        .with_meter(meter);
                    app.gap(&mut link, side, gap, packet.number);
                } else {
                    self.gap(side, gap, packet.number, app, meter);
                }
            }
            if seg.payload_truncated {
                let snaplen = u32::try_from(packet.data.len()).unwrap_or(u32::MAX);
                let evidence = self.stream_mut(side).marks_mut();
                evidence.note_cut(snaplen, missing, packet.number);
                // The parser reads what the cut left (a head that ends beyond it) while the
                // bytes are still buffered; then the missing bytes become a gap, not a stall.
                let cut = Cut {
                    snaplen,
                    missing,
                    packet: packet.number,
                };
                if self.stream(side).ends_at_next(seg.seq, seg.payload.len()) {
                    let mut link = Link::new(&mut self.streams, &mut self.client, self.last_ts)
                        .with_meter(meter)
                        .with_ledger(&self.ledger);
                    app.cut(&mut link, side, cut, out);
                }
                let stream = self.stream_mut(side);
                if let Some(gap) = stream.cut_short(seg.seq, seg.payload.len(), missing) {
                    // Already in the marks as a cut (snaplen_truncated), not a capture gap.
                    let mut link = Link::new(&mut self.streams, &mut self.client, self.last_ts)
                        .with_meter(meter)
                        .with_ledger(&self.ledger);
                    app.gap(&mut link, side, gap, packet.number);
                }
            }
        }
        // Most segments leave both directions with nothing buffered (bare ACKs, bytes
        // skipped or dropped unread): no link is built, no call made.
        if self.streams.iter().any(|s| !s.data().is_empty()) {
            let mut link = Link::new(&mut self.streams, &mut self.client, self.last_ts)
                .with_meter(meter)
                .with_ledger(&self.ledger);
            for side in [side, side.reverse()] {
                // Most segments leave the other direction with nothing buffered: skip the call.
                if !link.stream(side).data().is_empty() {
                    quiet = false;
                    app.process(&mut link, side, out);
                }
            }
        }
        effect.quiet = quiet;
        self.rst_seen |= seg.flags.rst;
        if seg.flags.fin || seg.flags.rst {
            self.first_close
                .get_or_insert((side, seg.flags.rst, packet.ts));
        }
        if seg.flags.fin {
            self.stream_mut(side).fin(seg.seq, seg.payload.len());
            if let Some(f) = self.fin_seen.get_mut(side.index()) {
                *f = true;
            }
        }
        effect.closed = seg.flags.rst || self.fin_seen.iter().all(|f| *f);
        effect
    }

    /// Which plain segments (no SYN, FIN or RST, not cut by the snap length) would be quiet
    /// in [`TcpConnection::on_segment`] now, as [`QuietKinds`]: with nothing buffered in
    /// either direction, a bare ACK sent on a side whose peer holds nothing out of order (no
    /// ACK can release any), and data too when that side's stream drops every byte. Only a
    /// segment that is not quiet can change the answer (a quiet one changes no stream).
    #[must_use]
    pub fn quiet_kinds(&self) -> QuietKinds {
        let [lo, hi] = &self.streams;
        if !lo.data().is_empty() || !hi.data().is_empty() {
            return QuietKinds::NONE;
        }
        let side = |own: &Stream, peer: &Stream| match (peer.holds_out_of_order(), own) {
            (true, _) => 0,
            (false, own) if own.drops_every_byte() => QuietKinds::BARE | QuietKinds::DATA,
            (false, _) => QuietKinds::BARE,
        };
        QuietKinds(side(lo, hi) | side(hi, lo) << 2)
    }

    /// [`TcpConnection::on_segment`] for a segment [`TcpConnection::quiet_kinds`] said is
    /// quiet: what that does for it (the copy check, the time, the ledger) without the
    /// branches it cannot take. Returns whether the segment was a copy (dropped unread).
    #[inline(always)]
    pub fn on_quiet_segment(&mut self, side: Side, seg: &Segment<'_>, ts: Timestamp) -> bool {
        if self.is_copy(side, seg, ts) {
            return true;
        }
        self.last_ts = ts;
        self.ledger.segment(
            side.index(),
            seg.seq,
            u32::try_from(seg.payload.len()).unwrap_or(u32::MAX),
            false,
            seg.flags.ack.then_some(seg.ack),
        );
        false
    }

    /// Whether the segment is a copy of one of the last packets taken (and remembers it if
    /// not): dropped before anything counts it, so a duplicate is never a retransmission.
    #[inline(always)]
    fn is_copy(&mut self, side: Side, seg: &Segment<'_>, ts: Timestamp) -> bool {
        self.recent.is_copy(packet_id(side, seg), ts)
    }

    /// The last packets taken (what a copy arriving after the close is recognised by).
    #[must_use]
    pub fn recent(&self) -> RecentPackets {
        self.recent
    }

    /// Ends the connection: gives up on holes, lets `app` read what is left and tells it how
    /// the connection closed. `ending` applies when no FIN or RST was seen.
    pub fn finish<A: Application<Stream>>(
        &mut self,
        ending: Ending,
        app: &mut A,
        out: &mut A::Out,
        meter: &mut Meter,
    ) {
        for side in [Side::LoToHi, Side::HiToLo] {
            if let Some(gap) = self.stream_mut(side).flush() {
                self.gap(side, gap, 0, app, meter);
            }
        }
        let mut link =
            Link::new(&mut self.streams, &mut self.client, self.last_ts).with_meter(meter);
        for side in [Side::LoToHi, Side::HiToLo] {
            if !link.stream(side).data().is_empty() {
                app.process(&mut link, side, out);
            }
        }
        let closure = self.closure(ending);
        let mut link = Link::new(&mut self.streams, &mut self.client, self.last_ts)
            .with_meter(meter)
            .with_ledger(&self.ledger);
        app.finish(&mut link, closure, out);
    }

    /// How the connection ended: the first FIN or RST (by client or server), else `ending`.
    fn closure(&self, ending: Ending) -> Closure {
        let (ending, at) = match (self.first_close, ending) {
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
        Closure {
            ending,
            at,
            rst: self.rst_seen,
            closer: self.first_close.map(|(side, _, _)| side),
        }
    }

    /// Notes a gap in `side`'s evidence and tells the application.
    fn gap<A: Application<Stream>>(
        &mut self,
        side: Side,
        gap: Gap,
        packet: u64,
        app: &mut A,
        meter: &mut Meter,
    ) {
        self.stream_mut(side).marks_mut().note_gap(gap, packet);
        let mut link =
            Link::new(&mut self.streams, &mut self.client, self.last_ts).with_meter(meter);
        app.gap(&mut link, side, gap, packet);
    }

    /// Bytes held by the two streams, computed now (memory accounting, walked).
    #[must_use]
    pub fn memory(&self) -> usize {
        self.streams.iter().map(Stream::memory).sum()
    }

    /// Registers the streams' current size with `meter`.
    pub fn settle(&mut self, meter: &mut Meter) {
        for (account, stream) in self.accounts.iter_mut().zip(&self.streams) {
            account.set(meter, stream.memory());
        }
    }

    /// Withdraws everything registered with `meter` (the connection is being dropped).
    pub fn release(&mut self, meter: &mut Meter) {
        for account in &mut self.accounts {
            account.set(meter, 0);
        }
    }
}

fn idx(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::script::{ack, data, fin, rst, syn, syn_ack, ts_of, Seg, Wire, C, S};

    /// What the connection told its application, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Call {
        Midstream(Side),
        Gap(Side, Gap, u64),
        /// Bytes read (and consumed) from a side.
        Read(Side, Vec<u8>),
        Finish(Closure),
    }

    /// An application that reads every byte and records every call; the direction
    /// `ignores` it stops reading at its first bytes, as a parser that gives up does.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<Call>,
        ignores: Option<Side>,
    }

    impl Application<Stream> for Recorder {
        type Out = ();

        fn midstream(&mut self, side: Side) {
            self.calls.push(Call::Midstream(side));
        }

        fn gap(&mut self, _link: &mut Link<'_, Stream>, side: Side, gap: Gap, packet: u64) {
            self.calls.push(Call::Gap(side, gap, packet));
        }

        fn process(&mut self, link: &mut Link<'_, Stream>, side: Side, _out: &mut ()) {
            let stream = link.stream_mut(side);
            if self.ignores == Some(side) {
                stream.ignore();
                return;
            }
            let bytes = stream.data().to_vec();
            stream.consume(bytes.len() as u64);
            self.calls.push(Call::Read(side, bytes));
        }

        fn finish(&mut self, _link: &mut Link<'_, Stream>, closure: Closure, _out: &mut ()) {
            self.calls.push(Call::Finish(closure));
        }
    }

    /// Runs `segs` through a fresh connection; `finish` ends it with `CaptureEnded`.
    fn run(segs: &[Seg], finish: bool) -> (TcpConnection, Recorder, Vec<TcpEffect>) {
        run_with(Recorder::default(), segs, finish)
    }

    /// [`run`] with the application `app`.
    fn run_with(
        mut app: Recorder,
        segs: &[Seg],
        finish: bool,
    ) -> (TcpConnection, Recorder, Vec<TcpEffect>) {
        let mut tcp = TcpConnection::new(StreamLimits::default());
        let mut wire = Wire::new();
        let mut meter = Meter::new();
        let effects = segs
            .iter()
            .map(|s| {
                wire.send(s, |side, seg, packet| {
                    tcp.on_segment(side, seg, packet, &mut app, &mut (), &mut meter)
                })
            })
            .collect();
        if finish {
            tcp.finish(Ending::CaptureEnded, &mut app, &mut (), &mut meter);
        }
        (tcp, app, effects)
    }

    fn reads(app: &Recorder, side: Side) -> Vec<u8> {
        app.calls
            .iter()
            .filter_map(|c| match c {
                Call::Read(s, b) if *s == side => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn closure(app: &Recorder) -> Option<Closure> {
        app.calls.iter().find_map(|c| match c {
            Call::Finish(c) => Some(*c),
            _ => None,
        })
    }

    #[test]
    fn the_syn_names_the_client_and_the_syn_ack_times_the_connect() {
        // The SYN-ACK travels first in the capture's order: its side is the server's anyway.
        let (tcp, _, _) = run(&[syn_ack(S), syn(C)], false);
        assert_eq!(tcp.client_side(), Some(C));
        assert_eq!(tcp.connect_rtt_ns(), Some(-1_000_000));
        let (tcp, _, _) = run(&[syn(C), syn_ack(S)], false);
        assert_eq!(tcp.connect_rtt_ns(), Some(1_000_000));
        assert_eq!(
            run(&[syn(S)], false).0.client_side(),
            Some(S),
            "whoever sends the SYN is the client"
        );
    }

    #[test]
    fn streams_start_after_the_syn_and_are_read_in_order() {
        let (_, app, _) = run(
            &[
                syn(C),
                syn_ack(S),
                data(C, 4, b"/ HTTP"),
                data(C, 0, b"GET "),
                data(S, 0, b"HTTP/1.1"),
            ],
            false,
        );
        assert_eq!(reads(&app, C), b"GET / HTTP");
        assert_eq!(reads(&app, S), b"HTTP/1.1");
        assert!(!app.calls.iter().any(|c| matches!(c, Call::Midstream(_))));
    }

    #[test]
    fn data_without_a_syn_is_a_midstream_start_told_once_per_direction() {
        let (tcp, app, _) = run(
            &[data(S, 0, b"ab"), data(S, 2, b"cd"), data(C, 0, b"x")],
            false,
        );
        let mid: Vec<_> = app
            .calls
            .iter()
            .filter(|c| matches!(c, Call::Midstream(_)))
            .collect();
        assert_eq!(mid, [&Call::Midstream(S), &Call::Midstream(C)]);
        assert_eq!(tcp.client_side(), None, "content decides, not TCP");
    }

    #[test]
    fn a_hole_the_peer_acknowledged_is_a_gap_proven_by_that_ack() {
        let (tcp, app, _) = run(
            &[
                syn(C),
                syn_ack(S),
                data(C, 0, b"abc"),
                data(C, 10, b"klm"),
                ack(S, 13),
            ],
            false,
        );
        let gap = Gap {
            offset: 3,
            len: 7,
            needs_resync: true,
        };
        assert!(app.calls.contains(&Call::Gap(C, gap, 5)));
        assert_eq!(reads(&app, C), b"abcklm");
        let evidence = tcp.stream(C).marks();
        assert_eq!(evidence.gap, Some(gap));
        assert_eq!(evidence.packets, vec![5]);
    }

    #[test]
    fn an_ack_short_of_the_hole_proves_nothing() {
        let (tcp, app, _) = run(
            &[
                syn(C),
                syn_ack(S),
                data(C, 0, b"abc"),
                data(C, 10, b"klm"),
                ack(S, 3),
            ],
            false,
        );
        assert!(!app.calls.iter().any(|c| matches!(c, Call::Gap(..))));
        assert_eq!(tcp.stream(C).marks().gap, None);
    }

    #[test]
    fn only_a_bare_ack_with_nothing_buffered_or_held_is_quiet() {
        // Quiet lets the caller skip the memory settles: anything that may change a size or
        // reach the parser must not be quiet.
        let (_, _, effects) = run(
            &[
                syn(C),
                syn_ack(S),
                ack(C, 0),
                data(C, 0, b"abc"),
                ack(S, 3),
                data(C, 10, b"klm"),
                ack(S, 3),
                ack(S, 13),
                ack(C, 0),
                fin(C, 13),
            ],
            false,
        );
        let quiet: Vec<bool> = effects.iter().map(|e| e.quiet).collect();
        assert_eq!(
            quiet,
            [false, false, true, false, true, false, false, false, true, false],
            "SYNs, data, an ACK while the peer holds segments out of order (released or not), \
             a FIN: not quiet"
        );
    }

    #[test]
    fn data_for_a_direction_nobody_reads_is_quiet_unless_cut_or_flagged() {
        // The server's direction is ignored at its first bytes (TLS without keys): its later
        // data changes nothing, so the caller may skip the settles as for a bare ACK. A cut
        // payload is evidence and a FIN ends the direction: neither is quiet.
        let app = Recorder {
            ignores: Some(S),
            ..Recorder::default()
        };
        let (tcp, app, effects) = run_with(
            app,
            &[
                syn(C),
                syn_ack(S),
                data(S, 0, b"first"),
                data(S, 5, b"second"),
                data(C, 0, b"abc"),
                data(S, 11, b"third").cut(3),
                data(S, 16, b"fourth"),
                fin(S, 22),
            ],
            false,
        );
        let quiet: Vec<bool> = effects.iter().map(|e| e.quiet).collect();
        assert_eq!(
            quiet,
            [false, false, false, true, false, false, true, false]
        );
        assert!(tcp.stream(S).is_ignored());
        assert_eq!(reads(&app, C), b"abc");
        assert_eq!(
            tcp.segments(S),
            6,
            "the ledger counts every segment all the same"
        );
    }

    #[test]
    fn quiet_kinds_name_the_segments_on_segment_finds_quiet() {
        // The server's direction is ignored at its first bytes, the client's read: with
        // nothing buffered, a bare ACK either way and the server's data are quiet, the
        // client's data is not; a byte held out of order makes the peer's ACKs not quiet.
        let app = Recorder {
            ignores: Some(S),
            ..Recorder::default()
        };
        let (tcp, _, _) = run_with(
            app,
            &[syn(C), syn_ack(S), data(S, 0, b"first"), data(C, 0, b"abc")],
            false,
        );
        let kinds = tcp.quiet_kinds();
        assert!(kinds.holds(C, false) && kinds.holds(S, false) && kinds.holds(S, true));
        assert!(!kinds.holds(C, true));
        let (tcp, _, _) = run(&[syn(C), syn_ack(S), data(C, 5, b"late")], false);
        let kinds = tcp.quiet_kinds();
        assert!(
            !kinds.holds(S, false),
            "an ACK of the client may release its bytes"
        );
        assert!(kinds.holds(C, false));
        let fresh = TcpConnection::new(StreamLimits::default()).quiet_kinds();
        assert!(fresh.holds(C, false) && fresh.holds(S, false));
        assert!(
            !fresh.holds(C, true) && !fresh.holds(S, true),
            "data starts a stream"
        );
    }

    #[test]
    fn a_quiet_segment_changes_what_on_segment_would() {
        // The same segments, the last ones through `on_quiet_segment` or `on_segment`: the
        // ledger, the copy filter and the time end the same.
        let segs = [
            syn(C),
            syn_ack(S),
            data(S, 0, b"first"),
            data(C, 0, b"abc"),
            data(S, 5, b"second"),
            ack(C, 11),
            data(S, 5, b"second"),
            ack(C, 11),
        ];
        let app = Recorder {
            ignores: Some(S),
            ..Recorder::default()
        };
        let (full, _, effects) = run_with(app, &segs, false);
        assert!(effects[4..].iter().all(|e| e.quiet));
        let mut app = Recorder {
            ignores: Some(S),
            ..Recorder::default()
        };
        let mut tcp = TcpConnection::new(StreamLimits::default());
        let mut wire = Wire::new();
        let mut meter = Meter::new();
        let mut copies = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            wire.send(s, |side, seg, packet| {
                if i < 4 {
                    tcp.on_segment(side, seg, packet, &mut app, &mut (), &mut meter);
                } else {
                    assert!(tcp.quiet_kinds().holds(side, !seg.payload.is_empty()));
                    copies.push(tcp.on_quiet_segment(side, seg, packet.ts));
                }
            });
        }
        assert_eq!(
            copies,
            effects[4..].iter().map(|e| e.duplicate).collect::<Vec<_>>()
        );
        assert_eq!(tcp.loss(), full.loss());
        assert_eq!(tcp.segments(C), full.segments(C));
        assert_eq!(tcp.segments(S), full.segments(S));
        assert_eq!(tcp.last_ts, full.last_ts);
        assert_eq!(tcp.recent().ids, full.recent().ids);
    }

    #[test]
    fn snap_length_cuts_and_conflicting_retransmissions_are_evidence() {
        let (tcp, app, _) = run(
            &[
                syn(C),
                syn_ack(S),
                data(C, 0, b"GET ").cut(6),
                data(C, 10, b"next"),
                // Held out of order, then a retransmission with other bytes over it.
                data(S, 4, b"efgh"),
                data(S, 6, b"ZZij"),
                data(S, 0, b"abcd"),
            ],
            false,
        );
        let c = tcp.stream(C).marks();
        assert!(c.truncated && !c.conflict);
        // A cut is evidence of its own (snaplen_truncated), not a capture gap; the parser is
        // still told, so it looks for the next message start.
        assert_eq!((c.gap, c.cut_bytes), (None, 6));
        assert!(app.calls.iter().any(|call| matches!(
            call,
            Call::Gap(
                C,
                Gap {
                    offset: 4,
                    len: 6,
                    ..
                },
                3
            )
        )));
        assert_eq!(c.packets, vec![3]);
        // The cut is a gap, not a stall: the stream goes on after it (the partial message
        // before it can never complete, so it goes too).
        assert_eq!(reads(&app, C), b"next");
        let s = tcp.stream(S).marks();
        assert!(s.conflict && !s.truncated);
        assert_eq!(s.packets, vec![6]);
        assert_eq!(reads(&app, S), b"abcdefghij", "the first copy wins");
    }

    #[test]
    fn fin_from_both_sides_closes_and_the_first_fin_names_the_closer() {
        let (_, app, effects) = run(
            &[syn(C), syn_ack(S), data(C, 0, b"q"), fin(S, 0), fin(C, 1)],
            true,
        );
        assert_eq!(
            effects.iter().map(|e| e.closed).collect::<Vec<_>>(),
            [false, false, false, false, true]
        );
        assert_eq!(
            closure(&app),
            Some(Closure {
                ending: Ending::ServerFin,
                at: ts_of(4),
                rst: false,
                closer: Some(S),
            })
        );
    }

    #[test]
    fn an_rst_closes_at_once_and_says_so() {
        let (_, app, effects) = run(&[syn(C), syn_ack(S), data(C, 0, b"q"), rst(C, 1)], true);
        assert!(effects.last().is_some_and(|e| e.closed));
        let c = closure(&app).unwrap_or_else(|| unreachable!());
        assert_eq!(
            (c.ending, c.rst, c.closer),
            (Ending::ClientRst, true, Some(C))
        );
    }

    #[test]
    fn the_end_flushes_holes_as_gaps_without_a_packet() {
        let (_, app, _) = run(
            &[syn(C), syn_ack(S), data(C, 0, b"ab"), data(C, 5, b"fg")],
            true,
        );
        let gaps: Vec<_> = app
            .calls
            .iter()
            .filter(|c| matches!(c, Call::Gap(..)))
            .collect();
        let gap = Gap {
            offset: 2,
            len: 3,
            needs_resync: true,
        };
        assert_eq!(gaps, [&Call::Gap(C, gap, 0)]);
        assert_eq!(reads(&app, C), b"abfg");
        let c = closure(&app).unwrap_or_else(|| unreachable!());
        assert_eq!((c.ending, c.closer), (Ending::CaptureEnded, None));
    }

    #[test]
    fn an_opening_replays_the_syns_into_the_connection() {
        let mut opening = Opening::default();
        opening.note(S, 77, true, 1001, ts_of(2));
        opening.note(C, 1000, false, 0, ts_of(1));
        opening.note(C, 9999, false, 0, ts_of(3));
        let tcp = opening.open(StreamLimits::default());
        assert_eq!(tcp.client_side(), Some(C));
        assert_eq!(tcp.connect_rtt_ns(), Some(1_000_000));
        assert!(tcp.stream(C).is_started() && tcp.stream(S).is_started());
    }
}
