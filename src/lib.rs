//! wssniff: a passive analyzer that tells you why a WebSocket connection failed to open.
//!
//! The tree reads in data order; each stage is a module that imports only the stages above
//! it (checked by `tests/it/layers.rs`), and each arrow is a plain value:
//!
//! ```text
//!  capture ─Packet─▶ decode ─Segment─▶ tcp ───────────────▶ http ──────────────▶ websocket
//!  file, live       L2–L4,            flow table;          framer: heads,       frames, close,
//!                   tunnels           connection: SYN,     bodies, resync;      ending (§5–§7)
//!                                     FIN, RST, client;    exchange: request
//!                                     reassembly: byte     ↔ response, 1xx,
//!                                     streams (gaps,       evidence
//!                                     evidence, packets)
//!
//!  dispatch: per connection, which parser reads each direction (HTTP/1 → WebSocket, tunnel,
//!            h2c; TLS) ─Completed─▶ handshake: RFC 6455 §4 checks → findings, verdict
//!  engineio: Engine.IO packets in polling bodies and WebSocket messages (content hook)
//!  correlate: facts across connections (proxy hops, stale accepts, Engine.IO sessions,
//!             TLS 1.2 resumption, what each TLS connection carried)
//!  engine: wires the stages; Event::{Handshake, Hop, Connection, Notice} out
//!      │
//!      ▼
//!  present (shared wording, escaping) ─▶ sink (lines, JSON Lines, summary, pcap)
//!                                        report (HTML, Markdown, JSON) · tui
//! ```
//!
//! `finding` (the catalogue of codes) and `event` (every record a sink sees) are the
//! vocabulary all stages speak, so they sit just after `capture`; `memory` (the meter every
//! growing buffer registers with) follows them for the same reason. `tcp` defines the
//! `Application` trait and the `ByteStream` interface; `dispatch`, after `websocket`, is the
//! concrete switch between the parsers, so no stage imports a later one. `cli` and `run` wire flags
//! and loops around the engine; `tui` drives the same loops.
//!
//! The core (`decode` to `engine`) never does I/O and never reads the clock: time is the
//! capture timestamp of the packet being processed, so a file gives the same answer every run.
//!
//! # Glossary
//! - **packet**: one record of the capture (a pcap/pcapng record, or one from libpcap live),
//!   numbered from 1 in capture order as Wireshark does. Evidence cites packet numbers.
//! - **segment**: the TCP part of a packet: flags, sequence numbers, payload.
//! - **stream**: one direction of a TCP connection reassembled into ordered bytes, with gaps;
//!   any `ByteStream` (TCP payload, later TLS plaintext or an h2 stream's DATA). An HTTP/2
//!   stream is a `StreamId`, never "stream" alone.
//! - **connection**: one TCP connection (both streams), keyed by its 4-tuple.
//! - **lane**: which parser reads one direction of a connection (HTTP/1, WebSocket, …).
//! - **marks**: what the capture lost or could not vouch for in a stream (gaps, snap-length
//!   cuts, retransmissions with other bytes), with the packets; the next exchange that
//!   completes turns them into findings.
//! - **exchange**: one HTTP request with its interim and final responses.
//! - **handshake**: an exchange that asks for a WebSocket (RFC 6455 §4), and its analysis.
//! - **WebSocket frame**: an RFC 6455 §5 frame; "frame" in code names means only this.
//! - **message**: an HTTP message (request or response head), or a WebSocket message (one
//!   or more frames); the type says which.
//! - **hop**: one leg of a proxied handshake; two linked legs are a proxy hop.
//! - **incident**: what a person triages: one handshake, or every leg of one proxied
//!   handshake; identical incidents form a group with a count (`present::incident`).
//! - **ending**: how a connection or handshake ended (close frames, FIN, RST, timeout).
#![forbid(unsafe_code)]

pub mod capture;
pub mod cli;
pub mod correlate;
pub mod decode;
pub mod dispatch;
pub mod engine;
pub mod engineio;
pub mod event;
pub mod finding;
pub mod h2;
pub mod handshake;
pub mod http;
pub mod memory;
pub mod present;
pub mod report;
pub mod run;
pub mod sink;
pub mod tcp;
pub mod tls;
pub mod tui;
pub mod websocket;
