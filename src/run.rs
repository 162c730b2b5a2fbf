//! One run: open the source, drive the engine, feed the sinks, print the summary.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;

use crate::capture::filter::FrameFilter;
use crate::capture::{CaptureError, FileSource, ReadSummary};
use crate::cli::{Config, Input};
use crate::engine::{Engine, Stats};
use crate::event::Event;
use crate::finding::Code;
use crate::sink::{JsonSink, LineSink, LineStyle, Sink, Summary};

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
    /// The flags ask for something this build cannot do.
    #[error("{0}")]
    Unsupported(String),
}

/// Hands events to the sinks and keeps the run's counters.
struct Delivery {
    sinks: Vec<Box<dyn Sink>>,
    summary: Summary,
    handshakes: u64,
    tripped: bool,
    write_error: Option<io::Error>,
    limit: Option<u64>,
    fail_on: Option<crate::cli::FailOn>,
}

impl Delivery {
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
        }
        let _ = self.summary.event(&event);
        for sink in &mut self.sinks {
            if let Err(e) = sink.event(&event) {
                self.write_error.get_or_insert(e);
            }
        }
    }

    /// `-c` reached, or output broke.
    fn done(&self) -> bool {
        self.write_error.is_some() || self.limit.is_some_and(|n| self.handshakes >= n)
    }
}

/// What [`analyse`] hands its caller.
pub enum Step<'a> {
    /// The engine emitted an event.
    Event(Event),
    /// A frame was processed (whether or not the filter kept it); the counters so far.
    Frame(&'a Stats),
}

/// Drives `engine` with every frame of `source` that passes `filter`, handing each event and
/// each processed frame to `step`, until the end of the input or until a `Frame` step returns
/// `Break`. The one read loop shared by the line output and the TUI's reader thread; the caller
/// decides whether to call [`Engine::finish`] afterwards.
pub fn analyse(
    source: &mut FileSource,
    mut filter: Option<&mut FrameFilter>,
    engine: &mut Engine,
    mut step: impl FnMut(Step<'_>) -> ControlFlow<()>,
) -> ReadSummary {
    source.for_each_frame(|frame| {
        if let Some(f) = filter.as_deref_mut() {
            if !f.matches(frame) {
                return step(Step::Frame(engine.stats()));
            }
        }
        engine.process(frame, &mut |event| {
            // An event cannot stop the read midway through a frame; the Frame step can.
            let _ = step(Step::Event(event));
        });
        step(Step::Frame(engine.stats()))
    })
}

/// Runs the analysis described by `config`, writing to standard output and error.
///
/// # Errors
/// The input cannot be opened, the filter is invalid, or output cannot be written.
pub fn run(config: &Config) -> Result<Outcome, RunError> {
    let path = match &config.input {
        Input::File(path) => path.clone(),
        Input::Interface(iface) => {
            return Err(RunError::Unsupported(format!(
                "live capture (-i {iface}) is not available in this build yet; capture with `tcpdump -i {iface} -w x.pcap` and run `wssniff -r x.pcap`"
            )))
        }
    };
    let mut filter = config.filter.as_deref().map(FrameFilter::new).transpose()?;
    let mut source = FileSource::open(&path)?;

    let stdout = io::stdout();
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if config.json_stdout {
        sinks.push(Box::new(JsonSink::new(BufWriter::new(stdout.lock()))));
    } else if !config.quiet {
        let style = LineStyle {
            color: config.color,
            verbose: config.verbose,
        };
        sinks.push(Box::new(LineSink::new(
            BufWriter::new(stdout.lock()),
            style,
        )));
    }
    if let Some(file) = &config.json_file {
        let f = File::create(file)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
        sinks.push(Box::new(JsonSink::new(BufWriter::new(f))));
    }

    let mut engine = Engine::new(config.engine);
    let mut delivery = Delivery {
        sinks,
        summary: Summary::default(),
        handshakes: 0,
        tripped: false,
        write_error: None,
        limit: config.count,
        fail_on: config.fail_on,
    };
    let read = analyse(
        &mut source,
        filter.as_mut(),
        &mut engine,
        |step| match step {
            Step::Event(event) => {
                delivery.deliver(event);
                ControlFlow::Continue(())
            }
            Step::Frame(_) if delivery.done() => ControlFlow::Break(()),
            Step::Frame(_) => ControlFlow::Continue(()),
        },
    );
    if !delivery.done() {
        engine.finish(&mut |event| delivery.deliver(event));
    }
    if let Some(e) = delivery.write_error.take() {
        return Err(RunError::Output(e));
    }
    for sink in &mut delivery.sinks {
        sink.finish()?;
    }
    drop(delivery.sinks);
    let mut err = io::stderr().lock();
    delivery
        .summary
        .write(&mut err, engine.stats(), Some(&read))?;
    if let Some(f) = &filter {
        for lt in f.unmatched_linktypes() {
            writeln!(
                err,
                "wssniff: note: the filter does not apply to link type {lt}; its frames were skipped"
            )?;
        }
    }
    let outcome = Outcome {
        tripped: delivery.tripped,
        input_error: read.error,
        summary: delivery.summary,
    };
    Ok(outcome)
}

/// The finding catalogue as a table (`--list-findings`).
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
    out
}
