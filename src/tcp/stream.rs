//! The byte-stream interface: one direction's ordered bytes as the parser above reads them,
//! with the evidence behind every byte.
//!
//! A [`ByteStream`] is what every application parser reads, whoever produced the bytes:
//!
//! ```text
//!  producer                                   ByteStream          consumer
//!  tcp::connection fills reassembly::Stream ─▶ (TCP payload)  ──▶ HTTP/1 framer + pairing,
//!  a TLS layer decrypts records into a Relay ─▶ (plaintext)   ──▶ the WebSocket walker
//!  an HTTP/2 layer copies DATA into a Relay ──▶ (a stream's     (through the dispatcher)
//!                                                bytes)
//! ```
//!
//! What travels with the bytes, so a layer that transforms them hands on the same evidence:
//! * the packet number and timestamp that carried each byte ([`ByteStream::origin`],
//!   [`ByteStream::packets`]): findings cite packets, whatever layer found them;
//! * gaps: the producer tells the consumer at once (`tcp::connection::Application::gap`,
//!   with the packet that proved it) and notes the gap in the stream's [`Marks`];
//! * the end: [`ByteStream::is_finished`] once the FIN (or the end of an h2 stream) is reached
//!   in order; how the connection closed (FIN/RST, by whom) comes at the end as a
//!   `tcp::connection::Closure`;
//! * evidence marks ([`Marks`]: gaps, snap-length cuts, retransmissions that carried other
//!   bytes, with their packets), which the consumer takes when it closes an exchange and turns
//!   into findings.
//!
//! A consumer skips bytes it does not need (an HTTP body, a WebSocket payload) with a
//! [`ByteStream::consume`] past the end of the buffer: the producer then drops them on arrival
//! without copying. [`Relay`] is the buffer a transforming layer fills; it keeps the same
//! contract as the TCP stream, so the parsers above cannot tell the two apart.
//!
//! Never does I/O; never parses what it carries.

use std::collections::VecDeque;
use std::ops::Range;

use crate::capture::Timestamp;

/// Where a run of buffered bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Stream offset of the first byte of the run.
    pub offset: u64,
    /// Packet number that carried it.
    pub packet: u64,
    /// That packet's timestamp.
    pub ts: Timestamp,
}

/// Bytes that were on the wire but never reached the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Stream offset where the missing bytes start.
    pub offset: u64,
    /// How many bytes are missing.
    pub len: u64,
    /// Whether the consumer must resynchronise: false when the gap lies inside bytes it had
    /// already chosen to skip.
    pub needs_resync: bool,
}

/// A test of a count-only direction's segment, given its bytes as captured: whether the
/// consumer wants to hear of it ([`ByteStream::count_only`]; TLS: "this segment starts with
/// an alert record"). Run once per counted segment, so it must be a few compares.
pub type SegmentWatch = fn(&[u8]) -> bool;

/// Most segments a count-only direction remembers for its [`SegmentWatch`] (the first ones).
pub const MAX_WATCHED: usize = 8;

/// How many first bytes of a watched segment are kept.
pub const WATCHED_LEN: usize = 8;

/// A counted segment its [`SegmentWatch`] picked: where it started and its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watched {
    /// Stream offset of the segment's first byte.
    pub offset: u64,
    /// The packet that carried it.
    pub packet: u64,
    /// That packet's timestamp.
    pub ts: Timestamp,
    /// Its first bytes (the rest zero when it was shorter).
    pub head: [u8; WATCHED_LEN],
}

/// What a count-only direction saw ([`ByteStream::count_only`]), read at its end.
#[derive(Debug)]
pub struct Counted {
    /// Stream offset where counting started: the first byte the consumer did not read.
    pub from: u64,
    /// Offset just past the last byte: `to - from` bytes followed, those the capture lost
    /// among them included.
    pub to: u64,
    /// The tail holds every byte since `from` (no more than 2×`keep` followed, no hole).
    pub whole: bool,
    /// Stream offset of the tail's first byte.
    pub tail_from: u64,
    /// The last bytes seen in order, ending at `to`, with the packets that carried them.
    pub tail: Relay,
    /// The first [`MAX_WATCHED`] counted segments the watch picked, in stream order.
    pub watched: Vec<Watched>,
}

/// Most packets a [`Marks`] cites (the first ones: where the trouble started).
pub const MAX_MARKED_PACKETS: usize = 8;

/// One direction's ordered bytes, as an application parser reads them.
pub trait ByteStream {
    /// The unconsumed in-order bytes.
    fn data(&self) -> &[u8];

    /// Drops `n` bytes from the front. `n` may run past [`ByteStream::data`]: that many bytes
    /// still to come are then dropped on arrival.
    fn consume(&mut self, n: u64);

    /// Where the buffered byte at `index` came from (packet number and timestamp).
    fn origin(&self, index: usize) -> Option<Origin>;

    /// Packet numbers that carried the buffered bytes `range`, in order, without repeats.
    fn packets(&self, range: Range<usize>) -> Vec<u64>;

    /// Stops storing anything: no parser reads this direction any more.
    fn ignore(&mut self);

    /// Stops storing this direction but goes on counting its bytes by sequence number,
    /// keeping the last `keep` to 2×`keep` of them (none when 0): the consumer needs only the
    /// size of what follows and its last flight (TLS bulk without keys). Each counted segment
    /// is shown to `watch`, and the first ones it picks are remembered with their first bytes
    /// ([`Counted::watched`]). The consumer is not called for this direction any more; it
    /// reads [`ByteStream::counted`] at the end. False when the stream cannot count (a
    /// [`Relay`]): it goes on as before.
    fn count_only(&mut self, keep: usize, watch: Option<SegmentWatch>) -> bool {
        let _ = (keep, watch);
        false
    }

    /// What the direction counted since [`ByteStream::count_only`]; `None` when it was not
    /// asked to count.
    fn counted(&self) -> Option<Counted> {
        None
    }

    /// Whether the end of the stream (TCP FIN) has been reached in order.
    fn is_finished(&self) -> bool;

    /// Evidence problems noted since the consumer last took them.
    fn marks(&self) -> &Marks;

    /// The marks, for the producer to note problems in and the consumer to take.
    fn marks_mut(&mut self) -> &mut Marks;
}

/// Evidence problems marked in one direction's bytes: what the capture lost or could not vouch for,
/// and the packets that show it. Noted by the producer, taken by the consumer when it closes
/// an exchange (the problems then belong to that exchange).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Bytes missing from the capture (several gaps add up; the first one's offset is kept).
    pub gap: Option<Gap>,
    /// Packets were cut by the snap length.
    pub truncated: bool,
    /// The snap length those packets were cut at (the bytes the capture kept of one).
    pub snaplen: u32,
    /// Payload bytes the cuts removed.
    pub cut_bytes: u64,
    /// A retransmission carried different bytes (the first copy was used).
    pub conflict: bool,
    /// The packets behind the problems, at most [`MAX_MARKED_PACKETS`].
    pub packets: Vec<u64>,
    /// Bytes wssniff did not keep because its memory budget (`--memcap`) was full: holes
    /// given up and unfinished messages dropped, not lost by the capture.
    pub memcap: u64,
}

impl Marks {
    /// Cites `packet` (once, and only among the first [`MAX_MARKED_PACKETS`]).
    pub fn note_packet(&mut self, packet: u64) {
        if self.packets.len() < MAX_MARKED_PACKETS && self.packets.last() != Some(&packet) {
            self.packets.push(packet);
        }
    }

    /// Notes a gap, proven by `packet` (0: by the end of the capture, no packet to cite).
    pub fn note_gap(&mut self, gap: Gap, packet: u64) {
        self.gap = Some(self.gap.map_or(gap, |g| Gap {
            len: g.len + gap.len,
            ..g
        }));
        if packet != 0 {
            self.note_packet(packet);
        }
    }

    /// Notes a packet cut by the snap length (`snaplen` bytes kept, `missing` payload bytes
    /// lost).
    pub fn note_cut(&mut self, snaplen: u32, missing: u64, packet: u64) {
        self.truncated = true;
        self.snaplen = self.snaplen.max(snaplen);
        self.cut_bytes = self.cut_bytes.saturating_add(missing);
        self.note_packet(packet);
    }

    /// Notes `bytes` not kept for want of memory budget, at `packet`.
    pub fn note_memcap(&mut self, bytes: u64, packet: u64) {
        self.memcap = self.memcap.saturating_add(bytes);
        self.note_packet(packet);
    }

    /// Takes the marks, leaving none.
    pub fn take(&mut self) -> Marks {
        std::mem::take(self)
    }
}

/// Most origins a [`Relay`] remembers for its buffered bytes.
const MAX_RELAY_ORIGINS: usize = 256;

/// Ordered bytes handed on by a layer that transforms a stream (TLS plaintext, an HTTP/2
/// stream's DATA): the producer appends what it decoded with the packet that carried it,
/// declares what it lost as gaps, and the parser above reads it as a [`ByteStream`].
/// Bytes arrive in order (the producer has reassembled and decoded them already), so there is
/// no out-of-order hold.
#[derive(Debug, Default)]
pub struct Relay {
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Offset just past the last byte appended or declared lost.
    end: u64,
    /// Bytes before this offset are not wanted (consumed past the buffer end).
    discard_until: u64,
    buf: Vec<u8>,
    origins: VecDeque<Origin>,
    marks: Marks,
    finished: bool,
    ignored: bool,
}

impl Relay {
    /// An empty relay at offset 0.
    #[must_use]
    pub fn new() -> Self {
        Relay::default()
    }

    /// Appends decoded bytes carried by `packet` at `ts`.
    pub fn append(&mut self, bytes: &[u8], packet: u64, ts: Timestamp) {
        let at = self.end;
        self.end += bytes.len() as u64;
        if self.ignored {
            return;
        }
        let skip = usize::try_from(self.discard_until.saturating_sub(at))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let wanted = bytes.get(skip..).unwrap_or_default();
        if wanted.is_empty() {
            if self.buf.is_empty() {
                self.base = self.end;
            }
            return;
        }
        let first = at + skip as u64;
        if self.buf.is_empty() {
            self.base = first;
        }
        if self.origins.len() >= MAX_RELAY_ORIGINS {
            self.origins.remove(1);
        }
        if self.origins.back().map(|o| o.packet) != Some(packet) {
            self.origins.push_back(Origin {
                offset: first,
                packet,
                ts,
            });
        }
        self.buf.extend_from_slice(wanted);
    }

    /// Whether the parser stopped reading this relay ([`ByteStream::ignore`]).
    #[must_use]
    pub fn is_ignored(&self) -> bool {
        self.ignored
    }

    /// `len` bytes were lost (a record that failed to decrypt, a frame the capture missed):
    /// the gap is marked and returned for the producer to hand to the parser.
    pub fn lose(&mut self, len: u64, packet: u64) -> Gap {
        let needs_resync = self.end.saturating_add(len) > self.discard_until;
        let gap = Gap {
            offset: self.end,
            len,
            needs_resync,
        };
        if needs_resync {
            // The partial message before the hole can never be completed.
            self.buf.clear();
            self.origins.clear();
        }
        self.end = self.end.saturating_add(len);
        self.base = self.end;
        self.discard_until = self.discard_until.max(self.end);
        self.marks.note_gap(gap, packet);
        gap
    }

    /// The layer below ended this stream (TLS close_notify, h2 END_STREAM, TCP FIN).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Bytes held, for memory accounting.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.buf.capacity() + self.origins.capacity() * std::mem::size_of::<Origin>()
    }
}

impl ByteStream for Relay {
    fn data(&self) -> &[u8] {
        &self.buf
    }

    fn consume(&mut self, n: u64) {
        let target = self.base.saturating_add(n);
        if n < self.buf.len() as u64 {
            self.buf.drain(..usize::try_from(n).unwrap_or(usize::MAX));
            self.base = target;
        } else {
            self.buf.clear();
            self.discard_until = self.discard_until.max(target);
            self.base = target.min(self.end);
        }
        while self.origins.len() > 1 && self.origins.get(1).is_some_and(|o| o.offset <= self.base) {
            self.origins.pop_front();
        }
    }

    fn origin(&self, index: usize) -> Option<Origin> {
        let offset = self.base + index as u64;
        let pos = self.origins.partition_point(|o| o.offset <= offset);
        self.origins.get(pos.checked_sub(1)?).copied()
    }

    fn packets(&self, range: Range<usize>) -> Vec<u64> {
        origin_packets(&self.origins, self.base, range)
    }

    fn ignore(&mut self) {
        self.ignored = true;
        self.buf = Vec::new();
        self.origins = VecDeque::new();
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn marks(&self) -> &Marks {
        &self.marks
    }

    fn marks_mut(&mut self) -> &mut Marks {
        &mut self.marks
    }
}

/// Packet numbers of the origins that overlap buffered bytes `range` of a buffer starting at
/// stream offset `base`.
pub(crate) fn origin_packets(
    origins: &VecDeque<Origin>,
    base: u64,
    range: Range<usize>,
) -> Vec<u64> {
    let start = base + range.start as u64;
    let end = base + range.end as u64;
    let mut packets: Vec<u64> = Vec::new();
    for (i, o) in origins.iter().enumerate() {
        let run_end = origins.get(i + 1).map_or(u64::MAX, |n| n.offset);
        if o.offset < end && run_end > start && packets.last() != Some(&o.packet) {
            packets.push(o.packet);
        }
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_merge_gaps_and_cites_the_first_packets_once() {
        let mut e = Marks::default();
        let gap = |offset, len| Gap {
            offset,
            len,
            needs_resync: true,
        };
        e.note_gap(gap(10, 5), 3);
        e.note_gap(gap(40, 7), 3);
        e.note_gap(gap(90, 1), 0);
        assert_eq!(e.gap, Some(gap(10, 13)));
        assert_eq!(e.packets, vec![3]);
        for p in 4..20 {
            e.note_packet(p);
        }
        assert_eq!(e.packets.len(), MAX_MARKED_PACKETS);
        assert_eq!(e.take().packets.first(), Some(&3));
        assert_eq!(e, Marks::default());
    }

    #[test]
    fn relay_keeps_origins_skips_consumed_bytes_and_reports_gaps() {
        let mut r = Relay::new();
        r.append(b"GET / HTTP/1.1\r\n", 4, Timestamp(1));
        r.append(b"\r\nbody", 6, Timestamp(2));
        assert_eq!(r.packets(0..r.data().len()), vec![4, 6]);
        assert_eq!(r.origin(17).map(|o| o.packet), Some(6));
        // Consume the head and 10 bytes of body, 6 of which have not arrived.
        r.consume(18 + 10);
        assert!(r.data().is_empty());
        r.append(b"123456NEXT", 7, Timestamp(3));
        assert_eq!(r.data(), b"NEXT");
        assert_eq!(r.origin(0).map(|o| o.packet), Some(7));
        let gap = r.lose(5, 8);
        assert!(gap.needs_resync);
        assert!(r.data().is_empty());
        assert_eq!(r.marks().gap.map(|g| g.len), Some(5));
        assert_eq!(r.marks().packets, vec![8]);
        // A loss inside bytes already skipped needs no resynchronisation.
        r.consume(100);
        assert!(!r.lose(50, 9).needs_resync);
    }
}
