//! Anthropic error bodies: `{"type":"error","error":{"type","message"}}`.
//!
//! The same object arrives as an HTTP error body and as the data of an
//! `event: error` frame inside a 200 stream.
//!
//! Choices where Anthropic has no exact counterpart of an [`ErrorKind`]:
//! [`ErrorKind::InsufficientQuota`] is a `billing_error` sent with the
//! error's own status (402 from Anthropic, 429 when OpenAI reported it);
//! [`ErrorKind::Unavailable`] is an `overloaded_error` keeping its 503, which
//! the SDK retries like any 5xx; [`ErrorKind::Overloaded`] is always 529, the
//! status the SDK turns into its `OverloadedError`; [`ErrorKind::BadGateway`]
//! is an `api_error`.

use busbar_ir::{ApiError, ErrorKind};
use serde::{Deserialize, Serialize};

/// The longest message taken from a body that is not an Anthropic error
/// object (an HTML page from a proxy, say), in bytes.
const MAX_RAW_MESSAGE: usize = 512;

/// Reads an error reply. Never fails: a body that is not an Anthropic error
/// object gives a kind from `status` and the body's text as message.
pub fn decode(status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error: Some(object),
            message,
        }) => from_object(object.kind.as_deref(), object.message.or(message), status),
        Ok(Envelope {
            error: None,
            message: Some(message),
        }) => from_object(None, Some(message), status),
        _ => from_raw(status, body),
    }
}

/// Renders `error` for an Anthropic client: the status and the body.
pub fn encode(error: &ApiError) -> (u16, Vec<u8>) {
    let body = Body::new(error);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (status_for(error), bytes)
}

/// The IR error for the `error` object of an `event: error` frame. A stream
/// error comes with a 200, so the status is the one Anthropic uses for the
/// error's type.
pub(crate) fn from_stream_data(data: &str) -> ApiError {
    match serde_json::from_str::<Envelope>(data) {
        Ok(Envelope {
            error: Some(object),
            ..
        }) => {
            let status = object.kind.as_deref().map_or(500, status_for_type);
            from_object(object.kind.as_deref(), object.message, status)
        }
        _ => from_raw(500, data.as_bytes()),
    }
}

/// Body of an error in the shape Anthropic sends, ready to serialise (also
/// the data of an `event: error` frame).
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Object<'a>,
}

#[derive(Debug, Serialize)]
struct Object<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

impl<'a> Body<'a> {
    pub(crate) fn new(error: &'a ApiError) -> Self {
        Self {
            kind: "error",
            error: Object {
                kind: type_for(error.kind),
                message: &error.message,
            },
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Option<WireObject>,
    /// Some proxies in front of Anthropic answer `{"message": …}`.
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireObject {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn from_object(kind: Option<&str>, message: Option<String>, status: u16) -> ApiError {
    let message = message.unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    let kind_ir = match kind {
        Some("invalid_request_error") if is_context_length(&message) => ErrorKind::ContextLength,
        Some("invalid_request_error") => ErrorKind::InvalidRequest,
        Some("authentication_error") => ErrorKind::Authentication,
        Some("billing_error") => ErrorKind::InsufficientQuota,
        Some("permission_error") => ErrorKind::PermissionDenied,
        Some("not_found_error") => ErrorKind::NotFound,
        Some("request_too_large") => ErrorKind::RequestTooLarge,
        Some("rate_limit_error") => ErrorKind::RateLimit,
        Some("timeout_error") => ErrorKind::Timeout,
        // Anthropic sends it with 529; a 503 is how Busbar renders an
        // unavailable upstream, so reading it back keeps that kind.
        Some("overloaded_error") if status == 503 => ErrorKind::Unavailable,
        Some("overloaded_error") => ErrorKind::Overloaded,
        // `api_error` is Anthropic's catch-all for its own failures; the
        // status says more (a 503 is unavailability, not a bug).
        Some("api_error") if status >= 500 => ErrorKind::from_status(status),
        Some("api_error") => ErrorKind::Server,
        _ if status == 400 && is_context_length(&message) => ErrorKind::ContextLength,
        _ => ErrorKind::from_status(status),
    };
    let mut error = ApiError::new(kind_ir, message).with_status(status);
    if let Some(kind) = kind {
        error = error.with_code(kind);
    }
    error
}

fn from_raw(status: u16, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        truncate(text, MAX_RAW_MESSAGE).to_owned()
    };
    ApiError::new(ErrorKind::from_status(status), message).with_status(status)
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Anthropic's 400 for an overlong prompt: "prompt is too long: N tokens > M maximum".
fn is_context_length(message: &str) -> bool {
    message.starts_with("prompt is too long")
}

/// The Anthropic error `type` for an IR kind.
fn type_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::ContextLength => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::InsufficientQuota => "billing_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "overloaded_error",
        _ => "api_error",
    }
}

/// The status Anthropic sends with an error `type`.
fn status_for_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// The status to send: the error's own, unless it is no error status or the
/// kind has a status of its own in Anthropic's protocol.
fn status_for(error: &ApiError) -> u16 {
    match error.kind {
        ErrorKind::Overloaded => 529,
        _ if (400..=599).contains(&error.status) => error.status,
        ErrorKind::InsufficientQuota => 402,
        kind => kind.default_status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, message: &str) -> Vec<u8> {
        format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}},"request_id":"req_011"}}"#)
            .into_bytes()
    }

    #[test]
    fn every_anthropic_type_decodes_to_its_kind() {
        for (status, kind, expected) in [
            (400, "invalid_request_error", ErrorKind::InvalidRequest),
            (401, "authentication_error", ErrorKind::Authentication),
            (402, "billing_error", ErrorKind::InsufficientQuota),
            (403, "permission_error", ErrorKind::PermissionDenied),
            (404, "not_found_error", ErrorKind::NotFound),
            (413, "request_too_large", ErrorKind::RequestTooLarge),
            (429, "rate_limit_error", ErrorKind::RateLimit),
            (500, "api_error", ErrorKind::Server),
            (503, "api_error", ErrorKind::Unavailable),
            (504, "timeout_error", ErrorKind::Timeout),
            (529, "overloaded_error", ErrorKind::Overloaded),
        ] {
            let error = decode(status, &body(kind, "boom"));
            assert_eq!(error.kind, expected, "{kind}");
            assert_eq!(error.status, status);
            assert_eq!(error.code.as_deref(), Some(kind));
            assert_eq!(error.message, "boom");
        }
    }

    #[test]
    fn an_overlong_prompt_is_a_context_length_error() {
        let error = decode(
            400,
            &body(
                "invalid_request_error",
                "prompt is too long: 208310 tokens > 200000 maximum",
            ),
        );
        assert_eq!(error.kind, ErrorKind::ContextLength);
        let (status, bytes) = encode(&error);
        assert_eq!(status, 400);
        assert!(String::from_utf8(bytes)
            .unwrap()
            .contains("invalid_request_error"));
    }

    #[test]
    fn a_body_that_is_not_an_error_object_keeps_its_text() {
        let html = format!("<html>{}</html>", "x".repeat(2000));
        let error = decode(502, html.as_bytes());
        assert_eq!(error.kind, ErrorKind::BadGateway);
        assert_eq!(error.status, 502);
        assert_eq!(error.message.len(), MAX_RAW_MESSAGE);
        assert!(error.message.starts_with("<html>"));
        let empty = decode(503, b"");
        assert_eq!(empty.kind, ErrorKind::Unavailable);
        assert_eq!(empty.message, "upstream returned HTTP 503");
        let multibyte = "é".repeat(600);
        assert!(decode(500, multibyte.as_bytes()).message.len() <= MAX_RAW_MESSAGE);
        let proxy = decode(429, br#"{"message":"slow down"}"#);
        assert_eq!(
            (proxy.kind, proxy.message.as_str()),
            (ErrorKind::RateLimit, "slow down")
        );
    }

    #[test]
    fn encoding_uses_anthropic_types_and_statuses() {
        let cases = [
            (
                ApiError::new(ErrorKind::InvalidRequest, "m"),
                400,
                "invalid_request_error",
            ),
            (
                ApiError::new(ErrorKind::Authentication, "m"),
                401,
                "authentication_error",
            ),
            (
                ApiError::new(ErrorKind::InsufficientQuota, "m"),
                429,
                "billing_error",
            ),
            (
                ApiError::new(ErrorKind::InsufficientQuota, "m").with_status(402),
                402,
                "billing_error",
            ),
            (
                ApiError::new(ErrorKind::PermissionDenied, "m"),
                403,
                "permission_error",
            ),
            (
                ApiError::new(ErrorKind::NotFound, "m"),
                404,
                "not_found_error",
            ),
            (
                ApiError::new(ErrorKind::RequestTooLarge, "m"),
                413,
                "request_too_large",
            ),
            (
                ApiError::new(ErrorKind::RateLimit, "m"),
                429,
                "rate_limit_error",
            ),
            (ApiError::new(ErrorKind::Server, "m"), 500, "api_error"),
            (ApiError::new(ErrorKind::BadGateway, "m"), 502, "api_error"),
            (
                ApiError::new(ErrorKind::Unavailable, "m"),
                503,
                "overloaded_error",
            ),
            (
                ApiError::new(ErrorKind::Overloaded, "m"),
                529,
                "overloaded_error",
            ),
            (ApiError::new(ErrorKind::Timeout, "m"), 504, "timeout_error"),
            (
                ApiError::new(ErrorKind::Server, "m").with_status(200),
                500,
                "api_error",
            ),
        ];
        for (error, status, kind) in cases {
            let (got_status, bytes) = encode(&error);
            assert_eq!(got_status, status, "{error}");
            let expected =
                format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"m"}}}}"#);
            assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        }
    }

    #[test]
    fn encode_then_decode_keeps_kind_message_and_status() {
        let error = ApiError::new(ErrorKind::RateLimit, "quote \" and \\ kept").with_status(429);
        let (status, bytes) = encode(&error);
        let back = decode(status, &bytes);
        assert_eq!(back.kind, error.kind);
        assert_eq!(back.message, error.message);
        assert_eq!(back.status, 429);
    }

    #[test]
    fn stream_errors_take_the_status_of_their_type() {
        let error = from_stream_data(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!((error.kind, error.status), (ErrorKind::Overloaded, 529));
        let garbage = from_stream_data("not json");
        assert_eq!(
            (garbage.kind, garbage.message.as_str()),
            (ErrorKind::Server, "not json")
        );
    }
}
