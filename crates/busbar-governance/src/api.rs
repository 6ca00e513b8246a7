//! The admin API's JSON bodies (docs/configuration.md, *Governance*): what a key looks like, what a
//! create returns once, the list, the usage and the delete answers.
//!
//! Request bodies and their validation live in [`request`](crate::request).

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::money::Cents;
use crate::tokens::TokenCounts;
use crate::window::{BudgetPeriod, Timestamp};

/// A virtual key as the admin API shows it, and as the store keeps it
/// (without its secret, hash or sealed copy).
///
/// Serializes to `{id, name, metadata, allowed_pools, max_budget_cents,
/// budget_period, rpm_limit, tpm_limit, enabled, created_at}`, each limit
/// `null` when unlimited and `metadata` `null` when none was given.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KeyMetadata {
    /// `vk_` + 16 hex digits.
    pub id: String,
    /// A human name, required and non-empty.
    pub name: String,
    /// Free-form JSON object the operator attached (owner, team, ticket).
    pub metadata: Option<Map<String, Value>>,
    /// Pools or models the key may reach; empty means all.
    pub allowed_pools: Vec<String>,
    /// The spend cap per budget window; `None` is unlimited.
    #[serde(rename = "max_budget_cents")]
    pub max_budget: Option<Cents>,
    /// The window the cap applies to.
    pub budget_period: BudgetPeriod,
    /// Requests admitted per sliding minute; `None` is unlimited.
    pub rpm_limit: Option<u64>,
    /// Tokens used per sliding minute; `None` is unlimited.
    pub tpm_limit: Option<u64>,
    /// `false` suspends the key: its requests are refused with 401.
    pub enabled: bool,
    /// When the key was created.
    pub created_at: Timestamp,
}

impl KeyMetadata {
    /// Whether this key may reach the pool or model `target`.
    pub fn allows(&self, target: &str) -> bool {
        self.allowed_pools.is_empty() || self.allowed_pools.iter().any(|p| p == target)
    }
}

/// The answer to `POST /admin/keys`: the metadata plus the secret, the only
/// time the secret is ever shown.
#[derive(Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CreatedKey {
    /// The new key's metadata.
    #[serde(flatten)]
    pub key: KeyMetadata,
    /// `sk-bb-` + 32 hex digits.
    pub secret: String,
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The answer to `GET /admin/keys`: `{"keys": [metadata…]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KeyList {
    /// Every key, oldest first.
    pub keys: Vec<KeyMetadata>,
}

/// The answer to `GET /admin/keys/ID/usage`: what the key has used in its
/// current budget window, and what its requests in flight hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeyUsage {
    /// The key.
    pub id: String,
    /// Settled spend in the window (in-flight reservations excluded: see
    /// `reserved_cents`).
    pub spend_cents: Cents,
    /// Total tokens of the settled, successful requests in the window.
    pub tokens: u64,
    /// Charged (successful) requests in the window.
    pub requests: u64,
    /// The settled tokens by class (flattened: `input_tokens`,
    /// `output_tokens`, `cache_read_tokens`, `cache_write_tokens`,
    /// `reasoning_tokens`). Zero for what was settled before Busbar kept
    /// classes, and for replies whose usage never came.
    #[serde(flatten)]
    pub classes: TokenCounts,
    /// What requests in flight hold: the sum of their unexpired
    /// reservations, which the budget check counts with the spend.
    pub reserved_cents: Cents,
    /// Requests in flight (admitted, not yet settled) in the window.
    pub in_flight: u64,
}

/// The answer to `DELETE /admin/keys/ID`: `{"deleted": ID}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Deleted {
    /// The id that was deleted.
    pub deleted: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> KeyMetadata {
        KeyMetadata {
            id: "vk_0123456789abcdef".into(),
            name: "ci".into(),
            metadata: None,
            allowed_pools: vec![],
            max_budget: None,
            budget_period: BudgetPeriod::Total,
            rpm_limit: None,
            tpm_limit: None,
            enabled: true,
            created_at: Timestamp::from_utc(2025, 5, 1, 12, 0, 0).expect("valid"),
        }
    }

    #[test]
    fn unlimited_keys_show_null_limits() {
        let json = serde_json::to_value(sample()).expect("json");
        assert_eq!(
            json,
            json!({
                "id": "vk_0123456789abcdef", "name": "ci", "metadata": null,
                "allowed_pools": [], "max_budget_cents": null, "budget_period": "total",
                "rpm_limit": null, "tpm_limit": null, "enabled": true,
                "created_at": "2025-05-01T12:00:00Z"
            })
        );
    }

    #[test]
    fn limits_show_their_values() {
        let mut key = sample();
        key.max_budget = Some(Cents::whole(500));
        key.budget_period = BudgetPeriod::Monthly;
        key.rpm_limit = Some(60);
        key.tpm_limit = Some(100_000);
        key.allowed_pools = vec!["fast".into()];
        let json = serde_json::to_value(&key).expect("json");
        assert_eq!(json["max_budget_cents"], json!(500));
        assert_eq!(json["budget_period"], json!("monthly"));
        assert_eq!(json["rpm_limit"], json!(60));
        assert_eq!(json["tpm_limit"], json!(100_000));
        assert!(key.allows("fast") && !key.allows("slow"));
        assert!(sample().allows("anything"));
    }

    #[test]
    fn created_key_adds_the_secret_and_debug_hides_it() {
        let created = CreatedKey {
            key: sample(),
            secret: "sk-bb-0123456789abcdef0123456789abcdef".into(),
        };
        let json = serde_json::to_value(&created).expect("json");
        assert_eq!(
            json["secret"],
            json!("sk-bb-0123456789abcdef0123456789abcdef")
        );
        assert_eq!(json["id"], json!("vk_0123456789abcdef"));
        assert!(!format!("{created:?}").contains("sk-bb-"));
    }

    #[test]
    fn list_usage_and_deleted_shapes() {
        let list = KeyList {
            keys: vec![sample()],
        };
        assert_eq!(
            serde_json::to_value(&list).expect("json")["keys"][0]["name"],
            json!("ci")
        );
        let usage = KeyUsage {
            id: "vk_0123456789abcdef".into(),
            spend_cents: Cents::from_micros(2_500_000),
            tokens: 1200,
            requests: 2,
            classes: TokenCounts::new(1000, 200).with_cache(800, 0),
            reserved_cents: Cents::whole(3),
            in_flight: 1,
        };
        assert_eq!(
            serde_json::to_value(&usage).expect("json"),
            json!({"id": "vk_0123456789abcdef", "spend_cents": 2.5, "tokens": 1200, "requests": 2,
                   "input_tokens": 1000, "output_tokens": 200, "cache_read_tokens": 800,
                   "cache_write_tokens": 0, "reasoning_tokens": 0,
                   "reserved_cents": 3, "in_flight": 1})
        );
        let deleted = Deleted {
            deleted: "vk_0123456789abcdef".into(),
        };
        assert_eq!(
            serde_json::to_value(&deleted).expect("json"),
            json!({"deleted": "vk_0123456789abcdef"})
        );
    }
}
