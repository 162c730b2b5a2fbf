//! What the engine tells the sinks: the only types line output, JSON, reports and the TUI see.

pub mod body;
mod engineio;
mod frames;
mod head;
mod hop;
mod tls;

pub use body::BodyExcerpt;
pub use engineio::{
    EioConnection, EioError, EioHeartbeat, EioOpen, EioUpgrade, EngineIoSession, SioNamespace,
};
pub use frames::{FrameLog, LoggedFrame, FRAME_LOG_HEAD, FRAME_LOG_TAIL, FRAME_PREVIEW_BYTES};
pub use head::{
    eq_ignore_ascii_case, trim, Field, Head, Header, Headers, HeadersIter, LowerName, StartLine,
};
pub use hop::{BrokenAt, ChangeKind, Correction, HeaderChange, HopLink};
pub use tls::{
    CertificateSummary, TlsAlert, TlsCarrier, TlsDirection, TlsOutcome, TlsRecord,
    MAX_CARRIED_LISTED,
};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::capture::Timestamp;
use crate::finding::{Finding, NoticeCode, Severity};

/// A request or response head with the capture evidence behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The parsed head.
    pub head: Head,
    /// Frames that carried the head, in stream order.
    pub packets: Vec<u64>,
    /// Timestamp of the frame carrying the first byte.
    pub first_ts: Timestamp,
    /// Timestamp of the frame that completed the head.
    pub last_ts: Timestamp,
    /// Some of those frames were cut by the snap length.
    pub truncated: bool,
    /// The first bytes of the body, when they were kept (a response to an upgrade request
    /// that is not a 101).
    pub body: Option<BodyExcerpt>,
    /// The head itself ends beyond a snap-length cut: `head` holds only the lines before it.
    pub cut: Option<HeadCut>,
}

/// Where a snap-length cut ended a head the capture holds only the start of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HeadCut {
    /// Bytes the capture kept of each packet (the snap length, as the cut packet shows).
    pub snaplen: u32,
    /// Bytes of the cut packet's payload that were on the wire but not captured.
    pub missing_bytes: u64,
    /// The packet that was cut.
    pub packet: u64,
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = 5 + usize::from(self.body.is_some()) + usize::from(self.cut.is_some());
        let mut st = s.serialize_struct("Message", fields)?;
        st.serialize_field("start_line", &self.head.start_line)?;
        st.serialize_field("headers", &self.head.headers)?;
        st.serialize_field("packets", &self.packets)?;
        st.serialize_field("ts", &self.first_ts.as_secs_f64())?;
        st.serialize_field("head_bytes", &self.head.len)?;
        if let Some(body) = &self.body {
            st.serialize_field("body", body)?;
        }
        if let Some(cut) = &self.cut {
            st.serialize_field("cut", cut)?;
        }
        st.end()
    }
}

impl Message {
    /// First frame number, 0 if unknown.
    #[must_use]
    pub fn first_packet(&self) -> u64 {
        self.packets.first().copied().unwrap_or(0)
    }

    /// The raw header line(s) of `name`, as evidence.
    #[must_use]
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.head.fields(name).map(|h| h.line()).collect()
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

impl Timing {
    /// `ns` nanoseconds in milliseconds, rounded to the microsecond (every `_ms` field).
    #[must_use]
    pub fn millis(ns: i64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let v = ns as f64 / 1e6;
        (v * 1000.0).round() / 1000.0
    }
}

/// What a TCP connection (or, summed, a capture) lost, as the peers' ACKs and the
/// retransmissions show it: the capture's loss (bytes acknowledged that the capture never
/// saw) apart from the network's (bytes sent again). Counted by `tcp::ledger`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TcpLoss {
    /// ACKs that acknowledged new bytes (Zeek's `acks`).
    pub acks: u64,
    /// ACKs that acknowledged bytes the capture never saw (Zeek's `gaps`): capture loss.
    pub gaps: u64,
    /// Bytes acknowledged by a peer but not in the capture (Zeek's `missed_bytes`).
    pub missed_bytes: u64,
    /// Segments that carried bytes already captured (sent again: the network lost or
    /// delayed them), after SPAN duplicates were dropped.
    pub retransmitted_segments: u64,
    /// Bytes those segments repeated.
    pub retransmitted_bytes: u64,
}

impl TcpLoss {
    /// Whether nothing was lost either way.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.gaps == 0 && self.missed_bytes == 0 && self.retransmitted_segments == 0
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &TcpLoss) {
        self.acks += other.acks;
        self.gaps += other.gaps;
        self.missed_bytes += other.missed_bytes;
        self.retransmitted_segments += other.retransmitted_segments;
        self.retransmitted_bytes += other.retransmitted_bytes;
    }

    /// Zeek's capture-loss percentage: gap events per ACK seen, 0 without ACKs.
    #[must_use]
    pub fn capture_loss_percent(&self) -> f64 {
        if self.acks == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let ratio = self.gaps as f64 / self.acks as f64;
        (ratio * 100_000.0).round() / 1000.0
    }
}

/// An HTTP/2 stream's end as one peer sent it: RST_STREAM or GOAWAY (RFC 9113 §6.4, §6.8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct H2Reset {
    /// Who sent it.
    pub by: Peer,
    /// The error code.
    pub code: u32,
    /// Its RFC 9113 §7 name (`CANCEL`, `REFUSED_STREAM`, …), `null` when unregistered.
    pub name: Option<&'static str>,
    /// For GOAWAY: the last stream the sender may have processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_stream: Option<u32>,
    /// For GOAWAY: its debug data (escaped text), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug: Option<String>,
    /// Packet that carried it.
    pub packet: u64,
}

/// A GOAWAY an HTTP/2 WebSocket stream saw while it was open, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Goaway {
    /// The frame: sender, error code, last stream, packet.
    pub frame: H2Reset,
    /// Capture time of the packet that carried it.
    pub ts: Timestamp,
}

/// What HTTP/2 adds to a handshake carried by an extended CONNECT (RFC 8441): the stream, what
/// the server's SETTINGS allowed, and how the stream failed when it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct H2Stream {
    /// The HTTP/2 stream identifier.
    pub stream_id: u32,
    /// The connection's HTTP/2 came after `Upgrade: h2c` (else prior knowledge).
    pub upgraded: bool,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL as the server's SETTINGS said before the request;
    /// `null` when no server SETTINGS were captured before it.
    pub connect_protocol_enabled: Option<bool>,
    /// Header fields the capture cannot show (HPACK table entries from before the capture).
    pub unknown_fields: usize,
    /// The capture started after the connection did (HTTP/2 recognised from its frames): the
    /// HPACK tables and SETTINGS from before are unknown. Absent when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mid_connection: bool,
    /// The RST_STREAM that ended the stream before a final response, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<H2Reset>,
    /// The GOAWAY that refused or cut the stream before a final response, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goaway: Option<H2Reset>,
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
    #[serde(serialize_with = "ser_endpoint")]
    pub client: SocketAddr,
    /// Server endpoint.
    #[serde(serialize_with = "ser_endpoint")]
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
    /// Connect, response and waiting times in milliseconds.
    pub timing: Timing,
    /// How the connection ended, when the exchange did not complete with a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
    /// Everything wssniff found, worst first.
    pub findings: Vec<Finding>,
    /// What the connection had lost when the record was made (left out when nothing).
    #[serde(skip_serializing_if = "TcpLoss::is_clean")]
    pub loss: TcpLoss,
    /// HTTP/2: the stream carrying the handshake (RFC 8441); absent for HTTP/1.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2: Option<H2Stream>,
    /// wss://: the decrypted TLS connection that carried it; absent in plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsCarrier>,
}

fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts.as_secs_f64())
}

/// A socket address as the text serde writes for it in a human-readable format (its
/// `Display`: `a.b.c.d:port`, `[v6]:port`), an IPv4 one written digit by digit: `Display`
/// pads through `core::fmt` and cost ~1,300 instructions an address, two in every record.
pub(crate) fn ser_endpoint<S: Serializer>(addr: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    let SocketAddr::V4(v4) = addr else {
        return addr.serialize(s);
    };
    if !s.is_human_readable() {
        return addr.serialize(s);
    }
    // "255.255.255.255:65535" is 21 bytes.
    let mut text = [0u8; 21];
    let mut len = 0;
    let mut put = |part: &[u8]| {
        if let Some(slot) = text.get_mut(len..len + part.len()) {
            slot.copy_from_slice(part);
            len += part.len();
        }
    };
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            put(b".");
        }
        put(digits.format(octet).as_bytes());
    }
    put(b":");
    put(digits.format(v4.port()).as_bytes());
    match std::str::from_utf8(text.get(..len).unwrap_or_default()) {
        Ok(written) => s.serialize_str(written),
        Err(_) => addr.serialize(s),
    }
}

fn ser_opt_ts<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_f64(ts.as_secs_f64()),
        None => s.serialize_none(),
    }
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
    /// Capture time of the packet that first showed it; `None` when no packet did (said
    /// after the input was read).
    #[serde(serialize_with = "ser_opt_ts")]
    pub ts: Option<Timestamp>,
    /// That packet's number.
    pub packet: Option<u64>,
    /// Stable snake_case code from the catalogue ([`NoticeCode`]): `unsupported_linktype`,
    /// `ip_fragments`, `flow_limit`, …
    pub code: &'static str,
    /// One line for a person.
    pub message: String,
}

impl Notice {
    /// A notice with a catalogued code, not tied to a packet.
    #[must_use]
    pub fn new(code: NoticeCode, message: impl Into<String>) -> Self {
        Notice {
            ts: None,
            packet: None,
            code: code.as_str(),
            message: message.into(),
        }
    }

    /// The same notice, first shown by packet `number` at `ts`.
    #[must_use]
    pub fn at(mut self, number: u64, ts: Timestamp) -> Self {
        self.packet = Some(number);
        self.ts = Some(ts);
        self
    }
}

/// Which end of a WebSocket connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    /// The side that sent the upgrade request (its frames are masked).
    Client,
    /// The side that answered 101 (its frames are not masked).
    Server,
}

impl Peer {
    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Peer::Client => "client",
            Peer::Server => "server",
        }
    }

    /// The other end.
    #[must_use]
    pub fn other(self) -> Peer {
        match self {
            Peer::Client => Peer::Server,
            Peer::Server => Peer::Client,
        }
    }
}

/// Minimum, maximum and mean of a series of intervals, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Intervals {
    /// Number of intervals measured.
    pub count: u64,
    /// Shortest interval.
    pub min_ms: f64,
    /// Longest interval.
    pub max_ms: f64,
    /// Arithmetic mean of the intervals.
    pub mean_ms: f64,
}

/// What one direction of a WebSocket connection carried (RFC 6455 §5 frames).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DirectionStats {
    /// Frames seen.
    pub frames: u64,
    /// Bytes on the wire in those frames (headers and payloads).
    pub bytes: u64,
    /// Payload bytes (as sent: compressed when permessage-deflate is in use).
    pub payload_bytes: u64,
    /// Complete data messages (text and binary).
    pub messages: u64,
    /// Text messages.
    pub text_messages: u64,
    /// Payload bytes of text messages.
    pub text_bytes: u64,
    /// Binary messages.
    pub binary_messages: u64,
    /// Payload bytes of binary messages.
    pub binary_bytes: u64,
    /// Messages sent in more than one frame.
    pub fragmented_messages: u64,
    /// Messages with RSV1 set under permessage-deflate.
    pub compressed_messages: u64,
    /// Largest message payload (as sent).
    pub largest_message: u64,
    /// Ping frames.
    pub pings: u64,
    /// Pong frames.
    pub pongs: u64,
    /// Close frames.
    pub closes: u64,
    /// Time from the 101 to this direction's first frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame_ms: Option<f64>,
    /// Time between successive pings sent in this direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_intervals: Option<Intervals>,
    /// The start of the first data message (text escaped, binary as hex), inflated if it
    /// was compressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// Frame decoding stopped early (a capture gap inside a frame header, an impossible
    /// header); the counters cover what came before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub decoding_stopped: bool,
}

/// A close frame as sent (RFC 6455 §5.5.1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CloseFrame {
    /// Status code, when the frame had one.
    pub code: Option<u16>,
    /// Reason text (lossily decoded).
    pub reason: String,
    /// Packet number that carried it.
    pub packet: u64,
    /// When it was sent.
    #[serde(serialize_with = "ser_ts")]
    pub ts: Timestamp,
}

/// The closing handshake (RFC 6455 §7).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CloseInfo {
    /// The client's close frame.
    pub client: Option<CloseFrame>,
    /// The server's close frame.
    pub server: Option<CloseFrame>,
    /// Who sent the first close frame.
    pub initiator: Option<Peer>,
    /// Both sides sent a close frame.
    pub handshake_completed: bool,
}

/// How a WebSocket connection ended, combining close frames and TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionEnding {
    /// Close frames both ways, then TCP FIN.
    Clean,
    /// One close frame, then TCP FIN before the other side answered it.
    CloseNotAnswered,
    /// TCP FIN with no close frame before it (the applications report 1006); a close frame
    /// the other side sent only after that FIN answers the teardown and does not count.
    FinWithoutClose,
    /// A TCP reset.
    Rst,
    /// Still open when the capture ended.
    Open,
    /// Dropped from the flow table by wssniff's caps.
    Evicted,
}

impl ConnectionEnding {
    /// The snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionEnding::Clean => "clean",
            ConnectionEnding::CloseNotAnswered => "close_not_answered",
            ConnectionEnding::FinWithoutClose => "fin_without_close",
            ConnectionEnding::Rst => "rst",
            ConnectionEnding::Open => "open",
            ConnectionEnding::Evicted => "evicted",
        }
    }
}

/// permessage-deflate as negotiated (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeflateParams {
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// LZ77 window of client-to-server messages (8–15; 15 when not negotiated).
    pub client_max_window_bits: u8,
    /// LZ77 window of server-to-client messages.
    pub server_max_window_bits: u8,
}

/// The story of one WebSocket connection after the switch, emitted when it ends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionRecord {
    /// The `id` of the handshake record that opened it; `null` when the handshake was not
    /// captured (`handshake_not_observed`).
    pub handshake_id: Option<u64>,
    /// When frames could start: the 101 response, or the first frame seen.
    #[serde(serialize_with = "ser_ts")]
    pub ts: Timestamp,
    /// When the connection ended (TCP FIN/RST, or the last packet seen).
    #[serde(serialize_with = "ser_ts")]
    pub end_ts: Timestamp,
    /// Client endpoint.
    #[serde(serialize_with = "ser_endpoint")]
    pub client: SocketAddr,
    /// Server endpoint.
    #[serde(serialize_with = "ser_endpoint")]
    pub server: SocketAddr,
    /// Community ID v1 of the connection.
    pub community_id: String,
    /// Whether the opening handshake was in the capture.
    pub handshake_observed: bool,
    /// permessage-deflate parameters, when negotiated.
    pub permessage_deflate: Option<DeflateParams>,
    /// `ts` to `end_ts`.
    pub duration_ms: f64,
    /// Client-to-server frames.
    pub client_to_server: DirectionStats,
    /// Server-to-client frames.
    pub server_to_client: DirectionStats,
    /// Close frames.
    pub close: CloseInfo,
    /// How it ended.
    pub ending: ConnectionEnding,
    /// How TCP ended: who sent the first FIN or RST.
    pub tcp_end: Ending,
    /// Time from the last frame (or the 101) to the TCP teardown, when it was torn down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_before_end_ms: Option<f64>,
    /// Longest time with no frame in either direction while the connection was open.
    pub max_silence_ms: f64,
    /// Everything wssniff found, worst first.
    pub findings: Vec<Finding>,
    /// What the TCP connection lost over its life (left out when nothing).
    #[serde(skip_serializing_if = "TcpLoss::is_clean")]
    pub loss: TcpLoss,
    /// HTTP/2: the stream that carried this WebSocket (RFC 8441); absent for HTTP/1.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_stream_id: Option<u32>,
    /// HTTP/2: the first GOAWAY sent while the stream was open, for the correlation stage
    /// (the other leg of a proxy hop learns from it that the proxy shut down); not in the
    /// JSON, where the stream's findings (`h2_goaway_graceful`, `h2_goaway_closed_websocket`)
    /// say it.
    #[serde(skip)]
    pub h2_goaway: Option<Box<H2Goaway>>,
    /// wss://: the decrypted TLS connection that carried it; absent in plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsCarrier>,
    /// The first and last frames, for following the stream (the TUI); not in the JSON.
    #[serde(skip)]
    pub frame_log: FrameLog,
}

impl ConnectionRecord {
    /// The most severe finding, if any.
    #[must_use]
    pub fn top_finding(&self) -> Option<&Finding> {
        self.findings.first()
    }
}

/// Everything the engine emits.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A handshake whose outcome is known. Shared, not copied: the hop tracker, the report
    /// and the TUI keep the same record the sinks write.
    Handshake(Arc<HandshakeRecord>),
    /// A WebSocket connection that ended (or was still open when the capture ended).
    Connection(Box<ConnectionRecord>),
    /// A capture-level notice, emitted once per kind.
    Notice(Notice),
    /// Two completed handshakes turned out to be the two legs of one proxied handshake
    /// (emitted right after the second leg's `Handshake`).
    Hop(Box<HopLink>),
    /// A TLS connection that ended (or was still open when the capture ended): SNI, ALPN,
    /// version, cipher, certificate, alerts, outcome.
    Tls(Box<TlsRecord>),
    /// An Engine.IO (Socket.IO) session across its connections, when it ended or the
    /// capture did.
    EngineIo(Box<EngineIoSession>),
}

/// Endpoint helper: `(ip, port)` as a socket address.
#[must_use]
pub fn endpoint(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serializes `addr` with [`ser_endpoint`] through serde_json.
    struct Endpoint(SocketAddr);

    impl Serialize for Endpoint {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ser_endpoint(&self.0, s)
        }
    }

    #[test]
    fn endpoints_serialize_as_serde_writes_socket_addresses() {
        let octets = [0u8, 1, 9, 10, 99, 100, 199, 200, 255];
        let ports = [0u16, 7, 80, 443, 8080, 10_000, 65_535];
        for (i, &a) in octets.iter().enumerate() {
            for &port in &ports {
                let b = octets.get((i + 3) % octets.len()).copied().unwrap_or(0);
                let addr = SocketAddr::new(IpAddr::from([a, b, 255 - a, b / 2]), port);
                assert_eq!(
                    serde_json::to_string(&Endpoint(addr)).unwrap(),
                    serde_json::to_string(&addr).unwrap()
                );
            }
        }
        let v6: SocketAddr = "[fe80::1%3]:443".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&Endpoint(v6)).unwrap(),
            serde_json::to_string(&v6).unwrap()
        );
    }
}
