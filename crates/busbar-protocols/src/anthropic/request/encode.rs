//! [`Request`] → Anthropic request body.

use busbar_ir::{
    CachePoint, ContentBlock, ImageSource, Message, Request, ResponseFormat, Role, Tool,
    ToolChoice, ToolResultContent,
};
use serde::Serialize;
use serde_json::Value;

use super::reasoning::{encode_reasoning, encode_sampling, OutThinking};
use crate::names::dedup;
use crate::signature::for_upstream;
use crate::{Encoded, Protocol, RequestOptions};

/// Encodes `request` as an Anthropic Messages body for `options.model`.
///
/// * `max_tokens` is the request's, else `options.default_max_tokens`.
/// * Consecutive messages of the same role are merged and tool results are
///   moved to the front of their user turn, as Anthropic requires; empty
///   text blocks (which Anthropic rejects) and messages left empty are
///   skipped.
/// * Tool arguments are parsed into `input`; empty text is `{}`, and invalid
///   or non-object text is `{}` named `tool_use.arguments`.
/// * Reasoning, for Claude 4.6 and later (and models not recognisably
///   earlier, see `crate::claude`): thinking on is `adaptive` with the
///   effort as `output_config.effort`; a budget becomes the nearest effort
///   (≤2048 `low`, ≤8192 `medium`, ≤24576 `high`, else `max`) and
///   `reasoning.budget_tokens` is named.
/// * Reasoning, for earlier Claude: a budget is kept within Anthropic's
///   bounds (at least 1024, below `max_tokens`); without a budget one is
///   derived from the effort —
///   `minimal`/`low` 1024, `medium` (and unknown or no effort) 4096, `high`
///   16384, `xhigh`/`max` 32768 — and `none` turns thinking off. When no
///   budget fits (`max_tokens` ≤ 1024) thinking is left out and `reasoning`
///   named. An effort that did not become a budget is sent as
///   `output_config.effort`.
/// * Anthropic refuses thinking beside a forced tool choice (`any`/`tool`):
///   the tool choice wins and `reasoning` is named. Beside thinking it also
///   refuses `temperature` other than 1, `top_k`, and `top_p` below 0.95:
///   those are left out and named. A `temperature` above Anthropic's
///   maximum of 1 (OpenAI allows 2) is sent as 1 and named.
/// * A thinking block without a signature cannot be sent back: it is left
///   out and `thinking` named.
/// * Dropped and named: `frequency_penalty`, `presence_penalty`, `seed`,
///   `response_format` (JSON object mode), image `detail` (other than
///   `auto`), tool-call signatures (`tool_use.signature`).
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    let mut dropped = Vec::new();
    let max_tokens = request.max_tokens.unwrap_or(options.default_max_tokens);
    let (thinking, effort) = encode_reasoning(request, &options.model, max_tokens, &mut dropped);
    let sampling = encode_sampling(request, thinking.as_ref(), &mut dropped);
    let format = match &request.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(OutFormat {
            kind: "json_schema",
            schema,
        }),
        Some(ResponseFormat::JsonObject) => {
            dropped.push("response_format");
            None
        }
        _ => None,
    };
    let output_config =
        (format.is_some() || effort.is_some()).then_some(OutputConfig { format, effort });
    for (set, name) in [
        (request.frequency_penalty.is_some(), "frequency_penalty"),
        (request.presence_penalty.is_some(), "presence_penalty"),
        (request.seed.is_some(), "seed"),
    ] {
        if set {
            dropped.push(name);
        }
    }
    let body = WireRequest {
        model: &options.model,
        max_tokens,
        system: encode_system(request.system_prompt(), &mut dropped),
        messages: encode_messages(request.conversation(), options.ingress, &mut dropped),
        tools: request.tools.iter().map(encode_tool).collect(),
        tool_choice: encode_tool_choice(request),
        stop_sequences: &request.stop_sequences,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        top_k: sampling.top_k,
        metadata: request.user.as_deref().map(|user_id| Metadata { user_id }),
        thinking,
        output_config,
        stream: request.stream.then_some(true),
    };
    dedup(&mut dropped);
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped,
    }
}

/// A content block as Anthropic writes it, in requests and replies.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(in crate::anthropic) enum OutBlock<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: OutImageSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<OutToolResult<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(in crate::anthropic) enum OutImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

impl<'a> OutImageSource<'a> {
    fn new(source: &'a ImageSource) -> Option<Self> {
        match source {
            ImageSource::Base64 { media_type, data } => Some(Self::Base64 { media_type, data }),
            ImageSource::Url { url } => Some(Self::Url { url }),
            _ => None,
        }
    }
}

/// A tool result's content: a lone text as a string (Anthropic accepts an
/// empty one there, not in a text block), anything else as blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(in crate::anthropic) enum OutToolResult<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

/// The `input` object for a tool call's arguments text.
pub(in crate::anthropic) fn tool_input(arguments: &str, dropped: &mut Vec<&'static str>) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Default::default());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => input,
        _ => {
            dropped.push("tool_use.arguments");
            Value::Object(Default::default())
        }
    }
}

#[derive(Debug, Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<OutSystem<'a>>,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutputConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutSystem<'a> {
    Text(&'a str),
    Blocks(Vec<Marked<'a>>),
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<Marked<'a>>,
}

/// A content block and the cache marker a following cache point puts on it.
#[derive(Debug, Serialize)]
struct Marked<'a> {
    #[serde(flatten)]
    block: OutBlock<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl<'a>>,
}

/// `{"type": "ephemeral", "ttl": …}`: Anthropic's only cache marker kind.
#[derive(Debug, Serialize)]
struct CacheControl<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<&'a str>,
}

impl<'a> CacheControl<'a> {
    fn new(point: &'a CachePoint) -> Self {
        Self {
            kind: "ephemeral",
            ttl: point.ttl.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
struct OutTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl<'a>>,
}

#[derive(Debug, Serialize)]
struct OutToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

#[derive(Debug, Serialize)]
struct OutputConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<OutFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct OutFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: &'a Value,
}

/// The system prompt: one unmarked text as a string, anything else as text
/// blocks with their cache markers (system text takes no other block kind).
fn encode_system<'a>(
    prompt: &'a [Message],
    dropped: &mut Vec<&'static str>,
) -> Option<OutSystem<'a>> {
    let blocks = encode_blocks(prompt.iter().flat_map(|m| &m.content), true, None, dropped);
    match blocks.as_slice() {
        [] => None,
        [Marked {
            block: OutBlock::Text { text },
            cache_control: None,
        }] => Some(OutSystem::Text(text)),
        _ => Some(OutSystem::Blocks(blocks)),
    }
}

/// The conversation after the system prompt. A system message there is
/// sent in place as Anthropic's mid-conversation `system` message.
fn encode_messages<'a>(
    messages: &'a [Message],
    ingress: Option<Protocol>,
    dropped: &mut Vec<&'static str>,
) -> Vec<OutMessage<'a>> {
    let mut out: Vec<OutMessage<'a>> = Vec::with_capacity(messages.len());
    for message in messages {
        let role = match message.role {
            Role::Assistant => "assistant",
            Role::System => "system",
            _ => "user",
        };
        let blocks = encode_blocks(&message.content, role == "system", ingress, dropped);
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(OutMessage {
                role,
                content: blocks,
            }),
        }
        if out.last().is_some_and(|last| last.content.is_empty()) {
            out.pop();
        }
    }
    for message in out.iter_mut().filter(|m| m.role == "user") {
        // A stable sort on "is not a tool result" moves the results to the
        // front and keeps both groups in order.
        message
            .content
            .sort_by_key(|marked| !matches!(marked.block, OutBlock::ToolResult { .. }));
    }
    out
}

/// Blocks with each cache point folded onto the block before it (a cache
/// point with nothing before it is named `cache_control`). `text_only`:
/// system text, where Anthropic takes text blocks alone.
fn encode_blocks<'a>(
    blocks: impl IntoIterator<Item = &'a ContentBlock>,
    text_only: bool,
    ingress: Option<Protocol>,
    dropped: &mut Vec<&'static str>,
) -> Vec<Marked<'a>> {
    let mut out: Vec<Marked<'a>> = Vec::new();
    for block in blocks {
        match block {
            ContentBlock::CachePoint(point) => match out.last_mut() {
                Some(last) => last.cache_control = Some(CacheControl::new(point)),
                None => dropped.push("cache_control"),
            },
            _ if text_only && !matches!(block, ContentBlock::Text { .. }) => {
                dropped.push("content_block");
            }
            _ => {
                if let Some(block) = encode_block(block, ingress, dropped) {
                    out.push(Marked {
                        block,
                        cache_control: None,
                    });
                }
            }
        }
    }
    out
}

fn encode_block<'a>(
    block: &'a ContentBlock,
    ingress: Option<Protocol>,
    dropped: &mut Vec<&'static str>,
) -> Option<OutBlock<'a>> {
    match block {
        ContentBlock::Text { text } if text.is_empty() => None,
        ContentBlock::Text { text } => Some(OutBlock::Text { text }),
        ContentBlock::Image { source, detail } => {
            if detail.as_deref().is_some_and(|d| d != "auto") {
                dropped.push("detail");
            }
            Some(OutBlock::Image {
                source: OutImageSource::new(source)?,
            })
        }
        ContentBlock::ToolUse {
            id,
            name,
            arguments,
            signature,
        } => {
            if signature.is_some() {
                dropped.push("tool_use.signature");
            }
            Some(OutBlock::ToolUse {
                id,
                name,
                input: tool_input(arguments, dropped),
            })
        }
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
            ..
        } => Some(OutBlock::ToolResult {
            tool_use_id,
            content: encode_tool_result(content),
            is_error: *is_error,
        }),
        ContentBlock::Thinking {
            text,
            signature: Some(signature),
        } if !signature.is_empty() => {
            // Another vendor's signature would be refused: the block goes.
            let Some(signature) = for_upstream(signature, Protocol::Anthropic, ingress) else {
                dropped.push("thinking");
                return None;
            };
            Some(OutBlock::Thinking {
                thinking: text,
                signature,
            })
        }
        ContentBlock::Thinking { .. } => {
            dropped.push("thinking");
            None
        }
        ContentBlock::RedactedThinking { data } => Some(OutBlock::RedactedThinking { data }),
        _ => {
            dropped.push("content_block");
            None
        }
    }
}

fn encode_tool_result(content: &[ToolResultContent]) -> Option<OutToolResult<'_>> {
    match content {
        [] => None,
        [ToolResultContent::Text { text }] => Some(OutToolResult::Text(text)),
        parts => Some(OutToolResult::Blocks(
            parts
                .iter()
                .filter_map(|part| match part {
                    ToolResultContent::Text { text } if text.is_empty() => None,
                    ToolResultContent::Text { text } => Some(OutBlock::Text { text }),
                    ToolResultContent::Image { source } => Some(OutBlock::Image {
                        source: OutImageSource::new(source)?,
                    }),
                    _ => None,
                })
                .collect(),
        )),
    }
}

/// Anthropic requires an object schema with `type`; OpenAI lets a function
/// omit its parameters.
fn encode_tool(tool: &Tool) -> OutTool<'_> {
    let input_schema = match &tool.parameters {
        Value::Object(schema) if schema.contains_key("type") => tool.parameters.clone(),
        Value::Object(schema) => {
            let mut schema = schema.clone();
            schema.insert("type".to_owned(), Value::from("object"));
            Value::Object(schema)
        }
        _ => serde_json::json!({"type": "object", "properties": {}}),
    };
    OutTool {
        name: &tool.name,
        description: tool.description.as_deref(),
        input_schema,
        strict: tool.strict,
        cache_control: tool.cache_point.as_ref().map(CacheControl::new),
    }
}

/// Anthropic refuses a `tool_choice` without tools, and carries the
/// parallel-calls switch on the choice (an `auto` one when none was set).
fn encode_tool_choice(request: &Request) -> Option<OutToolChoice<'_>> {
    if request.tools.is_empty() {
        return None;
    }
    let disable_parallel_tool_use = request.parallel_tool_calls.map(|parallel| !parallel);
    let (kind, name) = match &request.tool_choice {
        Some(ToolChoice::None) => {
            return Some(OutToolChoice {
                kind: "none",
                name: None,
                disable_parallel_tool_use: None,
            })
        }
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Tool(name)) => ("tool", Some(name.as_str())),
        Some(_) => ("auto", None),
        None if disable_parallel_tool_use == Some(true) => ("auto", None),
        None => return None,
    };
    Some(OutToolChoice {
        kind,
        name,
        disable_parallel_tool_use,
    })
}
