//! What the TUI consumes: a stream of [`Feed`] messages from whichever thread owns the engine.
//!
//! The UI thread only ever holds the receiving end of a bounded channel, so any producer plugs
//! in: [`spawn_file_reader`] for `-r FILE`, a live-capture thread for `-i`. The producer never
//! waits for drawing: the UI drains the channel every tick whatever it is drawing.

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::capture::filter::PacketFilter;
use crate::capture::live::LiveCapture;
use crate::capture::FileSource;
use crate::cli::Live;
use crate::engine::{Engine, EngineConfig, Stats};
use crate::event::Event;
use crate::event::Notice;
use crate::present::Redactor;
use crate::run::keylog::Keys;
use crate::run::{analyse, analyse_live, LiveStep, PacketOut, Step};
use crate::tls::keystore::SharedKeyLog;

/// Messages buffered between the producer and the UI. Small enough to bound memory, large
/// enough that the producer rarely waits for the next UI tick.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Frames between two progress messages from the file reader.
const PROGRESS_EVERY_FRAMES: u64 = 2048;

/// How far a producer has got.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Bytes of the input consumed so far.
    pub bytes_read: u64,
    /// Size of the input, when known (a regular file); drives the progress gauge.
    pub total_bytes: Option<u64>,
    /// Packets the capture layer reported dropped (live capture), when known.
    pub drops: Option<u64>,
    /// The engine's counters.
    pub stats: Stats,
}

/// One message from the producer to the UI.
#[derive(Clone, Debug)]
pub enum Feed {
    /// The engine emitted an event.
    Event(Event),
    /// Counters and read position.
    Progress(Progress),
    /// The producer is done; `error` says why it stopped early, if it did.
    Finished {
        /// Final counters.
        progress: Progress,
        /// A damaged input or a failed read, in words.
        error: Option<String>,
    },
}

/// A reader that counts the bytes it hands out, so progress can be shown as a share of the file.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path` (and compiles `filter`) on the calling thread, so errors surface before the
/// terminal is taken over, then reads it on a new thread into a bounded channel. Every event
/// is passed through `redactor` before it is sent: the UI never holds a credential it would
/// not print.
///
/// # Errors
/// The file cannot be opened or is not a capture, or the filter does not compile.
pub fn spawn_file_reader(
    path: &str,
    filter: Option<&str>,
    mut config: EngineConfig,
    redactor: Redactor,
    keys: (Keys, Vec<Notice>),
) -> Result<(Receiver<Feed>, JoinHandle<()>), crate::capture::CaptureError> {
    // The TUI follows streams: the sessions keep their frame logs.
    config.conn.frame_log = true;
    let count = Arc::new(AtomicU64::new(0));
    let (input, total_bytes): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(path).map_err(|source| crate::capture::CaptureError::Io {
            path: path.to_owned(),
            source,
        })?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        if len.is_none() {
            // Directories and the like: let FileSource::open produce its usual message.
            FileSource::open(path)?;
        }
        (Box::new(file), len)
    };
    let counted = Counting {
        inner: input,
        count: Arc::clone(&count),
    };
    let mut source = FileSource::from_reader(path, Box::new(counted))?;
    // Compile here to report a bad filter before the UI starts; the reader thread recompiles
    // its own copy because a compiled filter is tied to the thread that uses it.
    if let Some(f) = filter {
        PacketFilter::new(f)?;
    }
    let filter = filter.map(str::to_owned);
    let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
    let handle = thread::Builder::new()
        .name("wssniff-reader".into())
        .spawn(move || {
            read_into(
                &mut source,
                filter.as_deref(),
                config,
                &redactor,
                keys,
                &count,
                total_bytes,
                &tx,
            )
        })
        .map_err(|source| crate::capture::CaptureError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok((rx, handle))
}

/// The reader thread's body: the shared read loop, with events and progress sent to the UI.
/// Stops quietly when the UI hangs up.
#[allow(clippy::too_many_arguments)]
fn read_into(
    source: &mut FileSource,
    filter: Option<&str>,
    config: EngineConfig,
    redactor: &Redactor,
    (mut keys, notices): (Keys, Vec<Notice>),
    count: &AtomicU64,
    total_bytes: Option<u64>,
    tx: &SyncSender<Feed>,
) {
    let progress = |stats: &Stats| Progress {
        bytes_read: count.load(Ordering::Relaxed),
        total_bytes,
        drops: None,
        stats: stats.clone(),
    };
    let mut filter = match filter.map(PacketFilter::new).transpose() {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.send(Feed::Finished {
                progress: Progress::default(),
                error: Some(e.to_string()),
            });
            return;
        }
    };
    let mut engine = Engine::new(config);
    // A capture file may carry its own keys (pcapng Decryption Secrets Blocks): always ask.
    engine.set_key_store(Box::new(SharedKeyLog::new(keys.shared())));
    let mut hung_up = false;
    for notice in notices {
        hung_up |= tx.send(Feed::Event(Event::Notice(notice))).is_err();
    }
    let read = analyse(
        source,
        filter.as_mut(),
        &mut engine,
        Some(&mut keys),
        |step| match step {
            Step::Event(event) => {
                hung_up |= tx.send(Feed::Event(redactor.event(event))).is_err();
                ControlFlow::Continue(())
            }
            Step::Packet(stats) => {
                if stats.packets % PROGRESS_EVERY_FRAMES == 0 {
                    hung_up |= tx.send(Feed::Progress(progress(stats))).is_err();
                }
                if hung_up {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
        },
    );
    if hung_up {
        return;
    }
    engine.finish(&mut |event| {
        let _ = tx.send(Feed::Event(redactor.event(event)));
    });
    let mut last = progress(engine.stats());
    // A pcapng file may record what the capturing host dropped (interface statistics).
    last.drops = read.drops;
    if read.error.is_none() {
        // The counter can stop short of the size when the file grew or pcap-parser stopped
        // at a trailing partial block; a finished read is 100%.
        last.bytes_read = total_bytes.unwrap_or(last.bytes_read);
    }
    let _ = tx.send(Feed::Finished {
        progress: last,
        error: read.error.map(|e| e.to_string()),
    });
}

/// Opens the live capture on the calling thread (so a missing interface or a missing
/// permission is reported before the terminal is taken over), then analyses it on a new
/// thread into a bounded channel. The analysis waits when the UI is slow; the capture thread
/// behind it never does (it sheds and counts, shown as drops in the header). Events pass
/// through `redactor` before they are sent.
///
/// # Errors
/// The interface cannot be opened, the filter does not compile, or `-w` cannot be created.
pub fn spawn_live_reader(
    live: &Live,
    mut config: EngineConfig,
    redactor: Redactor,
    keys: Option<(Keys, Vec<Notice>)>,
) -> Result<(Receiver<Feed>, JoinHandle<()>), crate::capture::CaptureError> {
    config.conn.frame_log = true;
    let capture = LiveCapture::open(&live.options)?;
    let io_err = |source: io::Error| crate::capture::CaptureError::Io {
        path: live.options.interface.clone(),
        source,
    };
    let created = live
        .write
        .as_deref()
        .filter(|p| std::fs::symlink_metadata(p).is_err());
    let mut packet_out = PacketOut::create(live, &capture, None).map_err(io_err)?;
    // The device and -w are open and no other thread runs yet: give up root now.
    crate::capture::live::drop_privileges(&live.relinquish, created.as_slice())?;
    let duration = live.duration;
    let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
    let handle = thread::Builder::new()
        .name("wssniff-analysis".into())
        .spawn(move || {
            let stop = Arc::new(AtomicBool::new(false));
            let mut engine = Engine::new(config);
            let (mut keys, notices) = keys.map_or((None, Vec::new()), |(k, n)| (Some(k), n));
            if let Some(k) = &keys {
                engine.set_key_store(Box::new(SharedKeyLog::new(k.shared())));
            }
            for notice in notices {
                let _ = tx.send(Feed::Event(Event::Notice(notice)));
            }
            let mut last = Progress::default();
            let mut error = None;
            let result = analyse_live(
                capture,
                &stop,
                duration,
                &mut engine,
                keys.as_mut(),
                |step| {
                    let delivered = match step {
                        LiveStep::Event(event) => {
                            tx.send(Feed::Event(redactor.event(event))).is_ok()
                        }
                        LiveStep::Packet(packet, info) => {
                            if let Some(Err(e)) = packet_out.as_mut().map(|p| p.write(packet, info))
                            {
                                error.get_or_insert(e.to_string());
                            }
                            true
                        }
                        LiveStep::Tick(stats, live_stats) => {
                            last = Progress {
                                bytes_read: 0,
                                total_bytes: None,
                                drops: Some(live_stats.lost()),
                                stats: stats.clone(),
                            };
                            if let Some(Err(e)) = packet_out.as_mut().map(PacketOut::flush) {
                                error.get_or_insert(e.to_string());
                            }
                            // Progress is advisory: skip it rather than wait when the UI is busy.
                            !matches!(
                                tx.try_send(Feed::Progress(last.clone())),
                                Err(std::sync::mpsc::TrySendError::Disconnected(_))
                            )
                        }
                    };
                    if delivered && error.is_none() {
                        ControlFlow::Continue(())
                    } else {
                        ControlFlow::Break(())
                    }
                },
            );
            match result {
                Ok(end) => {
                    if let Some(why) = end.failure {
                        error.get_or_insert(format!("the capture stopped: {why}"));
                    }
                }
                Err(e) => {
                    error.get_or_insert(e.to_string());
                }
            }
            let _ = tx.send(Feed::Finished {
                progress: last,
                error,
            });
        })
        .map_err(io_err)?;
    Ok((rx, handle))
}

/// Reads a whole capture synchronously into the messages the reader thread would send
/// (for tests and snapshot rendering), with nothing redacted (as `--no-redact`).
///
/// # Errors
/// The file cannot be opened or is not a capture.
pub fn read_all(
    path: &str,
    config: EngineConfig,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    read_all_with(path, config, Redactor::disabled())
}

/// [`read_all`] with the events passed through `redactor`, as the TUI receives them.
///
/// # Errors
/// The file cannot be opened or is not a capture.
pub fn read_all_with(
    path: &str,
    config: EngineConfig,
    redactor: Redactor,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    let keys =
        Keys::open(None, crate::tls::keylog::DEFAULT_MAX_SESSIONS, false).map_err(|source| {
            crate::capture::CaptureError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
    let (rx, handle) = spawn_file_reader(path, None, config, redactor, keys)?;
    let feeds: Vec<Feed> = rx.iter().collect();
    let _ = handle.join();
    Ok(feeds)
}

/// [`read_all`] decrypting TLS with the key log at `keylog` (`--keylog`), as the TUI does.
///
/// # Errors
/// The key log or the capture cannot be opened.
pub fn read_all_decrypting(
    path: &str,
    keylog: &std::path::Path,
    config: EngineConfig,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    let keys = Keys::open(
        Some(keylog),
        crate::tls::keylog::DEFAULT_MAX_SESSIONS,
        false,
    )
    .map_err(|source| crate::capture::CaptureError::Io {
        path: keylog.display().to_string(),
        source,
    })?;
    let (rx, handle) = spawn_file_reader(path, None, config, Redactor::disabled(), keys)?;
    let feeds: Vec<Feed> = rx.iter().collect();
    let _ = handle.join();
    Ok(feeds)
}
