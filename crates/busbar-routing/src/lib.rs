//! Where a request goes: Busbar's lanes, pools and selection, with no I/O and no clock of its own.
//!
//! # Design
//!
//! A **lane** ([`Lane`]) is one model at one provider. It owns the things that
//! belong to the upstream account rather than to any route: `max_concurrent`
//! slots, a lifetime `max_requests` budget, success and failure counters, and a
//! hard-down state for credentials or billing that stopped working. Every pool
//! that lists a lane shares all of that.
//!
//! A **pool** ([`Pool`]) is a named, weighted set of lanes. It picks among its
//! usable members by nginx's smooth weighted round-robin and orders the rest for
//! failover. For each member it keeps a **cell** ([`Cell`]): that pool's view of
//! that lane, where the circuit breaker lives, because a lane failing for one
//! pool's traffic may be fine for another's. A model called by its own name is
//! served as a pool of one, so it has a cell of its own too.
//!
//! A **router** ([`Router`]) holds one configuration's lanes and pools, resolves
//! a request's name (a pool first, then a model) to a [`Route`], and answers
//! `/healthz` ([`Router::any_usable`]) and `/stats` ([`Router::snapshot`]).
//!
//! One request goes like this:
//!
//! ```
//! # use std::{num::NonZeroU32, sync::Arc};
//! # use busbar_routing::{Lane, LaneId, Member, Outcome, Pool, Router, SystemClock};
//! # let n = |v| NonZeroU32::new(v).unwrap();
//! # let lanes = vec![Lane::new("sonnet", "anthropic", n(8), None),
//! #                  Lane::new("gpt-4o", "openai", n(8), None)];
//! # let pools = vec![Pool::new("smart", vec![Member::new(LaneId::new(0), n(2)),
//! #                                          Member::new(LaneId::new(1), n(1))]).unwrap()];
//! # let router = Router::new(lanes, pools, Arc::new(SystemClock::new())).unwrap();
//! let route = router.resolve("smart").expect("unknown names are a 404");
//! for lane in route.candidates() {
//!     let Ok(mut permit) = route.try_acquire(lane) else { continue };
//!     // ... send upstream; when 2xx headers arrive:
//!     permit.charge();
//!     // ... relay the body; then report how it went, which frees the slot:
//!     permit.finish(Outcome::Success);
//!     break;
//! }
//! ```
//!
//! # Invariants
//!
//! * **Synchronous and I/O-free.** Nothing here blocks, awaits, or knows HTTP,
//!   YAML or a vendor. Configuration arrives as plain values; the server owns
//!   every socket and every per-lane upstream detail, indexed by [`LaneId`].
//! * **Time is injected.** Time-dependent logic takes a [`Moment`] read from the
//!   [`Clock`] the embedder supplies, so tests drive a [`ManualClock`] instead of
//!   sleeping. `clippy.toml` bans `std::time::Instant` in this crate outside
//!   [`SystemClock`].
//! * **Budgets are exact.** A permit reserves a unit before the upstream call
//!   and charges it when 2xx headers arrive, so however many requests race,
//!   no more than `max_requests` are ever charged, the count never goes
//!   negative, and no request is charged twice.
//! * **Looking is free.** Selection's usability checks, `/healthz` and `/stats`
//!   read state and change none; only [`Route::try_acquire`] commits anything.
//! * **Selection is deterministic.** Given the same usable members, a pool
//!   picks the same sequence every time, so tests assert exact sequences.
//!
//! # Breakers
//!
//! Breakers are not built yet. [`Cell`] documents the seam: the counters they
//! need are kept, and [`Cell::admits`] is the single place usability will
//! consult them.
#![deny(missing_docs)]

mod cell;
mod clock;
mod error;
mod lane;
mod permit;
mod pool;
mod router;
mod stats;

pub use cell::Cell;
pub use clock::{Clock, ManualClock, Moment, SystemClock};
pub use error::{AcquireError, TopologyError};
pub use lane::{DeadReason, HardDownReason, Lane, LaneId, Outcome};
pub use permit::Permit;
pub use pool::{Member, Pool};
pub use router::{Route, RouteKind, Router};
pub use stats::{LaneStats, Snapshot};
