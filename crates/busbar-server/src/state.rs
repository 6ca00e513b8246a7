//! The server's run-time state, built once from a loaded configuration.

use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use busbar_config::{AuthMode, Config, Credentials, TripMode};
use busbar_governance::Refusal;
use busbar_routing::{
    BreakerPolicy, FailoverPolicy, Lane, LaneId, Member, OnExhausted, Pool, Route, Router,
    SystemClock, Trip,
};

use crate::error::{GatewayError, StartError};
use crate::governance::{refused, Governance};
use crate::reply::Cutoff;
use crate::request_log::RequestLog;
use crate::telemetry::MetricsSlot;
use crate::trace::Tracer;
use crate::upstream::sigv4::constant_time_eq;
use crate::upstream::{build_client, AwsChain, BearerTokens, Target, UpstreamClient};

/// Everything a request needs, shared by all of them.
pub struct State {
    pub(crate) listen: String,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) auth: ClientAuth,
    pub(crate) limits: Limits,
    pub(crate) router: Router,
    /// Indexed by [`LaneId`], like the router's lanes.
    pub(crate) targets: Vec<Target>,
    /// The AWS credential chains of `credentials: aws` providers, one per
    /// profile and region, shared by their lanes and kept across reloads
    /// with their cached credentials.
    aws_chains: Vec<Arc<AwsChain>>,
    /// The token sources of `credentials: gcp` and `azure` providers, one
    /// per source, shared by their lanes and kept across reloads.
    bearer_tokens: Vec<Arc<BearerTokens>>,
    pub(crate) client: UpstreamClient,
    connect_timeout: Duration,
    pub(crate) metrics: crate::telemetry::MetricsSlot,
    /// The `governance` section, enabled or not.
    pub(crate) governance_settings: busbar_config::Governance,
    /// The open governor when governance is on; `None` until it is opened
    /// (requests are then refused, never let through).
    pub(crate) governor: Option<Arc<Governance>>,
    /// Request-body bytes held across all requests; kept across reloads.
    pub(crate) bodies: BodyBudget,
    /// Fired when the shutdown grace ends; kept across reloads.
    pub(crate) cutoff: Cutoff,
    /// The request log's sinks, when any is configured; kept across
    /// reloads that leave their settings alone.
    pub(crate) request_log: Option<RequestLog>,
    /// Where spans go, when `observability.otlp_endpoint` is set; made at
    /// start and kept across reloads.
    pub(crate) tracer: Option<Tracer>,
}

/// The chain for `profile` and `region`: one of `chains` already made for
/// this configuration, else the previous state's (with its cached
/// credentials), else a new one, warmed up so the first request need not
/// wait.
fn aws_chain(
    chains: &mut Vec<Arc<AwsChain>>,
    previous: Option<&State>,
    profile: Option<&str>,
    region: String,
) -> Arc<AwsChain> {
    let known = chains
        .iter()
        .chain(previous.map_or(&[][..], |previous| &previous.aws_chains[..]))
        .find(|chain| chain.is_for(profile, &region))
        .cloned();
    let chain = known.unwrap_or_else(|| {
        let chain = Arc::new(AwsChain::new(profile.map(str::to_owned), region));
        if tokio::runtime::Handle::try_current().is_ok() {
            chain.warm_up();
        }
        chain
    });
    if !chains.iter().any(|kept| Arc::ptr_eq(kept, &chain)) {
        chains.push(Arc::clone(&chain));
    }
    chain
}

/// The token source for `credentials`: one of `sources` already made for
/// this configuration, else the previous state's (with its cached token),
/// else a new one, warmed up. `None` for credentials that mint no token.
fn bearer_tokens(
    sources: &mut Vec<Arc<BearerTokens>>,
    previous: Option<&State>,
    credentials: &Credentials,
    client: &UpstreamClient,
    provider: &str,
) -> Result<Option<Arc<BearerTokens>>, StartError> {
    let known = sources
        .iter()
        .chain(previous.map_or(&[][..], |previous| &previous.bearer_tokens[..]))
        .find(|tokens| tokens.is_for(credentials))
        .cloned();
    let tokens = match known {
        Some(tokens) => tokens,
        None => match BearerTokens::new(credentials, client.clone()) {
            None => return Ok(None),
            Some(made) => {
                let tokens = Arc::new(made.map_err(|error| {
                    StartError::Config(format!("providers.{provider}.credentials: {error}"))
                })?);
                if tokio::runtime::Handle::try_current().is_ok() {
                    tokens.warm_up();
                }
                tokens
            }
        },
    };
    if !sources.iter().any(|kept| Arc::ptr_eq(kept, &tokens)) {
        sources.push(Arc::clone(&tokens));
    }
    Ok(Some(tokens))
}

/// How clients are authenticated.
pub(crate) enum ClientAuth {
    /// Anyone may call.
    Open,
    /// A request must carry one of these tokens.
    Tokens(Vec<Vec<u8>>),
    /// Anyone may call; the caller's own credential goes upstream.
    Passthrough,
}

impl ClientAuth {
    /// Admits or refuses a request's credential.
    pub(crate) fn check(&self, presented: Option<&str>) -> Result<(), GatewayError> {
        match self {
            Self::Open | Self::Passthrough => Ok(()),
            Self::Tokens(tokens) => {
                let Some(presented) = presented else {
                    return Err(GatewayError::Unauthorized);
                };
                // Compare against every token, in constant time for each, so
                // timing reveals neither which token matched nor how much of
                // one did.
                let mut matched = false;
                for token in tokens {
                    matched |= constant_time_eq(token, presented.as_bytes());
                }
                if matched {
                    Ok(())
                } else {
                    Err(GatewayError::Unauthorized)
                }
            }
        }
    }
}

/// Time and size limits.
pub(crate) struct Limits {
    pub(crate) max_body_bytes: u64,
    pub(crate) max_buffered_body_bytes: u64,
    /// Longest silence while a client sends a request body.
    pub(crate) body_read_timeout: Duration,
    pub(crate) first_byte_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) shutdown_grace: Duration,
    /// The bounds on client connections; the listener reads them once.
    pub(crate) connections: ConnectionBounds,
}

/// The bounds on every client connection, fixed when the listener starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionBounds {
    pub(crate) header_read_timeout: Duration,
    pub(crate) keepalive_idle: Duration,
    pub(crate) http2_max_streams: u32,
    pub(crate) http2_keepalive_interval: Duration,
    pub(crate) http2_keepalive_timeout: Duration,
    pub(crate) max_connections: Option<u32>,
    pub(crate) max_connections_per_ip: u32,
}

impl ConnectionBounds {
    pub(crate) fn new(limits: &busbar_config::Limits) -> Self {
        Self {
            header_read_timeout: limits.header_read_timeout,
            keepalive_idle: limits.keepalive_idle,
            http2_max_streams: limits.http2_max_streams,
            http2_keepalive_interval: limits.http2_keepalive_interval,
            http2_keepalive_timeout: limits.http2_keepalive_timeout,
            max_connections: limits.max_connections,
            max_connections_per_ip: limits.max_connections_per_ip,
        }
    }
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
        let mut aws_chains = Vec::new();
        let mut bearer_sources = Vec::new();
        let client = match previous {
            Some(previous) if previous.connect_timeout == config.limits.connect_timeout => {
                previous.client.clone()
            }
            _ => build_client(config.limits.connect_timeout),
        };
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
            let chain = match &provider.credentials {
                Credentials::Aws { profile } => Some(aws_chain(
                    &mut aws_chains,
                    previous,
                    profile.as_deref(),
                    provider.aws_region(),
                )),
                _ => None,
            };
            let bearer = bearer_tokens(
                &mut bearer_sources,
                previous,
                &provider.credentials,
                &client,
                &model.provider,
            )?;
            let mut target = Target::new(name, model, provider, config.auth.mode, chain, bearer)?;
            // A kept lane keeps its spend totals with its other counters.
            if let (Some(_), Some(previous)) = (&kept, previous) {
                if let Some(id) = previous.router.lane_id(name) {
                    target = target.with_spend(Arc::clone(&previous.target(id).spend));
                }
            }
            lanes.push(kept.unwrap_or_else(|| {
                Lane::new(
                    name.clone(),
                    model.provider.clone(),
                    max_concurrent,
                    max_requests,
                )
            }));
            targets.push(target);
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
                    // Without `context_max`, the catalog's context window
                    // (when it lists the model) narrows context failover.
                    let context_max = member.context_max.or_else(|| {
                        config
                            .models
                            .get(&member.target)
                            .and_then(busbar_config::Model::context_window)
                    });
                    Ok(match context_max {
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
            max_buffered_body_bytes: config.limits.max_buffered_body_bytes,
            body_read_timeout: config.limits.body_read_timeout,
            first_byte_timeout: config.limits.first_byte_timeout,
            idle_timeout: config.limits.idle_timeout,
            shutdown_grace: config.limits.shutdown_grace,
            connections: ConnectionBounds::new(&config.limits),
        };
        Ok(Self {
            listen: config.listen.clone(),
            tls: config
                .tls
                .as_ref()
                .map(|tls| (tls.cert_file.clone(), tls.key_file.clone())),
            auth,
            client,
            connect_timeout: config.limits.connect_timeout,
            limits,
            router,
            targets,
            aws_chains,
            bearer_tokens: bearer_sources,
            metrics,
            governance_settings: config.governance.clone(),
            governor: governor.filter(|_| config.governance.enabled),
            bodies: previous
                .map(|previous| previous.bodies.clone())
                .unwrap_or_default(),
            cutoff: previous
                .map(|previous| previous.cutoff.clone())
                .unwrap_or_default(),
            request_log: RequestLog::for_config(
                config,
                previous.and_then(|previous| previous.request_log.as_ref()),
            )?,
            tracer: match previous {
                Some(previous) => previous.tracer.clone(),
                None => config
                    .observability
                    .otlp_endpoint
                    .as_deref()
                    .map(Tracer::start)
                    .transpose()
                    .map_err(StartError::Config)?,
            },
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

impl State {
    /// Builds the state for `config` and, when governance is on, opens its
    /// store and starts its reaper.
    pub async fn open(
        config: &busbar_config::Config,
        metrics: MetricsSlot,
    ) -> Result<Self, StartError> {
        let mut state = Self::new(config, metrics)?;
        state.open_governance().await?;
        Ok(state)
    }

    /// Opens the governor the settings ask for, unless it is open already.
    pub(crate) async fn open_governance(&mut self) -> Result<(), StartError> {
        if self.governance_settings.enabled && self.governor.is_none() {
            let governance = Governance::open(&self.governance_settings).await?;
            self.governor = Some(Arc::new(governance));
        }
        Ok(())
    }

    /// The governor; `None` when governance is off. On but not open (a
    /// state never passed through [`State::open`]) refuses, fail-closed.
    pub(crate) fn governance(&self) -> Result<Option<&Governance>, GatewayError> {
        match &self.governor {
            Some(governance) => Ok(Some(governance)),
            None if self.governance_settings.enabled => Err(refused(Refusal::StoreUnavailable {
                reason: "governance is enabled but its store was never opened".into(),
            })),
            None => Ok(None),
        }
    }

    /// For a reload to `settings`: `Some(governor)` to carry over (`None`
    /// inside when governance goes off), or `None` when the settings
    /// changed and a new governor must be opened.
    pub(crate) fn governor_for(
        &self,
        settings: &busbar_config::Governance,
    ) -> Option<Option<Arc<Governance>>> {
        if !settings.enabled {
            return Some(None);
        }
        self.governor
            .as_ref()
            .filter(|governance| governance.config() == settings)
            .map(|governance| Some(Arc::clone(governance)))
    }
}

/// The request-body bytes buffered across every request at once, against
/// `limits.max_buffered_body_bytes`. One count lives for the whole process:
/// a reload changes the limit, never the bytes already held.
#[derive(Clone, Default)]
pub(crate) struct BodyBudget {
    held: Arc<AtomicU64>,
}

impl BodyBudget {
    /// An empty share for one request.
    pub(crate) fn share(&self) -> BufferedBody {
        BufferedBody {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Takes `bytes` more for `share`, unless that would pass `limit`.
    pub(crate) fn take(&self, share: &mut BufferedBody, bytes: u64, limit: u64) -> bool {
        let taken = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok();
        if taken {
            share.bytes += bytes;
            metrics::gauge!(BUFFERED_GAUGE).increment(bytes as f64);
        }
        taken
    }
}

/// The gauge of request-body bytes held, in `/metrics`.
const BUFFERED_GAUGE: &str = "busbar_request_body_bytes_buffered";

/// One request's share of the [`BodyBudget`]; dropping it gives it back.
pub(crate) struct BufferedBody {
    budget: BodyBudget,
    bytes: u64,
}

impl BufferedBody {
    /// Bytes this request holds.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for BufferedBody {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
            metrics::gauge!(BUFFERED_GAUGE).decrement(self.bytes as f64);
        }
    }
}
