//! Where a request goes: Busbar's lanes, pools, breakers and failover, with no I/O and no clock of its own.
//!
//! # Design
//!
//! A **lane** ([`Lane`]) is one model at one provider. It owns the things that
//! belong to the upstream account rather than to any route: `max_concurrent`
//! slots, a lifetime `max_requests` budget, success and failure counters, and a
//! hard-down state for credentials or billing that stopped working. Every pool
//! that lists a lane shares all of that.
//!
//! A **pool** ([`Pool`]) is a named, weighted set of lanes with its policies:
//! a [`BreakerPolicy`], a [`FailoverPolicy`], what to do [`OnExhausted`], and
//! optional session affinity. It picks among its usable members by nginx's
//! smooth weighted round-robin and orders the rest for failover. For each
//! member it keeps a **cell** ([`Cell`]): that pool's view of that lane, where
//! the circuit breaker lives, because a lane failing for one pool's traffic may
//! be fine for another's. A model called by its own name is served as a pool of
//! one, so it has a cell of its own too.
//!
//! A **router** ([`Router`]) holds one configuration's lanes and pools, resolves
//! a request's name (a pool first, then a model) to a [`Route`], and answers
//! `/healthz` ([`Router::any_usable`]), `/stats` ([`Router::snapshot`]) and the
//! health prober ([`Router::probe_targets`], [`Router::probe_result`]).
//!
//! One request goes like this:
//!
//! ```
//! # use std::{num::NonZeroU32, sync::Arc};
//! # use busbar_routing::{classify, ErrorSource, Lane, LaneId, Member, Outcome, Pool, Router, SystemClock};
//! # use busbar_ir::ApiError;
//! # let n = |v| NonZeroU32::new(v).unwrap();
//! # let lanes = vec![Lane::new("sonnet", "anthropic", n(8), None),
//! #                  Lane::new("gpt-4o", "openai", n(8), None)];
//! # let pools = vec![Pool::new("smart", vec![Member::new(LaneId::new(0), n(2)),
//! #                                          Member::new(LaneId::new(1), n(1))]).unwrap()];
//! # let router = Router::new(lanes, pools, Arc::new(SystemClock::new())).unwrap();
//! # let error_map = |_: &str| None;
//! let route = router.resolve("smart").expect("unknown names are a 404");
//! // Err: nothing usable and `on_exhausted` gave up → 503 with its retry_after.
//! let mut attempts = route.plan(None).expect("a usable member");
//! while let Some((lane, mut permit)) = attempts.next_attempt() {
//!     // ... send upstream to `lane`. An error status before any byte went to
//!     // the client is classified, reported, and maybe failed over:
//!     # let upstream_failed: Option<ApiError> = None;
//!     if let Some(error) = upstream_failed {
//!         // The error reply as the lane's protocol decoded it.
//!         let class = classify(&error, ErrorSource::Reply, error_map);
//!         let _ = attempts.finish(permit, Outcome::failed(class));
//!         if class.fails_over() { continue } else { break }
//!     }
//!     // 2xx headers arrived: charge, relay the body, then report how it went.
//!     permit.charge();
//!     let _transition = permit.finish(Outcome::Success);
//!     break;
//! }
//! ```
//!
//! # Breakers and failover
//!
//! Upstream failures, decoded by their protocol, are sorted by [`classify`]
//! into a [`FailureClass`]; the class decides everything after. Transient failures count toward the cell's
//! [`Trip`] rule; only when it is met does the breaker open (one failure below
//! the threshold costs nothing else). `auth` and `billing` take the lane
//! hard-down in every pool for [`HARD_DOWN_FOR`] or until a health probe
//! succeeds. Client errors and context-length refusals cost nothing. An open
//! breaker cools down for `base · 2^streak` (capped, jittered, floored by
//! `Retry-After`), then lets exactly one request through as the half-open
//! probe, which closes or reopens it. The cell's module documentation has the
//! state diagram.
//!
//! [`Route::plan`] turns a request into [`Attempts`]: the affinity or SWRR
//! pick, then failover order, bounded by the pool's cap, deadline and
//! exclusions, narrowed by context-length failures, and falling back to
//! another pool or the least bad member when nothing is usable.
//!
//! # Invariants
//!
//! * **Synchronous and I/O-free.** Nothing here blocks, awaits, or knows HTTP,
//!   YAML or a vendor. Configuration arrives as plain values; the server owns
//!   every socket and every per-lane upstream detail, indexed by [`LaneId`].
//!   The crate does not depend on `busbar-config`: the server converts.
//! * **Time is injected.** Time-dependent logic reads the [`Clock`] the
//!   embedder supplies, so tests drive a [`ManualClock`] instead of sleeping.
//!   `clippy.toml` bans `std::time::Instant` in this crate outside
//!   [`SystemClock`]. Jitter is deterministic too: each cell draws from its
//!   own seeded generator.
//! * **Budgets are exact.** A permit reserves a unit before the upstream call
//!   and charges it when 2xx headers arrive, so however many requests race,
//!   no more than `max_requests` are ever charged, the count never goes
//!   negative, and no request is charged twice.
//! * **Looking is free.** Selection's usability checks, `/healthz`, `/stats`
//!   and probe targeting read state and change none; in particular
//!   [`Cell::admits`] never claims the half-open probe. Only
//!   [`Route::try_acquire`] commits anything, and of any number of requests
//!   racing for a half-open lane exactly one becomes the probe.
//! * **Selection is deterministic.** Given the same usable members, a pool
//!   picks the same sequence every time, and a session key always maps to the
//!   same usable member, so tests assert exact sequences.
#![deny(missing_docs)]

mod affinity;
mod breaker;
mod cell;
mod classify;
mod clock;
mod error;
mod failover;
mod health;
mod lane;
mod permit;
mod pool;
mod router;
mod stats;

pub use breaker::{BreakerPolicy, Trip, MAX_RETRY_AFTER};
pub use cell::{BreakerChange, BreakerState, Cell};
pub use classify::{classify, ErrorSource, FailureClass};
pub use clock::{Clock, ManualClock, Moment, SystemClock};
pub use error::{AcquireError, PoolExhausted, TopologyError};
pub use failover::{Attempts, FailoverPolicy, OnExhausted, Stop};
pub use health::{ProbeEffect, ProbeMode};
pub use lane::{DeadReason, HardDown, HardDownReason, Lane, LaneId, Outcome, HARD_DOWN_FOR};
pub use permit::{Permit, Transition};
pub use pool::{Member, Pool};
pub use router::{Route, RouteKind, Router};
pub use stats::{LaneStats, Snapshot};
