//! The admission rules, as pure functions both stores call inside their
//! transactions, and the [`Refusal`] a request gets when a rule says no.
//!
//! Order (docs/configuration.md, *Governance*): the key must exist and be enabled (401), reach the
//! target (403), fit its budget (429 `insufficient_quota`), then fit its
//! request and token rates (429 with `Retry-After`).

use crate::api::KeyMetadata;
use crate::money::Cents;
use crate::window::{Timestamp, RATE_WINDOW};

/// Which per-minute limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimit {
    /// `rpm_limit`: requests admitted in the last 60 s.
    Requests,
    /// `tpm_limit`: tokens settled in the last 60 s.
    Tokens,
}

impl RateLimit {
    /// `rpm_limit` or `tpm_limit`.
    pub fn field(self) -> &'static str {
        match self {
            Self::Requests => "rpm_limit",
            Self::Tokens => "tpm_limit",
        }
    }
}

/// Why a request was not admitted. The server renders it in the ingress
/// protocol's error shape with [`status`](Self::status),
/// [`code`](Self::code) and, for rate limits, a `Retry-After` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No virtual key has this secret (or none was presented).
    #[error("invalid virtual key")]
    UnknownKey,
    /// The key exists but was suspended (`enabled: false`).
    #[error("virtual key {key_id} is disabled")]
    KeyDisabled {
        /// The key.
        key_id: String,
    },
    /// The key's `allowed_pools` do not include the target.
    #[error("virtual key {key_id} may not use `{target}`")]
    NotAllowed {
        /// The key.
        key_id: String,
        /// The pool or model that was asked for.
        target: String,
    },
    /// Spend plus in-flight reservations plus this request's worst case
    /// would pass `max_budget_cents` in the current window.
    #[error("virtual key {key_id} has exhausted its budget for this {period} window")]
    BudgetExhausted {
        /// The key.
        key_id: String,
        /// The window: `total`, `daily` or `monthly`.
        period: &'static str,
    },
    /// A per-minute limit is reached.
    #[error("virtual key {key_id} reached its {} ({limit_value} per minute); retry after {retry_after_secs} s", .limit.field())]
    RateLimited {
        /// The key.
        key_id: String,
        /// Which limit.
        limit: RateLimit,
        /// The limit's value.
        limit_value: u64,
        /// Whole seconds until a request would fit, at least 1.
        retry_after_secs: u64,
    },
    /// The store could not be reached and `fail_open` is off.
    #[error("governance store unavailable: {reason}")]
    StoreUnavailable {
        /// What failed.
        reason: String,
    },
}

impl Refusal {
    /// A stable machine-readable code, OpenAI-style: `invalid_api_key`,
    /// `permission_denied`, `insufficient_quota`, `rate_limit_exceeded`,
    /// `governance_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownKey | Self::KeyDisabled { .. } => "invalid_api_key",
            Self::NotAllowed { .. } => "permission_denied",
            Self::BudgetExhausted { .. } => "insufficient_quota",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::StoreUnavailable { .. } => "governance_unavailable",
        }
    }

    /// Seconds for a `Retry-After` header, for rate limits only.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The key the refusal concerns, when one was identified.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Self::KeyDisabled { key_id }
            | Self::NotAllowed { key_id, .. }
            | Self::BudgetExhausted { key_id, .. }
            | Self::RateLimited { key_id, .. } => Some(key_id),
            Self::UnknownKey | Self::StoreUnavailable { .. } => None,
        }
    }
}

/// The key-level checks that need no counters: enabled, then allowed pools.
pub(crate) fn gate(key: &KeyMetadata, target: &str) -> Result<(), Refusal> {
    if !key.enabled {
        return Err(Refusal::KeyDisabled {
            key_id: key.id.clone(),
        });
    }
    if !key.allows(target) {
        return Err(Refusal::NotAllowed {
            key_id: key.id.clone(),
            target: target.to_owned(),
        });
    }
    Ok(())
}

/// Whether `cost` fits: spent + reserved + cost ≤ max. Computed in 128 bits
/// so no sum can wrap.
pub(crate) fn budget_allows(max: Cents, spent: Cents, reserved: Cents, cost: Cents) -> bool {
    let total =
        i128::from(spent.micros()) + i128::from(reserved.micros()) + i128::from(cost.micros());
    total <= i128::from(max.micros())
}

pub(crate) fn budget_refusal(key: &KeyMetadata) -> Refusal {
    Refusal::BudgetExhausted {
        key_id: key.id.clone(),
        period: key.budget_period.as_str(),
    }
}

/// Rate rows at or before this instant have left the window.
pub(crate) fn rate_cutoff(now: Timestamp) -> Timestamp {
    now.saturating_sub(RATE_WINDOW)
}

/// Whole seconds from `now` until `free_at`, at least 1 (a `Retry-After`
/// of 0 makes clients spin).
pub(crate) fn retry_after(free_at: Timestamp, now: Timestamp) -> u64 {
    let ms = u64::try_from(free_at.unix_millis().saturating_sub(now.unix_millis())).unwrap_or(0);
    ms.div_ceil(1000).max(1)
}

/// Which admission, counting from the oldest (0) in the window, must age
/// out before a request fits: with `count` admitted and room for `limit`,
/// the `count - limit + 1` oldest must leave, the last of them at this
/// offset. The slot frees one [`RATE_WINDOW`] after that admission.
pub(crate) fn rpm_leaving_offset(count: u64, limit: u64) -> u64 {
    count.saturating_sub(limit)
}

/// When a request slot frees, given the admission that must leave.
pub(crate) fn rpm_free_at(leaving: Timestamp) -> Timestamp {
    leaving.saturating_add(RATE_WINDOW)
}

/// When token room frees, given the settled `(time, tokens)` rows in the
/// window, oldest first: once the rows still inside sum below `limit`.
pub(crate) fn tpm_free_at(rows: &[(Timestamp, u64)], limit: u64) -> Timestamp {
    let mut remaining: u64 = rows.iter().map(|&(_, t)| t).fold(0, u64::saturating_add);
    for &(at, tokens) in rows {
        remaining = remaining.saturating_sub(tokens);
        if remaining < limit {
            return at.saturating_add(RATE_WINDOW);
        }
    }
    rows.last()
        .map_or(Timestamp::EPOCH, |&(at, _)| at)
        .saturating_add(RATE_WINDOW)
}

pub(crate) fn rate_refusal(
    key: &KeyMetadata,
    limit: RateLimit,
    limit_value: u64,
    free_at: Timestamp,
    now: Timestamp,
) -> Refusal {
    Refusal::RateLimited {
        key_id: key.id.clone(),
        limit,
        limit_value,
        retry_after_secs: retry_after(free_at, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::BudgetPeriod;

    fn key() -> KeyMetadata {
        KeyMetadata {
            id: "vk_0000000000000001".into(),
            name: "k".into(),
            metadata: None,
            allowed_pools: vec!["fast".into()],
            max_budget: None,
            budget_period: BudgetPeriod::Daily,
            rpm_limit: None,
            tpm_limit: None,
            enabled: true,
            created_at: Timestamp::EPOCH,
        }
    }

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_unix_millis(n)
    }

    #[test]
    fn disabled_comes_before_pools() {
        let mut k = key();
        assert_eq!(gate(&k, "fast"), Ok(()));
        let refused = gate(&k, "slow").expect_err("not allowed");
        assert_eq!(refused.code(), "permission_denied");
        k.enabled = false;
        let refused = gate(&k, "slow").expect_err("disabled");
        assert_eq!(refused.code(), "invalid_api_key");
    }

    #[test]
    fn budget_fits_exactly_at_the_cap() {
        let c = Cents::whole;
        assert!(budget_allows(c(50), c(40), c(9), c(1)));
        assert!(!budget_allows(
            c(50),
            c(40),
            c(9),
            Cents::from_micros(1_000_001)
        ));
        assert!(budget_allows(c(0), c(0), c(0), c(0)));
        assert!(!budget_allows(c(0), c(0), c(0), Cents::from_micros(1)));
        let max = Cents::from_micros(i64::MAX);
        assert!(!budget_allows(max, max, max, max), "no wrap-around");
        let refusal = budget_refusal(&key());
        assert_eq!(refusal.code(), "insufficient_quota");
        assert!(refusal.to_string().contains("daily"), "{refusal}");
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after(ms(60_000), ms(0)), 60);
        assert_eq!(retry_after(ms(60_000), ms(59_001)), 1);
        assert_eq!(retry_after(ms(60_000), ms(58_999)), 2);
        assert_eq!(retry_after(ms(60_000), ms(60_000)), 1);
        assert_eq!(retry_after(ms(60_000), ms(90_000)), 1);
    }

    #[test]
    fn rpm_frees_when_the_excess_oldest_leave() {
        let admitted = [ms(1_000), ms(2_000), ms(3_000)];
        let free_at = |limit| {
            let offset = rpm_leaving_offset(admitted.len() as u64, limit) as usize;
            rpm_free_at(admitted[offset])
        };
        // Limit 3, three in the window: the oldest must leave.
        assert_eq!(free_at(3), ms(61_000));
        // Limit 2 (lowered by a PATCH), three in the window: two must leave.
        assert_eq!(free_at(2), ms(62_000));
        assert_eq!(free_at(1), ms(63_000));
        let refusal = rate_refusal(&key(), RateLimit::Requests, 3, ms(61_000), ms(30_500));
        assert_eq!(refusal.retry_after_secs(), Some(31));
        assert_eq!(refusal.code(), "rate_limit_exceeded");
        assert!(
            refusal.to_string().contains("rpm_limit (3 per minute)"),
            "{refusal}"
        );
    }

    #[test]
    fn tpm_frees_when_enough_tokens_leave() {
        let rows = [(ms(1_000), 400), (ms(2_000), 500), (ms(3_000), 300)];
        // 1200 used, limit 1000: dropping the first leaves 800 < 1000.
        assert_eq!(tpm_free_at(&rows, 1000), ms(61_000));
        // Limit 500: 800 after the first, 300 after the second.
        assert_eq!(tpm_free_at(&rows, 500), ms(62_000));
        // Limit 300: 300 is not below 300, so all three must leave.
        assert_eq!(tpm_free_at(&rows, 300), ms(63_000));
    }

    #[test]
    fn refusal_accessors() {
        assert_eq!(Refusal::UnknownKey.key_id(), None);
        assert_eq!(Refusal::UnknownKey.retry_after_secs(), None);
        let down = Refusal::StoreUnavailable {
            reason: "timeout".into(),
        };
        assert_eq!(down.code(), "governance_unavailable");
        assert_eq!(budget_refusal(&key()).key_id(), Some("vk_0000000000000001"));
        assert_eq!(RateLimit::Tokens.field(), "tpm_limit");
    }
}
