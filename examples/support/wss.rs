//! wss:// sessions for the whole-pipeline TLS benchmark (issue 12): the hello exchange of a
//! TLS 1.3 or TLS 1.2 (ECDHE, AES-GCM) connection, records sealed with
//! `wssniff::tls::decrypt::testing::RecordEncrypter` (RustCrypto underneath, no hand-written
//! crypto), and the NSS key log lines that decrypt them. `examples/gencap.rs --wss KEYLOG`
//! wraps its WebSocket connections in these; `tests/it/tls_keys.rs` builds a small capture
//! from them and checks that wssniff decrypts it to ok handshakes, so the generator cannot
//! rot. Test tooling: the secrets are random bytes, no key exchange happens, and the
//! Finished messages are not real MACs (neither wssniff nor tshark checks them).

use wssniff::tls::decrypt::testing::RecordEncrypter;
use wssniff::tls::decrypt::ContentType;
use wssniff::tls::keyschedule::tls12_key_block;
use wssniff::tls::suite::{Suite, Version};

/// The suites sessions rotate through: TLS 1.3 AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305,
/// TLS 1.2 ECDHE-RSA AES-128-GCM and AES-256-GCM.
pub const SUITES: &[u16] = &[0x1301, 0x1302, 0x1303, 0xc02f, 0xc030];

/// Largest plaintext per record (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;

/// One session's two senders: index 0 the client, 1 the server.
pub struct WssSession {
    enc: [RecordEncrypter; 2],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn record(content_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0x03, 0x03];
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut e = kind.to_be_bytes().to_vec();
    e.extend_from_slice(&(body.len() as u16).to_be_bytes());
    e.extend_from_slice(body);
    e
}

fn alpn_http11() -> Vec<u8> {
    extension(
        0x0010,
        &[
            0x00, 0x09, 0x08, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    )
}

fn client_hello(random: &[u8; 32], session_id: &[u8; 32], sni: &str, tls13: bool) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(random);
    b.push(32);
    b.extend_from_slice(session_id);
    let suites: Vec<u8> = SUITES.iter().flat_map(|s| s.to_be_bytes()).collect();
    b.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    b.extend_from_slice(&suites);
    b.extend_from_slice(&[1, 0]);
    let mut exts = Vec::new();
    let mut name = vec![0];
    name.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    name.extend_from_slice(sni.as_bytes());
    let mut list = (name.len() as u16).to_be_bytes().to_vec();
    list.extend_from_slice(&name);
    exts.extend(extension(0x0000, &list));
    exts.extend(alpn_http11());
    exts.extend(extension(0x000a, &[0x00, 0x02, 0x00, 0x1d])); // supported_groups: x25519
    if tls13 {
        exts.extend(extension(0x002b, &[0x04, 0x03, 0x04, 0x03, 0x03]));
        let mut share = vec![0x00, 0x24, 0x00, 0x1d, 0x00, 0x20];
        share.extend_from_slice(&[0x11; 32]);
        exts.extend(extension(0x0033, &share));
    }
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &message(1, &b))
}

fn server_hello(random: &[u8; 32], session_id: &[u8; 32], suite: u16, tls13: bool) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(random);
    b.push(32);
    b.extend_from_slice(session_id);
    b.extend_from_slice(&suite.to_be_bytes());
    b.push(0);
    let exts = if tls13 {
        let mut share = vec![0x00, 0x1d, 0x00, 0x20];
        share.extend_from_slice(&[0x22; 32]);
        let mut e = extension(0x002b, &[0x03, 0x04]);
        e.extend(extension(0x0033, &share));
        e
    } else {
        alpn_http11()
    };
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &message(2, &b))
}

impl WssSession {
    /// Starts a session with `suite` (one of [`SUITES`]) to `sni`, drawing its randoms and
    /// secrets from `random`. Returns the handshake flights in order as (direction, bytes),
    /// direction 0 from the client, the key log lines for the session, and the session,
    /// ready for application data.
    ///
    /// # Panics
    /// On a suite wssniff does not support (a bug in the caller: use [`SUITES`]).
    pub fn start(
        suite_id: u16,
        sni: &str,
        random: &mut dyn FnMut() -> u64,
    ) -> (Vec<(u8, Vec<u8>)>, String, WssSession) {
        let suite = Suite::from_id(suite_id).unwrap_or_else(|_| panic!("suite {suite_id:#06x}"));
        let mut fill = |out: &mut [u8]| {
            for chunk in out.chunks_mut(8) {
                let v = random().to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
        };
        let (mut cr, mut sr, mut sid) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        fill(&mut cr);
        fill(&mut sr);
        fill(&mut sid);
        let ccs = record(20, &[1]);
        let mut flights = Vec::new();
        let mut keylog = String::new();
        let tls13 = suite.version == Version::Tls13;
        flights.push((0, client_hello(&cr, &sid, sni, tls13)));
        let enc = if tls13 {
            let n = suite.hash.output_len();
            let mut secrets = [[0u8; 48]; 4];
            for s in &mut secrets {
                fill(&mut s[..n]);
            }
            for (label, s) in [
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0",
                "SERVER_TRAFFIC_SECRET_0",
            ]
            .iter()
            .zip(&secrets)
            {
                keylog.push_str(&format!("{label} {} {}\n", hex(&cr), hex(&s[..n])));
            }
            let keys = |s: &[u8; 48]| RecordEncrypter::tls13(suite, &s[..n]).expect("keys");
            let (mut client_hs, mut server_hs) = (keys(&secrets[0]), keys(&secrets[1]));
            let mut flight = server_hello(&sr, &sid, suite_id, true);
            flight.extend_from_slice(&ccs);
            let mut encrypted = message(8, &[&[0x00, 0x0b][..], &alpn_http11()].concat());
            encrypted.extend(message(20, &vec![0x5a; n]));
            flight.extend(
                server_hs
                    .seal(ContentType::HANDSHAKE, &encrypted)
                    .expect("seal"),
            );
            flights.push((1, flight));
            let mut flight = ccs.clone();
            let finished = message(20, &vec![0xa5; n]);
            flight.extend(
                client_hs
                    .seal(ContentType::HANDSHAKE, &finished)
                    .expect("seal"),
            );
            flights.push((0, flight));
            [keys(&secrets[2]), keys(&secrets[3])]
        } else {
            let mut master = [0u8; 48];
            fill(&mut master);
            keylog.push_str(&format!("CLIENT_RANDOM {} {}\n", hex(&cr), hex(&master)));
            let kb = tls12_key_block(&suite, &master, &cr, &sr).expect("key block");
            let mut client = RecordEncrypter::tls12(suite, &kb.client, false);
            let mut server = RecordEncrypter::tls12(suite, &kb.server, false);
            let mut flight = server_hello(&sr, &sid, suite_id, false);
            flight.extend(record(22, &message(14, &[])));
            flights.push((1, flight));
            let mut kex = vec![32];
            kex.extend_from_slice(&[0x33; 32]);
            let mut flight = record(22, &message(16, &kex));
            flight.extend_from_slice(&ccs);
            let finished = message(20, &[0xa5; 12]);
            flight.extend(
                client
                    .seal(ContentType::HANDSHAKE, &finished)
                    .expect("seal"),
            );
            flights.push((0, flight));
            let mut flight = ccs;
            let finished = message(20, &[0x5a; 12]);
            flight.extend(
                server
                    .seal(ContentType::HANDSHAKE, &finished)
                    .expect("seal"),
            );
            flights.push((1, flight));
            [client, server]
        };
        (flights, keylog, WssSession { enc })
    }

    /// `plaintext` from `dir` (0 client, 1 server) as application-data records of at most
    /// 16 KiB each.
    pub fn seal(&mut self, dir: u8, plaintext: &[u8]) -> Vec<u8> {
        let enc = &mut self.enc[usize::from(dir)];
        let mut out = Vec::with_capacity(plaintext.len() + 64);
        for chunk in plaintext.chunks(MAX_FRAGMENT) {
            out.extend(
                enc.seal(ContentType::APPLICATION_DATA, chunk)
                    .expect("seal"),
            );
        }
        out
    }

    /// A sealed close_notify alert from `dir`, as a peer sends before closing.
    pub fn close_notify(&mut self, dir: u8) -> Vec<u8> {
        self.enc[usize::from(dir)]
            .seal(ContentType::ALERT, &[1, 0])
            .expect("seal")
    }
}
