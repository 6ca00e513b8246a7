//! The resolved configuration: what the rest of Busbar reads after loading.

mod pool;
mod provider;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use busbar_protocols::Protocol;
pub use busbar_routing::FailureClass;

use crate::price::{Listing, Price};
pub use pool::{
    Affinity, AffinityMode, Breaker, Failover, OnExhausted, Pool, PoolMember, Trip, TripMode,
};
pub use provider::{
    AuthScheme, AwsCredentials, Credentials, Health, HealthMode, Platform, Provider,
};

/// The whole resolved configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The address to listen on, `host:port` (default `0.0.0.0:8080`; port 0
    /// picks a free port).
    pub listen: String,
    /// HTTPS certificate and key; plain HTTP when `None`.
    pub tls: Option<Tls>,
    /// Client authentication.
    pub auth: Auth,
    /// The configured providers by name.
    pub providers: BTreeMap<String, Provider>,
    /// The models (lanes) by name.
    pub models: BTreeMap<String, Model>,
    /// The pools by name.
    pub pools: BTreeMap<String, Pool>,
    /// Virtual keys, budgets and rate limits.
    pub governance: Governance,
    /// Request size, upstream timeouts and client connection bounds.
    pub limits: Limits,
    /// Telemetry export.
    pub observability: Observability,
}

/// What a name in a request resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target<'a> {
    /// A pool.
    Pool(&'a Pool),
    /// A model called directly.
    Model(&'a Model),
}

impl Config {
    /// Resolves a request's model name: pools first, then models
    /// (docs/configuration.md, *Pools*).
    pub fn target(&self, name: &str) -> Option<Target<'_>> {
        self.pools
            .get(name)
            .map(Target::Pool)
            .or_else(|| self.models.get(name).map(Target::Model))
    }

    /// The provider a model calls.
    pub fn provider_of(&self, model: &Model) -> Option<&Provider> {
        self.providers.get(&model.provider)
    }
}

/// A model: one lane at one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Model {
    /// The name under `models:`, which clients send.
    pub name: String,
    /// The configured provider it calls.
    pub provider: String,
    /// The lane's concurrency limit (at least 1).
    pub max_concurrent: u32,
    /// The lifetime request budget; `None` is unlimited (`-1` in YAML, the
    /// default).
    pub max_requests: Option<u64>,
    /// `max_tokens` injected on a cross-protocol hop to an egress that
    /// requires it when the client sent none (default 4096).
    pub default_max_tokens: u32,
    /// The model id sent upstream (default: the name).
    pub upstream_model: String,
    /// What its requests cost: `price` as written in `config.yaml`, else
    /// the catalog's list price; `None` when neither has one.
    pub price: Option<Price>,
    /// What the provider's catalog entry lists for `upstream_model` (or an
    /// alias of it): its list price and limits, whatever `price` says.
    pub listing: Option<Listing>,
}

impl Model {
    /// The largest prompt the model accepts, as far as the catalog knows.
    pub fn context_window(&self) -> Option<u64> {
        self.listing
            .as_ref()
            .and_then(|listing| listing.context_window)
    }
}

/// How clients authenticate to Busbar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthMode {
    /// No client authentication (`none`, the default): an open relay.
    #[default]
    None,
    /// A static client token is required (`token`).
    Token,
    /// The caller's own credential is forwarded upstream (`passthrough`).
    Passthrough,
}

impl AuthMode {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Token => "token",
            AuthMode::Passthrough => "passthrough",
        }
    }
}

/// Client authentication. Governance, when enabled, supersedes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Auth {
    /// The mode.
    pub mode: AuthMode,
    /// The accepted client tokens (including a deprecated `auth.token`).
    pub client_tokens: Vec<Secret>,
}

/// Virtual keys with budgets and rate limits (docs/configuration.md, *Governance*).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Governance {
    /// Whether governance is on (default off).
    pub enabled: bool,
    /// The SQLite database (default `busbar-governance.db`).
    pub db_path: PathBuf,
    /// The admin API token; without one the admin API refuses every call.
    pub admin_token: Option<Secret>,
    /// What a request costs: the flat prices below (the default) or the
    /// catalog's price of the model that served it.
    pub pricing: GovernancePricing,
    /// Charged per successful request, in cents (default 1).
    pub price_per_request_cents: f64,
    /// Charged per 1000 total tokens, in cents (default 0).
    pub price_per_1k_tokens_cents: f64,
    /// A shared `postgres://` store for keys, spend and rate windows across
    /// replicas. A secret because the URL usually holds a password.
    pub store: Option<Secret>,
    /// The variable holding the server secret that seals virtual keys.
    pub secret_key_env: Option<String>,
    /// That secret, read at load; `None` means the server uses a key file
    /// beside `db_path`.
    pub secret_key: Option<Secret>,
    /// Whether requests are admitted while the store is unreachable (default
    /// false: refuse).
    pub fail_open: bool,
}

impl Default for Governance {
    fn default() -> Self {
        Self {
            enabled: false,
            db_path: PathBuf::from("busbar-governance.db"),
            admin_token: None,
            pricing: GovernancePricing::Flat,
            price_per_request_cents: 1.0,
            price_per_1k_tokens_cents: 0.0,
            store: None,
            secret_key_env: None,
            secret_key: None,
            fail_open: false,
        }
    }
}

/// How governance prices a request (`governance.pricing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GovernancePricing {
    /// `price_per_request_cents` plus `price_per_1k_tokens_cents` per
    /// thousand tokens, whatever the model: Busbar 1.x's prices.
    #[default]
    Flat,
    /// The price catalog's price of the model that served the request, by
    /// token class; a model the catalog has no price for is charged flat.
    Catalog,
}

impl GovernancePricing {
    /// The spelling in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flat => "flat",
            Self::Catalog => "catalog",
        }
    }
}

/// Request size, upstream timeouts, and the bounds on client connections.
///
/// The connection bounds are read once, when the listener starts; a reload
/// does not change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest request body accepted (`max_body_bytes`, default 32 MiB).
    pub max_body_bytes: u64,
    /// Request-body bytes buffered across all requests at once
    /// (`max_buffered_body_bytes`, default 512 MiB); a request that would
    /// go past it is refused with 503.
    pub max_buffered_body_bytes: u64,
    /// Upstream TCP + TLS connect (`connect_timeout_secs`, default 10).
    pub connect_timeout: Duration,
    /// From sending the request to the upstream's first response byte
    /// (`first_byte_timeout_secs`, default 120).
    pub first_byte_timeout: Duration,
    /// Longest silence between two body chunks (`idle_timeout_secs`,
    /// default 120).
    pub idle_timeout: Duration,
    /// How long shutdown waits for in-flight requests (`shutdown_grace_secs`,
    /// default 30; 0 exits at once).
    pub shutdown_grace: Duration,
    /// How long a client has to deliver a request's head
    /// (`header_read_timeout_secs`, default 30): a new connection from its
    /// accept (TLS handshake included), and an HTTP/1 connection again after
    /// each response, so it also bounds HTTP/1 keep-alive idleness.
    pub header_read_timeout: Duration,
    /// Longest silence while a client sends a request body
    /// (`body_read_timeout_secs`, default 30); the request is answered 408.
    pub body_read_timeout: Duration,
    /// How long a client connection may stay open with no request in flight
    /// (`keepalive_idle_secs`, default 60).
    pub keepalive_idle: Duration,
    /// Concurrent streams allowed on one HTTP/2 connection
    /// (`http2_max_streams`, default 100).
    pub http2_max_streams: u32,
    /// How often an HTTP/2 connection that has been quiet is pinged
    /// (`http2_keepalive_interval_secs`, default 20).
    pub http2_keepalive_interval: Duration,
    /// How long a ping may go unanswered before the connection is closed
    /// (`http2_keepalive_timeout_secs`, default 20).
    pub http2_keepalive_timeout: Duration,
    /// Open client connections, all clients together (`max_connections`);
    /// `None` (`auto`, the default) lets the server derive it from the
    /// process's open-file limit.
    pub max_connections: Option<u32>,
    /// Open client connections from one IP address
    /// (`max_connections_per_ip`, default 256).
    pub max_connections_per_ip: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_buffered_body_bytes: 512 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            keepalive_idle: Duration::from_secs(60),
            http2_max_streams: 100,
            http2_keepalive_interval: Duration::from_secs(20),
            http2_keepalive_timeout: Duration::from_secs(20),
            max_connections: None,
            max_connections_per_ip: 256,
        }
    }
}

/// HTTPS for the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tls {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// Telemetry export.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Observability {
    /// OTLP collector endpoint: `http://` or `https://` for OTLP/HTTP
    /// (protobuf), `grpc://` or `grpcs://` for OTLP/gRPC.
    pub otlp_endpoint: Option<String>,
    /// A URL each finished request's log record is posted to, in batches.
    pub request_log_webhook_url: Option<String>,
    /// The request log: its file, rotation, body capture and queues.
    pub request_log: RequestLog,
}

impl Observability {
    /// Whether any request-log sink is configured (a file or the webhook).
    pub fn logs_requests(&self) -> bool {
        self.request_log.file.is_some() || self.request_log_webhook_url.is_some()
    }
}

/// The request log (`observability.request_log`): one JSON record per model
/// request, written to a local JSONL file and/or posted to
/// `request_log_webhook_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLog {
    /// The JSONL file records are appended to; `None` writes no file.
    pub file: Option<PathBuf>,
    /// The size at which the file is rotated (`max_bytes`, default 100 MiB).
    pub max_bytes: u64,
    /// Rotated files kept beside it, `FILE.1` (newest) to `FILE.K`
    /// (`keep`, default 5; 0 keeps none).
    pub keep: u32,
    /// Whether request and response bodies are logged (`bodies`, default
    /// off), capped and with credentials redacted.
    pub bodies: bool,
    /// The most bytes of each body logged (`body_max_bytes`, default 64 KiB).
    pub body_max_bytes: u64,
    /// Records waiting per sink before new ones are dropped
    /// (`queue_records`, default 10000).
    pub queue_records: u32,
    /// The most records in one webhook POST (`webhook_batch_records`,
    /// default 100).
    pub webhook_batch_records: u32,
    /// How long the first record of a batch waits for others before the
    /// batch is posted (`webhook_batch_ms`, default 1000).
    pub webhook_batch_wait: Duration,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self {
            file: None,
            max_bytes: 100 * 1024 * 1024,
            keep: 5,
            bodies: false,
            body_max_bytes: 64 * 1024,
            queue_records: 10_000,
            webhook_batch_records: 100,
            webhook_batch_wait: Duration::from_millis(1000),
        }
    }
}

/// A credential: a provider key, client token, admin token or store URL.
///
/// `Debug` never shows the value, so a `Config` can be logged; read it with
/// [`expose`](Self::expose) at the point of use.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `candidate` in time that depends only on the lengths,
    /// for checking presented tokens.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
