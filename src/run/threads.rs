//! `--threads N` reading a file: one reader, N flow-sharded workers, one correlation stage.
//!
//! ```text
//!  reader ──Arc<Batch>──▶ worker 0 ─┐ logs of cross-flow calls, per batch
//!  (filter, route)      ─▶ worker 1 ─┤
//!                       ─▶ …        ─┴──▶ correlation stage (this thread): replays them in
//!         └──────────── Batch ──────────▶ packet order (engine::shard::Merge) ─▶ sinks
//! ```
//!
//! The reader reads the capture (pcap or pcapng files, one or several merged, in read blocks
//! its batches share by `Arc`; anything else through the ordinary reader, each packet
//! copied), keeps what the filter
//! passes, reads each packet only far enough to know its connection ([`route`]), and hands
//! [`BATCH_PACKETS`] packets (at most [`BATCH_BYTES`]) at a time to every worker and the
//! stage; the stage hands spent batches and blocks back to the reader.
//! Below [`FOLD_BELOW_CORES`] cores the run is folded: the reader analyses worker 0's packets
//! of each batch once it has handed the batch on, and the stage the last worker's before it
//! replays the batch, so `--threads N` is N threads (and the output thread), not N + 3.
//! Each worker analyses the packets whose connection hashes to it (both directions hash
//! alike: the key is the connection's, not the packet's) and only lets time pass at the
//! others; the stage replays every worker's log at each packet in packet order, so the
//! output is the one a single engine gives (module docs of `engine::shard`).
//!
//! Caps stay global: every worker's flow table and memory budget are the global ones less
//! what the other workers (and the stage) hold, updated at each batch, so they can be
//! overshot by what one batch adds. TLS key lookups wait until every worker has passed the
//! packet before (so the resumption cache holds what one engine's would), and the key
//! material a pcapng file carries is added only once the workers have read every packet
//! before it. docs/threads.md says what may differ when a cap is hit.

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::keylog::Keys;
use super::Step;
use crate::capture::filter::PacketFilter;
use crate::capture::live::OwnedPacket;
use crate::capture::{BlockPool, InBlock, Linktype, Packet, Record, SharedBlock, Timestamp};
use crate::correlate::tls::SharedResumption;
use crate::decode::{self, Skip};
use crate::engine::shard::{Cursor, Logged, Merge, OpLog};
use crate::engine::{Engine, EngineConfig, Stats};
use crate::event::{Event, Notice};
use crate::tcp::flow::FlowKey;
use crate::tls::keylog::KeyLog;
use crate::tls::keystore::{SharedKeyLog, UsedSessions};
use crate::tls::{KeyAnswer, KeyRequest, KeyStore};

/// Packets per batch: large enough that handing a batch on costs little per packet, small
/// enough that the workers and the stage stay busy together.
pub const BATCH_PACKETS: usize = 4096;
/// Most bytes of packets per batch: what bounds the memory of the batches in flight whatever
/// the packets' size (a batch is handed on when either limit is reached).
pub const BATCH_BYTES: usize = 4 << 20;
/// Batches queued per worker and for the stage (bounded: the reader waits rather than
/// reading ahead), so at most about `(workers + 4) * IN_FLIGHT` batches exist at once.
pub(super) const IN_FLIGHT: usize = 2;

/// Bytes of spent read blocks kept to be read into again: about what the batches in flight
/// hold at once (`IN_FLIGHT` batches queued for the stage and as many for each worker, each
/// batch a few MiB), so that in a steady run no block is freed and another allocated and
/// faulted in. Keeping only two blocks of 4 MiB freed most of them, and a new one's pages
/// were faulted in afresh: ~10,000 page faults of b300's 15,000 (BENCHMARKS.md, session 10).
const POOLED_BLOCK_BYTES: usize = 16 << 20;

/// Below this many cores the reader and the stage each run a worker too ("folded": worker 0's
/// packets analysed by the reader once it has handed their batch on, the last worker's by the
/// stage before it replays the batch), so that `--threads N` runs N threads and the output
/// thread rather than N + 3. On two cores the five threads of `--threads 2` spent ~+80 % CPU
/// over one thread for ~+20 % instructions: each worker read every packet's bytes from the
/// other core's cache (a third of a worker's samples in `Engine::take` on the ethertype),
/// and the threads took turns on the cores. Folded, half the packets are analysed by the
/// thread that read them, moments after. With cores to spare a thread each is quicker: the
/// reader's and the stage's work (about a seventh of one thread's each) then runs beside the
/// workers rather than on two of them.
const FOLD_BELOW_CORES: usize = 4;

/// The seed of the hash that spreads connections over the workers (fixed: a run's routing
/// does not change its output, but a fixed one keeps runs alike to debug).
const ROUTE_SEED: u64 = 0x7773_736e_6966_6621;

/// Where a packet goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Route {
    Worker(usize),
    /// Not TCP (or not decodable): the stage counts it, no worker analyses it.
    Skip(Skip),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    pub(super) number: u64,
    pub(super) ts: Timestamp,
    pub(super) linktype: Linktype,
    pub(super) orig_len: u32,
    /// Which of the batch's blocks holds the packet's bytes ([`IN_BYTES`]: its `bytes`).
    pub(super) block: u32,
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) route: Route,
}

/// [`Meta::block`] of a packet copied into the batch's own `bytes`.
pub(super) const IN_BYTES: u32 = u32::MAX;

/// Packets, shared by the workers and the stage: the file's read blocks they lie in (a plain
/// pcap file), or copied out of the reader's buffer.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    /// The read blocks its packets lie in, in file order (consecutive batches share one).
    pub(super) blocks: Vec<SharedBlock>,
    /// Bytes of its packets that lie in `blocks`.
    pub(super) in_blocks: usize,
    pub(super) packets: Vec<Meta>,
    /// Live capture: the packets as captured, for the stage's `-w` and the TUI's packet ring
    /// (the workers read `bytes`), with each one's connection.
    pub(super) live: Vec<(OwnedPacket, Option<FlowKey>)>,
    /// Live capture: the tick that follows the batch's packets.
    pub(super) tick: Option<Tick>,
}

/// Time passing in a live capture without a packet (the engine's tick), between packets.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tick {
    /// The number of the packet before it (0: before the first).
    pub(super) after: u64,
    /// Ticks of the run before this one.
    pub(super) serial: u64,
    /// The clock's time.
    pub(super) now: Timestamp,
}

impl Batch {
    /// An empty batch with room for [`BATCH_PACKETS`] packets: growing its list packet by
    /// packet copied it a dozen times over (until batches come back to be reused).
    fn with_room() -> Self {
        Batch {
            packets: Vec::with_capacity(BATCH_PACKETS),
            ..Batch::default()
        }
    }

    fn packet(&self, m: &Meta) -> Packet<'_> {
        let bytes = match m.block {
            IN_BYTES => Some(&self.bytes),
            b => self.blocks.get(b as usize).map(|b| &**b),
        };
        Packet {
            number: m.number,
            ts: m.ts,
            linktype: m.linktype,
            data: bytes
                .and_then(|b| b.get(m.start..m.start.saturating_add(m.len)))
                .unwrap_or_default(),
            orig_len: m.orig_len,
        }
    }

    /// Bytes of packets it holds, copied or in blocks (what [`BATCH_BYTES`] bounds).
    fn size(&self) -> usize {
        self.bytes.len() + self.in_blocks
    }

    pub(super) fn last_number(&self) -> Option<u64> {
        self.packets.last().map(|m| m.number)
    }

    /// Empties it for reuse, keeping its buffers; its blocks nobody else holds go to `pool`
    /// (up to [`POOLED_BLOCK_BYTES`] of them).
    pub(super) fn clear(&mut self, pool: Option<&BlockPool>) {
        for block in self.blocks.drain(..) {
            if let (Ok(block), Some(Ok(mut pool))) =
                (Arc::try_unwrap(block), pool.map(|p| p.lock()))
            {
                let pooled: usize = pool.iter().map(Vec::capacity).sum();
                if pooled + block.capacity() <= POOLED_BLOCK_BYTES {
                    pool.push(block);
                }
            }
        }
        self.in_blocks = 0;
        self.bytes.clear();
        self.packets.clear();
        self.live.clear();
        self.tick = None;
    }
}

/// What the workers publish for each other and for the reader.
#[derive(Debug)]
pub(super) struct Shared {
    /// Per worker: every packet up to this number that is its own has been analysed.
    done: Vec<AtomicU64>,
    /// Bytes each worker (and, last, the stage) holds, at its last batch.
    pub(super) held: Vec<AtomicUsize>,
    /// Connections each worker tracks, at its last batch.
    flows: Vec<AtomicUsize>,
    /// The run stopped early (`-c`, a broken output): the reader stops reading.
    pub(super) stop: AtomicBool,
}

impl Shared {
    pub(super) fn new(workers: usize) -> Self {
        Shared {
            done: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            held: (0..=workers).map(|_| AtomicUsize::new(0)).collect(),
            flows: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            stop: AtomicBool::new(false),
        }
    }

    /// Waits until every worker but `me` has analysed its packets up to `number`.
    pub(super) fn wait_for(&self, me: Option<usize>, number: u64) {
        let mut spins = 0u32;
        while self
            .done
            .iter()
            .enumerate()
            .any(|(w, d)| Some(w) != me && d.load(Ordering::Acquire) < number)
        {
            spins += 1;
            if spins < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    fn others(values: &[AtomicUsize], me: usize) -> usize {
        values
            .iter()
            .enumerate()
            .filter(|(w, _)| *w != me)
            .map(|(_, v)| v.load(Ordering::Relaxed))
            .sum()
    }
}

/// A worker's key store: asks the shared key log only once every other worker has passed
/// the packet before this one, so that what other connections taught the resumption cache
/// is what a single engine would know at this packet.
#[derive(Debug)]
pub(super) struct OrderedKeys {
    pub(super) inner: SharedKeyLog,
    pub(super) log: Arc<Mutex<KeyLog>>,
    pub(super) shared: Arc<Shared>,
    pub(super) me: usize,
}

impl KeyStore for OrderedKeys {
    fn lookup(&mut self, request: &KeyRequest) -> KeyAnswer {
        // An empty log has no keys and taught the cache nothing: no need to wait.
        let empty = self.log.lock().map_or(true, |l| l.is_empty());
        if !empty {
            let before = self
                .shared
                .done
                .get(self.me)
                .map_or(0, |d| d.load(Ordering::Acquire));
            self.shared.wait_for(Some(self.me), before);
        }
        self.inner.lookup(request)
    }

    fn has_key_material(&self) -> bool {
        self.inner.has_key_material()
    }
}

/// What a worker hands the stage.
pub(super) enum FromWorker {
    /// A batch's log, and in a live capture what the stage's `-w` needs of its packets.
    Batch(Logged, Option<Box<PacketNotes>>),
    End(Logged, Box<Stats>),
}

/// What a live worker says about its packets of a batch besides its log.
#[derive(Debug, Default)]
pub(super) struct PacketNotes {
    /// Indices in the batch of its packets whose connection has carried an upgrade request
    /// (`PacketInfo::upgrade`, for `-w --write-handshakes-only`), in order.
    pub(super) upgrades: Vec<usize>,
    /// Indices in the batch of its packets at which the key store found sessions, with
    /// their key log lines (for `--write-secrets`), in order.
    pub(super) secrets: Vec<(usize, String)>,
    /// At a tick: the worker's counters (the stage's ticks show the run's).
    pub(super) stats: Option<Box<Stats>>,
}

/// What the reader hands the stage, in capture order.
pub(super) enum ToStage {
    Batch(Arc<Batch>),
    /// Notices about key material read between packets.
    Notices(Vec<Notice>),
}

/// The worker a connection belongs to.
///
/// The common frame (untagged Ethernet II, an unfragmented IPv4 datagram captured whole, a
/// well-formed TCP header: the frames `decode` takes its own fast path for) is routed from
/// its addresses and ports read at fixed offsets, without building the segment a worker
/// builds again; everything else is decoded. Both ways hash a connection's two endpoints
/// alike ([`route_hash`]), so a connection whose frames take either way stays on one worker.
// Inlined into the reader's loop (it runs on every packet); the decoding way is apart.
#[inline(always)]
pub(super) fn route(packet: &Packet<'_>, workers: usize) -> Route {
    match plain_ipv4_tcp_ends(packet) {
        Some(ends) => Route::Worker(worker_of(route_hash(ends), workers)),
        None => route_decoded(packet, workers),
    }
}

/// [`route`] of a frame its fast way refuses: decoded.
#[inline(never)]
fn route_decoded(packet: &Packet<'_>, workers: usize) -> Route {
    match decode::decode(packet) {
        Ok(seg) => Route::Worker(worker_of(
            route_hash((
                endpoint(seg.src_ip, seg.src_port),
                endpoint(seg.dst_ip, seg.dst_port),
            )),
            workers,
        )),
        Err(skip) => Route::Skip(skip),
    }
}

/// The hash's top half scaled to `workers` (a multiply, not a division).
#[inline]
fn worker_of(hash: u64, workers: usize) -> usize {
    #[allow(clippy::cast_possible_truncation)]
    let w = (((hash >> 32) * workers as u64) >> 32) as usize;
    w
}

/// One end of a connection as one word: an IPv4 address and port exactly; an IPv6 one
/// folded (equal endpoints fold alike, which is all routing needs), tagged apart from IPv4.
#[inline]
fn endpoint(ip: std::net::IpAddr, port: u16) -> u64 {
    match ip {
        std::net::IpAddr::V4(ip) => (u64::from(ip.to_bits()) << 16) | u64::from(port),
        std::net::IpAddr::V6(ip) => {
            let bits = ip.to_bits();
            #[allow(clippy::cast_possible_truncation)]
            let folded = (bits as u64) ^ ((bits >> 64) as u64).rotate_left(29);
            (folded.rotate_left(16) ^ u64::from(port)) | (1 << 63)
        }
    }
}

/// A hash of a connection's two ends, whichever direction the packet goes: the ends in
/// order, mixed by a folded multiply seeded with [`ROUTE_SEED`].
#[inline]
fn route_hash((a, b): (u64, u64)) -> u64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let x = u128::from(lo ^ ROUTE_SEED) * u128::from(hi ^ ROUTE_SEED.rotate_left(32));
    #[allow(clippy::cast_possible_truncation)]
    let folded = (x as u64) ^ ((x >> 64) as u64);
    folded.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The two ends of an untagged Ethernet II frame carrying an unfragmented IPv4 datagram
/// captured whole with a well-formed TCP header, read at fixed offsets (RFC 791 §3.1,
/// RFC 9293 §3.1): the checks `decode`'s own fast path makes, so a worker decodes every
/// frame routed here to a segment (`tests::the_fast_route_agrees_with_decode`). `None`
/// for anything else, which goes through `decode`.
#[inline]
fn plain_ipv4_tcp_ends(packet: &Packet<'_>) -> Option<(u64, u64)> {
    if packet.linktype != Linktype::ETHERNET {
        return None;
    }
    let (eth, ip) = packet.data.split_first_chunk::<14>()?;
    let ip_head: &[u8; 20] = ip.first_chunk::<20>()?;
    let [.., t0, t1] = *eth;
    let [first, _, l0, l1, _, _, f0, f1, _, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = *ip_head;
    let ihl = usize::from(first & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([l0, l1]));
    if u16::from_be_bytes([t0, t1]) != 0x0800
        || first >> 4 != 4
        || ihl < 20
        || total < ihl
        || total > ip.len()
        || u16::from_be_bytes([f0, f1]) & 0x3fff != 0
        || proto != 6
    {
        return None;
    }
    let tcp = ip.get(ihl..total)?;
    let [p0, p1, p2, p3, ..] = *tcp.first_chunk::<4>()?;
    let data_offset = usize::from(*tcp.get(12)? >> 4) * 4;
    if data_offset < 20 || data_offset > tcp.len() {
        return None;
    }
    let end = |ip: [u8; 4], port: [u8; 2]| {
        (u64::from(u32::from_be_bytes(ip)) << 16) | u64::from(u16::from_be_bytes(port))
    };
    Some((
        end([s0, s1, s2, s3], [p0, p1]),
        end([d0, d1, d2, d3], [p2, p3]),
    ))
}

/// What the reader is handed every record by: with where its bytes lie when they are in a
/// read block it may keep (`FileSource::for_each_record_in_blocks`), `None` to copy them.
pub(crate) type RecordSink<'a> =
    dyn FnMut(Record<'_, '_>, Option<InBlock<'_>>) -> ControlFlow<()> + 'a;

/// Analyses what `drive` reads (it calls its argument with every record, as
/// `FileSource::for_each_record_in_blocks` does with blocks from the pool it is given, and
/// returns what the read summary is) with `workers` flow-sharded workers, handing events to
/// `step` as [`super::analyse`] does and the counters once a batch of packets (not after
/// each), and finishing the analysis unless `step` broke off. Returns the read summary and the
/// run's counters.
pub(crate) fn analyse<R: Send>(
    config: &EngineConfig,
    workers: usize,
    (drive, read_notices): (
        impl FnOnce(&mut RecordSink<'_>, &BlockPool) -> R + Send,
        impl FnOnce(&R) -> Vec<Notice> + Send,
    ),
    filter: Option<&mut PacketFilter>,
    keys: &mut Keys,
    step: &mut dyn FnMut(Step<'_>) -> ControlFlow<()>,
) -> io::Result<(R, Stats)> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let fold = workers >= 2 && cores < FOLD_BELOW_CORES;
    let reading = (drive, read_notices);
    analyse_wired(fold, config, workers, reading, filter, keys, step)
}

/// [`analyse`], the reader and the stage each running a worker too when `fold`.
fn analyse_wired<R: Send>(
    fold: bool,
    config: &EngineConfig,
    workers: usize,
    (drive, read_notices): (
        impl FnOnce(&mut RecordSink<'_>, &BlockPool) -> R + Send,
        impl FnOnce(&R) -> Vec<Notice> + Send,
    ),
    filter: Option<&mut PacketFilter>,
    keys: &mut Keys,
    step: &mut dyn FnMut(Step<'_>) -> ControlFlow<()>,
) -> io::Result<(R, Stats)> {
    let workers = workers.max(1);
    let fold = fold && workers >= 2;
    let shared = Arc::new(Shared::new(workers));
    let store = SharedKeyLog::new(keys.shared());
    let log = keys.shared();
    // One TLS 1.2 resumption cache for every worker: a session is resumed on whichever
    // connection, and so whichever worker, the client picks.
    let resumption = SharedResumption::new();
    let worker = |me: usize| {
        let keys = OrderedKeys {
            inner: store.clone(),
            log: Arc::clone(&log),
            shared: Arc::clone(&shared),
            me,
        };
        Worker::new(me, *config, (Some(keys), resumption.clone()))
    };
    let mut to_workers = Vec::new();
    let mut from_workers = Vec::new();
    let (to_stage, stage_rx) = mpsc::sync_channel::<ToStage>(IN_FLIGHT * 2);
    // Batches the stage is done with go back to the reader, so their buffers are reused
    // rather than mapped and faulted in afresh.
    let (recycle, recycled) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let pool = BlockPool::default();
    // Folded: the reader analyses worker 0's packets, the stage the last worker's.
    let (first_tx, first_rx) = mpsc::sync_channel::<FromWorker>(IN_FLIGHT);
    let (reader_worker, stage_worker) = if fold {
        from_workers.push(first_rx);
        (Some(worker(0)), Some(worker(workers - 1)))
    } else {
        drop(first_rx);
        (None, None)
    };
    let threaded = if fold { 1..workers - 1 } else { 0..workers };
    std::thread::scope(|scope| {
        for me in threaded {
            let (tx, rx) = mpsc::sync_channel::<Arc<Batch>>(IN_FLIGHT);
            let (out_tx, out_rx) = mpsc::sync_channel::<FromWorker>(IN_FLIGHT);
            let (worker, shared) = (worker(me), Arc::clone(&shared));
            std::thread::Builder::new()
                .name(format!("wssniff-worker-{me}"))
                .spawn_scoped(scope, move || work(worker, &None, (&rx, &out_tx), &shared))?;
            to_workers.push(tx);
            from_workers.push(out_rx);
        }
        let reader_shared = Arc::clone(&shared);
        let reader_pool = Arc::clone(&pool);
        let reader = std::thread::Builder::new()
            .name("wssniff-reader".into())
            .spawn_scoped(scope, move || {
                read(
                    (
                        |sink: &mut RecordSink<'_>| drive(sink, &reader_pool),
                        read_notices,
                    ),
                    filter,
                    keys,
                    workers,
                    (&to_workers, &to_stage, &recycled),
                    reader_worker.map(|w| (w, &first_tx)),
                    &reader_shared,
                )
            })?;
        let stats = stage(
            config,
            workers,
            (&stage_rx, &from_workers, &recycle, &pool),
            stage_worker,
            &shared,
            step,
        );
        // Unblocks a reader still sending (the run stopped early).
        drop(stage_rx);
        drop(from_workers);
        let read = reader
            .join()
            .map_err(|_| io::Error::other("the capture reader thread failed"))?;
        Ok((read, stats))
    })
}

/// Where the reader's batches go (each worker, the stage) and where spent ones come back.
pub(super) type ReaderChannels<'a> = (
    &'a [SyncSender<Arc<Batch>>],
    &'a SyncSender<ToStage>,
    &'a Receiver<Batch>,
);

/// Hands `batch` to every worker and to the stage, a recycled buffer taking its place, unless
/// it holds nothing (no packet, no tick); `last_sent` becomes its last packet's number.
/// `Break` when a worker or the stage has gone.
pub(super) fn send_batch(
    batch: &mut Batch,
    last_sent: &mut u64,
    channels: ReaderChannels<'_>,
) -> ControlFlow<()> {
    hand_on(batch, last_sent, channels).map_continue(|_| ())
}

/// [`send_batch`], returning the batch handed on (`None`: it held nothing).
fn hand_on(
    batch: &mut Batch,
    last_sent: &mut u64,
    (to_workers, to_stage, recycled): ReaderChannels<'_>,
) -> ControlFlow<(), Option<Arc<Batch>>> {
    if batch.packets.is_empty() && batch.tick.is_none() {
        return ControlFlow::Continue(None);
    }
    let next = recycled.try_recv().unwrap_or_else(|_| Batch::with_room());
    let full = Arc::new(std::mem::replace(batch, next));
    *last_sent = full.last_number().unwrap_or(*last_sent);
    for tx in to_workers {
        if tx.send(Arc::clone(&full)).is_err() {
            return ControlFlow::Break(());
        }
    }
    if to_stage.send(ToStage::Batch(Arc::clone(&full))).is_err() {
        return ControlFlow::Break(());
    }
    ControlFlow::Continue(Some(full))
}

/// A worker run on a thread that has other work (the reader's, the stage's), with where its
/// logs go.
type Hosted<'a> = Option<(Worker, &'a SyncSender<FromWorker>)>;

/// The reader: records → batches for every worker and for the stage. With a worker of its
/// own (`hosted`), it analyses that worker's packets of each batch once the batch is handed on
/// (the others have it, so a key lookup waiting for them does not wait for this thread).
fn read<R>(
    (drive, read_notices): (
        impl FnOnce(&mut RecordSink<'_>) -> R,
        impl FnOnce(&R) -> Vec<Notice>,
    ),
    mut filter: Option<&mut PacketFilter>,
    keys: &mut Keys,
    workers: usize,
    channels @ (_, to_stage, _): ReaderChannels<'_>,
    mut hosted: Hosted<'_>,
    shared: &Shared,
) -> R {
    let mut batch = Batch::with_room();
    let mut last_sent = 0u64;
    let mut send = |batch: &mut Batch, last_sent: &mut u64| -> ControlFlow<()> {
        let full = hand_on(batch, last_sent, channels)?;
        if let (Some(full), Some((worker, tx))) = (full, hosted.as_mut()) {
            let (log, _) = worker.batch(&full, &None, shared);
            drop(full);
            if tx.send(FromWorker::Batch(log, None)).is_err() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    };
    let summary = drive(&mut |record, in_block| {
        if shared.stop.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        let packet = match record {
            Record::Packet(packet) => packet,
            Record::Secrets(secrets) => {
                // Keys that come between packets are for the packets after them: the workers
                // finish the ones before first.
                send(&mut batch, &mut last_sent)?;
                shared.wait_for(None, last_sent);
                let notices = keys.add_secrets(&secrets);
                if !notices.is_empty() && to_stage.send(ToStage::Notices(notices)).is_err() {
                    return ControlFlow::Break(());
                }
                return ControlFlow::Continue(());
            }
        };
        if let Some(f) = filter.as_deref_mut() {
            if !f.matches(packet) {
                return ControlFlow::Continue(());
            }
        }
        let (block, start) = match in_block {
            Some(InBlock { block, start }) => {
                // Several files read at once take turns (a merge of files that overlap in
                // time): each block is listed once a batch, found from the last one back.
                let last = batch.blocks.len().wrapping_sub(1);
                let at = match batch.blocks.last() {
                    // Nearly always: the block of the packet before.
                    Some(b) if Arc::ptr_eq(b, block) => Some(last),
                    _ => batch.blocks.iter().rposition(|b| Arc::ptr_eq(b, block)),
                };
                let at = match at {
                    Some(at) => at,
                    None => {
                        batch.blocks.push(Arc::clone(block));
                        batch.blocks.len() - 1
                    }
                };
                batch.in_blocks += packet.data.len();
                (u32::try_from(at).unwrap_or(IN_BYTES), start)
            }
            None => {
                let start = batch.bytes.len();
                batch.bytes.extend_from_slice(packet.data);
                (IN_BYTES, start)
            }
        };
        batch.packets.push(Meta {
            number: packet.number,
            ts: packet.ts,
            linktype: packet.linktype,
            orig_len: packet.orig_len,
            block,
            start,
            len: packet.data.len(),
            route: route(packet, workers),
        });
        if batch.packets.len() >= BATCH_PACKETS || batch.size() >= BATCH_BYTES {
            send(&mut batch, &mut last_sent)?;
        }
        ControlFlow::Continue(())
    });
    let _ = send(&mut batch, &mut last_sent);
    // What the reading found out at its end (files that overlap), after every packet and
    // before the connections still open finish, where one thread says it.
    let notices = read_notices(&summary);
    if !notices.is_empty() {
        let _ = to_stage.send(ToStage::Notices(notices));
    }
    if let Some((worker, tx)) = hosted {
        let (log, stats) = worker.end(shared);
        let _ = tx.send(FromWorker::End(log, stats));
    }
    summary
}

/// What a live worker notes of its packets for the stage: `Some` in a live capture, with
/// the sessions its key store found (`--write-secrets`) when asked.
pub(super) type LiveNotes = Option<Option<Arc<Mutex<UsedSessions>>>>;

/// One worker's engine: the connections hashed to worker `me`.
pub(super) struct Worker {
    me: usize,
    config: EngineConfig,
    engine: Engine,
}

impl Worker {
    pub(super) fn new(
        me: usize,
        config: EngineConfig,
        (keys, resumption): (Option<OrderedKeys>, SharedResumption),
    ) -> Self {
        let mut engine = Engine::with_log(config, OpLog::new(me));
        if let Some(keys) = keys {
            engine.set_key_store(Box::new(keys));
        }
        engine.share_resumption(resumption);
        Worker { me, config, engine }
    }

    /// A batch's packets: its own analysed, time passing at the others'. In a live capture
    /// (`live`) also the batch's tick, and what the stage's `-w` needs. Returns the log of
    /// its cross-flow calls.
    pub(super) fn batch(
        &mut self,
        batch: &Batch,
        live: &LiveNotes,
        shared: &Shared,
    ) -> (Logged, Option<Box<PacketNotes>>) {
        let (me, engine) = (self.me, &mut self.engine);
        // The caps are global: what the others hold counts against this worker's share.
        if let Some(budget) = self.config.memcap {
            let others = Shared::others(&shared.held, me);
            engine.set_memory_budget(Some(budget.saturating_sub(others).max(1)));
        }
        let others = Shared::others(&shared.flows, me);
        engine.set_max_flows(self.config.flows.max_flows.saturating_sub(others).max(1));
        let done = shared.done.get(me);
        let mut notes = None;
        if let Some(used) = live {
            notes = Some(live_batch(engine, me, batch, used.as_ref(), shared));
        } else {
            for m in &batch.packets {
                match m.route {
                    Route::Worker(w) if w == me => {
                        if let Some(d) = done {
                            d.store(m.number.saturating_sub(1), Ordering::Release);
                        }
                        engine.take(&batch.packet(m));
                    }
                    _ => engine.pass(m.number, m.ts),
                }
            }
        }
        if let (Some(d), Some(last)) = (done, batch.last_number()) {
            d.store(last, Ordering::Release);
        }
        if let Some(h) = shared.held.get(me) {
            h.store(engine.memory(), Ordering::Relaxed);
        }
        if let Some(f) = shared.flows.get(me) {
            f.store(engine.flow_count(), Ordering::Relaxed);
        }
        (engine.take_log().unwrap_or_default(), notes)
    }

    /// End of input (or the run stopped): the connections still open finish. Returns the
    /// last calls and the worker's counters.
    pub(super) fn end(mut self, shared: &Shared) -> (Logged, Box<Stats>) {
        if let Some(d) = shared.done.get(self.me) {
            d.store(u64::MAX, Ordering::Release);
        }
        self.engine.finish(&mut |_| {});
        let log = self.engine.take_log().unwrap_or_default();
        (log, Box::new(self.engine.stats().clone()))
    }
}

/// A worker's thread: its connections' packets through its engine, the log of each batch to
/// the stage, and at the end of input its last calls and counters. In a live capture
/// (`live`) it also runs each batch's tick and notes what the stage's `-w` needs.
pub(super) fn work(
    mut worker: Worker,
    live: &LiveNotes,
    (rx, tx): (&Receiver<Arc<Batch>>, &SyncSender<FromWorker>),
    shared: &Shared,
) {
    while let Ok(batch) = rx.recv() {
        let (log, notes) = worker.batch(&batch, live, shared);
        // Before the log goes: once the stage has every log of a batch, nobody holds it.
        drop(batch);
        if tx.send(FromWorker::Batch(log, notes)).is_err() {
            return;
        }
    }
    let (log, stats) = worker.end(shared);
    let _ = tx.send(FromWorker::End(log, stats));
}

/// A live worker's batch: its packets (noting each one's upgrade flag and the sessions
/// found at it), then the batch's tick, with the worker's counters at a tick.
fn live_batch(
    engine: &mut Engine,
    me: usize,
    batch: &Batch,
    used: Option<&Arc<Mutex<UsedSessions>>>,
    shared: &Shared,
) -> Box<PacketNotes> {
    let mut notes = Box::<PacketNotes>::default();
    let done = shared.done.get(me);
    for (i, m) in batch.packets.iter().enumerate() {
        match m.route {
            Route::Worker(w) if w == me => {
                if let Some(d) = done {
                    d.store(m.number.saturating_sub(1), Ordering::Release);
                }
                if engine.take(&batch.packet(m)).upgrade {
                    notes.upgrades.push(i);
                }
                if let Some(Ok(mut used)) = used.map(|u| u.lock()) {
                    let lines = used.take();
                    if !lines.is_empty() {
                        notes.secrets.push((i, lines));
                    }
                }
            }
            _ => engine.pass(m.number, m.ts),
        }
    }
    if let Some(t) = batch.tick {
        engine.tick_sharded(t.after, t.serial, t.now);
        notes.stats = Some(Box::new(engine.stats().clone()));
    }
    notes
}

/// The correlation stage: each batch's packets replayed with every worker's log of it. With
/// a worker of its own (`hosted`, the last one), it analyses that worker's packets of each
/// batch first.
fn stage(
    config: &EngineConfig,
    workers: usize,
    (rx, from_workers, recycle, pool): (
        &Receiver<ToStage>,
        &[Receiver<FromWorker>],
        &SyncSender<Batch>,
        &BlockPool,
    ),
    mut hosted: Option<Worker>,
    shared: &Shared,
    step: &mut dyn FnMut(Step<'_>) -> ControlFlow<()>,
) -> Stats {
    let mut merge = Merge::new(config, workers);
    let mut stopped = false;
    while let Ok(item) = rx.recv() {
        let batch = match item {
            ToStage::Notices(notices) => {
                for n in notices {
                    let _ = step(Step::Event(Event::Notice(n)));
                }
                continue;
            }
            ToStage::Batch(batch) => batch,
        };
        let own = match hosted.as_mut() {
            Some(worker) if !stopped => Some(worker.batch(&batch, &None, shared).0),
            _ => None,
        };
        let mut cursors: Vec<Cursor> = from_workers
            .iter()
            .map(|rx| match rx.recv() {
                Ok(FromWorker::Batch(log, _)) => Cursor::new(log),
                _ => Cursor::new(Logged::default()),
            })
            .collect();
        if hosted.is_some() {
            cursors.push(Cursor::new(own.unwrap_or_default()));
        }
        if stopped {
            continue;
        }
        for m in &batch.packets {
            let (skip, owner) = match m.route {
                Route::Worker(w) => (None, Some(w)),
                Route::Skip(s) => (Some(s), None),
            };
            let truncated = u64::from(m.orig_len) > m.len as u64;
            let mut emit = |e| {
                let _ = step(Step::Event(e));
            };
            merge.packet(
                (m.number, m.ts, m.len, truncated),
                skip,
                owner,
                &mut cursors,
                &mut emit,
            );
        }
        // Once a batch, not at every packet: the delivery on its own thread says it is done
        // (an output broke) only some events after it is, and a run with `-c`, which stops
        // at its packet, is not sharded.
        if step(Step::Packet(merge.stats())).is_break() {
            stopped = true;
            shared.stop.store(true, Ordering::Relaxed);
        }
        if let Some(h) = shared.held.get(workers) {
            h.store(merge.memory(), Ordering::Relaxed);
        }
        if let Ok(mut done) = Arc::try_unwrap(batch) {
            done.clear(Some(pool));
            let _ = recycle.try_send(done);
        }
    }
    let mut cursors = Vec::new();
    let mut stats = Vec::new();
    for rx in from_workers {
        // Logs of batches the stage did not replay (it stopped) come before the end.
        loop {
            match rx.recv() {
                Ok(FromWorker::Batch(..)) => {}
                Ok(FromWorker::End(log, s)) => {
                    cursors.push(Cursor::new(log));
                    stats.push(*s);
                    break;
                }
                Err(_) => {
                    cursors.push(Cursor::new(Logged::default()));
                    break;
                }
            }
        }
    }
    if let Some(worker) = hosted {
        let (log, s) = worker.end(shared);
        cursors.push(Cursor::new(log));
        stats.push(*s);
    }
    merge.absorb(&stats);
    if !stopped {
        merge.finish(&mut cursors, &mut |e| {
            let _ = step(Step::Event(e));
        });
    }
    let stats = merge.stats().clone();
    // Every record is out, and the process exits after this run (`run::run_file`): the
    // correlation stage's tables (the hop tracker's records, which the workers allocated) are
    // left to the exit rather than freed block by block, most of them from this thread.
    std::mem::forget(merge);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, 0xfedc_ba98, 65535)
            .ack(0x0123_4567)
            .write(&mut out, b"GET / HTTP/1.1\r\n")
            .unwrap();
        out
    }

    fn packet(data: &[u8]) -> Packet<'_> {
        Packet {
            number: 1,
            ts: Timestamp::default(),
            linktype: Linktype::ETHERNET,
            data,
            orig_len: u32::try_from(data.len()).unwrap(),
        }
    }

    /// The ends `decode` finds, as the slow route reads them.
    fn decoded_ends(data: &[u8]) -> Option<(u64, u64)> {
        decode::decode(&packet(data)).ok().map(|seg| {
            (
                endpoint(seg.src_ip, seg.src_port),
                endpoint(seg.dst_ip, seg.dst_port),
            )
        })
    }

    #[test]
    fn a_batch_handed_on_is_replaced_by_one_with_room_for_a_whole_batch() {
        // With nothing recycled yet, the reader's next batch has room for every packet it
        // will hold: a list grown packet by packet was reallocated and copied a dozen times
        // per batch.
        let (to_worker, from_reader) = mpsc::sync_channel::<Arc<Batch>>(1);
        let (to_stage, stage_rx) = mpsc::sync_channel::<ToStage>(1);
        let (_recycle, recycled) = mpsc::sync_channel::<Batch>(1);
        let mut batch = Batch::with_room();
        batch.packets.push(Meta {
            number: 1,
            ts: Timestamp::default(),
            linktype: Linktype::ETHERNET,
            orig_len: 60,
            block: IN_BYTES,
            start: 0,
            len: 0,
            route: Route::Worker(0),
        });
        let mut last_sent = 0;
        let sent = send_batch(
            &mut batch,
            &mut last_sent,
            (std::slice::from_ref(&to_worker), &to_stage, &recycled),
        );
        assert!(sent.is_continue());
        assert_eq!(last_sent, 1);
        assert!(batch.packets.is_empty());
        assert!(batch.packets.capacity() >= BATCH_PACKETS);
        assert_eq!(
            from_reader.try_recv().map(|b| b.packets.len()).ok(),
            Some(1)
        );
        assert!(matches!(stage_rx.try_recv(), Ok(ToStage::Batch(_))));
    }

    #[test]
    fn the_fast_route_agrees_with_decode() {
        // Every frame the fast route takes is one a worker decodes to a segment with the
        // same ends: a frame routed to a worker that `decode` skipped would be counted by
        // nobody. Mutated and cut copies of a plain frame probe each check.
        use proptest::prelude::*;
        let base = frame([10, 0, 0, 1], 40000, [10, 0, 0, 2], 8080);
        assert_eq!(plain_ipv4_tcp_ends(&packet(&base)), decoded_ends(&base));
        assert!(plain_ipv4_tcp_ends(&packet(&base)).is_some());
        let (taken, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        proptest!(ProptestConfig::with_cases(4000), |(at in 0usize..base.len(), byte: u8, cut in 0usize..8)| {
            let mut data = base.clone();
            data[at] = byte;
            data.truncate(data.len() - cut * (at % 7));
            match plain_ipv4_tcp_ends(&packet(&data)) {
                Some(ends) => {
                    taken.set(taken.get() + 1);
                    prop_assert_eq!(Some(ends), decoded_ends(&data));
                }
                None => refused.set(refused.get() + 1),
            }
        });
        assert!(taken.get() > 100 && refused.get() > 100);
    }

    #[test]
    fn both_directions_and_both_ways_route_alike() {
        let ab = frame([10, 0, 0, 1], 40000, [10, 0, 0, 2], 8080);
        let ba = frame([10, 0, 0, 2], 8080, [10, 0, 0, 1], 40000);
        // A frame the fast route refuses (VLAN-tagged) but decode takes, of the same
        // connection: inserted 802.1Q tag after the MAC addresses.
        let mut tagged = ab[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&ab[12..]);
        assert!(plain_ipv4_tcp_ends(&packet(&tagged)).is_none());
        assert!(decode::decode(&packet(&tagged)).is_ok());
        for workers in [2, 3, 7] {
            let w = |data: &[u8]| match route(&packet(data), workers) {
                Route::Worker(w) => w,
                Route::Skip(s) => panic!("skipped: {s:?}"),
            };
            assert_eq!(w(&ab), w(&ba));
            assert_eq!(w(&ab), w(&tagged));
        }
        assert!(matches!(
            route(&packet(&ab[..20]), 2),
            Route::Skip(Skip::Malformed)
        ));
    }

    #[test]
    fn connections_spread_over_the_workers() {
        // Clients on one address with consecutive ports (a load generator, a NAT): every
        // worker gets a fair share.
        for workers in [2usize, 3, 4, 8] {
            let mut counts = vec![0usize; workers];
            for port in 0..4000u16 {
                let data = frame([10, 0, 0, 1], 20000 + port, [10, 0, 0, 2], 443);
                if let Route::Worker(w) = route(&packet(&data), workers) {
                    counts[w] += 1;
                }
            }
            let fair = 4000 / workers;
            assert!(
                counts
                    .iter()
                    .all(|&c| c > fair * 8 / 10 && c < fair * 12 / 10),
                "{workers} workers: {counts:?}"
            );
        }
    }

    /// Every event and the counters of `path` analysed by `workers` workers, folded or not.
    fn analysed(path: &str, keys: Option<&str>, workers: usize, fold: bool) -> (Vec<Event>, u64) {
        let config = EngineConfig::default();
        let mut source = crate::capture::FileSource::open(path).unwrap();
        let (mut keys, _) = Keys::open(keys.map(std::path::Path::new), 100_000, false).unwrap();
        let mut events = Vec::new();
        let mut step = |step: Step<'_>| {
            if let Step::Event(e) = step {
                events.push(e);
            }
            ControlFlow::Continue(())
        };
        let (_, stats) = analyse_wired(
            fold,
            &config,
            workers,
            (
                |sink: &mut RecordSink<'_>, pool: &BlockPool| {
                    source.for_each_record_in_blocks(pool, sink)
                },
                |_: &_| Vec::new(),
            ),
            None,
            &mut keys,
            &mut step,
        )
        .unwrap();
        (events, stats.packets)
    }

    #[test]
    fn folded_or_not_the_workers_give_the_same_events() {
        // The reader and the stage running a worker each (fewer than four cores) or every
        // worker on a thread of its own: the same events in the same order, whichever this
        // machine's core count picks for the binary. Plain, TLS with keys, h2c.
        let samples = [
            ("samples/close-codes.pcap", None),
            (
                "samples/engineio-h2-node.pcap",
                Some("samples/engineio-h2-node.keys"),
            ),
            ("samples/h2c-node-ping-flood.pcap", None),
        ];
        for (path, keys) in samples {
            for workers in [2, 3] {
                let folded = analysed(path, keys, workers, true);
                let apart = analysed(path, keys, workers, false);
                assert!(!folded.0.is_empty() && folded.1 > 0, "{path}");
                assert_eq!(folded, apart, "{path}, {workers} workers");
            }
        }
    }
}
