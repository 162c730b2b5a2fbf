//! Adversarial captures for the memory budget (issue 18): traffic shaped to make a passive
//! analyzer buffer as much as it can, for `examples/gencap.rs --adversarial` (the benchmark's
//! peak-RSS mode) and the integration tests.
//!
//! Four shapes, each over many connections opened first and then fed round-robin, so every
//! connection's buffer is live at once:
//!
//! * [`Attack::Heads`]: request heads that never end (header lines, no blank line);
//! * [`Attack::Window`]: a hole at the start of each client stream and a large out-of-order
//!   window behind it that never fills (the server never ACKs past the hole);
//! * [`Attack::Pipeline`]: floods of pipelined requests that are never answered;
//! * [`Attack::Dribble`]: long-lived connections that send a head one byte per segment.
//!
//! Packets are raw IPv4 (`LINKTYPE_IPV4`) with valid sequence numbers; timestamps advance 10
//! µs per packet (the dribble spreads its rounds over 200 s, inside the idle timeout). The
//! output depends only on the arguments. Never does I/O: packets go to a callback.

use super::packet::{v4, Link, Tcp};

/// One adversarial traffic shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Request heads that never end.
    Heads,
    /// Huge out-of-order windows behind holes that never fill.
    Window,
    /// Pipelined requests that are never answered.
    Pipeline,
    /// Heads sent one byte per segment.
    Dribble,
}

impl Attack {
    /// Every shape.
    pub const ALL: [Attack; 4] = [
        Attack::Heads,
        Attack::Window,
        Attack::Pipeline,
        Attack::Dribble,
    ];

    /// The shape's name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Attack::Heads => "heads",
            Attack::Window => "window",
            Attack::Pipeline => "pipeline",
            Attack::Dribble => "dribble",
        }
    }

    /// The shape called `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Default (connections, amount per connection): enough that the buffering wanted is
    /// past the default 256 MiB budget (the dribble's, past 64 MiB). The amount is bytes of
    /// head or window, or requests for [`Attack::Pipeline`].
    #[must_use]
    pub fn default_scale(self) -> (u32, u32) {
        match self {
            // The example: 20,000 connections × 16 KiB of header lines.
            Attack::Heads => (20_000, 16 * 1024),
            // 1,500 × the default --max-buffer-bytes.
            Attack::Window => (1_500, 256 * 1024),
            Attack::Pipeline => (20_000, 1_000),
            Attack::Dribble => (10_000, 300),
        }
    }
}

/// The server every connection talks to.
const SERVER: [u8; 4] = [10, 255, 0, 1];
/// Client and server initial sequence numbers (the streams start one later).
const CLIENT_ISN: u32 = 1_000;
const SERVER_ISN: u32 = 9_000;
/// Header line size for [`Attack::Heads`] and segment size for [`Attack::Window`].
const PIECE: usize = 1_000;
/// Requests per segment for [`Attack::Pipeline`].
const REQUESTS_PER_SEGMENT: usize = 40;
const REQUEST: &[u8] = b"GET /p HTTP/1.1\r\nHost: a\r\n\r\n";

/// Writes `attack` over `connections` connections with `amount` each (bytes, or requests for
/// the pipeline): `emit(ts_ns, packet)` for every packet, in capture order.
pub fn generate(attack: Attack, connections: u32, amount: u32, emit: &mut dyn FnMut(i64, &[u8])) {
    let mut ts: i64 = 1_750_000_000_000_000_000;
    let total_rounds = rounds(attack, amount);
    // The dribble is long-lived: its rounds spread over 200 s.
    let round_gap = if attack == Attack::Dribble {
        200_000_000_000 / i64::from(total_rounds.max(1))
    } else {
        0
    };
    let mut send = |ts: &mut i64, data: &[u8]| {
        *ts += 10_000;
        emit(*ts, data);
    };
    let mut buf = Vec::with_capacity(2048);
    for i in 0..connections {
        let (client, server) = endpoints(i);
        for (src, dst, seq, ack, flags) in [
            (client, server, CLIENT_ISN, 0, "S"),
            (server, client, SERVER_ISN, CLIENT_ISN + 1, "SA"),
            (client, server, CLIENT_ISN + 1, SERVER_ISN + 1, "A"),
        ] {
            buf.clear();
            Tcp::new(src, dst, seq, ack, flags, b"").write(Link::Ip, &mut buf);
            send(&mut ts, &buf);
        }
    }
    let mut piece = Vec::with_capacity(PIECE * 2);
    for round in 0..total_rounds {
        ts += round_gap;
        for i in 0..connections {
            let (client, server) = endpoints(i);
            let Some(offset) = payload(attack, round, amount, &mut piece) else {
                continue;
            };
            buf.clear();
            Tcp::new(
                client,
                server,
                (CLIENT_ISN + 1).wrapping_add(offset),
                SERVER_ISN + 1,
                "A",
                &piece,
            )
            .write(Link::Ip, &mut buf);
            send(&mut ts, &buf);
        }
    }
}

/// Rounds of data segments each connection sends.
fn rounds(attack: Attack, amount: u32) -> u32 {
    let amount = amount.max(1);
    match attack {
        Attack::Heads | Attack::Window => amount.div_ceil(PIECE as u32),
        Attack::Pipeline => amount.div_ceil(REQUESTS_PER_SEGMENT as u32),
        Attack::Dribble => amount,
    }
}

/// The payload of `round` in `piece`, and its stream offset.
fn payload(attack: Attack, round: u32, amount: u32, piece: &mut Vec<u8>) -> Option<u32> {
    piece.clear();
    let piece_len = PIECE as u32;
    match attack {
        Attack::Heads => {
            if round == 0 {
                piece.extend_from_slice(b"GET /h HTTP/1.1\r\nHost: a\r\n");
            }
            let name = format!("X-Pad-{round:05}: ");
            piece.extend_from_slice(name.as_bytes());
            piece.resize(PIECE - 2, b'a');
            piece.extend_from_slice(b"\r\n");
            // Every piece is PIECE bytes (the first starts with the request line).
            Some(round * piece_len)
        }
        Attack::Window => {
            // Bytes 0..PIECE are never sent: everything after them waits out of order.
            piece.resize(PIECE.min((amount - round * piece_len) as usize), b'w');
            Some((round + 1) * piece_len)
        }
        Attack::Pipeline => {
            let done = round * REQUESTS_PER_SEGMENT as u32;
            let n = (amount - done).min(REQUESTS_PER_SEGMENT as u32);
            for _ in 0..n {
                piece.extend_from_slice(REQUEST);
            }
            Some(done * REQUEST.len() as u32)
        }
        Attack::Dribble => {
            let prefix: &[u8] = b"GET /d HTTP/1.1\r\nHost: a\r\nX: ";
            if round == 0 {
                piece.extend_from_slice(prefix);
                return Some(0);
            }
            piece.push(b'd');
            Some(prefix.len() as u32 + round - 1)
        }
    }
}

/// Client and server of connection `i`: a client address per connection.
fn endpoints(i: u32) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let [_, b, c, d] = i.to_be_bytes();
    (v4([10, b, c, d], 40_000), v4(SERVER, 80))
}
