//! Record decryption throughput per cipher suite (issue 12): seals `--mib` MiB of 16 KiB
//! application-data records with each suite, then times `RecordDecrypter::open` over them
//! (one copy of each record into a buffer, decrypted in place, as the TLS layer does), best of
//! `--runs`. Prints MB/s by wall clock and by the thread's CPU time (the figure that holds on
//! a shared machine), cycles per byte from the CPU time at the clock /proc/cpuinfo reports, and which
//! CPU features the crates can use (AES-NI, PCLMULQDQ, AVX2: picked at run time).
//!
//!   cargo run --release --example tls_bench -- [--mib 256] [--runs 3] [--record 16384]
//!
//! `scripts/bench --tls` runs it. One core: the decrypter is per direction, single-threaded.
//!
//! This is a benchmark tool, not part of wssniff: it may panic on bad arguments.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::time::Instant;

use wssniff::tls::decrypt::testing::RecordEncrypter;
use wssniff::tls::decrypt::{ContentType, RecordDecrypter, RecordHeader};
use wssniff::tls::keyschedule::tls12_key_block;
use wssniff::tls::suite::{Suite, Version};

const SUITES: &[u16] = &[
    0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0xcca8, 0xc013, 0xc027, 0xc028,
];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpu_mhz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU seconds this thread has used (utime + stime from /proc/thread-self/stat, in clock
/// ticks of 10 ms): on a shared machine, the time the decryption itself took.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let mib = arg("--mib", 256);
    let runs = arg("--runs", 3).max(1);
    let record = arg("--record", 16_384).clamp(1, 16_384);
    let records = (mib << 20) / record;
    let mhz = cpu_mhz();
    #[cfg(target_arch = "x86_64")]
    println!(
        "cpu: aes {} pclmulqdq {} avx2 {} ({} MHz per /proc/cpuinfo)",
        std::arch::is_x86_feature_detected!("aes"),
        std::arch::is_x86_feature_detected!("pclmulqdq"),
        std::arch::is_x86_feature_detected!("avx2"),
        mhz.map_or("?".into(), |m| format!("{m:.0}")),
    );
    println!("{records} records of {record} bytes ({mib} MiB) per suite, best of {runs}");
    println!(
        "{:<48} {:>10} {:>12} {:>14}",
        "suite", "MB/s wall", "MB/s CPU", "cycles/byte"
    );
    let plaintext: Vec<u8> = (0..record).map(|i| (i * 31 % 251) as u8).collect();
    for &id in SUITES {
        let Ok(suite) = Suite::from_id(id) else {
            continue;
        };
        let secret = vec![0x42u8; suite.hash.output_len()];
        let (mut enc, make): (RecordEncrypter, Box<dyn Fn() -> RecordDecrypter>) =
            match suite.version {
                Version::Tls13 => (
                    RecordEncrypter::tls13(suite, &secret).expect("keys"),
                    Box::new(move || RecordDecrypter::tls13(suite, &secret).expect("keys")),
                ),
                Version::Tls12 => {
                    let kb = tls12_key_block(&suite, &[7; 48], &[1; 32], &[2; 32]).expect("keys");
                    (
                        RecordEncrypter::tls12(suite, &kb.server, true),
                        Box::new(move || {
                            RecordDecrypter::tls12(suite, &kb.server, true).expect("keys")
                        }),
                    )
                }
            };
        let sealed: Vec<Vec<u8>> = (0..records.min(4096))
            .map(|_| {
                enc.seal(ContentType::APPLICATION_DATA, &plaintext)
                    .expect("seal")
            })
            .collect();
        let mut best = f64::MAX;
        let mut best_cpu = f64::MAX;
        let mut buf = Vec::with_capacity(record + 2048);
        for _ in 0..runs {
            // At most 4096 distinct records are sealed (memory stays small); the decrypter is
            // reset each time they wrap around, so every record opens at its sequence number.
            let mut dec = make();
            let cpu_start = thread_cpu_secs();
            let start = Instant::now();
            let mut bytes = 0usize;
            for i in 0..records {
                let r = &sealed[i % sealed.len()];
                if i % sealed.len() == 0 {
                    dec = make();
                }
                let header = RecordHeader::parse(r).expect("header");
                buf.clear();
                buf.extend_from_slice(&r[5..]);
                let opened = dec.open(header, &mut buf).expect("opens");
                bytes += opened.plaintext.len();
            }
            let secs = start.elapsed().as_secs_f64();
            if let (Some(a), Some(b)) = (cpu_start, thread_cpu_secs()) {
                best_cpu = best_cpu.min((b - a).max(0.01));
            }
            assert_eq!(bytes, records * record);
            best = best.min(secs);
        }
        let total = (records * record) as f64;
        let mbps = total / best / 1e6;
        let cpu = if best_cpu < f64::MAX { best_cpu } else { best };
        let cpb = mhz.map_or(f64::NAN, |m| m * 1e6 * cpu / total);
        println!(
            "{:<48} {:>10.0} {:>12.0} {:>14.2}",
            suite.name,
            mbps,
            total / cpu / 1e6,
            cpb
        );
    }
}
