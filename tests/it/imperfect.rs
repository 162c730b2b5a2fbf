// Imperfect captures (issue 19): the recorded samples in samples/imperfect/ against the
// endpoints' own logs of the same run (client.jsonl, server.jsonl) and against each other.
//
// One run of 12 attempts by real peers (samples/gen/imperfect.py) was captured whole
// (two-way.pcap), cut at 96 bytes on loopback and at 200 bytes on `any`; the other files are
// made from the whole capture (one-way by BPF filter, capture loss by removing packets,
// duplicates, overlap, disorder) or recorded in network namespaces with an iptables drop
// rule (network-loss.pcap). `samples/generate.sh imperfect` records them all again.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::*;

fn imperfect(name: &str) -> std::path::PathBuf {
    root().join("samples/imperfect").join(name)
}

/// An endpoint log: one JSON object per attempt, by client port.
fn log(name: &str) -> BTreeMap<u64, Value> {
    std::fs::read_to_string(imperfect(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| (r["client_port"].as_u64().unwrap(), r))
        .collect()
}

fn client_port(r: &Value) -> u64 {
    r["client"]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap()
}

/// Handshake records by client port.
fn by_port(name: &str) -> BTreeMap<u64, Value> {
    records(&imperfect(name), &[])
        .into_iter()
        .map(|r| (client_port(&r), r))
        .collect()
}

fn summary(name: &str) -> Value {
    all_records(&imperfect(name), &[])
        .into_iter()
        .find(|r| r["type"] == "summary")
        .unwrap()
}

fn evidence(name: &str) -> Value {
    summary(name)["counters"]["capture_evidence"].clone()
}

fn notices(name: &str) -> Vec<String> {
    all_records(&imperfect(name), &[])
        .into_iter()
        .filter(|r| r["type"] == "notice")
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

/// What the endpoints logged, as wssniff's fields of the whole capture must say it.
#[test]
fn the_whole_capture_agrees_with_both_endpoints_logs() {
    let client = log("client.jsonl");
    let server = log("server.jsonl");
    assert_eq!(client.len(), 12);
    let got = by_port("two-way.pcap");
    assert_eq!(got.len(), 12);
    for (port, c) in &client {
        let r = &got[port];
        let s = &server[port];
        assert_eq!(r["status"], c["status"], "{port}");
        assert_eq!(r["status"], s["status"], "{port}");
        assert_eq!(r["path"], s["path"], "{port}");
        let verdict = if c["status"] == 101 { "ok" } else { "failed" };
        assert_eq!(r["verdict"], verdict, "{port}: {r:#}");
        if c["status"] == 101 {
            assert_eq!(r["key"], c["key"]);
            assert_eq!(r["subprotocol"], c["subprotocol"]);
        }
    }
    assert!(
        evidence("two-way.pcap").is_null(),
        "nothing to say about a clean capture"
    );
}

/// Issue 19, snap length: every attempt is reported with what the captured bytes prove,
/// nothing that depends on bytes after the cut, and the summary advises -s 0.
#[test]
fn a_200_byte_snap_length_reports_every_attempt_and_claims_nothing_beyond_the_cut() {
    let client = log("client.jsonl");
    let got = by_port("snaplen-200-any.pcap");
    assert_eq!(got.len(), 12, "every attempt is reported");
    for (port, c) in &client {
        let r = &got[port];
        assert_eq!(
            r["status"], c["status"],
            "{port}: the status line is captured"
        );
        assert_eq!(r["method"], "GET");
        let codes = codes(r);
        let expected = if c["status"] == 101 {
            "incomplete"
        } else {
            // A 403 or 404 status line is proof enough that it did not open.
            "failed"
        };
        assert_eq!(r["verdict"], expected, "{port}: {codes:?}");
        assert!(codes.contains(&"snaplen_truncated".to_owned()), "{codes:?}");
        for beyond_the_cut in [
            "request_key_missing",
            "request_version_missing",
            "request_host_missing",
            "accept_missing",
            "response_upgrade_missing",
            "subprotocol_not_offered",
            "subprotocol_not_selected",
            "extension_not_offered",
            "no_response",
            "capture_gap",
        ] {
            assert!(
                !codes.contains(&beyond_the_cut.to_owned()),
                "{port}: {beyond_the_cut} depends on bytes after the cut"
            );
        }
        let cut = &r["request"]["cut"];
        assert_eq!(cut["snaplen"], 200, "{r:#}");
        assert!(cut["missing_bytes"].as_u64().unwrap() > 0);
        let message = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "snaplen_truncated")
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("200 bytes (the snap length)"), "{message}");
        assert!(message.contains("-s 0"), "{message}");
    }
    // Frames after the cut resynchronise: each opened connection's close handshake is seen
    // both ways, as in the whole capture, and RSV1 is not judged without the extensions.
    for c in connections(&imperfect("snaplen-200-any.pcap"), &[]) {
        assert_eq!(c["ending"], "clean", "{c:#}");
        assert!(!codes(&c).contains(&"frame_rsv_unnegotiated".to_owned()));
    }
    assert!(notices("snaplen-200-any.pcap").contains(&"snap_length".to_owned()));
    let out = wssniff(&["-r", imperfect("snaplen-200-any.pcap").to_str().unwrap()]);
    assert!(
        stderr(&out).contains("capture with -s 0"),
        "{}",
        stderr(&out)
    );
}

/// At 96 bytes only the request lines survive: a 101 proves the attempt; the 403s and 404s
/// to requests cut before their headers prove nothing and are counted.
#[test]
fn a_96_byte_snap_length_reports_the_attempts_a_101_proves_and_counts_the_rest() {
    let client = log("client.jsonl");
    let got = by_port("snaplen-96-lo.pcap");
    let opened: Vec<u64> = client
        .iter()
        .filter(|(_, c)| c["status"] == 101)
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), opened);
    for r in got.values() {
        assert_eq!(r["status"], 101);
        assert_eq!(r["verdict"], "incomplete");
    }
    let refused = client.values().filter(|c| c["status"] != 101).count();
    assert_eq!(
        evidence("snaplen-96-lo.pcap")["http_requests_cut_before_headers"],
        refused as u64
    );
    let out = wssniff(&["-r", imperfect("snaplen-96-lo.pcap").to_str().unwrap()]);
    assert!(
        stderr(&out).contains(&format!("{refused} HTTP requests cut before their headers")),
        "{}",
        stderr(&out)
    );
}

/// Issue 19, one direction: the client's ACKs prove the server answered; nothing says it
/// did not, and the exact byte count is what the server sent in the whole capture.
#[test]
fn client_to_server_only_says_the_response_was_acknowledged_not_that_none_came() {
    let client = log("client.jsonl");
    let got = by_port("client-to-server.pcap");
    let whole = connections(&imperfect("two-way.pcap"), &[]);
    assert_eq!(got.len(), 12);
    for (port, r) in &got {
        assert!(client.contains_key(port));
        assert_eq!(r["verdict"], "incomplete", "{r:#}");
        let codes = codes(r);
        assert_eq!(codes, ["response_acked_not_captured"], "{port}");
        assert!(r["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the client acknowledged"));
    }
    // The acknowledged count is the server's bytes in the whole capture (head, frames).
    let first = got.values().next().unwrap();
    let n: u64 = first["findings"][0]["message"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    let port = client_port(first);
    let conn = whole.iter().find(|c| client_port(c) == port).unwrap();
    let two_way = by_port("two-way.pcap");
    let head = two_way[&port]["response"]["head_bytes"].as_u64().unwrap();
    let frames = conn["server_to_client"]["bytes"].as_u64().unwrap();
    assert_eq!(n, head + frames);
    assert_eq!(
        evidence("client-to-server.pcap")["one_sided_connections"],
        12
    );
    assert!(notices("client-to-server.pcap").contains(&"one_direction".to_owned()));
}

#[test]
fn server_to_client_only_asserts_no_offer_vs_answer_finding() {
    let got = by_port("server-to-client.pcap");
    let client = log("client.jsonl");
    assert_eq!(got.len(), 8, "the 101s say WebSocket; the 403/404s do not");
    for (port, r) in &got {
        assert_eq!(client[port]["status"], 101);
        assert_eq!(r["verdict"], "incomplete");
        assert_eq!(codes(r), ["request_not_captured"], "{r:#}");
        assert!(r["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the server acknowledged"));
        assert_eq!(r["subprotocol"], client[port]["subprotocol"]);
    }
    for c in connections(&imperfect("server-to-client.pcap"), &[]) {
        let codes = codes(&c);
        assert!(
            !codes.contains(&"close_not_answered".to_owned()),
            "{codes:?}"
        );
    }
}

/// Issue 19, capture loss: packets removed from the file afterwards are the capture's loss
/// (the peers acknowledged them), never the network's.
#[test]
fn packets_removed_from_the_file_are_capture_loss_with_zeeks_ratio() {
    let removed: Vec<u64> = std::fs::read_to_string(imperfect("capture-loss.removed"))
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(removed.len(), 4);
    let e = evidence("capture-loss.pcap");
    assert_eq!(e["gaps"], 4, "{e:#}");
    assert_eq!(e["retransmitted_segments"], 0);
    let ratio = e["capture_loss_percent"].as_f64().unwrap();
    let expected = 4.0 / e["acks"].as_f64().unwrap() * 100.0;
    assert!((ratio - expected).abs() < 0.001, "{ratio} vs {expected}");
    // The two handshakes whose 101 was removed depend on the lost bytes and say so.
    let got = by_port("capture-loss.pcap");
    let lost_answers: Vec<&Value> = got
        .values()
        .filter(|r| codes(r).contains(&"response_acked_not_captured".to_owned()))
        .collect();
    assert_eq!(lost_answers.len(), 2);
    for r in lost_answers {
        assert_eq!(r["verdict"], "incomplete");
        assert!(!codes(r).contains(&"no_response".to_owned()));
        assert!(r["loss"]["missed_bytes"].as_u64().unwrap() > 0);
    }
    let out = wssniff(&["-r", imperfect("capture-loss.pcap").to_str().unwrap()]);
    assert!(stderr(&out).contains("capture loss: "), "{}", stderr(&out));
    assert!(notices("capture-loss.pcap").contains(&"capture_loss".to_owned()));
}

/// Issue 19, network loss: what the iptables rule dropped was retransmitted, and the capture
/// (upstream of the drop) holds both copies: network loss, no capture loss, the same
/// results as the endpoints logged.
#[test]
fn network_loss_is_retransmission_not_capture_loss() {
    let client = log("network-loss.client.jsonl");
    let got = by_port("network-loss.pcap");
    assert_eq!(got.len(), client.len());
    for (port, c) in &client {
        assert_eq!(got[port]["status"], c["status"]);
    }
    let dropped: u64 = std::fs::read_to_string(imperfect("network-loss.iptables.txt"))
        .unwrap()
        .lines()
        .find(|l| l.contains("DROP"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let e = evidence("network-loss.pcap");
    let retransmitted = e["retransmitted_segments"].as_u64().unwrap();
    assert!(
        retransmitted > 0 && retransmitted <= dropped,
        "{e:#} vs {dropped}"
    );
    assert_eq!(e["gaps"], 0);
    assert_eq!(e["missed_bytes"], 0);
}

/// Issue 19, messy files: results unchanged, what was normalised counted.
#[test]
fn duplicated_overlapping_and_disordered_files_give_the_same_results() {
    let key = |name: &str| -> BTreeMap<u64, (Value, Value, Vec<String>)> {
        by_port(name)
            .into_iter()
            .map(|(p, r)| (p, (r["status"].clone(), r["verdict"].clone(), codes(&r))))
            .collect()
    };
    let whole = key("two-way.pcap");
    let endings = |name: &str| -> Vec<(u64, Value)> {
        let mut v: Vec<(u64, Value)> = connections(&imperfect(name), &[])
            .iter()
            .map(|c| (client_port(c), c["ending"].clone()))
            .collect();
        v.sort_by_key(|(p, _)| *p);
        v
    };
    for name in [
        "every-packet-twice.pcap",
        "overlapping-files.pcap",
        "out-of-order.pcap",
    ] {
        assert_eq!(key(name), whole, "{name}");
        assert_eq!(endings(name), endings("two-way.pcap"), "{name}");
        assert_eq!(evidence(name)["retransmitted_segments"], 0, "{name}");
    }
    assert!(
        evidence("every-packet-twice.pcap")["duplicate_packets"]
            .as_u64()
            .unwrap()
            > 100
    );
    assert!(
        evidence("overlapping-files.pcap")["duplicate_packets"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        evidence("out-of-order.pcap")["timestamps_out_of_order"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// The JSON of each imperfect sample equals the committed samples/imperfect/expected/
/// (regenerate with WSSNIFF_BLESS=1 after reading the diff).
#[test]
fn every_imperfect_sample_matches_its_expected_json() {
    let bless = std::env::var_os("WSSNIFF_BLESS").is_some();
    let dir = root().join("samples/imperfect");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "{names:?}");
    std::fs::create_dir_all(dir.join("expected")).unwrap();
    for name in names {
        let out = wssniff(&["-r", dir.join(&name).to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let path = dir.join("expected").join(format!("{name}.jsonl"));
        if bless {
            std::fs::write(&path, stdout(&out)).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            stdout(&out),
            expected,
            "{name}: output differs from the expected JSON"
        );
    }
}

/// Issue 19, duplicates after the close: a SPAN port's copies of a connection's last packets
/// arrive after the FINs closed it. They are counted as duplicates, and the copy of the last
/// data segment does not open a new connection.
#[test]
fn copies_of_the_last_packets_after_the_close_are_duplicates_not_a_new_connection() {
    use crate::traffic::{packet, Run};
    use wssniff::engine::EngineConfig;
    let mut run = Run::new(EngineConfig::default());
    let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    run.feed(&packet(true, 40_100, 1000, "S", b""));
    run.feed(&packet(false, 40_100, 5000, "SA", b""));
    run.feed(&packet(true, 40_100, 1001, "A", get));
    run.feed(&packet(false, 40_100, 5001, "A", ok));
    run.feed(&packet(false, 40_100, 5001 + ok.len() as u32, "FA", b""));
    // The client's FIN carries its last bytes: the connection is closed after it.
    let last = packet(true, 40_100, 1001 + get.len() as u32, "FPA", b"bye");
    run.feed(&last);
    let final_ack = packet(false, 40_100, 5002 + ok.len() as u32, "A", b"");
    run.feed(&final_ack);
    // The copies, a millisecond or two behind.
    run.feed(&last);
    run.feed(&final_ack);
    run.finish();
    let stats = run.engine.stats();
    assert_eq!(
        stats.flows, 1,
        "the copy of the last data segment is no connection"
    );
    assert_eq!(stats.capture_evidence.duplicate_packets, 2);
    // A segment on the same ports later than a duplicate could be is a new connection.
    run.ts += 1_000_000_000;
    run.feed(&packet(true, 40_100, 9000, "A", b"GET / HTTP/1.1\r\n\r\n"));
    assert_eq!(run.engine.stats().flows, 2);
}

/// Issue 19 in live capture: an upgrade request reported at its --response-timeout, while
/// the connection is still open, carries the same ACK evidence as at the connection's end
/// in a file: the client acknowledged server bytes the capture never held.
#[test]
fn a_live_response_timeout_says_the_client_acknowledged_the_unseen_response() {
    use crate::packet::{v4, Link, Tcp};
    use crate::traffic::{Run, CLIENT, SERVER, UPGRADE};
    use wssniff::capture::Timestamp;
    use wssniff::engine::{EngineConfig, RecordOrder};
    use wssniff::event::Event;
    let (c, s) = (v4(CLIENT, 40_200), v4(SERVER, 80));
    let mut request = UPGRADE.to_vec();
    request.extend_from_slice(b"\r\n");
    let sent = request.len() as u32;
    for (live, timeout) in [(false, None), (true, Some(2_000_000_000))] {
        let mut run = Run::new(EngineConfig {
            response_timeout_ns: timeout,
            order: RecordOrder::AsKnown,
            ..EngineConfig::default()
        });
        // Client to server only: the SYN-ACK and the 101 (129 bytes) are not captured.
        run.feed(&Tcp::new(c, s, 1000, 0, "S", b"").build(Link::Ip));
        run.feed(&Tcp::new(c, s, 1001, 5001, "A", b"").build(Link::Ip));
        run.feed(&Tcp::new(c, s, 1001, 5001, "PA", &request).build(Link::Ip));
        run.feed(&Tcp::new(c, s, 1001 + sent, 5130, "A", b"").build(Link::Ip));
        if live {
            let events = &mut run.events;
            run.engine
                .tick(Timestamp(run.ts + 3_000_000_000), &mut |e| events.push(e));
        } else {
            run.finish();
        }
        let records: Vec<_> = run
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Handshake(h) => Some(h),
                _ => None,
            })
            .collect();
        assert_eq!(records.len(), 1, "live: {live}");
        let codes: Vec<&str> = records[0]
            .findings
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(codes, ["response_acked_not_captured"], "live: {live}");
        assert!(records[0].findings[0]
            .message
            .contains("acknowledged 129 bytes"));
    }
}

/// Wireshark's command-line tools (tshark, editcap, mergecap, reordercap), or `false` after
/// saying the test is skipped; panics under CI, where scripts/setup-debian installs them.
fn wireshark_tools() -> bool {
    let found = ["tshark", "editcap", "mergecap", "reordercap"]
        .iter()
        .all(|t| std::process::Command::new(t).arg("-h").output().is_ok());
    if !found {
        assert!(
            !under_ci(),
            "tshark/editcap/mergecap/reordercap missing and CI is set: scripts/setup-debian installs tshark"
        );
        eprintln!("skipped: Wireshark's tools not installed (apt-get install tshark)");
    }
    found
}

fn tool(name: &str, args: &[&str]) {
    let out = std::process::Command::new(name)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn messy_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wssniff-messy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The JSON Lines of a run, without its summary (what the analysis found, not the counts of
/// what was normalised on the way).
fn analysis(inputs: &[&std::path::Path], extra: &[&str]) -> String {
    let mut args: Vec<&str> = Vec::new();
    for input in inputs {
        args.push("-r");
        args.push(input.to_str().unwrap());
    }
    args.push("--json");
    args.extend_from_slice(extra);
    let out = wssniff(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.contains(r#""type":"summary""#) && !l.contains(r#""type":"notice""#))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn summary_evidence(inputs: &[&std::path::Path], extra: &[&str]) -> Value {
    let mut args: Vec<&str> = Vec::new();
    for input in inputs {
        args.push("-r");
        args.push(input.to_str().unwrap());
    }
    args.push("--json");
    args.extend_from_slice(extra);
    let out = wssniff(&args);
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["type"] == "summary")
        .unwrap()["counters"]["capture_evidence"]
        .clone()
}

/// `analysis` without the packet numbers evidence cites: a file with copies numbers its
/// packets past them (as Wireshark would show that file), the analysis is otherwise the same.
fn without_packet_numbers(analysis: &str) -> Vec<Value> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("packets");
                map.remove("packet");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    analysis
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            strip(&mut v);
            v
        })
        .collect()
}

/// The last timestamp of a capture file, read with wssniff's own reader in file order.
fn last_ts(path: &std::path::Path) -> i64 {
    let mut source = wssniff::capture::FileSource::open(path.to_str().unwrap())
        .unwrap()
        .with_reorder_window(0);
    let mut last = 0;
    source.for_each_packet(|p| {
        last = p.ts.0;
        std::ops::ControlFlow::Continue(())
    });
    last
}

/// Issue 19, messy files: a capture written by two queues (or two SPAN ports, one per
/// direction) that each flush a batch every 3 ms, so the file holds the batches in the order
/// they were flushed and a batch's first packets come after the other queue's later ones.
/// Made from the real-peer capture with tshark (the queues), editcap -i (the batches) and
/// mergecap -a (the writer); reordercap sorts it back to the whole capture. Within the
/// 10 ms re-sort window the analysis is byte for byte the clean capture's, and the summary
/// counts the packets put back in order; read in file order (`--reorder-window 0`) it is not.
#[test]
fn a_capture_written_by_two_queues_in_batches_is_analysed_as_the_clean_one() {
    if !wireshark_tools() {
        return;
    }
    let dir = messy_dir("queues");
    let whole = imperfect("two-way.pcap");
    let w = whole.to_str().unwrap();
    let mut batches = Vec::new();
    for (queue, filter) in [
        ("q0", "tcp.dstport == 18201"),
        ("q1", "tcp.srcport == 18201"),
    ] {
        let q = dir.join(format!("{queue}.pcap"));
        tool(
            "tshark",
            &["-r", w, "-Y", filter, "-w", q.to_str().unwrap()],
        );
        let qdir = dir.join(queue);
        std::fs::create_dir_all(&qdir).unwrap();
        let out = qdir.join("batch.pcap");
        tool(
            "editcap",
            &["-i", "0.003", q.to_str().unwrap(), out.to_str().unwrap()],
        );
        for e in std::fs::read_dir(&qdir).unwrap() {
            batches.push(e.unwrap().path());
        }
    }
    // The writer appends each batch when it is flushed, after its last packet.
    batches.sort_by_key(|b| (last_ts(b), b.clone()));
    let messy = dir.join("two-queues.pcap");
    let mut args = vec!["-a", "-w", messy.to_str().unwrap()];
    args.extend(batches.iter().map(|b| b.to_str().unwrap()));
    tool("mergecap", &args);
    let sorted = dir.join("sorted.pcap");
    tool(
        "reordercap",
        &[messy.to_str().unwrap(), sorted.to_str().unwrap()],
    );

    let clean = analysis(&[&whole], &[]);
    assert_eq!(
        analysis(&[&sorted], &[]),
        clean,
        "reordercap's sort is the clean capture"
    );
    assert_eq!(
        analysis(&[&messy], &[]),
        clean,
        "re-sorted within the window, the analysis is the clean capture's"
    );
    // By default the window engages at the first packet out of order, which goes where
    // the file has it (here a server packet 1 ms behind the client's batch: it changes
    // nothing), and sorts everything after it.
    let e = summary_evidence(&[&messy], &[]);
    assert!(e["reordered_packets"].as_u64().unwrap() > 10, "{e:#}");
    assert_eq!(e["timestamps_out_of_order"], 1, "{e:#}");
    // The same with flow-sharded workers: the reader re-sorts before the shards.
    assert_eq!(analysis(&[&messy], &["--threads", "2"]), clean);
    assert_eq!(summary_evidence(&[&messy], &["--threads", "2"]), e);
    // Asked for, the window sorts the file from its first packet: nothing is beyond it.
    let eager = ["--reorder-window", "0.01"];
    assert_eq!(analysis(&[&messy], &eager), clean);
    let e = summary_evidence(&[&messy], &eager);
    assert!(e["reordered_packets"].as_u64().unwrap() > 10, "{e:#}");
    assert_eq!(e["timestamps_out_of_order"], 0, "{e:#}");
    // Read in file order, the same file is out of order, and says so.
    let e = summary_evidence(&[&messy], &["--reorder-window", "0"]);
    assert!(e["timestamps_out_of_order"].as_u64().unwrap() > 10, "{e:#}");
    assert!(e.get("reordered_packets").is_none(), "{e:#}");
    assert_ne!(analysis(&[&messy], &["--reorder-window", "0"]), clean);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Beyond the window: the committed out-of-order.pcap (the second half of the capture
/// written before the first, `mergecap -a`) is out of order by hundreds of milliseconds.
/// The default window engages only at the first packet out of order, after the whole later
/// half: those packets are analysed where the file has them, counted, and the summary says
/// how to do better; a window asked for sorts from the start, and one that covers the
/// disorder makes the analysis the clean capture's byte for byte.
#[test]
fn disorder_beyond_the_window_is_counted_and_a_wider_window_sorts_it() {
    let messy = imperfect("out-of-order.pcap");
    let e = summary_evidence(&[&messy], &[]);
    assert!(e["timestamps_out_of_order"].as_u64().unwrap() > 0, "{e:#}");
    let out = wssniff(&["-r", messy.to_str().unwrap(), "-q"]);
    assert!(
        stderr(&out).contains("widen it (--reorder-window SECONDS) or sort the file first"),
        "{}",
        stderr(&out)
    );
    let clean = analysis(&[&imperfect("two-way.pcap")], &[]);
    assert_eq!(analysis(&[&messy], &["--reorder-window", "1"]), clean);
    let e = summary_evidence(&[&messy], &["--reorder-window", "1"]);
    assert_eq!(e["timestamps_out_of_order"], 0, "{e:#}");
    assert_eq!(e["reordered_packets"], 84, "{e:#}");
}

/// SPAN duplicates as a SPAN port makes them (each copy 20 µs after the original: editcap -t
/// on a copy, merged with mergecap) and two overlapping files read together (`editcap -r`
/// ranges, given as two -r files): the analysis is the clean capture's (but for the packet
/// numbers, which cite the file as read, copies included), and the copies are counted.
#[test]
fn span_copies_and_overlapping_files_read_together_are_analysed_as_the_clean_capture() {
    if !wireshark_tools() {
        return;
    }
    let dir = messy_dir("span");
    let whole = imperfect("two-way.pcap");
    let w = whole.to_str().unwrap();
    let clean = analysis(&[&whole], &[]);
    let packets = 152;

    let late = dir.join("copy.pcap");
    tool("editcap", &["-t", "0.00002", w, late.to_str().unwrap()]);
    let twice = dir.join("span.pcap");
    tool(
        "mergecap",
        &["-w", twice.to_str().unwrap(), w, late.to_str().unwrap()],
    );
    let clean_records = without_packet_numbers(&clean);
    assert_eq!(
        without_packet_numbers(&analysis(&[&twice], &[])),
        clean_records
    );
    let e = summary_evidence(&[&twice], &[]);
    assert_eq!(e["duplicate_packets"], packets, "{e:#}");
    assert_eq!(e["retransmitted_segments"], 0, "{e:#}");

    let first = dir.join("first.pcap");
    let second = dir.join("second.pcap");
    tool("editcap", &["-r", w, first.to_str().unwrap(), "1-120"]);
    tool(
        "editcap",
        &["-r", w, second.to_str().unwrap(), &format!("60-{packets}")],
    );
    assert_eq!(
        without_packet_numbers(&analysis(&[&first, &second], &[])),
        clean_records
    );
    let e = summary_evidence(&[&first, &second], &[]);
    assert_eq!(
        e["duplicate_packets"], 61,
        "packets 60 to 120 are in both: {e:#}"
    );
    assert_eq!(e["retransmitted_segments"], 0, "{e:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
