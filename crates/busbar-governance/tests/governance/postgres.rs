//! PostgreSQL: the shared suite, plus two replicas racing on one database.
//!
//! Every test here but `an_unreachable_database_is_unavailable` needs a
//! database: they are `#[ignore]`d, so a plain `cargo test` lists them as
//! ignored, and run with `-- --ignored` (or `--include-ignored`) and
//! `BUSBAR_TEST_POSTGRES` set; without it each fails at once. Each test works
//! in a schema of its own, so they run in parallel.

use std::sync::Arc;

use serde_json::json;

use crate::race::{assert_rate_limited, race};
use crate::support::{
    fresh_schema, governor_on, postgres_store, postgres_url, start, Backend, Harness,
};
use busbar_governance::store::postgres::{PostgresOptions, PostgresStore};
use busbar_governance::store::Store;
use busbar_governance::{
    Cents, Governor, ManualClock, Outcome, Pricing, Refusal, StoreError, WorstCase,
};

full_suite!(
    [#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]]
    Backend::Postgres
);

/// Runs without a database: nothing listens on port 1.
#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let result = PostgresStore::connect(
        "postgres://busbar@127.0.0.1:1/busbar",
        PostgresOptions::default(),
    )
    .await;
    match result {
        Err(StoreError::Unavailable(reason)) => assert!(!reason.contains("busbar@"), "{reason}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let bad = PostgresStore::connect("mysql://nope", PostgresOptions::default()).await;
    assert!(matches!(bad, Err(StoreError::Backend(_))), "{bad:?}");
}

/// A second "replica": its own store (own connection pool) and governor on
/// the first harness's schema.
async fn replica(h: &Harness) -> Governor {
    let crate::support::Place::Schema(schema) = &h.place else {
        panic!("a PostgreSQL harness");
    };
    let store: Arc<dyn Store> = Arc::new(postgres_store(&postgres_url(), schema).await);
    governor_on(
        store,
        Pricing::default(),
        &Arc::new(ManualClock::new(start())),
    )
    .await
}

/// Two processes' worth of governors on one database, 200 requests split
/// between them against a 50-cent budget: exactly 50 pass in total.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]
async fn two_replicas_share_one_budget_exactly() {
    let h = Harness::open(Backend::Postgres, Pricing::default()).await;
    let key = h
        .create(json!({"name": "shared", "max_budget_cents": 50}))
        .await;
    let other = replica(&h).await;
    let tally = race(&[h.governor.clone(), other.clone()], &key.secret, 200).await;
    assert_eq!(tally.admitted, 50);
    assert!(tally
        .refusals
        .iter()
        .all(|r| matches!(r, Refusal::BudgetExhausted { .. })));
    let seen_by_other = other.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (seen_by_other.spend_cents, seen_by_other.requests),
        (Cents::whole(50), 50)
    );
    h.finish().await;
}

/// The same with `rpm_limit: 30`: 30 in total, not 30 per replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]
async fn two_replicas_share_one_rpm_window_exactly() {
    let h = Harness::open(Backend::Postgres, Pricing::default()).await;
    let key = h.create(json!({"name": "shared", "rpm_limit": 30})).await;
    let other = replica(&h).await;
    let tally = race(&[h.governor.clone(), other], &key.secret, 100).await;
    assert_eq!(tally.admitted, 30);
    assert_rate_limited(&tally.refusals, 70);
    h.finish().await;
}

/// A patch made through one replica is what the other admits by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]
async fn replicas_see_each_others_admin_changes() {
    let h = Harness::open(Backend::Postgres, Pricing::default()).await;
    let key = h.create(json!({"name": "k"})).await;
    let other = replica(&h).await;
    other
        .authorize(&key.secret, "pool", WorstCase::tokens(0))
        .await
        .expect("created elsewhere")
        .settle(Outcome::Failed)
        .await
        .expect("ok");
    let suspend = busbar_governance::KeyPatch::from_json(br#"{"enabled": false}"#).expect("valid");
    h.governor
        .update_key(&key.key.id, &suspend)
        .await
        .expect("suspended");
    let refusal = other
        .authorize(&key.secret, "pool", WorstCase::tokens(0))
        .await
        .expect_err("suspended elsewhere");
    assert!(matches!(refusal, Refusal::KeyDisabled { .. }));
    let recovered = other
        .recover_secret(&key.key.id)
        .await
        .expect("store")
        .expect("present");
    assert_eq!(
        recovered.expose(),
        key.secret,
        "replicas share the server secret"
    );
    h.finish().await;
}

/// `Governor::open` with `store:` set goes to PostgreSQL and creates the
/// schema itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]
async fn governor_opens_postgres_from_config() {
    let url = postgres_url();
    let schema = fresh_schema(&url).await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut config = busbar_config::Governance::default();
    config.enabled = true;
    config.store = Some(busbar_config::Secret::new(format!(
        "{url}{separator}options=-c%20search_path%3D{schema}"
    )));
    config.secret_key = Some(busbar_config::Secret::new("replica secret"));
    config.db_path = std::env::temp_dir().join("busbar-gov-unused.db");
    let governor = Governor::open(&config).await.expect("opens");
    let created = governor
        .create_key(busbar_governance::NewKey::named("k"))
        .await
        .expect("created");
    assert_eq!(governor.list_keys().await.expect("lists").keys.len(), 1);
    assert!(
        !config.db_path.exists(),
        "no SQLite file when the store is PostgreSQL"
    );
    governor
        .authorize(&created.secret, "pool", WorstCase::tokens(10))
        .await
        .expect("admitted")
        .settle(Outcome::Failed)
        .await
        .expect("ok");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(conn);
    let _ = client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}

/// A database made before token classes and the ledger gains both, keeps
/// its spend (classes zero), and opening it again alters nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]
async fn a_database_from_before_token_classes_gains_them() {
    let url = postgres_url();
    let schema = fresh_schema(&url).await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "CREATE TABLE {schema}.busbar_spend (key_id TEXT NOT NULL, window_start BIGINT NOT NULL, \
             spent BIGINT NOT NULL, tokens BIGINT NOT NULL, requests BIGINT NOT NULL, \
             PRIMARY KEY (key_id, window_start)); \
             INSERT INTO {schema}.busbar_spend VALUES ('vk_1', 0, 500, 42, 3);"
        ))
        .await
        .expect("an old table");
    for _ in 0..2 {
        drop(postgres_store(&url, &schema).await);
    }
    let row = client
        .query_one(
            &format!("SELECT tokens, input_tokens, reasoning_tokens FROM {schema}.busbar_spend"),
            &[],
        )
        .await
        .expect("the old row has the new columns");
    let values: (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(values, (42, 0, 0));
    let ledger: i64 = client
        .query_one(&format!("SELECT COUNT(*) FROM {schema}.busbar_ledger"), &[])
        .await
        .expect("the ledger exists")
        .get(0);
    assert_eq!(ledger, 0);
    let _ = client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}
