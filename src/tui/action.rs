//! Keys → [`Action`]s. Normal mode is one flat table, `KEYS`, with no key chains:
//! `action_for` looks keys up in it and the help overlay is drawn from it, so the help and
//! the keys cannot drift apart. The filter bar takes every printable key instead.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::tabs::Tab;

/// Everything the user can ask for; `App::update` (the state, which imports this key
/// table) applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the TUI.
    Quit,
    /// Close the topmost overlay (help, popup, filter bar, detail view); quits from the table.
    Back,
    /// Move the selection (or scroll the detail view) by this many rows.
    Move(i64),
    /// Move by this many pages.
    Page(i64),
    /// Jump to the first row.
    Top,
    /// Jump to the last row and follow new handshakes.
    Bottom,
    /// Select the n-th visible table row (mouse click).
    ClickRow(usize),
    /// Open the detail view of the selected handshake.
    Open,
    /// Switch the detail view between the analysis and the raw bytes.
    ToggleHex,
    /// Turn follow mode on or off.
    ToggleFollow,
    /// Freeze or unfreeze the table (the capture keeps running).
    TogglePause,
    /// Sort by the next column.
    SortNext,
    /// Sort by this column; again reverses it (a click on a column title).
    SortBy(SortKey),
    /// Reverse the sort order.
    SortReverse,
    /// Open the filter bar.
    EditFilter,
    /// Type a character into the filter bar.
    FilterChar(char),
    /// Delete the last character of the filter bar.
    FilterBackspace,
    /// Apply the filter bar and close it.
    FilterApply,
    /// Cycle the verdict quick filter: all, then each verdict worst first
    /// (`VERDICTS_WORST_FIRST`).
    CycleVerdict,
    /// Cycle the finding-code quick filter through the codes seen so far.
    CycleCode,
    /// Clear every filter.
    ClearFilters,
    /// Copy the selected handshake as a curl command.
    CopyCurl,
    /// Write the selected flow's packets to a pcap file.
    ExportPcap,
    /// Write the selected handshake record as JSON.
    ExportJson,
    /// Show or hide the key help.
    Help,
    /// Show this tab.
    ShowTab(Tab),
    /// Show the next tab of the tab bar.
    NextTab,
    /// Sort the current tab (other than the handshakes) by its n-th column; again reverses.
    SortColumn(usize),
    /// Detail view: scroll to the next line matching the filter's text.
    NextMatch,
    /// Detail view: scroll to the previous matching line.
    PrevMatch,
    /// Followed stream: scroll to the first close frame.
    JumpToClose,
    /// Show the legs and further incidents of the selected group.
    Expand,
    /// Hide them again (from a member: select its group).
    Collapse,
    /// Switch the handshake table between incidents (grouped) and every record (flat).
    ToggleGrouped,
    /// A connection's raw packets: show other packets of the connection.
    HexPackets(HexStep),
}

/// Where [`Action::HexPackets`] moves a connection's hex view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexStep {
    /// The next page of packets.
    Next,
    /// The previous page.
    Previous,
    /// A tenth of the connection on.
    TenthOn,
    /// A tenth of the connection back.
    TenthBack,
}

/// Which keys apply: typing into the filter bar takes every printable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    /// Table, detail view or overlays.
    Normal,
    /// The filter bar has the focus.
    Filter,
}

/// A key press as the key table names it: the key, and whether Ctrl is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl is held.
    pub ctrl: bool,
}

impl Key {
    /// How the help names the key: `↑`, `PgUp`, `Space`, `^U`, `G`.
    #[must_use]
    pub(crate) fn label(self) -> String {
        let name = match self.code {
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::Left => "←".to_owned(),
            KeyCode::Right => "→".to_owned(),
            KeyCode::PageUp => "PgUp".to_owned(),
            KeyCode::PageDown => "PgDn".to_owned(),
            KeyCode::Home => "Home".to_owned(),
            KeyCode::End => "End".to_owned(),
            KeyCode::Enter => "Enter".to_owned(),
            KeyCode::Esc => "Esc".to_owned(),
            KeyCode::Backspace => "Bksp".to_owned(),
            KeyCode::Tab => "Tab".to_owned(),
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) if self.ctrl => c.to_ascii_uppercase().to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("^{name}")
        } else {
            name
        }
    }
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

/// One line of the help: the keys with the action each one triggers, and what they do.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding {
    /// The keys, in the order the help lists them, each with its action.
    pub keys: &'static [(Key, Action)],
    /// What they do, for the help.
    pub what: &'static str,
}

impl Binding {
    /// The keys as the help lists them: `PgUp PgDn`.
    #[must_use]
    pub(crate) fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(|(k, _)| k.label())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Every key of normal mode (table, detail view, overlays): [`action_for`] looks keys up here
/// and the help overlay is drawn from it, so the help and the keys cannot disagree.
pub(crate) const KEYS: &[Binding] = &[
    Binding {
        keys: &[
            (key(KeyCode::Up), Action::Move(-1)),
            (key(KeyCode::Down), Action::Move(1)),
            (ch('j'), Action::Move(1)),
            (ch('k'), Action::Move(-1)),
        ],
        what: "move selection / scroll details",
    },
    Binding {
        keys: &[
            (key(KeyCode::PageUp), Action::Page(-1)),
            (key(KeyCode::PageDown), Action::Page(1)),
            (ctrl('u'), Action::Page(-1)),
            (ctrl('d'), Action::Page(1)),
        ],
        what: "page up / down",
    },
    Binding {
        keys: &[
            (ch('g'), Action::Top),
            (key(KeyCode::Home), Action::Top),
            (ch('G'), Action::Bottom),
            (key(KeyCode::End), Action::Bottom),
        ],
        what: "first row / last row, following (details: the end)",
    },
    Binding {
        keys: &[
            (ch('1'), Action::ShowTab(Tab::Handshakes)),
            (ch('2'), Action::ShowTab(Tab::Connections)),
            (ch('3'), Action::ShowTab(Tab::Tls)),
            (ch('4'), Action::ShowTab(Tab::H2)),
            (ch('5'), Action::ShowTab(Tab::EngineIo)),
            (ch('t'), Action::NextTab),
        ],
        what: "tabs, as numbered in the tab bar / next tab",
    },
    Binding {
        keys: &[
            (key(KeyCode::Enter), Action::Open),
            (key(KeyCode::Right), Action::Expand),
            (key(KeyCode::Left), Action::Collapse),
        ],
        what: "details; group: legs first (→ ←); connection: its stream",
    },
    Binding {
        keys: &[
            (ch('n'), Action::NextMatch),
            (ch('N'), Action::PrevMatch),
            (ch('e'), Action::JumpToClose),
        ],
        what: "details: next / previous filter match; e: the close",
    },
    Binding {
        keys: &[
            (key(KeyCode::Esc), Action::Back),
            (key(KeyCode::Backspace), Action::Back),
        ],
        what: "back / close",
    },
    Binding {
        keys: &[
            (key(KeyCode::Tab), Action::ToggleHex),
            (ch('x'), Action::ToggleHex),
        ],
        what: "details: analysis ⇄ hex/raw bytes",
    },
    Binding {
        keys: &[
            (ch(']'), Action::HexPackets(HexStep::Next)),
            (ch('['), Action::HexPackets(HexStep::Previous)),
            (ch('}'), Action::HexPackets(HexStep::TenthOn)),
            (ch('{'), Action::HexPackets(HexStep::TenthBack)),
        ],
        what: "raw packets: next / previous 64; a tenth on / back",
    },
    Binding {
        keys: &[(ch('/'), Action::EditFilter)],
        what: "filter as you type: any column, header; v:failed code:X",
    },
    Binding {
        keys: &[
            (ch('v'), Action::CycleVerdict),
            (ch('c'), Action::CycleCode),
        ],
        what: "quick filters: cycle verdict / finding code",
    },
    Binding {
        keys: &[(ch('0'), Action::ClearFilters)],
        what: "clear all filters",
    },
    Binding {
        keys: &[
            (ch('s'), Action::SortNext),
            (ch('S'), Action::SortReverse),
            (ch('i'), Action::ToggleGrouped),
        ],
        what: "sort: next column / reverse; i: incidents ⇄ all records",
    },
    Binding {
        keys: &[(ch('f'), Action::ToggleFollow)],
        what: "follow newest on/off",
    },
    Binding {
        keys: &[
            (ch('p'), Action::TogglePause),
            (ch(' '), Action::TogglePause),
        ],
        what: "pause/resume the table (capture keeps running)",
    },
    Binding {
        keys: &[(ch('y'), Action::CopyCurl)],
        what: "copy as curl command (clipboard via OSC 52 + popup)",
    },
    Binding {
        keys: &[(ch('w'), Action::ExportPcap), (ch('J'), Action::ExportJson)],
        what: "export the flow's packets (pcap) / the record (JSON)",
    },
    Binding {
        keys: &[(ch('?'), Action::Help), (key(KeyCode::F(1)), Action::Help)],
        what: "this help",
    },
    Binding {
        keys: &[(ch('q'), Action::Quit), (ctrl('c'), Action::Quit)],
        what: "quit",
    },
];

/// The mouse, for the help's last line (the event loop maps mouse events itself).
pub(crate) const MOUSE_HELP: (&str, &str) = (
    "mouse",
    "wheel scrolls; click selects, again opens; a title sorts",
);

/// The action [`KEYS`] binds to `key` (Ctrl held or not): an exact match first, else the
/// same key without Ctrl, so a stray Ctrl does not swallow a plain key.
fn lookup(code: KeyCode, ctrl: bool) -> Option<Action> {
    let find = |want: Key| {
        KEYS.iter()
            .flat_map(|b| b.keys.iter())
            .find(|(k, _)| *k == want)
            .map(|(_, a)| a.clone())
    };
    find(Key { code, ctrl }).or_else(|| if ctrl { find(key(code)) } else { None })
}

/// The action bound to `key` in `mode`, if any.
#[must_use]
pub(crate) fn action_for(key: KeyEvent, mode: KeyMode) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if mode == KeyMode::Filter {
        return match key.code {
            KeyCode::Enter => Some(Action::FilterApply),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    lookup(key.code, ctrl)
}

/// The columns the table can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Capture time (ties: arrival).
    Time,
    /// Client address.
    Client,
    /// Server address.
    Server,
    /// Host header.
    Host,
    /// Request path.
    Path,
    /// Response status.
    Status,
    /// Chosen subprotocol.
    Subprotocol,
    /// Response latency (or time waited without an answer).
    Latency,
    /// Verdict, worst last in ascending order.
    Verdict,
    /// Code of the top finding.
    Finding,
}

impl SortKey {
    /// Every key, in the order `s` cycles through them.
    pub const ALL: [SortKey; 10] = [
        SortKey::Time,
        SortKey::Client,
        SortKey::Server,
        SortKey::Host,
        SortKey::Path,
        SortKey::Status,
        SortKey::Subprotocol,
        SortKey::Latency,
        SortKey::Verdict,
        SortKey::Finding,
    ];

    /// Column title.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Client => "client",
            SortKey::Server => "server",
            SortKey::Host => "host",
            SortKey::Path => "path",
            SortKey::Status => "status",
            SortKey::Subprotocol => "subprotocol",
            SortKey::Latency => "latency",
            SortKey::Verdict => "verdict",
            SortKey::Finding => "finding",
        }
    }

    pub(crate) fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|&k| k == self).unwrap_or(0);
        SortKey::ALL.get(i + 1).copied().unwrap_or(SortKey::Time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn filter_mode_takes_printable_keys() {
        assert_eq!(
            action_for(key(KeyCode::Char('q')), KeyMode::Filter),
            Some(Action::FilterChar('q'))
        );
        assert_eq!(
            action_for(key(KeyCode::Char('q')), KeyMode::Normal),
            Some(Action::Quit)
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(ctrl_c, KeyMode::Filter), Some(Action::Quit));
    }

    fn press(k: Key) -> KeyEvent {
        let modifiers = if k.ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::NONE
        };
        KeyEvent::new(k.code, modifiers)
    }

    /// Every key the help lists does what the help says, and no key is listed twice.
    #[test]
    fn every_listed_key_triggers_its_action() {
        let mut seen = Vec::new();
        for b in KEYS {
            assert!(!b.keys.is_empty() && !b.what.is_empty());
            for (k, action) in b.keys {
                assert_eq!(
                    action_for(press(*k), KeyMode::Normal).as_ref(),
                    Some(action),
                    "{} ({})",
                    k.label(),
                    b.what
                );
                assert!(!seen.contains(k), "{} bound twice", k.label());
                seen.push(*k);
            }
        }
    }

    /// No key does anything the help does not list: every printable character, with and
    /// without Ctrl, and every special key the terminal reports.
    #[test]
    fn no_key_acts_without_being_listed() {
        let listed: Vec<Key> = KEYS
            .iter()
            .flat_map(|b| b.keys.iter().map(|(k, _)| *k))
            .collect();
        let mut codes: Vec<KeyCode> = (' '..='~').map(KeyCode::Char).collect();
        codes.extend([
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Delete,
            KeyCode::Insert,
        ]);
        codes.extend((1..=12).map(KeyCode::F));
        for code in codes {
            for ctrl in [false, true] {
                let k = Key { code, ctrl };
                if action_for(press(k), KeyMode::Normal).is_some() {
                    // A plain key still works with a stray Ctrl held.
                    let plain = Key { code, ctrl: false };
                    assert!(
                        listed.contains(&k) || (ctrl && listed.contains(&plain)),
                        "{} acts but the help does not list it",
                        k.label()
                    );
                }
            }
        }
    }

    #[test]
    fn labels() {
        assert_eq!(ctrl('u').label(), "^U");
        assert_eq!(ch(' ').label(), "Space");
        assert_eq!(super::key(KeyCode::F(1)).label(), "F1");
        assert_eq!(KEYS[1].keys_label(), "PgUp PgDn ^U ^D");
    }
}
