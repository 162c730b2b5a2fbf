//! JSON Lines: one object per line, told apart by `"type"` (`"handshake"`, `"connection"`,
//! `"hop"`, `"tls"`, `"notice"`, and one `"summary"` last), each carrying `"schema"`, the version of
//! the format ([`SCHEMA`]). Every record type and field is described in docs/schema.md;
//! breaking changes are listed in CHANGELOG.md.

use std::io::{self, Write};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::{RunEnd, Sink};

mod compact;
mod records;
use crate::capture::live::LiveStats;
use crate::engine::Stats;
use crate::event::{EngineIoSession, Event, HandshakeRecord, HopLink, Notice, Verdict};

/// Version of the JSON Lines format, in every record's `"schema"` field. It changes only
/// when a change could break a consumer (a field renamed, removed or retyped, a meaning
/// changed, ids renumbered); new record types, new fields and new code values keep it.
pub const SCHEMA: u32 = 1;

/// One line: `"type"` and `"schema"` first, then the record's own fields (the shape
/// `compact::append_tagged` writes for `--json`; serde_json writes it for the pretty export).
#[derive(Serialize)]
struct Line<'a, R: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    #[serde(flatten)]
    record: &'a R,
}

/// Writes one handshake record as a pretty-printed JSON document in the JSON Lines shape
/// (`"type"` and `"schema"` first), for single-record exports such as the TUI's, so a saved
/// record reads like a line of `--json`.
///
/// # Errors
/// Writing fails.
pub fn write_handshake_pretty<W: Write>(out: W, record: &HandshakeRecord) -> io::Result<()> {
    let line = Line {
        kind: "handshake",
        schema: SCHEMA,
        record,
    };
    serde_json::to_writer_pretty(out, &line).map_err(io::Error::from)
}

/// The last record of a run.
#[derive(Serialize)]
struct SummaryRecord<'a> {
    #[serde(serialize_with = "ser_opt_secs")]
    first_ts: Option<f64>,
    #[serde(serialize_with = "ser_opt_secs")]
    last_ts: Option<f64>,
    verdicts: Verdicts,
    counters: &'a Stats,
    capture: Capture,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<Live>,
}

/// The live capture's counters (libpcap's and the capture thread's).
#[derive(Serialize)]
struct Live {
    captured: u64,
    received: u64,
    kernel_dropped: u64,
    interface_dropped: u64,
    shed: u64,
}

impl From<&LiveStats> for Live {
    fn from(l: &LiveStats) -> Self {
        Live {
            captured: l.captured,
            received: l.received,
            kernel_dropped: l.kernel_dropped,
            interface_dropped: l.interface_dropped,
            shed: l.shed,
        }
    }
}

fn ser_opt_secs<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_f64(*v),
        None => s.serialize_none(),
    }
}

/// Handshake records written, by verdict.
#[derive(Clone, Copy, Debug, Default)]
struct Verdicts([u64; 4]);

const VERDICTS: [Verdict; 4] = [
    Verdict::Ok,
    Verdict::Warning,
    Verdict::Failed,
    Verdict::Incomplete,
];

impl Verdicts {
    fn count(&mut self, v: Verdict) {
        if let Some(i) = VERDICTS.iter().position(|x| *x == v) {
            if let Some(n) = self.0.get_mut(i) {
                *n += 1;
            }
        }
    }
}

impl Serialize for Verdicts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(VERDICTS.len()))?;
        for (v, n) in VERDICTS.iter().zip(self.0) {
            map.serialize_entry(v.as_str(), &n)?;
        }
        map.end()
    }
}

/// What reading the capture showed.
#[derive(Serialize)]
struct Capture {
    linktypes: Vec<u32>,
    snaplen: Option<u32>,
    drops: Option<u64>,
    read_error: Option<String>,
}

/// `{"type":"<kind>","schema":1`, the start of the lines the hand-written writers finish:
/// what `compact::open_tagged` writes for each kind at [`SCHEMA`] (a test holds them
/// together), one constant each instead of three pieces and a number.
const HANDSHAKE_OPEN: &[u8] = b"{\"type\":\"handshake\",\"schema\":1";
const CONNECTION_OPEN: &[u8] = b"{\"type\":\"connection\",\"schema\":1";
const TLS_OPEN: &[u8] = b"{\"type\":\"tls\",\"schema\":1";

/// Bytes of whole lines [`JsonSink`] gathers before it writes them: std's `BufWriter`
/// capacity, so a `BufWriter` around the output passes them on without copying them again
/// (its buffer took a copy of every line, ~0.25 M instructions on b30), and an output error
/// shows as soon as it did through the `BufWriter` alone.
const BATCH_BYTES: usize = 8 * 1024;

/// Writes each record as one JSON object per line.
pub struct JsonSink<W: Write> {
    out: W,
    verdicts: Verdicts,
    /// Whole lines not yet written, then the line being built: a record is built in place
    /// and the lines go out [`BATCH_BYTES`] at a time (and on `flush`, `finish` and drop).
    line: Vec<u8>,
}

impl<W: Write> JsonSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        JsonSink {
            out,
            verdicts: Verdicts::default(),
            line: Vec::new(),
        }
    }

    /// Writes `record` as one line: the bytes serde_json writes for a [`Line`] of it.
    fn line<R: Serialize>(&mut self, kind: &'static str, record: &R) -> io::Result<()> {
        let start = self.line.len();
        let written = compact::append_tagged(&mut self.line, kind, SCHEMA, record);
        self.end_line(start, written)
    }

    /// Writes one line that starts with `open` (one of the `*_OPEN` constants) and whose
    /// fields after `"schema"` `write` appends (a hand-written writer of [`records`], byte for
    /// byte what [`JsonSink::line`] would write for the record).
    fn written(
        &mut self,
        open: &'static [u8],
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), compact::Error>,
    ) -> io::Result<()> {
        let start = self.line.len();
        self.line.extend_from_slice(open);
        let written = write(&mut self.line);
        self.end_line(start, written)
    }

    /// Ends the line begun at `start`, or takes back what an error left of it; writes the
    /// gathered lines once they fill a batch.
    fn end_line(&mut self, start: usize, written: Result<(), compact::Error>) -> io::Result<()> {
        if let Err(e) = written {
            self.line.truncate(start);
            return Err(io::Error::other(e));
        }
        self.line.push(b'\n');
        if self.line.len() >= BATCH_BYTES {
            self.write_lines()?;
        }
        Ok(())
    }

    /// Writes the gathered lines (gone from the batch even when the write fails, as a
    /// `BufWriter` drops what it could not write).
    fn write_lines(&mut self) -> io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let result = self.out.write_all(&self.line);
        self.line.clear();
        result
    }
}

impl<W: Write> Drop for JsonSink<W> {
    /// The lines gathered since the last batch, as a `BufWriter` writes its buffer when
    /// dropped (errors ignored, as there).
    fn drop(&mut self) {
        let _ = self.write_lines();
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::Handshake(r) => {
                self.verdicts.count(r.verdict);
                self.written(HANDSHAKE_OPEN, |out| records::handshake(out, r))
            }
            Event::Connection(r) => {
                self.written(CONNECTION_OPEN, |out| records::connection(out, r))
            }
            Event::Hop(h) => self.line::<HopLink>("hop", h),
            Event::Notice(n) => self.line::<Notice>("notice", n),
            Event::Tls(t) => self.written(TLS_OPEN, |out| records::tls(out, t)),
            Event::EngineIo(s) => self.line::<EngineIoSession>("engineio_session", s),
        }
    }

    fn end(&mut self, run: &RunEnd<'_>) -> io::Result<()> {
        let summary = SummaryRecord {
            first_ts: run.stats.first_ts.map(|t| t.as_secs_f64()),
            last_ts: run.stats.last_ts.map(|t| t.as_secs_f64()),
            verdicts: self.verdicts,
            counters: run.stats,
            capture: Capture {
                linktypes: run.read.linktypes.iter().map(|l| l.0).collect(),
                snaplen: run.read.snaplen,
                drops: run.read.drops,
                read_error: run.read.error.as_ref().map(ToString::to_string),
            },
            live: run.live.map(Live::from),
        };
        self.line("summary", &summary)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_lines()?;
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.write_lines()?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_start_is_what_open_tagged_writes() {
        for (kind, open) in [
            ("handshake", HANDSHAKE_OPEN),
            ("connection", CONNECTION_OPEN),
            ("tls", TLS_OPEN),
        ] {
            let mut out = Vec::new();
            compact::open_tagged(&mut out, kind, SCHEMA);
            assert_eq!(out, open, "{kind}");
        }
    }

    #[test]
    fn lines_are_written_in_batches_and_all_by_finish() {
        let notice = Event::Notice(Notice::new(crate::finding::NoticeCode::Memcap, "n"));
        let mut out = Vec::new();
        {
            let mut sink = JsonSink::new(&mut out);
            sink.event(&notice).unwrap();
            assert!(sink.line.len() < BATCH_BYTES);
            for _ in 0..BATCH_BYTES {
                sink.event(&notice).unwrap();
            }
            sink.finish().unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), BATCH_BYTES + 1);
        assert!(text
            .lines()
            .all(|l| l.starts_with(r#"{"type":"notice","schema":1,"#)));
    }
}
