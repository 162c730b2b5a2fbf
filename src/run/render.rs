//! The delivery of a sharded file run on a thread of its own: redaction, the summary's and
//! the report's tallies and the sinks (JSON rendering) after the correlation stage.
//!
//! The stage hands events on as it releases them, in output order, [`EVENTS_A_HAND_ON`] at a
//! time over one bounded channel; this thread delivers them in that order, so the output is
//! the one the stage would write itself, byte for byte. Rendering was a fifth of a plaintext
//! run's work and nearly half the stage's, the one thread every packet passes: here it runs
//! beside the stage instead. A broken output is seen by the stage a few dozen events late
//! (the reader stops a batch or so later than it would have); everything delivered before it
//! is the same. It never reorders, drops or duplicates an event, and `--count` never comes
//! here (a run with `-c` is one thread).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{Delivery, RunError};
use crate::event::Event;

/// Events queued for the delivery thread at most (bounded: the stage waits rather than
/// holding a capture's worth of records).
const QUEUED_EVENTS: usize = 1024;
/// Events handed on at once. One at a time, the delivery thread, quicker than the stage,
/// emptied the channel at nearly every event and slept, and the stage woke it for the next:
/// about a thousand futex waits and wakes on b300 (half the run's context switches).
const EVENTS_A_HAND_ON: usize = 64;

/// The delivery thread: events go in, the [`Delivery`] comes back when it is joined.
pub(super) struct Renderer {
    tx: SyncSender<Vec<Event>>,
    /// Events not handed on yet (fewer than [`EVENTS_A_HAND_ON`]).
    pending: Vec<Event>,
    thread: JoinHandle<Delivery>,
    /// Set once the delivery is done (an output broke): the stage stops the run.
    done: Arc<AtomicBool>,
}

impl Renderer {
    /// Moves `delivery` to a new thread.
    pub(super) fn spawn(mut delivery: Delivery) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Event>>(QUEUED_EVENTS / EVENTS_A_HAND_ON);
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("wssniff-output".into())
            .spawn(move || {
                for events in rx {
                    for event in events {
                        delivery.deliver(event);
                    }
                    if delivery.done() {
                        flag.store(true, Ordering::Relaxed);
                    }
                }
                delivery
            })?;
        Ok(Renderer {
            tx,
            pending: Vec::with_capacity(EVENTS_A_HAND_ON),
            thread,
            done,
        })
    }

    /// Hands `event` on to be delivered after the ones before it (with the next ones, once
    /// there are [`EVENTS_A_HAND_ON`]; the rest at [`Renderer::join`]).
    pub(super) fn deliver(&mut self, event: Event) {
        self.pending.push(event);
        if self.pending.len() >= EVENTS_A_HAND_ON {
            self.hand_on();
        }
    }

    fn hand_on(&mut self) {
        let events = std::mem::replace(&mut self.pending, Vec::with_capacity(EVENTS_A_HAND_ON));
        // The thread only ends when this sender goes (or it panicked: `join` says so).
        let _ = self.tx.send(events);
    }

    /// The delivery is done (an output broke): reading on is useless.
    pub(super) fn done(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits until every event handed on is delivered and returns the delivery.
    ///
    /// # Errors
    /// The delivery thread panicked.
    pub(super) fn join(mut self) -> Result<Delivery, RunError> {
        if !self.pending.is_empty() {
            self.hand_on();
        }
        drop(self.tx);
        self.thread
            .join()
            .map_err(|_| RunError::Output(io::Error::other("the output thread failed")))
    }
}
