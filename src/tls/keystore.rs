//! The adapter between the key material ([`super::keylog`], [`super::decrypt`]) and the
//! record walker's seam ([`super::KeyStore`], [`super::RecordDecrypter`]): a shared key log
//! answers each connection's [`super::KeyRequest`] with one decrypter per direction, and
//! [`resumed_keys`] derives them from a master secret remembered from an earlier connection.
//!
//! Which earlier connection's master secret a resumed TLS 1.2 session reuses (by session id
//! or ticket) is a fact across connections: the correlation stage keeps that cache
//! (`correlate::tls::Resumption`); this module only turns key material into decrypters.
//!
//! The key log is filled by the caller (the `--keylog` file, re-read live as it grows, and the
//! capture's own Decryption Secrets Blocks), never read from a file here: the engine stays
//! pure, and the answer depends only on what the log held when the ServerHello was read.

use std::sync::{Arc, Mutex};

use super::decrypt::{DirectionDecrypter, KeysError, OpenError, SessionDecrypters};
use super::keylog::{ClientRandom, KeyLog};
use super::keyschedule::KeyBytes;
use super::{DecryptError, Epoch, KeyAnswer, KeyRequest, KeyStore, SessionKeys};

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

    fn memory(&self) -> usize {
        std::mem::size_of::<Self>() + DirectionDecrypter::cipher_memory(self)
    }
}

/// A key log shared with whoever fills it, as the engine's [`KeyStore`]. A clone shares it
/// (flow-sharded workers each hold one).
#[derive(Clone, Debug)]
pub struct SharedKeyLog {
    log: Arc<Mutex<KeyLog>>,
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

    /// Adds the lines of a session found (dropped past [`MAX_USED_WAITING`] bytes waiting):
    /// also how a sharded live run hands a worker's sessions to the one writer.
    pub(crate) fn push(&mut self, lines: &str) {
        if self.0.len() + lines.len() <= MAX_USED_WAITING {
            self.0.push_str(lines);
        }
    }
}

impl SharedKeyLog {
    /// A key store over `log`.
    #[must_use]
    pub fn new(log: Arc<Mutex<KeyLog>>) -> Self {
        SharedKeyLog { log, used: None }
    }

    /// Also notes in `used` every session whose keys the key log had (not the ones
    /// derived from a remembered master secret: the original's lines cover those).
    #[must_use]
    pub fn noting_used(mut self, used: Arc<Mutex<UsedSessions>>) -> Self {
        self.used = Some(used);
        self
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
            Ok((session, master, early)) => keys(session, master, early),
            Err(KeysError::NotInKeyLog) => KeyAnswer::NotFound,
            Err(e) => KeyAnswer::Unsupported(e.to_string()),
        }
    }

    fn has_key_material(&self) -> bool {
        self.log.lock().map_or(true, |l| l.has_source())
    }
}

fn keys(
    session: SessionDecrypters,
    master: Option<KeyBytes>,
    early: Option<DirectionDecrypter>,
) -> KeyAnswer {
    KeyAnswer::Keys(SessionKeys {
        client: Box::new(session.client),
        server: Box::new(session.server),
        master,
        early: early.map(|e| Box::new(e) as Box<dyn super::RecordDecrypter>),
    })
}

/// The decrypters of the TLS 1.2 session `request` describes, from the `master` secret of
/// the earlier connection it resumes (the key log may have no line for this one: some stacks
/// log only the full handshake). Wireshark does the same.
#[must_use]
pub fn resumed_keys(master: KeyBytes, request: &KeyRequest) -> KeyAnswer {
    match SessionDecrypters::tls12_suite(request.version, request.cipher_suite).and_then(|suite| {
        SessionDecrypters::tls12(
            suite,
            master.as_slice(),
            &request.client_random,
            &request.server_random,
            request.encrypt_then_mac,
        )
    }) {
        Ok(session) => keys(session, Some(master), None),
        Err(e) => KeyAnswer::Unsupported(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(client_random: [u8; 32]) -> KeyRequest {
        KeyRequest {
            client_random,
            server_random: [2; 32],
            version: 0x0303,
            cipher_suite: 0xc02f,
            session_id: vec![9; 32],
            resumed: false,
            ticket: None,
            early_data: false,
            extended_master_secret: true,
            encrypt_then_mac: false,
        }
    }

    #[test]
    fn a_full_tls12_handshake_in_the_log_answers_with_its_master_secret() {
        let mut log = KeyLog::default();
        let text = format!("CLIENT_RANDOM {} {}\n", "01".repeat(32), "ab".repeat(48));
        assert!(log.add_text(text.as_bytes()).is_empty());
        let mut store = SharedKeyLog::new(Arc::new(Mutex::new(log)));
        let KeyAnswer::Keys(keys) = store.lookup(&request([1; 32])) else {
            panic!("the full handshake's keys are in the log");
        };
        assert_eq!(keys.master, KeyBytes::from_slice(&[0xab; 48]));
        assert!(matches!(
            store.lookup(&request([3; 32])),
            KeyAnswer::NotFound
        ));
    }

    #[test]
    fn a_master_secret_gives_a_resumed_session_its_decrypters_or_names_the_suite() {
        let master = KeyBytes::from_slice(&[7; 48]).unwrap_or_else(|| unreachable!());
        let KeyAnswer::Keys(keys) = resumed_keys(master, &request([3; 32])) else {
            panic!("an AES-GCM suite derives");
        };
        assert_eq!(keys.master, Some(master));
        let mut rc4 = request([3; 32]);
        rc4.cipher_suite = 0x0005;
        assert!(matches!(
            resumed_keys(master, &rc4),
            KeyAnswer::Unsupported(_)
        ));
    }
}
