//! Breaker policy and arithmetic: the [`BreakerPolicy`], its [`Trip`] rule, cooldowns, jitter and the sliding window.
//!
//! The state machine itself lives in [`Cell`](crate::Cell); this module holds
//! the pure parts it is built from, each testable on its own:
//!
//! * [`BreakerPolicy::cooldown`]: `base · 2^streak`, capped at `max_cooldown`,
//!   then jittered. Jitter comes *after* the cap so that lanes stuck at the cap
//!   still reopen at different moments instead of all at once; a cooldown may
//!   therefore exceed `max_cooldown` by up to the jitter ratio.
//! * [`Jitter`]: a xorshift generator seeded per cell. Deterministic, so tests
//!   predict every cooldown exactly; seeded differently per (pool, lane), so
//!   cells that trip together do not reopen together.
//! * [`Window`]: failure and request counts over the last `window`, kept in
//!   ten buckets, so the window slides in tenths of its length and costs the
//!   same memory at ten requests a second as at ten thousand.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::clock::Moment;

/// The longest `Retry-After` honoured as a cooldown floor: an upstream asking
/// for a week's pause is more likely confused than serious.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// When a (pool, lane) breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BreakerPolicy {
    /// The trip rule.
    pub trip: Trip,
    /// The first cooldown; doubled each time the half-open probe fails.
    pub base_cooldown: Duration,
    /// The longest cooldown before jitter.
    pub max_cooldown: Duration,
    /// The jitter ratio: each cooldown is scaled by a factor drawn from
    /// `[1 - jitter, 1 + jitter]`. The default is ±10 %; tests
    /// set 0 for exact cooldowns. Clamped to `[0, 1]`.
    pub jitter: f64,
}

/// The rule that decides when a closed breaker opens.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Trip {
    /// Open when `failures / requests` over the last `window` reaches
    /// `threshold`, once at least `min_requests` requests were seen in it.
    ErrorRate {
        /// The sliding window.
        window: Duration,
        /// The failure ratio that trips, in (0, 1].
        threshold: f64,
        /// Requests needed in the window before the ratio counts (0 acts as 1).
        min_requests: u32,
    },
    /// Open after `n` transient failures in a row.
    Consecutive {
        /// The run length that trips.
        n: NonZeroU32,
    },
}

impl Default for Trip {
    /// `error_rate` over 30 s at 0.5 with at least 5 requests (docs/configuration.md, *Pools*).
    fn default() -> Self {
        Trip::ErrorRate {
            window: Duration::from_secs(30),
            threshold: 0.5,
            min_requests: 5,
        }
    }
}

impl Trip {
    /// Whether a closed breaker that has seen `consecutive` transient failures
    /// in a row, and `(requests, failures)` in its window, should open.
    pub(crate) fn is_met(&self, consecutive: u32, (requests, failures): (u64, u64)) -> bool {
        match *self {
            Trip::Consecutive { n } => consecutive >= n.get(),
            Trip::ErrorRate {
                threshold,
                min_requests,
                ..
            } => {
                // f64 is exact for counts below 2^53; a NaN threshold never trips.
                requests >= u64::from(min_requests.max(1))
                    && failures as f64 >= threshold * requests as f64
            }
        }
    }

    /// The sliding window the rule looks at; zero for `consecutive`.
    pub(crate) fn window(&self) -> Duration {
        match *self {
            Trip::ErrorRate { window, .. } => window,
            Trip::Consecutive { .. } => Duration::ZERO,
        }
    }
}

impl Default for BreakerPolicy {
    /// The documented defaults: [`Trip::default`], 15 s base, 120 s max, ±10 %.
    fn default() -> Self {
        BreakerPolicy {
            trip: Trip::default(),
            base_cooldown: Duration::from_secs(15),
            max_cooldown: Duration::from_secs(120),
            jitter: 0.1,
        }
    }
}

impl BreakerPolicy {
    /// A policy with `trip`, `base_cooldown` and `max_cooldown`, and the
    /// documented ±10 % jitter.
    pub fn new(trip: Trip, base_cooldown: Duration, max_cooldown: Duration) -> Self {
        BreakerPolicy {
            trip,
            base_cooldown,
            max_cooldown,
            jitter: 0.1,
        }
    }

    /// The same policy with another jitter ratio (0 for exact cooldowns).
    pub fn with_jitter(mut self, ratio: f64) -> Self {
        self.jitter = ratio;
        self
    }

    /// How long the breaker stays open after its `streak`-th reopening in a
    /// row (0 for a fresh trip): `base · 2^streak`, capped at `max_cooldown`,
    /// then scaled by `1 + jitter · unit`, where `unit` in `[-1, 1]` comes
    /// from the cell's seeded jitter generator.
    pub fn cooldown(&self, streak: u32, unit: f64) -> Duration {
        let doubled = self.base_cooldown.saturating_mul(1u32 << streak.min(31));
        let capped = doubled.min(self.max_cooldown);
        let ratio = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let factor = 1.0 + ratio * unit.clamp(-1.0, 1.0);
        Duration::try_from_secs_f64(capped.as_secs_f64() * factor).unwrap_or(capped)
    }
}

/// A deterministic source of jitter: xorshift64*, one per cell.
#[derive(Debug, Clone)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator for the cell of `lane_index` in the pool named `pool`.
    pub(crate) fn for_cell(pool: &str, lane_index: usize) -> Self {
        // FNV-1a over the pool name, mixed with the lane: stable across runs
        // and reloads, different for every cell.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in pool.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Jitter::seeded(h ^ (lane_index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// A generator from `seed` (any value; zero is remapped).
    pub(crate) fn seeded(seed: u64) -> Self {
        Jitter {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }

    /// The next value, uniform in `[-1, 1)`.
    pub(crate) fn next_unit(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let bits = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        // 53 random bits → [0, 1) → [-1, 1).
        (bits as f64 / (1u64 << 53) as f64).mul_add(2.0, -1.0)
    }
}

/// Buckets per window: the window slides in tenths of its length.
const BUCKETS: u64 = 10;

/// Requests and failures over a sliding window, in [`BUCKETS`] buckets.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// One bucket's span in nanoseconds, at least 1.
    slot: u64,
    buckets: [Bucket; BUCKETS as usize],
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slot (time since the epoch / `slot`) the counts belong to.
    index: u64,
    requests: u64,
    failures: u64,
}

impl Window {
    pub(crate) fn new(window: Duration) -> Self {
        let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        Window {
            slot: (nanos / BUCKETS).max(1),
            buckets: [Bucket::default(); BUCKETS as usize],
        }
    }

    /// Counts one request at `now`.
    pub(crate) fn add(&mut self, now: Moment, failed: bool) {
        let index = self.slot_of(now);
        let bucket = &mut self.buckets[(index % BUCKETS) as usize];
        if bucket.index != index {
            *bucket = Bucket {
                index,
                ..Bucket::default()
            };
        }
        bucket.requests = bucket.requests.saturating_add(1);
        bucket.failures = bucket.failures.saturating_add(u64::from(failed));
    }

    /// `(requests, failures)` in the current slot and the nine before it.
    pub(crate) fn totals(&self, now: Moment) -> (u64, u64) {
        let current = self.slot_of(now);
        self.buckets
            .iter()
            .filter(|b| b.index <= current && current - b.index < BUCKETS)
            .fold((0, 0), |(r, f), b| {
                (r.saturating_add(b.requests), f.saturating_add(b.failures))
            })
    }

    /// Forgets everything, as when the breaker opens or closes.
    pub(crate) fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS as usize];
    }

    fn slot_of(&self, now: Moment) -> u64 {
        let nanos = u64::try_from(now.since_epoch().as_nanos()).unwrap_or(u64::MAX);
        nanos / self.slot
    }
}

#[cfg(test)]
mod tests;
