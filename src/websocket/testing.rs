//! Test helpers shared by the WebSocket unit tests: frames built by hand (for violations
//! real libraries refuse to send), a feeder that drives a [`Session`] the way the exchange
//! layer does, and a look at the record it ends with. Compiled for tests only.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::capture::Timestamp;
use crate::event::{ConnectionRecord, Ending, Peer};
use crate::websocket::ending::TcpEnd;
use crate::websocket::frame::unmask;
use crate::websocket::session::Session;
use crate::websocket::walker::Step;

/// The masking key of every client frame built here.
pub(crate) const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// One frame: first byte `b0` (FIN/RSV/opcode), payload, masked with [`KEY`] when `masked`.
pub(crate) fn frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut p = payload.to_vec();
    if masked {
        out.extend_from_slice(&KEY);
        unmask(&mut p, KEY, 0);
    }
    out.extend_from_slice(&p);
    out
}

/// A client frame (masked).
pub(crate) fn client(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, true)
}

/// A server frame (not masked).
pub(crate) fn server(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, false)
}

/// A close payload: the code, then the reason.
pub(crate) fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// Feeds `bytes` to `peer`'s walker the way the exchange layer does: the buffer keeps what
/// was not consumed.
pub(crate) fn feed(s: &mut Session, peer: Peer, bytes: &[u8]) {
    let mut buf = bytes.to_vec();
    while !buf.is_empty() {
        match s.step(peer, &buf, &|_| None) {
            Step::Consume(n) => {
                let n = usize::try_from(n).unwrap().min(buf.len());
                buf.drain(..n);
            }
            Step::NeedMore | Step::Stop => break,
        }
    }
}

/// A session with no extension and a 1 MiB payload limit.
pub(crate) fn plain() -> Session {
    Session::new(Timestamp(0), None, 1 << 20)
}

/// Both close frames, client first: a clean ending to compare violations against.
pub(crate) fn clean_close(s: &mut Session) {
    feed(s, Peer::Client, &client(0x88, &close(1000, "bye")));
    feed(s, Peer::Server, &server(0x88, &close(1000, "bye")));
}

/// Ends the session with a server FIN at time 0.
pub(crate) fn end(s: Session) -> ConnectionRecord {
    s.finish(
        TcpEnd {
            ending: Ending::ServerFin,
            at: Timestamp(0),
            rst: false,
        },
        Some(Peer::Server),
    )
}

/// The finding codes of a record, in its order.
pub(crate) fn codes(r: &ConnectionRecord) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}
