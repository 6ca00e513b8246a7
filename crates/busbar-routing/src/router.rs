//! The [`Router`]: lanes and pools assembled, names resolved to a [`Route`], snapshots for `/stats`.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::cell::{Admission, Cell};
use crate::clock::{Clock, Moment};
use crate::error::{AcquireError, TopologyError};
use crate::failover::OnExhausted;
use crate::lane::{DeadReason, HardDown, HardDownReason, Lane, LaneId};
use crate::permit::Permit;
use crate::pool::{Member, Pool};
use crate::stats::{LaneStats, Snapshot};

/// Every lane and pool of one configuration, and the clock they are judged by.
///
/// Built once per configuration and shared (behind an `Arc`) by every request;
/// a reload builds a new one. Lanes are handles, so a reload may carry a
/// [`Lane`] into the new router to keep its budget and counters.
#[derive(Debug)]
pub struct Router {
    lanes: Vec<Lane>,
    lane_names: HashMap<String, LaneId>,
    pools: Vec<Pool>,
    pool_names: HashMap<String, usize>,
    /// `direct[i]` is the single-member pool that serves lane `i` when it is
    /// called by its model name, so direct calls get their own cell.
    direct: Vec<Pool>,
    clock: Arc<dyn Clock>,
}

/// What a name resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteKind {
    /// A configured pool.
    Pool,
    /// A model called directly.
    Model,
}

/// Where one request may go: a pool, or a model called directly (served as a
/// pool of one with its own cell). Cheap to copy; borrows the router.
#[derive(Debug, Clone, Copy)]
pub struct Route<'r> {
    router: &'r Router,
    pool: &'r Pool,
    kind: RouteKind,
}

impl Router {
    /// Assembles `lanes` and `pools`. A [`LaneId`] in a pool member or
    /// failover exclusion is an index into `lanes`. Fails on a repeated model
    /// or pool name, a lane that is not there, a fallback pool that is not
    /// there, or fallback pools that form a cycle.
    ///
    /// A pool may share its name with a model: resolution prefers the pool.
    /// Models called directly get a cell with the default
    /// [`BreakerPolicy`](crate::BreakerPolicy).
    pub fn new(
        lanes: Vec<Lane>,
        pools: Vec<Pool>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, TopologyError> {
        let mut lane_names = HashMap::with_capacity(lanes.len());
        for (i, lane) in lanes.iter().enumerate() {
            if lane_names
                .insert(lane.name().to_owned(), LaneId::new(i))
                .is_some()
            {
                return Err(TopologyError::DuplicateModel {
                    name: lane.name().to_owned(),
                });
            }
        }
        let mut pool_names = HashMap::with_capacity(pools.len());
        for (i, pool) in pools.iter().enumerate() {
            if pool_names.insert(pool.name().to_owned(), i).is_some() {
                return Err(TopologyError::DuplicatePool {
                    name: pool.name().to_owned(),
                });
            }
            let mentioned = pool.members().iter().map(|m| m.lane);
            let excluded = pool.failover().exclusions.iter().copied();
            if let Some(lane) = mentioned
                .chain(excluded)
                .find(|lane| lane.index() >= lanes.len())
            {
                return Err(TopologyError::UnknownLane {
                    pool: pool.name().to_owned(),
                    lane,
                });
            }
        }
        check_fallbacks(&pools, &pool_names)?;
        let direct = lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                Pool::new(
                    lane.name(),
                    vec![Member::new(LaneId::new(i), NonZeroU32::MIN)],
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Router {
            lanes,
            lane_names,
            pools,
            pool_names,
            direct,
            clock,
        })
    }

    /// Resolves a name from a request: a pool first, then a model.
    pub fn resolve(&self, name: &str) -> Option<Route<'_>> {
        if let Some(&i) = self.pool_names.get(name) {
            return Some(Route {
                router: self,
                pool: &self.pools[i],
                kind: RouteKind::Pool,
            });
        }
        self.lane_names.get(name).map(|id| Route {
            router: self,
            pool: &self.direct[id.index()],
            kind: RouteKind::Model,
        })
    }

    /// The lane with `id`.
    pub fn lane(&self, id: LaneId) -> Option<&Lane> {
        self.lanes.get(id.index())
    }

    /// The route of the configured pool `name` (never a model).
    pub(crate) fn pool_route(&self, name: &str) -> Option<Route<'_>> {
        self.pool_names.get(name).map(|&i| Route {
            router: self,
            pool: &self.pools[i],
            kind: RouteKind::Pool,
        })
    }

    /// The id of the lane serving `model`.
    pub fn lane_id(&self, model: &str) -> Option<LaneId> {
        self.lane_names.get(model).copied()
    }

    /// Every lane, in the order given to [`new`](Self::new).
    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    /// The configured pools (not the implicit one-lane pools of direct calls).
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// The clock this router judges time by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Takes `lane` out of service in every pool for `duration` from now and
    /// returns the hard-down in force; `None` for an unknown id.
    pub fn hard_down(
        &self,
        lane: LaneId,
        reason: HardDownReason,
        duration: Duration,
    ) -> Option<HardDown> {
        let lane = self.lane(lane)?;
        Some(lane.hard_down(reason, self.clock.now().saturating_add(duration)))
    }

    /// Every cell about `lane`, with the name of the pool it belongs to: one
    /// per configured pool listing the lane, then its direct cell (named
    /// after the model). For per-cell metrics such as
    /// `busbar_breaker_trips_total{pool,lane}` from [`Cell::trips`].
    pub fn cells(&self, lane: LaneId) -> impl Iterator<Item = (&str, &Cell)> {
        self.pools
            .iter()
            .chain(self.direct.get(lane.index()))
            .filter_map(move |p| Some((p.name(), p.cell(lane)?)))
    }

    /// Whether any lane is usable in some cell: the `/healthz` question.
    /// Pure: reads state, claims nothing.
    pub fn any_usable(&self) -> bool {
        let now = self.clock.now();
        self.lanes
            .iter()
            .enumerate()
            .any(|(i, lane)| self.lane_usable_anywhere(LaneId::new(i), lane, now))
    }

    /// Everything `/stats` shows.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_for(|_| true)
    }

    /// What `/stats` shows a caller who may reach only the pools and models
    /// for which `visible` is true: those pools, and the lanes that are
    /// visible themselves or serve a visible pool.
    pub fn snapshot_for(&self, visible: impl Fn(&str) -> bool) -> Snapshot {
        let now = self.clock.now();
        let shown_pools: Vec<&Pool> = self.pools.iter().filter(|p| visible(p.name())).collect();
        let pools = shown_pools
            .iter()
            .map(|p| {
                let models = p
                    .members()
                    .iter()
                    .filter_map(|m| self.lane(m.lane))
                    .map(|l| l.name().to_owned())
                    .collect();
                (p.name().to_owned(), models)
            })
            .collect::<BTreeMap<_, _>>();
        let lanes = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(i, lane)| {
                visible(lane.name())
                    || shown_pools
                        .iter()
                        .any(|p| p.member(LaneId::new(*i)).is_some())
            })
            .map(|(i, lane)| self.lane_stats(LaneId::new(i), lane, now))
            .collect();
        Snapshot { pools, lanes }
    }

    /// The lane's own stats with its cells' breakers folded in. A lane is
    /// `usable` when it is alive and some cell admits it, and `dead` exactly
    /// when it is not usable: for its own reason (budget, auth, billing) or,
    /// failing that, `breaker_open`. `cooldown_remaining_s` and `streak` are
    /// the worst over the lane's hard-down and all its cells, so an operator
    /// sees a lane struggling in one pool even while another still uses it.
    fn lane_stats(&self, id: LaneId, lane: &Lane, now: Moment) -> LaneStats {
        let mut stats = lane.stats(now);
        stats.usable = self.lane_usable_anywhere(id, lane, now);
        if !stats.usable && stats.dead_reason.is_none() {
            stats.dead_reason = Some(DeadReason::BreakerOpen);
        }
        stats.dead = !stats.usable;
        for (_, cell) in self.cells(id) {
            stats.streak = stats.streak.max(cell.streak());
            let cooling = crate::lane::whole_seconds_up(cell.cooldown_remaining(now));
            stats.cooldown_remaining_s = stats.cooldown_remaining_s.max(cooling);
        }
        stats
    }

    pub(crate) fn lane_usable_anywhere(&self, id: LaneId, lane: &Lane, now: Moment) -> bool {
        lane.is_usable(now) && self.cells(id).any(|(_, cell)| cell.admits(now))
    }
}

/// Checks that every `fallback_pool` names a pool and that following them
/// never leads back to a pool already on the path.
fn check_fallbacks(pools: &[Pool], names: &HashMap<String, usize>) -> Result<(), TopologyError> {
    let fallback = |i: usize| -> Result<Option<usize>, TopologyError> {
        match pools[i].on_exhausted() {
            OnExhausted::FallbackPool(name) => match names.get(name) {
                Some(&j) => Ok(Some(j)),
                None => Err(TopologyError::UnknownFallback {
                    pool: pools[i].name().to_owned(),
                    fallback: name.clone(),
                }),
            },
            _ => Ok(None),
        }
    };
    for start in 0..pools.len() {
        // Each pool has at most one fallback, so a walk either ends or
        // revisits a pool within `pools.len()` steps.
        let mut path = vec![start];
        let mut at = start;
        while let Some(next) = fallback(at)? {
            if let Some(pos) = path.iter().position(|&p| p == next) {
                let mut cycle: Vec<String> = path[pos..]
                    .iter()
                    .map(|&p| pools[p].name().to_owned())
                    .collect();
                cycle.push(pools[next].name().to_owned());
                return Err(TopologyError::FallbackCycle { pools: cycle });
            }
            path.push(next);
            at = next;
        }
    }
    Ok(())
}

impl<'r> Route<'r> {
    /// The router this route belongs to.
    pub fn router(&self) -> &'r Router {
        self.router
    }

    /// The pool or model name the request asked for.
    pub fn name(&self) -> &'r str {
        self.pool.name()
    }

    /// Whether the name was a pool or a model.
    pub fn kind(&self) -> RouteKind {
        self.kind
    }

    /// The pool serving this route (for a model, its pool of one).
    pub fn pool(&self) -> &'r Pool {
        self.pool
    }

    /// The lane with `id`.
    pub fn lane(&self, id: LaneId) -> Option<&'r Lane> {
        self.router.lane(id)
    }

    /// The lanes to try for one request, in order: the SWRR pick over the
    /// usable members, then failover order (see [`Pool::candidates`]). Empty
    /// when no member is usable.
    ///
    /// Each call advances the pool's selection once, so call it once per
    /// request. [`plan`](Self::plan) is the fuller form: it adds affinity,
    /// the failover cap, deadline and exclusions, context-length failover and
    /// the `on_exhausted` policy.
    pub fn candidates(&self) -> Vec<LaneId> {
        let now = self.router.clock.now();
        self.pool.candidates(|lane| self.usable_at(lane, now))
    }

    /// Whether this route may send traffic to `lane` now. Re-check before a
    /// failover attempt: state may have changed since [`candidates`](Self::candidates).
    pub fn is_usable(&self, lane: LaneId) -> bool {
        self.usable_at(lane, self.router.clock.now())
    }

    /// Commits one attempt to `lane`: checks it is usable in this route,
    /// takes a slot and budget as [`Lane::try_acquire`] does, and, when the
    /// cell's breaker is half-open, claims the probe. The permit reports the
    /// attempt's outcome to this route's cell as well as the lane.
    ///
    /// Of any number of requests racing for a half-open lane, exactly one
    /// gets the probe; the others are refused with
    /// [`AcquireError::Unusable`] and move on.
    pub fn try_acquire(&self, lane: LaneId) -> Result<Permit, AcquireError> {
        let (handle, cell) = self.parts(lane)?;
        let now = self.router.clock.now();
        if !self.usable_at(lane, now) {
            return Err(AcquireError::Unusable);
        }
        // The slot first: claiming the probe and then finding the lane
        // saturated would hold the probe for a request that never runs. If
        // the claim fails, dropping the permit frees the slot again.
        let permit = handle.try_acquire()?;
        let admission = cell.try_claim(now)?;
        Ok(permit.bind(Arc::clone(cell), Arc::clone(&self.router.clock), admission))
    }

    /// Like [`try_acquire`](Self::try_acquire) but in spite of the lane's
    /// hard-down and this cell's breaker, for `least_bad`. Capacity and
    /// budget still apply. A cell that has become half-open is probed as usual.
    pub(crate) fn acquire_forced(&self, lane: LaneId) -> Result<Permit, AcquireError> {
        let (handle, cell) = self.parts(lane)?;
        let now = self.router.clock.now();
        let permit = handle.try_acquire()?;
        let admission = cell.try_claim(now).unwrap_or(Admission::Forced);
        Ok(permit.bind(Arc::clone(cell), Arc::clone(&self.router.clock), admission))
    }

    /// The usability rule, in one place: the lane is alive and not hard-down,
    /// and this pool's cell admits it (closed, or half-open with the probe
    /// unclaimed). A pure query.
    pub(crate) fn usable_at(&self, lane: LaneId, now: Moment) -> bool {
        let (Some(handle), Some(cell)) = (self.router.lane(lane), self.pool.cell(lane)) else {
            return false;
        };
        handle.is_usable(now) && cell.admits(now)
    }

    fn parts(&self, lane: LaneId) -> Result<(&'r Lane, &'r Arc<Cell>), AcquireError> {
        let cell = self
            .pool
            .cell_handle(lane)
            .ok_or(AcquireError::NotAMember)?;
        let handle = self.router.lane(lane).ok_or(AcquireError::NotAMember)?;
        Ok((handle, cell))
    }
}

#[cfg(test)]
mod tests;
