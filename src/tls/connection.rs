//! One TLS connection, both directions: the record walker, what the handshake showed, the
//! alerts, and the outcome with its findings when the connection ends.
//!
//! In: each direction's [`ByteStream`] (TCP payload), told which [`Peer`] sends on it, plus
//! gaps and the TCP ending. Out: a [`TlsRecord`] at [`TlsConnection::finish`], and with keys
//! the plaintext of each direction in a [`Relay`] ([`TlsConnection::plaintext_mut`]).
//!
//! What is read in detail and what is only walked:
//!
//! ```text
//!  record                         without keys                    with keys
//!  handshake, before encryption   payload buffered, messages read same
//!  change_cipher_spec             header only                     same
//!  alert, 2-byte payload          level + description             same
//!  alert, longer (TLS 1.2, enc.)  header: "encrypted alert"       decrypted, named
//!  application_data / protected   header only: counted, payload   payload decrypted
//!                                 skipped (never buffered)        → handshake / alert / Relay
//! ```
//!
//! The last record of each side is remembered (type, length, packet), which is all the
//! "last flight before FIN/RST" needs: a TLS 1.3 side whose last record was a short
//! protected one and which then closed most likely sent an alert.
//!
//! Without keys, once a side has sent application data its records are not walked at all:
//! the TCP stream is switched to count its bytes by sequence number, keeping (TLS ≤ 1.2) only
//! the last [`BULK_TAIL`]–2×[`BULK_TAIL`] ([`ByteStream::count_only`]); at the end
//! [`TlsConnection::walk_counted`]
//! walks the records kept (the last flight: a TLS 1.2 encrypted alert, a close_notify). Bulk
//! then costs the walk nothing per segment. A TLS ≤ 1.2 alert in the middle of the bulk is
//! still seen when its record starts a TCP segment (as a stack writing an alert by itself
//! sends it): the count shows each segment's first bytes to [`record::starts_alert`], one
//! compare for the others, and keeps the first few it picks ([`Counted::watched`]).
//!
//! Never does I/O; never blocks the walk on more than one record (at most
//! [`record::MAX_RECORD_LEN`] bytes buffered by the stream) plus one handshake message
//! ([`handshake::MAX_HANDSHAKE_MESSAGE`]). Those buffers and the plaintext relays grow only
//! within the memory budget's room ([`TlsConnection::set_room`]): what does not fit is not
//! kept, counted for the meter, and the record carries `memcap_reached`.

use crate::capture::Timestamp;
use crate::event::{Ending, Peer, TlsAlert, TlsCarrier, TlsDirection, TlsOutcome, TlsRecord};
use crate::finding::{Code, Finding};
use crate::memory::{Account, Meter};
use crate::tcp::stream::{ByteStream, Counted, Gap, Relay, SegmentWatch};

use super::certificate::{self, Leaf};
use super::handshake::{self, ClientHello, Message, Reassembler, ServerHello};
use super::keyschedule::KeyBytes;
use super::record::{self, Header, NoHeader};
use super::{Epoch, KeyAnswer, KeyRequest, SessionKeys};

/// Most alerts remembered per connection (a peer looping on warnings is counted, not kept).
const MAX_ALERTS: usize = 8;

/// Most bytes of 0-RTT records held from the ClientHello until the keys are known (the
/// ServerHello, then the server's EncryptedExtensions saying whether it took them).
/// OpenSSL's and BoringSSL's default max_early_data_size is 16 KiB; the rest is counted
/// as lost plaintext.
const MAX_EARLY_HELD: usize = 16 * 1024 + 4 * (record::HEADER_LEN + 256);

/// Most session tickets of one connection waiting for [`TlsConnection::take_issued_tickets`]
/// (a TLS 1.2 server issues one per handshake).
const MAX_ISSUED_TICKETS: usize = 4;

/// Bytes of a resynchronisation search kept when no record header was found (a header
/// split across segments).
const RESYNC_TAIL: usize = record::HEADER_LEN - 1;

/// The last bytes of a TLS ≤ 1.2 direction's bulk the TCP stream keeps once it only counts
/// them ([`ByteStream::count_only`]; up to twice this), walked at the end: its last flight,
/// where an encrypted alert (close_notify, under 100 bytes) is a record of its own type. TLS
/// 1.3 keeps none: every record after the handshake is application_data on the wire, so
/// walking them tells nothing counting does not.
pub const BULK_TAIL: usize = 256;

/// Where the session's keys stand.
#[derive(Debug, Default)]
enum Keys {
    /// Decryption not enabled for this connection: never ask.
    #[default]
    Off,
    /// Enabled, no ServerHello yet.
    Enabled,
    /// The ServerHello is read: the walk waits for [`TlsConnection::install_keys`].
    Wanted(Box<KeyRequest>),
    /// Decrypting.
    Installed(Box<SessionKeys>),
    /// Asked, and there are none (or the suite cannot be decrypted: the reason).
    Unavailable(Option<String>),
}

/// The last record a side sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LastRecord {
    content_type: u8,
    len: usize,
    /// Sent protected (after this side's ChangeCipherSpec, or TLS 1.3 after the ServerHello).
    protected: bool,
    packet: u64,
    ts: Timestamp,
}

/// TLS 1.3 0-RTT on this connection.
#[derive(Debug, Default)]
struct Early {
    /// The client's protected records sent before the ServerHello (header, payload, packet,
    /// time), held while decryption is enabled and the keys are not known yet.
    held: Vec<([u8; 5], Vec<u8>, u64, Timestamp)>,
    /// Bytes in `held`.
    held_bytes: usize,
    /// Bytes of 0-RTT records not held (past [`MAX_EARLY_HELD`]) and their last packet.
    dropped: Option<(u64, u64)>,
    /// What the server's EncryptedExtensions said (with keys).
    accepted: Option<bool>,
}

/// One direction's walk.
#[derive(Debug, Default)]
struct Direction {
    /// Records walked.
    records: u64,
    /// Protected records sent (TLS 1.3: outer type application_data after the ServerHello;
    /// TLS 1.2: anything after ChangeCipherSpec).
    protected: u64,
    /// Application-data records (TLS 1.3: protected records after this side's Finished).
    application: u64,
    /// Bytes of application-data records, headers included, and of gaps among them.
    application_bytes: u64,
    /// This side's records are protected from here on.
    encrypting: bool,
    /// This side sent ChangeCipherSpec.
    ccs: bool,
    /// The walk lost its place (a gap over a record header): searching for the next header.
    lost: bool,
    /// The walk stopped for good (bytes that are not TLS).
    stopped: bool,
    /// The bulk is counted by the TCP stream, not walked ([`TlsConnection::walk_counted`]).
    counting: bool,
    last: Option<LastRecord>,
    /// Handshake messages sent in plaintext.
    messages: Reassembler,
    /// Handshake messages decrypted (TLS 1.3 with keys).
    protected_messages: Reassembler,
    /// Protected records that failed to decrypt.
    decrypt_failures: u64,
    /// The packet that carried the first of them: the evidence of `tls_decrypt_failed`.
    first_failure_packet: Option<u64>,
}

/// One TLS connection's state.
#[derive(Debug)]
pub struct TlsConnection {
    dirs: [Direction; 2],
    /// Which direction index carries the client's bytes, once known.
    client_dir: Option<usize>,
    first_ts: Option<Timestamp>,
    client_hello: Option<Box<ClientHello>>,
    server_hello: Option<Box<ServerHello>>,
    hello_retry: bool,
    /// Packets of the ClientHello and the final ServerHello.
    packets: Vec<u64>,
    /// The server sent a Certificate message (plaintext or decrypted).
    certificate_sent: bool,
    leaf: Option<Box<Leaf>>,
    chain_len: usize,
    /// ALPN selected, from the ServerHello (≤ 1.2) or decrypted EncryptedExtensions.
    alpn: Option<String>,
    /// What the server's messages said of the client's ECH extension: accepted (a
    /// HelloRetryRequest's confirmation) or not (retry_configs in the decrypted
    /// EncryptedExtensions); `None` when they said nothing.
    ech_accepted: Option<bool>,
    alerts: Vec<TlsAlert>,
    /// Handshake messages announced longer than the cap (their type).
    too_long: Option<u8>,
    keys: Keys,
    early: Early,
    /// The server took 0-RTT data the key log has no `CLIENT_EARLY_TRAFFIC_SECRET` for.
    early_missing: bool,
    /// Plaintext recovered with keys, per direction (indexed like the TCP streams).
    plaintext: [Relay; 2],
    /// Losses in the plaintext not yet told to its parser: (direction, gap, packet).
    plaintext_gaps: Vec<(usize, Gap, u64)>,
    account: Account,
    /// What the memory budget still allows this walk to grow by (`--memcap`; set by the
    /// owner before each walk, decreased as buffers grow).
    room: usize,
    /// Growths refused since [`TlsConnection::take_refused`]: (times, bytes asked).
    refused: (u64, u64),
    /// Bytes not kept for want of budget (handshake messages, plaintext, the TCP bytes the
    /// owner reports with [`TlsConnection::note_not_kept`]): the record says so.
    not_kept: u64,
    /// The connection was evicted to make room under the memory budget.
    evicted: bool,
    /// TLS 1.2 session tickets the server issued on this decrypted connection, with the
    /// session's master secret, until the owner takes them.
    issued: Vec<([u8; 32], KeyBytes)>,
    /// Bytes last registered (the walk plus the owner's extra), valid while `sized`: bulk
    /// records change nothing this state holds, so a settle after them costs no walk.
    sized: Option<usize>,
}

impl TlsConnection {
    /// A connection whose first TLS bytes are arriving; `decrypt` says whether a key store
    /// will be asked for this session's keys (see the module docs of [`crate::tls`]).
    #[must_use]
    pub fn new(decrypt: bool) -> Self {
        TlsConnection {
            dirs: [Direction::default(), Direction::default()],
            client_dir: None,
            first_ts: None,
            client_hello: None,
            server_hello: None,
            hello_retry: false,
            packets: Vec::new(),
            certificate_sent: false,
            leaf: None,
            chain_len: 0,
            alpn: None,
            ech_accepted: None,
            alerts: Vec::new(),
            too_long: None,
            keys: if decrypt { Keys::Enabled } else { Keys::Off },
            early: Early::default(),
            early_missing: false,
            plaintext: [Relay::new(), Relay::new()],
            plaintext_gaps: Vec::new(),
            account: Account::default(),
            room: usize::MAX,
            refused: (0, 0),
            not_kept: 0,
            evicted: false,
            issued: Vec::new(),
            sized: None,
        }
    }

    /// Sets what the buffers may grow by during the next walks (the memory budget's room;
    /// `usize::MAX` without one).
    pub fn set_room(&mut self, room: usize) {
        self.room = room;
    }

    /// Growths the budget refused since the last call, (times, bytes asked), for the owner
    /// to count with the meter ([`Meter::refuse_times`]).
    pub fn take_refused(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.refused)
    }

    /// `bytes` of this connection's TLS stream were not kept by the layer below for want of
    /// budget (records waiting in TCP for keys or for their end): the record says so.
    pub fn note_not_kept(&mut self, bytes: u64) {
        self.not_kept = self.not_kept.saturating_add(bytes);
    }

    /// The connection is being evicted to make room under the memory budget (`--memcap`
    /// emergency mode): the record says so.
    pub fn evicted_for_memory(&mut self) {
        self.evicted = true;
    }

    fn refuse(&mut self, bytes: usize) {
        self.refused.0 += 1;
        self.refused.1 = self.refused.1.saturating_add(bytes as u64);
    }

    /// The negotiated version is TLS 1.3 (everything after the ServerHello is protected).
    fn tls13(&self) -> bool {
        self.server_hello
            .as_ref()
            .is_some_and(|s| s.version >= 0x0304)
    }

    fn dir(&mut self, index: usize) -> &mut Direction {
        let [a, b] = &mut self.dirs;
        if index == 0 {
            a
        } else {
            b
        }
    }

    fn dir_ref(&self, index: usize) -> &Direction {
        let [a, b] = &self.dirs;
        if index == 0 {
            a
        } else {
            b
        }
    }

    fn peer_of(&self, index: usize) -> Peer {
        match self.client_dir {
            Some(c) if c != index => Peer::Server,
            _ => Peer::Client,
        }
    }

    /// The session's [`KeyRequest`], while the walk waits for keys.
    #[must_use]
    pub fn key_request(&self) -> Option<&KeyRequest> {
        match &self.keys {
            Keys::Wanted(r) => Some(r),
            _ => None,
        }
    }

    /// Answers [`TlsConnection::key_request`]; the caller then processes both directions
    /// again (the walk stopped right after the ServerHello).
    pub fn install_keys(&mut self, answer: KeyAnswer) {
        self.sized = None;
        if !matches!(answer, KeyAnswer::Keys(_)) {
            // Nothing will open the held 0-RTT records.
            self.early.held = Vec::new();
            self.early.held_bytes = 0;
        }
        self.keys = match answer {
            KeyAnswer::Keys(k) => Keys::Installed(Box::new(k)),
            KeyAnswer::NotFound => Keys::Unavailable(None),
            KeyAnswer::Unsupported(why) => Keys::Unavailable(Some(why)),
        };
    }

    /// The session tickets the server issued since the last call (TLS 1.2, decrypted, master
    /// secret known), each with that master secret: a later connection resuming by one
    /// reuses it. Empty almost always; checked by the owner after each segment with keys.
    pub fn take_issued_tickets(&mut self) -> Vec<([u8; 32], KeyBytes)> {
        if self.issued.is_empty() {
            return Vec::new();
        }
        self.sized = None;
        std::mem::take(&mut self.issued)
    }

    /// The protocol the server selected by ALPN, once known (the ServerHello up to TLS 1.2,
    /// the decrypted EncryptedExtensions in 1.3).
    #[must_use]
    pub fn alpn(&self) -> Option<&str> {
        self.alpn.as_deref()
    }

    /// What the hellos said (SNI, version, cipher, ALPN), for the records of what this
    /// connection carried.
    #[must_use]
    pub fn carrier(&self) -> TlsCarrier {
        let sh = self.server_hello.as_deref();
        TlsCarrier {
            sni: self.client_hello.as_ref().and_then(|c| c.sni.clone()),
            version: sh.map(|s| record::version_name(s.version)),
            cipher: sh.map(|s| record::cipher_name(s.cipher)),
            alpn: self.alpn.clone(),
            h2_offered: self
                .client_hello
                .as_ref()
                .is_some_and(|c| c.alpn.iter().any(|p| p == "h2")),
        }
    }

    /// Whether records are being decrypted.
    #[must_use]
    pub fn decrypting(&self) -> bool {
        matches!(self.keys, Keys::Installed(_))
    }

    /// The plaintext relay of direction `index` (0 = [`crate::tcp::flow::Side::LoToHi`]),
    /// for the parser that reads decrypted bytes.
    pub fn plaintext_mut(&mut self) -> &mut [Relay; 2] {
        // The reader consumes from them: their size is walked again at the next settle.
        self.sized = None;
        &mut self.plaintext
    }

    /// The losses in the plaintext since the last call, for its parser: (direction index,
    /// gap, packet that proved it).
    pub fn take_plaintext_gaps(&mut self) -> Vec<(usize, Gap, u64)> {
        self.sized = None;
        std::mem::take(&mut self.plaintext_gaps)
    }

    /// Notes `len` bytes of direction `index`'s plaintext as lost.
    fn lose_plaintext(&mut self, index: usize, len: u64, packet: u64) {
        let relay = if index == 0 {
            &mut self.plaintext[0]
        } else {
            &mut self.plaintext[1]
        };
        let gap = relay.lose(len, packet);
        if self.plaintext_gaps.len() < MAX_ALERTS {
            self.plaintext_gaps.push((index, gap, packet));
        }
    }

    /// Bytes of the capture lost inside direction `index`: the walk's place is kept when the
    /// gap lies inside a payload it skipped, and searched for again otherwise.
    pub fn gap(&mut self, index: usize, gap: Gap, packet: u64) {
        self.sized = None;
        let decrypting = self.decrypting();
        let dir = self.dir(index);
        if dir.application > 0 {
            dir.application_bytes += gap.len;
        }
        if gap.needs_resync {
            dir.lost = true;
        }
        if decrypting {
            // The plaintext parser must know bytes are missing (a record lost whole or cut),
            // and the decrypter that the record sequence number may have moved on.
            self.lose_plaintext(index, gap.len, packet);
            if let Keys::Installed(keys) = &mut self.keys {
                let client = self.client_dir.unwrap_or(0) == index;
                let d = if client {
                    &mut keys.client
                } else {
                    &mut keys.server
                };
                d.mark_loss();
            }
        }
    }

    /// Walks the records buffered in `stream`, sent by `peer` on direction `index`.
    pub fn process<S: ByteStream>(&mut self, stream: &mut S, index: usize, peer: Peer) {
        if self.client_dir.is_none() || peer == Peer::Client {
            // The TCP layer (SYN) or content (a ClientHello) knows the client; keep in step.
            if peer == Peer::Client {
                self.client_dir = Some(index);
            } else {
                self.client_dir = Some(1 - index.min(1));
            }
        }
        if self.first_ts.is_none() {
            self.first_ts = stream.origin(0).map(|o| o.ts);
        }
        loop {
            if self.key_request().is_some() || self.dir_ref(index).stopped {
                return;
            }
            let data = stream.data();
            if data.is_empty() {
                // TLS ≤ 1.2 keeps its last bytes, and is shown every segment for an alert
                // that starts it (one mid-bulk); TLS 1.3 alerts look like application data.
                let (keep, watch) = if self.tls13() {
                    (0, None)
                } else {
                    (BULK_TAIL, Some(record::starts_alert as SegmentWatch))
                };
                if self.bulk_only(index) && stream.count_only(keep, watch) {
                    // From here on the stream counts this direction's bytes by sequence
                    // number and keeps its last ones; nothing calls the walk for it again
                    // until the end.
                    self.dir(index).counting = true;
                }
                return;
            }
            if self.dir_ref(index).lost {
                match resync(data) {
                    Some(at) => {
                        stream.consume(at as u64);
                        self.dir(index).lost = false;
                        continue;
                    }
                    None => {
                        let drop = data.len().saturating_sub(RESYNC_TAIL);
                        stream.consume(drop as u64);
                        return;
                    }
                }
            }
            let header = match record::parse_header(data) {
                Ok(h) => h,
                Err(NoHeader::NeedMore) => return,
                Err(NoHeader::Invalid) => {
                    // Not TLS (any more): stop reading this direction.
                    self.dir(index).stopped = true;
                    stream.ignore();
                    return;
                }
            };
            let total = record::HEADER_LEN + header.len;
            let needs_payload = self.needs_payload(index, &header);
            let payload = if needs_payload {
                match data.get(record::HEADER_LEN..total) {
                    Some(p) => Some(p),
                    None => return,
                }
            } else {
                None
            };
            let (packet, ts) = stream
                .origin(0)
                .map_or((0, Timestamp::default()), |o| (o.packet, o.ts));
            let mut header_bytes = [0u8; record::HEADER_LEN];
            if let Some(h) = data.get(..record::HEADER_LEN) {
                header_bytes.copy_from_slice(h);
            }
            self.on_record(index, peer, header, header_bytes, payload, packet, ts);
            stream.consume(total as u64);
        }
    }

    /// Whether direction `index` now carries only bulk the walk would count and skip: it sent
    /// application data (so its handshake is over and no probable alert can be inferred from
    /// it), no keys will open it, and its place is known.
    fn bulk_only(&self, index: usize) -> bool {
        let d = self.dir_ref(index);
        d.application > 0
            && !d.counting
            && !d.lost
            && !d.stopped
            && matches!(self.keys, Keys::Off | Keys::Unavailable(_))
    }

    /// Direction `index` was counted, not walked, since its bulk started ([`BULK_TAIL`]):
    /// the bytes counted are application data, and the records of the tail the stream kept
    /// are walked now (the last flight before the FIN or RST: a TLS 1.2 encrypted alert, a
    /// plaintext one), after the alerts that started a segment of the bulk before the tail
    /// ([`record::starts_alert`]; their bytes are not application data). When the tail does
    /// not hold everything counted (TLS ≤ 1.2: its last
    /// bytes), the walk starts at the first header from which whole records chain to the
    /// tail's end; when none does (the capture ended inside a record) or no tail was kept
    /// (TLS 1.3), nothing more is walked.
    pub fn walk_counted(&mut self, index: usize, peer: Peer, counted: Counted) {
        self.sized = None;
        let Counted {
            from,
            to,
            whole,
            tail_from,
            mut tail,
            watched,
        } = counted;
        let start = if whole {
            Some(0)
        } else if tail.data().is_empty() {
            None
        } else {
            let version = self
                .server_hello
                .as_ref()
                .map_or(0x0303, |s| s.version.min(0x0303));
            chain_start(tail.data(), version)
        };
        let walked_from = start.map_or(to, |at| tail_from + at as u64);
        let mut alert_bytes = 0u64;
        for w in watched.iter().filter(|w| w.offset < walked_from) {
            // An alert record that started a segment of the bulk (the ones the tail holds are
            // walked below): its two bytes when sent in plaintext, else "encrypted".
            let [_, _, _, hi, lo, level, description, _] = w.head;
            let len = u16::from_be_bytes([hi, lo]);
            let plain = (len == 2).then_some((level, description));
            self.alert(peer, plain, w.packet, w.ts);
            alert_bytes += (record::HEADER_LEN + usize::from(len)) as u64;
        }
        let dir = self.dir(index);
        dir.application_bytes += walked_from.saturating_sub(from).saturating_sub(alert_bytes);
        if let Some(at) = start {
            tail.consume(at as u64);
            self.process(&mut tail, index, peer);
        }
    }

    /// Whether the walk needs `header`'s payload: plaintext handshake and alerts, and every
    /// protected record when decrypting. Everything else is skipped unread.
    fn needs_payload(&self, index: usize, header: &Header) -> bool {
        let dir = self.dir_ref(index);
        match header.content_type {
            record::APPLICATION_DATA if self.holds_early_data(index) => true,
            record::HANDSHAKE if !dir.encrypting => true,
            record::ALERT if header.len == 2 => true,
            record::CHANGE_CIPHER_SPEC | record::HEARTBEAT => false,
            _ => dir.encrypting && self.decrypting(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_record(
        &mut self,
        index: usize,
        peer: Peer,
        header: Header,
        header_bytes: [u8; 5],
        payload: Option<&[u8]>,
        packet: u64,
        ts: Timestamp,
    ) {
        let protected =
            self.dir_ref(index).encrypting && header.content_type != record::CHANGE_CIPHER_SPEC;
        if header.content_type != record::APPLICATION_DATA || self.decrypting() {
            // Anything but a bulk record may change what this state holds.
            self.sized = None;
        }
        {
            let dir = self.dir(index);
            dir.records += 1;
            if protected {
                dir.protected += 1;
            }
            dir.last = Some(LastRecord {
                content_type: header.content_type,
                len: header.len,
                protected,
                packet,
                ts,
            });
        }
        match header.content_type {
            record::CHANGE_CIPHER_SPEC => {
                // TLS 1.3's ChangeCipherSpec is a middlebox-compatibility dummy (RFC 8446
                // appendix D.4), also sent around a HelloRetryRequest: protection starts at
                // the ServerHello. Only a TLS ≤ 1.2 ServerHello makes it the real switch.
                let tls12 = self
                    .server_hello
                    .as_ref()
                    .is_some_and(|s| s.version < 0x0304);
                let dir = self.dir(index);
                dir.ccs = true;
                if tls12 {
                    dir.encrypting = true;
                }
            }
            record::ALERT if header.len == 2 => {
                if let Some(&[level, description]) = payload {
                    self.alert(peer, Some((level, description)), packet, ts);
                }
            }
            record::HANDSHAKE if !protected => {
                if let Some(p) = payload {
                    self.handshake_fragment(index, peer, p, false, packet, ts);
                }
            }
            _ if protected && self.decrypting() => {
                self.open(index, peer, header, header_bytes, payload, packet, ts);
            }
            record::APPLICATION_DATA if self.holds_early_data(index) => {
                if let Some(p) = payload {
                    self.hold_early_record(header_bytes, p, packet, ts);
                }
            }
            record::ALERT => self.alert(peer, None, packet, ts),
            record::APPLICATION_DATA if protected || self.server_hello.is_none() => {
                self.protected_record(index, header.len);
            }
            _ => {}
        }
    }

    /// A protected record walked without keys: TLS 1.2 application data, or a TLS 1.3
    /// record whose role is inferred from its place (the client's first one is its
    /// Finished; the server's before the client's Finished are its handshake flight).
    fn protected_record(&mut self, index: usize, len: usize) {
        let tls13 = self.tls13();
        let client = self.client_dir;
        let other_protected = self.dir_ref(1 - index.min(1)).protected;
        let dir = self.dir(index);
        let is_application = if !tls13 {
            true
        } else if client == Some(index) {
            dir.protected > 1
        } else {
            other_protected > 0
        };
        if is_application {
            dir.application += 1;
            dir.application_bytes += (record::HEADER_LEN + len) as u64;
        }
    }

    fn alert(&mut self, from: Peer, plain: Option<(u8, u8)>, packet: u64, ts: Timestamp) {
        if self.alerts.len() >= MAX_ALERTS {
            return;
        }
        let (level, description) = match plain {
            Some((level, description)) => (
                Some(match level {
                    1 => "warning",
                    _ => "fatal",
                }),
                Some(record::alert_name(description)),
            ),
            None => (None, None),
        };
        self.alerts.push(TlsAlert {
            from,
            level,
            description,
            encrypted: plain.is_none(),
            probable: false,
            packet,
            ts,
        });
    }

    /// Feeds a handshake record's payload (plaintext or decrypted) to its reassembler and
    /// reads the messages it completes.
    fn handshake_fragment(
        &mut self,
        index: usize,
        peer: Peer,
        fragment: &[u8],
        decrypted: bool,
        packet: u64,
        ts: Timestamp,
    ) {
        let mut messages = std::mem::take(if decrypted {
            &mut self.dir(index).protected_messages
        } else {
            &mut self.dir(index).messages
        });
        let mut room = self.room;
        let refused = messages.drain_within(fragment, &mut room, &mut |m| match m {
            Message::Complete(ty, body) => {
                self.on_message(index, peer, ty, body, decrypted, packet, ts)
            }
            Message::TooLong(ty, _) => self.too_long = Some(ty),
            Message::NotKept(_, len) => {
                self.not_kept = self.not_kept.saturating_add(len as u64);
            }
        });
        self.room = room;
        if refused > 0 {
            self.refuse(refused);
        }
        let dir = self.dir(index);
        if decrypted {
            dir.protected_messages = messages;
        } else {
            dir.messages = messages;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_message(
        &mut self,
        index: usize,
        peer: Peer,
        ty: u8,
        body: &[u8],
        decrypted: bool,
        packet: u64,
        _ts: Timestamp,
    ) {
        match ty {
            handshake::CLIENT_HELLO if self.client_hello.is_none() => {
                self.client_dir = Some(index);
                if let Some(hello) = handshake::parse_client_hello(body) {
                    self.client_hello = Some(Box::new(hello));
                    self.packets.push(packet);
                }
            }
            handshake::SERVER_HELLO => {
                let Some(hello) = handshake::parse_server_hello(body) else {
                    return;
                };
                if self.client_dir.is_none() {
                    self.client_dir = Some(1 - index.min(1));
                }
                if hello.hello_retry {
                    self.hello_retry = true;
                    if hello.ech {
                        self.ech_accepted = Some(true);
                    }
                    return;
                }
                self.packets.push(packet);
                if hello.alpn.is_some() {
                    self.alpn.clone_from(&hello.alpn);
                }
                let tls13 = hello.version >= 0x0304;
                let request = KeyRequest {
                    client_random: self.client_hello.as_ref().map_or([0; 32], |c| c.random),
                    server_random: hello.random,
                    version: hello.version,
                    cipher_suite: hello.cipher,
                    session_id: hello.session_id.clone(),
                    resumed: hello.psk
                        || (!tls13
                            && !hello.session_id.is_empty()
                            && self
                                .client_hello
                                .as_ref()
                                .is_some_and(|c| c.session_id == hello.session_id)),
                    ticket: self.client_hello.as_ref().and_then(|c| c.ticket),
                    early_data: tls13 && self.client_hello.as_ref().is_some_and(|c| c.early_data),
                    extended_master_secret: hello.extended_master_secret,
                    encrypt_then_mac: hello.encrypt_then_mac
                        && self
                            .client_hello
                            .as_ref()
                            .is_some_and(|c| c.encrypt_then_mac),
                };
                self.server_hello = Some(Box::new(hello));
                if tls13 {
                    for d in &mut self.dirs {
                        d.encrypting = true;
                    }
                }
                if matches!(self.keys, Keys::Enabled) {
                    self.keys = Keys::Wanted(Box::new(request));
                }
            }
            handshake::CERTIFICATE if peer == Peer::Server => {
                self.certificate_sent = true;
                let chain = if decrypted && self.tls13() {
                    tls13_certificate_chain(body)
                } else {
                    handshake::certificate_chain(body)
                };
                self.chain_len = chain.len();
                let sni = self.client_hello.as_ref().and_then(|c| c.sni.clone());
                if let Some(der) = chain.first() {
                    self.leaf =
                        certificate::read_leaf(der, chain.len(), sni.as_deref()).map(Box::new);
                }
            }
            handshake::NEW_SESSION_TICKET if peer == Peer::Server && !self.tls13() => {
                // TLS 1.2 (RFC 5077): sent in plaintext before the server's ChangeCipherSpec.
                // With the master secret known, the owner remembers it under this ticket for
                // a later connection that resumes by it.
                if let (Keys::Installed(keys), Some(ticket)) =
                    (&self.keys, handshake::new_session_ticket(body))
                {
                    if let Some(master) = keys.master {
                        if self.issued.len() < MAX_ISSUED_TICKETS {
                            self.issued.push((ticket, master));
                        }
                    }
                }
            }
            handshake::ENCRYPTED_EXTENSIONS => {
                let (alpn, early_data, retry_configs) = encrypted_extensions(body);
                if retry_configs {
                    // The server did not take the ECH (GREASE, or a stale configuration):
                    // this connection is to the outer name.
                    self.ech_accepted = Some(false);
                }
                if let Some(alpn) = alpn {
                    self.alpn = Some(alpn);
                }
                if self.client_hello.as_ref().is_some_and(|c| c.early_data) {
                    self.early_data_answered(early_data);
                }
            }
            handshake::FINISHED if decrypted && self.tls13() => {
                if let Keys::Installed(keys) = &mut self.keys {
                    let d = if peer == Peer::Client {
                        &mut keys.client
                    } else {
                        &mut keys.server
                    };
                    d.next_epoch(Epoch::Application);
                }
            }
            handshake::KEY_UPDATE if decrypted => {
                if let Keys::Installed(keys) = &mut self.keys {
                    let d = if peer == Peer::Client {
                        &mut keys.client
                    } else {
                        &mut keys.server
                    };
                    d.next_epoch(Epoch::KeyUpdate);
                }
            }
            _ => {}
        }
    }

    /// Decrypts one protected record and dispatches its plaintext by inner content type.
    /// Whether a protected record on direction `index` is the client's 0-RTT data, to hold
    /// until the keys are known: sent after a ClientHello offering early data and before the
    /// ServerHello, on a connection that will ask for keys.
    fn holds_early_data(&self, index: usize) -> bool {
        matches!(self.keys, Keys::Enabled)
            && self.server_hello.is_none()
            && self.client_dir == Some(index)
            && self.client_hello.as_ref().is_some_and(|c| c.early_data)
    }

    fn hold_early_record(&mut self, header: [u8; 5], payload: &[u8], packet: u64, ts: Timestamp) {
        self.sized = None;
        let len = (record::HEADER_LEN + payload.len()) as u64;
        if self.early.held_bytes + payload.len() > MAX_EARLY_HELD || self.early.dropped.is_some() {
            let (bytes, _) = self.early.dropped.unwrap_or((0, packet));
            self.early.dropped = Some((bytes + len, packet));
            return;
        }
        self.early.held_bytes += payload.len();
        self.early.held.push((header, payload.to_vec(), packet, ts));
    }

    /// The server's EncryptedExtensions said whether it took the client's 0-RTT data: the
    /// held records are opened (taken: they precede everything else the client sent) or
    /// dropped (refused: the client sends the data again after the handshake).
    fn early_data_answered(&mut self, accepted: bool) {
        self.sized = None;
        self.early.accepted = Some(accepted);
        let held = std::mem::take(&mut self.early.held);
        self.early.held_bytes = 0;
        let dropped = self.early.dropped.take();
        let Keys::Installed(keys) = &mut self.keys else {
            return;
        };
        if !accepted {
            keys.early = None;
            return;
        }
        let Some(client) = self.client_dir else {
            return;
        };
        let decryptable = keys.early.is_some();
        for (header_bytes, payload, packet, ts) in held {
            match record::parse_header(&header_bytes) {
                Ok(header) if decryptable => {
                    self.open(
                        client,
                        Peer::Client,
                        header,
                        header_bytes,
                        Some(&payload),
                        packet,
                        ts,
                    );
                }
                _ => {
                    self.early_missing = true;
                    self.lose_plaintext(
                        client,
                        (record::HEADER_LEN + payload.len()) as u64,
                        packet,
                    );
                }
            }
        }
        if let Some((len, packet)) = dropped {
            self.lose_plaintext(client, len, packet);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        index: usize,
        peer: Peer,
        header: Header,
        header_bytes: [u8; 5],
        payload: Option<&[u8]>,
        packet: u64,
        ts: Timestamp,
    ) {
        let Some(payload) = payload else {
            return;
        };
        let Keys::Installed(keys) = &mut self.keys else {
            return;
        };
        let mut plain = Vec::new();
        // Accepted 0-RTT: the client's records are under the early traffic secret up to its
        // EndOfEarlyData, then under its handshake secret. A record the early keys do not
        // open ends the early epoch (the client sent no more 0-RTT data).
        let mut opened = None;
        if peer == Peer::Client && self.early.accepted == Some(true) {
            if let Some(early) = keys.early.as_deref_mut() {
                match early.open(header_bytes, payload, &mut plain) {
                    Ok(ty) => {
                        if ty == record::HANDSHAKE
                            && plain.first() == Some(&handshake::END_OF_EARLY_DATA)
                        {
                            keys.early = None;
                        }
                        opened = Some(Ok(ty));
                    }
                    Err(_) => {
                        keys.early = None;
                        plain.clear();
                    }
                }
            }
        }
        let opened = opened.unwrap_or_else(|| {
            let decrypter = if peer == Peer::Client {
                &mut keys.client
            } else {
                &mut keys.server
            };
            decrypter.open(header_bytes, payload, &mut plain)
        });
        match opened {
            Ok(record::HANDSHAKE) => self.handshake_fragment(index, peer, &plain, true, packet, ts),
            Ok(record::ALERT) => {
                let alert = match plain.as_slice() {
                    [level, description, ..] => Some((*level, *description)),
                    _ => None,
                };
                self.alert(peer, alert, packet, ts);
                if let Some(a) = self.alerts.last_mut() {
                    a.encrypted = true;
                }
            }
            Ok(record::APPLICATION_DATA) => {
                let dir = self.dir(index);
                dir.application += 1;
                dir.application_bytes += (record::HEADER_LEN + header.len) as u64;
                if plain.len() > self.room {
                    // No budget to hold it for the parser: a loss it is told about.
                    self.refuse(plain.len());
                    self.not_kept = self.not_kept.saturating_add(plain.len() as u64);
                    self.lose_plaintext(index, plain.len() as u64, packet);
                } else if let Some(relay) = self.plaintext.get_mut(index) {
                    self.room -= plain.len();
                    relay.append(&plain, packet, ts);
                }
            }
            Ok(_) => {}
            Err(_) => {
                let dir = self.dir(index);
                dir.decrypt_failures += 1;
                dir.first_failure_packet.get_or_insert(packet);
                self.lose_plaintext(index, header.len as u64, packet);
            }
        }
    }

    /// Bytes held (reassembly buffers, plaintext relays, the hellos and certificate),
    /// computed now.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| d.messages.memory() + d.protected_messages.memory())
            .sum::<usize>()
            + self.plaintext.iter().map(Relay::memory).sum::<usize>()
            + self.early.held_bytes
            + self.early.held.capacity() * std::mem::size_of::<([u8; 5], Vec<u8>, u64, Timestamp)>()
            + self.plaintext_gaps.capacity() * std::mem::size_of::<(usize, Gap, u64)>()
            + self.client_hello.as_ref().map_or(0, |c| {
                std::mem::size_of::<ClientHello>()
                    + c.session_id.capacity()
                    + c.sni.as_ref().map_or(0, String::capacity)
                    + c.alpn.iter().map(String::capacity).sum::<usize>()
                    + c.versions.capacity() * 2
                    + c.ciphers.capacity() * 2
            })
            + self.server_hello.as_ref().map_or(0, |s| {
                std::mem::size_of::<ServerHello>() + s.session_id.capacity()
            })
            + self.leaf.as_ref().map_or(0, |l| {
                std::mem::size_of::<Leaf>()
                    + l.summary.subject.capacity()
                    + l.summary.issuer.capacity()
                    + l.summary.san.iter().map(String::capacity).sum::<usize>()
            })
            + self.alerts.capacity() * std::mem::size_of::<TlsAlert>()
            + self.packets.capacity() * 8
            + self.issued.capacity() * std::mem::size_of::<([u8; 32], KeyBytes)>()
            + self.keys_memory()
    }

    /// Bytes the key state holds: the request while it waits, then both directions'
    /// decrypters (about 2 KiB a session for AES-GCM, for the connection's whole life).
    fn keys_memory(&self) -> usize {
        match &self.keys {
            Keys::Off | Keys::Enabled | Keys::Unavailable(None) => 0,
            Keys::Wanted(request) => {
                std::mem::size_of::<KeyRequest>() + request.session_id.capacity()
            }
            Keys::Installed(keys) => {
                std::mem::size_of::<SessionKeys>()
                    + keys.client.memory()
                    + keys.server.memory()
                    + keys.early.as_deref().map_or(0, |e| e.memory())
            }
            Keys::Unavailable(Some(why)) => why.capacity(),
        }
    }

    /// Registers the current size, plus `extra` bytes its owner holds for it, with `meter`.
    pub fn settle_with(&mut self, meter: &mut Meter, extra: usize) {
        let bytes = match self.sized {
            Some(walked) => walked + extra,
            None => {
                let walked = self.memory();
                self.sized = Some(walked);
                walked + extra
            }
        };
        self.account.set(meter, bytes);
    }

    /// Withdraws everything registered with `meter`.
    pub fn release(&mut self, meter: &mut Meter) {
        self.account.set(meter, 0);
    }

    /// The connection ended as `ending`, at `at`, first closed by direction `closer` (when a
    /// FIN or RST was seen): the outcome, the findings and the record. Endpoints and the
    /// community id are left for the caller, which knows the flow key.
    #[must_use]
    pub fn finish(&mut self, ending: Ending, at: Timestamp, closer: Option<usize>) -> TlsRecord {
        self.sized = None;
        let client = self.client_dir.unwrap_or(0);
        let server = 1 - client.min(1);
        let closed = !matches!(
            ending,
            Ending::CaptureEnded | Ending::Evicted | Ending::ResponseTimeout
        );
        let closer_peer = closer.map(|c| self.peer_of(c));
        let tls13 = self.tls13();
        let (c, s) = (self.dir_ref(client), self.dir_ref(server));
        let mut findings = Vec::new();

        // A TLS 1.3 side whose last record was a short protected one, sent before it closed
        // and before it sent application data: an encrypted alert, most likely.
        let probable = if tls13 && closed {
            [(client, Peer::Client), (server, Peer::Server)]
                .into_iter()
                .find_map(|(i, peer)| {
                    let d = self.dir_ref(i);
                    let last = d.last?;
                    let short = last.protected
                        && last.content_type == record::APPLICATION_DATA
                        && last.len <= record::MAX_TLS13_ALERT_LEN;
                    (short && d.application == 0 && closer_peer == Some(peer))
                        .then_some((peer, last))
                })
        } else {
            None
        };
        let both_data = c.application > 0 && s.application > 0;
        let handshake_done = if tls13 {
            c.protected > 0 && probable.is_none()
        } else {
            c.ccs && s.ccs
        };
        // The alert that decided the outcome: a fatal one, or an encrypted one before the
        // handshake completed (after it, an encrypted alert is close_notify as a rule). An
        // alert the other side sent after the first FIN or RST answers the close (OpenSSL
        // says decode_error to a peer that hung up mid-handshake) and decides nothing.
        let fatal = self
            .alerts
            .iter()
            .find(|a| {
                let reaction = closer_peer.is_some_and(|p| p != a.from) && a.ts > at;
                !reaction
                    && (a.level == Some("fatal") || (a.description.is_none() && !handshake_done))
            })
            .cloned();
        let seen_hello = self.client_hello.is_some() || self.server_hello.is_some();

        let outcome = if !seen_hello && (c.records > 0 || s.records > 0) && fatal.is_none() {
            TlsOutcome::HandshakeNotObserved
        } else if let Some(a) = fatal.as_ref().filter(|_| !both_data) {
            findings.push(alert_finding(a, self.client_hello.as_deref()));
            TlsOutcome::HandshakeFailed
        } else if let Some((peer, last)) = probable {
            let likely = match peer {
                Peer::Client if self.resumed() => {
                    "most likely it rejected the server's Finished or parameters"
                }
                Peer::Client => {
                    "most likely it rejected the server's certificate (bad_certificate, unknown_ca)"
                }
                Peer::Server => "most likely it rejected the client's Finished or certificate",
            };
            findings.push(
                Finding::new(
                    Code::TlsProbableAlert,
                    format!(
                        "the {} sent a {}-byte encrypted record and closed: in TLS 1.3 that is an encrypted alert; {likely}",
                        peer.as_str(),
                        last.len
                    ),
                )
                .packets(&[last.packet]),
            );
            self.alerts.push(TlsAlert {
                from: peer,
                level: None,
                description: None,
                encrypted: true,
                probable: true,
                packet: last.packet,
                ts: last.ts,
            });
            TlsOutcome::HandshakeFailed
        } else if both_data {
            TlsOutcome::ApplicationData
        } else if handshake_done {
            // The client finished its handshake (it took the server's certificate and
            // parameters), then closed without a byte of application data and without an
            // alert: it never meant to use the connection (a browser's spare, preconnected
            // one), which is no failure. A client that sent data, or a server that closed
            // first, is still one.
            let unused = closer_peer == Some(Peer::Client)
                && c.application == 0
                && !self.alerts.iter().any(|a| a.from == Peer::Client);
            if closed && unused {
                TlsOutcome::Unused
            } else if closed {
                TlsOutcome::ClosedBeforeData
            } else {
                TlsOutcome::Incomplete
            }
        } else if closed {
            if self.client_hello.is_some()
                && self.server_hello.is_none()
                && closer_peer == Some(Peer::Server)
            {
                findings.push(
                    Finding::new(
                        Code::TlsNoServerHello,
                        format!(
                            "{} after the ClientHello{}, without a ServerHello or an alert",
                            ending.describe(),
                            self.sni_words()
                        ),
                    )
                    .packets(&self.packets),
                );
            } else if self.server_sent_certificate()
                && closer_peer == Some(Peer::Client)
                && !c.ccs
                && c.protected == 0
            {
                findings.push(
                    Finding::new(
                        Code::TlsClientGaveUp,
                        format!(
                            "{} right after the server's {}, without an alert",
                            ending.describe(),
                            if tls13 {
                                "encrypted flight (certificate)"
                            } else {
                                "certificate"
                            }
                        ),
                    )
                    .packets(&self.packets),
                );
            }
            TlsOutcome::Aborted
        } else {
            TlsOutcome::Incomplete
        };

        if let Some(leaf) = &self.leaf {
            let accepted = outcome == TlsOutcome::ApplicationData;
            let now = self.first_ts.unwrap_or(at).0 / 1_000_000_000;
            let mut extra = Vec::new();
            if leaf.covers_sni == Some(false) {
                let sans = if leaf.summary.san.is_empty() {
                    format!("subject {}", leaf.summary.subject)
                } else {
                    leaf.summary.san.join(", ")
                };
                extra.push(Finding::new(
                    Code::TlsCertificateNameMismatch,
                    format!(
                        "the certificate names {sans}, not the SNI {}{}",
                        self.client_hello
                            .as_ref()
                            .and_then(|c| c.sni.as_deref())
                            .unwrap_or("?"),
                        if accepted {
                            " (the client went on anyway: it does not check names)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            if certificate::expired_at(&leaf.summary, now) {
                extra.push(Finding::new(
                    Code::TlsCertificateExpired,
                    format!(
                        "the certificate is valid from {} to {} (Unix seconds), and the capture is at {now}{}",
                        leaf.summary.not_before,
                        leaf.summary.not_after,
                        if accepted { " (the client went on anyway)" } else { "" }
                    ),
                ));
            }
            for mut f in extra {
                if accepted {
                    f.downgrade();
                }
                f = f.packets(self.packets.get(1..2).unwrap_or_default());
                findings.push(f);
            }
        }
        if self.not_kept > 0 || self.evicted {
            let mut what = Vec::new();
            if self.evicted {
                what.push("the connection was evicted to make room for new ones".to_owned());
            }
            if self.not_kept > 0 {
                what.push(format!(
                    "{} bytes of TLS records, handshake messages or plaintext were not kept",
                    self.not_kept
                ));
            }
            findings.push(Finding::new(
                Code::MemcapReached,
                format!(
                    "{}: wssniff's memory budget (--memcap) was full",
                    what.join("; ")
                ),
            ));
        }
        if matches!(self.keys, Keys::Installed(_)) {
            let failed: u64 = self.dirs.iter().map(|d| d.decrypt_failures).sum();
            let mut packets: Vec<u64> = self
                .dirs
                .iter()
                .filter_map(|d| d.first_failure_packet)
                .collect();
            packets.sort_unstable();
            if failed > 0 {
                findings.push(
                    Finding::new(
                        Code::TlsDecryptFailed,
                        format!(
                            "{failed} TLS records failed to authenticate with this session's keys (client {}, server {}); their plaintext is a gap and the analysis went on after it",
                            self.dir_ref(client).decrypt_failures,
                            self.dir_ref(server).decrypt_failures
                        ),
                    )
                    .packets(&packets),
                );
            }
        }
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));

        self.sized = None;
        let hello = self.client_hello.as_deref();
        let sh = self.server_hello.as_deref();
        TlsRecord {
            ts: self.first_ts.unwrap_or(at),
            end_ts: at,
            client: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            server: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            community_id: String::new(),
            sni: hello.and_then(|h| h.sni.clone()),
            ech: hello.is_some_and(|h| h.ech),
            ech_verdict: hello.and_then(|h| {
                ech_verdict(h, sh, self.ech_accepted, self.leaf.as_deref())
            }),
            version: sh.map(|s| record::version_name(s.version)),
            cipher: sh.map(|s| record::cipher_name(s.cipher)),
            alpn_offered: hello.map(|h| h.alpn.clone()).unwrap_or_default(),
            alpn: self.alpn.clone(),
            versions_offered: hello
                .map(|h| {
                    h.versions
                        .iter()
                        .map(|v| record::version_name(*v))
                        .collect()
                })
                .unwrap_or_default(),
            ciphers_offered: hello.map_or(0, |h| h.cipher_count),
            hello_retry: self.hello_retry,
            resumed: self.resumed(),
            early_data: hello.filter(|h| h.early_data).map(|_| match self.early.accepted {
                Some(true) => "accepted",
                Some(false) => "rejected",
                None => "offered",
            }),
            encrypted_handshake: tls13,
            certificate: self.leaf.as_ref().map(|l| l.summary.clone()),
            alerts: self.alerts.clone(),
            outcome,
            client_to_server: direction_summary(self.dir_ref(client)),
            server_to_client: direction_summary(self.dir_ref(server)),
            tcp_end: ending,
            decrypted: self.decrypting(),
            decryption: match &self.keys {
                Keys::Off => None,
                Keys::Enabled | Keys::Wanted(_) => {
                    Some("no ServerHello seen: no session to look up".to_owned())
                }
                Keys::Unavailable(None) => {
                    Some("the key log has no secrets for this session".to_owned())
                }
                Keys::Unavailable(Some(why)) => Some(why.clone()),
                Keys::Installed(_) if self.early_missing => Some(
                    "the 0-RTT data was not decrypted: the key log lacks CLIENT_EARLY_TRAFFIC_SECRET"
                        .to_owned(),
                ),
                Keys::Installed(_) => {
                    let failed: u64 = self.dirs.iter().map(|d| d.decrypt_failures).sum();
                    (failed > 0).then(|| format!("{failed} records failed to decrypt"))
                }
            },
            packets: self.packets.clone(),
            handshakes: Vec::new(),
            websockets: None,
            findings,
        }
    }

    fn resumed(&self) -> bool {
        match (self.client_hello.as_deref(), self.server_hello.as_deref()) {
            (_, Some(s)) if s.psk => true,
            (Some(c), Some(s)) => {
                s.version < 0x0304 && !s.session_id.is_empty() && c.session_id == s.session_id
            }
            _ => false,
        }
    }

    /// The server sent its certificate (TLS ≤ 1.2: seen; TLS 1.3: a protected flight on a
    /// connection that was not resumed).
    fn server_sent_certificate(&self) -> bool {
        let server = 1 - self.client_dir.unwrap_or(0).min(1);
        self.certificate_sent
            || (self.tls13() && !self.resumed() && self.dir_ref(server).protected > 0)
    }

    fn sni_words(&self) -> String {
        self.client_hello
            .as_ref()
            .and_then(|c| c.sni.as_deref())
            .map(|s| format!(" for {s}"))
            .unwrap_or_default()
    }
}

fn direction_summary(d: &Direction) -> TlsDirection {
    TlsDirection {
        records: d.records,
        application_data_bytes: d.application_bytes,
    }
}

/// The finding a fatal alert makes: named codes for the causes users meet, `tls_alert` for
/// the rest.
fn alert_finding(a: &TlsAlert, hello: Option<&ClientHello>) -> Finding {
    let name = a.description.as_deref().unwrap_or("encrypted");
    let code = match (a.from, name) {
        (
            Peer::Client,
            "bad_certificate"
            | "unsupported_certificate"
            | "certificate_revoked"
            | "certificate_expired"
            | "certificate_unknown"
            | "unknown_ca",
        ) => Code::TlsCertificateRejected,
        (Peer::Server, "handshake_failure" | "insufficient_security") => Code::TlsHandshakeFailure,
        (Peer::Server, "protocol_version") => Code::TlsProtocolVersion,
        (Peer::Server, "unrecognized_name") => Code::TlsUnrecognizedName,
        (Peer::Server, "no_application_protocol") => Code::TlsNoApplicationProtocol,
        _ => Code::TlsAlert,
    };
    let context = match code {
        Code::TlsUnrecognizedName => hello
            .and_then(|h| h.sni.as_deref())
            .map(|s| format!(" to the SNI {s}"))
            .unwrap_or_else(|| " (the ClientHello had no SNI)".to_owned()),
        Code::TlsNoApplicationProtocol => hello
            .map(|h| format!(" to the ALPN offer [{}]", h.alpn.join(", ")))
            .unwrap_or_default(),
        Code::TlsProtocolVersion => hello
            .map(|h| {
                let v: Vec<String> = h
                    .versions
                    .iter()
                    .map(|v| record::version_name(*v))
                    .collect();
                format!(" to the versions offered [{}]", v.join(", "))
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    let what = if a.description.is_some() {
        format!("a fatal {name} alert")
    } else {
        "an encrypted alert".to_owned()
    };
    Finding::new(
        code,
        format!("the {} sent {what}{context}", a.from.as_str()),
    )
    .packets(&[a.packet])
}

/// Where the next record header plausibly starts in bytes whose start was lost: an
/// application-data header (the bulk of a connection) whose length fits, followed by another
/// header or the end of the buffer.
fn resync(data: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(pos) = data
        .get(at..)?
        .windows(3)
        .position(|w| w == [0x17, 0x03, 0x03])
    {
        let start = at + pos;
        match record::parse_header(data.get(start..)?) {
            Ok(h) => {
                let next = start + record::HEADER_LEN + h.len;
                match data.get(next..) {
                    None | Some([]) => return Some(start),
                    Some(rest)
                        if record::parse_header(rest).is_ok()
                            || rest.len() < record::HEADER_LEN =>
                    {
                        return Some(start)
                    }
                    Some(_) => {}
                }
            }
            Err(NoHeader::NeedMore) => return Some(start),
            Err(NoHeader::Invalid) => {}
        }
        at = start + 1;
    }
    None
}

/// The first offset of `data` (the last bytes of a stream, their start cut anywhere) from
/// which whole records with header version `version` chain exactly to its end, as a stream
/// closed at a record boundary ends; `None` when no offset does. Linear: whether an offset
/// chains is known from the offsets after it.
fn chain_start(data: &[u8], version: u16) -> Option<usize> {
    let n = data.len();
    let mut chains = vec![false; n + 1];
    if let Some(end) = chains.last_mut() {
        *end = true;
    }
    let mut first = (n == 0).then_some(0);
    for at in (0..n).rev() {
        let Some(Ok(h)) = data.get(at..).map(record::parse_header) else {
            continue;
        };
        let next = at + record::HEADER_LEN + h.len;
        if h.version == version && chains.get(next).copied().unwrap_or(false) {
            if let Some(c) = chains.get_mut(at) {
                *c = true;
            }
            first = Some(at);
        }
    }
    first
}

/// The certificates of a TLS 1.3 Certificate message (RFC 8446 §4.4.2: a request context,
/// then each certificate followed by its extensions), leaf first, at most 16.
fn tls13_certificate_chain(body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some(&ctx_len) = body.first() else {
        return out;
    };
    let Some(rest) = body.get(1 + usize::from(ctx_len)..) else {
        return out;
    };
    let Some(list) = rest.get(3..) else {
        return out;
    };
    let mut list = list;
    while out.len() < 16 {
        let Some(&[a, b, c]) = list.get(..3).and_then(|s| <&[u8; 3]>::try_from(s).ok()) else {
            break;
        };
        let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        let Some(der) = list.get(3..3 + len) else {
            break;
        };
        out.push(der);
        let Some(ext) = list.get(3 + len..3 + len + 2) else {
            break;
        };
        let ext_len = usize::from(u16::from_be_bytes([
            ext.first().copied().unwrap_or(0),
            ext.get(1).copied().unwrap_or(0),
        ]));
        list = list.get(3 + len + 2 + ext_len..).unwrap_or_default();
    }
    out
}

/// The ALPN protocol in an EncryptedExtensions body (TLS 1.3, decrypted), whether it
/// carries early_data (the server took the client's 0-RTT data), and whether it carries
/// encrypted_client_hello (retry_configs: the server did not accept the client's ECH).
fn encrypted_extensions(body: &[u8]) -> (Option<String>, bool, bool) {
    let Some(Ok((_, list))) = body.get(2..).map(tls_parser::parse_tls_extensions) else {
        return (None, false, false);
    };
    let alpn = list.iter().find_map(|e| match e {
        tls_parser::TlsExtension::ALPN(p) => {
            p.first().map(|p| String::from_utf8_lossy(p).into_owned())
        }
        _ => None,
    });
    let early = list
        .iter()
        .any(|e| matches!(e, tls_parser::TlsExtension::EarlyData(_)));
    let retry_configs = list
        .iter()
        .any(|e| matches!(e, tls_parser::TlsExtension::Unknown(t, _) if t.0 == handshake::EXT_ECH));
    (alpn, early, retry_configs)
}

/// What an observer can say of a ClientHello's ECH extension (`None` without one): a real
/// ECH names the server's public name in the outer SNI and hides the real one; a GREASE ECH
/// (random contents, which Chrome and Firefox send when they hold no ECH configuration for
/// the server) leaves the real name in the SNI, and the two look alike on the wire.
fn ech_verdict(
    hello: &ClientHello,
    server: Option<&ServerHello>,
    accepted: Option<bool>,
    leaf: Option<&Leaf>,
) -> Option<&'static str> {
    if !hello.ech {
        return None;
    }
    let not_used = hello.sni.is_none()
        || server.is_some_and(|s| s.version < 0x0304)
        || accepted == Some(false)
        || leaf.is_some_and(|l| l.covers_sni == Some(true));
    Some(if accepted == Some(true) {
        "hidden"
    } else if not_used {
        "not_hidden"
    } else {
        "undetermined"
    })
}

#[cfg(test)]
mod tests;
