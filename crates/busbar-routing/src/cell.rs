//! The [`Cell`]: what one pool knows about one of its lanes — the circuit breaker.
//!
//! A lane serving two pools can be failing for one and fine for the other (one
//! pool's traffic may trip a rate limit the other's does not), so breaker state
//! is kept per (pool, lane) rather than per lane. A model called directly gets
//! its own single-member pool and so its own cell.
//!
//! # The breaker
//!
//! ```text
//!            trip rule met                cooldown elapses
//!  Closed ─────────────────▶ Open ─────────────────────────▶ HalfOpen
//!    ▲                        ▲                                 │ one try_acquire
//!    │ probe succeeds         │ probe fails (streak + 1)        ▼ claims the probe
//!    └────────────────────────┴──────────────────────────── Probing
//! ```
//!
//! * **Closed**: every transient failure counts toward the [`Trip`](crate::Trip)
//!   rule, but a failure below the threshold costs the lane nothing more: it
//!   stays usable. Client faults and context-length failures count neither
//!   way; auth and billing failures take the whole lane hard-down instead.
//! * **Open** for [`BreakerPolicy::cooldown`](crate::BreakerPolicy::cooldown),
//!   floored by any `Retry-After` the failures carried (at most 24 h).
//! * **HalfOpen**: [`Cell::admits`] is true again, so selection offers the lane,
//!   but exactly one [`Route::try_acquire`](crate::Route::try_acquire) wins the
//!   compare-and-swap that claims the probe; the rest are refused.
//! * **Probing**: the probe is in flight and nothing else is admitted. Its
//!   outcome closes the breaker (success, or any answer that proves the
//!   upstream is up: a client fault, a context-length refusal) and resets the
//!   streak, or reopens it with the streak one higher, doubling the cooldown.
//!   A probe permit dropped without an outcome hands the probe back.
//!
//! Outcomes of attempts admitted while the breaker was closed but finishing
//! after it opened are counted, not acted on: only the probe decides.
//!
//! Phase and deadline share one atomic word, so [`Cell::admits`] (asked by
//! selection, `/healthz` and `/stats`) is a lock-free read that never claims
//! anything. The counts the trip rule needs sit behind a mutex taken only
//! when an attempt finishes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::breaker::{BreakerPolicy, Jitter, Window, MAX_RETRY_AFTER};
use crate::clock::Moment;
use crate::error::AcquireError;
use crate::lane::{LaneId, Outcome};

/// A breaker's state as seen at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Traffic flows.
    Closed,
    /// Cooling down until `until`.
    Open {
        /// When the cooldown ends.
        until: Moment,
    },
    /// The cooldown is over; the next request to take the lane is the probe.
    HalfOpen,
    /// The probe is in flight; nothing else is admitted.
    Probing,
}

/// What finishing an attempt did to its cell's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerChange {
    /// The breaker opened until `until`: a fresh trip when `streak` is 0, a
    /// failed probe's reopening (with a doubled cooldown) otherwise.
    Opened {
        /// When the cooldown ends.
        until: Moment,
        /// Reopenings in a row; the cooldown was `base · 2^streak`.
        streak: u32,
    },
    /// The half-open probe succeeded; the breaker closed and its streak reset.
    Closed,
}

/// How an attempt was admitted through its cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The breaker was closed.
    Normal,
    /// This attempt is the half-open probe.
    Probe,
    /// Admitted in spite of the breaker (`on_exhausted: least_bad`); its
    /// outcome is counted but does not move the breaker.
    Forced,
}

/// One pool's view of one lane. See the module documentation.
#[derive(Debug)]
pub struct Cell {
    lane: LaneId,
    policy: BreakerPolicy,
    /// The phase and the open deadline, packed by [`Word`].
    word: AtomicU64,
    ok: AtomicU64,
    err: AtomicU64,
    trips: AtomicU64,
    // Written only under `ledger`; atomics so readers need no lock.
    consecutive_errors: AtomicU32,
    streak: AtomicU32,
    ledger: Mutex<Ledger>,
}

/// What the trip rule and the next cooldown need, changed only as attempts finish.
#[derive(Debug)]
struct Ledger {
    window: Window,
    /// The latest moment any `Retry-After` since the last opening asked for.
    retry_not_before: Option<Moment>,
    jitter: Jitter,
}

impl Cell {
    pub(crate) fn new(lane: LaneId, policy: BreakerPolicy, jitter: Jitter) -> Self {
        Cell {
            lane,
            policy,
            word: AtomicU64::new(Word::CLOSED.pack()),
            ok: AtomicU64::new(0),
            err: AtomicU64::new(0),
            trips: AtomicU64::new(0),
            consecutive_errors: AtomicU32::new(0),
            streak: AtomicU32::new(0),
            ledger: Mutex::new(Ledger {
                window: Window::new(policy.trip.window()),
                retry_not_before: None,
                jitter,
            }),
        }
    }

    /// The lane this cell is about.
    pub fn lane(&self) -> LaneId {
        self.lane
    }

    /// The breaker policy this cell follows.
    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// Successful attempts through this cell.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Attempts through this cell that failed in a way that costs the lane
    /// (transient, auth, billing).
    pub fn err(&self) -> u64 {
        self.err.load(Ordering::Relaxed)
    }

    /// Transient failures since the last success or opening: what a
    /// `consecutive` trip counts.
    pub fn consecutive_errors(&self) -> u32 {
        self.consecutive_errors.load(Ordering::Relaxed)
    }

    /// Reopenings in a row since the breaker last closed; the current or last
    /// cooldown was `base · 2^streak`.
    pub fn streak(&self) -> u32 {
        self.streak.load(Ordering::Relaxed)
    }

    /// How many times the breaker has opened, reopenings included: the
    /// source of `busbar_breaker_trips_total{pool,lane}`.
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    /// The breaker's state at `now`. A pure query.
    pub fn state(&self, now: Moment) -> BreakerState {
        let word = self.load();
        match word.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open if now >= word.until => BreakerState::HalfOpen,
            Phase::Open => BreakerState::Open { until: word.until },
            Phase::Probing => BreakerState::Probing,
        }
    }

    /// Whether this pool may send traffic to the lane at `now`, as far as the
    /// breaker is concerned (the lane's own state is checked separately):
    /// closed, or half-open with the probe still unclaimed.
    ///
    /// A pure query: it never claims the half-open probe, so selection,
    /// `/healthz` and `/stats` may ask as often as they like.
    pub fn admits(&self, now: Moment) -> bool {
        matches!(
            self.state(now),
            BreakerState::Closed | BreakerState::HalfOpen
        )
    }

    /// Time left before the breaker lets a probe through; zero unless open.
    pub fn cooldown_remaining(&self, now: Moment) -> Duration {
        match self.state(now) {
            BreakerState::Open { until } => until.saturating_since(now),
            _ => Duration::ZERO,
        }
    }

    /// Admits one attempt at `now`: closed admits anyone; half-open admits
    /// exactly one caller, the probe, by compare-and-swap.
    pub(crate) fn try_claim(&self, now: Moment) -> Result<Admission, AcquireError> {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let word = Word::unpack(current);
            match word.phase {
                Phase::Closed => return Ok(Admission::Normal),
                Phase::Open if now >= word.until => {
                    let probing = Word {
                        phase: Phase::Probing,
                        ..word
                    };
                    match self.word.compare_exchange(
                        current,
                        probing.pack(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(Admission::Probe),
                        Err(actual) => current = actual,
                    }
                }
                Phase::Open | Phase::Probing => return Err(AcquireError::Unusable),
            }
        }
    }

    /// Hands back a probe whose attempt ended without an outcome: the
    /// breaker is half-open again and the next request becomes the probe.
    pub(crate) fn release_probe(&self) {
        self.update(|word| {
            (word.phase == Phase::Probing).then_some(Word {
                phase: Phase::Open,
                ..word
            })
        });
    }

    /// A health probe reached the lane: an open breaker's cooldown ends now,
    /// so the next request is the half-open probe. True if it was cooling.
    pub(crate) fn cut_cooldown(&self, now: Moment) -> bool {
        self.update(|word| {
            (word.phase == Phase::Open && word.until > now).then_some(Word { until: now, ..word })
        })
    }

    /// Counts a finished attempt and moves the breaker as its admission allows.
    pub(crate) fn record(
        &self,
        outcome: Outcome,
        admission: Admission,
        now: Moment,
    ) -> Option<BreakerChange> {
        let class = outcome.class();
        let counter = match class {
            None => Some(&self.ok),
            Some(c) if c.penalizes() => Some(&self.err),
            Some(_) => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let mut ledger = self.lock_ledger();
        let word = self.load();
        match (admission, word.phase) {
            (Admission::Probe, Phase::Probing) => match class {
                Some(c) if c.penalizes() => {
                    note_retry_after(&mut ledger, outcome.retry_after(), now);
                    let streak = self.streak().saturating_add(1);
                    Some(self.open(&mut ledger, word, streak, now))
                }
                // Any answer but a penalizing failure proves the upstream is up.
                _ => {
                    self.close(&mut ledger, word);
                    Some(BreakerChange::Closed)
                }
            },
            (Admission::Normal, Phase::Closed) => match class {
                None => {
                    ledger.window.add(now, false);
                    self.consecutive_errors.store(0, Ordering::Relaxed);
                    None
                }
                Some(c) if c.is_transient() => {
                    ledger.window.add(now, true);
                    let run = self.consecutive_errors().saturating_add(1);
                    self.consecutive_errors.store(run, Ordering::Relaxed);
                    note_retry_after(&mut ledger, outcome.retry_after(), now);
                    self.policy
                        .trip
                        .is_met(run, ledger.window.totals(now))
                        .then(|| self.open(&mut ledger, word, 0, now))
                }
                Some(_) => None,
            },
            _ => None,
        }
    }

    fn open(&self, ledger: &mut Ledger, from: Word, streak: u32, now: Moment) -> BreakerChange {
        let cooldown = self.policy.cooldown(streak, ledger.jitter.next_unit());
        let mut until = now.saturating_add(cooldown);
        if let Some(floor) = ledger.retry_not_before.take() {
            until = until.max(floor);
        }
        ledger.window.clear();
        self.consecutive_errors.store(0, Ordering::Relaxed);
        self.streak.store(streak, Ordering::Relaxed);
        self.trips.fetch_add(1, Ordering::Relaxed);
        let to = Word::open_until(until);
        self.set(from, to);
        BreakerChange::Opened {
            until: to.until,
            streak,
        }
    }

    fn close(&self, ledger: &mut Ledger, from: Word) {
        ledger.window.clear();
        ledger.retry_not_before = None;
        self.consecutive_errors.store(0, Ordering::Relaxed);
        self.streak.store(0, Ordering::Relaxed);
        self.set(from, Word::CLOSED);
    }

    /// Replaces `from` with `to`. Under the ledger lock, the phases this is
    /// called from (closed, probing) can be left only by the caller, so the
    /// exchange cannot fail; if it ever did, the newer state stands.
    fn set(&self, from: Word, to: Word) {
        let _ =
            self.word
                .compare_exchange(from.pack(), to.pack(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// Applies `change` with a compare-and-swap loop; false if it declined.
    fn update(&self, change: impl Fn(Word) -> Option<Word>) -> bool {
        self.word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                change(Word::unpack(bits)).map(Word::pack)
            })
            .is_ok()
    }

    fn load(&self) -> Word {
        Word::unpack(self.word.load(Ordering::Acquire))
    }

    fn lock_ledger(&self) -> MutexGuard<'_, Ledger> {
        // Counts and a generator state: any value is a valid one, so a panic
        // elsewhere while the lock was held is no reason to stop routing.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps the latest deadline any `Retry-After` asked for, capped at 24 h ahead.
fn note_retry_after(ledger: &mut Ledger, retry_after: Option<Duration>, now: Moment) {
    if let Some(wait) = retry_after {
        let floor = now.saturating_add(wait.min(MAX_RETRY_AFTER));
        ledger.retry_not_before = Some(ledger.retry_not_before.map_or(floor, |f| f.max(floor)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed = 0,
    Open = 1,
    Probing = 2,
}

/// The breaker's phase and open deadline in one `u64`: the deadline's
/// nanoseconds shifted left by two, the phase in the low bits. 62 bits of
/// nanoseconds reach 146 years past the clock's epoch; later deadlines are
/// clamped there, which means the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word {
    phase: Phase,
    until: Moment,
}

impl Word {
    const CLOSED: Word = Word {
        phase: Phase::Closed,
        until: Moment::EPOCH,
    };
    const MAX_NANOS: u64 = (1 << 62) - 1;

    /// Open until `until`, clamped to what the word can hold.
    fn open_until(until: Moment) -> Word {
        Word::unpack(
            Word {
                phase: Phase::Open,
                until,
            }
            .pack(),
        )
    }

    fn pack(self) -> u64 {
        let nanos = u64::try_from(self.until.since_epoch().as_nanos())
            .unwrap_or(u64::MAX)
            .min(Self::MAX_NANOS);
        (nanos << 2) | self.phase as u64
    }

    fn unpack(bits: u64) -> Word {
        let phase = match bits & 0b11 {
            0 => Phase::Closed,
            1 => Phase::Open,
            _ => Phase::Probing,
        };
        Word {
            phase,
            until: Moment::from_epoch(Duration::from_nanos(bits >> 2)),
        }
    }
}

#[cfg(test)]
mod tests;
