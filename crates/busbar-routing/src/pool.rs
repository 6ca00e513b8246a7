//! The [`Pool`]: weighted members chosen by nginx's smooth weighted round-robin.
//!
//! # Smooth weighted round-robin
//!
//! Each member keeps a *current weight*, starting at 0. To pick, every eligible
//! member adds its configured weight to its current weight; the member with the
//! highest current weight wins (the earliest in configuration order on a tie)
//! and has the sum of the eligible weights subtracted from its own. Over any
//! run of `W` picks with the same eligible set, where `W` is the sum of their
//! weights, each member is picked exactly its weight's number of times, and
//! picks of a heavy member are spread out rather than bunched: weights
//! `{a: 5, b: 1, c: 1}` give `a a b a c a a`, and `{a: 2, b: 1}` give `a b a`.
//!
//! Members that are not eligible are skipped without touching their current
//! weight, as nginx does for a peer that is down.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use crate::breaker::{BreakerPolicy, Jitter};
use crate::cell::Cell;
use crate::error::TopologyError;
use crate::failover::{FailoverPolicy, OnExhausted};
use crate::lane::LaneId;

/// One lane's place in a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The lane.
    pub lane: LaneId,
    /// Its share of the pool's traffic relative to the other members.
    pub weight: NonZeroU32,
    /// The largest context, in tokens, the member accepts; `None`: unknown.
    /// Context-length failover moves to a member with a larger or unknown one.
    pub context_max: Option<u64>,
}

impl Member {
    /// `lane` with `weight` and an unknown context size.
    pub const fn new(lane: LaneId, weight: NonZeroU32) -> Self {
        Member {
            lane,
            weight,
            context_max: None,
        }
    }

    /// The same member with a known context size.
    pub const fn with_context_max(mut self, tokens: u64) -> Self {
        self.context_max = Some(tokens);
        self
    }
}

/// A named, weighted set of lanes with its own selection state, one [`Cell`]
/// per member, and the policies that govern it: the breaker its cells follow,
/// failover limits, what to do when no member is usable, and session affinity.
#[derive(Debug)]
pub struct Pool {
    name: String,
    members: Vec<Member>,
    cells: Vec<Arc<Cell>>,
    /// SWRR current weights, parallel to `members`. A mutex rather than atomics
    /// because one pick reads and writes every entry; the critical section is a
    /// few adds over a handful of members and runs no caller code.
    current: Mutex<Vec<i64>>,
    breaker: BreakerPolicy,
    failover: FailoverPolicy,
    on_exhausted: OnExhausted,
    affinity_header: Option<String>,
}

impl Pool {
    /// A pool of `members`, in the order the configuration lists them (which
    /// breaks ties in selection), with the default breaker and failover
    /// policies, `reject` when exhausted, and no affinity. Fails if there are
    /// no members or a lane appears twice.
    pub fn new(name: impl Into<String>, members: Vec<Member>) -> Result<Self, TopologyError> {
        let name = name.into();
        if members.is_empty() {
            return Err(TopologyError::EmptyPool { pool: name });
        }
        for (i, m) in members.iter().enumerate() {
            if members[..i].iter().any(|earlier| earlier.lane == m.lane) {
                return Err(TopologyError::DuplicateMember {
                    pool: name,
                    lane: m.lane,
                });
            }
        }
        let breaker = BreakerPolicy::default();
        Ok(Pool {
            cells: make_cells(&name, &members, breaker),
            current: Mutex::new(vec![0; members.len()]),
            name,
            members,
            breaker,
            failover: FailoverPolicy::default(),
            on_exhausted: OnExhausted::default(),
            affinity_header: None,
        })
    }

    /// The same pool with its cells following `policy`.
    pub fn with_breaker(mut self, policy: BreakerPolicy) -> Self {
        // Fresh cells: a pool is configured before any request can hold one.
        self.cells = make_cells(&self.name, &self.members, policy);
        self.breaker = policy;
        self
    }

    /// The same pool with failover limited by `policy`.
    pub fn with_failover(mut self, policy: FailoverPolicy) -> Self {
        self.failover = policy;
        self
    }

    /// The same pool doing `action` when no member is usable.
    pub fn with_on_exhausted(mut self, action: OnExhausted) -> Self {
        self.on_exhausted = action;
        self
    }

    /// The same pool with session affinity keyed by the request header
    /// `header_name`. Routing never reads headers: the embedder passes the
    /// header's value to [`Route::plan`](crate::Route::plan).
    pub fn with_affinity(mut self, header_name: impl Into<String>) -> Self {
        self.affinity_header = Some(header_name.into());
        self
    }

    /// The breaker policy of this pool's cells.
    pub fn breaker(&self) -> &BreakerPolicy {
        &self.breaker
    }

    /// The failover limits.
    pub fn failover(&self) -> &FailoverPolicy {
        &self.failover
    }

    /// What happens when no member is usable.
    pub fn on_exhausted(&self) -> &OnExhausted {
        &self.on_exhausted
    }

    /// The header whose value keys session affinity, if affinity is on.
    pub fn affinity_header(&self) -> Option<&str> {
        self.affinity_header.as_deref()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The members, in configuration order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member entry for `lane`, if it belongs to this pool.
    pub fn member(&self, lane: LaneId) -> Option<&Member> {
        self.position(lane).map(|i| &self.members[i])
    }

    /// This pool's cell for `lane`, if it belongs to this pool.
    pub fn cell(&self, lane: LaneId) -> Option<&Cell> {
        self.cell_handle(lane).map(|c| &**c)
    }

    /// The cells, parallel to [`members`](Self::members).
    pub fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().map(|c| &**c)
    }

    /// Picks the next member by smooth weighted round-robin among those for
    /// which `usable` is true, advancing the pool's state; `None` (and no
    /// change) when none is usable.
    pub fn pick(&self, usable: impl Fn(LaneId) -> bool) -> Option<LaneId> {
        let eligible = self.eligibility(usable);
        let mut current = self.lock_current();
        swrr_step(&mut current, &self.members, &eligible).map(|i| self.members[i].lane)
    }

    /// The failover order for one request: the SWRR [`pick`](Self::pick)
    /// first (advancing the pool's state exactly as `pick` does), then the
    /// other usable members in the order SWRR would serve them if each earlier
    /// one dropped out. No lane appears twice; empty when none is usable.
    ///
    /// Only the first pick moves the shared state, so failover never skews the
    /// pool's long-run distribution. `usable` is asked once per member.
    pub fn candidates(&self, usable: impl Fn(LaneId) -> bool) -> Vec<LaneId> {
        let mut eligible = self.eligibility(usable);
        // Only the real step runs under the lock; the rest works on a copy.
        let (first, mut scratch) = {
            let mut current = self.lock_current();
            match swrr_step(&mut current, &self.members, &eligible) {
                Some(first) => (first, current.clone()),
                None => return Vec::new(),
            }
        };
        eligible[first] = false;
        let mut order = vec![self.members[first].lane];
        while let Some(i) = swrr_step(&mut scratch, &self.members, &eligible) {
            eligible[i] = false;
            order.push(self.members[i].lane);
        }
        order
    }

    pub(crate) fn cell_handle(&self, lane: LaneId) -> Option<&Arc<Cell>> {
        self.position(lane).map(|i| &self.cells[i])
    }

    fn position(&self, lane: LaneId) -> Option<usize> {
        self.members.iter().position(|m| m.lane == lane)
    }

    // Evaluated before locking so caller code never runs under the lock.
    fn eligibility(&self, usable: impl Fn(LaneId) -> bool) -> Vec<bool> {
        self.members.iter().map(|m| usable(m.lane)).collect()
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Vec<i64>> {
        // Nothing that can panic runs under the lock, and every state of the
        // weights is a valid one, so a poisoned lock is safe to keep using.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn make_cells(pool: &str, members: &[Member], policy: BreakerPolicy) -> Vec<Arc<Cell>> {
    members
        .iter()
        .map(|m| {
            let jitter = Jitter::for_cell(pool, m.lane.index());
            Arc::new(Cell::new(m.lane, policy, jitter))
        })
        .collect()
}

/// One round of smooth weighted round-robin over the eligible members;
/// returns the winner's index.
fn swrr_step(current: &mut [i64], members: &[Member], eligible: &[bool]) -> Option<usize> {
    let mut total: i64 = 0;
    let mut best: Option<usize> = None;
    for (i, member) in members.iter().enumerate() {
        if !eligible[i] {
            continue;
        }
        let weight = i64::from(member.weight.get());
        // Current weights stay within a few multiples of the total weight;
        // saturating keeps even a broken invariant from panicking.
        current[i] = current[i].saturating_add(weight);
        total = total.saturating_add(weight);
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    let winner = best?;
    current[winner] = current[winner].saturating_sub(total);
    Some(winner)
}

#[cfg(test)]
mod tests;
