//! Key derivation: from the secrets a key log holds to the keys and IVs that protect records.
//!
//! - TLS 1.2 (RFC 5246 §5, §6.3): `PRF(master_secret, "key expansion", server_random +
//!   client_random)` with P_SHA256 or P_SHA384 gives the key block, cut into MAC keys, cipher
//!   keys and fixed IVs for each side ([`tls12_key_block`]).
//! - TLS 1.3 (RFC 8446 §7.1, §7.3): `HKDF-Expand-Label(traffic_secret, "key" | "iv", "", L)`
//!   gives a direction's key and IV ([`tls13_traffic_keys`]); `"traffic upd"` gives the next
//!   traffic secret after a KeyUpdate ([`tls13_next_secret`]).
//!
//! These are short compositions of RustCrypto's `hmac`, `hkdf` and `sha2`; no primitive is
//! written here. Keys live in fixed-size arrays, never on the heap, and their `Debug` output
//! is redacted: key material is never printed.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

use super::suite::{HashAlg, Suite, Version};

/// Longest key, IV or secret handled: a SHA-384 secret or MAC key (48 bytes).
pub const MAX_KEY_BYTES: usize = 48;

/// A short byte string of key material (a key, an IV, a MAC key or a secret), at most
/// [`MAX_KEY_BYTES`] long, whose `Debug` never shows the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyBytes {
    len: u8,
    bytes: [u8; MAX_KEY_BYTES],
}

impl KeyBytes {
    /// Copies `bytes`, or `None` when they are longer than [`MAX_KEY_BYTES`].
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<KeyBytes> {
        let mut out = [0u8; MAX_KEY_BYTES];
        out.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(KeyBytes {
            len: u8::try_from(bytes.len()).ok()?,
            bytes: out,
        })
    }

    /// The bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no bytes (a CBC suite's fixed IV, an AEAD suite's MAC key).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyBytes({} bytes, redacted)", self.len)
    }
}

/// Why keys could not be derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The suite belongs to the other TLS version than the function asked for.
    #[error("{suite} is not a TLS {wanted} suite")]
    WrongVersion {
        /// The suite given.
        suite: Suite,
        /// The version the derivation is for ("1.2" or "1.3").
        wanted: &'static str,
    },
    /// A TLS 1.3 secret does not have the length of the suite's hash (a key log line for a
    /// SHA-384 suite applied to a SHA-256 one, or the reverse).
    #[error("traffic secret is {got} bytes, {suite} needs {want}")]
    SecretLength {
        /// The suite given.
        suite: Suite,
        /// The secret's length.
        got: usize,
        /// The hash length the suite needs.
        want: usize,
    },
}

/// One direction's keys for a TLS 1.2 connection, cut from the key block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls12Keys {
    /// HMAC key (CBC suites; empty for AEAD suites).
    pub mac_key: KeyBytes,
    /// Cipher key.
    pub key: KeyBytes,
    /// Fixed IV: the 4-byte GCM salt, the 12-byte ChaCha20 IV, empty for CBC.
    pub iv: KeyBytes,
}

/// Both directions' keys of a TLS 1.2 connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls12KeyBlock {
    /// Keys protecting what the client sends.
    pub client: Tls12Keys,
    /// Keys protecting what the server sends.
    pub server: Tls12Keys,
}

/// One direction's key and IV for a TLS 1.3 traffic secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls13Keys {
    /// AEAD key (16 or 32 bytes).
    pub key: KeyBytes,
    /// 12-byte IV the per-record nonce is formed from.
    pub iv: KeyBytes,
}

/// The TLS 1.2 PRF (RFC 5246 §5): `P_hash(secret, label + seed)` written into `out`.
pub fn tls12_prf(hash: HashAlg, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    match hash {
        HashAlg::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, out),
        HashAlg::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, out),
    }
}

/// `P_hash` (RFC 5246 §5): A(0) = seed, A(i) = HMAC(secret, A(i-1)), output =
/// HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + … (here seed = label + seed).
fn p_hash<M: Mac + hmac::digest::KeyInit + Clone>(
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    out: &mut [u8],
) {
    // HMAC takes keys of any length, so this never fails.
    let Ok(keyed) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else {
        return;
    };
    let mut a = {
        let mut m = keyed.clone();
        m.update(label);
        m.update(seed);
        m.finalize().into_bytes()
    };
    let mut written = 0;
    while written < out.len() {
        let mut m = keyed.clone();
        m.update(&a);
        m.update(label);
        m.update(seed);
        let block = m.finalize().into_bytes();
        let take = block.len().min(out.len() - written);
        if let (Some(dst), Some(src)) = (out.get_mut(written..written + take), block.get(..take)) {
            dst.copy_from_slice(src);
        }
        written += take;
        let mut m = keyed.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
}

/// The TLS 1.2 key block (RFC 5246 §6.3) for `suite` from the 48-byte master secret (the
/// `CLIENT_RANDOM` line of a key log) and the two hello randoms.
///
/// # Errors
/// [`ScheduleError::WrongVersion`] for a TLS 1.3 suite.
pub fn tls12_key_block(
    suite: &Suite,
    master_secret: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Result<Tls12KeyBlock, ScheduleError> {
    if suite.version != Version::Tls12 {
        return Err(ScheduleError::WrongVersion {
            suite: *suite,
            wanted: "1.2",
        });
    }
    let mac = suite.mac_key_len();
    let key = suite.key_len;
    let iv = suite.fixed_iv_len();
    // Largest: 2 × (48 + 32 + 12) bytes.
    let mut block = [0u8; 2 * (MAX_KEY_BYTES + 32 + 12)];
    let need = 2 * (mac + key + iv);
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(server_random);
    seed[32..].copy_from_slice(client_random);
    let out = block.get_mut(..need).unwrap_or_default();
    tls12_prf(suite.hash, master_secret, b"key expansion", &seed, out);
    // client_write_MAC_key, server_write_MAC_key, client_write_key, server_write_key,
    // client_write_IV, server_write_IV, in that order.
    let mut at = 0;
    let mut take = |n: usize| {
        let piece = block.get(at..at + n).and_then(KeyBytes::from_slice);
        at += n;
        piece.unwrap_or(KeyBytes {
            len: 0,
            bytes: [0; MAX_KEY_BYTES],
        })
    };
    let (client_mac, server_mac) = (take(mac), take(mac));
    let (client_key, server_key) = (take(key), take(key));
    let (client_iv, server_iv) = (take(iv), take(iv));
    Ok(Tls12KeyBlock {
        client: Tls12Keys {
            mac_key: client_mac,
            key: client_key,
            iv: client_iv,
        },
        server: Tls12Keys {
            mac_key: server_mac,
            key: server_key,
            iv: server_iv,
        },
    })
}

/// `HKDF-Expand-Label(secret, label, context, out.len())` (RFC 8446 §7.1); `label` without
/// the `"tls13 "` prefix, which is added here.
///
/// Returns `false` (and leaves `out` untouched) when `secret` is shorter than the hash
/// output or `out` is longer than HKDF allows (255 × hash length).
pub fn hkdf_expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> bool {
    // struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255> }
    let full_label_len = 6 + label.len();
    let (Ok(len), Ok(label_len), Ok(context_len)) = (
        u16::try_from(out.len()),
        u8::try_from(full_label_len),
        u8::try_from(context.len()),
    ) else {
        return false;
    };
    let len = len.to_be_bytes();
    let info: [&[u8]; 6] = [
        &len,
        &[label_len],
        b"tls13 ",
        label,
        &[context_len],
        context,
    ];
    match hash {
        HashAlg::Sha256 => {
            Hkdf::<Sha256>::from_prk(secret).is_ok_and(|h| h.expand_multi_info(&info, out).is_ok())
        }
        HashAlg::Sha384 => {
            Hkdf::<Sha384>::from_prk(secret).is_ok_and(|h| h.expand_multi_info(&info, out).is_ok())
        }
    }
}

/// A TLS 1.3 direction's key and IV from its traffic secret (RFC 8446 §7.3):
/// `key = HKDF-Expand-Label(secret, "key", "", key_len)`, `iv = … "iv" … 12`.
///
/// # Errors
/// The suite is not a TLS 1.3 suite, or the secret is not as long as its hash.
pub fn tls13_traffic_keys(suite: &Suite, secret: &[u8]) -> Result<Tls13Keys, ScheduleError> {
    check_tls13(suite, secret)?;
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    let key = key.get_mut(..suite.key_len).unwrap_or_default();
    let derived = hkdf_expand_label(suite.hash, secret, b"key", b"", key)
        && hkdf_expand_label(suite.hash, secret, b"iv", b"", &mut iv);
    match (
        derived,
        KeyBytes::from_slice(key),
        KeyBytes::from_slice(&iv),
    ) {
        (true, Some(key), Some(iv)) => Ok(Tls13Keys { key, iv }),
        _ => Err(ScheduleError::SecretLength {
            suite: *suite,
            got: secret.len(),
            want: suite.hash.output_len(),
        }),
    }
}

/// The traffic secret after a KeyUpdate (RFC 8446 §7.2):
/// `application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length)`.
///
/// # Errors
/// The suite is not a TLS 1.3 suite, or the secret is not as long as its hash.
pub fn tls13_next_secret(suite: &Suite, secret: &[u8]) -> Result<KeyBytes, ScheduleError> {
    check_tls13(suite, secret)?;
    let mut next = [0u8; MAX_KEY_BYTES];
    let next = next.get_mut(..suite.hash.output_len()).unwrap_or_default();
    if hkdf_expand_label(suite.hash, secret, b"traffic upd", b"", next) {
        if let Some(k) = KeyBytes::from_slice(next) {
            return Ok(k);
        }
    }
    Err(ScheduleError::SecretLength {
        suite: *suite,
        got: secret.len(),
        want: suite.hash.output_len(),
    })
}

fn check_tls13(suite: &Suite, secret: &[u8]) -> Result<(), ScheduleError> {
    if suite.version != Version::Tls13 {
        return Err(ScheduleError::WrongVersion {
            suite: *suite,
            wanted: "1.3",
        });
    }
    if secret.len() != suite.hash.output_len() {
        return Err(ScheduleError::SecretLength {
            suite: *suite,
            got: secret.len(),
            want: suite.hash.output_len(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Hex (whitespace ignored) to bytes, for test vectors.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    fn suite(id: u16) -> Suite {
        Suite::from_id(id).unwrap()
    }

    // The TLS 1.2 PRF vectors published on the IETF TLS WG list (tls/current/msg03416),
    // used by BearSSL, Bouncy Castle and others.
    #[test]
    fn prf_p_sha256_vector() {
        let mut out = [0u8; 100];
        tls12_prf(
            HashAlg::Sha256,
            &hex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &hex("a0ba9f936cda311827a6f796ffd5198c"),
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            hex(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a
                 6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab
                 4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701
                 87347b66"
            )
        );
    }

    #[test]
    fn prf_p_sha384_vector() {
        let mut out = [0u8; 148];
        tls12_prf(
            HashAlg::Sha384,
            &hex("b80b733d6ceefcdc71566ea48e5567df"),
            b"test label",
            &hex("cd665cf6a8447dd6ff8b27555edb7465"),
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            hex(
                "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd
                 e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd
                 8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425
                 9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6
                 91c8f3a26854308d5eaa3be85e0990703d73e56f"
            )
        );
    }

    #[test]
    fn key_block_is_cut_in_rfc_5246_order() {
        // The key block is the PRF output; check the cut against a direct PRF call.
        let master = [0x42u8; 48];
        let (cr, sr) = ([1u8; 32], [2u8; 32]);
        let mut seed = sr.to_vec();
        seed.extend_from_slice(&cr);
        for (id, mac, key, iv) in [(0xc02f, 0, 16, 4), (0xcca8, 0, 32, 12), (0xc028, 48, 32, 0)] {
            let s = suite(id);
            let mut raw = vec![0u8; 2 * (mac + key + iv)];
            tls12_prf(s.hash, &master, b"key expansion", &seed, &mut raw);
            let kb = tls12_key_block(&s, &master, &cr, &sr).unwrap();
            let pieces = [
                kb.client.mac_key,
                kb.server.mac_key,
                kb.client.key,
                kb.server.key,
                kb.client.iv,
                kb.server.iv,
            ];
            let joined: Vec<u8> = pieces.iter().flat_map(|p| p.as_slice().to_vec()).collect();
            assert_eq!(joined, raw, "{s}");
            assert_eq!(
                (
                    kb.client.mac_key.len(),
                    kb.client.key.len(),
                    kb.client.iv.len()
                ),
                (mac, key, iv)
            );
        }
        assert!(tls12_key_block(&suite(0x1301), &master, &cr, &sr).is_err());
    }

    // RFC 8448 §3 (Simple 1-RTT Handshake, TLS_AES_128_GCM_SHA256).
    #[test]
    fn rfc8448_traffic_keys() {
        let s = suite(0x1301);
        let cases = [
            // {server} derive write traffic keys for handshake data
            (
                "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
                "3fce516009c21727d0f2e4e86ee403bc",
                "5d313eb2671276ee13000b30",
            ),
            // {client} derive write traffic keys for application data
            (
                "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
                "17422dda596ed5d9acd890e3c63f5051",
                "5b78923dee08579033e523d9",
            ),
        ];
        for (secret, key, iv) in cases {
            let k = tls13_traffic_keys(&s, &hex(secret)).unwrap();
            assert_eq!(k.key.as_slice(), hex(key).as_slice());
            assert_eq!(k.iv.as_slice(), hex(iv).as_slice());
        }
        // The server's Finished key, the third HKDF-Expand-Label of §3, same construction.
        let mut finished = [0u8; 32];
        assert!(hkdf_expand_label(
            HashAlg::Sha256,
            &hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"),
            b"finished",
            b"",
            &mut finished
        ));
        assert_eq!(
            finished.to_vec(),
            hex("008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8")
        );
    }

    #[test]
    fn tls13_secret_of_the_wrong_length_is_refused() {
        let err = tls13_traffic_keys(&suite(0x1302), &[0u8; 32]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "traffic secret is 32 bytes, TLS_AES_256_GCM_SHA384 needs 48"
        );
        assert!(tls13_traffic_keys(&suite(0xc02f), &[0u8; 32]).is_err());
        assert!(tls13_next_secret(&suite(0x1301), &[0u8; 31]).is_err());
    }

    #[test]
    fn key_update_is_expand_label_traffic_upd() {
        let s = suite(0x1303);
        let secret = [7u8; 32];
        let next = tls13_next_secret(&s, &secret).unwrap();
        let mut want = [0u8; 32];
        assert!(hkdf_expand_label(
            HashAlg::Sha256,
            &secret,
            b"traffic upd",
            b"",
            &mut want
        ));
        assert_eq!(next.as_slice(), want.as_slice());
        assert_ne!(next.as_slice(), secret.as_slice());
        assert_eq!(format!("{next:?}"), "KeyBytes(32 bytes, redacted)");
    }
}
