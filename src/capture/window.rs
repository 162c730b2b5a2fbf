//! The re-sort window: which packet a file hands on next when its timestamps are out of order.
//!
//! In: the packets of one file as they are read, each with where it sits in the read buffer
//! and its timestamp. Out: the next packet to deliver, in timestamp order (file order among
//! equals), once no packet still to be read could come before it: packets are held until the
//! file has been read `window` past them (as reordercap sorts, but within a bounded span: a
//! merged or multi-queue capture is out of order by microseconds to milliseconds). A packet
//! later than that (it is timestamped before one already delivered) is delivered where it is
//! and counted as beyond the window; the engine then reads it out of order as before. The
//! file reader engages a window at a file's first packet out of order (or from its start
//! when asked), so an ordered file never pays for one.
//!
//! Pure bookkeeping: the packets themselves stay in the file's read buffer (no copy), this
//! holds their positions. In an ordered file every packet takes the queue's fast path (pushed
//! at the back, taken from the front); only packets that arrive late go through a heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::{Linktype, Timestamp};

/// Default span of capture time a file is read past a packet before it is handed on
/// (`--reorder-window`): more than a multi-queue NIC or a packet broker skews timestamps by,
/// small enough that the look-ahead of a fast capture stays a few MiB.
pub const DEFAULT_REORDER_WINDOW_NS: i64 = 10_000_000;

/// A packet read from the file, not yet handed on: where it is and what it says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    /// Offset of its record in the file.
    pub at: u64,
    /// Offset of the packet bytes inside the record.
    pub data_at: u32,
    /// Captured length.
    pub data_len: u32,
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link type of its interface.
    pub linktype: Linktype,
    /// Length on the wire.
    pub orig_len: u32,
    /// Handed on already (a late packet that went before packets read earlier).
    delivered: bool,
    /// Read after a packet timestamped later than it: ordered through the heap.
    late: bool,
}

impl Held {
    /// A packet read at file offset `at`.
    pub fn new(
        at: u64,
        data_at: u32,
        data_len: u32,
        ts: Timestamp,
        linktype: Linktype,
        orig_len: u32,
    ) -> Self {
        Held {
            at,
            data_at,
            data_len,
            ts,
            linktype,
            orig_len,
            delivered: false,
            late: false,
        }
    }
}

/// The packets of one file read ahead of delivery, and what their re-sorting did.
#[derive(Debug)]
pub(crate) struct Window {
    /// Span of capture time read past a packet before it goes (0: none, file order).
    span_ns: i64,
    /// Packets read and not yet released, in file order (delivered late ones included until
    /// the packets before them go, so the front is where the buffer may be consumed to).
    held: VecDeque<Held>,
    /// Sequence number (count of packets read before it) of `held`'s front.
    first_seq: u64,
    /// Index in `held` of the first in-order packet not delivered.
    cursor: usize,
    /// Late packets by (timestamp, sequence number).
    late: BinaryHeap<Reverse<(Timestamp, u64)>>,
    /// Latest timestamp read.
    latest_read: Option<Timestamp>,
    /// Latest timestamp delivered.
    latest_out: Option<Timestamp>,
    /// Late packets delivered in timestamp order (moved before packets read earlier).
    pub reordered: u64,
    /// Late packets that came after a later packet had been delivered: beyond the window.
    pub beyond: u64,
}

impl Window {
    /// A window over `span_ns` of capture time.
    pub fn new(span_ns: i64) -> Self {
        Window {
            span_ns: span_ns.max(0),
            held: VecDeque::new(),
            first_seq: 0,
            cursor: 0,
            late: BinaryHeap::new(),
            latest_read: None,
            latest_out: None,
            reordered: 0,
            beyond: 0,
        }
    }

    /// A window engaged after packets up to `last` went out in file order: packets before
    /// `last` count as late, and as beyond the window when they go.
    pub fn after(span_ns: i64, last: Timestamp) -> Self {
        let mut w = Window::new(span_ns);
        w.latest_read = Some(last);
        w.latest_out = Some(last);
        w
    }

    /// Packets read and not yet released.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Takes a packet just read (the next in file order).
    #[inline]
    pub fn push(&mut self, mut held: Held) {
        match self.latest_read {
            Some(latest) if held.ts < latest => {
                held.late = true;
                let seq = self.first_seq + self.held.len() as u64;
                self.late.push(Reverse((held.ts, seq)));
            }
            _ => self.latest_read = Some(held.ts),
        }
        self.held.push_back(held);
    }

    /// The earliest packet held: its sequence number and timestamp.
    #[inline]
    fn earliest(&mut self) -> Option<(u64, Timestamp)> {
        while self.held.get(self.cursor).is_some_and(|h| h.late) {
            self.cursor += 1;
        }
        let in_order = self
            .held
            .get(self.cursor)
            .map(|h| (self.first_seq + self.cursor as u64, h.ts));
        let late = self.late.peek().map(|Reverse((ts, seq))| (*seq, *ts));
        match (in_order, late) {
            (Some(a), Some(b)) => Some(if (b.1, b.0) < (a.1, a.0) { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// The timestamp of the held packet `seq`.
    pub fn ts_of(&self, seq: u64) -> Option<Timestamp> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.held.get(index).map(|h| h.ts)
    }

    /// The packet that may go now, if any: the earliest held, once the file has been read
    /// the window's span past it, or at once when `ended` (nothing more to read) or `full`
    /// (the look-ahead may not grow).
    #[inline]
    pub fn ready(&mut self, ended: bool, full: bool) -> Option<u64> {
        let (seq, ts) = self.earliest()?;
        let read_past = self
            .latest_read
            .is_some_and(|latest| ts.0.saturating_add(self.span_ns) <= latest.0);
        (read_past || ended || full).then_some(seq)
    }

    /// Hands on the packet `seq` (from [`Window::ready`]), counting it if it came late.
    #[inline]
    pub fn take(&mut self, seq: u64) -> Option<Held> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        let held = self.held.get_mut(index)?;
        if held.late {
            if self.late.peek().is_some_and(|Reverse((_, s))| *s == seq) {
                self.late.pop();
            }
            if self.latest_out.is_some_and(|out| held.ts < out) {
                self.beyond += 1;
            } else {
                self.reordered += 1;
            }
        } else {
            self.cursor = index + 1;
        }
        held.delivered = true;
        let held = *held;
        if self.latest_out.is_none_or(|out| held.ts > out) {
            self.latest_out = Some(held.ts);
        }
        Some(held)
    }

    /// Forgets the delivered packets at the front; returns the file offset of the first one
    /// still held (`None`: none is), up to which the read buffer may be consumed.
    #[inline]
    pub fn release(&mut self) -> Option<u64> {
        while self.held.front().is_some_and(|h| h.delivered) {
            self.held.pop_front();
            self.first_seq += 1;
            self.cursor = self.cursor.saturating_sub(1);
        }
        self.held.front().map(|h| h.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// Feeds packets with these timestamps (ms) through a window of `span` ms, reading ahead
    /// as the file reader does; returns the timestamps in delivery order and the counts.
    fn run(span: i64, ts: &[i64]) -> (Vec<i64>, u64, u64) {
        let mut w = Window::new(span * MS);
        let mut out = Vec::new();
        let mut next = 0;
        loop {
            let ended = next == ts.len();
            if let Some(seq) = w.ready(ended, false) {
                out.push(w.take(seq).unwrap().ts.0 / MS);
                w.release();
                continue;
            }
            let Some(&t) = ts.get(next) else { break };
            w.push(Held::new(
                next as u64 * 100,
                16,
                60,
                Timestamp(t * MS),
                Linktype::ETHERNET,
                60,
            ));
            next += 1;
        }
        (out, w.reordered, w.beyond)
    }

    #[test]
    fn an_ordered_file_comes_out_as_it_is_with_nothing_counted() {
        assert_eq!(
            run(10, &[1, 2, 2, 5, 30, 31]),
            (vec![1, 2, 2, 5, 30, 31], 0, 0)
        );
    }

    #[test]
    fn two_queues_interleaved_within_the_window_are_sorted() {
        // Queue A at 100.., queue B at 99.., written in batches of three.
        let got = run(
            10,
            &[100, 102, 104, 99, 101, 103, 106, 108, 110, 105, 107, 109],
        );
        assert_eq!(
            got.0,
            vec![99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110]
        );
        assert_eq!((got.1, got.2), (6, 0));
    }

    #[test]
    fn a_packet_later_than_the_window_goes_where_it_is_and_is_counted() {
        // 5 arrives 45 ms late with a 10 ms window: 10..30 are gone by then.
        let got = run(10, &[10, 20, 30, 40, 50, 5, 60]);
        assert_eq!(got.0, vec![10, 20, 30, 40, 5, 50, 60]);
        assert_eq!((got.1, got.2), (0, 1));
    }

    #[test]
    fn equal_timestamps_keep_file_order_and_a_zero_window_is_file_order() {
        let mut w = Window::new(0);
        for (i, t) in [3, 1, 2].into_iter().enumerate() {
            w.push(Held::new(
                i as u64,
                0,
                0,
                Timestamp(t),
                Linktype::ETHERNET,
                0,
            ));
        }
        // A zero span: the earliest held goes at once (the late 1 first, as read).
        let seq = w.ready(false, false).unwrap();
        assert_eq!(w.take(seq).unwrap().ts, Timestamp(1));
        assert_eq!(run(0, &[7, 7, 7]).0, vec![7, 7, 7]);
    }

    #[test]
    fn release_reports_where_the_buffer_may_be_consumed_to() {
        let mut w = Window::new(100 * MS);
        for (i, t) in [20, 10].into_iter().enumerate() {
            w.push(Held::new(
                i as u64 * 100,
                0,
                0,
                Timestamp(t * MS),
                Linktype::ETHERNET,
                0,
            ));
        }
        let seq = w.ready(false, true).unwrap();
        assert_eq!(w.take(seq).unwrap().ts, Timestamp(10 * MS));
        assert_eq!(w.release(), Some(0), "the packet before it is still held");
        let seq = w.ready(false, true).unwrap();
        w.take(seq);
        assert_eq!(w.release(), None);
        assert_eq!(w.reordered, 1);
    }
}
