//! `-i` (and `--tui` live) with `--threads N`: the capture thread, a batcher, N flow-sharded
//! workers and the one correlation stage, giving what one analysis thread gives.
//!
//! ```text
//!  capture ──OwnedPacket──▶ batcher ──Arc<Batch>──▶ worker 0 ─┐ logs, per batch
//!  (libpcap, sheds    (batches by count or   ─▶ worker 1 ─┤
//!   when behind)       time, ticks, key log) ─▶ …        ─┴──▶ stage (this thread) ─▶ step
//!                             └──────────── Batch ────────────▶  (engine::shard::Merge)
//! ```
//!
//! The batcher does what the one-thread loop (`run::analyse_live`) does between packets, in
//! the same places of the packet order: it numbers the packets, hands them on in batches of
//! at most [`BATCH_PACKETS`](super::threads::BATCH_PACKETS), and never holds one longer than
//! [`MAX_BATCH_WAIT`] (a live capture must not wait for a full batch); every
//! [`TICK`](super::TICK) it ends the batch with a tick, which every worker runs after the
//! batch's packets (unanswered upgrades, idle connections) and the stage replays at the same
//! point. The `--keylog` file is polled at the tick, as with one thread, and only once every
//! worker has analysed every packet before it, so decryption sees the keys it would have seen
//! single-threaded. The stage hands each packet on with its connection's upgrade flag (`-w
//! --write-handshakes-only`) and, first, the key log lines of sessions found at it
//! (`--write-secrets`), both noted by the worker that analysed it.
//!
//! Differences from one thread (docs/threads.md): caps as for files; when the run stops
//! itself (`-W`'s files written, an output broken) the packets already handed to the workers
//! (a few batches, at most [`MAX_BATCH_WAIT`] each of traffic) are analysed too, but not
//! written.

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::keylog::Keys;
use super::threads::{
    route, send_batch, Batch, FromWorker, LiveNotes, Meta, OrderedKeys, PacketNotes,
    ReaderChannels, Route, Shared, Tick, ToStage, Worker, BATCH_BYTES, BATCH_PACKETS, IN_FLIGHT,
};
use super::{LiveEnd, LiveStep, CHANNEL_FRAMES, TICK};
use crate::capture::live::{LiveCapture, LiveCounters, OwnedPacket};
use crate::correlate::tls::SharedResumption;
use crate::decode;
use crate::engine::shard::{Cursor, Logged, Merge};
use crate::engine::{EngineConfig, PacketInfo, Stats};
use crate::event::Event;
use crate::tcp::flow::FlowKey;
use crate::tls::keystore::{SharedKeyLog, UsedSessions};

/// Longest a captured packet waits in the batcher before the workers get it: the latency
/// the batches add to a live capture (a full batch goes at once).
pub const MAX_BATCH_WAIT: Duration = Duration::from_millis(10);

/// How the sharded live analysis is set up.
pub struct Sharding<'a> {
    /// The engines' configuration.
    pub config: &'a EngineConfig,
    /// Workers (at least 2 to be worth it; 1 works).
    pub workers: usize,
    /// `--keylog`: polled at each tick; `None` without a key log (no key store at all).
    pub keys: Option<&'a mut Keys>,
    /// `--write-secrets`: the run's sessions to write, which the `-w` writer takes before
    /// each packet; the stage adds each packet's (found by the worker that analysed it).
    pub used: Option<Arc<Mutex<UsedSessions>>>,
}

/// [`super::analyse_live`] with flow-sharded workers: the same steps in the same order
/// (whenever no cap is hit and the run does not stop itself; module docs).
///
/// # Errors
/// A thread could not be started.
pub fn analyse_live_sharded(
    capture: LiveCapture,
    stop: &Arc<AtomicBool>,
    duration: Option<Duration>,
    sharding: Sharding<'_>,
    mut step: impl FnMut(LiveStep<'_>) -> ControlFlow<()>,
) -> io::Result<LiveEnd> {
    let Sharding {
        config,
        workers,
        keys,
        used,
    } = sharding;
    let workers = workers.max(1);
    let (capture_tx, capture_rx) = mpsc::sync_channel::<OwnedPacket>(CHANNEL_FRAMES);
    let counters = Arc::new(LiveCounters::default());
    let capture_thread = {
        let (stop, counters) = (Arc::clone(stop), Arc::clone(&counters));
        std::thread::Builder::new()
            .name("wssniff-capture".into())
            .spawn(move || capture.run(&stop, &capture_tx, &counters))?
    };
    let shared = Arc::new(Shared::new(workers));
    let log = keys.as_ref().map(|k| k.shared());
    let resumption = SharedResumption::new();
    let mut to_workers = Vec::new();
    let mut from_workers = Vec::new();
    let (to_stage, stage_rx) = mpsc::sync_channel::<ToStage>(IN_FLIGHT * 2);
    let (recycle, recycled) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let scoped = std::thread::scope(|scope| -> io::Result<Stats> {
        for me in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Arc<Batch>>(IN_FLIGHT);
            let (out_tx, out_rx) = mpsc::sync_channel::<FromWorker>(IN_FLIGHT);
            // Each worker notes its own sessions; the stage hands them on in packet order.
            let mine = used
                .as_ref()
                .map(|_| Arc::new(Mutex::new(UsedSessions::default())));
            let keys = log.as_ref().map(|log| {
                let store = SharedKeyLog::new(Arc::clone(log));
                OrderedKeys {
                    inner: match &mine {
                        Some(mine) => store.noting_used(Arc::clone(mine)),
                        None => store,
                    },
                    log: Arc::clone(log),
                    shared: Arc::clone(&shared),
                    me,
                }
            });
            let notes: LiveNotes = Some(mine);
            let worker = Worker::new(me, *config, (keys, resumption.clone()));
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("wssniff-worker-{me}"))
                .spawn_scoped(scope, move || {
                    super::threads::work(worker, &notes, (&rx, &out_tx), &shared);
                })?;
            to_workers.push(tx);
            from_workers.push(out_rx);
        }
        let batcher_shared = Arc::clone(&shared);
        let batcher = std::thread::Builder::new()
            .name("wssniff-batcher".into())
            .spawn_scoped(scope, move || {
                let out = (to_workers.as_slice(), &to_stage, &recycled);
                batch(
                    &capture_rx,
                    (stop, duration),
                    keys,
                    workers,
                    out,
                    &batcher_shared,
                );
            })?;
        let stage_io = (&stage_rx, from_workers.as_slice(), &recycle);
        let stats = stage(
            config,
            workers,
            stage_io,
            &shared,
            used.as_ref(),
            &counters,
            &mut step,
        );
        drop(stage_rx);
        drop(from_workers);
        let _ = batcher.join();
        Ok(stats)
    });
    // The batcher stopped the capture (or it failed on its own).
    stop.store(true, Ordering::Relaxed);
    let capture_stats = capture_thread
        .join()
        .unwrap_or_else(|_| counters.snapshot());
    let _ = step(LiveStep::Tick(&scoped?, capture_stats));
    Ok(LiveEnd {
        stats: capture_stats,
        failure: counters.failure().map(str::to_owned),
    })
}

/// The batcher: captured packets → numbered batches, handed on when full, when their first
/// packet has waited [`MAX_BATCH_WAIT`], and at each tick (which ends its batch). Returns
/// when the stage stops or the capture ends; after `stop` or `duration` it stops the capture
/// and batches what the capture had read until it hangs up.
fn batch(
    rx: &Receiver<OwnedPacket>,
    (stop, duration): (&AtomicBool, Option<Duration>),
    mut keys: Option<&mut Keys>,
    workers: usize,
    channels @ (_, to_stage, _): ReaderChannels<'_>,
    shared: &Shared,
) {
    let started = Instant::now();
    let mut last_tick = started;
    let mut batch = Batch::default();
    // When the current batch's first packet came.
    let mut oldest: Option<Instant> = None;
    let (mut number, mut serial, mut last_sent) = (0u64, 0u64, 0u64);
    let send = |batch: &mut Batch, last_sent: &mut u64| send_batch(batch, last_sent, channels);
    while !shared.stop.load(Ordering::Relaxed) {
        // Stopped by a signal or the duration: what the capture read before it saw the stop
        // is still batched (at most its channel's bound) until it hangs up, as one thread
        // analyses it (run::analyse_live).
        let stopping = super::stop_asked(stop, started, duration);
        let now = Instant::now();
        // (No tick is due while stopping: wait for the capture to hang up.)
        let mut wait = if stopping {
            Duration::from_millis(100)
        } else {
            (last_tick + TICK)
                .saturating_duration_since(now)
                .min(Duration::from_millis(100))
        };
        if let Some(o) = oldest {
            wait = wait.min((o + MAX_BATCH_WAIT).saturating_duration_since(now));
        }
        match rx.recv_timeout(wait) {
            Ok(packet) => {
                number += 1;
                add(&mut batch, number, packet, workers);
                oldest.get_or_insert_with(Instant::now);
                if batch.packets.len() >= BATCH_PACKETS || batch.bytes.len() >= BATCH_BYTES {
                    oldest = None;
                    if send(&mut batch, &mut last_sent).is_break() {
                        return;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if oldest.is_some_and(|o| o.elapsed() >= MAX_BATCH_WAIT) {
            oldest = None;
            if send(&mut batch, &mut last_sent).is_break() {
                return;
            }
        }
        if !stopping && last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            oldest = None;
            // The key log a browser appends to: read where one thread reads it, after every
            // packet before the tick was analysed (their lookups must not see the new keys).
            if let Some(k) = keys.as_deref_mut().filter(|k| k.has_new()) {
                if send(&mut batch, &mut last_sent).is_break() {
                    return;
                }
                shared.wait_for(None, last_sent);
                let notices = k.poll();
                if !notices.is_empty() && to_stage.send(ToStage::Notices(notices)).is_err() {
                    return;
                }
            }
            batch.tick = Some(Tick {
                after: number,
                serial,
                now: super::now(),
            });
            serial += 1;
            if send(&mut batch, &mut last_sent).is_break() {
                return;
            }
        }
    }
    let _ = send(&mut batch, &mut last_sent);
    stop.store(true, Ordering::Relaxed);
}

/// Adds captured packet `number` to `batch`, routed to its connection's worker.
fn add(batch: &mut Batch, number: u64, packet: OwnedPacket, workers: usize) {
    let frame = packet.as_frame(number);
    let route = route(&frame, workers);
    let flow = match route {
        Route::Worker(_) => decode::decode(&frame)
            .ok()
            .map(|s| FlowKey::new(s.src_ip, s.src_port, s.dst_ip, s.dst_port).0),
        Route::Skip(_) => None,
    };
    let start = batch.bytes.len();
    batch.bytes.extend_from_slice(&packet.data);
    batch.packets.push(Meta {
        number,
        ts: packet.ts,
        linktype: packet.linktype,
        orig_len: packet.orig_len,
        block: super::threads::IN_BYTES,
        start,
        len: packet.data.len(),
        route,
    });
    batch.live.push((packet, flow));
}

/// Where the stage's batches come from (the batcher, each worker) and where spent ones go.
type StageChannels<'a> = (
    &'a Receiver<ToStage>,
    &'a [Receiver<FromWorker>],
    &'a SyncSender<Batch>,
);

/// A worker's notes being read in batch order.
struct NotesCursor {
    upgrades: std::iter::Peekable<std::vec::IntoIter<usize>>,
    secrets: std::iter::Peekable<std::vec::IntoIter<(usize, String)>>,
}

impl NotesCursor {
    fn new(notes: PacketNotes) -> Self {
        NotesCursor {
            upgrades: notes.upgrades.into_iter().peekable(),
            secrets: notes.secrets.into_iter().peekable(),
        }
    }
}

/// The live correlation stage: each batch's packets and tick replayed with every worker's
/// log, each packet then handed to `step` with what its worker noted, each tick with the
/// run's counters; at the end the workers' last calls. Returns the run's counters.
#[allow(clippy::too_many_arguments)]
fn stage(
    config: &EngineConfig,
    workers: usize,
    (rx, from_workers, recycle): StageChannels<'_>,
    shared: &Shared,
    used: Option<&Arc<Mutex<UsedSessions>>>,
    counters: &LiveCounters,
    step: &mut dyn FnMut(LiveStep<'_>) -> ControlFlow<()>,
) -> Stats {
    let mut merge = Merge::new(config, workers);
    let mut latest = vec![Stats::default(); workers];
    let mut stopped = false;
    let stop = |stopped: &mut bool, flow: ControlFlow<()>| {
        if flow.is_break() && !*stopped {
            *stopped = true;
            shared.stop.store(true, Ordering::Relaxed);
        }
    };
    while let Ok(item) = rx.recv() {
        let batch = match item {
            ToStage::Notices(notices) => {
                for n in notices {
                    let flow = step(LiveStep::Event(Event::Notice(n)));
                    stop(&mut stopped, flow);
                }
                continue;
            }
            ToStage::Batch(batch) => batch,
        };
        let mut notes = Vec::with_capacity(workers);
        let mut cursors: Vec<Cursor> = from_workers
            .iter()
            .zip(&mut latest)
            .map(|(rx, latest)| match rx.recv() {
                Ok(FromWorker::Batch(log, n)) => {
                    let mut n = n.map(|b| *b).unwrap_or_default();
                    if let Some(s) = n.stats.take() {
                        *latest = *s;
                    }
                    notes.push(NotesCursor::new(n));
                    Cursor::new(log)
                }
                _ => {
                    notes.push(NotesCursor::new(PacketNotes::default()));
                    Cursor::new(Logged::default())
                }
            })
            .collect();
        // Every batch is replayed, also after the run stopped itself: the workers analysed
        // its packets, and their calls (ids reserved) must reach the stage before the end.
        for (i, (m, (packet, flow))) in batch.packets.iter().zip(&batch.live).enumerate() {
            let owner = match m.route {
                Route::Worker(w) => Some(w),
                Route::Skip(_) => None,
            };
            let skip = match m.route {
                Route::Skip(s) => Some(s),
                Route::Worker(_) => None,
            };
            let truncated = u64::from(m.orig_len) > m.len as u64;
            let facts = (m.number, m.ts, m.len, truncated);
            let mut flows = ControlFlow::Continue(());
            merge.packet(facts, skip, owner, &mut cursors, &mut |e| {
                if step(LiveStep::Event(e)).is_break() {
                    flows = ControlFlow::Break(());
                }
            });
            stop(&mut stopped, flows);
            let mut upgrade = false;
            if let Some(n) = owner.and_then(|w| notes.get_mut(w)) {
                upgrade = n.upgrades.next_if(|&u| u == i).is_some();
                if let Some((_, lines)) = n.secrets.next_if(|(s, _)| *s == i) {
                    if let Some(Ok(mut used)) = used.map(|u| u.lock()) {
                        used.push(&lines);
                    }
                }
            }
            if !stopped {
                let info = PacketInfo {
                    flow: *flow,
                    upgrade,
                };
                let flow = step(LiveStep::Packet(packet, info));
                stop(&mut stopped, flow);
            }
        }
        if let Some(t) = batch.tick {
            let mut flows = ControlFlow::Continue(());
            merge.tick((t.after, t.serial), t.now, &mut cursors, &mut |e| {
                if step(LiveStep::Event(e)).is_break() {
                    flows = ControlFlow::Break(());
                }
            });
            stop(&mut stopped, flows);
            if !stopped {
                let stats = merge.stats_with(&latest);
                let flow = step(LiveStep::Tick(&stats, counters.snapshot()));
                stop(&mut stopped, flow);
            }
        }
        if let Some(h) = shared.held.get(workers) {
            h.store(merge.memory(), Ordering::Relaxed);
        }
        if let Ok(mut done) = Arc::try_unwrap(batch) {
            done.clear(None);
            let _ = recycle.try_send(done);
        }
    }
    let mut cursors = Vec::new();
    let mut stats = Vec::new();
    for rx in from_workers {
        match rx.recv() {
            Ok(FromWorker::End(log, s)) => {
                cursors.push(Cursor::new(log));
                stats.push(*s);
            }
            _ => cursors.push(Cursor::new(Logged::default())),
        }
    }
    merge.absorb(&stats);
    merge.finish(&mut cursors, &mut |e| {
        let _ = step(LiveStep::Event(e));
    });
    merge.stats().clone()
}
