//! Converse replies (`{output: {message}, stopReason, usage, metrics}`) ⇄
//! [`Response`].
//!
//! A Converse reply has no id, model or creation time: decoded replies leave
//! them empty, and encoding ignores them (the request id travels in the
//! `x-amzn-RequestId` header, the server's concern). `metrics.latencyMs` is
//! written as 0. `additionalModelResponseFields`, `trace` and the like are
//! not read.

use std::borrow::Cow;

use busbar_ir::{ContentBlock, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::content::{blob, decode_blocks, tool_input, OutBlock, OutReasoning, OutToolUse};
use super::fields::opt_object;
use super::{
    stop_reason_from_wire, stop_reason_to_wire, CacheDetails, WireMetrics, WireUsage, NO_METRICS,
};
use crate::json::{get, object, opt_str, opt_u64, path_of};
use crate::{DecodeError, Encoded};

/// Decodes a Converse reply body.
pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    let body = object(&value, "body")?;
    let message = opt_object(body, "", "output")?
        .map(|output| opt_object(output, "output", "message"))
        .transpose()?
        .flatten()
        .ok_or_else(|| DecodeError::invalid("output.message", "is required"))?;
    let content = message
        .get("content")
        .ok_or_else(|| DecodeError::invalid("output.message.content", "is required"))?;
    let mut response = Response::new("", "", decode_blocks(content, "output.message.content")?);
    response.stop_reason = opt_str(body, "", "stopReason")?.map(stop_reason_from_wire);
    if let Some(usage) = opt_object(body, "", "usage")? {
        let path = "usage";
        response.usage = WireUsage {
            input_tokens: opt_u64(usage, path, "inputTokens")?.unwrap_or(0),
            output_tokens: opt_u64(usage, path, "outputTokens")?.unwrap_or(0),
            total_tokens: opt_u64(usage, path, "totalTokens")?.unwrap_or(0),
            cache_read_input_tokens: opt_u64(usage, path, "cacheReadInputTokens")?,
            cache_write_input_tokens: opt_u64(usage, path, "cacheWriteInputTokens")?,
            cache_details: cache_details(usage, path)?,
        }
        .to_ir();
    }
    Ok(response)
}

/// `cacheDetails`: a list of `{ttl, inputTokens}`.
fn cache_details(
    usage: &Map<String, Value>,
    parent: &str,
) -> Result<Option<CacheDetails>, DecodeError> {
    let Some(entries) = get(usage, "cacheDetails") else {
        return Ok(None);
    };
    let path = path_of(parent, "cacheDetails");
    let entries = entries
        .as_array()
        .ok_or_else(|| DecodeError::invalid(&path, "must be an array"))?;
    let mut details = CacheDetails::default();
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("{path}.{index}");
        let entry = object(entry, &path)?;
        let ttl = opt_str(entry, &path, "ttl")?.unwrap_or_default();
        details.add(ttl, opt_u64(entry, &path, "inputTokens")?.unwrap_or(0));
    }
    Ok(Some(details))
}

/// Encodes `response` as a Converse reply body, with every member botocore's
/// model requires (`output`, `stopReason`, `usage`, `metrics`).
///
/// Content a reply cannot hold (images, tool results) is dropped and named,
/// as are tool-call signatures (`tool_use.signature`); tool arguments that
/// are not a JSON object become `{}` (named `tool_use.arguments`).
/// Redacted thinking that is not base64 is sent base64-encoded, since
/// botocore decodes it. A reply without a stop reason says `end_turn`.
/// `created` is not used: Converse replies carry no time.
pub fn encode(response: &Response, created: u64) -> Encoded {
    let _ = created;
    let mut dropped = Vec::new();
    let content = response
        .content
        .iter()
        .filter_map(|block| encode_block(block, &mut dropped))
        .collect();
    let body = WireOut {
        output: Output {
            message: OutMessage {
                role: "assistant",
                content,
            },
        },
        stop_reason: response
            .stop_reason
            .as_ref()
            .map_or("end_turn", stop_reason_to_wire),
        usage: WireUsage::from_ir(&response.usage),
        metrics: NO_METRICS,
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

fn encode_block<'a>(
    block: &'a ContentBlock,
    dropped: &mut Vec<&'static str>,
) -> Option<OutBlock<'a>> {
    Some(match block {
        ContentBlock::Text { text } => OutBlock::Text(text),
        ContentBlock::ToolUse {
            id,
            name,
            arguments,
            signature,
        } => {
            if signature.is_some() {
                dropped.push("tool_use.signature");
            }
            OutBlock::ToolUse(OutToolUse {
                tool_use_id: Cow::Borrowed(id),
                name: Cow::Borrowed(name),
                input: tool_input(arguments, dropped),
            })
        }
        ContentBlock::Thinking { text, signature } => {
            OutBlock::ReasoningContent(OutReasoning::ReasoningText {
                text,
                signature: signature.as_deref(),
            })
        }
        ContentBlock::RedactedThinking { data } => {
            OutBlock::ReasoningContent(OutReasoning::RedactedContent(blob(data)))
        }
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOut<'a> {
    output: Output<'a>,
    stop_reason: &'static str,
    usage: WireUsage,
    metrics: WireMetrics,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    message: OutMessage<'a>,
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use busbar_ir::{ImageSource, StopReason, Usage};
    use serde_json::json;

    #[test]
    fn a_reply_with_every_block_kind_decodes() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[
              {"reasoningContent":{"reasoningText":{"text":"Let me see.","signature":"EqQBCgIYAh"}}},
              {"reasoningContent":{"redactedContent":"EmwKAhgB"}},
              {"text":"Checking."},
              {"toolUse":{"toolUseId":"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q","name":"get_weather","input":{"city":"Paris","days":2}}}
            ]}},
            "stopReason":"tool_use",
            "usage":{"inputTokens":12,"outputTokens":40,"totalTokens":202,"cacheReadInputTokens":50,"cacheWriteInputTokens":100},
            "metrics":{"latencyMs":812}}"#;
        let response = decode(body).unwrap();
        assert_eq!((response.id.as_str(), response.model.as_str()), ("", ""));
        assert_eq!(
            response.content,
            vec![
                ContentBlock::thinking("Let me see.", Some("EqQBCgIYAh".into())),
                ContentBlock::RedactedThinking {
                    data: "EmwKAhgB".into()
                },
                ContentBlock::text("Checking."),
                ContentBlock::tool_use(
                    "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                    "get_weather",
                    r#"{"city":"Paris","days":2}"#
                ),
            ]
        );
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(response.usage.input_tokens, 162);
        assert_eq!(response.usage.cache_write_tokens, Some(100));
        assert_eq!(response.usage.cache_read_tokens, Some(50));
    }

    #[test]
    fn encoding_writes_every_required_member() {
        let mut response = Response::new(
            "chatcmpl-abc",
            "gpt-4o",
            vec![
                ContentBlock::thinking("hmm", None),
                ContentBlock::text("Hi"),
                ContentBlock::tool_use("call_1", "f", ""),
            ],
        );
        let mut usage = Usage::new(30, 5);
        usage.cache_read_tokens = Some(20);
        response.usage = usage;
        let encoded = encode(&response, 1_700_000_000);
        assert!(encoded.dropped.is_empty());
        let json: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            json,
            json!({
                "output": {"message": {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm"}}},
                    {"text": "Hi"},
                    {"toolUse": {"toolUseId": "call_1", "name": "f", "input": {}}}
                ]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 35,
                          "cacheReadInputTokens": 20},
                "metrics": {"latencyMs": 0}
            })
        );
    }

    #[test]
    fn content_a_reply_cannot_hold_is_dropped_and_named() {
        let mut tool_use = ContentBlock::tool_use("u", "f", "{not json");
        if let ContentBlock::ToolUse { signature, .. } = &mut tool_use {
            *signature = Some("sig".into());
        }
        let response = Response::new(
            "",
            "",
            vec![
                ContentBlock::image(ImageSource::Url {
                    url: "https://x/y.png".into(),
                }),
                ContentBlock::tool_result("t", "r"),
                tool_use,
            ],
        );
        let encoded = encode(&response, 0);
        assert_eq!(
            encoded.dropped,
            vec![
                "image",
                "tool_result",
                "tool_use.signature",
                "tool_use.arguments"
            ]
        );
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(decode(b"").is_err());
        assert!(decode(b"[]").is_err());
        assert!(decode(br#"{"output":{}}"#).is_err());
        assert!(decode(br#"{"output":{"message":{"content":"text"}}}"#).is_err());
        assert!(
            decode(br#"{"output":{"message":{"content":[]}},"usage":{"inputTokens":-1}}"#).is_err()
        );
        for details in [r#""1h""#, r#"[3]"#, r#"[{"ttl":"1h","inputTokens":-2}]"#] {
            let body = format!(
                r#"{{"output":{{"message":{{"content":[]}}}},"usage":{{"cacheDetails":{details}}}}}"#
            );
            let error = decode(body.as_bytes()).unwrap_err();
            assert!(error.to_string().contains("usage.cacheDetails"), "{error}");
        }
        let minimal =
            decode(br#"{"output":{"message":{"role":"assistant","content":[]}}}"#).unwrap();
        assert!(minimal.content.is_empty() && minimal.stop_reason.is_none());
    }
}
