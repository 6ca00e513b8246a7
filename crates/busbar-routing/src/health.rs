//! Health probing, routing's half: which lanes are due a probe, and what a probe's result changes.
//!
//! The server owns the timer and the one-token request in the provider's
//! protocol; every interval it asks [`Router::probe_targets`] (or
//! [`Router::needs_probe`] per lane, since the mode is per provider), probes,
//! and reports each result to [`Router::probe_result`].
//!
//! A successful probe revives a hard-down lane at once (the configuration reference's "open
//! for 30 minutes or until a health probe succeeds") and cuts short every
//! open breaker of the lane, making it half-open: the next request through
//! each such cell is that cell's probe. It does not close breakers outright,
//! because a one-token request succeeding says little about a lane that was
//! failing under real traffic (a rate limit, say); the half-open probe
//! decides, as it always does. A probe that fails with `auth` or `billing`
//! renews the hard-down; any other failure changes nothing — the breakers
//! learn only from real traffic.

use crate::cell::BreakerState;
use crate::lane::{DeadReason, LaneId, Outcome, HARD_DOWN_FOR};
use crate::router::Router;

/// Which lanes a provider's health probing covers (`health.mode`; `none`
/// means the server does not probe at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProbeMode {
    /// Lanes that are hard-down or open in some cell (`dead`).
    Dead,
    /// Every lane (`active`).
    Active,
}

/// What a health probe's result changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProbeEffect {
    /// The lane was hard-down and is back.
    pub revived: bool,
    /// Cells whose open breaker became half-open.
    pub half_opened: usize,
    /// The lane went (or stayed) hard-down.
    pub hard_down: bool,
}

impl Router {
    /// Whether `lane` is due a probe under `mode`. Never a lane whose budget is
    /// spent: no probe can bring it back. Under `dead`, a lane hard-down or
    /// with a breaker anywhere other than closed (open, half-open, probing).
    /// A pure query.
    pub fn needs_probe(&self, lane: LaneId, mode: ProbeMode) -> bool {
        let Some(handle) = self.lane(lane) else {
            return false;
        };
        let now = self.clock().now();
        if handle.dead_reason(now) == Some(DeadReason::BudgetExhausted) {
            return false;
        }
        match mode {
            ProbeMode::Active => true,
            ProbeMode::Dead => {
                handle.hard_down_state(now).is_some()
                    || self
                        .cells(lane)
                        .any(|(_, cell)| cell.state(now) != BreakerState::Closed)
            }
        }
    }

    /// Every lane due a probe under `mode`, in lane order.
    pub fn probe_targets(&self, mode: ProbeMode) -> Vec<LaneId> {
        (0..self.lanes().len())
            .map(LaneId::new)
            .filter(|&lane| self.needs_probe(lane, mode))
            .collect()
    }

    /// Applies a health probe's result for `lane` (see the module
    /// documentation). Counts nothing on the lane or its cells: probes are
    /// not traffic.
    pub fn probe_result(&self, lane: LaneId, outcome: Outcome) -> ProbeEffect {
        let mut effect = ProbeEffect::default();
        let Some(handle) = self.lane(lane) else {
            return effect;
        };
        let now = self.clock().now();
        match outcome.class() {
            None => {
                effect.revived = handle.hard_down_state(now).is_some();
                handle.revive();
                effect.half_opened = self
                    .cells(lane)
                    .filter(|(_, cell)| cell.cut_cooldown(now))
                    .count();
            }
            Some(class) => {
                if let Some(reason) = class.hard_down_reason() {
                    handle.hard_down(reason, now.saturating_add(HARD_DOWN_FOR));
                    effect.hard_down = true;
                }
            }
        }
        effect
    }
}

#[cfg(test)]
mod tests;
