//! The report's data: `Collector` (bounded state fed by events) and [`ReportModel`] (plain,
//! ordered values the HTML, Markdown and JSON renderers share). Captured text is stored raw
//! here; each renderer makes it safe for its own format.
//!
//! It derives nothing about the traffic: verdicts, findings and their evidence come with the
//! handshake records, proxy hops come as `Event::Hop`; the collector only counts, groups, caps
//! and orders them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use super::{
    CaptureInfo, MAX_CONNECTIONS, MAX_CONNECTION_GROUPS, MAX_GROUPS, MAX_HOPS, MAX_OCCURRENCES,
    MAX_OPEN_LINKS, MAX_RECORDS, MAX_TARGETS, MAX_TIMELINE_POINTS,
};
use crate::correlate::hop::MAX_TRACKED;
use crate::event::{
    CloseFrame, ConnectionEnding, ConnectionRecord, Ending, Event, HandshakeRecord, HopLink,
    Message, Peer, TlsRecord, Verdict,
};
use crate::finding::{Code, Finding, MessageRef, Severity};
use crate::present::incident::{Incident, IncidentCounts, Incidents, Limits as IncidentLimits};
use crate::present::{
    accept_check, body_lines, citing, connection_ending_meaning, curl_command, curl_replay_note,
    format_ts, missing_lines, plural, raw_line_parts, request_summary, verdict_rank, AcceptCheck,
    VERDICTS_WORST_FIRST,
};

/// Latency histogram bucket upper bounds in milliseconds (the last bucket is open).
const LATENCY_BOUNDS_MS: &[f64] = &[
    0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1_000.0, 3_000.0, 10_000.0,
];

/// The problem incidents, grouped by the grouping the TUI shares
/// ([`crate::present::incident`]): a proxied handshake's legs are one incident, identical
/// incidents one group.
#[derive(Debug)]
struct ProblemIncidents(Incidents);

impl Default for ProblemIncidents {
    fn default() -> Self {
        ProblemIncidents(
            Incidents::new(IncidentLimits {
                max_groups: MAX_GROUPS,
                max_listed: MAX_OCCURRENCES,
                problems_only: true,
            })
            .with_targets(),
        )
    }
}

/// Connection endings in report order.
const ENDING_ORDER: [ConnectionEnding; 6] = [
    ConnectionEnding::Clean,
    ConnectionEnding::CloseNotAnswered,
    ConnectionEnding::FinWithoutClose,
    ConnectionEnding::Rst,
    ConnectionEnding::Open,
    ConnectionEnding::Evicted,
];

/// Position of `e` in [`ENDING_ORDER`].
fn ending_index(e: ConnectionEnding) -> usize {
    ENDING_ORDER.iter().position(|x| *x == e).unwrap_or(0)
}

/// One leg of a problem connection's group key: same server, Host and path of the handshake
/// that opened it (when known) and the same finding codes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ConnLegKey {
    server: SocketAddr,
    host: Option<String>,
    path: Option<String>,
    codes: Vec<&'static str>,
}

/// Problem connection incidents share a group when their legs (one, or every leg of a
/// proxied WebSocket, client side first) have the same keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ConnGroupKey {
    legs: Vec<ConnLegKey>,
}

#[derive(Clone, Debug)]
struct ConnGroup {
    severity: Severity,
    /// The earliest incident's findings, leg by leg, shown in full.
    findings: Vec<Vec<FindingDetail>>,
    first: (i64, String),
    count: u64,
    /// Client legs of the incidents listed, each with its other legs in `upstream`.
    occurrences: Vec<ConnSummary>,
}

/// Host and path of the handshake that opened a connection.
type Target = (Option<String>, Option<String>);

/// One connection record as the incident grouping needs it, while it may wait for the
/// other legs of its proxied WebSocket.
#[derive(Clone, Debug)]
struct ConnLeg {
    key: ConnLegKey,
    /// The worst severity of its findings, when above info.
    severity: Option<Severity>,
    findings: Vec<FindingDetail>,
    first: (i64, String),
    summary: ConnSummary,
}

/// Most proxied connections waiting for their other legs' records; beyond it the oldest
/// is grouped with the legs it has.
const MAX_PENDING_LEGS: usize = 1_024;

/// The incidents after the switch: one connection, or every leg of a proxied WebSocket
/// (the connections its hop's handshakes opened) together, grouped when identical.
#[derive(Clone, Debug, Default)]
struct ConnIncidents {
    total: u64,
    problems: u64,
    proxied: u64,
    groups: BTreeMap<ConnGroupKey, ConnGroup>,
    ungrouped: u64,
}

impl ConnIncidents {
    /// Counts one incident (`legs` client side first) and groups it when it is a problem.
    fn commit(&mut self, legs: Vec<ConnLeg>) {
        if legs.is_empty() {
            return;
        }
        self.total += 1;
        self.proxied += u64::from(legs.len() > 1);
        let Some(severity) = legs.iter().filter_map(|l| l.severity).max() else {
            return;
        };
        self.problems += 1;
        let key = ConnGroupKey {
            legs: legs.iter().map(|l| l.key.clone()).collect(),
        };
        let first = legs.first().map(|l| l.first.clone()).unwrap_or_default();
        let findings: Vec<Vec<FindingDetail>> = legs.iter().map(|l| l.findings.clone()).collect();
        let mut summaries = legs.into_iter().map(|l| l.summary);
        let Some(mut summary) = summaries.next() else {
            return;
        };
        summary.upstream = summaries.collect();
        if let Some(g) = self.groups.get_mut(&key) {
            g.count += 1;
            if g.occurrences.len() < MAX_OCCURRENCES {
                g.occurrences.push(summary);
            }
            if first < g.first {
                g.first = first;
                g.findings = findings;
            }
        } else if self.groups.len() < MAX_CONNECTION_GROUPS {
            self.groups.insert(
                key,
                ConnGroup {
                    severity,
                    findings,
                    first,
                    count: 1,
                    occurrences: vec![summary],
                },
            );
        } else {
            self.ungrouped += 1;
        }
    }
}

/// Bounded state about the WebSocket connections after the switch.
#[derive(Debug, Default)]
struct Connections {
    /// Connections per ending, indexed like [`ENDING_ORDER`].
    endings: [u64; ENDING_ORDER.len()],
    codes: BTreeMap<Code, (Severity, u64)>,
    total: u64,
    problems: u64,
    without_handshake: u64,
    /// Opened handshakes waiting for their connection record.
    open: BTreeMap<u64, Target>,
    open_overflow: u64,
    /// Handshake id of a proxy hop's leg → (id of the client leg, its place on the path).
    leg_of: BTreeMap<u64, (u64, usize)>,
    /// Client leg id → the handshake ids of every leg of its proxied WebSocket.
    members: BTreeMap<u64, Vec<u64>>,
    /// Client leg id → legs of its proxied WebSocket whose connection records came, by place.
    pending: BTreeMap<u64, BTreeMap<usize, ConnLeg>>,
    incidents: ConnIncidents,
    rows: Vec<ConnSummary>,
    rows_dropped: u64,
}

impl Connections {
    fn opened(&mut self, r: &HandshakeRecord) {
        if r.status != Some(101) {
            return;
        }
        if self.open.len() < MAX_OPEN_LINKS {
            self.open.insert(r.id, (r.host.clone(), r.path.clone()));
        } else {
            self.open_overflow += 1;
        }
    }

    /// Takes a proxy hop: the connections its legs' handshakes opened (both switched, and
    /// neither connection has ended yet) are one incident.
    fn hop(&mut self, h: &HopLink) {
        let opened = |id: u64| self.open.contains_key(&id);
        if self.leg_of.len() >= 2 * MAX_OPEN_LINKS
            || self.leg_of.contains_key(&h.upstream)
            || !opened(h.upstream)
            || !(opened(h.downstream) || self.leg_of.contains_key(&h.downstream))
        {
            return;
        }
        let (root, at) = match self.leg_of.get(&h.downstream) {
            Some(&known) => known,
            None => {
                self.leg_of.insert(h.downstream, (h.downstream, 0));
                self.members.insert(h.downstream, vec![h.downstream]);
                (h.downstream, 0)
            }
        };
        self.leg_of.insert(h.upstream, (root, at + 1));
        self.members.entry(root).or_default().push(h.upstream);
    }

    /// The number of legs the proxied WebSocket whose client leg is `root` has.
    fn legs_of(&self, root: u64) -> usize {
        self.members.get(&root).map_or(0, Vec::len)
    }

    fn take(&mut self, c: &ConnectionRecord) {
        self.total += 1;
        if let Some(n) = self.endings.get_mut(ending_index(c.ending)) {
            *n += 1;
        }
        if !c.handshake_observed {
            self.without_handshake += 1;
        }
        let codes = count_codes(&c.findings, &mut self.codes);
        let (host, path) = c
            .handshake_id
            .and_then(|id| self.open.remove(&id))
            .unwrap_or_default();
        let summary = ConnSummary::of(c);
        let severity = c
            .findings
            .iter()
            .map(|f| f.severity)
            .max()
            .filter(|s| *s > Severity::Info);
        self.problems += u64::from(severity.is_some());
        let leg = ConnLeg {
            key: ConnLegKey {
                server: c.server,
                host,
                path,
                codes: codes.iter().map(|c| c.as_str()).collect(),
            },
            severity,
            findings: finding_details(&c.findings),
            first: (c.ts.0, c.community_id.clone()),
            summary: summary.clone(),
        };
        match c.handshake_id.and_then(|id| self.leg_of.get(&id).copied()) {
            Some((root, at)) => {
                let waiting = self.pending.entry(root).or_default();
                waiting.insert(at, leg);
                if waiting.len() >= self.legs_of(root) {
                    self.settle(root);
                }
                while self.pending.len() > MAX_PENDING_LEGS {
                    match self.pending.keys().next().copied() {
                        Some(oldest) => self.settle(oldest),
                        None => break,
                    }
                }
            }
            None => self.incidents.commit(vec![leg]),
        }
        if self.rows.len() < MAX_CONNECTIONS {
            self.rows.push(summary);
        } else {
            self.rows_dropped += 1;
        }
    }

    /// Groups the proxied WebSocket whose client leg is `root` with the legs it has.
    fn settle(&mut self, root: u64) {
        let legs = self.pending.remove(&root).unwrap_or_default();
        for id in self.members.remove(&root).unwrap_or_default() {
            self.leg_of.remove(&id);
        }
        self.incidents.commit(legs.into_values().collect());
    }

    /// The model, linking handshake ids to rows of the handshake table that are listed.
    fn model(&self, listed: &BTreeSet<u64>, hop_of: &BTreeMap<u64, usize>) -> ConnectionsModel {
        let link = |s: &ConnSummary| {
            let mut s = s.clone();
            s.handshake_anchor = s
                .handshake_id
                .filter(|id| listed.contains(id))
                .map(|id| format!("h{id}"));
            s.hop = s
                .handshake_id
                .and_then(|id| hop_of.get(&id))
                .map(|i| format!("hop{}", i + 1));
            s
        };
        let linked = |s: &ConnSummary| {
            let mut out = link(s);
            out.upstream = s.upstream.iter().map(link).collect();
            out
        };
        // Legs still waiting for the others (a capture read so far) count as they are.
        let mut incidents = self.incidents.clone();
        for legs in self.pending.values() {
            incidents.commit(legs.values().cloned().collect());
        }
        let mut groups: Vec<(&ConnGroupKey, &ConnGroup)> = incidents.groups.iter().collect();
        groups.sort_by(|(_, a), (_, b)| b.severity.cmp(&a.severity).then(a.first.cmp(&b.first)));
        let groups: Vec<ConnGroupModel> = groups
            .iter()
            .enumerate()
            .map(|(i, (key, g))| {
                let mut occurrences: Vec<ConnSummary> = g.occurrences.iter().map(linked).collect();
                occurrences
                    .sort_by(|a, b| (a.ts_ns, &a.community_id).cmp(&(b.ts_ns, &b.community_id)));
                let mut legs = key.legs.iter().zip(&g.findings).map(|(k, f)| ConnLegModel {
                    server: k.server.to_string(),
                    host: k.host.clone(),
                    path: k.path.clone(),
                    findings: f.clone(),
                });
                let client = legs.next().unwrap_or_else(|| ConnLegModel {
                    server: String::new(),
                    host: None,
                    path: None,
                    findings: Vec::new(),
                });
                ConnGroupModel {
                    anchor: format!("c{}", i + 1),
                    severity: g.severity,
                    server: client.server,
                    host: client.host,
                    path: client.path,
                    count: g.count,
                    unlisted: g.count.saturating_sub(occurrences.len() as u64),
                    findings: client.findings,
                    upstream_legs: legs.collect(),
                    occurrences,
                }
            })
            .collect();
        let findings = finding_counts(&self.codes);
        let mut rows: Vec<ConnSummary> = self.rows.iter().map(link).collect();
        rows.sort_by(|a, b| (a.ts_ns, &a.community_id).cmp(&(b.ts_ns, &b.community_id)));
        ConnectionsModel {
            total: self.total,
            problems: self.problems,
            without_handshake: self.without_handshake,
            incidents: (incidents.proxied > 0).then_some(ConnIncidentSummary {
                total: incidents.total,
                problems: incidents.problems,
                proxied: incidents.proxied,
            }),
            endings: ENDING_ORDER
                .iter()
                .map(|e| EndingCount {
                    ending: *e,
                    meaning: connection_ending_meaning(*e),
                    count: self.endings.get(ending_index(*e)).copied().unwrap_or(0),
                })
                .collect(),
            findings,
            groups,
            connections: rows,
            connections_unlisted: self.rows_dropped,
        }
    }

    /// Problem connection incidents beyond the group cap (the pending ones included).
    fn ungrouped(&self) -> u64 {
        let mut incidents = self.incidents.clone();
        for legs in self.pending.values() {
            incidents.commit(legs.values().cloned().collect());
        }
        incidents.ungrouped
    }
}

fn finding_details(findings: &[Finding]) -> Vec<FindingDetail> {
    findings.iter().map(|f| finding_detail(f, None)).collect()
}

fn finding_detail(f: &Finding, replaces: Option<&'static str>) -> FindingDetail {
    FindingDetail {
        code: f.code.as_str(),
        severity: f.severity,
        message: f.message.clone(),
        title: f.code.title(),
        hint: f.hint,
        packets: f.packets.clone(),
        replaces,
    }
}

/// The findings of `r` as a proxy hop corrected them (`link`: the hop `r` is the client leg
/// of, when it carries a correction): the corrected cause in place of the finding it
/// replaces, with the code it replaces beside it.
fn corrected_findings(
    r: &HandshakeRecord,
    link: Option<&HopLink>,
) -> Vec<(Finding, Option<&'static str>)> {
    let Some((link, c)) = link.and_then(|l| l.correction.as_ref().map(|c| (l, c))) else {
        return r.findings.iter().map(|f| (f.clone(), None)).collect();
    };
    link.corrected_findings(&r.findings, r.id)
        .into_iter()
        .map(|f| {
            let replaces = std::ptr::eq(f, &c.finding).then(|| c.replaces.as_str());
            (f.clone(), replaces)
        })
        .collect()
}

/// Counts each code of one record's `findings` once in `counts`, with the worst severity it
/// had; returns the record's distinct codes, sorted.
fn count_codes(findings: &[Finding], counts: &mut BTreeMap<Code, (Severity, u64)>) -> Vec<Code> {
    let mut codes: Vec<Code> = findings.iter().map(|f| f.code).collect();
    codes.sort_unstable();
    codes.dedup();
    for code in &codes {
        let sev = findings
            .iter()
            .filter(|f| f.code == *code)
            .map(|f| f.severity)
            .max()
            .unwrap_or(code.severity());
        let e = counts.entry(*code).or_insert((sev, 0));
        e.0 = e.0.max(sev);
        e.1 += 1;
    }
    codes
}

/// Finding codes with counts, errors first, then by count.
fn finding_counts(codes: &BTreeMap<Code, (Severity, u64)>) -> Vec<FindingCount> {
    let mut findings: Vec<FindingCount> = codes
        .iter()
        .map(|(code, (sev, n))| FindingCount {
            code: code.as_str().to_owned(),
            severity: *sev,
            count: *n,
            title: code.title().to_owned(),
        })
        .collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.count.cmp(&a.count))
            .then(a.code.cmp(&b.code))
    });
    findings
}

/// Bounded state collected from the events of one run.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    verdicts: BTreeMap<Verdict, u64>,
    codes: BTreeMap<Code, (Severity, u64)>,
    statuses: BTreeMap<Option<u16>, u64>,
    latency: Vec<u64>,
    no_response: u64,
    incidents: ProblemIncidents,
    records: Vec<Arc<HandshakeRecord>>,
    records_dropped: u64,
    timeline: Vec<(i64, Verdict)>,
    timeline_stride: u64,
    timeline_seen: u64,
    notices: Vec<String>,
    tls: TlsModel,
    socketio: SocketIoModel,
    connections: Connections,
    /// Requests of the most recent handshakes that can be hop legs (they carry a key), as
    /// many as the engine's hop tracker remembers, so both legs of an `Event::Hop` are here.
    recent_requests: VecDeque<(u64, Message)>,
    hops: Vec<KeptHop>,
    hops_dropped: u64,
    /// Record id → the kept hops still waiting for that leg's request (at most two entries
    /// per hop).
    awaiting_request: BTreeMap<u64, Vec<usize>>,
}

/// A proxy hop as the engine linked it, with both requests for the report to show. A leg's
/// request is filled in when its record arrives, whichever of the two events came first.
#[derive(Debug)]
struct KeptHop {
    link: HopLink,
    /// When the downstream leg's request was sent (the listing order), once known.
    downstream_ts: Option<i64>,
    downstream_request: Option<Wire>,
    upstream_request: Option<Wire>,
}

impl KeptHop {
    /// Takes the request of record `id` if it is one of this hop's legs.
    fn fill(&mut self, id: u64, request: &Message) {
        if id == self.link.downstream && self.downstream_request.is_none() {
            self.downstream_ts = Some(request.first_ts.0);
            self.downstream_request = wire(Some(request), None);
        }
        if id == self.link.upstream && self.upstream_request.is_none() {
            self.upstream_request = wire(Some(request), None);
        }
    }

    /// (downstream request time, downstream id, upstream id).
    fn order(&self) -> (i64, u64, u64) {
        (
            self.downstream_ts.unwrap_or(i64::MAX),
            self.link.downstream,
            self.link.upstream,
        )
    }
}

impl Collector {
    /// Takes one event.
    pub(crate) fn take(&mut self, event: &Event) {
        match event {
            Event::Notice(n) => {
                if self.notices.len() < 100 && !self.notices.contains(&n.message) {
                    self.notices.push(n.message.clone());
                }
            }
            Event::Handshake(r) => {
                self.connections.opened(r);
                self.take_record(r);
            }
            Event::Connection(c) => self.connections.take(c),
            Event::Hop(h) => {
                self.incidents.0.hop(h);
                self.connections.hop(h);
                self.take_hop(h);
            }
            Event::Tls(t) => self.tls.take(t),
            Event::EngineIo(s) => self.socketio.take(s),
        }
    }

    fn take_hop(&mut self, h: &HopLink) {
        // The client leg's record was counted before the hop was known: its corrected cause
        // counts in place of the finding it replaces.
        if let Some(c) = &h.correction {
            if let Some(entry) = self.codes.get_mut(&c.replaces) {
                entry.1 = entry.1.saturating_sub(1);
                if entry.1 == 0 {
                    self.codes.remove(&c.replaces);
                }
            }
            count_codes(std::slice::from_ref(&c.finding), &mut self.codes);
        }
        if self.hops.len() >= MAX_HOPS {
            self.hops_dropped += 1;
            return;
        }
        let mut hop = KeptHop {
            link: h.clone(),
            downstream_ts: None,
            downstream_request: None,
            upstream_request: None,
        };
        for (id, request) in &self.recent_requests {
            hop.fill(*id, request);
        }
        let index = self.hops.len();
        if hop.downstream_request.is_none() {
            self.awaiting_request
                .entry(h.downstream)
                .or_default()
                .push(index);
        }
        if hop.upstream_request.is_none() {
            self.awaiting_request
                .entry(h.upstream)
                .or_default()
                .push(index);
        }
        self.hops.push(hop);
    }

    fn take_record(&mut self, r: &Arc<HandshakeRecord>) {
        if let (Some(_), Some(request)) = (&r.key, &r.request) {
            if self.recent_requests.len() >= MAX_TRACKED {
                self.recent_requests.pop_front();
            }
            self.recent_requests.push_back((r.id, request.clone()));
            // A hop may have been linked before this leg's record came (when records are
            // held back to be emitted in order); it gets its request now.
            for i in self.awaiting_request.remove(&r.id).unwrap_or_default() {
                if let Some(hop) = self.hops.get_mut(i) {
                    hop.fill(r.id, request);
                }
            }
        }
        *self.verdicts.entry(r.verdict).or_default() += 1;
        count_codes(&r.findings, &mut self.codes);
        *self.statuses.entry(r.status).or_default() += 1;
        if self.latency.is_empty() {
            self.latency = vec![0; LATENCY_BOUNDS_MS.len() + 1];
        }
        match r.timing.response_ms {
            Some(ms) => {
                let i = LATENCY_BOUNDS_MS
                    .iter()
                    .position(|b| ms < *b)
                    .unwrap_or(LATENCY_BOUNDS_MS.len());
                if let Some(n) = self.latency.get_mut(i) {
                    *n += 1;
                }
            }
            None => self.no_response += 1,
        }
        // The "most failures" table counts incidents (a proxied handshake once), by the
        // client leg's Host and path: the incident grouping tallies them.
        self.add_timeline(r);
        self.incidents.0.record(r);
        if self.records.len() < MAX_RECORDS {
            self.records.push(Arc::clone(r));
        } else {
            self.records_dropped += 1;
        }
    }

    fn add_timeline(&mut self, r: &HandshakeRecord) {
        if self.timeline_stride == 0 {
            self.timeline_stride = 1;
        }
        let keep = self.timeline_seen.is_multiple_of(self.timeline_stride);
        self.timeline_seen += 1;
        if !keep {
            return;
        }
        if self.timeline.len() >= MAX_TIMELINE_POINTS {
            // Halve deterministically: keep every other point, then sample half as often.
            let mut i = 0usize;
            self.timeline.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.timeline_stride = self.timeline_stride.saturating_mul(2);
        }
        self.timeline.push((r.ts.0, r.verdict));
    }

    /// Builds the model for rendering.
    #[must_use]
    pub(crate) fn model(&self, info: &CaptureInfo) -> ReportModel {
        let mut records: Vec<&HandshakeRecord> = self.records.iter().map(AsRef::as_ref).collect();
        records.sort_by_key(|r| (r.ts, r.id));
        let mut kept_hops: Vec<&KeptHop> = self.hops.iter().collect();
        kept_hops.sort_by_key(|h| h.order());
        // Record id → index of the hop it is a leg of (the first, for a chain of proxies).
        let mut hop_of: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, h) in kept_hops.iter().enumerate() {
            hop_of.entry(h.link.downstream).or_insert(i);
            hop_of.entry(h.link.upstream).or_insert(i);
        }
        // Client-leg record id → the hop that corrects one of its findings.
        let correcting: BTreeMap<u64, &HopLink> = kept_hops
            .iter()
            .filter(|h| h.link.correction.is_some())
            .map(|h| (h.link.downstream, &h.link))
            .collect();
        let total: u64 = self.verdicts.values().sum();
        let incidents = IncidentSummary::of(&self.incidents.0.counts());

        let findings = finding_counts(&self.codes);

        let (by_target, targets_overflow) = self.incidents.0.targets();
        let mut targets: Vec<TargetCount> = by_target
            .into_iter()
            .filter(|(_, t)| t.failed > 0)
            .map(|((host, path), t)| TargetCount {
                host,
                path,
                failed: t.failed,
                total: t.total,
            })
            .collect();
        targets.sort_by(|a, b| {
            b.failed
                .cmp(&a.failed)
                .then(a.host.cmp(&b.host))
                .then(a.path.cmp(&b.path))
        });
        targets.truncate(10);

        let statuses = self
            .statuses
            .iter()
            .map(|(s, n)| StatusCount {
                status: *s,
                label: s.map_or_else(|| "no response".to_owned(), |s| s.to_string()),
                count: *n,
            })
            .collect();

        let mut latency: Vec<LatencyBucket> = self
            .latency
            .iter()
            .enumerate()
            .map(|(i, n)| LatencyBucket {
                label: latency_label(i),
                count: *n,
            })
            .collect();
        if self.no_response > 0 {
            latency.push(LatencyBucket {
                label: "no response".to_owned(),
                count: self.no_response,
            });
        }

        let incident_groups = self.incidents.0.groups();
        let hop_anchor = |link: &HopLink| {
            kept_hops
                .iter()
                .position(|h| {
                    h.link.downstream == link.downstream && h.link.upstream == link.upstream
                })
                .map(|i| format!("hop{}", i + 1))
        };
        let groups: Vec<GroupModel> = incident_groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                let (client_leg, upstream_legs) = g.exemplar.split_first()?;
                let occurrences = g.incidents.iter().map(Occurrence::of).collect();
                Some(GroupModel {
                    anchor: format!("g{}", i + 1),
                    verdict: g.verdict,
                    count: g.count,
                    unlisted: g.unlisted,
                    detail: Detail::of(
                        client_leg,
                        hop_of.get(&client_leg.id).copied(),
                        correcting.get(&client_leg.id).copied(),
                    ),
                    upstream_legs: upstream_legs
                        .iter()
                        .map(|r| {
                            Detail::of(
                                r,
                                hop_of.get(&r.id).copied(),
                                correcting.get(&r.id).copied(),
                            )
                        })
                        .collect(),
                    hops: g.hops.iter().filter_map(hop_anchor).collect(),
                    occurrences,
                })
            })
            .collect();
        let group_of = |id: u64| {
            incident_groups
                .iter()
                .zip(&groups)
                .find(|(g, _)| g.lists(id) || g.exemplar.iter().any(|r| r.id == id))
                .map(|(_, m)| m.anchor.clone())
        };

        let hops = kept_hops
            .iter()
            .enumerate()
            .map(|(i, h)| HopModel {
                anchor: format!("hop{}", i + 1),
                link: h.link.clone(),
                downstream_request: h.downstream_request.clone(),
                upstream_request: h.upstream_request.clone(),
            })
            .collect();

        let handshakes = records
            .iter()
            .map(|r| Row {
                id: r.id,
                time: format_ts(r.ts),
                client: r.client.to_string(),
                server: r.server.to_string(),
                request: request_summary(r),
                status: r.status,
                verdict: r.verdict,
                latency_ms: r.timing.response_ms,
                top_finding: r.top_finding().map(|f| {
                    let corrected = correcting
                        .get(&r.id)
                        .and_then(|l| l.correction.as_ref())
                        .filter(|c| c.replaces == f.code);
                    corrected
                        .map_or(f.code, |c| c.finding.code)
                        .as_str()
                        .to_owned()
                }),
                group: group_of(r.id),
                hop: hop_of.get(&r.id).map(|i| format!("hop{}", i + 1)),
            })
            .collect();

        let listed: BTreeSet<u64> = records.iter().map(|r| r.id).collect();
        let connections = self.connections.model(&listed, &hop_of);
        let timeline = timeline(&self.timeline);
        let mut limits = Vec::new();
        let st = &info.stats;
        for (n, what) in [
            (
                st.flows_evicted_capacity,
                "connections evicted by --max-flows",
            ),
            (
                st.flows_evicted_idle,
                "connections expired by --flow-timeout",
            ),
            (st.header_limit_hits, "heads over --max-header-bytes"),
            (
                st.bytes_dropped_by_caps,
                "bytes dropped by --max-buffer-bytes",
            ),
            (st.ip_fragments, "IP fragments not reassembled"),
            (st.truncated_packets, "packets cut by the snap length"),
            (st.malformed, "malformed packets"),
            (st.unsupported_linktype, "packets of unsupported link types"),
            (st.flows_evicted_memcap, "connections evicted by --memcap"),
            (st.memcap_records, "records marked memcap_reached"),
            (
                st.engineio_bodies_cut,
                "Engine.IO sessions with a body cut by --eio-body-bytes",
            ),
            (
                st.engineio_polls_not_followed,
                "Engine.IO sessions with polls not followed (over 32 polling streams open on one HTTP/2 connection)",
            ),
        ] {
            if n > 0 {
                limits.push(format!("{n} {what}"));
            }
        }
        for (what, r) in &st.memcap_refused {
            limits.push(format!(
                "{} {what} growths ({} bytes) refused by --memcap",
                r.times, r.bytes
            ));
        }
        if self.records_dropped > 0 {
            limits.push(format!(
                "{} handshakes after the first {MAX_RECORDS} are counted but not listed",
                self.records_dropped
            ));
        }
        if self.hops_dropped > 0 {
            limits.push(format!(
                "{} proxy hops after the first {MAX_HOPS} are counted but not detailed",
                self.hops_dropped
            ));
        }
        let ungrouped = self.incidents.0.ungrouped();
        if ungrouped > 0 {
            limits.push(format!(
                "{ungrouped} problem incidents beyond {MAX_GROUPS} distinct groups are counted but not detailed"
            ));
        }
        if targets_overflow > 0 {
            limits.push(format!(
                "{targets_overflow} handshakes to hosts/paths beyond the first {MAX_TARGETS} are not in the failure table"
            ));
        }
        let conns = &self.connections;
        if conns.rows_dropped > 0 {
            limits.push(format!(
                "{} WebSocket connections after the first {MAX_CONNECTIONS} are counted but not listed",
                conns.rows_dropped
            ));
        }
        let conns_ungrouped = conns.ungrouped();
        if conns_ungrouped > 0 {
            limits.push(format!(
                "{conns_ungrouped} problem connections beyond {MAX_CONNECTION_GROUPS} distinct groups are counted but not detailed"
            ));
        }
        if conns.open_overflow > 0 {
            limits.push(format!(
                "{} connections opened while {MAX_OPEN_LINKS} others were open are grouped without their path",
                conns.open_overflow
            ));
        }
        if self.timeline_stride > 1 {
            limits.push(format!(
                "the timeline shows every {}th handshake",
                self.timeline_stride
            ));
        }

        let duration_s = match (st.first_ts, st.last_ts) {
            #[allow(clippy::cast_precision_loss)]
            (Some(a), Some(b)) => Some(b.nanos_since(a) as f64 / 1e9),
            _ => None,
        };
        ReportModel {
            report_schema: crate::report::REPORT_SCHEMA,
            tool: format!("wssniff {}", env!("CARGO_PKG_VERSION")),
            generated: format_ts(info.generated),
            capture: CaptureModel {
                file: info.file.clone(),
                size: info.size,
                sha256: info.sha256.clone(),
                linktypes: info.linktypes.clone(),
                first_packet: st.first_ts.map(format_ts),
                last_packet: st.last_ts.map(format_ts),
                duration_s,
                packets: st.packets,
                bytes: st.bytes,
                flows: st.flows,
                upgrade_flows: st.upgrade_flows,
                snaplen: info.snaplen,
                drops: info.drops,
                read_error: info.read_error.clone(),
                files: info
                    .files
                    .iter()
                    .map(|f| CaptureFileModel {
                        file: f.file.clone(),
                        size: f.size,
                        sha256: f.sha256.clone(),
                        packets: f.packets,
                        read_error: f.read_error.clone(),
                    })
                    .collect(),
            },
            total,
            verdicts: VERDICTS_WORST_FIRST
                .iter()
                .map(|v| VerdictCount {
                    verdict: *v,
                    count: self.verdicts.get(v).copied().unwrap_or(0),
                })
                .collect(),
            incidents,
            findings,
            targets,
            statuses,
            latency,
            timeline,
            hops,
            groups,
            connections,
            handshakes,
            handshakes_unlisted: self.records_dropped,
            notices: self.notices.clone(),
            tls: self.tls.clone(),
            socketio: self.socketio.clone(),
            limits,
            capture_evidence: crate::sink::summary::capture_evidence_lines(&info.stats),
        }
    }
}

fn latency_label(i: usize) -> String {
    let fmt = |ms: f64| {
        if ms >= 1000.0 {
            format!("{} s", ms / 1000.0)
        } else {
            format!("{ms} ms")
        }
    };
    match (
        i.checked_sub(1).and_then(|p| LATENCY_BOUNDS_MS.get(p)),
        LATENCY_BOUNDS_MS.get(i),
    ) {
        (None, Some(hi)) => format!("< {}", fmt(*hi)),
        (Some(lo), Some(hi)) => format!("{}–{}", fmt(*lo), fmt(*hi)),
        (Some(lo), None) => format!("≥ {}", fmt(*lo)),
        (None, None) => String::new(),
    }
}

fn timeline(points: &[(i64, Verdict)]) -> Timeline {
    let start = points.iter().map(|p| p.0).min().unwrap_or(0);
    let end = points.iter().map(|p| p.0).max().unwrap_or(0);
    let mut pts: Vec<TimelinePoint> = points
        .iter()
        .map(|(ts, v)| TimelinePoint {
            #[allow(clippy::cast_precision_loss)]
            offset_ms: (ts.saturating_sub(start)) as f64 / 1e6,
            verdict: *v,
        })
        .collect();
    pts.sort_by(|a, b| {
        a.offset_ms
            .total_cmp(&b.offset_ms)
            .then(verdict_rank(a.verdict).cmp(&verdict_rank(b.verdict)))
    });
    Timeline {
        start: (!points.is_empty()).then(|| format_ts(crate::capture::Timestamp(start))),
        #[allow(clippy::cast_precision_loss)]
        span_ms: end.saturating_sub(start) as f64 / 1e6,
        points: pts,
    }
}

/// Everything the report shows, in display order.
#[derive(Clone, Debug, Serialize)]
pub struct ReportModel {
    /// [`crate::report::REPORT_SCHEMA`]: the version of this structure.
    pub report_schema: u32,
    /// Tool name and version.
    pub tool: String,
    /// Generation time (UTC; `SOURCE_DATE_EPOCH` when set).
    pub generated: String,
    /// The capture file.
    pub capture: CaptureModel,
    /// Handshakes in the capture.
    pub total: u64,
    /// Handshakes by verdict, worst first (every verdict listed).
    pub verdicts: Vec<VerdictCount>,
    /// Incidents, which the headline, the cards and the verdict table count: a proxied
    /// handshake's legs are one incident, with its worst leg's verdict. Left out when no
    /// handshake was proxied (the incidents are then the handshakes above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<IncidentSummary>,
    /// Finding codes with the number of handshakes showing each, errors first.
    pub findings: Vec<FindingCount>,
    /// Hosts/paths with the most failed handshakes (top 10).
    pub targets: Vec<TargetCount>,
    /// Response status breakdown.
    pub statuses: Vec<StatusCount>,
    /// Request-to-response latency histogram.
    pub latency: Vec<LatencyBucket>,
    /// Handshakes over time.
    pub timeline: Timeline,
    /// Correlated proxy hops (every one; the HTML and Markdown show a hop whose handshake is
    /// a problem inside that problem's section).
    pub hops: Vec<HopModel>,
    /// Problem incidents (a handshake, or a proxied handshake's legs together), identical
    /// ones collapsed; failed first.
    pub groups: Vec<GroupModel>,
    /// What happened after the switch: the WebSocket connections.
    pub connections: ConnectionsModel,
    /// Every handshake (up to the record cap), in time order.
    pub handshakes: Vec<Row>,
    /// Handshakes beyond the record cap.
    pub handshakes_unlisted: u64,
    /// Capture-level notices.
    pub notices: Vec<String>,
    /// TLS connections: counts and the failed ones (left out of the JSON when there were
    /// none).
    #[serde(skip_serializing_if = "TlsModel::is_empty")]
    pub tls: TlsModel,
    /// Socket.IO (Engine.IO) sessions: counts and every session, failed first (left out of
    /// the JSON when there were none).
    #[serde(skip_serializing_if = "SocketIoModel::is_empty")]
    pub socketio: SocketIoModel,
    /// Caps and skips that make the report partial.
    pub limits: Vec<String>,
    /// What the capture lacked or repeated (capture vs network loss, one-way connections,
    /// snap-length cuts, normalised copies), as the summary says it; left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capture_evidence: Vec<String>,
}

/// Most Socket.IO sessions listed in the report (the rest are counted).
const MAX_SOCKETIO_ROWS: usize = 200;

/// Socket.IO (Engine.IO) sessions as the report shows them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SocketIoModel {
    /// Sessions seen.
    pub total: u64,
    /// Those that ended on WebSocket.
    pub websocket: u64,
    /// Those that stayed on polling.
    pub polling: u64,
    /// Those with a finding above info.
    pub failed: u64,
    /// The sessions, failed first, then in arrival order; at most 200.
    pub sessions: Vec<SocketIoRow>,
    /// Sessions beyond the cap.
    pub sessions_unlisted: u64,
}

/// One Socket.IO session.
#[derive(Clone, Debug, Serialize)]
pub struct SocketIoRow {
    /// When its first request was sent (UTC text).
    pub time: String,
    /// The story (sid shortened, transports, connections, polls, pings, ending), unescaped.
    pub story: String,
    /// Its connections as `client → server (transport)`.
    pub connections: Vec<String>,
    /// Its findings: code, message and fix hint.
    pub findings: Vec<(String, String, String)>,
    /// Whether a finding is above info.
    pub failed: bool,
}

impl SocketIoModel {
    /// Whether no session was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn take(&mut self, s: &crate::event::EngineIoSession) {
        self.total += 1;
        if s.transport == "websocket" {
            self.websocket += 1;
        } else {
            self.polling += 1;
        }
        let failed = s
            .findings
            .iter()
            .any(|f| f.severity > crate::finding::Severity::Info);
        self.failed += u64::from(failed);
        if self.sessions.len() >= MAX_SOCKETIO_ROWS {
            self.sessions_unlisted += 1;
            return;
        }
        let row = SocketIoRow {
            time: crate::present::format_ts(s.ts),
            story: crate::present::engineio_story(s),
            connections: s
                .connections
                .iter()
                .map(|c| format!("{} → {} ({})", c.client, c.server, c.transport))
                .collect(),
            findings: s
                .findings
                .iter()
                .map(|f| {
                    (
                        f.code.as_str().to_owned(),
                        f.message.clone(),
                        f.hint.to_owned(),
                    )
                })
                .collect(),
            failed,
        };
        // Failed first, each group in arrival order.
        let at = if failed {
            self.sessions.iter().take_while(|r| r.failed).count()
        } else {
            self.sessions.len()
        };
        self.sessions.insert(at, row);
    }
}

/// Most failed TLS connections listed in the report (the rest are counted).
const MAX_TLS_ROWS: usize = 200;

/// TLS connections as the report shows them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsModel {
    /// TLS connections seen.
    pub total: u64,
    /// Whose handshake failed or was aborted.
    pub failed: u64,
    /// Not decrypted (their HTTP and WebSocket traffic is invisible).
    pub not_decrypted: u64,
    /// The failed ones, in arrival order, at most 200.
    pub failures: Vec<TlsRow>,
    /// Failed ones beyond the cap.
    pub failures_unlisted: u64,
    /// With keys: the decrypted ones that carried WebSocket handshakes, in arrival order,
    /// at most 200.
    pub carriers: Vec<TlsRow>,
    /// Those beyond the cap.
    pub carriers_unlisted: u64,
}

/// One failed TLS connection.
#[derive(Clone, Debug, Serialize)]
pub struct TlsRow {
    /// When its first record was sent (UTC text).
    pub time: String,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// The one-line story (SNI, version, outcome), unescaped.
    pub story: String,
    /// Its findings: code, message and fix hint.
    pub findings: Vec<(String, String, String)>,
}

impl TlsModel {
    /// Whether no TLS connection was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn take(&mut self, t: &TlsRecord) {
        self.total += 1;
        self.not_decrypted += u64::from(!t.decrypted);
        if t.carried_websockets() {
            if self.carriers.len() >= MAX_TLS_ROWS {
                self.carriers_unlisted += 1;
            } else {
                self.carriers.push(TlsRow::of(t));
            }
        }
        if !t.outcome.is_failure() {
            return;
        }
        self.failed += 1;
        if self.failures.len() >= MAX_TLS_ROWS {
            self.failures_unlisted += 1;
            return;
        }
        self.failures.push(TlsRow::of(t));
    }
}

impl TlsRow {
    /// The row of `t`.
    fn of(t: &TlsRecord) -> Self {
        TlsRow {
            time: crate::present::format_ts(t.ts),
            client: t.client,
            server: t.server,
            story: crate::present::tls_story(t),
            findings: t
                .findings
                .iter()
                .map(|f| {
                    (
                        f.code.as_str().to_owned(),
                        f.message.clone(),
                        f.hint.to_owned(),
                    )
                })
                .collect(),
        }
    }
}

impl ReportModel {
    /// Handshakes as a person counts them: incidents, a proxied handshake once (the records
    /// when none was proxied).
    #[must_use]
    pub fn handshakes(&self) -> u64 {
        self.incidents.as_ref().map_or(self.total, |i| i.total)
    }

    /// [`ReportModel::handshakes`] by verdict, worst first: the incidents' counts when some
    /// were proxied, else the records'.
    #[must_use]
    pub fn verdict_counts(&self) -> &[VerdictCount] {
        self.incidents
            .as_ref()
            .map_or(&self.verdicts, |i| &i.verdicts)
    }

    /// Failed handshakes (incidents: a proxied handshake counts once).
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.verdict_counts()
            .iter()
            .find(|v| v.verdict == Verdict::Failed)
            .map_or(0, |v| v.count)
    }

    /// What the counts of handshakes mean when some were proxied (`None` otherwise): the
    /// records behind the incidents.
    #[must_use]
    pub fn incidents_note(&self) -> Option<String> {
        let i = self.incidents.as_ref()?;
        Some(format!(
            "{} {} counted once, with the verdict of its worst leg ({} in all, listed under All handshakes)",
            plural(i.proxied, "proxied handshake"),
            if i.proxied == 1 { "is" } else { "are each" },
            plural(i.records, "handshake record")
        ))
    }

    /// The one-sentence summary at the top (numbers only, no captured text): handshakes
    /// (incidents: a proxied handshake once), failures and, when there were WebSocket
    /// connections, how many ended badly.
    #[must_use]
    pub fn headline(&self) -> String {
        let proxied = self
            .incidents
            .as_ref()
            .map(|i| format!(" ({} proxied)", i.proxied))
            .unwrap_or_default();
        let mut s = format!(
            "{}{proxied}, {} failed",
            plural(self.handshakes(), "WebSocket handshake"),
            self.failed()
        );
        let c = &self.connections;
        let (total, problems, proxied) = c.incidents.map_or((c.total, c.problems, 0), |i| {
            (i.total, i.problems, i.proxied)
        });
        let proxied = if proxied > 0 {
            format!(" ({proxied} proxied)")
        } else {
            String::new()
        };
        if problems > 0 {
            s.push_str(&format!(
                "; {problems} of {}{proxied} ended badly after the switch",
                plural(total, "WebSocket connection")
            ));
        } else if total > 0 {
            s.push_str(&format!(
                "; {}{proxied}, none ended badly",
                plural(total, "WebSocket connection")
            ));
        }
        s.push('.');
        s
    }
}

/// The WebSocket connections after the switch (connection records, linked to handshakes).
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionsModel {
    /// WebSocket connection records seen (every one, not only those listed).
    pub total: u64,
    /// Connections with a finding of severity warning or error ("ended badly").
    pub problems: u64,
    /// Connections whose opening handshake was not captured.
    pub without_handshake: u64,
    /// The connections as incidents, which the headline counts: a proxied WebSocket's legs
    /// (the connections its hop's handshakes opened) are one. Left out when none was proxied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<ConnIncidentSummary>,
    /// Connections by how they ended (every ending listed, in a fixed order).
    pub endings: Vec<EndingCount>,
    /// Finding codes with the number of connections showing each, errors first.
    pub findings: Vec<FindingCount>,
    /// Problem connections, identical ones collapsed; errors first, then by time.
    pub groups: Vec<ConnGroupModel>,
    /// Every connection (up to the cap), in time order.
    pub connections: Vec<ConnSummary>,
    /// Connections beyond the cap.
    pub connections_unlisted: u64,
}

/// One connection ending's count.
#[derive(Clone, Debug, Serialize)]
pub struct EndingCount {
    /// The ending (`clean`, `close_not_answered`, `fin_without_close`, `rst`, `open`,
    /// `evicted`).
    pub ending: ConnectionEnding,
    /// What it means.
    pub meaning: &'static str,
    /// Connections that ended this way.
    pub count: u64,
}

/// Problem connections with the same server, path and findings.
#[derive(Clone, Debug, Serialize)]
pub struct ConnGroupModel {
    /// Anchor id in the HTML.
    pub anchor: String,
    /// The worst severity among the group's findings (warning or error).
    pub severity: Severity,
    /// Server endpoint (`ip:port`) the connections went to.
    pub server: String,
    /// Host header of the handshake that opened them, when known.
    pub host: Option<String>,
    /// Request target of that handshake, when known.
    pub path: Option<String>,
    /// Incidents in the group: connections, or proxied WebSockets (all their legs).
    pub count: u64,
    /// The earliest incident's findings (its client leg's, when proxied), worst first.
    pub findings: Vec<FindingDetail>,
    /// The earliest proxied incident's other legs, proxy → upstream, in path order (left out
    /// unless proxied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_legs: Vec<ConnLegModel>,
    /// Incidents listed (up to the cap), in time order: each client leg, with its other
    /// legs in `upstream`.
    pub occurrences: Vec<ConnSummary>,
    /// Incidents counted but not listed.
    pub unlisted: u64,
}

/// The connections after the switch counted as incidents (a proxied WebSocket once).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ConnIncidentSummary {
    /// Incidents: each direct connection, and each proxied WebSocket with all its legs, once.
    pub total: u64,
    /// Those with a finding of severity warning or error on any leg.
    pub problems: u64,
    /// Of the incidents, proxied WebSockets.
    pub proxied: u64,
}

/// A further leg of a proxied WebSocket in a problem group (proxy → upstream).
#[derive(Clone, Debug, Serialize)]
pub struct ConnLegModel {
    /// Server endpoint (`ip:port`) of this leg.
    pub server: String,
    /// Host header of the handshake that opened it, when known.
    pub host: Option<String>,
    /// Request target of that handshake, when known.
    pub path: Option<String>,
    /// Its findings, worst first.
    pub findings: Vec<FindingDetail>,
}

/// One close frame, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CloseModel {
    /// Status code, when the frame had one.
    pub code: Option<u16>,
    /// What the code means (RFC 6455 §7.4).
    pub meaning: Option<&'static str>,
    /// Reason text (untrusted).
    pub reason: String,
    /// Packet that carried it.
    pub packet: u64,
    /// When it was sent.
    pub time: String,
}

impl CloseModel {
    fn of(c: &CloseFrame) -> Self {
        CloseModel {
            code: c.code,
            meaning: c.code.map(crate::websocket::frame::close_code_meaning),
            reason: c.reason.clone(),
            packet: c.packet,
            time: format_ts(c.ts),
        }
    }

    /// `1008 (policy violation)` or `no code`; trusted text (numbers and catalogue words).
    #[must_use]
    pub fn label(&self) -> String {
        match (self.code, self.meaning) {
            (Some(code), Some(m)) => format!("{code} ({m})"),
            (Some(code), None) => code.to_string(),
            (None, _) => "no code".to_owned(),
        }
    }
}

/// One WebSocket connection in brief.
#[derive(Clone, Debug, Serialize)]
pub struct ConnSummary {
    /// The handshake that opened it, when captured.
    pub handshake_id: Option<u64>,
    /// Anchor of that handshake's row in the handshake table, when listed there.
    pub handshake_anchor: Option<String>,
    /// Anchor of the proxy hop that handshake is a leg of.
    pub hop: Option<String>,
    /// When frames could start.
    pub time: String,
    #[serde(skip)]
    ts_ns: i64,
    /// When it ended.
    pub end_time: String,
    /// `time` to `end_time`, in milliseconds.
    pub duration_ms: f64,
    /// Client endpoint (`ip:port`).
    pub client: String,
    /// Server endpoint (`ip:port`).
    pub server: String,
    /// Community ID v1.
    pub community_id: String,
    /// The connection's story in one line (control characters in reasons escaped).
    pub story: String,
    /// How it ended.
    pub ending: ConnectionEnding,
    /// Who sent the first close frame.
    pub close_initiator: Option<Peer>,
    /// The client's close frame.
    pub client_close: Option<CloseModel>,
    /// The server's close frame.
    pub server_close: Option<CloseModel>,
    /// How TCP ended.
    pub tcp_end: Ending,
    /// Quiet time before the teardown.
    pub idle_before_end_ms: Option<f64>,
    /// Worst finding code.
    pub top_finding: Option<&'static str>,
    /// In a problem group, the incident's other legs, proxy → upstream (left out unless
    /// proxied, and in the table of every connection).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<ConnSummary>,
}

impl ConnSummary {
    fn of(c: &ConnectionRecord) -> Self {
        ConnSummary {
            handshake_id: c.handshake_id,
            handshake_anchor: None,
            hop: None,
            time: format_ts(c.ts),
            ts_ns: c.ts.0,
            end_time: format_ts(c.end_ts),
            duration_ms: c.duration_ms,
            client: c.client.to_string(),
            server: c.server.to_string(),
            community_id: c.community_id.clone(),
            story: crate::present::connection_story(c),
            ending: c.ending,
            close_initiator: c.close.initiator,
            client_close: c.close.client.as_ref().map(CloseModel::of),
            server_close: c.close.server.as_ref().map(CloseModel::of),
            tcp_end: c.tcp_end,
            idle_before_end_ms: c.idle_before_end_ms,
            top_finding: c.top_finding().map(|f| f.code.as_str()),
            upstream: Vec::new(),
        }
    }

    /// Words for how TCP ended.
    #[must_use]
    pub fn tcp_end_words(&self) -> &'static str {
        self.tcp_end.describe()
    }
}

/// What the report says about the capture file: its identity, span and counters.
#[derive(Clone, Debug, Serialize)]
pub struct CaptureModel {
    /// The file as named.
    pub file: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of the whole file, lower-case hex (not known for standard input).
    pub sha256: Option<String>,
    /// Link types, in order of first appearance.
    pub linktypes: Vec<String>,
    /// First packet time.
    pub first_packet: Option<String>,
    /// Last packet time.
    pub last_packet: Option<String>,
    /// Last minus first, in seconds.
    pub duration_s: Option<f64>,
    /// Packets read (all of them, not only TCP).
    pub packets: u64,
    /// Bytes of packets read.
    pub bytes: u64,
    /// TCP connections tracked.
    pub flows: u64,
    /// Connections with a WebSocket upgrade.
    pub upgrade_flows: u64,
    /// Snap length from the file header.
    pub snaplen: Option<u32>,
    /// Kernel drops, when recorded.
    pub drops: Option<u64>,
    /// Read error (damaged file).
    pub read_error: Option<String>,
    /// Several files read as one capture: each of them in the order read (omitted for one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<CaptureFileModel>,
}

/// One of several files read as one capture.
#[derive(Clone, Debug, Serialize)]
pub struct CaptureFileModel {
    /// The path as given or found.
    pub file: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: Option<String>,
    /// Packets read from it.
    pub packets: u64,
    /// Why its reading stopped early (damage), if it did.
    pub read_error: Option<String>,
}

/// The incidents a person triages, when some handshakes were proxied (several records each).
#[derive(Clone, Debug, Serialize)]
pub struct IncidentSummary {
    /// Incidents: each direct handshake, and each proxied handshake with all its legs, once.
    pub total: u64,
    /// Of those, proxied handshakes.
    pub proxied: u64,
    /// Handshake records they are made of (one per leg; the `total` above).
    pub records: u64,
    /// Incidents by the worst verdict of their legs, worst first (every verdict listed).
    pub verdicts: Vec<VerdictCount>,
}

impl IncidentSummary {
    /// The summary of `c`, `None` when no incident was proxied.
    fn of(c: &IncidentCounts) -> Option<Self> {
        (c.proxied > 0).then(|| IncidentSummary {
            total: c.incidents,
            proxied: c.proxied,
            records: c.records,
            verdicts: VERDICTS_WORST_FIRST
                .iter()
                .map(|v| VerdictCount {
                    verdict: *v,
                    count: c.with_verdict(*v),
                })
                .collect(),
        })
    }
}

/// One verdict's count.
#[derive(Clone, Debug, Serialize)]
pub struct VerdictCount {
    /// The verdict.
    pub verdict: Verdict,
    /// Handshakes (in [`IncidentSummary`]: incidents) with this verdict.
    pub count: u64,
}

/// One finding code's count.
#[derive(Clone, Debug, Serialize)]
pub struct FindingCount {
    /// The finding code.
    pub code: String,
    /// Worst severity seen for it.
    pub severity: Severity,
    /// Handshakes showing it.
    pub count: u64,
    /// What it means.
    pub title: String,
}

/// Failures per host and path.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCount {
    /// Host header (or server address when there is none).
    pub host: String,
    /// Request path, without the query (so handshakes that differ only in query values
    /// count together, and no query value, such as a token, is shown).
    pub path: String,
    /// Handshakes to this host and path that failed (incidents: a proxied handshake once,
    /// failed when any of its legs failed).
    pub failed: u64,
    /// Every handshake to this host and path (incidents, as `failed`).
    pub total: u64,
}

/// One status code's count.
#[derive(Clone, Debug, Serialize)]
pub struct StatusCount {
    /// The status, `None` for no response.
    pub status: Option<u16>,
    /// Label for charts.
    pub label: String,
    /// Handshakes answered with this status (or with none).
    pub count: u64,
}

/// One latency histogram bucket.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyBucket {
    /// The bucket's range, e.g. `1 ms–3 ms`.
    pub label: String,
    /// Handshakes whose response came within this range.
    pub count: u64,
}

/// Handshakes over time.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// Time of the first point.
    pub start: Option<String>,
    /// First to last point.
    pub span_ms: f64,
    /// Points in time order.
    pub points: Vec<TimelinePoint>,
}

/// One handshake on the timeline.
#[derive(Clone, Debug, Serialize)]
pub struct TimelinePoint {
    /// Milliseconds after the first point.
    pub offset_ms: f64,
    /// The handshake's verdict (the row it is drawn in).
    pub verdict: Verdict,
}

/// A correlated proxy hop with both requests as on the wire.
#[derive(Clone, Debug, Serialize)]
pub struct HopModel {
    /// Anchor id in the HTML.
    pub anchor: String,
    /// The hop as the engine linked it (its fields are flattened into this object).
    #[serde(flatten)]
    pub link: HopLink,
    /// Client → proxy request.
    pub downstream_request: Option<Wire>,
    /// Proxy → upstream request.
    pub upstream_request: Option<Wire>,
}

/// Identical problem incidents collapsed into one section. An incident is one handshake, or
/// every leg of one proxied handshake (shown once, with both legs, not once per leg).
#[derive(Clone, Debug, Serialize)]
pub struct GroupModel {
    /// Anchor id in the HTML.
    pub anchor: String,
    /// The verdict every incident of the group shares (the worst of its legs).
    pub verdict: Verdict,
    /// Incidents in the group.
    pub count: u64,
    /// The earliest incident in full: its handshake, or for a proxied one its client → proxy
    /// leg.
    pub detail: Detail,
    /// The earliest proxied incident's other legs in full, proxy → upstream, in path order
    /// (left out unless proxied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_legs: Vec<Detail>,
    /// Anchors of the proxy hops (in `hops`) between those legs, in path order (left out
    /// unless proxied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<String>,
    /// Incidents listed (up to the cap), in time order.
    pub occurrences: Vec<Occurrence>,
    /// Incidents counted but not listed.
    pub unlisted: u64,
}

/// One occurrence of a group: one incident.
#[derive(Clone, Debug, Serialize)]
pub struct Occurrence {
    /// Handshake record id (of the client → proxy leg, when proxied).
    pub id: u64,
    /// Request time, UTC.
    pub time: String,
    /// Client endpoint (`ip:port`).
    pub client: String,
    /// Request and response packets.
    pub packets: Vec<u64>,
    /// Community ID v1 of the connection.
    pub community_id: String,
    /// Record ids of the incident's other legs, proxy → upstream (left out unless proxied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_ids: Vec<u64>,
}

impl Occurrence {
    fn of(incident: &Incident) -> Self {
        let (first, rest) = match incident.legs.split_first() {
            Some((first, rest)) => (Some(first), rest),
            None => (None, &[][..]),
        };
        Occurrence {
            id: first.map_or(0, |l| l.id),
            time: first.map(|l| format_ts(l.ts)).unwrap_or_default(),
            client: first.map(|l| l.client.to_string()).unwrap_or_default(),
            packets: first.map(|l| l.packets.clone()).unwrap_or_default(),
            community_id: first.map(|l| l.community_id.clone()).unwrap_or_default(),
            upstream_ids: rest.iter().map(|l| l.id).collect(),
        }
    }
}

/// One handshake in full.
#[derive(Clone, Debug, Serialize)]
pub struct Detail {
    /// Handshake record id.
    pub id: u64,
    /// Time of the request.
    pub time: String,
    /// Client endpoint (`ip:port`).
    pub client: String,
    /// Server endpoint (`ip:port`).
    pub server: String,
    /// The request's Host header.
    pub host: Option<String>,
    /// Request summary (`GET /path`).
    pub request_summary: String,
    /// Final response status, when a response was captured.
    pub status: Option<u16>,
    /// The handshake's verdict.
    pub verdict: Verdict,
    /// Community ID v1.
    pub community_id: String,
    /// wss://: the decrypted TLS connection that carried it (version, SNI, ALPN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Findings, worst first.
    pub findings: Vec<FindingDetail>,
    /// The request as on the wire.
    pub request: Option<Wire>,
    /// Interim (1xx) responses before the final one, as on the wire.
    pub interim: Vec<Wire>,
    /// The response as on the wire.
    pub response: Option<Wire>,
    /// The client's Sec-WebSocket-Key.
    pub key: Option<String>,
    /// Accept expected from the key.
    pub expected_accept: Option<String>,
    /// Accept the server sent.
    pub actual_accept: Option<String>,
    /// Request to response, ms.
    pub latency_ms: Option<f64>,
    /// Waited without response, ms.
    pub waited_ms: Option<f64>,
    /// How the connection ended, when no response came.
    pub ending: Option<&'static str>,
    /// Wireshark display filter for the packets.
    pub wireshark_filter: Option<String>,
    /// curl command reproducing the request.
    pub curl: Option<String>,
    /// Said next to `curl` when its credentials are redaction placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curl_note: Option<&'static str>,
    /// Anchor of the proxy hop this handshake is a leg of.
    pub hop: Option<String>,
    /// What comparing `expected_accept` with `actual_accept` says, for the renderers.
    #[serde(skip)]
    pub(crate) accept_check: Option<AcceptCheck>,
}

/// A finding with its explanation.
#[derive(Clone, Debug, Serialize)]
pub struct FindingDetail {
    /// The finding code.
    pub code: &'static str,
    /// Severity for this handshake (a tolerated error is a warning).
    pub severity: Severity,
    /// This handshake's specifics.
    pub message: String,
    /// What the code means.
    pub title: &'static str,
    /// How to fix it.
    pub hint: &'static str,
    /// Packets showing it.
    pub packets: Vec<u64>,
    /// The code of the record's own finding this one is shown in place of: a proxy hop found
    /// after the record showed that the proxy, not the server, broke the handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<&'static str>,
}

/// A head as on the wire, line by line, with the offending lines marked.
#[derive(Clone, Debug, Serialize)]
pub struct Wire {
    /// Packets that carried it.
    pub packets: Vec<u64>,
    /// Time of its first byte.
    pub time: String,
    /// Its lines, without line endings.
    pub lines: Vec<WireLine>,
    /// Lines ended with a bare LF instead of CRLF.
    pub bare_lf: bool,
    /// Headers that should be there and are not, with the code that says so.
    pub missing: Vec<Missing>,
    /// The body wssniff kept (a refusal's reason), as lines; empty when none was kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub body: Vec<String>,
}

/// One line of a head.
#[derive(Clone, Debug, Serialize)]
pub struct WireLine {
    /// The line as sent, without its line ending.
    pub text: String,
    /// Finding codes citing it.
    pub marks: Vec<&'static str>,
}

/// A header a finding says is missing.
#[derive(Clone, Debug, Serialize)]
pub struct Missing {
    /// The line that should be there.
    pub line: String,
    /// The code of the finding that says it is missing.
    pub code: &'static str,
}

/// One row of the handshake table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Handshake record id.
    pub id: u64,
    /// Request time, UTC.
    pub time: String,
    /// Client endpoint (`ip:port`).
    pub client: String,
    /// Server endpoint (`ip:port`).
    pub server: String,
    /// `GET /path`, or `(request not captured)`.
    pub request: String,
    /// Final response status, when a response was captured.
    pub status: Option<u16>,
    /// The handshake's verdict.
    pub verdict: Verdict,
    /// Request to response, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Code of the worst finding.
    pub top_finding: Option<String>,
    /// Anchor of the problem group that details it, when there is one.
    pub group: Option<String>,
    /// Anchor of the proxy hop it is a leg of.
    pub hop: Option<String>,
}

impl Detail {
    fn of(r: &HandshakeRecord, hop: Option<usize>, correcting: Option<&HopLink>) -> Self {
        let corrected = corrected_findings(r, correcting);
        let findings = corrected
            .iter()
            .map(|(f, replaces)| finding_detail(f, *replaces))
            .collect();
        let cited: Vec<Finding> = corrected.into_iter().map(|(f, _)| f).collect();
        let request = wire(r.request.as_ref(), Some((&cited, MessageRef::Request)));
        let response = wire(r.response.as_ref(), Some((&cited, MessageRef::Response)));
        let mut packets: Vec<u64> = r
            .request
            .iter()
            .chain(&r.interim)
            .chain(&r.response)
            .flat_map(|m| m.packets.iter().copied())
            .collect();
        packets.sort_unstable();
        packets.dedup();
        let curl = curl_command(r);
        let wireshark_filter = (!packets.is_empty()).then(|| {
            packets
                .iter()
                .take(20)
                .map(|f| format!("frame.number == {f}"))
                .collect::<Vec<_>>()
                .join(" || ")
        });
        Detail {
            id: r.id,
            time: format_ts(r.ts),
            client: r.client.to_string(),
            server: r.server.to_string(),
            host: r.host.clone(),
            request_summary: request_summary(r),
            status: r.status,
            verdict: r.verdict,
            community_id: r.community_id.clone(),
            tls: r.tls.as_ref().map(crate::present::tls_carrier_words),
            findings,
            request,
            interim: r
                .interim
                .iter()
                .enumerate()
                .filter_map(|(i, m)| wire(Some(m), Some((&cited, MessageRef::Interim(i)))))
                .collect(),
            response,
            key: r.key.clone(),
            expected_accept: r.expected_accept.clone(),
            actual_accept: r.accept.clone(),
            latency_ms: r.timing.response_ms,
            waited_ms: r.timing.waited_ms,
            ending: r.ending.map(crate::event::Ending::describe),
            wireshark_filter,
            curl_note: curl.as_deref().and_then(curl_replay_note),
            curl,
            accept_check: accept_check(r.expected_accept.as_deref(), r.accept.as_deref(), r.status),
            hop: hop.map(|i| format!("hop{}", i + 1)),
        }
    }
}

/// A captured head as lines, marking those the findings' evidence cites in it (`cited`: the
/// findings and which message of the exchange this is), and listing the lines it lacks.
fn wire(m: Option<&Message>, cited: Option<(&[Finding], MessageRef)>) -> Option<Wire> {
    let m = m?;
    let raw = if m.head.raw.is_empty() {
        // Heads built without raw bytes (never from a capture): rebuild from the fields.
        let mut s = m.head.start_line.clone();
        s.push_str("\r\n");
        for h in &m.head.headers {
            s.push_str(&h.line());
            s.push_str("\r\n");
        }
        s
    } else {
        m.head.raw.clone()
    };
    let parts = raw_line_parts(&raw, m.head.headers.len());
    let mut bare_lf = false;
    let mut lines = Vec::new();
    for (i, line) in raw.split('\n').enumerate() {
        let text = match line.strip_suffix('\r') {
            Some(t) => t,
            None => {
                if !line.is_empty() {
                    bare_lf = true;
                }
                line
            }
        };
        if text.is_empty() && i > 0 {
            // The blank line that ends the head.
            break;
        }
        let mut marks: Vec<&'static str> = match (cited, parts.get(i).and_then(Option::as_ref)) {
            (Some((findings, message)), Some(part)) => citing(findings, message, part)
                .map(|f| f.code.as_str())
                .collect(),
            _ => Vec::new(),
        };
        marks.dedup();
        lines.push(WireLine {
            text: text.to_owned(),
            marks,
        });
    }
    let missing = match cited {
        Some((findings, message)) => missing_lines(findings, message)
            .into_iter()
            .map(|(line, f)| Missing {
                line: line.to_owned(),
                code: f.code.as_str(),
            })
            .collect(),
        None => Vec::new(),
    };
    Some(Wire {
        packets: m.packets.clone(),
        time: format_ts(m.first_ts),
        lines,
        bare_lf,
        missing,
        body: m
            .body
            .as_ref()
            .map(|b| body_lines(b, REPORT_BODY_LINES))
            .unwrap_or_default(),
    })
}

/// Most lines of a kept body shown under its response.
const REPORT_BODY_LINES: usize = 40;

impl ConnectionsModel {
    /// (connections, those that ended badly) as a person counts them: incidents, a proxied
    /// WebSocket's legs once (the records when none was proxied).
    #[must_use]
    pub fn incident_counts(&self) -> (u64, u64) {
        self.incidents
            .map_or((self.total, self.problems), |i| (i.total, i.problems))
    }

    /// The opening sentence of "After the switch" (numbers only, no captured text).
    #[must_use]
    pub fn summary_sentence(&self) -> String {
        let without = if self.without_handshake > 0 {
            format!(
                "; {} without a captured opening handshake",
                self.without_handshake
            )
        } else {
            String::new()
        };
        let incidents = self.incidents.map_or_else(String::new, |i| {
            format!(
                " As incidents (the legs of a proxied WebSocket once, {} proxied): {}, {} ended badly.",
                i.proxied, i.total, i.problems
            )
        });
        format!(
            "{} after the switch, {} ended badly{without}.{incidents}",
            plural(self.total, "WebSocket connection"),
            self.problems
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_labels() {
        assert_eq!(latency_label(0), "< 0.1 ms");
        assert_eq!(latency_label(3), "1 ms–3 ms");
        assert_eq!(latency_label(LATENCY_BOUNDS_MS.len()), "≥ 10 s");
    }
}
