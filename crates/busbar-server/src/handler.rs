//! The front door: request ids, routing to a handler, authentication, and
//! the operational endpoints.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use busbar_protocols::Protocol;
use http::{header, HeaderMap, HeaderValue, Request, Response, Version};
use hyper::body::Incoming;

use crate::error::GatewayError;
use crate::ingress::auth::{self, caller};
use crate::ingress::routes::{self, Ingress, Route};
use crate::ingress::{read_request_body, BodyLimits, Inbound};
use crate::ops::{admin, stats};
use crate::proxy;
use crate::record::{Kind, Outcome, Record, Replied, DROPPED_HEADER};
use crate::reply::Body;
use crate::state::State;
use crate::trace::Trace;

/// Serves one request from `client`. Never fails: every error becomes a
/// response.
pub(crate) async fn handle(
    state: &State,
    request: Request<Incoming>,
    client: SocketAddr,
) -> Response<Body> {
    let request_id = request_id(request.headers());
    let route = routes::route(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request
    // without a Host header or with more than one.
    if request.version() == Version::HTTP_11
        && request.headers().get_all(header::HOST).iter().count() != 1
    {
        let mut response = GatewayError::BadHost.into_response(route.protocol());
        response.headers_mut().insert("x-request-id", request_id);
        return response;
    }
    let mut response = match route {
        Route::Healthz => stats::healthz(state),
        Route::Stats => match caller(state, &request).await {
            Ok(caller) => stats::stats(state, &caller),
            Err(error) => error.into_response(Protocol::OpenAi),
        },
        Route::Metrics => match caller(state, &request).await {
            Ok(_) => stats::metrics(state),
            Err(error) => error.into_response(Protocol::OpenAi),
        },
        Route::Models(protocol) => match caller(state, &request).await {
            Ok(caller) => stats::models(state, &caller, protocol),
            Err(error) => error.into_response(protocol),
        },
        Route::Admin(path) => admin::handle(state, path, request).await,
        Route::Proxy(ingress) => {
            let asked = Asked {
                ingress,
                work: Work::Generate,
                request_id: request_id.clone(),
                client,
            };
            proxied(state, asked, request).await
        }
        Route::Count(ingress) => {
            let asked = Asked {
                ingress,
                work: Work::Count,
                request_id: request_id.clone(),
                client,
            };
            proxied(state, asked, request).await
        }
        Route::MethodNotAllowed { protocol } => {
            GatewayError::MethodNotAllowed.into_response(protocol)
        }
        Route::NoEndpoint { protocol } => {
            GatewayError::NoRoute(request.uri().path().to_owned()).into_response(protocol)
        }
        Route::NotFound => {
            GatewayError::NoRoute(request.uri().path().to_owned()).into_response(Protocol::OpenAi)
        }
    };
    response.headers_mut().insert("x-request-id", request_id);
    response
}

/// What a model route asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// A reply.
    Generate,
    /// The prompt's token count.
    Count,
}

/// A model request as routed: what it asks, and who asks.
struct Asked {
    ingress: Ingress,
    work: Work,
    request_id: HeaderValue,
    client: SocketAddr,
}

/// A model route: authenticated like any, then generated or counted, and
/// its record (when the request log is on) sent along with the reply.
async fn proxied(state: &State, asked: Asked, request: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    // A header value of visible ASCII (see `request_id`).
    let request_id = asked.request_id.to_str().unwrap_or_default();
    let mut record = state.request_log.as_ref().map(|log| {
        log.open(
            started,
            request_id,
            asked.client,
            asked.ingress.protocol,
            match asked.work {
                Work::Generate => Kind::Generate,
                Work::Count => Kind::CountTokens,
            },
            request.uri().path(),
        )
    });
    // Token counts are not traced: they are not generations.
    let mut trace = match (&state.tracer, asked.work) {
        (Some(tracer), Work::Generate) => {
            Some(tracer.request(request.headers(), asked.ingress.protocol, request_id))
        }
        _ => None,
    };
    let http1 = request.version() < Version::HTTP_2;
    let (protocol, work) = (asked.ingress.protocol, asked.work);
    let mut pool = "unresolved";
    let (result, close) = serve(state, asked, request, &mut pool, &mut record, &mut trace).await;
    let response = reply(protocol, work, started, pool, result, record);
    // Still here: no reply took the spans, so the request failed.
    if let Some(trace) = trace {
        trace.failed(response.status().as_u16());
    }
    closing(response, close && http1)
}

/// Authenticates, reads the body and proxies or counts; returns the result
/// and whether the connection must close.
async fn serve<'s>(
    state: &'s State,
    asked: Asked,
    request: Request<Incoming>,
    pool: &mut &'s str,
    record: &mut Option<Box<Record>>,
    trace: &mut Option<Box<Trace>>,
) -> (Result<Response<Body>, GatewayError>, bool) {
    let Asked {
        ingress,
        work,
        request_id,
        ..
    } = asked;
    let protocol = ingress.protocol;
    let proof = match auth::proof(state, &request, protocol) {
        Ok(proof) => proof,
        Err(error) => return (Err(error), false),
    };
    // Everything the headers can prove is checked before the body is read:
    // a caller who will be refused costs no body.
    let proof = match auth::precheck(state, proof).await {
        Ok(proof) => proof,
        Err(error) => return (Err(error), false),
    };
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let limit = state.limits.max_body_bytes;
    let result = if declared.is_some_and(|length| length > limit) {
        Err(GatewayError::BodyTooLarge { limit })
    } else {
        let limits = BodyLimits {
            per_request: limit,
            stall: state.limits.body_read_timeout,
            buffered: state.limits.max_buffered_body_bytes,
            budget: &state.bodies,
        };
        match read_request_body(body, limits).await {
            Ok((body, buffered)) => match auth::verify(state, proof, &parts, &body).await {
                Ok(verified) => {
                    if let Some(record) = record.as_deref_mut() {
                        record.request_body(&body);
                    }
                    let inbound = Inbound {
                        ingress,
                        headers: parts.headers,
                        body,
                        client_credential: verified.client_credential,
                        virtual_key: verified.virtual_key,
                        request_id,
                        _buffered: buffered,
                    };
                    match work {
                        Work::Generate => proxy::proxy(state, inbound, pool, record, trace).await,
                        Work::Count => {
                            proxy::count(state, inbound, pool, record.as_deref_mut()).await
                        }
                    }
                }
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        }
    };
    // A stalled body is abandoned half-read: the connection cannot carry
    // another request, and the client is told so.
    let close = matches!(result, Err(GatewayError::BodyStalled { .. }));
    (result, close)
}

/// The response for `result`, counted in the metrics, with the request's
/// record riding in its body.
fn reply(
    protocol: Protocol,
    work: Work,
    started: Instant,
    pool: &str,
    result: Result<Response<Body>, GatewayError>,
    record: Option<Box<Record>>,
) -> Response<Body> {
    if work == Work::Count {
        // Counts are not generation requests: they have their own counter.
        let source = match &result {
            Ok(response) => response
                .headers()
                .get(proxy::SOURCE_HEADER)
                .and_then(|value| value.to_str().ok())
                .map_or("upstream", |value| {
                    if value == "estimate" {
                        "estimate"
                    } else {
                        "upstream"
                    }
                }),
            Err(_) => "error",
        };
        metrics::counter!(
            "busbar_token_counts_total",
            "ingress_protocol" => protocol.name(),
            "pool" => pool.to_owned(),
            "source" => source
        )
        .increment(1);
        return respond(protocol, result, pool, record).0;
    }
    let (response, outcome) = respond(protocol, result, pool, record);
    let outcome = match outcome {
        Outcome::Success => "success",
        Outcome::UpstreamError => "upstream_error",
        _ => "error",
    };
    metrics::counter!(
        "busbar_requests_total",
        "ingress_protocol" => protocol.name(),
        "pool" => pool.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        "busbar_request_duration_seconds",
        "ingress_protocol" => protocol.name(),
        "pool" => pool.to_owned()
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The response for `result` and how it went, with `record` filled in and
/// riding in its body.
fn respond(
    protocol: Protocol,
    result: Result<Response<Body>, GatewayError>,
    pool: &str,
    record: Option<Box<Record>>,
) -> (Response<Body>, Outcome) {
    let (response, outcome, error) = match result {
        Ok(response) => (response, Outcome::Success, None),
        Err(error) => {
            let outcome = if matches!(error, GatewayError::Upstream(_)) {
                Outcome::UpstreamError
            } else {
                Outcome::Error
            };
            let message = record.as_ref().map(|_| error.to_string());
            (error.into_response(protocol), outcome, message)
        }
    };
    let status = response.status().as_u16();
    let (parts, mut body) = response.into_parts();
    body.carry(record);
    if let Some(record) = body.record_mut() {
        record.replied(Replied {
            status,
            outcome,
            pool,
            error,
            dropped: parts
                .headers
                .get(&DROPPED_HEADER)
                .and_then(|value| value.to_str().ok()),
        });
    }
    (Response::from_parts(parts, body), outcome)
}

/// `response`, with `Connection: close` when `close` (HTTP/1 only: HTTP/2
/// forbids the header and ends just the stream).
fn closing(mut response: Response<Body>, close: bool) -> Response<Body> {
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The client's `x-request-id` when it is a sane header value, else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(value) = headers.get("x-request-id") {
        let bytes = value.as_bytes();
        if !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic()) {
            return value.clone();
        }
    }
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos()),
        );
        hasher.finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_str(&format!("req_{prefix:016x}{n:08x}"))
        .expect("hex is a valid header value")
}
