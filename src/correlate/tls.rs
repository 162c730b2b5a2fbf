//! TLS facts that span records or connections, kept in packet order:
//! - [`Resumption`]: TLS 1.2 session resumption. The master secret of every session whose
//!   keys were found, by session id and by each ticket the server issued, so a later
//!   abbreviated handshake (some stacks log no key log line for it) decrypts with it, as
//!   Wireshark does. In: each key store answer with its request, and the tickets connections
//!   report; out: the answer completed. Bounded at [`MAX_RESUMABLE_SESSIONS`]. One per run,
//!   shared by every engine of it ([`SharedResumption`]): with `--threads N` a session is
//!   often resumed on a connection another worker holds.
//! - [`Carried`]: which handshake records each decrypted TLS connection carried, so its
//!   `tls` record can list them when it ends. In: the flow key of each handshake record
//!   decrypted out of TLS, as it is emitted, and of each TLS connection as it ends; bounded by
//!   the connections still open and [`MAX_CARRIED_LISTED`] ids each.
//!
//! Never reads packets or key log files: secrets come in as the key store's answers, and
//! nothing here leaves but those answers (secrets are never printed).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use crate::event::MAX_CARRIED_LISTED;
use crate::tcp::flow::FlowKey;
use crate::tls::keyschedule::KeyBytes;
use crate::tls::keystore::resumed_keys;
use crate::tls::{KeyAnswer, KeyRequest};

/// Most TLS 1.2 sessions (session ids and tickets together) whose master secret is kept for
/// resumption; the oldest is forgotten first. About 130 bytes each.
pub const MAX_RESUMABLE_SESSIONS: usize = 4096;

/// TLS 1.2 master secrets by what a resuming ClientHello names: a session id or a ticket
/// (both as SHA-256 digests, so every entry has one size), oldest forgotten first.
#[derive(Debug, Default)]
pub struct Resumption {
    masters: HashMap<[u8; 32], KeyBytes>,
    order: VecDeque<[u8; 32]>,
}

impl Resumption {
    /// Nothing remembered yet.
    #[must_use]
    pub fn new() -> Self {
        Resumption::default()
    }

    /// Completes the key store's `found` answer for the session `request` describes: a full
    /// TLS 1.2 handshake's master secret is remembered under its session id; a resumed TLS 1.2
    /// session the key log lacks gets the master secret of the session it resumes (by the
    /// ticket it offered, else by the session id the server echoed).
    pub fn answer(&mut self, found: KeyAnswer, request: &KeyRequest) -> KeyAnswer {
        match found {
            KeyAnswer::Keys(keys) => {
                if let Some(master) = keys.master.filter(|_| !request.session_id.is_empty()) {
                    self.remember(session_id_handle(&request.session_id), master);
                }
                KeyAnswer::Keys(keys)
            }
            KeyAnswer::NotFound => match self.resumed_master(request) {
                Some(master) => match resumed_keys(master, request) {
                    KeyAnswer::Keys(keys) => {
                        if !request.session_id.is_empty() {
                            self.remember(session_id_handle(&request.session_id), master);
                        }
                        KeyAnswer::Keys(keys)
                    }
                    other => other,
                },
                None => KeyAnswer::NotFound,
            },
            other => other,
        }
    }

    /// The server issued `ticket` (its [`crate::tls::handshake::ticket_digest`]) on a
    /// connection whose master secret is `master`.
    pub fn ticket_issued(&mut self, ticket: [u8; 32], master: KeyBytes) {
        self.remember(ticket, master);
    }

    /// Sessions remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Bytes held, computed now.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.masters.capacity() * std::mem::size_of::<([u8; 32], KeyBytes)>()
            + self.order.capacity() * 32
    }

    fn remember(&mut self, handle: [u8; 32], master: KeyBytes) {
        if let Some(m) = self.masters.get_mut(&handle) {
            *m = master;
            return;
        }
        if self.order.len() >= MAX_RESUMABLE_SESSIONS {
            if let Some(old) = self.order.pop_front() {
                self.masters.remove(&old);
            }
        }
        self.masters.insert(handle, master);
        self.order.push_back(handle);
    }

    fn find(&self, handle: &[u8; 32]) -> Option<KeyBytes> {
        self.masters.get(handle).copied()
    }

    /// The master secret a resumed TLS 1.2 connection reuses: by the ticket it offered, else
    /// by the session id the server echoed.
    fn resumed_master(&self, request: &KeyRequest) -> Option<KeyBytes> {
        if request.version != 0x0303 || !request.resumed {
            return None;
        }
        request.ticket.and_then(|t| self.find(&t)).or_else(|| {
            (!request.session_id.is_empty())
                .then(|| self.find(&session_id_handle(&request.session_id)))
                .flatten()
        })
    }
}

/// The one [`Resumption`] of a run, shared by the engines of every flow-sharded worker (a
/// clone shares it): a session resumed on a connection one worker holds finds the master
/// secret another worker's connection taught it. Consulted only where a TLS connection asks
/// for keys or reports tickets, never on the plaintext path.
///
/// Memory: each engine registers with its own meter the bytes by which *its* calls grew the
/// cache ([`SharedResumption::with`]), so over all workers the cache is counted once (one
/// engine alone registers all of it).
#[derive(Clone, Debug, Default)]
pub struct SharedResumption(Arc<Mutex<Resumption>>);

impl SharedResumption {
    /// An empty cache, not shared yet.
    #[must_use]
    pub fn new() -> Self {
        SharedResumption::default()
    }

    /// Runs `f` on the cache; returns what it returned and by how many bytes the cache grew
    /// meanwhile (what the caller registers with its memory budget). A worker that panicked
    /// holding the lock left the cache consistent (every update is one insert or one
    /// replace), so a poisoned lock is used as it is.
    pub fn with<R>(&self, f: impl FnOnce(&mut Resumption) -> R) -> (R, usize) {
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let before = cache.memory();
        let r = f(&mut cache);
        let grew = cache.memory().saturating_sub(before);
        (r, grew)
    }

    /// Bytes the whole cache holds, computed now.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .memory()
    }
}

/// The cache key of a session id (kept apart from ticket digests by a prefix).
fn session_id_handle(id: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"session id\0");
    h.update(id);
    h.finalize().into()
}

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

    /// Bytes held (entries and ids), computed now.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.ids.capacity() * (std::mem::size_of::<FlowKey>() + std::mem::size_of::<Vec<u64>>())
            + self.ids.values().map(|v| v.capacity() * 8).sum::<usize>()
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
    use crate::tls::keylog::KeyLog;
    use crate::tls::keystore::SharedKeyLog;
    use crate::tls::KeyStore;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::{Arc, Mutex};

    fn master(byte: u8) -> KeyBytes {
        KeyBytes::from_slice(&[byte; 48]).unwrap_or_else(|| unreachable!())
    }

    fn request(session_id: &[u8], ticket: Option<[u8; 32]>, resumed: bool) -> KeyRequest {
        KeyRequest {
            client_random: [1; 32],
            server_random: [2; 32],
            version: 0x0303,
            cipher_suite: 0xc02f,
            session_id: session_id.to_vec(),
            resumed,
            ticket,
            early_data: false,
            extended_master_secret: true,
            encrypt_then_mac: false,
        }
    }

    #[test]
    fn the_cache_forgets_the_oldest_session_past_its_bound() {
        let mut cache = Resumption::new();
        for i in 0..MAX_RESUMABLE_SESSIONS + 10 {
            let mut handle = [0u8; 32];
            handle[..8].copy_from_slice(&(i as u64).to_be_bytes());
            cache.remember(handle, master(1));
        }
        assert_eq!(cache.len(), MAX_RESUMABLE_SESSIONS);
        assert_eq!(cache.masters.len(), MAX_RESUMABLE_SESSIONS);
        assert!(cache.find(&[0; 32]).is_none(), "the first is forgotten");
        cache.remember([0xff; 32], master(2));
        cache.remember([0xff; 32], master(3));
        assert_eq!(cache.find(&[0xff; 32]), Some(master(3)));
        assert_eq!(
            cache.len(),
            MAX_RESUMABLE_SESSIONS,
            "an update adds nothing"
        );
    }

    #[test]
    fn only_a_resumed_tls12_session_reuses_a_remembered_master_secret() {
        let mut cache = Resumption::new();
        let id = [9u8; 32];
        let ticket = [7u8; 32];
        cache.remember(session_id_handle(&id), master(1));
        cache.ticket_issued(ticket, master(2));
        assert_eq!(
            cache.resumed_master(&request(&id, None, true)),
            Some(master(1))
        );
        assert_eq!(
            cache.resumed_master(&request(&id, Some(ticket), true)),
            Some(master(2)),
            "the ticket decides"
        );
        assert_eq!(
            cache.resumed_master(&request(&id, Some(ticket), false)),
            None
        );
        let mut tls13 = request(&id, None, true);
        tls13.version = 0x0304;
        assert_eq!(cache.resumed_master(&tls13), None);
        assert_eq!(cache.resumed_master(&request(&[], None, true)), None);
        // The ticket and the session id never share a key.
        assert_ne!(session_id_handle(&ticket), ticket);
    }

    #[test]
    fn a_full_handshake_found_in_the_log_is_remembered_for_its_resumptions() {
        let mut log = KeyLog::default();
        let text = format!("CLIENT_RANDOM {} {}\n", "01".repeat(32), "ab".repeat(48));
        assert!(log.add_text(text.as_bytes()).is_empty());
        let mut store = SharedKeyLog::new(Arc::new(Mutex::new(log)));
        let mut cache = Resumption::new();
        let id = [9u8; 32];
        let first = request(&id, None, false);
        let KeyAnswer::Keys(keys) = cache.answer(store.lookup(&first), &first) else {
            panic!("the full handshake's keys are in the log");
        };
        // The server issues a ticket on it (the connection reports it with the master).
        let Some(m) = keys.master else {
            panic!("a TLS 1.2 answer carries its master secret");
        };
        cache.ticket_issued([5; 32], m);
        assert_eq!(cache.len(), 2, "its session id and its ticket");
        let mut resumed = request(&[], Some([5; 32]), true);
        resumed.client_random = [3; 32];
        assert!(matches!(
            cache.answer(store.lookup(&resumed), &resumed),
            KeyAnswer::Keys(_)
        ));
        resumed.resumed = false;
        assert!(matches!(
            cache.answer(store.lookup(&resumed), &resumed),
            KeyAnswer::NotFound
        ));
    }

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
