//! TLS as a passive observer sees it (issue 12): records walked by their headers, the
//! handshake read where it is plaintext, one [`TlsRecord`](crate::event::TlsRecord) per
//! connection, and, when a key log holds the session's secrets, the decrypted bytes handed
//! on as a [`Relay`] per direction.
//!
//! ```text
//!  tcp ByteStream ─▶ connection::TlsConnection (per TCP connection, both directions)
//!                      record: 5-byte headers; payloads skipped unless needed
//!                      handshake: ClientHello, ServerHello/HRR, Certificate (≤ 1.2) via tls-parser
//!                      certificate: subject, SANs, issuer, validity via x509-parser
//!                      alerts in plaintext; TLS 1.3 "short encrypted record, then close"
//!                    ─▶ TlsRecord + findings at the end
//!                    ─▶ with keys: RecordDecrypter per direction ─▶ Relay (plaintext) ─▶
//!                       dispatch runs HTTP/1 and WebSocket analysis over it
//! ```
//!
//! Without keys, bulk traffic costs the walk nothing: once a side sent application data its
//! TCP stream only counts its bytes by sequence number and keeps its last flight, whose
//! records are walked at the end; only the handshake and that last flight are read (and,
//! TLS ≤ 1.2, the first bytes of each bulk segment, for an alert that starts one).
//!
//! # The key seam (for `keylog`, `keyschedule`, `decrypt`)
//! When the ServerHello is read and the connection was created with decryption enabled,
//! the walker stops and [`connection::TlsConnection::key_request`] returns a [`KeyRequest`]:
//! the randoms, version and suite a key log entry is looked up by. Whoever holds the key
//! material (the engine, with a [`KeyStore`]) answers with
//! [`connection::TlsConnection::install_keys`] and a [`KeyAnswer`]; the walker then goes on
//! in the same packet. With [`KeyAnswer::Keys`] every protected record's payload is passed to
//! the direction's [`RecordDecrypter`] and its plaintext is dispatched by inner content type
//! (handshake messages are read like plaintext ones, alerts are named, application data goes
//! to the direction's [`Relay`]). The TLS layer tells the decrypter when its epoch changes
//! ([`RecordDecrypter::next_epoch`]): a TLS 1.3 direction moves from handshake to application
//! traffic keys after its Finished, and to the next generation after a KeyUpdate.
//!
//! `decrypt::DirectionDecrypter` (helper tls-keys) has exactly this shape: the adapter is
//! `open` → `DirectionDecrypter::open(..).map(|t| t.0)`, `next_epoch(Application)` →
//! `to_application()`, `next_epoch(KeyUpdate)` → `key_update()`, `mark_loss` → `mark_loss`;
//! a [`KeyStore`] over the shared key log answers with
//! `SessionDecrypters::from_key_log(log, version, cipher_suite, client_random,
//! server_random, encrypt_then_mac)` (`KeysError::NotInKeyLog` → [`KeyAnswer::NotFound`],
//! any other error → [`KeyAnswer::Unsupported`] with its message).
//!
//! Key material: [`keylog`] reads NSS key logs and pcapng Decryption Secrets Blocks,
//! [`keyschedule`] derives keys (TLS 1.2 PRF, TLS 1.3 HKDF-Expand-Label), [`decrypt`] opens
//! records one direction at a time, [`suite`] names the cipher suites; keys arrive as bytes
//! from the caller.
//!
//! Never does I/O, never reads key material itself, never verifies certificates against a
//! trust store (the capture does not hold the client's).

pub mod certificate;
pub mod connection;
pub mod decrypt;
pub mod handshake;
pub mod keylog;
pub mod keyschedule;
pub mod keystore;
pub mod record;
pub mod suite;

use std::fmt;

use keyschedule::KeyBytes;

#[cfg(doc)]
use crate::tcp::stream::Relay;

/// What identifies a session's secrets in an NSS key log (and what the key schedule needs),
/// known once the ServerHello is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRequest {
    /// ClientHello.random: the key of every NSS key log line (`CLIENT_RANDOM`,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, …).
    pub client_random: [u8; 32],
    /// ServerHello.random (the TLS 1.2 key block is derived from both randoms).
    pub server_random: [u8; 32],
    /// Version negotiated (0x0303 TLS 1.2, 0x0304 TLS 1.3).
    pub version: u16,
    /// Cipher suite chosen by the server (IANA id).
    pub cipher_suite: u16,
    /// The ServerHello's session id (TLS 1.2 resumption by session id: the master secret
    /// of an earlier connection with this id applies).
    pub session_id: Vec<u8>,
    /// The server echoed the client's session id or accepted a PSK: an abbreviated
    /// handshake, whose secrets may be logged under the first connection only.
    pub resumed: bool,
    /// The session ticket the ClientHello offered, as its
    /// [`handshake::ticket_digest`] (TLS 1.2 resumption by ticket: the master secret of the
    /// connection that was issued this ticket applies).
    pub ticket: Option<[u8; 32]>,
    /// The ClientHello offered TLS 1.3 early data (0-RTT): the answer should carry a
    /// decrypter for `CLIENT_EARLY_TRAFFIC_SECRET` when the key log has it.
    pub early_data: bool,
    /// RFC 7627 extended_master_secret was negotiated (TLS 1.2).
    pub extended_master_secret: bool,
    /// RFC 7366 encrypt_then_mac was negotiated (both hellos carried it; TLS 1.2 CBC
    /// suites only).
    pub encrypt_then_mac: bool,
}

/// Why a protected record could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// Authentication failed (wrong key, a lost record shifted the sequence number, or the
    /// record was corrupted).
    BadRecord,
    /// The record is too short for the cipher's nonce and tag.
    TooShort,
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecryptError::BadRecord => f.write_str("record failed authentication"),
            DecryptError::TooShort => f.write_str("record shorter than the cipher's overhead"),
        }
    }
}

/// Where a direction's key schedule moves next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    /// TLS 1.3: this direction sent its Finished; switch from the handshake traffic secret
    /// to `*_TRAFFIC_SECRET_0`. Never called for TLS 1.2 (one epoch after
    /// ChangeCipherSpec).
    Application,
    /// TLS 1.3 KeyUpdate from this direction: the next application traffic secret
    /// (RFC 8446 §7.2).
    KeyUpdate,
}

/// Opens one direction's protected records, in order (implemented by `decrypt`). Each call
/// handles the next record of the direction: the record sequence number is the implementation's
/// to count (and, after a failure, to search within a small bound).
pub trait RecordDecrypter: fmt::Debug + Send {
    /// Opens the record whose 5-byte `header` (as on the wire: the TLS 1.3 additional data)
    /// precedes `payload`; appends the plaintext to `out` (content only: TLS 1.3 padding and
    /// inner type removed) and returns the real content type (TLS 1.3: the inner type; TLS
    /// 1.2: the header's).
    ///
    /// # Errors
    /// [`DecryptError`] when the record does not open; `out` is then unchanged.
    fn open(
        &mut self,
        header: [u8; 5],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, DecryptError>;

    /// The direction's keys change (see [`Epoch`]).
    fn next_epoch(&mut self, epoch: Epoch);

    /// The capture lost bytes of this direction and the walk resynchronised on a record
    /// header: the next record may carry a later sequence number than expected.
    fn mark_loss(&mut self) {}

    /// Bytes this decrypter holds on the heap, its own box included (the keyed cipher's
    /// round keys and hash tables are about 1 KiB a direction for AES-GCM), for the memory
    /// budget: a decrypting connection keeps two for its whole life.
    fn memory(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// Both directions' decrypters for one session.
#[derive(Debug)]
pub struct SessionKeys {
    /// For the client's records.
    pub client: Box<dyn RecordDecrypter>,
    /// For the server's records.
    pub server: Box<dyn RecordDecrypter>,
    /// The TLS 1.2 master secret, when known: a later connection resuming this session (by
    /// its id, or by a ticket the server issues here, [`connection::TlsConnection::take_issued_tickets`])
    /// reuses it (`correlate::tls` remembers it across connections).
    pub master: Option<KeyBytes>,
    /// For the client's 0-RTT records (TLS 1.3 `CLIENT_EARLY_TRAFFIC_SECRET`, with the
    /// suite the ServerHello chose: the resumed session's), when asked for and logged.
    pub early: Option<Box<dyn RecordDecrypter>>,
}

/// The answer to a [`KeyRequest`].
#[derive(Debug)]
pub enum KeyAnswer {
    /// The key log had this session's secrets.
    Keys(SessionKeys),
    /// The key log has nothing for this client random.
    NotFound,
    /// Secrets were found but the suite (or version) cannot be decrypted: its name, for the
    /// record (never skipped silently).
    Unsupported(String),
}

/// Key material the engine consults for each TLS session it sees (a parsed key log, the
/// secrets of a pcapng Decryption Secrets Block). Sessions resumed across connections are
/// the correlation stage's (`correlate::tls::Resumption`), which completes the answer.
pub trait KeyStore: fmt::Debug + Send {
    /// Finds the secrets of the session `request` describes.
    fn lookup(&mut self, request: &KeyRequest) -> KeyAnswer;

    /// Whether any key material was given at all (a `--keylog` file, a pcapng Decryption
    /// Secrets Block): the engine always installs a store for the blocks a file may carry,
    /// and without any material a TLS record says nothing of decryption (`decryption` null).
    fn has_key_material(&self) -> bool {
        true
    }
}
