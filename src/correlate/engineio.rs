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
//! session is written when it is over as its Socket.IO client and server see it, by
//! capture time, whether the capture is a file or live:
//! - its WebSocket ended (with or without a close packet): at once;
//! - a refusal before any sid existed: at once;
//! - a close packet over polling: [`IDLE_MARGIN_NS`] after the session's last exchange (a
//!   proxy's other leg, or the poll the server answers with the close, may still come);
//! - nothing closed it, no WebSocket of it is open, and no poll, post or upgrade came for
//!   pingInterval + pingTimeout (the server's heartbeat deadline: engine.io has closed it
//!   by then) plus [`IDLE_MARGIN_NS`]: ending `expired`;
//! - a session with a WebSocket open waits for that connection's end, which the flow
//!   table's rules decide (FIN, RST, `--flow-timeout`, eviction);
//! - when the capture ends, whatever is left ([`EngineIoTracker::finish`]).
//!
//! The deadlines sit in an index ordered by time, so [`EngineIoTracker::next_due`] is a
//! field read: the correlation stage checks it at every packet and at every live tick
//! ([`EngineIoTracker::expire`]), and `--threads 1` and `--threads N` write each session
//! at the same point of the output.
//!
//! Memory: every session's state is registered with the global budget (`--memcap`,
//! [`Use::EngineIo`]). A session whose state would grow past it is written out at once
//! with what it holds, marked `memcap_reached`: what came before is analysed, what comes
//! after is not linked to it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::engineio::observer::{EioObserver, PingState};
use crate::engineio::packet::{self, Kind, Open};
use crate::engineio::socketio::{self, SioKind};
use crate::engineio::target::{self, Target, Transport};
use crate::event::{
    ConnectionRecord, EioConnection, EioError, EioHeartbeat, EioOpen, EioUpgrade, Ending,
    EngineIoSession, HandshakeRecord, Message, Peer, SioNamespace, StartLine, Verdict,
};
use crate::finding::{Code, Finding, Severity};
use crate::memory::{Account, Meter, Use};

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
/// Estimated bytes a map or queue entry costs beyond its key and value (tree nodes, slots).
const ENTRY_OVERHEAD: usize = 64;
/// Time past pingInterval + pingTimeout after which an idle session is written out: the
/// server has closed it by then (Engine.IO closes a session whose heartbeat stops after
/// pingInterval + pingTimeout), and a long poll held open ends well within it (also when
/// python-engineio announces a pingInterval shorter than the one it keeps: it rounds down
/// to whole seconds). A session closed by a close packet over polling waits this alone.
pub const IDLE_MARGIN_NS: i64 = 10_000_000_000;
/// [`EngineIoTracker::next_due`] when no session is waiting for a deadline.
const NEVER: Timestamp = Timestamp(i64::MAX);
/// The heartbeat (pingInterval + pingTimeout) of a revision 4 session whose open packet is
/// not in the capture: the engine.io 4 server's defaults, 25 s + 20 s.
const DEFAULT_HEARTBEAT_MS_V4: u64 = 45_000;
/// The same for revisions 2 and 3: engine.io 3's pingInterval, 25 s, and the largest of
/// its pingTimeout defaults, 60 s (before 3.2; 5 s in 3.2–3.5, 20 s from 3.6).
const DEFAULT_HEARTBEAT_MS_V3: u64 = 85_000;

/// What one polling exchange showed, read before its session is looked up.
struct PollFacts {
    open: Option<Open>,
    error: Option<packet::ErrorBody>,
    malformed: Option<String>,
    packets_in: Vec<(Peer, Kind, bool, Option<socketio::SioPacket>)>,
    cut: bool,
    resp_packet: u64,
    not_served: Option<String>,
}

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
    /// Bodies of the exchange the memory budget had no room to read (0, 1 or 2).
    pub bodies_unread: u8,
    /// The exchange was not followed (its HTTP/2 connection had `h2::engineio::MAX_POLLS`
    /// polling streams open already): only its request head is known.
    pub not_followed: bool,
}

#[derive(Debug, Default)]
struct State {
    record: Option<EngineIoSession>,
    /// Servers that answered with this session's open packet, and those that said they
    /// never heard of it.
    opened_by: Vec<SocketAddr>,
    /// Answers "Session ID unknown" (code 1): (the answer's packet, its request's first
    /// packet, the server), at most [`MAX_ERRORS`].
    unknown: Vec<(u64, u64, SocketAddr)>,
    /// The first packet that carried one of the session's close packets (`1`, either side;
    /// a client's over polling once answered 200): a request sent after it is about a session its peers have closed, and the server's
    /// "Session ID unknown" to it is the close taking effect, not a request gone astray.
    closed_at: Option<u64>,
    heartbeat: PingState,
    malformed: Option<(String, u64)>,
    closed: bool,
    ws_ended: bool,
    ws_ping_timeout: Option<String>,
    /// A 101 whose probe went unanswered.
    probe_unanswered: bool,
    /// The upgrade's handshake findings, for the fallback's cause.
    upgrade_cause: Option<String>,
    /// Bytes registered for this state ([`state_cost`] when last settled).
    cost: usize,
    /// WebSockets of the session still open (101s waiting for their connection's end): an
    /// idle session with one is not expired, its connection's end writes it.
    websockets_open: u32,
    /// Polling bodies longer than `--eio-body-bytes`, cut there: (how many, the first packet).
    bodies_cut: Option<(u64, u64)>,
    /// Polling bodies the memory budget had no room to read.
    bodies_unread: u64,
    /// Polls not followed because their HTTP/2 connection had `h2::engineio::MAX_POLLS`
    /// polling streams open already: (how many, the first one's request packet).
    polls_not_followed: Option<(u64, u64)>,
    /// The budget had no room for the session's state to grow: it is written out now (the
    /// packet where that happened).
    memcap_at: Option<u64>,
    /// Written out idle ([`EngineIoTracker::expire`]).
    expired: bool,
    /// Answers from something that does not speak Engine.IO ([`not_engineio`]): the first
    /// one's description and packet, and how many.
    not_served: Option<(String, u64, u64)>,
    /// The deadline this session is filed under in [`EngineIoTracker::deadlines`] (none
    /// while a WebSocket of it is open).
    due: Option<Timestamp>,
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
#[derive(Debug)]
pub struct EngineIoTracker {
    sessions: BTreeMap<String, State>,
    /// Order sessions were first seen, for the cap.
    order: std::collections::VecDeque<String>,
    /// Handshake id → sid of websocket attempts with a sid.
    by_handshake: BTreeMap<u64, String>,
    waiting: BTreeMap<u64, Waiting>,
    /// (deadline, sid) of every session without an open WebSocket: after the deadline it is
    /// over ([`deadline_of`]).
    deadlines: BTreeSet<(Timestamp, String)>,
    /// The earliest deadline, or [`NEVER`]: what the correlation stage compares each
    /// packet's time with.
    next_due: Timestamp,
    done: Vec<EngineIoSession>,
    /// Bytes kept of each polling body (`--eio-body-bytes`): a body cut there is said.
    body_bytes: usize,
    /// Σ of the states' costs, the waiting attempts' and the handshake links' (what
    /// `account` registers).
    held: usize,
    account: Account,
}

impl Default for EngineIoTracker {
    fn default() -> Self {
        EngineIoTracker {
            sessions: BTreeMap::new(),
            order: std::collections::VecDeque::new(),
            by_handshake: BTreeMap::new(),
            waiting: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            next_due: NEVER,
            done: Vec::new(),
            body_bytes: crate::http::exchange::EIO_BODY_BYTES,
            held: 0,
            account: Account::default(),
        }
    }
}

/// Bytes of a string's heap part and its handle.
fn string_cost(s: &str) -> usize {
    std::mem::size_of::<String>() + s.len()
}

/// Estimated bytes one session's state holds: the state and its record, their strings and
/// lists, its entries in the session map, the first-seen queue and the deadline index.
fn state_cost(sid: &str, st: &State) -> usize {
    use std::mem::size_of;
    let opt = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let mut n = size_of::<State>()
        + 2 * (ENTRY_OVERHEAD + string_cost(sid))
        + st.opened_by.capacity() * size_of::<SocketAddr>()
        + st.unknown.capacity() * size_of::<(u64, u64, SocketAddr)>()
        + st.malformed.as_ref().map_or(0, |(m, _)| m.len())
        + opt(&st.ws_ping_timeout)
        + opt(&st.upgrade_cause)
        + st.not_served.as_ref().map_or(0, |(m, _, _)| m.len())
        + st.due.map_or(0, |_| {
            ENTRY_OVERHEAD + size_of::<Timestamp>() + string_cost(sid)
        });
    if let Some(r) = &st.record {
        n += size_of::<EngineIoSession>()
            + opt(&r.sid)
            + r.path.len()
            + r.open.as_ref().map_or(0, |o| {
                size_of::<EioOpen>() + o.upgrades.iter().map(|u| string_cost(u)).sum::<usize>()
            })
            + size_of::<EioUpgrade>()
            + r.connections.capacity() * size_of::<EioConnection>()
            + r.errors.capacity() * size_of::<EioError>()
            + r.errors.iter().map(|e| e.message.len()).sum::<usize>()
            + r.namespaces.capacity() * size_of::<SioNamespace>()
            + r.namespaces
                .iter()
                .map(|ns| ns.namespace.len() + opt(&ns.error))
                .sum::<usize>();
    }
    n
}

/// The heartbeat (pingInterval + pingTimeout) in nanoseconds of the session `r`: its open
/// packet's, or the server's defaults for its revision when that was not captured.
fn heartbeat_ns(r: &EngineIoSession) -> i64 {
    let ms = r
        .open
        .as_ref()
        .and_then(|o| Some(o.ping_interval_ms?.saturating_add(o.ping_timeout_ms?)))
        .unwrap_or(if r.version >= 4 {
            DEFAULT_HEARTBEAT_MS_V4
        } else {
            DEFAULT_HEARTBEAT_MS_V3
        });
    i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

/// The capture time after which the session is over unless something of it comes first
/// (see the module docs): its last exchange plus [`IDLE_MARGIN_NS`] after a close packet,
/// plus its heartbeat as well otherwise. None while a WebSocket of it is open (that
/// connection's end writes it).
fn deadline_of(st: &State) -> Option<Timestamp> {
    if st.websockets_open > 0 {
        return None;
    }
    let r = st.record.as_ref()?;
    let idle_ns = if st.closed {
        IDLE_MARGIN_NS
    } else {
        heartbeat_ns(r).saturating_add(IDLE_MARGIN_NS)
    };
    Some(Timestamp(r.end_ts.0.saturating_add(idle_ns)))
}

/// Estimated bytes of a handshake link (handshake id → sid).
fn link_cost(sid: &str) -> usize {
    ENTRY_OVERHEAD + std::mem::size_of::<u64>() + string_cost(sid)
}

/// Estimated bytes of a websocket-only attempt waiting for its open packet.
fn waiting_cost(w: &Waiting) -> usize {
    ENTRY_OVERHEAD
        + std::mem::size_of::<Waiting>()
        + w.target.path.len()
        + w.target.sid.as_deref().map_or(0, str::len)
}

/// A body cut by the cap (not by the connection's end): it holds the cap's worth and more
/// came after it.
fn cut_by_cap(m: Option<&Message>, cap: usize) -> bool {
    m.and_then(|m| m.body.as_ref())
        .is_some_and(|b| b.truncated && b.bytes.len() >= cap)
}

/// What answered an Engine.IO polling request at `server` when it was not an Engine.IO
/// server: a 404 (nothing handles the path there), a 5xx (a proxy's or the server's own
/// error), or, to a GET, a 2xx HTML page where a payload belongs (`unparsed`: the body did
/// not read as one). Engine.IO's own refusals (400 and 403, with or without its JSON
/// error body: python-engineio answers plain text) and its POST answer (`ok`, served as
/// text/html) are not this.
fn not_engineio(
    resp: &Message,
    server: SocketAddr,
    has_error_body: bool,
    unparsed: bool,
    is_post: bool,
    body: &[u8],
) -> Option<String> {
    let status = resp.head.status()?;
    let ctype = resp.head.value("content-type").unwrap_or_default();
    let html = ctype
        .get(..9)
        .is_some_and(|t| t.eq_ignore_ascii_case("text/html"))
        || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    let what = match status {
        404 if !has_error_body => "nothing serves Engine.IO on this path there (the client's `path` must match the server's, and a proxy must route it)",
        500..=599 if !has_error_body => "a proxy's or the server's own error: no Engine.IO server answered behind it",
        200..=299 if !is_post && unparsed && html => "an HTML page where an Engine.IO payload belongs: another application serves this path (a single-page app's fallback to index.html, the front end's port)",
        _ => return None,
    };
    let mut from = Vec::new();
    if !ctype.is_empty() {
        from.push(format!("Content-Type: {ctype}"));
    }
    if let Some(sw) = resp.head.value("server") {
        from.push(format!("Server: {sw}"));
    }
    let from = if from.is_empty() {
        String::new()
    } else {
        format!(" ({})", from.join(", "))
    };
    Some(format!("{server} answered HTTP {status}{from}: {what}"))
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
        inferred: false,
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

    /// The same tracker, told that polling bodies are kept up to `bytes`
    /// (`--eio-body-bytes`), so a body cut there is said on its session.
    #[must_use]
    pub fn with_body_bytes(mut self, bytes: usize) -> Self {
        self.body_bytes = bytes;
        self
    }

    /// Sessions followed now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Estimated bytes held now (what is registered with the memory meter).
    #[must_use]
    pub fn memory(&self) -> usize {
        self.held
    }

    /// The same figure, computed by walking every session: what the running total must
    /// agree with (for tests).
    #[must_use]
    pub fn memory_walked(&self) -> usize {
        self.sessions
            .iter()
            .map(|(sid, st)| state_cost(sid, st))
            .sum::<usize>()
            + self.waiting.values().map(waiting_cost).sum::<usize>()
            + self
                .by_handshake
                .values()
                .map(|s| link_cost(s))
                .sum::<usize>()
    }

    /// Registers a change of `delta` bytes outside the session states (links, waiting).
    fn add_held(&mut self, meter: &mut Meter, grow: usize, shrink: usize) {
        self.held = self.held.saturating_add(grow).saturating_sub(shrink);
        self.account.set(meter, self.held);
    }

    /// Brings `sid`'s registered cost up to date after a change. Growth the budget has no
    /// room for writes the session out now, marked (`memcap_reached`), and frees its state.
    fn settle(&mut self, sid: &str, meter: &mut Meter, packet: u64) {
        let Some(st) = self.sessions.get_mut(sid) else {
            return;
        };
        let due = deadline_of(st);
        if due != st.due {
            if let Some(old) = st.due {
                self.deadlines.remove(&(old, sid.to_owned()));
            }
            if let Some(new) = due {
                self.deadlines.insert((new, sid.to_owned()));
            }
            st.due = due;
            self.next_due = self.deadlines.first().map_or(NEVER, |(at, _)| *at);
        }
        let cost = state_cost(sid, st);
        let old = st.cost;
        if cost <= old || meter.admit(Use::EngineIo, cost - old).is_ok() {
            st.cost = cost;
            self.held = self.held.saturating_sub(old).saturating_add(cost);
            self.account.set(meter, self.held);
            return;
        }
        st.memcap_at = Some(packet);
        self.write_out(sid, meter);
    }

    /// Removes `sid`'s state, its place in the order and its handshake links, and writes
    /// its record.
    fn write_out(&mut self, sid: &str, meter: &mut Meter) {
        let Some(st) = self.sessions.remove(sid) else {
            return;
        };
        if let Some(at) = st.due {
            self.deadlines.remove(&(at, sid.to_owned()));
            self.note_next_due();
        }
        self.order.retain(|s| s != sid);
        let mut freed = st.cost;
        if st.websockets_open > 0 {
            self.by_handshake.retain(|_, s| {
                let keep = s != sid;
                if !keep {
                    freed += link_cost(s);
                }
                keep
            });
        }
        self.add_held(meter, 0, freed);
        self.done.extend(finish_state(st));
    }

    /// Writes out the sessions whose deadline passed before `now` (see the module docs):
    /// idle past their heartbeat (pingInterval + pingTimeout, or the server's defaults when
    /// the open packet was not captured) plus [`IDLE_MARGIN_NS`], ending `expired`, or
    /// closed over polling [`IDLE_MARGIN_NS`] ago; earliest deadline first. Sessions with a
    /// WebSocket still open wait for it. Deterministic: `now` is capture time (a packet's,
    /// or the live tick's); cheap when nothing is due ([`EngineIoTracker::next_due`]).
    pub fn expire(&mut self, now: Timestamp, meter: &mut Meter) {
        while now > self.next_due {
            let Some((_, sid)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some(st) = self.sessions.get_mut(&sid) {
                st.due = None;
                // Over by the heartbeat; one a close packet ended says so in its ending.
                st.expired = true;
            }
            self.note_next_due();
            self.write_out(&sid, meter);
        }
    }

    /// The earliest capture time after which a session is over by its deadline alone
    /// (`Timestamp(i64::MAX)` when none): a packet or tick later than it calls
    /// [`EngineIoTracker::expire`].
    #[inline]
    #[must_use]
    pub fn next_due(&self) -> Timestamp {
        self.next_due
    }

    fn note_next_due(&mut self) {
        self.next_due = self.deadlines.first().map_or(NEVER, |(at, _)| *at);
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

    /// `sid`'s state, created for a session seen first now (its cost is registered by
    /// [`EngineIoTracker::settle`] once the caller has filled it).
    fn state(&mut self, sid: &str, t: &Target, ts: Timestamp, meter: &mut Meter) -> &mut State {
        if !self.sessions.contains_key(sid) {
            if self.sessions.len() >= MAX_SESSIONS {
                if let Some(old) = self.order.front().cloned() {
                    self.write_out(&old, meter);
                }
            }
            self.order.push_back(sid.to_owned());
            let mut record = new_record(t, ts);
            record.sid = Some(sid.to_owned());
            self.sessions.insert(
                sid.to_owned(),
                State {
                    record: Some(record),
                    ..State::default()
                },
            );
        }
        self.sessions.entry(sid.to_owned()).or_default()
    }

    /// One polling exchange (a GET or POST whose target names `EIO=`). Its state is
    /// registered with `meter` (see the module's memory paragraph).
    pub fn poll(&mut self, p: &Poll<'_>, meter: &mut Meter) {
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
        if p.not_followed {
            // Only its request head is known: nothing to parse, no answer to judge.
        } else if status == Some(200) && !is_post {
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
        if is_post && !p.not_followed {
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
        // A body cut by `--eio-body-bytes` ends inside a packet: that is the cut, not a
        // malformed payload.
        let cut = cut_by_cap(p.response, self.body_bytes)
            || (is_post && cut_by_cap(Some(p.request), self.body_bytes));
        if cut {
            malformed = None;
        }
        let not_served = p.response.and_then(|resp| {
            not_engineio(
                resp,
                p.server,
                error.is_some(),
                malformed.is_some(),
                is_post,
                resp_body,
            )
        });
        if not_served.is_some() {
            // An HTML page is not a broken payload: the finding says what answered.
            malformed = None;
        }
        let sid = t
            .sid
            .clone()
            .or_else(|| open.as_ref().map(|o| o.sid.clone()));
        let Some(sid) = sid else {
            // No session came of it: a refused (or unreadable) open is a record of its own;
            // an open whose answer is not in the capture says nothing.
            if error.is_none()
                && malformed.is_none()
                && not_served.is_none()
                && !cut
                && p.bodies_unread == 0
                && !p.not_followed
            {
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
            record.ending = if error.is_some() || not_served.is_some() {
                "rejected"
            } else {
                "capture_ended"
            };
            let st = State {
                record: Some(record),
                malformed: malformed.map(|m| (m, 1)),
                not_served: not_served.map(|what| (what, resp_packet, 1)),
                bodies_cut: cut.then_some((1, resp_packet)),
                bodies_unread: u64::from(p.bodies_unread),
                polls_not_followed: p.not_followed.then_some((1, first_packet)),
                ..State::default()
            };
            self.done.extend(finish_state(st));
            return;
        };
        self.poll_session(
            &sid,
            &t,
            p,
            meter,
            PollFacts {
                open,
                error,
                malformed,
                packets_in,
                cut,
                resp_packet,
                not_served,
            },
        );
        self.settle(&sid, meter, resp_packet);
    }

    /// Folds one polling exchange into the session `sid`.
    fn poll_session(
        &mut self,
        sid: &str,
        t: &Target,
        p: &Poll<'_>,
        meter: &mut Meter,
        facts: PollFacts,
    ) {
        let PollFacts {
            open,
            error,
            malformed,
            packets_in,
            cut,
            resp_packet,
            not_served,
        } = facts;
        let ts = p.request.first_ts;
        let first_packet = p.request.packets.first().copied().unwrap_or(0);
        let is_post = p.request.head.method() == Some("POST");
        let status = p.response.and_then(|r| r.head.status());
        let st = self.state(sid, t, ts, meter);
        if cut {
            let (n, _) = st.bodies_cut.get_or_insert((0, resp_packet));
            *n += 1;
        }
        st.bodies_unread += u64::from(p.bodies_unread);
        if p.not_followed {
            let (n, _) = st.polls_not_followed.get_or_insert((0, first_packet));
            *n += 1;
        }
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
            if e.code == 1 && st.unknown.len() < MAX_ERRORS {
                st.unknown.push((resp_packet, first_packet, p.server));
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
        if let Some(what) = not_served {
            match &mut st.not_served {
                Some((_, _, n)) => *n += 1,
                None => st.not_served = Some((what, resp_packet, 1)),
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
                Kind::Close => {
                    st.closed = true;
                    // A client's close counts once its server took it (a close POST that
                    // went astray, answered 400, closed nothing: engineio-sticky-400).
                    let packet = match peer {
                        Peer::Client => (status == Some(200)).then_some(first_packet),
                        Peer::Server => Some(resp_packet),
                    };
                    if let Some(packet) = packet {
                        st.closed_at = Some(st.closed_at.map_or(packet, |c| c.min(packet)));
                    }
                }
                _ => {}
            }
            if let Some(s) = sio {
                apply_sio(record, peer, &s);
            }
        }
    }

    /// A handshake record whose request target names Engine.IO's websocket transport. Its
    /// state is registered with `meter`.
    pub fn handshake(&mut self, r: &HandshakeRecord, meter: &mut Meter) {
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
            h2_stream: r.h2.as_ref().map(|h| h.stream_id),
        };
        // A 101, or a 2xx to an RFC 8441 extended CONNECT.
        let switched = upgrade.switched();
        let body_error = r
            .response
            .as_ref()
            .and_then(|m| m.body.as_ref())
            .and_then(|b| packet::error_body(&b.bytes));
        let Some(sid) = t.sid.clone() else {
            // websocket-only: the sid comes in the open packet, at the connection's end.
            if switched {
                if self.waiting.len() >= MAX_WAITING {
                    return;
                }
                let w = Waiting {
                    target: t,
                    conn,
                    upgrade,
                    ts: r.ts,
                };
                // Without room it is not followed: its handshake record still tells the
                // attempt, and the refusal is counted.
                let cost = waiting_cost(&w);
                if meter.admit(Use::EngineIo, cost).is_ok() {
                    self.waiting.insert(r.id, w);
                    self.add_held(meter, cost, 0);
                }
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
        let st = self.state(&sid, &t, r.ts, meter);
        st.upgrade_cause = cause;
        let Some(record) = st.record.as_mut() else {
            return;
        };
        note_connection(record, conn);
        if let (Some(e), Some(status)) = (body_error, r.status) {
            if e.code == 1 && st.unknown.len() < MAX_ERRORS {
                let answer = r
                    .response
                    .as_ref()
                    .and_then(|m| m.packets.first().copied())
                    .unwrap_or(0);
                st.unknown.push((answer, first_packet, r.server));
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
        let keep_old = record.upgrade.as_ref().is_some_and(EioUpgrade::switched);
        if !keep_old {
            record.upgrade = Some(upgrade);
        }
        let response_packet = r
            .response
            .as_ref()
            .and_then(|m| m.packets.first().copied())
            .unwrap_or(first_packet);
        if switched {
            st.websockets_open += 1;
            let cost = link_cost(&sid);
            if let Some(old) = self.by_handshake.insert(r.id, sid.clone()) {
                self.add_held(meter, 0, link_cost(&old));
            }
            self.add_held(meter, cost, 0);
        }
        self.settle(&sid, meter, response_packet);
    }

    /// A WebSocket connection that carried Engine.IO ended: `eio` is what its observer read.
    pub fn websocket_ended(
        &mut self,
        record: &ConnectionRecord,
        eio: &EioObserver,
        meter: &mut Meter,
    ) {
        let Some(id) = record.handshake_id else {
            if eio.inferred() {
                self.inferred(record, eio);
            }
            return;
        };
        let sid = if let Some(sid) = self.by_handshake.remove(&id) {
            self.add_held(meter, 0, link_cost(&sid));
            if let Some(st) = self.sessions.get_mut(&sid) {
                st.websockets_open = st.websockets_open.saturating_sub(1);
            }
            sid
        } else if let Some(w) = self.waiting.remove(&id) {
            self.add_held(meter, 0, waiting_cost(&w));
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
            let st = self.state(&sid, &t, w.ts, meter);
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
                (Kind::Close, _, _) => {
                    st.closed = true;
                    st.closed_at = Some(st.closed_at.map_or(p.packet, |c| c.min(p.packet)));
                }
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
            if !st.closed {
                if let Some(why) = heartbeat_timeout(r.version, r.open.as_ref(), &eio.pings, record)
                {
                    st.ws_ping_timeout = Some(why);
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
            self.write_out(&sid, meter);
        } else {
            let packet = eio.packets.last().map_or(0, |p| p.packet);
            self.settle(&sid, meter, packet);
        }
    }

    /// A WebSocket whose handshake was not captured and whose frames showed Engine.IO
    /// ([`EioObserver::inferred`]): a session of its own, marked `inferred`, written now (its
    /// connection is over). Its sid is known only if its open packet was captured (a
    /// websocket-only client's first message); it is not linked to polls, which carry the
    /// sid the WebSocket's frames never name.
    fn inferred(&mut self, record: &ConnectionRecord, eio: &EioObserver) {
        let open = eio
            .packets
            .iter()
            .find_map(|p| p.open.as_ref().map(|o| (o, p.packet)));
        let mut r = EngineIoSession {
            sid: open.map(|(o, _)| o.sid.clone()),
            version: eio.version,
            path: String::new(),
            inferred: true,
            ts: record.ts,
            end_ts: record.end_ts,
            open: open.map(|(o, packet)| open_of(o, Transport::Websocket, packet)),
            transport: "websocket",
            polls: 0,
            upgrade: None,
            connections: vec![EioConnection {
                client: record.client,
                server: record.server,
                transport: "websocket",
                requests: 0,
                handshake_id: None,
                first_packet: eio.first_packet.unwrap_or(0),
            }],
            errors: Vec::new(),
            namespaces: Vec::new(),
            heartbeat: EioHeartbeat::default(),
            ending: "capture_ended",
            findings: Vec::new(),
        };
        let mut closed = false;
        let mut upgrade = EioUpgrade {
            verdict: "not_captured",
            ..EioUpgrade::default()
        };
        for p in &eio.packets {
            match (p.kind, p.probe, p.peer) {
                (Kind::Ping, true, Peer::Client) => upgrade.probe_sent = true,
                (Kind::Pong, true, Peer::Server) => upgrade.probe_answered = true,
                (Kind::Upgrade, _, Peer::Client) => upgrade.upgraded = true,
                (Kind::Close, _, _) => closed = true,
                _ => {}
            }
            if let Some(s) = &p.sio {
                apply_sio(&mut r, p.peer, s);
            }
        }
        // The probe shows the capture began during the upgrade from polling; its handshake
        // is what is missing.
        if upgrade.probe_sent || upgrade.upgraded {
            r.upgrade = Some(upgrade);
        }
        let ws_ping_timeout = if closed {
            None
        } else {
            heartbeat_timeout(r.version, r.open.as_ref(), &eio.pings, record)
        };
        self.done.extend(finish_state(State {
            record: Some(r),
            heartbeat: eio.pings,
            malformed: eio.malformed.clone(),
            closed,
            ws_ended: true,
            ws_ping_timeout,
            ..State::default()
        }));
    }

    /// End of input: every session still followed is written, and what was registered
    /// with `meter` is released.
    pub fn finish(&mut self, meter: &mut Meter) -> Vec<EngineIoSession> {
        let mut out = self.take_done();
        for (_, st) in std::mem::take(&mut self.sessions) {
            out.extend(finish_state(st));
        }
        self.order.clear();
        self.by_handshake.clear();
        self.waiting.clear();
        self.deadlines.clear();
        self.next_due = NEVER;
        self.held = 0;
        self.account.set(meter, 0);
        out.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.sid.cmp(&b.sid)));
        out
    }
}

/// Whether a WebSocket that ended without a close packet ended by a heartbeat timeout, and
/// whose: a ping left unanswered for about pingTimeout (the side that owed the pong stopped
/// answering), or no ping for about pingInterval + pingTimeout, the WebSocket closed by
/// the side waiting for one (the pinger stopped). v4: the server pings; v3: the client.
fn heartbeat_timeout(
    version: u8,
    open: Option<&EioOpen>,
    pings: &PingState,
    record: &ConnectionRecord,
) -> Option<String> {
    let (pinger, ponger) = if version >= 4 {
        ("server", "client")
    } else {
        ("client", "server")
    };
    let open = open?;
    #[allow(clippy::cast_precision_loss)]
    let ms_since = |at: Timestamp| record.end_ts.nanos_since(at) as f64 / 1e6;
    let timeout_ms = open.ping_timeout_ms?;
    if let Some((packet, at)) = pings.unanswered {
        let waited_ms = ms_since(at);
        #[allow(clippy::cast_precision_loss)]
        return (waited_ms >= timeout_ms as f64 * 0.9).then(|| {
            format!(
                "the {ponger} did not answer the {pinger}'s ping in packet {packet}: the WebSocket ended {waited_ms:.0} ms later (pingTimeout {timeout_ms} ms)"
            )
        });
    }
    let interval_ms = open.ping_interval_ms?;
    let closed_by_ponger = match record.tcp_end {
        Ending::ClientFin | Ending::ClientRst => ponger == "client",
        Ending::ServerFin | Ending::ServerRst => ponger == "server",
        _ => false,
    };
    let silent_ms = ms_since(pings.last_ping.map_or(record.ts, |(_, at)| at));
    #[allow(clippy::cast_precision_loss)]
    let due_ms = interval_ms.saturating_add(timeout_ms) as f64 * 0.9;
    (closed_by_ponger && silent_ms >= due_ms).then(|| {
        let since = pings.last_ping.map_or_else(
            || "since the WebSocket opened".to_owned(),
            |(packet, _)| format!("after its ping in packet {packet}"),
        );
        // python-engineio announces whole seconds (int(0.4 s) = 0): its clients then give up
        // after pingTimeout alone, pings or not.
        let zero = if interval_ms == 0 {
            "; the open packet announced pingInterval 0, so the client waited pingTimeout alone"
        } else {
            ""
        };
        format!(
            "the {pinger} sent no ping for {silent_ms:.0} ms {since} (pingInterval {interval_ms} + pingTimeout {timeout_ms} ms): the {ponger} gave up and closed the WebSocket{zero}"
        )
    })
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

/// What an Engine.IO error 5 (Unsupported protocol version) says of the server's revision,
/// for a client that asked for `client`: engine.io 4 introduced the code and answers it to
/// every request but `EIO=4` unless started with `allowEIO3` (which admits revision 3).
fn server_revision(client: u8) -> String {
    if client < 4 {
        format!(
            "the server speaks revision 4 (engine.io 4 and later, under Socket.IO servers 3 and 4, refuse revision {client} unless started with allowEIO3: true)"
        )
    } else {
        format!(
            "the server speaks another revision than {client} (engine.io 4 answers this to anything but EIO=4)"
        )
    }
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
                        "the client asked for Engine.IO revision {} (EIO={}); {} answered HTTP {} \"{}\": {}",
                        r.version,
                        r.version,
                        e.server,
                        e.status,
                        e.message,
                        server_revision(r.version)
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
    // "Session ID unknown" to a request sent after a close packet is the close taking effect
    // (node answers the poll a closing client still had in flight so): not a balancer's.
    let after_close: Vec<u64> = st
        .unknown
        .iter()
        .filter(|(_, request, _)| st.closed_at.is_some_and(|c| *request > c))
        .map(|(answer, _, _)| *answer)
        .collect();
    let mut unknown_at = Vec::new();
    for (answer, _, server) in &st.unknown {
        if !after_close.contains(answer) {
            remember(&mut unknown_at, *server);
        }
    }
    let astray = |e: &&EioError| e.code == 1 && !after_close.contains(&e.packet);
    if let Some(first) = r.errors.iter().find(astray) {
        let packets: Vec<u64> = r.errors.iter().filter(astray).map(|e| e.packet).collect();
        let creators: Vec<SocketAddr> = st
            .opened_by
            .iter()
            .filter(|a| !unknown_at.contains(a))
            .copied()
            .collect();
        let strangers: Vec<SocketAddr> = unknown_at
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
    let session_unknown = r.errors.iter().any(|e| astray(&e));
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
            (Some(u), true) if !u.switched() => Some(format!(
                "the upgrade (handshake #{}{}) was refused: HTTP {}{}",
                u.handshake_id.unwrap_or(0),
                u.h2_stream
                    .map(|id| if u.status == Some(405) {
                        // node's http2 layer, before engine.io sees it (seen in engineio-h2-node-connect).
                        format!(", an HTTP/2 extended CONNECT on stream {id}: node's HTTP/2 server answers 405 to a CONNECT nothing listens for, and engine.io takes WebSockets only from HTTP/1.1 upgrade events")
                    } else {
                        format!(", an HTTP/2 extended CONNECT on stream {id}: servers that look for the HTTP/1.1 Upgrade header refuse it, python-engineio 4 among them")
                    })
                    .unwrap_or_default(),
                u.status.map_or("(no answer)".to_owned(), |s| s.to_string()),
                st.upgrade_cause
                    .as_deref()
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default()
            )),
            (Some(u), true) if !u.upgraded && u.probe_sent && !u.probe_answered => Some(format!(
                "the WebSocket of handshake #{} opened but its 2probe got no 3probe, so the client never sent the upgrade packet 5",
                u.handshake_id.unwrap_or(0)
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
    if let Some((what, packet, n)) = &st.not_served {
        let more = if *n > 1 {
            format!(" ({n} answers like it)")
        } else {
            String::new()
        };
        findings.push(
            Finding::new(Code::EngineioNotServed, format!("{what}{more}")).packets(&[*packet]),
        );
    }
    if let Some((why, n)) = &st.malformed {
        findings.push(Finding::new(
            Code::EngineioMalformed,
            format!("{why} ({n} time{})", if *n == 1 { "" } else { "s" }),
        ));
    }
    if let Some((n, packet)) = st.bodies_cut {
        findings.push(
            Finding::new(
                Code::EngineioBodyCut,
                format!(
                    "{n} polling bod{} longer than --eio-body-bytes: the packets past the cut were not read",
                    if n == 1 { "y was" } else { "ies were" }
                ),
            )
            .packets(&[packet]),
        );
    }
    if let Some((n, packet)) = st.polls_not_followed {
        findings.push(
            Finding::new(
                Code::EngineioPollsNotFollowed,
                format!(
                    "{n} polling request{} not followed: {} on an HTTP/2 connection that had {} polling streams open already (wssniff follows {} at once); {} answer{} and bod{} were not read",
                    if n == 1 { " was" } else { "s were" },
                    if n == 1 { "it came" } else { "they came" },
                    crate::h2::engineio::MAX_POLLS,
                    crate::h2::engineio::MAX_POLLS,
                    if n == 1 { "its" } else { "their" },
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "y" } else { "ies" },
                ),
            )
            .packets(&[packet]),
        );
    }
    if st.bodies_unread > 0 || st.memcap_at.is_some() {
        let mut what = Vec::new();
        if st.bodies_unread > 0 {
            let n = st.bodies_unread;
            what.push(format!(
                "{n} polling bod{} not read",
                if n == 1 { "y was" } else { "ies were" }
            ));
        }
        if let Some(packet) = st.memcap_at {
            what.push(format!(
                "the session's state could not grow at packet {packet}: it is written out there, and later requests carrying its sid are not linked to it"
            ));
        }
        findings.push(Finding::new(
            Code::MemcapReached,
            format!(
                "{}: wssniff's memory budget (--memcap) was full",
                what.join("; ")
            ),
        ));
    }
    if r.ending == "capture_ended" {
        if st.closed {
            r.ending = "close_packet";
        } else if st.ws_ended {
            r.ending = "transport_closed";
        } else if !r.errors.is_empty() {
            r.ending = "rejected";
        } else if st.expired {
            r.ending = "expired";
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

    /// `req` answered `resp` between `client` and `server`, with every body read.
    fn poll_answered(
        t: &mut EngineIoTracker,
        client: SocketAddr,
        server: SocketAddr,
        req: &Message,
        resp: &Message,
    ) {
        t.poll(
            &Poll {
                client,
                server,
                request: req,
                response: Some(resp),
                bodies_unread: 0,
                not_followed: false,
            },
            &mut Meter::new(),
        );
    }

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
        poll_answered(
            t,
            addr(40000 + u16::try_from(n).unwrap()),
            addr(server),
            &req,
            &resp,
        );
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
        let done = t.finish(&mut Meter::new());
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
        let s = &t.finish(&mut Meter::new())[0];
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
        poll_answered(&mut t, addr(1), addr(80), &req, &resp);
        let s = &t.finish(&mut Meter::new())[0];
        assert_eq!((s.heartbeat.pings, s.heartbeat.pongs), (1, 1));
        assert_eq!(s.heartbeat.max_pong_wait_ms, 1.0);
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].code, Code::EngineioFellBackToPolling);
        assert!(s.findings[0].message.contains("never attempted"));
    }

    /// A handshake record of an RFC 8441 extended CONNECT (HTTP/2 facts, `status`) carrying
    /// the sid, and the WebSocket of its stream, whose Engine.IO packets were `frames`.
    fn h2_upgrade(t: &mut EngineIoTracker, status: &str, frames: &[(Peer, &[u8])]) {
        use crate::websocket::testing::{client, end, feed, plain, server};
        let target = "/socket.io/?EIO=4&transport=websocket&sid=S1";
        let exchange = crate::http::exchange::Completed {
            stream: crate::http::exchange::StreamId(13),
            request: Some(msg(
                &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"),
                b"",
                7,
            )),
            response: Some(msg(&format!("HTTP/1.1 {status}\r\n\r\n"), b"", 8)),
            interim: Vec::new(),
            ending: None,
            ended_at: None,
            extra: Vec::new(),
            switched: status.starts_with('2'),
            id: None,
            h2: Some(crate::event::H2Stream {
                stream_id: 13,
                upgraded: false,
                connect_protocol_enabled: Some(true),
                unknown_fields: 0,
                mid_connection: false,
                reset: None,
                goaway: None,
            }),
        };
        let mut r =
            crate::handshake::record(exchange, &crate::handshake::Policy::default(), &|_| None);
        r.id = 2;
        t.handshake(&r, &mut Meter::new());
        let mut s = plain();
        s.observe_content(
            Box::new(EioObserver::new(4)),
            crate::engineio::observer::limits(),
        );
        for (peer, text) in frames {
            let f = if *peer == Peer::Client {
                client(0x81, text)
            } else {
                server(0x81, text)
            };
            feed(&mut s, *peer, &f);
        }
        s.set_handshake(2, false);
        let eio = std::mem::take(s.content_observer_as::<EioObserver>().unwrap());
        let record = end(s);
        t.websocket_ended(&record, &eio, &mut Meter::new());
    }

    /// Over HTTP/2 the upgrade is answered 200, not 101 (RFC 8441): it switched, its
    /// WebSocket carries the probe and the upgrade packet, and the session is on websocket,
    /// not "refused: HTTP 200"; a 403 to the extended CONNECT is the refusal it is.
    #[test]
    fn an_extended_connect_answered_200_is_the_upgrade_and_a_403_its_refusal() {
        let mut t = EngineIoTracker::new();
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling",
            "200 OK",
            OPEN,
            1,
        );
        let probe: &[(Peer, &[u8])] = &[
            (Peer::Client, b"2probe"),
            (Peer::Server, b"3probe"),
            (Peer::Client, b"5"),
            (Peer::Server, b"2"),
            (Peer::Client, b"3"),
        ];
        h2_upgrade(&mut t, "200 OK", probe);
        let done = t.take_done();
        assert_eq!(done.len(), 1, "its WebSocket's end writes it: {done:#?}");
        let s = &done[0];
        let u = s.upgrade.as_ref().unwrap();
        assert_eq!(
            (u.status, u.h2_stream, u.switched()),
            (Some(200), Some(13), true)
        );
        assert!(u.probe_sent && u.probe_answered && u.upgraded, "{u:?}");
        assert_eq!((s.transport, s.ending), ("websocket", "transport_closed"));
        assert_eq!((s.heartbeat.pings, s.heartbeat.pongs), (1, 1));
        assert!(s.findings.is_empty(), "{:#?}", s.findings);

        let mut t = EngineIoTracker::new();
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling",
            "200 OK",
            OPEN,
            1,
        );
        h2_upgrade(&mut t, "403 Forbidden", &[]);
        let s = &t.finish(&mut Meter::new())[0];
        assert_eq!(s.transport, "polling");
        let codes: Vec<_> = s.findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, [Code::EngineioFellBackToPolling]);
        assert!(
            s.findings[0]
                .message
                .contains("HTTP/2 extended CONNECT on stream 13")
                && s.findings[0].message.contains("HTTP 403"),
            "{}",
            s.findings[0].message
        );
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

    /// A polling exchange at packet `n` (time `n` ms) fed through `meter`.
    fn poll_in(
        t: &mut EngineIoTracker,
        meter: &mut Meter,
        target: &str,
        status: &str,
        body: BodyExcerpt,
        n: u64,
        unread: u8,
    ) {
        let req = msg(&format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"), b"", n);
        let mut resp = msg(&format!("HTTP/1.1 {status}\r\n\r\n"), b"", n + 1);
        resp.body = Some(body);
        t.poll(
            &Poll {
                client: addr(40000),
                server: addr(80),
                request: &req,
                response: Some(&resp),
                bodies_unread: unread,
                not_followed: false,
            },
            meter,
        );
    }

    fn excerpt(bytes: &[u8], truncated: bool) -> BodyExcerpt {
        BodyExcerpt {
            bytes: bytes.to_vec(),
            length: None,
            truncated,
            content_encoding: None,
            undecoded: false,
            problem: None,
        }
    }

    const ERROR3: &[u8] = br#"{"code":3,"message":"Bad request"}"#;

    #[test]
    fn sessions_are_registered_with_the_meter_and_released_when_written() {
        let mut meter = Meter::new();
        let mut t = EngineIoTracker::new();
        let open = "/socket.io/?EIO=4&transport=polling";
        poll_in(
            &mut t,
            &mut meter,
            open,
            "200 OK",
            excerpt(OPEN, false),
            1,
            0,
        );
        assert!(t.memory() > 0);
        assert_eq!(t.memory(), t.memory_walked());
        assert_eq!(meter.held(), t.memory());
        let one = t.memory();
        let sid = "/socket.io/?EIO=4&transport=polling&sid=S1";
        poll_in(
            &mut t,
            &mut meter,
            sid,
            "400 Bad Request",
            excerpt(ERROR3, false),
            3,
            0,
        );
        assert!(t.memory() > one, "the error answer is held");
        assert_eq!((t.memory(), meter.held()), (t.memory_walked(), t.memory()));
        assert_eq!(t.finish(&mut meter).len(), 1);
        assert_eq!((t.memory(), meter.held()), (0, 0));
    }

    #[test]
    fn a_session_the_budget_cannot_hold_is_written_out_at_once_and_marked() {
        let mut meter = Meter::with_budget(Some(1 << 20));
        let mut t = EngineIoTracker::new();
        let open = "/socket.io/?EIO=4&transport=polling";
        poll_in(
            &mut t,
            &mut meter,
            open,
            "200 OK",
            excerpt(OPEN, false),
            1,
            0,
        );
        assert_eq!(t.len(), 1);
        assert!(t.take_done().is_empty());
        // Another buffer fills the budget: the session's next growth is refused.
        let mut other = crate::memory::Account::default();
        let full = (1 << 20) - meter.held();
        other.set(&mut meter, full);
        let sid = "/socket.io/?EIO=4&transport=polling&sid=S1";
        poll_in(
            &mut t,
            &mut meter,
            sid,
            "400 Bad Request",
            excerpt(ERROR3, false),
            3,
            0,
        );
        let done = t.take_done();
        assert_eq!(done.len(), 1, "written out, not kept");
        assert_eq!(t.len(), 0);
        assert_eq!(meter.refused(Use::EngineIo).times, 1);
        let f = done[0]
            .findings
            .iter()
            .find(|f| f.code == Code::MemcapReached)
            .expect("marked");
        assert!(f.message.contains("at packet 4"), "{}", f.message);
        // What it showed until then is kept: the open and the refused poll.
        assert!(done[0].open.is_some());
        assert_eq!(done[0].polls, 2);
        assert_eq!((t.memory(), t.memory_walked()), (0, 0));
        // A new session finds no room either: written at once, marked.
        poll_in(
            &mut t,
            &mut meter,
            open,
            "200 OK",
            excerpt(br#"0{"sid":"S2"}"#, false),
            5,
            0,
        );
        let done = t.take_done();
        assert_eq!(done.len(), 1);
        assert!(done[0]
            .findings
            .iter()
            .any(|f| f.code == Code::MemcapReached));
        assert_eq!(meter.refused(Use::EngineIo).times, 2);
        other.set(&mut meter, 0);
        assert_eq!(meter.held(), 0);
    }

    #[test]
    fn polling_bodies_the_budget_did_not_read_mark_the_session() {
        let mut meter = Meter::new();
        let mut t = EngineIoTracker::new();
        // The open's body was not read: no sid is known, the attempt is a record of its own.
        let open = "/socket.io/?EIO=4&transport=polling";
        poll_in(
            &mut t,
            &mut meter,
            open,
            "200 OK",
            excerpt(b"", false),
            1,
            1,
        );
        let done = t.take_done();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].findings[0].code, Code::MemcapReached);
        assert!(done[0].findings[0]
            .message
            .contains("1 polling body was not read"));
        let sid = "/socket.io/?EIO=4&transport=polling&sid=S1";
        poll_in(&mut t, &mut meter, sid, "200 OK", excerpt(b"", false), 3, 1);
        poll_in(&mut t, &mut meter, sid, "200 OK", excerpt(b"", false), 5, 2);
        let s = &t.finish(&mut meter)[0];
        assert!(s.findings.iter().any(|f| f.code == Code::MemcapReached
            && f.message.contains("3 polling bodies were not read")));
    }

    /// "Session ID unknown" to a poll the client sent after its close packet is the close
    /// taking effect (node answers a closing client's last long poll so, seen in
    /// engineio-h2-node-connect): not `engineio_session_unknown`, and the session's story
    /// (here: it never upgraded) is told; one answered before the close still is.
    #[test]
    fn session_unknown_after_the_close_packet_is_the_close_not_a_balancer() {
        let post = |t: &mut EngineIoTracker, body: &[u8], n: u64| {
            let req = msg(
                &format!(
                    "POST /socket.io/?EIO=4&transport=polling&sid=S1 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                ),
                body,
                n,
            );
            let resp = msg("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok", n + 1);
            poll_answered(t, addr(40000), addr(80), &req, &resp);
        };
        let sid = "/socket.io/?EIO=4&transport=polling&sid=S1";
        let open = "/socket.io/?EIO=4&transport=polling";
        // Closed, then a poll in flight answered 400 (its answer handed on first: the order
        // the exchanges complete in does not matter, their packets do).
        let mut t = EngineIoTracker::new();
        poll(&mut t, 80, open, "200 OK", OPEN, 1);
        poll(&mut t, 80, sid, "400 Bad Request", UNKNOWN, 5);
        post(&mut t, b"1", 3);
        let s = &t.finish(&mut Meter::new())[0];
        let codes: Vec<Code> = s.findings.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [Code::EngineioFellBackToPolling],
            "{:#?}",
            s.findings
        );
        assert_eq!((s.ending, s.errors.len()), ("close_packet", 1));
        // Answered 400 before any close: a request gone astray.
        let mut t = EngineIoTracker::new();
        poll(&mut t, 80, open, "200 OK", OPEN, 1);
        poll(&mut t, 80, sid, "400 Bad Request", UNKNOWN, 3);
        post(&mut t, b"1", 5);
        let s = &t.finish(&mut Meter::new())[0];
        let codes: Vec<Code> = s.findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, [Code::EngineioSessionUnknown]);
        assert_eq!(s.ending, "session_unknown");
    }

    /// A poll past the open polling streams one HTTP/2 connection follows comes without
    /// body or answer: its session counts it and says so (`engineio_polls_not_followed`),
    /// apart from the memory budget's `memcap_reached`, and does not read the missing body
    /// as a malformed payload; one that names no sid is a record of its own.
    #[test]
    fn polls_not_followed_are_said_on_their_session_not_called_malformed() {
        let mut meter = Meter::new();
        let mut t = EngineIoTracker::new();
        poll(
            &mut t,
            80,
            "/socket.io/?EIO=4&transport=polling",
            "200 OK",
            OPEN,
            1,
        );
        let unfollowed = |t: &mut EngineIoTracker, target: &str, method: &str, n: u64| {
            let req = msg(
                &format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n"),
                b"",
                n,
            );
            let req = Message { body: None, ..req };
            t.poll(
                &Poll {
                    client: addr(40000),
                    server: addr(80),
                    request: &req,
                    response: None,
                    bodies_unread: 0,
                    not_followed: true,
                },
                &mut Meter::new(),
            );
        };
        let sid = "/socket.io/?EIO=4&transport=polling&sid=S1";
        unfollowed(&mut t, sid, "GET", 7);
        unfollowed(&mut t, sid, "POST", 9);
        assert!(t.take_done().is_empty(), "the session goes on");
        let s = &t.finish(&mut meter)[0];
        assert_eq!(s.polls, 3);
        let codes: Vec<Code> = s.findings.iter().map(|f| f.code).collect();
        assert!(!codes.contains(&Code::EngineioMalformed), "{codes:?}");
        assert!(!codes.contains(&Code::MemcapReached), "{codes:?}");
        let f = s
            .findings
            .iter()
            .find(|f| f.code == Code::EngineioPollsNotFollowed)
            .unwrap();
        assert_eq!(f.packets, [7]);
        assert!(
            f.message
                .starts_with("2 polling requests were not followed")
                && f.message.contains("32 polling streams open already"),
            "{}",
            f.message
        );
        // Without a sid (an open poll past the cap) it is a record of its own.
        unfollowed(&mut t, "/socket.io/?EIO=4&transport=polling", "GET", 11);
        let done = t.take_done();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].sid, None);
        assert_eq!(done[0].findings.len(), 1);
        assert_eq!(done[0].findings[0].code, Code::EngineioPollsNotFollowed);
        assert!(done[0].findings[0]
            .message
            .starts_with("1 polling request was not followed: it came"));
    }

    #[test]
    fn a_body_cut_by_the_cap_is_said_and_not_called_malformed() {
        let mut meter = Meter::new();
        let mut t = EngineIoTracker::new().with_body_bytes(12);
        let sid = "/socket.io/?EIO=3&transport=polling&sid=S1";
        // v3: `20:4{"a":"bbbbbbbbbb"}` cut after 12 characters: the length runs past the end.
        let cut = excerpt(br#"20:4{"a":"bbb"#, true);
        poll_in(&mut t, &mut meter, sid, "200 OK", cut, 1, 0);
        let s = &t.finish(&mut meter)[0];
        let codes: Vec<Code> = s.findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, [Code::EngineioBodyCut], "{:?}", s.findings);
        assert_eq!(s.findings[0].packets, [2]);
        // The same bytes, whole as sent (not cut by the cap), are malformed.
        let mut t = EngineIoTracker::new().with_body_bytes(64);
        poll_in(
            &mut t,
            &mut meter,
            sid,
            "200 OK",
            excerpt(br#"20:4{"a":"bbb"#, false),
            1,
            0,
        );
        let s = &t.finish(&mut meter)[0];
        assert_eq!(s.findings[0].code, Code::EngineioMalformed);
    }

    /// A GET of `target` at packet `n` answered `status` with `headers` and `body`.
    fn answered(
        t: &mut EngineIoTracker,
        target: &str,
        status: &str,
        headers: &str,
        body: &[u8],
        n: u64,
    ) {
        let req = msg(&format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"), b"", n);
        let resp = msg(
            &format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n",
                body.len()
            ),
            body,
            n + 1,
        );
        poll_answered(t, addr(40000), addr(80), &req, &resp);
    }

    #[test]
    fn answers_from_something_that_is_not_engineio_are_named() {
        let open = "/socket.io/?EIO=4&transport=polling";
        let page = b"<!DOCTYPE html><html><body><div id=root></div></body></html>";
        let mut t = EngineIoTracker::new();
        // A single-page app's fallback serves its index.html to the open.
        answered(
            &mut t,
            open,
            "200 OK",
            "Content-Type: text/html\r\n",
            page,
            1,
        );
        // Express without Socket.IO on that path.
        answered(
            &mut t,
            open,
            "404 Not Found",
            "Content-Type: text/html; charset=utf-8\r\nX-Powered-By: Express\r\n",
            b"<pre>Cannot GET /socket.io/</pre>",
            3,
        );
        let done = t.take_done();
        assert_eq!(done.len(), 2, "{done:#?}");
        for (s, status) in done.iter().zip(["200", "404"]) {
            let codes: Vec<Code> = s.findings.iter().map(|f| f.code).collect();
            assert_eq!(codes, [Code::EngineioNotServed], "not engineio_malformed");
            assert_eq!(s.ending, "rejected");
            let m = &s.findings[0].message;
            assert!(
                m.contains(&format!("HTTP {status} (Content-Type: text/html")),
                "{m}"
            );
        }
        assert!(done[0].findings[0].message.contains("index.html"));
        assert_eq!(done[1].findings[0].packets, [4]);

        // Engine.IO's own refusals are not this: python-engineio answers 400 in plain text,
        // and engine.io answers every POST `ok` as text/html.
        let mut t = EngineIoTracker::new();
        answered(&mut t, open, "200 OK", "", OPEN, 1);
        let sid = "/socket.io/?EIO=4&transport=polling&sid=S1";
        answered(
            &mut t,
            sid,
            "400 BAD REQUEST",
            "Content-Type: text/plain\r\n",
            b"Invalid session",
            3,
        );
        let req = msg("POST /socket.io/?EIO=4&transport=polling&sid=S1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n", b"40", 5);
        let resp = msg(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\n",
            b"ok",
            6,
        );
        poll_answered(&mut t, addr(1), addr(80), &req, &resp);
        // The backend behind the proxy went away mid-session.
        answered(
            &mut t,
            sid,
            "502 Bad Gateway",
            "Server: nginx/1.22.1\r\nContent-Type: text/html\r\n",
            b"<html>502</html>",
            7,
        );
        answered(&mut t, sid, "502 Bad Gateway", "", b"", 9);
        let s = &t.finish(&mut Meter::new())[0];
        let found: Vec<_> = s
            .findings
            .iter()
            .filter(|f| f.code == Code::EngineioNotServed)
            .collect();
        assert_eq!(found.len(), 1, "{:#?}", s.findings);
        assert!(
            found[0]
                .message
                .contains("HTTP 502 (Content-Type: text/html, Server: nginx/1.22.1)"),
            "{}",
            found[0].message
        );
        assert!(found[0].message.contains("(2 answers like it)"));
        assert_eq!(found[0].packets, [8]);
    }

    #[test]
    fn idle_sessions_expire_after_their_heartbeat_and_a_margin_unless_a_websocket_is_open() {
        let mut meter = Meter::new();
        let mut t = EngineIoTracker::new();
        let open = "/socket.io/?EIO=4&transport=polling";
        // pingInterval 300 ms + pingTimeout 200 ms; the answer at 2 ms.
        poll_in(
            &mut t,
            &mut meter,
            open,
            "200 OK",
            excerpt(OPEN, false),
            1,
            0,
        );
        let ms = |n: i64| Timestamp(n * 1_000_000);
        let limit = 2 + 500 + IDLE_MARGIN_NS / 1_000_000;
        t.expire(ms(limit), &mut meter);
        assert!(
            t.take_done().is_empty(),
            "not idle for longer than the limit yet"
        );
        t.expire(ms(limit + 1), &mut meter);
        let done = t.take_done();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].ending, "expired");
        assert_eq!((t.memory(), meter.held()), (0, 0));

        // A session whose WebSocket is open waits for that connection's end.
        let mut t = EngineIoTracker::new();
        poll_in(
            &mut t,
            &mut meter,
            open,
            "200 OK",
            excerpt(OPEN, false),
            1,
            0,
        );
        t.by_handshake.insert(7, "S1".to_owned());
        t.held += link_cost("S1");
        if let Some(st) = t.sessions.get_mut("S1") {
            st.websockets_open = 1;
        }
        t.settle("S1", &mut meter, 2);
        assert_eq!(
            t.next_due(),
            NEVER,
            "no deadline while the WebSocket is open"
        );
        t.expire(ms(1_000_000), &mut meter);
        assert!(t.take_done().is_empty());
        assert_eq!(t.len(), 1);
        // Without its open packet: engine.io 4's default heartbeat, 45 s.
        let mut t = EngineIoTracker::new();
        let sid = "/socket.io/?EIO=4&transport=polling&sid=S9";
        poll_in(
            &mut t,
            &mut meter,
            sid,
            "200 OK",
            excerpt(b"6", false),
            1,
            0,
        );
        t.expire(ms(2 + 45_000 + IDLE_MARGIN_NS / 1_000_000), &mut meter);
        assert_eq!(t.len(), 1);
        t.expire(ms(3 + 45_000 + IDLE_MARGIN_NS / 1_000_000), &mut meter);
        assert_eq!(t.len(), 0);
    }
}
