//! Drawing: a pure function of the [`App`] onto a ratatui frame. No state is kept between
//! frames, so whatever the model says is what is on screen, and snapshot tests can draw any
//! model onto a `TestBackend`.
//!
//! ```text
//! ┌ header (2 rows): source, state + progress gauge │ packets, drops, verdict counts, flows ┐
//! │ tab bar (1 row): Handshakes 8 · Connections 3 · TLS 2 · HTTP/2 streams 1 (shown/kept)  │
//! │ filter bar (1 row): filter or `/` input, sort column, follow, row 3/8                  │
//! │ main: the current tab's table, or the detail view of its selected row                 │
//! │ footer (1 row): last action's result, or key hints                                   │
//! └ overlays drawn on top: help (?), popups (curl command, export results)               ┘
//! ```
//! Every piece of captured text goes through `escape` before it is drawn.

mod detail;
mod table;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, LineGauge, Paragraph, Wrap};
use ratatui::Frame;

use super::action::{KEYS, MOUSE_HELP};
use super::app::{App, CaptureState, Overlay, Screen};
use crate::event::Verdict;

pub use detail::{connection_lines, detail_lines};
pub use table::{sort_action_at, sort_key_at};

use super::app::Jump;
use super::tabs::Tab;

/// Smallest area drawn normally; below it a one-line notice is shown instead.
const MIN_WIDTH: u16 = 40;
const MIN_HEIGHT: u16 = 8;

/// The screen regions, shared by the renderer and the event loop (mouse hit-testing and the
/// number of table rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regions {
    /// Two header rows.
    pub header: Rect,
    /// The tab bar.
    pub tabs: Rect,
    /// The filter bar.
    pub filter: Rect,
    /// Table or detail view.
    pub main: Rect,
    /// Status / key hints.
    pub footer: Rect,
}

impl Regions {
    /// Table body rows that fit (the table's first row is its column titles).
    #[must_use]
    pub fn table_rows(&self) -> usize {
        usize::from(self.main.height.saturating_sub(1))
    }

    /// The table body row under screen row `y`, if any.
    #[must_use]
    pub fn table_row_at(&self, y: u16) -> Option<usize> {
        let first = self.main.y.saturating_add(1);
        (y >= first && y < self.main.bottom()).then(|| usize::from(y - first))
    }
}

/// Splits `area` into the regions.
#[must_use]
pub fn layout(area: Rect) -> Regions {
    let [header, tabs, filter, main, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Regions {
        header,
        tabs,
        filter,
        main,
        footer,
    }
}

/// Colour of a verdict, used everywhere a verdict appears.
#[must_use]
pub fn verdict_style(v: Verdict) -> Style {
    let color = match v {
        Verdict::Ok => Color::Green,
        Verdict::Warning => Color::Yellow,
        Verdict::Failed => Color::Red,
        Verdict::Incomplete => Color::Magenta,
    };
    Style::new().fg(color).add_modifier(Modifier::BOLD)
}

/// Draws the whole UI for `app` into `area`.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = Paragraph::new("wssniff: terminal too small (need 40x8); q quits")
            .wrap(Wrap { trim: true });
        frame.render_widget(msg, area);
        return;
    }
    let regions = layout(area);
    header(frame, regions.header, app);
    tab_bar(frame, regions.tabs, app);
    filter_bar(frame, regions.filter, app);
    match app.screen {
        Screen::Table => table::render(frame, regions.main, app),
        Screen::Detail => detail::render(frame, regions.main, app),
    }
    footer(frame, regions.footer, app);
    match &app.overlay {
        Some(Overlay::Help) => help(frame, area),
        Some(Overlay::Popup { title, body }) => popup(frame, area, title, body),
        None => {}
    }
}

fn header(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let [top, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let (state, state_style) = match (&app.state, app.paused) {
        (CaptureState::Running, true) | (CaptureState::Finished, true) => {
            ("paused".to_owned(), Style::new().fg(Color::Yellow))
        }
        (CaptureState::Running, false) => ("running".to_owned(), Style::new().fg(Color::Green)),
        (CaptureState::Finished, false) => ("finished".to_owned(), Style::new().fg(Color::Cyan)),
        (CaptureState::Failed(_), _) => (
            "stopped: input error".to_owned(),
            Style::new().fg(Color::Red),
        ),
    };
    let title = |width: u16| {
        // The source is cut at its start (the file name is at the end) so that it never
        // runs into the gauge: one blank column is kept before it.
        let used = 9 + 1 + state.chars().count() + 2 + 1;
        let room = usize::from(width).saturating_sub(used);
        let source = crate::present::escape(&app.source);
        let n = source.chars().count();
        let source = if n > room {
            let keep: String = source.chars().skip(n + 1 - room.max(1)).collect();
            format!("…{keep}")
        } else {
            source
        };
        Line::from(vec![
            Span::styled(
                " wssniff ",
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ),
            Span::raw(" "),
            Span::styled(state.clone(), state_style.add_modifier(Modifier::BOLD)),
            Span::raw("  "),
            Span::raw(source),
        ])
    };
    let ratio = app.progress.total_bytes.filter(|&t| t > 0).map(|total| {
        #[allow(clippy::cast_precision_loss)]
        let r = app.progress.bytes_read as f64 / total as f64;
        r.clamp(0.0, 1.0)
    });
    match ratio {
        Some(r) if top.width >= 60 => {
            let [left, right] =
                Layout::horizontal([Constraint::Min(20), Constraint::Length(21)]).areas(top);
            frame.render_widget(Paragraph::new(title(left.width)), left);
            let gauge = LineGauge::default()
                .ratio(r)
                .label(format!("{:>3.0}%", r * 100.0))
                .filled_style(Style::new().fg(Color::Cyan));
            frame.render_widget(gauge, right);
        }
        _ => frame.render_widget(Paragraph::new(title(top.width)), top),
    }

    let stats = &app.progress.stats;
    // Incidents: a proxied handshake's legs count once, as the grouped table shows them.
    let (counts, proxied) = app.incident_counts();
    let [ok, warning, failed, incomplete] = counts;
    let total: u64 = counts.iter().sum();
    let drops = match app.progress.drops {
        Some(d) => d.to_string(),
        None => "-".to_owned(),
    };
    // Packets and drops first, so a narrow terminal never cuts the drop count; the words
    // shorten below 100 columns.
    let wide = bottom.width >= 100;
    let mut spans = vec![
        Span::raw(format!(" pkts {}  drops {drops}  ", stats.packets)),
        Span::styled(
            if wide { "handshakes " } else { "hs " },
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(if wide && proxied > 0 {
            format!("{total} ({proxied} proxied): ")
        } else {
            format!("{total}: ")
        }),
        Span::styled(format!("ok {ok}"), verdict_style(Verdict::Ok)),
        Span::raw(" "),
        Span::styled(format!("warn {warning}"), verdict_style(Verdict::Warning)),
        Span::raw(" "),
        Span::styled(
            format!("{} {failed}", if wide { "failed" } else { "fail" }),
            verdict_style(Verdict::Failed),
        ),
        Span::raw(" "),
        Span::styled(
            format!("{} {incomplete}", if wide { "incompl" } else { "inc" }),
            verdict_style(Verdict::Incomplete),
        ),
        Span::raw(format!("  flows {}", stats.flows)),
    ];
    let (tls, tls_failed) = app.tls_counts;
    if tls > 0 {
        spans.push(Span::raw(format!("  tls {tls} (")));
        spans.push(Span::styled(
            format!("failed {tls_failed}"),
            if tls_failed > 0 {
                verdict_style(Verdict::Failed)
            } else {
                Style::new()
            },
        ));
        spans.push(Span::raw(")"));
    }
    let (sio, sio_failed) = app.socketio_counts;
    if sio > 0 {
        spans.push(Span::raw(format!("  socket.io {sio} (")));
        spans.push(Span::styled(
            format!("failed {sio_failed}"),
            if sio_failed > 0 {
                verdict_style(Verdict::Failed)
            } else {
                Style::new()
            },
        ));
        spans.push(Span::raw(")"));
    }
    let evicted = stats.flows_evicted_capacity + stats.flows_evicted_idle;
    if evicted > 0 {
        spans.push(Span::raw(format!("  evicted {evicted}")));
    }
    if app.frame_logs_given_up > 0 {
        spans.push(Span::styled(
            format!(
                "  stream logs full ({} MiB): {} not kept",
                crate::tui::app::MAX_FRAME_LOG_BYTES / (1024 * 1024),
                app.frame_logs_given_up
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    if app.records_not_kept > 0 {
        spans.push(Span::styled(
            format!("  table full: {} not kept", app.records_not_kept),
            Style::new().fg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), bottom);
}

fn filter_bar(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let line = if let Some(input) = &app.filter_input {
        Line::from(vec![
            Span::styled(" / ", Style::new().add_modifier(Modifier::REVERSED)),
            Span::raw(" "),
            Span::raw(crate::present::escape(input)),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled(
                "   Enter apply · Esc cancel · v:failed code:accept_mismatch text",
                Style::new().fg(Color::DarkGray),
            ),
        ])
    } else {
        let filter = if app.filter.is_empty() {
            Span::styled("none", Style::new().fg(Color::DarkGray))
        } else {
            Span::styled(
                crate::present::escape(&app.filter.describe()),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            )
        };
        let (sort, descending) = match app.tab {
            Tab::Handshakes => (app.sort.label(), app.descending),
            Tab::Connections => (
                column_title::<super::tabs::ConnRow>(app.conns.sort),
                app.conns.descending,
            ),
            Tab::Tls => (
                column_title::<crate::event::TlsRecord>(app.tls.sort),
                app.tls.descending,
            ),
            Tab::H2 => (
                column_title::<super::tabs::H2Row>(app.h2.sort),
                app.h2.descending,
            ),
            Tab::EngineIo => (
                column_title::<crate::event::EngineIoSession>(app.engineio.sort),
                app.engineio.descending,
            ),
        };
        let arrow = if descending { "▼" } else { "▲" };
        let (at, len) = app.position();
        let (_, kept) = app.tab_counts(app.tab);
        let of = if len == kept {
            String::new()
        } else {
            format!(" ({kept} kept)")
        };
        let mut spans = vec![
            Span::raw(" filter: "),
            filter,
            Span::raw(format!(
                "  sort: {} {arrow}  row {at}/{len}{of}",
                sort.to_lowercase()
            )),
        ];
        if app.follow {
            spans.push(Span::styled("  follow", Style::new().fg(Color::Cyan)));
        }
        if app.paused {
            spans.push(Span::styled(
                format!("  paused (+{})", app.arrived_while_paused),
                Style::new().fg(Color::Yellow),
            ));
        }
        Line::from(spans)
    };
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(Color::Black)),
        area,
    );
}

fn column_title<R: super::tabs::Listed>(col: usize) -> &'static str {
    R::COLUMNS.get(col).map_or("", |c| c.title)
}

/// The tab bar: each tab with its row count (shown/kept when the filter hides some), the
/// current one highlighted, and the key that shows it.
fn tab_bar(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut spans = vec![Span::raw(" ")];
    for tab in app.tabs() {
        let key = Tab::ALL.iter().position(|&t| t == tab).map_or(0, |i| i + 1);
        let (shown, kept) = app.tab_counts(tab);
        let count = if shown == kept {
            kept.to_string()
        } else {
            format!("{shown}/{kept}")
        };
        let style = if tab == app.tab {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("{key}"), Style::new().fg(Color::Cyan)));
        spans.push(Span::styled(format!(" {} {count} ", tab.title()), style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Scrolls the detail view to `to` (a place only the drawn lines know: a matching line, the
/// close frame, the end), for a view of `width` x `height` (the text area, below its title
/// rule). Says so in the status line when there is no such place.
pub fn jump(app: &mut App, to: Jump, width: u16, height: u16) {
    let Some((_, lines, close)) = detail::current(app) else {
        return;
    };
    let text: Vec<String> = lines.iter().map(|l| l.to_string().to_lowercase()).collect();
    // The view scrolls by screen rows and long lines wrap: line i starts at row rows[i].
    let mut rows = Vec::with_capacity(lines.len());
    let mut row = 0usize;
    for l in &lines {
        rows.push(row);
        row += Paragraph::new(l.clone())
            .wrap(Wrap { trim: false })
            .line_count(width)
            .max(1);
    }
    let scroll = usize::from(app.detail_scroll);
    let at = rows.iter().rposition(|&r| r <= scroll).unwrap_or(0);
    let target = match to {
        Jump::Close => {
            if close.is_none() {
                app.status = Some("no close frame in the frames kept".into());
            }
            close
        }
        Jump::End => {
            let last = row.saturating_sub(usize::from(height).max(1));
            app.detail_scroll = u16::try_from(last).unwrap_or(u16::MAX);
            return;
        }
        Jump::NextMatch | Jump::PrevMatch => {
            let terms = &app.filter.terms;
            if terms.is_empty() {
                app.status = Some("n/N find the filter's text: type it with /".into());
                return;
            }
            let hit = |i: &usize| {
                text.get(*i)
                    .is_some_and(|l| terms.iter().any(|t| l.contains(t.as_str())))
            };
            let found = if to == Jump::NextMatch {
                (at + 1..text.len())
                    .find(hit)
                    .or_else(|| (0..=at).find(hit))
            } else {
                (0..at)
                    .rev()
                    .find(hit)
                    .or_else(|| (at..text.len()).rev().find(hit))
            };
            if found.is_none() {
                app.status = Some(format!("no line matches {}", terms.join(" ")));
            }
            found
        }
    };
    if let Some(line) = target {
        let row = rows.get(line).copied().unwrap_or(0);
        app.detail_scroll = u16::try_from(row).unwrap_or(u16::MAX);
    }
}

fn footer(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let line = if let Some(status) = &app.status {
        Line::from(Span::styled(
            format!(" {}", crate::present::escape(status)),
            Style::new().fg(Color::Yellow),
        ))
    } else if let CaptureState::Failed(e) = &app.state {
        Line::from(Span::styled(
            format!(" {}", crate::present::escape(e)),
            Style::new().fg(Color::Red),
        ))
    } else {
        let hints: &[(&str, &str)] = match app.screen {
            Screen::Table => &[
                ("?", "help"),
                ("1-4", "tabs"),
                ("/", "filter"),
                ("v", "verdict"),
                ("c", "code"),
                ("s", "sort"),
                ("⏎", "details"),
                ("y", "curl"),
                ("q", "quit"),
            ],
            Screen::Detail if app.tab == Tab::Connections => &[
                ("?", "help"),
                ("↑↓", "scroll"),
                ("e", "close"),
                ("G", "end"),
                ("n/N", "match"),
                ("Tab", "hex"),
                ("Esc", "back"),
            ],
            // A session's packets are its connections', and a TLS row has no handshake
            // behind it: no raw bytes, no curl line, no pcap export.
            Screen::Detail if matches!(app.tab, Tab::EngineIo | Tab::Tls) => &[
                ("?", "help"),
                ("↑↓", "scroll"),
                ("n/N", "match"),
                ("Esc", "back"),
            ],
            Screen::Detail => &[
                ("?", "help"),
                ("↑↓", "scroll"),
                ("n/N", "match"),
                ("Tab", "hex"),
                ("y", "curl"),
                ("w", "pcap"),
                ("Esc", "back"),
            ],
        };
        let mut spans = Vec::new();
        for (key, what) in hints {
            spans.push(Span::styled(
                format!(" {key}"),
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::raw(format!(" {what} ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A rectangle of at most `width` x `height`, centred in `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The key help, drawn from the key table itself ([`KEYS`]) and the mouse line.
fn help(frame: &mut Frame<'_>, area: Rect) {
    let mut rows: Vec<(String, &str)> = KEYS.iter().map(|b| (b.keys_label(), b.what)).collect();
    rows.push((MOUSE_HELP.0.to_owned(), MOUSE_HELP.1));
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line<'_>> = rows
        .into_iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {keys:<width$} "),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(what),
            ])
        })
        .collect();
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let rect = centered(area, 78, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" keys (Esc closes) "),
            )
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// A message box. Only a top and a bottom rule, no side borders: text selected on screen
/// (the curl command, one argument per line) copies without box characters.
fn popup(frame: &mut Frame<'_>, area: Rect, title: &str, body: &str) {
    // The whole width, from the first column: a selection of whole lines copies the text
    // and nothing of the table behind.
    let width = area.width;
    let inner = usize::from(width).max(1);
    let rows: usize = body
        .lines()
        .map(|l| l.chars().count().div_ceil(inner).max(1))
        .sum();
    let height = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(3);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let mut lines: Vec<Line<'_>> = body.lines().map(Line::raw).collect();
    lines.push(Line::styled("Esc closes", Style::new().fg(Color::DarkGray)));
    frame.render_widget(
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::TOP | Borders::BOTTOM)
                    .title(format!(" {title} ")),
            )
            .wrap(Wrap { trim: false }),
        rect,
    );
}
