//! Token counting: Anthropic `count_tokens`, Gemini `:countTokens`,
//! Responses `input_tokens` and Bedrock `count-tokens`, answered by a
//! lane's own counting endpoint where it has one, else by Busbar's estimate.
//!
//! The lane is chosen without touching routing state: the route's members
//! in their configured order, usable ones only (an open breaker or a
//! hard-down lane is skipped, but a half-open probe is never taken), and of
//! those the ones whose protocol can count. The first to answer wins:
//!
//! * same protocol: the body is relayed with the model replaced, and the
//!   upstream's reply relayed as it came;
//! * another protocol with a counting endpoint: the request goes through
//!   the IR to that endpoint, and its number comes back in the caller's
//!   reply shape.
//!
//! An upstream failure that would fail a generation request over
//! (rate-limited, overloaded, down, timed out) moves on to the next lane, up
//! to the pool's failover `cap`, and so does a 404, 405 or 501 (an upstream
//! that speaks the protocol but has no counting endpoint, as many compatible
//! servers do); one that would be returned (the request's fault, a bad key)
//! is returned, in the caller's protocol. When no lane can count (OpenAI
//! Chat and Cohere lanes, all lanes unusable, every attempt failed over) the
//! reply is [`busbar_protocols::count::estimate`].
//!
//! Every reply says where its number came from in `x-busbar-token-count`:
//! `upstream` (a provider counted it) or `estimate` (Busbar did).
//!
//! Counting is free and leaves no trace on lanes: it takes no concurrency
//! slot, spends no `max_requests` budget, moves no breaker and is not in a
//! lane's `ok`/`err` counts. Under governance the key must be valid and
//! allowed the pool or model, but nothing is charged to it and it does not
//! count toward its rate limits.

use busbar_protocols::{DecodedRequest, RequestOptions};
use busbar_routing::{FailureClass, LaneId};
use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::Full;

use super::attempt::{read_error, unbuilt_class};
use super::call::{resolve, vet};
use crate::error::GatewayError;
use crate::ingress::peek::Peeked;
use crate::ingress::Inbound;
use crate::record::{Record, DROPPED_HEADER};
use crate::reply::Body;
use crate::state::State;
use crate::upstream::{copy_end_to_end_headers, describe, read_limited, Target};

/// The response header naming where a count came from.
pub(crate) const SOURCE_HEADER: &str = "x-busbar-token-count";

/// The largest count reply Busbar reads.
const MAX_COUNT_REPLY: usize = 1024 * 1024;

/// Serves one token-count request. `pool` is set to the configured name the
/// request resolved to, for metric labels; `record` (when the request log
/// is on) learns the model asked for and each lane asked.
pub(crate) async fn count<'s>(
    state: &'s State,
    inbound: Inbound,
    pool: &mut &'s str,
    mut record: Option<&mut Record>,
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
            return Err(vet(governance, &inbound, error).await);
        }
    };
    *pool = route.name();
    if let Some(record) = record.as_deref_mut() {
        record.asked(&name, false);
    }
    if let Some(governance) = governance {
        let secret = inbound.virtual_key.as_deref().unwrap_or_default();
        governance.allow(secret, route.name()).await?;
    }
    let usable: Vec<LaneId> = route
        .pool()
        .members()
        .iter()
        .map(|member| member.lane)
        .filter(|&lane| route.is_usable(lane))
        .collect();
    let attempts = usize::try_from(route.pool().failover().cap)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut decoded = None;
    let counting = usable
        .iter()
        .map(|&lane| (lane, state.target(lane)))
        .filter(|(_, target)| target.counts_tokens());
    for (_, target) in counting.take(attempts) {
        if let Some(record) = record.as_deref_mut() {
            // A count is free: no price, so no cost.
            record.attempt(&target.record, None);
        }
        let result = upstream(
            state,
            &inbound,
            &peeked,
            target,
            &mut decoded,
            record.as_deref_mut(),
        )
        .await;
        match result {
            Ok(reply) => return Ok(reply),
            Err(Miss::Failed(class, error)) if !class.fails_over() => return Err(error),
            Err(Miss::Failed(class, error)) => tracing::debug!(
                lane = target.lane_name_str(),
                class = class.as_str(),
                %error,
                "token count failed; trying the next lane"
            ),
            Err(Miss::NoEndpoint(error, _)) => tracing::debug!(
                lane = target.lane_name_str(),
                %error,
                "no token-counting endpoint; trying the next lane"
            ),
        }
    }
    let decoded = match decoded {
        Some(decoded) => decoded,
        None => decode(&inbound)?,
    };
    let tokens = busbar_protocols::count::estimate(&decoded.request);
    let protocol = inbound.protocol();
    let mut reply = json_reply(protocol.encode_count_reply(tokens));
    let headers = reply.headers_mut();
    headers.insert(SOURCE_HEADER, HeaderValue::from_static("estimate"));
    if let Some(&lane) = usable.first() {
        headers.insert("x-busbar-model", state.target(lane).lane_name.clone());
    }
    Ok(reply)
}

/// The client's count request in the IR.
fn decode(inbound: &Inbound) -> Result<DecodedRequest, GatewayError> {
    let mut decoded = inbound
        .protocol()
        .decode_count_request_named(&inbound.body, inbound.ingress.model.as_deref())?;
    if let Some(name) = &inbound.ingress.model {
        decoded.request.model.clone_from(name);
    }
    Ok(decoded)
}

/// Why a lane gave no count, with what the client would hear.
enum Miss {
    /// The lane failed; its class (the transport's, or
    /// `busbar_routing::classify`'s for an error reply) says whether a
    /// generation would fail over, and so whether the next lane is asked.
    Failed(FailureClass, GatewayError),
    /// The lane has no counting endpoint (none on its route, or it answered
    /// 404, 405 or 501, as many compatible servers do): the next lane is
    /// asked, whatever the reply's class (`classify`'s, for the request
    /// log, when the upstream answered).
    NoEndpoint(GatewayError, Option<FailureClass>),
}

/// Asks `target`'s counting endpoint.
async fn upstream(
    state: &State,
    inbound: &Inbound,
    peeked: &Peeked<'_>,
    target: &Target,
    decoded: &mut Option<DecodedRequest>,
    mut record: Option<&mut Record>,
) -> Result<Response<Body>, Miss> {
    let protocol = inbound.protocol();
    // Signatures marked as another vendor's must not be relayed (see
    // `busbar_protocols::Protocol::carries_marked_signatures`).
    let same_protocol =
        target.protocol == protocol && !protocol.carries_marked_signatures(&inbound.body);
    let (body, dropped) = if same_protocol {
        let body = if protocol.model_in_body() {
            peeked.with_model(&target.model_id, target.relay_leaves_out(&inbound.ingress))
        } else {
            protocol
                .wire()
                .count_body_for(&inbound.body, &target.model_id)
                .unwrap_or_else(|| inbound.body.to_vec())
        };
        (body, Vec::new())
    } else {
        if decoded.is_none() {
            *decoded = Some(
                decode(inbound).map_err(|error| Miss::Failed(FailureClass::ClientError, error))?,
            );
        }
        let decoded = decoded.as_ref().expect("decoded above");
        let mut options = RequestOptions::new(target.model_id.clone());
        options.ingress = Some(inbound.protocol());
        options.default_max_tokens = target.default_max_tokens;
        let encoded = target
            .protocol
            .encode_count_request(&decoded.request, &options)
            .unwrap_or_default();
        let dropped = decoded.dropped_with(&encoded.dropped);
        (encoded.body, dropped)
    };
    let request = match target
        .build_count_request(body, same_protocol, inbound.client_side())
        .await
    {
        Some(Ok(request)) => request,
        Some(Err(error)) => return Err(Miss::Failed(unbuilt_class(&error), error)),
        None => {
            let error = GatewayError::BadUpstreamReply(format!(
                "`{}` has no token-counting endpoint",
                target.lane_name_str()
            ));
            return Err(Miss::NoEndpoint(error, None));
        }
    };
    if let Some(record) = record.as_deref_mut() {
        record.sent();
    }
    let (status, result) = exchange(state, target, request).await;
    if let Some(record) = record.as_deref_mut() {
        if let Some(status) = status {
            record.answered(status);
        }
        match &result {
            Ok(_) => record.upstream_done(),
            Err(Miss::Failed(class, _) | Miss::NoEndpoint(_, Some(class))) => {
                record.failed(*class);
            }
            Err(Miss::NoEndpoint(_, None)) => {}
        }
    }
    let (parts, bytes) = result?;
    let mut reply = if same_protocol {
        let mut reply = Response::new(Body::full(bytes));
        *reply.status_mut() = parts.status;
        copy_end_to_end_headers(&parts.headers, reply.headers_mut());
        reply
    } else {
        let tokens = target
            .protocol
            .decode_count_reply(&bytes)
            .map_err(|error| {
                let error = GatewayError::BadUpstreamReply(format!(
                    "`{}`: {error}",
                    target.lane_name_str()
                ));
                if let Some(record) = record {
                    record.failed(FailureClass::ServerError);
                }
                Miss::Failed(FailureClass::ServerError, error)
            })?;
        json_reply(protocol.encode_count_reply(tokens))
    };
    let headers = reply.headers_mut();
    headers.insert(SOURCE_HEADER, HeaderValue::from_static("upstream"));
    headers.insert("x-busbar-model", target.lane_name.clone());
    if !dropped.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&dropped.join(", ")) {
            headers.insert(DROPPED_HEADER, value);
        }
    }
    Ok(reply)
}

/// Sends a count request to `target` and reads its reply: the upstream's
/// status when it answered, and the head and body of a successful reply.
async fn exchange(
    state: &State,
    target: &Target,
    request: http::Request<Full<Bytes>>,
) -> (Option<u16>, Result<(http::response::Parts, Bytes), Miss>) {
    let first_byte = state.limits.first_byte_timeout;
    let response = match tokio::time::timeout(first_byte, state.client.request(request)).await {
        Err(_) => {
            let error = GatewayError::Timeout(format!(
                "no token count from `{}` within {} s",
                target.lane_name_str(),
                first_byte.as_secs()
            ));
            return (None, Err(Miss::Failed(FailureClass::Timeout, error)));
        }
        Ok(Err(error)) => {
            let error = GatewayError::Unreachable(format!(
                "`{}`: {}",
                target.lane_name_str(),
                describe(&error)
            ));
            return (None, Err(Miss::Failed(FailureClass::Network, error)));
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    if !response.status().is_success() {
        let (class, _, error) = read_error(state, target, response).await;
        // Not Found, Method Not Allowed or Not Implemented: an upstream that
        // speaks the protocol but serves no counting endpoint (many
        // Anthropic- and OpenAI-compatible servers), like a lane without one.
        // The class stays `classify`'s; only the next step differs.
        let miss = if matches!(status, 404 | 405 | 501) {
            Miss::NoEndpoint(error, Some(class))
        } else {
            Miss::Failed(class, error)
        };
        return (Some(status), Err(miss));
    }
    let (parts, upstream_body) = response.into_parts();
    let read = read_limited(upstream_body, MAX_COUNT_REPLY, state.limits.idle_timeout).await;
    let result = read
        .map(|bytes| (parts, bytes))
        .map_err(|error| Miss::Failed(FailureClass::Network, error));
    (Some(status), result)
}

fn json_reply(body: Vec<u8>) -> Response<Body> {
    let mut reply = Response::new(Body::full(body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}
