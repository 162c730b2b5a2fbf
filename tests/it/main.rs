//! Integration tests: one binary, one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// Shared helpers: paths, running the binary, decoding its JSON Lines.
mod util;
/// The packet and capture-file builder shared with the fuzz bodies and examples/gencap.rs.
use fuzz::bodies::packet;

// Every bundled sample against its committed expected JSON, plus what each must show.
mod samples;
// The public third-party captures in ../shared/samples/public against their ground truth.
mod public;
// Live capture on loopback with real peers (root only).
mod live;
// Command-line behaviour: exit codes, errors, filters, stdin, caps.
mod cli;
// The forensic report: golden Markdown/JSON, HTML structure, proxy hops, Chromium render.
mod report;
// Hostile input: adversarial traffic against the caps, damaged files, untrusted text.
mod hostile;
// The WebSocket content hook on real samples: message texts inflated, packets, caps.
mod content;
// Property tests: reassembly and verdicts do not depend on segmentation.
mod props;
// The fuzz targets on stable: sample-derived seeds, deterministic mutations, regressions.
mod fuzz;
// The pipeline's layering: no stage imports a later one, no import cycles.
mod layers;
// The terminal UI: rendering snapshots on real samples and an end-to-end run in tmux.
mod tui;
