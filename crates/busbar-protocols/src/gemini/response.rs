//! Gemini `GenerateContentResponse` bodies ⇄ [`Response`].
//!
//! Only the first candidate is read (the IR holds one reply; several are
//! asked for with `candidateCount`, which `unsupported_fields` names). A
//! prompt blocked before any candidate (`promptFeedback.blockReason`) is an
//! empty reply stopped by [`StopReason::ContentFilter`].

use busbar_ir::{Response, StopReason};
use serde::{Deserialize, Serialize};

use super::parts::{model_parts, Blocks, Folder, OutPart, Side, WirePart};
use super::{finish_reason_to_wire, stop_reason_from_wire, UsageOut, WireUsage};
use crate::{DecodeError, Encoded};

/// Decodes a Gemini `generateContent` reply body.
pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
    // serde would also read a struct from an array; a reply is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::invalid("body", "must be a JSON object"));
    }
    let wire: WireResponse = serde_json::from_slice(body)?;
    if wire.error.is_some() {
        return Err(DecodeError::invalid(
            "error",
            "the body is an error, not a reply",
        ));
    }
    let id = wire.response_id.unwrap_or_default();
    let mut folder = Folder::for_reply(&id);
    let mut blocks = Blocks::default();
    let mut finish_reason = None;
    if let Some(mut candidate) = wire
        .candidates
        .into_iter()
        .flatten()
        .find(WireCandidate::is_first)
    {
        finish_reason = candidate.finish_reason.take();
        for (i, part) in candidate.parts().into_iter().enumerate() {
            folder.part(part, i, &mut blocks)?;
        }
        folder.close(&mut blocks);
    }
    let mut response = Response::new(id, wire.model_version.unwrap_or_default(), blocks.0);
    response.stop_reason = match finish_reason {
        Some(reason) => stop_reason_from_wire(&reason, folder.calls > 0),
        None if wire
            .prompt_feedback
            .is_some_and(|f| f.block_reason.is_some()) =>
        {
            Some(StopReason::ContentFilter)
        }
        None => None,
    };
    response.usage = wire.usage_metadata.unwrap_or_default().to_ir();
    Ok(response)
}

/// Encodes `response` as a Gemini reply body: one candidate, `responseId`
/// from the IR id, `modelVersion` from the model. `created` is not part of
/// Gemini's reply.
///
/// The candidate always has at least one part (an empty text when the reply
/// is empty), because google-genai's chat sessions drop a turn whose content
/// has none. Tool results and redacted thinking cannot appear in a reply and
/// are named in `dropped`, as are signatures that are not base64.
pub fn encode(response: &Response, created: u64) -> Encoded {
    let _ = created;
    let mut dropped = Vec::new();
    let parts = model_parts(&response.content, Side::Client, &mut dropped);
    let body = WireOut {
        candidates: [OutCandidate {
            content: OutContent::new(parts),
            finish_reason: response.stop_reason.as_ref().map(finish_reason_to_wire),
            index: 0,
        }],
        usage_metadata: Some(UsageOut::from_ir(&response.usage)),
        model_version: &response.model,
        response_id: &response.id,
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

/// A reply or one stream chunk as Gemini sends it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireResponse {
    #[serde(default)]
    pub(super) candidates: Option<Vec<WireCandidate>>,
    #[serde(default, alias = "prompt_feedback")]
    pub(super) prompt_feedback: Option<WirePromptFeedback>,
    #[serde(default, alias = "usage_metadata")]
    pub(super) usage_metadata: Option<WireUsage>,
    #[serde(default, alias = "model_version")]
    pub(super) model_version: Option<String>,
    #[serde(default, alias = "response_id")]
    pub(super) response_id: Option<String>,
    /// An error object in place of a reply (inside a stream).
    #[serde(default)]
    pub(super) error: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireCandidate {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default, alias = "finish_reason")]
    pub(super) finish_reason: Option<String>,
    #[serde(default)]
    index: Option<u64>,
}

impl WireCandidate {
    /// Whether this is the candidate the IR keeps (index 0; Gemini omits
    /// the index of the only one).
    pub(super) fn is_first(&self) -> bool {
        self.index.unwrap_or(0) == 0
    }

    pub(super) fn parts(self) -> Vec<WirePart> {
        self.content.and_then(|c| c.parts).unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
struct WireContent {
    #[serde(default)]
    parts: Option<Vec<WirePart>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePromptFeedback {
    #[serde(default, alias = "block_reason")]
    pub(super) block_reason: Option<String>,
}

/// A reply or stream chunk as Busbar writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireOut<'a> {
    pub(super) candidates: [OutCandidate<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) usage_metadata: Option<UsageOut>,
    pub(super) model_version: &'a str,
    pub(super) response_id: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutCandidate<'a> {
    pub(super) content: OutContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) finish_reason: Option<&'static str>,
    pub(super) index: u32,
}

#[derive(Debug, Serialize)]
pub(super) struct OutContent<'a> {
    parts: Vec<OutPart<'a>>,
    role: &'static str,
}

impl<'a> OutContent<'a> {
    /// A `model` content; an empty text part stands in for no parts.
    pub(super) fn new(mut parts: Vec<OutPart<'a>>) -> Self {
        if parts.is_empty() {
            parts.push(OutPart {
                text: Some(""),
                ..OutPart::default()
            });
        }
        Self {
            parts,
            role: "model",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use busbar_ir::{ContentBlock, ImageSource, Usage};
    use serde_json::json;

    #[test]
    fn a_reply_with_thoughts_text_and_calls_decodes() {
        let body = br#"{
          "candidates": [{
            "content": {"role": "model", "parts": [
              {"text": "Weighing it up.", "thought": true},
              {"text": "I'll check both.", "thoughtSignature": "c2lnMQ=="},
              {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnMg=="},
              {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
            ]},
            "finishReason": "STOP", "index": 0,
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
          }],
          "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 20, "totalTokenCount": 75, "thoughtsTokenCount": 15},
          "modelVersion": "gemini-2.5-flash", "responseId": "r1"
        }"#;
        let response = decode(body).unwrap();
        assert_eq!(response.id, "r1");
        assert_eq!(response.model, "gemini-2.5-flash");
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        let mut paris = ContentBlock::tool_use("gcall_r1_0", "get_weather", r#"{"city":"Paris"}"#);
        if let ContentBlock::ToolUse { signature, .. } = &mut paris {
            *signature = Some("c2lnMg==".into());
        }
        assert_eq!(
            response.content,
            vec![
                ContentBlock::thinking("Weighing it up.", None),
                ContentBlock::text("I'll check both."),
                ContentBlock::thinking("", Some("c2lnMQ==".into())),
                paris,
                ContentBlock::tool_use("gcall_r1_1", "get_weather", r#"{"city":"Rome"}"#),
            ]
        );
        assert_eq!(response.usage.input_tokens, 40);
        assert_eq!(response.usage.output_tokens, 35);
        assert_eq!(response.usage.reasoning_tokens, Some(15));
    }

    #[test]
    fn only_the_first_candidate_is_read_and_blocked_prompts_are_filtered() {
        let body = br#"{"candidates": [
            {"content": {"parts": [{"text": "second"}]}, "index": 1, "finishReason": "STOP"},
            {"content": {"parts": [{"text": "first"}]}, "index": 0, "finishReason": "MAX_TOKENS"}
        ]}"#;
        let response = decode(body).unwrap();
        assert_eq!(response.text(), "first");
        assert_eq!(response.stop_reason, Some(StopReason::MaxTokens));
        let blocked = decode(
            br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}}"#,
        )
        .unwrap();
        assert!(blocked.content.is_empty());
        assert_eq!(blocked.stop_reason, Some(StopReason::ContentFilter));
        assert_eq!(blocked.usage.input_tokens, 8);
    }

    #[test]
    fn encoding_writes_one_candidate_with_parts() {
        let mut call = ContentBlock::tool_use("call_1", "f", r#"{"a":1}"#);
        if let ContentBlock::ToolUse { signature, .. } = &mut call {
            *signature = Some("c2ln".into());
        }
        let mut response = Response::new(
            "chatcmpl-1",
            "gpt-4o",
            vec![
                ContentBlock::thinking("hmm", None),
                ContentBlock::text("Hi"),
                call,
                ContentBlock::image(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBO".into(),
                }),
                ContentBlock::tool_result("x", "y"),
            ],
        );
        response.stop_reason = Some(StopReason::ToolUse);
        let mut usage = Usage::new(30, 12);
        usage.reasoning_tokens = Some(2);
        usage.cache_write_tokens = Some(5);
        response.usage = usage;
        let encoded = encode(&response, 0);
        assert_eq!(encoded.dropped, vec!["tool_result"]);
        let json: serde_json::Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            json,
            json!({
                "candidates": [{
                    "content": {"parts": [
                        {"text": "hmm", "thought": true},
                        {"text": "Hi"},
                        {"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"},
                        {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}
                    ], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0
                }],
                "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 10,
                                  "totalTokenCount": 42, "thoughtsTokenCount": 2},
                "modelVersion": "gpt-4o",
                "responseId": "chatcmpl-1"
            })
        );
    }

    #[test]
    fn an_empty_reply_still_has_a_part() {
        let mut response = Response::new("r", "m", vec![]);
        response.stop_reason = Some(StopReason::ContentFilter);
        let json: serde_json::Value = serde_json::from_slice(&encode(&response, 0).body).unwrap();
        assert_eq!(
            json["candidates"][0]["content"]["parts"],
            json!([{"text": ""}])
        );
        assert_eq!(json["candidates"][0]["finishReason"], "SAFETY");
        assert_eq!(decode(&encode(&response, 0).body).unwrap(), response);
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(decode(b"").is_err());
        assert!(decode(b"[]").is_err());
        assert!(decode(br#"{"candidates": {"x": 1}}"#).is_err());
        assert!(decode(br#"{"error": {"code": 500, "message": "m"}}"#).is_err());
    }
}
