//! Table-driven checks of single exchanges built from literal heads.

use super::*;
use crate::capture::Timestamp;
use crate::http::exchange::StreamId;
use crate::http::head::{parse_head, HeadParse};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn msg(text: &str, request: bool) -> Message {
    let text = text.replace('\n', "\r\n") + "\r\n";
    let HeadParse::Complete(head) = parse_head(text.as_bytes(), text.len(), request) else {
        panic!("bad literal: {text}")
    };
    Message {
        head,
        packets: vec![if request { 4 } else { 6 }],
        first_ts: Timestamp(0),
        last_ts: Timestamp(0),
        truncated: false,
        body: None,
        cut: None,
    }
}

fn good_request(extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\nHost: server.example.com\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13\n{extra}"
    )
}

fn good_response(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: {ACCEPT}\n{extra}"
    )
}

fn run(req: Option<&str>, resp: Option<&str>, ending: Option<Ending>) -> HandshakeRecord {
    let exchange = Completed {
        stream: StreamId::HTTP1,
        request: req.map(|r| msg(r, true)),
        response: resp.map(|r| msg(r, false)),
        interim: Vec::new(),
        ending,
        ended_at: None,
        extra: Vec::new(),
        switched: false,
        id: None,
        h2: None,
    };
    record(exchange, &Policy::default(), &|_| None)
}

fn codes(a: &HandshakeRecord) -> Vec<&'static str> {
    a.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn rfc_example_is_ok() {
    let a = run(Some(&good_request("")), Some(&good_response("")), None);
    assert_eq!(a.verdict, Verdict::Ok, "{:?}", codes(&a));
    assert_eq!(a.expected_accept.as_deref(), Some(ACCEPT));
    assert!(a.findings.is_empty());
}

#[test]
fn each_rule_names_its_code() {
    let cases: &[(&str, &str, &str, Verdict)] = &[
        // (request, response, expected code, verdict)
        (
            "POST /chat HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n",
            "HTTP/1.1 400 Bad Request\n",
            "request_not_get",
            Verdict::Failed,
        ),
        (
            "GET /chat HTTP/1.1\nHost: h\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n",
            "HTTP/1.1 200 OK\nContent-Length: 2\n",
            "request_upgrade_missing",
            Verdict::Failed,
        ),
        (
            "GET /chat HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: keep-alive\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n",
            "HTTP/1.1 200 OK\n",
            "request_connection_missing_upgrade",
            Verdict::Failed,
        ),
        (
            "GET /chat HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: c2hvcnQ=\nSec-WebSocket-Version: 13\n",
            "HTTP/1.1 400 Bad Request\n",
            "request_key_invalid",
            Verdict::Failed,
        ),
        (
            "GET /chat HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 8\n",
            "HTTP/1.1 426 Upgrade Required\nSec-WebSocket-Version: 13\n",
            "version_rejected",
            Verdict::Failed,
        ),
    ];
    for (req, resp, code, verdict) in cases {
        let a = run(Some(req), Some(resp), None);
        assert!(codes(&a).contains(code), "{code}: got {:?}", codes(&a));
        assert_eq!(a.verdict, *verdict, "{code}");
    }
}

#[test]
fn status_classes() {
    let cases = [
        ("HTTP/1.1 200 OK\n", "upgrade_ignored"),
        ("HTTP/1.1 301 Moved\nLocation: wss://x/\n", "redirected"),
        (
            "HTTP/1.1 401 Unauthorized\nWWW-Authenticate: Bearer\n",
            "unauthorized",
        ),
        ("HTTP/1.1 403 Forbidden\n", "forbidden"),
        ("HTTP/1.1 404 Not Found\n", "not_found"),
        ("HTTP/1.1 502 Bad Gateway\nServer: nginx\n", "bad_gateway"),
        ("HTTP/1.1 503 Service Unavailable\n", "service_unavailable"),
        ("HTTP/1.1 504 Gateway Timeout\n", "gateway_timeout"),
        ("HTTP/1.1 429 Too Many Requests\n", "client_error"),
        ("HTTP/1.1 500 Internal Server Error\n", "server_error"),
        (
            "HTTP/1.1 505 HTTP Version Not Supported\n",
            "http_version_rejected",
        ),
    ];
    for (resp, code) in cases {
        let a = run(Some(&good_request("")), Some(resp), None);
        assert_eq!(codes(&a), vec![code], "{resp}");
        assert_eq!(a.verdict, Verdict::Failed);
    }
}

#[test]
fn forbidden_names_the_origin() {
    let a = run(
        Some(&good_request("Origin: https://evil.example\n")),
        Some("HTTP/1.1 403 Forbidden\n"),
        None,
    );
    let f = a
        .findings
        .iter()
        .find(|f| f.code == Code::Forbidden)
        .unwrap();
    assert!(f.message.contains("https://evil.example"), "{}", f.message);
    assert!(codes(&a).contains(&"cross_origin"));
}

#[test]
fn a_426_to_a_valid_upgrade_points_behind_the_capture_point() {
    // The client's request as captured has Upgrade, Connection and version 13, yet the server
    // says it saw no upgrade: something after the capture point (a proxy) dropped them, as
    // nginx without `proxy_set_header Upgrade/Connection` does.
    let resp = "HTTP/1.1 426 Upgrade Required\nServer: nginx\n";
    let a = run(Some(&good_request("")), Some(resp), None);
    assert_eq!(codes(&a), vec!["upgrade_required"]);
    let message = &a.findings[0].message;
    assert!(
        message.contains("although the request carries `Upgrade: websocket`, `Connection: Upgrade` and version 13: a proxy behind this capture point did not forward them"),
        "{message}"
    );
    // A request without a usable pair: the server is right, and the request findings say why.
    let req = "GET /chat HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: keep-alive\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n";
    let a = run(Some(req), Some(resp), None);
    let f = a
        .findings
        .iter()
        .find(|f| f.code.as_str() == "upgrade_required")
        .unwrap();
    assert!(
        !f.message.contains("behind this capture point"),
        "{}",
        f.message
    );
}

#[test]
fn accept_mismatch_shows_expected_and_actual() {
    let resp = "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let a = run(Some(&good_request("")), Some(resp), None);
    let f = &a.findings[0];
    assert_eq!(f.code, Code::AcceptMismatch);
    assert!(f.message.contains(ACCEPT) && f.message.contains("AAAAAAAA"));
    assert_eq!(f.packets, vec![4, 6]);
    assert_eq!(a.verdict, Verdict::Failed);
}

#[test]
fn subprotocol_rules() {
    let offered = good_request("Sec-WebSocket-Protocol: chat, superchat\n");
    let a = run(
        Some(&offered),
        Some(&good_response("Sec-WebSocket-Protocol: chat\n")),
        None,
    );
    assert_eq!(a.verdict, Verdict::Ok);
    assert_eq!(a.subprotocol.as_deref(), Some("chat"));
    let a = run(
        Some(&offered),
        Some(&good_response("Sec-WebSocket-Protocol: graphql-ws\n")),
        None,
    );
    assert_eq!(codes(&a), vec!["subprotocol_not_offered"]);
    let a = run(
        Some(&good_request("")),
        Some(&good_response("Sec-WebSocket-Protocol: chat\n")),
        None,
    );
    assert_eq!(codes(&a), vec!["subprotocol_not_offered"]);
    let a = run(Some(&offered), Some(&good_response("")), None);
    assert_eq!(codes(&a), vec!["subprotocol_not_selected"]);
    assert_eq!(a.verdict, Verdict::Warning);
}

#[test]
fn extension_rules() {
    let offered =
        good_request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\n");
    let ok = good_response("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; client_max_window_bits=12\n");
    assert_eq!(run(Some(&offered), Some(&ok), None).verdict, Verdict::Ok);
    let a = run(
        Some(&good_request("")),
        Some(&good_response(
            "Sec-WebSocket-Extensions: permessage-deflate\n",
        )),
        None,
    );
    assert_eq!(codes(&a), vec!["extension_not_offered"]);
    let bad_bits =
        good_response("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16\n");
    assert_eq!(
        codes(&run(Some(&offered), Some(&bad_bits), None)),
        vec!["extension_params_invalid"]
    );
    let plain = good_request("Sec-WebSocket-Extensions: permessage-deflate\n");
    let unasked =
        good_response("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9\n");
    assert_eq!(
        codes(&run(Some(&plain), Some(&unasked), None)),
        vec!["extension_params_invalid"]
    );
}

#[test]
fn tolerated_client_errors_are_warnings() {
    // Server accepted a request without Host: the connection opened, so it is a warning.
    let req = format!("GET /chat HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13\n");
    let a = run(Some(&req), Some(&good_response("")), None);
    assert_eq!(codes(&a), vec!["request_host_missing"]);
    assert_eq!(a.findings[0].severity, Severity::Warning);
    assert_eq!(a.verdict, Verdict::Warning);
}

#[test]
fn missing_response_depends_on_how_it_ended() {
    let a = run(Some(&good_request("")), None, Some(Ending::ClientFin));
    assert_eq!(codes(&a), vec!["no_response"]);
    assert_eq!(a.verdict, Verdict::Failed);
    let a = run(Some(&good_request("")), None, Some(Ending::CaptureEnded));
    assert_eq!(codes(&a), vec!["response_not_captured"]);
    assert_eq!(a.verdict, Verdict::Incomplete);
    let a = run(None, Some(&good_response("")), None);
    assert_eq!(a.verdict, Verdict::Incomplete);
}

/// Each finding cites where it shows: the message, the header's index in that head (every
/// one of a repeated header), the start line, or the line that is missing.
#[test]
fn findings_cite_the_message_and_header_they_are_about() {
    use crate::finding::{Evidence, HeadPart, MessageRef};
    let cites = |a: &HandshakeRecord, code: &str| -> Vec<Evidence> {
        a.findings
            .iter()
            .find(|f| f.code.as_str() == code)
            .map(|f| f.evidence.clone())
            .unwrap_or_else(|| panic!("no {code} in {:?}", codes(a)))
    };
    let at = |message, part| Evidence::Head { message, part };
    let req = "GET /chat HTTP/1.0\nHost: h\nConnection: close\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n";
    let a = run(
        Some(req),
        Some("HTTP/1.1 200 OK\nServer: x\nConnection: close\n"),
        None,
    );
    assert_eq!(
        cites(&a, "request_connection_missing_upgrade"),
        vec![at(MessageRef::Request, HeadPart::Header(1))],
        "the request's Connection, not the response's"
    );
    assert_eq!(
        cites(&a, "request_http_version"),
        vec![at(MessageRef::Request, HeadPart::StartLine)]
    );
    assert_eq!(
        cites(&a, "request_upgrade_missing"),
        vec![at(
            MessageRef::Request,
            HeadPart::Missing("Upgrade: websocket".into())
        )]
    );
    assert_eq!(
        cites(&a, "upgrade_ignored"),
        vec![
            at(MessageRef::Response, HeadPart::StartLine),
            at(MessageRef::Response, HeadPart::Header(0)),
        ]
    );

    let wrong = "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nX: y\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nSec-WebSocket-Extensions: a, permessage-deflate\nSec-WebSocket-Extensions: permessage-deflate\n";
    let a = run(
        Some(&good_request(
            "Sec-WebSocket-Extensions: permessage-deflate\n",
        )),
        Some(wrong),
        None,
    );
    assert_eq!(
        cites(&a, "accept_mismatch"),
        vec![
            at(MessageRef::Request, HeadPart::Header(3)),
            at(MessageRef::Response, HeadPart::Header(3)),
        ]
    );
    // The item `a` is in the first extensions header; the repeat of permessage-deflate in
    // the second.
    assert_eq!(
        cites(&a, "extension_not_offered"),
        vec![at(MessageRef::Response, HeadPart::Header(4))]
    );
    assert_eq!(
        cites(&a, "extension_params_invalid"),
        vec![at(MessageRef::Response, HeadPart::Header(5))]
    );
}

#[test]
fn the_record_carries_the_messages_timings_and_ending_and_leaves_the_rest_to_the_engine() {
    let mut request = msg(&good_request(""), true);
    request.first_ts = Timestamp(1_000_000);
    request.last_ts = Timestamp(2_000_000);
    let mut response = msg(&good_response(""), false);
    response.first_ts = Timestamp(5_500_000);
    let exchange = |response: Option<Message>, end: Option<(Ending, Timestamp)>| Completed {
        stream: StreamId::HTTP1,
        request: Some(request.clone()),
        response,
        interim: Vec::new(),
        ending: end.map(|(e, _)| e),
        ended_at: end.map(|(_, t)| t),
        extra: Vec::new(),
        switched: true,
        id: Some(7),
        h2: None,
    };
    let r = record(
        exchange(Some(response.clone()), None),
        &Policy::default(),
        &|_| None,
    );
    assert_eq!(r.ts, Timestamp(1_000_000));
    assert_eq!(r.request.as_ref(), Some(&request));
    assert_eq!(r.response.as_ref(), Some(&response));
    assert_eq!(r.timing.response_ms, Some(3.5));
    assert_eq!((r.timing.waited_ms, r.ending), (None, None));
    // What the engine owns stays unset: id, endpoints, community id, connect time.
    assert_eq!((r.id, r.client.port(), r.server.port()), (0, 0, 0));
    assert!(r.community_id.is_empty() && r.timing.connect_rtt_ms.is_none());

    let unanswered = exchange(None, Some((Ending::ServerFin, Timestamp(12_000_000))));
    let r = record(unanswered, &Policy::default(), &|_| None);
    assert_eq!(r.timing.waited_ms, Some(10.0));
    assert_eq!(r.ending, Some(Ending::ServerFin));
    assert_eq!(codes(&r), ["no_response"]);
}

/// An exchange whose request ends at 1 s and whose response starts `after_ns` later, or that
/// ended `after_ns` later with `ending` and no response.
fn timed(after_ns: i64, ending: Option<Ending>) -> Completed {
    let mut request = msg(&good_request(""), true);
    request.last_ts = Timestamp(1_000_000_000);
    let mut response = msg(&good_response(""), false);
    response.first_ts = Timestamp(1_000_000_000 + after_ns);
    Completed {
        stream: StreamId::HTTP1,
        request: Some(request),
        response: ending.is_none().then_some(response),
        interim: Vec::new(),
        ending,
        ended_at: ending.map(|_| Timestamp(1_000_000_000 + after_ns)),
        extra: Vec::new(),
        switched: ending.is_none(),
        id: None,
        h2: None,
    }
}

#[test]
fn a_101_later_than_slow_response_is_a_warning_and_earlier_is_ok() {
    let policy = Policy::default();
    let r = record(timed(7_003_600_000, None), &policy, &|_| None);
    assert_eq!(codes(&r), ["slow_response"]);
    assert_eq!(r.verdict, Verdict::Warning);
    assert_eq!(
        r.findings[0].message,
        "the response came 7.0 s after the request (--slow-response 5.0 s): a client with a shorter handshake timeout would have given up"
    );
    let r = record(timed(4_900_000_000, None), &policy, &|_| None);
    assert_eq!(r.verdict, Verdict::Ok, "{:?}", codes(&r));
    let off = Policy {
        slow_response_ns: None,
    };
    assert_eq!(
        record(timed(70_000_000_000, None), &off, &|_| None).verdict,
        Verdict::Ok
    );
}

#[test]
fn an_unanswered_request_says_who_gave_up_and_after_how_long() {
    let cases = [
        (
            Ending::ClientFin,
            "the client closed the connection after 7.0 s without an answer (FIN)",
        ),
        (
            Ending::ClientRst,
            "the client reset the connection after 7.0 s without an answer (RST)",
        ),
        (
            Ending::ServerFin,
            "the server closed the connection after 7.0 s without answering (FIN)",
        ),
        (
            Ending::ServerRst,
            "the server reset the connection after 7.0 s without answering (RST)",
        ),
        (
            Ending::ResponseTimeout,
            "no answer after 7.0 s (--response-timeout) while the connection stayed open",
        ),
    ];
    for (ending, said) in cases {
        let r = record(
            timed(7_000_000_000, Some(ending)),
            &Policy::default(),
            &|_| None,
        );
        assert_eq!(codes(&r), ["no_response"]);
        assert_eq!(
            r.findings[0].message,
            format!("no response to the upgrade request: {said}")
        );
    }
    let r = record(
        timed(350_000_000, Some(Ending::ClientFin)),
        &Policy::default(),
        &|_| None,
    );
    assert!(r.findings[0].message.contains("after 350.0 ms without"));
}

/// An extended CONNECT head as the HTTP/2 reader builds it (pseudo-headers in the list).
fn h2_connect(fields: &[(&str, &str)]) -> Message {
    let headers: crate::event::Headers = fields
        .iter()
        .map(|(n, v)| crate::event::Header {
            name: (*n).to_owned(),
            value: (*v).to_owned(),
        })
        .collect();
    Message {
        head: Head {
            start: crate::event::StartLine::Request {
                method: "CONNECT".to_owned(),
                target: "/chat".to_owned(),
            },
            version_minor: 1,
            start_line: "CONNECT /chat HTTP/2".to_owned(),
            headers,
            len: 40,
            raw: String::new(),
        },
        packets: vec![4],
        first_ts: Timestamp(0),
        last_ts: Timestamp(0),
        truncated: false,
        body: None,
        cut: None,
    }
}

fn run_h2(req: Message) -> HandshakeRecord {
    let exchange = Completed {
        stream: StreamId(1),
        request: Some(req),
        response: None,
        interim: Vec::new(),
        ending: Some(Ending::CaptureEnded),
        ended_at: None,
        extra: Vec::new(),
        switched: false,
        id: None,
        h2: Some(crate::event::H2Stream {
            stream_id: 1,
            upgraded: false,
            connect_protocol_enabled: Some(true),
            unknown_fields: 0,
            mid_connection: false,
            reset: None,
            goaway: None,
        }),
    };
    record(exchange, &Policy::default(), &|_| None)
}

/// (code, message, quoted lines) of each finding.
fn said(a: &HandshakeRecord) -> Vec<(&'static str, String, Vec<String>)> {
    a.findings
        .iter()
        .map(|f| (f.code.as_str(), f.message.clone(), f.lines.clone()))
        .collect()
}

#[test]
fn version_origin_and_offers_are_one_check_spelled_as_each_http_version_writes_fields() {
    let h1 = run(
        Some(
            "GET /chat HTTP/1.1\nHost: chat.example\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 8\nOrigin: https://evil.example\nSec-WebSocket-Protocol: chat, superchat\n",
        ),
        None,
        Some(Ending::CaptureEnded),
    );
    let h2 = run_h2(h2_connect(&[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/chat"),
        (":authority", "chat.example"),
        ("sec-websocket-version", "8"),
        ("origin", "https://evil.example"),
        ("sec-websocket-protocol", "chat, superchat"),
    ]));
    for a in [&h1, &h2] {
        assert_eq!(a.subprotocols_offered, ["chat", "superchat"]);
    }
    let pick = |a: &HandshakeRecord, code: &str| {
        said(a)
            .into_iter()
            .find(|(c, _, _)| *c == code)
            .unwrap_or_else(|| panic!("no {code}: {:?}", said(a)))
    };
    assert_eq!(
        pick(&h1, "request_version_unsupported").1,
        "Sec-WebSocket-Version is 8"
    );
    assert_eq!(
        pick(&h2, "request_version_unsupported").1,
        "sec-websocket-version is 8"
    );
    assert_eq!(
        pick(&h1, "cross_origin"),
        (
            "cross_origin",
            "Origin https://evil.example is not host chat.example".to_owned(),
            vec!["Origin: https://evil.example".to_owned()]
        )
    );
    assert_eq!(
        pick(&h2, "cross_origin"),
        (
            "cross_origin",
            "Origin https://evil.example is not :authority chat.example".to_owned(),
            vec!["origin: https://evil.example".to_owned()]
        )
    );
    // A version HPACK could not show is not checked on HTTP/2; on HTTP/1.1 the same text is
    // just a wrong value.
    let unknown = run_h2(h2_connect(&[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/chat"),
        (":authority", "chat.example"),
        ("sec-websocket-version", UNKNOWN_FIELD),
    ]));
    assert!(!codes(&unknown).contains(&"request_version_unsupported"));
    let missing = run_h2(h2_connect(&[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/chat"),
        (":authority", "chat.example"),
    ]));
    assert_eq!(
        pick(&missing, "request_version_missing").1,
        "no sec-websocket-version"
    );
}

#[test]
fn fields_hpack_could_not_name_are_no_missing_fields() {
    // Mid-connection: the name of one field came from the table before the capture.
    let a = run_h2(h2_connect(&[
        (":path", "/chat"),
        (UNKNOWN_FIELD, "websocket"),
        (UNKNOWN_FIELD, UNKNOWN_FIELD),
    ]));
    assert!(
        !codes(&a)
            .iter()
            .any(|c| *c == "h2_connect_malformed" || *c == "request_version_missing"),
        "{:?}",
        codes(&a)
    );
    // With every name known, the same gaps are findings.
    let b = run_h2(h2_connect(&[(":path", "/chat")]));
    assert!(codes(&b).contains(&"h2_connect_malformed"));
    assert!(codes(&b).contains(&"request_version_missing"));
}

/// The Origin's host after the first `://`, as `split_once("://")` found it, on origins with
/// colons and slashes in every place.
#[test]
fn origin_host_matches_a_substring_split() {
    let previous = |origin: &str| -> Option<String> {
        let rest = origin.split_once("://")?.1;
        let authority = rest.split('/').next()?;
        Some(strip_port(authority).to_owned())
    };
    for origin in [
        "https://example.com",
        "https://example.com:8443/x",
        "http://[::1]:80",
        "null",
        "",
        ":",
        "://",
        ":/",
        "a:/b://c",
        "a:b://c:1",
        "x:",
        "x:/",
        "x://",
        "x:://y",
        "ws:////y",
        "é://ü:1",
    ] {
        assert_eq!(
            origin_host(origin).map(str::to_owned),
            previous(origin),
            "{origin}"
        );
    }
}

/// Duplicate keys and accepts are counted and the first one used, and the version is read as
/// a list (items trimmed, empty ones skipped): what the checks said when they collected them.
#[test]
fn duplicates_and_version_lists_are_read_as_lists() {
    const OTHER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAA==";
    let two_keys = good_request(&format!("Sec-WebSocket-Key: {OTHER_KEY}\n"));
    let a = run(Some(&two_keys), Some(&good_response("")), None);
    let f = a
        .findings
        .iter()
        .find(|f| f.code == Code::RequestKeyDuplicate)
        .unwrap();
    assert_eq!(f.message, "2 Sec-WebSocket-Key headers");
    assert_eq!(a.key.as_deref(), Some(KEY));
    assert_eq!(a.expected_accept.as_deref(), Some(ACCEPT));

    let two_accepts = good_response(&format!("Sec-WebSocket-Accept: {ACCEPT}\n"));
    let a = run(Some(&good_request("")), Some(&two_accepts), None);
    let f = a
        .findings
        .iter()
        .find(|f| f.code == Code::AcceptDuplicate)
        .unwrap();
    assert_eq!(f.message, "2 Sec-WebSocket-Accept headers");
    assert!(!codes(&a).contains(&"accept_mismatch"));

    let with_version = |v: &str| {
        let req = good_request("").replace("Sec-WebSocket-Version: 13\n", v);
        run(Some(&req), Some(&good_response("")), None)
    };
    assert!(with_version("Sec-WebSocket-Version:  13 ,\n")
        .findings
        .is_empty());
    for (versions, said) in [
        (
            "Sec-WebSocket-Version: 13, 8\n",
            "Sec-WebSocket-Version is 13, 8",
        ),
        (
            "Sec-WebSocket-Version: 13\nSec-WebSocket-Version: 13\n",
            "Sec-WebSocket-Version is 13, 13",
        ),
        ("Sec-WebSocket-Version: 8\n", "Sec-WebSocket-Version is 8"),
    ] {
        let a = with_version(versions);
        let f = a
            .findings
            .iter()
            .find(|f| f.code == Code::RequestVersionUnsupported)
            .unwrap_or_else(|| panic!("{versions}: {:?}", codes(&a)));
        assert_eq!(f.message, said);
    }
    let a = with_version("Sec-WebSocket-Version: ,\n");
    assert!(
        codes(&a).contains(&"request_version_missing"),
        "{:?}",
        codes(&a)
    );
}
