//! The `engineio_session` record: one Engine.IO (Socket.IO) session, keyed by its `sid`,
//! across every TCP connection that carried it: the open, the polls, the upgrade attempt
//! and its WebSocket, pings and pongs, Socket.IO namespaces, errors and how it ended. Built
//! by `correlate::engineio`, read by every sink.

use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use crate::capture::Timestamp;
use crate::finding::Finding;

/// The open packet's parameters, as the server sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EioOpen {
    /// The transport it came on (`polling`, or `websocket` for a websocket-only client).
    pub transport: &'static str,
    /// Packet carrying it.
    pub packet: u64,
    /// Transports offered for the upgrade (`[]`: none).
    pub upgrades: Vec<String>,
    /// Milliseconds between pings.
    pub ping_interval_ms: Option<u64>,
    /// Milliseconds the pinger waits for an answer.
    pub ping_timeout_ms: Option<u64>,
    /// Largest payload accepted, in bytes.
    pub max_payload: Option<u64>,
}

/// One TCP connection that carried the session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EioConnection {
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint (the backend, on a proxy's upstream leg).
    pub server: SocketAddr,
    /// `polling` or `websocket`.
    pub transport: &'static str,
    /// Polling requests on it (GET and POST) for this session.
    pub requests: u64,
    /// The handshake record of the websocket attempt on it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_id: Option<u64>,
    /// Packet of its first request for this session.
    pub first_packet: u64,
}

/// The upgrade to WebSocket, when the client attempted it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EioUpgrade {
    /// The handshake record (its RFC 6455 analysis).
    pub handshake_id: Option<u64>,
    /// Its response status.
    pub status: Option<u16>,
    /// The handshake's verdict (`ok`, `failed`, …).
    pub verdict: &'static str,
    /// `2probe` went out on the new WebSocket.
    pub probe_sent: bool,
    /// `3probe` came back.
    pub probe_answered: bool,
    /// The client sent `5`: the session moved to WebSocket.
    pub upgraded: bool,
    /// The HTTP/2 stream of an RFC 8441 extended CONNECT (answered 200 when it switched,
    /// not 101); absent for an HTTP/1.1 upgrade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_stream: Option<u32>,
}

impl EioUpgrade {
    /// Whether the handshake switched to WebSocket: a 101, or a 2xx to an extended CONNECT.
    #[must_use]
    pub fn switched(&self) -> bool {
        match (self.status, self.h2_stream) {
            (Some(101), None) => true,
            (Some(s), Some(_)) => (200..300).contains(&s),
            _ => false,
        }
    }
}

/// An Engine.IO error answer (HTTP 400 or 403 with `{"code":N,"message":…}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EioError {
    /// The HTTP status.
    pub status: u16,
    /// Engine.IO's code.
    pub code: i64,
    /// The server's message.
    pub message: String,
    /// Packet carrying the answer.
    pub packet: u64,
    /// Who answered (the backend, or the proxy's address on its client leg).
    pub server: SocketAddr,
}

/// A Socket.IO namespace of the session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SioNamespace {
    /// The namespace (`/` by default).
    pub namespace: String,
    /// The server answered CONNECT.
    pub connected: bool,
    /// The server's CONNECT_ERROR message (auth middleware), if it refused.
    pub error: Option<String>,
}

/// Pings and pongs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EioHeartbeat {
    /// Pings seen (v4: from the server; v3: from the client).
    pub pings: u64,
    /// Pongs seen.
    pub pongs: u64,
    /// Longest wait for a pong, in milliseconds.
    pub max_pong_wait_ms: f64,
}

/// One Engine.IO session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineIoSession {
    /// The session id (a session credential: line output shortens it). `null` when no open
    /// packet or request named one.
    pub sid: Option<String>,
    /// The protocol revision (`EIO=`) the client asked for.
    pub version: u8,
    /// The request path (`/socket.io/`; empty when inferred: no request was captured).
    pub path: String,
    /// Known from the WebSocket's frames alone: the capture started after its handshake,
    /// so no request named Engine.IO, and its content did (`engineio::observer`'s rules).
    /// Absent when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inferred: bool,
    /// First packet of the session.
    #[serde(serialize_with = "ser_ts")]
    pub ts: Timestamp,
    /// Last packet seen of it.
    #[serde(serialize_with = "ser_ts")]
    pub end_ts: Timestamp,
    /// The open packet.
    pub open: Option<EioOpen>,
    /// The transport it ended on (`polling` or `websocket`).
    pub transport: &'static str,
    /// Polling requests (GET and POST).
    pub polls: u64,
    /// The WebSocket upgrade, when attempted.
    pub upgrade: Option<EioUpgrade>,
    /// Every TCP connection that carried it, in order of first use.
    pub connections: Vec<EioConnection>,
    /// Engine.IO error answers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<EioError>,
    /// Socket.IO namespaces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<SioNamespace>,
    /// Pings and pongs.
    pub heartbeat: EioHeartbeat,
    /// How it ended: `close_packet`, `ping_timeout`, `session_unknown`, `rejected`,
    /// `transport_closed`, `capture_ended`.
    pub ending: &'static str,
    /// What went wrong, with fix hints.
    pub findings: Vec<Finding>,
}

impl EngineIoSession {
    /// Whether a finding says it failed (the line output prints these).
    #[must_use]
    pub fn has_findings(&self) -> bool {
        !self.findings.is_empty()
    }
}

fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts.as_secs_f64())
}
