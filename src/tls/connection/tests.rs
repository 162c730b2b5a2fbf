//! The TLS walker on hand-built record streams: outcomes, alerts (plaintext, encrypted,
//! probable, answers to a close), bulk records skipped unread, gaps, and keys.

use super::*;
use crate::tls::handshake::tests::{alpn_ext, client_hello_body, message, sni_ext};
use crate::tls::handshake::{CERTIFICATE, CLIENT_HELLO, SERVER_HELLO, SERVER_HELLO_DONE};
use crate::tls::{DecryptError, RecordDecrypter};

const C: usize = 0;
const S: usize = 1;

fn rec(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 0x03, 0x03];
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

fn client_hello(sni: &str) -> Vec<u8> {
    let body = client_hello_body(&[sni_ext(sni), alpn_ext(&["http/1.1"])]);
    rec(record::HANDSHAKE, &message(CLIENT_HELLO, &body))
}

fn server_hello(version: u16, cipher: u16) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[9u8; 32]);
    b.push(0);
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    if version == 0x0304 {
        b.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
    } else {
        b.extend_from_slice(&[0x00, 0x00]);
    }
    rec(record::HANDSHAKE, &message(SERVER_HELLO, &b))
}

/// A connection fed segment by segment: (direction, bytes) in order.
struct Wire {
    tls: TlsConnection,
    streams: [Relay; 2],
    packet: u64,
}

impl Wire {
    fn new(decrypt: bool) -> Self {
        Wire {
            tls: TlsConnection::new(decrypt),
            streams: [Relay::new(), Relay::new()],
            packet: 0,
        }
    }

    fn send(&mut self, dir: usize, bytes: &[u8]) -> &mut Self {
        self.packet += 1;
        let stream = &mut self.streams[dir];
        stream.append(
            bytes,
            self.packet,
            Timestamp(i64::try_from(self.packet).unwrap_or(0) * 1_000_000),
        );
        let peer = if dir == C { Peer::Client } else { Peer::Server };
        self.tls.process(stream, dir, peer);
        self
    }

    fn end(&mut self, ending: Ending, closer: Option<usize>) -> TlsRecord {
        self.packet += 1;
        let at = Timestamp(i64::try_from(self.packet).unwrap_or(0) * 1_000_000);
        self.tls.finish(ending, at, closer)
    }
}

fn codes(r: &TlsRecord) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn tls13_application_data_both_ways_is_a_success_and_bulk_is_not_buffered() {
    let mut w = Wire::new(false);
    w.send(C, &client_hello("chat.example"));
    let mut flight = server_hello(0x0304, 0x1301);
    flight.extend(rec(record::CHANGE_CIPHER_SPEC, &[1]));
    flight.extend(rec(record::APPLICATION_DATA, &[0; 900]));
    w.send(S, &flight);
    w.send(C, &rec(record::APPLICATION_DATA, &[0; 53])); // Finished
    w.send(C, &rec(record::APPLICATION_DATA, &[0; 300]));
    // A 16 KiB record arriving in pieces: its payload is consumed past the buffer, so the
    // stream never holds more than a header's worth.
    let big = rec(record::APPLICATION_DATA, &[0; 16000]);
    for chunk in big.chunks(1400) {
        w.send(S, chunk);
        assert!(w.streams[S].data().len() < 1400);
    }
    let r = w.end(Ending::ClientFin, Some(C));
    assert_eq!(r.outcome, TlsOutcome::ApplicationData);
    assert_eq!(r.sni.as_deref(), Some("chat.example"));
    assert_eq!(r.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(r.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(r.alpn_offered, ["http/1.1"]);
    assert!(r.encrypted_handshake && r.alpn.is_none() && r.certificate.is_none());
    assert_eq!(r.client_to_server.application_data_bytes, 305);
    assert_eq!(r.server_to_client.application_data_bytes, 16005);
    assert!(r.findings.is_empty());
}

#[test]
fn a_short_encrypted_record_then_the_client_closing_is_a_probable_alert() {
    let mut w = Wire::new(false);
    w.send(C, &client_hello("chat.example"));
    let mut flight = server_hello(0x0304, 0x1302);
    flight.extend(rec(record::APPLICATION_DATA, &[0; 800]));
    w.send(S, &flight);
    w.send(C, &rec(record::APPLICATION_DATA, &[0; 19]));
    let r = w.end(Ending::ClientFin, Some(C));
    assert_eq!(r.outcome, TlsOutcome::HandshakeFailed);
    assert_eq!(codes(&r), ["tls_probable_alert"]);
    let a = &r.alerts[0];
    assert!(a.probable && a.encrypted && a.from == Peer::Client && a.packet == 3);
    // The same record followed by the capture's end (no close) proves nothing.
    let mut w = Wire::new(false);
    w.send(C, &client_hello("chat.example"));
    w.send(S, &server_hello(0x0304, 0x1302));
    w.send(C, &rec(record::APPLICATION_DATA, &[0; 19]));
    assert_ne!(
        w.end(Ending::CaptureEnded, None).outcome,
        TlsOutcome::HandshakeFailed
    );
}

#[test]
fn plaintext_alerts_name_the_cause_and_the_side() {
    for (from, alert, code) in [
        (S, 112, "tls_unrecognized_name"),
        (S, 40, "tls_handshake_failure"),
        (S, 70, "tls_protocol_version"),
        (S, 120, "tls_no_application_protocol"),
        (C, 48, "tls_certificate_rejected"),
        (C, 42, "tls_certificate_rejected"),
        (C, 46, "tls_certificate_rejected"),
        (S, 80, "tls_alert"),
    ] {
        let mut w = Wire::new(false);
        w.send(C, &client_hello("x.example"));
        if from == C {
            w.send(S, &server_hello(0x0303, 0xc02f));
        }
        w.send(from, &rec(record::ALERT, &[2, alert]));
        let r = w.end(Ending::ServerFin, Some(from));
        assert_eq!(r.outcome, TlsOutcome::HandshakeFailed, "{code}");
        assert_eq!(codes(&r), [code]);
        assert_eq!(
            r.alerts[0].description.as_deref(),
            Some(record::alert_name(alert).as_str())
        );
    }
}

#[test]
fn an_alert_answering_the_peers_close_decides_nothing() {
    let mut w = Wire::new(false);
    w.send(C, &client_hello("x.example"));
    let mut flight = server_hello(0x0303, 0xc02f);
    flight.extend(rec(record::HANDSHAKE, &message(CERTIFICATE, &[0, 0, 0])));
    flight.extend(rec(record::HANDSHAKE, &message(SERVER_HELLO_DONE, &[])));
    w.send(S, &flight);
    // The client's FIN comes first (packet 3 time), the server's decode_error after it.
    w.packet += 1;
    w.send(S, &rec(record::ALERT, &[2, 50]));
    let r = w
        .tls
        .finish(Ending::ClientFin, Timestamp(3_000_000), Some(C));
    assert_eq!(r.outcome, TlsOutcome::Aborted);
    assert_eq!(codes(&r), ["tls_client_gave_up"]);
    assert_eq!(r.alerts.len(), 1, "still listed");
}

#[test]
fn a_server_that_hangs_up_on_the_client_hello() {
    let mut w = Wire::new(false);
    w.send(C, &client_hello("x.example"));
    let r = w.end(Ending::ServerRst, Some(S));
    assert_eq!(r.outcome, TlsOutcome::Aborted);
    assert_eq!(codes(&r), ["tls_no_server_hello"]);
    let mut w = Wire::new(false);
    w.send(C, &client_hello("x.example"));
    assert_eq!(
        w.end(Ending::CaptureEnded, None).outcome,
        TlsOutcome::Incomplete
    );
}

#[test]
fn tls12_handshake_done_without_data_and_close_notify_is_not_a_failure_cause() {
    let mut w = Wire::new(false);
    w.send(C, &client_hello("x.example"));
    w.send(S, &server_hello(0x0303, 0xc02f));
    let mut fin = rec(record::CHANGE_CIPHER_SPEC, &[1]);
    fin.extend(rec(record::HANDSHAKE, &[0; 40]));
    w.send(C, &fin);
    w.send(S, &fin);
    w.send(C, &rec(record::ALERT, &[0; 26])); // encrypted close_notify
    let r = w.end(Ending::ClientFin, Some(C));
    assert_eq!(r.outcome, TlsOutcome::ClosedBeforeData);
    assert!(r.findings.is_empty());
    assert!(r.alerts[0].encrypted && r.alerts[0].description.is_none());
}

/// Chromium's spare connection (`samples/h2tls/h2tls-chromium-*`): the client finishes the
/// handshake, sends nothing and closes without an alert. Not a failure; the same shape with
/// a byte of client data, a client alert or the server closing first still is one.
#[test]
fn a_spare_connection_the_client_closes_unused_is_no_failure() {
    let tls13 = |client_data: bool, closer: usize| {
        let mut w = Wire::new(false);
        w.send(C, &client_hello("chat.example"));
        let mut flight = server_hello(0x0304, 0x1301);
        flight.extend(rec(record::CHANGE_CIPHER_SPEC, &[1]));
        flight.extend(rec(record::APPLICATION_DATA, &[0; 700]));
        w.send(S, &flight);
        let mut fin = rec(record::CHANGE_CIPHER_SPEC, &[1]);
        fin.extend(rec(record::APPLICATION_DATA, &[0; 53])); // Finished
        w.send(C, &fin);
        if client_data {
            // A request the server never answers (curl's h2 to an HTTP/1-only server).
            w.send(C, &rec(record::APPLICATION_DATA, &[0; 90]));
        } else {
            // Two NewSessionTickets (counted as the server's data: they look like it).
            w.send(S, &rec(record::APPLICATION_DATA, &[0; 239]));
        }
        let ending = if closer == C {
            Ending::ClientFin
        } else {
            Ending::ServerFin
        };
        w.end(ending, Some(closer))
    };
    let r = tls13(false, C);
    assert_eq!(r.outcome, TlsOutcome::Unused);
    assert!(!r.outcome.is_failure() && r.findings.is_empty());
    assert_eq!(tls13(true, C).outcome, TlsOutcome::ClosedBeforeData);
    assert_eq!(tls13(false, S).outcome, TlsOutcome::ClosedBeforeData);

    // TLS 1.2 (nginx): the server even sent its HTTP/2 SETTINGS.
    let tls12 = |client_alert: bool| {
        let mut w = Wire::new(false);
        w.send(C, &client_hello("x.example"));
        w.send(S, &server_hello(0x0303, 0xc02f));
        let mut fin = rec(record::CHANGE_CIPHER_SPEC, &[1]);
        fin.extend(rec(record::HANDSHAKE, &[0; 40]));
        w.send(C, &fin);
        w.send(S, &fin);
        w.send(S, &rec(record::APPLICATION_DATA, &[0; 45]));
        if client_alert {
            w.send(C, &rec(record::ALERT, &[0; 26]));
        }
        w.end(Ending::ClientFin, Some(C))
    };
    assert_eq!(tls12(false).outcome, TlsOutcome::Unused);
    assert_eq!(tls12(true).outcome, TlsOutcome::ClosedBeforeData);
}

#[test]
fn the_record_layer_survives_garbage_gaps_and_split_headers() {
    let mut w = Wire::new(false);
    w.send(C, &client_hello("x.example"));
    w.send(S, &server_hello(0x0304, 0x1301));
    // A gap over a header: the walk resynchronises on the next application-data header.
    w.tls.gap(
        S,
        Gap {
            offset: 0,
            len: 100,
            needs_resync: true,
        },
        4,
    );
    let mut after = vec![0xaa; 7];
    after.extend(rec(record::APPLICATION_DATA, &[0; 30]));
    after.extend(rec(record::APPLICATION_DATA, &[0; 30]));
    w.send(S, &after);
    assert!(w.streams[S].data().is_empty());
    // Header split byte by byte.
    for b in rec(record::APPLICATION_DATA, &[0; 10]) {
        w.send(C, &[b]);
    }
    // Not TLS: that direction stops, nothing panics, nothing more is stored.
    w.send(C, b"GET / HTTP/1.1\r\n\r\n");
    w.send(C, &[0; 5000]);
    assert!(w.streams[C].data().is_empty());
    let r = w.end(Ending::ClientFin, Some(C));
    assert!(r.server_to_client.records >= 3);
}

/// A stand-in decrypter: the "ciphertext" is the plaintext followed by the inner type.
#[derive(Debug, Default)]
struct Clear {
    epochs: Vec<Epoch>,
}

impl RecordDecrypter for Clear {
    fn open(&mut self, _h: [u8; 5], payload: &[u8], out: &mut Vec<u8>) -> Result<u8, DecryptError> {
        let (ty, body) = payload.split_last().ok_or(DecryptError::TooShort)?;
        if *ty == 0xff {
            return Err(DecryptError::BadRecord);
        }
        out.extend_from_slice(body);
        Ok(*ty)
    }

    fn next_epoch(&mut self, epoch: Epoch) {
        self.epochs.push(epoch);
    }
}

fn sealed(ty: u8, plain: &[u8]) -> Vec<u8> {
    let mut p = plain.to_vec();
    p.push(ty);
    rec(record::APPLICATION_DATA, &p)
}

#[test]
fn with_keys_the_walk_waits_after_the_server_hello_and_plaintext_reaches_the_relay() {
    let mut w = Wire::new(true);
    w.send(C, &client_hello("x.example"));
    let mut flight = server_hello(0x0304, 0x1301);
    flight.extend(sealed(
        record::HANDSHAKE,
        &message(handshake::FINISHED, &[0; 32]),
    ));
    w.send(S, &flight);
    let request = w.tls.key_request().cloned();
    assert_eq!(
        request.as_ref().map(|r| (r.client_random, r.cipher_suite)),
        Some(([7; 32], 0x1301))
    );
    assert!(
        !w.streams[S].data().is_empty(),
        "the protected record waits for the keys"
    );
    w.tls.install_keys(KeyAnswer::Keys(SessionKeys {
        client: Box::new(Clear::default()),
        server: Box::new(Clear::default()),
        master: None,
        early: None,
    }));
    w.send(
        S,
        &sealed(
            record::APPLICATION_DATA,
            b"HTTP/1.1 101 Switching Protocols\r\n",
        ),
    );
    w.send(
        C,
        &sealed(record::HANDSHAKE, &message(handshake::FINISHED, &[0; 32])),
    );
    w.send(
        C,
        &sealed(record::APPLICATION_DATA, b"GET /chat HTTP/1.1\r\n"),
    );
    w.send(C, &rec(record::APPLICATION_DATA, &[1, 2, 0xff]));
    assert_eq!(
        w.tls.plaintext_mut()[C].data(),
        b"",
        "a failed record is a gap"
    );
    assert_eq!(w.tls.take_plaintext_gaps().len(), 1);
    assert_eq!(
        w.tls.plaintext_mut()[S].data(),
        b"HTTP/1.1 101 Switching Protocols\r\n"
    );
    let r = w.end(Ending::ClientFin, Some(C));
    assert!(r.decrypted);
    assert_eq!(r.decryption.as_deref(), Some("1 records failed to decrypt"));
    // A record that fails authentication is a finding citing the packet that carried it
    // (issue 12), not only a note in `decryption`.
    let failed: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "tls_decrypt_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", codes(&r));
    assert_eq!(failed[0].packets, [6]);
    assert!(failed[0].message.starts_with("1 TLS records failed"));
    let mut w = Wire::new(true);
    w.send(C, &client_hello("x.example"));
    w.send(S, &server_hello(0x0303, 0xc02f));
    w.tls
        .install_keys(KeyAnswer::Unsupported("TLS_RSA_WITH_RC4_128_SHA".into()));
    let r = w.end(Ending::ClientFin, Some(C));
    assert_eq!(r.decryption.as_deref(), Some("TLS_RSA_WITH_RC4_128_SHA"));
}

/// The leaf of `samples/tls/tls12-wss-python-ok.pcap` (CN=localhost, SAN localhost and
/// 127.0.0.1, valid 2026-12-01 to 2036-11-28), extracted with tshark.
const LOCALHOST_DER: &[u8] = include_bytes!("../testdata/localhost.der");

/// A TLS 1.2 server flight with `der` as its certificate, the client's hello naming `sni`,
/// captured at Unix second `secs`; `data_both_ways`: the handshake completes and data flows.
fn with_certificate(sni: &str, secs: i64, data_both_ways: bool) -> TlsRecord {
    let mut w = Wire::new(false);
    let ts = |s: i64| Timestamp(s * 1_000_000_000);
    w.streams[C].append(&client_hello(sni), 1, ts(secs));
    w.tls.process(&mut w.streams[C], C, Peer::Client);
    let mut list = Vec::new();
    let n = LOCALHOST_DER.len();
    list.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    list.extend_from_slice(LOCALHOST_DER);
    let mut body = vec![
        (list.len() >> 16) as u8,
        (list.len() >> 8) as u8,
        list.len() as u8,
    ];
    body.extend_from_slice(&list);
    let mut flight = server_hello(0x0303, 0xc02b);
    flight.extend(rec(record::HANDSHAKE, &message(CERTIFICATE, &body)));
    w.streams[S].append(&flight, 2, ts(secs));
    w.tls.process(&mut w.streams[S], S, Peer::Server);
    if data_both_ways {
        for (dir, packet) in [(C, 3), (S, 4)] {
            let mut b = rec(record::CHANGE_CIPHER_SPEC, &[1]);
            b.extend(rec(record::HANDSHAKE, &[0; 40]));
            b.extend(rec(record::APPLICATION_DATA, &[0; 100]));
            w.streams[dir].append(&b, packet, ts(secs));
            let peer = if dir == C { Peer::Client } else { Peer::Server };
            w.tls.process(&mut w.streams[dir], dir, peer);
        }
    }
    w.tls.finish(Ending::ClientFin, ts(secs + 1), Some(C))
}

#[test]
fn the_certificate_is_read_and_judged_against_the_sni_and_the_capture_time() {
    let dec_2030 = 1_922_000_000;
    let r = with_certificate("localhost", dec_2030, true);
    let cert = r
        .certificate
        .as_ref()
        .map(|c| (c.subject.as_str(), c.san.clone(), c.chain_len));
    assert_eq!(
        cert,
        Some((
            "CN=localhost",
            vec!["localhost".into(), "127.0.0.1".into()],
            1
        ))
    );
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // Another name, years after the end of validity, and the client went on anyway:
    // warnings (it checks neither).
    let year_2100 = 4_102_444_800;
    let r = with_certificate("other.example", year_2100, true);
    assert_eq!(
        codes(&r),
        ["tls_certificate_name_mismatch", "tls_certificate_expired"]
    );
    assert!(r
        .findings
        .iter()
        .all(|f| f.severity == crate::finding::Severity::Warning));
    // The same when the client then hung up: errors, and the client gave up.
    let r = with_certificate("other.example", year_2100, false);
    assert_eq!(
        codes(&r),
        [
            "tls_client_gave_up",
            "tls_certificate_name_mismatch",
            "tls_certificate_expired"
        ]
    );
    assert!(r
        .findings
        .iter()
        .all(|f| f.severity == crate::finding::Severity::Error));
}

/// A ClientHello offering 0-RTT (early_data, extension 42).
fn client_hello_early() -> Vec<u8> {
    let body = client_hello_body(&[sni_ext("x.example"), (42, Vec::new())]);
    rec(record::HANDSHAKE, &message(CLIENT_HELLO, &body))
}

/// A sealed EncryptedExtensions, with early_data when the server takes the 0-RTT data.
fn encrypted_extensions(early: bool) -> Vec<u8> {
    let body: &[u8] = if early { &[0, 4, 0, 42, 0, 0] } else { &[0, 0] };
    sealed(
        record::HANDSHAKE,
        &message(handshake::ENCRYPTED_EXTENSIONS, body),
    )
}

fn early_keys() -> KeyAnswer {
    KeyAnswer::Keys(SessionKeys {
        client: Box::new(Clear::default()),
        server: Box::new(Clear::default()),
        master: None,
        early: Some(Box::new(Clear::default())),
    })
}

#[test]
fn zero_rtt_data_is_held_until_the_server_takes_it_and_comes_first() {
    for accepted in [true, false] {
        let mut w = Wire::new(true);
        let mut first = client_hello_early();
        first.extend(sealed(record::APPLICATION_DATA, b"GET /early"));
        w.send(C, &first);
        assert!(w.tls.memory() >= 10, "the 0-RTT record is held");
        w.send(S, &server_hello(0x0304, 0x1301));
        assert_eq!(w.tls.key_request().map(|r| r.early_data), Some(true));
        w.tls.install_keys(early_keys());
        w.send(S, &encrypted_extensions(accepted));
        let want: &[u8] = if accepted { b"GET /early" } else { b"" };
        assert_eq!(
            w.tls.plaintext_mut()[C].data(),
            want,
            "accepted: {accepted}"
        );
        if accepted {
            w.send(
                C,
                &sealed(
                    record::HANDSHAKE,
                    &message(handshake::END_OF_EARLY_DATA, &[]),
                ),
            );
        }
        w.send(
            C,
            &sealed(record::HANDSHAKE, &message(handshake::FINISHED, &[0; 32])),
        );
        w.send(C, &sealed(record::APPLICATION_DATA, b" more"));
        let want: &[u8] = if accepted {
            b"GET /early more"
        } else {
            b" more"
        };
        assert_eq!(w.tls.plaintext_mut()[C].data(), want);
        assert!(w.tls.take_plaintext_gaps().is_empty());
        let r = w.end(Ending::ClientFin, Some(C));
        let said = if accepted { "accepted" } else { "rejected" };
        assert_eq!(r.early_data, Some(said));
        assert!(r.decryption.is_none(), "{:?}", r.decryption);
    }
}

#[test]
fn zero_rtt_data_past_the_bound_is_a_gap_not_memory() {
    let mut w = Wire::new(true);
    w.send(C, &client_hello_early());
    for _ in 0..40 {
        w.send(C, &sealed(record::APPLICATION_DATA, &[b'x'; 1000]));
    }
    assert!(w.tls.memory() < MAX_EARLY_HELD + 4096, "{}", w.tls.memory());
    w.send(S, &server_hello(0x0304, 0x1301));
    w.tls.install_keys(early_keys());
    w.send(S, &encrypted_extensions(true));
    assert!(w.tls.plaintext_mut()[C].data().len() <= MAX_EARLY_HELD);
    assert_eq!(w.tls.take_plaintext_gaps().len(), 1, "the rest is one gap");
    // Without keys the offer is all there is to say.
    let mut w = Wire::new(false);
    w.send(C, &client_hello_early());
    w.send(C, &rec(record::APPLICATION_DATA, &[0; 100]));
    assert!(w.tls.memory() < 1024, "nothing held without decryption");
    let r = w.end(Ending::ClientFin, Some(C));
    assert_eq!(r.early_data, Some("offered"));
}

#[test]
fn the_tail_of_a_counted_stream_is_walked_from_the_first_header_that_chains_to_its_end() {
    let records = [
        rec(record::APPLICATION_DATA, &[0x17; 40]),
        rec(record::APPLICATION_DATA, &[0x03; 7]),
        rec(record::ALERT, &[1; 26]),
    ]
    .concat();
    // The start of the first record was cut off; bytes inside its payload that look like a
    // header do not chain to the end.
    let mut tail = vec![0x17, 0x03, 0x03, 0x00, 0x02];
    tail.extend_from_slice(&records[9..]);
    assert_eq!(chain_start(&tail, 0x0303), Some(5 + 45 - 9));
    assert_eq!(chain_start(&records, 0x0303), Some(0));
    assert_eq!(chain_start(&records, 0x0301), None, "another version");
    // Cut inside the last record (the capture ended): nothing chains.
    assert_eq!(chain_start(&records[..records.len() - 1], 0x0303), None);
    assert_eq!(chain_start(&[], 0x0303), Some(0));
}

/// A ClientHello naming `sni` (none when empty) that carries an ECH extension: what Chrome
/// sends as GREASE (random contents) and a real ECH client as its outer hello look alike.
fn client_hello_with_ech(sni: &str) -> Vec<u8> {
    use crate::tls::handshake::EXT_ECH;
    let mut exts = vec![(EXT_ECH, vec![0, 0, 1, 0, 1, 0x2a, 0, 0x20])];
    if !sni.is_empty() {
        exts.push(sni_ext(sni));
    }
    rec(
        record::HANDSHAKE,
        &message(CLIENT_HELLO, &client_hello_body(&exts)),
    )
}

/// A TLS 1.3 HelloRetryRequest, with the ECH acceptance confirmation when `ech`.
fn hello_retry(ech: bool) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8,
        0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8,
        0x33, 0x9C,
    ]);
    b.extend_from_slice(&[0, 0x13, 0x01, 0]);
    let mut exts = vec![0x00, 0x2b, 0x00, 0x02, 0x03, 0x04];
    if ech {
        exts.extend_from_slice(&[0xfe, 0x0d, 0x00, 0x08]);
        exts.extend_from_slice(&[0x5a; 8]);
    }
    b.extend_from_slice(&u16::try_from(exts.len()).unwrap_or(0).to_be_bytes());
    b.extend_from_slice(&exts);
    rec(record::HANDSHAKE, &message(SERVER_HELLO, &b))
}

#[test]
fn an_ech_extension_hides_a_name_only_as_far_as_the_connection_shows() {
    let ech = |hello: &[u8], server: &[Vec<u8>]| -> (bool, Option<&'static str>) {
        let mut w = Wire::new(false);
        w.send(C, hello);
        for s in server {
            w.send(S, s);
        }
        let r = w.end(Ending::ClientFin, Some(C));
        (r.ech, r.ech_verdict)
    };
    // TLS 1.3 without keys: a real ECH (the public name in the SNI) and a GREASE one (the
    // real name) cannot be told apart.
    assert_eq!(
        ech(
            &client_hello_with_ech("public.example"),
            &[server_hello(0x0304, 0x1301)]
        ),
        (true, Some("undetermined"))
    );
    // No SNI at all: a real ECH always names its public name, so this is GREASE (what
    // Chromium sends to 127.0.0.1, as in samples/h2tls/h2tls-chromium-*.pcap).
    assert_eq!(
        ech(&client_hello_with_ech(""), &[server_hello(0x0304, 0x1301)]),
        (true, Some("not_hidden"))
    );
    // The server answered TLS 1.2, which has no ECH: the SNI is the name it serves.
    assert_eq!(
        ech(
            &client_hello_with_ech("chat.example"),
            &[server_hello(0x0303, 0xc02f)]
        ),
        (true, Some("not_hidden"))
    );
    // A HelloRetryRequest with the ECH confirmation: the server accepted it (it never
    // confirms a GREASE ECH, which it cannot decrypt).
    assert_eq!(
        ech(
            &client_hello_with_ech("public.example"),
            &[hello_retry(true), server_hello(0x0304, 0x1301)]
        ),
        (true, Some("hidden"))
    );
    assert_eq!(
        ech(
            &client_hello_with_ech("public.example"),
            &[hello_retry(false), server_hello(0x0304, 0x1301)]
        ),
        (true, Some("undetermined"))
    );
    assert_eq!(
        ech(
            &client_hello("chat.example"),
            &[server_hello(0x0304, 0x1301)]
        ),
        (false, None)
    );
}

#[test]
fn retry_configs_in_the_decrypted_encrypted_extensions_mean_the_ech_was_not_used() {
    use crate::tls::handshake::EXT_ECH;
    let mut body = Vec::new();
    let retry = [0u8; 12];
    let mut exts = EXT_ECH.to_be_bytes().to_vec();
    exts.extend_from_slice(&u16::try_from(retry.len()).unwrap_or(0).to_be_bytes());
    exts.extend_from_slice(&retry);
    body.extend_from_slice(&u16::try_from(exts.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&exts);
    let (_, _, retry_configs) = super::encrypted_extensions(&body);
    assert!(retry_configs);
    let (_, _, none) = super::encrypted_extensions(&[0, 0]);
    assert!(!none);
    let hello = crate::tls::handshake::parse_client_hello(&client_hello_body(&[
        (EXT_ECH, vec![0; 8]),
        sni_ext("public.example"),
    ]))
    .unwrap_or_default();
    assert_eq!(
        ech_verdict(&hello, None, Some(false), None),
        Some("not_hidden")
    );
    assert_eq!(ech_verdict(&hello, None, None, None), Some("undetermined"));
}
