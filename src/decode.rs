//! Link / IP / TCP decoding: [`Packet`] → [`Segment`], zero-copy over the packet's bytes.
//!
//! Only this module knows etherparse. Packets cut short by the snap length are decoded as far
//! as they go (etherparse's "lax" slicing); a TCP segment whose payload was cut is marked
//! [`Segment::payload_truncated`] so the evidence built from it can say so.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::capture::{Linktype, Packet};

/// TCP header flags wssniff uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct TcpFlags {
    /// SYN: opens a direction; its sequence number is the stream's origin.
    pub syn: bool,
    /// ACK (the acknowledgment field is valid).
    pub ack: bool,
    /// FIN: the sender has no more bytes for this direction.
    pub fin: bool,
    /// RST: the sender aborted the connection.
    pub rst: bool,
}

/// A decoded TCP segment, borrowing its payload from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Source address.
    pub src_ip: IpAddr,
    /// Destination address.
    pub dst_ip: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first payload byte (or of the SYN).
    pub seq: u32,
    /// Acknowledgment number (valid when `flags.ack`).
    pub ack: u32,
    /// Header flags.
    pub flags: TcpFlags,
    /// TCP payload as captured.
    pub payload: &'a [u8],
    /// The payload was cut by the snap length: bytes after `payload` exist on the wire.
    pub payload_truncated: bool,
    /// What tells two copies of one packet from a retransmission of its bytes: the IPv4
    /// identification, the TCP window and checksum and a hash of the TCP options (a
    /// retransmission carries a new IP id or timestamp option; a SPAN port's duplicate is
    /// identical). See [`wire_id`].
    pub wire_id: u64,
}

/// The [`Segment::wire_id`] of a TCP header `tcp` (options included) carried in an IPv4
/// datagram with identification `ip_id` (0 for IPv6).
#[must_use]
#[inline(always)]
pub fn wire_id(ip_id: u16, tcp: &[u8]) -> u64 {
    let data_offset = tcp.get(12).map_or(20, |b| usize::from(b >> 4) * 4);
    let window_and_checksum = tcp
        .get(14..18)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes);
    let options = tcp.get(20..data_offset).unwrap_or_default();
    mix_wire_id(ip_id, window_and_checksum, options)
}

/// [`wire_id`] from its parts: the IPv4 identification, the TCP window and checksum as one
/// big-endian word, and the TCP options (the fast path has them at hand, checked).
#[inline(always)]
fn mix_wire_id(ip_id: u16, window_and_checksum: u32, options: &[u8]) -> u64 {
    // Up to eight bytes as a big-endian word: one load for a whole word, a fold for a short
    // tail.
    let word = |bytes: Option<&[u8]>| {
        bytes.map_or(0, |b| match <[u8; 8]>::try_from(b) {
            Ok(whole) => u64::from_be_bytes(whole),
            Err(_) => b
                .iter()
                .take(8)
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
        })
    };
    // The options' first 16 bytes (timestamps and the start of SACK blocks) in two words:
    // what changes between a segment and its retransmission, read without a loop per byte
    // of hashing (this runs on every packet). No options (a bare header) is two zeros.
    let (first, second) = if options.is_empty() {
        (0, 0)
    } else {
        (
            word(options.get(..8).or(Some(options))),
            word(options.get(8..16).or_else(|| options.get(8..))),
        )
    };
    (u64::from(ip_id) << 32 | u64::from(window_and_checksum))
        ^ first.rotate_left(17)
        ^ second.rotate_left(41)
}

/// Why a packet produced no TCP segment. None of these is an error: most traffic is not TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// wssniff cannot decode this link type.
    UnsupportedLinktype(Linktype),
    /// Not IPv4/IPv6 (ARP, LLDP, …).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, …).
    NotTcp,
    /// UDP port 443 carrying QUIC (HTTP/3; RFC 9220 WebSockets would run there): counted and
    /// named, not analysed.
    Quic {
        /// A client's Initial packet (a long header of type Initial sent to port 443): one
        /// per connection attempt, give or take retransmissions.
        initial: bool,
    },
    /// A fragment of a fragmented IPv4/IPv6 datagram: not reassembled, counted.
    Fragment,
    /// The headers are damaged or cut before the TCP header ends.
    Malformed,
}

/// Decodes `packet` down to TCP.
///
/// # Errors
/// A [`Skip`] saying why the packet holds no usable TCP segment.
#[inline(always)]
pub fn decode<'a>(packet: &Packet<'a>) -> Result<Segment<'a>, Skip> {
    // The fast path inlined into the caller, so the segment is built where it is used (it
    // was returned through a copy of the whole `Result` on every packet); the rest out of line.
    if packet.linktype == Linktype::ETHERNET {
        let data = packet.data;
        if let Some(seg) = data.get(14..).and_then(|ip| plain_ipv4_tcp(data, ip)) {
            return Ok(seg);
        }
    }
    decode_other(packet)
}

/// [`decode`] of every packet the fast path does not take.
#[inline(never)]
pub(crate) fn decode_other<'a>(packet: &Packet<'a>) -> Result<Segment<'a>, Skip> {
    let data = packet.data;
    let sliced = match packet.linktype {
        Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Malformed)?,
        Linktype::RAW
        | Linktype::RAW_BSD
        | Linktype::RAW_BSD14
        | Linktype::IPV4
        | Linktype::IPV6 => from_ip(data)?,
        Linktype::LINUX_SLL => {
            // SLL header: 16 bytes, protocol (EtherType) in the last two.
            let proto = be16(data, 14).ok_or(Skip::Malformed)?;
            from_ether_type(proto, data.get(16..).ok_or(Skip::Malformed)?)
        }
        Linktype::LINUX_SLL2 => {
            // SLL2 header: 20 bytes, protocol (EtherType) first.
            let proto = be16(data, 0).ok_or(Skip::Malformed)?;
            from_ether_type(proto, data.get(20..).ok_or(Skip::Malformed)?)
        }
        Linktype::NULL | Linktype::LOOP => {
            let family = data.get(..4).ok_or(Skip::Malformed)?;
            let family = [
                *family.first().ok_or(Skip::Malformed)?,
                *family.get(1).ok_or(Skip::Malformed)?,
                *family.get(2).ok_or(Skip::Malformed)?,
                *family.get(3).ok_or(Skip::Malformed)?,
            ];
            // NULL stores the family in the writer's byte order, so accept either.
            let value = if packet.linktype == Linktype::LOOP {
                u32::from_be_bytes(family)
            } else {
                u32::from_le_bytes(family).min(u32::from_be_bytes(family))
            };
            match value {
                // AF_INET; AF_INET6 as numbered by NetBSD/OpenBSD, FreeBSD and macOS.
                2 | 24 | 28 | 30 => from_ip(data.get(4..).ok_or(Skip::Malformed)?)?,
                _ => return Err(Skip::NotIp),
            }
        }
        other => return Err(Skip::UnsupportedLinktype(other)),
    };
    segment_from(&sliced, 0)
}

/// The fast path for the packet nearly every packet of a busy capture is: untagged Ethernet II,
/// an unfragmented IPv4 datagram captured whole, a well-formed TCP header. Decoded by hand from
/// fixed offsets (RFC 791 §3.1, RFC 9293 §3.1); anything else (VLAN tags, IPv6, fragments,
/// cut or damaged headers, tunnels) returns `None` and goes through etherparse, whose answer
/// for the packets taken here is the same (checked in the tests). etherparse's lax slicing
/// builds and copies a large `LaxSlicedPacket` per packet, which was ~10% of the run time.
#[inline(always)]
fn plain_ipv4_tcp<'a>(eth: &[u8], ip: &'a [u8]) -> Option<Segment<'a>> {
    plain_ipv4_tcp_addrs(eth, ip).map(|(seg, _)| seg)
}

/// [`plain_ipv4_tcp`] with the source and destination addresses' bits (what
/// [`Ipv4Addr::to_bits`] gives).
#[inline(always)]
pub(crate) fn plain_ipv4_tcp_addrs<'a>(
    eth: &[u8],
    ip: &'a [u8],
) -> Option<(Segment<'a>, [u32; 2])> {
    // Fixed-size views of the two fixed headers, read by destructuring: one length check
    // each instead of one per field (this runs on nearly every packet).
    if eth.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let [v_ihl, _, total_hi, total_lo, id_hi, id_lo, frag_hi, frag_lo, _, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] =
        *<&[u8; 20]>::try_from(ip.get(..20)?).ok()?;
    let ihl = usize::from(v_ihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([total_hi, total_lo]));
    // Version 4, a valid header length, not cut by the snap length.
    if v_ihl >> 4 != 4 || ihl < 20 || total < ihl || total > ip.len() {
        return None;
    }
    // More-fragments flag or a fragment offset: a fragment (etherparse says so).
    if u16::from_be_bytes([frag_hi, frag_lo]) & 0x3fff != 0 || proto != 6 {
        return None;
    }
    let tcp = ip.get(ihl..total)?;
    let [sp0, sp1, dp0, dp1, q0, q1, q2, q3, a0, a1, a2, a3, offset, flags, w0, w1, c0, c1, _, _] =
        *<&[u8; 20]>::try_from(tcp.get(..20)?).ok()?;
    let data_offset = usize::from(offset >> 4) * 4;
    if data_offset < 20 || data_offset > tcp.len() {
        return None;
    }
    // What `wire_id` would read again: the header is checked, so its parts are at hand.
    let window_and_checksum = u32::from_be_bytes([w0, w1, c0, c1]);
    let options = tcp.get(20..data_offset)?;
    let (src, dst) = (
        u32::from_be_bytes([s0, s1, s2, s3]),
        u32::from_be_bytes([d0, d1, d2, d3]),
    );
    let seg = Segment {
        src_ip: IpAddr::V4(Ipv4Addr::from_bits(src)),
        dst_ip: IpAddr::V4(Ipv4Addr::from_bits(dst)),
        src_port: u16::from_be_bytes([sp0, sp1]),
        dst_port: u16::from_be_bytes([dp0, dp1]),
        seq: u32::from_be_bytes([q0, q1, q2, q3]),
        ack: u32::from_be_bytes([a0, a1, a2, a3]),
        flags: TcpFlags {
            fin: flags & 0x01 != 0,
            syn: flags & 0x02 != 0,
            rst: flags & 0x04 != 0,
            ack: flags & 0x10 != 0,
        },
        payload: tcp.get(data_offset..)?,
        payload_truncated: false,
        wire_id: mix_wire_id(
            u16::from_be_bytes([id_hi, id_lo]),
            window_and_checksum,
            options,
        ),
    };
    Some((seg, [src, dst]))
}

/// Tunnels nested deeper than this are not unwrapped.
const MAX_TUNNEL_DEPTH: u8 = 2;

/// What a UDP tunnel carries.
enum Inner<'a> {
    Ip(&'a [u8]),
    Ethernet(&'a [u8]),
}

impl<'a> Inner<'a> {
    fn decode(self, depth: u8) -> Result<Segment<'a>, Skip> {
        let sliced = match self {
            Inner::Ip(data) => from_ip(data)?,
            Inner::Ethernet(data) => {
                LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Malformed)?
            }
        };
        segment_from(&sliced, depth)
    }
}

/// The packet inside a GTP-U (3GPP TS 29.281), VXLAN (RFC 7348) or Geneve (RFC 8926) tunnel,
/// recognised by its well-known UDP port: mobile cores and overlay networks carry the
/// WebSocket traffic an operator needs to see inside these.
fn tunnel_payload(sport: u16, dport: u16, payload: &[u8]) -> Option<Inner<'_>> {
    let is = |port: u16| sport == port || dport == port;
    if is(2152) {
        let flags = *payload.first()?;
        // Version 1, protocol type GTP, message type 255 (G-PDU).
        if flags >> 5 != 1 || flags & 0x10 == 0 || *payload.get(1)? != 0xff {
            return None;
        }
        let mut at = 8usize;
        if flags & 0x07 != 0 {
            let mut next = *payload.get(11)?;
            at = 12;
            while next != 0 {
                let units = usize::from(*payload.get(at)?);
                if units == 0 {
                    return None;
                }
                at += units * 4;
                next = *payload.get(at.checked_sub(1)?)?;
            }
        }
        return payload.get(at..).map(Inner::Ip);
    }
    if is(4789) {
        return (payload.first()? & 0x08 != 0)
            .then(|| payload.get(8..).map(Inner::Ethernet))
            .flatten();
    }
    if is(6081) {
        let opt_len = usize::from(payload.first()? & 0x3f) * 4;
        let proto = be16(payload, 2)?;
        let inner = payload.get(8 + opt_len..)?;
        return match proto {
            0x6558 => Some(Inner::Ethernet(inner)),
            0x0800 | 0x86dd => Some(Inner::Ip(inner)),
            _ => None,
        };
    }
    None
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

fn from_ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    LaxSlicedPacket::from_ip(data).map_err(|_| Skip::Malformed)
}

fn from_ether_type(proto: u16, rest: &[u8]) -> LaxSlicedPacket<'_> {
    LaxSlicedPacket::from_ether_type(EtherType(proto), rest)
}

/// Whether a UDP datagram between `src` and `dst` looks like QUIC on port 443 (RFC 9000
/// §17: the fixed bit 0x40 is set in both header forms), and if so whether it is a client's
/// Initial (long header 0x80, type 0 in version 1).
fn quic_on_443(src: u16, dst: u16, payload: &[u8]) -> Option<bool> {
    if src != 443 && dst != 443 {
        return None;
    }
    let first = *payload.first()?;
    if first & 0x40 == 0 {
        return None;
    }
    Some(dst == 443 && first & 0x80 != 0 && first & 0x30 == 0)
}

fn segment_from<'a>(sliced: &LaxSlicedPacket<'a>, depth: u8) -> Result<Segment<'a>, Skip> {
    let (src_ip, dst_ip, ip_payload, ip_id) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                ip.payload(),
                h.identification(),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                ip.payload(),
                0,
            )
        }
        Some(LaxNetSlice::Arp(_)) | None => {
            return Err(if sliced.stop_err.is_some() && sliced.net.is_none() {
                Skip::Malformed
            } else {
                Skip::NotIp
            })
        }
    };
    if ip_payload.ip_number != etherparse::IpNumber::TCP {
        if let Some(TransportSlice::Udp(udp)) = &sliced.transport {
            if depth < MAX_TUNNEL_DEPTH {
                if let Some(inner) =
                    tunnel_payload(udp.source_port(), udp.destination_port(), udp.payload())
                {
                    return inner.decode(depth + 1);
                }
            }
            if let Some(initial) =
                quic_on_443(udp.source_port(), udp.destination_port(), udp.payload())
            {
                return Err(Skip::Quic { initial });
            }
        }
        return Err(Skip::NotTcp);
    }
    if ip_payload.fragmented {
        return Err(Skip::Fragment);
    }
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return Err(Skip::Malformed);
    };
    Ok(Segment {
        src_ip,
        dst_ip,
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload: tcp.payload(),
        payload_truncated: ip_payload.incomplete,
        wire_id: wire_id(ip_id, tcp.header_slice()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use etherparse::PacketBuilder;

    fn packet(linktype: Linktype, data: &[u8]) -> Packet<'_> {
        Packet {
            number: 1,
            ts: Timestamp(0),
            linktype,
            data,
            orig_len: u32::try_from(data.len()).unwrap(),
        }
    }

    fn tcp_ipv4(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 8080, 1000, 65535)
            .ack(5)
            .psh();
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    /// The hand-decoded fast path and etherparse agree on every packet the fast path takes,
    /// including damaged and cut ones (which it must leave to etherparse).
    #[test]
    fn fast_path_matches_etherparse() {
        use proptest::prelude::*;
        let mut base = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 8080, 0xfedc_ba98, 65535)
            .ack(0x0123_4567)
            .syn()
            .fin()
            .write(&mut base, b"GET / HTTP/1.1\r\n")
            .unwrap();
        fn slow(data: &[u8]) -> Result<Segment<'_>, Skip> {
            let sliced = LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Malformed)?;
            segment_from(&sliced, 0)
        }
        let fast = plain_ipv4_tcp(&base, &base[14..]).unwrap();
        assert_eq!(Ok(fast), slow(&base));
        let checked = std::cell::Cell::new(0);
        proptest!(ProptestConfig::with_cases(4000), |(at in 0usize..base.len(), byte: u8, cut in 0usize..8)| {
            let mut data = base.clone();
            data[at] = byte;
            data.truncate(data.len() - cut * (at % 7));
            if let Some(seg) = data.get(14..).and_then(|ip| plain_ipv4_tcp(&data, ip)) {
                checked.set(checked.get() + 1);
                prop_assert_eq!(Ok(seg), slow(&data));
            }
        });
        assert!(checked.get() > 100);
    }

    /// The fast path reads the options for the wire id from the header it checked: every
    /// options length (none, shorter than a word, between one and two words, two and more)
    /// gives the id etherparse's path computes from the whole header.
    #[test]
    fn fast_path_wire_id_matches_for_every_options_length() {
        for words in 0..=10u8 {
            let options: Vec<u8> = (0..words * 4).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
            let mut data = Vec::new();
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 8080, 7, 65535)
                .options_raw(&options)
                .unwrap()
                .write(&mut data, b"abc")
                .unwrap();
            let fast = plain_ipv4_tcp(&data, &data[14..]).unwrap();
            let sliced = LaxSlicedPacket::from_ethernet(&data).unwrap();
            assert_eq!(
                Ok(fast),
                segment_from(&sliced, 0),
                "{} option bytes",
                options.len()
            );
            assert_eq!(fast.payload, b"abc");
        }
    }

    #[test]
    fn raw_ipv4_tcp() {
        let bytes = tcp_ipv4(b"GET / HTTP/1.1\r\n");
        let seg = decode(&packet(Linktype::RAW, &bytes)).unwrap();
        assert_eq!(seg.src_port, 40000);
        assert_eq!(seg.dst_port, 8080);
        assert_eq!(seg.seq, 1000);
        assert_eq!(seg.ack, 5);
        assert!(seg.flags.ack && !seg.flags.syn);
        assert_eq!(seg.payload, b"GET / HTTP/1.1\r\n");
        assert!(!seg.payload_truncated);
    }

    #[test]
    fn null_loopback_both_byte_orders_and_sll2() {
        let ip = tcp_ipv4(b"x");
        for family in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
            let mut bytes = family.to_vec();
            bytes.extend_from_slice(&ip);
            assert!(decode(&packet(Linktype::NULL, &bytes)).is_ok());
        }
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        assert_eq!(
            decode(&packet(Linktype::LINUX_SLL2, &sll2))
                .unwrap()
                .payload,
            b"x"
        );
    }

    #[test]
    fn snaplen_cut_payload_is_marked() {
        let bytes = tcp_ipv4(b"GET /chat HTTP/1.1\r\nHost: a\r\n\r\n");
        let cut = &bytes[..bytes.len() - 10];
        let seg = decode(&packet(Linktype::RAW, cut)).unwrap();
        assert!(seg.payload_truncated);
        assert_eq!(seg.payload.len(), 31 - 10);
    }

    #[test]
    fn every_prefix_decodes_or_skips_without_panic() {
        let bytes = tcp_ipv4(b"hello");
        for end in 0..bytes.len() {
            let _ = decode(&packet(Linktype::RAW, &bytes[..end]));
            let _ = decode(&packet(Linktype::ETHERNET, &bytes[..end]));
            let _ = decode(&packet(Linktype::LINUX_SLL, &bytes[..end]));
        }
        assert_eq!(
            decode(&packet(Linktype(147), &bytes)),
            Err(Skip::UnsupportedLinktype(Linktype(147)))
        );
    }

    #[test]
    fn quic_on_udp_443_is_counted_apart_from_other_udp() {
        // Raw IPv4 + UDP 50000 → 443, a QUIC v1 Initial (long header 0xc3, version 1).
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let payload = [0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let udp_len = 8 + payload.len();
        let total = ip.len() + udp_len;
        ip[2] = (total >> 8) as u8;
        ip[3] = total as u8;
        let mut pkt = ip.clone();
        pkt.extend_from_slice(&50000u16.to_be_bytes());
        pkt.extend_from_slice(&443u16.to_be_bytes());
        pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pkt.extend_from_slice(&[0, 0]);
        pkt.extend_from_slice(&payload);
        let packet = Packet {
            number: 1,
            ts: Timestamp(0),
            linktype: Linktype::RAW,
            data: &pkt,
            orig_len: pkt.len() as u32,
        };
        assert_eq!(decode(&packet).err(), Some(Skip::Quic { initial: true }));
        // A short-header packet from the server is QUIC, not an Initial.
        assert_eq!(quic_on_443(443, 50000, &[0x41, 1, 2]), Some(false));
        // DNS on 443, or the fixed bit clear: plain UDP.
        assert_eq!(quic_on_443(443, 50000, &[0x00, 1]), None);
        assert_eq!(quic_on_443(53, 50000, &[0xc3]), None);
    }
}
