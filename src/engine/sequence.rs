//! The order records leave the engine in: handshake ids and, reading a file, id order.
//!
//! Handshake ids are handed out when the engine first sees an upgrade request (packet order),
//! not when its outcome is known, so a slow answer does not push a handshake behind later
//! ones. In [`RecordOrder::ById`] every id reserves a slot in an output queue; other events
//! (connection records, notices, records without a request) take a slot when they are
//! produced, and a proxy hop joins the slot of its later leg. Slots leave the queue in order
//! once filled, so the output is the same whatever order responses, expiries and evictions
//! came in. A record is held at most until the earlier handshakes' outcomes are known (their
//! response, timeout or connection end), and the queue is capped: past [`MAX_HELD_EVENTS`] or
//! [`MAX_HELD_BYTES`] the oldest unanswered handshake gives up its place and its record goes
//! out when it comes. In [`RecordOrder::AsKnown`] (live capture) events leave at once. The
//! bytes held are registered with the engine's memory meter.
//!
//! Pure bookkeeping: events in, events out; never reads the clock.

use std::collections::{BTreeSet, VecDeque};

use crate::event::{ConnectionRecord, Event, HandshakeRecord, Message};

/// Most events held back to write them in id order.
pub const MAX_HELD_EVENTS: usize = 10_000;
/// Most bytes (estimated: heads as captured, plus a fixed cost per event) held back to write
/// records in id order.
pub const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;
/// Fixed cost per held event in the estimate: the record's fixed fields, findings, boxes.
const EVENT_COST: usize = 1024;

/// When records leave the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecordOrder {
    /// In handshake id (request) order, each connection record after the records of the
    /// handshakes seen before it ended: reading a file, the same capture gives the same
    /// output every run.
    #[default]
    ById,
    /// As soon as each is known (live capture: a line must not wait for another connection).
    AsKnown,
}

#[derive(Debug, Default)]
struct Slot {
    /// The handshake id this slot was reserved for.
    id: Option<u64>,
    /// Its record has come (always true for slots without an id).
    filled: bool,
    /// The slot's event (the record, for a reserved id), and any that follow it (a hop).
    event: Option<Event>,
    after: Vec<Event>,
}

/// Hands out handshake ids and puts events in output order.
#[derive(Debug)]
pub(crate) struct Sequencer {
    order: RecordOrder,
    next_id: u64,
    /// Slots not yet released, oldest first; `base` is the sequence number of the front one.
    held: VecDeque<Slot>,
    base: u64,
    /// (id, sequence number of its slot) of the reserved slots still held, both ascending.
    reserved: VecDeque<(u64, u64)>,
    held_events: usize,
    held_bytes: usize,
    /// Ids whose slot was given up under the cap: their record goes out as soon as it comes.
    overdue: BTreeSet<u64>,
    /// Released, for the caller to emit.
    ready: Vec<Event>,
    /// Slots given up under the cap, since [`Sequencer::take_given_up`] was last called.
    given_up: u64,
    /// The byte cap: [`MAX_HELD_BYTES`], or less under a small memory budget.
    max_bytes: usize,
}

impl Sequencer {
    pub(crate) fn new(order: RecordOrder) -> Self {
        Sequencer {
            order,
            next_id: 1,
            held: VecDeque::new(),
            base: 0,
            reserved: VecDeque::new(),
            held_events: 0,
            held_bytes: 0,
            overdue: BTreeSet::new(),
            ready: Vec::new(),
            given_up: 0,
            max_bytes: MAX_HELD_BYTES,
        }
    }

    /// Holds at most `max_bytes` (never more than [`MAX_HELD_BYTES`]): a quarter of a
    /// memory budget smaller than four times the cap.
    pub(crate) fn cap_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes.min(MAX_HELD_BYTES);
    }

    /// The next handshake id, with its place in the output.
    pub(crate) fn reserve(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.order == RecordOrder::ById {
            let seq = self.base + self.held.len() as u64;
            self.held.push_back(Slot {
                id: Some(id),
                ..Slot::default()
            });
            self.reserved.push_back((id, seq));
        }
        id
    }

    /// The record of handshake `id` (reserved), in its place.
    pub(crate) fn fill(&mut self, id: u64, event: Event) {
        let weight = weight(&event);
        if let Some(slot) = self.slot_of(id) {
            slot.filled = true;
            if slot.event.is_none() {
                slot.event = Some(event);
            } else {
                slot.after.push(event);
            }
            self.held_events += 1;
            self.held_bytes += weight;
        } else {
            self.elsewhere(id, event);
        }
    }

    /// An event that belongs right after handshake `id`'s record (a proxy hop, after its
    /// later leg): in that slot while it is held, else next in line.
    pub(crate) fn after(&mut self, id: u64, event: Event) {
        let weight = weight(&event);
        if let Some(slot) = self.slot_of(id) {
            slot.after.push(event);
            self.held_events += 1;
            self.held_bytes += weight;
        } else {
            self.elsewhere(id, event);
        }
    }

    /// An event that takes its place now (after every id reserved so far).
    pub(crate) fn push(&mut self, event: Event) {
        if self.order == RecordOrder::AsKnown || self.held.is_empty() {
            // Nothing earlier is waiting: its turn has come.
            self.ready.push(event);
            return;
        }
        self.held_events += 1;
        self.held_bytes += weight(&event);
        self.held.push_back(Slot {
            id: None,
            filled: true,
            event: Some(event),
            after: Vec::new(),
        });
    }

    /// Whether [`Sequencer::release`] has nothing to do (the common case, checked per packet).
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.ready.is_empty() && !self.held.front().is_some_and(|s| s.filled) && !self.over_cap()
    }

    /// Moves every event whose turn has come to `emit`. Over the cap, the oldest handshakes
    /// still waiting give up their place.
    pub(crate) fn release(&mut self, emit: &mut dyn FnMut(Event)) {
        if self.held.front().is_some_and(|s| s.filled) || self.over_cap() {
            self.advance();
        }
        if !self.ready.is_empty() {
            for event in self.ready.drain(..) {
                emit(event);
            }
        }
    }

    /// End of input: everything still held goes out in order.
    pub(crate) fn flush(&mut self, emit: &mut dyn FnMut(Event)) {
        while !self.held.is_empty() {
            self.pop_front();
        }
        self.release(emit);
    }

    /// Bytes held for ordering (the running estimate, for the memory meter).
    #[inline]
    pub(crate) fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// The same estimate computed by walking every held event (what the running figure must
    /// agree with, for tests).
    pub(crate) fn walked_bytes(&self) -> usize {
        self.held
            .iter()
            .flat_map(|slot| slot.event.iter().chain(&slot.after))
            .map(weight)
            .sum()
    }

    /// How many handshakes gave up their place under the cap since the last call.
    pub(crate) fn take_given_up(&mut self) -> u64 {
        std::mem::take(&mut self.given_up)
    }

    #[inline]
    fn over_cap(&self) -> bool {
        self.held_events > MAX_HELD_EVENTS || self.held_bytes > self.max_bytes
    }

    /// Pops filled slots off the front; over the cap, unfilled ones too.
    fn advance(&mut self) {
        loop {
            while self.held.front().is_some_and(|s| s.filled) {
                self.pop_front();
            }
            if self.held.is_empty() || !self.over_cap() {
                return;
            }
            self.given_up += 1;
            self.pop_front();
        }
    }

    fn slot_of(&mut self, id: u64) -> Option<&mut Slot> {
        let at = self.reserved.binary_search_by_key(&id, |(i, _)| *i).ok()?;
        let (_, seq) = *self.reserved.get(at)?;
        let index = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.held.get_mut(index)
    }

    /// An event whose slot is not held: live, or given up under the cap (out now), or
    /// released already (next in line).
    fn elsewhere(&mut self, id: u64, event: Event) {
        if self.order == RecordOrder::AsKnown || self.overdue.remove(&id) {
            self.ready.push(event);
        } else {
            self.push(event);
        }
    }

    fn pop_front(&mut self) {
        let Some(slot) = self.held.pop_front() else {
            return;
        };
        self.base += 1;
        if let Some(id) = slot.id {
            if self.reserved.front().is_some_and(|(i, _)| *i == id) {
                self.reserved.pop_front();
            }
            if !slot.filled {
                self.overdue.insert(id);
            }
        }
        for event in slot.event.into_iter().chain(slot.after) {
            self.held_events = self.held_events.saturating_sub(1);
            self.held_bytes = self.held_bytes.saturating_sub(weight(&event));
            self.ready.push(event);
        }
    }
}

/// Estimated bytes an event holds: its heads as captured plus a fixed cost.
pub(crate) fn weight(event: &Event) -> usize {
    match event {
        Event::Handshake(r) => record_weight(r),
        // The frame log is empty unless the TUI asked for it.
        Event::Connection(c) => connection_weight(c),
        Event::Hop(_) | Event::Notice(_) | Event::Tls(_) | Event::EngineIo(_) => EVENT_COST,
    }
}

/// Estimated bytes a connection record holds (the same estimate as [`weight`]).
pub(crate) fn connection_weight(c: &ConnectionRecord) -> usize {
    EVENT_COST + c.frame_log.memory()
}

/// Estimated bytes a handshake record holds (the same estimate as [`weight`]).
pub(crate) fn record_weight(r: &HandshakeRecord) -> usize {
    let head = |m: &Message| m.head.raw.len().saturating_mul(2);
    EVENT_COST
        + r.request.as_ref().map_or(0, head)
        + r.response.as_ref().map_or(0, head)
        + r.interim.iter().map(head).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Notice;
    use crate::finding::NoticeCode;

    /// A stand-in event, told apart by its message.
    fn ev(name: &str) -> Event {
        Event::Notice(Notice::new(NoticeCode::OrderLimit, name))
    }

    fn released(seq: &mut Sequencer) -> Vec<String> {
        let mut out = Vec::new();
        seq.release(&mut |e| {
            if let Event::Notice(n) = e {
                out.push(n.message);
            }
        });
        out
    }

    #[test]
    fn records_wait_for_earlier_ids_and_hops_follow_their_later_leg() {
        let mut seq = Sequencer::new(RecordOrder::ById);
        assert_eq!((seq.reserve(), seq.reserve()), (1, 2));
        seq.fill(2, ev("#2"));
        seq.after(2, ev("hop 1-2"));
        seq.push(ev("connection of #2"));
        let three = seq.reserve();
        assert!(released(&mut seq).is_empty(), "#2 must wait for #1");
        seq.fill(1, ev("#1"));
        assert_eq!(
            released(&mut seq),
            ["#1", "#2", "hop 1-2", "connection of #2"]
        );
        // A record without a request takes an id when it comes, after the waiting #3.
        let four = seq.reserve();
        seq.fill(four, ev("#4"));
        assert!(released(&mut seq).is_empty());
        seq.fill(three, ev("#3"));
        assert_eq!(released(&mut seq), ["#3", "#4"]);
    }

    #[test]
    fn live_order_releases_at_once_with_the_same_ids() {
        let mut seq = Sequencer::new(RecordOrder::AsKnown);
        assert_eq!((seq.reserve(), seq.reserve()), (1, 2));
        seq.fill(2, ev("#2"));
        seq.after(2, ev("hop"));
        assert_eq!(released(&mut seq), ["#2", "hop"]);
        seq.fill(1, ev("#1"));
        assert_eq!(released(&mut seq), ["#1"]);
    }

    #[test]
    fn an_unanswered_handshake_gives_up_its_place_past_the_cap() {
        let mut seq = Sequencer::new(RecordOrder::ById);
        let stuck = seq.reserve();
        for i in 0..MAX_HELD_EVENTS {
            seq.push(ev(&format!("e{i}")));
        }
        assert!(released(&mut seq).is_empty(), "at the cap, not past it");
        assert_eq!(seq.take_given_up(), 0);
        assert_eq!(seq.held_bytes(), seq.walked_bytes());
        assert_eq!(seq.held_bytes(), MAX_HELD_EVENTS * EVENT_COST);
        seq.push(ev("one more"));
        let out = released(&mut seq);
        assert_eq!(out.len(), MAX_HELD_EVENTS + 1);
        assert_eq!(out.last().map(String::as_str), Some("one more"));
        assert_eq!(seq.take_given_up(), 1);
        // Its record, when it comes, goes out at once; the queue is empty again.
        seq.fill(stuck, ev("late"));
        assert_eq!(released(&mut seq), ["late"]);
        assert_eq!((seq.held.len(), seq.held_events, seq.held_bytes), (0, 0, 0));
    }

    #[test]
    fn flush_releases_everything_in_order() {
        let mut seq = Sequencer::new(RecordOrder::ById);
        let _never_answered = seq.reserve();
        seq.push(ev("a"));
        let two = seq.reserve();
        seq.fill(two, ev("#2"));
        let mut out = Vec::new();
        seq.flush(&mut |e| out.push(e));
        assert_eq!(out, [ev("a"), ev("#2")]);
    }
}
