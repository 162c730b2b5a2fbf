//! RFC 6455 §4 opening-handshake verification: one exchange → its [`HandshakeRecord`].
//!
//! Pure: takes the exchange the HTTP stage completed (request, final and interim responses,
//! how it ended, evidence findings) and returns the record: what the request and response
//! say (method, host, key, accept, subprotocols, extensions), the findings and verdict, the
//! messages themselves and the timings they show. The engine adds only what it owns: the id,
//! the endpoints and community id, and the TCP connect time. Client-side rules (§4.1 "the
//! handshake MUST be…") and server-side rules (§4.2.2, and the client's checks of the
//! response in §4.1) are checked separately, so a finding says which side broke which rule.
//! Each finding cites its evidence ([`crate::finding::Evidence`]): the message, the line of
//! its head (or the line it lacks) and the packets, so every sink highlights the same lines.

pub mod accept;

use std::net::{Ipv4Addr, SocketAddr};

use crate::capture::Timestamp;
use crate::event::{
    Ending, H2Reset, H2Stream, HandshakeRecord, Head, LowerName, Message, TcpLoss, Timing, Verdict,
};
use crate::finding::{Code, Finding, HeadPart, MessageRef, Severity};
use crate::h2::connection::UNKNOWN_FIELD;
use crate::http::exchange::Completed;

/// Default `--slow-response`: 5 s. Client handshake timeouts are 10 s (websockets'
/// `open_timeout`, which also counts TCP and TLS setup), 20 s (Socket.IO's `timeout`), or
/// whatever an application sets (ws has no `handshakeTimeout` unless one is given, and 5 s is
/// a common choice there): half the tightest common default still leaves room to act.
pub const DEFAULT_SLOW_RESPONSE_NS: i64 = 5_000_000_000;

/// What the checks are told beyond the exchange itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// A response later than this after the request (nanoseconds) gets `slow_response`;
    /// `None` never.
    pub slow_response_ns: Option<i64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            slow_response_ns: Some(DEFAULT_SLOW_RESPONSE_NS),
        }
    }
}

/// Analyses one exchange into its record. `explain_accept` may recognise a wrong accept value
/// as another handshake's. Left for the engine: `id` (0 here), `client`, `server`,
/// `community_id` (unspecified here) and `timing.connect_rtt_ms`.
#[must_use]
pub fn record(
    exchange: Completed,
    policy: &Policy,
    explain_accept: &dyn Fn(&str) -> Option<String>,
) -> HandshakeRecord {
    let Completed {
        request,
        response,
        interim,
        ending,
        ended_at,
        extra,
        h2,
        ..
    } = exchange;
    let ts = request
        .as_ref()
        .or(response.as_ref())
        .map_or(Timestamp::default(), |m| m.first_ts);
    let mut r = unplaced(ts);
    let request_end = request.as_ref().map(|m| m.last_ts);
    let response_ns = match (request_end, response.as_ref()) {
        (Some(req), Some(resp)) => Some(resp.first_ts.nanos_since(req)),
        _ => None,
    };
    let waited_ns = match (request_end, ended_at, &response) {
        (Some(req), Some(end), None) => Some(end.nanos_since(req)),
        _ => None,
    };
    let mut extra = extra;
    if let (Some(ns), Some(limit), Some(resp)) =
        (response_ns, policy.slow_response_ns, response.as_ref())
    {
        if ns > limit {
            extra.push(
                Finding::new(
                    Code::SlowResponse,
                    format!(
                        "the response came {} after the request (--slow-response {}): a client with a shorter handshake timeout would have given up",
                        seconds(ns),
                        seconds(limit)
                    ),
                )
                .packets(&resp.packets),
            );
        }
    }
    match &h2 {
        Some(h2) => check_h2(
            &mut r,
            request.as_ref(),
            response.as_ref(),
            h2,
            ending,
            extra,
        ),
        None => check(
            &mut r,
            request.as_ref(),
            response.as_ref(),
            ending.map(|e| (e, waited_ns)),
            extra,
            explain_accept,
        ),
    }
    r.h2 = h2;
    r.timing = Timing {
        connect_rtt_ms: None,
        response_ms: response_ns.map(Timing::millis),
        waited_ms: waited_ns.map(Timing::millis),
    };
    r.ending = if r.status.is_none() { ending } else { None };
    r.request = request;
    r.response = response;
    r.interim = interim;
    r
}

/// What a wrong accept value that answers another handshake's key adds to the
/// `accept_mismatch` message (`other` is [`crate::correlate::accepts::RecentAccepts::explain`]'s
/// answer).
fn stale_accept_words(actual: &str, other: &str) -> String {
    format!("; {actual} is the answer to {other}: a stale, replayed response")
}

/// Adds to `record`'s `accept_mismatch` finding that its accept value `actual` answers
/// `other` (another handshake's key), as [`record`] does when its `explain_accept` knows:
/// for a record built where the other handshakes are not known (a flow-sharded worker),
/// explained later by the correlation stage.
pub fn note_stale_accept(record: &mut HandshakeRecord, actual: &str, other: &str) {
    if let Some(f) = record
        .findings
        .iter_mut()
        .find(|f| f.code == Code::AcceptMismatch)
    {
        f.message.push_str(&stale_accept_words(actual, other));
    }
}

/// How the connection of a failed 101 ended when the client never sent a frame: the switch did
/// not take effect on the client's side, so there is no WebSocket connection to report, and
/// the ending belongs to this record (`ending`, and an info finding that says who closed and
/// when). `after_ms` is the time from the 101 to the end; `server_frames` what the server sent
/// meanwhile (frames the client never accepted).
pub fn close_after_failure(
    record: &mut HandshakeRecord,
    ending: Ending,
    after_ms: f64,
    server_frames: u64,
) {
    let after = format!("{after_ms:.1} ms after the 101");
    let mut message = match ending {
        // RFC 6455 §4.1: "the client MUST _Fail the WebSocket Connection_" when the 101 does
        // not validate; §7.1.7: failing a connection that was never established sends no
        // close frame, it just closes TCP.
        Ending::ClientFin | Ending::ClientRst => format!(
            "{} {after}, without a frame, as RFC 6455 §4.1 requires of a client that rejects the handshake",
            ending.describe()
        ),
        Ending::ServerFin | Ending::ServerRst => format!(
            "{} {after}, before the client sent a frame",
            ending.describe()
        ),
        Ending::CaptureEnded | Ending::ResponseTimeout => {
            format!("no frame from the client before the capture ended, {after}")
        }
        Ending::Evicted => format!(
            "no frame from the client before wssniff evicted the flow, {after}"
        ),
    };
    if server_frames > 0 {
        message.push_str(&format!(
            "; the server had sent {server_frames} frame{} the client never accepted",
            if server_frames == 1 { "" } else { "s" }
        ));
    }
    record.ending = Some(ending);
    record
        .findings
        .push(Finding::new(Code::ClosedAfterFailedHandshake, message));
}

/// `ns` as a duration for a message: `7.0 s`, `350.2 ms`.
fn seconds(ns: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let ms = ns as f64 / 1e6;
    if ms.abs() < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// Who gave up on an unanswered request, and after how long: "the client closed the
/// connection after 7.0 s without an answer (FIN)".
fn who_gave_up(ending: Ending, waited_ns: Option<i64>) -> String {
    let Some(ns) = waited_ns else {
        return ending.describe().to_owned();
    };
    let after = seconds(ns);
    match ending {
        Ending::ClientFin => {
            format!("the client closed the connection after {after} without an answer (FIN)")
        }
        Ending::ClientRst => {
            format!("the client reset the connection after {after} without an answer (RST)")
        }
        Ending::ServerFin => {
            format!("the server closed the connection after {after} without answering (FIN)")
        }
        Ending::ServerRst => {
            format!("the server reset the connection after {after} without answering (RST)")
        }
        Ending::ResponseTimeout => {
            format!("no answer after {after} (--response-timeout) while the connection stayed open")
        }
        Ending::CaptureEnded | Ending::Evicted => ending.describe().to_owned(),
    }
}

/// A record with nothing analysed yet, at `ts`, its engine-owned fields unset.
fn unplaced(ts: Timestamp) -> HandshakeRecord {
    let nowhere = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    HandshakeRecord {
        id: 0,
        ts,
        client: nowhere,
        server: nowhere,
        community_id: String::new(),
        verdict: Verdict::default(),
        status: None,
        method: None,
        host: None,
        path: None,
        origin: None,
        key: None,
        accept: None,
        expected_accept: None,
        subprotocols_offered: Vec::new(),
        subprotocol: None,
        extensions_offered: Vec::new(),
        extensions: Vec::new(),
        request: None,
        response: None,
        interim: Vec::new(),
        timing: Timing::default(),
        ending: None,
        findings: Vec::new(),
        loss: TcpLoss::default(),
        h2: None,
        tls: None,
    }
}

/// The checks: fills what the messages say, the findings (worst first) and the verdict.
/// `ending` says how the connection ended when there is no response; `extra` holds evidence
/// findings from the capture (gaps, truncation) that weigh on the verdict.
fn check(
    a: &mut HandshakeRecord,
    request: Option<&Message>,
    response: Option<&Message>,
    ending: Option<(Ending, Option<i64>)>,
    extra: Vec<Finding>,
    explain_accept: &dyn Fn(&str) -> Option<String>,
) {
    let mut request_findings = Vec::new();
    if let Some(req) = request {
        check_request(req, a, &mut request_findings);
    }
    let mut response_findings = Vec::new();
    match (request, response) {
        (_, Some(resp)) => check_response(request, resp, a, &mut response_findings, explain_accept),
        (Some(_), None)
            if extra
                .iter()
                .any(|f| f.code == Code::ResponseAckedNotCaptured) => {}
        // The budget dropped bytes of this exchange: whether an answer came is not known,
        // and the memcap finding in `extra` says so.
        (Some(_), None) if extra.iter().any(|f| f.code == Code::MemcapReached) => {}
        (Some(req), None) => {
            let (ending, waited_ns) = ending.unwrap_or((Ending::CaptureEnded, None));
            let finding = match ending {
                Ending::CaptureEnded => Finding::new(
                    Code::ResponseNotCaptured,
                    "no response before the capture ended",
                ),
                Ending::Evicted => Finding::new(
                    Code::FlowEvicted,
                    "the flow was evicted before a response arrived",
                ),
                other => Finding::new(
                    Code::NoResponse,
                    format!(
                        "no response to the upgrade request: {}",
                        who_gave_up(other, waited_ns)
                    ),
                ),
            };
            response_findings.push(finding.packets(&req.packets));
        }
        (None, None) => {}
    }
    if request.is_none()
        && response.is_some()
        && !extra.iter().any(|f| f.code == Code::RequestNotCaptured)
    {
        response_findings.push(Finding::new(
            Code::RequestNotCaptured,
            "the request of this exchange is not in the capture",
        ));
    }
    // A broken client rule the server tolerated is a warning: the connection opened.
    let opened = a.status == Some(101)
        && !response_findings
            .iter()
            .any(|f| f.severity == Severity::Error);
    if opened {
        request_findings.iter_mut().for_each(Finding::downgrade);
    }
    a.findings = request_findings;
    a.findings.append(&mut response_findings);
    a.findings.extend(extra);
    let head_cut = [request, response]
        .iter()
        .any(|m| m.is_some_and(|m| m.cut.is_some()));
    note_cut_heads(a, request, response);
    a.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    a.verdict = verdict(a, head_cut);
}

/// A head the snap length cut short: its `snaplen_truncated` finding says which head and
/// where, and that checks needing the lines after the cut were not made (the verdict is then
/// `incomplete` unless what was captured already proves a failure).
fn note_cut_heads(a: &mut HandshakeRecord, request: Option<&Message>, response: Option<&Message>) {
    let cuts: Vec<(&str, &Message)> = [("request", request), ("response", response)]
        .into_iter()
        .filter_map(|(who, m)| m.filter(|m| m.cut.is_some()).map(|m| (who, m)))
        .collect();
    if cuts.is_empty() {
        return;
    }
    let mut words = Vec::new();
    let mut packets = Vec::new();
    for (who, m) in &cuts {
        if let Some(cut) = m.cut {
            words.push(format!(
                "the {who} head is cut at {} bytes (the snap length) in packet {}, {} bytes of that packet missing; {} header line{} captured before the cut",
                cut.snaplen,
                cut.packet,
                cut.missing_bytes,
                m.head.headers.len(),
                if m.head.headers.len() == 1 { "" } else { "s" }
            ));
            packets.push(cut.packet);
        }
    }
    let message = format!(
        "{}: checks that need the rest of the head were not made (capture with -s 0)",
        words.join("; ")
    );
    match a
        .findings
        .iter_mut()
        .find(|f| f.code == Code::SnaplenTruncated)
    {
        Some(f) => f.message = format!("{message}; {}", f.message),
        None => a
            .findings
            .push(Finding::new(Code::SnaplenTruncated, message).packets(&packets)),
    }
}

/// The verdict from the worst finding; `head_cut`: a head ends beyond a snap-length cut.
fn verdict(a: &HandshakeRecord, head_cut: bool) -> Verdict {
    let worst = a.findings.iter().map(|f| f.severity).max();
    let evidence_missing = head_cut
        || a.findings.iter().any(|f| {
            matches!(
                f.code,
                Code::ResponseNotCaptured
                    | Code::ResponseAckedNotCaptured
                    | Code::RequestNotCaptured
                    | Code::FlowEvicted
                    | Code::HeaderLimitExceeded
                    | Code::MemcapReached
            )
        });
    match worst {
        Some(Severity::Error) => Verdict::Failed,
        _ if evidence_missing => Verdict::Incomplete,
        Some(Severity::Warning) => Verdict::Warning,
        _ => Verdict::Ok,
    }
}

const REQ: MessageRef = MessageRef::Request;
const RESP: MessageRef = MessageRef::Response;

fn missing(line: &str) -> HeadPart {
    HeadPart::Missing(line.to_owned())
}

/// Indices of the headers named `name` (case-insensitive), in wire order.
fn header_indices<'a>(head: &'a Head, name: &'a str) -> impl Iterator<Item = usize> + 'a {
    head.headers
        .iter()
        .enumerate()
        .filter(move |(_, h)| h.is(name))
        .map(|(i, _)| i)
}

/// Quotes every `name` header of `m` in the finding's lines and cites each.
fn quote(mut f: Finding, at: MessageRef, m: &Message, name: &str) -> Finding {
    for i in header_indices(&m.head, name) {
        f = f.cite(at, HeadPart::Header(i));
    }
    f.lines.extend(m.lines(name));
    f
}

/// Cites the first `name` header of `head` (the one the check read).
fn cite_first(f: Finding, at: MessageRef, head: &Head, name: &str) -> Finding {
    match header_indices(head, name).next() {
        Some(i) => f.cite(at, HeadPart::Header(i)),
        None => f,
    }
}

/// What the HTTP/1.1 checks read of a head's fields, from one walk over them: looked up one
/// by one (`value`, `fields`, `has_token`, `list`), an upgrade's seven to ten fields were
/// walked about a dozen times a head (`has_token` alone 2,130 times on b30's 605 handshakes).
/// Each entry reads as the lookup it replaces: the first value, whether any field holds the
/// token, how many fields there are.
#[derive(Default)]
struct Fields<'h> {
    /// The first `Host`.
    host: Option<&'h str>,
    /// The first `Origin`.
    origin: Option<&'h str>,
    /// The first `Sec-WebSocket-Origin` (RFC 6455's drafts).
    ws_origin: Option<&'h str>,
    /// The first `Server`.
    server: Option<&'h str>,
    /// An `Upgrade` field is present.
    upgrade: bool,
    /// An `Upgrade` field holds `websocket`.
    upgrade_websocket: bool,
    /// A `Connection` field is present.
    connection: bool,
    /// A `Connection` field holds `upgrade`.
    connection_upgrade: bool,
    /// The first `Sec-WebSocket-Key` and how many there are.
    key: Option<&'h str>,
    key_count: usize,
    /// The first `Sec-WebSocket-Accept` and how many there are.
    accept: Option<&'h str>,
    accept_count: usize,
    /// The first `Sec-WebSocket-Version` and how many there are.
    version: Option<&'h str>,
    version_count: usize,
    /// A `Sec-WebSocket-Protocol` field is present.
    protocol: bool,
    /// A `Sec-WebSocket-Extensions` field is present.
    extensions: bool,
    /// A `Location` field is present.
    location: bool,
    /// A `WWW-Authenticate` field is present.
    www_authenticate: bool,
}

impl<'h> Fields<'h> {
    fn of(head: &'h Head) -> Self {
        const HOST: LowerName = LowerName::new(b"Host");
        const ORIGIN: LowerName = LowerName::new(b"Origin");
        const SERVER: LowerName = LowerName::new(b"Server");
        const UPGRADE: LowerName = LowerName::new(b"Upgrade");
        const LOCATION: LowerName = LowerName::new(b"Location");
        const CONNECTION: LowerName = LowerName::new(b"Connection");
        const WWW_AUTHENTICATE: LowerName = LowerName::new(b"WWW-Authenticate");
        const KEY: LowerName = LowerName::new(b"Sec-WebSocket-Key");
        const WS_ORIGIN: LowerName = LowerName::new(b"Sec-WebSocket-Origin");
        const ACCEPT: LowerName = LowerName::new(b"Sec-WebSocket-Accept");
        const VERSION: LowerName = LowerName::new(b"Sec-WebSocket-Version");
        const PROTOCOL: LowerName = LowerName::new(b"Sec-WebSocket-Protocol");
        const EXTENSIONS: LowerName = LowerName::new(b"Sec-WebSocket-Extensions");
        const WEBSOCKET: LowerName = LowerName::new(b"websocket");
        let mut f = Fields::default();
        for h in &head.headers {
            let value = h.value;
            // By length first (bytes, as `Header::is` compares them): most fields are none of
            // these, and few of these share a length.
            match h.name.len() {
                4 if h.is_named(&HOST) => {
                    f.host.get_or_insert(value);
                }
                6 if h.is_named(&ORIGIN) => {
                    f.origin.get_or_insert(value);
                }
                6 if h.is_named(&SERVER) => {
                    f.server.get_or_insert(value);
                }
                7 if h.is_named(&UPGRADE) => {
                    f.upgrade = true;
                    f.upgrade_websocket = f.upgrade_websocket || h.holds_name(&WEBSOCKET);
                }
                8 if h.is_named(&LOCATION) => f.location = true,
                10 if h.is_named(&CONNECTION) => {
                    f.connection = true;
                    f.connection_upgrade = f.connection_upgrade || h.holds_name(&UPGRADE);
                }
                16 if h.is_named(&WWW_AUTHENTICATE) => f.www_authenticate = true,
                17 if h.is_named(&KEY) => {
                    f.key.get_or_insert(value);
                    f.key_count += 1;
                }
                20 if h.is_named(&WS_ORIGIN) => {
                    f.ws_origin.get_or_insert(value);
                }
                20 if h.is_named(&ACCEPT) => {
                    f.accept.get_or_insert(value);
                    f.accept_count += 1;
                }
                21 if h.is_named(&VERSION) => {
                    f.version.get_or_insert(value);
                    f.version_count += 1;
                }
                22 if h.is_named(&PROTOCOL) => f.protocol = true,
                24 if h.is_named(&EXTENSIONS) => f.extensions = true,
                _ => {}
            }
        }
        f
    }

    /// `head.list(name)` for a field this walk found present or absent: an absent one is
    /// an empty list without a walk.
    fn list(present: bool, head: &Head, name: &str) -> Vec<String> {
        if present {
            head.list(name)
        } else {
            Vec::new()
        }
    }
}

fn check_request(req: &Message, a: &mut HandshakeRecord, out: &mut Vec<Finding>) {
    let head = &req.head;
    let fields = Fields::of(head);
    let packets = &req.packets;
    // A head cut by the snap length holds only its first lines: a header it lacks may be
    // beyond the cut, so no finding says it is missing.
    let whole = req.cut.is_none();
    a.method = head.method().map(str::to_owned);
    if let crate::event::StartLine::Request { target, .. } = &head.start {
        a.path = Some(target.clone());
    }
    a.host = fields.host.map(str::to_owned);
    a.origin = fields.origin.or(fields.ws_origin).map(str::to_owned);
    a.subprotocols_offered = Fields::list(fields.protocol, head, "Sec-WebSocket-Protocol");
    a.extensions_offered = Fields::list(fields.extensions, head, "Sec-WebSocket-Extensions");

    // RFC 6455 §4.1 item 2: "The method of the request MUST be GET, and the HTTP version MUST
    // be at least 1.1."
    if a.method.as_deref() != Some("GET") {
        out.push(
            Finding::new(
                Code::RequestNotGet,
                format!("request method is {}", a.method.as_deref().unwrap_or("?")),
            )
            .packets(packets)
            .line(head.start_line.clone())
            .cite(REQ, HeadPart::StartLine),
        );
    }
    if head.version_minor < 1 {
        out.push(
            Finding::new(Code::RequestHttpVersion, "request is HTTP/1.0")
                .packets(packets)
                .line(head.start_line.clone())
                .cite(REQ, HeadPart::StartLine),
        );
    }
    // Item 4: Host.
    if a.host.is_none() && whole {
        out.push(
            Finding::new(Code::RequestHostMissing, "no Host header")
                .packets(packets)
                .cite(REQ, missing("Host: …")),
        );
    }
    // Item 5: Upgrade contains "websocket" (case-insensitive).
    if !fields.upgrade {
        if whole {
            out.push(
                Finding::new(
                    Code::RequestUpgradeMissing,
                    "no Upgrade header in the request",
                )
                .packets(packets)
                .cite(REQ, missing("Upgrade: websocket")),
            );
        }
    } else if !fields.upgrade_websocket {
        let f = Finding::new(
            Code::RequestUpgradeNotWebsocket,
            "Upgrade does not name websocket",
        )
        .packets(packets);
        out.push(quote(f, REQ, req, "Upgrade"));
    }
    // Item 6: Connection contains "Upgrade".
    if !fields.connection_upgrade && (whole || fields.connection) {
        let none = !fields.connection;
        let f = Finding::new(
            Code::RequestConnectionMissingUpgrade,
            if none {
                "no Connection header in the request".to_owned()
            } else {
                "Connection does not list Upgrade".to_owned()
            },
        )
        .packets(packets);
        out.push(if none {
            f.cite(REQ, missing("Connection: Upgrade"))
        } else {
            quote(f, REQ, req, "Connection")
        });
    }
    // Item 7: exactly one key, base64 of 16 bytes.
    // The first key and how many there are, without collecting them.
    let (first_key, key_count) = (fields.key, fields.key_count);
    a.key = first_key.map(str::to_owned);
    match (first_key, key_count) {
        (None, _) if !whole => {}
        (None, _) => out.push(
            Finding::new(
                Code::RequestKeyMissing,
                "no Sec-WebSocket-Key in the request",
            )
            .packets(packets)
            .cite(
                REQ,
                missing("Sec-WebSocket-Key: <base64 of 16 random bytes>"),
            ),
        ),
        (Some(key), 1) => {
            if !accept::key_is_valid(key) {
                let mut f = Finding::new(
                    Code::RequestKeyInvalid,
                    format!("Sec-WebSocket-Key {key:?} is not base64 of 16 bytes"),
                )
                .packets(packets)
                .line(format!("Sec-WebSocket-Key: {key}"));
                f = cite_first(f, REQ, head, "Sec-WebSocket-Key");
                out.push(f);
            }
            a.expected_accept = Some(accept::expected_accept(key));
        }
        (Some(key), _) => {
            let f = Finding::new(
                Code::RequestKeyDuplicate,
                format!("{key_count} Sec-WebSocket-Key headers"),
            )
            .packets(packets);
            out.push(quote(f, REQ, req, "Sec-WebSocket-Key"));
            a.expected_accept = Some(accept::expected_accept(key));
        }
    }
    // Item 9: version 13.
    // A single `13` is what `check_version` lets pass first; the others it reads itself.
    let only_13 = fields.version_count == 1 && fields.version == Some("13");
    if !only_13 && (whole || !head.list("Sec-WebSocket-Version").is_empty()) {
        check_version(req, &HTTP1, out);
    }
    check_origin(req, a, &HTTP1, out);
}

/// How the checks HTTP/1.1 and HTTP/2 share (RFC 8441 §5 keeps RFC 6455's version, Origin
/// and offers) spell the request's fields in what they say: HTTP/1.1 as RFC 6455 writes
/// them, HTTP/2 lower-case (RFC 9113 §8.2.1) with `:authority` in place of Host.
struct Dialect {
    /// Sec-WebSocket-Version as written in findings.
    version: &'static str,
    /// What the request's host is called in the cross-origin finding.
    host: &'static str,
    /// The Origin field's name in the quoted line.
    origin: &'static str,
    /// A field value may be [`UNKNOWN_FIELD`] (HPACK state lost): it is not checked.
    unknown_values: bool,
}

const HTTP1: Dialect = Dialect {
    version: "Sec-WebSocket-Version",
    host: "host",
    origin: "Origin",
    unknown_values: false,
};

const H2: Dialect = Dialect {
    version: "sec-websocket-version",
    host: ":authority",
    origin: "origin",
    unknown_values: true,
};

/// The subprotocols and extensions the request offers.
fn offers(head: &Head, a: &mut HandshakeRecord) {
    a.subprotocols_offered = head.list("Sec-WebSocket-Protocol");
    a.extensions_offered = head.list("Sec-WebSocket-Extensions");
}

/// RFC 6455 §4.1 item 9 (and RFC 8441 §5): Sec-WebSocket-Version is 13.
fn check_version(req: &Message, d: &Dialect, out: &mut Vec<Finding>) {
    // The usual answer, a single `13`, read without collecting the list.
    let mut items = req
        .head
        .values("Sec-WebSocket-Version")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let (Some("13"), None) = (items.next(), items.next()) {
        return;
    }
    let versions = req.head.list("Sec-WebSocket-Version");
    if versions.is_empty() {
        out.push(
            Finding::new(Code::RequestVersionMissing, format!("no {}", d.version))
                .packets(&req.packets)
                .cite(REQ, missing(&format!("{}: 13", d.version))),
        );
    } else if versions != ["13"] && !(d.unknown_values && versions == [UNKNOWN_FIELD]) {
        let f = Finding::new(
            Code::RequestVersionUnsupported,
            format!("{} is {}", d.version, versions.join(", ")),
        )
        .packets(&req.packets);
        out.push(quote(f, REQ, req, "Sec-WebSocket-Version"));
    }
}

/// Origin is reported; a cross-origin request is worth knowing when a 403 follows.
fn check_origin(req: &Message, a: &HandshakeRecord, d: &Dialect, out: &mut Vec<Finding>) {
    let (Some(origin), Some(host)) = (&a.origin, &a.host) else {
        return;
    };
    let Some(origin_host) = origin_host(origin) else {
        return;
    };
    if crate::event::eq_ignore_ascii_case(origin_host.as_bytes(), strip_port(host).as_bytes()) {
        return;
    }
    let f = Finding::new(
        Code::CrossOrigin,
        format!("Origin {origin} is not {} {host}", d.host),
    )
    .packets(&req.packets)
    .line(format!("{}: {origin}", d.origin));
    // The header `a.origin` came from: Origin, else the old Sec-WebSocket-Origin.
    let name = if req.head.value("Origin").is_some() {
        "Origin"
    } else {
        "Sec-WebSocket-Origin"
    };
    out.push(cite_first(f, REQ, &req.head, name));
}

/// The host part of an Origin (`scheme://host[:port]`); `None` for `null` or garbage.
fn origin_host(origin: &str) -> Option<&str> {
    // After the first `://` (its colon found with memchr: a substring search costs more to set
    // up than an Origin is long).
    let bytes = origin.as_bytes();
    let colon = memchr::memchr_iter(b':', bytes)
        .find(|&at| bytes.get(at + 1..at + 3) == Some(b"//".as_slice()))?;
    let rest = origin.get(colon + 3..)?;
    // `rest.split('/').next()` and `rsplit_once(':')` below, by byte: a `char` pattern
    // sets up a searcher per call, for authorities a few bytes long.
    let authority = match rest.bytes().position(|b| b == b'/') {
        Some(slash) => rest.get(..slash)?,
        None => rest,
    };
    Some(strip_port(authority))
}

fn strip_port(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    let bytes = authority.as_bytes();
    match bytes.iter().rposition(|&b| b == b':') {
        Some(colon)
            if bytes
                .get(colon + 1..)
                .is_some_and(|port| port.iter().all(u8::is_ascii_digit)) =>
        {
            authority.get(..colon).unwrap_or(authority)
        }
        _ => authority,
    }
}

fn check_response(
    request: Option<&Message>,
    resp: &Message,
    a: &mut HandshakeRecord,
    out: &mut Vec<Finding>,
    explain_accept: &dyn Fn(&str) -> Option<String>,
) {
    let head = &resp.head;
    let fields = Fields::of(head);
    let packets = &resp.packets;
    let whole = resp.cut.is_none();
    let status = head.status().unwrap_or(0);
    a.status = Some(status);
    a.accept = fields.accept.map(str::to_owned);
    let chosen = Fields::list(fields.protocol, head, "Sec-WebSocket-Protocol");
    a.subprotocol = chosen.first().cloned();
    a.extensions = Fields::list(fields.extensions, head, "Sec-WebSocket-Extensions");
    if status != 101 {
        out.push(status_finding(request, resp, &fields));
        return;
    }
    // Client checks of the response, RFC 6455 §4.1 items 1-6 of "the client MUST validate".
    if !fields.upgrade && !whole {
    } else if !fields.upgrade {
        out.push(
            Finding::new(Code::ResponseUpgradeMissing, "101 response without Upgrade")
                .packets(packets)
                .cite(RESP, missing("Upgrade: websocket")),
        );
    } else if !fields.upgrade_websocket {
        let f = Finding::new(
            Code::ResponseUpgradeMissing,
            "101 response switches to something other than websocket",
        )
        .packets(packets);
        out.push(quote(f, RESP, resp, "Upgrade"));
    }
    if !fields.connection_upgrade && (whole || fields.connection) {
        let f = Finding::new(
            Code::ResponseConnectionMissingUpgrade,
            "101 response's Connection does not list Upgrade",
        )
        .packets(packets);
        out.push(if !fields.connection {
            f.cite(RESP, missing("Connection: Upgrade"))
        } else {
            quote(f, RESP, resp, "Connection")
        });
    }
    let (first_accept, accept_count) = (fields.accept, fields.accept_count);
    match first_accept {
        None if !whole => {}
        None => out.push(
            Finding::new(
                Code::AcceptMissing,
                "101 response without Sec-WebSocket-Accept",
            )
            .packets(packets)
            .cite(
                RESP,
                missing(&format!(
                    "Sec-WebSocket-Accept: {}",
                    a.expected_accept.as_deref().unwrap_or("…")
                )),
            ),
        ),
        Some(actual) => {
            if accept_count > 1 {
                let f = Finding::new(
                    Code::AcceptDuplicate,
                    format!("{accept_count} Sec-WebSocket-Accept headers"),
                )
                .packets(packets);
                out.push(quote(f, RESP, resp, "Sec-WebSocket-Accept"));
            }
            if let Some(expected) = &a.expected_accept {
                if actual != expected {
                    let mut message =
                        format!("Sec-WebSocket-Accept is {actual}, the key requires {expected}");
                    if let Some(other) = explain_accept(actual) {
                        message.push_str(&stale_accept_words(actual, &other));
                    }
                    let mut frames_both = request.map(|r| r.packets.clone()).unwrap_or_default();
                    frames_both.extend_from_slice(packets);
                    let mut f = Finding::new(Code::AcceptMismatch, message).packets(&frames_both);
                    if let (Some(key), Some(req)) = (&a.key, request) {
                        f = f.line(format!("Sec-WebSocket-Key: {key}"));
                        f = cite_first(f, REQ, &req.head, "Sec-WebSocket-Key");
                    }
                    f = f.line(format!("Sec-WebSocket-Accept: {actual}"));
                    out.push(cite_first(f, RESP, head, "Sec-WebSocket-Accept"));
                }
            }
        }
    }
    check_negotiation(request, resp, a, out);
}

/// Subprotocol and extension negotiation of a successful response (RFC 6455 §4.1 client
/// check 6, §4.2.2 item 5.4; RFC 8441 §5 keeps them for HTTP/2).
fn check_negotiation(
    request: Option<&Message>,
    resp: &Message,
    a: &HandshakeRecord,
    out: &mut Vec<Finding>,
) {
    let packets = &resp.packets;
    let whole = resp.cut.is_none();
    // Offer against answer needs both heads whole: what the client offered (or what the
    // server chose) may be beyond a cut, or in a request the capture does not hold.
    let offers_known = request.is_some_and(|r| r.cut.is_none());
    let chosen = resp.head.list("Sec-WebSocket-Protocol");
    if chosen.len() > 1 {
        let f = Finding::new(
            Code::SubprotocolMultiple,
            format!("server chose {} subprotocols", chosen.len()),
        )
        .packets(packets);
        out.push(quote(f, RESP, resp, "Sec-WebSocket-Protocol"));
    }
    if let Some(proto) = &a.subprotocol {
        if offers_known && !a.subprotocols_offered.iter().any(|o| o == proto) {
            let message = if a.subprotocols_offered.is_empty() {
                format!("server chose subprotocol {proto:?} but the client offered none")
            } else {
                format!(
                    "server chose subprotocol {proto:?}; the client offered {}",
                    a.subprotocols_offered.join(", ")
                )
            };
            let f = Finding::new(Code::SubprotocolNotOffered, message).packets(packets);
            out.push(quote(f, RESP, resp, "Sec-WebSocket-Protocol"));
        }
    } else if !a.subprotocols_offered.is_empty() && offers_known && whole {
        out.push(
            Finding::new(
                Code::SubprotocolNotSelected,
                format!(
                    "client offered {} and the server chose none",
                    a.subprotocols_offered.join(", ")
                ),
            )
            .packets(packets),
        );
    }
    if offers_known {
        check_extensions(resp, a, out);
    }
}

/// `fields`: [`Fields::of`] the response's head.
fn status_finding(request: Option<&Message>, resp: &Message, fields: &Fields<'_>) -> Finding {
    let head = &resp.head;
    let status = head.status().unwrap_or(0);
    let line = head.start_line.clone();
    let server = fields
        .server
        .map(|s| format!(" (Server: {s})"))
        .unwrap_or_default();
    let (code, message) = match status {
        200..=299 => (
            Code::UpgradeIgnored,
            format!("server answered {status} instead of 101{server}: the request reached an HTTP handler, not a WebSocket one"),
        ),
        300..=399 => (
            Code::Redirected,
            match head.value("Location") {
                Some(loc) => format!("server redirected ({status}) to {loc}"),
                None => format!("server answered redirect {status}"),
            },
        ),
        400 => (Code::BadRequest, format!("server rejected the handshake with 400{server}")),
        401 | 407 => (
            Code::Unauthorized,
            match head.value("WWW-Authenticate").or_else(|| head.value("Proxy-Authenticate")) {
                Some(auth) => format!("authentication required ({status}, challenge: {auth})"),
                None => format!("authentication required ({status})"),
            },
        ),
        403 => (
            Code::Forbidden,
            match request.and_then(|r| r.head.value("Origin")) {
                Some(origin) => format!("server refused the upgrade with 403; the request came from Origin {origin}, likely not on the server's allow list"),
                None => "server refused the upgrade with 403".to_owned(),
            },
        ),
        404 => (Code::NotFound, format!("no WebSocket endpoint at this path (404){server}")),
        426 => {
            let supported = head.list("Sec-WebSocket-Version");
            let sent = request
                .map(|r| r.head.list("Sec-WebSocket-Version"))
                .unwrap_or_default();
            let version_ok = !sent.is_empty()
                && sent.iter().all(|v| v == "13")
                && (supported.is_empty() || supported.iter().any(|v| v == "13"));
            // The request as captured is a valid upgrade: whatever the server saw without
            // one was changed after this capture point (the 505 case's reasoning).
            let upgrade_sent = request.is_some_and(|r| {
                r.head.version_minor >= 1
                    && r.head.has_token("Upgrade", "websocket")
                    && r.head.has_token("Connection", "upgrade")
            });
            if version_ok && upgrade_sent {
                (
                    Code::UpgradeRequired,
                    format!("server answered 426 Upgrade Required{server} although the request carries `Upgrade: websocket`, `Connection: Upgrade` and version 13: a proxy behind this capture point did not forward them"),
                )
            } else if version_ok {
                (
                    Code::UpgradeRequired,
                    "server answered 426 Upgrade Required: the request's version (13) is fine, so the server did not see a valid upgrade".to_owned(),
                )
            } else if supported.is_empty() {
                (
                    Code::VersionRejected,
                    format!("server answered 426 Upgrade Required to version {}", sent.join(", ")),
                )
            } else {
                (
                    Code::VersionRejected,
                    format!(
                        "server answered 426: it supports version {}, the client sent {}",
                        supported.join(", "),
                        if sent.is_empty() { "none".to_owned() } else { sent.join(", ") }
                    ),
                )
            }
        }
        502 => (Code::BadGateway, format!("proxy answered 502 Bad Gateway{server}: the WebSocket upstream is unreachable or answered garbage")),
        503 => (Code::ServiceUnavailable, format!("503 Service Unavailable{server}")),
        // Not the application failing: the server refuses the request's HTTP version, which
        // the request findings (HTTP/1.0) or a proxy behind this capture point explain.
        505 => (
            Code::HttpVersionRejected,
            match request.map(|r| r.head.version_minor) {
                Some(0) => format!("server answered 505 HTTP Version Not Supported{server} to an HTTP/1.0 request: the upgrade needs HTTP/1.1"),
                Some(_) => format!("server answered 505 HTTP Version Not Supported{server} although the request is HTTP/1.1: a proxy behind this capture point forwarded it with an older version"),
                None => format!("server answered 505 HTTP Version Not Supported{server}"),
            },
        ),
        504 => (Code::GatewayTimeout, format!("proxy answered 504 Gateway Timeout{server}")),
        401..=499 => (Code::ClientError, format!("server answered {line}")),
        500..=599 => (Code::ServerError, format!("server answered {line}")),
        _ => (Code::UnexpectedStatus, format!("server answered {line}")),
    };
    let message = match server_reason(resp) {
        Some(reason) => format!("{message}; the body says \"{reason}\""),
        None => message,
    };
    let mut f = Finding::new(code, message)
        .packets(&resp.packets)
        .line(line)
        .cite(RESP, HeadPart::StartLine);
    // An absent field adds nothing to the quote: it is not looked for.
    for (present, name) in [
        (fields.location, "Location"),
        (fields.www_authenticate, "WWW-Authenticate"),
        (fields.version_count > 0, "Sec-WebSocket-Version"),
        (fields.server.is_some(), "Server"),
    ] {
        if present {
            f = quote(f, RESP, resp, name);
        }
    }
    f
}

/// The server's own reason for a refusal, from the response body: its text, unless it only
/// repeats the status line and the Server header (nginx's error pages do).
pub(crate) fn server_reason(resp: &Message) -> Option<String> {
    let body = resp.body.as_ref()?;
    let head = &resp.head;
    let status = head.status().unwrap_or(0).to_string();
    let reason = match &head.start {
        crate::event::StartLine::Response { reason, .. } => reason.as_str(),
        crate::event::StartLine::Request { .. } => "",
    };
    let status_line = format!("{status} {reason}");
    let noise = [
        status_line.as_str(),
        reason,
        head.value("Server").unwrap_or_default(),
    ];
    body.reason(&noise)
}

/// One parsed `Sec-WebSocket-Extensions` item: name and `(param, value)` pairs.
type Extension = (String, Vec<(String, Option<String>)>);

fn parse_extension(item: &str) -> Extension {
    let mut parts = item.split(';').map(str::trim);
    let name = parts.next().unwrap_or_default().to_ascii_lowercase();
    let params = parts
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                Some(v.trim().trim_matches('"').to_owned()),
            ),
            None => (p.to_ascii_lowercase(), None),
        })
        .collect();
    (name, params)
}

fn check_extensions(resp: &Message, a: &HandshakeRecord, out: &mut Vec<Finding>) {
    let offered: Vec<_> = a
        .extensions_offered
        .iter()
        .map(|e| parse_extension(e))
        .collect();
    // The accepted items as in `a.extensions`, each with the header that carried it.
    let items = header_indices(&resp.head, "Sec-WebSocket-Extensions").flat_map(|i| {
        let value = resp.head.headers.get(i).map_or("", |h| h.value);
        value
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(move |item| (i, item))
    });
    let cited = |f: Finding, i: usize, item: &str| {
        f.packets(&resp.packets)
            .line(format!("Sec-WebSocket-Extensions: {item}"))
            .cite(RESP, HeadPart::Header(i))
    };
    let mut seen: Vec<String> = Vec::new();
    for (i, item) in items {
        let (name, params) = parse_extension(item);
        let offers: Vec<_> = offered.iter().filter(|(n, _)| *n == name).collect();
        if offers.is_empty() {
            let f = Finding::new(
                Code::ExtensionNotOffered,
                format!("server accepted extension {name:?}, which the client did not offer"),
            );
            out.push(cited(f, i, item));
            continue;
        }
        if seen.contains(&name) {
            let f = Finding::new(
                Code::ExtensionParamsInvalid,
                format!("server accepted {name} twice"),
            );
            out.push(cited(f, i, item));
        }
        seen.push(name.clone());
        if name == "permessage-deflate" {
            if let Some(problem) = deflate_response_problem(&params, &offers) {
                out.push(cited(
                    Finding::new(Code::ExtensionParamsInvalid, problem),
                    i,
                    item,
                ));
            }
        }
    }
}

/// RFC 7692 §7.1: what a server may answer to the client's permessage-deflate offers.
fn deflate_response_problem(
    params: &[(String, Option<String>)],
    offers: &[&Extension],
) -> Option<String> {
    let mut names: Vec<&str> = Vec::new();
    for (param, value) in params {
        if names.contains(&param.as_str()) {
            return Some(format!("permessage-deflate parameter {param} repeated"));
        }
        names.push(param);
        let bits_ok = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| v.parse::<u8>().ok())
                .is_some_and(|b| (8..=15).contains(&b))
        };
        match param.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => {
                if value.is_some() {
                    return Some(format!("permessage-deflate {param} takes no value"));
                }
            }
            "server_max_window_bits" => {
                if !bits_ok(value) {
                    return Some(format!(
                        "permessage-deflate server_max_window_bits={} is not 8-15",
                        value.as_deref().unwrap_or("")
                    ));
                }
            }
            "client_max_window_bits" => {
                if !bits_ok(value) {
                    return Some(format!(
                        "permessage-deflate client_max_window_bits={} is not 8-15",
                        value.as_deref().unwrap_or("")
                    ));
                }
                let offered = offers
                    .iter()
                    .any(|(_, p)| p.iter().any(|(k, _)| k == "client_max_window_bits"));
                if !offered {
                    return Some(
                        "server sent client_max_window_bits but the client did not offer it"
                            .to_owned(),
                    );
                }
            }
            other => return Some(format!("unknown permessage-deflate parameter {other}")),
        }
    }
    None
}

/// The checks of an extended CONNECT (RFC 8441) on an HTTP/2 stream: the pseudo-header
/// fields and SETTINGS in place of RFC 6455 §4's Upgrade, Connection, key and accept (HTTP/2
/// has none of them); version, Origin, subprotocol and extension checks as for HTTP/1.1; any
/// 2xx is success (RFC 9113 §8.5), other statuses are classified like HTTP/1.1 refusals, and
/// RST_STREAM or GOAWAY before a final response are failures with their error code.
fn check_h2(
    a: &mut HandshakeRecord,
    request: Option<&Message>,
    response: Option<&Message>,
    h2: &H2Stream,
    ending: Option<Ending>,
    extra: Vec<Finding>,
) {
    let mut request_findings = Vec::new();
    if let Some(req) = request {
        check_connect(req, h2, a, &mut request_findings);
    }
    let mut response_findings = Vec::new();
    let mut opened = false;
    match (request, response) {
        (_, Some(resp)) => {
            let status = resp.head.status().unwrap_or(0);
            a.status = Some(status);
            a.subprotocol = resp.head.list("Sec-WebSocket-Protocol").first().cloned();
            a.extensions = resp.head.list("Sec-WebSocket-Extensions");
            if (200..300).contains(&status) {
                opened = true;
                check_negotiation(request, resp, a, &mut response_findings);
            } else {
                response_findings.push(status_finding(request, resp, &Fields::of(&resp.head)));
            }
        }
        (Some(req), None) => {
            let stream = h2.stream_id;
            let finding = if let Some(r) = &h2.reset {
                Finding::new(
                    Code::H2StreamReset,
                    format!(
                        "the {} reset stream {stream} (RST_STREAM {}) before a final response",
                        r.by.as_str(),
                        reset_code(r)
                    ),
                )
                .packets(&[r.packet])
            } else if let Some(g) = &h2.goaway {
                let debug = g
                    .debug
                    .as_deref()
                    .map(|d| format!(", debug data {d:?}"))
                    .unwrap_or_default();
                Finding::new(
                    Code::H2Goaway,
                    format!(
                        "the {} sent GOAWAY {} (last stream {}) before answering stream {stream}{debug}",
                        g.by.as_str(),
                        reset_code(g),
                        g.last_stream.unwrap_or(0)
                    ),
                )
                .packets(&[g.packet])
            } else {
                match ending.unwrap_or(Ending::CaptureEnded) {
                    Ending::CaptureEnded => Finding::new(
                        Code::ResponseNotCaptured,
                        "no response before the capture ended",
                    )
                    .packets(&req.packets),
                    Ending::Evicted => Finding::new(
                        Code::FlowEvicted,
                        "the flow was evicted before a response arrived",
                    )
                    .packets(&req.packets),
                    other => Finding::new(
                        Code::NoResponse,
                        format!("no response to the extended CONNECT: {}", other.describe()),
                    )
                    .packets(&req.packets),
                }
            };
            response_findings.push(finding);
        }
        (None, None) => {}
    }
    if h2.unknown_fields > 0 {
        response_findings.push(Finding::new(
            Code::H2FieldsUnknown,
            format!(
                "{} header field(s) cannot be shown: the capture started after the HPACK table was built",
                h2.unknown_fields
            ),
        ));
    } else if h2.mid_connection {
        response_findings.push(Finding::new(
            Code::H2FieldsUnknown,
            "the capture started mid-connection (HTTP/2 recognised from its frames; HPACK tables and SETTINGS from before it unknown): this stream's fields were all static-table, literal or added since, so all are shown",
        ));
    }
    let opened = opened
        && !response_findings
            .iter()
            .any(|f| f.severity == Severity::Error);
    if opened {
        request_findings.iter_mut().for_each(Finding::downgrade);
    }
    a.findings = request_findings;
    a.findings.append(&mut response_findings);
    a.findings.extend(extra);
    a.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    a.verdict = verdict(a, false);
}

/// An error code by name, or in hex when unregistered.
fn reset_code(r: &H2Reset) -> String {
    r.name
        .map_or_else(|| format!("0x{:x}", r.code), str::to_owned)
}

/// RFC 8441 §4 and §5: the extended CONNECT request.
fn check_connect(req: &Message, h2: &H2Stream, a: &mut HandshakeRecord, out: &mut Vec<Finding>) {
    let head = &req.head;
    let packets = &req.packets;
    let known = |v: Option<&str>| v.filter(|v| *v != UNKNOWN_FIELD).map(str::to_owned);
    a.method = known(head.value(":method"));
    a.path = known(head.value(":path"));
    a.host = known(head.value(":authority"));
    a.origin = known(head.value("origin"));
    offers(head, a);
    let protocol = head.value(":protocol");
    // A field whose name HPACK could not show may be any of those found missing: mid-connection
    // a missing field is not a claim the capture can make.
    let names_unknown = head.headers.iter().any(|h| h.name == UNKNOWN_FIELD);
    // RFC 8441 §4: the client MUST NOT send :protocol before the server's SETTINGS enabled it.
    if protocol.is_some() && h2.connect_protocol_enabled == Some(false) {
        out.push(
            Finding::new(
                Code::H2ConnectProtocolNotEnabled,
                format!(
                    "the client sent an extended CONNECT on stream {} but the server's SETTINGS did not enable it (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 missing)",
                    h2.stream_id
                ),
            )
            .packets(packets)
            .cite(REQ, HeadPart::StartLine),
        );
    }
    let mut wrong = Vec::new();
    let mut f = Finding::new(Code::H2ConnectMalformed, String::new()).packets(packets);
    match head.value(":method") {
        Some("CONNECT") | Some(UNKNOWN_FIELD) => {}
        Some(m) => {
            wrong.push(format!(":method is {m}, not CONNECT"));
            f = cite_first(f, REQ, head, ":method");
        }
        None if names_unknown => {}
        None => {
            wrong.push(":method missing".to_owned());
            f = f.cite(REQ, missing(":method: CONNECT"));
        }
    }
    match protocol {
        Some(p) if p.eq_ignore_ascii_case("websocket") || p == UNKNOWN_FIELD => {}
        Some(p) => {
            wrong.push(format!(":protocol is {p}, not websocket"));
            f = cite_first(f, REQ, head, ":protocol");
        }
        None if names_unknown => {}
        None => {
            wrong.push(":protocol missing (a plain CONNECT asks for a TCP tunnel)".to_owned());
            f = f.cite(REQ, missing(":protocol: websocket"));
        }
    }
    for (name, example) in [
        (":scheme", ":scheme: https"),
        (":path", ":path: /"),
        (":authority", ":authority: …"),
    ] {
        if head.value(name).is_none() && !names_unknown {
            wrong.push(format!("{name} missing"));
            f = f.cite(REQ, missing(example));
        }
    }
    if !wrong.is_empty() {
        f.message = format!(
            "extended CONNECT on stream {}: {}",
            h2.stream_id,
            wrong.join("; ")
        );
        out.push(f);
    }
    // RFC 8441 §5: Sec-WebSocket-Version as in RFC 6455 (no key or accept over HTTP/2).
    if !(names_unknown && head.value("Sec-WebSocket-Version").is_none()) {
        check_version(req, &H2, out);
    }
    check_origin(req, a, &H2, out);
}

#[cfg(test)]
mod tests;
