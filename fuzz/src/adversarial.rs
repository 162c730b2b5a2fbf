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
//! * [`Attack::Dribble`]: long-lived connections that send a head one byte per segment;
//! * [`Attack::TlsHandshake`]: TLS connections whose handshake message (a ClientHello
//!   announced at 60 KiB) never ends, one handshake record per segment;
//! * [`Attack::H2Headers`]: HTTP/2 (prior knowledge) connections whose header block never
//!   ends (HEADERS, then CONTINUATION frames without END_HEADERS);
//! * [`Attack::Hpack`]: HTTP/2 connections that fill their HPACK dynamic table (a size update
//!   to 64 KiB, then complete header blocks of indexed literals).
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
    /// TLS handshake messages that never end.
    TlsHandshake,
    /// HTTP/2 header blocks that never end.
    H2Headers,
    /// HTTP/2 HPACK dynamic tables filled to their cap.
    Hpack,
}

impl Attack {
    /// Every shape.
    pub const ALL: [Attack; 7] = [
        Attack::Heads,
        Attack::Window,
        Attack::Pipeline,
        Attack::Dribble,
        Attack::TlsHandshake,
        Attack::H2Headers,
        Attack::Hpack,
    ];

    /// The shape's name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Attack::Heads => "heads",
            Attack::Window => "window",
            Attack::Pipeline => "pipeline",
            Attack::Dribble => "dribble",
            Attack::TlsHandshake => "tls",
            Attack::H2Headers => "h2",
            Attack::Hpack => "hpack",
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
            // 20,000 × 16 KiB of one unfinished ClientHello each.
            Attack::TlsHandshake => (20_000, 16 * 1024),
            // 20,000 × 16 KiB of one unfinished header block each.
            Attack::H2Headers => (20_000, 16 * 1024),
            // 6,000 × a 64 KiB table (the cap; the amount is bytes of header blocks).
            Attack::Hpack => (6_000, 72 * 1024),
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

/// Announced length of [`Attack::TlsHandshake`]'s ClientHello: under the 64 KiB cap on a
/// message, past any amount the attack sends.
const TLS_MESSAGE_LEN: u32 = 60 * 1024;
/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The server port `attack` talks to.
fn server_port(attack: Attack) -> u16 {
    match attack {
        Attack::TlsHandshake => 443,
        _ => 80,
    }
}

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
        let (client, server) = endpoints(i, attack);
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
            let (client, server) = endpoints(i, attack);
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
        Attack::Heads
        | Attack::Window
        | Attack::TlsHandshake
        | Attack::H2Headers
        | Attack::Hpack => amount.div_ceil(PIECE as u32),
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
        Attack::TlsHandshake => {
            // One handshake record per segment, PIECE bytes with its header.
            let body = PIECE - 5;
            piece.extend_from_slice(&[22, 3, 1]);
            piece.extend_from_slice(&u16::try_from(body).unwrap_or(0).to_be_bytes());
            if round == 0 {
                piece.push(1); // ClientHello
                piece.extend_from_slice(&TLS_MESSAGE_LEN.to_be_bytes()[1..]);
            }
            piece.resize(PIECE, 0x42);
            Some(round * piece_len)
        }
        Attack::H2Headers => {
            // Round 0: the preface and a HEADERS frame; then CONTINUATION frames, none with
            // END_HEADERS. Every segment is PIECE bytes (the first with the preface).
            if round == 0 {
                piece.extend_from_slice(H2_PREFACE);
            }
            let len = PIECE - 9 - piece.len();
            let kind = if round == 0 { 1 } else { 9 };
            h2_frame_header(piece, len, kind, 0, 1);
            piece.resize(piece.len() + len, 0x82);
            Some(round * piece_len)
        }
        Attack::Hpack => {
            // Complete header blocks on new streams, each inserting fields into the table;
            // padded so every segment is PIECE bytes (the first with the preface).
            let mut block = Vec::with_capacity(PIECE);
            if round == 0 {
                piece.extend_from_slice(H2_PREFACE);
                // Dynamic table size update to 65,536 (5-bit prefix integer).
                block.extend_from_slice(&[0x3f, 0xe1, 0xff, 0x03]);
            }
            // The frame's payload: the pad length byte, the block, the padding.
            let room = PIECE - 9 - piece.len() - 1;
            let mut field = 0u32;
            // Literal with incremental indexing, new name: 0x40, name, value (< 127 each).
            while block.len() + 110 <= room {
                let name = format!("x-{round:05}-{field:02}");
                block.push(0x40);
                block.push(u8::try_from(name.len()).unwrap_or(0));
                block.extend_from_slice(name.as_bytes());
                block.push(96);
                block.extend(std::iter::repeat_n(b'v', 96));
                field += 1;
            }
            let stream = 1 + 2 * round;
            let pad = room - block.len();
            // END_HEADERS | END_STREAM | PADDED.
            h2_frame_header(piece, room + 1, 1, 0x0d, stream);
            piece.push(u8::try_from(pad).unwrap_or(0));
            piece.extend_from_slice(&block);
            piece.resize(PIECE, 0);
            Some(round * piece_len)
        }
    }
}

/// Appends an HTTP/2 frame header (RFC 9113 §4.1).
fn h2_frame_header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(0).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Client and server of connection `i`: a client address per connection.
fn endpoints(i: u32, attack: Attack) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let [_, b, c, d] = i.to_be_bytes();
    (v4([10, b, c, d], 40_000), v4(SERVER, server_port(attack)))
}
