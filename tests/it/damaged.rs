//! Damaged capture files (issue 7): truncated records and headers, lengths past the end or
//! the snap length, unknown pcapng blocks, bad magic, empty files, directories, a FIFO cut
//! mid-record. Every result before the damage is kept, and the error is one line.

use std::io::Write;
use std::path::Path;

use crate::packet::pcapng;
use crate::traffic::{packet, pcap_header, pcap_record, tmpdir, UPGRADE};
use crate::util::*;

/// A pcap with one complete upgrade exchange (request, answer 403), then whatever `tail` is.
fn capture_with_tail(tail: &[u8], snaplen: u32) -> Vec<u8> {
    let req = [UPGRADE, b"\r\n"].concat();
    let pkts = [
        packet(true, 40_000, 1000, "S", b""),
        packet(false, 40_000, 5000, "SA", b""),
        packet(true, 40_000, 1001, "A", &req),
        packet(
            false,
            40_000,
            5001,
            "A",
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        ),
        packet(true, 40_000, 1001 + req.len() as u32, "FA", b""),
        packet(false, 40_000, 5047, "FA", b""),
    ];
    let mut bytes = pcap_header(snaplen);
    for (i, p) in pkts.iter().enumerate() {
        bytes.extend(pcap_record(
            1_700_000_000 + i as u32,
            p,
            p.len() as u32,
            p.len() as u32,
        ));
    }
    bytes.extend_from_slice(tail);
    bytes
}

/// Exit status, standard error and the handshake records of `wssniff -r path --json`.
fn run_file(path: &Path) -> (Option<i32>, String, Vec<serde_json::Value>) {
    let out = wssniff(&["-r", path.to_str().unwrap(), "--json"]);
    let recs = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "handshake")
        .collect();
    (out.status.code(), stderr(&out), recs)
}

#[test]
fn damaged_captures_keep_every_result_before_the_damage() {
    let dir = tmpdir("damaged");
    let good = capture_with_tail(b"", 65_535);
    let (code, err, recs) = {
        let p = dir.join("good.pcap");
        std::fs::write(&p, &good).unwrap();
        run_file(&p)
    };
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(recs.len(), 1);
    let pkt = packet(true, 40_001, 1, "S", b"");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // A record header then only part of its packet.
        (
            "mid-packet",
            pcap_record(1, &pkt[..10], pkt.len() as u32, pkt.len() as u32),
            "truncated capture",
        ),
        // A record header cut short.
        (
            "mid-header",
            pcap_record(1, &pkt, 40, 40)[..9].to_vec(),
            "truncated capture",
        ),
        // caplen past the end of the file.
        (
            "longer-than-file",
            pcap_record(1, &pkt, 50_000, 50_000),
            "truncated capture",
        ),
        // caplen far past the snap length and any sane size.
        (
            "huge-caplen",
            pcap_record(1, &pkt, 0x7fff_ffff, 40),
            "after packet 6",
        ),
    ];
    for (name, tail, needle) in cases {
        let p = dir.join(format!("{name}.pcap"));
        std::fs::write(&p, capture_with_tail(&tail, 65_535)).unwrap();
        let (code, err, recs) = run_file(&p);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("wssniff: ")).collect();
        assert_eq!(errors.len(), 1, "{name}: one error line: {err}");
        assert!(errors[0].contains(needle), "{name}: {err}");
        assert!(err.contains("after packet 6"), "{name}: names where: {err}");
        assert_eq!(
            recs.len(),
            1,
            "{name}: the handshake before the damage is kept"
        );
        assert_eq!(recs[0]["status"], 403, "{name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn record_longer_than_the_snaplen_is_read_and_flagged_not_trusted() {
    // caplen 200 in a file whose snaplen says 64: the record is read as it is (libpcap does
    // the same) and nothing before or after is lost.
    let dir = tmpdir("snaplen");
    let p = dir.join("snap.pcap");
    let pkt = packet(true, 40_001, 1, "S", &[b'x'; 160]);
    std::fs::write(
        &p,
        capture_with_tail(
            &pcap_record(9, &pkt, pkt.len() as u32, pkt.len() as u32),
            64,
        ),
    )
    .unwrap();
    let (code, err, recs) = run_file(&p);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(recs.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn pcapng_unknown_blocks_are_skipped() {
    let dir = tmpdir("pcapng");
    let req = [UPGRADE, b"\r\n"].concat();
    let pkts = [
        packet(true, 40_000, 1000, "S", b""),
        packet(false, 40_000, 5000, "SA", b""),
        packet(true, 40_000, 1001, "A", &req),
        packet(
            false,
            40_000,
            5001,
            "A",
            b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    let mut bytes = pcapng::section_header();
    bytes.extend(pcapng::interface(228, 65_535));
    // Unknown block types, before and between packets (one from the local-use range).
    bytes.extend(pcapng::block(0x0000_0bad, b"who knows"));
    for (i, p) in pkts.iter().enumerate() {
        bytes.extend(pcapng::enhanced_packet(0, i as u64, p));
        bytes.extend(pcapng::block(0x8000_1234, &[1, 2, 3]));
    }
    let p = dir.join("unknown.pcapng");
    std::fs::write(&p, &bytes).unwrap();
    let (code, err, recs) = run_file(&p);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], 426);
    // A block whose length field is wrong is damage: results before it are kept.
    let mut bad = bytes.clone();
    bad.extend_from_slice(&6u32.to_le_bytes());
    bad.extend_from_slice(&7u32.to_le_bytes());
    bad.extend_from_slice(&[0; 16]);
    std::fs::write(&p, &bad).unwrap();
    let (code, err, recs) = run_file(&p);
    assert_eq!(code, Some(2), "{err}");
    let errors = err.lines().filter(|l| l.starts_with("wssniff: ")).count();
    assert_eq!(errors, 1, "{err}");
    assert_eq!(recs.len(), 1, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_magic_zero_length_directory_and_missing_file_are_one_line_errors() {
    let dir = tmpdir("bad");
    let magic = dir.join("magic.pcap");
    let mut bytes = capture_with_tail(b"", 65_535);
    bytes[0] = 0x00;
    std::fs::write(&magic, &bytes).unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let short = dir.join("short.pcap");
    std::fs::write(&short, &bytes[1..3]).unwrap();
    let cases = [
        (magic.clone(), "unrecognised magic number 00c3b2a1"),
        (empty, "empty file"),
        (short, "not a pcap or pcapng file"),
        // A directory is read as its files: here all damaged, so the first one's error.
        (dir.clone(), "empty file"),
        (dir.join("missing.pcap"), "No such file"),
    ];
    for (p, needle) in cases {
        let (code, err, recs) = run_file(&p);
        assert_eq!(code, Some(2), "{}", p.display());
        assert!(err.contains(needle), "{}: {err}", p.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(recs.is_empty());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_fifo_is_read_as_a_stream_and_a_cut_stream_keeps_its_results() {
    let dir = tmpdir("fifo");
    let fifo = dir.join("in.pcap");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    let pkt = packet(true, 40_001, 1, "S", b"");
    let bytes = capture_with_tail(&pcap_record(1, &pkt[..10], 40, 40), 65_535);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(&bytes).unwrap();
        })
    };
    let (code, err, recs) = run_file(&fifo);
    writer.join().unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("truncated capture"), "{err}");
    assert_eq!(recs.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}
