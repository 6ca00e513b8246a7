//! [`Request`] → Cohere Chat v2 request body.

use busbar_ir::{
    ContentBlock, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    ToolResultContent,
};
use serde::Serialize;
use serde_json::Value;

use super::tools::{encode_tool, encode_tools, strict_tools, OutTool, OutToolCall};
use crate::names::dedup;
use crate::{Encoded, RequestOptions};

/// The most stop sequences Cohere accepts.
const MAX_STOP_SEQUENCES: usize = 5;
/// The largest `k` Cohere accepts.
const MAX_TOP_K: u64 = 500;

/// Encodes `request` as a Cohere Chat v2 body for `options.model`.
///
/// * The system parts form one `system` message first (a string for one
///   part, text items for several). A user turn's tool results become `tool`
///   messages, one per result, before a `user` message with the rest.
/// * An assistant turn holding tool calls writes its text as `tool_plan`
///   (several text blocks joined by a blank line), its thinking as
///   `thinking` content and its calls as `tool_calls` (empty arguments as
///   `{}`); without tool calls, text and thinking are its `content`.
/// * `tool_choice`: auto is Cohere's default and is not sent; required and
///   none are `REQUIRED` and `NONE`. Cohere cannot force one named tool, so
///   a named tool is sent as `REQUIRED` with `tools` narrowed to that tool,
///   which leaves the model exactly one choice; when no tool has the name,
///   all tools are kept and `tool_choice` is named. No `tool_choice` is sent
///   without tools.
/// * `strict_tools` is set when some tool is strict (`strict` is named when
///   only some are), and `false` when tools say `false` and none `true`.
/// * Cohere's ranges are enforced, naming the field when a value moves:
///   `temperature` and the penalties to `0..=1`, `top_p` (sent as `p`) to
///   `0.01..=0.99`, `top_k` (sent as `k`) to at most 500; a negative `seed`
///   is left out; only the first 5 `stop_sequences` are sent.
/// * Reasoning is `thinking` (`enabled` with the budget as `token_budget`,
///   or `disabled`); adaptive thinking is `enabled` without a budget; an
///   effort level of `none` disables thinking and any other is named
///   `reasoning.effort` (Cohere takes budgets only).
/// * A JSON schema format is `{type: json_object, json_schema}`; its name,
///   strictness and description have no place and are left out.
/// * Dropped and named: `user`, `parallel_tool_calls` (when off),
///   `thinking.signature`, `redacted_thinking`, `tool_use.signature`,
///   `tool_result.image`, `tool_result.is_error`, images in assistant turns
///   (`image`), and blocks in a turn of the wrong role (`content_block`).
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    let mut dropped = Vec::new();
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    let prompt = request.system_prompt().iter().flat_map(|m| &m.content);
    if let Some(system) = encode_system(prompt, &mut dropped) {
        messages.push(system);
    }
    for message in request.conversation() {
        encode_message(message, &mut messages, &mut dropped);
    }
    let (tools, tool_choice) = encode_tools(request, &mut dropped);
    let strict_tools = strict_tools(&tools, &mut dropped);
    if request.user.is_some() {
        dropped.push("user");
    }
    if request.parallel_tool_calls == Some(false) && !request.tools.is_empty() {
        dropped.push("parallel_tool_calls");
    }
    let stop_sequences = match request.stop_sequences.get(..MAX_STOP_SEQUENCES) {
        Some(first) if request.stop_sequences.len() > MAX_STOP_SEQUENCES => {
            dropped.push("stop_sequences");
            first
        }
        _ => &request.stop_sequences[..],
    };
    let body = WireRequest {
        model: &options.model,
        messages,
        tools: tools.iter().copied().map(encode_tool).collect(),
        strict_tools,
        tool_choice,
        response_format: request.response_format.as_ref().map(encode_format),
        max_tokens: request.max_tokens,
        stop_sequences,
        temperature: clamp(request.temperature, 0.0, 1.0, "temperature", &mut dropped),
        seed: match request.seed {
            Some(seed) if seed < 0 => {
                dropped.push("seed");
                None
            }
            seed => seed,
        },
        frequency_penalty: clamp(
            request.frequency_penalty,
            0.0,
            1.0,
            "frequency_penalty",
            &mut dropped,
        ),
        presence_penalty: clamp(
            request.presence_penalty,
            0.0,
            1.0,
            "presence_penalty",
            &mut dropped,
        ),
        k: request.top_k.map(|k| {
            if k > MAX_TOP_K {
                dropped.push("top_k");
            }
            k.min(MAX_TOP_K)
        }),
        p: clamp(request.top_p, 0.01, 0.99, "top_p", &mut dropped),
        thinking: request
            .reasoning
            .as_ref()
            .map(|reasoning| encode_reasoning(reasoning, &mut dropped)),
        stream: request.stream.then_some(true),
    };
    dedup(&mut dropped);
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped,
    }
}

#[derive(Debug, Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict_tools: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<OutFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum OutMessage<'a> {
    System {
        content: OutContent<'a>,
    },
    User {
        content: OutContent<'a>,
    },
    Assistant {
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<OutContent<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool_plan: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<OutToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: OutContent<'a>,
    },
}

/// A message's content: a lone text as a string, anything else as items.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutContent<'a> {
    Text(&'a str),
    Items(Vec<OutItem<'a>>),
}

impl<'a> OutContent<'a> {
    fn new(items: Vec<OutItem<'a>>) -> Self {
        match items.as_slice() {
            [OutItem::Text { text }] => Self::Text(text),
            _ => Self::Items(items),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutItem<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl<'a> },
    Thinking { thinking: &'a str },
}

#[derive(Debug, Serialize)]
struct OutImageUrl<'a> {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct OutFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    json_schema: Option<&'a Value>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutThinking {
    Enabled {
        #[serde(skip_serializing_if = "Option::is_none")]
        token_budget: Option<u64>,
    },
    Disabled,
}

/// One part as a string, several as text items; empty parts are left out.
/// A system message of the given blocks' text (cache points and other
/// blocks are named), or `None` when they hold no text.
fn encode_system<'a>(
    blocks: impl IntoIterator<Item = &'a ContentBlock>,
    dropped: &mut Vec<&'static str>,
) -> Option<OutMessage<'a>> {
    let mut items = Vec::new();
    for block in blocks {
        match block {
            ContentBlock::Text { text } if text.is_empty() => {}
            ContentBlock::Text { text } => items.push(OutItem::Text { text }),
            ContentBlock::CachePoint(_) => dropped.push("cache_control"),
            _ => dropped.push("content_block"),
        }
    }
    (!items.is_empty()).then(|| OutMessage::System {
        content: OutContent::new(items),
    })
}

fn encode_message<'a>(
    message: &'a Message,
    out: &mut Vec<OutMessage<'a>>,
    dropped: &mut Vec<&'static str>,
) {
    match message.role {
        Role::Assistant => {
            if let Some(message) = encode_assistant(&message.content, dropped) {
                out.push(message);
            }
        }
        // A mid-conversation instruction: a system message in place.
        Role::System => out.extend(encode_system(&message.content, dropped)),
        _ => encode_user(&message.content, out, dropped),
    }
}

/// Tool results as `tool` messages, then the rest as one `user` message.
fn encode_user<'a>(
    blocks: &'a [ContentBlock],
    out: &mut Vec<OutMessage<'a>>,
    dropped: &mut Vec<&'static str>,
) {
    let mut items = Vec::with_capacity(blocks.len());
    for block in blocks {
        match block {
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
                ..
            } => {
                if *is_error {
                    dropped.push("tool_result.is_error");
                }
                out.push(OutMessage::Tool {
                    tool_call_id: tool_use_id,
                    content: encode_tool_result(content, dropped),
                });
            }
            ContentBlock::Text { text } if text.is_empty() => {}
            ContentBlock::Text { text } => items.push(OutItem::Text { text }),
            ContentBlock::Image { source, detail } => items.push(OutItem::ImageUrl {
                image_url: OutImageUrl {
                    url: source.to_url(),
                    detail: detail.as_deref(),
                },
            }),
            _ => dropped.push("content_block"),
        }
    }
    if !items.is_empty() {
        out.push(OutMessage::User {
            content: OutContent::new(items),
        });
    }
}

/// One text piece as a string (empty when there is none), several as text
/// items. Cohere tool results hold no images.
fn encode_tool_result<'a>(
    content: &'a [ToolResultContent],
    dropped: &mut Vec<&'static str>,
) -> OutContent<'a> {
    let mut items = Vec::with_capacity(content.len());
    for piece in content {
        match piece {
            ToolResultContent::Text { text } => items.push(OutItem::Text { text }),
            _ => dropped.push("tool_result.image"),
        }
    }
    match items.as_slice() {
        [] => OutContent::Text(""),
        _ => OutContent::new(items),
    }
}

/// The assistant turn, or `None` when nothing Cohere can hold is left.
fn encode_assistant<'a>(
    blocks: &'a [ContentBlock],
    dropped: &mut Vec<&'static str>,
) -> Option<OutMessage<'a>> {
    let has_calls = blocks
        .iter()
        .any(|block| matches!(block, ContentBlock::ToolUse { .. }));
    let mut items = Vec::new();
    let mut plan: Vec<&str> = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block {
            ContentBlock::Text { text } if text.is_empty() => {}
            ContentBlock::Text { text } if has_calls => plan.push(text),
            ContentBlock::Text { text } => items.push(OutItem::Text { text }),
            ContentBlock::Thinking { text, signature } => {
                if signature.is_some() {
                    dropped.push("thinking.signature");
                }
                items.push(OutItem::Thinking { thinking: text });
            }
            ContentBlock::RedactedThinking { .. } => dropped.push("redacted_thinking"),
            ContentBlock::ToolUse {
                id,
                name,
                arguments,
                signature,
            } => {
                if signature.is_some() {
                    dropped.push("tool_use.signature");
                }
                tool_calls.push(OutToolCall::new(id, name, arguments));
            }
            ContentBlock::Image { .. } => dropped.push("image"),
            _ => dropped.push("content_block"),
        }
    }
    if items.is_empty() && plan.is_empty() && tool_calls.is_empty() {
        return None;
    }
    Some(OutMessage::Assistant {
        content: (!items.is_empty()).then(|| OutContent::new(items)),
        tool_plan: (!plan.is_empty()).then(|| plan.join("\n\n")),
        tool_calls,
    })
}

fn encode_format(format: &ResponseFormat) -> OutFormat<'_> {
    match format {
        ResponseFormat::JsonObject => OutFormat {
            kind: "json_object",
            json_schema: None,
        },
        ResponseFormat::JsonSchema { schema, .. } => OutFormat {
            kind: "json_object",
            json_schema: Some(schema),
        },
        _ => OutFormat {
            kind: "text",
            json_schema: None,
        },
    }
}

fn encode_reasoning(reasoning: &Reasoning, dropped: &mut Vec<&'static str>) -> OutThinking {
    let effort = reasoning.effort.as_deref();
    if reasoning.mode == ThinkingMode::Disabled
        || (effort == Some("none") && reasoning.budget_tokens.is_none())
    {
        return OutThinking::Disabled;
    }
    if effort.is_some_and(|effort| effort != "none") {
        dropped.push("reasoning.effort");
    }
    OutThinking::Enabled {
        token_budget: reasoning.budget_tokens,
    }
}

/// `value` moved into `lo..=hi`, naming `name` when it moved.
fn clamp(
    value: Option<f64>,
    lo: f64,
    hi: f64,
    name: &'static str,
    dropped: &mut Vec<&'static str>,
) -> Option<f64> {
    let value = value?;
    let clamped = value.clamp(lo, hi);
    if clamped != value {
        dropped.push(name);
    }
    // NaN cannot be written as JSON; leave it to Cohere's default.
    (!clamped.is_nan()).then_some(clamped)
}
