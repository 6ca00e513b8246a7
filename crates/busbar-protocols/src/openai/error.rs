//! OpenAI error bodies: `{"error":{"message","type","param","code"}}`.
//!
//! Decoding never fails. Compatible vendors vary the shape (vLLM puts the
//! fields at the top level, some proxies answer with an array or HTML), so
//! the reader looks in the usual places and falls back to the status and the
//! body's text.

use busbar_ir::{ApiError, ErrorKind};
use serde::Serialize;
use serde_json::Value;

/// How much of a non-JSON error body is kept as the message.
const MAX_MESSAGE_CHARS: usize = 512;

/// Reads an upstream error reply with HTTP `status`.
pub fn decode(status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => from_value(&value, Some(status))
            .unwrap_or_else(|| from_text(status, &String::from_utf8_lossy(body))),
        Err(_) => from_text(status, &String::from_utf8_lossy(body)),
    }
}

/// Renders `error` for an OpenAI client: the status and the body.
pub fn encode(error: &ApiError) -> (u16, Vec<u8>) {
    let mut body = Vec::with_capacity(128 + error.message.len());
    write_body(error, &mut body);
    (status_for(error), body)
}

/// The status an OpenAI client gets: the error's own, except that 529 is
/// Anthropic's alone and anything outside 4xx/5xx is no error status at all.
fn status_for(error: &ApiError) -> u16 {
    match error.status {
        529 => 503,
        status @ 400..=599 => status,
        _ => error.kind.default_status(),
    }
}

/// Writes `{"error":{…}}` to `out` (also the shape of an in-stream error).
pub(super) fn write_body(error: &ApiError, out: &mut Vec<u8>) {
    let (kind, default_code) = type_and_code(error.kind);
    let body = Body {
        error: Inner {
            message: &error.message,
            kind,
            param: error.param.as_deref(),
            code: error.code.as_deref().or(default_code),
        },
    };
    // Serialising borrowed strings into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &body);
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// OpenAI's `type` and default `code` for each kind.
fn type_and_code(kind: ErrorKind) -> (&'static str, Option<&'static str>) {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => ("invalid_request_error", None),
        ErrorKind::ContextLength => ("invalid_request_error", Some("context_length_exceeded")),
        ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
        ErrorKind::PermissionDenied => ("permission_error", None),
        ErrorKind::NotFound => ("invalid_request_error", Some("model_not_found")),
        ErrorKind::RateLimit => ("requests", Some("rate_limit_exceeded")),
        ErrorKind::InsufficientQuota => ("insufficient_quota", Some("insufficient_quota")),
        ErrorKind::Overloaded => ("server_error", Some("overloaded")),
        ErrorKind::Unavailable => ("server_error", Some("service_unavailable")),
        ErrorKind::Timeout => ("server_error", Some("timeout")),
        ErrorKind::BadGateway => ("server_error", Some("bad_gateway")),
        _ => ("server_error", None),
    }
}

/// An error from a parsed body, or `None` when it holds no message. `status`
/// is `None` for an error that arrived inside a stream.
pub(super) fn from_value(value: &Value, status: Option<u16>) -> Option<ApiError> {
    let value = match value {
        // Google's OpenAI layer and some proxies wrap the body in an array.
        Value::Array(items) => items.first()?,
        other => other,
    };
    let top = value.as_object()?;
    let (fields, message) = match top.get("error") {
        Some(Value::Object(inner)) => (inner, inner.get("message")),
        Some(error @ Value::String(_)) => (top, Some(error)),
        _ => (top, top.get("message").or_else(|| top.get("detail"))),
    };
    let message = match message? {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let error_type = text("type");
    let code = text("code");
    let numeric_code = fields.get("code").and_then(Value::as_u64);
    let kind = classify(status, error_type, code, numeric_code, &message);
    let mut error = ApiError::new(kind, message);
    if let Some(status) = status {
        error = error.with_status(status);
    }
    error.code = code.map(str::to_owned);
    error.param = text("param").map(str::to_owned);
    Some(error)
}

/// An error from a body that is not JSON (an HTML proxy page, plain text).
fn from_text(status: u16, body: &str) -> ApiError {
    let body = body.trim();
    let message = if body.is_empty() {
        format!("upstream answered HTTP {status} with an empty body")
    } else {
        match body.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((cut, _)) => format!("{}…", &body[..cut]),
            None => body.to_owned(),
        }
    };
    ApiError::new(classify(Some(status), None, None, None, &message), message).with_status(status)
}

/// The kind of an error from what the vendor said about it.
fn classify(
    status: Option<u16>,
    error_type: Option<&str>,
    code: Option<&str>,
    numeric_code: Option<u64>,
    message: &str,
) -> ErrorKind {
    let said = |name: &str| code == Some(name) || error_type == Some(name);
    if said("context_length_exceeded") {
        return ErrorKind::ContextLength;
    }
    if said("insufficient_quota") {
        return ErrorKind::InsufficientQuota;
    }
    // Context overflows reported only in words; never trusted on a 5xx.
    if matches!(status, None | Some(400) | Some(413)) && mentions_context_length(message) {
        return ErrorKind::ContextLength;
    }
    if let Some(status @ 400..=599) = status {
        return ErrorKind::from_status(status);
    }
    let by_name = [code, error_type].into_iter().flatten().find_map(|name| {
        Some(match name {
            "invalid_request_error" => ErrorKind::InvalidRequest,
            "invalid_api_key" | "authentication_error" => ErrorKind::Authentication,
            "permission_error" => ErrorKind::PermissionDenied,
            "model_not_found" | "not_found_error" => ErrorKind::NotFound,
            "rate_limit_exceeded" | "rate_limit_error" | "requests" | "tokens" => {
                ErrorKind::RateLimit
            }
            "overloaded" | "overloaded_error" => ErrorKind::Overloaded,
            "timeout" | "timeout_error" => ErrorKind::Timeout,
            "server_error" | "api_error" => ErrorKind::Server,
            _ => return None,
        })
    });
    by_name
        .or_else(|| {
            numeric_code
                .and_then(|code| u16::try_from(code).ok())
                .filter(|code| (400..=599).contains(code))
                .map(ErrorKind::from_status)
        })
        .unwrap_or(ErrorKind::Server)
}

fn mentions_context_length(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "maximum context length",
        "context_length_exceeded",
        "prompt is too long",
    ]
    .iter()
    .any(|phrase| lower.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(error: &ApiError) -> (u16, Value) {
        let (status, body) = encode(error);
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn reads_openai_errors_and_keeps_status_code_and_param() {
        let body = br#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let error = decode(400, body);
        assert_eq!(error.kind, ErrorKind::ContextLength);
        assert_eq!(error.status, 400);
        assert_eq!(error.code.as_deref(), Some("context_length_exceeded"));
        assert_eq!(error.param.as_deref(), Some("messages"));
        assert!(error.message.starts_with("This model's"));
    }

    #[test]
    fn kinds_follow_code_then_status() {
        let quota = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(decode(429, quota).kind, ErrorKind::InsufficientQuota);
        let rate = br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        assert_eq!(decode(429, rate).kind, ErrorKind::RateLimit);
        let key = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(decode(401, key).kind, ErrorKind::Authentication);
        assert_eq!(
            decode(503, br#"{"error":{"message":"busy"}}"#).kind,
            ErrorKind::Unavailable
        );
        // Words alone never make a 5xx a context overflow.
        let odd = br#"{"error":{"message":"maximum context length exceeded in cache"}}"#;
        assert_eq!(decode(500, odd).kind, ErrorKind::Server);
    }

    #[test]
    fn reads_compatible_vendors_shapes() {
        let vllm = br#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens","type":"BadRequestError","param":null,"code":400}"#;
        let error = decode(400, vllm);
        assert_eq!(error.kind, ErrorKind::ContextLength);
        assert_eq!(error.code, None);
        let google = br#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}]"#;
        assert_eq!(decode(429, google).kind, ErrorKind::RateLimit);
        let plain = br#"{"error":"model overloaded"}"#;
        assert_eq!(decode(503, plain).message, "model overloaded");
        let fastapi = br#"{"detail":"Not Found"}"#;
        assert_eq!(decode(404, fastapi).kind, ErrorKind::NotFound);
    }

    #[test]
    fn non_json_bodies_keep_their_text_truncated() {
        let error = decode(502, b"<html><body>Bad Gateway</body></html>");
        assert_eq!(error.kind, ErrorKind::BadGateway);
        assert_eq!(error.status, 502);
        assert_eq!(error.message, "<html><body>Bad Gateway</body></html>");
        let long = "é".repeat(2000);
        let error = decode(500, long.as_bytes());
        assert_eq!(error.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        let empty = decode(504, b"");
        assert_eq!(empty.kind, ErrorKind::Timeout);
        assert!(empty.message.contains("504"), "{}", empty.message);
        // JSON without any message is treated as text too.
        assert_eq!(decode(500, b"{}").message, "{}");
    }

    #[test]
    fn in_stream_errors_classify_by_name() {
        let value =
            serde_json::json!({"error": {"message": "slow down", "type": "rate_limit_error"}});
        let error = from_value(&value, None).unwrap();
        assert_eq!(error.kind, ErrorKind::RateLimit);
        assert_eq!(error.status, 429);
        let value = serde_json::json!({"error": {"message": "boom"}});
        assert_eq!(from_value(&value, None).unwrap().kind, ErrorKind::Server);
        let value = serde_json::json!({"error": {"message": "quota", "code": 429}});
        assert_eq!(from_value(&value, None).unwrap().kind, ErrorKind::RateLimit);
    }

    #[test]
    fn encodes_openai_types_and_codes() {
        let cases = [
            (
                ErrorKind::InvalidRequest,
                400,
                "invalid_request_error",
                Value::Null,
            ),
            (
                ErrorKind::Authentication,
                401,
                "invalid_request_error",
                "invalid_api_key".into(),
            ),
            (
                ErrorKind::PermissionDenied,
                403,
                "permission_error",
                Value::Null,
            ),
            (
                ErrorKind::NotFound,
                404,
                "invalid_request_error",
                "model_not_found".into(),
            ),
            (
                ErrorKind::RequestTooLarge,
                413,
                "invalid_request_error",
                Value::Null,
            ),
            (
                ErrorKind::ContextLength,
                400,
                "invalid_request_error",
                "context_length_exceeded".into(),
            ),
            (
                ErrorKind::RateLimit,
                429,
                "requests",
                "rate_limit_exceeded".into(),
            ),
            (
                ErrorKind::InsufficientQuota,
                429,
                "insufficient_quota",
                "insufficient_quota".into(),
            ),
            (ErrorKind::Server, 500, "server_error", Value::Null),
            (
                ErrorKind::BadGateway,
                502,
                "server_error",
                "bad_gateway".into(),
            ),
            (
                ErrorKind::Overloaded,
                503,
                "server_error",
                "overloaded".into(),
            ),
            (
                ErrorKind::Unavailable,
                503,
                "server_error",
                "service_unavailable".into(),
            ),
            (ErrorKind::Timeout, 504, "server_error", "timeout".into()),
        ];
        for (kind, status, error_type, code) in cases {
            let (got_status, body) = body_of(&ApiError::new(kind, "m"));
            assert_eq!(got_status, status, "{kind:?}");
            assert_eq!(body["error"]["type"], error_type, "{kind:?}");
            assert_eq!(body["error"]["code"], code, "{kind:?}");
            assert_eq!(body["error"]["param"], Value::Null);
            assert_eq!(body["error"]["message"], "m");
        }
    }

    #[test]
    fn encode_keeps_upstream_status_and_code_but_not_529() {
        let error = ApiError::new(ErrorKind::Overloaded, "busy").with_status(529);
        assert_eq!(encode(&error).0, 503);
        let error = ApiError::new(ErrorKind::InvalidRequest, "bad")
            .with_status(422)
            .with_code("bad_thing")
            .with_param("temperature");
        let (status, body) = body_of(&error);
        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "bad_thing");
        assert_eq!(body["error"]["param"], "temperature");
        let odd = ApiError::new(ErrorKind::Server, "x").with_status(200);
        assert_eq!(encode(&odd).0, 500);
    }

    #[test]
    fn decode_of_encode_is_the_identity_on_kind_and_message() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::RequestTooLarge,
            ErrorKind::ContextLength,
            ErrorKind::RateLimit,
            ErrorKind::InsufficientQuota,
            ErrorKind::Server,
            ErrorKind::BadGateway,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
        ] {
            let error = ApiError::new(kind, "said \"no\"");
            let (status, body) = encode(&error);
            let back = decode(status, &body);
            assert_eq!((back.kind, back.message.as_str()), (kind, "said \"no\""));
        }
    }
}
