//! Anthropic request bodies ⇄ [`Request`].
//!
//! Decoding reads the fields the IR holds and ignores the rest;
//! [`unsupported_fields`] names what a caller set that the IR cannot carry
//! (documents, server tools, prompt-cache markers, …). Blocks the IR has no
//! room for are left out of the decoded conversation.
//!
//! Encoding is in [`encode`]; its choices are documented there.

mod encode;
mod reasoning;
#[cfg(test)]
mod tests;
mod unsupported;

pub use encode::encode;
pub(super) use encode::{tool_input, OutBlock};
pub(crate) use reasoning::effort_for_budget;
pub use unsupported::unsupported_fields;

use busbar_ir::{
    CachePoint, ContentBlock, ImageSource, Message, Request, ResponseFormat, Role, Tool,
    ToolChoice, ToolResultContent,
};
use serde_json::{Map, Value};

use crate::json::{
    non_null, object, opt_bool, opt_f64, opt_str, opt_u64, path_of, req_str, string_array,
};
use crate::DecodeError;

/// Decodes an Anthropic Messages request body.
///
/// `max_tokens` and `messages` are required, as Anthropic requires them; a
/// missing `model` decodes as an empty name (the route may name the model).
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    decode_value(&value)
}

/// Decodes an already parsed request body, for callers that also inspect it
/// with [`unsupported_fields`].
pub fn decode_value(value: &Value) -> Result<Request, DecodeError> {
    let body = value
        .as_object()
        .ok_or_else(|| DecodeError::invalid("body", "must be a JSON object"))?;

    let model = opt_str(body, "", "model")?.unwrap_or_default();
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(DecodeError::invalid("messages", "must be an array")),
        None => return Err(DecodeError::invalid("messages", "is required")),
    };
    let mut request = Request::new(model, Vec::with_capacity(messages.len() + 1));
    if let Some(system) = decode_system(body.get("system"))? {
        request.messages.push(system);
    }
    request.max_tokens = Some(
        opt_u64(body, "", "max_tokens")?
            .ok_or_else(|| DecodeError::invalid("max_tokens", "is required"))?,
    );
    for (i, message) in messages.iter().enumerate() {
        request.messages.push(decode_message(message, i)?);
    }
    if let Some(tools) = non_null(body.get("tools")) {
        let tools = tools
            .as_array()
            .ok_or_else(|| DecodeError::invalid("tools", "must be an array"))?;
        for (i, tool) in tools.iter().enumerate() {
            if let Some(tool) = decode_tool(tool, i)? {
                request.tools.push(tool);
            }
        }
    }
    if let Some(choice) = non_null(body.get("tool_choice")) {
        let choice = object(choice, "tool_choice")?;
        request.tool_choice = Some(match opt_str(choice, "tool_choice", "type")? {
            Some("auto") => ToolChoice::Auto,
            Some("any") => ToolChoice::Required,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Tool(req_str(choice, "tool_choice", "name")?.to_owned()),
            _ => {
                return Err(DecodeError::invalid(
                    "tool_choice.type",
                    "must be one of auto, any, none, tool",
                ))
            }
        });
        request.parallel_tool_calls =
            opt_bool(choice, "tool_choice", "disable_parallel_tool_use")?.map(|disable| !disable);
    }
    if let Some(stops) = non_null(body.get("stop_sequences")) {
        request.stop_sequences = string_array(stops, "stop_sequences")?;
    }
    request.temperature = opt_f64(body, "", "temperature")?;
    request.top_p = opt_f64(body, "", "top_p")?;
    request.top_k = opt_u64(body, "", "top_k")?;
    if let Some(metadata) = non_null(body.get("metadata")) {
        let metadata = object(metadata, "metadata")?;
        request.user = opt_str(metadata, "metadata", "user_id")?.map(str::to_owned);
    }
    // Top-level `cache_control` caches the prompt up to its last block:
    // a cache point there says the same in every format.
    if let Some(point) = decode_cache_control(value, "")? {
        if let Some(last) = request.messages.last_mut() {
            last.content.push(ContentBlock::CachePoint(point));
        }
    }
    request.reasoning = reasoning::decode_thinking(body.get("thinking"))?;
    decode_output_config(body, &mut request)?;
    request.stream = opt_bool(body, "", "stream")?.unwrap_or(false);
    Ok(request)
}

fn decode_message(value: &Value, i: usize) -> Result<Message, DecodeError> {
    let path = format!("messages[{i}]");
    let message = object(value, &path)?;
    let role = match opt_str(message, &path, "role")? {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        // Mid-conversation system messages: an instruction at this point.
        Some("system") => Role::System,
        _ => {
            return Err(DecodeError::invalid(
                format!("{path}.role"),
                "must be \"user\", \"assistant\" or \"system\"",
            ))
        }
    };
    let content = decode_content(message.get("content"), &format!("{path}.content"))?;
    Ok(Message::new(role, content))
}

/// A message's content: a string, or blocks, each followed by a
/// [`ContentBlock::CachePoint`] when it carries `cache_control`.
fn decode_content(content: Option<&Value>, path: &str) -> Result<Vec<ContentBlock>, DecodeError> {
    match content {
        Some(Value::String(text)) => Ok(vec![ContentBlock::text(text.clone())]),
        Some(Value::Array(blocks)) => {
            let mut content = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                let block_path = format!("{path}[{j}]");
                if let Some(decoded) = decode_block(block, &block_path)? {
                    content.push(decoded);
                }
                if let Some(point) = decode_cache_control(block, &block_path)? {
                    content.push(ContentBlock::CachePoint(point));
                }
            }
            Ok(content)
        }
        _ => Err(DecodeError::invalid(
            path,
            "must be a string or an array of content blocks",
        )),
    }
}

/// The `cache_control` of a block or tool as a cache point.
fn decode_cache_control(value: &Value, path: &str) -> Result<Option<CachePoint>, DecodeError> {
    let Some(control) = non_null(value.get("cache_control")) else {
        return Ok(None);
    };
    let path = path_of(path, "cache_control");
    let control = object(control, &path)?;
    Ok(Some(CachePoint::new(
        opt_str(control, &path, "ttl")?.map(str::to_owned),
    )))
}

/// One content block, or `None` for a kind the IR does not hold.
fn decode_block(value: &Value, path: &str) -> Result<Option<ContentBlock>, DecodeError> {
    let block = object(value, path)?;
    Ok(Some(match req_str(block, path, "type")? {
        "text" => ContentBlock::text(req_str(block, path, "text")?),
        "image" => match decode_image_source(block, path)? {
            Some(source) => ContentBlock::image(source),
            None => return Ok(None),
        },
        "tool_use" => ContentBlock::tool_use(
            req_str(block, path, "id")?,
            req_str(block, path, "name")?,
            match non_null(block.get("input")) {
                Some(input) => serde_json::to_string(input)?,
                None => "{}".to_owned(),
            },
        ),
        "tool_result" => ContentBlock::ToolResult {
            tool_use_id: req_str(block, path, "tool_use_id")?.to_owned(),
            name: None,
            content: decode_tool_result_content(block.get("content"), path)?,
            is_error: opt_bool(block, path, "is_error")?.unwrap_or(false),
        },
        "thinking" => ContentBlock::thinking(
            opt_str(block, path, "thinking")?.unwrap_or_default(),
            opt_str(block, path, "signature")?
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        ),
        "redacted_thinking" => ContentBlock::RedactedThinking {
            data: req_str(block, path, "data")?.to_owned(),
        },
        _ => return Ok(None),
    }))
}

/// An image block's source, or `None` for a source kind the IR does not
/// hold (an uploaded `file`).
fn decode_image_source(
    block: &Map<String, Value>,
    path: &str,
) -> Result<Option<ImageSource>, DecodeError> {
    let path = format!("{path}.source");
    let source = object(block.get("source").unwrap_or(&Value::Null), &path)?;
    Ok(match req_str(source, &path, "type")? {
        "base64" => Some(ImageSource::Base64 {
            media_type: req_str(source, &path, "media_type")?.to_owned(),
            data: req_str(source, &path, "data")?.to_owned(),
        }),
        "url" => Some(ImageSource::Url {
            url: req_str(source, &path, "url")?.to_owned(),
        }),
        _ => None,
    })
}

fn decode_tool_result_content(
    content: Option<&Value>,
    path: &str,
) -> Result<Vec<ToolResultContent>, DecodeError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![ToolResultContent::text(text.clone())]),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (k, item) in items.iter().enumerate() {
                match decode_block(item, &format!("{path}.content[{k}]"))? {
                    Some(ContentBlock::Text { text }) => out.push(ToolResultContent::Text { text }),
                    Some(ContentBlock::Image { source, .. }) => {
                        out.push(ToolResultContent::Image { source })
                    }
                    // Documents, search results and tool references have no
                    // place in the IR; unsupported_fields names them.
                    _ => {}
                }
            }
            Ok(out)
        }
        Some(_) => Err(DecodeError::invalid(
            format!("{path}.content"),
            "must be a string or an array of content blocks",
        )),
    }
}

/// The top-level `system` field as the system prompt's message.
fn decode_system(system: Option<&Value>) -> Result<Option<Message>, DecodeError> {
    match non_null(system) {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(system @ (Value::String(_) | Value::Array(_))) => Ok(Some(Message::new(
            Role::System,
            decode_content(Some(system), "system")?,
        ))),
        Some(_) => Err(DecodeError::invalid(
            "system",
            "must be a string or an array of text blocks",
        )),
    }
}

/// A custom tool, or `None` for a server tool (web search, code execution…).
fn decode_tool(value: &Value, i: usize) -> Result<Option<Tool>, DecodeError> {
    let path = format!("tools[{i}]");
    let tool = object(value, &path)?;
    match opt_str(tool, &path, "type")? {
        None | Some("custom") => {}
        Some(_) => return Ok(None),
    }
    let mut out = Tool::new(
        req_str(tool, &path, "name")?,
        opt_str(tool, &path, "description")?.map(str::to_owned),
        tool.get("input_schema")
            .cloned()
            .ok_or_else(|| DecodeError::invalid(format!("{path}.input_schema"), "is required"))?,
    );
    out.strict = opt_bool(tool, &path, "strict")?;
    out.cache_point = decode_cache_control(value, &path)?;
    Ok(Some(out))
}

/// `output_config`: the JSON schema of the reply and the effort level. The
/// older `output_format` (structured-outputs beta) is read too.
fn decode_output_config(
    body: &Map<String, Value>,
    request: &mut Request,
) -> Result<(), DecodeError> {
    let config = match non_null(body.get("output_config")) {
        Some(config) => Some(object(config, "output_config")?),
        None => None,
    };
    let (format, path) = match config.and_then(|c| non_null(c.get("format"))) {
        Some(format) => (Some(format), "output_config.format"),
        None => (non_null(body.get("output_format")), "output_format"),
    };
    if let Some(format) = format {
        let format = object(format, path)?;
        if opt_str(format, path, "type")? == Some("json_schema") {
            let schema = format
                .get("schema")
                .cloned()
                .ok_or_else(|| DecodeError::invalid(format!("{path}.schema"), "is required"))?;
            request.response_format = Some(ResponseFormat::JsonSchema {
                name: "response".to_owned(),
                schema,
                strict: None,
                description: None,
            });
        }
    }
    if let Some(config) = config {
        if let (Some(effort), Some(reasoning)) = (
            opt_str(config, "output_config", "effort")?,
            request.reasoning.as_mut(),
        ) {
            reasoning.effort = Some(effort.to_owned());
        }
    }
    Ok(())
}
