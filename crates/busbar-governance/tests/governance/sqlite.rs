//! SQLite: the shared suite, plus what only a local file can show.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{governor_on, start, success, Backend, TempDir};
use busbar_governance::store::sqlite::SqliteStore;
use busbar_governance::store::{
    AdmitOutcome, AdmitRequest, BoxFuture, Charge, CheckIn, KeyRecord, Settlement, Store,
};
use busbar_governance::{
    lookup_hash, AdminError, Cents, Governor, KeyMetadata, KeyPatch, KeyUsage, ManualClock, NewKey,
    OpenError, Pricing, Refusal, Served, SpendQuery, SpendTable, StoreError, Timestamp,
    TokenCounts, WorstCase,
};

full_suite!([] Backend::Sqlite);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A key with `body`, created through a governor on the file at `db`.
fn create_key(db: &Path, body: serde_json::Value) -> busbar_governance::CreatedKey {
    runtime().block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).expect("opens"));
        let clock = Arc::new(ManualClock::new(start()));
        let governor = governor_on(store, Pricing::default(), &clock).await;
        let spec = NewKey::from_json(body.to_string().as_bytes()).expect("valid");
        governor.create_key(spec).await.expect("created")
    })
}

fn request(secret: &str) -> AdmitRequest {
    let expires = start().saturating_add(Duration::from_secs(600));
    AdmitRequest::new(
        lookup_hash(secret),
        "pool".into(),
        Cents::whole(1),
        start(),
        expires,
        "own_test".into(),
    )
}

/// The blocking API from 200 OS threads, over two connections to one file
/// (as two processes would have): exactly 50 of 200 fit a 50-cent budget.
#[test]
fn threads_on_one_file_admit_exactly_the_budget() {
    let dir = TempDir::new("threads");
    let db = dir.path().join("gov.db");
    let key = create_key(&db, json!({"name": "threads", "max_budget_cents": 50}));
    let stores = [
        SqliteStore::open(&db).expect("first"),
        SqliteStore::open(&db).expect("second"),
    ];
    let barrier = Arc::new(Barrier::new(200));
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let (store, barrier, secret) = (
                stores[i % 2].clone(),
                Arc::clone(&barrier),
                key.secret.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                match store.admit(&request(&secret)).expect("store answers") {
                    AdmitOutcome::Admitted { reservation, .. } => {
                        let charge = Some(Charge::new(
                            Cents::whole(1),
                            TokenCounts::default(),
                            Served::default(),
                        ));
                        store
                            .settle(&Settlement::new(reservation, charge, start()))
                            .expect("settles");
                        true
                    }
                    AdmitOutcome::Refused(Refusal::BudgetExhausted { .. }) => false,
                    other => panic!("unexpected {other:?}"),
                }
            })
        })
        .collect();
    let admitted = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .filter(|&ok| ok)
        .count();
    assert_eq!(admitted, 50);
    let usage = stores[0]
        .usage(&key.key.id, start())
        .expect("usage")
        .expect("key");
    assert_eq!((usage.spend_cents, usage.requests), (Cents::whole(50), 50));
}

/// The database file (and its WAL) hold the lookup hash but neither the
/// key nor anything that looks like one.
#[test]
fn the_database_files_alone_reveal_no_key() {
    let dir = TempDir::new("reveal");
    let db = dir.path().join("gov.db");
    let keys: Vec<_> = (0..5)
        .map(|i| create_key(&db, json!({"name": format!("k{i}")})))
        .collect();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        bytes.extend(std::fs::read(&path).unwrap_or_default());
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(b"sk-bb-"),
        "a key (or its prefix) is stored in the clear"
    );
    for key in &keys {
        assert!(!contains(key.secret.as_bytes()));
        assert!(
            contains(lookup_hash(&key.secret).as_bytes()),
            "read the wrong files"
        );
    }
}

/// The child half of `kill_9_loses_no_committed_spend`; a no-op otherwise.
#[test]
fn kill_9_child() {
    let Ok(db) = std::env::var("BUSBAR_GOV_CRASH_DB") else {
        return;
    };
    let (secret, progress) = (
        std::env::var("BUSBAR_GOV_CRASH_KEY").expect("key"),
        format!("{db}.progress"),
    );
    let store = SqliteStore::open(Path::new(&db)).expect("opens");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let AdmitOutcome::Admitted { reservation, .. } =
            store.admit(&request(&secret)).expect("admits")
        else {
            panic!("unlimited key refused");
        };
        let charge = Some(Charge::new(
            Cents::whole(1),
            TokenCounts::new(7, 0),
            Served::new("m", "l"),
        ));
        store
            .settle(&Settlement::new(reservation, charge, start()))
            .expect("settles");
        // Reported only after the commit returned.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&progress)
            .expect("progress");
        std::io::Write::write_all(&mut file, b".").expect("progress");
    }
}

/// SIGKILL in the middle of a stream of admissions and settlements: every
/// settlement the child saw commit is there, none is there twice or half,
/// and at most the one in-flight reservation remains, which then lapses.
#[cfg(unix)]
#[test]
fn kill_9_loses_no_committed_spend() {
    let dir = TempDir::new("kill9");
    let db = dir.path().join("gov.db");
    let key = create_key(&db, json!({"name": "crash"}));
    let progress = format!("{}.progress", db.display());
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "sqlite::kill_9_child",
            "--test-threads=1",
            "--quiet",
        ])
        .env("BUSBAR_GOV_CRASH_DB", &db)
        .env("BUSBAR_GOV_CRASH_KEY", &key.secret)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("child starts");
    let seen = || std::fs::metadata(&progress).map(|m| m.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen() < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let reported = seen();
    assert!(
        reported >= 200,
        "the child made too little progress ({reported})"
    );

    let store = SqliteStore::open(&db).expect("reopens after the crash");
    let KeyUsage {
        requests,
        spend_cents,
        tokens,
        ..
    } = store
        .usage(&key.key.id, start())
        .expect("usage")
        .expect("key");
    assert!(
        requests == reported || requests == reported + 1,
        "{requests} committed, {reported} reported"
    );
    assert_eq!(
        spend_cents,
        Cents::whole(i64::try_from(requests).expect("small"))
    );
    assert_eq!(tokens, requests * 7);
    let lapsed = store
        .reap(Timestamp::from_unix_millis(i64::MAX))
        .expect("reaps");
    assert!(lapsed <= 1, "{lapsed} reservations were left behind");
}

/// A store that can be switched off, standing in for an unreachable one.
#[derive(Debug)]
struct Flaky {
    inner: SqliteStore,
    down: AtomicBool,
}

impl Flaky {
    fn gate<'a, T: Send + 'a>(
        &'a self,
        work: BoxFuture<'a, Result<T, StoreError>>,
    ) -> BoxFuture<'a, Result<T, StoreError>> {
        if self.down.load(Ordering::SeqCst) {
            Box::pin(async { Err(StoreError::Unavailable("switched off".into())) })
        } else {
            work
        }
    }
}

impl Store for Flaky {
    fn check_sealing_key<'a>(&'a self, f: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.gate(Store::check_sealing_key(&self.inner, f))
    }
    fn insert_key(&self, r: KeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        self.gate(Store::insert_key(&self.inner, r))
    }
    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyMetadata>, StoreError>> {
        self.gate(Store::list_keys(&self.inner))
    }
    fn get_key<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>, StoreError>> {
        self.gate(Store::get_key(&self.inner, id))
    }
    fn key_by_hash<'a>(
        &'a self,
        hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>, StoreError>> {
        self.gate(Store::key_by_hash(&self.inner, hash))
    }
    fn update_key<'a>(
        &'a self,
        id: &'a str,
        p: &'a KeyPatch,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>, StoreError>> {
        self.gate(Store::update_key(&self.inner, id, p))
    }
    fn delete_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.gate(Store::delete_key(&self.inner, id))
    }
    fn usage<'a>(
        &'a self,
        id: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<KeyUsage>, StoreError>> {
        self.gate(Store::usage(&self.inner, id, now))
    }
    fn sealed_secret<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        self.gate(Store::sealed_secret(&self.inner, id))
    }
    fn admit(&self, r: AdmitRequest) -> BoxFuture<'_, Result<AdmitOutcome, StoreError>> {
        self.gate(Store::admit(&self.inner, r))
    }
    fn settle(&self, s: Settlement) -> BoxFuture<'_, Result<(), StoreError>> {
        self.gate(Store::settle(&self.inner, s))
    }
    fn spend(&self, q: SpendQuery) -> BoxFuture<'_, Result<SpendTable, StoreError>> {
        self.gate(Store::spend(&self.inner, q))
    }
    fn renew(&self, id: i64, at: Timestamp) -> BoxFuture<'_, Result<(), StoreError>> {
        self.gate(Store::renew(&self.inner, id, at))
    }
    fn reap(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.gate(Store::reap(&self.inner, now))
    }
    fn check_in(&self, c: CheckIn) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.gate(Store::check_in(&self.inner, c))
    }
}

async fn flaky_governor(fail_open: bool) -> (Governor, Arc<Flaky>) {
    let flaky = Arc::new(Flaky {
        inner: SqliteStore::open_in_memory().expect("opens"),
        down: AtomicBool::new(false),
    });
    let mut options = busbar_governance::GovernorOptions::default();
    options.fail_open = fail_open;
    options.clock = Arc::new(ManualClock::new(start()));
    let store: Arc<dyn Store> = flaky.clone();
    let governor = Governor::with_store(store, crate::support::sealer(), options)
        .await
        .expect("opens");
    (governor, flaky)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_fails_closed_by_default() {
    let (governor, flaky) = flaky_governor(false).await;
    let key = governor
        .create_key(NewKey::named("k"))
        .await
        .expect("created");
    governor
        .authorize(&key.secret, "pool", WorstCase::tokens(0))
        .await
        .expect("up")
        .settle(busbar_governance::Outcome::Failed)
        .await
        .expect("ok");
    flaky.down.store(true, Ordering::SeqCst);
    let refusal = governor
        .authorize(&key.secret, "pool", WorstCase::tokens(0))
        .await
        .expect_err("closed");
    assert_eq!(refusal.code(), "governance_unavailable");
    assert!(matches!(refusal, Refusal::StoreUnavailable { .. }));
    let refusal = governor.identify(&key.secret).await.expect_err("closed");
    assert!(matches!(refusal, Refusal::StoreUnavailable { .. }));
    assert!(matches!(
        governor.list_keys().await.expect_err("admin too"),
        AdminError::Store(StoreError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_admits_only_keys_verified_before() {
    let (governor, flaky) = flaky_governor(true).await;
    let mut spec = NewKey::named("k");
    spec.allowed_pools = vec!["pool".into()];
    let known = governor.create_key(spec).await.expect("created");
    let never_seen = governor
        .create_key(NewKey::named("other"))
        .await
        .expect("created");
    let first = governor
        .authorize(&known.secret, "pool", WorstCase::tokens(0))
        .await
        .expect("up");
    assert!(first.is_metered());
    first
        .settle(busbar_governance::Outcome::Failed)
        .await
        .expect("ok");
    flaky.down.store(true, Ordering::SeqCst);
    let open = governor
        .authorize(&known.secret, "pool", WorstCase::tokens(0))
        .await
        .expect("admitted unmetered");
    assert!(!open.is_metered());
    assert_eq!(open.key().id, known.key.id);
    open.settle(success(10)).await.expect("nothing to record");
    let wrong_pool = governor
        .authorize(&known.secret, "elsewhere", WorstCase::tokens(0))
        .await
        .expect_err("still 403");
    assert!(matches!(wrong_pool, Refusal::NotAllowed { .. }));
    let unknown = governor
        .authorize(&never_seen.secret, "pool", WorstCase::tokens(0))
        .await
        .expect_err("never verified");
    assert!(matches!(unknown, Refusal::StoreUnavailable { .. }));
}

/// Identifying verifies a key as admitting does: with `fail_open`, a key
/// identified (or admitted) before the store went down is still known, and
/// one that was never seen, or was suspended or deleted since, is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_identifies_only_keys_verified_before() {
    let (governor, flaky) = flaky_governor(true).await;
    let mut keys = Vec::new();
    for name in [
        "admitted",
        "identified",
        "suspended",
        "deleted",
        "never seen",
    ] {
        keys.push(
            governor
                .create_key(NewKey::named(name))
                .await
                .expect("created"),
        );
    }
    let [admitted, identified, suspended, deleted, never_seen] = &keys[..] else {
        unreachable!("five keys");
    };
    governor
        .authorize(&admitted.secret, "pool", WorstCase::tokens(0))
        .await
        .expect("up")
        .settle(busbar_governance::Outcome::Failed)
        .await
        .expect("ok");
    for key in [identified, suspended, deleted] {
        assert_eq!(governor.identify(&key.secret).await, Ok(key.key.clone()));
    }
    let suspend = KeyPatch::from_json(br#"{"enabled": false}"#).expect("valid");
    governor
        .update_key(&suspended.key.id, &suspend)
        .await
        .expect("suspended");
    governor.delete_key(&deleted.key.id).await.expect("deleted");
    flaky.down.store(true, Ordering::SeqCst);

    for key in [admitted, identified] {
        assert_eq!(governor.identify(&key.secret).await, Ok(key.key.clone()));
    }
    let open = governor
        .authorize(&identified.secret, "pool", WorstCase::tokens(0))
        .await
        .expect("identified is verified");
    assert!(!open.is_metered());
    for key in [suspended, deleted, never_seen] {
        let refusal = governor.identify(&key.secret).await.expect_err("not known");
        assert!(
            matches!(refusal, Refusal::StoreUnavailable { .. }),
            "{refusal:?}"
        );
    }
    let made_up = "sk-bb-0123456789abcdef0123456789abcdef";
    let refusal = governor.identify(made_up).await.expect_err("never a key");
    assert!(matches!(refusal, Refusal::StoreUnavailable { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_from_config_makes_the_database_and_key_file() {
    let dir = TempDir::new("config");
    let mut config = busbar_config::Governance::default();
    config.enabled = true;
    config.db_path = dir.path().join("busbar-governance.db");
    config.admin_token = Some(busbar_config::Secret::new("tok"));
    let governor = Governor::open(&config).await.expect("opens");
    assert!(config.db_path.exists());
    let key_file = busbar_governance::Sealer::key_file_path(&config.db_path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(governor.check_admin_token(Some("tok")), Ok(()));
    assert_eq!(
        governor.check_admin_token(Some("tok2")),
        Err(AdminError::Unauthorized)
    );
    assert_eq!(
        governor.check_admin_token(None),
        Err(AdminError::Unauthorized)
    );
    let created = governor
        .create_key(NewKey::named("k"))
        .await
        .expect("created");
    drop(governor);

    let reopened = Governor::open(&config)
        .await
        .expect("reopens with the same key file");
    let recovered = reopened
        .recover_secret(&created.key.id)
        .await
        .expect("store")
        .expect("present");
    assert_eq!(recovered.expose(), created.secret);
    drop(reopened);

    config.secret_key = Some(busbar_config::Secret::new("some other secret"));
    let mismatch = Governor::open(&config).await;
    assert!(
        matches!(mismatch, Err(OpenError::SealingKeyMismatch)),
        "{mismatch:?}"
    );
    config.secret_key = None;
    config.price_per_request_cents = -1.0;
    assert!(matches!(
        Governor::open(&config).await,
        Err(OpenError::Config(_))
    ));
}
