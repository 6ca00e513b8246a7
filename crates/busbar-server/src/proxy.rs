//! Proxying one model request: read, route, translate, call the upstream,
//! and relay or translate the reply, failing over between lanes until a
//! reply is committed to the client.

mod attempt;
mod call;
mod count;

pub(crate) use attempt::read_error;
pub(crate) use call::unix_now;
pub(crate) use count::{count, SOURCE_HEADER};

use std::time::Duration;

use busbar_routing::{AcquireError, FailureClass, Route};
use http::Response;

use crate::error::GatewayError;
use crate::governance::Estimate;
use crate::ingress::peek::Peeked;
use crate::ingress::Inbound;
use crate::record::Record;
use crate::reply::{Body, Meter};
use crate::state::State;
use crate::trace::Trace;
use call::{resolve, vet, Call};

/// Serves one model request end to end. `pool` is set to the configured
/// name the request resolved to, for metric labels; `record`, when the
/// request log is on, takes each attempt (a streamed reply carries it away
/// in its body). `trace`, the request's spans when traced, is taken by the
/// reply that reaches the client; it is left to the caller when the request
/// fails.
pub(crate) async fn proxy<'s>(
    state: &'s State,
    inbound: Inbound,
    pool: &mut &'s str,
    record: &mut Option<Box<Record>>,
    trace: &mut Option<Box<Trace>>,
) -> Result<Response<Body>, GatewayError> {
    let governance = state.governance()?;
    let (peeked, name, route) = match resolve(state, &inbound) {
        Ok(resolved) => resolved,
        Err(error) => {
            if let (Some(record), GatewayError::UnknownModel(name)) =
                (record.as_deref_mut(), &error)
            {
                record.named(name);
            }
            // Whoever holds no valid key learns nothing about models or bodies.
            return Err(vet(governance, &inbound, error).await);
        }
    };
    *pool = route.name();
    let stream = inbound.ingress.stream.unwrap_or_else(|| peeked.stream());
    if let Some(trace) = trace.as_deref_mut() {
        let max_tokens = peeked.max_tokens(inbound.protocol());
        trace.routed(&name, route.name(), stream, max_tokens);
    }
    let meter = match governance {
        Some(governance) => {
            let secret = inbound.virtual_key.as_deref().unwrap_or_default();
            let estimate = worst_case_tokens(state, &inbound, &peeked, &route);
            let lanes = route.pool().members().iter();
            let worst = governance.worst_case(estimate, lanes.map(|m| state.target(m.lane)));
            Some(governance.admit(secret, route.name(), worst).await?)
        }
        None => None,
    };
    if let Some(record) = record.as_deref_mut() {
        record.asked(&name, stream);
        record.key(meter.as_ref().and_then(Meter::key_id));
    }
    let usage_unasked = stream
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
        usage_unasked,
        marked_signatures: None,
        record,
        trace,
    };
    // A failure's metrics wait until it is known whether another lane was
    // tried after it (a failover) or it went back to the client.
    let mut last: Option<Failed> = None;
    while let Some((lane_id, permit)) = attempts.next_attempt() {
        let pool_name = attempts.route().name();
        let target = state.target(lane_id);
        if let Some(trace) = call.trace.as_deref_mut() {
            let reason = last.as_ref().map(|failed| failed.class.as_str());
            trace.attempt(&target.span, pool_name, reason);
        }
        if let Some(previous) = last.take() {
            previous.record(true);
            metrics::counter!(
                "busbar_failovers_total",
                "pool" => pool_name.to_owned(),
                "reason" => previous.class.as_str()
            )
            .increment(1);
        }
        let lane = target.lane_name_str();
        if let Some(record) = call.record.as_deref_mut() {
            record.attempt(&target.record, target.price());
        }
        metrics::counter!(
            "busbar_upstream_attempts_total",
            "pool" => pool_name.to_owned(),
            "lane" => lane.to_owned()
        )
        .increment(1);
        let failure = match attempt::run(&mut call, pool_name, target, permit).await {
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
            trace,
        } = *failure;
        if meter.is_some() {
            call.meter = meter;
        }
        if let Some(record) = call.record.as_deref_mut() {
            record.failed(class);
        }
        if trace.is_some() {
            *call.trace = trace;
        }
        if let Some(trace) = call.trace.as_deref_mut() {
            let status = match &error {
                GatewayError::Upstream(upstream) => Some(upstream.error.status),
                _ => None,
            };
            trace.attempt_failed(class.as_str(), status);
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

/// The reply's worst case in tokens, which governance reserves the price
/// of: the request's own token cap (or, without one, the largest
/// `default_max_tokens` among the route's members, which is what a
/// translated hop would send) once for each reply it asks for (`n`,
/// `candidateCount`), plus the body's length in bytes as an upper bound on
/// the prompt's tokens (a token is at least one byte of text). Only token
/// prices make the estimate matter; the excess is released when the
/// request settles.
fn worst_case_tokens(
    state: &State,
    inbound: &Inbound,
    peeked: &Peeked<'_>,
    route: &Route<'_>,
) -> Estimate {
    let protocol = inbound.protocol();
    let cap = peeked.max_tokens(protocol).unwrap_or_else(|| {
        route
            .pool()
            .members()
            .iter()
            .map(|member| state.target(member.lane).default_max_tokens)
            .max()
            .unwrap_or(4096)
    });
    Estimate {
        input: u64::try_from(inbound.body.len()).unwrap_or(u64::MAX),
        output: cap.saturating_mul(peeked.choice_count(protocol)),
    }
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
