//! Bedrock Converse as the property tests see it.

use busbar_ir::{ContentBlock, ErrorKind, Request, Response, ResponseFormat, Tool, ToolChoice};
use proptest::prelude::*;
use serde_json::json;

use super::{plain_responses, within_thinking_rules, Format};
use crate::testing;
use crate::{Protocol, ReplyOptions, RequestOptions};

/// Redacted thinking is a blob on the wire: data that is not padded
/// standard base64 goes out base64-encoded.
fn with_blobs(blocks: &mut [ContentBlock]) {
    use base64::Engine as _;
    for block in blocks {
        if let ContentBlock::RedactedThinking { data } = block {
            let body = data.trim_end_matches('=');
            let base64 = data.len() % 4 == 0
                && data.len() - body.len() <= 2
                && body
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
            if !base64 {
                *data = base64::engine::general_purpose::STANDARD.encode(&*data);
            }
        }
    }
}

fn has_tool_blocks(request: &Request) -> bool {
    request
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .any(|block| {
            matches!(
                block,
                ContentBlock::ToolUse { .. } | ContentBlock::ToolResult { .. }
            )
        })
}

/// The request as Converse gives it back, and the names its encoding drops:
/// * the model and streaming come from the route, not the body;
/// * a `none` tool choice withholds the tools, or (beside tool blocks) is
///   left out and named; a conversation with tool calls but no tools gets
///   stand-ins;
/// * a JSON schema format has no strictness; JSON-object mode (named) and
///   plain text are not sent;
/// * redacted thinking is base64.
fn bedrock_request_back(mut request: Request, _: &RequestOptions) -> (Request, Vec<&'static str>) {
    let tool_blocks = has_tool_blocks(&request);
    let mut dropped = Vec::new();
    if request.tool_choice == Some(ToolChoice::None) && !request.tools.is_empty() && tool_blocks {
        dropped.push("tool_choice");
    }
    if request.response_format == Some(ResponseFormat::JsonObject) {
        dropped.push("response_format");
    }
    request.model = String::new();
    for message in &mut request.messages {
        with_blobs(&mut message.content);
    }
    request.stream = false;
    request.stream_usage = false;
    if request.tool_choice == Some(ToolChoice::None) {
        request.tool_choice = None;
        if !tool_blocks {
            request.tools.clear();
        }
    }
    if request.tools.is_empty() && tool_blocks {
        let mut names: Vec<String> = Vec::new();
        for block in request.messages.iter().flat_map(|m| &m.content) {
            if let ContentBlock::ToolUse { name, .. } = block {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        request.tools = names
            .into_iter()
            .map(|name| Tool::new(name, None, json!({"type": "object", "properties": {}})))
            .collect();
    }
    request.response_format = match request.response_format.take() {
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            description,
            ..
        }) => Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict: None,
            description,
        }),
        _ => None,
    };
    (request, dropped)
}

/// The reply as Converse gives it back: no id or model, redacted thinking
/// in base64.
fn bedrock_response_back(mut response: Response) -> Response {
    response.id.clear();
    response.model.clear();
    with_blobs(&mut response.content);
    response
}

pub(in crate::proptests) fn bedrock() -> Format {
    Format {
        protocol: Protocol::Bedrock,
        caps: crate::bedrock::capabilities(),
        model: "anthropic.claude-sonnet-4-5",
        // No blank text (Bedrock refuses it), and the thinking rules.
        request: |caps| {
            testing::request(caps)
                .prop_map(|mut request| {
                    for block in request.messages.iter_mut().flat_map(|m| &mut m.content) {
                        if let ContentBlock::Text { text } = block {
                            if text.trim().is_empty() {
                                text.insert(0, 'x');
                            }
                        }
                    }
                    within_thinking_rules(request)
                })
                .boxed()
        },
        request_back: bedrock_request_back,
        response: plain_responses,
        response_back: bedrock_response_back,
        events_back: Some(|response| bedrock_response_back(response.clone()).to_events()),
        reply_options: || ReplyOptions::new(0),
        // Overloaded is rendered as ServiceUnavailableException, and so
        // reads back as Unavailable.
        error_kinds: &[
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::RequestTooLarge,
            ErrorKind::RateLimit,
            ErrorKind::InsufficientQuota,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
            ErrorKind::BadGateway,
            ErrorKind::Server,
        ],
        error_back: |kind, _, wire| (kind, wire),
        words: "
            modelId messages role content text image format source bytes toolUse
            toolUseId name input toolResult status json reasoningContent reasoningText
            signature redactedContent system inferenceConfig maxTokens temperature topP
            stopSequences toolConfig tools toolSpec inputSchema toolChoice auto any tool
            output stopReason usage inputTokens outputTokens cacheReadInputTokens
            cacheWriteInputTokens cacheDetails ttl 1h 5m contentBlockIndex delta start
            metadata metrics
            latencyMs message messageStart contentBlockStart contentBlockDelta
            contentBlockStop messageStop additionalModelRequestFields guardrailConfig
            end_turn tool_use max_tokens user assistant success error png
        ",
    }
}
