//! The `--keylog` file: the I/O half of key logs. Reads an NSS key log file into a
//! [`KeyLog`], all at once for a capture file, or as it grows for a live capture (a browser
//! started with `SSLKEYLOGFILE` appends a session's lines while it is being captured).
//!
//! Input: a path. Output: secrets added to the caller's [`KeyLog`] and the malformed lines as
//! one-line messages naming the file and the line number. The parsing is
//! [`crate::tls::keylog`]'s; this file only reads bytes, so the engine never touches a file.
//! Never prints or logs what it reads: key logs are secrets.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::capture::{Secrets, SecretsKind};
use crate::event::Notice;
use crate::finding::NoticeCode;
use crate::tls::keylog::{KeyLog, KeyLogError, KeyLogParser, Problem};

/// Bytes read per [`KeyLogFile::read_new`] call, so one poll of a huge file cannot stall a
/// live capture; the rest is read on the next polls.
pub const MAX_READ_PER_POLL: usize = 4 * 1024 * 1024;

/// A key log file being read, possibly while another program appends to it.
#[derive(Debug)]
pub struct KeyLogFile {
    path: PathBuf,
    file: File,
    /// Bytes of the file consumed so far.
    offset: u64,
    parser: KeyLogParser,
}

impl KeyLogFile {
    /// Opens `path` for reading (nothing is read yet).
    ///
    /// # Errors
    /// The file cannot be opened or is a directory; the message names the path.
    pub fn open(path: &Path) -> io::Result<KeyLogFile> {
        let name = path.display();
        let file = File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("--keylog {name}: {e}")))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::other(format!(
                "--keylog {name}: is a directory, not a key log file"
            )));
        }
        Ok(KeyLogFile {
            path: path.to_owned(),
            file,
            offset: 0,
            parser: KeyLogParser::new(),
        })
    }

    /// The path as given.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file's size changed since it was last read (it grew, or it was truncated
    /// or replaced): [`KeyLogFile::read_new`] has something to do. A file that cannot be
    /// examined counts as changed, so the read says why.
    #[must_use]
    pub fn has_new(&self) -> bool {
        self.file
            .metadata()
            .map_or(true, |m| m.len() != self.offset)
    }

    /// Reads what was appended since the last call (at most [`MAX_READ_PER_POLL`] bytes) and
    /// adds its complete lines to `log`. A file that shrank was truncated or replaced (a new
    /// browser session rewrites it): it is read again from the start, with line numbers
    /// starting again at 1. Returns the malformed lines as messages.
    ///
    /// # Errors
    /// Reading failed.
    pub fn read_new(&mut self, log: &mut KeyLog) -> io::Result<Vec<Notice>> {
        let len = self.file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.parser = KeyLogParser::new();
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        self.file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        let limit = u64::try_from(MAX_READ_PER_POLL).unwrap_or(u64::MAX);
        (&mut self.file).take(limit).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        let errors = self.parser.feed(&buf, log);
        Ok(self.describe(&errors))
    }

    /// Reads the whole file (what is left of it) into `log`, including a last line without a
    /// newline: for a capture file, whose key log is complete.
    ///
    /// # Errors
    /// Reading failed.
    pub fn read_all(&mut self, log: &mut KeyLog) -> io::Result<Vec<Notice>> {
        let mut messages = Vec::new();
        loop {
            let before = self.offset;
            messages.extend(self.read_new(log)?);
            if self.offset == before {
                break;
            }
        }
        let errors = self.parser.finish(log);
        messages.extend(self.describe(&errors));
        Ok(messages)
    }

    fn describe(&self, errors: &[KeyLogError]) -> Vec<Notice> {
        let source = format!("key log {}", self.path.display());
        errors.iter().map(|e| notice(&source, e)).collect()
    }
}

/// A malformed key log line (or the session cap) as a notice: `<source> line N: …`.
fn notice(source: &str, e: &KeyLogError) -> Notice {
    let code = match e.problem {
        Problem::SessionLimit { .. } => NoticeCode::KeylogLimit,
        _ => NoticeCode::KeylogMalformed,
    };
    Notice::new(code, format!("{source} {e}"))
}

/// Every key the run has: the `--keylog` file and the capture's Decryption Secrets Blocks,
/// in one [`KeyLog`] shared with the engine's key store (the run adds, the engine looks up).
#[derive(Debug)]
pub struct Keys {
    log: Arc<Mutex<KeyLog>>,
    file: Option<KeyLogFile>,
    /// The file could not be read at some poll: said once.
    read_failed: bool,
    /// Decryption Secrets Blocks seen.
    blocks: u64,
}

impl Keys {
    /// Keys kept under a cap of `max_sessions` sessions; `keylog` is the `--keylog` file.
    /// For a capture file (`live` false) the key log is read whole now; live, what it holds
    /// now is read and [`Keys::poll`] reads what is appended later.
    ///
    /// # Errors
    /// The key log file cannot be opened or read (the message names it).
    pub fn open(
        keylog: Option<&Path>,
        max_sessions: usize,
        live: bool,
    ) -> io::Result<(Keys, Vec<Notice>)> {
        let mut log = KeyLog::new(max_sessions);
        let mut notices = Vec::new();
        let file = match keylog {
            Some(path) => {
                log.note_source();
                let mut f = KeyLogFile::open(path)?;
                let read = if live {
                    f.read_new(&mut log)
                } else {
                    f.read_all(&mut log)
                };
                notices = read.map_err(|e| {
                    io::Error::new(e.kind(), format!("--keylog {}: {e}", path.display()))
                })?;
                Some(f)
            }
            None => None,
        };
        let keys = Keys {
            log: Arc::new(Mutex::new(log)),
            file,
            read_failed: false,
            blocks: 0,
        };
        Ok((keys, notices))
    }

    /// The key log, for the engine's key store.
    #[must_use]
    pub fn shared(&self) -> Arc<Mutex<KeyLog>> {
        Arc::clone(&self.log)
    }

    /// Sessions held now.
    #[must_use]
    pub fn sessions(&self) -> usize {
        self.lock().len()
    }

    /// Live: whether [`Keys::poll`] would read anything (the `--keylog` file changed size
    /// since the last poll). Without a file, or once reading it failed, never.
    #[must_use]
    pub fn has_new(&self) -> bool {
        !self.read_failed && self.file.as_ref().is_some_and(KeyLogFile::has_new)
    }

    /// Live: reads what the key log file gained since the last call.
    pub fn poll(&mut self) -> Vec<Notice> {
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        match file.read_new(&mut log) {
            Ok(notices) => notices,
            Err(e) if !self.read_failed => {
                self.read_failed = true;
                let message = format!(
                    "key log {}: {e}; no more keys are read from it",
                    file.path().display()
                );
                vec![Notice::new(NoticeCode::KeylogMalformed, message)]
            }
            Err(_) => Vec::new(),
        }
    }

    /// Adds the keys of a pcapng Decryption Secrets Block; other secrets types are named in a
    /// notice and not used.
    pub fn add_secrets(&mut self, secrets: &Secrets<'_>) -> Vec<Notice> {
        self.blocks += 1;
        let source = format!(
            "decryption secrets block {} (after packet {})",
            self.blocks, secrets.after_packet
        );
        match secrets.kind {
            SecretsKind::TlsKeyLog => {
                let errors = self.lock().add_text(secrets.data);
                errors.iter().map(|e| notice(&source, e)).collect()
            }
            SecretsKind::Other(kind) => vec![Notice::new(
                NoticeCode::KeylogMalformed,
                format!("{source}: secrets type 0x{kind:08x} is not a TLS key log; not used"),
            )],
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyLog> {
        // A panic elsewhere while holding the lock leaves a usable table of keys.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::tls::keylog::ClientRandom;

    fn entry(random: u8) -> String {
        format!(
            "CLIENT_RANDOM {} {}\n",
            format!("{random:02x}").repeat(32),
            "ab".repeat(48)
        )
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wssniff-keylog-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("keys.txt")
    }

    #[test]
    fn a_growing_file_is_read_as_it_grows() {
        let path = temp("grow");
        let mut w = File::create(&path).unwrap();
        w.write_all(entry(1).as_bytes()).unwrap();
        let half = entry(2);
        w.write_all(&half.as_bytes()[..50]).unwrap();
        w.flush().unwrap();
        let mut log = KeyLog::default();
        let mut f = KeyLogFile::open(&path).unwrap();
        assert!(f.read_new(&mut log).unwrap().is_empty());
        assert_eq!(log.len(), 1, "the half-written second line waits");
        assert!(f.read_new(&mut log).unwrap().is_empty(), "nothing new");
        w.write_all(&half.as_bytes()[50..]).unwrap();
        w.write_all(b"garbage\n").unwrap();
        w.flush().unwrap();
        let errors = f.read_new(&mut log).unwrap();
        assert_eq!(log.len(), 2);
        assert!(log.get(&ClientRandom([2; 32])).is_some());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "keylog_malformed");
        assert!(
            errors[0].message.ends_with(
                "keys.txt line 3: expected LABEL CLIENT_RANDOM SECRET (3 fields), found 1"
            ),
            "{}",
            errors[0].message
        );
        // Rewritten from scratch (a new browser session): read from the start again.
        let mut w = File::create(&path).unwrap();
        w.write_all(entry(3).as_bytes()).unwrap();
        w.flush().unwrap();
        assert!(f.read_new(&mut log).unwrap().is_empty());
        assert!(log.get(&ClientRandom([3; 32])).is_some());
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn a_complete_file_is_read_whole_with_its_last_line() {
        let path = temp("whole");
        let mut text = String::new();
        for i in 0..100u8 {
            text.push_str(&entry(i));
        }
        text.push_str(entry(200).trim_end());
        std::fs::write(&path, &text).unwrap();
        let mut log = KeyLog::default();
        let mut f = KeyLogFile::open(&path).unwrap();
        assert!(f.read_all(&mut log).unwrap().is_empty());
        assert_eq!(log.len(), 101);
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn open_errors_name_the_flag_and_the_path() {
        let err = KeyLogFile::open(Path::new("/nonexistent/keys.txt")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--keylog /nonexistent/keys.txt: "),
            "{err}"
        );
        let err = KeyLogFile::open(&std::env::temp_dir()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is a directory, not a key log file"),
            "{err}"
        );
    }

    #[test]
    fn keys_take_the_file_and_secrets_blocks() {
        let path = temp("keys");
        std::fs::write(&path, [entry(1), "bad\n".into()].concat()).unwrap();
        let (mut keys, notices) = Keys::open(Some(&path), 2, false).unwrap();
        assert_eq!(notices.len(), 1);
        assert_eq!(keys.sessions(), 1);
        let text = [entry(2), entry(3)].concat();
        let block = Secrets {
            kind: SecretsKind::TlsKeyLog,
            data: text.as_bytes(),
            after_packet: 0,
        };
        let notices = keys.add_secrets(&block);
        assert_eq!(keys.sessions(), 2);
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].code, "keylog_limit");
        assert_eq!(notices[0].message, "decryption secrets block 1 (after packet 0) line 2: key log holds 2 sessions (--keylog-max-sessions); later sessions are ignored");
        let other = Secrets {
            kind: SecretsKind::Other(0x5747_4b4c),
            data: b"x",
            after_packet: 9,
        };
        assert!(keys.add_secrets(&other)[0]
            .message
            .contains("0x57474b4c is not a TLS key log"));
        assert!(keys
            .shared()
            .lock()
            .unwrap()
            .get(&ClientRandom([2; 32]))
            .is_some());
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}
