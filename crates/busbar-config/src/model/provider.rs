//! A resolved upstream provider: protocol, address, credentials, error
//! classification and health probing.

use std::collections::BTreeMap;
use std::time::Duration;

use busbar_protocols::wire::percent_encode;
use busbar_protocols::Protocol;
use busbar_routing::FailureClass;

use super::Secret;

/// How Busbar presents the provider's key upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthScheme {
    /// The protocol's own scheme (no `auth:` field): `Authorization: Bearer`
    /// for openai, responses and cohere; `x-api-key` for anthropic
    /// (`Bearer` for `sk-ant-oat` OAuth tokens); `x-goog-api-key` for
    /// gemini; SigV4 for bedrock.
    #[default]
    Native,
    /// `Authorization: Bearer KEY` (`auth: bearer`).
    Bearer,
    /// `api-key: KEY`, as Azure OpenAI expects (`auth: api-key`).
    ApiKey,
}

/// Where a provider's credential comes from (`credentials:`).
///
/// Every source reads its secrets from the environment or from files the
/// environment names, never from `config.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// The key in the variable `api_key_env` names (no `credentials:`
    /// field): an API key, or for Bedrock
    /// `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`.
    #[default]
    ApiKey,
    /// The AWS default credential chain (`credentials: aws`), for SigV4:
    /// environment, shared config and credentials files, web identity (EKS
    /// IRSA), container credentials (ECS, EKS Pod Identity), EC2 instance
    /// metadata. Fetched and refreshed by the server.
    Aws {
        /// The profile of the shared files to use (`aws_profile`); `None`
        /// follows `AWS_PROFILE`, else `default`.
        profile: Option<String>,
    },
}

impl std::fmt::Display for Credentials {
    /// How `busbar check` and the logs name the source.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ApiKey => f.write_str("key from api_key_env"),
            Credentials::Aws { profile: None } => f.write_str("AWS default credential chain"),
            Credentials::Aws {
                profile: Some(profile),
            } => write!(f, "AWS default credential chain, profile `{profile}`"),
        }
    }
}

/// Which lanes of a provider are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HealthMode {
    /// No probing (`none`, the default).
    #[default]
    None,
    /// Re-probe lanes that are open or hard-down (`dead`).
    Dead,
    /// Probe every lane (`active`).
    Active,
}

impl HealthMode {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthMode::None => "none",
            HealthMode::Dead => "dead",
            HealthMode::Active => "active",
        }
    }
}

/// Health probing for a provider's lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Which lanes are probed.
    pub mode: HealthMode,
    /// Time between probes (`interval_secs`, default 30).
    pub interval: Duration,
    /// Time a probe may take (`timeout_secs`, default 5).
    pub timeout: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            mode: HealthMode::None,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A configured provider: its catalog entry merged with the deployment's
/// overrides, and its key read from the environment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Provider {
    /// The name under `providers:` in `config.yaml`.
    pub name: String,
    /// The wire protocol it speaks.
    pub protocol: Protocol,
    /// Scheme, host and optional path prefix, without a trailing `/`.
    pub base_url: String,
    /// An override of the protocol's upstream path (starts with `/`, may carry
    /// a query). `{model}` in it is replaced by the percent-encoded model id.
    pub path: Option<String>,
    /// How the key is presented.
    pub auth: AuthScheme,
    /// Provider error code → failure class: the catalog's, with the
    /// deployment's entries merged over it.
    pub error_map: BTreeMap<String, FailureClass>,
    /// Health probing.
    pub health: Health,
    /// The Bedrock signing region to use when the host names none.
    pub region: Option<String>,
    /// Whether `base_url` may be plain http or private.
    pub allow_private: bool,
    /// Where the credential comes from.
    pub credentials: Credentials,
    /// The variable the key was read from.
    pub api_key_env: Option<String>,
    /// The key. `None` under `auth.mode: passthrough`, where the caller's
    /// own credential is forwarded, and when `credentials` is not
    /// [`Credentials::ApiKey`].
    pub api_key: Option<Secret>,
}

impl Provider {
    /// The upstream path for `model`: the `path` override with `{model}`
    /// substituted (percent-encoded), else the protocol's own path.
    pub fn upstream_path(&self, model: &str, stream: bool) -> String {
        match &self.path {
            Some(path) => path.replace("{model}", &percent_encode(model)),
            None => self.protocol.wire().upstream_path(model, stream),
        }
    }

    /// The full upstream URL: `base_url` (its path prefix kept) followed by
    /// [`upstream_path`](Self::upstream_path).
    pub fn url(&self, model: &str, stream: bool) -> String {
        format!("{}{}", self.base_url, self.upstream_path(model, stream))
    }

    /// The URL of the protocol's token-counting endpoint for `model`, derived
    /// from the (non-streaming) generation URL: Anthropic `…/messages` →
    /// `…/messages/count_tokens`, Responses `…/responses` →
    /// `…/responses/input_tokens`, Gemini `…:generateContent` →
    /// `…:countTokens`, Bedrock `…/converse` → `…/count-tokens`; a query
    /// (Azure's `?api-version=`) is kept. `None` for OpenAI Chat and Cohere,
    /// which have no counting endpoint, and for a `path` override that does
    /// not end the way its protocol's default does.
    pub fn count_url(&self, model: &str) -> Option<String> {
        let url = self.url(model, false);
        let (path, query) = match url.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (url.as_str(), None),
        };
        let counted = self.protocol.wire().count_path(path)?;
        Some(match query {
            Some(query) => format!("{counted}?{query}"),
            None => counted,
        })
    }

    /// The SigV4 signing region: parsed from an `*.amazonaws.com` host, else
    /// `region`, else `us-east-1`.
    pub fn aws_region(&self) -> String {
        crate::ssrf::url_host(&self.base_url)
            .and_then(|host| region_from_host(&host))
            .or_else(|| self.region.clone())
            .unwrap_or_else(|| "us-east-1".to_owned())
    }

    /// The AWS credentials held in the key, for Bedrock
    /// (`ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`).
    pub fn aws_credentials(&self) -> Option<AwsCredentials> {
        AwsCredentials::parse(self.api_key.as_ref()?.expose())
    }
}

/// `us-west-2` from `bedrock-runtime.us-west-2.amazonaws.com` (and the
/// FIPS and China variants).
fn region_from_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let amazon = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
    let candidate = labels.get(1).filter(|_| amazon && labels.len() >= 4)?;
    let looks_like_region = candidate.split('-').count() >= 3
        && candidate
            .rsplit('-')
            .next()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
    looks_like_region.then(|| (*candidate).to_owned())
}

/// AWS credentials for SigV4, from a Bedrock provider's key.
///
/// `Debug` shows the access key id only; the secret parts are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials, sent as
    /// `X-Amz-Security-Token`.
    pub session_token: Option<Secret>,
}

impl AwsCredentials {
    /// Splits `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`; `None` unless
    /// it has two or three non-empty parts.
    pub fn parse(key: &str) -> Option<Self> {
        let parts: Vec<&str> = key.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Self {
            access_key_id: parts[0].to_owned(),
            secret_access_key: Secret::new(parts[1]),
            session_token: parts.get(2).map(|t| Secret::new(*t)),
        })
    }
}
