//! The SQLite store: one file, one process, the default.
//!
//! One connection behind a mutex, and every mutation in a `BEGIN IMMEDIATE`
//! transaction: SQLite serializes writers anyway, and holding the write lock
//! from the first read of an admission to its commit is what makes the
//! budget check and the reservation one step. `busy_timeout` lets a second
//! process on the same file wait its turn rather than fail (replicas should
//! use PostgreSQL; this only keeps an accidental second process correct).
//!
//! Durability: WAL journal with `synchronous = NORMAL`. A commit returns once
//! its frames are written to the WAL with `write(2)`, so they are in the
//! kernel's page cache: `kill -9` of Busbar cannot lose a committed
//! reservation or settlement, and a transaction cut off before its commit
//! leaves no trace, so nothing is counted twice or half. What NORMAL gives up
//! is the fsync per commit: on power loss or a kernel crash the last commits
//! may roll back (whole, never partly: the WAL is checksummed). FULL would add
//! one fsync to each admission and each settlement, two per proxied request,
//! which caps throughput at the disk's flush rate for a guarantee a gateway
//! that loses its in-flight requests in the same power cut does not need.
//!
//! These inherent methods block. The [`Store`] implementation runs them on
//! tokio's blocking pool; call them directly only from a thread that may
//! block (a test, `spawn_blocking`).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    count_u64, token_classes, tokens_i64, AdmitOutcome, AdmitRequest, BoxFuture, CheckIn,
    KeyRecord, RawKey, Reservation, Settlement, Store, KEY_COLUMNS,
};
use crate::api::{KeyMetadata, KeyUsage};
use crate::error::{sqlite_error, StoreError};
use crate::money::Cents;
use crate::policy::{self, RateLimit, Refusal};
use crate::request::KeyPatch;
use crate::spend::{Dimension, SpendQuery, SpendRow, SpendTable, SpendTotals};
use crate::window::{Day, Timestamp};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Governance state in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

type Result<T> = std::result::Result<T, StoreError>;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` in WAL mode and
    /// creates the schema if missing.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(sqlite_error)?;
        Self::prepare(conn)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self> {
        Self::prepare(Connection::open_in_memory().map_err(sqlite_error)?)
    }

    fn prepare(conn: Connection) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_error)?;
        super::schema::apply_sqlite(&conn).map_err(sqlite_error)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    // A panic while holding the lock cannot leave a transaction half-done
    // (an unfinished transaction rolls back when dropped), so a poisoned
    // lock is safe to keep using.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write<T>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        let out = work(&tx).map_err(sqlite_error)?;
        tx.commit().map_err(sqlite_error)?;
        Ok(out)
    }

    /// See [`Store::check_sealing_key`].
    pub fn check_sealing_key(&self, fingerprint: &str) -> Result<bool> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO busbar_meta (name, value) VALUES ('sealing_key', ?1) ON CONFLICT (name) DO NOTHING",
                [fingerprint],
            )?;
            let stored: String =
                tx.query_row("SELECT value FROM busbar_meta WHERE name = 'sealing_key'", [], |r| r.get(0))?;
            Ok(stored == fingerprint)
        })
    }

    /// See [`Store::insert_key`].
    pub fn insert_key(&self, record: &KeyRecord) -> Result<()> {
        let raw = RawKey::encode(&record.key);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO busbar_keys (id, name, metadata, allowed_pools, max_budget, budget_period, \
                 rpm_limit, tpm_limit, enabled, created_at, secret_hash, sealed) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    raw.id, raw.name, raw.metadata, raw.allowed_pools, raw.max_budget, raw.budget_period,
                    raw.rpm_limit, raw.tpm_limit, raw.enabled, raw.created_at, record.secret_hash,
                    record.sealed
                ],
            )
            .map(drop)
        })
    }

    /// See [`Store::list_keys`].
    pub fn list_keys(&self) -> Result<Vec<KeyMetadata>> {
        let conn = self.lock();
        let sql = format!("SELECT {KEY_COLUMNS} FROM busbar_keys ORDER BY created_at, id");
        let mut stmt = conn.prepare(&sql).map_err(sqlite_error)?;
        let rows = stmt.query_map([], raw_key).map_err(sqlite_error)?;
        rows.map(|row| row.map_err(sqlite_error)?.decode())
            .collect()
    }

    /// See [`Store::get_key`].
    pub fn get_key(&self, id: &str) -> Result<Option<KeyMetadata>> {
        key_where(&self.lock(), "id", id)
    }

    /// See [`Store::key_by_hash`].
    pub fn key_by_hash(&self, secret_hash: &str) -> Result<Option<KeyMetadata>> {
        key_where(&self.lock(), "secret_hash", secret_hash)
    }

    /// See [`Store::update_key`].
    pub fn update_key(&self, id: &str, patch: &KeyPatch) -> Result<Option<KeyMetadata>> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        let Some(mut key) = key_where(&tx, "id", id)? else {
            return Ok(None);
        };
        patch.apply(&mut key);
        let raw = RawKey::encode(&key);
        tx.execute(
            "UPDATE busbar_keys SET name = ?2, metadata = ?3, allowed_pools = ?4, max_budget = ?5, \
             budget_period = ?6, rpm_limit = ?7, tpm_limit = ?8, enabled = ?9 WHERE id = ?1",
            params![
                raw.id, raw.name, raw.metadata, raw.allowed_pools, raw.max_budget, raw.budget_period,
                raw.rpm_limit, raw.tpm_limit, raw.enabled
            ],
        )
        .map_err(sqlite_error)?;
        tx.commit().map_err(sqlite_error)?;
        Ok(Some(key))
    }

    /// See [`Store::delete_key`].
    pub fn delete_key(&self, id: &str) -> Result<bool> {
        self.write(|tx| {
            let deleted = tx.execute("DELETE FROM busbar_keys WHERE id = ?1", [id])? > 0;
            for table in [
                "busbar_spend",
                "busbar_reservations",
                "busbar_rate_requests",
                "busbar_rate_tokens",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE key_id = ?1"), [id])?;
            }
            Ok(deleted)
        })
    }

    /// See [`Store::usage`].
    pub fn usage(&self, id: &str, now: Timestamp) -> Result<Option<KeyUsage>> {
        let conn = self.lock();
        let Some(key) = key_where(&conn, "id", id)? else {
            return Ok(None);
        };
        let window = key.budget_period.window_start(now).unix_millis();
        let row = conn
            .query_row(
                "SELECT spent, tokens, requests, input_tokens, output_tokens, cache_read_tokens, \
                 cache_write_tokens, reasoning_tokens FROM busbar_spend WHERE key_id = ?1 AND window_start = ?2",
                params![id, window],
                |r| {
                    let mut values = [0i64; 8];
                    for (i, value) in values.iter_mut().enumerate() {
                        *value = r.get(i)?;
                    }
                    Ok(values)
                },
            )
            .optional()
            .map_err(sqlite_error)?;
        let [spent, tokens, requests, classes @ ..] = row.unwrap_or_default();
        let (reserved, in_flight): (i64, i64) = conn
            .query_row(
                "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM busbar_reservations \
                 WHERE key_id = ?1 AND window_start = ?2 AND expires_at > ?3",
                params![id, window, now.unix_millis()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sqlite_error)?;
        Ok(Some(KeyUsage {
            id: key.id,
            spend_cents: Cents::from_micros(spent),
            tokens: count_u64(tokens),
            requests: count_u64(requests),
            classes: token_classes(classes),
            reserved_cents: Cents::from_micros(reserved),
            in_flight: count_u64(in_flight),
        }))
    }

    /// See [`Store::sealed_secret`].
    pub fn sealed_secret(&self, id: &str) -> Result<Option<Vec<u8>>> {
        self.lock()
            .query_row("SELECT sealed FROM busbar_keys WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sqlite_error)
    }

    /// See [`Store::admit`].
    pub fn admit(&self, request: &AdmitRequest) -> Result<AdmitOutcome> {
        let mut conn = self.lock();
        // The write lock is taken here, before the first read, so no other
        // admission or settlement can change these counters until commit.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        let Some(key) = key_where(&tx, "secret_hash", &request.secret_hash)? else {
            return Ok(AdmitOutcome::Refused(Refusal::UnknownKey));
        };
        match check_counters(&tx, &key, request).map_err(sqlite_error)? {
            Some(refusal) => Ok(AdmitOutcome::Refused(refusal)),
            None => {
                let window = key.budget_period.window_start(request.now);
                tx.execute(
                    "INSERT INTO busbar_reservations (key_id, window_start, amount, expires_at, owner) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        key.id,
                        window.unix_millis(),
                        request.cost.micros(),
                        request.expires_at.unix_millis(),
                        request.owner
                    ],
                )
                .map_err(sqlite_error)?;
                let id = tx.last_insert_rowid();
                if key.rpm_limit.is_some() {
                    tx.execute(
                        "INSERT INTO busbar_rate_requests (key_id, at) VALUES (?1, ?2)",
                        params![key.id, request.now.unix_millis()],
                    )
                    .map_err(sqlite_error)?;
                }
                tx.commit().map_err(sqlite_error)?;
                let reservation = Reservation {
                    id,
                    key_id: key.id.clone(),
                    window_start: window,
                    admitted_at: request.now,
                    amount: request.cost,
                };
                Ok(AdmitOutcome::Admitted { key, reservation })
            }
        }
    }

    /// See [`Store::settle`].
    pub fn settle(&self, settlement: &Settlement) -> Result<()> {
        let r = &settlement.reservation;
        self.write(|tx| {
            tx.execute("DELETE FROM busbar_reservations WHERE id = ?1", [r.id])?;
            let tpm: Option<Option<i64>> = tx
                .query_row("SELECT tpm_limit FROM busbar_keys WHERE id = ?1", [&r.key_id], |row| row.get(0))
                .optional()?;
            // A key deleted while its request was in flight has nothing
            // left to charge.
            let (Some(tpm), Some(charge)) = (tpm, &settlement.charge) else { return Ok(()) };
            let c = &charge.classes;
            let classes = [c.input, c.output, c.cache_read, c.cache_write, c.reasoning].map(tokens_i64);
            tx.execute(
                "INSERT INTO busbar_spend (key_id, window_start, spent, tokens, requests, input_tokens, \
                 output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens) \
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (key_id, window_start) DO UPDATE SET \
                 spent = spent + excluded.spent, tokens = tokens + excluded.tokens, requests = requests + 1, \
                 input_tokens = input_tokens + excluded.input_tokens, \
                 output_tokens = output_tokens + excluded.output_tokens, \
                 cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
                 cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
                 reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens",
                params![
                    r.key_id, r.window_start.unix_millis(), charge.cost.micros(), tokens_i64(charge.tokens),
                    classes[0], classes[1], classes[2], classes[3], classes[4]
                ],
            )?;
            tx.execute(
                "INSERT INTO busbar_ledger (key_id, model, lane, day, requests, tokens, input_tokens, \
                 output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost) \
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (key_id, model, lane, day) DO UPDATE SET \
                 requests = requests + 1, tokens = tokens + excluded.tokens, \
                 input_tokens = input_tokens + excluded.input_tokens, \
                 output_tokens = output_tokens + excluded.output_tokens, \
                 cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
                 cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
                 reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, \
                 cost = cost + excluded.cost",
                params![
                    r.key_id, charge.served.model, charge.served.lane,
                    Day::of(r.admitted_at).start().unix_millis(), tokens_i64(charge.tokens),
                    classes[0], classes[1], classes[2], classes[3], classes[4], charge.cost.micros()
                ],
            )?;
            if tpm.is_some() && charge.tokens > 0 {
                tx.execute(
                    "INSERT INTO busbar_rate_tokens (key_id, at, tokens) VALUES (?1, ?2, ?3)",
                    params![r.key_id, settlement.now.unix_millis(), tokens_i64(charge.tokens)],
                )?;
            }
            Ok(())
        })
    }

    /// See [`Store::spend`].
    pub fn spend(&self, query: &SpendQuery) -> Result<SpendTable> {
        let conn = self.lock();
        let range = [
            query.from.start().unix_millis(),
            query.to.start().unix_millis(),
        ];
        let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let mut stmt = conn
            .prepare(&query.grouped_sql(false))
            .map_err(sqlite_error)?;
        let dims = query.group_by.len();
        let mut rows = stmt
            .query_map(params![range[0], range[1], limit], |row| {
                let mut out = SpendRow::new(SpendTotals::from_sums(sums(row, dims)?));
                for (i, dim) in query.group_by.iter().enumerate() {
                    match dim {
                        Dimension::Key => out.key_id = Some(row.get(i)?),
                        Dimension::Model => out.model = Some(row.get(i)?),
                        Dimension::Lane => out.lane = Some(row.get(i)?),
                        _ => out.day = Some(Day::from_unix_millis(row.get(i)?)),
                    }
                }
                Ok(out)
            })
            .map_err(sqlite_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_error)?;
        let truncated = rows.len() > query.limit;
        rows.truncate(query.limit);
        let total = conn
            .query_row(
                &query.totals_sql(false),
                params![range[0], range[1]],
                |row| sums(row, 0),
            )
            .map_err(sqlite_error)?;
        Ok(SpendTable::new(
            rows,
            truncated,
            SpendTotals::from_sums(total),
        ))
    }

    /// See [`Store::renew`].
    pub fn renew(&self, reservation_id: i64, expires_at: Timestamp) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE busbar_reservations SET expires_at = ?2 WHERE id = ?1",
                params![reservation_id, expires_at.unix_millis()],
            )
            .map(drop)
        })
    }

    /// See [`Store::reap`].
    pub fn reap(&self, now: Timestamp) -> Result<u64> {
        let cutoff = policy::rate_cutoff(now).unix_millis();
        self.write(|tx| {
            let expired = tx.execute(
                "DELETE FROM busbar_reservations WHERE expires_at <= ?1",
                [now.unix_millis()],
            )?;
            tx.execute("DELETE FROM busbar_rate_requests WHERE at <= ?1", [cutoff])?;
            tx.execute("DELETE FROM busbar_rate_tokens WHERE at <= ?1", [cutoff])?;
            Ok(expired as u64)
        })
    }

    /// See [`Store::check_in`]. The file belongs to one process at a time,
    /// so at start every other owner is a dead predecessor, whatever its
    /// heartbeat says (a reservation from before owners were recorded has
    /// the empty owner and goes too).
    pub fn check_in(&self, check_in: &CheckIn) -> Result<u64> {
        let me = check_in.owner.as_str();
        let stale = if check_in.starting {
            i64::MAX
        } else {
            check_in.stale_before.unix_millis()
        };
        self.write(|tx| {
            let released = if check_in.starting {
                tx.execute("DELETE FROM busbar_reservations WHERE owner <> ?1", [me])?
            } else {
                tx.execute(
                    "DELETE FROM busbar_reservations WHERE owner IN \
                     (SELECT id FROM busbar_owners WHERE id <> ?1 AND heartbeat_at <= ?2)",
                    params![me, stale],
                )?
            };
            tx.execute(
                "DELETE FROM busbar_owners WHERE id <> ?1 AND heartbeat_at <= ?2",
                params![me, stale],
            )?;
            tx.execute(
                "INSERT INTO busbar_owners (id, heartbeat_at) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                params![me, check_in.now.unix_millis()],
            )?;
            Ok(released as u64)
        })
    }
}

/// The eight summed columns of a report row, after its `skip` dimensions.
fn sums(row: &rusqlite::Row<'_>, skip: usize) -> rusqlite::Result<[i64; 8]> {
    let mut sums = [0i64; 8];
    for (i, sum) in sums.iter_mut().enumerate() {
        *sum = row.get(skip + i)?;
    }
    Ok(sums)
}

/// The budget and rate rules, read inside the admission's transaction.
fn check_counters(
    conn: &Connection,
    key: &KeyMetadata,
    request: &AdmitRequest,
) -> rusqlite::Result<Option<Refusal>> {
    if let Err(refusal) = policy::gate(key, &request.target) {
        return Ok(Some(refusal));
    }
    let now = request.now;
    if let Some(max) = key.max_budget {
        let window = key.budget_period.window_start(now).unix_millis();
        let (spent, reserved): (i64, i64) = conn.query_row(
            "SELECT COALESCE((SELECT spent FROM busbar_spend WHERE key_id = ?1 AND window_start = ?2), 0), \
             COALESCE((SELECT SUM(amount) FROM busbar_reservations \
                       WHERE key_id = ?1 AND window_start = ?2 AND expires_at > ?3), 0)",
            params![key.id, window, now.unix_millis()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !policy::budget_allows(
            max,
            Cents::from_micros(spent),
            Cents::from_micros(reserved),
            request.cost,
        ) {
            return Ok(Some(policy::budget_refusal(key)));
        }
    }
    let cutoff = policy::rate_cutoff(now).unix_millis();
    if let Some(limit) = key.rpm_limit {
        conn.execute(
            "DELETE FROM busbar_rate_requests WHERE key_id = ?1 AND at <= ?2",
            params![key.id, cutoff],
        )?;
        let count: i64 = conn.query_row(
            "SELECT COUNT(*) FROM busbar_rate_requests WHERE key_id = ?1",
            [&key.id],
            |r| r.get(0),
        )?;
        if count_u64(count) >= limit {
            let offset = tokens_i64(policy::rpm_leaving_offset(count_u64(count), limit));
            let leaving: i64 = conn.query_row(
                "SELECT at FROM busbar_rate_requests WHERE key_id = ?1 ORDER BY at LIMIT 1 OFFSET ?2",
                params![key.id, offset],
                |r| r.get(0),
            )?;
            let free_at = policy::rpm_free_at(Timestamp::from_unix_millis(leaving));
            return Ok(Some(policy::rate_refusal(
                key,
                RateLimit::Requests,
                limit,
                free_at,
                now,
            )));
        }
    }
    if let Some(limit) = key.tpm_limit {
        conn.execute(
            "DELETE FROM busbar_rate_tokens WHERE key_id = ?1 AND at <= ?2",
            params![key.id, cutoff],
        )?;
        let used: i64 = conn.query_row(
            "SELECT COALESCE(SUM(tokens), 0) FROM busbar_rate_tokens WHERE key_id = ?1",
            [&key.id],
            |r| r.get(0),
        )?;
        if count_u64(used) >= limit {
            let mut stmt = conn.prepare(
                "SELECT at, tokens FROM busbar_rate_tokens WHERE key_id = ?1 ORDER BY at",
            )?;
            let rows = stmt
                .query_map([&key.id], |r| {
                    Ok((Timestamp::from_unix_millis(r.get(0)?), count_u64(r.get(1)?)))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let free_at = policy::tpm_free_at(&rows, limit);
            return Ok(Some(policy::rate_refusal(
                key,
                RateLimit::Tokens,
                limit,
                free_at,
                now,
            )));
        }
    }
    Ok(None)
}

fn raw_key(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawKey> {
    Ok(RawKey {
        id: row.get(0)?,
        name: row.get(1)?,
        metadata: row.get(2)?,
        allowed_pools: row.get(3)?,
        max_budget: row.get(4)?,
        budget_period: row.get(5)?,
        rpm_limit: row.get(6)?,
        tpm_limit: row.get(7)?,
        enabled: row.get(8)?,
        created_at: row.get(9)?,
    })
}

// `column` is always one of two literals in this file, never input.
fn key_where(conn: &Connection, column: &str, value: &str) -> Result<Option<KeyMetadata>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM busbar_keys WHERE {column} = ?1");
    let raw = conn
        .query_row(&sql, [value], raw_key)
        .optional()
        .map_err(sqlite_error)?;
    raw.map(RawKey::decode).transpose()
}

// Each operation moves its owned inputs onto the blocking pool; the inherent
// methods above are resolved first inside these closures.
fn blocking<T: Send + 'static>(
    store: &SqliteStore,
    work: impl FnOnce(&SqliteStore) -> Result<T> + Send + 'static,
) -> BoxFuture<'static, Result<T>> {
    let store = store.clone();
    Box::pin(async move {
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|err| StoreError::Backend(format!("blocking task failed: {err}")))?
    })
}

impl Store for SqliteStore {
    fn check_sealing_key<'a>(&'a self, fingerprint: &'a str) -> BoxFuture<'a, Result<bool>> {
        let fingerprint = fingerprint.to_owned();
        blocking(self, move |s| s.check_sealing_key(&fingerprint))
    }
    fn insert_key(&self, record: KeyRecord) -> BoxFuture<'_, Result<()>> {
        blocking(self, move |s| s.insert_key(&record))
    }
    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyMetadata>>> {
        blocking(self, |s| s.list_keys())
    }
    fn get_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<KeyMetadata>>> {
        let id = id.to_owned();
        blocking(self, move |s| s.get_key(&id))
    }
    fn key_by_hash<'a>(
        &'a self,
        secret_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>>> {
        let secret_hash = secret_hash.to_owned();
        blocking(self, move |s| s.key_by_hash(&secret_hash))
    }
    fn update_key<'a>(
        &'a self,
        id: &'a str,
        patch: &'a KeyPatch,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>>> {
        let (id, patch) = (id.to_owned(), patch.clone());
        blocking(self, move |s| s.update_key(&id, &patch))
    }
    fn delete_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        let id = id.to_owned();
        blocking(self, move |s| s.delete_key(&id))
    }
    fn usage<'a>(&'a self, id: &'a str, now: Timestamp) -> BoxFuture<'a, Result<Option<KeyUsage>>> {
        let id = id.to_owned();
        blocking(self, move |s| s.usage(&id, now))
    }
    fn sealed_secret<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        let id = id.to_owned();
        blocking(self, move |s| s.sealed_secret(&id))
    }
    fn admit(&self, request: AdmitRequest) -> BoxFuture<'_, Result<AdmitOutcome>> {
        blocking(self, move |s| s.admit(&request))
    }
    fn settle(&self, settlement: Settlement) -> BoxFuture<'_, Result<()>> {
        blocking(self, move |s| s.settle(&settlement))
    }
    fn spend(&self, query: SpendQuery) -> BoxFuture<'_, Result<SpendTable>> {
        blocking(self, move |s| s.spend(&query))
    }
    fn renew(&self, reservation_id: i64, expires_at: Timestamp) -> BoxFuture<'_, Result<()>> {
        blocking(self, move |s| s.renew(reservation_id, expires_at))
    }
    fn reap(&self, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        blocking(self, move |s| s.reap(now))
    }
    fn check_in(&self, check_in: CheckIn) -> BoxFuture<'_, Result<u64>> {
        blocking(self, move |s| s.check_in(&check_in))
    }
}
