//! Sinks: where events go. Each output format implements [`Sink`]; the run loop hands every
//! event to every sink, and the summary is just another sink that counts.

mod json;
mod line;
pub(crate) mod pcap;
pub(crate) mod summary;

pub use json::{write_handshake_pretty, JsonSink, SCHEMA};
pub use line::{LineSink, LineStyle};
pub(crate) use summary::Summary;

use std::io;

use crate::capture::live::LiveStats;
use crate::capture::ReadSummary;
use crate::engine::Stats;
use crate::event::Event;

/// What the run knows once the input is over: the engine's counters, what reading the
/// capture showed, and the live capture's counters.
#[derive(Clone, Copy, Debug)]
pub struct RunEnd<'a> {
    /// The engine's counters.
    pub stats: &'a Stats,
    /// Link types, snap length, recorded drops, why reading stopped.
    pub read: &'a ReadSummary,
    /// libpcap's and the capture thread's counters (live capture only).
    pub live: Option<&'a LiveStats>,
}

/// A consumer of engine events.
pub trait Sink {
    /// Takes one event.
    ///
    /// # Errors
    /// Writing the output failed.
    fn event(&mut self, event: &Event) -> io::Result<()>;

    /// Pushes buffered output out now (live capture: each record as it comes).
    ///
    /// # Errors
    /// Writing the output failed.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Called once after the last event, before [`Sink::finish`], with the run's counters
    /// (the JSON sink's `summary` record).
    ///
    /// # Errors
    /// Writing the output failed.
    fn end(&mut self, run: &RunEnd<'_>) -> io::Result<()> {
        let _ = run;
        Ok(())
    }

    /// Called once after the last event.
    ///
    /// # Errors
    /// Writing the output failed.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
