//! Cohere error bodies: `{"id"?: …, "message": "…"}`, the status saying
//! what went wrong.
//!
//! Cohere names no error type, so the kind comes from the status, and from
//! the message for an overlong prompt (a 400 `too many tokens: …`). The
//! statuses Cohere's SDK knows: 400 and 422 invalid request, 401
//! authentication, 402 billing limit, 403 permission, 404 not found, 429
//! rate limit, 498 a deny-listed token in the request or reply (an invalid
//! request, not a credential problem), 499 a request cancelled on Cohere's
//! side (read as a server failure, which may be retried), 500, 501 (an
//! unsupported feature: an invalid request), 503 and 504.
//!
//! Rendering: [`ErrorKind::InsufficientQuota`] is always 402, since a 429
//! means a rate limit to a Cohere client; [`ErrorKind::Overloaded`] is 503;
//! a context-length error keeps Cohere's `too many tokens: ` prefix (added
//! when the message lacks it) so clients matching on it still do.

use busbar_ir::{ApiError, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::truncate;

/// The longest message taken from a body that is not a JSON error (an HTML
/// page from a proxy, say), in bytes.
const MAX_RAW_MESSAGE: usize = 512;

/// What a Cohere overlong-prompt message starts with.
const CONTEXT_PREFIX: &str = "too many tokens";

/// Reads an error reply. Never fails: a body that is not a Cohere error
/// object gives a kind from `status` and the body's text as message.
pub fn decode(status: u16, body: &[u8]) -> ApiError {
    let message = serde_json::from_slice::<WireError>(body)
        .ok()
        .and_then(WireError::into_message);
    match message {
        Some(message) => ApiError::new(kind_for(status, &message), message).with_status(status),
        None => from_raw(status, body),
    }
}

/// Renders `error` for a Cohere client: the status and the body.
pub fn encode(error: &ApiError) -> (u16, Vec<u8>) {
    let message = match error.kind {
        ErrorKind::ContextLength if !is_context_length(&error.message) => {
            format!("{CONTEXT_PREFIX}: {}", error.message)
        }
        _ => error.message.clone(),
    };
    let body = serde_json::to_vec(&Body { message: &message }).unwrap_or_default();
    (status_for(error), body)
}

/// The IR error for the `delta.error` of a `message-end`: generation failed
/// after the 200, so the status is the one the kind has.
pub(crate) fn from_stream_message(message: &str) -> ApiError {
    let kind = if is_context_length(message) {
        ErrorKind::ContextLength
    } else {
        ErrorKind::Server
    };
    ApiError::new(kind, message)
}

/// The body of a Cohere error.
#[derive(Debug, Serialize)]
struct Body<'a> {
    message: &'a str,
}

#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(default)]
    message: Option<String>,
    /// OpenAI-shaped bodies from proxies: `{"error": {"message"}}` or
    /// `{"error": "…"}`.
    #[serde(default)]
    error: Option<Value>,
}

impl WireError {
    fn into_message(self) -> Option<String> {
        self.message.or(match self.error {
            Some(Value::String(message)) => Some(message),
            Some(Value::Object(mut error)) => match error.remove("message") {
                Some(Value::String(message)) => Some(message),
                _ => None,
            },
            _ => None,
        })
    }
}

fn kind_for(status: u16, message: &str) -> ErrorKind {
    match status {
        400 if is_context_length(message) => ErrorKind::ContextLength,
        400 | 422 | 498 | 501 => ErrorKind::InvalidRequest,
        499 => ErrorKind::Server,
        _ => ErrorKind::from_status(status),
    }
}

fn from_raw(status: u16, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        truncate(text, MAX_RAW_MESSAGE).to_owned()
    };
    ApiError::new(kind_for(status, &message), message).with_status(status)
}

/// Cohere's 400 for an overlong prompt: "too many tokens: total number of
/// tokens in the prompt cannot exceed …", "… size limit exceeded by N
/// tokens …". A `max_tokens` above the model's output limit is reported
/// with the same prefix but is no context-length problem.
fn is_context_length(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.starts_with(CONTEXT_PREFIX) && !lower.contains("max tokens must")
}

/// The status to send: the error's own unless Cohere gives the kind a
/// status of its own or the status is no error status.
fn status_for(error: &ApiError) -> u16 {
    match error.kind {
        ErrorKind::InsufficientQuota => 402,
        ErrorKind::Overloaded => 503,
        _ if (400..=599).contains(&error.status) && error.status != 529 => error.status,
        kind => kind.default_status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cohere_status_decodes_to_its_kind() {
        for (status, expected) in [
            (400, ErrorKind::InvalidRequest),
            (401, ErrorKind::Authentication),
            (402, ErrorKind::InsufficientQuota),
            (403, ErrorKind::PermissionDenied),
            (404, ErrorKind::NotFound),
            (422, ErrorKind::InvalidRequest),
            (429, ErrorKind::RateLimit),
            (498, ErrorKind::InvalidRequest),
            (499, ErrorKind::Server),
            (500, ErrorKind::Server),
            (501, ErrorKind::InvalidRequest),
            (503, ErrorKind::Unavailable),
            (504, ErrorKind::Timeout),
        ] {
            let error = decode(status, br#"{"id":"2b1c","message":"boom"}"#);
            assert_eq!(error.kind, expected, "{status}");
            assert_eq!(error.status, status);
            assert_eq!(error.message, "boom");
        }
    }

    #[test]
    fn an_overlong_prompt_is_a_context_length_error() {
        let body = br#"{"message":"too many tokens: size limit exceeded by 11326 tokens. Try using shorter or fewer inputs."}"#;
        let error = decode(400, body);
        assert_eq!(error.kind, ErrorKind::ContextLength);
        assert_eq!(encode(&error), (400, body.to_vec()));
        let max_tokens = decode(
            400,
            br#"{"message":"too many tokens: max tokens must be less than or equal to 4096, the maximum output for this model - received 8192."}"#,
        );
        assert_eq!(max_tokens.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn context_length_errors_from_elsewhere_get_cohere_s_prefix() {
        let error = ApiError::new(
            ErrorKind::ContextLength,
            "This model's maximum context length is 128000 tokens.",
        );
        let (status, body) = encode(&error);
        assert_eq!(status, 400);
        let back = decode(status, &body);
        assert_eq!(back.kind, ErrorKind::ContextLength);
        assert_eq!(
            back.message,
            "too many tokens: This model's maximum context length is 128000 tokens."
        );
    }

    #[test]
    fn a_body_that_is_not_an_error_object_keeps_its_text() {
        let html = format!("<html>{}</html>", "x".repeat(2000));
        let error = decode(502, html.as_bytes());
        assert_eq!(error.kind, ErrorKind::BadGateway);
        assert_eq!(error.message.len(), MAX_RAW_MESSAGE);
        let empty = decode(503, b"");
        assert_eq!(
            (empty.kind, empty.message.as_str()),
            (ErrorKind::Unavailable, "upstream returned HTTP 503")
        );
        let openai = decode(429, br#"{"error":{"message":"slow down","type":"x"}}"#);
        assert_eq!(
            (openai.kind, openai.message.as_str()),
            (ErrorKind::RateLimit, "slow down")
        );
        let plain = decode(401, br#"{"error":"bad key"}"#);
        assert_eq!(plain.message, "bad key");
        let no_message = decode(500, br#"{"id":"x"}"#);
        assert_eq!(no_message.message, r#"{"id":"x"}"#);
    }

    #[test]
    fn encoding_uses_cohere_statuses() {
        for (error, status) in [
            (ApiError::new(ErrorKind::InvalidRequest, "m"), 400),
            (ApiError::new(ErrorKind::Authentication, "m"), 401),
            (ApiError::new(ErrorKind::InsufficientQuota, "m"), 402),
            (ApiError::new(ErrorKind::PermissionDenied, "m"), 403),
            (ApiError::new(ErrorKind::NotFound, "m"), 404),
            (ApiError::new(ErrorKind::RequestTooLarge, "m"), 413),
            (ApiError::new(ErrorKind::RateLimit, "m"), 429),
            (ApiError::new(ErrorKind::Server, "m"), 500),
            (ApiError::new(ErrorKind::BadGateway, "m"), 502),
            (ApiError::new(ErrorKind::Unavailable, "m"), 503),
            (
                ApiError::new(ErrorKind::Overloaded, "m").with_status(529),
                503,
            ),
            (ApiError::new(ErrorKind::Timeout, "m"), 504),
            (ApiError::new(ErrorKind::Server, "m").with_status(200), 500),
            (
                ApiError::new(ErrorKind::InvalidRequest, "m").with_status(498),
                498,
            ),
        ] {
            let (got, body) = encode(&error);
            assert_eq!(got, status, "{error}");
            assert_eq!(body, br#"{"message":"m"}"#);
        }
    }

    #[test]
    fn stream_messages_are_server_errors_unless_the_prompt_was_too_long() {
        let error = from_stream_message("internal error while generating");
        assert_eq!((error.kind, error.status), (ErrorKind::Server, 500));
        let long = from_stream_message("too many tokens: prompt too long");
        assert_eq!((long.kind, long.status), (ErrorKind::ContextLength, 400));
    }
}
