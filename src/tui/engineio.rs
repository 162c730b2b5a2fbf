//! The TUI's Socket.IO tab: one row per Engine.IO session (`engineio_session` records, the
//! sid shortened as everywhere people read it), and under a session opened with → or Enter,
//! one row per TCP connection that carried it, named by its part: the open, the polls, the
//! upgrade to WebSocket with its probe (or the WebSocket of a websocket-only client).
//!
//! [`EngineIoView`] keeps the sessions in arrival order (at most [`MAX_SESSIONS`]; later ones
//! are counted) and the flattened rows as index pairs, rebuilt only when a session is opened
//! or closed; drawing reads the rows on screen. Plain data: no terminal, no I/O.

use std::collections::BTreeSet;

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::event::{EioConnection, EngineIoSession};
use crate::finding::Severity;
use crate::present::{engineio_story, escape, format_time_of_day, short_sid};

use super::action::Action;

/// Most sessions the tab keeps (later ones are counted, not stored).
pub const MAX_SESSIONS: usize = 50_000;

/// One row on screen: a session, or one of the connections of an opened session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowRef {
    /// The session at this index.
    Session(u32),
    /// Connection `conn` of session `session`.
    Connection { session: u32, conn: u32 },
}

/// The sessions of the Socket.IO tab, which are opened, and the selection.
#[derive(Debug, Default)]
pub struct EngineIoView {
    sessions: Vec<EngineIoSession>,
    /// Sessions not kept past [`MAX_SESSIONS`].
    pub not_kept: u64,
    /// Indices of the sessions shown with their connections.
    open: BTreeSet<u32>,
    /// Every row, in order (a session, then its connections when open).
    rows: Vec<RowRef>,
    /// The selected row.
    selected: usize,
}

impl EngineIoView {
    /// Takes one session record.
    pub fn push(&mut self, session: EngineIoSession) {
        if self.sessions.len() >= MAX_SESSIONS {
            self.not_kept += 1;
            return;
        }
        let Ok(i) = u32::try_from(self.sessions.len()) else {
            self.not_kept += 1;
            return;
        };
        self.sessions.push(session);
        self.rows.push(RowRef::Session(i));
    }

    /// Whether no session was kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Sessions kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Rows shown (sessions and the connections of the open ones).
    #[must_use]
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// The selected row, from 0.
    #[must_use]
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The session of the selected row as a position among the sessions, from 0 (what the
    /// status line's `row N/M` counts: sessions, not their connections).
    #[must_use]
    pub fn selected_session_index(&self) -> usize {
        self.selected_index().map_or(0, |i| i as usize)
    }

    /// The session of the selected row (itself, or the one a connection row belongs to).
    #[must_use]
    pub fn selected_session(&self) -> Option<&EngineIoSession> {
        let i = match self.rows.get(self.selected)? {
            RowRef::Session(i) | RowRef::Connection { session: i, .. } => *i,
        };
        self.sessions.get(i as usize)
    }

    /// Applies a key's action when the tab's table is shown; `false` leaves it to the
    /// common handling (tabs, filter, quit, …).
    pub fn update(&mut self, action: &Action, rows_fit: usize) -> bool {
        let last = self.rows.len().saturating_sub(1);
        let page = i64::try_from(rows_fit.max(1)).unwrap_or(i64::MAX);
        match action {
            Action::Move(n) => self.move_by(*n),
            Action::Page(n) => self.move_by(n.saturating_mul(page)),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = last,
            Action::ClickRow(n) => self.selected = (*n).min(last),
            Action::Expand => self.set_open(true),
            Action::Collapse => self.set_open(false),
            Action::Open => {
                let open = self.selected_is_open();
                self.set_open(!open);
            }
            _ => return false,
        }
        true
    }

    fn move_by(&mut self, n: i64) {
        let last = self.rows.len().saturating_sub(1);
        let to = i64::try_from(self.selected)
            .unwrap_or(i64::MAX)
            .saturating_add(n)
            .max(0);
        self.selected = usize::try_from(to).unwrap_or(usize::MAX).min(last);
    }

    fn selected_index(&self) -> Option<u32> {
        match self.rows.get(self.selected)? {
            RowRef::Session(i) | RowRef::Connection { session: i, .. } => Some(*i),
        }
    }

    fn selected_is_open(&self) -> bool {
        self.selected_index()
            .is_some_and(|i| self.open.contains(&i))
    }

    /// Opens or closes the selected row's session; the selection stays on that session.
    fn set_open(&mut self, open: bool) {
        let Some(i) = self.selected_index() else {
            return;
        };
        if open {
            self.open.insert(i);
        } else {
            self.open.remove(&i);
        }
        self.rebuild();
        self.selected = self
            .rows
            .iter()
            .position(|r| *r == RowRef::Session(i))
            .unwrap_or(0);
    }

    fn rebuild(&mut self) {
        self.rows.clear();
        for (i, s) in self.sessions.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else {
                break;
            };
            self.rows.push(RowRef::Session(i));
            if self.open.contains(&i) {
                for c in 0..s.connections.len() {
                    let Ok(conn) = u32::try_from(c) else {
                        break;
                    };
                    self.rows.push(RowRef::Connection { session: i, conn });
                }
            }
        }
    }

    /// The rows to draw in `rows_fit` lines: the first one shown keeps the selection on
    /// screen.
    fn visible(&self, rows_fit: usize) -> impl Iterator<Item = (usize, RowRef)> + '_ {
        let first = (self.selected + 1).saturating_sub(rows_fit.max(1));
        self.rows
            .iter()
            .copied()
            .enumerate()
            .skip(first)
            .take(rows_fit)
    }
}

/// What a connection did for its session: `open`, `poll`, `upgrade` or `websocket` (the
/// only transport of a websocket-only client).
fn role(s: &EngineIoSession, c: &EioConnection) -> &'static str {
    if c.transport == "websocket" {
        if s.upgrade.is_some() {
            "upgrade"
        } else {
            "websocket"
        }
    } else if s
        .open
        .as_ref()
        .is_some_and(|o| o.transport == "polling" && c.first_packet <= o.packet)
    {
        // The open poll (on both legs when a proxy's two legs are captured).
        "open"
    } else {
        "poll"
    }
}

fn mark(b: bool) -> &'static str {
    if b {
        "✓"
    } else {
        "✗"
    }
}

/// The details of a connection row.
fn connection_detail(s: &EngineIoSession, c: &EioConnection) -> String {
    let mut out = match (role(s, c), &s.upgrade) {
        ("upgrade", Some(u)) if c.handshake_id == u.handshake_id => format!(
            "#{} HTTP {} · 2probe {} 3probe {} 5 {}",
            c.handshake_id.unwrap_or(0),
            u.status.map_or("(no answer)".to_owned(), |s| s.to_string()),
            mark(u.probe_sent),
            mark(u.probe_answered),
            mark(u.upgraded),
        ),
        ("upgrade", _) => format!(
            "#{} (a proxy leg of the upgrade)",
            c.handshake_id.unwrap_or(0)
        ),
        ("websocket", _) => match &s.open {
            Some(o) => format!(
                "#{} · open in packet {}",
                c.handshake_id.unwrap_or(0),
                o.packet
            ),
            None => format!("#{}", c.handshake_id.unwrap_or(0)),
        },
        _ => format!(
            "{} request{}",
            c.requests,
            if c.requests == 1 { "" } else { "s" }
        ),
    };
    out.push_str(&format!(" · packet {}", c.first_packet));
    out
}

/// The session's worst finding as a colour, and its codes.
fn outcome(s: &EngineIoSession) -> (Style, String) {
    let worst = s.findings.iter().map(|f| f.severity).max();
    let style = match worst {
        Some(Severity::Error) => Style::new().fg(Color::Red),
        Some(Severity::Warning) => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Green),
    };
    let text = if s.findings.is_empty() {
        "ok".to_owned()
    } else {
        s.findings
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    (style, text)
}

/// The columns: title, width (0: shares what is left) and whether a terminal narrower than
/// [`WIDE`] drops it. A connection row shows its part in "first seen", its client under the
/// sid, its server and transport under "transports" and its details under "findings".
const COLUMNS: [(&str, u16, bool); 8] = [
    ("", 1, false),
    ("first seen", 12, false),
    ("sid · path", 22, false),
    ("EIO", 3, true),
    ("conns", 5, true),
    ("polls", 5, true),
    ("transports", 0, false),
    ("findings", 0, false),
];
/// Narrower terminals drop the count columns.
const WIDE: u16 = 120;
const SPACING: u16 = 1;

/// Draws the tab into `area` (first row: column titles).
pub fn render(frame: &mut Frame<'_>, area: Rect, view: &EngineIoView) {
    let shown: Vec<bool> = COLUMNS
        .iter()
        .map(|&(_, _, drop)| !drop || area.width >= WIDE)
        .collect();
    let keep = |cells: [Cell<'static>; 8]| -> Vec<Cell<'static>> {
        cells
            .into_iter()
            .zip(&shown)
            .filter(|(_, &s)| s)
            .map(|(c, _)| c)
            .collect()
    };
    let title = Row::new(keep(COLUMNS.map(|(t, _, _)| Cell::from(t))))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let columns: Vec<u16> = COLUMNS
        .iter()
        .zip(&shown)
        .filter(|(_, &s)| s)
        .map(|(&(_, w, _), _)| w)
        .collect();
    let gaps = u16::try_from(columns.len().saturating_sub(1)).unwrap_or(0) * SPACING;
    let rest = area
        .width
        .saturating_sub(columns.iter().sum::<u16>() + gaps);
    // Three fifths for the transports: a connection row's server goes there.
    let story = rest / 5 * 3;
    let mut shares = [story, rest - story].into_iter();
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|&w| {
            Constraint::Length(if w == 0 {
                shares.next().unwrap_or(0)
            } else {
                w
            })
        })
        .collect();
    if view.is_empty() {
        frame.render_widget(
            Table::new(Vec::<Row<'_>>::new(), widths).header(title),
            area,
        );
        let mut body = area;
        body.y = body.y.saturating_add(1);
        body.height = body.height.saturating_sub(1);
        frame.render_widget(
            Paragraph::new(Line::styled(
                "  no Engine.IO session has ended yet (sessions are listed when they end)",
                Style::new().fg(Color::DarkGray),
            )),
            body,
        );
        return;
    }
    let rows_fit = usize::from(area.height.saturating_sub(1));
    let rows: Vec<Row<'_>> = view
        .visible(rows_fit)
        .filter_map(|(pos, r)| {
            let row = match r {
                RowRef::Session(i) => {
                    let s = view.sessions.get(i as usize)?;
                    let (style, text) = outcome(s);
                    let sid = s
                        .sid
                        .as_deref()
                        .map_or_else(|| "(no sid)".to_owned(), short_sid);
                    let marker = if view.open.contains(&i) { "▾" } else { "▸" };
                    Row::new(keep([
                        Cell::from(marker),
                        Cell::from(format_time_of_day(s.ts)),
                        Cell::from(escape(&format!("{sid} {}", s.path))),
                        Cell::from(s.version.to_string()),
                        Cell::from(s.connections.len().to_string()),
                        Cell::from(s.polls.to_string()),
                        Cell::from(escape(&story_of(s))),
                        Cell::from(Span::styled(text, style)),
                    ]))
                }
                RowRef::Connection { session, conn } => {
                    let s = view.sessions.get(session as usize)?;
                    let c = s.connections.get(conn as usize)?;
                    Row::new(keep([
                        Cell::from(""),
                        Cell::from(format!(" └ {}", role(s, c))),
                        Cell::from(c.client.to_string()),
                        Cell::from(""),
                        Cell::from(""),
                        Cell::from(""),
                        Cell::from(format!("→ {} {}", c.server, c.transport)),
                        Cell::from(connection_detail(s, c)),
                    ]))
                    .style(Style::new().fg(Color::Gray))
                }
            };
            Some(if pos == view.selected {
                row.style(
                    Style::new()
                        .bg(Color::DarkGray)
                        .add_modifier(Modifier::BOLD),
                )
            } else {
                row
            })
        })
        .collect();
    frame.render_widget(
        Table::new(rows, widths)
            .header(title)
            .column_spacing(SPACING),
        area,
    );
}

/// A session row's transports (`polling → websocket`, from the shared story), its
/// heartbeat and how it ended.
fn story_of(s: &EngineIoSession) -> String {
    let story = engineio_story(s);
    let cut = format!(", {} connection", s.connections.len());
    let path = story
        .split_once(": ")
        .and_then(|(_, r)| r.split(cut.as_str()).next())
        .unwrap_or_default();
    format!(
        "{path} · {} pings/{} pongs · ended {}",
        s.heartbeat.pings, s.heartbeat.pongs, s.ending
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::net::SocketAddr;

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::capture::Timestamp;
    use crate::event::{EioHeartbeat, EioOpen, EioUpgrade};
    use crate::finding::{Code, Finding};

    fn conn(port: u16, transport: &'static str, first_packet: u64) -> EioConnection {
        EioConnection {
            client: SocketAddr::from(([10, 0, 0, 1], port)),
            server: SocketAddr::from(([10, 0, 0, 2], 80)),
            transport,
            requests: u64::from(transport == "polling"),
            handshake_id: (transport == "websocket").then_some(1),
            first_packet,
        }
    }

    fn session(sid: &str, upgraded: bool) -> EngineIoSession {
        EngineIoSession {
            sid: Some(sid.to_owned()),
            version: 4,
            path: "/socket.io/".to_owned(),
            ts: Timestamp(1_796_132_898_223_819_000),
            end_ts: Timestamp(1_796_132_899_430_231_000),
            open: Some(EioOpen {
                transport: "polling",
                packet: 3,
                upgrades: vec!["websocket".to_owned()],
                ping_interval_ms: Some(25_000),
                ping_timeout_ms: Some(20_000),
                max_payload: None,
            }),
            transport: if upgraded { "websocket" } else { "polling" },
            polls: 3,
            upgrade: Some(EioUpgrade {
                handshake_id: Some(1),
                status: Some(101),
                verdict: "ok",
                probe_sent: true,
                probe_answered: upgraded,
                upgraded,
            }),
            connections: vec![
                conn(40001, "polling", 1),
                conn(40002, "polling", 7),
                conn(40003, "websocket", 9),
            ],
            errors: Vec::new(),
            namespaces: Vec::new(),
            heartbeat: EioHeartbeat::default(),
            ending: "transport_closed",
            findings: if upgraded {
                Vec::new()
            } else {
                vec![Finding::new(Code::EngineioProbeUnanswered, "no 3probe")]
            },
        }
    }

    fn draw(view: &EngineIoView, width: u16, height: u16) -> TestBackend {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| render(f, f.area(), view)).unwrap();
        terminal.backend().clone()
    }

    #[test]
    fn a_session_row_opens_to_its_connections_and_closes_again() {
        let mut v = EngineIoView::default();
        v.push(session("AbCdEfGhIjKlMnOp", true));
        v.push(session("QrStUvWxYz012345", false));
        assert_eq!(v.row_count(), 2);
        v.update(&Action::Move(1), 10);
        assert!(v.update(&Action::Open, 10));
        assert_eq!(
            v.row_count(),
            5,
            "the second session and its three connections"
        );
        assert_eq!(v.selected(), 1, "the selection stays on the session");
        v.update(&Action::Move(3), 10);
        assert_eq!(
            v.selected_session().and_then(|s| s.sid.as_deref()),
            Some("QrStUvWxYz012345")
        );
        // ← on a connection closes its session and selects it.
        v.update(&Action::Collapse, 10);
        assert_eq!((v.row_count(), v.selected()), (2, 1));
        assert!(!v.update(&Action::Quit, 10), "left to the common handling");
    }

    #[test]
    fn connections_are_named_by_their_part_in_the_session() {
        let s = session("S", true);
        let roles: Vec<&str> = s.connections.iter().map(|c| role(&s, c)).collect();
        assert_eq!(roles, ["open", "poll", "upgrade"]);
        assert_eq!(
            connection_detail(&s, &s.connections[2]),
            "#1 HTTP 101 · 2probe ✓ 3probe ✓ 5 ✓ · packet 9"
        );
        let mut ws_only = session("S", true);
        ws_only.upgrade = None;
        assert_eq!(role(&ws_only, &ws_only.connections[2]), "websocket");
    }

    #[test]
    fn the_tab_draws_sessions_with_short_sids_and_an_opened_one_with_its_connections() {
        let mut v = EngineIoView::default();
        v.push(session("AbCdEfGhIjKlMnOp", true));
        v.push(session("QrStUvWxYz012345", false));
        v.update(&Action::Move(1), 10);
        v.update(&Action::Expand, 10);
        let screen = draw(&v, 140, 7);
        let text = format!("{screen:?}");
        assert!(!text.contains("AbCdEfGhIjKlMnOp"), "the sid is shortened");
        insta::assert_snapshot!(screen);
    }
}
