//! Writing a [`Request`] as a Chat Completions request body.
//!
//! The body is built from borrowed, typed structs: a request may carry
//! megabytes of base64 images, which are never copied into a JSON tree.

use std::borrow::Cow;

use busbar_ir::{
    ContentBlock, Message, Request, ResponseFormat, Role, ThinkingMode, ToolChoice,
    ToolResultContent,
};
use serde::Serialize;

use crate::names::push_once;
use crate::{Encoded, RequestOptions};

/// Encodes `request` for an OpenAI-compatible upstream, sending
/// `options.model`. [`Encoded::dropped`] names what Chat Completions cannot
/// express: `thinking` blocks and budget-only reasoning, `top_k`,
/// `tool_result.image`, `tool_result.is_error`.
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    let mut dropped = Vec::new();
    let has_tools = !request.tools.is_empty();
    let body = Body {
        model: &options.model,
        messages: messages(request, &mut dropped),
        tools: request
            .tools
            .iter()
            .map(|tool| ToolOut {
                kind: "function",
                function: FunctionOut {
                    name: &tool.name,
                    description: tool.description.as_deref(),
                    parameters: &tool.parameters,
                    strict: tool.strict,
                },
            })
            .collect(),
        // OpenAI rejects both fields when no tools are given.
        tool_choice: request
            .tool_choice
            .as_ref()
            .filter(|_| has_tools)
            .map(tool_choice),
        parallel_tool_calls: request.parallel_tool_calls.filter(|_| has_tools),
        max_completion_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        frequency_penalty: request.frequency_penalty,
        presence_penalty: request.presence_penalty,
        seed: request.seed,
        stop: &request.stop_sequences,
        response_format: request.response_format.as_ref().and_then(response_format),
        reasoning_effort: reasoning_effort(request, &mut dropped),
        user: request.user.as_deref(),
        prompt_cache_key: request.cache_key.as_deref(),
        stream: request.stream,
        // Always ask for usage: Busbar needs it even when the client did not
        // (the stream encoder hides the extra chunk from such a client).
        stream_options: request.stream.then_some(StreamOptionsOut {
            include_usage: true,
        }),
    };
    if request.top_k.is_some() {
        push_once(&mut dropped, "top_k");
    }
    // Serialising these borrowed structs into a Vec cannot fail.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Encoded { body, dropped }
}

fn reasoning_effort<'a>(request: &'a Request, dropped: &mut Vec<&'static str>) -> Option<&'a str> {
    let reasoning = request.reasoning.as_ref()?;
    if let Some(effort) = reasoning.effort.as_deref() {
        return Some(effort);
    }
    // A token budget has no Chat Completions equivalent; "disabled" and
    // "adaptive" without an effort are what the model does anyway.
    if reasoning.budget_tokens.is_some() && reasoning.mode != ThinkingMode::Disabled {
        push_once(dropped, "thinking");
    }
    None
}

fn messages<'a>(request: &'a Request, dropped: &mut Vec<&'static str>) -> Vec<MessageOut<'a>> {
    let mut out = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system_text() {
        out.push(MessageOut::System { content: system });
    }
    for message in request.conversation() {
        match message.role {
            Role::Assistant => out.push(assistant(message, dropped)),
            // A mid-conversation instruction: a system message in place.
            Role::System => {
                if let Some(content) = system_text(message, dropped) {
                    out.push(MessageOut::System { content });
                }
            }
            _ => user(message, &mut out, dropped),
        }
    }
    if request
        .system_prompt()
        .iter()
        .flat_map(|m| &m.content)
        .any(|b| matches!(b, ContentBlock::CachePoint(_)))
    {
        push_once(dropped, "cache_control");
    }
    out
}

/// A system message's text; cache points are named, other blocks too.
fn system_text(message: &Message, dropped: &mut Vec<&'static str>) -> Option<String> {
    for block in &message.content {
        match block {
            ContentBlock::Text { .. } => {}
            ContentBlock::CachePoint(_) => push_once(dropped, "cache_control"),
            _ => push_once(dropped, "content"),
        }
    }
    message.joined_text()
}

/// A user turn: one `tool` message per tool result, first, then the rest of
/// the turn as one `user` message.
fn user<'a>(message: &'a Message, out: &mut Vec<MessageOut<'a>>, dropped: &mut Vec<&'static str>) {
    let mut parts = Vec::new();
    let mut had_results = false;
    for block in &message.content {
        match block {
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
                ..
            } => {
                had_results = true;
                if *is_error {
                    push_once(dropped, "tool_result.is_error");
                }
                out.push(MessageOut::Tool {
                    tool_call_id: tool_use_id,
                    content: tool_result_text(content, dropped),
                });
            }
            ContentBlock::Text { text } => parts.push(PartOut::Text { text }),
            ContentBlock::Image { source, detail } => parts.push(PartOut::ImageUrl {
                image_url: ImageUrlOut {
                    url: match source {
                        busbar_ir::ImageSource::Url { url } => Cow::Borrowed(url),
                        other => Cow::Owned(other.to_url()),
                    },
                    detail: detail.as_deref(),
                },
            }),
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {
                push_once(dropped, "thinking")
            }
            ContentBlock::ToolUse { .. } => push_once(dropped, "tool_use"),
            ContentBlock::CachePoint(_) => push_once(dropped, "cache_control"),
            _ => push_once(dropped, "content"),
        }
    }
    if parts.is_empty() && had_results {
        return;
    }
    let content = match parts.as_slice() {
        [PartOut::Text { text }] => UserContent::Text(text),
        _ => UserContent::Parts(parts),
    };
    out.push(MessageOut::User { content });
}

/// Tool results are text in Chat Completions: pieces are joined by a newline
/// and images left out.
fn tool_result_text(content: &[ToolResultContent], dropped: &mut Vec<&'static str>) -> String {
    let mut text = String::new();
    for (i, piece) in content.iter().enumerate() {
        match piece {
            ToolResultContent::Text { text: piece } => {
                if i > 0 {
                    text.push('\n');
                }
                text.push_str(piece);
            }
            _ => push_once(dropped, "tool_result.image"),
        }
    }
    text
}

/// An assistant turn: its text joined into `content`, its tool calls in
/// `tool_calls`. Content is `null` only beside tool calls, as OpenAI sends it.
fn assistant<'a>(message: &'a Message, dropped: &mut Vec<&'static str>) -> MessageOut<'a> {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text { text: piece } => text.push_str(piece),
            ContentBlock::ToolUse {
                id,
                name,
                arguments,
                ..
            } => tool_calls.push(ToolCallOut {
                id,
                kind: "function",
                function: FunctionCallOut { name, arguments },
            }),
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {
                push_once(dropped, "thinking")
            }
            ContentBlock::Image { .. } => push_once(dropped, "image"),
            ContentBlock::ToolResult { .. } => push_once(dropped, "tool_result"),
            ContentBlock::CachePoint(_) => push_once(dropped, "cache_control"),
            _ => push_once(dropped, "content"),
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    MessageOut::Assistant {
        content,
        tool_calls,
    }
}

fn tool_choice(choice: &ToolChoice) -> ToolChoiceOut<'_> {
    match choice {
        ToolChoice::Required => ToolChoiceOut::Mode("required"),
        ToolChoice::None => ToolChoiceOut::Mode("none"),
        ToolChoice::Tool(name) => ToolChoiceOut::Function {
            kind: "function",
            function: NameOut { name },
        },
        _ => ToolChoiceOut::Mode("auto"),
    }
}

fn response_format(format: &ResponseFormat) -> Option<ResponseFormatOut<'_>> {
    match format {
        ResponseFormat::Text => Some(ResponseFormatOut::Text),
        ResponseFormat::JsonObject => Some(ResponseFormatOut::JsonObject),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
            description,
        } => Some(ResponseFormatOut::JsonSchema {
            json_schema: JsonSchemaOut {
                name,
                description: description.as_deref(),
                schema,
                strict: *strict,
            },
        }),
        _ => None,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<MessageOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormatOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptionsOut>,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum MessageOut<'a> {
    System {
        content: String,
    },
    User {
        content: UserContent<'a>,
    },
    Assistant {
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallOut<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: String,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum UserContent<'a> {
    Text(&'a str),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrlOut<'a> },
}

#[derive(Serialize)]
struct ImageUrlOut<'a> {
    url: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCallOut<'a>,
}

#[derive(Serialize)]
struct FunctionCallOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ToolChoiceOut<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        function: NameOut<'a>,
    },
}

#[derive(Serialize)]
struct NameOut<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormatOut<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaOut<'a> },
}

#[derive(Serialize)]
struct JsonSchemaOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    schema: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
struct StreamOptionsOut {
    include_usage: bool,
}
