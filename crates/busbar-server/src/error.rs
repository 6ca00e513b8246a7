//! Every way a request can fail inside Busbar, and the one place where a
//! failure becomes an HTTP response in the client's own protocol.

use busbar_ir::{ApiError, ErrorKind};
use busbar_protocols::{DecodeError, Protocol};
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::Body;

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
    /// The upstream answered with something that is not its protocol.
    #[error("upstream sent an invalid reply: {0}")]
    BadUpstreamReply(String),
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
            Self::AtCapacity(_) => ApiError::new(ErrorKind::RateLimit, message),
            Self::BudgetExhausted(_) | Self::NoUsableLane { .. } => {
                ApiError::new(ErrorKind::Unavailable, message)
            }
            Self::Upstream(upstream) => upstream.error.clone(),
            Self::Unreachable(_) | Self::BadUpstreamReply(_) => {
                ApiError::new(ErrorKind::BadGateway, message)
            }
            Self::Timeout(_) => ApiError::new(ErrorKind::Timeout, message),
        }
    }

    /// What a client should wait before retrying, when that is known.
    fn retry_after(&self) -> Option<HeaderValue> {
        match self {
            Self::AtCapacity(_) => Some(HeaderValue::from_static("1")),
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
