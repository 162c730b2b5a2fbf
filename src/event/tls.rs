//! The `tls` record: what one TLS connection showed a passive observer (as Zeek's ssl.log),
//! built by the `tls` stage and read by every sink.
//!
//! Without keys a TLS 1.2 connection shows its whole handshake (hellos, certificate, ALPN
//! selected, alerts); a TLS 1.3 one only its hellos: everything after the ServerHello is
//! encrypted, so the record says what it could not see ([`TlsRecord::encrypted_handshake`])
//! and names a short encrypted record followed by a close a *probable* alert.

use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use super::{Ending, Peer};
use crate::capture::Timestamp;
use crate::finding::Finding;

/// How a TLS connection turned out, as far as the capture shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsOutcome {
    /// Application data went both ways after the handshake.
    ApplicationData,
    /// The handshake failed with an alert (in plaintext, or probable: see `alerts`).
    HandshakeFailed,
    /// The handshake stopped with a FIN or RST and no alert.
    Aborted,
    /// The handshake completed, then the connection closed before application data went
    /// both ways (and not as [`TlsOutcome::Unused`]).
    ClosedBeforeData,
    /// The handshake completed, then the client closed the connection without sending
    /// application data or an alert: a spare connection opened ahead of need and not used
    /// (Chromium's preconnect). Not a failure.
    Unused,
    /// The capture ended (or wssniff evicted the flow) in the middle of the handshake.
    Incomplete,
    /// The capture started after the handshake: only encrypted records were seen.
    HandshakeNotObserved,
}

impl TlsOutcome {
    /// The snake_case name, as in the JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TlsOutcome::ApplicationData => "application_data",
            TlsOutcome::HandshakeFailed => "handshake_failed",
            TlsOutcome::Aborted => "aborted",
            TlsOutcome::ClosedBeforeData => "closed_before_data",
            TlsOutcome::Unused => "unused",
            TlsOutcome::Incomplete => "incomplete",
            TlsOutcome::HandshakeNotObserved => "handshake_not_observed",
        }
    }

    /// Whether the connection failed to carry anything (the line output prints these).
    #[must_use]
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            TlsOutcome::HandshakeFailed | TlsOutcome::Aborted | TlsOutcome::ClosedBeforeData
        )
    }
}

/// One alert seen on the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsAlert {
    /// Who sent it.
    pub from: Peer,
    /// `fatal` or `warning`; `null` when the alert was encrypted.
    pub level: Option<&'static str>,
    /// The RFC 8446 §6 / RFC 5246 §7.2 name (`bad_certificate`, `unrecognized_name`, …), or
    /// `unknown(N)`; `null` when the alert was encrypted.
    pub description: Option<String>,
    /// The alert was encrypted: its record type said alert (TLS ≤ 1.2), or it is inferred.
    pub encrypted: bool,
    /// Not seen as an alert: a short encrypted record right before that side closed
    /// (TLS 1.3 encrypts alerts), most likely an alert.
    pub probable: bool,
    /// The packet that carried it.
    pub packet: u64,
    /// When.
    #[serde(serialize_with = "ser_ts")]
    pub ts: Timestamp,
}

/// The server's certificate (the first of the chain), where it was visible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// Subject distinguished name, RFC 4514 style.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub san: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Subject equals issuer (self-signed, or a private root sent as the leaf).
    pub self_signed: bool,
    /// Certificates in the chain the server sent.
    pub chain_len: usize,
}

/// What one direction carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsDirection {
    /// TLS records walked (headers read; payloads skipped unless in the handshake).
    pub records: u64,
    /// Bytes from the first application-data record to the end of the stream, from TCP
    /// sequence numbers (record headers and bytes the capture lost included).
    pub application_data_bytes: u64,
}

/// The TLS connection that carried a handshake or a WebSocket connection: what its hellos
/// said. Only decrypted TLS carries anything wssniff can see, so it is always a decrypted
/// one; its `tls` record (the same `community_id`) has the whole story and lists the
/// handshakes it carried ([`TlsRecord::handshakes`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsCarrier {
    /// Server name the client asked for (with ECH, the outer name).
    pub sni: Option<String>,
    /// Version negotiated (`TLSv1.3`, …).
    pub version: Option<String>,
    /// Cipher suite chosen by the server.
    pub cipher: Option<String>,
    /// ALPN protocol selected (`http/1.1`, `h2`), when the server selected one.
    pub alpn: Option<String>,
    /// The client offered `h2` by ALPN: with another protocol selected (or none), an HTTP/1.1
    /// upgrade on this connection is an ALPN downgrade, not the client's choice. Not written
    /// out: the `tls` record lists the whole offer.
    #[serde(skip)]
    pub h2_offered: bool,
}

/// Most handshake ids a `tls` record lists ([`TlsRecord::handshakes`]).
pub const MAX_CARRIED_LISTED: usize = 64;

/// One TLS connection, emitted when it ends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TlsRecord {
    /// When the first TLS record (normally the ClientHello) was sent.
    #[serde(serialize_with = "ser_ts")]
    pub ts: Timestamp,
    /// When the connection ended (TCP FIN/RST, or the last packet seen).
    #[serde(serialize_with = "ser_ts")]
    pub end_ts: Timestamp,
    /// Client endpoint.
    #[serde(serialize_with = "super::ser_endpoint")]
    pub client: SocketAddr,
    /// Server endpoint.
    #[serde(serialize_with = "super::ser_endpoint")]
    pub server: SocketAddr,
    /// Community ID v1 of the connection.
    pub community_id: String,
    /// Server name the client asked for (ClientHello server_name). With ECH this is the
    /// outer, public name.
    pub sni: Option<String>,
    /// The ClientHello carried encrypted_client_hello (or the older ESNI): a real ECH hides
    /// the server's name behind the public one in `sni`; a GREASE ECH (Chrome and Firefox
    /// send one with random contents when they have no ECH configuration) hides nothing.
    pub ech: bool,
    /// With `ech`, what the connection showed of it: `hidden` (the server accepted it: a
    /// HelloRetryRequest's confirmation), `not_hidden` (no SNI, which a real ECH always
    /// carries; TLS ≤ 1.2 negotiated; with keys, the server's retry_configs or a certificate
    /// covering `sni`), `undetermined` (real and GREASE ECH look alike). Omitted without ECH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ech_verdict: Option<&'static str>,
    /// Version negotiated (`TLSv1.3`, `TLSv1.2`, …), from the ServerHello.
    pub version: Option<String>,
    /// Cipher suite chosen by the server (IANA name, or `0xNNNN`).
    pub cipher: Option<String>,
    /// ALPN protocols the client offered.
    pub alpn_offered: Vec<String>,
    /// ALPN protocol the server selected (visible in TLS ≤ 1.2; encrypted in TLS 1.3).
    pub alpn: Option<String>,
    /// Versions the client offered (supported_versions, or the ClientHello version).
    pub versions_offered: Vec<String>,
    /// How many cipher suites the client offered (GREASE values left out).
    pub ciphers_offered: usize,
    /// The server answered with a HelloRetryRequest (TLS 1.3).
    pub hello_retry: bool,
    /// The session was resumed (TLS ≤ 1.2 session id echoed; TLS 1.3 pre_shared_key
    /// accepted).
    pub resumed: bool,
    /// TLS 1.3 0-RTT: `offered` (the ClientHello's early_data; without keys whether the
    /// server took it is encrypted), `accepted` or `rejected` (the server's
    /// EncryptedExtensions, with keys). Omitted when the client offered none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_data: Option<&'static str>,
    /// Everything after the ServerHello was encrypted (TLS 1.3): ALPN selected,
    /// certificate and alerts are not visible without keys.
    pub encrypted_handshake: bool,
    /// The server's certificate, when it was sent in plaintext (TLS ≤ 1.2) or decrypted.
    pub certificate: Option<CertificateSummary>,
    /// Alerts seen, in order.
    pub alerts: Vec<TlsAlert>,
    /// How it turned out.
    pub outcome: TlsOutcome,
    /// Client-to-server records.
    pub client_to_server: TlsDirection,
    /// Server-to-client records.
    pub server_to_client: TlsDirection,
    /// How TCP ended: who sent the first FIN or RST.
    pub tcp_end: Ending,
    /// Whether the records were decrypted (a key log had this session's secrets).
    pub decrypted: bool,
    /// With a key log: why the records were not (all) decrypted — no secrets for this
    /// session, an unsupported suite (named), records that failed to decrypt. `null` without
    /// a key log or when everything decrypted.
    pub decryption: Option<String>,
    /// Packets that carried the ClientHello and the ServerHello (evidence).
    pub packets: Vec<u64>,
    /// The ids of the handshake records decrypted from it, in id order (the first
    /// [`MAX_CARRIED_LISTED`]); each of those records names this connection in its `tls`.
    pub handshakes: Vec<u64>,
    /// WebSocket connection records it carried; `None` when not decrypted (unknown).
    pub websockets: Option<u64>,
    /// Everything wssniff found, worst first.
    pub findings: Vec<Finding>,
}

impl TlsRecord {
    /// Whether it carried a WebSocket handshake (only a decrypted connection can).
    #[must_use]
    pub fn carried_websockets(&self) -> bool {
        !self.handshakes.is_empty()
    }

    /// The most severe finding, if any.
    #[must_use]
    pub fn top_finding(&self) -> Option<&Finding> {
        self.findings.first()
    }
}

fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts.as_secs_f64())
}
