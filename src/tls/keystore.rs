//! The adapter between the key material ([`super::keylog`], [`super::decrypt`]) and the
//! record walker's seam ([`super::KeyStore`], [`super::RecordDecrypter`]): a shared key log
//! answers each connection's [`super::KeyRequest`] with one decrypter per direction.
//!
//! The key log is filled by the caller (the `--keylog` file, re-read live as it grows, and the
//! capture's own Decryption Secrets Blocks), never read from a file here: the engine stays
//! pure, and the answer depends only on what the log held when the ServerHello was read.

use std::sync::{Arc, Mutex};

use super::decrypt::{DirectionDecrypter, KeysError, OpenError, SessionDecrypters};
use super::keylog::KeyLog;
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
}

/// A key log shared with whoever fills it, as the engine's [`KeyStore`].
#[derive(Debug)]
pub struct SharedKeyLog(pub Arc<Mutex<KeyLog>>);

impl KeyStore for SharedKeyLog {
    fn lookup(&mut self, request: &KeyRequest) -> KeyAnswer {
        let Ok(log) = self.0.lock() else {
            return KeyAnswer::Unsupported("the key log is unavailable".to_owned());
        };
        match SessionDecrypters::from_key_log(
            &log,
            request.version,
            request.cipher_suite,
            &request.client_random,
            &request.server_random,
            request.encrypt_then_mac,
        ) {
            Ok(session) => KeyAnswer::Keys(SessionKeys {
                client: Box::new(session.client),
                server: Box::new(session.server),
            }),
            Err(KeysError::NotInKeyLog) => KeyAnswer::NotFound,
            Err(e) => KeyAnswer::Unsupported(e.to_string()),
        }
    }
}
