//! Gemini `GenerateContentRequest` bodies ⇄ [`Request`].
//!
//! Decoding reads the fields the IR holds, under their camelCase or
//! snake_case names, and ignores the rest; [`unsupported_fields`] names what
//! a caller set that the IR cannot carry (safety settings, cached content,
//! server tools, …). A repeated field given as a single object (the REST
//! API's JSON parser allows it) reads as a list of one.
//!
//! * `user` turns (and the legacy `function` / `tool` roles) become user
//!   messages; text, images and `functionResponse`s are read from them.
//!   `model` turns fold as the module docs of `gemini` describe.
//! * A `functionResponse` answers the call with its `id` when one matches,
//!   else the earliest unanswered call of its name; its `response` object
//!   becomes the result's text: the value under a lone `result`, `output`
//!   or `error` key (`error` marking a failure; a string as it is, anything
//!   else as compact JSON), else the whole object as compact JSON.
//! * `parameters` and `responseSchema` (Gemini's OpenAPI subset, often with
//!   upper-case types) become JSON Schema with lower-case types;
//!   `parametersJsonSchema` and `responseJsonSchema` are taken as they are.
//! * `thinkingConfig`: a budget of 0 turns thinking off, -1 makes it
//!   adaptive, more is a budget; `thinkingLevel` is the effort
//!   (lower-cased); `includeThoughts` alone turns thinking on.
//!
//! Encoding is in [`encode`]; its choices are documented there.

mod encode;
mod fields;
#[cfg(test)]
mod tests;
mod unsupported;

pub use encode::encode;
pub use unsupported::unsupported_fields;

use fields::{get, integral, list, opt_bool, opt_count, opt_f64, opt_str};

use busbar_ir::{
    ContentBlock, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode, Tool,
    ToolChoice, ToolResultContent,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::parts::{Blocks, Folder, Ids, WirePart};
use super::DERIVED_ID_PREFIX;
use crate::json::{object, string_array};
use crate::DecodeError;

/// Decodes a Gemini `generateContent` request body. The model is not in the
/// body: the decoded model name is empty, and `stream` is false (both come
/// from the URL).
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    decode_value(&serde_json::from_slice(body)?)
}

/// Decodes an already parsed request body, for callers that also inspect it
/// with [`unsupported_fields`].
pub fn decode_value(value: &Value) -> Result<Request, DecodeError> {
    let body = object(value, "body")?;
    let contents = list(body, "", "contents", "contents")?
        .ok_or_else(|| DecodeError::invalid("contents", "is required"))?;
    let mut request = Request::new("", Vec::with_capacity(contents.len() + 1));
    if let Some(system) = get(body, "systemInstruction", "system_instruction") {
        if let Some(system) = decode_system(system)? {
            request.messages.push(system);
        }
    }
    let mut calls = Calls::default();
    for (c, content) in contents.into_iter().enumerate() {
        request
            .messages
            .push(decode_content(content, c, &mut calls)?);
    }
    if let Some(tools) = list(body, "", "tools", "tools")? {
        for (i, tool) in tools.into_iter().enumerate() {
            decode_tool(tool, i, &mut request.tools)?;
        }
    }
    if let Some(config) = get(body, "toolConfig", "tool_config") {
        request.tool_choice = decode_tool_choice(object(config, "toolConfig")?)?;
    }
    if let Some(config) = get(body, "generationConfig", "generation_config") {
        decode_generation_config(object(config, "generationConfig")?, &mut request)?;
    }
    Ok(request)
}

/// The calls met so far, to pair `functionResponse`s with.
#[derive(Debug, Default)]
struct Calls(Vec<(String, String, bool)>);

impl Calls {
    /// The id of the call a response answers: the one with its id, else the
    /// earliest unanswered one with its name.
    fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let index = id
            .and_then(|id| self.0.iter().position(|(call, _, _)| call == id))
            .or_else(|| {
                self.0
                    .iter()
                    .position(|(_, call, answered)| !answered && call == name)
            })?;
        let (id, _, answered) = &mut self.0[index];
        *answered = true;
        Some(id.clone())
    }
}

fn decode_content(value: &Value, c: usize, calls: &mut Calls) -> Result<Message, DecodeError> {
    let path = format!("contents[{c}]");
    let content = object(value, &path)?;
    let parts = list(content, &path, "parts", "parts")?.unwrap_or_default();
    match opt_str(content, &path, "role", "role")? {
        None | Some("user" | "function" | "tool") => {}
        Some("model") => {
            let mut folder = Folder::new(Ids::Request { content: c });
            let mut blocks = Blocks::default();
            for (p, part) in parts.into_iter().enumerate() {
                let part = WirePart::deserialize(part).map_err(|e| {
                    DecodeError::invalid(format!("{path}.parts[{p}]"), e.to_string())
                })?;
                folder.part(part, p, &mut blocks)?;
            }
            folder.close(&mut blocks);
            for block in &blocks.0 {
                if let ContentBlock::ToolUse { id, name, .. } = block {
                    calls.0.push((id.clone(), name.clone(), false));
                }
            }
            return Ok(Message::new(Role::Assistant, blocks.0));
        }
        Some(_) => {
            return Err(DecodeError::invalid(
                format!("{path}.role"),
                "must be \"user\" or \"model\"",
            ))
        }
    }
    let mut blocks = Vec::with_capacity(parts.len());
    for (p, part) in parts.into_iter().enumerate() {
        let part_path = format!("{path}.parts[{p}]");
        let map = object(part, &part_path)?;
        if let Some(response) = get(map, "functionResponse", "function_response") {
            let response = object(response, &format!("{part_path}.functionResponse"))?;
            blocks.push(decode_function_response(
                response,
                &part_path,
                (c, p),
                calls,
            )?);
            continue;
        }
        let mut part = WirePart::deserialize(part)
            .map_err(|e| DecodeError::invalid(&part_path, e.to_string()))?;
        match part.text.take() {
            Some(text) if !text.is_empty() => blocks.push(ContentBlock::text(text)),
            Some(_) => {}
            None => blocks.extend(part.image().map(ContentBlock::image)),
        }
    }
    Ok(Message::new(Role::User, blocks))
}

fn decode_function_response(
    response: &Map<String, Value>,
    path: &str,
    (c, p): (usize, usize),
    calls: &mut Calls,
) -> Result<ContentBlock, DecodeError> {
    let path = format!("{path}.functionResponse");
    let name = opt_str(response, &path, "name", "name")?.unwrap_or_default();
    let id = opt_str(response, &path, "id", "id")?.filter(|id| !id.is_empty());
    let tool_use_id = calls
        .answer(id, name)
        .or_else(|| id.map(str::to_owned))
        .unwrap_or_else(|| format!("{DERIVED_ID_PREFIX}{c}_{p}"));
    let (mut content, is_error) = result_content(get(response, "response", "response"))?;
    for (k, part) in list(response, &path, "parts", "parts")?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let mut part = WirePart::deserialize(part)
            .map_err(|e| DecodeError::invalid(format!("{path}.parts[{k}]"), e.to_string()))?;
        if let Some(source) = part.image() {
            content.push(ToolResultContent::Image { source });
        }
    }
    Ok(ContentBlock::ToolResult {
        tool_use_id,
        name: Some(name.to_owned()),
        content,
        is_error,
    })
}

/// A `response` object as the result's text, and whether it reports an
/// error.
fn result_content(response: Option<&Value>) -> Result<(Vec<ToolResultContent>, bool), DecodeError> {
    let Some(response) = response else {
        return Ok((Vec::new(), false));
    };
    let text = |value: &Value| -> Result<String, DecodeError> {
        Ok(match value {
            Value::String(text) => text.clone(),
            other => serde_json::to_string(other)?,
        })
    };
    if let Value::Object(map) = response {
        if let (1, Some((key, value))) = (map.len(), map.iter().next()) {
            match key.as_str() {
                "result" | "output" => {
                    return Ok((vec![ToolResultContent::text(text(value)?)], false))
                }
                "error" => return Ok((vec![ToolResultContent::text(text(value)?)], true)),
                _ => {}
            }
        }
    }
    Ok((vec![ToolResultContent::text(text(response)?)], false))
}

/// `systemInstruction` (a `Content`, role optional, or plain text) as the
/// system prompt's message, or `None` when it holds no text.
fn decode_system(system: &Value) -> Result<Option<Message>, DecodeError> {
    let texts = system_texts(system)?;
    Ok((!texts.is_empty()).then(|| {
        Message::new(
            Role::System,
            texts.into_iter().map(ContentBlock::text).collect(),
        )
    }))
}

fn system_texts(system: &Value) -> Result<Vec<String>, DecodeError> {
    if let Value::String(text) = system {
        return Ok(vec![text.clone()]);
    }
    let system = object(system, "systemInstruction")?;
    let parts = list(system, "systemInstruction", "parts", "parts")?.unwrap_or_default();
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let path = format!("systemInstruction.parts[{i}]");
        if let Some(text) = opt_str(object(part, &path)?, &path, "text", "text")? {
            out.push(text.to_owned());
        }
    }
    Ok(out)
}

/// The function declarations of one `tools` entry; server tools (search,
/// code execution, …) are skipped.
fn decode_tool(value: &Value, i: usize, out: &mut Vec<Tool>) -> Result<(), DecodeError> {
    let path = format!("tools[{i}]");
    let tool = object(value, &path)?;
    let path = format!("{path}.functionDeclarations");
    let declarations =
        list(tool, &path, "functionDeclarations", "function_declarations")?.unwrap_or_default();
    for (j, declaration) in declarations.into_iter().enumerate() {
        let path = format!("{path}[{j}]");
        let declaration = object(declaration, &path)?;
        let name = opt_str(declaration, &path, "name", "name")?
            .ok_or_else(|| DecodeError::invalid(format!("{path}.name"), "is required"))?;
        let parameters = match (
            get(
                declaration,
                "parametersJsonSchema",
                "parameters_json_schema",
            ),
            get(declaration, "parameters", "parameters"),
        ) {
            (Some(schema), _) => schema.clone(),
            (None, Some(schema)) => json_schema(schema),
            (None, None) => serde_json::json!({"type": "object", "properties": {}}),
        };
        out.push(Tool::new(
            name,
            opt_str(declaration, &path, "description", "description")?.map(str::to_owned),
            parameters,
        ));
    }
    Ok(())
}

/// `toolConfig.functionCallingConfig` as a tool choice: `ANY` with one
/// allowed name forces that tool; `VALIDATED` reads as `AUTO`.
fn decode_tool_choice(config: &Map<String, Value>) -> Result<Option<ToolChoice>, DecodeError> {
    let Some(calling) = get(config, "functionCallingConfig", "function_calling_config") else {
        return Ok(None);
    };
    let path = "toolConfig.functionCallingConfig";
    let calling = object(calling, path)?;
    let allowed = match get(calling, "allowedFunctionNames", "allowed_function_names") {
        Some(names) => string_array(names, &format!("{path}.allowedFunctionNames"))?,
        None => Vec::new(),
    };
    let mode = opt_str(calling, path, "mode", "mode")?.map(str::to_ascii_uppercase);
    Ok(match mode.as_deref() {
        Some("AUTO" | "VALIDATED") => Some(ToolChoice::Auto),
        Some("ANY") => Some(match <[String; 1]>::try_from(allowed) {
            Ok([name]) => ToolChoice::Tool(name),
            Err(_) => ToolChoice::Required,
        }),
        Some("NONE") => Some(ToolChoice::None),
        None | Some("MODE_UNSPECIFIED") => None,
        Some(_) => {
            return Err(DecodeError::invalid(
                format!("{path}.mode"),
                "must be one of AUTO, ANY, NONE, VALIDATED",
            ))
        }
    })
}

fn decode_generation_config(
    config: &Map<String, Value>,
    request: &mut Request,
) -> Result<(), DecodeError> {
    let path = "generationConfig";
    request.temperature = opt_f64(config, path, "temperature", "temperature")?;
    request.top_p = opt_f64(config, path, "topP", "top_p")?;
    request.top_k = opt_count(config, path, "topK", "top_k")?;
    request.max_tokens = opt_count(config, path, "maxOutputTokens", "max_output_tokens")?;
    request.presence_penalty = opt_f64(config, path, "presencePenalty", "presence_penalty")?;
    request.frequency_penalty = opt_f64(config, path, "frequencyPenalty", "frequency_penalty")?;
    request.seed =
        match get(config, "seed", "seed") {
            None => None,
            Some(seed) => Some(integral(seed).ok_or_else(|| {
                DecodeError::invalid("generationConfig.seed", "must be an integer")
            })?),
        };
    if let Some(stops) = get(config, "stopSequences", "stop_sequences") {
        request.stop_sequences = string_array(stops, "generationConfig.stopSequences")?;
    }
    let schema = get(config, "responseJsonSchema", "response_json_schema")
        .cloned()
        .or_else(|| get(config, "responseSchema", "response_schema").map(json_schema));
    let mime = opt_str(config, path, "responseMimeType", "response_mime_type")?;
    request.response_format = match (mime, schema) {
        (_, Some(schema)) => Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            schema,
            strict: None,
            description: None,
        }),
        (Some("application/json"), None) => Some(ResponseFormat::JsonObject),
        (Some("text/plain"), None) => Some(ResponseFormat::Text),
        _ => None,
    };
    if let Some(thinking) = get(config, "thinkingConfig", "thinking_config") {
        request.reasoning = decode_thinking(object(thinking, "generationConfig.thinkingConfig")?)?;
    }
    Ok(())
}

fn decode_thinking(thinking: &Map<String, Value>) -> Result<Option<Reasoning>, DecodeError> {
    let path = "generationConfig.thinkingConfig";
    let budget = match get(thinking, "thinkingBudget", "thinking_budget") {
        None => None,
        Some(budget) => Some(integral(budget).ok_or_else(|| {
            DecodeError::invalid(format!("{path}.thinkingBudget"), "must be an integer")
        })?),
    };
    let level = opt_str(thinking, path, "thinkingLevel", "thinking_level")?
        .filter(|level| !level.eq_ignore_ascii_case("THINKING_LEVEL_UNSPECIFIED"));
    let include = opt_bool(thinking, path, "includeThoughts", "include_thoughts")?;
    if budget.is_none() && level.is_none() && include != Some(true) {
        return Ok(None);
    }
    let mut reasoning = Reasoning::default();
    match budget {
        Some(0) => reasoning.mode = ThinkingMode::Disabled,
        Some(budget) if budget < 0 => reasoning.mode = ThinkingMode::Adaptive,
        Some(budget) => reasoning.budget_tokens = u64::try_from(budget).ok(),
        None => {}
    }
    reasoning.effort = level.map(str::to_ascii_lowercase);
    Ok(Some(reasoning))
}

/// Gemini's OpenAPI-style schema as JSON Schema: the same keywords, with
/// `type` names lower-cased (`OBJECT` → `object`) wherever a schema sits.
fn json_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    lowercase_types(&mut schema);
    schema
}

fn lowercase_types(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    match map.get_mut("type") {
        Some(Value::String(kind)) => kind.make_ascii_lowercase(),
        Some(Value::Array(kinds)) => kinds.iter_mut().for_each(|kind| {
            if let Value::String(kind) = kind {
                kind.make_ascii_lowercase();
            }
        }),
        _ => {}
    }
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "items" | "additionalProperties" | "not" | "contains" | "if" | "then" | "else" => {
                lowercase_types(value)
            }
            "properties" | "$defs" | "definitions" | "patternProperties" => {
                if let Value::Object(schemas) = value {
                    schemas.values_mut().for_each(lowercase_types);
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(schemas) = value {
                    schemas.iter_mut().for_each(lowercase_types);
                }
            }
            _ => {}
        }
    }
}
