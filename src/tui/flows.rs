//! Which packets belong to which TCP connection, so the hex view of a WebSocket connection
//! shows any of its packets (bare ACKs, FINs, retransmissions), not only those its records
//! cite. The reader thread hands every packet it reads to [`PacketLists::push`] and every
//! event to [`PacketLists::note`]; the UI looks a connection's packet numbers up with
//! [`PacketLists::of`] and reads the bytes again by number (from the file by offset, from
//! merged files, from the ring of recent packets).
//!
//! Per TCP connection (a "generation" of an address pair: a SYN after a FIN or RST starts a
//! new one) it keeps the numbers of the first and the last [`EACH_END`] packets and how many
//! there were. Bounded by bytes ([`LISTS_MAX_BYTES`], and a sixteenth of `--memcap`, which the
//! engine is given that much less of): when full, later connections are not listed (counted,
//! and their hex view says so). The lists of connections no WebSocket event named are given
//! up once the connection is closed and quiet for a minute of packet time, or quiet for the
//! flow table's idle timeout and a minute more (the engine has ended them by then).
//!
//! Only the TUI's reader builds this: the line output's per-packet path never sees it. Plain
//! data, no I/O; time is packet time.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::capture::{Linktype, Packet, Timestamp};
use crate::event::Event;

/// Packets listed at each end of a connection (the hex view shows the first and the last
/// this many).
pub const EACH_END: usize = 32;
/// Most bytes the packet lists take.
pub const LISTS_MAX_BYTES: usize = 16 * 1024 * 1024;
/// The share of `--memcap` the lists take at most.
const SHARE_OF_MEMCAP: usize = 16;
/// Bytes a listed connection costs besides its packet numbers (the struct, its map slot).
const ENTRY_BYTES: usize = 192;
/// A closed connection no WebSocket event named is given up after this much packet time.
const CLOSED_GRACE_NS: i64 = 60 * 1_000_000_000;
/// Packets between two sweeps for connections to give up (a sweep visits every listed
/// connection: rare enough to cost a fraction of a nanosecond per packet).
const SWEEP_EVERY: u64 = 65_536;

/// The two endpoints of a connection, lower first (either direction finds it).
type Pair = (SocketAddr, SocketAddr);

fn pair(a: SocketAddr, b: SocketAddr) -> Pair {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The packet numbers of one TCP connection: the first and the last [`EACH_END`], and the
/// count of all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionPackets {
    first: Vec<u64>,
    /// The last packets after `first` filled, a ring once full (`next` is the oldest).
    last: Vec<u64>,
    next: usize,
    /// Packets of the connection seen.
    pub total: u64,
    first_ts: Timestamp,
    last_ts: Timestamp,
    /// FIN seen from the lower (bit 0) and the higher (bit 1) endpoint.
    fins: u8,
    rst: bool,
    /// A WebSocket event named the connection: kept until the end.
    websocket: bool,
}

impl ConnectionPackets {
    /// The numbers kept, in packet order: the first ones, then the last ones.
    #[must_use]
    pub fn numbers(&self) -> Vec<u64> {
        let mut out = self.first.clone();
        let (newer, older) = self.last.split_at(self.next.min(self.last.len()));
        out.extend_from_slice(older);
        out.extend_from_slice(newer);
        out
    }

    fn closed(&self) -> bool {
        self.rst || self.fins == 3
    }

    fn bytes(&self) -> usize {
        ENTRY_BYTES + 8 * (self.first.capacity() + self.last.capacity())
    }

    /// Whether the next [`ConnectionPackets::add`] allocates.
    fn would_grow(&self) -> bool {
        if self.first.len() < EACH_END {
            self.first.len() == self.first.capacity()
        } else {
            self.last.len() < EACH_END && self.last.len() == self.last.capacity()
        }
    }

    fn add(&mut self, number: u64, ts: Timestamp) {
        if self.total == 0 {
            self.first_ts = ts;
        }
        self.total += 1;
        self.last_ts = self.last_ts.max(ts);
        if self.first.len() < EACH_END {
            self.first.push(number);
        } else if self.last.len() < EACH_END {
            self.last.push(number);
        } else if let Some(slot) = self.last.get_mut(self.next) {
            *slot = number;
            self.next = (self.next + 1) % EACH_END;
        }
    }
}

/// Every TCP connection's packet numbers, bounded (see the module docs).
#[derive(Debug)]
pub struct PacketLists {
    /// The connections of each address pair, oldest first. Keyed by attacker-chosen
    /// addresses: seeded foldhash, as the flow table (several times faster than SipHash on
    /// this short key, looked up once per packet).
    flows: HashMap<Pair, Vec<ConnectionPackets>, foldhash::fast::RandomState>,
    bytes: usize,
    cap: usize,
    /// Connections not listed because the lists were full.
    given_up: u64,
    /// An open connection quiet this long is given up unless named.
    idle_ns: i64,
    packets: u64,
    now: Timestamp,
}

impl PacketLists {
    /// Empty lists holding at most `cap` bytes; an open connection quiet for `idle_ns` of
    /// packet time (the flow table's idle timeout) is given up a minute later.
    #[must_use]
    pub fn new(cap: usize, idle_ns: i64) -> Self {
        PacketLists {
            flows: HashMap::default(),
            bytes: 0,
            cap,
            given_up: 0,
            idle_ns: idle_ns.saturating_add(CLOSED_GRACE_NS),
            packets: 0,
            now: Timestamp::default(),
        }
    }

    /// The lists' size for the memory budget `memcap`, and the budget left for the engine.
    #[must_use]
    pub fn sized_for(memcap: Option<usize>) -> (usize, Option<usize>) {
        match memcap {
            None => (LISTS_MAX_BYTES, None),
            Some(m) => {
                let cap = (m / SHARE_OF_MEMCAP).min(LISTS_MAX_BYTES);
                (cap, Some(m - cap))
            }
        }
    }

    /// Lists `packet` (number `number`) under its TCP connection; anything else is ignored.
    pub fn push(&mut self, number: u64, ts: Timestamp, linktype: Linktype, data: &[u8]) {
        let packet = Packet {
            number,
            ts,
            linktype,
            data,
            orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
        };
        self.packets += 1;
        self.now = self.now.max(ts);
        if self.packets.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
        let Ok(seg) = crate::decode::decode(&packet) else {
            return;
        };
        let src = SocketAddr::new(seg.src_ip, seg.src_port);
        let dst = SocketAddr::new(seg.dst_ip, seg.dst_port);
        let key = pair(src, dst);
        let opens = seg.flags.syn && !seg.flags.ack;
        let gens = self.flows.entry(key).or_default();
        let start_new = match gens.last() {
            None => true,
            // A new connection on the same addresses once the last one ended.
            Some(g) => opens && g.closed(),
        };
        if start_new {
            if self.bytes.saturating_add(ENTRY_BYTES) > self.cap {
                self.given_up += 1;
                if gens.is_empty() {
                    self.flows.remove(&key);
                }
                return;
            }
            gens.push(ConnectionPackets::default());
            self.bytes += ENTRY_BYTES;
        }
        let Some(g) = gens.last_mut() else {
            return;
        };
        let before = g.bytes();
        if g.would_grow() && self.bytes.saturating_add(8 * EACH_END) > self.cap {
            // No room to grow: counted; the numbers kept stay as they are.
            g.total += 1;
            g.last_ts = g.last_ts.max(ts);
        } else {
            g.add(number, ts);
        }
        if seg.flags.fin {
            g.fins |= if src == key.0 { 1 } else { 2 };
        }
        g.rst |= seg.flags.rst;
        self.bytes = self.bytes + g.bytes() - before;
    }

    /// Takes what an event says: the connection of a WebSocket handshake or connection is
    /// kept until the end.
    pub fn note(&mut self, event: &Event) {
        let (client, server, from, to) = match event {
            Event::Handshake(r) => (r.client, r.server, r.ts, r.ts),
            Event::Connection(c) => (c.client, c.server, c.ts, c.end_ts),
            _ => return,
        };
        if let Some(g) = self.find_mut(client, server, from, to) {
            g.websocket = true;
        }
    }

    fn find_mut(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<&mut ConnectionPackets> {
        self.flows
            .get_mut(&pair(client, server))?
            .iter_mut()
            .rev()
            .find(|g| g.first_ts <= to && g.last_ts >= from)
    }

    /// The packets of the connection between `client` and `server` that was open from
    /// `from` to `to` (packet time), when it was listed.
    #[must_use]
    pub fn of(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<&ConnectionPackets> {
        self.flows
            .get(&pair(client, server))?
            .iter()
            .rev()
            .find(|g| g.first_ts <= to && g.last_ts >= from)
    }

    /// Gives up the connections no WebSocket event named that are over (closed and quiet
    /// for a minute, or quiet past the idle timeout).
    fn sweep(&mut self) {
        let now = self.now;
        let (grace, idle) = (CLOSED_GRACE_NS, self.idle_ns);
        let mut freed = 0;
        self.flows.retain(|_, gens| {
            gens.retain(|g| {
                let quiet = now.nanos_since(g.last_ts);
                let over = (g.closed() && quiet > grace) || quiet > idle;
                if over && !g.websocket {
                    freed += g.bytes();
                    false
                } else {
                    true
                }
            });
            !gens.is_empty()
        });
        self.bytes -= freed;
    }

    /// Bytes held (what the budget counts).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The most bytes they hold.
    #[must_use]
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Connections not listed because the lists were full.
    #[must_use]
    pub fn given_up(&self) -> u64 {
        self.given_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FileSource;
    use std::ops::ControlFlow;

    fn sample(name: &str) -> String {
        format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// Every packet of a capture, listed: each TCP connection's numbers are its packets
    /// (first and last [`EACH_END`]), found from either direction; a SYN after the end
    /// starts a new connection on the same addresses.
    #[test]
    fn each_connection_lists_its_packets_first_and_last() {
        let mut lists = PacketLists::new(LISTS_MAX_BYTES, i64::MAX / 2);
        let mut every: HashMap<Pair, Vec<u64>> = HashMap::new();
        let mut source = FileSource::open(&sample("close-codes.pcap")).unwrap();
        source.for_each_packet(|p| {
            lists.push(p.number, p.ts, p.linktype, p.data);
            if let Ok(seg) = crate::decode::decode(p) {
                let k = pair(
                    SocketAddr::new(seg.src_ip, seg.src_port),
                    SocketAddr::new(seg.dst_ip, seg.dst_port),
                );
                every.entry(k).or_default().push(p.number);
            }
            ControlFlow::Continue(())
        });
        assert!(every.len() >= 3);
        for (k, numbers) in &every {
            let got = lists
                .of(k.1, k.0, Timestamp(i64::MIN), Timestamp(i64::MAX))
                .unwrap();
            assert_eq!(got.total, numbers.len() as u64);
            assert_eq!(&got.numbers(), numbers, "{k:?}");
        }
        // A long connection: its first and last packets, in order.
        let mut c = ConnectionPackets::default();
        for n in 1..=200 {
            c.add(n, Timestamp(0));
        }
        let want: Vec<u64> = (1..=32).chain(169..=200).collect();
        assert_eq!(c.numbers(), want);
        assert_eq!(c.total, 200);
    }

    /// The lists are bounded by bytes (later connections are counted as not listed), take
    /// their bytes out of the memory budget, and give up a closed connection no WebSocket
    /// event named a minute of packet time after it ended.
    #[test]
    fn the_lists_are_bounded_and_give_up_what_no_event_named() {
        let mut source = FileSource::open(&sample("close-codes.pcap")).unwrap();
        let mut packets = Vec::new();
        source.for_each_packet(|p| {
            packets.push((p.number, p.ts, p.linktype, p.data.to_vec()));
            ControlFlow::Continue(())
        });
        let mut small = PacketLists::new(ENTRY_BYTES + 8 * EACH_END, i64::MAX / 2);
        for (n, ts, lt, d) in &packets {
            small.push(*n, *ts, *lt, d);
        }
        assert!(
            small.bytes() <= small.cap(),
            "{} > {}",
            small.bytes(),
            small.cap()
        );
        assert!(small.given_up() >= 2, "{}", small.given_up());
        let mib = 1024 * 1024;
        assert_eq!(PacketLists::sized_for(None), (LISTS_MAX_BYTES, None));
        assert_eq!(
            PacketLists::sized_for(Some(64 * mib)),
            (4 * mib, Some(60 * mib))
        );
        let mut lists = PacketLists::new(LISTS_MAX_BYTES, i64::MAX / 2);
        for (n, ts, lt, d) in &packets {
            lists.push(*n, *ts, *lt, d);
        }
        let flows = lists.flows.len();
        let held = lists.bytes();
        assert!(
            flows > 1
                && lists
                    .flows
                    .values()
                    .flatten()
                    .all(ConnectionPackets::closed)
        );
        let named = *lists.flows.keys().next().unwrap();
        for g in lists.flows.get_mut(&named).unwrap() {
            g.websocket = true;
        }
        // Two minutes of packet time later (undecodable packets advance the clock).
        let later = Timestamp(lists.now.0 + 2 * CLOSED_GRACE_NS);
        for i in 0..SWEEP_EVERY {
            lists.push(1_000_000 + i, later, Linktype::ETHERNET, &[]);
        }
        assert!(lists.flows.contains_key(&named), "named: kept");
        assert_eq!(lists.flows.len(), 1, "the others were given up");
        assert!(lists.bytes() < held);
    }
}
