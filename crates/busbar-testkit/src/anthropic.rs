//! Anthropic Messages: auth, validation, reply, stream and error bodies as the vendor writes them.

mod blocks;
mod parse;
mod request;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::behaviour::{self, Finish, Reply};
use crate::cache::CacheUse;
use crate::faults::{ErrorKind, VendorError};
use crate::format::{Outcome, Request};
use crate::server::Shared;
use crate::sse;

use parse::MessagesRequest;

/// Bytes of tool input per `input_json_delta`.
const JSON_PIECE: usize = 12;

/// The API version that still takes `temperature`, `top_p` and `top_k`.
const LEGACY_VERSION: &str = "2023-06-01";

/// Answers `POST …/v1/messages` and `POST …/v1/messages/count_tokens`.
pub(crate) fn handle(shared: &Shared, request: &Request<'_>) -> Outcome {
    let headers = request.headers;
    let vertex = crate::cloud::vertex_claude(request.path);
    // On Vertex AI `cloud.rs` checked the access token, and the version is in the body.
    if vertex.is_none() {
        if let Err(refusal) = check_headers(shared, headers) {
            return refusal;
        }
    }
    let Some(body) = request.json.filter(|v| v.is_object()) else {
        return invalid(
            "There was an error parsing the body of your request: it is not valid JSON.",
        );
    };
    let vertex_body;
    let body = match vertex {
        None => body,
        Some(claude) => match from_vertex(body, claude) {
            Ok(rewritten) => {
                vertex_body = rewritten;
                &vertex_body
            }
            Err(refusal) => return refusal,
        },
    };
    let count = is_count_path(request.path) || vertex.is_some_and(|claude| claude.model.is_none());
    let version = headers
        .get("anthropic-version")
        .and_then(|v| v.to_str().ok());
    let dialect = request::Dialect {
        count,
        beta: headers.contains_key("anthropic-beta"),
        sampling: version == Some(LEGACY_VERSION),
    };
    answer(shared, body, dialect)
}

/// Answers a Messages body that arrived in another platform's envelope (Bedrock's InvokeModel),
/// already unwrapped into the first-party shape; `beta` when the envelope named betas,
/// `sampling` when its version still takes `temperature`, `top_p` and `top_k`. A refusal is
/// Anthropic's 400, for the envelope to re-word.
pub(crate) fn answer_unwrapped(
    shared: &Shared,
    body: &Value,
    beta: bool,
    sampling: bool,
) -> Outcome {
    let dialect = request::Dialect {
        count: false,
        beta,
        sampling,
    };
    answer(shared, body, dialect)
}

/// The words a Messages body holds (the mock's token count), for a body another platform's
/// counting endpoint carries (Bedrock's CountTokens with an `invokeModel` input); `None` when it
/// is not a Messages body the API would take.
pub(crate) fn count_unwrapped(body: &Value) -> Option<u64> {
    let dialect = request::Dialect {
        count: false,
        beta: true,
        sampling: true,
    };
    request::check(body, dialect).ok()?;
    Some(parse::parse(body).words)
}

/// A checked body's reply, count or stream.
fn answer(shared: &Shared, body: &Value, dialect: request::Dialect) -> Outcome {
    let count = dialect.count;
    if let Err(message) = request::check(body, dialect) {
        return invalid(&message);
    }
    let request = parse::parse(body);
    if count {
        // The count is the input the message would have, cached or not.
        let body = json!({"input_tokens": request.words});
        return Outcome::json(StatusCode::OK, body.to_string());
    }
    let reply = behaviour::reply(&request.conversation);
    let scope = format!("anthropic/{}", request.model);
    let prefix = request.cache_prefix.as_deref();
    let prefix_words = prefix.map_or(0, behaviour::count_words);
    let hour_words = request
        .cache_prefix_1h
        .as_deref()
        .map_or(0, behaviour::count_words);
    let cache = shared
        .prompt_cache()
        .settle(&scope, prefix, prefix_words, hour_words);
    let id = format!("msg_mock{:08}", shared.next_id());
    let blocks = content_blocks(shared, &request, &reply);
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
            cache,
        ));
    }
    let body = json!({
        "id": id, "type": "message", "role": "assistant", "model": request.model,
        "content": blocks, "stop_reason": stop_reason(&reply.finish), "stop_sequence": stop_sequence,
        "usage": usage(&request, cache, reply.output_tokens),
    });
    Outcome::json(StatusCode::OK, body.to_string())
}

/// A Claude-on-Vertex body as the first-party API would take it: Vertex requires
/// `anthropic_version` in the body and the model in the path (the body's `model` is refused),
/// except on `count-tokens:rawPredict`, where the model is in the body.
fn from_vertex(body: &Value, claude: crate::cloud::VertexClaude<'_>) -> Result<Value, Outcome> {
    let mut body = body.clone();
    let Some(object) = body.as_object_mut() else {
        return Err(invalid("body: Input should be an object"));
    };
    if object.remove("anthropic_version").is_none() {
        return Err(invalid("anthropic_version: Field required"));
    }
    if let Some(model) = claude.model {
        if object.contains_key("model") {
            return Err(invalid("model: Extra inputs are not permitted"));
        }
        object.insert("model".into(), Value::from(model));
        if claude.stream != (object.get("stream") == Some(&Value::Bool(true))) {
            return Err(invalid(
                "stream: streamRawPredict takes `stream: true`, rawPredict does not",
            ));
        }
    }
    Ok(body)
}

/// Whether `path` is the token-counting endpoint.
pub(crate) fn is_count_path(path: &str) -> bool {
    path.strip_suffix('/')
        .unwrap_or(path)
        .ends_with("/v1/messages/count_tokens")
}

/// `usage`: `input_tokens` leaves out the words read from or written to the cache, as the API's
/// does, and `cache_creation` splits the writes by lifetime (see `cache.rs` for the rule).
fn usage(request: &MessagesRequest<'_>, cache: CacheUse, output_tokens: u64) -> Value {
    json!({"input_tokens": request.words - cache.total(),
           "cache_creation_input_tokens": cache.write,
           "cache_read_input_tokens": cache.read,
           "cache_creation": {"ephemeral_5m_input_tokens": cache.write_5m(),
                              "ephemeral_1h_input_tokens": cache.write_1h},
           "output_tokens": output_tokens, "service_tier": "standard"})
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

fn stop_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::End => "end_turn",
        Finish::MaxTokens => "max_tokens",
        Finish::StopSequence(_) => "stop_sequence",
        Finish::ToolUse => "tool_use",
    }
}

/// The reply's content blocks, in the order Anthropic writes them: thinking, text, tool uses.
fn content_blocks(shared: &Shared, request: &MessagesRequest<'_>, reply: &Reply) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some((thinking, signature)) = &reply.thinking {
        // `display: omitted` keeps the signature, so the block can be replayed, and drops the text.
        let thinking = if request.omit_thinking { "" } else { thinking };
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
    cache: CacheUse,
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
            "usage": usage(request, cache, 1)}}),
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
                for piece in behaviour::word_pieces(text, words)
                    .into_iter()
                    .filter(|p| !p.is_empty())
                {
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
