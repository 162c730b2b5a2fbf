//! TCP connection identity and the bounded table of live connections.
//!
//! A [`FlowKey`] names a connection independent of direction; [`FlowTable`] holds one value
//! per live connection under two caps: a maximum count (when full, the least recently seen
//! eighth is evicted, so eviction costs O(1) amortised per insert) and an idle timeout measured
//! in capture time. Evicted values are handed back to the caller so nothing vanishes silently.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use foldhash::fast::RandomState;
use std::net::{IpAddr, SocketAddr};

use crate::capture::Timestamp;

/// A connection's endpoints in canonical order (`lo <= hi`), so both directions map alike.
///
/// Stored as bare addresses and ports (38 bytes, not two 32-byte `SocketAddr`s): the key sits
/// in every slot of the flow table, and a flood fills hundreds of thousands of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    lo_ip: IpAddr,
    hi_ip: IpAddr,
    lo_port: u16,
    hi_port: u16,
}

/// Hashes each endpoint as one or two words, not field by field: the key is hashed on every
/// packet. Equal keys hash alike (addresses and ports are all that `FlowKey::new` sets).
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for (ip, port) in [(self.lo_ip, self.lo_port), (self.hi_ip, self.hi_port)] {
            match ip {
                IpAddr::V4(ip) => {
                    state.write_u64((u64::from(ip.to_bits()) << 16) | u64::from(port))
                }
                IpAddr::V6(ip) => {
                    state.write_u128(ip.to_bits());
                    state.write_u16(port);
                }
            }
        }
    }
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
    pub fn new(src_ip: IpAddr, src_port: u16, dst_ip: IpAddr, dst_port: u16) -> (FlowKey, Side) {
        if (src_ip, src_port) <= (dst_ip, dst_port) {
            let key = FlowKey {
                lo_ip: src_ip,
                hi_ip: dst_ip,
                lo_port: src_port,
                hi_port: dst_port,
            };
            (key, Side::LoToHi)
        } else {
            let key = FlowKey {
                lo_ip: dst_ip,
                hi_ip: src_ip,
                lo_port: dst_port,
                hi_port: src_port,
            };
            (key, Side::HiToLo)
        }
    }

    /// The smaller endpoint.
    #[must_use]
    pub fn lo(&self) -> SocketAddr {
        SocketAddr::new(self.lo_ip, self.lo_port)
    }

    /// The larger endpoint.
    #[must_use]
    pub fn hi(&self) -> SocketAddr {
        SocketAddr::new(self.hi_ip, self.hi_port)
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

fn ages_below<T>(map: &HashMap<FlowKey, Entry<T>, RandomState>, cutoff: Timestamp) -> usize {
    map.values().filter(|e| e.last_seen < cutoff).count()
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
}

struct Entry<T> {
    last_seen: Timestamp,
    value: T,
}

/// Live connections with their per-connection state `T`.
pub struct FlowTable<T> {
    limits: FlowLimits,
    /// Keyed by attacker-chosen addresses: seeded foldhash (see Cargo.toml for why not FxHash).
    map: HashMap<FlowKey, Entry<T>, RandomState>,
    next_sweep: Option<Timestamp>,
}

impl<T> FlowTable<T> {
    /// An empty table.
    #[must_use]
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            limits,
            map: HashMap::with_hasher(RandomState::default()),
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

    /// Drops connections idle past the timeout. Cheap to call per packet: it scans the
    /// table at most once per quarter timeout of capture time.
    pub fn expire(&mut self, now: Timestamp, evicted: &mut Vec<(FlowKey, T, Eviction)>) {
        let due = self.next_sweep.get_or_insert(now);
        if now < *due {
            return;
        }
        let step = (self.limits.idle_timeout_ns / 4).max(1);
        *due = Timestamp(now.0.saturating_add(step));
        let cutoff = Timestamp(now.0.saturating_sub(self.limits.idle_timeout_ns));
        let stale: Vec<FlowKey> = self
            .map
            .iter()
            .filter(|(_, e)| e.last_seen < cutoff)
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            if let Some(e) = self.map.remove(&key) {
                evicted.push((key, e.value, Eviction::Idle));
            }
        }
    }

    /// Evicts the least recently seen eighth of the table (at least one connection).
    fn evict_oldest(&mut self, evicted: &mut Vec<(FlowKey, T, Eviction)>) {
        // Find the cut-off age from the timestamps alone (8 bytes per connection, not a copy
        // of every key), then take out what is older in one pass.
        let mut ages: Vec<Timestamp> = self.map.values().map(|e| e.last_seen).collect();
        let n = (ages.len() / 8).max(1).min(ages.len());
        if n == 0 {
            return;
        }
        let (_, &mut cutoff, _) = ages.select_nth_unstable(n - 1);
        drop(ages);
        let older = ages_below(&self.map, cutoff);
        // Connections exactly at the cut-off fill up to n, in table order.
        let mut at_cutoff = n.saturating_sub(older);
        let out = self.map.extract_if(|_, e| {
            if e.last_seen < cutoff {
                true
            } else if e.last_seen == cutoff && at_cutoff > 0 {
                at_cutoff -= 1;
                true
            } else {
                false
            }
        });
        evicted.extend(out.map(|(k, e)| (k, e.value, Eviction::Capacity)));
    }

    /// Removes every connection (end of capture), oldest first.
    pub fn drain(&mut self) -> Vec<(FlowKey, T)> {
        let mut all: Vec<(FlowKey, Entry<T>)> = self.map.drain().collect();
        all.sort_by_key(|(_, e)| e.last_seen);
        all.into_iter().map(|(k, e)| (k, e.value)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
