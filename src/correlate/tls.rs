//! TLS facts that span records or connections, kept in packet order: which handshake
//! records each decrypted TLS connection carried ([`Carried`]), so its `tls` record can
//! list them when it ends.
//!
//! In: the flow key of each handshake record decrypted out of TLS, as it is emitted; the
//! flow key of each TLS connection as it ends. Out: the ids for its `tls` record. Never
//! reads packets or key logs; bounded by the connections still open (an entry goes when its
//! connection's record is written) and [`MAX_CARRIED_LISTED`] ids each.

use std::collections::HashMap;

use crate::event::MAX_CARRIED_LISTED;
use crate::tcp::flow::FlowKey;

/// The handshake ids decrypted out of each TLS connection still open.
#[derive(Debug, Default)]
pub struct Carried {
    ids: HashMap<FlowKey, Vec<u64>>,
}

impl Carried {
    /// Nothing carried yet.
    #[must_use]
    pub fn new() -> Self {
        Carried::default()
    }

    /// The handshake record `id` came out of the TLS connection `key`.
    pub fn handshake(&mut self, key: FlowKey, id: u64) {
        let ids = self.ids.entry(key).or_default();
        if ids.len() < MAX_CARRIED_LISTED {
            ids.push(id);
        }
    }

    /// The TLS connection `key` ended: the ids it carried, in id order (and forgotten).
    pub fn take(&mut self, key: FlowKey) -> Vec<u64> {
        if self.ids.is_empty() {
            return Vec::new();
        }
        let mut ids = self.ids.remove(&key).unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// TLS connections with ids remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn key(port: u16) -> FlowKey {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        FlowKey::new(ip, port, ip, 443).0
    }

    #[test]
    fn each_connection_gets_its_own_ids_once_in_id_order_and_at_most_the_cap() {
        let mut c = Carried::new();
        c.handshake(key(1), 7);
        c.handshake(key(2), 5);
        c.handshake(key(1), 3);
        assert_eq!(c.take(key(1)), [3, 7]);
        assert_eq!(c.take(key(1)), Vec::<u64>::new(), "forgotten once taken");
        assert_eq!(c.len(), 1);
        assert_eq!(c.take(key(2)), [5]);
        assert!(c.is_empty());
        for id in 0..(MAX_CARRIED_LISTED as u64 + 10) {
            c.handshake(key(3), id);
        }
        assert_eq!(c.take(key(3)).len(), MAX_CARRIED_LISTED);
    }
}
