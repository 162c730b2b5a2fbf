//! Keys → [`Action`]s. One flat table per mode, no key chains: every binding is listed in the
//! help overlay from [`KEYS`], so the two cannot drift apart.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Everything the user can ask for. [`super::app::App::update`] applies it.
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
    /// ([`crate::present::VERDICTS_WORST_FIRST`]).
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
}

/// Which keys apply: typing into the filter bar takes every printable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    /// Table, detail view or overlays.
    Normal,
    /// The filter bar has the focus.
    Filter,
}

/// Every binding in normal mode, as shown by the help overlay: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("↑↓ j k", "move selection / scroll details"),
    ("PgUp PgDn", "page up / down"),
    ("g Home", "first row"),
    ("G End", "last row, follow newest"),
    ("Enter", "open details of the selected handshake"),
    ("Esc", "back / close"),
    ("Tab x", "details: analysis ⇄ hex/raw bytes"),
    (
        "/",
        "filter: text over host, path, ip; v:failed code:accept_mismatch",
    ),
    ("v", "quick filter: cycle verdict"),
    ("c", "quick filter: cycle finding code"),
    ("0", "clear all filters"),
    ("s / S", "sort by next column / reverse order"),
    ("f", "follow newest on/off"),
    ("p Space", "pause/resume the table (capture keeps running)"),
    ("y", "copy as curl command (clipboard via OSC 52 + popup)"),
    ("w", "export the flow's packets to a pcap file"),
    ("J", "export the record as JSON"),
    ("?", "this help"),
    ("q Ctrl-C", "quit"),
    (
        "mouse",
        "wheel scrolls; click selects, again opens; a title sorts",
    ),
];

/// The action bound to `key` in `mode`, if any.
#[must_use]
pub fn action_for(key: KeyEvent, mode: KeyMode) -> Option<Action> {
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
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc | KeyCode::Backspace => Action::Back,
        KeyCode::Up | KeyCode::Char('k') => Action::Move(-1),
        KeyCode::Down | KeyCode::Char('j') => Action::Move(1),
        KeyCode::PageUp => Action::Page(-1),
        KeyCode::PageDown => Action::Page(1),
        KeyCode::Char('u') if ctrl => Action::Page(-1),
        KeyCode::Char('d') if ctrl => Action::Page(1),
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Enter => Action::Open,
        KeyCode::Tab | KeyCode::Char('x') => Action::ToggleHex,
        KeyCode::Char('f') => Action::ToggleFollow,
        KeyCode::Char('p' | ' ') => Action::TogglePause,
        KeyCode::Char('s') => Action::SortNext,
        KeyCode::Char('S') => Action::SortReverse,
        KeyCode::Char('/') => Action::EditFilter,
        KeyCode::Char('v') => Action::CycleVerdict,
        KeyCode::Char('c') => Action::CycleCode,
        KeyCode::Char('0') => Action::ClearFilters,
        KeyCode::Char('y') => Action::CopyCurl,
        KeyCode::Char('w') => Action::ExportPcap,
        KeyCode::Char('J') => Action::ExportJson,
        KeyCode::Char('?') | KeyCode::F(1) => Action::Help,
        _ => return None,
    })
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
}
