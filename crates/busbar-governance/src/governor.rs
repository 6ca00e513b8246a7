//! [`Governor`]: the one handle the server holds, for the admin API, for
//! admitting requests and for SigV4's secret lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use busbar_config::Secret;

use crate::admission::Admission;
use crate::api::{CreatedKey, Deleted, KeyList, KeyMetadata, KeyUsage};
use crate::error::{AdminError, OpenError, StoreError};
use crate::key::{self, looks_like_key_id, looks_like_virtual_key, VirtualKey};
use crate::money::{Pricing, WorstCase};
use crate::policy::{self, Refusal};
use crate::request::{KeyPatch, NewKey};
use crate::seal::Sealer;
use crate::spend::{SpendQuery, SpendReport};
use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::SqliteStore;
use crate::store::{AdmitOutcome, AdmitRequest, CheckIn, KeyRecord, Store};
use crate::window::{Clock, Day, SystemClock};

/// How many verified keys a process remembers for `fail_open`.
const KEY_CACHE_LIMIT: usize = 10_000;

/// Settings of a [`Governor`] besides its store and sealer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GovernorOptions {
    /// What requests cost (default: 1 cent a request, tokens free).
    pub pricing: Pricing,
    /// Admit requests while the store is unreachable (default false:
    /// refuse them with [`Refusal::StoreUnavailable`]). Even when open, only
    /// keys this process has verified before are admitted, unmetered.
    pub fail_open: bool,
    /// How long a reservation holds budget if never settled (default
    /// 10 minutes); see [`Admission::renew`] for longer streams.
    pub reservation_ttl: Duration,
    /// The admin token; `None` refuses every admin call.
    pub admin_token: Option<Secret>,
    /// The source of now (default the system clock).
    pub clock: Arc<dyn Clock>,
    /// Who holds this governor's reservations in the store (default: one
    /// random id per process, shared by every governor it opens, so a
    /// reload's new governor never frees the old one's requests in flight).
    /// See [`CheckIn`] for how a dead owner's reservations are released.
    pub owner: String,
    /// How long an owner may go without a heartbeat before its reservations
    /// are released (default 3 minutes). Governors beat on every
    /// [`spawn_reaper`](Governor::spawn_reaper) tick, so the tick must be
    /// well inside this.
    pub owner_stale_after: Duration,
}

impl Default for GovernorOptions {
    fn default() -> Self {
        Self {
            pricing: Pricing::default(),
            fail_open: false,
            reservation_ttl: Duration::from_secs(600),
            admin_token: None,
            clock: Arc::new(SystemClock),
            owner: process_owner().to_owned(),
            owner_stale_after: Duration::from_secs(180),
        }
    }
}

/// This process's owner id: `own_` + 16 random hex digits, drawn once.
fn process_owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            // Unique enough among the processes sharing a store.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = (u64::from(std::process::id()) ^ nanos as u64).to_be_bytes();
        }
        format!("own_{}", key::hex(&bytes))
    })
}

impl GovernorOptions {
    /// The options a configuration asks for.
    pub fn from_config(config: &busbar_config::Governance) -> Result<Self, OpenError> {
        let pricing = Pricing::new(
            config.price_per_request_cents,
            config.price_per_1k_tokens_cents,
        )
        .ok_or_else(|| OpenError::Config("prices must be finite numbers of cents ≥ 0".into()))?;
        Ok(Self {
            pricing,
            fail_open: config.fail_open,
            admin_token: config.admin_token.clone(),
            ..Self::default()
        })
    }
}

/// Virtual keys, budgets and rate limits over a [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Governor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) options: GovernorOptions,
    sealer: Sealer,
    // Keys verified by this process, by lookup hash: consulted only when the
    // store is unreachable and `fail_open` is on, so an outage admits known
    // keys but never a made-up one.
    verified: Mutex<HashMap<String, KeyMetadata>>,
}

impl Governor {
    /// Opens governance as configured: PostgreSQL when `store` is set, else
    /// SQLite at `db_path`; the sealing key from `secret_key`, else the key
    /// file beside `db_path`.
    pub async fn open(config: &busbar_config::Governance) -> Result<Self, OpenError> {
        let options = GovernorOptions::from_config(config)?;
        let local = config.clone();
        let sealer_task = tokio::task::spawn_blocking(move || Sealer::from_config(&local));
        let sealer = sealer_task
            .await
            .map_err(|err| OpenError::Config(err.to_string()))??;
        let store: Arc<dyn Store> = match &config.store {
            Some(url) => {
                let url = url.expose();
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(OpenError::Config(
                        "governance.store must be a postgres:// URL".into(),
                    ));
                }
                Arc::new(PostgresStore::connect(url, PostgresOptions::default()).await?)
            }
            None => {
                let path = config.db_path.clone();
                let task = tokio::task::spawn_blocking(move || SqliteStore::open(&path));
                Arc::new(
                    task.await
                        .map_err(|err| OpenError::Config(err.to_string()))??,
                )
            }
        };
        Self::with_store(store, sealer, options).await
    }

    /// A governor over an opened store. Fails if the store's keys were
    /// sealed under a different server key.
    ///
    /// Checks in as its owner first, which releases what dead owners left
    /// (see [`CheckIn`]): on SQLite everything an earlier process held.
    pub async fn with_store(
        store: Arc<dyn Store>,
        sealer: Sealer,
        options: GovernorOptions,
    ) -> Result<Self, OpenError> {
        if !store.check_sealing_key(sealer.fingerprint()).await? {
            return Err(OpenError::SealingKeyMismatch);
        }
        let verified = Mutex::new(HashMap::new());
        let governor = Self {
            inner: Arc::new(Inner {
                store,
                options,
                sealer,
                verified,
            }),
        };
        let released = governor.check_in(true).await?;
        if released > 0 {
            tracing::info!(
                released,
                "released governance reservations left by a process that died"
            );
        }
        Ok(governor)
    }

    /// The options in force.
    pub fn options(&self) -> &GovernorOptions {
        &self.inner.options
    }

    /// Checks the admin token presented as `Authorization: Bearer` or
    /// `x-admin-token`, in time independent of where it differs.
    pub fn check_admin_token(&self, presented: Option<&str>) -> Result<(), AdminError> {
        let Some(expected) = &self.inner.options.admin_token else {
            return Err(AdminError::Disabled);
        };
        match presented {
            Some(token) if expected.matches(token) => Ok(()),
            _ => Err(AdminError::Unauthorized),
        }
    }

    /// `POST /admin/keys`: stores a new key and returns it with its secret,
    /// which is never available again.
    pub async fn create_key(&self, spec: NewKey) -> Result<CreatedKey, AdminError> {
        let internal = |what: &str| AdminError::Internal(format!("{what} failed"));
        let secret = VirtualKey::generate().map_err(|_| internal("the random generator"))?;
        let id = key::generate_key_id().map_err(|_| internal("the random generator"))?;
        let sealed = self
            .inner
            .sealer
            .seal(&id, secret.expose())
            .map_err(|_| internal("sealing"))?;
        let key = KeyMetadata {
            id,
            name: spec.name,
            metadata: spec.metadata,
            allowed_pools: spec.allowed_pools,
            max_budget: spec.max_budget,
            budget_period: spec.budget_period,
            rpm_limit: spec.rpm_limit,
            tpm_limit: spec.tpm_limit,
            enabled: spec.enabled,
            created_at: self.inner.options.clock.now(),
        };
        let record = KeyRecord::new(key.clone(), secret.lookup_hash(), sealed);
        self.inner.store.insert_key(record).await?;
        Ok(CreatedKey {
            key,
            secret: secret.expose().to_owned(),
        })
    }

    /// `GET /admin/keys`.
    pub async fn list_keys(&self) -> Result<KeyList, AdminError> {
        Ok(KeyList {
            keys: self.inner.store.list_keys().await?,
        })
    }

    /// `GET /admin/keys/ID`.
    pub async fn get_key(&self, id: &str) -> Result<KeyMetadata, AdminError> {
        let found = if looks_like_key_id(id) {
            self.inner.store.get_key(id).await?
        } else {
            None
        };
        found.ok_or_else(|| AdminError::NotFound(id.to_owned()))
    }

    /// `PATCH /admin/keys/ID`.
    pub async fn update_key(&self, id: &str, patch: &KeyPatch) -> Result<KeyMetadata, AdminError> {
        let found = if looks_like_key_id(id) {
            self.inner.store.update_key(id, patch).await?
        } else {
            None
        };
        self.forget(id);
        found.ok_or_else(|| AdminError::NotFound(id.to_owned()))
    }

    /// `DELETE /admin/keys/ID`.
    pub async fn delete_key(&self, id: &str) -> Result<Deleted, AdminError> {
        let deleted = looks_like_key_id(id) && self.inner.store.delete_key(id).await?;
        self.forget(id);
        if deleted {
            Ok(Deleted {
                deleted: id.to_owned(),
            })
        } else {
            Err(AdminError::NotFound(id.to_owned()))
        }
    }

    /// `GET /admin/keys/ID/usage`: settled use in the current budget window.
    pub async fn usage(&self, id: &str) -> Result<KeyUsage, AdminError> {
        let now = self.inner.options.clock.now();
        let found = if looks_like_key_id(id) {
            self.inner.store.usage(id, now).await?
        } else {
            None
        };
        found.ok_or_else(|| AdminError::NotFound(id.to_owned()))
    }

    /// Today, UTC, by this governor's clock: what a spend report's default
    /// range is the month of.
    pub fn today(&self) -> Day {
        Day::of(self.inner.options.clock.now())
    }

    /// `GET /admin/spend`: the spend ledger over `query`'s days, grouped as
    /// it asks (see [`SpendQuery::from_params`] for reading one from a URL).
    pub async fn spend_report(&self, query: SpendQuery) -> Result<SpendReport, AdminError> {
        let table = self.inner.store.spend(query.clone()).await?;
        Ok(SpendReport::new(query, table))
    }

    /// Admits a request for the pool or model `target`, or says why not.
    ///
    /// `worst` is the request's worst case: in tokens, its `max_tokens` (or
    /// the model's `default_max_tokens` when it sent none) plus, for a cap
    /// that holds exactly, an upper estimate of the prompt's tokens; in
    /// money, the flat price of those tokens or, under catalog pricing, the
    /// amount the caller priced them at ([`WorstCase`]). That amount is
    /// reserved until the [`Admission`] settles.
    pub async fn authorize(
        &self,
        secret: &str,
        target: &str,
        worst: WorstCase,
    ) -> Result<Admission, Refusal> {
        if !looks_like_virtual_key(secret) {
            return Err(Refusal::UnknownKey);
        }
        let inner = &self.inner;
        let hash = key::lookup_hash(secret);
        let now = inner.options.clock.now();
        let cost = worst.amount(&inner.options.pricing);
        let expires_at = now.saturating_add(inner.options.reservation_ttl);
        let request = AdmitRequest::new(
            hash.clone(),
            target.to_owned(),
            cost,
            now,
            expires_at,
            inner.options.owner.clone(),
        );
        match inner.store.admit(request).await {
            Ok(AdmitOutcome::Admitted { key, reservation }) => {
                self.remember(hash, &key);
                Ok(Admission {
                    key,
                    reservation: Some(reservation),
                    reserved_tokens: worst.token_count(),
                    inner: Arc::clone(inner),
                })
            }
            Ok(AdmitOutcome::Refused(refusal)) => {
                if matches!(refusal, Refusal::UnknownKey | Refusal::KeyDisabled { .. }) {
                    self.lock_verified().remove(&hash);
                }
                Err(refusal)
            }
            Err(err) => self.store_down(err, &hash, target),
        }
    }

    fn store_down(&self, err: StoreError, hash: &str, target: &str) -> Result<Admission, Refusal> {
        let key = self.verified_while_down(err, hash, "admission")?;
        policy::gate(&key, target)?;
        Ok(Admission {
            key,
            reservation: None,
            reserved_tokens: 0,
            inner: Arc::clone(&self.inner),
        })
    }

    /// The enabled key `secret` belongs to, found as [`authorize`] finds it
    /// (by the store's unique index on the secret's lookup hash) but
    /// without reserving budget or counting toward a rate limit: for telling
    /// who is calling when no model request is being admitted.
    ///
    /// Refuses as `authorize` does: [`Refusal::UnknownKey`] for a secret no
    /// key has, [`Refusal::KeyDisabled`] for a suspended key. When the store
    /// cannot answer, [`Refusal::StoreUnavailable`], unless `fail_open` is on
    /// and this process has verified the key before, when that key is the
    /// answer (the key `authorize` would admit unmetered).
    ///
    /// [`authorize`]: Self::authorize
    pub async fn identify(&self, secret: &str) -> Result<KeyMetadata, Refusal> {
        if !looks_like_virtual_key(secret) {
            return Err(Refusal::UnknownKey);
        }
        let hash = key::lookup_hash(secret);
        match self.inner.store.key_by_hash(&hash).await {
            Ok(Some(key)) if key.enabled => {
                self.remember(hash, &key);
                Ok(key)
            }
            Ok(found) => {
                self.lock_verified().remove(&hash);
                Err(match found {
                    Some(key) => Refusal::KeyDisabled { key_id: key.id },
                    None => Refusal::UnknownKey,
                })
            }
            Err(err) => self.verified_while_down(err, &hash, "identification"),
        }
    }

    /// With `fail_open`, the key this process verified under `hash` before
    /// the store failed with `err`; otherwise (or for a key never seen) the
    /// store's failure as a refusal.
    fn verified_while_down(
        &self,
        err: StoreError,
        hash: &str,
        during: &'static str,
    ) -> Result<KeyMetadata, Refusal> {
        let fail_open = self.inner.options.fail_open;
        tracing::warn!(error = %err, fail_open, "governance store failed during {during}");
        fail_open
            .then(|| self.lock_verified().get(hash).cloned())
            .flatten()
            .ok_or_else(|| Refusal::StoreUnavailable {
                reason: err.to_string(),
            })
    }

    /// The secret of key `id`, recovered from its sealed copy, for checking
    /// a SigV4 signature made with `aws_secret_access_key` = the key.
    /// `Ok(None)` when no key has this id.
    pub async fn recover_secret(&self, id: &str) -> Result<Option<VirtualKey>, StoreError> {
        if !looks_like_key_id(id) {
            return Ok(None);
        }
        let Some(sealed) = self.inner.store.sealed_secret(id).await? else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt(format!("the sealed secret of {id} does not open"));
        let secret = self.inner.sealer.open(id, &sealed).map_err(|_| corrupt())?;
        VirtualKey::parse(&secret).map(Some).ok_or_else(corrupt)
    }

    /// Deletes lapsed reservations and rate rows that left their window;
    /// answers how many reservations lapsed unsettled.
    pub async fn reap(&self) -> Result<u64, StoreError> {
        self.inner.store.reap(self.inner.options.clock.now()).await
    }

    /// Beats this governor's owner heartbeat and releases the reservations
    /// of owners whose heartbeat went stale (see [`CheckIn`]); answers how
    /// many were released. `starting` is the first check-in, at open.
    pub async fn check_in(&self, starting: bool) -> Result<u64, StoreError> {
        let options = &self.inner.options;
        let now = options.clock.now();
        let stale_before = now.saturating_sub(options.owner_stale_after);
        let check_in = CheckIn::new(options.owner.clone(), now, stale_before, starting);
        self.inner.store.check_in(check_in).await
    }

    /// Runs [`check_in`](Self::check_in) and [`reap`](Self::reap) every
    /// `every` on the current tokio runtime until the last clone of this
    /// governor is dropped (or the handle is aborted). Once a minute is a
    /// good pace; it must be well inside `owner_stale_after`.
    pub fn spawn_reaper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let governor = Self { inner };
                match governor.check_in(false).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        released = n,
                        "released governance reservations of a process that stopped beating"
                    ),
                    Err(err) => tracing::warn!(error = %err, "governance heartbeat failed"),
                }
                match governor.reap().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(lapsed = n, "reaped unsettled governance reservations"),
                    Err(err) => tracing::warn!(error = %err, "governance reaper failed"),
                }
            }
        })
    }

    fn lock_verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyMetadata>> {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, hash: String, key: &KeyMetadata) {
        if !self.inner.options.fail_open {
            return;
        }
        let mut verified = self.lock_verified();
        if verified.len() >= KEY_CACHE_LIMIT && !verified.contains_key(&hash) {
            verified.clear();
        }
        verified.insert(hash, key.clone());
    }

    fn forget(&self, id: &str) {
        self.lock_verified().retain(|_, key| key.id != id);
    }
}
