//! Errors: building a topology that does not hold together, and failing to take a lane.

use std::time::Duration;

use thiserror::Error;

use crate::lane::LaneId;

/// Why lanes and pools could not be assembled into a [`Router`](crate::Router).
///
/// Configuration validation catches all of these first, with field paths; the
/// router checks again so that it never has to trust its input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// Two lanes share a model name.
    #[error("model `{name}` is defined twice")]
    DuplicateModel {
        /// The repeated name.
        name: String,
    },
    /// Two pools share a name.
    #[error("pool `{name}` is defined twice")]
    DuplicatePool {
        /// The repeated name.
        name: String,
    },
    /// A pool has no members.
    #[error("pool `{pool}` has no members")]
    EmptyPool {
        /// The pool.
        pool: String,
    },
    /// A pool lists the same lane twice.
    #[error("pool `{pool}` lists lane #{} twice", lane.index())]
    DuplicateMember {
        /// The pool.
        pool: String,
        /// The repeated lane.
        lane: LaneId,
    },
    /// A pool member refers to a lane the router was not given.
    #[error("pool `{pool}` refers to lane #{}, which does not exist", lane.index())]
    UnknownLane {
        /// The pool.
        pool: String,
        /// The missing lane.
        lane: LaneId,
    },
    /// A pool falls back to a pool that does not exist.
    #[error("pool `{pool}` falls back to `{fallback}`, which is not a pool")]
    UnknownFallback {
        /// The pool.
        pool: String,
        /// The missing fallback.
        fallback: String,
    },
    /// Fallback pools lead back to where they started.
    #[error("fallback pools form a cycle: {}", pools.join(" -> "))]
    FallbackCycle {
        /// The pools on the cycle, in fallback order, the first repeated at the end.
        pools: Vec<String>,
    },
}

/// No member of a pool is usable and its `on_exhausted` policy (after any
/// fallback pools) gives up: the request is answered 503 with
/// `Retry-After` set from [`retry_after`](Self::retry_after).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("no member of pool `{pool}` is usable")]
#[non_exhaustive]
pub struct PoolExhausted {
    /// The pool that gave up: the requested one, or the last fallback.
    pub pool: String,
    /// Time until the soonest member may take traffic again; `None` when no
    /// member ever will by itself (every budget is spent).
    pub retry_after: Option<Duration>,
}

/// Why a request could not take a lane. Each is a reason to try the next
/// candidate, not to fail the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AcquireError {
    /// Every `max_concurrent` slot is taken.
    #[error("all concurrency slots are in use")]
    Saturated,
    /// No uncharged budget is free: the budget is spent, or every remaining
    /// unit is reserved by a request still in flight.
    #[error("no request budget is left")]
    NoBudget,
    /// The lane is dead or hard-down, or this pool's breaker holds it open.
    #[error("the lane is not usable")]
    Unusable,
    /// The lane is not a member of the route's pool.
    #[error("the lane is not a member of this route")]
    NotAMember,
}
