//! Proxy hop correlation: finds the two legs of one proxied handshake in a capture and says
//! what the proxy changed between them.
//!
//! When a capture point sees both client → proxy and proxy → upstream, the same WebSocket
//! opening handshake appears twice: a proxy forwards the client's `Sec-WebSocket-Key`
//! unchanged (it must, or the upstream's accept would not match the client's key). Two
//! records with the same key, a request on the second leg sent while the first leg was still
//! waiting for its answer, and different servers are two hops of one handshake. The diff of
//! the two requests (and of the two responses, in the other direction) shows which hop
//! dropped `Upgrade`/`Connection`, downgraded to HTTP/1.0 or rewrote the response.
//!
//! Pure: records in, [`HopLink`]s out; no I/O, no clock. The report renders the links; the
//! line/JSON output and the TUI can reuse them.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::event::{BrokenAt, ChangeKind, HandshakeRecord, Head, HeaderChange, HopLink};

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

/// Finds proxy hops among `records` (any order). Each record is used at most once as a
/// downstream and once as an upstream leg, so a chain of proxies yields one link per hop.
/// Output is sorted by (downstream request time, ids): deterministic for the same input.
#[must_use]
pub fn correlate(records: &[&HandshakeRecord]) -> Vec<HopLink> {
    let mut by_key: BTreeMap<&str, Vec<&HandshakeRecord>> = BTreeMap::new();
    for r in records {
        if let (Some(key), Some(_)) = (r.key.as_deref(), r.request.as_ref()) {
            by_key.entry(key).or_default().push(r);
        }
    }
    let mut links: Vec<(i64, HopLink)> = Vec::new();
    for legs in by_key.values_mut() {
        if legs.len() < 2 {
            continue;
        }
        legs.sort_by_key(|r| (request_ts(r), r.id));
        let mut used_down = vec![false; legs.len()];
        let mut used_up = vec![false; legs.len()];
        for (i, down) in legs.iter().enumerate() {
            if used_down.get(i).copied().unwrap_or(true) {
                continue;
            }
            let found = legs.iter().enumerate().skip(i + 1).find(|(j, up)| {
                !used_up.get(*j).copied().unwrap_or(true) && is_upstream_of(up, down)
            });
            if let Some((j, up)) = found {
                if let Some(u) = used_up.get_mut(j) {
                    *u = true;
                }
                if let Some(d) = used_down.get_mut(i) {
                    *d = true;
                }
                links.push((request_ts(down), link(down, up)));
            }
        }
    }
    links.sort_by_key(|(ts, l)| (*ts, l.downstream, l.upstream));
    links.into_iter().map(|(_, l)| l).collect()
}

/// Most recent handshakes remembered by [`HopTracker`] (bounds memory on a busy link).
pub const MAX_TRACKED: usize = 1024;

/// Streaming correlation for the line/JSON output, the TUI and live capture: remembers the
/// recent handshakes and, as each new one completes, links it with an earlier leg of the same
/// handshake. A link is found once, when its second leg completes. Lookups go by key, so the
/// cost per handshake does not grow with the number remembered.
#[derive(Debug, Default)]
pub struct HopTracker {
    by_key: HashMap<String, Vec<HandshakeRecord>>,
    /// (request time, key) in arrival order, for expiry and the [`MAX_TRACKED`] cap.
    order: VecDeque<(i64, String)>,
}

impl HopTracker {
    /// An empty tracker.
    #[must_use]
    pub fn new() -> Self {
        HopTracker::default()
    }

    /// Takes a completed handshake; returns the hops it closes.
    pub fn push(&mut self, record: &HandshakeRecord) -> Vec<HopLink> {
        let (Some(key), Some(_)) = (record.key.as_deref(), record.request.as_ref()) else {
            return Vec::new();
        };
        let now = request_ts(record);
        // Legs are seconds apart at most; anything older can no longer pair.
        while let Some((ts, _)) = self.order.front() {
            if now.saturating_sub(*ts) <= 2 * MAX_HOP_DELAY_NS && self.order.len() < MAX_TRACKED {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                if let Some(legs) = self.by_key.get_mut(&old) {
                    if !legs.is_empty() {
                        legs.remove(0);
                    }
                    if legs.is_empty() {
                        self.by_key.remove(&old);
                    }
                }
            }
        }
        let links = match self.by_key.get(key) {
            Some(earlier) if !earlier.is_empty() => {
                let mut legs: Vec<&HandshakeRecord> = earlier.iter().collect();
                legs.push(record);
                correlate(&legs)
                    .into_iter()
                    .filter(|l| l.downstream == record.id || l.upstream == record.id)
                    .collect()
            }
            _ => Vec::new(),
        };
        self.by_key
            .entry(key.to_owned())
            .or_default()
            .push(record.clone());
        self.order.push_back((now, key.to_owned()));
        links
    }
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

fn link(down: &HandshakeRecord, up: &HandshakeRecord) -> HopLink {
    let (dreq, ureq) = (down.request.as_ref(), up.request.as_ref());
    let request_line = match (dreq, ureq) {
        (Some(a), Some(b)) if a.head.start_line != b.head.start_line => {
            Some((a.head.start_line.clone(), b.head.start_line.clone()))
        }
        _ => None,
    };
    let request_changes = match (dreq, ureq) {
        (Some(a), Some(b)) => diff_heads(&a.head, &b.head),
        _ => Vec::new(),
    };
    // Responses travel the other way: upstream → proxy → client.
    let response_changes = match (&up.response, &down.response) {
        (Some(a), Some(b)) => diff_heads(&a.head, &b.head),
        _ => Vec::new(),
    };
    let proxy_software = down
        .response
        .as_ref()
        .and_then(|m| m.head.value("Server"))
        .map(str::to_owned);
    let mut l = HopLink {
        downstream: down.id,
        upstream: up.id,
        proxy: down.server,
        proxy_software,
        upstream_server: up.server,
        key: down.key.clone().unwrap_or_default(),
        request_line,
        request_changes,
        upstream_status: up.status,
        downstream_status: down.status,
        response_changes,
        broken_at: BrokenAt::Unknown,
        explanation: String::new(),
    };
    let (broken_at, explanation) = explain(&l, down, up);
    l.broken_at = broken_at;
    l.explanation = explanation;
    l
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

fn explain(l: &HopLink, down: &HandshakeRecord, up: &HandshakeRecord) -> (BrokenAt, String) {
    // The first mention names the proxy fully; later ones just say "the proxy".
    let proxy_full = match &l.proxy_software {
        Some(sw) => format!("the proxy {} at {}", sw, l.proxy),
        None => format!("the proxy at {}", l.proxy),
    };
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
        (None, _) => (
            BrokenAt::Unknown,
            format!(
                "{} forwarded the upgrade intact; the capture holds no answer from {upstream}.",
                capitalise(&proxy_full)
            ),
        ),
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

fn fields(head: &Head) -> BTreeMap<String, (String, String)> {
    let mut m: BTreeMap<String, (String, String)> = BTreeMap::new();
    for h in &head.headers {
        m.entry(h.name.to_ascii_lowercase())
            .and_modify(|(_, v)| {
                v.push_str(", ");
                v.push_str(&h.value);
            })
            .or_insert_with(|| (h.name.clone(), h.value.clone()));
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

/// The record ids taking part in `links`, mapped to the link index (for cross-references).
#[must_use]
pub fn index_by_record(links: &[HopLink]) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for (i, l) in links.iter().enumerate() {
        m.entry(l.downstream).or_insert(i);
        m.entry(l.upstream).or_insert(i);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{parse_head, HeadParse};

    fn head(text: &str, request: bool) -> Head {
        let bytes = text.as_bytes();
        match parse_head(bytes, bytes.len(), request) {
            HeadParse::Complete(h) => h,
            other => panic!("{other:?}"),
        }
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
}
