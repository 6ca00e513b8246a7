//! The [`Store`] abstraction: the operations both backends implement, and
//! the records they exchange.
//!
//! A store owns all governance state: keys, spend per budget window,
//! in-flight reservations with the process (owner) holding each, the owners'
//! heartbeats and the rows of the sliding rate windows. Every
//! mutation is one transaction, and admission reads and writes the counters
//! of one key while holding that key exclusively (SQLite's write lock,
//! PostgreSQL's row lock), which is what makes budgets and rate limits exact
//! under concurrency and, with PostgreSQL, across replicas.
//!
//! The trait returns boxed futures so a [`Governor`](crate::Governor) can
//! hold either backend as `Arc<dyn Store>`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::api::{KeyMetadata, KeyUsage};
use crate::error::StoreError;
use crate::money::Cents;
use crate::policy::Refusal;
use crate::request::KeyPatch;
use crate::spend::{SpendQuery, SpendTable};
use crate::tokens::{Served, TokenCounts};
use crate::window::{BudgetPeriod, Timestamp};

pub mod postgres;
mod schema;
pub mod sqlite;

/// A future a [`Store`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What both governance stores can do. Times are passed in, never read.
pub trait Store: Send + Sync + fmt::Debug {
    /// Remembers `fingerprint` if the store has none yet; answers whether
    /// the store's fingerprint is this one.
    fn check_sealing_key<'a>(
        &'a self,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Inserts a new key.
    fn insert_key(&self, record: KeyRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Every key, oldest first.
    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyMetadata>, StoreError>>;
    /// One key by id.
    fn get_key<'a>(&'a self, id: &'a str)
        -> BoxFuture<'a, Result<Option<KeyMetadata>, StoreError>>;
    /// One key by the lookup hash of its secret: the unique index admission
    /// finds keys by, read without taking the key's lock.
    fn key_by_hash<'a>(
        &'a self,
        secret_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>, StoreError>>;
    /// Applies a patch atomically; `None` when no key has this id.
    fn update_key<'a>(
        &'a self,
        id: &'a str,
        patch: &'a KeyPatch,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>, StoreError>>;
    /// Deletes a key and all its counters; `false` when none had this id.
    fn delete_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Settled usage in the key's budget window containing `now`, and what
    /// its requests in flight hold.
    fn usage<'a>(
        &'a self,
        id: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<KeyUsage>, StoreError>>;
    /// The sealed copy of a key's secret, for SigV4.
    fn sealed_secret<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;
    /// Checks a request and, if every rule passes, reserves its worst-case
    /// cost and counts it against `rpm_limit`, all in one transaction.
    fn admit(&self, request: AdmitRequest) -> BoxFuture<'_, Result<AdmitOutcome, StoreError>>;
    /// Releases a reservation and, when `charge` is given, records the real
    /// spend, tokens and request in the key's window and in the ledger, in
    /// one transaction.
    fn settle(&self, settlement: Settlement) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The ledger's rows in the query's days, summed per its grouping, at
    /// most `query.limit` of them, with the totals over all of them.
    fn spend(&self, query: SpendQuery) -> BoxFuture<'_, Result<SpendTable, StoreError>>;
    /// Moves a reservation's expiry (for long streams).
    fn renew(
        &self,
        reservation_id: i64,
        expires_at: Timestamp,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Deletes expired reservations and rate rows that left their window;
    /// answers how many reservations expired unsettled.
    fn reap(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// Records that an owner is alive and releases the reservations of
    /// owners that are not (see [`CheckIn`]); answers how many were
    /// released.
    fn check_in(&self, check_in: CheckIn) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// A process telling the store it is alive: its heartbeat, and the moment
/// the store frees what dead owners hold.
///
/// An owner is one process (every governor a process opens, reloads
/// included, shares its id). Its reservations are released, before their
/// expiry, when its heartbeat is older than `stale_before`, and, on a store
/// only one process may use (SQLite), by the next process's first check-in:
/// every other owner found then is an earlier incarnation that died. A
/// shared store (PostgreSQL) cannot tell a restarted replica's dead
/// predecessor from a live peer, so there only the heartbeat decides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckIn {
    /// The owner checking in.
    pub owner: String,
    /// Now: the owner's heartbeat.
    pub now: Timestamp,
    /// Owners whose last heartbeat is at or before this are dead.
    pub stale_before: Timestamp,
    /// The owner's first check-in, at start.
    pub starting: bool,
}

impl CheckIn {
    /// Bundles a check-in.
    pub fn new(owner: String, now: Timestamp, stale_before: Timestamp, starting: bool) -> Self {
        Self {
            owner,
            now,
            stale_before,
            starting,
        }
    }
}

/// A key as stored on creation: metadata plus the two forms of its secret.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeyRecord {
    /// What the admin API shows.
    pub key: KeyMetadata,
    /// Hex SHA-256 of the secret, for lookup.
    pub secret_hash: String,
    /// The secret sealed under the server key, for SigV4.
    pub sealed: Vec<u8>,
}

impl KeyRecord {
    /// Bundles a new key's parts.
    pub fn new(key: KeyMetadata, secret_hash: String, sealed: Vec<u8>) -> Self {
        Self {
            key,
            secret_hash,
            sealed,
        }
    }
}

/// One request asking to be admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdmitRequest {
    /// Hex SHA-256 of the presented secret.
    pub secret_hash: String,
    /// The pool or model asked for.
    pub target: String,
    /// The worst-case cost to reserve.
    pub cost: Cents,
    /// Now.
    pub now: Timestamp,
    /// When the reservation lapses if never settled.
    pub expires_at: Timestamp,
    /// The process that will settle it (see [`CheckIn`]).
    pub owner: String,
}

impl AdmitRequest {
    /// Bundles an admission request.
    pub fn new(
        secret_hash: String,
        target: String,
        cost: Cents,
        now: Timestamp,
        expires_at: Timestamp,
        owner: String,
    ) -> Self {
        Self {
            secret_hash,
            target,
            cost,
            now,
            expires_at,
            owner,
        }
    }
}

/// Budget held for one admitted request until it settles or expires.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reservation {
    /// The store's id for it.
    pub id: i64,
    /// The key it belongs to.
    pub key_id: String,
    /// The budget window it was made in, which its spend is charged to.
    pub window_start: Timestamp,
    /// When it was made: the ledger dates its spend by this day, as the
    /// budget window does.
    pub admitted_at: Timestamp,
    /// The amount held.
    pub amount: Cents,
}

/// What [`Store::admit`] decided.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Returned once per admission and taken apart at once: never stored or
// collected, so the refusal's wasted bytes cost nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum AdmitOutcome {
    /// Admitted, with budget held.
    Admitted {
        /// The key, as it was at admission.
        key: KeyMetadata,
        /// What is held.
        reservation: Reservation,
    },
    /// A rule said no.
    Refused(Refusal),
}

/// Spend to record for a request that succeeded: in the key's budget
/// window, and in the ledger row of (key, model, lane, day of admission).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Charge {
    /// The real cost.
    pub cost: Cents,
    /// The tokens the window's `tokens` and `tpm_limit` count: the
    /// reported total, or the worst case for a reply whose usage never came.
    pub tokens: u64,
    /// The tokens by class as reported (all zero when never reported).
    pub classes: TokenCounts,
    /// Where the request was served.
    pub served: Served,
}

impl Charge {
    /// A charge of `cost` for the tokens `classes`, served by `served`.
    pub fn new(cost: Cents, classes: TokenCounts, served: Served) -> Self {
        Self {
            cost,
            tokens: classes.total(),
            classes,
            served,
        }
    }

    /// This charge counting `tokens` toward the window and the rate limit
    /// instead of the classes' total.
    pub fn counting(mut self, tokens: u64) -> Self {
        self.tokens = tokens;
        self
    }
}

/// How a reservation ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settlement {
    /// The reservation to release.
    pub reservation: Reservation,
    /// The spend to record; `None` releases without charging (a failed
    /// request).
    pub charge: Option<Charge>,
    /// Now: token rows for `tpm_limit` are dated at settlement.
    pub now: Timestamp,
}

impl Settlement {
    /// Bundles a settlement.
    pub fn new(reservation: Reservation, charge: Option<Charge>, now: Timestamp) -> Self {
        Self {
            reservation,
            charge,
            now,
        }
    }
}

/// The column list both backends select keys with, in [`RawKey`] order.
pub(crate) const KEY_COLUMNS: &str =
    "id, name, metadata, allowed_pools, max_budget, budget_period, rpm_limit, tpm_limit, enabled, created_at";

/// A key row as both databases hold it: JSON as text, money in micro-cents.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawKey {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) metadata: Option<String>,
    pub(crate) allowed_pools: String,
    pub(crate) max_budget: Option<i64>,
    pub(crate) budget_period: String,
    pub(crate) rpm_limit: Option<i64>,
    pub(crate) tpm_limit: Option<i64>,
    pub(crate) enabled: bool,
    pub(crate) created_at: i64,
}

impl RawKey {
    pub(crate) fn encode(key: &KeyMetadata) -> Self {
        let metadata = key
            .metadata
            .as_ref()
            .map(|m| Value::Object(m.clone()).to_string());
        let limit = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            metadata,
            allowed_pools: Value::from(key.allowed_pools.clone()).to_string(),
            max_budget: key.max_budget.map(Cents::micros),
            budget_period: key.budget_period.as_str().to_owned(),
            rpm_limit: limit(key.rpm_limit),
            tpm_limit: limit(key.tpm_limit),
            enabled: key.enabled,
            created_at: key.created_at.unix_millis(),
        }
    }

    pub(crate) fn decode(self) -> Result<KeyMetadata, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("key {}: {what}", self.id));
        let metadata = match &self.metadata {
            None => None,
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Some(map),
                _ => return Err(corrupt("metadata is not a JSON object")),
            },
        };
        let allowed_pools: Vec<String> =
            serde_json::from_str(&self.allowed_pools).map_err(|_| corrupt("allowed_pools"))?;
        let budget_period =
            BudgetPeriod::parse(&self.budget_period).ok_or_else(|| corrupt("budget_period"))?;
        let limit = |n: Option<i64>, what: &str| {
            n.map(|n| u64::try_from(n).map_err(|_| corrupt(what)))
                .transpose()
        };
        Ok(KeyMetadata {
            rpm_limit: limit(self.rpm_limit, "rpm_limit")?,
            tpm_limit: limit(self.tpm_limit, "tpm_limit")?,
            max_budget: self.max_budget.map(Cents::from_micros),
            id: self.id,
            name: self.name,
            metadata,
            allowed_pools,
            budget_period,
            enabled: self.enabled,
            created_at: Timestamp::from_unix_millis(self.created_at),
        })
    }
}

/// Converts a token count for a signed 64-bit column.
pub(crate) fn tokens_i64(tokens: u64) -> i64 {
    i64::try_from(tokens).unwrap_or(i64::MAX)
}

/// The five class counters of a `busbar_spend` row, in
/// [`schema::SPEND_CLASS_COLUMNS`] order.
pub(crate) fn token_classes(columns: [i64; 5]) -> TokenCounts {
    let [input, output, read, write, reasoning] = columns.map(count_u64);
    TokenCounts::new(input, output)
        .with_cache(read, write)
        .with_reasoning(reasoning)
}

/// Converts a counter read from a signed 64-bit column.
pub(crate) fn count_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_keys_round_trip() {
        let key = KeyMetadata {
            id: "vk_0123456789abcdef".into(),
            name: "n".into(),
            metadata: serde_json::json!({"a": [1, 2]}).as_object().cloned(),
            allowed_pools: vec!["p".into(), "m".into()],
            max_budget: Some(Cents::from_micros(1_500_000)),
            budget_period: BudgetPeriod::Monthly,
            rpm_limit: Some(3),
            tpm_limit: None,
            enabled: false,
            created_at: Timestamp::from_unix_millis(1_700_000_000_123),
        };
        assert_eq!(RawKey::encode(&key).decode(), Ok(key));
    }

    #[test]
    fn malformed_rows_are_reported_not_panicked_on() {
        let key = KeyMetadata {
            id: "vk_1".into(),
            name: "n".into(),
            metadata: None,
            allowed_pools: vec![],
            max_budget: None,
            budget_period: BudgetPeriod::Total,
            rpm_limit: None,
            tpm_limit: None,
            enabled: true,
            created_at: Timestamp::EPOCH,
        };
        let mut raw = RawKey::encode(&key);
        raw.budget_period = "weekly".into();
        assert!(matches!(raw.decode(), Err(StoreError::Corrupt(m)) if m.contains("budget_period")));
        let mut raw = RawKey::encode(&key);
        raw.rpm_limit = Some(-1);
        assert!(matches!(raw.decode(), Err(StoreError::Corrupt(m)) if m.contains("rpm_limit")));
        let mut raw = RawKey::encode(&key);
        raw.metadata = Some("[1]".into());
        assert!(raw.decode().is_err());
    }
}
