//! What Gemini writes back: the `GenerateContentResponse`, its stream (server-sent events with
//! `?alt=sse`, otherwise one JSON array sent in pieces) and the `google.rpc.Status` error body.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};

use super::GenerateRequest;
use crate::behaviour::{self, Finish, Reply};
use crate::faults::{ErrorKind, VendorError};
use crate::format::{Outcome, Request};
use crate::server::Shared;

/// Builds the reply to an accepted request.
pub(super) fn answer(shared: &Shared, request: &GenerateRequest<'_>) -> Outcome {
    let reply = behaviour::reply(&request.conversation);
    let response_id = format!("mock{:08}", shared.next_id());
    let calls = call_parts(shared, request, &reply);
    let input = request.conversation.input_tokens;
    let finish = match reply.finish {
        Finish::MaxTokens => "MAX_TOKENS",
        _ => "STOP",
    };
    let chunk = |parts: Vec<Value>, output: u64, done: bool| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if done {
            candidate["finishReason"] = json!(finish);
        }
        json!({"candidates": [candidate], "usageMetadata": usage(input, output, &reply),
               "modelVersion": request.model, "responseId": response_id})
    };
    let thought = reply
        .thinking
        .as_ref()
        .map(|(text, _)| json!({"text": text, "thought": true}));
    if !request.stream {
        let mut parts: Vec<Value> = thought.into_iter().collect();
        parts.extend(reply.text.iter().map(|text| json!({"text": text})));
        parts.extend(calls);
        let body = chunk(parts, visible_tokens(&reply), true);
        return Outcome::json(StatusCode::OK, body.to_string());
    }

    // Thoughts first, text in increments, function calls whole in the last chunk.
    let mut chunks: Vec<(Vec<Value>, u64)> = thought.into_iter().map(|t| (vec![t], 0)).collect();
    let mut written = 0;
    if let Some(text) = reply.text.as_deref() {
        for piece in behaviour::word_pieces(text, shared.words_per_delta()) {
            written += behaviour::count_words(piece);
            chunks.push((vec![json!({"text": piece})], written));
        }
    }
    if !calls.is_empty() {
        chunks.push((calls, visible_tokens(&reply)));
    }
    let last = chunks.len().saturating_sub(1);
    let bodies = chunks
        .into_iter()
        .enumerate()
        .map(|(index, (parts, output))| chunk(parts, output, index == last).to_string());
    if request.sse {
        let events = bodies.map(|body| sse_event(&body)).collect();
        return Outcome::stream(events);
    }
    let mut pieces: Vec<Bytes> = bodies
        .enumerate()
        .map(|(index, body)| {
            Bytes::from(format!("{}{body}", if index == 0 { "[" } else { ",\r\n" }))
        })
        .collect();
    pieces.push(Bytes::from_static(b"]"));
    Outcome::stream_of("application/json; charset=UTF-8", pieces)
}

/// One `data:` event, with the CRLF line ends Google's servers write.
fn sse_event(json: &str) -> Bytes {
    Bytes::from(format!("data: {json}\r\n\r\n"))
}

/// Function-call parts: ids only when the request's calls had them; the first call carries the
/// thought signature, as Gemini 3 attaches it to the first call of a step.
fn call_parts(shared: &Shared, request: &GenerateRequest<'_>, reply: &Reply) -> Vec<Value> {
    let mut parts = Vec::with_capacity(reply.tool_calls.len());
    for (index, call) in reply.tool_calls.iter().enumerate() {
        let mut function_call = json!({"name": call.name, "args": call.arguments});
        if request.call_ids {
            function_call["id"] = json!(format!("call_mock{:08}", shared.next_id()));
        }
        let mut part = json!({"functionCall": function_call});
        if index == 0 {
            part["thoughtSignature"] = json!(behaviour::THINKING_SIGNATURE);
        }
        parts.push(part);
    }
    parts
}

/// Output tokens outside thoughts: Gemini counts those apart.
fn visible_tokens(reply: &Reply) -> u64 {
    reply.output_tokens.saturating_sub(thought_tokens(reply))
}

fn thought_tokens(reply: &Reply) -> u64 {
    reply
        .thinking
        .as_ref()
        .map_or(0, |(text, _)| behaviour::count_words(text))
}

/// `usageMetadata`; like every proto3 JSON field, counts of zero are left out.
fn usage(input: u64, candidates: u64, reply: &Reply) -> Value {
    let thoughts = thought_tokens(reply);
    let mut usage = Map::new();
    usage.insert("promptTokenCount".into(), json!(input));
    if candidates > 0 {
        usage.insert("candidatesTokenCount".into(), json!(candidates));
    }
    usage.insert(
        "totalTokenCount".into(),
        json!(input + candidates + thoughts),
    );
    if thoughts > 0 {
        usage.insert("thoughtsTokenCount".into(), json!(thoughts));
    }
    usage.insert(
        "promptTokensDetails".into(),
        json!([{"modality": "TEXT", "tokenCount": input}]),
    );
    Value::Object(usage)
}

/// The canonical `google.rpc.Code` name for an HTTP status.
fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ if status >= 500 => "INTERNAL",
        _ => "UNKNOWN",
    }
}

/// The vendor's status and message for an error kind.
fn defaults(kind: ErrorKind) -> (u16, &'static str) {
    match kind {
        ErrorKind::RateLimited => (429, "Resource has been exhausted (e.g. check quota)."),
        ErrorKind::InsufficientQuota => (
            429,
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        ErrorKind::ServerError => (
            500,
            "An internal error has occurred. Please retry or report in \
             https://developers.generativeai.google/guide/troubleshooting",
        ),
        ErrorKind::Overloaded => (503, "The model is overloaded. Please try again later."),
        ErrorKind::ContextLength => (
            400,
            "The input token count (1200000) exceeds the maximum number of tokens allowed \
             (1048576).",
        ),
        ErrorKind::Authentication => (400, API_KEY_INVALID),
        ErrorKind::PermissionDenied => (403, "The caller does not have permission"),
        ErrorKind::NotFound => (404, "Requested entity was not found."),
        ErrorKind::Timeout => (504, "Deadline expired before operation could complete."),
        ErrorKind::BadRequest => (400, "Request contains an invalid argument."),
    }
}

const API_KEY_INVALID: &str = "API key not valid. Please pass a valid API key.";

fn error_object(error: &VendorError) -> (StatusCode, Value) {
    let (default_status, message) = defaults(error.kind);
    let code = error.status.unwrap_or(default_status);
    let status = error.error_type.as_deref().unwrap_or(status_name(code));
    let mut body = json!({"error": {"code": code, "message": error.message.as_deref().unwrap_or(message),
                                    "status": status}});
    if error.kind == ErrorKind::Authentication {
        body["error"]["details"] = json!([
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com",
             "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
             "message": API_KEY_INVALID},
        ]);
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, body)
}

/// An error as Gemini answers it: `{"error":{"code","message","status"}}`.
pub(crate) fn error(error: &VendorError) -> Outcome {
    let (status, body) = error_object(error);
    Outcome::json(status, body.to_string())
}

/// The error chunk Gemini sends when a stream fails: an SSE event, or the array's next element.
pub(crate) fn stream_error_event(error: &VendorError, request: &Request<'_>) -> Bytes {
    let body = error_object(error).1.to_string();
    if request.query_param("alt") == Some("sse") {
        sse_event(&body)
    } else {
        Bytes::from(format!(",\r\n{body}]"))
    }
}

/// Gemini's 404 for a route it does not serve.
pub(crate) fn not_found(path: &str) -> Outcome {
    let message = match super::route(path) {
        Some((model, _)) => format!("models/{model} is not found for API version v1beta."),
        None => "Requested entity was not found.".to_owned(),
    };
    error(&VendorError::new(ErrorKind::NotFound).with_message(message))
}

/// 400 `INVALID_ARGUMENT` with `message`.
pub(super) fn invalid(message: &str) -> Outcome {
    error(&VendorError::new(ErrorKind::BadRequest).with_message(message))
}

/// 400 `API_KEY_INVALID`: the key is not one the API knows.
pub(super) fn api_key_invalid() -> Outcome {
    error(&VendorError::new(ErrorKind::Authentication))
}

/// 403 for a request without any key.
pub(super) fn unregistered_caller() -> Outcome {
    error(&VendorError::new(ErrorKind::PermissionDenied).with_message(
        "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_code() {
        let (status, body) = error_object(&VendorError::status(429));
        assert_eq!(status, 429);
        assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
        let (_, body) = error_object(&VendorError::status(401));
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
        let (status, body) = error_object(&VendorError::new(ErrorKind::Authentication));
        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");
        let typed = VendorError::new(ErrorKind::Overloaded).with_type("UNAVAILABLE_X");
        assert_eq!(error_object(&typed).1["error"]["status"], "UNAVAILABLE_X");
    }
}
