//! Writing packets to a pcapng file with the TLS secrets that decrypt them: `-w FILE
//! --write-secrets` puts a Decryption Secrets Block (pcapng §4.7, secrets type `TLSK`, an
//! NSS key log) ahead of the first packet each new session's keys apply to, as
//! `editcap --inject-secrets tls,KEYS` does for a whole file, so tshark and Wireshark open
//! the capture decrypted without a separate key log (and `wssniff -r` reads it back).
//!
//! Blocks written: one Section Header, one Interface Description (nanosecond timestamps,
//! `if_tsresol` 9), then Enhanced Packet Blocks and Decryption Secrets Blocks in capture
//! order. Never decides which secrets go in: the caller hands over the lines.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::capture::live::OwnedPacket;
use crate::capture::Linktype;

/// Block types (pcapng §11.1).
const SECTION_HEADER: u32 = 0x0a0d_0d0a;
const INTERFACE_DESCRIPTION: u32 = 1;
const ENHANCED_PACKET: u32 = 6;
const DECRYPTION_SECRETS: u32 = 0x0000_000a;
/// Secrets type of an NSS key log (pcapng §4.7).
const TLS_KEY_LOG: u32 = 0x544c_534b;

/// A pcapng file being written (to a file by default; any writer in tests).
pub struct PcapngWriter<W: Write = BufWriter<File>> {
    out: W,
}

impl PcapngWriter {
    /// Creates `path` (owner-only, as every output) with a section for `linktype`.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(path: &Path, linktype: Linktype, snaplen: u32) -> io::Result<Self> {
        PcapngWriter::new(
            BufWriter::new(super::create_output(path)?),
            linktype,
            snaplen,
        )
    }
}

/// Bytes of padding after `len` to the next 32-bit boundary.
fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header and the one Interface Description Block.
    ///
    /// # Errors
    /// Writing failed.
    pub fn new(mut out: W, linktype: Linktype, snaplen: u32) -> io::Result<Self> {
        // Section Header: byte-order magic, version 1.0, section length unknown (-1).
        let mut shb = Vec::with_capacity(16);
        shb.extend_from_slice(&0x1a2b_3c4d_u32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut out, SECTION_HEADER, &shb)?;
        // Interface Description: link type, snap length, if_tsresol = 9 (nanoseconds).
        let mut idb = Vec::with_capacity(20);
        idb.extend_from_slice(&linktype.0.to_le_bytes()[..2]);
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&snaplen.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]);
        block(&mut out, INTERFACE_DESCRIPTION, &idb)?;
        Ok(PcapngWriter { out })
    }

    /// Appends one packet (an Enhanced Packet Block on interface 0).
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        let ns = u64::try_from(packet.ts.0).unwrap_or(0);
        let caplen = u32::try_from(packet.data.len()).unwrap_or(u32::MAX);
        let mut body = Vec::with_capacity(20 + packet.data.len() + 3);
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&((ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ns as u32).to_le_bytes());
        body.extend_from_slice(&caplen.to_le_bytes());
        body.extend_from_slice(&packet.orig_len.max(caplen).to_le_bytes());
        body.extend_from_slice(&packet.data);
        body.resize(body.len() + pad(packet.data.len()), 0);
        block(&mut self.out, ENHANCED_PACKET, &body)
    }

    /// Appends a Decryption Secrets Block holding `key_log` (NSS key log lines).
    ///
    /// # Errors
    /// Writing failed.
    pub fn secrets(&mut self, key_log: &[u8]) -> io::Result<()> {
        let len = u32::try_from(key_log.len()).map_err(|_| io::Error::other("secrets too long"))?;
        let mut body = Vec::with_capacity(8 + key_log.len() + 3);
        body.extend_from_slice(&TLS_KEY_LOG.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(key_log);
        body.resize(body.len() + pad(key_log.len()), 0);
        block(&mut self.out, DECRYPTION_SECRETS, &body)
    }

    /// Flushes buffered blocks to the file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One block: type, total length, `body` (already padded), total length again.
fn block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let total = u32::try_from(12 + body.len()).map_err(|_| io::Error::other("block too long"))?;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    #[test]
    fn the_reader_gets_back_the_packets_and_the_secrets_in_order() {
        let mut w = PcapngWriter::new(Vec::new(), Linktype::ETHERNET, 65535)
            .unwrap_or_else(|_| unreachable!());
        let packet = |ts: i64, data: &[u8]| OwnedPacket {
            ts: Timestamp(ts),
            linktype: Linktype::ETHERNET,
            data: data.to_vec(),
            orig_len: data.len() as u32,
        };
        let line = format!("CLIENT_RANDOM {} {}\n", "ab".repeat(32), "01".repeat(48));
        assert!(w
            .write(&packet(1_796_000_000_123_456_789, &[1; 61]))
            .is_ok());
        assert!(w.secrets(line.as_bytes()).is_ok());
        assert!(w
            .write(&packet(1_796_000_001_000_000_001, &[2; 64]))
            .is_ok());
        let bytes = w.out;
        assert_eq!(bytes.len() % 4, 0);
        let mut reader = crate::capture::FileSource::from_reader(
            "test.pcapng",
            Box::new(std::io::Cursor::new(bytes)),
        )
        .unwrap_or_else(|_| unreachable!());
        let mut packets = Vec::new();
        let mut secrets = Vec::new();
        reader.for_each_record(|r| {
            match r {
                crate::capture::Record::Packet(p) => packets.push((p.ts.0, p.data.to_vec())),
                crate::capture::Record::Secrets(s) => {
                    secrets.push((s.after_packet, s.data.to_vec()));
                }
            }
            std::ops::ControlFlow::Continue(())
        });
        assert_eq!(
            packets,
            [
                (1_796_000_000_123_456_789, vec![1; 61]),
                (1_796_000_001_000_000_001, vec![2; 64])
            ]
        );
        assert_eq!(secrets, [(1, line.into_bytes())], "after the first packet");
    }
}
