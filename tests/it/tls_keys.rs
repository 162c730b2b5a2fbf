//! TLS decryption with real peers' key logs (issue 12): `samples/tls-suites/` holds one
//! loopback session per cipher suite, recorded by `samples/gen/tls-suites.sh` (openssl
//! s_server answering curl or s_client, TLS 1.2 and 1.3, a KeyUpdate, CBC with and without
//! encrypt-then-MAC) with the key log the client wrote. Each is reassembled here, its
//! records walked and decrypted with `wssniff::tls`, and the plaintext checked (the HTTP
//! request line, the response, the close_notify alerts) and compared byte for byte with what
//! tshark decrypts from the same files (`-o tls.keylog_file:…`, when tshark is installed).
//! Also: keys from a pcapng Decryption Secrets Block, and the `--keylog` flag's errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use wssniff::capture::{FileSource, Record, SecretsKind};
use wssniff::decode;
use wssniff::tls::decrypt::{ContentType, DirectionDecrypter, SessionDecrypters};
use wssniff::tls::keylog::KeyLog;

use crate::packet::pcapng;
use crate::util::*;

fn suites_dir() -> PathBuf {
    root().join("samples/tls-suites")
}

/// Both directions' TCP payload in order, and the texts of any Decryption Secrets Blocks.
struct Capture {
    client_port: u16,
    client: Vec<u8>,
    server: Vec<u8>,
    secrets: Vec<Vec<u8>>,
}

/// Reassembles the one TCP connection of a loopback capture (no loss, no reordering there;
/// a retransmission is dropped by sequence number).
fn read_capture(path: &Path) -> Capture {
    let mut source = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut cap = Capture {
        client_port: 0,
        client: Vec::new(),
        server: Vec::new(),
        secrets: Vec::new(),
    };
    let mut client_port = None;
    let mut next: [Option<u32>; 2] = [None, None];
    let read = source.for_each_record(|record| {
        match record {
            Record::Secrets(s) => {
                assert_eq!(s.kind, SecretsKind::TlsKeyLog);
                cap.secrets.push(s.data.to_vec());
            }
            Record::Packet(p) => {
                let Ok(seg) = decode::decode(p) else {
                    return std::ops::ControlFlow::Continue(());
                };
                if seg.flags.syn && !seg.flags.ack {
                    client_port = Some(seg.src_port);
                }
                let dir = usize::from(Some(seg.src_port) != client_port);
                if seg.flags.syn {
                    next[dir] = Some(seg.seq.wrapping_add(1));
                    return std::ops::ControlFlow::Continue(());
                }
                if !seg.payload.is_empty() && next[dir] == Some(seg.seq) {
                    next[dir] = Some(seg.seq.wrapping_add(seg.payload.len() as u32));
                    let out = if dir == 0 {
                        &mut cap.client
                    } else {
                        &mut cap.server
                    };
                    out.extend_from_slice(seg.payload);
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    assert!(read.error.is_none(), "{:?}", read.error);
    cap.client_port = client_port.unwrap();
    cap
}

/// TLS records (header, fragment) of one direction.
fn records(stream: &[u8]) -> Vec<([u8; 5], Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 5 <= stream.len() {
        let header: [u8; 5] = stream[at..at + 5].try_into().unwrap();
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let Some(fragment) = stream.get(at + 5..at + 5 + len) else {
            break;
        };
        out.push((header, fragment.to_vec()));
        at += 5 + len;
    }
    out
}

/// What the hellos negotiated.
struct Hello {
    client_random: [u8; 32],
    server_random: [u8; 32],
    version: u16,
    suite: u16,
    encrypt_then_mac: bool,
}

fn hello(client: &[([u8; 5], Vec<u8>)], server: &[([u8; 5], Vec<u8>)]) -> Hello {
    let ch = &client[0].1;
    assert_eq!((client[0].0[0], ch[0]), (22, 1), "ClientHello first");
    let sh = &server[0].1;
    assert_eq!((server[0].0[0], sh[0]), (22, 2), "ServerHello first");
    let mut version = u16::from_be_bytes([sh[4], sh[5]]);
    let sid = usize::from(sh[38]);
    let suite = u16::from_be_bytes([sh[39 + sid], sh[40 + sid]]);
    let mut at = 39 + sid + 2 + 1 + 2;
    let mut encrypt_then_mac = false;
    let sh_end = 4 + (usize::from(sh[1]) << 16 | usize::from(sh[2]) << 8 | usize::from(sh[3]));
    while at + 4 <= sh_end {
        let kind = u16::from_be_bytes([sh[at], sh[at + 1]]);
        let len = usize::from(u16::from_be_bytes([sh[at + 2], sh[at + 3]]));
        match kind {
            // supported_versions (RFC 8446 §4.2.1): the version actually negotiated.
            0x002b => version = u16::from_be_bytes([sh[at + 4], sh[at + 5]]),
            // encrypt_then_mac (RFC 7366).
            0x0016 => encrypt_then_mac = true,
            _ => {}
        }
        at += 4 + len;
    }
    Hello {
        client_random: ch[6..38].try_into().unwrap(),
        server_random: sh[6..38].try_into().unwrap(),
        version,
        suite,
        encrypt_then_mac,
    }
}

/// What one direction's decryption yielded.
#[derive(Default, Debug)]
struct Plain {
    application: Vec<u8>,
    alerts: Vec<Vec<u8>>,
    handshake_types: Vec<u8>,
    records: usize,
}

/// Decrypts one direction's protected records, following its epochs (TLS 1.3: handshake
/// keys until its Finished, KeyUpdate after a KeyUpdate message; TLS 1.2: after its CCS).
fn decrypt_direction(
    recs: &[([u8; 5], Vec<u8>)],
    dir: &mut DirectionDecrypter,
    tls13: bool,
) -> Plain {
    let mut plain = Plain::default();
    let mut protected = false;
    for (header, fragment) in recs {
        match header[0] {
            20 => {
                // ChangeCipherSpec: TLS 1.2 starts protecting here; in 1.3 it is a no-op.
                protected |= !tls13;
                continue;
            }
            23 if tls13 => protected = true,
            _ => {}
        }
        if !protected {
            continue;
        }
        let mut out = Vec::new();
        let t = dir
            .open(*header, fragment, &mut out)
            .unwrap_or_else(|e| panic!("record {} of this direction: {e}", plain.records));
        plain.records += 1;
        match t {
            ContentType::APPLICATION_DATA => plain.application.extend_from_slice(&out),
            ContentType::ALERT => plain.alerts.push(out),
            ContentType::HANDSHAKE => {
                let mut at = 0;
                while at + 4 <= out.len() {
                    let kind = out[at];
                    plain.handshake_types.push(kind);
                    let len = usize::from(out[at + 1]) << 16
                        | usize::from(out[at + 2]) << 8
                        | usize::from(out[at + 3]);
                    at += 4 + len;
                    match kind {
                        20 if tls13 => dir.to_application().unwrap(),
                        24 => dir.key_update().unwrap(),
                        _ => {}
                    }
                }
            }
            other => panic!("unexpected content type {other:?}"),
        }
    }
    plain
}

/// Decrypts a whole capture with the key log `keys`.
fn decrypt(cap: &Capture, log: &KeyLog) -> (Hello, Plain, Plain) {
    let client = records(&cap.client);
    let server = records(&cap.server);
    let h = hello(&client, &server);
    let mut session = SessionDecrypters::from_key_log(
        log,
        h.version,
        h.suite,
        &h.client_random,
        &h.server_random,
        h.encrypt_then_mac,
    )
    .unwrap();
    let tls13 = h.version == 0x0304;
    let c = decrypt_direction(&client, &mut session.client, tls13);
    let s = decrypt_direction(&server, &mut session.server, tls13);
    (h, c, s)
}

fn key_log(path: &Path) -> KeyLog {
    let mut log = KeyLog::default();
    let errors = log.add_text(&std::fs::read(path).unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    log
}

/// tshark's decryption of the same capture: (client bytes, server bytes), or `None`
/// without tshark.
fn tshark_plaintext(pcap: &Path, keys: &Path, client_port: u16) -> Option<(Vec<u8>, Vec<u8>)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keys.display()))
        .args(["-q", "-z", "follow,tls,raw,0"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut client, mut server) = (Vec::new(), Vec::new());
    // Node 0 sent the first decrypted bytes tshark saw, which is not always the client.
    let node0_is_client = text
        .lines()
        .find_map(|l| l.strip_prefix("Node 0: "))
        .is_some_and(|n| n.ends_with(&format!(":{client_port}")));
    for line in text.lines() {
        let (dst, hex) = match line.strip_prefix('\t') {
            Some(h) => (&mut server, h),
            None => (&mut client, line),
        };
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        for i in (0..hex.len()).step_by(2) {
            dst.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        }
    }
    if node0_is_client {
        Some((client, server))
    } else {
        Some((server, client))
    }
}

const CASES: &[(&str, u16, u16)] = &[
    ("tls13-aes128gcm", 0x0304, 0x1301),
    ("tls13-aes256gcm", 0x0304, 0x1302),
    ("tls13-chacha20", 0x0304, 0x1303),
    ("tls13-keyupdate", 0x0304, 0x1301),
    ("tls12-ecdhe-aes128gcm", 0x0303, 0xc02f),
    ("tls12-ecdhe-aes256gcm", 0x0303, 0xc030),
    ("tls12-ecdhe-chacha20", 0x0303, 0xcca8),
    ("tls12-rsa-aes128gcm", 0x0303, 0x009c),
    ("tls12-ecdhe-aes128cbc-sha-etm", 0x0303, 0xc013),
    ("tls12-ecdhe-aes128cbc-sha-noetm", 0x0303, 0xc013),
    ("tls12-rsa-aes256cbc-sha256-noetm", 0x0303, 0x003d),
    ("tls12-ecdhe-aes256cbc-sha384-etm", 0x0303, 0xc028),
];

#[test]
fn real_peers_sessions_decrypt_for_every_suite() {
    let mut tshark_checked = 0;
    for &(name, version, suite) in CASES {
        let dir = suites_dir();
        let pcap = dir.join(format!("{name}.pcap"));
        let keys = dir.join(format!("{name}.keys"));
        let cap = read_capture(&pcap);
        let (h, c, s) = decrypt(&cap, &key_log(&keys));
        assert_eq!((h.version, h.suite), (version, suite), "{name}");
        assert_eq!(h.encrypt_then_mac, name.ends_with("-etm"), "{name}");
        assert!(
            c.application.starts_with(b"GET / HTTP/1."),
            "{name}: {:?}",
            String::from_utf8_lossy(&c.application)
        );
        assert!(
            s.application.starts_with(b"HTTP/1.0 200 ok\r\n"),
            "{name}: {:?}",
            String::from_utf8_lossy(&s.application)
        );
        assert!(
            s.application.ends_with(b"</HTML>\r\n\r\n") || s.application.ends_with(b"</HTML>\r\n"),
            "{name}: the whole status page"
        );
        // Finished from each side, decrypted (TLS 1.3 servers: EE, Certificate, CV, too).
        assert!(
            c.handshake_types.contains(&20) && s.handshake_types.contains(&20),
            "{name}"
        );
        assert!(
            s.alerts.iter().chain(&c.alerts).any(|a| a == &[1, 0]),
            "{name}: a close_notify"
        );
        if name == "tls13-keyupdate" {
            assert_eq!(
                c.handshake_types.iter().filter(|&&t| t == 24).count(),
                1,
                "client KeyUpdate"
            );
            assert_eq!(
                s.handshake_types.iter().filter(|&&t| t == 24).count(),
                1,
                "server KeyUpdate (update_requested)"
            );
        }
        if let Some((tc, ts)) = tshark_plaintext(&pcap, &keys, cap.client_port) {
            assert_eq!(
                tc, c.application,
                "{name}: client bytes as tshark decrypts them"
            );
            assert_eq!(
                ts, s.application,
                "{name}: server bytes as tshark decrypts them"
            );
            tshark_checked += 1;
        }
    }
    if tshark_checked == 0 {
        // CI installs tshark (scripts/setup-debian): there the cross-check must have run.
        assert!(
            !crate::util::under_ci(),
            "CI=true but tshark did not decrypt any session: the cross-check did not run"
        );
        eprintln!("tshark not installed: decryption not cross-checked against it");
    }
}

#[test]
fn a_pcapng_carries_its_own_keys_in_a_decryption_secrets_block() {
    let dir = suites_dir();
    let cap = read_capture(&dir.join("tls13-aes128gcm-dsb.pcapng"));
    assert_eq!(cap.secrets.len(), 1, "editcap wrote one block");
    let keys = std::fs::read(dir.join("tls13-aes128gcm.keys")).unwrap();
    assert_eq!(
        cap.secrets[0], keys,
        "the block holds the key log as injected"
    );
    let mut log = KeyLog::default();
    assert!(log.add_text(&cap.secrets[0]).is_empty());
    let (_, c, _) = decrypt(&cap, &log);
    assert!(c.application.starts_with(b"GET / HTTP/1.1\r\n"));
}

#[test]
fn a_decryption_secrets_block_comes_before_the_packets_and_is_cut_to_its_length() {
    // SHB, DSB (secrets_len 5, padded to 8), IDB, one packet.
    let mut body = 0x544c_534bu32.to_le_bytes().to_vec();
    body.extend_from_slice(&5u32.to_le_bytes());
    body.extend_from_slice(b"hello\0\0\0");
    let mut file = pcapng::section_header();
    file.extend(pcapng::block(0x0000_000a, &body));
    file.extend(pcapng::interface(1, 65535));
    file.extend(pcapng::enhanced_packet(0, 1, &[0u8; 60]));
    let mut source =
        FileSource::from_reader("dsb", Box::new(std::io::Cursor::new(file.clone()))).unwrap();
    let mut seen = Vec::new();
    let summary = source.for_each_record(|r| {
        seen.push(match r {
            Record::Secrets(s) => format!(
                "{:?} {:?} after {}",
                s.kind,
                String::from_utf8_lossy(s.data),
                s.after_packet
            ),
            Record::Packet(p) => format!("packet {}", p.number),
        });
        std::ops::ControlFlow::Continue(())
    });
    assert!(summary.error.is_none());
    assert_eq!(seen, ["TlsKeyLog \"hello\" after 0", "packet 1"]);
    // for_each_packet hands over only the packet.
    let mut source = FileSource::from_reader("dsb", Box::new(std::io::Cursor::new(file))).unwrap();
    let mut packets = 0;
    source.for_each_packet(|_| {
        packets += 1;
        std::ops::ControlFlow::Continue(())
    });
    assert_eq!(packets, 1);
}

#[test]
fn keylog_flag_reports_malformed_lines_by_number_and_never_echoes_secrets() {
    let dir = std::env::temp_dir().join(format!("wssniff-tls-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys.txt");
    let secret = "5ec2e75ec2e7".repeat(8);
    std::fs::write(
        &keys,
        format!(
            "CLIENT_RANDOM {} {secret}\nCLIENT_RANDOM zz {secret}\nEXPORTER_SECRET {} {secret}\n",
            "00".repeat(32),
            "00".repeat(32)
        ),
    )
    .unwrap();
    let pcap = sample("pcapng-ok.pcapng");
    let out = wssniff(&[
        "-r",
        pcap.to_str().unwrap(),
        "--keylog",
        keys.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "key log {} line 2: the client random is 2 characters, expected 64 hex digits",
            keys.display()
        )),
        "{err}"
    );
    assert!(!err.contains("line 1") && !err.contains("line 3"), "{err}");
    let all = format!("{}{err}", stdout(&out));
    assert!(!all.contains("5ec2e7"), "a secret was echoed: {all}");
    // JSON: a notice record with the same message.
    let out = wssniff(&[
        "-r",
        pcap.to_str().unwrap(),
        "--json",
        "--keylog",
        keys.to_str().unwrap(),
    ]);
    assert!(stdout(&out).contains("\"code\":\"keylog_malformed\""));
    // A missing file is a usage error naming it.
    let out = wssniff(&[
        "-r",
        pcap.to_str().unwrap(),
        "--keylog",
        "/nonexistent/keys.txt",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--keylog /nonexistent/keys.txt: "),
        "{}",
        stderr(&out)
    );
    let out = wssniff(&["-r", pcap.to_str().unwrap(), "--keylog-max-sessions", "0"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// `gencap --wss` (the input of `scripts/bench --tls-pipeline`) at a small size: every
/// session decrypts with the key log it wrote, each suite of the rotation appears, every
/// upgrade is visible to the handshake analysis (ok ones carry frames), and tshark agrees on
/// the number of upgrade requests and 101 responses it decrypts from the same files.
#[test]
fn the_benchmark_wss_capture_decrypts_to_ok_handshakes() {
    let dir = std::env::temp_dir().join(format!("wssniff-gencap-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cap, keys) = (dir.join("wss.pcap"), dir.join("wss.keys"));
    crate::gencap::generate(&crate::gencap::Args {
        out: cap.to_str().unwrap().into(),
        wss: Some(keys.to_str().unwrap().into()),
        size: 1 << 20,
        concurrent: 8,
        wss_bulk: 16 * 1024,
        ..Default::default()
    });
    let keylog = keys.to_str().unwrap();
    let all = all_records(&cap, &["--keylog", keylog]);
    let of = |ty: &str| -> Vec<serde_json::Value> {
        all.iter().filter(|r| r["type"] == ty).cloned().collect()
    };
    let (tls, handshakes) = (of("tls"), of("handshake"));
    assert!(tls.len() >= 10, "{} TLS connections", tls.len());
    assert_eq!(
        handshakes.len(),
        tls.len(),
        "one upgrade per TLS connection"
    );
    for t in &tls {
        assert_eq!(t["decrypted"], true, "{t}");
        assert_eq!(t["decryption"], serde_json::Value::Null, "{t}");
        // gencap's "no response at all" upgrade: the server never sends application data.
        let silent = t["server_to_client"]["application_data_bytes"] == 0;
        let outcome = if silent {
            "closed_before_data"
        } else {
            "application_data"
        };
        assert_eq!(t["outcome"], outcome, "{t}");
        assert_eq!(t["alpn"], "http/1.1", "{t}");
    }
    let mut ciphers: Vec<&str> = tls.iter().filter_map(|t| t["cipher"].as_str()).collect();
    ciphers.sort_unstable();
    ciphers.dedup();
    assert_eq!(
        ciphers,
        [
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ]
    );
    let ok = handshakes.iter().filter(|h| h["verdict"] == "ok").count();
    assert!(ok * 2 > handshakes.len(), "{ok} of {} ok", handshakes.len());
    let connections = of("connection");
    assert_eq!(connections.len(), ok, "every ok upgrade carries frames");
    for c in &connections {
        assert!(
            c["server_to_client"]["binary_bytes"].as_u64().unwrap() > 0,
            "{c}"
        );
    }
    if let Some(count) = tshark_count(&cap, keylog, "http.request") {
        assert_eq!(
            count,
            handshakes.len(),
            "tshark decrypts every upgrade request"
        );
        let ok_or_wrong_accept = handshakes.iter().filter(|h| h["status"] == 101).count();
        assert_eq!(
            tshark_count(&cap, keylog, "http.response.code == 101"),
            Some(ok_or_wrong_accept)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Packets tshark shows for `filter` with the key log, or `None` without tshark.
fn tshark_count(cap: &Path, keylog: &str, filter: &str) -> Option<usize> {
    let out = Command::new("tshark")
        .args(["-n", "-r", cap.to_str().unwrap()])
        .args(["-o", &format!("tls.keylog_file:{keylog}"), "-Y", filter])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).lines().count())
}

/// The capture `path` rewritten as a pcapng whose first block after the interface is a
/// Decryption Secrets Block holding `keys` (what `editcap --inject-secrets` writes).
fn with_secrets_block(path: &Path, keys: &str) -> Vec<u8> {
    let mut source = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut packets = Vec::new();
    let mut linktype = 1;
    let read = source.for_each_record(|record| {
        if let Record::Packet(p) = record {
            linktype = u16::try_from(p.linktype.0).unwrap();
            let micros = u64::try_from(p.ts.0 / 1_000).unwrap();
            packets.push(pcapng::enhanced_packet(0, micros, p.data));
        }
        std::ops::ControlFlow::Continue(())
    });
    assert!(read.error.is_none());
    let mut body = 0x544c_534bu32.to_le_bytes().to_vec();
    body.extend_from_slice(&u32::try_from(keys.len()).unwrap().to_le_bytes());
    body.extend_from_slice(keys.as_bytes());
    let mut file = pcapng::section_header();
    file.extend(pcapng::interface(linktype, 65535));
    file.extend(pcapng::block(0x0000_000a, &body));
    for p in packets {
        file.extend(p);
    }
    file
}

#[test]
fn decryption_says_nothing_without_key_material_and_names_the_missing_session_with_it() {
    let pcap = sample("tls/tls13-wss-python-ok.pcap");
    let tls = |recs: Vec<serde_json::Value>| -> serde_json::Value {
        let t: Vec<_> = recs.into_iter().filter(|r| r["type"] == "tls").collect();
        assert_eq!(t.len(), 1);
        t[0].clone()
    };
    // No --keylog and no Decryption Secrets Block: the engine still asks its key store (a
    // file may carry blocks), but a user gave no keys, so the record says nothing.
    for threads in ["1", "2"] {
        let without = tls(all_records(&pcap, &["--threads", threads]));
        assert_eq!(without["decrypted"], false);
        assert!(without["decryption"].is_null(), "{without}");
    }
    // The same packets in a pcapng whose block holds another session's keys: there was key
    // material, and it had nothing for this session.
    let dir = std::env::temp_dir().join(format!("wssniff-dsb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let other = format!("CLIENT_RANDOM {} {}\n", "01".repeat(32), "ab".repeat(48));
    let dsb = dir.join("other-session.pcapng");
    std::fs::write(&dsb, with_secrets_block(&pcap, &other)).unwrap();
    for threads in ["1", "2"] {
        let with = tls(all_records(&dsb, &["--threads", threads]));
        assert_eq!(with["decrypted"], false);
        assert_eq!(
            with["decryption"], "the key log has no secrets for this session",
            "{with}"
        );
    }
    // And an empty --keylog file: the user gave a key log, which lacked this session.
    let empty = dir.join("empty.keys");
    std::fs::write(&empty, "").unwrap();
    let with = tls(all_records(&pcap, &["--keylog", empty.to_str().unwrap()]));
    assert_eq!(
        with["decryption"],
        "the key log has no secrets for this session"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
