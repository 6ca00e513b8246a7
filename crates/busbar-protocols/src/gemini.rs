//! Google Gemini `generateContent` and `streamGenerateContent`
//! (`/v1beta/models/M:generateContent`, also under `/v1/`).
//!
//! The model is named in the URL, not the body: decoders leave
//! [`busbar_ir::Request::model`] empty and encoders write no model (the
//! server routes by URL). Field names are camelCase on the wire; decoders
//! also accept the snake_case names the REST API accepts.
//!
//! The mapping choices the modules below share:
//!
//! * **Parts and blocks.** A `model` turn's parts fold into IR blocks:
//!   adjacent text parts make one text block, adjacent `thought` parts one
//!   thinking block, a `thoughtSignature` on a thought part becomes that
//!   block's signature (and ends it), and a signature on any other part but a
//!   `functionCall` becomes a thinking block with no text right after the
//!   part's content. Encoders reverse it: such a thinking block directly
//!   after a text block is put back on that text part.
//! * **Tool-call ids.** Gemini 3 numbers its calls; older models do not. A
//!   call without an `id` gets a stable one derived from its position (see
//!   [`DERIVED_ID_PREFIX`]), and a `functionResponse` without one answers
//!   the earliest unanswered call of its name. Derived ids are not sent back
//!   upstream, so a conversation that had none keeps none.
//! * **Thought signatures** (`thoughtSignature`, base64 bytes) ride on
//!   [`busbar_ir::ContentBlock::ToolUse::signature`] and thinking blocks. A
//!   `functionCall` sent upstream without one gets Google's documented
//!   placeholder [`SKIP_SIGNATURE`] (the API answers 400 otherwise on Gemini
//!   3); decoders read the placeholder as no signature. A signature that is
//!   not valid base64 is never written (Google and the google-genai SDK both
//!   reject it).
//! * **Tool arguments** are a JSON object on the wire and text in the IR;
//!   tool results are a `response` object (see [`request::encode`]).
//! * **Usage.** `promptTokenCount` already includes cached tokens, as the
//!   IR's input count does; IR output is `candidatesTokenCount` plus
//!   `thoughtsTokenCount`.
//! * **Stop reasons.** Gemini says `STOP` for an end, a stop sequence and a
//!   tool call alike: a reply holding a `functionCall` with `STOP` is
//!   [`StopReason::ToolUse`], and a stop sequence cannot be told apart.

pub mod count;
pub mod error;
pub mod request;
pub mod response;
pub mod stream;
mod wire;

pub use wire::GeminiGenerate;

mod parts;

use busbar_ir::{StopReason, Usage};
use serde::{Deserialize, Serialize};

/// How derived tool-call ids start: `gcall_{content}_{part}` in a request,
/// `gcall_{responseId}_{n}` in a reply (`gcall_{n}` without a response id).
pub const DERIVED_ID_PREFIX: &str = "gcall_";

/// The placeholder Google documents for a `functionCall` whose thought
/// signature is unknown (history from another model or hand-built), which
/// Gemini 3 would otherwise reject.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Whether `id` was derived by this module rather than given by a client or
/// by Gemini.
fn is_derived_id(id: &str) -> bool {
    id.starts_with(DERIVED_ID_PREFIX)
}

/// Whether `text` is base64 as Google and the google-genai SDK (pydantic)
/// accept it for `bytes` fields: the standard or URL-safe alphabet,
/// padding optional, and no stray bits in the last symbol.
fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    let body = bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(&bytes[..0], |last| &bytes[..=last]);
    let padding = bytes.len() - body.len();
    if padding > 2 || (padding > 0 && !bytes.len().is_multiple_of(4)) || body.len() % 4 == 1 {
        return false;
    }
    let value = |b: u8| -> Option<u8> {
        match b {
            b'A'..=b'Z' => Some(b - b'A'),
            b'a'..=b'z' => Some(b - b'a' + 26),
            b'0'..=b'9' => Some(b - b'0' + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    };
    let mut last = 0;
    for &b in body {
        match value(b) {
            Some(v) => last = v,
            None => return false,
        }
    }
    // A final group of 2 or 3 symbols carries 4 or 2 bits that decode to
    // nothing; they must be zero.
    match body.len() % 4 {
        2 => last & 0x0f == 0,
        3 => last & 0x03 == 0,
        _ => true,
    }
}

/// The IR stop reason for a Gemini `finishReason`. `has_tool_use` says
/// whether the candidate held a `functionCall`, which Gemini reports as a
/// plain `STOP`.
fn stop_reason_from_wire(reason: &str, has_tool_use: bool) -> Option<StopReason> {
    Some(match reason {
        "" | "FINISH_REASON_UNSPECIFIED" => return None,
        "STOP" if has_tool_use => StopReason::ToolUse,
        "STOP" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => StopReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS" => {
            StopReason::Error
        }
        other => StopReason::Other(other.to_owned()),
    })
}

/// The finish reasons google-genai knows, for passing an
/// [`StopReason::Other`] through unchanged.
const FINISH_REASONS: [&str; 10] = [
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "LANGUAGE",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "NO_IMAGE",
];

/// The Gemini `finishReason` for an IR stop reason: `STOP` for every way of
/// finishing a turn (tool calls included), `SAFETY` for filters and
/// refusals, `OTHER` for a generation error.
fn finish_reason_to_wire(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ContextWindowExceeded => "MAX_TOKENS",
        StopReason::ContentFilter | StopReason::Refusal => "SAFETY",
        StopReason::Error => "OTHER",
        StopReason::Other(other) => FINISH_REASONS
            .iter()
            .find(|known| **known == other.as_str())
            .copied()
            .unwrap_or("STOP"),
        _ => "STOP",
    }
}

/// `usageMetadata` as Gemini reports it (each stream chunk carries the
/// counts so far).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default, alias = "prompt_token_count")]
    prompt_token_count: Option<u64>,
    #[serde(default, alias = "candidates_token_count")]
    candidates_token_count: Option<u64>,
    #[serde(default, alias = "cached_content_token_count")]
    cached_content_token_count: Option<u64>,
    #[serde(default, alias = "thoughts_token_count")]
    thoughts_token_count: Option<u64>,
    /// Tokens of server-tool results (search, code execution) fed back as
    /// input; the IR counts them as input.
    #[serde(default, alias = "tool_use_prompt_token_count")]
    tool_use_prompt_token_count: Option<u64>,
}

impl WireUsage {
    fn to_ir(self) -> Usage {
        let thoughts = self.thoughts_token_count;
        let mut usage = Usage::new(
            self.prompt_token_count
                .unwrap_or(0)
                .saturating_add(self.tool_use_prompt_token_count.unwrap_or(0)),
            self.candidates_token_count
                .unwrap_or(0)
                .saturating_add(thoughts.unwrap_or(0)),
        );
        usage.cache_read_tokens = self.cached_content_token_count;
        usage.reasoning_tokens = thoughts;
        usage
    }
}

/// `usageMetadata` as Busbar writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageOut {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_content_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thoughts_token_count: Option<u64>,
}

impl UsageOut {
    /// Gemini's counts for IR usage; cache writes have no Gemini field.
    fn from_ir(usage: &Usage) -> Self {
        Self {
            prompt_token_count: usage.input_tokens,
            candidates_token_count: usage
                .output_tokens
                .saturating_sub(usage.reasoning_tokens.unwrap_or(0)),
            total_token_count: usage.total_tokens(),
            cached_content_token_count: usage.cache_read_tokens,
            thoughts_token_count: usage.reasoning_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_output_adds_thoughts_and_input_adds_tool_prompts() {
        let wire: WireUsage = serde_json::from_str(
            r#"{"promptTokenCount":120,"candidatesTokenCount":30,"totalTokenCount":205,
                "cachedContentTokenCount":100,"thoughtsTokenCount":50,"toolUsePromptTokenCount":5}"#,
        )
        .unwrap();
        let usage = wire.to_ir();
        assert_eq!(usage.input_tokens, 125);
        assert_eq!(usage.output_tokens, 80);
        assert_eq!(usage.cache_read_tokens, Some(100));
        assert_eq!(usage.reasoning_tokens, Some(50));
        assert_eq!(usage.cache_write_tokens, None);
        let out = serde_json::to_value(UsageOut::from_ir(&usage)).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"promptTokenCount":125,"candidatesTokenCount":30,
                "totalTokenCount":205,"cachedContentTokenCount":100,"thoughtsTokenCount":50})
        );
        let snake: WireUsage =
            serde_json::from_str(r#"{"prompt_token_count":3,"candidates_token_count":4}"#).unwrap();
        assert_eq!(snake.to_ir(), Usage::new(3, 4));
    }

    #[test]
    fn usage_encoding_saturates() {
        let mut usage = Usage::new(1, 2);
        usage.reasoning_tokens = Some(9);
        let out = UsageOut::from_ir(&usage);
        assert_eq!(out.candidates_token_count, 0);
        assert_eq!(out.total_token_count, 3);
    }

    #[test]
    fn finish_reasons_map_both_ways() {
        for (wire, ir) in [
            ("STOP", StopReason::EndTurn),
            ("MAX_TOKENS", StopReason::MaxTokens),
            ("SAFETY", StopReason::ContentFilter),
        ] {
            assert_eq!(stop_reason_from_wire(wire, false), Some(ir.clone()));
            assert_eq!(finish_reason_to_wire(&ir), wire);
        }
        assert_eq!(
            stop_reason_from_wire("STOP", true),
            Some(StopReason::ToolUse)
        );
        assert_eq!(
            stop_reason_from_wire("MAX_TOKENS", true),
            Some(StopReason::MaxTokens)
        );
        for filter in [
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
        ] {
            assert_eq!(
                stop_reason_from_wire(filter, false),
                Some(StopReason::ContentFilter)
            );
        }
        assert_eq!(
            stop_reason_from_wire("MALFORMED_FUNCTION_CALL", false),
            Some(StopReason::Error)
        );
        assert_eq!(
            stop_reason_from_wire("LANGUAGE", false),
            Some(StopReason::Other("LANGUAGE".into()))
        );
        assert_eq!(
            stop_reason_from_wire("FINISH_REASON_UNSPECIFIED", false),
            None
        );
        for (ir, wire) in [
            (StopReason::ToolUse, "STOP"),
            (StopReason::StopSequence, "STOP"),
            (StopReason::PauseTurn, "STOP"),
            (StopReason::Refusal, "SAFETY"),
            (StopReason::ContextWindowExceeded, "MAX_TOKENS"),
            (StopReason::Error, "OTHER"),
            (StopReason::Other("LANGUAGE".into()), "LANGUAGE"),
            (StopReason::Other("end_turn".into()), "STOP"),
        ] {
            assert_eq!(finish_reason_to_wire(&ir), wire, "{ir:?}");
        }
    }

    #[test]
    fn base64_is_checked_as_google_and_pydantic_check_it() {
        for ok in [
            "",
            "c2ln",
            "c2lnYQ",
            "c2lnYQ==",
            "c2lnYWI=",
            "ab+/",
            "ab-_",
            SKIP_SIGNATURE,
        ] {
            assert!(is_base64(ok), "{ok}");
        }
        for bad in ["a", "EqQBCgIYAh", "ab=c", "abc==", "a===", "ab c", "é"] {
            assert!(!is_base64(bad), "{bad}");
        }
    }

    #[test]
    fn derived_ids_are_recognised() {
        assert!(is_derived_id("gcall_0_1"));
        assert!(!is_derived_id("call_4162774"));
    }
}
