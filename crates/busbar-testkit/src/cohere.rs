//! Cohere Chat v2: auth, validation, reply, stream and error bodies as the vendor writes them.
//!
//! A reply with tool calls carries its preamble as `tool_plan`, not as content, as Cohere's
//! models do; the stream then sends `tool-plan-delta` events instead of a content block.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::behaviour::{self, Conversation, Finish, LastTurn, Reply, ToolChoice, ToolDef};
use crate::faults::{ErrorKind, VendorError};
use crate::format::{self, Outcome};
use crate::server::Shared;
use crate::sse;

/// Bytes of tool-call arguments per `tool-call-delta`.
const ARGUMENT_PIECE: usize = 12;

/// The most stop sequences the API takes.
const MAX_STOP_SEQUENCES: usize = 5;

/// Numbers error ids, which the vendor makes unique per request.
static ERROR_IDS: AtomicU64 = AtomicU64::new(0);

/// A request the mock accepted.
struct ChatRequest<'a> {
    stream: bool,
    conversation: Conversation<'a>,
}

/// Answers `POST …/v2/chat`.
pub(crate) fn handle(shared: &Shared, headers: &HeaderMap, json: Option<&Value>) -> Outcome {
    match (format::bearer(headers), shared.expected_key()) {
        (None | Some(""), _) => return refuse("no api key supplied"),
        (Some(key), Some(expected)) if key != expected => return refuse("invalid api token"),
        _ => {}
    }
    let Some(body) = json.filter(|v| v.is_object()) else {
        return invalid("invalid request: could not parse the request body as JSON");
    };
    let request = match parse(body) {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let reply = behaviour::reply(&request.conversation);
    let id = uuid(shared.next_id());
    let calls: Vec<Value> = reply
        .tool_calls
        .iter()
        .map(|call| {
            json!({"id": format!("{}_mock{:08}", call.name, shared.next_id()), "type": "function",
                   "function": {"name": call.name, "arguments": call.arguments.to_string()}})
        })
        .collect();
    let usage = usage(request.conversation.input_tokens, reply.output_tokens);
    if request.stream {
        return Outcome::stream(stream_events(shared, &reply, &id, &calls, usage));
    }
    let mut content = Vec::new();
    if let Some((thinking, _)) = &reply.thinking {
        content.push(json!({"type": "thinking", "thinking": thinking}));
    }
    let mut message = json!({"role": "assistant"});
    if calls.is_empty() {
        let text = reply.text.as_deref().unwrap_or_default();
        content.push(json!({"type": "text", "text": text}));
    } else {
        message["tool_plan"] = json!(reply.text);
        message["tool_calls"] = Value::Array(calls);
    }
    if !content.is_empty() {
        message["content"] = Value::Array(content);
    }
    let body = json!({"id": id, "finish_reason": finish_reason(&reply.finish),
                      "message": message, "usage": usage});
    Outcome::json(StatusCode::OK, body.to_string())
}

fn parse(body: &Value) -> Result<ChatRequest<'_>, Outcome> {
    match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => {}
        _ => return Err(invalid("invalid request: model must be a non-empty string")),
    }
    let messages = match body.get("messages").and_then(Value::as_array) {
        Some(messages) if !messages.is_empty() => messages,
        _ => return Err(invalid("invalid request: messages must not be empty")),
    };
    let mut input_tokens = 0;
    for message in messages {
        let role = message.get("role").and_then(Value::as_str);
        if !matches!(role, Some("system" | "user" | "assistant" | "tool")) {
            return Err(invalid(
                "invalid request: message role must be one of 'system', 'user', 'assistant' or \
                 'tool'",
            ));
        }
        input_tokens += behaviour::count_words(&content_text(message.get("content")));
    }
    let mut tools = Vec::new();
    let defined = body.get("tools").and_then(Value::as_array);
    for tool in defined.into_iter().flatten() {
        let function = tool.get("function");
        match function.and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(name) => tools.push(ToolDef {
                name,
                schema: function.and_then(|f| f.get("parameters")),
            }),
            None => return Err(invalid("invalid request: tool function name is required")),
        }
    }
    let tool_choice = match body.get("tool_choice").and_then(Value::as_str) {
        Some("REQUIRED") => ToolChoice::Required,
        Some("NONE") => ToolChoice::None,
        _ => ToolChoice::Auto,
    };
    let stop: Vec<String> = body
        .get("stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if stop.len() > MAX_STOP_SEQUENCES {
        return Err(invalid(&format!(
            "invalid request: stop_sequences can have at most {MAX_STOP_SEQUENCES} elements"
        )));
    }
    check_thinking(body.get("thinking"))?;
    let conversation = Conversation {
        last: last_turn(messages),
        tools,
        tool_choice,
        parallel_allowed: true,
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
        stop,
        input_tokens,
        thinking: body.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled"),
    };
    Ok(ChatRequest {
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        conversation,
    })
}

/// `thinking`, as `cohere` 7.3's `Thinking`: `type` `enabled` or `disabled`, an optional integer
/// `token_budget` of at least 1.
fn check_thinking(thinking: Option<&Value>) -> Result<(), Outcome> {
    let Some(thinking) = thinking.filter(|t| !t.is_null()) else {
        return Ok(());
    };
    if !matches!(
        thinking.get("type").and_then(Value::as_str),
        Some("enabled" | "disabled")
    ) {
        return Err(invalid(
            "invalid request: thinking.type must be one of 'enabled', 'disabled'",
        ));
    }
    match thinking.get("token_budget") {
        None | Some(Value::Null) => Ok(()),
        Some(budget) if budget.as_u64().is_some_and(|b| b >= 1) => Ok(()),
        Some(_) => Err(invalid(
            "invalid request: thinking.token_budget must be a positive integer",
        )),
    }
}

/// Trailing tool messages make a tool-result turn; otherwise the latest user message counts.
fn last_turn(messages: &[Value]) -> LastTurn {
    let is_tool = |m: &&Value| m.get("role").and_then(Value::as_str) == Some("tool");
    let trailing = messages.iter().rev().take_while(is_tool).count();
    if trailing > 0 {
        let results = messages[messages.len() - trailing..].iter();
        let texts: Vec<String> = results.map(|m| content_text(m.get("content"))).collect();
        return LastTurn::ToolResult(texts.join(" "));
    }
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    LastTurn::Text(
        user.map(|m| content_text(m.get("content")))
            .unwrap_or_default(),
    )
}

/// The text of a `content` field: a string, or its `text` parts and documents' data.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            let texts: Vec<String> = parts
                .iter()
                .filter_map(|part| match part.get("type").and_then(Value::as_str) {
                    Some("text") => part.get("text").and_then(Value::as_str).map(str::to_owned),
                    Some("document") => part.pointer("/document/data").map(behaviour::value_text),
                    _ => None,
                })
                .collect();
            texts.join(" ")
        }
        _ => String::new(),
    }
}

fn finish_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::End => "COMPLETE",
        Finish::MaxTokens => "MAX_TOKENS",
        Finish::StopSequence(_) => "STOP_SEQUENCE",
        Finish::ToolUse => "TOOL_CALL",
    }
}

fn usage(input: u64, output: u64) -> Value {
    json!({"billed_units": {"input_tokens": input, "output_tokens": output},
           "tokens": {"input_tokens": input, "output_tokens": output}, "cached_tokens": 0})
}

/// A UUID-shaped id, as Cohere's ids are.
fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
}

fn stream_events(
    shared: &Shared,
    reply: &Reply,
    id: &str,
    calls: &[Value],
    usage: Value,
) -> Vec<Bytes> {
    let event = |name: &str, data: Value| {
        // `type` leads, as in the vendor's events.
        let mut ordered = serde_json::Map::new();
        ordered.insert("type".to_owned(), json!(name));
        if let Value::Object(fields) = data {
            ordered.extend(fields);
        }
        sse::json_event(Some(name), &Value::Object(ordered))
    };
    let words = shared.words_per_delta();
    let mut events = vec![event(
        "message-start",
        json!({"id": id, "delta": {"message": {"role": "assistant", "content": [],
               "tool_plan": "", "tool_calls": [], "citations": []}}}),
    )];
    let mut block = 0;
    let mut content_block = |events: &mut Vec<Bytes>, kind: &str, text: &str| {
        let start = json!({"type": kind, kind: ""});
        events.push(event(
            "content-start",
            json!({"index": block, "delta": {"message": {"content": start}}}),
        ));
        for piece in behaviour::word_pieces(text, words)
            .into_iter()
            .filter(|p| !p.is_empty())
        {
            events.push(event(
                "content-delta",
                json!({"index": block, "delta": {"message": {"content": {kind: piece}}}}),
            ));
        }
        events.push(event("content-end", json!({"index": block})));
        block += 1;
    };
    if let Some((thinking, _)) = &reply.thinking {
        content_block(&mut events, "thinking", thinking);
    }
    let text = reply.text.as_deref().unwrap_or_default();
    if calls.is_empty() {
        content_block(&mut events, "text", text);
    } else {
        for piece in behaviour::word_pieces(text, words) {
            events.push(event(
                "tool-plan-delta",
                json!({"delta": {"message": {"tool_plan": piece}}}),
            ));
        }
    }
    for (index, call) in calls.iter().enumerate() {
        let mut start = call.clone();
        start["function"]["arguments"] = json!("");
        events.push(event(
            "tool-call-start",
            json!({"index": index, "delta": {"message": {"tool_calls": start}}}),
        ));
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        for piece in behaviour::byte_pieces(arguments, ARGUMENT_PIECE) {
            events.push(event(
                "tool-call-delta",
                json!({"index": index,
                       "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}}),
            ));
        }
        events.push(event("tool-call-end", json!({"index": index})));
    }
    events.push(event(
        "message-end",
        json!({"delta": {"finish_reason": finish_reason(&reply.finish), "usage": usage}}),
    ));
    // Cohere's API description declares `[DONE]` as the stream's terminator; its SDK stops there.
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// The vendor's status and message for an error kind.
fn defaults(kind: ErrorKind) -> (u16, &'static str) {
    match kind {
        ErrorKind::RateLimited => (
            429,
            "You are past the per minute request limit, please wait and try again later.",
        ),
        ErrorKind::InsufficientQuota => (
            402,
            "Please add or update your payment method at \
             https://dashboard.cohere.com/billing?tab=payment to continue",
        ),
        ErrorKind::ServerError => (
            500,
            "internal server error, this has been reported to our developers",
        ),
        ErrorKind::Overloaded => (503, "service unavailable, please try again later"),
        ErrorKind::ContextLength => (
            400,
            "too many tokens: total number of tokens in the prompt cannot exceed 256000 - \
             received 300000. Try using a shorter prompt, or enabling prompt truncating. See \
             https://docs.cohere.com/reference/chat for more details.",
        ),
        ErrorKind::Authentication => (401, "invalid api token"),
        ErrorKind::PermissionDenied => (403, "you do not have access to this resource"),
        ErrorKind::NotFound => (
            404,
            "model not found, make sure the correct model ID was used and that you have access \
             to the model.",
        ),
        ErrorKind::Timeout => (504, "the request timed out, please try again"),
        ErrorKind::BadRequest => (400, "invalid request"),
    }
}

/// An error as Cohere answers it: `{"id","message"}`.
pub(crate) fn error(error: &VendorError) -> Outcome {
    let (status, message) = defaults(error.kind);
    let status =
        StatusCode::from_u16(error.status.unwrap_or(status)).unwrap_or(StatusCode::BAD_REQUEST);
    let id = uuid(ERROR_IDS.fetch_add(1, Ordering::Relaxed) + 1 + (1 << 40));
    let body = json!({"id": id, "message": error.message.as_deref().unwrap_or(message)});
    Outcome::json(status, body.to_string())
}

/// How a Cohere stream fails after its headers went out: a `message-end` whose finish reason
/// is `ERROR`, carrying the message.
pub(crate) fn stream_error_event(error: &VendorError) -> Bytes {
    let message = error.message.as_deref().unwrap_or(defaults(error.kind).1);
    let data = json!({"type": "message-end",
                      "delta": {"error": message, "finish_reason": "ERROR"}});
    sse::json_event(Some("message-end"), &data)
}

/// Cohere's 404 for a route it does not serve.
pub(crate) fn not_found() -> Outcome {
    error(&VendorError::new(ErrorKind::NotFound).with_message("Not Found"))
}

fn refuse(message: &str) -> Outcome {
    error(&VendorError::new(ErrorKind::Authentication).with_message(message))
}

fn invalid(message: &str) -> Outcome {
    error(&VendorError::new(ErrorKind::BadRequest).with_message(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_messages_and_documents_become_text() {
        let messages = [
            json!({"role": "user", "content": "weather?"}),
            json!({"role": "assistant", "tool_calls": [], "tool_plan": "I will"}),
            json!({"role": "tool", "tool_call_id": "a", "content": "18C"}),
            json!({"role": "tool", "tool_call_id": "b", "content": [
                {"type": "document", "document": {"data": {"result": "sunny"}}},
                {"type": "text", "text": "ok"}]}),
        ];
        assert_eq!(
            last_turn(&messages),
            LastTurn::ToolResult("18C sunny ok".into())
        );
        assert_eq!(last_turn(&messages[..2]), LastTurn::Text("weather?".into()));
        assert_eq!(uuid(255), "00000000-0000-4000-8000-0000000000ff");
    }
}
