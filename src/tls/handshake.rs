//! Handshake messages (RFC 8446 §4, RFC 5246 §7.4): reassembled from record payloads and
//! read with `tls-parser` into the few facts wssniff reports.
//!
//! In: the payloads of handshake records, in order, one direction at a time. Out: complete
//! messages ([`Reassembler::drain`]) and, for the ones that matter, owned summaries
//! ([`ClientHello`], [`ServerHello`], [`certificate_chain`]). A message may span records and a
//! record may hold several messages; the buffer for a partial one is capped at
//! [`MAX_HANDSHAKE_MESSAGE`], and grows only within the memory budget's room
//! ([`Reassembler::drain_within`]). Never decrypts and never allocates for a message it does not
//! read beyond its copy.

use tls_parser::{TlsExtension, TlsMessageHandshake};

use super::record::is_grease;

/// Longest handshake message reassembled. Certificate chains run from 2 to 12 KiB; a
/// message announced longer is not read (the walker says so) and nothing is buffered for it.
pub const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

/// Most ALPN protocols, versions and similar list items kept from a hello (a real client
/// offers a handful; the rest of a hostile list is counted, not stored).
const MAX_LIST_ITEMS: usize = 32;

/// Longest server name or ALPN protocol kept (RFC 6066: a host name is at most 255 bytes).
const MAX_NAME_LEN: usize = 255;

/// ClientHello (1).
pub const CLIENT_HELLO: u8 = 1;
/// ServerHello (2); a HelloRetryRequest is a ServerHello with a fixed random.
pub const SERVER_HELLO: u8 = 2;
/// NewSessionTicket (4).
pub const NEW_SESSION_TICKET: u8 = 4;
/// EncryptedExtensions (8, TLS 1.3).
pub const ENCRYPTED_EXTENSIONS: u8 = 8;
/// Certificate (11).
pub const CERTIFICATE: u8 = 11;
/// ServerHelloDone (14, TLS ≤ 1.2).
pub const SERVER_HELLO_DONE: u8 = 14;
/// Finished (20).
pub const FINISHED: u8 = 20;
/// EndOfEarlyData (5, TLS 1.3): the client's last 0-RTT message.
pub const END_OF_EARLY_DATA: u8 = 5;
/// KeyUpdate (24, TLS 1.3).
pub const KEY_UPDATE: u8 = 24;

/// The ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256 of
/// "HelloRetryRequest".
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// encrypted_client_hello (draft-ietf-tls-esni, 0xfe0d).
pub(crate) const EXT_ECH: u16 = 0xfe0d;

/// What [`Reassembler::drain`] hands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A complete message: its type and body (after the 4-byte header).
    Complete(u8, &'a [u8]),
    /// A message announced longer than [`MAX_HANDSHAKE_MESSAGE`]: its type and length.
    TooLong(u8, usize),
    /// A message the memory budget had no room to reassemble (`--memcap`): its type and
    /// length; the rest of it is skipped like a [`Message::TooLong`] one's.
    NotKept(u8, usize),
}

/// One direction's handshake messages, put back together from record payloads.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// The start of a message that continues in a later record.
    partial: Vec<u8>,
    /// Bytes still to skip of an over-long message or one the budget did not keep.
    skipping: usize,
}

impl Reassembler {
    /// Takes the payload of one handshake record and calls `f` for every message it
    /// completes, in order.
    pub fn drain(&mut self, fragment: &[u8], f: &mut dyn FnMut(Message<'_>)) {
        let mut room = usize::MAX;
        self.drain_within(fragment, &mut room, f);
    }

    /// [`Reassembler::drain`] with the partial-message buffer growing by at most `room`
    /// bytes (the memory budget's room, decreased by what it grows): a message that needs
    /// more is given up ([`Message::NotKept`]) and the rest of it skipped. Returns the
    /// bytes of growth refused.
    pub fn drain_within(
        &mut self,
        fragment: &[u8],
        room: &mut usize,
        f: &mut dyn FnMut(Message<'_>),
    ) -> usize {
        let mut refused = 0;
        let mut rest = fragment;
        if self.skipping > 0 {
            let n = self.skipping.min(rest.len());
            self.skipping -= n;
            rest = rest.get(n..).unwrap_or_default();
        }
        if !self.partial.is_empty() {
            // Complete the buffered message first (copying only what it still needs).
            let need = match message_len(&self.partial) {
                Some(len) => (4 + len).saturating_sub(self.partial.len()),
                None => 4usize.saturating_sub(self.partial.len()),
            };
            let take = need.min(rest.len());
            let piece = rest.get(..take).unwrap_or_default();
            if let Err(grow) = self.buffer(piece, room) {
                refused += grow;
                self.give_up(&mut rest, f);
                return refused;
            }
            rest = rest.get(take..).unwrap_or_default();
            match message_len(&self.partial) {
                Some(len) if len > MAX_HANDSHAKE_MESSAGE => {
                    let ty = self.partial.first().copied().unwrap_or(0);
                    f(Message::TooLong(ty, len));
                    self.skip_rest(len, rest.len(), &mut rest);
                    self.partial = Vec::new();
                }
                Some(len) if self.partial.len() >= 4 + len => {
                    let partial = std::mem::take(&mut self.partial);
                    if let (Some(&ty), Some(body)) = (partial.first(), partial.get(4..4 + len)) {
                        f(Message::Complete(ty, body));
                    }
                }
                _ => return refused,
            }
        }
        while !rest.is_empty() {
            let Some(len) = message_len(rest) else {
                // Under 4 bytes: a message header, always kept.
                self.partial.extend_from_slice(rest);
                return refused;
            };
            let ty = rest.first().copied().unwrap_or(0);
            if len > MAX_HANDSHAKE_MESSAGE {
                f(Message::TooLong(ty, len));
                let avail = rest.len().saturating_sub(4);
                rest = rest.get(4..).unwrap_or_default();
                self.skip_rest(len, avail, &mut rest);
                continue;
            }
            match rest.get(4..4 + len) {
                Some(body) => {
                    f(Message::Complete(ty, body));
                    rest = rest.get(4 + len..).unwrap_or_default();
                }
                None => {
                    if let Err(grow) = self.buffer(rest, room) {
                        refused += grow;
                        self.give_up(&mut rest, f);
                    }
                    return refused;
                }
            }
        }
        refused
    }

    /// Appends `bytes` of the message being reassembled if the growth fits in `room`
    /// (decreased by it); the buffer grows by doubling, never past the message's length.
    fn buffer(&mut self, bytes: &[u8], room: &mut usize) -> Result<(), usize> {
        let (len, cap) = (self.partial.len(), self.partial.capacity());
        let new_len = len + bytes.len();
        if new_len > cap {
            let whole = message_len(&self.partial)
                .or_else(|| message_len(bytes))
                .map_or(new_len, |l| 4 + l);
            let target = new_len.max(cap * 2).min(whole.max(new_len));
            let grow = target - cap;
            // A message header (the first 4 bytes) is always kept: too small to refuse.
            if new_len > 4 && grow > *room {
                return Err(grow);
            }
            *room = room.saturating_sub(grow);
            self.partial.reserve_exact(target - len);
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    /// The message starting at `self.partial` (or at `rest` when nothing is buffered) is
    /// not kept: reported as [`Message::NotKept`], its bytes skipped (those in `rest` now,
    /// the others as they come).
    fn give_up(&mut self, rest: &mut &[u8], f: &mut dyn FnMut(Message<'_>)) {
        let partial = std::mem::take(&mut self.partial);
        let head: &[u8] = if partial.is_empty() { rest } else { &partial };
        let ty = head.first().copied().unwrap_or(0);
        let len = message_len(head).unwrap_or(0);
        f(Message::NotKept(ty, len));
        // Bytes of the message already past: those buffered, and (reading from `rest`)
        // its header.
        let (seen, body_in_rest) = if partial.is_empty() {
            (4, rest.len().saturating_sub(4))
        } else {
            (partial.len(), rest.len())
        };
        if partial.is_empty() {
            *rest = rest.get(4.min(rest.len())..).unwrap_or_default();
        }
        let left = (4 + len).saturating_sub(seen);
        self.skip_rest(left, body_in_rest, rest);
        self.partial = Vec::new();
    }

    /// Skips `len` body bytes of an over-long message, `avail` of which are in `rest`.
    fn skip_rest(&mut self, len: usize, avail: usize, rest: &mut &[u8]) {
        let n = len.min(avail);
        *rest = rest.get(n..).unwrap_or_default();
        self.skipping = len - n;
    }

    /// Bytes held for a partial message.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.partial.capacity()
    }
}

/// The body length a handshake message header announces, once its 4 bytes are there.
fn message_len(data: &[u8]) -> Option<usize> {
    match *data {
        [_, a, b, c, ..] => Some(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)),
        _ => None,
    }
}

/// What a ClientHello offered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// ClientHello.random: with the server's, what a key log line is looked up by.
    pub random: [u8; 32],
    /// legacy_session_id (a TLS 1.2 resumption attempt when not empty).
    pub session_id: Vec<u8>,
    /// server_name (host_name entry), lossily decoded.
    pub sni: Option<String>,
    /// encrypted_client_hello or the older encrypted_server_name was present.
    pub ech: bool,
    /// ALPN protocol names offered, lossily decoded.
    pub alpn: Vec<String>,
    /// supported_versions, or legacy_version when the extension is absent; GREASE left out.
    pub versions: Vec<u16>,
    /// Cipher suites offered, GREASE left out (at most [`MAX_LIST_ITEMS`] kept;
    /// `cipher_count` counts them all).
    pub ciphers: Vec<u16>,
    /// How many non-GREASE cipher suites were offered.
    pub cipher_count: usize,
    /// encrypt_then_mac (RFC 7366) was offered.
    pub encrypt_then_mac: bool,
    /// The session ticket offered (RFC 5077, TLS 1.2 resumption), as its
    /// [`ticket_digest`]: a ticket can be 64 KiB, and it is only ever compared.
    pub ticket: Option<[u8; 32]>,
    /// early_data (TLS 1.3 0-RTT) was offered: protected records may follow the ClientHello
    /// before the ServerHello, under `CLIENT_EARLY_TRAFFIC_SECRET`.
    pub early_data: bool,
}

/// What a ServerHello (or HelloRetryRequest) chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// ServerHello.random.
    pub random: [u8; 32],
    /// legacy_session_id_echo.
    pub session_id: Vec<u8>,
    /// The version negotiated: supported_versions when present (TLS 1.3), else the legacy
    /// version.
    pub version: u16,
    /// The cipher suite chosen.
    pub cipher: u16,
    /// ALPN protocol selected (TLS ≤ 1.2: TLS 1.3 sends it in EncryptedExtensions).
    pub alpn: Option<String>,
    /// This is a HelloRetryRequest: the client must send a second ClientHello.
    pub hello_retry: bool,
    /// pre_shared_key was accepted (TLS 1.3 resumption).
    pub psk: bool,
    /// extended_master_secret (RFC 7627) was agreed (the TLS 1.2 key derivation needs it).
    pub extended_master_secret: bool,
    /// encrypt_then_mac (RFC 7366) was agreed.
    pub encrypt_then_mac: bool,
    /// A HelloRetryRequest carried encrypted_client_hello: the server accepted the client's
    /// ECH (its 8-byte confirmation, draft-ietf-tls-esni §7.2.1; a server never sends it to
    /// a GREASE ECH, which it cannot decrypt).
    pub ech: bool,
}

fn lossy_name(bytes: &[u8]) -> String {
    let cut = bytes.get(..MAX_NAME_LEN).unwrap_or(bytes);
    String::from_utf8_lossy(cut).into_owned()
}

fn random32(bytes: &[u8]) -> [u8; 32] {
    let mut r = [0u8; 32];
    if let Some(src) = bytes.get(..32) {
        r.copy_from_slice(src);
    }
    r
}

/// Reads a ClientHello body; `None` when it does not parse.
#[must_use]
pub fn parse_client_hello(body: &[u8]) -> Option<ClientHello> {
    let (_, ch) = tls_parser::parse_tls_handshake_client_hello(body).ok()?;
    let mut hello = ClientHello {
        random: random32(ch.random),
        session_id: ch.session_id.unwrap_or_default().to_vec(),
        ..ClientHello::default()
    };
    for c in ch.ciphers.iter().map(|c| c.0).filter(|c| !is_grease(*c)) {
        hello.cipher_count += 1;
        if hello.ciphers.len() < MAX_LIST_ITEMS {
            hello.ciphers.push(c);
        }
    }
    let exts = ch
        .ext
        .and_then(|e| tls_parser::parse_tls_client_hello_extensions(e).ok())
        .map(|(_, v)| v)
        .unwrap_or_default();
    for ext in &exts {
        match ext {
            TlsExtension::SNI(names) => {
                hello.sni = names
                    .iter()
                    .find(|(t, _)| t.0 == 0)
                    .map(|(_, name)| lossy_name(name));
            }
            TlsExtension::ALPN(protocols) => {
                hello.alpn = protocols
                    .iter()
                    .take(MAX_LIST_ITEMS)
                    .map(|p| lossy_name(p))
                    .collect();
            }
            TlsExtension::SupportedVersions(versions) => {
                hello.versions = versions
                    .iter()
                    .map(|v| v.0)
                    .filter(|v| !is_grease(*v))
                    .take(MAX_LIST_ITEMS)
                    .collect();
            }
            TlsExtension::EncryptedServerName { .. } => hello.ech = true,
            TlsExtension::EncryptThenMac => hello.encrypt_then_mac = true,
            TlsExtension::EarlyData(_) => hello.early_data = true,
            TlsExtension::SessionTicket(t) if !t.is_empty() => {
                hello.ticket = Some(ticket_digest(t));
            }
            TlsExtension::Unknown(t, _) if t.0 == EXT_ECH => hello.ech = true,
            _ => {}
        }
    }
    if hello.versions.is_empty() {
        hello.versions.push(ch.version.0);
    }
    Some(hello)
}

/// Reads a ServerHello (or HelloRetryRequest) body; `None` when it does not parse.
#[must_use]
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let (_, sh) = tls_parser::parse_tls_handshake_server_hello(body).ok()?;
    let mut hello = ServerHello {
        random: random32(sh.random),
        session_id: sh.session_id.unwrap_or_default().to_vec(),
        version: sh.version.0,
        cipher: sh.cipher.0,
        ..ServerHello::default()
    };
    hello.hello_retry = hello.random == HELLO_RETRY_RANDOM;
    let exts = sh
        .ext
        .and_then(|e| tls_parser::parse_tls_server_hello_extensions(e).ok())
        .map(|(_, v)| v)
        .unwrap_or_default();
    for ext in &exts {
        match ext {
            TlsExtension::SupportedVersions(v) => {
                if let Some(v) = v.first() {
                    hello.version = v.0;
                }
            }
            TlsExtension::ALPN(p) => hello.alpn = p.first().map(|p| lossy_name(p)),
            TlsExtension::PreSharedKey(_) => hello.psk = true,
            TlsExtension::ExtendedMasterSecret => hello.extended_master_secret = true,
            TlsExtension::EncryptThenMac => hello.encrypt_then_mac = true,
            // tls-parser 0.12's ServerHello table reads type 21 (padding) as encrypt_then_mac
            // and leaves the real one, 22 (RFC 7366), unknown: without this, every CBC
            // session that agreed encrypt-then-MAC failed to decrypt.
            TlsExtension::Unknown(t, _) if t.0 == 22 => hello.encrypt_then_mac = true,
            TlsExtension::Unknown(t, _) if t.0 == EXT_ECH => hello.ech = true,
            _ => {}
        }
    }
    Some(hello)
}

/// What a session ticket is remembered and looked up by: SHA-256 of the ticket, so the
/// resumption cache holds 32 bytes per ticket whatever its size.
#[must_use]
pub fn ticket_digest(ticket: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(ticket).into()
}

/// The [`ticket_digest`] of the ticket a TLS 1.2 NewSessionTicket body carries (RFC 5077
/// §3.3: a 4-byte lifetime hint, then the ticket with a 2-byte length); `None` when the
/// body is cut or the ticket empty (the server took its offer back).
#[must_use]
pub fn new_session_ticket(body: &[u8]) -> Option<[u8; 32]> {
    let &[a, b] = body.get(4..6)? else {
        return None;
    };
    let ticket = body.get(6..6 + usize::from(u16::from_be_bytes([a, b])))?;
    (!ticket.is_empty()).then(|| ticket_digest(ticket))
}

/// The DER certificates of a TLS ≤ 1.2 Certificate message body, leaf first (at most 16).
#[must_use]
pub fn certificate_chain(body: &[u8]) -> Vec<&[u8]> {
    match tls_parser::parse_tls_handshake_msg_certificate(body) {
        Ok((_, TlsMessageHandshake::Certificate(c))) => {
            c.cert_chain.iter().take(16).map(|c| c.data).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ClientHello body (after the handshake header) with the given extensions.
    pub(crate) fn client_hello_body(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[7u8; 32]);
        b.push(0); // session id
        b.extend_from_slice(&[0x00, 0x06, 0x0a, 0x0a, 0x13, 0x01, 0xc0, 0x2f]);
        b.extend_from_slice(&[0x01, 0x00]);
        let mut e = Vec::new();
        for (t, body) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&(body.len() as u16).to_be_bytes());
            e.extend_from_slice(body);
        }
        b.extend_from_slice(&(e.len() as u16).to_be_bytes());
        b.extend_from_slice(&e);
        b
    }

    pub(crate) fn sni_ext(name: &str) -> (u16, Vec<u8>) {
        let n = name.as_bytes();
        let mut v = ((n.len() + 3) as u16).to_be_bytes().to_vec();
        v.push(0);
        v.extend_from_slice(&(n.len() as u16).to_be_bytes());
        v.extend_from_slice(n);
        (0, v)
    }

    pub(crate) fn alpn_ext(protocols: &[&str]) -> (u16, Vec<u8>) {
        let mut list = Vec::new();
        for p in protocols {
            list.push(p.len() as u8);
            list.extend_from_slice(p.as_bytes());
        }
        let mut v = (list.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(&list);
        (16, v)
    }

    /// A message with its 4-byte header.
    pub(crate) fn message(ty: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len();
        let mut m = vec![ty, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        m.extend_from_slice(body);
        m
    }

    fn collect(r: &mut Reassembler, fragment: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        r.drain(fragment, &mut |m| match m {
            Message::Complete(t, b) => out.push((t, b.to_vec())),
            Message::TooLong(t, len) | Message::NotKept(t, len) => {
                out.push((t, len.to_be_bytes().to_vec()));
            }
        });
        out
    }

    #[test]
    fn a_message_the_budget_has_no_room_for_is_given_up_and_skipped() {
        let mut r = Reassembler::default();
        let cert = message(CERTIFICATE, &[7u8; 3000]);
        let fin = message(FINISHED, b"fin");
        let mut room = 1000;
        let mut got = Vec::new();
        let mut sink = |m: Message<'_>| {
            got.push(match m {
                Message::Complete(t, _) => (t, "complete"),
                Message::TooLong(t, _) => (t, "too long"),
                Message::NotKept(t, _) => (t, "not kept"),
            });
        };
        // The first 800 bytes fit; the next 800 would double the buffer past the room.
        assert_eq!(r.drain_within(&cert[..800], &mut room, &mut sink), 0);
        assert_eq!(room, 200);
        assert_eq!(r.memory(), 800);
        let refused = r.drain_within(&cert[800..1600], &mut room, &mut sink);
        assert_eq!(refused, 800, "growth to 1600 asked for and refused");
        assert_eq!(r.memory(), 0, "the partial message is given up");
        // The rest of the certificate is skipped; the Finished after it still comes out.
        let mut tail = cert[1600..].to_vec();
        tail.extend_from_slice(&fin);
        assert_eq!(r.drain_within(&tail, &mut room, &mut sink), 0);
        // A message refused at its start (nothing buffered yet) is skipped the same way.
        let mut room = 10;
        let mut both = cert[..100].to_vec();
        assert_eq!(r.drain_within(&both, &mut room, &mut sink), 100);
        both = cert[100..].to_vec();
        both.extend_from_slice(&fin);
        assert_eq!(r.drain_within(&both, &mut room, &mut sink), 0);
        assert_eq!(
            got,
            vec![
                (CERTIFICATE, "not kept"),
                (FINISHED, "complete"),
                (CERTIFICATE, "not kept"),
                (FINISHED, "complete")
            ]
        );
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn messages_split_and_joined_across_records_come_out_whole() {
        let mut r = Reassembler::default();
        let a = message(CLIENT_HELLO, b"hello");
        let b = message(FINISHED, b"fin");
        let mut both = a.clone();
        both.extend_from_slice(&b);
        assert_eq!(
            collect(&mut r, &both),
            vec![
                (CLIENT_HELLO, b"hello".to_vec()),
                (FINISHED, b"fin".to_vec())
            ]
        );
        // Byte by byte: every split point, the header's included.
        let mut got = Vec::new();
        for byte in &both {
            got.extend(collect(&mut r, std::slice::from_ref(byte)));
        }
        assert_eq!(got.len(), 2);
        assert!(r.memory() <= 16);
    }

    #[test]
    fn an_over_long_message_is_named_skipped_and_never_buffered() {
        let mut r = Reassembler::default();
        let len = MAX_HANDSHAKE_MESSAGE + 1;
        let head = [CERTIFICATE, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        let got = collect(&mut r, &head);
        assert_eq!(got.first().map(|m| m.0), Some(CERTIFICATE));
        let chunk = vec![0u8; 16 * 1024];
        for _ in 0..4 {
            assert!(collect(&mut r, &chunk).is_empty());
        }
        let mut tail = vec![0u8; len - 4 * chunk.len()];
        tail.extend_from_slice(&message(FINISHED, b"x"));
        assert_eq!(collect(&mut r, &tail), vec![(FINISHED, b"x".to_vec())]);
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn client_hello_sni_alpn_versions_and_ech() {
        let versions = (43, vec![4, 0x3a, 0x3a, 0x03, 0x04]);
        let body = client_hello_body(&[
            sni_ext("chat.example"),
            alpn_ext(&["h2", "http/1.1"]),
            versions,
            (EXT_ECH, vec![0; 8]),
        ]);
        let h = parse_client_hello(&body).unwrap_or_default();
        assert_eq!(h.sni.as_deref(), Some("chat.example"));
        assert_eq!(h.alpn, ["h2", "http/1.1"]);
        assert_eq!(h.versions, [0x0304], "GREASE is left out");
        assert_eq!(h.ciphers, [0x1301, 0xc02f]);
        assert!(h.ech);
        assert_eq!(h.random, [7; 32]);
        let plain = parse_client_hello(&client_hello_body(&[])).unwrap_or_default();
        assert_eq!(
            (plain.sni, plain.ech, plain.versions),
            (None, false, vec![0x0303])
        );
        assert!(parse_client_hello(b"\x03\x03short").is_none());
    }

    #[test]
    fn server_hello_tls13_and_hello_retry_request() {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&HELLO_RETRY_RANDOM);
        body.push(0);
        body.extend_from_slice(&[0x13, 0x02, 0x00]);
        body.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        let h = parse_server_hello(&body).unwrap_or_default();
        assert_eq!((h.version, h.cipher, h.hello_retry), (0x0304, 0x1302, true));
    }

    #[test]
    fn session_tickets_offered_and_issued_share_one_digest() {
        let ticket = vec![0x5a; 300];
        let hello = parse_client_hello(&client_hello_body(&[(35, ticket.clone())]));
        assert_eq!(hello.and_then(|h| h.ticket), Some(ticket_digest(&ticket)));
        let empty = parse_client_hello(&client_hello_body(&[(35, Vec::new())]));
        assert_eq!(
            empty.map(|h| h.ticket),
            Some(None),
            "an empty offer asks for a ticket"
        );
        let mut issued = vec![0, 0, 0x1c, 0x20];
        issued.extend_from_slice(&(ticket.len() as u16).to_be_bytes());
        issued.extend_from_slice(&ticket);
        assert_eq!(new_session_ticket(&issued), Some(ticket_digest(&ticket)));
        assert_eq!(new_session_ticket(&issued[..issued.len() - 1]), None, "cut");
        assert_eq!(new_session_ticket(&[0, 0, 0, 0, 0, 0]), None, "empty");
        assert_eq!(new_session_ticket(&[0, 0]), None);
    }
}
