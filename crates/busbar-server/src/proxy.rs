//! Proxying one model request: read, route, translate, call the upstream,
//! and relay or translate the reply.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use busbar_ir::ErrorKind;
use busbar_protocols::{DecodedRequest, Protocol, RequestOptions, StreamOptions};
use busbar_routing::{AcquireError, Outcome, Permit};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::body::Body;
use crate::error::{GatewayError, UpstreamError};
use crate::ingress::Ingress;
use crate::peek::Peeked;
use crate::state::{State, Target};

/// The largest upstream error or complete reply body Busbar reads whole.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// The request as it came in.
pub(crate) struct Inbound {
    /// The protocol and what the URL says.
    pub(crate) ingress: Ingress,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The caller's own credential, for `auth.mode: passthrough`.
    pub(crate) client_credential: Option<String>,
    /// This request's `x-request-id`, which also names replies whose
    /// upstream format gives them no id.
    pub(crate) request_id: HeaderValue,
}

impl Inbound {
    /// An id for a reply whose upstream gave it none.
    fn fallback_reply_id(&self) -> String {
        format!("busbar-{}", self.request_id.to_str().unwrap_or("reply"))
    }
}

impl Inbound {
    pub(crate) fn protocol(&self) -> Protocol {
        self.ingress.protocol
    }
}

/// What a successful attempt produced.
struct Reply {
    response: Response<Body>,
}

/// Serves one model request end to end. `pool` is set to the configured
/// name the request resolved to, for metric labels.
pub(crate) async fn proxy<'s>(
    state: &'s State,
    inbound: Inbound,
    pool: &mut &'s str,
) -> Result<Response<Body>, GatewayError> {
    let peeked = Peeked::parse(&inbound.body)?;
    let name = match &inbound.ingress.name {
        Some(name) => name.clone(),
        None => peeked.model()?.ok_or(GatewayError::MissingModel)?,
    };
    let route = state
        .resolve(&name)
        .ok_or_else(|| GatewayError::UnknownModel(name.clone()))?;
    *pool = route.name();
    let candidates = route.candidates();
    let stream = inbound.ingress.stream.unwrap_or_else(|| peeked.stream());
    // Decoded lazily: a same-protocol hop never needs the IR.
    let mut decoded: Option<DecodedRequest> = None;
    let mut last_error: Option<GatewayError> = None;
    let mut refusals = Refusals::default();
    let mut attempts_left = state.attempt_cap(&name);
    for lane_id in candidates {
        if attempts_left == 0 {
            break;
        }
        let permit = match route.try_acquire(lane_id) {
            Ok(permit) => permit,
            Err(refusal) => {
                refusals.note(refusal);
                continue;
            }
        };
        attempts_left -= 1;
        let target = state.target(lane_id);
        let lane = target.lane_name_str();
        metrics::counter!("busbar_upstream_attempts_total", "pool" => (*pool).to_owned(), "lane" => lane.to_owned())
            .increment(1);
        let attempt = attempt(
            state,
            &inbound,
            &peeked,
            &mut decoded,
            stream,
            target,
            permit,
        )
        .await;
        let failed = |disposition: &'static str| {
            metrics::counter!(
                "busbar_upstream_failures_total",
                "pool" => (*pool).to_owned(),
                "lane" => lane.to_owned(),
                "disposition" => disposition
            )
            .increment(1);
        };
        match attempt {
            Ok(reply) => return Ok(reply.response),
            Err(Failure::Final(error)) => {
                if matches!(error, GatewayError::Upstream(_)) {
                    failed("returned");
                }
                return Err(error);
            }
            Err(Failure::Retryable(error)) => {
                failed("failover");
                tracing::debug!(lane, %error, "attempt failed; trying the next lane");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| refusals.into_error(name)))
}

/// Why candidate lanes refused a request before any was tried.
#[derive(Default)]
struct Refusals {
    saturated: bool,
    no_budget: bool,
}

impl Refusals {
    fn note(&mut self, refusal: AcquireError) {
        match refusal {
            AcquireError::Saturated => self.saturated = true,
            AcquireError::NoBudget => self.no_budget = true,
            _ => {}
        }
    }

    /// A busy lane is worth retrying soon (429); a spent budget or a dead
    /// lane is not (503).
    fn into_error(self, name: String) -> GatewayError {
        if self.saturated {
            GatewayError::AtCapacity(name)
        } else if self.no_budget {
            GatewayError::BudgetExhausted(name)
        } else {
            GatewayError::NoUsableLane(name)
        }
    }
}

/// How an attempt on one lane failed.
enum Failure {
    /// Another lane may succeed.
    Retryable(GatewayError),
    /// Return this to the client now.
    Final(GatewayError),
}

async fn attempt(
    state: &State,
    inbound: &Inbound,
    peeked: &Peeked<'_>,
    decoded: &mut Option<DecodedRequest>,
    stream: bool,
    target: &Target,
    permit: Permit,
) -> Result<Reply, Failure> {
    let protocol = inbound.protocol();
    let same_protocol = target.protocol == protocol;
    let (body, dropped) = if same_protocol {
        let body = if protocol.model_in_body() {
            peeked.with_model(&target.model_id)
        } else {
            inbound.body.to_vec()
        };
        (body, Vec::new())
    } else {
        if decoded.is_none() {
            let mut fresh = protocol
                .decode_request(&inbound.body)
                .map_err(|error| Failure::Final(error.into()))?;
            if let Some(name) = &inbound.ingress.name {
                fresh.request.model.clone_from(name);
            }
            fresh.request.stream = stream;
            *decoded = Some(fresh);
        }
        let DecodedRequest {
            request,
            unsupported,
            ..
        } = decoded.as_ref().expect("decoded above");
        let mut options = RequestOptions::new(target.model_id.clone());
        options.default_max_tokens = target.default_max_tokens;
        let encoded = target.protocol.encode_request(request, &options);
        metrics::counter!(
            "busbar_translations_total",
            "from" => protocol.name(),
            "to" => target.protocol.name()
        )
        .increment(1);
        let mut dropped = unsupported.clone();
        dropped.extend(
            encoded
                .dropped
                .iter()
                .filter(|name| !unsupported.contains(name)),
        );
        (encoded.body, dropped)
    };
    let upstream_request = target
        .build_request(body, stream, same_protocol, inbound)
        .map_err(Failure::Final)?;
    let sent = tokio::time::timeout(
        state.limits.first_byte_timeout,
        state.client.request(upstream_request),
    )
    .await;
    let response = match sent {
        Err(_) => {
            permit.finish(Outcome::Failure);
            return Err(Failure::Retryable(GatewayError::Timeout(format!(
                "no response from `{}` within {} s",
                target.lane_name_str(),
                state.limits.first_byte_timeout.as_secs()
            ))));
        }
        Ok(Err(error)) => {
            permit.finish(Outcome::Failure);
            return Err(Failure::Retryable(GatewayError::Unreachable(format!(
                "`{}`: {}",
                target.lane_name_str(),
                describe(&error)
            ))));
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if !status.is_success() {
        return Err(upstream_failure(state, target, permit, response).await);
    }
    let guard = crate::guard::Guard::charged(permit);
    let (parts, upstream_body) = response.into_parts();
    // Gemini clients that asked for a JSON-array stream get one even from a
    // Gemini upstream, which Busbar always asks for Server-Sent Events.
    let relay_reply = same_protocol && !inbound.ingress.json_array;
    let mut reply = if relay_reply {
        let watched = stream.then_some(protocol);
        let mut reply = Response::new(Body::relay(
            upstream_body,
            guard,
            state.limits.idle_timeout,
            watched,
        ));
        *reply.status_mut() = parts.status;
        copy_end_to_end_headers(&parts.headers, reply.headers_mut());
        reply
    } else if stream {
        let created = unix_now();
        let mut options = StreamOptions::new(created);
        options.include_usage = decoded.as_ref().is_some_and(|d| d.request.stream_usage);
        options.json_array = inbound.ingress.json_array;
        let body = Body::translated(
            upstream_body,
            target.protocol.stream_decoder(),
            protocol.stream_encoder(&options),
            guard,
            state.limits.idle_timeout,
            target.model_id.clone(),
            inbound.fallback_reply_id(),
        );
        let mut reply = Response::new(body);
        let headers = reply.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(protocol.stream_content_type(&options)),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        reply
    } else {
        translate_complete(
            inbound,
            target,
            upstream_body,
            guard,
            state.limits.idle_timeout,
        )
        .await?
    };
    let headers = reply.headers_mut();
    headers.insert("x-busbar-model", target.lane_name.clone());
    if !dropped.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&dropped.join(", ")) {
            headers.insert("x-busbar-dropped", value);
        }
    }
    Ok(Reply { response: reply })
}

/// Reads a complete upstream reply and re-encodes it for the client.
async fn translate_complete(
    inbound: &Inbound,
    target: &Target,
    upstream_body: Incoming,
    mut guard: crate::guard::Guard,
    idle: Duration,
) -> Result<Response<Body>, Failure> {
    let bytes = match read_limited(upstream_body, MAX_UPSTREAM_BODY, idle).await {
        Ok(bytes) => bytes,
        Err(error) => {
            guard.body_failed();
            return Err(Failure::Retryable(error));
        }
    };
    let mut decoded = match target.protocol.decode_response(&bytes) {
        Ok(response) => response,
        Err(error) => {
            guard.body_failed();
            return Err(Failure::Retryable(GatewayError::BadUpstreamReply(format!(
                "`{}`: {error}",
                target.lane_name_str()
            ))));
        }
    };
    guard.body_complete();
    if decoded.model.is_empty() {
        decoded.model.clone_from(&target.model_id);
    }
    if decoded.id.is_empty() {
        decoded.id = inbound.fallback_reply_id();
    }
    let encoded = inbound.protocol().encode_response(&decoded, unix_now());
    let mut reply = Response::new(Body::full(encoded.body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(reply)
}

/// Turns a non-2xx upstream reply into the client's error, deciding whether
/// another lane should be tried.
async fn upstream_failure(
    state: &State,
    target: &Target,
    permit: Permit,
    response: Response<Incoming>,
) -> Failure {
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    let bytes = read_limited(body, 1024 * 1024, state.limits.idle_timeout)
        .await
        .unwrap_or_default();
    let error_type = parts
        .headers
        .get("x-amzn-errortype")
        .and_then(|value| value.to_str().ok());
    let mut error = target.protocol.decode_error(status, &bytes, error_type);
    error.status = status;
    let retryable = matches!(
        error.kind,
        ErrorKind::RateLimit
            | ErrorKind::Overloaded
            | ErrorKind::Unavailable
            | ErrorKind::Server
            | ErrorKind::Timeout
            | ErrorKind::BadGateway
    );
    permit.finish(if retryable {
        Outcome::Failure
    } else {
        Outcome::ClientFault
    });
    tracing::debug!(lane = target.lane_name_str(), status, kind = ?error.kind, "upstream answered with an error");
    let gateway = GatewayError::Upstream(Box::new(UpstreamError {
        error,
        protocol: target.protocol,
        body: bytes,
        retry_after: parts.headers.get(header::RETRY_AFTER).cloned(),
    }));
    if retryable {
        Failure::Retryable(gateway)
    } else {
        Failure::Final(gateway)
    }
}

async fn read_limited(body: Incoming, limit: usize, idle: Duration) -> Result<Bytes, GatewayError> {
    match tokio::time::timeout(idle, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(GatewayError::BadUpstreamReply(error.to_string())),
        Err(_) => Err(GatewayError::Timeout("upstream body stalled".into())),
    }
}

/// Copies the upstream's response headers except hop-by-hop ones and those
/// Busbar sets itself.
fn copy_end_to_end_headers(from: &HeaderMap, to: &mut HeaderMap) {
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

fn describe(error: &hyper_util::client::legacy::Error) -> String {
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
