//! Gemini error bodies: `{"error":{"code","message","status","details"}}`,
//! Google's canonical error shape.
//!
//! The same object arrives as an HTTP error body (sometimes wrapped in a
//! one-element array, as `streamGenerateContent` without `alt=sse` sends
//! it) and as a `data:` event inside a 200 stream.
//!
//! Choices where Google has no exact counterpart of an [`ErrorKind`]: a bad
//! credential is rendered as Gemini reports a bad API key, `400
//! INVALID_ARGUMENT` with an `ErrorInfo` of reason `API_KEY_INVALID` (what
//! google-genai users see); a request too large is a 400 `INVALID_ARGUMENT`;
//! exhausted quota is a 429 `RESOURCE_EXHAUSTED` like a rate limit; an
//! overloaded upstream is a 503 `UNAVAILABLE`.

use busbar_ir::{ApiError, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest message taken from a body that is not a Google error object
/// (an HTML page from a proxy, say), in bytes.
const MAX_RAW_MESSAGE: usize = 512;

/// Reads an error reply. Never fails: a body that is not a Google error
/// object gives a kind from `status` and the body's text as message.
pub fn decode(status: u16, body: &[u8]) -> ApiError {
    let envelope = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(mut items)) if items.len() == 1 => items.pop(),
        Ok(value) => Some(value),
        Err(_) => None,
    };
    match envelope.and_then(|value| Envelope::deserialize(value).ok()) {
        Some(Envelope {
            error: Some(object),
        }) => from_object(object, status),
        _ => from_raw(status, body),
    }
}

/// Renders `error` for a Gemini client: the status and the body.
pub fn encode(error: &ApiError) -> (u16, Vec<u8>) {
    let body = Body::new(error);
    let status = body.error.code;
    (status, serde_json::to_vec(&body).unwrap_or_default())
}

/// The IR error for the data of an in-stream error event. A stream error
/// comes with a 200, so the status is the one its `code` (or `status`) says.
pub(crate) fn from_stream_value(value: Value) -> ApiError {
    match WireObject::deserialize(value) {
        Ok(object) => {
            let status = object
                .code
                .and_then(|code| u16::try_from(code).ok())
                .filter(|code| (400..=599).contains(code))
                .or_else(|| object.status.as_deref().map(status_for_name))
                .unwrap_or(500);
            from_object(object, status)
        }
        Err(_) => {
            ApiError::new(ErrorKind::Server, "malformed error event in stream").with_status(500)
        }
    }
}

/// An error in the shape Google sends, ready to serialise (also the data of
/// an in-stream error event).
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    error: Object<'a>,
}

#[derive(Debug, Serialize)]
struct Object<'a> {
    code: u16,
    message: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<Value>,
}

impl<'a> Body<'a> {
    pub(crate) fn new(error: &'a ApiError) -> Self {
        let (code, status) = status_for(error);
        let details = if error.kind == ErrorKind::Authentication {
            vec![serde_json::json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}
            })]
        } else {
            Vec::new()
        };
        Self {
            error: Object {
                code,
                message: &error.message,
                status,
                details,
            },
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Option<WireObject>,
}

#[derive(Debug, Deserialize)]
struct WireObject {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Option<Vec<WireDetail>>,
}

#[derive(Debug, Deserialize)]
struct WireDetail {
    #[serde(default)]
    reason: Option<String>,
}

fn from_object(object: WireObject, status: u16) -> ApiError {
    let message = object
        .message
        .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    let reason = object
        .details
        .iter()
        .flatten()
        .find_map(|detail| detail.reason.clone());
    let kind = match (object.status.as_deref(), reason.as_deref()) {
        (_, Some("API_KEY_INVALID" | "API_KEY_EXPIRED")) => ErrorKind::Authentication,
        (_, Some("API_KEY_SERVICE_BLOCKED" | "SERVICE_DISABLED")) => ErrorKind::PermissionDenied,
        (Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE"), _) | (None, _)
            if is_context_length(&message) =>
        {
            ErrorKind::ContextLength
        }
        (Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE"), _) | (None, _)
            if message.starts_with("Request payload size exceeds the limit") =>
        {
            ErrorKind::RequestTooLarge
        }
        (Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE"), _) => {
            ErrorKind::InvalidRequest
        }
        (Some("UNAUTHENTICATED"), _) => ErrorKind::Authentication,
        (Some("PERMISSION_DENIED"), _) => ErrorKind::PermissionDenied,
        (Some("NOT_FOUND"), _) => ErrorKind::NotFound,
        (Some("RESOURCE_EXHAUSTED"), _) => ErrorKind::RateLimit,
        (Some("UNAVAILABLE"), _) => ErrorKind::Unavailable,
        (Some("DEADLINE_EXCEEDED"), _) => ErrorKind::Timeout,
        (Some("INTERNAL" | "UNKNOWN" | "DATA_LOSS"), _) => ErrorKind::Server,
        _ => ErrorKind::from_status(status),
    };
    let mut error = ApiError::new(kind, message).with_status(status);
    if let Some(code) = reason.or(object.status) {
        error = error.with_code(code);
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

/// Gemini's 400 for an overlong prompt: "The input token count (N) exceeds
/// the maximum number of tokens allowed (M)."
fn is_context_length(message: &str) -> bool {
    message.starts_with("The input token count") && message.contains("exceeds the maximum")
}

/// The HTTP status and Google status name for an error.
fn status_for(error: &ApiError) -> (u16, &'static str) {
    match error.kind {
        ErrorKind::InvalidRequest | ErrorKind::ContextLength | ErrorKind::RequestTooLarge => {
            (400, "INVALID_ARGUMENT")
        }
        // Gemini answers a bad API key with 400, and google-genai users
        // expect that; OAuth failures are 401 UNAUTHENTICATED.
        ErrorKind::Authentication => (400, "INVALID_ARGUMENT"),
        ErrorKind::PermissionDenied => (403, "PERMISSION_DENIED"),
        ErrorKind::NotFound => (404, "NOT_FOUND"),
        ErrorKind::RateLimit | ErrorKind::InsufficientQuota => (429, "RESOURCE_EXHAUSTED"),
        ErrorKind::Overloaded | ErrorKind::Unavailable => (503, "UNAVAILABLE"),
        ErrorKind::Timeout => (504, "DEADLINE_EXCEEDED"),
        ErrorKind::BadGateway => (502, "UNAVAILABLE"),
        // A 5xx the upstream chose (501, 500) is kept.
        ErrorKind::Server if (500..=599).contains(&error.status) => (error.status, "INTERNAL"),
        _ => (500, "INTERNAL"),
    }
}

/// The HTTP status Google sends with a status name.
fn status_for_name(name: &str) -> u16 {
    match name {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "ABORTED" | "ALREADY_EXISTS" => 409,
        "RESOURCE_EXHAUSTED" => 429,
        "CANCELLED" => 499,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u16, status: &str, message: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"code":{code},"message":"{message}","status":"{status}"}}}}"#)
            .into_bytes()
    }

    #[test]
    fn every_google_status_decodes_to_its_kind() {
        for (code, status, expected) in [
            (400, "INVALID_ARGUMENT", ErrorKind::InvalidRequest),
            (400, "FAILED_PRECONDITION", ErrorKind::InvalidRequest),
            (401, "UNAUTHENTICATED", ErrorKind::Authentication),
            (403, "PERMISSION_DENIED", ErrorKind::PermissionDenied),
            (404, "NOT_FOUND", ErrorKind::NotFound),
            (429, "RESOURCE_EXHAUSTED", ErrorKind::RateLimit),
            (500, "INTERNAL", ErrorKind::Server),
            (503, "UNAVAILABLE", ErrorKind::Unavailable),
            (504, "DEADLINE_EXCEEDED", ErrorKind::Timeout),
            (499, "CANCELLED", ErrorKind::InvalidRequest),
        ] {
            let error = decode(code, &body(code, status, "boom"));
            assert_eq!(error.kind, expected, "{status}");
            assert_eq!(error.status, code);
            assert_eq!(error.code.as_deref(), Some(status));
            assert_eq!(error.message, "boom");
        }
    }

    #[test]
    fn a_bad_api_key_is_an_authentication_error_both_ways() {
        let body = br#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID", "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}}]}}"#;
        let error = decode(400, body);
        assert_eq!(error.kind, ErrorKind::Authentication);
        assert_eq!(error.code.as_deref(), Some("API_KEY_INVALID"));
        let (status, out) = encode(&ApiError::new(ErrorKind::Authentication, "bad key"));
        assert_eq!(status, 400);
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(out["error"]["details"][0]["reason"], "API_KEY_INVALID");
        assert_eq!(
            decode(400, &serde_json::to_vec(&out).unwrap()).kind,
            ErrorKind::Authentication
        );
    }

    #[test]
    fn an_overlong_prompt_is_a_context_length_error() {
        let error = decode(
            400,
            &body(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            ),
        );
        assert_eq!(error.kind, ErrorKind::ContextLength);
        let (status, bytes) = encode(&error);
        assert_eq!(status, 400);
        assert_eq!(decode(status, &bytes).kind, ErrorKind::ContextLength);
        let large = decode(
            400,
            &body(
                400,
                "INVALID_ARGUMENT",
                "Request payload size exceeds the limit: 20971520 bytes.",
            ),
        );
        assert_eq!(large.kind, ErrorKind::RequestTooLarge);
    }

    #[test]
    fn array_wrapped_and_raw_bodies_decode() {
        let wrapped = format!(
            "[{}]",
            String::from_utf8(body(429, "RESOURCE_EXHAUSTED", "slow")).unwrap()
        );
        let error = decode(429, wrapped.as_bytes());
        assert_eq!(
            (error.kind, error.message.as_str()),
            (ErrorKind::RateLimit, "slow")
        );
        let html = format!("<html>{}</html>", "x".repeat(2000));
        let error = decode(502, html.as_bytes());
        assert_eq!(error.kind, ErrorKind::BadGateway);
        assert_eq!(error.message.len(), MAX_RAW_MESSAGE);
        assert_eq!(decode(503, b"").message, "upstream returned HTTP 503");
        assert!(decode(500, "é".repeat(600).as_bytes()).message.len() <= MAX_RAW_MESSAGE);
        let pretty = "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"overloaded\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n";
        assert_eq!(decode(503, pretty.as_bytes()).kind, ErrorKind::Unavailable);
    }

    #[test]
    fn encoding_uses_google_statuses() {
        for (kind, status, name) in [
            (ErrorKind::InvalidRequest, 400, "INVALID_ARGUMENT"),
            (ErrorKind::ContextLength, 400, "INVALID_ARGUMENT"),
            (ErrorKind::RequestTooLarge, 400, "INVALID_ARGUMENT"),
            (ErrorKind::PermissionDenied, 403, "PERMISSION_DENIED"),
            (ErrorKind::NotFound, 404, "NOT_FOUND"),
            (ErrorKind::RateLimit, 429, "RESOURCE_EXHAUSTED"),
            (ErrorKind::InsufficientQuota, 429, "RESOURCE_EXHAUSTED"),
            (ErrorKind::Overloaded, 503, "UNAVAILABLE"),
            (ErrorKind::Unavailable, 503, "UNAVAILABLE"),
            (ErrorKind::Timeout, 504, "DEADLINE_EXCEEDED"),
            (ErrorKind::BadGateway, 502, "UNAVAILABLE"),
            (ErrorKind::Server, 500, "INTERNAL"),
        ] {
            let (got, bytes) = encode(&ApiError::new(kind, "m"));
            assert_eq!(got, status, "{kind:?}");
            let expected =
                format!(r#"{{"error":{{"code":{status},"message":"m","status":"{name}"}}}}"#);
            if kind != ErrorKind::Authentication {
                assert_eq!(String::from_utf8(bytes).unwrap(), expected);
            }
        }
        let (status, _) = encode(&ApiError::new(ErrorKind::Server, "m").with_status(501));
        assert_eq!(status, 501);
        let (status, _) = encode(&ApiError::new(ErrorKind::Overloaded, "m").with_status(529));
        assert_eq!(status, 503);
    }

    #[test]
    fn stream_errors_take_their_status_from_the_object() {
        let error = from_stream_value(
            serde_json::json!({"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}),
        );
        assert_eq!((error.kind, error.status), (ErrorKind::RateLimit, 429));
        let error =
            from_stream_value(serde_json::json!({"message": "gone", "status": "UNAVAILABLE"}));
        assert_eq!((error.kind, error.status), (ErrorKind::Unavailable, 503));
        let error = from_stream_value(serde_json::json!("oops"));
        assert_eq!(error.kind, ErrorKind::Server);
    }
}
