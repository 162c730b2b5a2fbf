//! Streaming pcap / pcapng reader (pcap-parser), constant memory whatever the file size.

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{CaptureError, Linktype, Packet, Record, Secrets, SecretsKind, Timestamp};

/// Initial read buffer; grows (up to [`MAX_RECORD_BYTES`]) for larger records.
const INITIAL_BUFFER_BYTES: usize = 256 * 1024;
/// Bytes read before handing the stream to pcap-parser (covers any file header).
const PREFETCH_BYTES: usize = 64 * 1024;
/// Largest single pcap record or pcapng block accepted. libpcap's own limit for a
/// packet is 256 KiB; pcapng blocks with options can be a little larger.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// What a completed read covered.
#[derive(Debug, Default)]
pub struct ReadSummary {
    /// Frames handed to the callback.
    pub packets: u64,
    /// Bytes of the capture consumed.
    pub bytes: u64,
    /// Distinct link types seen, in order of first appearance.
    pub linktypes: Vec<Linktype>,
    /// Snap length from the file header (pcap) or the first interface (pcapng).
    pub snaplen: Option<u32>,
    /// Packets the capturing host dropped, from pcapng interface statistics (the last block
    /// of each interface: `isb_ifdrop` + `isb_osdrop`); `None` when the file does not say.
    pub drops: Option<u64>,
    /// Why reading stopped early, if it did; every packet before it was delivered.
    pub error: Option<CaptureError>,
}

#[derive(Clone, Copy)]
struct Interface {
    linktype: Linktype,
    units_per_sec: u64,
    ts_offset: i64,
}

/// A pcap or pcapng file (or standard input, `-`) read as a stream of packets.
pub struct FileSource {
    path: String,
    reader: Box<dyn PcapReaderIterator + Send>,
}

impl FileSource {
    /// Opens `path` (`-` for standard input) and checks its header.
    ///
    /// # Errors
    /// The file cannot be opened, is a directory, is empty or is not a capture.
    pub fn open(path: &str) -> Result<Self, CaptureError> {
        let input: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            let file = File::open(path).map_err(|source| CaptureError::Io {
                path: path.to_owned(),
                source,
            })?;
            let meta = file.metadata().map_err(|source| CaptureError::Io {
                path: path.to_owned(),
                source,
            })?;
            if meta.is_dir() {
                return Err(CaptureError::IsDirectory {
                    path: path.to_owned(),
                });
            }
            Box::new(file)
        };
        Self::from_reader(path, input)
    }

    /// Wraps any byte stream holding a pcap or pcapng capture; `name` is used in messages.
    ///
    /// # Errors
    /// The stream is empty, unreadable or does not start with a capture header.
    pub fn from_reader(name: &str, mut input: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        // Read the start ourselves: the error can then say what the file starts with, and
        // pcap-parser parses the file header from its first read, which must hold it whole.
        let mut prefix = vec![0u8; PREFETCH_BYTES];
        let mut got = 0;
        while got < prefix.len() {
            match input.read(prefix.get_mut(got..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CaptureError::Io {
                        path: name.to_owned(),
                        source,
                    })
                }
            }
        }
        prefix.truncate(got);
        let head = prefix.get(..4).unwrap_or(&prefix);
        if got == 0 {
            return Err(CaptureError::Empty {
                path: name.to_owned(),
            });
        }
        let known = [
            [0xd4, 0xc3, 0xb2, 0xa1],
            [0xa1, 0xb2, 0xc3, 0xd4],
            [0x4d, 0x3c, 0xb2, 0xa1],
            [0xa1, 0xb2, 0x3c, 0x4d],
            [0x0a, 0x0d, 0x0d, 0x0a],
        ];
        if got < 4 || !known.iter().any(|k| k.as_slice() == head) {
            return Err(CaptureError::BadMagic {
                path: name.to_owned(),
                magic: head.iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
        let chained: Box<dyn Read + Send> = Box::new(io::Cursor::new(prefix).chain(input));
        let reader =
            pcap_parser::create_reader(INITIAL_BUFFER_BYTES, chained).map_err(|e| match e {
                PcapError::Eof | PcapError::UnexpectedEof | PcapError::Incomplete(_) => {
                    CaptureError::Truncated {
                        path: name.to_owned(),
                        after_packet: 0,
                        offset: 0,
                    }
                }
                other => CaptureError::Corrupt {
                    path: name.to_owned(),
                    after_packet: 0,
                    offset: 0,
                    detail: describe(&other),
                },
            })?;
        Ok(FileSource {
            path: name.to_owned(),
            reader,
        })
    }

    /// The name this source was opened with.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Hands every packet to `on_packet` in file order until the end, an error, or `Break`.
    ///
    /// A damaged file is not an `Err`: the packets before the damage are delivered and the
    /// damage is described in [`ReadSummary::error`].
    pub fn for_each_packet(
        &mut self,
        mut on_packet: impl FnMut(&Packet<'_>) -> ControlFlow<()>,
    ) -> ReadSummary {
        self.for_each_record(|record| match record {
            Record::Packet(packet) => on_packet(packet),
            Record::Secrets(_) => ControlFlow::Continue(()),
        })
    }

    /// As [`FileSource::for_each_packet`], and also hands over the key material a pcapng
    /// file carries (Decryption Secrets Blocks), in file order, so keys that precede the
    /// packets they decrypt arrive first.
    pub fn for_each_record(
        &mut self,
        mut on_record: impl FnMut(Record<'_, '_>) -> ControlFlow<()>,
    ) -> ReadSummary {
        let mut summary = ReadSummary::default();
        let mut interfaces: Vec<Interface> = Vec::new();
        // Latest drop counts per interface (statistics blocks are cumulative).
        let mut drops_by_interface: Vec<(u32, u64)> = Vec::new();
        let mut drops_in_earlier_sections = 0u64;
        let mut legacy: Option<Interface> = None;
        let mut buffer_size = INITIAL_BUFFER_BYTES;
        loop {
            let (consumed, stop) = match self.reader.next() {
                Ok((offset, block)) => {
                    let mut secrets_stop = false;
                    let packet = match block {
                        PcapBlockOwned::LegacyHeader(header) => {
                            let units = if header.is_nanosecond_precision() {
                                1_000_000_000
                            } else {
                                1_000_000
                            };
                            summary.snaplen = Some(header.snaplen);
                            legacy = Some(Interface {
                                linktype: Linktype(u32::try_from(header.network.0).unwrap_or(0)),
                                units_per_sec: units,
                                ts_offset: i64::from(header.thiszone),
                            });
                            None
                        }
                        PcapBlockOwned::Legacy(record) => legacy.map(|iface| Packet {
                            number: 0,
                            ts: Timestamp::from_parts(
                                i64::from(record.ts_sec).saturating_add(iface.ts_offset),
                                u64::from(record.ts_usec),
                                iface.units_per_sec,
                            ),
                            linktype: iface.linktype,
                            data: record
                                .data
                                .get(..usize::try_from(record.caplen).unwrap_or(usize::MAX))
                                .unwrap_or(record.data),
                            orig_len: record.origlen,
                        }),
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            // A new section restarts interface numbering (pcapng §4.1).
                            interfaces.clear();
                            drops_in_earlier_sections +=
                                drops_by_interface.drain(..).map(|(_, d)| d).sum::<u64>();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            if summary.snaplen.is_none() {
                                summary.snaplen = Some(idb.snaplen);
                            }
                            interfaces.push(Interface {
                                linktype: Linktype(u32::try_from(idb.linktype.0).unwrap_or(0)),
                                units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                                ts_offset: idb.ts_offset(),
                            });
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let iface = usize::try_from(epb.if_id)
                                .ok()
                                .and_then(|i| interfaces.get(i).copied());
                            iface.map(|iface| {
                                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let units = iface.units_per_sec.max(1);
                                let secs = i64::try_from(raw / units)
                                    .unwrap_or(i64::MAX)
                                    .saturating_add(iface.ts_offset);
                                Packet {
                                    number: 0,
                                    ts: Timestamp::from_parts(secs, raw % units, units),
                                    linktype: iface.linktype,
                                    data: epb
                                        .data
                                        .get(..usize::try_from(epb.caplen).unwrap_or(usize::MAX))
                                        .unwrap_or(epb.data),
                                    orig_len: epb.origlen,
                                }
                            })
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            interfaces.first().map(|iface| Packet {
                                number: 0,
                                ts: Timestamp::default(),
                                linktype: iface.linktype,
                                data: spb
                                    .data
                                    .get(..usize::try_from(spb.origlen).unwrap_or(usize::MAX))
                                    .unwrap_or(spb.data),
                                orig_len: spb.origlen,
                            })
                        }
                        PcapBlockOwned::NG(Block::InterfaceStatistics(isb)) => {
                            let count = |o: Option<Result<u64, _>>| o.and_then(Result::ok);
                            let dropped = match (count(isb.isb_ifdrop()), count(isb.isb_osdrop())) {
                                (None, None) => None,
                                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
                            };
                            if let Some(d) = dropped {
                                match drops_by_interface
                                    .iter_mut()
                                    .find(|(id, _)| *id == isb.if_id)
                                {
                                    Some(slot) => slot.1 = d,
                                    None => drops_by_interface.push((isb.if_id, d)),
                                }
                                summary.drops = Some(
                                    drops_in_earlier_sections
                                        + drops_by_interface.iter().map(|(_, d)| d).sum::<u64>(),
                                );
                            }
                            None
                        }
                        PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) => {
                            let kind = match dsb.secrets_type.0 {
                                0x544c_534b => SecretsKind::TlsKeyLog,
                                other => SecretsKind::Other(other),
                            };
                            let data = dsb
                                .data
                                .get(..usize::try_from(dsb.secrets_len).unwrap_or(usize::MAX))
                                .unwrap_or(dsb.data);
                            secrets_stop = on_record(Record::Secrets(Secrets {
                                kind,
                                data,
                                after_packet: summary.packets,
                            }))
                            .is_break();
                            None
                        }
                        // Name resolution, custom and unknown blocks carry no packets.
                        PcapBlockOwned::NG(_) => None,
                    };
                    let mut stop = secrets_stop;
                    if let Some(mut packet) = packet {
                        summary.packets += 1;
                        packet.number = summary.packets;
                        if !summary.linktypes.contains(&packet.linktype) {
                            summary.linktypes.push(packet.linktype);
                        }
                        stop = on_record(Record::Packet(&packet)).is_break();
                    }
                    (offset, stop)
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => {
                    let failed = self.reader.refill().err().map(|e| describe(&e));
                    if let Some(detail) = failed {
                        summary.error = Some(self.corrupt(&summary, &detail));
                        break;
                    }
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    if buffer_size >= MAX_RECORD_BYTES {
                        summary.error = Some(self.corrupt(
                            &summary,
                            &format!("record larger than {MAX_RECORD_BYTES} bytes"),
                        ));
                        break;
                    }
                    buffer_size = (buffer_size * 4).min(MAX_RECORD_BYTES);
                    if !self.reader.grow(buffer_size) {
                        summary.error = Some(self.corrupt(&summary, "could not grow read buffer"));
                        break;
                    }
                    let failed = self.reader.refill().err().map(|e| describe(&e));
                    if let Some(detail) = failed {
                        summary.error = Some(self.corrupt(&summary, &detail));
                        break;
                    }
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    summary.error = Some(CaptureError::Truncated {
                        path: self.path.clone(),
                        after_packet: summary.packets,
                        offset: summary.bytes,
                    });
                    break;
                }
                Err(e) => {
                    let detail = describe(&e);
                    summary.error = Some(self.corrupt(&summary, &detail));
                    break;
                }
            };
            summary.bytes += consumed as u64;
            // Without the shift: `consume` moves the unread half of the buffer to its start
            // whenever the read position passes the middle, i.e. it copies the whole file
            // once more (7 % of a plaintext run's instructions); `refill` shifts only the
            // partial record left at the end, when the next one does not fit.
            self.reader.consume_noshift(consumed);
            if stop {
                break;
            }
        }
        summary
    }

    fn corrupt(&self, summary: &ReadSummary, detail: &str) -> CaptureError {
        CaptureError::Corrupt {
            path: self.path.clone(),
            after_packet: summary.packets,
            offset: summary.bytes,
            detail: detail.to_owned(),
        }
    }
}

fn describe<I: AsRef<[u8]>>(e: &PcapError<I>) -> String {
    match e {
        PcapError::Eof => "end of file".into(),
        PcapError::BufferTooSmall => "record too large".into(),
        PcapError::UnexpectedEof => "unexpected end of file".into(),
        PcapError::ReadError => "read error".into(),
        PcapError::Incomplete(_) => "incomplete record".into(),
        PcapError::HeaderNotRecognized => "block header not recognised".into(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("malformed record ({kind:?})")
        }
    }
}
