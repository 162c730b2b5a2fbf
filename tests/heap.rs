//! The memory budget against the real heap, with TLS keys (issue 12): a counting allocator
//! measures what the engine allocates while it decrypts the keyed adversarial captures of
//! `examples/support/wss_attack.rs` (records that never complete, decrypted heads that never
//! end, out-of-order windows of records, idle decrypting connections), and the live heap must
//! stay within what the meter counts plus a fixed base, and within the budget plus that base.
//!
//! Its own test binary without the test harness (`harness = false` in Cargo.toml): the
//! allocator's count is the whole process's, so the checks run one after the other on the
//! main thread with nothing else allocating. `tests/it/memory.rs` checks the meter against the
//! walk of the same structures; this checks the walk against the allocator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::alloc::System;
use std::sync::{Arc, Mutex};

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use wssniff::capture::{Linktype, Packet, Timestamp};
use wssniff::engine::{Engine, EngineConfig};
use wssniff::event::Event;
use wssniff::finding::Code;
use wssniff::tls::keylog::KeyLog;
use wssniff::tls::keystore::SharedKeyLog;

#[path = "../fuzz/src/packet.rs"]
#[allow(dead_code, unused_imports)]
mod packet;
#[path = "../examples/support/wss.rs"]
#[allow(dead_code)]
mod wss;
#[path = "../examples/support/wss_attack.rs"]
#[allow(dead_code)]
mod wss_attack;

use wss_attack::WssAttack;

/// The system allocator, counting (process-wide: the checks run one at a time).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes live on the heap now.
fn live() -> isize {
    let s = GLOBAL.stats();
    // A realloc's difference is in bytes_allocated or bytes_deallocated already.
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

/// What one run saw.
#[derive(Debug, Default)]
struct Seen {
    /// Largest live heap of the engine (the allocator's count less the count before it).
    heap_peak: isize,
    /// Largest heap less the meter's count at the same packet.
    unaccounted_peak: isize,
    meter_peak: usize,
    tls: usize,
    decrypted: usize,
    marked: usize,
    refused: u64,
    refused_kinds: Vec<&'static str>,
}

/// Runs keyed `attack` (`connections` × `amount`) through one engine with `budget` and the
/// attack's key log, measuring the heap after every packet.
fn run(attack: WssAttack, connections: u32, amount: u32, budget: usize) -> Seen {
    let mut packets = Vec::new();
    let keylog = wss_attack::generate(attack, connections, amount, &mut |ts, p| {
        packets.push((ts, p.to_vec()));
    });
    let mut log = KeyLog::new(1_000_000);
    assert!(log.add_text(keylog.as_bytes()).is_empty());
    let store = SharedKeyLog::new(Arc::new(Mutex::new(log)));
    let config = EngineConfig {
        memcap: Some(budget),
        ..EngineConfig::default()
    };
    let before = live();
    let mut engine = Engine::new(config);
    engine.set_key_store(Box::new(store));
    let mut seen = Seen::default();
    let mut events: Vec<Event> = Vec::new();
    // The engine's fixed part (its output queues, the correlation stage, the store's box),
    // measured before any traffic: the rest must be what the meter counts.
    let empty = live() - before;
    for (n, (ts, data)) in (1u64..).zip(&packets) {
        let p = Packet {
            number: n,
            ts: Timestamp(*ts),
            linktype: Linktype::IPV4,
            data,
            orig_len: data.len() as u32,
        };
        engine.process(&p, &mut |e| events.push(e));
        // The events are the output, not the analysis' buffers: counted, then dropped.
        for e in events.drain(..) {
            seen.event(&e);
        }
        let heap = live() - before - empty;
        seen.heap_peak = seen.heap_peak.max(heap);
        seen.unaccounted_peak = seen.unaccounted_peak.max(heap - engine.memory() as isize);
        if std::env::var_os("HEAP_TRACE").is_some() {
            eprintln!("packet {n}: heap {heap} meter {}", engine.memory());
        }
    }
    seen.meter_peak = engine.peak_memory();
    seen.refused = engine
        .stats()
        .memcap_refused
        .values()
        .map(|r| r.times)
        .sum();
    seen.refused_kinds = engine.stats().memcap_refused.keys().copied().collect();
    engine.finish(&mut |e| seen.event(&e));
    seen
}

impl Seen {
    fn event(&mut self, e: &Event) {
        if let Event::Tls(t) = e {
            self.tls += 1;
            self.decrypted += usize::from(t.decrypted);
            self.marked += usize::from(t.findings.iter().any(|f| f.code == Code::MemcapReached));
        }
    }
}

/// The shapes at a scale a debug test runs in seconds: (attack, connections, bytes each,
/// what the budget refuses when it is full).
const SHAPES: [(WssAttack, u32, u32, &str); 4] = [
    // Idle decrypting connections: their key state alone (about 2 KiB of AES-GCM keys each,
    // which the meter did not count before).
    (WssAttack::Records, 500, 0, "unparsed"),
    // 100 × 16 KiB of records that never complete (held by TCP).
    (WssAttack::Records, 100, 16 * 1024, "unparsed"),
    // 100 × 16 KiB of decrypted heads that never end (held in the plaintext relays).
    (WssAttack::Heads, 100, 16 * 1024, "tls"),
    // 10 × 256 KiB of records behind a hole.
    (WssAttack::Window, 10, 256 * 1024, "segments"),
];

/// What the heap may hold beyond the meter's count: allocator-level overhead the walk does
/// not see (hash table slack, tree nodes), a twentieth, plus a fixed 64 KiB.
fn unaccounted_allowance(heap: isize) -> isize {
    heap / 20 + 64 * 1024
}

/// What one packet may add past the budget (as in tests/it/memory.rs).
const ONE_PACKET_SLACK: usize = 128 * 1024;

fn decrypting_under_attack_the_heap_is_what_the_meter_counts() {
    for (attack, connections, amount, _) in SHAPES {
        let s = run(attack, connections, amount, 1 << 40);
        assert!(
            s.unaccounted_peak <= unaccounted_allowance(s.heap_peak),
            "{attack:?} × {connections}: {s:?}"
        );
        // Nothing refused without a budget: every session decrypted, no record marked.
        assert_eq!(s.refused, 0, "{attack:?}: {s:?}");
        assert_eq!(s.marked, 0, "{attack:?}: {s:?}");
        assert_eq!(s.tls, connections as usize, "{attack:?}: {s:?}");
        assert_eq!(s.decrypted, s.tls, "{attack:?}: {s:?}");
        // The attack did hold what it was built to: more than it is allowed below.
        assert!(s.meter_peak > BUDGET, "{attack:?}: {s:?}");
    }
}

/// The budget of [`a_full_budget_bounds_the_heap_and_counts_what_it_dropped`].
const BUDGET: usize = 1 << 20;

fn a_full_budget_bounds_the_heap_and_counts_what_it_dropped() {
    for (attack, connections, amount, kind) in SHAPES {
        let s = run(attack, connections, amount, BUDGET);
        assert!(
            s.meter_peak <= BUDGET + ONE_PACKET_SLACK,
            "{attack:?}: {s:?}"
        );
        let bound = (BUDGET + ONE_PACKET_SLACK) as isize;
        assert!(
            s.heap_peak <= bound + unaccounted_allowance(bound),
            "{attack:?} × {connections}: {s:?}"
        );
        // What was dropped is counted, by kind, and said on the records it cut.
        assert!(s.refused > 0, "{attack:?}: {s:?}");
        assert!(s.refused_kinds.contains(&kind), "{attack:?}: {s:?}");
        assert!(s.marked > 0, "{attack:?}: {s:?}");
    }
}

fn main() {
    for (name, check) in [
        (
            "decrypting_under_attack_the_heap_is_what_the_meter_counts",
            decrypting_under_attack_the_heap_is_what_the_meter_counts as fn(),
        ),
        (
            "a_full_budget_bounds_the_heap_and_counts_what_it_dropped",
            a_full_budget_bounds_the_heap_and_counts_what_it_dropped,
        ),
    ] {
        // `cargo test NAME` passes a filter; `--list` and the harness flags are ignored.
        let filters: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if std::env::args().any(|a| a == "--list") {
            println!("{name}: test");
            continue;
        }
        check();
        println!("test {name} ... ok");
    }
}
