//! One direction of a TCP connection turned back into an ordered byte stream.
//!
//! Sequence numbers are mapped to 64-bit stream offsets (offset 0 = the first byte after the
//! SYN, or the first byte seen when the capture started mid-connection), which makes
//! wrap-around a non-event. Bytes arrive three ways:
//!
//! ```text
//!            consumed             buffered (unconsumed)         out of order (held)
//!   ... ───────────────────┼───────────────────────────┼ hole ┼──────┼ hole ┼────┼
//!                        base                       next_off
//! ```
//!
//! * in order: appended to the buffer the consumer (the HTTP parser) reads from;
//! * ahead of `next_off`: held in a bounded map until the hole fills, the peer's ACK proves the
//!   hole was lost by the capture, or the hold cap is reached (then it is a [`Gap`]);
//! * behind `next_off` (retransmission): ignored, except that bytes still buffered are compared
//!   and a different copy is reported as a conflicting overlap (the first copy wins).
//!
//! A consumer that does not need some bytes (an HTTP body, a WebSocket payload) says so with
//! [`Stream::consume`] past the end of the buffer; those bytes are then dropped as they arrive,
//! and a gap that falls entirely inside them needs no resynchronisation.
//!
//! A consumer that needs only how many bytes follow and the last few of them (TLS bulk
//! without keys: its size, and the last flight before the FIN or RST) switches the stream to
//! [`Stream::count_only`]: an ignored stream that still moves its end offset by sequence
//! number and keeps a short tail, which the consumer reads at the end
//! ([`Stream::counted`]). Plaintext streams never take that branch.

use std::collections::{BTreeMap, VecDeque};

use crate::capture::Timestamp;
use crate::tcp::stream::{
    origin_packets, ByteStream, Counted, Marks, Relay, SegmentWatch, Watched, MAX_WATCHED,
    WATCHED_LEN,
};
pub use crate::tcp::stream::{Gap, Origin};

/// Limits for one direction's stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// Most unconsumed in-order bytes kept (the consumer's lookahead, e.g. an HTTP head).
    pub max_buffered: usize,
    /// Most bytes held out of order waiting for a hole to fill.
    pub max_out_of_order: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_buffered: 64 * 1024 + 4096,
            max_out_of_order: 256 * 1024,
        }
    }
}

/// Most out-of-order segments held at once (bounds per-insert work).
const MAX_OUT_OF_ORDER_SEGMENTS: usize = 512;
/// Most segment origins remembered for the buffered bytes (packet numbers for evidence).
const MAX_ORIGINS: usize = 256;
/// Bytes an out-of-order segment costs beyond its payload (its map entry, the `Held` and the
/// allocator's header), so a window of one-byte segments is not counted as a few bytes.
const HELD_OVERHEAD: usize = 64;
/// Most segment origins a count-only stream keeps for its tail (the oldest bytes go first).
const MAX_TAIL_ORIGINS: usize = 32;

/// A count-only stream's state ([`Stream::count_only`]).
#[derive(Debug)]
struct Counting {
    /// Stream offset where counting started (the first byte the consumer did not read).
    from: u64,
    /// The last this-many to twice this-many bytes are kept (none when 0).
    keep: usize,
    /// `tail` no longer holds every byte since `from` (trimmed, or a hole).
    spilled: bool,
    /// The bytes kept, contiguous, ending at the stream's `recv_end`.
    tail: Vec<u8>,
    /// Stream offset of `tail[0]`.
    tail_from: u64,
    /// Where the runs of `tail` came from.
    origins: VecDeque<Origin>,
    /// Shown each counted segment ([`Stream::count_only`]).
    watch: Option<SegmentWatch>,
    /// The first segments `watch` picked.
    watched: Vec<Watched>,
}

impl Counting {
    /// Shows a segment that starts at `offset` to the watch.
    fn watch(&mut self, offset: u64, segment: &[u8], packet: u64, ts: Timestamp) {
        let Some(watch) = self.watch else {
            return;
        };
        if self.watched.len() < MAX_WATCHED && watch(segment) {
            let mut head = [0u8; WATCHED_LEN];
            for (h, b) in head.iter_mut().zip(segment) {
                *h = *b;
            }
            self.watched.push(Watched {
                offset,
                packet,
                ts,
                head,
            });
        }
    }

    /// Appends `bytes`, which start at offset `first`, right after the tail or (after bytes
    /// the capture lost or has not delivered yet) in place of it.
    fn take(&mut self, first: u64, bytes: &[u8], packet: u64, ts: Timestamp) {
        if self.keep == 0 {
            return;
        }
        let skip = idx(self.from.saturating_sub(first)).min(bytes.len());
        let (first, bytes) = (first + skip as u64, bytes.get(skip..).unwrap_or_default());
        if bytes.is_empty() {
            return;
        }
        let contiguous = first == self.tail_from + self.tail.len() as u64;
        let cut = bytes.len().saturating_sub(self.keep);
        if !contiguous || cut > 0 {
            self.spilled = true;
            self.tail.clear();
            self.origins.clear();
            self.tail_from = first + cut as u64;
        }
        let bytes = bytes.get(cut..).unwrap_or_default();
        if self.origins.back().map(|o| o.packet) != Some(packet) {
            self.origins.push_back(Origin {
                offset: first + cut as u64,
                packet,
                ts,
            });
        }
        self.tail.extend_from_slice(bytes);
        // Trim in batches (a copy of `keep` bytes every `keep` bytes), and never keep more
        // runs than the origins remembered.
        let mut drop = if self.tail.len() > 2 * self.keep {
            self.tail.len() - self.keep
        } else {
            0
        };
        if self.origins.len() > MAX_TAIL_ORIGINS {
            self.origins.pop_front();
        }
        if let Some(o) = self.origins.front() {
            drop = drop.max(idx(o.offset.saturating_sub(self.tail_from)));
        }
        let drop = drop.min(self.tail.len());
        if drop > 0 {
            self.spilled = true;
            self.tail.drain(..drop);
            self.tail_from += drop as u64;
            while self.origins.len() > 1
                && self
                    .origins
                    .get(1)
                    .is_some_and(|o| o.offset <= self.tail_from)
            {
                self.origins.pop_front();
            }
            if let Some(o) = self.origins.front_mut() {
                o.offset = o.offset.max(self.tail_from);
            }
        }
    }

    fn memory(&self) -> usize {
        std::mem::size_of::<Counting>()
            + self.tail.capacity()
            + self.origins.capacity() * std::mem::size_of::<Origin>()
            + self.watched.capacity() * std::mem::size_of::<Watched>()
    }
}

/// What one [`Stream::push`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// New in-order bytes became available (buffered or skipped).
    pub advanced: bool,
    /// The segment was wholly a repeat of bytes already seen.
    pub retransmission: bool,
    /// Part of the segment repeated buffered bytes with different content.
    pub conflicting_overlap: bool,
    /// Bytes had to be dropped because a cap was reached.
    pub dropped_by_cap: u64,
    /// A gap was declared (holes given up on).
    pub gap: Option<Gap>,
    /// Bytes of out-of-order segments the memory budget had no room to hold (`--memcap`):
    /// the holes before them were given up instead. When this or `refused_unparsed` is
    /// non-zero, `gap` is the budget's doing, not the capture's.
    pub refused_segments: u64,
    /// In-order bytes the budget had no room to buffer, with the unfinished message they
    /// extended (dropped).
    pub refused_unparsed: u64,
}

/// One direction of a TCP connection.
#[derive(Debug)]
pub struct Stream {
    limits: StreamLimits,
    /// Sequence number of stream offset 0; `None` until the first SYN or data.
    seq_base: Option<u32>,
    /// Offset just past the last in-order byte received (buffered or dropped).
    recv_end: u64,
    /// Offset of the first byte of `buf`.
    base: u64,
    /// Unconsumed in-order bytes, starting at `base`.
    buf: Vec<u8>,
    /// Bytes before this offset are not wanted (consumed past the buffer end).
    discard_until: u64,
    /// Out-of-order segments by start offset; never overlapping each other.
    held: BTreeMap<u64, Held>,
    held_bytes: usize,
    origins: VecDeque<Origin>,
    /// Offset of the FIN, when seen.
    fin_at: Option<u64>,
    /// Stop storing anything: the consumer gave up on this stream.
    ignored: bool,
    /// Evidence problems marked by the connection, for the consumer to take.
    marks: Marks,
    /// Bytes the stream may still grow by during the push at hand (the memory budget's
    /// room; `usize::MAX` outside [`Stream::push_within`]).
    room: usize,
    /// Counting instead of storing ([`Stream::count_only`]); only on an ignored stream.
    counting: Option<Box<Counting>>,
}

impl Stream {
    /// A stream that has seen nothing yet.
    #[must_use]
    pub fn new(limits: StreamLimits) -> Self {
        Stream {
            limits,
            seq_base: None,
            recv_end: 0,
            base: 0,
            buf: Vec::new(),
            discard_until: 0,
            held: BTreeMap::new(),
            held_bytes: 0,
            origins: VecDeque::new(),
            fin_at: None,
            ignored: false,
            marks: Marks::default(),
            room: usize::MAX,
            counting: None,
        }
    }

    /// Offset of the next in-order byte expected.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.recv_end
    }

    /// The sequence number of stream offset `offset`, once the stream has started.
    #[must_use]
    pub fn seq_at(&self, offset: u64) -> Option<u32> {
        #[allow(clippy::cast_possible_truncation)]
        Some(self.seq_base?.wrapping_add(offset as u32))
    }

    /// Whether the stream has been initialised by a SYN or data.
    #[must_use]
    pub fn is_started(&self) -> bool {
        self.seq_base.is_some()
    }

    /// The unconsumed in-order bytes.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// Stream offset of `data()[0]`.
    #[must_use]
    pub fn data_offset(&self) -> u64 {
        self.base
    }

    /// Whether the FIN has been reached in order (no more data will follow).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.fin_at.is_some_and(|fin| self.recv_end >= fin)
    }

    /// Stops storing anything for this stream (not an application protocol wssniff reads).
    pub fn ignore(&mut self) {
        self.ignored = true;
        self.buf = Vec::new();
        self.held = BTreeMap::new();
        self.held_bytes = 0;
        self.origins = VecDeque::new();
    }

    /// Whether out-of-order segments are held waiting for a hole to fill (what an ACK of
    /// the peer may release).
    #[must_use]
    pub fn holds_out_of_order(&self) -> bool {
        !self.held.is_empty()
    }

    /// Whether [`Stream::ignore`] was called.
    #[must_use]
    pub fn is_ignored(&self) -> bool {
        self.ignored
    }

    /// Whether a push changes nothing: the stream has started and is ignored without
    /// counting, so every byte is dropped on arrival (no offset moves, nothing is kept).
    #[must_use]
    #[inline]
    pub fn drops_every_byte(&self) -> bool {
        self.ignored && self.counting.is_none() && self.seq_base.is_some()
    }

    /// Stops storing this direction but goes on counting it: its end offset moves by
    /// sequence number (bytes the capture lost included) and its last `keep` to 2×`keep`
    /// bytes are kept with their packets (none when `keep` is 0), for [`Stream::counted`]
    /// at the end; each segment counted from now on whose payload starts new bytes is shown
    /// to `watch` (the first [`MAX_WATCHED`] it picks are remembered). The consumer is
    /// not called for this direction any more (nothing is buffered for it). Counting starts
    /// at the first byte the consumer has not read: what is buffered now, or the end of what
    /// it consumed past the buffer.
    pub fn count_only(&mut self, keep: usize, watch: Option<SegmentWatch>) {
        if self.ignored {
            return;
        }
        let from = if self.buf.is_empty() {
            self.base.max(self.discard_until)
        } else {
            self.base
        };
        let mut counting = Counting {
            from,
            keep,
            spilled: false,
            tail: Vec::new(),
            tail_from: from,
            origins: VecDeque::new(),
            watch,
            watched: Vec::new(),
        };
        for (i, o) in self.origins.iter().enumerate() {
            let start = idx(o.offset.saturating_sub(self.base)).min(self.buf.len());
            let end = self
                .origins
                .get(i + 1)
                .map_or(self.buf.len(), |n| idx(n.offset.saturating_sub(self.base)))
                .min(self.buf.len());
            let run = self.buf.get(start..end).unwrap_or_default();
            counting.take(self.base + start as u64, run, o.packet, o.ts);
        }
        self.ignore();
        // An ignored stream holds no segment out of order: `held_bytes` carries the tail's
        // size instead, so `memory` (walked after every segment) costs plaintext nothing.
        self.held_bytes = counting.memory();
        self.counting = Some(Box::new(counting));
    }

    /// What a count-only direction saw since [`Stream::count_only`]; `None` otherwise.
    #[must_use]
    pub fn counted(&self) -> Option<Counted> {
        let c = self.counting.as_deref()?;
        let mut tail = Relay::new();
        for (i, o) in c.origins.iter().enumerate() {
            let start = idx(o.offset.saturating_sub(c.tail_from)).min(c.tail.len());
            let end = c
                .origins
                .get(i + 1)
                .map_or(c.tail.len(), |n| idx(n.offset.saturating_sub(c.tail_from)))
                .min(c.tail.len());
            tail.append(c.tail.get(start..end).unwrap_or_default(), o.packet, o.ts);
        }
        Some(Counted {
            from: c.from,
            to: self.recv_end.max(c.from),
            whole: !c.spilled && (c.keep > 0 || self.recv_end <= c.from),
            tail_from: c.tail_from,
            tail,
            watched: c.watched.clone(),
        })
    }

    /// A segment of a count-only stream: the end offset moves, the tail takes what is new.
    #[inline(never)]
    fn count(&mut self, seq: u32, payload: &[u8], packet: u64, ts: Timestamp) {
        let Some(start) = self.offset_of(seq) else {
            return;
        };
        let end = start.saturating_add(i64::try_from(payload.len()).unwrap_or(i64::MAX));
        let next = i64::try_from(self.recv_end).unwrap_or(i64::MAX);
        if payload.is_empty() || end <= next || start < 0 {
            return;
        }
        let behind = usize::try_from(next - start).unwrap_or(0);
        let first = start.unsigned_abs().max(self.recv_end);
        self.recv_end = end.unsigned_abs();
        if let Some(c) = self.counting.as_deref_mut() {
            if behind == 0 {
                // The whole segment is new: where its sender's write started, usually.
                c.watch(first, payload, packet, ts);
            }
            c.take(first, payload.get(behind..).unwrap_or_default(), packet, ts);
            self.held_bytes = c.memory();
        }
    }

    /// Bytes currently held (buffered plus out of order), for memory accounting.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.buf.capacity()
            + self.held_bytes
            + self.held.len() * HELD_OVERHEAD
            + self.origins.capacity() * std::mem::size_of::<Origin>()
    }

    /// Records a SYN: the stream starts at `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        if self.seq_base.is_none() {
            self.seq_base = Some(seq.wrapping_add(1));
        }
    }

    /// Records a FIN at `seq + payload_len`.
    pub fn fin(&mut self, seq: u32, payload_len: usize) {
        if let Some(off) = self.offset_of(seq) {
            let end = off.saturating_add(i64::try_from(payload_len).unwrap_or(i64::MAX));
            if end >= 0 {
                self.fin_at = Some(end.unsigned_abs());
            }
        }
    }

    /// Stream offset of `seq`, relative to where the stream is now (±2 GiB window).
    fn offset_of(&self, seq: u32) -> Option<i64> {
        let base = self.seq_base?;
        #[allow(clippy::cast_possible_truncation)]
        let next_seq = base.wrapping_add(self.recv_end as u32);
        #[allow(clippy::cast_possible_wrap)]
        let delta = i64::from(seq.wrapping_sub(next_seq) as i32);
        Some(
            i64::try_from(self.recv_end)
                .unwrap_or(i64::MAX)
                .saturating_add(delta),
        )
    }

    /// Takes a data segment.
    pub fn push(&mut self, seq: u32, payload: &[u8], packet: u64, ts: Timestamp) -> PushOutcome {
        self.push_within(seq, payload, packet, ts, usize::MAX)
    }

    /// Takes a data segment, growing by at most `room` bytes (the memory budget's room).
    /// What does not fit is not kept: an out-of-order segment gives up the holes before it
    /// (they become a gap and what was held is delivered), in-order bytes that cannot be
    /// buffered drop the unfinished message they belong to (a gap the consumer resynchronises
    /// after). Both are counted in the outcome's `refused_segments` / `refused_unparsed`.
    pub fn push_within(
        &mut self,
        seq: u32,
        payload: &[u8],
        packet: u64,
        ts: Timestamp,
        room: usize,
    ) -> PushOutcome {
        self.room = room;
        let out = self.push_segment(seq, payload, packet, ts);
        self.room = usize::MAX;
        out
    }

    fn push_segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        packet: u64,
        ts: Timestamp,
    ) -> PushOutcome {
        let mut out = PushOutcome::default();
        if payload.is_empty() || self.ignored {
            if self.counting.is_some() {
                self.count(seq, payload, packet, ts);
            }
            return out;
        }
        if self.seq_base.is_none() {
            // Capture started mid-connection: the first byte seen is offset 0.
            self.seq_base = Some(seq);
        }
        let Some(start) = self.offset_of(seq) else {
            return out;
        };
        let end = start.saturating_add(i64::try_from(payload.len()).unwrap_or(i64::MAX));
        let next = i64::try_from(self.recv_end).unwrap_or(i64::MAX);
        if end <= next {
            out.retransmission = true;
            out.conflicting_overlap = self.conflicts(start, payload);
            return out;
        }
        if start > next {
            self.hold(start.unsigned_abs(), payload, (packet, ts), &mut out);
            return out;
        }
        // Overlaps the expected point: the part behind it is a retransmission.
        let behind = usize::try_from(next - start).unwrap_or(usize::MAX);
        if behind > 0 {
            out.conflicting_overlap =
                self.conflicts(start, payload.get(..behind).unwrap_or_default());
        }
        self.append(
            payload.get(behind..).unwrap_or_default(),
            packet,
            ts,
            &mut out,
        );
        self.drain_held(&mut out);
        out
    }

    /// Whether the segment at `seq` with `captured` bytes ends exactly where the in-order
    /// bytes end now (it was appended, not held out of order or a repeat).
    #[must_use]
    pub fn ends_at_next(&self, seq: u32, captured: usize) -> bool {
        self.offset_of(seq).is_some_and(|start| {
            start.saturating_add(i64::try_from(captured).unwrap_or(i64::MAX))
                == i64::try_from(self.recv_end).unwrap_or(i64::MAX)
        })
    }

    /// The segment at `seq` carried `captured` bytes in the capture but `missing` more on the
    /// wire (cut by the snap length). If it was appended in order, the missing bytes are a gap
    /// now rather than a hole that stalls the stream.
    pub fn cut_short(&mut self, seq: u32, captured: usize, missing: u64) -> Option<Gap> {
        if missing == 0 || self.ignored {
            return None;
        }
        let end = self
            .offset_of(seq)?
            .saturating_add(i64::try_from(captured).unwrap_or(i64::MAX));
        if end != i64::try_from(self.recv_end).unwrap_or(i64::MAX) {
            return None;
        }
        let mut out = PushOutcome::default();
        self.skip_to(self.recv_end.saturating_add(missing), &mut out);
        self.drain_held(&mut out);
        out.gap
    }

    /// The peer acknowledged up to `ack`: held data beyond a hole the peer has already
    /// acknowledged means the hole was lost by the capture, not by the network.
    // The check inlined (it runs on every ACK and nearly always finds nothing held), the
    // release out of line.
    #[inline(always)]
    pub fn peer_ack(&mut self, ack: u32) -> Option<Gap> {
        if self.ignored || self.held.is_empty() {
            return None;
        }
        self.release_acked(ack)
    }

    /// [`Stream::peer_ack`] with segments held.
    #[inline(never)]
    fn release_acked(&mut self, ack: u32) -> Option<Gap> {
        let acked = self.offset_of(ack)?;
        let first_held = *self.held.keys().next()?;
        if acked < i64::try_from(first_held).unwrap_or(i64::MAX) {
            return None;
        }
        let mut out = PushOutcome::default();
        self.skip_to(first_held, &mut out);
        self.drain_held(&mut out);
        out.gap
    }

    /// Gives up on every hole (connection closed or capture ended) and delivers what is held.
    pub fn flush(&mut self) -> Option<Gap> {
        let mut out = PushOutcome::default();
        while let Some(&first) = self.held.keys().next() {
            self.skip_to(first, &mut out);
            self.drain_held(&mut out);
        }
        out.gap
    }

    /// Drops `n` bytes from the front: the consumer is done with them. `n` may run past the
    /// buffered bytes, in which case that many bytes still to come are dropped on arrival.
    pub fn consume(&mut self, n: u64) {
        let target = self.base.saturating_add(n);
        if n < self.buf.len() as u64 {
            self.buf.drain(..idx(n));
            self.base = target;
        } else {
            self.buf.clear();
            self.discard_until = self.discard_until.max(target);
            self.base = target.min(self.recv_end);
            if self.buf.capacity() > 4096 {
                // A burst (a large head) should not pin its buffer for the life of the flow.
                self.buf = Vec::new();
            }
        }
        while self.origins.len() > 1 && self.origins.get(1).is_some_and(|o| o.offset <= self.base) {
            self.origins.pop_front();
        }
        let until = self.discard_until;
        self.drop_held_below(until);
    }

    /// Drops every buffered byte (the consumer resynchronises).
    pub fn clear(&mut self) {
        self.consume(self.buf.len() as u64);
    }

    /// Where the buffered byte at `index` came from.
    #[must_use]
    pub fn origin(&self, index: usize) -> Option<Origin> {
        let offset = self.base + index as u64;
        let pos = self.origins.partition_point(|o| o.offset <= offset);
        self.origins.get(pos.checked_sub(1)?).copied()
    }

    /// Packet numbers that carried buffered bytes `range` (from at most `MAX_ORIGINS` runs).
    #[must_use]
    pub fn packets(&self, range: std::ops::Range<usize>) -> Vec<u64> {
        origin_packets(&self.origins, self.base, range)
    }

    fn conflicts(&self, start: i64, bytes: &[u8]) -> bool {
        // Compare with what is still buffered; consumed bytes are gone and cannot be checked.
        let base = i64::try_from(self.base).unwrap_or(i64::MAX);
        bytes.iter().enumerate().any(|(i, b)| {
            let at = start.saturating_add(i64::try_from(i).unwrap_or(0)) - base;
            usize::try_from(at)
                .ok()
                .and_then(|at| self.buf.get(at))
                .is_some_and(|old| old != b)
        })
    }

    /// Appends bytes that start exactly at `recv_end`.
    fn append(&mut self, bytes: &[u8], packet: u64, ts: Timestamp, out: &mut PushOutcome) {
        if bytes.is_empty() {
            return;
        }
        out.advanced = true;
        let at = self.recv_end;
        self.recv_end += bytes.len() as u64;
        // Bytes the consumer said to skip are dropped here, never copied.
        let skip = idx(self.discard_until.saturating_sub(at)).min(bytes.len());
        let wanted = bytes.get(skip..).unwrap_or_default();
        if wanted.is_empty() {
            if self.buf.is_empty() {
                self.base = self.recv_end;
            }
            return;
        }
        let first = at + skip as u64;
        if self.buf.is_empty() {
            self.base = first;
        }
        let room = self.limits.max_buffered.saturating_sub(self.buf.len());
        let take = wanted.len().min(room);
        if take < wanted.len() {
            out.dropped_by_cap += (wanted.len() - take) as u64;
            // What did not fit is lost to the consumer, like a gap it has been told about.
            self.discard_until = self.discard_until.max(self.recv_end);
        }
        if take == 0 {
            return;
        }
        if !self.grow_buf(take) {
            self.refuse_unparsed(take, first, out);
            return;
        }
        if self.origins.len() >= MAX_ORIGINS {
            // Keep the first origin (start of the message) and the newest ones.
            self.origins.remove(1);
        }
        if self.origins.back().map(|o| o.packet) != Some(packet) {
            self.origins.push_back(Origin {
                offset: first,
                packet,
                ts,
            });
        }
        self.buf
            .extend_from_slice(wanted.get(..take).unwrap_or_default());
    }

    /// Makes room in `buf` for `more` bytes within the budget: doubling as `Vec` does, but
    /// never past the buffer cap, and only as far as the budget's room allows. False when even
    /// the exact growth does not fit.
    fn grow_buf(&mut self, more: usize) -> bool {
        let (len, cap) = (self.buf.len(), self.buf.capacity());
        let need = len.saturating_add(more);
        if need <= cap {
            return true;
        }
        let doubled = cap
            .saturating_mul(2)
            .max(64)
            .min(self.limits.max_buffered.max(need))
            .max(need);
        let target = if doubled - cap <= self.room {
            doubled
        } else if need - cap <= self.room {
            need
        } else {
            return false;
        };
        self.room -= target - cap;
        self.buf.reserve_exact(target - len);
        true
    }

    /// The budget had no room for `more` in-order bytes starting at `first`: the unfinished
    /// message they extend is dropped with them (it can never be completed), declared as a
    /// gap the consumer resynchronises after.
    fn refuse_unparsed(&mut self, more: usize, first: u64, out: &mut PushOutcome) {
        let from = if self.buf.is_empty() {
            first
        } else {
            self.base
        };
        let lost = (self.buf.len() + more) as u64;
        out.refused_unparsed += lost;
        self.buf = Vec::new();
        self.origins = VecDeque::new();
        self.base = self.recv_end;
        self.discard_until = self.discard_until.max(self.recv_end);
        let gap = Gap {
            offset: from,
            len: self.recv_end - from,
            needs_resync: true,
        };
        out.gap = Some(match out.gap {
            Some(g) => {
                let offset = g.offset.min(gap.offset);
                let end = (g.offset + g.len).max(gap.offset + gap.len);
                Gap {
                    offset,
                    len: end - offset,
                    needs_resync: true,
                }
            }
            None => gap,
        });
    }

    fn hold(
        &mut self,
        start: u64,
        payload: &[u8],
        origin: (u64, Timestamp),
        out: &mut PushOutcome,
    ) {
        let end = start + payload.len() as u64;
        // Trim against held neighbours: the first copy wins.
        let mut pieces: Vec<(u64, u64)> = vec![(start, end)];
        let from = self
            .held
            .range(..start)
            .next_back()
            .map_or(start, |(k, _)| *k);
        for (&k, v) in self.held.range(from..end) {
            let k_end = k + v.bytes.len() as u64;
            let mut next_pieces = Vec::with_capacity(pieces.len() + 1);
            for (s, e) in pieces {
                if k_end <= s || k >= e {
                    next_pieces.push((s, e));
                    continue;
                }
                let (os, oe) = (s.max(k), e.min(k_end));
                let new = payload
                    .get(idx(os - start)..idx(oe - start))
                    .unwrap_or_default();
                let old = v.bytes.get(idx(os - k)..idx(oe - k)).unwrap_or_default();
                if new != old {
                    out.conflicting_overlap = true;
                }
                if s < os {
                    next_pieces.push((s, os));
                }
                if oe < e {
                    next_pieces.push((oe, e));
                }
            }
            pieces = next_pieces;
        }
        if pieces.is_empty() {
            out.retransmission = true;
        }
        for (s, e) in pieces {
            let bytes = payload
                .get(idx(s - start)..idx(e - start))
                .unwrap_or_default();
            if s > self.recv_end && bytes.len() + HELD_OVERHEAD > self.room {
                // The budget has no room to hold it: give up every hole before it (what is
                // held goes on to the consumer) instead of growing.
                out.refused_segments += bytes.len() as u64;
                while self.recv_end < s {
                    let first = self.held.keys().next().map_or(s, |&k| k.min(s));
                    self.skip_to(first, out);
                    self.drain_held(out);
                }
            }
            if self.held_bytes + bytes.len() > self.limits.max_out_of_order
                || self.held.len() >= MAX_OUT_OF_ORDER_SEGMENTS
            {
                // The hold cap is reached: give up on the first hole rather than grow.
                let first = self.held.keys().next().map_or(s, |&k| k.min(s));
                self.skip_to(first, out);
                self.drain_held(out);
            }
            if s <= self.recv_end {
                let from = idx(self.recv_end - s).min(bytes.len());
                self.append(
                    bytes.get(from..).unwrap_or_default(),
                    origin.0,
                    origin.1,
                    out,
                );
                self.drain_held(out);
            } else if self.held_bytes + bytes.len() <= self.limits.max_out_of_order {
                self.room = self.room.saturating_sub(bytes.len() + HELD_OVERHEAD);
                self.held_bytes += bytes.len();
                self.held.insert(
                    s,
                    Held {
                        bytes: bytes.to_vec(),
                        packet: origin.0,
                        ts: origin.1,
                    },
                );
            } else {
                out.dropped_by_cap += bytes.len() as u64;
            }
        }
    }

    /// Delivers held segments that now start at or before the expected point.
    fn drain_held(&mut self, out: &mut PushOutcome) {
        while let Some(entry) = self.held.first_entry() {
            let start = *entry.key();
            if start > self.recv_end {
                break;
            }
            let held = entry.remove();
            self.held_bytes -= held.bytes.len();
            let end = start + held.bytes.len() as u64;
            if end <= self.recv_end {
                continue;
            }
            let tail = held
                .bytes
                .get(idx(self.recv_end - start)..)
                .unwrap_or_default();
            self.append(tail, held.packet, held.ts, out);
        }
    }

    /// Jumps the expected point forward to `to`, declaring the bytes in between lost.
    fn skip_to(&mut self, to: u64, out: &mut PushOutcome) {
        let next = self.recv_end;
        if to <= next {
            return;
        }
        let needs_resync = to > self.discard_until;
        let gap = Gap {
            offset: next,
            len: to - next,
            needs_resync,
        };
        out.gap = Some(match out.gap {
            Some(g) => Gap {
                offset: g.offset,
                len: g.len + gap.len,
                needs_resync: g.needs_resync || needs_resync,
            },
            None => gap,
        });
        if needs_resync {
            // The partial message before the hole can never be completed.
            self.buf.clear();
            self.origins.clear();
        }
        self.recv_end = to;
        self.base = to;
        self.discard_until = self.discard_until.max(to);
    }

    fn drop_held_below(&mut self, offset: u64) {
        while let Some(entry) = self.held.first_entry() {
            let start = *entry.key();
            let len = entry.get().bytes.len() as u64;
            if start + len <= offset {
                self.held_bytes -= entry.remove().bytes.len();
            } else {
                break;
            }
        }
    }
}

impl ByteStream for Stream {
    fn data(&self) -> &[u8] {
        Stream::data(self)
    }

    fn consume(&mut self, n: u64) {
        Stream::consume(self, n);
    }

    fn origin(&self, index: usize) -> Option<Origin> {
        Stream::origin(self, index)
    }

    fn packets(&self, range: std::ops::Range<usize>) -> Vec<u64> {
        Stream::packets(self, range)
    }

    fn ignore(&mut self) {
        Stream::ignore(self);
    }

    fn count_only(&mut self, keep: usize, watch: Option<SegmentWatch>) -> bool {
        Stream::count_only(self, keep, watch);
        true
    }

    fn counted(&self) -> Option<Counted> {
        Stream::counted(self)
    }

    fn is_finished(&self) -> bool {
        Stream::is_finished(self)
    }

    fn marks(&self) -> &Marks {
        &self.marks
    }

    fn marks_mut(&mut self) -> &mut Marks {
        &mut self.marks
    }
}

/// An out-of-order segment waiting for its hole to fill.
#[derive(Debug)]
struct Held {
    bytes: Vec<u8>,
    packet: u64,
    ts: Timestamp,
}

fn idx(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts() -> Timestamp {
        Timestamp(0)
    }

    /// Feeds `(relative seq, bytes)` pairs to a stream that saw a SYN at seq `isn`.
    fn feed(isn: u32, segments: &[(u32, &[u8])]) -> (Stream, Vec<PushOutcome>) {
        let mut s = Stream::new(StreamLimits::default());
        s.syn(isn);
        let outs = segments
            .iter()
            .enumerate()
            .map(|(i, (rel, bytes))| {
                s.push(
                    isn.wrapping_add(1).wrapping_add(*rel),
                    bytes,
                    i as u64 + 1,
                    ts(),
                )
            })
            .collect();
        (s, outs)
    }

    #[test]
    fn in_order_and_reordered_give_the_same_bytes() {
        let (a, _) = feed(100, &[(0, b"GET "), (4, b"/ HT"), (8, b"TP/1.1")]);
        let (b, _) = feed(100, &[(8, b"TP/1.1"), (0, b"GET "), (4, b"/ HT")]);
        assert_eq!(a.data(), b"GET / HTTP/1.1");
        assert_eq!(b.data(), b"GET / HTTP/1.1");
    }

    #[test]
    fn sequence_wraps_around() {
        let (s, _) = feed(u32::MAX - 2, &[(0, b"abcd"), (4, b"efgh")]);
        assert_eq!(s.data(), b"abcdefgh");
    }

    #[test]
    fn retransmission_and_conflicting_overlap() {
        let (s, outs) = feed(0, &[(0, b"hello"), (0, b"hello"), (2, b"XXo w")]);
        assert_eq!(s.data(), b"hello w");
        assert!(outs[1].retransmission && !outs[1].conflicting_overlap);
        assert!(outs[2].conflicting_overlap);
    }

    #[test]
    fn overlapping_held_segments_first_copy_wins() {
        let (s, outs) = feed(0, &[(4, b"efgh"), (6, b"ZZij"), (0, b"abcd")]);
        assert_eq!(s.data(), b"abcdefghij");
        assert!(outs[1].conflicting_overlap);
    }

    #[test]
    fn peer_ack_past_a_hole_declares_a_gap() {
        let (mut s, _) = feed(0, &[(0, b"abc"), (10, b"klm")]);
        assert_eq!(s.data(), b"abc");
        let gap = s.peer_ack(1 + 13).unwrap();
        assert_eq!(
            gap,
            Gap {
                offset: 3,
                len: 7,
                needs_resync: true
            }
        );
        assert_eq!(s.data(), b"klm");
        assert_eq!(s.data_offset(), 10);
    }

    #[test]
    fn gap_inside_skipped_bytes_needs_no_resync() {
        let (mut s, _) = feed(0, &[(0, b"head")]);
        s.consume(20); // head + 16 body bytes not wanted
        s.push(1 + 30, b"next", 3, ts());
        let gap = s.flush().unwrap();
        assert!(gap.needs_resync, "the hole 20..30 was wanted");
        let (mut s, _) = feed(0, &[(0, b"head")]);
        s.consume(40);
        s.push(1 + 30, b"body", 3, ts());
        s.push(1 + 40, b"next", 4, ts());
        let gap = s.flush().unwrap();
        assert!(!gap.needs_resync);
        assert_eq!(s.data(), b"next");
    }

    #[test]
    fn skipped_bytes_are_never_buffered() {
        let (mut s, _) = feed(0, &[(0, b"ab")]);
        s.consume(10);
        s.push(1 + 2, b"cdefghijKL", 2, ts());
        assert_eq!(s.data(), b"KL");
        assert_eq!(s.data_offset(), 10);
    }

    #[test]
    fn buffer_cap_drops_and_reports() {
        let mut s = Stream::new(StreamLimits {
            max_buffered: 8,
            max_out_of_order: 8,
        });
        s.syn(0);
        let out = s.push(1, b"0123456789", 1, ts());
        assert_eq!(out.dropped_by_cap, 2);
        assert_eq!(s.data(), b"01234567");
        // Holding past the cap gives up on the hole instead of growing.
        let out = s.push(1 + 30, b"abcdefghijk", 2, ts());
        assert!(out.gap.is_some() || s.memory() < 64);
    }

    #[test]
    fn origins_name_the_frames() {
        let (s, _) = feed(0, &[(0, b"GET "), (4, b"/x HTTP/1.1\r\n\r\n")]);
        assert_eq!(s.packets(0..s.data().len()), vec![1, 2]);
        assert_eq!(s.origin(5).map(|o| o.packet), Some(2));
    }

    #[test]
    fn a_count_only_stream_counts_by_sequence_number_and_keeps_only_its_tail() {
        let mut s = Stream::new(StreamLimits::default());
        s.syn(0);
        assert!(s.push(1, b"head", 1, ts()).advanced);
        // The consumer read the head and skips a 10-byte payload still to come.
        s.consume(14);
        s.count_only(8, None);
        assert!(s.is_ignored() && s.data().is_empty());
        let counted = s.counted().unwrap();
        assert_eq!((counted.from, counted.to), (14, 14));
        // The skipped payload, then the counted bytes: a repeat changes nothing, a hole is
        // counted (the bytes were on the wire) and restarts the tail.
        s.push(5, b"0123456789abcdef", 2, ts());
        s.push(5, b"0123456789abcdef", 3, ts());
        s.push(31, b"XYZ", 4, ts());
        s.push(34, b"0123456789", 5, ts());
        let counted = s.counted().unwrap();
        assert_eq!((counted.from, counted.to), (14, 43));
        assert!(!counted.whole);
        assert!(counted.tail.data().len() <= 16);
        assert!(counted.tail.data().ends_with(b"456789"));
        assert_eq!(
            counted.tail_from + counted.tail.data().len() as u64,
            43,
            "the tail ends at the end"
        );
        assert_eq!(
            counted
                .tail
                .origin(counted.tail.data().len() - 1)
                .map(|o| o.packet),
            Some(5)
        );
        assert_eq!(
            s.memory(),
            s.held_bytes,
            "the tail is what the stream holds"
        );
        // A FIN is still found at its place.
        s.fin(44, 0);
        assert!(s.is_finished());
    }

    #[test]
    fn counting_starts_with_what_is_buffered_and_a_short_stream_keeps_all_of_it() {
        let mut s = Stream::new(StreamLimits::default());
        s.syn(0);
        s.push(1, b"abcdef", 1, ts());
        s.consume(2);
        s.count_only(64, None);
        s.push(7, b"gh", 2, ts());
        let counted = s.counted().unwrap();
        assert!(counted.whole);
        assert_eq!((counted.from, counted.to, counted.tail_from), (2, 8, 2));
        assert_eq!(counted.tail.data(), b"cdefgh");
        assert_eq!(counted.tail.origin(0).map(|o| o.packet), Some(1));
        assert_eq!(counted.tail.origin(4).map(|o| o.packet), Some(2));
        // Past 2×64 bytes only the last ones are kept; the count goes on.
        s.push(9, &[0; 200], 3, ts());
        let counted = s.counted().unwrap();
        assert!(!counted.whole && counted.tail.data().len() <= 128);
        assert_eq!(counted.to, 208);
        assert_eq!(s.memory(), s.held_bytes);
        // With no tail asked for, nothing is kept at all.
        let mut s = Stream::new(StreamLimits::default());
        s.syn(0);
        s.count_only(0, None);
        assert!(s.counted().unwrap().whole, "nothing counted yet");
        s.push(1, &[0; 100], 1, ts());
        let counted = s.counted().unwrap();
        assert!(!counted.whole && counted.tail.data().is_empty());
        assert_eq!((counted.from, counted.to), (0, 100));
    }

    #[test]
    fn a_count_only_stream_shows_each_new_segment_to_its_watch_and_keeps_the_first_picked() {
        let mut s = Stream::new(StreamLimits::default());
        s.syn(0);
        s.count_only(16, Some(|seg: &[u8]| seg.first() == Some(&b'!')));
        s.push(1, b"!one", 1, ts());
        s.push(5, b"two", 2, ts());
        // A retransmission that brings some new bytes: it starts inside old ones, not a pick.
        s.push(6, b"!wo3", 3, ts());
        s.push(10, b"!three-long", 4, ts());
        for k in 0..20u32 {
            s.push(21 + k * 2, b"!x", 5 + u64::from(k), ts());
        }
        let counted = s.counted().unwrap();
        assert_eq!(counted.watched.len(), MAX_WATCHED, "the first ones only");
        let first = counted.watched[0];
        assert_eq!((first.offset, first.packet), (0, 1));
        assert_eq!(&first.head, b"!one\0\0\0\0");
        assert_eq!(counted.watched[1].packet, 4);
        assert_eq!(&counted.watched[1].head, b"!three-l");
        assert_eq!(counted.watched[2].offset, 20);
        assert_eq!(
            s.memory(),
            s.held_bytes,
            "the picks count in the stream's size"
        );
        // Without a watch nothing is picked.
        let mut s = Stream::new(StreamLimits::default());
        s.syn(0);
        s.count_only(16, None);
        s.push(1, b"!one", 1, ts());
        assert!(s.counted().unwrap().watched.is_empty());
    }
}
