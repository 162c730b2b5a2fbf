//! One run: open the source, drive the engine, feed the sinks, print the summary.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::capture::filter::PacketFilter;
use crate::capture::live::{LiveCapture, LiveCounters, LiveStats, OwnedPacket};
use crate::capture::{CaptureError, FileSource, ReadSummary, Timestamp};
use crate::cli::{Config, FailOn, Input, Live};
use crate::engine::{Engine, PacketInfo, Stats};
use crate::event::{Event, Notice};
use crate::finding::{Code, NoticeCode};
use crate::report::{CaptureInfo, Report};
use crate::sink::pcap::{PcapWriter, UpgradeOnlyWriter};
use crate::sink::{JsonSink, LineSink, LineStyle, RunEnd, Sink, Summary};

/// How a run ended, for the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// A handshake tripped `--fail-on`.
    pub tripped: bool,
    /// The input was damaged or stopped early (results before the damage were reported).
    pub input_error: Option<CaptureError>,
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
}

/// What a closed [`Delivery`] leaves: the summary, whether `--fail-on` tripped, and the
/// report with the file it goes to.
type Closed = (Summary, bool, Option<(Report, File)>);

/// Hands events to the sinks and keeps the run's counters.
struct Delivery {
    sinks: Vec<Box<dyn Sink>>,
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
    fn new(config: &Config, flush_each: bool) -> Result<Self, RunError> {
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if config.json_stdout {
            sinks.push(Box::new(JsonSink::new(BufWriter::new(io::stdout()))));
        } else if !config.quiet {
            let style = LineStyle {
                color: config.color,
                verbose: config.verbose,
            };
            sinks.push(Box::new(LineSink::new(BufWriter::new(io::stdout()), style)));
        }
        if let Some(file) = &config.json_file {
            let f = File::create(file)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
            sinks.push(Box::new(JsonSink::new(BufWriter::new(f))));
        }
        // Created now, not when it is written: a bad path fails before the capture is read,
        // and live capture opens every output before it gives up root.
        let report = match &config.report {
            Some((path, _)) => {
                let file = File::create(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                Some((Report::new(), file))
            }
            None => None,
        };
        Ok(Delivery {
            sinks,
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
        match &event {
            Event::Notice(n) => eprintln!("wssniff: note: {}", n.message),
            Event::Handshake(r) => {
                self.handshakes += 1;
                if self.fail_on.is_some_and(|f| f.trips(r.verdict)) {
                    self.tripped = true;
                }
            }
            Event::Connection(_) | Event::Hop(_) => {}
        }
        let _ = self.summary.event(&event);
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

    /// `-c` reached, or output broke.
    fn done(&self) -> bool {
        self.write_error.is_some() || self.limit.is_some_and(|n| self.handshakes >= n)
    }

    /// Closes the sinks, handing them the run's counters first; returns the summary, whether
    /// `--fail-on` tripped, and the report.
    fn close(mut self, run: &RunEnd<'_>) -> Result<Closed, RunError> {
        if let Some(e) = self.write_error.take() {
            return Err(RunError::Output(e));
        }
        for sink in &mut self.sinks {
            sink.end(run)?;
            sink.finish()?;
        }
        Ok((self.summary, self.tripped, self.report))
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
/// `Break`. The one read loop shared by the line output and the TUI's reader thread; the caller
/// decides whether to call [`Engine::finish`] afterwards.
pub fn analyse(
    source: &mut FileSource,
    mut filter: Option<&mut PacketFilter>,
    engine: &mut Engine,
    mut step: impl FnMut(Step<'_>) -> ControlFlow<()>,
) -> ReadSummary {
    source.for_each_packet(|packet| {
        if let Some(f) = filter.as_deref_mut() {
            if !f.matches(packet) {
                return step(Step::Packet(engine.stats()));
            }
        }
        engine.process(packet, &mut |event| {
            // An event cannot stop the read midway through a packet; the Packet step can.
            let _ = step(Step::Event(event));
        });
        step(Step::Packet(engine.stats()))
    })
}

/// Runs the analysis described by `config`, writing to standard output and error.
///
/// # Errors
/// The input cannot be opened, the filter is invalid, or output cannot be written.
pub fn run(config: &Config) -> Result<Outcome, RunError> {
    match &config.input {
        Input::File(path) => run_file(config, path),
        Input::Live(live) => run_live(config, live),
    }
}

fn run_file(config: &Config, path: &str) -> Result<Outcome, RunError> {
    let mut filter = config
        .filter
        .as_deref()
        .map(PacketFilter::new)
        .transpose()?;
    let mut source = FileSource::open(path)?;
    let mut delivery = Delivery::new(config, false)?;
    let mut engine = Engine::new(config.engine);
    let read = analyse(
        &mut source,
        filter.as_mut(),
        &mut engine,
        |step| match step {
            Step::Event(event) => {
                delivery.deliver(event);
                ControlFlow::Continue(())
            }
            Step::Packet(_) if delivery.done() => ControlFlow::Break(()),
            Step::Packet(_) => ControlFlow::Continue(()),
        },
    );
    if !delivery.done() {
        engine.finish(&mut |event| delivery.deliver(event));
    }
    if let Some(f) = &filter {
        for lt in f.unmatched_linktypes() {
            delivery.notice(Notice::new(
                NoticeCode::FilterLinktype,
                format!("the filter does not apply to link type {lt}; its packets were skipped"),
            ));
        }
    }
    let end = RunEnd {
        stats: engine.stats(),
        read: &read,
        live: None,
    };
    let (summary, tripped, report) = delivery.close(&end)?;
    if let (Some((report, mut file)), Some((_, format))) = (report, &config.report) {
        let info = CaptureInfo::gather(
            path,
            engine.stats(),
            &read,
            crate::report::generation_time(),
        );
        report.write_to(&mut file, *format, &info)?;
    }
    let mut err = io::stderr().lock();
    summary.write(&mut err, engine.stats(), Some(&read))?;
    Ok(Outcome {
        tripped,
        input_error: read.error,
        summary,
    })
}

/// Frames in flight between the capture thread and the analysis: enough to ride out a
/// burst while the terminal or disk is slow, bounded so memory is too.
const CHANNEL_FRAMES: usize = 65_536;

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

/// Runs a live capture: the capture thread reads packets into a bounded channel (never
/// waiting: it sheds and counts when the analysis falls behind) and this thread analyses
/// them, ticking the engine so unanswered upgrades are reported after the response timeout.
/// Stops when `stop` is set, `duration` passes, the capture fails or `step` returns `Break`;
/// then finishes the engine. The one live loop shared by the line output and the TUI.
///
/// # Errors
/// The capture thread could not be started.
pub fn analyse_live(
    capture: LiveCapture,
    stop: &Arc<AtomicBool>,
    duration: Option<Duration>,
    engine: &mut Engine,
    mut step: impl FnMut(LiveStep<'_>) -> ControlFlow<()>,
) -> io::Result<LiveStats> {
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
    while !stop.load(Ordering::Relaxed)
        && !stopped_by_step
        && duration.is_none_or(|d| started.elapsed() < d)
    {
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
        if last_tick.elapsed() >= Duration::from_millis(200) {
            last_tick = Instant::now();
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
    Ok(stats)
}

/// Where `-w` output goes.
pub(crate) enum PacketOut {
    All(PcapWriter),
    UpgradesOnly(UpgradeOnlyWriter),
}

impl PacketOut {
    pub(crate) fn create(live: &Live, capture: &LiveCapture) -> io::Result<Option<Self>> {
        let Some(path) = &live.write else {
            return Ok(None);
        };
        let snaplen = if live.options.snaplen == 0 {
            262_144
        } else {
            live.options.snaplen
        };
        let w = PcapWriter::create(path, capture.linktype(), snaplen)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(Some(if live.write_handshakes_only {
            PacketOut::UpgradesOnly(UpgradeOnlyWriter::new(w))
        } else {
            PacketOut::All(w)
        }))
    }

    pub(crate) fn write(&mut self, packet: &OwnedPacket, info: PacketInfo) -> io::Result<()> {
        match (self, info.flow) {
            (PacketOut::All(w), _) => w.write(packet),
            (PacketOut::UpgradesOnly(w), Some(flow)) => w.offer(flow, info.upgrade, packet),
            (PacketOut::UpgradesOnly(_), None) => Ok(()),
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            PacketOut::All(w) => w.flush(),
            PacketOut::UpgradesOnly(w) => w.flush(),
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
    let capture = LiveCapture::open(&live.options)?;
    let linktype = capture.linktype();
    let mut packet_out = PacketOut::create(live, &capture)?;
    // Every output is open now (-w here, -o in Delivery): nothing privileged is left to do.
    let mut delivery = Delivery::new(config, true)?;
    let dropped = crate::capture::live::drop_privileges(&live.relinquish)?;
    eprintln!("wssniff: {}", capture.banner());
    if let Some(done) = dropped {
        eprintln!("wssniff: {done}");
    }
    let mut engine = Engine::new(config.engine);
    let mut write_error: Option<io::Error> = None;
    let stats = analyse_live(capture, &stop, live.duration, &mut engine, |step| {
        match step {
            LiveStep::Event(e) => delivery.deliver(e),
            LiveStep::Packet(packet, info) => {
                if let Some(Err(e)) = packet_out.as_mut().map(|p| p.write(packet, info)) {
                    write_error.get_or_insert(e);
                }
            }
            LiveStep::Tick(..) => {
                if let Some(Err(e)) = packet_out.as_mut().map(PacketOut::flush) {
                    write_error.get_or_insert(e);
                }
            }
        }
        if delivery.done() || write_error.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if let Some(e) = write_error {
        return Err(RunError::Output(e));
    }
    if let Some(p) = packet_out.as_mut() {
        p.flush()?;
    }
    let read = ReadSummary {
        packets: engine.stats().packets,
        snaplen: Some(if live.options.snaplen == 0 {
            262_144
        } else {
            live.options.snaplen
        }),
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
        stats: engine.stats(),
        read: &with_linktype,
        live: Some(&stats),
    };
    let (summary, tripped, report) = delivery.close(&end)?;
    if let (Some((report, mut file)), Some((_, format))) = (report, &config.report) {
        // No file to hash; what libpcap and wssniff lost goes in as the capture's drops.
        let lossy = ReadSummary {
            packets: read.packets,
            snaplen: read.snaplen,
            drops: Some(stats.lost()),
            ..ReadSummary::default()
        };
        let mut info = CaptureInfo::gather(
            "-",
            engine.stats(),
            &lossy,
            crate::report::generation_time(),
        );
        info.file = format!("live capture on {}", live.options.interface);
        report.write_to(&mut file, *format, &info)?;
    }
    let mut err = io::stderr().lock();
    summary.write(&mut err, engine.stats(), Some(&read))?;
    write_live_stats(&mut err, &stats)?;
    Ok(Outcome {
        tripped,
        input_error: None,
        summary,
    })
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
