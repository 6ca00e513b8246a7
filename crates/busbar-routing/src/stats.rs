//! Read-only snapshots for `/stats`: [`LaneStats`] per lane and the [`Snapshot`] of a whole router.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::lane::DeadReason;

/// One lane as `/stats` shows it, field for field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LaneStats {
    /// The model name.
    pub model: String,
    /// The provider name.
    pub provider: String,
    /// Concurrency slots.
    pub max_concurrent: u32,
    /// Slots in use.
    pub inflight: u32,
    /// Slots free.
    pub free_slots: u32,
    /// Successful attempts.
    pub ok: u64,
    /// Failed attempts.
    pub err: u64,
    /// Attempts the caller was at fault for.
    pub client_fault: u64,
    /// Whether some cell could send it traffic now: the lane is alive and not
    /// hard-down, and at least one of its cells (a pool's, or its own for
    /// direct calls) admits it. Momentary saturation does not count.
    pub usable: bool,
    /// Exactly `!usable`.
    pub dead: bool,
    /// Why it is dead; `null` when it is not. The lane's own reason
    /// (`budget_exhausted`, `auth`, `billing`) wins; otherwise
    /// `breaker_open`, when every cell's breaker holds it open.
    pub dead_reason: Option<DeadReason>,
    /// Whole seconds (rounded up) until the lane is back everywhere: the
    /// longest of its hard-down and every cell's open cooldown, so a lane
    /// struggling in one pool shows even while another still uses it.
    /// 0 when nothing is cooling down.
    pub cooldown_remaining_s: u64,
    /// The longest run of breaker reopenings among the lane's cells.
    pub streak: u32,
    /// Uncharged units of `max_requests`; `None` (serialized as `-1`, as in
    /// the configuration) when unlimited.
    #[serde(serialize_with = "budget_as_config")]
    pub budget: Option<u64>,
}

/// The whole `/stats` document: `{"pools": {POOL: [MODEL…]}, "lanes": [LaneStats…]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// Each configured pool (sorted by name) with its member models in
    /// configuration order.
    pub pools: BTreeMap<String, Vec<String>>,
    /// Every lane, in configuration order.
    pub lanes: Vec<LaneStats>,
}

fn budget_as_config<S: Serializer>(budget: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match budget {
        Some(n) => s.serialize_u64(*n),
        None => s.serialize_i64(-1),
    }
}
