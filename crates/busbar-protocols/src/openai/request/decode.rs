//! Reading a Chat Completions request body into a [`Request`].
//!
//! The JSON is walked by hand so that an error names the exact path at fault
//! (`messages[1].content[0].image_url`), which becomes the `param` of the
//! client's 400.

use std::collections::HashMap;

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    Tool, ToolChoice, ToolResultContent,
};
use serde_json::{Map, Value};

use super::get;
use crate::DecodeError;

/// Decodes a parsed request body.
pub(super) fn decode(body: &Value) -> Result<Request, DecodeError> {
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
    request.stream = opt_bool(body, "stream", "")?.unwrap_or(false);
    if let Some(options) = get(body, "stream_options") {
        let options = options
            .as_object()
            .ok_or_else(|| wrong("stream_options", "an object"))?;
        request.stream_usage = opt_bool(options, "include_usage", "stream_options")?.unwrap_or(false);
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
        let message = message.as_object().ok_or_else(|| wrong(&path, "an object"))?;
        let role = req_str(message, "role", &path)?;
        let content_path = format!("{path}.content");
        match role {
            "system" | "developer" => {
                request
                    .system
                    .extend(text_parts(message.get("content"), &content_path)?);
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
        Some(Value::Object(image)) => (req_str(image, "url", &path)?, opt_str(image, "detail", &path)?),
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
        let calls = calls.as_array().ok_or_else(|| wrong(&calls_path, "an array"))?;
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

fn function<'a>(call: &'a Map<String, Value>, path: &str) -> Result<(&'a str, String), DecodeError> {
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
    Ok((name, super::super::arguments_text(function.get("arguments").cloned())))
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
        let name = name.ok_or_else(|| DecodeError::invalid(format!("{path}.name"), "is required"))?;
        legacy_ids.get(name).cloned().unwrap_or_else(|| format!("call_{name}"))
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
            request.tools.push(decode_function(function, &format!("{path}.function"))?);
        }
    } else if let Some(functions) = get(body, "functions") {
        let functions = functions.as_array().ok_or_else(|| wrong("functions", "an array"))?;
        for (i, function) in functions.iter().enumerate() {
            let path = format!("functions[{i}]");
            let function = function.as_object().ok_or_else(|| wrong(&path, "an object"))?;
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
            other => Err(DecodeError::invalid(path, format!("unknown tool choice `{other}`"))),
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
                    Ok(ToolChoice::Tool(req_str(function, "name", &function_path)?.to_owned()))
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

fn decode_response_format(body: &Map<String, Value>) -> Result<Option<ResponseFormat>, DecodeError> {
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
                schema: get(schema, "schema").cloned().unwrap_or_else(|| Value::Object(Map::new())),
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

// ---------------------------------------------------------------- JSON access


fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn wrong(path: &str, expected: &str) -> DecodeError {
    DecodeError::invalid(path, format!("expected {expected}"))
}

fn req_str<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, DecodeError> {
    opt_str(object, key, path)?.ok_or_else(|| DecodeError::invalid(join(path, key), "is required"))
}

fn opt_str<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<Option<&'a str>, DecodeError> {
    match get(object, key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(wrong(&join(path, key), "a string")),
    }
}

fn opt_bool(object: &Map<String, Value>, key: &str, path: &str) -> Result<Option<bool>, DecodeError> {
    match get(object, key) {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(wrong(&join(path, key), "a boolean")),
    }
}

fn opt_f64(object: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, DecodeError> {
    match get(object, key) {
        None => Ok(None),
        Some(number) => number
            .as_f64()
            .map(Some)
            .ok_or_else(|| wrong(&join(path, key), "a number")),
    }
}

fn opt_u64(object: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, DecodeError> {
    match get(object, key) {
        None => Ok(None),
        Some(number) => number
            .as_u64()
            .map(Some)
            .ok_or_else(|| wrong(&join(path, key), "a non-negative integer")),
    }
}

#[cfg(test)]
mod tests {
    use busbar_ir::{ContentBlock, ImageSource, Role, ThinkingMode, ToolChoice, ToolResultContent};
    use serde_json::json;

    use crate::DecodeError;

    fn decode(body: serde_json::Value) -> Result<busbar_ir::Request, DecodeError> {
        super::decode(&body)
    }

    fn field_of(result: Result<busbar_ir::Request, DecodeError>) -> String {
        match result {
            Err(DecodeError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn model_and_messages_are_required() {
        assert_eq!(field_of(decode(json!({"messages": []}))), "model");
        assert_eq!(field_of(decode(json!({"model": "m"}))), "messages");
        assert_eq!(field_of(decode(json!({"model": 1, "messages": []}))), "model");
        assert_eq!(field_of(decode(json!({"model": "m", "messages": {}}))), "messages");
        assert_eq!(field_of(decode(json!([1]))), "body");
    }

    #[test]
    fn wrong_types_name_their_path() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": 5}]});
        assert_eq!(field_of(decode(body)), "messages[1].content");
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]});
        assert_eq!(field_of(decode(body)), "messages[0].content[0].image_url.url");
        let body = json!({"model": "m", "messages": [], "temperature": "hot"});
        assert_eq!(field_of(decode(body)), "temperature");
        let body = json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]});
        assert_eq!(field_of(decode(body)), "messages[0].role");
        let body = json!({"model": "m", "messages": [], "stop": ["a", 1]});
        assert_eq!(field_of(decode(body)), "stop[1]");
    }

    #[test]
    fn audio_and_file_parts_cannot_be_carried() {
        for part in [
            json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
            json!({"type": "file", "file": {"file_id": "file-1"}}),
        ] {
            let body = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}]});
            assert_eq!(field_of(decode(body)), "messages[0].content[1]");
        }
    }

    #[test]
    fn system_and_developer_messages_become_system_parts() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "one", "name": "ignored"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "three"}]},
            {"role": "user", "content": "hi", "name": "alice"},
        ]});
        let request = decode(body).unwrap();
        assert_eq!(request.system, ["one", "two", "three"]);
        assert_eq!(request.messages.len(), 1);
        assert_eq!(request.messages[0].content, vec![ContentBlock::text("hi")]);
    }

    #[test]
    fn images_keep_data_urls_inline_and_detail() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
        ]}]});
        let content = &decode(body).unwrap().messages[0].content;
        assert_eq!(
            content[1],
            ContentBlock::Image {
                source: ImageSource::Base64 { media_type: "image/png".into(), data: "iVBORw0KGgo=".into() },
                detail: Some("low".into()),
            }
        );
        assert!(matches!(&content[2], ContentBlock::Image { source: ImageSource::Url { url }, detail: None } if url == "https://example.com/cat.jpg"));
    }

    #[test]
    fn tool_turns_merge_into_one_user_turn_results_first() {
        let body = json!({"model": "m", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rain"}]},
            {"role": "user", "content": "thanks"},
            {"role": "user", "content": "and tomorrow?"},
        ]});
        let messages = decode(body).unwrap().messages;
        assert_eq!(messages.len(), 4);
        assert_eq!(
            messages[1].content,
            vec![
                // Arguments are kept verbatim, spaces and all.
                ContentBlock::tool_use("call_1", "w", "{\"city\": \"Paris\"}"),
                ContentBlock::tool_use("call_2", "w", "{\"city\":\"Rome\"}"),
            ]
        );
        assert_eq!(messages[2].role, Role::User);
        assert_eq!(
            messages[2].content,
            vec![
                ContentBlock::tool_result("call_1", "sunny"),
                ContentBlock::tool_result("call_2", "rain"),
                ContentBlock::text("thanks"),
            ]
        );
        assert_eq!(messages[3].content, vec![ContentBlock::text("and tomorrow?")]);
    }

    #[test]
    fn assistant_content_forms() {
        let body = json!({"model": "m", "messages": [
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
            {"role": "assistant", "content": null, "refusal": "I can't"},
        ]});
        let messages = decode(body).unwrap().messages;
        assert_eq!(messages[0].content, vec![ContentBlock::tool_use("c", "f", "{\"a\":1}")]);
        assert_eq!(messages[1].content, vec![ContentBlock::text("a"), ContentBlock::text("no")]);
        assert_eq!(messages[2].content, vec![ContentBlock::text("I can't")]);
        let custom = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {}}]}]});
        assert_eq!(field_of(decode(custom)), "messages[0].tool_calls[0].type");
    }

    #[test]
    fn legacy_functions_map_to_tools() {
        let body = json!({"model": "m",
            "functions": [{"name": "f", "parameters": {"type": "object"}}],
            "function_call": {"name": "f"},
            "messages": [
                {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "42"},
            ]});
        let request = decode(body).unwrap();
        assert_eq!(request.tools[0].name, "f");
        assert_eq!(request.tool_choice, Some(ToolChoice::Tool("f".into())));
        let ContentBlock::ToolUse { id, .. } = &request.messages[0].content[0] else {
            panic!("{:?}", request.messages);
        };
        let ContentBlock::ToolResult { tool_use_id, name, content, .. } = &request.messages[1].content[0] else {
            panic!("{:?}", request.messages);
        };
        assert_eq!(tool_use_id, id);
        assert_eq!(name.as_deref(), Some("f"));
        assert_eq!(content, &vec![ToolResultContent::text("42")]);
    }

    #[test]
    fn tools_and_tool_choice() {
        let body = json!({"model": "m", "messages": [],
            "tools": [
                {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}, "strict": true}},
                {"type": "function", "function": {"name": "g"}},
                {"type": "web_search"},
            ],
            "tool_choice": {"type": "function", "function": {"name": "g"}},
            "parallel_tool_calls": false});
        let request = decode(body).unwrap();
        assert_eq!(request.tools.len(), 2);
        assert_eq!(request.tools[0].strict, Some(true));
        assert_eq!(request.tools[0].description.as_deref(), Some("d"));
        assert_eq!(request.tools[1].parameters, json!({"type": "object", "properties": {}}));
        assert_eq!(request.tool_choice, Some(ToolChoice::Tool("g".into())));
        assert_eq!(request.parallel_tool_calls, Some(false));
        for (choice, expected) in [("auto", ToolChoice::Auto), ("required", ToolChoice::Required), ("none", ToolChoice::None)] {
            let body = json!({"model": "m", "messages": [], "tool_choice": choice});
            assert_eq!(decode(body).unwrap().tool_choice, Some(expected));
        }
        let allowed = json!({"model": "m", "messages": [], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": []}}});
        assert_eq!(decode(allowed).unwrap().tool_choice, Some(ToolChoice::Required));
        let bad = json!({"model": "m", "messages": [], "tool_choice": "sometimes"});
        assert_eq!(field_of(decode(bad)), "tool_choice");
    }

    #[test]
    fn sampling_limits_and_formats() {
        let body = json!({"model": "m", "messages": [],
            "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0.7, "top_p": 1,
            "frequency_penalty": -0.5, "presence_penalty": 0.25, "seed": -3, "stop": "END",
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true, "description": "d"}},
            "reasoning_effort": "high", "user": "u-1", "stream": true, "stream_options": {"include_usage": true}});
        let request = decode(body).unwrap();
        assert_eq!(request.max_tokens, Some(20));
        assert_eq!(request.temperature, Some(0.7));
        assert_eq!(request.top_p, Some(1.0));
        assert_eq!(request.frequency_penalty, Some(-0.5));
        assert_eq!(request.presence_penalty, Some(0.25));
        assert_eq!(request.seed, Some(-3));
        assert_eq!(request.stop_sequences, ["END"]);
        assert!(matches!(&request.response_format, Some(busbar_ir::ResponseFormat::JsonSchema { name, strict: Some(true), .. }) if name == "answer"));
        let reasoning = request.reasoning.unwrap();
        assert_eq!((reasoning.mode, reasoning.effort.as_deref()), (ThinkingMode::Enabled, Some("high")));
        assert_eq!(request.user.as_deref(), Some("u-1"));
        assert!(request.stream && request.stream_usage);
        let legacy = json!({"model": "m", "messages": [], "max_tokens": 10, "reasoning_effort": "none", "stop": null});
        let request = decode(legacy).unwrap();
        assert_eq!(request.max_tokens, Some(10));
        assert_eq!(request.reasoning.unwrap().mode, ThinkingMode::Disabled);
        assert!(request.stop_sequences.is_empty());
    }
}
