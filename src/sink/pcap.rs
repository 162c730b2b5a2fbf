//! Writing packets to a classic pcap file (`-w`), all of them or only the connections that
//! carried a WebSocket upgrade.
//!
//! The format is small enough to write directly (a 24-byte header, a 16-byte header per
//! record); nanosecond timestamps keep the capture's precision, and tcpdump, tshark and
//! `wssniff -r` all read it.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::capture::live::OwnedPacket;
use crate::capture::Linktype;
use crate::tcp::flow::FlowKey;

/// A pcap file being written.
pub struct PcapWriter {
    out: BufWriter<File>,
}

impl PcapWriter {
    /// Creates `path` with a pcap header for `linktype`.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(path: &Path, linktype: Linktype, snaplen: u32) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(&0xa1b2_3c4d_u32.to_le_bytes())?; // nanosecond pcap magic
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&linktype.0.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        let secs = u32::try_from(packet.ts.secs()).unwrap_or(0);
        let caplen = u32::try_from(packet.data.len()).unwrap_or(u32::MAX);
        self.out.write_all(&secs.to_le_bytes())?;
        self.out
            .write_all(&packet.ts.subsec_nanos().to_le_bytes())?;
        self.out.write_all(&caplen.to_le_bytes())?;
        self.out
            .write_all(&packet.orig_len.max(caplen).to_le_bytes())?;
        self.out.write_all(&packet.data)
    }

    /// Flushes buffered records to the file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Most packets held per connection before it is known to carry an upgrade.
const HOLD_PER_FLOW: usize = 32;
/// Most bytes held over all connections awaiting that decision.
const HOLD_TOTAL_BYTES: usize = 32 * 1024 * 1024;

/// Writes only the packets of connections that carried a WebSocket upgrade: each
/// connection's first packets are held until the engine says whether it upgrades.
pub struct UpgradeOnlyWriter {
    writer: PcapWriter,
    held: HashMap<FlowKey, Vec<OwnedPacket>>,
    order: VecDeque<FlowKey>,
    held_bytes: usize,
}

impl UpgradeOnlyWriter {
    /// Wraps a writer.
    #[must_use]
    pub fn new(writer: PcapWriter) -> Self {
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
}
