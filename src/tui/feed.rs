//! What the TUI consumes: a stream of [`Feed`] messages from whichever thread owns the engine.
//!
//! The UI thread only ever holds the receiving end of a bounded channel, so any producer plugs
//! in: [`spawn_file_reader`] for `-r FILE`, a live-capture thread for `-i`. The producer never
//! waits for drawing: the UI drains the channel every tick whatever it is drawing.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::capture::filter::PacketFilter;
use crate::capture::index::PacketIndex;
use crate::capture::live::LiveCapture;
use crate::capture::{FileSource, Linktype, MergedIndex, Packet, Timestamp};
use crate::cli::Live;
use crate::engine::{Engine, EngineConfig, Stats};
use crate::event::Event;
use crate::event::Notice;
use crate::present::Redactor;
use crate::run::keylog::Keys;
use crate::run::{analyse_live, analyse_live_sharded, LiveStep, Opened, PacketOut, Sharding, Step};
use crate::tls::keystore::SharedKeyLog;

use super::flows::PacketLists;

/// Messages buffered between the producer and the UI. Small enough to bound memory, large
/// enough that the producer rarely waits for the next UI tick.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Packets between two progress messages from the file reader.
const PROGRESS_EVERY_PACKETS: u64 = 2048;

/// How far a producer has got.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Bytes of the input consumed so far.
    pub bytes_read: u64,
    /// Size of the input, when known (a regular file); drives the progress gauge.
    pub total_bytes: Option<u64>,
    /// Packets the capture layer reported dropped (live capture), when known.
    pub drops: Option<u64>,
    /// The engine's counters.
    pub stats: Stats,
}

/// Most bytes of recent packets a live capture keeps for the hex view ([`PacketRing`]).
pub const RING_MAX_BYTES: usize = 16 * 1024 * 1024;
/// The share of `--memcap` the ring takes at most (the engine gets the rest).
const RING_SHARE_OF_MEMCAP: usize = 16;
/// Bytes a kept packet costs besides its data (the entry and its allocation).
const RING_ENTRY_BYTES: usize = 56;

/// The packets of a live capture most recently analysed, kept for the hex view: bounded by
/// bytes (at most [`RING_MAX_BYTES`], and a sixteenth of the memory budget, which the engine
/// is given that much less of), oldest given up first.
#[derive(Debug)]
pub struct PacketRing {
    packets: VecDeque<(u64, Timestamp, Linktype, Vec<u8>)>,
    bytes: usize,
    cap: usize,
    /// What it keeps, for the hex view's note ("live packets").
    what: &'static str,
}

impl PacketRing {
    /// An empty ring holding at most `cap` bytes.
    #[must_use]
    pub fn new(cap: usize) -> Self {
        PacketRing {
            packets: VecDeque::new(),
            bytes: 0,
            cap,
            what: "live packets",
        }
    }

    /// The same ring, saying it keeps `what` (e.g. the packets of standard input).
    #[must_use]
    pub fn keeping(mut self, what: &'static str) -> Self {
        self.what = what;
        self
    }

    /// What it keeps, in words ("live packets").
    #[must_use]
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The ring's size for the memory budget `memcap`, and the budget left for the engine.
    #[must_use]
    pub fn sized_for(memcap: Option<usize>) -> (usize, Option<usize>) {
        super::flows::carve_from_memcap(memcap, RING_MAX_BYTES, RING_SHARE_OF_MEMCAP)
    }

    /// Keeps packet `number` (captured at `ts`), giving up the oldest ones until it fits.
    pub fn push(&mut self, number: u64, ts: Timestamp, linktype: Linktype, data: &[u8]) {
        let cost = data.len() + RING_ENTRY_BYTES;
        if cost > self.cap {
            return;
        }
        while self.bytes + cost > self.cap {
            match self.packets.pop_front() {
                Some((_, _, _, old)) => self.bytes -= old.len() + RING_ENTRY_BYTES,
                None => break,
            }
        }
        self.bytes += cost;
        self.packets
            .push_back((number, ts, linktype, data.to_vec()));
    }

    /// Bytes held (what the budget counts).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The most bytes it holds.
    #[must_use]
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The oldest packet number still kept.
    #[must_use]
    pub fn oldest(&self) -> Option<u64> {
        self.packets.front().map(|p| p.0)
    }

    /// Copies of the packets numbered `wanted` still kept: (number, link type, bytes).
    #[must_use]
    pub fn get(&self, wanted: &[u64]) -> Vec<(u64, Linktype, Vec<u8>)> {
        // Numbers grow along the ring: a binary search for each.
        wanted
            .iter()
            .filter_map(|n| {
                let at = self.packets.partition_point(|p| p.0 < *n);
                self.packets
                    .get(at)
                    .filter(|p| p.0 == *n)
                    .map(|(n, _, linktype, data)| (*n, *linktype, data.clone()))
            })
            .collect()
    }

    /// Packets kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// No packet kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The newest packet number kept.
    #[must_use]
    pub fn newest(&self) -> Option<u64> {
        self.packets.back().map(|p| p.0)
    }

    /// Hands the kept packets numbered `first` or later to `on_packet`, oldest first, at most
    /// `limit` of them or until it breaks: a part of the ring at a time, so whoever holds
    /// the lock around it (the hex view's scan) lets the capture push in between. Returns
    /// the number of the packet kept after the last one handed (where the next part
    /// starts), or `None` when that was the newest.
    pub fn for_each_from(
        &self,
        first: u64,
        limit: usize,
        mut on_packet: impl FnMut(&Packet<'_>) -> ControlFlow<()>,
    ) -> Option<u64> {
        // Numbers grow along the ring.
        let mut at = self.packets.partition_point(|p| p.0 < first);
        for (number, ts, linktype, data) in self.packets.range(at..).take(limit) {
            at += 1;
            let packet = Packet {
                number: *number,
                ts: *ts,
                linktype: *linktype,
                data,
                orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            };
            if on_packet(&packet).is_break() {
                break;
            }
        }
        self.packets.get(at).map(|p| p.0)
    }
}

/// Where the raw bytes of packets can be had again for the hex view.
#[derive(Clone, Debug)]
pub enum PacketStore {
    /// The capture file, read again by byte offset through its packet index.
    File(PacketIndex),
    /// Several files merged: each packet read again from its file by the merged index.
    Merged(MergedIndex),
    /// A ring of recent packets: live capture, and standard input (read once).
    Ring(Arc<Mutex<PacketRing>>),
}

/// One message from the producer to the UI.
#[derive(Clone, Debug)]
pub enum Feed {
    /// Where packets can be read again (sent first, before any event).
    Packets(PacketStore),
    /// Each TCP connection's packet numbers, as the producer lists them (sent before any
    /// event): the hex view of any packet of a connection.
    PacketLists(Arc<Mutex<PacketLists>>),
    /// The engine emitted an event.
    Event(Event),
    /// Counters and read position.
    Progress(Progress),
    /// The producer is done; `error` says why it stopped early, if it did.
    Finished {
        /// Final counters.
        progress: Progress,
        /// A damaged input or a failed read, in words.
        error: Option<String>,
    },
}

/// A reader that counts the bytes it hands out, so progress can be shown as a share of the file.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What the TUI reads from capture files: the `-r` paths (one file, `-` for standard input,
/// or several read as one capture merged by timestamp, as the line output merges them) and
/// the `--reorder-window` setting.
#[derive(Clone, Debug, Default)]
pub struct FileInput {
    /// The files, as `-r` named them (a directory or a pattern already expanded).
    pub paths: Vec<String>,
    /// The re-sort window from each file's start, in nanoseconds (`None`: the default).
    pub reorder_window_ns: Option<i64>,
}

impl FileInput {
    /// One file (`-`: standard input), with the default re-sort window.
    #[must_use]
    pub fn one(path: &str) -> Self {
        FileInput {
            paths: vec![path.to_owned()],
            reorder_window_ns: None,
        }
    }

    /// With the re-sort window `span_ns` (`--reorder-window`).
    #[must_use]
    pub fn with_reorder_window(mut self, span_ns: Option<i64>) -> Self {
        self.reorder_window_ns = span_ns;
        self
    }

    /// The one path read alone, if it is one.
    fn single(&self) -> Option<&str> {
        match self.paths.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// How the header names the input.
    #[must_use]
    pub fn label(&self) -> String {
        match (self.single(), self.paths.as_slice()) {
            (Some("-"), _) => "file (standard input)".to_owned(),
            (Some(path), _) => format!("file {path}"),
            (None, [first, ..]) => {
                format!("{} files merged: {first} …", self.paths.len())
            }
            (None, []) => "no file".to_owned(),
        }
    }
}

/// Bytes a packet record costs in a capture file besides its data (a pcap record header;
/// a pcapng block's is larger): how a merged read's progress is counted.
const RECORD_OVERHEAD_BYTES: u64 = 16;

/// Opens `input` (and compiles `filter`) on the calling thread, so errors surface before the
/// terminal is taken over, then reads it on a new thread into a bounded channel, opened and
/// read as the line output reads it ([`crate::run::Opened`]: the same re-sort window, the
/// same merge). Every event is passed through `redactor` before it is sent: the UI never
/// holds a credential it would not print. Packets can be read again for the hex view: by
/// byte offset from a file, by file and offset from merged files, and from a bounded ring of
/// recent packets for standard input, which cannot be read twice.
///
/// # Errors
/// A file cannot be opened or is not a capture, or the filter does not compile.
pub fn spawn_file_reader(
    input: &FileInput,
    filter: Option<&str>,
    config: EngineConfig,
    redactor: Redactor,
    keys: (Keys, Vec<Notice>),
) -> Result<(Receiver<Feed>, JoinHandle<()>), crate::capture::CaptureError> {
    spawn_reader(input, None, filter, config, redactor, keys)
}

/// [`spawn_file_reader`], with `stdin` read where `input` names standard input (`-`) instead
/// of the process's own (tests read a file as a stream this way).
fn spawn_reader(
    input: &FileInput,
    stdin: Option<Box<dyn Read + Send>>,
    filter: Option<&str>,
    mut config: EngineConfig,
    redactor: Redactor,
    keys: (Keys, Vec<Notice>),
) -> Result<(Receiver<Feed>, JoinHandle<()>), crate::capture::CaptureError> {
    // The TUI follows streams: the sessions keep their frame logs.
    config.conn.frame_log = true;
    let name = input.paths.first().cloned().unwrap_or_default();
    let count = Arc::new(AtomicU64::new(0));
    let window = input.reorder_window_ns;
    let (mut opened, total_bytes, merged) = match input.single() {
        Some(path) => {
            let (reader, len): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
                (stdin.unwrap_or_else(|| Box::new(io::stdin())), None)
            } else {
                let file = File::open(path).map_err(|source| crate::capture::CaptureError::Io {
                    path: path.to_owned(),
                    source,
                })?;
                let len = file
                    .metadata()
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len());
                if len.is_none() {
                    // Directories and the like: let FileSource::open produce its usual message.
                    FileSource::open(path)?;
                }
                (Box::new(file), len)
            };
            let counted = Counting {
                inner: reader,
                count: Arc::clone(&count),
            };
            let source = FileSource::from_reader(path, Box::new(counted))?;
            (Opened::one(source, window), len, false)
        }
        None => {
            let total = input
                .paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum::<u64>();
            (Opened::many(&input.paths, window)?, Some(total), true)
        }
    };
    let mut ring = None;
    let store = match &mut opened {
        Opened::One(_) if input.single() == Some("-") => {
            // Standard input cannot be read again: keep the most recent packets, as live
            // capture does, out of the memory budget.
            let (ring_cap, engine_budget) = PacketRing::sized_for(config.memcap);
            config.memcap = engine_budget;
            let kept = Arc::new(Mutex::new(
                PacketRing::new(ring_cap)
                    .keeping("packets of standard input (it cannot be read twice)"),
            ));
            ring = Some(Arc::clone(&kept));
            PacketStore::Ring(kept)
        }
        Opened::One(source) => {
            // Read again by byte offset for the hex view: a checkpoint every few hundred KiB.
            let index = PacketIndex::new();
            source.index_packets(&index);
            PacketStore::File(index)
        }
        Opened::Many(source) => {
            let index = MergedIndex::new();
            source.index_packets(&index);
            PacketStore::Merged(index)
        }
    };
    let lists = packet_lists(&mut config);
    // Compile here to report a bad filter before the UI starts; the reader thread recompiles
    // its own copy because a compiled filter is tied to the thread that uses it.
    if let Some(f) = filter {
        PacketFilter::new(f)?;
    }
    let filter = filter.map(str::to_owned);
    let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
    let handle = thread::Builder::new()
        .name("wssniff-reader".into())
        .spawn(move || {
            if tx.send(Feed::Packets(store)).is_err()
                || tx.send(Feed::PacketLists(Arc::clone(&lists))).is_err()
            {
                return;
            }
            let tap = |packet: &Packet<'_>, analysed: bool| {
                // What `-f` drops the engine never sees: no connection of the hex view has it.
                if analysed {
                    if let Some(Ok(mut ring)) = ring.as_ref().map(|r| r.lock()) {
                        ring.push(packet.number, packet.ts, packet.linktype, packet.data);
                    }
                    if let Ok(mut lists) = lists.lock() {
                        lists.push(packet.number, packet.ts, packet.linktype, packet.data);
                    }
                }
                if merged {
                    count.fetch_add(
                        packet.data.len() as u64 + RECORD_OVERHEAD_BYTES,
                        Ordering::Relaxed,
                    );
                }
            };
            read_into(
                opened,
                (tap, &lists),
                filter.as_deref(),
                config,
                &redactor,
                keys,
                (&count, total_bytes),
                &tx,
            );
        })
        .map_err(|source| crate::capture::CaptureError::Io { path: name, source })?;
    Ok((rx, handle))
}

/// The packet lists for `config`'s memory budget, which they take their bytes out of.
fn packet_lists(config: &mut EngineConfig) -> Arc<Mutex<PacketLists>> {
    let (cap, engine_budget) = PacketLists::sized_for(config.memcap);
    config.memcap = engine_budget;
    Arc::new(Mutex::new(PacketLists::new(
        cap,
        config.flows.idle_timeout_ns,
    )))
}

/// Tells the packet lists which connections an event names (they keep those).
fn note(lists: &Mutex<PacketLists>, event: &Event) {
    if let Ok(mut lists) = lists.lock() {
        lists.note(event);
    }
}

/// The reader thread's body: the shared read loop, with events and progress sent to the UI.
/// Stops quietly when the UI hangs up.
#[allow(clippy::too_many_arguments)]
fn read_into(
    opened: Opened,
    (tap, lists): (impl FnMut(&Packet<'_>, bool), &Mutex<PacketLists>),
    filter: Option<&str>,
    config: EngineConfig,
    redactor: &Redactor,
    (mut keys, notices): (Keys, Vec<Notice>),
    (count, total_bytes): (&AtomicU64, Option<u64>),
    tx: &SyncSender<Feed>,
) {
    let progress = |stats: &Stats| Progress {
        bytes_read: total_bytes.map_or_else(
            || count.load(Ordering::Relaxed),
            |t| count.load(Ordering::Relaxed).min(t),
        ),
        total_bytes,
        drops: None,
        stats: stats.clone(),
    };
    let mut filter = match filter.map(PacketFilter::new).transpose() {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.send(Feed::Finished {
                progress: Progress::default(),
                error: Some(e.to_string()),
            });
            return;
        }
    };
    let mut engine = Engine::new(config);
    // A capture file may carry its own keys (pcapng Decryption Secrets Blocks): always ask.
    engine.set_key_store(Box::new(SharedKeyLog::new(keys.shared())));
    let mut hung_up = false;
    let known = match &opened {
        Opened::Many(source) => source.notes().to_vec(),
        Opened::One(_) => Vec::new(),
    };
    for notice in notices
        .into_iter()
        .chain(known.iter().map(crate::run::merge_notice))
    {
        hung_up |= tx.send(Feed::Event(Event::Notice(notice))).is_err();
    }
    let (read, files, notes) = opened.analyse_tapped(
        tap,
        filter.as_mut(),
        &mut engine,
        Some(&mut keys),
        |step| match step {
            Step::Event(event) => {
                note(lists, &event);
                hung_up |= tx.send(Feed::Event(redactor.event(event))).is_err();
                ControlFlow::Continue(())
            }
            Step::Packet(stats) => {
                if stats.packets % PROGRESS_EVERY_PACKETS == 0 {
                    hung_up |= tx.send(Feed::Progress(progress(stats))).is_err();
                }
                if hung_up {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
        },
    );
    if hung_up {
        return;
    }
    // The overlaps the merge found on the way, as the line output says them after its read.
    for note in notes.iter().skip(known.len()) {
        let _ = tx.send(Feed::Event(Event::Notice(crate::run::merge_notice(note))));
    }
    engine.finish(&mut |event| {
        note(lists, &event);
        let _ = tx.send(Feed::Event(redactor.event(event)));
    });
    let mut last = progress(engine.stats());
    // A pcapng file may record what the capturing host dropped (interface statistics).
    last.drops = read.drops;
    // One file's damage is the read's; merged, each damaged file says its own.
    let errors: Vec<String> = read
        .error
        .iter()
        .chain(files.iter().filter_map(|f| f.summary.error.as_ref()))
        .map(ToString::to_string)
        .collect();
    if errors.is_empty() {
        // The counter can stop short of the size when the file grew or pcap-parser stopped
        // at a trailing partial block; a finished read is 100%.
        last.bytes_read = total_bytes.unwrap_or(last.bytes_read);
    }
    let _ = tx.send(Feed::Finished {
        progress: last,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    });
}

/// Opens the live capture on the calling thread (so a missing interface or a missing
/// permission is reported before the terminal is taken over), then analyses it on a new
/// thread into a bounded channel. The analysis waits when the UI is slow; the capture thread
/// behind it never does (it sheds and counts, shown as drops in the header). Events pass
/// through `redactor` before they are sent. With `threads` above 1 the analysis is
/// flow-sharded (`run::analyse_live_sharded`), with the same events in the same order.
///
/// # Errors
/// The interface cannot be opened, the filter does not compile, or `-w` cannot be created.
pub fn spawn_live_reader(
    live: &Live,
    (mut config, threads): (EngineConfig, usize),
    redactor: Redactor,
    keys: Option<(Keys, Vec<Notice>)>,
) -> Result<(Receiver<Feed>, JoinHandle<()>), crate::capture::CaptureError> {
    config.conn.frame_log = true;
    // The ring of recent packets takes its bytes out of the memory budget.
    let (ring_cap, engine_budget) = PacketRing::sized_for(config.memcap);
    config.memcap = engine_budget;
    let ring = Arc::new(Mutex::new(PacketRing::new(ring_cap)));
    let lists = packet_lists(&mut config);
    let capture = LiveCapture::open(&live.options)?;
    let io_err = |source: io::Error| crate::capture::CaptureError::Io {
        path: live.options.interface.clone(),
        source,
    };
    let created = live
        .write
        .as_deref()
        .filter(|p| std::fs::symlink_metadata(p).is_err());
    let mut packet_out = PacketOut::create(live, &capture, None).map_err(io_err)?;
    // The device and -w are open and no other thread runs yet: give up root now.
    crate::capture::live::drop_privileges(&live.relinquish, created.as_slice())?;
    let duration = live.duration;
    let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
    let handle = thread::Builder::new()
        .name("wssniff-analysis".into())
        .spawn(move || {
            let stop = Arc::new(AtomicBool::new(false));
            let (mut keys, notices) = keys.map_or((None, Vec::new()), |(k, n)| (Some(k), n));
            let _ = tx.send(Feed::Packets(PacketStore::Ring(Arc::clone(&ring))));
            let _ = tx.send(Feed::PacketLists(Arc::clone(&lists)));
            for notice in notices {
                let _ = tx.send(Feed::Event(Event::Notice(notice)));
            }
            let mut last = Progress::default();
            let mut number = 0u64;
            let mut error = None;
            let step = |step: LiveStep<'_>| {
                let delivered = match step {
                    LiveStep::Event(event) => {
                        note(&lists, &event);
                        tx.send(Feed::Event(redactor.event(event))).is_ok()
                    }
                    LiveStep::Packet(packet, info) => {
                        // Numbered as the live loop numbers them: one per packet analysed.
                        number += 1;
                        if info.flow.is_some() {
                            if let Ok(mut ring) = ring.lock() {
                                ring.push(number, packet.ts, packet.linktype, &packet.data);
                            }
                            if let Ok(mut lists) = lists.lock() {
                                lists.push(number, packet.ts, packet.linktype, &packet.data);
                            }
                        }
                        if let Some(Err(e)) = packet_out.as_mut().map(|p| p.write(packet, info)) {
                            error.get_or_insert(e.to_string());
                        }
                        true
                    }
                    LiveStep::Tick(stats, live_stats) => {
                        last = Progress {
                            bytes_read: 0,
                            total_bytes: None,
                            drops: Some(live_stats.lost()),
                            stats: stats.clone(),
                        };
                        if let Some(Err(e)) = packet_out.as_mut().map(PacketOut::flush) {
                            error.get_or_insert(e.to_string());
                        }
                        // Progress is advisory: skip it rather than wait when the UI is busy.
                        !matches!(
                            tx.try_send(Feed::Progress(last.clone())),
                            Err(std::sync::mpsc::TrySendError::Disconnected(_))
                        )
                    }
                };
                if delivered && error.is_none() {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            };
            let result = if threads > 1 {
                let sharding = Sharding {
                    config: &config,
                    workers: threads,
                    keys: keys.as_mut(),
                    used: None,
                };
                analyse_live_sharded(capture, &stop, duration, sharding, step)
            } else {
                let mut engine = Engine::new(config);
                if let Some(k) = &keys {
                    engine.set_key_store(Box::new(SharedKeyLog::new(k.shared())));
                }
                analyse_live(capture, &stop, duration, &mut engine, keys.as_mut(), step)
            };
            match result {
                Ok(end) => {
                    if let Some(why) = end.failure {
                        error.get_or_insert(format!("the capture stopped: {why}"));
                    }
                }
                Err(e) => {
                    error.get_or_insert(e.to_string());
                }
            }
            let _ = tx.send(Feed::Finished {
                progress: last,
                error,
            });
        })
        .map_err(io_err)?;
    Ok((rx, handle))
}

/// Reads a whole capture synchronously into the messages the reader thread would send
/// (for tests and snapshot rendering), with nothing redacted (as `--no-redact`).
///
/// # Errors
/// The file cannot be opened or is not a capture.
pub fn read_all(
    path: &str,
    config: EngineConfig,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    read_all_with(path, config, Redactor::disabled())
}

/// [`read_all`] with the events passed through `redactor`, as the TUI receives them.
///
/// # Errors
/// The file cannot be opened or is not a capture.
pub fn read_all_with(
    path: &str,
    config: EngineConfig,
    redactor: Redactor,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    read_input(&FileInput::one(path), config, redactor)
}

/// Reads `input` (one file, several merged, a re-sort window) synchronously into the
/// messages the reader thread would send, with events passed through `redactor`.
///
/// # Errors
/// A file cannot be opened or is not a capture.
pub fn read_input(
    input: &FileInput,
    config: EngineConfig,
    redactor: Redactor,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    let path = input.paths.first().map_or("", String::as_str);
    let keys =
        Keys::open(None, crate::tls::keylog::DEFAULT_MAX_SESSIONS, false).map_err(|source| {
            crate::capture::CaptureError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
    let (rx, handle) = spawn_file_reader(input, None, config, redactor, keys)?;
    let feeds: Vec<Feed> = rx.iter().collect();
    let _ = handle.join();
    Ok(feeds)
}

/// Reads the capture `stream` synchronously as `-r -` reads standard input (once, keeping
/// its recent packets in a ring for the hex view), with nothing redacted.
///
/// # Errors
/// The stream is not a capture.
pub fn read_all_from_stream(
    stream: Box<dyn Read + Send>,
    config: EngineConfig,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    let keys =
        Keys::open(None, crate::tls::keylog::DEFAULT_MAX_SESSIONS, false).map_err(|source| {
            crate::capture::CaptureError::Io {
                path: "-".to_owned(),
                source,
            }
        })?;
    let (rx, handle) = spawn_reader(
        &FileInput::one("-"),
        Some(stream),
        None,
        config,
        Redactor::disabled(),
        keys,
    )?;
    let feeds: Vec<Feed> = rx.iter().collect();
    let _ = handle.join();
    Ok(feeds)
}

/// [`read_all`] decrypting TLS with the key log at `keylog` (`--keylog`), as the TUI does.
///
/// # Errors
/// The key log or the capture cannot be opened.
pub fn read_all_decrypting(
    path: &str,
    keylog: &std::path::Path,
    config: EngineConfig,
) -> Result<Vec<Feed>, crate::capture::CaptureError> {
    let keys = Keys::open(
        Some(keylog),
        crate::tls::keylog::DEFAULT_MAX_SESSIONS,
        false,
    )
    .map_err(|source| crate::capture::CaptureError::Io {
        path: keylog.display().to_string(),
        source,
    })?;
    let (rx, handle) = spawn_file_reader(
        &FileInput::one(path),
        None,
        config,
        Redactor::disabled(),
        keys,
    )?;
    let feeds: Vec<Feed> = rx.iter().collect();
    let _ = handle.join();
    Ok(feeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring is bounded by bytes, gives up its oldest packets first, finds what it keeps
    /// by number, and takes its bytes out of the memory budget.
    #[test]
    fn the_ring_of_recent_packets_is_bounded_and_counted_in_the_budget() {
        let mut ring = PacketRing::new(3 * (100 + RING_ENTRY_BYTES));
        for n in 1..=10 {
            ring.push(n, Timestamp(0), Linktype::ETHERNET, &[n as u8; 100]);
        }
        assert!(ring.bytes() <= ring.cap());
        assert_eq!(ring.oldest(), Some(8));
        let got: Vec<u64> = ring.get(&[2, 8, 10, 11]).iter().map(|p| p.0).collect();
        assert_eq!(got, vec![8, 10]);
        ring.push(11, Timestamp(0), Linktype::ETHERNET, &[0; 10_000]);
        assert_eq!(
            ring.oldest(),
            Some(8),
            "a packet larger than the ring is not kept"
        );
        let mib = 1024 * 1024;
        assert_eq!(PacketRing::sized_for(None), (RING_MAX_BYTES, None));
        assert_eq!(
            PacketRing::sized_for(Some(64 * mib)),
            (4 * mib, Some(60 * mib))
        );
        assert_eq!(
            PacketRing::sized_for(Some(1024 * mib)),
            (RING_MAX_BYTES, Some(1024 * mib - RING_MAX_BYTES))
        );
    }

    /// Every TCP connection's packets as the packet lists hold them after reading `path`
    /// with the filter `filter`: (numbers listed, numbers the capture has on that pair).
    fn listed_with_filter(path: &str, filter: Option<&str>) -> Vec<(Vec<u64>, Vec<u64>)> {
        let keys = Keys::open(None, crate::tls::keylog::DEFAULT_MAX_SESSIONS, false).unwrap();
        let (rx, handle) = spawn_file_reader(
            &FileInput::one(path),
            filter,
            EngineConfig::default(),
            Redactor::disabled(),
            keys,
        )
        .unwrap();
        let lists = rx
            .iter()
            .find_map(|f| match f {
                Feed::PacketLists(l) => Some(l),
                _ => None,
            })
            .unwrap();
        let _ = rx.iter().count();
        let _ = handle.join();
        let mut pairs: Vec<(std::net::SocketAddr, std::net::SocketAddr, Vec<u64>)> = Vec::new();
        let mut source = FileSource::open(path).unwrap();
        source.for_each_packet(|p| {
            if let Ok(seg) = crate::decode::decode(p) {
                let a = std::net::SocketAddr::new(seg.src_ip, seg.src_port);
                let b = std::net::SocketAddr::new(seg.dst_ip, seg.dst_port);
                match pairs
                    .iter_mut()
                    .find(|(x, y, _)| (*x == a && *y == b) || (*x == b && *y == a))
                {
                    Some((_, _, numbers)) => numbers.push(p.number),
                    None => pairs.push((a, b, vec![p.number])),
                }
            }
            ControlFlow::Continue(())
        });
        let lists = lists.lock().unwrap();
        let wide = (
            crate::capture::Timestamp(i64::MIN),
            crate::capture::Timestamp(i64::MAX),
        );
        pairs
            .into_iter()
            .map(|(a, b, all)| {
                let listed = lists
                    .of(a, b, wide.0, wide.1)
                    .map(super::super::flows::ConnectionPackets::numbers)
                    .unwrap_or_default();
                (listed, all)
            })
            .collect()
    }

    /// Issue 16: a packet `-f` drops never reaches the engine, so the hex view of a
    /// connection must not list it (the lists were fed before the filter: the bare ACKs a
    /// `greater 70` filter drops were listed).
    #[test]
    fn packets_the_filter_drops_are_not_listed() {
        let path = format!("{}/samples/close-codes.pcap", env!("CARGO_MANIFEST_DIR"));
        let mut keep = PacketFilter::new("greater 70").unwrap();
        let mut passes = std::collections::HashMap::new();
        FileSource::open(&path).unwrap().for_each_packet(|p| {
            passes.insert(p.number, keep.matches(p));
            ControlFlow::Continue(())
        });
        let unfiltered = listed_with_filter(&path, None);
        // Without the filter every packet is listed, the short ones too.
        assert!(unfiltered.iter().all(|(listed, all)| listed == all));
        assert!(unfiltered.iter().flat_map(|(l, _)| l).any(|n| !passes[n]));
        let filtered = listed_with_filter(&path, Some("greater 70"));
        let mut listed_any = false;
        for (listed, all) in &filtered {
            let kept: Vec<u64> = all.iter().copied().filter(|n| passes[n]).collect();
            if !listed.is_empty() {
                listed_any = true;
                assert_eq!(listed, &kept, "only the packets the filter kept");
            }
        }
        assert!(listed_any);
    }
}
