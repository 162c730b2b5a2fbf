//! The record of a proxy hop: two legs of one proxied handshake and what the proxy changed.
//! Derived once, by `correlate::hop`, and sent as `Event::Hop`; the line and JSON output, the
//! report and the TUI render it and never correlate legs themselves.

use std::net::SocketAddr;

use serde::Serialize;

use crate::finding::{Code, Finding};

/// How one header differs between two legs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Present on the incoming leg, absent on the outgoing one.
    Dropped,
    /// Absent on the incoming leg, present on the outgoing one.
    Added,
    /// Present on both with different values.
    Changed,
}

impl ChangeKind {
    /// Lower-case word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Dropped => "dropped",
            ChangeKind::Added => "added",
            ChangeKind::Changed => "changed",
        }
    }
}

/// One header difference between two legs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderChange {
    /// What happened to it.
    pub kind: ChangeKind,
    /// Header name as the first leg spelled it (or the second, when added).
    pub name: String,
    /// Value(s) before the proxy, joined with `, `.
    pub before: Option<String>,
    /// Value(s) after the proxy, joined with `, `.
    pub after: Option<String>,
    /// A hop-by-hop header (RFC 9110 §7.6.1): proxies drop these unless told otherwise.
    pub hop_by_hop: bool,
}

/// Where along the path the handshake broke, as far as the two legs show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokenAt {
    /// Both legs opened: the proxy passed the handshake through.
    Nowhere,
    /// The proxy forwarded a request that can no longer upgrade.
    ProxyRequest,
    /// The upstream accepted, but the proxy answered the client something else.
    ProxyResponse,
    /// The upstream rejected an intact request; the proxy passed the rejection on.
    Upstream,
    /// The upstream leg has no response in the capture.
    Unknown,
}

/// Two legs of one proxied handshake and what the proxy changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HopLink {
    /// Record id of the client → proxy leg.
    pub downstream: u64,
    /// Record id of the proxy → upstream leg.
    pub upstream: u64,
    /// The client that started the handshake (the downstream leg's client). The upstream
    /// leg's client is the proxy's own outgoing address, not this one.
    pub client: SocketAddr,
    /// The proxy's listening address (the downstream leg's server).
    pub proxy: SocketAddr,
    /// The proxy's `Server` header on the downstream response, when it sent one.
    pub proxy_software: Option<String>,
    /// The upstream server.
    pub upstream_server: SocketAddr,
    /// The shared Sec-WebSocket-Key.
    pub key: String,
    /// Request-line change, e.g. `GET /ws HTTP/1.1` → `GET /ws HTTP/1.0`.
    pub request_line: Option<(String, String)>,
    /// Request header differences, dropped first, then added, then changed; by name.
    pub request_changes: Vec<HeaderChange>,
    /// Status on the upstream leg (what the upstream answered the proxy).
    pub upstream_status: Option<u16>,
    /// Status on the downstream leg (what the proxy answered the client).
    pub downstream_status: Option<u16>,
    /// Response header differences from the upstream's response to the proxy's response.
    pub response_changes: Vec<HeaderChange>,
    /// Which hop broke the handshake.
    pub broken_at: BrokenAt,
    /// One or two sentences for a person.
    pub explanation: String,
    /// The client-side record's cause, corrected by what the upstream leg shows: present when
    /// the proxy broke the handshake ([`BrokenAt::ProxyRequest`] or
    /// [`BrokenAt::ProxyResponse`]) and the downstream record has a finding that blames the
    /// server for it. The downstream record was written before the upstream leg was known, so
    /// sinks show this in place of that finding; they never work it out themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<Correction>,
    /// The downstream leg's HTTP/2 stream, when the client spoke extended CONNECT (RFC 8441)
    /// to the proxy. A hop with an HTTP/2 leg has no shared key to match on: the legs were
    /// linked by their path, Origin and offered subprotocols, the timing, and being the only
    /// candidates (see `correlate::hop`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downstream_h2_stream: Option<u32>,
    /// The upstream leg's HTTP/2 stream, when the proxy spoke extended CONNECT upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_h2_stream: Option<u32>,
}

/// A finding of the downstream (client → proxy) record that the hop proves wrong, and the
/// cause to show in its place.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Correction {
    /// Code of the downstream record's finding this replaces (its refusal, or the accept
    /// check a proxy's rewrite failed).
    #[serde(serialize_with = "ser_code")]
    pub replaces: Code,
    /// The corrected cause, a finding of the downstream record (`proxy_broke_request` or
    /// `proxy_broke_response`) citing the same evidence plus the upstream leg's packets.
    pub finding: Finding,
}

fn ser_code<S: serde::Serializer>(code: &Code, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.as_str())
}

impl HopLink {
    /// Whether both legs switched to WebSocket: a 101 on an HTTP/1.1 leg, a 2xx on an
    /// HTTP/2 stream (RFC 8441 §5).
    #[must_use]
    pub fn both_switched(&self) -> bool {
        let switched = |status: Option<u16>, h2: Option<u32>| match (status, h2) {
            (Some(s), Some(_)) => (200..300).contains(&s),
            (s, None) => s == Some(101),
            (None, Some(_)) => false,
        };
        switched(self.upstream_status, self.upstream_h2_stream)
            && switched(self.downstream_status, self.downstream_h2_stream)
    }

    /// The findings of `downstream` (the record with id [`HopLink::downstream`]) as the hop
    /// corrects them: the one [`Correction::replaces`] names swapped for the correction, in
    /// its place; unchanged for any other record or when there is no correction.
    #[must_use]
    pub fn corrected_findings<'a>(
        &'a self,
        downstream: &'a [Finding],
        id: u64,
    ) -> Vec<&'a Finding> {
        let swap = self.correction.as_ref().filter(|_| id == self.downstream);
        let mut swapped = false;
        downstream
            .iter()
            .map(|f| match swap {
                Some(c) if !swapped && f.code == c.replaces => {
                    swapped = true;
                    &c.finding
                }
                _ => f,
            })
            .collect()
    }
}
