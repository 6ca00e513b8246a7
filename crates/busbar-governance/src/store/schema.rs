//! The tables, for both databases, created at start when missing.
//!
//! Eight tables, all prefixed `busbar_` so they can share a PostgreSQL
//! database with other applications:
//!
//! - `busbar_meta`: the sealing-key fingerprint.
//! - `busbar_keys`: one row per virtual key; its lock is the admission lock.
//! - `busbar_spend`: settled spend, tokens (in total and by class) and
//!   requests per (key, window start): what budgets are checked against.
//! - `busbar_ledger`: the same charges per (key, model, lane, UTC day of
//!   admission), for the spend report; kept when a key is deleted.
//! - `busbar_reservations`: in-flight worst-case amounts with an expiry and
//!   the owner (process) that holds them; expired rows stop counting at once
//!   and are deleted by `reap`, and a dead owner's rows are released early.
//! - `busbar_owners`: one row per live process, with its last heartbeat.
//! - `busbar_rate_requests` / `busbar_rate_tokens`: one row per admitted
//!   request / per settled token count, kept for one sliding minute.
//!
//! Money is integer micro-cents and times integer Unix milliseconds in both
//! databases, so the same arithmetic runs in either.
//!
//! `busbar_reservations.owner` came after the first release: a database made
//! before it gains the column (empty for the rows already there, which then
//! lapse at their expiry as they always did). So did the token classes of
//! `busbar_spend` (zero for the rows already there) and the ledger (empty
//! until the first charge after the upgrade).

use rusqlite::Connection;

/// SQLite: pragmas first (see the `sqlite` module for why NORMAL), then the
/// tables.
const SQLITE: &str = "
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = OFF;
CREATE TABLE IF NOT EXISTS busbar_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS busbar_keys (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL UNIQUE,
    sealed        BLOB NOT NULL,
    name          TEXT NOT NULL,
    metadata      TEXT,
    allowed_pools TEXT NOT NULL,
    max_budget    INTEGER,
    budget_period TEXT NOT NULL,
    rpm_limit     INTEGER,
    tpm_limit     INTEGER,
    enabled       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS busbar_spend (
    key_id       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    spent        INTEGER NOT NULL,
    tokens       INTEGER NOT NULL,
    requests     INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, window_start)
);
CREATE TABLE IF NOT EXISTS busbar_reservations (
    id           INTEGER PRIMARY KEY,
    key_id       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    amount       INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    owner        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS busbar_reservations_key ON busbar_reservations (key_id, window_start);
CREATE INDEX IF NOT EXISTS busbar_reservations_expiry ON busbar_reservations (expires_at);
CREATE TABLE IF NOT EXISTS busbar_owners (
    id           TEXT PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS busbar_ledger (
    key_id             TEXT NOT NULL,
    model              TEXT NOT NULL,
    lane               TEXT NOT NULL,
    day                INTEGER NOT NULL,
    requests           INTEGER NOT NULL,
    tokens             INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    cost               INTEGER NOT NULL,
    PRIMARY KEY (key_id, model, lane, day)
);
CREATE INDEX IF NOT EXISTS busbar_ledger_day ON busbar_ledger (day);
CREATE TABLE IF NOT EXISTS busbar_rate_requests (
    key_id TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS busbar_rate_requests_key ON busbar_rate_requests (key_id, at);
CREATE TABLE IF NOT EXISTS busbar_rate_tokens (
    key_id TEXT NOT NULL,
    at     INTEGER NOT NULL,
    tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS busbar_rate_tokens_key ON busbar_rate_tokens (key_id, at);
";

/// The token classes `busbar_spend` gained after its first release.
pub(crate) const SPEND_CLASS_COLUMNS: [&str; 5] = [
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
];

/// SQLite has no `ADD COLUMN IF NOT EXISTS`: the owner column is added to a
/// table made before it only when `pragma_table_info` lacks it, and indexed
/// after.
const SQLITE_OWNER_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS busbar_reservations_owner ON busbar_reservations (owner);";

/// PostgreSQL: the same tables; run under an advisory lock so replicas
/// starting together do not race on `CREATE TABLE`.
///
/// Tables come in the order settlement writes them (reservations, spend,
/// ledger, rate tokens): `CREATE INDEX IF NOT EXISTS` locks its table even
/// when the index exists, so a replica starting beside running ones must
/// take those locks in the order the running ones do, or the two deadlock.
///
/// Columns added since the first release are added only when missing: an
/// `ALTER TABLE` takes its table exclusively even when `IF NOT EXISTS` makes
/// it a no-op, and a replica starting beside running ones would then hold
/// `busbar_reservations` while waiting for `busbar_spend`, which a running
/// admission reads before it reads the reservations: a deadlock.
pub(crate) const POSTGRES: &str = "
CREATE TABLE IF NOT EXISTS busbar_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS busbar_keys (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL UNIQUE,
    sealed        BYTEA NOT NULL,
    name          TEXT NOT NULL,
    metadata      TEXT,
    allowed_pools TEXT NOT NULL,
    max_budget    BIGINT,
    budget_period TEXT NOT NULL,
    rpm_limit     BIGINT,
    tpm_limit     BIGINT,
    enabled       BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS busbar_spend (
    key_id       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    spent        BIGINT NOT NULL,
    tokens       BIGINT NOT NULL,
    requests     BIGINT NOT NULL,
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens  BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, window_start)
);
CREATE TABLE IF NOT EXISTS busbar_reservations (
    id           BIGSERIAL PRIMARY KEY,
    key_id       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    owner        TEXT NOT NULL DEFAULT ''
);
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'busbar_reservations' AND column_name = 'owner') THEN
        ALTER TABLE busbar_reservations ADD COLUMN IF NOT EXISTS owner TEXT NOT NULL DEFAULT '';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'busbar_spend' AND column_name = 'reasoning_tokens') THEN
        ALTER TABLE busbar_spend
            ADD COLUMN IF NOT EXISTS input_tokens BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS output_tokens BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS cache_read_tokens BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS cache_write_tokens BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS reasoning_tokens BIGINT NOT NULL DEFAULT 0;
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS busbar_reservations_key ON busbar_reservations (key_id, window_start);
CREATE INDEX IF NOT EXISTS busbar_reservations_expiry ON busbar_reservations (expires_at);
CREATE INDEX IF NOT EXISTS busbar_reservations_owner ON busbar_reservations (owner);
CREATE TABLE IF NOT EXISTS busbar_owners (
    id           TEXT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS busbar_ledger (
    key_id             TEXT NOT NULL,
    model              TEXT NOT NULL,
    lane               TEXT NOT NULL,
    day                BIGINT NOT NULL,
    requests           BIGINT NOT NULL,
    tokens             BIGINT NOT NULL,
    input_tokens       BIGINT NOT NULL,
    output_tokens      BIGINT NOT NULL,
    cache_read_tokens  BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    reasoning_tokens   BIGINT NOT NULL,
    cost               BIGINT NOT NULL,
    PRIMARY KEY (key_id, model, lane, day)
);
CREATE INDEX IF NOT EXISTS busbar_ledger_day ON busbar_ledger (day);
CREATE TABLE IF NOT EXISTS busbar_rate_requests (
    key_id TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS busbar_rate_requests_key ON busbar_rate_requests (key_id, at);
CREATE TABLE IF NOT EXISTS busbar_rate_tokens (
    key_id TEXT NOT NULL,
    at     BIGINT NOT NULL,
    tokens BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS busbar_rate_tokens_key ON busbar_rate_tokens (key_id, at);
";

/// An arbitrary constant naming the advisory lock held while PostgreSQL's
/// schema is created ("busbar" in ASCII).
pub(crate) const POSTGRES_SCHEMA_LOCK: i64 = 0x0000_6275_7362_6172;

/// Puts a SQLite connection in WAL mode and creates missing tables.
pub(crate) fn apply_sqlite(conn: &Connection) -> rusqlite::Result<()> {
    // journal_mode answers with the mode in force; an in-memory database
    // stays "memory", which is fine for tests.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(SQLITE)?;
    let has_column = |table: &str, column: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )
    };
    if !has_column("busbar_reservations", "owner")? {
        conn.execute_batch(
            "ALTER TABLE busbar_reservations ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
        )?;
    }
    for column in SPEND_CLASS_COLUMNS {
        if !has_column("busbar_spend", column)? {
            // `column` is one of the literals above, never input.
            conn.execute_batch(&format!(
                "ALTER TABLE busbar_spend ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
            ))?;
        }
    }
    conn.execute_batch(SQLITE_OWNER_INDEX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_schemas_define_the_same_tables() {
        let tables = |sql: &str| -> Vec<String> {
            sql.split("CREATE TABLE IF NOT EXISTS ")
                .skip(1)
                .filter_map(|rest| rest.split_whitespace().next().map(str::to_owned))
                .collect()
        };
        assert_eq!(tables(SQLITE), tables(POSTGRES));
        assert_eq!(tables(SQLITE).len(), 8);
    }

    #[test]
    fn sqlite_schema_applies_twice() {
        let conn = Connection::open_in_memory().expect("opens");
        apply_sqlite(&conn).expect("first");
        apply_sqlite(&conn).expect("second is a no-op");
        let count: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'busbar_%'",
                [],
                |r| r.get(0),
            )
            .expect("counts");
        assert!(count >= 8, "{count}");
    }

    #[test]
    fn a_database_from_before_owners_gains_the_column() {
        let conn = Connection::open_in_memory().expect("opens");
        conn.execute_batch(
            "CREATE TABLE busbar_reservations (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, \
             window_start INTEGER NOT NULL, amount INTEGER NOT NULL, expires_at INTEGER NOT NULL); \
             INSERT INTO busbar_reservations (key_id, window_start, amount, expires_at) VALUES ('vk_1', 0, 5, 9);",
        )
        .expect("an old table");
        apply_sqlite(&conn).expect("migrates");
        let owner: String = conn
            .query_row("SELECT owner FROM busbar_reservations", [], |r| r.get(0))
            .expect("the old row has an owner column");
        assert_eq!(owner, "");
    }

    #[test]
    fn a_database_from_before_token_classes_gains_them_and_a_ledger() {
        let conn = Connection::open_in_memory().expect("opens");
        conn.execute_batch(
            "CREATE TABLE busbar_spend (key_id TEXT NOT NULL, window_start INTEGER NOT NULL, \
             spent INTEGER NOT NULL, tokens INTEGER NOT NULL, requests INTEGER NOT NULL, \
             PRIMARY KEY (key_id, window_start)); \
             INSERT INTO busbar_spend VALUES ('vk_1', 0, 500, 42, 3);",
        )
        .expect("an old table");
        apply_sqlite(&conn).expect("migrates");
        let row: (i64, i64, i64) = conn
            .query_row(
                "SELECT tokens, input_tokens, reasoning_tokens FROM busbar_spend",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("the old row has the new columns");
        assert_eq!(row, (42, 0, 0));
        let ledger: i64 = conn
            .query_row("SELECT COUNT(*) FROM busbar_ledger", [], |r| r.get(0))
            .expect("the ledger exists");
        assert_eq!(ledger, 0);
        apply_sqlite(&conn).expect("migrating again is a no-op");
    }
}
