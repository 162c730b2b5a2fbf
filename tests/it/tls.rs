//! TLS without keys on the captures `samples/generate-tls.sh` recorded from real
//! implementations (openssl, curl, Python `ssl` + websockets, node `https` + ws): what each
//! `tls` record must say, and SNI, version, cipher and alerts cross-checked against tshark.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::util::*;

fn tls_records(name: &str) -> Vec<Value> {
    all_records(&sample(&format!("tls/{name}")), &[])
        .into_iter()
        .filter(|r| r["type"] == "tls")
        .collect()
}

/// (sample, per connection: SNI, version, outcome, finding codes, ALPN selected).
type Expect<'a> = (
    &'a str,
    &'a [(&'a str, &'a str, &'a str, &'a [&'a str], Option<&'a str>)],
);

const EXPECTED: &[Expect<'static>] = &[
    (
        "tls13-wss-python-ok.pcap",
        &[("localhost", "TLSv1.3", "application_data", &[], None)],
    ),
    (
        "tls12-wss-python-ok.pcap",
        &[("localhost", "TLSv1.2", "application_data", &[], None)],
    ),
    (
        "tls13-wss-node-ok.pcap",
        &[("localhost", "TLSv1.3", "application_data", &[], None)],
    ),
    (
        "tls13-self-signed-rejected.pcap",
        &[(
            "localhost",
            "TLSv1.3",
            "aborted",
            &["tls_client_gave_up"],
            None,
        )],
    ),
    (
        "tls12-self-signed-rejected.pcap",
        &[(
            "localhost",
            "TLSv1.2",
            "aborted",
            &["tls_client_gave_up"],
            None,
        )],
    ),
    (
        "tls13-curl-unknown-ca.pcap",
        &[(
            "localhost",
            "TLSv1.3",
            "handshake_failed",
            &["tls_certificate_rejected"],
            None,
        )],
    ),
    (
        "tls12-curl-unknown-ca.pcap",
        &[(
            "localhost",
            "TLSv1.2",
            "handshake_failed",
            &["tls_certificate_rejected"],
            None,
        )],
    ),
    (
        "tls13-sni-rejected.pcap",
        &[(
            "wrong.example",
            "",
            "handshake_failed",
            &["tls_unrecognized_name"],
            None,
        )],
    ),
    (
        "tls12-sni-rejected.pcap",
        &[(
            "wrong.example",
            "",
            "handshake_failed",
            &["tls_unrecognized_name"],
            None,
        )],
    ),
    (
        "tls13-alpn-rejected.pcap",
        &[(
            "localhost",
            "",
            "handshake_failed",
            &["tls_no_application_protocol"],
            None,
        )],
    ),
    (
        "tls12-client-gave-up.pcap",
        &[(
            "localhost",
            "TLSv1.2",
            "aborted",
            &["tls_client_gave_up"],
            None,
        )],
    ),
    (
        // h2 is not a finding; s_server -www does not speak HTTP/2, so curl hangs up.
        "tls12-curl-alpn-h2-http11.pcap",
        &[
            (
                "localhost",
                "TLSv1.2",
                "closed_before_data",
                &[],
                Some("h2"),
            ),
            (
                "localhost",
                "TLSv1.2",
                "application_data",
                &[],
                Some("http/1.1"),
            ),
        ],
    ),
    (
        "tls13-curl-alpn-h2-http11.pcap",
        &[
            ("localhost", "TLSv1.3", "application_data", &[], None),
            ("localhost", "TLSv1.3", "application_data", &[], None),
        ],
    ),
    (
        "tls13-openssl-hrr.pcap",
        &[("localhost", "TLSv1.3", "application_data", &[], None)],
    ),
    (
        // wss:// through an HTTP CONNECT proxy: the TLS session inside the tunnel.
        "tls13-wss-connect-proxy.pcap",
        &[("localhost", "TLSv1.3", "application_data", &[], None)],
    ),
    (
        // An expired certificate: curl verifying it rejects it, curl -k goes on (the
        // finding is then a warning).
        "tls12-expired-certificate.pcap",
        &[
            (
                "localhost",
                "TLSv1.2",
                "handshake_failed",
                &["tls_certificate_rejected", "tls_certificate_expired"],
                None,
            ),
            (
                "localhost",
                "TLSv1.2",
                "application_data",
                &["tls_certificate_expired"],
                None,
            ),
        ],
    ),
    (
        // 0-RTT: whether the server took it is in the encrypted EncryptedExtensions.
        "tls13-early-data.pcap",
        &[("localhost", "TLSv1.3", "application_data", &[], None)],
    ),
    (
        // A real ECH offer (NSS tstclnt) to a server without ECH: without keys the client's
        // ech_required alert after its Finished has the size of a close_notify, and the
        // server's tickets are data, so nothing tells it from a used connection.
        "tls13-ech-rejected.pcap",
        &[("localhost", "TLSv1.3", "application_data", &[], None)],
    ),
    (
        "tls12-resumed-ticket.pcap",
        &[
            ("localhost", "TLSv1.2", "application_data", &[], None),
            ("localhost", "TLSv1.2", "application_data", &[], None),
        ],
    ),
    (
        "tls12-resumed-session-id.pcap",
        &[
            ("localhost", "TLSv1.2", "application_data", &[], None),
            ("localhost", "TLSv1.2", "application_data", &[], None),
        ],
    ),
];

#[test]
fn every_tls_sample_tells_its_story() {
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("samples/tls"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every TLS sample has its expectations");
    for (name, conns) in EXPECTED {
        let recs = tls_records(name);
        assert_eq!(
            recs.len(),
            conns.len(),
            "{name}: one tls record per connection"
        );
        for (r, (sni, version, outcome, codes_want, alpn)) in recs.iter().zip(conns.iter()) {
            assert_eq!(r["sni"], *sni, "{name}");
            assert_eq!(r["version"].as_str().unwrap_or(""), *version, "{name}");
            assert_eq!(r["outcome"], *outcome, "{name}");
            assert_eq!(codes(r), *codes_want, "{name}");
            assert_eq!(r["alpn"].as_str(), *alpn, "{name}");
            assert_eq!(r["decrypted"], false);
            // TLS 1.3 hides the certificate; TLS 1.2 shows it, unless the session was
            // resumed (an abbreviated handshake sends none).
            if r["resumed"] == true {
                assert!(r["certificate"].is_null(), "{name}");
            } else if *version == "TLSv1.2" {
                let cert = &r["certificate"];
                assert_eq!(cert["subject"], "CN=localhost", "{name}");
                assert_eq!(
                    cert["san"],
                    serde_json::json!(["localhost", "127.0.0.1"]),
                    "{name}"
                );
                assert_eq!(cert["self_signed"], true);
            } else {
                assert!(r["certificate"].is_null(), "{name}");
            }
        }
    }
    let hrr = &tls_records("tls13-openssl-hrr.pcap")[0];
    assert_eq!(hrr["hello_retry"], true);
    let ok = &tls_records("tls13-wss-python-ok.pcap")[0];
    assert!(
        ok["client_to_server"]["application_data_bytes"]
            .as_u64()
            .unwrap()
            > 100
    );
    assert_eq!(ok["encrypted_handshake"], true);
}

#[test]
fn the_summary_names_what_was_not_decrypted_and_the_way_out() {
    let out = wssniff(&[
        "-r",
        sample("tls/tls13-wss-python-ok.pcap").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(err.contains("0 WebSocket handshakes"), "{err}");
    assert!(
        err.contains("1 TLS connection: 0 failed, 0 decrypted; by SNI: localhost ×1"),
        "{err}"
    );
    assert!(
        err.contains("not decrypted") && err.contains("--keylog FILE"),
        "{err}"
    );
    assert!(err.contains("behind the TLS terminator"), "{err}");
    // A healthy connection gets no line; a failed one does.
    assert!(stdout(&out).is_empty());
    let out = wssniff(&[
        "-r",
        sample("tls/tls13-sni-rejected.pcap").to_str().unwrap(),
    ]);
    let line = stdout(&out);
    assert!(
        line.contains("TLS FAILED") && line.contains("sni=wrong.example"),
        "{line}"
    );
    assert!(line.contains("tls_unrecognized_name"), "{line}");
}

/// tshark's view of a capture: per TCP stream, SNI, ServerHello cipher and version, and
/// the plaintext alert descriptions.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    sni: Option<String>,
    cipher: Option<u16>,
    version: Option<u16>,
    alerts: Vec<u8>,
}

fn hex(s: &str) -> Option<u16> {
    u16::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

fn tshark(path: &std::path::Path) -> Option<BTreeMap<u64, Seen>> {
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str()?,
            "-Y",
            "tls",
            "-T",
            "fields",
            "-E",
            "separator=|",
        ])
        .args(["-e", "tcp.stream", "-e", "tls.handshake.type"])
        .args(["-e", "tls.handshake.extensions_server_name"])
        .args([
            "-e",
            "tls.handshake.ciphersuite",
            "-e",
            "tls.handshake.extensions.supported_version",
        ])
        .args(["-e", "tls.alert_message.desc"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut seen: BTreeMap<u64, Seen> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('|').collect();
        let s = seen.entry(f[0].parse().unwrap()).or_default();
        let types: Vec<&str> = f[1].split(',').collect();
        if !f[2].is_empty() {
            s.sni = Some(f[2].to_owned());
        }
        if types.contains(&"2") {
            // The last ServerHello wins (after a HelloRetryRequest).
            s.cipher = f[3].split(',').next_back().and_then(hex);
            s.version = f[4].split(',').next_back().and_then(hex).or(Some(0x0303));
        }
        s.alerts
            .extend(f[5].split(',').filter_map(|d| d.parse::<u8>().ok()));
    }
    Some(seen)
}

#[test]
fn tshark_agrees_on_sni_version_cipher_and_alerts() {
    if !have_tshark() {
        return;
    }
    for (name, _) in EXPECTED {
        let path = sample(&format!("tls/{name}"));
        let theirs = tshark(&path).unwrap();
        let ours = tls_records(name);
        assert_eq!(theirs.len(), ours.len(), "{name}");
        for (r, t) in ours.iter().zip(theirs.values()) {
            assert_eq!(r["sni"].as_str(), t.sni.as_deref(), "{name}");
            let cipher = t.cipher.map(wssniff::tls::record::cipher_name);
            assert_eq!(r["cipher"].as_str(), cipher.as_deref(), "{name}");
            let version = t.version.map(wssniff::tls::record::version_name);
            assert_eq!(r["version"].as_str(), version.as_deref(), "{name}");
            let plain: Vec<String> = r["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a["description"].as_str().map(str::to_owned))
                .collect();
            let theirs: Vec<String> = t
                .alerts
                .iter()
                .map(|d| wssniff::tls::record::alert_name(*d))
                .collect();
            assert_eq!(plain, theirs, "{name}");
        }
    }
}

#[test]
fn the_report_lists_failed_tls_connections() {
    let dir = std::env::temp_dir().join(format!("wssniff-tls-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let md = dir.join("r.md");
    let json = dir.join("r.json");
    for out in [&md, &json] {
        let o = wssniff(&[
            "-r",
            sample("tls/tls12-curl-unknown-ca.pcap").to_str().unwrap(),
            "-q",
            "--report",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("## TLS connections") && text.contains("tls_certificate_rejected"),
        "{text}"
    );
    assert!(text.contains("--keylog FILE"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["tls"]["failed"], 1);
    assert_eq!(
        v["tls"]["failures"][0]["findings"][0][0],
        "tls_certificate_rejected"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whether tshark can run; under `CI=true` (which installs it) a missing tshark fails.
pub(crate) fn have_tshark() -> bool {
    let found = Command::new("tshark").arg("-v").output().is_ok();
    assert!(
        found || !crate::util::under_ci(),
        "CI=true but tshark is not installed: the cross-check cannot run"
    );
    if !found {
        eprintln!("tshark not installed: cross-check skipped");
    }
    found
}

/// The wss:// samples of real peers (Python websockets over `ssl`, node `ws` over `https`).
const WSS_OK: &[&str] = &[
    "tls13-wss-python-ok",
    "tls12-wss-python-ok",
    "tls13-wss-node-ok",
    // Through an HTTP CONNECT proxy (the client ↔ proxy leg: CONNECT, 200, TLS).
    "tls13-wss-connect-proxy",
];

fn with_keys(name: &str) -> Vec<Value> {
    let keys = sample(&format!("tls/{name}.keys"));
    all_records(
        &sample(&format!("tls/{name}.pcap")),
        &["--keylog", keys.to_str().unwrap()],
    )
}

#[test]
fn a_key_log_opens_wss_to_the_whole_websocket_analysis() {
    for name in WSS_OK {
        let records = with_keys(name);
        let of = |t: &str| -> Vec<&Value> { records.iter().filter(|r| r["type"] == t).collect() };
        let (hs, conns, tls) = (of("handshake"), of("connection"), of("tls"));
        assert_eq!(hs.len(), 1, "{name}: {records:#?}");
        assert_eq!(hs[0]["verdict"], "ok", "{name}");
        assert_eq!(hs[0]["status"], 101, "{name}");
        assert_eq!(hs[0]["path"], "/chat", "{name}");
        assert_eq!(conns.len(), 1, "{name}");
        assert_eq!(conns[0]["ending"], "clean", "{name}");
        assert_eq!(
            conns[0]["close"]["client"]["code"], 1000,
            "{name}: {}",
            conns[0]
        );
        assert_eq!(tls.len(), 1, "{name}");
        assert_eq!(tls[0]["decrypted"], true, "{name}");
        assert!(tls[0]["decryption"].is_null(), "{name}: {}", tls[0]);
        // Without the key log the same capture shows no handshake, and says why.
        let plain = all_records(&sample(&format!("tls/{name}.pcap")), &[]);
        assert!(plain.iter().all(|r| r["type"] != "handshake"), "{name}");
    }
}

#[test]
fn tshark_decrypts_the_same_websocket_key_and_target() {
    if !have_tshark() {
        return;
    }
    for name in WSS_OK {
        let pcap = sample(&format!("tls/{name}.pcap"));
        let keys = sample(&format!("tls/{name}.keys"));
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .arg("-o")
            .arg(format!("tls.keylog_file:{}", keys.display()))
            .args(["-Y", "http.sec_websocket_key", "-T", "fields"])
            .args(["-e", "http.sec_websocket_key", "-e", "http.request.uri"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('\t')).collect();
        let records = with_keys(name);
        let ours: Vec<(&str, &str)> = records
            .iter()
            .filter(|r| r["type"] == "handshake")
            .map(|r| (r["key"].as_str().unwrap(), r["path"].as_str().unwrap()))
            .collect();
        assert_eq!(ours, theirs, "{name}");
    }
}

/// TLS 1.2 resumption samples: the second connection is an abbreviated handshake reusing
/// the first's master secret; the key log has the first connection's line only.
const RESUMED: &[&str] = &["tls12-resumed-ticket", "tls12-resumed-session-id"];

#[test]
fn a_resumed_tls12_session_decrypts_with_the_first_connections_master_secret() {
    for name in RESUMED {
        let keys = std::fs::read_to_string(sample(&format!("tls/{name}.keys"))).unwrap();
        assert_eq!(
            keys.lines()
                .filter(|l| l.starts_with("CLIENT_RANDOM"))
                .count(),
            1,
            "{name}: the key log must lack the resumed connection's line"
        );
        let records = with_keys(name);
        let of = |t: &str| -> Vec<&Value> { records.iter().filter(|r| r["type"] == t).collect() };
        let tls = of("tls");
        assert_eq!(tls.len(), 2, "{name}");
        assert_eq!(
            tls.iter()
                .map(|t| (t["resumed"].as_bool(), t["decrypted"].as_bool()))
                .collect::<Vec<_>>(),
            [(Some(false), Some(true)), (Some(true), Some(true))],
            "{name}: {tls:#?}"
        );
        assert!(tls.iter().all(|t| t["decryption"].is_null()), "{name}");
        let hs = of("handshake");
        assert_eq!(hs.len(), 2, "{name}");
        assert!(hs.iter().all(|h| h["verdict"] == "ok"), "{name}: {hs:#?}");
        let conns = of("connection");
        assert_eq!(conns.len(), 2, "{name}");
        assert!(conns.iter().all(|c| c["ending"] == "clean"), "{name}");
    }
}

#[test]
fn tshark_decrypts_the_resumed_sessions_with_the_same_key_log() {
    if !have_tshark() {
        return;
    }
    for name in RESUMED {
        let pcap = sample(&format!("tls/{name}.pcap"));
        let keys = sample(&format!("tls/{name}.keys"));
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .arg("-o")
            .arg(format!("tls.keylog_file:{}", keys.display()))
            .args(["-Y", "http.sec_websocket_key", "-T", "fields"])
            .args(["-e", "tcp.stream", "-e", "http.sec_websocket_key"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once('\t').map(|(_, key)| key))
            .collect();
        assert_eq!(theirs.len(), 2, "{name}: tshark decrypts both: {text}");
        let records = with_keys(name);
        let ours: Vec<&str> = records
            .iter()
            .filter(|r| r["type"] == "handshake")
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(ours, theirs, "{name}");
    }
}

#[test]
fn tls13_early_data_carries_the_upgrade_request_and_tshark_agrees() {
    // openssl s_client -early_data against s_server -early_data: the WebSocket upgrade
    // request is the 0-RTT data, under CLIENT_EARLY_TRAFFIC_SECRET.
    let name = "tls13-early-data";
    let plain = tls_records(&format!("{name}.pcap"));
    assert_eq!(plain[0]["early_data"], "offered", "{}", plain[0]);
    let records = with_keys(name);
    let tls: Vec<&Value> = records.iter().filter(|r| r["type"] == "tls").collect();
    assert_eq!(tls.len(), 1);
    assert_eq!(
        (
            &tls[0]["early_data"],
            &tls[0]["resumed"],
            &tls[0]["decrypted"]
        ),
        (&"accepted".into(), &true.into(), &true.into()),
        "{}",
        tls[0]
    );
    assert!(tls[0]["decryption"].is_null(), "{}", tls[0]);
    let hs: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "handshake")
        .collect();
    assert_eq!(hs.len(), 1, "{records:#?}");
    assert_eq!(hs[0]["verdict"], "ok", "{}", hs[0]);
    assert_eq!(hs[0]["key"], "dGhlIHNhbXBsZSBub25jZQ==");
    assert!(
        codes(hs[0]).iter().all(|c| *c != "capture_gap"),
        "the client's records after its EndOfEarlyData open: {}",
        hs[0]
    );
    if !have_tshark() {
        return;
    }
    let out = Command::new("tshark")
        .arg("-r")
        .arg(sample(&format!("tls/{name}.pcap")))
        .arg("-o")
        .arg(format!(
            "tls.keylog_file:{}",
            sample(&format!("tls/{name}.keys")).display()
        ))
        .args(["-Y", "http.sec_websocket_key", "-T", "fields"])
        .args(["-e", "http.sec_websocket_key", "-e", "http.request.uri"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!(
            "{}\t{}",
            hs[0]["key"].as_str().unwrap(),
            hs[0]["path"].as_str().unwrap()
        )
    );
}

#[test]
fn every_cipher_suite_sample_decrypts_to_application_data() {
    // openssl s_server with curl / s_client (samples/tls-suites): TLS 1.3 AES-GCM, ChaCha20
    // and KeyUpdate, TLS 1.2 ECDHE/RSA with AES-GCM, ChaCha20 and CBC with and without
    // encrypt-then-MAC, through the whole engine (not only the decrypter).
    let mut checked = 0;
    let mut paths: Vec<_> = std::fs::read_dir(root().join("samples/tls-suites"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    paths.sort();
    for pcap in paths {
        let keys = pcap.with_extension("keys");
        let tls: Vec<Value> = all_records(&pcap, &["--keylog", keys.to_str().unwrap()])
            .into_iter()
            .filter(|r| r["type"] == "tls")
            .collect();
        assert_eq!(tls.len(), 1, "{}", pcap.display());
        assert_eq!(tls[0]["decrypted"], true, "{}", pcap.display());
        assert_eq!(
            tls[0]["outcome"],
            "application_data",
            "{}: {}",
            pcap.display(),
            tls[0]
        );
        assert!(
            tls[0]["decryption"].is_null(),
            "{}: {}",
            pcap.display(),
            tls[0]
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} suites checked");
    // The keys can travel inside the capture (editcap --inject-secrets).
    let dsb = all_records(
        &root().join("samples/tls-suites/tls13-aes128gcm-dsb.pcapng"),
        &[],
    );
    let tls: Vec<&Value> = dsb.iter().filter(|r| r["type"] == "tls").collect();
    assert_eq!(tls.len(), 1);
    assert_eq!(tls[0]["decrypted"], true, "{}", tls[0]);
}

#[test]
fn the_tui_reader_decrypts_with_a_key_log_and_with_the_captures_own_keys() {
    use wssniff::event::Event;
    use wssniff::tui::feed::{read_all, read_all_decrypting, Feed};
    let handshakes = |feeds: Vec<Feed>| -> Vec<String> {
        feeds
            .into_iter()
            .filter_map(|f| match f {
                Feed::Event(Event::Handshake(h)) => Some(format!("{:?}", h.verdict)),
                _ => None,
            })
            .collect()
    };
    let config = wssniff::engine::EngineConfig::default();
    for name in WSS_OK {
        let pcap = sample(&format!("tls/{name}.pcap"));
        let keys = sample(&format!("tls/{name}.keys"));
        let with = read_all_decrypting(pcap.to_str().unwrap(), &keys, config).unwrap();
        // The detail names the TLS connection the handshake came out of.
        for f in &with {
            if let Feed::Event(Event::Handshake(h)) = f {
                let text: Vec<String> = wssniff::tui::render::detail_lines(h, None, None)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                assert!(
                    text.iter()
                        .any(|l| l.starts_with("tls ") && l.contains("sni=localhost")),
                    "{name}: {text:#?}"
                );
            }
        }
        assert_eq!(handshakes(with), ["Ok"], "{name}");
        let without = read_all(pcap.to_str().unwrap(), config).unwrap();
        assert!(handshakes(without).is_empty(), "{name}");
    }
    // A pcapng carrying a Decryption Secrets Block decrypts with no --keylog at all.
    let dsb = root().join("samples/tls-suites/tls13-aes128gcm-dsb.pcapng");
    let decrypted = read_all(dsb.to_str().unwrap(), config)
        .unwrap()
        .into_iter()
        .filter(|f| matches!(f, Feed::Event(Event::Tls(t)) if t.decrypted))
        .count();
    assert_eq!(decrypted, 1);
}

#[test]
fn an_expired_certificate_is_an_error_when_refused_and_a_warning_when_accepted() {
    let recs = tls_records("tls12-expired-certificate.pcap");
    let expired = |r: &Value| -> (String, String) {
        let f = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "tls_certificate_expired")
            .unwrap();
        (
            f["severity"].as_str().unwrap().to_owned(),
            f["message"].as_str().unwrap().to_owned(),
        )
    };
    let (refused, accepted) = (expired(&recs[0]), expired(&recs[1]));
    assert_eq!(refused.0, "error");
    assert_eq!(accepted.0, "warning");
    assert!(
        accepted.1.ends_with("(the client went on anyway)"),
        "{}",
        accepted.1
    );
    // Valid in January 2025 only (openssl ca -startdate/-enddate).
    assert_eq!(recs[0]["certificate"]["not_after"], 1_738_368_000);
}

/// Chromium opens a spare TLS connection next to the page's and closes it unused: it
/// finishes the handshake (its Finished), sends no application data and no alert, and hangs
/// up (TLS 1.3 to hypercorn; TLS 1.2 to nginx, which even sent its HTTP/2 SETTINGS). That is
/// `unused`, not a failed TLS connection, with keys and without; tshark agrees that the
/// client sent its Finished and nothing else on it.
#[test]
fn chromiums_spare_tls_connection_is_unused_not_failed() {
    for name in ["h2tls-chromium-hypercorn", "h2tls-chromium-nginx-fallback"] {
        let pcap = sample(&format!("h2tls/{name}.pcap"));
        let keys = sample(&format!("h2tls/{name}.keys"));
        for extra in [&[][..], &["--keylog", keys.to_str().unwrap()][..]] {
            let tls: Vec<Value> = all_records(&pcap, extra)
                .into_iter()
                .filter(|r| r["type"] == "tls")
                .collect();
            let spare: Vec<&Value> = tls.iter().filter(|t| t["outcome"] == "unused").collect();
            assert_eq!(spare.len(), 1, "{name} {extra:?}: {tls:#?}");
            let s = spare[0];
            assert_eq!(s["client_to_server"]["application_data_bytes"], 0, "{s}");
            assert_eq!(s["tcp_end"], "client_fin", "{s}");
            assert!(s["findings"].as_array().unwrap().is_empty(), "{s}");
            assert!(
                tls.iter()
                    .all(|t| t["outcome"] == "application_data" || t == s),
                "{name}: {tls:#?}"
            );
            let mut args = vec!["-r", pcap.to_str().unwrap()];
            args.extend_from_slice(extra);
            let out = wssniff(&args);
            assert!(!stdout(&out).contains("TLS FAILED"), "{}", stdout(&out));
            assert!(stderr(&out).contains(" 0 failed, "), "{}", stderr(&out));
            if !have_tshark() {
                continue;
            }
            // What the spare's client sent, decrypted: its Finished (handshake type 20), and
            // no HTTP/2, no other application data, no alert.
            let port = s["client"].as_str().unwrap().rsplit(':').next().unwrap();
            let fields = Command::new("tshark")
                .args([
                    "-r",
                    pcap.to_str().unwrap(),
                    "-o",
                    &format!("tls.keylog_file:{}", keys.display()),
                    "-Y",
                    &format!("tcp.srcport == {port} && tls"),
                    "-T",
                    "fields",
                    "-e",
                    "tls.handshake.type",
                    "-e",
                    "tls.alert_message",
                    "-e",
                    "http2",
                ])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&fields.stdout).into_owned();
            let rows: Vec<&str> = text.lines().collect();
            assert!(rows.iter().any(|r| r.contains("20")), "{name}: {text}");
            assert!(
                rows.iter().all(|r| {
                    let cols: Vec<&str> = r.split('\t').collect();
                    cols.get(1).is_none_or(|a| a.is_empty())
                        && cols.get(2).is_none_or(|h| h.is_empty())
                }),
                "{name}: the spare's client sent an alert or HTTP/2: {text}"
            );
        }
    }
}

/// The link between a decrypted TLS connection and what it carried, made once in the engine:
/// the handshake and connection records name their TLS connection (SNI, version, cipher,
/// ALPN, as its `tls` record says, same community id), the `tls` record lists the handshake
/// ids and counts the WebSockets; the line output, the summary and the report show it. A
/// wss:// capture through nginx (h2tls) has a plaintext upstream leg, which names no TLS.
#[test]
fn handshakes_and_websockets_name_the_tls_connection_that_carried_them() {
    let mut cases: Vec<(String, String)> = WSS_OK
        .iter()
        .map(|n| (format!("tls/{n}.pcap"), format!("tls/{n}.keys")))
        .collect();
    for n in [
        "h2tls-chromium-hypercorn",
        "h2tls-chromium-nginx-fallback",
        "h2tls-python-hypercorn",
    ] {
        cases.push((format!("h2tls/{n}.pcap"), format!("h2tls/{n}.keys")));
    }
    for (pcap, keys) in &cases {
        let pcap = sample(pcap);
        let keys = sample(keys);
        let keylog = ["--keylog", keys.to_str().unwrap()];
        let records = all_records(&pcap, &keylog);
        let of = |t: &str| -> Vec<&Value> { records.iter().filter(|r| r["type"] == t).collect() };
        let tls = of("tls");
        let mut carried = 0;
        for h in of("handshake") {
            let by_community: Vec<&&Value> = tls
                .iter()
                .filter(|t| t["community_id"] == h["community_id"])
                .collect();
            let Some(t) = by_community.first() else {
                // A plaintext leg (nginx to its upstream).
                assert!(h.get("tls").is_none(), "{h}");
                continue;
            };
            carried += 1;
            let link = &h["tls"];
            for field in ["sni", "version", "cipher", "alpn"] {
                assert_eq!(link[field], t[field], "{pcap:?} {field}: {h}");
            }
            assert!(
                t["handshakes"].as_array().unwrap().contains(&h["id"]),
                "{t}"
            );
        }
        assert!(carried > 0, "{pcap:?}");
        for c in of("connection") {
            let t = tls.iter().find(|t| t["community_id"] == c["community_id"]);
            match t {
                Some(t) => {
                    assert_eq!(c["tls"]["sni"], t["sni"], "{c}");
                    assert!(t["websockets"].as_u64().unwrap() > 0, "{t}");
                }
                None => assert!(c.get("tls").is_none(), "{c}"),
            }
        }
        let websockets: u64 = tls.iter().filter_map(|t| t["websockets"].as_u64()).sum();
        let carried_conns = of("connection")
            .iter()
            .filter(|c| c.get("tls").is_some())
            .count() as u64;
        assert_eq!(websockets, carried_conns, "{pcap:?}");
        // The lines: the handshake names its TLS connection, the TLS connection is printed
        // (it carried a WebSocket) with the handshake it carried; the summary counts it.
        let p = pcap.to_str().unwrap();
        let out = wssniff(&["-r", p, "--keylog", keys.to_str().unwrap()]);
        let lines = stdout(&out);
        let carrier = tls
            .iter()
            .find(|t| !t["handshakes"].as_array().unwrap().is_empty())
            .unwrap();
        let id = &carrier["handshakes"][0];
        let version = carrier["version"].as_str().unwrap();
        let own = format!(" #{id} ");
        let named = format!("{version} ");
        assert!(
            lines
                .lines()
                .any(|l| l.contains(&own) && l.contains(" → ") && l.contains(&named)),
            "{lines}"
        );
        let ids: Vec<String> = carrier["handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("#{i}"))
            .collect();
        let n = carrier["websockets"].as_u64().unwrap();
        let words = match (ids.len(), n) {
            (1, 1) => format!("carried handshake {} and 1 WebSocket connection", ids[0]),
            _ => format!(
                "carried handshakes {} and {n} WebSocket connections",
                ids.join(", ")
            ),
        };
        assert!(
            lines
                .lines()
                .any(|l| l.contains(" tls ") && l.contains(&words)),
            "{words}: {lines}"
        );
        assert!(
            stderr(&out).contains("decrypted (1 carried WebSocket handshakes)"),
            "{}",
            stderr(&out)
        );
        // Without keys: nothing inside is seen, so nothing is claimed.
        for t in all_records(&pcap, &[])
            .iter()
            .filter(|r| r["type"] == "tls")
        {
            assert_eq!(t["handshakes"], serde_json::json!([]), "{t}");
            assert!(t["websockets"].is_null(), "{t}");
        }
    }
    // The report lists the carriers next to the failed ones (a failed handshake's detail
    // names its TLS connection: src/report.rs).
    let (pcap, keys) = (
        sample("tls/tls13-wss-python-ok.pcap"),
        sample("tls/tls13-wss-python-ok.keys"),
    );
    let dir = std::env::temp_dir().join(format!("wssniff-tls-carried-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let md = dir.join("r.md");
    let out = wssniff(&[
        "-r",
        pcap.to_str().unwrap(),
        "--keylog",
        keys.to_str().unwrap(),
        "-q",
        "--report",
        md.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = std::fs::read_to_string(&md).unwrap();
    assert!(
        report.contains("Decrypted, and carried WebSocket handshakes:"),
        "{report}"
    );
    assert!(
        report.contains("carried handshake #1 and 1 WebSocket connection"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_real_ech_offer_shows_its_public_name_and_with_keys_the_client_aborting_with_ech_required() {
    // NSS's tstclnt encrypted its inner ClientHello (SNI inner.example) to an ECHConfig
    // whose public name is localhost; OpenSSL 3.0 has no ECH and answered the outer hello.
    let plain = &tls_records("tls13-ech-rejected.pcap")[0];
    assert_eq!(plain["ech"], true, "{plain}");
    assert_eq!(plain["sni"], "localhost", "the outer (public) name");
    assert_eq!(
        plain["ech_verdict"], "undetermined",
        "real or GREASE, without keys"
    );
    let text = serde_json::to_string(plain).unwrap();
    assert!(
        !text.contains("inner.example"),
        "the inner name is encrypted: {text}"
    );
    // With the server's key log: the certificate covered the public name and no
    // retry_configs came, so the client finished and aborted (RFC 9849 §6.1.6).
    let keyed: Vec<Value> = with_keys("tls13-ech-rejected")
        .into_iter()
        .filter(|r| r["type"] == "tls")
        .collect();
    let r = &keyed[0];
    assert_eq!(r["decrypted"], true, "{r}");
    assert_eq!(r["ech_verdict"], "not_hidden", "{r}");
    assert_eq!(r["outcome"], "handshake_failed", "{r}");
    assert_eq!(r["alerts"][0]["from"], "client");
    assert_eq!(r["alerts"][0]["description"], "ech_required");
    assert_eq!(codes(r), ["tls_alert"]);
    // tshark decrypts the same alert (121) from the same key log.
    let pcap = sample("tls/tls13-ech-rejected.pcap");
    let keys = sample("tls/tls13-ech-rejected.keys");
    if let Ok(out) = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keys.display()))
        .args([
            "-Y",
            "tls.alert_message",
            "-T",
            "fields",
            "-e",
            "tls.alert_message.desc",
        ])
        .output()
    {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "121");
        }
    }
}

#[test]
fn chromiums_grease_ech_is_not_read_as_a_hidden_name() {
    // Chromium sends a GREASE ECH extension (random contents) when it has no ECH
    // configuration for the server; to 127.0.0.1 it sends no SNI either, which a real ECH
    // (the public name in the outer SNI) never does.
    let pcap = sample("h2tls/h2tls-chromium-hypercorn.pcap");
    let recs: Vec<Value> = all_records(&pcap, &[])
        .into_iter()
        .filter(|r| r["type"] == "tls")
        .collect();
    assert!(!recs.is_empty());
    for r in &recs {
        assert_eq!(r["ech"], true, "{r}");
        assert_eq!(r["ech_verdict"], "not_hidden", "{r}");
    }
    let out = wssniff(&["-r", pcap.to_str().unwrap()]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains("real name hidden"), "{text}");
    // Without ECH the field is omitted.
    let plain = &tls_records("tls13-wss-python-ok.pcap")[0];
    assert_eq!(plain["ech"], false);
    assert!(plain.get("ech_verdict").is_none());
}
