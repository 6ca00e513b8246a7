//! AWS credentials from the platform (`credentials: aws`): the AWS SDK's
//! default credential chain, cached and refreshed ahead of expiry.
//!
//! The chain is `aws-config`'s, in its order: environment variables, the
//! shared config and credentials files (`AWS_PROFILE` or the provider's
//! `aws_profile`), web identity (EKS IRSA), container credentials (ECS, EKS
//! Pod Identity), EC2 instance metadata (IMDSv2). The SDK caches identities
//! only inside its own clients' orchestrator, so Busbar keeps the cache: a
//! [`Refreshing`] around the chain (see `refresh.rs` for when it fetches).

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::identity::Identity;

use super::refresh::{CredentialsError, Fetch, Refreshing};

/// The default credential chain for one profile and region, with its cache.
pub(crate) struct AwsChain {
    cache: Arc<Refreshing<Chain>>,
}

/// The chain itself, built on first use (building reads the profile files).
struct Chain {
    profile: Option<String>,
    region: String,
    provider: tokio::sync::OnceCell<SharedCredentialsProvider>,
}

impl AwsChain {
    /// The chain for `profile` (`None`: `AWS_PROFILE`, else `default`);
    /// `region` is where STS is called for web identity.
    pub(crate) fn new(profile: Option<String>, region: String) -> Self {
        Self {
            cache: Arc::new(Refreshing::new(Chain {
                profile,
                region,
                provider: tokio::sync::OnceCell::new(),
            })),
        }
    }

    /// Whether this chain is the one for `profile` and `region`.
    pub(crate) fn is_for(&self, profile: Option<&str>, region: &str) -> bool {
        let chain = self.cache.source();
        chain.profile.as_deref() == profile && chain.region == region
    }

    /// Credentials to sign with now.
    pub(crate) async fn identity(&self) -> Result<Identity, CredentialsError> {
        self.cache.get().await
    }

    /// Fetches in the background, so the first request need not wait.
    pub(crate) fn warm_up(&self) {
        self.cache.warm_up();
    }
}

impl Fetch for Chain {
    type Item = Identity;

    async fn fetch(&self) -> Result<(Identity, Option<SystemTime>), CredentialsError> {
        let provider = self.provider.get_or_init(|| self.build()).await;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|error| CredentialsError::Source(error_chain(&error)))?;
        let expiry = credentials.expiry();
        Ok((Identity::new(credentials, expiry), expiry))
    }
}

impl Chain {
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
