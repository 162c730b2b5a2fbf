//! Proxy hop correlation: finds the two legs of one proxied handshake as they complete and
//! says what the proxy changed between them.
//!
//! When a capture point sees both client → proxy and proxy → upstream, the same WebSocket
//! opening handshake appears twice: a proxy forwards the client's `Sec-WebSocket-Key`
//! unchanged (it must, or the upstream's accept would not match the client's key). Two
//! records with the same key, a request on the second leg sent while the first leg was still
//! waiting for its answer, and different servers are two hops of one handshake. The diff of
//! the two requests (and of the two responses, in the other direction) shows which hop
//! dropped `Upgrade`/`Connection`, downgraded to HTTP/1.0 or rewrote the response.
//!
//! A leg over HTTP/2 (extended CONNECT, RFC 8441) carries no key: a proxy that takes the
//! WebSocket as an HTTP/2 stream and speaks an HTTP/1.1 Upgrade upstream (HAProxy 2.4+ does)
//! makes a key up for the upstream leg. Such legs are linked by content instead, and only when
//! the evidence leaves one reading: the same path, Origin and offered subprotocols, the
//! upstream request sent while the other leg waited, and no other remembered leg that could
//! pair with either of the two. The diff then leaves out what the translation itself changes
//! (pseudo-header fields, `Upgrade`, `Connection`, the key and accept; `:authority` is
//! compared with `Host`).
//!
//! How a linked hop's legs ended is read here too, for the one case the two legs' records
//! cannot tell alone: a proxy that shuts down (HAProxy's hard stop after a reload) sends its
//! HTTP/2 client a GOAWAY and later tears both legs down, and the HTTP/1.1 upstream leg, whose
//! record shows only a silent teardown by the proxy, would be blamed on the proxy's idle
//! timeout. [`proxy_shutdown`] reads the shutdown off the HTTP/2 leg's record and
//! [`name_proxy_shutdown`] names it on the upstream leg's; the correlation stage holds the
//! upstream leg's record back until its HTTP/2 partner ends when that one ends second.
//!
//! This is the only place legs are linked: the engine feeds every handshake record to one
//! [`HopTracker`] in emission order and sends what it returns as `Event::Hop`; the line and
//! JSON output, the report and the TUI render those events and never correlate on their own.
//! Pure: records in, [`HopLink`]s out; no I/O, no clock; memory bounded by [`MAX_TRACKED`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::capture::Timestamp;

use crate::event::{
    BrokenAt, ChangeKind, ConnectionEnding, ConnectionRecord, Correction, Ending, Field, H2Reset,
    HandshakeRecord, Head, HeaderChange, HopLink, Peer,
};
use crate::finding::{Code, Evidence, Finding, HeadPart, MessageRef};
use crate::handshake::server_reason;

/// Longest time between the two legs' requests for them to count as one handshake. A proxy
/// forwards within milliseconds; seconds allow for a slow upstream connect.
pub const MAX_HOP_DELAY_NS: i64 = 5_000_000_000;

/// Headers that by definition apply to one connection only (RFC 9110 §7.6.1); a proxy drops
/// them unless configured to forward them, which is exactly what breaks WebSocket upgrades.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Most recent handshakes remembered by [`HopTracker`] (bounds memory on a busy link).
pub const MAX_TRACKED: usize = 1024;

/// Most legs remembered under one `Sec-WebSocket-Key`. A proxied handshake shows its key once
/// per hop, so a handful covers any real chain; a client that reuses one key (or an attacker)
/// would otherwise make every new handshake compare with up to [`MAX_TRACKED`] earlier ones.
pub const MAX_LEGS_PER_KEY: usize = 16;

/// Most HTTP/2 legs remembered under one path for matching by content; like
/// [`MAX_LEGS_PER_KEY`], it bounds the comparisons one new handshake makes.
pub const MAX_LEGS_PER_PATH: usize = 16;

/// Remembered legs by key (or path). Keys and paths are chosen by whoever sends the request:
/// seeded foldhash, as the flow table (see Cargo.toml): with std's SipHash the lookup, the
/// insert and the rehash as the map grew were ~600 instructions a handshake more.
/// Nothing iterates the map where its order could show: a content match takes the only
/// candidate or none.
type Legs = HashMap<String, Vec<Leg>, foldhash::fast::RandomState>;

/// A remembered handshake and the sides it has already been linked as: each record is one
/// link's downstream leg at most once and one link's upstream leg at most once, so a chain of
/// proxies yields one link per hop.
#[derive(Debug)]
struct Leg {
    /// Arrival number, which the expiry queue names the leg by.
    seq: u64,
    record: Arc<HandshakeRecord>,
    linked_as_downstream: bool,
    linked_as_upstream: bool,
}

/// Streaming correlation: remembers the recent handshakes and, as each new one completes,
/// links it with an earlier leg of the same handshake, whichever of the two legs completed
/// first. A link is found once, when its second leg completes. Lookups go by key, so the cost
/// per handshake does not grow with the number remembered.
#[derive(Debug, Default)]
pub struct HopTracker {
    by_key: Legs,
    /// (request time, key, arrival number) in arrival order, for expiry and the
    /// [`MAX_TRACKED`] cap.
    order: VecDeque<(i64, String, u64)>,
    /// Arrival number of the next leg.
    next_seq: u64,
    /// Estimated bytes of the remembered legs ([`HopTracker::cost`]), for memory accounting.
    held: usize,
    /// HTTP/2 legs (no key to match on) by path, for linking by content.
    by_path: Legs,
    /// (request time, path, arrival number) of those, in arrival order.
    path_order: VecDeque<(i64, String, u64)>,
}

/// Where a remembered leg is: under a key or (an HTTP/2 leg) under a path, at an index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    Key(String, usize),
    Path(String, usize),
}

/// Which side of a link a content match looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Legs the record could be the upstream leg of.
    Downstream,
    /// Legs that could be the record's upstream leg.
    Upstream,
}

impl HopTracker {
    /// An empty tracker.
    #[must_use]
    pub fn new() -> Self {
        HopTracker::default()
    }

    /// Estimated bytes remembering `record` costs (its heads twice: raw and parsed, plus the
    /// rest of the record).
    #[must_use]
    pub fn cost(record: &HandshakeRecord) -> usize {
        let head = |m: &crate::event::Message| m.head.raw.len().saturating_mul(2);
        1024 + record.request.as_ref().map_or(0, head)
            + record.response.as_ref().map_or(0, head)
            + record.interim.iter().map(head).sum::<usize>()
    }

    /// Estimated bytes of the handshakes remembered now.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.held
    }

    /// Takes a completed handshake; returns the hops it closes, ordered by the downstream
    /// leg's request time (then ids).
    pub fn push(&mut self, record: &Arc<HandshakeRecord>) -> Vec<HopLink> {
        self.push_within(record, true)
    }

    /// [`HopTracker::push`], remembering `record` for later legs only if `keep` (the memory
    /// budget had room): links it closes with legs already remembered are found either way.
    pub fn push_within(&mut self, record: &Arc<HandshakeRecord>, keep: bool) -> Vec<HopLink> {
        if record.request.is_none() {
            return Vec::new();
        }
        let h2_path = record.h2.as_ref().and(record.path.as_deref());
        let key = record.key.as_deref();
        if key.is_none() && h2_path.is_none() {
            return Vec::new();
        }
        let now = request_ts(record);
        self.expire(now);
        if !self.path_order.is_empty() {
            self.expire_paths(now);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut leg = Leg {
            seq,
            record: Arc::clone(record),
            linked_as_downstream: false,
            linked_as_upstream: false,
        };
        let mut links: Vec<(i64, HopLink)> = Vec::new();
        if let Some(earlier) = key.and_then(|k| self.by_key.get_mut(k)) {
            // Candidates in request order, so the earliest waiting leg pairs first.
            let mut candidates: Vec<usize> = (0..earlier.len()).collect();
            candidates
                .sort_by_key(|&i| earlier.get(i).map(|l| (request_ts(&l.record), l.record.id)));
            // The new record as the upstream leg of an earlier request to the proxy.
            let down = candidates.iter().copied().find(|&i| {
                earlier
                    .get(i)
                    .is_some_and(|d| !d.linked_as_downstream && is_upstream_of(record, &d.record))
            });
            if let Some(d) = down.and_then(|i| earlier.get_mut(i)) {
                d.linked_as_downstream = true;
                leg.linked_as_upstream = true;
                links.push((request_ts(&d.record), link(&d.record, record)));
            }
            // The new record as the downstream leg of an upstream leg that completed first
            // (the upstream answered the proxy before the proxy answered the client).
            let up = candidates.iter().copied().find(|&i| {
                Some(i) != down
                    && earlier
                        .get(i)
                        .is_some_and(|u| !u.linked_as_upstream && is_upstream_of(&u.record, record))
            });
            if let Some(u) = up.and_then(|i| earlier.get_mut(i)) {
                u.linked_as_upstream = true;
                leg.linked_as_downstream = true;
                links.push((now, link(record, &u.record)));
            }
        }
        // Plaintext HTTP/1.1 traffic skips this: it looks only when an HTTP/2 leg is involved.
        if h2_path.is_some() || !self.by_path.is_empty() {
            self.link_by_content(&mut leg, &mut links);
        }
        if keep {
            // An HTTP/2 leg is remembered by its path only, even with a (stray) key.
            if let Some(path) = h2_path {
                let legs = self.by_path.entry(path.to_owned()).or_default();
                if legs.len() >= MAX_LEGS_PER_PATH {
                    let old = legs.remove(0);
                    self.held = self.held.saturating_sub(Self::cost(&old.record));
                }
                self.held += Self::cost(&leg.record);
                legs.push(leg);
                self.path_order.push_back((now, path.to_owned(), seq));
            } else if let Some(key) = key {
                let legs = self.by_key.entry(key.to_owned()).or_default();
                if legs.len() >= MAX_LEGS_PER_KEY {
                    // The oldest leg under this key goes first; its queue entry then finds
                    // nothing.
                    let old = legs.remove(0);
                    self.held = self.held.saturating_sub(Self::cost(&old.record));
                }
                self.held += Self::cost(&leg.record);
                legs.push(leg);
                self.order.push_back((now, key.to_owned(), seq));
            }
        }
        links.sort_by_key(|(ts, l)| (*ts, l.downstream, l.upstream));
        links.into_iter().map(|(_, l)| l).collect()
    }

    /// Links `leg` by content with a remembered leg when one of the two is an HTTP/2 leg and
    /// each is the other's only candidate (see the module docs), on either side. Cold and out
    /// of line: HTTP/1.1-only captures never call it, and the engine's loop stays small.
    #[cold]
    #[inline(never)]
    fn link_by_content(&mut self, leg: &mut Leg, links: &mut Vec<(i64, HopLink)>) {
        let record = Arc::clone(&leg.record);
        if !leg.linked_as_upstream {
            if let Some(slot) = self.only_partner(&record, Want::Downstream, leg.seq) {
                let down = self.leg_mut(&slot).map(|d| {
                    d.linked_as_downstream = true;
                    Arc::clone(&d.record)
                });
                if let Some(down) = down {
                    leg.linked_as_upstream = true;
                    links.push((request_ts(&down), link(&down, &record)));
                }
            }
        }
        if !leg.linked_as_downstream {
            if let Some(slot) = self.only_partner(&record, Want::Upstream, leg.seq) {
                let up = self.leg_mut(&slot).map(|u| {
                    u.linked_as_upstream = true;
                    Arc::clone(&u.record)
                });
                if let Some(up) = up {
                    leg.linked_as_downstream = true;
                    links.push((request_ts(&record), link(&record, &up)));
                }
            }
        }
    }

    /// The one remembered leg `record` pairs with on the `want` side, when there is exactly
    /// one and `record` is that leg's only candidate too (`seq` is `record`'s own arrival
    /// number, left out).
    fn only_partner(&self, record: &HandshakeRecord, want: Want, seq: u64) -> Option<Slot> {
        let found = self.content_candidates(record, want, seq);
        let [slot] = found.as_slice() else {
            return None;
        };
        let partner = self.leg(slot)?;
        let back = match want {
            Want::Downstream => Want::Upstream,
            Want::Upstream => Want::Downstream,
        };
        // Another remembered leg that could take `record`'s place makes it ambiguous.
        self.content_candidates(&partner.record, back, seq)
            .is_empty()
            .then(|| slot.clone())
    }

    /// Remembered legs, not yet linked on that side, that `record` could pair with by
    /// content on the `want` side, leaving out arrival number `skip`. Pairs of two
    /// HTTP/1.1 legs are left to the key.
    fn content_candidates(&self, record: &HandshakeRecord, want: Want, skip: u64) -> Vec<Slot> {
        let Some(path) = record.path.as_deref() else {
            return Vec::new();
        };
        let fits = |l: &Leg| {
            l.seq != skip
                && (record.h2.is_some() || l.record.h2.is_some())
                && same_request(record, &l.record)
                && match want {
                    Want::Downstream => {
                        !l.linked_as_downstream && is_upstream_of(record, &l.record)
                    }
                    Want::Upstream => !l.linked_as_upstream && is_upstream_of(&l.record, record),
                }
        };
        let mut found = Vec::new();
        if let Some(legs) = self.by_path.get(path) {
            for (i, l) in legs.iter().enumerate() {
                if fits(l) {
                    found.push(Slot::Path(path.to_owned(), i));
                }
            }
        }
        // An HTTP/2 leg's HTTP/1.1 partner is remembered by its key: every remembered leg is
        // looked at (at most MAX_TRACKED, and only for HTTP/2 records).
        if record.h2.is_some() {
            for (key, legs) in &self.by_key {
                for (i, l) in legs.iter().enumerate() {
                    if l.record.h2.is_none() && fits(l) {
                        found.push(Slot::Key(key.clone(), i));
                    }
                }
            }
        }
        found
    }

    fn leg(&self, slot: &Slot) -> Option<&Leg> {
        match slot {
            Slot::Key(k, i) => self.by_key.get(k)?.get(*i),
            Slot::Path(p, i) => self.by_path.get(p)?.get(*i),
        }
    }

    fn leg_mut(&mut self, slot: &Slot) -> Option<&mut Leg> {
        match slot {
            Slot::Key(k, i) => self.by_key.get_mut(k)?.get_mut(*i),
            Slot::Path(p, i) => self.by_path.get_mut(p)?.get_mut(*i),
        }
    }

    /// Forgets HTTP/2 legs too old to pair with a request at `now`, and the oldest beyond
    /// the cap (as [`HopTracker::expire`] does for keyed legs).
    #[cold]
    #[inline(never)]
    fn expire_paths(&mut self, now: i64) {
        forget_old(&mut self.path_order, &mut self.by_path, &mut self.held, now);
    }

    /// Forgets legs too old to pair with a request at `now`, and the oldest beyond the cap.
    fn expire(&mut self, now: i64) {
        forget_old(&mut self.order, &mut self.by_key, &mut self.held, now);
    }

    /// Handshakes remembered now (at most [`MAX_TRACKED`]).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.by_key.values().map(Vec::len).sum()
    }

    /// Legs remembered under `key`.
    #[cfg(test)]
    fn legs_under(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).map(Vec::len)
    }
}

/// Whether two legs ask for the same WebSocket as far as a proxy keeps it: path, Origin and
/// offered subprotocols (HTTP/2 has no key to compare).
fn same_request(a: &HandshakeRecord, b: &HandshakeRecord) -> bool {
    a.path == b.path && a.origin == b.origin && a.subprotocols_offered == b.subprotocols_offered
}

fn request_ts(r: &HandshakeRecord) -> i64 {
    r.request.as_ref().map_or(r.ts.0, |m| m.first_ts.0)
}

/// Whether `up` can be the proxy → upstream leg of `down`: another server, requested after
/// `down`'s request and before `down`'s answer (a proxy forwards before it answers), within
/// [`MAX_HOP_DELAY_NS`]. A client retrying with a fixed key goes to the same server, or asks
/// after the previous answer, so it does not match.
fn is_upstream_of(up: &HandshakeRecord, down: &HandshakeRecord) -> bool {
    if up.server == down.server || up.client == down.client {
        return false;
    }
    let (t_down, t_up) = (request_ts(down), request_ts(up));
    let delay = t_up.saturating_sub(t_down);
    if !(0..=MAX_HOP_DELAY_NS).contains(&delay) {
        return false;
    }
    match &down.response {
        Some(resp) => t_up <= resp.first_ts.0,
        None => true,
    }
}

/// Forgets the legs of `legs` that `order` (arrival time, map key, leg number; oldest first)
/// says are too old to pair with a request at `now` (legs are seconds apart at most), and the
/// oldest beyond [`MAX_TRACKED`], releasing their cost from `held`.
fn forget_old(
    order: &mut VecDeque<(i64, String, u64)>,
    legs: &mut Legs,
    held: &mut usize,
    now: i64,
) {
    while let Some((ts, _, _)) = order.front() {
        if now.saturating_sub(*ts) <= 2 * MAX_HOP_DELAY_NS && order.len() < MAX_TRACKED {
            break;
        }
        let Some((_, old, seq)) = order.pop_front() else {
            break;
        };
        if let Some(list) = legs.get_mut(&old) {
            list.retain(|l| {
                let keep = l.seq != seq;
                if !keep {
                    *held = held.saturating_sub(HopTracker::cost(&l.record));
                }
                keep
            });
            if list.is_empty() {
                legs.remove(&old);
            }
        }
    }
}

fn link(down: &HandshakeRecord, up: &HandshakeRecord) -> HopLink {
    let (dreq, ureq) = (down.request.as_ref(), up.request.as_ref());
    let request_line = match (dreq, ureq) {
        (Some(a), Some(b)) if a.head.start_line != b.head.start_line => {
            Some((a.head.start_line.clone(), b.head.start_line.clone()))
        }
        _ => None,
    };
    let translated = down.h2.is_some() != up.h2.is_some();
    let diff = |a: &Head, b: &Head| {
        if translated {
            diff_translated(a, b)
        } else {
            diff_heads(a, b)
        }
    };
    let request_changes = match (dreq, ureq) {
        (Some(a), Some(b)) => diff(&a.head, &b.head),
        _ => Vec::new(),
    };
    // Responses travel the other way: upstream → proxy → client.
    let response_changes = match (&up.response, &down.response) {
        (Some(a), Some(b)) => diff(&a.head, &b.head),
        _ => Vec::new(),
    };
    let server = |r: &HandshakeRecord| {
        r.response
            .as_ref()
            .and_then(|m| m.head.value("Server"))
            .map(str::to_owned)
    };
    // A proxy that passes the upstream's `Server` on (HAProxy does) has not named itself.
    let proxy_software = server(down).filter(|sw| server(up).as_ref() != Some(sw));
    let mut l = HopLink {
        downstream: down.id,
        upstream: up.id,
        client: down.client,
        proxy: down.server,
        proxy_software,
        upstream_server: up.server,
        // An HTTP/2 leg has no key: the one the proxy made up for the HTTP/1.1 leg.
        key: down
            .key
            .clone()
            .or_else(|| up.key.clone())
            .unwrap_or_default(),
        request_line,
        request_changes,
        upstream_status: up.status,
        downstream_status: down.status,
        response_changes,
        broken_at: BrokenAt::Unknown,
        explanation: String::new(),
        correction: None,
        downstream_h2_stream: down.h2.as_ref().map(|h| h.stream_id),
        upstream_h2_stream: up.h2.as_ref().map(|h| h.stream_id),
    };
    let (broken_at, explanation) = if translated {
        explain_translated(&l, down, up)
    } else {
        explain(&l, down, up)
    };
    l.broken_at = broken_at;
    l.explanation = explanation;
    l.correction = correct(&l, down, up);
    l
}

/// The proxy's name for a sentence: its software and address when known.
fn proxy_name(l: &HopLink) -> String {
    match &l.proxy_software {
        Some(sw) => format!("the proxy {} at {}", sw, l.proxy),
        None => format!("the proxy at {}", l.proxy),
    }
}

/// The downstream finding a hop that the proxy broke proves wrong, and the cause to show in
/// its place (issue 15 item 5). The client-side record judged the answer it got as the
/// server's; when the proxy broke the request, that answer is the upstream's reply to a
/// request the client never sent, and when the proxy broke the response, the upstream had
/// accepted. `None` when the proxy did not break it, or nothing on the downstream record
/// blames the server (the proxy answered 101 itself, say).
fn correct(l: &HopLink, down: &HandshakeRecord, up: &HandshakeRecord) -> Option<Correction> {
    let proxy = proxy_name(l);
    let upstream = format!("the upstream at {}", l.upstream_server);
    let (code, replaced, message) = match l.broken_at {
        BrokenAt::ProxyRequest => {
            let replaced = refusal(down)?;
            let lost = lost(down, up);
            let headers: Vec<String> = lost
                .iter()
                .filter(|h| **h != "HTTP/1.1")
                .map(|h| format!("`{h}`"))
                .collect();
            let mut how = Vec::new();
            if lost.contains(&"HTTP/1.1") {
                how.push("as HTTP/1.0".to_owned());
            }
            if !headers.is_empty() {
                how.push(format!("without {}", join_and(&headers)));
            }
            let passed = match (l.upstream_status, l.downstream_status) {
                (Some(u), Some(d)) if u == d => "which the proxy passed back".to_owned(),
                (_, d) => format!("and the proxy answered the client {}", status_text(d)),
            };
            let mut message = format!(
                "{proxy} broke the upgrade, not the server: it forwarded the client's request {}, {upstream} answered that forwarded request {}, {passed}",
                how.join(" "),
                status_text(l.upstream_status),
            );
            if let Some(reason) = up.response.as_ref().and_then(server_reason) {
                message.push_str(&format!(
                    "; the upstream's body (\"{reason}\") is about the forwarded request, not the client's"
                ));
            }
            (Code::ProxyBrokeRequest, replaced, message)
        }
        BrokenAt::ProxyResponse if l.downstream_status == Some(101) => {
            let replaced = down
                .findings
                .iter()
                .find(|f| matches!(f.code, Code::AcceptMismatch | Code::AcceptMissing))?;
            let accept = |a: &Option<String>| a.clone().unwrap_or_else(|| "none".to_owned());
            let message = format!(
                "{upstream} answered 101 with Sec-WebSocket-Accept {}, and {proxy} changed it to {} on the way back: the upstream answered the key, the proxy broke the answer",
                accept(&up.accept),
                accept(&down.accept),
            );
            (Code::ProxyBrokeResponse, replaced, message)
        }
        // The upstream's 101 came after the proxy had answered the client: the proxy gave up
        // first (a timeout shorter than the upstream's handshake), it did not rewrite an
        // answer, and the client's finding (a 504, say) already says so.
        BrokenAt::ProxyResponse if answered_after(up, down) => return None,
        BrokenAt::ProxyResponse => {
            let replaced = refusal(down)?;
            let message = format!(
                "{upstream} accepted the upgrade ({}), but {proxy} answered the client {} instead of relaying it: the proxy broke the response, not the server",
                status_text(l.upstream_status),
                status_text(l.downstream_status),
            );
            (Code::ProxyBrokeResponse, replaced, message)
        }
        BrokenAt::Nowhere | BrokenAt::Upstream | BrokenAt::Unknown => return None,
    };
    let mut packets = replaced.packets.clone();
    for m in [&up.request, &up.response].into_iter().flatten() {
        packets.extend_from_slice(&m.packets);
    }
    packets.sort_unstable();
    packets.dedup();
    let mut finding = Finding::new(code, message).packets(&packets);
    finding.severity = replaced.severity;
    finding.lines.clone_from(&replaced.lines);
    finding.evidence.clone_from(&replaced.evidence);
    Some(Correction {
        replaces: replaced.code,
        finding,
    })
}

/// Whether `up`'s response began after `down`'s did.
fn answered_after(up: &HandshakeRecord, down: &HandshakeRecord) -> bool {
    match (&up.response, &down.response) {
        (Some(u), Some(d)) => u.first_ts.0 > d.first_ts.0,
        _ => false,
    }
}

/// The downstream record's refusal: the finding on its response's status line.
fn refusal(down: &HandshakeRecord) -> Option<&Finding> {
    let status_line = Evidence::Head {
        message: MessageRef::Response,
        part: HeadPart::StartLine,
    };
    down.findings
        .iter()
        .find(|f| f.evidence.contains(&status_line))
}

/// What the forwarded request needs to upgrade that the client's had: [`lost_on_the_way`]
/// between two HTTP/1.1 legs, [`lost_in_translation`] when one leg is HTTP/2.
fn lost(down: &HandshakeRecord, up: &HandshakeRecord) -> Vec<&'static str> {
    let (Some(a), Some(b)) = (&down.request, &up.request) else {
        return Vec::new();
    };
    if down.h2.is_none() && up.h2.is_none() {
        lost_on_the_way(&a.head, &b.head)
    } else {
        lost_in_translation(&a.head, &b.head, up.h2.is_some())
    }
}

/// What a request translated between HTTP/2 and HTTP/1.1 needs to ask for a WebSocket that
/// the forwarded one `up` lacks: on HTTP/1.1 (RFC 6455 §4.1) version 1.1, `Upgrade` and
/// `Connection: Upgrade`; on HTTP/2 (RFC 8441 §4) `:method CONNECT` and `:protocol
/// websocket`; on either, the `Sec-WebSocket-Version` the client sent.
fn lost_in_translation(down: &Head, up: &Head, up_is_h2: bool) -> Vec<&'static str> {
    let mut lost = Vec::new();
    if up_is_h2 {
        if up.value(":method") != Some("CONNECT") {
            lost.push(":method CONNECT");
        }
        if !up
            .value(":protocol")
            .is_some_and(|p| p.eq_ignore_ascii_case("websocket"))
        {
            lost.push(":protocol websocket");
        }
    } else {
        if up.version_minor == 0 {
            lost.push("HTTP/1.1");
        }
        if !up.has_token("Upgrade", "websocket") {
            lost.push("Upgrade");
        }
        if !up.has_token("Connection", "upgrade") {
            lost.push("Connection: Upgrade");
        }
    }
    if down.value("Sec-WebSocket-Version").is_some() && up.value("Sec-WebSocket-Version").is_none()
    {
        lost.push("Sec-WebSocket-Version");
    }
    lost
}

/// What a request needs to upgrade (RFC 6455 §4.1) that `up` lost relative to `down`.
fn lost_on_the_way(down: &Head, up: &Head) -> Vec<&'static str> {
    let mut lost = Vec::new();
    if down.version_minor >= 1 && up.version_minor == 0 {
        lost.push("HTTP/1.1");
    }
    if down.has_token("Upgrade", "websocket") && !up.has_token("Upgrade", "websocket") {
        lost.push("Upgrade");
    }
    if down.has_token("Connection", "upgrade") && !up.has_token("Connection", "upgrade") {
        lost.push("Connection: Upgrade");
    }
    if down.value("Sec-WebSocket-Version").is_some() && up.value("Sec-WebSocket-Version").is_none()
    {
        lost.push("Sec-WebSocket-Version");
    }
    if down.value("Sec-WebSocket-Protocol").is_some()
        && up.value("Sec-WebSocket-Protocol").is_none()
    {
        lost.push("Sec-WebSocket-Protocol");
    }
    lost
}

fn status_text(s: Option<u16>) -> String {
    s.map_or_else(
        || "nothing (no response captured)".to_owned(),
        |s| s.to_string(),
    )
}

/// How a leg asked for its WebSocket, for a sentence.
fn asked_as(r: &HandshakeRecord) -> String {
    match &r.h2 {
        Some(h) => format!("extended CONNECT (HTTP/2 stream {})", h.stream_id),
        None => "HTTP/1.1 Upgrade".to_owned(),
    }
}

/// Whether a leg's final status switched it: 2xx on an HTTP/2 stream (RFC 8441 §5), 101 on
/// HTTP/1.1.
fn switched(r: &HandshakeRecord) -> bool {
    match (&r.h2, r.status) {
        (Some(_), Some(s)) => (200..300).contains(&s),
        (None, s) => s == Some(101),
        (Some(_), None) => false,
    }
}

/// [`explain`] for a hop whose proxy translated between HTTP/2 extended CONNECT and an
/// HTTP/1.1 Upgrade (either way): success is a 2xx on the HTTP/2 leg and a 101 on the
/// HTTP/1.1 one, and no accept is compared (HTTP/2 has none).
fn explain_translated(
    l: &HopLink,
    down: &HandshakeRecord,
    up: &HandshakeRecord,
) -> (BrokenAt, String) {
    let proxy_full = proxy_name(l);
    let upstream = format!("the upstream at {}", l.upstream_server);
    let (from, to) = (asked_as(down), asked_as(up));
    let back = match (l.upstream_status, l.downstream_status) {
        (Some(u), Some(d)) if u == d => format!("and the proxy passed the {d} back to the client"),
        (_, d) => format!("and the proxy answered the client {}", status_text(d)),
    };
    let lost = lost(down, up);
    if !lost.is_empty() {
        let items: Vec<String> = lost.iter().map(|h| format!("`{h}`")).collect();
        return (
            BrokenAt::ProxyRequest,
            format!(
                "{} translated the client's {from} into a request without {}: {upstream} answered {}, {back}. This hop broke the upgrade: the proxy must forward WebSocket requests as a WebSocket upgrade upstream.",
                capitalise(&proxy_full),
                join_and(&items),
                status_text(l.upstream_status),
            ),
        );
    }
    match (switched(up), switched(down), l.upstream_status) {
        (true, true, _) => (
            BrokenAt::Nowhere,
            format!(
                "{} translated the client's {from} into an {to} and passed the answer back: {upstream} answered {} and the client got {}.",
                capitalise(&proxy_full),
                status_text(l.upstream_status),
                status_text(l.downstream_status),
            ),
        ),
        (true, false, _) => (
            BrokenAt::ProxyResponse,
            format!(
                "{} answered {}, but {proxy_full} answered the client {}: the proxy broke the response.",
                capitalise(&upstream),
                status_text(l.upstream_status),
                status_text(l.downstream_status),
            ),
        ),
        (false, _, Some(u)) => (
            BrokenAt::Upstream,
            format!(
                "{} rejected the upgrade with {u}, {back}; {proxy_full} had translated the client's {from} into an intact {to}. Look at the upstream, not the proxy.",
                capitalise(&upstream),
            ),
        ),
        (false, _, None) => (
            BrokenAt::Unknown,
            format!(
                "{} translated the client's {from} into an {to}; the capture holds no answer from {upstream}.",
                capitalise(&proxy_full),
            ),
        ),
    }
}

fn explain(l: &HopLink, down: &HandshakeRecord, up: &HandshakeRecord) -> (BrokenAt, String) {
    // The first mention names the proxy fully; later ones just say "the proxy".
    let proxy_full = proxy_name(l);
    let proxy = "the proxy";
    let upstream = format!("the upstream at {}", l.upstream_server);
    let lost = match (&down.request, &up.request) {
        (Some(a), Some(b)) => lost_on_the_way(&a.head, &b.head),
        _ => Vec::new(),
    };
    let back = match (l.upstream_status, l.downstream_status) {
        (Some(u), Some(d)) if u == d => format!("and {proxy} passed the {d} back to the client"),
        (_, d) => format!("and {proxy} answered the client {}", status_text(d)),
    };
    if !lost.is_empty() {
        let http10 = lost.contains(&"HTTP/1.1");
        let headers: Vec<String> = lost
            .iter()
            .filter(|h| **h != "HTTP/1.1")
            .map(|h| format!("`{h}`"))
            .collect();
        let mut what = String::from("forwarded the request");
        if http10 {
            what.push_str(" as HTTP/1.0");
        }
        if !headers.is_empty() {
            what.push_str(" without ");
            what.push_str(&join_and(&headers));
        }
        let text = format!(
            "{} {what}: {upstream} answered {}, {back}. This hop broke the upgrade: configure the proxy to forward WebSocket upgrades (nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`).",
            capitalise(&proxy_full),
            status_text(l.upstream_status),
        );
        return (BrokenAt::ProxyRequest, text);
    }
    match (l.upstream_status, l.downstream_status) {
        (Some(101), Some(101)) => {
            let rewrote_accept = match (&up.accept, &down.accept) {
                (Some(a), Some(b)) => a != b,
                (a, b) => a.is_some() != b.is_some(),
            };
            if rewrote_accept {
                (
                    BrokenAt::ProxyResponse,
                    format!("Both legs got 101, but {proxy_full} changed Sec-WebSocket-Accept on the way back: the client sees an accept the upstream did not send."),
                )
            } else {
                (
                    BrokenAt::Nowhere,
                    format!("{} forwarded the upgrade intact: {upstream} answered 101 and the client got 101.", capitalise(&proxy_full)),
                )
            }
        }
        (Some(101), d) => (
            BrokenAt::ProxyResponse,
            format!(
                "{} answered 101, but {proxy_full} answered the client {}: the proxy broke the response.",
                capitalise(&upstream),
                status_text(d)
            ),
        ),
        (Some(u), _) => (
            BrokenAt::Upstream,
            format!(
                "{} received the upgrade intact from {proxy_full} and rejected it with {u}, {back}. Look at the upstream, not the proxy.",
                capitalise(&upstream)
            ),
        ),
        // The proxy (the upstream leg's client) closed it unanswered: it gave up waiting.
        (None, d) if matches!(up.ending, Some(Ending::ClientFin | Ending::ClientRst)) => (
            BrokenAt::Unknown,
            format!(
                "{} forwarded the upgrade intact; {upstream} did not answer, and the proxy gave up{} and answered the client {}: the upstream's handshake is slower than the proxy's timeout (nginx: proxy_read_timeout), or it hangs.",
                capitalise(&proxy_full),
                up.timing
                    .waited_ms
                    .map(|ms| format!(" after {}", waited(ms)))
                    .unwrap_or_default(),
                status_text(d),
            ),
        ),
        (None, _) => (
            BrokenAt::Unknown,
            format!(
                "{} forwarded the upgrade intact; the capture holds no answer from {upstream}.",
                capitalise(&proxy_full)
            ),
        ),
    }
}

/// A wait for a sentence: `850.0 ms`, `2.0 s`.
fn waited(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Header differences from `before` to `after`: names compared case-insensitively, repeated
/// fields joined with `, `. Sorted dropped → added → changed, then by lower-case name.
#[must_use]
pub fn diff_heads(before: &Head, after: &Head) -> Vec<HeaderChange> {
    let a = fields(before);
    let b = fields(after);
    let mut out = Vec::new();
    for (lower, (name, value)) in &a {
        match b.get(lower) {
            None => out.push(HeaderChange {
                kind: ChangeKind::Dropped,
                name: name.clone(),
                before: Some(value.clone()),
                after: None,
                hop_by_hop: is_hop_by_hop(lower, before),
            }),
            Some((_, v)) if v != value => out.push(HeaderChange {
                kind: ChangeKind::Changed,
                name: name.clone(),
                before: Some(value.clone()),
                after: Some(v.clone()),
                hop_by_hop: is_hop_by_hop(lower, before),
            }),
            Some(_) => {}
        }
    }
    for (lower, (name, value)) in &b {
        if !a.contains_key(lower) {
            out.push(HeaderChange {
                kind: ChangeKind::Added,
                name: name.clone(),
                before: None,
                after: Some(value.clone()),
                hop_by_hop: is_hop_by_hop(lower, after),
            });
        }
    }
    out.sort_by(|x, y| {
        (x.kind, x.name.to_ascii_lowercase()).cmp(&(y.kind, y.name.to_ascii_lowercase()))
    });
    out
}

/// [`diff_heads`] between an HTTP/2 head and an HTTP/1.1 one (either way), leaving out what
/// the translation itself changes (RFC 8441 §5; RFC 9113 §8.3.1): the pseudo-header fields
/// (`:authority` is compared as `Host`), `Upgrade`, `Connection`, `Sec-WebSocket-Key` and
/// `Sec-WebSocket-Accept`.
#[must_use]
pub fn diff_translated(before: &Head, after: &Head) -> Vec<HeaderChange> {
    const TRANSLATION: &[&str] = &[
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-accept",
    ];
    let comparable = |head: &Head| {
        let mut h = head.clone();
        h.headers = head
            .headers
            .iter()
            .filter_map(|f| {
                let lower = f.name.to_ascii_lowercase();
                if lower == ":authority" {
                    Some(Field {
                        name: "host",
                        value: f.value,
                    })
                } else if lower.starts_with(':') || TRANSLATION.contains(&lower.as_str()) {
                    None
                } else {
                    Some(f)
                }
            })
            .collect();
        h
    };
    diff_heads(&comparable(before), &comparable(after))
}

fn fields(head: &Head) -> BTreeMap<String, (String, String)> {
    let mut m: BTreeMap<String, (String, String)> = BTreeMap::new();
    for h in &head.headers {
        m.entry(h.name.to_ascii_lowercase())
            .and_modify(|(_, v)| {
                v.push_str(", ");
                v.push_str(h.value);
            })
            .or_insert_with(|| (h.name.to_owned(), h.value.to_owned()));
    }
    m
}

/// Standard hop-by-hop headers plus any the message's own Connection header names.
fn is_hop_by_hop(lower: &str, head: &Head) -> bool {
    HOP_BY_HOP.contains(&lower)
        || head
            .list("Connection")
            .iter()
            .any(|t| t.eq_ignore_ascii_case(lower))
}

/// Most refused TCP connects [`RefusedConnects`] remembers; the oldest is forgotten first.
pub const MAX_REFUSED: usize = 256;

/// Most refused connects one finding cites by packet (the count says how many there were).
const MAX_REFUSED_CITED: usize = 16;

/// Longest time between the teardowns of a hop's two legs, and between an error GOAWAY and
/// the other leg's teardown, for one shutdown of the proxy to have ended both: a proxy tears
/// its tunnels down in one pass (HAProxy's hard stop: 0.1 ms apart on loopback), and a
/// second leaves room for a loaded proxy without pairing unrelated teardowns.
pub const SHUTDOWN_SKEW_NS: i64 = 1_000_000_000;

/// A proxy's shutdown as the HTTP/2 client leg of a hop shows it: the GOAWAY the proxy sent on
/// the client's connection while the leg's WebSocket was open, which either ended it (an
/// error code, or a last stream below it) or announced the shutdown whose deadline then did
/// (NO_ERROR covering the stream: graceful, RFC 9113 §6.8).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProxyShutdown {
    /// The h2 leg's handshake id and stream.
    leg: u64,
    stream: u32,
    /// The GOAWAY and its capture time.
    goaway: H2Reset,
    at: Timestamp,
    /// When the h2 leg's WebSocket ended.
    leg_end: Timestamp,
    /// NO_ERROR covering the stream: the GOAWAY announced the shutdown, a deadline ended it.
    graceful: bool,
}

/// The shutdown `h2_leg` (the finished WebSocket of an HTTP/2 stream from a client to the
/// proxy) shows its proxy made: the proxy (the leg's server) sent a GOAWAY that ended the
/// WebSocket or was followed by the proxy tearing the stream down before any close handshake
/// (`h2::ending` found which). `None` for an HTTP/1.1 leg, a GOAWAY from the client, a close
/// handshake that completed, or a stream the client tore down after a graceful GOAWAY.
pub(crate) fn proxy_shutdown(h2_leg: &ConnectionRecord) -> Option<ProxyShutdown> {
    let g = h2_leg.h2_goaway.as_deref()?;
    if g.frame.by != Peer::Server || h2_leg.close.handshake_completed {
        return None;
    }
    let graceful = h2_leg.findings.iter().find_map(|f| match f.code {
        Code::H2GoawayGraceful => Some(true),
        Code::H2GoawayClosedWebsocket => Some(false),
        _ => None,
    })?;
    // After a graceful GOAWAY the stream may finish: it is the proxy's shutdown only when
    // the proxy ended it.
    if graceful && !matches!(h2_leg.tcp_end, Ending::ServerFin | Ending::ServerRst) {
        return None;
    }
    Some(ProxyShutdown {
        leg: h2_leg.handshake_id?,
        stream: h2_leg.h2_stream_id?,
        goaway: g.frame.clone(),
        at: g.ts,
        leg_end: h2_leg.end_ts,
        graceful,
    })
}

/// Names the proxy's shutdown as the cause of `upstream`'s silent teardown (the other leg of
/// the hop whose HTTP/2 client leg shows `shutdown`; `proxy` describes the proxy, which tore
/// this leg down): its `close_frame_missing` or `connection_reset` (or the `idle_timeout`
/// named before the shutdown was known) says so, citing the GOAWAY, in place of an idle
/// timeout the proxy never had. Only when the timing leaves one reading: a graceful GOAWAY
/// before this teardown, an error GOAWAY within [`SHUTDOWN_SKEW_NS`] of it, and both legs
/// torn down within that of each other. Whether it named it; the record is unchanged when not.
pub(crate) fn name_proxy_shutdown(
    upstream: &mut ConnectionRecord,
    shutdown: &ProxyShutdown,
    proxy: &str,
) -> bool {
    let end = upstream.end_ts.0;
    let announced = if shutdown.graceful {
        shutdown.at.0 <= end
    } else {
        shutdown.at.0.saturating_sub(end) <= SHUTDOWN_SKEW_NS
    };
    let together = shutdown.leg_end.0.saturating_sub(end).saturating_abs() <= SHUTDOWN_SKEW_NS;
    if !announced || !together || upstream.close.initiator.is_some() {
        return false;
    }
    let rst = upstream.ending == ConnectionEnding::Rst;
    let who = match upstream.tcp_end {
        Ending::ClientFin | Ending::ClientRst => "client",
        Ending::ServerFin | Ending::ServerRst => "server",
        _ => return false,
    };
    let Some(torn) = upstream.findings.iter_mut().find(|f| {
        matches!(
            f.code,
            Code::IdleTimeout | Code::ConnectionReset | Code::CloseFrameMissing
        )
    }) else {
        return false;
    };
    let (code, what) = if rst {
        (Code::ConnectionReset, "tore the connection down (RST)")
    } else {
        (Code::CloseFrameMissing, "closed the connection (FIN)")
    };
    let g = &shutdown.goaway;
    let leg = format!(
        "the client's HTTP/2 connection (#{}, stream {})",
        shutdown.leg, shutdown.stream
    );
    let message = if shutdown.graceful {
        #[allow(clippy::cast_precision_loss)]
        let after = end.saturating_sub(shutdown.at.0) as f64 / 1e9;
        format!(
            "the {who} ({proxy}) {what} {after:.1} s after the proxy's graceful GOAWAY on {leg}, with no close frame: the proxy's shutdown deadline ended the WebSocket on both legs of the hop, not an idle timeout; applications report 1006 (abnormal closure)"
        )
    } else {
        let name = g
            .name
            .map_or_else(|| format!("0x{:x}", g.code), str::to_owned);
        format!(
            "the {who} ({proxy}) {what} as the proxy ended {leg} with GOAWAY {name}, with no close frame: the proxy's connection error ended the WebSocket on both legs of the hop, not an idle timeout; applications report 1006 (abnormal closure)"
        )
    };
    *torn = Finding::new(code, message).packets(&[g.packet]);
    upstream
        .findings
        .sort_by_key(|f| std::cmp::Reverse(f.severity));
    true
}

/// One TCP connect refused: a SYN from `from` to `to` answered by an RST, nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Refused {
    from: IpAddr,
    to: SocketAddr,
    /// When the RST came, and its packet.
    at: Timestamp,
    packet: u64,
}

/// The refused connects of the capture, for the proxy's own 502/503 to a WebSocket request:
/// a proxy whose backend does not listen answers the client itself after its connects were
/// refused (HAProxy: `SC--`, after its retries; nginx: 502), and with the proxy → backend leg
/// in the capture the finding can say so instead of leaving a bare 503. The hop counterpart of
/// [`HopTracker`] for an upstream leg that never became a handshake. Pure; at most
/// [`MAX_REFUSED`] entries.
#[derive(Debug, Default)]
pub struct RefusedConnects {
    recent: VecDeque<Refused>,
}

impl RefusedConnects {
    /// Nothing refused yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A SYN from `from` to `to` was answered by an RST at `at` (packet `packet`).
    pub fn remember(&mut self, from: IpAddr, to: SocketAddr, at: Timestamp, packet: u64) {
        if self.recent.len() >= MAX_REFUSED {
            self.recent.pop_front();
        }
        self.recent.push_back(Refused {
            from,
            to,
            at,
            packet,
        });
    }

    /// Bytes held (the ring is allocated once it fills).
    #[must_use]
    pub fn memory(&self) -> usize {
        self.recent.capacity() * std::mem::size_of::<Refused>()
    }

    /// The finding for `record` when it is a 502 or 503 from a server whose host had its own
    /// TCP connects refused while the request waited (from the request to the answer): the
    /// backend (or backends) it tried, how many times, and the RST packets. Claims no more
    /// than that: which backend the proxy would have used for this request is the proxy's
    /// configuration, which the capture does not show, so several backends are all named.
    #[must_use]
    pub fn explain(&self, record: &HandshakeRecord) -> Option<Finding> {
        let status = record.status.filter(|s| matches!(s, 502 | 503))?;
        let answered = record.response.as_ref()?.first_ts;
        let proxy = record.server;
        let refused: Vec<&Refused> = self
            .recent
            .iter()
            .filter(|r| {
                r.from == proxy.ip()
                    && r.to != proxy
                    && r.to != record.client
                    && r.at >= record.ts
                    && r.at <= answered
            })
            .collect();
        let first = refused.first()?;
        let mut backends: Vec<SocketAddr> = Vec::new();
        for r in &refused {
            if !backends.contains(&r.to) {
                backends.push(r.to);
            }
        }
        let tries = refused.len();
        #[allow(clippy::cast_precision_loss)]
        let over = (answered.0.saturating_sub(first.at.0)) as f64 / 1e9;
        let whom = backends
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let (whom, it) = if backends.len() == 1 {
            (format!("the backend {whom}"), "it")
        } else {
            (format!("the backends {whom}"), "them")
        };
        let times = match tries {
            1 => "once and an RST answered its SYN".to_owned(),
            n => format!("{n} times in {over:.1} s and an RST answered each SYN"),
        };
        let packets: Vec<u64> = refused
            .iter()
            .take(MAX_REFUSED_CITED)
            .map(|r| r.packet)
            .collect();
        Some(
            Finding::new(
                Code::BackendRefused,
                format!(
                    "{whom} refused the connection: while this request waited, the proxy's host {} tried to connect to {it} {times}; then the proxy answered {status}",
                    proxy.ip()
                ),
            )
            .packets(&packets),
        )
    }
}

/// Finished records of a hop's two legs, for the tests of how they ended (here and in the
/// correlation stage): the proxy at 10.0.0.2:80 between client 10.0.0.1 and upstream
/// 10.0.0.3:8080, its h2 client leg #1 (stream 1) and its HTTP/1.1 upstream leg #2.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::event::{CloseInfo, DirectionStats};

    fn record(
        id: u64,
        client: &str,
        server: &str,
        tcp_end: Ending,
        end_s: f64,
    ) -> ConnectionRecord {
        #[allow(clippy::cast_possible_truncation)]
        let end = Timestamp((end_s * 1e9) as i64);
        ConnectionRecord {
            handshake_id: Some(id),
            ts: Timestamp(0),
            end_ts: end,
            client: client.parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            server: server.parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            community_id: String::new(),
            handshake_observed: true,
            permessage_deflate: None,
            duration_ms: end_s * 1000.0,
            client_to_server: DirectionStats::default(),
            server_to_client: DirectionStats::default(),
            close: CloseInfo::default(),
            ending: ConnectionEnding::Rst,
            tcp_end,
            idle_before_end_ms: Some(end_s * 1000.0),
            max_silence_ms: end_s * 1000.0,
            findings: vec![Finding::new(
                Code::ConnectionReset,
                format!("the {} reset the connection (RST) after {end_s:.1} s of silence with no close frame; applications report 1006 (abnormal closure)", if matches!(tcp_end, Ending::ClientRst) { "client" } else { "server" }),
            )],
            loss: crate::event::TcpLoss::default(),
            h2_stream_id: None,
            h2_goaway: None,
            tls: None,
            frame_log: crate::event::FrameLog::default(),
        }
    }

    /// The upstream leg #2, reset by the proxy (its client) at `end_s` after silence.
    pub(crate) fn upstream_torn(end_s: f64) -> ConnectionRecord {
        record(
            2,
            "10.0.0.2:40000",
            "10.0.0.3:8080",
            Ending::ClientRst,
            end_s,
        )
    }

    /// The h2 client leg #1 on stream 1, reset by the proxy (RST_STREAM CANCEL, packet 31) at
    /// `end_s`; `goaway` is the GOAWAY seen while it was open (sender, error code, time),
    /// packet 29, with the findings `h2::ending` writes for it.
    pub(crate) fn h2_torn(end_s: f64, goaway: Option<(Peer, u32, f64)>) -> ConnectionRecord {
        let mut r = record(1, "10.0.0.1:50000", "10.0.0.2:80", Ending::ServerRst, end_s);
        let reset = H2Reset {
            by: Peer::Server,
            code: 8,
            name: Some("CANCEL"),
            last_stream: None,
            debug: None,
            packet: 31,
        };
        #[allow(clippy::cast_possible_truncation)]
        let goaway = goaway.map(|(by, code, at)| {
            let frame = H2Reset {
                by,
                code,
                name: crate::h2::frame::ErrorCode(code).name(),
                last_stream: Some((1 << 31) - 1),
                debug: None,
                packet: 29,
            };
            (frame, Timestamp((at * 1e9) as i64))
        });
        r.h2_stream_id = Some(1);
        crate::h2::ending::stream_findings(
            &mut r,
            1,
            Some(&reset),
            goaway.as_ref().map(|(g, at)| (g, *at)),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::event::{Message, Timing, Verdict};
    use crate::http::head::{parse_head, HeadParse};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn message(text: &str, request: bool, ms: i64) -> Message {
        Message {
            head: head(text, request),
            packets: vec![1],
            first_ts: Timestamp(ms * 1_000_000),
            last_ts: Timestamp(ms * 1_000_000),
            truncated: false,
            body: None,
            cut: None,
        }
    }

    /// One leg: `client` → `server`, requested at `req_ms`, answered `status` at `resp_ms`.
    fn leg(
        id: u64,
        client: &str,
        server: &str,
        req_ms: i64,
        resp_ms: i64,
        status: u16,
    ) -> Arc<HandshakeRecord> {
        let request = format!("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
        let response = format!("HTTP/1.1 {status} X\r\n\r\n");
        Arc::new(HandshakeRecord {
            id,
            ts: Timestamp(req_ms * 1_000_000),
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            community_id: String::new(),
            verdict: Verdict::Ok,
            status: Some(status),
            method: Some("GET".into()),
            host: Some("h".into()),
            path: Some("/ws".into()),
            origin: None,
            key: Some(KEY.into()),
            accept: None,
            expected_accept: None,
            subprotocols_offered: vec![],
            subprotocol: None,
            extensions_offered: vec![],
            extensions: vec![],
            request: Some(message(&request, true, req_ms)),
            response: Some(message(&response, false, resp_ms)),
            interim: vec![],
            timing: Timing::default(),
            ending: None,
            findings: vec![],
            loss: Default::default(),
            h2: None,
            tls: None,
        })
    }

    const CLIENT: &str = "10.0.0.1:40000";
    const PROXY: &str = "10.0.0.2:80";
    const PROXY_OUT: &str = "10.0.0.2:51000";
    const UPSTREAM: &str = "10.0.0.3:8080";

    fn ids(links: &[HopLink]) -> Vec<(u64, u64)> {
        links.iter().map(|l| (l.downstream, l.upstream)).collect()
    }

    #[test]
    fn a_proxys_503_after_its_backend_refused_says_the_backend_refused() {
        let proxy_host: IpAddr = "10.0.0.2".parse().unwrap();
        let backend: SocketAddr = UPSTREAM.parse().unwrap();
        let at = |ms: i64| Timestamp(ms * 1_000_000);
        let mut r = RefusedConnects::new();
        // Before the request: not this request's story.
        r.remember(proxy_host, backend, at(5), 1);
        // While it waited (10 ms to 3010 ms): four refused tries, HAProxy's retries.
        for (n, ms) in [(11, 11), (13, 1011), (15, 2011), (17, 3009)] {
            r.remember(proxy_host, backend, at(ms), n);
        }
        // Another host's refused connect, and one to the proxy itself: neither counts.
        r.remember("10.0.0.9".parse().unwrap(), backend, at(20), 30);
        r.remember(proxy_host, PROXY.parse().unwrap(), at(21), 31);
        let f = r
            .explain(&leg(1, CLIENT, PROXY, 10, 3010, 503))
            .unwrap_or_else(|| unreachable!());
        assert_eq!(f.code, Code::BackendRefused);
        assert_eq!(f.packets, [11, 13, 15, 17]);
        assert!(
            f.message
                .starts_with("the backend 10.0.0.3:8080 refused the connection")
                && f.message
                    .contains("4 times in 3.0 s and an RST answered each SYN")
                && f.message.ends_with("then the proxy answered 503"),
            "{}",
            f.message
        );
        // A 101, a 404, or a 503 whose wait saw no refusal: nothing to explain.
        assert!(r.explain(&leg(2, CLIENT, PROXY, 10, 3010, 101)).is_none());
        assert!(r.explain(&leg(3, CLIENT, PROXY, 10, 3010, 404)).is_none());
        assert!(r.explain(&leg(4, CLIENT, PROXY, 4000, 4010, 503)).is_none());
        // Two backends refused: both named, no choice made between them.
        r.remember(proxy_host, "10.0.0.4:8080".parse().unwrap(), at(4005), 40);
        r.remember(proxy_host, backend, at(4006), 41);
        let f = r
            .explain(&leg(5, CLIENT, PROXY, 4000, 4010, 502))
            .unwrap_or_else(|| unreachable!());
        assert!(
            f.message
                .starts_with("the backends 10.0.0.4:8080, 10.0.0.3:8080 refused")
                && f.message.contains("to connect to them 2 times"),
            "{}",
            f.message
        );
    }

    #[test]
    fn refused_connects_are_bounded_by_forgetting_the_oldest() {
        let mut r = RefusedConnects::new();
        let host: IpAddr = "10.0.0.2".parse().unwrap();
        for n in 0..(MAX_REFUSED as u64 + 10) {
            #[allow(clippy::cast_possible_wrap)]
            r.remember(host, UPSTREAM.parse().unwrap(), Timestamp(n as i64), n);
        }
        assert_eq!(r.recent.len(), MAX_REFUSED);
        assert_eq!(r.recent.front().map(|x| x.packet), Some(10));
        assert!(r.memory() >= MAX_REFUSED * std::mem::size_of::<Refused>());
    }

    #[test]
    fn links_the_legs_whichever_completes_first() {
        // client → proxy at 0 ms, proxy → upstream at 1 ms, upstream answers at 2 ms, the
        // proxy answers the client at 3 ms.
        let down = leg(1, CLIENT, PROXY, 0, 3, 101);
        let up = leg(2, PROXY_OUT, UPSTREAM, 1, 2, 101);
        for order in [[&down, &up], [&up, &down]] {
            let mut t = HopTracker::new();
            assert!(t.push(order[0]).is_empty());
            let links = t.push(order[1]);
            assert_eq!(ids(&links), vec![(1, 2)]);
            let l = &links[0];
            assert_eq!(
                l.client,
                CLIENT.parse().unwrap(),
                "the real client, not the proxy's port"
            );
            assert_eq!(
                (l.proxy, l.upstream_server),
                (PROXY.parse().unwrap(), UPSTREAM.parse().unwrap())
            );
            assert_eq!(l.broken_at, BrokenAt::Nowhere);
        }
    }

    #[test]
    fn a_retry_with_the_same_key_is_not_a_hop() {
        let mut t = HopTracker::new();
        t.push(&leg(1, CLIENT, PROXY, 0, 3, 503));
        // Same server again, and another server asked only after the first answer.
        assert!(t
            .push(&leg(2, "10.0.0.1:40001", PROXY, 10, 12, 101))
            .is_empty());
        assert!(t.push(&leg(3, PROXY_OUT, UPSTREAM, 20, 21, 101)).is_empty());
        // Too late to be the same handshake.
        let mut t = HopTracker::new();
        t.push(&leg(1, CLIENT, PROXY, 0, 6_000, 101));
        assert!(t
            .push(&leg(2, PROXY_OUT, UPSTREAM, 5_001, 5_002, 101))
            .is_empty());
    }

    #[test]
    fn a_chain_links_every_hop_and_each_leg_once_per_side() {
        // client → proxy A → proxy B → upstream.
        let mut t = HopTracker::new();
        t.push(&leg(1, CLIENT, PROXY, 0, 9, 101));
        assert_eq!(
            ids(&t.push(&leg(2, PROXY_OUT, "10.0.0.3:80", 1, 8, 101))),
            vec![(1, 2)]
        );
        assert_eq!(
            ids(&t.push(&leg(3, "10.0.0.3:52000", UPSTREAM, 2, 7, 101))),
            vec![(2, 3)]
        );
        // A stray copy that could follow legs 1 and 2, both already linked downstream.
        assert!(t
            .push(&leg(4, "10.0.0.2:51001", "10.0.0.9:80", 1, 10, 101))
            .is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = HopTracker::new();
        for i in 0..(MAX_TRACKED as u64 * 3) {
            let port = u16::try_from(1000 + i % 50_000).unwrap();
            let mut r = leg(i, &format!("10.0.0.1:{port}"), PROXY, 0, 1, 101);
            Arc::make_mut(&mut r).key = Some(format!("k{i}"));
            t.push(&r);
            assert!(t.remembered() <= MAX_TRACKED);
        }
        assert_eq!(t.remembered(), MAX_TRACKED);
        // The oldest were forgotten: a leg of the first handshake no longer pairs.
        let mut up = leg(99_999, PROXY_OUT, UPSTREAM, 0, 1, 101);
        Arc::make_mut(&mut up).key = Some("k0".into());
        assert!(t.push(&up).is_empty());
    }

    #[test]
    fn one_key_reused_keeps_few_legs() {
        // A client that sends the same key every time: each new handshake is compared with
        // at most MAX_LEGS_PER_KEY earlier ones, not with everything remembered.
        let mut t = HopTracker::new();
        for i in 0..(MAX_TRACKED as u64 * 2) {
            let port = u16::try_from(1000 + i).unwrap();
            t.push(&leg(i, &format!("10.0.0.1:{port}"), PROXY, 0, 1, 101));
            assert!(t.legs_under(KEY).unwrap_or(0) <= MAX_LEGS_PER_KEY);
        }
        assert_eq!(t.legs_under(KEY), Some(MAX_LEGS_PER_KEY));
        assert_eq!(t.remembered(), MAX_LEGS_PER_KEY);
        // A real hop still links: its downstream leg is among the recent ones.
        let mut t = HopTracker::new();
        for i in 0..40 {
            // Answered before the hop below starts, so none of them can be its downstream leg.
            t.push(&leg(
                i,
                &format!("10.0.0.1:{}", 2000 + i),
                "10.0.0.7:80",
                0,
                0,
                503,
            ));
        }
        t.push(&leg(100, CLIENT, PROXY, 10, 19, 101));
        assert_eq!(
            ids(&t.push(&leg(101, PROXY_OUT, UPSTREAM, 11, 18, 101))),
            vec![(100, 101)]
        );
    }

    /// `r` with its request head replaced by `text` (the proxy's rewrite of it).
    fn with_request(mut r: Arc<HandshakeRecord>, text: &str) -> Arc<HandshakeRecord> {
        let rec = Arc::make_mut(&mut r);
        if let Some(m) = rec.request.as_mut() {
            m.head = head(text, true);
            m.packets = vec![rec.id * 10];
        }
        r
    }

    /// `r` with one finding of `code` citing its response's status line, as the handshake
    /// stage writes a refusal.
    fn refused(mut r: Arc<HandshakeRecord>, code: Code) -> Arc<HandshakeRecord> {
        Arc::make_mut(&mut r).findings = vec![
            Finding::new(Code::CrossOrigin, "an info finding first"),
            Finding::new(code, "server refused")
                .packets(&[7])
                .line("HTTP/1.1 426 X")
                .cite(MessageRef::Response, HeadPart::StartLine),
        ];
        r
    }

    const STRIPPED: &str = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    #[test]
    fn a_proxy_stripping_the_upgrade_corrects_the_client_legs_refusal() {
        // nginx without `proxy_set_header Upgrade/Connection`: the upstream answers 426 to
        // the request nginx sent, nginx relays it, and the client's record blamed the server.
        let down = refused(leg(1, CLIENT, PROXY, 0, 3, 426), Code::UpgradeRequired);
        let up = with_request(leg(2, PROXY_OUT, UPSTREAM, 1, 2, 426), STRIPPED);
        let mut t = HopTracker::new();
        t.push(&down);
        let links = t.push(&up);
        let l = &links[0];
        assert_eq!(l.broken_at, BrokenAt::ProxyRequest);
        let c = l.correction.as_ref().expect("a correction");
        assert_eq!(c.replaces, Code::UpgradeRequired);
        assert_eq!(c.finding.code, Code::ProxyBrokeRequest);
        assert!(
            c.finding
                .message
                .contains("without `Upgrade` and `Connection: Upgrade`")
                && c.finding
                    .message
                    .contains("at 10.0.0.2:80 broke the upgrade, not the server"),
            "{}",
            c.finding.message
        );
        // The refusal's own evidence, plus the upstream leg's packets.
        assert_eq!(c.finding.packets, vec![1, 7, 20]);
        assert_eq!(c.finding.evidence, down.findings[1].evidence);
        // Shown in place of the finding it replaces, and only on the client's record.
        let shown: Vec<Code> = l
            .corrected_findings(&down.findings, down.id)
            .iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(shown, vec![Code::CrossOrigin, Code::ProxyBrokeRequest]);
        let upstream: Vec<Code> = l
            .corrected_findings(&down.findings, up.id)
            .iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(upstream, vec![Code::CrossOrigin, Code::UpgradeRequired]);
    }

    #[test]
    fn a_proxy_answering_for_an_accepting_upstream_is_corrected() {
        // The upstream switched; the proxy answered the client 502.
        let down = refused(leg(1, CLIENT, PROXY, 0, 3, 502), Code::BadGateway);
        let up = leg(2, PROXY_OUT, UPSTREAM, 1, 2, 101);
        let l = link(&down, &up);
        assert_eq!(l.broken_at, BrokenAt::ProxyResponse);
        let c = l.correction.expect("a correction");
        assert_eq!(
            (c.replaces, c.finding.code),
            (Code::BadGateway, Code::ProxyBrokeResponse)
        );
        assert!(c.finding.message.contains("accepted the upgrade (101)"));
        // The upstream's 101 only after the proxy answered the client 504 (its timeout ran
        // out first): the proxy rewrote nothing, and the client's gateway_timeout stands.
        let down = refused(leg(1, CLIENT, PROXY, 0, 2_000, 504), Code::GatewayTimeout);
        let up = leg(2, PROXY_OUT, UPSTREAM, 1, 6_000, 101);
        assert!(link(&down, &up).correction.is_none());
        // Both 101, the proxy rewrote the accept: the accept check is what it corrects.
        let mut down = leg(1, CLIENT, PROXY, 0, 3, 101);
        let mut up = leg(2, PROXY_OUT, UPSTREAM, 1, 2, 101);
        Arc::make_mut(&mut up).accept = Some("right=".into());
        let d = Arc::make_mut(&mut down);
        d.accept = Some("wrong=".into());
        d.findings = vec![Finding::new(Code::AcceptMismatch, "accept")];
        let c = link(&down, &up).correction.expect("a correction");
        assert_eq!(c.replaces, Code::AcceptMismatch);
        assert!(
            c.finding.message.contains("right=") && c.finding.message.contains("wrong="),
            "{}",
            c.finding.message
        );
    }

    #[test]
    fn no_correction_when_the_proxy_did_not_break_it() {
        // The upstream refused an intact request: the server's refusal stands.
        let down = refused(leg(1, CLIENT, PROXY, 0, 3, 403), Code::Forbidden);
        let up = refused(leg(2, PROXY_OUT, UPSTREAM, 1, 2, 403), Code::Forbidden);
        let l = link(&down, &up);
        assert_eq!(l.broken_at, BrokenAt::Upstream);
        assert!(l.correction.is_none());
        // Passed through.
        let l = link(
            &leg(1, CLIENT, PROXY, 0, 3, 101),
            &leg(2, PROXY_OUT, UPSTREAM, 1, 2, 101),
        );
        assert!(l.correction.is_none());
        // The proxy broke the request but the client's record blames nothing (no refusal
        // finding): nothing to replace.
        let up = with_request(leg(2, PROXY_OUT, UPSTREAM, 1, 2, 426), STRIPPED);
        let l = link(&leg(1, CLIENT, PROXY, 0, 3, 426), &up);
        assert_eq!(l.broken_at, BrokenAt::ProxyRequest);
        assert!(l.correction.is_none());
    }

    fn head(text: &str, request: bool) -> Head {
        let bytes = text.as_bytes();
        match parse_head(bytes, bytes.len(), request) {
            HeadParse::Complete(h) => h,
            other => panic!("{other:?}"),
        }
    }

    /// An HTTP/2 leg (extended CONNECT on stream `stream`) of a client → proxy handshake, as
    /// HAProxy's h2 frontend sees it: no key, answered `status`.
    fn h2_leg(
        id: u64,
        client: &str,
        server: &str,
        (req_ms, resp_ms): (i64, i64),
        stream: u32,
        status: u16,
    ) -> Arc<HandshakeRecord> {
        let mut r = leg(id, client, server, req_ms, resp_ms, status);
        let rec = Arc::make_mut(&mut r);
        // As h2::connection builds an HTTP/2 head: pseudo-header fields in the list.
        let h2_head = |start: &str, fields: &[(&str, &str)], request: bool| {
            let mut h = head(&format!("{start}\r\n\r\n"), request);
            h.start_line = start.replace("HTTP/1.1", "HTTP/2");
            h.headers = fields
                .iter()
                .map(|(n, v)| crate::event::Header {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect();
            h
        };
        let request = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", "/ws"),
            (":authority", "h"),
            ("sec-websocket-version", "13"),
        ];
        if let Some(m) = rec.request.as_mut() {
            m.head = h2_head("CONNECT /ws HTTP/1.1", &request, true);
        }
        let code = status.to_string();
        let response = [(":status", code.as_str()), ("server", "app")];
        if let Some(m) = rec.response.as_mut() {
            m.head = h2_head(&format!("HTTP/1.1 {status} X"), &response, false);
        }
        rec.key = None;
        rec.method = Some("CONNECT".into());
        rec.h2 = Some(crate::event::H2Stream {
            stream_id: stream,
            upgraded: false,
            connect_protocol_enabled: Some(true),
            unknown_fields: 0,
            mid_connection: false,
            reset: None,
            goaway: None,
        });
        r
    }

    /// The HTTP/1.1 leg a proxy sends upstream for an HTTP/2 one, with a key of its own.
    fn h1_upstream(id: u64, client: &str, ms: (i64, i64), status: u16) -> Arc<HandshakeRecord> {
        let mut r = leg(id, client, UPSTREAM, ms.0, ms.1, status);
        let rec = Arc::make_mut(&mut r);
        rec.key = Some(format!("made-up-{id}=="));
        let response = format!("HTTP/1.1 {status} X\r\nServer: app\r\n\r\n");
        if let Some(m) = rec.response.as_mut() {
            m.head = head(&response, false);
        }
        let request = format!("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: made-up-{id}==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        with_request(r, &request)
    }

    #[test]
    fn an_h2_leg_and_its_http1_upstream_leg_link_by_content_either_way_round() {
        let down = h2_leg(1, CLIENT, PROXY, (0, 3), 1, 200);
        let up = h1_upstream(2, PROXY_OUT, (1, 2), 101);
        for order in [[&down, &up], [&up, &down]] {
            let mut t = HopTracker::new();
            assert!(t.push(order[0]).is_empty());
            let links = t.push(order[1]);
            assert_eq!(ids(&links), vec![(1, 2)]);
            let l = &links[0];
            assert_eq!(l.broken_at, BrokenAt::Nowhere);
            assert!(l.both_switched(), "200 on the stream, 101 upstream");
            assert_eq!(
                (l.downstream_h2_stream, l.upstream_h2_stream),
                (Some(1), None)
            );
            assert_eq!(l.key, "made-up-2==", "the key the proxy made up");
            // The translation itself is no change (pseudo-headers, Upgrade, Connection, the
            // key; :authority is Host); the request line shows it.
            assert_eq!(l.request_changes, vec![], "{:?}", l.request_changes);
            assert_eq!(
                l.request_line,
                Some(("CONNECT /ws HTTP/2".into(), "GET /ws HTTP/1.1".into()))
            );
            // The proxy passed the upstream's Server on: it did not name itself.
            assert_eq!(l.proxy_software, None);
            assert!(
                l.explanation
                    .contains("extended CONNECT (HTTP/2 stream 1) into an HTTP/1.1 Upgrade"),
                "{}",
                l.explanation
            );
        }
    }

    #[test]
    fn h2_legs_link_only_when_one_reading_is_left() {
        // Two streams to the same path waiting at once, two upstream legs sent while both
        // waited: which is which cannot be told, so neither links.
        let mut t = HopTracker::new();
        t.push(&h1_upstream(3, PROXY_OUT, (2, 4), 101));
        t.push(&h1_upstream(4, "10.0.0.2:51001", (3, 5), 101));
        assert!(t.push(&h2_leg(1, CLIENT, PROXY, (0, 6), 1, 200)).is_empty());
        assert!(t.push(&h2_leg(2, CLIENT, PROXY, (1, 7), 3, 200)).is_empty());
        // One upstream leg that either of two waiting streams could have caused: none.
        let mut t = HopTracker::new();
        t.push(&h2_leg(1, CLIENT, PROXY, (0, 6), 1, 200));
        t.push(&h2_leg(2, CLIENT, PROXY, (1, 7), 3, 200));
        assert!(t.push(&h1_upstream(3, PROXY_OUT, (2, 4), 101)).is_empty());
        // Another Origin, other subprotocols or another path is another WebSocket.
        for change in 0..3 {
            let mut up = h1_upstream(3, PROXY_OUT, (1, 2), 101);
            let u = Arc::make_mut(&mut up);
            match change {
                0 => u.origin = Some("https://other.example".into()),
                1 => u.subprotocols_offered = vec!["chat".into()],
                _ => u.path = Some("/other".into()),
            }
            let mut t = HopTracker::new();
            t.push(&up);
            assert!(
                t.push(&h2_leg(1, CLIENT, PROXY, (0, 3), 1, 200)).is_empty(),
                "{change}"
            );
        }
        // Sent after the stream was answered: not its upstream leg.
        let mut t = HopTracker::new();
        t.push(&h2_leg(1, CLIENT, PROXY, (0, 3), 1, 200));
        assert!(t.push(&h1_upstream(2, PROXY_OUT, (4, 5), 101)).is_empty());
        // Two HTTP/1.1 legs with different keys never link by content.
        let mut t = HopTracker::new();
        t.push(&leg(1, CLIENT, PROXY, 0, 3, 101));
        assert!(t.push(&h1_upstream(2, PROXY_OUT, (1, 2), 101)).is_empty());
        // Streams one after the other (the sample's two WebSockets): each links with its own.
        let mut t = HopTracker::new();
        t.push(&h1_upstream(2, PROXY_OUT, (1, 2), 101));
        assert_eq!(
            ids(&t.push(&h2_leg(1, CLIENT, PROXY, (0, 3), 1, 200))),
            vec![(1, 2)]
        );
        t.push(&h1_upstream(4, "10.0.0.2:51001", (11, 12), 101));
        assert_eq!(
            ids(&t.push(&h2_leg(3, CLIENT, PROXY, (10, 13), 3, 200))),
            vec![(3, 4)]
        );
    }

    #[test]
    fn a_translating_proxy_is_blamed_on_the_leg_that_broke() {
        // The upstream refused: its refusal stands.
        let l = link(
            &h2_leg(1, CLIENT, PROXY, (0, 3), 1, 403),
            &h1_upstream(2, PROXY_OUT, (1, 2), 403),
        );
        assert_eq!(l.broken_at, BrokenAt::Upstream);
        assert!(l.correction.is_none());
        // The upstream switched, the proxy answered the stream 502: the proxy's fault, and
        // the client leg's bad_gateway is corrected.
        let down = refused(h2_leg(1, CLIENT, PROXY, (0, 3), 1, 502), Code::BadGateway);
        let l = link(&down, &h1_upstream(2, PROXY_OUT, (1, 2), 101));
        assert_eq!(l.broken_at, BrokenAt::ProxyResponse);
        let c = l.correction.expect("a correction");
        assert_eq!(c.replaces, Code::BadGateway);
        assert!(
            c.finding.message.contains("accepted the upgrade (101)"),
            "{}",
            c.finding.message
        );
        // The proxy forwarded a plain GET (no Upgrade, no Connection: Upgrade): it broke the
        // request.
        let up = with_request(
            h1_upstream(2, PROXY_OUT, (1, 2), 426),
            "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        let down = refused(
            h2_leg(1, CLIENT, PROXY, (0, 3), 1, 426),
            Code::UpgradeRequired,
        );
        let l = link(&down, &up);
        assert_eq!(l.broken_at, BrokenAt::ProxyRequest);
        assert!(
            l.explanation
                .contains("without `Upgrade` and `Connection: Upgrade`"),
            "{}",
            l.explanation
        );
        assert_eq!(
            l.correction.map(|c| c.finding.code),
            Some(Code::ProxyBrokeRequest)
        );
    }

    #[test]
    fn h2_legs_are_bounded_and_expire() {
        let mut t = HopTracker::new();
        for i in 0..(MAX_TRACKED as u64 * 2) {
            let port = 1000 + i % 50_000;
            t.push(&h2_leg(
                i,
                &format!("10.0.0.1:{port}"),
                PROXY,
                (0, 1),
                1,
                200,
            ));
            assert!(t.by_path.values().map(Vec::len).sum::<usize>() <= MAX_LEGS_PER_PATH);
        }
        // Old ones go with time as keyed legs do.
        t.push(&h2_leg(0, CLIENT, PROXY, (60_000, 60_001), 1, 200));
        assert_eq!(t.by_path.values().map(Vec::len).sum::<usize>(), 1);
        assert_eq!(
            t.memory(),
            HopTracker::cost(&h2_leg(0, CLIENT, PROXY, (0, 1), 1, 200))
        );
    }

    #[test]
    fn diff_names_dropped_added_changed_and_hop_by_hop() {
        let a = head("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Keep: 1\r\n\r\n", true);
        let b = head("GET /ws HTTP/1.0\r\nhost: b\r\nconnection: close\r\nX-Keep: 1\r\nX-Real-IP: 1.2.3.4\r\n\r\n", true);
        let d = diff_heads(&a, &b);
        let summary: Vec<(ChangeKind, &str, bool)> = d
            .iter()
            .map(|c| (c.kind, c.name.as_str(), c.hop_by_hop))
            .collect();
        assert_eq!(
            summary,
            vec![
                (ChangeKind::Dropped, "Upgrade", true),
                (ChangeKind::Added, "X-Real-IP", false),
                (ChangeKind::Changed, "Connection", true),
                (ChangeKind::Changed, "Host", false),
            ]
        );
        assert_eq!(
            lost_on_the_way(&a, &b),
            vec!["HTTP/1.1", "Upgrade", "Connection: Upgrade"]
        );
    }

    #[test]
    fn the_h2_leg_shows_the_proxys_shutdown_only_when_the_proxy_sent_the_goaway_and_ended_it() {
        use super::testing::h2_torn;
        let graceful = proxy_shutdown(&h2_torn(2.4, Some((Peer::Server, 0, 0.4)))).unwrap();
        assert!(graceful.graceful);
        assert_eq!(
            (graceful.leg, graceful.stream, graceful.goaway.packet),
            (1, 1, 29)
        );
        let error = proxy_shutdown(&h2_torn(2.4, Some((Peer::Server, 2, 2.4)))).unwrap();
        assert!(!error.graceful);
        // No GOAWAY, or the client's: nothing of the proxy's.
        assert!(proxy_shutdown(&h2_torn(2.4, None)).is_none());
        assert!(proxy_shutdown(&h2_torn(2.4, Some((Peer::Client, 0, 0.4)))).is_none());
        // After a graceful GOAWAY the client ended the stream itself: the stream may finish,
        // so nothing says the proxy ended it.
        let mut by_client = h2_torn(2.4, Some((Peer::Server, 0, 0.4)));
        by_client.tcp_end = Ending::ClientRst;
        assert!(proxy_shutdown(&by_client).is_none());
        // A close handshake that completed is no shutdown's doing.
        let mut closed = h2_torn(2.4, Some((Peer::Server, 0, 0.4)));
        closed.close.handshake_completed = true;
        assert!(proxy_shutdown(&closed).is_none());
    }

    #[test]
    fn the_upstream_legs_teardown_is_the_shutdown_only_when_the_timing_leaves_one_reading() {
        use super::testing::{h2_torn, upstream_torn};
        let proxy = "the proxy at 10.0.0.2:80";
        let graceful = proxy_shutdown(&h2_torn(2.4, Some((Peer::Server, 0, 0.4)))).unwrap();
        let mut up = upstream_torn(2.4);
        assert!(name_proxy_shutdown(&mut up, &graceful, proxy));
        let f = &up.findings[0];
        assert_eq!(
            (f.code, f.packets.as_slice()),
            (Code::ConnectionReset, &[29][..])
        );
        assert_eq!(
            f.message,
            "the client (the proxy at 10.0.0.2:80) tore the connection down (RST) 2.0 s after the proxy's graceful GOAWAY on the client's HTTP/2 connection (#1, stream 1), with no close frame: the proxy's shutdown deadline ended the WebSocket on both legs of the hop, not an idle timeout; applications report 1006 (abnormal closure)"
        );
        // The idle timeout named before the shutdown was known is replaced the same way.
        let mut named = upstream_torn(2.4);
        named.findings[0] = Finding::new(Code::IdleTimeout, "likely its idle timeout");
        assert!(name_proxy_shutdown(&mut named, &graceful, proxy));
        assert_eq!(named.findings[0].code, Code::ConnectionReset);
        // A graceful GOAWAY after this leg's teardown announced nothing it could follow.
        let late = proxy_shutdown(&h2_torn(2.6, Some((Peer::Server, 0, 2.5)))).unwrap();
        let mut up = upstream_torn(2.4);
        assert!(!name_proxy_shutdown(&mut up, &late, proxy));
        assert_eq!(up, upstream_torn(2.4), "unchanged");
        // Legs torn down more than SHUTDOWN_SKEW_NS apart are two events, not one shutdown.
        let apart = proxy_shutdown(&h2_torn(3.5, Some((Peer::Server, 0, 0.4)))).unwrap();
        assert!(!name_proxy_shutdown(&mut upstream_torn(2.4), &apart, proxy));
        // An error GOAWAY ends both legs at once, in either order within the skew.
        let error = proxy_shutdown(&h2_torn(3.0, Some((Peer::Server, 2, 3.0)))).unwrap();
        let mut up = upstream_torn(2.4);
        assert!(name_proxy_shutdown(&mut up, &error, proxy));
        assert!(
            up.findings[0].message.starts_with("the client (the proxy at 10.0.0.2:80) tore the connection down (RST) as the proxy ended the client's HTTP/2 connection (#1, stream 1) with GOAWAY INTERNAL_ERROR"),
            "{}",
            up.findings[0].message
        );
        let much_later = proxy_shutdown(&h2_torn(3.6, Some((Peer::Server, 2, 3.6)))).unwrap();
        assert!(!name_proxy_shutdown(
            &mut upstream_torn(2.4),
            &much_later,
            proxy
        ));
        // A leg with a close frame was not torn down silently.
        let mut closing = upstream_torn(2.4);
        closing.close.initiator = Some(Peer::Server);
        assert!(!name_proxy_shutdown(&mut closing, &graceful, proxy));
    }
}
