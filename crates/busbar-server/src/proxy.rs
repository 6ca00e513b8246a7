//! Proxying one model request: read, route, translate, call the upstream,
//! and relay or translate the reply, failing over between lanes until a
//! reply is committed to the client.

mod attempt;

pub(crate) use attempt::read_error;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use busbar_protocols::{DecodedRequest, Protocol};
use busbar_routing::{AcquireError, FailureClass, Route};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::body::Body;
use crate::error::GatewayError;
use crate::governance::Governance;
use crate::ingress::Ingress;
use crate::meter::Meter;
use crate::peek::Peeked;
use crate::state::State;

/// The request as it came in.
pub(crate) struct Inbound {
    /// The protocol and what the URL says.
    pub(crate) ingress: Ingress,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The caller's own credential, for `auth.mode: passthrough`.
    pub(crate) client_credential: Option<String>,
    /// The caller's virtual key, under governance (never sent upstream).
    pub(crate) virtual_key: Option<String>,
    /// This request's `x-request-id`, which also names replies whose
    /// upstream format gives them no id.
    pub(crate) request_id: HeaderValue,
}

impl Inbound {
    pub(crate) fn protocol(&self) -> Protocol {
        self.ingress.protocol
    }

    /// An id for a reply whose upstream gave it none.
    fn fallback_reply_id(&self) -> String {
        format!("busbar-{}", self.request_id.to_str().unwrap_or("reply"))
    }
}

/// Everything one request's attempts share.
struct Call<'a> {
    state: &'a State,
    inbound: &'a Inbound,
    peeked: &'a Peeked<'a>,
    stream: bool,
    /// Decoded lazily: a same-protocol hop never needs the IR.
    decoded: Option<DecodedRequest>,
    /// The governance admission, until an attempt's reply takes it.
    meter: Option<Meter>,
    /// Whether the reply's usage must be counted even where the client did
    /// not ask for it (a metered OpenAI chat stream without
    /// `stream_options.include_usage`).
    count_usage: bool,
    /// Whether the body carries a reasoning signature marked as another
    /// vendor's, learnt the first time a same-protocol lane is tried.
    marked_signatures: Option<bool>,
}

impl Call<'_> {
    /// Whether an upstream of the client's own protocol may take the body
    /// as it is: not when it carries signatures Busbar marked as another
    /// vendor's (they must be stripped or dropped on the way).
    fn relayable(&mut self) -> bool {
        let inbound = self.inbound;
        !*self
            .marked_signatures
            .get_or_insert_with(|| inbound.protocol().carries_marked_signatures(&inbound.body))
    }
}

/// Serves one model request end to end. `pool` is set to the configured
/// name the request resolved to, for metric labels.
pub(crate) async fn proxy<'s>(
    state: &'s State,
    inbound: Inbound,
    pool: &mut &'s str,
) -> Result<Response<Body>, GatewayError> {
    let governance = state.governance()?;
    let (peeked, name, route) = match resolve(state, &inbound) {
        Ok(resolved) => resolved,
        // Whoever holds no valid key learns nothing about models or bodies.
        Err(error) => return Err(vet(governance, &inbound, error).await),
    };
    *pool = route.name();
    let meter = match governance {
        Some(governance) => {
            let secret = inbound.virtual_key.as_deref().unwrap_or_default();
            let estimate = worst_case_tokens(state, &inbound, &peeked, &route);
            Some(governance.admit(secret, route.name(), estimate).await?)
        }
        None => None,
    };
    let stream = inbound.ingress.stream.unwrap_or_else(|| peeked.stream());
    let count_usage = meter.is_some()
        && stream
        && inbound.protocol().wire().stream_usage_flag().is_some()
        && !peeked.stream_usage(inbound.protocol());
    let affinity_key = route
        .pool()
        .affinity_header()
        .and_then(|header| inbound.headers.get(header))
        .and_then(|value| value.to_str().ok());
    let mut attempts = match route.plan(affinity_key) {
        Ok(attempts) => attempts,
        Err(exhausted) => {
            settle_failed(meter).await;
            return Err(GatewayError::NoUsableLane {
                name: name.clone(),
                retry_after: exhausted.retry_after,
            });
        }
    };
    let mut call = Call {
        state,
        inbound: &inbound,
        peeked: &peeked,
        stream,
        decoded: None,
        meter,
        count_usage,
        marked_signatures: None,
    };
    // A failure's metrics wait until it is known whether another lane was
    // tried after it (a failover) or it went back to the client.
    let mut last: Option<Failed> = None;
    while let Some((lane_id, permit)) = attempts.next_attempt() {
        let pool_name = attempts.route().name();
        if let Some(previous) = last.take() {
            previous.record(true);
            metrics::counter!(
                "busbar_failovers_total",
                "pool" => pool_name.to_owned(),
                "reason" => previous.class.as_str()
            )
            .increment(1);
        }
        let target = state.target(lane_id);
        let lane = target.lane_name_str();
        metrics::counter!(
            "busbar_upstream_attempts_total",
            "pool" => pool_name.to_owned(),
            "lane" => lane.to_owned()
        )
        .increment(1);
        let failure = match attempt::run(&mut call, target, permit).await {
            Ok(reply) => return Ok(reply),
            Err(failure) => failure,
        };
        let attempt::Failure {
            permit,
            class,
            outcome,
            error,
            upstream,
            meter,
        } = *failure;
        if meter.is_some() {
            call.meter = meter;
        }
        if let Some(permit) = permit {
            attempts.finish(permit, outcome);
        }
        tracing::debug!(lane, class = class.as_str(), %error, "attempt failed");
        let failed = Failed {
            pool: pool_name.to_owned(),
            lane: lane.to_owned(),
            class,
            upstream,
            error,
        };
        if !class.fails_over() {
            failed.record(false);
            settle_failed(call.meter.take()).await;
            return Err(failed.error);
        }
        last = Some(failed);
    }
    settle_failed(call.meter.take()).await;
    match last {
        Some(failed) => {
            failed.record(false);
            Err(failed.error)
        }
        None => Err(refused(&name, attempts.refused(), || {
            attempts.route().retry_after()
        })),
    }
}

/// The body's top-level fields, the name asked for, and its route.
pub(crate) fn resolve<'a, 's>(
    state: &'s State,
    inbound: &'a Inbound,
) -> Result<(Peeked<'a>, String, Route<'s>), GatewayError> {
    let peeked = Peeked::parse(&inbound.body)?;
    let name = match &inbound.ingress.model {
        Some(name) => name.clone(),
        None => peeked.model()?.ok_or(GatewayError::MissingModel)?,
    };
    let route = state
        .resolve(&name)
        .ok_or_else(|| GatewayError::UnknownModel(name.clone()))?;
    Ok((peeked, name, route))
}

/// Under governance, an error found before admission goes only to a valid
/// key; anyone else hears that their key is not.
pub(crate) async fn vet(
    governance: Option<&Governance>,
    inbound: &Inbound,
    error: GatewayError,
) -> GatewayError {
    let Some(governance) = governance else {
        return error;
    };
    let secret = inbound.virtual_key.as_deref().unwrap_or_default();
    match governance.identify(secret).await {
        Ok(_) => error,
        Err(refusal) => refusal,
    }
}

/// The reply's worst case in tokens, which governance reserves the price
/// of: the request's own token cap (or, without one, the largest
/// `default_max_tokens` among the route's members, which is what a
/// translated hop would send) plus the body's length in bytes as an upper
/// bound on the prompt's tokens (a token is at least one byte of text).
/// Only `price_per_1k_tokens_cents` makes the estimate matter; the excess
/// is released when the request settles.
fn worst_case_tokens(
    state: &State,
    inbound: &Inbound,
    peeked: &Peeked<'_>,
    route: &Route<'_>,
) -> u64 {
    let cap = peeked.max_tokens(inbound.protocol()).unwrap_or_else(|| {
        route
            .pool()
            .members()
            .iter()
            .map(|member| state.target(member.lane).default_max_tokens)
            .max()
            .unwrap_or(4096)
    });
    cap.saturating_add(u64::try_from(inbound.body.len()).unwrap_or(u64::MAX))
}

/// Releases an admission no reply took, before the client hears why.
async fn settle_failed(meter: Option<Meter>) {
    if let Some(meter) = meter {
        meter.settle(false).await;
    }
}

/// A failed attempt whose metrics are not yet recorded.
struct Failed {
    pool: String,
    lane: String,
    class: FailureClass,
    upstream: bool,
    error: GatewayError,
}

impl Failed {
    /// Counts the failure, as failed over or as returned to the client.
    fn record(&self, failed_over: bool) {
        if self.upstream {
            metrics::counter!(
                "busbar_upstream_failures_total",
                "pool" => self.pool.clone(),
                "lane" => self.lane.clone(),
                "disposition" => if failed_over { "failover" } else { "returned" }
            )
            .increment(1);
        }
    }
}

/// The error for a request no lane would take: a busy lane is worth
/// retrying soon (429); a spent budget or lanes out of service are not (503).
fn refused(
    name: &str,
    refusals: &[(busbar_routing::LaneId, AcquireError)],
    retry_after: impl FnOnce() -> Option<Duration>,
) -> GatewayError {
    let any = |wanted: AcquireError| refusals.iter().any(|(_, why)| *why == wanted);
    if any(AcquireError::Saturated) {
        GatewayError::AtCapacity(name.to_owned())
    } else if any(AcquireError::NoBudget) {
        GatewayError::BudgetExhausted(name.to_owned())
    } else {
        GatewayError::NoUsableLane {
            name: name.to_owned(),
            retry_after: retry_after(),
        }
    }
}

pub(crate) async fn read_limited(
    body: Incoming,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, GatewayError> {
    match tokio::time::timeout(idle, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(GatewayError::BadUpstreamReply(error.to_string())),
        Err(_) => Err(GatewayError::Timeout("upstream body stalled".into())),
    }
}

/// Copies the upstream's response headers except hop-by-hop ones and those
/// Busbar sets itself.
pub(crate) fn copy_end_to_end_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let skip = matches!(
            name.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "te"
                | "trailer"
                | "upgrade"
                | "x-request-id"
                | "date"
                | "server"
        );
        if !skip {
            to.append(name.clone(), value.clone());
        }
    }
}

pub(crate) fn describe(error: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Reads a client's request body, refusing more than `limit` bytes.
pub(crate) async fn read_request_body(body: Incoming, limit: u64) -> Result<Bytes, GatewayError> {
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit })
        }
        Err(error) => Err(GatewayError::InvalidBody(
            busbar_protocols::DecodeError::Stream(format!(
                "could not read the request body: {error}"
            )),
        )),
    }
}
