//! The h2 → HTTP/1.1 fallback: a WebSocket opened with a classic HTTP/1.1 upgrade from a client
//! that already had an HTTP/2 connection to the same server, and what that connection's
//! SETTINGS said about extended CONNECT.
//!
//! Browsers open a WebSocket as a stream of an existing h2 connection only when its server's
//! SETTINGS enabled extended CONNECT (`SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`, RFC 8441 §3);
//! otherwise they open a separate HTTP/1.1 connection (Chromium offers only `http/1.1` by ALPN
//! on it). The engine tells [`H2Servers`] each time an h2 connection's server SETTINGS is read
//! and asks it about each HTTP/1.1 handshake record: the answer is the sentence that says
//! which path the client took and, from the SETTINGS, why; no cause the capture does not show.
//! The other downgrade needs no second connection: a client that offered `h2` by ALPN on the
//! very TLS connection that carried its HTTP/1.1 upgrade, and a server that selected
//! something else ([`alpn_downgrade`], asked by the engine for each such handshake).
//! Pure: facts in, a [`Finding`] out; no I/O, no clock; at most [`MAX_SERVERS`] entries.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::capture::Timestamp;
use crate::event::TlsCarrier;
use crate::finding::{Code, Finding};

/// Most (client address, server) pairs remembered; the oldest is forgotten first.
pub const MAX_SERVERS: usize = 1024;

/// What one h2 connection's server SETTINGS said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct H2Server {
    connect_protocol: bool,
    /// When the SETTINGS was read (the first time, for this pair).
    since: Timestamp,
}

/// The h2 connections seen, by client address and server endpoint.
#[derive(Debug, Default)]
pub struct H2Servers {
    servers: HashMap<(IpAddr, SocketAddr), H2Server>,
    order: VecDeque<(IpAddr, SocketAddr)>,
}

impl H2Servers {
    /// Nothing seen yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no h2 connection was seen (the engine skips the lookup then).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// An h2 connection from `client` to `server` read its server's SETTINGS at `at`:
    /// `connect_protocol` is SETTINGS_ENABLE_CONNECT_PROTOCOL = 1. A later SETTINGS of the
    /// same pair updates the setting and keeps the first time.
    pub fn remember(
        &mut self,
        client: IpAddr,
        server: SocketAddr,
        connect_protocol: bool,
        at: Timestamp,
    ) {
        let key = (client, server);
        if let Some(s) = self.servers.get_mut(&key) {
            s.connect_protocol = connect_protocol;
            return;
        }
        if self.order.len() >= MAX_SERVERS {
            if let Some(old) = self.order.pop_front() {
                self.servers.remove(&old);
            }
        }
        self.order.push_back(key);
        self.servers.insert(
            key,
            H2Server {
                connect_protocol,
                since: at,
            },
        );
    }

    /// The finding for an HTTP/1.1 WebSocket handshake from `client` to `server` whose request
    /// was sent at `at`, when an h2 connection between them was seen before it.
    #[must_use]
    pub fn explain(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        at: Timestamp,
    ) -> Option<Finding> {
        let s = self
            .servers
            .get(&(client.ip(), server))
            .filter(|s| s.since <= at)?;
        let path = format!(
            "the client opened this WebSocket with an HTTP/1.1 upgrade on a connection of its own although {} already had an HTTP/2 connection to {server}",
            client.ip()
        );
        let why = if s.connect_protocol {
            "whose server SETTINGS enabled extended CONNECT: the client chose HTTP/1.1 itself (no RFC 8441 support, or turned off)"
        } else {
            "whose server SETTINGS did not enable extended CONNECT (no SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, RFC 8441 §3), so a browser cannot open WebSockets on it and falls back this way"
        };
        Some(Finding::new(Code::H2Fallback, format!("{path}, {why}")))
    }
}

/// The finding for an HTTP/1.1 WebSocket handshake carried by the decrypted TLS connection
/// `tls`, when its client offered `h2` by ALPN and the server selected another protocol (or
/// none, which leaves HTTP/1.1): RFC 8441 was impossible on this connection, since the server
/// did not take HTTP/2, so the upgrade was the only way. Claims nothing about why the server
/// declined h2 (the capture does not show its configuration).
#[must_use]
pub fn alpn_downgrade(tls: &TlsCarrier) -> Option<Finding> {
    if !tls.h2_offered || tls.alpn.as_deref() == Some("h2") {
        return None;
    }
    let selected = match tls.alpn.as_deref() {
        Some(p) => format!("the server selected {p}"),
        None => "the server selected no protocol (HTTP/1.1 by default)".to_owned(),
    };
    Some(Finding::new(
        Code::H2AlpnDowngrade,
        format!(
            "the client offered h2 by ALPN and {selected}, so this TLS connection could not carry an extended CONNECT (RFC 8441 needs HTTP/2): the client sent a classic HTTP/1.1 upgrade on it"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_classic_upgrade_after_an_h2_connection_to_the_same_server_says_which_path_and_why() {
        let mut h = H2Servers::new();
        assert!(h.is_empty());
        let server = addr("10.0.0.1:443");
        h.remember(addr("10.0.0.9:0").ip(), server, false, Timestamp(10));
        let f = h
            .explain(addr("10.0.0.9:50000"), server, Timestamp(20))
            .unwrap_or_else(|| unreachable!());
        assert_eq!(f.code, Code::H2Fallback);
        assert!(
            f.message.contains("did not enable extended CONNECT"),
            "{}",
            f.message
        );
        // Another client, another server, or a handshake before the h2 connection: nothing.
        assert!(h
            .explain(addr("10.0.0.8:50000"), server, Timestamp(20))
            .is_none());
        assert!(h
            .explain(addr("10.0.0.9:50000"), addr("10.0.0.1:80"), Timestamp(20))
            .is_none());
        assert!(h
            .explain(addr("10.0.0.9:50000"), server, Timestamp(5))
            .is_none());
        // SETTINGS that enabled it: the client's own choice, not the server's.
        h.remember(addr("10.0.0.9:0").ip(), server, true, Timestamp(30));
        let f = h
            .explain(addr("10.0.0.9:50001"), server, Timestamp(40))
            .unwrap_or_else(|| unreachable!());
        assert!(f.message.contains("chose HTTP/1.1 itself"), "{}", f.message);
    }

    fn carrier(h2_offered: bool, alpn: Option<&str>) -> TlsCarrier {
        TlsCarrier {
            sni: Some("localhost".into()),
            version: Some("TLSv1.3".into()),
            cipher: None,
            alpn: alpn.map(str::to_owned),
            h2_offered,
        }
    }

    #[test]
    fn an_upgrade_on_a_tls_connection_whose_server_declined_the_offered_h2_is_a_downgrade() {
        let f = alpn_downgrade(&carrier(true, Some("http/1.1"))).unwrap_or_else(|| unreachable!());
        assert_eq!(f.code, Code::H2AlpnDowngrade);
        assert!(
            f.message
                .contains("offered h2 by ALPN and the server selected http/1.1"),
            "{}",
            f.message
        );
        let f = alpn_downgrade(&carrier(true, None)).unwrap_or_else(|| unreachable!());
        assert!(
            f.message
                .contains("selected no protocol (HTTP/1.1 by default)"),
            "{}",
            f.message
        );
        // A client that offered only http/1.1 chose it (Chromium's WebSocket connection);
        // a server that selected h2 carries HTTP/2, not this upgrade's story.
        assert!(alpn_downgrade(&carrier(false, Some("http/1.1"))).is_none());
        assert!(alpn_downgrade(&carrier(false, None)).is_none());
        assert!(alpn_downgrade(&carrier(true, Some("h2"))).is_none());
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_oldest_pair() {
        let mut h = H2Servers::new();
        let server = addr("10.0.0.1:443");
        for i in 0..(MAX_SERVERS as u32 + 10) {
            h.remember(IpAddr::from(i.to_be_bytes()), server, false, Timestamp(0));
        }
        assert_eq!(h.servers.len(), MAX_SERVERS);
        assert!(h
            .explain(
                SocketAddr::new(IpAddr::from(0u32.to_be_bytes()), 1),
                server,
                Timestamp(1)
            )
            .is_none());
    }
}
