//! The adapter between the key material ([`super::keylog`], [`super::decrypt`]) and the
//! record walker's seam ([`super::KeyStore`], [`super::RecordDecrypter`]): a shared key log
//! answers each connection's [`super::KeyRequest`] with one decrypter per direction.
//!
//! It also keeps the capture's TLS 1.2 resumption cache: the master secret of every session
//! it found keys for, by session id and by each session ticket the server issued, bounded
//! at [`MAX_RESUMABLE_SESSIONS`]. An abbreviated handshake reuses its session's master
//! secret with fresh randoms, and some stacks log no line for the resumed connection; its
//! key block is then derived from the remembered master secret (as Wireshark does). The
//! cache lives here, with the key material, rather than in the correlation stage: it links
//! connections only through secrets, and nothing it holds leaves this module.
//!
//! The key log is filled by the caller (the `--keylog` file, re-read live as it grows, and the
//! capture's own Decryption Secrets Blocks), never read from a file here: the engine stays
//! pure, and the answer depends only on what the log held when the ServerHello was read.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::decrypt::{DirectionDecrypter, KeysError, OpenError, SessionDecrypters};
use super::keylog::{ClientRandom, KeyLog};
use super::keyschedule::KeyBytes;
use super::{DecryptError, Epoch, KeyAnswer, KeyRequest, KeyStore, SessionKeys, TicketSink};

/// Most TLS 1.2 sessions (session ids and tickets together) whose master secret is kept for
/// resumption; the oldest is forgotten first. About 130 bytes each.
pub const MAX_RESUMABLE_SESSIONS: usize = 4096;

impl super::RecordDecrypter for DirectionDecrypter {
    fn open(
        &mut self,
        header: [u8; 5],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, DecryptError> {
        DirectionDecrypter::open(self, header, payload, out)
            .map(|content_type| content_type.0)
            .map_err(|e| match e {
                OpenError::TooShort { .. } => DecryptError::TooShort,
                _ => DecryptError::BadRecord,
            })
    }

    fn next_epoch(&mut self, epoch: Epoch) {
        // A switch that cannot be made (TLS 1.2 has no KeyUpdate, a second Finished) leaves
        // the keys as they were: the next records then fail authentication, which the walker
        // reports, rather than being read under keys they were not sealed with.
        let _ = match epoch {
            Epoch::Application => self.to_application(),
            Epoch::KeyUpdate => self.key_update(),
        };
    }

    fn mark_loss(&mut self) {
        DirectionDecrypter::mark_loss(self);
    }
}

/// TLS 1.2 master secrets by what a resuming ClientHello names: a session id or a ticket
/// (both as SHA-256 digests, so every entry has one size), oldest forgotten first.
#[derive(Debug, Default)]
pub struct ResumptionCache {
    masters: HashMap<[u8; 32], KeyBytes>,
    order: VecDeque<[u8; 32]>,
}

impl ResumptionCache {
    /// Remembers `master` under `handle`.
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
}

/// The cache key of a session id (kept apart from ticket digests by a prefix).
fn session_id_handle(id: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"session id\0");
    h.update(id);
    h.finalize().into()
}

/// Remembers the tickets issued on one connection under its master secret.
#[derive(Debug)]
struct IssuedTickets {
    cache: Arc<Mutex<ResumptionCache>>,
    master: KeyBytes,
}

impl TicketSink for IssuedTickets {
    fn issued(&mut self, ticket: [u8; 32]) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remember(ticket, self.master);
        }
    }
}

/// A key log shared with whoever fills it, as the engine's [`KeyStore`], with the capture's
/// TLS 1.2 resumption cache. A clone shares both (flow-sharded workers each hold one).
#[derive(Clone, Debug)]
pub struct SharedKeyLog {
    log: Arc<Mutex<KeyLog>>,
    resumption: Arc<Mutex<ResumptionCache>>,
    /// The sessions whose keys were found, in lookup order, for whoever writes them out
    /// (`-w --write-secrets`); `None` when nobody does.
    used: Option<Arc<Mutex<UsedSessions>>>,
}

/// Most bytes of key log lines waiting in [`UsedSessions`] for their writer (which takes
/// them at every packet); a session past it is not written.
const MAX_USED_WAITING: usize = 1 << 20;

/// The NSS key log lines of the sessions a [`SharedKeyLog`] found keys for, which their
/// writer has not taken yet. Secrets: never printed.
#[derive(Default)]
pub struct UsedSessions(String);

impl std::fmt::Debug for UsedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UsedSessions({} bytes)", self.0.len())
    }
}

impl UsedSessions {
    /// Takes the lines of the sessions found since the last call, oldest first.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.0)
    }

    fn push(&mut self, lines: &str) {
        if self.0.len() + lines.len() <= MAX_USED_WAITING {
            self.0.push_str(lines);
        }
    }
}

impl SharedKeyLog {
    /// A key store over `log`, with an empty resumption cache.
    #[must_use]
    pub fn new(log: Arc<Mutex<KeyLog>>) -> Self {
        SharedKeyLog {
            log,
            resumption: Arc::default(),
            used: None,
        }
    }

    /// Also notes in `used` every session whose keys the key log had (not the ones
    /// derived from a remembered master secret: the original's lines cover those).
    #[must_use]
    pub fn noting_used(mut self, used: Arc<Mutex<UsedSessions>>) -> Self {
        self.used = Some(used);
        self
    }

    /// TLS 1.2 sessions remembered for resumption.
    #[must_use]
    pub fn resumable_sessions(&self) -> usize {
        self.resumption.lock().map_or(0, |c| c.len())
    }

    /// The master secret a resumed TLS 1.2 connection reuses, from the cache: by the ticket
    /// it offered, else by the session id the server echoed.
    fn resumed_master(&self, request: &KeyRequest) -> Option<KeyBytes> {
        if request.version != 0x0303 || !request.resumed {
            return None;
        }
        let cache = self.resumption.lock().ok()?;
        request.ticket.and_then(|t| cache.find(&t)).or_else(|| {
            (!request.session_id.is_empty())
                .then(|| cache.find(&session_id_handle(&request.session_id)))
                .flatten()
        })
    }

    /// The answer for a session with decrypters: a TLS 1.2 master secret is remembered by
    /// the session id and handed on for the tickets the server will issue.
    fn answer(
        &self,
        session: SessionDecrypters,
        master: Option<KeyBytes>,
        early: Option<DirectionDecrypter>,
        request: &KeyRequest,
    ) -> KeyAnswer {
        let tickets = master.map(|master| {
            if !request.session_id.is_empty() {
                if let Ok(mut cache) = self.resumption.lock() {
                    cache.remember(session_id_handle(&request.session_id), master);
                }
            }
            Box::new(IssuedTickets {
                cache: Arc::clone(&self.resumption),
                master,
            }) as Box<dyn TicketSink>
        });
        KeyAnswer::Keys(SessionKeys {
            client: Box::new(session.client),
            server: Box::new(session.server),
            tickets,
            early: early.map(|e| Box::new(e) as Box<dyn super::RecordDecrypter>),
        })
    }
}

impl KeyStore for SharedKeyLog {
    fn lookup(&mut self, request: &KeyRequest) -> KeyAnswer {
        let found = {
            let Ok(log) = self.log.lock() else {
                return KeyAnswer::Unsupported("the key log is unavailable".to_owned());
            };
            SessionDecrypters::from_key_log(
                &log,
                request.version,
                request.cipher_suite,
                &request.client_random,
                &request.server_random,
                request.encrypt_then_mac,
            )
            .map(|session| {
                if let Some(Ok(mut used)) = self.used.as_ref().map(|u| u.lock()) {
                    used.push(&log.nss_lines(&ClientRandom(request.client_random)));
                }
                let master = log
                    .get(&ClientRandom(request.client_random))
                    .and_then(|k| k.master_secret)
                    .filter(|_| request.version == 0x0303);
                let early = request
                    .early_data
                    .then(|| {
                        SessionDecrypters::early_from_key_log(
                            &log,
                            request.cipher_suite,
                            &request.client_random,
                        )
                    })
                    .flatten();
                (session, master, early)
            })
        };
        match found {
            Ok((session, master, early)) => self.answer(session, master, early, request),
            Err(KeysError::NotInKeyLog) => {
                let Some(master) = self.resumed_master(request) else {
                    return KeyAnswer::NotFound;
                };
                match SessionDecrypters::tls12_suite(request.version, request.cipher_suite)
                    .and_then(|suite| {
                        SessionDecrypters::tls12(
                            suite,
                            master.as_slice(),
                            &request.client_random,
                            &request.server_random,
                            request.encrypt_then_mac,
                        )
                    }) {
                    Ok(session) => self.answer(session, Some(master), None, request),
                    Err(e) => KeyAnswer::Unsupported(e.to_string()),
                }
            }
            Err(e) => KeyAnswer::Unsupported(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut cache = ResumptionCache::default();
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
        let store = SharedKeyLog::new(Arc::default());
        let id = [9u8; 32];
        let ticket = [7u8; 32];
        if let Ok(mut cache) = store.resumption.lock() {
            cache.remember(session_id_handle(&id), master(1));
            cache.remember(ticket, master(2));
        }
        assert_eq!(
            store.resumed_master(&request(&id, None, true)),
            Some(master(1))
        );
        assert_eq!(
            store.resumed_master(&request(&id, Some(ticket), true)),
            Some(master(2)),
            "the ticket decides"
        );
        assert_eq!(
            store.resumed_master(&request(&id, Some(ticket), false)),
            None
        );
        let mut tls13 = request(&id, None, true);
        tls13.version = 0x0304;
        assert_eq!(store.resumed_master(&tls13), None);
        assert_eq!(store.resumed_master(&request(&[], None, true)), None);
        // The ticket and the session id never share a key.
        assert_ne!(session_id_handle(&ticket), ticket);
    }

    #[test]
    fn a_full_handshake_found_in_the_log_is_remembered_for_its_resumptions() {
        let mut log = KeyLog::default();
        let text = format!("CLIENT_RANDOM {} {}\n", "01".repeat(32), "ab".repeat(48));
        assert!(log.add_text(text.as_bytes()).is_empty());
        let mut store = SharedKeyLog::new(Arc::new(Mutex::new(log)));
        let id = [9u8; 32];
        let KeyAnswer::Keys(mut keys) = store.lookup(&request(&id, None, false)) else {
            panic!("the full handshake's keys are in the log");
        };
        if let Some(sink) = keys.tickets.as_deref_mut() {
            sink.issued([5; 32]);
        }
        assert_eq!(
            store.resumable_sessions(),
            2,
            "its session id and its ticket"
        );
        let mut resumed = request(&id, Some([5; 32]), true);
        resumed.client_random = [3; 32];
        assert!(matches!(store.lookup(&resumed), KeyAnswer::Keys(_)));
        resumed.resumed = false;
        assert!(matches!(store.lookup(&resumed), KeyAnswer::NotFound));
    }
}
