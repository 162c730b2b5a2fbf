//! TCP connection identity and the bounded table of live connections.
//!
//! A [`FlowKey`] names a connection independent of direction; [`FlowTable`] holds one value
//! per live connection under two caps: a maximum count (when full, the least recently seen
//! eighth is evicted, so eviction costs O(1) amortised per insert) and an idle timeout measured
//! in capture time. Evicted values are handed back to the caller so nothing vanishes silently.
//!
//! The map is hashed with a seed drawn per table, so its iteration order differs between runs.
//! Nothing that leaves the table follows that order: connections that expire, are evicted or are
//! drained together come out least recently active first, ties broken by [`FlowKey`] order, so
//! the same capture gives the same output whatever the seed ([`FlowTable::with_seed`] lets tests
//! prove it).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::capture::{Linktype, Packet, Timestamp};
use crate::decode::{self, Segment};

/// A connection's endpoints in canonical order (`lo <= hi`), so both directions map alike.
///
/// Stored as bare address bits and ports in aligned words (40 bytes, not two 32-byte
/// `SocketAddr`s nor two 17-byte `IpAddr`s at odd offsets): the key sits in every slot of the
/// flow table, a flood fills hundreds of thousands of them, and every packet builds, hashes,
/// compares and copies one. An address is its 128 bits (an IPv4 address its 32) with a flag
/// for the family, so an IPv4 address and the IPv6 address of the same bits stay apart.
///
/// Ordered by (`lo_ip`, `hi_ip`, `lo_port`, `hi_port`) as `IpAddr`s order (every IPv4 address
/// before every IPv6 one): the tie-break that makes the order in which the table hands
/// connections back independent of the hasher's seed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    lo_ip: AddrBits,
    hi_ip: AddrBits,
    lo_port: u16,
    hi_port: u16,
    lo_v6: bool,
    hi_v6: bool,
}

/// An address's 128 bits as two words, most significant first (so the derived order is the
/// order of the bits, which is `Ipv4Addr`'s and `Ipv6Addr`'s own).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct AddrBits {
    high: u64,
    low: u64,
}

impl AddrBits {
    /// The bits of `ip` and whether it is IPv6.
    #[inline(always)]
    fn of(ip: IpAddr) -> (AddrBits, bool) {
        match ip {
            IpAddr::V4(v4) => (
                AddrBits {
                    high: 0,
                    low: u64::from(v4.to_bits()),
                },
                false,
            ),
            IpAddr::V6(v6) => {
                let bits = v6.to_bits();
                #[allow(clippy::cast_possible_truncation)]
                let low = bits as u64;
                (
                    AddrBits {
                        high: (bits >> 64) as u64,
                        low,
                    },
                    true,
                )
            }
        }
    }

    /// The address back.
    fn ip(self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from_bits(
                u128::from(self.high) << 64 | u128::from(self.low),
            ))
        } else {
            #[allow(clippy::cast_possible_truncation)]
            IpAddr::V4(Ipv4Addr::from_bits(self.low as u32))
        }
    }
}

impl Ord for FlowKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // IpAddr's order: the family first (V4 < V6), then the bits.
        (
            self.lo_v6,
            self.lo_ip,
            self.hi_v6,
            self.hi_ip,
            self.lo_port,
            self.hi_port,
        )
            .cmp(&(
                other.lo_v6,
                other.lo_ip,
                other.hi_v6,
                other.hi_ip,
                other.lo_port,
                other.hi_port,
            ))
    }
}

impl PartialOrd for FlowKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// As the fields would print as `IpAddr`s and ports.
impl std::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowKey")
            .field("lo_ip", &self.lo_ip.ip(self.lo_v6))
            .field("hi_ip", &self.hi_ip.ip(self.hi_v6))
            .field("lo_port", &self.lo_port)
            .field("hi_port", &self.hi_port)
            .finish()
    }
}

/// Hashes the key as one or a few words, not field by field: the key is hashed on every
/// packet. Equal keys hash alike (every field goes in). Two IPv4 endpoints (nearly every
/// key) are one 128-bit word: one round of the hasher.
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let v4 = |bits: AddrBits, port: u16| bits.low << 16 | u64::from(port);
        if !(self.lo_v6 || self.hi_v6) {
            state.write_u128(
                u128::from(v4(self.lo_ip, self.lo_port)) << 64
                    | u128::from(v4(self.hi_ip, self.hi_port)),
            );
            return;
        }
        for (bits, port, v6) in [
            (self.lo_ip, self.lo_port, self.lo_v6),
            (self.hi_ip, self.hi_port, self.hi_v6),
        ] {
            state.write_u128(u128::from(bits.high) << 64 | u128::from(bits.low));
            state.write_u32(u32::from(port) << 1 | u32::from(v6));
        }
    }
}

/// An IPv4 endpoint (its address's bits and its port) as one word that orders as
/// `(ip, port)` does.
#[inline(always)]
fn v4_endpoint(ip: u32, port: u16) -> u64 {
    (u64::from(ip) << 16) | u64::from(port)
}

/// A direction within a connection, relative to its [`FlowKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// From `lo` to `hi`.
    LoToHi,
    /// From `hi` to `lo`.
    HiToLo,
}

impl Side {
    /// Array index of this side.
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Side::LoToHi => 0,
            Side::HiToLo => 1,
        }
    }

    /// The other direction.
    #[must_use]
    pub fn reverse(self) -> Side {
        match self {
            Side::LoToHi => Side::HiToLo,
            Side::HiToLo => Side::LoToHi,
        }
    }
}

impl FlowKey {
    /// The key of a segment from `src` to `dst`, and the segment's direction.
    #[must_use]
    #[inline]
    pub fn new(src_ip: IpAddr, src_port: u16, dst_ip: IpAddr, dst_port: u16) -> (FlowKey, Side) {
        // IPv4 addresses order by their bits, so two IPv4 endpoints compare as two words
        // (the tuple comparison goes through `IpAddr`'s variants and octets on every packet),
        // and their key is built from those words without asking the variants again.
        if let (IpAddr::V4(src), IpAddr::V4(dst)) = (src_ip, dst_ip) {
            return FlowKey::of_v4(src.to_bits(), src_port, dst.to_bits(), dst_port);
        }
        let lo_to_hi = (src_ip, src_port) <= (dst_ip, dst_port);
        let (lo, hi, side) = if lo_to_hi {
            ((src_ip, src_port), (dst_ip, dst_port), Side::LoToHi)
        } else {
            ((dst_ip, dst_port), (src_ip, src_port), Side::HiToLo)
        };
        let ((lo_ip, lo_v6), (hi_ip, hi_v6)) = (AddrBits::of(lo.0), AddrBits::of(hi.0));
        let key = FlowKey {
            lo_ip,
            hi_ip,
            lo_port: lo.1,
            hi_port: hi.1,
            lo_v6,
            hi_v6,
        };
        (key, side)
    }

    /// [`FlowKey::new`] of two IPv4 endpoints given by their addresses' bits (what
    /// [`Ipv4Addr::to_bits`] gives): the decoder has them as words, not as `IpAddr`s.
    #[must_use]
    #[inline(always)]
    pub fn of_v4(src: u32, src_port: u16, dst: u32, dst_port: u16) -> (FlowKey, Side) {
        let (src_word, dst_word) = (v4_endpoint(src, src_port), v4_endpoint(dst, dst_port));
        let (lo, hi, side) = if src_word <= dst_word {
            ((src, src_port), (dst, dst_port), Side::LoToHi)
        } else {
            ((dst, dst_port), (src, src_port), Side::HiToLo)
        };
        let bits = |ip: u32| AddrBits {
            high: 0,
            low: u64::from(ip),
        };
        let key = FlowKey {
            lo_ip: bits(lo.0),
            hi_ip: bits(hi.0),
            lo_port: lo.1,
            hi_port: hi.1,
            lo_v6: false,
            hi_v6: false,
        };
        (key, side)
    }

    /// The smaller endpoint.
    #[must_use]
    pub fn lo(&self) -> SocketAddr {
        SocketAddr::new(self.lo_ip.ip(self.lo_v6), self.lo_port)
    }

    /// The larger endpoint.
    #[must_use]
    pub fn hi(&self) -> SocketAddr {
        SocketAddr::new(self.hi_ip.ip(self.hi_v6), self.hi_port)
    }

    /// The sending endpoint of `side`.
    #[must_use]
    pub fn source(&self, side: Side) -> SocketAddr {
        match side {
            Side::LoToHi => self.lo(),
            Side::HiToLo => self.hi(),
        }
    }
}

/// A decoded segment with the key of its connection and its direction in it.
pub(crate) struct Keyed<'a> {
    /// The segment.
    pub(crate) seg: Segment<'a>,
    /// Its connection.
    pub(crate) key: FlowKey,
    /// Its direction.
    pub(crate) side: Side,
}

/// [`decode::decode`] with the segment's [`FlowKey`]: on the fast path the key is built from the
/// address words as they were read from the header (the engine built it from the segment's
/// `IpAddr`s, read back from memory with their variants tested, on every packet).
///
/// # Errors
/// As [`decode::decode`].
#[inline(always)]
pub(crate) fn decode_keyed<'a>(packet: &Packet<'a>) -> Result<Keyed<'a>, decode::Skip> {
    // `decode`'s dispatch repeated rather than shared: a shared one returning the segment
    // with `Option` of the address words cost ~44 instructions a packet more (b30 one thread
    // 104.37 M -> 106.59 M, session 10), the segment copied through the wider `Result`.
    if packet.linktype == Linktype::ETHERNET {
        let data = packet.data;
        if let Some((seg, [src, dst])) = data
            .get(14..)
            .and_then(|ip| decode::plain_ipv4_tcp_addrs(data, ip))
        {
            let (key, side) = FlowKey::of_v4(src, seg.src_port, dst, seg.dst_port);
            return Ok(Keyed { seg, key, side });
        }
    }
    decode_other_keyed(packet)
}

/// [`decode_keyed`] of every packet the decoder's fast path does not take.
#[inline(never)]
fn decode_other_keyed<'a>(packet: &Packet<'a>) -> Result<Keyed<'a>, decode::Skip> {
    let seg = decode::decode_other(packet)?;
    let (key, side) = FlowKey::new(seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port);
    Ok(Keyed { seg, key, side })
}

/// Caps of a [`FlowTable`].
#[derive(Clone, Copy, Debug)]
pub struct FlowLimits {
    /// Most connections tracked at once.
    pub max_flows: usize,
    /// A connection silent for this long (capture time, nanoseconds) is dropped.
    pub idle_timeout_ns: i64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_flows: 200_000,
            idle_timeout_ns: 300 * 1_000_000_000,
        }
    }
}

/// Why a value left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// The table was full.
    Capacity,
    /// Idle for longer than the timeout.
    Idle,
    /// The memory budget was full (the engine's emergency mode).
    Memcap,
}

struct Entry<T> {
    last_seen: Timestamp,
    value: T,
}

/// Live connections with their per-connection state `T`.
pub struct FlowTable<T> {
    limits: FlowLimits,
    /// Keyed by attacker-chosen addresses: seeded foldhash (see Cargo.toml for why not FxHash).
    map: HashMap<FlowKey, Entry<T>, SeedableRandomState>,
    next_sweep: Option<Timestamp>,
}

/// Orders connections leaving the table together: least recently active first, then by key.
fn leaving_order<T>((key, entry): &(FlowKey, Entry<T>)) -> (Timestamp, FlowKey) {
    (entry.last_seen, *key)
}

impl<T> FlowTable<T> {
    /// An empty table hashed with a random seed (what untrusted input needs).
    #[must_use]
    pub fn new(limits: FlowLimits) -> Self {
        Self::with_hasher(limits, SeedableRandomState::random())
    }

    /// An empty table hashed with `seed`: for tests that show the output does not depend on
    /// the hasher (a fixed seed must never be used on untrusted input).
    #[must_use]
    pub fn with_seed(limits: FlowLimits, seed: u64) -> Self {
        Self::with_hasher(
            limits,
            SeedableRandomState::with_seed(seed, SharedSeed::global_fixed()),
        )
    }

    fn with_hasher(limits: FlowLimits, hasher: SeedableRandomState) -> Self {
        FlowTable {
            limits,
            map: HashMap::with_hasher(hasher),
            next_sweep: None,
        }
    }

    /// Number of live connections.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every live connection's value (for memory accounting).
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.map.values().map(|e| &e.value)
    }

    /// Whether the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value for `key`, touched at `now`.
    pub fn get_mut(&mut self, key: &FlowKey, now: Timestamp) -> Option<&mut T> {
        self.map.get_mut(key).map(|e| {
            e.last_seen = e.last_seen.max(now);
            &mut e.value
        })
    }

    /// The value for `key`, without counting this as activity.
    pub fn peek_mut(&mut self, key: &FlowKey) -> Option<&mut T> {
        self.map.get_mut(key).map(|e| &mut e.value)
    }

    /// Inserts a new connection, first making room if the table is full.
    pub fn insert(
        &mut self,
        key: FlowKey,
        value: T,
        now: Timestamp,
        evicted: &mut Vec<(FlowKey, T, Eviction)>,
    ) -> &mut T {
        if self.map.len() >= self.limits.max_flows.max(1) && !self.map.contains_key(&key) {
            self.evict_oldest(evicted);
        }
        &mut self
            .map
            .entry(key)
            .or_insert(Entry {
                last_seen: now,
                value,
            })
            .value
    }

    /// Removes a connection.
    pub fn remove(&mut self, key: &FlowKey) -> Option<T> {
        self.map.remove(key).map(|e| e.value)
    }

    /// Drops connections idle past the timeout, least recently active first. Cheap to call per
    /// packet: it scans the table at most once per quarter timeout of capture time.
    pub fn expire(&mut self, now: Timestamp, evicted: &mut Vec<(FlowKey, T, Eviction)>) {
        self.expire_timed(now, evicted, &mut Vec::new());
    }

    /// As [`FlowTable::expire`], with the last activity of each connection it drops pushed
    /// to `last_seen` in the same order: what merging the leaving order of several tables
    /// (flow-sharded workers) needs.
    #[inline(always)]
    pub fn expire_timed(
        &mut self,
        now: Timestamp,
        evicted: &mut Vec<(FlowKey, T, Eviction)>,
        last_seen: &mut Vec<Timestamp>,
    ) {
        // The check runs on every packet, inlined; the sweep once per quarter timeout.
        let due = self.next_sweep.get_or_insert(now);
        if now < *due {
            return;
        }
        self.sweep(now, evicted, last_seen);
    }

    /// The sweep [`FlowTable::expire_timed`] makes when it is due.
    #[inline(never)]
    fn sweep(
        &mut self,
        now: Timestamp,
        evicted: &mut Vec<(FlowKey, T, Eviction)>,
        last_seen: &mut Vec<Timestamp>,
    ) {
        let due = self.next_sweep.get_or_insert(now);
        let step = (self.limits.idle_timeout_ns / 4).max(1);
        *due = Timestamp(now.0.saturating_add(step));
        let cutoff = Timestamp(now.0.saturating_sub(self.limits.idle_timeout_ns));
        let mut stale: Vec<(FlowKey, Entry<T>)> =
            self.map.extract_if(|_, e| e.last_seen < cutoff).collect();
        stale.sort_unstable_by_key(leaving_order);
        last_seen.extend(stale.iter().map(|(_, e)| e.last_seen));
        evicted.extend(stale.into_iter().map(|(k, e)| (k, e.value, Eviction::Idle)));
    }

    /// The most connections the table holds before it evicts (`--max-flows`); flow-sharded
    /// workers lower it so that their tables together stay within the one global cap.
    pub fn set_max_flows(&mut self, max_flows: usize) {
        self.limits.max_flows = max_flows;
    }

    /// Evicts the least recently seen eighth of the table (at least one connection), the
    /// oldest first.
    fn evict_oldest(&mut self, evicted: &mut Vec<(FlowKey, T, Eviction)>) {
        let n = self.map.len() / 8;
        self.evict_least_recent(n, Eviction::Capacity, evicted);
    }

    /// Evicts the `n` least recently seen connections (at least one), the oldest first, ties
    /// by key, handing them back with `why`. O(table) per call.
    pub fn evict_least_recent(
        &mut self,
        n: usize,
        why: Eviction,
        evicted: &mut Vec<(FlowKey, T, Eviction)>,
    ) {
        // Find the cut-off age from the timestamps alone (8 bytes per connection, not a copy
        // of every key), then take out what is older in one pass.
        let mut ages: Vec<Timestamp> = self.map.values().map(|e| e.last_seen).collect();
        let n = n.max(1).min(ages.len());
        if n == 0 {
            return;
        }
        let (_, &mut cutoff, _) = ages.select_nth_unstable(n - 1);
        drop(ages);
        // Connections exactly at the cut-off fill up to n: the smallest keys, not the first in
        // table order, so which ones go does not depend on the hasher's seed.
        let mut tied: Vec<FlowKey> = Vec::new();
        let mut older = 0usize;
        for (k, e) in &self.map {
            if e.last_seen < cutoff {
                older += 1;
            } else if e.last_seen == cutoff {
                tied.push(*k);
            }
        }
        let take = n.saturating_sub(older).min(tied.len());
        if take < tied.len() {
            tied.select_nth_unstable(take);
        }
        tied.truncate(take);
        tied.sort_unstable();
        let mut out: Vec<(FlowKey, Entry<T>)> = self
            .map
            .extract_if(|k, e| {
                e.last_seen < cutoff || (e.last_seen == cutoff && tied.binary_search(k).is_ok())
            })
            .collect();
        out.sort_unstable_by_key(leaving_order);
        evicted.extend(out.into_iter().map(|(k, e)| (k, e.value, why)));
    }

    /// Removes every connection (end of capture), least recently active first.
    pub fn drain(&mut self) -> Vec<(FlowKey, T)> {
        self.drain_timed()
            .into_iter()
            .map(|(_, k, v)| (k, v))
            .collect()
    }

    /// As [`FlowTable::drain`], with each connection's last activity (its leaving order is
    /// `(last_seen, key)`).
    pub fn drain_timed(&mut self) -> Vec<(Timestamp, FlowKey, T)> {
        let mut all: Vec<(FlowKey, Entry<T>)> = self.map.drain().collect();
        all.sort_unstable_by_key(leaving_order);
        all.into_iter()
            .map(|(k, e)| (e.last_seen, k, e.value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key the fast path builds from the address words is the key of the segment's
    /// `IpAddr`s, whichever way the endpoints order (addresses, then ports), and so is the
    /// slow path's (IPv6 here).
    #[test]
    fn keyed_decode_gives_the_segments_flow_key() {
        use etherparse::PacketBuilder;
        let cases: [([u8; 4], u16, [u8; 4], u16); 5] = [
            ([10, 0, 0, 1], 40000, [10, 0, 0, 2], 8080),
            ([10, 0, 0, 2], 8080, [10, 0, 0, 1], 40000),
            ([10, 0, 0, 1], 8080, [10, 0, 0, 1], 40000),
            ([10, 0, 0, 1], 40000, [10, 0, 0, 1], 8080),
            ([255, 1, 2, 3], 1, [1, 2, 3, 255], 65535),
        ];
        let check = |data: &[u8], fast: bool| {
            let packet = Packet {
                number: 1,
                ts: Timestamp(0),
                linktype: Linktype::ETHERNET,
                data,
                orig_len: u32::try_from(data.len()).unwrap(),
            };
            let keyed = decode_keyed(&packet).unwrap();
            let seg = decode::decode(&packet).unwrap();
            assert_eq!(keyed.seg, seg);
            let (key, side) = FlowKey::new(seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port);
            assert!(keyed.key == key && keyed.side == side, "{seg:?}");
            assert_eq!(
                decode::plain_ipv4_tcp_addrs(data, &data[14..]).is_some(),
                fast
            );
        };
        for (src, sport, dst, dport) in cases {
            let mut data = Vec::new();
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4(src, dst, 64)
                .tcp(sport, dport, 7, 65535)
                .write(&mut data, b"abc")
                .unwrap();
            check(&data, true);
            let mut data = Vec::new();
            let v6 = |a: [u8; 4]| {
                let mut b = [0u8; 16];
                b[12..].copy_from_slice(&a);
                b
            };
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv6(v6(src), v6(dst), 64)
                .tcp(sport, dport, 7, 65535)
                .write(&mut data, b"abc")
                .unwrap();
            check(&data, false);
        }
    }

    fn key(port: u16) -> FlowKey {
        FlowKey::new(
            "10.0.0.1".parse().unwrap(),
            port,
            "10.0.0.2".parse().unwrap(),
            80,
        )
        .0
    }

    #[test]
    fn both_directions_share_a_key() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let (k1, s1) = FlowKey::new(a, 5000, b, 80);
        let (k2, s2) = FlowKey::new(b, 80, a, 5000);
        assert_eq!(k1, k2);
        assert_eq!(s1.reverse(), s2);
    }

    #[test]
    fn ipv4_keys_order_endpoints_as_the_tuples_do() {
        let ips: Vec<IpAddr> = ["0.0.0.0", "9.255.0.1", "10.0.0.1", "10.0.0.2", "10.0.1.0"]
            .iter()
            .chain(&["128.0.0.0", "255.255.255.255", "::1", "::ffff:10.0.0.1"])
            .map(|s| s.parse().unwrap())
            .collect();
        let ports = [0u16, 1, 80, 255, 256, 5000, 65_535];
        for &a in &ips {
            for &b in &ips {
                for &pa in &ports {
                    for &pb in &ports {
                        let (key, side) = FlowKey::new(a, pa, b, pb);
                        let expected = if (a, pa) <= (b, pb) {
                            Side::LoToHi
                        } else {
                            Side::HiToLo
                        };
                        assert_eq!(side, expected, "{a}:{pa} {b}:{pb}");
                        assert_eq!(key, FlowKey::new(b, pb, a, pa).0);
                    }
                }
            }
        }
    }

    #[test]
    fn keys_order_and_print_as_their_addresses_and_ports_do() {
        // The compact key must keep the order of (lo_ip, hi_ip, lo_port, hi_port) as
        // `IpAddr`s (IPv4 before IPv6, ::a.b.c.d apart from a.b.c.d): the tie-break of the
        // table's leaving order.
        let ips: Vec<IpAddr> = ["0.0.0.0", "0.0.0.1", "10.0.0.1", "255.255.255.255"]
            .iter()
            .chain(&[
                "::",
                "::1",
                "::10.0.0.1",
                "::ffff:10.0.0.1",
                "fe80::1",
                "ffff::",
            ])
            .map(|s| s.parse().unwrap())
            .collect();
        let ports = [0u16, 80, 65_535];
        let mut keys = Vec::new();
        for &a in &ips {
            for &b in &ips {
                for &pa in &ports {
                    for &pb in &ports {
                        let (key, _) = FlowKey::new(a, pa, b, pb);
                        let (lo, hi) = if (a, pa) <= (b, pb) {
                            ((a, pa), (b, pb))
                        } else {
                            ((b, pb), (a, pa))
                        };
                        assert_eq!((key.lo(), key.hi()), (lo.into(), hi.into()));
                        assert_eq!(
                            format!("{key:?}"),
                            format!(
                                "FlowKey {{ lo_ip: {:?}, hi_ip: {:?}, lo_port: {}, hi_port: {} }}",
                                lo.0, hi.0, lo.1, hi.1
                            )
                        );
                        keys.push((key, (lo.0, hi.0, lo.1, hi.1)));
                    }
                }
            }
        }
        for (k1, t1) in &keys {
            for (k2, t2) in keys.iter().step_by(7) {
                assert_eq!(k1.cmp(k2), t1.cmp(t2), "{k1:?} {k2:?}");
                assert_eq!(k1 == k2, t1 == t2);
            }
        }
    }

    #[test]
    fn full_table_evicts_the_oldest() {
        let mut t = FlowTable::new(FlowLimits {
            max_flows: 16,
            idle_timeout_ns: i64::MAX,
        });
        let mut out = Vec::new();
        for p in 0..16u16 {
            t.insert(key(p), p, Timestamp(i64::from(p)), &mut out);
        }
        assert!(out.is_empty());
        t.insert(key(100), 100, Timestamp(100), &mut out);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|(_, v, why)| *v < 2 && *why == Eviction::Capacity));
        assert_eq!(t.len(), 15);
    }

    #[test]
    fn idle_connections_expire() {
        let mut t = FlowTable::new(FlowLimits {
            max_flows: 100,
            idle_timeout_ns: 1000,
        });
        let mut out = Vec::new();
        t.insert(key(1), 1, Timestamp(0), &mut out);
        t.expire(Timestamp(0), &mut out);
        t.insert(key(2), 2, Timestamp(900), &mut out);
        t.expire(Timestamp(1500), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, 1);
        assert_eq!(out[0].2, Eviction::Idle);
    }

    /// Keys of every port in `ports`, all last seen at the same instant: ties everywhere.
    fn tied_table(seed: u64, max_flows: usize, ports: std::ops::Range<u16>) -> FlowTable<u16> {
        let mut t = FlowTable::with_seed(
            FlowLimits {
                max_flows,
                idle_timeout_ns: 1000,
            },
            seed,
        );
        let mut out = Vec::new();
        for p in ports {
            t.insert(key(p), p, Timestamp(0), &mut out);
        }
        assert!(out.is_empty());
        t
    }

    fn values(out: &[(FlowKey, u16, Eviction)]) -> Vec<u16> {
        out.iter().map(|(_, v, _)| *v).collect()
    }

    #[test]
    fn connections_leaving_together_come_out_in_key_order_whatever_the_seed() {
        // Enough connections that two seeds almost surely iterate them differently.
        let sorted: Vec<u16> = (1000..1064).collect();
        for seed in [0, 1, 2, 0xdead_beef, u64::MAX] {
            // Idle expiry: all 64 go stale in the same sweep.
            let mut t = tied_table(seed, 1000, 1000..1064);
            let mut out = Vec::new();
            t.expire(Timestamp(0), &mut out);
            t.expire(Timestamp(5000), &mut out);
            assert_eq!(values(&out), sorted, "seed {seed}");
            assert!(out.iter().all(|(_, _, why)| *why == Eviction::Idle));

            // Capacity: the eighth evicted is chosen among ties by key, then ordered.
            let mut t = tied_table(seed, 64, 1000..1064);
            let mut out = Vec::new();
            t.insert(key(5), 5, Timestamp(1), &mut out);
            assert_eq!(
                values(&out),
                (1000..1008).collect::<Vec<_>>(),
                "seed {seed}"
            );

            // End of capture: everything, least recently active first, ties by key.
            let mut t = tied_table(seed, 1000, 1000..1064);
            t.get_mut(&key(1001), Timestamp(7));
            let drained: Vec<u16> = t.drain().into_iter().map(|(_, v)| v).collect();
            let mut expected: Vec<u16> = (1000..1064).filter(|p| *p != 1001).collect();
            expected.push(1001);
            assert_eq!(drained, expected, "seed {seed}");
        }
    }
}
