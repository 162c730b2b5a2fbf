//! Adversarial wss:// captures with their key log (issue 12: peak memory with keys), for
//! `examples/gencap.rs --adversarial wss-… --wss KEYLOG` (`scripts/bench --tls-pipeline
//! --adversarial`) and `tests/it/memory.rs`. The plaintext shapes are `fuzz/src/adversarial.rs`;
//! these need the test encrypter (examples/support/wss.rs), so they live with it.
//!
//! Every connection completes a TCP and a TLS handshake whose secrets the key log holds (the
//! suites rotate through [`wss::SUITES`]: TLS 1.3 and 1.2), so wssniff decrypts and buffers
//! what a decrypting analyzer has to; then the connections are fed round-robin, one segment
//! each per round, so every connection's buffer is live at once:
//!
//! * [`WssAttack::Records`]: an application_data record announced at the largest length a
//!   record may have (18 KiB) and sent in 1,000-byte segments that never complete it (the
//!   TCP stream holds it whole before it can be decrypted);
//! * [`WssAttack::Heads`]: complete records whose plaintext is a request head that never
//!   ends (the decrypted bytes wait in the plaintext relay for the HTTP parser);
//! * [`WssAttack::Window`]: a hole of one record right after the handshake and a large
//!   out-of-order window of records behind it that never fills (when the TCP layer gives the
//!   hole up, the records behind it decrypt: the record sequence number skipped one).
//!
//! Raw IPv4 packets, timestamps 10 µs apart; the output depends only on the arguments. Never
//! does I/O: packets go to a callback and the key log comes back as a string.

use super::packet::{v4, Link, Tcp};
use super::wss;

/// One keyed adversarial shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WssAttack {
    /// Records that never complete.
    Records,
    /// Decrypted request heads that never end.
    Heads,
    /// Out-of-order windows of records behind a hole that never fills.
    Window,
}

impl WssAttack {
    /// Every shape.
    pub const ALL: [WssAttack; 3] = [WssAttack::Records, WssAttack::Heads, WssAttack::Window];

    /// The shape's name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            WssAttack::Records => "wss-records",
            WssAttack::Heads => "wss-heads",
            WssAttack::Window => "wss-window",
        }
    }

    /// The shape called `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<WssAttack> {
        WssAttack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Default (connections, bytes per connection): past the default 256 MiB budget, as the
    /// plaintext shapes are.
    #[must_use]
    pub fn default_scale(self) -> (u32, u32) {
        match self {
            // 20,000 × 16 KiB of one unfinished record each.
            WssAttack::Records => (20_000, 16 * 1024),
            // 20,000 × 16 KiB of decrypted head each (under the 64 KiB head cap).
            WssAttack::Heads => (20_000, 16 * 1024),
            // 1,500 × the default --max-buffer-bytes of records behind a hole.
            WssAttack::Window => (1_500, 256 * 1024),
        }
    }
}

/// The server every connection talks to.
const SERVER: [u8; 4] = [10, 254, 0, 1];
const CLIENT_ISN: u32 = 1_000;
const SERVER_ISN: u32 = 9_000;
/// Bytes per attack segment.
const PIECE: usize = 1_000;
/// Largest segment of a handshake flight.
const MSS: usize = 1_400;
/// [`WssAttack::Records`]' announced length: the largest a TLS record may have.
const RECORD_LEN: u16 = (1 << 14) + 2048;

/// Client and server of connection `i`.
fn endpoints(i: u32) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let [_, b, c, d] = i.to_be_bytes();
    (v4([10, b, c, d], 40_000), v4(SERVER, 443))
}

/// splitmix64, for the sessions' randoms and secrets.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One connection's TLS session and next sequence numbers (0 client, 1 server).
struct Conn {
    session: wss::WssSession,
    next: [u32; 2],
    /// Client bytes of the attack sent so far (the window's offset past its hole).
    sent: u32,
}

/// Writes `attack` over `connections` connections with `amount` bytes each:
/// `emit(ts_ns, packet)` for every packet, in capture order. Returns the NSS key log that
/// decrypts every session.
pub fn generate(
    attack: WssAttack,
    connections: u32,
    amount: u32,
    emit: &mut dyn FnMut(i64, &[u8]),
) -> String {
    let mut ts: i64 = 1_750_000_000_000_000_000;
    let mut buf = Vec::with_capacity(2048);
    let mut send = |ts: &mut i64, tcp: Tcp<'_>, buf: &mut Vec<u8>| {
        *ts += 10_000;
        buf.clear();
        tcp.write(Link::Ip, buf);
        emit(*ts, buf);
    };
    let mut keylog = String::new();
    let mut rng = 0x5eed_u64;
    let mut conns = Vec::with_capacity(connections as usize);
    for i in 0..connections {
        let (client, server) = endpoints(i);
        for (src, dst, seq, ack, flags) in [
            (client, server, CLIENT_ISN, 0, "S"),
            (server, client, SERVER_ISN, CLIENT_ISN + 1, "SA"),
            (client, server, CLIENT_ISN + 1, SERVER_ISN + 1, "A"),
        ] {
            send(&mut ts, Tcp::new(src, dst, seq, ack, flags, b""), &mut buf);
        }
        let suite = wss::SUITES[i as usize % wss::SUITES.len()];
        let sni = format!("a{i}.attack.example");
        let (flights, lines, session) =
            wss::WssSession::start(suite, &sni, &mut || splitmix(&mut rng));
        keylog.push_str(&lines);
        let mut next = [CLIENT_ISN + 1, SERVER_ISN + 1];
        for (dir, bytes) in flights {
            let d = usize::from(dir);
            let (src, dst) = if dir == 0 {
                (client, server)
            } else {
                (server, client)
            };
            for chunk in bytes.chunks(MSS) {
                let tcp = Tcp::new(src, dst, next[d], next[1 - d], "A", chunk);
                send(&mut ts, tcp, &mut buf);
                next[d] = next[d].wrapping_add(chunk.len() as u32);
            }
        }
        conns.push(Conn {
            session,
            next,
            sent: 0,
        });
    }
    let mut piece = Vec::with_capacity(PIECE + 64);
    let rounds = amount.div_ceil(PIECE as u32);
    for round in 0..rounds {
        let want = (amount - round * PIECE as u32).min(PIECE as u32) as usize;
        for (i, conn) in (0u32..).zip(conns.iter_mut()) {
            let (client, server) = endpoints(i);
            piece.clear();
            let mut seq = conn.next[0].wrapping_add(conn.sent);
            match attack {
                WssAttack::Records => {
                    if round == 0 {
                        piece.extend_from_slice(&[23, 3, 3]);
                        piece.extend_from_slice(&RECORD_LEN.to_be_bytes());
                    }
                    piece.resize(want, 0xee);
                }
                WssAttack::Heads => {
                    let mut head = Vec::with_capacity(want);
                    if round == 0 {
                        head.extend_from_slice(b"GET /h HTTP/1.1\r\nHost: a\r\n");
                    }
                    head.extend_from_slice(format!("X-Pad-{round:05}: ").as_bytes());
                    head.resize(want.saturating_sub(2).max(head.len()), b'a');
                    head.extend_from_slice(b"\r\n");
                    piece.extend(conn.session.seal(0, &head));
                }
                WssAttack::Window => {
                    let plaintext = [b'w'; PIECE];
                    if round == 0 {
                        // The hole: the first record, sealed and never sent.
                        let hole = conn.session.seal(0, &plaintext).len() as u32;
                        seq = seq.wrapping_add(hole);
                        conn.sent += hole;
                    }
                    piece.extend(conn.session.seal(0, &plaintext[..want]));
                }
            }
            let tcp = Tcp::new(client, server, seq, conn.next[1], "A", &piece);
            send(&mut ts, tcp, &mut buf);
            conn.sent += piece.len() as u32;
        }
    }
    keylog
}
