//! Cipher suites wssniff can decrypt: the IANA code point, its name, and the parameters the
//! key schedule and the record decrypter need (AEAD or CBC + HMAC, key and IV sizes, the PRF
//! or HKDF hash).
//!
//! Input: the 16-bit suite a ServerHello selected. Output: a [`Suite`] or, for a suite that
//! cannot be decrypted, [`Unsupported`] carrying its IANA name where known, so the caller can
//! say *which* suite it could not decrypt instead of skipping it silently. Pure table lookups.

use std::fmt;

/// The TLS version a suite is used with: it decides the key schedule and the record format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// TLS 1.2 (RFC 5246): PRF key block, explicit nonces or IVs, plaintext content type.
    Tls12,
    /// TLS 1.3 (RFC 8446): HKDF traffic secrets, nonce = IV ⊕ sequence, inner content type.
    Tls13,
}

/// The hash a suite's PRF (TLS 1.2) or HKDF (TLS 1.3) runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256 (32-byte output).
    Sha256,
    /// SHA-384 (48-byte output).
    Sha384,
}

impl HashAlg {
    /// Output length in bytes, which is also the length of a TLS 1.3 secret on this hash.
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

/// How records are protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protection {
    /// AES-GCM with a 16- or 32-byte key (RFC 5288 for TLS 1.2, RFC 8446 §5.2 for 1.3).
    AesGcm,
    /// ChaCha20-Poly1305 (RFC 7905 for TLS 1.2, RFC 8446 for 1.3).
    ChaCha20Poly1305,
    /// AES-CBC with an HMAC (RFC 5246 §6.2.3.2, MAC-then-encrypt, or RFC 7366 encrypt-then-MAC).
    AesCbc(MacAlg),
}

/// The HMAC of a CBC suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacAlg {
    /// HMAC-SHA1 (`_SHA` suites): 20-byte key and tag.
    Sha1,
    /// HMAC-SHA256 (`_SHA256` suites): 32-byte key and tag.
    Sha256,
    /// HMAC-SHA384 (`_SHA384` suites): 48-byte key and tag.
    Sha384,
}

impl MacAlg {
    /// Length of the MAC key and of the tag, in bytes.
    #[must_use]
    pub fn tag_len(self) -> usize {
        match self {
            MacAlg::Sha1 => 20,
            MacAlg::Sha256 => 32,
            MacAlg::Sha384 => 48,
        }
    }
}

/// A cipher suite wssniff decrypts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Suite {
    /// IANA code point, as in the ServerHello.
    pub id: u16,
    /// IANA name (`TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, …).
    pub name: &'static str,
    /// The version this suite belongs to.
    pub version: Version,
    /// How records are protected.
    pub protection: Protection,
    /// Cipher key length in bytes.
    pub key_len: usize,
    /// The PRF (1.2) or HKDF (1.3) hash.
    pub hash: HashAlg,
}

impl Suite {
    /// The suite with IANA code point `id`, or why it cannot be decrypted.
    ///
    /// # Errors
    /// [`Unsupported`] for any suite outside the table: CCM, 3DES, RC4, Camellia, ARIA, NULL,
    /// export and unassigned code points, named where the IANA name is known.
    pub fn from_id(id: u16) -> Result<Suite, Unsupported> {
        SUITES
            .iter()
            .find(|s| s.id == id)
            .copied()
            .ok_or(Unsupported { id })
    }

    /// Length of the fixed IV part the key schedule derives: 12 bytes for TLS 1.3 and for
    /// TLS 1.2 ChaCha20 (the whole nonce), 4 for TLS 1.2 AES-GCM (the salt; RFC 5288 §3),
    /// 0 for CBC (TLS 1.1+ sends an explicit IV in every record).
    #[must_use]
    pub fn fixed_iv_len(&self) -> usize {
        match (self.version, self.protection) {
            (Version::Tls13, _) | (Version::Tls12, Protection::ChaCha20Poly1305) => 12,
            (Version::Tls12, Protection::AesGcm) => 4,
            (Version::Tls12, Protection::AesCbc(_)) => 0,
        }
    }

    /// Length of the MAC key (CBC suites only; AEAD suites have none).
    #[must_use]
    pub fn mac_key_len(&self) -> usize {
        match self.protection {
            Protection::AesCbc(mac) => mac.tag_len(),
            Protection::AesGcm | Protection::ChaCha20Poly1305 => 0,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A cipher suite wssniff cannot decrypt; its `Display` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unsupported {
    /// IANA code point.
    pub id: u16,
}

impl Unsupported {
    /// IANA name, when it is one of the suites seen in practice that wssniff does not decrypt.
    #[must_use]
    pub fn name(&self) -> Option<&'static str> {
        UNSUPPORTED_NAMES
            .iter()
            .find(|(id, _)| *id == self.id)
            .map(|(_, n)| *n)
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:04x})", self.id),
            None => write!(f, "cipher suite 0x{:04x}", self.id),
        }
    }
}

const fn s(
    id: u16,
    name: &'static str,
    version: Version,
    protection: Protection,
    key_len: usize,
    hash: HashAlg,
) -> Suite {
    Suite {
        id,
        name,
        version,
        protection,
        key_len,
        hash,
    }
}

use HashAlg::{Sha256 as H256, Sha384 as H384};
use Protection::{AesCbc, AesGcm, ChaCha20Poly1305 as Chacha};
use Version::{Tls12 as V12, Tls13 as V13};

/// Every suite wssniff decrypts. TLS 1.2 CBC suites with SHA-1 or SHA-256 MACs use the
/// SHA-256 PRF (RFC 5246 §5); only the `_SHA384` suites use SHA-384.
const SUITES: &[Suite] = &[
    s(0x1301, "TLS_AES_128_GCM_SHA256", V13, AesGcm, 16, H256),
    s(0x1302, "TLS_AES_256_GCM_SHA384", V13, AesGcm, 32, H384),
    s(
        0x1303,
        "TLS_CHACHA20_POLY1305_SHA256",
        V13,
        Chacha,
        32,
        H256,
    ),
    s(
        0x009c,
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        V12,
        AesGcm,
        16,
        H256,
    ),
    s(
        0x009d,
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        V12,
        AesGcm,
        32,
        H384,
    ),
    s(
        0x009e,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        V12,
        AesGcm,
        16,
        H256,
    ),
    s(
        0x009f,
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        V12,
        AesGcm,
        32,
        H384,
    ),
    s(
        0xc02b,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        V12,
        AesGcm,
        16,
        H256,
    ),
    s(
        0xc02c,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        V12,
        AesGcm,
        32,
        H384,
    ),
    s(
        0xc02f,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        V12,
        AesGcm,
        16,
        H256,
    ),
    s(
        0xc030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        V12,
        AesGcm,
        32,
        H384,
    ),
    s(
        0xcca8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        V12,
        Chacha,
        32,
        H256,
    ),
    s(
        0xcca9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        V12,
        Chacha,
        32,
        H256,
    ),
    s(
        0xccaa,
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        V12,
        Chacha,
        32,
        H256,
    ),
    s(
        0x002f,
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        16,
        H256,
    ),
    s(
        0x0035,
        "TLS_RSA_WITH_AES_256_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        32,
        H256,
    ),
    s(
        0x003c,
        "TLS_RSA_WITH_AES_128_CBC_SHA256",
        V12,
        AesCbc(MacAlg::Sha256),
        16,
        H256,
    ),
    s(
        0x003d,
        "TLS_RSA_WITH_AES_256_CBC_SHA256",
        V12,
        AesCbc(MacAlg::Sha256),
        32,
        H256,
    ),
    s(
        0x0033,
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        16,
        H256,
    ),
    s(
        0x0039,
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        32,
        H256,
    ),
    s(
        0x0067,
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        V12,
        AesCbc(MacAlg::Sha256),
        16,
        H256,
    ),
    s(
        0x006b,
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        V12,
        AesCbc(MacAlg::Sha256),
        32,
        H256,
    ),
    s(
        0xc009,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        16,
        H256,
    ),
    s(
        0xc00a,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        32,
        H256,
    ),
    s(
        0xc013,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        16,
        H256,
    ),
    s(
        0xc014,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        V12,
        AesCbc(MacAlg::Sha1),
        32,
        H256,
    ),
    s(
        0xc023,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        V12,
        AesCbc(MacAlg::Sha256),
        16,
        H256,
    ),
    s(
        0xc024,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        V12,
        AesCbc(MacAlg::Sha384),
        32,
        H384,
    ),
    s(
        0xc027,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        V12,
        AesCbc(MacAlg::Sha256),
        16,
        H256,
    ),
    s(
        0xc028,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        V12,
        AesCbc(MacAlg::Sha384),
        32,
        H384,
    ),
];

/// Names of suites still met in the field that wssniff does not decrypt, so the record can
/// say which one it was.
const UNSUPPORTED_NAMES: &[(u16, &str)] = &[
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xc09c, "TLS_RSA_WITH_AES_128_CCM"),
    (0xc09d, "TLS_RSA_WITH_AES_256_CCM"),
    (0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (0x0000, "TLS_NULL_WITH_NULL_NULL"),
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x003b, "TLS_RSA_WITH_NULL_SHA256"),
    (0xc0b4, "TLS_SHA256_SHA256"),
    (0xc0b5, "TLS_SHA384_SHA384"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_has_a_unique_id_and_consistent_sizes() {
        for (i, a) in SUITES.iter().enumerate() {
            assert!(SUITES.iter().skip(i + 1).all(|b| b.id != a.id), "{a}");
            assert!(a.key_len == 16 || a.key_len == 32, "{a}");
            assert_eq!(
                a.name.contains("SHA384"),
                a.hash == HashAlg::Sha384,
                "{a}: SHA-384 PRF exactly for _SHA384 suites"
            );
            assert_eq!(
                a.name.starts_with("TLS_AES_") || a.name.starts_with("TLS_CHACHA"),
                a.version == Version::Tls13,
                "{a}"
            );
            assert!(UNSUPPORTED_NAMES.iter().all(|(id, _)| *id != a.id), "{a}");
        }
    }

    #[test]
    fn unsupported_suites_are_named() {
        let ccm = Suite::from_id(0x1304).unwrap_err();
        assert_eq!(ccm.to_string(), "TLS_AES_128_CCM_SHA256 (0x1304)");
        let unknown = Suite::from_id(0xfafa).unwrap_err();
        assert_eq!(unknown.to_string(), "cipher suite 0xfafa");
        assert_eq!(Suite::from_id(0xc02f).map(|s| s.fixed_iv_len()), Ok(4));
        assert_eq!(Suite::from_id(0xcca8).map(|s| s.fixed_iv_len()), Ok(12));
        assert_eq!(Suite::from_id(0xc014).map(|s| s.mac_key_len()), Ok(20));
    }
}
