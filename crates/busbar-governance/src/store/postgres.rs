//! The PostgreSQL store: one database shared by every Busbar replica.
//!
//! Keys, spend, reservations and the sliding rate windows all live in the
//! database, and admission decides under a row lock on the key (see `ops`),
//! so several processes share one budget and one rate limit exactly; nothing
//! that matters for a limit is held in process memory.
//!
//! Connections: a small pool of `tokio-postgres` clients, each with the
//! admission statements prepared once. A connection that fails, or an
//! operation that outlives `operation_timeout`, is dropped rather than
//! reused, and the next operation dials afresh, so the store recovers by
//! itself when the database comes back. Every failure to reach the database
//! is [`StoreError::Unavailable`], which admission treats per `fail_open`.
//!
//! TLS: `sslmode=require` in the URL uses rustls and verifies the server's
//! certificate against the web PKI roots (stricter than libpq's `require`,
//! which checks nothing); `prefer` (the default) and `disable` connect in
//! plain text, as suits a database on the same host or private network.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use self::ops::{Conn, OpError};
use super::schema::{POSTGRES, POSTGRES_SCHEMA_LOCK};
use super::{AdmitOutcome, AdmitRequest, BoxFuture, CheckIn, KeyRecord, Settlement, Store};
use crate::api::{KeyMetadata, KeyUsage};
use crate::error::{postgres_error, StoreError};
use crate::request::KeyPatch;
use crate::spend::{SpendQuery, SpendTable};
use crate::window::Timestamp;

mod ops;

type Result<T> = std::result::Result<T, StoreError>;

/// Tuning for [`PostgresStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Connections held open at most (default 16). Admissions for one key
    /// serialize on its row lock whatever the pool size; more connections
    /// help many keys at once.
    pub pool_size: usize,
    /// Used when the URL sets no `connect_timeout` (default 5 s).
    pub connect_timeout: Duration,
    /// The longest an operation may take, waiting for a connection
    /// included, before it fails as unavailable (default 10 s).
    pub operation_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
        }
    }
}

/// Governance state in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Arc<Pool>,
}

struct Pool {
    config: Config,
    tls: Option<MakeRustlsConnect>,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    operation_timeout: Duration,
}

impl fmt::Debug for PostgresStore {
    // The URL usually holds a password: only the harmless parts are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("dbname", &self.pool.config.get_dbname())
            .field("tls", &self.pool.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db?sslmode=…`),
    /// creates the schema if it is missing and fills the first pool slot.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self> {
        // The parser's message never includes the URL, so no password leaks.
        let mut config: Config = url
            .parse()
            .map_err(|err| StoreError::Backend(format!("invalid PostgreSQL URL: {err}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("busbar");
        }
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(rustls_connector()?),
            _ => {
                config.ssl_mode(SslMode::Disable);
                None
            }
        };
        let pool = Pool {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(options.pool_size.max(1)),
            operation_timeout: options.operation_timeout,
        };
        let mut client = pool.dial().await?;
        create_schema(&mut client).await.map_err(postgres_error)?;
        let conn = Conn::prepare(client).await.map_err(postgres_error)?;
        pool.give_back(conn);
        Ok(Self {
            pool: Arc::new(pool),
        })
    }

    /// Runs one operation on a pooled connection, within the operation
    /// timeout.
    async fn run<T>(
        &self,
        work: impl for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, std::result::Result<T, OpError>>,
    ) -> Result<T> {
        let pool = &self.pool;
        let attempt = async {
            let _permit = pool
                .permits
                .acquire()
                .await
                .map_err(|_| StoreError::Unavailable("the connection pool is closed".into()))?;
            let mut conn = match pool.take_idle() {
                Some(conn) => conn,
                None => Conn::prepare(pool.dial().await?)
                    .await
                    .map_err(postgres_error)?,
            };
            match work(&mut conn).await {
                Ok(value) => {
                    pool.give_back(conn);
                    Ok(value)
                }
                Err(OpError::Store(err)) => {
                    pool.give_back(conn);
                    Err(err)
                }
                // An SQL error leaves the connection usable (the failed
                // transaction was rolled back when dropped); a broken
                // connection is left to drop.
                Err(OpError::Postgres(err)) => {
                    if err.as_db_error().is_some() && !conn.client.is_closed() {
                        pool.give_back(conn);
                    }
                    Err(postgres_error(err))
                }
            }
        };
        match tokio::time::timeout(pool.operation_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer from PostgreSQL within {:?}",
                pool.operation_timeout
            ))),
        }
    }
}

impl Pool {
    async fn dial(&self) -> Result<Client> {
        let spawn = |conn: std::pin::Pin<
            Box<
                dyn std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>
                    + Send,
            >,
        >| {
            tokio::spawn(async move {
                if let Err(err) = conn.await {
                    tracing::debug!(error = %err, "governance PostgreSQL connection ended");
                }
            });
        };
        match &self.tls {
            None => {
                let (client, conn) = self.config.connect(NoTls).await.map_err(postgres_error)?;
                spawn(Box::pin(conn));
                Ok(client)
            }
            Some(tls) => {
                let (client, conn) = self
                    .config
                    .connect(tls.clone())
                    .await
                    .map_err(postgres_error)?;
                spawn(Box::pin(conn));
                Ok(client)
            }
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(conn) = idle.pop() {
            if !conn.client.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, conn: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

// Replicas starting together would race on CREATE TABLE IF NOT EXISTS (it
// is not atomic in PostgreSQL); a transaction-scoped advisory lock makes
// them take turns.
async fn create_schema(client: &mut Client) -> std::result::Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&POSTGRES_SCHEMA_LOCK])
        .await?;
    tx.batch_execute(POSTGRES).await?;
    tx.commit().await
}

fn rustls_connector() -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| StoreError::Backend(format!("TLS setup for PostgreSQL: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

impl Store for PostgresStore {
    fn check_sealing_key<'a>(&'a self, fingerprint: &'a str) -> BoxFuture<'a, Result<bool>> {
        let fingerprint = fingerprint.to_owned();
        Box::pin(
            self.run(move |c| Box::pin(async move { c.check_sealing_key(&fingerprint).await })),
        )
    }
    fn insert_key(&self, record: KeyRecord) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.run(move |c| Box::pin(async move { c.insert_key(&record).await })))
    }
    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyMetadata>>> {
        Box::pin(self.run(|c| Box::pin(c.list_keys())))
    }
    fn get_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<KeyMetadata>>> {
        let id = id.to_owned();
        Box::pin(self.run(move |c| Box::pin(async move { c.get_key(&id).await })))
    }
    fn key_by_hash<'a>(
        &'a self,
        secret_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>>> {
        let secret_hash = secret_hash.to_owned();
        Box::pin(self.run(move |c| Box::pin(async move { c.key_by_hash(&secret_hash).await })))
    }
    fn update_key<'a>(
        &'a self,
        id: &'a str,
        patch: &'a KeyPatch,
    ) -> BoxFuture<'a, Result<Option<KeyMetadata>>> {
        let (id, patch) = (id.to_owned(), patch.clone());
        Box::pin(self.run(move |c| Box::pin(async move { c.update_key(&id, &patch).await })))
    }
    fn delete_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        let id = id.to_owned();
        Box::pin(self.run(move |c| Box::pin(async move { c.delete_key(&id).await })))
    }
    fn usage<'a>(&'a self, id: &'a str, now: Timestamp) -> BoxFuture<'a, Result<Option<KeyUsage>>> {
        let id = id.to_owned();
        Box::pin(self.run(move |c| Box::pin(async move { c.usage(&id, now).await })))
    }
    fn sealed_secret<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        let id = id.to_owned();
        Box::pin(self.run(move |c| Box::pin(async move { c.sealed_secret(&id).await })))
    }
    fn admit(&self, request: AdmitRequest) -> BoxFuture<'_, Result<AdmitOutcome>> {
        Box::pin(self.run(move |c| Box::pin(async move { c.admit(&request).await })))
    }
    fn settle(&self, settlement: Settlement) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.run(move |c| Box::pin(async move { c.settle(&settlement).await })))
    }
    fn spend(&self, query: SpendQuery) -> BoxFuture<'_, Result<SpendTable>> {
        Box::pin(self.run(move |c| Box::pin(async move { c.spend(&query).await })))
    }
    fn renew(&self, reservation_id: i64, expires_at: Timestamp) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.run(move |c| Box::pin(c.renew(reservation_id, expires_at))))
    }
    fn reap(&self, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.run(move |c| Box::pin(c.reap(now))))
    }
    fn check_in(&self, check_in: CheckIn) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.run(move |c| Box::pin(async move { c.check_in(&check_in).await })))
    }
}
