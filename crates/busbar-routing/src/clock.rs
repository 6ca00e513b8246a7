//! Injected time: the [`Clock`] trait, the [`Moment`] it returns, a real and a hand-driven clock.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A point on a clock's monotonic timeline, measured from the clock's own epoch.
///
/// Moments from different clocks are not comparable; a [`Router`](crate::Router)
/// only ever compares moments from the one clock it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Moment(Duration);

impl Moment {
    /// The clock's epoch.
    pub const EPOCH: Moment = Moment(Duration::ZERO);

    /// The moment `elapsed` after the epoch.
    pub const fn from_epoch(elapsed: Duration) -> Self {
        Moment(elapsed)
    }

    /// How long after the epoch this moment is.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// The moment `d` later, saturating at the end of time instead of overflowing,
    /// so an absurd cooldown means "forever" rather than a panic.
    pub fn saturating_add(self, d: Duration) -> Self {
        Moment(self.0.saturating_add(d))
    }

    /// How long from `earlier` to `self`; zero when `earlier` is not earlier.
    pub fn saturating_since(self, earlier: Moment) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// A monotonic time source.
///
/// Everything in this crate that depends on time takes a [`Moment`] read from a
/// `Clock` the embedder supplies: [`SystemClock`] in production, [`ManualClock`]
/// in tests, which then run without sleeping and without flakiness.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current moment. Never earlier than a moment this clock returned before.
    fn now(&self) -> Moment;
}

/// The process's monotonic clock, with its epoch at construction.
// The one sanctioned use of real time in this crate (see clippy.toml).
#[allow(clippy::disallowed_types)]
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl SystemClock {
    /// A clock whose epoch is now.
    #[allow(clippy::disallowed_types)]
    pub fn new() -> Self {
        SystemClock {
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Moment {
        Moment(self.origin.elapsed())
    }
}

/// A clock that moves only when told to; clones share one timeline.
///
/// Give one clone to the code under test and keep another to [`advance`](Self::advance).
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    // Nanoseconds since the epoch: u64 covers 584 years, far past any test.
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at its epoch.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the clock forward by `d` (saturating at the end of its range).
    pub fn advance(&self, d: Duration) {
        let step = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update cannot fail with a closure that always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(step))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Moment {
        Moment(Duration::from_nanos(self.nanos.load(Ordering::Acquire)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let clock = ManualClock::new();
        let other = clock.clone();
        assert_eq!(clock.now(), Moment::EPOCH);
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), Moment::from_epoch(Duration::from_millis(1500)));
        assert_eq!(clock.now(), clock.now());
    }

    #[test]
    fn manual_clock_saturates_instead_of_wrapping() {
        let clock = ManualClock::new();
        clock.advance(Duration::MAX);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now().since_epoch(), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }

    #[test]
    fn moment_arithmetic_saturates() {
        let t = Moment::from_epoch(Duration::from_secs(10));
        assert_eq!(t.saturating_since(Moment::EPOCH), Duration::from_secs(10));
        assert_eq!(Moment::EPOCH.saturating_since(t), Duration::ZERO);
        assert_eq!(t.saturating_add(Duration::MAX).since_epoch(), Duration::MAX);
    }
}
