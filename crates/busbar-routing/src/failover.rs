//! Failover: the [`FailoverPolicy`], [`OnExhausted`], and one request's plan of [`Attempts`].
//!
//! [`Route::plan`] orders the lanes one request may try, once, at the start:
//!
//! 1. the session's member when the pool has affinity and the request a key
//!    (rendezvous hashing over the usable members, see `affinity.rs`), else
//!    the pool's SWRR pick;
//! 2. then the other usable members, in the session's preference order or the
//!    order SWRR would serve them, minus the pool's `exclusions`, which may be
//!    picked first but are never failed over to.
//!
//! [`Attempts::next_attempt`] walks that order, taking each lane through
//! [`Route::try_acquire`] (which re-checks usability and may claim a
//! half-open probe). It stops after `1 + cap` attempts, once `deadline` has
//! passed since the plan was made (the first attempt always starts), or when
//! the order runs out. A lane that refuses (saturated, out of budget, its
//! probe taken) does not use up an attempt and is not tried again. After a
//! `context_length` failure reported through [`Attempts::finish`], only lanes
//! whose `context_max` is larger than the failed member's, or unknown, remain.
//!
//! When no member is usable at all, the pool's [`OnExhausted`] decides:
//! `reject` returns [`PoolExhausted`] with the soonest recovery, `least_bad`
//! plans the one member whose cooldown ends first (used in spite of its
//! breaker), and `fallback_pool` plans the fallback pool instead, following
//! chains, which [`Router::new`](crate::Router::new) guarantees are acyclic.

use std::time::Duration;

use crate::affinity::{self, Candidate};
use crate::classify::FailureClass;
use crate::clock::Moment;
use crate::error::{AcquireError, PoolExhausted};
use crate::lane::{LaneId, Outcome};
use crate::permit::{Permit, Transition};
use crate::router::Route;

/// Limits on failing over within one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailoverPolicy {
    /// Time from the plan after which no further attempt starts.
    pub deadline: Duration,
    /// Further attempts after the first (0 disables failover).
    pub cap: u32,
    /// Lanes never failed over to from this pool.
    pub exclusions: Vec<LaneId>,
}

impl Default for FailoverPolicy {
    /// 120 s, 3 further attempts, no exclusions (docs/configuration.md, *Pools*).
    fn default() -> Self {
        FailoverPolicy::new(Duration::from_secs(120), 3)
    }
}

impl FailoverPolicy {
    /// `cap` further attempts within `deadline`, no exclusions.
    pub fn new(deadline: Duration, cap: u32) -> Self {
        FailoverPolicy {
            deadline,
            cap,
            exclusions: Vec::new(),
        }
    }

    /// The same policy never failing over to `lanes`.
    pub fn excluding(mut self, lanes: impl IntoIterator<Item = LaneId>) -> Self {
        self.exclusions.extend(lanes);
        self
    }

    /// Whether `lane` is never failed over to.
    pub fn excludes(&self, lane: LaneId) -> bool {
        self.exclusions.contains(&lane)
    }
}

/// What a pool does when none of its members is usable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnExhausted {
    /// Refuse: 503 with `Retry-After` set to the soonest cooldown.
    #[default]
    Reject,
    /// Use the member whose cooldown ends first anyway.
    LeastBad,
    /// Select from the named pool instead.
    FallbackPool(String),
}

/// Why [`Attempts::next_attempt`] returned `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// `1 + cap` attempts were made.
    Cap,
    /// The failover deadline passed.
    Deadline,
    /// Every planned lane was tried, refused, or ruled out.
    Exhausted,
}

/// One request's failover plan and its progress. See the module documentation.
#[derive(Debug)]
pub struct Attempts<'r> {
    route: Route<'r>,
    order: Vec<LaneId>,
    next: usize,
    tried: Vec<LaneId>,
    refused: Vec<(LaneId, AcquireError)>,
    started: Moment,
    forced: bool,
    /// After a context-length failure: the largest known `context_max` that
    /// was too small.
    context_floor: Option<u64>,
    stopped: Option<Stop>,
}

impl<'r> Attempts<'r> {
    /// The route being served: the one planned, or the fallback pool it led to.
    pub fn route(&self) -> Route<'r> {
        self.route
    }

    /// The lanes in the order the plan tries them.
    pub fn order(&self) -> &[LaneId] {
        &self.order
    }

    /// The lanes attempted so far, in order.
    pub fn tried(&self) -> &[LaneId] {
        &self.tried
    }

    /// The lanes that refused a permit, and why; none of them is retried.
    pub fn refused(&self) -> &[(LaneId, AcquireError)] {
        &self.refused
    }

    /// How long after the plan further attempts may still start.
    pub fn deadline(&self) -> Duration {
        self.route.pool().failover().deadline
    }

    /// Whether this is a `least_bad` plan, using a lane its breaker holds open.
    pub fn is_forced(&self) -> bool {
        self.forced
    }

    /// Why the plan ended, once [`next_attempt`](Self::next_attempt) returned `None`.
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }

    /// The next lane to try and its permit; `None` when the plan is spent
    /// ([`stopped`](Self::stopped) says why).
    pub fn next_attempt(&mut self) -> Option<(LaneId, Permit)> {
        if self.stopped.is_some() {
            return None;
        }
        let policy = self.route.pool().failover();
        if !self.tried.is_empty() {
            if self.tried.len() > usize::try_from(policy.cap).unwrap_or(usize::MAX) {
                return self.stop(Stop::Cap);
            }
            let now = self.route.router().clock().now();
            if now.saturating_since(self.started) >= policy.deadline {
                return self.stop(Stop::Deadline);
            }
        }
        while let Some(&lane) = self.order.get(self.next) {
            self.next += 1;
            if !self.fits_context(lane) {
                continue;
            }
            let taken = if self.forced {
                self.route.acquire_forced(lane)
            } else {
                self.route.try_acquire(lane)
            };
            match taken {
                Ok(permit) => {
                    self.tried.push(lane);
                    return Some((lane, permit));
                }
                Err(refusal) => self.refused.push((lane, refusal)),
            }
        }
        self.stop(Stop::Exhausted)
    }

    /// Ends an attempt from this plan: [`Permit::finish`], plus what the plan
    /// must learn from it (a `context_length` failure narrows the remaining
    /// lanes to larger contexts). Use this rather than `Permit::finish` for
    /// attempts that fail before the response is committed.
    pub fn finish(&mut self, permit: Permit, outcome: Outcome) -> Transition {
        if outcome.class() == Some(FailureClass::ContextLength) {
            let too_small = permit
                .lane_id()
                .and_then(|lane| self.route.pool().member(lane))
                .and_then(|member| member.context_max);
            if let Some(tokens) = too_small {
                self.context_floor = Some(self.context_floor.map_or(tokens, |f| f.max(tokens)));
            }
        }
        permit.finish(outcome)
    }

    fn fits_context(&self, lane: LaneId) -> bool {
        let Some(floor) = self.context_floor else {
            return true;
        };
        self.route
            .pool()
            .member(lane)
            .is_some_and(|m| m.context_max.is_none_or(|max| max > floor))
    }

    fn stop(&mut self, why: Stop) -> Option<(LaneId, Permit)> {
        self.stopped = Some(why);
        None
    }
}

impl<'r> Route<'r> {
    /// Plans one request's attempts (see the module documentation).
    /// `affinity_key` is the value of the pool's
    /// [`affinity_header`](crate::Pool::affinity_header), if the request
    /// sent one; it is ignored by pools without affinity.
    ///
    /// Without affinity this advances the pool's SWRR selection once, so call
    /// it once per request.
    pub fn plan(&self, affinity_key: Option<&str>) -> Result<Attempts<'r>, PoolExhausted> {
        let router = self.router();
        let now = router.clock().now();
        let mut route = *self;
        // Fallback chains are acyclic (checked by Router::new), so this ends
        // within one hop per pool; the bound only guards against a bug there.
        for _ in 0..=router.pools().len() {
            let pool = route.pool();
            if pool.members().iter().any(|m| route.usable_at(m.lane, now)) {
                let order = route.order(affinity_key, now);
                return Ok(Attempts::new(route, order, now, false));
            }
            match pool.on_exhausted() {
                OnExhausted::Reject => break,
                OnExhausted::LeastBad => {
                    return match route.least_bad(now) {
                        Some(lane) => Ok(Attempts::new(route, vec![lane], now, true)),
                        None => Err(route.exhausted(now)),
                    }
                }
                OnExhausted::FallbackPool(name) => match router.pool_route(name) {
                    Some(fallback) => route = fallback,
                    None => break,
                },
            }
        }
        Err(route.exhausted(now))
    }

    /// Time until the soonest member of this route may take traffic again:
    /// zero if one may now, `None` if none ever will by itself (every budget
    /// is spent). The `Retry-After` for a 503 when the pool is out of lanes.
    pub fn retry_after(&self) -> Option<Duration> {
        self.soonest(self.router().clock().now())
            .map(|(_, wait)| wait)
    }

    /// The members ranked for this request, usable ones only.
    fn order(&self, affinity_key: Option<&str>, now: Moment) -> Vec<LaneId> {
        let pool = self.pool();
        let mut order = match (pool.affinity_header(), affinity_key) {
            (Some(_), Some(key)) => {
                let router = self.router();
                let usable = pool
                    .members()
                    .iter()
                    .filter(|m| self.usable_at(m.lane, now));
                affinity::rank(
                    key,
                    usable.filter_map(|m| {
                        Some(Candidate {
                            lane: m.lane,
                            name: router.lane(m.lane)?.name(),
                            weight: m.weight.get(),
                        })
                    }),
                )
            }
            _ => pool.candidates(|lane| self.usable_at(lane, now)),
        };
        let policy = pool.failover();
        let mut position = 0;
        order.retain(|&lane| {
            position += 1;
            position == 1 || !policy.excludes(lane)
        });
        order
    }

    /// The member whose cooldown ends first (the earliest in configuration
    /// order on a tie), and the wait; members with a spent budget never recover.
    fn soonest(&self, now: Moment) -> Option<(LaneId, Duration)> {
        let router = self.router();
        self.pool()
            .members()
            .iter()
            .filter_map(|m| {
                let lane = router.lane(m.lane)?;
                if lane.budget() == Some(0) {
                    return None;
                }
                let cell = self.pool().cell(m.lane)?;
                let wait = lane
                    .cooldown_remaining(now)
                    .max(cell.cooldown_remaining(now));
                Some((m.lane, wait))
            })
            .min_by_key(|&(_, wait)| wait)
    }

    fn least_bad(&self, now: Moment) -> Option<LaneId> {
        self.soonest(now).map(|(lane, _)| lane)
    }

    fn exhausted(&self, now: Moment) -> PoolExhausted {
        PoolExhausted {
            pool: self.name().to_owned(),
            retry_after: self.soonest(now).map(|(_, wait)| wait),
        }
    }
}

impl<'r> Attempts<'r> {
    fn new(route: Route<'r>, order: Vec<LaneId>, started: Moment, forced: bool) -> Self {
        Attempts {
            route,
            order,
            next: 0,
            tried: Vec::new(),
            refused: Vec::new(),
            started,
            forced,
            context_floor: None,
            stopped: None,
        }
    }
}

#[cfg(test)]
mod tests;
