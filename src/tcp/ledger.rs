//! What the capture holds of each direction of a connection, set against what the peers
//! acknowledged: the evidence that tells the capture's loss from the network's.
//!
//! ```text
//!  bytes sent by one side   origin ────────── end ─ ─ ─ ─ ─ ─ acked
//!                           (SYN + 1, first     (highest byte     (highest ACK from
//!                           data, or first      captured, as on   the other side)
//!                           peer ACK)           the wire)
//!  acked past end: the peer received bytes the capture never saw ─▶ capture loss (a gap event)
//!  data behind end: the sender sent bytes again                  ─▶ network loss (retransmission)
//! ```
//!
//! A segment cut by the snap length counts with its length on the wire, so a snap-length cut
//! is neither kind of loss; packets a SPAN port duplicated are dropped before they reach TCP
//! (the engine's duplicate filter), so they never count as retransmissions. The capture-loss
//! ratio is Zeek's `capture_loss.log` `percent_lost`: gap events (ACKs for a sequence number
//! above bytes the capture did not see) per ACK seen, with the missed bytes beside it.
//!
//! Pure bookkeeping on sequence numbers: a few words per direction, no buffers, no I/O.

pub use crate::event::TcpLoss as Loss;

/// Whether sequence number `a` is after `b` (RFC 9293 §3.4 modular comparison).
fn after(a: u32, b: u32) -> bool {
    #[allow(clippy::cast_possible_wrap)]
    let delta = a.wrapping_sub(b) as i32;
    delta > 0
}

/// The sequence space of one direction as the capture saw it.
#[derive(Clone, Copy, Debug, Default)]
struct Direction {
    /// Sequence number of the first byte (after the SYN), once known.
    origin: Option<u32>,
    /// Just past the highest byte captured (its length on the wire), FIN included.
    end: Option<u32>,
    /// Highest acknowledgment from the peer.
    acked: Option<u32>,
    /// Segments captured from this side.
    segments: u64,
    /// A FIN from this side was captured.
    fin: bool,
    /// Every byte before this sequence number that the capture missed is counted.
    missed_to: Option<u32>,
}

impl Direction {
    /// The peer acknowledged up to `ack`: returns the bytes it acknowledged that the capture
    /// never held (0 when none), and whether the ACK acknowledged new bytes at all.
    fn ack(&mut self, ack: u32) -> (bool, u64) {
        let origin = *self.origin.get_or_insert(ack);
        let end = *self.end.get_or_insert(origin);
        let prev = self.acked.unwrap_or(origin);
        if self.acked.is_some() && !after(ack, prev) {
            return (false, 0);
        }
        self.acked = Some(ack);
        if !after(ack, prev) {
            return (false, 0);
        }
        // Bytes between what the capture holds (or what was acknowledged before) and this ACK.
        let from = if after(end, prev) { end } else { prev };
        let missed = if after(ack, from) {
            self.missed_to = Some(ack);
            u64::from(ack.wrapping_sub(from))
        } else {
            0
        };
        (true, missed)
    }

    /// A segment from this side at `seq`, `len` bytes long on the wire (SYN and FIN
    /// included): returns the bytes it repeats that were captured before.
    fn sent(&mut self, seq: u32, len: u32) -> u64 {
        self.segments += 1;
        let origin = *self.origin.get_or_insert(seq);
        let end = *self.end.get_or_insert(origin);
        let seg_end = seq.wrapping_add(len);
        if len == 0 {
            return 0;
        }
        // The part of the segment before `end` was captured already.
        let repeated = if after(end, seq) {
            u64::from(end.wrapping_sub(seq).min(len))
        } else {
            0
        };
        if after(seg_end, end) {
            self.end = Some(seg_end);
        }
        repeated
    }
}

/// Both directions of one connection, indexed by [`crate::tcp::flow::Side::index`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Ledger {
    dirs: [Direction; 2],
    loss: Loss,
}

impl Ledger {
    fn dir(&mut self, index: usize) -> &mut Direction {
        let [lo, hi] = &mut self.dirs;
        if index == 0 {
            lo
        } else {
            hi
        }
    }

    /// A segment captured from side `from` (index): its sequence number, its length on the
    /// wire (payload, plus one for SYN and for FIN), and its acknowledgment of the other side,
    /// when it carries one. Returns the bytes the ACK proved the capture missed.
    // Inlined into the connection's segment path: it runs on every packet, and passing its
    // five arguments cost a third of its body.
    #[inline(always)]
    pub fn segment(
        &mut self,
        from: usize,
        seq: u32,
        wire_len: u32,
        syn: bool,
        ack: Option<u32>,
    ) -> u64 {
        // The sender's direction and the peer's, with one branch for both.
        let [lo, hi] = &mut self.dirs;
        let (d, peer) = if from == 0 { (lo, hi) } else { (hi, lo) };
        if syn {
            d.origin.get_or_insert(seq.wrapping_add(1));
        }
        let payload_start = if syn { seq.wrapping_add(1) } else { seq };
        let repeated = d.sent(payload_start, wire_len.saturating_sub(u32::from(syn)));
        if repeated > 0 {
            self.loss.retransmitted_segments += 1;
            self.loss.retransmitted_bytes += repeated;
        }
        let Some(ack) = ack else {
            return 0;
        };
        let (new, missed) = peer.ack(ack);
        if new {
            self.loss.acks += 1;
        }
        if missed > 0 {
            self.loss.gaps += 1;
            self.loss.missed_bytes += missed;
        }
        missed
    }

    /// A FIN from side `from` was captured.
    pub fn fin(&mut self, from: usize) {
        self.dir(from).fin = true;
    }

    /// The reassembly found a hole in side `from`'s stream that the peer acknowledged: `len`
    /// bytes from sequence number `start`, inside the captured range, that never arrived.
    /// Capture loss the high-water marks cannot see; the part an earlier ACK already counted
    /// (it passed the captured end then) is not counted again.
    pub fn hole_acked(&mut self, from: usize, start: u32, len: u64) {
        let d = self.dir(from);
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        let end = start.wrapping_add(len32);
        let fresh = match d.missed_to {
            Some(to) if !after(end, to) => 0,
            Some(to) if after(to, start) => u64::from(end.wrapping_sub(to)),
            _ => len,
        };
        if fresh > 0 {
            self.loss.gaps += 1;
            self.loss.missed_bytes += fresh;
        }
    }

    /// The counts so far.
    #[must_use]
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Segments captured from side `index`.
    #[must_use]
    pub fn segments(&self, index: usize) -> u64 {
        self.dirs.get(index).map_or(0, |d| d.segments)
    }

    /// Whether only one direction is in the capture although the other demonstrably spoke:
    /// every segment came from one side, and its ACKs acknowledged bytes (or a SYN) from the
    /// other. A SYN never answered (a dropped connection attempt) is not one-sided.
    #[must_use]
    pub fn one_sided(&self) -> bool {
        let [a, b] = &self.dirs;
        let acked_unseen = |d: &Direction| d.segments == 0 && d.acked.is_some();
        (a.segments > 0 && acked_unseen(b)) || (b.segments > 0 && acked_unseen(a))
    }

    /// Bytes of side `index`'s stream that the other side acknowledged beyond what the
    /// capture holds. A FIN the capture did not see is acknowledged too (one sequence number):
    /// when the acknowledging side closed (so the connection was closing both ways), one is
    /// taken off for it.
    #[must_use]
    pub fn acked_unseen(&self, index: usize) -> u64 {
        let Some(d) = self.dirs.get(index) else {
            return 0;
        };
        let peer_closed = self.dirs.get(1 - index.min(1)).is_some_and(|p| p.fin);
        let (Some(origin), Some(acked)) = (d.origin, d.acked) else {
            return 0;
        };
        let end = d.end.unwrap_or(origin);
        if !after(acked, end) {
            return 0;
        }
        let n = u64::from(acked.wrapping_sub(end));
        if !d.fin && peer_closed {
            // The acknowledging side closed: in a normal close both sides send a FIN, and
            // this side's (not captured) takes one sequence number of what was acknowledged.
            return n.saturating_sub(1);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: usize = 0;
    const S: usize = 1;

    /// A two-way exchange: SYN, SYN-ACK, ACK, 100 request bytes, 50 response bytes, acks.
    fn clean() -> Ledger {
        let mut l = Ledger::default();
        l.segment(C, 1000, 1, true, None);
        l.segment(S, 5000, 1, true, Some(1001));
        l.segment(C, 1001, 0, false, Some(5001));
        l.segment(C, 1001, 100, false, Some(5001));
        l.segment(S, 5001, 50, false, Some(1101));
        l.segment(C, 1101, 0, false, Some(5051));
        l
    }

    #[test]
    fn a_clean_exchange_has_acks_and_no_loss() {
        let l = clean();
        assert!(l.loss().is_clean());
        assert_eq!(
            l.loss().acks,
            2,
            "the ACKs of the request and of the response"
        );
        assert!(!l.one_sided());
        assert_eq!(l.acked_unseen(S), 0);
    }

    #[test]
    fn an_ack_past_the_captured_bytes_is_capture_loss_counted_once() {
        let mut l = clean();
        // The server sent 40 bytes the capture lost; the client acknowledges them twice.
        l.segment(C, 1101, 0, false, Some(5091));
        l.segment(C, 1101, 0, false, Some(5091));
        let loss = l.loss();
        assert_eq!((loss.gaps, loss.missed_bytes), (1, 40));
        assert_eq!(loss.acks, 3);
        assert!((loss.capture_loss_percent() - 33.333).abs() < 1e-9);
        assert_eq!(l.acked_unseen(S), 40);
    }

    #[test]
    fn a_retransmission_is_network_loss_and_a_snaplen_cut_is_neither() {
        let mut l = clean();
        // 30 response bytes, then the same 30 again (a retransmission), then a segment of
        // 200 bytes on the wire whose captured part was cut: its wire length counts.
        l.segment(S, 5051, 30, false, Some(1101));
        l.segment(S, 5051, 30, false, Some(1101));
        l.segment(S, 5081, 200, false, Some(1101));
        l.segment(C, 1101, 0, false, Some(5281));
        let loss = l.loss();
        assert_eq!(
            (loss.retransmitted_segments, loss.retransmitted_bytes),
            (1, 30)
        );
        assert_eq!((loss.gaps, loss.missed_bytes), (0, 0));
    }

    #[test]
    fn a_client_only_capture_is_one_sided_and_counts_the_servers_bytes_from_the_acks() {
        let mut l = Ledger::default();
        l.segment(C, 1000, 1, true, None);
        l.segment(C, 1001, 0, false, Some(5001));
        l.segment(C, 1001, 100, false, Some(5001));
        l.segment(C, 1101, 0, false, Some(5130));
        // The server closed (its FIN acknowledged: one more), then the client.
        l.segment(C, 1101, 0, false, Some(5131));
        l.segment(C, 1101, 1, false, Some(5131));
        l.fin(C);
        assert!(l.one_sided());
        assert_eq!(l.acked_unseen(S), 129, "the FIN is not a byte");
        assert_eq!(l.segments(S), 0);
    }

    #[test]
    fn a_hole_is_counted_once_whether_its_ack_came_before_or_after_the_data_beyond_it() {
        // The ACK passes the lost bytes before the data after them is captured.
        let mut l = clean();
        l.segment(C, 1101, 0, false, Some(5061));
        l.segment(S, 5061, 10, false, Some(1101));
        l.hole_acked(S, 5051, 10);
        assert_eq!((l.loss().gaps, l.loss().missed_bytes), (1, 10));
        // The data after the hole is captured first; the hole is proven by the reassembly.
        let mut l = clean();
        l.segment(S, 5061, 10, false, Some(1101));
        l.hole_acked(S, 5051, 10);
        l.segment(C, 1101, 0, false, Some(5071));
        assert_eq!((l.loss().gaps, l.loss().missed_bytes), (1, 10));
    }

    #[test]
    fn an_unanswered_syn_is_not_one_sided() {
        let mut l = Ledger::default();
        l.segment(C, 1000, 1, true, None);
        l.segment(C, 1000, 1, true, None);
        assert!(!l.one_sided());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut l = Ledger::default();
        l.segment(C, u32::MAX - 10, 1, true, None);
        l.segment(S, 7, 1, true, Some(u32::MAX - 9));
        l.segment(C, u32::MAX - 9, 20, false, Some(8));
        l.segment(S, 8, 0, false, Some(10));
        assert!(l.loss().is_clean());
        l.segment(S, 8, 0, false, Some(30));
        assert_eq!(l.loss().missed_bytes, 20);
    }
}
