//! AWS credentials from the platform (`credentials: aws`): the AWS SDK's
//! default credential chain, cached and refreshed ahead of expiry.
//!
//! The chain is `aws-config`'s, in its order: environment variables, the
//! shared config and credentials files (`AWS_PROFILE` or the provider's
//! `aws_profile`), web identity (EKS IRSA), container credentials (ECS, EKS
//! Pod Identity), EC2 instance metadata (IMDSv2). The SDK caches identities
//! only inside its own clients' orchestrator, so Busbar keeps the cache
//! here: every signed request asks [`AwsChain::identity`], which is a lock
//! and a clone while the credentials are fresh. From [`refresh_at`] on, the
//! request still signs with the cached credentials and one background task
//! fetches new ones; only expired (or never fetched) credentials make a
//! request wait, and then only one fetch runs, the others awaiting it.
//!
//! [`refresh_at`]: Cached::refresh_at

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::identity::Identity;

/// How long before expiry a refresh starts (or halfway through the
/// credentials' life, if that is later). IMDS and ECS issue credentials
/// for hours and rotate them well before this.
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);

/// How long credentials without an expiry (static keys from the environment
/// or a credentials file) are kept before the chain is asked again, so a
/// rotated file is picked up; as the SDK's own identity cache does.
const UNEXPIRING: Duration = Duration::from_secs(15 * 60);

/// The longest one fetch through the chain may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no credentials could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CredentialsError {
    /// The chain did not answer within [`LOAD_TIMEOUT`].
    #[error("the AWS credential chain did not answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// Every source failed or none was configured; the SDK's words.
    #[error("{0}")]
    Chain(String),
}

/// The default credential chain for one profile and region, with its cache.
pub(crate) struct AwsChain {
    profile: Option<String>,
    region: String,
    /// Built on first use: building reads the profile files.
    provider: tokio::sync::OnceCell<SharedCredentialsProvider>,
    cached: Mutex<Option<Cached>>,
    /// Held by whoever is fetching, so one fetch runs at a time.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone)]
struct Cached {
    identity: Identity,
    /// From here on a request triggers a background refresh.
    refresh_at: SystemTime,
    /// From here on the credentials are not used.
    expires_at: SystemTime,
}

impl AwsChain {
    /// The chain for `profile` (`None`: `AWS_PROFILE`, else `default`);
    /// `region` is where STS is called for web identity.
    pub(crate) fn new(profile: Option<String>, region: String) -> Self {
        Self {
            profile,
            region,
            provider: tokio::sync::OnceCell::new(),
            cached: Mutex::new(None),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Whether this chain is the one for `profile` and `region`.
    pub(crate) fn is_for(&self, profile: Option<&str>, region: &str) -> bool {
        self.profile.as_deref() == profile && self.region == region
    }

    /// Credentials to sign with now.
    pub(crate) async fn identity(self: &Arc<Self>) -> Result<Identity, CredentialsError> {
        let now = SystemTime::now();
        if let Some(cached) = self.current() {
            if now < cached.refresh_at {
                return Ok(cached.identity);
            }
            if now < cached.expires_at {
                self.refresh_in_background();
                return Ok(cached.identity);
            }
        }
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock before may have fetched what this caller wants.
        if let Some(cached) = self.current().filter(|c| SystemTime::now() < c.expires_at) {
            return Ok(cached.identity);
        }
        self.load().await
    }

    /// Fetches in the background once the current credentials are due a
    /// refresh (at start-up, so the first request does not wait).
    pub(crate) fn warm_up(self: &Arc<Self>) {
        self.refresh_in_background();
    }

    fn current(&self) -> Option<Cached> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn refresh_in_background(self: &Arc<Self>) {
        let Ok(fetching) = Arc::clone(&self.fetching).try_lock_owned() else {
            return; // a fetch is under way
        };
        let chain = Arc::clone(self);
        tokio::spawn(async move {
            let _fetching = fetching;
            let due = chain
                .current()
                .is_none_or(|cached| SystemTime::now() >= cached.refresh_at);
            if due {
                if let Err(error) = chain.load().await {
                    tracing::warn!(%error, "cannot refresh AWS credentials; the current ones are used until they expire");
                }
            }
        });
    }

    /// One fetch through the chain; the caller holds `fetching`.
    async fn load(&self) -> Result<Identity, CredentialsError> {
        let provider = self.provider.get_or_init(|| self.build()).await;
        let credentials = tokio::time::timeout(LOAD_TIMEOUT, provider.provide_credentials())
            .await
            .map_err(|_| CredentialsError::TimedOut(LOAD_TIMEOUT))?
            .map_err(|error| CredentialsError::Chain(error_chain(&error)))?;
        let fetched = SystemTime::now();
        let expires_at = credentials.expiry().unwrap_or_else(|| fetched + UNEXPIRING);
        let life = expires_at.duration_since(fetched).unwrap_or_default();
        let refresh_at = expires_at
            .checked_sub(REFRESH_AHEAD.min(life / 2))
            .unwrap_or(expires_at);
        tracing::debug!(expires_in_secs = life.as_secs(), "AWS credentials fetched");
        let identity = Identity::new(credentials, Some(expires_at));
        *self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Cached {
            identity: identity.clone(),
            refresh_at,
            expires_at,
        });
        Ok(identity)
    }

    async fn build(&self) -> SharedCredentialsProvider {
        // No proxy, hyper 1 and rustls on ring: the TLS Busbar already has.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut chain = DefaultCredentialsChain::builder()
            .configure(ProviderConfig::without_region().with_http_client(http))
            .region(Region::new(self.region.clone()));
        if let Some(profile) = &self.profile {
            chain = chain.profile_name(profile);
        }
        SharedCredentialsProvider::new(chain.build().await)
    }
}

/// An error and its sources, `: `-separated (the SDK's top-level message
/// alone often says only "an error occurred").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
