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

use super::sequence::{connection_weight, record_weight, Sequencer};
use super::{EngineConfig, ProxyIdleTimeouts, Stats, MAX_HELD_BYTES, MAX_HELD_EVENTS};
use crate::capture::{Linktype, Timestamp};
use crate::correlate::accepts::RecentAccepts;
use crate::correlate::engineio::{EngineIoTracker, Poll};
use crate::correlate::fallback::H2Servers;
use crate::correlate::hop::{
    name_proxy_shutdown, proxy_shutdown, HopTracker, ProxyShutdown, RefusedConnects,
};
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
use crate::websocket::ending::{name_idle_timeout, silent_teardown, IdleEvidence};

/// One leg of a proxy hop whose two legs both switched: which peer of it is the proxy, so a
/// silent teardown by that peer is the proxy's idle timeout.
#[derive(Debug)]
struct ProxyLeg {
    partner: u64,
    proxy_peer: Peer,
    /// "the proxy nginx/1.22.1 at 10.0.0.2:80".
    proxy: String,
    /// The partner leg is an HTTP/2 stream (extended CONNECT): its end can show the proxy's
    /// shutdown.
    partner_h2: bool,
}

/// How a leg of a linked hop ended, kept until its partner ends.
#[derive(Debug)]
struct EndedLeg {
    /// The proxy closed it (else its far side closed first and the proxy only passed the
    /// close on).
    proxy_closed: bool,
    /// The proxy's shutdown its end shows (an HTTP/2 client leg).
    shutdown: Option<ProxyShutdown>,
}

/// The record of a leg the proxy tore down silently while its HTTP/2 partner was open, held
/// until the partner ends: whether the proxy was shutting down (a GOAWAY on the partner's
/// connection, `correlate::hop::proxy_shutdown`) decides between the proxy's shutdown and
/// its idle timeout. Proxies tear both legs down together, so the hold is short; live
/// capture releases it after `--response-timeout` all the same.
#[derive(Debug)]
struct HeldLeg {
    record: Box<ConnectionRecord>,
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
    /// The tracker [`Correlator::finish`] retired: nothing links any more, but its records
    /// are freed only when the correlator is (a run's exit may leave that to the process's
    /// end, `run::run_file`).
    retired_hops: HopTracker,
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
    /// Legs that ended before their partner, by handshake id.
    ended_legs: BTreeMap<u64, EndedLeg>,
    /// Held leg records ([`HeldLeg`]) by their partner's handshake id (bounded by
    /// [`MAX_PROXY_LEGS`]), registered with the meter.
    held_legs: BTreeMap<u64, HeldLeg>,
    held_account: Account,
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
            retired_hops: HopTracker::new(),
            refused: RefusedConnects::new(),
            parked: BTreeMap::new(),
            parked_ids: BTreeMap::new(),
            parked_account: Account::default(),
            proxy_legs: BTreeMap::new(),
            ended_legs: BTreeMap::new(),
            held_legs: BTreeMap::new(),
            held_account: Account::default(),
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
                    not_followed: poll.not_followed,
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
                Code::EngineioPollsNotFollowed => {
                    stats.engineio_polls_not_followed += 1;
                    self.notice_once(
                        NoticeCode::EngineioPollLimit,
                        format!(
                            "an HTTP/2 connection had more than {} Engine.IO polling streams open at once: the polls beyond them were not followed (engineio_polls_not_followed)",
                            crate::h2::engineio::MAX_POLLS
                        ),
                    );
                }
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
        // A leg held for this one goes first, named by how this one ended.
        if let Some(held) = record
            .handshake_id
            .and_then(|id| self.held_legs.remove(&id))
        {
            self.release_leg(meter, held, proxy_shutdown(&record).as_ref());
        }
        let hold = self.blame_idle(&mut record);
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
        match hold {
            Some((partner, proxy)) => self.hold_leg(meter, partner, proxy, record),
            None => self.out.push(Event::Connection(Box::new(record))),
        }
        self.engineio_done(stats);
    }

    /// Holds `record` until its HTTP/2 partner `partner` ends ([`HeldLeg`]); the oldest held
    /// goes out as it would have without the hold when [`MAX_PROXY_LEGS`] are held.
    fn hold_leg(
        &mut self,
        meter: &mut Meter,
        partner: u64,
        proxy: String,
        record: ConnectionRecord,
    ) {
        while self.held_legs.len() >= MAX_PROXY_LEGS {
            let Some((_, oldest)) = self.held_legs.pop_first() else {
                break;
            };
            self.release_leg(meter, oldest, None);
        }
        self.held_legs.insert(
            partner,
            HeldLeg {
                record: Box::new(record),
                proxy,
            },
        );
        self.settle_held(meter);
    }

    /// Writes a held leg's record: its silent teardown is the proxy's `shutdown` when its
    /// partner showed one that fits, else the proxy's idle timeout, as it is without a hold.
    fn release_leg(&mut self, meter: &mut Meter, held: HeldLeg, shutdown: Option<&ProxyShutdown>) {
        let HeldLeg { mut record, proxy } = held;
        let named = shutdown.is_some_and(|s| name_proxy_shutdown(&mut record, s, &proxy));
        if !named {
            name_idle_timeout(
                &mut record,
                &IdleEvidence {
                    user_timeouts_ms: self.proxy_idle_timeouts.as_ms(),
                    closing_proxy: Some(&proxy),
                },
            );
        }
        self.out.push(Event::Connection(record));
        self.settle_held(meter);
    }

    fn settle_held(&mut self, meter: &mut Meter) {
        let bytes = self
            .held_legs
            .values()
            .map(|h| connection_weight(&h.record))
            .sum();
        self.held_account.set(meter, bytes);
    }

    /// Names an intermediary's idle timeout on `record` from what the session could not
    /// know: the user's `--proxy-idle-timeout` values, and a proxy hop whose proxy closed
    /// this leg (not passing on the other leg's close) — unless the hop's HTTP/2 client leg
    /// shows the proxy shutting down: then the shutdown is named instead. When that leg is
    /// still open, the answer waits for its end: returns the partner's id and the proxy to
    /// hold `record` for ([`HeldLeg`]), with `record` not yet named.
    fn blame_idle(&mut self, record: &mut ConnectionRecord) -> Option<(u64, String)> {
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
            let partner_end = self.ended_legs.remove(&leg.partner);
            let relayed = partner_end.as_ref().is_some_and(|e| !e.proxy_closed);
            let partner_open = self.proxy_legs.contains_key(&leg.partner);
            if partner_open {
                if self.ended_legs.len() >= MAX_PROXY_LEGS {
                    self.ended_legs.pop_first();
                }
                let shutdown = proxy_shutdown(record);
                self.ended_legs.insert(
                    id,
                    EndedLeg {
                        proxy_closed,
                        shutdown,
                    },
                );
            }
            if proxy_closed && !relayed {
                let shutdown = partner_end.and_then(|e| e.shutdown);
                if shutdown.is_some_and(|s| name_proxy_shutdown(record, &s, &leg.proxy)) {
                    return None;
                }
                if partner_open && leg.partner_h2 && silent_teardown(record).is_some() {
                    return Some((leg.partner, leg.proxy));
                }
                proxy = Some(leg.proxy);
            }
        }
        let user = self.proxy_idle_timeouts;
        if proxy.is_none() && user.as_ms().is_empty() {
            return None;
        }
        name_idle_timeout(
            record,
            &IdleEvidence {
                user_timeouts_ms: user.as_ms(),
                closing_proxy: proxy.as_deref(),
            },
        );
        None
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
        for (id, partner, proxy_peer, partner_h2) in [
            (
                hop.downstream,
                hop.upstream,
                Peer::Server,
                hop.upstream_h2_stream.is_some(),
            ),
            (
                hop.upstream,
                hop.downstream,
                Peer::Client,
                hop.downstream_h2_stream.is_some(),
            ),
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
                    partner_h2,
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
        let due: Vec<u64> = self
            .held_legs
            .iter()
            .filter(|(_, h)| h.record.end_ts <= cutoff)
            .map(|(k, _)| *k)
            .collect();
        for partner in due {
            if let Some(held) = self.held_legs.remove(&partner) {
                self.release_leg(meter, held, None);
            }
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
        // Held legs whose partner wrote no record (a failed handshake's): as they are.
        while let Some((_, held)) = self.held_legs.pop_first() {
            self.release_leg(meter, held, None);
        }
        self.note_capture_evidence(stats);
        for session in self.engineio.finish(meter) {
            self.note_engineio(stats, &session);
            self.out.push(Event::EngineIo(Box::new(session)));
        }
        // Nothing is left to link with: the remembered legs go (freed with the correlator).
        self.retired_hops = std::mem::take(&mut self.hops);
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
            + self
                .held_legs
                .values()
                .map(|h| connection_weight(&h.record))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::hop::testing::{h2_torn, upstream_torn};
    use crate::event::BrokenAt;

    /// HAProxy-like: the client's extended CONNECT on stream 1 (#1) translated into an
    /// HTTP/1.1 upgrade to the upstream (#2), both switched.
    fn hop() -> HopLink {
        HopLink {
            downstream: 1,
            upstream: 2,
            client: "10.0.0.1:50000".parse().unwrap(),
            proxy: "10.0.0.2:80".parse().unwrap(),
            proxy_software: None,
            upstream_server: "10.0.0.3:8080".parse().unwrap(),
            key: "k".into(),
            request_line: None,
            request_changes: Vec::new(),
            upstream_status: Some(101),
            downstream_status: Some(200),
            response_changes: Vec::new(),
            broken_at: BrokenAt::Nowhere,
            explanation: String::new(),
            correction: None,
            downstream_h2_stream: Some(1),
            upstream_h2_stream: None,
        }
    }

    struct Stage {
        corr: Correlator,
        stats: Stats,
        meter: Meter,
        key: FlowKey,
    }

    impl Stage {
        fn new(config: &EngineConfig) -> Self {
            let mut corr = Correlator::new(config);
            corr.note_proxy_legs(&hop());
            let ip = "10.0.0.1".parse().unwrap();
            Stage {
                corr,
                stats: Stats::default(),
                meter: Meter::new(),
                key: FlowKey::new(ip, 1, ip, 2).0,
            }
        }

        /// Feeds a leg's record; the connection records written since, as (handshake id,
        /// finding codes, first message).
        fn ended(&mut self, record: ConnectionRecord) -> Vec<(u64, Vec<Code>, String)> {
            let stream = StreamId(record.h2_stream_id.unwrap_or(0));
            self.corr.connection(
                &mut self.stats,
                &mut self.meter,
                self.key,
                stream,
                record,
                None,
            );
            self.written(false)
        }

        fn written(&mut self, finish: bool) -> Vec<(u64, Vec<Code>, String)> {
            let mut out = Vec::new();
            let mut emit = |e: Event| {
                if let Event::Connection(c) = e {
                    let codes = c.findings.iter().map(|f| f.code).collect();
                    let first = c.findings.first().map(|f| f.message.clone());
                    out.push((
                        c.handshake_id.unwrap_or(0),
                        codes,
                        first.unwrap_or_default(),
                    ));
                }
            };
            if finish {
                self.corr
                    .finish(&mut self.stats, &mut self.meter, &mut emit);
            } else {
                self.corr.release(&mut self.stats, &mut emit);
            }
            out
        }
    }

    const SHUTDOWN: &str = "the client (the proxy at 10.0.0.2:80) tore the connection down (RST) 2.0 s after the proxy's graceful GOAWAY";
    const IDLE: &str = "the client tore the connection down (RST) after 2.4 s with no frames and no close frame: the closing side is the proxy at 10.0.0.2:80 (a proxy hop in this capture): likely its idle timeout";

    #[test]
    fn an_upstream_leg_torn_down_first_waits_for_its_h2_partner_to_name_the_proxys_shutdown() {
        let mut s = Stage::new(&EngineConfig::default());
        // HAProxy's hard stop: the upstream leg's RST 0.1 ms before the h2 leg's RST_STREAM.
        assert!(
            s.ended(upstream_torn(2.4)).is_empty(),
            "held for its partner"
        );
        assert!(s.meter.held() > 0, "the held record is registered");
        assert_eq!(s.meter.held(), s.corr.memory_walked());
        let out = s.ended(h2_torn(2.4001, Some((Peer::Server, 0, 0.4))));
        let ids: Vec<u64> = out.iter().map(|o| o.0).collect();
        assert_eq!(ids, [2, 1], "in the order they ended");
        assert_eq!(out[0].1, [Code::ConnectionReset]);
        assert!(out[0].2.starts_with(SHUTDOWN), "{}", out[0].2);
        assert_eq!(out[1].1, [Code::ConnectionReset, Code::H2GoawayGraceful]);
        assert_eq!(s.meter.held(), s.corr.memory_walked());
        assert!(s.written(true).is_empty());
        assert_eq!(s.meter.held(), 0);
    }

    #[test]
    fn an_upstream_leg_torn_down_after_its_h2_partner_names_the_proxys_shutdown_at_once() {
        let mut s = Stage::new(&EngineConfig::default());
        let out = s.ended(h2_torn(2.3999, Some((Peer::Server, 0, 0.4))));
        assert_eq!(out.len(), 1);
        let out = s.ended(upstream_torn(2.4));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].0, out[0].1.as_slice()),
            (2, &[Code::ConnectionReset][..])
        );
        assert!(out[0].2.starts_with(SHUTDOWN), "{}", out[0].2);
    }

    #[test]
    fn without_the_proxys_goaway_the_upstream_leg_is_still_its_idle_timeout_either_way_round() {
        for goaway in [None, Some((Peer::Client, 0, 0.4))] {
            let mut s = Stage::new(&EngineConfig::default());
            assert!(s.ended(upstream_torn(2.4)).is_empty());
            let out = s.ended(h2_torn(2.4001, goaway));
            assert_eq!(out[0].0, 2);
            assert_eq!(
                (out[0].1.as_slice(), out[0].2.as_str()),
                (&[Code::IdleTimeout][..], IDLE)
            );

            let mut s = Stage::new(&EngineConfig::default());
            s.ended(h2_torn(2.3999, goaway));
            let out = s.ended(upstream_torn(2.4));
            assert_eq!(
                (out[0].1.as_slice(), out[0].2.as_str()),
                (&[Code::IdleTimeout][..], IDLE)
            );
        }
    }

    #[test]
    fn a_held_leg_goes_out_at_the_end_or_after_the_response_timeout_live() {
        // Its partner never wrote a record (a failed handshake's, say): at the end, as it is.
        let mut s = Stage::new(&EngineConfig::default());
        assert!(s.ended(upstream_torn(2.4)).is_empty());
        let out = s.written(true);
        assert_eq!((out[0].0, out[0].2.as_str()), (2, IDLE));
        assert_eq!(s.meter.held(), 0);
        // Live: no longer than --response-timeout after its end.
        let live = EngineConfig {
            response_timeout_ns: Some(5_000_000_000),
            ..EngineConfig::default()
        };
        let mut s = Stage::new(&live);
        assert!(s.ended(upstream_torn(2.4)).is_empty());
        s.corr.tick(&mut s.meter, Timestamp(7_000_000_000));
        assert!(s.written(false).is_empty(), "not yet");
        s.corr.tick(&mut s.meter, Timestamp(7_400_000_000));
        let out = s.written(false);
        assert_eq!((out[0].0, out[0].2.as_str()), (2, IDLE));
        assert_eq!(s.meter.held(), 0);
    }
}
