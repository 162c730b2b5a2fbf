//! The NSS key log format (`SSLKEYLOGFILE`): lines of `LABEL <client_random> <secret>` in hex,
//! as browsers, curl, OpenSSL, Python, node, Go and Java agents write them, and as a pcapng
//! Decryption Secrets Block carries them.
//!
//! Input: bytes of key log text, in chunks of any size ([`KeyLogParser::feed`] keeps a partial
//! last line until its newline arrives, so a file a browser is still appending to can be fed
//! as it grows). Output: a [`KeyLog`] of [`SessionKeys`] looked up by the ClientHello's
//! random, and a [`KeyLogError`] per malformed line, with its line number; the rest of the
//! file is used.
//!
//! Labels: `CLIENT_RANDOM` (TLS 1.2 master secret); `CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
//! `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`,
//! `CLIENT_EARLY_TRAFFIC_SECRET` (TLS 1.3). `EXPORTER_SECRET`, `EARLY_EXPORTER_SECRET`,
//! `ECH_SECRET`, `ECH_CONFIG`, the legacy `RSA` label and any other label-shaped word are
//! accepted and counted, never reported as malformed: they decrypt no record.
//!
//! Bounded: lines longer than [`MAX_LINE_BYTES`] are reported, not buffered; at most
//! `max_sessions` client randoms are kept (hitting the cap is reported once, later sessions
//! are counted and dropped); at most [`MAX_REPORTED_ERRORS`] errors per parser are itemised.
//! Key logs are secrets: no error, `Debug` or `Display` here ever contains a secret or a
//! client random. Never does I/O.

use std::collections::HashMap;
use std::fmt;

use super::keyschedule::KeyBytes;

/// Client randoms kept by default (`--keylog-max-sessions`): a day of a busy browser profile
/// is a few thousand; each session costs about 400 bytes.
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// Longest line accepted, in bytes: `ECH_CONFIG` lines carry a whole ECHConfigList in hex,
/// every other label fits in 256.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Malformed lines itemised per parser; the rest are only counted
/// ([`KeyLogStats::malformed`]), so a file of garbage does not become a flood of messages.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// The 32-byte random of a ClientHello, the key a key log is indexed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientRandom(pub [u8; 32]);

impl fmt::Debug for ClientRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // It names a session in a secrets file: keep it out of logs too.
        f.write_str("ClientRandom(redacted)")
    }
}

/// The secrets a key log gave for one session (one client random). Each is `None` until its
/// line is read; a TLS 1.2 session has only `master_secret`, a TLS 1.3 one the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionKeys {
    /// `CLIENT_RANDOM`: the TLS 1.2 master secret (48 bytes).
    pub master_secret: Option<KeyBytes>,
    /// `CLIENT_EARLY_TRAFFIC_SECRET`: TLS 1.3 0-RTT data from the client.
    pub client_early_traffic_secret: Option<KeyBytes>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`: the client's encrypted handshake (its Finished).
    pub client_handshake_traffic_secret: Option<KeyBytes>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`: EncryptedExtensions, Certificate, … Finished.
    pub server_handshake_traffic_secret: Option<KeyBytes>,
    /// `CLIENT_TRAFFIC_SECRET_0`: the client's application data (before any KeyUpdate).
    pub client_traffic_secret_0: Option<KeyBytes>,
    /// `SERVER_TRAFFIC_SECRET_0`: the server's application data (before any KeyUpdate).
    pub server_traffic_secret_0: Option<KeyBytes>,
}

/// The labels that carry a key this module stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    ClientRandom,
    ClientEarly,
    ClientHandshake,
    ServerHandshake,
    ClientTraffic0,
    ServerTraffic0,
}

impl Label {
    fn parse(word: &[u8]) -> Option<Label> {
        Some(match word {
            b"CLIENT_RANDOM" => Label::ClientRandom,
            b"CLIENT_EARLY_TRAFFIC_SECRET" => Label::ClientEarly,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshake,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshake,
            b"CLIENT_TRAFFIC_SECRET_0" => Label::ClientTraffic0,
            b"SERVER_TRAFFIC_SECRET_0" => Label::ServerTraffic0,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Label::ClientRandom => "CLIENT_RANDOM",
            Label::ClientEarly => "CLIENT_EARLY_TRAFFIC_SECRET",
            Label::ClientHandshake => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Label::ServerHandshake => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            Label::ClientTraffic0 => "CLIENT_TRAFFIC_SECRET_0",
            Label::ServerTraffic0 => "SERVER_TRAFFIC_SECRET_0",
        }
    }

    /// Whether `len` bytes is a valid secret for this label: 48 for a TLS 1.2 master
    /// secret, a SHA-256 or SHA-384 output (32 or 48) for TLS 1.3.
    fn accepts(self, len: usize) -> bool {
        match self {
            Label::ClientRandom => len == 48,
            _ => len == 32 || len == 48,
        }
    }

    fn slot(self, keys: &mut SessionKeys) -> &mut Option<KeyBytes> {
        match self {
            Label::ClientRandom => &mut keys.master_secret,
            Label::ClientEarly => &mut keys.client_early_traffic_secret,
            Label::ClientHandshake => &mut keys.client_handshake_traffic_secret,
            Label::ServerHandshake => &mut keys.server_handshake_traffic_secret,
            Label::ClientTraffic0 => &mut keys.client_traffic_secret_0,
            Label::ServerTraffic0 => &mut keys.server_traffic_secret_0,
        }
    }
}

/// What was wrong with a key log line. Never holds any of the line's hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not `LABEL CLIENT_RANDOM SECRET`: the number of whitespace-separated fields.
    FieldCount {
        /// Fields found.
        got: usize,
    },
    /// The first field is not a label (upper-case letters, digits, `_`).
    NotALabel,
    /// The client random is not 64 hex digits.
    ClientRandom {
        /// Characters in the field.
        chars: usize,
    },
    /// The secret is not hex.
    SecretNotHex,
    /// The secret has the wrong length for its label.
    SecretLength {
        /// The label.
        label: &'static str,
        /// Bytes found.
        got: usize,
    },
    /// Longer than [`MAX_LINE_BYTES`].
    TooLong,
    /// The session cap was reached here; this and later new sessions are dropped.
    SessionLimit {
        /// The cap.
        max: usize,
    },
}

/// A key log line that was not used, by line number (1-based, as an editor counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLogError {
    /// Line number within the text this parser read.
    pub line: u64,
    /// What was wrong.
    pub problem: Problem,
}

impl fmt::Display for KeyLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match self.problem {
            Problem::FieldCount { got } => write!(
                f,
                "expected LABEL CLIENT_RANDOM SECRET (3 fields), found {got}"
            ),
            Problem::NotALabel => f.write_str("the first field is not a key log label"),
            Problem::ClientRandom { chars } => write!(
                f,
                "the client random is {chars} characters, expected 64 hex digits"
            ),
            Problem::SecretNotHex => f.write_str("the secret is not hex"),
            Problem::SecretLength { label, got } => {
                let want = if label == "CLIENT_RANDOM" {
                    "48"
                } else {
                    "32 or 48"
                };
                write!(f, "{label} secret is {got} bytes, expected {want}")
            }
            Problem::TooLong => write!(f, "longer than {MAX_LINE_BYTES} bytes, skipped"),
            Problem::SessionLimit { max } => write!(
                f,
                "key log holds {max} sessions (--keylog-max-sessions); later sessions are ignored"
            ),
        }
    }
}

/// Counts over everything fed to a [`KeyLog`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLogStats {
    /// Lines that set a secret (a repeated line counts again).
    pub secrets: u64,
    /// Lines with a label that decrypts nothing here (exporter, ECH, RSA, unknown).
    pub ignored: u64,
    /// Malformed lines, itemised or not.
    pub malformed: u64,
    /// Lines for new sessions dropped because the session cap was reached.
    pub over_limit: u64,
}

/// The secrets of every session a key log named, by client random; bounded.
#[derive(Debug)]
pub struct KeyLog {
    sessions: HashMap<ClientRandom, SessionKeys>,
    max_sessions: usize,
    stats: KeyLogStats,
    limit_reported: bool,
    /// Key material was given (a `--keylog` file, even one still empty, or a Decryption
    /// Secrets Block), see [`KeyLog::has_source`].
    sourced: bool,
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog::new(DEFAULT_MAX_SESSIONS)
    }
}

impl KeyLog {
    /// An empty key log that keeps at most `max_sessions` client randoms.
    #[must_use]
    pub fn new(max_sessions: usize) -> KeyLog {
        KeyLog {
            sessions: HashMap::new(),
            max_sessions,
            stats: KeyLogStats::default(),
            limit_reported: false,
            sourced: false,
        }
    }

    /// Notes that the run was given key material for this log (a `--keylog` file, read now
    /// or later): TLS records then say why a session was not decrypted.
    pub fn note_source(&mut self) {
        self.sourced = true;
    }

    /// Whether any key material was given (a `--keylog` file or a text added with
    /// [`KeyLog::add_text`], such as a Decryption Secrets Block): without any, a TLS record
    /// has nothing to say about decryption (its `decryption` is null).
    #[must_use]
    pub fn has_source(&self) -> bool {
        self.sourced
    }

    /// Parses a whole key log text (a file read at once, a Decryption Secrets Block) into
    /// this log; returns the malformed lines, at most [`MAX_REPORTED_ERRORS`] of them.
    ///
    /// ```
    /// use wssniff::tls::keylog::{ClientRandom, KeyLog};
    /// let mut log = KeyLog::default();
    /// let text = format!("# curl\nCLIENT_RANDOM {} {}\nbad line\n", "ab".repeat(32), "01".repeat(48));
    /// let errors = log.add_text(text.as_bytes());
    /// assert_eq!(errors.len(), 1);
    /// assert_eq!(errors[0].to_string(), "line 3: expected LABEL CLIENT_RANDOM SECRET (3 fields), found 2");
    /// assert!(log.get(&ClientRandom([0xab; 32])).and_then(|k| k.master_secret).is_some());
    /// ```
    pub fn add_text(&mut self, text: &[u8]) -> Vec<KeyLogError> {
        self.sourced = true;
        let mut parser = KeyLogParser::new();
        let mut errors = parser.feed(text, self);
        errors.extend(parser.finish(self));
        errors
    }

    /// The secrets for the session whose ClientHello carried `client_random`.
    #[must_use]
    pub fn get(&self, client_random: &ClientRandom) -> Option<&SessionKeys> {
        self.sessions.get(client_random)
    }

    /// The NSS key log lines of the session whose ClientHello carried `client_random`
    /// (every secret held for it), for a Decryption Secrets Block that lets another tool
    /// decrypt the same packets; empty when the session is unknown. Secrets: write them
    /// only where the user asked for them.
    #[must_use]
    pub fn nss_lines(&self, client_random: &ClientRandom) -> String {
        let Some(keys) = self.sessions.get(client_random) else {
            return String::new();
        };
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let random = hex(&client_random.0);
        let mut out = String::new();
        for label in [
            Label::ClientRandom,
            Label::ClientEarly,
            Label::ClientHandshake,
            Label::ServerHandshake,
            Label::ClientTraffic0,
            Label::ServerTraffic0,
        ] {
            let mut copy = *keys;
            if let Some(secret) = *label.slot(&mut copy) {
                out.push_str(&format!(
                    "{} {random} {}\n",
                    label.name(),
                    hex(secret.as_slice())
                ));
            }
        }
        out
    }

    /// Sessions held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Counts of what was fed.
    #[must_use]
    pub fn stats(&self) -> KeyLogStats {
        self.stats
    }

    /// Bytes the table holds (its allocated slots), for the memory meter.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.sessions.capacity()
            * (std::mem::size_of::<ClientRandom>() + std::mem::size_of::<SessionKeys>() + 8)
    }

    /// Stores one secret; `Err` when a new session would pass the cap (reported once).
    fn insert(&mut self, label: Label, random: ClientRandom, secret: KeyBytes) -> Result<(), ()> {
        let full = self.sessions.len() >= self.max_sessions;
        match self.sessions.get_mut(&random) {
            Some(keys) => *label.slot(keys) = Some(secret),
            None if full => {
                self.stats.over_limit += 1;
                return Err(());
            }
            None => {
                let mut keys = SessionKeys::default();
                *label.slot(&mut keys) = Some(secret);
                self.sessions.insert(random, keys);
            }
        }
        self.stats.secrets += 1;
        Ok(())
    }
}

/// Splits key log text into lines across chunk boundaries and feeds them to a [`KeyLog`];
/// one parser per source (a file, one Decryption Secrets Block), so line numbers are that
/// source's.
#[derive(Debug, Default)]
pub struct KeyLogParser {
    /// Lines completed so far.
    line: u64,
    /// The start of a line whose newline has not arrived yet (at most [`MAX_LINE_BYTES`]).
    partial: Vec<u8>,
    /// The current line passed [`MAX_LINE_BYTES`]: drop bytes until its newline.
    overlong: bool,
    /// Errors itemised so far.
    reported: usize,
}

impl KeyLogParser {
    /// A parser at line 1.
    #[must_use]
    pub fn new() -> KeyLogParser {
        KeyLogParser::default()
    }

    /// Feeds the next bytes of the text; every line completed by a newline is parsed into
    /// `log`. Returns the malformed ones among them (within the [`MAX_REPORTED_ERRORS`]
    /// budget of this parser).
    pub fn feed(&mut self, mut bytes: &[u8], log: &mut KeyLog) -> Vec<KeyLogError> {
        let mut errors = Vec::new();
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = bytes.split_at(nl);
            bytes = rest.get(1..).unwrap_or_default();
            if self.overlong {
                self.overlong = false;
                self.line += 1;
                continue;
            }
            if self.partial.is_empty() {
                self.line_done(head, log, &mut errors);
            } else if self.partial.len() + head.len() > MAX_LINE_BYTES {
                self.partial.clear();
                self.line_done_too_long(log, &mut errors);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.line_done(&line, log, &mut errors);
            }
        }
        if !bytes.is_empty() && !self.overlong {
            if self.partial.len() + bytes.len() > MAX_LINE_BYTES {
                self.partial = Vec::new();
                self.overlong = true;
                // Counted when its newline (or the end) comes; reported now.
                self.report(
                    KeyLogError {
                        line: self.line + 1,
                        problem: Problem::TooLong,
                    },
                    log,
                    &mut errors,
                );
            } else {
                self.partial.extend_from_slice(bytes);
            }
        }
        errors
    }

    /// The text ended: parses a last line that had no newline. A live file that is still
    /// being written is fed, not finished, so a half-written line waits for its end.
    pub fn finish(&mut self, log: &mut KeyLog) -> Vec<KeyLogError> {
        let mut errors = Vec::new();
        if self.overlong {
            self.overlong = false;
            self.line += 1;
        } else if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line_done(&line, log, &mut errors);
        }
        errors
    }

    /// Lines completed so far.
    #[must_use]
    pub fn lines(&self) -> u64 {
        self.line
    }

    fn line_done_too_long(&mut self, log: &mut KeyLog, errors: &mut Vec<KeyLogError>) {
        self.line += 1;
        let e = KeyLogError {
            line: self.line,
            problem: Problem::TooLong,
        };
        self.report(e, log, errors);
    }

    fn report(&mut self, e: KeyLogError, log: &mut KeyLog, errors: &mut Vec<KeyLogError>) {
        if !matches!(e.problem, Problem::SessionLimit { .. }) {
            log.stats.malformed += 1;
        }
        if self.reported < MAX_REPORTED_ERRORS || matches!(e.problem, Problem::SessionLimit { .. })
        {
            self.reported += 1;
            errors.push(e);
        }
    }

    fn line_done(&mut self, line: &[u8], log: &mut KeyLog, errors: &mut Vec<KeyLogError>) {
        self.line += 1;
        if line.len() > MAX_LINE_BYTES {
            let e = KeyLogError {
                line: self.line,
                problem: Problem::TooLong,
            };
            self.report(e, log, errors);
            return;
        }
        match parse_line(line) {
            Ok(None) => {}
            Ok(Some(Parsed::Ignored)) => log.stats.ignored += 1,
            Ok(Some(Parsed::Secret(label, random, secret))) => {
                if log.insert(label, random, secret).is_err() && !log.limit_reported {
                    log.limit_reported = true;
                    let e = KeyLogError {
                        line: self.line,
                        problem: Problem::SessionLimit {
                            max: log.max_sessions,
                        },
                    };
                    self.report(e, log, errors);
                }
            }
            Err(problem) => {
                let e = KeyLogError {
                    line: self.line,
                    problem,
                };
                self.report(e, log, errors);
            }
        }
    }
}

enum Parsed {
    Secret(Label, ClientRandom, KeyBytes),
    Ignored,
}

/// One line: `Ok(None)` for a blank line or a `#` comment.
fn parse_line(line: &[u8]) -> Result<Option<Parsed>, Problem> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut fields = line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|f| !f.is_empty());
    let Some(label) = fields.next() else {
        return Ok(None);
    };
    if label.first() == Some(&b'#') {
        return Ok(None);
    }
    let (random, secret) = (fields.next(), fields.next());
    let extra = fields.count();
    let (Some(random), Some(secret), 0) = (random, secret, extra) else {
        let got = 1 + usize::from(random.is_some()) + usize::from(secret.is_some()) + extra;
        return Err(Problem::FieldCount { got });
    };
    if !label
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
    {
        return Err(Problem::NotALabel);
    }
    let Some(label) = Label::parse(label) else {
        // EXPORTER_SECRET, EARLY_EXPORTER_SECRET, ECH_SECRET, ECH_CONFIG, RSA (whose second
        // field is 8 bytes of the encrypted pre-master secret, not a client random), and
        // labels newer than this code: accepted, unused.
        return Ok(Some(Parsed::Ignored));
    };
    let mut cr = [0u8; 32];
    if random.len() != 64 || !decode_hex(random, &mut cr) {
        return Err(Problem::ClientRandom {
            chars: random.len(),
        });
    }
    let mut buf = [0u8; 48];
    let got = secret.len() / 2;
    if secret.len() % 2 != 0 || !secret.iter().all(u8::is_ascii_hexdigit) {
        return Err(Problem::SecretNotHex);
    }
    if !label.accepts(got) {
        return Err(Problem::SecretLength {
            label: label.name(),
            got,
        });
    }
    let out = buf.get_mut(..got).unwrap_or_default();
    let key = if decode_hex(secret, out) {
        KeyBytes::from_slice(out)
    } else {
        None
    };
    let key = key.ok_or(Problem::SecretNotHex)?;
    Ok(Some(Parsed::Secret(label, ClientRandom(cr), key)))
}

/// Decodes `hex` (either case) into `out`, which must be exactly half as long.
fn decode_hex(hex: &[u8], out: &mut [u8]) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if hex.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        match pair {
            &[h, l] => match (nibble(h), nibble(l)) {
                (Some(h), Some(l)) => *o = (h << 4) | l,
                _ => return false,
            },
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const CR: &str = "a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f";

    fn line(label: &str, secret_bytes: usize) -> String {
        format!("{label} {CR} {}\n", "5e".repeat(secret_bytes))
    }

    fn random() -> ClientRandom {
        let mut cr = [0u8; 32];
        assert!(decode_hex(CR.as_bytes(), &mut cr));
        ClientRandom(cr)
    }

    #[test]
    fn tls12_and_tls13_lines_fill_one_session() {
        let text = [
            "# SSL/TLS secrets log file, generated by NSS\n".to_owned(),
            line("CLIENT_RANDOM", 48),
            line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 32),
            line("SERVER_HANDSHAKE_TRAFFIC_SECRET", 32),
            line("CLIENT_TRAFFIC_SECRET_0", 48),
            line("SERVER_TRAFFIC_SECRET_0", 48),
            line("CLIENT_EARLY_TRAFFIC_SECRET", 32),
            line("EXPORTER_SECRET", 32),
            line("EARLY_EXPORTER_SECRET", 32),
            format!("ECH_SECRET {CR} {}\n", "77".repeat(32)),
            format!("ECH_CONFIG {CR} {}\n", "0d".repeat(70)),
            format!("RSA 0011223344556677 {}\n", "99".repeat(48)),
            "SOME_FUTURE_LABEL x y\n".to_owned(),
            "\r\n   \n".to_owned(),
        ]
        .concat();
        let mut log = KeyLog::default();
        assert_eq!(log.add_text(text.as_bytes()), vec![]);
        let keys = log.get(&random()).unwrap();
        assert_eq!(keys.master_secret.map(|k| k.len()), Some(48));
        assert_eq!(
            keys.client_handshake_traffic_secret
                .map(|k| k.as_slice()[0]),
            Some(0x5e)
        );
        assert!(keys.server_handshake_traffic_secret.is_some());
        assert_eq!(keys.client_traffic_secret_0.map(|k| k.len()), Some(48));
        assert!(keys.server_traffic_secret_0.is_some());
        assert!(keys.client_early_traffic_secret.is_some());
        assert_eq!(log.len(), 1);
        assert_eq!(
            log.stats(),
            KeyLogStats {
                secrets: 6,
                ignored: 6,
                malformed: 0,
                over_limit: 0
            }
        );
        assert!(log.get(&ClientRandom([0; 32])).is_none());
    }

    #[test]
    fn malformed_lines_are_reported_by_number_and_the_rest_is_used() {
        let text = [
            line("CLIENT_RANDOM", 47),                                   // 1
            "CLIENT_RANDOM abcd\n".to_owned(),                           // 2
            format!("CLIENT_RANDOM {} {}\n", &CR[2..], "00".repeat(48)), // 3
            format!("CLIENT_RANDOM {CR} {}zz\n", "00".repeat(47)),       // 4
            format!("client_random {CR} {}\n", "00".repeat(48)),         // 5
            line("SERVER_TRAFFIC_SECRET_0", 20),                         // 6
            line("CLIENT_RANDOM", 48),                                   // 7: good
            format!("CLIENT_RANDOM {CR} {} extra\n", "00".repeat(48)),   // 8
            format!("CLIENT_RANDOM {CR} {}0\n", "00".repeat(48)),        // 9
        ]
        .concat();
        let mut log = KeyLog::default();
        let errors: Vec<String> = log
            .add_text(text.as_bytes())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                "line 1: CLIENT_RANDOM secret is 47 bytes, expected 48",
                "line 2: expected LABEL CLIENT_RANDOM SECRET (3 fields), found 2",
                "line 3: the client random is 62 characters, expected 64 hex digits",
                "line 4: the secret is not hex",
                "line 5: the first field is not a key log label",
                "line 6: SERVER_TRAFFIC_SECRET_0 secret is 20 bytes, expected 32 or 48",
                "line 8: expected LABEL CLIENT_RANDOM SECRET (3 fields), found 4",
                "line 9: the secret is not hex",
            ]
        );
        assert!(
            log.get(&random()).and_then(|k| k.master_secret).is_some(),
            "line 7 used"
        );
        assert_eq!(log.stats().malformed, 8);
        // No error message carries any hex from the file.
        assert!(errors
            .iter()
            .all(|e| !e.contains("5e5e") && !e.contains("a0b1")));
    }

    #[test]
    fn chunks_split_anywhere_give_the_same_result() {
        let text = [
            line("CLIENT_RANDOM", 48),
            "oops\n".to_owned(),
            line("CLIENT_TRAFFIC_SECRET_0", 32),
        ]
        .concat();
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut log = KeyLog::default();
            let mut p = KeyLogParser::new();
            let mut errors = p.feed(&bytes[..cut], &mut log);
            errors.extend(p.feed(&bytes[cut..], &mut log));
            errors.extend(p.finish(&mut log));
            assert_eq!(errors.len(), 1, "cut {cut}");
            assert_eq!(errors[0].line, 2);
            let keys = log.get(&random()).unwrap();
            assert!(
                keys.master_secret.is_some() && keys.client_traffic_secret_0.is_some(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_half_written_line_waits_for_its_newline() {
        let full = line("CLIENT_RANDOM", 48);
        let mut log = KeyLog::default();
        let mut p = KeyLogParser::new();
        assert!(p.feed(&full.as_bytes()[..40], &mut log).is_empty());
        assert!(log.is_empty(), "nothing used before the line ends");
        assert!(p.feed(&full.as_bytes()[40..], &mut log).is_empty());
        assert_eq!(log.len(), 1);
        // A last line without a newline is used at finish.
        let mut log = KeyLog::default();
        assert!(log.add_text(full.trim_end().as_bytes()).is_empty());
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn long_lines_are_reported_without_being_buffered() {
        let long = format!("ECH_CONFIG {CR} {}\n", "a".repeat(MAX_LINE_BYTES + 10));
        let text = [long.clone(), line("CLIENT_RANDOM", 48)].concat();
        for chunk in [7, 4096, text.len()] {
            let mut log = KeyLog::default();
            let mut p = KeyLogParser::new();
            let mut errors = Vec::new();
            for piece in text.as_bytes().chunks(chunk) {
                errors.extend(p.feed(piece, &mut log));
                assert!(p.partial.len() <= MAX_LINE_BYTES);
            }
            errors.extend(p.finish(&mut log));
            assert_eq!(
                errors,
                vec![KeyLogError {
                    line: 1,
                    problem: Problem::TooLong
                }],
                "chunk {chunk}"
            );
            assert_eq!(p.lines(), 2);
            assert_eq!(log.len(), 1, "the line after the long one is used");
        }
    }

    #[test]
    fn the_session_cap_holds_and_is_reported_once() {
        let mut text = String::new();
        for i in 0..10u8 {
            text.push_str(&format!(
                "CLIENT_RANDOM {:02x}{} {}\n",
                i,
                &CR[2..],
                "11".repeat(48)
            ));
        }
        // An existing session still gets its other secrets past the cap.
        text.push_str(&format!(
            "CLIENT_TRAFFIC_SECRET_0 00{} {}\n",
            &CR[2..],
            "11".repeat(32)
        ));
        let mut log = KeyLog::new(4);
        let errors = log.add_text(text.as_bytes());
        assert_eq!(
            errors,
            vec![KeyLogError {
                line: 5,
                problem: Problem::SessionLimit { max: 4 }
            }]
        );
        assert_eq!(
            errors[0].to_string(),
            "line 5: key log holds 4 sessions (--keylog-max-sessions); later sessions are ignored"
        );
        assert_eq!(log.len(), 4);
        assert_eq!(log.stats().over_limit, 6);
        assert_eq!(log.stats().secrets, 5);
        assert!(log.held_bytes() > 0);
    }

    #[test]
    fn errors_past_the_budget_are_counted_not_itemised() {
        let text = "x\n".repeat(1000);
        let mut log = KeyLog::default();
        assert_eq!(log.add_text(text.as_bytes()).len(), MAX_REPORTED_ERRORS);
        assert_eq!(log.stats().malformed, 1000);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let mut log = KeyLog::default();
        log.add_text(line("CLIENT_RANDOM", 48).as_bytes());
        let shown = format!("{log:?}");
        assert!(
            !shown.contains("94, 94") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
