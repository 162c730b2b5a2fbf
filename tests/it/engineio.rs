//! Engine.IO / Socket.IO samples recorded from real implementations
//! (`samples/generate-engineio.sh`): wssniff's session records against what the client
//! libraries logged (`samples/expected/NAME.pcap.client.log`) and against tshark's HTTP and
//! WebSocket dissection of the same capture (`NAME.pcap.tshark-http-ws.tsv`: tshark does not
//! read Engine.IO, so the bodies and payloads it shows are what wssniff must have parsed).

use serde_json::Value;

use crate::util::*;

/// The sessions of `samples/NAME`, read with its key log (`NAME.keys`) when it has one.
fn sessions(name: &str) -> Vec<Value> {
    let keys = sample(&name.replace(".pcap", ".keys"));
    let keys = keys.to_str().unwrap();
    let mut args = vec!["--no-redact"];
    if std::path::Path::new(keys).exists() {
        args.extend(["--keylog", keys]);
    }
    all_records(&sample(name), &args)
        .into_iter()
        .filter(|r| r["type"] == "engineio_session")
        .collect()
}

fn session(name: &str) -> Value {
    let mut s = sessions(name);
    assert_eq!(s.len(), 1, "{name}: {s:#?}");
    s.remove(0)
}

fn client_log(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("samples/expected/{name}.client.log"))).unwrap()
}

/// The sid the client library logged at its open (`client open: … sid=X`).
fn logged_sid(name: &str) -> String {
    let log = client_log(name);
    let line = log
        .lines()
        .find(|l| l.contains("sid="))
        .unwrap_or_else(|| panic!("{name}: no sid in the client log"));
    line.split("sid=").nth(1).unwrap().trim().to_owned()
}

fn codes(s: &Value) -> Vec<String> {
    s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// tshark's lines: ("http", frame, method, status, body) or ("ws", frame, text).
fn tshark(name: &str) -> Vec<Vec<String>> {
    let path = root().join(format!("samples/expected/{name}.tshark-http-ws.tsv"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn ws_texts(name: &str) -> Vec<String> {
    tshark(name)
        .into_iter()
        .filter(|f| f[0] == "ws")
        .map(|f| f.get(2).cloned().unwrap_or_default())
        .collect()
}

#[test]
fn a_clean_polling_to_websocket_upgrade_is_one_session() {
    let name = "engineio-polling-upgrade.pcap";
    let s = session(name);
    assert!(client_log(name).contains("client upgrade: websocket"));
    assert_eq!(s["sid"], logged_sid(name).as_str());
    assert_eq!(s["transport"], "websocket");
    assert_eq!(s["version"], 4);
    assert_eq!(s["open"]["transport"], "polling");
    assert_eq!(s["open"]["ping_interval_ms"], 300);
    let u = &s["upgrade"];
    assert_eq!(u["status"], 101);
    assert_eq!(
        (&u["probe_sent"], &u["probe_answered"], &u["upgraded"]),
        (&Value::Bool(true), &Value::Bool(true), &Value::Bool(true))
    );
    // The handshake record of the upgrade is the one the session names.
    let hs = records(&sample(name), &[]);
    assert_eq!(hs.len(), 1);
    assert_eq!(u["handshake_id"], hs[0]["id"]);
    assert!(codes(&s).is_empty(), "{s:#}");
    // tshark saw the probe, its answer and the upgrade packet in the WebSocket frames.
    let texts = ws_texts(name);
    for p in ["2probe", "3probe", "5"] {
        assert!(texts.iter().any(|t| t == p), "{p} in {texts:?}");
    }
}

#[test]
fn sessions_from_every_sample_agree_with_tsharks_bodies_and_frames() {
    // (HTTP/2 samples are checked against tshark's HTTP/2 view below.)
    for name in sample_names()
        .into_iter()
        .filter(|n| n.starts_with("engineio-") && !n.starts_with("engineio-h2-"))
    {
        let ours = sessions(&name);
        let lines = tshark(&name);
        // Every open packet tshark shows in an HTTP body is a session of ours, by sid.
        for l in lines.iter().filter(|l| l[0] == "http") {
            let body = l.get(4).map_or("", String::as_str);
            // An Engine.IO open packet, not Socket.IO's `40{"sid":…}` CONNECT answer: it
            // starts the body, or a packet after a v3 length or v4's record separator.
            let open = ["", ":", "\u{1e}"].iter().find_map(|pre| {
                let pat = format!("{pre}0{{\"sid\":\"");
                if pre.is_empty() {
                    body.strip_prefix(pat.as_str())
                } else {
                    body.split(pat.as_str()).nth(1)
                }
            });
            if let Some(rest) = open {
                let sid = rest.split('"').next().unwrap();
                assert!(
                    ours.iter().any(|s| s["sid"] == sid),
                    "{name}: open of {sid} (frame {}) not in a session",
                    l[1]
                );
            }
        }
        // Every Engine.IO error body tshark shows is an error of ours, with its code
        // (python-engineio's stale-sid answer is a JSON string: code 1's meaning).
        let mut theirs: Vec<(u64, i64)> = lines
            .iter()
            .filter(|l| l[0] == "http")
            .filter_map(|l| {
                let v: Value = serde_json::from_str(l.get(4)?).ok()?;
                let code = match v.as_str() {
                    Some(text) => text.starts_with("Invalid session ").then_some(1)?,
                    None => v["code"].as_i64()?,
                };
                Some((l[1].parse().ok()?, code))
            })
            .collect();
        let mut mine: Vec<(u64, i64)> = ours
            .iter()
            .flat_map(|s| s["errors"].as_array().cloned().unwrap_or_default())
            .map(|e| (e["packet"].as_u64().unwrap(), e["code"].as_i64().unwrap()))
            .collect();
        theirs.sort_unstable();
        mine.sort_unstable();
        assert_eq!(mine, theirs, "{name}: error bodies");
        // The probe: tshark's 3probe frames exist exactly when a session says it was answered.
        let answered = ours
            .iter()
            .any(|s| s["upgrade"]["probe_answered"] == Value::Bool(true));
        assert_eq!(
            answered,
            ws_texts(&name).iter().any(|t| t == "3probe"),
            "{name}: probe answered"
        );
    }
}

#[test]
fn websocket_only_sessions_open_in_the_first_message() {
    let name = "engineio-websocket-only.pcap";
    let s = session(name);
    assert_eq!(s["sid"], logged_sid(name).as_str());
    assert_eq!(s["open"]["transport"], "websocket");
    assert_eq!(s["upgrade"], Value::Null);
    assert_eq!(s["polls"], 0);
    // v4: the server pings; tshark's frames show as many "2" as the heartbeat counts.
    let pings = ws_texts(name).iter().filter(|t| *t == "2").count() as u64;
    assert_eq!(s["heartbeat"]["pings"].as_u64(), Some(pings));
    assert!(pings > 0);
    let py = session("engineio-python-aiohttp.pcap");
    assert_eq!(
        py["sid"],
        logged_sid("engineio-python-aiohttp.pcap").as_str()
    );
    assert_eq!(py["transport"], "websocket");
    // python-engineio announced pingInterval 0 (it truncates 0.4 s to whole seconds), so its
    // client gave up 300 ms (pingTimeout) after the last message, without a ping: on the
    // wire, the client's FIN 0.30 s after the server's last frame, no close packet.
    assert_eq!(py["open"]["ping_interval_ms"], 0);
    assert_eq!(codes(&py), ["engineio_ping_timeout"]);
    let why = py["findings"][0]["message"].as_str().unwrap();
    assert!(why.contains("announced pingInterval 0"), "{why}");
}

#[test]
fn a_non_sticky_balancer_names_the_backend_that_created_the_sid() {
    let name = "engineio-sticky-400.pcap";
    assert!(client_log(name).contains("xhr post error"));
    let s = session(name);
    assert_eq!(s["sid"], logged_sid(name).as_str());
    assert_eq!(codes(&s), ["engineio_session_unknown"]);
    let msg = s["findings"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("created by 127.0.0.1:18312 but 127.0.0.1:18313 answered 400"),
        "{msg}"
    );
    assert_eq!(s["ending"], "session_unknown");
    // With ip_hash every request reaches one backend and the session upgrades.
    let ok = session("engineio-sticky-iphash-ok.pcap");
    assert!(codes(&ok).is_empty(), "{ok:#}");
    assert_eq!(ok["transport"], "websocket");
}

/// python-socketio backends behind nginx round robin: the poll after the open reaches the
/// other backend, and python-engineio answers 400 with text (`"Invalid session SID"`), not
/// engine.io's `{"code":1,…}`: the same failure, named the same way, backends and all.
#[test]
fn python_engineio_s_plain_text_invalid_session_is_session_unknown() {
    let name = "engineio-python-sticky-400.pcap";
    let s = session(name);
    let log = client_log(name);
    assert!(log.contains("Unexpected status code 400"), "{log}");
    assert_eq!(codes(&s), ["engineio_session_unknown"], "{s:#}");
    assert_eq!(s["ending"], "session_unknown");
    // tshark's bodies: the open packet's sid, and the two legs of the 400 naming it.
    let lines = tshark(name);
    let open = lines
        .iter()
        .find_map(|l| l.get(4)?.strip_prefix("0{\"sid\":\""))
        .unwrap();
    let sid = open.split('"').next().unwrap();
    assert_eq!(s["sid"], sid);
    let refused: Vec<u64> = lines
        .iter()
        .filter(|l| {
            l.get(4)
                .is_some_and(|b| *b == format!("\"Invalid session {sid}\""))
        })
        .map(|l| l[1].parse().unwrap())
        .collect();
    assert_eq!(refused.len(), 2, "the backend's answer and nginx's copy");
    let errors = s["errors"].as_array().unwrap();
    let packets: Vec<u64> = errors
        .iter()
        .map(|e| e["packet"].as_u64().unwrap())
        .collect();
    assert_eq!(packets, refused);
    assert!(errors
        .iter()
        .all(|e| e["code"] == 1 && e["message"] == "Invalid session"));
    // Both backends named: the one that opened the sid and the one that never heard of it.
    let why = s["findings"][0]["message"].as_str().unwrap();
    assert!(
        why.contains(
            "created by 127.0.0.1:18315 but 127.0.0.1:18316 answered 400 \"Invalid session\""
        ),
        "{why}"
    );
}

#[test]
fn a_proxy_that_strips_upgrade_leaves_the_session_on_polling() {
    let name = "engineio-silent-fallback.pcap";
    let log = client_log(name);
    assert!(log.contains("upgradeError") && log.contains("transport=polling"));
    let s = session(name);
    assert_eq!(s["transport"], "polling");
    let c = codes(&s);
    assert!(
        c.contains(&"engineio_fell_back_to_polling".to_owned()),
        "{c:?}"
    );
    let fallback = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "engineio_fell_back_to_polling")
        .unwrap();
    assert!(fallback["message"].as_str().unwrap().contains("HTTP 400"));
}

#[test]
fn an_engineio_v3_client_against_a_v4_server() {
    let s = session("engineio-v3-rejected.pcap");
    assert_eq!(s["version"], 3);
    assert_eq!(s["sid"], Value::Null);
    assert_eq!(codes(&s), ["engineio_unsupported_version"]);
    // Both revisions named: the client's (its EIO=3 query, socket.io-client 2.5 in the
    // generation script) and the server's (socket.io 4.8 without allowEIO3).
    let message = s["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("revision 3 (EIO=3)") && message.contains("the server speaks revision 4"),
        "{message}"
    );
    // With allowEIO3 the v3 session works: length-prefixed payloads, the client pings.
    let name = "engineio-v3-allowed.pcap";
    let ok = session(name);
    assert_eq!(ok["sid"], logged_sid(name).as_str());
    assert_eq!(
        (&ok["version"], &ok["transport"]),
        (&Value::from(3), &Value::from("websocket"))
    );
    assert!(ok["heartbeat"]["pings"].as_u64().unwrap() > 0);
    assert!(codes(&ok).is_empty(), "{ok:#}");
}

#[test]
fn a_refused_namespace_is_reported_and_its_token_never_shown() {
    let name = "engineio-auth-rejected.pcap";
    assert!(client_log(name).contains("connect_error: not authorized"));
    let s = session(name);
    assert_eq!(codes(&s), ["socketio_namespace_refused"]);
    assert_eq!(s["namespaces"][0]["error"], "not authorized");
    let path = sample(name);
    for args in [&["--json"][..], &["-v"][..], &["-v", "--json"][..]] {
        let mut a = vec!["-r", path.to_str().unwrap()];
        a.extend_from_slice(args);
        let out = wssniff(&a);
        let text = stdout(&out) + &stderr(&out);
        assert!(!text.contains("s3cret-token"), "{args:?}");
        assert!(
            !text.contains(&logged_sid(name)),
            "{args:?}: the sid is redacted"
        );
    }
}

#[test]
fn a_suspended_client_is_a_ping_timeout() {
    let name = "engineio-ping-timeout.pcap";
    assert!(client_log(name).contains("disconnect: ping timeout"));
    let s = session(name);
    assert_eq!(codes(&s), ["engineio_ping_timeout"]);
    assert_eq!(s["ending"], "ping_timeout");
    // v4: the server pings, so the side that stopped is the client.
    let why = s["findings"][0]["message"].as_str().unwrap();
    assert!(
        why.starts_with("the client did not answer the server's ping"),
        "{why}"
    );
    // A healthy session with the same ping settings is not one.
    assert!(codes(&session("engineio-polling-upgrade.pcap")).is_empty());
}

#[test]
fn a_suspended_server_is_a_ping_timeout_blamed_on_the_server() {
    // python-socketio: the server process stopped after its first ping; the client waited
    // pingInterval + pingTimeout for the next one and closed the WebSocket.
    let name = "engineio-server-frozen.pcap";
    let log = client_log(name);
    assert!(log.contains("Server has stopped communicating"), "{log}");
    assert!(log.contains("client disconnect: transport error"), "{log}");
    let s = session(name);
    assert_eq!(codes(&s), ["engineio_ping_timeout"]);
    assert_eq!(s["ending"], "ping_timeout");
    assert_eq!(
        (
            s["heartbeat"]["pings"].as_u64(),
            s["heartbeat"]["pongs"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let why = s["findings"][0]["message"].as_str().unwrap();
    assert!(why.starts_with("the server sent no ping for"), "{why}");
    assert!(
        why.contains("the client gave up and closed the WebSocket"),
        "{why}"
    );
}

#[test]
fn lines_and_summary_show_sessions_with_the_sid_hidden() {
    let name = "engineio-sticky-400.pcap";
    let out = wssniff(&["-r", sample(name).to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.contains("SOCKET.IO FAILED"), "{text}");
    assert!(text.contains("engineio_session_unknown"));
    assert!(!text.contains(&logged_sid(name)));
    assert!(stderr(&out).contains(
        "1 Socket.IO session: 0 on websocket, 1 on polling, 1 with a warning or an error"
    ));
}

#[test]
fn the_report_has_a_socketio_section_without_the_sid() {
    let name = "engineio-sticky-400.pcap";
    let dir = std::env::temp_dir().join(format!("wssniff-eio-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for ext in ["md", "json", "html"] {
        let path = dir.join(format!("r.{ext}"));
        let out = wssniff(&[
            "-r",
            sample(name).to_str().unwrap(),
            "--report",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("engineio_session_unknown"), "{ext}");
        assert!(
            !text.contains(&logged_sid(name)),
            "{ext}: the sid is redacted"
        );
        if ext == "md" {
            assert!(text.contains("## Socket.IO sessions"));
            assert!(text.contains(
                "1 Socket.IO session: 0 on websocket, 1 on polling, 1 with a warning or an error."
            ));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every event of `name` read as a live capture would be (records as known, a response
/// timeout), with a tick at capture time `at_s` (seconds) after the last packet, then the
/// end. Returns the Engine.IO sessions written before the end, and those written at it.
fn live_with_tick(name: &str, at_s: f64) -> (Vec<Value>, Vec<Value>) {
    use std::ops::ControlFlow;
    use wssniff::capture::{FileSource, Timestamp};
    use wssniff::engine::{Engine, EngineConfig, RecordOrder};
    use wssniff::event::Event;
    let mut engine = Engine::new(EngineConfig {
        order: RecordOrder::AsKnown,
        response_timeout_ns: Some(10_000_000_000),
        ..EngineConfig::default()
    });
    let session = |e: &Event| match e {
        Event::EngineIo(s) => Some(serde_json::to_value(s.as_ref()).unwrap()),
        _ => None,
    };
    let mut before = Vec::new();
    let mut source = FileSource::open(sample(name).to_str().unwrap()).unwrap();
    source.for_each_packet(|p| {
        engine.process(p, &mut |e| before.extend(session(&e)));
        ControlFlow::Continue(())
    });
    #[allow(clippy::cast_possible_truncation)]
    engine.tick(Timestamp((at_s * 1e9) as i64), &mut |e| {
        before.extend(session(&e));
    });
    let mut after = Vec::new();
    engine.finish(&mut |e| after.extend(session(&e)));
    assert_eq!(engine.memory(), 0);
    (before, after)
}

/// Checks that `name`'s one session is still followed at `end_ts + idle_s - 0.5` and written
/// by the tick at `end_ts + idle_s + 0.5`, equal to the file's record (redaction aside).
fn expires_after(name: &str, idle_s: f64) {
    let from_file = session(name);
    let end = from_file["end_ts"].as_f64().unwrap();
    let last_packet = all_records(&sample(name), &[])
        .into_iter()
        .find(|r| r["type"] == "summary")
        .unwrap()["last_ts"]
        .as_f64()
        .unwrap();
    assert!(
        end + idle_s - 0.5 > last_packet,
        "the tick comes after the capture"
    );
    let (before, after) = live_with_tick(name, end + idle_s - 0.5);
    assert!(before.is_empty(), "{name}: {before:#?}");
    assert_eq!(after.len(), 1, "{name}: written at the end");
    let (before, after) = live_with_tick(name, end + idle_s + 0.5);
    assert_eq!(before.len(), 1, "{name}: written by the tick");
    assert!(after.is_empty(), "{name}: {after:#?}");
    // The JSON sink adds the record's type and schema.
    let mut from_file = from_file;
    let fields = from_file.as_object_mut().unwrap();
    fields.remove("type");
    fields.remove("schema");
    assert_eq!(before[0], from_file);
}

#[test]
fn live_sessions_closed_over_polling_are_written_after_the_margin_not_at_the_end() {
    // The silent fallback ended with a close packet in a poll, and so did the client that
    // met Session ID unknown; a proxy's other leg may still carry the last exchange, so each
    // waits 10 s of capture time (the heartbeat rule, for sessions nothing closed, is in the
    // tracker's unit tests: no sample holds one).
    for name in ["engineio-silent-fallback.pcap", "engineio-sticky-400.pcap"] {
        expires_after(name, 10.0);
    }
}

#[test]
fn an_upgrade_whose_probe_is_never_answered_is_probe_unanswered() {
    // A socket.io server patched to let the upgrade through (101) and never answer 2probe.
    let name = "engineio-probe-unanswered.pcap";
    let s = session(name);
    assert_eq!(s["sid"], logged_sid(name).as_str());
    // What the endpoints logged: the client's probe failed and it stayed on polling; the
    // server read the probe and answered nothing.
    let client = client_log(name);
    assert!(
        client.contains("client upgradeError: probe error"),
        "{client}"
    );
    assert!(client.contains("client final: connected=true transport=polling"));
    let server =
        std::fs::read_to_string(root().join(format!("samples/expected/{name}.server.log")))
            .unwrap();
    assert!(server.contains("probe: read ping probe"), "{server}");
    assert!(server.contains("probe: not answered"));
    // tshark's frames: the 2probe went out, no 3probe came back.
    let texts = ws_texts(name);
    assert!(texts.iter().any(|t| t == "2probe"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "3probe"));
    let u = &s["upgrade"];
    assert_eq!(u["status"], 101);
    assert_eq!(
        (&u["probe_sent"], &u["probe_answered"], &u["upgraded"]),
        (&Value::Bool(true), &Value::Bool(false), &Value::Bool(false))
    );
    assert_eq!(s["transport"], "polling");
    assert_eq!(
        codes(&s),
        ["engineio_probe_unanswered", "engineio_fell_back_to_polling"]
    );
    let fallback = &s["findings"][1]["message"];
    assert!(
        fallback
            .as_str()
            .unwrap()
            .contains("its 2probe got no 3probe"),
        "{fallback}"
    );
}

#[test]
fn engineio_over_wss_is_read_through_decryption_with_the_clients_key_log() {
    // https polling then wss, the client's key log from node --tls-keylog.
    let name = "engineio-wss.pcap";
    let s = session(name);
    assert_eq!(s["sid"], logged_sid(name).as_str());
    assert!(client_log(name).contains("client upgrade: websocket"));
    assert_eq!(s["transport"], "websocket");
    assert_eq!(s["open"]["transport"], "polling");
    let u = &s["upgrade"];
    assert_eq!(
        (&u["status"], &u["upgraded"]),
        (&Value::from(101), &Value::Bool(true))
    );
    assert!(codes(&s).is_empty(), "{s:#}");
    // tshark, decrypting with the same key log, saw the probe, its answer and the upgrade.
    let texts = ws_texts(name);
    for p in ["2probe", "3probe", "5"] {
        assert!(texts.iter().any(|t| t == p), "{p} in {texts:?}");
    }
    // Every TLS connection of the session was decrypted, and the upgrade's handshake record
    // is the one the session names.
    let keys = sample("engineio-wss.keys");
    let all = all_records(&sample(name), &["--keylog", keys.to_str().unwrap()]);
    let tls: Vec<&Value> = all.iter().filter(|r| r["type"] == "tls").collect();
    assert_eq!(tls.len(), s["connections"].as_array().unwrap().len());
    assert!(
        tls.iter().all(|t| t["decrypted"] == Value::Bool(true)),
        "{tls:#?}"
    );
    let hs: Vec<&Value> = all.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(hs.len(), 1);
    assert_eq!(u["handshake_id"], hs[0]["id"]);
    // Without the keys nothing of Engine.IO is visible.
    let plain = all_records(&sample(name), &[]);
    assert!(!plain.iter().any(|r| r["type"] == "engineio_session"));
}

#[test]
fn eio_body_bytes_cuts_polling_bodies_and_says_so() {
    let name = "engineio-polling-upgrade.pcap";
    // 16 bytes: the open packet (about 100) is cut.
    let all = all_records(&sample(name), &["--eio-body-bytes", "16"]);
    let sessions: Vec<&Value> = all
        .iter()
        .filter(|r| r["type"] == "engineio_session")
        .collect();
    let all_codes: Vec<String> = sessions.iter().flat_map(|s| codes(s)).collect();
    assert!(
        all_codes.contains(&"engineio_body_cut".to_owned()),
        "{all_codes:?}"
    );
    assert!(
        !all_codes.contains(&"engineio_malformed".to_owned()),
        "a cut body is not malformed: {all_codes:?}"
    );
    assert!(all
        .iter()
        .any(|r| r["type"] == "notice" && r["code"] == "engineio_body_limit"));
    let summary = all.iter().find(|r| r["type"] == "summary").unwrap();
    assert!(summary["counters"]["engineio_bodies_cut"].as_u64().unwrap() >= 1);
    // The default reads the whole of this capture's bodies.
    assert!(!codes(&session(name)).contains(&"engineio_body_cut".to_owned()));
    // Past 1 MiB the flag is refused.
    let out = wssniff(&[
        "-r",
        sample(name).to_str().unwrap(),
        "--eio-body-bytes",
        "2000000",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// A session whose websocket attempt got a 101 its client must reject (a wrong accept) and
/// then closed without a frame: the correlation stage drops that connection's record (the
/// ending is the handshake's), but the session still learns its WebSocket is over, so live
/// capture expires it after its heartbeat instead of holding it to the end.
#[test]
fn a_failed_101_the_client_never_took_still_lets_its_session_expire() {
    use crate::traffic::{packet, Run};
    use wssniff::capture::Timestamp;
    use wssniff::engine::{EngineConfig, RecordOrder};
    use wssniff::event::Event;

    const SID: &str = "AbCdEfGhIjKlMnOpQrSt";
    let body = format!(
        "0{{\"sid\":\"{SID}\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
    );
    let open_req =
        b"GET /socket.io/?EIO=4&transport=polling&t=a HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let open_resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let ws_req = format!(
        "GET /socket.io/?EIO=4&transport=websocket&sid={SID} HTTP/1.1\r\nHost: example.com\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n"
    );
    let bad_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
    let exchange = |run: &mut Run, cport: u16, req: &[u8], resp: &[u8]| {
        run.feed(&packet(true, cport, 1000, "S", b""));
        run.feed(&packet(false, cport, 5000, "SA", b""));
        run.feed(&packet(true, cport, 1001, "A", req));
        run.feed(&packet(false, cport, 5001, "A", resp));
        let (c, s) = (1001 + req.len() as u32, 5001 + resp.len() as u32);
        run.feed(&packet(true, cport, c, "FA", b""));
        run.feed(&packet(false, cport, s, "FA", b""));
    };
    let run_until = |tick_after_s: i64| {
        let mut run = Run::new(EngineConfig {
            order: RecordOrder::AsKnown,
            response_timeout_ns: Some(10_000_000_000),
            ..EngineConfig::default()
        });
        exchange(&mut run, 41_000, open_req, open_resp.as_bytes());
        exchange(&mut run, 41_001, ws_req.as_bytes(), bad_101);
        assert_eq!(run.engine.memory(), run.engine.memory_walked());
        let ticked_at = run.events.len();
        let now = run.ts + tick_after_s * 1_000_000_000;
        let events = &mut run.events;
        run.engine.tick(Timestamp(now), &mut |e| events.push(e));
        let by_tick: Vec<_> = run.events[ticked_at..]
            .iter()
            .filter_map(|e| match e {
                Event::EngineIo(s) => Some(s.ending),
                _ => None,
            })
            .collect();
        run.finish();
        assert_eq!(run.engine.stats().connections, 0, "the record is dropped");
        assert_eq!(
            run.handshake_codes(),
            ["accept_mismatch", "closed_after_failed_handshake"]
        );
        assert_eq!(run.engine.stats().engineio_sessions, 1);
        assert_eq!(run.engine.memory(), 0);
        by_tick
    };
    // Heartbeat 25 s + 20 s, then the margin.
    let limit = 45 + wssniff::correlate::engineio::IDLE_MARGIN_NS / 1_000_000_000;
    assert!(run_until(limit - 1).is_empty(), "not idle long enough yet");
    assert_eq!(run_until(limit + 1), ["expired"]);
}

/// Issue 14 on real peers: the first client's session (polling only, closed by its
/// disconnect) is written when it ended, before the second client's handshake 12 s later,
/// not at the end of the capture; each sid is the one its client logged.
#[test]
fn a_session_closed_over_polling_is_written_before_what_came_after_it() {
    let name = "engineio-two-sessions.pcap";
    let log = client_log(name);
    let sids: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("sid=").nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(sids.len(), 2, "{log}");
    assert!(log.contains("client disconnect: io client disconnect\nclient open"));
    let order: Vec<String> = all_records(&sample(name), &["--no-redact"])
        .iter()
        .map(|r| match r["type"].as_str().unwrap() {
            "engineio_session" => format!("{} {}", r["sid"].as_str().unwrap(), r["ending"]),
            t => t.to_owned(),
        })
        .collect();
    assert_eq!(
        order,
        [
            format!("{} \"close_packet\"", sids[0]),
            "handshake".to_owned(),
            "connection".to_owned(),
            format!("{} \"transport_closed\"", sids[1]),
            "summary".to_owned(),
        ]
    );
    let first = &sessions(name)[0];
    assert_eq!(first["transport"], "polling");
    assert_eq!(codes(first), ["engineio_fell_back_to_polling"]);
}

/// One exchange on its own connection from the client's port `cport`: SYN, SYN-ACK, the
/// request, the response, both FINs.
fn exchange_packets(cport: u16, req: &[u8], resp: &[u8]) -> Vec<Vec<u8>> {
    use crate::traffic::packet;
    let (c, s) = (1001 + req.len() as u32, 5001 + resp.len() as u32);
    vec![
        packet(true, cport, 1000, "S", b""),
        packet(false, cport, 5000, "SA", b""),
        packet(true, cport, 1001, "A", req),
        packet(false, cport, 5001, "A", resp),
        packet(true, cport, c, "FA", b""),
        packet(false, cport, s, "FA", b""),
    ]
}

/// Two Engine.IO sessions over polling that end early in a capture, then a plain
/// WebSocket 12 s later: (milliseconds after the first packet, packet). `S1` opens and sends
/// a close packet (`1`) at 100 ms; `S2` opens at 200 ms (pingInterval 300 + pingTimeout
/// 200 ms) and is never heard of again.
fn sessions_ending_early() -> Vec<(i64, Vec<u8>)> {
    let open = |sid: &str| {
        let body = format!(
            "0{{\"sid\":\"{sid}\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000000}}"
        );
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let open_req: &[u8] =
        b"GET /socket.io/?EIO=4&transport=polling&t=a HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let close_req: &[u8] = b"POST /socket.io/?EIO=4&transport=polling&t=b&sid=S1 HTTP/1.1\r\n\
Host: example.com\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 1\r\n\r\n1";
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok";
    let upgrade = [crate::traffic::UPGRADE, b"\r\n"].concat();
    let switched: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let mut out = Vec::new();
    for (start_ms, packets) in [
        (0, exchange_packets(41_000, open_req, open("S1").as_bytes())),
        (100, exchange_packets(41_001, close_req, ok)),
        (
            200,
            exchange_packets(41_002, open_req, open("S2").as_bytes()),
        ),
        (12_000, exchange_packets(41_003, &upgrade, switched)),
    ] {
        out.extend(
            packets
                .into_iter()
                .enumerate()
                .map(|(i, p)| (start_ms + i as i64, p)),
        );
    }
    out
}

/// For each Engine.IO session the engine writes, in order: its sid and the number of the
/// packet being processed when it came out (0: at the end of input), fed `packets` with
/// `config` and a tick at each `(after packet n, at ms)`.
fn written_at(
    config: wssniff::engine::EngineConfig,
    packets: &[(i64, Vec<u8>)],
    ticks: &[(u64, i64)],
) -> Vec<(String, u64)> {
    use wssniff::capture::{Linktype, Packet, Timestamp};
    use wssniff::engine::Engine;
    use wssniff::event::Event;
    let t0 = crate::traffic::T0;
    let mut engine = Engine::new(config);
    let mut out = Vec::new();
    let mut note = |at: u64, e: &Event| {
        if let Event::EngineIo(s) = e {
            out.push((s.sid.clone().unwrap_or_default(), at));
        }
    };
    for (n, (ms, data)) in (1u64..).zip(packets) {
        let packet = Packet {
            number: n,
            ts: Timestamp(t0 + ms * 1_000_000),
            linktype: Linktype::IPV4,
            data,
            orig_len: data.len() as u32,
        };
        engine.process(&packet, &mut |e| note(n, &e));
        for &(_, at_ms) in ticks.iter().filter(|(after, _)| *after == n) {
            engine.tick(Timestamp(t0 + at_ms * 1_000_000), &mut |e| note(n, &e));
        }
    }
    engine.finish(&mut |e| note(0, &e));
    assert_eq!(engine.memory(), 0);
    out
}

/// Issue 14: a session is written when it ends by capture time (a close packet over
/// polling 10 s later; a silent one after pingInterval + pingTimeout + 10 s), not at the
/// end of the capture: reading a file, before the records of what came after it, with any
/// number of threads, and at the same packet as live capture writes it.
#[test]
fn sessions_are_written_when_they_end_not_at_the_end_of_the_capture() {
    use crate::util::*;
    use wssniff::engine::{EngineConfig, RecordOrder};
    let packets = sessions_ending_early();
    let dir = crate::traffic::tmpdir("eio-ended-early");
    let file = dir.join("ended-early.pcap");
    let mut bytes = crate::traffic::pcap_header(65_535);
    let t0_s = crate::traffic::T0 / 1_000_000_000;
    for (ms, p) in &packets {
        let us = ms * 1000;
        bytes.extend(crate::packet::pcap::record(
            u32::try_from(t0_s + us / 1_000_000).unwrap(),
            u32::try_from(us % 1_000_000).unwrap(),
            p,
        ));
    }
    std::fs::write(&file, bytes).unwrap();
    let path = file.to_str().unwrap();
    let one = wssniff(&["-r", path, "--json", "--no-redact", "--threads", "1"]);
    let two = wssniff(&["-r", path, "--json", "--no-redact", "--threads", "2"]);
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(stdout(&one), stdout(&two), "--threads 1 and 2 agree");
    let order: Vec<String> = stdout(&one)
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            match r["type"].as_str().unwrap() {
                "engineio_session" => format!("{} {}", r["sid"].as_str().unwrap(), r["ending"]),
                t => t.to_owned(),
            }
        })
        .collect();
    assert_eq!(
        order,
        [
            r#"S1 "close_packet""#,
            r#"S2 "expired""#,
            "handshake",
            "connection",
            "summary"
        ],
        "both sessions ended 12 s before the WebSocket came"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // In the engine: both written at packet 19, the WebSocket's SYN (the first packet past
    // their deadlines), reading a file and live alike.
    let live = EngineConfig {
        order: RecordOrder::AsKnown,
        response_timeout_ns: Some(10_000_000_000),
        ..EngineConfig::default()
    };
    let at_syn = [("S1".to_owned(), 19), ("S2".to_owned(), 19)];
    assert_eq!(written_at(EngineConfig::default(), &packets, &[]), at_syn);
    assert_eq!(written_at(live, &packets, &[]), at_syn);
    // Live ticks between packets write each once its deadline has passed: S1's is 10.103 s
    // (its close's answer + 10 s), S2's 10.703 s (its open's answer + 0.5 s + 10 s).
    let by_ticks = |ticks: &[i64]| {
        let ticks: Vec<(u64, i64)> = ticks.iter().map(|&ms| (18, ms)).collect();
        written_at(live, &packets, &ticks)
    };
    assert_eq!(by_ticks(&[10_103]), at_syn, "not at the deadline");
    assert_eq!(
        by_ticks(&[10_104, 10_703]),
        [("S1".to_owned(), 18), ("S2".to_owned(), 19)]
    );
    assert_eq!(
        by_ticks(&[10_704]),
        [("S1".to_owned(), 18), ("S2".to_owned(), 18)],
        "earliest deadline first"
    );
}

/// One HTTP/2 frame row of tshark's decrypted view (`NAME.pcap.tshark-h2.tsv`): packet,
/// stream, type (0 DATA, 1 HEADERS), flags, the header values, the DATA payload.
struct H2Row {
    stream: u32,
    kind: u8,
    end_stream: bool,
    values: Vec<String>,
    data: Vec<u8>,
}

fn tshark_h2(name: &str) -> Vec<H2Row> {
    let path = root().join(format!("samples/expected/{name}.tshark-h2.tsv"));
    let hex = |h: &str| -> Vec<u8> {
        (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            // The first frame of the row is the one of interest (a WINDOW_UPDATE may follow).
            let first = |i: usize| f[i].split(',').next().unwrap().to_owned();
            let flags = u8::from_str_radix(first(3).trim_start_matches("0x"), 16).unwrap();
            // The first DATA payload of the row (node packs several frames in a segment).
            let data = f.get(6).and_then(|d| d.split(',').next()).unwrap_or("");
            H2Row {
                stream: first(1).parse().unwrap(),
                kind: first(2).parse().unwrap(),
                end_stream: flags & 1 == 1,
                values: f[5].split(',').map(str::to_owned).collect(),
                data: if data.starts_with('<') {
                    Vec::new()
                } else {
                    hex(data)
                },
            }
        })
        .collect()
}

/// The text messages of RFC 6455 frames in `data` (one DATA payload), from the client when
/// masked, inflated with each sender's permessage-deflate context (`inflaters`).
fn ws_messages(data: &[u8], inflaters: &mut [flate2::Decompress; 2]) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 2 <= data.len() {
        let (b0, b1) = (data[at], data[at + 1]);
        let masked = b1 & 0x80 != 0;
        let (mut len, mut p) = (usize::from(b1 & 0x7f), at + 2);
        if len == 126 {
            len = usize::from(u16::from_be_bytes([data[p], data[p + 1]]));
            p += 2;
        }
        let key: Vec<u8> = if masked {
            data[p..p + 4].to_vec()
        } else {
            Vec::new()
        };
        p += key.len();
        let mut payload = data[p..p + len].to_vec();
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        at = p + len;
        if b0 & 0x0f != 1 {
            continue;
        }
        if b0 & 0x40 != 0 {
            payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let d = &mut inflaters[usize::from(masked)];
            let mut text = Vec::with_capacity(4096);
            d.decompress_vec(&payload, &mut text, flate2::FlushDecompress::Sync)
                .unwrap();
            payload = text;
        }
        out.push((masked, String::from_utf8(payload).unwrap()));
    }
    out
}

/// Engine.IO over HTTP/2 from a browser (samples/generate-engineio.sh: headless Firefox ESR,
/// socket.io-client's browser bundle, python-socketio's ASGI app under hypercorn, TLS h2):
/// the polls are GET and POST streams, the upgrade an RFC 8441 extended CONNECT answered
/// 200. wssniff's session against tshark's decrypted HTTP/2 frames (its streams, the open
/// packet in a DATA body, the WebSocket frames in the CONNECT stream's DATA, inflated here)
/// and against what the page logged.
#[test]
fn engineio_over_http2_polls_on_streams_and_upgrades_by_extended_connect() {
    for (name, upgraded) in [
        ("engineio-h2-firefox.pcap", true),
        ("engineio-h2-firefox-fallback.pcap", false),
    ] {
        let s = session(name);
        let rows = tshark_h2(name);
        let log = client_log(name);
        assert_eq!(s["sid"], logged_sid(name).as_str(), "{name}");
        // Every GET and POST stream naming EIO= is one poll of the session.
        let requests: Vec<&H2Row> = rows
            .iter()
            .filter(|r| r.kind == 1 && r.values.get(1).is_some_and(|p| p.contains("EIO=")))
            .collect();
        let polls = requests.iter().filter(|r| r.values[0] != "CONNECT").count();
        assert_eq!(s["polls"], polls, "{name}");
        // The open packet is the first poll's response body (tshark's reassembled DATA).
        let first = requests[0].stream;
        let body = rows
            .iter()
            .find(|r| r.stream == first && r.kind == 0 && r.end_stream)
            .map(|r| String::from_utf8(r.data.clone()).unwrap())
            .unwrap();
        assert!(body.starts_with(&format!("0{{\"sid\":\"{}\"", s["sid"].as_str().unwrap())));
        assert_eq!(s["open"]["ping_interval_ms"], 1000, "{name}");
        // The upgrade: the extended CONNECT's stream and the server's status on it.
        let connect = requests.iter().find(|r| r.values[0] == "CONNECT").unwrap();
        let status: u64 = rows
            .iter()
            .find(|r| r.stream == connect.stream && r.kind == 1 && r.values[0] != "CONNECT")
            .map(|r| r.values[0].parse().unwrap())
            .unwrap();
        let u = &s["upgrade"];
        assert_eq!(u["h2_stream"], connect.stream, "{name}: {u}");
        assert_eq!(u["status"], status, "{name}");
        assert_eq!(u["upgraded"], upgraded, "{name}");
        assert_eq!(
            s["connections"].as_array().unwrap().len(),
            1,
            "one h2 connection"
        );
        if upgraded {
            assert_eq!(status, 200);
            assert!(log.contains("client upgrade: websocket"), "{log}");
            assert!(codes(&s).is_empty(), "{name}: {s:#}");
            assert_eq!(s["transport"], "websocket");
            // tshark's DATA on the CONNECT stream, read as WebSocket frames: the probe, its
            // answer, the upgrade packet, and as many server pings as the page logged.
            let mut inflaters = [
                flate2::Decompress::new(false),
                flate2::Decompress::new(false),
            ];
            let texts: Vec<(bool, String)> = rows
                .iter()
                .filter(|r| r.stream == connect.stream && r.kind == 0)
                .flat_map(|r| ws_messages(&r.data, &mut inflaters))
                .collect();
            for (client, text) in [(true, "2probe"), (false, "3probe"), (true, "5")] {
                assert!(
                    texts.contains(&(client, text.to_owned())),
                    "{text} in {texts:?}"
                );
            }
            let pings = texts.iter().filter(|(c, t)| !c && t == "2").count();
            assert_eq!(pings, log.matches("client packet in: ping").count());
            assert_eq!(s["heartbeat"]["pings"], pings);
            assert_eq!(s["heartbeat"]["pongs"], pings);
            assert_eq!(s["upgrade"]["probe_answered"], true);
        } else {
            assert_eq!(status, 403);
            assert!(log.contains("client upgradeError"), "{log}");
            assert!(log.contains("client final: transport=polling"), "{log}");
            assert_eq!(codes(&s), ["engineio_fell_back_to_polling"], "{name}");
            let why = s["findings"][0]["message"].as_str().unwrap();
            assert!(why.contains("HTTP/2 extended CONNECT on stream"), "{why}");
            assert_eq!(s["transport"], "polling");
            // Over polling the pings are in the polls' bodies: as many as the page logged.
            assert_eq!(
                s["heartbeat"]["pings"],
                log.matches("client packet in: ping").count()
            );
        }
    }
}

/// Captures started mid-session (cut from engineio-polling-upgrade.pcap by
/// samples/generate-engineio.sh): no handshake, no poll, so nothing names Engine.IO but the
/// WebSocket's frames. The session is inferred from them and marked so, with the pings and
/// pongs tshark shows in the original from the cut on; WebSockets that are not Engine.IO
/// (the other mid-connection samples) are never taken for it.
#[test]
fn a_websocket_without_its_handshake_is_engineio_by_its_frames_and_marked_inferred() {
    for (name, probe) in [
        ("engineio-mid-session-probe.pcap", true),
        ("engineio-mid-session-pings.pcap", false),
    ] {
        let s = session(name);
        assert_eq!(s["inferred"], true, "{name}: {s:#}");
        assert_eq!(
            (&s["sid"], &s["transport"]),
            (&Value::Null, &Value::from("websocket"))
        );
        assert_eq!(s["version"], 4, "{name}: the server pings");
        // tshark's frames (told the port speaks WebSocket): a `2` is a server ping, `3` its
        // pong; the probe is there when the cut left it.
        let texts = ws_texts(name);
        assert_eq!(texts.iter().any(|t| t == "2probe"), probe, "{texts:?}");
        let pings = texts.iter().filter(|t| **t == "2").count();
        assert_eq!(s["heartbeat"]["pings"], pings, "{name}: {texts:?}");
        assert_eq!(
            s["heartbeat"]["pongs"],
            texts.iter().filter(|t| **t == "3").count()
        );
        assert!(codes(&s).is_empty(), "{name}: {s:#}");
        let line = stdout(&wssniff(&["-r", sample(name).to_str().unwrap()]));
        assert!(
            line.contains("(inferred from its WebSocket frames"),
            "{line}"
        );
        assert!(!line.contains("polls"), "{line}");
    }
    for name in [
        "mid-connection.pcap",
        "h2c-mid-connection.pcap",
        "h2c-mid-stream.pcap",
    ] {
        let all = all_records(&sample(name), &[]);
        assert!(all.iter().any(|r| r["type"] == "connection"), "{name}");
        assert!(
            !all.iter().any(|r| r["type"] == "engineio_session"),
            "{name}"
        );
    }
}

/// Issue 14, a cap that was not reported: an h2c connection (prior knowledge) whose client
/// opens a session over polling, then keeps 33 polls of it open at once, one more than the
/// polling streams wssniff follows on one connection (a proxy's upstream multiplexing many
/// clients' polls; no browser opens that many). The poll beyond them is not read, and the
/// session, the notices and the summary say so; the old code dropped it without a word.
#[test]
fn polls_beyond_the_open_streams_followed_on_one_h2_connection_are_said() {
    use crate::h2::h2_frame;
    use crate::traffic::{packet, pcap_header, pcap_record, tmpdir};
    let (mut to_server, mut to_client) = (loona_hpack::Encoder::new(), loona_hpack::Encoder::new());
    // One encoder per direction: the receiver's HPACK tables follow each sender's.
    let block = |enc: &mut loona_hpack::Encoder<'_>, fields: &[(&str, &str)]| {
        enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    };
    let get = |path: &str| {
        let fields = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "eio.example"),
        ];
        fields.map(|(n, v)| (n, v.to_owned()))
    };
    let get_block = |enc: &mut loona_hpack::Encoder<'_>, path: &str| {
        let fields = get(path);
        block(enc, &fields.each_ref().map(|(n, v)| (*n, v.as_str())))
    };
    let client_1 = [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        h2_frame(4, 0, 0, &[]),
        h2_frame(
            1,
            0x5,
            1,
            &get_block(&mut to_server, "/socket.io/?EIO=4&transport=polling&t=a"),
        ),
    ]
    .concat();
    let open = br#"0{"sid":"S1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
    let ok = [
        (":status", "200"),
        ("content-type", "text/plain; charset=UTF-8"),
    ];
    let server_1 = [
        h2_frame(4, 0, 0, &[]),
        h2_frame(4, 1, 0, &[]),
        h2_frame(1, 0x4, 1, &block(&mut to_client, &ok)),
        h2_frame(0, 0x1, 1, open),
    ]
    .concat();
    let polls = 1 + u32::try_from(wssniff::h2::engineio::MAX_POLLS).unwrap();
    let mut client_2 = h2_frame(4, 1, 0, &[]);
    for i in 0..polls {
        let path = format!("/socket.io/?EIO=4&transport=polling&t=p{i}&sid=S1");
        client_2.extend(h2_frame(
            1,
            0x5,
            3 + 2 * i,
            &get_block(&mut to_server, &path),
        ));
    }
    // The first long poll is answered (a noop); the others are still open at the end.
    let server_2 = [
        h2_frame(1, 0x4, 3, &block(&mut to_client, &ok)),
        h2_frame(0, 0x1, 3, b"6"),
    ]
    .concat();
    let len = |b: &[u8]| u32::try_from(b.len()).unwrap();
    let (c2, s2) = (1 + len(&client_1), 1 + len(&server_1));
    let packets = [
        packet(true, 40000, 0, "S", &[]),
        packet(false, 40000, 0, "SA", &[]),
        packet(true, 40000, 1, "PA", &client_1),
        packet(false, 40000, 1, "PA", &server_1),
        packet(true, 40000, c2, "PA", &client_2),
        packet(false, 40000, s2, "PA", &server_2),
        packet(true, 40000, c2 + len(&client_2), "FA", &[]),
        packet(false, 40000, s2 + len(&server_2), "FA", &[]),
    ];
    let mut bytes = pcap_header(262_144);
    for (i, p) in packets.iter().enumerate() {
        let n = len(p);
        bytes.extend(pcap_record(
            1_700_000_000 + u32::try_from(i).unwrap(),
            p,
            n,
            n,
        ));
    }
    let dir = tmpdir("eio-h2-poll-cap");
    let path = dir.join("polls.pcap");
    std::fs::write(&path, bytes).unwrap();
    let all = all_records(&path, &["--no-redact"]);
    let sessions: Vec<&Value> = all
        .iter()
        .filter(|r| r["type"] == "engineio_session")
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    let s = sessions[0];
    assert_eq!(s["sid"], "S1");
    assert_eq!(s["polls"], 1 + u64::from(polls));
    assert_eq!(s["open"]["packet"], 4);
    let f = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "engineio_polls_not_followed")
        .unwrap_or_else(|| panic!("{s:#}"));
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["packets"], serde_json::json!([5]));
    assert!(f["message"]
        .as_str()
        .unwrap()
        .starts_with("1 polling request was not followed"));
    assert!(!codes(s).contains(&"engineio_malformed".to_owned()));
    assert!(all
        .iter()
        .any(|r| r["type"] == "notice" && r["code"] == "engineio_poll_limit"));
    let summary = all.iter().find(|r| r["type"] == "summary").unwrap();
    assert_eq!(summary["counters"]["engineio_polls_not_followed"], 1);
    // The line output's summary counts it among the limits hit.
    let out = wssniff(&["-r", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("1 Engine.IO sessions with polls not followed"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// node's socket.io 4 on node's HTTP/2 server (`http2.createSecureServer({allowHTTP1:
/// true})`, samples/generate-engineio.sh: headless Firefox ESR and socket.io-client's
/// browser bundle, TLS with Firefox's key log). engine.io takes WebSockets only from HTTP/1.1
/// `upgrade` events:
/// - engineio-h2-node: node's SETTINGS do not enable extended CONNECT, so Firefox polls on
///   the page's h2 connection and opens the WebSocket on a second TLS connection that
///   negotiated http/1.1 (the server logged the upgrade request as HTTP/1.1): one session
///   joins both connections, upgraded, no finding;
/// - engineio-h2-node-connect: with enableConnectProtocol Firefox asks for the WebSocket as
///   an extended CONNECT, which node's HTTP/2 layer answers 405 before engine.io sees it;
///   the client logs the upgrade error and stays on polling: `engineio_fell_back_to_polling`
///   naming the stream and the 405. Its last long poll, sent after the client's close
///   packet, is answered 400 "Session ID unknown" (the server logged that connection_error):
///   the close taking effect, not `engineio_session_unknown`.
///
/// Expected results are from the page's log, node's log and tshark's decrypted view.
#[test]
fn node_socketio_on_node_http2_polls_over_h2_and_upgrades_over_http1_or_falls_back() {
    let polls_of = |rows: &[H2Row]| {
        rows.iter()
            .filter(|r| r.kind == 1 && r.values.get(1).is_some_and(|p| p.contains("EIO=")))
            .filter(|r| r.values[0] == "GET" || r.values[0] == "POST")
            .count()
    };
    let server_log = |name: &str| {
        std::fs::read_to_string(root().join(format!("samples/expected/{name}.server.log"))).unwrap()
    };

    let name = "engineio-h2-node.pcap";
    let s = session(name);
    let log = client_log(name);
    let sid = logged_sid(name);
    assert_eq!(s["sid"], sid.as_str());
    assert!(
        log.contains("client upgrade: websocket") && log.contains("final: transport=websocket")
    );
    assert!(server_log(name).contains(&format!(
        "upgrade request: HTTP/1.1 /socket.io/?EIO=4&transport=websocket&sid={sid}"
    )));
    assert!(codes(&s).is_empty(), "{s:#}");
    assert_eq!(s["transport"], "websocket");
    assert_eq!(s["ending"], "transport_closed");
    assert_eq!(s["polls"], polls_of(&tshark_h2(name)));
    // Two connections: the page's h2 one (polls) and the WebSocket's HTTP/1.1 one.
    let conns = s["connections"].as_array().unwrap();
    let kinds: Vec<&str> = conns
        .iter()
        .map(|c| c["transport"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["polling", "websocket"], "{s:#}");
    assert_ne!(conns[0]["client"], conns[1]["client"]);
    let all = all_records(
        &sample(name),
        &[
            "--no-redact",
            "--keylog",
            sample("engineio-h2-node.keys").to_str().unwrap(),
        ],
    );
    let alpn_of = |client: &Value| {
        all.iter()
            .find(|r| r["type"] == "tls" && r["client"] == *client)
            .map(|r| r["alpn"].clone())
            .unwrap()
    };
    assert_eq!(alpn_of(&conns[0]["client"]), "h2");
    assert_eq!(alpn_of(&conns[1]["client"]), "http/1.1");
    let hs: Vec<&Value> = all.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(hs.len(), 1);
    assert_eq!(
        (&hs[0]["status"], &hs[0]["verdict"]),
        (&Value::from(101), &Value::from("ok"))
    );
    assert_eq!(s["upgrade"]["handshake_id"], hs[0]["id"]);
    assert_eq!(s["upgrade"]["h2_stream"], Value::Null);
    // tshark's WebSocket texts on the HTTP/1.1 connection: probe, answer, upgrade packet,
    // and the pings the page logged (all of them after the upgrade).
    let texts = ws_texts(name);
    assert_eq!(texts[..3], ["2probe", "3probe", "5"]);
    let pings = log.matches("client packet in: ping").count();
    assert_eq!(texts.iter().filter(|t| *t == "2").count(), pings);
    assert_eq!(s["heartbeat"]["pings"], pings);
    assert_eq!(s["heartbeat"]["pongs"], pings);

    let name = "engineio-h2-node-connect.pcap";
    let s = session(name);
    let log = client_log(name);
    let rows = tshark_h2(name);
    assert_eq!(s["sid"], logged_sid(name).as_str());
    assert!(log.contains("client upgradeError") && log.contains("final: transport=polling"));
    let connect = rows
        .iter()
        .find(|r| r.kind == 1 && r.values[0] == "CONNECT")
        .unwrap();
    let answer = rows
        .iter()
        .find(|r| r.stream == connect.stream && r.kind == 1 && r.values[0] != "CONNECT")
        .unwrap();
    assert_eq!(answer.values[0], "405");
    let u = &s["upgrade"];
    assert_eq!(
        (&u["h2_stream"], &u["status"]),
        (&Value::from(connect.stream), &Value::from(405))
    );
    assert_eq!(u["upgraded"], false);
    assert_eq!(s["transport"], "polling");
    assert_eq!(s["polls"], polls_of(&rows));
    assert_eq!(s["connections"].as_array().unwrap().len(), 1);
    assert_eq!(codes(&s), ["engineio_fell_back_to_polling"], "{s:#}");
    let why = s["findings"][0]["message"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "HTTP/2 extended CONNECT on stream {}",
            connect.stream
        )) && why.contains("node's HTTP/2 server answers 405"),
        "{why}"
    );
    // The 400 came after the client's close packet was taken (its POST of `1` answered
    // `ok` first, in tshark's frames), as node logged it.
    assert!(server_log(name).contains("connection_error: code=1 message=Session ID unknown"));
    let errors = s["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], 1);
    let close = rows
        .iter()
        .position(|r| r.kind == 0 && r.data == b"1")
        .unwrap();
    let unknown = rows
        .iter()
        .position(|r| r.data.starts_with(br#"{"code":1,"#))
        .unwrap();
    assert!(close < unknown);
    assert_eq!(s["ending"], "close_packet");
    assert_eq!(
        s["heartbeat"]["pings"],
        log.matches("client packet in: ping").count()
    );
}

/// A socket.io 4 server with the websocket transport off (`transports: ['polling']`,
/// engineio-no-upgrades): its open packet (in tshark's HTTP body) offers `upgrades: []`, the
/// client logs that it stayed on polling, and the session says why it never upgraded.
#[test]
fn a_server_offering_no_upgrade_is_a_fallback_that_names_the_open_packet() {
    let name = "engineio-no-upgrades.pcap";
    let s = session(name);
    let log = client_log(name);
    assert_eq!(s["sid"], logged_sid(name).as_str());
    assert!(
        log.contains("client final: connected=true transport=polling"),
        "{log}"
    );
    let open = tshark(name)
        .into_iter()
        .find(|l| l[0] == "http" && l.get(4).is_some_and(|b| b.starts_with("0{")))
        .unwrap();
    assert!(open[4].contains(r#""upgrades":[]"#), "{open:?}");
    assert_eq!(s["open"]["upgrades"], serde_json::json!([]));
    assert_eq!(s["open"]["packet"].to_string(), open[1]);
    assert_eq!(
        (&s["transport"], &s["upgrade"]),
        (&Value::from("polling"), &Value::Null)
    );
    assert_eq!(codes(&s), ["engineio_fell_back_to_polling"]);
    let why = s["findings"][0]["message"].as_str().unwrap();
    assert!(
        why.starts_with("the server offered no upgrade (`upgrades: []`"),
        "{why}"
    );
    assert_eq!(s["ending"], "close_packet");
}
