//! `--tui`: the full-screen interface. This file owns everything that touches the real
//! terminal: setup and restore (also on panic, SIGTERM and SIGINT), the event loop,
//! and carrying out the model's side effects. The model ([`app`]), key map ([`action`]) and
//! drawing ([`render`]) are plain code tested without a terminal.
//!
//! Threads: a producer (the file reader here, a capture thread for live mode) owns the engine
//! and sends [`feed::Feed`] messages over a bounded channel; this thread owns the [`app::App`],
//! drains the channel every tick without waiting, and redraws at most `MAX_FPS` times a
//! second, only when something changed. There is no shared mutable state.

pub mod action;
pub mod app;
pub mod engineio;
pub mod export;
pub mod feed;
pub mod filter;
pub mod flows;
pub mod render;
pub mod scan;
pub mod tabs;

use std::io::{self, IsTerminal, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event as TermEvent, MouseButton, MouseEventKind,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

use crate::cli::{Config, Input};
use action::{action_for, Action};
use app::{App, CaptureState, Effect, Screen};
use feed::Feed;

/// Upper bound on redraws per second.
const MAX_FPS: u64 = 30;
/// Longest wait for a key when nothing needs drawing (bounds SIGTERM and feed latency).
const IDLE_TICK: Duration = Duration::from_millis(50);
/// Most feed messages taken per tick, so a flood cannot starve the keyboard.
const DRAIN_BUDGET: usize = 20_000;
/// Most terminal events handled between two checks of the stop flag and two draws.
const MAX_INPUT_PER_TICK: usize = 256;
/// Rows moved per mouse wheel notch.
const WHEEL_ROWS: i64 = 3;

/// Runs the TUI for `config` (`-r FILE --tui`).
///
/// # Errors
/// Standard output is not a terminal, the input cannot be opened, or the terminal fails.
pub fn run(config: &Config) -> anyhow::Result<()> {
    if !io::stdout().is_terminal() {
        bail!("--tui needs a terminal on standard output (use the line output or --json to pipe)");
    }
    // Before the live reader gives up root: the key file is the invoking user's.
    let redactor = crate::run::redactor(&config.redact)?;
    let redacted = redactor.is_enabled();
    // --keylog (and, reading a file, the capture's own Decryption Secrets Blocks), as in
    // the line output; opened here so a missing file is said before the terminal is taken.
    let live = matches!(config.input, Input::Live(_));
    let keys =
        crate::run::keylog::Keys::open(config.keylog.as_deref(), config.keylog_max_sessions, live)?;
    let input = match &config.input {
        Input::File(path) => feed::FileInput::one(path),
        // Merged by timestamp, as the line output merges them.
        Input::Files(paths) => feed::FileInput {
            paths: paths.clone(),
            reorder_window_ns: None,
        },
        Input::Live(live) => {
            let keys = config.keylog.is_some().then_some(keys);
            let engine = (config.engine, config.threads);
            let (rx, _capture) = feed::spawn_live_reader(live, engine, redactor, keys)?;
            let label = format!("interface {}", live.options.interface);
            return run_feed(App::new(label, None).redacted(redacted), &rx);
        }
    }
    .with_reorder_window(config.reorder_window_ns);
    let (rx, _reader) = feed::spawn_file_reader(
        &input,
        config.filter.as_deref(),
        config.engine,
        redactor,
        keys,
    )?;
    // One file on disk: exported from again. Standard input and merged files: not.
    let file = match config.input {
        Input::File(ref path) if path != "-" => Some(path.clone()),
        _ => None,
    };
    // The reader thread is not joined: once the receiver is dropped its next send fails and
    // it ends on its own, and the process exits with this thread anyway.
    let merged = match &config.input {
        Input::Files(paths) => paths.clone(),
        _ => Vec::new(),
    };
    run_feed(
        App::new(input.label(), file)
            .reading_a_file()
            .merging(merged)
            .redacted(redacted),
        &rx,
    )
}

/// Runs the TUI over any producer of [`Feed`] messages (the entry point for live capture).
///
/// # Errors
/// The terminal cannot be set up or written.
pub(crate) fn run_feed(mut app: App, rx: &Receiver<Feed>) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    // SIGHUP keeps its default action (exit): the terminal is gone, there is nothing to
    // restore, and crossterm can spin reading a hung-up tty, so a flag might never be seen.
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    install_panic_hook();
    let _guard = TerminalGuard::enter()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(io::stdout())).context("opening the terminal")?;
    terminal.clear()?;
    event_loop(&mut terminal, &mut app, rx, &stop)
}

/// Restores the terminal when dropped, whichever way the loop ends.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> anyhow::Result<Self> {
        enable_raw_mode().context("switching the terminal to raw mode")?;
        let guard = TerminalGuard;
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)
            .context("entering the alternate screen")?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Leaves raw mode, the alternate screen and mouse reporting, and shows the cursor. Safe to
/// call twice (the panic hook and the guard may both run).
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        Show
    );
}

/// A panic must not leave the user's terminal in raw mode on the alternate screen, with the
/// message invisible: restore first, then let the default hook print.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    rx: &Receiver<Feed>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let frame_interval = Duration::from_millis(1000 / MAX_FPS);
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut feed_open = true;
    // The connection hex view's load running on its own thread, if any.
    let mut job: Option<scan::HexJob> = None;
    while !stop.load(Ordering::Relaxed) {
        dirty |= poll_hex_job(app, &mut job);
        if feed_open {
            for _ in 0..DRAIN_BUDGET {
                match rx.try_recv() {
                    Ok(feed) => {
                        app.apply_feed(feed);
                        dirty = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        feed_open = false;
                        if app.state == CaptureState::Running {
                            app.state = CaptureState::Failed("the capture thread stopped".into());
                            dirty = true;
                        }
                        break;
                    }
                }
            }
        }
        let due = last_draw.is_none_or(|t| t.elapsed() >= frame_interval);
        if dirty && due {
            let size = terminal.size()?;
            let regions = render::layout(ratatui::layout::Rect::new(0, 0, size.width, size.height));
            // New records regroup once per drawn frame at most, and only when some came.
            app.settle();
            app.set_table_rows(regions.table_rows());
            terminal.draw(|f| render::render(f, f.area(), app))?;
            dirty = false;
            last_draw = Some(Instant::now());
        }
        let timeout = match last_draw {
            Some(t) if dirty => frame_interval.saturating_sub(t.elapsed()),
            _ => IDLE_TICK,
        };
        if !event::poll(timeout)? {
            continue;
        }
        // Take the pending terminal events before the next draw, a bounded number: a terminal
        // that went away can report input forever, and the stop flag must still be seen.
        for _ in 0..MAX_INPUT_PER_TICK {
            let ev = event::read()?;
            dirty = true;
            let action = match ev {
                TermEvent::Key(key) => action_for(key, app.key_mode()),
                TermEvent::Mouse(m) => match m.kind {
                    MouseEventKind::ScrollUp => Some(Action::Move(-WHEEL_ROWS)),
                    MouseEventKind::ScrollDown => Some(Action::Move(WHEEL_ROWS)),
                    MouseEventKind::Down(MouseButton::Left) => {
                        let size = terminal.size()?;
                        let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
                        let regions = render::layout(area);
                        if m.row == regions.main.y && app.screen == Screen::Table {
                            // The column titles: sort by the one clicked.
                            render::sort_action_at(regions.main, m.column, app)
                        } else {
                            regions.table_row_at(m.row).map(Action::ClickRow)
                        }
                    }
                    _ => None,
                },
                _ => None,
            };
            if let Some(action) = action {
                app.status = None;
                if let Some(effect) = app.update(action) {
                    if perform(terminal, app, &mut job, effect)? {
                        return Ok(());
                    }
                }
                dirty |= poll_hex_job(app, &mut job);
            }
            if stop.load(Ordering::Relaxed) || !event::poll(Duration::ZERO)? {
                break;
            }
        }
    }
    Ok(())
}

/// The curl popup's text: the command one argument per line (as it copies from the screen),
/// and when credentials in it are placeholders, a line saying so (the copied command is the
/// same: pasting it replays the placeholders).
fn curl_popup_body(cmd: &str) -> String {
    let laid_out = export::curl_for_copying(cmd);
    match crate::present::curl_replay_note(cmd) {
        Some(note) => format!("{laid_out}\n\n{note}"),
        None => laid_out,
    }
}

/// What loading connection `i`'s packets of `window` needs, copied out of the model.
fn hex_request(app: &App, i: usize, window: app::HexWindow) -> Option<scan::HexRequest> {
    let row = app.conns.record(i)?;
    Some(scan::HexRequest {
        path: app.file.clone(),
        store: app.packets.clone(),
        lists: app.packet_lists.clone(),
        connection: std::sync::Arc::clone(&row.record),
        opened_by: app.opened_by_shared(row),
        index: i,
        redact: app.redacted,
        window,
        capture_packets: app.progress.stats.packets,
    })
}

/// Takes what the hex load `job` has done: its progress into the model, its packets once
/// loaded; gives it up when the view it loads for is no longer shown. `true` when the
/// screen changed.
fn poll_hex_job(app: &mut App, job: &mut Option<scan::HexJob>) -> bool {
    let Some(running) = job.as_ref() else {
        return false;
    };
    let key = running.key;
    if app.hex_wanted() != Some(key) {
        // Esc, another connection, other packets: the load is not wanted any more.
        *job = None;
        if app
            .hex_loading
            .is_some_and(|l| (l.connection, l.window) == key)
        {
            app.hex_loading = None;
        }
        return true;
    }
    if let Some(dump) = running.try_take() {
        app.set_hex(dump);
        *job = None;
        return true;
    }
    let (scanning, done, of) = running.progress();
    match app.hex_loading.as_mut() {
        Some(l) if (l.scanning, l.done, l.of) != (scanning, done, of) => {
            (l.scanning, l.done, l.of) = (scanning, done, of);
            true
        }
        _ => false,
    }
}

/// Carries out a side effect for the model; `true` means quit.
fn perform(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    job: &mut Option<scan::HexJob>,
    effect: Effect,
) -> anyhow::Result<bool> {
    let index = match effect {
        Effect::Quit => return Ok(true),
        Effect::Jump(to) => {
            let size = terminal.size()?;
            let regions = render::layout(ratatui::layout::Rect::new(0, 0, size.width, size.height));
            render::jump(
                app,
                to,
                regions.main.width,
                regions.main.height.saturating_sub(1),
            );
            return Ok(false);
        }
        Effect::LoadConnectionHex(i, window) => {
            // Read (and, past the packet lists, scanned for) on a thread of its own: the
            // loop keeps drawing and polls it ([`poll_hex_job`]).
            *job = None;
            if let Some(request) = hex_request(app, i, window) {
                match scan::HexJob::spawn(request, export::load_connection_window) {
                    Ok(started) => {
                        app.hex_loading = Some(app::HexLoading {
                            connection: i,
                            window,
                            ..app::HexLoading::default()
                        });
                        *job = Some(started);
                    }
                    Err(e) => app.status = Some(format!("reading the packets failed: {e}")),
                }
            }
            return Ok(false);
        }
        Effect::CopyCurl(i)
        | Effect::ExportPcap(i)
        | Effect::ExportJson(i)
        | Effect::LoadHex(i) => i,
    };
    let Some(record) = app.record(index) else {
        return Ok(false);
    };
    let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
    match effect {
        Effect::Quit => return Ok(true),
        // Carried out above, before the record lookup.
        Effect::Jump(_) | Effect::LoadConnectionHex(..) => {}
        Effect::CopyCurl(_) => match crate::present::curl_command(record) {
            Some(cmd) => {
                let backend = terminal.backend_mut();
                backend.write_all(export::osc52(&cmd).as_bytes())?;
                backend.flush()?;
                app.show_popup(
                    "curl command (copied to the clipboard via OSC 52)",
                    curl_popup_body(&cmd),
                );
            }
            None => app.status = Some("the request was not captured: nothing to replay".into()),
        },
        Effect::ExportJson(_) => {
            let msg = match export::export_json(&dir, record) {
                Ok(p) => format!("wrote {}", p.display()),
                Err(e) => format!("export failed: {e}"),
            };
            app.show_popup("export JSON", crate::present::escape(&msg));
        }
        Effect::ExportPcap(_) => {
            let files = match app.file.as_deref().filter(|f| *f != "-") {
                Some(file) => vec![file.to_owned()],
                None => app.merged_files.clone(),
            };
            let msg = match files.as_slice() {
                [] => "exporting packets needs a capture file to read them again (standard input and live capture keep only recent packets)".to_owned(),
                files => match export::export_pcap_from(files, &dir, record) {
                    Ok((p, n)) => format!(
                        "wrote {n} packets of {} → {} to {}",
                        record.client,
                        record.server,
                        p.display()
                    ),
                    Err(e) => format!("export failed: {e}"),
                },
            };
            app.show_popup("export pcap", crate::present::escape(&msg));
        }
        Effect::LoadHex(_) => {
            let dump = export::load_hex(
                app.file.as_deref(),
                app.packets.as_ref(),
                record,
                app.redacted,
            );
            app.set_hex(dump);
        }
    }
    Ok(false)
}
