//! Community ID v1 flow hashes (<https://github.com/corelight/community-id-spec>), so records
//! can be joined with Zeek, Suricata and Arkime logs of the same connection.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// IANA protocol number of TCP.
const PROTO_TCP: u8 = 6;

/// The Community ID v1 string (`1:<base64>`) of a TCP connection, with seed 0.
///
/// Built on the stack (one allocation, the returned string): it runs for every handshake,
/// connection and TLS record.
#[must_use]
pub fn tcp(a: (IpAddr, u16), b: (IpAddr, u16)) -> String {
    let a_ip = Address::of(a.0);
    let b_ip = Address::of(b.0);
    // The spec orders the endpoints so both directions hash alike: smaller address first,
    // the port breaking ties.
    let ((src_ip, src_port), (dst_ip, dst_port)) = if (a_ip.bytes(), a.1) <= (b_ip.bytes(), b.1) {
        ((a_ip, a.1), (b_ip, b.1))
    } else {
        ((b_ip, b.1), (a_ip, a.1))
    };
    let mut sha = Sha1::new();
    sha.update(0u16.to_be_bytes()); // seed
    sha.update(src_ip.bytes());
    sha.update(dst_ip.bytes());
    sha.update([PROTO_TCP, 0]);
    sha.update(src_port.to_be_bytes());
    sha.update(dst_port.to_be_bytes());
    // 20 bytes of SHA-1 are 28 base64 characters, after the 2 of `1:`.
    let mut text = [0u8; 30];
    let (prefix, digest) = text.split_at_mut(2);
    prefix.copy_from_slice(b"1:");
    let written = STANDARD
        .encode_slice(sha.finalize(), digest)
        .unwrap_or_default();
    String::from_utf8_lossy(text.get(..2 + written).unwrap_or_default()).into_owned()
}

/// An address's bytes in network order, without a heap copy.
#[derive(Clone, Copy)]
enum Address {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Address {
    fn of(ip: IpAddr) -> Address {
        match ip {
            IpAddr::V4(v4) => Address::V4(v4.octets()),
            IpAddr::V6(v6) => Address::V6(v6.octets()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Address::V4(b) => b,
            Address::V6(b) => b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_spec_baseline() {
        // From the community-id-spec baseline (tcp, seed 0).
        let a = ("128.232.110.120".parse().unwrap(), 34855);
        let b = ("66.35.250.204".parse().unwrap(), 80);
        assert_eq!(tcp(a, b), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(tcp(b, a), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }

    #[test]
    fn matches_the_spec_baseline_for_ipv6() {
        // The spec's algorithm over IPv6 (seed 0), computed independently with Python's hashlib.
        let a = ("fe80::200:86ff:fe05:80da".parse().unwrap(), 1022);
        let b = ("fe80::260:97ff:fe07:69ea".parse().unwrap(), 22);
        assert_eq!(tcp(a, b), "1:gS2aYcRwGJWe7UratL8/84dclq4=");
        assert_eq!(tcp(b, a), "1:gS2aYcRwGJWe7UratL8/84dclq4=");
    }
}
