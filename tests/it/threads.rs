//! `--threads N` gives the output of `--threads 1`: every sample (the bundled ones, those of
//! the TLS, h2 and imperfect-capture folders with their key logs, and the public captures),
//! as JSON Lines, as lines and as `-v` lines, standard error (summary, notices) included.

use std::path::{Path, PathBuf};

use crate::util::{public_captures, root, stderr, wssniff};

/// Every capture file under `dir`, recursively, sorted.
fn captures_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            captures_under(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng")
        {
            out.push(path);
        }
    }
}

fn every_capture() -> Vec<PathBuf> {
    let mut all = Vec::new();
    captures_under(&root().join("samples"), &mut all);
    if let Some(public) = public_captures() {
        captures_under(&public, &mut all);
    }
    all.sort();
    all
}

/// Runs `args` with `--threads` 1 and `threads`; panics with both outputs when they differ.
fn assert_same(args: &[&str], threads: &str, what: &str) {
    let one = wssniff(&[args, &["--threads", "1"]].concat());
    let many = wssniff(&[args, &["--threads", threads]].concat());
    assert_eq!(
        one.status.code(),
        many.status.code(),
        "{what}: exit status with --threads {threads}"
    );
    assert!(
        one.stdout == many.stdout,
        "{what}: standard output with --threads {threads} differs:\n--- 1 ---\n{}\n--- {threads} ---\n{}",
        String::from_utf8_lossy(&one.stdout),
        String::from_utf8_lossy(&many.stdout)
    );
    assert!(
        one.stderr == many.stderr,
        "{what}: standard error with --threads {threads} differs:\n--- 1 ---\n{}\n--- {threads} ---\n{}",
        String::from_utf8_lossy(&one.stderr),
        String::from_utf8_lossy(&many.stderr)
    );
}

#[test]
fn two_threads_give_the_output_of_one_on_every_sample() {
    let captures = every_capture();
    assert!(
        captures.len() >= 60,
        "only {} captures found",
        captures.len()
    );
    for path in &captures {
        let file = path.to_str().unwrap();
        let keys = path.with_extension("keys");
        let mut base = vec!["-r", file];
        let keylog = keys.to_str().unwrap().to_owned();
        if keys.is_file() {
            base.extend(["--keylog", &keylog]);
        }
        for mode in [&["--json"][..], &[][..], &["-v"][..]] {
            let args = [&base[..], mode].concat();
            assert_same(&args, "2", &format!("{file} {mode:?}"));
        }
    }
}

#[test]
fn more_threads_than_connections_and_merged_files_give_the_same_output() {
    // Three workers over captures with a proxy's two legs, a failed handshake that switched,
    // and Engine.IO sessions across connections: the legs and sessions span workers.
    for name in [
        "nginx-proxy-ok.pcap",
        "nginx-idle-timeout.pcap",
        "engineio-polling-upgrade.pcap",
        "engineio-sticky-iphash-ok.pcap",
    ] {
        let path = root().join("samples").join(name);
        assert!(path.is_file(), "{name} is missing");
        let file = path.to_str().unwrap();
        assert_same(&["-r", file, "--json"], "3", file);
        assert_same(&["-r", file, "--json"], "7", file);
    }
    // Several files read as one capture.
    let a = root().join("samples/imperfect/two-way.pcap");
    let b = root().join("samples/imperfect/out-of-order.pcap");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    assert_same(&["-r", a, "-r", b, "--json"], "2", "two files merged");
    // Files that overlap in time: the merge's note comes before what the end of the
    // analysis says (an Engine.IO session's end), as with one thread.
    let c = root().join("samples/engineio-ping-timeout.pcap");
    let c = c.to_str().unwrap();
    assert_same(
        &["-r", c, "-r", c, "--json"],
        "2",
        "a file merged with itself",
    );
}

#[test]
fn the_report_is_the_same_with_threads() {
    let dir = std::env::temp_dir().join(format!("wssniff-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sample = root().join("samples/nginx-proxy-ok.pcap");
    let mut reports = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("report-{threads}.json"));
        let run = crate::util::command()
            .args(["-r", sample.to_str().unwrap(), "-q", "--threads", threads])
            .arg("--report")
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        reports.push(std::fs::read_to_string(&out).unwrap());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(reports[0], reports[1]);
}

#[test]
fn the_flow_cap_is_not_divided_between_workers() {
    // The capture tracks 12 connections at once: a cap of 12 evicts nothing with one thread,
    // and would evict with the cap divided (seven workers holding 1 each).
    let path = root().join("samples/imperfect/client-to-server.pcap");
    let file = path.to_str().unwrap();
    let out = wssniff(&["-r", file, "--json", "--threads", "1"]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("\"peak_flows\":12,"), "{summary}");
    for threads in ["2", "7"] {
        assert_same(
            &["-r", file, "--json", "--max-flows", "12"],
            threads,
            "--max-flows 12",
        );
    }
    let capped = wssniff(&["-r", file, "--json", "--max-flows", "12", "--threads", "2"]);
    let text = String::from_utf8_lossy(&capped.stdout);
    assert!(text.contains("\"flows_evicted_capacity\":0,"), "{text}");
}

/// The JSON records of `file` with its key log and `threads` workers.
fn tls_records(file: &Path, threads: &str) -> Vec<serde_json::Value> {
    let keys = file.with_extension("keys");
    let out = wssniff(&[
        "-r",
        file.to_str().unwrap(),
        "--keylog",
        keys.to_str().unwrap(),
        "--json",
        "--threads",
        threads,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_tls_record_lists_the_real_ids_of_the_handshakes_it_carried_with_threads() {
    // Workers number handshakes provisionally; the stage maps the ids a tls record lists as
    // it maps the handshake records' own, so they name records of the output.
    let mut listed = 0;
    for name in [
        "tls/tls13-wss-python-ok.pcap",
        "tls/tls12-wss-python-ok.pcap",
        "h2tls/h2tls-python-hypercorn.pcap",
        "h2tls/h2tls-chromium-nginx-fallback.pcap",
    ] {
        let path = root().join("samples").join(name);
        assert!(path.is_file(), "{name} is missing");
        let one = tls_records(&path, "1");
        for threads in ["2", "3"] {
            let many = tls_records(&path, threads);
            assert_eq!(one, many, "{name} with --threads {threads}");
            let ids: Vec<u64> = many
                .iter()
                .filter(|r| r["type"] == "handshake")
                .map(|r| r["id"].as_u64().unwrap())
                .collect();
            for tls in many.iter().filter(|r| r["type"] == "tls") {
                for id in tls["handshakes"].as_array().into_iter().flatten() {
                    let id = id.as_u64().unwrap();
                    assert!(ids.contains(&id), "{name}: {id} is not a handshake's id");
                    listed += 1;
                }
            }
        }
    }
    assert!(
        listed >= 8,
        "the samples' tls records list {listed} handshakes"
    );
}

#[test]
fn a_tls12_session_resumed_on_another_workers_connection_decrypts() {
    // The resumed connection and the one that taught its master secret land on different
    // workers for some of these counts (the ticket sample with 3 and 7, the session-id one
    // with all): the resumption cache is the run's, not a worker's.
    for name in ["tls12-resumed-ticket.pcap", "tls12-resumed-session-id.pcap"] {
        let path = root().join("samples/tls").join(name);
        let one = tls_records(&path, "1");
        let decrypted = one
            .iter()
            .filter(|r| r["type"] == "tls" && r["decrypted"] == true)
            .count();
        assert_eq!(decrypted, 2, "{name}");
        for threads in ["2", "3", "7"] {
            assert_eq!(
                one,
                tls_records(&path, threads),
                "{name} with --threads {threads}"
            );
        }
    }
}

/// A capture of `n` connections open at once (every request, then every answer, then every
/// close, in three rounds of packets): each request an upgrade, whole with a 101 answer, or
/// (`unfinished`) an 8 KiB head whose blank line never comes, held unparsed.
fn many_at_once(n: u16, unfinished: bool) -> Vec<u8> {
    use crate::packet::{pcap, v4, Link, Tcp};
    let (client, server) = ([10, 7, 0, 1], [10, 7, 0, 2]);
    let request = if unfinished {
        let mut head = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".to_vec();
        head.resize(8192, b'a');
        head
    } else {
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_vec()
    };
    let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let mut out = pcap::file_header(pcap::LINKTYPE_IPV4, 65535).to_vec();
    let mut usec = 0u32;
    let mut push = |data: Vec<u8>| {
        usec += 10;
        let len = u32::try_from(data.len()).unwrap();
        out.extend_from_slice(&pcap::record_header(1_700_000_000, usec, len, len));
        out.extend_from_slice(&data);
    };
    let (c_isn, s_isn) = (1000u32, 9000u32);
    let req_len = u32::try_from(request.len()).unwrap();
    for round in 0..3 {
        for i in 0..n {
            let (c, s) = (v4(client, 20_000 + i), v4(server, 80));
            let seg = match round {
                0 => Tcp::new(c, s, c_isn, s_isn, "PA", &request),
                1 => Tcp::new(s, c, s_isn, c_isn + req_len, "PA", response),
                _ => Tcp::new(c, s, c_isn + req_len, s_isn, "FA", b""),
            };
            push(seg.build(Link::Ip));
        }
    }
    out
}

/// The summary record of a JSON run.
fn summary_of(stdout: &[u8]) -> serde_json::Value {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "summary")
        .unwrap()
}

/// A cap hit with workers: what docs/threads.md lets differ (which connections are evicted or
/// refused, so the records and their counts) may, and what it does not may not: the packets
/// read, the TCP segments decoded, the run's exit, one notice about the cap, ids handed out
/// densely in output order (none provisional), every connection record naming a handshake
/// that was written, and the flow table past the cap by at most one batch.
#[test]
fn a_cap_hit_with_threads_differs_only_where_documented() {
    let dir = std::env::temp_dir().join(format!("wssniff-threads-caps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "flows",
            many_at_once(5000, false),
            ["--max-flows", "64"],
            "flow_limit",
        ),
        (
            "memcap",
            many_at_once(1000, true),
            ["--memcap", "1M"],
            "memcap",
        ),
    ];
    for (name, capture, cap, notice) in cases {
        let path = dir.join(format!("{name}.pcap"));
        std::fs::write(&path, capture).unwrap();
        let file = path.to_str().unwrap();
        let mut summaries = Vec::new();
        for threads in ["1", "2", "7"] {
            let out = wssniff(&[&["-r", file, "--json", "--threads", threads], &cap[..]].concat());
            let what = format!("{name}, --threads {threads}");
            assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
            let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let ids: Vec<u64> = records
                .iter()
                .filter(|r| r["type"] == "handshake")
                .map(|r| r["id"].as_u64().unwrap())
                .collect();
            assert!(!ids.is_empty(), "{what}");
            assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>(), "{what}");
            for c in records.iter().filter(|r| r["type"] == "connection") {
                let id = c["handshake_id"].as_u64().unwrap();
                assert!(ids.contains(&id), "{what}: connection of handshake {id}");
            }
            let notices = records
                .iter()
                .filter(|r| r["type"] == "notice" && r["code"] == notice)
                .count();
            assert_eq!(notices, 1, "{what}: one {notice} notice\n{}", stderr(&out));
            summaries.push(summary_of(&out.stdout));
        }
        for (s, threads) in summaries.iter().zip([1u64, 2, 7]) {
            let counters = &s["counters"];
            let one = &summaries[0]["counters"];
            for same in ["packets", "bytes", "tcp_segments"] {
                assert_eq!(
                    counters[same], one[same],
                    "{name}, {threads} threads: {same}"
                );
            }
            let peak = counters["peak_flows"].as_u64().unwrap();
            if name == "flows" {
                assert!(counters["flows_evicted_capacity"].as_u64().unwrap() > 0);
                // One table keeps the cap; workers overshoot it by at most one batch.
                let bound = if threads == 1 { 64 } else { 64 + 4096 };
                assert!(
                    peak <= bound,
                    "{threads} threads: {peak} connections at once"
                );
            } else {
                assert!(
                    counters["memcap_refused"]["unparsed"]["times"]
                        .as_u64()
                        .unwrap()
                        > 0
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
