//! Cohere Chat v2 (`POST /v2/chat`).
//!
//! The format is OpenAI-like in its request (role messages, function tools
//! with arguments as JSON text) and block-based in its stream. The choices
//! the modules below make where Cohere and the IR differ:
//!
//! * **Tool plans.** Cohere writes the text a model produces before its tool
//!   calls in `tool_plan` rather than in `content`. Decoders turn a non-empty
//!   `tool_plan` into an IR text block placed after the message's `content`
//!   blocks and before its tool calls (where the plan streams: after any
//!   thinking, before `tool-call-start`). Request and reply encoders write
//!   the text of a turn holding tool calls as `tool_plan` (all its text
//!   blocks joined), which is what Cohere's own tool loop sends back. The
//!   stream encoder cannot know whether tool calls will follow a text block,
//!   so it streams text as `content-*` events; both shapes decode to the same
//!   IR.
//! * **Thinking.** Reasoning models return `{type: thinking, thinking}`
//!   content, decoded as IR thinking blocks without a signature (Cohere has
//!   none). Signatures and redacted thinking from other vendors are dropped.
//! * **Usage.** IR input tokens are `usage.tokens.input_tokens` (else
//!   `billed_units.input_tokens`), cache reads are `cached_tokens`. Encoders
//!   write `billed_units` and `tokens` with the same counts.
//! * **Model.** Cohere replies do not name the model: decoded replies have an
//!   empty `model`, and encoders leave the IR model out.
//! * **Streams.** Frames are `event: TYPE` + `data: {"type": TYPE, …}`; the
//!   stream ends with `message-end` and then `data: [DONE]`, which the SDK
//!   stops on. A failure during generation is reported by Cohere as a
//!   `message-end` whose `delta.error` holds the message (and
//!   `finish_reason` `ERROR`): the decoder turns that into an IR error and
//!   the encoder writes IR errors that way, which the SDK surfaces as
//!   `event.delta.error` (it raises for nothing inside a 200 stream).
//!
//! The request, response, stream and error modules document the rest.

pub mod error;
pub mod request;
pub mod response;
pub mod stream;
mod wire;

pub use wire::CohereChat;

use busbar_ir::{StopReason, Usage};
use serde::{Deserialize, Deserializer, Serialize};

/// The IR stop reason for a Cohere `finish_reason`. `TIMEOUT` has no IR
/// counterpart and is kept in Cohere's words.
fn stop_reason_from_wire(reason: &str) -> StopReason {
    match reason {
        "COMPLETE" => StopReason::EndTurn,
        "STOP_SEQUENCE" => StopReason::StopSequence,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "TOOL_CALL" => StopReason::ToolUse,
        "ERROR" => StopReason::Error,
        other => StopReason::Other(other.to_owned()),
    }
}

/// The Cohere `finish_reason` for an IR stop reason. A reply holding tool
/// calls reports `TOOL_CALL` even when the upstream said it simply ended
/// (Gemini does), because Cohere clients run their tool loop on that value.
/// Reasons Cohere lacks (content filter, refusal, pause) end as `COMPLETE`.
fn finish_reason_to_wire(reason: Option<&StopReason>, has_tool_calls: bool) -> &'static str {
    match reason {
        Some(StopReason::StopSequence) => "STOP_SEQUENCE",
        Some(StopReason::MaxTokens | StopReason::ContextWindowExceeded) => "MAX_TOKENS",
        Some(StopReason::ToolUse) => "TOOL_CALL",
        Some(StopReason::Error) => "ERROR",
        Some(StopReason::Other(other)) if other == "TIMEOUT" => "TIMEOUT",
        _ if has_tool_calls => "TOOL_CALL",
        _ => "COMPLETE",
    }
}

/// `usage` as Cohere reports it, in replies and in `message-end`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct WireUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    billed_units: Option<WireCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<WireCounts>,
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct WireCounts {
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    input_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    output_tokens: Option<u64>,
}

impl WireUsage {
    /// Cohere's counts for IR usage: billed and actual tokens alike.
    fn from_ir(usage: &Usage) -> Self {
        let counts = WireCounts {
            input_tokens: Some(usage.input_tokens),
            output_tokens: Some(usage.output_tokens),
        };
        Self {
            billed_units: Some(counts),
            tokens: Some(counts),
            cached_tokens: usage.cache_read_tokens,
        }
    }

    /// IR usage: the actual token counts, else the billed ones.
    fn to_ir(self) -> Usage {
        let tokens = self.tokens.unwrap_or_default();
        let billed = self.billed_units.unwrap_or_default();
        let mut usage = Usage::new(
            tokens.input_tokens.or(billed.input_tokens).unwrap_or(0),
            tokens.output_tokens.or(billed.output_tokens).unwrap_or(0),
        );
        usage.cache_read_tokens = self.cached_tokens;
        usage
    }
}

/// A token count. Cohere's schema types counts as JSON numbers and the SDK
/// as floats, so `12.0` is read as 12; a negative or fractional count, or
/// `null`, reads as absent rather than failing the whole reply.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<serde_json::Number>::deserialize(deserializer)?;
    Ok(value.and_then(|number| {
        number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        })
    }))
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What Cohere Chat v2 can say, for the shared proptest strategies.
#[cfg(test)]
pub(crate) fn capabilities() -> crate::testing::Capabilities {
    use crate::testing::{Capabilities, Count};
    Capabilities {
        system_parts: true,
        // Generated with signatures, which the tests strip: Cohere has none.
        thinking: true,
        redacted_thinking: false,
        interleaved_blocks: false,
        image_urls: true,
        image_detail: true,
        rich_tool_results: false,
        tool_result_errors: false,
        // `strict_tools` is one switch for all tools, tested on its own.
        tool_strict: false,
        top_k: true,
        seed: true,
        penalties: true,
        user: false,
        parallel_tool_calls: false,
        response_format: true,
        reasoning_effort: false,
        reasoning_budget: true,
        stop_reasons: &[
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::StopSequence,
            StopReason::ToolUse,
            StopReason::Error,
        ],
        stop_sequence: false,
        created: false,
        cache_read: Count::Maybe,
        cache_write: Count::Never,
        cache_write_1h: Count::Never,
        reasoning_tokens: Count::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_map_both_ways() {
        for (wire, ir) in [
            ("COMPLETE", StopReason::EndTurn),
            ("STOP_SEQUENCE", StopReason::StopSequence),
            ("MAX_TOKENS", StopReason::MaxTokens),
            ("TOOL_CALL", StopReason::ToolUse),
            ("ERROR", StopReason::Error),
            ("TIMEOUT", StopReason::Other("TIMEOUT".into())),
        ] {
            assert_eq!(stop_reason_from_wire(wire), ir);
            assert_eq!(finish_reason_to_wire(Some(&ir), false), wire);
        }
    }

    #[test]
    fn reasons_cohere_lacks_map_to_the_nearest() {
        let to = |reason: StopReason| finish_reason_to_wire(Some(&reason), false);
        assert_eq!(to(StopReason::ContextWindowExceeded), "MAX_TOKENS");
        assert_eq!(to(StopReason::ContentFilter), "COMPLETE");
        assert_eq!(to(StopReason::Refusal), "COMPLETE");
        assert_eq!(to(StopReason::PauseTurn), "COMPLETE");
        assert_eq!(to(StopReason::Other("x".into())), "COMPLETE");
        assert_eq!(finish_reason_to_wire(None, false), "COMPLETE");
        // Tool calls that "simply ended" still tell the client to run them.
        assert_eq!(
            finish_reason_to_wire(Some(&StopReason::EndTurn), true),
            "TOOL_CALL"
        );
        assert_eq!(finish_reason_to_wire(None, true), "TOOL_CALL");
        assert_eq!(
            finish_reason_to_wire(Some(&StopReason::MaxTokens), true),
            "MAX_TOKENS"
        );
    }

    #[test]
    fn usage_reads_actual_tokens_then_billed_ones() {
        let wire: WireUsage = serde_json::from_str(
            r#"{"billed_units":{"input_tokens":5,"output_tokens":26},
                "tokens":{"input_tokens":71,"output_tokens":26.0},"cached_tokens":64}"#,
        )
        .unwrap();
        let usage = wire.to_ir();
        assert_eq!((usage.input_tokens, usage.output_tokens), (71, 26));
        assert_eq!(usage.cache_read_tokens, Some(64));
        assert_eq!(usage.cache_write_tokens, None);
        let billed_only: WireUsage =
            serde_json::from_str(r#"{"billed_units":{"input_tokens":5,"output_tokens":2}}"#)
                .unwrap();
        assert_eq!(billed_only.to_ir(), Usage::new(5, 2));
        let odd: WireUsage = serde_json::from_str(
            r#"{"tokens":{"input_tokens":-1,"output_tokens":1.5},"cached_tokens":null}"#,
        )
        .unwrap();
        assert_eq!(odd.to_ir(), Usage::new(0, 0));
    }

    #[test]
    fn usage_writes_billed_and_actual_counts() {
        let mut usage = Usage::new(10, 3);
        let json = serde_json::to_string(&WireUsage::from_ir(&usage)).unwrap();
        assert_eq!(
            json,
            r#"{"billed_units":{"input_tokens":10,"output_tokens":3},"tokens":{"input_tokens":10,"output_tokens":3}}"#
        );
        usage.cache_read_tokens = Some(4);
        let wire = WireUsage::from_ir(&usage);
        assert_eq!(wire.cached_tokens, Some(4));
        assert_eq!(wire.to_ir(), usage);
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
