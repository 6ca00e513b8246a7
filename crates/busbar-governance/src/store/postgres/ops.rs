//! The PostgreSQL operations on one pooled connection, with the hot path
//! (admission and settlement) prepared once per connection.
//!
//! Exactness across replicas rests on one lock: admission opens with
//! `SELECT … FROM busbar_keys … FOR UPDATE`, and settlement and patches lock
//! the same row before touching a counter. Under READ COMMITTED every later
//! statement in the transaction sees whatever the previous holder of the
//! lock committed, so "spent + reserved + this ≤ budget" and "admitted in the
//! last minute < rpm" are decided on the current counts, whichever Busbar
//! process the competing requests went through.

use tokio_postgres::{Client, Row, Statement};

use crate::api::{KeyMetadata, KeyUsage};
use crate::error::StoreError;
use crate::money::Cents;
use crate::policy::{self, RateLimit, Refusal};
use crate::request::KeyPatch;
use crate::spend::{Dimension, SpendQuery, SpendRow, SpendTable, SpendTotals};
use crate::store::{
    count_u64, token_classes, tokens_i64, AdmitOutcome, AdmitRequest, CheckIn, KeyRecord, RawKey,
    Reservation, Settlement, KEY_COLUMNS,
};
use crate::window::{Day, Timestamp};

type PgResult<T> = Result<T, OpError>;

/// A failed operation: the database's error, or a row that did not decode.
#[derive(Debug)]
pub(super) enum OpError {
    Postgres(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for OpError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Postgres(err)
    }
}

impl From<StoreError> for OpError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// A pooled connection and its prepared statements.
pub(super) struct Conn {
    pub(super) client: Client,
    stmts: Statements,
}

struct Statements {
    key_by_hash: Statement,
    key_by_hash_locked: Statement,
    budget_state: Statement,
    rpm_count: Statement,
    rpm_leaving: Statement,
    tpm_used: Statement,
    tpm_rows: Statement,
    reserve: Statement,
    count_request: Statement,
    settle_lock: Statement,
    release: Statement,
    charge: Statement,
    ledger: Statement,
    count_tokens: Statement,
}

impl Conn {
    pub(super) async fn prepare(client: Client) -> Result<Self, tokio_postgres::Error> {
        let key_by_hash = format!("SELECT {KEY_COLUMNS} FROM busbar_keys WHERE secret_hash = $1");
        let stmts = Statements {
            key_by_hash: client.prepare(&key_by_hash).await?,
            key_by_hash_locked: client.prepare(&format!("{key_by_hash} FOR UPDATE")).await?,
            budget_state: client
                .prepare(
                    "SELECT COALESCE((SELECT spent FROM busbar_spend WHERE key_id = $1 AND window_start = $2), 0)::BIGINT, \
                     COALESCE((SELECT SUM(amount) FROM busbar_reservations \
                               WHERE key_id = $1 AND window_start = $2 AND expires_at > $3), 0)::BIGINT",
                )
                .await?,
            // The CTE's DELETE is not visible to its own SELECT, hence the
            // repeated `at > $2`.
            rpm_count: client
                .prepare(
                    "WITH pruned AS (DELETE FROM busbar_rate_requests WHERE key_id = $1 AND at <= $2) \
                     SELECT COUNT(*) FROM busbar_rate_requests WHERE key_id = $1 AND at > $2",
                )
                .await?,
            rpm_leaving: client
                .prepare(
                    "SELECT at FROM busbar_rate_requests WHERE key_id = $1 AND at > $2 \
                     ORDER BY at LIMIT 1 OFFSET $3",
                )
                .await?,
            tpm_used: client
                .prepare(
                    "WITH pruned AS (DELETE FROM busbar_rate_tokens WHERE key_id = $1 AND at <= $2) \
                     SELECT COALESCE(SUM(tokens), 0)::BIGINT FROM busbar_rate_tokens WHERE key_id = $1 AND at > $2",
                )
                .await?,
            tpm_rows: client
                .prepare("SELECT at, tokens FROM busbar_rate_tokens WHERE key_id = $1 AND at > $2 ORDER BY at")
                .await?,
            reserve: client
                .prepare(
                    "INSERT INTO busbar_reservations (key_id, window_start, amount, expires_at, owner) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .await?,
            count_request: client.prepare("INSERT INTO busbar_rate_requests (key_id, at) VALUES ($1, $2)").await?,
            settle_lock: client.prepare("SELECT tpm_limit FROM busbar_keys WHERE id = $1 FOR UPDATE").await?,
            release: client.prepare("DELETE FROM busbar_reservations WHERE id = $1").await?,
            charge: client
                .prepare(
                    "INSERT INTO busbar_spend (key_id, window_start, spent, tokens, requests, input_tokens, \
                     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9) ON CONFLICT (key_id, window_start) DO UPDATE SET \
                     spent = busbar_spend.spent + EXCLUDED.spent, \
                     tokens = busbar_spend.tokens + EXCLUDED.tokens, \
                     requests = busbar_spend.requests + 1, \
                     input_tokens = busbar_spend.input_tokens + EXCLUDED.input_tokens, \
                     output_tokens = busbar_spend.output_tokens + EXCLUDED.output_tokens, \
                     cache_read_tokens = busbar_spend.cache_read_tokens + EXCLUDED.cache_read_tokens, \
                     cache_write_tokens = busbar_spend.cache_write_tokens + EXCLUDED.cache_write_tokens, \
                     reasoning_tokens = busbar_spend.reasoning_tokens + EXCLUDED.reasoning_tokens",
                )
                .await?,
            ledger: client
                .prepare(
                    "INSERT INTO busbar_ledger (key_id, model, lane, day, requests, tokens, input_tokens, \
                     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (key_id, model, lane, day) DO UPDATE SET \
                     requests = busbar_ledger.requests + 1, \
                     tokens = busbar_ledger.tokens + EXCLUDED.tokens, \
                     input_tokens = busbar_ledger.input_tokens + EXCLUDED.input_tokens, \
                     output_tokens = busbar_ledger.output_tokens + EXCLUDED.output_tokens, \
                     cache_read_tokens = busbar_ledger.cache_read_tokens + EXCLUDED.cache_read_tokens, \
                     cache_write_tokens = busbar_ledger.cache_write_tokens + EXCLUDED.cache_write_tokens, \
                     reasoning_tokens = busbar_ledger.reasoning_tokens + EXCLUDED.reasoning_tokens, \
                     cost = busbar_ledger.cost + EXCLUDED.cost",
                )
                .await?,
            count_tokens: client
                .prepare("INSERT INTO busbar_rate_tokens (key_id, at, tokens) VALUES ($1, $2, $3)")
                .await?,
        };
        Ok(Self { client, stmts })
    }

    pub(super) async fn check_sealing_key(&mut self, fingerprint: &str) -> PgResult<bool> {
        self.client
            .execute(
                "INSERT INTO busbar_meta (name, value) VALUES ('sealing_key', $1) ON CONFLICT (name) DO NOTHING",
                &[&fingerprint],
            )
            .await?;
        let row = self
            .client
            .query_one(
                "SELECT value FROM busbar_meta WHERE name = 'sealing_key'",
                &[],
            )
            .await?;
        Ok(row.try_get::<_, String>(0)? == fingerprint)
    }

    pub(super) async fn insert_key(&mut self, record: &KeyRecord) -> PgResult<()> {
        let raw = RawKey::encode(&record.key);
        self.client
            .execute(
                "INSERT INTO busbar_keys (id, name, metadata, allowed_pools, max_budget, budget_period, \
                 rpm_limit, tpm_limit, enabled, created_at, secret_hash, sealed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &raw.id, &raw.name, &raw.metadata, &raw.allowed_pools, &raw.max_budget, &raw.budget_period,
                    &raw.rpm_limit, &raw.tpm_limit, &raw.enabled, &raw.created_at, &record.secret_hash,
                    &record.sealed,
                ],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn list_keys(&mut self) -> PgResult<Vec<KeyMetadata>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM busbar_keys ORDER BY created_at, id");
        self.client
            .query(&sql, &[])
            .await?
            .iter()
            .map(decode_key)
            .collect()
    }

    pub(super) async fn get_key(&mut self, id: &str) -> PgResult<Option<KeyMetadata>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM busbar_keys WHERE id = $1");
        self.client
            .query_opt(&sql, &[&id])
            .await?
            .as_ref()
            .map(decode_key)
            .transpose()
    }

    /// The key whose secret hashes to `secret_hash`, read without its row
    /// lock: identifying a caller decides nothing about its counters.
    pub(super) async fn key_by_hash(&mut self, secret_hash: &str) -> PgResult<Option<KeyMetadata>> {
        self.client
            .query_opt(&self.stmts.key_by_hash, &[&secret_hash])
            .await?
            .as_ref()
            .map(decode_key)
            .transpose()
    }

    /// Reads the key under its row lock, patches it in Rust (the same
    /// `KeyPatch::apply` SQLite uses) and writes it back.
    pub(super) async fn update_key(
        &mut self,
        id: &str,
        patch: &KeyPatch,
    ) -> PgResult<Option<KeyMetadata>> {
        let tx = self.client.transaction().await?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM busbar_keys WHERE id = $1 FOR UPDATE");
        let Some(row) = tx.query_opt(&sql, &[&id]).await? else {
            return Ok(None);
        };
        let mut key = decode_key(&row)?;
        patch.apply(&mut key);
        let raw = RawKey::encode(&key);
        tx.execute(
            "UPDATE busbar_keys SET name = $2, metadata = $3, allowed_pools = $4, max_budget = $5, \
             budget_period = $6, rpm_limit = $7, tpm_limit = $8, enabled = $9 WHERE id = $1",
            &[
                &raw.id, &raw.name, &raw.metadata, &raw.allowed_pools, &raw.max_budget, &raw.budget_period,
                &raw.rpm_limit, &raw.tpm_limit, &raw.enabled,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(key))
    }

    pub(super) async fn delete_key(&mut self, id: &str) -> PgResult<bool> {
        let tx = self.client.transaction().await?;
        let deleted = tx
            .execute("DELETE FROM busbar_keys WHERE id = $1", &[&id])
            .await?
            > 0;
        for table in [
            "busbar_spend",
            "busbar_reservations",
            "busbar_rate_requests",
            "busbar_rate_tokens",
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE key_id = $1"), &[&id])
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    pub(super) async fn usage(&mut self, id: &str, now: Timestamp) -> PgResult<Option<KeyUsage>> {
        let Some(key) = self.get_key(id).await? else {
            return Ok(None);
        };
        let window = key.budget_period.window_start(now).unix_millis();
        let row = self
            .client
            .query_opt(
                "SELECT spent, tokens, requests, input_tokens, output_tokens, cache_read_tokens, \
                 cache_write_tokens, reasoning_tokens FROM busbar_spend WHERE key_id = $1 AND window_start = $2",
                &[&key.id, &window],
            )
            .await?;
        let mut values = [0i64; 8];
        if let Some(row) = row {
            for (i, value) in values.iter_mut().enumerate() {
                *value = row.try_get(i)?;
            }
        }
        let [spent, tokens, requests, classes @ ..] = values;
        let held = self
            .client
            .query_one(
                "SELECT COALESCE(SUM(amount), 0)::BIGINT, COUNT(*) FROM busbar_reservations \
                 WHERE key_id = $1 AND window_start = $2 AND expires_at > $3",
                &[&key.id, &window, &now.unix_millis()],
            )
            .await?;
        Ok(Some(KeyUsage {
            id: key.id,
            spend_cents: Cents::from_micros(spent),
            tokens: count_u64(tokens),
            requests: count_u64(requests),
            classes: token_classes(classes),
            reserved_cents: Cents::from_micros(held.try_get(0)?),
            in_flight: count_u64(held.try_get(1)?),
        }))
    }

    pub(super) async fn sealed_secret(&mut self, id: &str) -> PgResult<Option<Vec<u8>>> {
        let row = self
            .client
            .query_opt("SELECT sealed FROM busbar_keys WHERE id = $1", &[&id])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Admission: the key row locked first, every rule checked, and the
    /// reservation and request row written, in one transaction.
    pub(super) async fn admit(&mut self, request: &AdmitRequest) -> PgResult<AdmitOutcome> {
        let s = &self.stmts;
        let tx = self.client.transaction().await?;
        let Some(row) = tx
            .query_opt(&s.key_by_hash_locked, &[&request.secret_hash])
            .await?
        else {
            return Ok(AdmitOutcome::Refused(Refusal::UnknownKey));
        };
        let key = decode_key(&row)?;
        if let Err(refusal) = policy::gate(&key, &request.target) {
            return Ok(AdmitOutcome::Refused(refusal));
        }
        let now = request.now;
        let window = key.budget_period.window_start(now).unix_millis();
        if let Some(max) = key.max_budget {
            let row = tx
                .query_one(&s.budget_state, &[&key.id, &window, &now.unix_millis()])
                .await?;
            let (spent, reserved) = (
                Cents::from_micros(row.try_get(0)?),
                Cents::from_micros(row.try_get(1)?),
            );
            if !policy::budget_allows(max, spent, reserved, request.cost) {
                return Ok(AdmitOutcome::Refused(policy::budget_refusal(&key)));
            }
        }
        let cutoff = policy::rate_cutoff(now).unix_millis();
        if let Some(limit) = key.rpm_limit {
            let count: i64 = tx
                .query_one(&s.rpm_count, &[&key.id, &cutoff])
                .await?
                .try_get(0)?;
            if count_u64(count) >= limit {
                let offset = tokens_i64(policy::rpm_leaving_offset(count_u64(count), limit));
                let leaving: i64 = tx
                    .query_one(&s.rpm_leaving, &[&key.id, &cutoff, &offset])
                    .await?
                    .try_get(0)?;
                let free_at = policy::rpm_free_at(Timestamp::from_unix_millis(leaving));
                let refusal = policy::rate_refusal(&key, RateLimit::Requests, limit, free_at, now);
                return Ok(AdmitOutcome::Refused(refusal));
            }
        }
        if let Some(limit) = key.tpm_limit {
            let used: i64 = tx
                .query_one(&s.tpm_used, &[&key.id, &cutoff])
                .await?
                .try_get(0)?;
            if count_u64(used) >= limit {
                let rows = tx.query(&s.tpm_rows, &[&key.id, &cutoff]).await?;
                let rows = rows
                    .iter()
                    .map(|r| {
                        Ok((
                            Timestamp::from_unix_millis(r.try_get(0)?),
                            count_u64(r.try_get(1)?),
                        ))
                    })
                    .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
                let free_at = policy::tpm_free_at(&rows, limit);
                let refusal = policy::rate_refusal(&key, RateLimit::Tokens, limit, free_at, now);
                return Ok(AdmitOutcome::Refused(refusal));
            }
        }
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &key.id,
            &window,
            &request.cost.micros(),
            &request.expires_at.unix_millis(),
            &request.owner,
        ];
        let id: i64 = tx.query_one(&s.reserve, &params).await?.try_get(0)?;
        if key.rpm_limit.is_some() {
            tx.execute(&s.count_request, &[&key.id, &now.unix_millis()])
                .await?;
        }
        tx.commit().await?;
        let reservation = Reservation {
            id,
            key_id: key.id.clone(),
            window_start: Timestamp::from_unix_millis(window),
            admitted_at: now,
            amount: request.cost,
        };
        Ok(AdmitOutcome::Admitted { key, reservation })
    }

    /// Settlement: the key row locked (so no admission reads the counters
    /// half-updated), the reservation released and the spend recorded.
    pub(super) async fn settle(&mut self, settlement: &Settlement) -> PgResult<()> {
        let s = &self.stmts;
        let r = &settlement.reservation;
        let tx = self.client.transaction().await?;
        let tpm: Option<Option<i64>> = tx
            .query_opt(&s.settle_lock, &[&r.key_id])
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        tx.execute(&s.release, &[&r.id]).await?;
        if let (Some(tpm), Some(charge)) = (tpm, &settlement.charge) {
            let tokens = tokens_i64(charge.tokens);
            let window = r.window_start.unix_millis();
            let c = &charge.classes;
            let [input, output, read, write, reasoning] =
                [c.input, c.output, c.cache_read, c.cache_write, c.reasoning].map(tokens_i64);
            let cost = charge.cost.micros();
            tx.execute(
                &s.charge,
                &[
                    &r.key_id, &window, &cost, &tokens, &input, &output, &read, &write, &reasoning,
                ],
            )
            .await?;
            let day = Day::of(r.admitted_at).start().unix_millis();
            let (model, lane) = (&charge.served.model, &charge.served.lane);
            tx.execute(
                &s.ledger,
                &[
                    &r.key_id, model, lane, &day, &tokens, &input, &output, &read, &write,
                    &reasoning, &cost,
                ],
            )
            .await?;
            if tpm.is_some() && charge.tokens > 0 {
                tx.execute(
                    &s.count_tokens,
                    &[&r.key_id, &settlement.now.unix_millis(), &tokens],
                )
                .await?;
            }
        }
        Ok(tx.commit().await?)
    }

    /// The spend report: the grouped rows (one more than the limit, to
    /// tell a cut) and the totals, in one read-only snapshot.
    pub(super) async fn spend(&mut self, query: &SpendQuery) -> PgResult<SpendTable> {
        let from = query.from.start().unix_millis();
        let to = query.to.start().unix_millis();
        let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let tx = self
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let found = tx
            .query(&query.grouped_sql(true), &[&from, &to, &limit])
            .await?;
        let dims = query.group_by.len();
        let mut rows = Vec::with_capacity(found.len().min(query.limit));
        for row in found.iter().take(query.limit) {
            let mut out = SpendRow::new(SpendTotals::from_sums(sums(row, dims)?));
            for (i, dim) in query.group_by.iter().enumerate() {
                match dim {
                    Dimension::Key => out.key_id = Some(row.try_get(i)?),
                    Dimension::Model => out.model = Some(row.try_get(i)?),
                    Dimension::Lane => out.lane = Some(row.try_get(i)?),
                    _ => out.day = Some(Day::from_unix_millis(row.try_get(i)?)),
                }
            }
            rows.push(out);
        }
        let total = tx.query_one(&query.totals_sql(true), &[&from, &to]).await?;
        let total = SpendTotals::from_sums(sums(&total, 0)?);
        tx.commit().await?;
        Ok(SpendTable::new(rows, found.len() > query.limit, total))
    }

    pub(super) async fn renew(
        &mut self,
        reservation_id: i64,
        expires_at: Timestamp,
    ) -> PgResult<()> {
        self.client
            .execute(
                "UPDATE busbar_reservations SET expires_at = $2 WHERE id = $1",
                &[&reservation_id, &expires_at.unix_millis()],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn reap(&mut self, now: Timestamp) -> PgResult<u64> {
        let cutoff = policy::rate_cutoff(now).unix_millis();
        let tx = self.client.transaction().await?;
        let expired = tx
            .execute(
                "DELETE FROM busbar_reservations WHERE expires_at <= $1",
                &[&now.unix_millis()],
            )
            .await?;
        tx.execute(
            "DELETE FROM busbar_rate_requests WHERE at <= $1",
            &[&cutoff],
        )
        .await?;
        tx.execute("DELETE FROM busbar_rate_tokens WHERE at <= $1", &[&cutoff])
            .await?;
        tx.commit().await?;
        Ok(expired)
    }
}

impl Conn {
    /// The heartbeat, and the release of what owners that stopped beating
    /// hold. Replicas share this database, so a stale heartbeat is the only
    /// sign of death: `starting` changes nothing here (see [`CheckIn`]).
    pub(super) async fn check_in(&mut self, check_in: &CheckIn) -> PgResult<u64> {
        let me = check_in.owner.as_str();
        let stale = check_in.stale_before.unix_millis();
        let tx = self.client.transaction().await?;
        let released = tx
            .execute(
                "DELETE FROM busbar_reservations WHERE owner IN \
                 (SELECT id FROM busbar_owners WHERE id <> $1 AND heartbeat_at <= $2)",
                &[&me, &stale],
            )
            .await?;
        tx.execute(
            "DELETE FROM busbar_owners WHERE id <> $1 AND heartbeat_at <= $2",
            &[&me, &stale],
        )
        .await?;
        tx.execute(
            "INSERT INTO busbar_owners (id, heartbeat_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
            &[&me, &check_in.now.unix_millis()],
        )
        .await?;
        tx.commit().await?;
        Ok(released)
    }
}

/// The eight summed columns of a report row, after its `skip` dimensions.
fn sums(row: &Row, skip: usize) -> Result<[i64; 8], tokio_postgres::Error> {
    let mut sums = [0i64; 8];
    for (i, sum) in sums.iter_mut().enumerate() {
        *sum = row.try_get(skip + i)?;
    }
    Ok(sums)
}

fn decode_key(row: &Row) -> PgResult<KeyMetadata> {
    Ok(raw_key(row)?.decode()?)
}

fn raw_key(row: &Row) -> Result<RawKey, tokio_postgres::Error> {
    Ok(RawKey {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        metadata: row.try_get(2)?,
        allowed_pools: row.try_get(3)?,
        max_budget: row.try_get(4)?,
        budget_period: row.try_get(5)?,
        rpm_limit: row.try_get(6)?,
        tpm_limit: row.try_get(7)?,
        enabled: row.try_get(8)?,
        created_at: row.try_get(9)?,
    })
}
