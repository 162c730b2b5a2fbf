//! One HTTP/1.x body read to its end within fixed bounds: the framing undone (Content-Length,
//! chunked, until the connection closes), then the content coding (gzip, deflate), keeping
//! the first bytes.
//!
//! ```text
//!  wire bytes ─▶ framing (Length / Chunked / UntilClose) ─▶ coding (identity / gzip / deflate)
//!                 counts `length`, finds the end            ─▶ the first `keep` bytes kept
//! ```
//!
//! In: the body's framing and `Content-Encoding` (from its head), then the stream's bytes as
//! they arrive ([`BodyReader::read`] says how many it consumed and whether the body ended).
//! Out: a [`BodyExcerpt`]. The reader is not tied to any use: the handshake stage keeps the
//! start of a refusal's body, Engine.IO (issue 14) a whole polling body with a larger cap.
//!
//! Bounded whatever the input: it holds at most `keep` bytes plus, while decoding, one
//! inflater (≈45 KiB, counted by [`BodyReader::memory`]); decoding stops as soon as one byte
//! past `keep` has come out, so a gzip bomb costs one 4 KiB round of inflation, and the rest
//! of the body is only counted and skipped. Chunk-size lines are bounded (as in
//! [`Chunked`]); an endless chunk or a body that never ends is consumed as it arrives,
//! never buffered. Never allocates more than `keep`; never does I/O.

use flate2::{Decompress, FlushDecompress, Status};

use super::head::{Body, ChunkStep, Chunked};
use crate::event::{BodyExcerpt, Head};

/// Default bytes of a body kept (`--body-bytes`).
pub const DEFAULT_BODY_BYTES: usize = 4096;
/// Bytes an inflater is counted as holding (miniz's 32 KiB window and its tables).
const INFLATER_MEMORY: usize = 48 * 1024;
/// Longest gzip header (optional file name and comment included) before the data is called
/// corrupt.
const MAX_GZIP_HEADER: usize = 4096;

/// What [`BodyReader::read`] reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The body goes on: call again with more bytes.
    More,
    /// The body ended; the bytes after it belong to the next message.
    Complete,
    /// The framing is broken (a chunk-size line that is not hex, or too long): where the
    /// body ends is unknown.
    Invalid,
}

/// Bytes consumed by one [`BodyReader::read`] and what that reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read {
    /// Bytes of the input that belong to the body (consume them).
    pub consumed: usize,
    /// Whether the body goes on, ended or lost its framing.
    pub progress: Progress,
}

/// The content coding a body is decoded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coding {
    /// No `Content-Encoding` (or `identity`).
    Identity,
    /// `gzip` / `x-gzip` (RFC 1952).
    Gzip,
    /// `deflate`: zlib (RFC 1950), or raw deflate as some servers send it.
    Deflate,
    /// A coding wssniff does not decode (`br`, `zstd`, several codings stacked): kept as sent.
    Other(String),
}

impl Coding {
    /// The coding named by `head`'s `Content-Encoding`.
    #[must_use]
    pub fn of(head: &Head) -> Coding {
        let items = head.list("Content-Encoding");
        let items: Vec<String> = items
            .into_iter()
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| c != "identity")
            .collect();
        match items.as_slice() {
            [] => Coding::Identity,
            [one] if one == "gzip" || one == "x-gzip" => Coding::Gzip,
            [one] if one == "deflate" => Coding::Deflate,
            _ => Coding::Other(items.join(", ")),
        }
    }

    fn name(&self) -> Option<String> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip".to_owned()),
            Coding::Deflate => Some("deflate".to_owned()),
            Coding::Other(name) => Some(name.clone()),
        }
    }
}

/// Where the framing is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// `left` bytes of a Content-Length body to come.
    Length { left: u64 },
    /// Chunked: between chunks (`data_left` 0) or inside one (`data_left` data bytes, then
    /// `crlf_left` bytes of its CRLF).
    Chunked {
        walker: Chunked,
        data_left: u64,
        crlf_left: u8,
    },
    /// Until the connection closes.
    UntilClose,
    /// The body ended (or its framing broke).
    Ended,
}

/// The gzip header (RFC 1952 §2.3) being skipped, one byte at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GzipHeader {
    /// The 10 fixed bytes; `seen` so far, with the flags once read.
    Fixed { seen: u8, flags: u8 },
    /// FEXTRA: its 2-byte length (`len_seen` of them), then `left` bytes.
    Extra { flags: u8, len_seen: u8, left: u16 },
    /// FNAME: up to its NUL.
    Name { flags: u8 },
    /// FCOMMENT: up to its NUL.
    Comment { flags: u8 },
    /// FHCRC: `left` bytes.
    Crc { left: u8 },
    /// Done: deflate data follows.
    Done,
}

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

impl GzipHeader {
    /// Takes the header bytes at the start of `data`; returns how many were header bytes, or
    /// `Err` when this is not gzip.
    fn take(&mut self, data: &[u8]) -> Result<usize, &'static str> {
        let mut used = 0;
        for &b in data {
            if *self == GzipHeader::Done {
                break;
            }
            used += 1;
            *self = match *self {
                GzipHeader::Fixed { seen, flags } => {
                    match (seen, b) {
                        (0, 0x1f) | (1, 0x8b) | (2, 8) => {}
                        (0..=2, _) => return Err("not gzip data (bad magic bytes)"),
                        _ => {}
                    }
                    let flags = if seen == 3 { b } else { flags };
                    if seen < 9 {
                        GzipHeader::Fixed {
                            seen: seen + 1,
                            flags,
                        }
                    } else {
                        GzipHeader::after(flags, 0)
                    }
                }
                GzipHeader::Extra {
                    flags,
                    len_seen,
                    left,
                } => match len_seen {
                    0 => GzipHeader::Extra {
                        flags,
                        len_seen: 1,
                        left: u16::from(b),
                    },
                    1 => {
                        let left = left | (u16::from(b) << 8);
                        if left == 0 {
                            GzipHeader::after(flags, 1)
                        } else {
                            GzipHeader::Extra {
                                flags,
                                len_seen: 2,
                                left,
                            }
                        }
                    }
                    _ if left > 1 => GzipHeader::Extra {
                        flags,
                        len_seen,
                        left: left - 1,
                    },
                    _ => GzipHeader::after(flags, 1),
                },
                GzipHeader::Name { flags } if b == 0 => GzipHeader::after(flags, 2),
                GzipHeader::Comment { flags } if b == 0 => GzipHeader::after(flags, 3),
                s @ (GzipHeader::Name { .. } | GzipHeader::Comment { .. }) => s,
                GzipHeader::Crc { left } if left > 1 => GzipHeader::Crc { left: left - 1 },
                GzipHeader::Crc { .. } | GzipHeader::Done => GzipHeader::Done,
            };
        }
        Ok(used)
    }

    /// The optional part the flags ask for, from part `stage` on (0 FEXTRA, 1 FNAME,
    /// 2 FCOMMENT, 3 FHCRC: their order on the wire).
    fn after(flags: u8, stage: u8) -> GzipHeader {
        if stage == 0 && flags & FEXTRA != 0 {
            GzipHeader::Extra {
                flags,
                len_seen: 0,
                left: 0,
            }
        } else if stage <= 1 && flags & FNAME != 0 {
            GzipHeader::Name { flags }
        } else if stage <= 2 && flags & FCOMMENT != 0 {
            GzipHeader::Comment { flags }
        } else if flags & FHCRC != 0 {
            GzipHeader::Crc { left: 2 }
        } else {
            GzipHeader::Done
        }
    }
}

/// The content decoder.
#[derive(Debug)]
enum Decoder {
    /// Bytes are kept as they come.
    Identity,
    /// gzip: the header is skipped, then raw deflate (the trailer is ignored).
    Gzip {
        header: GzipHeader,
        header_bytes: usize,
        inflater: Box<Decompress>,
    },
    /// deflate: the first byte tells zlib from raw deflate.
    Deflate {
        inflater: Option<Box<Decompress>>,
        /// The first byte, held until the second tells zlib from raw deflate.
        first: Option<u8>,
    },
    /// Nothing more is decoded (the cap is reached, the data ended or was corrupt).
    Stopped,
}

/// Reads one body: framing, then coding, keeping the first bytes. See the module docs.
#[derive(Debug)]
pub struct BodyReader {
    framing: Framing,
    decoder: Decoder,
    coding: Coding,
    kept: Vec<u8>,
    keep: usize,
    /// Decoded bytes past `keep` came out: the excerpt is cut.
    overflow: bool,
    /// Body bytes seen as sent (after the chunked framing, before decoding).
    length: u64,
    /// The Content-Length, when that is the framing.
    declared: Option<u64>,
    /// The coding was never undone: `kept` holds the bytes as sent.
    undecoded: bool,
    problem: Option<String>,
}

impl BodyReader {
    /// A reader for a body framed as `framing` and coded as `coding`, keeping its first `keep`
    /// decoded bytes. `Body::None` gives a reader that is already complete.
    #[must_use]
    pub fn new(framing: Body, coding: Coding, keep: usize) -> Self {
        let (framing, declared) = match framing {
            Body::None => (Framing::Ended, Some(0)),
            Body::Length(n) => (Framing::Length { left: n }, Some(n)),
            Body::Chunked => (
                Framing::Chunked {
                    walker: Chunked::default(),
                    data_left: 0,
                    crlf_left: 0,
                },
                None,
            ),
            Body::UntilClose => (Framing::UntilClose, None),
        };
        let decoder = match &coding {
            Coding::Identity | Coding::Other(_) => Decoder::Identity,
            Coding::Gzip => Decoder::Gzip {
                header: GzipHeader::Fixed { seen: 0, flags: 0 },
                header_bytes: 0,
                inflater: Box::new(Decompress::new(false)),
            },
            Coding::Deflate => Decoder::Deflate {
                inflater: None,
                first: None,
            },
        };
        BodyReader {
            framing,
            decoder,
            undecoded: matches!(coding, Coding::Other(_)),
            coding,
            kept: Vec::new(),
            keep,
            overflow: false,
            length: 0,
            declared,
            problem: None,
        }
    }

    /// A reader for the body that follows `head`, framed as `framing`.
    #[must_use]
    pub fn for_head(head: &Head, framing: Body, keep: usize) -> Self {
        BodyReader::new(framing, Coding::of(head), keep)
    }

    /// Whether the body ended (or its framing broke).
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.framing == Framing::Ended
    }

    /// Whether the excerpt is settled: the cap is full and more came after it, so further
    /// bytes only count towards `length`.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.overflow
    }

    /// What is left of the framing for a caller that stops reading here: the rest of a
    /// Content-Length body, a body that runs until the close, nothing once it ended. `None`
    /// for a chunked body, which must be walked to find its end.
    #[must_use]
    pub fn remaining(&self) -> Option<Body> {
        match self.framing {
            Framing::Length { left } => Some(Body::Length(left)),
            Framing::UntilClose => Some(Body::UntilClose),
            Framing::Ended => Some(Body::None),
            Framing::Chunked { .. } => None,
        }
    }

    /// Bytes held: the kept bytes and the inflater while one is alive.
    #[must_use]
    pub fn memory(&self) -> usize {
        let inflater = match &self.decoder {
            Decoder::Gzip { .. }
            | Decoder::Deflate {
                inflater: Some(_), ..
            } => INFLATER_MEMORY,
            _ => 0,
        };
        self.kept.capacity() + inflater
    }

    /// The most bytes this reader will hold: the excerpt's cap and, for a compressed body,
    /// one inflater (what an owner asks the memory budget for before reading).
    #[must_use]
    pub fn most_memory(&self) -> usize {
        let inflater = match self.decoder {
            Decoder::Gzip { .. } | Decoder::Deflate { .. } => INFLATER_MEMORY,
            _ => 0,
        };
        self.keep + inflater
    }

    /// Reads the body's bytes at the start of `data`.
    pub fn read(&mut self, data: &[u8]) -> Read {
        let mut pos = 0;
        // Each round consumes bytes or ends the body; the bound is a safety net.
        for _ in 0..data.len().saturating_add(8) {
            let rest = data.get(pos..).unwrap_or_default();
            match self.framing {
                Framing::Ended => break,
                Framing::Length { left } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    self.content(rest.get(..take).unwrap_or_default());
                    pos += take;
                    let left = left - take as u64;
                    self.framing = if left == 0 {
                        self.finish_decoding();
                        Framing::Ended
                    } else {
                        Framing::Length { left }
                    };
                    if left > 0 {
                        break;
                    }
                }
                Framing::UntilClose => {
                    self.content(rest);
                    pos += rest.len();
                    break;
                }
                Framing::Chunked {
                    mut walker,
                    data_left,
                    crlf_left,
                } => {
                    if rest.is_empty() {
                        break;
                    }
                    if data_left > 0 {
                        let take = usize::try_from(data_left)
                            .unwrap_or(usize::MAX)
                            .min(rest.len());
                        self.content(rest.get(..take).unwrap_or_default());
                        pos += take;
                        self.framing = Framing::Chunked {
                            walker,
                            data_left: data_left - take as u64,
                            crlf_left,
                        };
                        continue;
                    }
                    if crlf_left > 0 {
                        // The CRLF after chunk data (RFC 9112 §7.1), not checked: what
                        // matters is where the next size line starts.
                        let take = usize::from(crlf_left).min(rest.len());
                        pos += take;
                        self.framing = Framing::Chunked {
                            walker,
                            data_left: 0,
                            crlf_left: crlf_left - take as u8,
                        };
                        continue;
                    }
                    match walker.step(rest) {
                        ChunkStep::Control(n) => {
                            pos += n;
                            self.framing = Framing::Chunked {
                                walker,
                                data_left: 0,
                                crlf_left: 0,
                            };
                        }
                        ChunkStep::Data(n, with_crlf) => {
                            pos += n;
                            self.framing = Framing::Chunked {
                                walker,
                                data_left: with_crlf.saturating_sub(2),
                                crlf_left: 2,
                            };
                        }
                        ChunkStep::Done(n) => {
                            pos += n;
                            self.finish_decoding();
                            self.framing = Framing::Ended;
                        }
                        ChunkStep::NeedMore => break,
                        ChunkStep::Invalid => {
                            self.problem = Some(format!(
                                "bad chunk size line {:?} after {} body bytes",
                                chunk_line(rest),
                                self.length
                            ));
                            self.decoder = Decoder::Stopped;
                            self.framing = Framing::Ended;
                            return Read {
                                consumed: pos,
                                progress: Progress::Invalid,
                            };
                        }
                    }
                }
            }
        }
        Read {
            consumed: pos,
            progress: if self.is_ended() {
                Progress::Complete
            } else {
                Progress::More
            },
        }
    }

    /// The excerpt so far, for a body that is read on (its bytes move out: the reader only
    /// counts from here on). `ended` says how the connection ended when the body did not:
    /// for a body that runs until the close, that is its normal end.
    pub fn take_excerpt(&mut self, ended: bool) -> BodyExcerpt {
        let complete = match self.framing {
            Framing::Ended => self.problem.is_none(),
            Framing::UntilClose => ended,
            Framing::Length { .. } | Framing::Chunked { .. } => false,
        };
        if !complete && ended && self.problem.is_none() {
            self.problem = Some(match self.declared {
                Some(n) => format!("the body ended after {} of its {n} bytes", self.length),
                None => format!("the body ended after {} bytes, unfinished", self.length),
            });
        }
        let length = match self.framing {
            Framing::Ended if self.problem.is_none() => Some(self.length),
            Framing::UntilClose if ended => Some(self.length),
            _ => self.declared,
        };
        if self.framing == Framing::UntilClose && ended {
            self.framing = Framing::Ended;
        }
        self.decoder = Decoder::Stopped;
        self.keep = 0;
        BodyExcerpt {
            bytes: std::mem::take(&mut self.kept),
            length,
            truncated: self.overflow || !complete,
            content_encoding: self.coding.name(),
            undecoded: self.undecoded,
            problem: self.problem.clone(),
        }
    }

    /// `bytes` of content as sent: counted, decoded and kept while there is room.
    fn content(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.length = self.length.saturating_add(bytes.len() as u64);
        let mut decoder = std::mem::replace(&mut self.decoder, Decoder::Stopped);
        let outcome = match &mut decoder {
            Decoder::Stopped => Ok(true),
            Decoder::Identity => {
                self.keep_bytes(bytes);
                Ok(false)
            }
            Decoder::Gzip {
                header,
                header_bytes,
                inflater,
            } => match header.take(bytes) {
                Ok(used) => {
                    *header_bytes += used;
                    if *header_bytes > MAX_GZIP_HEADER {
                        Err("the gzip header is too long".to_owned())
                    } else if used == bytes.len() {
                        Ok(false)
                    } else {
                        self.inflate(inflater, bytes.get(used..).unwrap_or_default())
                    }
                }
                Err(why) => Err(why.to_owned()),
            },
            Decoder::Deflate { inflater, first } => {
                if let Some(inflater) = inflater {
                    self.inflate(inflater, bytes)
                } else {
                    // RFC 9110 §8.4.1.2: "deflate" is a zlib stream, but some servers send
                    // raw deflate; a zlib header (CM 8, FCHECK) in the first two bytes tells
                    // them apart.
                    match (*first, bytes) {
                        (None, [one]) => {
                            *first = Some(*one);
                            Ok(false)
                        }
                        (held, _) => {
                            let (cmf, flg) = match held {
                                Some(b) => (Some(b), bytes.first().copied()),
                                None => (bytes.first().copied(), bytes.get(1).copied()),
                            };
                            let zlib = matches!((cmf, flg), (Some(cmf), Some(flg))
                                if cmf & 0x0f == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0);
                            let mut fresh = Box::new(Decompress::new(zlib));
                            let ended = match held {
                                Some(b) => self.inflate(&mut fresh, &[b]),
                                None => Ok(false),
                            };
                            let ended = match ended {
                                Ok(false) if !self.overflow => self.inflate(&mut fresh, bytes),
                                other => other,
                            };
                            *first = None;
                            *inflater = Some(fresh);
                            ended
                        }
                    }
                }
            }
        };
        match outcome {
            // Put back unless the stream ended or the cap is full: then nothing more is
            // decoded (a bomb stops here).
            Ok(false) if !self.overflow => self.decoder = decoder,
            Ok(_) => {}
            Err(why) => {
                if self.kept.is_empty() && !self.overflow {
                    // Nothing decoded: show the bytes as sent.
                    self.undecoded = true;
                    self.keep_bytes(bytes);
                }
                self.problem = Some(format!(
                    "{why}; {} decoded",
                    if self.undecoded {
                        "nothing".to_owned()
                    } else {
                        format!("the first {} bytes", self.kept.len())
                    }
                ));
            }
        }
    }

    /// Inflates `input`, keeping what comes out until one byte past the cap; `Ok(true)` when
    /// the compressed stream reached its end.
    fn inflate(&mut self, inflater: &mut Decompress, input: &[u8]) -> Result<bool, String> {
        let mut buf = [0u8; 4096];
        let mut input = input;
        // Each round consumes input or produces output; the bound is a safety net.
        for _ in 0..input.len().saturating_add(64) {
            let before_in = inflater.total_in();
            let before_out = inflater.total_out();
            let status = inflater.decompress(input, &mut buf, FlushDecompress::None);
            let used = usize::try_from(inflater.total_in() - before_in).unwrap_or(usize::MAX);
            let made = usize::try_from(inflater.total_out() - before_out).unwrap_or(0);
            input = input.get(used..).unwrap_or_default();
            self.keep_bytes(buf.get(..made).unwrap_or_default());
            if self.overflow {
                return Ok(false);
            }
            match status {
                Err(_) => {
                    let coding = self.coding.name().unwrap_or_default();
                    return Err(format!("corrupt {coding} data"));
                }
                Ok(Status::StreamEnd) => return Ok(true),
                Ok(_) if (input.is_empty() && made < buf.len()) || (used == 0 && made == 0) => {
                    return Ok(false)
                }
                Ok(_) => {}
            }
        }
        Ok(false)
    }

    /// The body ended: a compressed stream still being inflated did not reach its end, so
    /// the decoded bytes stop short.
    fn finish_decoding(&mut self) {
        let cut = matches!(self.decoder, Decoder::Gzip { .. } | Decoder::Deflate { .. });
        if cut && !self.overflow && self.problem.is_none() {
            let coding = self.coding.name().unwrap_or_default();
            self.problem = Some(format!("the {coding} data stops before its end"));
        }
        self.decoder = Decoder::Stopped;
    }

    /// Keeps what fits of `bytes` under the cap; a byte that does not fit sets `overflow`.
    /// The buffer never grows past the cap.
    fn keep_bytes(&mut self, bytes: &[u8]) {
        let room = self.keep.saturating_sub(self.kept.len());
        if bytes.len() > room {
            self.overflow = true;
        }
        let take = bytes.get(..room.min(bytes.len())).unwrap_or_default();
        if take.is_empty() {
            return;
        }
        let needed = self.kept.len() + take.len();
        if needed > self.kept.capacity() {
            let target = needed.max(self.kept.capacity() * 2).max(256).min(self.keep);
            self.kept.reserve_exact(target - self.kept.len());
        }
        self.kept.extend_from_slice(take);
    }
}

/// The first bytes of a bad chunk-size line, for the message.
fn chunk_line(data: &[u8]) -> String {
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line.get(..line.len().min(24)).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::{Compression, GzBuilder};
    use proptest::prelude::*;
    use std::io::Write;

    /// Feeds `wire` in pieces of `piece` bytes as a stream would (unconsumed bytes stay at
    /// the front); returns the excerpt, where the body ended and the last progress.
    fn read_in_pieces(reader: &mut BodyReader, wire: &[u8], piece: usize) -> (usize, Progress) {
        let mut buffered: Vec<u8> = Vec::new();
        let mut offset = 0;
        let mut progress = Progress::More;
        for chunk in wire.chunks(piece.max(1)) {
            buffered.extend_from_slice(chunk);
            let read = reader.read(&buffered);
            buffered.drain(..read.consumed);
            offset += read.consumed;
            progress = read.progress;
            if progress != Progress::More {
                break;
            }
        }
        (offset, progress)
    }

    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes
                .get(i % sizes.len().max(1))
                .copied()
                .unwrap_or(7)
                .max(1)
                .min(rest.len());
            out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    fn gzip(body: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(body).unwrap();
        e.finish().unwrap()
    }

    const REASON: &[u8] = b"Failed to open a WebSocket connection: missing subprotocol.\n";

    #[test]
    fn a_length_body_is_kept_and_ends_at_its_length() {
        let mut r = BodyReader::new(Body::Length(REASON.len() as u64), Coding::Identity, 4096);
        let wire = [REASON, b"HTTP/1.1 200 OK\r\n"].concat();
        let read = r.read(&wire);
        assert_eq!(read.consumed, REASON.len());
        assert_eq!(read.progress, Progress::Complete);
        let e = r.take_excerpt(false);
        assert_eq!(e.bytes, REASON);
        assert_eq!((e.length, e.truncated, e.problem), (Some(60), false, None));
        assert_eq!(r.memory(), 0, "the excerpt moved out");
    }

    #[test]
    fn a_chunked_body_with_extensions_and_trailers_is_dechunked() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nGET /";
        for piece in 1..wire.len() {
            let mut r = BodyReader::new(Body::Chunked, Coding::Identity, 4096);
            assert_eq!(
                read_in_pieces(&mut r, wire, piece),
                (wire.len() - 5, Progress::Complete),
                "pieces of {piece}"
            );
            let e = r.take_excerpt(false);
            assert_eq!((e.bytes.as_slice(), e.length), (&b"Wikipedia"[..], Some(9)));
        }
    }

    #[test]
    fn gzip_and_both_kinds_of_deflate_are_decoded() {
        let named = {
            let mut e = GzBuilder::new()
                .filename("reason.txt")
                .comment("c")
                .extra(vec![1, 2, 3])
                .write(Vec::new(), Compression::best());
            e.write_all(REASON).unwrap();
            e.finish().unwrap()
        };
        let zlib = {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
            e.write_all(REASON).unwrap();
            e.finish().unwrap()
        };
        let raw = {
            let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
            e.write_all(REASON).unwrap();
            e.finish().unwrap()
        };
        for (coding, wire) in [
            (Coding::Gzip, gzip(REASON)),
            (Coding::Gzip, named),
            (Coding::Deflate, zlib),
            (Coding::Deflate, raw),
        ] {
            for piece in [1, 3, 1000] {
                let mut r = BodyReader::new(Body::Length(wire.len() as u64), coding.clone(), 4096);
                assert_eq!(read_in_pieces(&mut r, &wire, piece).1, Progress::Complete);
                let e = r.take_excerpt(false);
                assert_eq!(e.bytes, REASON, "{coding:?} in pieces of {piece}");
                assert_eq!((e.truncated, &e.problem), (false, &None));
                assert_eq!(e.length, Some(wire.len() as u64));
            }
        }
    }

    #[test]
    fn a_gzip_bomb_stops_one_round_past_the_cap() {
        // 64 MiB of zeros in about 64 KiB: inflating it all would take a second of CPU.
        let bomb = {
            let mut e = GzEncoder::new(Vec::new(), Compression::best());
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..64 {
                e.write_all(&zeros).unwrap();
            }
            e.finish().unwrap()
        };
        assert!(bomb.len() < 100 * 1024);
        let mut r = BodyReader::new(Body::Length(bomb.len() as u64), Coding::Gzip, 4096);
        let started = std::time::Instant::now();
        assert_eq!(read_in_pieces(&mut r, &bomb, 1460).1, Progress::Complete);
        assert!(r.is_full());
        assert_eq!(
            r.memory(),
            4096,
            "the inflater is gone once the cap is full"
        );
        let e = r.take_excerpt(false);
        assert_eq!((e.bytes.len(), e.truncated), (4096, true));
        assert_eq!(
            e.length,
            Some(bomb.len() as u64),
            "the rest is still counted"
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }

    #[test]
    fn an_endless_chunk_is_consumed_as_it_comes_and_never_held() {
        let mut r = BodyReader::new(Body::Chunked, Coding::Identity, 4096);
        assert_eq!(r.read(b"ffffffffffffff\r\n").consumed, 16);
        let piece = [b'a'; 1460];
        for _ in 0..10_000 {
            let read = r.read(&piece);
            assert_eq!((read.consumed, read.progress), (1460, Progress::More));
            assert!(r.memory() <= 4096);
        }
        assert!(r.is_full());
        let e = r.take_excerpt(true);
        assert_eq!((e.bytes.len(), e.truncated), (4096, true));
        assert!(e.problem.unwrap().contains("unfinished"));
    }

    #[test]
    fn a_bad_chunk_size_loses_the_framing_and_says_so() {
        for wire in [
            &b"zz\r\nhello"[..],
            b"1ffffffffffffffff\r\n",
            &[b'1'; 5000][..],
        ] {
            let mut r = BodyReader::new(Body::Chunked, Coding::Identity, 4096);
            let read = r.read(wire);
            assert_eq!(read.progress, Progress::Invalid, "{:?}", &wire[..8]);
            let e = r.take_excerpt(false);
            assert!(e.truncated);
            assert!(e.problem.unwrap().starts_with("bad chunk size line"));
        }
        // A size line that is still arriving is not invalid yet.
        let mut r = BodyReader::new(Body::Chunked, Coding::Identity, 4096);
        assert_eq!(r.read(b"1f").progress, Progress::More);
    }

    #[test]
    fn corrupt_or_unknown_codings_keep_the_bytes_as_sent() {
        let wire = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff\xff";
        let mut r = BodyReader::new(Body::Length(14), Coding::Gzip, 4096);
        r.read(wire);
        let e = r.take_excerpt(false);
        assert!(e
            .problem
            .as_deref()
            .unwrap()
            .starts_with("corrupt gzip data"));
        assert!(e.undecoded && e.is_binary());
        let mut r = BodyReader::new(Body::Length(5), Coding::Gzip, 4096);
        r.read(b"hello");
        let e = r.take_excerpt(false);
        assert_eq!(e.bytes, b"hello");
        assert!(e.problem.unwrap().contains("not gzip"));
        let mut r = BodyReader::new(Body::Length(4), Coding::Other("br".to_owned()), 4096);
        r.read(b"\x0b\x02\x80x");
        let e = r.take_excerpt(false);
        assert_eq!(e.describe(), "binary, 4 bytes, br, not decoded");
        // gzip cut before its end marker.
        let whole = gzip(REASON);
        let cut = &whole[..whole.len() - 12];
        let mut r = BodyReader::new(Body::Length(cut.len() as u64), Coding::Gzip, 4096);
        assert_eq!(r.read(cut).progress, Progress::Complete);
        let e = r.take_excerpt(false);
        assert!(e.truncated, "{e:?}");
        assert!(e.problem.unwrap().contains("stops before its end"));
    }

    #[test]
    fn a_body_cut_by_the_connection_end_is_truncated_and_until_close_is_not() {
        let mut r = BodyReader::new(Body::Length(100), Coding::Identity, 4096);
        r.read(b"only forty");
        let e = r.take_excerpt(true);
        assert_eq!((e.truncated, e.length), (true, Some(100)));
        assert_eq!(
            e.problem.as_deref(),
            Some("the body ended after 10 of its 100 bytes")
        );
        let mut r = BodyReader::new(Body::UntilClose, Coding::Identity, 4096);
        assert_eq!(r.read(b"bye").progress, Progress::More);
        let e = r.take_excerpt(true);
        assert_eq!((e.truncated, e.length, e.problem), (false, Some(3), None));
        let mut none = BodyReader::new(Body::None, Coding::Identity, 4096);
        assert_eq!(none.read(b"GET").consumed, 0);
        assert!(none.is_ended());
    }

    #[test]
    fn the_coding_comes_from_content_encoding() {
        let head = |v: &str| {
            let text = format!("HTTP/1.1 400 x\r\nContent-Encoding: {v}\r\n\r\n");
            match crate::http::head::parse_head(text.as_bytes(), text.len(), false) {
                crate::http::head::HeadParse::Complete(h) => h,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(Coding::of(&head("GZIP")), Coding::Gzip);
        assert_eq!(Coding::of(&head("x-gzip")), Coding::Gzip);
        assert_eq!(Coding::of(&head("identity")), Coding::Identity);
        assert_eq!(Coding::of(&head("deflate")), Coding::Deflate);
        assert_eq!(
            Coding::of(&head("gzip, br")),
            Coding::Other("gzip, br".to_owned())
        );
    }

    proptest! {
        /// Whatever the chunk sizes, the coding, the cap and how the bytes arrive, the
        /// excerpt is the body's first bytes and the body ends exactly where it does.
        #[test]
        fn any_segmentation_gives_the_same_excerpt(
            body in proptest::collection::vec(any::<u8>(), 0..3000),
            sizes in proptest::collection::vec(1usize..700, 1..6),
            use_chunked in any::<bool>(),
            use_gzip in any::<bool>(),
            keep in 0usize..5000,
            piece in 1usize..1500,
        ) {
            let content = if use_gzip { gzip(&body) } else { body.clone() };
            let (framing, wire) = if use_chunked {
                (Body::Chunked, chunked(&content, &sizes))
            } else {
                (Body::Length(content.len() as u64), content.clone())
            };
            let coding = if use_gzip { Coding::Gzip } else { Coding::Identity };
            let mut r = BodyReader::new(framing, coding, keep);
            let tail = b"HTTP/1.1 200 OK\r\n\r\n";
            let (end, progress) = read_in_pieces(&mut r, &[&wire[..], tail].concat(), piece);
            let expect_end = if framing == Body::Length(0) { 0 } else { wire.len() };
            prop_assert_eq!(end, expect_end);
            prop_assert!(progress == Progress::Complete || (framing == Body::Length(0)));
            prop_assert!(r.memory() <= keep.max(1) + INFLATER_MEMORY);
            let e = r.take_excerpt(false);
            let kept = keep.min(body.len());
            prop_assert_eq!(&e.bytes[..], &body[..kept]);
            prop_assert_eq!(e.truncated, body.len() > keep);
            prop_assert_eq!(e.length, Some(content.len() as u64));
        }
    }
}
