//! The [`Lane`]: one model at one provider, with its concurrency slots, budget, counters and hard-down state.

mod budget;

use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::classify::FailureClass;
use crate::clock::Moment;
use crate::error::AcquireError;
use crate::permit::Permit;
use crate::stats::LaneStats;

pub(crate) use budget::Budget;

/// A lane's position in its [`Router`](crate::Router): the index of the lane in
/// the list the router was built from.
///
/// Embedders keep their own per-lane data (upstream client, model id sent
/// upstream) in a `Vec` indexed the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LaneId(usize);

impl LaneId {
    /// The id of the lane at `index`.
    pub const fn new(index: usize) -> Self {
        LaneId(index)
    }

    /// The lane's index.
    pub const fn index(self) -> usize {
        self.0
    }
}

/// How long an `auth` or `billing` failure takes a lane out of service,
/// unless a health probe succeeds first (docs/configuration.md, *`error_map` and failure classes*).
pub const HARD_DOWN_FOR: Duration = Duration::from_secs(30 * 60);

/// How one attempt on a lane ended, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The upstream answered 2xx and the body arrived whole.
    Success,
    /// The attempt failed with `class`; `retry_after` is the upstream's
    /// `Retry-After`, a floor for the cooldown if this failure opens the
    /// breaker. What it costs the lane depends on the class: see
    /// [`FailureClass`].
    Failed {
        /// What the failure means.
        class: FailureClass,
        /// The upstream's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// Shorthand for a [`FailureClass::ServerError`] without `Retry-After`,
    /// for a failure nothing more is known about.
    Failure,
    /// Shorthand for a [`FailureClass::ClientError`]: the caller's request
    /// was at fault. Counted, no penalty.
    ClientFault,
}

impl Outcome {
    /// A failure of `class` without `Retry-After`.
    pub const fn failed(class: FailureClass) -> Self {
        Outcome::Failed {
            class,
            retry_after: None,
        }
    }

    /// The same outcome carrying the upstream's `Retry-After`; a success
    /// stays a success.
    pub const fn with_retry_after(self, wait: Duration) -> Self {
        match self.class() {
            Some(class) => Outcome::Failed {
                class,
                retry_after: Some(wait),
            },
            None => self,
        }
    }

    /// The failure class; `None` for a success.
    pub const fn class(self) -> Option<FailureClass> {
        match self {
            Outcome::Success => None,
            Outcome::Failed { class, .. } => Some(class),
            Outcome::Failure => Some(FailureClass::ServerError),
            Outcome::ClientFault => Some(FailureClass::ClientError),
        }
    }

    /// The upstream's `Retry-After`, if the failure carried one.
    pub const fn retry_after(self) -> Option<Duration> {
        match self {
            Outcome::Failed { retry_after, .. } => retry_after,
            _ => None,
        }
    }

    /// Whether the attempt succeeded.
    pub const fn is_success(self) -> bool {
        matches!(self, Outcome::Success)
    }
}

/// Why a lane was taken out of service for a while, whatever pool it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HardDownReason {
    /// The provider refused the credentials.
    Auth,
    /// The provider's account is out of credit.
    Billing,
}

/// Why a lane is dead, as `/stats` reports it in `dead_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeadReason {
    /// Every unit of `max_requests` has been charged.
    BudgetExhausted,
    /// Hard-down after an authentication failure.
    Auth,
    /// Hard-down after a billing failure.
    Billing,
    /// Alive, but every cell's breaker (each pool's, and its own for direct
    /// calls) holds it open.
    BreakerOpen,
}

impl From<HardDownReason> for DeadReason {
    fn from(reason: HardDownReason) -> Self {
        match reason {
            HardDownReason::Auth => DeadReason::Auth,
            HardDownReason::Billing => DeadReason::Billing,
        }
    }
}

/// One model at one provider: a cheap, cloneable handle to shared state.
///
/// A lane is shared by every pool that lists it, so its slots, budget, counters
/// and hard-down state are too; the breaker, by contrast, lives per pool in a
/// [`Cell`](crate::Cell).
///
/// A request holds one of the lane's `max_concurrent` slots for as long as it
/// holds the [`Permit`] from [`try_acquire`](Self::try_acquire), streaming
/// included. With a `max_requests` budget the permit also reserves one unit,
/// which becomes a charge when 2xx headers arrive ([`Permit::charge`]) and
/// comes back if the body then fails ([`Permit::refund`]).
#[derive(Debug, Clone)]
pub struct Lane {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    name: String,
    provider: String,
    max_concurrent: u32,
    inflight: AtomicU32,
    budget: Option<Budget>,
    ok: AtomicU64,
    err: AtomicU64,
    client_fault: AtomicU64,
    hard_down: Mutex<Option<HardDown>>,
}

/// A lane's hard-down: why, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HardDown {
    /// Why the lane is out of service.
    pub reason: HardDownReason,
    /// When it comes back by itself.
    pub until: Moment,
}

impl Lane {
    /// A lane named `name` (the model name callers use) at `provider`, allowing
    /// `max_concurrent` requests at once and `max_requests` charged requests in
    /// its lifetime (`None`: unlimited).
    pub fn new(
        name: impl Into<String>,
        provider: impl Into<String>,
        max_concurrent: NonZeroU32,
        max_requests: Option<NonZeroU64>,
    ) -> Self {
        Lane {
            shared: Arc::new(Shared {
                name: name.into(),
                provider: provider.into(),
                max_concurrent: max_concurrent.get(),
                inflight: AtomicU32::new(0),
                budget: max_requests.map(Budget::new),
                ok: AtomicU64::new(0),
                err: AtomicU64::new(0),
                client_fault: AtomicU64::new(0),
                hard_down: Mutex::new(None),
            }),
        }
    }

    /// The model name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The provider name.
    pub fn provider(&self) -> &str {
        &self.shared.provider
    }

    /// How many requests may hold a slot at once.
    pub fn max_concurrent(&self) -> u32 {
        self.shared.max_concurrent
    }

    /// The lifetime budget this lane started with; `None` when unlimited.
    pub fn max_requests(&self) -> Option<u64> {
        self.shared.budget.as_ref().map(Budget::limit)
    }

    /// Requests holding a slot now.
    pub fn inflight(&self) -> u32 {
        self.shared.inflight.load(Ordering::Acquire)
    }

    /// Slots free now.
    pub fn free_slots(&self) -> u32 {
        self.max_concurrent().saturating_sub(self.inflight())
    }

    /// Uncharged units of the lifetime budget; `None` when unlimited.
    pub fn budget(&self) -> Option<u64> {
        self.shared.budget.as_ref().map(Budget::remaining)
    }

    /// Attempts that ended in [`Outcome::Success`].
    pub fn ok(&self) -> u64 {
        self.shared.ok.load(Ordering::Relaxed)
    }

    /// Attempts that failed in a way that costs the lane: transient, `auth`,
    /// `billing` ([`FailureClass::penalizes`]).
    pub fn err(&self) -> u64 {
        self.shared.err.load(Ordering::Relaxed)
    }

    /// Attempts the caller was at fault for: `client_error` and
    /// `context_length`.
    pub fn client_fault(&self) -> u64 {
        self.shared.client_fault.load(Ordering::Relaxed)
    }

    /// Takes a slot and, on a budgeted lane, reserves a unit of budget.
    ///
    /// Never waits. This checks capacity only; whether the lane *should* be
    /// used (dead, hard-down, breaker) is [`Route::try_acquire`](crate::Route::try_acquire)'s
    /// business, since that needs the clock and the pool.
    pub fn try_acquire(&self) -> Result<Permit, AcquireError> {
        let shared = &self.shared;
        let max = shared.max_concurrent;
        shared
            .inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| AcquireError::Saturated)?;
        if let Some(budget) = &shared.budget {
            if !budget.try_reserve() {
                self.release_slot();
                return Err(AcquireError::NoBudget);
            }
        }
        Ok(Permit::new(self.clone()))
    }

    /// Takes the lane out of service in every pool until `until`, or until
    /// [`revive`](Self::revive). A second call keeps the later deadline and
    /// the newer reason. Returns the hard-down now in force.
    pub fn hard_down(&self, reason: HardDownReason, until: Moment) -> HardDown {
        let mut slot = self.lock_hard_down();
        let until = slot.map_or(until, |old| old.until.max(until));
        let down = HardDown { reason, until };
        *slot = Some(down);
        down
    }

    /// The hard-down in force at `now`, if any.
    pub fn hard_down_state(&self, now: Moment) -> Option<HardDown> {
        self.active_hard_down(now)
    }

    /// Ends a hard-down early, as when a health probe succeeds.
    pub fn revive(&self) {
        *self.lock_hard_down() = None;
    }

    /// Why the lane is dead at `now`, if it is. An exhausted budget wins over a
    /// hard-down because it does not end by itself.
    pub fn dead_reason(&self, now: Moment) -> Option<DeadReason> {
        if self.budget() == Some(0) {
            return Some(DeadReason::BudgetExhausted);
        }
        self.active_hard_down(now).map(|h| h.reason.into())
    }

    /// Whether the lane may take traffic at `now`, ignoring momentary
    /// saturation: not dead and not hard-down.
    pub fn is_usable(&self, now: Moment) -> bool {
        self.dead_reason(now).is_none()
    }

    /// Time left in a hard-down at `now`; zero when there is none.
    pub fn cooldown_remaining(&self, now: Moment) -> Duration {
        self.active_hard_down(now)
            .map_or(Duration::ZERO, |h| h.until.saturating_since(now))
    }

    /// The lane's own part of a `/stats` entry at `now`. A [`Router`](crate::Router)
    /// folds in what its cells know (breaker state) in [`Router::snapshot`](crate::Router::snapshot).
    pub fn stats(&self, now: Moment) -> LaneStats {
        let dead_reason = self.dead_reason(now);
        LaneStats {
            model: self.name().to_owned(),
            provider: self.provider().to_owned(),
            max_concurrent: self.max_concurrent(),
            inflight: self.inflight(),
            free_slots: self.free_slots(),
            ok: self.ok(),
            err: self.err(),
            client_fault: self.client_fault(),
            usable: dead_reason.is_none(),
            dead: dead_reason.is_some(),
            dead_reason,
            cooldown_remaining_s: whole_seconds_up(self.cooldown_remaining(now)),
            streak: 0,
            budget: self.budget(),
        }
    }

    pub(crate) fn budget_ledger(&self) -> Option<&Budget> {
        self.shared.budget.as_ref()
    }

    pub(crate) fn release_slot(&self) {
        // Only a holder of a slot calls this, so the count is at least one;
        // the checked update refuses to wrap if that were ever violated.
        let _ = self
            .shared
            .inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub(crate) fn count(&self, outcome: Outcome) {
        let counter = match outcome.class() {
            None => &self.shared.ok,
            Some(class) if class.penalizes() => &self.shared.err,
            Some(_) => &self.shared.client_fault,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn active_hard_down(&self, now: Moment) -> Option<HardDown> {
        (*self.lock_hard_down()).filter(|h| h.until > now)
    }

    fn lock_hard_down(&self) -> std::sync::MutexGuard<'_, Option<HardDown>> {
        // The guarded value is a plain Copy field, always consistent, so a
        // panic elsewhere while it was held is no reason to stop routing.
        self.shared
            .hard_down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Rounds up, so a lane that is still cooling never reports 0 seconds left.
pub(crate) fn whole_seconds_up(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests;
