//! The Engine.IO observer on a WebSocket session's content hook: reads each text message
//! as one Engine.IO packet (binary ones as binary messages) and keeps what the session
//! record needs: the open packet of a websocket-only session, the probe and upgrade
//! packets, closes, Socket.IO namespace packets, and every ping and pong as counts and
//! times (so a ping timeout can be told however long the session ran).
//!
//! Bounded: messages longer than [`WANTED_LEN`] are declined unread (Engine.IO's control
//! packets are a few bytes), at most [`MAX_KEPT`] packets are kept in order, and pings and
//! pongs past that only move counters.
//!
//! A WebSocket whose handshake the capture does not hold (it started mid-session) is watched
//! by a sniffing observer ([`EioObserver::sniffing`]): it is Engine.IO only by content
//! ([`EioObserver::inferred`]): at least [`MIN_EVIDENCE`] text messages that are Engine.IO
//! packets, one of them distinctive (`2probe`/`3probe`, an open packet, a Socket.IO packet
//! whose JSON has Socket.IO's shape such as `42["event",…]` or `40{"sid":…}`, or a ping
//! answered by a pong from the other side), and no text message that is not one (the first
//! such stops the observer: it declines every later message, so another protocol's session
//! pays one parse). Binary messages say nothing either way and are not read while sniffing.
//! The revision is the pinger's: the server pings in v4, the client in v3.

use crate::capture::Timestamp;
use crate::event::Peer;
use crate::websocket::content::{ContentLimits, ContentObserver, MessageContent, MessageStart};
use crate::websocket::frame::Opcode;

use super::packet::{self, Kind, Open};
use super::socketio::{self, SioKind, SioPacket};

/// Longest first frame read: an open packet or a CONNECT_ERROR fits; application data
/// beyond it is skipped unread.
pub const WANTED_LEN: u64 = 1024;
/// Packets kept per session in order (pings and pongs past it are counted only).
pub const MAX_KEPT: usize = 128;
/// Engine.IO packets a sniffed WebSocket shows before it is taken as Engine.IO (one frame
/// is never enough: `2`, `3` or `40` alone are too short to tell).
pub const MIN_EVIDENCE: u32 = 2;

/// The content-hook limits an Engine.IO session is observed with: many small messages (the
/// pings of a long session), each cut at [`WANTED_LEN`].
#[must_use]
pub fn limits() -> ContentLimits {
    ContentLimits {
        messages: 1 << 20,
        #[allow(clippy::cast_possible_truncation)]
        bytes: WANTED_LEN as usize,
    }
}

/// One Engine.IO packet read from a WebSocket message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsPacket {
    /// Who sent it.
    pub peer: Peer,
    /// Its type.
    pub kind: Kind,
    /// `2probe` or `3probe`.
    pub probe: bool,
    /// The packet carrying it.
    pub packet: u64,
    /// When.
    pub ts: Timestamp,
    /// An open packet's parameters.
    pub open: Option<Open>,
    /// A Socket.IO namespace packet (CONNECT, CONNECT_ERROR, DISCONNECT) inside a message.
    pub sio: Option<SioPacket>,
}

/// A ping and whether it was answered, for the timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PingState {
    /// Pings seen.
    pub pings: u64,
    /// Pongs seen.
    pub pongs: u64,
    /// The last ping still waiting for its pong: packet and time.
    pub unanswered: Option<(u64, Timestamp)>,
    /// The latest ping, answered or not: packet and time (how long the pinger has been
    /// silent when the connection ends).
    pub last_ping: Option<(u64, Timestamp)>,
    /// Longest wait for a pong, in nanoseconds.
    pub max_wait_ns: i64,
}

/// Engine.IO packets of one WebSocket connection.
#[derive(Debug, Default)]
pub struct EioObserver {
    /// The protocol revision the request target named.
    pub version: u8,
    /// Packets kept, in order.
    pub packets: Vec<WsPacket>,
    /// Packets not kept (past [`MAX_KEPT`]).
    pub dropped: u64,
    /// Messages that were not Engine.IO packets: the first reason and how many.
    pub malformed: Option<(String, u64)>,
    /// Pings and pongs.
    pub pings: PingState,
    /// Watching a WebSocket whose handshake was not captured ([`EioObserver::sniffing`]).
    pub sniffing: bool,
    /// While sniffing: text messages that were Engine.IO packets.
    pub evidence: u32,
    /// While sniffing: one of them could only be Engine.IO's (see the module docs).
    pub distinctive: bool,
    /// While sniffing: a text message was not an Engine.IO packet (the session is not one).
    pub contradicted: bool,
    /// The packet of the first message read.
    pub first_packet: Option<u64>,
    /// The sender of the last ping not answered yet, while sniffing (a pong from the other
    /// side answers it).
    last_ping_from: Option<Peer>,
}

impl EioObserver {
    /// An observer for a connection whose request named protocol revision `version`.
    #[must_use]
    pub fn new(version: u8) -> Self {
        EioObserver {
            version,
            ..EioObserver::default()
        }
    }

    /// An observer for a WebSocket whose handshake was not captured: it reads messages as
    /// Engine.IO packets and tells by their content whether they are ([`EioObserver::inferred`]);
    /// the revision is not known until a ping shows who pings.
    #[must_use]
    pub fn sniffing() -> Self {
        EioObserver {
            sniffing: true,
            ..EioObserver::default()
        }
    }

    /// Whether a sniffed WebSocket's content showed it is Engine.IO (see the module docs).
    #[must_use]
    pub fn inferred(&self) -> bool {
        self.sniffing && !self.contradicted && self.evidence >= MIN_EVIDENCE && self.distinctive
    }

    /// While sniffing: what one text message that read as Engine.IO packet `p` from `peer`
    /// adds to the evidence.
    fn weigh(&mut self, peer: Peer, p: &packet::Packet<'_>) {
        self.evidence = self.evidence.saturating_add(1);
        let distinctive = p.is_probe()
            || match p.kind {
                Kind::Open => packet::parse_open(&p.data).is_ok(),
                Kind::Message => !p.binary && socketio_shaped(&p.data),
                Kind::Ping => {
                    self.last_ping_from = Some(peer);
                    false
                }
                Kind::Pong => self.last_ping_from.take().is_some_and(|from| from != peer),
                _ => false,
            };
        self.distinctive |= distinctive;
        if self.version == 0 && p.kind == Kind::Ping && !p.is_probe() {
            // v4: the server pings; v3 and earlier: the client.
            self.version = if peer == Peer::Server { 4 } else { 3 };
        }
    }

    fn keep(&mut self, p: WsPacket) {
        if self.packets.len() < MAX_KEPT {
            self.packets.push(p);
        } else {
            self.dropped += 1;
        }
    }

    fn note_malformed(&mut self, why: String) {
        match &mut self.malformed {
            Some((_, n)) => *n += 1,
            None => self.malformed = Some((why, 1)),
        }
    }

    /// The pinger: the server in v4, the client in v3 and earlier.
    fn pinger(&self) -> Peer {
        if self.version >= 4 {
            Peer::Server
        } else {
            Peer::Client
        }
    }
}

/// Whether an Engine.IO message's data is a Socket.IO packet with Socket.IO's JSON shape:
/// CONNECT with an object (`40{"sid":…}`), EVENT and ACK with an array (an event's first item
/// its name: `42["chat",…]`, `431[…]`), CONNECT_ERROR with an object or string. A bare `40`
/// or any other text is not enough to tell.
fn socketio_shaped(data: &[u8]) -> bool {
    let Some(sio) = socketio::parse(data) else {
        return false;
    };
    // The JSON after the type, the namespace and the ack id (socketio::parse's layout).
    let Some(start) = data
        .iter()
        .position(|&b| b == b'[' || b == b'{' || b == b'"')
    else {
        return false;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data.get(start..).unwrap_or_default())
    else {
        return false;
    };
    match sio.kind {
        SioKind::Connect => v.is_object(),
        SioKind::Event => v
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(serde_json::Value::is_string),
        SioKind::Ack => v.is_array(),
        SioKind::ConnectError => v.is_object() || v.is_string(),
        _ => false,
    }
}

impl WsPacket {
    /// Heap bytes the packet holds (its open packet's and Socket.IO packet's strings).
    fn heap(&self) -> usize {
        let open = self.open.as_ref().map_or(0, |o| {
            o.sid.capacity()
                + o.upgrades.capacity() * std::mem::size_of::<String>()
                + o.upgrades.iter().map(String::capacity).sum::<usize>()
        });
        let sio = self.sio.as_ref().map_or(0, |s| {
            s.namespace.capacity() + s.error.as_ref().map_or(0, String::capacity)
        });
        open + sio
    }
}

impl ContentObserver for EioObserver {
    /// The kept packets (up to [`MAX_KEPT`]) and the first malformed message's reason.
    fn memory(&self) -> usize {
        self.packets.capacity() * std::mem::size_of::<WsPacket>()
            + self.packets.iter().map(WsPacket::heap).sum::<usize>()
            + self.malformed.as_ref().map_or(0, |(why, _)| why.capacity())
    }

    fn wants(&mut self, start: &MessageStart) -> bool {
        if self.sniffing && (self.contradicted || start.opcode != Opcode::Text) {
            return false;
        }
        matches!(start.opcode, Opcode::Text | Opcode::Binary) && start.frame_len <= WANTED_LEN
    }

    fn message(&mut self, m: &MessageContent<'_>) {
        let parsed = match m.opcode {
            Opcode::Text => packet::parse_packet(m.bytes),
            Opcode::Binary => Ok(packet::parse_binary_message(self.version, m.bytes)),
            _ => return,
        };
        let p = match parsed {
            Ok(p) => p,
            Err(_) if self.sniffing => {
                // Not Engine.IO: nothing more is read.
                self.contradicted = true;
                return;
            }
            Err(e) => {
                self.note_malformed(e.0);
                return;
            }
        };
        self.first_packet.get_or_insert(m.first_packet);
        if self.sniffing {
            self.weigh(m.peer, &p);
        }
        let probe = p.is_probe();
        if !probe {
            match p.kind {
                Kind::Ping if m.peer == self.pinger() => {
                    self.pings.pings += 1;
                    self.pings.unanswered = Some((m.first_packet, m.ts));
                    self.pings.last_ping = Some((m.first_packet, m.ts));
                }
                Kind::Pong if m.peer != self.pinger() => {
                    self.pings.pongs += 1;
                    if let Some((_, at)) = self.pings.unanswered.take() {
                        self.pings.max_wait_ns = self.pings.max_wait_ns.max(m.ts.nanos_since(at));
                    }
                }
                _ => {}
            }
        }
        let open = (p.kind == Kind::Open)
            .then(|| packet::parse_open(&p.data))
            .and_then(|o| match o {
                Ok(o) => Some(o),
                Err(e) => {
                    self.note_malformed(e.0);
                    None
                }
            });
        let sio = (p.kind == Kind::Message && !p.binary)
            .then(|| socketio::parse(&p.data))
            .flatten()
            .filter(|s| {
                matches!(
                    s.kind,
                    SioKind::Connect | SioKind::ConnectError | SioKind::Disconnect
                )
            });
        let routine = matches!(p.kind, Kind::Ping | Kind::Pong | Kind::Message) && !probe;
        if routine && sio.is_none() {
            return;
        }
        self.keep(WsPacket {
            peer: m.peer,
            kind: p.kind,
            probe,
            packet: m.first_packet,
            ts: m.ts,
            open,
            sio,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;
    use crate::websocket::content::Completeness;

    fn msg(peer: Peer, text: &'static [u8], n: u64) -> MessageContent<'static> {
        MessageContent {
            peer,
            opcode: Opcode::Text,
            bytes: text,
            completeness: Completeness::Complete,
            compressed: false,
            wire_len: text.len() as u64,
            frames: 1,
            first_packet: n,
            last_packet: n,
            ts: Timestamp(i64::try_from(n).unwrap_or(0) * 1_000_000),
            end_ts: Timestamp(0),
        }
    }

    /// What the observer keeps is in its session's memory (so in the budget the engine
    /// meters), up to [`MAX_KEPT`] packets and no further.
    #[test]
    fn kept_packets_count_in_the_session_memory() {
        use crate::websocket::testing::{client, feed, plain, server};
        let mut s = plain();
        s.observe_content(Box::new(EioObserver::new(4)), limits());
        let held = |s: &crate::websocket::session::Session| s.memory() - s.log_memory();
        let empty = held(&s);
        assert_eq!(empty, std::mem::size_of::<EioObserver>());
        feed(&mut s, Peer::Client, &client(0x81, b"2probe"));
        feed(&mut s, Peer::Server, &server(0x81, b"3probe"));
        assert!(held(&s) >= empty + 2 * std::mem::size_of::<WsPacket>());
        let refusal = br#"44{"message":"not authorised"}"#;
        for _ in 0..MAX_KEPT {
            feed(&mut s, Peer::Server, &server(0x81, refusal));
        }
        let full = held(&s);
        let o = s.content_observer_as::<EioObserver>().unwrap();
        assert_eq!((o.packets.len(), o.dropped), (MAX_KEPT, 2));
        assert!(
            full >= empty + MAX_KEPT * (std::mem::size_of::<WsPacket>() + "not authorised".len()),
            "{full}"
        );
        for _ in 0..50 {
            feed(&mut s, Peer::Server, &server(0x81, refusal));
        }
        assert_eq!(held(&s), full, "past the cap nothing more is held");
    }

    #[test]
    fn keeps_probe_upgrade_and_namespace_packets_and_times_pings() {
        let mut o = EioObserver::new(4);
        o.message(&msg(Peer::Client, b"2probe", 1));
        o.message(&msg(Peer::Server, b"3probe", 2));
        o.message(&msg(Peer::Client, b"5", 3));
        o.message(&msg(Peer::Server, b"2", 10));
        o.message(&msg(Peer::Client, b"3", 14));
        o.message(&msg(Peer::Server, br#"44{"message":"no"}"#, 15));
        o.message(&msg(Peer::Client, b"42[\"x\"]", 16));
        o.message(&msg(Peer::Server, b"2", 20));
        o.message(&msg(Peer::Client, b"zz", 21));
        let kinds: Vec<_> = o.packets.iter().map(|p| (p.kind, p.probe)).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Ping, true),
                (Kind::Pong, true),
                (Kind::Upgrade, false),
                (Kind::Message, false)
            ]
        );
        assert_eq!(
            o.packets[3].sio.as_ref().and_then(|s| s.error.as_deref()),
            Some("no")
        );
        assert_eq!((o.pings.pings, o.pings.pongs), (2, 1));
        assert_eq!(o.pings.max_wait_ns, 4_000_000);
        assert_eq!(o.pings.unanswered.map(|u| u.0), Some(20));
        assert_eq!(o.pings.last_ping.map(|u| u.0), Some(20));
        o.message(&msg(Peer::Client, b"3", 22));
        assert_eq!(o.pings.unanswered, None);
        assert_eq!(
            o.pings.last_ping.map(|u| u.0),
            Some(20),
            "answered, still the last"
        );
        assert_eq!(o.malformed.as_ref().map(|m| m.1), Some(1));
    }

    /// A WebSocket whose handshake was not captured is Engine.IO only by its content: two
    /// packets or more, one distinctive, none that is not Engine.IO; one frame never is.
    #[test]
    fn a_sniffed_websocket_is_engineio_only_by_distinctive_content() {
        let run = |msgs: &[(Peer, &'static [u8])]| {
            let mut o = EioObserver::sniffing();
            for (i, (peer, text)) in msgs.iter().enumerate() {
                let start = MessageStart {
                    peer: *peer,
                    opcode: Opcode::Text,
                    frame_len: text.len() as u64,
                    fin: true,
                    compressed: false,
                    packet: i as u64,
                    ts: Timestamp(0),
                };
                if o.wants(&start) {
                    o.message(&msg(*peer, text, i as u64 + 1));
                }
            }
            o
        };
        use Peer::{Client as C, Server as S};
        // One ambiguous frame, or two that prove nothing, are not enough.
        for msgs in [
            &[(S, &b"2"[..])][..],
            &[(S, b"42[\"chat\",1]")],
            &[(S, b"2"), (S, b"2")],
            &[(C, b"40"), (C, b"41")],
            &[(C, b"4hello"), (S, b"4world")],
        ] {
            assert!(!run(msgs).inferred(), "{msgs:?}");
        }
        // A ping answered from the other side, a probe, a Socket.IO event: Engine.IO.
        let pings = run(&[(S, b"2"), (C, b"3"), (S, b"2"), (C, b"3")]);
        assert!(pings.inferred());
        assert_eq!(
            (pings.version, pings.pings.pings, pings.pings.pongs),
            (4, 2, 2)
        );
        let v3 = run(&[(C, b"2"), (S, b"3")]);
        assert!(v3.inferred());
        assert_eq!(v3.version, 3, "the client pings in v3");
        assert!(run(&[(C, b"2probe"), (S, b"3probe")]).inferred());
        assert!(run(&[(C, b"42[\"chat\",{\"n\":1}]"), (S, b"2")]).inferred());
        assert!(run(&[(S, b"40{\"sid\":\"x\"}"), (C, b"42[\"a\"]")]).inferred());
        // Anything that is not an Engine.IO packet says it is not, and stops the reading.
        let other = run(&[(C, b"hello"), (S, b"2"), (C, b"3"), (C, b"2probe")]);
        assert!(!other.inferred());
        assert!(other.contradicted && other.evidence == 0 && other.packets.is_empty());
        let mut o = EioObserver::sniffing();
        let binary = MessageStart {
            peer: C,
            opcode: Opcode::Binary,
            frame_len: 4,
            fin: true,
            compressed: false,
            packet: 1,
            ts: Timestamp(0),
        };
        assert!(!o.wants(&binary), "binary says nothing either way");
        assert!(
            !EioObserver::new(4).inferred(),
            "a handshake named it: not inferred"
        );
    }
}
