//! Sinks: where events go. Each output format implements [`Sink`]; the run loop hands every
//! event to every sink, and the summary is just another sink that counts.

mod json;
mod line;
pub(crate) mod pcap;
mod summary;

pub use json::JsonSink;
pub use line::{LineSink, LineStyle};
pub(crate) use summary::Summary;

use std::io;

use crate::event::Event;

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

    /// Called once after the last event.
    ///
    /// # Errors
    /// Writing the output failed.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
