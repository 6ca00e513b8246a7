//! OpenAI Chat Completions: auth, validation, reply, stream and error bodies as the vendor writes them.

pub(crate) mod request;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::behaviour::{self, Conversation, Finish, LastTurn, Reply, ToolChoice, ToolDef};
use crate::faults::{ErrorKind, VendorError};
use crate::format::Outcome;
use crate::server::Shared;
use crate::sse;

/// Bytes of tool-call arguments per streamed fragment.
const ARGUMENT_PIECE: usize = 12;

/// A request the mock accepted.
struct ChatRequest<'a> {
    model: &'a str,
    stream: bool,
    include_usage: bool,
    conversation: Conversation<'a>,
}

/// Answers `POST …/chat/completions`.
/// Answers `POST …/chat/completions`; `keyed`: the key is checked here (not on Azure's paths,
/// whose credential `cloud.rs` checked).
pub(crate) fn handle(
    shared: &Shared,
    headers: &HeaderMap,
    json: Option<&Value>,
    keyed: bool,
) -> Outcome {
    if keyed {
        if let Err(refusal) = check_auth(shared, headers) {
            return refusal;
        }
    }
    let Some(body) = json.filter(|v| v.is_object()) else {
        return invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't \
             using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was \
             sent was not valid JSON.)",
            None,
            None,
        );
    };
    let request = match parse(body) {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let reply = behaviour::reply(&request.conversation);
    let id = format!("chatcmpl-mock{:08}", shared.next_id());
    let calls: Vec<(String, &behaviour::ToolCall)> = reply
        .tool_calls
        .iter()
        .map(|call| (format!("call_mock{:08}", shared.next_id()), call))
        .collect();
    let input_tokens = request.conversation.input_tokens;
    if request.stream {
        Outcome::stream(stream_events(shared, &request, &reply, &id, &calls))
    } else {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|(call_id, call)| {
                json!({"id": call_id, "type": "function",
                       "function": {"name": call.name, "arguments": call.arguments.to_string()}})
            })
            .collect();
        let mut message = json!({"role": "assistant", "content": reply.text,
                                 "refusal": null, "annotations": []});
        if !tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(tool_calls);
        }
        let body = json!({
            "id": id, "object": "chat.completion", "created": shared.unix_time(),
            "model": request.model,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": finish_reason(&reply.finish)}],
            "usage": usage(input_tokens, reply.output_tokens),
            "service_tier": "default", "system_fingerprint": "fp_mock",
        });
        Outcome::json(StatusCode::OK, body.to_string())
    }
}

pub(crate) fn check_auth(shared: &Shared, headers: &HeaderMap) -> Result<(), Outcome> {
    let bearer = crate::format::bearer(headers);
    // Azure's `api-key` header is OpenAI-compatible auth too.
    let key = bearer.or_else(|| headers.get("api-key").and_then(|v| v.to_str().ok()));
    let refuse = |message: String| {
        let error = VendorError::new(ErrorKind::Authentication).with_message(message);
        Err(self::error(&error))
    };
    match (key, shared.expected_key()) {
        (None | Some(""), _) => refuse(
            "You didn't provide an API key. You need to provide your API key in an Authorization \
             header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .to_owned(),
        ),
        (Some(key), Some(expected)) if key != expected => refuse(format!(
            "Incorrect API key provided: {}. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            redact(key)
        )),
        _ => Ok(()),
    }
}

fn redact(key: &str) -> String {
    let head: String = key.chars().take(3).collect();
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}*****{tail}")
}

fn parse(body: &Value) -> Result<ChatRequest<'_>, Outcome> {
    let model = match body.get("model") {
        None | Some(Value::Null) => {
            return Err(invalid("you must provide a model parameter", None, None))
        }
        Some(Value::String(model)) => model.as_str(),
        Some(_) => return Err(wrong_type("model", "a string")),
    };
    let messages = match body.get("messages") {
        None | Some(Value::Null) => {
            let message = "Missing required parameter: 'messages'.";
            return Err(invalid(
                message,
                Some("messages"),
                Some("missing_required_parameter"),
            ));
        }
        Some(Value::Array(messages)) if messages.is_empty() => {
            let message =
                "Invalid 'messages': empty array. Expected an array with minimum length 1, \
                           but got an empty array instead.";
            return Err(invalid(message, Some("messages"), Some("empty_array")));
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(wrong_type("messages", "an array")),
    };
    let mut input_tokens = 0;
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        if !matches!(
            role,
            Some("system" | "developer" | "user" | "assistant" | "tool" | "function")
        ) {
            let param = format!("messages[{index}].role");
            let message = format!(
                "Invalid value for '{param}': expected one of 'system', 'assistant', \
                                   'user', 'function', 'tool', and 'developer'."
            );
            return Err(invalid(&message, Some(&param), Some("invalid_value")));
        }
        input_tokens += behaviour::count_words(&content_text(message.get("content")));
    }
    request::check_chat(body)?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let stream_options = body.get("stream_options").filter(|v| !v.is_null());
    if stream_options.is_some() && !stream {
        let message = "The 'stream_options' parameter is only allowed when 'stream' is enabled.";
        return Err(invalid(message, Some("stream_options"), None));
    }
    let include_usage = stream_options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut tools = Vec::new();
    for (index, tool) in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let function = tool.get("function");
        match function.and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(name) => tools.push(ToolDef {
                name,
                schema: function.and_then(|f| f.get("parameters")),
            }),
            None => {
                let param = format!("tools[{index}].function.name");
                let message = format!("Missing required parameter: '{param}'.");
                return Err(invalid(
                    &message,
                    Some(&param),
                    Some("missing_required_parameter"),
                ));
            }
        }
    }
    let tool_choice = match body.get("tool_choice") {
        Some(Value::String(choice)) if choice == "none" => ToolChoice::None,
        Some(Value::String(choice)) if choice == "required" => ToolChoice::Required,
        Some(choice @ Value::Object(_)) => {
            match choice.pointer("/function/name").and_then(Value::as_str) {
                Some(name) => ToolChoice::Named(name.to_owned()),
                None => ToolChoice::Auto,
            }
        }
        _ => ToolChoice::Auto,
    };
    let stop = match body.get("stop") {
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(stops)) => stops
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|field| body.get(*field).and_then(Value::as_u64));
    let conversation = Conversation {
        last: last_turn(messages),
        tools,
        tool_choice,
        parallel_allowed: body
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        max_tokens,
        stop,
        input_tokens,
        thinking: false,
    };
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        conversation,
    })
}

/// Trailing tool messages make a tool-result turn; otherwise the latest user message counts.
fn last_turn(messages: &[Value]) -> LastTurn {
    let is_tool = |m: &&Value| {
        matches!(
            m.get("role").and_then(Value::as_str),
            Some("tool" | "function")
        )
    };
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

/// The text of a `content` field: a string, or the `text` of its parts joined by spaces.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text"))
                .filter_map(Value::as_str)
                .collect();
            texts.join(" ")
        }
        _ => String::new(),
    }
}

fn finish_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::End | Finish::StopSequence(_) => "stop",
        Finish::MaxTokens => "length",
        Finish::ToolUse => "tool_calls",
    }
}

fn usage(input: u64, output: u64) -> Value {
    json!({
        "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "cache_write_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    })
}

fn stream_events(
    shared: &Shared,
    request: &ChatRequest<'_>,
    reply: &Reply,
    id: &str,
    calls: &[(String, &behaviour::ToolCall)],
) -> Vec<Bytes> {
    let created = shared.unix_time();
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut chunk = json!({"id": id, "object": "chat.completion.chunk", "created": created,
                               "model": request.model, "system_fingerprint": "fp_mock",
                               "choices": choices});
        // Chunks carry `usage` (null until the last) only when the client asked for usage.
        if request.include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        sse::json_event(None, &chunk)
    };
    let delta = |delta: Value, finish: Option<&str>| {
        chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
            None,
        )
    };
    let mut events = vec![delta(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    )];
    if let Some(text) = reply.text.as_deref().filter(|t| !t.is_empty()) {
        for piece in behaviour::word_pieces(text, shared.words_per_delta()) {
            events.push(delta(json!({"content": piece}), None));
        }
    }
    for (index, (call_id, call)) in calls.iter().enumerate() {
        let first = json!({"index": index, "id": call_id, "type": "function",
                           "function": {"name": call.name, "arguments": ""}});
        events.push(delta(json!({"tool_calls": [first]}), None));
        let arguments = call.arguments.to_string();
        for piece in behaviour::byte_pieces(&arguments, ARGUMENT_PIECE) {
            let fragment = json!({"index": index, "function": {"arguments": piece}});
            events.push(delta(json!({"tool_calls": [fragment]}), None));
        }
    }
    events.push(delta(json!({}), Some(finish_reason(&reply.finish))));
    if request.include_usage {
        let usage = usage(request.conversation.input_tokens, reply.output_tokens);
        events.push(chunk(json!([]), Some(usage)));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// The vendor's status, type, code and message for an error kind.
fn defaults(kind: ErrorKind) -> (u16, &'static str, Option<&'static str>, &'static str) {
    match kind {
        ErrorKind::RateLimited => (429, "requests", Some("rate_limit_exceeded"),
            "Rate limit reached for requests. Please try again in 1s."),
        ErrorKind::InsufficientQuota => (429, "insufficient_quota", Some("insufficient_quota"),
            "You exceeded your current quota, please check your plan and billing details."),
        ErrorKind::ServerError => (500, "server_error", None,
            "The server had an error while processing your request. Sorry about that!"),
        ErrorKind::Overloaded => (503, "server_error", None,
            "The engine is currently overloaded, please try again later"),
        ErrorKind::ContextLength => (400, "invalid_request_error", Some("context_length_exceeded"),
            "This model's maximum context length is 128000 tokens. However, your messages resulted \
             in 200000 tokens. Please reduce the length of the messages."),
        ErrorKind::Authentication => (401, "invalid_request_error", Some("invalid_api_key"),
            "Incorrect API key provided."),
        ErrorKind::PermissionDenied => (403, "invalid_request_error", Some("permission_denied"),
            "You are not allowed to access this resource."),
        ErrorKind::NotFound => (404, "invalid_request_error", Some("model_not_found"),
            "The model does not exist or you do not have access to it."),
        ErrorKind::Timeout => (504, "server_error", None, "Request timed out."),
        ErrorKind::BadRequest => (400, "invalid_request_error", None, "Invalid request."),
    }
}

pub(crate) fn error_object(error: &VendorError) -> (StatusCode, Value) {
    let (status, error_type, code, message) = defaults(error.kind);
    let status =
        StatusCode::from_u16(error.status.unwrap_or(status)).unwrap_or(StatusCode::BAD_REQUEST);
    let param = (error.kind == ErrorKind::ContextLength).then_some("messages");
    let body = json!({"error": {
        "message": error.message.as_deref().unwrap_or(message),
        "type": error.error_type.as_deref().unwrap_or(error_type),
        "param": param,
        "code": error.code.as_deref().or(code),
    }});
    (status, body)
}

/// An error as OpenAI answers it: `{"error":{"message","type","param","code"}}`.
pub(crate) fn error(error: &VendorError) -> Outcome {
    let (status, body) = error_object(error);
    Outcome::json(status, body.to_string())
}

/// The chunk OpenAI sends when a stream fails: a `data:` line with an `error` object.
pub(crate) fn stream_error_event(error: &VendorError) -> Bytes {
    sse::json_event(None, &error_object(error).1)
}

/// OpenAI's 404 for an unknown route.
pub(crate) fn not_found(method: &Method, path: &str) -> Outcome {
    let message = format!("Invalid URL ({method} {path})");
    invalid_with_status(StatusCode::NOT_FOUND, &message, None, None)
}

pub(crate) fn wrong_type(param: &str, expected: &str) -> Outcome {
    let message = format!("Invalid type for '{param}': expected {expected}.");
    invalid(&message, Some(param), Some("invalid_type"))
}

pub(crate) fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Outcome {
    invalid_with_status(StatusCode::BAD_REQUEST, message, param, code)
}

fn invalid_with_status(
    status: StatusCode,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Outcome {
    let body = json!({"error": {"message": message, "type": "invalid_request_error",
                                "param": param, "code": code}});
    Outcome::json(status, body.to_string())
}
