//! Runs every capture in samples/ and checks (a) the JSON equals the committed
//! samples/expected/<name>.jsonl (regenerate with WSSNIFF_BLESS=1 after reviewing the diff) and
//! (b) the behaviour each sample exists to show, stated explicitly below.

use crate::util::*;

fn verdicts(recs: &[serde_json::Value]) -> Vec<String> {
    recs.iter()
        .map(|r| r["verdict"].as_str().unwrap().to_owned())
        .collect()
}

fn only(name: &str) -> serde_json::Value {
    let recs = records(&sample(name), &[]);
    assert_eq!(recs.len(), 1, "{name}: {recs:#?}");
    recs.into_iter().next().unwrap()
}

#[test]
fn every_sample_matches_its_expected_json() {
    let bless = std::env::var_os("WSSNIFF_BLESS").is_some();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    entries.sort();
    for path in entries {
        let out = wssniff(&["-r", path.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        let name = path.file_name().unwrap().to_str().unwrap();
        let expected_path = root()
            .join("samples/expected")
            .join(format!("{name}.jsonl"));
        let actual = stdout(&out);
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "missing {}; run with WSSNIFF_BLESS=1",
                expected_path.display()
            )
        });
        assert_eq!(
            actual, expected,
            "{name}: output differs from the expected JSON"
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} samples found");
}

#[test]
fn good_handshakes_from_real_libraries_are_ok() {
    for name in [
        "python-websockets-ok.pcap",
        "ipv6-ok.pcap",
        "sll2-any-ok.pcap",
        "nanosecond-ok.pcap",
        "pcapng-ok.pcapng",
        "dribbled-request.pcap",
    ] {
        let r = only(name);
        assert_eq!(r["verdict"], "ok", "{name}: {r:#}");
        assert_eq!(r["status"], 101);
        assert_eq!(r["accept"], r["expected_accept"]);
        assert!(r["community_id"].as_str().unwrap().starts_with("1:"));
    }
}

#[test]
fn dribbled_request_cites_every_segment() {
    let r = only("dribbled-request.pcap");
    let frames = r["request"]["packets"].as_array().unwrap();
    assert!(
        frames.len() > 20,
        "request spread over {} frames",
        frames.len()
    );
}

#[test]
fn subprotocol_and_deflate_negotiation_is_recorded() {
    let r = only("node-ws-subprotocol-deflate.pcap");
    assert_eq!(r["verdict"], "ok");
    assert_eq!(r["subprotocol"], "chat");
    assert_eq!(
        r["subprotocols_offered"],
        serde_json::json!(["chat", "superchat"])
    );
    assert!(r["extensions"][0]
        .as_str()
        .unwrap()
        .starts_with("permessage-deflate"));
}

#[test]
fn nginx_stripping_upgrade_is_named_on_both_legs() {
    let recs = records(&sample("nginx-strips-upgrade.pcap"), &[]);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r["status"], 200);
        assert_eq!(r["verdict"], "failed");
        assert!(codes(r).contains(&"upgrade_ignored".to_owned()));
    }
    // The upstream leg shows what nginx did to the request.
    let upstream = recs
        .iter()
        .find(|r| codes(r).contains(&"request_upgrade_missing".to_owned()))
        .expect("the nginx → backend leg");
    assert!(codes(upstream).contains(&"request_http_version".to_owned()));
}

#[test]
fn proxy_errors_and_rejections_get_their_codes() {
    let cases = [
        ("nginx-502-upstream-down.pcap", 502, "bad_gateway"),
        ("origin-rejected-403.pcap", 403, "forbidden"),
        ("version-8-426.pcap", 426, "version_rejected"),
    ];
    for (name, status, code) in cases {
        let r = only(name);
        assert_eq!(r["status"], status, "{name}");
        assert_eq!(r["verdict"], "failed", "{name}");
        assert!(
            codes(&r).contains(&code.to_owned()),
            "{name}: {:?}",
            codes(&r)
        );
    }
    let r = only("origin-rejected-403.pcap");
    assert_eq!(r["origin"], "https://evil.example");
    // A real nginx limit_req: the first client through, the reconnect refused by the proxy.
    let recs = records(&sample("nginx-503-rate-limited.pcap"), &[]);
    assert_eq!(verdicts(&recs), ["ok", "ok", "failed"]);
    assert_eq!(recs[2]["status"], 503);
    assert_eq!(codes(&recs[2]), ["service_unavailable"]);
}

#[test]
fn auth_rejections_from_two_libraries() {
    let recs = records(&sample("auth-401.pcap"), &[]);
    assert_eq!(verdicts(&recs), ["failed", "failed"]);
    for r in &recs {
        assert_eq!(codes(r), ["unauthorized"]);
        assert!(r["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("challenge"));
    }
}

#[test]
fn malformed_curl_requests_name_the_broken_rule() {
    let recs = records(&sample("curl-bad-requests.pcap"), &[]);
    let by_path = |p: &str| {
        recs.iter()
            .find(|r| r["path"] == p)
            .map(codes)
            .unwrap_or_else(|| panic!("no record for {p}"))
    };
    assert!(by_path("/no-key").contains(&"request_key_missing".to_owned()));
    assert!(by_path("/short-key").contains(&"request_key_invalid".to_owned()));
    let no_conn = by_path("/no-connection");
    assert!(no_conn.contains(&"request_connection_missing_upgrade".to_owned()));
    assert!(
        no_conn.contains(&"upgrade_required".to_owned()),
        "{no_conn:?}"
    );
    assert!(by_path("/post").contains(&"request_not_get".to_owned()));
}

#[test]
fn unanswered_request_is_no_response_with_the_wait() {
    let r = only("no-response.pcap");
    assert_eq!(r["verdict"], "failed");
    assert_eq!(codes(&r), ["no_response"]);
    assert_eq!(r["ending"], "client_fin");
    let waited = r["timing"]["waited_ms"].as_f64().unwrap();
    assert!((1900.0..2500.0).contains(&waited), "waited {waited} ms");
    // websockets' open_timeout=2 gave up: the finding says who, and after how long.
    assert_eq!(
        r["findings"][0]["message"],
        "no response to the upgrade request: the client closed the connection after 2.0 s without an answer (FIN)"
    );
}

#[test]
fn handcrafted_server_misbehaviour() {
    // Each time the real client fails the connection: the info finding says so.
    let r = only("handcrafted-bad-accept.pcap");
    assert_eq!(
        codes(&r),
        ["accept_mismatch", "closed_after_failed_handshake"]
    );
    assert_ne!(r["accept"], r["expected_accept"]);
    let r = only("handcrafted-unoffered-subprotocol.pcap");
    assert_eq!(
        codes(&r),
        ["subprotocol_not_offered", "closed_after_failed_handshake"]
    );
    let recs = records(&sample("handcrafted-double-accept-extension.pcap"), &[]);
    assert_eq!(
        codes(&recs[0]),
        ["extension_not_offered", "closed_after_failed_handshake"]
    );
    assert_eq!(
        codes(&recs[1]),
        ["extension_params_invalid", "closed_after_failed_handshake"]
    );
}

#[test]
fn keepalive_requests_before_the_upgrade_are_skipped() {
    let recs = records(&sample("keepalive-then-upgrade.pcap"), &[]);
    assert_eq!(verdicts(&recs), ["ok", "ok"]);
    assert!(recs.iter().all(|r| r["path"] == "/ws"));
}

#[test]
fn capture_started_after_the_handshake_reports_none() {
    assert!(records(&sample("mid-connection.pcap"), &[]).is_empty());
}

fn only_connection(name: &str) -> serde_json::Value {
    let conns = connections(&sample(name), &[]);
    assert_eq!(conns.len(), 1, "{name}: {conns:#?}");
    conns.into_iter().next().unwrap()
}

#[test]
fn capture_started_after_the_handshake_is_recognised_from_frames() {
    let c = only_connection("mid-connection.pcap");
    assert_eq!(c["handshake_id"], serde_json::Value::Null);
    assert_eq!(c["handshake_observed"], false);
    assert_eq!(codes(&c), ["handshake_not_observed"]);
    // "tick N" every 0.2 s, echoed, then the client's close 1000 "done" and its echo.
    assert!(c["server_to_client"]["text_messages"].as_u64().unwrap() >= 5);
    assert_eq!(c["close"]["client"]["code"], 1000);
    assert_eq!(c["close"]["client"]["reason"], "done");
    assert_eq!(c["close"]["initiator"], "client");
    assert_eq!(c["ending"], "clean");
    assert_eq!(c["server"].as_str().unwrap(), "127.0.0.1:18111");
}

#[test]
fn every_websocket_connection_gets_a_record_linked_to_its_handshake() {
    let all = all_records(&sample("close-codes.pcap"), &[]);
    let mut seen = Vec::new();
    for r in &all {
        match r["type"].as_str().unwrap() {
            "handshake" => seen.push(r["id"].as_u64().unwrap()),
            "connection" => {
                let id = r["handshake_id"].as_u64().unwrap();
                assert!(seen.contains(&id), "connection record before its handshake");
                let hs = all.iter().find(|h| h["id"] == id).unwrap();
                assert_eq!(hs["community_id"], r["community_id"]);
            }
            "summary" => {}
            other => panic!("unknown type {other}"),
        }
    }
    assert_eq!(connections(&sample("close-codes.pcap"), &[]).len(), 5);
}

#[test]
fn close_codes_and_endings_from_a_real_server() {
    let conns = connections(&sample("close-codes.pcap"), &[]);
    let by_path = |p: &str| {
        let hs = records(&sample("close-codes.pcap"), &[]);
        let id = hs.iter().find(|h| h["path"] == p).unwrap()["id"].clone();
        conns
            .iter()
            .find(|c| c["handshake_id"] == id)
            .unwrap()
            .clone()
    };
    for (path, code, finding) in [
        ("/1008", 1008, "close_error"),
        ("/1011", 1011, "close_error"),
        ("/4001", 4001, "close_application"),
    ] {
        let c = by_path(path);
        assert_eq!(c["close"]["server"]["code"], code, "{path}");
        assert_eq!(c["close"]["client"]["code"], code, "{path}: echoed");
        assert_eq!(c["close"]["initiator"], "server");
        assert_eq!(c["close"]["handshake_completed"], true);
        assert_eq!(c["ending"], "clean");
        assert_eq!(codes(&c), [finding], "{path}");
        // The finding cites the close frame the server sent, by sender and packet.
        let f = &c["findings"][0];
        assert_eq!(
            f["evidence"],
            serde_json::json!([{"close_frame": "server"}]),
            "{path}"
        );
        assert_eq!(
            f["packets"],
            serde_json::json!([c["close"]["server"]["packet"]]),
            "{path}"
        );
    }
    assert_eq!(by_path("/1008")["close"]["server"]["reason"], "policy");
    let abort = by_path("/abort");
    assert_eq!(abort["ending"], "fin_without_close");
    assert_eq!(abort["tcp_end"], "server_fin");
    assert_eq!(codes(&abort), ["close_frame_missing"]);
    let reset = by_path("/reset");
    assert_eq!(reset["ending"], "rst");
    assert_eq!(reset["tcp_end"], "server_rst");
    assert_eq!(codes(&reset), ["connection_reset"]);
}

#[test]
fn proxy_idle_timeout_is_named_on_both_legs() {
    let conns = connections(&sample("nginx-idle-timeout.pcap"), &[]);
    assert_eq!(conns.len(), 2);
    for c in &conns {
        assert_eq!(c["ending"], "fin_without_close");
        assert_eq!(codes(c), ["idle_timeout"]);
        let idle = c["idle_before_end_ms"].as_f64().unwrap();
        assert!((2000.0..2100.0).contains(&idle), "idle {idle} ms");
        // 2 s is no vendor default: the evidence is nginx closing as the proxy of the hop.
        let msg = c["findings"][0]["message"].as_str().unwrap();
        assert!(
            msg.contains("after 2.0 s")
                && msg.contains("the proxy nginx/1.22.1 at 127.0.0.1:18181"),
            "{msg}"
        );
    }
    // One leg alone (the proxy hop unseen) is a measured silence, unless the user says 2 s
    // is a timeout on the path.
    let leg = "tcp port 18181";
    let alone = connections(&sample("nginx-idle-timeout.pcap"), &[leg]);
    assert_eq!(codes(&alone[0]), ["close_frame_missing"]);
    assert!(alone[0]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("after 2.0 s of silence"));
    let told = connections(
        &sample("nginx-idle-timeout.pcap"),
        &["--proxy-idle-timeout", "2", leg],
    );
    assert_eq!(codes(&told[0]), ["idle_timeout"]);
    assert!(told[0]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("--proxy-idle-timeout 2.0 s"));
    // nginx is the server of the client's leg and the client of the upstream leg.
    let closers: Vec<&str> = conns
        .iter()
        .map(|c| c["tcp_end"].as_str().unwrap())
        .collect();
    assert!(closers.contains(&"server_fin") && closers.contains(&"client_fin"));
}

#[test]
fn clean_session_counts_every_opcode() {
    let c = only_connection("python-websockets-ok.pcap");
    let cs = &c["client_to_server"];
    assert_eq!(cs["text_messages"], 1);
    assert_eq!(cs["binary_messages"], 1);
    assert_eq!(cs["pings"], 1);
    assert_eq!(c["server_to_client"]["pongs"], 1);
    assert_eq!(cs["closes"], 1);
    assert_eq!(cs["preview"], "hello", "inflated from permessage-deflate");
    assert!(cs["first_frame_ms"].as_f64().unwrap() < 100.0);
    assert_eq!(c["close"]["client"]["reason"], "done");
    assert_eq!(c["ending"], "clean");
    assert_eq!(c["tcp_end"], "server_fin");
    assert!(codes(&c).is_empty());
}

#[test]
fn deflate_fragmented_session_from_node_ws() {
    let c = only_connection("node-ws-subprotocol-deflate.pcap");
    assert_eq!(c["permessage_deflate"]["client_max_window_bits"], 15);
    let cs = &c["client_to_server"];
    assert_eq!(cs["fragmented_messages"], 1);
    assert!(cs["compressed_messages"].as_u64().unwrap() >= 1);
    // The preview is inflated text, not compressed bytes.
    assert!(cs["preview"].as_str().unwrap().starts_with("hello"));
    assert_eq!(c["close"]["initiator"], "server");
    assert_eq!(c["close"]["server"]["code"], 1001);
    assert!(codes(&c).is_empty(), "{:?}", codes(&c));
}

#[test]
fn client_that_fails_the_handshake_closes_and_opens_no_connection() {
    // websockets rejects the bad accept (and the unoffered subprotocol, and the unoffered or
    // doubled extension) and drops TCP without a frame: the switch never took effect on the
    // client's side, so the ending is the handshake's and there is no connection record.
    // No real server sends a wrong accept (those 101s are hand-written); a real one does
    // choose an unoffered subprotocol: node ws with a handleProtocols hook, failed by both
    // websockets and node ws as clients.
    for name in [
        "handcrafted-bad-accept.pcap",
        "handcrafted-unoffered-subprotocol.pcap",
        "handcrafted-double-accept-extension.pcap",
        "node-ws-unoffered-subprotocol.pcap",
    ] {
        let all = all_records(&sample(name), &[]);
        assert!(
            all.iter().all(|r| r["type"] != "connection"),
            "{name}: {all:#?}"
        );
        for r in records(&sample(name), &[]) {
            assert_eq!(r["verdict"], "failed");
            assert_eq!(r["ending"], "client_fin", "{name}");
            let f = r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["code"] == "closed_after_failed_handshake")
                .unwrap();
            assert_eq!(f["severity"], "info");
            let msg = f["message"].as_str().unwrap();
            assert!(
                msg.starts_with("the client closed the connection (FIN)")
                    && msg.contains("as RFC 6455 §4.1 requires"),
                "{msg}"
            );
        }
    }
}

#[test]
fn max_payload_flag_reports_large_frames() {
    let c = &connections(
        &sample("node-ws-subprotocol-deflate.pcap"),
        &["--max-payload", "10"],
    )[0];
    assert!(
        codes(c).contains(&"frame_too_large".to_owned()),
        "{:?}",
        codes(c)
    );
    assert!(codes(&only_connection("node-ws-subprotocol-deflate.pcap")).is_empty());
}

#[test]
fn proxied_legs_are_both_reported() {
    for name in ["nginx-proxy-ok.pcap", "nginx-idle-timeout.pcap"] {
        let recs = records(&sample(name), &[]);
        assert_eq!(verdicts(&recs), ["ok", "ok"], "{name}");
    }
}

#[test]
fn pcapng_with_two_link_types_reads_both_interfaces() {
    let recs = records(&sample("pcapng-mixed-linktypes.pcapng"), &[]);
    let hs: Vec<_> = recs.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(hs.len(), 2);
    assert!(hs.iter().all(|r| r["verdict"] == "ok"));
    let p = sample("pcapng-mixed-linktypes.pcapng");
    let out = wssniff(&["-r", p.to_str().unwrap(), "-q"]);
    assert!(
        stderr(&out).contains("link types: EN10MB (1), LINUX_SLL2 (276)"),
        "{}",
        stderr(&out)
    );
}

/// Rewrites a little-endian classic pcap as big-endian (as written on SPARC or PowerPC).
fn to_big_endian(le: &[u8]) -> Vec<u8> {
    let swap32 = |b: &[u8]| [b[3], b[2], b[1], b[0]];
    let mut out = Vec::with_capacity(le.len());
    out.extend_from_slice(&swap32(&le[0..4]));
    out.extend_from_slice(&[le[5], le[4], le[7], le[6]]);
    for field in le[8..24].chunks(4) {
        out.extend_from_slice(&swap32(field));
    }
    let mut at = 24;
    while at + 16 <= le.len() {
        for field in le[at..at + 16].chunks(4) {
            out.extend_from_slice(&swap32(field));
        }
        let caplen = u32::from_le_bytes(le[at + 8..at + 12].try_into().unwrap()) as usize;
        out.extend_from_slice(&le[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    out
}

#[test]
fn big_endian_pcap_gives_the_same_records() {
    for name in [
        "python-websockets-ok.pcap",
        "nanosecond-ok.pcap",
        "curl-bad-requests.pcap",
    ] {
        let le = std::fs::read(sample(name)).unwrap();
        let dir = std::env::temp_dir().join(format!("wssniff-be-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let be = dir.join(name);
        std::fs::write(&be, to_big_endian(&le)).unwrap();
        assert_ne!(std::fs::read(&be).unwrap()[..4], le[..4], "magic swapped");
        assert_eq!(records(&be, &[]), records(&sample(name), &[]), "{name}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn proxy_hops_are_linked_as_the_second_leg_completes() {
    let out = wssniff(&[
        "-r",
        sample("nginx-strips-upgrade.pcap").to_str().unwrap(),
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hops: Vec<_> = lines.iter().filter(|v| v["type"] == "hop").collect();
    assert_eq!(hops.len(), 1);
    let hop = hops[0];
    assert_eq!(hop["proxy"], "127.0.0.1:18031");
    assert_eq!(hop["upstream_server"], "127.0.0.1:18032");
    assert_eq!(hop["broken_at"], "proxy_request");
    let dropped: Vec<&str> = hop["request_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "dropped")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(dropped.contains(&"Upgrade"), "{hop:#}");
    // Ids follow the requests: the client asked the proxy (#1) before the proxy asked the
    // upstream (#2), though the upstream answered first.
    assert_eq!(hop["downstream"], 1);
    assert_eq!(hop["upstream"], 2);
    // The hop line comes right after its later leg's handshake.
    let handshake = |id: u64| {
        lines
            .iter()
            .position(|v| v["type"] == "handshake" && v["id"] == id)
            .unwrap()
    };
    let hop_at = lines.iter().position(|v| v["type"] == "hop").unwrap();
    assert!(handshake(1) < handshake(2));
    assert_eq!(hop_at, handshake(2) + 1);
    let ok = all_records(&sample("nginx-proxy-ok.pcap"), &[]);
    let hop = ok
        .iter()
        .find(|v| v["type"] == "hop")
        .expect("hop in the good proxy");
    assert_eq!(hop["broken_at"], "nowhere");
}

#[test]
fn a_client_failing_a_bad_handshake_is_not_a_second_problem() {
    // The client drops TCP without a close frame after the wrong accept, as RFC 6455 §4.1
    // requires: no WebSocket connection is counted, in the lines or the summary.
    let p = sample("handcrafted-double-accept-extension.pcap");
    let out = wssniff(&["-r", p.to_str().unwrap()]);
    let (text, summary) = (stdout(&out), stderr(&out));
    assert!(!text.contains("closed fin_without_close"), "{text}");
    assert!(!summary.contains("WebSocket connection"), "{summary}");
    assert!(
        summary.contains("info findings (printed with -v): closed_after_failed_handshake ×2"),
        "{summary}"
    );
    let json = wssniff(&["-r", p.to_str().unwrap(), "--json"]);
    let summary = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "summary")
        .unwrap();
    assert_eq!(summary["counters"]["connections"], 0);
    // The same ending after a good handshake is reported.
    let conns = connections(&sample("close-codes.pcap"), &[]);
    assert!(conns
        .iter()
        .any(|c| codes(c).contains(&"close_frame_missing".to_owned())));
}

#[test]
fn curl_giving_up_on_aiohttp_is_not_blamed_on_a_proxy() {
    // Issue 15 item 3, recorded: curl straight to aiohttp (no proxy on the path) closes TCP
    // after its --max-time of 1 s, then 2 s. The silence is reported as measured; earlier
    // builds said "likely an idle timeout of 1 s in a proxy or load balancer".
    let conns = connections(&sample("curl-aiohttp-idle-exit.pcap"), &[]);
    assert_eq!(conns.len(), 2);
    // This recording gave up 992.0 ms and 2000.x ms after the 101: either side of a round
    // number, the same finding.
    for (c, around) in conns.iter().zip([1000.0, 2000.0]) {
        assert_eq!(c["ending"], "fin_without_close");
        assert_eq!(c["tcp_end"], "client_fin");
        assert_eq!(codes(c), ["close_frame_missing"]);
        let idle = c["idle_before_end_ms"].as_f64().unwrap();
        assert!((idle - around).abs() < 100.0, "idle {idle} ms");
        let msg = c["findings"][0]["message"].as_str().unwrap();
        assert!(msg.contains(" of silence without a close frame"), "{msg}");
    }
    // Told that 1 s is a timeout on the path, the first becomes one; the second does not.
    let told = connections(
        &sample("curl-aiohttp-idle-exit.pcap"),
        &["--proxy-idle-timeout", "1"],
    );
    assert_eq!(codes(&told[0]), ["idle_timeout"]);
    assert_eq!(codes(&told[1]), ["close_frame_missing"]);
}

#[test]
fn a_reset_after_a_clean_close_from_a_real_client_is_info() {
    // Issue 15 item 6, recorded: websockets closes 1000 both ways, the server sends FIN and
    // the client (SO_LINGER 0) answers with an RST.
    let c = only_connection("reset-after-close.pcap");
    assert_eq!(c["ending"], "clean");
    assert_eq!(c["tcp_end"], "server_fin");
    assert_eq!(c["close"]["handshake_completed"], true);
    assert_eq!(codes(&c), ["reset_after_close"]);
    assert_eq!(c["findings"][0]["severity"], "info");
    // The default lines print no warning for it; the summary says -v shows it.
    let p = sample("reset-after-close.pcap");
    let out = wssniff(&["-r", p.to_str().unwrap()]);
    assert!(!stdout(&out).contains("warning"), "{}", stdout(&out));
    assert!(stderr(&out).contains("info findings (printed with -v): reset_after_close ×1"));
}

#[test]
fn a_505_relayed_from_an_http10_upstream_is_not_an_application_failure() {
    // Issue 15 item 5, recorded: nginx forwards the upgrade as HTTP/1.0 (its default),
    // websockets answers 505 and nginx passes it on. Neither leg says "check the
    // application's log": the client's leg points at a proxy behind the capture point, the
    // upstream leg at its HTTP/1.0 request, and the hop at nginx.
    let recs = records(&sample("nginx-http10-505.pcap"), &[]);
    assert_eq!(recs.len(), 2);
    assert_eq!(codes(&recs[0]), ["http_version_rejected"]);
    assert!(recs[0]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("although the request is HTTP/1.1: a proxy"));
    assert_eq!(
        codes(&recs[1]),
        ["request_http_version", "http_version_rejected"]
    );
    assert!(recs[1]["findings"][1]["message"]
        .as_str()
        .unwrap()
        .contains("to an HTTP/1.0 request"));
    for r in &recs {
        for f in r["findings"].as_array().unwrap() {
            assert!(
                !f["hint"].as_str().unwrap().contains("check its log"),
                "{f}"
            );
        }
    }
    let hop = all_records(&sample("nginx-http10-505.pcap"), &[])
        .into_iter()
        .find(|r| r["type"] == "hop")
        .unwrap();
    assert_eq!(hop["broken_at"], "proxy_request");
    assert!(hop["explanation"]
        .as_str()
        .unwrap()
        .contains("forwarded the request as HTTP/1.0"));
}

#[test]
fn refusals_carry_the_servers_reason_from_the_body() {
    // websockets' own words for a refused Origin: kept, and quoted in the finding.
    let r = only("origin-rejected-403.pcap");
    let body = &r["response"]["body"];
    let reason =
        "Failed to open a WebSocket connection: invalid Origin header: https://evil.example.";
    assert_eq!(body["text"], format!("{reason}\n"));
    assert_eq!(
        (&body["truncated"], &body["length"]),
        (&false.into(), &84.into())
    );
    let forbidden = &r["findings"][0];
    assert_eq!(forbidden["code"], "forbidden");
    assert!(
        forbidden["message"]
            .as_str()
            .unwrap()
            .ends_with(&format!("; the body says \"{reason}\"")),
        "{forbidden}"
    );
    // nginx's error page is kept, but it only repeats the status: nothing is quoted.
    let r = only("nginx-502-upstream-down.pcap");
    assert!(r["response"]["body"]["text"]
        .as_str()
        .unwrap()
        .contains("<title>502 Bad Gateway"));
    assert!(!r["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("body says"));
    // -v prints it under the response head, escaped; --body-bytes cuts it and says so.
    let path = sample("curl-bad-requests.pcap");
    let out = stdout(&wssniff(&[
        "-r",
        path.to_str().unwrap(),
        "-v",
        "--body-bytes",
        "10",
    ]));
    assert!(
        out.contains("      < Content-Length: 43\n      <\n      < Missing or\n      < [first 10 of 43 bytes]\n"),
        "{out}"
    );
    let recs = records(&path, &["--body-bytes", "0"]);
    assert!(recs.iter().all(|r| r["response"].get("body").is_none()));
}

#[test]
fn websockets_missing_subprotocol_400_quotes_its_reason() {
    let r = only("websockets-400-missing-subprotocol.pcap");
    assert_eq!(codes(&r), ["bad_request"]);
    let reason = "Failed to open a WebSocket connection: missing subprotocol.";
    assert_eq!(r["response"]["body"]["text"], format!("{reason}\n"));
    let message = r["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("the body says \"{reason}\"")),
        "{message}"
    );
}

#[test]
fn a_101_six_seconds_late_is_slow_unless_the_threshold_allows_it() {
    let r = only("slow-101.pcap");
    assert_eq!(
        (r["status"].as_u64(), r["verdict"].as_str()),
        (Some(101), Some("warning"))
    );
    assert_eq!(codes(&r), ["slow_response"]);
    let ms = r["timing"]["response_ms"].as_f64().unwrap();
    assert!((5900.0..7000.0).contains(&ms), "{ms} ms");
    let relaxed = records(&sample("slow-101.pcap"), &["--slow-response", "10"]);
    assert_eq!(verdicts(&relaxed), ["ok"]);
}

#[test]
fn a_101_naming_websockets_opens_no_websocket_and_decodes_no_frames() {
    let path = sample("handcrafted-upgrade-typo.pcap");
    let recs = all_records(&path, &[]);
    let handshakes: Vec<_> = recs.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(handshakes.len(), 1);
    assert_eq!(handshakes[0]["verdict"], "failed");
    assert_eq!(codes(handshakes[0]), ["response_upgrade_missing"]);
    assert!(
        recs.iter().all(|r| r["type"] != "connection"),
        "nothing switched: no WebSocket connection record"
    );
}

#[test]
fn a_proxy_that_broke_the_upgrade_takes_the_blame_from_the_server() {
    // Issue 15 item 5, recorded: nginx forwards the upgrade without Upgrade/Connection (or as
    // HTTP/1.0), the upstream refuses the request nginx sent and nginx relays the refusal. The
    // client's record, written before the upstream leg was known, blames the server; the hop
    // carries the corrected cause, and the lines print it with the hop line.
    for (name, port, blamed, upstream_said) in [
        (
            "nginx-no-upgrade-426.pcap",
            18261,
            "upgrade_required",
            "invalid Connection header: close.",
        ),
        (
            "nginx-no-upgrade-aiohttp-400.pcap",
            18263,
            "bad_request",
            "No WebSocket UPGRADE hdr: None",
        ),
        (
            "nginx-strips-upgrade.pcap",
            18031,
            "upgrade_ignored",
            "hello from app",
        ),
        (
            "nginx-http10-505.pcap",
            18231,
            "http_version_rejected",
            "unsupported HTTP version: HTTP/1.0.",
        ),
    ] {
        let path = sample(name);
        let all = all_records(&path, &[]);
        let client_leg = all
            .iter()
            .find(|r| r["type"] == "handshake" && r["id"] == 1)
            .unwrap();
        assert!(
            codes(client_leg).contains(&blamed.to_owned()),
            "{name}: the record is as written"
        );
        let hop = all.iter().find(|r| r["type"] == "hop").unwrap();
        assert_eq!(hop["broken_at"], "proxy_request", "{name}");
        let correction = &hop["correction"];
        assert_eq!(correction["replaces"], blamed, "{name}: {hop:#}");
        let finding = &correction["finding"];
        assert_eq!(finding["code"], "proxy_broke_request", "{name}");
        let message = finding["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "the proxy nginx/1.22.1 at 127.0.0.1:{port} broke the upgrade, not the server"
            )) && message.contains(upstream_said),
            "{name}: {message}"
        );
        // The line output: under the hop line, naming the finding it corrects.
        let out = wssniff(&["-r", path.to_str().unwrap()]);
        let text = stdout(&out);
        let hop_line = text.find("    proxy hop: #1 via").unwrap();
        let corrected = text
            .find(&format!(
                "    corrects #1's {blamed}:\n    error proxy_broke_request: the proxy nginx/1.22.1"
            ))
            .unwrap_or_else(|| panic!("{name}: {text}"));
        assert!(hop_line < corrected, "{name}: {text}");
        // The summary counts the corrected cause in place of the blame (the upstream leg's
        // own refusal stays).
        let summary = stderr(&out);
        assert!(
            summary.contains("1 broken by a hop")
                && summary.contains("proxy_broke_request ×1")
                && summary.contains(&format!("{blamed} ×1")),
            "{name}: {summary}"
        );
    }
    // A proxy that passed the upgrade intact, and an upstream that refused an intact request
    // (websockets' Origin check behind nginx): the server's own answer stands.
    for name in ["nginx-proxy-ok.pcap", "nginx-gzip-origin-403.pcap"] {
        let path = sample(name);
        let hop = all_records(&path, &[])
            .into_iter()
            .find(|r| r["type"] == "hop")
            .unwrap();
        assert!(hop.get("correction").is_none(), "{name}: {hop:#}");
        let summary = stderr(&wssniff(&["-r", path.to_str().unwrap()]));
        assert!(summary.contains("0 broken by a hop"), "{name}: {summary}");
    }
}

#[test]
fn refusal_bodies_of_real_peers_are_decoded_or_shown_as_hex() {
    // aiohttp refusing with a protobuf error (binary) and a deflate-compressed text reason.
    let path = sample("aiohttp-refusal-bodies.pcap");
    let recs = records(&path, &[]);
    let binary = &recs[0]["response"]["body"];
    assert_eq!(
        binary["hex"],
        "08 07 12 12 6f 72 69 67 69 6e 20 6e 6f 74 20 61 6c 6c 6f 77 65 64"
    );
    assert!(binary.get("text").is_none(), "{binary}");
    // Binary is no reason to quote.
    assert_eq!(codes(&recs[0]), ["forbidden"]);
    assert!(!recs[0]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("body says"));
    let reason =
        "Refused: this endpoint needs the subprotocol v2.chat.example; the client offered none.";
    let deflated = &recs[1]["response"]["body"];
    assert_eq!(
        (
            &deflated["content_encoding"],
            &deflated["decoded"],
            &deflated["length"]
        ),
        (&"deflate".into(), &true.into(), &85.into()),
        "{deflated}"
    );
    assert_eq!(deflated["text"], format!("{reason}\n"));
    assert!(recs[1]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .ends_with(&format!("the body says \"{reason}\"")));
    // -v: the binary body as hex, the decoded one as text with its coding.
    let out = stdout(&wssniff(&["-r", path.to_str().unwrap(), "-v"]));
    assert!(
        out.contains("      <\n      < [binary, 22 bytes: 08 07 12 12 6f 72 69 67 69 6e 20 6e 6f 74 20 61 6c 6c 6f 77 65 64]\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "      <\n      < {reason}\n      < [85 bytes, deflate]\n"
        )),
        "{out}"
    );
    // nginx with gzip on relaying websockets' 403 to a client that accepts gzip: the client's
    // leg is gzip on the wire, the upstream leg plain; both read the same.
    let recs = records(&sample("nginx-gzip-origin-403.pcap"), &[]);
    let (client, upstream) = (&recs[0]["response"]["body"], &recs[1]["response"]["body"]);
    assert_eq!(
        (&client["content_encoding"], &client["decoded"]),
        (&"gzip".into(), &true.into()),
        "{client}"
    );
    assert!(upstream.get("content_encoding").is_none(), "{upstream}");
    assert_eq!(client["text"], upstream["text"]);
    assert_eq!(
        client["text"],
        "Failed to open a WebSocket connection: invalid Origin header: https://evil.example.\n"
    );
    assert_ne!(
        client["length"], upstream["length"],
        "gzip's length as sent"
    );
}

/// tshark's decoded HTTP response bodies (`http.file_data`, after chunked and content
/// decoding) by the packet it dissects them at, read from its PDML (the field's `value` is the
/// bytes in hex).
fn tshark_bodies(path: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
    let out = std::process::Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-Y",
            "http.response",
            "-T",
            "pdml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pdml = String::from_utf8_lossy(&out.stdout).into_owned();
    let attr = |text: &str, name: &str| -> Option<String> {
        let (_, rest) = text.split_once(&format!("{name}=\""))?;
        rest.split_once('"').map(|(v, _)| v.to_owned())
    };
    let mut bodies = Vec::new();
    for packet in pdml.split("<packet>").skip(1) {
        let number = packet
            .split_once("name=\"frame.number\"")
            .and_then(|(_, rest)| attr(rest, "show"))
            .and_then(|n| n.parse().ok())
            .unwrap();
        if let Some((_, rest)) = packet.split_once("name=\"http.file_data\"") {
            let hex = attr(rest, "value").unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            bodies.push((number, bytes));
        }
    }
    bodies
}

#[test]
fn refusal_bodies_agree_with_tshark() {
    if !crate::tls::have_tshark() {
        return;
    }
    for name in [
        "aiohttp-refusal-bodies.pcap",
        "nginx-gzip-origin-403.pcap",
        "nginx-no-upgrade-aiohttp-400.pcap",
        "websockets-400-missing-subprotocol.pcap",
    ] {
        let path = sample(name);
        let theirs = tshark_bodies(&path);
        let recs = records(&path, &[]);
        assert_eq!(theirs.len(), recs.len(), "{name}: a body per refusal");
        for (packet, bytes) in theirs {
            let r = recs
                .iter()
                .find(|r| {
                    r["response"]["packets"]
                        .as_array()
                        .unwrap()
                        .contains(&packet.into())
                })
                .unwrap_or_else(|| panic!("{name}: no record answers at packet {packet}"));
            let body = &r["response"]["body"];
            let ours: Vec<u8> = match body["text"].as_str() {
                Some(text) => text.as_bytes().to_vec(),
                None => body["hex"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .map(|b| u8::from_str_radix(b, 16).unwrap())
                    .collect(),
            };
            assert_eq!(ours, bytes, "{name}: packet {packet}");
        }
    }
}

#[test]
fn a_proxy_timing_out_on_a_slow_upstream_is_named_and_not_corrected() {
    // nginx (proxy_read_timeout 2s) in front of websockets whose handshake hook takes 6 s:
    // nginx closes the upstream leg unanswered and answers the client 504. The client's
    // gateway_timeout is right; the hop says the proxy gave up on the upstream, and when.
    let path = sample("nginx-504-slow-upstream.pcap");
    let all = all_records(&path, &[]);
    let client_leg = all
        .iter()
        .find(|r| r["type"] == "handshake" && r["id"] == 1)
        .unwrap();
    assert_eq!(codes(client_leg), ["gateway_timeout"]);
    let upstream_leg = all
        .iter()
        .find(|r| r["type"] == "handshake" && r["id"] == 2)
        .unwrap();
    assert_eq!(
        (&upstream_leg["ending"], codes(upstream_leg)),
        (&"client_fin".into(), vec!["no_response".to_owned()])
    );
    let hop = all.iter().find(|r| r["type"] == "hop").unwrap();
    assert_eq!(hop["broken_at"], "unknown");
    assert!(hop.get("correction").is_none(), "{hop:#}");
    let explanation = hop["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("did not answer, and the proxy gave up after 2.0 s and answered the client 504: the upstream's handshake is slower than the proxy's timeout"),
        "{explanation}"
    );
}
