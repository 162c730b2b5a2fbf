//! Writing packets to a classic pcap file: `-w` (all packets, or only the connections that
//! carried a WebSocket upgrade) and the TUI's per-flow export both go through [`PcapWriter`].
//!
//! The format is small enough to write directly (a 24-byte header, a 16-byte header per
//! record); nanosecond timestamps keep the capture's precision, and tcpdump, tshark and
//! `wssniff -r` all read it. One file holds one link type.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::capture::live::OwnedPacket;
use crate::capture::{Linktype, Packet, Timestamp};
use crate::tcp::flow::FlowKey;

/// libpcap's largest snap length: the header's value when the capture's own is not known.
pub const MAX_SNAPLEN: u32 = 262_144;

/// A pcap file being written (to a file by default; any writer in tests).
pub struct PcapWriter<W: Write = BufWriter<File>> {
    out: W,
    linktype: Linktype,
}

impl PcapWriter {
    /// Creates `path` with a pcap header for `linktype`.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(path: &Path, linktype: Linktype, snaplen: u32) -> io::Result<Self> {
        PcapWriter::new(
            BufWriter::new(super::create_output(path)?),
            linktype,
            snaplen,
        )
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap header for `linktype` to `out`: nanosecond-resolution magic, version
    /// 2.4, no time zone offset.
    ///
    /// # Errors
    /// Writing failed.
    pub fn new(mut out: W, linktype: Linktype, snaplen: u32) -> io::Result<Self> {
        out.write_all(&0xa1b2_3c4d_u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&linktype.0.to_le_bytes())?;
        Ok(PcapWriter { out, linktype })
    }

    /// The link type every record of this file has.
    #[must_use]
    pub fn linktype(&self) -> Linktype {
        self.linktype
    }

    /// Appends one owned packet (live capture).
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        self.record(packet.ts, packet.orig_len, &packet.data)
    }

    /// Appends one packet borrowed from a capture being read.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write_packet(&mut self, packet: &Packet<'_>) -> io::Result<()> {
        self.record(packet.ts, packet.orig_len, packet.data)
    }

    fn record(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let secs = u32::try_from(ts.secs()).unwrap_or(0);
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&ts.subsec_nanos().to_le_bytes())?;
        self.out.write_all(&caplen.to_le_bytes())?;
        self.out.write_all(&orig_len.max(caplen).to_le_bytes())?;
        self.out.write_all(data)
    }

    /// Flushes buffered records to the file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Where [`UpgradeOnlyWriter`] sends the packets it keeps: one file, or a rotating `-w`.
pub trait WritePackets {
    /// Appends one packet.
    ///
    /// # Errors
    /// Writing failed.
    fn write(&mut self, packet: &OwnedPacket) -> io::Result<()>;
    /// Flushes buffered records.
    ///
    /// # Errors
    /// Writing failed.
    fn flush(&mut self) -> io::Result<()>;
}

impl WritePackets for PcapWriter {
    fn write(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        PcapWriter::write(self, packet)
    }
    fn flush(&mut self) -> io::Result<()> {
        PcapWriter::flush(self)
    }
}

/// Most packets held per connection before it is known to carry an upgrade.
const HOLD_PER_FLOW: usize = 32;
/// Most bytes held over all connections awaiting that decision.
const HOLD_TOTAL_BYTES: usize = 32 * 1024 * 1024;

/// Writes only the packets of connections that carried a WebSocket upgrade: each
/// connection's first packets are held until the engine says whether it upgrades.
pub struct UpgradeOnlyWriter<W: WritePackets = PcapWriter> {
    writer: W,
    held: HashMap<FlowKey, Vec<OwnedPacket>>,
    order: VecDeque<FlowKey>,
    held_bytes: usize,
}

impl<W: WritePackets> UpgradeOnlyWriter<W> {
    /// Wraps a writer.
    #[must_use]
    pub fn new(writer: W) -> Self {
        UpgradeOnlyWriter {
            writer,
            held: HashMap::new(),
            order: VecDeque::new(),
            held_bytes: 0,
        }
    }

    /// Takes a packet of connection `flow`; `upgrade` says whether that connection has
    /// carried an upgrade request so far.
    ///
    /// # Errors
    /// Writing failed.
    pub fn offer(&mut self, flow: FlowKey, upgrade: bool, packet: &OwnedPacket) -> io::Result<()> {
        if upgrade {
            if let Some(held) = self.held.remove(&flow) {
                for f in &held {
                    self.held_bytes = self.held_bytes.saturating_sub(f.data.len());
                    self.writer.write(f)?;
                }
            }
            return self.writer.write(packet);
        }
        let entry = self.held.entry(flow).or_insert_with(|| {
            self.order.push_back(flow);
            Vec::new()
        });
        if entry.len() < HOLD_PER_FLOW {
            self.held_bytes += packet.data.len();
            entry.push(packet.clone());
        }
        while self.held_bytes > HOLD_TOTAL_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.held.remove(&oldest) {
                self.held_bytes = self
                    .held_bytes
                    .saturating_sub(v.iter().map(|f| f.data.len()).sum());
            }
        }
        if self.order.len() > self.held.len() * 2 + 1024 {
            // Keys of connections already written or dropped pile up: compact.
            let held = &self.held;
            self.order.retain(|k| held.contains_key(k));
        }
        Ok(())
    }

    /// Flushes the file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// The writer the kept packets go to.
    pub fn writer(&self) -> &W {
        &self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new(), Linktype::ETHERNET, MAX_SNAPLEN).unwrap();
        let packet = Packet {
            number: 1,
            ts: Timestamp(1_700_000_000_000_000_123),
            linktype: Linktype::ETHERNET,
            data: b"abc",
            orig_len: 60,
        };
        w.write_packet(&packet).unwrap();
        w.write(&OwnedPacket::from_frame(&packet)).unwrap();
        let bytes = w.out;
        assert_eq!(bytes.len(), 24 + 2 * (16 + 3));
        assert_eq!(
            bytes[..4],
            0xa1b2_3c4d_u32.to_le_bytes(),
            "nanosecond magic"
        );
        assert_eq!(bytes[16..20], MAX_SNAPLEN.to_le_bytes());
        assert_eq!(bytes[20..24], 1u32.to_le_bytes(), "Ethernet");
        let rec = &bytes[24..24 + 19];
        assert_eq!(rec[..4], 1_700_000_000u32.to_le_bytes());
        assert_eq!(rec[4..8], 123u32.to_le_bytes());
        assert_eq!(rec[8..12], 3u32.to_le_bytes(), "captured");
        assert_eq!(rec[12..16], 60u32.to_le_bytes(), "on the wire");
        assert_eq!(&rec[16..], b"abc");
        assert_eq!(bytes[24..43], bytes[43..], "borrowed and owned write alike");
    }
}
