//! The fuzz targets on stable: seeds built from every sample, a deterministic mutation loop
//! (seeded PRNG, bounded iterations), and every input in `fuzz/regressions/<target>/`.
//!
//! The target bodies are `fuzz/src/lib.rs`, the same code the libFuzzer binaries run
//! (`scripts/fuzz`). `WSSNIFF_FUZZ_ITERS` raises the mutations per target (default keeps CI
//! fast); `WSSNIFF_FUZZ_CORPUS=DIR` also writes the seed corpora to `DIR/<target>/` for
//! `cargo fuzz`.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;

use wssniff::capture::{FileSource, Linktype};
use wssniff::decode;

use crate::util::root;

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, clippy::pedantic)]
pub mod bodies;

/// A target body.
type Body = fn(&[u8]);

/// Every target, by the name of its libFuzzer binary.
pub const TARGETS: [(&str, Body); 16] = [
    ("decode", bodies::decode),
    ("reassembly", bodies::reassembly),
    ("http", bodies::http),
    ("handshake", bodies::handshake),
    ("engine", bodies::engine),
    ("outputs", bodies::outputs),
    ("capture", bodies::capture),
    ("wsframe", bodies::wsframe),
    ("body", bodies::body),
    ("keylog", bodies::keylog),
    ("tls_record", bodies::tls_record),
    ("tls", bodies::tls),
    ("h2frame", bodies::h2frame),
    ("hpack", bodies::hpack),
    ("engineio", bodies::engineio),
    ("read_blocks", bodies::read_blocks),
];

/// The sample captures (pcap and pcapng), sorted.
fn sample_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    files.sort();
    files
}

/// A TCP segment of a sample, owned.
struct Seg {
    linktype: Linktype,
    frame: Vec<u8>,
    flow: (std::net::SocketAddr, std::net::SocketAddr),
    seq: u32,
    syn: bool,
    fin: bool,
    ack: bool,
    payload: Vec<u8>,
}

fn segments(path: &Path) -> Vec<Seg> {
    let mut source = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut out = Vec::new();
    source.for_each_packet(|f| {
        if let Ok(seg) = decode::decode(f) {
            out.push(Seg {
                linktype: f.linktype,
                frame: f.data.to_vec(),
                flow: (
                    std::net::SocketAddr::new(seg.src_ip, seg.src_port),
                    std::net::SocketAddr::new(seg.dst_ip, seg.dst_port),
                ),
                seq: seg.seq,
                syn: seg.flags.syn,
                fin: seg.flags.fin,
                ack: seg.flags.ack,
                payload: seg.payload.to_vec(),
            });
        }
        ControlFlow::Continue(())
    });
    out
}

/// The first two connections of a sample as an engine script (see `fuzz/src/lib.rs`).
fn script(segs: &[Seg]) -> Vec<u8> {
    // Connection index and client address, by canonical endpoint pair.
    let mut conns: HashMap<
        (std::net::SocketAddr, std::net::SocketAddr),
        (usize, std::net::SocketAddr),
    > = HashMap::new();
    let mut next: HashMap<(usize, usize), u32> = HashMap::new();
    let mut out = Vec::new();
    for s in segs {
        let key = if s.flow.0 <= s.flow.1 {
            s.flow
        } else {
            (s.flow.1, s.flow.0)
        };
        let n = conns.len();
        let (conn, client) = *conns.entry(key).or_insert((n, s.flow.0));
        if conn > 1 {
            continue;
        }
        let dir = usize::from(s.flow.0 != client);
        let expected = *next.entry((conn, dir)).or_insert(s.seq);
        let delta = i64::from(s.seq.wrapping_sub(expected) as i32).clamp(-32768, 32767);
        let mut seq = s.seq;
        let chunks: Vec<&[u8]> = if s.payload.is_empty() {
            vec![&[][..]]
        } else {
            s.payload.chunks(bodies::MAX_OP_PAYLOAD).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let op = bodies::Op {
                dir,
                syn: s.syn && i == 0,
                fin: s.fin && i + 1 == chunks.len(),
                rst: false,
                ack: s.ack,
                seq_delta: if i == 0 { delta } else { 0 },
                idle: false,
                second: conn == 1,
                payload: chunk,
            };
            out.extend(bodies::encode_op(&op));
            seq = seq.wrapping_add(chunk.len() as u32);
        }
        let end = seq.wrapping_add(u32::from(s.syn) + u32::from(s.fin));
        if end.wrapping_sub(expected) as i32 > 0 {
            next.insert((conn, dir), end);
        }
    }
    out
}

/// Seed inputs per target, derived from every sample.
pub fn seeds() -> HashMap<&'static str, Vec<Vec<u8>>> {
    let mut seeds: HashMap<&'static str, Vec<Vec<u8>>> = HashMap::new();
    let linktypes = [
        Linktype::ETHERNET,
        Linktype::RAW,
        Linktype::LINUX_SLL,
        Linktype::LINUX_SLL2,
        Linktype::NULL,
        Linktype::LOOP,
    ];
    for path in sample_files() {
        let bytes = std::fs::read(&path).unwrap();
        seeds.entry("capture").or_default().push(bytes);
        let segs = segments(&path);
        for s in segs.iter().take(12) {
            let sel = linktypes.iter().position(|l| *l == s.linktype).unwrap_or(0) as u8;
            let mut input = vec![sel];
            input.extend_from_slice(&s.frame);
            seeds.entry("decode").or_default().push(input);
        }
        let sc = script(&segs);
        seeds.entry("engine").or_default().push(sc.clone());
        seeds.entry("outputs").or_default().push(sc.clone());
        seeds.entry("reassembly").or_default().push(sc);
        let with_data: Vec<&Seg> = segs.iter().filter(|s| !s.payload.is_empty()).collect();
        for s in with_data.iter().take(6) {
            seeds.entry("http").or_default().push(s.payload.clone());
            seeds.entry("wsframe").or_default().push(s.payload.clone());
        }
        // Each sample's first response after its head, as a Content-Length / chunked body.
        if let Some(resp) = with_data
            .iter()
            .find(|s| s.payload.starts_with(b"HTTP/1.1 4"))
        {
            for sel in [0x40u8, 0x41, 0x42] {
                let mut input = vec![sel, 4, 7];
                input.extend_from_slice(&resp.payload);
                seeds.entry("body").or_default().push(input);
            }
        }
        // HTTP/2 frames (the h2 samples' payloads, preface stripped) and their header blocks.
        for s in with_data.iter().take(12) {
            let p = s
                .payload
                .strip_prefix(wssniff::h2::frame::PREFACE.as_slice());
            let frames = p.unwrap_or(&s.payload).to_vec();
            let mut at = 0;
            while let Some(h) = frames
                .get(at..)
                .and_then(wssniff::h2::frame::FrameHeader::parse)
            {
                let end = at + 9 + h.len as usize;
                if h.kind == wssniff::h2::frame::FrameType::HEADERS {
                    if let Some(b) = frames.get(at + 9..end) {
                        seeds.entry("hpack").or_default().push(b.to_vec());
                    }
                }
                at = end;
            }
            seeds.entry("h2frame").or_default().push(frames);
        }
        // First request and first response of the first connection.
        if let Some(first) = with_data.first() {
            if let Some(answer) = with_data.iter().find(|s| s.flow.0 == first.flow.1) {
                let mut input = first.payload.clone();
                input.extend_from_slice(bodies::HANDSHAKE_SEPARATOR);
                input.extend_from_slice(&answer.payload);
                seeds.entry("handshake").or_default().push(input);
            }
        }
    }
    // The read blocks: every capture of the repository (sub-folders too) and the public ones.
    let mut captures = captures_under(&root().join("samples"));
    captures.extend(crate::util::public_captures().map_or_else(Vec::new, |d| captures_under(&d)));
    for path in captures {
        seeds
            .entry("read_blocks")
            .or_default()
            .push(std::fs::read(path).unwrap());
    }
    // A gzip body running until the close, and the same chunked.
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"Failed to open a WebSocket connection: missing subprotocol.\n")
            .unwrap();
        e.finish().unwrap()
    };
    let mut until_close = vec![0x46, 0, 9];
    until_close.extend_from_slice(&gz);
    let mut chunked = vec![0x45, 0, 5];
    chunked.extend_from_slice(format!("{:x}\r\n", gz.len()).as_bytes());
    chunked.extend_from_slice(&gz);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    seeds
        .entry("body")
        .or_default()
        .extend([until_close, chunked]);
    // Engine.IO bodies and WebSocket payloads of the real-peer sessions, as tshark shows them
    // (the revision byte first), and the payload forms the samples do not carry.
    let mut eio: Vec<_> = std::fs::read_dir(root().join("samples/expected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tshark-http-ws.tsv"))
        .collect();
    eio.sort();
    for path in eio {
        let v3 = path.to_string_lossy().contains("-v3-");
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let body = line.split('\t').next_back().unwrap_or_default();
            if !body.is_empty() {
                let mut input = vec![if v3 { 3 } else { 4 }];
                input.extend_from_slice(body.as_bytes());
                seeds.entry("engineio").or_default().push(input);
            }
        }
    }
    seeds.entry("engineio").or_default().extend([
        b"\x03\x00\x02\xff40\x01\x04\xff\x04\x01\x02\x03".to_vec(),
        b"\x03___eio[2](\"6:4hi\\\"x2:40\");".to_vec(),
        b"\x046:b4AQID\x1e44{\"message\":\"no\"}".to_vec(),
    ]);
    // Key logs and TLS streams of the real-peer TLS sessions (samples/tls-suites).
    let mut tls: Vec<_> = std::fs::read_dir(root().join("samples/tls-suites"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    tls.sort();
    for (i, path) in tls.iter().enumerate() {
        match path.extension().and_then(|e| e.to_str()) {
            Some("keys") => {
                let mut input = vec![(i * 37) as u8];
                input.extend(std::fs::read(path).unwrap());
                seeds.entry("keylog").or_default().push(input);
            }
            Some("pcap") => {
                let stream: Vec<u8> = segments(path)
                    .iter()
                    .filter(|s| s.flow.0.port() > s.flow.1.port())
                    .flat_map(|s| s.payload.clone())
                    .collect();
                let mut input = vec![i as u8];
                input.extend(stream.get(..4096.min(stream.len())).unwrap());
                seeds.entry("tls_record").or_default().push(input);
            }
            _ => {}
        }
    }
    // The TLS samples (samples/tls/): each connection's payloads as a `tls` chunk script.
    let mut tls_files: Vec<_> = std::fs::read_dir(root().join("samples/tls"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    tls_files.sort();
    for path in tls_files {
        let segs = segments(&path);
        let Some(first) = segs.iter().find(|s| !s.payload.is_empty()) else {
            continue;
        };
        let client = first.flow;
        let mut script = Vec::new();
        for s in segs.iter().filter(|s| !s.payload.is_empty()) {
            let dir = if s.flow == client {
                0u8
            } else if s.flow == (client.1, client.0) {
                1
            } else {
                continue;
            };
            script.push(dir);
            script.extend_from_slice(&(s.payload.len() as u16).to_le_bytes());
            script.extend_from_slice(&s.payload);
        }
        seeds.entry("tls").or_default().push(script);
    }
    seeds
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random mutation of `input` (bit flips, interesting values, cuts, duplicated or
/// deleted runs, splices from another seed).
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0, 0xff, 0x7f, 0x80, b'\r', b'\n', b':', b' '][rng.below(8)];
            }
            2 if len > 0 => v.truncate(rng.below(len)),
            3 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let run = v[a..b].to_vec();
                let at = rng.below(len);
                v.splice(at..at, run);
            }
            4 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                v.drain(a..b);
            }
            5 if !other.is_empty() => {
                let a = rng.below(other.len());
                let b = (a + 1 + rng.below(256)).min(other.len());
                let at = rng.below(len + 1);
                v.splice(at..at, other[a..b].iter().copied());
            }
            6 if len > 3 => {
                // A 32-bit field set to an extreme (lengths, sequence numbers).
                let i = rng.below(len - 3);
                let val: u32 = [0, u32::MAX, 0x7fff_ffff, 0x8000_0000, 0xffff][rng.below(5)];
                v[i..i + 4].copy_from_slice(&val.to_be_bytes());
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn iterations() -> usize {
    std::env::var("WSSNIFF_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

#[test]
fn seeds_cover_every_target_and_sample() {
    let seeds = seeds();
    let samples = sample_files().len();
    assert!(samples >= 20, "{samples} samples");
    for (name, body) in TARGETS {
        let list = &seeds[name];
        assert!(!list.is_empty(), "{name} has no seeds");
        for s in list {
            body(s);
        }
    }
    assert_eq!(seeds["capture"].len(), samples);
    assert!(seeds["read_blocks"].len() > samples);
    assert_eq!(seeds["engine"].len(), samples);
    // The engine seed of a sample must reproduce its handshake: the script format is right.
    let idx = sample_files()
        .iter()
        .position(|p| p.ends_with("python-websockets-ok.pcap"))
        .unwrap();
    let engine = bodies::engine_with(
        &seeds["engine"][idx],
        wssniff::engine::EngineConfig::default(),
    );
    assert_eq!(engine.stats().handshakes, 1, "{:?}", engine.stats());
    assert_eq!(engine.stats().upgrade_flows, 1);
    if let Ok(dir) = std::env::var("WSSNIFF_FUZZ_CORPUS") {
        for (name, list) in &seeds {
            let d = Path::new(&dir).join(name);
            std::fs::create_dir_all(&d).unwrap();
            for (i, s) in list.iter().enumerate() {
                std::fs::write(d.join(format!("seed-{i:03}")), s).unwrap();
            }
        }
    }
}

#[test]
fn mutated_samples_never_crash_any_target() {
    let seeds = seeds();
    let iters = iterations();
    for (t, (name, body)) in TARGETS.iter().enumerate() {
        let list = &seeds[name];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
        for _ in 0..iters {
            let a = &list[rng.below(list.len())];
            let b = &list[rng.below(list.len())];
            let input = mutate(&mut rng, a, b);
            body(&input);
        }
    }
}

#[test]
fn every_prefix_of_a_capture_is_handled() {
    // Cut anywhere: in the file header, a record header, a packet.
    for name in ["pcapng-ok.pcapng", "dribbled-request.pcap"] {
        let bytes = std::fs::read(root().join("samples").join(name)).unwrap();
        let step = (bytes.len() / 400).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            bodies::capture(&bytes[..cut]);
        }
    }
}

/// The minimised corpus of the long fuzz runs (`fuzz/minimized/<target>/`, see
/// fuzz/README.md) through each target's body, as libFuzzer runs it: a change that makes
/// what the long runs reached panic fails here, on stable. Every fourth input (sorted by
/// name, so always the same ones; ~10 CPU-seconds in a debug build), or every input with
/// `WSSNIFF_FUZZ_MINIMIZED=all`.
#[test]
fn minimized_corpus_replays() {
    let dir = root().join("fuzz/minimized");
    let stride = if std::env::var("WSSNIFF_FUZZ_MINIMIZED").as_deref() == Ok("all") {
        1
    } else {
        4
    };
    let mut ran = HashMap::new();
    for (name, body) in TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(name)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths.iter().step_by(stride) {
            body(&std::fs::read(path).unwrap());
        }
        ran.insert(name, paths.len());
    }
    for name in ["engine", "capture", "outputs"] {
        assert!(
            ran.get(name).is_some_and(|&n| n > 100),
            "fuzz/minimized/{name} holds the long runs' corpus: {ran:?}"
        );
    }
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = root().join("fuzz/regressions");
    let mut ran = 0;
    for (name, body) in TARGETS {
        // `outputs` reads `engine` scripts: it replays their regressions too.
        let from = if name == "outputs" { "engine" } else { name };
        let Ok(entries) = std::fs::read_dir(dir.join(from)) else {
            continue;
        };
        for e in entries {
            let input = std::fs::read(e.unwrap().path()).unwrap();
            body(&input);
            ran += 1;
        }
    }
    assert!(
        ran > 0,
        "fuzz/regressions holds the inputs of every fixed finding"
    );
}

/// Every capture under `dir` (sub-folders too), sorted.
fn captures_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The `read_blocks` target's check on every sample and public capture, without the fuzzer:
/// read blocks of several small sizes (records cut at their ends, large ones handed over to
/// the ordinary reader) against the ordinary reader, whole and split in two for the merge.
/// It must see the blocks at work: most packets from blocks at the larger sizes, some
/// handed over at the smaller ones.
#[test]
fn read_blocks_agree_on_every_sample() {
    const SIZES: [usize; 6] = [64, 200, 1000, 1600, 4096, 65536];
    let mut files = captures_under(&root().join("samples"));
    assert!(files.len() >= 100, "{} samples", files.len());
    if let Some(dir) = crate::util::public_captures() {
        let public = captures_under(&dir);
        assert!(public.len() >= 20, "{} public captures", public.len());
        files.extend(public);
    }
    let (mut packets, mut whole_in_blocks, mut small_in_blocks) = (0, 0, 0);
    let (mut merged, mut merged_in_blocks) = (0, 0);
    for path in &files {
        let data = std::fs::read(path).unwrap();
        for split in [1, 1009] {
            let got = std::panic::catch_unwind(|| {
                bodies::blocks::read_blocks_agree(&data, &SIZES, split)
            });
            let Ok(got) = got else {
                panic!("{}: split {split}: read blocks disagree", path.display());
            };
            packets += got.packets;
            small_in_blocks += got.in_blocks[0];
            whole_in_blocks += got.in_blocks[SIZES.len() - 1];
            merged += got.merged;
            merged_in_blocks += got.merged_in_blocks.last().copied().unwrap_or(0);
        }
    }
    assert!(packets > 10_000, "{packets} packets");
    // The largest size takes nearly every packet, the smallest hands most of them over.
    assert!(
        whole_in_blocks * 10 > packets * 9,
        "{whole_in_blocks} of {packets} in blocks"
    );
    assert!(
        small_in_blocks * 2 < packets,
        "{small_in_blocks} of {packets} in 64-byte blocks"
    );
    assert!(merged * 10 > packets * 9, "{merged} of {packets} merged");
    assert!(
        merged_in_blocks * 10 > merged * 8,
        "{merged_in_blocks} of {merged} in blocks"
    );
}
