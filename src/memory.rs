//! Memory accounting and the global budget (`--memcap`): one [`Meter`] per engine holds the
//! sum of the bytes every buffer that grows with traffic has registered, so the total is
//! read, not walked, and growth beyond the budget is refused.
//!
//! Each such buffer (a reassembly stream with its out-of-order segments, the HTTP pairing's
//! pending requests and interim responses, a WebSocket session, the flow table's slots, a
//! connection's own state, the proxy-hop tracker, the Engine.IO session tracker) has an
//! [`Account`]: the bytes it last registered. Its owner calls [`Account::set`] with the
//! buffer's current size after changing it (once per segment, not per byte), and with 0
//! before dropping it, so at every packet boundary `Meter::held() == Σ buffer sizes`,
//! exactly; the integration tests compare it with a walk of the flow table at every packet.
//!
//! # The budget (Suricata's memcap policy)
//! Growth goes through the meter first: [`Account::reserve`] (grow and register in one call)
//! or [`Meter::admit`] (ask, register later with `set`) answers `Err(Refused)` when the
//! bytes do not fit in [`Meter::room`]. The owner then keeps what it had and gives up the new
//! buffering (a hole is given up, an unfinished head dropped, a pipelined request not
//! followed), marks the records it touches and goes on; the meter counts every refusal by
//! [`Use`] ([`Meter::refusals`]), like Suricata's `tcp.segment_memcap_drop`. New connections
//! are the one exception: the engine makes room for them by evicting the least recently
//! active connections (its emergency mode), so a full budget never stops the analysis of
//! new traffic. Deterministic: the same capture and budget refuse the same growth.
//!
//! Admission is checked against what is registered when the owner asks: a buffer that
//! registers its growth at the end of the packet ([`Meter::admit`]) can overshoot the budget
//! by what one packet adds, never more.
//!
//! Never allocates; never does I/O.

use serde::Serialize;

/// The budget's share kept for new connections: buffers stop growing at `budget -
/// budget / FLOW_HEADROOM`, so a budget full of buffered bytes still admits new connections
/// (Suricata keeps separate stream and flow memcaps for the same reason).
pub const FLOW_HEADROOM: usize = 16;

/// What a buffer holds: the kinds refusals are counted by. Layers that add buffers add
/// their kind here (one line each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Use {
    /// TCP segments held out of order, waiting for a hole to fill.
    Segments,
    /// In-order bytes not parsed yet: unfinished HTTP heads, frame headers, lookahead.
    Unparsed,
    /// Requests awaiting their response and the interim responses kept for them.
    Pending,
    /// WebSocket message state: inflaters (permessage-deflate) and content collected.
    Message,
    /// HTTP bodies read for analysis.
    Body,
    /// TLS records awaiting keys or reassembly.
    Tls,
    /// HTTP/2 state (HPACK tables, stream frames).
    Http2,
    /// Connection state: a new connection's own bytes and its flow-table slot.
    Flow,
    /// Handshakes remembered to link the legs of proxied handshakes.
    Hop,
    /// Engine.IO sessions followed across connections (`correlate::engineio`).
    EngineIo,
}

/// Every [`Use`], in declaration order (for summaries).
pub const USES: [Use; 10] = [
    Use::Segments,
    Use::Unparsed,
    Use::Pending,
    Use::Message,
    Use::Body,
    Use::Tls,
    Use::Http2,
    Use::Flow,
    Use::Hop,
    Use::EngineIo,
];

impl Use {
    /// Stable snake_case name (summary keys, JSON).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Use::Segments => "segments",
            Use::Unparsed => "unparsed",
            Use::Pending => "pending",
            Use::Message => "message",
            Use::Body => "body",
            Use::Tls => "tls",
            Use::Http2 => "http2",
            Use::Flow => "flow",
            Use::Hop => "hop",
            Use::EngineIo => "engineio",
        }
    }

    /// What was not kept, in words ("out-of-order segments", …).
    #[must_use]
    pub fn words(self) -> &'static str {
        match self {
            Use::Segments => "out-of-order segments",
            Use::Unparsed => "unparsed bytes (unfinished heads)",
            Use::Pending => "pipelined requests awaiting answers",
            Use::Message => "WebSocket message state (inflaters)",
            Use::Body => "HTTP body bytes",
            Use::Tls => "TLS records",
            Use::Http2 => "HTTP/2 state",
            Use::Flow => "connection state",
            Use::Hop => "handshakes remembered for proxy-hop correlation",
            Use::EngineIo => "Engine.IO sessions followed across connections",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A growth the budget had no room for: returned as a value by [`Account::reserve`] and
/// [`Meter::admit`] (already counted by the meter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What would have grown.
    pub what: Use,
    /// Bytes asked for.
    pub bytes: usize,
}

/// Refusals of one [`Use`]: how many, and the bytes they asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RefusalCount {
    /// Growths refused.
    pub times: u64,
    /// Bytes those growths asked for (what was not kept).
    pub bytes: u64,
}

/// The running total of registered bytes, the budget, and the refusals.
#[derive(Debug)]
pub struct Meter {
    held: usize,
    peak: usize,
    budget: Option<usize>,
    /// What buffers may hold (the budget less [`FLOW_HEADROOM`]; `usize::MAX` without a
    /// budget), kept so [`Meter::room`] is one subtraction per segment.
    buffer_limit: usize,
    /// The budget, or `usize::MAX`.
    flow_limit: usize,
    refusals: [RefusalCount; USES.len()],
    /// Σ `refusals[].times`, kept so a per-packet check reads one word.
    refused_total: u64,
}

impl Meter {
    /// A meter with nothing registered and no budget.
    #[must_use]
    pub fn new() -> Self {
        Meter::with_budget(None)
    }

    /// A meter that refuses growth past `budget` bytes (`None`: unbounded).
    #[must_use]
    pub fn with_budget(budget: Option<usize>) -> Self {
        let mut meter = Meter {
            held: 0,
            peak: 0,
            budget: None,
            buffer_limit: usize::MAX,
            flow_limit: usize::MAX,
            refusals: [RefusalCount::default(); USES.len()],
            refused_total: 0,
        };
        meter.set_budget(budget);
        meter
    }

    /// Bytes registered now.
    #[must_use]
    pub fn held(&self) -> usize {
        self.held
    }

    /// Most bytes registered at once so far.
    #[must_use]
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The budget, if any.
    #[must_use]
    pub fn budget(&self) -> Option<usize> {
        self.budget
    }

    /// Sets the budget that [`Meter::room`] measures against (`None`: unbounded).
    pub fn set_budget(&mut self, budget: Option<usize>) {
        self.budget = budget;
        self.buffer_limit = budget.map_or(usize::MAX, |b| b - b / FLOW_HEADROOM);
        self.flow_limit = budget.unwrap_or(usize::MAX);
    }

    /// Bytes buffers may still grow by (`usize::MAX` without a budget): the budget less
    /// the sixteenth kept for new connections ([`FLOW_HEADROOM`]), less what is registered.
    #[inline]
    #[must_use]
    pub fn room(&self) -> usize {
        self.buffer_limit.saturating_sub(self.held)
    }

    /// Bytes new connection state may still take within the whole budget (`usize::MAX`
    /// without one). When a new connection does not fit, the engine evicts the least recently
    /// active connections (its emergency mode).
    #[inline]
    #[must_use]
    pub fn flow_room(&self) -> usize {
        self.flow_limit.saturating_sub(self.held)
    }

    /// Whether `bytes` more fit in the budget; a refusal is counted against `what`. Nothing
    /// is registered: the owner registers what it keeps with [`Account::set`].
    #[inline]
    pub fn admit(&mut self, what: Use, bytes: usize) -> Result<(), Refused> {
        if bytes <= self.room() {
            Ok(())
        } else {
            Err(self.refuse(what, bytes))
        }
    }

    /// Counts a growth of `bytes` of `what` that did not fit (for owners that work out how
    /// much fits themselves, from [`Meter::room`]).
    pub fn refuse(&mut self, what: Use, bytes: usize) -> Refused {
        if let Some(r) = self.refusals.get_mut(what.index()) {
            r.times += 1;
            r.bytes = r.bytes.saturating_add(bytes as u64);
        }
        self.refused_total += 1;
        Refused { what, bytes }
    }

    /// Counts `times` refusals of `what` asking for `bytes` in all, for owners that refuse
    /// by themselves within a room they were given and report afterwards.
    pub fn refuse_times(&mut self, what: Use, times: u64, bytes: u64) {
        if times == 0 {
            return;
        }
        if let Some(r) = self.refusals.get_mut(what.index()) {
            r.times += times;
            r.bytes = r.bytes.saturating_add(bytes);
        }
        self.refused_total += times;
    }

    /// Refusals so far, by [`Use`] (in [`USES`] order).
    pub fn refusals(&self) -> impl Iterator<Item = (Use, RefusalCount)> + '_ {
        USES.iter().copied().zip(self.refusals.iter().copied())
    }

    /// Refusals of `what` so far.
    #[must_use]
    pub fn refused(&self, what: Use) -> RefusalCount {
        self.refusals.get(what.index()).copied().unwrap_or_default()
    }

    /// Growths refused so far, of every kind.
    #[inline]
    #[must_use]
    pub fn refused_total(&self) -> u64 {
        self.refused_total
    }
}

impl Default for Meter {
    fn default() -> Self {
        Meter::new()
    }
}

/// One buffer's registration with a [`Meter`]: the bytes it last reported. Dropping an
/// account with bytes registered leaves them counted: owners release with `set(meter, 0)`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Account {
    held: usize,
}

impl Account {
    /// Registers the buffer's current size `bytes` (replacing what was registered before).
    /// Never refused: for shrinking, and for growth already admitted.
    #[inline]
    pub fn set(&mut self, meter: &mut Meter, bytes: usize) {
        if bytes == self.held {
            return;
        }
        // `meter.held` is the sum of every account's `held`, so it never goes below ours.
        meter.held = meter.held.saturating_sub(self.held).saturating_add(bytes);
        meter.peak = meter.peak.max(meter.held);
        self.held = bytes;
    }

    /// Grows the registration by `bytes` if the budget has room (the one call a growing
    /// buffer makes before it grows); otherwise nothing changes and the refusal, counted
    /// against `what`, is returned.
    ///
    /// ```
    /// use wssniff::memory::{Account, Meter, Use};
    /// let mut meter = Meter::with_budget(Some(112)); // 105 for buffers, 7 for new connections
    /// let mut records = Account::default();
    /// assert!(records.reserve(&mut meter, Use::Tls, 60).is_ok());
    /// assert!(records.reserve(&mut meter, Use::Tls, 60).is_err()); // keep 60, drop the rest
    /// assert_eq!(meter.refused(Use::Tls).times, 1);
    /// records.set(&mut meter, 0); // released
    /// ```
    #[inline]
    pub fn reserve(&mut self, meter: &mut Meter, what: Use, bytes: usize) -> Result<(), Refused> {
        meter.admit(what, bytes)?;
        let total = self.held.saturating_add(bytes);
        self.set(meter, total);
        Ok(())
    }

    /// Bytes this account has registered.
    #[must_use]
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_add_up_and_release_to_zero() {
        let mut meter = Meter::new();
        let (mut a, mut b) = (Account::default(), Account::default());
        a.set(&mut meter, 100);
        b.set(&mut meter, 50);
        a.set(&mut meter, 30);
        assert_eq!(meter.held(), 80);
        assert_eq!(meter.peak(), 150);
        meter.set_budget(Some(160));
        assert_eq!(
            meter.room(),
            160 - 10 - 80,
            "a sixteenth is kept for new connections"
        );
        assert_eq!(meter.flow_room(), 80);
        a.set(&mut meter, 0);
        b.set(&mut meter, 0);
        assert_eq!(meter.held(), 0);
        assert_eq!((a.held(), b.held()), (0, 0));
    }

    #[test]
    fn reserve_refuses_past_the_budget_and_counts_by_use() {
        // 100 bytes for buffers, 6 more for new connections.
        let mut meter = Meter::with_budget(Some(106));
        let (mut a, mut b) = (Account::default(), Account::default());
        assert_eq!(a.reserve(&mut meter, Use::Segments, 70), Ok(()));
        assert_eq!(
            b.reserve(&mut meter, Use::Pending, 31),
            Err(Refused {
                what: Use::Pending,
                bytes: 31
            })
        );
        assert_eq!(b.held(), 0, "a refused reservation registers nothing");
        assert_eq!(b.reserve(&mut meter, Use::Pending, 30), Ok(()));
        assert_eq!(meter.held(), 100);
        assert!(meter.admit(Use::Segments, 1).is_err());
        assert_eq!(
            meter.refused(Use::Pending),
            RefusalCount {
                times: 1,
                bytes: 31
            }
        );
        assert_eq!(
            meter.refused(Use::Segments),
            RefusalCount { times: 1, bytes: 1 }
        );
        assert_eq!(meter.refused_total(), 2);
        // Shrinking is never refused and makes room again.
        a.set(&mut meter, 10);
        assert_eq!(meter.room(), 60);
        assert!(meter.admit(Use::Segments, 60).is_ok());
    }

    #[test]
    fn without_a_budget_nothing_is_refused() {
        assert_eq!(Meter::default().room(), usize::MAX);
        let mut meter = Meter::new();
        let mut a = Account::default();
        assert!(a.reserve(&mut meter, Use::Body, usize::MAX / 2).is_ok());
        assert!(meter.admit(Use::Body, usize::MAX / 2).is_ok());
        assert_eq!(meter.refused_total(), 0);
    }

    #[test]
    fn uses_are_listed_in_declaration_order() {
        for (i, u) in USES.iter().enumerate() {
            assert_eq!(u.index(), i);
        }
    }
}
