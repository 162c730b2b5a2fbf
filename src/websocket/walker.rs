//! The frame walker: one direction's reassembled bytes in, frame events out, and how many
//! bytes the stream may drop ([`Step`]).
//!
//! The walker alternates between a header and its payload. After each header it asks its
//! [`FrameVisitor`] whether the payload is wanted; an unwanted payload is skipped with one
//! consume that may run past the buffered bytes, so the reassembly layer drops it on arrival
//! without copying. A wanted payload is handed over piece by piece (at most 4 KiB each): a
//! masked one unmasked through a scratch buffer on the stack, an unmasked one as it lies in
//! the stream; control payloads are kept (at most 125 bytes, §5.5) until the frame ends.
//!
//! ```text
//!   Header ──parse_header──▶ visitor.header() ──Skip──▶ visitor.end(), consume(frame) ──▶ Header
//!     ▲                            │ Payload
//!     └──── visitor.end() ◀── Payload (unmask into scratch → visitor.data() / control kept)
//! ```
//!
//! It holds no counters and judges nothing: what a frame means is the visitor's business
//! (the session, which drives this walker). Never allocates except for a kept control payload.

use crate::capture::Timestamp;
use crate::tcp::reassembly::Origin;
use crate::websocket::frame::{parse_header, unmask, FrameError, FrameHeader};
use crate::websocket::rules::MAX_CONTROL_PAYLOAD;

/// What the consumer should do with the stream after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Drop this many bytes from the front (may run past the buffered bytes).
    Consume(u64),
    /// Nothing more can be decoded until more bytes arrive.
    NeedMore,
    /// This direction is no longer decoded.
    Stop,
}

/// A frame header with the packet and capture time of its first byte.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    pub(crate) header: FrameHeader,
    pub(crate) packet: u64,
    pub(crate) ts: Timestamp,
}

/// The visitor's answer to a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Skip the payload unread.
    Skip,
    /// Read the payload: data frames through [`FrameVisitor::data`], control frames kept.
    Payload,
    /// Stop decoding this direction.
    Stop,
}

/// Receives one direction's frames from a [`Walker`].
pub(crate) trait FrameVisitor {
    /// A header no endpoint can have sent (§5.2: a 64-bit length with its top bit set),
    /// carried by `packet`; the walker stops, since nothing says where the next frame begins.
    fn bad_length(&mut self, packet: u64);
    /// A decoded header: read its payload, skip it, or stop.
    fn header(&mut self, seen: Seen) -> Want;
    /// Unmasked payload bytes of a data frame whose payload was wanted, in order, in pieces
    /// of at most 4 KiB.
    fn data(&mut self, seen: &Seen, plain: &[u8]);
    /// The frame ended. `control` is a control frame's kept payload (at most 125 bytes),
    /// `None` for data frames and for payloads that were skipped or empty. `last` says where
    /// the frame's last byte came from when its payload was read.
    fn end(&mut self, seen: Seen, control: Option<&[u8]>, last: Option<Origin>);
}

#[derive(Debug)]
enum State {
    Header,
    Payload {
        seen: Seen,
        remaining: u64,
        offset: u64,
        /// Kept payload of a control frame.
        control: Option<Vec<u8>>,
    },
    Stopped,
}

/// One direction's position in the frame sequence.
#[derive(Debug)]
pub(crate) struct Walker {
    state: State,
}

impl Walker {
    /// A walker expecting a frame header.
    pub(crate) fn new() -> Self {
        Walker {
            state: State::Header,
        }
    }

    /// Stops decoding for good; returns whether it was still running.
    pub(crate) fn stop(&mut self) -> bool {
        !matches!(
            std::mem::replace(&mut self.state, State::Stopped),
            State::Stopped
        )
    }

    /// Decodes what it can of the buffered bytes `data`; `origin(i)` says which packet
    /// carried `data[i]`, and `start` is the time used when it cannot say.
    pub(crate) fn step(
        &mut self,
        data: &[u8],
        origin: &dyn Fn(usize) -> Option<Origin>,
        start: Timestamp,
        visitor: &mut impl FrameVisitor,
    ) -> Step {
        if data.is_empty() {
            return Step::NeedMore;
        }
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Stopped => Step::Stop,
            State::Header => match parse_header(data) {
                Ok(None) => {
                    self.state = State::Header;
                    Step::NeedMore
                }
                Err(FrameError::LengthMsbSet) => {
                    visitor.bad_length(origin(0).map_or(0, |o| o.packet));
                    Step::Stop
                }
                Ok(Some(header)) => {
                    let o = origin(0);
                    let seen = Seen {
                        header,
                        packet: o.map_or(0, |o| o.packet),
                        ts: o.map_or(start, |o| o.ts),
                    };
                    let want = visitor.header(seen);
                    if want == Want::Stop {
                        return Step::Stop;
                    }
                    self.state = State::Header;
                    if header.payload_len == 0 {
                        visitor.end(seen, None, None);
                        return Step::Consume(header.header_len as u64);
                    }
                    if want == Want::Payload {
                        let control = header.opcode.is_control().then(Vec::new);
                        self.state = State::Payload {
                            seen,
                            remaining: header.payload_len,
                            offset: 0,
                            control,
                        };
                        Step::Consume(header.header_len as u64)
                    } else {
                        visitor.end(seen, None, None);
                        Step::Consume(header.frame_len())
                    }
                }
            },
            State::Payload {
                seen,
                remaining,
                offset,
                mut control,
            } => {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let chunk = data.get(..n).unwrap_or_default();
                payload_chunk(visitor, &seen, chunk, offset, control.as_mut());
                let remaining = remaining - n as u64;
                if remaining == 0 {
                    let last = n.checked_sub(1).and_then(origin);
                    visitor.end(seen, control.as_deref(), last);
                    self.state = State::Header;
                } else {
                    self.state = State::Payload {
                        seen,
                        remaining,
                        offset: offset + n as u64,
                        control,
                    };
                }
                Step::Consume(n as u64)
            }
        }
    }
}

/// Most bytes handed to [`FrameVisitor::data`] at once.
const PIECE: usize = 4096;
/// A masked chunk up to this long is unmasked through a scratch buffer of this size: most
/// client frames are small, and zeroing a 4 KiB buffer for each of them (before any byte is
/// copied into it) cost more than the rest of the frame's decoding.
const SMALL_PIECE: usize = 256;

/// Hands `chunk` (starting `offset` bytes into the payload) over in pieces of at most
/// [`PIECE`] bytes, unmasked when the frame is masked, keeping control payloads and handing
/// data payloads to the visitor.
fn payload_chunk(
    visitor: &mut impl FrameVisitor,
    seen: &Seen,
    chunk: &[u8],
    offset: u64,
    mut control: Option<&mut Vec<u8>>,
) {
    match seen.header.mask {
        None => {
            for piece in chunk.chunks(PIECE) {
                deliver(visitor, seen, piece, control.as_deref_mut());
            }
        }
        Some(key) if chunk.len() <= SMALL_PIECE => {
            let mut scratch = [0u8; SMALL_PIECE];
            unmask_through(&mut scratch, visitor, seen, chunk, (key, offset), control);
        }
        Some(key) => unmask_large(visitor, seen, chunk, (key, offset), control),
    }
}

/// [`unmask_through`] with a whole [`PIECE`] of scratch, out of line: its 4 KiB would sit in
/// the stack frame of every parser call the walker is inlined into (probed page by page on
/// each call), while few frames are that large.
#[inline(never)]
fn unmask_large(
    visitor: &mut impl FrameVisitor,
    seen: &Seen,
    chunk: &[u8],
    key_offset: ([u8; 4], u64),
    control: Option<&mut Vec<u8>>,
) {
    let mut scratch = [0u8; PIECE];
    unmask_through(&mut scratch, visitor, seen, chunk, key_offset, control);
}

/// Copies `chunk` into `scratch` piece by piece, unmasks each with `key` (the chunk starting
/// `offset` bytes into the payload) and delivers it.
fn unmask_through(
    scratch: &mut [u8],
    visitor: &mut impl FrameVisitor,
    seen: &Seen,
    chunk: &[u8],
    (key, offset): ([u8; 4], u64),
    mut control: Option<&mut Vec<u8>>,
) {
    let mut done = 0u64;
    for piece in chunk.chunks(scratch.len().min(PIECE)) {
        let Some(buf) = scratch.get_mut(..piece.len()) else {
            return;
        };
        buf.copy_from_slice(piece);
        unmask(buf, key, offset + done);
        done += piece.len() as u64;
        deliver(visitor, seen, buf, control.as_deref_mut());
    }
}

/// One piece of payload: kept when it belongs to a control frame (up to
/// [`MAX_CONTROL_PAYLOAD`]), else handed to the visitor.
fn deliver(
    visitor: &mut impl FrameVisitor,
    seen: &Seen,
    piece: &[u8],
    control: Option<&mut Vec<u8>>,
) {
    if let Some(c) = control {
        let room = MAX_CONTROL_PAYLOAD.saturating_sub(c.len());
        c.extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
        return;
    }
    visitor.data(seen, piece);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::websocket::frame::Opcode;
    use crate::websocket::testing::{client, server};

    /// Records every event; wants payloads of the opcodes listed in `read`.
    #[derive(Default)]
    struct Recorder {
        read: Vec<Opcode>,
        stop_on: Option<Opcode>,
        headers: Vec<Opcode>,
        data: Vec<u8>,
        ends: Vec<(Opcode, Option<Vec<u8>>, Option<u64>)>,
        bad: Vec<u64>,
    }

    impl FrameVisitor for Recorder {
        fn bad_length(&mut self, packet: u64) {
            self.bad.push(packet);
        }
        fn header(&mut self, seen: Seen) -> Want {
            let op = seen.header.opcode;
            self.headers.push(op);
            if self.stop_on == Some(op) {
                Want::Stop
            } else if self.read.contains(&op) {
                Want::Payload
            } else {
                Want::Skip
            }
        }
        fn data(&mut self, _: &Seen, plain: &[u8]) {
            self.data.extend_from_slice(plain);
        }
        fn end(&mut self, seen: Seen, control: Option<&[u8]>, last: Option<Origin>) {
            self.ends.push((
                seen.header.opcode,
                control.map(<[u8]>::to_vec),
                last.map(|o| o.packet),
            ));
        }
    }

    /// Feeds `bytes` in pieces of `piece` bytes, as a stream that buffers what is not
    /// consumed; every byte comes from packet `1 + offset / 10`.
    fn walk(w: &mut Walker, v: &mut Recorder, bytes: &[u8], piece: usize) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut base = 0usize;
        let mut skip = 0u64;
        for chunk in bytes.chunks(piece) {
            let mut chunk = chunk;
            // A consume past the buffered bytes drops bytes still to arrive.
            let drop = usize::try_from(skip).unwrap().min(chunk.len());
            chunk = &chunk[drop..];
            skip -= drop as u64;
            base += drop;
            buf.extend_from_slice(chunk);
            loop {
                let at = base;
                let origin = |i: usize| {
                    Some(Origin {
                        offset: (at + i) as u64,
                        packet: 1 + (at + i) as u64 / 10,
                        ts: Timestamp(0),
                    })
                };
                let step = w.step(&buf, &origin, Timestamp(0), v);
                steps.push(step);
                match step {
                    Step::Consume(n) => {
                        let have = n.min(buf.len() as u64);
                        buf.drain(..usize::try_from(have).unwrap());
                        base += usize::try_from(have).unwrap();
                        skip = n - have;
                        if buf.is_empty() {
                            break;
                        }
                    }
                    Step::NeedMore | Step::Stop => break,
                }
            }
        }
        steps
    }

    #[test]
    fn skipped_payloads_are_consumed_past_the_buffer_in_one_step() {
        let mut w = Walker::new();
        let mut v = Recorder::default();
        let header = [0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 0];
        let step = w.step(&header, &|_| None, Timestamp(0), &mut v);
        assert_eq!(step, Step::Consume(10 + (1 << 20)));
        assert_eq!(v.ends, [(Opcode::Binary, None, None)]);
        assert!(v.data.is_empty());
    }

    #[test]
    fn wanted_payloads_arrive_unmasked_across_pieces() {
        let text = b"a masked text payload that spans several stream pieces";
        for piece in [1, 3, 7, 64] {
            let mut w = Walker::new();
            let mut v = Recorder {
                read: vec![Opcode::Text],
                ..Recorder::default()
            };
            walk(&mut w, &mut v, &client(0x81, text), piece);
            assert_eq!(v.data, text, "piece {piece}");
            // The frame is 6 + 54 bytes: its last byte is offset 59, in packet 6.
            assert_eq!(v.ends, [(Opcode::Text, None, Some(6))], "piece {piece}");
        }
    }

    #[test]
    fn control_payloads_are_kept_and_data_between_is_skipped() {
        let mut bytes = server(0x82, &[7u8; 300]);
        bytes.extend(client(0x89, b"ping!"));
        bytes.extend(server(0x8a, b""));
        let mut w = Walker::new();
        let mut v = Recorder {
            read: vec![Opcode::Ping, Opcode::Pong],
            ..Recorder::default()
        };
        walk(&mut w, &mut v, &bytes, 16);
        assert_eq!(v.headers, [Opcode::Binary, Opcode::Ping, Opcode::Pong]);
        assert!(v.data.is_empty(), "the binary payload was not wanted");
        assert_eq!(v.ends[1].1.as_deref(), Some(&b"ping!"[..]));
        assert_eq!(v.ends[2], (Opcode::Pong, None, None));
    }

    #[test]
    fn an_oversized_control_payload_is_kept_only_to_125_bytes() {
        let mut w = Walker::new();
        let mut v = Recorder {
            read: vec![Opcode::Close],
            ..Recorder::default()
        };
        walk(&mut w, &mut v, &server(0x88, &[b'r'; 300]), 4096);
        assert_eq!(v.ends[0].1.as_ref().unwrap().len(), MAX_CONTROL_PAYLOAD);
    }

    #[test]
    fn a_bad_length_or_a_stop_ends_the_direction() {
        let mut w = Walker::new();
        let mut v = Recorder::default();
        let bad = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(w.step(&bad, &|_| None, Timestamp(0), &mut v), Step::Stop);
        assert_eq!(v.bad, [0]);
        assert_eq!(
            w.step(&server(0x81, b"x"), &|_| None, Timestamp(0), &mut v),
            Step::Stop
        );
        let mut w = Walker::new();
        let mut v = Recorder {
            stop_on: Some(Opcode::Close),
            ..Recorder::default()
        };
        let mut bytes = server(0x81, b"x");
        bytes.extend(server(0x88, b""));
        bytes.extend(server(0x81, b"y"));
        let steps = walk(&mut w, &mut v, &bytes, 64);
        assert_eq!(steps.last(), Some(&Step::Stop));
        assert_eq!(v.headers, [Opcode::Text, Opcode::Close]);
        assert!(!w.stop(), "already stopped");
    }

    #[test]
    fn a_partial_header_asks_for_more_and_keeps_its_place() {
        let mut w = Walker::new();
        let mut v = Recorder::default();
        let f = client(0x81, b"hi");
        assert_eq!(
            w.step(&f[..3], &|_| None, Timestamp(0), &mut v),
            Step::NeedMore
        );
        assert_eq!(
            w.step(&f, &|_| None, Timestamp(0), &mut v),
            Step::Consume(8)
        );
        assert_eq!(w.step(&[], &|_| None, Timestamp(0), &mut v), Step::NeedMore);
    }
}
