//! Third-party captures (../shared/samples/public, not in the repo): every handshake in the
//! ground truth must be found with the same endpoints, key, status and accept verdict, and
//! no others reported. The ground truth also lists non-WebSocket upgrades (h2c, Docker's
//! `Upgrade: tcp`); those must not be reported. When the folder is absent the tests skip with
//! a message (a user's clone), or fail under `CI=true`, where passing would check nothing.

use std::collections::BTreeSet;

use crate::util::*;

#[test]
fn public_captures_match_ground_truth() {
    let Some(dir) = public_captures() else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("ground-truth.json")).unwrap();
    let truth: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut files = 0;
    for (file, entry) in truth.as_object().unwrap() {
        let recs = records(&dir.join(file), &[]);
        let websocket: Vec<&serde_json::Value> = entry["handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| {
                let text = |k: &str| h[k].as_str().unwrap_or("").to_ascii_lowercase();
                text("upgrade").contains("websocket")
                    || text("resp_upgrade").contains("websocket")
                    || !text("key").is_empty()
            })
            .collect();
        let expected: BTreeSet<(String, String, String, String)> = websocket
            .iter()
            .map(|h| {
                (
                    h["client"].as_str().unwrap().to_owned(),
                    h["server"].as_str().unwrap().to_owned(),
                    h["key"].as_str().unwrap().to_owned(),
                    h["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let actual: BTreeSet<(String, String, String, String)> = recs
            .iter()
            .map(|r| {
                (
                    r["client"].as_str().unwrap().to_owned(),
                    r["server"].as_str().unwrap().to_owned(),
                    r["key"].as_str().unwrap_or("").to_owned(),
                    r["status"]
                        .as_u64()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(actual, expected, "{file}");
        for h in websocket {
            let r = recs
                .iter()
                .find(|r| r["client"] == h["client"] && r["key"] == h["key"])
                .unwrap();
            let c = codes(r);
            if h["status"] == "101" {
                assert_eq!(
                    !c.contains(&"accept_mismatch".to_owned()),
                    h["accept_correct"].as_bool().unwrap(),
                    "{file}: accept verdict"
                );
            }
            assert_eq!(
                !c.contains(&"request_key_invalid".to_owned()),
                h["key_is_16_bytes_b64"].as_bool().unwrap(),
                "{file}: key verdict"
            );
        }
        files += 1;
    }
    assert!(files >= 20, "only {files} public captures checked");
}

/// Frames after the handshake in third-party captures: close handshakes, violations the
/// captures were made to show, mid-stream recognition, and no WebSocket invented on flows
/// that are not (TLS, HTTP/2, Docker's raw upgrade, SSH inside wstunnel).
#[test]
fn public_captures_frames_and_endings() {
    let Some(dir) = public_captures() else {
        return;
    };
    let conns = |f: &str| connections(&dir.join(f), &[]);
    // Mid-stream frames, no handshake: the same traffic as arkime-websocket.pcap.
    let mid = conns("ndpi-websocket.pcap");
    assert_eq!(mid.len(), 1);
    assert_eq!(codes(&mid[0]), ["handshake_not_observed"]);
    let full = conns("arkime-websocket.pcap");
    assert_eq!(
        full[0]["server_to_client"]["messages"],
        mid[0]["server_to_client"]["messages"]
    );
    // Zeek's oversized close frame: a 258-byte control frame.
    let big = conns("zeek-websocket-oversized-close-frame.pcapng");
    assert!(codes(&big[0]).contains(&"frame_control_invalid".to_owned()));
    // Suricata's control-in-fragments case: a ping between fragments is legal (§5.4).
    let frag = conns("suricata-verify-websocket-control-frag-input.pcap");
    assert_eq!(frag[0]["client_to_server"]["fragmented_messages"], 1);
    assert!(codes(&frag[0]).is_empty(), "{:?}", codes(&frag[0]));
    // Zero false positives: no flow without a handshake is taken for WebSocket elsewhere.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) || name == "ndpi-websocket.pcap"
        {
            continue;
        }
        let hs = records(&path, &[]);
        for c in connections(&path, &[]) {
            assert_eq!(c["handshake_observed"], true, "{name}: {c:#}");
            assert!(
                hs.iter()
                    .any(|h| h["id"] == c["handshake_id"] && h["status"] == 101),
                "{name}"
            );
        }
    }
}

/// The rule itself: a missing folder fails a CI run and skips any other; a present one is
/// used whatever CI says.
#[test]
fn missing_public_captures_fail_under_ci_and_skip_otherwise() {
    let missing = std::env::temp_dir().join(format!("wssniff-no-public-{}", std::process::id()));
    for ci in ["true", "TRUE", "1", "yes"] {
        let Fixture::Fail(why) = fixture(&missing, "ground-truth.json", Some(ci)) else {
            panic!("CI={ci} with the folder missing must fail");
        };
        assert!(why.contains(&missing.display().to_string()), "{why}");
    }
    for ci in [None, Some(""), Some("false"), Some("0")] {
        let Fixture::Skip(why) = fixture(&missing, "ground-truth.json", ci) else {
            panic!("CI={ci:?} with the folder missing must skip");
        };
        assert!(
            why.starts_with("skipped: ") && why.contains("CI=true"),
            "{why}"
        );
    }
    // A folder without the ground truth is as good as missing; with it, it is present.
    let dir = std::env::temp_dir().join(format!("wssniff-public-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(
        fixture(&dir, "ground-truth.json", Some("true")),
        Fixture::Fail(_)
    ));
    std::fs::write(dir.join("ground-truth.json"), "{}").unwrap();
    for ci in [None, Some("true")] {
        assert_eq!(fixture(&dir, "ground-truth.json", ci), Fixture::Present);
    }
    std::fs::remove_dir_all(&dir).ok();
}
