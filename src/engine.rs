//! The analysis engine: packets in, [`Event`]s out. No I/O and no wall clock: time is the
//! capture timestamp of the packet being processed, so a file always gives the same answer.
//!
//! Order is part of that answer. Handshake ids follow the order upgrade requests were seen
//! (packet order; a record without a request takes its id at the packet that produced it),
//! connections that leave the flow table together are finished in a fixed order, and by
//! default ([`RecordOrder::ById`]) events leave in id order (see `sequence`), so nothing
//! depends on the hasher's seed or on which response came first.

mod sequence;

pub use sequence::{RecordOrder, MAX_HELD_BYTES, MAX_HELD_EVENTS};

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::capture::{Linktype, Packet, Timestamp};
use crate::correlate::accepts::RecentAccepts;
use crate::correlate::engineio::{EngineIoTracker, Poll};
use crate::correlate::fallback::H2Servers;
use crate::correlate::hop::HopTracker;
use crate::correlate::tls::{Carried, Resumption};
use crate::decode::{self, Segment, Skip};
use crate::dispatch::{ConnLimits, Connection};
use crate::event::{
    ConnectionRecord, Ending, Event, HandshakeRecord, HopLink, Notice, Peer, TcpLoss, Timing,
    TlsCarrier, TlsRecord, Verdict,
};
use crate::finding::{Code, NoticeCode};
use crate::handshake;
use crate::http::exchange::{Completed, Output, StreamId};
use crate::memory::{Account, Meter, RefusalCount, Use};
use crate::tcp::community_id;
use crate::tcp::connection::{packet_id, Opening, RecentPackets, DUPLICATE_WINDOW_NS};
use crate::tcp::flow::{Eviction, FlowKey, FlowLimits, FlowTable, Side};
use crate::tls::KeyStore;
use crate::websocket::ending::{name_idle_timeout, IdleEvidence};
use sequence::{record_weight, Sequencer};

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

/// One leg of a proxy hop whose two legs both switched: which peer of it is the proxy, so a
/// silent teardown by that peer is the proxy's idle timeout.
#[derive(Debug)]
struct ProxyLeg {
    partner: u64,
    proxy_peer: Peer,
    /// "the proxy nginx/1.22.1 at 10.0.0.2:80".
    proxy: String,
}

/// Most proxy legs remembered while their connections last (two per linked hop); the oldest
/// go first beyond it.
const MAX_PROXY_LEGS: usize = 2 * crate::correlate::hop::MAX_TRACKED;

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
    /// Packets timestamped before a packet read earlier (merged or multi-queue captures);
    /// packets are read in file order, so timings between them may be negative.
    pub timestamps_out_of_order: u64,
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

/// The record of a failed handshake that switched the connection anyway (a 101 the client
/// must reject), held until the client shows whether it took the switch: a frame from it
/// releases the record as it is (a connection record follows when the connection ends);
/// the connection ending first gives the record its ending, and no connection record is
/// written (RFC 6455 §4.1: the client failed the connection; nothing opened).
#[derive(Debug)]
struct Parked {
    id: u64,
    stream: StreamId,
    /// When it was parked: live capture releases it after `--response-timeout`.
    since: Timestamp,
    record: Arc<HandshakeRecord>,
    /// Proxy hops whose later leg is this record: they follow it.
    hops: Vec<HopLink>,
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
    fn open(&mut self, limits: ConnLimits, meter: &mut Meter) -> &mut Connection {
        let opening = &self.opening;
        self.conn
            .get_or_insert_with(|| Box::new(Connection::new(opening, limits, meter)))
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

/// Frames → events.
pub struct Engine {
    config: EngineConfig,
    /// Connections are boxed so the table's slots stay small: a probe touches 80-byte
    /// entries instead of ~800-byte ones, and empty slots of the grown table cost little.
    flows: FlowTable<Flow>,
    stats: Stats,
    /// Hands out handshake ids and puts events in output order.
    out: Sequencer,
    /// Number and time of the packet being processed (the last one, between packets).
    at: Option<(u64, Timestamp)>,
    recent_accepts: RecentAccepts,
    /// HTTP/2 connections' server SETTINGS, for HTTP/1.1 upgrades that fell back.
    h2_servers: H2Servers,
    warned_linktypes: Vec<Linktype>,
    warned: Vec<NoticeCode>,
    evicted: Vec<(FlowKey, Flow, Eviction)>,
    /// What the connections' parsers completed, drained after each packet.
    output: Output,
    /// Bytes held by every buffer that grows with traffic ([`crate::memory`]).
    meter: Meter,
    /// The flow table's slots, registered with `meter`.
    table_account: Account,
    /// Records held back for id order ([`sequence`]), registered with `meter`.
    order_account: Account,
    /// Handshakes the hop tracker remembers, registered with `meter`.
    hop_account: Account,
    /// `meter.refused_total()` when last copied into the stats.
    refusals_seen: u64,
    /// (deadline, connection) for upgrade requests awaiting an answer, in deadline order.
    deadlines: VecDeque<(Timestamp, FlowKey)>,
    /// Links the two legs of proxied handshakes as they complete.
    hops: HopTracker,
    /// Failed handshakes waiting for their client's answer, by connection (at most one per
    /// connection, so bounded by the flow table), and the connection of each by id.
    parked: BTreeMap<FlowKey, Parked>,
    parked_ids: BTreeMap<u64, FlowKey>,
    /// The parked records, registered with `meter`.
    parked_account: Account,
    /// Legs of linked proxy hops, by handshake id, while their connections last.
    proxy_legs: BTreeMap<u64, ProxyLeg>,
    /// Legs that ended before their partner, by handshake id: whether the proxy closed them
    /// (else the far side closed first and the proxy only passed the close on).
    ended_legs: BTreeMap<u64, bool>,
    /// TLS session secrets (a key log), asked once per TLS session when set.
    keys: Option<Box<dyn KeyStore>>,
    /// Engine.IO sessions across connections (fed only by Engine.IO requests).
    engineio: EngineIoTracker,
    /// The handshake ids each decrypted TLS connection carried, until its record.
    tls_carried: Carried,
    /// `tls_carried`, registered with `meter`.
    tls_carried_account: Account,
    /// TLS 1.2 master secrets by session id and ticket, for sessions resumed on a later
    /// connection (fed only with a key store).
    resumption: Resumption,
    /// `resumption`, registered with `meter`.
    resumption_account: Account,
    /// Connections closed within the last [`DUPLICATE_WINDOW_NS`] of capture time (at most
    /// [`CLOSED_REMEMBERED`]), oldest first: key, when, and their last packets. Read only for
    /// packets of connections the table does not hold.
    closed: VecDeque<(FlowKey, Timestamp, RecentPackets)>,
}

impl Engine {
    /// A new engine.
    #[must_use]
    pub fn new(config: EngineConfig) -> Self {
        let mut out = Sequencer::new(config.order);
        if let Some(budget) = config.memcap {
            // Records held for id order take at most a quarter of a small budget.
            out.cap_bytes(budget / 4);
        }
        Engine {
            config,
            flows: match config.hash_seed {
                Some(seed) => FlowTable::with_seed(config.flows, seed),
                None => FlowTable::new(config.flows),
            },
            stats: Stats::default(),
            out,
            at: None,
            recent_accepts: RecentAccepts::new(),
            h2_servers: H2Servers::new(),
            warned_linktypes: Vec::new(),
            warned: Vec::new(),
            evicted: Vec::new(),
            output: Output::default(),
            meter: Meter::with_budget(config.memcap),
            table_account: Account::default(),
            order_account: Account::default(),
            hop_account: Account::default(),
            refusals_seen: 0,
            deadlines: VecDeque::new(),
            hops: HopTracker::new(),
            parked: BTreeMap::new(),
            parked_ids: BTreeMap::new(),
            parked_account: Account::default(),
            proxy_legs: BTreeMap::new(),
            ended_legs: BTreeMap::new(),
            keys: None,
            engineio: EngineIoTracker::new(),
            tls_carried: Carried::new(),
            tls_carried_account: Account::default(),
            resumption: Resumption::new(),
            resumption_account: Account::default(),
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
        self.flows.values().map(Flow::memory).sum::<usize>()
            + self.out.walked_bytes()
            + self
                .parked
                .values()
                .map(|p| record_weight(&p.record))
                .sum::<usize>()
            + self.hops.memory()
            + self.tls_carried.memory()
            + self.resumption.memory()
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
    }

    /// Processes one packet, emitting whatever it completes (in id order, held until earlier
    /// handshakes are known, unless the engine runs [`RecordOrder::AsKnown`]).
    pub fn process(&mut self, packet: &Packet<'_>, emit: &mut dyn FnMut(Event)) -> PacketInfo {
        let info = self.take(packet);
        if !self.out.is_idle() {
            self.release(emit);
        }
        self.order_account
            .set(&mut self.meter, self.out.held_bytes());
        info
    }

    fn take(&mut self, packet: &Packet<'_>) -> PacketInfo {
        self.at = Some((packet.number, packet.ts));
        self.stats.packets += 1;
        self.stats.bytes += packet.data.len() as u64;
        // First and last are the earliest and the latest timestamps, whatever the file order.
        let first = self.stats.first_ts.get_or_insert(packet.ts);
        *first = (*first).min(packet.ts);
        match self.stats.last_ts {
            Some(last) if packet.ts < last => {
                self.stats.capture_evidence.timestamps_out_of_order += 1;
            }
            _ => self.stats.last_ts = Some(packet.ts),
        }
        if packet.is_truncated() {
            self.stats.truncated_packets += 1;
            if self.stats.truncated_packets == 1 {
                self.notice_once(
                    NoticeCode::SnapLength,
                    format!(
                        "packets are cut at {} bytes (the snap length): heads and frames beyond the cut are not in the capture, and handshakes that need them are incomplete; capture with -s 0",
                        packet.data.len()
                    ),
                );
            }
        }
        self.flows.expire(packet.ts, &mut self.evicted);
        self.drain_evicted();
        let seg = match decode::decode(packet) {
            Ok(seg) => seg,
            Err(skip) => {
                self.skipped(skip);
                return PacketInfo::default();
            }
        };
        self.stats.tcp_segments += 1;
        if self.meter.flow_room() < FLOW_STATE {
            self.emergency();
        }
        let (key, side) = FlowKey::new(seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port);
        let flow = match self.flows.get_mut(&key, packet.ts) {
            Some(flow) => flow,
            None => {
                // A copy of a packet of a connection that just closed is not a new one.
                if !self.closed.is_empty() && self.after_close(key, side, &seg, packet.ts) {
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
                    parked: !self.parked.is_empty() && self.parked.contains_key(&key),
                    ..Flow::default()
                };
                self.flows.insert(key, flow, packet.ts, &mut self.evicted)
            }
        };
        if flow.conn.is_none() && seg.payload.is_empty() {
            if flow.opening.is_copy(packet_id(side, &seg), packet.ts) {
                self.stats.capture_evidence.duplicate_packets += 1;
                return PacketInfo {
                    flow: Some(key),
                    upgrade: false,
                };
            }
            // Still opening: remember the SYNs and nothing else, so a scan or a SYN flood
            // costs a table slot per connection, not a full connection state.
            if seg.flags.rst {
                let recent = flow.opening.recent();
                self.flows.remove(&key);
                self.remember_closed(key, packet.ts, recent);
                self.settle_table();
                self.drain_evicted();
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
                self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64);
                self.drain_evicted();
                return PacketInfo {
                    flow: Some(key),
                    upgrade: false,
                };
            }
        }
        let parked = flow.parked;
        let conn = flow.open(self.config.conn, &mut self.meter);
        let had_upgrade = conn.saw_upgrade();
        let effect = conn.on_segment(side, &seg, packet, &mut self.output, &mut self.meter);
        if let Some(keys) = self.keys.as_deref_mut() {
            // After a ServerHello the TLS layer waits for this answer, in the same packet; a
            // resumed session the key log lacks is answered from an earlier connection's.
            if let Some(request) = conn.tls_key_request().cloned() {
                let answer = self.resumption.answer(keys.lookup(&request), &request);
                conn.install_tls_keys(answer, &mut self.output, &mut self.meter);
                self.resumption_account
                    .set(&mut self.meter, self.resumption.memory());
            }
            let tickets = conn.take_tls_tickets();
            if !tickets.is_empty() {
                for (ticket, master) in tickets {
                    self.resumption.ticket_issued(ticket, master);
                }
                self.resumption_account
                    .set(&mut self.meter, self.resumption.memory());
            }
        }
        // Ids in request order: exchanges this packet completed before the engine saw their
        // request waiting (or that have none) were earlier in the stream than the requests
        // still waiting, so they are numbered first.
        for c in &mut self.output.completed {
            if c.id.is_none() {
                c.id = Some(self.out.reserve());
            }
        }
        if conn.saw_upgrade() && !had_upgrade {
            self.stats.upgrade_flows += 1;
        }
        let upgrade = conn.saw_upgrade();
        if conn.take_new_upgrade() {
            let out = &mut self.out;
            conn.assign_ids(&mut || out.reserve());
            if let Some(enabled) = conn.take_h2_server_settings() {
                let client_side = conn.client_side().unwrap_or(Side::LoToHi);
                let client = key.source(client_side).ip();
                let server = key.source(client_side.reverse());
                self.h2_servers.remember(client, server, enabled, packet.ts);
            }
            if let (Some(timeout), Some(since)) =
                (self.config.response_timeout_ns, conn.unanswered_since())
            {
                self.deadlines
                    .push_back((Timestamp(since.0.saturating_add(timeout)), key));
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
            )
        });
        // Engine.IO polls this packet completed (rarely any) need the client's side too.
        let eio_client_side = (!self.output.engineio.is_empty()).then(|| conn.client_side());
        self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64);
        self.stats.bytes_dropped_by_caps += effect.dropped_by_cap;
        self.stats.head_bytes_scanned += effect.head_bytes_scanned;
        let evidence = &mut self.stats.capture_evidence;
        evidence.duplicate_packets += u64::from(effect.duplicate);
        evidence.http_requests_cut_before_headers += effect.requests_cut;
        if effect.header_limit {
            self.stats.header_limit_hits += 1;
            self.notice_once(NoticeCode::HeaderLimit, format!(
                "an HTTP head passed the header cap of {} bytes (--max-header-bytes); that exchange was not analysed",
                self.config.conn.max_header_bytes
            ));
        }
        if effect.pending_limit {
            self.stats.pending_limit_hits += 1;
            self.notice_once(
                NoticeCode::PendingLimit,
                format!(
                    "a connection pipelined more than {} requests; wssniff stopped following it",
                    self.config.conn.max_pending
                ),
            );
        }
        // Handshake records first (live users need them at once), then link the WebSocket
        // session to its handshake id before anything can end it.
        let mut parked = parked;
        if let Some((rtt, client_side, loss, tls)) = completed {
            let opened = self.emit_completed(key, client_side, rtt, loss, tls.as_ref());
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
            let flow = self.flows.remove(&key);
            self.settle_table();
            if let Some(recent) = flow.as_ref().and_then(|f| f.conn.as_deref()) {
                self.remember_closed(key, packet.ts, recent.tcp().recent());
            }
            if let Some(mut conn) = flow.and_then(|f| f.conn) {
                conn.finish(Ending::CaptureEnded, &mut self.output, &mut self.meter);
                self.finished(key, &mut conn);
            }
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
        let budget = self.meter.budget().unwrap_or(0);
        self.notice_once(
            NoticeCode::Memcap,
            format!(
                "the memory budget of {} MiB (--memcap) was full: new buffering is refused and counted, the least recently active connections make room for new ones; affected records carry memcap_reached",
                budget >> 20
            ),
        );
    }

    /// Time passes without packets (live capture): reports upgrade requests unanswered for
    /// longer than the response timeout, and expires idle connections.
    pub fn tick(&mut self, now: Timestamp, emit: &mut dyn FnMut(Event)) {
        let Some(timeout) = self.config.response_timeout_ns else {
            return;
        };
        // A failed handshake whose client neither spoke nor closed: its line must not wait for
        // the connection to end.
        let cutoff = Timestamp(now.0.saturating_sub(timeout));
        let due: Vec<FlowKey> = self
            .parked
            .iter()
            .filter(|(_, p)| p.since <= cutoff)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.unpark(key, None);
        }
        while let Some(&(deadline, key)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let cutoff = Timestamp(now.0.saturating_sub(timeout));
            let Some(conn) = self.flows.peek_mut(&key).and_then(Flow::conn) else {
                continue;
            };
            conn.expire_unanswered(cutoff, now, &mut self.output, &mut self.meter);
            let (client, rtt) = (conn.client_side(), conn.connect_rtt_ns());
            let (loss, tls) = (conn.tcp().loss(), conn.tls_carrier());
            self.emit_completed(key, client, rtt, loss, tls.as_ref());
        }
        self.flows.expire(now, &mut self.evicted);
        self.drain_evicted();
        self.release(emit);
        self.order_account
            .set(&mut self.meter, self.out.held_bytes());
    }

    /// End of input: every connection still open is finished as of the last packet, and
    /// everything held for ordering goes out.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Event)) {
        if self.meter.refused_total() != self.refusals_seen {
            self.note_refusals();
        }
        for (key, flow) in self.flows.drain() {
            if let Some(mut conn) = flow.conn {
                conn.finish(Ending::CaptureEnded, &mut self.output, &mut self.meter);
                self.finished(key, &mut conn);
            }
        }
        // Every parked record belongs to a connection finished above; none is left behind.
        while let Some((&key, _)) = self.parked.first_key_value() {
            self.unpark(key, None);
        }
        self.settle_table();
        self.note_capture_evidence();
        for session in self.engineio.finish() {
            self.stats.engineio_sessions += 1;
            self.out.push(Event::EngineIo(Box::new(session)));
        }
        // Nothing is left to link with: the remembered legs go.
        self.hops = HopTracker::new();
        self.hop_account.set(&mut self.meter, 0);
        self.out.flush(emit);
        if self.note_given_up() {
            self.out.flush(emit);
        }
        self.order_account
            .set(&mut self.meter, self.out.held_bytes());
    }

    /// Hands on what is due, then notes handshakes that gave up their place in the order.
    fn release(&mut self, emit: &mut dyn FnMut(Event)) {
        self.out.release(emit);
        if self.note_given_up() {
            self.out.release(emit);
        }
    }

    /// Counts handshakes that gave up their place in the order (and says so once); whether
    /// there were any.
    fn note_given_up(&mut self) -> bool {
        let n = self.out.take_given_up();
        if n > 0 {
            self.stats.records_out_of_order += n;
            self.notice_once(
                NoticeCode::OrderLimit,
                format!(
                    "more than {MAX_HELD_EVENTS} records (or {} MiB) waited behind an unanswered handshake; it is written out of id order when its outcome is known",
                    MAX_HELD_BYTES >> 20
                ),
            );
        }
        n > 0
    }

    /// Says once, at the end, what the capture lacked: connections captured one way, and
    /// bytes the peers acknowledged that the capture never saw.
    fn note_capture_evidence(&mut self) {
        let evidence = self.stats.capture_evidence.clone();
        if evidence.one_sided_connections > 0 {
            let n = evidence.one_sided_connections;
            self.notice_once(
                NoticeCode::OneDirection,
                format!(
                    "only one direction of {n} connection{} was captured (the other side's bytes are acknowledged but not in the capture): asymmetric routing or a one-way SPAN",
                    if n == 1 { "" } else { "s" }
                ),
            );
        }
        if evidence.loss.gaps > 0 {
            let loss = evidence.loss;
            self.notice_once(
                NoticeCode::CaptureLoss,
                format!(
                    "the capture lost packets the peers received: {} of {} ACKs acknowledged bytes it never saw (capture loss {}%, as Zeek's capture_loss), {} bytes missed",
                    loss.gaps, loss.acks, evidence.capture_loss_percent, loss.missed_bytes
                ),
            );
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
        for (stream, id, failed) in
            self.emit_completed(key, client_side, rtt, loss, carrier.as_ref())
        {
            conn.set_handshake(stream, id, failed);
        }
        if !self.output.engineio.is_empty() {
            self.engineio_polls(key, client_side);
        }
        let mut websockets = 0;
        while let Some((stream, mut record)) = conn.take_connection_record() {
            let client_side = conn.client_side().unwrap_or(Side::LoToHi);
            record.loss = loss;
            record.tls.clone_from(&carrier);
            self.fill_endpoints(&mut record, key, client_side);
            self.blame_idle(&mut record);
            if self.parked.get(&key).is_some_and(|p| p.stream == stream) {
                if record.client_to_server.frames == 0 {
                    // The client failed the handshake: the ending is the handshake's.
                    self.unpark(key, Some(&record));
                    continue;
                }
                self.unpark(key, None);
            }
            self.stats.connections += 1;
            if record
                .findings
                .iter()
                .any(|f| f.code == Code::MemcapReached)
            {
                self.stats.memcap_records += 1;
            }
            if !record.handshake_observed {
                self.stats.connections_without_handshake += 1;
            }
            if let Some(eio) = conn.take_engineio() {
                self.engineio.websocket_ended(&record, &eio);
            }
            websockets += 1;
            self.out.push(Event::Connection(Box::new(record)));
            self.engineio_done();
        }
        // Last: it says what it carried, and every record of its connection is out.
        if let Some(tls) = conn.take_tls_record() {
            self.tls_record(key, conn, tls, websockets);
        }
    }

    /// The TLS record of the connection `key`, which ended: endpoints, and the handshakes
    /// and WebSocket connections it carried.
    fn tls_record(&mut self, key: FlowKey, conn: &Connection, mut tls: TlsRecord, websockets: u64) {
        let client_side = conn.client_side().unwrap_or(Side::LoToHi);
        let client = key.source(client_side);
        let server = key.source(client_side.reverse());
        tls.client = client;
        tls.server = server;
        tls.community_id =
            community_id::tcp((client.ip(), client.port()), (server.ip(), server.port()));
        if !self.tls_carried.is_empty() {
            tls.handshakes = self.tls_carried.take(key);
            self.tls_carried_account
                .set(&mut self.meter, self.tls_carried.memory());
        }
        tls.websockets = tls.decrypted.then_some(websockets);
        self.stats.tls_connections += 1;
        self.stats.tls_decrypted += u64::from(tls.decrypted);
        if tls.findings.iter().any(|f| f.code == Code::MemcapReached) {
            self.stats.memcap_records += 1;
        }
        self.out.push(Event::Tls(Box::new(tls)));
    }

    /// Hands the Engine.IO polling exchanges this connection completed to the session
    /// tracker (a branch ordinary traffic does not take: only `EIO=` requests fill them).
    #[inline(never)]
    fn engineio_polls(&mut self, key: FlowKey, client_side: Option<Side>) {
        let client_side = client_side.unwrap_or(Side::LoToHi);
        let client = key.source(client_side);
        let server = key.source(client_side.reverse());
        for poll in std::mem::take(&mut self.output.engineio) {
            self.engineio.poll(&Poll {
                client,
                server,
                request: &poll.request,
                response: poll.response.as_ref(),
            });
        }
        self.engineio_done();
    }

    /// Writes the Engine.IO sessions known to be over.
    fn engineio_done(&mut self) {
        for session in self.engineio.take_done() {
            self.stats.engineio_sessions += 1;
            self.out.push(Event::EngineIo(Box::new(session)));
        }
    }

    /// Names an intermediary's idle timeout on `record` from what the session could not
    /// know: the user's `--proxy-idle-timeout` values, and a proxy hop whose proxy closed
    /// this leg (not passing on the other leg's close).
    fn blame_idle(&mut self, record: &mut ConnectionRecord) {
        let leg = record
            .handshake_id
            .and_then(|id| self.proxy_legs.remove(&id).map(|leg| (id, leg)));
        let closer = match record.tcp_end {
            Ending::ClientFin | Ending::ClientRst => Some(Peer::Client),
            Ending::ServerFin | Ending::ServerRst => Some(Peer::Server),
            _ => None,
        };
        let mut proxy = None;
        if let Some((id, leg)) = leg {
            let proxy_closed = closer == Some(leg.proxy_peer);
            // The partner leg, if it ended first: closed by its far side means this proxy
            // only passed that close on.
            let relayed = self.ended_legs.remove(&leg.partner) == Some(false);
            if self.proxy_legs.contains_key(&leg.partner) {
                if self.ended_legs.len() >= MAX_PROXY_LEGS {
                    self.ended_legs.pop_first();
                }
                self.ended_legs.insert(id, proxy_closed);
            }
            if proxy_closed && !relayed {
                proxy = Some(leg.proxy);
            }
        }
        let user = self.config.proxy_idle_timeouts;
        if proxy.is_none() && user.as_ms().is_empty() {
            return;
        }
        name_idle_timeout(
            record,
            &IdleEvidence {
                user_timeouts_ms: user.as_ms(),
                closing_proxy: proxy.as_deref(),
            },
        );
    }

    /// Remembers the two legs of `hop` when both switched, so their endings can tell a
    /// proxy's idle timeout.
    fn note_proxy_legs(&mut self, hop: &HopLink) {
        if hop.upstream_status != Some(101) || hop.downstream_status != Some(101) {
            return;
        }
        let proxy = match &hop.proxy_software {
            Some(sw) => format!("the proxy {sw} at {}", hop.proxy),
            None => format!("the proxy at {}", hop.proxy),
        };
        for (id, partner, proxy_peer) in [
            (hop.downstream, hop.upstream, Peer::Server),
            (hop.upstream, hop.downstream, Peer::Client),
        ] {
            while self.proxy_legs.len() >= MAX_PROXY_LEGS {
                self.proxy_legs.pop_first();
            }
            self.proxy_legs.insert(
                id,
                ProxyLeg {
                    partner,
                    proxy_peer,
                    proxy: proxy.clone(),
                },
            );
        }
    }

    /// Releases the parked record of `key` once its client sent a frame (the switch took
    /// effect on both sides).
    fn client_took_switch(&mut self, key: FlowKey) {
        let Some(stream) = self.parked.get(&key).map(|p| p.stream) else {
            return;
        };
        let spoke = self
            .flows
            .peek_mut(&key)
            .and_then(Flow::conn)
            .is_some_and(|c| c.client_frames(stream) > 0);
        if spoke {
            self.unpark(key, None);
        }
    }

    /// Holds the record of a failed handshake that switched the connection (see [`Parked`]).
    fn park(&mut self, key: FlowKey, stream: StreamId, record: Arc<HandshakeRecord>) {
        let id = record.id;
        let since = self.at.map_or(record.ts, |(_, ts)| ts);
        // A connection switches once; should a second record come, the first goes out.
        if self.parked.contains_key(&key) {
            self.unpark(key, None);
        }
        self.parked_ids.insert(id, key);
        if let Some(flow) = self.flows.peek_mut(&key) {
            flow.parked = true;
        }
        self.parked.insert(
            key,
            Parked {
                id,
                stream,
                since,
                record,
                hops: Vec::new(),
            },
        );
        self.settle_parked();
    }

    /// Hands the parked record of `key` to the output order, with the ending of its
    /// connection when the client never took the switch (`ended`), then its hops.
    fn unpark(&mut self, key: FlowKey, ended: Option<&ConnectionRecord>) {
        let Some(mut p) = self.parked.remove(&key) else {
            return;
        };
        if let Some(flow) = self.flows.peek_mut(&key) {
            flow.parked = false;
        }
        self.parked_ids.remove(&p.id);
        if let Some(c) = ended {
            handshake::close_after_failure(
                Arc::make_mut(&mut p.record),
                c.tcp_end,
                c.duration_ms,
                c.server_to_client.frames,
            );
        }
        self.out.fill(p.id, Event::Handshake(p.record));
        for hop in p.hops {
            self.out.after(p.id, Event::Hop(Box::new(hop)));
        }
        self.settle_parked();
    }

    fn settle_parked(&mut self) {
        let bytes = self.parked.values().map(|p| record_weight(&p.record)).sum();
        self.parked_account.set(&mut self.meter, bytes);
    }

    fn fill_endpoints(&self, record: &mut ConnectionRecord, key: FlowKey, client_side: Side) {
        let client = key.source(client_side);
        let server = key.source(client_side.reverse());
        record.client = client;
        record.server = server;
        record.community_id =
            community_id::tcp((client.ip(), client.port()), (server.ip(), server.port()));
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
            if let Some(mut conn) = flow.conn {
                if why == Eviction::Memcap {
                    conn.evicted_by_memcap();
                }
                conn.finish(ending, &mut self.output, &mut self.meter);
                self.finished(key, &mut conn);
            }
        }
    }

    fn skipped(&mut self, skip: Skip) {
        match skip {
            Skip::NotIp => self.stats.not_ip += 1,
            Skip::NotTcp => self.stats.not_tcp += 1,
            Skip::Quic { initial } => {
                self.stats.not_tcp += 1;
                self.stats.quic_packets += 1;
                self.stats.quic_initials += u64::from(initial);
            }
            Skip::Malformed => self.stats.malformed += 1,
            Skip::Fragment => {
                self.stats.ip_fragments += 1;
                self.notice_once(
                    NoticeCode::IpFragments,
                    "the capture holds fragmented IP packets; wssniff does not reassemble IP fragments, so TCP data inside them is not analysed".to_owned(),
                );
            }
            Skip::UnsupportedLinktype(lt) => {
                self.stats.unsupported_linktype += 1;
                if !self.warned_linktypes.contains(&lt) {
                    self.warned_linktypes.push(lt);
                    let notice = self.notice(
                        NoticeCode::UnsupportedLinktype,
                        format!("link type {lt} is not supported; its packets are skipped"),
                    );
                    self.out.push(Event::Notice(notice));
                }
            }
        }
    }

    fn notice_once(&mut self, code: NoticeCode, message: String) {
        if !self.warned.contains(&code) {
            self.warned.push(code);
            self.out.push(Event::Notice(self.notice(code, message)));
        }
    }

    /// A notice shown by the packet being processed (or the last one).
    fn notice(&self, code: NoticeCode, message: String) -> Notice {
        let notice = Notice::new(code, message);
        match self.at {
            Some((number, ts)) => notice.at(number, ts),
            None => notice,
        }
    }

    /// Hands the handshake records waiting in `output` to the output order, each in its id's
    /// place; returns the stream and id of each that switched its stream to WebSocket (one
    /// for HTTP/1.1, several for HTTP/2), and whether its verdict is failed.
    fn emit_completed(
        &mut self,
        key: FlowKey,
        client_side: Option<Side>,
        connect_rtt_ns: Option<i64>,
        loss: TcpLoss,
        tls: Option<&TlsCarrier>,
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
                None => self.out.reserve(),
            };
            let mut record = self.record(id, c, client, server, connect_rtt_ns);
            record.loss = loss;
            if let Some(tls) = tls {
                record.tls = Some(tls.clone());
                self.tls_carried.handshake(key, id);
                self.tls_carried_account
                    .set(&mut self.meter, self.tls_carried.memory());
            }
            let failed = record.verdict == Verdict::Failed;
            if let Some(stream) = opened {
                switched.push((stream, record.id, failed));
            }
            self.stats.handshakes += 1;
            if record
                .findings
                .iter()
                .any(|f| f.code == Code::MemcapReached)
            {
                self.stats.memcap_records += 1;
            }
            let keep = self
                .meter
                .admit(Use::Hop, HopTracker::cost(&record))
                .is_ok();
            let record = Arc::new(record);
            if record.request.as_ref().is_some_and(engineio_request) {
                self.engineio.handshake(&record);
            }
            let hops = self.hops.push_within(&record, keep);
            self.hop_account.set(&mut self.meter, self.hops.memory());
            match opened {
                Some(stream) if failed => self.park(key, stream, record),
                _ => self.out.fill(id, Event::Handshake(record)),
            }
            for hop in hops {
                self.stats.proxy_hops += 1;
                self.note_proxy_legs(&hop);
                // Right after its later leg's record.
                let later = hop.downstream.max(hop.upstream);
                match self
                    .parked_ids
                    .get(&later)
                    .and_then(|k| self.parked.get_mut(k))
                {
                    Some(p) => p.hops.push(hop),
                    None => self.out.after(later, Event::Hop(Box::new(hop))),
                }
            }
        }
        switched
    }

    /// The handshake stage's record of `c`, with what the engine owns: the id, the
    /// endpoints (the flow key and which side is the client) and the TCP connect time.
    fn record(
        &mut self,
        id: u64,
        c: Completed,
        client: SocketAddr,
        server: SocketAddr,
        connect_rtt_ns: Option<i64>,
    ) -> HandshakeRecord {
        let recent = &self.recent_accepts;
        let mut record = handshake::record(c, &self.config.handshake, &|accept: &str| {
            recent.explain(accept)
        });
        record.id = id;
        record.client = client;
        record.server = server;
        record.community_id =
            community_id::tcp((client.ip(), client.port()), (server.ip(), server.port()));
        record.timing.connect_rtt_ms = connect_rtt_ns.filter(|n| *n >= 0).map(Timing::millis);
        if let (Some(expected), Some(key)) = (&record.expected_accept, &record.key) {
            self.recent_accepts.remember(id, key, expected);
        }
        if record.h2.is_none() && !self.h2_servers.is_empty() {
            if let Some(f) = self.h2_servers.explain(client, server, record.ts) {
                record.findings.push(f);
            }
        }
        record
    }
}

/// Whether an upgrade request's target names Engine.IO (`EIO=`).
fn engineio_request(m: &crate::event::Message) -> bool {
    match &m.head.start {
        crate::event::StartLine::Request { target, .. } => {
            crate::engineio::target::mentions_eio(target.as_bytes())
        }
        crate::event::StartLine::Response { .. } => false,
    }
}
