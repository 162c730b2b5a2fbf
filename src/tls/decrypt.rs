//! Record decryption for one direction of a TLS connection: the ciphertext of a record in,
//! its plaintext and real content type out.
//!
//! A [`RecordDecrypter`] holds one direction's keys and the implicit record sequence number
//! (RFC 5246 §6.1, RFC 8446 §5.3), which every record advances by one. Suites:
//! - TLS 1.3 AES-128/256-GCM and ChaCha20-Poly1305: nonce = IV ⊕ sequence, the record header
//!   is the additional data, the real content type is the last non-zero byte of the inner
//!   plaintext (RFC 8446 §5.2, §5.4); [`RecordDecrypter::key_update`] moves to the next
//!   traffic secret.
//! - TLS 1.2 AES-GCM (4-byte salt + 8-byte explicit nonce in the record, RFC 5288) and
//!   ChaCha20-Poly1305 (RFC 7905), additional data = sequence ‖ type ‖ version ‖ length.
//! - TLS 1.2 AES-CBC with HMAC-SHA1/SHA256/SHA384 (explicit per-record IV, RFC 5246
//!   §6.2.3.2), MAC-then-encrypt or, when the hellos negotiated it, encrypt-then-MAC (RFC 7366).
//!
//! A record that does not authenticate is a typed [`OpenError`], never a panic and never a
//! silent skip: the caller turns it into a finding. After the caller saw lost packets it asks
//! [`RecordDecrypter::open_after_loss`], which also tries the next [`MAX_LOST_RECORDS`]
//! sequence numbers (a record lost in the gap still used one) and resynchronises on the one
//! that authenticates. Ordinary [`RecordDecrypter::open`] tries only the expected number, so
//! garbage or a wrong key costs one attempt per record, not a search.
//!
//! Decryption is in place in the caller's buffer (no allocation per record) with RustCrypto's
//! `aes-gcm`, `chacha20poly1305`, `aes` + `cbc` and `hmac`; the AEADs check the tag before
//! they decrypt, so a failed attempt leaves the ciphertext intact for the next one. Never does
//! I/O; never logs or formats key material.

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::keylog::{ClientRandom, KeyLog};
use super::keyschedule::{self, KeyBytes, ScheduleError, Tls12Keys};
use super::suite::{MacAlg, Protection, Suite, Unsupported, Version};

/// Sequence numbers tried past the expected one by [`RecordDecrypter::open_after_loss`]: a
/// gap of a few packets loses at most a few dozen small records.
pub const MAX_LOST_RECORDS: u64 = 32;

/// Largest TLSCiphertext fragment accepted: 2^14 + 2048 (RFC 5246 §6.2.3; TLS 1.3 allows
/// only 2^14 + 256, RFC 8446 §5.2, checked separately).
pub const MAX_CIPHERTEXT_BYTES: usize = (1 << 14) + 2048;

/// Largest TLS 1.3 fragment: 2^14 + 256 (RFC 8446 §5.2).
const MAX_TLS13_CIPHERTEXT_BYTES: usize = (1 << 14) + 256;

/// AEAD tag length (GCM and Poly1305 alike).
const TAG_BYTES: usize = 16;

/// A TLS record content type (RFC 8446 §5.1); an open set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentType(pub u8);

impl ContentType {
    /// change_cipher_spec (20).
    pub const CHANGE_CIPHER_SPEC: ContentType = ContentType(20);
    /// alert (21).
    pub const ALERT: ContentType = ContentType(21);
    /// handshake (22).
    pub const HANDSHAKE: ContentType = ContentType(22);
    /// application_data (23).
    pub const APPLICATION_DATA: ContentType = ContentType(23);
}

/// The 5-byte header of a protected record, as it was on the wire (it is authenticated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Outer content type (always application_data in TLS 1.3).
    pub content_type: ContentType,
    /// Legacy record version (`0x0303` for TLS 1.2 and 1.3).
    pub version: u16,
}

impl RecordHeader {
    /// Reads the first five bytes of a record; `None` when fewer are given.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<RecordHeader> {
        match bytes.get(..5)? {
            &[t, v0, v1, _, _] => Some(RecordHeader {
                content_type: ContentType(t),
                version: u16::from_be_bytes([v0, v1]),
            }),
            _ => None,
        }
    }
}

/// A record that decrypted and authenticated.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The real content type: the inner type in TLS 1.3, the header's in TLS 1.2.
    pub content_type: ContentType,
    /// The plaintext, a sub-slice of the buffer that held the ciphertext.
    pub plaintext: &'a [u8],
    /// Where `plaintext` starts in that buffer (after an explicit nonce or IV).
    pub offset: usize,
    /// The sequence number it authenticated under.
    pub seq: u64,
    /// Records assumed lost before this one (it authenticated under `seq`, `skipped` past
    /// the expected number); 0 normally.
    pub skipped: u64,
}

/// Why a record did not decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The tag or MAC did not verify under any sequence number tried: wrong key, corrupted
    /// bytes, or more records lost than the search covers.
    #[error("record does not authenticate (sequence numbers {first}..={last} tried)")]
    Authentication {
        /// First sequence number tried.
        first: u64,
        /// Last sequence number tried.
        last: u64,
    },
    /// Too short to hold the explicit nonce/IV, tag or MAC the suite adds.
    #[error("record of {len} bytes is too short for its cipher suite")]
    TooShort {
        /// Fragment length.
        len: usize,
    },
    /// Longer than the protocol allows (RFC 5246 §6.2.3, RFC 8446 §5.2).
    #[error("record of {len} bytes is longer than TLS allows")]
    TooLong {
        /// Fragment length.
        len: usize,
    },
    /// CBC: the length is not a whole number of blocks.
    #[error("CBC record of {len} bytes is not a whole number of blocks")]
    NotBlockAligned {
        /// Fragment length.
        len: usize,
    },
    /// TLS 1.3: the inner plaintext is all padding, with no content type (RFC 8446 §5.4
    /// says the receiver MUST treat this as an unexpected_message alert).
    #[error("TLS 1.3 record has no inner content type")]
    NoContentType,
    /// The sequence number would wrap (2^64 records): the sender must have re-keyed first.
    #[error("record sequence number exhausted")]
    SequenceExhausted,
}

/// Why a decrypter could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The key schedule refused the secret.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// Key or IV lengths do not fit the suite (a key block cut for another suite).
    #[error("key material does not fit {suite}")]
    KeyLength {
        /// The suite.
        suite: Suite,
    },
    /// A feature of the connection this decrypter does not handle, named.
    #[error("{0} is not supported")]
    Unsupported(&'static str),
}

/// The keyed cipher of one direction.
enum Cipher {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
    AesCbc {
        key: KeyBytes,
        mac: MacAlg,
        mac_key: KeyBytes,
    },
}

/// Decrypts the records one side of a TLS connection sends, in order.
pub struct RecordDecrypter {
    suite: Suite,
    cipher: Cipher,
    /// TLS 1.3: the full 12-byte IV. TLS 1.2 GCM: the 4-byte salt. ChaCha20: 12 bytes. CBC: empty.
    iv: KeyBytes,
    /// TLS 1.3: the current traffic secret, for KeyUpdate.
    secret: Option<KeyBytes>,
    /// TLS 1.2 CBC: encrypt-then-MAC (RFC 7366) was negotiated.
    encrypt_then_mac: bool,
    /// The sequence number the next record is expected to carry.
    seq: u64,
}

impl std::fmt::Debug for RecordDecrypter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of debug output.
        f.debug_struct("RecordDecrypter")
            .field("suite", &self.suite.name)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl RecordDecrypter {
    /// A TLS 1.3 decrypter from a traffic secret (a `*_HANDSHAKE_TRAFFIC_SECRET`,
    /// `*_TRAFFIC_SECRET_0` or `CLIENT_EARLY_TRAFFIC_SECRET` key log value), sequence 0.
    ///
    /// # Errors
    /// The suite is not TLS 1.3, or the secret's length does not match its hash.
    pub fn tls13(suite: Suite, traffic_secret: &[u8]) -> Result<RecordDecrypter, SetupError> {
        let keys = keyschedule::tls13_traffic_keys(&suite, traffic_secret)?;
        let secret = KeyBytes::from_slice(traffic_secret).ok_or(SetupError::KeyLength { suite })?;
        Ok(RecordDecrypter {
            suite,
            cipher: aead(&suite, keys.key.as_slice())?,
            iv: keys.iv,
            secret: Some(secret),
            encrypt_then_mac: false,
            seq: 0,
        })
    }

    /// A TLS 1.2 decrypter from one direction of the key block, sequence 0 (the record
    /// after ChangeCipherSpec). `encrypt_then_mac` is whether both hellos carried the
    /// encrypt_then_mac extension (RFC 7366; it matters only for CBC suites).
    ///
    /// # Errors
    /// The suite is not TLS 1.2, or the keys do not have its lengths.
    pub fn tls12(
        suite: Suite,
        keys: &Tls12Keys,
        encrypt_then_mac: bool,
    ) -> Result<RecordDecrypter, SetupError> {
        if suite.version != Version::Tls12 {
            return Err(ScheduleError::WrongVersion {
                suite,
                wanted: "1.2",
            }
            .into());
        }
        if keys.key.len() != suite.key_len
            || keys.iv.len() != suite.fixed_iv_len()
            || keys.mac_key.len() != suite.mac_key_len()
        {
            return Err(SetupError::KeyLength { suite });
        }
        let cipher = match suite.protection {
            Protection::AesCbc(mac) => Cipher::AesCbc {
                key: keys.key,
                mac,
                mac_key: keys.mac_key,
            },
            Protection::AesGcm | Protection::ChaCha20Poly1305 => aead(&suite, keys.key.as_slice())?,
        };
        Ok(RecordDecrypter {
            suite,
            cipher,
            iv: keys.iv,
            secret: None,
            encrypt_then_mac,
            seq: 0,
        })
    }

    /// The suite this decrypter was built for.
    #[must_use]
    pub fn suite(&self) -> &Suite {
        &self.suite
    }

    /// Bytes the keyed cipher holds on the heap (the AEAD's box: round keys and GHASH
    /// tables; CBC keys are inline).
    #[must_use]
    pub fn cipher_memory(&self) -> usize {
        match &self.cipher {
            Cipher::Aes128Gcm(_) => std::mem::size_of::<Aes128Gcm>(),
            Cipher::Aes256Gcm(_) => std::mem::size_of::<Aes256Gcm>(),
            Cipher::ChaCha20Poly1305(_) => std::mem::size_of::<ChaCha20Poly1305>(),
            Cipher::AesCbc { .. } => 0,
        }
    }

    /// The sequence number the next record is expected to carry.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    /// TLS 1.3 KeyUpdate (RFC 8446 §4.6.3): after this side sent a KeyUpdate message, its
    /// following records use the next traffic secret, from sequence 0.
    ///
    /// # Errors
    /// A TLS 1.2 decrypter ([`SetupError::Unsupported`]); it has no traffic secret.
    pub fn key_update(&mut self) -> Result<(), SetupError> {
        let Some(secret) = self.secret else {
            return Err(SetupError::Unsupported("KeyUpdate on a TLS 1.2 connection"));
        };
        let next = keyschedule::tls13_next_secret(&self.suite, secret.as_slice())?;
        *self = RecordDecrypter::tls13(self.suite, next.as_slice())?;
        Ok(())
    }

    /// Decrypts the record whose 5-byte header is `header` and whose fragment (everything
    /// after the header) is `fragment`, in place, under the expected sequence number.
    /// On success the sequence number advances past it; on failure it advances by one too
    /// (the record used a number whether or not we could read it).
    ///
    /// # Errors
    /// See [`OpenError`]; `fragment` is left as it was for the AEAD suites.
    pub fn open<'a>(
        &mut self,
        header: RecordHeader,
        fragment: &'a mut [u8],
    ) -> Result<Opened<'a>, OpenError> {
        self.open_within(header, fragment, 0)
    }

    /// As [`RecordDecrypter::open`], for the first record after the caller saw lost packets:
    /// also tries the next [`MAX_LOST_RECORDS`] sequence numbers and continues from the one
    /// that authenticates ([`Opened::skipped`] says how many records were assumed lost).
    ///
    /// # Errors
    /// See [`OpenError`]; on failure the sequence number advances by one.
    pub fn open_after_loss<'a>(
        &mut self,
        header: RecordHeader,
        fragment: &'a mut [u8],
    ) -> Result<Opened<'a>, OpenError> {
        self.open_within(header, fragment, MAX_LOST_RECORDS)
    }

    fn open_within<'a>(
        &mut self,
        header: RecordHeader,
        fragment: &'a mut [u8],
        extra: u64,
    ) -> Result<Opened<'a>, OpenError> {
        let first = self.seq;
        if first == u64::MAX {
            return Err(OpenError::SequenceExhausted);
        }
        let last = first.saturating_add(extra).min(u64::MAX - 1);
        let result = match self.suite.version {
            Version::Tls13 => self.open_tls13(header, fragment, first, last),
            Version::Tls12 => match self.cipher {
                Cipher::AesCbc { .. } => self.open_cbc(header, fragment, first, last),
                _ => self.open_tls12_aead(header, fragment, first, last),
            },
        };
        match &result {
            Ok(opened) => self.seq = opened.seq + 1,
            Err(_) => self.seq = first + 1,
        }
        result
    }

    fn open_tls13<'a>(
        &self,
        header: RecordHeader,
        fragment: &'a mut [u8],
        first: u64,
        last: u64,
    ) -> Result<Opened<'a>, OpenError> {
        let len = fragment.len();
        if len > MAX_TLS13_CIPHERTEXT_BYTES {
            return Err(OpenError::TooLong { len });
        }
        let Some(body_len) = len.checked_sub(TAG_BYTES) else {
            return Err(OpenError::TooShort { len });
        };
        let aad = header_bytes(header, len);
        let (body, tag) = fragment.split_at_mut(body_len);
        let tag = aes_gcm::Tag::clone_from_slice(tag);
        let seq = (first..=last)
            .find(|&seq| {
                let nonce = xor_nonce(self.iv.as_slice(), seq);
                self.aead_open(&nonce, &aad, body, &tag)
            })
            .ok_or(OpenError::Authentication { first, last })?;
        // RFC 8446 §5.4: strip the zero padding; the last non-zero byte is the real type.
        let body: &'a [u8] = body;
        let end = body
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(OpenError::NoContentType)?;
        let content_type = ContentType(body.get(end).copied().unwrap_or(0));
        Ok(Opened {
            content_type,
            plaintext: body.get(..end).unwrap_or_default(),
            offset: 0,
            seq,
            skipped: seq - first,
        })
    }

    fn open_tls12_aead<'a>(
        &self,
        header: RecordHeader,
        fragment: &'a mut [u8],
        first: u64,
        last: u64,
    ) -> Result<Opened<'a>, OpenError> {
        let len = fragment.len();
        if len > MAX_CIPHERTEXT_BYTES {
            return Err(OpenError::TooLong { len });
        }
        // RFC 5288 §3: GCM records start with the 8-byte explicit nonce; RFC 7905 §2:
        // ChaCha20 records carry none (nonce = IV ⊕ sequence, as in TLS 1.3).
        let explicit = match self.cipher {
            Cipher::ChaCha20Poly1305(_) => 0,
            _ => 8,
        };
        let Some(body_len) = len.checked_sub(explicit + TAG_BYTES) else {
            return Err(OpenError::TooShort { len });
        };
        let (explicit_nonce, rest) = fragment.split_at_mut(explicit);
        let (body, tag) = rest.split_at_mut(body_len);
        let tag = aes_gcm::Tag::clone_from_slice(tag);
        let seq = (first..=last)
            .find(|&seq| {
                let nonce = if explicit == 0 {
                    xor_nonce(self.iv.as_slice(), seq)
                } else {
                    let mut n = [0u8; 12];
                    if let (Some(salt), Some(tail)) = (n.get_mut(..4), self.iv.as_slice().get(..4))
                    {
                        salt.copy_from_slice(tail);
                    }
                    if let Some(e) = n.get_mut(4..) {
                        e.copy_from_slice(explicit_nonce);
                    }
                    n
                };
                let aad = tls12_aad(seq, header, body_len);
                self.aead_open(&nonce, &aad, body, &tag)
            })
            .ok_or(OpenError::Authentication { first, last })?;
        let body: &'a [u8] = body;
        Ok(Opened {
            content_type: header.content_type,
            plaintext: body,
            offset: explicit,
            seq,
            skipped: seq - first,
        })
    }

    fn open_cbc<'a>(
        &self,
        header: RecordHeader,
        fragment: &'a mut [u8],
        first: u64,
        last: u64,
    ) -> Result<Opened<'a>, OpenError> {
        let Cipher::AesCbc { key, mac, mac_key } = &self.cipher else {
            return Err(OpenError::Authentication { first, last });
        };
        let len = fragment.len();
        if len > MAX_CIPHERTEXT_BYTES {
            return Err(OpenError::TooLong { len });
        }
        let mac_len = mac.tag_len();
        if self.encrypt_then_mac {
            // RFC 7366 §3: IV ‖ ciphertext ‖ MAC, the MAC over seq ‖ type ‖ version ‖
            // length(IV ‖ ciphertext) ‖ IV ‖ ciphertext; then decrypt.
            let Some(enc_len) = len.checked_sub(mac_len).filter(|&n| n >= 32) else {
                return Err(OpenError::TooShort { len });
            };
            if !enc_len.is_multiple_of(16) {
                return Err(OpenError::NotBlockAligned { len: enc_len });
            }
            let (enc, tag) = fragment.split_at_mut(enc_len);
            let seq = (first..=last)
                .find(|&seq| {
                    let aad = tls12_aad(seq, header, enc_len);
                    verify_mac(*mac, mac_key.as_slice(), &aad, enc, tag)
                })
                .ok_or(OpenError::Authentication { first, last })?;
            let (iv, body) = enc.split_at_mut(16);
            let plain_len = cbc_decrypt(key.as_slice(), iv, body)
                .and_then(|n| unpad(body.get(..n)?))
                .ok_or(OpenError::Authentication { first, last })?;
            let body: &'a [u8] = body;
            return Ok(Opened {
                content_type: header.content_type,
                plaintext: body.get(..plain_len).unwrap_or_default(),
                offset: 16,
                seq,
                skipped: seq - first,
            });
        }
        // RFC 5246 §6.2.3.2: IV ‖ E(plaintext ‖ MAC ‖ padding ‖ padding_length).
        if len < 16 + (mac_len + 1).next_multiple_of(16) {
            return Err(OpenError::TooShort { len });
        }
        if !len.is_multiple_of(16) {
            return Err(OpenError::NotBlockAligned { len });
        }
        let (iv, body) = fragment.split_at_mut(16);
        // Decrypting first is the only way with MAC-then-encrypt; a passive reader has no
        // padding oracle to worry about, so no constant-time dance is needed here.
        let unpadded = cbc_decrypt(key.as_slice(), iv, body)
            .and_then(|n| unpad(body.get(..n)?))
            .ok_or(OpenError::Authentication { first, last })?;
        let Some(plain_len) = unpadded.checked_sub(mac_len) else {
            return Err(OpenError::Authentication { first, last });
        };
        let body: &'a [u8] = body;
        let plaintext = body.get(..plain_len).unwrap_or_default();
        let tag = body.get(plain_len..unpadded).unwrap_or_default();
        let seq = (first..=last)
            .find(|&seq| {
                let aad = tls12_aad(seq, header, plain_len);
                verify_mac(*mac, mac_key.as_slice(), &aad, plaintext, tag)
            })
            .ok_or(OpenError::Authentication { first, last })?;
        Ok(Opened {
            content_type: header.content_type,
            plaintext,
            offset: 16,
            seq,
            skipped: seq - first,
        })
    }

    /// One AEAD attempt; `body` is decrypted in place only when the tag verifies.
    fn aead_open(&self, nonce: &[u8; 12], aad: &[u8], body: &mut [u8], tag: &aes_gcm::Tag) -> bool {
        let nonce = aes_gcm::Nonce::from_slice(nonce);
        match &self.cipher {
            Cipher::Aes128Gcm(c) => c.decrypt_in_place_detached(nonce, aad, body, tag).is_ok(),
            Cipher::Aes256Gcm(c) => c.decrypt_in_place_detached(nonce, aad, body, tag).is_ok(),
            Cipher::ChaCha20Poly1305(c) => {
                c.decrypt_in_place_detached(nonce, aad, body, tag).is_ok()
            }
            Cipher::AesCbc { .. } => false,
        }
    }
}

/// Consecutive failed records after which [`DirectionDecrypter`] stops searching sequence
/// numbers: by then the key is wrong or the stream is lost, and a search per record would
/// multiply the cost of garbage by [`MAX_LOST_RECORDS`].
pub const MAX_SEARCHING_FAILURES: u32 = 4;

/// One direction of a session across its key epochs, in the shape the TLS record layer
/// drives: it hands each protected record in order and says when the epoch changes.
///
/// TLS 1.3 starts on the handshake traffic secret and moves to `*_TRAFFIC_SECRET_0` at
/// [`DirectionDecrypter::to_application`] (after this side's Finished), then to the next
/// generation at each [`DirectionDecrypter::key_update`]. TLS 1.2 has one epoch. After a
/// failed record (or [`DirectionDecrypter::mark_loss`]) the next record is searched for over
/// the next [`MAX_LOST_RECORDS`] sequence numbers, for up to [`MAX_SEARCHING_FAILURES`]
/// failures in a row.
#[derive(Debug)]
pub struct DirectionDecrypter {
    current: RecordDecrypter,
    /// TLS 1.3: the application traffic secret to switch to after the handshake epoch.
    application_secret: Option<KeyBytes>,
    /// Failed records in a row.
    failures: u32,
    /// The caller saw lost bytes since the last record that opened.
    lost: bool,
}

impl DirectionDecrypter {
    /// Wraps a decrypter; `application_secret` is the TLS 1.3 `*_TRAFFIC_SECRET_0` when
    /// `current` runs on a handshake traffic secret.
    #[must_use]
    pub fn new(current: RecordDecrypter, application_secret: Option<KeyBytes>) -> Self {
        DirectionDecrypter {
            current,
            application_secret,
            failures: 0,
            lost: false,
        }
    }

    /// Opens the next record of this direction: `header` as on the wire, `payload` the
    /// fragment after it. Appends the plaintext (TLS 1.3: without padding and inner type)
    /// to `out` and returns the real content type. One copy of the fragment, decrypted in
    /// place at the end of `out`.
    ///
    /// # Errors
    /// [`OpenError`]; `out` is then as it was.
    pub fn open(
        &mut self,
        header: [u8; 5],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<ContentType, OpenError> {
        let header = RecordHeader::parse(&header).ok_or(OpenError::TooShort { len: 0 })?;
        if payload.len() > MAX_CIPHERTEXT_BYTES {
            return Err(OpenError::TooLong { len: payload.len() });
        }
        let start = out.len();
        out.extend_from_slice(payload);
        let fragment = out.get_mut(start..).unwrap_or_default();
        let search = (self.lost || self.failures > 0) && self.failures < MAX_SEARCHING_FAILURES;
        let result = if search {
            self.current.open_after_loss(header, fragment)
        } else {
            self.current.open(header, fragment)
        };
        match result {
            Ok(opened) => {
                let (content_type, offset, len) =
                    (opened.content_type, opened.offset, opened.plaintext.len());
                // The plaintext sits after any explicit nonce or IV: move it to the front.
                if offset > 0 && start + offset + len <= out.len() {
                    out.copy_within(start + offset..start + offset + len, start);
                }
                out.truncate(start + len);
                self.failures = 0;
                self.lost = false;
                Ok(content_type)
            }
            Err(e) => {
                out.truncate(start);
                self.failures = self.failures.saturating_add(1);
                Err(e)
            }
        }
    }

    /// The caller lost bytes of this direction (a TCP gap) and resynchronised on a record
    /// header: the next record may carry a later sequence number.
    pub fn mark_loss(&mut self) {
        self.lost = true;
    }

    /// TLS 1.3: this side sent its Finished; its next records use `*_TRAFFIC_SECRET_0`.
    ///
    /// # Errors
    /// No application secret is known (TLS 1.2, or called twice).
    pub fn to_application(&mut self) -> Result<(), SetupError> {
        let secret = self
            .application_secret
            .take()
            .ok_or(SetupError::Unsupported(
                "a second handshake-to-application switch",
            ))?;
        self.current = RecordDecrypter::tls13(*self.current.suite(), secret.as_slice())?;
        Ok(())
    }

    /// TLS 1.3 KeyUpdate from this side (RFC 8446 §4.6.3).
    ///
    /// # Errors
    /// See [`RecordDecrypter::key_update`].
    pub fn key_update(&mut self) -> Result<(), SetupError> {
        self.current.key_update()
    }

    /// The suite.
    #[must_use]
    pub fn suite(&self) -> &Suite {
        self.current.suite()
    }

    /// Bytes the current keyed cipher holds on the heap ([`RecordDecrypter::cipher_memory`]).
    #[must_use]
    pub fn cipher_memory(&self) -> usize {
        self.current.cipher_memory()
    }
}

/// Both directions of a session, built from a key log's secrets.
#[derive(Debug)]
pub struct SessionDecrypters {
    /// For the records the client sends.
    pub client: DirectionDecrypter,
    /// For the records the server sends.
    pub server: DirectionDecrypter,
}

/// Why a session's records cannot be decrypted although it was looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The key log has no line for this client random.
    #[error("the key log has no secrets for this session")]
    NotInKeyLog,
    /// The key log has some of this session's secrets but not this one.
    #[error("the key log lacks {0} for this session")]
    Missing(&'static str),
    /// The cipher suite cannot be decrypted (named).
    #[error("cipher suite {0} is not supported for decryption")]
    Suite(Unsupported),
    /// The version cannot be decrypted (named).
    #[error("{0} is not supported for decryption")]
    Version(&'static str),
    /// The secrets do not fit the suite.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

impl SessionDecrypters {
    /// Both directions' decrypters for a session that negotiated `version` (0x0303 or
    /// 0x0304, from the ServerHello's supported_versions) and cipher suite `suite_id`, with
    /// the hello randoms; `encrypt_then_mac` is whether both hellos carried RFC 7366's
    /// extension (used by CBC suites only). TLS 1.3 starts on the handshake traffic secrets.
    ///
    /// # Errors
    /// [`KeysError`] names what is missing or unsupported.
    pub fn from_key_log(
        log: &KeyLog,
        version: u16,
        suite_id: u16,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        encrypt_then_mac: bool,
    ) -> Result<SessionDecrypters, KeysError> {
        match version {
            0x0303 | 0x0304 => {}
            0x0302 => return Err(KeysError::Version("TLS 1.1 (MD5/SHA-1 PRF)")),
            0x0301 => return Err(KeysError::Version("TLS 1.0 (MD5/SHA-1 PRF)")),
            0x0300 => return Err(KeysError::Version("SSL 3.0")),
            _ => return Err(KeysError::Version("this TLS version")),
        }
        let suite = Suite::from_id(suite_id).map_err(KeysError::Suite)?;
        let tls13 = version == 0x0304;
        if tls13 != (suite.version == Version::Tls13) {
            return Err(KeysError::Suite(Unsupported { id: suite_id }));
        }
        let keys = log
            .get(&ClientRandom(*client_random))
            .ok_or(KeysError::NotInKeyLog)?;
        if tls13 {
            let need = |k: Option<KeyBytes>, label| k.ok_or(KeysError::Missing(label));
            let ch = need(
                keys.client_handshake_traffic_secret,
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            )?;
            let sh = need(
                keys.server_handshake_traffic_secret,
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            )?;
            let ca = need(keys.client_traffic_secret_0, "CLIENT_TRAFFIC_SECRET_0")?;
            let sa = need(keys.server_traffic_secret_0, "SERVER_TRAFFIC_SECRET_0")?;
            Ok(SessionDecrypters {
                client: DirectionDecrypter::new(
                    RecordDecrypter::tls13(suite, ch.as_slice())?,
                    Some(ca),
                ),
                server: DirectionDecrypter::new(
                    RecordDecrypter::tls13(suite, sh.as_slice())?,
                    Some(sa),
                ),
            })
        } else {
            let master = keys
                .master_secret
                .ok_or(KeysError::Missing("CLIENT_RANDOM"))?;
            Self::tls12(
                suite,
                master.as_slice(),
                client_random,
                server_random,
                encrypt_then_mac,
            )
        }
    }

    /// Both directions' decrypters for a TLS 1.2 session from its master secret (a key log's
    /// `CLIENT_RANDOM`, or an earlier connection's when this one resumed its session): the
    /// key block comes from the master secret and this connection's randoms.
    ///
    /// # Errors
    /// [`KeysError::Setup`] when the master secret does not fit the suite.
    pub fn tls12(
        suite: Suite,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        encrypt_then_mac: bool,
    ) -> Result<SessionDecrypters, KeysError> {
        let block = keyschedule::tls12_key_block(&suite, master, client_random, server_random)
            .map_err(SetupError::from)?;
        Ok(SessionDecrypters {
            client: DirectionDecrypter::new(
                RecordDecrypter::tls12(suite, &block.client, encrypt_then_mac)?,
                None,
            ),
            server: DirectionDecrypter::new(
                RecordDecrypter::tls12(suite, &block.server, encrypt_then_mac)?,
                None,
            ),
        })
    }

    /// The decrypter for a TLS 1.3 session's 0-RTT records (`CLIENT_EARLY_TRAFFIC_SECRET`),
    /// sealed with the suite `suite_id` the ServerHello chose (RFC 8446 §4.2.10: the
    /// resumed session's); `None` when the key log lacks the secret or the suite is not
    /// TLS 1.3.
    #[must_use]
    pub fn early_from_key_log(
        log: &KeyLog,
        suite_id: u16,
        client_random: &[u8; 32],
    ) -> Option<DirectionDecrypter> {
        let suite = Suite::from_id(suite_id).ok()?;
        if suite.version != Version::Tls13 {
            return None;
        }
        let secret = log
            .get(&ClientRandom(*client_random))?
            .client_early_traffic_secret?;
        let current = RecordDecrypter::tls13(suite, secret.as_slice()).ok()?;
        Some(DirectionDecrypter::new(current, None))
    }

    /// The suite of a TLS 1.2 session, checked as [`SessionDecrypters::from_key_log`] does.
    ///
    /// # Errors
    /// [`KeysError::Version`] or [`KeysError::Suite`] when it cannot be decrypted.
    pub fn tls12_suite(version: u16, suite_id: u16) -> Result<Suite, KeysError> {
        if version != 0x0303 {
            return Err(KeysError::Version("this TLS version"));
        }
        let suite = Suite::from_id(suite_id).map_err(KeysError::Suite)?;
        if suite.version == Version::Tls13 {
            return Err(KeysError::Suite(Unsupported { id: suite_id }));
        }
        Ok(suite)
    }
}

fn aead(suite: &Suite, key: &[u8]) -> Result<Cipher, SetupError> {
    let bad = SetupError::KeyLength { suite: *suite };
    Ok(match (suite.protection, key.len()) {
        (Protection::AesGcm, 16) => {
            Cipher::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).map_err(|_| bad)?))
        }
        (Protection::AesGcm, 32) => {
            Cipher::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).map_err(|_| bad)?))
        }
        (Protection::ChaCha20Poly1305, 32) => Cipher::ChaCha20Poly1305(Box::new(
            ChaCha20Poly1305::new_from_slice(key).map_err(|_| bad)?,
        )),
        _ => return Err(bad),
    })
}

/// The record header as TLS 1.3 authenticates it, with the fragment's real length.
fn header_bytes(header: RecordHeader, len: usize) -> [u8; 5] {
    let [v0, v1] = header.version.to_be_bytes();
    let [l0, l1] = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    [header.content_type.0, v0, v1, l0, l1]
}

/// TLS 1.2 additional data / MAC prefix: seq_num ‖ type ‖ version ‖ length (RFC 5246 §6.2.3).
fn tls12_aad(seq: u64, header: RecordHeader, len: usize) -> [u8; 13] {
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8..].copy_from_slice(&header_bytes(header, len));
    aad
}

/// `iv ⊕ (0⁴ ‖ seq as 64-bit big-endian)` (RFC 8446 §5.3, RFC 7905 §2).
fn xor_nonce(iv: &[u8], seq: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    for (n, i) in nonce.iter_mut().zip(iv) {
        *n = *i;
    }
    for (n, s) in nonce.iter_mut().skip(4).zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

/// AES-CBC decrypt of `body` in place with `iv`; the decrypted length (= `body.len()`), or
/// `None` when the key length is not AES-128/256 or the body is not block-aligned.
fn cbc_decrypt(key: &[u8], iv: &[u8], body: &mut [u8]) -> Option<usize> {
    use aes::cipher::block_padding::NoPadding;
    let n = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(body)
            .ok()?
            .len(),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(body)
            .ok()?
            .len(),
        _ => return None,
    };
    Some(n)
}

/// TLS CBC padding (RFC 5246 §6.2.3.2): the last byte is `padding_length`, and that many
/// bytes before it all equal it. Returns the length without the padding.
fn unpad(body: &[u8]) -> Option<usize> {
    let (&pad, rest) = body.split_last()?;
    let pad = usize::from(pad);
    let keep = rest.len().checked_sub(pad)?;
    rest.get(keep..)?
        .iter()
        .all(|&b| usize::from(b) == pad)
        .then_some(keep)
}

fn verify_mac(alg: MacAlg, key: &[u8], aad: &[u8], data: &[u8], tag: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(
        key: &[u8],
        aad: &[u8],
        data: &[u8],
        tag: &[u8],
    ) -> bool {
        let Ok(mut m) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
            return false;
        };
        m.update(aad);
        m.update(data);
        m.verify_slice(tag).is_ok()
    }
    match alg {
        MacAlg::Sha1 => check::<Hmac<Sha1>>(key, aad, data, tag),
        MacAlg::Sha256 => check::<Hmac<Sha256>>(key, aad, data, tag),
        MacAlg::Sha384 => check::<Hmac<Sha384>>(key, aad, data, tag),
    }
}

/// Encryption, the mirror image of each decryption path, built from the same crates: it lets
/// tests, the fuzz targets and the benchmark make records for every suite. Not for sending
/// anything: it uses predictable CBC IVs.
#[doc(hidden)]
pub mod testing {
    use aes::cipher::{BlockEncryptMut, KeyIvInit};
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
    use chacha20poly1305::ChaCha20Poly1305;
    use hmac::{Hmac, Mac};

    use super::{header_bytes, tls12_aad, xor_nonce, ContentType, RecordHeader};
    use crate::tls::keyschedule::{self, Tls12Keys};
    use crate::tls::suite::{MacAlg, Protection, Suite, Version};

    /// Seals records the way a TLS sender would.
    pub struct RecordEncrypter {
        suite: Suite,
        key: Vec<u8>,
        iv: Vec<u8>,
        mac_key: Vec<u8>,
        encrypt_then_mac: bool,
        /// Next sequence number.
        pub seq: u64,
    }

    impl RecordEncrypter {
        /// TLS 1.3 sender from a traffic secret; `None` when the key schedule refuses it.
        #[must_use]
        pub fn tls13(suite: Suite, secret: &[u8]) -> Option<Self> {
            let k = keyschedule::tls13_traffic_keys(&suite, secret).ok()?;
            Some(RecordEncrypter {
                suite,
                key: k.key.as_slice().to_vec(),
                iv: k.iv.as_slice().to_vec(),
                mac_key: Vec::new(),
                encrypt_then_mac: false,
                seq: 0,
            })
        }

        /// TLS 1.2 sender from one direction of a key block.
        #[must_use]
        pub fn tls12(suite: Suite, keys: &Tls12Keys, encrypt_then_mac: bool) -> Self {
            RecordEncrypter {
                suite,
                key: keys.key.as_slice().to_vec(),
                iv: keys.iv.as_slice().to_vec(),
                mac_key: keys.mac_key.as_slice().to_vec(),
                encrypt_then_mac,
                seq: 0,
            }
        }

        /// A whole record (header + fragment) carrying `plaintext` of type `content_type`;
        /// `None` when the keys do not fit the suite.
        pub fn seal(&mut self, content_type: ContentType, plaintext: &[u8]) -> Option<Vec<u8>> {
            let seq = self.seq;
            self.seq += 1;
            let plain_header = RecordHeader {
                content_type,
                version: 0x0303,
            };
            let (header, fragment) = match (self.suite.version, self.suite.protection) {
                (Version::Tls13, _) => {
                    let mut body = plaintext.to_vec();
                    body.push(content_type.0);
                    let outer = RecordHeader {
                        content_type: ContentType::APPLICATION_DATA,
                        version: 0x0303,
                    };
                    let aad = header_bytes(outer, body.len() + 16);
                    let tag = self.aead_seal(&xor_nonce(&self.iv, seq), &aad, &mut body)?;
                    body.extend_from_slice(&tag);
                    (outer, body)
                }
                (Version::Tls12, Protection::ChaCha20Poly1305) => {
                    let mut body = plaintext.to_vec();
                    let aad = tls12_aad(seq, plain_header, body.len());
                    let tag = self.aead_seal(&xor_nonce(&self.iv, seq), &aad, &mut body)?;
                    body.extend_from_slice(&tag);
                    (plain_header, body)
                }
                (Version::Tls12, Protection::AesGcm) => {
                    let mut nonce = [0u8; 12];
                    let explicit = seq.to_be_bytes();
                    for (n, b) in nonce.iter_mut().zip(self.iv.iter().chain(&explicit)) {
                        *n = *b;
                    }
                    let mut body = plaintext.to_vec();
                    let aad = tls12_aad(seq, plain_header, body.len());
                    let tag = self.aead_seal(&nonce, &aad, &mut body)?;
                    let mut out = explicit.to_vec();
                    out.extend_from_slice(&body);
                    out.extend_from_slice(&tag);
                    (plain_header, out)
                }
                (Version::Tls12, Protection::AesCbc(mac)) => {
                    let iv: Vec<u8> = (0..16u8).map(|i| i ^ seq.to_be_bytes()[7]).collect();
                    let out = if self.encrypt_then_mac {
                        let mut enc = iv.clone();
                        enc.extend_from_slice(&self.cbc_encrypt(&iv, plaintext.to_vec())?);
                        let aad = tls12_aad(seq, plain_header, enc.len());
                        let tag = self.mac(mac, &aad, &enc)?;
                        enc.extend_from_slice(&tag);
                        enc
                    } else {
                        let aad = tls12_aad(seq, plain_header, plaintext.len());
                        let mut body = plaintext.to_vec();
                        body.extend_from_slice(&self.mac(mac, &aad, plaintext)?);
                        let mut out = iv.clone();
                        out.extend_from_slice(&self.cbc_encrypt(&iv, body)?);
                        out
                    };
                    (plain_header, out)
                }
            };
            let mut record = header_bytes(header, fragment.len()).to_vec();
            record.extend_from_slice(&fragment);
            Some(record)
        }

        fn aead_seal(&self, nonce: &[u8; 12], aad: &[u8], body: &mut [u8]) -> Option<Vec<u8>> {
            let nonce = aes_gcm::Nonce::from_slice(nonce);
            let tag = match (self.suite.protection, self.key.len()) {
                (Protection::AesGcm, 16) => Aes128Gcm::new_from_slice(&self.key)
                    .ok()?
                    .encrypt_in_place_detached(nonce, aad, body),
                (Protection::AesGcm, 32) => Aes256Gcm::new_from_slice(&self.key)
                    .ok()?
                    .encrypt_in_place_detached(nonce, aad, body),
                _ => ChaCha20Poly1305::new_from_slice(&self.key)
                    .ok()?
                    .encrypt_in_place_detached(nonce, aad, body),
            };
            tag.ok().map(|t| t.to_vec())
        }

        fn cbc_encrypt(&self, iv: &[u8], mut body: Vec<u8>) -> Option<Vec<u8>> {
            use aes::cipher::block_padding::NoPadding;
            // TLS padding: padding_length + 1 bytes, each equal to padding_length.
            let pad = 15 - (body.len() % 16);
            body.extend(std::iter::repeat_n(u8::try_from(pad).ok()?, pad + 1));
            let n = body.len();
            if self.key.len() == 16 {
                cbc::Encryptor::<aes::Aes128>::new_from_slices(&self.key, iv)
                    .ok()?
                    .encrypt_padded_mut::<NoPadding>(&mut body, n)
                    .ok()?;
            } else {
                cbc::Encryptor::<aes::Aes256>::new_from_slices(&self.key, iv)
                    .ok()?
                    .encrypt_padded_mut::<NoPadding>(&mut body, n)
                    .ok()?;
            }
            Some(body)
        }

        fn mac(&self, alg: MacAlg, aad: &[u8], data: &[u8]) -> Option<Vec<u8>> {
            fn run<M: Mac + KeyInit>(key: &[u8], aad: &[u8], data: &[u8]) -> Option<Vec<u8>> {
                let mut m = <M as KeyInit>::new_from_slice(key).ok()?;
                m.update(aad);
                m.update(data);
                Some(m.finalize().into_bytes().to_vec())
            }
            match alg {
                MacAlg::Sha1 => run::<Hmac<sha1::Sha1>>(&self.mac_key, aad, data),
                MacAlg::Sha256 => run::<Hmac<sha2::Sha256>>(&self.mac_key, aad, data),
                MacAlg::Sha384 => run::<Hmac<sha2::Sha384>>(&self.mac_key, aad, data),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::RecordEncrypter;
    use super::*;
    use crate::tls::keyschedule::tests::hex;
    use crate::tls::keyschedule::tls12_key_block;

    fn suite(id: u16) -> Suite {
        Suite::from_id(id).unwrap()
    }

    /// Opens a whole record (header + fragment) with `d`.
    fn open_record(
        d: &mut RecordDecrypter,
        record: &[u8],
    ) -> Result<(ContentType, Vec<u8>, u64), OpenError> {
        let header = RecordHeader::parse(record).unwrap();
        let mut fragment = record[5..].to_vec();
        d.open(header, &mut fragment)
            .map(|o| (o.content_type, o.plaintext.to_vec(), o.skipped))
    }

    // RFC 8448 §3: real records of the simple 1-RTT handshake, TLS_AES_128_GCM_SHA256.
    #[test]
    fn rfc8448_records_decrypt() {
        let s = suite(0x1301);
        // {client} Finished under the client handshake traffic secret.
        let mut client_hs = RecordDecrypter::tls13(
            s,
            &hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"),
        )
        .unwrap();
        let finished = hex("170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546");
        let (t, plain, _) = open_record(&mut client_hs, &finished).unwrap();
        assert_eq!(t, ContentType::HANDSHAKE);
        assert_eq!(plain.len(), 36);
        assert_eq!(plain[..4], [20, 0, 0, 32], "Finished, 32-byte verify_data");

        // {client} application data (0x00..0x31) then close_notify, seq 0 and 1.
        let mut client_app = RecordDecrypter::tls13(
            s,
            &hex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"),
        )
        .unwrap();
        let data = hex("1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4");
        let (t, plain, _) = open_record(&mut client_app, &data).unwrap();
        assert_eq!(t, ContentType::APPLICATION_DATA);
        assert_eq!(plain, (0u8..50).collect::<Vec<_>>());
        let alert = hex("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3");
        let (t, plain, _) = open_record(&mut client_app, &alert).unwrap();
        assert_eq!((t, plain), (ContentType::ALERT, vec![1, 0]), "close_notify");

        // {server} NewSessionTicket (seq 0) then application data (seq 1).
        let mut server_app = RecordDecrypter::tls13(
            s,
            &hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"),
        )
        .unwrap();
        let ticket = hex("17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f");
        let (t, plain, _) = open_record(&mut server_app, &ticket).unwrap();
        assert_eq!(
            (t, plain[0], plain.len()),
            (ContentType::HANDSHAKE, 4, 205),
            "NewSessionTicket"
        );
        let data = hex("17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d");
        let (_, plain, _) = open_record(&mut server_app, &data).unwrap();
        assert_eq!(plain, (0u8..50).collect::<Vec<_>>());
    }

    #[test]
    fn rfc8448_record_out_of_order_fails_then_recovers_after_loss() {
        let s = suite(0x1301);
        let secret = hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
        let data = hex("17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d");
        // The ticket record (seq 0) was lost: plain open expects seq 0 and fails.
        let mut d = RecordDecrypter::tls13(s, &secret).unwrap();
        let header = RecordHeader::parse(&data).unwrap();
        let mut fragment = data[5..].to_vec();
        assert_eq!(
            d.open(header, &mut fragment),
            Err(OpenError::Authentication { first: 0, last: 0 })
        );
        assert_eq!(
            fragment,
            data[5..],
            "a failed AEAD attempt leaves the ciphertext intact"
        );
        // Told about the loss, it searches and finds seq 1.
        let mut d = RecordDecrypter::tls13(s, &secret).unwrap();
        let opened = d.open_after_loss(header, &mut fragment).unwrap();
        assert_eq!((opened.seq, opened.skipped), (1, 1));
        assert_eq!(d.next_seq(), 2);
    }

    const PLAINTEXTS: &[&[u8]] = &[
        b"",
        b"G",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0u8; 15],
        &[0xabu8; 16],
        &[7u8; 16384],
    ];

    #[test]
    fn every_suite_round_trips_and_rejects_a_flipped_bit() {
        let all = [
            0x1301, 0x1302, 0x1303, 0x009c, 0x009d, 0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca8, 0xcca9,
            0xccaa, 0x002f, 0x0035, 0x003c, 0x003d, 0xc013, 0xc014, 0xc027, 0xc028,
        ];
        for id in all {
            let s = suite(id);
            for etm in [false, true] {
                if etm && !matches!(s.protection, Protection::AesCbc(_)) {
                    continue;
                }
                let (mut enc, mut dec) = match s.version {
                    Version::Tls13 => {
                        let secret = vec![0x5au8; s.hash.output_len()];
                        (
                            RecordEncrypter::tls13(s, &secret).unwrap(),
                            RecordDecrypter::tls13(s, &secret).unwrap(),
                        )
                    }
                    Version::Tls12 => {
                        let kb = tls12_key_block(&s, &[0x33; 48], &[1; 32], &[2; 32]).unwrap();
                        (
                            RecordEncrypter::tls12(s, &kb.server, etm),
                            RecordDecrypter::tls12(s, &kb.server, etm).unwrap(),
                        )
                    }
                };
                for &p in PLAINTEXTS {
                    let record = enc.seal(ContentType::APPLICATION_DATA, p).unwrap();
                    let (t, plain, _) = open_record(&mut dec, &record)
                        .unwrap_or_else(|e| panic!("{s} etm={etm} len={}: {e}", p.len()));
                    assert_eq!(
                        (t, plain.as_slice()),
                        (ContentType::APPLICATION_DATA, p),
                        "{s}"
                    );
                }
                // Each byte position class: header, start, middle, tag.
                let record = enc
                    .seal(ContentType::HANDSHAKE, b"hello, world, hello, world, hello")
                    .unwrap();
                for pos in [0, 2, 5, record.len() / 2, record.len() - 1] {
                    let mut bad = record.clone();
                    bad[pos] ^= 0x01;
                    let before = dec.next_seq();
                    assert!(
                        open_record(&mut dec, &bad).is_err(),
                        "{s} etm={etm} flipped byte {pos}"
                    );
                    assert_eq!(
                        dec.next_seq(),
                        before + 1,
                        "a failed record still uses a number"
                    );
                    dec.seq = before;
                }
                let (t, _, _) = open_record(&mut dec, &record).unwrap();
                assert_eq!(
                    t,
                    ContentType::HANDSHAKE,
                    "{s}: unflipped record still opens"
                );
            }
        }
    }

    #[test]
    fn lost_records_are_skipped_within_the_bound_only() {
        for id in [0x1303, 0xc02f, 0xcca8, 0xc014] {
            let s = suite(id);
            let kb = tls12_key_block(&s, &[9; 48], &[1; 32], &[2; 32]).ok();
            let secret = vec![1u8; s.hash.output_len()];
            let make = || match kb {
                Some(kb) => (
                    RecordEncrypter::tls12(s, &kb.client, false),
                    RecordDecrypter::tls12(s, &kb.client, false).unwrap(),
                ),
                None => (
                    RecordEncrypter::tls13(s, &secret).unwrap(),
                    RecordDecrypter::tls13(s, &secret).unwrap(),
                ),
            };
            let (mut enc, mut dec) = make();
            for lost in [0, 1, 5, MAX_LOST_RECORDS] {
                enc.seq += lost;
                let record = enc
                    .seal(ContentType::APPLICATION_DATA, b"after the gap")
                    .unwrap();
                let header = RecordHeader::parse(&record).unwrap();
                let mut fragment = record[5..].to_vec();
                let opened = dec
                    .open_after_loss(header, &mut fragment)
                    .unwrap_or_else(|e| panic!("{s} lost {lost}: {e}"));
                assert_eq!(
                    (opened.skipped, opened.plaintext),
                    (lost, &b"after the gap"[..])
                );
            }
            enc.seq += MAX_LOST_RECORDS + 1;
            let record = enc.seal(ContentType::APPLICATION_DATA, b"too far").unwrap();
            let header = RecordHeader::parse(&record).unwrap();
            let mut fragment = record[5..].to_vec();
            assert!(
                matches!(
                    dec.open_after_loss(header, &mut fragment),
                    Err(OpenError::Authentication { .. })
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn key_update_switches_to_the_next_secret() {
        let s = suite(0x1301);
        let secret = [3u8; 32];
        let next = keyschedule::tls13_next_secret(&s, &secret).unwrap();
        let mut dec = RecordDecrypter::tls13(s, &secret).unwrap();
        let mut old = RecordEncrypter::tls13(s, &secret).unwrap();
        let mut new = RecordEncrypter::tls13(s, next.as_slice()).unwrap();
        assert!(open_record(
            &mut dec,
            &old.seal(ContentType::HANDSHAKE, &[24, 0, 0, 1, 0]).unwrap()
        )
        .is_ok());
        dec.key_update().unwrap();
        assert_eq!(dec.next_seq(), 0);
        let (_, plain, _) = open_record(
            &mut dec,
            &new.seal(ContentType::APPLICATION_DATA, b"new keys")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(plain, b"new keys");
        let kb = tls12_key_block(&suite(0xc02f), &[0; 48], &[0; 32], &[0; 32]).unwrap();
        let mut tls12 = RecordDecrypter::tls12(suite(0xc02f), &kb.client, false).unwrap();
        assert!(matches!(
            tls12.key_update(),
            Err(SetupError::Unsupported(_))
        ));
    }

    #[test]
    fn malformed_records_are_typed_errors() {
        let s = suite(0x1301);
        let mut d = RecordDecrypter::tls13(s, &[0; 32]).unwrap();
        let h = RecordHeader {
            content_type: ContentType::APPLICATION_DATA,
            version: 0x0303,
        };
        assert_eq!(
            d.open(h, &mut [0u8; 15]),
            Err(OpenError::TooShort { len: 15 })
        );
        let mut big = vec![0u8; MAX_TLS13_CIPHERTEXT_BYTES + 1];
        assert!(matches!(
            d.open(h, &mut big),
            Err(OpenError::TooLong { .. })
        ));
        // An inner plaintext of only padding has no content type.
        let mut enc = RecordEncrypter::tls13(s, &[0; 32]).unwrap();
        enc.seq = d.next_seq();
        let mut record = enc.seal(ContentType(0), b"").unwrap();
        let header = RecordHeader::parse(&record).unwrap();
        assert_eq!(
            d.open(header, &mut record[5..]),
            Err(OpenError::NoContentType)
        );

        let cbc = suite(0xc014);
        let kb = tls12_key_block(&cbc, &[0; 48], &[0; 32], &[0; 32]).unwrap();
        let mut d = RecordDecrypter::tls12(cbc, &kb.client, false).unwrap();
        assert_eq!(
            d.open(h, &mut [0u8; 65]),
            Err(OpenError::NotBlockAligned { len: 65 })
        );
        assert!(matches!(
            d.open(h, &mut [0u8; 32]),
            Err(OpenError::TooShort { .. })
        ));
        assert!(matches!(
            d.open(h, &mut [0u8; 64]),
            Err(OpenError::Authentication { .. })
        ));
        let mut d = RecordDecrypter::tls12(
            suite(0xc02f),
            &tls12_key_block(&suite(0xc02f), &[0; 48], &[0; 32], &[0; 32])
                .unwrap()
                .client,
            false,
        )
        .unwrap();
        assert!(matches!(
            d.open(h, &mut [0u8; 23]),
            Err(OpenError::TooShort { .. })
        ));
        assert!(matches!(
            d.open(h, &mut [0u8; 24]),
            Err(OpenError::Authentication { .. })
        ));
        // Keys for another suite are refused up front.
        assert!(matches!(
            RecordDecrypter::tls12(suite(0xc030), &kb.client, false),
            Err(SetupError::KeyLength { .. })
        ));
        assert!(RecordDecrypter::tls13(suite(0x1302), &[0; 32]).is_err());
        assert_eq!(
            format!("{d:?}"),
            "RecordDecrypter { suite: \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\", seq: 2, .. }"
        );
    }

    /// The RFC 8448 §3 secrets as a key log, under an arbitrary client random.
    fn rfc8448_key_log() -> KeyLog {
        let cr = "11".repeat(32);
        let text = format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21
SERVER_HANDSHAKE_TRAFFIC_SECRET {cr} b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38
CLIENT_TRAFFIC_SECRET_0 {cr} 9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5
SERVER_TRAFFIC_SECRET_0 {cr} a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643
"
        );
        let mut log = KeyLog::default();
        assert!(log.add_text(text.as_bytes()).is_empty());
        log
    }

    fn split(record: &[u8]) -> ([u8; 5], &[u8]) {
        (record[..5].try_into().unwrap(), &record[5..])
    }

    #[test]
    fn a_session_from_the_key_log_walks_its_tls13_epochs() {
        let log = rfc8448_key_log();
        let mut session =
            SessionDecrypters::from_key_log(&log, 0x0304, 0x1301, &[0x11; 32], &[0; 32], false)
                .unwrap();
        let mut out = b"kept".to_vec();
        let finished = hex("170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546");
        let (h, p) = split(&finished);
        assert_eq!(
            session.client.open(h, p, &mut out),
            Ok(ContentType::HANDSHAKE)
        );
        assert_eq!(
            &out[..8],
            b"kept\x14\0\0\x20",
            "appended after what was there"
        );
        session.client.to_application().unwrap();
        assert!(session.client.to_application().is_err(), "only once");
        let data = hex("1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4");
        let (h, p) = split(&data);
        let mut out = Vec::new();
        assert_eq!(
            session.client.open(h, p, &mut out),
            Ok(ContentType::APPLICATION_DATA)
        );
        assert_eq!(out, (0u8..50).collect::<Vec<_>>());
        // A failed record leaves `out` alone and makes the next one search: the server's
        // NewSessionTicket (seq 0) is lost, its data record (seq 1) still opens.
        session.server.to_application().unwrap();
        let data = hex("17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d");
        let (h, p) = split(&data);
        let mut garbage = p.to_vec();
        garbage[3] ^= 1;
        let mut out = b"x".to_vec();
        assert!(session.server.open(h, &garbage, &mut out).is_err());
        assert_eq!(out, b"x");
        // seq 0 was used by the garbage, so the real seq-1 record opens without a search...
        assert_eq!(
            session.server.open(h, p, &mut out),
            Ok(ContentType::APPLICATION_DATA)
        );
        assert_eq!(out.len(), 51);
    }

    #[test]
    fn lost_bytes_make_the_next_record_search() {
        let log = rfc8448_key_log();
        let mut session =
            SessionDecrypters::from_key_log(&log, 0x0304, 0x1301, &[0x11; 32], &[0; 32], false)
                .unwrap();
        session.server.to_application().unwrap();
        let data = hex("17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d");
        let (h, p) = split(&data);
        let mut out = Vec::new();
        session.server.mark_loss();
        assert_eq!(
            session.server.open(h, p, &mut out),
            Ok(ContentType::APPLICATION_DATA),
            "seq 1 found"
        );
    }

    #[test]
    fn a_wrong_key_stops_searching_after_a_few_failures() {
        let s = suite(0x1301);
        let mut enc = RecordEncrypter::tls13(s, &[1; 32]).unwrap();
        let mut dir = DirectionDecrypter::new(RecordDecrypter::tls13(s, &[2; 32]).unwrap(), None);
        for i in 0..10u64 {
            let record = enc.seal(ContentType::APPLICATION_DATA, b"x").unwrap();
            let (h, p) = split(&record);
            let err = dir.open(h, p, &mut Vec::new()).unwrap_err();
            let searched = matches!(err, OpenError::Authentication { first, last } if last > first);
            assert_eq!(
                searched,
                (1..u64::from(MAX_SEARCHING_FAILURES)).contains(&i),
                "record {i}: {err}"
            );
        }
    }

    #[test]
    fn tls12_sessions_come_from_the_master_secret_and_cbc_needs_the_etm_flag() {
        let mut log = KeyLog::default();
        let cr = [0x22u8; 32];
        let sr = [0x33u8; 32];
        let master = [0x44u8; 48];
        let text = format!("CLIENT_RANDOM {} {}\n", "22".repeat(32), "44".repeat(48));
        assert!(log.add_text(text.as_bytes()).is_empty());
        for (id, etm) in [
            (0xc02f, false),
            (0xcca8, false),
            (0xc013, true),
            (0xc028, false),
        ] {
            let s = suite(id);
            let block = tls12_key_block(&s, &master, &cr, &sr).unwrap();
            let mut client = RecordEncrypter::tls12(s, &block.client, etm);
            let mut server = RecordEncrypter::tls12(s, &block.server, etm);
            let mut session =
                SessionDecrypters::from_key_log(&log, 0x0303, id, &cr, &sr, etm).unwrap();
            for (enc, dir, text) in [
                (
                    &mut client,
                    &mut session.client,
                    &b"GET /ws HTTP/1.1\r\n"[..],
                ),
                (
                    &mut server,
                    &mut session.server,
                    &b"HTTP/1.1 101 Switching Protocols\r\n"[..],
                ),
            ] {
                let record = enc.seal(ContentType::APPLICATION_DATA, text).unwrap();
                let (h, p) = split(&record);
                let mut out = Vec::new();
                assert_eq!(
                    dir.open(h, p, &mut out),
                    Ok(ContentType::APPLICATION_DATA),
                    "{s}"
                );
                assert_eq!(out, text, "{s}");
            }
            if etm {
                let mut wrong =
                    SessionDecrypters::from_key_log(&log, 0x0303, id, &cr, &sr, false).unwrap();
                let record = client.seal(ContentType::APPLICATION_DATA, b"x").unwrap();
                let (h, p) = split(&record);
                assert!(
                    wrong.client.open(h, p, &mut Vec::new()).is_err(),
                    "{s}: EtM record read as MtE"
                );
            }
        }
    }

    #[test]
    fn what_cannot_be_decrypted_is_named() {
        let log = rfc8448_key_log();
        let look = |version, id, cr: [u8; 32]| {
            SessionDecrypters::from_key_log(&log, version, id, &cr, &[0; 32], false)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(look(0x0304, 0x1301, [0x11; 32]), Ok(()));
        assert_eq!(
            look(0x0304, 0x1301, [0x12; 32]),
            Err("the key log has no secrets for this session".into())
        );
        assert_eq!(
            look(0x0304, 0x1304, [0x11; 32]),
            Err(
                "cipher suite TLS_AES_128_CCM_SHA256 (0x1304) is not supported for decryption"
                    .into()
            )
        );
        assert_eq!(
            look(0x0301, 0xc013, [0x11; 32]),
            Err("TLS 1.0 (MD5/SHA-1 PRF) is not supported for decryption".into())
        );
        assert_eq!(
            look(0x0303, 0xc02f, [0x11; 32]),
            Err("the key log lacks CLIENT_RANDOM for this session".into())
        );
        assert!(
            look(0x0303, 0x1301, [0x11; 32]).is_err(),
            "a TLS 1.3 suite on TLS 1.2"
        );
        // A SHA-384 suite with SHA-256 secrets.
        assert_eq!(
            look(0x0304, 0x1302, [0x11; 32]),
            Err("traffic secret is 32 bytes, TLS_AES_256_GCM_SHA384 needs 48".into())
        );
    }
}
