//! Writing a [`Request`] as a Responses request body.
//!
//! The body is built from borrowed, typed structs: a request may carry
//! megabytes of base64 images, which are never copied into a JSON tree.

use std::borrow::Cow;

use busbar_ir::{
    ContentBlock, ImageSource, Message, Request, ResponseFormat, Role, ThinkingMode, ToolChoice,
    ToolResultContent,
};
use serde::Serialize;

use super::super::output::{summary, SummaryOut};
use super::super::parse_signature;
use crate::names::push_once;
use crate::{Encoded, RequestOptions};

/// The longest `safety_identifier` OpenAI accepts; a longer end-user id goes
/// in the deprecated `user` instead.
const MAX_SAFETY_IDENTIFIER: usize = 64;

/// Encodes `request` for a Responses upstream, sending `options.model`.
/// [`Encoded::dropped`] names what Responses cannot express: `stop`
/// sequences, `top_k`, `seed`, penalties, thinking that did not come from
/// Responses (see the [module docs](crate::responses)), budget-only reasoning,
/// `tool_result.is_error`.
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    let mut dropped = Vec::new();
    let has_tools = !request.tools.is_empty();
    let (safety_identifier, user) = match request.user.as_deref() {
        Some(user) if user.len() > MAX_SAFETY_IDENTIFIER => (None, Some(user)),
        user => (user, None),
    };
    let body = Body {
        model: &options.model,
        instructions: request.system_text(),
        input: input(request, &mut dropped),
        tools: request
            .tools
            .iter()
            .map(|tool| ToolOut {
                kind: "function",
                name: &tool.name,
                description: tool.description.as_deref(),
                parameters: &tool.parameters,
                // Responses makes a tool strict when `strict` is left out,
                // rewriting its schema; other formats' tools are not.
                strict: tool.strict.unwrap_or(false),
            })
            .collect(),
        // Sent only beside tools, as Chat Completions requires; Responses
        // has no use for them without.
        tool_choice: request
            .tool_choice
            .as_ref()
            .filter(|_| has_tools)
            .map(tool_choice),
        parallel_tool_calls: request.parallel_tool_calls.filter(|_| has_tools),
        max_output_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        text: request
            .response_format
            .as_ref()
            .and_then(format)
            .map(|format| TextOut { format }),
        reasoning: reasoning(request, &mut dropped),
        safety_identifier,
        user,
        prompt_cache_key: request.cache_key.as_deref(),
        stream: request.stream,
    };
    for (set, name) in [
        (!request.stop_sequences.is_empty(), "stop_sequences"),
        (request.top_k.is_some(), "top_k"),
        (request.seed.is_some(), "seed"),
        (request.frequency_penalty.is_some(), "frequency_penalty"),
        (request.presence_penalty.is_some(), "presence_penalty"),
    ] {
        if set {
            push_once(&mut dropped, name);
        }
    }
    // Serialising these borrowed structs into a Vec cannot fail.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Encoded { body, dropped }
}

fn reasoning<'a>(
    request: &'a Request,
    dropped: &mut Vec<&'static str>,
) -> Option<ReasoningOut<'a>> {
    let reasoning = request.reasoning.as_ref()?;
    if let Some(effort) = reasoning.effort.as_deref() {
        return Some(ReasoningOut { effort });
    }
    // A token budget has no Responses equivalent; "disabled" and "adaptive"
    // without an effort are what the model does anyway.
    if reasoning.budget_tokens.is_some() && reasoning.mode != ThinkingMode::Disabled {
        push_once(dropped, "thinking");
    }
    None
}

/// The input items: the conversation after the system prompt (which is
/// `instructions`), a mid-conversation instruction as a `developer` message
/// in place.
fn input<'a>(request: &'a Request, dropped: &mut Vec<&'static str>) -> Vec<ItemOut<'a>> {
    let mut items: Vec<ItemOut<'a>> = Vec::with_capacity(request.messages.len());
    for block in request.system_prompt().iter().flat_map(|m| &m.content) {
        if !matches!(block, ContentBlock::Text { .. }) {
            push_once(dropped, block_name(block));
        }
    }
    for message in request.conversation() {
        match message.role {
            Role::Assistant => assistant(message, &mut items, dropped),
            Role::System => {
                for block in &message.content {
                    if !matches!(block, ContentBlock::Text { .. }) {
                        push_once(dropped, block_name(block));
                    }
                }
                if let Some(text) = message.joined_text() {
                    items.push(ItemOut::Message {
                        role: "developer",
                        content: ContentOut::Text(Cow::Owned(text)),
                    });
                }
            }
            _ => user(message, &mut items, dropped),
        }
    }
    items
}

/// The name a block left out of a system message goes by.
fn block_name(block: &ContentBlock) -> &'static str {
    match block {
        ContentBlock::CachePoint(_) => "cache_control",
        _ => "content",
    }
}

/// A user turn: a `function_call_output` per tool result, first, then the
/// rest of the turn as one message.
fn user<'a>(message: &'a Message, items: &mut Vec<ItemOut<'a>>, dropped: &mut Vec<&'static str>) {
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
                items.push(ItemOut::FunctionCallOutput {
                    call_id: tool_use_id,
                    output: tool_output(content),
                });
            }
            ContentBlock::Text { text } => parts.push(PartOut::InputText { text }),
            ContentBlock::Image { source, detail } => parts.push(PartOut::InputImage {
                image_url: url(source),
                // Required by Responses; `auto` is its default.
                detail: Some(detail.as_deref().unwrap_or("auto")),
            }),
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {
                push_once(dropped, "thinking")
            }
            ContentBlock::ToolUse { .. } => push_once(dropped, "tool_use"),
            other => push_once(dropped, block_name(other)),
        }
    }
    if parts.is_empty() && had_results {
        return;
    }
    let content = match parts.as_slice() {
        [PartOut::InputText { text }] => ContentOut::Text(Cow::Borrowed(text)),
        _ => ContentOut::Parts(parts),
    };
    items.push(ItemOut::Message {
        role: "user",
        content,
    });
}

fn url(source: &ImageSource) -> Cow<'_, str> {
    match source {
        ImageSource::Url { url } => Cow::Borrowed(url),
        other => Cow::Owned(other.to_url()),
    }
}

/// A tool result's `output`: one text piece as a string, anything else as
/// parts (no pieces: the empty string).
fn tool_output(content: &[ToolResultContent]) -> OutputOut<'_> {
    match content {
        [] => OutputOut::Text(""),
        [ToolResultContent::Text { text }] => OutputOut::Text(text),
        pieces => OutputOut::Parts(
            pieces
                .iter()
                .filter_map(|piece| match piece {
                    ToolResultContent::Text { text } => Some(PartOut::InputText { text }),
                    ToolResultContent::Image { source } => Some(PartOut::InputImage {
                        image_url: url(source),
                        detail: None,
                    }),
                    _ => None,
                })
                .collect(),
        ),
    }
}

/// An assistant turn, one item per block: each text as an assistant
/// message, each tool call as a `function_call`, thinking from Responses as
/// the `reasoning` item it was.
fn assistant<'a>(
    message: &'a Message,
    items: &mut Vec<ItemOut<'a>>,
    dropped: &mut Vec<&'static str>,
) {
    for block in &message.content {
        match block {
            ContentBlock::Text { text } => items.push(ItemOut::Message {
                role: "assistant",
                content: ContentOut::Text(Cow::Borrowed(text)),
            }),
            ContentBlock::ToolUse {
                id,
                name,
                arguments,
                ..
            } => items.push(ItemOut::FunctionCall {
                call_id: id,
                name,
                // Responses parses the arguments it is sent back.
                arguments: if arguments.is_empty() {
                    "{}"
                } else {
                    arguments
                },
            }),
            ContentBlock::Thinking { text, signature } => {
                // Another vendor's reasoning cannot be sent to OpenAI: it
                // has no item id, and its signature would be rejected.
                match signature.as_deref().and_then(parse_signature) {
                    Some((id, encrypted_content)) => items.push(ItemOut::Reasoning {
                        id,
                        summary: summary(text),
                        encrypted_content,
                    }),
                    None => push_once(dropped, "thinking"),
                }
            }
            ContentBlock::RedactedThinking { .. } => push_once(dropped, "thinking"),
            ContentBlock::Image { .. } => push_once(dropped, "image"),
            ContentBlock::ToolResult { .. } => push_once(dropped, "tool_result"),
            other => push_once(dropped, block_name(other)),
        }
    }
}

fn tool_choice(choice: &ToolChoice) -> ToolChoiceOut<'_> {
    match choice {
        ToolChoice::Required => ToolChoiceOut::Mode("required"),
        ToolChoice::None => ToolChoiceOut::Mode("none"),
        ToolChoice::Tool(name) => ToolChoiceOut::Function {
            kind: "function",
            name,
        },
        _ => ToolChoiceOut::Mode("auto"),
    }
}

fn format(format: &ResponseFormat) -> Option<FormatOut<'_>> {
    match format {
        ResponseFormat::Text => Some(FormatOut::Text),
        ResponseFormat::JsonObject => Some(FormatOut::JsonObject),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
            description,
        } => Some(FormatOut::JsonSchema {
            name,
            description: description.as_deref(),
            schema,
            strict: *strict,
        }),
        _ => None,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    input: Vec<ItemOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<ReasoningOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    safety_identifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ItemOut<'a> {
    Message {
        role: &'static str,
        content: ContentOut<'a>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: OutputOut<'a>,
    },
    Reasoning {
        id: &'a str,
        summary: Vec<SummaryOut<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<&'a str>,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum ContentOut<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutputOut<'a> {
    Text(&'a str),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    InputText {
        text: &'a str,
    },
    InputImage {
        image_url: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<&'a str>,
    },
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a serde_json::Value,
    strict: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ToolChoiceOut<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        name: &'a str,
    },
}

#[derive(Serialize)]
struct TextOut<'a> {
    format: FormatOut<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FormatOut<'a> {
    Text,
    JsonObject,
    JsonSchema {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        schema: &'a serde_json::Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

#[derive(Serialize)]
struct ReasoningOut<'a> {
    effort: &'a str,
}
