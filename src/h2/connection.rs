//! One HTTP/2 connection read from both directions' byte streams: the preface, frames,
//! header blocks (HEADERS/PUSH_PROMISE + CONTINUATION) decoded by each sender's HPACK
//! decoder, SETTINGS, and the streams that carry an extended CONNECT (RFC 8441).
//!
//! ```text
//!  bytes ─▶ Preface (client) ─▶ Header ─┬─ DATA of an open WebSocket stream ─▶ Data: copied,
//!                                       │     packet by packet, into the stream's Relay
//!                                       ├─ DATA of any other stream, unknown types ─▶ skipped
//!                                       │     unread (one consume past the buffer)
//!                                       └─ other frames: whole payload ─▶ parse_payload ─▶
//!            HEADERS/CONTINUATION ─▶ block ─▶ HPACK ─▶ request (CONNECT tracked) / response
//!            SETTINGS ─▶ ENABLE_CONNECT_PROTOCOL, HEADER_TABLE_SIZE
//!            RST_STREAM / GOAWAY ─▶ a tracked stream fails, or an open one ends
//! ```
//!
//! A tracked stream completes as an [`http::exchange::Completed`](Completed) keyed by its
//! [`StreamId`], with the facts the handshake checks need ([`H2Stream`]); after a 2xx it stays
//! open and its DATA goes to a [`Relay`] per direction, which the parser switch walks as
//! WebSocket frames. A refusal (any other final status) whose HEADERS did not end the stream
//! is held while its DATA goes through the body reader ([`BodyReader`], as an HTTP/1.1
//! refusal's body does): it completes with the excerpt at END_STREAM, when the excerpt is
//! full, at a RST_STREAM, the response timeout or the connection's end. Caps: a header block over [`H2Limits::max_header_block`], more than
//! [`H2Limits::max_streams`] tracked streams and control frames over [`MAX_CONTROL_FRAME`]
//! are findings, never growth. Never does I/O; time is the capture time of the bytes.

use crate::capture::Timestamp;
use crate::event::{Ending, H2Reset, H2Stream, Head, Headers, Message, Peer, StartLine};
use crate::finding::{Code, Finding};
use crate::http::body::{BodyReader, Coding};
use crate::http::exchange::{head_bytes, Completed, Output, StreamId};
use crate::http::head::Body;
use crate::memory::{Account, Meter, Use};
use crate::tcp::connection::Link;
use crate::tcp::flow::Side;
use crate::tcp::stream::{ByteStream, Relay};

use super::engineio::{self, EioStreams};
use super::frame::{
    self, flags, parse_payload, preface, ErrorCode, Frame, FrameHeader, FrameType, PrefaceMatch,
    SettingId, FRAME_HEADER_LEN,
};
use super::hpack::{HeaderList, HpackDecoder, HpackLimits};

/// Largest control frame (SETTINGS, GOAWAY, PING, …) read; a larger one is skipped and
/// reported (GOAWAY debug data is the only part that can legitimately be long).
pub const MAX_CONTROL_FRAME: u32 = 16 * 1024;
/// Most connection-level findings kept for the next completed exchange.
const MAX_PENDING_FINDINGS: usize = 8;
/// Most interim (1xx) responses kept per stream.
const MAX_INTERIM: usize = 8;
/// What a field the capture does not show is rendered as (parentheses are not token
/// characters, so no real field name looks like this).
pub const UNKNOWN_FIELD: &str = "(unknown)";

/// Caps for one HTTP/2 connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Limits {
    /// Per-sender HPACK caps.
    pub hpack: HpackLimits,
    /// Largest header block (HEADERS + CONTINUATION fragments) assembled.
    pub max_header_block: usize,
    /// Most extended CONNECT streams followed at once.
    pub max_streams: usize,
    /// When frames count as a flood.
    pub flood: FloodLimits,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            hpack: HpackLimits::default(),
            max_header_block: 64 * 1024,
            max_streams: 128,
            flood: FloodLimits::default(),
        }
    }
}

/// Thresholds past which a sender's frames are a flood (a denial-of-service pattern), each
/// reported once per connection, each a `--h2-*` flag. The defaults are nghttp2's where it
/// has one (its nghttp2_option_set_stream_reset_rate_limit and _max_continuations
/// documentation, since 1.57 and 1.61; NGHTTP2_DEFAULT_MAX_OBQ_FLOOD_ITEM and
/// NGHTTP2_DEFAULT_MAX_SETTINGS in lib/nghttp2_session.h); a threshold of 0 turns that check
/// off. Envoy, which sets its own on nghttp2, is laxer where it differs (max_outbound_ack
/// 10000, max_continuations 512 on a server) except for empty frames
/// (max_consecutive_inbound_frames_with_empty_payload 1, consecutive only); h2o keeps a reset
/// budget per connection instead of a token bucket (its concurrency limit, 100, down one a
/// reset by the peer, up one a stream that ends otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodLimits {
    /// Rapid reset (CVE-2023-44487): the client's RST_STREAM frames draw on a token bucket
    /// holding this many tokens (NGHTTP2_DEFAULT_STREAM_RESET_BURST, 1000) …
    pub reset_burst: u32,
    /// … that regains this many a second (NGHTTP2_DEFAULT_STREAM_RESET_RATE, 33); a reset
    /// with no token left is the pattern.
    pub reset_rate: u32,
    /// PING and SETTINGS frames of one sender its peer has not acknowledged yet
    /// (NGHTTP2_DEFAULT_MAX_OBQ_FLOOD_ITEM, 1000: the ACKs a server queues for a peer that
    /// never reads; CVE-2019-9512 ping flood, CVE-2019-9515 settings flood).
    pub max_unacked: u32,
    /// CONTINUATION frames in one header block (NGHTTP2_DEFAULT_MAX_CONTINUATIONS, 8;
    /// CVE-2024-27316 and its kin).
    pub max_continuations: u32,
    /// Parameters in one SETTINGS frame (NGHTTP2_DEFAULT_MAX_SETTINGS, 32; CVE-2020-11080).
    pub max_settings: u32,
    /// Empty DATA frames without END_STREAM from one sender (CVE-2019-9518, empty frames
    /// flood). nghttp2 sets no such limit; 1000 is node's (maxSessionInvalidFrames, which
    /// counts these on top of nghttp2), not Envoy's 1 in a row: a passive reader counts the
    /// whole connection, and an empty DATA now and then is legal.
    pub max_empty_data: u32,
}

impl Default for FloodLimits {
    fn default() -> Self {
        FloodLimits {
            reset_burst: 1000,
            reset_rate: 33,
            max_unacked: 1000,
            max_continuations: 8,
            max_settings: 32,
            max_empty_data: 1000,
        }
    }
}

/// Which flood a finding reported (each once per connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FloodKind {
    RapidReset = 1,
    Unacked = 2,
    Continuation = 4,
    Settings = 8,
    EmptyData = 16,
}

/// What one sender's flood counters stand at.
#[derive(Clone, Copy, Debug, Default)]
struct FloodCount {
    /// Reset tokens, in billionths (a token is 10⁹, so a nanosecond's refill is exact).
    reset_tokens: u64,
    /// When the tokens were last refilled (`None`: full, nothing drawn yet).
    reset_at: Option<Timestamp>,
    /// PING and SETTINGS frames sent and not acknowledged by the peer yet.
    unacked: u32,
    /// Empty DATA frames without END_STREAM sent.
    empty_data: u32,
}

/// Where one direction's reader stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// The client's 24-octet preface comes first.
    Preface,
    /// At a frame header.
    Header,
    /// Inside the DATA payload of an open stream: `remaining` data bytes, then `pad`.
    Data {
        stream: u32,
        remaining: u32,
        pad: u32,
        end_stream: bool,
    },
    /// Nothing more is read (no preface, a gap).
    Stopped,
}

/// A header block being assembled.
#[derive(Debug)]
struct Block {
    stream: u32,
    /// PUSH_PROMISE blocks are decoded (for the table) and dropped.
    push: bool,
    bytes: Vec<u8>,
    end_stream: bool,
    packets: Vec<u64>,
    first_ts: Timestamp,
    /// Over the cap: the fragments are dropped and the table is lost.
    lost: bool,
    /// CONTINUATION frames so far.
    continuations: u32,
}

/// One direction: its reader, the HPACK decoder of its sender, its SETTINGS.
#[derive(Debug)]
struct Direction {
    reading: Reading,
    hpack: HpackDecoder,
    block: Option<Block>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL as this sender last set it (`None`: no SETTINGS yet).
    connect_protocol: Option<bool>,
    /// This sender's flood counters.
    flood: FloodCount,
}

/// How a tracked stream stands.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// The CONNECT waits for its final response.
    Pending,
    /// Answered 2xx: DATA carries WebSocket frames.
    Open,
    /// Answered otherwise, and the response's DATA (its body) is being read.
    Refusing,
    /// Answered otherwise, reset, or refused: nothing more to follow.
    Done,
    /// Mid-connection: DATA on a stream whose opening the capture did not show (or could not
    /// decode), relayed for the parser switch to judge by its bytes
    /// ([`H2Connection::confirm_unseen`], [`H2Connection::reject_unseen`]).
    Unseen,
}

/// Most DATA bytes relayed per side of an [`State::Unseen`] stream before the parser switch
/// must have decided; more undecided bytes reject it.
pub const UNSEEN_SNIFF_BYTES: usize = 4096;
/// Streams remembered as not WebSockets (after their DATA was judged), so later DATA on them
/// is skipped unread.
const MAX_REJECTED: usize = 64;
/// Client header blocks remembered whose fields the capture could not all decode.
const MAX_UNDECIDED: usize = 16;

/// Heap bytes of a kept RST_STREAM or GOAWAY (its debug text).
fn reset_bytes(r: &H2Reset) -> usize {
    r.debug.as_ref().map_or(0, String::capacity)
}

/// One end of a stream as its sender marked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StreamEnd {
    rst: bool,
    at: Timestamp,
}

/// An extended CONNECT stream.
#[derive(Debug)]
struct Tracked {
    id: u32,
    state: State,
    request: Option<Message>,
    interim: Vec<Message>,
    facts: H2Stream,
    since: Timestamp,
    /// The handshake id the engine reserved for the request.
    handshake: Option<u64>,
    /// DATA per direction, indexed by [`Side::index`], once open.
    relays: Option<Box<[Relay; 2]>>,
    /// END_STREAM or RST_STREAM per direction (by side index).
    ends: [Option<StreamEnd>; 2],
    /// The first RST_STREAM on the stream once open (its code names how it ended).
    reset: Option<Box<H2Reset>>,
    /// The first GOAWAY either peer sent while the stream was open, and when.
    goaway: Option<Box<(H2Reset, Timestamp)>>,
    /// While [`State::Refusing`]: the exchange, held until its body is read.
    refusal: Option<Box<Refusal>>,
    /// For an [`State::Unseen`] stream whose request HEADERS were captured but not fully
    /// decoded: what of them is known.
    undecided: Option<String>,
}

/// A refusal whose body is being read before the exchange is reported.
#[derive(Debug)]
struct Refusal {
    reader: BodyReader,
    done: Completed,
    /// When the response head was complete (for the response timeout).
    since: Timestamp,
}

/// A WebSocket stream the connection just opened, for the parser switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The stream.
    pub stream: StreamId,
    /// When the 2xx was complete.
    pub start: Timestamp,
    /// The response's `sec-websocket-extensions` items.
    pub extensions: Vec<String>,
    /// The request's `:path` named this Engine.IO revision (`EIO=N`): the WebSocket's
    /// messages are Engine.IO packets.
    pub engineio: Option<u8>,
}

/// How a WebSocket stream ended, as its frames said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEnding {
    /// ClientFin/ServerFin for the first END_STREAM, ClientRst/ServerRst for a RST_STREAM.
    pub ending: Ending,
    /// When.
    pub at: Timestamp,
    /// Whether a RST_STREAM was seen.
    pub rst: bool,
    /// Who ended it first.
    pub closer: Peer,
    /// The RST_STREAM that ended it (its code), when one did.
    pub reset: Option<H2Reset>,
}

/// One HTTP/2 connection's reader.
#[derive(Debug)]
pub struct H2Connection {
    limits: H2Limits,
    dirs: [Direction; 2],
    streams: Vec<Tracked>,
    /// Findings about the connection (malformed frames, caps), handed to the next exchange.
    findings: Vec<Finding>,
    opened: Vec<Opened>,
    upgraded: bool,
    /// The side that carries client → server bytes.
    client: Side,
    new_request: bool,
    /// Bytes kept of a refusal's body (`--body-bytes`; 0 keeps none and reads none).
    body_bytes: usize,
    /// The capture holds the connection's first bytes.
    from_start: bool,
    /// The server's SETTINGS was read since the last [`H2Connection::take_server_settings`]:
    /// its SETTINGS_ENABLE_CONNECT_PROTOCOL.
    server_settings: Option<bool>,
    /// DATA of open streams the memory budget had no room to relay since the last
    /// [`H2Connection::take_not_kept`]: (stream, side, bytes).
    not_kept: Vec<(StreamId, Side, u64)>,
    account: Account,
    /// The [`FloodKind`]s reported (bits).
    floods_reported: u8,
    /// Flood findings since the last [`H2Connection::take_floods`], for the open streams.
    floods: Vec<Finding>,
    /// Streams judged not to carry WebSocket frames, most recent last.
    rejected: Vec<u32>,
    /// Client header blocks of the capture's first moments with fields from before it:
    /// (stream, what is known), oldest first.
    undecided: Vec<(u32, String)>,
    /// Engine.IO polling streams (`h2::engineio`), once a request's `:path` named `EIO=`.
    eio: Option<Box<EioStreams>>,
    /// Bytes kept of each Engine.IO polling body (`--eio-body-bytes`).
    eio_body_bytes: usize,
}

/// A stream of a connection captured mid-way whose DATA may be WebSocket frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnseenStream {
    /// The stream.
    pub stream: StreamId,
    /// When its first DATA byte was captured.
    pub start: Timestamp,
    /// What of its request is known: `None` when the capture holds none of it (opened before
    /// the capture), else which fields the captured HEADERS showed and how many it could not.
    pub request: Option<String>,
}

/// Adds a field to a [`Head`]'s; unknown halves as [`UNKNOWN_FIELD`].
fn push_field(headers: &mut Headers, f: &super::hpack::Field) {
    headers.push(
        f.name.as_deref().unwrap_or(UNKNOWN_FIELD),
        f.value.as_deref().unwrap_or(UNKNOWN_FIELD),
    );
}

/// A request or response head built from a decoded header list (RFC 9113 §8.3): the start
/// line is synthesised from the pseudo-header fields in the HTTP/1.1 shape (`CONNECT /chat
/// HTTP/2`, `HTTP/2 200`), the header list keeps every field, pseudo-headers included, and
/// `raw` is that start line and the decoded list, one field per line, in the HTTP/1.1 layout
/// (HPACK bytes are not text). `version_minor`
/// is 1: the version checks read HTTP/2 as at least HTTP/1.1.
fn head_of(list: &HeaderList, block_len: usize, is_request: bool) -> Head {
    let pseudo = |name: &str| list.value(name).unwrap_or(UNKNOWN_FIELD).to_owned();
    let (start, start_line) = if is_request {
        let (method, target) = (pseudo(":method"), pseudo(":path"));
        let line = format!("{method} {target} HTTP/2");
        (StartLine::Request { method, target }, line)
    } else {
        let status = list
            .value(":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let line = format!("HTTP/2 {}", pseudo(":status"));
        (
            StartLine::Response {
                status,
                reason: String::new(),
            },
            line,
        )
    };
    let mut headers = Headers::default();
    for f in &list.fields {
        push_field(&mut headers, f);
    }
    let mut raw = format!("{start_line}\r\n");
    for h in &headers {
        raw.push_str(&h.line());
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    Head {
        start,
        version_minor: 1,
        start_line,
        headers,
        len: block_len,
        raw,
    }
}

/// What a client header block decoded without the HPACK state from before the capture
/// shows: its known fields and how many are unknown.
fn undecided_summary(list: &HeaderList) -> String {
    let known: Vec<String> = list
        .fields
        .iter()
        .filter_map(|f| match (&f.name, &f.value) {
            (Some(n), Some(v)) => Some(format!("{n}: {v}")),
            _ => None,
        })
        .collect();
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    format!(
        "{} of its {} request fields came from HPACK table entries made before the capture (known: {known}), so whether it was an extended CONNECT is unknown and no handshake is reported for it",
        list.unknown,
        list.fields.len()
    )
}

/// Whether a request's fields ask for a WebSocket (RFC 8441 §4), or look like they meant to.
fn is_websocket_request(list: &HeaderList) -> bool {
    list.value(":protocol").is_some()
        || list.value(":method") == Some("CONNECT")
        || list.fields.iter().any(|f| {
            f.name
                .as_deref()
                .is_some_and(|n| n.starts_with("sec-websocket-"))
        })
}

fn side_index(side: Side) -> usize {
    side.index()
}

impl H2Connection {
    /// A connection whose client sends on `client`: `upgraded` after `Upgrade: h2c` (the
    /// client's preface follows the 101), else prior knowledge (the preface is at the front of
    /// the client's stream). `from_start`: the capture holds the connection's first bytes;
    /// without them both directions start at a frame header and the HPACK tables are unknown
    /// (fields they would give are shown as [`UNKNOWN_FIELD`]).
    #[must_use]
    pub fn new(limits: H2Limits, client: Side, upgraded: bool, from_start: bool) -> Self {
        let dir = |reading| Direction {
            reading,
            hpack: HpackDecoder::new(limits.hpack, from_start),
            block: None,
            connect_protocol: None,
            flood: FloodCount::default(),
        };
        let mut dirs = [dir(Reading::Header), dir(Reading::Header)];
        // Mid-connection the preface went by before the capture began.
        if let Some(d) = dirs.get_mut(side_index(client)).filter(|_| from_start) {
            d.reading = Reading::Preface;
        }
        H2Connection {
            limits,
            dirs,
            streams: Vec::new(),
            findings: Vec::new(),
            opened: Vec::new(),
            upgraded,
            client,
            new_request: false,
            body_bytes: 0,
            from_start,
            server_settings: None,
            not_kept: Vec::new(),
            account: Account::default(),
            floods_reported: 0,
            floods: Vec::new(),
            rejected: Vec::new(),
            undecided: Vec::new(),
            eio: None,
            eio_body_bytes: crate::http::exchange::EIO_BODY_BYTES,
        }
    }

    /// Streams of a connection captured mid-way whose DATA is being relayed for the parser
    /// switch to judge, with what is known of each.
    #[must_use]
    pub fn unseen_streams(&self) -> Vec<UnseenStream> {
        self.streams
            .iter()
            .filter(|t| t.state == State::Unseen)
            .map(|t| UnseenStream {
                stream: StreamId(t.id),
                start: t.since,
                request: t.undecided.clone(),
            })
            .collect()
    }

    /// The relays of an [`UnseenStream`], by side index.
    pub fn unseen_relays_mut(&mut self, id: StreamId) -> Option<&mut [Relay; 2]> {
        self.tracked_mut(id.0)
            .filter(|t| t.state == State::Unseen)
            .and_then(|t| t.relays.as_deref_mut())
    }

    /// The parser switch found WebSocket frames on unseen stream `id`: it is an open
    /// WebSocket from now on (its handshake was not observed).
    pub fn confirm_unseen(&mut self, id: StreamId) {
        if let Some(t) = self.tracked_mut(id.0).filter(|t| t.state == State::Unseen) {
            t.state = State::Open;
        }
    }

    /// Unseen stream `id` carries no WebSocket frames: forgotten (its relays freed), and its
    /// later DATA skipped unread.
    pub fn reject_unseen(&mut self, id: StreamId) {
        let before = self.streams.len();
        self.streams
            .retain(|t| !(t.id == id.0 && t.state == State::Unseen));
        if self.streams.len() < before {
            if self.rejected.len() >= MAX_REJECTED {
                self.rejected.remove(0);
            }
            self.rejected.push(id.0);
        }
    }

    /// DATA on client-initiated stream `id` (RFC 9113 §5.1.1: odd ids) of a connection
    /// captured mid-way, not followed: relayed as [`State::Unseen`] unless judged already or
    /// the stream cap is reached.
    fn maybe_unseen(&mut self, id: u32, ts: Timestamp) {
        if self.from_start
            || id.is_multiple_of(2)
            || self.rejected.contains(&id)
            || self.streams.iter().any(|t| t.id == id)
            || self.streams.len() >= self.limits.max_streams
        {
            return;
        }
        let undecided = self
            .undecided
            .iter()
            .position(|(s, _)| *s == id)
            .map(|i| self.undecided.remove(i).1);
        self.streams.push(Tracked {
            id,
            state: State::Unseen,
            request: None,
            interim: Vec::new(),
            facts: H2Stream {
                stream_id: id,
                upgraded: self.upgraded,
                connect_protocol_enabled: None,
                unknown_fields: 0,
                mid_connection: true,
                reset: None,
                goaway: None,
            },
            since: ts,
            handshake: None,
            relays: Some(Box::new([Relay::new(), Relay::new()])),
            ends: [None, None],
            reset: None,
            goaway: None,
            refusal: None,
            undecided,
        });
    }

    /// Flood findings since the last call: the parser switch adds them to the connection's
    /// open WebSocket streams (each also goes to the next exchange, as other connection
    /// findings do).
    pub fn take_floods(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.floods)
    }

    /// Reports flood `kind` (once per connection) with `message`, citing `packet`.
    fn flood(&mut self, kind: FloodKind, message: String, packet: u64) {
        if self.floods_reported & kind as u8 != 0 {
            return;
        }
        self.floods_reported |= kind as u8;
        let code = if kind == FloodKind::RapidReset {
            Code::H2RapidReset
        } else {
            Code::H2Flood
        };
        let f = Finding::new(code, message).packets(&[packet]);
        self.floods.push(f.clone());
        self.note(f);
    }

    /// A RST_STREAM from the client at `ts`: one token from its bucket, refilled at the
    /// configured rate since the last (RFC 9113 puts no limit here; nghttp2's does).
    fn count_reset(&mut self, side: Side, ts: Timestamp, packet: u64) {
        let FloodLimits {
            reset_burst,
            reset_rate,
            ..
        } = self.limits.flood;
        if reset_burst == 0 {
            return;
        }
        const TOKEN: u64 = 1_000_000_000;
        let full = u64::from(reset_burst).saturating_mul(TOKEN);
        let c = &mut self.dir_mut(side).flood;
        let tokens = match c.reset_at {
            None => full,
            Some(at) => {
                let elapsed = u64::try_from(ts.0.saturating_sub(at.0)).unwrap_or(0);
                c.reset_tokens
                    .saturating_add(elapsed.saturating_mul(u64::from(reset_rate)))
                    .min(full)
            }
        };
        c.reset_at = Some(ts);
        if tokens < TOKEN {
            c.reset_tokens = tokens;
            self.flood(
                FloodKind::RapidReset,
                format!(
                    "the client sent RST_STREAM faster than {reset_burst} at once and {reset_rate} a second (the rapid-reset limit, --h2-reset-burst and --h2-reset-rate; nghttp2's default is 1000 and 33; CVE-2023-44487)"
                ),
                packet,
            );
        } else {
            c.reset_tokens = tokens - TOKEN;
        }
    }

    /// A PING or SETTINGS from `side` (`ack`: an acknowledgement of the peer's): the frames
    /// `side` owes no answer for go down, the ones its peer owes go up.
    fn count_ackable(&mut self, side: Side, ack: bool, what: &str, packet: u64) {
        let max = self.limits.flood.max_unacked;
        if ack {
            let c = &mut self.dir_mut(side.reverse()).flood;
            c.unacked = c.unacked.saturating_sub(1);
            return;
        }
        let c = &mut self.dir_mut(side).flood;
        c.unacked = c.unacked.saturating_add(1);
        if max > 0 && c.unacked > max {
            let by = self.peer_word(side);
            self.flood(
                FloodKind::Unacked,
                format!(
                    "the {by} had more than {max} PING and SETTINGS frames unacknowledged (the last a {what}; --h2-max-unacked: nghttp2 closes at 1000 queued answers by default; CVE-2019-9512, CVE-2019-9515)"
                ),
                packet,
            );
        }
    }

    /// Who sends on `side`, for a sentence.
    fn peer_word(&self, side: Side) -> &'static str {
        if side == self.client {
            "client"
        } else {
            "server"
        }
    }

    /// The same reader, keeping the first `bytes` of each refusal's body (`--body-bytes`);
    /// without it refusals complete at their HEADERS, bodies unread.
    #[must_use]
    pub fn keeping_bodies(mut self, bytes: usize) -> Self {
        self.body_bytes = bytes;
        self
    }

    /// The same connection keeping `bytes` of each Engine.IO polling body
    /// (`--eio-body-bytes`).
    #[must_use]
    pub fn keeping_eio_bodies(mut self, bytes: usize) -> Self {
        self.eio_body_bytes = bytes;
        self
    }

    fn dir_mut(&mut self, side: Side) -> &mut Direction {
        let [lo, hi] = &mut self.dirs;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    fn dir(&self, side: Side) -> &Direction {
        let [lo, hi] = &self.dirs;
        match side {
            Side::LoToHi => lo,
            Side::HiToLo => hi,
        }
    }

    fn tracked_mut(&mut self, id: u32) -> Option<&mut Tracked> {
        self.streams.iter_mut().find(|t| t.id == id)
    }

    /// Whether `side` is no longer read.
    #[must_use]
    pub fn is_stopped(&self, side: Side) -> bool {
        self.dir(side).reading == Reading::Stopped
    }

    /// WebSocket streams opened since the last call.
    pub fn take_opened(&mut self) -> Vec<Opened> {
        std::mem::take(&mut self.opened)
    }

    /// DATA of open WebSocket streams not relayed for want of memory budget since the last
    /// call: (stream, side, bytes). The relay of that side stops (the frame boundary is
    /// gone); the caller tells the stream's session.
    pub fn take_not_kept(&mut self) -> Vec<(StreamId, Side, u64)> {
        std::mem::take(&mut self.not_kept)
    }

    /// The memory budget had no room for `what` (`--memcap`): a finding for the next
    /// exchange says so.
    fn note_memcap(&mut self, what: String, packet: u64) {
        self.note(
            Finding::new(
                Code::MemcapReached,
                format!("{what}: wssniff's memory budget (--memcap) was full"),
            )
            .packets(&[packet]),
        );
    }

    /// Whether a WebSocket request (extended CONNECT) arrived since the last call (and clears
    /// the flag).
    pub fn take_new_request(&mut self) -> bool {
        std::mem::take(&mut self.new_request)
    }

    /// The server's SETTINGS_ENABLE_CONNECT_PROTOCOL, when a server SETTINGS was read since
    /// the last call (and clears it). [`H2Connection::take_new_request`] says true too then,
    /// so the caller asks only when that did.
    pub fn take_server_settings(&mut self) -> Option<bool> {
        self.server_settings.take()
    }

    /// Whether any extended CONNECT was seen.
    #[must_use]
    pub fn saw_request(&self) -> bool {
        !self.streams.is_empty()
    }

    /// When the oldest unanswered extended CONNECT was sent.
    #[must_use]
    pub fn unanswered_since(&self) -> Option<Timestamp> {
        self.streams
            .iter()
            .filter(|t| t.state == State::Pending)
            .map(|t| t.since)
            .min()
    }

    /// Gives each unanswered extended CONNECT without a handshake id the next one from `next`,
    /// in stream order (the order the client sent them, RFC 9113 §5.1.1).
    pub fn assign_ids(&mut self, next: &mut dyn FnMut() -> u64) {
        for t in &mut self.streams {
            if t.state == State::Pending && t.handshake.is_none() {
                t.handshake = Some(next());
            }
        }
    }

    /// The relays of open WebSocket stream `id`, by side index.
    pub fn relays_mut(&mut self, id: StreamId) -> Option<&mut [Relay; 2]> {
        self.tracked_mut(id.0)
            .filter(|t| t.state == State::Open)
            .and_then(|t| t.relays.as_deref_mut())
    }

    /// The open WebSocket streams.
    pub fn open_streams(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.streams
            .iter()
            .filter(|t| t.state == State::Open)
            .map(|t| StreamId(t.id))
    }

    /// How WebSocket stream `id` ended by its own frames (RST_STREAM first, else the first
    /// END_STREAM); `None` when neither was seen.
    #[must_use]
    pub fn stream_ending(&self, id: StreamId) -> Option<StreamEnding> {
        let t = self.streams.iter().find(|t| t.id == id.0)?;
        let ci = side_index(self.client);
        let peer = |i: usize| if i == ci { Peer::Client } else { Peer::Server };
        let mut ends: Vec<(usize, StreamEnd)> = t
            .ends
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i, e)))
            .collect();
        ends.sort_by_key(|(_, e)| e.at);
        let rst = ends.iter().find(|(_, e)| e.rst);
        let (i, first) = rst.or(ends.first()).copied()?;
        let closer = peer(i);
        let ending = match (closer, first.rst) {
            (Peer::Client, false) => Ending::ClientFin,
            (Peer::Server, false) => Ending::ServerFin,
            (Peer::Client, true) => Ending::ClientRst,
            (Peer::Server, true) => Ending::ServerRst,
        };
        Some(StreamEnding {
            ending,
            at: first.at,
            rst: rst.is_some(),
            closer,
            reset: rst.and(t.reset.as_deref().cloned()),
        })
    }

    /// The first GOAWAY either peer sent while WebSocket stream `id` was open (a stream
    /// need not have ended by its own frames for one to end it).
    #[must_use]
    pub fn stream_goaway(&self, id: StreamId) -> Option<(&H2Reset, Timestamp)> {
        self.streams
            .iter()
            .find(|t| t.id == id.0)
            .and_then(|t| t.goaway.as_deref())
            .map(|(g, at)| (g, *at))
    }

    /// Bytes held (decoders, blocks, kept heads, relays), computed now.
    #[must_use]
    pub fn memory(&self) -> usize {
        let dirs: usize = self
            .dirs
            .iter()
            .map(|d| d.hpack.memory() + d.block.as_ref().map_or(0, |b| b.bytes.capacity()))
            .sum();
        let streams: usize = self
            .streams
            .iter()
            .map(|t| {
                std::mem::size_of::<Tracked>()
                    + t.request.as_ref().map_or(0, head_bytes)
                    + t.interim.iter().map(head_bytes).sum::<usize>()
                    + t.relays
                        .as_ref()
                        .map_or(0, |r| r.iter().map(Relay::memory).sum::<usize>())
                    + t.refusal.as_ref().map_or(0, |r| {
                        std::mem::size_of::<Refusal>()
                            + r.reader.memory()
                            + r.done.request.as_ref().map_or(0, head_bytes)
                            + r.done.response.as_ref().map_or(0, head_bytes)
                    })
                    // A GOAWAY's debug text is copied to every stream it reaches.
                    + t.reset.as_deref().map_or(0, |r| {
                        std::mem::size_of::<H2Reset>() + reset_bytes(r)
                    })
                    + t.goaway.as_deref().map_or(0, |(g, _)| {
                        std::mem::size_of::<(H2Reset, Timestamp)>() + reset_bytes(g)
                    })
                    + t.facts.goaway.as_ref().map_or(0, reset_bytes)
            })
            .sum();
        std::mem::size_of::<H2Connection>()
            + dirs
            + streams
            + self
                .eio
                .as_deref()
                .map_or(0, |e| std::mem::size_of::<EioStreams>() + e.memory())
    }

    /// Registers the current size with `meter`.
    pub fn settle(&mut self, meter: &mut Meter) {
        let bytes = self.memory();
        self.account.set(meter, bytes);
    }

    /// Withdraws everything registered with `meter`.
    pub fn release(&mut self, meter: &mut Meter) {
        self.account.set(meter, 0);
    }

    fn note(&mut self, f: Finding) {
        if self.findings.len() < MAX_PENDING_FINDINGS {
            self.findings.push(f);
        }
    }

    /// Bytes of `side` were lost: the frame boundary is gone, so the direction stops and its
    /// decoder's table can no longer be trusted; open streams get the gap too.
    pub fn lost(&mut self, side: Side, len: u64, packet: u64) {
        self.dir_mut(side).reading = Reading::Stopped;
        for t in &mut self.streams {
            if let Some(r) = t.relays.as_deref_mut() {
                if let Some(relay) = r.get_mut(side_index(side)) {
                    relay.lose(len, packet);
                }
            }
        }
    }

    /// Reads what it can of `side`'s buffered bytes, one step; false when it needs more
    /// bytes or stopped.
    pub fn step<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        out: &mut Output,
    ) -> bool {
        let reading = self.dir(side).reading;
        match reading {
            Reading::Stopped => false,
            Reading::Preface => match preface(link.stream(side).data()) {
                PrefaceMatch::Complete => {
                    link.stream_mut(side).consume(frame::PREFACE.len() as u64);
                    self.dir_mut(side).reading = Reading::Header;
                    true
                }
                PrefaceMatch::Partial => false,
                PrefaceMatch::No => {
                    let packets = link.stream(side).packets(0..1);
                    self.note(
                        Finding::new(
                            Code::H2FrameInvalid,
                            "the client's HTTP/2 connection preface is missing",
                        )
                        .packets(&packets),
                    );
                    self.dir_mut(side).reading = Reading::Stopped;
                    false
                }
            },
            Reading::Header => self.frame(link, side, out),
            Reading::Data {
                stream,
                remaining,
                pad,
                end_stream,
            } => self.data(link, side, stream, remaining, pad, end_stream, out),
        }
    }

    /// Copies DATA bytes of an open stream into its relay, run by run of packets, within
    /// the memory budget (DATA it has no room for stops that side's relay), or reads them as
    /// a refusal's body.
    #[allow(clippy::too_many_arguments)]
    fn data<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        stream: u32,
        remaining: u32,
        pad: u32,
        end_stream: bool,
        out: &mut Output,
    ) -> bool {
        let data = link.stream(side).data();
        let n = data.len().min(remaining as usize);
        if n == 0 && remaining > 0 {
            return false;
        }
        if let Some(r) = self
            .tracked_mut(stream)
            .and_then(|t| t.refusal.as_deref_mut())
        {
            r.reader
                .read(link.stream(side).data().get(..n).unwrap_or_default());
        } else if self.eio.is_some() {
            self.eio_data(link, side, stream, n);
        } else {
            self.relay_data(link, side, stream, n);
        }
        let left = remaining - n as u32;
        let now = link
            .stream(side)
            .origin(n.saturating_sub(1))
            .map_or(link.now, |o| o.ts);
        link.stream_mut(side).consume(n as u64);
        let full = self
            .tracked_mut(stream)
            .and_then(|t| t.refusal.as_ref())
            .is_some_and(|r| r.reader.is_full());
        if full {
            // The excerpt is settled: report now (a body may never end), the rest is skipped.
            self.report_refusal(stream, false, out);
        }
        if left > 0 {
            self.dir_mut(side).reading = Reading::Data {
                stream,
                remaining: left,
                pad,
                end_stream,
            };
            return true;
        }
        link.stream_mut(side).consume(u64::from(pad));
        self.dir_mut(side).reading = Reading::Header;
        if end_stream {
            self.end_stream(stream, side, false, now);
            if self
                .tracked_mut(stream)
                .is_some_and(|t| t.refusal.is_some())
            {
                self.report_refusal(stream, true, out);
            }
            if let Some(e) = self.eio.as_deref_mut() {
                e.end(
                    stream,
                    link.sends_requests(side) == Some(false),
                    Some(now),
                    out,
                );
            }
        }
        true
    }

    /// `n` DATA bytes of stream `stream` from `side`: an Engine.IO poll's body when the
    /// stream is one (`h2::engineio`), else an open stream's relay.
    #[cold]
    #[inline(never)]
    fn eio_data<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        stream: u32,
        n: usize,
    ) {
        let from_server = link.sends_requests(side) == Some(false);
        match self.eio.as_deref_mut() {
            Some(e) if e.has(stream) => {
                let s = link.stream(side);
                let ts = s.origin(n.saturating_sub(1)).map_or(link.now, |o| o.ts);
                e.data(
                    stream,
                    from_server,
                    s.data().get(..n).unwrap_or_default(),
                    ts,
                );
            }
            _ => self.relay_data(link, side, stream, n),
        }
    }

    /// Copies `n` DATA bytes of an open stream into its relay, run by run of packets, within
    /// the memory budget: DATA it has no room for stops that side's relay.
    fn relay_data<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        stream: u32,
        n: usize,
    ) {
        let relaying = self
            .tracked_mut(stream)
            .and_then(|t| t.relays.as_deref())
            .and_then(|r| r.get(side_index(side)))
            .is_some_and(|r| !r.is_ignored());
        if relaying && n > 0 && link.admit(Use::Http2, n).is_err() {
            let packet = link.stream(side).origin(0).map_or(0, |o| o.packet);
            if let Some(relay) = self
                .tracked_mut(stream)
                .and_then(|t| t.relays.as_deref_mut())
                .and_then(|r| r.get_mut(side_index(side)))
            {
                relay.lose(n as u64, packet);
                relay.ignore();
            }
            self.not_kept.push((StreamId(stream), side, n as u64));
            self.note_memcap(
                format!("{n} bytes of DATA on HTTP/2 stream {stream} were not relayed"),
                packet,
            );
        } else if let Some(relay) = self
            .tracked_mut(stream)
            .and_then(|t| t.relays.as_deref_mut())
            .and_then(|r| r.get_mut(side_index(side)))
        {
            let data = link.stream(side).data();
            let s = link.stream(side);
            let mut at = 0;
            while at < n {
                let o = s.origin(at);
                let end = run_end(s, at, n);
                let (packet, ts) = o.map_or((0, link.now), |o| (o.packet, o.ts));
                relay.append(data.get(at..end).unwrap_or_default(), packet, ts);
                at = end;
            }
        }
    }

    /// Reports stream `id`'s held refusal with its body excerpt so far; `ended`: the body's
    /// END_STREAM was seen (else it was cut: reset, timed out, or the connection ended).
    fn report_refusal(&mut self, id: u32, ended: bool, out: &mut Output) {
        let Some(t) = self.tracked_mut(id) else {
            return;
        };
        let Some(mut r) = t.refusal.take() else {
            return;
        };
        t.state = State::Done;
        let excerpt = r.reader.take_excerpt(ended);
        if let Some(resp) = r.done.response.as_mut() {
            resp.body = Some(excerpt);
        }
        out.completed.push(r.done);
    }

    fn end_stream(&mut self, stream: u32, side: Side, rst: bool, at: Timestamp) {
        if let Some(t) = self.tracked_mut(stream) {
            if let Some(e) = t.ends.get_mut(side_index(side)) {
                // A RST_STREAM after END_STREAM still says the stream was reset.
                if e.is_none() || rst {
                    *e = Some(StreamEnd { rst, at });
                }
            }
            if let Some(relays) = t.relays.as_deref_mut() {
                if let Some(r) = relays.get_mut(side_index(side)) {
                    r.finish();
                }
            }
        }
    }

    /// At a frame header: read the frame (or skip it, or start a DATA copy).
    fn frame<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        out: &mut Output,
    ) -> bool {
        let data = link.stream(side).data();
        let Some(h) = FrameHeader::parse(data) else {
            return false;
        };
        let origin = link.stream(side).origin(0);
        let (packet, ts) = origin.map_or((0, link.now), |o| (o.packet, o.ts));
        if h.kind == FrameType::DATA {
            return self.data_frame(link, side, h, packet, ts, out);
        }
        let header_kind = matches!(
            h.kind,
            FrameType::HEADERS | FrameType::CONTINUATION | FrameType::PUSH_PROMISE
        );
        let cap = if header_kind {
            self.limits.max_header_block
        } else {
            MAX_CONTROL_FRAME as usize
        };
        let known = h.kind.name() != "UNKNOWN";
        if !known || h.len as usize > cap {
            if known {
                self.oversized(side, &h, cap, packet);
            }
            link.stream_mut(side).consume(h.frame_len());
            return true;
        }
        let total = FRAME_HEADER_LEN + h.len as usize;
        if data.len() < total {
            return false;
        }
        let payload = data.get(FRAME_HEADER_LEN..total).unwrap_or_default();
        let last_ts = link.stream(side).origin(total - 1).map_or(ts, |o| o.ts);
        let packets = link.stream(side).packets(0..total);
        match parse_payload(&h, payload) {
            Ok(f) => {
                let f = OwnedFrame::from(f);
                link.stream_mut(side).consume(total as u64);
                self.on_frame(link, side, &h, f, packets, (packet, ts, last_ts), out);
            }
            Err(e) => {
                self.note(
                    Finding::new(Code::H2FrameInvalid, format!("malformed HTTP/2 frame: {e}"))
                        .packets(&[packet]),
                );
                if header_kind {
                    self.lose_block(side);
                }
                link.stream_mut(side).consume(total as u64);
            }
        }
        true
    }

    /// A DATA frame header: copy the payload of an open stream, skip any other.
    fn data_frame<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        h: FrameHeader,
        packet: u64,
        ts: Timestamp,
        out: &mut Output,
    ) -> bool {
        if h.len == 0 && !h.has(flags::END_STREAM) {
            let max = self.limits.flood.max_empty_data;
            let c = &mut self.dir_mut(side).flood;
            c.empty_data = c.empty_data.saturating_add(1);
            if max > 0 && c.empty_data > max {
                let by = self.peer_word(side);
                self.flood(
                    FloodKind::EmptyData,
                    format!("the {by} sent more than {max} empty DATA frames without END_STREAM (--h2-max-empty-data; CVE-2019-9518, empty frames flood)"),
                    packet,
                );
            }
        }
        if h.len > 0 && h.stream != 0 && !self.from_start {
            self.maybe_unseen(h.stream, ts);
        }
        let from_server = link.sends_requests(side) == Some(false);
        let open = self.streams.iter().any(|t| {
            t.id == h.stream
                && (matches!(t.state, State::Open | State::Unseen)
                    || (t.state == State::Refusing && from_server))
        }) || self
            .eio
            .as_deref()
            .is_some_and(|e| e.reads(h.stream, from_server));
        let end_stream = h.has(flags::END_STREAM);
        if !open || h.stream == 0 {
            if h.stream == 0 {
                self.note(
                    Finding::new(
                        Code::H2FrameInvalid,
                        "malformed HTTP/2 frame: DATA frame on stream 0",
                    )
                    .packets(&[packet]),
                );
            }
            link.stream_mut(side).consume(h.frame_len());
            if end_stream {
                self.end_stream(h.stream, side, false, ts);
                // An Engine.IO poll whose body is not read (no room for it) still ends here.
                if let Some(e) = self.eio.as_deref_mut() {
                    e.end(h.stream, from_server, Some(ts), out);
                }
            }
            return true;
        }
        let mut header = FRAME_HEADER_LEN as u64;
        let (mut remaining, mut pad) = (h.len, 0);
        if h.has(flags::PADDED) {
            let Some(&p) = link.stream(side).data().get(FRAME_HEADER_LEN) else {
                return false;
            };
            header += 1;
            pad = u32::from(p);
            match h.len.checked_sub(1 + pad) {
                Some(r) => remaining = r,
                None => {
                    self.note(
                        Finding::new(
                            Code::H2FrameInvalid,
                            format!("malformed HTTP/2 frame: DATA pad length {p} leaves no room in {} bytes", h.len),
                        )
                        .packets(&[packet]),
                    );
                    link.stream_mut(side).consume(h.frame_len());
                    return true;
                }
            }
        }
        link.stream_mut(side).consume(header);
        if remaining == 0 {
            // An empty DATA frame (typically a bare END_STREAM) ends where its header does,
            // often at the end of a segment: handled now, not when more bytes come.
            return self.data(link, side, h.stream, 0, pad, end_stream, out);
        }
        self.dir_mut(side).reading = Reading::Data {
            stream: h.stream,
            remaining,
            pad,
            end_stream,
        };
        true
    }

    fn oversized(&mut self, side: Side, h: &FrameHeader, cap: usize, packet: u64) {
        let header_kind = matches!(
            h.kind,
            FrameType::HEADERS | FrameType::CONTINUATION | FrameType::PUSH_PROMISE
        );
        let what = if header_kind {
            "header block fragment"
        } else {
            "control frame"
        };
        self.note(
            Finding::new(
                Code::HeaderLimitExceeded,
                format!(
                    "HTTP/2 {} {what} of {} bytes on stream {} passed the cap of {cap} bytes; it was skipped",
                    h.kind.name(),
                    h.len,
                    h.stream
                ),
            )
            .packets(&[packet]),
        );
        if header_kind {
            self.lose_block(side);
        }
    }

    /// A header block of `side` was lost: the sender's table is no longer known.
    fn lose_block(&mut self, side: Side) {
        let d = self.dir_mut(side);
        d.block = None;
        d.hpack.lose_table();
    }

    #[allow(clippy::too_many_arguments)]
    fn on_frame<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        h: &FrameHeader,
        f: OwnedFrame,
        packets: Vec<u64>,
        (packet, ts, last_ts): (u64, Timestamp, Timestamp),
        out: &mut Output,
    ) {
        let peer = link.peer_of(side);
        if h.kind == FrameType::PING {
            self.count_ackable(side, h.has(flags::ACK), "PING", packet);
        }
        match f {
            OwnedFrame::Block {
                block,
                end_stream,
                end_headers,
                push,
                continuation,
            } => {
                let max = self.limits.max_header_block;
                let d = self.dir_mut(side);
                if continuation {
                    let Some(b) = d.block.as_mut().filter(|b| b.stream == h.stream) else {
                        self.note(
                            Finding::new(
                                Code::H2FrameInvalid,
                                format!(
                                    "CONTINUATION on stream {} without a header block to continue",
                                    h.stream
                                ),
                            )
                            .packets(&[packet]),
                        );
                        return;
                    };
                    let over = b.bytes.len() + block.len() > max;
                    // The block grows within the memory budget too (the table is lost
                    // with it, as over the cap).
                    let refused = !over && !b.lost && link.admit(Use::Http2, block.len()).is_err();
                    if over || refused {
                        b.lost = true;
                        b.bytes = Vec::new();
                    } else if !b.lost {
                        b.bytes.extend_from_slice(&block);
                    }
                    for p in packets {
                        if b.packets.last() != Some(&p) {
                            b.packets.push(p);
                        }
                    }
                    b.continuations = b.continuations.saturating_add(1);
                    let (n, max) = (b.continuations, self.limits.flood.max_continuations);
                    if max > 0 && n > max {
                        let (by, stream) = (self.peer_word(side), h.stream);
                        self.flood(
                            FloodKind::Continuation,
                            format!("the {by} sent more than {max} CONTINUATION frames in one header block on stream {stream} (--h2-max-continuations: nghttp2 allows 8 by default; CVE-2024-27316, CONTINUATION flood)"),
                            packet,
                        );
                    }
                    if refused {
                        let stream = h.stream;
                        self.note_memcap(
                            format!("the header block of HTTP/2 stream {stream} was not kept (the sender's HPACK table is lost with it)"),
                            packet,
                        );
                    }
                } else {
                    if d.block.is_some() {
                        // RFC 9113 §6.10: nothing may come between a block's frames.
                        d.block = None;
                        d.hpack.lose_table();
                        self.note(
                            Finding::new(
                                Code::H2FrameInvalid,
                                "a header block was interrupted before END_HEADERS",
                            )
                            .packets(&[packet]),
                        );
                    }
                    let refused = !end_headers && link.admit(Use::Http2, block.len()).is_err();
                    if refused {
                        self.note_memcap(
                            format!("the header block of HTTP/2 stream {} was not kept (the sender's HPACK table is lost with it)", h.stream),
                            packet,
                        );
                    }
                    self.dir_mut(side).block = Some(Block {
                        stream: h.stream,
                        push,
                        bytes: if refused { Vec::new() } else { block },
                        end_stream,
                        packets,
                        first_ts: ts,
                        lost: refused,
                        continuations: 0,
                    });
                }
                if end_headers {
                    if let Some(b) = self.dir_mut(side).block.take() {
                        self.on_block(link, side, b, last_ts, out);
                    }
                }
            }
            OwnedFrame::Settings { ack, params } => {
                self.count_ackable(side, ack, "SETTINGS", packet);
                if ack {
                    return;
                }
                let (n, max) = (params.len() / 6, self.limits.flood.max_settings as usize);
                if max > 0 && n > max {
                    let by = self.peer_word(side);
                    self.flood(
                        FloodKind::Settings,
                        format!("the {by} sent a SETTINGS frame of {n} parameters, more than {max} (--h2-max-settings: nghttp2 allows 32 by default; CVE-2020-11080)"),
                        packet,
                    );
                }
                for s in frame::settings(&params) {
                    match s.id {
                        SettingId::ENABLE_CONNECT_PROTOCOL => {
                            self.dir_mut(side).connect_protocol = Some(s.value == 1);
                        }
                        // The sender decodes what its peer encodes: the bound is for the
                        // other direction's encoder.
                        SettingId::HEADER_TABLE_SIZE => {
                            self.dir_mut(side.reverse())
                                .hpack
                                .set_receiver_setting(s.value);
                        }
                        _ => {}
                    }
                }
                if self.dir(side).connect_protocol.is_none() {
                    self.dir_mut(side).connect_protocol = Some(false);
                }
                if peer == Peer::Server {
                    self.server_settings = self.dir(side).connect_protocol;
                    self.new_request = true;
                }
            }
            OwnedFrame::Reset(code) => {
                if peer == Peer::Client {
                    self.count_reset(side, ts, packet);
                }
                let id = h.stream;
                let reset = H2Reset {
                    by: peer,
                    code: code.0,
                    name: code.name(),
                    last_stream: None,
                    debug: None,
                    packet,
                };
                if let Some(t) = self.tracked_mut(id) {
                    if t.state == State::Open && t.reset.is_none() {
                        t.reset = Some(Box::new(reset.clone()));
                    }
                }
                self.end_stream(id, side, true, ts);
                if self.tracked_mut(id).is_some_and(|t| t.refusal.is_some()) {
                    self.report_refusal(id, false, out);
                }
                if let Some(e) = self.eio.as_deref_mut() {
                    e.reset(id, out);
                }
                let pending = self
                    .tracked_mut(id)
                    .is_some_and(|t| t.state == State::Pending);
                if pending {
                    if let Some(t) = self.tracked_mut(id) {
                        t.facts.reset = Some(reset);
                    }
                    self.complete(link, id, None, Some((Ending::CaptureEnded, ts)), out);
                }
            }
            OwnedFrame::GoAway {
                last_stream,
                code,
                debug,
            } => {
                let goaway = H2Reset {
                    by: peer,
                    code: code.0,
                    name: code.name(),
                    last_stream: Some(last_stream),
                    debug: (!debug.is_empty()).then(|| escape(&debug)),
                    packet,
                };
                // RFC 9113 §6.8: streams above last_stream were not processed (refused);
                // only the server's GOAWAY speaks of the client's streams.
                let from_server = peer == Peer::Server;
                let refused: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|t| {
                        from_server
                            && t.state == State::Pending
                            && (t.id > last_stream || code != ErrorCode::NO_ERROR)
                    })
                    .map(|t| t.id)
                    .collect();
                for id in refused {
                    if let Some(t) = self.tracked_mut(id) {
                        t.facts.goaway = Some(goaway.clone());
                    }
                    self.complete(link, id, None, Some((Ending::CaptureEnded, ts)), out);
                }
                // An open WebSocket stream outlives a graceful GOAWAY and dies with any
                // other: the connection record says which (h2::ending).
                for t in self.streams.iter_mut().filter(|t| {
                    t.state == State::Open
                        && t.goaway.is_none()
                        && t.ends.iter().any(Option::is_none)
                }) {
                    t.goaway = Some(Box::new((goaway.clone(), ts)));
                }
            }
            OwnedFrame::Other => {}
        }
    }

    /// A complete header block from `side`.
    fn on_block<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        side: Side,
        b: Block,
        last_ts: Timestamp,
        out: &mut Output,
    ) {
        if b.lost {
            self.lose_block(side);
            return;
        }
        let table = self.dir(side).hpack.memory();
        let list = self.dir_mut(side).hpack.decode(&b.bytes);
        let grown = self.dir(side).hpack.memory().saturating_sub(table);
        if grown > 0 && link.admit(Use::Http2, grown).is_err() {
            // No budget for the table's growth: the table is given up (later references
            // to it show as unknown fields, never wrong ones).
            self.dir_mut(side).hpack.drop_table();
            self.note_memcap(
                format!(
                    "the HPACK table of stream {}'s sender was not kept",
                    b.stream
                ),
                b.packets.first().copied().unwrap_or(0),
            );
        }
        for p in &list.problems {
            let f = Finding::new(Code::H2HpackProblem, format!("stream {}: {p}", b.stream))
                .packets(&b.packets);
            self.note(f);
        }
        if b.push {
            return;
        }
        let truncated = link.stream(side).marks().truncated;
        let msg = |is_request| Message {
            head: head_of(&list, b.bytes.len(), is_request),
            packets: b.packets.clone(),
            first_ts: b.first_ts,
            last_ts,
            truncated,
            // The DATA of a refusal is not read yet (a body excerpt is HTTP/1.1's for now).
            body: None,
            cut: None,
        };
        let is_client = link.sends_requests(side) != Some(false);
        let id = b.stream;
        if b.end_stream {
            self.end_stream(id, side, false, last_ts);
        }
        let tracked = self.streams.iter().position(|t| t.id == id);
        if tracked.is_none() && (self.eio.is_some() || engineio::is_polling_request(&list)) {
            let m = msg(is_client);
            if self.eio_block(link, is_client, id, &list, m, b.end_stream, out) {
                return;
            }
        }
        if is_client && tracked.is_none() && list.unknown > 0 && !is_websocket_request(&list) {
            // HPACK state from before the capture: whether this was an extended CONNECT is
            // unknown. Said only if its DATA turns out to be WebSocket frames.
            if self.undecided.len() >= MAX_UNDECIDED {
                self.undecided.remove(0);
            }
            self.undecided.push((id, undecided_summary(&list)));
        }
        match (is_client, tracked) {
            (true, None) if is_websocket_request(&list) => {
                if self.streams.len() >= self.limits.max_streams {
                    self.note(Finding::new(
                        Code::HeaderLimitExceeded,
                        format!(
                            "more than {} extended CONNECT streams on one connection; stream {id} is not followed",
                            self.limits.max_streams
                        ),
                    ));
                    return;
                }
                let server = self.dir(side.reverse()).connect_protocol;
                self.new_request = true;
                self.streams.push(Tracked {
                    id,
                    state: State::Pending,
                    request: Some(msg(true)),
                    interim: Vec::new(),
                    facts: H2Stream {
                        stream_id: id,
                        upgraded: self.upgraded,
                        connect_protocol_enabled: server,
                        unknown_fields: list.unknown,
                        mid_connection: !self.from_start,
                        reset: None,
                        goaway: None,
                    },
                    since: last_ts,
                    handshake: None,
                    relays: None,
                    ends: [None, None],
                    reset: None,
                    goaway: None,
                    refusal: None,
                    undecided: None,
                });
            }
            (false, Some(i)) => {
                let status = list.value(":status").and_then(|s| s.parse::<u16>().ok());
                let Some(t) = self.streams.get_mut(i) else {
                    return;
                };
                if t.state != State::Pending {
                    return; // trailers
                }
                t.facts.unknown_fields += list.unknown;
                if status.is_some_and(|s| (100..200).contains(&s)) {
                    if t.interim.len() < MAX_INTERIM {
                        t.interim.push(msg(false));
                    }
                    return;
                }
                let response = msg(false);
                let ok = status.is_some_and(|s| (200..300).contains(&s))
                    && t.request
                        .as_ref()
                        .is_some_and(|r| r.head.value(":protocol").is_some());
                let extensions = response.head.list("sec-websocket-extensions");
                let engineio = t.request.as_ref().and_then(engineio::websocket_revision);
                if !ok && !b.end_stream && self.body_bytes > 0 {
                    // A refusal with a body: its first bytes are the server's reason.
                    let reader = BodyReader::new(
                        Body::UntilClose,
                        Coding::of(&response.head),
                        self.body_bytes,
                    );
                    let mut held = Output::default();
                    self.complete(link, id, Some(response), None, &mut held);
                    if let (Some(done), Some(t)) = (held.completed.pop(), self.tracked_mut(id)) {
                        t.state = State::Refusing;
                        t.refusal = Some(Box::new(Refusal {
                            reader,
                            done,
                            since: last_ts,
                        }));
                    }
                    return;
                }
                self.complete(link, id, Some(response), None, out);
                if ok {
                    if let Some(t) = self.tracked_mut(id) {
                        t.state = State::Open;
                        t.relays = Some(Box::new([Relay::new(), Relay::new()]));
                        // An END_STREAM on the response: the server's side is already over.
                        if t.ends.get(side_index(side)).is_some_and(Option::is_some) {
                            if let Some(r) = t
                                .relays
                                .as_deref_mut()
                                .and_then(|r| r.get_mut(side_index(side)))
                            {
                                r.finish();
                            }
                        }
                    }
                    self.opened.push(Opened {
                        stream: StreamId(id),
                        start: last_ts,
                        extensions,
                        engineio,
                    });
                }
            }
            _ => {}
        }
    }

    /// Stream `id`'s exchange is known: hand it on (its state becomes Done; the caller opens
    /// it after a 2xx).
    fn complete<S: ByteStream>(
        &mut self,
        _link: &mut Link<'_, S>,
        id: u32,
        response: Option<Message>,
        end: Option<(Ending, Timestamp)>,
        out: &mut Output,
    ) {
        let extra = std::mem::take(&mut self.findings);
        let Some(t) = self.tracked_mut(id) else {
            return;
        };
        t.state = State::Done;
        let switched = response
            .as_ref()
            .and_then(|r| r.head.status())
            .is_some_and(|s| (200..300).contains(&s));
        out.completed.push(Completed {
            stream: StreamId(id),
            request: t.request.take(),
            switched: switched && t.facts.reset.is_none(),
            response,
            interim: std::mem::take(&mut t.interim),
            ending: end.map(|(e, _)| e),
            ended_at: end.map(|(_, at)| at),
            extra,
            id: t.handshake,
            h2: Some(t.facts.clone()),
        });
    }

    /// Reports extended CONNECTs sent at or before `cutoff` and still unanswered at `now`.
    pub fn expire_unanswered<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        cutoff: Timestamp,
        now: Timestamp,
        out: &mut Output,
    ) {
        let due: Vec<u32> = self
            .streams
            .iter()
            .filter(|t| t.state == State::Pending && t.since <= cutoff)
            .map(|t| t.id)
            .collect();
        for id in due {
            self.complete(link, id, None, Some((Ending::ResponseTimeout, now)), out);
        }
        let held: Vec<u32> = self
            .streams
            .iter()
            .filter(|t| t.refusal.as_ref().is_some_and(|r| r.since <= cutoff))
            .map(|t| t.id)
            .collect();
        for id in held {
            self.report_refusal(id, false, out);
        }
    }

    /// The connection ended (`ending` at `at`): every extended CONNECT still waiting is
    /// reported unanswered.
    pub fn finish<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        ending: Ending,
        at: Timestamp,
        out: &mut Output,
    ) {
        let due: Vec<u32> = self
            .streams
            .iter()
            .filter(|t| t.state == State::Pending)
            .map(|t| t.id)
            .collect();
        for id in due {
            self.complete(link, id, None, Some((ending, at)), out);
        }
        let held: Vec<u32> = self
            .streams
            .iter()
            .filter(|t| t.refusal.is_some())
            .map(|t| t.id)
            .collect();
        for id in held {
            self.report_refusal(id, false, out);
        }
        if let Some(e) = self.eio.as_deref_mut() {
            e.finish(out);
        }
    }

    /// A header block on stream `id`, which no extended CONNECT tracks, when it may be an
    /// Engine.IO poll's (`h2::engineio`): a polling request starts following the stream, the
    /// server's answer or trailers go to it. True when it was one of them.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn eio_block<S: ByteStream>(
        &mut self,
        link: &mut Link<'_, S>,
        is_client: bool,
        id: u32,
        list: &HeaderList,
        m: Message,
        end_stream: bool,
        out: &mut Output,
    ) -> bool {
        let mut room = |bytes: usize| link.admit(Use::Body, bytes).is_ok();
        let followed = self.eio.as_deref().is_some_and(|e| e.has(id));
        if is_client && !followed {
            if !engineio::is_polling_request(list) {
                return false;
            }
            let bytes = self.eio_body_bytes;
            self.eio
                .get_or_insert_with(|| Box::new(EioStreams::new(bytes)))
                .request(id, m, end_stream, &mut room, out);
            return true;
        }
        let Some(e) = self.eio.as_deref_mut().filter(|_| followed) else {
            return false;
        };
        if is_client {
            // Trailers of the request.
            if end_stream {
                e.end(id, false, Some(m.last_ts), out);
            }
        } else {
            e.response(id, m, end_stream, &mut room, out);
        }
        true
    }
}

/// The end of the run of bytes from one packet that starts at `at`, within `..n`.
fn run_end<S: ByteStream>(s: &S, at: usize, n: usize) -> usize {
    let Some(first) = s.origin(at).map(|o| o.offset) else {
        return n;
    };
    let same = |i: usize| s.origin(i).map(|o| o.offset) == Some(first);
    // Exponential then binary search for the first index of another run.
    let mut step = 1;
    let mut lo = at;
    while lo + step < n && same(lo + step) {
        lo += step;
        step *= 2;
    }
    let mut hi = (lo + step).min(n);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if same(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// GOAWAY debug data as text: printable ASCII kept, everything else as `\xNN` (it is
/// untrusted and may be binary).
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// A frame whose borrowed parts are copied, so the stream may be consumed before it is
/// handled.
enum OwnedFrame {
    Block {
        block: Vec<u8>,
        end_stream: bool,
        end_headers: bool,
        push: bool,
        continuation: bool,
    },
    Settings {
        ack: bool,
        params: Vec<u8>,
    },
    Reset(ErrorCode),
    GoAway {
        last_stream: u32,
        code: ErrorCode,
        debug: Vec<u8>,
    },
    Other,
}

impl From<Frame<'_>> for OwnedFrame {
    fn from(f: Frame<'_>) -> Self {
        match f {
            Frame::Headers {
                block,
                end_stream,
                end_headers,
                ..
            } => OwnedFrame::Block {
                block: block.to_vec(),
                end_stream,
                end_headers,
                push: false,
                continuation: false,
            },
            Frame::PushPromise {
                block, end_headers, ..
            } => OwnedFrame::Block {
                block: block.to_vec(),
                end_stream: false,
                end_headers,
                push: true,
                continuation: false,
            },
            Frame::Continuation { block, end_headers } => OwnedFrame::Block {
                block: block.to_vec(),
                end_stream: false,
                end_headers,
                push: false,
                continuation: true,
            },
            Frame::Settings { ack, params } => OwnedFrame::Settings {
                ack,
                params: params.to_vec(),
            },
            Frame::RstStream(code) => OwnedFrame::Reset(code),
            Frame::GoAway {
                last_stream,
                code,
                debug,
            } => OwnedFrame::GoAway {
                last_stream,
                code,
                debug: debug.get(..256).unwrap_or(debug).to_vec(),
            },
            Frame::Data { .. }
            | Frame::Priority(_)
            | Frame::Ping { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Unknown => OwnedFrame::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Side = Side::LoToHi;
    const S: Side = Side::HiToLo;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut v = vec![len[1], len[2], len[3], kind, flags];
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut e = loona_hpack::Encoder::new();
        e.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    const CONNECT: &[(&str, &str)] = &[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/chat"),
        (":authority", "example.com"),
        ("sec-websocket-version", "13"),
    ];

    /// Both directions as relays, the HTTP/2 reader, what it completed.
    struct H2 {
        streams: [Relay; 2],
        client: Option<Side>,
        h2: H2Connection,
        out: Output,
        packet: u64,
    }

    impl H2 {
        fn new() -> Self {
            let mut h = H2 {
                streams: [Relay::new(), Relay::new()],
                client: Some(C),
                h2: H2Connection::new(H2Limits::default(), C, false, true),
                out: Output::default(),
                packet: 0,
            };
            h.send(C, frame::PREFACE);
            h
        }

        fn send(&mut self, side: Side, bytes: &[u8]) -> &mut Self {
            self.packet += 1;
            let p = self.packet;
            self.streams[side.index()].append(bytes, p, Timestamp(i64::try_from(p).unwrap()));
            let mut link = Link::new(&mut self.streams, &mut self.client, Timestamp(0));
            while !link.stream(side).data().is_empty()
                && self.h2.step(&mut link, side, &mut self.out)
            {}
            self
        }

        /// Like [`H2::send`], at capture time `ns`.
        fn send_at(&mut self, side: Side, bytes: &[u8], ns: i64) -> &mut Self {
            self.packet += 1;
            let p = self.packet;
            self.streams[side.index()].append(bytes, p, Timestamp(ns));
            let mut link = Link::new(&mut self.streams, &mut self.client, Timestamp(ns));
            while !link.stream(side).data().is_empty()
                && self.h2.step(&mut link, side, &mut self.out)
            {}
            self
        }

        fn settings(&mut self, side: Side, connect: bool) -> &mut Self {
            let mut p = vec![0, 8, 0, 0, 0, u8::from(connect)];
            p.extend_from_slice(&[0, 3, 0, 0, 0, 100]);
            self.send(side, &frame(4, 0, 0, &p))
        }
    }

    #[test]
    fn an_extended_connect_answered_200_opens_a_stream_whose_data_is_relayed() {
        let mut h = H2::new();
        h.settings(S, true).settings(C, false);
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        assert!(h.h2.take_new_request());
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "200")])));
        let done = std::mem::take(&mut h.out.completed);
        assert_eq!(done.len(), 1);
        let c = &done[0];
        assert!(c.switched);
        assert_eq!(c.stream, StreamId(1));
        assert_eq!(c.h2.as_ref().unwrap().connect_protocol_enabled, Some(true));
        assert_eq!(
            c.request.as_ref().unwrap().head.start_line,
            "CONNECT /chat HTTP/2"
        );
        assert_eq!(h.h2.take_opened().len(), 1);
        // A padded DATA frame with a WebSocket frame, split across two packets, then END_STREAM.
        let mut payload = vec![2];
        payload.extend_from_slice(b"\x81\x02hi");
        payload.extend_from_slice(&[0, 0]);
        let data = frame(0, 0x9, 1, &payload);
        h.send(S, &data[..11]).send(S, &data[11..]);
        let relay = &h.h2.relays_mut(StreamId(1)).unwrap()[S.index()];
        assert_eq!(relay.data(), b"\x81\x02hi");
        assert_eq!(relay.packets(0..4), [h.packet - 1, h.packet]);
        assert!(relay.is_finished());
        let end = h.h2.stream_ending(StreamId(1)).unwrap();
        assert_eq!(
            (end.ending, end.closer, end.rst),
            (Ending::ServerFin, Peer::Server, false)
        );
        // DATA on a stream nobody follows is skipped, and the next frame still parses.
        h.send(C, &frame(0, 0, 5, &[0; 100]));
        h.send(C, &frame(3, 0, 1, &[0, 0, 0, 8]));
        let end = h.h2.stream_ending(StreamId(1)).unwrap();
        assert_eq!((end.ending, end.rst), (Ending::ClientRst, true));
        assert!(h.h2.memory() > 0);
    }

    /// Engine.IO polling over HTTP/2 (`h2::engineio`): a GET stream whose response DATA is
    /// the open packet and a POST stream whose request DATA is a payload come out as the
    /// polls an HTTP/1.1 connection gives, bodies cut at `--eio-body-bytes`; other streams'
    /// DATA is still skipped, and an Engine.IO extended CONNECT opens a WebSocket read as
    /// Engine.IO.
    #[test]
    fn engineio_polling_streams_are_polls_with_their_bodies() {
        let mut h = H2::new();
        h.h2 = H2Connection::new(H2Limits::default(), C, false, true).keeping_eio_bodies(40);
        h.send(C, frame::PREFACE);
        h.settings(S, true).settings(C, false);
        let get = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/socket.io/?EIO=4&transport=polling&t=a"),
            (":authority", "x"),
        ];
        h.send(C, &frame(1, 0x5, 1, &block(&get)));
        // A page stream: its DATA is skipped unread.
        let page = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            (":authority", "x"),
        ];
        h.send(C, &frame(1, 0x5, 3, &block(&page)));
        h.send(S, &frame(1, 0x4, 3, &block(&[(":status", "200")])));
        h.send(S, &frame(0, 0x1, 3, b"<html>"));
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "200")])));
        let open = br#"0{"sid":"S1","upgrades":["websocket"]}"#;
        h.send(S, &frame(0, 0, 1, &open[..10]));
        assert!(h.out.engineio.is_empty(), "the body is still arriving");
        h.send(S, &frame(0, 0x1, 1, &open[10..]));
        let polls = std::mem::take(&mut h.out.engineio);
        assert_eq!(polls.len(), 1, "{polls:#?}");
        let p = &polls[0];
        assert_eq!(
            p.request.head.start_line,
            "GET /socket.io/?EIO=4&transport=polling&t=a HTTP/2"
        );
        let resp = p.response.as_ref().unwrap();
        assert_eq!(resp.head.status(), Some(200));
        let body = resp.body.as_ref().unwrap();
        assert_eq!((body.bytes.as_slice(), body.truncated), (&open[..], false));
        assert_eq!(resp.last_ts, Timestamp(i64::try_from(h.packet).unwrap()));
        // A POST longer than the cap: cut there, and said so.
        let post = [
            (":method", "POST"),
            (":scheme", "https"),
            (":path", "/socket.io/?EIO=4&transport=polling&sid=S1"),
            (":authority", "x"),
        ];
        h.send(C, &frame(1, 0x4, 5, &block(&post)));
        h.send(C, &frame(0, 0x1, 5, &[b'4'; 50]));
        h.send(S, &frame(1, 0x4, 5, &block(&[(":status", "200")])));
        h.send(S, &frame(0, 0x1, 5, b"ok"));
        let polls = std::mem::take(&mut h.out.engineio);
        let req = polls[0].request.body.as_ref().unwrap();
        assert_eq!((req.bytes.len(), req.truncated), (40, true));
        assert_eq!(
            polls[0]
                .response
                .as_ref()
                .unwrap()
                .body
                .as_ref()
                .unwrap()
                .bytes,
            b"ok"
        );
        // A poll the connection's end cuts is handed on without its answer.
        h.send(C, &frame(1, 0x5, 7, &block(&get)));
        assert!(h.h2.memory() > std::mem::size_of::<H2Connection>());
        let mut link = Link::new(&mut h.streams, &mut h.client, Timestamp(0));
        h.h2.finish(&mut link, Ending::ClientFin, Timestamp(0), &mut h.out);
        let polls = std::mem::take(&mut h.out.engineio);
        assert_eq!(polls.len(), 1);
        assert!(polls[0].response.is_none());
        // The websocket transport is an extended CONNECT, opened as Engine.IO's.
        let mut ws = CONNECT.to_vec();
        ws[3] = (":path", "/socket.io/?EIO=4&transport=websocket&sid=S1");
        h.send(C, &frame(1, 0x4, 9, &block(&ws)));
        h.send(S, &frame(1, 0x4, 9, &block(&[(":status", "200")])));
        let opened = h.h2.take_opened();
        assert_eq!(opened[0].engineio, Some(4));
        assert!(h.out.engineio.is_empty());
        // A budget with no room for the bodies: they are not read, the DATA is skipped, and
        // the poll is still handed on at its END_STREAM, saying so.
        let mut meter = Meter::with_budget(Some(0));
        let mut send = |h: &mut H2, side: Side, bytes: &[u8]| {
            h.packet += 1;
            let p = h.packet;
            h.streams[side.index()].append(bytes, p, Timestamp(i64::try_from(p).unwrap()));
            let mut link =
                Link::new(&mut h.streams, &mut h.client, Timestamp(0)).with_meter(&mut meter);
            while !link.stream(side).data().is_empty() && h.h2.step(&mut link, side, &mut h.out) {}
        };
        send(&mut h, C, &frame(1, 0x4, 11, &block(&post)));
        send(&mut h, C, &frame(0, 0x1, 11, b"42[\"x\"]"));
        send(&mut h, S, &frame(1, 0x4, 11, &block(&[(":status", "200")])));
        send(&mut h, S, &frame(0, 0x1, 11, b"ok"));
        let polls = std::mem::take(&mut h.out.engineio);
        assert_eq!(polls.len(), 1);
        assert_eq!(polls[0].bodies_unread, 2);
        assert!(polls[0].request.body.is_none());
    }

    /// Polls beyond `MAX_POLLS` open polling streams are not followed, and not silently: each
    /// is handed on at its request head, marked `not_followed`, so its session says so
    /// (issue 14: a cap that is not reported). Its answer and DATA are not read; once a
    /// followed stream ends, the next poll is followed again.
    #[test]
    fn polls_beyond_the_open_stream_cap_are_handed_on_marked_not_followed() {
        let mut h = H2::new();
        h.settings(S, true).settings(C, false);
        let get = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/socket.io/?EIO=4&transport=polling&sid=S1"),
            (":authority", "x"),
        ];
        let streams = u32::try_from(engineio::MAX_POLLS).unwrap() + 2;
        for i in 0..streams {
            h.send(C, &frame(1, 0x5, 1 + 2 * i, &block(&get)));
        }
        let polls = std::mem::take(&mut h.out.engineio);
        assert_eq!(polls.len(), 2, "{polls:#?}");
        for p in &polls {
            assert!(p.not_followed && p.response.is_none() && p.request.body.is_none());
            assert_eq!(p.bodies_unread, 0);
        }
        let beyond = 1 + 2 * u32::try_from(engineio::MAX_POLLS).unwrap();
        assert_eq!(polls[0].request.packets, [h.packet - 1]);
        assert_eq!(
            polls[0].request.head.start_line,
            "GET /socket.io/?EIO=4&transport=polling&sid=S1 HTTP/2"
        );
        // The unfollowed stream's answer goes nowhere; a followed one's completes as ever.
        h.send(S, &frame(1, 0x4, beyond, &block(&[(":status", "200")])));
        h.send(S, &frame(0, 0x1, beyond, b"6"));
        assert!(h.out.engineio.is_empty());
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "200")])));
        h.send(S, &frame(0, 0x1, 1, b"6"));
        let polls = std::mem::take(&mut h.out.engineio);
        assert_eq!(polls.len(), 1);
        assert!(!polls[0].not_followed);
        // Room again: the next poll is followed.
        h.send(C, &frame(1, 0x5, 1 + 2 * streams, &block(&get)));
        assert!(
            h.out.engineio.is_empty(),
            "followed, waiting for its answer"
        );
    }

    #[test]
    fn a_refusal_s_data_is_its_body_read_to_end_stream_like_an_http1_refusal_s() {
        let mut h = H2::new();
        h.h2.body_bytes = 64;
        h.settings(S, true);
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "403")])));
        assert!(h.out.completed.is_empty(), "held for its body");
        h.send(S, &frame(0, 0, 1, b"origin not "));
        h.send(S, &frame(0, 0, 1, b"allowed"));
        assert!(h.out.completed.is_empty(), "the body goes on");
        // hypercorn's way: the END_STREAM on an empty DATA frame of its own, the segment's
        // last bytes (nothing after it comes to read it).
        h.send(S, &frame(0, 0x1, 1, b""));
        let done = std::mem::take(&mut h.out.completed);
        assert_eq!(done.len(), 1);
        let body = done[0].response.as_ref().unwrap().body.as_ref().unwrap();
        assert_eq!(body.bytes, b"origin not allowed");
        assert_eq!(body.length, Some(18));
        assert!(!body.truncated && body.problem.is_none());
        assert!(!done[0].switched);
        assert!(
            h.h2.open_streams().next().is_none(),
            "no WebSocket is relayed"
        );
        // A reset in the middle of the body: reported with what came, said unfinished.
        h.send(C, &frame(1, 0x4, 3, &block(CONNECT)));
        h.send(S, &frame(1, 0x4, 3, &block(&[(":status", "400")])));
        h.send(S, &frame(0, 0, 3, b"bad"));
        h.send(S, &frame(3, 0, 3, &[0, 0, 0, 2]));
        let done = std::mem::take(&mut h.out.completed);
        let body = done[0].response.as_ref().unwrap().body.as_ref().unwrap();
        assert_eq!((body.bytes.as_slice(), body.length), (&b"bad"[..], None));
        // A refusal whose HEADERS end the stream has no body to wait for.
        h.send(C, &frame(1, 0x4, 5, &block(CONNECT)));
        h.send(S, &frame(1, 0x5, 5, &block(&[(":status", "404")])));
        let done = std::mem::take(&mut h.out.completed);
        assert_eq!(done.len(), 1);
        assert!(done[0].response.as_ref().unwrap().body.is_none());
    }

    #[test]
    fn a_refusal_s_body_is_not_read_when_no_bytes_are_kept_and_is_reported_at_the_end() {
        let mut h = H2::new();
        h.settings(S, true);
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "403")])));
        assert_eq!(h.out.completed.len(), 1, "--body-bytes 0: reported at once");
        let mut h = H2::new();
        h.h2.body_bytes = 4;
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "503")])));
        h.send(S, &frame(0, 0, 1, b"over capacity, try later"));
        let done = std::mem::take(&mut h.out.completed);
        assert_eq!(
            done.len(),
            1,
            "the excerpt is full: reported before the body ends"
        );
        let body = done[0].response.as_ref().unwrap().body.as_ref().unwrap();
        assert!(body.truncated && body.bytes == b"over");
        let mut h = H2::new();
        h.h2.body_bytes = 64;
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "502")])));
        h.send(S, &frame(0, 0, 1, b"upstream"));
        let mut link = Link::new(&mut h.streams, &mut h.client, Timestamp(0));
        h.h2.finish(&mut link, Ending::ServerFin, Timestamp(9), &mut h.out);
        assert_eq!(
            h.out.completed.len(),
            1,
            "held refusals are reported at the end"
        );
    }

    #[test]
    fn continuation_frames_complete_a_header_block() {
        let mut h = H2::new();
        h.settings(S, true);
        let b = block(CONNECT);
        let (first, rest) = b.split_at(5);
        h.send(C, &frame(1, 0, 3, first));
        assert!(!h.h2.saw_request());
        h.send(C, &frame(9, 0x4, 3, rest));
        assert!(h.h2.saw_request());
        assert_eq!(h.h2.unanswered_since(), Some(Timestamp(4)));
    }

    #[test]
    fn a_server_goaway_refuses_streams_above_its_last_and_a_client_goaway_does_not() {
        let mut h = H2::new();
        h.settings(S, true);
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        h.send(C, &frame(7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(
            h.out.completed.is_empty(),
            "the client's GOAWAY is about server streams"
        );
        h.send(S, &frame(7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0xb, b'c', 0xff]));
        let done = std::mem::take(&mut h.out.completed);
        let g = done[0].h2.as_ref().unwrap().goaway.clone().unwrap();
        assert_eq!(g.by, Peer::Server);
        assert_eq!(g.name, Some("ENHANCE_YOUR_CALM"));
        assert_eq!(g.last_stream, Some(0));
        assert_eq!(g.debug.as_deref(), Some("c\\xff"));
        assert!(!done[0].switched && done[0].response.is_none());
    }

    #[test]
    fn a_goaway_reaching_an_open_stream_is_kept_with_its_time_and_counted() {
        // A graceful GOAWAY at 7 ns, without and with 1000 bytes of debug text: the open
        // stream keeps it, and the text it keeps is counted.
        let graceful = |debug: usize| {
            let mut h = with_open_stream(FloodLimits::default());
            assert!(h.h2.stream_goaway(StreamId(1)).is_none());
            let mut payload = vec![0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
            payload.extend(std::iter::repeat_n(b'x', debug));
            h.send_at(S, &frame(7, 0, 0, &payload), 7);
            h
        };
        let bare = graceful(0).h2.memory();
        let mut h = graceful(1000);
        let (g, at) = h.h2.stream_goaway(StreamId(1)).unwrap();
        assert_eq!(
            (g.code, g.last_stream, at),
            (0, Some((1 << 31) - 1), Timestamp(7))
        );
        // (kept escaped and cut at 256 bytes)
        let kept = g.debug.as_ref().map_or(0, String::len);
        assert_eq!(kept, 256);
        assert!(h.h2.memory() >= bare + kept, "the debug text is counted");
        // A second GOAWAY does not replace the first; a RST_STREAM on the open stream is its
        // reset, named.
        h.send(S, &frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 2]));
        assert_eq!(h.h2.stream_goaway(StreamId(1)).unwrap().0.code, 0);
        h.send(C, &frame(3, 0, 1, &[0, 0, 0, 8]));
        let end = h.h2.stream_ending(StreamId(1)).unwrap();
        assert_eq!(end.reset.map(|r| r.name), Some(Some("CANCEL")));
        // A stream that ended both ways before a GOAWAY is not reached by it.
        let mut h = with_open_stream(FloodLimits::default());
        h.send(C, &frame(0, 0x1, 1, b""));
        h.send(S, &frame(0, 0x1, 1, b""));
        h.send(S, &frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 2]));
        assert!(h.h2.stream_goaway(StreamId(1)).is_none());
    }

    #[test]
    fn malformed_and_oversized_frames_become_findings_of_the_next_exchange() {
        let mut h = H2::new();
        h.send(S, &frame(3, 0, 1, &[0, 0, 8])); // RST_STREAM of 3 bytes
        h.send(S, &frame(4, 0, 0, &vec![0; 6 * 3000])); // SETTINGS over the control cap
        h.send(C, &frame(9, 0x4, 1, b"\x82")); // CONTINUATION without a block
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        h.h2.finish(
            &mut Link::new(&mut h.streams, &mut h.client, Timestamp(9)),
            Ending::ClientFin,
            Timestamp(9),
            &mut h.out,
        );
        let c = &h.out.completed[0];
        let codes: Vec<_> = c.extra.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "h2_frame_invalid",
                "header_limit_exceeded",
                "h2_frame_invalid"
            ]
        );
        assert_eq!(c.ending, Some(Ending::ClientFin));
        assert_eq!(c.h2.as_ref().unwrap().connect_protocol_enabled, None);
    }

    /// A reader with `flood` limits and an open WebSocket stream 1.
    fn with_open_stream(flood: FloodLimits) -> H2 {
        let mut h = H2::new();
        h.h2.limits.flood = flood;
        h.settings(S, true);
        h.send(C, &frame(1, 0x4, 1, &block(CONNECT)));
        h.send(S, &frame(1, 0x4, 1, &block(&[(":status", "200")])));
        assert_eq!(h.h2.take_opened().len(), 1);
        h
    }

    fn flood_codes(h: &mut H2) -> Vec<(&'static str, String)> {
        h.h2.take_floods()
            .into_iter()
            .map(|f| (f.code.as_str(), f.message))
            .collect()
    }

    const GET: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/"),
        (":authority", "example.com"),
    ];

    #[test]
    fn rapid_reset_is_the_clients_resets_past_nghttp2s_token_bucket() {
        // CVE-2023-44487: HEADERS then RST_STREAM CANCEL, stream after stream. The bucket's
        // 1000 tokens last exactly 1000 resets at once; the 1001st is the finding, once.
        let mut h = with_open_stream(FloodLimits::default());
        let mut reset_packets = Vec::new();
        for i in 0..1_010u32 {
            let id = 3 + 2 * i;
            h.send(C, &frame(1, 0x5, id, &block(GET)));
            h.send(C, &frame(3, 0, id, &8u32.to_be_bytes()));
            reset_packets.push(h.packet);
            let floods = flood_codes(&mut h);
            if i < 1000 {
                assert!(floods.is_empty(), "reset {}: {floods:?}", i + 1);
            } else if i == 1000 {
                assert_eq!(floods.len(), 1);
                assert_eq!(floods[0].0, "h2_rapid_reset");
                assert!(
                    floods[0].1.contains("1000 at once and 33 a second"),
                    "{}",
                    floods[0].1
                );
            } else {
                assert!(floods.is_empty(), "reported once per connection");
            }
        }
        // The finding also waits for the next exchange, citing the 1001st reset's packet.
        h.send(C, &frame(1, 0x4, 5001, &block(CONNECT)));
        h.send(S, &frame(1, 0x4, 5001, &block(&[(":status", "200")])));
        let c = h.out.completed.last().unwrap();
        let f = c
            .extra
            .iter()
            .find(|f| f.code == Code::H2RapidReset)
            .unwrap();
        assert_eq!(f.packets, vec![reset_packets[1000]]);
        // A server's resets never count, and a client within the rate never runs dry: 3000
        // resets 31 ms apart (the bucket regains 33 a second, one per 30.3 ms).
        let mut h = with_open_stream(FloodLimits::default());
        for i in 0..3_000u32 {
            let id = 3 + 2 * i;
            let ns = 1_000_000_000 + i64::from(i) * 31_000_000;
            h.send_at(C, &frame(1, 0x5, id, &block(GET)), ns);
            h.send_at(C, &frame(3, 0, id, &8u32.to_be_bytes()), ns);
            h.send_at(S, &frame(3, 0, id, &8u32.to_be_bytes()), ns);
        }
        assert!(flood_codes(&mut h).is_empty());
        // The threshold is the caller's: 3 tokens, none regained.
        let mut h = with_open_stream(FloodLimits {
            reset_burst: 3,
            reset_rate: 0,
            ..FloodLimits::default()
        });
        for id in [3, 5, 7] {
            h.send(C, &frame(3, 0, id, &8u32.to_be_bytes()));
        }
        assert!(flood_codes(&mut h).is_empty());
        h.send(C, &frame(3, 0, 9, &8u32.to_be_bytes()));
        assert_eq!(flood_codes(&mut h).len(), 1);
    }

    #[test]
    fn pings_and_settings_left_unanswered_past_the_limit_are_a_flood() {
        let ping = |ack: bool| frame(6, u8::from(ack), 0, &[0; 8]);
        // Answered as fast as they come: nothing, however many.
        let mut h = with_open_stream(FloodLimits::default());
        for _ in 0..5_000 {
            h.send(C, &ping(false)).send(S, &ping(true));
        }
        assert!(flood_codes(&mut h).is_empty());
        // 1000 unanswered PINGs are nghttp2's queue limit; the 1001st is the flood.
        for _ in 0..1_000 {
            h.send(C, &ping(false));
        }
        assert!(flood_codes(&mut h).is_empty());
        h.send(C, &frame(4, 0, 0, &[]));
        let floods = flood_codes(&mut h);
        assert_eq!(floods.len(), 1, "{floods:?}");
        assert_eq!(floods[0].0, "h2_flood");
        assert!(
            floods[0].1.contains("client had more than 1000 PING and SETTINGS frames unacknowledged (the last a SETTINGS"),
            "{}",
            floods[0].1
        );
        // 0 turns the check off.
        let mut h = with_open_stream(FloodLimits {
            max_unacked: 0,
            ..FloodLimits::default()
        });
        for _ in 0..2_000 {
            h.send(S, &ping(false));
        }
        assert!(flood_codes(&mut h).is_empty());
    }

    #[test]
    fn settings_continuation_and_empty_data_floods_are_named_with_their_threshold() {
        // A SETTINGS of 33 parameters (CVE-2020-11080).
        let mut h = with_open_stream(FloodLimits::default());
        h.send(C, &frame(4, 0, 0, &[0, 3, 0, 0, 0, 100].repeat(33)));
        let floods = flood_codes(&mut h);
        assert!(
            floods[0]
                .1
                .contains("SETTINGS frame of 33 parameters, more than 32"),
            "{floods:?}"
        );
        // Nine CONTINUATION frames in one block (nghttp2 allows 8).
        let mut h = with_open_stream(FloodLimits::default());
        let b = block(GET);
        h.send(C, &frame(1, 0x1, 3, &b[..1]));
        for (i, byte) in b[1..].iter().chain([0x82u8; 8].iter()).take(9).enumerate() {
            let last = if i == 8 { 0x4 } else { 0 };
            h.send(C, &frame(9, last, 3, &[*byte]));
        }
        let floods = flood_codes(&mut h);
        assert_eq!(floods.len(), 1, "{floods:?}");
        assert!(floods[0]
            .1
            .contains("more than 8 CONTINUATION frames in one header block on stream 3"));
        // Empty DATA without END_STREAM, on the open stream: 1001 of them (CVE-2019-9518); an
        // empty DATA that ends the stream is how hypercorn ends, not a flood.
        let mut h = with_open_stream(FloodLimits::default());
        for _ in 0..1_000 {
            h.send(S, &frame(0, 0, 1, &[]));
        }
        h.send(C, &frame(0, 0x1, 1, &[]));
        assert!(flood_codes(&mut h).is_empty());
        h.send(S, &frame(0, 0, 1, &[]));
        let floods = flood_codes(&mut h);
        assert!(
            floods[0]
                .1
                .contains("server sent more than 1000 empty DATA frames"),
            "{floods:?}"
        );
    }

    #[test]
    fn mid_connection_data_on_streams_not_followed_waits_to_be_judged() {
        let mid = || H2 {
            streams: [Relay::new(), Relay::new()],
            client: Some(C),
            h2: H2Connection::new(H2Limits::default(), C, false, false),
            out: Output::default(),
            packet: 0,
        };
        let mut h = mid();
        // Stream 3's HEADERS refer to dynamic entries made before the capture (index 62,
        // 63), beside a static :scheme: what is known is kept for its finding.
        h.send(C, &frame(1, 0x4, 3, &[0x86, 0xbe, 0xbf]));
        assert!(h.out.completed.is_empty(), "no handshake guessed");
        h.send(C, &frame(0, 0, 1, b"\x81\x82abcdxy"));
        h.send(C, &frame(0, 0, 3, b"\x81\x82abcdxy"));
        let unseen = h.h2.unseen_streams();
        assert_eq!(unseen.len(), 2);
        assert_eq!(
            (unseen[0].stream, unseen[0].request.as_deref()),
            (StreamId(1), None)
        );
        let known = unseen[1].request.as_deref().unwrap();
        assert!(
            known.starts_with("2 of its 3 request fields came from HPACK table entries made before the capture (known: :scheme: http)"),
            "{known}"
        );
        let relay = &h.h2.unseen_relays_mut(StreamId(1)).unwrap()[C.index()];
        assert_eq!(relay.data(), b"\x81\x82abcdxy");
        // Judged: stream 1 a WebSocket (open from now on), stream 3 not (forgotten, and its
        // later DATA skipped unread).
        h.h2.confirm_unseen(StreamId(1));
        h.h2.reject_unseen(StreamId(3));
        assert_eq!(h.h2.open_streams().collect::<Vec<_>>(), vec![StreamId(1)]);
        h.send(C, &frame(0, 0, 3, b"more"));
        assert!(h.h2.unseen_streams().is_empty());
        assert!(h.h2.relays_mut(StreamId(3)).is_none());
        // From the start of a connection every stream's opening is seen: nothing is unseen.
        let mut h = H2::new();
        h.send(C, &frame(0, 0, 1, b"\x81\x82abcdxy"));
        assert!(h.h2.unseen_streams().is_empty());
        // Server-initiated (even) streams are pushes, never WebSockets.
        let mut h = mid();
        h.send(S, &frame(0, 0, 2, b"\x81\x02hi"));
        assert!(h.h2.unseen_streams().is_empty());
    }

    #[test]
    fn no_preface_stops_the_client_direction() {
        let mut h = H2 {
            streams: [Relay::new(), Relay::new()],
            client: Some(C),
            h2: H2Connection::new(H2Limits::default(), C, true, true),
            out: Output::default(),
            packet: 0,
        };
        h.send(C, b"GET / HTTP/1.1\r\n\r\n");
        assert!(h.h2.is_stopped(C));
        assert!(!h.h2.is_stopped(S));
    }
}
