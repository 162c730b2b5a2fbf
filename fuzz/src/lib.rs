//! Bodies of the fuzz targets, one function per target, shared by the libFuzzer binaries in
//! `fuzz_targets/` and by the deterministic mutation test in the main crate
//! (`tests/it/fuzz.rs` includes this file), so stable-only CI exercises exactly the same code.
//!
//! Every body takes arbitrary bytes and must return without panicking, hanging or growing
//! memory past the caps; where a cap is cheap to check, the body asserts it (an assertion
//! failure is a finding like a crash).
//!
//! Structured targets (`reassembly`, `engine`) read their input as a small op script so the
//! fuzzer explores segment orders, overlaps and sequence jumps rather than random headers:
//!
//! ```text
//! op      = flags:u8 seq_delta:i16le len:u16le payload[len]   (len capped at 1460)
//! flags   = bit0 direction (0 client→server, 1 server→client)
//!           bit1 SYN  bit2 FIN  bit3 RST  bit4 no ACK
//!           bit5 the seq jump is ×65536 (sequence numbers jumping by up to 2 GiB)
//!           bit6 advance capture time by 100 s (idle expiry, response timeouts)
//!           bit7 use the second connection (another client port)
//! ```
//!
//! `seq_delta` is relative to the next in-order sequence number of that direction, so 0 is
//! the in-order segment, negative values retransmit or overlap, positive ones leave holes.
#![allow(clippy::missing_panics_doc)]

use std::ops::ControlFlow;

use wssniff::capture::{FileSource, Linktype, Packet, Timestamp};
use wssniff::dispatch::ConnLimits;
use wssniff::engine::{Engine, EngineConfig};
use wssniff::event::{Ending, Peer};
use wssniff::event::{Event, Message};
use wssniff::http::body::{BodyReader, Coding, Progress};
use wssniff::http::exchange::{Completed, StreamId};
use wssniff::http::head::{self as http, HeadParse};
use wssniff::report::{CaptureInfo, Report};
use wssniff::sink::{JsonSink, LineSink, LineStyle, Sink};
use wssniff::tcp::flow::FlowLimits;
use wssniff::tcp::reassembly::{Stream, StreamLimits};
use wssniff::tcp::stream::{ByteStream, Relay};
use wssniff::tls::connection::TlsConnection;
use wssniff::tls::{certificate, handshake as tls_handshake, record as tls_record};
use wssniff::websocket::{frame as wsframe, session};
use wssniff::{decode, handshake};

// The packet and capture-file builder, shared with tests/it and examples/gencap.rs (the
// explicit path keeps it found when tests/it includes this file with #[path]).
#[path = "packet.rs"]
pub mod packet;

// Adversarial traffic shapes for the memory budget, shared with tests/it and gencap.
#[path = "adversarial.rs"]
pub mod adversarial;

// The `read_blocks` target: read blocks against the ordinary reader, whole and merged.
#[path = "blocks.rs"]
pub mod blocks;
pub use blocks::read_blocks;

use packet::{v4, Flags, Tcp};

/// Largest payload one script op carries (an Ethernet MSS).
pub const MAX_OP_PAYLOAD: usize = 1460;

/// Link types the `decode` target picks from with its first byte.
const LINKTYPES: [Linktype; 11] = [
    Linktype::ETHERNET,
    Linktype::RAW,
    Linktype::LINUX_SLL,
    Linktype::LINUX_SLL2,
    Linktype::NULL,
    Linktype::LOOP,
    Linktype::IPV4,
    Linktype::IPV6,
    Linktype::RAW_BSD,
    Linktype::RAW_BSD14,
    Linktype(147),
];

/// `decode`: link/IP/TCP decoding of one packet. The first byte picks the link type (low
/// nibble) and how many bytes the packet claims were cut by the snap length (high nibble).
pub fn decode(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let linktype = LINKTYPES[usize::from(sel & 0x0f) % LINKTYPES.len()];
    let packet = Packet {
        number: 1,
        ts: Timestamp(0),
        linktype,
        data: rest,
        orig_len: u32::try_from(rest.len()).unwrap_or(u32::MAX) + u32::from(sel >> 4),
    };
    if let Ok(seg) = decode::decode(&packet) {
        // The payload is a slice of the packet, never more.
        assert!(seg.payload.len() <= rest.len());
    }
}

/// One parsed script op.
#[derive(Clone, Copy, Debug)]
pub struct Op<'a> {
    /// 0 client→server, 1 server→client.
    pub dir: usize,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// ACK flag.
    pub ack: bool,
    /// Sequence offset from the next in-order sequence number.
    pub seq_delta: i64,
    /// Advance capture time by 100 s first.
    pub idle: bool,
    /// Second connection.
    pub second: bool,
    /// Segment payload.
    pub payload: &'a [u8],
}

/// Splits a script into ops (a short tail is ignored).
#[must_use]
pub fn ops(mut data: &[u8]) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    while let [flags, d0, d1, l0, l1, rest @ ..] = data {
        let delta = i64::from(i16::from_le_bytes([*d0, *d1]));
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(MAX_OP_PAYLOAD);
        let len = len.min(rest.len());
        let (payload, tail) = rest.split_at(len);
        out.push(Op {
            dir: usize::from(flags & 1),
            syn: flags & 2 != 0,
            fin: flags & 4 != 0,
            rst: flags & 8 != 0,
            ack: flags & 16 == 0,
            seq_delta: if flags & 32 != 0 {
                delta * 65_536
            } else {
                delta
            },
            idle: flags & 64 != 0,
            second: flags & 128 != 0,
            payload,
        });
        data = tail;
    }
    out
}

/// Encodes one op (the inverse of [`ops`]), for seeds and tests.
#[must_use]
pub fn encode_op(op: &Op<'_>) -> Vec<u8> {
    let mut flags = u8::try_from(op.dir & 1).unwrap_or(0);
    flags |= u8::from(op.syn) << 1 | u8::from(op.fin) << 2 | u8::from(op.rst) << 3;
    flags |= u8::from(!op.ack) << 4 | u8::from(op.idle) << 6 | u8::from(op.second) << 7;
    let delta = i16::try_from(op.seq_delta).unwrap_or(0);
    let mut out = vec![flags];
    out.extend_from_slice(&delta.to_le_bytes());
    let len = op.payload.len().min(MAX_OP_PAYLOAD);
    out.extend_from_slice(&u16::try_from(len).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&op.payload[..len]);
    out
}

/// `reassembly`: one direction's stream fed an arbitrary segment sequence, with a consumer
/// that consumes a varying amount. Asserts the buffer caps hold after every step and that the
/// delivered bytes never run ahead of what was received.
pub fn reassembly(data: &[u8]) {
    let limits = StreamLimits {
        max_buffered: 4096,
        max_out_of_order: 8192,
    };
    let mut s = Stream::new(limits);
    let isn: u32 = 0xffff_ff00; // wraps within the first few hundred bytes
    let mut next: u32 = isn.wrapping_add(1);
    for (i, op) in ops(data).into_iter().enumerate() {
        let packet = i as u64 + 1;
        let ts = Timestamp(i64::try_from(i).unwrap_or(0));
        #[allow(clippy::cast_possible_truncation)]
        let seq = next.wrapping_add(op.seq_delta as u32);
        if op.syn {
            s.syn(isn);
        }
        let out = s.push(seq, op.payload, packet, ts);
        if out.advanced {
            #[allow(clippy::cast_possible_truncation)]
            let n = s.next_offset() as u32;
            next = isn.wrapping_add(1).wrapping_add(n);
        }
        if op.fin {
            s.fin(seq, op.payload.len());
        }
        if op.rst {
            let _ = s.flush();
        }
        if op.idle {
            let _ = s.peer_ack(seq);
        }
        if op.second {
            let _ = s.cut_short(
                seq,
                op.payload.len(),
                u64::from(op.payload.len() as u32 / 2),
            );
        }
        // A consumer that reads some and skips some.
        let take = u64::from(op.payload.first().copied().unwrap_or(0)) * 8;
        if op.dir == 1 {
            s.consume(take);
        } else if s.data().len() > 2048 {
            s.clear();
        }
        assert!(s.data().len() <= limits.max_buffered, "buffer cap");
        assert!(s.data_offset() + s.data().len() as u64 <= s.next_offset().max(s.data_offset()));
        assert!(
            s.memory() <= limits.max_buffered * 2 + limits.max_out_of_order + 64 * 1024,
            "memory {} over caps",
            s.memory()
        );
    }
    let _ = s.flush();
}

/// `http`: head framing and parsing of requests and responses, resynchronisation and chunked
/// bodies, on the same bytes.
pub fn http(data: &[u8]) {
    let mut from = 0;
    while let Some(len) = http::find_head_end(data, from) {
        assert!(len <= data.len());
        for request in [true, false] {
            if let HeadParse::Complete(head) = http::parse_head(data, len, request) {
                let _ = head.status();
                let _ = head.method();
                let _ = head.list("connection");
                let _ = head.has_token("upgrade", "websocket");
                let _ = http::request_body(&head);
                let _ = http::response_body(&head, Some("GET"));
                let _ = http::response_body(&head, Some("HEAD"));
            }
        }
        if len <= from {
            break;
        }
        from = len;
    }
    for request in [true, false] {
        let _ = http::sniff(data, request);
        let mut at = 0;
        let mut steps = 0;
        while let Some(next) = http::find_message_start(data, at, request) {
            assert!(next >= at && next <= data.len());
            at = next + 1;
            steps += 1;
            assert!(
                steps <= data.len() + 1,
                "find_message_start does not advance"
            );
        }
    }
    let mut chunked = http::Chunked::default();
    let mut pos = 0usize;
    for _ in 0..=data.len() {
        let rest = data.get(pos..).unwrap_or_default();
        match chunked.step(rest) {
            http::ChunkStep::Control(n) => {
                assert!(n > 0 && n <= rest.len(), "control step must advance");
                pos += n;
            }
            http::ChunkStep::Data(n, skip) => {
                assert!(n <= rest.len());
                pos = pos
                    .saturating_add(n)
                    .saturating_add(usize::try_from(skip).unwrap_or(usize::MAX));
            }
            http::ChunkStep::Done(_) | http::ChunkStep::NeedMore | http::ChunkStep::Invalid => {
                break
            }
        }
        if pos >= data.len() {
            break;
        }
    }
}

/// Separator between the request and the response in `handshake` inputs.
pub const HANDSHAKE_SEPARATOR: &[u8] = b"\n--8<--\n";

/// `handshake`: a request head and a response head (split at [`HANDSHAKE_SEPARATOR`]),
/// checked against every RFC 6455 §4 rule.
pub fn handshake(data: &[u8]) {
    let (req, resp) = match data
        .windows(HANDSHAKE_SEPARATOR.len())
        .position(|w| w == HANDSHAKE_SEPARATOR)
    {
        Some(at) => (&data[..at], &data[at + HANDSHAKE_SEPARATOR.len()..]),
        None => (data, &[][..]),
    };
    let message = |bytes: &[u8], request: bool| -> Option<Message> {
        let len = http::find_head_end(bytes, 0).unwrap_or(bytes.len());
        match http::parse_head(bytes, len, request) {
            HeadParse::Complete(head) => Some(Message {
                head,
                packets: vec![1],
                first_ts: Timestamp(0),
                last_ts: Timestamp(1),
                truncated: false,
                body: None,
                cut: None,
            }),
            _ => None,
        }
    };
    let request = message(req, true);
    let response = message(resp, false);
    let explain = |accept: &str| {
        accept
            .len()
            .is_multiple_of(2)
            .then(|| "key x of handshake #1".to_owned())
    };
    let exchange = Completed {
        stream: StreamId::HTTP1,
        request,
        response,
        interim: Vec::new(),
        ending: None,
        ended_at: None,
        extra: Vec::new(),
        switched: false,
        id: None,
        h2: None,
    };
    let a = handshake::record(exchange, &handshake::Policy::default(), &explain);
    let _ = format!("{:?} {:?}", a.verdict, a.findings);
    if let Some(resp) = &a.response {
        let exts = resp.head.list("sec-websocket-extensions");
        let _ = session::deflate_params(&exts);
    }
}

/// `wsframe`: WebSocket frame headers, close bodies, unmasking and the frame sniffer.
pub fn wsframe(data: &[u8]) {
    let mut at = 0usize;
    while let Some(rest) = data.get(at..) {
        match wsframe::parse_header(rest) {
            Ok(Some(h)) => {
                let len = usize::try_from(h.frame_len()).unwrap_or(usize::MAX);
                assert!(len > 0);
                if let Some(body) = rest.get(h.header_len..len) {
                    let mut body = body.to_vec();
                    if let Some(key) = h.mask {
                        wsframe::unmask(&mut body, key, 0);
                    }
                    let _ = wsframe::parse_close(&body);
                }
                at = at.saturating_add(len);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = session::sniff(data);
    let _ = wsframe::parse_close(data);
}

/// `body`: the bounded body reader over arbitrary bytes. The first byte picks the framing
/// (bits 0-1: Content-Length from the second byte ×64, chunked, until close), the coding
/// (bits 2-3: identity, gzip, deflate, br) and the cap (bits 4-7: ×256 bytes); the third byte
/// sets the piece size the rest arrives in, unconsumed bytes kept at the front as a stream
/// keeps them. Asserts the caps: the kept bytes never pass the cap, the memory never passes
/// the cap plus one inflater, the input is consumed as far as the body goes.
pub fn body(data: &[u8]) {
    let [sel, len, piece, rest @ ..] = data else {
        return;
    };
    let framing = match sel & 3 {
        0 => http::Body::Length(u64::from(*len) * 64),
        1 | 3 => http::Body::Chunked,
        _ => http::Body::UntilClose,
    };
    let coding = match (sel >> 2) & 3 {
        0 => Coding::Identity,
        1 => Coding::Gzip,
        2 => Coding::Deflate,
        _ => Coding::Other("br".to_owned()),
    };
    let keep = usize::from(sel >> 4) * 256;
    let mut reader = BodyReader::new(framing, coding, keep);
    let mut buffered: Vec<u8> = Vec::new();
    let mut consumed = 0usize;
    'feed: for chunk in rest.chunks(usize::from(*piece).max(1)) {
        buffered.extend_from_slice(chunk);
        let read = reader.read(&buffered);
        assert!(read.consumed <= buffered.len());
        buffered.drain(..read.consumed);
        consumed += read.consumed;
        assert!(reader.memory() <= keep + 64 * 1024, "{}", reader.memory());
        match read.progress {
            Progress::More => {}
            Progress::Complete | Progress::Invalid => break 'feed,
        }
    }
    if matches!(framing, http::Body::UntilClose) {
        assert_eq!(
            consumed,
            rest.len(),
            "a body until the close takes everything"
        );
    }
    let excerpt = reader.take_excerpt(true);
    assert!(excerpt.bytes.len() <= keep);
    let _ = (excerpt.describe(), excerpt.text(), excerpt.reason(&["400"]));
}

/// Target `tls`: the TLS record walker and handshake readers. The input is a chunk script,
/// `dir:u8 len:u16le bytes[len]` (bit0 of `dir`: 0 client, 1 server; bit1: a capture gap
/// of `len` bytes before the chunk), fed to one connection as two byte streams; every chunk
/// is also read directly as a ClientHello, a ServerHello, a Certificate body and an X.509
/// certificate. The walker's own buffers stay under their caps whatever the input.
pub fn tls(mut data: &[u8]) {
    let mut conn = TlsConnection::new(false);
    let mut streams = [Relay::new(), Relay::new()];
    let mut packet = 0u64;
    while let [dir, lo, hi, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        data = tail;
        packet += 1;
        let index = usize::from(dir & 1);
        let _ = tls_handshake::parse_client_hello(chunk);
        let _ = tls_handshake::parse_server_hello(chunk);
        for der in tls_handshake::certificate_chain(chunk) {
            let _ = certificate::read_leaf(der, 1, Some("localhost"));
        }
        let stream = &mut streams[index];
        if dir & 2 != 0 {
            let gap = stream.lose(len as u64, packet);
            conn.gap(index, gap, packet);
            continue;
        }
        stream.append(chunk, packet, Timestamp(i64::try_from(packet).unwrap_or(0)));
        let peer = if index == 0 {
            Peer::Client
        } else {
            Peer::Server
        };
        conn.process(stream, index, peer);
        // One record (the stream's) plus one handshake message per direction, at most.
        assert!(conn.memory() <= 2 * (tls_handshake::MAX_HANDSHAKE_MESSAGE + 64 * 1024));
        assert!(stream.data().len() <= tls_record::HEADER_LEN + tls_record::MAX_RECORD_LEN + len);
    }
    let record = conn.finish(Ending::ClientFin, Timestamp(0), Some(0));
    let _ = wssniff::present::tls_story(&record);
}

/// `engineio`: the first byte is the Engine.IO revision (3 or 4 as sent, anything else
/// too), the rest a polling body: payload, open packet, error body, Socket.IO packets, the
/// WebSocket observer and target parsing, bounded by `MAX_PACKETS`.
pub fn engineio(data: &[u8]) {
    use wssniff::engineio::{packet, socketio, target};
    let Some((&version, body)) = data.split_first() else {
        return;
    };
    if let Ok(payload) = packet::parse_payload(version, body) {
        assert!(payload.packets.len() <= packet::MAX_PACKETS);
        for p in &payload.packets {
            let _ = packet::parse_open(&p.data);
            let _ = socketio::parse(&p.data);
        }
    }
    let _ = packet::parse_packet(body);
    let _ = packet::error_body(body);
    let _ = target::parse(&String::from_utf8_lossy(body));
    let _ = target::mentions_eio(body);
}

/// `h2frame`: HTTP/2 frame headers and payloads (every type, padding, SETTINGS lists) read
/// back to back, as the connection reader walks them.
pub fn h2frame(data: &[u8]) {
    use wssniff::h2::frame::{self as h2f, FrameHeader, FRAME_HEADER_LEN};
    let _ = h2f::preface(data);
    let mut at = 0usize;
    while let Some(h) = data.get(at..).and_then(FrameHeader::parse) {
        let end = at + FRAME_HEADER_LEN + h.len as usize;
        let payload = data
            .get(at + FRAME_HEADER_LEN..end.min(data.len()))
            .unwrap_or_default();
        if let Ok(h2f::Frame::Settings { params, .. }) = h2f::parse_payload(&h, payload) {
            assert!(h2f::settings(params).count() <= params.len() / 6);
        }
        at = end;
    }
}

/// `hpack`: HPACK blocks through one decoder per mode (complete table, mid-connection),
/// split at 0xff bytes into successive blocks so table state carries over; the memory the
/// decoder reports stays within its cap.
pub fn hpack(data: &[u8]) {
    use wssniff::h2::hpack::{HpackDecoder, HpackLimits};
    let limits = HpackLimits {
        max_table_size: 512,
        max_header_list: 1024,
    };
    for from_start in [true, false] {
        let mut d = HpackDecoder::new(limits, from_start);
        d.set_receiver_setting(256);
        for block in data.split(|&b| b == 0xfe) {
            let list = d.decode(block);
            assert!(list.fields.len() * 32 <= limits.max_header_list);
            assert!(d.memory() <= 3 * limits.max_table_size);
        }
    }
}

/// Small caps so a fuzz input can reach them.
#[must_use]
pub fn small_caps() -> EngineConfig {
    EngineConfig {
        flows: FlowLimits {
            max_flows: 8,
            idle_timeout_ns: 60 * 1_000_000_000,
        },
        conn: ConnLimits {
            stream: StreamLimits {
                max_buffered: 4096,
                max_out_of_order: 8192,
            },
            max_header_bytes: 2048,
            max_pending: 4,
            max_payload: 4096,
            body_bytes: 256,
            // Engine.IO bodies past the cut: fuzz inputs reach engineio_body_cut.
            eio_body_bytes: 512,
            decrypt: false,
            h2: wssniff::h2::connection::H2Limits {
                max_header_block: 2048,
                hpack: wssniff::h2::hpack::HpackLimits {
                    max_table_size: 1024,
                    max_header_list: 2048,
                },
                max_streams: 4,
                // Low, so short inputs reach every flood check.
                flood: wssniff::h2::connection::FloodLimits {
                    reset_burst: 4,
                    reset_rate: 1,
                    max_unacked: 4,
                    max_continuations: 2,
                    max_settings: 4,
                    max_empty_data: 4,
                },
            },
            // Hostile frames go through the frame log (and its redaction) too.
            frame_log: true,
        },
        response_timeout_ns: Some(10 * 1_000_000_000),
        ..EngineConfig::default()
    }
}

/// Feeds events to every output (line, JSON, report), as the CLI would: redacted first (the
/// default), so the redaction scans run on hostile heads and previews too.
struct Outputs {
    redactor: wssniff::present::Redactor,
    line: LineSink<Vec<u8>>,
    json: JsonSink<Vec<u8>>,
    report: Report,
}

impl Outputs {
    fn new() -> Self {
        Outputs {
            redactor: wssniff::present::Redactor::new(b"fuzz redaction key, 16+ bytes")
                .expect("a long enough key"),
            line: LineSink::new(
                Vec::new(),
                LineStyle {
                    color: true,
                    verbose: true,
                },
            ),
            json: JsonSink::new(Vec::new()),
            report: Report::new(),
        }
    }

    fn event(&mut self, e: &Event) {
        let redacted = self.redactor.event(e.clone());
        let e = &redacted;
        let _ = self.line.event(e);
        let _ = self.json.event(e);
        let _ = self.report.event(e);
    }
}

/// Builds the IPv4/TCP packet for a script op into `out`.
fn tcp_frame(op: &Op<'_>, seq: u32, ack: u32, out: &mut Vec<u8>) {
    let cport = if op.second { 40_001 } else { 40_000 };
    let client = v4([10, 0, 0, 1], cport);
    let server = v4([10, 0, 0, 2], 80);
    let (src, dst) = if op.dir == 0 {
        (client, server)
    } else {
        (server, client)
    };
    let _ = Tcp {
        src,
        dst,
        seq,
        ack: op.ack.then_some(ack),
        flags: Flags {
            syn: op.syn,
            fin: op.fin,
            rst: op.rst,
            psh: false,
        },
        window: 65_535,
        ttl: 64,
        payload: op.payload,
    }
    // Both addresses are IPv4 and a payload is at most `MAX_OP_PAYLOAD`: always written.
    .write_ipv4(out);
}

/// Runs a script through the whole engine (reassembly, HTTP, handshake, WebSocket session)
/// and every output. Returns the engine for callers that want its counters.
pub fn engine_with(data: &[u8], config: EngineConfig) -> Engine {
    let mut outputs = Outputs::new();
    let engine = run_script(data, config, &mut |e| outputs.event(&e));
    let stats = engine.stats().clone();
    let _ = outputs.line.finish();
    let _ = outputs.json.finish();
    let read = wssniff::capture::ReadSummary::default();
    let info = CaptureInfo::gather("fuzz", &stats, &read, Timestamp(0));
    for format in [
        wssniff::report::Format::Html,
        wssniff::report::Format::Markdown,
        wssniff::report::Format::Json,
    ] {
        let _ = outputs.report.render(format, &info);
    }
    engine
}

/// Looks at an event the way a consumer would without rendering it (the fast path: what
/// the engine built must be there, not turned into text).
fn touch(e: &Event) {
    std::hint::black_box(e);
}

/// The engine part of [`engine_with`]: the script's packets through the engine, each event
/// to `emit`, the memory meter checked against a walk after every packet and released at
/// the end.
fn run_script(data: &[u8], config: EngineConfig, emit: &mut dyn FnMut(Event)) -> Engine {
    let mut engine = Engine::new(config);
    // next[connection][direction]
    let mut next = [
        [0x1000_0000u32, 0x7000_0000u32],
        [0xfffe_0000u32, 0x0000_1000u32],
    ];
    let mut ts = 1_700_000_000_000_000_000i64;
    let mut bytes = Vec::with_capacity(40 + MAX_OP_PAYLOAD);
    for (i, op) in ops(data).into_iter().enumerate() {
        ts += if op.idle { 100_000_000_000 } else { 1_000_000 };
        let conn = usize::from(op.second);
        let seq_next = next[conn][op.dir];
        #[allow(clippy::cast_possible_truncation)]
        let seq = seq_next.wrapping_add(op.seq_delta as u32);
        let ack = next[conn][1 - op.dir];
        tcp_frame(&op, seq, ack, &mut bytes);
        let packet = Packet {
            number: i as u64 + 1,
            ts: Timestamp(ts),
            linktype: Linktype::IPV4,
            data: &bytes,
            orig_len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        };
        engine.process(&packet, emit);
        #[allow(clippy::cast_possible_truncation)]
        let consumed = op.payload.len() as u32 + u32::from(op.syn) + u32::from(op.fin);
        let end = seq.wrapping_add(consumed);
        // Advance when the segment reached past the expected point (mod 2^31 window).
        if end.wrapping_sub(seq_next) as i32 > 0 {
            next[conn][op.dir] = end;
        }
        if op.idle {
            engine.tick(Timestamp(ts), emit);
        }
        assert!(engine.stats().peak_flows <= 8 || config.flows.max_flows > 8);
        // The memory meter is exact: what every buffer registered is what a walk finds.
        assert_eq!(engine.memory(), engine.memory_walked(), "memory accounting");
    }
    engine.finish(emit);
    assert_eq!(engine.memory(), 0, "memory released at the end");
    engine
}

/// `engine`: a script through the whole engine with small caps. The fast path: events are
/// built but not rendered (rendering every output for every input held the target at ~650
/// executions/s); [`outputs`] renders them.
pub fn engine(data: &[u8]) {
    let _ = run_script(data, small_caps(), &mut |e| touch(&e));
}

/// `outputs`: the `engine` script with every event redacted and written by the line and
/// JSON sinks, and the report rendered as HTML, Markdown and JSON at the end.
pub fn outputs(data: &[u8]) {
    let _ = engine_with(data, small_caps());
}

/// `capture`: arbitrary bytes as a pcap/pcapng file, every packet through the engine (the
/// fast path, as [`engine`]: events built, not rendered).
pub fn capture(data: &[u8]) {
    let Ok(mut source) =
        FileSource::from_reader("fuzz", Box::new(std::io::Cursor::new(data.to_vec())))
    else {
        return;
    };
    let mut engine = Engine::new(small_caps());
    let mut packets = 0u64;
    let summary = source.for_each_packet(|packet| {
        packets += 1;
        engine.process(packet, &mut |e| touch(&e));
        assert_eq!(engine.memory(), engine.memory_walked(), "memory accounting");
        ControlFlow::Continue(())
    });
    engine.finish(&mut |e| touch(&e));
    assert_eq!(engine.memory(), 0, "memory released at the end");
    assert_eq!(summary.packets, packets);
    assert!(summary.bytes <= data.len() as u64, "read past the end");
    if let Some(e) = &summary.error {
        // One line, whatever the damage.
        assert!(!e.to_string().contains('\n'));
    }
}

/// `keylog`: the NSS key log parser. The first byte says where to cut the rest in two;
/// parsing the halves must give what parsing the whole gives, the session cap must hold,
/// and no message may carry a run of hex from the input (key logs are secrets).
pub fn keylog(data: &[u8]) {
    use wssniff::tls::keylog::{KeyLog, KeyLogParser, MAX_REPORTED_ERRORS};
    let Some((&cut, text)) = data.split_first() else {
        return;
    };
    let mut whole = KeyLog::new(4);
    let errors = whole.add_text(text);
    let at = usize::from(cut) * text.len() / 256;
    let (a, b) = text.split_at(at.min(text.len()));
    let mut split = KeyLog::new(4);
    let mut parser = KeyLogParser::new();
    let mut split_errors = parser.feed(a, &mut split);
    split_errors.extend(parser.feed(b, &mut split));
    split_errors.extend(parser.finish(&mut split));
    assert_eq!(errors, split_errors, "cut at {at}");
    assert_eq!(whole.stats(), split.stats());
    assert_eq!(whole.len(), split.len());
    assert!(whole.len() <= 4);
    assert!(errors.len() <= MAX_REPORTED_ERRORS + 1);
    for e in &errors {
        let shown = e.to_string();
        let longest_hex_run = shown
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest_hex_run < 16, "{shown}");
    }
}

/// `tls_record`: record decryption. The first byte picks a cipher suite (and, bit 7,
/// encrypt-then-MAC for CBC); the rest is walked as TLS records and opened (none may panic),
/// then sealed as one record and opened again, which must give it back.
pub fn tls_record(data: &[u8]) {
    use wssniff::tls::decrypt::testing::RecordEncrypter;
    use wssniff::tls::decrypt::{ContentType, RecordDecrypter, RecordHeader};
    use wssniff::tls::keyschedule::tls12_key_block;
    use wssniff::tls::suite::{Suite, Version};
    const SUITES: [u16; 9] = [
        0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0xcca8, 0xc013, 0xc028, 0x003d,
    ];
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some(Ok(suite)) = SUITES
        .get(usize::from(sel & 0x7f) % SUITES.len())
        .map(|&id| Suite::from_id(id))
    else {
        return;
    };
    let etm = sel & 0x80 != 0;
    let secret = [7u8; 48];
    let secret = secret.get(..suite.hash.output_len()).unwrap_or_default();
    let (mut dec, mut enc) = match suite.version {
        Version::Tls13 => match (
            RecordDecrypter::tls13(suite, secret),
            RecordEncrypter::tls13(suite, secret),
        ) {
            (Ok(d), Some(e)) => (d, e),
            _ => return,
        },
        Version::Tls12 => {
            let Ok(kb) = tls12_key_block(&suite, &[9; 48], &[1; 32], &[2; 32]) else {
                return;
            };
            let Ok(d) = RecordDecrypter::tls12(suite, &kb.client, etm) else {
                return;
            };
            (d, RecordEncrypter::tls12(suite, &kb.client, etm))
        }
    };
    let mut at = 0usize;
    while let Some(head) = rest.get(at..at.saturating_add(5)) {
        let Some(header) = RecordHeader::parse(head) else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
        let end = (at + 5 + len).min(rest.len());
        let mut fragment = rest.get(at + 5..end).unwrap_or_default().to_vec();
        let _ = if sel & 1 == 0 {
            dec.open(header, &mut fragment)
        } else {
            dec.open_after_loss(header, &mut fragment)
        };
        at = end;
    }
    let plaintext = rest.get(..rest.len().min(1 << 14)).unwrap_or_default();
    enc.seq = dec.next_seq();
    let Some(record) = enc.seal(ContentType::APPLICATION_DATA, plaintext) else {
        return;
    };
    let Some(header) = RecordHeader::parse(&record) else {
        return;
    };
    let mut fragment = record.get(5..).unwrap_or_default().to_vec();
    match dec.open(header, &mut fragment) {
        Ok(opened) => {
            assert_eq!(opened.content_type, ContentType::APPLICATION_DATA);
            assert_eq!(opened.plaintext, plaintext);
        }
        Err(e) => panic!("{suite}: a record sealed with the same keys did not open: {e}"),
    }
}
