//! The engine's cross-flow half: everything that spans connections or the whole capture,
//! fed in packet order by the per-flow half (the same engine, or flow-sharded workers whose
//! calls are recorded and replayed in packet order, see `shard`).
//!
//! It hands out handshake ids and puts events in output order (`sequence`), remembers
//! accept values (stale accepts), HTTP/2 servers (h2 fallback), links proxy hops, holds
//! the records of failed handshakes that switched anyway (parked), blames proxies for idle
//! teardowns, follows Engine.IO sessions, counts what only the whole capture can count
//! and says each notice once. Inputs are finished records and facts about one packet; it
//! never sees a connection's state, never reads a packet's bytes, never does I/O.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::sequence::{record_weight, Sequencer};
use super::{EngineConfig, ProxyIdleTimeouts, Stats, MAX_HELD_BYTES, MAX_HELD_EVENTS};
use crate::capture::{Linktype, Timestamp};
use crate::correlate::accepts::RecentAccepts;
use crate::correlate::engineio::{EngineIoTracker, Poll};
use crate::correlate::fallback::H2Servers;
use crate::correlate::hop::{HopTracker, RefusedConnects};
use crate::decode::Skip;
use crate::engineio::observer::EioObserver;
use crate::event::{
    ConnectionRecord, Ending, EngineIoSession, Event, HandshakeRecord, HopLink, Notice, Peer,
    TlsRecord, Verdict,
};
use crate::finding::{Code, NoticeCode};
use crate::handshake;
use crate::http::exchange::{EioPoll, StreamId};
use crate::memory::{Account, Meter, Use};
use crate::tcp::flow::FlowKey;
use crate::websocket::ending::{name_idle_timeout, IdleEvidence};

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

/// What a packet is, for the counters the whole capture keeps (its bytes stay with the
/// per-flow half).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PacketFacts {
    pub(crate) number: u64,
    pub(crate) ts: Timestamp,
    /// Bytes as captured.
    pub(crate) caplen: usize,
    pub(crate) truncated: bool,
}

/// The cross-flow half of the engine (see the module docs).
pub(crate) struct Correlator {
    /// Hands out handshake ids and puts events in output order.
    out: Sequencer,
    /// Number and time of the packet being processed (the last one, between packets).
    at: Option<(u64, Timestamp)>,
    recent_accepts: RecentAccepts,
    /// HTTP/2 connections' server SETTINGS, for HTTP/1.1 upgrades that fell back.
    h2_servers: H2Servers,
    warned_linktypes: Vec<Linktype>,
    warned: Vec<NoticeCode>,
    /// Records held back for id order ([`super::sequence`]), registered with the meter.
    order_account: Account,
    /// Handshakes the hop tracker remembers, registered with the meter.
    hop_account: Account,
    /// Links the two legs of proxied handshakes as they complete.
    hops: HopTracker,
    /// Refused TCP connects, for a proxy's own 502/503 (bounded, `MAX_REFUSED`).
    refused: RefusedConnects,
    /// Failed handshakes waiting for their client's answer, by connection (at most one per
    /// connection, so bounded by the flow table), and the connection of each by id.
    parked: BTreeMap<FlowKey, Parked>,
    parked_ids: BTreeMap<u64, FlowKey>,
    /// The parked records, registered with the meter.
    parked_account: Account,
    /// Legs of linked proxy hops, by handshake id, while their connections last.
    proxy_legs: BTreeMap<u64, ProxyLeg>,
    /// Legs that ended before their partner, by handshake id: whether the proxy closed them
    /// (else the far side closed first and the proxy only passed the close on).
    ended_legs: BTreeMap<u64, bool>,
    /// Engine.IO sessions across connections (fed only by Engine.IO requests), registered
    /// with the meter.
    engineio: EngineIoTracker,
    /// `--eio-body-bytes`, for the notice of a body cut there.
    eio_body_bytes: usize,
    proxy_idle_timeouts: ProxyIdleTimeouts,
    response_timeout_ns: Option<i64>,
}

impl Correlator {
    pub(crate) fn new(config: &EngineConfig) -> Self {
        let mut out = Sequencer::new(config.order);
        if let Some(budget) = config.memcap {
            // Records held for id order take at most a quarter of a small budget.
            out.cap_bytes(budget / 4);
        }
        Correlator {
            out,
            at: None,
            recent_accepts: RecentAccepts::new(),
            h2_servers: H2Servers::new(),
            warned_linktypes: Vec::new(),
            warned: Vec::new(),
            order_account: Account::default(),
            hop_account: Account::default(),
            hops: HopTracker::new(),
            refused: RefusedConnects::new(),
            parked: BTreeMap::new(),
            parked_ids: BTreeMap::new(),
            parked_account: Account::default(),
            proxy_legs: BTreeMap::new(),
            ended_legs: BTreeMap::new(),
            engineio: EngineIoTracker::new().with_body_bytes(config.conn.eio_body_bytes),
            eio_body_bytes: config.conn.eio_body_bytes,
            proxy_idle_timeouts: config.proxy_idle_timeouts,
            response_timeout_ns: config.response_timeout_ns,
        }
    }

    /// The next handshake id, with its place in the output.
    #[inline]
    pub(crate) fn reserve(&mut self) -> u64 {
        self.out.reserve()
    }

    /// The packet `p` is being processed: the capture-wide counters, the place notices are
    /// stamped with, and the Engine.IO sessions over by its time (before anything else the
    /// packet brings).
    #[inline]
    pub(crate) fn packet(&mut self, stats: &mut Stats, meter: &mut Meter, p: PacketFacts) {
        self.at = Some((p.number, p.ts));
        stats.packets += 1;
        stats.bytes += p.caplen as u64;
        // First and last are the earliest and the latest timestamps, whatever the file order.
        let first = stats.first_ts.get_or_insert(p.ts);
        *first = (*first).min(p.ts);
        match stats.last_ts {
            Some(last) if p.ts < last => {
                stats.capture_evidence.timestamps_out_of_order += 1;
            }
            _ => stats.last_ts = Some(p.ts),
        }
        if p.truncated {
            stats.truncated_packets += 1;
            if stats.truncated_packets == 1 {
                self.notice_once(
                    NoticeCode::SnapLength,
                    format!(
                        "packets are cut at {} bytes (the snap length): heads and frames beyond the cut are not in the capture, and handshakes that need them are incomplete; capture with -s 0",
                        p.caplen
                    ),
                );
            }
        }
        // Last, so the hot path above keeps its registers (the call is cold).
        if p.ts > self.engineio.next_due() {
            self.expire_engineio(stats, meter, p.ts);
        }
    }

    /// A packet the decoder skipped.
    pub(crate) fn skipped(&mut self, stats: &mut Stats, skip: Skip) {
        match skip {
            Skip::NotIp => stats.not_ip += 1,
            Skip::NotTcp => stats.not_tcp += 1,
            Skip::Quic { initial } => {
                stats.not_tcp += 1;
                stats.quic_packets += 1;
                stats.quic_initials += u64::from(initial);
            }
            Skip::Malformed => stats.malformed += 1,
            Skip::Fragment => {
                stats.ip_fragments += 1;
                self.notice_once(
                    NoticeCode::IpFragments,
                    "the capture holds fragmented IP packets; wssniff does not reassemble IP fragments, so TCP data inside them is not analysed".to_owned(),
                );
            }
            Skip::UnsupportedLinktype(lt) => {
                stats.unsupported_linktype += 1;
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

    /// Says `message` once per run (per `code`), stamped with the packet being processed.
    pub(crate) fn notice_once(&mut self, code: NoticeCode, message: String) {
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

    /// Says once that the memory budget (`budget` bytes) was full.
    pub(crate) fn memcap_notice(&mut self, budget: usize) {
        self.notice_once(
            NoticeCode::Memcap,
            format!(
                "the memory budget of {} MiB (--memcap) was full: new buffering is refused and counted, the least recently active connections make room for new ones; affected records carry memcap_reached",
                budget >> 20
            ),
        );
    }

    /// An HTTP/2 connection's server SETTINGS (whether it enables extended CONNECT), for
    /// HTTP/1.1 upgrades to the same server that fall back.
    pub(crate) fn h2_settings(
        &mut self,
        client: std::net::IpAddr,
        server: SocketAddr,
        enabled: bool,
        ts: Timestamp,
    ) {
        self.h2_servers.remember(client, server, enabled, ts);
    }

    /// A TCP connect from `from` to `to` refused (an RST answering the SYN, packet `packet`
    /// at `at`), for the proxy's own 502/503 to a request that waited meanwhile.
    pub(crate) fn refused_connect(
        &mut self,
        from: std::net::IpAddr,
        to: SocketAddr,
        at: Timestamp,
        packet: u64,
    ) {
        self.refused.remember(from, to, at, packet);
    }

    /// A handshake record built by the per-flow half (id, endpoints, timing and loss set):
    /// what other connections explain about it (a stale accept: `asked_accept` is the wrong
    /// accept value its check looked up; an h2 fallback), then its place in the output, the
    /// proxy hops it completes, and parking when it failed but switched (`opened`).
    pub(crate) fn handshake(
        &mut self,
        stats: &mut Stats,
        meter: &mut Meter,
        key: FlowKey,
        mut record: HandshakeRecord,
        opened: Option<StreamId>,
        asked_accept: Option<String>,
    ) {
        let id = record.id;
        if let Some(actual) = asked_accept {
            if let Some(other) = self.recent_accepts.explain(&actual) {
                handshake::note_stale_accept(&mut record, &actual, &other);
            }
        }
        if let (Some(expected), Some(key)) = (&record.expected_accept, &record.key) {
            self.recent_accepts.remember(id, key, expected);
        }
        if let Some(f) = self.refused.explain(&record) {
            record.findings.push(f);
        }
        if record.h2.is_none() && !self.h2_servers.is_empty() {
            if let Some(f) = self
                .h2_servers
                .explain(record.client, record.server, record.ts)
            {
                record.findings.push(f);
            }
        }
        let failed = record.verdict == Verdict::Failed;
        stats.handshakes += 1;
        if record
            .findings
            .iter()
            .any(|f| f.code == Code::MemcapReached)
        {
            stats.memcap_records += 1;
        }
        let keep = meter.admit(Use::Hop, HopTracker::cost(&record)).is_ok();
        let record = Arc::new(record);
        let eio = record.request.as_ref().is_some_and(engineio_request);
        if eio {
            self.engineio.handshake(&record, meter);
        }
        let hops = self.hops.push_within(&record, keep);
        self.hop_account.set(meter, self.hops.memory());
        match opened {
            Some(stream) if failed => self.park(meter, key, stream, record),
            _ => self.out.fill(id, Event::Handshake(record)),
        }
        for hop in hops {
            stats.proxy_hops += 1;
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
        if eio {
            // After the handshake's record: a refused websocket-only attempt (or a session
            // the budget wrote out) is over now.
            self.engineio_done(stats);
        }
    }

    /// Engine.IO polling exchanges one connection (`client` → `server`) completed.
    pub(crate) fn engineio_polls(
        &mut self,
        stats: &mut Stats,
        meter: &mut Meter,
        client: SocketAddr,
        server: SocketAddr,
        polls: Vec<EioPoll>,
    ) {
        for poll in polls {
            self.engineio.poll(
                &Poll {
                    client,
                    server,
                    request: &poll.request,
                    response: poll.response.as_ref(),
                    bodies_unread: poll.bodies_unread,
                },
                meter,
            );
        }
        self.engineio_done(stats);
    }

    /// Writes the Engine.IO sessions over by capture time `now` (their deadlines: a close
    /// packet over polling, or no exchange for their heartbeat; see `correlate::engineio`),
    /// at each packet (file or live) and at each live tick, so a session is written when it
    /// ends, not at the end of the capture, in the same place whatever the thread count.
    #[cold]
    #[inline(never)]
    pub(crate) fn expire_engineio(&mut self, stats: &mut Stats, meter: &mut Meter, now: Timestamp) {
        if now > self.engineio.next_due() {
            self.engineio.expire(now, meter);
            self.engineio_done(stats);
        }
    }

    /// Writes the Engine.IO sessions known to be over.
    fn engineio_done(&mut self, stats: &mut Stats) {
        for session in self.engineio.take_done() {
            self.note_engineio(stats, &session);
            self.out.push(Event::EngineIo(Box::new(session)));
        }
    }

    /// Counts an Engine.IO session record on its way out (and the caps it says it hit).
    #[inline(never)]
    fn note_engineio(&mut self, stats: &mut Stats, session: &EngineIoSession) {
        stats.engineio_sessions += 1;
        for f in &session.findings {
            match f.code {
                Code::MemcapReached => stats.memcap_records += 1,
                Code::EngineioBodyCut => {
                    stats.engineio_bodies_cut += 1;
                    self.notice_once(
                        NoticeCode::EngineioBodyLimit,
                        format!(
                            "an Engine.IO polling body was longer than {} bytes (--eio-body-bytes): the packets past the cut were not read (engineio_body_cut)",
                            self.eio_body_bytes
                        ),
                    );
                }
                _ => {}
            }
        }
    }

    /// The client of `key` sent a frame on `stream`, which a parked failed handshake
    /// switched: the switch took effect on both sides, and the record goes out as it is.
    pub(crate) fn client_spoke(&mut self, meter: &mut Meter, key: FlowKey, stream: StreamId) {
        if self.parked.get(&key).is_some_and(|p| p.stream == stream) {
            self.unpark(meter, key, None);
        }
    }

    /// Whether the correlation stage holds the failed handshake of `key`'s `stream` (parked
    /// until its client's first frame or the connection's end).
    pub(crate) fn is_parked(&self, key: FlowKey, stream: StreamId) -> bool {
        self.parked.get(&key).is_some_and(|p| p.stream == stream)
    }

    /// A finished connection's TLS record (endpoints set).
    pub(crate) fn tls(&mut self, stats: &mut Stats, tls: TlsRecord) {
        stats.tls_connections += 1;
        stats.tls_decrypted += u64::from(tls.decrypted);
        if tls.findings.iter().any(|f| f.code == Code::MemcapReached) {
            stats.memcap_records += 1;
        }
        self.out.push(Event::Tls(Box::new(tls)));
    }

    /// A finished connection's WebSocket record on `stream` (endpoints and loss set), with
    /// its Engine.IO observer when it carried Engine.IO.
    pub(crate) fn connection(
        &mut self,
        stats: &mut Stats,
        meter: &mut Meter,
        key: FlowKey,
        stream: StreamId,
        mut record: ConnectionRecord,
        eio: Option<Box<EioObserver>>,
    ) {
        self.blame_idle(&mut record);
        if self.parked.get(&key).is_some_and(|p| p.stream == stream) {
            if record.client_to_server.frames == 0 {
                // The client failed the handshake: the ending is the handshake's.
                self.unpark(meter, key, Some(&record));
                if let Some(eio) = eio {
                    // Its Engine.IO session learns that its WebSocket is over all the same.
                    self.engineio.websocket_ended(&record, &eio, meter);
                    self.engineio_done(stats);
                }
                return;
            }
            self.unpark(meter, key, None);
        }
        stats.connections += 1;
        if record
            .findings
            .iter()
            .any(|f| f.code == Code::MemcapReached)
        {
            stats.memcap_records += 1;
        }
        if !record.handshake_observed {
            stats.connections_without_handshake += 1;
        }
        if let Some(eio) = eio {
            self.engineio.websocket_ended(&record, &eio, meter);
        }
        self.out.push(Event::Connection(Box::new(record)));
        self.engineio_done(stats);
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
        let user = self.proxy_idle_timeouts;
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
        if !hop.both_switched() {
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

    /// Holds the record of a failed handshake that switched the connection (see [`Parked`]).
    fn park(
        &mut self,
        meter: &mut Meter,
        key: FlowKey,
        stream: StreamId,
        record: Arc<HandshakeRecord>,
    ) {
        let id = record.id;
        let since = self.at.map_or(record.ts, |(_, ts)| ts);
        // A connection switches once; should a second record come, the first goes out.
        if self.parked.contains_key(&key) {
            self.unpark(meter, key, None);
        }
        self.parked_ids.insert(id, key);
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
        self.settle_parked(meter);
    }

    /// Hands the parked record of `key` to the output order, with the ending of its
    /// connection when the client never took the switch (`ended`), then its hops.
    fn unpark(&mut self, meter: &mut Meter, key: FlowKey, ended: Option<&ConnectionRecord>) {
        let Some(mut p) = self.parked.remove(&key) else {
            return;
        };
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
        self.settle_parked(meter);
    }

    fn settle_parked(&mut self, meter: &mut Meter) {
        let bytes = self.parked.values().map(|p| record_weight(&p.record)).sum();
        self.parked_account.set(meter, bytes);
    }

    /// Live capture: parked records whose client neither spoke nor closed within the
    /// response timeout go out (their line must not wait for the connection to end).
    pub(crate) fn tick(&mut self, meter: &mut Meter, now: Timestamp) {
        let Some(timeout) = self.response_timeout_ns else {
            return;
        };
        let cutoff = Timestamp(now.0.saturating_sub(timeout));
        let due: Vec<FlowKey> = self
            .parked
            .iter()
            .filter(|(_, p)| p.since <= cutoff)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.unpark(meter, key, None);
        }
    }

    /// Whether [`Correlator::release`] has nothing to do (checked per packet).
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.out.is_idle()
    }

    /// Registers the records held for order with the meter (after every packet).
    #[inline]
    pub(crate) fn settle_order(&mut self, meter: &mut Meter) {
        self.order_account.set(meter, self.out.held_bytes());
    }

    /// Hands on what is due, then notes handshakes that gave up their place in the order.
    pub(crate) fn release(&mut self, stats: &mut Stats, emit: &mut dyn FnMut(Event)) {
        self.out.release(emit);
        if self.note_given_up(stats) {
            self.out.release(emit);
        }
    }

    /// Counts handshakes that gave up their place in the order (and says so once); whether
    /// there were any.
    fn note_given_up(&mut self, stats: &mut Stats) -> bool {
        let n = self.out.take_given_up();
        if n > 0 {
            stats.records_out_of_order += n;
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

    /// End of input, after every connection was finished: parked records, what the capture
    /// lacked, the Engine.IO sessions still open, then everything held for order.
    pub(crate) fn finish(
        &mut self,
        stats: &mut Stats,
        meter: &mut Meter,
        emit: &mut dyn FnMut(Event),
    ) {
        // Every parked record belongs to a connection finished before; none is left behind.
        while let Some((&key, _)) = self.parked.first_key_value() {
            self.unpark(meter, key, None);
        }
        self.note_capture_evidence(stats);
        for session in self.engineio.finish(meter) {
            self.note_engineio(stats, &session);
            self.out.push(Event::EngineIo(Box::new(session)));
        }
        // Nothing is left to link with: the remembered legs go.
        self.hops = HopTracker::new();
        self.hop_account.set(meter, 0);
        self.out.flush(emit);
        if self.note_given_up(stats) {
            self.out.flush(emit);
        }
        self.settle_order(meter);
    }

    /// Says once, at the end, what the capture lacked: connections captured one way, and
    /// bytes the peers acknowledged that the capture never saw.
    fn note_capture_evidence(&mut self, stats: &Stats) {
        let evidence = stats.capture_evidence.clone();
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

    /// Bytes held, walked: the records held for order, the parked ones, the hop tracker,
    /// the Engine.IO sessions.
    pub(crate) fn memory_walked(&self) -> usize {
        self.out.walked_bytes()
            + self
                .parked
                .values()
                .map(|p| record_weight(&p.record))
                .sum::<usize>()
            + self.hops.memory()
            + self.engineio.memory_walked()
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
