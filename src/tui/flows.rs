//! Which packets belong to which TCP connection, so the hex view of a WebSocket connection
//! shows any of its packets (bare ACKs, FINs, retransmissions), not only those its records
//! cite. The reader thread hands every packet it reads to [`PacketLists::push`] and every
//! event to [`PacketLists::note`]; the UI looks a connection's packet numbers up with
//! [`PacketLists::of`] and reads the bytes again by number (from the file by offset, from
//! merged files, from the ring of recent packets).
//!
//! Per TCP connection (a "generation" of an address pair: a SYN after a FIN or RST starts a
//! new one) it keeps every packet number in order, compactly (each the varint of its distance
//! from the previous one: one or two bytes a packet), the last [`EACH_END`] numbers apart, and
//! how many there were, so the hex view finds the packet at any position of the connection.
//! Bounded by bytes ([`LISTS_MAX_BYTES`], and a sixteenth of `--memcap`, which the engine is
//! given that much less of): when full, a connection's list of every number stops where it is
//! (the positions between it and the last ones are a [`Gap`], which the hex view finds by
//! scanning the capture between the two packets that bound it), and later connections are not
//! listed at all (counted, and their hex view says so). The lists of connections no WebSocket event named are given
//! up once the connection is closed and quiet for a minute of packet time, or quiet for the
//! flow table's idle timeout and a minute more (the engine has ended them by then).
//!
//! Only the TUI's reader builds this: the line output's per-packet path never sees it. Plain
//! data, no I/O; time is packet time.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::capture::{Linktype, Packet, Timestamp};
use crate::event::Event;

/// Packets of a connection kept at its end whatever the budget (the hex view's first page
/// shows the first and the last this many).
pub const EACH_END: usize = 32;
/// Most bytes the packet lists take.
pub const LISTS_MAX_BYTES: usize = 16 * 1024 * 1024;
/// The share of `--memcap` the lists take at most.
const SHARE_OF_MEMCAP: usize = 16;

/// A TUI store's size out of the memory budget `memcap`: `max` bytes, or `1/share` of the
/// budget when that is less; and the budget left for the engine (`None`: no budget).
pub(crate) fn carve_from_memcap(
    memcap: Option<usize>,
    max: usize,
    share: usize,
) -> (usize, Option<usize>) {
    match memcap {
        None => (max, None),
        Some(m) => {
            let cap = (m / share.max(1)).min(max);
            (cap, Some(m - cap))
        }
    }
}
/// Bytes a listed connection costs besides its packet numbers (the struct, its map slot).
const ENTRY_BYTES: usize = 192;
/// Bytes the list of every packet number grows by at least (it grows by half of itself).
const EVERY_GROWTH_BYTES: usize = 64;
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

/// Appends `n` as a LEB128 varint (7 bits a byte, low first; a packet's distance from the
/// previous one of its connection is mostly one or two bytes).
fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The varints of `bytes` in order (a truncated last one is dropped).
fn varints(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let mut n = 0u64;
        let mut shift = 0u32;
        loop {
            let b = *bytes.get(at)?;
            at += 1;
            n |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Some(n);
            }
            shift += 7;
        }
    })
}

/// The packet numbers of one TCP connection by position (0: its first packet): every one in
/// order while the lists had room, and the last [`EACH_END`] whatever happens, with the count
/// of all. What lies between the listed start and the last ones is a [`Gap`]: found again by
/// scanning the capture between the packets that bound it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionPackets {
    /// Every packet number from the first on, each as the varint of its distance from the
    /// previous one (the first from 0): `every_count` of them.
    every: Vec<u8>,
    every_count: u64,
    every_prev: u64,
    /// The lists had no room for `every` to grow: later numbers are not in it.
    every_cut: bool,
    /// The last packets, a ring once full (`next` is the oldest).
    last: Vec<u64>,
    next: usize,
    /// The last ring had no room to be allocated: positions past `every` are not known.
    lost: bool,
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

/// Positions of a connection's packets the lists do not hold: those numbered after `after`
/// and before `before` that belong to the connection, the first of them at position
/// `first`; `count` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The number of the packet before the gap (listed).
    pub after: u64,
    /// The number of the packet after it (the oldest of the last ones kept).
    pub before: u64,
    /// The position of the gap's first packet in the connection.
    pub first: u64,
    /// Packets in the gap.
    pub count: u64,
}

/// What the lists know of the packets at some positions of a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// (position, packet number) of those listed, in order.
    pub known: Vec<(u64, u64)>,
    /// Positions asked for that lie in the unlisted middle, if any.
    pub gap: Option<Gap>,
}

impl ConnectionPackets {
    /// The numbers of the first and the last [`EACH_END`] packets, in packet order.
    #[must_use]
    pub fn numbers(&self) -> Vec<u64> {
        let ends = EACH_END as u64;
        let mut out: Vec<u64> = self
            .window(0, ends)
            .known
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        let from = self.total.saturating_sub(ends).max(ends);
        out.extend(
            self.window(from, self.total)
                .known
                .into_iter()
                .map(|(_, n)| n),
        );
        out
    }

    /// Every packet of the connection is listed by position.
    #[must_use]
    pub fn whole(&self) -> bool {
        self.every_count == self.total
    }

    /// What is known of positions `from..to` (clamped to the connection's packets).
    #[must_use]
    pub fn window(&self, from: u64, to: u64) -> Window {
        let to = to.min(self.total);
        let mut out = Window::default();
        if from >= to {
            return out;
        }
        // Listed from the start: [0, head); kept at the end: [tail, total).
        let head = self.every_count;
        let kept_last = if self.lost {
            0
        } else {
            (self.last.len() as u64).min(self.total.saturating_sub(head))
        };
        let tail = self.total - kept_last;
        let mut prev = 0u64;
        // Decoded from the start: a window costs a pass over the list (a few ms for a
        // connection of millions of packets), only when the hex view asks.
        for (pos, delta) in varints(&self.every).enumerate() {
            let pos = pos as u64;
            prev = prev.saturating_add(delta);
            if pos >= to {
                break;
            }
            if pos >= from {
                out.known.push((pos, prev));
            }
        }
        // The ring in order: from `next` (the oldest) on, then the start.
        let (newer, older) = self.last.split_at(self.next.min(self.last.len()));
        let ring: Vec<u64> = older.iter().chain(newer).copied().collect();
        let skip = ring.len() as u64 - kept_last;
        for pos in tail.max(from)..to {
            if let Some(&n) = usize::try_from(pos - tail + skip)
                .ok()
                .and_then(|i| ring.get(i))
            {
                out.known.push((pos, n));
            }
        }
        if from < tail && to > head {
            let after = if head == 0 { 0 } else { self.every_prev };
            let before = if kept_last > 0 {
                ring.get(usize::try_from(skip).unwrap_or(usize::MAX))
                    .copied()
                    .unwrap_or(u64::MAX)
            } else {
                u64::MAX
            };
            out.gap = Some(Gap {
                after,
                before,
                first: head,
                count: tail - head,
            });
        }
        out
    }

    /// The connection's first and last packet times.
    #[must_use]
    pub fn span(&self) -> (Timestamp, Timestamp) {
        (self.first_ts, self.last_ts)
    }

    fn closed(&self) -> bool {
        self.rst || self.fins == 3
    }

    fn bytes(&self) -> usize {
        ENTRY_BYTES + self.every.capacity() + 8 * self.last.capacity()
    }

    /// Lists packet `number`, allocating at most `spare` bytes: the last ones are kept
    /// first (a fixed ring); past the room the list of every number stops (positions after
    /// it are then a gap), or, when not even the ring fits, positions past it are lost.
    fn add(&mut self, number: u64, ts: Timestamp, mut spare: usize) {
        if self.total == 0 {
            self.first_ts = ts;
        }
        self.total += 1;
        self.last_ts = self.last_ts.max(ts);
        // The ring holds what `every` may not: wanted once past the first ones, or cut.
        let wants_ring = self.total > EACH_END as u64 || self.every_cut;
        if wants_ring && !self.lost {
            if self.last.capacity() == 0 {
                if spare < 8 * EACH_END {
                    self.lost = true;
                } else {
                    self.last.reserve_exact(EACH_END);
                    spare -= 8 * self.last.capacity();
                }
            }
            if self.last.len() < EACH_END && self.last.capacity() > 0 {
                self.last.push(number);
            } else if let Some(slot) = self.last.get_mut(self.next) {
                *slot = number;
                self.next = (self.next + 1) % EACH_END;
            }
        }
        if self.every_cut {
            return;
        }
        // A varint takes at most 10 bytes.
        if self.every.capacity() - self.every.len() < 10 {
            let grow = (self.every.capacity() / 2).max(EVERY_GROWTH_BYTES);
            if spare < grow {
                self.every_cut = true;
                return;
            }
            self.every.reserve_exact(grow);
        }
        push_varint(&mut self.every, number.saturating_sub(self.every_prev));
        self.every_prev = number;
        self.every_count += 1;
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
    /// Connections whose list of every number stopped because the lists were full.
    cut: u64,
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
            cut: 0,
            idle_ns: idle_ns.saturating_add(CLOSED_GRACE_NS),
            packets: 0,
            now: Timestamp::default(),
        }
    }

    /// The lists' size for the memory budget `memcap`, and the budget left for the engine.
    #[must_use]
    pub fn sized_for(memcap: Option<usize>) -> (usize, Option<usize>) {
        carve_from_memcap(memcap, LISTS_MAX_BYTES, SHARE_OF_MEMCAP)
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
        let (before, was_cut) = (g.bytes(), g.every_cut);
        g.add(number, ts, self.cap.saturating_sub(self.bytes));
        self.cut += u64::from(g.every_cut && !was_cut);
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

    /// Connections whose list of every packet number stopped because the lists were full.
    #[must_use]
    pub fn cut(&self) -> u64 {
        self.cut
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
            c.add(n * 3, Timestamp(0), usize::MAX);
        }
        let want: Vec<u64> = (1..=32).chain(169..=200).map(|n| n * 3).collect();
        assert_eq!(c.numbers(), want);
        assert_eq!(c.total, 200);
    }

    /// Any position of a long connection is listed while there is room; past the room the
    /// list stops and the positions between it and the last ones are a gap bounded by the
    /// packets on either side; without room for the last ones, the gap runs to the end.
    #[test]
    fn any_position_is_listed_or_a_gap_bounded_by_listed_packets() {
        let numbers: Vec<u64> = (0..5_000u64).map(|i| 10 + i * i % 7 + i * 300).collect();
        let mut whole = ConnectionPackets::default();
        for &n in &numbers {
            whole.add(n, Timestamp(0), usize::MAX);
        }
        assert!(whole.whole());
        // About two bytes a packet (distances of ~300).
        assert!(whole.bytes() < ENTRY_BYTES + 8 * EACH_END + 3 * numbers.len());
        let w = whole.window(2_500, 2_564);
        assert_eq!(w.gap, None);
        let want: Vec<(u64, u64)> = (2_500..2_564).map(|p| (p, numbers[p as usize])).collect();
        assert_eq!(w.known, want);
        assert_eq!(
            whole.window(4_990, 6_000).known.len(),
            10,
            "clamped to the end"
        );
        assert!(whole.window(6_000, 7_000).known.is_empty());
        // Room for about 100 numbers beyond the ring: a list cut there.
        let mut cut = ConnectionPackets::default();
        let mut spare = 8 * EACH_END + 200;
        for &n in &numbers {
            let before = cut.bytes();
            cut.add(n, Timestamp(0), spare);
            spare -= cut.bytes() - before;
        }
        assert!(!cut.whole() && cut.every_cut);
        let head = cut.every_count;
        assert!((64..200).contains(&head), "{head}");
        let w = cut.window(0, 5_000);
        let gap = w.gap.unwrap();
        assert_eq!(
            gap,
            Gap {
                after: numbers[head as usize - 1],
                before: numbers[5_000 - EACH_END],
                first: head,
                count: 5_000 - EACH_END as u64 - head,
            }
        );
        let known: Vec<(u64, u64)> = (0..head)
            .chain(5_000 - EACH_END as u64..5_000)
            .map(|p| (p, numbers[p as usize]))
            .collect();
        assert_eq!(w.known, known);
        assert_eq!(
            cut.numbers(),
            whole.numbers(),
            "the ends are kept whatever the room"
        );
        let inside = cut.window(1_000, 1_064);
        assert!(inside.known.is_empty() && inside.gap == Some(gap));
        assert_eq!(cut.window(0, 10).gap, None);
        // No room for the ring either: the positions past the list run to the end.
        let mut lost = ConnectionPackets::default();
        for &n in &numbers {
            lost.add(n, Timestamp(0), if n < 5_000 { usize::MAX } else { 0 });
        }
        let gap = lost.window(0, 5_000).gap.unwrap();
        assert_eq!(gap.before, u64::MAX);
        assert_eq!(gap.first + gap.count, 5_000);
        let mut bytes = Vec::new();
        for n in [0, 1, 127, 128, 300, u64::MAX] {
            push_varint(&mut bytes, n);
        }
        assert_eq!(
            varints(&bytes).collect::<Vec<_>>(),
            vec![0, 1, 127, 128, 300, u64::MAX]
        );
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
        let mut small = PacketLists::new(ENTRY_BYTES + 8 * EACH_END + 64, i64::MAX / 2);
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
