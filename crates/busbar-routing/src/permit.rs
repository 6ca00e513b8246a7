//! The [`Permit`]: one request's hold on a lane slot and, on a budgeted lane, on one unit of budget.

use std::fmt;
use std::sync::Arc;

use crate::cell::Cell;
use crate::clock::Clock;
use crate::lane::{Lane, Outcome};

/// One attempt's hold on a [`Lane`]: a concurrency slot, and on a budgeted lane
/// one reserved unit of budget. Dropping it frees both (a charged unit stays
/// charged).
///
/// The permit is also the attempt's ledger. Budget moves through it in one
/// direction only, reserved → charged → refunded, so a request can neither be
/// charged twice nor refunded without a charge, whatever order the embedder's
/// error paths call things in. It owns its lane (and cell) handles, so it can
/// travel with a response body into another task.
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

    pub(crate) fn bind(mut self, cell: Arc<Cell>, clock: Arc<dyn Clock>) -> Self {
        self.cell = Some(CellBinding { cell, clock });
        self
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
    /// permit came through, then frees the slot.
    ///
    /// A [`Outcome::Failure`] after a charge also refunds it, because a request
    /// whose body failed was not a successful request.
    pub fn finish(mut self, outcome: Outcome) {
        if outcome == Outcome::Failure {
            self.refund();
        }
        self.lane.count(outcome);
        if let Some(binding) = &self.cell {
            binding.cell.record(outcome, binding.clock.now());
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
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
            .field("cell", &self.cell.as_ref().map(|b| b.cell.lane()))
            .field("state", &self.state)
            .finish()
    }
}
