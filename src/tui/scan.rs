//! Finding the packets of a connection the packet lists do not hold, and loading the hex
//! view of a connection off the UI thread.
//!
//! [`scan`] reads the capture again between two packets of a connection (the ends of a
//! [`super::flows::Gap`]), or from the start within the connection's time range when the
//! connection was not listed at all, and hands over each packet of its address pair in
//! order: one file from the checkpoint before the first (its packet index), merged files as
//! the merge read them (from their start: the merge's numbering has no byte offset), the
//! ring of recent packets (live, standard input) while it still holds them (a part at a
//! time, its lock never held for a whole scan nor while a match is handed on, so the
//! capture never waits on the TUI), and says why when it cannot. [`HexJob`] runs a load (`export::load_connection_window`) on a
//! thread of its own with its progress shared, so drawing never waits for the disk and a
//! scan can be given up (dropping the job cancels it).
//!
//! Reads files and spawns a thread; never touches the terminal or the model.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

use crate::capture::{FileSource, MergedSource, Packet, Record, Timestamp};
use crate::event::{ConnectionRecord, HandshakeRecord};

use super::app::{HexDump, HexWindow};
use super::feed::{PacketRing, PacketStore};
use super::flows::PacketLists;

/// How far a scan has got; shared between the thread scanning and the UI drawing it.
#[derive(Debug, Default)]
pub struct ScanProgress {
    /// A scan of the capture is running (reading listed packets by number is not one).
    pub scanning: AtomicBool,
    /// Packets read so far.
    pub done: AtomicU64,
    /// Packets the scan reads at most (its range).
    pub of: AtomicU64,
    /// Set to give the scan up: it stops at the next packet.
    pub cancel: AtomicBool,
}

impl ScanProgress {
    /// Whether the scan was given up.
    #[must_use]
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// (scanning, packets read, packets to read).
    #[must_use]
    pub fn get(&self) -> (bool, u64, u64) {
        (
            self.scanning.load(Ordering::Relaxed),
            self.done.load(Ordering::Relaxed),
            self.of.load(Ordering::Relaxed),
        )
    }
}

/// Which packets a scan reads: those numbered after `after` and before `before`, of the
/// connection between `ends`, at or after `since` and no later than `until` (packet time;
/// the scan stops at the first packet past `until`). `capture_packets` (when known) sizes the
/// progress when `before` is open.
#[derive(Clone, Copy, Debug)]
pub struct ScanRange {
    /// The two endpoints.
    pub ends: (SocketAddr, SocketAddr),
    /// Packets up to this number are skipped.
    pub after: u64,
    /// The scan stops at this number (`u64::MAX`: at `until` or the end).
    pub before: u64,
    /// Earlier packets are skipped.
    pub since: Option<Timestamp>,
    /// The scan stops at the first packet later than this.
    pub until: Option<Timestamp>,
    /// Packets in the capture, when known.
    pub capture_packets: u64,
}

/// Why a scan did not run to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// It read its whole range (or `on_match` stopped it).
    Done,
    /// It was given up ([`ScanProgress::cancel`]).
    Cancelled,
    /// It could not read: why, in words.
    Failed(String),
}

fn in_pair(ends: (SocketAddr, SocketAddr), packet: &Packet<'_>) -> bool {
    crate::decode::decode(packet).is_ok_and(|seg| {
        let src = SocketAddr::new(seg.src_ip, seg.src_port);
        let dst = SocketAddr::new(seg.dst_ip, seg.dst_port);
        (src == ends.0 && dst == ends.1) || (src == ends.1 && dst == ends.0)
    })
}

/// Reads the capture `path` or `store` again over `range` and hands every packet of the
/// connection to `on_match`, in packet order, until it breaks, the range ends or `progress`
/// is cancelled.
pub fn scan(
    path: Option<&str>,
    store: Option<&PacketStore>,
    range: ScanRange,
    progress: &ScanProgress,
    mut on_match: impl FnMut(&Packet<'_>) -> ControlFlow<()>,
) -> ScanEnd {
    progress.scanning.store(true, Ordering::Relaxed);
    progress.done.store(0, Ordering::Relaxed);
    // Merged files are read from their start: their progress counts from there.
    let base = match store {
        Some(PacketStore::Merged(_)) => 0,
        _ => range.after,
    };
    let span = match range.before {
        u64::MAX => range.capture_packets.saturating_sub(base),
        before => before.saturating_sub(base + 1),
    };
    let mut cancelled = false;
    // One packet of the read: `Break` once past the range or given up.
    let mut step = |p: &Packet<'_>| {
        if progress.cancelled() {
            cancelled = true;
            return ControlFlow::Break(());
        }
        progress
            .done
            .store(p.number.saturating_sub(base), Ordering::Relaxed);
        if p.number <= range.after {
            return ControlFlow::Continue(());
        }
        if p.number >= range.before || range.until.is_some_and(|u| p.ts > u) {
            return ControlFlow::Break(());
        }
        if range.since.is_some_and(|s| p.ts < s) || !in_pair(range.ends, p) {
            return ControlFlow::Continue(());
        }
        on_match(p)
    };
    let end = match store {
        Some(PacketStore::Ring(ring)) => scan_ring(ring, range, span, progress, &mut on_match),
        Some(PacketStore::Merged(index)) => {
            let paths = index.paths();
            let window = index.locate(1).and_then(|(_, i, _)| i.reorder_window());
            progress.of.store(span, Ordering::Relaxed);
            match MergedSource::open(&paths) {
                Ok(source) => {
                    let source = match window {
                        Some(w) => source.with_reorder_window(w),
                        None => source,
                    };
                    let merged = source.for_each_record(|record| match record {
                        Record::Packet(p) => step(p),
                        Record::Secrets(_) => ControlFlow::Continue(()),
                    });
                    match merged.combined().error {
                        Some(e) if !cancelled => ScanEnd::Failed(e.to_string()),
                        _ => ScanEnd::Done,
                    }
                }
                Err(e) => ScanEnd::Failed(e.to_string()),
            }
        }
        Some(PacketStore::File(index)) => match path.filter(|p| *p != "-") {
            Some(path) => {
                progress.of.store(span, Ordering::Relaxed);
                let opened = match index.before(range.after.saturating_add(1)) {
                    Some(cp) => FileSource::open_at(path, &cp),
                    None => FileSource::open(path),
                };
                match opened {
                    Ok(source) => {
                        let mut source = match index.reorder_window() {
                            Some(w) => source.with_reorder_window(w),
                            None => source,
                        };
                        let read = source.for_each_packet(&mut step);
                        match read.error {
                            Some(e) if !cancelled => ScanEnd::Failed(e.to_string()),
                            _ => ScanEnd::Done,
                        }
                    }
                    Err(e) => ScanEnd::Failed(e.to_string()),
                }
            }
            None => ScanEnd::Failed("the capture file cannot be read again".into()),
        },
        None => ScanEnd::Failed("no packets can be read again for this source".into()),
    };
    progress.scanning.store(false, Ordering::Relaxed);
    if cancelled {
        ScanEnd::Cancelled
    } else {
        end
    }
}

/// Packets a scan of the ring looks at per hold of its lock, and the most bytes of the
/// connection's packets it copies out per hold: the capture, which pushes every packet into
/// the ring, waits at most that long for the TUI (not for a whole scan), and the copies are
/// handed on with the lock free.
const RING_PART_PACKETS: usize = 1024;
/// See [`RING_PART_PACKETS`].
const RING_PART_BYTES: usize = 1024 * 1024;

/// [`scan`] of the ring of recent packets, a part at a time ([`RING_PART_PACKETS`]): the
/// connection's packets of each part are copied out under the lock and handed to
/// `on_match` after it is released. The packets the ring held when the scan began are
/// scanned; packets it gives up meanwhile, before the scan reached them, fail the scan.
fn scan_ring(
    ring: &Mutex<PacketRing>,
    range: ScanRange,
    span: u64,
    progress: &ScanProgress,
    on_match: &mut dyn FnMut(&Packet<'_>) -> ControlFlow<()>,
) -> ScanEnd {
    let unavailable = || ScanEnd::Failed("the ring of recent packets is not available".into());
    let gone = |ring: &PacketRing, from: u64| {
        ScanEnd::Failed(format!(
            "unavailable: the ring of recent {} ({} MiB) starts at packet {}, after the packets of this connection before these positions",
            ring.what(),
            ring.cap() / (1024 * 1024),
            from
        ))
    };
    let newest = {
        let Ok(ring) = ring.lock() else {
            return unavailable();
        };
        // Positions are counted from the gap's start: it must still be in the ring.
        if let Some(oldest) = ring.oldest().filter(|o| *o > range.after + 1) {
            return gone(&ring, oldest);
        }
        progress
            .of
            .store(span.min(ring.len() as u64), Ordering::Relaxed);
        ring.newest()
    };
    let Some(newest) = newest else {
        return ScanEnd::Done;
    };
    let mut next = Some(range.after.saturating_add(1));
    let mut copies: Vec<(u64, Timestamp, crate::capture::Linktype, Vec<u8>)> = Vec::new();
    while let Some(first) = next {
        if progress.cancelled() {
            return ScanEnd::Cancelled;
        }
        let mut stop = false;
        {
            let Ok(ring) = ring.lock() else {
                return unavailable();
            };
            // The ring gave up packets the scan had not reached while the lock was free.
            if let Some(oldest) = ring.oldest().filter(|o| *o > first) {
                return gone(&ring, oldest);
            }
            let mut bytes = 0;
            next = ring.for_each_from(first, RING_PART_PACKETS, |p| {
                progress
                    .done
                    .store(p.number.saturating_sub(range.after), Ordering::Relaxed);
                if p.number > newest
                    || p.number >= range.before
                    || range.until.is_some_and(|u| p.ts > u)
                {
                    stop = true;
                    return ControlFlow::Break(());
                }
                if range.since.is_some_and(|s| p.ts < s) || !in_pair(range.ends, p) {
                    return ControlFlow::Continue(());
                }
                bytes += p.data.len();
                copies.push((p.number, p.ts, p.linktype, p.data.to_vec()));
                if bytes >= RING_PART_BYTES {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        }
        for (number, ts, linktype, data) in copies.drain(..) {
            if progress.cancelled() {
                return ScanEnd::Cancelled;
            }
            let packet = Packet {
                number,
                ts,
                linktype,
                data: &data,
                orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            };
            if on_match(&packet).is_break() {
                return ScanEnd::Done;
            }
        }
        if stop {
            break;
        }
    }
    ScanEnd::Done
}

/// What a connection's hex view needs to load its packets on another thread (owned copies
/// of what the model shares).
#[derive(Clone, Debug)]
pub struct HexRequest {
    /// The capture file, when there is one.
    pub path: Option<String>,
    /// Where packets are read again.
    pub store: Option<PacketStore>,
    /// The reader's packet lists.
    pub lists: Option<Arc<Mutex<PacketLists>>>,
    /// The connection.
    pub connection: Arc<ConnectionRecord>,
    /// The handshake that opened it, when kept.
    pub opened_by: Option<Arc<HandshakeRecord>>,
    /// Its arrival index in the connections tab.
    pub index: usize,
    /// Mask credentials in the bytes.
    pub redact: bool,
    /// Which packets.
    pub window: HexWindow,
    /// Packets in the capture so far (sizes a scan's progress).
    pub capture_packets: u64,
}

/// What loads a connection's packets for [`HexJob`].
pub type LoadFn = fn(&HexRequest, &ScanProgress) -> HexDump;

/// A hex view load running on a thread of its own; dropping it gives the load up.
#[derive(Debug)]
pub struct HexJob {
    /// The connection (arrival index) and the window it loads.
    pub key: (usize, HexWindow),
    progress: Arc<ScanProgress>,
    rx: Receiver<HexDump>,
}

impl HexJob {
    /// Starts loading `request` with `load` (the hex view's loader,
    /// `export::load_connection_window`, which scans through this module) on a new
    /// thread.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(request: HexRequest, load: LoadFn) -> std::io::Result<HexJob> {
        let progress = Arc::new(ScanProgress::default());
        let (tx, rx) = channel();
        let key = (request.index, request.window);
        let shared = Arc::clone(&progress);
        std::thread::Builder::new()
            .name("wssniff-hex".into())
            .spawn(move || {
                let dump = load(&request, &shared);
                if !shared.cancelled() {
                    let _ = tx.send(dump);
                }
            })?;
        Ok(HexJob { key, progress, rx })
    }

    /// (scanning, packets read, packets to read).
    #[must_use]
    pub fn progress(&self) -> (bool, u64, u64) {
        self.progress.get()
    }

    /// The loaded packets, once the load is done.
    #[must_use]
    pub fn try_take(&self) -> Option<HexDump> {
        self.rx.try_recv().ok()
    }

    /// Waits for the loaded packets (tests).
    #[must_use]
    pub fn wait(&self) -> Option<HexDump> {
        self.rx.recv().ok()
    }

    /// Gives the load up.
    pub fn cancel(&self) {
        self.progress.cancel.store(true, Ordering::Relaxed);
    }
}

impl Drop for HexJob {
    fn drop(&mut self) {
        self.cancel();
    }
}
