//! Integration tests: one binary, one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // `gencap` below brings its own copies of fuzz/src/packet.rs and adversarial.rs, which
    // `fuzz` also loads: two modules from one file, on purpose.
    clippy::duplicate_mod
)]

/// Shared helpers: paths, running the binary, decoding its JSON Lines.
mod util;
/// The packet and capture-file builder shared with the fuzz bodies and examples/gencap.rs.
use fuzz::bodies::packet;

// Every bundled sample against its committed expected JSON, plus what each must show.
mod samples;
// Engine.IO / Socket.IO sessions from real peers, against the client logs and tshark.
mod engineio;
// Imperfect captures (snap-length cuts, one way, capture and network loss, messy files)
// against the endpoints' own logs.
mod imperfect;
// The public third-party captures in ../shared/samples/public against their ground truth.
mod public;
// Several files read as one capture: an editcap split against the whole.
mod merge;
// --threads N: flow-sharded workers give the output of one thread on every sample.
mod threads;
// Live capture on loopback with real peers (root only).
mod live;
// Command-line behaviour: exit codes, errors, filters, stdin, caps.
mod cli;
// Installable: the man page and shell completions generated from the flags.
mod install;
// The forensic report: golden Markdown/JSON, HTML structure, proxy hops, Chromium render.
mod report;
// Hostile input, by theme (the shared packets and engine run are in `traffic`):
/// Packets between one client and one server and a run that drives the engine with them.
mod traffic;
// Adversarial traffic against the caps: floods, endless heads and pipelines, linear work.
mod caps;
// Traffic crafted to mislead: disagreeing overlaps, a replayed accept.
mod evasion;
// No blame without evidence: failed handshakes open no connection, idle timeouts, causes.
mod blame;
// TLS decryption: real peers' sessions per cipher suite with their key logs, vs tshark.
mod tls_keys;
// examples/gencap.rs itself, so that tls_keys.rs can check its wss:// capture decrypts.
#[path = "../../examples/gencap.rs"]
#[allow(dead_code)]
mod gencap;
// Damaged capture files: truncation, bad lengths and blocks, bad magic, a cut FIFO.
mod damaged;
// Untrusted text from the wire on the terminal, in reports and in the TUI.
mod untrusted;
// TLS without keys on the recorded TLS samples, cross-checked against tshark.
mod tls;
// The WebSocket content hook on real samples: message texts inflated, packets, caps.
mod content;
// Memory accounting: the meter equals a walk of the flow table at every packet.
mod memory;
// Property tests: reassembly and verdicts do not depend on segmentation.
mod props;
// HTTP/2 samples: decoded headers against tshark, extended CONNECT outcomes and endings.
mod h2;
// The fuzz targets on stable: sample-derived seeds, deterministic mutations, regressions.
mod fuzz;
// Deterministic output: hasher seeds, ties, request-order ids, samples analysed 20 times.
mod determinism;
// docs/schema.md against the JSON the samples produce; CHANGELOG names the schema.
mod schema;
// The pipeline's layering: no stage imports a later one, no import cycles.
mod layers;
// The terminal UI: rendering snapshots on real samples and an end-to-end run in tmux.
mod tui;
// Credential redaction in every output, on a capture of peers sending credentials.
mod redact;
