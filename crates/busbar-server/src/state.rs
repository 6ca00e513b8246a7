//! The server's run-time state, built once from a loaded configuration.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use busbar_config::{AuthMode, AuthScheme, Config, HealthMode, TripMode};
use busbar_ir::ApiError;
use busbar_protocols::{KeyHeader, Protocol};
use busbar_routing::{
    BreakerPolicy, ErrorSource, FailoverPolicy, FailureClass, Lane, LaneId, Member, OnExhausted,
    Pool, ProbeMode, Route, Router, SystemClock, Trip,
};
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Uri};
use http_body_util::Full;

use crate::auth::ClientAuth;
use crate::client::{self, UpstreamClient};
use crate::error::GatewayError;
use crate::governance::Governance;
use crate::proxy::Inbound;
use crate::sigv4::Signer;
use crate::StartError;

/// Everything a request needs, shared by all of them.
pub struct State {
    pub(crate) listen: String,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) auth: ClientAuth,
    pub(crate) limits: Limits,
    pub(crate) router: Router,
    /// Indexed by [`LaneId`], like the router's lanes.
    pub(crate) targets: Vec<Target>,
    pub(crate) client: UpstreamClient,
    connect_timeout: Duration,
    pub(crate) metrics: crate::telemetry::MetricsSlot,
    /// The `governance` section, enabled or not.
    pub(crate) governance_settings: busbar_config::Governance,
    /// The open governor when governance is on; `None` until it is opened
    /// (requests are then refused, never let through).
    pub(crate) governor: Option<Arc<Governance>>,
}

/// A provider's `error_map`: its error codes (and statuses) and what they
/// mean for routing. Shared by the lane and the reply bodies it serves.
pub(crate) type ErrorMap = Arc<BTreeMap<String, FailureClass>>;

/// What an upstream error means for routing, with `error_map`.
pub(crate) fn classify(
    error_map: &ErrorMap,
    error: &ApiError,
    source: ErrorSource,
) -> FailureClass {
    busbar_routing::classify(error, source, |code| error_map.get(code).copied())
}

/// Time and size limits.
pub(crate) struct Limits {
    pub(crate) max_body_bytes: u64,
    pub(crate) first_byte_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) shutdown_grace: Duration,
}

/// Where and how one lane's requests go upstream.
pub(crate) struct Target {
    pub(crate) protocol: Protocol,
    /// The model id sent upstream.
    pub(crate) model_id: String,
    /// The lane's (model's) name, for `x-busbar-model`.
    pub(crate) lane_name: HeaderValue,
    uri: Uri,
    stream_uri: Uri,
    /// The protocol's token-counting endpoint, when it has one.
    count_uri: Option<Uri>,
    /// `None` under `auth.mode: passthrough` (the caller's credential is
    /// used) and for SigV4-signed Bedrock lanes.
    credential: Option<(HeaderName, HeaderValue)>,
    /// Signs each request, for Bedrock lanes with AWS keys.
    sigv4: Option<Signer>,
    /// How the key is presented (for passthrough, where it comes per request).
    scheme: AuthScheme,
    pub(crate) default_max_tokens: u64,
    /// The provider's error codes and what they mean for routing.
    error_map: ErrorMap,
    /// How this lane is probed (`health.mode` other than `none`).
    pub(crate) health: Option<Probing>,
}

/// A lane's health-probe settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probing {
    pub(crate) mode: ProbeMode,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl State {
    /// Builds the state for `config`. `metrics` is where the Prometheus
    /// handle rendered at `/metrics` is (or will be).
    ///
    /// With `governance.enabled` the governor is opened later, by
    /// [`Server::bind`](crate::Server::bind) (or use [`State::open`]); until
    /// then every governed request is refused.
    pub fn new(
        config: &Config,
        metrics: crate::telemetry::MetricsSlot,
    ) -> Result<Self, StartError> {
        Self::build(config, metrics, None, None)
    }

    /// The state for a reloaded `config`, with `governor` (opened for, or
    /// kept because it matches, `config.governance`). A lane whose model,
    /// provider and limits are unchanged keeps its counters, budget and
    /// in-flight slots; the upstream connection pool is kept too.
    pub(crate) fn successor(
        &self,
        config: &Config,
        governor: Option<Arc<Governance>>,
    ) -> Result<Self, StartError> {
        Self::build(config, self.metrics.clone(), Some(self), governor)
    }

    fn build(
        config: &Config,
        metrics: crate::telemetry::MetricsSlot,
        previous: Option<&State>,
        governor: Option<Arc<Governance>>,
    ) -> Result<Self, StartError> {
        let mut lanes = Vec::with_capacity(config.models.len());
        let mut targets = Vec::with_capacity(config.models.len());
        for (name, model) in &config.models {
            let provider = config.providers.get(&model.provider).ok_or_else(|| {
                StartError::Config(format!("models.{name}.provider: unknown provider"))
            })?;
            let max_concurrent = NonZeroU32::new(model.max_concurrent).unwrap_or(NonZeroU32::MIN);
            let max_requests = model.max_requests.and_then(NonZeroU64::new);
            let kept = previous
                .and_then(|previous| {
                    previous
                        .router
                        .lane_id(name)
                        .and_then(|id| previous.router.lane(id))
                })
                .filter(|lane| {
                    lane.provider() == model.provider
                        && lane.max_concurrent() == max_concurrent.get()
                        && lane.max_requests() == max_requests.map(NonZeroU64::get)
                })
                .cloned();
            lanes.push(kept.unwrap_or_else(|| {
                Lane::new(
                    name.clone(),
                    model.provider.clone(),
                    max_concurrent,
                    max_requests,
                )
            }));
            targets.push(Target::new(name, model, provider, config.auth.mode)?);
        }
        let lane_id = |model: &str| {
            config
                .models
                .keys()
                .position(|name| name == model)
                .map(LaneId::new)
        };
        let mut pools = Vec::with_capacity(config.pools.len());
        for (name, pool) in &config.pools {
            let members = pool
                .members
                .iter()
                .map(|member| {
                    let lane = lane_id(&member.target).ok_or_else(|| {
                        StartError::Config(format!(
                            "pools.{name}: unknown model `{}`",
                            member.target
                        ))
                    })?;
                    let weight = NonZeroU32::new(member.weight).unwrap_or(NonZeroU32::MIN);
                    let lane_member = Member::new(lane, weight);
                    Ok(match member.context_max {
                        Some(tokens) => lane_member.with_context_max(tokens),
                        None => lane_member,
                    })
                })
                .collect::<Result<Vec<_>, StartError>>()?;
            let exclusions = pool
                .failover
                .exclusions
                .iter()
                .filter_map(|model| lane_id(model));
            let mut built = Pool::new(name.clone(), members)
                .map_err(|error| StartError::Config(error.to_string()))?
                .with_breaker(breaker_policy(&pool.breaker))
                .with_failover(
                    FailoverPolicy::new(pool.failover.deadline, pool.failover.cap)
                        .excluding(exclusions),
                )
                .with_on_exhausted(match &pool.on_exhausted {
                    busbar_config::OnExhausted::Reject => OnExhausted::Reject,
                    busbar_config::OnExhausted::LeastBad => OnExhausted::LeastBad,
                    busbar_config::OnExhausted::FallbackPool(other) => {
                        OnExhausted::FallbackPool(other.clone())
                    }
                });
            if let Some(affinity) = &pool.affinity {
                built = built.with_affinity(affinity.header_name.clone());
            }
            pools.push(built);
        }
        let router = Router::new(lanes, pools, Arc::new(SystemClock::new()))
            .map_err(|error| StartError::Config(error.to_string()))?;
        let auth = match config.auth.mode {
            AuthMode::None => ClientAuth::Open,
            AuthMode::Passthrough => ClientAuth::Passthrough,
            AuthMode::Token => ClientAuth::Tokens(
                config
                    .auth
                    .client_tokens
                    .iter()
                    .map(|token| token.expose().as_bytes().to_vec())
                    .collect(),
            ),
        };
        let limits = Limits {
            max_body_bytes: config.limits.max_body_bytes,
            first_byte_timeout: config.limits.first_byte_timeout,
            idle_timeout: config.limits.idle_timeout,
            shutdown_grace: config.limits.shutdown_grace,
        };
        Ok(Self {
            listen: config.listen.clone(),
            tls: config
                .tls
                .as_ref()
                .map(|tls| (tls.cert_file.clone(), tls.key_file.clone())),
            auth,
            client: match previous {
                Some(previous) if previous.connect_timeout == config.limits.connect_timeout => {
                    previous.client.clone()
                }
                _ => client::build(config.limits.connect_timeout),
            },
            connect_timeout: config.limits.connect_timeout,
            limits,
            router,
            targets,
            metrics,
            governance_settings: config.governance.clone(),
            governor: governor.filter(|_| config.governance.enabled),
        })
    }

    /// The route for a model or pool name.
    pub(crate) fn resolve(&self, name: &str) -> Option<Route<'_>> {
        self.router.resolve(name)
    }

    pub(crate) fn target(&self, lane: LaneId) -> &Target {
        &self.targets[lane.index()]
    }

    pub(crate) fn targets(&self) -> impl Iterator<Item = (LaneId, &Target)> {
        self.targets
            .iter()
            .enumerate()
            .map(|(index, target)| (LaneId::new(index), target))
    }

    pub(crate) fn any_usable(&self) -> bool {
        self.router.any_usable()
    }

    pub(crate) fn snapshot(&self) -> busbar_routing::Snapshot {
        self.router.snapshot()
    }

    /// Every pool and model name a client may call.
    pub(crate) fn model_names(&self) -> impl Iterator<Item = &str> {
        self.router
            .pools()
            .iter()
            .map(Pool::name)
            .chain(self.router.lanes().iter().map(Lane::name))
    }
}

impl Target {
    fn new(
        name: &str,
        model: &busbar_config::Model,
        provider: &busbar_config::Provider,
        mode: AuthMode,
    ) -> Result<Self, StartError> {
        let protocol = provider.protocol;
        let uri = |stream: bool| {
            let url = provider.url(&model.upstream_model, stream);
            url.parse::<Uri>().map_err(|error| {
                StartError::Config(format!(
                    "providers.{}: bad URL {url}: {error}",
                    model.provider
                ))
            })
        };
        let passthrough = mode == AuthMode::Passthrough;
        let sigv4 = match provider.aws_credentials() {
            Some(keys)
                if protocol.wire().signs_requests()
                    && provider.auth == AuthScheme::Native
                    && !passthrough =>
            {
                Some(Signer::new(
                    &keys.access_key_id,
                    keys.secret_access_key.expose(),
                    keys.session_token.as_ref().map(|token| token.expose()),
                    provider.aws_region(),
                ))
            }
            _ => None,
        };
        let credential = match &provider.api_key {
            Some(key) if !passthrough && sigv4.is_none() => {
                Some(credential_header(protocol, provider.auth, key.expose())?)
            }
            _ => None,
        };
        Ok(Self {
            protocol,
            model_id: model.upstream_model.clone(),
            lane_name: HeaderValue::from_str(name).map_err(|_| {
                StartError::Config(format!("models.{name}: name is not a valid header value"))
            })?,
            uri: uri(false)?,
            stream_uri: uri(true)?,
            count_uri: match provider.count_url(&model.upstream_model) {
                Some(url) => Some(url.parse::<Uri>().map_err(|error| {
                    StartError::Config(format!(
                        "providers.{}: bad URL {url}: {error}",
                        model.provider
                    ))
                })?),
                None => None,
            },
            credential,
            sigv4,
            scheme: provider.auth,
            default_max_tokens: u64::from(model.default_max_tokens),
            health: match provider.health.mode {
                HealthMode::None => None,
                HealthMode::Dead => Some(ProbeMode::Dead),
                HealthMode::Active => Some(ProbeMode::Active),
            }
            .map(|mode| Probing {
                mode,
                interval: provider.health.interval,
                timeout: provider.health.timeout,
            }),
            error_map: Arc::new(provider.error_map.clone()),
        })
    }

    /// What an upstream error means for routing (see
    /// [`busbar_routing::classify`]), with the provider's `error_map`.
    pub(crate) fn classify(&self, error: &ApiError, source: ErrorSource) -> FailureClass {
        classify(&self.error_map, error, source)
    }

    /// The provider's `error_map`, for a reply body that classifies errors
    /// arriving inside its stream.
    pub(crate) fn error_map(&self) -> ErrorMap {
        Arc::clone(&self.error_map)
    }

    /// Whether Busbar holds a credential to probe this lane with (not under
    /// `auth.mode: passthrough`, where only callers have keys).
    pub(crate) fn can_probe(&self) -> bool {
        self.credential.is_some() || self.sigv4.is_some()
    }

    pub(crate) fn lane_name_str(&self) -> &str {
        self.lane_name.to_str().unwrap_or("?")
    }

    /// The upstream request for an already-encoded body.
    pub(crate) fn build_request(
        &self,
        body: Vec<u8>,
        stream: bool,
        same_protocol: bool,
        inbound: Option<&Inbound>,
    ) -> Result<http::Request<Full<Bytes>>, GatewayError> {
        let uri = if stream { &self.stream_uri } else { &self.uri };
        self.request_to(uri, body, stream, same_protocol, inbound)
    }

    /// Whether the lane's protocol has a token-counting endpoint.
    pub(crate) fn counts_tokens(&self) -> bool {
        self.count_uri.is_some()
    }

    /// The upstream request to the lane's token-counting endpoint; `None`
    /// when it has none.
    pub(crate) fn build_count_request(
        &self,
        body: Vec<u8>,
        same_protocol: bool,
        inbound: &Inbound,
    ) -> Option<Result<http::Request<Full<Bytes>>, GatewayError>> {
        let uri = self.count_uri.as_ref()?;
        Some(self.request_to(uri, body, false, same_protocol, Some(inbound)))
    }

    fn request_to(
        &self,
        uri: &Uri,
        body: Vec<u8>,
        stream: bool,
        same_protocol: bool,
        inbound: Option<&Inbound>,
    ) -> Result<http::Request<Full<Bytes>>, GatewayError> {
        let body = Bytes::from(body);
        let mut request = http::Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self.credential {
            Some((name, value)) => {
                headers.insert(name.clone(), value.clone());
            }
            None => {
                if let Some(token) = inbound.and_then(|inbound| inbound.client_credential.as_ref())
                {
                    let (name, value) = credential_header(self.protocol, self.scheme, token)
                        .map_err(|_| GatewayError::Unauthorized)?;
                    headers.insert(name, value);
                }
            }
        }
        let wire = self.protocol.wire();
        let client_headers = inbound
            .filter(|_| same_protocol)
            .map(|inbound| &inbound.headers);
        for extra in wire.upstream_headers() {
            let forwarded = client_headers
                .filter(|_| extra.forwarded)
                .and_then(|headers| headers.get(extra.name));
            let value = match (forwarded, extra.default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => HeaderValue::from_static(default),
                (None, None) => continue,
            };
            headers.insert(HeaderName::from_static(extra.name), value);
        }
        if let Some(accept) = wire.stream_accept().filter(|_| stream) {
            headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        }
        if let Some(signer) = &self.sigv4 {
            signer
                .sign(&mut request, &body, std::time::SystemTime::now())
                .map_err(|reason| {
                    GatewayError::Unreachable(format!("cannot sign the request: {reason}"))
                })?;
        }
        Ok(request)
    }
}

/// The routing crate's breaker policy for a pool's `breaker` settings.
fn breaker_policy(breaker: &busbar_config::Breaker) -> BreakerPolicy {
    let trip = match breaker.trip.mode {
        TripMode::ErrorRate => Trip::ErrorRate {
            window: breaker.trip.window,
            threshold: breaker.trip.threshold,
            min_requests: breaker.trip.min_requests,
        },
        TripMode::Consecutive => Trip::Consecutive {
            n: NonZeroU32::new(breaker.trip.n).unwrap_or(NonZeroU32::MIN),
        },
    };
    BreakerPolicy::new(trip, breaker.base_cooldown, breaker.max_cooldown)
}

/// The header carrying `key` to an upstream of `protocol`.
fn credential_header(
    protocol: Protocol,
    scheme: AuthScheme,
    key: &str,
) -> Result<(HeaderName, HeaderValue), StartError> {
    let invalid =
        || StartError::Config("an API key holds characters not allowed in a header".into());
    let bearer = || {
        HeaderValue::from_str(&format!("Bearer {key}"))
            .map(|value| (header::AUTHORIZATION, sensitive(value)))
            .map_err(|_| invalid())
    };
    let named = |name: &'static str| {
        HeaderValue::from_str(key)
            .map(|value| (HeaderName::from_static(name), sensitive(value)))
            .map_err(|_| invalid())
    };
    match scheme {
        AuthScheme::ApiKey => named("api-key"),
        AuthScheme::Bearer => bearer(),
        AuthScheme::Native => match protocol.wire().key_header(key) {
            KeyHeader::Named(name) => named(name),
            KeyHeader::Bearer => bearer(),
        },
    }
}

fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}
