//! The TUI's tabs other than the handshake table: WebSocket connections (with or without a
//! captured handshake), TLS connections, HTTP/2 streams and Engine.IO sessions (whose
//! [`Listed`] lives beside the Engine.IO view), each a [`Listing`] of its records, filtered
//! by the one filter bar and sorted by any of its columns.
//!
//! A [`Listing`] keeps its records in arrival order and a view of positions into them; a
//! new record is placed with a binary search (as the handshake table does), and the full
//! `O(n log n)` rebuild happens only on a user action. What a row shows and how it sorts and
//! matches is its kind's [`Listed`] implementation; drawing reads only the rows on screen.
//! Plain data: no terminal, no I/O.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::event::{ConnectionRecord, HandshakeRecord, TlsRecord, Verdict};
use crate::finding::{Finding, Severity};
use crate::present::{escape, format_time_of_day};

use super::filter::{Filter, Haystacks};

/// Most records a tab keeps (later ones are counted, not stored).
pub const MAX_ROWS: usize = 250_000;

/// Which tab is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// The handshake table (the model in `app`).
    Handshakes,
    /// WebSocket connections, including those seen without a handshake.
    Connections,
    /// TLS connections.
    Tls,
    /// WebSocket handshakes carried by HTTP/2 streams (RFC 8441).
    H2,
    /// Engine.IO (Socket.IO) sessions.
    EngineIo,
}

impl Tab {
    /// Every tab, in the order of the tab bar and of the keys 1–5.
    pub const ALL: [Tab; 5] = [
        Tab::Handshakes,
        Tab::Connections,
        Tab::Tls,
        Tab::H2,
        Tab::EngineIo,
    ];

    /// Title in the tab bar.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Tab::Handshakes => "Handshakes",
            Tab::Connections => "Connections",
            Tab::Tls => "TLS",
            Tab::H2 => "HTTP/2 streams",
            Tab::EngineIo => "Socket.IO",
        }
    }
}

/// One column of a tab: its title and the bounds its width is chosen in (the last column
/// takes what is left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColSpec {
    /// Title.
    pub title: &'static str,
    /// Narrowest width.
    pub min: u16,
    /// Widest width (content wider than this is cut).
    pub max: u16,
    /// Dropped first when the terminal is narrow (lower goes first; 0 never).
    pub drop_rank: u8,
}

pub(crate) const fn col(title: &'static str, min: u16, max: u16, drop_rank: u8) -> ColSpec {
    ColSpec {
        title,
        min,
        max,
        drop_rank,
    }
}

/// What a tab needs from its record kind.
pub trait Listed {
    /// The columns, left to right.
    const COLUMNS: &'static [ColSpec];
    /// The text of column `col` (escaped).
    fn cell(&self, col: usize) -> String;
    /// Order under column `col`.
    fn compare(&self, other: &Self, col: usize) -> Ordering;
    /// The findings (for `code:` and the verdict).
    fn findings(&self) -> &[Finding];
    /// The verdict the `v:` filter matches.
    fn verdict(&self) -> Verdict;
    /// Text searched besides the columns (header lines, every finding code), lower-case
    /// terms are matched against it lower-cased.
    fn extra_text(&self, out: &mut String);
}

/// Whether `r` passes `filter`: the verdict, a finding code, and every text term somewhere
/// in a column or in the extra text.
#[must_use]
pub fn passes<R: Listed>(filter: &Filter, r: &R) -> bool {
    if !passes_quick(filter, r) {
        return false;
    }
    if filter.terms.is_empty() {
        return true;
    }
    let mut hay = String::new();
    haystack(r, &mut hay);
    filter.terms_in(hay)
}

/// Whether `r` passes `filter`'s verdict and finding code (the quick filters).
fn passes_quick<R: Listed>(filter: &Filter, r: &R) -> bool {
    if filter.verdict.is_some_and(|v| v != r.verdict()) {
        return false;
    }
    filter
        .code
        .is_none_or(|code| r.findings().iter().any(|f| f.code == code))
}

/// Every text the filter searches in `r`: its columns, then its extra text.
fn haystack<R: Listed>(r: &R, out: &mut String) {
    for i in 0..R::COLUMNS.len() {
        out.push_str(&r.cell(i));
        out.push('\n');
    }
    r.extra_text(out);
}

/// A duration for a narrow column: `850 ms`, `12.3 s`, `4m05s`.
#[must_use]
pub(crate) fn short_duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let secs = (ms / 1000.0) as u64;
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// Verdict from the worst finding: error → failed, warning → warning, else ok.
fn verdict_of(findings: &[Finding]) -> Verdict {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Error) => Verdict::Failed,
        Some(Severity::Warning) => Verdict::Warning,
        _ => Verdict::Ok,
    }
}

fn top_code(findings: &[Finding]) -> String {
    findings
        .first()
        .map(|f| f.code.as_str().to_owned())
        .unwrap_or_default()
}

fn all_codes(findings: &[Finding], out: &mut String) {
    for f in findings {
        out.push_str(f.code.as_str());
        out.push('\n');
        out.push_str(&f.message);
        out.push('\n');
    }
}

/// A WebSocket connection with what its handshake said (host, path), when it was kept.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnRow {
    /// The record.
    pub record: Arc<ConnectionRecord>,
    /// Host header of the handshake that opened it.
    pub host: Option<String>,
    /// Request target of that handshake.
    pub path: Option<String>,
    /// That handshake's index in the model (`App::record`), when it was kept.
    pub handshake: Option<usize>,
}

impl ConnRow {
    fn frames(&self) -> u64 {
        self.record.client_to_server.frames + self.record.server_to_client.frames
    }

    fn close_words(&self) -> String {
        let c = &self.record.close;
        let first = match c.initiator {
            Some(crate::event::Peer::Client) => c.client.as_ref(),
            Some(crate::event::Peer::Server) => c.server.as_ref(),
            None => None,
        };
        match first {
            Some(f) => match f.code {
                Some(code) => format!("{code}"),
                None => "none".to_owned(),
            },
            None => "-".to_owned(),
        }
    }
}

impl Listed for ConnRow {
    const COLUMNS: &'static [ColSpec] = &[
        col("Time", 12, 12, 0),
        col("Client → Server", 21, 47, 3),
        col("Handshake", 6, 9, 6),
        col("Host", 8, 30, 5),
        col("Path", 6, 40, 0),
        col("Frames", 6, 9, 2),
        col("Duration", 8, 10, 4),
        col("Close", 5, 5, 1),
        col("Ending", 5, 18, 0),
        col("Top finding", 10, 60, 0),
    ];

    fn cell(&self, col: usize) -> String {
        let r = &self.record;
        match col {
            0 => format_time_of_day(r.ts),
            1 => format!("{} → {}", r.client, r.server),
            2 => r
                .handshake_id
                .map_or_else(|| "none".to_owned(), |id| format!("#{id}")),
            3 => self.host.as_deref().map(escape).unwrap_or_default(),
            4 => self.path.as_deref().map(escape).unwrap_or_default(),
            5 => self.frames().to_string(),
            6 => short_duration(r.duration_ms),
            7 => self.close_words(),
            8 => r.ending.as_str().to_owned(),
            _ => top_code(&r.findings),
        }
    }

    fn compare(&self, other: &Self, col: usize) -> Ordering {
        let (a, b) = (&self.record, &other.record);
        match col {
            0 => a.ts.cmp(&b.ts),
            1 => (a.client, a.server).cmp(&(b.client, b.server)),
            2 => a.handshake_id.cmp(&b.handshake_id),
            3 => self.host.cmp(&other.host),
            4 => self.path.cmp(&other.path),
            5 => self.frames().cmp(&other.frames()),
            6 => a.duration_ms.total_cmp(&b.duration_ms),
            7 => self.close_words().cmp(&other.close_words()),
            8 => a.ending.as_str().cmp(b.ending.as_str()),
            _ => top_code(&a.findings).cmp(&top_code(&b.findings)),
        }
    }

    fn findings(&self) -> &[Finding] {
        &self.record.findings
    }

    fn verdict(&self) -> Verdict {
        verdict_of(&self.record.findings)
    }

    fn extra_text(&self, out: &mut String) {
        let r = &self.record;
        all_codes(&r.findings, out);
        for p in [&r.client_to_server.preview, &r.server_to_client.preview]
            .into_iter()
            .flatten()
        {
            out.push_str(p);
            out.push('\n');
        }
        for c in [&r.close.client, &r.close.server].into_iter().flatten() {
            out.push_str(&c.reason);
            out.push('\n');
        }
        out.push_str(&r.community_id);
        if !r.handshake_observed {
            out.push_str("\nhandshake not observed");
        }
    }
}

impl Listed for TlsRecord {
    const COLUMNS: &'static [ColSpec] = &[
        col("Time", 12, 12, 0),
        col("Client → Server", 21, 47, 4),
        col("SNI", 6, 40, 0),
        col("Version", 7, 8, 3),
        col("ALPN", 4, 12, 2),
        col("Cipher", 6, 40, 1),
        col("Outcome", 8, 22, 0),
        col("Top finding", 10, 60, 0),
    ];

    fn cell(&self, col: usize) -> String {
        match col {
            0 => format_time_of_day(self.ts),
            1 => format!("{} → {}", self.client, self.server),
            2 => self.sni.as_deref().map(escape).unwrap_or_default(),
            3 => self.version.clone().unwrap_or_default(),
            4 => self.alpn.as_deref().map(escape).unwrap_or_default(),
            5 => self.cipher.clone().unwrap_or_default(),
            6 => self.outcome.as_str().to_owned(),
            _ => top_code(&self.findings),
        }
    }

    fn compare(&self, other: &Self, col: usize) -> Ordering {
        match col {
            0 => self.ts.cmp(&other.ts),
            1 => (self.client, self.server).cmp(&(other.client, other.server)),
            6 => self.outcome.cmp(&other.outcome),
            _ => self.cell(col).cmp(&other.cell(col)),
        }
    }

    fn findings(&self) -> &[Finding] {
        &self.findings
    }

    fn verdict(&self) -> Verdict {
        if self.outcome.is_failure() {
            Verdict::Failed
        } else if self.outcome == crate::event::TlsOutcome::Incomplete {
            Verdict::Incomplete
        } else {
            verdict_of(&self.findings)
        }
    }

    fn extra_text(&self, out: &mut String) {
        all_codes(&self.findings, out);
        for a in &self.alpn_offered {
            out.push_str(a);
            out.push('\n');
        }
        if let Some(c) = &self.certificate {
            out.push_str(&c.subject);
            out.push('\n');
            out.push_str(&c.issuer);
            out.push('\n');
            for s in &c.san {
                out.push_str(s);
                out.push('\n');
            }
        }
        for a in &self.alerts {
            if let Some(d) = &a.description {
                out.push_str(d);
                out.push('\n');
            }
        }
    }
}

/// A handshake carried by an HTTP/2 stream (the handshake tab's record, shared).
#[derive(Clone, Debug, PartialEq)]
pub struct H2Row(pub Arc<HandshakeRecord>);

impl H2Row {
    fn stream_end(&self) -> String {
        let Some(h2) = &self.0.h2 else {
            return String::new();
        };
        match (&h2.reset, &h2.goaway) {
            (Some(r), _) => format!("RST_STREAM {}", r.name.unwrap_or("?")),
            (None, Some(g)) => format!("GOAWAY {}", g.name.unwrap_or("?")),
            (None, None) => String::new(),
        }
    }
}

impl Listed for H2Row {
    const COLUMNS: &'static [ColSpec] = &[
        col("Time", 12, 12, 0),
        col("Client → Server", 21, 47, 4),
        col("Stream", 6, 8, 2),
        col("Host", 8, 30, 1),
        col("Path", 6, 40, 0),
        col("St", 3, 3, 0),
        col("Reset", 5, 30, 3),
        col("Verdict", 7, 10, 0),
        col("Top finding", 10, 60, 0),
    ];

    fn cell(&self, col: usize) -> String {
        let r = &self.0;
        match col {
            0 => format_time_of_day(r.ts),
            1 => format!("{} → {}", r.client, r.server),
            2 => {
                r.h2.as_ref()
                    .map(|h| h.stream_id.to_string())
                    .unwrap_or_default()
            }
            3 => r.host.as_deref().map(escape).unwrap_or_default(),
            4 => r.path.as_deref().map(escape).unwrap_or_default(),
            5 => r.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            6 => self.stream_end(),
            7 => r.verdict.as_str().to_uppercase(),
            _ => top_code(&r.findings),
        }
    }

    fn compare(&self, other: &Self, col: usize) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        match col {
            0 => a.ts.cmp(&b.ts),
            2 => {
                a.h2.as_ref()
                    .map(|h| h.stream_id)
                    .cmp(&b.h2.as_ref().map(|h| h.stream_id))
            }
            5 => a.status.cmp(&b.status),
            7 => crate::present::verdict_rank(a.verdict)
                .cmp(&crate::present::verdict_rank(b.verdict)),
            _ => self.cell(col).cmp(&other.cell(col)),
        }
    }

    fn findings(&self) -> &[Finding] {
        &self.0.findings
    }

    fn verdict(&self) -> Verdict {
        self.0.verdict
    }

    fn extra_text(&self, out: &mut String) {
        super::filter::handshake_text(&self.0, out);
    }
}

/// The records of one tab, the filtered and sorted view over them, and the selection.
#[derive(Debug)]
pub struct Listing<R> {
    records: Vec<Arc<R>>,
    view: Vec<usize>,
    selected: usize,
    offset: usize,
    rows: usize,
    /// The column sorted by.
    pub sort: usize,
    /// Sorted in descending order.
    pub descending: bool,
    /// Records received after [`MAX_ROWS`] (counted, not kept).
    pub not_kept: u64,
    /// The user moved the selection: until then, without follow, the first row stays
    /// selected while rows arrive (a file opens where a reader starts).
    moved: bool,
    /// Each record's search text, built when it arrives (records never change here).
    hay: Haystacks,
}

impl<R: Listed> Default for Listing<R> {
    fn default() -> Self {
        Listing {
            records: Vec::new(),
            view: Vec::new(),
            selected: 0,
            offset: 0,
            rows: 10,
            sort: 0,
            descending: false,
            not_kept: 0,
            moved: false,
            hay: Haystacks::default(),
        }
    }
}

impl<R: Listed> Listing<R> {
    fn order(&self, a: usize, b: usize) -> Ordering {
        let o = match (self.records.get(a), self.records.get(b)) {
            (Some(x), Some(y)) => x.compare(y, self.sort).then(a.cmp(&b)),
            _ => Ordering::Equal,
        };
        if self.descending {
            o.reverse()
        } else {
            o
        }
    }

    /// Adds a record; shown at its sorted place when it passes `filter`. With `follow` the
    /// selection moves to it, else the selected row stays selected.
    pub fn push(&mut self, record: Arc<R>, filter: &Filter, follow: bool) {
        if self.records.len() >= MAX_ROWS {
            self.not_kept += 1;
            return;
        }
        let index = self.records.len();
        self.hay.build(index, |out| haystack(record.as_ref(), out));
        let shown = self.shows(filter, index, record.as_ref());
        self.records.push(record);
        if !shown {
            return;
        }
        let pos = self
            .view
            .partition_point(|&i| self.order(i, index) == Ordering::Less);
        self.view.insert(pos, index);
        if follow {
            self.selected = pos;
        } else if !self.moved {
            self.selected = 0;
        } else if pos <= self.selected && self.view.len() > 1 {
            self.selected += 1;
            if pos < self.offset {
                self.offset += 1;
            }
        }
        self.scroll_to_selection();
    }

    /// Whether the record at arrival index `index`, `r`, passes `filter` (its text from the
    /// cache when there).
    fn shows(&self, filter: &Filter, index: usize, r: &R) -> bool {
        passes_quick(filter, r) && self.hay.terms_in(filter, index, |out| haystack(r, out))
    }

    /// Caches no search text (for `App::without_search_cache`, the timing test's before).
    pub(crate) fn disable_search_cache(&mut self) {
        self.hay.disable();
    }

    /// Bytes of search text cached.
    #[must_use]
    pub fn haystack_bytes(&self) -> usize {
        self.hay.bytes()
    }

    /// Rebuilds the view (filter or sort changed), keeping the selected record selected when
    /// it is still shown.
    pub fn rebuild(&mut self, filter: &Filter) {
        let keep = self.view.get(self.selected).copied();
        let mut view: Vec<usize> = (0..self.records.len())
            .filter(|&i| {
                self.records
                    .get(i)
                    .is_some_and(|r| self.shows(filter, i, r.as_ref()))
            })
            .collect();
        view.sort_by(|&a, &b| self.order(a, b));
        self.view = view;
        self.selected = keep
            .and_then(|k| self.view.iter().position(|&i| i == k))
            .unwrap_or(0);
        self.scroll_to_selection();
    }

    /// Narrows the view to the rows that pass `filter`, a filter narrower than the one the
    /// view was built with ([`Filter::narrows`]): one pass over the rows shown, not every
    /// record, and the order kept.
    pub fn narrow(&mut self, filter: &Filter) {
        let keep = self.view.get(self.selected).copied();
        let mut view = std::mem::take(&mut self.view);
        view.retain(|&i| {
            self.records
                .get(i)
                .is_some_and(|r| self.shows(filter, i, r.as_ref()))
        });
        self.view = view;
        self.selected = keep
            .and_then(|k| self.view.iter().position(|&i| i == k))
            .unwrap_or(0);
        self.scroll_to_selection();
    }

    /// Sorts by column `col`; the same column again reverses the order.
    pub fn sort_by(&mut self, col: usize, filter: &Filter) {
        if col == self.sort {
            self.descending = !self.descending;
        } else {
            self.sort = col.min(R::COLUMNS.len().saturating_sub(1));
            self.descending = false;
        }
        self.rebuild(filter);
    }

    /// Sorts by the next column.
    pub fn sort_next(&mut self, filter: &Filter) {
        self.sort = (self.sort + 1) % R::COLUMNS.len().max(1);
        self.rebuild(filter);
    }

    /// Reverses the order.
    pub fn reverse(&mut self, filter: &Filter) {
        self.descending = !self.descending;
        self.rebuild(filter);
    }

    fn scroll_to_selection(&mut self) {
        let rows = self.rows.max(1);
        self.selected = self.selected.min(self.view.len().saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        self.offset = self.offset.min(self.view.len().saturating_sub(rows));
    }

    /// Rows that fit on screen.
    pub fn set_rows(&mut self, rows: usize) {
        self.rows = rows.max(1);
        self.scroll_to_selection();
    }

    /// Moves the selection by `n` rows (clamped).
    pub fn move_by(&mut self, n: i64) {
        self.moved = true;
        let len = i64::try_from(self.view.len()).unwrap_or(i64::MAX);
        let cur = i64::try_from(self.selected).unwrap_or(0);
        let next = cur.saturating_add(n).clamp(0, (len - 1).max(0));
        self.selected = usize::try_from(next).unwrap_or(0);
        self.scroll_to_selection();
    }

    /// Moves by `n` pages.
    pub fn page(&mut self, n: i64) {
        let rows = i64::try_from(self.rows).unwrap_or(1);
        self.move_by(n.saturating_mul(rows));
    }

    /// Selects the first row.
    pub fn top(&mut self) {
        self.moved = true;
        self.selected = 0;
        self.scroll_to_selection();
    }

    /// Selects the last row.
    pub fn bottom(&mut self) {
        self.moved = true;
        self.selected = self.view.len().saturating_sub(1);
        self.scroll_to_selection();
    }

    /// Selects the `n`-th row on screen; `true` when it was selected already.
    pub fn click(&mut self, n: usize) -> bool {
        let Some(pos) = self.visible(self.rows).nth(n).map(|(p, _)| p) else {
            return false;
        };
        let again = pos == self.selected;
        self.moved = true;
        self.selected = pos;
        self.scroll_to_selection();
        again
    }

    /// The rows from the scroll offset on, at most `rows`: (view position, record).
    pub fn visible(&self, rows: usize) -> impl Iterator<Item = (usize, &R)> {
        let rows = rows.max(1);
        let mut offset = self.offset.min(self.selected);
        if self.selected >= offset + rows {
            offset = self.selected + 1 - rows;
        }
        self.view
            .iter()
            .enumerate()
            .skip(offset)
            .take(rows)
            .filter_map(|(pos, &i)| self.records.get(i).map(|r| (pos, r.as_ref())))
    }

    /// The selected record.
    #[must_use]
    pub fn selected_record(&self) -> Option<&R> {
        self.view
            .get(self.selected)
            .and_then(|&i| self.records.get(i))
            .map(AsRef::as_ref)
    }

    /// Arrival index (for [`Listing::record`]) of the selected record.
    #[must_use]
    pub fn selected_index(&self) -> Option<usize> {
        self.view.get(self.selected).copied()
    }

    /// The record that arrived `index`-th.
    #[must_use]
    pub fn record(&self, index: usize) -> Option<&R> {
        self.records.get(index).map(AsRef::as_ref)
    }

    /// Position of the selection in the view.
    #[must_use]
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// Rows shown (after the filter).
    #[must_use]
    pub fn view_len(&self) -> usize {
        self.view.len()
    }

    /// Records kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No record kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every kept record, in arrival order.
    pub fn records(&self) -> impl Iterator<Item = &R> {
        self.records.iter().map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::event::Event;
    use crate::tui::feed::{read_all, Feed};

    fn conns(name: &str) -> Vec<Arc<ConnectionRecord>> {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        read_all(&path, EngineConfig::default())
            .unwrap()
            .into_iter()
            .filter_map(|f| match f {
                Feed::Event(Event::Connection(c)) => Some(Arc::from(c)),
                _ => None,
            })
            .collect()
    }

    fn row(c: Arc<ConnectionRecord>) -> Arc<ConnRow> {
        Arc::new(ConnRow {
            record: c,
            host: None,
            path: Some("/x".into()),
            handshake: None,
        })
    }

    #[test]
    fn a_listing_sorts_filters_and_keeps_the_selection() {
        let mut l: Listing<ConnRow> = Listing::default();
        let none = Filter::default();
        let mut all = conns("close-codes.pcap");
        all.extend(conns("mid-connection.pcap"));
        assert!(all.len() >= 3, "{}", all.len());
        for c in &all {
            l.push(row(Arc::clone(c)), &none, false);
        }
        assert_eq!(l.view_len(), all.len());
        l.bottom();
        let picked = l.selected_record().unwrap().record.ts;
        for col in 0..ConnRow::COLUMNS.len() {
            l.sort_by(col, &none);
            if l.descending {
                // Column 0 was the sort column already: the same column reverses.
                l.reverse(&none);
            }
            assert_eq!(l.selected_record().unwrap().record.ts, picked, "col {col}");
            let rows: Vec<&ConnRow> = l.visible(100).map(|(_, r)| r).collect();
            for w in rows.windows(2) {
                assert_ne!(w[0].compare(w[1], col), Ordering::Greater, "col {col}");
            }
        }
        // `none` in the handshake column: the connection seen without its handshake.
        let f = Filter::parse("handshake_not_observed").unwrap();
        l.rebuild(&f);
        assert_eq!(l.view_len(), 1);
        assert_eq!(l.selected_record().unwrap().cell(2), "none");
        let f = Filter::parse("code:close_code_reserved").unwrap_or_default();
        l.rebuild(&f);
        assert!(l.view_len() <= all.len());
    }
}
