//! JSON Lines: one object per handshake, one per WebSocket connection end and one per proxy
//! hop (two legs of one handshake), told apart by their `"type"` (`"handshake"`,
//! `"connection"`, `"hop"`); schemas in README.md, "JSON output".

use std::io::{self, Write};

use serde::Serialize;

use super::Sink;
use crate::event::HopLink;
use crate::event::{ConnectionRecord, Event, HandshakeRecord};

/// A record with its `"type"` discriminator written first.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Tagged<'a> {
    Handshake(&'a HandshakeRecord),
    Connection(&'a ConnectionRecord),
    Hop(&'a HopLink),
}

/// Writes each record as one JSON object per line.
pub struct JsonSink<W: Write> {
    out: W,
}

impl<W: Write> JsonSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        JsonSink { out }
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        let tagged = match event {
            Event::Handshake(r) => Tagged::Handshake(r),
            Event::Connection(r) => Tagged::Connection(r),
            Event::Hop(h) => Tagged::Hop(h),
            Event::Notice(_) => return Ok(()),
        };
        serde_json::to_writer(&mut self.out, &tagged)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
