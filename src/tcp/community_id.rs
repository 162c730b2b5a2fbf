//! Community ID v1 flow hashes (<https://github.com/corelight/community-id-spec>), so records
//! can be joined with Zeek, Suricata and Arkime logs of the same connection.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// IANA protocol number of TCP.
const PROTO_TCP: u8 = 6;

/// The Community ID v1 string (`1:<base64>`) of a TCP connection, with seed 0.
#[must_use]
pub fn tcp(a: (IpAddr, u16), b: (IpAddr, u16)) -> String {
    // The spec orders the endpoints so both directions hash alike: smaller address first,
    // the port breaking ties.
    let (src, dst) = if (ip_bytes(a.0), a.1) <= (ip_bytes(b.0), b.1) {
        (a, b)
    } else {
        (b, a)
    };
    let mut sha = Sha1::new();
    sha.update(0u16.to_be_bytes()); // seed
    sha.update(ip_bytes(src.0));
    sha.update(ip_bytes(dst.0));
    sha.update([PROTO_TCP, 0]);
    sha.update(src.1.to_be_bytes());
    sha.update(dst.1.to_be_bytes());
    format!("1:{}", STANDARD.encode(sha.finalize()))
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
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
}
