//! The TUI's model: every handshake received, the filtered and sorted view over them, the
//! selection, follow and pause, the overlays. Plain data with no terminal in sight, so it is
//! tested by calling [`App::apply`] and [`App::update`] and looking at the fields.
//!
//! Cost model (100,000 handshakes must stay smooth): a new record is inserted into the view
//! with a binary search (`O(log n)` compares plus one `memmove`); drawing reads only the rows on
//! screen; full `O(n log n)` rebuilds happen only on a user action (sort, filter, unpause).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::event::HopLink;
use crate::event::{ConnectionRecord, Event, HandshakeRecord, Notice, Verdict};
use crate::finding::Code;
use crate::present::incident::{IncidentCounts, Incidents, Limits};
use crate::present::{verdict_rank, VERDICTS_WORST_FIRST};

use super::action::{Action, HexStep, KeyMode, SortKey};
use super::feed::{Feed, PacketStore, Progress};
pub use super::filter::Filter;
use super::filter::{handshake_text, latency_ms, Haystacks};
use super::flows::PacketLists;
use super::tabs::{ConnRow, H2Row, Listing, Tab};

/// Most handshake records kept for browsing; later ones are counted but not stored, so a
/// long live capture cannot exhaust memory.
pub const MAX_RECORDS: usize = 250_000;
/// Most distinct notices kept (the engine emits each kind once, so this is a safety net).
const MAX_NOTICES: usize = 64;
/// Most bytes of connections' frame logs the model keeps; the logs of later connections are
/// given up (their streams say so), so a long live capture cannot exhaust memory.
pub const MAX_FRAME_LOG_BYTES: usize = 64 * 1024 * 1024;
/// Most packets loaded for the hex view of one handshake or connection.
pub const MAX_HEX_PACKETS: usize = 2 * super::flows::EACH_END;
/// Incidents listed per group (an expanded group shows their legs; the rest are counted).
pub const MAX_LISTED_PER_GROUP: usize = 16;

/// What a row of the grouped handshake table is (see [`App::row_mark`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowMark {
    /// A handshake shown on its own (flat view, or a group of one direct handshake).
    Single,
    /// The first leg of a group's earliest incident, standing for the group.
    Group {
        /// Incidents in the group.
        count: u64,
        /// The incidents are proxied handshakes (several legs each).
        proxied: bool,
        /// Its other legs and incidents are shown below it.
        expanded: bool,
    },
    /// A further leg of a proxied incident (proxy → upstream), below its group.
    Leg,
    /// The client leg of another incident of the group, below its group.
    Another,
}

/// A group of the handshake table: its head is the record index that stands for it.
#[derive(Clone, Debug, Default)]
struct GroupRow {
    count: u64,
    proxied: bool,
    /// The other listed legs, in order: (record index, is a further leg of an incident).
    members: Vec<(usize, bool)>,
}

/// Where the capture is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureState {
    /// Still producing.
    Running,
    /// The whole input was read.
    Finished,
    /// The producer stopped early; the message says why.
    Failed(String),
}

/// Which full-screen view is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The handshake table.
    Table,
    /// The detail view of the selected handshake.
    Detail,
}

/// A box drawn over everything else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// The key list.
    Help,
    /// A message (export result, curl command).
    Popup {
        /// Box title.
        title: String,
        /// Text, already escaped.
        body: String,
    },
}

/// Which packets of a connection its hex view shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HexWindow {
    /// The first and the last packets (what it opens on).
    #[default]
    Ends,
    /// [`MAX_HEX_PACKETS`] packets from this position in the connection (0: its first).
    From(u64),
}

/// A connection's hex view being loaded (on another thread): what the header of the view
/// says meanwhile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HexLoading {
    /// The connection (arrival index).
    pub connection: usize,
    /// The packets asked for.
    pub window: HexWindow,
    /// The capture is being scanned for them (not only read by number).
    pub scanning: bool,
    /// Packets scanned so far.
    pub done: u64,
    /// Packets the scan reads at most.
    pub of: u64,
}

/// Raw packets of one handshake or connection, loaded on demand for the hex view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HexDump {
    /// For a connection's packets: which of them ([`HexWindow::Ends`] for a handshake's).
    pub window: HexWindow,
    /// The positions shown in the connection (a window of its packets), when known.
    pub positions: Option<std::ops::Range<u64>>,
    /// Packets of the connection, when known.
    pub total: Option<u64>,
    /// The record they belong to.
    pub record_id: u64,
    /// For a connection's packets: its arrival index in the connections tab (`None`: a
    /// handshake's, by `record_id`).
    pub connection: Option<usize>,
    /// (packet number, captured bytes).
    pub packets: Vec<(u64, Vec<u8>)>,
    /// What each packet carried, as the records say (a connection's: handshake request,
    /// `C→S text frame`, `server close`), by packet number.
    pub labels: std::collections::BTreeMap<u64, String>,
    /// Why some or all bytes are missing.
    pub note: Option<String>,
}

/// A side effect the event loop carries out for the model (the model itself does no I/O).
/// Each names a record by its index in [`App::record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Leave the TUI.
    Quit,
    /// Build the curl command, copy it, show it.
    CopyCurl(usize),
    /// Write the flow's packets to a pcap file.
    ExportPcap(usize),
    /// Write the record as JSON.
    ExportJson(usize),
    /// Read the record's packets for the hex view.
    LoadHex(usize),
    /// Read the packets of a connection (its arrival index in the connections tab) for the
    /// hex view: those of the window (on another thread; drawing goes on meanwhile).
    LoadConnectionHex(usize, HexWindow),
    /// Scroll the detail view to a place only the drawn lines know (`render::jump`).
    Jump(Jump),
}

/// Where [`Effect::Jump`] scrolls the detail view to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jump {
    /// The next line that matches the filter's text.
    NextMatch,
    /// The previous such line.
    PrevMatch,
    /// The first close frame of the followed stream.
    Close,
    /// The last line.
    End,
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    /// What is being read, for the header (`file x.pcap`, `interface eth0`).
    pub source: String,
    /// The capture file, when there is one to re-read for raw bytes and exports.
    pub file: Option<String>,
    /// The capture files read merged (`-r A -r B --tui`), exported from again; empty for
    /// one file, standard input and live capture.
    pub merged_files: Vec<String>,
    /// Where the hex view reads packets again (the file's packet index, the live ring).
    pub packets: Option<PacketStore>,
    /// Each TCP connection's packet numbers, which the reader lists (the hex view of any
    /// packet of a connection, not only those its records cite).
    pub packet_lists: Option<Arc<std::sync::Mutex<PacketLists>>>,
    /// Whether the producer is still reading, has finished, or stopped on an error.
    pub state: CaptureState,
    /// Latest counters and read position.
    pub progress: Progress,
    // Boxed as the engine sends them: no copy on arrival, and growing the Vec moves pointers,
    // not ~600-byte records.
    #[allow(clippy::vec_box)]
    records: Vec<Arc<HandshakeRecord>>,
    /// Handshakes received after [`MAX_RECORDS`] was reached (counted, not kept).
    pub records_not_kept: u64,
    /// Handshake records received, per verdict (ok, warning, failed, incomplete).
    pub counts: [u64; 4],
    /// Records received after [`MAX_RECORDS`], per verdict (each its own incident: they are
    /// not grouped).
    not_kept: [u64; 4],
    /// The incidents of the kept records, as of the last [`App::settle`].
    incident_counts: IncidentCounts,
    /// Records or hops arrived since `incident_counts` was taken.
    counts_dirty: bool,
    codes_seen: BTreeSet<Code>,
    /// How each upgraded connection ended, by the index of the kept handshake that opened
    /// it (at most one per kept handshake).
    connections: HashMap<usize, Arc<ConnectionRecord>>,
    /// The index of the latest kept record with each id, and for each record the index of
    /// the previous one with the same id (`usize::MAX`: none): ids restart when several
    /// captures are read into one model, so an id names a record only with the capture it
    /// came in, which is the latest one with that id when its events arrive.
    latest_with_id: HashMap<u64, usize>,
    earlier_with_id: Vec<usize>,
    /// The tab shown.
    pub tab: Tab,
    /// Every WebSocket connection, with or without a captured handshake.
    pub conns: Listing<ConnRow>,
    /// Every TLS connection.
    pub tls: Listing<crate::event::TlsRecord>,
    /// Handshakes carried by HTTP/2 streams.
    pub h2: Listing<H2Row>,
    /// The filter in force when the bar was opened (Esc puts it back: the bar filters as
    /// you type).
    filter_before_edit: Option<Filter>,
    /// Bytes of frame logs kept (bounded by [`MAX_FRAME_LOG_BYTES`]).
    frame_log_bytes: usize,
    /// Connections whose frame log was given up because [`MAX_FRAME_LOG_BYTES`] was reached
    /// (the header says so; their streams say the frames were not kept).
    pub frame_logs_given_up: u64,
    /// Proxy hops by the index of each kept leg's record.
    hops: HashMap<usize, Arc<HopLink>>,
    /// Capture-level notices.
    pub notices: Vec<Notice>,
    /// TLS connections seen, and how many of them failed (the header shows both; issue 16
    /// gives them views of their own).
    pub tls_counts: (u64, u64),
    /// Socket.IO sessions seen, and how many had a finding above info (the header shows
    /// both; a session view with its connections is issue 14's next step).
    pub socketio_counts: (u64, u64),
    /// The Socket.IO tab's sessions.
    pub engineio: Listing<crate::event::EngineIoSession>,
    view: Vec<usize>,
    /// Each kept record's search text, by record index, built when it arrives (a keystroke
    /// in the filter bar then searches text instead of formatting every record again).
    hay: Haystacks,
    /// The handshake table shows incidents (the legs of a proxied handshake and repeated
    /// identical handshakes as one row) rather than every record.
    pub grouped: bool,
    /// The shared grouping ([`crate::present::incident`]), fed every kept record and hop.
    incidents: Incidents,
    /// Records or hops arrived since the groups were last taken ([`App::settle`]).
    groups_dirty: bool,
    /// The groups by the record index of their head.
    groups: HashMap<usize, GroupRow>,
    /// Member record index → head record index.
    member_of: HashMap<usize, usize>,
    /// Heads whose group is expanded.
    expanded: BTreeSet<usize>,
    /// The column the table is sorted by.
    pub sort: SortKey,
    /// Sorted in descending order (the arrow in the column title points down).
    pub descending: bool,
    /// The filter the table applies now (while the bar is edited, its text is in
    /// `filter_input`).
    pub filter: Filter,
    /// The filter bar's text while it is being edited.
    pub filter_input: Option<String>,
    selected: usize,
    offset: usize,
    table_rows: usize,
    /// Keep the newest handshake selected as rows stream in.
    pub follow: bool,
    /// The table is frozen; new handshakes wait until resume.
    pub paused: bool,
    /// Handshakes received while paused.
    pub arrived_while_paused: u64,
    /// Table or detail view.
    pub screen: Screen,
    /// First line shown in the detail view.
    pub detail_scroll: u16,
    /// The detail view shows raw bytes instead of the analysis.
    pub detail_hex: bool,
    /// Raw packets of the record whose hex view was opened last.
    pub hex: Option<HexDump>,
    /// The connection hex view's packets being loaded, if any (progress of a scan).
    pub hex_loading: Option<HexLoading>,
    /// The box on top, if any.
    pub overlay: Option<Overlay>,
    /// One-line message at the bottom (result of the last action).
    pub status: Option<String>,
    /// Credentials are redacted in the records (the default; off with `--no-redact`): the
    /// raw bytes read back for the hex view are masked to match.
    pub redacted: bool,
}

impl App {
    /// An empty model for a source described as `source`; `file` is the capture to re-read for
    /// raw bytes and exports (none for live capture or standard input).
    #[must_use]
    pub fn new(source: impl Into<String>, file: Option<String>) -> Self {
        App {
            source: source.into(),
            file,
            merged_files: Vec::new(),
            packets: None,
            packet_lists: None,
            state: CaptureState::Running,
            progress: Progress::default(),
            records: Vec::new(),
            records_not_kept: 0,
            counts: [0; 4],
            not_kept: [0; 4],
            incident_counts: IncidentCounts::default(),
            counts_dirty: false,
            codes_seen: BTreeSet::new(),
            connections: HashMap::new(),
            latest_with_id: HashMap::new(),
            earlier_with_id: Vec::new(),
            tab: Tab::Handshakes,
            conns: Listing::default(),
            tls: Listing::default(),
            h2: Listing::default(),
            filter_before_edit: None,
            frame_log_bytes: 0,
            frame_logs_given_up: 0,
            hops: HashMap::new(),
            notices: Vec::new(),
            tls_counts: (0, 0),
            socketio_counts: (0, 0),
            engineio: Listing::default(),
            view: Vec::new(),
            hay: Haystacks::default(),
            grouped: true,
            incidents: Incidents::new(Limits {
                max_groups: MAX_RECORDS,
                max_listed: MAX_LISTED_PER_GROUP,
                problems_only: false,
            }),
            groups_dirty: false,
            groups: HashMap::new(),
            member_of: HashMap::new(),
            expanded: BTreeSet::new(),
            sort: SortKey::Time,
            descending: false,
            filter: Filter::default(),
            filter_input: None,
            selected: 0,
            offset: 0,
            table_rows: 10,
            follow: true,
            paused: false,
            arrived_while_paused: 0,
            screen: Screen::Table,
            detail_scroll: 0,
            detail_hex: false,
            hex: None,
            hex_loading: None,
            overlay: None,
            status: None,
            redacted: false,
        }
    }

    /// The same model for a capture file: it opens on the first row, with follow off, as a
    /// reader starts at the top (live capture follows the newest).
    #[must_use]
    pub fn reading_a_file(mut self) -> Self {
        self.follow = false;
        self
    }

    /// The same model with no search text cached: every filter pass formats and lower-cases
    /// each record again, as every keystroke did before the cache (the timing test measures
    /// a keystroke both ways).
    #[must_use]
    pub fn without_search_cache(mut self) -> Self {
        self.hay.disable();
        self.conns.disable_search_cache();
        self.tls.disable_search_cache();
        self.h2.disable_search_cache();
        self.engineio.disable_search_cache();
        self
    }

    /// The same model, reading `files` merged (what a pcap export reads again).
    #[must_use]
    pub fn merging(mut self, files: Vec<String>) -> Self {
        self.merged_files = files;
        self
    }

    /// The same model, saying whether its records arrive redacted (see [`App::redacted`]).
    #[must_use]
    pub fn redacted(mut self, redacted: bool) -> Self {
        self.redacted = redacted;
        self
    }

    /// Takes one producer message.
    pub fn apply_feed(&mut self, feed: Feed) {
        match feed {
            Feed::Event(event) => self.apply(event),
            Feed::Packets(store) => self.packets = Some(store),
            Feed::PacketLists(lists) => self.packet_lists = Some(lists),
            Feed::Progress(p) => self.progress = p,
            Feed::Finished { progress, error } => {
                self.settle();
                self.progress = progress;
                self.state = match error {
                    Some(e) => CaptureState::Failed(e),
                    None => CaptureState::Finished,
                };
            }
        }
    }

    /// Takes one engine event (by value: a record moves into the model without a copy).
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Notice(n) => {
                if self.notices.len() < MAX_NOTICES && !self.notices.contains(&n) {
                    self.notices.push(n);
                }
            }
            Event::Handshake(record) => self.add_record(record),
            Event::EngineIo(s) => {
                self.socketio_counts.0 += 1;
                self.socketio_counts.1 += u64::from(
                    s.findings
                        .iter()
                        .any(|f| f.severity > crate::finding::Severity::Info),
                );
                let follow = self.follow;
                self.engineio.push(Arc::from(s), &self.filter, follow);
            }
            Event::Tls(t) => {
                self.tls_counts.0 += 1;
                self.tls_counts.1 += u64::from(t.outcome.is_failure());
                let follow = self.follow;
                self.tls.push(Arc::from(t), &self.filter, follow);
            }
            Event::Hop(hop) => {
                // The legs as this capture's records: the latest with each id, on the
                // endpoints the hop names (the client leg goes to the proxy).
                let down = self.latest_with(hop.downstream, |r| r.server == hop.proxy);
                let up = self.latest_with(hop.upstream, |r| r.server == hop.upstream_server);
                if self.hops.len() < MAX_RECORDS && (down.is_some() || up.is_some()) {
                    self.incidents.hop(&hop);
                    self.groups_dirty = true;
                    self.counts_dirty = true;
                    let hop: Arc<HopLink> = Arc::from(hop);
                    for leg in [down, up].into_iter().flatten() {
                        self.hops.insert(leg, Arc::clone(&hop));
                        // The leg now shows the hop's corrected cause: search that.
                        self.hay.invalidate(leg);
                        self.build_haystack(leg);
                    }
                }
            }
            Event::Connection(mut record) => {
                let log = record.frame_log.memory();
                if self.frame_log_bytes.saturating_add(log) > MAX_FRAME_LOG_BYTES {
                    record.frame_log.forget_frames();
                    self.frame_logs_given_up += 1;
                } else {
                    self.frame_log_bytes += log;
                }
                let record: Arc<ConnectionRecord> = Arc::from(record);
                let handshake = record
                    .handshake_id
                    .and_then(|id| self.latest_with(id, |r| r.community_id == record.community_id));
                let opened_by = handshake.and_then(|i| self.record(i));
                let row = ConnRow {
                    host: opened_by.and_then(|r| r.host.clone()),
                    path: opened_by.and_then(|r| r.path.clone()),
                    record: Arc::clone(&record),
                    handshake,
                };
                if let Some(i) = handshake {
                    self.connections.insert(i, record);
                }
                let follow = self.follow;
                self.conns.push(Arc::new(row), &self.filter, follow);
            }
        }
    }

    /// Handshakes as a person counts them, per verdict (ok, warning, failed, incomplete):
    /// incidents, a proxied handshake's legs once with the worst leg's verdict (as of the
    /// last [`App::settle`]), and (the second value) how many of them were proxied.
    #[must_use]
    pub fn incident_counts(&self) -> ([u64; 4], u64) {
        let mut out = self.not_kept;
        for v in VERDICTS_WORST_FIRST {
            if let Some(n) = out.get_mut(verdict_index(v)) {
                *n += self.incident_counts.with_verdict(v);
            }
        }
        (out, self.incident_counts.proxied)
    }

    /// The proxy hop the kept record at `index` is a leg of (either leg), when both legs
    /// were captured.
    #[must_use]
    pub fn hop_at(&self, index: usize) -> Option<&HopLink> {
        self.hops.get(&index).map(AsRef::as_ref)
    }

    /// The proxy hop record `r` (one this model keeps: from [`App::record`],
    /// [`App::selected_record`], a tab's row) is a leg of.
    #[must_use]
    pub fn hop_of(&self, r: &HandshakeRecord) -> Option<&HopLink> {
        self.hop_at(self.index_of(r)?)
    }

    /// Bytes of connections' frame logs kept (at most [`MAX_FRAME_LOG_BYTES`]).
    #[must_use]
    pub fn frame_log_bytes(&self) -> usize {
        self.frame_log_bytes
    }

    /// The kept handshake that opened the connection of `row`, when it was captured and kept.
    #[must_use]
    pub fn opened_by(&self, row: &ConnRow) -> Option<&HandshakeRecord> {
        self.record(row.handshake?)
    }

    /// [`App::opened_by`], shared (for a load on another thread).
    #[must_use]
    pub fn opened_by_shared(&self, row: &ConnRow) -> Option<Arc<HandshakeRecord>> {
        self.records.get(row.handshake?).cloned()
    }

    /// How the connection opened by the kept record at `index` ended, once it has.
    #[must_use]
    pub fn connection_at(&self, index: usize) -> Option<&ConnectionRecord> {
        self.connections.get(&index).map(AsRef::as_ref)
    }

    /// How the connection opened by record `r` (one this model keeps) ended, once it has.
    #[must_use]
    pub fn connection_of(&self, r: &HandshakeRecord) -> Option<&ConnectionRecord> {
        self.connection_at(self.index_of(r)?)
    }

    /// The latest kept record with id `id` that `pred` accepts, as an index.
    fn latest_with(&self, id: u64, pred: impl Fn(&HandshakeRecord) -> bool) -> Option<usize> {
        let mut at = self.latest_with_id.get(&id).copied();
        while let Some(i) = at {
            let r = self.records.get(i)?;
            if pred(r) {
                return Some(i);
            }
            at = self
                .earlier_with_id
                .get(i)
                .copied()
                .filter(|p| *p != usize::MAX);
        }
        None
    }

    /// The index of record `r`, when it is one this model keeps (the same record, not an
    /// equal copy).
    fn index_of(&self, r: &HandshakeRecord) -> Option<usize> {
        self.latest_with(r.id, |k| std::ptr::eq(k, r))
    }

    fn add_record(&mut self, record: Arc<HandshakeRecord>) {
        if let Some(c) = self.counts.get_mut(verdict_index(record.verdict)) {
            *c += 1;
        }
        if record.h2.is_some() {
            let follow = self.follow;
            self.h2
                .push(Arc::new(H2Row(Arc::clone(&record))), &self.filter, follow);
        }
        if self.records.len() >= MAX_RECORDS {
            self.records_not_kept += 1;
            if let Some(c) = self.not_kept.get_mut(verdict_index(record.verdict)) {
                *c += 1;
            }
            return;
        }
        for f in &record.findings {
            self.codes_seen.insert(f.code);
        }
        let index = self.records.len();
        let earlier = self.latest_with_id.insert(record.id, index);
        self.earlier_with_id.push(earlier.unwrap_or(usize::MAX));
        self.incidents.record(&record);
        self.groups_dirty = true;
        self.counts_dirty = true;
        self.records.push(record);
        self.build_haystack(index);
        if self.paused {
            self.arrived_while_paused += 1;
            return;
        }
        if self.grouped {
            // The rows change when the groups are taken again (`settle`), once per batch of
            // events, not once per record.
            return;
        }
        let Some(new) = self.records.get(index) else {
            return;
        };
        if !self.shows(index) {
            return;
        }
        let pos = self.view.partition_point(|&i| {
            self.records
                .get(i)
                .is_some_and(|r| self.order(r, new) == Ordering::Less)
        });
        self.view.insert(pos, index);
        if self.follow {
            self.selected = pos;
        } else if pos <= self.selected && self.view.len() > 1 {
            // Keep the same handshake selected and the same rows on screen.
            self.selected += 1;
            if pos < self.offset {
                self.offset += 1;
            }
        }
        self.scroll_to_selection();
    }

    /// Builds the search text of the kept record at `index` (unless cached).
    fn build_haystack(&mut self, index: usize) {
        let (Some(r), hop) = (self.records.get(index), self.hops.get(&index)) else {
            return;
        };
        self.hay
            .build(index, |out| record_haystack(r, hop.map(AsRef::as_ref), out));
    }

    /// Whether the kept record at `index` passes the filter (its text from the cache).
    fn shows(&self, index: usize) -> bool {
        let Some(r) = self.records.get(index) else {
            return false;
        };
        self.filter.matches_quick(r)
            && self.hay.terms_in(&self.filter, index, |out| {
                record_haystack(r, self.hop_at(index), out);
            })
    }

    /// Bytes of search text cached, over every tab.
    #[must_use]
    pub fn haystack_bytes(&self) -> usize {
        self.hay.bytes()
            + self.conns.haystack_bytes()
            + self.tls.haystack_bytes()
            + self.h2.haystack_bytes()
            + self.engineio.haystack_bytes()
    }

    /// Takes the groups again when records or hops arrived since the last time: the event
    /// loop calls this once per batch of events, before drawing (grouping costs the number
    /// of groups, so it is not done per record or per frame).
    pub fn settle(&mut self) {
        // The header counts incidents even while the table is paused or flat.
        if self.counts_dirty {
            self.counts_dirty = false;
            self.incident_counts = self.incidents.counts();
        }
        if self.grouped && self.groups_dirty && !self.paused {
            self.regroup();
            self.rebuild();
        }
    }

    fn regroup(&mut self) {
        self.groups_dirty = false;
        self.groups.clear();
        self.member_of.clear();
        for g in self.incidents.groups() {
            let Some(head) = g.exemplar.first().and_then(|r| self.index_of(r)) else {
                continue;
            };
            let mut members = Vec::new();
            for incident in &g.incidents {
                for (n, leg) in incident.legs.iter().enumerate() {
                    match self.index_of(&leg.record) {
                        Some(i) if i != head => members.push((i, n > 0)),
                        _ => {}
                    }
                }
            }
            for &(m, _) in &members {
                self.member_of.insert(m, head);
            }
            self.groups.insert(
                head,
                GroupRow {
                    count: g.count,
                    proxied: g.proxied(),
                    members,
                },
            );
        }
        let groups = &self.groups;
        self.expanded.retain(|h| groups.contains_key(h));
    }

    /// What the row at view position `pos` is: a group standing for several handshakes, a
    /// leg or incident listed below an expanded group, or a handshake on its own.
    #[must_use]
    pub fn row_mark(&self, pos: usize) -> RowMark {
        let Some(&i) = self.view.get(pos) else {
            return RowMark::Single;
        };
        if !self.grouped {
            return RowMark::Single;
        }
        if let Some(g) = self.groups.get(&i) {
            if g.count > 1 || g.proxied {
                return RowMark::Group {
                    count: g.count,
                    proxied: g.proxied,
                    expanded: self.expanded.contains(&i),
                };
            }
            return RowMark::Single;
        }
        let leg = self
            .member_of
            .get(&i)
            .and_then(|h| self.groups.get(h))
            .and_then(|g| g.members.iter().find(|(m, _)| *m == i))
            .is_some_and(|(_, leg)| *leg);
        if leg {
            RowMark::Leg
        } else {
            RowMark::Another
        }
    }

    /// Whether the selection is a group whose legs or incidents are hidden (Enter shows them
    /// before it opens the details).
    fn collapsed_group_selected(&self) -> bool {
        self.grouped
            && self.tab == Tab::Handshakes
            && self.screen == Screen::Table
            && self.selected_index().is_some_and(|i| {
                !self.expanded.contains(&i)
                    && self.groups.get(&i).is_some_and(|g| !g.members.is_empty())
            })
    }

    /// Shows (`true`) or hides the legs and incidents of the selected row's group; hiding
    /// from a member selects its group.
    fn expand(&mut self, open: bool) {
        if !self.grouped || self.screen != Screen::Table || self.tab != Tab::Handshakes {
            return;
        }
        let Some(sel) = self.selected_index() else {
            return;
        };
        let head = self.member_of.get(&sel).copied().unwrap_or(sel);
        let has_members = self
            .groups
            .get(&head)
            .is_some_and(|g| !g.members.is_empty());
        if !has_members {
            return;
        }
        let changed = if open {
            self.expanded.insert(head)
        } else {
            self.expanded.remove(&head)
        };
        if changed || head != sel {
            self.follow = false;
            self.rebuild_selecting(Some(head));
        }
    }

    fn order(&self, a: &HandshakeRecord, b: &HandshakeRecord) -> Ordering {
        let o = if self.sort == SortKey::Finding {
            // The hop's corrected cause, not the code the client leg blames.
            self.top_code(a).cmp(&self.top_code(b))
        } else {
            self.sort.compare(a, b)
        }
        .then(a.id.cmp(&b.id));
        if self.descending {
            o.reverse()
        } else {
            o
        }
    }

    /// The finding code the table shows for `r`: the hop's corrected cause when `r` is the
    /// client leg of a hop that carries one, else the record's top finding.
    fn top_code(&self, r: &HandshakeRecord) -> Option<&'static str> {
        match self.hop_of(r) {
            Some(h) => h.corrected_findings(&r.findings, r.id).first().copied(),
            None => r.top_finding(),
        }
        .map(|f| f.code.as_str())
    }

    /// Rebuilds the view after a sort, filter or pause change, keeping the selected handshake
    /// selected when it is still shown.
    fn rebuild(&mut self) {
        let keep = self.selected_index();
        self.rebuild_selecting(keep);
    }

    fn rebuild_selecting(&mut self, keep: Option<usize>) {
        self.rebuild_among(keep, None);
    }

    /// [`Self::rebuild_selecting`], looking only at the rows (group heads, or records) in
    /// `among` when given: the view of a wider filter.
    fn rebuild_among(
        &mut self,
        keep: Option<usize>,
        among: Option<&std::collections::HashSet<usize>>,
    ) {
        let shown = |i: usize| self.shows(i);
        let candidate = |i: usize| among.is_none_or(|a| a.contains(&i));
        let mut view: Vec<usize> = if self.grouped {
            // A group is shown when any of its listed handshakes matches the filter.
            self.groups
                .iter()
                .filter(|(&h, g)| {
                    candidate(h) && (shown(h) || g.members.iter().any(|&(m, _)| shown(m)))
                })
                .map(|(&h, _)| h)
                .collect()
        } else {
            (0..self.records.len())
                .filter(|&i| candidate(i) && shown(i))
                .collect()
        };
        view.sort_by(|&a, &b| match (self.records.get(a), self.records.get(b)) {
            (Some(a), Some(b)) => self.order(a, b),
            _ => Ordering::Equal,
        });
        if self.grouped && !self.expanded.is_empty() {
            let mut with_members = Vec::with_capacity(view.len());
            for h in view {
                with_members.push(h);
                if self.expanded.contains(&h) {
                    if let Some(g) = self.groups.get(&h) {
                        with_members.extend(g.members.iter().map(|&(m, _)| m));
                    }
                }
            }
            view = with_members;
        }
        self.view = view;
        self.selected = if self.follow {
            self.newest_position()
        } else {
            let head = keep.and_then(|k| self.member_of.get(&k).copied());
            keep.and_then(|k| self.view.iter().position(|&i| i == k))
                .or_else(|| head.and_then(|h| self.view.iter().position(|&i| i == h)))
                .unwrap_or(0)
        };
        self.scroll_to_selection();
    }

    fn newest_position(&self) -> usize {
        // Records are stored in arrival order, so the newest has the largest index.
        self.view
            .iter()
            .enumerate()
            .max_by_key(|&(_, &i)| i)
            .map_or(0, |(pos, _)| pos)
    }

    fn scroll_to_selection(&mut self) {
        let rows = self.table_rows.max(1);
        self.selected = self.selected.min(self.view.len().saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        let max_offset = self.view.len().saturating_sub(rows);
        self.offset = self.offset.min(max_offset);
    }

    /// Tells the model how many table rows fit on screen (the event loop calls this on every
    /// resize, from the same layout the renderer uses).
    pub fn set_table_rows(&mut self, rows: usize) {
        self.table_rows = rows.max(1);
        self.scroll_to_selection();
        self.conns.set_rows(rows);
        self.tls.set_rows(rows);
        self.h2.set_rows(rows);
        self.engineio.set_rows(rows);
    }

    /// The handshakes shown in the table (after filter), in display order.
    #[must_use]
    pub fn view_len(&self) -> usize {
        self.view.len()
    }

    /// Handshakes kept.
    #[must_use]
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// The record stored at `index` (arrival order).
    #[must_use]
    pub fn record(&self, index: usize) -> Option<&HandshakeRecord> {
        self.records.get(index).map(AsRef::as_ref)
    }

    /// Position of the selection in the view.
    #[must_use]
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// First view position on screen.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    fn selected_index(&self) -> Option<usize> {
        self.view.get(self.selected).copied()
    }

    /// The selected handshake, if the view is not empty.
    #[must_use]
    pub fn selected_record(&self) -> Option<&HandshakeRecord> {
        self.selected_index().and_then(|i| self.record(i))
    }

    /// The rows from `offset` on, at most `rows` of them: (view position, record). This is the
    /// only way the renderer reads the table, so drawing costs the visible rows, not `n`.
    pub fn visible(&self, rows: usize) -> impl Iterator<Item = (usize, &HandshakeRecord)> {
        // Clamp here too so a renderer given a bigger area than announced still shows the
        // selection.
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
            .filter_map(|(pos, &i)| self.record(i).map(|r| (pos, r)))
    }

    /// Finding codes seen so far, for the code quick filter.
    pub fn codes_seen(&self) -> impl Iterator<Item = Code> + '_ {
        self.codes_seen.iter().copied()
    }

    /// Which keys apply now.
    #[must_use]
    pub fn key_mode(&self) -> KeyMode {
        if self.filter_input.is_some() {
            KeyMode::Filter
        } else {
            KeyMode::Normal
        }
    }

    /// Shows a message box (text must already be escaped).
    pub fn show_popup(&mut self, title: impl Into<String>, body: impl Into<String>) {
        self.overlay = Some(Overlay::Popup {
            title: title.into(),
            body: body.into(),
        });
    }

    /// Applies one user action; returns the side effect the event loop must carry out.
    pub fn update(&mut self, action: Action) -> Option<Effect> {
        // An overlay takes the keys that close it; anything else closes it and goes on.
        if self.overlay.is_some() {
            match action {
                Action::Quit => return Some(Effect::Quit),
                Action::Back | Action::Help | Action::Open => {
                    self.overlay = None;
                    return None;
                }
                _ => self.overlay = None,
            }
        }
        if self.tab != Tab::Handshakes && self.filter_input.is_none() {
            if let Some(effect) = self.update_tab(&action) {
                return effect;
            }
        }
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::ShowTab(tab) => self.show_tab(tab),
            Action::NextTab => {
                let tabs = self.tabs();
                let at = tabs.iter().position(|&t| t == self.tab).unwrap_or(0);
                let next = tabs.get(at + 1).or(tabs.first()).copied();
                if let Some(tab) = next {
                    self.show_tab(tab);
                }
            }
            Action::SortColumn(_) => {}
            Action::NextMatch => return Some(Effect::Jump(Jump::NextMatch)),
            Action::PrevMatch => return Some(Effect::Jump(Jump::PrevMatch)),
            Action::JumpToClose => return Some(Effect::Jump(Jump::Close)),
            Action::Back => {
                if self.filter_input.take().is_some() {
                    if let Some(before) = self.filter_before_edit.take() {
                        self.set_filter(before);
                    }
                } else if self.screen == Screen::Detail {
                    self.screen = Screen::Table;
                } else {
                    return Some(Effect::Quit);
                }
            }
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Move(n) => self.move_by(n),
            Action::Page(n) => {
                let rows = i64::try_from(self.table_rows).unwrap_or(1);
                self.move_by(n.saturating_mul(rows));
            }
            Action::Top => {
                if self.screen == Screen::Detail {
                    self.detail_scroll = 0;
                } else {
                    self.follow = false;
                    self.selected = 0;
                    self.scroll_to_selection();
                }
            }
            Action::Bottom if self.screen == Screen::Detail => {
                return Some(Effect::Jump(Jump::End));
            }
            Action::Bottom => {
                if self.screen == Screen::Table {
                    self.follow = true;
                    self.selected = self.view.len().saturating_sub(1);
                    self.scroll_to_selection();
                }
            }
            Action::ClickRow(row) => {
                if self.screen == Screen::Table {
                    let pos = self.visible(self.table_rows).nth(row).map(|(p, _)| p);
                    if let Some(pos) = pos {
                        if pos == self.selected {
                            return self.update(Action::Open);
                        }
                        self.follow = false;
                        self.selected = pos;
                        self.scroll_to_selection();
                    }
                }
            }
            Action::HexPackets(_) => {
                self.status = Some(
                    "a connection's packets: open its raw packets in the connections tab (2)"
                        .into(),
                );
            }
            Action::Expand => self.expand(true),
            Action::Collapse => self.expand(false),
            Action::ToggleGrouped => {
                self.grouped = !self.grouped;
                if self.grouped {
                    self.regroup();
                }
                self.rebuild();
                self.status = Some(if self.grouped {
                    "incidents: a proxied handshake's legs and repeated failures are one row (→ expands)".into()
                } else {
                    "every handshake record on its own row".into()
                });
            }
            Action::Open if self.collapsed_group_selected() => self.expand(true),
            Action::Open => {
                if self.screen == Screen::Table && self.selected_record().is_some() {
                    self.screen = Screen::Detail;
                    self.detail_scroll = 0;
                    self.detail_hex = false;
                }
            }
            Action::ToggleHex => {
                if self.screen == Screen::Detail {
                    self.detail_hex = !self.detail_hex;
                    self.detail_scroll = 0;
                    let id = self.selected_record().map(|r| r.id);
                    let loaded = self
                        .hex
                        .as_ref()
                        .filter(|h| h.connection.is_none())
                        .map(|h| h.record_id);
                    if self.detail_hex && id.is_some() && loaded != id {
                        return self.selected_index().map(Effect::LoadHex);
                    }
                }
            }
            Action::ToggleFollow => {
                self.follow = !self.follow;
                if self.follow {
                    self.selected = self.newest_position();
                    self.scroll_to_selection();
                }
            }
            Action::TogglePause => {
                self.paused = !self.paused;
                if !self.paused {
                    self.arrived_while_paused = 0;
                    if self.grouped && self.groups_dirty {
                        self.regroup();
                    }
                    self.rebuild();
                }
            }
            Action::SortNext => {
                self.sort = self.sort.next();
                self.rebuild();
            }
            Action::SortReverse => {
                self.descending = !self.descending;
                self.rebuild();
            }
            Action::SortBy(key) => {
                if self.sort == key {
                    self.descending = !self.descending;
                } else {
                    self.sort = key;
                    self.descending = false;
                }
                self.rebuild();
            }
            Action::EditFilter => {
                self.filter_before_edit = Some(self.filter.clone());
                self.filter_input = Some(self.filter.describe());
            }
            Action::FilterChar(c) => {
                if let Some(input) = self.filter_input.as_mut() {
                    // A filter is short; the cap keeps a stuck key from growing it forever.
                    if input.chars().count() < 256 && !c.is_control() {
                        input.push(c);
                    }
                }
                self.filter_as_typed();
            }
            Action::FilterBackspace => {
                if let Some(input) = self.filter_input.as_mut() {
                    input.pop();
                }
                self.filter_as_typed();
            }
            Action::FilterApply => {
                self.filter_before_edit = None;
                if let Some(input) = self.filter_input.take() {
                    match Filter::parse(&input) {
                        Ok(f) => self.set_filter(f),
                        Err(e) => self.status = Some(e),
                    }
                }
            }
            Action::CycleVerdict => {
                // None, then every verdict worst first, then None again.
                let next = match self.filter.verdict {
                    None => VERDICTS_WORST_FIRST.first().copied(),
                    Some(cur) => VERDICTS_WORST_FIRST
                        .iter()
                        .skip_while(|&&v| v != cur)
                        .nth(1)
                        .copied(),
                };
                let mut f = self.filter.clone();
                f.verdict = next;
                self.set_filter(f);
            }
            Action::CycleCode => {
                let mut codes = self.codes_seen.iter().copied();
                let next = match self.filter.code {
                    None => codes.next(),
                    Some(cur) => codes.find(|&c| c > cur),
                };
                let mut f = self.filter.clone();
                f.code = next;
                self.set_filter(f);
            }
            Action::ClearFilters => self.set_filter(Filter::default()),
            Action::CopyCurl => return self.selected_index().map(Effect::CopyCurl),
            Action::ExportPcap => return self.selected_index().map(Effect::ExportPcap),
            Action::ExportJson => return self.selected_index().map(Effect::ExportJson),
        }
        None
    }

    fn set_filter(&mut self, filter: Filter) {
        if self.screen == Screen::Detail {
            self.screen = Screen::Table;
        }
        // Enter after typing applies the filter already applied as typed: every tab's view
        // is what it would rebuild (a rebuild is a pass over every record kept).
        if filter == self.filter {
            return;
        }
        // Typing one more character: only the rows shown can still pass.
        let narrower = filter.narrows(&self.filter);
        self.filter = filter;
        if narrower {
            let shown: std::collections::HashSet<usize> = self.view.iter().copied().collect();
            let keep = self.selected_index();
            self.rebuild_among(keep, Some(&shown));
            self.conns.narrow(&self.filter);
            self.tls.narrow(&self.filter);
            self.h2.narrow(&self.filter);
            self.engineio.narrow(&self.filter);
            return;
        }
        self.rebuild();
        self.conns.rebuild(&self.filter);
        self.tls.rebuild(&self.filter);
        self.h2.rebuild(&self.filter);
        self.engineio.rebuild(&self.filter);
    }

    /// Filters as the bar is typed into: each edit that parses is applied at once (a
    /// half-typed `code:` that names nothing yet keeps the last filter that did parse).
    fn filter_as_typed(&mut self) {
        let Some(input) = self.filter_input.as_deref() else {
            return;
        };
        if let Ok(f) = Filter::parse(input) {
            if f != self.filter {
                let keep_screen = self.screen;
                self.set_filter(f);
                self.screen = keep_screen;
            }
        }
    }

    /// The tabs the tab bar shows: handshakes and connections always, TLS and HTTP/2
    /// streams once they have records.
    #[must_use]
    pub fn tabs(&self) -> Vec<Tab> {
        Tab::ALL
            .into_iter()
            .filter(|t| match t {
                Tab::Handshakes | Tab::Connections => true,
                Tab::Tls => !self.tls.is_empty(),
                Tab::H2 => !self.h2.is_empty(),
                Tab::EngineIo => !self.engineio.is_empty(),
            })
            .collect()
    }

    /// (rows shown, rows kept) of `tab`, for its title.
    #[must_use]
    pub fn tab_counts(&self, tab: Tab) -> (usize, usize) {
        match tab {
            Tab::Handshakes => (self.view_len(), self.record_count()),
            Tab::Connections => (self.conns.view_len(), self.conns.len()),
            Tab::Tls => (self.tls.view_len(), self.tls.len()),
            Tab::H2 => (self.h2.view_len(), self.h2.len()),
            Tab::EngineIo => (self.engineio.view_len(), self.engineio.len()),
        }
    }

    /// (position of the selection from 1, rows shown) in the current tab.
    #[must_use]
    pub fn position(&self) -> (usize, usize) {
        let (sel, len) = match self.tab {
            Tab::Handshakes => (self.selected, self.view_len()),
            Tab::Connections => (self.conns.selected(), self.conns.view_len()),
            Tab::Tls => (self.tls.selected(), self.tls.view_len()),
            Tab::H2 => (self.h2.selected(), self.h2.view_len()),
            Tab::EngineIo => (self.engineio.selected(), self.engineio.view_len()),
        };
        (if len == 0 { 0 } else { sel + 1 }, len)
    }

    fn show_tab(&mut self, tab: Tab) {
        if self.tabs().contains(&tab) {
            self.tab = tab;
            self.screen = Screen::Table;
            self.detail_scroll = 0;
            self.detail_hex = false;
        } else {
            self.status = Some(format!("no {} in this capture", tab.title()));
        }
    }

    /// The selected connection (connections tab).
    #[must_use]
    pub fn selected_connection(&self) -> Option<&ConnRow> {
        self.conns.selected_record()
    }

    /// The handshake record behind the selected row of the current tab, as an index.
    fn handshake_of_selection(&self) -> Option<usize> {
        match self.tab {
            Tab::Handshakes => self.selected_index(),
            Tab::Connections => self.conns.selected_record().and_then(|c| c.handshake),
            Tab::H2 => self.h2.selected_record().and_then(|r| self.index_of(&r.0)),
            Tab::Tls | Tab::EngineIo => None,
        }
    }

    /// Actions the tabs other than the handshake table take themselves; `None` leaves the
    /// action to the common handling.
    #[allow(clippy::too_many_lines)]
    fn update_tab(&mut self, action: &Action) -> Option<Option<Effect>> {
        let table = self.screen == Screen::Table;
        let filter = self.filter.clone();
        macro_rules! each {
            ($l:ident => $e:expr) => {
                match self.tab {
                    Tab::Connections => {
                        let $l = &mut self.conns;
                        $e
                    }
                    Tab::Tls => {
                        let $l = &mut self.tls;
                        $e
                    }
                    Tab::H2 => {
                        let $l = &mut self.h2;
                        $e
                    }
                    Tab::EngineIo => {
                        let $l = &mut self.engineio;
                        $e
                    }
                    Tab::Handshakes => {}
                }
            };
        }
        match action {
            // A session opens to its details with → too, and ← goes back, as rows that
            // expand do in the handshake table.
            Action::Expand if table && self.tab == Tab::EngineIo => {
                return Some(self.update(Action::Open));
            }
            Action::Collapse if !table && self.tab == Tab::EngineIo => {
                return Some(self.update(Action::Back));
            }
            Action::Move(n) if table => each!(l => l.move_by(*n)),
            Action::Page(n) if table => each!(l => l.page(*n)),
            Action::Top if table => each!(l => l.top()),
            Action::Bottom if table => each!(l => l.bottom()),
            Action::Bottom => return Some(Some(Effect::Jump(Jump::End))),
            Action::SortNext => each!(l => l.sort_next(&filter)),
            Action::SortReverse => each!(l => l.reverse(&filter)),
            Action::SortColumn(c) => each!(l => l.sort_by(*c, &filter)),
            Action::SortBy(_) => {}
            Action::ClickRow(n) if table => {
                let mut again = false;
                each!(l => again = l.click(*n));
                if again {
                    return Some(self.update(Action::Open));
                }
            }
            Action::ClickRow(_) => {}
            Action::Open => {
                let any = match self.tab {
                    Tab::Connections => self.conns.selected_record().is_some(),
                    Tab::Tls => self.tls.selected_record().is_some(),
                    Tab::H2 => self.h2.selected_record().is_some(),
                    Tab::EngineIo => self.engineio.selected_record().is_some(),
                    Tab::Handshakes => false,
                };
                if table && any {
                    self.screen = Screen::Detail;
                    self.detail_scroll = 0;
                    self.detail_hex = false;
                }
            }
            Action::ToggleHex => {
                if self.screen != Screen::Detail {
                    return Some(None);
                }
                if self.tab != Tab::Connections {
                    self.status = Some("raw bytes: open the handshake in its tab".into());
                    return Some(None);
                }
                self.detail_hex = !self.detail_hex;
                self.detail_scroll = 0;
                let at = self.conns.selected_index();
                let loaded = self.hex.as_ref().and_then(|h| h.connection);
                if let (true, Some(at)) = (self.detail_hex && loaded != at, at) {
                    return Some(Some(Effect::LoadConnectionHex(at, HexWindow::Ends)));
                }
            }
            Action::HexPackets(step) => return Some(self.hex_step(*step)),
            Action::CopyCurl | Action::ExportPcap | Action::ExportJson => {
                let Some(i) = self.handshake_of_selection() else {
                    self.status = Some("the handshake of this row was not captured".into());
                    return Some(None);
                };
                return Some(Some(match action {
                    Action::CopyCurl => Effect::CopyCurl(i),
                    Action::ExportPcap => Effect::ExportPcap(i),
                    _ => Effect::ExportJson(i),
                }));
            }
            Action::ToggleFollow => {
                self.follow = !self.follow;
                if self.follow {
                    each!(l => l.bottom());
                }
            }
            _ => return None,
        }
        Some(None)
    }

    fn move_by(&mut self, n: i64) {
        if self.screen == Screen::Detail {
            let step = i32::try_from(n).unwrap_or(0);
            self.detail_scroll =
                u16::try_from((i32::from(self.detail_scroll) + step).clamp(0, i32::from(u16::MAX)))
                    .unwrap_or(0);
            return;
        }
        self.follow = false;
        let len = i64::try_from(self.view.len()).unwrap_or(i64::MAX);
        let cur = i64::try_from(self.selected).unwrap_or(0);
        let next = cur.saturating_add(n).clamp(0, (len - 1).max(0));
        self.selected = usize::try_from(next).unwrap_or(0);
        self.scroll_to_selection();
    }

    /// Stores the raw packets loaded for the hex view.
    pub fn set_hex(&mut self, hex: HexDump) {
        // What the loader found may differ from what was asked (clamped to the end).
        if self
            .hex_loading
            .is_some_and(|l| Some(l.connection) == hex.connection)
        {
            self.hex_loading = None;
        }
        self.hex = Some(hex);
    }

    /// The connection hex view on screen, with the packets it shows or waits for: what a
    /// load running elsewhere is still wanted for (the event loop gives up any other).
    #[must_use]
    pub fn hex_wanted(&self) -> Option<(usize, HexWindow)> {
        if self.screen != Screen::Detail || !self.detail_hex || self.tab != Tab::Connections {
            return None;
        }
        let at = self.conns.selected_index()?;
        if let Some(l) = self.hex_loading.filter(|l| l.connection == at) {
            return Some((at, l.window));
        }
        self.hex
            .as_ref()
            .filter(|h| h.connection == Some(at))
            .map(|h| (at, h.window))
    }

    /// Moves the connection hex view to other packets of the connection: `step` pages of
    /// [`MAX_HEX_PACKETS`] on or back, or (beyond ±1000) tenths of the connection.
    fn hex_step(&mut self, step: HexStep) -> Option<Effect> {
        let Some((at, _)) = self.hex_wanted() else {
            self.status = Some("packets: open a connection's raw packets (Enter, Tab)".into());
            return None;
        };
        let shown = self.hex.as_ref().filter(|h| h.connection == Some(at));
        let current = self
            .hex_loading
            .filter(|l| l.connection == at)
            .map(|l| l.window)
            .or(shown.map(|h| h.window))
            .unwrap_or_default();
        // Unknown total (a connection not listed): the scan finds where the end is.
        let total = shown.and_then(|h| h.total).unwrap_or(u64::MAX);
        let page = MAX_HEX_PACKETS as u64;
        let ends = super::flows::EACH_END as u64;
        let last_page = total.saturating_sub(page);
        let tenth = (total / 10).max(page);
        let from = match (current, step) {
            (HexWindow::Ends, HexStep::Next) => ends,
            (HexWindow::Ends, HexStep::Previous) => total.saturating_sub(ends + page),
            (HexWindow::Ends, HexStep::TenthOn) => tenth,
            (HexWindow::Ends, HexStep::TenthBack) => last_page.saturating_sub(tenth),
            (HexWindow::From(p), HexStep::Next) => p.saturating_add(page),
            (HexWindow::From(p), HexStep::Previous) => p.saturating_sub(page),
            (HexWindow::From(p), HexStep::TenthOn) => p.saturating_add(tenth),
            (HexWindow::From(p), HexStep::TenthBack) => p.saturating_sub(tenth),
        }
        .min(last_page);
        let window = HexWindow::From(from);
        if window == current {
            self.status = Some(match step {
                HexStep::Next | HexStep::TenthOn => {
                    "the connection's last packets are shown".into()
                }
                _ => "the connection's first packets are shown".into(),
            });
            return None;
        }
        self.detail_scroll = 0;
        self.hex_loading = Some(HexLoading {
            connection: at,
            window,
            ..HexLoading::default()
        });
        Some(Effect::LoadConnectionHex(at, window))
    }
}

/// What the filter searches in a handshake row: every text it or its detail view shows
/// ([`handshake_text`]), and the hop's corrected causes the table shows for a proxy leg.
fn record_haystack(r: &HandshakeRecord, hop: Option<&HopLink>, out: &mut String) {
    handshake_text(r, out);
    if let Some(h) = hop {
        for f in h.corrected_findings(&r.findings, r.id) {
            out.push_str(f.code.as_str());
            out.push('\n');
        }
    }
}

/// Index into [`App::counts`].
#[must_use]
pub(crate) fn verdict_index(v: Verdict) -> usize {
    match v {
        Verdict::Ok => 0,
        Verdict::Warning => 1,
        Verdict::Failed => 2,
        Verdict::Incomplete => 3,
    }
}

/// Ordering of records under a sort key (here, not in `action`, because it reads the
/// record through this module's helpers).
impl SortKey {
    pub(crate) fn compare(self, a: &HandshakeRecord, b: &HandshakeRecord) -> Ordering {
        match self {
            SortKey::Time => a.ts.cmp(&b.ts),
            SortKey::Client => a.client.cmp(&b.client),
            SortKey::Server => a.server.cmp(&b.server),
            SortKey::Host => a.host.cmp(&b.host),
            SortKey::Path => a.path.cmp(&b.path),
            SortKey::Status => a.status.cmp(&b.status),
            SortKey::Subprotocol => a.subprotocol.cmp(&b.subprotocol),
            // Real response times first, then the waits of unanswered requests (a wait is
            // not a response time), then rows with neither.
            SortKey::Latency => {
                let key = |r: &HandshakeRecord| {
                    (
                        r.timing.response_ms.is_none(),
                        latency_ms(r).unwrap_or(f64::INFINITY),
                    )
                };
                let (ka, kb) = (key(a), key(b));
                ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
            }
            // Failed sorts last (first when reversed): the order people triage in.
            SortKey::Verdict => verdict_rank(a.verdict).cmp(&verdict_rank(b.verdict)),
            SortKey::Finding => a
                .top_finding()
                .map(|f| f.code.as_str())
                .cmp(&b.top_finding().map(|f| f.code.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::tui::feed::read_all;

    fn sample(name: &str) -> String {
        format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// A model fed with every message of some real sample captures.
    fn app_with(samples: &[&str]) -> App {
        let mut app = App::new("test", None);
        for s in samples {
            for feed in read_all(&sample(s), EngineConfig::default()).unwrap() {
                app.apply_feed(feed);
            }
        }
        app
    }

    fn shown(app: &App) -> Vec<u64> {
        app.visible(usize::MAX).map(|(_, r)| r.id).collect()
    }

    const MIXED: &[&str] = &[
        "python-websockets-ok.pcap",
        "curl-bad-requests.pcap",
        "handcrafted-bad-accept.pcap",
        "no-response.pcap",
    ];

    #[test]
    fn records_stream_in_and_follow_selects_the_newest() {
        let app = app_with(MIXED);
        assert_eq!(app.record_count(), 7);
        assert_eq!(app.state, CaptureState::Finished);
        assert_eq!(app.counts.iter().sum::<u64>(), 7);
        assert_eq!(app.counts[verdict_index(Verdict::Ok)], 1);
        assert!(app.follow);
        // Each sample restarts ids at 1; the newest arrival is the last record stored.
        let newest = app.record(app.record_count() - 1).unwrap();
        assert_eq!(app.selected_record().unwrap(), newest);
    }

    #[test]
    fn scrolling_turns_follow_off_and_keeps_the_selection() {
        let mut app = app_with(&["curl-bad-requests.pcap"]);
        app.update(Action::Top);
        assert!(!app.follow);
        app.update(Action::Move(1));
        let picked = app.selected_record().unwrap().path.clone();
        // New arrivals do not move the selection away from the chosen handshake.
        for feed in read_all(&sample("auth-401.pcap"), EngineConfig::default()).unwrap() {
            app.apply_feed(feed);
        }
        assert_eq!(app.selected_record().unwrap().path, picked);
        app.update(Action::Bottom);
        assert!(app.follow);
        assert_eq!(app.selected(), app.view_len() - 1);
    }

    #[test]
    fn quick_filters_and_text_filter() {
        let mut app = app_with(MIXED);
        app.update(Action::CycleVerdict);
        assert_eq!(app.filter.verdict, Some(Verdict::Failed));
        assert!(app.visible(100).all(|(_, r)| r.verdict == Verdict::Failed));
        assert_eq!(
            app.view_len(),
            6,
            "4 curl rejections, bad accept, no response"
        );

        app.update(Action::EditFilter);
        assert_eq!(app.key_mode(), KeyMode::Filter);
        for c in " accept_mismatch".chars() {
            app.update(Action::FilterChar(c));
        }
        app.update(Action::FilterApply);
        assert_eq!(app.filter.code, Some(Code::AcceptMismatch));
        assert_eq!(app.view_len(), 1);
        assert_eq!(
            app.selected_record().unwrap().path.as_deref(),
            Some("/chat")
        );

        app.update(Action::ClearFilters);
        app.update(Action::EditFilter);
        for c in "short".chars() {
            app.update(Action::FilterChar(c));
        }
        app.update(Action::FilterApply);
        assert_eq!(app.view_len(), 1, "text matches the path /short-key");

        app.update(Action::EditFilter);
        for c in " code:nope".chars() {
            app.update(Action::FilterChar(c));
        }
        app.update(Action::FilterApply);
        assert!(app
            .status
            .as_deref()
            .unwrap()
            .contains("unknown finding code"));
    }

    #[test]
    fn code_quick_filter_cycles_through_codes_seen() {
        let mut app = app_with(MIXED);
        let seen: Vec<Code> = app.codes_seen().collect();
        assert!(seen.contains(&Code::AcceptMismatch));
        app.update(Action::CycleCode);
        assert_eq!(app.filter.code, seen.first().copied());
        for _ in 1..seen.len() {
            app.update(Action::CycleCode);
        }
        assert_eq!(app.filter.code, seen.last().copied());
        app.update(Action::CycleCode);
        assert_eq!(app.filter.code, None);
    }

    #[test]
    fn sort_by_every_column_keeps_the_selected_record() {
        let mut app = app_with(MIXED);
        app.update(Action::Top);
        app.update(Action::Move(2));
        let picked = app.selected_record().unwrap().clone();
        for _ in 0..SortKey::ALL.len() {
            app.update(Action::SortNext);
            assert_eq!(app.selected_record().unwrap(), &picked, "{:?}", app.sort);
            let rows: Vec<&HandshakeRecord> = app.visible(100).map(|(_, r)| r).collect();
            for w in rows.windows(2) {
                assert_ne!(app.order(w[0], w[1]), Ordering::Greater, "{:?}", app.sort);
            }
        }
        assert_eq!(app.sort, SortKey::Time);
        app.update(Action::SortNext); // client
        app.update(Action::SortReverse);
        let ids = shown(&app);
        app.update(Action::SortReverse);
        let mut back = shown(&app);
        back.reverse();
        assert_eq!(ids, back);
    }

    #[test]
    fn verdict_sort_puts_failed_first_when_reversed() {
        let mut app = app_with(MIXED);
        while app.sort != SortKey::Verdict {
            app.update(Action::SortNext);
        }
        app.update(Action::SortReverse);
        app.update(Action::Top);
        assert_eq!(app.selected_record().unwrap().verdict, Verdict::Failed);
    }

    #[test]
    fn pause_holds_new_rows_until_resume() {
        let mut app = app_with(&["python-websockets-ok.pcap"]);
        app.update(Action::TogglePause);
        for feed in read_all(&sample("auth-401.pcap"), EngineConfig::default()).unwrap() {
            app.apply_feed(feed);
        }
        assert_eq!(app.view_len(), 1);
        assert_eq!(app.arrived_while_paused, 2);
        assert_eq!(
            app.counts.iter().sum::<u64>(),
            3,
            "the header keeps counting"
        );
        app.update(Action::TogglePause);
        assert_eq!(app.view_len(), 3);
    }

    #[test]
    fn detail_view_scrolls_and_asks_for_raw_bytes_once() {
        let mut app = app_with(&["handcrafted-bad-accept.pcap"]);
        assert_eq!(app.update(Action::Open), None);
        assert_eq!(app.screen, Screen::Detail);
        app.update(Action::Move(3));
        assert_eq!(app.detail_scroll, 3);
        assert_eq!(app.update(Action::ToggleHex), Some(Effect::LoadHex(0)));
        app.set_hex(HexDump {
            record_id: 1,
            ..HexDump::default()
        });
        app.update(Action::ToggleHex);
        assert_eq!(app.update(Action::ToggleHex), None, "already loaded");
        app.update(Action::Back);
        assert_eq!(app.screen, Screen::Table);
        assert_eq!(app.update(Action::Back), Some(Effect::Quit));
    }

    #[test]
    fn overlays_close_before_anything_else() {
        let mut app = app_with(&["auth-401.pcap"]);
        app.update(Action::Help);
        assert_eq!(app.overlay, Some(Overlay::Help));
        assert_eq!(app.update(Action::Back), None);
        assert_eq!(app.overlay, None);
        assert_eq!(app.update(Action::CopyCurl), Some(Effect::CopyCurl(1)));
    }

    #[test]
    fn click_selects_then_opens() {
        let mut app = app_with(&["curl-bad-requests.pcap"]);
        app.set_table_rows(10);
        app.update(Action::ClickRow(0));
        assert_eq!(app.selected(), 0);
        assert!(!app.follow);
        app.update(Action::ClickRow(0));
        assert_eq!(app.screen, Screen::Detail);
        app.update(Action::Back);
        app.update(Action::ClickRow(50));
        assert_eq!(app.selected(), 0, "a click below the rows changes nothing");
    }

    /// The search text of each record is built once when it arrives and searched from the
    /// cache; a hop arriving for a leg drops and rebuilds it, so the proxy's corrected cause
    /// the table shows for the client leg (`proxy_broke_request`, not the record's 426) is
    /// found as typed. Without the invalidation the leg's cached text would not have it.
    #[test]
    fn search_text_is_cached_per_record_and_rebuilt_when_a_hop_arrives() {
        let mut app = App::new("test", None);
        let feeds = read_all(
            &sample("nginx-no-upgrade-426.pcap"),
            EngineConfig::default(),
        )
        .unwrap();
        let mut hop = None;
        for feed in feeds {
            match feed {
                Feed::Event(Event::Hop(h)) => hop = Some(h),
                other => app.apply_feed(other),
            }
        }
        let n = app.record_count();
        assert!(n >= 2, "{n} records");
        for i in 0..n {
            let mut want = String::new();
            record_haystack(app.record(i).unwrap(), None, &mut want);
            assert_eq!(
                app.hay.get(i),
                Some(super::super::filter::fold_case(want).as_str()),
                "record {i}: built on arrival"
            );
        }
        let bytes = app.haystack_bytes();
        assert!(bytes > 0);
        type_filter(&mut app, "proxy_broke");
        assert_eq!(app.view_len(), 0, "no hop yet: nothing shows that cause");
        type_filter(&mut app, "");
        app.apply(Event::Hop(hop.expect("the sample pairs two legs")));
        app.settle();
        type_filter(&mut app, "proxy_broke");
        assert_eq!(
            app.view_len(),
            1,
            "the client leg, searched with the hop's cause"
        );
        assert!(
            app.haystack_bytes() > bytes,
            "the leg's text grew by the cause"
        );
    }

    /// Types `text` into the filter bar (replacing what is there) and applies it.
    fn type_filter(app: &mut App, text: &str) {
        app.update(Action::EditFilter);
        while app.filter_input.as_deref().is_some_and(|s| !s.is_empty()) {
            app.update(Action::FilterBackspace);
        }
        for c in text.chars() {
            app.update(Action::FilterChar(c));
        }
        app.update(Action::FilterApply);
    }

    /// 100,000 handshakes: each insert is a binary search, the window stays the screen's size.
    #[test]
    fn a_hundred_thousand_handshakes_stay_consistent() {
        let template = app_with(&["handcrafted-bad-accept.pcap"])
            .record(0)
            .unwrap()
            .clone();
        let mut app = App::new("bulk", None);
        app.set_table_rows(40);
        // The flat table is the one rows are inserted into one by one.
        app.update(Action::ToggleGrouped);
        assert!(!app.grouped);
        // Latency sort makes inserts land in the middle, not only at the end.
        while app.sort != SortKey::Latency {
            app.update(Action::SortNext);
        }
        for i in 0..100_000u64 {
            let mut r = template.clone();
            r.id = i + 1;
            #[allow(clippy::cast_precision_loss)]
            let ms = ((i * 7919) % 1000) as f64;
            r.timing.response_ms = Some(ms);
            app.apply(Event::Handshake(std::sync::Arc::new(r)));
        }
        assert_eq!(app.view_len(), 100_000);
        assert_eq!(app.selected_record().unwrap().id, 100_000, "follow");
        assert_eq!(app.visible(40).count(), 40);
        let lat: Vec<f64> = app
            .visible(40)
            .map(|(_, r)| r.timing.response_ms.unwrap())
            .collect();
        assert!(lat.windows(2).all(|w| w[0] <= w[1]));
        app.update(Action::Page(-1));
        assert!(!app.follow);
        assert!(app.selected() < app.offset() + 40 && app.selected() >= app.offset());
        // Grouped, the hundred thousand identical failures are one row with their count.
        app.update(Action::ToggleGrouped);
        assert_eq!(app.view_len(), 1);
        assert_eq!(
            app.row_mark(0),
            RowMark::Group {
                count: 100_000,
                proxied: false,
                expanded: false
            }
        );
    }
}
