//! Chat Completions request bodies ⇄ [`Request`].
//!
//! Ingress accepts what current and legacy clients send: content as a string
//! or parts, `max_tokens` or `max_completion_tokens`, `tools` or the legacy
//! `functions`/`function_call`. The JSON is walked by hand so that an error
//! names the exact path at fault (`messages[1].content[0].image_url`), which
//! becomes the `param` of the client's 400.
//!
//! Egress ([`encode`]) writes the current form only: `max_completion_tokens`,
//! `tools`, and `stream_options.include_usage` whenever it streams.

mod encode;
#[cfg(test)]
mod tests;
mod unsupported;

pub use encode::encode;
pub use unsupported::unsupported_fields;

use std::collections::HashMap;

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    Tool, ToolChoice, ToolResultContent,
};
use serde_json::{Map, Value};

use crate::json::expected::{opt_bool, opt_f64, opt_str, opt_u64, req_str, wrong};
use crate::json::get;
use crate::DecodeError;

/// Decodes a Chat Completions request body. Unknown fields are ignored;
/// [`unsupported_fields`] names the known ones the IR cannot hold. A field of
/// the wrong type is a [`DecodeError::Invalid`] naming its path
/// (`messages[1].content`).
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    decode_value(&value)
}

/// Decodes an already parsed request body, for callers that also inspect it
/// with [`unsupported_fields`].
pub fn decode_value(body: &Value) -> Result<Request, DecodeError> {
    let body = body
        .as_object()
        .ok_or_else(|| DecodeError::invalid("body", "expected a JSON object"))?;
    let model = match body.get("model") {
        Some(Value::String(model)) => model.clone(),
        None | Some(Value::Null) => return Err(DecodeError::invalid("model", "is required")),
        Some(_) => return Err(DecodeError::invalid("model", "expected a string")),
    };
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) => messages,
        None | Some(Value::Null) => return Err(DecodeError::invalid("messages", "is required")),
        Some(_) => return Err(DecodeError::invalid("messages", "expected an array")),
    };
    let mut request = Request::new(model, Vec::new());
    decode_messages(messages, &mut request)?;
    decode_tools(body, &mut request)?;
    request.parallel_tool_calls = opt_bool(body, "parallel_tool_calls", "")?;
    request.max_tokens = match opt_u64(body, "max_completion_tokens", "")? {
        Some(max) => Some(max),
        None => opt_u64(body, "max_tokens", "")?,
    };
    request.temperature = opt_f64(body, "temperature", "")?;
    request.top_p = opt_f64(body, "top_p", "")?;
    request.frequency_penalty = opt_f64(body, "frequency_penalty", "")?;
    request.presence_penalty = opt_f64(body, "presence_penalty", "")?;
    request.seed = match get(body, "seed") {
        None => None,
        Some(seed) => Some(seed.as_i64().ok_or_else(|| wrong("seed", "an integer"))?),
    };
    request.stop_sequences = match get(body, "stop") {
        None => Vec::new(),
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(stops)) => stops
            .iter()
            .enumerate()
            .map(|(i, stop)| match stop {
                Value::String(stop) => Ok(stop.clone()),
                _ => Err(wrong(&format!("stop[{i}]"), "a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(wrong("stop", "a string or an array of strings")),
    };
    request.response_format = decode_response_format(body)?;
    request.reasoning = opt_str(body, "reasoning_effort", "")?.map(|effort| {
        let mut reasoning = Reasoning::default();
        // `none` (GPT-5.1) turns reasoning off; the word is kept so that it
        // goes back upstream unchanged.
        if effort == "none" {
            reasoning.mode = ThinkingMode::Disabled;
        }
        reasoning.effort = Some(effort.to_owned());
        reasoning
    });
    request.user = opt_str(body, "user", "")?.map(str::to_owned);
    request.cache_key = opt_str(body, "prompt_cache_key", "")?.map(str::to_owned);
    request.stream = opt_bool(body, "stream", "")?.unwrap_or(false);
    if let Some(options) = get(body, "stream_options") {
        let options = options
            .as_object()
            .ok_or_else(|| wrong("stream_options", "an object"))?;
        request.stream_usage =
            opt_bool(options, "include_usage", "stream_options")?.unwrap_or(false);
    }
    Ok(request)
}

// ---------------------------------------------------------------- messages

/// Reads the conversation. Consecutive `tool` messages, and a `user` message
/// right after them, form one IR user turn (tool results first).
fn decode_messages(messages: &[Value], request: &mut Request) -> Result<(), DecodeError> {
    let mut after_tool = false;
    // Legacy `function_call`s carry no id: each gets one, and the `function`
    // message answering it finds it by name.
    let mut legacy_ids: HashMap<String, String> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let message = message
            .as_object()
            .ok_or_else(|| wrong(&path, "an object"))?;
        let role = req_str(message, "role", &path)?;
        let content_path = format!("{path}.content");
        match role {
            // Kept in place: a leading run is the system prompt, a later
            // one an instruction given mid-conversation.
            "system" | "developer" => {
                let blocks = text_parts(message.get("content"), &content_path)?
                    .into_iter()
                    .map(ContentBlock::text)
                    .collect();
                request.messages.push(Message::new(Role::System, blocks));
                after_tool = false;
            }
            "user" => {
                let blocks = user_content(message.get("content"), &content_path)?;
                push_user(&mut request.messages, blocks, after_tool);
                after_tool = false;
            }
            "assistant" => {
                let blocks = assistant_content(message, &path, i, &mut legacy_ids)?;
                request.messages.push(Message::new(Role::Assistant, blocks));
                after_tool = false;
            }
            "tool" | "function" => {
                let result = tool_result(message, role, &path, &legacy_ids)?;
                push_user(&mut request.messages, vec![result], after_tool);
                after_tool = true;
            }
            other => {
                return Err(DecodeError::invalid(
                    format!("{path}.role"),
                    format!("unknown role `{other}`"),
                ))
            }
        }
    }
    Ok(())
}

fn push_user(messages: &mut Vec<Message>, blocks: Vec<ContentBlock>, merge: bool) {
    match messages.last_mut() {
        Some(last) if merge && last.role == Role::User => last.content.extend(blocks),
        _ => messages.push(Message::new(Role::User, blocks)),
    }
}

/// A string, or an array of `text` parts (system, developer and tool content).
fn text_parts(content: Option<&Value>, path: &str) -> Result<Vec<String>, DecodeError> {
    match content {
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| {
                let path = format!("{path}[{j}]");
                let part = part.as_object().ok_or_else(|| wrong(&path, "an object"))?;
                match req_str(part, "type", &path)? {
                    "text" => Ok(req_str(part, "text", &path)?.to_owned()),
                    other => Err(DecodeError::invalid(
                        format!("{path}.type"),
                        format!("`{other}` parts are not allowed here, only `text`"),
                    )),
                }
            })
            .collect(),
        _ => Err(wrong(path, "a string or an array of text parts")),
    }
}

fn user_content(content: Option<&Value>, path: &str) -> Result<Vec<ContentBlock>, DecodeError> {
    let parts = match content {
        Some(Value::String(text)) => return Ok(vec![ContentBlock::text(text.as_str())]),
        Some(Value::Array(parts)) => parts,
        _ => return Err(wrong(path, "a string or an array of content parts")),
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let path = format!("{path}[{j}]");
        let part = part.as_object().ok_or_else(|| wrong(&path, "an object"))?;
        match req_str(part, "type", &path)? {
            "text" => blocks.push(ContentBlock::text(req_str(part, "text", &path)?)),
            "image_url" => blocks.push(image(part, &path)?),
            kind @ ("input_audio" | "file") => {
                return Err(DecodeError::invalid(
                    path,
                    format!("`{kind}` content cannot be translated to another vendor's format"),
                ))
            }
            other => {
                return Err(DecodeError::invalid(
                    format!("{path}.type"),
                    format!("unknown content part type `{other}`"),
                ))
            }
        }
    }
    Ok(blocks)
}

fn image(part: &Map<String, Value>, path: &str) -> Result<ContentBlock, DecodeError> {
    let path = format!("{path}.image_url");
    let (url, detail) = match part.get("image_url") {
        // Some clients send the URL itself rather than an object.
        Some(Value::String(url)) => (url.as_str(), None),
        Some(Value::Object(image)) => (
            req_str(image, "url", &path)?,
            opt_str(image, "detail", &path)?,
        ),
        _ => return Err(wrong(&path, "an object with a `url`")),
    };
    Ok(ContentBlock::Image {
        source: ImageSource::from_url(url),
        detail: detail.map(str::to_owned),
    })
}

fn assistant_content(
    message: &Map<String, Value>,
    path: &str,
    position: usize,
    legacy_ids: &mut HashMap<String, String>,
) -> Result<Vec<ContentBlock>, DecodeError> {
    let mut blocks = Vec::new();
    let content_path = format!("{path}.content");
    match get(message, "content") {
        None => {}
        Some(Value::String(text)) => push_text(&mut blocks, text),
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let path = format!("{content_path}[{j}]");
                let part = part.as_object().ok_or_else(|| wrong(&path, "an object"))?;
                let text = match req_str(part, "type", &path)? {
                    "text" => req_str(part, "text", &path)?,
                    "refusal" => req_str(part, "refusal", &path)?,
                    other => {
                        return Err(DecodeError::invalid(
                            format!("{path}.type"),
                            format!("`{other}` parts are not allowed in assistant messages"),
                        ))
                    }
                };
                push_text(&mut blocks, text);
            }
        }
        Some(_) => return Err(wrong(&content_path, "a string, an array of parts or null")),
    }
    if let Some(refusal) = opt_str(message, "refusal", path)? {
        push_text(&mut blocks, refusal);
    }
    if let Some(calls) = get(message, "tool_calls") {
        let calls_path = format!("{path}.tool_calls");
        let calls = calls
            .as_array()
            .ok_or_else(|| wrong(&calls_path, "an array"))?;
        for (j, call) in calls.iter().enumerate() {
            let path = format!("{calls_path}[{j}]");
            let call = call.as_object().ok_or_else(|| wrong(&path, "an object"))?;
            match opt_str(call, "type", &path)? {
                None | Some("function") => {}
                Some(other) => {
                    return Err(DecodeError::invalid(
                        format!("{path}.type"),
                        format!("`{other}` tool calls cannot be translated, only `function`"),
                    ))
                }
            }
            let id = req_str(call, "id", &path)?;
            let (name, arguments) = function(call, &path)?;
            blocks.push(ContentBlock::tool_use(id, name, arguments));
        }
    }
    if get(message, "function_call").is_some() {
        let (name, arguments) = function_fields(message, "function_call", path)?;
        let id = format!("call_{position}");
        legacy_ids.insert(name.to_owned(), id.clone());
        blocks.push(ContentBlock::tool_use(id, name, arguments));
    }
    Ok(blocks)
}

/// Empty strings stand for "no text" in assistant turns (clients send `""`
/// beside tool calls); an empty IR text block would be rejected elsewhere.
fn push_text(blocks: &mut Vec<ContentBlock>, text: &str) {
    if !text.is_empty() {
        blocks.push(ContentBlock::text(text));
    }
}

fn function<'a>(
    call: &'a Map<String, Value>,
    path: &str,
) -> Result<(&'a str, String), DecodeError> {
    function_fields(call, "function", path)
}

/// `name` and `arguments` of the object at `key`; arguments are kept as the
/// text the client sent.
fn function_fields<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<(&'a str, String), DecodeError> {
    let path = format!("{path}.{key}");
    let function = get(parent, key)
        .and_then(Value::as_object)
        .ok_or_else(|| wrong(&path, "an object"))?;
    let name = req_str(function, "name", &path)?;
    Ok((
        name,
        super::arguments_text(function.get("arguments").cloned()),
    ))
}

fn tool_result(
    message: &Map<String, Value>,
    role: &str,
    path: &str,
    legacy_ids: &HashMap<String, String>,
) -> Result<ContentBlock, DecodeError> {
    // Tool messages carry no name in OpenAI's schema, but LangChain and the
    // legacy `function` role send one; Gemini egress needs it.
    let name = opt_str(message, "name", path)?;
    let tool_use_id = if role == "tool" {
        req_str(message, "tool_call_id", path)?.to_owned()
    } else {
        let name =
            name.ok_or_else(|| DecodeError::invalid(format!("{path}.name"), "is required"))?;
        legacy_ids
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("call_{name}"))
    };
    let content = match get(message, "content") {
        None => Vec::new(),
        content => text_parts(content, &format!("{path}.content"))?
            .into_iter()
            .map(ToolResultContent::text)
            .collect(),
    };
    Ok(ContentBlock::ToolResult {
        tool_use_id,
        name: name.map(str::to_owned),
        content,
        is_error: false,
    })
}

// ---------------------------------------------------------------- tools

fn decode_tools(body: &Map<String, Value>, request: &mut Request) -> Result<(), DecodeError> {
    if let Some(tools) = get(body, "tools") {
        let tools = tools.as_array().ok_or_else(|| wrong("tools", "an array"))?;
        for (i, tool) in tools.iter().enumerate() {
            let path = format!("tools[{i}]");
            let tool = tool.as_object().ok_or_else(|| wrong(&path, "an object"))?;
            // Built-in and custom tools have no IR form; unsupported_fields names them.
            if opt_str(tool, "type", &path)?.is_some_and(|kind| kind != "function") {
                continue;
            }
            let function = get(tool, "function")
                .and_then(Value::as_object)
                .ok_or_else(|| wrong(&format!("{path}.function"), "an object"))?;
            request
                .tools
                .push(decode_function(function, &format!("{path}.function"))?);
        }
    } else if let Some(functions) = get(body, "functions") {
        let functions = functions
            .as_array()
            .ok_or_else(|| wrong("functions", "an array"))?;
        for (i, function) in functions.iter().enumerate() {
            let path = format!("functions[{i}]");
            let function = function
                .as_object()
                .ok_or_else(|| wrong(&path, "an object"))?;
            request.tools.push(decode_function(function, &path)?);
        }
    }
    request.tool_choice = match (get(body, "tool_choice"), get(body, "function_call")) {
        (Some(choice), _) => Some(decode_tool_choice(choice, "tool_choice")?),
        (None, Some(choice)) => Some(decode_tool_choice(choice, "function_call")?),
        (None, None) => None,
    };
    Ok(())
}

fn decode_function(function: &Map<String, Value>, path: &str) -> Result<Tool, DecodeError> {
    let name = req_str(function, "name", path)?;
    let description = opt_str(function, "description", path)?.map(str::to_owned);
    // A function without parameters takes none; vendors that require a
    // schema get the empty object schema.
    let parameters = get(function, "parameters")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    let mut tool = Tool::new(name, description, parameters);
    tool.strict = opt_bool(function, "strict", path)?;
    Ok(tool)
}

fn decode_tool_choice(choice: &Value, path: &str) -> Result<ToolChoice, DecodeError> {
    match choice {
        Value::String(mode) => match mode.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "required" => Ok(ToolChoice::Required),
            "none" => Ok(ToolChoice::None),
            other => Err(DecodeError::invalid(
                path,
                format!("unknown tool choice `{other}`"),
            )),
        },
        Value::Object(choice) => {
            // Legacy `function_call: {"name": …}` has the name at the top.
            if let Some(name) = opt_str(choice, "name", path)? {
                return Ok(ToolChoice::Tool(name.to_owned()));
            }
            match req_str(choice, "type", path)? {
                "function" => {
                    let function_path = format!("{path}.function");
                    let function = get(choice, "function")
                        .and_then(Value::as_object)
                        .ok_or_else(|| wrong(&function_path, "an object"))?;
                    Ok(ToolChoice::Tool(
                        req_str(function, "name", &function_path)?.to_owned(),
                    ))
                }
                // The list of allowed tools has no IR form; the mode survives.
                "allowed_tools" => {
                    let mode = get(choice, "allowed_tools")
                        .and_then(|allowed| allowed.get("mode"))
                        .and_then(Value::as_str);
                    Ok(if mode == Some("required") {
                        ToolChoice::Required
                    } else {
                        ToolChoice::Auto
                    })
                }
                other => Err(DecodeError::invalid(
                    format!("{path}.type"),
                    format!("unknown tool choice type `{other}`"),
                )),
            }
        }
        _ => Err(wrong(path, "a string or an object")),
    }
}

fn decode_response_format(
    body: &Map<String, Value>,
) -> Result<Option<ResponseFormat>, DecodeError> {
    let Some(format) = get(body, "response_format") else {
        return Ok(None);
    };
    let path = "response_format";
    let format = format.as_object().ok_or_else(|| wrong(path, "an object"))?;
    Ok(Some(match req_str(format, "type", path)? {
        "text" => ResponseFormat::Text,
        "json_object" => ResponseFormat::JsonObject,
        "json_schema" => {
            let path = "response_format.json_schema";
            let schema = get(format, "json_schema")
                .and_then(Value::as_object)
                .ok_or_else(|| wrong(path, "an object"))?;
            ResponseFormat::JsonSchema {
                name: req_str(schema, "name", path)?.to_owned(),
                schema: get(schema, "schema")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new())),
                strict: opt_bool(schema, "strict", path)?,
                description: opt_str(schema, "description", path)?.map(str::to_owned),
            }
        }
        other => {
            return Err(DecodeError::invalid(
                "response_format.type",
                format!("unknown response format `{other}`"),
            ))
        }
    }))
}
