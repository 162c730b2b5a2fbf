//! The server's certificate as a passive observer can judge it: subject, SANs, issuer and
//! validity read with `x509-parser`, whether its names cover the SNI (RFC 6125 §6.4) and
//! whether it was valid at capture time.
//!
//! In: DER bytes of the leaf certificate, the chain length, the SNI, the capture time. Out:
//! a [`CertificateSummary`] and yes/no answers. Never verifies signatures or the chain (that
//! needs the client's trust store, which the capture does not hold).

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::event::CertificateSummary;

/// Most subjectAltName entries kept (a CDN certificate may list hundreds; the check for the
/// SNI runs over all of them before they are cut).
const MAX_SAN: usize = 64;

/// Longest distinguished name kept, in characters.
const MAX_DN_CHARS: usize = 512;

/// A certificate read from DER, with the facts the checks need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// What the record shows.
    pub summary: CertificateSummary,
    /// Whether a name of the certificate (SAN, or the subject CN when there are no DNS SANs)
    /// covers the SNI; `None` without an SNI.
    pub covers_sni: Option<bool>,
}

/// Reads the leaf certificate `der` of a chain of `chain_len`; `None` when it is not X.509.
#[must_use]
pub fn read_leaf(der: &[u8], chain_len: usize, sni: Option<&str>) -> Option<Leaf> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cut(cert.subject().to_string());
    let issuer = cut(cert.issuer().to_string());
    let mut dns: Vec<String> = Vec::new();
    let mut san: Vec<String> = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => {
                    dns.push((*d).to_owned());
                    san.push((*d).to_owned());
                }
                GeneralName::IPAddress(ip) => san.push(ip_text(ip)),
                _ => {}
            }
        }
    }
    let covers_sni = sni.map(|host| {
        let host = host.trim_end_matches('.');
        if san.iter().any(|s| s.eq_ignore_ascii_case(host)) {
            return true;
        }
        if !dns.is_empty() {
            return dns.iter().any(|d| name_matches(d, host));
        }
        // RFC 6125 §6.4.4: the CN only when there are no DNS SANs.
        cert.subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .any(|cn| name_matches(cn, host))
    });
    san.truncate(MAX_SAN);
    let validity = cert.validity();
    Some(Leaf {
        summary: CertificateSummary {
            self_signed: subject == issuer,
            subject,
            issuer,
            san,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            chain_len,
        },
        covers_sni,
    })
}

fn cut(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(MAX_DN_CHARS) {
        s.truncate(i);
    }
    s
}

fn ip_text(ip: &[u8]) -> String {
    match ip.len() {
        4 => {
            let mut a = [0u8; 4];
            a.copy_from_slice(ip);
            std::net::Ipv4Addr::from(a).to_string()
        }
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(ip);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => ip.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// RFC 6125 §6.4.3: `pattern` matches `host` case-insensitively, a leading `*.` matching
/// exactly one whole label (never a public suffix alone: `*.com` does not match).
#[must_use]
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => {
            rest.contains('.')
                && host.split_once('.').is_some_and(|(label, tail)| {
                    !label.is_empty() && tail.eq_ignore_ascii_case(rest)
                })
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// Whether the certificate was outside its validity period at capture time `unix_secs`.
#[must_use]
pub fn expired_at(summary: &CertificateSummary, unix_secs: i64) -> bool {
    unix_secs > summary.not_after || unix_secs < summary.not_before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_label_only() {
        assert!(name_matches("*.example.com", "chat.example.com"));
        assert!(name_matches("*.Example.com", "CHAT.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.com", "example.com"));
        assert!(name_matches("example.com.", "example.com"));
        assert!(!name_matches("example.org", "example.com"));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(read_leaf(b"\x30\x03\x02\x01\x00", 1, None).is_none());
        assert!(read_leaf(&[], 0, Some("x")).is_none());
    }

    #[test]
    fn validity_is_judged_at_capture_time() {
        let s = CertificateSummary {
            subject: "CN=a".into(),
            issuer: "CN=a".into(),
            san: vec![],
            not_before: 100,
            not_after: 200,
            self_signed: true,
            chain_len: 1,
        };
        assert!(!expired_at(&s, 150));
        assert!(expired_at(&s, 201) && expired_at(&s, 99));
    }
}
