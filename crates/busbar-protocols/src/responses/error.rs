//! Responses errors: the body is OpenAI's `{"error":{"message","type",
//! "param","code"}}`, read and written by [`crate::openai::error`]; inside a
//! stream an error is a `response.failed` event (its `response.error` holds a
//! code from a closed list) or an `error` event.

use busbar_ir::{ApiError, ErrorKind};
use serde::Serialize;

/// Reads an upstream error reply with HTTP `status`. Never fails: a body
/// that is not OpenAI's shape gives a kind from the status and the body's
/// text as message.
pub fn decode(status: u16, body: &[u8]) -> ApiError {
    crate::openai::error::decode(status, body)
}

/// Renders `error` for a Responses client: the status and the body.
pub fn encode(error: &ApiError) -> (u16, Vec<u8>) {
    crate::openai::error::encode(error)
}

/// An error reported inside a stream, which has no HTTP status of its own:
/// the kind comes from the code (Responses' own codes first, then OpenAI's
/// names) and the status from the kind.
pub(super) fn from_stream(code: Option<&str>, message: &str, param: Option<&str>) -> ApiError {
    let kind = match code {
        Some("invalid_prompt" | "bio_policy" | "data_residency_mismatch") => {
            ErrorKind::InvalidRequest
        }
        Some(code) if code.contains("image") => ErrorKind::InvalidRequest,
        Some("vector_store_timeout") => ErrorKind::Timeout,
        _ => {
            // OpenAI's reader classifies by name when the status says
            // nothing, which 0 does not.
            let body = serde_json::json!({"error": {"message": message, "code": code}});
            crate::openai::error::decode(0, body.to_string().as_bytes()).kind
        }
    };
    let mut error = ApiError::new(kind, message);
    error.code = code.map(str::to_owned);
    error.param = param.map(str::to_owned);
    error
}

/// `response.error` of a failed response. The SDK validates `code` against
/// a closed list, so only a code from that list is passed on; other errors
/// get the nearest one.
#[derive(Debug, Serialize)]
pub(super) struct ResponseErrorOut<'a> {
    code: &'static str,
    message: &'a str,
}

impl<'a> ResponseErrorOut<'a> {
    pub(super) fn new(error: &'a ApiError) -> Self {
        let known = error
            .code
            .as_deref()
            .and_then(|code| RESPONSE_ERROR_CODES.iter().find(|known| **known == code));
        let code = match (known, error.kind) {
            (Some(code), _) => code,
            (None, ErrorKind::RateLimit | ErrorKind::InsufficientQuota) => "rate_limit_exceeded",
            (
                None,
                ErrorKind::InvalidRequest | ErrorKind::ContextLength | ErrorKind::RequestTooLarge,
            ) => "invalid_prompt",
            (None, _) => "server_error",
        };
        Self {
            code,
            message: &error.message,
        }
    }

    /// The error of a reply whose upstream said it failed, with no details.
    pub(super) fn generation_failed() -> Self {
        Self {
            code: "server_error",
            message: "The model failed to generate a response.",
        }
    }
}

/// `ResponseError.code` as the SDK (3.x) and the OpenAPI description list it.
const RESPONSE_ERROR_CODES: &[&str] = &[
    "server_error",
    "rate_limit_exceeded",
    "invalid_prompt",
    "data_residency_mismatch",
    "bio_policy",
    "vector_store_timeout",
    "invalid_image",
    "invalid_image_format",
    "invalid_base64_image",
    "invalid_image_url",
    "image_too_large",
    "image_too_small",
    "image_parse_error",
    "image_content_policy_violation",
    "invalid_image_mode",
    "image_file_too_large",
    "unsupported_image_media_type",
    "empty_image_file",
    "failed_to_download_image",
    "image_file_not_found",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_openai_ones() {
        let body = br#"{"error":{"message":"Your input exceeds the context window of this model.","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}"#;
        let error = decode(400, body);
        assert_eq!(error.kind, ErrorKind::ContextLength);
        assert_eq!(error.param.as_deref(), Some("input"));
        let (status, out) = encode(&error);
        assert_eq!(status, 400);
        let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["error"]["code"], "context_length_exceeded");
        assert_eq!(out["error"]["type"], "invalid_request_error");
        let html = decode(502, b"<html>Bad Gateway</html>");
        assert_eq!(html.kind, ErrorKind::BadGateway);
        assert_eq!(
            encode(&ApiError::new(ErrorKind::Overloaded, "busy").with_status(529)).0,
            503
        );
    }

    #[test]
    fn stream_errors_classify_by_code() {
        let cases = [
            (Some("rate_limit_exceeded"), ErrorKind::RateLimit, 429),
            (Some("server_error"), ErrorKind::Server, 500),
            (Some("invalid_prompt"), ErrorKind::InvalidRequest, 400),
            (Some("invalid_base64_image"), ErrorKind::InvalidRequest, 400),
            (Some("vector_store_timeout"), ErrorKind::Timeout, 504),
            (
                Some("context_length_exceeded"),
                ErrorKind::ContextLength,
                400,
            ),
            (
                Some("insufficient_quota"),
                ErrorKind::InsufficientQuota,
                429,
            ),
            (Some("ERR_SOMETHING"), ErrorKind::Server, 500),
            (None, ErrorKind::Server, 500),
        ];
        for (code, kind, status) in cases {
            let error = from_stream(code, "m", Some("input"));
            assert_eq!((error.kind, error.status), (kind, status), "{code:?}");
            assert_eq!(error.code.as_deref(), code);
            assert_eq!(error.param.as_deref(), Some("input"));
        }
    }

    #[test]
    fn failed_responses_use_only_listed_codes() {
        let code = |error: ApiError| ResponseErrorOut::new(&error).code;
        assert_eq!(
            code(ApiError::new(ErrorKind::RateLimit, "m")),
            "rate_limit_exceeded"
        );
        assert_eq!(
            code(ApiError::new(ErrorKind::InsufficientQuota, "m").with_code("insufficient_quota")),
            "rate_limit_exceeded"
        );
        assert_eq!(
            code(ApiError::new(ErrorKind::ContextLength, "m")),
            "invalid_prompt"
        );
        assert_eq!(
            code(ApiError::new(ErrorKind::Overloaded, "m")),
            "server_error"
        );
        assert_eq!(
            code(ApiError::new(ErrorKind::InvalidRequest, "m").with_code("invalid_image_url")),
            "invalid_image_url"
        );
        let out = serde_json::to_string(&ResponseErrorOut::generation_failed()).unwrap();
        assert_eq!(
            out,
            r#"{"code":"server_error","message":"The model failed to generate a response."}"#
        );
    }
}
