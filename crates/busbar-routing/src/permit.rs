//! The [`Permit`]: one request's hold on a lane slot and, on a budgeted lane, on one unit of budget.

use std::fmt;
use std::sync::Arc;

use crate::cell::{Admission, BreakerChange, Cell};
use crate::clock::Clock;
use crate::lane::{HardDown, Lane, LaneId, Outcome, HARD_DOWN_FOR};

/// One attempt's hold on a [`Lane`]: a concurrency slot, and on a budgeted lane
/// one reserved unit of budget. Dropping it frees both (a charged unit stays
/// charged).
///
/// The permit is also the attempt's ledger. Budget moves through it in one
/// direction only, reserved → charged → refunded, so a request can neither be
/// charged twice nor refunded without a charge, whatever order the embedder's
/// error paths call things in. It owns its lane (and cell) handles, so it can
/// travel with a response body into another task.
///
/// A permit that is a breaker's half-open probe and is dropped without
/// [`finish`](Self::finish) (the client went away before the upstream
/// answered) hands the probe back, so the next request probes instead.
#[must_use = "dropping a permit frees its slot at once"]
pub struct Permit {
    lane: Lane,
    cell: Option<CellBinding>,
    state: State,
}

/// Ties a permit to the pool cell it was taken through, so the attempt's
/// outcome reaches the breaker too.
struct CellBinding {
    cell: Arc<Cell>,
    clock: Arc<dyn Clock>,
    admission: Admission,
}

/// What finishing an attempt changed, for logs and metrics
/// (`busbar_breaker_trips_total` counts [`tripped`](Self::tripped) ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Transition {
    /// What happened to the breaker of the cell the attempt went through.
    pub breaker: Option<BreakerChange>,
    /// The hard-down an `auth` or `billing` failure put the lane in.
    pub hard_down: Option<HardDown>,
}

impl Transition {
    /// Whether the breaker opened (a fresh trip or a failed probe's reopening).
    pub fn tripped(&self) -> bool {
        matches!(self.breaker, Some(BreakerChange::Opened { .. }))
    }

    /// Whether nothing changed state.
    pub fn is_unchanged(&self) -> bool {
        self.breaker.is_none() && self.hard_down.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Holding a reservation (on a budgeted lane); not charged.
    Reserved,
    /// Charged: the upstream answered 2xx.
    Charged,
    /// Charged, then given back because the body failed. Final.
    Refunded,
}

impl Permit {
    pub(crate) fn new(lane: Lane) -> Self {
        Permit {
            lane,
            cell: None,
            state: State::Reserved,
        }
    }

    pub(crate) fn bind(
        mut self,
        cell: Arc<Cell>,
        clock: Arc<dyn Clock>,
        admission: Admission,
    ) -> Self {
        self.cell = Some(CellBinding {
            cell,
            clock,
            admission,
        });
        self
    }

    /// The lane's id, when the permit came through a route (a permit taken
    /// from a bare [`Lane`] does not know it).
    pub(crate) fn lane_id(&self) -> Option<LaneId> {
        self.cell.as_ref().map(|b| b.cell.lane())
    }

    /// Whether this attempt is its cell's half-open probe.
    pub fn is_probe(&self) -> bool {
        self.cell
            .as_ref()
            .is_some_and(|b| b.admission == Admission::Probe)
    }

    /// The lane this permit holds a slot on.
    pub fn lane(&self) -> &Lane {
        &self.lane
    }

    /// Whether this attempt's budget unit is charged now.
    pub fn is_charged(&self) -> bool {
        self.state == State::Charged
    }

    /// Charges the reserved unit: call when 2xx headers arrive. Idempotent;
    /// no effect after a refund or on an unbudgeted lane beyond noting it.
    pub fn charge(&mut self) {
        if self.state != State::Reserved {
            return;
        }
        if let Some(budget) = self.lane.budget_ledger() {
            budget.commit();
        }
        self.state = State::Charged;
    }

    /// Gives a charged unit back: call if the body fails after 2xx headers.
    /// Idempotent; no effect on an uncharged permit.
    pub fn refund(&mut self) {
        if self.state != State::Charged {
            return;
        }
        if let Some(budget) = self.lane.budget_ledger() {
            budget.refund();
        }
        self.state = State::Refunded;
    }

    /// Ends the attempt: counts `outcome` on the lane and on the pool cell the
    /// permit came through, moves that cell's breaker, then frees the slot.
    ///
    /// Any outcome but a success refunds a charge, because a request whose
    /// body failed was not a successful request. An `auth` or `billing`
    /// failure takes the lane hard-down in every pool for [`HARD_DOWN_FOR`]
    /// (a permit taken from a bare [`Lane`] has no clock and skips that).
    ///
    /// The returned [`Transition`] says what changed, for metrics; ignoring
    /// it is fine.
    pub fn finish(mut self, outcome: Outcome) -> Transition {
        if !outcome.is_success() {
            self.refund();
        }
        self.lane.count(outcome);
        let mut transition = Transition::default();
        // Taken, so that Drop sees a settled attempt and keeps its hands off the probe.
        if let Some(binding) = self.cell.take() {
            let now = binding.clock.now();
            if let Some(reason) = outcome.class().and_then(|c| c.hard_down_reason()) {
                let until = now.saturating_add(HARD_DOWN_FOR);
                transition.hard_down = Some(self.lane.hard_down(reason, until));
            }
            transition.breaker = binding.cell.record(outcome, binding.admission, now);
        }
        transition
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(binding) = &self.cell {
            if binding.admission == Admission::Probe {
                binding.cell.release_probe();
            }
        }
        if self.state == State::Reserved {
            if let Some(budget) = self.lane.budget_ledger() {
                budget.release();
            }
        }
        self.lane.release_slot();
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("lane", &self.lane.name())
            .field(
                "cell",
                &self.cell.as_ref().map(|b| (b.cell.lane(), b.admission)),
            )
            .field("state", &self.state)
            .finish()
    }
}
