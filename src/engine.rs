//! The analysis engine: packets in, [`Event`]s out. No I/O and no wall clock: time is the
//! capture timestamp of the packet being processed, so a file always gives the same answer.
//!
//! Order is part of that answer. Handshake ids follow the order upgrade requests were seen
//! (packet order; a record without a request takes its id at the packet that produced it),
//! connections that leave the flow table together are finished in a fixed order, and by
//! default ([`RecordOrder::ById`]) events leave in id order (see `sequence`), so nothing
//! depends on the hasher's seed or on which response came first.

mod correlator;
mod sequence;
pub(crate) mod shard;

pub use sequence::{RecordOrder, MAX_HELD_BYTES, MAX_HELD_EVENTS};

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use serde::Serialize;

use crate::capture::{Packet, Timestamp};
use crate::correlate::fallback;
use crate::correlate::tls::{Carried, SharedResumption};
use crate::decode::Segment;
use crate::dispatch::{ConnLimits, Connection};
use crate::event::{
    Ending, Event, HandshakeRecord, TcpLoss, Timing, TlsCarrier, TlsRecord, Verdict,
};
use crate::finding::NoticeCode;
use crate::handshake;
use crate::http::exchange::{Completed, Output, StreamId};
use crate::memory::{Account, Meter, RefusalCount, Use};
use crate::tcp::connection::{packet_id, Opening, RecentPackets, DUPLICATE_WINDOW_NS};
use crate::tcp::flow::{Eviction, FlowKey, FlowLimits, FlowTable, Side};
use crate::tls::KeyStore;
use correlator::{Correlator, PacketFacts};
use shard::{Logged, Op, OpLog};

/// Engine configuration: every cap in one place.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineConfig {
    /// Flow table caps.
    pub flows: FlowLimits,
    /// Per-connection caps.
    pub conn: ConnLimits,
    /// Report an unanswered upgrade after this long (nanoseconds) without waiting for the
    /// connection to end: for live capture, where the end may never come.
    pub response_timeout_ns: Option<i64>,
    /// Seed of the flow table's hasher. `None` (the default) draws a random one, as a table
    /// keyed by attacker-chosen addresses must; tests set it to show that the output does not
    /// depend on the seed.
    pub hash_seed: Option<u64>,
    /// When records leave: in id order (files, the default) or as soon as known (live).
    pub order: RecordOrder,
    /// Idle timeouts configured on the path (`--proxy-idle-timeout`): a silent teardown after
    /// one of them is named as that intermediary's timer.
    pub proxy_idle_timeouts: ProxyIdleTimeouts,
    /// What the handshake checks are told (`--slow-response`).
    pub handshake: handshake::Policy,
    /// The global memory budget in bytes (`--memcap`) over every buffer that grows with
    /// traffic ([`crate::memory`]); `None` (the library default): unbounded.
    pub memcap: Option<usize>,
}

/// `--memcap`'s default: 256 MiB.
pub const DEFAULT_MEMCAP: usize = 256 * 1024 * 1024;

/// The memory budget's recovery level in emergency mode: connections are evicted until at
/// most `budget - budget / EMERGENCY_RECOVERY` is held.
const EMERGENCY_RECOVERY: usize = 8;

/// Most `--proxy-idle-timeout` values.
pub const MAX_PROXY_IDLE_TIMEOUTS: usize = 8;

/// Idle timeouts of the intermediaries on the path, as the user knows them (at most
/// [`MAX_PROXY_IDLE_TIMEOUTS`]; a fixed array keeps [`EngineConfig`] `Copy`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProxyIdleTimeouts {
    ms: [f64; MAX_PROXY_IDLE_TIMEOUTS],
    len: usize,
}

impl ProxyIdleTimeouts {
    /// Adds a timeout of `seconds`; false when it is not a positive finite number or the
    /// list is full.
    pub fn push(&mut self, seconds: f64) -> bool {
        let Some(slot) = self.ms.get_mut(self.len) else {
            return false;
        };
        if !(seconds.is_finite() && seconds > 0.0) {
            return false;
        }
        *slot = seconds * 1000.0;
        self.len += 1;
        true
    }

    /// The values, in milliseconds.
    #[must_use]
    pub fn as_ms(&self) -> &[f64] {
        self.ms.get(..self.len).unwrap_or_default()
    }
}

/// What the engine learnt about one packet's connection (for `-w --write-handshakes-only`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketInfo {
    /// The TCP connection, when the packet is TCP.
    pub flow: Option<FlowKey>,
    /// Whether that connection has carried a WebSocket upgrade request.
    pub upgrade: bool,
}

/// Counters for the end-of-run summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Frames processed.
    pub packets: u64,
    /// Bytes of packets processed (as captured).
    pub bytes: u64,
    /// First packet timestamp.
    #[serde(skip)]
    pub first_ts: Option<Timestamp>,
    /// Last packet timestamp.
    #[serde(skip)]
    pub last_ts: Option<Timestamp>,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// Frames that were not IP.
    pub not_ip: u64,
    /// IP packets that were not TCP.
    pub not_tcp: u64,
    /// IP fragments (not reassembled).
    pub ip_fragments: u64,
    /// Frames whose headers were damaged or cut before the TCP header ended.
    pub malformed: u64,
    /// Frames of a link type wssniff cannot decode.
    pub unsupported_linktype: u64,
    /// Frames cut by the snap length.
    pub truncated_packets: u64,
    /// Connections tracked.
    pub flows: u64,
    /// Connections on which an HTTP upgrade to WebSocket was seen.
    pub upgrade_flows: u64,
    /// Connections evicted because the flow table was full.
    pub flows_evicted_capacity: u64,
    /// Connections evicted after the idle timeout.
    pub flows_evicted_idle: u64,
    /// Most connections tracked at once.
    pub peak_flows: u64,
    /// Heads that passed the header cap.
    pub header_limit_hits: u64,
    /// Bytes dropped by per-stream buffer caps.
    pub bytes_dropped_by_caps: u64,
    /// Connections given up because too many requests were pipelined.
    pub pending_limit_hits: u64,
    /// Handshake records written after later ones: an unanswered handshake gave up its place
    /// in the id order when the records waiting behind it passed the hold cap.
    pub records_out_of_order: u64,
    /// Handshake records emitted.
    pub handshakes: u64,
    /// Proxied handshakes whose two legs were both captured and linked.
    pub proxy_hops: u64,
    /// Bytes examined looking for the ends of HTTP heads (a work counter: linear in the
    /// bytes of heads, whatever their segmentation). Not in the JSON summary: it measures
    /// wssniff, not the capture.
    #[serde(skip)]
    pub head_bytes_scanned: u64,
    /// WebSocket connection records emitted.
    pub connections: u64,
    /// WebSocket connections recognised from their frames alone (handshake not captured).
    pub connections_without_handshake: u64,
    /// What the capture lacks or repeats, and what was normalised; left out of the JSON
    /// summary when there is nothing to say.
    #[serde(skip_serializing_if = "CaptureEvidence::is_clean")]
    pub capture_evidence: CaptureEvidence,
    /// TLS connection records emitted (in the JSON only when there were some, as are the
    /// counters below).
    #[serde(skip_serializing_if = "is_zero")]
    pub tls_connections: u64,
    /// Of those, the ones decrypted with a key log.
    #[serde(skip_serializing_if = "is_zero")]
    pub tls_decrypted: u64,
    /// UDP packets to or from port 443 that look like QUIC (HTTP/3): counted, not analysed.
    #[serde(skip_serializing_if = "is_zero")]
    pub quic_packets: u64,
    /// Of those, clients' Initial packets (about one per connection attempt).
    #[serde(skip_serializing_if = "is_zero")]
    pub quic_initials: u64,
    /// Connections evicted to make room under the memory budget (`--memcap` emergency mode).
    #[serde(skip_serializing_if = "is_zero")]
    pub flows_evicted_memcap: u64,
    /// Growths the memory budget refused, by what would have grown (`segments`, `unparsed`,
    /// `pending`, …; Suricata's `tcp.segment_memcap_drop`): how many and the bytes asked.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub memcap_refused: BTreeMap<&'static str, RefusalCount>,
    /// Handshake, connection and TLS records marked `memcap_reached`.
    #[serde(skip_serializing_if = "is_zero")]
    pub memcap_records: u64,
    /// Engine.IO (Socket.IO) session records emitted.
    #[serde(skip_serializing_if = "is_zero")]
    pub engineio_sessions: u64,
    /// Engine.IO session records saying a polling body was cut by `--eio-body-bytes`
    /// (`engineio_body_cut`).
    #[serde(skip_serializing_if = "is_zero")]
    pub engineio_bodies_cut: u64,
    /// Engine.IO session records saying some of their polls were not followed, past the
    /// polling streams one HTTP/2 connection has open at once that are followed
    /// (`engineio_polls_not_followed`).
    #[serde(skip_serializing_if = "is_zero")]
    pub engineio_polls_not_followed: u64,
}

impl Stats {
    /// Adds the counters a flow-sharded worker keeps (its connections' work, losses and
    /// evictions) to these, the correlation stage's; the capture-wide ones (packets, records,
    /// the peak) are the stage's own. `memcap_refused` is summed by the caller, which holds
    /// every worker's meter.
    pub(crate) fn absorb(&mut self, worker: &Stats) {
        self.tcp_segments += worker.tcp_segments;
        self.flows += worker.flows;
        self.upgrade_flows += worker.upgrade_flows;
        self.flows_evicted_capacity += worker.flows_evicted_capacity;
        self.flows_evicted_idle += worker.flows_evicted_idle;
        self.flows_evicted_memcap += worker.flows_evicted_memcap;
        self.header_limit_hits += worker.header_limit_hits;
        self.bytes_dropped_by_caps += worker.bytes_dropped_by_caps;
        self.pending_limit_hits += worker.pending_limit_hits;
        self.head_bytes_scanned += worker.head_bytes_scanned;
        let (mine, theirs) = (&mut self.capture_evidence, &worker.capture_evidence);
        mine.loss.add(&theirs.loss);
        mine.capture_loss_percent = mine.loss.capture_loss_percent();
        mine.one_sided_connections += theirs.one_sided_connections;
        mine.http_requests_cut_before_headers += theirs.http_requests_cut_before_headers;
        mine.duplicate_packets += theirs.duplicate_packets;
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a capture lacks or repeats: the capture's loss apart from the network's, one-way
/// connections, snap-length cuts, and the copies and clock disorder that were normalised.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureEvidence {
    /// Loss summed over the connections captured in both directions (ACKs, gap events,
    /// missed bytes, retransmissions).
    #[serde(flatten)]
    pub loss: TcpLoss,
    /// Zeek's `capture_loss.log` `percent_lost`: gap events per ACK seen, in percent.
    pub capture_loss_percent: f64,
    /// Connections of which the capture holds one direction only although the other
    /// demonstrably spoke (not in `loss`: every ACK of theirs would count as a gap).
    pub one_sided_connections: u64,
    /// HTTP requests a snap-length cut ended before anything showed whether they asked for a
    /// WebSocket.
    pub http_requests_cut_before_headers: u64,
    /// Packets dropped as copies of one just seen (a SPAN port or overlapping files).
    pub duplicate_packets: u64,
    /// Packets timestamped before a packet analysed earlier: later than the capture
    /// stage's re-sort window (merged or multi-queue captures), so timings between them may
    /// be negative.
    pub timestamps_out_of_order: u64,
    /// Packets the capture stage put back in timestamp order before analysis (within its
    /// re-sort window, `--reorder-window`); in the JSON only when there were some.
    #[serde(skip_serializing_if = "is_zero")]
    pub reordered_packets: u64,
}

impl CaptureEvidence {
    /// Whether there is nothing to say (the ACK count alone is not news).
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.loss.is_clean()
            && self.one_sided_connections == 0
            && self.http_requests_cut_before_headers == 0
            && self.duplicate_packets == 0
            && self.timestamps_out_of_order == 0
            && self.reordered_packets == 0
    }

    /// Adds one finished connection: its loss, or its one-sidedness.
    fn add_connection(&mut self, loss: &TcpLoss, one_sided: bool) {
        if one_sided {
            self.one_sided_connections += 1;
        } else {
            self.loss.add(loss);
            self.capture_loss_percent = self.loss.capture_loss_percent();
        }
    }
}

/// Connections closed moments ago whose last packets are remembered, to count their copies
/// (a SPAN port's duplicate of the closing FIN or RST, or of the last ACK, arrives after the
/// connection is gone) instead of taking them for a new connection.
const CLOSED_REMEMBERED: usize = 64;

/// What a connection's state costs when data starts to flow (its box and its table slot):
/// the room emergency mode makes when the budget cannot take one more.
const FLOW_STATE: usize = std::mem::size_of::<Connection>() + std::mem::size_of::<Flow>();

/// A tracked TCP connection: a few bytes while only SYNs and bare ACKs have been seen (a port
/// scan or a SYN flood stays like this), the full [`Connection`] once data flows.
#[derive(Default)]
struct Flow {
    opening: Opening,
    conn: Option<Box<Connection>>,
    /// A failed handshake of this connection is parked (`Engine::parked` holds its key):
    /// the client's frames are watched for it. Mirrors the map so that the check on every
    /// packet is this flag, not a lookup.
    parked: bool,
}

impl Flow {
    /// The full state, built (from the SYNs seen so far) on first use.
    /// `limits` by reference: it is copied only for a new connection, not on every packet.
    fn open(&mut self, limits: &ConnLimits, meter: &mut Meter) -> &mut Connection {
        let opening = &self.opening;
        self.conn
            .get_or_insert_with(|| Box::new(Connection::new(opening, *limits, meter)))
    }

    /// The full state, if data has been seen.
    fn conn(&mut self) -> Option<&mut Connection> {
        self.conn.as_deref_mut()
    }

    /// Bytes held, computed by walking the connection's buffers.
    fn memory(&self) -> usize {
        std::mem::size_of::<Flow>() + self.conn.as_deref().map_or(0, Connection::memory)
    }
}

/// Where the engine's cross-flow calls go: straight to its own correlation stage (one
/// thread), or into a log a flow-sharded worker hands to the one correlation stage, which
/// replays the logs of every worker in packet order (`shard`).
pub(crate) enum Cross {
    Direct(Box<Correlator>),
    Log(Box<OpLog>),
}

/// Frames → events.
pub struct Engine {
    config: EngineConfig,
    /// Connections are boxed so the table's slots stay small: a probe touches 80-byte
    /// entries instead of ~800-byte ones, and empty slots of the grown table cost little.
    flows: FlowTable<Flow>,
    stats: Stats,
    /// The cross-flow half: ids, output order, correlation across connections.
    cross: Cross,
    evicted: Vec<(FlowKey, Flow, Eviction)>,
    /// The last activity of each connection in `evicted` that the idle sweep dropped (its
    /// leaving order, which a sharded worker hands on).
    evicted_seen: Vec<Timestamp>,
    /// What the connections' parsers completed, drained after each packet.
    output: Output,
    /// Bytes held by every buffer that grows with traffic ([`crate::memory`]).
    meter: Meter,
    /// The flow table's slots, registered with `meter`.
    table_account: Account,
    /// `meter.refused_total()` when last copied into the stats.
    refusals_seen: u64,
    /// (deadline, the number of the packet that queued it, connection) for upgrade requests
    /// awaiting an answer, in deadline order.
    deadlines: VecDeque<(Timestamp, u64, FlowKey)>,
    /// The stream of each connection whose failed handshake the correlation stage holds
    /// (parked): the client's frames on it are watched. Kept here beside `Flow::parked`
    /// because the correlation stage never sees a connection. With it, the timestamp of the
    /// packet that parked it (a sharded worker lets a tick release it as the stage does).
    parked_streams: BTreeMap<FlowKey, (StreamId, Timestamp)>,
    /// TLS session secrets (a key log), asked once per TLS session when set.
    keys: Option<Box<dyn KeyStore>>,
    /// The handshake ids each decrypted TLS connection carried, until its record. Per
    /// connection (a connection lives on one worker), so it stays in the per-flow half.
    tls_carried: Carried,
    /// `tls_carried`, registered with `meter`.
    tls_carried_account: Account,
    /// TLS 1.2 master secrets by session id and ticket, for sessions resumed on a later
    /// connection (fed only with a key store); the run's one cache, shared with the other
    /// workers' engines ([`Engine::share_resumption`]).
    resumption: SharedResumption,
    /// The bytes by which this engine's calls grew `resumption`, registered with `meter`
    /// (every worker registers its own growth, so the shared cache is counted once).
    resumption_account: Account,
    resumption_share: usize,
    /// Connections closed within the last [`DUPLICATE_WINDOW_NS`] of capture time (at most
    /// [`CLOSED_REMEMBERED`]), oldest first: key, when, and their last packets. Read only for
    /// packets of connections the table does not hold.
    closed: VecDeque<(FlowKey, Timestamp, RecentPackets)>,
}

impl Engine {
    /// A new engine.
    #[must_use]
    pub fn new(config: EngineConfig) -> Self {
        let cross = Cross::Direct(Box::new(Correlator::new(&config)));
        Self::with_cross(config, cross)
    }

    /// A flow-sharded worker's engine: its cross-flow calls go to `log`.
    pub(crate) fn with_log(config: EngineConfig, log: OpLog) -> Self {
        Self::with_cross(config, Cross::Log(Box::new(log)))
    }

    fn with_cross(config: EngineConfig, cross: Cross) -> Self {
        Engine {
            config,
            flows: match config.hash_seed {
                Some(seed) => FlowTable::with_seed(config.flows, seed),
                None => FlowTable::new(config.flows),
            },
            stats: Stats::default(),
            cross,
            evicted: Vec::new(),
            evicted_seen: Vec::new(),
            output: Output::default(),
            meter: Meter::with_budget(config.memcap),
            table_account: Account::default(),
            refusals_seen: 0,
            deadlines: VecDeque::new(),
            parked_streams: BTreeMap::new(),
            keys: None,
            tls_carried: Carried::new(),
            tls_carried_account: Account::default(),
            resumption: SharedResumption::new(),
            resumption_account: Account::default(),
            resumption_share: 0,
            closed: VecDeque::new(),
        }
    }

    /// Gives the engine TLS session secrets: every TLS connection opened from now on waits
    /// after its ServerHello for [`KeyStore::lookup`] and, when the keys are there, its
    /// decrypted bytes get the same HTTP and WebSocket analysis as plaintext.
    pub fn set_key_store(&mut self, keys: Box<dyn KeyStore>) {
        self.config.conn.decrypt = true;
        self.keys = Some(keys);
    }

    /// Counts packets the capture stage re-sorted into timestamp order before handing them
    /// to [`Engine::process`] (the engine sees only the order it is given).
    pub fn note_reordered(&mut self, packets: u64) {
        self.stats.capture_evidence.reordered_packets += packets;
    }

    /// A flow-sharded worker's engine: its TLS 1.2 resumption cache is `resumption`, the one
    /// every worker of the run shares (set before the first packet).
    pub(crate) fn share_resumption(&mut self, resumption: SharedResumption) {
        self.resumption = resumption;
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Connections tracked now (at most `--max-flows`).
    #[must_use]
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Bytes held for all tracked connections now (the flow table's slots, each
    /// connection's state and buffers) and for the records held back for id order, read from
    /// the memory meter every buffer registers with: O(1).
    #[must_use]
    pub fn memory(&self) -> usize {
        self.meter.held()
    }

    /// The same figure as [`Engine::memory`], computed by walking the whole flow table: what
    /// the accounting must agree with (for tests).
    #[must_use]
    pub fn memory_walked(&self) -> usize {
        let cross = match &self.cross {
            // One engine alone grew the whole resumption cache.
            Cross::Direct(c) => c.memory_walked() + self.resumption.memory(),
            Cross::Log(_) => self.resumption_share,
        };
        self.flows.values().map(Flow::memory).sum::<usize>() + self.tls_carried.memory() + cross
    }

    /// Growths of `what` the memory budget refused so far ([`crate::memory`]).
    #[must_use]
    pub fn meter_refusals(&self, what: Use) -> RefusalCount {
        self.meter.refused(what)
    }

    /// Most bytes held at once so far.
    #[must_use]
    pub fn peak_memory(&self) -> usize {
        self.meter.peak()
    }

    /// Registers the flow table's slots with the meter; called wherever the table shrinks
    /// (a slot added is registered as it is inserted).
    fn settle_table(&mut self) {
        let bytes = self.flows.len() * std::mem::size_of::<Flow>();
        self.table_account.set(&mut self.meter, bytes);
        if let Cross::Log(log) = &mut self.cross {
            log.table_len(self.flows.len());
        }
    }

    /// Counts the table's size towards the most connections tracked at once.
    #[inline]
    fn note_peak(&mut self) {
        match &mut self.cross {
            Cross::Direct(_) => {
                self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64);
            }
            Cross::Log(log) => log.peak(self.flows.len()),
        }
    }

    /// Processes one packet, emitting whatever it completes (in id order, held until earlier
    /// handshakes are known, unless the engine runs [`RecordOrder::AsKnown`]).
    #[inline]
    pub fn process(&mut self, packet: &Packet<'_>, emit: &mut dyn FnMut(Event)) -> PacketInfo {
        let info = self.take(packet);
        if let Cross::Direct(c) = &mut self.cross {
            if !c.is_idle() {
                c.release(&mut self.stats, emit);
            }
            c.settle_order(&mut self.meter);
        }
        info
    }

    /// A flow-sharded worker's share of a packet another worker owns (or none does): time
    /// passes, and connections idle past the timeout leave.
    pub(crate) fn pass(&mut self, number: u64, ts: Timestamp) {
        if let Cross::Log(log) = &mut self.cross {
            log.begin_packet(number, ts);
        }
        self.expire(ts);
    }

    /// A flow-sharded worker's share of the run's tick `serial` (from 0), which comes after
    /// packet `after`: [`Engine::tick`] with its calls logged at the tick's position.
    pub(crate) fn tick_sharded(&mut self, after: u64, serial: u64, now: Timestamp) {
        if let Cross::Log(log) = &mut self.cross {
            log.begin_tick(after, serial);
        }
        self.tick(now, &mut |_| {});
    }

    /// Hands the cross-flow calls logged so far to the caller (a sharded worker's engine).
    pub(crate) fn take_log(&mut self) -> Option<Logged> {
        match &mut self.cross {
            Cross::Log(log) => Some(log.take()),
            Cross::Direct(_) => None,
        }
    }

    /// The memory budget a sharded worker may use now: the global one less what the other
    /// workers and the correlation stage hold.
    pub(crate) fn set_memory_budget(&mut self, budget: Option<usize>) {
        self.meter.set_budget(budget);
    }

    /// The most connections a sharded worker may track now: the global cap less what the
    /// other workers track.
    pub(crate) fn set_max_flows(&mut self, max_flows: usize) {
        self.flows.set_max_flows(max_flows);
    }

    // Inlined: on nearly every packet it is one comparison.
    #[inline(always)]
    fn expire(&mut self, ts: Timestamp) {
        self.flows
            .expire_timed(ts, &mut self.evicted, &mut self.evicted_seen);
        self.drain_evicted();
    }

    pub(crate) fn take(&mut self, packet: &Packet<'_>) -> PacketInfo {
        match &mut self.cross {
            Cross::Direct(c) => c.packet(
                &mut self.stats,
                &mut self.meter,
                PacketFacts {
                    number: packet.number,
                    ts: packet.ts,
                    caplen: packet.data.len(),
                    truncated: packet.is_truncated(),
                },
            ),
            Cross::Log(log) => log.begin_packet(packet.number, packet.ts),
        }
        self.expire(packet.ts);
        // The segment is read where decode built it (a binding by value copied the whole
        // segment out of the `Result` on every packet).
        let decoded = crate::tcp::flow::decode_keyed(packet);
        let (seg, key, side) = match &decoded {
            Ok(keyed) => (&keyed.seg, keyed.key, keyed.side),
            Err(skip) => {
                let skip = *skip;
                if let Cross::Direct(c) = &mut self.cross {
                    c.skipped(&mut self.stats, skip);
                }
                return PacketInfo::default();
            }
        };
        self.stats.tcp_segments += 1;
        if self.meter.flow_room() < FLOW_STATE {
            self.emergency();
        }
        let flow = match self.flows.get_mut(&key, packet.ts) {
            Some(flow) => flow,
            None => {
                // A copy of a packet of a connection that just closed is not a new one.
                if !self.closed.is_empty() && self.after_close(key, side, seg, packet.ts) {
                    self.stats.capture_evidence.duplicate_packets += 1;
                    return PacketInfo {
                        flow: Some(key),
                        upgrade: false,
                    };
                }
                // Only a SYN or data starts tracking; stray ACKs, FINs and RSTs do not.
                if seg.flags.rst || (!seg.flags.syn && seg.payload.is_empty()) {
                    return PacketInfo {
                        flow: Some(key),
                        upgrade: false,
                    };
                }
                self.stats.flows += 1;
                // The new slot; slots evicted to make room are withdrawn by drain_evicted.
                let slots = (self.flows.len() + 1) * std::mem::size_of::<Flow>();
                self.table_account.set(&mut self.meter, slots);
                // A connection that ended with its record still parked (it never opened a
                // WebSocket) leaves the key in the map: the next one on its ports sees it.
                let flow = Flow {
                    parked: !self.parked_streams.is_empty()
                        && self.parked_streams.contains_key(&key),
                    ..Flow::default()
                };
                self.flows.insert(key, flow, packet.ts, &mut self.evicted)
            }
        };
        // A plain segment the connection's last segment that was not quiet found quiet (a
        // bare ACK with nothing buffered, bytes for a direction nobody reads: most packets of
        // a bulk transfer) takes the short path: no parser, no size, no key request.
        if let Some(conn) = flow.conn.as_deref_mut() {
            let f = seg.flags;
            if !(f.syn || f.fin || f.rst || seg.payload_truncated)
                && conn.takes_quietly(side, !seg.payload.is_empty())
            {
                let duplicate = conn.on_quiet_segment(side, seg, packet.ts, &mut self.output);
                let upgrade = conn.upgrade_seen();
                let parked = flow.parked;
                return self.quiet_end(key, duplicate, parked, upgrade);
            }
        }
        if flow.conn.is_none() && seg.payload.is_empty() {
            if flow.opening.is_copy(packet_id(side, seg), packet.ts) {
                self.stats.capture_evidence.duplicate_packets += 1;
                return PacketInfo {
                    flow: Some(key),
                    upgrade: false,
                };
            }
            // Still opening: remember the SYNs and nothing else, so a scan or a SYN flood
            // costs a table slot per connection, not a full connection state.
            if seg.flags.rst {
                let (refused, recent) = (flow.opening.refused_by(side), flow.opening.recent());
                self.reset_while_opening(key, side, refused, recent, packet);
                return PacketInfo {
                    flow: Some(key),
                    upgrade: false,
                };
            }
            if !seg.flags.fin {
                if seg.flags.syn {
                    flow.opening
                        .note(side, seg.seq, seg.flags.ack, seg.ack, packet.ts);
                }
                self.note_peak();
                self.drain_evicted();
                return PacketInfo {
                    flow: Some(key),
                    upgrade: false,
                };
            }
        }
        let parked = flow.parked;
        let conn = flow.open(&self.config.conn, &mut self.meter);
        let effect = conn.on_segment(side, seg, packet, &mut self.output, &mut self.meter);
        // With a key store (every capture file has one: its own secrets may come in-band),
        // a quiet segment still has nothing for it: key requests and session tickets come
        // only from a parser, and the packet that made them answered and took them. One
        // still waiting (none is, after the answer) takes the long way all the same.
        if effect.quiet && (self.keys.is_none() || conn.tls_key_request().is_none()) {
            let upgrade = conn.upgrade_seen();
            return self.quiet_end(key, effect.duplicate, parked, upgrade);
        }
        if let Some(keys) = self.keys.as_deref_mut() {
            let resumption = Resumption {
                cache: &mut self.resumption,
                share: &mut self.resumption_share,
                account: &mut self.resumption_account,
            };
            tls_keys(keys, resumption, conn, &mut self.output, &mut self.meter);
        }
        conn.note_quiet();
        // Ids in request order: exchanges this packet completed before the engine saw their
        // request waiting (or that have none) were earlier in the stream than the requests
        // still waiting, so they are numbered first.
        for c in &mut self.output.completed {
            if c.id.is_none() {
                c.id = Some(reserve(&mut self.cross, key));
            }
        }
        let (upgrade, new_upgrade) = conn.note_upgrade();
        if new_upgrade {
            self.stats.upgrade_flows += 1;
        }
        if conn.take_new_upgrade() {
            let cross = &mut self.cross;
            conn.assign_ids(&mut || reserve(cross, key));
            if let Some(enabled) = conn.take_h2_server_settings() {
                let client_side = conn.client_side().unwrap_or(Side::LoToHi);
                let client = key.source(client_side).ip();
                let server = key.source(client_side.reverse());
                match &mut self.cross {
                    Cross::Direct(c) => c.h2_settings(client, server, enabled, packet.ts),
                    Cross::Log(log) => log.push(Op::H2Settings {
                        client,
                        server,
                        enabled,
                        ts: packet.ts,
                    }),
                }
            }
            if let (Some(timeout), Some(since)) =
                (self.config.response_timeout_ns, conn.unanswered_since())
            {
                self.deadlines.push_back((
                    Timestamp(since.0.saturating_add(timeout)),
                    packet.number,
                    key,
                ));
            }
        }
        // What the records of exchanges this packet completed take from the connection
        // (rarely any: read only then).
        let completed = (!self.output.completed.is_empty()).then(|| {
            let tls = conn.tls_carrier();
            (
                conn.connect_rtt_ns(),
                conn.client_side(),
                conn.tcp().loss(),
                tls,
                conn.community_id(&key, &mut self.meter),
            )
        });
        // Engine.IO polls this packet completed (rarely any) need the client's side too.
        let eio_client_side = (!self.output.engineio.is_empty()).then(|| conn.client_side());
        self.note_peak();
        self.stats.bytes_dropped_by_caps += effect.dropped_by_cap;
        self.stats.head_bytes_scanned += effect.head_bytes_scanned;
        let evidence = &mut self.stats.capture_evidence;
        evidence.duplicate_packets += u64::from(effect.duplicate);
        evidence.http_requests_cut_before_headers += effect.requests_cut;
        if effect.header_limit || effect.pending_limit {
            self.limits_hit(effect.header_limit, effect.pending_limit);
        }
        // Handshake records first (live users need them at once), then link the WebSocket
        // session to its handshake id before anything can end it.
        let mut parked = parked;
        if let Some((rtt, client_side, loss, tls, community_id)) = completed {
            let opened =
                self.emit_completed(key, client_side, rtt, loss, tls.as_ref(), &community_id);
            for (stream, id, failed) in opened {
                if let Some(conn) = self.flows.get_mut(&key, packet.ts).and_then(Flow::conn) {
                    conn.set_handshake(stream, id, failed);
                }
            }
            // A record is parked only here: the flag may have just been set.
            parked = self.flows.peek_mut(&key).is_some_and(|f| f.parked);
        }
        if let Some(client_side) = eio_client_side {
            self.engineio_polls(key, client_side);
        }
        if parked {
            self.client_took_switch(key);
        }
        if effect.closed {
            self.close(key, packet.ts);
        }
        self.drain_evicted();
        if self.meter.refused_total() != self.refusals_seen {
            self.note_refusals();
        }
        PacketInfo {
            flow: Some(key),
            upgrade,
        }
    }

    /// The end of a quiet segment (a bare ACK, a duplicate, bytes dropped unread): no parser
    /// ran, so nothing completed, no upgrade arrived, no size changed and no stream was
    /// refused; only what the table and the parking need is left to do.
    #[inline(always)]
    fn quiet_end(
        &mut self,
        key: FlowKey,
        duplicate: bool,
        parked: bool,
        upgrade: bool,
    ) -> PacketInfo {
        self.stats.capture_evidence.duplicate_packets += u64::from(duplicate);
        self.note_peak();
        if parked {
            self.client_took_switch(key);
        }
        self.drain_evicted();
        PacketInfo {
            flow: Some(key),
            upgrade,
        }
    }

    // The rare branches of `take`, out of line: the packet loop's code stays small (fewer
    // instruction-cache misses, fewer registers spilled around code that seldom runs).

    /// An RST on `key` (sent on `side`) before any data: the connection is dropped, its last
    /// packets remembered; `refused` when it answered a SYN (a closed port).
    #[inline(never)]
    fn reset_while_opening(
        &mut self,
        key: FlowKey,
        side: Side,
        refused: bool,
        recent: RecentPackets,
        packet: &Packet<'_>,
    ) {
        if refused {
            // A closed port: the proxy's own 502/503 may be explained by it.
            let (from, to) = (key.source(side.reverse()).ip(), key.source(side));
            match &mut self.cross {
                Cross::Direct(c) => c.refused_connect(from, to, packet.ts, packet.number),
                Cross::Log(log) => log.push(Op::RefusedConnect {
                    from,
                    to,
                    at: packet.ts,
                    packet: packet.number,
                }),
            }
        }
        self.flows.remove(&key);
        self.remember_closed(key, packet.ts, recent);
        self.settle_table();
        self.drain_evicted();
    }

    /// A parser hit the header cap or the pending-request cap: counted, said once.
    #[cold]
    #[inline(never)]
    fn limits_hit(&mut self, header_limit: bool, pending_limit: bool) {
        if header_limit {
            self.stats.header_limit_hits += 1;
            let message = format!(
                "an HTTP head passed the header cap of {} bytes (--max-header-bytes); that exchange was not analysed",
                self.config.conn.max_header_bytes
            );
            self.notice_once(NoticeCode::HeaderLimit, message);
        }
        if pending_limit {
            self.stats.pending_limit_hits += 1;
            let message = format!(
                "a connection pipelined more than {} requests; wssniff stopped following it",
                self.config.conn.max_pending
            );
            self.notice_once(NoticeCode::PendingLimit, message);
        }
    }

    /// The connection `key` closed (RST, or FIN from both sides) at `ts`: it leaves the table
    /// and is finished.
    #[inline(never)]
    fn close(&mut self, key: FlowKey, ts: Timestamp) {
        let flow = self.flows.remove(&key);
        self.settle_table();
        if let Some(recent) = flow.as_ref().and_then(|f| f.conn.as_deref()) {
            self.remember_closed(key, ts, recent.tcp().recent());
        }
        if let Some(mut conn) = flow.and_then(|f| f.conn) {
            conn.finish(Ending::CaptureEnded, &mut self.output, &mut self.meter);
            self.finished(key, &mut conn);
        }
    }

    /// Says `message` once per run (per `code`).
    fn notice_once(&mut self, code: NoticeCode, message: String) {
        match &mut self.cross {
            Cross::Direct(c) => c.notice_once(code, message),
            Cross::Log(log) => log.notice_once(code, message),
        }
    }

    /// Remembers the last packets of the connection `key`, closed at `at`, for
    /// [`Engine::after_close`].
    fn remember_closed(&mut self, key: FlowKey, at: Timestamp, recent: RecentPackets) {
        if self.closed.len() >= CLOSED_REMEMBERED {
            self.closed.pop_front();
        }
        self.closed.push_back((key, at, recent));
    }

    /// Whether `seg` (on `side` of `key`, which the table does not hold) is a copy of a
    /// packet of a connection closed moments ago. A packet that is not is remembered with
    /// that connection's (a last ACK after both FINs), so its own copy is recognised too.
    #[inline(never)]
    fn after_close(&mut self, key: FlowKey, side: Side, seg: &Segment<'_>, ts: Timestamp) -> bool {
        while let Some(&(_, at, _)) = self.closed.front() {
            if ts.nanos_since(at) <= DUPLICATE_WINDOW_NS {
                break;
            }
            self.closed.pop_front();
        }
        let Some((_, _, recent)) = self.closed.iter_mut().find(|(k, _, _)| *k == key) else {
            return false;
        };
        recent.is_copy(packet_id(side, seg), ts)
    }

    /// Emergency mode (Suricata's flow memcap): the memory budget has no room for a new
    /// connection's state, so the least recently active connections are evicted, a
    /// sixty-fourth of the table at a time, until an eighth of the budget is free again.
    /// Their pending handshakes are reported `flow_evicted` with `memcap_reached`.
    #[inline(never)]
    fn emergency(&mut self) {
        let Some(budget) = self.meter.budget() else {
            return;
        };
        let target = budget - budget / EMERGENCY_RECOVERY;
        while self.meter.held() > target && !self.flows.is_empty() {
            let n = self.flows.len() / 64;
            self.flows
                .evict_least_recent(n, Eviction::Memcap, &mut self.evicted);
            self.finish_evicted();
        }
    }

    /// Copies the meter's refusals into the stats and says once that the budget was hit.
    #[inline(never)]
    fn note_refusals(&mut self) {
        self.refusals_seen = self.meter.refused_total();
        self.stats.memcap_refused = self
            .meter
            .refusals()
            .filter(|(_, r)| r.times > 0)
            .map(|(u, r)| (u.as_str(), r))
            .collect();
        self.memcap_notice();
    }

    fn memcap_notice(&mut self) {
        match &mut self.cross {
            Cross::Direct(c) => c.memcap_notice(self.meter.budget().unwrap_or(0)),
            Cross::Log(log) => log.push(Op::MemcapNotice),
        }
    }

    /// Time passes without packets (live capture): reports upgrade requests unanswered for
    /// longer than the response timeout, and expires idle connections and idle Engine.IO
    /// sessions.
    pub fn tick(&mut self, now: Timestamp, emit: &mut dyn FnMut(Event)) {
        let Some(timeout) = self.config.response_timeout_ns else {
            return;
        };
        // A failed handshake whose client neither spoke nor closed: its line must not wait for
        // the connection to end.
        if let Cross::Direct(c) = &mut self.cross {
            c.tick(&mut self.meter, now);
        }
        let cutoff = Timestamp(now.0.saturating_sub(timeout));
        if let Cross::Log(_) = &self.cross {
            // The stage releases the parked records due now (Correlator::tick): this
            // worker's connections stop watching for their clients as one engine's would
            // (its `is_parked` answers no from here on).
            self.parked_streams.retain(|_, (_, since)| *since > cutoff);
        }
        while let Some(&(deadline, queued_at, key)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let Some(conn) = self.flows.peek_mut(&key).and_then(Flow::conn) else {
                continue;
            };
            conn.expire_unanswered(cutoff, now, &mut self.output, &mut self.meter);
            // Parsers ran outside a packet: what a quiet packet answers is theirs now.
            conn.note_upgrade();
            let (client, rtt) = (conn.client_side(), conn.connect_rtt_ns());
            let (loss, tls) = (conn.tcp().loss(), conn.tls_carrier());
            // Read only when an expired request made a record (rarely).
            let community_id = (!self.output.completed.is_empty())
                .then(|| conn.community_id(&key, &mut self.meter));
            if let Cross::Log(log) = &mut self.cross {
                log.begin_deadline_group(queued_at, key);
            }
            if let Some(community_id) = community_id {
                self.emit_completed(key, client, rtt, loss, tls.as_ref(), &community_id);
            }
            if let Cross::Log(log) = &mut self.cross {
                log.end_group();
            }
        }
        // Where the single engine expired Engine.IO sessions (after the unanswered requests,
        // before idle connections); a sharded run's stage does it there (shard::Merge::tick).
        match &mut self.cross {
            Cross::Direct(c) => c.expire_engineio(&mut self.stats, &mut self.meter, now),
            Cross::Log(log) => log.begin_tick_sweep(),
        }
        self.expire(now);
        if let Cross::Direct(c) = &mut self.cross {
            c.release(&mut self.stats, emit);
            c.settle_order(&mut self.meter);
        }
    }

    /// End of input: every connection still open is finished as of the last packet, and
    /// everything held for ordering goes out.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Event)) {
        if self.meter.refused_total() != self.refusals_seen {
            self.note_refusals();
        }
        if let Cross::Log(log) = &mut self.cross {
            let ts = log.packet_ts();
            log.begin_packet(FINISH, ts);
        }
        for (seen, key, flow) in self.flows.drain_timed() {
            if let Some(mut conn) = flow.conn {
                if let Cross::Log(log) = &mut self.cross {
                    log.begin_group(seen, key);
                }
                conn.finish(Ending::CaptureEnded, &mut self.output, &mut self.meter);
                self.finished(key, &mut conn);
                if let Cross::Log(log) = &mut self.cross {
                    log.end_group();
                }
            }
        }
        self.settle_table();
        if let Cross::Direct(c) = &mut self.cross {
            c.finish(&mut self.stats, &mut self.meter, emit);
        }
    }

    /// A finished connection: its remaining handshake records, then its WebSocket record.
    fn finished(&mut self, key: FlowKey, conn: &mut Connection) {
        let (client_side, rtt) = (conn.client_side(), conn.connect_rtt_ns());
        let loss = conn.tcp().loss();
        let one_sided = conn.tcp().one_sided();
        // Requests still cut and unanswered are counted by the connection's end.
        let cut = std::mem::take(&mut self.output.effect.requests_cut);
        self.stats.capture_evidence.http_requests_cut_before_headers += cut;
        self.stats.capture_evidence.add_connection(&loss, one_sided);
        let carrier = conn.tls_carrier();
        // Hashed only for a connection that makes a record (at most once: `Connection` keeps it).
        let community_id = if self.output.completed.is_empty() {
            String::new()
        } else {
            conn.community_id(&key, &mut self.meter)
        };
        for (stream, id, failed) in
            self.emit_completed(key, client_side, rtt, loss, carrier.as_ref(), &community_id)
        {
            conn.set_handshake(stream, id, failed);
        }
        if !self.output.engineio.is_empty() {
            self.engineio_polls(key, client_side);
        }
        let client_side = client_side.unwrap_or(Side::LoToHi);
        let client = key.source(client_side);
        let server = key.source(client_side.reverse());
        let mut websockets = 0;
        while let Some((stream, mut record)) = conn.take_connection_record() {
            record.loss = loss;
            record.tls.clone_from(&carrier);
            record.client = client;
            record.server = server;
            record.community_id = conn.community_id(&key, &mut self.meter);
            let parked_stream = self.parked_streams.get(&key).map(|p| p.0) == Some(stream);
            if parked_stream {
                self.parked_streams.remove(&key);
            }
            // The correlation stage drops a record whose failed handshake's client never took
            // the switch; it is not one of the WebSockets this TLS connection carried. Its
            // Engine.IO session still learns that its WebSocket is over.
            let parked = match &self.cross {
                Cross::Direct(c) => c.is_parked(key, stream),
                Cross::Log(_) => parked_stream,
            };
            let dropped = parked && record.client_to_server.frames == 0;
            websockets += u64::from(!dropped);
            let eio = conn.take_engineio();
            match &mut self.cross {
                Cross::Direct(c) => {
                    c.connection(&mut self.stats, &mut self.meter, key, stream, record, eio);
                }
                Cross::Log(log) => log.push(Op::Connection {
                    key,
                    stream,
                    record: Box::new(record),
                    eio,
                }),
            }
        }
        // Last: it says what it carried, and every record of its connection is out. Before
        // the connection's provisional ids are forgotten: the stage maps its `handshakes`.
        if let Some(tls) = conn.take_tls_record() {
            let community_id = conn.community_id(&key, &mut self.meter);
            self.tls_record(key, (client, server), tls, websockets, community_id);
        }
        if let Cross::Log(log) = &mut self.cross {
            log.forget(key);
        }
    }

    /// The TLS record of the connection `key` (`client` → `server`), which ended: endpoints,
    /// and the handshakes and WebSocket connections it carried (the ids are a sharded
    /// worker's provisional ones until the correlation stage maps them).
    fn tls_record(
        &mut self,
        key: FlowKey,
        (client, server): (SocketAddr, SocketAddr),
        mut tls: TlsRecord,
        websockets: u64,
        community_id: String,
    ) {
        tls.client = client;
        tls.server = server;
        tls.community_id = community_id;
        if !self.tls_carried.is_empty() {
            tls.handshakes = self.tls_carried.take(key);
            self.tls_carried_account
                .set(&mut self.meter, self.tls_carried.memory());
        }
        tls.websockets = tls.decrypted.then_some(websockets);
        if !self.keys.as_deref().is_some_and(|k| k.has_key_material()) {
            // A store is installed for the Decryption Secrets Blocks a file may carry; with
            // no key material at all there is nothing to say about decryption.
            tls.decryption = None;
        }
        match &mut self.cross {
            Cross::Direct(c) => c.tls(&mut self.stats, tls),
            Cross::Log(log) => log.push(Op::Tls(Box::new(tls))),
        }
    }

    /// Hands the Engine.IO polling exchanges this connection completed to the session
    /// tracker (a branch ordinary traffic does not take: only `EIO=` requests fill them).
    #[inline(never)]
    fn engineio_polls(&mut self, key: FlowKey, client_side: Option<Side>) {
        let client_side = client_side.unwrap_or(Side::LoToHi);
        let client = key.source(client_side);
        let server = key.source(client_side.reverse());
        let polls = std::mem::take(&mut self.output.engineio);
        match &mut self.cross {
            Cross::Direct(c) => {
                c.engineio_polls(&mut self.stats, &mut self.meter, client, server, polls);
            }
            Cross::Log(log) => log.push(Op::EngineIoPolls {
                client,
                server,
                polls,
            }),
        }
    }

    /// Tells the correlation stage once the client of `key`, whose failed handshake it
    /// holds, sent a frame (the switch took effect on both sides).
    fn client_took_switch(&mut self, key: FlowKey) {
        let Some(&(stream, _)) = self.parked_streams.get(&key) else {
            return;
        };
        let spoke = self
            .flows
            .peek_mut(&key)
            .and_then(Flow::conn)
            .is_some_and(|c| c.client_frames(stream) > 0);
        if !spoke {
            return;
        }
        self.parked_streams.remove(&key);
        if let Some(flow) = self.flows.peek_mut(&key) {
            flow.parked = false;
        }
        match &mut self.cross {
            Cross::Direct(c) => c.client_spoke(&mut self.meter, key, stream),
            Cross::Log(log) => log.push(Op::ClientSpoke { key, stream }),
        }
    }

    /// Finishes the connections the table evicted, if any (the check is inlined: it runs
    /// twice per packet and almost never finds one).
    #[inline(always)]
    fn drain_evicted(&mut self) {
        if !self.evicted.is_empty() {
            self.finish_evicted();
        }
    }

    #[inline(never)]
    fn finish_evicted(&mut self) {
        self.settle_table();
        let evicted = std::mem::take(&mut self.evicted);
        let mut seen = std::mem::take(&mut self.evicted_seen).into_iter();
        for (key, flow, why) in evicted {
            match why {
                Eviction::Capacity => {
                    self.stats.flows_evicted_capacity += 1;
                    let max = self.config.flows.max_flows;
                    self.notice_once(
                        NoticeCode::FlowLimit,
                        format!("the flow table reached {max} connections (--max-flows); the least recently active were dropped"),
                    );
                }
                Eviction::Idle => self.stats.flows_evicted_idle += 1,
                Eviction::Memcap => {
                    self.stats.flows_evicted_memcap += 1;
                    self.memcap_notice();
                }
            }
            let ending = if why == Eviction::Idle {
                Ending::CaptureEnded
            } else {
                Ending::Evicted
            };
            // Connections the idle sweep drops leave in (last activity, key) order, which a
            // sharded worker hands on so that the workers' sweeps interleave as one table's.
            let group = why == Eviction::Idle;
            let last_seen = if group { seen.next() } else { None };
            if let Some(mut conn) = flow.conn {
                if let (Cross::Log(log), true) = (&mut self.cross, group) {
                    log.begin_group(last_seen.unwrap_or_default(), key);
                }
                if why == Eviction::Memcap {
                    conn.evicted_by_memcap();
                }
                conn.finish(ending, &mut self.output, &mut self.meter);
                self.finished(key, &mut conn);
                if let (Cross::Log(log), true) = (&mut self.cross, group) {
                    log.end_group();
                }
            }
        }
    }

    /// Hands the handshake records waiting in `output` to the correlation stage, each in
    /// its id's place; returns the stream and id of each that switched its stream to
    /// WebSocket (one for HTTP/1.1, several for HTTP/2), and whether its verdict is failed.
    fn emit_completed(
        &mut self,
        key: FlowKey,
        client_side: Option<Side>,
        connect_rtt_ns: Option<i64>,
        loss: TcpLoss,
        tls: Option<&TlsCarrier>,
        community_id: &str,
    ) -> Vec<(StreamId, u64, bool)> {
        let mut switched = Vec::new();
        if self.output.completed.is_empty() {
            return switched;
        }
        let completed = std::mem::take(&mut self.output.completed);
        let client_side = client_side.unwrap_or(Side::LoToHi);
        let client = key.source(client_side);
        let server = key.source(client_side.reverse());
        for c in completed {
            let opened = c.switched.then_some(c.stream);
            let id = match c.id {
                Some(id) => id,
                None => reserve(&mut self.cross, key),
            };
            let (mut record, asked_accept) = self.record(id, c, (client, server), connect_rtt_ns);
            record.community_id = community_id.to_owned();
            record.loss = loss;
            if let Some(tls) = tls {
                if record.h2.is_none() {
                    record.findings.extend(fallback::alpn_downgrade(tls));
                }
                record.tls = Some(tls.clone());
                self.tls_carried.handshake(key, id);
                self.tls_carried_account
                    .set(&mut self.meter, self.tls_carried.memory());
            }
            let failed = record.verdict == Verdict::Failed;
            if let Some(stream) = opened {
                switched.push((stream, record.id, failed));
            }
            match &mut self.cross {
                Cross::Direct(c) => c.handshake(
                    &mut self.stats,
                    &mut self.meter,
                    key,
                    record,
                    opened,
                    asked_accept,
                ),
                Cross::Log(log) => log.push(Op::Handshake {
                    key,
                    record: Box::new(record),
                    opened,
                    asked_accept,
                }),
            }
            if let (Some(stream), true) = (opened, failed) {
                // Parked by the correlation stage: watch the client's frames on it.
                let since = match &self.cross {
                    Cross::Direct(_) => Timestamp::default(),
                    Cross::Log(log) => log.packet_ts(),
                };
                self.parked_streams.insert(key, (stream, since));
                if let Some(flow) = self.flows.peek_mut(&key) {
                    flow.parked = true;
                }
            }
        }
        switched
    }

    /// The handshake stage's record of `c`, with what the connection knows: the id, the
    /// endpoints (the flow key and which side is the client) and the TCP connect time; and
    /// the wrong accept value its check looked up among other handshakes', which the
    /// correlation stage explains (it knows the other handshakes).
    fn record(
        &mut self,
        id: u64,
        c: Completed,
        (client, server): (SocketAddr, SocketAddr),
        connect_rtt_ns: Option<i64>,
    ) -> (HandshakeRecord, Option<String>) {
        let asked = std::cell::RefCell::new(None);
        let mut record = handshake::record(c, &self.config.handshake, &|accept: &str| {
            *asked.borrow_mut() = Some(accept.to_owned());
            None
        });
        record.id = id;
        record.client = client;
        record.server = server;
        record.timing.connect_rtt_ms = connect_rtt_ns.filter(|n| *n >= 0).map(Timing::millis);
        (record, asked.into_inner())
    }
}

/// The packet number a sharded worker logs its end-of-input calls under.
pub(crate) const FINISH: u64 = u64::MAX;

/// The next handshake id: from the correlation stage, or a worker's provisional one.
/// The run's TLS 1.2 resumption cache with this engine's share of it and that share's
/// account ([`Engine`]'s `resumption*` fields).
struct Resumption<'a> {
    cache: &'a mut SharedResumption,
    share: &'a mut usize,
    account: &'a mut Account,
}

/// A packet of `conn` with a key store: the TLS layer's wait for keys answered, the session
/// tickets it read kept for later connections. Out of line: only `--keylog` runs it.
#[inline(never)]
fn tls_keys(
    keys: &mut dyn KeyStore,
    resumption: Resumption<'_>,
    conn: &mut Connection,
    output: &mut Output,
    meter: &mut Meter,
) {
    // After a ServerHello the TLS layer waits for this answer, in the same packet; a
    // resumed session the key log lacks is answered from an earlier connection's.
    // (A sharded worker's lookup waits until the others passed the packet before, so
    // the shared cache holds what one engine's would.)
    if let Some(request) = conn.tls_key_request().cloned() {
        let found = keys.lookup(&request);
        let (answer, grew) = resumption.cache.with(|r| r.answer(found, &request));
        conn.install_tls_keys(answer, output, meter);
        *resumption.share += grew;
        resumption.account.set(meter, *resumption.share);
    }
    let tickets = conn.take_tls_tickets();
    if !tickets.is_empty() {
        let ((), grew) = resumption.cache.with(|r| {
            for (ticket, master) in tickets {
                r.ticket_issued(ticket, master);
            }
        });
        *resumption.share += grew;
        resumption.account.set(meter, *resumption.share);
    }
}

fn reserve(cross: &mut Cross, key: FlowKey) -> u64 {
    match cross {
        Cross::Direct(c) => c.reserve(),
        Cross::Log(log) => log.reserve(key),
    }
}
