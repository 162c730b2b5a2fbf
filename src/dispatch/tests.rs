//! The parser switch with the TCP lifecycle under it, driven by the segment notation of
//! `tcp::script`: which lane each direction ends up in, what the pairing completes, and that
//! the memory accounting agrees with a walk after every segment.

use super::*;
use crate::event::ConnectionEnding;
use crate::http::exchange::Completed;
use crate::tcp::script::{ack, data, fin, syn, syn_ack, Seg, Wire, C, S};

/// One connection driven segment by segment.
struct Run {
    conn: Connection,
    out: Output,
    meter: Meter,
    wire: Wire,
    completed: Vec<Completed>,
    effects: Vec<SegmentEffect>,
}

impl Run {
    fn new() -> Self {
        let mut meter = Meter::new();
        let conn = Connection::new(&Opening::default(), ConnLimits::default(), &mut meter);
        Run {
            conn,
            out: Output::default(),
            meter,
            wire: Wire::new(),
            completed: Vec::new(),
            effects: Vec::new(),
        }
    }

    /// Sends `segs`, checking after each that the meter holds exactly what a walk finds.
    fn send(&mut self, segs: &[Seg]) -> &mut Self {
        for s in segs {
            let (conn, out, meter) = (&mut self.conn, &mut self.out, &mut self.meter);
            let effect = self.wire.send(s, |side, seg, packet| {
                conn.on_segment(side, seg, packet, out, meter)
            });
            assert_eq!(self.meter.held(), self.conn.memory(), "after {s:?}");
            self.effects.push(effect);
            self.completed.append(&mut self.out.completed);
        }
        self
    }

    fn lanes(&self) -> (Lane, Lane) {
        (self.conn.dispatch().lane(C), self.conn.dispatch().lane(S))
    }

    /// Ends the connection: the WebSocket records, and nothing left on the meter.
    fn finish(&mut self) -> Vec<ConnectionRecord> {
        self.conn
            .finish(Ending::CaptureEnded, &mut self.out, &mut self.meter);
        self.completed.append(&mut self.out.completed);
        assert_eq!(self.meter.held(), 0, "everything released");
        std::iter::from_fn(|| self.conn.take_connection_record())
            .map(|(stream, record)| {
                assert_eq!(stream, StreamId::HTTP1);
                record
            })
            .collect()
    }

    fn codes(&self) -> Vec<&'static str> {
        self.completed
            .iter()
            .flat_map(|c| c.extra.iter().map(|f| f.code.as_str()))
            .collect()
    }
}

fn run(segs: &[Seg]) -> Run {
    let mut r = Run::new();
    r.send(segs);
    r
}

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const SWITCH: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/// A masked text frame "Hello" (RFC 6455 §5.7), as a client sends it.
const MASKED_HELLO: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
/// An unmasked text frame "Hello", as a server sends it.
const HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];

fn len(b: &[u8]) -> u32 {
    u32::try_from(b.len()).unwrap_or(u32::MAX)
}

#[test]
fn http1_switches_to_websocket_after_a_websocket_101() {
    let switch_and_frame = [SWITCH, HELLO].concat();
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, &switch_and_frame),
        data(C, len(UPGRADE), MASKED_HELLO),
    ]);
    assert_eq!(r.lanes(), (Lane::WebSocket, Lane::WebSocket));
    assert_eq!(r.completed.len(), 1);
    assert!(r.completed[0].switched);
    assert_eq!(r.completed[0].stream, StreamId::HTTP1);
    let records = r.finish();
    assert_eq!(records.len(), 1);
    assert!(records[0].handshake_observed);
    assert_eq!(records[0].client_to_server.frames, 1);
    assert_eq!(
        records[0].server_to_client.frames, 1,
        "the frame in the 101's segment is walked"
    );
}

#[test]
fn a_101_to_another_protocol_makes_an_opaque_tunnel_that_stores_nothing() {
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(
            C,
            0,
            b"POST /v1/attach HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n",
        ),
        data(
            S,
            0,
            b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n",
        ),
        data(C, 62, b"\x01\x00\x00\x00\x00\x00\x00\x05hello"),
    ]);
    assert_eq!(r.lanes(), (Lane::Tunnel, Lane::Tunnel));
    assert!(r.conn.tcp().stream(C).data().is_empty());
    assert!(r.conn.tcp().stream(C).is_ignored());
    assert!(r.completed.is_empty());
    assert!(r.finish().is_empty(), "no WebSocket, no connection record");
}

#[test]
fn an_h2c_upgrade_switches_both_directions_to_the_h2_lane() {
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    let response =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, request),
        data(S, 0, response),
        data(C, len(request), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ]);
    assert_eq!(r.lanes(), (Lane::H2c, Lane::H2c));
    assert!(r.completed.is_empty());
    assert!(!r.conn.saw_upgrade());
    assert!(r.finish().is_empty());
}

#[test]
fn tls_from_the_client_is_the_tls_lane_of_both_directions() {
    let hello = [
        0x16, 0x03, 0x01, 0x00, 0xf8, 0x01, 0x00, 0x00, 0xf4, 0x03, 0x03,
    ];
    let mut r = run(&[syn(C), syn_ack(S), data(C, 0, &hello)]);
    assert_eq!(r.lanes(), (Lane::Tls, Lane::Tls));
    // The TLS layer waits for the rest of the ClientHello record, and no more.
    assert_eq!(r.conn.tcp().stream(C).data(), hello);
    assert!(r.finish().is_empty());
    assert!(r.completed.is_empty(), "no upgrade waited: nothing to say");
}

#[test]
fn a_tls_record_answering_an_upgrade_is_evidence_on_the_unanswered_request() {
    let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46];
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, &alert),
        fin(S, 7),
    ]);
    // The client speaks HTTP: a TLS answer is HTTP's story, not a TLS connection.
    assert!(matches!(r.lanes(), (Lane::Http(f), Lane::Ignored) if f.is_awaiting_response()));
    r.finish();
    assert_eq!(r.completed.len(), 1);
    assert!(r.completed[0].response.is_none());
    assert_eq!(r.completed[0].ending, Some(Ending::ServerFin));
    assert_eq!(r.codes(), ["http_malformed"]);
    assert!(r.completed[0].extra[0].message.contains("a TLS record"));
}

#[test]
fn interim_responses_before_the_101_travel_with_the_handshake() {
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, b"HTTP/1.1 100 Continue\r\n\r\n"),
        data(S, 25, SWITCH),
    ]);
    assert_eq!(r.completed.len(), 1);
    assert_eq!(r.completed[0].interim.len(), 1);
    assert_eq!(r.lanes(), (Lane::WebSocket, Lane::WebSocket));
    assert_eq!(r.finish().len(), 1);
}

#[test]
fn an_upgrade_pipelined_behind_plain_requests_is_paired_with_the_third_response() {
    let plain = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    let ok = b"HTTP/1.1 204 No Content\r\n\r\n";
    let answers = [ok.as_slice(), ok, SWITCH].concat();
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, &[plain.as_slice(), UPGRADE].concat()),
        data(S, 0, &answers),
    ]);
    assert_eq!(r.completed.len(), 1);
    assert_eq!(
        r.completed[0]
            .response
            .as_ref()
            .and_then(|m| m.head.status()),
        Some(101)
    );
    assert_eq!(r.lanes(), (Lane::WebSocket, Lane::WebSocket));
    r.finish();
}

#[test]
fn a_chunked_body_then_an_upgrade_on_the_same_connection() {
    let post = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, post),
        data(S, 0, ok),
        data(C, len(post), UPGRADE),
        data(S, len(ok), SWITCH),
    ]);
    assert_eq!(r.completed.len(), 1);
    assert!(r.completed[0].switched);
    r.finish();
}

#[test]
fn after_a_gap_proven_by_the_ack_http_resynchronises_and_the_gap_is_evidence() {
    let post = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123";
    let early = b"HTTP/1.1 204 No Content\r\n\r\n";
    // The end of the chunked body (offset 56..80) was lost; the upgrade after it arrives.
    let after = 80;
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, post),
        data(S, 0, early),
        data(
            C,
            after,
            &[b"456789abcdef\r\n0\r\n\r\n".as_slice(), UPGRADE].concat(),
        ),
        ack(S, after + 200),
    ]);
    assert!(matches!(r.lanes().0, Lane::Http(f) if f.is_awaiting_response()));
    r.send(&[data(S, len(early), SWITCH)]);
    assert_eq!(r.completed.len(), 1);
    assert_eq!(r.codes(), ["capture_gap"], "{:?}", r.completed[0].extra);
    assert_eq!(
        r.completed[0].extra[0].packets,
        [6],
        "the ACK that proved it"
    );
    r.finish();
}

#[test]
fn a_gap_answered_by_a_plain_response_is_that_exchange_s_problem() {
    // 41 bytes of head and 10 of body, 4 captured; the hole runs to the upgrade at 80.
    let post = b"POST /u HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123";
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, post),
        data(C, 80, UPGRADE),
        ack(S, 80 + len(UPGRADE)),
        data(
            S,
            0,
            &[b"HTTP/1.1 204 No Content\r\n\r\n".as_slice(), SWITCH].concat(),
        ),
    ]);
    assert_eq!(r.completed.len(), 1);
    assert!(
        r.completed[0].request.is_some(),
        "the upgrade was found after the hole"
    );
    assert!(r.codes().is_empty(), "{:?}", r.codes());
    r.finish();
}

#[test]
fn a_gap_inside_websocket_frames_resumes_at_a_segment_that_starts_with_a_whole_frame() {
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, SWITCH),
        data(S, len(SWITCH), HELLO),
        data(S, len(SWITCH) + 20, HELLO),
        ack(C, len(SWITCH) + 27),
    ]);
    assert_eq!(r.lanes(), (Lane::WebSocket, Lane::WebSocket));
    let records = r.finish();
    assert!(records[0].server_to_client.decoding_stopped);
    assert_eq!(
        records[0].server_to_client.frames, 2,
        "before and after the gap"
    );
    assert!(!records[0].client_to_server.decoding_stopped);
}

#[test]
fn a_gap_followed_by_the_middle_of_a_frame_stops_that_direction_only() {
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, SWITCH),
        data(S, len(SWITCH), HELLO),
        // The rest of a frame whose header was lost: no frame starts there.
        data(S, len(SWITCH) + 20, b"lo, world, and more"),
        ack(C, len(SWITCH) + 39),
    ]);
    assert_eq!(r.lanes(), (Lane::WebSocket, Lane::Ignored));
    let records = r.finish();
    assert!(records[0].server_to_client.decoding_stopped);
    assert_eq!(records[0].server_to_client.frames, 1);
}

#[test]
fn a_capture_that_starts_mid_websocket_is_recognised_from_its_frames() {
    let frames: Vec<u8> = MASKED_HELLO.repeat(3);
    let mut r = run(&[data(C, 500, &frames), data(S, 900, HELLO)]);
    assert_eq!(r.lanes(), (Lane::WebSocket, Lane::WebSocket));
    assert_eq!(
        r.conn.client_side(),
        Some(C),
        "masked frames are the client's"
    );
    let records = r.finish();
    assert_eq!(records.len(), 1);
    assert!(!records[0].handshake_observed);
    assert_eq!(records[0].client_to_server.frames, 3);
    assert_eq!(records[0].ending, ConnectionEnding::Open);
}

#[test]
fn a_capture_that_starts_mid_http_resynchronises_on_the_next_request() {
    let tail = b"rest of an earlier body that is not frames\r\n";
    let mut r = run(&[data(C, 0, &[tail.as_slice(), UPGRADE].concat())]);
    assert!(matches!(r.lanes().0, Lane::Http(f) if f.is_awaiting_response()));
    r.send(&[data(S, 0, SWITCH)]);
    assert_eq!(r.completed.len(), 1);
    assert!(r.completed[0].request.is_some() && r.completed[0].switched);
    r.finish();
}

#[test]
fn a_data_segment_without_its_syn_waits_for_frames_before_deciding() {
    let r = run(&[data(S, 0, &HELLO[..3])]);
    assert_eq!(r.lanes().1, Lane::FrameSniff);
}

#[test]
fn the_meter_follows_held_segments_heads_and_sessions_and_ends_at_zero() {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\nX-Pad: 0123456789\r\n\r\n";
    let mut r = Run::new();
    // Out of order (held), a head dribbled, an interim response kept, a session opened.
    r.send(&[
        syn(C),
        syn_ack(S),
        data(C, 30, &UPGRADE[30..]),
        data(C, 0, &UPGRADE[..30]),
        data(S, 0, CONTINUE),
        data(S, len(CONTINUE), &SWITCH[..40]),
        data(S, len(CONTINUE) + 40, &SWITCH[40..]),
        data(C, len(UPGRADE), MASKED_HELLO),
    ]);
    assert!(r.meter.peak() > std::mem::size_of::<Connection>());
    assert_eq!(r.finish().len(), 1);
}

#[test]
fn the_switch_reads_relayed_bytes_as_a_tls_layer_would_hand_them_on() {
    use crate::tcp::stream::Relay;
    // What a TLS layer would produce: plaintext, each run tagged with the packet of its record.
    let mut streams = [Relay::new(), Relay::new()];
    let mut client = None;
    let mut app = Dispatch::new(ConnLimits::default());
    let mut out = Output::default();
    let at = crate::tcp::script::ts_of;
    streams[0].append(UPGRADE, 7, at(7));
    Application::<Relay>::process(
        &mut app,
        &mut Link::new(&mut streams, &mut client, at(7)),
        C,
        &mut out,
    );
    streams[1].append(&[SWITCH, HELLO].concat(), 9, at(9));
    // A record that failed to decrypt: the layer declares the loss, the walker stops there.
    let gap = streams[0].lose(40, 11);
    let mut link = Link::new(&mut streams, &mut client, at(11));
    Application::<Relay>::process(&mut app, &mut link, S, &mut out);
    Application::<Relay>::gap(&mut app, &mut link, C, gap, 11);
    assert_eq!(app.lane(S), Lane::WebSocket);
    assert_eq!(
        app.lane(C),
        Lane::WebSocketResync,
        "the next record may start a frame"
    );
    assert_eq!(link.client(), Some(C));
    let closure = Closure {
        ending: Ending::ClientFin,
        at: at(12),
        rst: false,
        closer: Some(C),
    };
    Application::<Relay>::finish(&mut app, &mut link, closure, &mut out);
    assert_eq!(out.completed.len(), 1);
    let c = &out.completed[0];
    assert_eq!(c.request.as_ref().map(|m| m.packets.clone()), Some(vec![7]));
    assert_eq!(
        c.response.as_ref().map(|m| m.packets.clone()),
        Some(vec![9])
    );
    let (_, record) = app
        .take_connection_record()
        .unwrap_or_else(|| unreachable!());
    assert_eq!(record.server_to_client.frames, 1);
    assert!(record.client_to_server.decoding_stopped);
}

/// A second upgrade request on the same connection, and a 400 with a reason for it.
const RETRY: &[u8] = b"GET /again HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const REFUSED: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nno more";

#[test]
fn a_101_naming_another_protocol_keeps_http_and_the_next_attempt_is_reported() {
    let typo = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websockets\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, typo),
        data(C, len(UPGRADE), RETRY),
        data(S, len(typo), REFUSED),
    ]);
    assert_eq!(r.completed.len(), 2, "both attempts are reported");
    assert!(!r.completed[0].switched, "no WebSocket opened");
    let second = r.completed[1].response.as_ref().map(|m| m.head.status());
    assert_eq!(second, Some(Some(400)));
    let request = r.completed[1]
        .request
        .as_ref()
        .map(|m| m.head.start_line.clone());
    assert_eq!(request.as_deref(), Some("GET /again HTTP/1.1"));
    assert!(matches!(r.lanes(), (Lane::Http(_), Lane::Http(_))));
    assert!(
        r.finish().is_empty(),
        "no connection record: nothing switched"
    );
}

#[test]
fn http_after_a_websocket_101_is_http_not_frames() {
    // The server answered 101 correctly, but the client carries on in HTTP (it failed the
    // handshake, or a proxy answered 101 itself): the request is not decoded as frames.
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, SWITCH),
        data(C, len(UPGRADE), RETRY),
        data(S, len(SWITCH), REFUSED),
    ]);
    assert_eq!(r.completed.len(), 2, "{:?}", r.codes());
    assert!(r.completed[0].switched);
    assert_eq!(
        r.codes(),
        ["http_after_switch"],
        "no frame findings from ASCII"
    );
    let f = &r.completed[1].extra[0];
    assert!(
        f.message.contains("the client sent an HTTP request"),
        "{}",
        f.message
    );
    assert!(r.finish().is_empty(), "no WebSocket connection record");
}

#[test]
fn frames_after_a_101_are_frames_even_when_they_start_with_a_capital() {
    // RSV1 + text without FIN (0x41, 'A'): a compressed first fragment, masked.
    let fragment = [0x41, 0x81, 1, 2, 3, 4, b'x' ^ 1];
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, UPGRADE),
        data(S, 0, SWITCH),
        data(C, len(UPGRADE), &fragment),
    ]);
    assert_eq!(r.lanes(), (Lane::WebSocket, Lane::WebSocket));
    let records = r.finish();
    assert_eq!(records[0].client_to_server.frames, 1);
}

/// A stand-in record decrypter for the wiring: the "ciphertext" is the plaintext followed by
/// its inner content type.
#[derive(Debug)]
struct ClearText;

impl crate::tls::RecordDecrypter for ClearText {
    fn open(
        &mut self,
        _header: [u8; 5],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, crate::tls::DecryptError> {
        let (ty, body) = payload
            .split_last()
            .ok_or(crate::tls::DecryptError::TooShort)?;
        out.extend_from_slice(body);
        Ok(*ty)
    }

    fn next_epoch(&mut self, _epoch: crate::tls::Epoch) {}
}

fn tls_record(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 0x03, 0x03];
    r.extend_from_slice(&u16::try_from(payload.len()).unwrap_or(0).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

fn sealed(ty: u8, plain: &[u8]) -> Vec<u8> {
    tls_record(23, &[plain, &[ty]].concat())
}

#[test]
fn decrypted_bytes_get_the_whole_http_and_websocket_analysis() {
    use crate::tls::handshake::tests::{client_hello_body, message, sni_ext};
    let hello = tls_record(
        22,
        &message(1, &client_hello_body(&[sni_ext("chat.example")])),
    );
    let mut sh = vec![0x03, 0x03];
    sh.extend_from_slice(&[9u8; 32]);
    sh.extend_from_slice(&[0, 0x13, 0x01, 0]);
    sh.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
    let flight = [
        tls_record(22, &message(2, &sh)),
        sealed(22, &message(20, &[0; 32])),
    ]
    .concat();
    let mut meter = Meter::new();
    let limits = ConnLimits {
        decrypt: true,
        ..ConnLimits::default()
    };
    let mut r = Run::new();
    r.conn = Connection::new(&Opening::default(), limits, &mut meter);
    r.meter = meter;
    r.send(&[syn(C), syn_ack(S), data(C, 0, &hello), data(S, 0, &flight)]);
    assert_eq!(r.lanes(), (Lane::Tls, Lane::Tls));
    let request = r.conn.tls_key_request().cloned();
    assert_eq!(
        request.map(|q| (q.version, q.cipher_suite)),
        Some((0x0304, 0x1301))
    );
    let keys = crate::tls::SessionKeys {
        client: Box::new(ClearText),
        server: Box::new(ClearText),
        master: None,
        early: None,
    };
    r.conn
        .install_tls_keys(crate::tls::KeyAnswer::Keys(keys), &mut r.out, &mut r.meter);
    assert_eq!(r.meter.held(), r.conn.memory());
    let client = [sealed(22, &message(20, &[0; 32])), sealed(23, UPGRADE)].concat();
    let server = [sealed(23, SWITCH), sealed(23, HELLO)].concat();
    r.send(&[
        data(C, len(&hello), &client),
        data(S, len(&flight), &server),
        data(C, len(&hello) + len(&client), &sealed(23, MASKED_HELLO)),
    ]);
    assert_eq!(r.completed.len(), 1, "the handshake inside TLS is analysed");
    assert!(r.completed[0].switched);
    assert!(r.conn.saw_upgrade());
    let connections = r.finish();
    assert_eq!(
        connections.len(),
        1,
        "and the WebSocket connection after it"
    );
    assert_eq!(connections[0].client_to_server.frames, 1);
    assert_eq!(connections[0].server_to_client.frames, 1);
    let tls = r.conn.take_tls_record();
    assert!(tls
        .as_ref()
        .is_some_and(|t| t.decrypted && t.sni.as_deref() == Some("chat.example")));
}

/// An HTTP/2 frame (RFC 9113 §4.1).
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = u32::try_from(payload.len()).unwrap_or(0).to_be_bytes();
    let mut v = vec![n[1], n[2], n[3], kind, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn h2_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut e = loona_hpack::Encoder::new();
    e.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

/// A server's SETTINGS enabling extended CONNECT (RFC 8441 §3).
fn h2_server_settings() -> Vec<u8> {
    h2_frame(4, 0, 0, &[0, 8, 0, 0, 0, 1])
}

fn h2_client_preface() -> Vec<u8> {
    [&crate::h2::frame::PREFACE[..], &h2_frame(4, 0, 0, &[])].concat()
}

fn h2_client_connect() -> Vec<u8> {
    let connect = h2_block(&[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/chat"),
        (":authority", "chat.example"),
        ("sec-websocket-version", "13"),
    ]);
    h2_frame(1, 0x4, 1, &connect)
}

fn h2_client_opening() -> Vec<u8> {
    [h2_client_preface(), h2_client_connect()].concat()
}

fn h2_server_ok() -> Vec<u8> {
    h2_frame(1, 0x4, 1, &h2_block(&[(":status", "200")]))
}

#[test]
fn a_server_settings_read_before_the_client_preface_waiting_on_the_other_side_is_http2() {
    use crate::tcp::stream::Relay;
    // Both directions decrypted before either is read (keys installed late): the server's
    // SETTINGS comes up first while the client's preface sits unread. (Both are then read in
    // capture order: the client's preface came first.)
    let mut streams = [Relay::new(), Relay::new()];
    let mut client = Some(C);
    let mut app = Dispatch::new(ConnLimits::default());
    let mut out = Output::default();
    let at = crate::tcp::script::ts_of;
    streams[C.index()].append(&h2_client_preface(), 7, at(7));
    streams[S.index()].append(&h2_server_settings(), 8, at(8));
    let mut link = Link::new(&mut streams, &mut client, at(8));
    Application::<Relay>::process(&mut app, &mut link, S, &mut out);
    assert_eq!((app.lane(C), app.lane(S)), (Lane::H2c, Lane::H2c));
    link.stream_mut(C).append(&h2_client_connect(), 9, at(9));
    Application::<Relay>::process(&mut app, &mut link, C, &mut out);
    link.stream_mut(S).append(&h2_server_ok(), 10, at(10));
    Application::<Relay>::process(&mut app, &mut link, S, &mut out);
    assert_eq!(out.completed.len(), 1);
    let c = &out.completed[0];
    assert!(c.switched);
    assert_eq!(
        c.h2.as_ref().and_then(|h| h.connect_protocol_enabled),
        Some(true),
        "the server's SETTINGS was read, not skipped as HTTP/1"
    );
}

/// An EncryptedExtensions message selecting `protocol` by ALPN (RFC 7301 §3.1).
fn encrypted_extensions(protocol: &[u8]) -> Vec<u8> {
    use crate::tls::handshake::tests::message;
    let name_len = u8::try_from(protocol.len()).unwrap_or(0);
    let list = [&[0, name_len + 1, name_len][..], protocol].concat();
    let ext = [
        &[0x00, 0x10][..],
        &u16::try_from(list.len()).unwrap_or(0).to_be_bytes(),
        &list,
    ]
    .concat();
    let body = [
        &u16::try_from(ext.len()).unwrap_or(0).to_be_bytes()[..],
        &ext,
    ]
    .concat();
    message(8, &body)
}

#[test]
fn alpn_h2_makes_the_decrypted_bytes_http2_from_their_first_octet() {
    use crate::tls::handshake::tests::{client_hello_body, message, sni_ext};
    let hello = tls_record(
        22,
        &message(1, &client_hello_body(&[sni_ext("chat.example")])),
    );
    let mut sh = vec![0x03, 0x03];
    sh.extend_from_slice(&[9u8; 32]);
    sh.extend_from_slice(&[0, 0x13, 0x01, 0]);
    sh.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
    let flight = [
        tls_record(22, &message(2, &sh)),
        sealed(22, &encrypted_extensions(b"h2")),
        sealed(22, &message(20, &[0; 32])),
    ]
    .concat();
    let mut meter = Meter::new();
    let limits = ConnLimits {
        decrypt: true,
        ..ConnLimits::default()
    };
    let mut r = Run::new();
    r.conn = Connection::new(&Opening::default(), limits, &mut meter);
    r.meter = meter;
    r.send(&[syn(C), syn_ack(S), data(C, 0, &hello), data(S, 0, &flight)]);
    let keys = crate::tls::SessionKeys {
        client: Box::new(ClearText),
        server: Box::new(ClearText),
        master: None,
        early: None,
    };
    r.conn
        .install_tls_keys(crate::tls::KeyAnswer::Keys(keys), &mut r.out, &mut r.meter);
    // The server's SETTINGS, then a PING: no content rule would call this HTTP/2 before the
    // client's preface arrives (more than SETTINGS on a direction that spoke first).
    let ping = h2_frame(6, 0, 0, &[0; 8]);
    let server = sealed(23, &[h2_server_settings(), ping].concat());
    r.send(&[data(S, len(&flight), &server)]);
    let inner = r.conn.dispatch().inner().map(|d| (d.lane(C), d.lane(S)));
    assert_eq!(
        inner,
        Some((Lane::H2c, Lane::H2c)),
        "ALPN h2 decides, not the content"
    );
    let client = [
        sealed(22, &message(20, &[0; 32])),
        sealed(23, &h2_client_opening()),
    ]
    .concat();
    r.send(&[
        data(C, len(&hello), &client),
        data(S, len(&flight) + len(&server), &sealed(23, &h2_server_ok())),
    ]);
    assert_eq!(r.completed.len(), 1, "the extended CONNECT inside TLS");
    assert!(r.completed[0].switched);
    assert_eq!(
        r.completed[0]
            .h2
            .as_ref()
            .and_then(|h| h.connect_protocol_enabled),
        Some(true)
    );
}

#[test]
fn an_h2_flood_is_carried_by_every_websocket_open_on_the_connection() {
    // Prior knowledge, one WebSocket stream opened, then the client sends 1001 PINGs the
    // server never answers (CVE-2019-9512): the stream's connection record says so.
    let opening = h2_client_opening();
    let answer = [h2_server_settings(), h2_server_ok()].concat();
    let pings = h2_frame(6, 0, 0, &[0; 8]).repeat(1_001);
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, &opening),
        data(S, 0, &answer),
        data(C, len(&opening), &pings),
    ]);
    assert_eq!(r.completed.len(), 1);
    assert!(r.completed[0].switched);
    r.conn
        .finish(Ending::CaptureEnded, &mut r.out, &mut r.meter);
    let records: Vec<_> = std::iter::from_fn(|| r.conn.take_connection_record()).collect();
    assert_eq!(records.len(), 1);
    let (stream, record) = &records[0];
    assert_eq!(*stream, StreamId(1));
    let codes: Vec<_> = record.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains(&"h2_flood"), "{codes:?}");
}

#[test]
fn tls_bulk_without_keys_is_counted_by_sequence_number_and_only_its_last_flight_walked() {
    use crate::tls::handshake::tests::{client_hello_body, message, sni_ext};
    // TLS 1.2 without keys: ClientHello; ServerHello … ServerHelloDone; both sides'
    // ChangeCipherSpec and encrypted Finished; then bulk, and the server's encrypted
    // close_notify (an alert record) right before its FIN.
    let hello = tls_record(
        22,
        &message(1, &client_hello_body(&[sni_ext("bulk.example")])),
    );
    let mut sh = vec![0x03, 0x03];
    sh.extend_from_slice(&[9u8; 32]);
    sh.extend_from_slice(&[0, 0xc0, 0x2f, 0, 0, 0]);
    let server_flight = [
        tls_record(22, &[message(2, &sh), message(14, &[])].concat()),
        tls_record(20, &[1]),
        tls_record(22, &[7; 40]),
    ]
    .concat();
    let client_flight = [tls_record(20, &[1]), tls_record(22, &[7; 40])].concat();
    let mut r = run(&[
        syn(C),
        syn_ack(S),
        data(C, 0, &hello),
        data(S, 0, &server_flight),
    ]);
    let (mut c_off, mut s_off) = (len(&hello), len(&server_flight));
    r.send(&[data(C, c_off, &client_flight)]);
    c_off += len(&client_flight);
    let mut app_bytes = [0u64; 2];
    // The client's request, then 300 server records of 1000 bytes, three per segment and
    // one split over two segments, with one segment lost (the ACK proves it).
    let request = tls_record(23, &[3; 200]);
    r.send(&[data(C, c_off, &request)]);
    c_off += len(&request);
    app_bytes[0] += request.len() as u64;
    let record = tls_record(23, &[5; 1000]);
    // An encrypted alert (AES-GCM size) and a plaintext warning (no_renegotiation).
    let mid_bulk_alerts = [
        (60, tls_record(21, &[9; 26])),
        (70, tls_record(21, &[1, 100])),
    ];
    let mut alert_packets = Vec::new();
    for i in 0..100 {
        let three = [record.clone(), record.clone(), record.clone()].concat();
        app_bytes[1] += three.len() as u64;
        match i {
            40 => {} // lost
            41 => {
                let (a, b) = three.split_at(1500);
                r.send(&[data(S, s_off, a).ack(c_off)]);
                r.send(&[data(S, s_off + len(a), b)]);
                r.send(&[ack(C, s_off + len(&three))]);
            }
            _ => {
                r.send(&[data(S, s_off, &three)]);
            }
        }
        s_off += len(&three);
        if let Some(alert) = mid_bulk_alerts.iter().find(|(at, _)| *at == i) {
            // An alert mid-bulk in a segment of its own: seen without walking the bulk.
            alert_packets.push(r.effects.len() as u64 + 1);
            r.send(&[data(S, s_off, &alert.1)]);
            s_off += len(&alert.1);
        }
        if i == 2 {
            // Bulk has started: the server's stream stores nothing, the walk is not called.
            assert!(r.conn.tcp().stream(S).data().is_empty());
            assert!(r.conn.tcp().stream(S).counted().is_some());
        }
    }
    let close_notify = tls_record(21, &[8; 26]);
    let last = r.effects.len() as u64 + 1;
    r.send(&[data(S, s_off, &close_notify).fin()]);
    r.send(&[fin(C, c_off)]);
    r.conn
        .finish(Ending::CaptureEnded, &mut r.out, &mut r.meter);
    assert_eq!(r.meter.held(), 0, "everything released");
    let tls = r.conn.take_tls_record().unwrap_or_else(|| unreachable!());
    assert_eq!(tls.outcome, crate::event::TlsOutcome::ApplicationData);
    assert_eq!(
        tls.client_to_server.application_data_bytes, app_bytes[0],
        "the client's bulk"
    );
    assert_eq!(
        tls.server_to_client.application_data_bytes, app_bytes[1],
        "the server's bulk, the lost segment included, the close_notify not"
    );
    // Walked: the handshake flight (3 records), the first bulk segment (3), and the tail
    // (the last 256-512 bytes: the alert, the end of a record before it): not the 300.
    assert!(
        tls.server_to_client.records <= 9,
        "bulk records walked: {}",
        tls.server_to_client.records
    );
    assert_eq!(tls.alerts.len(), 3, "{:?}", tls.alerts);
    assert!(tls.alerts.iter().all(|a| a.from == Peer::Server));
    assert!(tls.alerts[0].encrypted && tls.alerts[0].description.is_none());
    assert_eq!(
        tls.alerts[0].packet, alert_packets[0],
        "the mid-bulk alert's packet"
    );
    assert!(!tls.alerts[1].encrypted);
    assert_eq!(tls.alerts[1].level, Some("warning"));
    assert_eq!(
        tls.alerts[1].description.as_deref(),
        Some("no_renegotiation")
    );
    assert_eq!(tls.alerts[1].packet, alert_packets[1]);
    assert!(tls.alerts[2].encrypted);
    assert_eq!(tls.alerts[2].packet, last, "the close_notify's packet");
}
