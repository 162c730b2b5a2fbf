//! The WebSocket content hook on real captures: each sample's streams are reassembled, the
//! HTTP heads skipped, and the frames walked by a `Session` with an observer registered, as
//! the engine will do for Engine.IO. The expected texts are what the generator scripts sent
//! (samples/gen/pyws.py `client_basic`, samples/gen/nodews.js `client-deflate` and
//! `server-deflate`); both captures are compressed (permessage-deflate, RSV1 set).

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;

use wssniff::capture::{FileSource, Timestamp};
use wssniff::decode;
use wssniff::event::{ConnectionRecord, Ending, Peer};
use wssniff::http::head::{find_head_end, parse_head, HeadParse};
use wssniff::tcp::reassembly::{Stream, StreamLimits};
use wssniff::websocket::content::{
    Completeness, ContentCap, ContentLimits, ContentObserver, MessageContent,
};
use wssniff::websocket::frame::Opcode;
use wssniff::websocket::session::{deflate_params, Session, Step, TcpEnd};

use crate::util::sample;

/// A delivered message, owned.
#[derive(Clone, Debug)]
struct Got {
    peer: Peer,
    opcode: Opcode,
    bytes: Vec<u8>,
    completeness: Completeness,
    compressed: bool,
    frames: u64,
    first_packet: u64,
    last_packet: u64,
    ts: Timestamp,
}

#[derive(Default)]
struct Recorder {
    got: Vec<Got>,
    caps: Vec<ContentCap>,
}

impl ContentObserver for Recorder {
    fn message(&mut self, m: &MessageContent<'_>) {
        self.got.push(Got {
            peer: m.peer,
            opcode: m.opcode,
            bytes: m.bytes.to_vec(),
            completeness: m.completeness,
            compressed: m.compressed,
            frames: m.frames,
            first_packet: m.first_packet,
            last_packet: m.last_packet,
            ts: m.ts,
        });
    }
    fn cap_reached(&mut self, cap: ContentCap) {
        self.caps.push(cap);
    }
}

/// What walking a capture's first WebSocket connection gave.
struct Walked {
    recorder: Recorder,
    record: ConnectionRecord,
    /// Packet number → (sender, timestamp), for every TCP packet of the connection.
    packets: HashMap<u64, (Peer, Timestamp)>,
}

/// One direction: its reassembled stream and whether its HTTP head was consumed.
struct Side {
    stream: Stream,
    head_done: bool,
}

/// Reassembles the capture's one connection, skips both HTTP heads and walks the frames
/// with an observer registered at the 101.
fn walk(name: &str, limits: ContentLimits) -> Walked {
    let mut source = FileSource::open(sample(name).to_str().unwrap()).unwrap();
    let mut client: Option<SocketAddr> = None;
    let mut sides = [0, 1].map(|_| Side {
        stream: Stream::new(StreamLimits::default()),
        head_done: false,
    });
    let mut session: Option<Session> = None;
    let mut packets = HashMap::new();
    let mut last_ts = Timestamp(0);
    source.for_each_packet(|packet| {
        let Ok(seg) = decode::decode(packet) else {
            return ControlFlow::Continue(());
        };
        let from = SocketAddr::new(seg.src_ip, seg.src_port);
        if client.is_none() && seg.payload.starts_with(b"GET ") {
            client = Some(from);
        }
        let peer = if client == Some(from) || (client.is_none() && seg.flags.syn && !seg.flags.ack)
        {
            client.get_or_insert(from);
            Peer::Client
        } else {
            Peer::Server
        };
        packets.insert(packet.number, (peer, packet.ts));
        last_ts = packet.ts;
        let i = usize::from(peer == Peer::Server);
        let side = &mut sides[i];
        if seg.flags.syn {
            side.stream.syn(seg.seq);
        }
        side.stream
            .push(seg.seq, seg.payload, packet.number, packet.ts);
        if !side.head_done {
            let Some(len) = find_head_end(side.stream.data(), 0) else {
                return ControlFlow::Continue(());
            };
            if peer == Peer::Server {
                let HeadParse::Complete(head) = parse_head(side.stream.data(), len, false) else {
                    panic!("{name}: the 101 does not parse");
                };
                assert_eq!(head.status(), Some(101), "{name}");
                let deflate = deflate_params(&head.list("sec-websocket-extensions"));
                let mut s = Session::new(packet.ts, deflate, 1 << 20);
                s.observe_content(Box::new(Recorder::default()), limits);
                session = Some(s);
            }
            side.stream.consume(len as u64);
            side.head_done = true;
        }
        // Client frames follow the 101, so the session exists by then; walk both sides.
        if let Some(s) = session.as_mut() {
            for (i, side) in sides.iter_mut().enumerate() {
                if !side.head_done {
                    continue;
                }
                let peer = if i == 0 { Peer::Client } else { Peer::Server };
                loop {
                    let stream = &side.stream;
                    let step = s.step(peer, stream.data(), &|at| stream.origin(at));
                    match step {
                        Step::Consume(n) => side.stream.consume(n),
                        Step::NeedMore | Step::Stop => break,
                    }
                    if side.stream.data().is_empty() {
                        break;
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    let (record, observer) = session.expect("a 101 in the capture").finish_observed(
        TcpEnd {
            ending: Ending::ServerFin,
            at: last_ts,
            rst: false,
        },
        Some(Peer::Server),
    );
    let any: Box<dyn Any> = observer.unwrap();
    Walked {
        recorder: *any.downcast::<Recorder>().unwrap(),
        record,
        packets,
    }
}

/// (sender, opcode, text) of every delivery, close payloads as code + reason.
fn story(r: &Recorder) -> Vec<(Peer, Opcode, String)> {
    r.got
        .iter()
        .map(|g| {
            let text = match (g.opcode, g.bytes.as_slice()) {
                (Opcode::Close, [a, b, reason @ ..]) => format!(
                    "{} {}",
                    u16::from_be_bytes([*a, *b]),
                    String::from_utf8_lossy(reason)
                ),
                (Opcode::Binary, bytes) => format!("{bytes:02x?}"),
                (_, bytes) => String::from_utf8_lossy(bytes).into_owned(),
            };
            (g.peer, g.opcode, text)
        })
        .collect()
}

/// Every delivery names packets of its sender, in order, and the first one's time.
fn packets_are_the_senders(w: &Walked) {
    for g in &w.recorder.got {
        let (peer, ts) = w.packets[&g.first_packet];
        assert_eq!(peer, g.peer, "{g:?}");
        assert_eq!(ts, g.ts, "{g:?}");
        assert_eq!(w.packets[&g.last_packet].0, g.peer, "{g:?}");
        assert!(g.first_packet <= g.last_packet, "{g:?}");
    }
}

#[test]
fn python_websockets_messages_are_delivered_inflated() {
    let w = walk("python-websockets-ok.pcap", ContentLimits::default());
    // The walk agrees with the engine's record of the same connection (its golden).
    assert_eq!(w.record.client_to_server.compressed_messages, 2);
    assert_eq!(w.record.close.client.as_ref().unwrap().packet, 14);
    assert_eq!(
        story(&w.recorder),
        [
            (Peer::Client, Opcode::Text, "hello".to_owned()),
            (Peer::Server, Opcode::Text, "hello".to_owned()),
            (Peer::Client, Opcode::Binary, "[01, 02, 03, 04]".to_owned()),
            (Peer::Server, Opcode::Binary, "[01, 02, 03, 04]".to_owned()),
            (Peer::Client, Opcode::Ping, "p1".to_owned()),
            (Peer::Server, Opcode::Pong, "p1".to_owned()),
            (Peer::Client, Opcode::Close, "1000 done".to_owned()),
            (Peer::Server, Opcode::Close, "1000 done".to_owned()),
        ]
    );
    let data = |g: &&Got| matches!(g.opcode, Opcode::Text | Opcode::Binary);
    assert!(w.recorder.got.iter().filter(data).all(|g| g.compressed));
    assert!(w
        .recorder
        .got
        .iter()
        .all(|g| g.completeness == Completeness::Complete));
    let closes: Vec<u64> = w
        .recorder
        .got
        .iter()
        .filter(|g| g.opcode == Opcode::Close)
        .map(|g| g.first_packet)
        .collect();
    assert_eq!(
        closes,
        [14, 15],
        "the close frames' packets, as in the golden"
    );
    packets_are_the_senders(&w);
    assert!(w.recorder.caps.is_empty());
}

#[test]
fn node_ws_fragmented_compressed_messages_are_joined() {
    let w = walk("node-ws-subprotocol-deflate.pcap", ContentLimits::default());
    let got = story(&w.recorder);
    assert_eq!(
        got,
        [
            (
                Peer::Client,
                Opcode::Text,
                "hello hello hello hello".to_owned()
            ),
            (
                Peer::Server,
                Opcode::Text,
                "ack 1: hello hello hello hello".to_owned()
            ),
            (Peer::Client, Opcode::Text, "frag-one frag-two".to_owned()),
            (
                Peer::Server,
                Opcode::Text,
                "ack 2: frag-one frag-two".to_owned()
            ),
            (Peer::Server, Opcode::Close, "1001 going away".to_owned()),
            (Peer::Client, Opcode::Close, "1001 going away".to_owned()),
        ]
    );
    let frag = &w.recorder.got[2];
    assert_eq!(frag.frames, 2);
    assert!(frag.compressed);
    // The fragments were sent 50 ms apart: two packets.
    assert!(frag.last_packet > frag.first_packet, "{frag:?}");
    assert!(w
        .recorder
        .got
        .iter()
        .all(|g| g.completeness == Completeness::Complete));
    packets_are_the_senders(&w);
}

#[test]
fn the_caps_hold_on_real_traffic() {
    let limits = ContentLimits {
        messages: 1,
        bytes: 5,
    };
    let w = walk("node-ws-subprotocol-deflate.pcap", limits);
    let data: Vec<&Got> = w
        .recorder
        .got
        .iter()
        .filter(|g| matches!(g.opcode, Opcode::Text | Opcode::Binary))
        .collect();
    assert_eq!(data.len(), 2, "one data message per direction");
    for g in &data {
        assert!(g.bytes.len() <= 5);
        assert_eq!(g.completeness, Completeness::Truncated, "{g:?}");
    }
    assert_eq!(data[0].bytes, b"hello");
    assert_eq!(data[1].bytes, b"ack 1");
    // Both directions sent a second message: each cap is reported once.
    let mut caps = w.recorder.caps.clone();
    caps.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        caps,
        [
            ContentCap::Messages {
                peer: Peer::Client,
                limit: 1
            },
            ContentCap::Messages {
                peer: Peer::Server,
                limit: 1
            },
        ]
    );
    // Control frames are not counted against the message cap.
    assert_eq!(
        w.recorder
            .got
            .iter()
            .filter(|g| g.opcode == Opcode::Close)
            .count(),
        2
    );
    // The record is the same with or without an observer and its caps.
    let unlimited = walk("node-ws-subprotocol-deflate.pcap", ContentLimits::default());
    assert_eq!(w.record, unlimited.record);
    // A message exactly as long as the cap is complete.
    let w = walk("python-websockets-ok.pcap", limits);
    assert_eq!(w.recorder.got[0].bytes, b"hello");
    assert_eq!(w.recorder.got[0].completeness, Completeness::Complete);
}
