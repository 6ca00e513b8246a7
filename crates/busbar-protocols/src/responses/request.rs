//! Responses request bodies ⇄ [`Request`].
//!
//! Ingress reads `input` as a string or a list of items: messages (any role,
//! content as a string or parts), `function_call`, `function_call_output` and
//! `reasoning` items. Consecutive assistant-side items (reasoning, assistant
//! messages, function calls) form one IR assistant turn; consecutive
//! `function_call_output` items, and a user message right after them, form
//! one IR user turn with the tool results first. The JSON is walked by hand
//! so that an error names the exact path at fault
//! (`input[2].content[0].image_url`), which becomes the `param` of the
//! client's 400.
//!
//! Egress ([`encode`]) writes `instructions` (the first system part; later
//! parts become `developer` messages), one item per IR block, and
//! `strict: false` on tools that did not ask for strictness (Responses would
//! otherwise make them strict).

mod encode;
#[cfg(test)]
mod tests;
mod unsupported;

pub use encode::encode;
pub use unsupported::unsupported_fields;

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    Tool, ToolChoice, ToolResultContent,
};
use serde_json::{Map, Value};

use crate::json::expected::{object, opt_bool, opt_f64, opt_str, opt_u64, req_str, wrong};
use crate::json::get;
use crate::responses::join_namespace;
use crate::DecodeError;

/// The names of the request's `namespace` tools, for
/// [`crate::ReplyOptions::tool_namespaces`].
pub fn tool_namespaces(body: &Value) -> Vec<String> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|tool| tool.get("type").and_then(Value::as_str) == Some("namespace"))
        .filter_map(|tool| tool.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Decodes a Responses request body. Unknown fields are ignored;
/// [`unsupported_fields`] names the known ones the IR cannot hold. A field of
/// the wrong type is a [`DecodeError::Invalid`] naming its path
/// (`input[1].content[0].image_url`).
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
    let mut request = Request::new(model, Vec::new());
    if let Some(instructions) = opt_str(body, "instructions", "")? {
        request.push_system(instructions);
    }
    match get(body, "input") {
        // A request may also take its input from a stored prompt or an
        // earlier response; `unsupported_fields` names those.
        None => {}
        Some(Value::String(text)) => request
            .messages
            .push(Message::text(Role::User, text.as_str())),
        Some(Value::Array(items)) => {
            let mut turns = Turns::new(&mut request);
            for (i, item) in items.iter().enumerate() {
                turns.item(item, &format!("input[{i}]"))?;
            }
        }
        Some(_) => return Err(wrong("input", "a string or an array of items")),
    }
    decode_tools(body, &mut request)?;
    request.parallel_tool_calls = opt_bool(body, "parallel_tool_calls", "")?;
    request.max_tokens = opt_u64(body, "max_output_tokens", "")?;
    request.temperature = opt_f64(body, "temperature", "")?;
    request.top_p = opt_f64(body, "top_p", "")?;
    if let Some(text) = get(body, "text") {
        let text = object(text, "text")?;
        if let Some(format) = get(text, "format") {
            request.response_format = Some(response_format(object(format, "text.format")?)?);
        }
    }
    if let Some(reasoning) = get(body, "reasoning") {
        let reasoning = object(reasoning, "reasoning")?;
        // Only an effort changes what the model does; a summary request
        // alone is named by `unsupported_fields`.
        request.reasoning = opt_str(reasoning, "effort", "reasoning")?.map(|effort| {
            let mut ir = Reasoning::default();
            if effort == "none" {
                ir.mode = ThinkingMode::Disabled;
            }
            ir.effort = Some(effort.to_owned());
            ir
        });
    }
    // `safety_identifier` replaces the deprecated `user`.
    request.user = match opt_str(body, "safety_identifier", "")? {
        Some(id) => Some(id.to_owned()),
        None => opt_str(body, "user", "")?.map(str::to_owned),
    };
    request.cache_key = opt_str(body, "prompt_cache_key", "")?.map(str::to_owned);
    request.stream = opt_bool(body, "stream", "")?.unwrap_or(false);
    Ok(request)
}

/// Whether an `input` item has an IR form. Item references, built-in tool
/// calls and item types Busbar does not know are skipped (and named by
/// `unsupported_fields`): they need OpenAI's stored state or tools.
pub(super) fn is_translatable_item(item: &Value) -> bool {
    match item.get("type").and_then(Value::as_str) {
        Some("message" | "function_call" | "function_call_output" | "reasoning") => true,
        // An easy input message may leave out its type; an item reference
        // may be a bare `{"id": …}`.
        None => item.get("role").is_some(),
        Some(_) => false,
    }
}

/// Which side produced the IR message being built, for merging items into
/// turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Start,
    System,
    Assistant,
    ToolResults,
    User,
}

/// Builds IR turns from input items.
struct Turns<'r> {
    request: &'r mut Request,
    last: Side,
}

impl<'r> Turns<'r> {
    fn new(request: &'r mut Request) -> Self {
        Self {
            request,
            last: Side::Start,
        }
    }

    fn push(&mut self, side: Side, blocks: Vec<ContentBlock>) {
        let merge = match side {
            Side::Assistant => self.last == Side::Assistant,
            // Tool results, and a user message after them, are one turn.
            Side::ToolResults | Side::User => self.last == Side::ToolResults,
            Side::Start | Side::System => false,
        };
        match self.request.messages.last_mut() {
            Some(last) if merge => last.content.extend(blocks),
            _ => {
                let role = match side {
                    Side::Assistant => Role::Assistant,
                    Side::System => Role::System,
                    _ => Role::User,
                };
                self.request.messages.push(Message::new(role, blocks));
            }
        }
        self.last = side;
    }

    fn item(&mut self, item: &Value, path: &str) -> Result<(), DecodeError> {
        if !is_translatable_item(item) {
            return Ok(());
        }
        let item = object(item, path)?;
        match opt_str(item, "type", path)?.unwrap_or("message") {
            "function_call" => {
                let call_id = req_str(item, "call_id", path)?;
                let name = match opt_str(item, "namespace", path)? {
                    Some(namespace) => join_namespace(namespace, req_str(item, "name", path)?),
                    None => req_str(item, "name", path)?.to_owned(),
                };
                let arguments = match get(item, "arguments") {
                    None => String::new(),
                    Some(Value::String(text)) => text.clone(),
                    // Some clients send the object itself.
                    Some(other) => other.to_string(),
                };
                self.push(
                    Side::Assistant,
                    vec![ContentBlock::tool_use(call_id, name, arguments)],
                );
            }
            "function_call_output" => {
                let call_id = req_str(item, "call_id", path)?;
                let content = tool_output(get(item, "output"), &format!("{path}.output"))?;
                let result = ContentBlock::ToolResult {
                    tool_use_id: call_id.to_owned(),
                    name: None,
                    content,
                    is_error: false,
                };
                self.push(Side::ToolResults, vec![result]);
            }
            "reasoning" => {
                let block = reasoning(item, path)?;
                self.push(Side::Assistant, vec![block]);
            }
            _ => self.message(item, path)?,
        }
        Ok(())
    }

    fn message(&mut self, item: &Map<String, Value>, path: &str) -> Result<(), DecodeError> {
        let content_path = format!("{path}.content");
        let content = get(item, "content");
        match req_str(item, "role", path)? {
            // Kept in place: leading ones join `instructions` as the system
            // prompt, later ones are instructions given mid-conversation.
            "system" | "developer" => {
                let parts = text_parts(content, &content_path)?;
                self.push(
                    Side::System,
                    parts.into_iter().map(ContentBlock::text).collect(),
                );
            }
            "user" => {
                let blocks = user_content(content, &content_path)?;
                self.push(Side::User, blocks);
            }
            "assistant" => {
                let blocks = assistant_content(content, &content_path)?;
                self.push(Side::Assistant, blocks);
            }
            other => {
                return Err(DecodeError::invalid(
                    format!("{path}.role"),
                    format!("unknown role `{other}`"),
                ))
            }
        }
        Ok(())
    }
}

/// A content part: the object, its `type` and its path.
type Part<'a> = (&'a Map<String, Value>, &'a str, String);

/// The parts of a content array, each an object with a `type`.
fn parts<'a>(items: &'a [Value], path: &str) -> Result<Vec<Part<'a>>, DecodeError> {
    items
        .iter()
        .enumerate()
        .map(|(j, part)| {
            let path = format!("{path}[{j}]");
            let part = object(part, &path)?;
            let kind = req_str(part, "type", &path)?;
            Ok((part, kind, path))
        })
        .collect()
}

/// A string, or text parts (system and developer content).
fn text_parts(content: Option<&Value>, path: &str) -> Result<Vec<String>, DecodeError> {
    match content {
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) => parts(items, path)?
            .into_iter()
            .map(|(part, kind, path)| match kind {
                "input_text" | "output_text" | "text" => {
                    Ok(req_str(part, "text", &path)?.to_owned())
                }
                other => Err(DecodeError::invalid(
                    format!("{path}.type"),
                    format!("`{other}` parts are not allowed here, only `input_text`"),
                )),
            })
            .collect(),
        _ => Err(wrong(path, "a string or an array of content parts")),
    }
}

fn user_content(content: Option<&Value>, path: &str) -> Result<Vec<ContentBlock>, DecodeError> {
    let items = match content {
        Some(Value::String(text)) => return Ok(vec![ContentBlock::text(text.as_str())]),
        Some(Value::Array(items)) => items,
        _ => return Err(wrong(path, "a string or an array of content parts")),
    };
    let mut blocks = Vec::with_capacity(items.len());
    for (part, kind, path) in parts(items, path)? {
        match kind {
            "input_text" | "text" => blocks.push(ContentBlock::text(req_str(part, "text", &path)?)),
            "input_image" => {
                let (source, detail) = image(part, &path)?;
                blocks.push(ContentBlock::Image { source, detail });
            }
            other => return Err(untranslatable(other, &path)),
        }
    }
    Ok(blocks)
}

/// Assistant history: a string or `output_text` and `refusal` parts. Empty
/// text stands for no text.
fn assistant_content(
    content: Option<&Value>,
    path: &str,
) -> Result<Vec<ContentBlock>, DecodeError> {
    let mut blocks = Vec::new();
    let mut push = |text: &str| {
        if !text.is_empty() {
            blocks.push(ContentBlock::text(text));
        }
    };
    match content {
        Some(Value::String(text)) => push(text),
        Some(Value::Array(items)) => {
            for (part, kind, path) in parts(items, path)? {
                match kind {
                    "output_text" | "input_text" | "text" => push(req_str(part, "text", &path)?),
                    "refusal" => push(req_str(part, "refusal", &path)?),
                    other => {
                        return Err(DecodeError::invalid(
                            format!("{path}.type"),
                            format!("`{other}` parts are not allowed in assistant messages"),
                        ))
                    }
                }
            }
        }
        _ => return Err(wrong(path, "a string or an array of content parts")),
    }
    Ok(blocks)
}

/// A `function_call_output`'s `output`: a string, or text and image parts.
/// An empty string is no content; an object (not the API's shape, but sent)
/// is its JSON text.
fn tool_output(output: Option<&Value>, path: &str) -> Result<Vec<ToolResultContent>, DecodeError> {
    let items = match output {
        None => return Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => return Ok(Vec::new()),
        Some(Value::String(text)) => return Ok(vec![ToolResultContent::text(text.as_str())]),
        Some(Value::Array(items)) => items,
        // Some clients send a JSON result as the object itself.
        Some(object @ Value::Object(_)) => {
            return Ok(vec![ToolResultContent::text(object.to_string())])
        }
        Some(_) => return Err(wrong(path, "a string or an array of content parts")),
    };
    let mut content = Vec::with_capacity(items.len());
    for (part, kind, path) in parts(items, path)? {
        match kind {
            "input_text" | "output_text" | "text" => {
                content.push(ToolResultContent::text(req_str(part, "text", &path)?));
            }
            "input_image" => content.push(ToolResultContent::Image {
                source: image(part, &path)?.0,
            }),
            other => return Err(untranslatable(other, &path)),
        }
    }
    Ok(content)
}

fn untranslatable(kind: &str, path: &str) -> DecodeError {
    match kind {
        "input_file" | "input_audio" => DecodeError::invalid(
            path,
            format!("`{kind}` content cannot be translated to another vendor's format"),
        ),
        other => DecodeError::invalid(
            format!("{path}.type"),
            format!("unknown content part type `{other}`"),
        ),
    }
}

/// An `input_image` part's source and detail. Uploaded files (`file_id`)
/// live in OpenAI's storage, which another vendor cannot read.
fn image(
    part: &Map<String, Value>,
    path: &str,
) -> Result<(ImageSource, Option<String>), DecodeError> {
    let url = match get(part, "image_url") {
        Some(Value::String(url)) => url.as_str(),
        // Chat Completions' shape, which some clients send here too.
        Some(Value::Object(image)) => req_str(image, "url", &format!("{path}.image_url"))?,
        Some(_) => return Err(wrong(&format!("{path}.image_url"), "a string")),
        None if get(part, "file_id").is_some() => return Err(DecodeError::invalid(
            format!("{path}.file_id"),
            "images by `file_id` cannot be translated to another vendor's format; send `image_url`",
        )),
        None => {
            return Err(DecodeError::invalid(
                format!("{path}.image_url"),
                "is required",
            ))
        }
    };
    let detail = opt_str(part, "detail", path)?.map(str::to_owned);
    Ok((ImageSource::from_url(url), detail))
}

/// A reasoning item: its summary texts joined by a blank line (or, from
/// servers that send only raw reasoning, its `reasoning_text` content).
fn reasoning(item: &Map<String, Value>, path: &str) -> Result<ContentBlock, DecodeError> {
    let id = req_str(item, "id", path)?;
    let texts = |key: &str| -> Result<Vec<&str>, DecodeError> {
        let list_path = format!("{path}.{key}");
        match get(item, key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => parts(items, &list_path)?
                .into_iter()
                .map(|(part, _, path)| req_str(part, "text", &path))
                .collect(),
            Some(_) => Err(wrong(&list_path, "an array")),
        }
    };
    let mut text = texts("summary")?;
    if text.is_empty() {
        text = texts("content")?;
    }
    let encrypted = opt_str(item, "encrypted_content", path)?;
    Ok(super::reasoning_block(id, text.join("\n\n"), encrypted))
}

// ---------------------------------------------------------------- tools

/// A function tool, named into `namespace` when it is in one.
fn function_tool(
    tool: &Map<String, Value>,
    path: &str,
    namespace: Option<&str>,
) -> Result<Tool, DecodeError> {
    let name = req_str(tool, "name", path)?;
    let name = match namespace {
        Some(namespace) => join_namespace(namespace, name),
        None => name.to_owned(),
    };
    let description = opt_str(tool, "description", path)?.map(str::to_owned);
    let parameters = get(tool, "parameters")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    let mut ir = Tool::new(name, description, parameters);
    ir.strict = opt_bool(tool, "strict", path)?;
    Ok(ir)
}

fn decode_tools(body: &Map<String, Value>, request: &mut Request) -> Result<(), DecodeError> {
    if let Some(tools) = get(body, "tools") {
        let tools = tools.as_array().ok_or_else(|| wrong("tools", "an array"))?;
        for (i, tool) in tools.iter().enumerate() {
            let path = format!("tools[{i}]");
            let tool = object(tool, &path)?;
            match opt_str(tool, "type", &path)? {
                None | Some("function") => request.tools.push(function_tool(tool, &path, None)?),
                // Its function tools, each under its joined name (see the
                // module's "Namespace tools").
                Some("namespace") => {
                    let namespace = req_str(tool, "name", &path)?;
                    let inner = get(tool, "tools").and_then(Value::as_array);
                    for (j, function) in inner.into_iter().flatten().enumerate() {
                        let path = format!("{path}.tools[{j}]");
                        let function = object(function, &path)?;
                        if matches!(opt_str(function, "type", &path)?, None | Some("function")) {
                            request
                                .tools
                                .push(function_tool(function, &path, Some(namespace))?);
                        }
                    }
                }
                // Built-in, custom and MCP tools have no IR form;
                // `unsupported_fields` names them.
                Some(_) => {}
            }
        }
    }
    request.tool_choice = match get(body, "tool_choice") {
        None => None,
        Some(Value::String(mode)) => Some(match mode.as_str() {
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            "none" => ToolChoice::None,
            other => {
                return Err(DecodeError::invalid(
                    "tool_choice",
                    format!("unknown tool choice `{other}`"),
                ))
            }
        }),
        Some(choice) => {
            let choice = object(choice, "tool_choice")?;
            match req_str(choice, "type", "tool_choice")? {
                "function" => Some(ToolChoice::Tool(
                    req_str(choice, "name", "tool_choice")?.to_owned(),
                )),
                // The list of allowed tools has no IR form; the mode survives.
                "allowed_tools" => Some(if get(choice, "mode") == Some(&Value::from("required")) {
                    ToolChoice::Required
                } else {
                    ToolChoice::Auto
                }),
                // A built-in or custom tool, which the IR does not carry.
                _ => None,
            }
        }
    };
    Ok(())
}

fn response_format(format: &Map<String, Value>) -> Result<ResponseFormat, DecodeError> {
    let path = "text.format";
    Ok(match req_str(format, "type", path)? {
        "text" => ResponseFormat::Text,
        "json_object" => ResponseFormat::JsonObject,
        "json_schema" => ResponseFormat::JsonSchema {
            name: req_str(format, "name", path)?.to_owned(),
            schema: get(format, "schema")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
            strict: opt_bool(format, "strict", path)?,
            description: opt_str(format, "description", path)?.map(str::to_owned),
        },
        other => {
            return Err(DecodeError::invalid(
                "text.format.type",
                format!("unknown text format `{other}`"),
            ))
        }
    })
}
