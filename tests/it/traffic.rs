//! Shared by the hostile-input modules: packets between one client and one server, a run that
//! drives the library `Engine` packet by packet and keeps what it emits, the upgrade request
//! the attacks start from, and temporary capture files for the binary.

use std::path::PathBuf;

use wssniff::capture::{Linktype, Packet, Timestamp};
use wssniff::engine::{Engine, EngineConfig};
use wssniff::event::Event;

use crate::packet::{pcap, v4, Link, Tcp};

/// The client's address (its port varies per connection).
pub const CLIENT: [u8; 4] = [10, 0, 0, 1];
/// The server's address (port 80).
pub const SERVER: [u8; 4] = [10, 0, 0, 2];
/// Capture time of the first packet, in nanoseconds.
pub const T0: i64 = 1_700_000_000_000_000_000;

/// A raw IPv4 TCP packet (link type IPV4) between CLIENT:`cport` and SERVER:80; flags in
/// tcpdump's letters, an `A` acknowledging 1.
pub fn packet(
    client_to_server: bool,
    cport: u16,
    seq: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let (client, server) = (v4(CLIENT, cport), v4(SERVER, 80));
    let (src, dst) = if client_to_server {
        (client, server)
    } else {
        (server, client)
    };
    Tcp::new(src, dst, seq, 1, flags, payload).build(Link::Ip)
}

/// Drives an engine packet by packet and keeps what it emits.
pub struct Run {
    /// The engine under attack.
    pub engine: Engine,
    /// Everything it emitted.
    pub events: Vec<Event>,
    /// Number of the last packet fed.
    pub packet: u64,
    /// Capture time of the last packet fed (1 ms apart unless a test moves it).
    pub ts: i64,
    /// Largest `engine.memory()` seen by `feed_measured`.
    pub peak_memory: usize,
}

impl Run {
    /// A run of a fresh engine with `config`.
    pub fn new(config: EngineConfig) -> Self {
        Run {
            engine: Engine::new(config),
            events: Vec::new(),
            packet: 0,
            ts: T0,
            peak_memory: 0,
        }
    }

    /// Feeds one bare-IPv4 packet, 1 ms after the previous one.
    pub fn feed(&mut self, data: &[u8]) {
        self.packet += 1;
        self.ts += 1_000_000;
        let packet = Packet {
            number: self.packet,
            ts: Timestamp(self.ts),
            linktype: Linktype::IPV4,
            data,
            orig_len: data.len() as u32,
        };
        let events = &mut self.events;
        self.engine.process(&packet, &mut |e| events.push(e));
    }

    /// Feeds and records the memory the engine reports (walks the flow table: small runs).
    pub fn feed_measured(&mut self, data: &[u8]) {
        self.feed(data);
        self.peak_memory = self.peak_memory.max(self.engine.memory());
    }

    /// A client stream: SYN, then `data` in segments of `mss` bytes.
    pub fn client_stream(&mut self, cport: u16, data: &[u8], mss: usize) {
        let isn = 1000u32;
        self.feed_measured(&packet(true, cport, isn, "S", b""));
        self.feed_measured(&packet(false, cport, 5000, "SA", b""));
        let mut seq = isn + 1;
        for chunk in data.chunks(mss) {
            self.feed_measured(&packet(true, cport, seq, "A", chunk));
            seq = seq.wrapping_add(chunk.len() as u32);
        }
    }

    /// Ends the capture: the engine flushes what it holds.
    pub fn finish(&mut self) {
        let events = &mut self.events;
        self.engine.finish(&mut |e| events.push(e));
    }

    /// The notice codes emitted (caps that bit).
    pub fn notices(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Notice(n) => Some(n.code),
                _ => None,
            })
            .collect()
    }

    /// The finding codes of every handshake emitted.
    pub fn handshake_codes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Handshake(h) => Some(h.findings.iter().map(|f| f.code.as_str().to_owned())),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// The upgrade request the attacks start from, without its final blank line.
pub const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// A fresh temporary directory for one test's files.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wssniff-hostile-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A classic pcap header for bare IPv4 packets.
pub fn pcap_header(snaplen: u32) -> Vec<u8> {
    pcap::file_header(pcap::LINKTYPE_IPV4, snaplen).to_vec()
}

/// A record stamped at `ts` seconds whose header claims `caplen` and `origlen`.
pub fn pcap_record(ts: u32, data: &[u8], caplen: u32, origlen: u32) -> Vec<u8> {
    pcap::record_claiming(ts, 0, data, caplen, origlen)
}
