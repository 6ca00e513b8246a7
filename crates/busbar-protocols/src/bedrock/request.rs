//! Converse request bodies ⇄ [`Request`].
//!
//! Decoding reads the fields the IR holds and ignores the rest;
//! [`unsupported_fields`] names what a caller set that the IR cannot carry
//! (guardrails, prompt variables, documents, cache points, …). The model
//! and whether the reply streams come from the route, not the body: decoded
//! requests have an empty model and `stream: false` until the server sets
//! them.
//!
//! `additionalModelRequestFields` is model-specific; Busbar reads the two
//! members it knows, Anthropic's `top_k` and `thinking`
//! (`{type: enabled|disabled|adaptive, budget_tokens}`), into the IR's
//! `top_k` and reasoning settings, and writes them back there.
//!
//! Encoding is in [`encode`]; its choices are documented there.

mod encode;
mod names;
mod reasoning;
#[cfg(test)]
mod tests;
mod tools;
mod unsupported;

pub use encode::encode;
pub use names::{fit_tool_name, fit_tool_use_id};
pub use unsupported::unsupported_fields;

use busbar_ir::{ContentBlock, Message, Request, ResponseFormat, Role, Tool, ToolChoice};
use serde_json::{Map, Value};

use super::content::{self, decode_blocks};
use super::fields::opt_object;
use crate::json::{non_null, object, opt_bool, opt_f64, opt_str, opt_u64, req_str};
use crate::DecodeError;

/// Decodes a Converse request body. `messages` is required.
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    decode_value(&value)
}

/// Decodes an already parsed request body, for callers that also inspect it
/// with [`unsupported_fields`].
pub fn decode_value(value: &Value) -> Result<Request, DecodeError> {
    let body = object(value, "body")?;
    let messages = match non_null(body.get("messages")) {
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(DecodeError::invalid("messages", "must be an array")),
        None => return Err(DecodeError::invalid("messages", "is required")),
    };
    let mut request = Request::new("", Vec::with_capacity(messages.len() + 1));
    if let Some(system) = non_null(body.get("system")) {
        if let Some(system) = decode_system(system)? {
            request.messages.push(system);
        }
    }
    for (i, message) in messages.iter().enumerate() {
        request.messages.push(decode_message(message, i)?);
    }
    if let Some(config) = opt_object(body, "", "inferenceConfig")? {
        let path = "inferenceConfig";
        request.max_tokens = opt_u64(config, path, "maxTokens")?;
        request.temperature = opt_f64(config, path, "temperature")?;
        request.top_p = opt_f64(config, path, "topP")?;
        if let Some(stops) = non_null(config.get("stopSequences")) {
            request.stop_sequences = string_array(stops, "inferenceConfig.stopSequences")?;
        }
    }
    if let Some(config) = opt_object(body, "", "toolConfig")? {
        decode_tool_config(config, &mut request)?;
    }
    if let Some(fields) = opt_object(body, "", "additionalModelRequestFields")? {
        let path = "additionalModelRequestFields";
        request.top_k = opt_u64(fields, path, "top_k")?;
        request.reasoning = reasoning::decode_thinking(fields.get("thinking"))?;
        if request.reasoning.is_none() {
            request.reasoning = reasoning::decode_other_families(fields)?;
        }
    }
    if let Some(config) = opt_object(body, "", "outputConfig")? {
        request.response_format = decode_output_config(config)?;
        if let (Some(effort), Some(reasoning)) = (
            opt_str(config, "outputConfig", "effort")?,
            request.reasoning.as_mut(),
        ) {
            reasoning.effort = Some(effort.to_owned());
        }
    }
    Ok(request)
}

fn decode_message(value: &Value, i: usize) -> Result<Message, DecodeError> {
    let path = format!("messages[{i}]");
    let message = object(value, &path)?;
    let role = match opt_str(message, &path, "role")? {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        // A system message in the conversation: an instruction given at
        // that point (its tool changes are named by `unsupported_fields`).
        Some("system") => Role::System,
        _ => {
            return Err(DecodeError::invalid(
                format!("{path}.role"),
                "must be \"user\", \"assistant\" or \"system\"",
            ))
        }
    };
    let content = message
        .get("content")
        .ok_or_else(|| DecodeError::invalid(format!("{path}.content"), "is required"))?;
    Ok(Message::new(
        role,
        decode_blocks(content, &format!("{path}.content"))?,
    ))
}

/// The `text` and `cachePoint` members of `system` as the system prompt's
/// message; guard content has no place in the IR.
fn decode_system(system: &Value) -> Result<Option<Message>, DecodeError> {
    let blocks = system
        .as_array()
        .ok_or_else(|| DecodeError::invalid("system", "must be an array of system blocks"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("system[{i}]");
        let block = object(block, &path)?;
        if let Some(text) = opt_str(block, &path, "text")? {
            content.push(ContentBlock::text(text));
        } else if let Some(point) = non_null(block.get("cachePoint")) {
            let point = content::decode_cache_point(point, &format!("{path}.cachePoint"))?;
            content.push(ContentBlock::CachePoint(point));
        }
    }
    Ok((!content.is_empty()).then(|| Message::new(Role::System, content)))
}

fn decode_tool_config(
    config: &Map<String, Value>,
    request: &mut Request,
) -> Result<(), DecodeError> {
    let tools = match non_null(config.get("tools")) {
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(DecodeError::invalid("toolConfig.tools", "must be an array")),
        None => return Err(DecodeError::invalid("toolConfig.tools", "is required")),
    };
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("toolConfig.tools[{i}]");
        let entry = object(tool, &path)?;
        // A cache point marks the tool before it; system tools are not
        // tools the IR can describe.
        if let Some(point) = non_null(entry.get("cachePoint")) {
            let point = content::decode_cache_point(point, &format!("{path}.cachePoint"))?;
            if let Some(last) = request.tools.last_mut() {
                last.cache_point = Some(point);
            }
            continue;
        }
        let Some(spec) = opt_object(entry, &path, "toolSpec")? else {
            continue;
        };
        let path = format!("{path}.toolSpec");
        let schema = opt_object(spec, &path, "inputSchema")?
            .and_then(|schema| non_null(schema.get("json")))
            .cloned()
            .ok_or_else(|| {
                DecodeError::invalid(format!("{path}.inputSchema.json"), "is required")
            })?;
        let mut out = Tool::new(
            req_str(spec, &path, "name")?,
            opt_str(spec, &path, "description")?.map(str::to_owned),
            schema,
        );
        out.strict = opt_bool(spec, &path, "strict")?;
        request.tools.push(out);
    }
    if let Some(choice) = opt_object(config, "toolConfig", "toolChoice")? {
        let path = "toolConfig.toolChoice";
        request.tool_choice = Some(if non_null(choice.get("auto")).is_some() {
            ToolChoice::Auto
        } else if non_null(choice.get("any")).is_some() {
            ToolChoice::Required
        } else if let Some(tool) = opt_object(choice, path, "tool")? {
            ToolChoice::Tool(req_str(tool, "toolConfig.toolChoice.tool", "name")?.to_owned())
        } else {
            return Err(DecodeError::invalid(path, "must be one of auto, any, tool"));
        });
    }
    Ok(())
}

/// `outputConfig.textFormat`: a JSON schema, sent as JSON text.
fn decode_output_config(
    config: &Map<String, Value>,
) -> Result<Option<ResponseFormat>, DecodeError> {
    let Some(format) = opt_object(config, "outputConfig", "textFormat")? else {
        return Ok(None);
    };
    let path = "outputConfig.textFormat";
    if opt_str(format, path, "type")? != Some("json_schema") {
        return Ok(None);
    }
    let path = "outputConfig.textFormat.structure.jsonSchema";
    let schema = opt_object(format, "outputConfig.textFormat", "structure")?
        .map(|structure| opt_object(structure, "outputConfig.textFormat.structure", "jsonSchema"))
        .transpose()?
        .flatten()
        .ok_or_else(|| DecodeError::invalid(path, "is required"))?;
    let text = req_str(schema, path, "schema")?;
    let parsed = serde_json::from_str(text)
        .map_err(|e| DecodeError::invalid(format!("{path}.schema"), format!("is not JSON: {e}")))?;
    Ok(Some(ResponseFormat::JsonSchema {
        name: opt_str(schema, path, "name")?
            .unwrap_or("response")
            .to_owned(),
        schema: parsed,
        strict: None,
        description: opt_str(schema, path, "description")?.map(str::to_owned),
    }))
}

fn string_array(value: &Value, path: &str) -> Result<Vec<String>, DecodeError> {
    let items = value
        .as_array()
        .ok_or_else(|| DecodeError::invalid(path, "must be an array of strings"))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| DecodeError::invalid(path, "must be an array of strings"))
        })
        .collect()
}
