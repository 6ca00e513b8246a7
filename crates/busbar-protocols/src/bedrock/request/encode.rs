//! [`Request`] → Converse request body.

use busbar_ir::{ContentBlock, ImageSource, Message, Request, ResponseFormat, Role};
use serde::Serialize;

use super::names::fit_tool_use_id;
use super::reasoning::{self, NovaReasoning, OutThinking};
use super::tools::{encode_tool_config, fitted_name, ToolConfig};
use crate::bedrock::content::{
    blob, tool_input, OutBlock, OutCachePoint, OutImage, OutReasoning, OutResultPart,
    OutToolResult, OutToolUse,
};
use crate::fold::fold_instructions;
use crate::names::dedup;
use crate::signature::for_upstream;
use crate::{Encoded, Protocol, RequestOptions};

/// Encodes `request` as a Converse body. The model goes in the URL, so
/// `options.model` is not written.
///
/// * Consecutive messages of the same role are merged and tool results are
///   moved to the front of their user turn; blank text blocks and system
///   parts, which Bedrock refuses, are skipped, as are messages left empty.
/// * Tool names and tool-use ids Bedrock refuses are rewritten
///   deterministically (a hash of the original keeps them apart and makes a
///   call and its result still match); a rewritten tool name is named
///   `tool_name`.
/// * Tool arguments are parsed into `input`: empty text is `{}`, and invalid
///   or non-object text is `{}` named `tool_use.arguments`.
/// * Tool choice: `auto`, `any` (required) and `tool`; Bedrock has no
///   "none", so a `none` choice withholds the tools — unless the
///   conversation holds tool calls or results, which Bedrock accepts only
///   beside a `toolConfig`: then the tools are sent with no choice and
///   `tool_choice` named. For the same reason, a conversation with tool
///   calls but no tools gets a stand-in tool (empty object schema) per
///   tool name it uses; stand-ins are never forced, and a forced choice
///   beside no tools is named `tool_choice`.
/// * Only inline images of Bedrock's four formats (png, jpeg, gif, webp) can
///   be sent: image URLs are dropped and named `image_url`, other formats
///   `image`; an image `detail` other than `auto` is named `detail`.
/// * A thinking block without a signature cannot be sent back to Claude:
///   it is left out and `thinking` named. Redacted thinking that is not
///   base64 (another vendor's opaque data) is sent base64-encoded, since
///   Bedrock decodes it. Tool-call signatures are named `tool_use.signature`.
/// * `top_k` and reasoning go in `additionalModelRequestFields`, as
///   Claude's `top_k` and `thinking`. An effort level without a budget
///   becomes one (`low` 1024, `medium` 4096, `high` 16384); with thinking on
///   and no `max_tokens`, `maxTokens` is the budget plus
///   `options.default_max_tokens`; the budget is kept in `1024..maxTokens`.
///   When no budget fits, or beside a forced tool choice, thinking is left
///   out and `reasoning` named. Beside thinking, Claude's sampling limits
///   apply: a temperature other than 1, `top_k`, and `top_p` below 0.95 are
///   left out and named. A `temperature` above Bedrock's maximum of 1 is
///   sent as 1 and named.
/// * A JSON schema reply format goes in `outputConfig.textFormat` (the
///   schema as JSON text); JSON-object mode is named `response_format`.
/// * Dropped and named: `frequency_penalty`, `presence_penalty`, `seed`,
///   `user`, `parallel_tool_calls` (when false).
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    let mut dropped = Vec::new();
    let reasoning = reasoning::encode(
        request,
        &options.model,
        options.default_max_tokens,
        &mut dropped,
    );
    let sampling = reasoning::sampling(request, reasoning.thinking, &mut dropped);
    // No mid-conversation system role: an instruction is folded into the
    // user turn at its position (see `crate::fold`).
    let conversation = fold_instructions(request.conversation(), &mut dropped);
    let messages = encode_messages(&conversation, options.ingress, &mut dropped);
    let tool_config = encode_tool_config(request, &mut dropped);
    let stop_sequences: Vec<&str> = request
        .stop_sequences
        .iter()
        .map(String::as_str)
        .filter(|stop| !stop.is_empty())
        .collect();
    let inference_config = InferenceConfig {
        max_tokens: reasoning.max_tokens,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        stop_sequences,
    };
    let additional = Additional {
        top_k: sampling.top_k,
        thinking: reasoning.thinking,
        reasoning_effort: reasoning.reasoning_effort,
        reasoning_config: reasoning.reasoning_config,
    };
    let text_format = match &request.response_format {
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            description,
            ..
        }) => Some(TextFormat {
            kind: "json_schema",
            structure: Structure {
                json_schema: JsonSchema {
                    schema: schema.to_string(),
                    name: Some(name.as_str()).filter(|name| !name.is_empty()),
                    description: description.as_deref(),
                },
            },
        }),
        Some(ResponseFormat::JsonObject) => {
            dropped.push("response_format");
            None
        }
        _ => None,
    };
    for (set, name) in [
        (request.frequency_penalty.is_some(), "frequency_penalty"),
        (request.presence_penalty.is_some(), "presence_penalty"),
        (request.seed.is_some(), "seed"),
        (request.user.is_some(), "user"),
        (
            request.parallel_tool_calls == Some(false),
            "parallel_tool_calls",
        ),
    ] {
        if set {
            dropped.push(name);
        }
    }
    let body = WireRequest {
        messages,
        system: encode_system(request.system_prompt(), &mut dropped),
        inference_config: (!inference_config.is_empty()).then_some(inference_config),
        tool_config,
        additional_model_request_fields: (additional.top_k.is_some()
            || additional.thinking.is_some()
            || additional.reasoning_effort.is_some()
            || additional.reasoning_config.is_some())
        .then_some(additional),
        output_config: (text_format.is_some() || reasoning.effort.is_some()).then_some(
            OutputConfig {
                text_format,
                effort: reasoning.effort,
            },
        ),
    };
    dedup(&mut dropped);
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped,
    }
}

fn encode_messages<'a>(
    messages: &'a [Message],
    ingress: Option<Protocol>,
    dropped: &mut Vec<&'static str>,
) -> Vec<OutMessage<'a>> {
    let mut out: Vec<OutMessage<'a>> = Vec::with_capacity(messages.len());
    for message in messages {
        let role = match message.role {
            Role::Assistant => "assistant",
            _ => "user",
        };
        let blocks = message
            .content
            .iter()
            .filter_map(|block| encode_block(block, ingress, dropped));
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(OutMessage {
                role,
                content: blocks.collect(),
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
            .sort_by_key(|block| !matches!(block, OutBlock::ToolResult(_)));
    }
    out
}

fn encode_block<'a>(
    block: &'a ContentBlock,
    ingress: Option<Protocol>,
    dropped: &mut Vec<&'static str>,
) -> Option<OutBlock<'a>> {
    match block {
        ContentBlock::Text { text } if text.trim().is_empty() => None,
        ContentBlock::Text { text } => Some(OutBlock::Text(text)),
        ContentBlock::Image { source, detail } => {
            if detail.as_deref().is_some_and(|d| d != "auto") {
                dropped.push("detail");
            }
            let image = encode_image(source, dropped)?;
            Some(OutBlock::Image(image))
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
            Some(OutBlock::ToolUse(OutToolUse {
                tool_use_id: fit_tool_use_id(id),
                name: fitted_name(name, dropped),
                input: tool_input(arguments, dropped),
            }))
        }
        ContentBlock::ToolResult {
            tool_use_id: id,
            content,
            is_error,
            ..
        } => Some(OutBlock::ToolResult(OutToolResult {
            tool_use_id: fit_tool_use_id(id),
            content: content
                .iter()
                .filter_map(|part| match part {
                    busbar_ir::ToolResultContent::Text { text } => Some(OutResultPart::Text(text)),
                    busbar_ir::ToolResultContent::Image { source } => {
                        encode_image(source, dropped).map(OutResultPart::Image)
                    }
                    _ => {
                        dropped.push("tool_result.content");
                        None
                    }
                })
                .collect(),
            // Only some models take `status`, so success is left implicit.
            status: is_error.then_some("error"),
        })),
        ContentBlock::Thinking {
            text,
            signature: Some(signature),
        } if !signature.is_empty() => {
            // Another vendor's signature would be refused: the block goes.
            let Some(signature) = for_upstream(signature, Protocol::Bedrock, ingress) else {
                dropped.push("thinking");
                return None;
            };
            Some(OutBlock::ReasoningContent(OutReasoning::ReasoningText {
                text,
                signature: Some(signature),
            }))
        }
        ContentBlock::Thinking { .. } => {
            dropped.push("thinking");
            None
        }
        ContentBlock::RedactedThinking { data } => Some(OutBlock::ReasoningContent(
            OutReasoning::RedactedContent(blob(data)),
        )),
        ContentBlock::CachePoint(point) => Some(OutBlock::CachePoint(OutCachePoint::new(point))),
        _ => {
            dropped.push("content_block");
            None
        }
    }
}

fn encode_image<'a>(
    source: &'a ImageSource,
    dropped: &mut Vec<&'static str>,
) -> Option<OutImage<'a>> {
    let image = OutImage::new(source);
    if image.is_none() {
        dropped.push(match source {
            ImageSource::Base64 { .. } => "image",
            _ => "image_url",
        });
    }
    image
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<OutSystem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inference_config: Option<InferenceConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_model_request_fields: Option<Additional>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutputConfig<'a>>,
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum OutSystem<'a> {
    Text(&'a str),
    CachePoint(OutCachePoint<'a>),
}

/// The system prompt's text and cache points (blank text left out).
fn encode_system<'a>(prompt: &'a [Message], dropped: &mut Vec<&'static str>) -> Vec<OutSystem<'a>> {
    let mut out = Vec::new();
    for block in prompt.iter().flat_map(|m| &m.content) {
        match block {
            ContentBlock::Text { text } if text.trim().is_empty() => {}
            ContentBlock::Text { text } => out.push(OutSystem::Text(text)),
            ContentBlock::CachePoint(point) if !out.is_empty() => {
                out.push(OutSystem::CachePoint(OutCachePoint::new(point)))
            }
            ContentBlock::CachePoint(_) => dropped.push("cache_control"),
            _ => dropped.push("content_block"),
        }
    }
    out
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
}

impl InferenceConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

/// The members of `additionalModelRequestFields` Busbar writes, in Claude's
/// spelling.
#[derive(Debug, Serialize)]
struct Additional {
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(rename = "reasoningConfig", skip_serializing_if = "Option::is_none")]
    reasoning_config: Option<NovaReasoning>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text_format: Option<TextFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct TextFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    structure: Structure<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Structure<'a> {
    json_schema: JsonSchema<'a>,
}

#[derive(Debug, Serialize)]
struct JsonSchema<'a> {
    /// Bedrock takes the schema as JSON text, not as an object.
    schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}
