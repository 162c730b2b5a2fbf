//! Several capture files read as one: a k-way merge by packet timestamp, as mergecap does.
//!
//! In: the paths of the files (a `tcpdump -C/-G` ring, an `editcap -c` split, captures of one
//! incident from several hosts). Out: their packets in timestamp order, numbered 1.. across
//! the merge, with the Decryption Secrets Blocks that open each file handed on before any
//! packet (so keys a later file carries decrypt the earlier files) and later ones as met; a
//! summary per file and one for the whole; notes on files given out of time order and files
//! that overlap in time. Files are opened when the merge reaches their first packet and
//! closed at their end, so a ring of a thousand files holds one or two open at a time; only
//! files that overlap are open together. Packets are never copied: the head of each open
//! file waits in that file's read buffer (or read block, for the sharded reader). A damaged file ends at its damage (its error is in
//! its summary) and the others go on. Never reads standard input (it cannot be read twice).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;

use std::sync::{Arc, Mutex};

use super::index::PacketIndex;
use super::{
    BlockPool, CaptureError, FileSource, InBlock, Packet, ReadSummary, Record, Secrets,
    SecretsKind, Timestamp,
};

/// What the merge noticed about its files, for the run to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeNote {
    /// The files were given in an order other than that of their first packets.
    OutOfOrder {
        /// The files in the order they are read (that of their first packets).
        read_order: Vec<String>,
    },
    /// Two files hold packets of the same time span: their packets were interleaved.
    Overlap {
        /// The file that started first.
        earlier: String,
        /// The file whose packets came between the earlier one's.
        later: String,
        /// Timestamp of the first packet taken from `later` while `earlier` still had some.
        at: Timestamp,
    },
}

/// One input file of a merged read, with what its reading covered.
#[derive(Debug)]
pub struct FileRead {
    /// The path as given (or as found in the directory or by the glob).
    pub path: String,
    /// Its packets, bytes, link types, snap length, drops and damage. `packets` counts the
    /// packets delivered from this file; the packet numbers in an error are this file's own.
    pub summary: ReadSummary,
}

/// Everything a merged read covered.
#[derive(Debug, Default)]
pub struct MergeSummary {
    /// The files in the order they were read (by first packet), each with its summary;
    /// files without any packet come last, in the order given.
    pub files: Vec<FileRead>,
    /// Out-of-order and overlap notes, in the order noticed.
    pub notes: Vec<MergeNote>,
}

impl MergeSummary {
    /// The whole merge as one [`ReadSummary`]: packets and bytes added up, link types in
    /// order of first appearance, the first snap length, drops added up where files say,
    /// and no error: each file's damage is in its own summary in [`Self::files`].
    #[must_use]
    pub fn combined(&self) -> ReadSummary {
        let mut all = ReadSummary::default();
        for file in &self.files {
            let s = &file.summary;
            all.packets += s.packets;
            all.bytes += s.bytes;
            for lt in &s.linktypes {
                if !all.linktypes.contains(lt) {
                    all.linktypes.push(*lt);
                }
            }
            all.snaplen = all.snaplen.or(s.snaplen);
            all.reordered += s.reordered;
            all.beyond_window += s.beyond_window;
            if let Some(d) = s.drops {
                all.drops = Some(all.drops.unwrap_or(0).saturating_add(d));
            }
        }
        all
    }
}

/// A file waiting for the merge to reach its first packet.
struct Waiting {
    path: String,
    first: Timestamp,
    /// Its secrets before the first packet were read when the files were opened, and are
    /// handed on before any packet; the merge skips them.
    leading_secrets_read: bool,
}

/// Most bytes of Decryption Secrets Blocks copied when the files are opened (key logs are a
/// few hundred bytes a session); past it, a file's secrets arrive when the merge meets them.
const MAX_LEADING_SECRETS_BYTES: usize = 16 * 1024 * 1024;

/// Several capture files read as one, in packet timestamp order.
pub struct MergedSource {
    /// Files with packets, by first timestamp (ties: by path), not yet opened for the merge.
    waiting: Vec<Waiting>,
    /// The secrets every file holds before its first packet, copied when it was opened:
    /// keys that a later file of a ring carries decrypt the earlier files' packets too.
    leading_secrets: Vec<(SecretsKind, Vec<u8>)>,
    /// Files whose reading ended before the merge (no packet, or damage before the first).
    ended: Vec<FileRead>,
    notes: Vec<MergeNote>,
    /// Each file's re-sort window from its start ([`FileSource::with_reorder_window`]), or
    /// `None` for the default (from its first packet out of order on).
    reorder_window_ns: Option<i64>,
    /// Where the merged packets come from, recorded when asked ([`Self::index_packets`]).
    index: Option<MergedIndex>,
    /// Each file's read block size ([`Self::with_block_bytes`]), `None` for the default.
    block_bytes: Option<usize>,
}

/// Most runs a [`MergedIndex`] keeps (24 bytes each: 24 MiB). Files that follow one another
/// (a ring, a split) take one run each; two files interleaved packet by packet take one a
/// packet, and past the cap later packets cannot be found again.
const MAX_MERGE_RUNS: usize = 1 << 20;

/// One file's share of a re-reading: its path, its index, and (number there, merged
/// number) of each packet wanted from it.
type FileWanted = (String, PacketIndex, Vec<(u64, u64)>);

/// Consecutive merged packets taken from one file in its own order.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// Merged number of the run's first packet.
    merged: u64,
    /// Its number in its file's own count.
    local: u64,
    /// Packets in the run.
    len: u32,
    /// The file, by its place in the read order.
    file: u32,
}

#[derive(Debug, Default)]
struct MergedIndexInner {
    /// Each file read (by read order): its path and its own packet index.
    files: Vec<(String, PacketIndex)>,
    /// By merged number, increasing.
    runs: Vec<Run>,
    /// [`MAX_MERGE_RUNS`] was reached: packets after the last run are not indexed.
    full: bool,
}

/// The packet index of a merged read: which file each merged packet number came from and
/// its number there, in runs, and each file's own [`PacketIndex`] by byte offset, so any
/// packet of the merge can be read again by its merged number. Shared between the merge
/// recording it and whoever reads packets again (cheap to clone). Cost: a comparison a
/// packet, a run each time the merge switches files (at most [`MAX_MERGE_RUNS`]).
#[derive(Clone, Debug, Default)]
pub struct MergedIndex {
    inner: Arc<Mutex<MergedIndexInner>>,
}

impl MergedIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        MergedIndex::default()
    }

    /// The index of the file read `rank`th, registered under `path` if new.
    fn file(&self, rank: usize, path: &str) -> Option<PacketIndex> {
        let mut inner = self.inner.lock().ok()?;
        while inner.files.len() <= rank {
            inner.files.push((path.to_owned(), PacketIndex::new()));
        }
        inner.files.get(rank).map(|(_, index)| index.clone())
    }

    /// Merged packet `merged` is packet `local` of the file read `rank`th.
    fn record(&self, merged: u64, rank: usize, local: u64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let file = u32::try_from(rank).unwrap_or(u32::MAX);
        if let Some(last) = inner.runs.last_mut() {
            let next = last.merged + u64::from(last.len);
            if last.file == file && next == merged && last.local + u64::from(last.len) == local {
                if let Some(len) = last.len.checked_add(1) {
                    last.len = len;
                    return;
                }
            }
        }
        if inner.runs.len() >= MAX_MERGE_RUNS {
            inner.full = true;
            return;
        }
        inner.runs.push(Run {
            merged,
            local,
            len: 1,
            file,
        });
    }

    /// The file (its path and index) and the number there of merged packet `merged`.
    #[must_use]
    pub fn locate(&self, merged: u64) -> Option<(String, PacketIndex, u64)> {
        let inner = self.inner.lock().ok()?;
        let at = inner.runs.partition_point(|r| r.merged <= merged);
        let run = inner.runs.get(at.checked_sub(1)?)?;
        let offset = merged - run.merged;
        if offset >= u64::from(run.len) {
            return None;
        }
        let (path, index) = inner.files.get(run.file as usize)?;
        Some((path.clone(), index.clone(), run.local + offset))
    }

    /// The files recorded so far, in read order.
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        self.inner.lock().map_or_else(
            |_| Vec::new(),
            |inner| inner.files.iter().map(|(p, _)| p.clone()).collect(),
        )
    }

    /// Too many runs were needed: later packets cannot be read again.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.inner.lock().is_ok_and(|inner| inner.full)
    }

    /// Reads the merged packets numbered `wanted` again from their files and hands each to
    /// `on_packet` numbered as in the merge, in merged order. Packets the index does not
    /// know are skipped.
    ///
    /// # Errors
    /// A file cannot be opened again, or does not start where its index says.
    pub fn read_packets(
        &self,
        wanted: &[u64],
        mut on_packet: impl FnMut(&Packet<'_>),
    ) -> Result<(), CaptureError> {
        // Per file: (its number, the merged number) of each wanted packet, one reading each.
        let mut by_file: Vec<FileWanted> = Vec::new();
        for &merged in wanted {
            let Some((path, index, local)) = self.locate(merged) else {
                continue;
            };
            match by_file.iter_mut().find(|(p, _, _)| *p == path) {
                Some((_, _, list)) => list.push((local, merged)),
                None => by_file.push((path, index, vec![(local, merged)])),
            }
        }
        let mut got: Vec<(u64, Timestamp, super::Linktype, Vec<u8>, u32)> = Vec::new();
        for (path, index, mut list) in by_file {
            list.sort_unstable();
            let locals: Vec<u64> = list.iter().map(|(l, _)| *l).collect();
            index.read_packets(&path, &locals, |p| {
                if let Ok(i) = list.binary_search_by_key(&p.number, |(l, _)| *l) {
                    if let Some((_, merged)) = list.get(i) {
                        got.push((*merged, p.ts, p.linktype, p.data.to_vec(), p.orig_len));
                    }
                }
            })?;
        }
        got.sort_unstable_by_key(|g| g.0);
        for (number, ts, linktype, data, orig_len) in &got {
            on_packet(&Packet {
                number: *number,
                ts: *ts,
                linktype: *linktype,
                data,
                orig_len: *orig_len,
            });
        }
        Ok(())
    }
}

impl MergedSource {
    /// Opens every file once to find its first packet, and orders them by it. A file that
    /// cannot be opened or read is kept with its error, not fatal; the secrets a file holds
    /// before its first packet are read again in the merge.
    ///
    /// # Errors
    /// Every file failed to open (the first one's error), or `-` (standard input) is among
    /// them.
    pub fn open(paths: &[String]) -> Result<Self, CaptureError> {
        let mut waiting = Vec::new();
        let mut ended = Vec::new();
        let mut first_error = None;
        let mut leading_secrets: Vec<(SecretsKind, Vec<u8>)> = Vec::new();
        let mut secrets_bytes = 0usize;
        for path in paths {
            if path == "-" {
                return Err(CaptureError::Io {
                    path: path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "standard input cannot be merged with other files (read it alone)",
                    ),
                });
            }
            match FileSource::open(path) {
                Ok(mut source) => {
                    let mut found: Vec<(SecretsKind, Vec<u8>)> = Vec::new();
                    let mut fits = true;
                    let head = source.peek(|secrets| {
                        secrets_bytes = secrets_bytes.saturating_add(secrets.data.len());
                        fits &= secrets_bytes <= MAX_LEADING_SECRETS_BYTES;
                        if fits {
                            found.push((secrets.kind, secrets.data.to_vec()));
                        }
                    });
                    match head {
                        Some(first) => {
                            if fits {
                                leading_secrets.append(&mut found);
                            }
                            waiting.push(Waiting {
                                path: path.clone(),
                                first,
                                leading_secrets_read: fits,
                            });
                        }
                        None => {
                            let summary = source.into_summary();
                            ended.push(FileRead {
                                path: path.clone(),
                                summary,
                            });
                        }
                    }
                }
                Err(e) => {
                    let summary = ReadSummary {
                        error: Some(e),
                        ..ReadSummary::default()
                    };
                    ended.push(FileRead {
                        path: path.clone(),
                        summary,
                    });
                    if first_error.is_none() {
                        first_error = Some(ended.len() - 1);
                    }
                }
            }
        }
        if waiting.is_empty() && ended.iter().all(|f| f.summary.error.is_some()) {
            if let Some(e) = first_error
                .and_then(|i| ended.get_mut(i))
                .and_then(|f| f.summary.error.take())
            {
                return Err(e);
            }
        }
        let given: Vec<&str> = waiting.iter().map(|w| w.path.as_str()).collect();
        let given: Vec<String> = given.into_iter().map(str::to_owned).collect();
        waiting.sort_by(|a, b| a.first.cmp(&b.first).then_with(|| a.path.cmp(&b.path)));
        let mut notes = Vec::new();
        let read_order: Vec<String> = waiting.iter().map(|w| w.path.clone()).collect();
        if read_order != given {
            notes.push(MergeNote::OutOfOrder { read_order });
        }
        Ok(MergedSource {
            waiting,
            leading_secrets,
            ended,
            notes,
            reorder_window_ns: None,
            index: None,
            block_bytes: None,
        })
    }

    /// Records into `index`, as the merge goes, where each packet came from (file and
    /// number there) and each file's checkpoints, so [`MergedIndex::read_packets`] can read
    /// any packet again by its merged number. Call before reading.
    pub fn index_packets(&mut self, index: &MergedIndex) {
        self.index = Some(index.clone());
    }

    /// Sets the re-sort window of every file ([`FileSource::with_reorder_window`]): each file
    /// is put in timestamp order within it, then the files are merged.
    #[must_use]
    pub fn with_reorder_window(mut self, span_ns: i64) -> Self {
        self.reorder_window_ns = Some(span_ns);
        self
    }

    /// Reads each file in blocks of `bytes` ([`FileSource::with_block_bytes`]): for the
    /// differential fuzz target and its tests.
    #[doc(hidden)]
    #[must_use]
    pub fn with_block_bytes(mut self, bytes: usize) -> Self {
        self.block_bytes = Some(bytes);
        self
    }

    /// What opening the files noticed (their order); the merge adds its overlaps.
    #[must_use]
    pub fn notes(&self) -> &[MergeNote] {
        &self.notes
    }

    /// The paths, in the order they will be read.
    #[must_use]
    pub fn paths(&self) -> Vec<&str> {
        self.waiting
            .iter()
            .map(|w| w.path.as_str())
            .chain(self.ended.iter().map(|f| f.path.as_str()))
            .collect()
    }

    /// Hands every packet of every file to `on_record` in timestamp order (a file's own
    /// order kept; at equal timestamps the file that started first goes first), and the
    /// secrets of each file as its reading meets them, until the end or `Break`.
    ///
    /// Each file that [`FileSource::for_each_record_in_blocks`] would read in blocks is read
    /// so here too (one block per open file, read into again as the merge goes): a packet is
    /// then parsed once, not once to find its timestamp and again to hand it on.
    pub fn for_each_record(
        self,
        mut on_record: impl FnMut(Record<'_, '_>) -> ControlFlow<()>,
    ) -> MergeSummary {
        let pool = BlockPool::default();
        self.merge(Some(&pool), &mut |record, _| on_record(record))
    }

    /// [`MergedSource::for_each_record`] through the ordinary reader only (what the blocks
    /// are checked against, here and by the differential fuzz target).
    #[doc(hidden)]
    pub fn for_each_record_unblocked(
        self,
        mut on_record: impl FnMut(Record<'_, '_>) -> ControlFlow<()>,
    ) -> MergeSummary {
        self.merge(None, &mut |record, _| on_record(record))
    }

    /// As [`MergedSource::for_each_record`], and each file that
    /// [`FileSource::for_each_record_in_blocks`] would read in blocks is read so, its packets
    /// handed on with where they lie in blocks from `pool` that the callback may keep. Each
    /// open file holds its block; only files that overlap in time are open together.
    pub fn for_each_record_in_blocks(
        self,
        pool: &BlockPool,
        mut on_record: impl FnMut(Record<'_, '_>, Option<InBlock<'_>>) -> ControlFlow<()>,
    ) -> MergeSummary {
        self.merge(Some(pool), &mut on_record)
    }

    fn merge(
        mut self,
        pool: Option<&BlockPool>,
        on_record: &mut impl FnMut(Record<'_, '_>, Option<InBlock<'_>>) -> ControlFlow<()>,
    ) -> MergeSummary {
        let waiting = std::mem::take(&mut self.waiting);
        let mut next_waiting = 0usize;
        // Open files, by rank (their place in `waiting`); `None` once a file has ended.
        let mut open: Vec<Option<FileSource>> = Vec::with_capacity(waiting.len());
        let mut reads: Vec<Option<FileRead>> = Vec::with_capacity(waiting.len());
        let mut heads: BinaryHeap<Reverse<(Timestamp, usize)>> = BinaryHeap::new();
        let mut number = 0u64;
        let mut last: Option<usize> = None;
        let mut overlapping: Vec<(usize, usize)> = Vec::new();
        let mut stopped = false;
        for (kind, data) in std::mem::take(&mut self.leading_secrets) {
            let _ = on_record(
                Record::Secrets(Secrets {
                    kind,
                    data: &data,
                    after_packet: 0,
                }),
                None,
            );
        }
        loop {
            // Open every file whose first packet is not later than the earliest head.
            while let Some(w) = waiting.get(next_waiting) {
                if heads.peek().is_some_and(|Reverse((ts, _))| w.first > *ts) {
                    break;
                }
                let rank = next_waiting;
                next_waiting += 1;
                let mut summary = None;
                let mut source = None;
                match FileSource::open(&w.path) {
                    Ok(s) => {
                        let mut s = match self.reorder_window_ns {
                            Some(span) => s.with_reorder_window(span),
                            None => s,
                        };
                        if let Some(file) = self.index.as_ref().and_then(|i| i.file(rank, &w.path))
                        {
                            s.index_packets(&file);
                        }
                        if let Some(bytes) = self.block_bytes {
                            s = s.with_block_bytes(bytes);
                        }
                        if let Some(pool) = pool {
                            s.read_in_blocks(pool);
                        }
                        let skip = w.leading_secrets_read;
                        let head = s.peek(|secrets| {
                            if !skip {
                                let _ = on_record(Record::Secrets(secrets), None);
                            }
                        });
                        match head {
                            Some(ts) => {
                                heads.push(Reverse((ts, rank)));
                                source = Some(s);
                            }
                            None => summary = Some(s.into_summary()),
                        }
                    }
                    // Readable a moment ago: gone or replaced since (a ring still turning).
                    Err(e) => {
                        summary = Some(ReadSummary {
                            error: Some(e),
                            ..ReadSummary::default()
                        });
                    }
                }
                open.push(source);
                reads.push(summary.map(|summary| FileRead {
                    path: w.path.clone(),
                    summary,
                }));
            }
            let Some(Reverse((ts, rank))) = heads.pop() else {
                break;
            };
            if let Some(prev) = last.filter(|p| *p != rank) {
                if open.get(prev).is_some_and(Option::is_some) {
                    let pair = (prev.min(rank), prev.max(rank));
                    if !overlapping.contains(&pair) {
                        overlapping.push(pair);
                        if let (Some(a), Some(b)) = (waiting.get(pair.0), waiting.get(pair.1)) {
                            self.notes.push(MergeNote::Overlap {
                                earlier: a.path.clone(),
                                later: b.path.clone(),
                                at: ts,
                            });
                        }
                    }
                }
            }
            last = Some(rank);
            let Some(source) = open.get_mut(rank).and_then(Option::as_mut) else {
                continue;
            };
            number += 1;
            let before = source.delivered();
            let flow = source.take(number, |packet, place| {
                on_record(Record::Packet(packet), place)
            });
            if let Some(index) = &self.index {
                let local = source.delivered();
                if local > before {
                    index.record(number, rank, local);
                }
            }
            if flow.is_break() {
                stopped = true;
            }
            if !stopped {
                let next = source.peek(|secrets| {
                    let _ = on_record(Record::Secrets(secrets), None);
                });
                if let Some(ts) = next {
                    heads.push(Reverse((ts, rank)));
                    continue;
                }
            }
            // This file is done (or the reader has enough): close it.
            if let Some(source) = open.get_mut(rank).and_then(Option::take) {
                if let Some(slot) = reads.get_mut(rank) {
                    *slot = Some(FileRead {
                        path: source.path().to_owned(),
                        summary: source.into_summary(),
                    });
                }
            }
            if stopped {
                break;
            }
        }
        // After `Break`: the files still open, and those never opened, as far as read.
        for (rank, source) in open.into_iter().enumerate() {
            if let (Some(source), Some(slot)) = (source, reads.get_mut(rank)) {
                *slot = Some(FileRead {
                    path: source.path().to_owned(),
                    summary: source.into_summary(),
                });
            }
        }
        let mut files: Vec<FileRead> = reads.into_iter().flatten().collect();
        files.extend(waiting.into_iter().skip(next_waiting).map(|w| FileRead {
            path: w.path,
            summary: ReadSummary::default(),
        }));
        files.append(&mut self.ended);
        MergeSummary {
            files,
            notes: self.notes,
        }
    }
}

/// The capture files `-r` arguments name: a file as it is (`-` for standard input), a
/// directory as the files in it (hidden ones left out), a pattern with `*`, `?` or `[` that
/// is not itself a path as the files it matches. Directory entries and matches come in
/// natural order (`file2` before `file10`, as tcpdump `-C` numbers them); the merge reads them
/// by time whatever the order.
///
/// # Errors
/// A directory cannot be listed, or a pattern is malformed or matches nothing.
pub fn expand_inputs(args: &[String]) -> Result<Vec<String>, CaptureError> {
    let mut out = Vec::new();
    for arg in args {
        let path = std::path::Path::new(arg);
        if arg != "-" && path.is_dir() {
            let listing = std::fs::read_dir(path).map_err(|source| CaptureError::Io {
                path: arg.clone(),
                source,
            })?;
            let mut found: Vec<String> = Vec::new();
            for entry in listing.flatten() {
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.path().is_file() {
                    found.push(entry.path().to_string_lossy().into_owned());
                }
            }
            if found.is_empty() {
                return Err(no_match(arg, "the directory holds no files"));
            }
            found.sort_by(|a, b| natural_cmp(a, b));
            out.extend(found);
        } else if arg != "-" && !path.exists() && arg.contains(['*', '?', '[']) {
            let matches = glob::glob(arg).map_err(|e| no_match(arg, &e.to_string()))?;
            let mut found: Vec<String> = matches
                .flatten()
                .filter(|p| p.is_file())
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if found.is_empty() {
                return Err(no_match(arg, "no file matches the pattern"));
            }
            found.sort_by(|a, b| natural_cmp(a, b));
            out.extend(found);
        } else {
            out.push(arg.clone());
        }
    }
    Ok(out)
}

fn no_match(arg: &str, why: &str) -> CaptureError {
    CaptureError::Io {
        path: arg.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, why.to_owned()),
    }
}

/// Compares names with runs of digits taken as numbers, so `cap9` sorts before `cap10`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, ra) = a.split_at(da);
                let (nb, rb) = b.split_at(db);
                let strip = |n: &[u8]| -> usize { n.iter().take_while(|c| **c == b'0').count() };
                let (ta, tb) = (
                    na.get(strip(na)..).unwrap_or_default(),
                    nb.get(strip(nb)..).unwrap_or_default(),
                );
                let order = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then(da.cmp(&db));
                if order != std::cmp::Ordering::Equal {
                    return order;
                }
                a = ra;
                b = rb;
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = a.get(1..).unwrap_or_default();
                b = b.get(1..).unwrap_or_default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merged numbers are found in their file at their number there: consecutive packets of
    /// one file share a run, a switch of file starts one, and numbers no run covers (a
    /// packet the merge skipped, or past the end) are not found.
    #[test]
    fn the_merged_index_locates_packets_by_runs() {
        let index = MergedIndex::new();
        assert!(index.file(0, "a.pcap").is_some());
        assert!(index.file(1, "b.pcap").is_some());
        assert!(index.file(0, "ignored").is_some());
        // a: 1..=3, b: 4..=5, a: 6, merged 7 skipped, b: 8.
        for (merged, rank, local) in [
            (1, 0, 1),
            (2, 0, 2),
            (3, 0, 3),
            (4, 1, 1),
            (5, 1, 2),
            (6, 0, 4),
            (8, 1, 3),
        ] {
            index.record(merged, rank, local);
        }
        assert_eq!(index.inner.lock().unwrap().runs.len(), 4);
        let found = |n| index.locate(n).map(|(p, _, local)| (p, local));
        assert_eq!(found(1), Some(("a.pcap".to_owned(), 1)));
        assert_eq!(found(3), Some(("a.pcap".to_owned(), 3)));
        assert_eq!(found(5), Some(("b.pcap".to_owned(), 2)));
        assert_eq!(found(6), Some(("a.pcap".to_owned(), 4)));
        assert_eq!(found(7), None);
        assert_eq!(found(8), Some(("b.pcap".to_owned(), 3)));
        assert_eq!(found(0), None);
        assert_eq!(found(9), None);
        assert_eq!(index.paths(), vec!["a.pcap", "b.pcap"]);
        assert!(!index.is_full());
    }

    /// A merge hands on in read blocks what it hands on without them: files that overlap in
    /// time (pcap and pcapng, both byte orders), one with a packet out of order, one cut
    /// mid-record, one with a block too large for a block.
    #[test]
    fn a_merge_in_blocks_hands_on_what_it_does_without() {
        use crate::capture::file::tests::{ng_sample, packet_seen, pcap_file};
        let base = 1_700_000_000u32;
        let sizes = |from: u32| -> Vec<(u32, usize)> {
            (0..200)
                .map(|i| (base + from + i / 40, 40 + (i as usize * 41) % 800))
                .collect()
        };
        let mut late = sizes(1);
        late.insert(150, (base, 90));
        let mut large = sizes(3);
        large.insert(20, (base + 3, 3000));
        let paths = [
            pcap_file("merge-a", &sizes(0), 0),
            ng_sample(false, false).write("merge-b", 0),
            pcap_file("merge-c", &late, 0),
            ng_sample(true, true).write("merge-d", 0),
            pcap_file("merge-e", &large, 0),
            pcap_file("merge-f", &sizes(2), 70),
        ];
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        // 0: the ordinary reader, 1: blocks handed on, 2: blocks kept to the merge.
        let read = |mode: u8| {
            let source = MergedSource::open(&names).unwrap();
            let mut seen = Vec::new();
            let mut in_blocks = 0;
            let mut note = |record: Record<'_, '_>, place: Option<InBlock<'_>>| {
                match record {
                    Record::Packet(p) => seen.push(packet_seen(p, place, &mut in_blocks)),
                    Record::Secrets(s) => seen.push(format!("{:?} {:?}", s.kind, s.data)),
                }
                ControlFlow::Continue(())
            };
            let summary = match mode {
                0 => source.for_each_record_unblocked(|r| note(r, None)),
                1 => source.for_each_record_in_blocks(&BlockPool::default(), &mut note),
                _ => source.for_each_record(|r| note(r, None)),
            };
            (seen, in_blocks, format!("{summary:?}"))
        };
        let (ordinary, none, summary) = read(0);
        let (blocked, taken, blocked_summary) = read(1);
        assert_eq!(none, 0);
        assert_eq!(read(2), (ordinary.clone(), 0, summary.clone()));
        for (a, b) in ordinary.iter().zip(&blocked) {
            assert_eq!(a, b);
        }
        assert_eq!(ordinary.len(), blocked.len(), "{blocked_summary}");
        assert_eq!(summary, blocked_summary);
        // Overlaps noted, damage kept per file.
        assert!(summary.contains("Overlap"), "{summary}");
        assert!(summary.contains("Truncated"), "{summary}");
        let packets = blocked
            .iter()
            .filter(|s| !s.starts_with("TlsKeyLog"))
            .count();
        assert!(
            taken > packets / 2 && taken < packets,
            "{taken} of {packets}"
        );
        for path in paths {
            std::fs::remove_file(path).unwrap();
        }
    }
}
