//! The seam between flow-sharded workers and the one correlation stage (`--threads N`).
//!
//! A worker runs the per-flow half of an [`Engine`](super::Engine) (flow table, TCP,
//! HTTP, WebSocket, TLS, handshake checks) over the connections hashed to it, and records
//! each call its engine makes into the cross-flow half as an [`Op`] in an [`OpLog`], under
//! the packet that made it. The correlation stage ([`Merge`]) replays the logs of every
//! worker in packet order, so the one [`Correlator`] sees exactly the calls, in exactly the
//! order, that a single engine's would: same ids, same records, same output order.
//!
//! Two things need more than replaying in packet order:
//! - **Ids.** A worker cannot know the global handshake id of an upgrade request (it depends
//!   on the other workers' requests before it), so it hands out provisional ids (a tag bit,
//!   the worker and a count) and logs each reservation; the stage reserves the real id at the
//!   same point and maps every provisional id in the records it is handed (handshake ids,
//!   connection records' `handshake_id`, the `handshakes` a TLS record lists). The map loses
//!   a connection's ids when it ends (after its TLS record).
//! - **Connections leaving together.** At a packet the idle sweep may drop connections of
//!   several workers (every worker sweeps its table at every packet, so the sweeps happen at
//!   the same packets as one table's); one table finishes them in (last activity, key)
//!   order, so each one's calls are logged as a group with that order and the stage
//!   interleaves the groups of all workers by it. End of input likewise.
//! - **Ticks** (live capture: time passes without packets). A tick sits between two packets
//!   at a [`Position`] of its own, in two phases replayed apart: the upgrade requests whose
//!   response timeout passed (one group each, in the order one engine queued them: by the
//!   number of the packet that queued the deadline), then the idle sweep (groups as above);
//!   the stage's own tick work goes before, between and after them where one engine does it.
//!
//! Pure: no threads, no I/O here (the threads are `run::threads`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::correlator::{Correlator, PacketFacts};
use super::{EngineConfig, Stats, FINISH};
use crate::capture::Timestamp;
use crate::decode::Skip;
use crate::engineio::observer::EioObserver;
use crate::event::{ConnectionRecord, Event, HandshakeRecord, TlsRecord};
use crate::finding::NoticeCode;
use crate::http::exchange::{EioPoll, StreamId};
use crate::memory::{Meter, RefusalCount};
use crate::tcp::flow::FlowKey;

/// Marks a provisional id (bit 62: far above any real count of handshakes).
const PROVISIONAL: u64 = 1 << 62;
/// Where the worker's number sits in a provisional id.
const WORKER_SHIFT: u32 = 40;

/// One call of a worker's engine into the cross-flow half (see the module docs).
#[derive(Debug)]
pub(crate) enum Op {
    /// A handshake id was reserved; the provisional id the worker gave out.
    Reserve(u64),
    /// A connection ended: its provisional ids are not used again.
    Forget(Vec<u64>),
    Handshake {
        key: FlowKey,
        record: Box<HandshakeRecord>,
        opened: Option<StreamId>,
        asked_accept: Option<String>,
    },
    EngineIoPolls {
        client: SocketAddr,
        server: SocketAddr,
        polls: Vec<EioPoll>,
    },
    ClientSpoke {
        key: FlowKey,
        stream: StreamId,
    },
    Notice {
        code: NoticeCode,
        message: String,
    },
    MemcapNotice,
    H2Settings {
        client: IpAddr,
        server: SocketAddr,
        enabled: bool,
        ts: Timestamp,
    },
    RefusedConnect {
        from: IpAddr,
        to: SocketAddr,
        at: Timestamp,
        packet: u64,
    },
    Tls(Box<TlsRecord>),
    Connection {
        key: FlowKey,
        stream: StreamId,
        record: Box<ConnectionRecord>,
        eio: Option<Box<EioObserver>>,
    },
    /// The worker's table now holds this many connections (after it shrank).
    Len(usize),
    /// The worker's table holds this many connections at a point where one engine counts
    /// its table towards the peak.
    Peak(usize),
}

/// Where one connection's calls go among other workers' at the same position: for a
/// connection leaving the table with others, its last activity (nanoseconds) then its key
/// (the flow table's order); for a tick's unanswered request, the number of the packet that
/// queued its deadline, then the key (the order of one engine's deadline queue).
type GroupOrder = (i64, FlowKey);

/// Where calls sit in packet order: (packet number, 0) for a packet's own calls; a tick
/// after packet `n` (the `k`th tick of the run, from 0) has (n, 2k+1) for its unanswered
/// requests and (n, 2k+2) for its idle sweep, after packet n's calls and before n+1's.
pub(crate) type Position = (u64, u64);

/// The ops of one packet (`order: None`) or of one connection among others at that
/// position (`order`, see [`GroupOrder`]), ending at `end` in the ops.
#[derive(Debug)]
pub(crate) struct Entry {
    at: Position,
    order: Option<GroupOrder>,
    end: usize,
}

/// What a worker logged since it last handed its log on.
#[derive(Debug, Default)]
pub(crate) struct Logged {
    entries: Vec<Entry>,
    /// Each `Some` until the stage replays it (it takes them out of order: groups first).
    ops: Vec<Option<Op>>,
}

/// A worker's log of cross-flow calls (see the module docs).
#[derive(Debug)]
pub(crate) struct OpLog {
    tag: u64,
    next: u64,
    logged: Logged,
    at: Position,
    /// The timestamp of the packet being analysed (or passed).
    ts: Timestamp,
    group: Option<GroupOrder>,
    /// Provisional ids by connection, forgotten when it ends.
    ids_of: HashMap<FlowKey, Vec<u64>>,
    /// Notices already logged (the stage says each once anyway; this saves the strings).
    warned: Vec<NoticeCode>,
    /// The table size last logged.
    len: usize,
}

impl OpLog {
    /// The log of worker `worker`.
    pub(crate) fn new(worker: usize) -> Self {
        OpLog {
            tag: PROVISIONAL | ((worker as u64) << WORKER_SHIFT),
            next: 1,
            logged: Logged::default(),
            at: (0, 0),
            ts: Timestamp::default(),
            group: None,
            ids_of: HashMap::new(),
            warned: Vec::new(),
            len: 0,
        }
    }

    /// The calls that follow are packet `number`'s (captured at `ts`).
    #[inline]
    pub(crate) fn begin_packet(&mut self, number: u64, ts: Timestamp) {
        self.at = (number, 0);
        self.ts = ts;
        self.group = None;
    }

    /// The calls that follow are the unanswered requests of the run's tick `serial` (from
    /// 0), which comes after packet `after`.
    pub(crate) fn begin_tick(&mut self, after: u64, serial: u64) {
        self.at = (after, serial.saturating_mul(2).saturating_add(1));
        self.group = None;
    }

    /// The calls that follow are the current tick's idle sweep.
    pub(crate) fn begin_tick_sweep(&mut self) {
        self.at.1 = self.at.1.saturating_add(1);
        self.group = None;
    }

    /// The timestamp of the packet last begun.
    pub(crate) fn packet_ts(&self) -> Timestamp {
        self.ts
    }

    /// The calls that follow finish the connection `key`, last active at `seen`, leaving
    /// the table with others.
    pub(crate) fn begin_group(&mut self, seen: Timestamp, key: FlowKey) {
        self.group = Some((seen.0, key));
    }

    /// The calls that follow report the unanswered requests of `key`, whose deadline packet
    /// `queued_at` queued.
    pub(crate) fn begin_deadline_group(&mut self, queued_at: u64, key: FlowKey) {
        self.group = Some((i64::try_from(queued_at).unwrap_or(i64::MAX), key));
    }

    pub(crate) fn end_group(&mut self) {
        self.group = None;
    }

    pub(crate) fn push(&mut self, op: Op) {
        let logged = &mut self.logged;
        let open = logged
            .entries
            .last()
            .is_some_and(|e| e.at == self.at && e.order == self.group && e.end == logged.ops.len());
        logged.ops.push(Some(op));
        let end = logged.ops.len();
        match logged.entries.last_mut() {
            Some(e) if open => e.end = end,
            _ => logged.entries.push(Entry {
                at: self.at,
                order: self.group,
                end,
            }),
        }
    }

    /// A provisional handshake id for a request of connection `key`.
    pub(crate) fn reserve(&mut self, key: FlowKey) -> u64 {
        let id = self.tag | self.next;
        self.next += 1;
        self.push(Op::Reserve(id));
        self.ids_of.entry(key).or_default().push(id);
        id
    }

    /// The connection `key` ended: its provisional ids can go.
    pub(crate) fn forget(&mut self, key: FlowKey) {
        if let Some(ids) = self.ids_of.remove(&key) {
            self.push(Op::Forget(ids));
        }
    }

    pub(crate) fn notice_once(&mut self, code: NoticeCode, message: String) {
        if !self.warned.contains(&code) {
            self.warned.push(code);
            self.push(Op::Notice { code, message });
        }
    }

    /// The table shrank to `len` connections.
    pub(crate) fn table_len(&mut self, len: usize) {
        if len != self.len {
            self.len = len;
            self.push(Op::Len(len));
        }
    }

    /// The table holds `len` connections where one engine counts the peak.
    #[inline]
    pub(crate) fn peak(&mut self, len: usize) {
        if len != self.len {
            self.len = len;
            self.push(Op::Peak(len));
        }
    }

    /// Hands on what was logged.
    pub(crate) fn take(&mut self) -> Logged {
        std::mem::take(&mut self.logged)
    }
}

/// One worker's log being replayed.
#[derive(Debug)]
pub(crate) struct Cursor {
    entries: Vec<Entry>,
    /// The first entry not replayed yet.
    next: usize,
    ops: Vec<Option<Op>>,
}

impl Cursor {
    pub(crate) fn new(logged: Logged) -> Self {
        Cursor {
            entries: logged.entries,
            next: 0,
            ops: logged.ops,
        }
    }

    /// Whether an entry at or before position `at` is left: most packets have none (a worker
    /// logs calls at few packets), and the stage asks at every packet.
    #[inline]
    fn has_until(&self, at: Position) -> bool {
        self.entries.get(self.next).is_some_and(|e| e.at <= at)
    }

    /// The next entry if it is at or before `at` (none is ever left behind): its group order
    /// and where its ops are.
    fn next_until(&mut self, at: Position) -> Option<(Option<GroupOrder>, OpRange)> {
        let e = self.entries.get(self.next).filter(|e| e.at <= at)?;
        let start = self
            .next
            .checked_sub(1)
            .and_then(|p| self.entries.get(p))
            .map_or(0, |p| p.end);
        self.next += 1;
        Some((e.order, (start, e.end)))
    }
}

/// Where an entry's ops are in its cursor: `start..end`.
type OpRange = (usize, usize);

/// The one correlation stage of a sharded run: replays the workers' logs in packet order.
pub(crate) struct Merge {
    corr: Correlator,
    stats: Stats,
    /// What the stage itself holds (records held for order, parked, the hop tracker).
    meter: Meter,
    budget: usize,
    refusals_seen: u64,
    /// Provisional id → the real one.
    ids: HashMap<u64, u64>,
    /// Each worker's table size, as last logged.
    lens: Vec<usize>,
    /// Live capture's response timeout: without it a tick does nothing (as one engine's).
    response_timeout_ns: Option<i64>,
    /// The leaving groups of the position being replayed (order, worker, ops), kept to
    /// reuse their room.
    groups: Vec<(GroupOrder, usize, OpRange)>,
    /// The calls outside groups of the position being replayed (worker, ops), the owner's
    /// last, for [`Merge::replay_own`].
    own: Vec<(usize, OpRange)>,
}

impl Merge {
    pub(crate) fn new(config: &EngineConfig, workers: usize) -> Self {
        Merge {
            corr: Correlator::new(config),
            stats: Stats::default(),
            meter: Meter::with_budget(config.memcap),
            budget: config.memcap.unwrap_or(0),
            refusals_seen: 0,
            ids: HashMap::new(),
            lens: vec![0; workers],
            response_timeout_ns: config.response_timeout_ns,
            groups: Vec::new(),
            own: Vec::new(),
        }
    }

    /// The counters so far (the workers' own are added at the end).
    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes the stage holds now.
    pub(crate) fn memory(&self) -> usize {
        self.meter.held()
    }

    /// Replays packet `number` (`ts`, `caplen` bytes captured, `truncated`): the workers'
    /// calls at it, the leaving groups first in their order, then the packet's own (from
    /// `owner`, the worker its connection hashes to; `skip` when the decoder skipped it).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn packet(
        &mut self,
        facts: (u64, Timestamp, usize, bool),
        skip: Option<Skip>,
        owner: Option<usize>,
        cursors: &mut [Cursor],
        emit: &mut dyn FnMut(Event),
    ) {
        let (number, ts, caplen, truncated) = facts;
        self.corr.packet(
            &mut self.stats,
            &mut self.meter,
            PacketFacts {
                number,
                ts,
                caplen,
                truncated,
            },
        );
        // Most packets have no call of any worker's: checked here, where it inlines, so that
        // such a packet costs no call (the stage replays every packet of the capture).
        let at = (number, 0);
        if cursors.iter().any(|c| c.has_until(at)) {
            self.replay(at, owner, cursors, false);
        }
        if let Some(skip) = skip {
            self.corr.skipped(&mut self.stats, skip);
        }
        if !self.own.is_empty() {
            self.replay_own(cursors);
        }
        if self.meter.refused_total() != self.refusals_seen {
            self.refusals_seen = self.meter.refused_total();
            self.corr.memcap_notice(self.budget);
        }
        if !self.corr.is_idle() {
            self.corr.release(&mut self.stats, emit);
        }
        self.corr.settle_order(&mut self.meter);
    }

    /// Replays the run's tick `serial` (after packet `after`, at the clock's `now`) as one
    /// engine's [`Engine::tick`](super::Engine::tick) does it: parked records due, the
    /// workers' unanswered requests, Engine.IO sessions due, the workers' idle sweeps, then
    /// what is due in id order.
    pub(crate) fn tick(
        &mut self,
        (after, serial): (u64, u64),
        now: Timestamp,
        cursors: &mut [Cursor],
        emit: &mut dyn FnMut(Event),
    ) {
        if self.response_timeout_ns.is_none() {
            return;
        }
        let deadlines = (after, serial.saturating_mul(2).saturating_add(1));
        self.corr.tick(&mut self.meter, now);
        self.replay(deadlines, None, cursors, false);
        self.replay_own(cursors);
        self.corr
            .expire_engineio(&mut self.stats, &mut self.meter, now);
        self.replay((after, deadlines.1.saturating_add(1)), None, cursors, false);
        self.replay_own(cursors);
        if self.meter.refused_total() != self.refusals_seen {
            self.refusals_seen = self.meter.refused_total();
            self.corr.memcap_notice(self.budget);
        }
        self.corr.release(&mut self.stats, emit);
        self.corr.settle_order(&mut self.meter);
    }

    /// The run's counters so far, with the workers' `workers` (as last reported) added:
    /// what a live tick shows while the workers' own are still apart.
    pub(crate) fn stats_with(&self, workers: &[Stats]) -> Stats {
        let mut stats = self.stats.clone();
        Self::add_workers(&mut stats, workers, &self.meter);
        stats
    }

    /// Adds the workers' counters (theirs are kept apart until the end: see
    /// [`Stats::absorb`]) and every meter's refusals.
    pub(crate) fn absorb(&mut self, workers: &[Stats]) {
        Self::add_workers(&mut self.stats, workers, &self.meter);
    }

    fn add_workers(stats: &mut Stats, workers: &[Stats], meter: &Meter) {
        for w in workers {
            stats.absorb(w);
            for (what, r) in &w.memcap_refused {
                let sum = stats.memcap_refused.entry(what).or_default();
                sum.times += r.times;
                sum.bytes += r.bytes;
            }
        }
        for (what, r) in meter.refusals().filter(|(_, r)| r.times > 0) {
            let sum: &mut RefusalCount = stats.memcap_refused.entry(what.as_str()).or_default();
            sum.times += r.times;
            sum.bytes += r.bytes;
        }
    }

    /// End of input, after [`Merge::absorb`]: the workers' last calls (their own first, then
    /// every connection still open, in leaving order), then the stage's own end.
    pub(crate) fn finish(&mut self, cursors: &mut [Cursor], emit: &mut dyn FnMut(Event)) {
        self.replay((FINISH, u64::MAX), None, cursors, true);
        self.replay_own(cursors);
        self.corr.finish(&mut self.stats, &mut self.meter, emit);
    }

    /// Replays the workers' calls at `at`: the leaving groups of every worker in (last
    /// activity, key) order (at the end of input, after the workers' own calls:
    /// `own_first`); keeps the calls outside groups for [`Merge::replay_own`], the other
    /// workers' (their tables' sizes after the sweep) before the owner's.
    #[inline(never)]
    fn replay(
        &mut self,
        at: Position,
        owner: Option<usize>,
        cursors: &mut [Cursor],
        own_first: bool,
    ) {
        // The common case, a position no worker logged a call at: nothing to collect.
        if !cursors.iter().any(|c| c.has_until(at)) {
            return;
        }
        let mut groups = std::mem::take(&mut self.groups);
        let mut owners = 0;
        for (w, c) in cursors.iter_mut().enumerate() {
            while let Some((order, ops)) = c.next_until(at) {
                match order {
                    Some(order) => groups.push((order, w, ops)),
                    None if Some(w) == owner => {
                        self.own.push((w, ops));
                        owners += 1;
                    }
                    // Before the owner's (worker order, each worker's in log order).
                    None => self.own.insert(self.own.len() - owners, (w, ops)),
                }
            }
        }
        if own_first {
            self.replay_own(cursors);
        }
        // Stable: a worker's groups with one order stay in log order.
        groups.sort_by_key(|(order, _, _)| *order);
        for (_, w, ops) in groups.drain(..) {
            self.apply_range(w, ops, cursors);
        }
        self.groups = groups;
    }

    /// Replays the calls outside groups that [`Merge::replay`] kept.
    #[inline(never)]
    fn replay_own(&mut self, cursors: &mut [Cursor]) {
        if self.own.is_empty() {
            return;
        }
        let mut own = std::mem::take(&mut self.own);
        for (w, ops) in own.drain(..) {
            self.apply_range(w, ops, cursors);
        }
        self.own = own;
    }

    fn apply_range(&mut self, w: usize, (start, end): OpRange, cursors: &mut [Cursor]) {
        for i in start..end {
            let op = cursors
                .get_mut(w)
                .and_then(|c| c.ops.get_mut(i))
                .and_then(Option::take);
            if let Some(op) = op {
                self.apply(w, op);
            }
        }
    }

    fn global(&self, id: u64) -> u64 {
        if id & PROVISIONAL == 0 {
            return id;
        }
        self.ids.get(&id).copied().unwrap_or(id)
    }

    fn apply(&mut self, worker: usize, op: Op) {
        match op {
            Op::Reserve(provisional) => {
                let id = self.corr.reserve();
                self.ids.insert(provisional, id);
            }
            Op::Forget(ids) => {
                for id in ids {
                    self.ids.remove(&id);
                }
            }
            Op::Handshake {
                key,
                mut record,
                opened,
                asked_accept,
            } => {
                record.id = self.global(record.id);
                self.corr.handshake(
                    &mut self.stats,
                    &mut self.meter,
                    key,
                    *record,
                    opened,
                    asked_accept,
                );
            }
            Op::EngineIoPolls {
                client,
                server,
                polls,
            } => self
                .corr
                .engineio_polls(&mut self.stats, &mut self.meter, client, server, polls),
            Op::ClientSpoke { key, stream } => self.corr.client_spoke(&mut self.meter, key, stream),
            Op::Notice { code, message } => self.corr.notice_once(code, message),
            Op::MemcapNotice => self.corr.memcap_notice(self.budget),
            Op::H2Settings {
                client,
                server,
                enabled,
                ts,
            } => self.corr.h2_settings(client, server, enabled, ts),
            Op::RefusedConnect {
                from,
                to,
                at,
                packet,
            } => self.corr.refused_connect(from, to, at, packet),
            Op::Tls(mut tls) => {
                // The handshakes it carried, by their real ids (in id order, as one engine
                // lists them).
                for id in &mut tls.handshakes {
                    *id = self.global(*id);
                }
                tls.handshakes.sort_unstable();
                self.corr.tls(&mut self.stats, *tls);
            }
            Op::Connection {
                key,
                stream,
                mut record,
                eio,
            } => {
                record.handshake_id = record.handshake_id.map(|id| self.global(id));
                self.corr
                    .connection(&mut self.stats, &mut self.meter, key, stream, *record, eio);
            }
            Op::Len(n) => {
                if let Some(len) = self.lens.get_mut(worker) {
                    *len = n;
                }
            }
            Op::Peak(n) => {
                if let Some(len) = self.lens.get_mut(worker) {
                    *len = n;
                }
                let total: usize = self.lens.iter().sum();
                self.stats.peak_flows = self.stats.peak_flows.max(total as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> FlowKey {
        FlowKey::new(
            "10.0.0.1".parse().unwrap(),
            port,
            "10.0.0.2".parse().unwrap(),
            80,
        )
        .0
    }

    #[test]
    fn calls_are_logged_under_their_packet_and_group() {
        let mut log = OpLog::new(1);
        log.begin_packet(7, Timestamp(0));
        log.begin_group(Timestamp(5), key(1));
        let a = log.reserve(key(1));
        log.end_group();
        log.table_len(3);
        log.peak(3); // unchanged: not logged again
        let b = log.reserve(key(2));
        log.forget(key(2));
        log.begin_packet(8, Timestamp(0));
        log.notice_once(NoticeCode::HeaderLimit, "x".into());
        log.notice_once(NoticeCode::HeaderLimit, "x".into());
        assert_ne!(a, b);
        assert!(a & PROVISIONAL != 0 && (a >> WORKER_SHIFT) & 0xff == 1);
        let logged = log.take();
        let shape: Vec<(u64, bool, usize)> = logged
            .entries
            .iter()
            .map(|e| (e.at.0, e.order.is_some(), e.end))
            .collect();
        // The group, then packet 7's own calls (len, reserve, forget), then packet 8's notice.
        assert_eq!(shape, [(7, true, 1), (7, false, 4), (8, false, 5)]);
        assert!(matches!(&logged.ops[3], Some(Op::Forget(ids)) if ids == &[b]));
        assert!(log.take().ops.is_empty());
    }

    #[test]
    fn connections_leaving_together_are_replayed_in_one_tables_order() {
        // Two workers sweep connections at the same packet; worker 1's left first (older
        // activity), so its id is reserved first whatever the worker order.
        let (mut w0, mut w1) = (OpLog::new(0), OpLog::new(1));
        for (log, seen, port) in [(&mut w0, 20, 1), (&mut w1, 10, 2)] {
            log.begin_packet(3, Timestamp(0));
            log.begin_group(Timestamp(seen), key(port));
            log.reserve(key(port));
            log.end_group();
        }
        let (p0, p1) = (w0.tag | 1, w1.tag | 1);
        let mut merge = Merge::new(&EngineConfig::default(), 2);
        let mut cursors = [Cursor::new(w0.take()), Cursor::new(w1.take())];
        let mut events = Vec::new();
        merge.packet(
            (3, Timestamp(30), 60, false),
            None,
            Some(0),
            &mut cursors,
            &mut |e| events.push(e),
        );
        assert_eq!((merge.global(p1), merge.global(p0)), (1, 2));
        // A real id passes through; an unknown provisional one stays visible as such.
        assert_eq!(merge.global(9), 9);
        assert_eq!(merge.global(w0.tag | 5), w0.tag | 5);
    }

    #[test]
    fn a_tick_is_replayed_between_its_packets_in_one_deadline_queues_order() {
        // Tick 0 comes after packet 2. Worker 0's request was queued at packet 2, worker 1's
        // at packet 1: one engine's queue reports worker 1's first. Packet 3's own call
        // comes after the tick, and packet 2's before it.
        let (mut w0, mut w1) = (OpLog::new(0), OpLog::new(1));
        w0.begin_packet(2, Timestamp(0));
        w0.reserve(key(9));
        for (log, queued, port) in [(&mut w0, 2, 1), (&mut w1, 1, 2)] {
            log.begin_tick(2, 0);
            log.begin_deadline_group(queued, key(port));
            log.reserve(key(port));
            log.end_group();
            log.begin_tick_sweep();
        }
        w1.begin_packet(3, Timestamp(0));
        w1.reserve(key(3));
        let (p0, p1) = (w0.tag | 2, w1.tag | 1);
        let config = EngineConfig {
            response_timeout_ns: Some(1),
            ..EngineConfig::default()
        };
        let mut merge = Merge::new(&config, 2);
        let mut cursors = [Cursor::new(w0.take()), Cursor::new(w1.take())];
        let packet = |merge: &mut Merge, cursors: &mut [Cursor], n| {
            merge.packet(
                (n, Timestamp(0), 60, false),
                None,
                Some(0),
                cursors,
                &mut |_| {},
            );
        };
        packet(&mut merge, &mut cursors, 2);
        assert_eq!(merge.global(w0.tag | 1), 1, "packet 2's own call");
        assert_eq!(merge.global(p1), p1, "the tick's calls wait for the tick");
        merge.tick((2, 0), Timestamp(10), &mut cursors, &mut |_| {});
        assert_eq!((merge.global(p1), merge.global(p0)), (2, 3));
        packet(&mut merge, &mut cursors, 3);
        assert_eq!(merge.global(w1.tag | 2), 4);
    }

    #[test]
    fn the_peak_counts_every_workers_table() {
        let (mut w0, mut w1) = (OpLog::new(0), OpLog::new(1));
        w0.begin_packet(1, Timestamp(0));
        w0.peak(2);
        w1.begin_packet(2, Timestamp(0));
        w1.peak(3);
        w0.begin_packet(3, Timestamp(0));
        w0.table_len(0);
        w1.begin_packet(4, Timestamp(0));
        w1.peak(4);
        let mut merge = Merge::new(&EngineConfig::default(), 2);
        let mut cursors = [Cursor::new(w0.take()), Cursor::new(w1.take())];
        for n in 1..=4 {
            merge.packet(
                (n, Timestamp(0), 60, false),
                None,
                Some(usize::from(n % 2 == 0)),
                &mut cursors,
                &mut |_| {},
            );
        }
        // 2 + 3 at packet 2; at packet 4 worker 0 holds none.
        assert_eq!(merge.stats().peak_flows, 5);
    }
}
