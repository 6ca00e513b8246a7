//! A resolved pool: weighted members, breaker tuning, failover limits, what to
//! do when every member is unusable, and session affinity.

use std::time::Duration;

/// A named group of models with weighted selection and failover.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Pool {
    /// The name under `pools:`.
    pub name: String,
    /// The members in file order (selection order depends on it).
    pub members: Vec<PoolMember>,
    /// Breaker tuning for this pool's (pool, lane) cells.
    pub breaker: Breaker,
    /// Failover limits.
    pub failover: Failover,
    /// What happens when no member is usable.
    pub on_exhausted: OnExhausted,
    /// Session affinity, if configured.
    pub affinity: Option<Affinity>,
}

/// One member of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMember {
    /// The model (lane) this member routes to.
    pub target: String,
    /// Its weight in smooth weighted round-robin (default 1, at least 1).
    pub weight: u32,
    /// The largest prompt, in tokens, the model accepts; `None` when unknown.
    /// Context-length failover prefers members with a larger or unknown one.
    pub context_max: Option<u64>,
}

/// When a (pool, lane) breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Breaker {
    /// The trip rule.
    pub trip: Trip,
    /// The first cooldown (`base_cooldown_secs`, default 15); doubled per
    /// consecutive trip.
    pub base_cooldown: Duration,
    /// The longest cooldown (`max_cooldown_secs`, default 120); at least
    /// `base_cooldown`.
    pub max_cooldown: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            trip: Trip::default(),
            base_cooldown: Duration::from_secs(15),
            max_cooldown: Duration::from_secs(120),
        }
    }
}

/// How a breaker decides to trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TripMode {
    /// Trip when the failure ratio over `window` reaches `threshold` with at
    /// least `min_requests` requests seen (`error_rate`, the default).
    #[default]
    ErrorRate,
    /// Trip after `n` consecutive failures (`consecutive`).
    Consecutive,
}

/// The trip rule; every field is filled in whichever mode is chosen, so a
/// mode change needs no other edit.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Trip {
    /// Which rule applies.
    pub mode: TripMode,
    /// The sliding window for `error_rate` (`window_s`, default 30).
    pub window: Duration,
    /// The failure ratio that trips, in (0, 1] (default 0.5).
    pub threshold: f64,
    /// Requests needed in the window before `error_rate` may trip
    /// (default 5).
    pub min_requests: u32,
    /// Consecutive failures that trip under `consecutive` (default 3).
    pub n: u32,
}

impl Default for Trip {
    fn default() -> Self {
        Self {
            mode: TripMode::ErrorRate,
            window: Duration::from_secs(30),
            threshold: 0.5,
            min_requests: 5,
            n: 3,
        }
    }
}

/// Limits on in-flight failover.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failover {
    /// Time from the first attempt after which no further attempt starts
    /// (`deadline_secs`, default 120).
    pub deadline: Duration,
    /// Further attempts after the first (default 3; 0 disables failover).
    pub cap: u32,
    /// Models never failed over to from this pool.
    pub exclusions: Vec<String>,
}

impl Default for Failover {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(120),
            cap: 3,
            exclusions: Vec::new(),
        }
    }
}

/// What a pool does when no member is usable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum OnExhausted {
    /// Answer 503 with `Retry-After` set to the soonest cooldown (`reject`,
    /// also written `503`; the default).
    #[default]
    Reject,
    /// Use the member whose cooldown ends first (`least_bad`).
    LeastBad,
    /// Select from another pool (`fallback_pool:NAME`); fallback chains are
    /// acyclic.
    FallbackPool(String),
}

/// How requests of one session stick to one member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum AffinityMode {
    /// By the value of a request header (`session`).
    #[default]
    Session,
}

/// Session affinity for a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Affinity {
    /// How sessions are identified.
    pub mode: AffinityMode,
    /// The header naming the session, lowercased (default `x-session-id`).
    pub header_name: String,
}
