//! Command-line behaviour: exit codes, error messages, filters, standard input.

use std::io::Write;
use std::process::Stdio;

use crate::packet::pcapng;
use crate::util::*;

#[test]
fn fail_on_failed_sets_exit_status_1() {
    let p = sample("nginx-502-upstream-down.pcap");
    let out = wssniff(&["-r", p.to_str().unwrap(), "--fail-on", "failed", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    let p = sample("python-websockets-ok.pcap");
    let out = wssniff(&["-r", p.to_str().unwrap(), "--fail-on", "failed", "-q"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bad_inputs_give_one_line_errors_and_status_2() {
    let dir = std::env::temp_dir().join(format!("wssniff-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.join("text.pcap");
    std::fs::write(&text, b"hello, not a capture\n").unwrap();
    let empty_dir = dir.join("empty-dir");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            dir.join("missing.pcap").display().to_string(),
            "No such file",
        ),
        // A directory is read as the files in it (tests/it/merge.rs); an empty one is not a capture.
        (
            empty_dir.display().to_string(),
            "the directory holds no files",
        ),
        (empty.display().to_string(), "empty file"),
        (text.display().to_string(), "not a pcap or pcapng file"),
    ];
    for (path, needle) in cases {
        let out = wssniff(&["-r", &path]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{path}: {err}");
        assert_eq!(err.lines().count(), 1, "{path}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn no_input_says_which_flags_give_one() {
    for args in [&[][..], &["tcp", "port", "80"][..]] {
        let out = wssniff(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("-r FILE") && err.contains("-i IFACE"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn tcpdump_n_and_nn_are_accepted_and_change_nothing() {
    let p = sample("close-codes.pcap");
    let p = p.to_str().unwrap();
    let plain = wssniff(&["-r", p]);
    assert_eq!(plain.status.code(), Some(0));
    for extra in [&["-n"][..], &["-nn"][..], &["-n", "-n"][..], &["-nnv"][..]] {
        let mut args = vec!["-r", p];
        args.extend_from_slice(extra);
        let out = wssniff(&args);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
        let want = if extra.contains(&"-nnv") {
            wssniff(&["-r", p, "-v"])
        } else {
            wssniff(&["-r", p])
        };
        assert_eq!(stdout(&out), stdout(&want), "{extra:?}");
    }
    let help = stdout(&wssniff(&["--help"]));
    assert!(
        help.lines()
            .any(|l| l.trim_start().starts_with("-n") && !l.contains("--")),
        "{help}"
    );
    assert!(help.contains("never resolves"), "{help}");
}

#[test]
fn truncated_file_keeps_results_before_the_damage() {
    let bytes = std::fs::read(sample("curl-bad-requests.pcap")).unwrap();
    let dir = std::env::temp_dir().join(format!("wssniff-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.pcap");
    // Cut inside the last record.
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let out = wssniff(&["-r", cut.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("truncated capture"),
        "{}",
        stderr(&out)
    );
    let kinds: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "handshake",
            "handshake",
            "handshake",
            "handshake",
            "summary"
        ]
        .map(|k| format!("\"{k}\"")),
        "all four handshakes still reported, then the summary"
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert!(
        summary["capture"]["read_error"]
            .as_str()
            .unwrap()
            .contains("truncated capture"),
        "{summary}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bpf_filter_applies_to_files() {
    let p = sample("nginx-proxy-ok.pcap");
    let all = records(&p, &[]);
    assert_eq!(all.len(), 2);
    let front = records(&p, &["tcp", "port", "18021"]);
    assert_eq!(front.len(), 1);
    assert_eq!(front[0]["server"], "127.0.0.1:18021");
    let out = wssniff(&["-r", p.to_str().unwrap(), "tcp", "port", "notaport"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad filter expression"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reads_standard_input() {
    let bytes = std::fs::read(sample("origin-rejected-403.pcap")).unwrap();
    let mut child = crate::util::command()
        .args(["-r", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("\"forbidden\""));
}

#[test]
fn count_stops_after_n_handshakes() {
    let p = sample("curl-bad-requests.pcap");
    assert_eq!(records(&p, &["-c", "2"]).len(), 2);
}

#[test]
fn header_cap_is_configurable_and_reported() {
    let p = sample("python-websockets-ok.pcap");
    let recs = records(&p, &["--max-header-bytes", "100"]);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["verdict"], "incomplete");
    assert!(codes(&recs[0]).contains(&"header_limit_exceeded".to_owned()));
}

#[test]
fn list_findings_prints_every_code() {
    let out = wssniff(&["--list-findings"]);
    let text = stdout(&out);
    for code in [
        "upgrade_ignored",
        "accept_mismatch",
        "no_response",
        "capture_gap",
    ] {
        assert!(text.contains(code));
    }
}

#[test]
fn readme_documents_every_finding_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let out = wssniff(&["--list-findings"]);
    let text = stdout(&out);
    let (findings, _) = text.split_once("\n\n").unwrap();
    let mut n = 0;
    for line in findings.lines().skip(1) {
        let code = line.split('\t').next().unwrap();
        assert!(
            readme.contains(&format!("`{code}`")),
            "README lacks `{code}`"
        );
        n += 1;
    }
    assert_eq!(n, wssniff::finding::Code::ALL.len());
}

#[test]
fn list_findings_and_readme_catalogue_every_notice_code() {
    use wssniff::finding::NoticeCode;
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split_once("### Notice codes")
        .and_then(|(_, rest)| rest.split("\n## ").next())
        .expect("README has a Notice codes section");
    let out = wssniff(&["--list-findings"]);
    let text = stdout(&out);
    let (_, notices) = text.split_once("\n\n").expect("notices after the findings");
    let mut lines = notices.lines();
    assert_eq!(lines.next(), Some("NOTICE\tFLAG\tMEANING"));
    let listed: Vec<&str> = lines.map(|l| l.split('\t').next().unwrap()).collect();
    let all: Vec<&str> = NoticeCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, all);
    for code in NoticeCode::ALL {
        // One table row per code, naming the flag that changes its cap.
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", code.as_str())))
            .unwrap_or_else(|| panic!("README's notice table lacks `{}`", code.as_str()));
        match code.flag() {
            Some(flag) => assert!(row.contains(&format!("`{flag}`")), "{row}"),
            None => assert!(row.ends_with("| — |"), "{row}"),
        }
    }
}

#[test]
fn pcapng_drop_counters_are_reported() {
    let mut bytes = std::fs::read(sample("pcapng-ok.pcapng")).unwrap();
    // Statistics blocks are cumulative: the last one per interface counts.
    bytes.extend(pcapng::interface_statistics(1, 0));
    bytes.extend(pcapng::interface_statistics(7, 5));
    let dir = std::env::temp_dir().join(format!("wssniff-isb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("drops.pcapng");
    std::fs::write(&path, &bytes).unwrap();
    let report = dir.join("r.md");
    let out = wssniff(&[
        "-r",
        path.to_str().unwrap(),
        "-q",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("records 12 packets dropped while capturing"),
        "{}",
        stderr(&out)
    );
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| drops | 12 |"), "{md}");
    // Without statistics the file says nothing about drops, and neither does wssniff.
    let out = wssniff(&["-r", sample("pcapng-ok.pcapng").to_str().unwrap(), "-q"]);
    assert!(!stderr(&out).contains("dropped while capturing"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_filter_that_does_not_apply_to_a_link_type_is_a_notice() {
    let p = sample("pcapng-mixed-linktypes.pcapng");
    let out = wssniff(&["-r", p.to_str().unwrap(), "ether host 00:00:00:00:00:00"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains(
            "wssniff: note: the filter does not apply to link type LINUX_SLL2 (276); its packets were skipped"
        ),
        "{}",
        stderr(&out)
    );
}

/// The codes a footer line lists after `label: ` (`code ×n, …`).
fn footer_codes(err: &str, label: &str) -> Vec<String> {
    err.lines()
        .filter_map(|l| l.strip_prefix(label))
        .flat_map(|rest| rest.split(", "))
        .filter_map(|item| item.split(" ×").next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_footer_counts_only_what_the_lines_show_or_says_that_v_does() {
    let mut info_seen = 0;
    for name in sample_names() {
        let p = sample(&name);
        let p = p.to_str().unwrap();
        let plain = wssniff(&["-r", p]);
        let (out, err) = (stdout(&plain), stderr(&plain));
        for code in footer_codes(&err, "findings: ") {
            assert!(
                out.contains(&format!(" {code}: ")),
                "{name}: {code} counted, not shown"
            );
        }
        let info = footer_codes(&err, "info findings (printed with -v): ");
        let verbose = stdout(&wssniff(&["-r", p, "-v"]));
        for code in &info {
            info_seen += 1;
            assert!(!out.contains(&format!(" {code}: ")), "{name}: {code}");
            assert!(
                verbose.contains(&format!("info {code}: ")),
                "{name}: {code}"
            );
        }
    }
    // origin-rejected-403 (cross_origin), close-codes (close_application), mid-connection.
    assert!(info_seen >= 3, "{info_seen}");
    // With -v every count is on one line again.
    let p = sample("origin-rejected-403.pcap");
    let err = stderr(&wssniff(&["-r", p.to_str().unwrap(), "-v"]));
    assert!(
        footer_codes(&err, "findings: ").contains(&"cross_origin".to_owned()),
        "{err}"
    );
}

#[test]
fn a_reset_after_both_close_frames_raises_no_alarm() {
    use crate::packet::pcap;
    use crate::traffic::{packet, tmpdir, UPGRADE};
    // No bundled sample has it (close-codes' /reset has no close frame), so hand-built:
    // handshake, client close 1000 (masked, zero key), server echo, then the server's RST.
    let mut request = UPGRADE.to_vec();
    request.extend_from_slice(b"\r\n");
    let response: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let client_close = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
    let server_close = [0x88, 0x02, 0x03, 0xe8];
    let (c, s) = (1001u32, 5001u32);
    let cs = c + request.len() as u32;
    let ss = s + response.len() as u32;
    let packets = [
        packet(true, 40000, 1000, "S", b""),
        packet(false, 40000, 5000, "SA", b""),
        packet(true, 40000, c, "A", &request),
        packet(false, 40000, s, "A", response),
        packet(true, 40000, cs, "A", &client_close),
        packet(false, 40000, ss, "A", &server_close),
        packet(false, 40000, ss + 4, "R", b""),
    ];
    let dir = tmpdir("reset-after-close");
    let file = dir.join("reset-after-close.pcap");
    let bytes = pcap::file(
        pcap::LINKTYPE_IPV4,
        65535,
        1_700_000_000,
        packets.iter().map(Vec::as_slice),
    );
    std::fs::write(&file, bytes).unwrap();
    let conns = connections(&file, &[]);
    assert_eq!(conns.len(), 1);
    let conn = &conns[0];
    assert_eq!(conn["ending"], "clean", "{conn}");
    assert_eq!(conn["tcp_end"], "server_rst", "{conn}");
    assert_eq!(conn["findings"][0]["code"], "reset_after_close", "{conn}");
    assert_eq!(conn["findings"][0]["severity"], "info", "{conn}");
    assert_eq!(conn["findings"].as_array().unwrap().len(), 1, "{conn}");
    let out = wssniff(&["-r", file.to_str().unwrap()]);
    let (lines, err) = (stdout(&out), stderr(&out));
    assert!(lines.contains("closed clean"), "{lines}");
    assert!(
        !lines.contains("warning") && !lines.contains("1006"),
        "{lines}"
    );
    assert!(err.contains("1 WebSocket connection: 1 clean"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
