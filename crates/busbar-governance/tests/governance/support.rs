//! Test support: fresh stores for either backend, a governor on a manual
//! clock, and the PostgreSQL database's URL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use busbar_config::Secret;
use busbar_governance::store::postgres::{PostgresOptions, PostgresStore};
use busbar_governance::store::sqlite::SqliteStore;
use busbar_governance::store::Store;
use busbar_governance::{
    Admission, CreatedKey, Governor, GovernorOptions, ManualClock, NewKey, Outcome, Pricing,
    Refusal, Sealer, Served, Timestamp, TokenCounts, WorstCase,
};

/// Where every test's clock starts: two minutes before the end of a day
/// and of a month.
pub(crate) fn start() -> Timestamp {
    Timestamp::from_utc(2025, 1, 31, 23, 58, 0).expect("valid date")
}

/// The server secret every test seals with.
pub(crate) fn sealer() -> Sealer {
    Sealer::from_secret("integration-test server secret").expect("non-empty")
}

/// Which store a suite test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A governor on a fresh store, with a manual clock.
pub(crate) struct Harness {
    pub(crate) governor: Governor,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) place: Place,
}

/// Where a fresh store lives, so a second "replica" can open it too.
pub(crate) enum Place {
    Dir { _dir: TempDir },
    Schema(String),
}

impl Harness {
    /// A harness for `backend` charging `pricing`. PostgreSQL needs
    /// `BUSBAR_TEST_POSTGRES` (see [`postgres_url`]).
    pub(crate) async fn open(backend: Backend, pricing: Pricing) -> Self {
        let (store, place): (Arc<dyn Store>, Place) = match backend {
            Backend::Sqlite => {
                let dir = TempDir::new("suite");
                let store = SqliteStore::open(&dir.path().join("gov.db")).expect("opens SQLite");
                (Arc::new(store), Place::Dir { _dir: dir })
            }
            Backend::Postgres => {
                let url = postgres_url();
                let schema = fresh_schema(&url).await;
                let store = postgres_store(&url, &schema).await;
                (Arc::new(store), Place::Schema(schema))
            }
        };
        let clock = Arc::new(ManualClock::new(start()));
        let governor = governor_on(Arc::clone(&store), pricing, &clock).await;
        Self {
            governor,
            clock,
            store,
            place,
        }
    }

    /// Creates a key from a JSON body, as `POST /admin/keys` would.
    pub(crate) async fn create(&self, body: serde_json::Value) -> CreatedKey {
        let spec = NewKey::from_json(body.to_string().as_bytes()).expect("valid body");
        self.governor.create_key(spec).await.expect("created")
    }

    /// Admits one request for `pool` with a worst case of `max_tokens`.
    pub(crate) async fn ask(&self, secret: &str, max_tokens: u64) -> Result<Admission, Refusal> {
        self.governor
            .authorize(secret, "pool", WorstCase::tokens(max_tokens))
            .await
    }

    /// Drops the PostgreSQL schema (the SQLite directory goes by itself).
    pub(crate) async fn finish(self) {
        if let Place::Schema(schema) = &self.place {
            drop_schema(&postgres_url(), schema).await;
        }
    }
}

/// A success that used `tokens` (all of them prompt), served by model `m`
/// over lane `l`, charged at the governor's flat prices.
pub(crate) fn success(tokens: u64) -> Outcome {
    Outcome::succeeded(Served::new("m", "l"), TokenCounts::new(tokens, 0))
}

/// A governor over `store` with the test sealer, `pricing` and `clock`,
/// owned by this process (as every governor the server opens is).
pub(crate) async fn governor_on(
    store: Arc<dyn Store>,
    pricing: Pricing,
    clock: &Arc<ManualClock>,
) -> Governor {
    governor_with(store, pricing, clock, GovernorOptions::default()).await
}

/// [`governor_on`] as if in another process, whose owner id is `owner`.
pub(crate) async fn governor_as(
    store: Arc<dyn Store>,
    pricing: Pricing,
    clock: &Arc<ManualClock>,
    owner: &str,
) -> Governor {
    let mut options = GovernorOptions::default();
    options.owner = owner.to_owned();
    governor_with(store, pricing, clock, options).await
}

async fn governor_with(
    store: Arc<dyn Store>,
    pricing: Pricing,
    clock: &Arc<ManualClock>,
    mut options: GovernorOptions,
) -> Governor {
    options.pricing = pricing;
    options.clock = Arc::clone(clock) as Arc<dyn busbar_governance::Clock>;
    options.admin_token = Some(Secret::new("admin-token"));
    Governor::with_store(store, sealer(), options)
        .await
        .expect("governor opens")
}

/// `BUSBAR_TEST_POSTGRES`: a database the test may create schemas in.
///
/// The PostgreSQL tests are `#[ignore]`d, so a plain `cargo test` reports
/// them as ignored; one run on purpose (`-- --ignored`) without a database
/// fails here rather than pass having tested nothing.
pub(crate) fn postgres_url() -> String {
    match std::env::var("BUSBAR_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "this PostgreSQL test needs BUSBAR_TEST_POSTGRES, a database it may create \
             schemas in, e.g. postgres://postgres@127.0.0.1:5432/busbar_test \
             (.ci/postgres.sh starts a throwaway one and runs these tests)"
        ),
    }
}

/// A store on `url` confined to `schema` through `search_path`.
pub(crate) async fn postgres_store(url: &str, schema: &str) -> PostgresStore {
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    PostgresStore::connect(&scoped, PostgresOptions::default())
        .await
        .expect("connects to PostgreSQL")
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(conn);
    client
}

/// A new, empty schema, so tests running at once do not share tables.
pub(crate) async fn fresh_schema(url: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let schema = format!(
        "busbar_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin_client(url)
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("creates schema");
    schema
}

async fn drop_schema(url: &str, schema: &str) {
    let _ = admin_client(url)
        .await
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}

/// A fresh directory under the system's temporary directory.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("busbar-gov-it-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
