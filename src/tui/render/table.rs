//! The tables: the handshake table and the other tabs' listings. Only the rows on screen are
//! built (the model hands out a window), so a frame costs the same with ten rows or a
//! hundred thousand. Column widths come from the terminal width and from what the rows on
//! screen hold ([`fit`]): a column is as wide as its widest visible cell within its bounds,
//! the last column takes what is left, and optional columns are dropped, least useful first,
//! when the width runs out.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::verdict_style;
use crate::event::{HandshakeRecord, HopLink, Verdict};
use crate::present::{escape, format_time_of_day};
use crate::tui::action::SortKey;
use crate::tui::app::{App, RowMark};
use crate::tui::filter::latency_cell;
use crate::tui::tabs::{ColSpec, Listed, Listing, Tab};

/// Columns between two columns.
const SPACING: u16 = 1;

/// Chooses the shown columns and their widths: `Some(width)` per shown column, `None` for a
/// dropped one. `content[i]` is the widest cell of column `i` (title included).
#[must_use]
pub(crate) fn fit(specs: &[ColSpec], content: &[u16], width: u16) -> Vec<Option<u16>> {
    let mut widths: Vec<Option<u16>> = specs
        .iter()
        .zip(content)
        .map(|(s, &c)| Some(c.clamp(s.min, s.max.max(s.min))))
        .collect();
    let total = |w: &[Option<u16>]| -> u16 {
        let shown: Vec<u16> = w.iter().flatten().copied().collect();
        let gaps = u16::try_from(shown.len().saturating_sub(1)).unwrap_or(u16::MAX);
        shown
            .iter()
            .fold(0u16, |a, &b| a.saturating_add(b))
            .saturating_add(gaps.saturating_mul(SPACING))
    };
    // Drop optional columns, lowest rank first, while the row is too wide.
    let mut ranks: Vec<(u8, usize)> = specs
        .iter()
        .enumerate()
        .filter(|(_, s)| s.drop_rank > 0)
        .map(|(i, s)| (s.drop_rank, i))
        .collect();
    ranks.sort_unstable();
    for (_, i) in ranks {
        if total(&widths) <= width {
            break;
        }
        if let Some(w) = widths.get_mut(i) {
            *w = None;
        }
    }
    // Still too wide: shrink the widest columns towards their minimum.
    while total(&widths) > width {
        let widest = widths
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.map(|w| (w, i)))
            .filter(|&(w, i)| specs.get(i).is_some_and(|s| w > s.min))
            .max();
        let Some((_, i)) = widest else { break };
        if let Some(Some(w)) = widths.get_mut(i) {
            *w -= 1;
        }
    }
    // The last shown column takes what is left.
    let spare = width.saturating_sub(total(&widths));
    if let Some(last) = widths.iter_mut().rev().flatten().next() {
        *last = last.saturating_add(spare);
    }
    widths
}

fn chars(s: &str) -> u16 {
    u16::try_from(s.chars().count()).unwrap_or(u16::MAX)
}

/// The handshake table's columns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Group,
    Time,
    Flow,
    Host,
    Path,
    Status,
    Subprotocol,
    Latency,
    Verdict,
    Finding,
}

const HANDSHAKE_COLS: [Col; 10] = [
    Col::Group,
    Col::Time,
    Col::Flow,
    Col::Host,
    Col::Path,
    Col::Status,
    Col::Subprotocol,
    Col::Latency,
    Col::Verdict,
    Col::Finding,
];

impl Col {
    fn spec(self) -> ColSpec {
        let (title, min, max, drop_rank) = match self {
            Col::Group => ("", 1, 8, 0),
            Col::Time => ("Time", 12, 12, 0),
            Col::Flow => ("Client → Server", 21, 47, 3),
            Col::Host => ("Host", 8, 30, 0),
            Col::Path => ("Path", 6, 48, 0),
            Col::Status => ("St", 3, 3, 0),
            Col::Subprotocol => ("Subproto", 8, 16, 1),
            Col::Latency => ("Latency", 7, 12, 2),
            Col::Verdict => ("Verdict", 7, 10, 0),
            Col::Finding => ("Top finding", 10, 60, 0),
        };
        ColSpec {
            title,
            min,
            max,
            drop_rank,
        }
    }

    fn sort_key(self) -> SortKey {
        match self {
            Col::Group | Col::Time => SortKey::Time,
            Col::Flow => SortKey::Client,
            Col::Host => SortKey::Host,
            Col::Path => SortKey::Path,
            Col::Status => SortKey::Status,
            Col::Subprotocol => SortKey::Subprotocol,
            Col::Latency => SortKey::Latency,
            Col::Verdict => SortKey::Verdict,
            Col::Finding => SortKey::Finding,
        }
    }

    /// The text of `r` in this column; `hop` is the proxy hop `r` is a leg of, whose
    /// correction (on the client's leg) names the finding shown in place of the record's own.
    /// `mark` is what the row is in the grouped table.
    fn text(self, r: &HandshakeRecord, hop: Option<&HopLink>, mark: RowMark) -> String {
        match self {
            Col::Group => match mark {
                RowMark::Single => String::new(),
                RowMark::Group {
                    count, expanded, ..
                } => {
                    let arrow = if expanded { "▾" } else { "▸" };
                    if count > 1 {
                        format!("{arrow}{count}×")
                    } else {
                        arrow.to_owned()
                    }
                }
                RowMark::Leg => " └".to_owned(),
                RowMark::Another => " ·".to_owned(),
            },
            Col::Time => format_time_of_day(r.ts),
            Col::Flow => format!("{} → {}", r.client, r.server),
            Col::Host => r
                .host
                .as_deref()
                .map_or_else(|| r.server.to_string(), escape),
            Col::Path => r.path.as_deref().map(escape).unwrap_or_default(),
            Col::Status => r.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            Col::Subprotocol => r.subprotocol.as_deref().map(escape).unwrap_or_default(),
            Col::Latency => latency_cell(r),
            Col::Verdict => r.verdict.as_str().to_uppercase(),
            Col::Finding => {
                let top = match hop {
                    Some(h) => h.corrected_findings(&r.findings, r.id).first().copied(),
                    None => r.top_finding(),
                };
                top.map(|f| f.code.as_str().to_owned()).unwrap_or_default()
            }
        }
    }

    fn cell(self, r: &HandshakeRecord, hop: Option<&HopLink>, mark: RowMark) -> Cell<'static> {
        let text = self.text(r, hop, mark);
        match self {
            Col::Verdict => Cell::from(Span::styled(text, verdict_style(r.verdict))),
            // A wait without an answer is not a response time: shown apart.
            Col::Latency if r.timing.response_ms.is_none() => Cell::from(Span::styled(
                text,
                Style::new()
                    .fg(Color::DarkGray)
                    .add_modifier(Modifier::ITALIC),
            )),
            _ => Cell::from(text),
        }
    }
}

/// The handshake columns shown in `width` and their widths, from the rows on screen.
fn handshake_layout(app: &App, rows: usize, width: u16) -> Vec<(Col, u16)> {
    // The group column only when a row on screen is a group or one of its members.
    let marks = app.grouped
        && app
            .visible(rows)
            .any(|(pos, _)| app.row_mark(pos) != RowMark::Single);
    let shown: Vec<Col> = HANDSHAKE_COLS
        .into_iter()
        .filter(|&c| marks || c != Col::Group)
        .collect();
    let specs: Vec<ColSpec> = shown.iter().map(|c| c.spec()).collect();
    let mut content: Vec<u16> = specs.iter().map(|s| chars(s.title) + 1).collect();
    for (pos, r) in app.visible(rows) {
        let mark = app.row_mark(pos);
        for (i, c) in shown.iter().enumerate() {
            if let Some(w) = content.get_mut(i) {
                *w = (*w).max(chars(&c.text(r, app.hop_of(r), mark)));
            }
        }
    }
    shown
        .iter()
        .zip(fit(&specs, &content, width))
        .filter_map(|(&c, w)| w.map(|w| (c, w)))
        .collect()
}

/// A listing's columns shown in `width`: (column index, width).
fn listing_layout<R: Listed>(l: &Listing<R>, rows: usize, width: u16) -> Vec<(usize, u16)> {
    let mut content: Vec<u16> = R::COLUMNS.iter().map(|s| chars(s.title) + 1).collect();
    for (_, r) in l.visible(rows) {
        for (i, w) in content.iter_mut().enumerate() {
            *w = (*w).max(chars(&r.cell(i)));
        }
    }
    fit(R::COLUMNS, &content, width)
        .into_iter()
        .enumerate()
        .filter_map(|(i, w)| w.map(|w| (i, w)))
        .collect()
}

/// Which column's title is at screen column `x` of a table drawn in `area`.
fn column_at<T: Copy>(cols: &[(T, u16)], area: Rect, x: u16) -> Option<T> {
    let cells = Layout::horizontal(cols.iter().map(|&(_, w)| Constraint::Length(w)))
        .spacing(SPACING)
        .split(area);
    cols.iter()
        .zip(cells.iter())
        .find(|(_, cell)| x >= cell.x && x < cell.right())
        .map(|(&(c, _), _)| c)
}

/// What a click on the title row at screen column `x` sorts by, in the current tab, for a
/// table drawn in `area` (the same widths the table is drawn with).
#[must_use]
pub fn sort_action_at(area: Rect, x: u16, app: &App) -> Option<crate::tui::action::Action> {
    use crate::tui::action::Action;
    let rows = usize::from(area.height.saturating_sub(1));
    match app.tab {
        Tab::Handshakes => column_at(&handshake_layout(app, rows, area.width), area, x)
            .map(|c| Action::SortBy(c.sort_key())),
        Tab::Connections => column_at(&listing_layout(&app.conns, rows, area.width), area, x)
            .map(Action::SortColumn),
        Tab::Tls => {
            column_at(&listing_layout(&app.tls, rows, area.width), area, x).map(Action::SortColumn)
        }
        Tab::H2 => {
            column_at(&listing_layout(&app.h2, rows, area.width), area, x).map(Action::SortColumn)
        }
        Tab::EngineIo => column_at(&listing_layout(&app.engineio, rows, area.width), area, x)
            .map(Action::SortColumn),
    }
}

/// The sort key of the handshake column whose title is at screen column `x` of a table
/// drawn in `area` for `app`.
#[must_use]
pub fn sort_key_at(area: Rect, x: u16, app: &App) -> Option<SortKey> {
    let rows = usize::from(area.height.saturating_sub(1));
    column_at(&handshake_layout(app, rows, area.width), area, x).map(Col::sort_key)
}

fn title_row(titles: Vec<String>) -> Row<'static> {
    Row::new(titles.into_iter().map(Cell::from))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED))
}

fn selected_style() -> Style {
    Style::new()
        .bg(Color::DarkGray)
        .add_modifier(Modifier::BOLD)
}

fn empty(frame: &mut Frame<'_>, area: Rect, header: Row<'static>, widths: Vec<u16>, msg: &str) {
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    frame.render_widget(
        Table::new(
            Vec::<Row<'_>>::new(),
            widths.into_iter().map(Constraint::Length),
        )
        .header(header)
        .column_spacing(SPACING),
        head,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!("  {msg}"),
            Style::new().fg(Color::DarkGray),
        )),
        body,
    );
}

/// Draws the current tab's table into `area` (first row: column titles).
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    match app.tab {
        Tab::Handshakes => handshakes(frame, area, app),
        Tab::Connections => listing(
            frame,
            area,
            &app.conns,
            "no WebSocket connection has ended yet (connections are listed when they end)",
            |r| r.verdict(),
        ),
        Tab::Tls => listing(frame, area, &app.tls, "no TLS connection seen", |r| {
            r.verdict()
        }),
        Tab::H2 => listing(frame, area, &app.h2, "no HTTP/2 stream seen", |r| {
            r.verdict()
        }),
        Tab::EngineIo => listing(
            frame,
            area,
            &app.engineio,
            "no Engine.IO session has ended yet (sessions are listed when they end)",
            |r| r.verdict(),
        ),
    }
}

fn arrow(descending: bool) -> &'static str {
    if descending {
        "▼"
    } else {
        "▲"
    }
}

fn handshakes(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let rows_fit = usize::from(area.height.saturating_sub(1));
    let cols = handshake_layout(app, rows_fit, area.width);
    let header = title_row(
        cols.iter()
            .map(|&(c, _)| {
                if c.sort_key() == app.sort && c != Col::Group {
                    format!("{}{}", c.spec().title, arrow(app.descending))
                } else {
                    c.spec().title.to_owned()
                }
            })
            .collect(),
    );
    let widths: Vec<u16> = cols.iter().map(|&(_, w)| w).collect();
    let selected = app.selected();
    let rows: Vec<Row<'_>> = app
        .visible(rows_fit)
        .map(|(pos, r)| {
            let hop = app.hop_of(r);
            let mark = app.row_mark(pos);
            let row = Row::new(cols.iter().map(|&(c, _)| c.cell(r, hop, mark)));
            if pos == selected {
                row.style(selected_style())
            } else {
                row
            }
        })
        .collect();
    if rows.is_empty() {
        let msg = if app.record_count() == 0 {
            if app.conns.is_empty() {
                "no WebSocket handshake seen yet"
            } else {
                "no WebSocket handshake captured; the connections tab (2) lists connections seen without one"
            }
        } else {
            "no handshake matches the filter (0 clears it)"
        };
        empty(frame, area, header, widths, msg);
        return;
    }
    frame.render_widget(
        Table::new(rows, widths.into_iter().map(Constraint::Length))
            .header(header)
            .column_spacing(SPACING),
        area,
    );
}

fn listing<R: Listed>(
    frame: &mut Frame<'_>,
    area: Rect,
    l: &Listing<R>,
    none: &str,
    verdict: impl Fn(&R) -> Verdict,
) {
    let rows_fit = usize::from(area.height.saturating_sub(1));
    let cols = listing_layout(l, rows_fit, area.width);
    let header = title_row(
        cols.iter()
            .map(|&(i, _)| {
                let title = R::COLUMNS.get(i).map_or("", |s| s.title);
                if i == l.sort {
                    format!("{title}{}", arrow(l.descending))
                } else {
                    title.to_owned()
                }
            })
            .collect(),
    );
    let widths: Vec<u16> = cols.iter().map(|&(_, w)| w).collect();
    let selected = l.selected();
    let rows: Vec<Row<'_>> = l
        .visible(rows_fit)
        .map(|(pos, r)| {
            let v = verdict(r);
            let last = cols.last().map(|&(i, _)| i);
            let row = Row::new(cols.iter().map(|&(i, _)| {
                let text = r.cell(i);
                // The finding column carries the row's colour, as the verdict does elsewhere.
                if Some(i) == last && v != Verdict::Ok {
                    Cell::from(Span::styled(text, verdict_style(v)))
                } else {
                    Cell::from(text)
                }
            }));
            if pos == selected {
                row.style(selected_style())
            } else {
                row
            }
        })
        .collect();
    if rows.is_empty() {
        let msg = if l.is_empty() {
            none
        } else {
            "nothing matches the filter (0 clears it)"
        };
        empty(frame, area, header, widths, msg);
        return;
    }
    frame.render_widget(
        Table::new(rows, widths.into_iter().map(Constraint::Length))
            .header(header)
            .column_spacing(SPACING),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn spec(min: u16, max: u16, drop_rank: u8) -> ColSpec {
        ColSpec {
            title: "x",
            min,
            max,
            drop_rank,
        }
    }

    #[test]
    fn widths_follow_content_drop_optional_columns_and_fill_the_rest() {
        let specs = [spec(4, 10, 0), spec(4, 30, 1), spec(4, 40, 0)];
        // Wide: content widths, the last column takes the rest.
        assert_eq!(
            fit(&specs, &[6, 20, 5], 60),
            vec![Some(6), Some(20), Some(32)]
        );
        // Narrow: the optional column goes first.
        assert_eq!(fit(&specs, &[6, 20, 30], 30), vec![Some(6), None, Some(23)]);
        // Narrower still: the widest shrinks towards its minimum.
        assert_eq!(fit(&specs, &[10, 20, 30], 12), vec![Some(6), None, Some(5)]);
    }
}
