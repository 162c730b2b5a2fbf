//! Memory accounting: one [`Meter`] per engine holds the sum of the bytes every buffer that
//! grows with traffic has registered, so the total is read, not walked.
//!
//! Each such buffer (a reassembly stream with its out-of-order segments, the HTTP pairing's
//! pending requests and interim responses, a WebSocket session, the flow table's slots, a
//! connection's own state) has an [`Account`]: the bytes it last registered. Its owner calls
//! [`Account::set`] with the buffer's current size after changing it (once per segment, not
//! per byte), and with 0 before dropping it, so at every packet boundary
//! `Meter::held() == Σ buffer sizes`, exactly; the integration tests compare it with a walk
//! of the flow table at every packet.
//!
//! A global budget (issue 18, `--memcap`) reads [`Meter::held`] and [`Meter::room`] at the
//! points where a buffer would grow, and refuses the growth deterministically when there is
//! no room: the owners already hold the meter there. No policy lives here yet.
//!
//! Never allocates; never does I/O.

/// The running total of registered bytes.
#[derive(Debug, Default)]
pub struct Meter {
    held: usize,
    peak: usize,
    budget: Option<usize>,
}

impl Meter {
    /// A meter with nothing registered and no budget.
    #[must_use]
    pub fn new() -> Self {
        Meter::default()
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

    /// Sets the budget that [`Meter::room`] measures against (`None`: unbounded).
    pub fn set_budget(&mut self, budget: Option<usize>) {
        self.budget = budget;
    }

    /// Bytes that may still be registered within the budget (`usize::MAX` without one).
    #[must_use]
    pub fn room(&self) -> usize {
        self.budget
            .map_or(usize::MAX, |b| b.saturating_sub(self.held))
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
        meter.set_budget(Some(100));
        assert_eq!(meter.room(), 20);
        a.set(&mut meter, 0);
        b.set(&mut meter, 0);
        assert_eq!(meter.held(), 0);
        assert_eq!((a.held(), b.held()), (0, 0));
    }
}
