//! OpenAI Responses: auth, validation, the Response object and error bodies as the vendor writes
//! them. Auth and error bodies are OpenAI's, shared with Chat Completions; the typed event stream
//! lives in `responses/stream.rs`.

mod request;
mod stream;

use std::collections::HashSet;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::behaviour::{self, Conversation, Finish, LastTurn, Reply, ToolChoice, ToolDef};
use crate::faults::VendorError;
use crate::format::{Outcome, Request};
use crate::openai::{self, invalid, wrong_type};
use crate::server::Shared;
use crate::sse;

/// The smallest `max_output_tokens` the API accepts.
const MIN_OUTPUT_TOKENS: u64 = 16;

/// A request the mock accepted.
struct ResponsesRequest<'a> {
    body: &'a Value,
    model: &'a str,
    stream: bool,
    /// `include` asks for `reasoning.encrypted_content`.
    encrypted_reasoning: bool,
    /// `reasoning.summary` asks for a summary.
    summary: bool,
    conversation: Conversation<'a>,
}

/// Answers `POST …/responses` and `POST …/responses/input_tokens`.
pub(crate) fn handle(shared: &Shared, request: &Request<'_>) -> Outcome {
    // On Azure's paths `cloud.rs` checked the credential.
    if crate::cloud::Cloud::of(request.path).is_none() {
        if let Err(refusal) = openai::check_auth(shared, request.headers) {
            return refusal;
        }
    }
    let Some(body) = request.json.filter(|v| v.is_object()) else {
        return invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't \
             using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was \
             sent was not valid JSON.)",
            None,
            None,
        );
    };
    let count = request
        .path
        .trim_end_matches('/')
        .ends_with("/responses/input_tokens");
    if let Err(refusal) = request::check(body, count) {
        return refusal;
    }
    if count {
        return match read_input(body) {
            Ok((_, tokens)) => {
                let body = json!({"object": "response.input_tokens", "input_tokens": tokens});
                Outcome::json(StatusCode::OK, body.to_string())
            }
            Err(refusal) => refusal,
        };
    }
    let request = match parse(body) {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let reply = behaviour::reply(&request.conversation);
    let id = format!("resp_mock{:08}", shared.next_id());
    let output = output_items(shared, &request, &reply);
    let response = response_object(shared, &request, &id, &reply, output);
    if request.stream {
        Outcome::stream(stream::events(shared, &response))
    } else {
        Outcome::json(StatusCode::OK, response.to_string())
    }
}

fn parse(body: &Value) -> Result<ResponsesRequest<'_>, Outcome> {
    let model = match body.get("model") {
        None | Some(Value::Null) => {
            return Err(invalid(
                "Missing required parameter: 'model'.",
                Some("model"),
                Some("missing_required_parameter"),
            ))
        }
        Some(Value::String(model)) => model.as_str(),
        Some(_) => return Err(wrong_type("model", "a string")),
    };
    let (last, input_tokens) = read_input(body)?;
    let max_tokens = body.get("max_output_tokens").and_then(Value::as_u64);
    if let Some(max) = max_tokens.filter(|max| *max < MIN_OUTPUT_TOKENS) {
        let message = format!(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= \
             {MIN_OUTPUT_TOKENS}, but got {max} instead."
        );
        return Err(invalid(
            &message,
            Some("max_output_tokens"),
            Some("integer_below_min_value"),
        ));
    }
    let tools = read_tools(body);
    let tool_choice = match body.get("tool_choice") {
        Some(Value::String(choice)) if choice == "none" => ToolChoice::None,
        Some(Value::String(choice)) if choice == "required" => ToolChoice::Required,
        Some(choice @ Value::Object(_)) if choice.get("type") == Some(&json!("function")) => {
            let name = choice.get("name").and_then(Value::as_str).unwrap_or("");
            if !tools.iter().any(|tool| tool.name == name) {
                let message = "Tool choice 'function' not found in 'tools' parameter.";
                return Err(invalid(message, Some("tool_choice"), None));
            }
            ToolChoice::Named(name.to_owned())
        }
        _ => ToolChoice::Auto,
    };
    let effort = body.pointer("/reasoning/effort").and_then(Value::as_str);
    let include = body.get("include").and_then(Value::as_array);
    let conversation = Conversation {
        last,
        tools,
        tool_choice,
        parallel_allowed: body
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        max_tokens,
        stop: Vec::new(),
        input_tokens,
        thinking: effort.is_some_and(|effort| effort != "none"),
    };
    Ok(ResponsesRequest {
        body,
        model,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        encrypted_reasoning: include
            .is_some_and(|i| i.contains(&json!("reasoning.encrypted_content"))),
        summary: body
            .pointer("/reasoning/summary")
            .is_some_and(Value::is_string),
        conversation,
    })
}

/// The last turn and the input's words: `instructions` and every input item.
fn read_input(body: &Value) -> Result<(LastTurn, u64), Outcome> {
    let mut input_tokens = match body.get("instructions") {
        Some(Value::String(text)) => behaviour::count_words(text),
        Some(items @ Value::Array(_)) => behaviour::count_words(&behaviour::value_text(items)),
        _ => 0,
    };
    let last = match body.get("input") {
        None | Some(Value::Null) => LastTurn::Text(String::new()),
        Some(Value::String(text)) => {
            input_tokens += behaviour::count_words(text);
            LastTurn::Text(text.clone())
        }
        Some(Value::Array(items)) => read_items(items, &mut input_tokens)?,
        Some(_) => {
            return Err(wrong_type(
                "input",
                "one of a string or array of input items",
            ))
        }
    };
    Ok((last, input_tokens))
}

/// Reads input items, counting their words; answers the last turn. Trailing
/// `function_call_output` items make a tool-result turn, else the latest user message counts.
fn read_items(items: &[Value], input_tokens: &mut u64) -> Result<LastTurn, Outcome> {
    let mut calls = HashSet::new();
    let mut last_user = String::new();
    let mut trailing_outputs: Vec<String> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str);
        match kind {
            Some("function_call") => {
                if let Some(call_id) = item.get("call_id").and_then(Value::as_str) {
                    calls.insert(call_id);
                }
                trailing_outputs.clear();
            }
            Some("function_call_output") => {
                let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
                if !calls.contains(call_id) {
                    let message = format!(
                        "No tool call found for function call output with call_id {call_id}."
                    );
                    return Err(invalid(&message, Some("input"), None));
                }
                let output = item
                    .get("output")
                    .map(behaviour::value_text)
                    .unwrap_or_default();
                *input_tokens += behaviour::count_words(&output);
                trailing_outputs.push(output);
            }
            Some("reasoning") => {
                if item.get("summary").is_none() {
                    let param = format!("input[{index}].summary");
                    let message = format!("Missing required parameter: '{param}'.");
                    let code = Some("missing_required_parameter");
                    return Err(invalid(&message, Some(&param), code));
                }
            }
            None | Some("message") => {
                let role = item.get("role").and_then(Value::as_str);
                if !matches!(role, Some("user" | "assistant" | "system" | "developer")) {
                    let param = format!("input[{index}].role");
                    let message = format!(
                        "Invalid value: '{}'. Supported values are: 'assistant', 'system', \
                         'developer', and 'user'.",
                        role.unwrap_or_default()
                    );
                    return Err(invalid(&message, Some(&param), Some("invalid_value")));
                }
                let text = item
                    .get("content")
                    .map(behaviour::value_text)
                    .unwrap_or_default();
                *input_tokens += behaviour::count_words(&text);
                if role == Some("user") {
                    last_user = text;
                }
                trailing_outputs.clear();
            }
            // References, server-tool items and the like carry nothing the reply depends on.
            Some(_) => {}
        }
    }
    Ok(if trailing_outputs.is_empty() {
        LastTurn::Text(last_user)
    } else {
        LastTurn::ToolResult(trailing_outputs.join(" "))
    })
}

/// Function tools, those in `namespace` groups included; hosted tools (web search, file search,
/// …) have no schema and are skipped. `request::check` has made sure each has a name.
fn read_tools(body: &Value) -> Vec<ToolDef<'_>> {
    request::function_tools(body)
        .into_iter()
        .filter_map(|tool| {
            Some(ToolDef {
                name: tool.get("name")?.as_str()?,
                schema: tool.get("parameters"),
            })
        })
        .collect()
}

/// The output items in the API's order: reasoning, message, function calls.
fn output_items(shared: &Shared, request: &ResponsesRequest<'_>, reply: &Reply) -> Vec<Value> {
    let mut items = Vec::new();
    if let Some((thinking, signature)) = &reply.thinking {
        let summary = if request.summary {
            json!([{"type": "summary_text", "text": thinking}])
        } else {
            json!([])
        };
        let mut item = json!({"id": format!("rs_mock{:08}", shared.next_id()),
                              "type": "reasoning", "summary": summary});
        if request.encrypted_reasoning {
            item["encrypted_content"] = json!(signature);
        }
        items.push(item);
    }
    if let Some(text) = &reply.text {
        let status = if reply.finish == Finish::MaxTokens {
            "incomplete"
        } else {
            "completed"
        };
        items.push(json!({
            "id": format!("msg_mock{:08}", shared.next_id()), "type": "message", "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }));
    }
    for call in &reply.tool_calls {
        items.push(json!({
            "id": format!("fc_mock{:08}", shared.next_id()), "type": "function_call",
            "status": "completed", "arguments": call.arguments.to_string(),
            "call_id": format!("call_mock{:08}", shared.next_id()), "name": call.name,
        }));
    }
    items
}

/// The complete Response object, echoing the request's settings as the API does.
fn response_object(
    shared: &Shared,
    request: &ResponsesRequest<'_>,
    id: &str,
    reply: &Reply,
    output: Vec<Value>,
) -> Value {
    let body = request.body;
    let echo = |field: &str, default: Value| body.get(field).cloned().unwrap_or(default);
    let (status, incomplete) = match reply.finish {
        Finish::MaxTokens => ("incomplete", json!({"reason": "max_output_tokens"})),
        _ => ("completed", Value::Null),
    };
    let reasoning_tokens = reply
        .thinking
        .as_ref()
        .map_or(0, |(text, _)| behaviour::count_words(text));
    let input = request.conversation.input_tokens;
    let mut text = echo("text", json!({"format": {"type": "text"}}));
    if let Some(text) = text.as_object_mut() {
        text.entry("verbosity").or_insert(json!("medium"));
    }
    json!({
        "id": id, "object": "response", "created_at": shared.unix_time(), "status": status,
        "background": false, "error": null, "incomplete_details": incomplete,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "max_tool_calls": null, "model": request.model, "output": output,
        "parallel_tool_calls": request.conversation.parallel_allowed,
        "previous_response_id": echo("previous_response_id", Value::Null),
        "reasoning": {
            "effort": body.pointer("/reasoning/effort").cloned().unwrap_or(Value::Null),
            "summary": body.pointer("/reasoning/summary").cloned().unwrap_or(Value::Null),
        },
        "service_tier": "default", "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1.0)), "text": text,
        "tool_choice": echo("tool_choice", json!("auto")), "tools": echo("tools", json!([])),
        "top_logprobs": 0, "top_p": echo("top_p", json!(1.0)), "truncation": "disabled",
        "usage": {
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": reply.output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input + reply.output_tokens,
        },
        "user": null, "metadata": echo("metadata", Value::Object(Map::new())),
    })
}

/// The `error` event the API sends when a stream fails after its headers went out.
pub(crate) fn stream_error_event(error: &VendorError, sequence: usize) -> Bytes {
    let (_, body) = openai::error_object(error);
    let detail = &body["error"];
    let code = match &detail["code"] {
        Value::Null => detail["type"].clone(),
        code => code.clone(),
    };
    let event = json!({"type": "error", "code": code, "message": detail["message"],
                       "param": detail["param"], "sequence_number": sequence});
    sse::json_event(Some("error"), &event)
}
