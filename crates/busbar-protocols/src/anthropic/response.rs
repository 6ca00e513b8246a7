//! Anthropic replies (`{"type":"message",…}`) ⇄ [`Response`].
//!
//! Decoding keeps text, tool use, thinking and redacted thinking blocks and
//! skips server-tool blocks (web search results and the like), which the IR
//! does not hold. Encoding writes what the SDK's `Message` type requires; the
//! IR id is kept as is, whatever vendor minted it.

use busbar_ir::{ContentBlock, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{tool_input, OutBlock};
use super::{stop_reason_from_wire, stop_reason_to_wire, WireUsage};
use crate::{DecodeError, Encoded};

/// Decodes an Anthropic Messages reply body.
pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
    let wire: WireResponse = serde_json::from_slice(body)?;
    let mut content = Vec::with_capacity(wire.content.len());
    for block in wire.content {
        content.push(match block {
            WireBlock::Text { text } => ContentBlock::Text { text },
            WireBlock::ToolUse { id, name, input } => {
                ContentBlock::tool_use(id, name, input_text(input.as_ref())?)
            }
            WireBlock::Thinking {
                thinking,
                signature,
            } => ContentBlock::thinking(thinking, signature.filter(|s| !s.is_empty())),
            WireBlock::RedactedThinking { data } => ContentBlock::RedactedThinking { data },
            WireBlock::Other => continue,
        });
    }
    let mut response = Response::new(wire.id, wire.model, content);
    response.stop_reason = wire.stop_reason.as_deref().map(stop_reason_from_wire);
    response.stop_sequence = wire.stop_sequence;
    response.usage = wire.usage.to_ir();
    Ok(response)
}

/// Encodes `response` as an Anthropic Messages reply body.
///
/// Content Anthropic replies cannot hold (images, tool results) is dropped
/// and named, as are tool-call signatures; tool arguments that are not a JSON
/// object become `{}` (named `tool_use.arguments`). A thinking block without
/// a signature gets an empty one, since the SDK requires the field.
pub fn encode(response: &Response) -> Encoded {
    let mut dropped = Vec::new();
    let content = response
        .content
        .iter()
        .filter_map(|block| encode_block(block, &mut dropped))
        .collect();
    let body = WireOut {
        id: &response.id,
        kind: "message",
        role: "assistant",
        model: &response.model,
        content,
        stop_reason: response.stop_reason.as_ref().map(stop_reason_to_wire),
        stop_sequence: response.stop_sequence.as_deref(),
        usage: WireUsage::from_ir(&response.usage),
    };
    let mut seen = Vec::new();
    dropped.retain(|name| {
        let new = !seen.contains(name);
        seen.push(*name);
        new
    });
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped,
    }
}

/// Tool `input` as the IR's arguments text: compact JSON, `{}` when absent.
pub(super) fn input_text(input: Option<&Value>) -> Result<String, DecodeError> {
    match input {
        Some(input) if !input.is_null() => Ok(serde_json::to_string(input)?),
        _ => Ok("{}".to_owned()),
    }
}

fn encode_block<'a>(
    block: &'a ContentBlock,
    dropped: &mut Vec<&'static str>,
) -> Option<OutBlock<'a>> {
    Some(match block {
        ContentBlock::Text { text } => OutBlock::Text { text },
        ContentBlock::ToolUse {
            id,
            name,
            arguments,
            signature,
        } => {
            if signature.is_some() {
                dropped.push("tool_use.signature");
            }
            OutBlock::ToolUse {
                id,
                name,
                input: tool_input(arguments, dropped),
            }
        }
        ContentBlock::Thinking { text, signature } => OutBlock::Thinking {
            thinking: text,
            signature: signature.as_deref().unwrap_or(""),
        },
        ContentBlock::RedactedThinking { data } => OutBlock::RedactedThinking { data },
        ContentBlock::Image { .. } => {
            dropped.push("image");
            return None;
        }
        ContentBlock::ToolResult { .. } => {
            dropped.push("tool_result");
            return None;
        }
        _ => {
            dropped.push("content_block");
            return None;
        }
    })
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    /// Server tool use and results, container uploads, and blocks newer
    /// than this code.
    #[serde(other)]
    Other,
}

#[derive(Debug, Serialize)]
struct WireOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: WireUsage,
}

#[cfg(test)]
mod tests {
    use super::*;
    use busbar_ir::{StopReason, Usage};

    #[test]
    fn a_reply_with_every_block_kind_decodes() {
        let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
            "content":[
              {"type":"thinking","thinking":"Let me see.","signature":"EqQBCgIYAh"},
              {"type":"redacted_thinking","data":"EmwKAhgB"},
              {"type":"text","text":"Checking.","citations":null},
              {"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"x"}},
              {"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]},
              {"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city": "Paris", "days": 2}}
            ],
            "stop_reason":"tool_use","stop_sequence":null,
            "usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":50,"output_tokens":40}}"#;
        let response = decode(body).unwrap();
        assert_eq!(response.id, "msg_01");
        assert_eq!(response.model, "claude-sonnet-4-5");
        assert_eq!(
            response.content,
            vec![
                ContentBlock::thinking("Let me see.", Some("EqQBCgIYAh".into())),
                ContentBlock::RedactedThinking {
                    data: "EmwKAhgB".into()
                },
                ContentBlock::text("Checking."),
                ContentBlock::tool_use("toolu_01", "get_weather", r#"{"city":"Paris","days":2}"#),
            ]
        );
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(response.usage.input_tokens, 162);
        assert_eq!(response.usage.cache_write_tokens, Some(100));
        assert_eq!(response.usage.cache_read_tokens, Some(50));
    }

    #[test]
    fn encoding_writes_the_fields_the_sdk_requires() {
        let mut response = Response::new(
            "chatcmpl-abc",
            "gpt-4o",
            vec![
                ContentBlock::thinking("hmm", None),
                ContentBlock::text("Hi"),
                ContentBlock::tool_use("call_1", "f", ""),
            ],
        );
        response.stop_reason = Some(StopReason::ContentFilter);
        let mut usage = Usage::new(30, 5);
        usage.cache_read_tokens = Some(20);
        response.usage = usage;
        let encoded = encode(&response);
        assert!(encoded.dropped.is_empty());
        let json: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "chatcmpl-abc", "type": "message", "role": "assistant", "model": "gpt-4o",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": ""},
                    {"type": "text", "text": "Hi"},
                    {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
                ],
                "stop_reason": "refusal", "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 5,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20}
            })
        );
    }

    #[test]
    fn content_a_reply_cannot_hold_is_dropped_and_named() {
        let response = Response::new(
            "id",
            "m",
            vec![
                ContentBlock::image(busbar_ir::ImageSource::Url {
                    url: "https://x/y.png".into(),
                }),
                ContentBlock::tool_use("t", "f", "[1, 2]"),
                ContentBlock::tool_use("u", "f", "{not json"),
            ],
        );
        let encoded = encode(&response);
        assert_eq!(encoded.dropped, vec!["image", "tool_use.arguments"]);
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(decode(b"").is_err());
        assert!(decode(b"[]").is_err());
        assert!(decode(br#"{"content":[{"type":"text"}]}"#).is_err());
        assert!(decode(br#"{"content":"text"}"#).is_err());
    }
}
