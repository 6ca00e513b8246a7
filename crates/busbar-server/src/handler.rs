//! The front door: request ids, routing to a handler, authentication, and
//! the operational endpoints.

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
use crate::reply::Body;
use crate::state::State;

/// Serves one request. Never fails: every error becomes a response.
pub(crate) async fn handle(state: &State, request: Request<Incoming>) -> Response<Body> {
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
            proxied(state, ingress, Work::Generate, request, request_id.clone()).await
        }
        Route::Count(ingress) => {
            proxied(state, ingress, Work::Count, request, request_id.clone()).await
        }
        Route::MethodNotAllowed { protocol } => {
            GatewayError::MethodNotAllowed.into_response(protocol)
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

/// A model route: authenticated like any, then generated or counted.
async fn proxied(
    state: &State,
    ingress: Ingress,
    work: Work,
    request: Request<Incoming>,
    request_id: HeaderValue,
) -> Response<Body> {
    let protocol = ingress.protocol;
    let started = Instant::now();
    // Token counts are not traced: they are not generations.
    let mut trace = match (&state.tracer, work) {
        (Some(tracer), Work::Generate) => {
            Some(tracer.request(request.headers(), protocol, &request_id))
        }
        _ => None,
    };
    let http1 = request.version() < Version::HTTP_2;
    let proof = match auth::proof(state, &request, protocol) {
        Ok(proof) => proof,
        Err(error) => return error.into_response(protocol),
    };
    // Everything the headers can prove is checked before the body is read:
    // a caller who will be refused costs no body.
    let proof = match auth::precheck(state, proof).await {
        Ok(proof) => proof,
        Err(error) => return error.into_response(protocol),
    };
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let limit = state.limits.max_body_bytes;
    let mut pool = "unresolved";
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
                        Work::Generate => proxy::proxy(state, inbound, &mut pool, &mut trace).await,
                        Work::Count => proxy::count(state, inbound, &mut pool).await,
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
        let response = result.unwrap_or_else(|error| error.into_response(protocol));
        return closing(response, close && http1);
    }
    let (response, outcome) = match result {
        Ok(response) => (response, "success"),
        Err(error) => {
            let outcome = if matches!(error, GatewayError::Upstream(_)) {
                "upstream_error"
            } else {
                "error"
            };
            (error.into_response(protocol), outcome)
        }
    };
    // Still here: no reply took the spans, so the request failed.
    if let Some(trace) = trace {
        trace.failed(response.status().as_u16());
    }
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
    closing(response, close && http1)
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
