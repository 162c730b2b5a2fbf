//! The `read_blocks` target: a pcap or pcapng file read through the sharded reader's read
//! blocks ([`FileSource::for_each_record_in_blocks`], with small blocks so that records are
//! cut at blocks' ends, large ones are left to the ordinary reader, and the hand-over to it
//! happens on small inputs) against the ordinary reader ([`FileSource::for_each_record`]);
//! then the same bytes split into two files (at a record boundary, the second file given the
//! header of the section it is cut in) through the merge, in blocks against without
//! ([`MergedSource::for_each_record_unblocked`]), and the merge's packets against a merge by
//! hand of the two files' ordinary readings.
//!
//! What must agree, reader against reader: every record handed on, in order (a packet's
//! number, timestamp, link type, length on the wire and bytes; a secrets block's kind, bytes
//! and packets before it) and the whole summary (packets, bytes, link types, snap length,
//! drops, re-sort counts, and the error: its kind, packet count, offset and detail). A packet
//! said to lie in a block must lie there.
//!
//! Where they may differ, and so are not compared:
//! - the merge by hand is checked on packets only (their order, the merged numbering, each
//!   file's summary): the merge's own rule for secrets (those that open each file first, the
//!   rest as met) is checked between the merge in blocks and without;
//! - the merge numbers packets across files, a file read alone by itself: the merge by hand
//!   renumbers.
//!
//! Everything else is the same by design (`FileSource::for_each_record_in_blocks` hands over
//! to the ordinary reader at the first record the blocks do not take, so that what is handed
//! on and the summary are the same either way); a difference is a finding.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use wssniff::capture::{
    BlockPool, FileSource, InBlock, MergeSummary, MergedSource, Packet, ReadSummary, Record,
    Timestamp,
};

/// A record as a reading handed it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A packet: number, timestamp (ns), link type, length on the wire, bytes.
    Packet(u64, i64, u32, u32, Vec<u8>),
    /// A Decryption Secrets Block: kind, packets before it, bytes.
    Secrets(String, u64, Vec<u8>),
}

/// What one check covered, for tests that must see the blocks at work.
#[derive(Clone, Debug, Default)]
pub struct Agreement {
    /// Packets the whole file holds (as the ordinary reader hands them on).
    pub packets: u64,
    /// Of those, handed on from a read block, for each block size checked.
    pub in_blocks: Vec<u64>,
    /// Packets the merge of the two halves handed on.
    pub merged: u64,
    /// Of those, from a read block, for each block size checked.
    pub merged_in_blocks: Vec<u64>,
}

/// A temporary capture file, removed when dropped (also when a check panics in a test).
struct TempCapture(PathBuf);

impl TempCapture {
    fn new(which: &str, bytes: &[u8]) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // tmpfs when there is one: a file per input, three per execution.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "wssniff-read-blocks-{}-{n}-{which}",
            std::process::id()
        ));
        std::fs::write(&path, bytes).expect("write the temporary capture");
        TempCapture(path)
    }

    fn name(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempCapture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn packet_seen(p: &Packet<'_>) -> Seen {
    Seen::Packet(p.number, p.ts.0, p.linktype.0, p.orig_len, p.data.to_vec())
}

/// Notes a record, checking that a packet said to lie in a block lies there.
fn note(
    seen: &mut Vec<Seen>,
    in_blocks: &mut u64,
    record: Record<'_, '_>,
    place: Option<InBlock<'_>>,
) {
    match record {
        Record::Packet(p) => {
            if let Some(place) = place {
                let there = place.block.get(place.start..place.start + p.data.len());
                assert_eq!(
                    there,
                    Some(p.data),
                    "packet {} is not where it is said to lie",
                    p.number
                );
                *in_blocks += 1;
            }
            seen.push(packet_seen(p));
        }
        Record::Secrets(s) => {
            assert!(place.is_none(), "secrets handed on with a place");
            seen.push(Seen::Secrets(
                format!("{:?}", s.kind),
                s.after_packet,
                s.data.to_vec(),
            ));
        }
    }
}

/// The whole file through the ordinary reader: what it handed on and its summary, or (as
/// the merge keeps it for a file it cannot open) a summary holding only the error.
fn read_ordinary(path: &str) -> Result<(Vec<Seen>, String), String> {
    let mut source = FileSource::open(path).map_err(|error| {
        let summary = ReadSummary {
            error: Some(error),
            ..ReadSummary::default()
        };
        format!("{summary:?}")
    })?;
    let mut seen = Vec::new();
    let mut none = 0;
    let summary = source.for_each_record(|r| {
        note(&mut seen, &mut none, r, None);
        ControlFlow::Continue(())
    });
    Ok((seen, format!("{summary:?}")))
}

/// What a record of the walk in [`records`] is, for the header a split file needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A pcapng section header block.
    Section,
    /// A pcapng interface description block.
    Interface,
    /// Anything else (every pcap record).
    Other,
}

/// The records of `data` after the file header, as a walk of their length fields finds
/// them: (start, end, what). Stops at the first length that does not frame a record.
fn records(data: &[u8]) -> Vec<(usize, usize, Framing)> {
    let word = |at: usize, big: bool| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let mut out = Vec::new();
    match data.get(..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1])
        | Some([0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d]) => {
            let big = data.first() == Some(&0xa1);
            let mut at = 24;
            while let Some(caplen) = word(at + 8, big) {
                let end = at + 16 + caplen as usize;
                if end > data.len() {
                    break;
                }
                out.push((at, end, Framing::Other));
                at = end;
            }
        }
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => {
            let mut big = false;
            let mut at = 0;
            while let Some(kind) = word(at, big) {
                if kind == 0x0a0d_0d0a {
                    match word(at + 8, false) {
                        Some(0x1a2b_3c4d) => big = false,
                        Some(0x4d3c_2b1a) => big = true,
                        _ => break,
                    }
                }
                let Some(len) = word(at + 4, big).map(|l| l as usize) else {
                    break;
                };
                let end = at + len;
                if len < 12 || end > data.len() {
                    break;
                }
                let what = match kind {
                    0x0a0d_0d0a => Framing::Section,
                    1 => Framing::Interface,
                    _ => Framing::Other,
                };
                out.push((at, end, what));
                at = end;
            }
        }
        _ => {}
    }
    out
}

/// `data` split after record `cut` of `walk`: the bytes up to there, and a file of the rest
/// after the header it needs (the pcap file header; the pcapng section header of the section
/// cut, with the interfaces described in it before the cut).
fn split_at(data: &[u8], walk: &[(usize, usize, Framing)], cut: usize) -> (Vec<u8>, Vec<u8>) {
    let Some(&(_, at, _)) = walk.get(cut) else {
        return (data.to_vec(), Vec::new());
    };
    let before = walk.get(..=cut).unwrap_or_default();
    let mut header = Vec::new();
    if data.first() == Some(&0x0a) {
        let section = before
            .iter()
            .rposition(|r| r.2 == Framing::Section)
            .unwrap_or(0);
        for &(start, end, what) in before.get(section..).unwrap_or_default() {
            if what != Framing::Other {
                header.extend_from_slice(data.get(start..end).unwrap_or_default());
            }
        }
    } else {
        header.extend_from_slice(data.get(..24).unwrap_or_default());
    }
    header.extend_from_slice(data.get(at..).unwrap_or_default());
    (data.get(..at).unwrap_or_default().to_vec(), header)
}

/// The merge of `paths` in blocks of `block_bytes` (`Some`) or through the ordinary reader
/// (`None`): the records it handed on, how many from a block, and its summary.
fn read_merged(
    paths: &[String],
    block_bytes: Option<usize>,
) -> Option<(Vec<Seen>, u64, MergeSummary)> {
    let source = MergedSource::open(paths).ok()?;
    let mut seen = Vec::new();
    let mut in_blocks = 0;
    let summary = match block_bytes {
        Some(size) => source.with_block_bytes(size).for_each_record_in_blocks(
            &BlockPool::default(),
            |r, place| {
                note(&mut seen, &mut in_blocks, r, place);
                ControlFlow::Continue(())
            },
        ),
        None => source.for_each_record_unblocked(|r| {
            note(&mut seen, &mut in_blocks, r, None);
            ControlFlow::Continue(())
        }),
    };
    Some((seen, in_blocks, summary))
}

/// The merge of two files' packets by hand, as `MergedSource` promises it: files ordered by
/// their first packet (ties: by path), then at each step the file whose next packet has the
/// earliest timestamp (ties: the file ordered first), numbered 1.. across the merge.
fn merge_by_hand(files: &[(&str, &[Seen])]) -> Vec<Seen> {
    let ts = |s: &Seen| match s {
        Seen::Packet(_, ts, ..) => Timestamp(*ts),
        Seen::Secrets(..) => Timestamp(i64::MAX),
    };
    let mut order: Vec<(&str, Vec<&Seen>)> = files
        .iter()
        .map(|(path, seen)| {
            (
                *path,
                seen.iter()
                    .filter(|s| matches!(s, Seen::Packet(..)))
                    .collect(),
            )
        })
        .filter(|(_, packets): &(&str, Vec<&Seen>)| !packets.is_empty())
        .collect();
    order.sort_by(|a, b| ts(a.1[0]).cmp(&ts(b.1[0])).then_with(|| a.0.cmp(b.0)));
    let mut next = vec![0usize; order.len()];
    let mut out = Vec::new();
    loop {
        let pick = (0..order.len())
            .filter_map(|f| order[f].1.get(next[f]).map(|s| (ts(s), f)))
            .min();
        let Some((_, f)) = pick else {
            return out;
        };
        if let Seen::Packet(_, t, lt, orig, data) = order[f].1[next[f]] {
            out.push(Seen::Packet(
                out.len() as u64 + 1,
                *t,
                *lt,
                *orig,
                data.clone(),
            ));
        }
        next[f] += 1;
    }
}

/// The differential check: `data` read whole through blocks of each of `block_bytes` against
/// the ordinary reader, and split in two at the boundary `split` picks (modulo their number)
/// through the merge in blocks of each size, without, and by hand. Panics at a difference.
pub fn read_blocks_agree(data: &[u8], block_bytes: &[usize], split: usize) -> Agreement {
    let mut agreement = Agreement::default();
    let whole = TempCapture::new("whole", data);
    let name = whole.name();
    let Ok((ordinary, summary)) = read_ordinary(&name) else {
        // Not a capture (no header): the blocks are never reached.
        return agreement;
    };
    agreement.packets = ordinary
        .iter()
        .filter(|s| matches!(s, Seen::Packet(..)))
        .count() as u64;
    for &size in block_bytes {
        let Ok(source) = FileSource::open(&name) else {
            panic!("{name} opened once, not twice");
        };
        let mut source = source.with_block_bytes(size);
        let mut seen = Vec::new();
        let mut in_blocks = 0;
        let blocked = source.for_each_record_in_blocks(&BlockPool::default(), |r, place| {
            note(&mut seen, &mut in_blocks, r, place);
            ControlFlow::Continue(())
        });
        agreement.in_blocks.push(in_blocks);
        assert_eq!(
            seen.len(),
            ordinary.len(),
            "records, blocks of {size}: {blocked:?} / {summary}"
        );
        for (i, (b, o)) in seen.iter().zip(&ordinary).enumerate() {
            assert_eq!(b, o, "record {i}, blocks of {size}");
        }
        assert_eq!(format!("{blocked:?}"), summary, "summary, blocks of {size}");
    }

    let walk = records(data);
    if walk.is_empty() {
        return agreement;
    }
    let (first, second) = split_at(data, &walk, split % walk.len());
    let first = TempCapture::new("a", &first);
    let second = TempCapture::new("b", &second);
    let paths = [first.name(), second.name()];
    let Some((unblocked, none, merge_read)) = read_merged(&paths, None) else {
        return agreement;
    };
    let merge_summary = format!("{merge_read:?}");
    assert_eq!(none, 0);
    for &size in block_bytes {
        let Some((blocked, in_blocks, blocked_read)) = read_merged(&paths, Some(size)) else {
            panic!("the merge opened once, not twice");
        };
        let blocked_summary = format!("{blocked_read:?}");
        agreement.merged_in_blocks.push(in_blocks);
        assert_eq!(
            blocked.len(),
            unblocked.len(),
            "merged records, blocks of {size}: {blocked_summary} / {merge_summary}"
        );
        for (i, (b, o)) in blocked.iter().zip(&unblocked).enumerate() {
            assert_eq!(b, o, "merged record {i}, blocks of {size}");
        }
        assert_eq!(
            blocked_summary, merge_summary,
            "merge summary, blocks of {size}"
        );
    }
    let merged: Vec<Seen> = unblocked
        .into_iter()
        .filter(|s| matches!(s, Seen::Packet(..)))
        .collect();
    agreement.merged = merged.len() as u64;
    let mut alone = Vec::new();
    for path in &paths {
        let (seen, summary) = read_ordinary(path).unwrap_or_else(|error| (Vec::new(), error));
        // The file's own reading, as the merge's summary of it has it.
        let in_merge = merge_read.files.iter().find(|f| &f.path == path);
        assert_eq!(
            in_merge.map(|f| format!("{:?}", f.summary)),
            Some(summary),
            "{path} in {merge_summary}"
        );
        alone.push(seen);
    }
    let by_hand = merge_by_hand(&[(&paths[0], &alone[0]), (&paths[1], &alone[1])]);
    assert_eq!(
        merged.len(),
        by_hand.len(),
        "merged packets: {merge_summary}"
    );
    for (i, (m, h)) in merged.iter().zip(&by_hand).enumerate() {
        assert_eq!(m, h, "merged packet {i} against the merge by hand");
    }
    agreement
}

/// FNV-1a: block sizes and the split from the input, so the fuzzer varies them with it.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `read_blocks`: [`read_blocks_agree`] with two block sizes taken from the input (64 to
/// 1,023 bytes: most records cut or handed over; 1 to 16 KiB: most of a sample's packets
/// read from blocks, several to a block) and a split from it.
pub fn read_blocks(data: &[u8]) {
    let h = hash(data);
    let small = 64 + (h % 960) as usize;
    let larger = 1024 + ((h >> 16) % 15_360) as usize;
    read_blocks_agree(data, &[small, larger], (h >> 40) as usize);
}
