//! The content hook: how a layer that reads WebSocket payloads (Engine.IO and Socket.IO
//! packets, issue 14) sees them without making every connection pay for it.
//!
//! A [`ContentObserver`] registered on a WebSocket session with `Session::observe_content`
//! (the session, downstream of this file, owns the tap) receives, per
//! direction, the first [`ContentLimits::messages`] data messages it wants, each cut at
//! [`ContentLimits::bytes`], plus every control frame (close, ping, pong: at most 125 bytes
//! each, RFC 6455 §5.5), as [`MessageContent`]: the unmasked and, under permessage-deflate,
//! inflated bytes, who sent them, the opcode, whether the bytes are the whole message
//! ([`Completeness`]), and the packets and times behind them. Hitting the message cap is
//! reported once per direction ([`ContentObserver::cap_reached`]); a message cut at the byte
//! cap says so in its [`Completeness`].
//!
//! Costs: with no observer registered, nothing is read or copied that was not before (the
//! walker still skips data payloads nobody needs) and the only work is one `Option` check
//! per message. With one, a wanted message's bytes are collected in one buffer of at most
//! [`ContentLimits::bytes`] per direction while the message is in flight; once the caps are
//! reached, or when the observer declines a message in [`ContentObserver::wants`], payloads
//! are skipped unread again. Observers must not block: they run inside the engine, on the
//! packet that completes the message.
//!
//! [`ContentObserver::wants`] sees each message's first frame header ([`MessageStart`])
//! before any byte is read, so an observer can be selective: Engine.IO, which must follow
//! its one-byte ping and pong packets for the whole session to tell a ping timeout, declines
//! messages whose first frame is long and raises the message cap; memory stays at one
//! byte-capped buffer per direction.

use std::any::Any;

use crate::capture::Timestamp;
use crate::event::Peer;
use crate::websocket::frame::Opcode;
use crate::websocket::inflate::MAX_INFLATE_PER_MESSAGE;

/// Data messages per direction delivered by default: enough for Engine.IO's open, probe and
/// upgrade packets and Socket.IO's namespace connect and its answer.
pub const DEFAULT_CONTENT_MESSAGES: u64 = 16;
/// Bytes of each data message delivered by default: an Engine.IO open packet or a
/// Socket.IO `CONNECT_ERROR` fits many times over.
pub const DEFAULT_CONTENT_BYTES: usize = 4096;
/// Largest byte cap honoured (larger ones are lowered to it): inflation of one message stops
/// there anyway ([`MAX_INFLATE_PER_MESSAGE`]).
#[allow(clippy::cast_possible_truncation)]
pub const MAX_CONTENT_BYTES: usize = MAX_INFLATE_PER_MESSAGE as usize;

/// How much content an observer receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentLimits {
    /// Data messages delivered per direction (N); later ones are skipped unread.
    pub messages: u64,
    /// Bytes delivered of each data message (K), at most [`MAX_CONTENT_BYTES`].
    pub bytes: usize,
}

impl Default for ContentLimits {
    fn default() -> Self {
        ContentLimits {
            messages: DEFAULT_CONTENT_MESSAGES,
            bytes: DEFAULT_CONTENT_BYTES,
        }
    }
}

/// Whether [`MessageContent::bytes`] is the whole message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completeness {
    /// Every byte of the message.
    Complete,
    /// The message is longer than the byte cap: its first [`ContentLimits::bytes`] bytes
    /// (for a control frame, its first 125).
    Truncated,
    /// The message never ended: the connection closed, bytes were lost from the capture, or
    /// a new message began inside it (RFC 6455 §5.4). The bytes that arrived.
    Unfinished,
    /// A compressed message whose plain bytes cannot be known: it did not inflate, an
    /// inflation budget ran out, or the extension is unknown (a session recognised without
    /// its handshake). The bytes inflated before that, if any.
    Undecoded,
}

/// One message (or control frame) as delivered to a [`ContentObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageContent<'a> {
    /// Who sent it.
    pub peer: Peer,
    /// Text or binary for data messages (never continuation); close, ping, pong or a
    /// reserved control opcode for control frames.
    pub opcode: Opcode,
    /// The payload: unmasked, inflated under permessage-deflate, cut at the byte cap.
    pub bytes: &'a [u8],
    /// Whether `bytes` is all of it.
    pub completeness: Completeness,
    /// Sent compressed (RSV1 under permessage-deflate).
    pub compressed: bool,
    /// Payload bytes on the wire (compressed size when compressed), in all its frames.
    pub wire_len: u64,
    /// Frames it came in.
    pub frames: u64,
    /// Packet carrying its first frame's header.
    pub first_packet: u64,
    /// Packet carrying the last byte read (when the tail of a truncated message was skipped,
    /// the packet of its last frame's header).
    pub last_packet: u64,
    /// Capture time of `first_packet`.
    pub ts: Timestamp,
    /// Capture time of `last_packet`.
    pub end_ts: Timestamp,
}

impl MessageContent<'_> {
    /// Whether `bytes` is the whole message.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.completeness == Completeness::Complete
    }
}

/// What is known of a data message (or control frame) at its first frame header, before any
/// payload byte is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageStart {
    /// Who sends it.
    pub peer: Peer,
    /// Text or binary (never continuation), or a control opcode.
    pub opcode: Opcode,
    /// Payload bytes of the first frame on the wire (compressed size when compressed); the
    /// whole message's when `fin` is set.
    pub frame_len: u64,
    /// The first frame is also the last (an unfragmented message).
    pub fin: bool,
    /// Sent compressed (RSV1 under permessage-deflate).
    pub compressed: bool,
    /// Packet carrying the first frame's header.
    pub packet: u64,
    /// Its capture time.
    pub ts: Timestamp,
}

/// A cap that stopped delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCap {
    /// `peer` started more than `limit` wanted data messages; later ones are not delivered.
    Messages {
        /// The direction.
        peer: Peer,
        /// [`ContentLimits::messages`].
        limit: u64,
    },
}

/// Receives message content from one session. `Any` so its owner can get the concrete
/// observer back (`Session::content_observer`);
/// `Send` so a session stays movable between threads.
pub trait ContentObserver: Any + Send {
    /// Whether to deliver this data message (asked at its first frame, before any payload
    /// byte is read) or control frame. Declined data messages do not count against the
    /// message cap and are not read for the observer.
    fn wants(&mut self, start: &MessageStart) -> bool {
        let _ = start;
        true
    }
    /// One message or control frame, when it ends (or when it is known it never will).
    fn message(&mut self, message: &MessageContent<'_>);
    /// A cap was hit; reported once per cap and direction.
    fn cap_reached(&mut self, cap: ContentCap) {
        let _ = cap;
    }
    /// Heap bytes the observer holds beyond its own size (what it kept from the messages),
    /// computed now: the session counts them in the memory budget, so they must follow
    /// what it keeps, not an estimate.
    fn memory(&self) -> usize {
        0
    }
}

/// A registered observer with its limits and what it has been given.
pub(crate) struct ContentTap {
    observer: Box<dyn ContentObserver>,
    limits: ContentLimits,
    /// Data messages taken per direction (client, server).
    taken: [u64; 2],
    capped: [bool; 2],
}

impl std::fmt::Debug for ContentTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentTap")
            .field("limits", &self.limits)
            .field("taken", &self.taken)
            .field("capped", &self.capped)
            .finish_non_exhaustive()
    }
}

fn index(peer: Peer) -> usize {
    match peer {
        Peer::Client => 0,
        Peer::Server => 1,
    }
}

impl ContentTap {
    pub(crate) fn new(observer: Box<dyn ContentObserver>, limits: ContentLimits) -> Self {
        ContentTap {
            observer,
            limits: ContentLimits {
                bytes: limits.bytes.min(MAX_CONTENT_BYTES),
                ..limits
            },
            taken: [0; 2],
            capped: [false; 2],
        }
    }

    /// A data message starts: the byte cap to collect it with, or `None` when it is not
    /// delivered (declined, or past the message cap, which is reported the first time).
    pub(crate) fn start(&mut self, start: &MessageStart) -> Option<usize> {
        if !self.observer.wants(start) {
            return None;
        }
        let peer = start.peer;
        let i = index(peer);
        let taken = self.taken.get_mut(i)?;
        if *taken >= self.limits.messages {
            if let Some(capped) = self.capped.get_mut(i) {
                if !*capped {
                    *capped = true;
                    self.observer.cap_reached(ContentCap::Messages {
                        peer,
                        limit: self.limits.messages,
                    });
                }
            }
            return None;
        }
        *taken += 1;
        Some(self.limits.bytes)
    }

    /// Whether the observer wants this control frame.
    pub(crate) fn wants_control(&mut self, start: &MessageStart) -> bool {
        self.observer.wants(start)
    }

    pub(crate) fn deliver(&mut self, message: &MessageContent<'_>) {
        self.observer.message(message);
    }

    /// Bytes held by the observer: its box and what it kept.
    pub(crate) fn memory(&self) -> usize {
        std::mem::size_of_val(self.observer.as_ref()) + self.observer.memory()
    }

    pub(crate) fn observer_mut(&mut self) -> &mut dyn ContentObserver {
        self.observer.as_mut()
    }

    pub(crate) fn into_observer(self) -> Box<dyn ContentObserver> {
        self.observer
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::event::Ending;
    use crate::tcp::reassembly::Origin;
    use crate::websocket::ending::TcpEnd;
    use crate::websocket::extensions::deflate_params;
    use crate::websocket::session::{Session, Step};
    use crate::websocket::testing::{clean_close, client, close, feed, plain, server};

    /// A delivered message, owned.
    #[derive(Clone, Debug, PartialEq)]
    struct Got {
        peer: Peer,
        opcode: Opcode,
        bytes: Vec<u8>,
        completeness: Completeness,
        compressed: bool,
        wire_len: u64,
        frames: u64,
        packets: (u64, u64),
        ts: (i64, i64),
    }

    /// Keeps everything it is given; declines the opcodes in `decline` and messages whose
    /// first frame is longer than `longest`.
    struct Recorder {
        got: Vec<Got>,
        caps: Vec<ContentCap>,
        decline: Vec<Opcode>,
        longest: u64,
    }

    impl Default for Recorder {
        fn default() -> Self {
            Recorder {
                got: Vec::new(),
                caps: Vec::new(),
                decline: Vec::new(),
                longest: u64::MAX,
            }
        }
    }

    impl ContentObserver for Recorder {
        fn wants(&mut self, start: &MessageStart) -> bool {
            !self.decline.contains(&start.opcode) && start.frame_len <= self.longest
        }
        fn message(&mut self, m: &MessageContent<'_>) {
            self.got.push(Got {
                peer: m.peer,
                opcode: m.opcode,
                bytes: m.bytes.to_vec(),
                completeness: m.completeness,
                compressed: m.compressed,
                wire_len: m.wire_len,
                frames: m.frames,
                packets: (m.first_packet, m.last_packet),
                ts: (m.ts.0, m.end_ts.0),
            });
        }
        fn cap_reached(&mut self, cap: ContentCap) {
            self.caps.push(cap);
        }
    }

    fn observed(s: Session, limits: ContentLimits) -> Session {
        observed_by(s, Recorder::default(), limits)
    }

    fn observed_by(mut s: Session, r: Recorder, limits: ContentLimits) -> Session {
        s.observe_content(Box::new(r), limits);
        s
    }

    fn recorder(s: Session) -> Recorder {
        let (_, observer) = s.finish_observed(
            TcpEnd {
                ending: Ending::ServerFin,
                at: crate::capture::Timestamp(0),
                rst: false,
            },
            Some(Peer::Server),
        );
        let any: Box<dyn Any> = observer.unwrap();
        *any.downcast::<Recorder>().unwrap()
    }

    fn texts(r: &Recorder) -> Vec<(Peer, Opcode, String, Completeness)> {
        r.got
            .iter()
            .map(|g| {
                (
                    g.peer,
                    g.opcode,
                    String::from_utf8_lossy(&g.bytes).into_owned(),
                    g.completeness,
                )
            })
            .collect()
    }

    #[test]
    fn messages_and_control_frames_arrive_unmasked_and_whole() {
        let mut s = observed(plain(), ContentLimits::default());
        feed(&mut s, Peer::Client, &client(0x01, b"hel"));
        feed(&mut s, Peer::Client, &client(0x89, b"p1"));
        feed(&mut s, Peer::Client, &client(0x80, b"lo"));
        feed(&mut s, Peer::Server, &server(0x82, &[1, 2, 3, 4]));
        clean_close(&mut s);
        let r = recorder(s);
        let bye = String::from_utf8_lossy(&close(1000, "bye")).into_owned();
        assert_eq!(
            texts(&r),
            [
                (
                    Peer::Client,
                    Opcode::Ping,
                    "p1".into(),
                    Completeness::Complete
                ),
                (
                    Peer::Client,
                    Opcode::Text,
                    "hello".into(),
                    Completeness::Complete
                ),
                (
                    Peer::Server,
                    Opcode::Binary,
                    "\u{1}\u{2}\u{3}\u{4}".into(),
                    Completeness::Complete
                ),
                (
                    Peer::Client,
                    Opcode::Close,
                    bye.clone(),
                    Completeness::Complete
                ),
                (Peer::Server, Opcode::Close, bye, Completeness::Complete),
            ]
        );
        assert_eq!((r.got[1].frames, r.got[1].wire_len), (2, 5));
        assert!(r.caps.is_empty());
    }

    #[test]
    fn the_byte_cap_truncates_and_later_frames_are_skipped_unread() {
        let limits = ContentLimits {
            messages: 16,
            bytes: 4,
        };
        // Binary, so neither the UTF-8 check nor the preview (taken by a first message)
        // wants the bytes: only the observer does.
        let mut s = observed(plain(), limits);
        feed(&mut s, Peer::Server, &server(0x82, b"first"));
        let f1 = server(0x02, b"abcdef");
        assert_eq!(
            s.step(Peer::Server, &f1, &|_| None),
            Step::Consume(2),
            "read"
        );
        assert_eq!(s.step(Peer::Server, &f1[2..], &|_| None), Step::Consume(6));
        // The cap is reached: the next fragment is skipped in one consume.
        let f2 = server(0x80, &[b'z'; 200]);
        assert_eq!(
            s.step(Peer::Server, &f2[..4], &|_| None),
            Step::Consume(f2.len() as u64),
            "skipped"
        );
        let r = recorder(s);
        assert_eq!(r.got[1].bytes, b"abcd");
        assert_eq!(r.got[1].completeness, Completeness::Truncated);
        assert_eq!((r.got[1].wire_len, r.got[1].frames), (206, 2));
        // An oversized control frame is cut at 125 bytes.
        let mut s = observed(plain(), limits);
        feed(&mut s, Peer::Server, &server(0x89, &[b'p'; 126]));
        let r = recorder(s);
        assert_eq!(r.got[0].bytes.len(), 125);
        assert_eq!(r.got[0].completeness, Completeness::Truncated);
    }

    #[test]
    fn the_message_cap_is_per_direction_reported_once_and_declines_do_not_count() {
        let limits = ContentLimits {
            messages: 2,
            bytes: 64,
        };
        let r = Recorder {
            decline: vec![Opcode::Binary, Opcode::Pong],
            ..Recorder::default()
        };
        let mut s = observed_by(plain(), r, limits);
        // A binary message first takes the preview: it is declined, so it is not read for
        // the observer and does not count.
        feed(&mut s, Peer::Server, &server(0x82, b"skip me"));
        for text in ["one", "two", "three", "four"] {
            feed(&mut s, Peer::Server, &server(0x81, text.as_bytes()));
        }
        feed(&mut s, Peer::Client, &client(0x81, b"mine"));
        feed(&mut s, Peer::Server, &server(0x8a, b"pong"));
        // Past the cap, binary data is skipped in one consume again.
        let big = server(0x82, &[0u8; 100]);
        assert_eq!(
            s.step(Peer::Server, &big[..4], &|_| None),
            Step::Consume(big.len() as u64)
        );
        let r = recorder(s);
        let got: Vec<(Peer, String)> = texts(&r).into_iter().map(|t| (t.0, t.2)).collect();
        assert_eq!(
            got,
            [
                (Peer::Server, "one".into()),
                (Peer::Server, "two".into()),
                (Peer::Client, "mine".into()),
            ]
        );
        assert_eq!(
            r.caps,
            [ContentCap::Messages {
                peer: Peer::Server,
                limit: 2
            }]
        );
    }

    #[test]
    fn an_observer_can_follow_short_messages_past_long_ones() {
        // Engine.IO's pattern: every one-byte ping, none of the bulk, memory capped.
        let r = Recorder {
            longest: 1,
            ..Recorder::default()
        };
        let limits = ContentLimits {
            messages: u64::MAX,
            bytes: 16,
        };
        let mut s = observed_by(plain(), r, limits);
        let bulk = server(0x82, &[7u8; 300]);
        for _ in 0..100 {
            feed(&mut s, Peer::Server, &server(0x81, b"2"));
            feed(&mut s, Peer::Client, &client(0x81, b"3"));
            assert_eq!(
                s.step(Peer::Server, &bulk[..4], &|_| None),
                Step::Consume(bulk.len() as u64),
                "the long binary message is skipped unread"
            );
        }
        let r = recorder(s);
        assert_eq!(r.got.len(), 200);
        assert!(r.got.iter().all(|g| g.bytes == b"2" || g.bytes == b"3"));
        assert!(r.caps.is_empty());
    }

    #[test]
    fn compressed_messages_are_delivered_inflated() {
        use flate2::{Compress, Compression, FlushCompress};
        let mut c = Compress::new(Compression::default(), false);
        let mut deflate = |text: &[u8]| {
            let mut out = vec![0u8; 256];
            let before = c.total_out();
            c.compress(text, &mut out, FlushCompress::Sync).unwrap();
            out.truncate(usize::try_from(c.total_out() - before).unwrap() - 4);
            out
        };
        let first = deflate(b"hello hello hello");
        let second = deflate(b"hello hello hello");
        let params = deflate_params(&["permessage-deflate".to_owned()]);
        let mut s = observed(
            Session::new(crate::capture::Timestamp(0), params, 1 << 20),
            ContentLimits {
                messages: 16,
                bytes: 10,
            },
        );
        feed(&mut s, Peer::Server, &server(0xc1, &first));
        feed(&mut s, Peer::Server, &server(0xc1, &second));
        feed(&mut s, Peer::Server, &server(0xc1, &[0xff; 8]));
        let r = recorder(s);
        assert_eq!(r.got[0].bytes, b"hello hello hello"[..10]);
        assert_eq!(r.got[0].completeness, Completeness::Truncated);
        assert!(r.got[0].compressed);
        assert_eq!(r.got[0].wire_len, first.len() as u64);
        // Context takeover: the second inflates only because the first went through.
        assert_eq!(r.got[1].bytes, b"hello hello hello"[..10]);
        assert_eq!(r.got[2].completeness, Completeness::Undecoded);
    }

    #[test]
    fn messages_that_never_end_are_delivered_unfinished() {
        let mut s = observed(plain(), ContentLimits::default());
        feed(&mut s, Peer::Server, &server(0x01, b"abandoned"));
        feed(&mut s, Peer::Server, &server(0x81, b"next"));
        feed(&mut s, Peer::Client, &client(0x01, b"lost"));
        s.lost(Peer::Client, 10, 3);
        feed(&mut s, Peer::Server, &server(0x02, b"cut"));
        let r = recorder(s);
        assert_eq!(
            texts(&r),
            [
                (
                    Peer::Server,
                    Opcode::Text,
                    "abandoned".into(),
                    Completeness::Unfinished
                ),
                (
                    Peer::Server,
                    Opcode::Text,
                    "next".into(),
                    Completeness::Complete
                ),
                (
                    Peer::Client,
                    Opcode::Text,
                    "lost".into(),
                    Completeness::Unfinished
                ),
                (
                    Peer::Server,
                    Opcode::Binary,
                    "cut".into(),
                    Completeness::Unfinished
                ),
            ]
        );
    }

    #[test]
    fn packets_and_times_come_from_the_stream() {
        // Two fragments in three packets: 0..8 (header + "ab" in packet 10), 8..14 (packet
        // 11: the second header and "c"), 14.. (packet 12: "de").
        let mut bytes = client(0x01, b"ab");
        bytes.extend(client(0x80, b"cde"));
        let origin = |at: usize| {
            move |i: usize| {
                let off = at + i;
                let packet = match off {
                    0..=7 => 10,
                    8..=13 => 11,
                    _ => 12,
                };
                Some(Origin {
                    offset: off as u64,
                    packet,
                    ts: crate::capture::Timestamp(packet as i64 * 1000),
                })
            }
        };
        let mut s = observed(plain(), ContentLimits::default());
        let mut at = 0usize;
        while at < bytes.len() {
            match s.step(Peer::Client, &bytes[at..], &origin(at)) {
                Step::Consume(n) => at += usize::try_from(n).unwrap(),
                Step::NeedMore | Step::Stop => break,
            }
        }
        feed(&mut s, Peer::Client, &client(0x88, &close(1000, "")));
        let r = recorder(s);
        assert_eq!(r.got[0].bytes, b"abcde");
        assert_eq!(r.got[0].packets, (10, 12));
        assert_eq!(r.got[0].ts, (10_000, 12_000));
    }

    #[test]
    fn no_observer_means_no_copy_and_no_delivery() {
        // Without an observer, a second binary message is skipped unread...
        let mut s = plain();
        feed(&mut s, Peer::Server, &server(0x82, b"preview"));
        let f = server(0x82, b"payload");
        assert_eq!(
            s.step(Peer::Server, &f[..2], &|_| None),
            Step::Consume(f.len() as u64)
        );
        // ...and the same stream with one is read.
        let mut s = observed(plain(), ContentLimits::default());
        feed(&mut s, Peer::Server, &server(0x82, b"preview"));
        assert_eq!(s.step(Peer::Server, &f[..2], &|_| None), Step::Consume(2));
        assert!(
            s.memory() == s.log_memory() + std::mem::size_of::<Recorder>(),
            "nothing buffered before payload bytes arrive (but the frame log and the observer)"
        );
        assert!(s.content_observer_as::<Recorder>().is_some());
    }

    #[derive(Default)]
    struct Count {
        caps: Vec<ContentCap>,
        declined: bool,
    }

    impl ContentObserver for Count {
        fn wants(&mut self, start: &MessageStart) -> bool {
            !(self.declined && start.opcode == Opcode::Binary)
        }
        fn message(&mut self, _: &MessageContent<'_>) {}
        fn cap_reached(&mut self, cap: ContentCap) {
            self.caps.push(cap);
        }
    }

    fn start(peer: Peer, opcode: Opcode) -> MessageStart {
        MessageStart {
            peer,
            opcode,
            frame_len: 1,
            fin: true,
            compressed: false,
            packet: 1,
            ts: crate::capture::Timestamp(0),
        }
    }

    fn caps(tap: &mut ContentTap) -> Vec<ContentCap> {
        let any: &mut dyn Any = tap.observer_mut();
        any.downcast_mut::<Count>().unwrap().caps.clone()
    }

    #[test]
    fn the_message_cap_counts_per_direction_and_is_reported_once() {
        let limits = ContentLimits {
            messages: 2,
            bytes: 10,
        };
        let mut tap = ContentTap::new(Box::new(Count::default()), limits);
        assert_eq!(tap.start(&start(Peer::Client, Opcode::Text)), Some(10));
        assert_eq!(tap.start(&start(Peer::Client, Opcode::Text)), Some(10));
        assert_eq!(tap.start(&start(Peer::Server, Opcode::Text)), Some(10));
        assert_eq!(tap.start(&start(Peer::Client, Opcode::Text)), None);
        assert_eq!(tap.start(&start(Peer::Client, Opcode::Binary)), None);
        assert_eq!(
            caps(&mut tap),
            [ContentCap::Messages {
                peer: Peer::Client,
                limit: 2
            }]
        );
    }

    #[test]
    fn declined_messages_do_not_count_and_the_byte_cap_is_bounded() {
        let observer = Count {
            declined: true,
            ..Count::default()
        };
        let limits = ContentLimits {
            messages: 1,
            bytes: usize::MAX,
        };
        let mut tap = ContentTap::new(Box::new(observer), limits);
        assert_eq!(tap.start(&start(Peer::Server, Opcode::Binary)), None);
        assert_eq!(
            tap.start(&start(Peer::Server, Opcode::Text)),
            Some(MAX_CONTENT_BYTES)
        );
        assert!(tap.wants_control(&start(Peer::Server, Opcode::Ping)));
        assert!(caps(&mut tap).is_empty());
        assert_eq!(ContentLimits::default().messages, DEFAULT_CONTENT_MESSAGES);
    }
}
