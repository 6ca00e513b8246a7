//! The [`Cell`]: what one pool knows about one of its lanes — the breaker's home.
//!
//! A lane serving two pools can be failing for one and fine for the other (one
//! pool's traffic may trip a rate limit the other's does not), so breaker state
//! is kept per (pool, lane) rather than per lane. A model called directly gets
//! its own single-member pool and so its own cell.
//!
//! # The seam for breakers
//!
//! No breaker is built yet. Every cell admits traffic, and the counters below
//! are kept so the breaker has what it needs when it arrives:
//!
//! * [`Cell::record`] is called once per finished attempt through this cell
//!   (from [`Permit::finish`](crate::Permit::finish)), with the time. The
//!   breaker's trip logic (error-rate window or consecutive failures) goes there.
//! * [`Cell::admits`] is the one question selection, `/healthz` and `/stats`
//!   ask. It must stay a pure query: the contract forbids those callers from
//!   taking the half-open probe. The open/half-open check goes there.
//! * Claiming the half-open probe belongs in
//!   [`Route::try_acquire`](crate::Route::try_acquire), the only place a request
//!   is actually committed to a lane.
//! * [`Cell::cooldown_remaining`] and [`Cell::streak`] feed `/stats`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::Moment;
use crate::lane::{LaneId, Outcome};

/// One pool's view of one lane. See the module documentation.
#[derive(Debug)]
pub struct Cell {
    lane: LaneId,
    ok: AtomicU64,
    err: AtomicU64,
    consecutive_errors: AtomicU32,
    streak: AtomicU32,
}

impl Cell {
    pub(crate) fn new(lane: LaneId) -> Self {
        Cell {
            lane,
            ok: AtomicU64::new(0),
            err: AtomicU64::new(0),
            consecutive_errors: AtomicU32::new(0),
            streak: AtomicU32::new(0),
        }
    }

    /// The lane this cell is about.
    pub fn lane(&self) -> LaneId {
        self.lane
    }

    /// Successful attempts through this cell.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Failed attempts through this cell.
    pub fn err(&self) -> u64 {
        self.err.load(Ordering::Relaxed)
    }

    /// Failures since the last success: what a `consecutive` trip counts.
    pub fn consecutive_errors(&self) -> u32 {
        self.consecutive_errors.load(Ordering::Relaxed)
    }

    /// How many times in a row the breaker has reopened; the cooldown doubles
    /// with each. Always 0 until breakers exist.
    pub fn streak(&self) -> u32 {
        self.streak.load(Ordering::Relaxed)
    }

    /// Whether this pool may send traffic to the lane at `now`, as far as the
    /// breaker is concerned (the lane's own state is checked separately).
    ///
    /// A pure query: it never claims the half-open probe. Always true until
    /// breakers exist.
    pub fn admits(&self, _now: Moment) -> bool {
        true
    }

    /// Time left before the breaker lets a probe through; zero when closed.
    pub fn cooldown_remaining(&self, _now: Moment) -> Duration {
        Duration::ZERO
    }

    /// Counts a finished attempt. Client faults cost the lane nothing, so they
    /// neither count as an error nor break a run of errors.
    pub(crate) fn record(&self, outcome: Outcome, _now: Moment) {
        match outcome {
            Outcome::Success => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.consecutive_errors.store(0, Ordering::Relaxed);
            }
            Outcome::Failure => {
                self.err.fetch_add(1, Ordering::Relaxed);
                self.consecutive_errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::ClientFault => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keeps_the_counters_a_breaker_needs() {
        let cell = Cell::new(LaneId::new(3));
        let now = Moment::EPOCH;
        cell.record(Outcome::Failure, now);
        cell.record(Outcome::Failure, now);
        cell.record(Outcome::ClientFault, now);
        assert_eq!(
            (cell.ok(), cell.err(), cell.consecutive_errors()),
            (0, 2, 2)
        );
        cell.record(Outcome::Success, now);
        assert_eq!(
            (cell.ok(), cell.err(), cell.consecutive_errors()),
            (1, 2, 0)
        );
        assert_eq!(cell.lane(), LaneId::new(3));
    }

    #[test]
    fn without_a_breaker_every_cell_admits() {
        let cell = Cell::new(LaneId::new(0));
        for _ in 0..10 {
            cell.record(Outcome::Failure, Moment::EPOCH);
        }
        assert!(cell.admits(Moment::EPOCH));
        assert_eq!(cell.cooldown_remaining(Moment::EPOCH), Duration::ZERO);
        assert_eq!(cell.streak(), 0);
    }
}
