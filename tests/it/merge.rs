//! Several files read as one capture (`-r a -r b`, a directory, a pattern): a capture split
//! with `editcap -c` and read as its parts, in shuffled order or as their directory, gives
//! the same records as the whole; overlapping files are interleaved and said; a damaged part
//! gives its one-line error and the others go on; the report names every file.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

/// `editcap` (Wireshark's, installed with tshark by scripts/setup-debian), or `None` after
/// saying the test is skipped; panics under `CI=true` when it is missing.
fn editcap() -> Option<&'static str> {
    let found = Command::new("editcap").arg("-h").output().is_ok();
    if found {
        return Some("editcap");
    }
    let ci = crate::util::under_ci();
    assert!(
        !ci,
        "editcap is missing and CI is set: scripts/setup-debian installs tshark"
    );
    eprintln!("skipped: editcap not installed (apt-get install tshark)");
    None
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wssniff-merge-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Splits `capture` into files of `per_file` packets in `dir` and returns them, sorted.
fn split(editcap: &str, capture: &Path, per_file: u32, dir: &Path) -> Vec<String> {
    let ext = capture.extension().unwrap().to_string_lossy().into_owned();
    let out = Command::new(editcap)
        .arg("-c")
        .arg(per_file.to_string())
        .arg(capture)
        .arg(dir.join(format!("part.{ext}")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut parts: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    parts
}

/// The JSON records of a run over `inputs` (each given with its own `-r`), without the
/// notices that only a read of several files has.
fn merged_records(inputs: &[&str], extra: &[&str]) -> (Vec<Value>, String) {
    let mut args = Vec::new();
    for i in inputs {
        args.extend(["-r", *i]);
    }
    args.push("--json");
    args.extend_from_slice(extra);
    let out = wssniff(&args);
    let err = stderr(&out);
    assert!(out.status.success(), "{inputs:?}: {err}");
    let records = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["code"] != "files_out_of_order" && r["code"] != "files_overlap")
        .collect();
    (records, err)
}

/// Every sample whose packets are in timestamp order (a merge by timestamp of its parts
/// puts them back in file order): split in parts of 7 packets, read as the parts given
/// shuffled, and as their directory.
#[test]
fn a_split_capture_read_as_its_parts_gives_the_same_records_as_the_whole() {
    let Some(editcap) = editcap() else { return };
    let mut checked = 0;
    let mut names = sample_names();
    names.push("tls/tls13-curl-alpn-h2-http11.pcap".to_owned());
    for name in names {
        let whole = sample(&name);
        if !in_time_order(&whole) {
            continue;
        }
        let expected = all_records(&whole, &[]);
        let dir = scratch(&name.replace('/', "_"));
        let parts = split(editcap, &whole, 7, &dir);
        if parts.len() < 2 {
            continue;
        }
        // Shuffled, deterministically: every other part, then the rest, reversed.
        let mut shuffled: Vec<&str> = parts.iter().step_by(2).map(String::as_str).collect();
        shuffled.extend(parts.iter().skip(1).step_by(2).rev().map(String::as_str));
        let (records, err) = merged_records(&shuffled, &[]);
        assert_eq!(
            records,
            expected,
            "{name} read as {} shuffled parts",
            parts.len()
        );
        assert!(
            err.contains(&format!("{} files read as one capture", parts.len())),
            "{name}: {err}"
        );
        let dir_arg = dir.to_str().unwrap();
        let (records, _) = merged_records(&[dir_arg], &[]);
        assert_eq!(records, expected, "{name} read as its directory");
        std::fs::remove_dir_all(&dir).unwrap();
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} samples split and merged");
}

/// Whether a capture's packets come in timestamp order (tshark's frame.time_delta ≥ 0),
/// read with wssniff's own JSON-free path: `capinfos -o` says "True" when they do.
fn in_time_order(capture: &Path) -> bool {
    let out = Command::new("capinfos")
        .args(["-o", "-M"])
        .arg(capture)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("Strict time order:   True")
}

/// Two files that overlap in time (packets 1–20 and 41– in one, 21–40 in the other) are
/// interleaved back into the capture's order, and the overlap is a notice.
#[test]
fn overlapping_files_are_interleaved_by_timestamp_and_said() {
    let Some(editcap) = editcap() else { return };
    let whole = sample("close-codes.pcap");
    let dir = scratch("overlap");
    let outer = dir.join("outer.pcap");
    let inner = dir.join("inner.pcap");
    for (out, keep) in [
        (&outer, &["-r", "1-20", "41-1000"][..]),
        (&inner, &["-r", "21-40"][..]),
    ] {
        let mut args: Vec<&str> = vec![keep[0]];
        args.push(whole.to_str().unwrap());
        args.push(out.to_str().unwrap());
        args.extend_from_slice(&keep[1..]);
        let st = Command::new(editcap).args(&args).status().unwrap();
        assert!(st.success());
    }
    let out = wssniff(&[
        "-r",
        outer.to_str().unwrap(),
        "-r",
        inner.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let overlaps: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"files_overlap\""))
        .collect();
    assert_eq!(overlaps.len(), 1, "{text}");
    assert!(overlaps[0].contains("outer.pcap and") && overlaps[0].contains("inner.pcap"));
    let (records, _) = merged_records(&[inner.to_str().unwrap(), outer.to_str().unwrap()], &[]);
    assert_eq!(records, all_records(&whole, &[]));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A part cut short gives its one-line error (file, packet, byte offset), the others are
/// still read, and the run exits 2 (input damaged).
#[test]
fn a_damaged_part_says_so_and_the_others_go_on() {
    let Some(editcap) = editcap() else { return };
    let whole = sample("close-codes.pcap");
    let dir = scratch("damaged");
    let parts = split(editcap, &whole, 20, &dir);
    assert!(parts.len() >= 3);
    let damaged = &parts[1];
    let len = std::fs::metadata(damaged).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(damaged)
        .unwrap();
    f.set_len(len - 10).unwrap();
    let out = wssniff(&["-r", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("truncated capture"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(damaged.as_str()) && lines[0].contains("after packet 19 (byte offset"),
        "{err}"
    );
    // Packets of the parts after the damaged one were read: 67 less the damaged last one.
    assert!(err.contains("66 packets"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--report` names every file with its size and SHA-256 (Markdown, HTML and JSON).
#[test]
fn the_report_names_every_file_with_size_and_hash() {
    let Some(editcap) = editcap() else { return };
    let whole = sample("close-codes.pcap");
    let dir = scratch("report");
    let parts_dir = dir.join("parts");
    std::fs::create_dir_all(&parts_dir).unwrap();
    let parts = split(editcap, &whole, 30, &parts_dir);
    let report = dir.join("r.json");
    let pattern = format!("{}/part*", parts_dir.display());
    let out = wssniff(&["-r", &pattern, "-q", "--report", report.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let files = json["capture"]["files"].as_array().unwrap();
    assert_eq!(files.len(), parts.len());
    for (f, path) in files.iter().zip(&parts) {
        assert_eq!(f["file"], path.as_str());
        assert_eq!(f["size"], std::fs::metadata(path).unwrap().len());
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(json["capture"]["packets"], 67);
    let md = dir.join("r.md");
    let out = wssniff(&["-r", &pattern, "-q", "--report", md.to_str().unwrap()]);
    assert!(out.status.success());
    let md = std::fs::read_to_string(&md).unwrap();
    for path in &parts {
        assert!(md.contains(path.as_str()), "{md}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Files of different link types (Ethernet, Linux cooked) read as one: each file's own
/// link type decodes its packets, and both files' handshakes are there.
#[test]
fn files_of_different_link_types_merge() {
    let a = sample("close-codes.pcap");
    let b = sample("imperfect/snaplen-200-any.pcap");
    let (records, err) = merged_records(&[a.to_str().unwrap(), b.to_str().unwrap()], &[]);
    let handshakes = |v: &[Value]| v.iter().filter(|r| r["type"] == "handshake").count();
    let expected = handshakes(&all_records(&a, &[])) + handshakes(&all_records(&b, &[]));
    assert_eq!(handshakes(&records), expected);
    assert!(
        err.contains("EN10MB (1)") && err.contains("LINUX_SLL"),
        "{err}"
    );
}

/// The keys of a TLS session in a Decryption Secrets Block at the start of the last file
/// (as `editcap --inject-secrets` writes it) decrypt the session whose handshake is in the
/// first files: the same records as the sample with its keys in one file.
#[test]
fn keys_in_a_later_file_decrypt_the_earlier_files() {
    let Some(editcap) = editcap() else { return };
    let suites = root().join("samples/tls-suites");
    let dir = scratch("dsb");
    let mut parts = split(editcap, &suites.join("tls13-aes128gcm.pcap"), 5, &dir);
    let last = parts.pop().unwrap();
    let keyed = dir.join("last.pcapng");
    let keys = format!("tls,{}", suites.join("tls13-aes128gcm.keys").display());
    let st = Command::new(editcap)
        .args(["--inject-secrets", &keys, &last, keyed.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(&last).unwrap();
    let (records, err) = merged_records(&[dir.to_str().unwrap()], &[]);
    assert_eq!(
        records,
        all_records(&suites.join("tls13-aes128gcm-dsb.pcapng"), &[])
    );
    assert!(err.contains("1 decrypted"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
