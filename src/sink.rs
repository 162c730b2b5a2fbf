//! Sinks: where events go. Each output format implements [`Sink`]; the run loop hands every
//! event to every sink, and the summary is just another sink that counts.

mod json;
mod line;
pub(crate) mod pcap;
pub(crate) mod summary;

pub use json::{write_handshake_pretty, JsonSink, SCHEMA};
pub use line::{LineSink, LineStyle};
pub(crate) use summary::Summary;

use std::fs::File;
use std::io;
use std::path::Path;

use crate::capture::live::LiveStats;
use crate::capture::ReadSummary;
use crate::engine::Stats;
use crate::event::Event;

/// Opens `path` for an output that holds captured traffic (`-w`, `-o`, `--report`, the TUI's
/// exports). A new file is created readable and writable by its owner only (0600; a stricter
/// umask removes more, as it always does): the traffic is other people's. An existing file is
/// truncated and keeps its mode and owner; a FIFO or device (`/dev/stdout`) is opened as is.
///
/// # Errors
/// The file cannot be created or opened for writing.
pub fn create_output(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

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
