//! Sinks: where events go. Each output format implements [`Sink`]; the run loop hands every
//! event to every sink, and the summary is just another sink that counts.

mod json;
mod line;
pub mod metrics;
pub(crate) mod pcap;
pub(crate) mod pcapng;
pub(crate) mod rotate;
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

/// Opens `path` for appending, creating it owner-only (0600) when missing: `-o` reopened on
/// SIGHUP after a log rotator moved the old file away (or did not: nothing is lost).
///
/// # Errors
/// The file cannot be opened or created.
pub fn append_output(path: &Path) -> io::Result<File> {
    append_options().open(path)
}

/// Creates `path` owner-only (0600), emptied, in append mode: `-o` at the start of a run.
/// Append mode makes every write go to the current end, so a log rotator's `copytruncate`
/// leaves no hole of zeros where the old offset was.
///
/// # Errors
/// The file cannot be opened or created.
pub fn create_log_output(path: &Path) -> io::Result<File> {
    let file = append_options().open(path)?;
    file.set_len(0)?;
    Ok(file)
}

fn append_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn log_output_survives_copytruncate_without_a_hole() {
        let path =
            std::env::temp_dir().join(format!("wssniff-copytruncate-{}", std::process::id()));
        std::fs::write(&path, "stale contents from an earlier run\n").unwrap();
        let mut file = create_log_output(&path).unwrap();
        file.write_all(b"first line\n").unwrap();
        // logrotate's copytruncate: copy, then truncate the file under the writer.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        file.write_all(b"second line\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second line\n");
        drop(file);
        let mut again = append_output(&path).unwrap();
        again.write_all(b"third line\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "second line\nthird line\n"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
