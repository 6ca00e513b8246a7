//! `chat.completion` bodies ⇄ [`Response`].
//!
//! Only the first choice is read. Reasoning text that DeepSeek, vLLM and
//! OpenRouter put beside the content (`reasoning_content`, `reasoning`)
//! becomes a thinking block ahead of the text. Encoding writes the shape the
//! official SDK validates: `refusal`, `logprobs` and `annotations` present,
//! `tool_calls` only when there are some.

use busbar_ir::{ContentBlock, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{arguments_text, choice_stop, finish_reason, UsageOut, WireUsage};
use crate::names::push_once;
use crate::{DecodeError, Encoded};

/// Decodes a `chat.completion` body.
pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
    // serde would read a JSON array as a struct of its fields in order.
    if body.trim_ascii_start().first() == Some(&b'[') {
        return Err(DecodeError::invalid("body", "expected a JSON object"));
    }
    let wire: WireResponse = serde_json::from_slice(body)?;
    let mut response = Response::new(
        wire.id.unwrap_or_default(),
        wire.model.unwrap_or_default(),
        Vec::new(),
    );
    response.created = wire.created;
    response.usage = wire.usage.map(Into::into).unwrap_or_default();
    // The first choice by its index; vendors list choices in order anyway.
    let Some(choice) = wire.choices.into_iter().min_by_key(|choice| choice.index) else {
        return Ok(response);
    };
    let (stop_reason, stop_sequence) =
        choice_stop(choice.finish_reason.as_deref(), choice.stop_reason.as_ref());
    response.stop_reason = stop_reason;
    response.stop_sequence = stop_sequence;
    let Some(message) = choice.message else {
        return Ok(response);
    };
    if let Some(reasoning) = message.reasoning_content.or(message.reasoning) {
        if !reasoning.is_empty() {
            response
                .content
                .push(ContentBlock::thinking(reasoning, None));
        }
    }
    match message.content {
        Some(WireContent::Text(text)) => push_text(&mut response.content, text),
        Some(WireContent::Parts(parts)) => {
            for part in parts {
                if let Some(text) = part.text.or(part.refusal) {
                    push_text(&mut response.content, text);
                }
            }
        }
        None => {}
    }
    if let Some(refusal) = message.refusal {
        if !refusal.is_empty() {
            push_text(&mut response.content, refusal);
            // A refusal reported as an ordinary stop is a refusal all the same.
            if response.stop_reason == Some(busbar_ir::StopReason::EndTurn) {
                response.stop_reason = Some(busbar_ir::StopReason::Refusal);
            }
        }
    }
    for call in message.tool_calls.unwrap_or_default() {
        let function = call.function.unwrap_or_default();
        response.content.push(ContentBlock::tool_use(
            call.id.unwrap_or_default(),
            function.name.unwrap_or_default(),
            arguments_text(function.arguments),
        ));
    }
    if let Some(function) = message.function_call {
        response.content.push(ContentBlock::tool_use(
            "call_0",
            function.name.unwrap_or_default(),
            arguments_text(function.arguments),
        ));
    }
    Ok(response)
}

fn push_text(content: &mut Vec<ContentBlock>, text: String) {
    if !text.is_empty() {
        content.push(ContentBlock::text(text));
    }
}

/// Encodes `response` as a `chat.completion` body; `created` stands in when
/// the response carries no creation time. Thinking and images have no place
/// in a Chat Completions message and are named in [`Encoded::dropped`].
pub fn encode(response: &Response, created: u64) -> Encoded {
    let mut dropped = Vec::new();
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &response.content {
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
                function: FunctionOut { name, arguments },
            }),
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {
                push_once(&mut dropped, "thinking")
            }
            ContentBlock::Image { .. } => push_once(&mut dropped, "image"),
            _ => push_once(&mut dropped, "content"),
        }
    }
    let finish_reason = finish_reason(response.stop_reason.as_ref(), !tool_calls.is_empty());
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    let body = Body {
        id: &response.id,
        object: "chat.completion",
        created: response.created.unwrap_or(created),
        model: &response.model,
        choices: [ChoiceOut {
            index: 0,
            message: MessageOut {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
                annotations: [],
            },
            finish_reason,
            logprobs: None,
        }],
        usage: UsageOut::from(&response.usage),
    };
    // Serialising these borrowed structs into a Vec cannot fail.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Encoded { body, dropped }
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    created: Option<u64>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
    /// vLLM: the stop string (or token id) that ended generation.
    #[serde(default)]
    stop_reason: Option<Value>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default)]
    function_call: Option<WireFunction>,
}

/// Some compatible vendors (Mistral) answer with content parts.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Deserialize)]
struct WirePart {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Default, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    usage: UsageOut,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    finish_reason: &'static str,
    logprobs: Option<()>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[cfg(test)]
mod tests {
    use busbar_ir::{StopReason, Usage};
    use serde_json::{json, Value};

    use super::*;

    fn decode_json(body: Value) -> Response {
        decode(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn decodes_text_tools_usage_and_created() {
        let response = decode_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Checking.", "refusal": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}]},
                "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
                "prompt_tokens_details": {"cached_tokens": 8}, "completion_tokens_details": {"reasoning_tokens": 0}},
        }));
        assert_eq!(
            (
                response.id.as_str(),
                response.model.as_str(),
                response.created
            ),
            ("chatcmpl-1", "gpt-4o", Some(1_700_000_000))
        );
        assert_eq!(
            response.content,
            vec![
                ContentBlock::text("Checking."),
                ContentBlock::tool_use("call_1", "w", "{\"city\":\"Paris\"}")
            ]
        );
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(response.usage.cache_read_tokens, Some(8));
        assert_eq!(response.usage.reasoning_tokens, Some(0));
        assert_eq!(response.usage.total_tokens(), 29);
    }

    #[test]
    fn reasoning_content_comes_first_as_thinking() {
        let response = decode_json(
            json!({"id": "x", "model": "deepseek-reasoner", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "42", "reasoning_content": "Let me think."},
            "finish_reason": "stop"}]}),
        );
        assert_eq!(
            response.content,
            vec![
                ContentBlock::thinking("Let me think.", None),
                ContentBlock::text("42")
            ]
        );
        let openrouter = decode_json(
            json!({"choices": [{"message": {"content": "a", "reasoning": "b"}, "finish_reason": "stop"}]}),
        );
        assert_eq!(openrouter.content[0], ContentBlock::thinking("b", None));
    }

    #[test]
    fn refusals_legacy_calls_and_odd_shapes() {
        let refusal = decode_json(json!({"id": "x", "model": "m", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"}]}));
        assert_eq!(
            refusal.content,
            vec![ContentBlock::text("I can't help with that.")]
        );
        assert_eq!(refusal.stop_reason, Some(StopReason::Refusal));
        let legacy = decode_json(
            json!({"choices": [{"message": {"content": null, "function_call": {"name": "f", "arguments": "{}"}}, "finish_reason": "function_call"}]}),
        );
        assert!(
            matches!(&legacy.content[..], [ContentBlock::ToolUse { name, arguments, .. }] if name == "f" && arguments == "{}")
        );
        assert_eq!(legacy.stop_reason, Some(StopReason::ToolUse));
        let parts = decode_json(
            json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "finish_reason": "stop", "stop_reason": "###"}]}),
        );
        assert_eq!(
            parts.content,
            vec![ContentBlock::text("a"), ContentBlock::text("b")]
        );
        assert_eq!(
            (parts.stop_reason, parts.stop_sequence.as_deref()),
            (Some(StopReason::StopSequence), Some("###"))
        );
        let empty = decode_json(json!({"id": "x", "model": "m", "choices": [], "usage": null}));
        assert!(empty.content.is_empty() && empty.stop_reason.is_none());
        assert!(matches!(decode(b" []"), Err(DecodeError::Invalid { .. })));
        assert!(matches!(decode(b"<html>"), Err(DecodeError::Json(_))));
    }

    #[test]
    fn encodes_the_sdk_shape() {
        let mut response = Response::new(
            "chatcmpl-1",
            "gpt-4o",
            vec![ContentBlock::text("Hi"), ContentBlock::text(" there")],
        );
        response.stop_reason = Some(StopReason::EndTurn);
        response.usage = Usage::new(5, 2);
        let encoded = encode(&response, 1_700_000_000);
        assert!(encoded.dropped.is_empty());
        assert_eq!(
            String::from_utf8(encoded.body).unwrap(),
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there","refusal":null,"annotations":[]},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#
        );
    }

    #[test]
    fn encodes_tool_calls_with_null_content_and_drops_thinking() {
        let mut response = Response::new(
            "r",
            "m",
            vec![
                ContentBlock::thinking("hmm", Some("sig".into())),
                ContentBlock::tool_use("call_1", "f", "{}"),
            ],
        );
        response.created = Some(5);
        response.stop_reason = Some(StopReason::EndTurn);
        let encoded = encode(&response, 99);
        assert_eq!(encoded.dropped, ["thinking"]);
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(body["created"], 5);
        let choice = &body["choices"][0];
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(
            choice["message"]["tool_calls"],
            json!([{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
        );
        // OpenAI clients run their tool loop on this value.
        assert_eq!(choice["finish_reason"], "tool_calls");
    }
}
