//! The handshake table: only the rows on screen are built (the model hands out a window), so a
//! frame costs the same with ten handshakes or a hundred thousand.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::verdict_style;
use crate::event::{HandshakeRecord, HopLink};
use crate::present::{escape, format_time_of_day};
use crate::tui::action::SortKey;
use crate::tui::app::{latency_ms, App};

/// One column: title, width, which sort key it shows, and how to fill a cell.
#[derive(Clone, Copy)]
enum Col {
    Time,
    Flow,
    Server,
    Host,
    Path,
    Status,
    Subprotocol,
    Latency,
    Verdict,
    Finding,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Time => "Time",
            Col::Flow => "Client → Server",
            Col::Server => "Server",
            Col::Host => "Host",
            Col::Path => "Path",
            Col::Status => "St",
            Col::Subprotocol => "Subproto",
            Col::Latency => "Latency",
            Col::Verdict => "Verdict",
            Col::Finding => "Top finding",
        }
    }

    fn width(self) -> Constraint {
        match self {
            Col::Time => Constraint::Length(12),
            Col::Flow => Constraint::Length(43),
            Col::Server => Constraint::Length(21),
            Col::Host => Constraint::Length(16),
            Col::Path => Constraint::Length(14),
            Col::Status => Constraint::Length(3),
            Col::Subprotocol => Constraint::Length(10),
            Col::Latency => Constraint::Length(9),
            Col::Verdict => Constraint::Length(10),
            Col::Finding => Constraint::Fill(1),
        }
    }

    fn sort_key(self) -> SortKey {
        match self {
            Col::Time => SortKey::Time,
            Col::Flow => SortKey::Client,
            Col::Server => SortKey::Server,
            Col::Host => SortKey::Host,
            Col::Path => SortKey::Path,
            Col::Status => SortKey::Status,
            Col::Subprotocol => SortKey::Subprotocol,
            Col::Latency => SortKey::Latency,
            Col::Verdict => SortKey::Verdict,
            Col::Finding => SortKey::Finding,
        }
    }

    /// The cell of `r` in this column; `hop` is the proxy hop `r` is a leg of, whose
    /// correction (on the client's leg) names the finding shown in place of the record's own.
    fn cell(self, r: &HandshakeRecord, hop: Option<&HopLink>) -> Cell<'static> {
        match self {
            Col::Time => Cell::from(format_time_of_day(r.ts)),
            Col::Flow => Cell::from(format!("{} → {}", r.client, r.server)),
            Col::Server => Cell::from(r.server.to_string()),
            Col::Host => Cell::from(
                r.host
                    .as_deref()
                    .map_or_else(|| r.server.to_string(), escape),
            ),
            Col::Path => Cell::from(r.path.as_deref().map(escape).unwrap_or_default()),
            Col::Status => Cell::from(
                r.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
            Col::Subprotocol => {
                Cell::from(r.subprotocol.as_deref().map(escape).unwrap_or_default())
            }
            Col::Latency => Cell::from(
                latency_ms(r)
                    .map(|ms| format!("{ms:.1}ms"))
                    .unwrap_or_default(),
            ),
            Col::Verdict => Cell::from(Span::styled(
                r.verdict.as_str().to_uppercase(),
                verdict_style(r.verdict),
            )),
            Col::Finding => {
                let top = match hop {
                    Some(h) => h.corrected_findings(&r.findings, r.id).first().copied(),
                    None => r.top_finding(),
                };
                Cell::from(top.map(|f| f.code.as_str().to_owned()).unwrap_or_default())
            }
        }
    }
}

/// The sort key of the column whose title is at screen column `x` in a table drawn in
/// `area` (the same layout the table widget uses: the widths above, one column of spacing).
#[must_use]
pub fn sort_key_at(area: Rect, x: u16) -> Option<SortKey> {
    let cols = columns(area.width);
    let cells = ratatui::layout::Layout::horizontal(cols.iter().map(|c| c.width()))
        .spacing(1)
        .split(area);
    cols.iter()
        .zip(cells.iter())
        .find(|(_, cell)| x >= cell.x && x < cell.right())
        .map(|(col, _)| col.sort_key())
}

/// The columns that fit in `width`: everything from 150 columns, the essentials at 80.
fn columns(width: u16) -> &'static [Col] {
    if width >= 150 {
        &[
            Col::Time,
            Col::Flow,
            Col::Host,
            Col::Path,
            Col::Status,
            Col::Subprotocol,
            Col::Latency,
            Col::Verdict,
            Col::Finding,
        ]
    } else if width >= 110 {
        &[
            Col::Time,
            Col::Server,
            Col::Host,
            Col::Path,
            Col::Status,
            Col::Latency,
            Col::Verdict,
            Col::Finding,
        ]
    } else {
        &[
            Col::Time,
            Col::Host,
            Col::Path,
            Col::Status,
            Col::Verdict,
            Col::Finding,
        ]
    }
}

/// Draws the table into `area` (first row: column titles).
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let cols = columns(area.width);
    let arrow = if app.descending { "▼" } else { "▲" };
    let header = Row::new(cols.iter().map(|&c| {
        let title = if c.sort_key() == app.sort {
            format!("{}{arrow}", c.title())
        } else {
            c.title().to_owned()
        };
        Cell::from(title)
    }))
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let rows_fit = usize::from(area.height.saturating_sub(1));
    let selected = app.selected();
    let rows: Vec<Row<'_>> = app
        .visible(rows_fit)
        .map(|(pos, r)| {
            let hop = app.hop(r.id);
            let row = Row::new(cols.iter().map(|&c| c.cell(r, hop)));
            if pos == selected {
                row.style(
                    Style::new()
                        .bg(Color::DarkGray)
                        .add_modifier(Modifier::BOLD),
                )
            } else {
                row
            }
        })
        .collect();
    if rows.is_empty() {
        let msg = if app.record_count() == 0 {
            "no WebSocket handshake seen yet"
        } else {
            "no handshake matches the filter (0 clears it)"
        };
        let [head, body] =
            ratatui::layout::Layout::vertical([Constraint::Length(1), Constraint::Min(0)])
                .areas(area);
        frame.render_widget(
            Table::new(Vec::<Row<'_>>::new(), cols.iter().map(|c| c.width())).header(header),
            head,
        );
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("  {msg}"),
                Style::new().fg(Color::DarkGray),
            )),
            body,
        );
        return;
    }
    let table = Table::new(rows, cols.iter().map(|c| c.width()))
        .header(header)
        .column_spacing(1);
    frame.render_widget(table, area);
}
