//! A credential fetched from the platform, cached and refreshed ahead of
//! expiry: what the AWS chain (`aws`), Google's tokens (`google`) and
//! Microsoft Entra ID's (`entra`) share.
//!
//! Every upstream request asks [`Refreshing::get`], which is a lock and a
//! clone while the credential is fresh. From its refresh point on (half its
//! life, or [`REFRESH_AHEAD`] before expiry if that is later) the request
//! still uses the cached credential and one background task fetches the
//! next; only an expired (or never fetched) credential makes a request
//! wait, and then only one fetch runs, the others awaiting it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How long before expiry a refresh starts (or halfway through the
/// credential's life, if that is later). Google and Entra tokens live an
/// hour or more, AWS's temporary credentials hours.
pub(crate) const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);

/// How long a credential without an expiry is kept before its source is
/// asked again, so a rotated file is picked up.
const UNEXPIRING: Duration = Duration::from_secs(15 * 60);

/// The longest one fetch may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no credential could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CredentialsError {
    /// The source did not answer within [`LOAD_TIMEOUT`].
    #[error("the credential source did not answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// The source failed, or none was configured; its words.
    #[error("{0}")]
    Source(String),
}

/// Something that fetches a credential: the item and when it expires
/// (`None`: it does not).
pub(crate) trait Fetch: Send + Sync + 'static {
    /// What is fetched and handed to each request.
    type Item: Clone + Send + Sync + 'static;

    /// One fetch from the source.
    fn fetch(
        &self,
    ) -> impl Future<Output = Result<(Self::Item, Option<SystemTime>), CredentialsError>> + Send;
}

/// A [`Fetch`] with its cache.
pub(crate) struct Refreshing<F: Fetch> {
    source: F,
    cached: Mutex<Option<Cached<F::Item>>>,
    /// Held by whoever is fetching, so one fetch runs at a time.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone)]
struct Cached<T> {
    item: T,
    /// From here on a request triggers a background refresh.
    refresh_at: SystemTime,
    /// From here on the item is not used.
    expires_at: SystemTime,
}

impl<F: Fetch> Refreshing<F> {
    pub(crate) fn new(source: F) -> Self {
        Self {
            source,
            cached: Mutex::new(None),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The source behind the cache.
    pub(crate) fn source(&self) -> &F {
        &self.source
    }

    /// The credential to use now.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<F::Item, CredentialsError> {
        let now = SystemTime::now();
        if let Some(cached) = self.current() {
            if now < cached.refresh_at {
                return Ok(cached.item);
            }
            if now < cached.expires_at {
                self.refresh_in_background();
                return Ok(cached.item);
            }
        }
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock before may have fetched what this caller wants.
        if let Some(cached) = self.current().filter(|c| SystemTime::now() < c.expires_at) {
            return Ok(cached.item);
        }
        self.load().await
    }

    /// Fetches in the background, unless a fetch is under way or the cached
    /// credential is not yet due (at start-up, so the first request need
    /// not wait).
    pub(crate) fn warm_up(self: &Arc<Self>) {
        self.refresh_in_background();
    }

    fn current(&self) -> Option<Cached<F::Item>> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn refresh_in_background(self: &Arc<Self>) {
        let Ok(fetching) = Arc::clone(&self.fetching).try_lock_owned() else {
            return; // a fetch is under way
        };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let _fetching = fetching;
            let due = this
                .current()
                .is_none_or(|cached| SystemTime::now() >= cached.refresh_at);
            if due {
                if let Err(error) = this.load().await {
                    tracing::warn!(%error, "cannot refresh upstream credentials; the current ones are used until they expire");
                }
            }
        });
    }

    /// One fetch; the caller holds `fetching`.
    async fn load(&self) -> Result<F::Item, CredentialsError> {
        let (item, expiry) = tokio::time::timeout(LOAD_TIMEOUT, self.source.fetch())
            .await
            .map_err(|_| CredentialsError::TimedOut(LOAD_TIMEOUT))??;
        let fetched = SystemTime::now();
        let expires_at = expiry.unwrap_or(fetched + UNEXPIRING);
        let life = expires_at.duration_since(fetched).unwrap_or_default();
        let refresh_at = expires_at
            .checked_sub(REFRESH_AHEAD.min(life / 2))
            .unwrap_or(expires_at);
        tracing::debug!(
            expires_in_secs = life.as_secs(),
            "upstream credentials fetched"
        );
        *self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Cached {
            item: item.clone(),
            refresh_at,
            expires_at,
        });
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Counts its fetches; each credential lives `life`.
    struct Counter {
        fetches: AtomicU32,
        life: Duration,
    }

    impl Fetch for Counter {
        type Item = u32;

        async fn fetch(&self) -> Result<(u32, Option<SystemTime>), CredentialsError> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            Ok((n, Some(SystemTime::now() + self.life)))
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_a_due_refresh_runs_in_the_background() {
        let cache = Arc::new(Refreshing::new(Counter {
            fetches: AtomicU32::new(0),
            life: Duration::from_millis(400),
        }));
        let all = futures_util::future::join_all((0..8).map(|_| {
            let cache = Arc::clone(&cache);
            async move { cache.get().await.expect("fetched") }
        }))
        .await;
        assert_eq!(all, [1; 8]);
        // Past half its life: still served, while one refresh runs.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(cache.get().await.expect("cached"), 1);
        assert_eq!(cache.get().await.expect("cached"), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.get().await.expect("refreshed"), 2);
        assert_eq!(cache.source().fetches.load(Ordering::SeqCst), 2);
    }
}
