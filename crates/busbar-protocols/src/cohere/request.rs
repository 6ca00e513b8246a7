//! Cohere Chat v2 request bodies ⇄ [`Request`].
//!
//! Decoding reads the fields the IR holds and ignores unknown ones;
//! [`unsupported_fields`] names what a caller set that the IR cannot carry
//! (RAG `documents`, citation options, safety modes, log probabilities).
//! The mapping:
//!
//! * `system` messages stay in place as system messages, one text block per
//!   text item ([`Request::system_prompt`]).
//! * `tool` messages become user turns of [`ContentBlock::ToolResult`]s:
//!   consecutive ones form one turn, and a `user` message right after them
//!   joins it (tool results first). A tool result's `document` items are
//!   carried as text: the document's `data` itself when it is a string, its
//!   compact JSON otherwise.
//! * An assistant message's blocks are its `content` (text and thinking, in
//!   order), then its `tool_plan` as a text block, then its `tool_calls`.
//! * `p` and `k` are the IR's `top_p` and `top_k`; `strict_tools` sets
//!   `strict` on every tool; `tool_choice` `REQUIRED`/`NONE` (absent means
//!   auto); `response_format` `json_object` with a `json_schema` is a JSON
//!   schema format named `response`; `thinking` is reasoning with its
//!   `token_budget`.
//!
//! Encoding is in [`encode`]; its choices are documented there.

mod encode;
#[cfg(test)]
mod tests;
mod tools;
mod unsupported;

pub use encode::encode;
pub(in crate::cohere) use tools::{OutFunctionCall, OutToolCall};
pub use unsupported::unsupported_fields;

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    Tool, ToolChoice, ToolResultContent,
};
use serde_json::{Map, Value};

use crate::json::{get, object, opt_bool, opt_f64, opt_str, opt_u64, req_str, string_array};
use crate::DecodeError;

/// Decodes a Cohere Chat v2 request body. `model` and `messages` are
/// required, as Cohere requires them. A field of the wrong type is a
/// [`DecodeError::Invalid`] naming its path (`messages[1].content`).
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    decode_value(&value)
}

/// Decodes an already parsed request body, for callers that also inspect it
/// with [`unsupported_fields`].
pub fn decode_value(body: &Value) -> Result<Request, DecodeError> {
    let body = object(body, "body")?;
    let model = req_str(body, "", "model")?;
    let messages = match get(body, "messages") {
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(DecodeError::invalid("messages", "must be an array")),
        None => return Err(DecodeError::invalid("messages", "is required")),
    };
    let mut request = Request::new(model, Vec::with_capacity(messages.len()));
    decode_messages(messages, &mut request)?;
    if let Some(tools) = get(body, "tools") {
        let tools = tools
            .as_array()
            .ok_or_else(|| DecodeError::invalid("tools", "must be an array"))?;
        for (i, tool) in tools.iter().enumerate() {
            request.tools.push(decode_tool(tool, i)?);
        }
    }
    if let Some(strict) = opt_bool(body, "", "strict_tools")? {
        for tool in &mut request.tools {
            tool.strict = Some(strict);
        }
    }
    request.tool_choice = match opt_str(body, "", "tool_choice")? {
        None => None,
        Some(choice) if choice.eq_ignore_ascii_case("REQUIRED") => Some(ToolChoice::Required),
        Some(choice) if choice.eq_ignore_ascii_case("NONE") => Some(ToolChoice::None),
        Some(choice) if choice.eq_ignore_ascii_case("AUTO") => Some(ToolChoice::Auto),
        Some(_) => {
            return Err(DecodeError::invalid(
                "tool_choice",
                "must be \"REQUIRED\" or \"NONE\"",
            ))
        }
    };
    request.max_tokens = opt_u64(body, "", "max_tokens")?;
    request.temperature = opt_f64(body, "", "temperature")?;
    request.top_p = opt_f64(body, "", "p")?;
    request.top_k = opt_u64(body, "", "k")?;
    request.frequency_penalty = opt_f64(body, "", "frequency_penalty")?;
    request.presence_penalty = opt_f64(body, "", "presence_penalty")?;
    request.seed = match get(body, "seed") {
        None => None,
        Some(seed) => Some(
            seed.as_i64()
                .ok_or_else(|| DecodeError::invalid("seed", "must be an integer"))?,
        ),
    };
    if let Some(stops) = get(body, "stop_sequences") {
        request.stop_sequences = string_array(stops, "stop_sequences")?;
    }
    request.response_format = decode_response_format(get(body, "response_format"))?;
    request.reasoning = decode_thinking(get(body, "thinking"))?;
    request.stream = opt_bool(body, "", "stream")?.unwrap_or(false);
    Ok(request)
}

fn decode_messages(messages: &[Value], request: &mut Request) -> Result<(), DecodeError> {
    let mut after_tool = false;
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let message = object(message, &path)?;
        let content = get(message, "content");
        let content_path = format!("{path}.content");
        match req_str(message, &path, "role")? {
            // Kept in place: a leading run is the system prompt, a later one
            // an instruction given mid-conversation.
            "system" => {
                let blocks = system_parts(content, &content_path)?
                    .into_iter()
                    .map(ContentBlock::text)
                    .collect();
                request.messages.push(Message::new(Role::System, blocks));
                after_tool = false;
            }
            "user" => {
                let blocks = user_content(content, &content_path)?;
                push_user(&mut request.messages, blocks, after_tool);
                after_tool = false;
            }
            "assistant" => {
                let blocks = assistant_content(message, &path)?;
                request.messages.push(Message::new(Role::Assistant, blocks));
                after_tool = false;
            }
            "tool" => {
                let result = ContentBlock::ToolResult {
                    tool_use_id: req_str(message, &path, "tool_call_id")?.to_owned(),
                    name: None,
                    content: tool_content(content, &content_path)?,
                    is_error: false,
                };
                push_user(&mut request.messages, vec![result], after_tool);
                after_tool = true;
            }
            other => {
                return Err(DecodeError::invalid(
                    format!("{path}.role"),
                    format!("unknown role `{other}`, expected system, user, assistant or tool"),
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

/// A content field's items: a string is one text item.
enum Items<'a> {
    Text(&'a str),
    List(&'a [Value]),
}

fn items<'a>(content: Option<&'a Value>, path: &str) -> Result<Items<'a>, DecodeError> {
    match content {
        Some(Value::String(text)) => Ok(Items::Text(text)),
        Some(Value::Array(items)) => Ok(Items::List(items)),
        None => Ok(Items::List(&[])),
        Some(_) => Err(DecodeError::invalid(
            path,
            "must be a string or an array of content items",
        )),
    }
}

/// An item of a content list with its `type`.
fn item<'a>(
    value: &'a Value,
    path: &str,
) -> Result<(&'a Map<String, Value>, &'a str), DecodeError> {
    let item = object(value, path)?;
    Ok((item, req_str(item, path, "type")?))
}

fn unknown_item(path: &str, kind: &str, allowed: &str) -> DecodeError {
    DecodeError::invalid(
        format!("{path}.type"),
        format!("unknown content type `{kind}` here, expected {allowed}"),
    )
}

fn system_parts(content: Option<&Value>, path: &str) -> Result<Vec<String>, DecodeError> {
    let list = match items(content, path)? {
        Items::Text(text) => return Ok(vec![text.to_owned()]),
        Items::List(list) => list,
    };
    let mut parts = Vec::with_capacity(list.len());
    for (j, value) in list.iter().enumerate() {
        let path = format!("{path}[{j}]");
        match item(value, &path)? {
            (item, "text") => parts.push(req_str(item, &path, "text")?.to_owned()),
            (_, kind) => return Err(unknown_item(&path, kind, "text")),
        }
    }
    Ok(parts)
}

fn user_content(content: Option<&Value>, path: &str) -> Result<Vec<ContentBlock>, DecodeError> {
    let list = match items(content, path)? {
        Items::Text(text) => return Ok(vec![ContentBlock::text(text)]),
        Items::List(list) => list,
    };
    let mut blocks = Vec::with_capacity(list.len());
    for (j, value) in list.iter().enumerate() {
        let path = format!("{path}[{j}]");
        match item(value, &path)? {
            (item, "text") => blocks.push(ContentBlock::text(req_str(item, &path, "text")?)),
            (item, "image_url") => blocks.push(image(item, &path)?),
            // RAG documents have no place in the IR; unsupported_fields
            // names them.
            (_, "document") => {}
            (_, kind) => return Err(unknown_item(&path, kind, "text, image_url or document")),
        }
    }
    Ok(blocks)
}

fn image(item: &Map<String, Value>, path: &str) -> Result<ContentBlock, DecodeError> {
    let path = format!("{path}.image_url");
    let (url, detail) = match get(item, "image_url") {
        // Some clients send the URL itself rather than an object.
        Some(Value::String(url)) => (url.as_str(), None),
        Some(Value::Object(image)) => (
            req_str(image, &path, "url")?,
            opt_str(image, &path, "detail")?,
        ),
        _ => return Err(DecodeError::invalid(path, "must be an object with a url")),
    };
    Ok(ContentBlock::Image {
        source: ImageSource::from_url(url),
        detail: detail.map(str::to_owned),
    })
}

/// Content, then the tool plan, then the tool calls. Empty texts, which
/// clients send beside tool calls, are left out.
fn assistant_content(
    message: &Map<String, Value>,
    path: &str,
) -> Result<Vec<ContentBlock>, DecodeError> {
    let content_path = format!("{path}.content");
    let mut blocks = Vec::new();
    match items(get(message, "content"), &content_path)? {
        Items::Text(text) => blocks.push(ContentBlock::text(text)),
        Items::List(list) => {
            for (j, value) in list.iter().enumerate() {
                let path = format!("{content_path}[{j}]");
                match item(value, &path)? {
                    (item, "text") => {
                        blocks.push(ContentBlock::text(req_str(item, &path, "text")?))
                    }
                    (item, "thinking") => blocks.push(ContentBlock::thinking(
                        opt_str(item, &path, "thinking")?.unwrap_or_default(),
                        None,
                    )),
                    (_, kind) => return Err(unknown_item(&path, kind, "text or thinking")),
                }
            }
        }
    }
    if let Some(plan) = opt_str(message, path, "tool_plan")? {
        blocks.push(ContentBlock::text(plan));
    }
    blocks.retain(|block| block.as_text() != Some(""));
    if let Some(calls) = get(message, "tool_calls") {
        let calls_path = format!("{path}.tool_calls");
        let calls = calls
            .as_array()
            .ok_or_else(|| DecodeError::invalid(&calls_path, "must be an array"))?;
        for (k, call) in calls.iter().enumerate() {
            blocks.push(tool_call(call, &format!("{calls_path}[{k}]"))?);
        }
    }
    Ok(blocks)
}

fn tool_call(value: &Value, path: &str) -> Result<ContentBlock, DecodeError> {
    let call = object(value, path)?;
    let function_path = format!("{path}.function");
    let function = object(
        get(call, "function").unwrap_or(&Value::Null),
        &function_path,
    )?;
    let arguments = match get(function, "arguments") {
        None => "{}".to_owned(),
        Some(Value::String(arguments)) => arguments.clone(),
        // Lenient clients send the object itself.
        Some(arguments @ Value::Object(_)) => serde_json::to_string(arguments)?,
        Some(_) => {
            return Err(DecodeError::invalid(
                format!("{function_path}.arguments"),
                "must be a string of JSON",
            ))
        }
    };
    Ok(ContentBlock::tool_use(
        req_str(call, path, "id")?,
        req_str(function, &function_path, "name")?,
        arguments,
    ))
}

fn tool_content(
    content: Option<&Value>,
    path: &str,
) -> Result<Vec<ToolResultContent>, DecodeError> {
    let list = match items(content, path)? {
        Items::Text(text) => return Ok(vec![ToolResultContent::text(text)]),
        Items::List(list) => list,
    };
    let mut pieces = Vec::with_capacity(list.len());
    for (j, value) in list.iter().enumerate() {
        let path = format!("{path}[{j}]");
        let text = match item(value, &path)? {
            (item, "text") => req_str(item, &path, "text")?.to_owned(),
            (item, "document") => {
                let path = format!("{path}.document");
                let document = object(get(item, "document").unwrap_or(&Value::Null), &path)?;
                match get(document, "data") {
                    Some(Value::String(data)) => data.clone(),
                    Some(data) => serde_json::to_string(data)?,
                    None => {
                        return Err(DecodeError::invalid(format!("{path}.data"), "is required"))
                    }
                }
            }
            (_, kind) => return Err(unknown_item(&path, kind, "text or document")),
        };
        pieces.push(ToolResultContent::text(text));
    }
    Ok(pieces)
}

fn decode_tool(value: &Value, i: usize) -> Result<Tool, DecodeError> {
    let path = format!("tools[{i}]");
    let tool = object(value, &path)?;
    match opt_str(tool, &path, "type")? {
        None | Some("function") => {}
        Some(_) => {
            return Err(DecodeError::invalid(
                format!("{path}.type"),
                "must be \"function\"",
            ))
        }
    }
    let path = format!("{path}.function");
    let function = object(get(tool, "function").unwrap_or(&Value::Null), &path)?;
    let parameters = get(function, "parameters")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    Ok(Tool::new(
        req_str(function, &path, "name")?,
        opt_str(function, &path, "description")?.map(str::to_owned),
        parameters,
    ))
}

fn decode_response_format(format: Option<&Value>) -> Result<Option<ResponseFormat>, DecodeError> {
    let Some(format) = format else {
        return Ok(None);
    };
    let format = object(format, "response_format")?;
    Ok(Some(match req_str(format, "response_format", "type")? {
        "text" => ResponseFormat::Text,
        // `schema` is what Cohere's v1 API and some clients call it.
        "json_object" => match get(format, "json_schema").or_else(|| get(format, "schema")) {
            Some(schema) => ResponseFormat::JsonSchema {
                name: "response".to_owned(),
                schema: schema.clone(),
                strict: None,
                description: None,
            },
            None => ResponseFormat::JsonObject,
        },
        _ => {
            return Err(DecodeError::invalid(
                "response_format.type",
                "must be \"text\" or \"json_object\"",
            ))
        }
    }))
}

/// `thinking`; a missing `type` (as in Cohere's own budget example) means
/// enabled.
fn decode_thinking(thinking: Option<&Value>) -> Result<Option<Reasoning>, DecodeError> {
    let Some(thinking) = thinking else {
        return Ok(None);
    };
    let thinking = object(thinking, "thinking")?;
    let mut reasoning = Reasoning::default();
    reasoning.mode = match opt_str(thinking, "thinking", "type")? {
        None | Some("enabled") => ThinkingMode::Enabled,
        Some("disabled") => ThinkingMode::Disabled,
        Some(_) => {
            return Err(DecodeError::invalid(
                "thinking.type",
                "must be \"enabled\" or \"disabled\"",
            ))
        }
    };
    reasoning.budget_tokens = opt_u64(thinking, "thinking", "token_budget")?;
    Ok(Some(reasoning))
}
