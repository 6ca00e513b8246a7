//! Bedrock Converse and ConverseStream: routes, validation, replies and AWS's error shape (the
//! exception name in `x-amzn-ErrorType`, `{"message"}` in the body). SigV4 and bearer auth are in
//! `bedrock/sigv4.rs`; the `application/vnd.amazon.eventstream` stream in `bedrock/events.rs`.

mod events;
pub(crate) mod invoke;
mod request;
mod sigv4;

use std::borrow::Cow;

use http::header::HeaderValue;
use http::{HeaderName, StatusCode};
use serde_json::{json, Value};

use crate::behaviour::{self, Finish, Reply};
use crate::faults::{ErrorKind, VendorError};
use crate::format::{Outcome, Request};
use crate::server::Shared;

pub(crate) use events::stream_error_event;

/// The coral namespace AWS appends to Bedrock's exception names.
const BEDROCK_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazon.bedrock/";

/// Milliseconds reported in `metrics.latencyMs`: fixed, so replies stay deterministic.
const LATENCY_MS: u64 = 1;

/// The raw model id and whether it streams, when `path` is `…/model/{id}/converse` or
/// `/converse-stream`.
pub(crate) fn route(path: &str) -> Option<(&str, bool)> {
    let at = path.rfind("/model/")?;
    let rest = &path[at + "/model/".len()..];
    let (model, operation) = rest.split_once('/')?;
    let stream = match operation {
        "converse" => false,
        "converse-stream" => true,
        _ => return None,
    };
    (!model.is_empty()).then_some((model, stream))
}

/// A model id as sent in the path, percent-decoded (`%3A` → `:`).
pub(crate) fn decode_model(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The raw model id, when `path` is `…/model/{id}/count-tokens`.
pub(crate) fn count_route(path: &str) -> Option<&str> {
    let at = path.rfind("/model/")?;
    let model = path[at + "/model/".len()..].strip_suffix("/count-tokens")?;
    (!model.is_empty() && !model.contains('/')).then_some(model)
}

/// Answers `POST …/model/{id}/converse`, `/converse-stream` and `/count-tokens`.
pub(crate) fn handle(shared: &Shared, request: &Request<'_>) -> Outcome {
    let count = count_route(request.path).is_some();
    let route = route(request.path);
    if route.is_none() && !count {
        return not_found();
    }
    if let Err(refusal) = sigv4::check(shared, request) {
        return refusal;
    }
    let Some(body) = request.json.filter(|v| v.is_object()) else {
        return validation("Malformed input request, please reformat your input and try again.");
    };
    let Some((model, stream)) = route else {
        return count_tokens(body);
    };
    let parsed = match request::parse(body) {
        Ok(parsed) => parsed,
        Err(refusal) => return refusal,
    };
    let conversation = &parsed.conversation;
    let reply = behaviour::reply(conversation);
    let content = content_blocks(shared, &reply);
    let prefix = parsed.cache_prefix.as_deref();
    let scope = format!("bedrock/{}", decode_model(model));
    let hour_words = parsed
        .cache_prefix_1h
        .as_deref()
        .map_or(0, behaviour::count_words);
    let cache = shared.prompt_cache().settle(
        &scope,
        prefix,
        prefix.map_or(0, behaviour::count_words),
        hour_words,
    );
    let input = parsed.words - cache.total();
    let mut usage = json!({"inputTokens": input, "outputTokens": reply.output_tokens,
                           "totalTokens": parsed.words + reply.output_tokens});
    // Like Bedrock, the cache counts appear when the request has cache points; `cacheDetails`
    // lists the writes by lifetime, 1h first, and is empty when nothing was written.
    if prefix.is_some() {
        usage["cacheReadInputTokens"] = json!(cache.read);
        usage["cacheWriteInputTokens"] = json!(cache.write);
        let details: Vec<Value> = [("1h", cache.write_1h), ("5m", cache.write_5m())]
            .into_iter()
            .filter(|&(_, tokens)| tokens > 0)
            .map(|(ttl, tokens)| json!({"ttl": ttl, "inputTokens": tokens}))
            .collect();
        usage["cacheDetails"] = Value::Array(details);
    }
    if stream {
        return events::stream(shared, &content, stop_reason(&reply.finish), usage);
    }
    let body = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(&reply.finish), "usage": usage,
        "metrics": {"latencyMs": LATENCY_MS},
    });
    Outcome::json(StatusCode::OK, body.to_string())
}

/// CountTokens: `{"input": {"converse": {…}}}` counted by the mock's word rule, checked as a
/// Converse request; an `invokeModel` input (a model-native body as a base64 blob) is counted
/// when it is Claude's Messages body, and counts no words otherwise.
fn count_tokens(body: &Value) -> Outcome {
    let input = body.get("input").and_then(Value::as_object);
    let Some(input) = input.filter(|i| i.len() == 1) else {
        return validation(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member \
             must have exactly one field set",
        );
    };
    let words = match (input.get("converse"), input.get("invokeModel")) {
        (Some(converse), _) => match request::parse(converse) {
            Ok(parsed) => parsed.words,
            Err(refusal) => return refusal,
        },
        // A Claude InvokeModel body, as a base64 blob, is counted as the Messages body it holds.
        (None, Some(invoke)) => invoke::count(invoke).unwrap_or(0),
        (None, None) => {
            return validation(
                "Malformed input request: #/input: extraneous key is not permitted, please \
                 reformat your input and try again.",
            )
        }
    };
    Outcome::json(StatusCode::OK, json!({"inputTokens": words}).to_string())
}

fn stop_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::End => "end_turn",
        Finish::MaxTokens => "max_tokens",
        Finish::StopSequence(_) => "stop_sequence",
        Finish::ToolUse => "tool_use",
    }
}

/// The reply's content blocks in Bedrock's order: reasoning, text, tool uses.
fn content_blocks(shared: &Shared, reply: &Reply) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some((text, signature)) = &reply.thinking {
        blocks.push(json!({"reasoningContent": {"reasoningText": {"text": text,
                                                                   "signature": signature}}}));
    }
    if let Some(text) = &reply.text {
        blocks.push(json!({"text": text}));
    }
    for call in &reply.tool_calls {
        let id = format!("tooluse_mock{:08}", shared.next_id());
        blocks.push(json!({"toolUse": {"toolUseId": id, "name": call.name,
                                       "input": call.arguments}}));
    }
    blocks
}

/// The exception name, status and message Bedrock uses for an error kind.
fn defaults(kind: ErrorKind) -> (&'static str, u16, &'static str) {
    match kind {
        ErrorKind::RateLimited => (
            "ThrottlingException",
            429,
            "Too many requests, please wait before trying again.",
        ),
        ErrorKind::InsufficientQuota => (
            "ServiceQuotaExceededException",
            400,
            "Your request exceeds the service quota for your account. You can view your quotas \
             at https://console.aws.amazon.com/servicequotas/. You can resubmit your request \
             later.",
        ),
        ErrorKind::ServerError => (
            "InternalServerException",
            500,
            "The system encountered an unexpected error during processing. Try your request \
             again.",
        ),
        ErrorKind::Overloaded => (
            "ServiceUnavailableException",
            503,
            "Bedrock is unable to process your request.",
        ),
        ErrorKind::ContextLength => (
            "ValidationException",
            400,
            "Input is too long for requested model.",
        ),
        ErrorKind::Authentication => (
            "UnrecognizedClientException",
            403,
            "The security token included in the request is invalid.",
        ),
        ErrorKind::PermissionDenied => (
            "AccessDeniedException",
            403,
            "You don't have access to the model with the specified model ID.",
        ),
        ErrorKind::NotFound => (
            "ResourceNotFoundException",
            404,
            "Could not resolve the foundation model from the provided model identifier.",
        ),
        ErrorKind::Timeout => (
            "ModelTimeoutException",
            408,
            "Model has timed out in processing the request. Try your request again.",
        ),
        ErrorKind::BadRequest => (
            "ValidationException",
            400,
            "Malformed input request, please reformat your input and try again.",
        ),
    }
}

/// An error as Bedrock answers it: `x-amzn-ErrorType: Name:namespace` and `{"message"}`.
pub(crate) fn error(error: &VendorError) -> Outcome {
    let (name, status, message) = defaults(error.kind);
    let name = error.error_type.as_deref().unwrap_or(name);
    let message = error.message.as_deref().unwrap_or(message);
    aws_error(
        error.status.unwrap_or(status),
        name,
        BEDROCK_NAMESPACE,
        message,
    )
}

/// An AWS error reply: the exception in `x-amzn-ErrorType`, the message in the body.
fn aws_error(status: u16, name: &str, namespace: &str, message: &str) -> Outcome {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let outcome = Outcome::json(status, json!({"message": message}).to_string());
    match HeaderValue::from_str(&format!("{name}:{namespace}")) {
        Ok(value) => outcome.header(HeaderName::from_static("x-amzn-errortype"), value),
        Err(_) => outcome,
    }
}

/// Bedrock's answer to a route it does not serve.
pub(crate) fn not_found() -> Outcome {
    aws_error(
        404,
        "UnknownOperationException",
        "http://internal.amazon.com/coral/com.amazon.coral.service/",
        "",
    )
}

fn validation(message: &str) -> Outcome {
    error(&VendorError::new(ErrorKind::BadRequest).with_message(message))
}

/// A `ValidationException` in AWS's constraint wording.
fn constraint(value: &str, path: &str, rule: &str) -> Outcome {
    validation(&format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: \
         {rule}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_model_ids() {
        assert_eq!(route("/model/a.b%3A0/converse"), Some(("a.b%3A0", false)));
        assert_eq!(route("/p/model/m/converse-stream"), Some(("m", true)));
        assert_eq!(route("/model/m/invoke"), None);
        assert_eq!(count_route("/model/a.b%3A0/count-tokens"), Some("a.b%3A0"));
        assert_eq!(count_route("/model/m/converse"), None);
        assert_eq!(decode_model("a.b%3A0"), "a.b:0");
        assert_eq!(decode_model("arn%3Aaws%2Fx%zz%4"), "arn:aws/x%zz%4");
        assert!(matches!(decode_model("plain"), Cow::Borrowed("plain")));
    }
}
