//! Engine.IO sessions across connections: folds every piece that carries one `sid` (the
//! open poll, the polls and posts, the websocket attempt and its handshake record, the
//! Engine.IO packets inside its WebSocket) into one [`EngineIoSession`], and names what
//! went wrong: a request that reached a backend that never created the sid (400 Session ID
//! unknown, with the backends named when both proxy legs are captured), a session that
//! never left polling, a probe without answer, a refused protocol revision, a ping timeout,
//! a refused Socket.IO namespace.
//!
//! Fed in packet order by the engine, pure and deterministic: sessions live in a `BTreeMap`
//! keyed by sid, at most [`MAX_SESSIONS`] (the oldest is written out to make room), and a
//! session is written when it is known to be over (a close packet, its WebSocket ended,
//! a refusal that ends it) or when the capture ends.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::engineio::observer::{EioObserver, PingState};
use crate::engineio::packet::{self, Kind, Open};
use crate::engineio::socketio::{self, SioKind};
use crate::engineio::target::{self, Target, Transport};
use crate::event::{
    ConnectionRecord, EioConnection, EioError, EioHeartbeat, EioOpen, EioUpgrade, EngineIoSession,
    HandshakeRecord, Message, Peer, SioNamespace, StartLine, Verdict,
};
use crate::finding::{Code, Finding, Severity};

/// Most sessions followed at once.
pub const MAX_SESSIONS: usize = 4096;
/// Most connections listed per session.
const MAX_CONNECTIONS: usize = 64;
/// Most error answers and namespaces kept per session.
const MAX_ERRORS: usize = 16;
/// Most distinct servers remembered per session (who opened it, who refused it).
const MAX_SERVERS: usize = 8;
/// Websocket attempts without a sid (websocket-only clients) waiting for their open packet.
const MAX_WAITING: usize = 1024;

/// One polling exchange as the tracker reads it.
#[derive(Clone, Copy, Debug)]
pub struct Poll<'a> {
    /// Client endpoint of the connection.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// The request (its body for a POST).
    pub request: &'a Message,
    /// The response (its body), if it came.
    pub response: Option<&'a Message>,
}

#[derive(Debug, Default)]
struct State {
    record: Option<EngineIoSession>,
    /// Servers that answered with this session's open packet, and those that said they
    /// never heard of it.
    opened_by: Vec<SocketAddr>,
    unknown_at: Vec<SocketAddr>,
    heartbeat: PingState,
    malformed: Option<(String, u64)>,
    closed: bool,
    ws_ended: bool,
    ws_ping_timeout: Option<String>,
    /// A 101 whose probe went unanswered.
    probe_unanswered: bool,
    /// The upgrade's handshake findings, for the fallback's cause.
    upgrade_cause: Option<String>,
    first_ts: Option<Timestamp>,
}

/// A websocket attempt without a sid: its open packet arrives in the WebSocket.
#[derive(Debug)]
struct Waiting {
    target: Target,
    conn: EioConnection,
    upgrade: EioUpgrade,
    ts: Timestamp,
}

/// The sessions being followed.
#[derive(Debug, Default)]
pub struct EngineIoTracker {
    sessions: BTreeMap<String, State>,
    /// Order sessions were first seen, for the cap.
    order: std::collections::VecDeque<String>,
    /// Handshake id → sid of websocket attempts with a sid.
    by_handshake: BTreeMap<u64, String>,
    waiting: BTreeMap<u64, Waiting>,
    done: Vec<EngineIoSession>,
}

fn target_of(m: &Message) -> Option<&str> {
    match &m.head.start {
        StartLine::Request { target, .. } => Some(target),
        StartLine::Response { .. } => None,
    }
}

fn new_record(t: &Target, ts: Timestamp) -> EngineIoSession {
    EngineIoSession {
        sid: t.sid.clone(),
        version: t.version,
        path: t.path.clone(),
        ts,
        end_ts: ts,
        open: None,
        transport: "polling",
        polls: 0,
        upgrade: None,
        connections: Vec::new(),
        errors: Vec::new(),
        namespaces: Vec::new(),
        heartbeat: EioHeartbeat::default(),
        ending: "capture_ended",
        findings: Vec::new(),
    }
}

fn remember(list: &mut Vec<SocketAddr>, a: SocketAddr) {
    if !list.contains(&a) && list.len() < MAX_SERVERS {
        list.push(a);
    }
}

fn open_of(o: &Open, transport: Transport, packet: u64) -> EioOpen {
    EioOpen {
        transport: transport.as_str(),
        packet,
        upgrades: o.upgrades.clone(),
        ping_interval_ms: o.ping_interval_ms,
        ping_timeout_ms: o.ping_timeout_ms,
        max_payload: o.max_payload,
    }
}

fn note_connection(r: &mut EngineIoSession, conn: EioConnection) {
    if let Some(c) = r
        .connections
        .iter_mut()
        .find(|c| c.client == conn.client && c.server == conn.server)
    {
        c.requests += conn.requests;
        c.handshake_id = c.handshake_id.or(conn.handshake_id);
        if conn.transport == "websocket" {
            c.transport = "websocket";
        }
    } else if r.connections.len() < MAX_CONNECTIONS {
        r.connections.push(conn);
    }
}

fn note_namespace(r: &mut EngineIoSession, nsp: &str, connected: bool, error: Option<String>) {
    if let Some(n) = r.namespaces.iter_mut().find(|n| n.namespace == nsp) {
        n.connected |= connected;
        if error.is_some() {
            n.error = error;
        }
    } else if r.namespaces.len() < MAX_ERRORS {
        r.namespaces.push(SioNamespace {
            namespace: nsp.to_owned(),
            connected,
            error,
        });
    }
}

impl EngineIoTracker {
    /// Nothing followed yet.
    #[must_use]
    pub fn new() -> Self {
        EngineIoTracker::default()
    }

    /// Sessions followed now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is followed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.waiting.is_empty()
    }

    /// Sessions known to be over since the last call, in the order they ended.
    pub fn take_done(&mut self) -> Vec<EngineIoSession> {
        std::mem::take(&mut self.done)
    }

    fn state(&mut self, sid: &str, t: &Target, ts: Timestamp) -> &mut State {
        if !self.sessions.contains_key(sid) {
            if self.sessions.len() >= MAX_SESSIONS {
                while let Some(old) = self.order.pop_front() {
                    if let Some(st) = self.sessions.remove(&old) {
                        self.done.extend(finish_state(st));
                        break;
                    }
                }
            }
            self.order.push_back(sid.to_owned());
            let mut record = new_record(t, ts);
            record.sid = Some(sid.to_owned());
            self.sessions.insert(
                sid.to_owned(),
                State {
                    record: Some(record),
                    first_ts: Some(ts),
                    ..State::default()
                },
            );
        }
        self.sessions.entry(sid.to_owned()).or_default()
    }

    /// One polling exchange (a GET or POST whose target names `EIO=`).
    pub fn poll(&mut self, p: &Poll<'_>) {
        let Some(t) = target_of(p.request).and_then(target::parse) else {
            return;
        };
        let ts = p.request.first_ts;
        let first_packet = p.request.packets.first().copied().unwrap_or(0);
        let is_post = p.request.head.method() == Some("POST");
        let status = p.response.and_then(|r| r.head.status());
        let resp_body = p
            .response
            .and_then(|r| r.body.as_ref())
            .map(|b| b.bytes.as_slice())
            .unwrap_or_default();
        let resp_packet = p
            .response
            .and_then(|r| r.packets.first().copied())
            .unwrap_or(first_packet);
        let error = (status.is_some_and(|s| s >= 400))
            .then(|| packet::error_body(resp_body))
            .flatten();
        // The sid: the request's, or the open packet's in the answer.
        let mut open = None;
        let mut malformed = None;
        let mut packets_in = Vec::new();
        if status == Some(200) && !is_post {
            match packet::parse_payload(t.version, resp_body) {
                Ok(payload) => {
                    for pk in payload.packets {
                        if pk.kind == Kind::Open {
                            match packet::parse_open(&pk.data) {
                                Ok(o) => open = Some(o),
                                Err(e) => malformed = Some(e.0),
                            }
                        }
                        packets_in.push((Peer::Server, pk.kind, pk.is_probe(), sio_of(&pk)));
                    }
                }
                Err(e) => malformed = Some(e.0),
            }
        }
        if is_post {
            let body = p
                .request
                .body
                .as_ref()
                .map(|b| b.bytes.as_slice())
                .unwrap_or_default();
            match packet::parse_payload(t.version, body) {
                Ok(payload) => {
                    for pk in payload.packets {
                        packets_in.push((Peer::Client, pk.kind, pk.is_probe(), sio_of(&pk)));
                    }
                }
                Err(e) => malformed = Some(e.0),
            }
        }
        let sid = t
            .sid
            .clone()
            .or_else(|| open.as_ref().map(|o| o.sid.clone()));
        let Some(sid) = sid else {
            // No session came of it: a refused (or unreadable) open is a record of its own;
            // an open whose answer is not in the capture says nothing.
            if error.is_none() && malformed.is_none() {
                return;
            }
            let mut record = new_record(&t, ts);
            record.polls = 1;
            record.connections.push(EioConnection {
                client: p.client,
                server: p.server,
                transport: "polling",
                requests: 1,
                handshake_id: None,
                first_packet,
            });
            if let (Some(e), Some(status)) = (&error, status) {
                record.errors.push(EioError {
                    status,
                    code: e.code,
                    message: e.message.clone(),
                    packet: resp_packet,
                    server: p.server,
                });
            }
            record.end_ts = p.response.map_or(ts, |r| r.last_ts);
            record.ending = if error.is_some() {
                "rejected"
            } else {
                "capture_ended"
            };
            let st = State {
                record: Some(record),
                malformed: malformed.map(|m| (m, 1)),
                ..State::default()
            };
            self.done.extend(finish_state(st));
            return;
        };
        let st = self.state(&sid, &t, ts);
        let Some(record) = st.record.as_mut() else {
            return;
        };
        record.polls += 1;
        record.end_ts = record.end_ts.max(p.response.map_or(ts, |r| r.last_ts));
        note_connection(
            record,
            EioConnection {
                client: p.client,
                server: p.server,
                transport: "polling",
                requests: 1,
                handshake_id: None,
                first_packet,
            },
        );
        if let Some(o) = &open {
            remember(&mut st.opened_by, p.server);
            if record.open.is_none() {
                record.open = Some(open_of(o, Transport::Polling, resp_packet));
            }
        }
        if let (Some(e), Some(status)) = (&error, status) {
            if e.code == 1 {
                remember(&mut st.unknown_at, p.server);
            }
            if record.errors.len() < MAX_ERRORS {
                record.errors.push(EioError {
                    status,
                    code: e.code,
                    message: e.message.clone(),
                    packet: resp_packet,
                    server: p.server,
                });
            }
        }
        if let Some(m) = malformed {
            match &mut st.malformed {
                Some((_, n)) => *n += 1,
                None => st.malformed = Some((m, 1)),
            }
        }
        let pinger = if t.version >= 4 {
            Peer::Server
        } else {
            Peer::Client
        };
        let at = if is_post {
            ts
        } else {
            p.response.map_or(ts, |r| r.first_ts)
        };
        for (peer, kind, probe, sio) in packets_in {
            match kind {
                Kind::Ping if peer == pinger && !probe => {
                    st.heartbeat.pings += 1;
                    st.heartbeat.unanswered = Some((resp_packet, at));
                }
                Kind::Pong if peer != pinger && !probe => {
                    st.heartbeat.pongs += 1;
                    if let Some((_, t0)) = st.heartbeat.unanswered.take() {
                        st.heartbeat.max_wait_ns = st.heartbeat.max_wait_ns.max(at.nanos_since(t0));
                    }
                }
                Kind::Close => st.closed = true,
                _ => {}
            }
            if let Some(s) = sio {
                apply_sio(record, peer, &s);
            }
        }
    }

    /// A handshake record whose request target names Engine.IO's websocket transport.
    pub fn handshake(&mut self, r: &HandshakeRecord) {
        let Some(t) = r
            .request
            .as_ref()
            .and_then(target_of)
            .and_then(target::parse)
        else {
            return;
        };
        if t.transport != Transport::Websocket {
            return;
        }
        let first_packet = r
            .request
            .as_ref()
            .and_then(|m| m.packets.first().copied())
            .unwrap_or(0);
        let conn = EioConnection {
            client: r.client,
            server: r.server,
            transport: "websocket",
            requests: 0,
            handshake_id: Some(r.id),
            first_packet,
        };
        let cause = (r.verdict != Verdict::Ok).then(|| {
            r.findings
                .iter()
                .find(|f| f.severity == Severity::Error)
                .map_or_else(
                    || {
                        format!(
                            "HTTP {}",
                            r.status.map_or("(none)".to_owned(), |s| s.to_string())
                        )
                    },
                    |f| f.code.as_str().to_owned(),
                )
        });
        let upgrade = EioUpgrade {
            handshake_id: Some(r.id),
            status: r.status,
            verdict: r.verdict.as_str(),
            probe_sent: false,
            probe_answered: false,
            upgraded: false,
        };
        let body_error = r
            .response
            .as_ref()
            .and_then(|m| m.body.as_ref())
            .and_then(|b| packet::error_body(&b.bytes));
        let Some(sid) = t.sid.clone() else {
            // websocket-only: the sid comes in the open packet, at the connection's end.
            if r.status == Some(101) {
                if self.waiting.len() >= MAX_WAITING {
                    return;
                }
                self.waiting.insert(
                    r.id,
                    Waiting {
                        target: t,
                        conn,
                        upgrade,
                        ts: r.ts,
                    },
                );
            } else if let (Some(e), Some(status)) = (body_error, r.status) {
                // Refused with an Engine.IO error before a session existed; an attempt with
                // no Engine.IO answer (none captured, or another server's) says nothing of
                // a session.
                let mut record = new_record(&t, r.ts);
                record.transport = "websocket";
                record.connections.push(conn);
                record.upgrade = Some(upgrade);
                record.errors.push(EioError {
                    status,
                    code: e.code,
                    message: e.message,
                    packet: r
                        .response
                        .as_ref()
                        .and_then(|m| m.packets.first().copied())
                        .unwrap_or(0),
                    server: r.server,
                });
                record.ending = "rejected";
                self.done.extend(finish_state(State {
                    record: Some(record),
                    ..State::default()
                }));
            }
            return;
        };
        let st = self.state(&sid, &t, r.ts);
        st.upgrade_cause = cause;
        let Some(record) = st.record.as_mut() else {
            return;
        };
        note_connection(record, conn);
        if let (Some(e), Some(status)) = (body_error, r.status) {
            if e.code == 1 {
                remember(&mut st.unknown_at, r.server);
            }
            if record.errors.len() < MAX_ERRORS {
                record.errors.push(EioError {
                    status,
                    code: e.code,
                    message: e.message,
                    packet: r
                        .response
                        .as_ref()
                        .and_then(|m| m.packets.first().copied())
                        .unwrap_or(0),
                    server: r.server,
                });
            }
        }
        // A proxy's two legs each bring a handshake: the first one that switched stays.
        let keep_old = record
            .upgrade
            .as_ref()
            .is_some_and(|u| u.status == Some(101));
        if !keep_old {
            record.upgrade = Some(upgrade);
        }
        if r.status == Some(101) {
            self.by_handshake.insert(r.id, sid);
        }
    }

    /// A WebSocket connection that carried Engine.IO ended: `eio` is what its observer read.
    pub fn websocket_ended(&mut self, record: &ConnectionRecord, eio: &EioObserver) {
        let Some(id) = record.handshake_id else {
            return;
        };
        let sid = if let Some(sid) = self.by_handshake.remove(&id) {
            sid
        } else if let Some(w) = self.waiting.remove(&id) {
            // websocket-only: the open packet names the session.
            let Some((open, packet)) = eio
                .packets
                .iter()
                .find_map(|p| p.open.as_ref().map(|o| (o, p.packet)))
            else {
                return;
            };
            let mut t = w.target.clone();
            t.sid = Some(open.sid.clone());
            let sid = open.sid.clone();
            let st = self.state(&sid, &t, w.ts);
            if let Some(r) = st.record.as_mut() {
                r.open = Some(open_of(open, Transport::Websocket, packet));
                r.transport = "websocket";
                note_connection(r, w.conn);
                r.upgrade = None;
                let _ = w.upgrade;
            }
            sid
        } else {
            return;
        };
        let Some(st) = self.sessions.get_mut(&sid) else {
            return;
        };
        let Some(r) = st.record.as_mut() else {
            return;
        };
        r.end_ts = r.end_ts.max(record.end_ts);
        let mut upgraded = false;
        for p in &eio.packets {
            match (p.kind, p.probe, p.peer) {
                (Kind::Ping, true, Peer::Client) => {
                    if let Some(u) = r.upgrade.as_mut() {
                        u.probe_sent = true;
                    }
                }
                (Kind::Pong, true, Peer::Server) => {
                    if let Some(u) = r.upgrade.as_mut() {
                        u.probe_answered = true;
                    }
                }
                (Kind::Upgrade, _, Peer::Client) => upgraded = true,
                (Kind::Close, _, _) => st.closed = true,
                _ => {}
            }
            if let Some(s) = &p.sio {
                apply_sio(r, p.peer, s);
            }
        }
        if let Some(u) = r.upgrade.as_mut() {
            u.upgraded |= upgraded;
            if u.probe_sent && !u.probe_answered && !upgraded {
                st.probe_unanswered = true;
            }
        }
        let on_websocket = upgraded || r.upgrade.is_none();
        if on_websocket {
            r.transport = "websocket";
            st.ws_ended = true;
            // The WebSocket carried the session from here: its pings are the session's.
            st.heartbeat.pings += eio.pings.pings;
            st.heartbeat.pongs += eio.pings.pongs;
            st.heartbeat.max_wait_ns = st.heartbeat.max_wait_ns.max(eio.pings.max_wait_ns);
            if let Some((packet, at)) = eio.pings.unanswered {
                let waited = record.end_ts.nanos_since(at);
                let timeout_ms = r.open.as_ref().and_then(|o| o.ping_timeout_ms);
                #[allow(clippy::cast_precision_loss)]
                let waited_ms = waited as f64 / 1e6;
                if timeout_ms.is_some_and(|t| waited_ms >= t as f64 * 0.9) && !st.closed {
                    st.ws_ping_timeout = Some(format!(
                        "the ping in packet {packet} got no pong: the WebSocket ended {waited_ms:.0} ms later (pingTimeout {} ms)",
                        timeout_ms.unwrap_or(0)
                    ));
                }
            }
        }
        if let Some((why, n)) = &eio.malformed {
            match &mut st.malformed {
                Some((_, m)) => *m += n,
                None => st.malformed = Some((why.clone(), *n)),
            }
        }
        if st.ws_ended || st.closed {
            if let Some(st) = self.sessions.remove(&sid) {
                self.order.retain(|s| *s != sid);
                self.done.extend(finish_state(st));
            }
        }
    }

    /// End of input: every session still followed is written.
    pub fn finish(&mut self) -> Vec<EngineIoSession> {
        let mut out = self.take_done();
        for (_, st) in std::mem::take(&mut self.sessions) {
            out.extend(finish_state(st));
        }
        self.order.clear();
        self.by_handshake.clear();
        self.waiting.clear();
        out.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.sid.cmp(&b.sid)));
        out
    }
}

fn sio_of(p: &packet::Packet<'_>) -> Option<socketio::SioPacket> {
    (p.kind == Kind::Message && !p.binary)
        .then(|| socketio::parse(&p.data))
        .flatten()
}

fn apply_sio(r: &mut EngineIoSession, peer: Peer, s: &socketio::SioPacket) {
    match (s.kind, peer) {
        (SioKind::Connect, Peer::Client) => note_namespace(r, &s.namespace, false, None),
        (SioKind::Connect, Peer::Server) => note_namespace(r, &s.namespace, true, None),
        (SioKind::ConnectError, _) => note_namespace(r, &s.namespace, false, s.error.clone()),
        _ => {}
    }
}

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The record of a session that is over, with its findings.
fn finish_state(st: State) -> Option<EngineIoSession> {
    let mut r = st.record?;
    r.connections.sort_by_key(|c| c.first_packet);
    r.heartbeat = EioHeartbeat {
        pings: st.heartbeat.pings,
        pongs: st.heartbeat.pongs,
        #[allow(clippy::cast_precision_loss)]
        max_pong_wait_ms: (st.heartbeat.max_wait_ns as f64 / 1e3).round() / 1e3,
    };
    let _ = st.first_ts;
    let mut findings = Vec::new();
    // One finding per error code: a proxy's two legs carry the same answer twice.
    let mut seen_codes: Vec<i64> = Vec::new();
    for e in &r.errors {
        if seen_codes.contains(&e.code) {
            continue;
        }
        seen_codes.push(e.code);
        let packets: Vec<u64> = r
            .errors
            .iter()
            .filter(|x| x.code == e.code)
            .map(|x| x.packet)
            .collect();
        match e.code {
            1 => {}
            5 => findings.push(
                Finding::new(
                    Code::EngineioUnsupportedVersion,
                    format!(
                        "the client asked for Engine.IO revision {} (EIO={}); {} answered HTTP {} \"{}\"",
                        r.version, r.version, e.server, e.status, e.message
                    ),
                )
                .packets(&packets),
            ),
            c => findings.push(
                Finding::new(
                    Code::EngineioRejected,
                    format!(
                        "{} answered HTTP {} with Engine.IO error {c} ({}): \"{}\"",
                        e.server,
                        e.status,
                        packet::error_name(c),
                        e.message
                    ),
                )
                .packets(&packets),
            ),
        }
    }
    if let Some(first) = r.errors.iter().find(|e| e.code == 1) {
        let packets: Vec<u64> = r
            .errors
            .iter()
            .filter(|e| e.code == 1)
            .map(|e| e.packet)
            .collect();
        let creators: Vec<SocketAddr> = st
            .opened_by
            .iter()
            .filter(|a| !st.unknown_at.contains(a))
            .copied()
            .collect();
        let strangers: Vec<SocketAddr> = st
            .unknown_at
            .iter()
            .filter(|a| !st.opened_by.contains(a))
            .copied()
            .collect();
        let message = if !creators.is_empty() && !strangers.is_empty() {
            format!(
                "the session was created by {} but {} answered 400 \"{}\" to a request carrying its sid: the balancer sent the session's requests to different backends",
                list(&creators),
                list(&strangers),
                first.message
            )
        } else {
            format!(
                "{} answered 400 \"{}\" to a request carrying the sid that {} opened: a balancer behind it sends the session's requests to different backends (capture the upstream side to name them)",
                first.server,
                first.message,
                if st.opened_by.is_empty() {
                    "an earlier request".to_owned()
                } else {
                    list(&st.opened_by)
                }
            )
        };
        findings.push(Finding::new(Code::EngineioSessionUnknown, message).packets(&packets));
        r.ending = "session_unknown";
    }
    if st.probe_unanswered {
        let id = r.upgrade.as_ref().and_then(|u| u.handshake_id).unwrap_or(0);
        findings.push(Finding::new(
            Code::EngineioProbeUnanswered,
            format!("the WebSocket of handshake #{id} opened, the client sent 2probe and no 3probe came back"),
        ));
    }
    let offered_ws = r
        .open
        .as_ref()
        .is_some_and(|o| o.upgrades.iter().any(|u| u == "websocket"));
    let session_unknown = r.errors.iter().any(|e| e.code == 1);
    // A refused namespace ends the client's attempt: that, not the transport, is the story.
    let refused = r.namespaces.iter().any(|n| n.error.is_some());
    if r.transport == "polling" && r.open.is_some() && !session_unknown && !refused {
        let why = match (&r.upgrade, offered_ws) {
            (_, false) => Some(
                "the server offered no upgrade (`upgrades: []` in the open packet)".to_owned(),
            ),
            (None, true) => Some(
                "the client never attempted the upgrade to websocket the server offered".to_owned(),
            ),
            (Some(u), true) if u.status != Some(101) => Some(format!(
                "the upgrade (handshake #{}) was refused: HTTP {}{}",
                u.handshake_id.unwrap_or(0),
                u.status.map_or("(no answer)".to_owned(), |s| s.to_string()),
                st.upgrade_cause
                    .as_deref()
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default()
            )),
            (Some(u), true) if !u.upgraded => Some(format!(
                "the WebSocket of handshake #{} opened but the client never sent the upgrade packet 5",
                u.handshake_id.unwrap_or(0)
            )),
            _ => None,
        };
        if let Some(why) = why {
            findings.push(Finding::new(
                Code::EngineioFellBackToPolling,
                format!(
                    "{why}; the session went on over polling ({} polling requests)",
                    r.polls
                ),
            ));
        }
    }
    if let Some(why) = st.ws_ping_timeout {
        findings.push(Finding::new(Code::EngineioPingTimeout, why));
        r.ending = "ping_timeout";
    }
    for n in &r.namespaces {
        if let Some(msg) = &n.error {
            findings.push(Finding::new(
                Code::SocketioNamespaceRefused,
                format!(
                    "namespace {}: the server answered CONNECT_ERROR \"{msg}\"",
                    n.namespace
                ),
            ));
        }
    }
    if let Some((why, n)) = &st.malformed {
        findings.push(Finding::new(
            Code::EngineioMalformed,
            format!("{why} ({n} time{})", if *n == 1 { "" } else { "s" }),
        ));
    }
    if r.ending == "capture_ended" {
        if st.closed {
            r.ending = "close_packet";
        } else if st.ws_ended {
            r.ending = "transport_closed";
        } else if !r.errors.is_empty() {
            r.ending = "rejected";
        }
    }
    r.findings = findings;
    Some(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::event::BodyExcerpt;
    use crate::http::head::{parse_head, HeadParse};

    fn msg(head: &str, body: &[u8], packet: u64) -> Message {
        let bytes = head.as_bytes();
        let HeadParse::Complete(h) = parse_head(
            bytes,
            bytes.len(),
            head.starts_with("GET") || head.starts_with("POST"),
        ) else {
            panic!("head does not parse: {head}");
        };
        Message {
            head: h,
            packets: vec![packet],
            first_ts: Timestamp(i64::try_from(packet).unwrap() * 1_000_000),
            last_ts: Timestamp(i64::try_from(packet).unwrap() * 1_000_000),
            truncated: false,
            body: Some(BodyExcerpt {
                bytes: body.to_vec(),
                length: Some(body.len() as u64),
                truncated: false,
                content_encoding: None,
                undecoded: false,
                problem: None,
            }),
            cut: None,
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn poll(t: &mut EngineIoTracker, server: u16, target: &str, status: &str, body: &[u8], n: u64) {
        let req = msg(&format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"), b"", n);
        let resp = msg(
            &format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            body,
            n + 1,
        );
        t.poll(&Poll {
            client: addr(40000 + u16::try_from(n).unwrap()),
            server: addr(server),
            request: &req,
            response: Some(&resp),
        });
    }

    const OPEN: &[u8] =
        br#"0{"sid":"S1","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200}"#;
    const UNKNOWN: &[u8] = br#"{"code":1,"message":"Session ID unknown"}"#;

    #[test]
    fn session_unknown_names_the_backend_that_opened_the_sid_and_the_one_that_refused() {
        let mut t = EngineIoTracker::new();
        // The proxy's upstream leg (backend 81), then its client leg (the proxy at 80).
        poll(
            &mut t,
            81,
            "/socket.io/?EIO=4&transport=polling",
            "200 OK",
            OPEN,
            1,
        );
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling",
            "200 OK",
            OPEN,
            3,
        );
        poll(
            &mut t,
            82,
            "/socket.io/?EIO=4&transport=polling&sid=S1",
            "400 Bad Request",
            UNKNOWN,
            5,
        );
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling&sid=S1",
            "400 Bad Request",
            UNKNOWN,
            7,
        );
        let done = t.finish();
        assert_eq!(done.len(), 1);
        let s = &done[0];
        assert_eq!(s.sid.as_deref(), Some("S1"));
        assert_eq!(s.polls, 4);
        assert_eq!(s.connections.len(), 4);
        assert_eq!(s.findings.len(), 1, "{:?}", s.findings);
        assert_eq!(s.findings[0].code, Code::EngineioSessionUnknown);
        assert!(
            s.findings[0]
                .message
                .contains("created by 127.0.0.1:81 but 127.0.0.1:82"),
            "{}",
            s.findings[0].message
        );
        assert_eq!(s.findings[0].packets, [6, 8]);
        assert_eq!(s.ending, "session_unknown");
    }

    #[test]
    fn with_one_leg_the_balancer_behind_the_address_is_blamed() {
        let mut t = EngineIoTracker::new();
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling",
            "200 OK",
            OPEN,
            1,
        );
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling&sid=S1",
            "400 Bad Request",
            UNKNOWN,
            3,
        );
        let s = &t.finish()[0];
        assert!(s.findings[0].message.contains("capture the upstream side"));
    }

    #[test]
    fn a_session_that_never_upgrades_fell_back_to_polling_and_pings_are_counted() {
        let mut t = EngineIoTracker::new();
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling",
            "200 OK",
            OPEN,
            1,
        );
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling&sid=S1",
            "200 OK",
            b"2",
            3,
        );
        let req = msg("POST /socket.io/?EIO=4&transport=polling&sid=S1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", b"3", 5);
        let resp = msg("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok", 6);
        t.poll(&Poll {
            client: addr(1),
            server: addr(80),
            request: &req,
            response: Some(&resp),
        });
        let s = &t.finish()[0];
        assert_eq!((s.heartbeat.pings, s.heartbeat.pongs), (1, 1));
        assert_eq!(s.heartbeat.max_pong_wait_ms, 1.0);
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].code, Code::EngineioFellBackToPolling);
        assert!(s.findings[0].message.contains("never attempted"));
    }

    #[test]
    fn a_refused_open_is_its_own_record_and_sessions_are_capped() {
        let mut t = EngineIoTracker::new();
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=3&transport=polling",
            "400 Bad Request",
            br#"{"code":5,"message":"Unsupported protocol version"}"#,
            1,
        );
        let done = t.take_done();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].sid, None);
        assert_eq!(done[0].findings[0].code, Code::EngineioUnsupportedVersion);
        for i in 0..(MAX_SESSIONS as u64 + 3) {
            let open = format!(r#"0{{"sid":"s{i}","upgrades":[]}}"#);
            poll(
                &mut t,
                80,
                "/socket.io/?EIO=4&transport=polling",
                "200 OK",
                open.as_bytes(),
                10 + 2 * i,
            );
        }
        assert_eq!(t.len(), MAX_SESSIONS);
        assert_eq!(
            t.take_done().len(),
            3,
            "the oldest are written out to make room"
        );
    }
}
