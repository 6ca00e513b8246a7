//! Every way a request can fail inside Busbar, and the one place where a
//! failure becomes an HTTP response in the client's own protocol.

use busbar_governance::{AdminError, Refusal, StoreError};
use busbar_ir::{ApiError, ErrorKind};
use busbar_protocols::{DecodeError, Protocol};
use http::{header, HeaderValue, Response, StatusCode};

use crate::reply::{store_error, Body};

/// Why Busbar could not serve a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The body is not valid for the ingress protocol.
    #[error("invalid request body: {0}")]
    InvalidBody(#[from] DecodeError),
    /// The body is larger than `limits.max_body_bytes`.
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// Request bodies in flight together already hold
    /// `limits.max_buffered_body_bytes`.
    #[error("the gateway is holding as many request bodies as it may; retry shortly")]
    BodiesOverBudget,
    /// The client stopped sending its body for `limits.body_read_timeout_secs`.
    #[error("no request body bytes arrived for {} s", .after.as_secs())]
    BodyStalled {
        /// The configured timeout.
        after: std::time::Duration,
    },
    /// The request names no model.
    #[error("the request names no model")]
    MissingModel,
    /// No pool or model has that name.
    #[error("model `{0}` does not exist")]
    UnknownModel(String),
    /// No client token, or a wrong one.
    #[error("invalid or missing client token")]
    Unauthorized,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// An HTTP/1.1 request without exactly one `Host` header.
    #[error("an HTTP/1.1 request must carry exactly one Host header")]
    BadHost,
    /// Nothing is served at this path.
    #[error("no route for {0}")]
    NoRoute(String),
    /// Every candidate lane is at its concurrency limit.
    #[error("all lanes for `{0}` are at their max_concurrent limit")]
    AtCapacity(String),
    /// Every candidate lane has spent its `max_requests` budget.
    #[error("all lanes for `{0}` have exhausted their max_requests budget")]
    BudgetExhausted(String),
    /// Every candidate lane is dead, hard-down or held open by its breaker.
    #[error("no usable lane for `{name}`")]
    NoUsableLane {
        /// The pool or model asked for.
        name: String,
        /// When the soonest lane may take traffic again.
        retry_after: Option<std::time::Duration>,
    },
    /// The upstream answered with an error.
    #[error("upstream error: {}", .0.error)]
    Upstream(Box<UpstreamError>),
    /// The upstream could not be reached.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// The upstream did not answer in time.
    #[error("upstream timed out: {0}")]
    Timeout(String),
    /// The credentials to call the lane with could not be had (the AWS
    /// credential chain failed): a failure of class `auth`. Names the lane;
    /// why is in the log.
    #[error("the gateway has no upstream credentials for `{0}` right now")]
    NoCredentials(String),
    /// The upstream answered with something that is not its protocol.
    #[error("upstream sent an invalid reply: {0}")]
    BadUpstreamReply(String),
    /// A Bedrock client's SigV4 signature does not verify.
    #[error("{message}")]
    BadSignature {
        /// AWS's exception: `InvalidSignatureException` (403) or
        /// `IncompleteSignatureException` (400).
        exception: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Governance refused the request: no valid virtual key, a pool the key
    /// may not use, a spent budget, a rate limit, or a store out of reach.
    #[error("{0}")]
    Refused(Refusal),
}

impl GatewayError {
    /// The error as the IR describes it, ready to render in any protocol.
    pub fn to_api_error(&self) -> ApiError {
        let message = self.to_string();
        match self {
            Self::InvalidBody(error) => {
                let api = ApiError::new(ErrorKind::InvalidRequest, message);
                match error.param() {
                    Some(param) => api.with_param(param),
                    None => api,
                }
            }
            Self::BodyTooLarge { .. } => ApiError::new(ErrorKind::RequestTooLarge, message),
            Self::BodiesOverBudget => ApiError::new(ErrorKind::Unavailable, message),
            Self::BodyStalled { .. } => ApiError::new(ErrorKind::Timeout, message).with_status(408),
            Self::MissingModel => {
                ApiError::new(ErrorKind::InvalidRequest, message).with_param("model")
            }
            Self::UnknownModel(_) => {
                ApiError::new(ErrorKind::NotFound, message).with_code("model_not_found")
            }
            Self::Unauthorized => ApiError::new(ErrorKind::Authentication, message),
            Self::MethodNotAllowed => {
                ApiError::new(ErrorKind::InvalidRequest, message).with_status(405)
            }
            Self::NoRoute(_) => ApiError::new(ErrorKind::NotFound, message),
            Self::BadHost => ApiError::new(ErrorKind::InvalidRequest, message),
            Self::AtCapacity(_) => ApiError::new(ErrorKind::RateLimit, message),
            Self::BudgetExhausted(_) | Self::NoUsableLane { .. } => {
                ApiError::new(ErrorKind::Unavailable, message)
            }
            Self::Upstream(upstream) => upstream.error.clone(),
            Self::Unreachable(_) | Self::BadUpstreamReply(_) | Self::NoCredentials(_) => {
                ApiError::new(ErrorKind::BadGateway, message)
            }
            Self::Timeout(_) => ApiError::new(ErrorKind::Timeout, message),
            Self::Refused(refusal) => refusal_error(refusal),
            Self::BadSignature { exception, .. } => {
                ApiError::new(ErrorKind::Authentication, message)
                    .with_code(*exception)
                    .with_status(if exception.starts_with("Incomplete") {
                        400
                    } else {
                        403
                    })
            }
        }
    }

    /// What a client should wait before retrying, when that is known.
    fn retry_after(&self) -> Option<HeaderValue> {
        match self {
            Self::AtCapacity(_) | Self::BodiesOverBudget => Some(HeaderValue::from_static("1")),
            Self::NoUsableLane {
                retry_after: Some(wait),
                ..
            } => {
                // Whole seconds, rounded up, and at least one: a client told
                // to retry after 0 s would hammer a lane that is still open.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Some(HeaderValue::from(seconds.max(1)))
            }
            Self::Upstream(upstream) => upstream.retry_after.clone(),
            Self::Refused(refusal) => refusal.retry_after_secs().map(HeaderValue::from),
            _ => None,
        }
    }

    /// The response a client of `protocol` receives for this error. An
    /// upstream error in the client's own protocol is relayed as it came;
    /// any other is rendered in the client's protocol.
    pub(crate) fn into_response(self, protocol: Protocol) -> Response<Body> {
        let retry_after = self.retry_after();
        let mut response = match self {
            Self::Upstream(upstream)
                if upstream.protocol == protocol && !upstream.body.is_empty() =>
            {
                let status =
                    StatusCode::from_u16(upstream.error.status).unwrap_or(StatusCode::BAD_GATEWAY);
                let mut response = Response::new(Body::full(upstream.body));
                *response.status_mut() = status;
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                if let Some(error_type) = upstream.error_type {
                    headers.insert("x-amzn-errortype", error_type);
                }
                response
            }
            other => {
                let mut error = other.to_api_error();
                // A vendor's own code means nothing in another protocol; the
                // client's encoder picks its own for the error's kind.
                if matches!(&other, Self::Upstream(upstream) if upstream.protocol != protocol) {
                    error.code = None;
                }
                render(protocol, &error)
            }
        };
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A governance refusal as the IR describes it. Each ingress encoder gives
/// the kind its own shape: a bad key is OpenAI's 401 `invalid_api_key`,
/// Gemini's 400 `API_KEY_INVALID`, Bedrock's `UnrecognizedClientException`;
/// a spent budget is OpenAI's 429 `insufficient_quota`, Anthropic's
/// `billing_error`, Bedrock's 400 `ServiceQuotaExceededException`.
fn refusal_error(refusal: &Refusal) -> ApiError {
    let (kind, message) = match refusal {
        Refusal::UnknownKey => (
            ErrorKind::Authentication,
            "a valid virtual key is required (Authorization: Bearer, x-api-key, x-goog-api-key or ?key=)"
                .to_owned(),
        ),
        Refusal::KeyDisabled { .. } => (ErrorKind::Authentication, refusal.to_string()),
        Refusal::NotAllowed { .. } => (ErrorKind::PermissionDenied, refusal.to_string()),
        Refusal::BudgetExhausted { .. } => (ErrorKind::InsufficientQuota, refusal.to_string()),
        Refusal::RateLimited { .. } => (ErrorKind::RateLimit, refusal.to_string()),
        // The store's own words stay in the log: they may name hosts.
        _ => (
            ErrorKind::Unavailable,
            "the governance store is unavailable; try again shortly".to_owned(),
        ),
    };
    // 401 for a key that is unknown or off, 403 for a pool it may not use,
    // 429 for a spent budget or a rate limit, 503 while the store is down
    // (Bedrock clients see their own statuses, from the encoder).
    let status = match refusal {
        Refusal::UnknownKey | Refusal::KeyDisabled { .. } => 401,
        Refusal::NotAllowed { .. } => 403,
        Refusal::BudgetExhausted { .. } | Refusal::RateLimited { .. } => 429,
        _ => 503,
    };
    let error = ApiError::new(kind, message).with_status(status);
    match refusal {
        Refusal::BudgetExhausted { .. } => error.with_code("insufficient_quota"),
        // OpenAI's one code for request and token limits alike; the message
        // names which limit it was.
        Refusal::RateLimited { .. } => error.with_code("rate_limit_exceeded"),
        _ => error,
    }
}

/// An error reply from an upstream.
#[derive(Debug)]
pub struct UpstreamError {
    /// What it means.
    pub error: ApiError,
    /// The upstream's protocol.
    pub protocol: Protocol,
    /// The body as the upstream sent it.
    pub body: bytes::Bytes,
    /// The upstream's `Retry-After`, passed on to the client.
    pub retry_after: Option<HeaderValue>,
    /// The upstream's `x-amzn-errortype` (Bedrock names its errors there),
    /// passed on with a relayed body.
    pub error_type: Option<HeaderValue>,
}

/// Renders an IR error in `protocol`'s error shape and status.
pub(crate) fn render(protocol: Protocol, error: &ApiError) -> Response<Body> {
    let encoded = protocol.encode_error(error);
    let status = StatusCode::from_u16(encoded.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(Body::full(encoded.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(name) = encoded.error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(name));
    }
    response
}

/// An admin API failure. The admin API speaks its own JSON rather than a
/// vendor's: `{"error": "…"}` with 400, 401 (and `WWW-Authenticate`), 404,
/// 500, or 503 while the store is unavailable.
pub(crate) fn admin_response(error: &AdminError) -> Response<Body> {
    let status = match error {
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        AdminError::Unauthorized | AdminError::Disabled => StatusCode::UNAUTHORIZED,
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        AdminError::Store(_) | AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if matches!(error, AdminError::Store(_)) {
        tracing::warn!(%error, "admin API: governance store failed");
        store_error("admin");
    }
    let mut response = admin_json(status, &error.to_string());
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// 405 from the admin API, naming the methods `allow`ed.
pub(crate) fn admin_method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = admin_json(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed; use {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn admin_json(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration cannot be served (a protocol not supported yet, an
    /// upstream URL that does not parse, …).
    #[error("{0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// Governance is on and its store could not be opened.
    #[error(transparent)]
    Governance(#[from] busbar_governance::OpenError),
    /// The request log's file could not be opened, or its sink started.
    #[error("request log: {0}")]
    RequestLog(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use busbar_governance::RateLimit;

    fn render(refusal: Refusal, protocol: Protocol) -> (u16, serde_json::Value, Option<String>) {
        let response = GatewayError::Refused(refusal).into_response(protocol);
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let retry = header("retry-after");
        let error_type = header("x-amzn-errortype");
        let body = {
            use futures_util::FutureExt as _;
            use http_body_util::BodyExt as _;
            let collected = response.into_body().collect().now_or_never();
            collected
                .and_then(Result::ok)
                .map(|c| c.to_bytes())
                .unwrap_or_default()
        };
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, json, retry.or(error_type))
    }

    #[test]
    fn admin_errors_have_their_statuses_and_an_error_object() {
        let cases = [
            (AdminError::Invalid("name is required".into()), 400),
            (AdminError::NotFound("vk_1".into()), 404),
            (AdminError::Unauthorized, 401),
            (AdminError::Disabled, 401),
            (
                AdminError::Store(StoreError::Unavailable("down".into())),
                503,
            ),
            (AdminError::Store(StoreError::Backend("oops".into())), 500),
        ];
        for (error, status) in cases {
            let response = admin_response(&error);
            assert_eq!(response.status().as_u16(), status, "{error}");
            assert_eq!(
                response.headers().contains_key(header::WWW_AUTHENTICATE),
                status == 401
            );
        }
        let refused = admin_method_not_allowed("GET");
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers()[header::ALLOW], "GET");
    }

    fn budget() -> Refusal {
        Refusal::BudgetExhausted {
            key_id: "vk_0123456789abcdef".into(),
            period: "total",
        }
    }

    #[test]
    fn a_bad_key_is_each_protocols_authentication_error() {
        let (status, body, _) = render(Refusal::UnknownKey, Protocol::OpenAi);
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "invalid_api_key");
        let (status, body, _) = render(Refusal::UnknownKey, Protocol::Anthropic);
        assert_eq!(
            (status, &body["error"]["type"]),
            (401, &"authentication_error".into())
        );
        let (status, body, _) = render(Refusal::UnknownKey, Protocol::Gemini);
        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");
        let (status, _, error_type) = render(Refusal::UnknownKey, Protocol::Bedrock);
        assert_eq!(status, 403);
        assert_eq!(error_type.as_deref(), Some("UnrecognizedClientException"));
    }

    #[test]
    fn a_spent_budget_is_insufficient_quota_and_bedrocks_quota_exception() {
        let (status, body, _) = render(budget(), Protocol::OpenAi);
        assert_eq!(status, 429);
        assert_eq!(body["error"]["type"], "insufficient_quota");
        assert_eq!(body["error"]["code"], "insufficient_quota");
        let (status, _, error_type) = render(budget(), Protocol::Bedrock);
        assert_eq!(status, 400);
        assert_eq!(error_type.as_deref(), Some("ServiceQuotaExceededException"));
    }

    #[test]
    fn rate_limits_carry_retry_after_and_others_are_forbidden_or_unavailable() {
        let limited = Refusal::RateLimited {
            key_id: "vk_0123456789abcdef".into(),
            limit: RateLimit::Requests,
            limit_value: 2,
            retry_after_secs: 7,
        };
        let (status, body, retry) = render(limited, Protocol::OpenAi);
        assert_eq!((status, retry.as_deref()), (429, Some("7")));
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        let not_allowed = Refusal::NotAllowed {
            key_id: "vk_0123456789abcdef".into(),
            target: "slow".into(),
        };
        assert_eq!(render(not_allowed, Protocol::Anthropic).0, 403);
        let down = Refusal::StoreUnavailable {
            reason: "db.internal:5432 refused".into(),
        };
        let (status, body, _) = render(down, Protocol::OpenAi);
        assert_eq!(status, 503);
        assert!(!body.to_string().contains("db.internal"), "{body}");
    }
}
