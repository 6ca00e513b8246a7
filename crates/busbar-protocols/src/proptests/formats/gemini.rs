//! Gemini as the property tests see it.

use std::collections::HashMap;

use busbar_ir::{ContentBlock, ErrorKind, Request, Role, StopReason, ToolResultContent};
use proptest::prelude::*;
use serde_json::Value;

use super::{schema_only, tool_use_stop, Format};
use crate::testing::{self, Capabilities, Count};
use crate::{Protocol, ReplyOptions, RequestOptions};

/// What Gemini `generateContent` can say.
fn gemini_caps() -> Capabilities {
    Capabilities {
        system_parts: true,
        thinking: true,
        redacted_thinking: false,
        interleaved_blocks: true,
        image_urls: true,
        image_detail: false,
        rich_tool_results: false,
        tool_result_errors: true,
        tool_strict: false,
        top_k: true,
        seed: true,
        penalties: true,
        user: false,
        parallel_tool_calls: false,
        response_format: true,
        reasoning_effort: true,
        reasoning_budget: true,
        stop_reasons: &[
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::ToolUse,
            StopReason::ContentFilter,
        ],
        stop_sequence: false,
        created: false,
        cache_read: Count::Maybe,
        cache_write: Count::Never,
        cache_write_1h: Count::Never,
        reasoning_tokens: Count::Maybe,
    }
}

/// A signature as Gemini's: base64 (the shared strategy's may have a
/// length no base64 text has).
fn base64ish(signature: &str) -> String {
    signature[..signature.len() / 4 * 4].to_owned()
}

/// Blocks within Gemini's reach: base64 thinking signatures, and tool calls
/// signed or not as `signatures` says.
fn gemini_blocks(
    blocks: &mut [ContentBlock],
    signatures: &mut impl Iterator<Item = Option<String>>,
) {
    for block in blocks {
        match block {
            ContentBlock::Thinking {
                signature: Some(signature),
                ..
            } => *signature = base64ish(signature),
            ContentBlock::ToolUse { signature, .. } => {
                *signature = signatures.next().flatten().map(|s| base64ish(&s))
            }
            _ => {}
        }
    }
}

fn signatures() -> impl Strategy<Value = Vec<Option<String>>> {
    proptest::collection::vec(proptest::option::of("[A-Za-z0-9+/]{8,32}"), 12)
}

/// Adjacent text parts are one text block to Gemini.
fn merge_texts(blocks: Vec<ContentBlock>) -> Vec<ContentBlock> {
    let mut out: Vec<ContentBlock> = Vec::with_capacity(blocks.len());
    for block in blocks {
        match (out.last_mut(), block) {
            (Some(ContentBlock::Text { text }), ContentBlock::Text { text: more }) => {
                text.push_str(&more)
            }
            (_, block) => out.push(block),
        }
    }
    out
}

/// A tool result's text as it reads back: a JSON object in compact form.
fn compact(text: String) -> String {
    match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object.to_string(),
        _ => text,
    }
}

/// The request as Gemini gives it back, and the names its encoding drops:
/// * the model and the stream switches are the URL's;
/// * a JSON schema format has no name, strictness or description;
/// * adjacent text blocks are one;
/// * a tool result carries the name of its call (`unknown`, named
///   `tool_result.name`, when the conversation has no such call), and JSON
///   object text reads back compact.
fn gemini_request_back(mut request: Request, _: &RequestOptions) -> (Request, Vec<&'static str>) {
    request.model = String::new();
    request.stream = false;
    request.stream_usage = false;
    request.response_format = schema_only(request.response_format.take(), true);
    let names: HashMap<String, String> = request
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .filter_map(|block| match block {
            ContentBlock::ToolUse { id, name, .. } => Some((id.clone(), name.clone())),
            _ => None,
        })
        .collect();
    let mut dropped = Vec::new();
    for message in &mut request.messages {
        let content = std::mem::take(&mut message.content);
        message.content = match message.role {
            Role::Assistant => merge_texts(content),
            _ => content
                .into_iter()
                .map(|block| match block {
                    ContentBlock::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                        ..
                    } => {
                        let name = names.get(&tool_use_id).cloned().unwrap_or_else(|| {
                            dropped.push("tool_result.name");
                            "unknown".to_owned()
                        });
                        ContentBlock::ToolResult {
                            tool_use_id,
                            name: Some(name),
                            content: content
                                .into_iter()
                                .map(|piece| match piece {
                                    ToolResultContent::Text { text } => {
                                        ToolResultContent::text(compact(text))
                                    }
                                    other => other,
                                })
                                .collect(),
                            is_error,
                        }
                    }
                    other => other,
                })
                .collect(),
        };
    }
    dropped.dedup();
    (request, dropped)
}

/// The kind a Gemini client reads back: Google's statuses merge some.
fn gemini_kind(kind: ErrorKind) -> ErrorKind {
    match kind {
        ErrorKind::RequestTooLarge | ErrorKind::ContextLength => ErrorKind::InvalidRequest,
        ErrorKind::InsufficientQuota => ErrorKind::RateLimit,
        ErrorKind::Overloaded | ErrorKind::BadGateway => ErrorKind::Unavailable,
        kind => kind,
    }
}

pub(in crate::proptests) fn gemini() -> Format {
    Format {
        protocol: Protocol::Gemini,
        caps: gemini_caps(),
        model: "gemini-3-flash-preview",
        request: |caps| {
            (testing::request(caps), signatures())
                .prop_map(|(mut request, signatures)| {
                    let mut signatures = signatures.into_iter().cycle();
                    for message in &mut request.messages {
                        gemini_blocks(&mut message.content, &mut signatures);
                    }
                    // Gemini's seed is 32 bits; the encoder's handling of
                    // larger ones has its own test.
                    request.seed = request.seed.map(|seed| i64::from(seed as i32));
                    request
                })
                .boxed()
        },
        request_back: gemini_request_back,
        response: |caps| {
            (testing::response(caps), signatures())
                .prop_map(|(mut response, signatures)| {
                    gemini_blocks(&mut response.content, &mut signatures.into_iter().cycle());
                    response
                })
                .boxed()
        },
        // Adjacent text blocks are one, and a finished turn is a tool-use
        // stop exactly when it holds a call.
        response_back: |mut response| {
            response.content = merge_texts(std::mem::take(&mut response.content));
            tool_use_stop(response)
        },
        events_back: None,
        reply_options: || ReplyOptions::new(0),
        error_kinds: &[
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::RequestTooLarge,
            ErrorKind::ContextLength,
            ErrorKind::RateLimit,
            ErrorKind::InsufficientQuota,
            ErrorKind::Overloaded,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
            ErrorKind::BadGateway,
            ErrorKind::Server,
        ],
        error_back: |kind, _, wire| (gemini_kind(kind), wire),
        words: "
            contents role parts text thought thoughtSignature functionCall
            functionResponse name args id response inlineData mimeType data fileData
            fileUri candidates content finishReason usageMetadata promptTokenCount
            candidatesTokenCount thoughtsTokenCount cachedContentTokenCount
            generationConfig thinkingConfig thinkingBudget thinkingLevel includeThoughts
            tools functionDeclarations parameters toolConfig functionCallingConfig mode
            allowedFunctionNames systemInstruction responseMimeType responseSchema
            responseJsonSchema promptFeedback blockReason error code message status
            modelVersion responseId user model STOP MAX_TOKENS SAFETY AUTO ANY NONE
            image/png
        ",
    }
}
