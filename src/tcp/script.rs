//! A notation for TCP conversations in unit tests (compiled for tests only): one value per
//! segment, client or server, at a byte offset of its own direction's stream, so a test
//! reads like the exchange it checks:
//!
//! ```text
//! let segs = [
//!     syn(C), syn_ack(S),
//!     data(C, 0, b"GET /chat HTTP/1.1\r\n…\r\n\r\n"),
//!     data(S, 0, b"HTTP/1.1 101 Switching Protocols\r\n…\r\n\r\n"),
//!     data(C, 200, b"…").ack(129),     // a hole at 120..200; the ACK proves it lost
//!     data(S, 129, b"…").cut(40),      // 40 more bytes on the wire, cut by the snap length
//!     fin(C, 260), rst(S, 300),
//! ];
//! ```
//!
//! `C` is the client (`Side::LoToHi`), `S` the server. Offsets count from the first byte after
//! the SYN (client ISN 1000, server ISN 5000); leaving out the SYNs makes a capture that
//! started mid-connection. Every segment but a bare SYN carries an ACK of the peer's offset 0
//! (which proves nothing) unless `.ack(offset)` says otherwise. [`Wire`] numbers the packets
//! from 1, 1 ms apart, and turns each [`Seg`] into the [`Segment`] and [`Packet`] the
//! connection takes.

use std::net::{IpAddr, Ipv4Addr};

use crate::capture::{Linktype, Packet, Timestamp};
use crate::decode::{Segment, TcpFlags};
use crate::tcp::flow::Side;

/// The client's direction.
pub(crate) const C: Side = Side::LoToHi;
/// The server's direction.
pub(crate) const S: Side = Side::HiToLo;

const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;

fn isn(side: Side) -> u32 {
    match side {
        Side::LoToHi => CLIENT_ISN,
        Side::HiToLo => SERVER_ISN,
    }
}

/// One segment of a script.
#[derive(Clone, Debug)]
pub(crate) struct Seg {
    pub side: Side,
    /// Sequence number.
    pub seq: u32,
    pub flags: TcpFlags,
    /// Acknowledgment number (with `flags.ack`).
    pub ack: u32,
    pub payload: Vec<u8>,
    /// Bytes of payload on the wire past the captured ones (snap length).
    pub cut: u32,
}

/// The SYN of `side` (the client's, normally).
pub(crate) fn syn(side: Side) -> Seg {
    Seg {
        side,
        seq: isn(side),
        flags: TcpFlags {
            syn: true,
            ..TcpFlags::default()
        },
        ack: 0,
        payload: Vec::new(),
        cut: 0,
    }
}

/// The SYN-ACK of `side` (the server's, normally).
pub(crate) fn syn_ack(side: Side) -> Seg {
    let mut s = syn(side);
    s.flags.ack = true;
    s.ack = isn(side.reverse()).wrapping_add(1);
    s
}

/// `bytes` from `side` at stream offset `offset`.
pub(crate) fn data(side: Side, offset: u32, bytes: &[u8]) -> Seg {
    Seg {
        side,
        seq: isn(side).wrapping_add(1).wrapping_add(offset),
        flags: TcpFlags {
            ack: true,
            ..TcpFlags::default()
        },
        ack: isn(side.reverse()).wrapping_add(1),
        payload: bytes.to_vec(),
        cut: 0,
    }
}

/// A bare FIN from `side` at `offset` (its stream's end).
pub(crate) fn fin(side: Side, offset: u32) -> Seg {
    data(side, offset, b"").fin()
}

/// A bare RST from `side` at `offset`.
pub(crate) fn rst(side: Side, offset: u32) -> Seg {
    data(side, offset, b"").rst()
}

/// A bare ACK from `side` acknowledging the peer's stream up to `offset`.
pub(crate) fn ack(side: Side, offset: u32) -> Seg {
    data(side, 0, b"").ack(offset)
}

impl Seg {
    /// Sets FIN.
    pub(crate) fn fin(mut self) -> Seg {
        self.flags.fin = true;
        self
    }

    /// Sets RST.
    pub(crate) fn rst(mut self) -> Seg {
        self.flags.rst = true;
        self
    }

    /// Acknowledges the peer's stream up to `offset`.
    pub(crate) fn ack(mut self, offset: u32) -> Seg {
        self.flags.ack = true;
        self.ack = isn(self.side.reverse())
            .wrapping_add(1)
            .wrapping_add(offset);
        self
    }

    /// `missing` more payload bytes were on the wire than the capture kept.
    pub(crate) fn cut(mut self, missing: u32) -> Seg {
        self.cut = missing;
        self
    }
}

/// Numbers and timestamps the packets of a script.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    packets: u64,
}

/// Timestamp of packet `n` of a script: n ms after a fixed origin.
pub(crate) fn ts_of(n: u64) -> Timestamp {
    Timestamp(1_700_000_000_000_000_000 + i64::try_from(n).unwrap_or(0) * 1_000_000)
}

impl Wire {
    /// A wire whose next packet is number 1.
    pub(crate) fn new() -> Self {
        Wire::default()
    }

    /// Sends `seg`: `f` gets its direction, segment and packet.
    pub(crate) fn send<R>(
        &mut self,
        seg: &Seg,
        f: impl FnOnce(Side, &Segment<'_>, &Packet<'_>) -> R,
    ) -> R {
        self.packets += 1;
        let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let (src_ip, dst_ip, src_port, dst_port) = match seg.side {
            Side::LoToHi => (client, server, 40_000, 80),
            Side::HiToLo => (server, client, 80, 40_000),
        };
        let segment = Segment {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            payload: &seg.payload,
            payload_truncated: seg.cut > 0,
            wire_id: self.packets,
        };
        // The connection reads only the packet's number, time and how much was cut.
        let packet = Packet {
            number: self.packets,
            ts: ts_of(self.packets),
            linktype: Linktype::IPV4,
            data: &[],
            orig_len: seg.cut,
        };
        f(seg.side, &segment, &packet)
    }
}
