//! Cohere Chat v2 replies (`{id, finish_reason, message, usage}`) ⇄
//! [`Response`].
//!
//! Decoding keeps the message's text and thinking content, its tool plan (as
//! a text block after the content) and its tool calls; citations and log
//! probabilities have no place in the IR and are skipped. Cohere replies
//! carry no model name and no creation time.

use busbar_ir::{ContentBlock, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::OutToolCall;
use super::{finish_reason_to_wire, stop_reason_from_wire, WireUsage};
use crate::names::dedup;
use crate::{DecodeError, Encoded};

/// Decodes a Cohere Chat v2 reply body.
pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
    let wire: WireResponse = serde_json::from_slice(body)?;
    let message = wire.message;
    let mut content = Vec::new();
    for item in message.content.into_iter().flatten() {
        match item {
            WireContent::Text { text } if !text.is_empty() => {
                content.push(ContentBlock::text(text))
            }
            WireContent::Thinking { thinking } => {
                content.push(ContentBlock::thinking(thinking, None))
            }
            _ => {}
        }
    }
    if let Some(plan) = message.tool_plan.filter(|plan| !plan.is_empty()) {
        content.push(ContentBlock::text(plan));
    }
    for call in message.tool_calls.into_iter().flatten() {
        content.push(call.into_block()?);
    }
    let mut response = Response::new(wire.id, "", content);
    response.stop_reason = wire.finish_reason.as_deref().map(stop_reason_from_wire);
    response.usage = wire.usage.unwrap_or_default().to_ir();
    Ok(response)
}

/// Encodes `response` as a Cohere Chat v2 reply body. Cohere replies carry
/// no creation time, so `created` is unused.
///
/// The text of a reply holding tool calls is its `tool_plan` (several text
/// blocks joined by a blank line), as Cohere writes it; otherwise text and
/// thinking are `content`, in order. Dropped and named: thinking signatures
/// (`thinking.signature`), `redacted_thinking`, tool-call signatures
/// (`tool_use.signature`), and content a reply cannot hold (`image`,
/// `tool_result`).
pub fn encode(response: &Response, created: u64) -> Encoded {
    let _ = created;
    let mut dropped = Vec::new();
    let has_calls = response.has_tool_use();
    let mut content = Vec::new();
    let mut plan: Vec<&str> = Vec::new();
    let mut tool_calls = Vec::new();
    for block in &response.content {
        match block {
            ContentBlock::Text { text } if has_calls => {
                if !text.is_empty() {
                    plan.push(text);
                }
            }
            ContentBlock::Text { text } => content.push(OutContent::Text { text }),
            ContentBlock::Thinking { text, signature } => {
                if signature.is_some() {
                    dropped.push("thinking.signature");
                }
                content.push(OutContent::Thinking { thinking: text });
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
                tool_calls.push(OutToolCall::new(id, name, arguments));
            }
            ContentBlock::RedactedThinking { .. } => dropped.push("redacted_thinking"),
            ContentBlock::Image { .. } => dropped.push("image"),
            ContentBlock::ToolResult { .. } => dropped.push("tool_result"),
            _ => dropped.push("content_block"),
        }
    }
    let plan = plan.join("\n\n");
    let body = WireOut {
        id: &response.id,
        finish_reason: finish_reason_to_wire(response.stop_reason.as_ref(), has_calls),
        message: OutMessage {
            role: "assistant",
            content,
            tool_plan: (!plan.is_empty()).then_some(plan),
            tool_calls,
        },
        usage: WireUsage::from_ir(&response.usage),
    };
    dedup(&mut dropped);
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped,
    }
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    finish_reason: Option<String>,
    message: WireMessage,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<Vec<WireContent>>,
    #[serde(default)]
    tool_plan: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireContent {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    /// Content types newer than this code.
    #[serde(other)]
    Other,
}

/// A tool call as Cohere writes it, in replies and in `tool-call-start`.
#[derive(Debug, Deserialize)]
pub(super) struct WireToolCall {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) function: Option<WireFunction>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct WireFunction {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) arguments: Option<Value>,
}

impl WireToolCall {
    fn into_block(self) -> Result<ContentBlock, DecodeError> {
        let function = self.function.unwrap_or_default();
        let arguments = match function.arguments {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(arguments)) => arguments,
            Some(other) => serde_json::to_string(&other)?,
        };
        Ok(ContentBlock::tool_use(
            self.id,
            function.name.unwrap_or_default(),
            arguments,
        ))
    }
}

#[derive(Debug, Serialize)]
struct WireOut<'a> {
    id: &'a str,
    finish_reason: &'static str,
    message: OutMessage<'a>,
    usage: WireUsage,
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    content: Vec<OutContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_plan: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutContent<'a> {
    Text { text: &'a str },
    Thinking { thinking: &'a str },
}

#[cfg(test)]
mod tests {
    use super::*;
    use busbar_ir::{ImageSource, StopReason, Usage};
    use serde_json::json;

    #[test]
    fn a_reply_with_thinking_plan_and_tool_calls_decodes_in_order() {
        let body = br#"{"id":"9e5f00aa","finish_reason":"TOOL_CALL",
            "message":{"role":"assistant",
              "content":[{"type":"thinking","thinking":"Sales first."}],
              "tool_plan":"I will look up the sales.",
              "tool_calls":[
                {"id":"q_1","type":"function","function":{"name":"query","arguments":"{\"day\": \"2023-09-29\"}"}},
                {"id":"q_2","type":"function","function":{"name":"catalog"}}
              ],
              "citations":[]},
            "usage":{"billed_units":{"input_tokens":127,"output_tokens":69},
                     "tokens":{"input_tokens":1032,"output_tokens":124},"cached_tokens":512}}"#;
        let response = decode(body).unwrap();
        assert_eq!(response.id, "9e5f00aa");
        assert_eq!(response.model, "");
        assert_eq!(
            response.content,
            vec![
                ContentBlock::thinking("Sales first.", None),
                ContentBlock::text("I will look up the sales."),
                ContentBlock::tool_use("q_1", "query", r#"{"day": "2023-09-29"}"#),
                ContentBlock::tool_use("q_2", "catalog", "{}"),
            ]
        );
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(response.usage.input_tokens, 1032);
        assert_eq!(response.usage.output_tokens, 124);
        assert_eq!(response.usage.cache_read_tokens, Some(512));
    }

    #[test]
    fn unknown_content_and_missing_usage_are_tolerated() {
        let body = br#"{"id":"a","finish_reason":"TIMEOUT","message":{"role":"assistant",
            "content":[{"type":"audio","data":"x"},{"type":"text","text":"Hi"}],"tool_calls":null}}"#;
        let response = decode(body).unwrap();
        assert_eq!(response.content, vec![ContentBlock::text("Hi")]);
        assert_eq!(
            response.stop_reason,
            Some(StopReason::Other("TIMEOUT".into()))
        );
        assert_eq!(response.usage, Usage::default());
    }

    #[test]
    fn text_beside_tool_calls_is_written_as_the_tool_plan() {
        let mut response = Response::new(
            "msg_1",
            "claude",
            vec![
                ContentBlock::thinking("hmm", Some("sig".into())),
                ContentBlock::text("Let me check."),
                ContentBlock::tool_use("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
                ContentBlock::text("Then this."),
            ],
        );
        response.stop_reason = Some(StopReason::EndTurn);
        response.usage = Usage::new(20, 7);
        let encoded = encode(&response, 0);
        assert_eq!(encoded.dropped, vec!["thinking.signature"]);
        let json: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            json,
            json!({
                "id": "msg_1",
                "finish_reason": "TOOL_CALL",
                "message": {
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "hmm"}],
                    "tool_plan": "Let me check.\n\nThen this.",
                    "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
                },
                "usage": {"billed_units": {"input_tokens": 20, "output_tokens": 7},
                          "tokens": {"input_tokens": 20, "output_tokens": 7}}
            })
        );
    }

    #[test]
    fn a_plain_reply_writes_its_text_as_content() {
        let mut response = Response::new("r", "m", vec![ContentBlock::text("Hello")]);
        response.stop_reason = Some(StopReason::MaxTokens);
        let json: Value = serde_json::from_slice(&encode(&response, 0).body).unwrap();
        assert_eq!(json["finish_reason"], "MAX_TOKENS");
        assert_eq!(
            json["message"],
            json!({"role": "assistant", "content": [{"type": "text", "text": "Hello"}]})
        );
    }

    #[test]
    fn content_a_reply_cannot_hold_is_dropped_and_named() {
        let response = Response::new(
            "r",
            "m",
            vec![
                ContentBlock::RedactedThinking { data: "x".into() },
                ContentBlock::image(ImageSource::Url {
                    url: "https://x/y.png".into(),
                }),
                ContentBlock::tool_result("t", "out"),
                ContentBlock::ToolUse {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: String::new(),
                    signature: Some("sig".into()),
                },
            ],
        );
        let encoded = encode(&response, 0);
        assert_eq!(
            encoded.dropped,
            vec![
                "redacted_thinking",
                "image",
                "tool_result",
                "tool_use.signature"
            ]
        );
        let json: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            json["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(decode(b"").is_err());
        assert!(decode(b"[]").is_err());
        assert!(decode(br#"{"id":"a"}"#).is_err());
        assert!(decode(br#"{"message":{"content":"text"}}"#).is_err());
        assert!(decode(br#"{"message":{"tool_calls":[{"function":"f"}]}}"#).is_err());
    }
}
