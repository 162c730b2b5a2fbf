//! Streaming pcap / pcapng reader (pcap-parser), constant memory whatever the file size.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::index::{Checkpoint, Interface, PacketIndex, Section};
use super::{CaptureError, Linktype, Packet, Record, Secrets, SecretsKind, Timestamp};

/// Initial read buffer; grows (up to [`MAX_RECORD_BYTES`]) for larger records.
#[cfg(not(test))]
const INITIAL_BUFFER_BYTES: usize = 256 * 1024;
/// Small in unit tests, so small samples refill the buffer (and the packet index gets its
/// checkpoints) many times.
#[cfg(test)]
const INITIAL_BUFFER_BYTES: usize = 2048;
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

/// What one file's reading has learnt so far: its interfaces (pcapng numbers them per
/// section), the latest drop counts, the read buffer's size, and the summary.
struct ReadState {
    summary: ReadSummary,
    interfaces: Vec<Interface>,
    /// Latest drop counts per interface (statistics blocks are cumulative).
    drops_by_interface: Vec<(u32, u64)>,
    drops_in_earlier_sections: u64,
    /// The pcap (not pcapng) file header's interface.
    legacy: Option<Interface>,
    buffer_size: usize,
    /// The packet index being recorded, with the section it is in (`None`: not asked for).
    index: Option<(PacketIndex, Arc<Section>)>,
}

impl Default for ReadState {
    fn default() -> Self {
        ReadState {
            summary: ReadSummary::default(),
            interfaces: Vec::new(),
            drops_by_interface: Vec::new(),
            drops_in_earlier_sections: 0,
            legacy: None,
            buffer_size: INITIAL_BUFFER_BYTES,
            index: None,
        }
    }
}

/// What one block turned out to hold.
enum Decoded<'a> {
    /// A packet, not yet numbered (`number` 0).
    Packet(Packet<'a>),
    /// A Decryption Secrets Block.
    Secrets(Secrets<'a>),
    /// Headers, interfaces, statistics, names: remembered in the state, nothing to hand on.
    Nothing,
}

/// Why pcap-parser could not hand over the next block, without its borrow of the buffer.
enum Failure {
    Eof,
    Incomplete,
    BufferTooSmall,
    UnexpectedEof,
    Other(String),
}

impl Failure {
    fn of<I: AsRef<[u8]>>(e: &PcapError<I>) -> Self {
        match e {
            PcapError::Eof => Failure::Eof,
            PcapError::Incomplete(_) => Failure::Incomplete,
            PcapError::BufferTooSmall => Failure::BufferTooSmall,
            PcapError::UnexpectedEof => Failure::UnexpectedEof,
            other => Failure::Other(describe(other)),
        }
    }
}

impl ReadState {
    /// Decodes one block: remembers what headers, interfaces and statistics say, and returns
    /// the packet or secrets the block holds. Decoding a packet block changes nothing, so
    /// [`FileSource::peek`] and [`FileSource::take`] may decode the same block twice.
    #[inline]
    fn decode<'a>(&mut self, block: PcapBlockOwned<'a>) -> Decoded<'a> {
        match block {
            PcapBlockOwned::Legacy(record) => match self.legacy {
                Some(iface) => Decoded::Packet(Packet {
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
                None => Decoded::Nothing,
            },
            PcapBlockOwned::LegacyHeader(header) => {
                let units = if header.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.summary.snaplen = Some(header.snaplen);
                self.note_section(Some(24), None);
                self.legacy = Some(Interface {
                    linktype: Linktype(u32::try_from(header.network.0).unwrap_or(0)),
                    units_per_sec: units,
                    ts_offset: i64::from(header.thiszone),
                });
                Decoded::Nothing
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let iface = usize::try_from(epb.if_id)
                    .ok()
                    .and_then(|i| self.interfaces.get(i).copied());
                match iface {
                    Some(iface) => {
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let units = iface.units_per_sec.max(1);
                        let secs = i64::try_from(raw / units)
                            .unwrap_or(i64::MAX)
                            .saturating_add(iface.ts_offset);
                        Decoded::Packet(Packet {
                            number: 0,
                            ts: Timestamp::from_parts(secs, raw % units, units),
                            linktype: iface.linktype,
                            data: epb
                                .data
                                .get(..usize::try_from(epb.caplen).unwrap_or(usize::MAX))
                                .unwrap_or(epb.data),
                            orig_len: epb.origlen,
                        })
                    }
                    None => Decoded::Nothing,
                }
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                // A new section restarts interface numbering (pcapng §4.1).
                self.interfaces.clear();
                self.note_section(Some(u64::from(shb.block_len1)), None);
                self.drops_in_earlier_sections += self
                    .drops_by_interface
                    .drain(..)
                    .map(|(_, d)| d)
                    .sum::<u64>();
                Decoded::Nothing
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                if self.summary.snaplen.is_none() {
                    self.summary.snaplen = Some(idb.snaplen);
                }
                let iface = Interface {
                    linktype: Linktype(u32::try_from(idb.linktype.0).unwrap_or(0)),
                    units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                    ts_offset: idb.ts_offset(),
                };
                self.interfaces.push(iface);
                self.note_section(None, Some(iface));
                Decoded::Nothing
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => match self.interfaces.first() {
                Some(iface) => Decoded::Packet(Packet {
                    number: 0,
                    ts: Timestamp::default(),
                    linktype: iface.linktype,
                    data: spb
                        .data
                        .get(..usize::try_from(spb.origlen).unwrap_or(usize::MAX))
                        .unwrap_or(spb.data),
                    orig_len: spb.origlen,
                }),
                None => Decoded::Nothing,
            },
            PcapBlockOwned::NG(Block::InterfaceStatistics(isb)) => {
                let count = |o: Option<Result<u64, _>>| o.and_then(Result::ok);
                let dropped = match (count(isb.isb_ifdrop()), count(isb.isb_osdrop())) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
                };
                if let Some(d) = dropped {
                    match self
                        .drops_by_interface
                        .iter_mut()
                        .find(|(id, _)| *id == isb.if_id)
                    {
                        Some(slot) => slot.1 = d,
                        None => self.drops_by_interface.push((isb.if_id, d)),
                    }
                    self.summary.drops = Some(
                        self.drops_in_earlier_sections
                            + self.drops_by_interface.iter().map(|(_, d)| d).sum::<u64>(),
                    );
                }
                Decoded::Nothing
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
                Decoded::Secrets(Secrets {
                    kind,
                    data,
                    after_packet: self.summary.packets,
                })
            }
            // Name resolution, custom and unknown blocks carry no packets.
            PcapBlockOwned::NG(_) => Decoded::Nothing,
        }
    }

    /// Numbers a packet the file delivers and notes its link type.
    #[inline]
    fn count(&mut self, packet: &mut Packet<'_>, number: Option<u64>) {
        self.summary.packets += 1;
        packet.number = number.unwrap_or(self.summary.packets);
        if !self.summary.linktypes.contains(&packet.linktype) {
            self.summary.linktypes.push(packet.linktype);
        }
    }
}

impl ReadState {
    /// Keeps the indexed section up to date: a file or section header of `header_len` bytes
    /// at the current offset starts a new one, an interface description adds to it.
    #[cold]
    fn note_section(&mut self, header_len: Option<u64>, iface: Option<Interface>) {
        let at = self.summary.bytes;
        let Some((_, section)) = &mut self.index else {
            return;
        };
        let mut next = (**section).clone();
        if let Some(len) = header_len {
            next = Section {
                header_at: at,
                header_len: len,
                interfaces: Vec::new(),
            };
        }
        next.interfaces.extend(iface);
        *section = Arc::new(next);
    }
}

/// A pcap or pcapng file (or standard input, `-`) read as a stream of packets.
pub struct FileSource {
    path: String,
    reader: Box<dyn PcapReaderIterator + Send>,
    state: ReadState,
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
            state: ReadState::default(),
        })
    }

    /// Records a checkpoint into `index` each time the read buffer is refilled from now on, so
    /// [`super::index::read_packets`] can read any packet again by its byte offset. Call it
    /// before the first packet is read.
    pub fn index_packets(&mut self, index: &PacketIndex) {
        self.state.index = Some((index.clone(), Arc::new(Section::default())));
    }

    /// Opens `path` to read on from checkpoint `cp` (recorded by a reading of the same file):
    /// its file or section header first, then the packets from `cp.number` on, numbered as
    /// the first reading numbered them.
    ///
    /// # Errors
    /// The file cannot be opened, or what is at the checkpoint is not what the index says.
    pub fn open_at(path: &str, cp: &Checkpoint) -> Result<Self, CaptureError> {
        let io = |source: io::Error| CaptureError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let len = usize::try_from(cp.section.header_len)
            .unwrap_or(usize::MAX)
            .min(MAX_RECORD_BYTES);
        let mut header = vec![0u8; len];
        file.seek(SeekFrom::Start(cp.section.header_at))
            .and_then(|_| file.read_exact(&mut header))
            .and_then(|()| file.seek(SeekFrom::Start(cp.offset)))
            .map_err(io)?;
        let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(header).chain(file));
        let mut source = Self::from_reader(path, input)?;
        // The header block: decoded as at the start (link type, snap length), then the
        // interfaces the section had described by the checkpoint.
        match source.reader.next() {
            Ok((consumed, block)) => {
                source.state.decode(block);
                source.advance(consumed);
            }
            Err(_) => {
                return Err(CaptureError::Corrupt {
                    path: path.to_owned(),
                    after_packet: cp.number.saturating_sub(1),
                    offset: cp.offset,
                    detail: "the header the packet index names cannot be read".into(),
                })
            }
        }
        source.state.interfaces.clone_from(&cp.section.interfaces);
        source.state.summary.packets = cp.number.saturating_sub(1);
        Ok(source)
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
        loop {
            let (consumed, stop) = match self.reader.next() {
                Ok((offset, block)) => {
                    let stop = match self.state.decode(block) {
                        Decoded::Packet(mut packet) => {
                            self.state.count(&mut packet, None);
                            on_record(Record::Packet(&packet)).is_break()
                        }
                        Decoded::Secrets(secrets) => on_record(Record::Secrets(secrets)).is_break(),
                        Decoded::Nothing => false,
                    };
                    (offset, stop)
                }
                Err(e) => {
                    let failure = Failure::of(&e);
                    if self.recover(failure) {
                        continue;
                    }
                    break;
                }
            };
            self.advance(consumed);
            if stop {
                break;
            }
        }
        std::mem::take(&mut self.state.summary)
    }

    /// Reads up to the next packet without delivering it, and returns its timestamp; the
    /// blocks before it are decoded, their secrets handed to `on_secrets`. `None` at the end
    /// of the file or at damage ([`FileSource::summary`] says which). The packet stays in the
    /// read buffer until [`FileSource::take`]: this is how [`super::MergedSource`] looks at
    /// the head of every file without copying packets.
    pub(crate) fn peek(&mut self, mut on_secrets: impl FnMut(Secrets<'_>)) -> Option<Timestamp> {
        loop {
            let consumed = match self.reader.next() {
                Ok((offset, block)) => match self.state.decode(block) {
                    Decoded::Packet(packet) => return Some(packet.ts),
                    Decoded::Secrets(secrets) => {
                        on_secrets(secrets);
                        offset
                    }
                    Decoded::Nothing => offset,
                },
                Err(e) => {
                    let failure = Failure::of(&e);
                    if self.recover(failure) {
                        continue;
                    }
                    return None;
                }
            };
            self.advance(consumed);
        }
    }

    /// Hands the packet [`FileSource::peek`] stopped at to `on_packet`, numbered `number`
    /// (its place in the merged capture), and moves past it.
    pub(crate) fn take(
        &mut self,
        number: u64,
        on_packet: impl FnOnce(&Packet<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        // The block is still in the buffer: parsing it again costs its header, not a copy.
        let (consumed, flow) = match self.reader.next() {
            Ok((offset, block)) => match self.state.decode(block) {
                Decoded::Packet(mut packet) => {
                    self.state.count(&mut packet, Some(number));
                    (offset, on_packet(&packet))
                }
                Decoded::Secrets(_) | Decoded::Nothing => (offset, ControlFlow::Continue(())),
            },
            Err(_) => return ControlFlow::Continue(()),
        };
        self.advance(consumed);
        flow
    }

    /// What the reading covered (the whole file once [`FileSource::peek`] has returned
    /// `None`).
    pub(crate) fn into_summary(mut self) -> ReadSummary {
        std::mem::take(&mut self.state.summary)
    }

    /// Moves the read position past a block of `consumed` bytes.
    #[inline]
    fn advance(&mut self, consumed: usize) {
        self.state.summary.bytes += consumed as u64;
        // Without the shift: `consume` moves the unread half of the buffer to its start
        // whenever the read position passes the middle, i.e. it copies the whole file
        // once more (7 % of a plaintext run's instructions); `refill` shifts only the
        // partial record left at the end, when the next one does not fit.
        self.reader.consume_noshift(consumed);
    }

    /// Deals with a block pcap-parser could not hand over: refills or grows the buffer and
    /// returns `true` to try again, or records the end or the damage and returns `false`.
    fn recover(&mut self, failure: Failure) -> bool {
        match failure {
            Failure::Eof => false,
            Failure::Incomplete => {
                self.checkpoint();
                match self.reader.refill() {
                    Ok(()) => true,
                    Err(e) => {
                        let detail = describe(&e);
                        self.fail(&detail);
                        false
                    }
                }
            }
            Failure::BufferTooSmall => {
                if self.state.buffer_size >= MAX_RECORD_BYTES {
                    self.fail(&format!("record larger than {MAX_RECORD_BYTES} bytes"));
                    return false;
                }
                self.state.buffer_size = (self.state.buffer_size * 4).min(MAX_RECORD_BYTES);
                if !self.reader.grow(self.state.buffer_size) {
                    self.fail("could not grow read buffer");
                    return false;
                }
                match self.reader.refill() {
                    Ok(()) => true,
                    Err(e) => {
                        let detail = describe(&e);
                        self.fail(&detail);
                        false
                    }
                }
            }
            Failure::UnexpectedEof => {
                self.state.summary.error = Some(CaptureError::Truncated {
                    path: self.path.clone(),
                    after_packet: self.state.summary.packets,
                    offset: self.state.summary.bytes,
                });
                false
            }
            Failure::Other(detail) => {
                self.fail(&detail);
                false
            }
        }
    }

    /// Records a checkpoint of the packet index, if one is kept, where the next block
    /// starts: called when the read buffer is refilled (every few hundred KiB), so indexing
    /// costs nothing per packet.
    #[cold]
    fn checkpoint(&self) {
        let state = &self.state;
        if let Some((index, section)) = &state.index {
            // After the first packet: the offset is then past the file header (a pcap
            // header read twice would be taken for a packet).
            if state.summary.packets > 0 {
                index.push(Checkpoint {
                    number: state.summary.packets + 1,
                    offset: state.summary.bytes,
                    section: Arc::clone(section),
                });
            }
        }
    }

    fn fail(&mut self, detail: &str) {
        self.state.summary.error = Some(CaptureError::Corrupt {
            path: self.path.clone(),
            after_packet: self.state.summary.packets,
            offset: self.state.summary.bytes,
            detail: detail.to_owned(),
        });
    }
}

impl PacketIndex {
    /// Reads the packets numbered `wanted` (sorted, distinct) from the capture `path` again and
    /// hands each to `on_packet`, seeking to the checkpoint before each run of them: packets
    /// past the last checkpoint, or in a file not indexed, are found by reading on from there
    /// (or from the start). Packets the file does not hold are skipped.
    ///
    /// # Errors
    /// The file cannot be opened again, or does not start where the index says.
    pub fn read_packets(
        &self,
        path: &str,
        wanted: &[u64],
        mut on_packet: impl FnMut(&Packet<'_>),
    ) -> Result<(), CaptureError> {
        let index = self;
        let mut rest = wanted;
        while let Some(&first) = rest.first() {
            // One reading per checkpoint: the run of wanted packets it is the nearest start for.
            let start = index.before(first);
            let key = |n: u64| index.before(n).map(|c| c.number);
            let from = start.as_ref().map(|c| c.number);
            let next_cp = rest
                .iter()
                .position(|&n| key(n) != from)
                .unwrap_or(rest.len());
            let (run, after) = rest.split_at(next_cp);
            let mut source = match &start {
                Some(cp) => FileSource::open_at(path, cp)?,
                None => FileSource::open(path)?,
            };
            let last = run.last().copied().unwrap_or(first);
            let mut i = 0;
            source.for_each_packet(|p| {
                while run.get(i).is_some_and(|&n| n < p.number) {
                    i += 1;
                }
                if run.get(i) == Some(&p.number) {
                    on_packet(p);
                    i += 1;
                }
                if p.number >= last {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            rest = after;
        }
        Ok(())
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
