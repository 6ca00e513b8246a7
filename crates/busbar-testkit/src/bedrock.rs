//! Bedrock Converse and ConverseStream: routes, validation, replies and AWS's error shape (the
//! exception name in `x-amzn-ErrorType`, `{"message"}` in the body). SigV4 and bearer auth are in
//! `bedrock/sigv4.rs`; the `application/vnd.amazon.eventstream` stream in `bedrock/events.rs`.

mod events;
mod sigv4;

use std::borrow::Cow;

use http::header::HeaderValue;
use http::{HeaderName, StatusCode};
use serde_json::{json, Value};

use crate::behaviour::{self, Conversation, Finish, LastTurn, Reply, ToolChoice, ToolDef};
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

/// Answers `POST …/model/{id}/converse` and `/converse-stream`.
pub(crate) fn handle(shared: &Shared, request: &Request<'_>) -> Outcome {
    let Some((_, stream)) = route(request.path) else {
        return not_found();
    };
    if let Err(refusal) = sigv4::check(shared, request) {
        return refusal;
    }
    let Some(body) = request.json.filter(|v| v.is_object()) else {
        return validation("Malformed input request, please reformat your input and try again.");
    };
    let conversation = match parse(body) {
        Ok(conversation) => conversation,
        Err(refusal) => return refusal,
    };
    let reply = behaviour::reply(&conversation);
    let content = content_blocks(shared, &reply);
    let usage = json!({"inputTokens": conversation.input_tokens,
                       "outputTokens": reply.output_tokens,
                       "totalTokens": conversation.input_tokens + reply.output_tokens});
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

fn parse(body: &Value) -> Result<Conversation<'_>, Outcome> {
    let messages = body.get("messages").and_then(Value::as_array);
    let messages = messages.map_or(&[][..], Vec::as_slice);
    if messages.first().and_then(|m| m.get("role")) != Some(&json!("user")) {
        return Err(validation(
            "A conversation must start with a user message. Try again with a conversation that \
             starts with a user message.",
        ));
    }
    let mut input_tokens = 0;
    let mut tool_blocks = false;
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "user" | "assistant") {
            return Err(constraint(
                role,
                &format!("messages.{}.member.role", index + 1),
                "Member must satisfy enum value set: [user, assistant]",
            ));
        }
        let previous = index.checked_sub(1).map(|p| &messages[p]["role"]);
        if previous == Some(&json!(role)) {
            return Err(validation(
                "A conversation must alternate between user and assistant roles. Make sure the \
                 conversation alternates between user and assistant roles and try again.",
            ));
        }
        let blocks = message.get("content").and_then(Value::as_array);
        for (at, block) in blocks.into_iter().flatten().enumerate() {
            if let Some(text) = block.get("text").and_then(Value::as_str) {
                if text.trim().is_empty() {
                    return Err(validation(&format!(
                        "The text field in the ContentBlock object at messages.{index}.content.{at} \
                         is blank. Add text to the text field, and try again."
                    )));
                }
            }
            for kind in ["toolUse", "toolResult"] {
                if let Some(id) = block.get(kind).map(|b| &b["toolUseId"]) {
                    tool_blocks = true;
                    let id = id.as_str().unwrap_or_default();
                    let path = format!(
                        "messages.{}.member.content.{}.member.{kind}.toolUseId",
                        index + 1,
                        at + 1
                    );
                    check_name(id, &path, "[a-zA-Z0-9_.:-]+")?;
                }
            }
            input_tokens += behaviour::count_words(&block_text(block));
        }
    }
    input_tokens += body
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .map(behaviour::count_words)
        .sum::<u64>();
    let tool_config = body.get("toolConfig");
    if tool_blocks && tool_config.is_none() {
        return Err(validation(
            "The toolConfig field must be defined when using toolUse and toolResult content \
             blocks.",
        ));
    }
    let mut tools = Vec::new();
    let specs = tool_config
        .and_then(|c| c.get("tools"))
        .and_then(Value::as_array);
    for (index, tool) in specs.into_iter().flatten().enumerate() {
        let Some(spec) = tool.get("toolSpec") else {
            continue;
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
        let path = format!("toolConfig.tools.{}.member.toolSpec.name", index + 1);
        check_name(name, &path, "[a-zA-Z0-9_-]+")?;
        tools.push(ToolDef {
            name,
            schema: spec.pointer("/inputSchema/json"),
        });
    }
    let choice = tool_config.and_then(|c| c.get("toolChoice"));
    let tool_choice = match choice {
        Some(choice) if choice.get("any").is_some() => ToolChoice::Required,
        Some(choice) => match choice.pointer("/tool/name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Auto,
        },
        None => ToolChoice::Auto,
    };
    let inference = body.get("inferenceConfig");
    let max_tokens = inference
        .and_then(|c| c.get("maxTokens"))
        .and_then(Value::as_u64);
    if max_tokens == Some(0) {
        return Err(constraint(
            "0",
            "inferenceConfig.maxTokens",
            "Member must have value greater than or equal to 1",
        ));
    }
    let stop = inference
        .and_then(|c| c.get("stopSequences"))
        .and_then(Value::as_array);
    let extra = body.get("additionalModelRequestFields");
    let thinking = extra
        .and_then(|e| {
            e.pointer("/thinking/type")
                .or_else(|| e.pointer("/reasoning_config/type"))
        })
        .and_then(Value::as_str);
    Ok(Conversation {
        last: last_turn(messages),
        tools,
        tool_choice,
        parallel_allowed: true,
        max_tokens,
        stop: stop
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        input_tokens,
        thinking: matches!(thinking, Some("enabled" | "adaptive")),
    })
}

/// AWS's pattern and length constraint on tool names and tool-use ids.
fn check_name(value: &str, path: &str, pattern: &str) -> Result<(), Outcome> {
    let extra = if pattern.contains('.') { ".:" } else { "" };
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(c);
    if value.is_empty() || value.len() > 64 {
        let rule = "Member must have length less than or equal to 64";
        return Err(constraint(value, path, rule));
    }
    if !value.chars().all(allowed) {
        let rule = format!("Member must satisfy regular expression pattern: {pattern}");
        return Err(constraint(value, path, &rule));
    }
    Ok(())
}

/// The text of a content block: text, a tool result's contents, nothing for other kinds.
fn block_text(block: &Value) -> String {
    if let Some(text) = block.get("text").and_then(Value::as_str) {
        return text.to_owned();
    }
    let results = block
        .pointer("/toolResult/content")
        .and_then(Value::as_array);
    let texts: Vec<String> = results
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("text").or_else(|| item.get("json")))
        .map(behaviour::value_text)
        .collect();
    texts.join(" ")
}

/// The last user message: its tool results when it has any, else its text.
fn last_turn(messages: &[Value]) -> LastTurn {
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let blocks = user
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let results: Vec<String> = blocks
        .iter()
        .filter(|block| block.get("toolResult").is_some())
        .map(block_text)
        .collect();
    if !results.is_empty() {
        return LastTurn::ToolResult(results.join(" "));
    }
    let texts: Vec<&str> = blocks
        .iter()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    LastTurn::Text(texts.join(" "))
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
        assert_eq!(decode_model("a.b%3A0"), "a.b:0");
        assert_eq!(decode_model("arn%3Aaws%2Fx%zz%4"), "arn:aws/x%zz%4");
        assert!(matches!(decode_model("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn names_follow_aws_patterns() {
        assert!(check_name("get_weather-2", "p", "[a-zA-Z0-9_-]+").is_ok());
        assert!(check_name("get.weather", "p", "[a-zA-Z0-9_-]+").is_err());
        assert!(check_name("toolu_1:a.b", "p", "[a-zA-Z0-9_.:-]+").is_ok());
        assert!(check_name(&"x".repeat(65), "p", "[a-zA-Z0-9_.:-]+").is_err());
        assert!(check_name("", "p", "[a-zA-Z0-9_.:-]+").is_err());
    }

    #[test]
    fn tool_results_flatten_text_and_json() {
        let messages = [
            json!({"role": "user", "content": [{"toolResult": {"toolUseId": "t",
            "content": [{"text": "18C"}, {"json": {"result": "sunny"}}]}}]}),
        ];
        assert_eq!(
            last_turn(&messages),
            LastTurn::ToolResult("18C sunny".into())
        );
    }
}
