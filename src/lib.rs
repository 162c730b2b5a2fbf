//! wssniff: a passive analyzer that tells you why a WebSocket connection failed to open.
//!
//! The pipeline runs one way, one stage per module; each arrow is a plain value:
//!
//! ```text
//!  capture ──Frame──▶ decode ──Segment──▶ engine ─┬─▶ flow / reassembly (per-direction byte streams)
//!  (pcap file,                                    ├─▶ http (request/response heads, bodies skipped)
//!   libpcap live)                                 └─▶ handshake (RFC 6455 §4 checks) ──▶ Finding
//!   after a 101: session (RFC 6455 §5 frames, close, ending) ──▶ Finding
//!                                                                    │
//!              Event::Handshake(record), Event::Connection(record at its end), Event::Notice
//!                                                                    ▼
//!                                                 sink: line output, JSON Lines, summary,
//!                                                       forensic report (+ hop correlation)
//!                                                       or the TUI (`--tui`, module `tui`)
//! ```
//!
//! The core (`decode` to `handshake`) never does I/O and never reads the clock: time is the
//! capture timestamp of the frame being processed, so a file gives the same answer every run.
#![forbid(unsafe_code)]

pub mod capture;
pub mod cli;
pub mod community_id;
pub mod decode;
pub mod engine;
pub mod event;
pub mod exchange;
pub mod finding;
pub mod flow;
pub mod handshake;
pub mod hop;
pub mod http;
pub mod reassembly;
pub mod report;
pub mod run;
pub mod session;
pub mod sink;
pub mod text;
pub mod tui;
pub mod wsframe;
