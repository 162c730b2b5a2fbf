//! Packets and capture files built from parts, shared by everything that makes traffic
//! instead of reading it: the integration tests (`tests/it`, through `fuzz/src/lib.rs`), the
//! fuzz bodies (`fuzz/src/lib.rs`) and the benchmark capture generator
//! (`examples/gencap.rs`). Each includes this file with `#[path]`; it is not part of
//! wssniff's library API, because only test and tool code builds packets.
//!
//! In: addresses, sequence numbers, flags and payloads ([`Tcp`]), timestamps and link types.
//! Out: the bytes of an Ethernet or bare-IP (IPv4/IPv6) TCP packet (etherparse's
//! `PacketBuilder` computes lengths and checksums), and of classic pcap ([`pcap`]) and
//! pcapng ([`pcapng`]) files around them. Deterministic: the same parts give the same bytes,
//! which the benchmark figures quoted on gencap's output rely on.
//!
//! ```text
//! Tcp { src, dst, seq, ack, flags, window, payload } ─write(Link)─▶ packet bytes
//! pcap::file_header + pcap::record(ts, packet)… ─▶ a .pcap;  pcapng::block(…)… ─▶ a .pcapng
//! ```

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use etherparse::PacketBuilder;

/// TCP header flags (the ACK flag is [`Tcp::ack`] being set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
}

impl Flags {
    /// Flags from tcpdump's letters: `S` SYN, `F` FIN, `R` RST, `P` PSH (others ignored,
    /// so `"SA"` reads naturally; the ACK number goes in [`Tcp::ack`]).
    #[must_use]
    pub fn from_letters(letters: &str) -> Flags {
        Flags {
            syn: letters.contains('S'),
            fin: letters.contains('F'),
            rst: letters.contains('R'),
            psh: letters.contains('P'),
        }
    }
}

/// How the IP packet is framed on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II from `src` to `dst` (link type 1).
    Ethernet {
        /// Source MAC.
        src: [u8; 6],
        /// Destination MAC.
        dst: [u8; 6],
    },
    /// A bare IP packet (link types IPV4 228, IPV6 229 or RAW 101).
    Ip,
}

/// One TCP segment to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcp<'a> {
    /// Sender; IPv4 or IPv6 (a mixed pair is sent as IPv6 with the IPv4 side mapped).
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number; `Some` sets the ACK flag.
    pub ack: Option<u32>,
    /// The other flags.
    pub flags: Flags,
    /// Receive window.
    pub window: u16,
    /// IP TTL / hop limit.
    pub ttl: u8,
    /// TCP payload.
    pub payload: &'a [u8],
}

impl<'a> Tcp<'a> {
    /// A segment from `src` to `dst` with flags in tcpdump's letters (`"SA"`, `"FA"`, `"A"`):
    /// an `A` sets the ACK flag with acknowledgment number `ack`; window 65535, TTL 64.
    #[must_use]
    pub fn new(
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        letters: &str,
        payload: &'a [u8],
    ) -> Self {
        Tcp {
            src,
            dst,
            seq,
            ack: letters.contains('A').then_some(ack),
            flags: Flags::from_letters(letters),
            window: 65_535,
            ttl: 64,
            payload,
        }
    }

    /// Appends the packet's bytes, framed for `link`, to `out`.
    pub fn write(&self, link: Link, out: &mut Vec<u8>) {
        let v6 = |ip: IpAddr| match ip {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        let ip = match (link, self.src.ip(), self.dst.ip()) {
            (Link::Ethernet { src, dst }, IpAddr::V4(s), IpAddr::V4(d)) => {
                PacketBuilder::ethernet2(src, dst).ipv4(s.octets(), d.octets(), self.ttl)
            }
            (Link::Ethernet { src, dst }, s, d) => {
                PacketBuilder::ethernet2(src, dst).ipv6(v6(s), v6(d), self.ttl)
            }
            (Link::Ip, IpAddr::V4(s), IpAddr::V4(d)) => {
                PacketBuilder::ipv4(s.octets(), d.octets(), self.ttl)
            }
            (Link::Ip, s, d) => PacketBuilder::ipv6(v6(s), v6(d), self.ttl),
        };
        let mut tcp = ip.tcp(self.src.port(), self.dst.port(), self.seq, self.window);
        if self.flags.syn {
            tcp = tcp.syn();
        }
        if let Some(ack) = self.ack {
            tcp = tcp.ack(ack);
        }
        if self.flags.fin {
            tcp = tcp.fin();
        }
        if self.flags.rst {
            tcp = tcp.rst();
        }
        if self.flags.psh {
            tcp = tcp.psh();
        }
        let start = out.len();
        out.reserve(tcp.size(self.payload.len()));
        // Writing to a Vec fails only for a payload too large for one IP packet.
        if tcp.write(out, self.payload).is_err() {
            out.truncate(start);
        }
    }

    /// Writes the packet as a bare IPv4 packet into `out` (cleared first), byte for byte what
    /// [`Tcp::write`] gives for [`Link::Ip`], without the builder: the fuzz targets build one
    /// packet per script op, and the builder's copies were a fifth of an `engine` execution.
    /// `None` (and `out` empty) when an address is IPv6 or the payload does not fit one
    /// IPv4 packet.
    pub fn write_ipv4(&self, out: &mut Vec<u8>) -> Option<()> {
        out.clear();
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src.ip(), self.dst.ip()) else {
            return None;
        };
        let tcp_len = 20 + self.payload.len();
        let total = u16::try_from(20 + tcp_len).ok()?;
        out.reserve(20 + tcp_len);
        // IPv4: no options, DF set, identification 0, protocol 6.
        out.extend_from_slice(&[0x45, 0]);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0x40, 0, self.ttl, 6, 0, 0]);
        out.extend_from_slice(&src.octets());
        out.extend_from_slice(&dst.octets());
        let ip_sum = !fold(sum16(0, out.get(..20)?));
        out.get_mut(10..12)?.copy_from_slice(&ip_sum.to_be_bytes());
        // TCP: no options, urgent pointer 0.
        let f = self.flags;
        let flags = u8::from(f.fin)
            | u8::from(f.syn) << 1
            | u8::from(f.rst) << 2
            | u8::from(f.psh) << 3
            | u8::from(self.ack.is_some()) << 4;
        out.extend_from_slice(&self.src.port().to_be_bytes());
        out.extend_from_slice(&self.dst.port().to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&[0x50, flags]);
        out.extend_from_slice(&self.window.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(self.payload);
        // The pseudo-header (addresses, protocol, TCP length), then the segment.
        let mut sum = sum16(0, &src.octets());
        sum = sum16(sum, &dst.octets());
        sum += 6 + u64::try_from(tcp_len).ok()?;
        sum = sum16(sum, out.get(20..)?);
        let tcp_sum = !fold(sum);
        out.get_mut(36..38)?.copy_from_slice(&tcp_sum.to_be_bytes());
        Some(())
    }

    /// The packet's bytes, framed for `link`.
    #[must_use]
    pub fn build(&self, link: Link) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(link, &mut out);
        out
    }
}

/// Adds `bytes` as big-endian 16-bit words (an odd last byte padded with zero) to `sum`.
fn sum16(mut sum: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        if let [a, b] = w {
            sum += u64::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a sum of 16-bit words into the one's complement sum (RFC 1071).
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    u16::try_from(sum).unwrap_or(0)
}

/// `a.b.c.d:port` for tests that think in IPv4 octets.
#[must_use]
pub fn v4(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// `[addr]:port` for tests that think in IPv6 segments.
#[must_use]
pub fn v6(segments: [u16; 8], port: u16) -> SocketAddr {
    let [a, b, c, d, e, f, g, h] = segments;
    SocketAddr::from((Ipv6Addr::new(a, b, c, d, e, f, g, h), port))
}

/// Classic pcap files (libpcap's format): little-endian, microsecond timestamps.
pub mod pcap {
    /// Link type of Ethernet II packets.
    pub const LINKTYPE_ETHERNET: u32 = 1;
    /// Link type of bare IPv4 packets.
    pub const LINKTYPE_IPV4: u32 = 228;
    /// Link type of bare IPv6 packets.
    pub const LINKTYPE_IPV6: u32 = 229;

    /// The 24-byte file header: magic `a1b2c3d4` (microseconds), version 2.4, no time zone
    /// offset, `snaplen`, `linktype`.
    #[must_use]
    pub fn file_header(linktype: u32, snaplen: u32) -> [u8; 24] {
        let mut h = [0u8; 24];
        let fields: [(usize, &[u8]); 5] = [
            (0, &0xa1b2_c3d4u32.to_le_bytes()),
            (4, &2u16.to_le_bytes()),
            (6, &4u16.to_le_bytes()),
            (16, &snaplen.to_le_bytes()),
            (20, &linktype.to_le_bytes()),
        ];
        for (at, bytes) in fields {
            for (d, s) in h.iter_mut().skip(at).zip(bytes) {
                *d = *s;
            }
        }
        h
    }

    /// The 16-byte header of one record: time, bytes captured and bytes on the wire.
    #[must_use]
    pub fn record_header(ts_sec: u32, ts_usec: u32, caplen: u32, origlen: u32) -> [u8; 16] {
        let mut r = [0u8; 16];
        for (i, v) in [ts_sec, ts_usec, caplen, origlen].into_iter().enumerate() {
            for (d, s) in r.iter_mut().skip(i * 4).zip(v.to_le_bytes()) {
                *d = s;
            }
        }
        r
    }

    /// One whole record: `data` captured in full at `ts_sec`.`ts_usec`.
    #[must_use]
    pub fn record(ts_sec: u32, ts_usec: u32, data: &[u8]) -> Vec<u8> {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        record_claiming(ts_sec, ts_usec, data, len, len)
    }

    /// A record whose header claims `caplen` and `origlen` whatever `data` holds (damaged
    /// and snap-length cases).
    #[must_use]
    pub fn record_claiming(
        ts_sec: u32,
        ts_usec: u32,
        data: &[u8],
        caplen: u32,
        origlen: u32,
    ) -> Vec<u8> {
        let mut r = record_header(ts_sec, ts_usec, caplen, origlen).to_vec();
        r.extend_from_slice(data);
        r
    }

    /// A whole file: the header, then each packet one second after the previous one from
    /// `first_sec`.
    #[must_use]
    pub fn file<'p>(
        linktype: u32,
        snaplen: u32,
        first_sec: u32,
        packets: impl IntoIterator<Item = &'p [u8]>,
    ) -> Vec<u8> {
        let mut out = file_header(linktype, snaplen).to_vec();
        for (i, p) in packets.into_iter().enumerate() {
            let sec = first_sec.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            out.extend(record(sec, 0, p));
        }
        out
    }
}

/// pcapng files (draft-ietf-opsawg-pcapng), little-endian.
pub mod pcapng {
    /// Section Header Block type.
    pub const SECTION_HEADER: u32 = 0x0a0d_0d0a;
    /// Interface Description Block type.
    pub const INTERFACE: u32 = 1;
    /// Interface Statistics Block type.
    pub const INTERFACE_STATISTICS: u32 = 5;
    /// Enhanced Packet Block type.
    pub const ENHANCED_PACKET: u32 = 6;

    /// A block of type `kind`: the body padded to 32 bits between the two length fields.
    #[must_use]
    pub fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = u32::try_from(12 + body.len()).unwrap_or(u32::MAX);
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    /// A section header: byte-order magic, version 1.0, section length unknown.
    #[must_use]
    pub fn section_header() -> Vec<u8> {
        let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        body.extend_from_slice(&[1, 0, 0, 0]);
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        block(SECTION_HEADER, &body)
    }

    /// An interface of link type `linktype` (microsecond timestamps, no options).
    #[must_use]
    pub fn interface(linktype: u16, snaplen: u32) -> Vec<u8> {
        let mut body = linktype.to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&snaplen.to_le_bytes());
        block(INTERFACE, &body)
    }

    /// A packet on `interface` at `ts` (in the interface's units), captured in full.
    #[must_use]
    pub fn enhanced_packet(interface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut body = interface.to_le_bytes().to_vec();
        body.extend_from_slice(&u32::try_from(ts >> 32).unwrap_or(0).to_le_bytes());
        body.extend_from_slice(&u32::try_from(ts & 0xffff_ffff).unwrap_or(0).to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(data);
        block(ENHANCED_PACKET, &body)
    }

    /// Statistics for interface 0 (§4.6) carrying `isb_ifdrop` and `isb_osdrop`.
    #[must_use]
    pub fn interface_statistics(if_drop: u64, os_drop: u64) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0u32.to_le_bytes()); // interface 0
        body.extend_from_slice(&0u32.to_le_bytes()); // timestamp high
        body.extend_from_slice(&0u32.to_le_bytes()); // timestamp low
        for (code, value) in [(5u16, if_drop), (7u16, os_drop)] {
            body.extend_from_slice(&code.to_le_bytes());
            body.extend_from_slice(&8u16.to_le_bytes());
            body.extend_from_slice(&value.to_le_bytes());
        }
        body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        block(INTERFACE_STATISTICS, &body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use std::ops::ControlFlow;
    use wssniff::capture::{FileSource, Linktype, Packet, Timestamp};

    /// Decodes `bytes` with wssniff's own decoder and hands the segment to `check`.
    fn decoded(
        bytes: &[u8],
        linktype: Linktype,
        check: impl FnOnce(&wssniff::decode::Segment<'_>),
    ) {
        let packet = Packet {
            number: 1,
            ts: Timestamp(0),
            linktype,
            data: bytes,
            orig_len: bytes.len() as u32,
        };
        check(&wssniff::decode::decode(&packet).unwrap());
    }

    #[test]
    fn segments_round_trip_through_wssniffs_decoder() {
        let client = v4([10, 0, 0, 1], 40_000);
        let server = v6([0xfe80, 0, 0, 0, 0, 0, 0, 2], 80);
        let syn = Tcp::new(client, v4([10, 0, 0, 2], 80), 7, 0, "S", b"");
        decoded(&syn.build(Link::Ip), Linktype::IPV4, |seg| {
            assert!(seg.flags.syn && !seg.flags.ack);
            assert_eq!((seg.seq, seg.src_port), (7, 40_000));
        });
        let eth = Link::Ethernet {
            src: [2, 0, 0, 0, 0, 1],
            dst: [2, 0, 0, 0, 0, 2],
        };
        let data = Tcp::new(server, client, 9, 8, "PA", b"hello").build(eth);
        assert_eq!(
            data[14 + 40 + 13],
            0x18,
            "PSH and ACK in the TCP flags byte"
        );
        decoded(&data, Linktype::ETHERNET, |seg| {
            assert!(seg.flags.ack && !seg.flags.fin && !seg.flags.syn);
            assert_eq!((seg.ack, seg.payload), (8, &b"hello"[..]));
            assert_eq!(seg.src_ip.to_string(), "fe80::2");
            assert_eq!(
                seg.dst_ip.to_string(),
                "::ffff:10.0.0.1",
                "mixed pair: IPv4 mapped"
            );
        });
    }

    #[test]
    fn write_ipv4_is_the_builders_bytes() {
        let mut out = Vec::new();
        let payload: Vec<u8> = (0..=255u8).cycle().take(1461).collect();
        for (i, letters) in ["S", "SA", "A", "PA", "FA", "R", "RA", "SFRPA", ""]
            .iter()
            .enumerate()
        {
            for len in [0, 1, 2, 3, 1460, 1461] {
                let p = Tcp::new(
                    v4([10, 0, 0, 1], 40_000 + i as u16),
                    v4([192, 168, 200, 254], 80),
                    0xffff_0000u32.wrapping_add(i as u32 * 77_777),
                    0x1234_5678 ^ len as u32,
                    letters,
                    &payload[..len],
                );
                p.write_ipv4(&mut out).unwrap();
                assert_eq!(out, p.build(Link::Ip), "{letters} {len}");
            }
        }
        let p = Tcp::new(
            v6([1, 0, 0, 0, 0, 0, 0, 1], 1),
            v4([10, 0, 0, 2], 2),
            1,
            0,
            "S",
            b"",
        );
        assert!(p.write_ipv4(&mut out).is_none() && out.is_empty());
    }

    #[test]
    fn pcap_and_pcapng_files_read_back() {
        let p = Tcp::new(v4([10, 0, 0, 1], 1), v4([10, 0, 0, 2], 2), 1, 0, "S", b"");
        let bytes = p.build(Link::Ip);
        let pcap = pcap::file(
            pcap::LINKTYPE_IPV4,
            65_535,
            1_700_000_000,
            [&bytes[..], &bytes],
        );
        assert_eq!(pcap[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
        let mut ng = pcapng::section_header();
        ng.extend(pcapng::interface(228, 65_535));
        ng.extend(pcapng::enhanced_packet(0, 1, &bytes));
        ng.extend(pcapng::interface_statistics(1, 2));
        for (file, want) in [(pcap, 2), (ng, 1)] {
            let mut source =
                FileSource::from_reader("built", Box::new(std::io::Cursor::new(file))).unwrap();
            let mut n = 0;
            let summary = source.for_each_packet(|packet| {
                assert_eq!(packet.data, &bytes[..]);
                n += 1;
                ControlFlow::Continue(())
            });
            assert!(summary.error.is_none(), "{:?}", summary.error);
            assert_eq!(n, want);
        }
        assert_eq!(
            pcapng::block(9, b"abcde").len(),
            12 + 8,
            "padded to 32 bits"
        );
    }
}
