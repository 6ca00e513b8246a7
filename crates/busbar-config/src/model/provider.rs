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
    /// Google OAuth 2.0 access tokens from Application Default Credentials
    /// (`credentials: gcp`), for a `platform: vertex` provider: the key file
    /// `GOOGLE_APPLICATION_CREDENTIALS` names (a service account or an
    /// authorized user), else gcloud's well-known file, else the GCE/GKE
    /// metadata server. Minted and refreshed by the server.
    Gcp,
    /// Microsoft Entra ID access tokens (`credentials: azure`), for a
    /// `platform: azure` provider: the client-credentials grant
    /// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), else a
    /// managed identity (App Service's `IDENTITY_ENDPOINT`, else IMDS).
    /// Minted and refreshed by the server.
    Azure,
}

impl Credentials {
    /// The word `credentials:` takes for this source (`None` for a key).
    pub fn keyword(&self) -> Option<&'static str> {
        match self {
            Credentials::ApiKey => None,
            Credentials::Aws { .. } => Some("aws"),
            Credentials::Gcp => Some("gcp"),
            Credentials::Azure => Some("azure"),
        }
    }
}

/// A cloud platform that resells a vendor's API under its own URLs and
/// credentials (`platform:`). The wire protocol stays the vendor's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Platform {
    /// Google Vertex AI: Gemini (`protocol: gemini`) or Claude (`protocol:
    /// anthropic`) under `/v1/projects/P/locations/L/publishers/…`.
    Vertex {
        /// The Google Cloud project (`project`).
        project: String,
        /// The Vertex location (`location`): a region, `global`, `us` or `eu`.
        location: String,
    },
    /// Azure OpenAI: Chat Completions (`protocol: openai`) or Responses
    /// (`protocol: responses`) under `/openai/…`.
    Azure {
        /// `v1` for the v1 API (`/openai/v1/…`), else a dated version for the
        /// deployments API (`/openai/deployments/D/…?api-version=…`).
        api_version: String,
    },
}

impl Platform {
    /// The host of Vertex AI's endpoint for `location`: `global` has no
    /// location in its host, `us` and `eu` are multi-region endpoints.
    pub fn vertex_base_url(location: &str) -> String {
        match location {
            "global" => "https://aiplatform.googleapis.com".to_owned(),
            "us" | "eu" => format!("https://aiplatform.{location}.rep.googleapis.com"),
            region => format!("https://{region}-aiplatform.googleapis.com"),
        }
    }
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
            Credentials::Gcp => f.write_str("Google Application Default Credentials"),
            Credentials::Azure => f.write_str("Microsoft Entra ID"),
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
    /// The cloud platform whose URLs the provider is called at, if any.
    pub platform: Option<Platform>,
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
        match (&self.path, &self.platform) {
            (Some(path), _) => path.replace("{model}", &percent_encode(model)),
            (None, Some(platform)) => platform.path(self.protocol, model, stream),
            (None, None) => self.protocol.wire().upstream_path(model, stream),
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
        // Claude on Vertex counts at one endpoint for every model.
        if let (None, Some(Platform::Vertex { project, location })) = (&self.path, &self.platform) {
            if self.protocol == Protocol::Anthropic {
                return Some(format!(
                    "{}/v1/projects/{project}/locations/{location}/publishers/anthropic/models/count-tokens:rawPredict",
                    self.base_url
                ));
            }
        }
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

impl Platform {
    /// The upstream path of `protocol` on this platform.
    fn path(&self, protocol: Protocol, model: &str, stream: bool) -> String {
        match self {
            Platform::Vertex { project, location } => {
                // `@` stays literal, as Google's SDKs send it (`claude-…@20250929`).
                let model = percent_encode(model).replace("%40", "@");
                let (publisher, method) = match (protocol, stream) {
                    (Protocol::Anthropic, false) => ("anthropic", "rawPredict"),
                    (Protocol::Anthropic, true) => ("anthropic", "streamRawPredict"),
                    (_, false) => ("google", "generateContent"),
                    (_, true) => ("google", "streamGenerateContent?alt=sse"),
                };
                format!("/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}")
            }
            Platform::Azure { api_version } => {
                let responses = protocol == Protocol::Responses;
                match (api_version.as_str(), responses) {
                    ("v1", false) => "/openai/v1/chat/completions".to_owned(),
                    ("v1", true) => "/openai/v1/responses".to_owned(),
                    (version, false) => format!(
                        "/openai/deployments/{}/chat/completions?api-version={version}",
                        percent_encode(model)
                    ),
                    // Responses is not under /deployments: the model (the
                    // deployment's name) is in the body.
                    (version, true) => format!("/openai/responses?api-version={version}"),
                }
            }
        }
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
