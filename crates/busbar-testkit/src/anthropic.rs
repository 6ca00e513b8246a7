//! Anthropic Messages: auth, validation, reply, stream and error bodies as the vendor writes them.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::behaviour::{self, Conversation, Finish, LastTurn, Reply, ToolChoice, ToolDef};
use crate::faults::{ErrorKind, VendorError};
use crate::format::Outcome;
use crate::server::Shared;
use crate::sse;

/// Bytes of tool input per `input_json_delta`.
const JSON_PIECE: usize = 12;

/// A request the mock accepted.
struct MessagesRequest<'a> {
    model: &'a str,
    stream: bool,
    conversation: Conversation<'a>,
}

/// Answers `POST …/v1/messages`.
pub(crate) fn handle(shared: &Shared, headers: &HeaderMap, json: Option<&Value>) -> Outcome {
    if let Err(refusal) = check_headers(shared, headers) {
        return refusal;
    }
    let Some(body) = json.filter(|v| v.is_object()) else {
        return invalid(
            "There was an error parsing the body of your request: it is not valid JSON.",
        );
    };
    let request = match parse(body) {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let reply = behaviour::reply(&request.conversation);
    let id = format!("msg_mock{:08}", shared.next_id());
    let blocks = content_blocks(shared, &reply);
    let input_tokens = request.conversation.input_tokens;
    let stop_sequence = match &reply.finish {
        Finish::StopSequence(sequence) => Value::String(sequence.clone()),
        _ => Value::Null,
    };
    if request.stream {
        return Outcome::stream(stream_events(
            shared,
            &request,
            &reply,
            &id,
            &blocks,
            stop_sequence,
        ));
    }
    let body = json!({
        "id": id, "type": "message", "role": "assistant", "model": request.model,
        "content": blocks, "stop_reason": stop_reason(&reply.finish), "stop_sequence": stop_sequence,
        "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": reply.output_tokens,
                  "service_tier": "standard"},
    });
    Outcome::json(StatusCode::OK, body.to_string())
}

fn check_headers(shared: &Shared, headers: &HeaderMap) -> Result<(), Outcome> {
    let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let bearer = crate::format::bearer(headers);
    let refuse = |message: &str| {
        let error = VendorError::new(ErrorKind::Authentication).with_message(message);
        Err(self::error(&error))
    };
    match (api_key.or(bearer), shared.expected_key()) {
        (None | Some(""), _) => return refuse("x-api-key header is required"),
        (Some(key), Some(expected)) if key != expected => return refuse("invalid x-api-key"),
        _ => {}
    }
    if !headers.contains_key("anthropic-version") {
        return Err(invalid("anthropic-version: header is required"));
    }
    Ok(())
}

fn parse(body: &Value) -> Result<MessagesRequest<'_>, Outcome> {
    let model = match body.get("model") {
        None | Some(Value::Null) => return Err(invalid("model: Field required")),
        Some(Value::String(model)) => model.as_str(),
        Some(_) => return Err(invalid("model: Input should be a valid string")),
    };
    let max_tokens = match body.get("max_tokens") {
        None | Some(Value::Null) => return Err(invalid("max_tokens: Field required")),
        Some(value) => match value.as_u64() {
            Some(0) => {
                return Err(invalid(
                    "max_tokens: Input should be greater than or equal to 1",
                ))
            }
            Some(max) => max,
            None => return Err(invalid("max_tokens: Input should be a valid integer")),
        },
    };
    let messages = match body.get("messages") {
        None | Some(Value::Null) => return Err(invalid("messages: Field required")),
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(invalid("messages: at least one message is required"))
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(invalid("messages: Input should be a valid list")),
    };
    let mut input_tokens = behaviour::count_words(&blocks_text(body.get("system")));
    for (index, message) in messages.iter().enumerate() {
        if !matches!(
            message.get("role").and_then(Value::as_str),
            Some("user" | "assistant")
        ) {
            return Err(invalid(&format!(
                "messages.{index}.role: Input should be 'user' or 'assistant'"
            )));
        }
        input_tokens += behaviour::count_words(&blocks_text(message.get("content")));
    }
    let mut tools = Vec::new();
    for (index, tool) in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        // Server tools (web search, code execution, …) carry a versioned type and no schema.
        if !matches!(
            tool.get("type").and_then(Value::as_str),
            None | Some("custom")
        ) {
            continue;
        }
        match tool.get("name").and_then(Value::as_str) {
            Some(name) => tools.push(ToolDef {
                name,
                schema: tool.get("input_schema"),
            }),
            None => return Err(invalid(&format!("tools.{index}.name: Field required"))),
        }
    }
    let choice = body.get("tool_choice");
    let tool_choice = match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Required,
        Some("tool") => match choice.and_then(|c| c.get("name")).and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => return Err(invalid("tool_choice.tool.name: Field required")),
        },
        _ => ToolChoice::Auto,
    };
    let disable_parallel = choice
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stop = body
        .get("stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let thinking = body.pointer("/thinking/type").and_then(Value::as_str);
    let conversation = Conversation {
        last: last_turn(messages),
        tools,
        tool_choice,
        parallel_allowed: !disable_parallel,
        max_tokens: Some(max_tokens),
        stop: stop.filter_map(Value::as_str).map(str::to_owned).collect(),
        input_tokens,
        thinking: matches!(thinking, Some("enabled" | "adaptive")),
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok(MessagesRequest {
        model,
        stream,
        conversation,
    })
}

/// The latest user message: its `tool_result` blocks when it has any, else its text.
fn last_turn(messages: &[Value]) -> LastTurn {
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let Some(content) = user.and_then(|m| m.get("content")) else {
        return LastTurn::Text(String::new());
    };
    let results: Vec<String> = content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| blocks_text(b.get("content")))
        .collect();
    if results.is_empty() {
        LastTurn::Text(blocks_text(Some(content)))
    } else {
        LastTurn::ToolResult(results.join(" "))
    }
}

/// The text of a string or of an array of blocks (`text` blocks and `tool_result` contents).
fn blocks_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => {
            let texts: Vec<String> = blocks
                .iter()
                .filter_map(|block| match block.get("type").and_then(Value::as_str) {
                    Some("text") => block.get("text").and_then(Value::as_str).map(str::to_owned),
                    Some("tool_result") => Some(blocks_text(block.get("content"))),
                    _ => None,
                })
                .collect();
            texts.join(" ")
        }
        _ => String::new(),
    }
}

fn stop_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::End => "end_turn",
        Finish::MaxTokens => "max_tokens",
        Finish::StopSequence(_) => "stop_sequence",
        Finish::ToolUse => "tool_use",
    }
}

/// The reply's content blocks, in the order Anthropic writes them: thinking, text, tool uses.
fn content_blocks(shared: &Shared, reply: &Reply) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some((thinking, signature)) = &reply.thinking {
        blocks.push(json!({"type": "thinking", "thinking": thinking, "signature": signature}));
    }
    if let Some(text) = &reply.text {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in &reply.tool_calls {
        let id = format!("toolu_mock{:08}", shared.next_id());
        blocks.push(
            json!({"type": "tool_use", "id": id, "name": call.name, "input": call.arguments}),
        );
    }
    blocks
}

fn stream_events(
    shared: &Shared,
    request: &MessagesRequest<'_>,
    reply: &Reply,
    id: &str,
    blocks: &[Value],
    stop_sequence: Value,
) -> Vec<Bytes> {
    let event = |name: &str, data: Value| sse::json_event(Some(name), &data);
    let delta = |index: usize, delta: Value| {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    };
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": request.model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": request.conversation.input_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 1, "service_tier": "standard"}}}),
    )];
    for (index, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("text");
        let start = match kind {
            "thinking" => json!({"type": "thinking", "thinking": "", "signature": ""}),
            "tool_use" => {
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}})
            }
            _ => json!({"type": "text", "text": ""}),
        };
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        if index == 0 {
            // Anthropic sends its ping right after the first block opens.
            events.push(event("ping", json!({"type": "ping"})));
        }
        let words = shared.words_per_delta();
        match kind {
            "thinking" => {
                let text = block["thinking"].as_str().unwrap_or_default();
                for piece in behaviour::word_pieces(text, words) {
                    events.push(delta(
                        index,
                        json!({"type": "thinking_delta", "thinking": piece}),
                    ));
                }
                let signature = &block["signature"];
                events.push(delta(
                    index,
                    json!({"type": "signature_delta", "signature": signature}),
                ));
            }
            "tool_use" => {
                // The first fragment is empty, as the API sends it.
                events.push(delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": ""}),
                ));
                let input = block["input"].to_string();
                for piece in behaviour::byte_pieces(&input, JSON_PIECE) {
                    events.push(delta(
                        index,
                        json!({"type": "input_json_delta", "partial_json": piece}),
                    ));
                }
            }
            _ => {
                let text = block["text"].as_str().unwrap_or_default();
                for piece in behaviour::word_pieces(text, words)
                    .into_iter()
                    .filter(|p| !p.is_empty())
                {
                    events.push(delta(index, json!({"type": "text_delta", "text": piece})));
                }
            }
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop_reason(&reply.finish), "stop_sequence": stop_sequence},
               "usage": {"output_tokens": reply.output_tokens}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

/// The vendor's status, error type and message for an error kind.
fn defaults(kind: ErrorKind) -> (u16, &'static str, &'static str) {
    match kind {
        ErrorKind::RateLimited => (
            429,
            "rate_limit_error",
            "Number of requests has exceeded your per-minute rate limit.",
        ),
        ErrorKind::InsufficientQuota => (
            402,
            "billing_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        ErrorKind::ServerError => (500, "api_error", "Internal server error"),
        ErrorKind::Overloaded => (529, "overloaded_error", "Overloaded"),
        ErrorKind::ContextLength => (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
        ),
        ErrorKind::Authentication => (401, "authentication_error", "invalid x-api-key"),
        ErrorKind::PermissionDenied => (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        ErrorKind::NotFound => (404, "not_found_error", "Not found"),
        ErrorKind::Timeout => (504, "timeout_error", "Request timed out"),
        ErrorKind::BadRequest => (400, "invalid_request_error", "Invalid request"),
    }
}

fn error_object(error: &VendorError) -> (StatusCode, Value) {
    let (status, error_type, message) = defaults(error.kind);
    let status =
        StatusCode::from_u16(error.status.unwrap_or(status)).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"type": "error", "error": {
        "type": error.error_type.as_deref().unwrap_or(error_type),
        "message": error.message.as_deref().unwrap_or(message),
    }});
    (status, body)
}

/// An error as Anthropic answers it: `{"type":"error","error":{"type","message"}}`.
pub(crate) fn error(error: &VendorError) -> Outcome {
    let (status, body) = error_object(error);
    Outcome::json(status, body.to_string())
}

/// The `event: error` Anthropic sends when a stream fails after a 200.
pub(crate) fn stream_error_event(error: &VendorError) -> Bytes {
    sse::json_event(Some("error"), &error_object(error).1)
}

/// Anthropic's 404 for an unknown route.
pub(crate) fn not_found() -> Outcome {
    error(&VendorError::new(ErrorKind::NotFound).with_message("Not Found"))
}

fn invalid(message: &str) -> Outcome {
    error(&VendorError::new(ErrorKind::BadRequest).with_message(message))
}
