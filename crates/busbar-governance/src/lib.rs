//! Virtual keys, exact budgets and shared rate limits for Busbar (docs/configuration.md, *Governance*).
//!
//! # The problem
//!
//! Every gateway that governs spend does two things per request: check the
//! budget and, later, record what the request cost. Done as two steps, a
//! burst of concurrent requests all pass the check before any of them is
//! recorded, and a budget that allows 50 lets through 200. Rate limits kept
//! in process memory have the mirror-image bug: three replicas each allowing
//! 60 requests a minute allow 180.
//!
//! # The design
//!
//! **Reserve, then settle.** Admission ([`Governor::authorize`]) reserves the
//! request's worst case ([`WorstCase`]: under flat pricing
//! `price_per_request_cents + max_tokens/1000 · price_per_1k_tokens_cents`;
//! under catalog pricing an amount the caller computed from the models'
//! prices) in the same transaction that checks
//! `spent + reserved + this ≤ max_budget_cents`. When the request ends,
//! [`Admission::settle`] releases the reservation and records the real cost
//! (nothing for a failure) in one more transaction. At every instant the
//! budget gate sees everything already committed to, so it cannot be
//! overshot by concurrency; the only way past the cap is a request whose real
//! cost exceeds what its caller said its worst case was.
//!
//! **One lock per key, held in the database.** Both stores run admission as a
//! single transaction that first takes the key exclusively (SQLite's write
//! lock via `BEGIN IMMEDIATE`; PostgreSQL's `SELECT … FOR UPDATE` on the key's
//! row) and only then reads counters. Settlement and patches take the same
//! lock. Requests for one key therefore serialize at the database, whichever
//! process they came through, and requests for different keys do not wait
//! for each other (on PostgreSQL).
//!
//! **Rate windows are rows, not memory.** `rpm_limit` counts admissions in
//! the last 60 seconds (a sliding log: one row per admitted request, so the
//! limit holds over any 60-second span, not per calendar minute);
//! `tpm_limit` sums the tokens settled in the last 60 seconds. Both live in
//! the store, so replicas on one PostgreSQL share one window. A request that
//! is admitted counts toward RPM even if it later fails. TPM is checked
//! against settled usage only: in-flight requests have no token count yet,
//! so the last request admitted under the limit can carry it over.
//!
//! **Crashes neither leak nor double-count.** A reservation has an expiry
//! (`reservation_ttl`, 10 minutes by default); an expired reservation stops
//! counting at once (the budget query ignores it) and [`Governor::reap`]
//! deletes it. It also names its owner, the process holding it, and owners
//! beat a heartbeat ([`Governor::check_in`]), so a crashed process's holds
//! go sooner: at the next start on SQLite (one process per file), once the
//! heartbeat is stale on PostgreSQL (where a fresh owner may be a live
//! replica; see [`store::CheckIn`]). Settlement is one transaction and
//! consumes the [`Admission`], so a request is charged at most once.
//!
//! **Money is exact.** Cents are held as integer micro-cents ([`Cents`]), so
//! the gate's arithmetic is the same in Rust, SQLite and PostgreSQL, with no
//! float rounding deciding whether the 50th request fits. Catalog prices come
//! in micro-dollars, a hundred micro-cents each, so they convert exactly
//! ([`Cents::from_microdollars`]).
//!
//! **This crate prices nothing it cannot see.** It knows the flat prices of
//! the configuration, but not which model a pool will pick or what a model
//! costs: the caller does. So one path serves both pricings: a worst case
//! and an [`Outcome`] carry tokens, and optionally the amount the caller
//! priced them at; without one, the flat prices apply.
//!
//! **A ledger beside the budgets.** Each settled charge is also added to a
//! row per (key, model, lane, UTC day of admission) with its requests,
//! tokens by class ([`TokenCounts`]) and cost, in the settlement's own
//! transaction, so the spend report ([`Governor::spend_report`]) and the
//! budget windows never disagree about a request. Budget windows answer
//! "may this key spend more"; the ledger answers "who spent what, where,
//! when", and outlives the key.
//!
//! **Keys.** A key is `sk-bb-` + 32 hex digits (128 random bits), shown once.
//! The store holds its SHA-256 for lookup and a copy sealed with
//! ChaCha20-Poly1305 under a server secret that never enters the database,
//! so SigV4 verification can recover it ([`Governor::recover_secret`]) while
//! a stolen database reveals nothing. A presented secret is recognised by
//! its hash alone, through the store's unique index: admission does so, and
//! so does [`Governor::identify`] (who is calling, admitting nothing);
//! nothing opens sealed copies to find a key. The store remembers the
//! sealing key's fingerprint and a process with a different one refuses to
//! start ([`OpenError::SealingKeyMismatch`]): replicas must share
//! `secret_key_env`.
//!
//! **Store down.** Whether to admit when the store cannot be reached is the
//! operator's call (`fail_open`, default false). Closed: the request gets
//! [`Refusal::StoreUnavailable`] (503). Open: a key this process has verified
//! before is admitted unmetered ([`Admission::is_metered`] is false); an
//! unknown token is still refused.
//!
//! # What this crate does not do
//!
//! No HTTP: the server extracts tokens, renders [`Refusal`]s and
//! [`AdminError`]s in each protocol's shape, and calls the [`Governor`] from
//! its handlers. Time is injected through [`Clock`]; nothing here reads the
//! system clock except [`SystemClock`].
//!
//! # Running the PostgreSQL tests
//!
//! They are `#[ignore]`d, so a plain `cargo test` reports them as ignored.
//! Run with `-- --include-ignored`, they read `BUSBAR_TEST_POSTGRES` (a URL
//! to a database they may create tables in) and fail when it is unset. The
//! crate's `README.md` has the commands that start a throwaway cluster on
//! 127.0.0.1; `.ci/postgres.sh` does all of it.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admission;
mod api;
mod error;
mod governor;
mod key;
mod money;
mod policy;
mod request;
mod seal;
mod spend;
pub mod store;
#[cfg(test)]
mod testutil;
mod tokens;
mod window;

pub use admission::{Admission, Outcome};
pub use api::{CreatedKey, Deleted, KeyList, KeyMetadata, KeyUsage};
pub use error::{AdminError, OpenError, StoreError};
pub use governor::{Governor, GovernorOptions};
pub use key::{looks_like_key_id, looks_like_virtual_key, lookup_hash, VirtualKey};
pub use money::{Cents, Pricing, WorstCase, MAX_CENTS};
pub use policy::{RateLimit, Refusal};
pub use request::{KeyPatch, NewKey, Patch};
pub use seal::{SealError, Sealer};
pub use spend::{Dimension, SpendQuery, SpendReport, SpendRow, SpendTable, SpendTotals, MAX_ROWS};
pub use tokens::{Served, TokenCounts};
pub use window::{BudgetPeriod, Clock, Day, ManualClock, SystemClock, Timestamp, RATE_WINDOW};
