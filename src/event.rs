//! What the engine tells the sinks: the only types line output, JSON, reports and the TUI see.

use std::net::{IpAddr, SocketAddr};

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::capture::Timestamp;
use crate::finding::{Finding, Severity};
use crate::http::{Head, Header};

/// A request or response head with the capture evidence behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The parsed head.
    pub head: Head,
    /// Frames that carried the head, in stream order.
    pub frames: Vec<u64>,
    /// Timestamp of the frame carrying the first byte.
    pub first_ts: Timestamp,
    /// Timestamp of the frame that completed the head.
    pub last_ts: Timestamp,
    /// Some of those frames were cut by the snap length.
    pub truncated: bool,
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Message", 5)?;
        st.serialize_field("start_line", &self.head.start_line)?;
        st.serialize_field("headers", &self.head.headers)?;
        st.serialize_field("frames", &self.frames)?;
        st.serialize_field("ts", &self.first_ts.as_secs_f64())?;
        st.serialize_field("head_bytes", &self.head.len)?;
        st.end()
    }
}

impl Message {
    /// First frame number, 0 if unknown.
    #[must_use]
    pub fn first_frame(&self) -> u64 {
        self.frames.first().copied().unwrap_or(0)
    }

    /// The raw header line(s) of `name`, as evidence.
    #[must_use]
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.head.fields(name).map(Header::line).collect()
    }
}

/// The outcome of a handshake, from the worst finding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Opened, every rule kept.
    Ok,
    /// Opened, but a rule was broken or something deserves attention.
    Warning,
    /// Did not open (or a compliant client must fail it).
    Failed,
    /// Cannot tell: the capture does not hold the whole exchange.
    #[default]
    Incomplete,
}

impl Verdict {
    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Failed => "failed",
            Verdict::Incomplete => "incomplete",
        }
    }

    /// Parses a lower-case name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::Ok,
            Verdict::Warning,
            Verdict::Failed,
            Verdict::Incomplete,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// How a connection ended, as far as the capture shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Still open when the capture ended.
    CaptureEnded,
    /// The client sent FIN first.
    ClientFin,
    /// The server sent FIN first.
    ServerFin,
    /// The client reset the connection.
    ClientRst,
    /// The server reset the connection.
    ServerRst,
    /// Dropped from the flow table by wssniff's caps.
    Evicted,
    /// Still open, but no response within `--response-timeout` (live capture).
    ResponseTimeout,
}

impl Ending {
    /// Words for messages.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Ending::CaptureEnded => "the capture ended",
            Ending::ClientFin => "the client closed the connection (FIN)",
            Ending::ServerFin => "the server closed the connection (FIN)",
            Ending::ClientRst => "the client reset the connection (RST)",
            Ending::ServerRst => "the server reset the connection (RST)",
            Ending::Evicted => "wssniff evicted the flow",
            Ending::ResponseTimeout => {
                "nothing within --response-timeout while the connection stayed open"
            }
        }
    }
}

/// Timings derived from capture timestamps, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timing {
    /// SYN to SYN-ACK, when the connection setup was captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_rtt_ms: Option<f64>,
    /// Request's last head byte to the response's first byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<f64>,
    /// Request's last head byte to the connection's end, when no response came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<f64>,
}

/// One WebSocket opening handshake, analysed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandshakeRecord {
    /// Sequence number of this record in the run, from 1.
    pub id: u64,
    /// Time of the request (or of the response when the request was not captured).
    #[serde(serialize_with = "ser_ts")]
    pub ts: Timestamp,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// Community ID v1 of the connection.
    pub community_id: String,
    /// The outcome.
    pub verdict: Verdict,
    /// Final response status, if a response was captured.
    pub status: Option<u16>,
    /// Request method.
    pub method: Option<String>,
    /// Host header.
    pub host: Option<String>,
    /// Request target.
    pub path: Option<String>,
    /// Origin header.
    pub origin: Option<String>,
    /// Sec-WebSocket-Key as sent.
    pub key: Option<String>,
    /// Sec-WebSocket-Accept as the server sent it.
    pub accept: Option<String>,
    /// The accept value the key requires.
    pub expected_accept: Option<String>,
    /// Sec-WebSocket-Protocol values offered by the client.
    pub subprotocols_offered: Vec<String>,
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
    /// Sec-WebSocket-Extensions offered by the client, one per item.
    pub extensions_offered: Vec<String>,
    /// Extensions the server accepted, one per item.
    pub extensions: Vec<String>,
    /// The request head, when captured.
    pub request: Option<Message>,
    /// The final response head, when captured.
    pub response: Option<Message>,
    /// Interim (1xx other than 101) responses before it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interim: Vec<Message>,
    /// Timings.
    pub timing: Timing,
    /// How the connection ended, when the exchange did not complete with a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
    /// Everything wssniff found, worst first.
    pub findings: Vec<Finding>,
}

fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts.as_secs_f64())
}

impl HandshakeRecord {
    /// The most severe finding, if any.
    #[must_use]
    pub fn top_finding(&self) -> Option<&Finding> {
        self.findings.first()
    }

    /// Findings at or above `severity`.
    pub fn findings_at_least(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= severity)
    }
}

/// Something about the capture as a whole (not one handshake), for the summary and logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Stable snake_case code (`unsupported_linktype`, `ip_fragments`, `flow_limit`, …).
    pub code: &'static str,
    /// One line for a person.
    pub message: String,
}

/// Everything the engine emits.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A handshake whose outcome is known.
    Handshake(Box<HandshakeRecord>),
    /// A capture-level notice, emitted once per kind.
    Notice(Notice),
}

/// Endpoint helper: `(ip, port)` as a socket address.
#[must_use]
pub fn endpoint(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}
