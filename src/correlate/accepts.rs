//! Stale accepts: remembers the accept value each recent handshake's key required, so a
//! response whose `Sec-WebSocket-Accept` does not match its own key can be traced to the
//! earlier handshake whose key it answers (a cache or a proxy replaying an old response).
//!
//! Pure: records in, one lookup out; no I/O, no clock; at most [`MAX_REMEMBERED`] values,
//! oldest forgotten first, so the answer depends only on the order handshakes completed in.

use std::collections::{HashMap, VecDeque};

/// Most recent expected accept values remembered.
pub const MAX_REMEMBERED: usize = 4096;

/// The recent handshakes' expected accept values, by value.
#[derive(Debug, Default)]
pub struct RecentAccepts {
    /// Expected accept → (handshake id, the key it answers). The accept is derived from a key
    /// the client chose: seeded foldhash, as the flow table (see Cargo.toml), for the insert
    /// every handshake makes (~450 instructions fewer than std's SipHash with the rehash as
    /// the map grows); only looked up by value, never iterated.
    by_accept: HashMap<String, (u64, String), foldhash::fast::RandomState>,
    /// Expected accepts in the order remembered, for the cap.
    order: VecDeque<String>,
}

impl RecentAccepts {
    /// Nothing remembered yet.
    #[must_use]
    pub fn new() -> Self {
        RecentAccepts::default()
    }

    /// Which earlier handshake's key `accept` answers (`key K of handshake #N`), if any.
    #[must_use]
    pub fn explain(&self, accept: &str) -> Option<String> {
        self.by_accept
            .get(accept)
            .map(|(id, key)| format!("key {key} of handshake #{id}"))
    }

    /// Remembers that handshake `id` sent `key`, which requires the accept `expected`;
    /// forgets the oldest beyond the cap.
    pub fn remember(&mut self, id: u64, key: &str, expected: &str) {
        if self.order.len() >= MAX_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.by_accept.remove(&old);
            }
        }
        self.order.push_back(expected.to_owned());
        self.by_accept
            .insert(expected.to_owned(), (id, key.to_owned()));
    }

    /// How many accept values are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_accept.len()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_accept.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_handshake_whose_key_an_accept_answers() {
        let mut recent = RecentAccepts::new();
        recent.remember(3, "k3", "a3");
        assert_eq!(
            recent.explain("a3").as_deref(),
            Some("key k3 of handshake #3")
        );
        assert_eq!(recent.explain("other"), None);
    }

    #[test]
    fn forgets_the_oldest_beyond_the_cap() {
        let mut recent = RecentAccepts::new();
        for i in 0..(MAX_REMEMBERED as u64 + 10) {
            recent.remember(i, &format!("k{i}"), &format!("a{i}"));
        }
        assert_eq!(recent.len(), MAX_REMEMBERED);
        assert_eq!(recent.explain("a0"), None);
        assert!(recent
            .explain(&format!("a{}", MAX_REMEMBERED + 9))
            .is_some());
    }
}
