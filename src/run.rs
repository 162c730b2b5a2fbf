//! One run: open the source, drive the engine, feed the sinks, print the summary.

pub mod keylog;
mod live;
mod render;
mod threads;

pub use live::{analyse_live_sharded, Sharding, MAX_BATCH_WAIT};

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::capture::filter::PacketFilter;
use crate::capture::live::{LiveCapture, LiveCounters, LiveStats, OwnedPacket};
use crate::capture::{
    BlockPool, CaptureError, FileRead, FileSource, MergeNote, MergeSummary, MergedSource, Packet,
    ReadSummary, Record, Timestamp,
};
use crate::cli::{Config, FailOn, Input, Live, Redaction};
use crate::engine::{Engine, PacketInfo, Stats};
use crate::event::{Event, Notice};
use crate::finding::{Code, NoticeCode};
use crate::present::Redactor;
use crate::report::{CaptureInfo, Report};
use crate::sink::metrics::Metrics;
use crate::sink::pcap::UpgradeOnlyWriter;
use crate::sink::rotate::{FileSecrets, RotatingPcap};
use crate::sink::{JsonSink, LineSink, LineStyle, RunEnd, Sink, Summary};
use crate::tls::keystore::{SharedKeyLog, UsedSessions};

/// How a run ended, for the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// A handshake tripped `--fail-on`.
    pub tripped: bool,
    /// The input was damaged or stopped early (results before the damage were reported).
    pub input_error: Option<CaptureError>,
    /// The run stopped before its end for a reason outside the input: the live interface
    /// went away, an output file could not be written (a full disk). Everything analysed
    /// until then was reported; the binary exits with status 3.
    pub stopped: Option<String>,
    /// Per-verdict counts and the rest of the summary.
    pub summary: Summary,
}

/// Errors that stop a run before or outside the analysis.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The capture could not be opened or the filter did not compile.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing output failed.
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
    /// The redaction key could not be read or created.
    #[error("redaction key {0}")]
    Key(String),
    /// The `--keylog` file could not be read (the message names it).
    #[error("{0}")]
    KeyLog(io::Error),
}

/// What a closed [`Delivery`] leaves: the summary, whether `--fail-on` tripped, and the
/// report with the file it goes to.
type Closed = (Summary, bool, Option<(Report, File)>);

/// Hands events to the sinks and keeps the run's counters.
struct Delivery {
    /// Masks credentials in every event before anything (summary, report, sinks) sees it.
    redactor: Redactor,
    sinks: Vec<Box<dyn Sink + Send>>,
    /// `--metrics`: kept apart from `sinks` because the ticks also feed it the counters.
    metrics: Option<Metrics>,
    /// `-o FILE` and its place in `sinks`, for reopening it on SIGHUP (log rotation).
    json_file: Option<(PathBuf, usize)>,
    summary: Summary,
    /// Kept out of `sinks`: it renders after the run, when the capture metadata is known.
    report: Option<(Report, File)>,
    handshakes: u64,
    tripped: bool,
    write_error: Option<io::Error>,
    limit: Option<u64>,
    fail_on: Option<FailOn>,
    /// Live capture: every record is flushed as it comes, not when a buffer fills.
    flush_each: bool,
}

impl Delivery {
    fn new(config: &Config, redactor: Redactor, flush_each: bool) -> Result<Self, RunError> {
        let mut sinks: Vec<Box<dyn Sink + Send>> = Vec::new();
        if config.json_stdout {
            sinks.push(Box::new(JsonSink::new(BufWriter::new(io::stdout()))));
        } else if !config.quiet {
            let style = LineStyle {
                color: config.color,
                verbose: config.verbose,
            };
            sinks.push(Box::new(LineSink::new(BufWriter::new(io::stdout()), style)));
        }
        let mut json_file = None;
        if let Some(file) = &config.json_file {
            let f = crate::sink::create_log_output(file)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
            json_file = Some((file.clone(), sinks.len()));
            sinks.push(Box::new(JsonSink::new(BufWriter::new(f))));
        }
        // Created now, not when it is written: a bad path fails before the capture is read,
        // and live capture opens every output before it gives up root.
        let report = match &config.report {
            Some((path, _)) => {
                let file = crate::sink::create_output(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                Some((Report::new(), file))
            }
            None => None,
        };
        Ok(Delivery {
            redactor,
            sinks,
            metrics: None,
            json_file,
            summary: Summary {
                // Only the line output hides info findings; JSON carries them all.
                info_hidden: !config.json_stdout && !config.quiet && !config.verbose,
                ..Summary::default()
            },
            report,
            handshakes: 0,
            tripped: false,
            write_error: None,
            limit: config.count,
            fail_on: config.fail_on,
            flush_each,
        })
    }

    fn deliver(&mut self, event: Event) {
        if self.done() {
            return;
        }
        let event = self.redactor.event(event);
        match &event {
            Event::Notice(n) => eprintln!("wssniff: note: {}", n.message),
            Event::Handshake(r) => {
                self.handshakes += 1;
                if self.fail_on.is_some_and(|f| f.trips(r.verdict)) {
                    self.tripped = true;
                }
            }
            Event::Connection(_) | Event::Hop(_) | Event::Tls(_) | Event::EngineIo(_) => {}
        }
        let _ = self.summary.event(&event);
        if let Some(metrics) = &mut self.metrics {
            let _ = metrics.event(&event);
        }
        if let Some((report, _)) = &mut self.report {
            let _ = report.event(&event);
        }
        for sink in &mut self.sinks {
            let result = sink.event(&event).and_then(|()| {
                if self.flush_each {
                    sink.flush()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = result {
                self.write_error.get_or_insert(e);
            }
        }
    }

    /// A notice from outside the engine: delivered even after `-c` was reached (it is about
    /// the capture, not one more handshake).
    fn notice(&mut self, notice: Notice) {
        let limit = self.limit.take();
        self.deliver(Event::Notice(notice));
        self.limit = limit;
    }

    /// SIGHUP (live): reopens `-o` where its path now points, as a log rotator expects
    /// (appending, so a SIGHUP without a rotation loses nothing), and rewrites `--report`
    /// with everything so far. Returns one line per output for standard error; an output
    /// that cannot be reopened keeps its old file and says why.
    fn reopen(
        &mut self,
        report_to: Option<(&Path, crate::report::Format)>,
        info: &CaptureInfo,
    ) -> Vec<String> {
        let mut said = Vec::new();
        if let Some((path, index)) = &self.json_file {
            let reopened = crate::sink::append_output(path);
            match (reopened, self.sinks.get_mut(*index)) {
                (Ok(file), Some(sink)) => {
                    if let Err(e) = sink.flush() {
                        self.write_error.get_or_insert(e);
                    }
                    *sink = Box::new(JsonSink::new(BufWriter::new(file)));
                    said.push(format!("reopened {}", path.display()));
                }
                (Err(e), _) => said.push(format!(
                    "could not reopen {}: {e}; still writing to the file it had open",
                    path.display()
                )),
                (Ok(_), None) => {}
            }
        }
        if let (Some((report, file)), Some((path, format))) = (&mut self.report, report_to) {
            // A fresh file at the path if one can be made (the old one may have been moved
            // away), else the one held open since the start, rewritten in place.
            if let Ok(fresh) = crate::sink::create_output(path) {
                *file = fresh;
            }
            said.push(match rewrite_report(report, file, format, info) {
                Ok(size) => format!(
                    "wrote the report so far to {} ({size} bytes)",
                    path.display()
                ),
                Err(e) => format!("could not write the report {}: {e}", path.display()),
            });
        }
        said
    }

    /// `-c` reached, or output broke.
    fn done(&self) -> bool {
        self.write_error.is_some() || self.limit.is_some_and(|n| self.handshakes >= n)
    }

    /// Closes the sinks, handing them the run's counters first; returns the summary, whether
    /// `--fail-on` tripped, and the report.
    ///
    /// An output that broke during the run (other than a closed pipe, which is how a reader
    /// says it has enough) does not lose the rest: the other sinks still end, and the error
    /// comes back with the summary.
    fn close(mut self, run: &RunEnd<'_>) -> Result<(Closed, Option<io::Error>), RunError> {
        if let Some(metrics) = &mut self.metrics {
            let _ = metrics.end(run);
        }
        let broken = self.write_error.take();
        if let Some(e) = broken {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Err(RunError::Output(e));
            }
            for sink in &mut self.sinks {
                // The broken one fails again; the others still get their end.
                let _ = sink.end(run).and_then(|()| sink.finish());
            }
            return Ok(((self.summary, self.tripped, self.report), Some(e)));
        }
        for sink in &mut self.sinks {
            sink.end(run)?;
            sink.finish()?;
        }
        Ok(((self.summary, self.tripped, self.report), None))
    }
}

/// What [`analyse`] hands its caller.
pub enum Step<'a> {
    /// The engine emitted an event.
    Event(Event),
    /// A packet was processed (whether or not the filter kept it); the counters so far.
    Packet(&'a Stats),
}

/// Drives `engine` with every packet of `source` that passes `filter`, handing each event and
/// each processed packet to `step`, until the end of the input or until a `Packet` step returns
/// `Break`. The keys of the file's Decryption Secrets Blocks go to `keys` (their malformed
/// lines are notice events). The one read loop shared by the line output and the TUI's reader
/// thread; the caller decides whether to call [`Engine::finish`] afterwards.
pub fn analyse(
    source: &mut FileSource,
    mut filter: Option<&mut PacketFilter>,
    engine: &mut Engine,
    mut keys: Option<&mut keylog::Keys>,
    mut step: impl FnMut(Step<'_>) -> ControlFlow<()>,
) -> ReadSummary {
    let read = source.for_each_record(|record| {
        analyse_record(
            record,
            filter.as_deref_mut(),
            engine,
            keys.as_deref_mut(),
            &mut step,
        )
    });
    engine.note_reordered(read.reordered);
    read
}

/// As [`analyse`], over several files read as one capture in packet timestamp order; returns
/// what each file covered and what the merge noticed.
pub fn analyse_merged(
    source: MergedSource,
    mut filter: Option<&mut PacketFilter>,
    engine: &mut Engine,
    mut keys: Option<&mut keylog::Keys>,
    mut step: impl FnMut(Step<'_>) -> ControlFlow<()>,
) -> MergeSummary {
    let merged = source.for_each_record(|record| {
        analyse_record(
            record,
            filter.as_deref_mut(),
            engine,
            keys.as_deref_mut(),
            &mut step,
        )
    });
    engine.note_reordered(merged.combined().reordered);
    merged
}

/// What `-r` names, opened with the `--reorder-window` setting: one file (read as a
/// stream; standard input allowed) or several merged by timestamp. The one way the line
/// output and the TUI open their input, so both read the same packets in the same order.
pub(crate) enum Opened {
    /// One file.
    One(Box<FileSource>),
    /// Several files, read as one capture.
    Many(MergedSource),
}

impl Opened {
    /// `source` with the re-sort window `reorder_window_ns` (`None`: the default, from its
    /// first packet out of order on).
    pub(crate) fn one(source: FileSource, reorder_window_ns: Option<i64>) -> Self {
        Opened::One(Box::new(match reorder_window_ns {
            Some(span) => source.with_reorder_window(span),
            None => source,
        }))
    }

    /// The files `paths`, each with the re-sort window `reorder_window_ns`, to be merged.
    ///
    /// # Errors
    /// Every file failed to open, or `-` is among them.
    pub(crate) fn many(
        paths: &[String],
        reorder_window_ns: Option<i64>,
    ) -> Result<Self, CaptureError> {
        let source = MergedSource::open(paths)?;
        Ok(Opened::Many(match reorder_window_ns {
            Some(span) => source.with_reorder_window(span),
            None => source,
        }))
    }

    /// As [`analyse`] or [`analyse_merged`], with every packet read also handed to `tap`
    /// before the engine sees it, with whether the filter let it through (the TUI keeps
    /// recent packets of standard input and the packets of each connection the engine
    /// analyses, and counts merged bytes this way). Returns the whole read, each file's read
    /// (several files) and every merge note, those known at opening first.
    pub(crate) fn analyse_tapped(
        self,
        mut tap: impl FnMut(&Packet<'_>, bool),
        mut filter: Option<&mut PacketFilter>,
        engine: &mut Engine,
        mut keys: Option<&mut keylog::Keys>,
        mut step: impl FnMut(Step<'_>) -> ControlFlow<()>,
    ) -> (ReadSummary, Vec<FileRead>, Vec<MergeNote>) {
        let mut on_record = |record: Record<'_, '_>| {
            if let Record::Packet(packet) = &record {
                // The filter decides once: the engine is then given no filter to ask again.
                let passed = filter.as_deref_mut().is_none_or(|f| f.matches(packet));
                tap(packet, passed);
                if !passed {
                    return step(Step::Packet(engine.stats()));
                }
            }
            analyse_record(record, None, engine, keys.as_deref_mut(), &mut step)
        };
        let (read, files, notes) = match self {
            Opened::One(mut source) => (
                source.for_each_record(&mut on_record),
                Vec::new(),
                Vec::new(),
            ),
            Opened::Many(source) => {
                let merged = source.for_each_record(&mut on_record);
                (merged.combined(), merged.files, merged.notes)
            }
        };
        engine.note_reordered(read.reordered);
        (read, files, notes)
    }
}

/// One record of [`analyse`] or [`analyse_merged`]: secrets to the key log, a packet
/// through the filter to the engine.
// Inlined into each read loop (with `Engine::process`): one call layer less a packet.
#[inline(always)]
fn analyse_record(
    record: Record<'_, '_>,
    filter: Option<&mut PacketFilter>,
    engine: &mut Engine,
    keys: Option<&mut keylog::Keys>,
    step: &mut impl FnMut(Step<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let packet = match record {
        Record::Packet(packet) => packet,
        Record::Secrets(secrets) => {
            for notice in keys.map(|k| k.add_secrets(&secrets)).unwrap_or_default() {
                let _ = step(Step::Event(Event::Notice(notice)));
            }
            return ControlFlow::Continue(());
        }
    };
    if let Some(f) = filter {
        if !f.matches(packet) {
            return step(Step::Packet(engine.stats()));
        }
    }
    engine.process(packet, &mut |event| {
        // An event cannot stop the read midway through a packet; the Packet step can.
        let _ = step(Step::Event(event));
    });
    step(Step::Packet(engine.stats()))
}

/// Runs the analysis described by `config`, writing to standard output and error.
///
/// # Errors
/// The input cannot be opened, the filter is invalid, or output cannot be written.
pub fn run(config: &Config) -> Result<Outcome, RunError> {
    match &config.input {
        Input::File(path) => run_file(config, Capture::One(path)),
        Input::Files(paths) => run_file(config, Capture::Many(paths)),
        Input::Live(live) => run_live(config, live),
    }
}

/// What `-r` names: one file (read as a stream, standard input allowed), or several merged.
enum Capture<'a> {
    One(&'a str),
    Many(&'a [String]),
}

fn run_file(config: &Config, capture: Capture<'_>) -> Result<Outcome, RunError> {
    let mut filter = config
        .filter
        .as_deref()
        .map(PacketFilter::new)
        .transpose()?;
    let opened = match capture {
        Capture::One(path) => Opened::one(FileSource::open(path)?, config.reorder_window_ns),
        Capture::Many(paths) => Opened::many(paths, config.reorder_window_ns)?,
    };
    let redactor = redactor(&config.redact)?;
    let mut delivery = Delivery::new(config, redactor, false)?;
    let (mut keys, notices) =
        keylog::Keys::open(config.keylog.as_deref(), config.keylog_max_sessions, false)
            .map_err(RunError::KeyLog)?;
    for notice in notices {
        delivery.notice(notice);
    }
    if let Opened::Many(source) = &opened {
        for note in source.notes() {
            delivery.notice(merge_notice(note));
        }
    }
    // `-c` stops at the packet that reached the count, which only one thread knows at once.
    let workers = if config.count.is_some() {
        1
    } else {
        config.threads
    };
    // One file: its summary; several: the whole, and each file with its damage apart.
    let (read, mut files, stats) = if workers > 1 {
        // Redaction and rendering on a thread after the correlation stage (render.rs), in
        // the stage's order.
        let mut renderer = render::Renderer::spawn(delivery)?;
        let mut step = |step: Step<'_>| match step {
            Step::Event(event) => {
                renderer.deliver(event);
                ControlFlow::Continue(())
            }
            Step::Packet(_) if renderer.done() => ControlFlow::Break(()),
            Step::Packet(_) => ControlFlow::Continue(()),
        };
        let filter = filter.as_mut();
        let analysed = match opened {
            Opened::One(mut source) => threads::analyse(
                &config.engine,
                workers,
                (
                    |on_record: &mut threads::RecordSink<'_>, pool: &BlockPool| {
                        source.for_each_record_in_blocks(pool, on_record)
                    },
                    |_: &_| Vec::new(),
                ),
                filter,
                &mut keys,
                &mut step,
            )
            .map(|(read, stats)| (read, Vec::new(), stats)),
            Opened::Many(source) => {
                let known = source.notes().len();
                threads::analyse(
                    &config.engine,
                    workers,
                    (
                        |on_record: &mut threads::RecordSink<'_>, pool: &BlockPool| {
                            source.for_each_record_in_blocks(pool, on_record)
                        },
                        // Said before the connections still open finish, as one thread does.
                        |merged: &MergeSummary| {
                            merged.notes.iter().skip(known).map(merge_notice).collect()
                        },
                    ),
                    filter,
                    &mut keys,
                    &mut step,
                )
                .map(|(merged, stats)| (merged.combined(), merged.files, stats))
            }
        };
        delivery = renderer.join()?;
        analysed?
    } else {
        let mut step = |step: Step<'_>| match step {
            Step::Event(event) => {
                delivery.deliver(event);
                ControlFlow::Continue(())
            }
            Step::Packet(_) if delivery.done() => ControlFlow::Break(()),
            Step::Packet(_) => ControlFlow::Continue(()),
        };
        let mut engine = Engine::new(config.engine);
        // A capture file may carry its own keys (pcapng Decryption Secrets Blocks), so the
        // engine always asks the shared log; without keys the answer is "not found" and TLS
        // is walked as without a key log.
        engine.set_key_store(Box::new(SharedKeyLog::new(keys.shared())));
        let (read, files) = match opened {
            Opened::One(mut source) => {
                let read = analyse(
                    &mut source,
                    filter.as_mut(),
                    &mut engine,
                    Some(&mut keys),
                    &mut step,
                );
                (read, Vec::new())
            }
            Opened::Many(source) => {
                let known = source.notes().len();
                let merged = analyse_merged(
                    source,
                    filter.as_mut(),
                    &mut engine,
                    Some(&mut keys),
                    &mut step,
                );
                for note in merged.notes.iter().skip(known) {
                    delivery.notice(merge_notice(note));
                }
                (merged.combined(), merged.files)
            }
        };
        if !delivery.done() {
            engine.finish(&mut |event| delivery.deliver(event));
        }
        let stats = engine.stats().clone();
        // Every record is out: what the engine still holds (the hop tracker's records, the
        // tables) is left to the process's exit, which follows this run, as tools commonly
        // do: freeing it block by block cost ~1.1 M instructions on b30. It holds no output.
        std::mem::forget(engine);
        (read, files, stats)
    };
    // The packets the reader re-sorted are the reader's count, whichever path analysed them.
    let mut stats = stats;
    stats.capture_evidence.reordered_packets = read.reordered;
    if let Some(f) = &filter {
        for lt in f.unmatched_linktypes() {
            delivery.notice(Notice::new(
                NoticeCode::FilterLinktype,
                format!("the filter does not apply to link type {lt}; its packets were skipped"),
            ));
        }
    }
    let end = RunEnd {
        stats: &stats,
        read: &read,
        live: None,
    };
    let ((summary, tripped, report), mut broken) = delivery.close(&end)?;
    if let (Some((report, mut file)), Some((report_path, format))) = (report, &config.report) {
        let generated = crate::report::generation_time();
        let info = match capture {
            Capture::One(path) => CaptureInfo::gather(path, &stats, &read, generated),
            Capture::Many(_) => CaptureInfo::gather_files(&files, &stats, &read, generated),
        };
        if let Err(e) = write_report(&report, &mut file, report_path, *format, &info) {
            broken.get_or_insert(e);
        }
    }
    let mut err = io::stderr().lock();
    if !files.is_empty() {
        write_files_line(&mut err, &files)?;
    }
    summary.write(&mut err, &stats, Some(&read))?;
    // Each damaged file says so on its own line; the first is the run's input error (exit 2,
    // its line printed by main).
    let mut file_errors = files.iter_mut().filter_map(|f| f.summary.error.take());
    let input_error = read.error.or_else(|| file_errors.next());
    for e in file_errors {
        writeln!(err, "wssniff: {e}")?;
    }
    Ok(Outcome {
        tripped,
        input_error,
        stopped: broken.map(|e| output_stopped(&e)),
        summary,
    })
}

/// Writes the `--report` file and says on standard error where it went and how big it is
/// (as tcpdump and ripgrep report on their side files), so a user running `-q` in a script
/// or a long live capture knows the report exists without listing the folder.
fn write_report(
    report: &Report,
    file: &mut File,
    path: &Path,
    format: crate::report::Format,
    info: &CaptureInfo,
) -> io::Result<()> {
    let bytes = report.write_to(file, format, info)?;
    say_report_written(path, format, bytes);
    Ok(())
}

/// `wssniff: wrote the HTML report to r.html, 21.1 KiB (21605 bytes)` on standard error.
fn say_report_written(path: &Path, format: crate::report::Format, bytes: u64) {
    eprintln!(
        "wssniff: wrote the {} report to {}, {}",
        format.name(),
        path.display(),
        crate::present::byte_size(bytes)
    );
}

/// A merge note as the notice the outputs carry.
pub(crate) fn merge_notice(note: &MergeNote) -> Notice {
    match note {
        MergeNote::OutOfOrder { read_order } => Notice::new(
            NoticeCode::FilesOutOfOrder,
            format!(
                "the capture files were given out of time order; read by first packet: {}",
                read_order.join(", ")
            ),
        ),
        MergeNote::Overlap { earlier, later, at } => Notice::new(
            NoticeCode::FilesOverlap,
            format!(
                "{earlier} and {later} overlap in time (from {}): their packets were interleaved by timestamp",
                crate::present::format_ts(*at)
            ),
        ),
    }
}

/// The summary's line naming every file of a merged read, in the order read.
fn write_files_line(out: &mut dyn Write, files: &[FileRead]) -> io::Result<()> {
    let list: Vec<String> = files
        .iter()
        .map(|f| {
            let damaged = if f.summary.error.is_some() {
                ", damaged"
            } else {
                ""
            };
            format!("{} ({} packets{damaged})", f.path, f.summary.packets)
        })
        .collect();
    writeln!(
        out,
        "{} files read as one capture, in timestamp order: {}",
        files.len(),
        list.join(", ")
    )
}

/// Name of the key file under the configuration folder.
const KEY_FILE: &str = "wssniff/redact.key";
/// Longest key file read: a key is a line of hex, not a document.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The default key file: `$XDG_CONFIG_HOME/wssniff/redact.key`, else
/// `~/.config/wssniff/redact.key`; `None` when neither variable names an absolute folder.
#[must_use]
pub fn default_key_file() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_CONFIG_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".config"))
        })
        .map(|dir| dir.join(KEY_FILE))
}

/// The redactor a run uses, saying on standard error what it had to do: with
/// `--no-redact` none; otherwise the key from `--redact-key-file` or the default key file,
/// created (32 random bytes as hex, owner-only permissions) when missing, so the hash beside
/// each redacted value is the same on every run. When the default file can be neither read
/// nor created (no home folder, a read-only one), a key for this run only, and a note.
///
/// # Errors
/// The named key file cannot be read or created, or holds too short a key.
pub fn redactor(setting: &Redaction) -> Result<Redactor, RunError> {
    let key_file = match setting {
        Redaction::Off => return Ok(Redactor::disabled()),
        Redaction::Keyed { key_file } => key_file,
    };
    let fail =
        |path: &Path, e: &dyn std::fmt::Display| RunError::Key(format!("{}: {e}", path.display()));
    if let Some(path) = key_file {
        let (key, created) = load_or_create_key(path).map_err(|e| fail(path, &e))?;
        if created {
            eprintln!(
                "wssniff: note: created the redaction key {}",
                path.display()
            );
        }
        return Redactor::new(&key).map_err(|e| fail(path, &e));
    }
    let loaded = default_key_file()
        .ok_or_else(|| "neither XDG_CONFIG_HOME nor HOME names a folder".to_owned())
        .and_then(|path| {
            load_or_create_key(&path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .map(|(key, created)| (path, key, created))
        });
    match loaded {
        Ok((path, key, created)) => {
            if created {
                eprintln!(
                    "wssniff: note: created the redaction key {} (it keys the hash beside each redacted value; --no-redact shows values as captured)",
                    path.display()
                );
            }
            Redactor::new(&key).map_err(|e| fail(&path, &e))
        }
        Err(why) => {
            let key = random_key().map_err(|e| RunError::Key(format!("for this run: {e}")))?;
            eprintln!(
                "wssniff: note: no redaction key could be kept ({why}): the hashes beside redacted values hold for this run only; --redact-key-file FILE keeps a key"
            );
            Redactor::new(&key).map_err(RunError::Key)
        }
    }
}

/// 32 bytes from the operating system's random source, as 64 hex digits.
fn random_key() -> io::Result<Vec<u8>> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes())
}

/// The key in `path` (its bytes, trailing whitespace removed), creating the file first when
/// it does not exist; `true` when it was created. Creation is atomic: the key is written to a
/// private temporary file that is then linked into place, so two runs starting together
/// agree on one key and neither reads a half-written file.
fn load_or_create_key(path: &Path) -> io::Result<(Vec<u8>, bool)> {
    match read_key(path) {
        Ok(key) => return Ok((key, false)),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    create_private_dir(dir)?;
    let tmp = dir.join(format!(".redact.key.{}.tmp", std::process::id()));
    let mut key = random_key()?;
    key.push(b'\n');
    let written = write_private(&tmp, &key).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok((read_key(path)?, true)),
        // Another run created it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok((read_key(path)?, false)),
        Err(e) => Err(e),
    }
}

fn read_key(path: &Path) -> io::Result<Vec<u8>> {
    let mut key = Vec::new();
    File::open(path)?
        .take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut key)?;
    if key.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(io::Error::other(format!(
            "longer than {MAX_KEY_FILE_BYTES} bytes: not a key file"
        )));
    }
    while key.last().is_some_and(u8::is_ascii_whitespace) {
        key.pop();
    }
    Ok(key)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// What the run says when an output file could not be written (a full disk, a quota).
fn output_stopped(e: &io::Error) -> String {
    format!(
        "writing output failed ({e}); analysis stopped there: the summary covers everything analysed, and the output files hold what was written before the error"
    )
}

/// Frames in flight between the capture thread and the analysis: enough to ride out a
/// burst while the terminal or disk is slow, bounded so memory is too.
const CHANNEL_FRAMES: usize = 65_536;

/// How often a live capture's engine is ticked (response timeouts, idle connections), the
/// key log polled and the counters shown.
const TICK: Duration = Duration::from_millis(200);

fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
}

/// What [`analyse_live`] hands its caller.
pub enum LiveStep<'a> {
    /// The engine emitted an event.
    Event(Event),
    /// A packet was analysed; what the engine learnt about its connection.
    Packet(&'a OwnedPacket, PacketInfo),
    /// Five times a second: the engine's and the capture's counters.
    Tick(&'a Stats, LiveStats),
}

/// Whether a live run was asked to stop (a signal set `stop`, or `duration` passed since
/// `started`); sets `stop` so the capture thread stops too and hangs up when it does.
pub(crate) fn stop_asked(stop: &AtomicBool, started: Instant, duration: Option<Duration>) -> bool {
    let asked = stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d);
    if asked {
        stop.store(true, Ordering::Relaxed);
    }
    asked
}

/// Runs a live capture: the capture thread reads packets into a bounded channel (never
/// waiting: it sheds and counts when the analysis falls behind) and this thread analyses
/// them, ticking the engine so unanswered upgrades are reported after the response timeout.
/// Stops when `stop` is set, `duration` passes, the capture fails or `step` returns `Break`
/// (after a stop or the duration, the packets already read are analysed first); then
/// finishes the engine. The one live loop shared by the line output and the TUI.
///
/// # Errors
/// The capture thread could not be started.
pub fn analyse_live(
    capture: LiveCapture,
    stop: &Arc<AtomicBool>,
    duration: Option<Duration>,
    engine: &mut Engine,
    mut keys: Option<&mut keylog::Keys>,
    mut step: impl FnMut(LiveStep<'_>) -> ControlFlow<()>,
) -> io::Result<LiveEnd> {
    let (tx, rx) = mpsc::sync_channel::<OwnedPacket>(CHANNEL_FRAMES);
    let counters = Arc::new(LiveCounters::default());
    let capture_stop = Arc::clone(stop);
    let capture_counters = Arc::clone(&counters);
    let capture_thread = std::thread::Builder::new()
        .name("wssniff-capture".into())
        .spawn(move || capture.run(&capture_stop, &tx, &capture_counters))?;
    let started = Instant::now();
    let mut number = 0u64;
    let mut last_tick = Instant::now();
    let mut stopped_by_step = false;
    while !stopped_by_step {
        // Stopped by a signal or the duration: the packets the capture thread read before it
        // saw the stop are still analysed (at most the channel's bound) until it hangs up;
        // dropping them would leave packets counted as captured that no record saw.
        let stopping = stop_asked(stop, started, duration);
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(owned) => {
                number += 1;
                let info = engine.process(&owned.as_frame(number), &mut |e| {
                    stopped_by_step |= step(LiveStep::Event(e)).is_break();
                });
                stopped_by_step |= step(LiveStep::Packet(&owned, info)).is_break();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if !stopping && last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            // The key log a browser appends to while we capture: read what it gained.
            for notice in keys
                .as_deref_mut()
                .map(keylog::Keys::poll)
                .unwrap_or_default()
            {
                stopped_by_step |= step(LiveStep::Event(Event::Notice(notice))).is_break();
            }
            engine.tick(now(), &mut |e| {
                stopped_by_step |= step(LiveStep::Event(e)).is_break();
            });
            stopped_by_step |= step(LiveStep::Tick(engine.stats(), counters.snapshot())).is_break();
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    let stats = capture_thread
        .join()
        .unwrap_or_else(|_| counters.snapshot());
    engine.finish(&mut |e| {
        let _ = step(LiveStep::Event(e));
    });
    let _ = step(LiveStep::Tick(engine.stats(), stats));
    Ok(LiveEnd {
        stats,
        failure: counters.failure().map(str::to_owned),
    })
}

/// How a live capture ended: the final counters, and why libpcap stopped on its own (the
/// interface went away), if it did.
#[derive(Debug)]
pub struct LiveEnd {
    /// The capture's final counters.
    pub stats: LiveStats,
    /// libpcap's message when the capture failed rather than being stopped.
    pub failure: Option<String>,
}

/// Where `-w` output goes.
pub(crate) enum PacketOut {
    All(RotatingPcap),
    UpgradesOnly(UpgradeOnlyWriter<RotatingPcap>),
    /// pcapng, with the secrets of each session the key store found keys for written
    /// before the packet that needed them, and again in each later file before its
    /// connection's first packet there (`--write-secrets`).
    WithSecrets(RotatingPcap, SecretsToWrite, FileSecrets),
}

/// What `--write-secrets` needs: the key log lines of the sessions the key store found
/// keys for, shared with it.
pub(crate) struct SecretsToWrite(pub(crate) Arc<Mutex<UsedSessions>>);

impl SecretsToWrite {
    /// The NSS lines of the sessions found since the last call (empty when none).
    fn take(&self) -> String {
        self.0.lock().map(|mut u| u.take()).unwrap_or_default()
    }
}

impl PacketOut {
    pub(crate) fn create(
        live: &Live,
        capture: &LiveCapture,
        secrets: Option<SecretsToWrite>,
    ) -> io::Result<Option<Self>> {
        Self::create_at(live, capture, secrets, now())
    }

    /// As [`PacketOut::create`], the first file named (`-G`) for the clock time `now`.
    pub(crate) fn create_at(
        live: &Live,
        capture: &LiveCapture,
        secrets: Option<SecretsToWrite>,
        now: Timestamp,
    ) -> io::Result<Option<Self>> {
        let Some(path) = &live.write else {
            return Ok(None);
        };
        let snaplen = live_snaplen(live);
        if let Some(secrets) = secrets {
            let w = RotatingPcap::create_pcapng(
                path,
                live.rotation.clone(),
                capture.linktype(),
                snaplen,
                now,
            )?;
            return Ok(Some(PacketOut::WithSecrets(
                w,
                secrets,
                FileSecrets::default(),
            )));
        }
        let w = RotatingPcap::create(
            path,
            live.rotation.clone(),
            capture.linktype(),
            snaplen,
            now,
        )?;
        Ok(Some(if live.write_handshakes_only {
            PacketOut::UpgradesOnly(UpgradeOnlyWriter::new(w))
        } else {
            PacketOut::All(w)
        }))
    }

    pub(crate) fn write(&mut self, packet: &OwnedPacket, info: PacketInfo) -> io::Result<()> {
        match (self, info.flow) {
            (PacketOut::All(w), _) => w.write(packet),
            (PacketOut::WithSecrets(w, secrets, kept), flow) => {
                // The engine has read this packet: a session it just found keys for (at
                // its ServerHello) gets its secrets ahead of the packet, as tshark needs
                // them before the first record they decrypt (and in each later file, ahead
                // of the connection's first packet there).
                let lines = secrets.take();
                w.write_with_secrets(packet, flow, &lines, kept)
            }
            (PacketOut::UpgradesOnly(w), Some(flow)) => w.offer(flow, info.upgrade, packet),
            (PacketOut::UpgradesOnly(_), None) => Ok(()),
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            PacketOut::All(w) => w.flush(),
            PacketOut::WithSecrets(w, ..) => w.flush(),
            PacketOut::UpgradesOnly(w) => w.flush(),
        }
    }

    /// `-G SECONDS -W N` wrote its N files: the capture stops, as tcpdump's does.
    pub(crate) fn is_full(&self) -> bool {
        match self {
            PacketOut::All(w) => w.is_full(),
            PacketOut::WithSecrets(w, ..) => w.is_full(),
            PacketOut::UpgradesOnly(w) => w.writer().is_full(),
        }
    }
}

fn run_live(config: &Config, live: &Live) -> Result<Outcome, RunError> {
    // First Ctrl-C / SIGTERM: stop capturing and finish cleanly. A second one exits at once.
    // Installed before anything is printed, so a signal sent as soon as the banner appears
    // already gets the clean stop.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    // SIGHUP: reopen -o and write the report so far (acted on at the next tick).
    let reopen = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reopen))?;
    let report_to = config.report.as_ref().map(|(p, f)| (p.as_path(), *f));
    let capture = LiveCapture::open(&live.options)?;
    let linktype = capture.linktype();
    // Outputs this run creates (not those that exist already) go to the -Z user; the -w
    // file is the first of its rotation, named for this moment.
    let opened_at = now();
    let first_pcap = live
        .write
        .as_deref()
        .map(|w| RotatingPcap::first_path(w, &live.rotation, opened_at));
    let outputs: Vec<&Path> = [
        first_pcap.as_deref(),
        config.json_file.as_deref(),
        config.report.as_ref().map(|(p, _)| p.as_path()),
    ]
    .into_iter()
    .flatten()
    .filter(|p| std::fs::symlink_metadata(p).is_err())
    .collect();
    // --write-secrets: the key store notes the lines of each session it finds; -w writes
    // them before the packet that needed them.
    let used = live
        .write_secrets
        .then(|| Arc::new(Mutex::new(UsedSessions::default())));
    let mut packet_out =
        PacketOut::create_at(live, &capture, used.clone().map(SecretsToWrite), opened_at)?;
    // Read (or created) while still privileged: the key file is the invoking user's.
    let redactor = redactor(&config.redact)?;
    // Every output is open now (-w here, -o in Delivery): nothing privileged is left to do.
    let mut delivery = Delivery::new(config, redactor, true)?;
    // Bound while still privileged (a port below 1024 needs root), served from its own thread.
    let serving = match live.metrics {
        Some(addr) => {
            let metrics = Metrics::new(live.metrics_servers);
            let bound = metrics
                .serve(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("--metrics {addr}: {e}")))?;
            delivery.metrics = Some(metrics);
            Some(bound)
        }
        None => None,
    };
    let dropped = crate::capture::live::drop_privileges(&live.relinquish, &outputs)?;
    eprintln!("wssniff: {}", capture.banner());
    if let Some(addr) = serving {
        eprintln!("wssniff: serving metrics on http://{addr}/metrics");
    }
    if let Some(done) = dropped {
        eprintln!("wssniff: {done}");
    }
    let (mut keys, notices) =
        keylog::Keys::open(config.keylog.as_deref(), config.keylog_max_sessions, true)
            .map_err(RunError::KeyLog)?;
    for notice in notices {
        delivery.notice(notice);
    }
    let mut write_error: Option<io::Error> = None;
    let interface = live.options.interface.clone();
    // The counters the last tick showed: after the run, the run's.
    let mut final_stats = Stats::default();
    let mut step = |step: LiveStep<'_>| {
        match step {
            LiveStep::Event(e) => delivery.deliver(e),
            LiveStep::Packet(packet, info) => {
                if let Some(Err(e)) = packet_out.as_mut().map(|p| p.write(packet, info)) {
                    write_error.get_or_insert(e);
                }
            }
            LiveStep::Tick(stats, capture_stats) => {
                final_stats.clone_from(stats);
                if let Some(metrics) = &mut delivery.metrics {
                    metrics.counters(stats, Some(&capture_stats));
                }
                if let Some(Err(e)) = packet_out.as_mut().map(PacketOut::flush) {
                    write_error.get_or_insert(e);
                }
                if reopen.swap(false, Ordering::Relaxed) {
                    let info = live_capture_info(live, stats, &capture_stats);
                    for line in delivery.reopen(report_to, &info) {
                        eprintln!("wssniff: SIGHUP: {line}");
                    }
                }
            }
        }
        if delivery.done()
            || write_error.is_some()
            || packet_out.as_ref().is_some_and(PacketOut::is_full)
        {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    // `-c` stops at the packet that reached the count, which only one thread knows at once.
    let workers = if config.count.is_some() {
        1
    } else {
        config.threads
    };
    let ended = if workers > 1 {
        let sharding = Sharding {
            config: &config.engine,
            workers,
            keys: config.keylog.is_some().then_some(&mut keys),
            used,
        };
        analyse_live_sharded(capture, &stop, live.duration, sharding, &mut step)?
    } else {
        let mut engine = Engine::new(config.engine);
        if config.keylog.is_some() {
            let store = SharedKeyLog::new(keys.shared());
            engine.set_key_store(Box::new(match used {
                Some(used) => store.noting_used(used),
                None => store,
            }));
        }
        analyse_live(
            capture,
            &stop,
            live.duration,
            &mut engine,
            Some(&mut keys),
            &mut step,
        )?
    };
    let engine_stats = final_stats;
    let stats = ended.stats;
    if let Some(p) = packet_out.as_mut().filter(|_| write_error.is_none()) {
        if let Err(e) = p.flush() {
            write_error = Some(e);
        }
    }
    // Why the capture stopped early, if it did: said after the summary, exit status 3.
    let mut stopped = ended.failure.map(|why| {
        format!(
            "the capture on {interface} stopped: {why}; the summary covers everything captured until then"
        )
    });
    let read = ReadSummary {
        packets: engine_stats.packets,
        snaplen: Some(live_snaplen(live)),
        ..ReadSummary::default()
    };
    // The JSON summary names the link type; the banner already did on standard error.
    let with_linktype = ReadSummary {
        packets: read.packets,
        linktypes: vec![linktype],
        snaplen: read.snaplen,
        ..ReadSummary::default()
    };
    let end = RunEnd {
        stats: &engine_stats,
        read: &with_linktype,
        live: Some(&stats),
    };
    let ((summary, tripped, report), broken) = delivery.close(&end)?;
    let mut write_error = write_error.or(broken);
    if let (Some((report, mut file)), Some((report_path, format))) = (report, &config.report) {
        let info = live_capture_info(live, &engine_stats, &stats);
        match rewrite_report(&report, &mut file, *format, &info) {
            Ok(size) => say_report_written(report_path, *format, size as u64),
            Err(e) => {
                write_error.get_or_insert(e);
            }
        }
    }
    let mut err = io::stderr().lock();
    summary.write(&mut err, &engine_stats, Some(&read))?;
    write_live_stats(&mut err, &stats)?;
    if let Some(e) = write_error {
        stopped.get_or_insert(output_stopped(&e));
    }
    Ok(Outcome {
        tripped,
        input_error: None,
        stopped,
        summary,
    })
}

/// Writes the whole report over what `file` held (a SIGHUP may have written an earlier one);
/// returns its size.
fn rewrite_report(
    report: &Report,
    file: &mut File,
    format: crate::report::Format,
    info: &CaptureInfo,
) -> io::Result<usize> {
    let text = report.render(format, info);
    file.set_len(0)?;
    io::Seek::rewind(file)?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(text.len())
}

/// What the report says about a live capture: no file to hash; what libpcap and wssniff
/// lost goes in as the capture's drops.
fn live_capture_info(live: &Live, stats: &Stats, capture: &LiveStats) -> CaptureInfo {
    let lossy = ReadSummary {
        packets: stats.packets,
        snaplen: Some(live_snaplen(live)),
        drops: Some(capture.lost()),
        ..ReadSummary::default()
    };
    let mut info = CaptureInfo::gather("-", stats, &lossy, crate::report::generation_time());
    info.file = format!("live capture on {}", live.options.interface);
    info
}

/// The snap length a live capture uses (`-s 0` means libpcap's maximum).
fn live_snaplen(live: &Live) -> u32 {
    if live.options.snaplen == 0 {
        262_144
    } else {
        live.options.snaplen
    }
}

fn write_live_stats(err: &mut dyn Write, stats: &LiveStats) -> io::Result<()> {
    writeln!(
        err,
        "{} packets captured, {} received by filter, {} dropped by kernel, {} dropped by interface, {} shed by wssniff",
        stats.captured, stats.received, stats.kernel_dropped, stats.interface_dropped, stats.shed
    )?;
    let lost = stats.lost();
    if lost > 0 {
        writeln!(
            err,
            "wssniff: warning: the capture is lossy ({lost} packets lost): handshakes may be missing or incomplete; raise the kernel buffer (-B) or filter harder"
        )?;
    }
    Ok(())
}

/// The finding catalogue as a table, then the notice catalogue after a blank line
/// (`--list-findings`).
#[must_use]
pub fn findings_table() -> String {
    let mut out = String::from("CODE\tSEVERITY\tMEANING\n");
    for code in Code::ALL {
        out.push_str(&format!(
            "{}\t{}\t{}\n",
            code.as_str(),
            code.severity().as_str(),
            code.title()
        ));
    }
    out.push_str("\nNOTICE\tFLAG\tMEANING\n");
    for code in NoticeCode::ALL {
        out.push_str(&format!(
            "{}\t{}\t{}\n",
            code.as_str(),
            code.flag().unwrap_or("-"),
            code.meaning()
        ));
    }
    out
}
