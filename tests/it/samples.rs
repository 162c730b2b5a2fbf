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
    let frames = r["request"]["frames"].as_array().unwrap();
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
}

#[test]
fn handcrafted_server_misbehaviour() {
    let r = only("handcrafted-bad-accept.pcap");
    assert_eq!(codes(&r), ["accept_mismatch"]);
    assert_ne!(r["accept"], r["expected_accept"]);
    let r = only("handcrafted-unoffered-subprotocol.pcap");
    assert_eq!(codes(&r), ["subprotocol_not_offered"]);
    let recs = records(&sample("handcrafted-double-accept-extension.pcap"), &[]);
    assert_eq!(codes(&recs[0]), ["extension_not_offered"]);
    assert_eq!(codes(&recs[1]), ["extension_params_invalid"]);
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

#[test]
fn proxied_legs_are_both_reported() {
    for name in ["nginx-proxy-ok.pcap", "nginx-idle-timeout.pcap"] {
        let recs = records(&sample(name), &[]);
        assert_eq!(verdicts(&recs), ["ok", "ok"], "{name}");
    }
}
