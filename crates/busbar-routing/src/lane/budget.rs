//! A lane's lifetime request budget: exact under concurrency by reserving before and settling after.
//!
//! Two counters, both lock-free:
//!
//! * `remaining`: units not yet charged. This is what `/stats` reports as
//!   `budget`, and the lane is dead when it reaches zero.
//! * `unreserved`: `remaining` minus the units reserved by in-flight requests
//!   that have not been charged yet. A request may start only by taking one of
//!   these, with a compare-and-swap that refuses to go below zero.
//!
//! The invariant `unreserved + reserved_in_flight == remaining` (with
//! `remaining` allowed to run one ahead while a refund is half-applied) means a
//! charge always finds `remaining >= 1`, so neither counter can underflow and
//! no more than the budget is ever charged, however many threads race. The
//! checked updates below are a second line of defence, not the mechanism.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    remaining: AtomicU64,
    unreserved: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: NonZeroU64) -> Self {
        Budget {
            limit: limit.get(),
            remaining: AtomicU64::new(limit.get()),
            unreserved: AtomicU64::new(limit.get()),
        }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Units not yet charged.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining.load(Ordering::Acquire)
    }

    /// Takes one unit for an in-flight request; false when none is free.
    pub(crate) fn try_reserve(&self) -> bool {
        self.unreserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Gives back a reservation that was never charged.
    pub(crate) fn release(&self) {
        self.bump(&self.unreserved);
    }

    /// Turns a reservation into a charge.
    pub(crate) fn commit(&self) {
        // Cannot fail while the invariant holds; if it ever did, refusing to
        // wrap keeps the lane dead rather than resurrecting it with 2^64 units.
        let _ = self
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Undoes a charge: the unit becomes free for another request.
    pub(crate) fn refund(&self) {
        // `remaining` first, so `unreserved` never exceeds it.
        self.bump(&self.remaining);
        self.bump(&self.unreserved);
    }

    fn bump(&self, counter: &AtomicU64) {
        let limit = self.limit;
        let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(n: u64) -> Budget {
        Budget::new(NonZeroU64::new(n).expect("test budgets are non-zero"))
    }

    #[test]
    fn reserve_commit_refund_release_keep_the_books() {
        let b = budget(2);
        assert!(b.try_reserve());
        assert!(b.try_reserve());
        assert!(!b.try_reserve(), "both units are spoken for");
        assert_eq!(b.remaining(), 2, "reservations are not charges");

        b.commit();
        assert_eq!(b.remaining(), 1);
        b.release();
        assert_eq!(b.remaining(), 1);
        assert!(b.try_reserve(), "the released unit is free again");
        b.commit();
        assert_eq!(b.remaining(), 0);
        assert!(!b.try_reserve());

        b.refund();
        assert_eq!(b.remaining(), 1);
        assert!(b.try_reserve(), "a refunded unit can be spent again");
    }

    #[test]
    fn counters_never_leave_zero_to_limit() {
        let b = budget(1);
        b.release();
        b.refund();
        assert_eq!(b.remaining(), 1, "no refund above the limit");
        assert!(b.try_reserve());
        assert!(!b.try_reserve());
        b.commit();
        b.commit();
        assert_eq!(b.remaining(), 0, "no charge below zero");
        assert_eq!(b.limit(), 1);
    }
}
