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
//! file waits in that file's read buffer. A damaged file ends at its damage (its error is in
//! its summary) and the others go on. Never reads standard input (it cannot be read twice).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;

use super::{CaptureError, FileSource, ReadSummary, Record, Secrets, SecretsKind, Timestamp};

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
        })
    }

    /// Sets the re-sort window of every file ([`FileSource::with_reorder_window`]): each file
    /// is put in timestamp order within it, then the files are merged.
    #[must_use]
    pub fn with_reorder_window(mut self, span_ns: i64) -> Self {
        self.reorder_window_ns = Some(span_ns);
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
    pub fn for_each_record(
        mut self,
        mut on_record: impl FnMut(Record<'_, '_>) -> ControlFlow<()>,
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
            let _ = on_record(Record::Secrets(Secrets {
                kind,
                data: &data,
                after_packet: 0,
            }));
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
                        let skip = w.leading_secrets_read;
                        let head = s.peek(|secrets| {
                            if !skip {
                                let _ = on_record(Record::Secrets(secrets));
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
            let flow = source.take(number, |packet| on_record(Record::Packet(packet)));
            if flow.is_break() {
                stopped = true;
            }
            if !stopped {
                let next = source.peek(|secrets| {
                    let _ = on_record(Record::Secrets(secrets));
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
