//! Writes a large, realistic, deterministic classic pcap for benchmarking wssniff.
//!
//! ```text
//! cargo run --release --example gencap -- --out /tmp/bench.pcap --size 300M [--seed 1]
//!     [--mix ws=50,http=35,tls=15] [--concurrent 2000] [--syn-flood 0] [--reorder 2] [--retrans 1]
//! cargo run --release --example gencap -- --out /tmp/heads.pcap --adversarial heads
//!     [--connections N] [--amount N]
//! ```
//!
//! `--adversarial heads|window|pipeline|dribble|tls|h2|hpack` writes one of the memory-budget attack
//! shapes instead (`fuzz/src/adversarial.rs`: heads that never end, huge out-of-order
//! windows, pipelined-request floods, one-byte dribbles; raw IPv4), with the shape's default
//! scale unless `--connections` / `--amount` say otherwise. `--adversarial
//! wss-records|wss-heads|wss-window --wss KEYLOG` writes a keyed one
//! (examples/support/wss_attack.rs: records that never complete, decrypted heads that never
//! end, out-of-order windows of records) and the key log that decrypts its sessions.
//!
//! The capture interleaves `--concurrent` live TCP connections (valid three-way handshakes,
//! seq/ack numbers, FIN teardown), so reassembly and flow tracking do real work:
//!
//! * `ws`: a WebSocket upgrade of every outcome (101 with a correct accept followed by small
//!   masked/unmasked frames and a close handshake; 101 with a wrong accept; 403; 426; 200 from
//!   a proxy that stripped `Upgrade`; 502; no response at all);
//! * `http`: keep-alive HTTP/1.1, several requests each, `Content-Length` and chunked bodies;
//! * `tls`: a bulk TLS-looking transfer (records starting 0x17 0x03 0x03) carrying most bytes.
//!
//! `--wss KEYLOG` writes wss:// instead: every connection is a WebSocket upgrade (the `ws`
//! outcomes above) inside TLS on port 443, the suites rotating through TLS 1.3 AES-128-GCM,
//! AES-256-GCM, CHACHA20-POLY1305 and TLS 1.2 ECDHE AES-128/256-GCM, each accepted upgrade
//! followed by about `--wss-bulk` bytes (default 64K) of binary frames from the server; the
//! records are sealed with wssniff's test encrypter (examples/support/wss.rs) and the NSS key
//! log that decrypts them is written to KEYLOG. `--concurrent` defaults to 200 there.
//!
//! `--reorder P` swaps a data segment with the next one with probability P% and `--retrans P`
//! sends a data segment twice with probability P%. `--syn-flood N` first sends N SYNs from
//! distinct endpoints that are never answered (a port scan / SYN flood shape: N concurrent
//! half-open flows). Same arguments and seed → byte-identical file.
//!
//! This is a benchmark tool, not part of wssniff: it may panic on bad arguments.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

// The packet and capture-file builder shared with the tests and the fuzz bodies.
#[path = "../fuzz/src/packet.rs"]
#[allow(dead_code)]
mod packet;

// The adversarial shapes (issue 18), shared with the tests.
#[path = "../fuzz/src/adversarial.rs"]
mod adversarial;

// wss:// sessions: TLS hellos, sealed records and their key log lines (issue 12).
#[path = "support/wss.rs"]
mod wss;

// The adversarial wss:// shapes with their key log (issue 12).
#[path = "support/wss_attack.rs"]
mod wss_attack;

use packet::{pcap, Flags, Link, Tcp};

/// splitmix64: tiny, fast, good enough for traffic shapes, and stable across versions (a
/// crate RNG could change its stream and silently change the benchmark input).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

const MSS: usize = 1448;
const SYN: u8 = 1;
const ACK: u8 = 2;
const FIN: u8 = 4;
const PSH: u8 = 8;

enum Payload {
    None,
    Bytes(Vec<u8>),
    /// `len` bytes of the shared pseudo-random pool starting at `at` (bulk data, never stored).
    Pool {
        at: usize,
        len: usize,
    },
}

struct Seg {
    /// 0 = client → server, 1 = server → client.
    dir: u8,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: Payload,
}

struct Conn {
    ends: [(Ipv4Addr, u16); 2],
    segs: VecDeque<Seg>,
}

/// Bytes a segment takes in the file (record header, Ethernet, IPv4, TCP, payload).
fn wire_len(seg: &Seg) -> u64 {
    let payload = match &seg.payload {
        Payload::None => 0,
        Payload::Bytes(b) => b.len(),
        Payload::Pool { len, .. } => *len,
    };
    16 + 14 + 20 + 20 + payload as u64
}

/// Builds one connection's segments with correct sequence numbers.
struct ConnBuilder<'r> {
    rng: &'r mut Rng,
    next: [u32; 2],
    segs: Vec<Seg>,
    reorder: u64,
    retrans: u64,
    /// With `--wss`: the TLS session every `send` is sealed in.
    tls: Option<wss::WssSession>,
    /// With `--wss`: bytes of binary frames the server sends after an accepted upgrade.
    wss_bulk: usize,
}

impl ConnBuilder<'_> {
    fn new(rng: &mut Rng, reorder: u64, retrans: u64) -> ConnBuilder<'_> {
        let isn = [rng.next() as u32, rng.next() as u32];
        let mut b = ConnBuilder {
            rng,
            next: isn,
            segs: Vec::new(),
            reorder,
            retrans,
            tls: None,
            wss_bulk: 0,
        };
        b.ctl(0, SYN);
        b.ctl(1, SYN | ACK);
        b.ctl(0, ACK);
        b
    }

    fn ack_of(&self, dir: u8) -> u32 {
        self.next[usize::from(1 - dir)]
    }

    fn ctl(&mut self, dir: u8, flags: u8) {
        let d = usize::from(dir);
        let seq = self.next[d];
        let ack = if flags & ACK != 0 {
            self.ack_of(dir)
        } else {
            0
        };
        self.segs.push(Seg {
            dir,
            flags,
            seq,
            ack,
            payload: Payload::None,
        });
        if flags & (SYN | FIN) != 0 {
            self.next[d] = seq.wrapping_add(1);
        }
    }

    /// Sends `bytes` in MSS-sized segments, then a pure ACK from the peer; with `--wss`,
    /// sealed in TLS records first.
    fn send(&mut self, dir: u8, bytes: &[u8]) {
        let sealed;
        let bytes = match &mut self.tls {
            Some(tls) => {
                sealed = tls.seal(dir, bytes);
                &sealed[..]
            }
            None => bytes,
        };
        self.send_raw(dir, bytes);
    }

    /// Sends `bytes` as they are (the TLS hellos), then a pure ACK from the peer.
    fn send_raw(&mut self, dir: u8, bytes: &[u8]) {
        for chunk in bytes.chunks(MSS) {
            self.data(dir, Payload::Bytes(chunk.to_vec()), chunk.len());
        }
        self.ctl(1 - dir, ACK);
    }

    /// Sends `len` bulk bytes from the pool, acknowledged every other segment.
    fn bulk(&mut self, dir: u8, len: usize, pool_len: usize) {
        let mut left = len;
        let mut n = 0;
        while left > 0 {
            let take = left.min(MSS);
            let at = self.rng.below((pool_len - MSS) as u64) as usize;
            self.data(dir, Payload::Pool { at, len: take }, take);
            left -= take;
            n += 1;
            if n % 2 == 0 {
                self.ctl(1 - dir, ACK);
            }
        }
        self.ctl(1 - dir, ACK);
    }

    fn data(&mut self, dir: u8, payload: Payload, len: usize) {
        let d = usize::from(dir);
        let seq = self.next[d];
        let ack = self.ack_of(dir);
        let retrans = self.rng.percent(self.retrans);
        let dup = if retrans {
            Some(match &payload {
                Payload::Bytes(b) => Payload::Bytes(b.clone()),
                Payload::Pool { at, len } => Payload::Pool { at: *at, len: *len },
                Payload::None => Payload::None,
            })
        } else {
            None
        };
        self.segs.push(Seg {
            dir,
            flags: ACK | PSH,
            seq,
            ack,
            payload,
        });
        self.next[d] = seq.wrapping_add(len as u32);
        if let Some(payload) = dup {
            self.segs.push(Seg {
                dir,
                flags: ACK | PSH,
                seq,
                ack,
                payload,
            });
        }
        // Out of order: the segment before this one arrives after it.
        let n = self.segs.len();
        if n >= 2 && self.rng.percent(self.reorder) {
            let (a, b) = (&self.segs[n - 2], &self.segs[n - 1]);
            if a.dir == b.dir && !matches!(a.payload, Payload::None) && a.flags & SYN == 0 {
                self.segs.swap(n - 2, n - 1);
            }
        }
    }

    fn close(mut self, first: u8) -> Vec<Seg> {
        if let Some(mut tls) = self.tls.take() {
            let alert = tls.close_notify(first);
            self.send_raw(first, &alert);
        }
        self.ctl(first, FIN | ACK);
        self.ctl(1 - first, FIN | ACK);
        self.ctl(first, ACK);
        self.segs
    }
}

fn accept_for(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

fn ws_frame(rng: &mut Rng, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    if masked {
        let key = (rng.next() as u32).to_be_bytes();
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

fn ws_conn(b: &mut ConnBuilder<'_>, host: &str) {
    let mut raw = [0u8; 16];
    for x in &mut raw {
        *x = b.rng.next() as u8;
    }
    let key = base64::engine::general_purpose::STANDARD.encode(raw);
    let path = format!("/ws/{}", b.rng.below(1000));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\nOrigin: https://{host}\r\n\r\n"
    );
    b.send(0, req.as_bytes());
    let outcome = b.rng.below(100);
    let accept = accept_for(&key);
    let ok = |accept: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    };
    let resp = match outcome {
        0..=69 => ok(&accept),
        70..=74 => ok("dGhlIHNhbXBsZSBub25jZQ=="),
        75..=81 => "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nForbidden".into(),
        82..=85 => "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n".into(),
        86..=91 => "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n<html></html".into(),
        92..=96 => "HTTP/1.1 502 Bad Gateway\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n".into(),
        _ => String::new(),
    };
    if resp.is_empty() {
        return;
    }
    b.send(1, resp.as_bytes());
    if outcome >= 70 {
        return;
    }
    // Small frames both ways: chat-like text, pings.
    for _ in 0..b.rng.range(2, 12) {
        let dir = (b.rng.below(2)) as u8;
        let len = b.rng.range(8, 180) as usize;
        let text: Vec<u8> = (0..len)
            .map(|i| b'a' + ((i as u64 * 7 + len as u64) % 26) as u8)
            .collect();
        // RFC 6455 §5.5: control frames carry at most 125 bytes.
        let opcode = if len <= 125 && b.rng.percent(10) {
            0x9
        } else {
            0x1
        };
        let f = ws_frame(b.rng, opcode, &text, dir == 0);
        b.send(dir, &f);
        if opcode == 0x9 {
            let pong = ws_frame(b.rng, 0xA, &text, dir == 1);
            b.send(1 - dir, &pong);
        }
    }
    // --wss: the bulk of the bytes, binary frames from the server (a feed, a file).
    if b.wss_bulk > 0 {
        let mut left =
            b.rng
                .range(b.wss_bulk as u64 / 2, b.wss_bulk as u64 * 3 / 2) as usize;
        while left > 0 {
            let len = (b.rng.range(1024, 16_000) as usize).min(left);
            let payload: Vec<u8> = (0..len).map(|i| (i * 131 + len) as u8).collect();
            let f = ws_frame(b.rng, 0x2, &payload, false);
            b.send(1, &f);
            left -= len;
        }
    }
    let close = ws_frame(b.rng, 0x8, &[0x03, 0xe8], true);
    b.send(0, &close);
    let close = ws_frame(b.rng, 0x8, &[0x03, 0xe8], false);
    b.send(1, &close);
}

fn http_conn(b: &mut ConnBuilder<'_>, host: &str) {
    for _ in 0..b.rng.range(1, 6) {
        let path = format!(
            "/api/items/{}?page={}",
            b.rng.below(100_000),
            b.rng.below(50)
        );
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\
             Connection: keep-alive\r\n\r\n"
        );
        b.send(0, req.as_bytes());
        let body_len = b.rng.range(100, 6000) as usize;
        let body: Vec<u8> = (0..body_len).map(|i| b'{' + (i % 3) as u8).collect();
        let mut resp = if b.rng.percent(30) {
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for chunk in body.chunks(1000) {
                r.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                r.extend_from_slice(chunk);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        } else {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        };
        resp.shrink_to_fit();
        b.send(1, &resp);
    }
}

fn tls_conn(b: &mut ConnBuilder<'_>, pool_len: usize, avg: usize) {
    // A ClientHello-shaped first record and a ServerHello-shaped answer, then bulk records.
    let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0xc0, 0x01];
    hello.resize(197, 0x42);
    b.send(0, &hello);
    let mut server = vec![0x16, 0x03, 0x03, 0x00, 0x7a, 0x02];
    server.resize(1200, 0x24);
    b.send(1, &server);
    let len = b.rng.range(avg as u64 / 4, avg as u64 * 7 / 4) as usize;
    if b.rng.percent(80) {
        b.bulk(1, len, pool_len);
    } else {
        b.bulk(0, len, pool_len);
    }
}

/// What to write; `tests/it/tls_keys.rs` builds one directly to generate a small wss capture.
pub struct Args {
    pub out: String,
    pub size: u64,
    pub seed: u64,
    pub mix: [u64; 3],
    pub concurrent: usize,
    pub syn_flood: u64,
    pub reorder: u64,
    pub retrans: u64,
    pub tls_avg: usize,
    pub wss: Option<String>,
    pub wss_bulk: usize,
    pub adversarial: Option<adversarial::Attack>,
    pub wss_attack: Option<wss_attack::WssAttack>,
    pub connections: Option<u32>,
    pub amount: Option<u32>,
}

fn parse_size(s: &str) -> u64 {
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: f64 = num
        .parse()
        .expect("size: a number with an optional K/M/G suffix");
    (n * f64::from(mult)) as u64
}

impl Default for Args {
    fn default() -> Self {
        Args {
            out: String::new(),
            size: 300 << 20,
            seed: 1,
            mix: [50, 35, 15],
            concurrent: 2000,
            syn_flood: 0,
            reorder: 2,
            retrans: 1,
            tls_avg: 112 * 1024,
            wss: None,
            wss_bulk: 64 * 1024,
            adversarial: None,
            wss_attack: None,
            connections: None,
            amount: None,
        }
    }
}

fn args() -> Args {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--out" | "-o" => a.out = val(),
            "--size" => a.size = parse_size(&val()),
            "--seed" => a.seed = val().parse().unwrap(),
            "--concurrent" => a.concurrent = val().parse().unwrap(),
            "--syn-flood" => a.syn_flood = val().parse().unwrap(),
            "--reorder" => a.reorder = val().parse().unwrap(),
            "--retrans" => a.retrans = val().parse().unwrap(),
            "--tls-avg" => a.tls_avg = parse_size(&val()) as usize,
            "--wss" => a.wss = Some(val()),
            "--wss-bulk" => a.wss_bulk = parse_size(&val()) as usize,
            "--adversarial" => {
                let name = val();
                a.wss_attack = wss_attack::WssAttack::parse(&name);
                if a.wss_attack.is_none() {
                    a.adversarial = Some(adversarial::Attack::parse(&name).unwrap_or_else(|| {
                        panic!("--adversarial heads|window|pipeline|dribble|tls|h2|hpack|wss-records|wss-heads|wss-window, not {name}")
                    }));
                }
            }
            "--connections" => a.connections = Some(val().parse().unwrap()),
            "--amount" => a.amount = Some(parse_size(&val()) as u32),
            "--mix" => {
                for part in val().split(',') {
                    let (k, v) = part.split_once('=').expect("--mix ws=N,http=N,tls=N");
                    let i = ["ws", "http", "tls"]
                        .iter()
                        .position(|x| *x == k)
                        .expect("ws, http or tls");
                    a.mix[i] = v.parse().unwrap();
                }
            }
            "-h" | "--help" => {
                eprintln!("usage: gencap --out FILE [--size 300M] [--seed 1] [--mix ws=50,http=35,tls=15] [--concurrent 2000] [--syn-flood N] [--reorder 2] [--retrans 1] [--tls-avg 112K] [--wss KEYLOG [--wss-bulk 64K]]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!a.out.is_empty(), "--out FILE is required");
    if a.wss.is_some() && !std::env::args().any(|x| x == "--concurrent") {
        a.concurrent = 200;
    }
    a
}

/// Every packet goes between the same two MAC addresses.
const ETHERNET: Link = Link::Ethernet {
    src: [2, 0, 0, 0, 0, 1],
    dst: [2, 0, 0, 0, 0, 2],
};

struct Writer {
    out: BufWriter<File>,
    bytes: u64,
    packets: u64,
    ts_us: u64,
    buf: Vec<u8>,
}

impl Writer {
    fn packet(&mut self, src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), seg: &Seg, pool: &[u8]) {
        let payload: &[u8] = match &seg.payload {
            Payload::None => &[],
            Payload::Bytes(b) => b,
            Payload::Pool { at, len } => &pool[*at..*at + *len],
        };
        self.buf.clear();
        Tcp {
            src: src.into(),
            dst: dst.into(),
            seq: seg.seq,
            ack: (seg.flags & ACK != 0).then_some(seg.ack),
            flags: Flags {
                syn: seg.flags & SYN != 0,
                fin: seg.flags & FIN != 0,
                rst: false,
                psh: seg.flags & PSH != 0,
            },
            window: 64240,
            ttl: 64,
            payload,
        }
        .write(ETHERNET, &mut self.buf);
        // 2..30 µs between packets: ~1.6 M packets span well under the 300 s idle timeout
        // per connection while keeping realistic gaps.
        self.ts_us += 2 + (self.packets * 2_654_435_761 % 29);
        let ts_sec = 1_700_000_000 + self.ts_us / 1_000_000;
        let len = self.buf.len() as u32;
        let rec = pcap::record_header(ts_sec as u32, (self.ts_us % 1_000_000) as u32, len, len);
        self.out.write_all(&rec).unwrap();
        self.out.write_all(&self.buf).unwrap();
        self.bytes += 16 + u64::from(len);
        self.packets += 1;
    }
}

/// Writes what `generate` emits (timestamp in ns, IPv4 packet) to `path` as a raw-IPv4 pcap;
/// returns what `generate` returned, the packets and the bytes written.
fn write_raw_ipv4<R>(
    path: &str,
    generate: impl FnOnce(&mut dyn FnMut(i64, &[u8])) -> R,
) -> (R, u64, u64) {
    let file = File::create(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&pcap::file_header(pcap::LINKTYPE_IPV4, 262_144))
        .unwrap();
    let (mut packets, mut bytes) = (0u64, 24u64);
    let result = generate(&mut |ts, data| {
        let (sec, usec) = (ts / 1_000_000_000, (ts % 1_000_000_000) / 1_000);
        let len = data.len() as u32;
        out.write_all(&pcap::record_header(sec as u32, usec as u32, len, len))
            .unwrap();
        out.write_all(data).unwrap();
        packets += 1;
        bytes += 16 + data.len() as u64;
    });
    out.flush().unwrap();
    (result, packets, bytes)
}

/// Writes an adversarial shape as a raw-IPv4 pcap.
fn write_adversarial(a: &Args, attack: adversarial::Attack) {
    let (connections, amount) = attack.default_scale();
    let (connections, amount) = (
        a.connections.unwrap_or(connections),
        a.amount.unwrap_or(amount),
    );
    let ((), packets, bytes) = write_raw_ipv4(&a.out, |emit| {
        adversarial::generate(attack, connections, amount, emit)
    });
    eprintln!(
        "gencap: {} ({connections} connections × {amount}): {packets} packets, {bytes} bytes",
        attack.name()
    );
}

/// Writes a keyed adversarial wss:// shape as a raw-IPv4 pcap, and its key log to `--wss`.
pub fn write_wss_adversarial(a: &Args, attack: wss_attack::WssAttack) {
    let keys = a
        .wss
        .as_deref()
        .expect("--adversarial wss-* needs --wss KEYLOG");
    let (connections, amount) = attack.default_scale();
    let (connections, amount) = (
        a.connections.unwrap_or(connections),
        a.amount.unwrap_or(amount),
    );
    let (keylog, packets, bytes) = write_raw_ipv4(&a.out, |emit| {
        wss_attack::generate(attack, connections, amount, emit)
    });
    std::fs::write(keys, keylog).unwrap_or_else(|e| panic!("{keys}: {e}"));
    eprintln!(
        "gencap: {} ({connections} connections × {amount}): {packets} packets, {bytes} bytes; key log {keys}",
        attack.name()
    );
}

fn main() {
    let a = args();
    match (a.wss_attack, a.adversarial) {
        (Some(attack), _) => write_wss_adversarial(&a, attack),
        (None, Some(attack)) => write_adversarial(&a, attack),
        (None, None) => generate(&a),
    }
}

/// Writes the capture `a` describes (and with `--wss` its key log).
pub fn generate(a: &Args) {
    let mut rng = Rng(a.seed);
    let pool: Vec<u8> = {
        let mut p = Vec::with_capacity(1 << 20);
        while p.len() < 1 << 20 {
            p.extend_from_slice(&rng.next().to_le_bytes());
        }
        p
    };
    let file = File::create(&a.out).unwrap_or_else(|e| panic!("{}: {e}", a.out));
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, file),
        bytes: 24,
        packets: 0,
        ts_us: 0,
        buf: Vec::with_capacity(2048),
    };
    // Classic pcap header: microseconds, version 2.4, snaplen 262144, Ethernet.
    w.out
        .write_all(&pcap::file_header(pcap::LINKTYPE_ETHERNET, 262_144))
        .unwrap();

    let server_ips = [
        Ipv4Addr::new(10, 1, 0, 10),
        Ipv4Addr::new(10, 1, 0, 11),
        Ipv4Addr::new(10, 1, 0, 12),
        Ipv4Addr::new(10, 1, 0, 13),
    ];
    // SYN flood / port scan: distinct sources, never answered.
    for i in 0..a.syn_flood {
        let src = (
            Ipv4Addr::from(0xC000_0000u32 + (i / 50_000) as u32 * 256 + (rng.below(200) as u32)),
            1024 + (i % 50_000) as u16,
        );
        let dst = (server_ips[(i % 4) as usize], 443);
        let seg = Seg {
            dir: 0,
            flags: SYN,
            seq: rng.next() as u32,
            ack: 0,
            payload: Payload::None,
        };
        w.packet(src, dst, &seg, &pool);
    }

    let total_mix: u64 = a.mix.iter().sum::<u64>().max(1);
    let mut live: Vec<Conn> = Vec::new();
    let mut next_port: u32 = 0;
    // Bytes already written plus those promised by live connections: new connections stop
    // once this reaches --size, so the file ends close to the size asked for.
    let mut committed = w.bytes;
    let (mut n_ws, mut n_http, mut n_tls) = (0u64, 0u64, 0u64);
    let mut keylog = a
        .wss
        .as_ref()
        .map(|path| BufWriter::new(File::create(path).unwrap_or_else(|e| panic!("{path}: {e}"))));
    loop {
        while live.len() < a.concurrent && committed < a.size {
            next_port += 1;
            let client = (
                Ipv4Addr::from(0x0A64_0000u32 + (next_port / 40_000)),
                (10_000 + next_port % 40_000) as u16,
            );
            let server_ip = server_ips[rng.below(4) as usize];
            let pick = rng.below(total_mix);
            let mut b = ConnBuilder::new(&mut rng, a.reorder, a.retrans);
            let (port, first_close) = if let Some(keylog) = &mut keylog {
                n_ws += 1;
                let suite = wss::SUITES[(n_ws % wss::SUITES.len() as u64) as usize];
                let host = format!("ws{}.example.com", n_ws % 16);
                let (flights, lines, session) =
                    wss::WssSession::start(suite, &host, &mut || b.rng.next());
                keylog.write_all(lines.as_bytes()).unwrap();
                for (dir, flight) in flights {
                    b.send_raw(dir, &flight);
                }
                b.tls = Some(session);
                b.wss_bulk = a.wss_bulk;
                ws_conn(&mut b, &host);
                (443, 0)
            } else if pick < a.mix[0] {
                n_ws += 1;
                let host = format!("{server_ip}:8080");
                ws_conn(&mut b, &host);
                (8080, 0)
            } else if pick < a.mix[0] + a.mix[1] {
                n_http += 1;
                http_conn(&mut b, "api.example.com");
                (80, 0)
            } else {
                n_tls += 1;
                tls_conn(&mut b, pool.len(), a.tls_avg);
                (443, 1)
            };
            let segs = b.close(first_close);
            committed += segs.iter().map(wire_len).sum::<u64>();
            live.push(Conn {
                ends: [client, (server_ip, port)],
                segs: segs.into(),
            });
        }
        if live.is_empty() {
            break;
        }
        let i = rng.below(live.len() as u64) as usize;
        let conn = &mut live[i];
        // Several packets of one connection in a row, as bursts look on a real link.
        for _ in 0..rng.range(1, 4) {
            let Some(seg) = conn.segs.pop_front() else {
                break;
            };
            let d = usize::from(seg.dir);
            w.packet(conn.ends[d], conn.ends[1 - d], &seg, &pool);
        }
        if conn.segs.is_empty() {
            live.swap_remove(i);
        }
    }
    w.out.flush().unwrap();
    if let Some(mut keylog) = keylog {
        keylog.flush().unwrap();
    }
    eprintln!(
        "gencap: {} bytes, {} packets ({} B/packet), connections: {n_ws} ws upgrades, {n_http} http, {n_tls} tls, {} syn-flood",
        w.bytes,
        w.packets,
        w.bytes / w.packets.max(1),
        a.syn_flood
    );
}
