//! Incidents: what a person triages, as opposed to the records the engine emits. One
//! incident is one handshake as the client attempted it: a single record, or, when the
//! engine linked proxy legs (`Event::Hop`), every leg of that proxied handshake together
//! (client → proxy first, then each hop towards the upstream). Identical incidents (the same
//! legs: server, Host, path, verdict and finding codes, and the same hops broken in the same
//! place) form one [`IncidentGroup`] with a count, so a failure repeated 500 times is one
//! entry, not 500.
//!
//! Inputs are handshake records and hop links in any order (a hop may come before or after
//! its legs' records); output is the groups, worst verdict first, then by time. The report
//! renders them, the TUI shows them as expandable rows: both ask [`Incidents`] (streaming) or
//! [`group_incidents`] (over slices), so they cannot group differently.
//!
//! Pure and bounded: no I/O, no clock, no derivation of traffic facts (verdicts, findings and
//! links come with the events). A record waits at most [`LEG_WINDOW`] later records for a hop
//! that names it (the hop tracker remembers no more), then its incident is counted; at most
//! [`Limits::max_groups`] groups are kept with [`Limits::max_listed`] incidents listed each,
//! the rest counted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::correlate::hop::MAX_TRACKED;
use crate::event::{BrokenAt, HandshakeRecord, HopLink, Message, Verdict};
use crate::present::{verdict_rank, VERDICTS_WORST_FIRST};

/// Records a handshake waits for a hop that names it before its incident is counted: as many
/// as the engine's hop tracker compares a new handshake with, so no link it can make comes
/// too late.
pub const LEG_WINDOW: usize = MAX_TRACKED;

/// Legs in one incident at most (a chain of proxies longer than this is cut, not looped).
const MAX_LEGS: usize = 8;

/// How much grouping keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Distinct groups kept; incidents that would open another are counted in
    /// [`Incidents::ungrouped`].
    pub max_groups: usize,
    /// Incidents listed per group (the rest are counted in [`IncidentGroup::unlisted`]).
    pub max_listed: usize,
    /// Only incidents with a leg whose verdict is not `ok` (the report's problem sections);
    /// `false` groups every incident (the TUI's rows).
    pub problems_only: bool,
}

/// One leg of an incident in brief: enough to list it and to find its row.
#[derive(Clone, Debug, PartialEq)]
pub struct Leg {
    /// The record itself (its id alone names it only within one capture: the TUI may read
    /// several, whose ids restart).
    pub record: Arc<HandshakeRecord>,
    /// Handshake record id.
    pub id: u64,
    /// Request time.
    pub ts: Timestamp,
    /// Client endpoint of this leg (for an upstream leg, the proxy's outgoing address).
    pub client: SocketAddr,
    /// Server endpoint of this leg.
    pub server: SocketAddr,
    /// The leg's verdict.
    pub verdict: Verdict,
    /// First packets of the request and the response (the evidence to open).
    pub packets: Vec<u64>,
    /// Community ID v1 of the leg's connection.
    pub community_id: String,
}

impl Leg {
    fn of(r: &Arc<HandshakeRecord>) -> Self {
        let mut packets: Vec<u64> = r
            .request
            .iter()
            .chain(&r.response)
            .map(Message::first_packet)
            .filter(|f| *f > 0)
            .collect();
        packets.dedup();
        Leg {
            record: Arc::clone(r),
            id: r.id,
            ts: r.ts,
            client: r.client,
            server: r.server,
            verdict: r.verdict,
            packets,
            community_id: r.community_id.clone(),
        }
    }
}

/// One incident: its legs, client side first (a single leg unless proxied).
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    /// The legs in path order: client → proxy, then proxy → next hop, …
    pub legs: Vec<Leg>,
}

impl Incident {
    /// Whether the engine linked more than one leg.
    #[must_use]
    pub fn proxied(&self) -> bool {
        self.legs.len() > 1
    }

    /// Record ids of the legs, client side first.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.legs.iter().map(|l| l.id)
    }

    fn order(&self) -> (Timestamp, u64) {
        self.legs
            .first()
            .map_or((Timestamp(i64::MAX), u64::MAX), |l| (l.ts, l.id))
    }
}

/// How many incidents there were, by the worst verdict of their legs: every incident, whatever
/// the [`Limits`] kept (problems only or not, groups beyond the cap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncidentCounts {
    /// Incidents (a handshake, or every leg of a proxied one, counts once).
    pub incidents: u64,
    /// Of those, proxied ones (more than one leg).
    pub proxied: u64,
    /// Handshake records the incidents are made of (one per leg).
    pub records: u64,
    /// Incidents by verdict, indexed like [`VERDICTS_WORST_FIRST`].
    by_verdict: [u64; VERDICTS_WORST_FIRST.len()],
}

impl IncidentCounts {
    /// Incidents whose worst leg has verdict `v`.
    #[must_use]
    pub fn with_verdict(&self, v: Verdict) -> u64 {
        VERDICTS_WORST_FIRST
            .iter()
            .position(|x| *x == v)
            .and_then(|i| self.by_verdict.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Counts one incident made of `legs`.
    fn count(&mut self, legs: &[Arc<HandshakeRecord>]) {
        let Some(worst) = legs
            .iter()
            .map(|r| r.verdict)
            .max_by_key(|v| verdict_rank(*v))
        else {
            return;
        };
        self.incidents += 1;
        self.proxied += u64::from(legs.len() > 1);
        self.records += legs.len() as u64;
        if let Some(n) = VERDICTS_WORST_FIRST
            .iter()
            .position(|x| *x == worst)
            .and_then(|i| self.by_verdict.get_mut(i))
        {
            *n += 1;
        }
    }
}

/// Distinct (Host, path) pairs [`Incidents::targets`] counts; incidents to further ones are
/// counted apart.
pub const MAX_TARGETS: usize = 10_000;

/// Incidents sent to one Host and path (the client leg's; the path without its query, so
/// handshakes that differ only in a query token count together): how many, how many failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetTally {
    /// Incidents whose worst leg failed.
    pub failed: u64,
    /// Every incident.
    pub total: u64,
}

/// Incidents by (Host, path): see [`Incidents::targets`].
pub type TargetTallies = BTreeMap<(String, String), TargetTally>;

/// Where incident `legs` was sent, as a person names it: the client leg's Host header (its
/// server address without one) and its path without the query.
fn target_of(legs: &[Arc<HandshakeRecord>]) -> Option<(String, String)> {
    let client = legs.first()?;
    Some((
        client
            .host
            .clone()
            .unwrap_or_else(|| client.server.to_string()),
        client
            .path
            .as_deref()
            .map(super::target_path)
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// Counts incident `legs` into `targets` (at most [`MAX_TARGETS`] keys; `overflow` counts
/// the incidents beyond).
fn tally(targets: &mut TargetTallies, overflow: &mut u64, legs: &[Arc<HandshakeRecord>]) {
    let Some(key) = target_of(legs) else {
        return;
    };
    let failed = u64::from(legs.iter().any(|r| r.verdict == Verdict::Failed));
    let full = targets.len() >= MAX_TARGETS;
    match targets.get_mut(&key) {
        Some(t) => {
            t.failed += failed;
            t.total += 1;
        }
        None if full => *overflow += 1,
        None => {
            targets.insert(key, TargetTally { failed, total: 1 });
        }
    }
}

/// Identical incidents: the earliest in full, the others listed or counted.
#[derive(Clone, Debug)]
pub struct IncidentGroup {
    /// The worst verdict of any leg (every incident of the group shares it).
    pub verdict: Verdict,
    /// Incidents in the group.
    pub count: u64,
    /// The earliest incident's records, client side first.
    pub exemplar: Vec<Arc<HandshakeRecord>>,
    /// The hop links between the exemplar's legs, client side first (empty unless proxied).
    pub hops: Vec<HopLink>,
    /// Incidents listed (up to [`Limits::max_listed`]), in time order, the exemplar first.
    pub incidents: Vec<Incident>,
    /// Incidents counted but not listed.
    pub unlisted: u64,
}

impl IncidentGroup {
    /// Whether the listed incidents include record `id` (as any leg).
    #[must_use]
    pub fn lists(&self, id: u64) -> bool {
        self.incidents.iter().any(|i| i.ids().any(|l| l == id))
    }

    /// Whether the group's incidents are proxied handshakes (several legs each).
    #[must_use]
    pub fn proxied(&self) -> bool {
        self.exemplar.len() > 1
    }
}

/// What makes two legs the same for grouping.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LegKey {
    server: SocketAddr,
    host: Option<String>,
    path: Option<String>,
    verdict: Verdict,
    codes: Vec<&'static str>,
}

impl LegKey {
    /// The key of leg `r`; `hops` are the incident's links, whose correction (on the client
    /// side of a hop) names the real cause in place of the code the record blames.
    fn of(r: &HandshakeRecord, hops: &[HopLink]) -> Self {
        let corrected = hops
            .iter()
            .find(|h| h.downstream == r.id && h.correction.is_some());
        let mut codes: Vec<&'static str> = match corrected {
            Some(h) => h
                .corrected_findings(&r.findings, r.id)
                .iter()
                .map(|f| f.code.as_str())
                .collect(),
            None => r.findings.iter().map(|f| f.code.as_str()).collect(),
        };
        codes.sort_unstable();
        codes.dedup();
        LegKey {
            server: r.server,
            host: r.host.clone(),
            path: r.path.clone(),
            verdict: r.verdict,
            codes,
        }
    }
}

/// Identical incidents share a key: the same legs in the same order, broken at the same hops.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IncidentKey {
    legs: Vec<LegKey>,
    broken: Vec<u8>,
}

fn broken_rank(b: BrokenAt) -> u8 {
    match b {
        BrokenAt::Nowhere => 0,
        BrokenAt::ProxyRequest => 1,
        BrokenAt::ProxyResponse => 2,
        BrokenAt::Upstream => 3,
        BrokenAt::Unknown => 4,
    }
}

#[derive(Clone, Debug)]
struct GroupState {
    verdict: Verdict,
    count: u64,
    /// The exemplar's order key (request time, id of its first leg).
    first: (Timestamp, u64),
    exemplar: Vec<Arc<HandshakeRecord>>,
    hops: Vec<HopLink>,
    incidents: Vec<Incident>,
}

/// Streaming grouping: feed records and hop links as they come, ask for the groups at any
/// time. Bounded by [`LEG_WINDOW`] waiting records, as many waiting links, and the
/// [`Limits`].
#[derive(Debug)]
pub struct Incidents {
    limits: Limits,
    /// Records still waiting for a hop that may name them, by id.
    waiting: BTreeMap<u64, Arc<HandshakeRecord>>,
    /// Their arrival order (the oldest is counted first).
    arrival: VecDeque<u64>,
    /// Hop links by the record ids they name (each link under both legs).
    links: BTreeMap<u64, Vec<HopLink>>,
    groups: BTreeMap<IncidentKey, GroupState>,
    ungrouped: u64,
    /// Every incident counted so far (waiting records not yet).
    counted: IncidentCounts,
    /// Incidents counted so far by Host and path, when asked for ([`Incidents::with_targets`]),
    /// and those beyond [`MAX_TARGETS`] pairs.
    targets: Option<(TargetTallies, u64)>,
}

impl Incidents {
    /// No incident yet.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Incidents {
            limits,
            waiting: BTreeMap::new(),
            arrival: VecDeque::new(),
            links: BTreeMap::new(),
            groups: BTreeMap::new(),
            ungrouped: 0,
            counted: IncidentCounts::default(),
            targets: None,
        }
    }

    /// Also counts incidents by Host and path ([`Incidents::targets`]: the report's "Hosts and
    /// paths with the most failures").
    #[must_use]
    pub fn with_targets(mut self) -> Self {
        self.targets = Some((BTreeMap::new(), 0));
        self
    }

    /// Every incident so far (waiting records included) by the Host and path its client leg
    /// was sent to, and how many incidents went to pairs beyond [`MAX_TARGETS`]; empty unless
    /// asked for with [`Incidents::with_targets`]. A proxied handshake counts once, under
    /// the Host and path its client asked for.
    #[must_use]
    pub fn targets(&self) -> (TargetTallies, u64) {
        let Some((targets, overflow)) = &self.targets else {
            return (BTreeMap::new(), 0);
        };
        let (mut targets, mut overflow) = (targets.clone(), *overflow);
        for (legs, _) in self.waiting_incidents() {
            tally(&mut targets, &mut overflow, &legs);
        }
        (targets, overflow)
    }

    /// Every incident so far (waiting records included, each with the legs linked so far),
    /// by verdict: what a headline counts, whatever the limits grouped.
    #[must_use]
    pub fn counts(&self) -> IncidentCounts {
        let mut counts = self.counted;
        for (legs, _) in self.waiting_incidents() {
            counts.count(&legs);
        }
        counts
    }

    /// Takes one handshake record.
    pub fn record(&mut self, r: &Arc<HandshakeRecord>) {
        // The same id again is a later run whose ids restart (the TUI fed several captures):
        // the earlier record's incident is counted first, so neither replaces the other.
        if self.waiting.contains_key(&r.id) {
            self.commit(r.id);
            self.arrival.retain(|a| *a != r.id);
        }
        if self.waiting.insert(r.id, Arc::clone(r)).is_none() {
            self.arrival.push_back(r.id);
        }
        while self.arrival.len() > LEG_WINDOW {
            let Some(oldest) = self.arrival.pop_front() else {
                break;
            };
            if self.waiting.contains_key(&oldest) {
                self.commit(oldest);
            }
        }
    }

    /// Takes one hop link (before or after its legs' records).
    pub fn hop(&mut self, h: &HopLink) {
        for id in [h.downstream, h.upstream] {
            let list = self.links.entry(id).or_default();
            if list.len() < MAX_LEGS && !list.contains(h) {
                list.push(h.clone());
            }
        }
        // Links whose legs never come are dropped oldest first (ids grow with time).
        while self.links.len() > 2 * LEG_WINDOW {
            self.links.pop_first();
        }
    }

    /// Incidents that would have opened a group beyond [`Limits::max_groups`].
    #[must_use]
    pub fn ungrouped(&self) -> u64 {
        let mut view = self.groups.clone();
        let mut ungrouped = self.ungrouped;
        for incident in self.waiting_incidents() {
            if !self.add(&mut view, incident) {
                ungrouped += 1;
            }
        }
        ungrouped
    }

    /// The groups so far (waiting records included), worst verdict first, then by the time
    /// of their earliest incident.
    #[must_use]
    pub fn groups(&self) -> Vec<IncidentGroup> {
        let mut view = self.groups.clone();
        for incident in self.waiting_incidents() {
            self.add(&mut view, incident);
        }
        let mut groups: Vec<IncidentGroup> = view
            .into_values()
            .map(|g| {
                let mut incidents = g.incidents;
                incidents.sort_by_key(Incident::order);
                IncidentGroup {
                    verdict: g.verdict,
                    unlisted: g.count.saturating_sub(incidents.len() as u64),
                    count: g.count,
                    exemplar: g.exemplar,
                    hops: g.hops,
                    incidents,
                }
            })
            .collect();
        groups.sort_by_key(|g| {
            (
                VERDICTS_WORST_FIRST.iter().position(|v| *v == g.verdict),
                g.exemplar.first().map(|r| (r.ts, r.id)),
            )
        });
        groups
    }

    /// The waiting records as incidents, each component once, oldest first.
    fn waiting_incidents(&self) -> Vec<(Vec<Arc<HandshakeRecord>>, Vec<HopLink>)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for id in &self.arrival {
            if !self.waiting.contains_key(id) || seen.contains(id) {
                continue;
            }
            let (legs, hops) = self.component(*id);
            seen.extend(legs.iter().map(|r| r.id));
            out.push((legs, hops));
        }
        out
    }

    /// Counts the incident of waiting record `id` and stops waiting for its legs.
    fn commit(&mut self, id: u64) {
        let (legs, hops) = self.component(id);
        for r in &legs {
            self.waiting.remove(&r.id);
            self.links.remove(&r.id);
        }
        self.counted.count(&legs);
        if let Some((targets, overflow)) = &mut self.targets {
            tally(targets, overflow, &legs);
        }
        let mut groups = std::mem::take(&mut self.groups);
        if !self.add(&mut groups, (legs, hops)) {
            self.ungrouped += 1;
        }
        self.groups = groups;
    }

    /// The waiting legs linked to `id` (directly or through other legs), client side first,
    /// and the links between them.
    fn component(&self, id: u64) -> (Vec<Arc<HandshakeRecord>>, Vec<HopLink>) {
        let mut members = BTreeSet::from([id]);
        let mut todo = vec![id];
        let mut hops: Vec<HopLink> = Vec::new();
        while let Some(at) = todo.pop() {
            for h in self.links.get(&at).into_iter().flatten() {
                if !hops.contains(h) {
                    hops.push(h.clone());
                }
                for other in [h.downstream, h.upstream] {
                    if members.len() < MAX_LEGS
                        && self.waiting.contains_key(&other)
                        && members.insert(other)
                    {
                        todo.push(other);
                    }
                }
            }
        }
        hops.retain(|h| members.contains(&h.downstream) && members.contains(&h.upstream));
        // Client side first: start at the leg no link names as its upstream, then follow
        // downstream → upstream.
        let upstreams: BTreeSet<u64> = hops.iter().map(|h| h.upstream).collect();
        let mut ordered_ids: Vec<u64> = Vec::new();
        let mut ordered_hops: Vec<HopLink> = Vec::new();
        let mut at = members.iter().copied().find(|m| !upstreams.contains(m));
        while let Some(m) = at {
            if ordered_ids.contains(&m) {
                break;
            }
            ordered_ids.push(m);
            at = hops.iter().find(|h| h.downstream == m).map(|h| {
                ordered_hops.push(h.clone());
                h.upstream
            });
        }
        // Legs a branching (one request forwarded twice) left out: after, in id order.
        for m in &members {
            if !ordered_ids.contains(m) {
                ordered_ids.push(*m);
            }
        }
        for h in hops {
            if !ordered_hops.contains(&h) {
                ordered_hops.push(h);
            }
        }
        let legs = ordered_ids
            .iter()
            .filter_map(|m| self.waiting.get(m).cloned())
            .collect();
        (legs, ordered_hops)
    }

    /// Adds one incident to `groups`; `false` when it has no group and no room for one.
    /// Incidents that are not problems, when only problems are grouped, count as added.
    fn add(
        &self,
        groups: &mut BTreeMap<IncidentKey, GroupState>,
        (legs, hops): (Vec<Arc<HandshakeRecord>>, Vec<HopLink>),
    ) -> bool {
        let Some(verdict) = legs
            .iter()
            .map(|r| r.verdict)
            .max_by_key(|v| verdict_rank(*v))
        else {
            return true;
        };
        if self.limits.problems_only && verdict == Verdict::Ok {
            return true;
        }
        let key = IncidentKey {
            legs: legs.iter().map(|r| LegKey::of(r, &hops)).collect(),
            broken: hops.iter().map(|h| broken_rank(h.broken_at)).collect(),
        };
        let incident = Incident {
            legs: legs.iter().map(Leg::of).collect(),
        };
        if let Some(g) = groups.get_mut(&key) {
            g.count += 1;
            let earliest = incident.order() < g.first;
            if earliest {
                g.first = incident.order();
                g.exemplar = legs;
                g.hops = hops;
            }
            if g.incidents.len() < self.limits.max_listed {
                g.incidents.push(incident);
            } else if earliest {
                // Keep the exemplar listed: it replaces the latest listed one.
                if let Some(latest) = g
                    .incidents
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, i)| i.order())
                    .map(|(n, _)| n)
                {
                    if let Some(slot) = g.incidents.get_mut(latest) {
                        *slot = incident;
                    }
                }
            }
            true
        } else if groups.len() < self.limits.max_groups {
            groups.insert(
                key,
                GroupState {
                    verdict,
                    count: 1,
                    first: incident.order(),
                    exemplar: legs,
                    hops,
                    incidents: vec![incident],
                },
            );
            true
        } else {
            false
        }
    }
}

/// Groups `records` and `hops` (the TUI's store, a test's events) in one call: the same
/// groups as feeding them to [`Incidents`] one by one.
#[must_use]
pub fn group_incidents<'a>(
    records: impl IntoIterator<Item = &'a Arc<HandshakeRecord>>,
    hops: impl IntoIterator<Item = &'a HopLink>,
    limits: Limits,
) -> Vec<IncidentGroup> {
    let mut incidents = Incidents::new(limits);
    for h in hops {
        incidents.hop(h);
    }
    for r in records {
        incidents.record(r);
    }
    incidents.groups()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Timing;
    use crate::finding::{Code, Finding};

    const LIMITS: Limits = Limits {
        max_groups: 10,
        max_listed: 3,
        problems_only: true,
    };

    fn record(id: u64, server: &str, path: &str, verdict: Verdict) -> Arc<HandshakeRecord> {
        let findings = if verdict == Verdict::Ok {
            vec![]
        } else {
            vec![Finding::new(Code::UpgradeIgnored, "200 instead of 101")]
        };
        Arc::new(HandshakeRecord {
            id,
            ts: Timestamp(i64::try_from(id).unwrap() * 1_000),
            client: format!("10.0.0.1:{}", 40_000 + id).parse().unwrap(),
            server: server.parse().unwrap(),
            community_id: format!("1:{id}"),
            verdict,
            status: Some(200),
            method: Some("GET".into()),
            host: Some("h".into()),
            path: Some(path.into()),
            origin: None,
            key: Some("k".into()),
            accept: None,
            expected_accept: None,
            subprotocols_offered: vec![],
            subprotocol: None,
            extensions_offered: vec![],
            extensions: vec![],
            request: None,
            response: None,
            interim: vec![],
            timing: Timing::default(),
            ending: None,
            findings,
            loss: Default::default(),
            h2: None,
            tls: None,
        })
    }

    fn hop(downstream: u64, upstream: u64) -> HopLink {
        HopLink {
            downstream,
            upstream,
            client: "10.0.0.1:40000".parse().unwrap(),
            proxy: "10.0.0.2:80".parse().unwrap(),
            proxy_software: None,
            upstream_server: "10.0.0.3:8080".parse().unwrap(),
            key: "k".into(),
            request_line: None,
            request_changes: vec![],
            upstream_status: Some(200),
            downstream_status: Some(200),
            response_changes: vec![],
            broken_at: BrokenAt::ProxyRequest,
            explanation: String::new(),
            correction: None,
            downstream_h2_stream: None,
            upstream_h2_stream: None,
        }
    }

    fn legs(g: &IncidentGroup) -> Vec<Vec<u64>> {
        g.incidents.iter().map(|i| i.ids().collect()).collect()
    }

    /// The two legs of a proxied handshake are one incident, client leg first, whichever
    /// order the hop and the records came in.
    #[test]
    fn a_proxied_handshake_is_one_incident_with_both_legs() {
        let down = record(1, "10.0.0.2:80", "/ws", Verdict::Failed);
        let up = record(2, "10.0.0.3:8080", "/ws", Verdict::Failed);
        let link = hop(1, 2);
        let orders: [&[u8]; 3] = [b"dul", b"ldu", b"udl"];
        for order in orders {
            let mut inc = Incidents::new(LIMITS);
            for step in order {
                match step {
                    b'd' => inc.record(&down),
                    b'u' => inc.record(&up),
                    _ => inc.hop(&link),
                }
            }
            let groups = inc.groups();
            assert_eq!(groups.len(), 1, "{order:?}");
            let g = &groups[0];
            assert_eq!((g.count, g.verdict), (1, Verdict::Failed));
            assert!(g.proxied());
            assert_eq!(legs(g), vec![vec![1, 2]], "{order:?}");
            let ids: Vec<u64> = g.exemplar.iter().map(|r| r.id).collect();
            assert_eq!(ids, vec![1, 2]);
            assert_eq!(g.hops.len(), 1);
            assert!(g.lists(2) && g.lists(1) && !g.lists(3));
        }
        // Without the engine's link the two records are two incidents.
        let groups = group_incidents([&down, &up], [], LIMITS);
        assert_eq!(groups.len(), 2);
        assert!(groups.iter().all(|g| !g.proxied()));
    }

    /// A chain of two proxies: three legs, in path order, one incident.
    #[test]
    fn a_chain_of_proxies_lists_legs_in_path_order() {
        let r: Vec<_> = (1..=3)
            .map(|id| record(id, &format!("10.0.0.{id}:80"), "/ws", Verdict::Failed))
            .collect();
        let groups = group_incidents(&r, &[hop(2, 3), hop(1, 2)], LIMITS);
        assert_eq!(groups.len(), 1);
        assert_eq!(legs(&groups[0]), vec![vec![1, 2, 3]]);
        let order: Vec<(u64, u64)> = groups[0]
            .hops
            .iter()
            .map(|h| (h.downstream, h.upstream))
            .collect();
        assert_eq!(order, vec![(1, 2), (2, 3)]);
    }

    /// Repeated identical failures are one group with a count; the listing is capped, the
    /// earliest is the exemplar; a different path or verdict is another group; ok incidents
    /// are left out when only problems are grouped.
    #[test]
    fn identical_failures_are_one_group_with_a_count() {
        let mut inc = Incidents::new(LIMITS);
        for id in (1..=5).rev() {
            inc.record(&record(id, "10.0.0.2:80", "/a", Verdict::Failed));
        }
        inc.record(&record(6, "10.0.0.2:80", "/b", Verdict::Failed));
        inc.record(&record(7, "10.0.0.2:80", "/a", Verdict::Ok));
        let groups = inc.groups();
        assert_eq!(groups.len(), 2);
        let g = &groups[0];
        assert_eq!((g.count, g.unlisted, g.incidents.len()), (5, 2, 3));
        assert_eq!(g.exemplar[0].id, 1);
        assert_eq!(g.incidents[0].legs[0].id, 1, "the exemplar is listed first");
        assert_eq!(groups[1].exemplar[0].id, 6);
        let mut all = Incidents::new(Limits {
            problems_only: false,
            ..LIMITS
        });
        all.record(&record(7, "10.0.0.2:80", "/a", Verdict::Ok));
        assert_eq!(all.groups().len(), 1);
    }

    /// The counts are of incidents, by the worst leg's verdict, whatever was grouped: a
    /// proxied handshake is one incident of two records, ok incidents count although only
    /// problems are grouped, and groups beyond the cap still count.
    #[test]
    fn counts_are_of_incidents_whatever_was_grouped() {
        let mut inc = Incidents::new(Limits {
            max_groups: 1,
            ..LIMITS
        });
        inc.record(&record(1, "10.0.0.2:80", "/ws", Verdict::Ok));
        inc.record(&record(2, "10.0.0.3:8080", "/ws", Verdict::Failed));
        inc.hop(&hop(1, 2));
        inc.record(&record(3, "10.0.0.2:80", "/a", Verdict::Ok));
        inc.record(&record(4, "10.0.0.2:80", "/b", Verdict::Warning));
        let c = inc.counts();
        assert_eq!((c.incidents, c.proxied, c.records), (3, 1, 4));
        assert_eq!(
            c.with_verdict(Verdict::Failed),
            1,
            "the proxied one, by its worst leg"
        );
        assert_eq!(c.with_verdict(Verdict::Ok), 1);
        assert_eq!(c.with_verdict(Verdict::Warning), 1, "beyond the group cap");
        // The same once every record has been committed (the window passed).
        for id in 5..(5 + LEG_WINDOW as u64) {
            inc.record(&record(id, "10.0.0.2:80", "/a", Verdict::Ok));
        }
        let after = inc.counts();
        assert_eq!(after.incidents, 3 + LEG_WINDOW as u64);
        assert_eq!((after.proxied, after.with_verdict(Verdict::Failed)), (1, 1));
    }

    /// Proxied incidents and single handshakes with the same client leg are different groups.
    #[test]
    fn proxied_and_direct_failures_group_apart() {
        let records = vec![
            record(1, "10.0.0.2:80", "/ws", Verdict::Failed),
            record(2, "10.0.0.3:8080", "/ws", Verdict::Failed),
            record(3, "10.0.0.2:80", "/ws", Verdict::Failed),
        ];
        let groups = group_incidents(&records, &[hop(1, 2)], LIMITS);
        let shapes: Vec<(bool, u64)> = groups.iter().map(|g| (g.proxied(), g.count)).collect();
        assert_eq!(shapes, vec![(true, 1), (false, 1)]);
        assert_eq!(legs(&groups[1]), vec![vec![3]]);
    }

    /// The grouping key takes the hop's corrected cause in place of the code the client leg
    /// blames: two proxied failures the proxy broke the same way are one group although the
    /// client saw a 426 once and a 200 once, and a hop without a correction is another group.
    #[test]
    fn the_grouping_key_takes_the_hops_corrected_cause() {
        use crate::event::Correction;
        let blamed = |id: u64, code: Code| {
            let mut r = (*record(id, "10.0.0.2:80", "/ws", Verdict::Failed)).clone();
            r.findings = vec![Finding::new(code, "the client leg's own view")];
            Arc::new(r)
        };
        let corrected = |down: u64, up: u64, replaces: Code| HopLink {
            correction: Some(Correction {
                replaces,
                finding: Finding::new(Code::ProxyBrokeRequest, "the proxy broke it"),
            }),
            ..hop(down, up)
        };
        let records = vec![
            blamed(1, Code::UpgradeRequired),
            record(2, "10.0.0.3:8080", "/ws", Verdict::Failed),
            blamed(3, Code::UpgradeIgnored),
            record(4, "10.0.0.3:8080", "/ws", Verdict::Failed),
            blamed(5, Code::UpgradeIgnored),
            record(6, "10.0.0.3:8080", "/ws", Verdict::Failed),
        ];
        let hops = [
            corrected(1, 2, Code::UpgradeRequired),
            corrected(3, 4, Code::UpgradeIgnored),
            hop(5, 6),
        ];
        let groups = group_incidents(&records, &hops, LIMITS);
        let shapes: Vec<(u64, Vec<Vec<u64>>)> = groups.iter().map(|g| (g.count, legs(g))).collect();
        assert_eq!(
            shapes,
            vec![(2, vec![vec![1, 2], vec![3, 4]]), (1, vec![vec![5, 6]])]
        );
    }

    /// Records of a second run reuse the ids of the first (the TUI fed several captures):
    /// both are counted, neither replaces the other.
    #[test]
    fn a_repeated_id_counts_both_records() {
        let mut inc = Incidents::new(LIMITS);
        inc.record(&record(1, "10.0.0.2:80", "/a", Verdict::Failed));
        inc.record(&record(1, "10.0.0.2:80", "/b", Verdict::Failed));
        let paths: Vec<Option<String>> = inc
            .groups()
            .iter()
            .map(|g| g.exemplar[0].path.clone())
            .collect();
        assert_eq!(paths, vec![Some("/a".into()), Some("/b".into())]);
        assert_eq!(inc.arrival.len(), 1);
    }

    /// Memory stays bounded: waiting records are counted once the window passes, and groups
    /// beyond the cap are counted, not kept.
    #[test]
    fn waiting_and_groups_are_bounded() {
        let mut inc = Incidents::new(Limits {
            max_groups: 2,
            ..LIMITS
        });
        let n = LEG_WINDOW as u64 + 50;
        for id in 1..=n {
            inc.record(&record(
                id,
                "10.0.0.2:80",
                &format!("/{id}"),
                Verdict::Failed,
            ));
        }
        assert!(inc.waiting.len() <= LEG_WINDOW);
        assert!(inc.arrival.len() <= LEG_WINDOW);
        assert_eq!(inc.groups().len(), 2);
        assert_eq!(inc.ungrouped(), n - 2);
        for id in 0..(3 * LEG_WINDOW as u64) {
            inc.hop(&hop(1_000_000 + id, 2_000_000 + id));
        }
        assert!(inc.links.len() <= 2 * LEG_WINDOW);
    }
}
