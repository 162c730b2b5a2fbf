//! Streaming pcap / pcapng reader (pcap-parser), constant memory whatever the file size.
//!
//! Packets go out in file order while the file is in timestamp order (one comparison a
//! packet). From the first packet timestamped before the one handed on before it, the file is
//! re-sorted within a window ([`super::window`]): the reader reads ahead of delivery, leaving
//! the packets where they are in its buffer (no copy), and hands each on once the file has
//! been read the window's span past it. That first packet, and any later than the window,
//! go where the file has them and are counted.
//!
//! For the sharded reader a pcap or pcapng file is also read into blocks of its own that the
//! caller may keep by `Arc` ([`FileSource::for_each_record_in_blocks`]), handing packets on as
//! offsets instead of copies (a pcapng Enhanced Packet Block without options is read by hand,
//! any other pcapng block by pcap-parser from the block); at the first record those blocks do
//! not take, the ordinary reader goes on from it, reopened after its section's header. A
//! record cut by a block's end is moved to the next block's start.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::sync::Arc;

use pcap_parser::nom;
use pcap_parser::pcapng::{Block, EnhancedPacketBlock};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::index::{Checkpoint, Interface, PacketIndex, Section};
use super::window::{Held, Window, DEFAULT_REORDER_WINDOW_NS};
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
/// The re-sort look-ahead takes at most this share of the read buffer (the buffer grows, up
/// to [`MAX_RECORD_BYTES`], to keep it so): each refill moves the look-ahead to the buffer's
/// start, so a small share keeps that copy a few per cent of the file.
const LOOKAHEAD_SHARE: usize = 16;
/// Most packets held for re-sorting at once (a file of tiny packets reaches it before the
/// byte share); past it the window is as long as this many packets.
const MAX_HELD_PACKETS: usize = 1 << 16;

/// Bytes of a pcap or pcapng file read at once into a block that the sharded reader hands out
/// whole ([`FileSource::for_each_record_in_blocks`]): room for two of the largest records a
/// block takes, and no more. The reader walks each block's records right after the kernel
/// copied it in, so a block that fits the core's L2 cache is walked from the cache: with
/// 4 MiB blocks the walk's loads missed to L3 and the reader spent a third more CPU on b300
/// (BENCHMARKS.md, session 10).
#[cfg(not(test))]
pub const BLOCK_BYTES: usize = 2 * MAX_BLOCK_RECORD;
/// Small in unit tests, so records are cut at blocks' ends many times.
#[cfg(test)]
pub const BLOCK_BYTES: usize = 4096;
/// Largest record read from a block: libpcap's own limit for a packet. A larger one (or any
/// record a block cannot hold) is left to the ordinary reader.
const MAX_BLOCK_RECORD: usize = 256 * 1024 + 16;
/// Smallest block [`FileSource::with_block_bytes`] sets: a refill must find room past a cut
/// record header ([`RECORD_HEAD`] bytes) to make progress.
const MIN_BLOCK_BYTES: usize = 4 * RECORD_HEAD;

/// A block of a capture file, shared by the packets handed out from it.
pub type SharedBlock = Arc<Vec<u8>>;

/// Blocks nobody holds any more, to be read into again instead of allocating (and faulting
/// in) new ones.
pub type BlockPool = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// Where the bytes of a packet handed out by [`FileSource::for_each_record_in_blocks`] lie:
/// `block[start..start + packet.data.len()]`.
#[derive(Clone, Copy, Debug)]
pub struct InBlock<'b> {
    /// The block.
    pub block: &'b SharedBlock,
    /// Where the packet's bytes start in it.
    pub start: usize,
}

/// A file read in blocks of [`BLOCK_BYTES`] for [`FileSource::for_each_record_in_blocks`]:
/// the block being read, filled from the file after what the last one left (a record cut by
/// its end).
struct Blocks {
    file: File,
    block: SharedBlock,
    /// Bytes a block holds: [`BLOCK_BYTES`], or what [`FileSource::with_block_bytes`] says.
    size: usize,
    /// Largest record read from these blocks ([`MAX_BLOCK_RECORD`], at most half a block); a
    /// larger one is left to the ordinary reader. Kept, not computed a packet.
    largest_record: usize,
    /// Bytes of `block` read from the file.
    filled: usize,
    /// Where the next record starts in `block`.
    at: usize,
    /// The file has no more bytes after `filled`.
    eof: bool,
    pool: BlockPool,
}

impl Blocks {
    /// An empty block with room for `size` bytes: from `pool` if it has one (read into
    /// again instead of allocating and faulting in a new one), else a fresh one. Never
    /// zeroed: the file is read into its spare room as it is (zeroing 4 MiB cost the reader
    /// thread 45 % of its instructions, mimalloc's zeroed allocation being a memset).
    fn take(pool: &BlockPool, size: usize) -> Vec<u8> {
        match pool.lock().ok().and_then(|mut p| p.pop()) {
            Some(mut block) => {
                block.clear();
                block.reserve_exact(size);
                block
            }
            None => Vec::with_capacity(size),
        }
    }

    /// Where the next record lies in the block and its length, reading on into the next
    /// block when the record is cut by this one's end. `None` at the end of the file, at a
    /// record cut by it, at one larger than a block carries on with, at a header not read as
    /// `format` lays records out, or at a read error: the caller tells the end (`at ==
    /// filled` and `eof`) from the rest, which the ordinary reader takes over.
    #[inline]
    fn next_record(&mut self, format: Format) -> Option<(usize, usize)> {
        loop {
            let rest = self.block.get(self.at..self.filled).unwrap_or_default();
            match record_len(format, rest) {
                Some(len) if len > self.largest_record => return None,
                Some(len) if len <= rest.len() => {
                    let at = self.at;
                    self.at += len;
                    return Some((at, len));
                }
                // Not a header these blocks read.
                None if rest.len() >= RECORD_HEAD => return None,
                _ if self.eof => return None,
                // Cut by the block's end.
                _ => self.refill()?,
            }
        }
    }

    /// Moves what is left of the block (a record cut by its end) to the start of the next
    /// one, and fills that from the file.
    #[cold]
    fn refill(&mut self) -> Option<()> {
        let carried = self.filled - self.at;
        let spent = std::mem::replace(&mut self.block, Arc::new(Vec::new()));
        let mut next = match Arc::try_unwrap(spent) {
            // Nobody kept a packet of it: read into it again.
            Ok(mut spent) => {
                spent.copy_within(self.at..self.filled, 0);
                spent.truncate(carried);
                spent
            }
            Err(kept) => {
                let mut fresh = Self::take(&self.pool, self.size);
                fresh.extend_from_slice(kept.get(self.at..self.filled).unwrap_or_default());
                fresh
            }
        };
        // Into the spare room, not initialised first (`read_to_end` reads into it as it is;
        // `take` keeps it to the block's size, so it does not grow).
        let room = self.size.saturating_sub(next.len()) as u64;
        match (&mut self.file).take(room).read_to_end(&mut next) {
            Ok(_) => self.eof = next.len() < self.size,
            // The ordinary reader meets the error again and says so.
            Err(_) => return None,
        }
        self.filled = next.len();
        self.block = Arc::new(next);
        self.at = 0;
        Some(())
    }
}

/// Bytes of a record's header [`record_len`] reads (pcapng: up to a section header's byte
/// order magic).
const RECORD_HEAD: usize = 16;

/// The length of the record at the start of `buf` as its header says, when `buf` holds the
/// header: a pcap record's 16 bytes and captured length, a pcapng block's total length (a
/// section header's in the byte order its magic says). `None` when the header is cut by
/// the end of `buf`, or is not one (a pcapng block shorter than its 12 bytes of framing, a
/// section header with an unknown byte order magic).
#[inline]
fn record_len(format: Format, buf: &[u8]) -> Option<usize> {
    let word = |at: usize, big: bool| {
        let bytes = buf
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())?;
        Some(if big {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    let len = match format {
        Format::PcapLe => word(8, false)?.checked_add(16)?,
        Format::PcapBe => word(8, true)?.checked_add(16)?,
        Format::Ng { big_endian } => {
            let big = if word(0, false)? == pcap_parser::pcapng::SHB_MAGIC {
                match word(8, false)? {
                    0x1a2b_3c4d => false,
                    0x4d3c_2b1a => true,
                    _ => return None,
                }
            } else {
                big_endian
            };
            let len = word(4, big)?;
            if len < 12 {
                return None;
            }
            len
        }
        Format::PcapModified | Format::Unknown => return None,
    };
    usize::try_from(len).ok()
}

/// An Enhanced Packet Block without options at the start of `buf` (`buf` is the block
/// whole, as its total length says), read by hand as pcap-parser's `parse_block_le/be`
/// reads it (`tests::enhanced_packet_matches_pcap_parser`), without its parser
/// combinators. `None` for any other block, one with options, or one pcap-parser would not
/// take, which the caller hands to pcap-parser.
#[inline]
fn enhanced_packet(format: Format, buf: &[u8]) -> Option<EnhancedPacketBlock<'_>> {
    let Format::Ng { big_endian } = format else {
        return None;
    };
    let (head, rest) = buf.split_first_chunk::<28>()?;
    let at = |i: usize| {
        let bytes = head
            .get(i..i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .unwrap_or_default();
        if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    };
    let (block_type, block_len1, caplen) = (at(0), at(4), at(20));
    if block_type != pcap_parser::pcapng::EPB_MAGIC || caplen >= u32::MAX - 4 {
        return None;
    }
    let padded = usize::try_from(caplen.div_ceil(4) * 4).ok()?;
    // No options: the data's padding ends where the trailing length starts.
    if usize::try_from(block_len1).ok()? != buf.len() || padded + 32 != buf.len() {
        return None;
    }
    let (data, tail) = rest.split_at_checked(padded)?;
    let tail: [u8; 4] = tail.try_into().ok()?;
    let block_len2 = if big_endian {
        u32::from_be_bytes(tail)
    } else {
        u32::from_le_bytes(tail)
    };
    if block_len2 != block_len1 {
        return None;
    }
    Some(EnhancedPacketBlock {
        block_type: u32::from_le_bytes(head.first_chunk::<4>().copied().unwrap_or_default()),
        block_len1,
        if_id: at(8),
        ts_high: at(12),
        ts_low: at(16),
        caplen,
        origlen: at(24),
        data,
        options: Vec::new(),
        block_len2,
    })
}

/// What [`FileSource::next_in_blocks`] found: where in the block a packet or secrets lie.
enum InBlocks {
    Packet(PacketAt),
    Secrets(SecretsAt),
    /// A block without packets (headers, interfaces, statistics, names, an EPB of an
    /// interface not described), decoded into the state.
    Nothing,
    /// The end of the file, at a record's end.
    End,
    /// Something the blocks do not take, at the read position: the ordinary reader goes on.
    Unblock,
}

/// A packet in a read block, not yet numbered.
#[derive(Clone, Copy)]
struct PacketAt {
    start: usize,
    len: usize,
    ts: Timestamp,
    linktype: Linktype,
    orig_len: u32,
}

impl PacketAt {
    fn packet(self, block: &[u8]) -> Packet<'_> {
        Packet {
            number: 0,
            ts: self.ts,
            linktype: self.linktype,
            data: block
                .get(self.start..self.start + self.len)
                .unwrap_or_default(),
            orig_len: self.orig_len,
        }
    }
}

/// A Decryption Secrets Block's secrets in a read block.
#[derive(Clone, Copy)]
struct SecretsAt {
    kind: SecretsKind,
    start: usize,
    len: usize,
}

impl SecretsAt {
    fn secrets<'b>(self, block: &'b [u8], state: &ReadState) -> Secrets<'b> {
        Secrets {
            kind: self.kind,
            data: block
                .get(self.start..self.start + self.len)
                .unwrap_or_default(),
            after_packet: state.summary.packets,
        }
    }
}

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
    /// Packets handed on before packets the file holds earlier, because their timestamps
    /// are earlier (re-sorted within the window).
    pub reordered: u64,
    /// Packets timestamped before a packet already handed on: later than the re-sort window,
    /// handed on where the file has them.
    pub beyond_window: u64,
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
    /// How the next block is parsed, from the file header or the last section header.
    format: Format,
    /// Where the header of the section being read lies in the file, and its length (the
    /// pcap file header, or the pcapng section header block), as read in file order: what
    /// the ordinary reader is reopened after when read blocks hand over to it.
    section_header: (u64, usize),
}

/// The record layout of the file, for parsing blocks ahead of the read position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Not known before the first block.
    Unknown,
    /// pcap, little-endian.
    PcapLe,
    /// pcap, big-endian.
    PcapBe,
    /// Kuznetzov's modified pcap.
    PcapModified,
    /// pcapng, in the byte order of the current section.
    Ng { big_endian: bool },
}

/// A pcap (not pcapng, not modified-pcap) record as it lies in the read buffer.
struct LegacyRecord<'a> {
    ts_sec: u32,
    /// Microseconds or nanoseconds, as the file header says.
    ts_frac: u32,
    /// The captured bytes (the record's caplen).
    data: &'a [u8],
    orig_len: u32,
}

impl<'a> LegacyRecord<'a> {
    /// Its timestamp, in `iface`'s units and offset.
    #[inline]
    fn ts(&self, iface: Interface) -> Timestamp {
        Timestamp::from_parts(
            i64::from(self.ts_sec).saturating_add(iface.ts_offset),
            u64::from(self.ts_frac),
            iface.units_per_sec,
        )
    }

    /// The record as a packet of `iface` (numbered later, by the caller's count).
    #[inline]
    fn packet(self, iface: Interface) -> Packet<'a> {
        Packet {
            number: 0,
            ts: self.ts(iface),
            linktype: iface.linktype,
            data: self.data,
            orig_len: self.orig_len,
        }
    }
}

/// Why [`FileSource::for_each_record`] stopped reading a run of pcap records from the buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunEnd {
    /// No whole pcap record is left at the read position.
    Buffer,
    /// The next record is earlier than the last one handed on: the window takes over there.
    OutOfOrder,
    /// The callback asked to stop.
    Stop,
}

/// The pcap record at the start of `buf` with its length, when `format` is pcap and the
/// record lies whole in `buf`: what pcap-parser's `parse_pcap_frame(_be)` returns for it.
/// `None` for everything else (another format, a record cut by the buffer's end), which the
/// caller hands to pcap-parser.
#[inline]
fn legacy_record(format: Format, buf: &[u8]) -> Option<(usize, LegacyRecord<'_>)> {
    match format {
        Format::PcapLe => legacy_record_in::<true>(buf),
        Format::PcapBe => legacy_record_in::<false>(buf),
        _ => None,
    }
}

/// [`legacy_record`] for a pcap file of the byte order `LITTLE` says: the read loop is built
/// once for each order, without a choice per field.
#[inline(always)]
fn legacy_record_in<const LITTLE: bool>(buf: &[u8]) -> Option<(usize, LegacyRecord<'_>)> {
    let (head, rest) = buf.split_first_chunk::<16>()?;
    let at = |i: usize| {
        let bytes = head
            .get(i..i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .unwrap_or_default();
        if LITTLE {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        }
    };
    let caplen = at(8);
    let data = rest.get(..usize::try_from(caplen).ok()?)?;
    Some((
        16 + data.len(),
        LegacyRecord {
            ts_sec: at(0),
            ts_frac: at(4),
            data,
            orig_len: at(12),
        },
    ))
}

/// Hands on the pcap records lying whole at the start of `data`, of byte order `LITTLE`,
/// until one is earlier than `last_out` (with a re-sort window), the callback stops, or no
/// whole record is left: the bytes taken and why the run ended.
#[inline(always)]
fn legacy_run<const LITTLE: bool>(
    data: &[u8],
    iface: Interface,
    reorder_span: i64,
    last_out: &mut Timestamp,
    state: &mut ReadState,
    on_record: &mut impl FnMut(Record<'_, '_>) -> ControlFlow<()>,
) -> (usize, RunEnd) {
    let mut taken = 0usize;
    // `ReadState::count` for a run of one interface: its link type is looked for once.
    let mut linktype_noted = state.summary.linktypes.contains(&iface.linktype);
    while let Some((consumed, record)) =
        legacy_record_in::<LITTLE>(data.get(taken..).unwrap_or_default())
    {
        let mut packet = record.packet(iface);
        if packet.ts < *last_out && reorder_span > 0 {
            return (taken, RunEnd::OutOfOrder);
        }
        *last_out = packet.ts;
        state.number(&mut packet, None);
        if !linktype_noted {
            state.summary.linktypes.push(packet.linktype);
            linktype_noted = true;
        }
        taken += consumed;
        if on_record(Record::Packet(&packet)).is_break() {
            return (taken, RunEnd::Stop);
        }
    }
    (taken, RunEnd::Buffer)
}

/// Parses the block at the start of `i` as `format` lays it out: its length and contents.
fn parse_block(
    format: Format,
    i: &[u8],
) -> Result<(usize, PcapBlockOwned<'_>), nom::Err<PcapError<&[u8]>>> {
    let len = |rest: &[u8]| i.len() - rest.len();
    match format {
        Format::PcapLe => pcap_parser::parse_pcap_frame(i).map(|(r, b)| (len(r), b.into())),
        Format::PcapBe => pcap_parser::parse_pcap_frame_be(i).map(|(r, b)| (len(r), b.into())),
        Format::PcapModified => {
            pcap_parser::parse_pcap_frame_modified(i).map(|(r, b)| (len(r), b.into()))
        }
        Format::Ng { big_endian: false } => {
            pcap_parser::pcapng::parse_block_le(i).map(|(r, b)| (len(r), b.into()))
        }
        Format::Ng { big_endian: true } => {
            pcap_parser::pcapng::parse_block_be(i).map(|(r, b)| (len(r), b.into()))
        }
        Format::Unknown => Err(nom::Err::Error(PcapError::HeaderNotRecognized)),
    }
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
            format: Format::Unknown,
            index: None,
            section_header: (0, 24),
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
                self.format = if header.is_modified_format() {
                    Format::PcapModified
                } else if header.is_bigendian() {
                    Format::PcapBe
                } else {
                    Format::PcapLe
                };
                self.note_section(Some(24), None);
                self.section_header = (self.summary.bytes, 24);
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
                self.format = Format::Ng {
                    big_endian: shb.big_endian(),
                };
                // A new section restarts interface numbering (pcapng §4.1).
                self.interfaces.clear();
                self.note_section(Some(u64::from(shb.block_len1)), None);
                self.section_header = (
                    self.summary.bytes,
                    usize::try_from(shb.block_len1).unwrap_or(usize::MAX),
                );
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
        self.number(packet, number);
        if !self.summary.linktypes.contains(&packet.linktype) {
            self.summary.linktypes.push(packet.linktype);
        }
    }

    /// Counts a packet the file delivers and numbers it (`number`, else the count).
    #[inline(always)]
    fn number(&mut self, packet: &mut Packet<'_>, number: Option<u64>) {
        self.summary.packets += 1;
        packet.number = number.unwrap_or(self.summary.packets);
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
    /// Span of the re-sort window, in nanoseconds (0: file order, never re-sorted).
    reorder_span: i64,
    /// The re-sort window, once the file has shown a timestamp out of order (`None`: packets
    /// go in file order, as read).
    window: Option<Box<Window>>,
    /// Timestamp of the last packet handed on in file order (before the window engages).
    last_out: Timestamp,
    /// File offset up to which blocks have been read ahead (window mode).
    scan_at: u64,
    /// Nothing more to read ahead: the end, or damage (in the summary).
    scan_ended: bool,
    /// The packet [`FileSource::peek`] chose, for [`FileSource::take`] (window mode).
    chosen: Option<u64>,
    /// Read blocks taking over from the ordinary reader for [`FileSource::peek`] and
    /// [`FileSource::take`] ([`FileSource::read_in_blocks`]), with the packet `peek`
    /// stopped at and its record's length.
    blocks: Option<Box<Blocks>>,
    peeked: Option<(PacketAt, usize)>,
    /// Bytes of a read block ([`BLOCK_BYTES`] unless [`FileSource::with_block_bytes`]).
    block_bytes: usize,
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
            reorder_span: DEFAULT_REORDER_WINDOW_NS,
            window: None,
            last_out: Timestamp(i64::MIN),
            scan_at: 0,
            scan_ended: false,
            chosen: None,
            blocks: None,
            peeked: None,
            block_bytes: BLOCK_BYTES,
        })
    }

    /// Read blocks of `bytes` (at least 64) instead of [`BLOCK_BYTES`]: for
    /// the differential fuzz target (`fuzz/`, `read_blocks`) and its tests, so that records
    /// are cut at blocks' ends, and large ones left to the ordinary reader, on small inputs.
    /// Not a tuning knob: what is read is the same whatever the size.
    #[doc(hidden)]
    #[must_use]
    pub fn with_block_bytes(mut self, bytes: usize) -> Self {
        self.block_bytes = bytes.max(MIN_BLOCK_BYTES);
        self
    }

    /// Sorts the file from its first packet on within a window of `span_ns` (packets are
    /// handed on in timestamp order as long as none is timestamped more than that before a
    /// packet the file holds ahead of it), instead of only from its first packet out of order
    /// on within [`DEFAULT_REORDER_WINDOW_NS`]: for a file known to be out of order, at the
    /// look-ahead's cost on every packet. 0 hands them on in file order. Call before reading.
    #[must_use]
    pub fn with_reorder_window(mut self, span_ns: i64) -> Self {
        self.reorder_span = span_ns.max(0);
        self.window = (span_ns > 0).then(|| Box::new(Window::new(span_ns)));
        self
    }

    /// The file has just shown a packet timestamped before the last one handed on (it is
    /// at the read position, not consumed): from here on, read through the window.
    #[cold]
    fn engage_window(&mut self) {
        self.window = Some(Box::new(Window::after(self.reorder_span, self.last_out)));
        self.scan_at = self.state.summary.bytes;
        if let Some((index, _)) = &self.state.index {
            index.freeze();
        }
    }

    /// Records a checkpoint into `index` each time the read buffer is refilled from now on, so
    /// [`super::index::read_packets`] can read any packet again by its byte offset. Call it
    /// before the first packet is read.
    pub fn index_packets(&mut self, index: &PacketIndex) {
        if self.window.is_some() {
            // Re-sorted from the first packet (`with_reorder_window`): offsets do not start
            // runs numbered as delivered, so packets are found by reading from the start.
            index.freeze();
            index.set_reorder_window(self.reorder_span);
        } else if self.reorder_span == 0 {
            // Read in file order: reading again must not re-sort either.
            index.set_reorder_window(0);
        }
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
        if self.window.is_some() {
            return self.windowed(&mut on_record);
        }
        loop {
            // The pcap records lying whole in the buffer are read here, without pcap-parser's
            // block enum and dynamic call (a quarter of the reading's instructions), from one
            // view of the buffer with the read position moved once for the run (the reader is
            // a `dyn`: asking it for its data and moving it on were two calls a packet);
            // anything else (pcapng, the header, a record cut by the buffer's end, damage)
            // goes through pcap-parser.
            if let Some(iface) = self.state.legacy {
                let data = self.reader.data();
                let (span, last_out, state) =
                    (self.reorder_span, &mut self.last_out, &mut self.state);
                let (taken, ended) = match state.format {
                    Format::PcapLe => {
                        legacy_run::<true>(data, iface, span, last_out, state, &mut on_record)
                    }
                    Format::PcapBe => {
                        legacy_run::<false>(data, iface, span, last_out, state, &mut on_record)
                    }
                    _ => (0, RunEnd::Buffer),
                };
                // The records before the one that ended the run are consumed before anything
                // else reads the position (the window starts its scan there).
                if taken > 0 {
                    self.advance(taken);
                }
                match ended {
                    RunEnd::Stop => break,
                    RunEnd::OutOfOrder => {
                        self.engage_window();
                        return self.windowed(&mut on_record);
                    }
                    // More whole records may follow once pcap-parser refills the buffer.
                    RunEnd::Buffer if taken > 0 => continue,
                    RunEnd::Buffer => {}
                }
            }
            let (consumed, stop) = match self.reader.next() {
                Ok((offset, block)) => {
                    let stop = match self.state.decode(block) {
                        Decoded::Packet(mut packet) => {
                            if packet.ts < self.last_out && self.reorder_span > 0 {
                                self.engage_window();
                                return self.windowed(&mut on_record);
                            }
                            self.last_out = packet.ts;
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
        self.take_summary()
    }

    /// As [`FileSource::for_each_record`], and for a pcap or pcapng file (not standard input,
    /// not modified pcap, read in file order) the packets' bytes are read into blocks of
    /// [`BLOCK_BYTES`] that the callback may keep (by `Arc`) instead of copying each packet:
    /// [`InBlock`] says where a packet lies. Blocks come from `pool` when it has one. From
    /// anything the blocks do not take (a packet out of timestamp order, a record too large
    /// for a block, a record cut by the file's end, a block pcap-parser would not parse, a
    /// read error) the ordinary reader goes on at that record, so what is handed on, and the
    /// summary, are the same either way.
    pub fn for_each_record_in_blocks(
        &mut self,
        pool: &BlockPool,
        mut on_record: impl FnMut(Record<'_, '_>, Option<InBlock<'_>>) -> ControlFlow<()>,
    ) -> ReadSummary {
        let Some(mut blocks) = self.open_blocks(pool) else {
            return self.for_each_record(|r| on_record(r, None));
        };
        loop {
            let (found, consumed) = self.next_in_blocks(&mut blocks);
            let stop = match found {
                InBlocks::Packet(at) => {
                    let mut packet = at.packet(&blocks.block);
                    if packet.ts < self.last_out && self.reorder_span > 0 {
                        // The window engages there, in the ordinary reader.
                        return self.go_on_unblocked(&mut on_record);
                    }
                    self.last_out = packet.ts;
                    self.state.count(&mut packet, None);
                    let place = InBlock {
                        block: &blocks.block,
                        start: at.start,
                    };
                    on_record(Record::Packet(&packet), Some(place)).is_break()
                }
                InBlocks::Secrets(at) => on_record(
                    Record::Secrets(at.secrets(&blocks.block, &self.state)),
                    None,
                )
                .is_break(),
                InBlocks::Nothing => false,
                InBlocks::End => return self.take_summary(),
                InBlocks::Unblock => return self.go_on_unblocked(&mut on_record),
            };
            self.state.summary.bytes += consumed as u64;
            if stop {
                return self.take_summary();
            }
        }
    }

    /// The read blocks of this file from the read position on, when they can take it: not
    /// standard input, in file order, no packet index asked for, nothing handed on yet, and
    /// pcap or pcapng. Reads the file header (or first section header) first.
    fn open_blocks(&mut self, pool: &BlockPool) -> Option<Blocks> {
        let eligible = self.window.is_none()
            && self.path != "-"
            && self.state.index.is_none()
            && self.state.summary.packets == 0;
        if !eligible {
            return None;
        }
        if self.state.format == Format::Unknown {
            // The file header, through pcap-parser as always.
            if let Ok((consumed, block)) = self.reader.next() {
                self.state.decode(block);
                self.advance(consumed);
            }
        }
        let taken = match self.state.format {
            Format::PcapLe | Format::PcapBe => self.state.legacy.is_some(),
            Format::Ng { .. } => true,
            Format::PcapModified | Format::Unknown => false,
        };
        if !taken {
            return None;
        }
        let mut file = File::open(&self.path).ok()?;
        file.seek(SeekFrom::Start(self.state.summary.bytes)).ok()?;
        Some(Blocks {
            file,
            block: Arc::new(Blocks::take(pool, self.block_bytes)),
            size: self.block_bytes,
            largest_record: MAX_BLOCK_RECORD.min(self.block_bytes / 2),
            filled: 0,
            at: 0,
            eof: false,
            pool: Arc::clone(pool),
        })
    }

    /// The next record of `blocks`, decoded (headers, interfaces and statistics into the
    /// state), with its length in the file; the caller adds that to the bytes read once it
    /// has handed the record on.
    #[inline(always)]
    fn next_in_blocks(&mut self, blocks: &mut Blocks) -> (InBlocks, usize) {
        let format = self.state.format;
        // A pcap record whole in the block: read at once, without the framing checks below.
        if let (Some(iface), Some((len, record))) = (
            self.state.legacy,
            legacy_record(
                format,
                blocks
                    .block
                    .get(blocks.at..blocks.filled)
                    .unwrap_or_default(),
            ),
        ) {
            if len <= blocks.largest_record {
                let found = PacketAt {
                    start: blocks.at + 16,
                    len: record.data.len(),
                    ts: record.ts(iface),
                    linktype: iface.linktype,
                    orig_len: record.orig_len,
                };
                blocks.at += len;
                return (InBlocks::Packet(found), len);
            }
        }
        self.framed_in_blocks(blocks)
    }

    /// [`FileSource::next_in_blocks`] for anything but a pcap record whole in the block
    /// (pcapng, a record cut by the block's end, the end): out of the pcap loop, which
    /// stays small.
    #[inline(never)]
    fn framed_in_blocks(&mut self, blocks: &mut Blocks) -> (InBlocks, usize) {
        let format = self.state.format;
        let Some((at, len)) = blocks.next_record(format) else {
            return if blocks.at == blocks.filled && blocks.eof {
                (InBlocks::End, 0)
            } else {
                (InBlocks::Unblock, 0)
            };
        };
        let bytes = blocks.block.get(at..at + len).unwrap_or_default();
        let base = blocks.block.as_ptr() as usize;
        let offset = |data: &[u8]| (data.as_ptr() as usize).saturating_sub(base);
        if let Format::PcapLe | Format::PcapBe = format {
            let (Some(iface), Some((_, record))) =
                (self.state.legacy, legacy_record(format, bytes))
            else {
                return (InBlocks::Unblock, 0);
            };
            let packet = record.packet(iface);
            let found = PacketAt {
                start: offset(packet.data),
                len: packet.data.len(),
                ts: packet.ts,
                linktype: packet.linktype,
                orig_len: packet.orig_len,
            };
            return (InBlocks::Packet(found), len);
        }
        let block = match enhanced_packet(format, bytes) {
            Some(epb) => PcapBlockOwned::NG(Block::EnhancedPacket(epb)),
            None => match parse_block(format, bytes) {
                // What pcap-parser takes from the bytes the header says are the block's.
                Ok((parsed, block)) if parsed == len => block,
                _ => return (InBlocks::Unblock, 0),
            },
        };
        let found = match self.state.decode(block) {
            Decoded::Packet(packet) => InBlocks::Packet(PacketAt {
                start: offset(packet.data),
                len: packet.data.len(),
                ts: packet.ts,
                linktype: packet.linktype,
                orig_len: packet.orig_len,
            }),
            Decoded::Secrets(secrets) => InBlocks::Secrets(SecretsAt {
                kind: secrets.kind,
                start: offset(secrets.data),
                len: secrets.data.len(),
            }),
            Decoded::Nothing => InBlocks::Nothing,
        };
        (found, len)
    }

    /// The ordinary reader, on from the first record not handed on (the read position of
    /// [`FileSource::for_each_record_in_blocks`]).
    #[cold]
    fn go_on_unblocked(
        &mut self,
        on_record: &mut dyn FnMut(Record<'_, '_>, Option<InBlock<'_>>) -> ControlFlow<()>,
    ) -> ReadSummary {
        if self.unblock() {
            self.for_each_record(|r| on_record(r, None))
        } else {
            self.take_summary()
        }
    }

    /// Hands the reading over from read blocks to the ordinary reader at the read position:
    /// reopened there after the header of the section it is in (the pcap file header, or the
    /// pcapng section header block, whose interfaces the state still has), that header read
    /// again. `false` (the error in the summary) when the file cannot be read again.
    #[cold]
    fn unblock(&mut self) -> bool {
        self.blocks = None;
        let offset = self.state.summary.bytes;
        let (header_at, header_len) = self.state.section_header;
        let reopened = File::open(&self.path).and_then(|mut file| {
            let mut header = vec![0u8; header_len];
            file.seek(SeekFrom::Start(header_at))?;
            file.read_exact(&mut header)?;
            file.seek(SeekFrom::Start(offset))?;
            Ok(io::Cursor::new(header).chain(file))
        });
        let fresh = match reopened {
            Ok(input) => Self::from_reader(&self.path, Box::new(input)),
            Err(source) => Err(CaptureError::Io {
                path: self.path.clone(),
                source,
            }),
        };
        match fresh {
            Ok(mut fresh) => {
                // Its header block: known already (decoding a section header again would
                // forget the section's interfaces).
                if let Ok((consumed, _)) = fresh.reader.next() {
                    fresh.reader.consume_noshift(consumed);
                }
                self.reader = fresh.reader;
                true
            }
            Err(error) => {
                self.state.summary.error = Some(error);
                false
            }
        }
    }

    /// From here on, [`FileSource::peek`] and [`FileSource::take`] read this file in read
    /// blocks from `pool` when they can take it (as [`FileSource::for_each_record_in_blocks`]
    /// does), so the packets [`FileSource::take`] hands on lie in blocks the caller may keep.
    /// Call before the first `peek`.
    pub(crate) fn read_in_blocks(&mut self, pool: &BlockPool) {
        self.blocks = self.open_blocks(pool).map(Box::new);
    }

    /// The rest of [`FileSource::for_each_record`] once the window is engaged.
    fn windowed(
        &mut self,
        on_record: &mut dyn FnMut(Record<'_, '_>) -> ControlFlow<()>,
    ) -> ReadSummary {
        loop {
            let next = self.ready(&mut |secrets| {
                let _ = on_record(Record::Secrets(secrets));
            });
            let Some(seq) = next else { break };
            if self
                .deliver(seq, None, |packet| on_record(Record::Packet(packet)))
                .is_break()
            {
                break;
            }
        }
        self.take_summary()
    }

    /// The summary so far, with the window's counts, leaving an empty one.
    fn take_summary(&mut self) -> ReadSummary {
        let mut summary = std::mem::take(&mut self.state.summary);
        if let Some(w) = &mut self.window {
            summary.reordered = std::mem::take(&mut w.reordered);
            summary.beyond_window = std::mem::take(&mut w.beyond);
        }
        summary
    }

    /// Reads ahead until the earliest packet held may go (window mode), handing the secrets
    /// met on the way to `on_secrets`; returns its sequence number, `None` at the end.
    fn ready(&mut self, on_secrets: &mut dyn FnMut(Secrets<'_>)) -> Option<u64> {
        loop {
            let window = self.window.as_mut()?;
            let ahead = self.scan_at.saturating_sub(self.state.summary.bytes);
            let full = ahead as usize >= self.state.buffer_size / LOOKAHEAD_SHARE
                || window.len() >= MAX_HELD_PACKETS;
            if full && window.len() < MAX_HELD_PACKETS && self.state.buffer_size < MAX_RECORD_BYTES
            {
                // A fast capture: more room before giving up any of the window.
                self.state.buffer_size = (self.state.buffer_size * 4).min(MAX_RECORD_BYTES);
                if self.reader.grow(self.state.buffer_size) {
                    continue;
                }
            }
            if let Some(seq) = window.ready(self.scan_ended, full) {
                return Some(seq);
            }
            if self.scan_ended {
                // Blocks after the last packet (statistics, names): read, now consumed.
                let rest = self.scan_at.saturating_sub(self.state.summary.bytes);
                self.advance(usize::try_from(rest).unwrap_or(0));
                return None;
            }
            if !self.read_ahead(on_secrets) {
                // No room to read the next block while packets are held: hand one on.
                let window = self.window.as_mut()?;
                return window.ready(true, true);
            }
        }
    }

    /// Reads the next block ahead of delivery: a packet is held, secrets go to `on_secrets`,
    /// the rest updates the state. Returns `false` when the buffer has no room for the block
    /// until held packets go; at the end or at damage sets `scan_ended`.
    fn read_ahead(&mut self, on_secrets: &mut dyn FnMut(Secrets<'_>)) -> bool {
        if self.scan_at == 0 {
            // The file header (pcap) or first section header (pcapng): as pcap-parser reads it.
            match self.reader.next() {
                Ok((offset, block)) => {
                    if let Decoded::Secrets(secrets) = self.state.decode(block) {
                        on_secrets(secrets);
                    }
                    self.advance(offset);
                    self.scan_at = offset as u64;
                }
                Err(e) => {
                    let failure = Failure::of(&e);
                    if !self.recover(failure) {
                        self.scan_ended = true;
                    }
                }
            }
            return true;
        }
        let Some(window) = self.window.as_mut() else {
            self.scan_ended = true;
            return true;
        };
        let rel = usize::try_from(self.scan_at.saturating_sub(self.state.summary.bytes))
            .unwrap_or(usize::MAX);
        let data = self.reader.data();
        let slice = data.get(rel..).unwrap_or_default();
        let failure = match parse_block(self.state.format, slice) {
            Ok((len, block)) => {
                let base = slice.as_ptr() as usize;
                match self.state.decode(block) {
                    Decoded::Packet(p) => {
                        let data_at = (p.data.as_ptr() as usize).saturating_sub(base);
                        window.push(Held::new(
                            self.scan_at,
                            u32::try_from(data_at).unwrap_or(u32::MAX),
                            u32::try_from(p.data.len()).unwrap_or(u32::MAX),
                            p.ts,
                            p.linktype,
                            p.orig_len,
                        ));
                    }
                    Decoded::Secrets(mut secrets) => {
                        // Packets before it in the file, held ones included.
                        secrets.after_packet = self.state.summary.packets + window.len() as u64;
                        on_secrets(secrets);
                    }
                    Decoded::Nothing => {}
                }
                self.scan_at += len as u64;
                return true;
            }
            Err(nom::Err::Incomplete(needed)) => {
                let needed = match needed {
                    nom::Needed::Size(n) => n.get(),
                    nom::Needed::Unknown => 1,
                };
                if self.reader.reader_exhausted() {
                    if slice.is_empty() {
                        self.scan_ended = true;
                        return true;
                    }
                    Failure::UnexpectedEof
                } else if data.len() + needed < self.state.buffer_size {
                    Failure::Incomplete
                } else if window.len() > 0 {
                    // The record fits once the packets before it are handed on.
                    return false;
                } else {
                    Failure::BufferTooSmall
                }
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Failure::Other(describe(&e)),
        };
        let held = window.len() as u64;
        match failure {
            Failure::Incomplete | Failure::BufferTooSmall => {
                if !self.recover(failure) {
                    self.scan_ended = true;
                }
            }
            Failure::UnexpectedEof => {
                self.state.summary.error = Some(CaptureError::Truncated {
                    path: self.path.clone(),
                    after_packet: self.state.summary.packets + held,
                    offset: self.scan_at,
                });
                self.scan_ended = true;
            }
            Failure::Eof | Failure::Other(_) => {
                let detail = match failure {
                    Failure::Other(detail) => detail,
                    _ => "end of file".to_owned(),
                };
                self.state.summary.error = Some(CaptureError::Corrupt {
                    path: self.path.clone(),
                    after_packet: self.state.summary.packets + held,
                    offset: self.scan_at,
                    detail,
                });
                self.scan_ended = true;
            }
        }
        true
    }

    /// Hands on the held packet `seq`, numbered `number` (else the next in this file), and
    /// consumes the read buffer up to the first packet still held.
    fn deliver(
        &mut self,
        seq: u64,
        number: Option<u64>,
        on_packet: impl FnOnce(&Packet<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let Some(window) = self.window.as_mut() else {
            return ControlFlow::Continue(());
        };
        let Some(held) = window.take(seq) else {
            return ControlFlow::Continue(());
        };
        let upto = window.release().unwrap_or(self.scan_at);
        let consumed = self.state.summary.bytes;
        let start = usize::try_from(held.at.saturating_sub(consumed))
            .unwrap_or(usize::MAX)
            .saturating_add(held.data_at as usize);
        let end = start.saturating_add(held.data_len as usize);
        let mut packet = Packet {
            number: 0,
            ts: held.ts,
            linktype: held.linktype,
            data: self.reader.data().get(start..end).unwrap_or_default(),
            orig_len: held.orig_len,
        };
        self.state.count(&mut packet, number);
        let flow = on_packet(&packet);
        self.advance(usize::try_from(upto.saturating_sub(consumed)).unwrap_or(0));
        flow
    }

    /// Reads up to the next packet without delivering it, and returns its timestamp; the
    /// blocks before it are decoded, their secrets handed to `on_secrets`. `None` at the end
    /// of the file or at damage ([`FileSource::summary`] says which). The packet stays in the
    /// read buffer until [`FileSource::take`]: this is how [`super::MergedSource`] looks at
    /// the head of every file without copying packets.
    pub(crate) fn peek(&mut self, mut on_secrets: impl FnMut(Secrets<'_>)) -> Option<Timestamp> {
        if let Some(mut blocks) = self.blocks.take() {
            if let Some(head) = self.peek_in_blocks(&mut blocks, &mut on_secrets) {
                self.blocks = Some(blocks);
                return head;
            }
            // Something the blocks do not take: the ordinary reader goes on from it.
            if !self.unblock() {
                return None;
            }
        }
        if self.window.is_some() {
            let seq = match self.chosen {
                Some(seq) => seq,
                None => self.ready(&mut on_secrets)?,
            };
            self.chosen = Some(seq);
            return self.window.as_ref().and_then(|w| w.ts_of(seq));
        }
        loop {
            let consumed = match self.reader.next() {
                Ok((offset, block)) => match self.state.decode(block) {
                    Decoded::Packet(packet)
                        if packet.ts < self.last_out && self.reorder_span > 0 =>
                    {
                        self.engage_window();
                        return self.peek(on_secrets);
                    }
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

    /// [`FileSource::peek`] in read blocks: `Some(head)` as `peek` returns it, `None` when
    /// the ordinary reader must go on from the read position.
    fn peek_in_blocks(
        &mut self,
        blocks: &mut Blocks,
        on_secrets: &mut dyn FnMut(Secrets<'_>),
    ) -> Option<Option<Timestamp>> {
        if let Some((at, _)) = self.peeked {
            return Some(Some(at.ts));
        }
        loop {
            let (found, consumed) = self.next_in_blocks(blocks);
            match found {
                InBlocks::Packet(at) if at.ts < self.last_out && self.reorder_span > 0 => {
                    // The window engages there, in the ordinary reader.
                    return None;
                }
                InBlocks::Packet(at) => {
                    self.peeked = Some((at, consumed));
                    return Some(Some(at.ts));
                }
                InBlocks::Secrets(at) => on_secrets(at.secrets(&blocks.block, &self.state)),
                InBlocks::Nothing => {}
                InBlocks::End => return Some(None),
                InBlocks::Unblock => return None,
            }
            self.state.summary.bytes += consumed as u64;
        }
    }

    /// Hands the packet [`FileSource::peek`] stopped at to `on_packet`, numbered `number`
    /// (its place in the merged capture), and moves past it; with where it lies when it is
    /// in a read block the caller may keep ([`FileSource::read_in_blocks`]).
    pub(crate) fn take(
        &mut self,
        number: u64,
        on_packet: impl FnOnce(&Packet<'_>, Option<InBlock<'_>>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.blocks.is_some() && self.peeked.is_none() {
            self.peek(|_| {});
        }
        if let (Some(blocks), Some((at, consumed))) = (&self.blocks, self.peeked.take()) {
            let mut packet = at.packet(&blocks.block);
            self.last_out = packet.ts;
            self.state.count(&mut packet, Some(number));
            let place = InBlock {
                block: &blocks.block,
                start: at.start,
            };
            let flow = on_packet(&packet, Some(place));
            self.state.summary.bytes += consumed as u64;
            return flow;
        }
        let on_packet = |packet: &Packet<'_>| on_packet(packet, None);
        if self.window.is_some() {
            let chosen = match self.chosen.take() {
                Some(seq) => Some(seq),
                None => self.ready(&mut |_| {}),
            };
            return match chosen {
                Some(seq) => self.deliver(seq, Some(number), on_packet),
                None => ControlFlow::Continue(()),
            };
        }
        // The block is still in the buffer: parsing it again costs its header, not a copy.
        let (consumed, flow) = match self.reader.next() {
            Ok((offset, block)) => match self.state.decode(block) {
                Decoded::Packet(mut packet) => {
                    self.last_out = packet.ts;
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

    /// Packets this file has delivered so far (the last one's number in the file's own
    /// count, whatever number the merge gave it).
    pub(crate) fn delivered(&self) -> u64 {
        self.state.summary.packets
    }

    /// What the reading covered (the whole file once [`FileSource::peek`] has returned
    /// `None`).
    pub(crate) fn into_summary(mut self) -> ReadSummary {
        self.take_summary()
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
            // Numbered as the first reading numbered them: with the window it was given.
            if let Some(span) = index.reorder_window() {
                source = source.with_reorder_window(span);
            }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The hand-read pcap record is exactly what pcap-parser reads, or `None` where
    /// pcap-parser would not hand over a record (cut short, so the caller refills).
    #[test]
    fn legacy_record_matches_pcap_parser() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut byte = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        };
        let mut taken = 0;
        for len in 0usize..200 {
            for round in 0..40 {
                let mut buf: Vec<u8> = (0..len).map(|_| byte()).collect();
                // Mostly plausible caplens (around the buffer's length), some random ones.
                let caplen = if round % 4 == 0 {
                    u32::from(byte()) << 24
                } else {
                    u32::try_from(len.saturating_sub(16) + usize::from(byte() % 5))
                        .unwrap_or(0)
                        .saturating_sub(2)
                };
                for (format, le) in [(Format::PcapLe, true), (Format::PcapBe, false)] {
                    if let Some(slot) = buf.get_mut(8..12) {
                        let word = if le {
                            caplen.to_le_bytes()
                        } else {
                            caplen.to_be_bytes()
                        };
                        slot.copy_from_slice(&word);
                    }
                    let theirs = if le {
                        pcap_parser::parse_pcap_frame(&buf)
                    } else {
                        pcap_parser::parse_pcap_frame_be(&buf)
                    };
                    let ours = legacy_record(format, &buf);
                    match (theirs, ours) {
                        (Ok((rest, block)), Some((consumed, record))) => {
                            taken += 1;
                            assert_eq!(consumed, buf.len() - rest.len());
                            assert_eq!(record.ts_sec, block.ts_sec);
                            assert_eq!(record.ts_frac, block.ts_usec);
                            assert_eq!(record.orig_len, block.origlen);
                            assert_eq!(record.data, block.data);
                        }
                        (Err(nom::Err::Incomplete(_)), None) => {}
                        (theirs, ours) => panic!(
                            "len {len} caplen {caplen}: pcap-parser {:?}, here {:?}",
                            theirs.map(|(r, _)| r.len()),
                            ours.map(|(c, _)| c)
                        ),
                    }
                }
            }
        }
        assert!(taken > 1000, "only {taken} whole records generated");
        // pcapng and the modified format always go through pcap-parser.
        let whole = [0u8; 64];
        assert!(legacy_record(Format::PcapModified, &whole).is_none());
        assert!(legacy_record(Format::Ng { big_endian: false }, &whole).is_none());
        assert!(legacy_record(Format::Unknown, &whole).is_none());
    }

    /// A little-endian pcap file of records with the given (seconds, length) in file order.
    pub(crate) fn pcap_file(
        name: &str,
        records: &[(u32, usize)],
        cut: usize,
    ) -> std::path::PathBuf {
        let mut out = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ];
        for (i, &(sec, len)) in records.iter().enumerate() {
            let len32 = u32::try_from(len).unwrap();
            for word in [sec, u32::try_from(i).unwrap(), len32, len32 + 1] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            out.extend((0..len).map(|b| (b ^ i) as u8));
        }
        out.truncate(out.len() - cut);
        let path =
            std::env::temp_dir().join(format!("wssniff-blocks-{}-{name}", std::process::id()));
        std::fs::write(&path, out).unwrap();
        path
    }

    /// A packet as a reading handed it on: its number, time, length on the wire and bytes;
    /// one lying in a block is checked to hold the same bytes there and counted.
    pub(crate) fn packet_seen(
        p: &Packet<'_>,
        place: Option<InBlock<'_>>,
        in_blocks: &mut usize,
    ) -> String {
        if let Some(place) = place {
            assert_eq!(
                &place.block[place.start..place.start + p.data.len()],
                p.data
            );
            *in_blocks += 1;
        }
        format!("{} {:?} {} {:?}", p.number, p.ts, p.orig_len, p.data)
    }

    /// What a reading hands on: each packet as [`packet_seen`] writes it, and secrets.
    fn read_all(path: &std::path::Path, blocks: bool) -> (Vec<String>, usize, String) {
        let mut source = FileSource::open(path.to_str().unwrap()).unwrap();
        let mut seen = Vec::new();
        let mut in_blocks = 0;
        let mut note = |record: Record<'_, '_>, place: Option<InBlock<'_>>| {
            if let Record::Secrets(secrets) = &record {
                seen.push(format!(
                    "secrets {:?} after {} {:?}",
                    secrets.kind, secrets.after_packet, secrets.data
                ));
            }
            if let Record::Packet(p) = record {
                seen.push(packet_seen(p, place, &mut in_blocks));
            }
            ControlFlow::Continue(())
        };
        let summary = if blocks {
            source.for_each_record_in_blocks(&BlockPool::default(), &mut note)
        } else {
            source.for_each_record(|r| note(r, None))
        };
        (seen, in_blocks, format!("{summary:?}"))
    }

    #[test]
    fn read_blocks_hand_on_what_the_ordinary_reader_does() {
        // Records cut at every place of a block's end (lengths that do not divide it), one
        // larger than a block can carry on with (the ordinary reader takes over from it), a
        // packet out of timestamp order (the window engages), and a file cut mid-record.
        let mut sizes: Vec<(u32, usize)> = (0..300)
            .map(|i| (10 + i / 7, 40 + (i as usize * 37) % 900))
            .collect();
        let plain = pcap_file("plain", &sizes, 0);
        let cut = pcap_file("cut", &sizes, 100);
        sizes.insert(250, (10, 3000));
        let large = pcap_file("large", &sizes, 0);
        sizes.insert(120, (5, 60));
        let late = pcap_file("late", &sizes, 0);
        for path in [&plain, &cut, &large, &late] {
            let (ordinary, none, summary) = read_all(path, false);
            let (blocked, taken, blocked_summary) = read_all(path, true);
            assert_eq!(none, 0);
            assert_eq!(ordinary, blocked, "{}", path.display());
            assert_eq!(summary, blocked_summary, "{}", path.display());
            // Blocks took the packets before anything they do not take.
            assert!(taken >= 120, "{}: {taken}", path.display());
            std::fs::remove_file(path).unwrap();
        }
        assert!(read_all_counts_everything_in_blocks());
    }

    /// A plain file in order is read wholly from blocks.
    fn read_all_counts_everything_in_blocks() -> bool {
        let sizes: Vec<(u32, usize)> = (0..100).map(|i| (1, 60 + i * 13)).collect();
        let path = pcap_file("whole", &sizes, 0);
        let (seen, taken, _) = read_all(&path, true);
        std::fs::remove_file(&path).unwrap();
        seen.len() == 100 && taken == 100
    }

    /// A pcapng file written block by block, in either byte order per section.
    #[derive(Default)]
    pub(crate) struct Ng {
        pub(crate) out: Vec<u8>,
        big: bool,
    }

    impl Ng {
        fn word(&self, v: u32) -> [u8; 4] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        fn half(&self, v: u16) -> [u8; 2] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        /// A block of type `kind` around `body` (padded to 32 bits).
        fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
            let mut body = body.to_vec();
            body.resize(body.len().div_ceil(4) * 4, 0);
            let len = u32::try_from(body.len() + 12).unwrap();
            let (k, l) = (self.word(kind), self.word(len));
            self.out.extend_from_slice(&k);
            self.out.extend_from_slice(&l);
            self.out.extend_from_slice(&body);
            self.out.extend_from_slice(&l);
            self
        }

        /// An option: code, length, value padded to 32 bits.
        fn option(&self, code: u16, value: &[u8]) -> Vec<u8> {
            let mut o = self.half(code).to_vec();
            o.extend_from_slice(&self.half(u16::try_from(value.len()).unwrap()));
            o.extend_from_slice(value);
            o.resize(o.len().div_ceil(4) * 4, 0);
            o
        }

        fn section(&mut self, big: bool) -> &mut Self {
            self.big = big;
            let mut body = self.word(0x1a2b_3c4d).to_vec();
            body.extend_from_slice(&self.half(1));
            body.extend_from_slice(&self.half(0));
            body.extend_from_slice(&[0xff; 8]);
            self.block(0x0a0d_0d0a, &body)
        }

        /// An interface of link type Ethernet, with `if_tsresol` when given.
        fn interface(&mut self, tsresol: Option<u8>) -> &mut Self {
            let mut body = self.half(1).to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&self.word(65535));
            if let Some(r) = tsresol {
                body.extend(self.option(9, &[r]));
                body.extend_from_slice(&[0; 4]);
            }
            self.block(1, &body)
        }

        /// An Enhanced Packet Block of `len` bytes, with an `opt_comment` when `comment`.
        fn packet(&mut self, iface: u32, ts: u64, len: usize, comment: bool) -> &mut Self {
            let mut body = Vec::new();
            #[allow(clippy::cast_possible_truncation)]
            for w in [iface, (ts >> 32) as u32, ts as u32] {
                body.extend_from_slice(&self.word(w));
            }
            let len32 = u32::try_from(len).unwrap();
            body.extend_from_slice(&self.word(len32));
            body.extend_from_slice(&self.word(len32 + 3));
            body.extend((0..len).map(|b| (b as u8) ^ (ts as u8)));
            body.resize(body.len().div_ceil(4) * 4, 0);
            if comment {
                body.extend(self.option(1, b"a comment"));
                body.extend_from_slice(&[0; 4]);
            }
            self.block(6, &body)
        }

        fn simple(&mut self, len: usize) -> &mut Self {
            let mut body = self.word(u32::try_from(len).unwrap()).to_vec();
            body.extend((0..len).map(|b| b as u8));
            self.block(3, &body)
        }

        fn names(&mut self) -> &mut Self {
            self.block(4, &[0; 4])
        }

        fn statistics(&mut self, iface: u32, dropped: u64) -> &mut Self {
            let mut body = self.word(iface).to_vec();
            body.extend_from_slice(&[0; 8]);
            let d = if self.big {
                dropped.to_be_bytes()
            } else {
                dropped.to_le_bytes()
            };
            body.extend(self.option(5, &d));
            body.extend_from_slice(&[0; 4]);
            self.block(5, &body)
        }

        fn secrets(&mut self, text: &[u8]) -> &mut Self {
            let mut body = self.word(0x544c_534b).to_vec();
            body.extend_from_slice(&self.word(u32::try_from(text.len()).unwrap()));
            body.extend_from_slice(text);
            self.block(10, &body)
        }

        pub(crate) fn write(&self, name: &str, cut: usize) -> std::path::PathBuf {
            let path =
                std::env::temp_dir().join(format!("wssniff-ng-{}-{name}", std::process::id()));
            std::fs::write(&path, &self.out[..self.out.len() - cut]).unwrap();
            path
        }
    }

    /// Two sections (little-endian, then big-endian) holding every kind of block the reader
    /// meets: interfaces with microsecond, nanosecond and millisecond resolution, packets of
    /// lengths that cut them at the (4 KiB in tests) blocks' ends, one with options, simple
    /// packets, names, statistics, secrets, and a packet of an interface not described.
    pub(crate) fn ng_sample(late: bool, oversized: bool) -> Ng {
        let mut ng = Ng::default();
        ng.section(false).interface(None).interface(Some(9));
        // A simple packet has no timestamp (0): first, before any packet later than that.
        ng.simple(77).secrets(b"CLIENT_RANDOM 00 11\n").names();
        let mut ts = 1_700_000_000_000_000u64;
        for i in 0..120usize {
            ts += 1000;
            let iface = u32::from(i % 3 == 0);
            let stamp = if iface == 1 { ts * 1000 } else { ts };
            ng.packet(iface, stamp, 40 + (i * 37) % 700, i == 60);
            if i == 30 {
                ng.statistics(0, 5).statistics(1, 2);
            }
            if i == 90 {
                ng.packet(7, stamp, 60, false).secrets(b"late secrets\n");
            }
            if oversized && i == 100 {
                ng.packet(0, ts, 3000, false);
            }
        }
        ng.statistics(0, 9);
        ng.section(true).interface(Some(3)).interface(None);
        let mut ms = ts / 1000;
        for i in 0..80usize {
            ms += 1;
            let iface = u32::from(i % 2 == 1);
            let stamp = if iface == 1 { ms * 1000 } else { ms };
            ng.packet(iface, stamp, 60 + (i * 53) % 900, i == 10);
            if late && i == 50 {
                // Earlier than what came before it: the window engages (in the ordinary
                // reader, after the big-endian section's header).
                ng.packet(0, ms - 500, 64, false);
            }
        }
        ng.statistics(1, 4);
        ng
    }

    #[test]
    fn read_blocks_take_pcapng_as_the_ordinary_reader_does() {
        let whole = ng_sample(false, false).write("whole", 0);
        let (seen, taken, _) = read_all(&whole, true);
        // Every packet the file holds, in blocks: none left to the ordinary reader.
        let packets = seen.iter().filter(|s| !s.starts_with("secrets")).count();
        // (The packet of interface 7, not described, is not one.)
        assert_eq!((packets, taken), (201, 201));
        // Records cut at the end of each block, a packet out of order in the big-endian
        // section, a block too large for a block, a file cut mid-block, damage (a trailing
        // length that disagrees), an unknown byte order magic in the second section header.
        let late = ng_sample(true, false).write("late", 0);
        let oversized = ng_sample(false, true).write("oversized", 0);
        let cut = ng_sample(false, false).write("cut", 100);
        let mut damaged = ng_sample(false, false);
        // The 60th block's trailing length (little-endian section).
        let mut at = 0;
        for _ in 0..60 {
            at += u32::from_le_bytes(damaged.out[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        let len = u32::from_le_bytes(damaged.out[at + 4..at + 8].try_into().unwrap()) as usize;
        damaged.out[at + len - 4] ^= 0x40;
        let damaged = damaged.write("damaged", 0);
        let mut bom = ng_sample(false, false);
        let second = bom
            .out
            .windows(4)
            .rposition(|w| w == [0x0a, 0x0d, 0x0d, 0x0a])
            .unwrap();
        bom.out[second + 8] = 0x77;
        let bom = bom.write("bom", 0);
        for path in [&whole, &late, &oversized, &cut, &damaged, &bom] {
            let (ordinary, none, summary) = read_all(path, false);
            let (blocked, taken, blocked_summary) = read_all(path, true);
            assert_eq!(none, 0);
            assert_eq!(ordinary, blocked, "{}", path.display());
            assert_eq!(summary, blocked_summary, "{}", path.display());
            // Blocks took the packets before what they do not take: a late packet or a
            // large block is read by the ordinary reader (and what follows them), damage is
            // reported by it.
            let all = blocked.iter().filter(|s| !s.starts_with("secrets")).count();
            assert!(taken >= 50, "{}: {taken}", path.display());
            if path == &late || path == &oversized {
                assert!(taken < all, "{}: {taken}", path.display());
            }
            if path != &whole && path != &late && path != &oversized {
                assert!(summary.contains("error: Some"), "{}", path.display());
            }
            std::fs::remove_file(path).unwrap();
        }
    }

    /// The hand-read Enhanced Packet Block is what pcap-parser reads, or `None`.
    #[test]
    fn enhanced_packet_matches_pcap_parser() {
        let mut taken = 0;
        for big in [false, true] {
            let format = Format::Ng { big_endian: big };
            for len in 0..70 {
                for comment in [false, true] {
                    let mut ng = Ng {
                        big,
                        ..Ng::default()
                    };
                    ng.packet(1, 0x1234_5678_9abc, len, comment);
                    // Then spoil each header word in turn.
                    for spoil in [None, Some(4), Some(20), Some(24), Some(ng.out.len() - 4)] {
                        let mut buf = ng.out.clone();
                        if let Some(at) = spoil {
                            buf[at] ^= 0x04;
                        }
                        let ours = enhanced_packet(format, &buf);
                        let theirs = parse_block(format, &buf);
                        if let Some(ours) = ours {
                            taken += 1;
                            let Ok((used, PcapBlockOwned::NG(Block::EnhancedPacket(theirs)))) =
                                theirs
                            else {
                                panic!("len {len} spoil {spoil:?}: pcap-parser refuses");
                            };
                            assert_eq!(used, buf.len());
                            assert_eq!(
                                format!("{ours:?}"),
                                format!("{theirs:?}"),
                                "len {len} spoil {spoil:?}"
                            );
                        } else if !comment && spoil.is_none() {
                            panic!("len {len}: not read by hand");
                        }
                    }
                }
            }
        }
        assert!(taken > 140, "{taken}");
        assert!(enhanced_packet(Format::PcapLe, &[0; 64]).is_none());
    }
}
