//! Amazon Bedrock Converse (`POST /model/{modelId}/converse` and
//! `/converse-stream`).
//!
//! Converse is close to Anthropic Messages in JSON clothes of its own: a
//! content block is an object with exactly one member naming its kind
//! (`{"text": …}`, `{"toolUse": {…}}`, `{"reasoningContent": {…}}`), and
//! every other union (tool choice, image source, stream deltas) is built the
//! same way. botocore refuses a reply union with more or fewer than one
//! member, so the encoders never write an empty one. What the modules below
//! handle:
//!
//! * **The model is not in the body.** The route names it; request decoding
//!   leaves [`busbar_ir::Request::model`] empty and the server fills it in.
//!   Replies carry no id or model either: decoded ones have both empty.
//! * **Usage.** Bedrock's `inputTokens` excludes cache reads and writes
//!   (AWS's prompt-caching guide: total input = `inputTokens` +
//!   `cacheReadInputTokens` + `cacheWriteInputTokens`), while `totalTokens`
//!   counts them. The IR's input includes them: decoders add the cache
//!   counts, encoders subtract them (saturating) and write `totalTokens` as
//!   all input plus output.
//! * **Tool arguments** are a JSON object (`input`) on the wire and text in
//!   the IR, as for Anthropic.
//! * **Names and ids.** Bedrock accepts tool names matching
//!   `[a-zA-Z0-9_-]{1,64}` and tool-use ids matching `[a-zA-Z0-9_.:-]{1,64}`;
//!   the request encoder rewrites others deterministically (see
//!   [`request::encode`]).
//! * **Streams** are AWS event-stream frames ([`eventstream`]), not SSE.
//!   Bedrock opens only tool-use blocks with `contentBlockStart`; text and
//!   reasoning blocks begin with their first delta, so the decoder opens
//!   them there. Usage arrives in a `metadata` event after `messageStop`.
//! * **Errors** are named by the `x-amzn-errortype` header (and by
//!   `:exception-type` inside a stream), the body holding only a `message`.
//!
//! Authentication (SigV4 or a bearer key) is the server's concern.

pub mod count;
pub mod error;
pub mod eventstream;
pub mod request;
pub mod response;
pub mod stream;
mod wire;

pub use wire::BedrockConverse;

mod content;
mod fields;

use busbar_ir::{StopReason, Usage};
use serde::{Deserialize, Serialize};

/// Every `stopReason` Bedrock documents.
const STOP_REASONS: [&str; 9] = [
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
];

/// The IR stop reason for a Bedrock `stopReason`. Both filters (a guardrail
/// and the model's own) are content filters; both malformed-output reasons
/// are errors.
fn stop_reason_from_wire(reason: &str) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        "malformed_model_output" | "malformed_tool_use" => StopReason::Error,
        "model_context_window_exceeded" => StopReason::ContextWindowExceeded,
        other => StopReason::Other(other.to_owned()),
    }
}

/// The Bedrock `stopReason` for an IR stop reason: a refusal is a filtered
/// reply, an error is malformed output, and a reason Bedrock lacks (or an
/// unknown one) ends the turn.
fn stop_reason_to_wire(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ContentFilter | StopReason::Refusal => "content_filtered",
        StopReason::ContextWindowExceeded => "model_context_window_exceeded",
        StopReason::Error => "malformed_model_output",
        StopReason::Other(other) => STOP_REASONS
            .into_iter()
            .find(|known| known == other)
            .unwrap_or("end_turn"),
        _ => "end_turn",
    }
}

/// `usage` as Bedrock reports it, in a reply and in a stream's `metadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_write_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Bedrock's counts for IR usage: input without the cache counts, total
    /// with them.
    fn from_ir(usage: &Usage) -> Self {
        Self {
            input_tokens: usage.uncached_input_tokens(),
            output_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens(),
            cache_read_input_tokens: usage.cache_read_tokens,
            cache_write_input_tokens: usage.cache_write_tokens,
        }
    }

    /// IR usage for Bedrock's counts: input including the cache counts.
    fn to_ir(self) -> Usage {
        let mut usage = Usage::new(
            self.input_tokens
                .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
                .saturating_add(self.cache_write_input_tokens.unwrap_or(0)),
            self.output_tokens,
        );
        usage.cache_read_tokens = self.cache_read_input_tokens;
        usage.cache_write_tokens = self.cache_write_input_tokens;
        usage
    }
}

/// `metrics` of a reply or a stream's `metadata`. Busbar does not time the
/// upstream on the client's behalf, so it always reports 0.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireMetrics {
    latency_ms: u64,
}

const NO_METRICS: WireMetrics = WireMetrics { latency_ms: 0 };

#[cfg(test)]
#[allow(clippy::needless_update)]
pub(crate) fn capabilities() -> crate::testing::Capabilities {
    use crate::testing::{Capabilities, Count};
    Capabilities {
        system_parts: true,
        thinking: true,
        redacted_thinking: true,
        interleaved_blocks: true,
        image_urls: false,
        image_detail: false,
        rich_tool_results: true,
        tool_result_errors: true,
        tool_strict: true,
        top_k: true,
        seed: false,
        penalties: false,
        user: false,
        parallel_tool_calls: false,
        response_format: true,
        // An effort level becomes a thinking budget on the way out.
        reasoning_effort: false,
        reasoning_budget: true,
        stop_reasons: &[
            StopReason::EndTurn,
            StopReason::ToolUse,
            StopReason::MaxTokens,
            StopReason::StopSequence,
            StopReason::ContentFilter,
            StopReason::ContextWindowExceeded,
            StopReason::Error,
        ],
        stop_sequence: false,
        created: false,
        cache_read: Count::Maybe,
        cache_write: Count::Maybe,
        reasoning_tokens: Count::Never,
        // Fields added to `Capabilities` later keep OpenAI's value until
        // this list names them.
        ..crate::openai::capabilities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_input_includes_cache_counts_in_the_ir_and_excludes_them_on_the_wire() {
        let wire: WireUsage = serde_json::from_str(
            r#"{"inputTokens":10,"outputTokens":7,"totalTokens":107,
                "cacheReadInputTokens":60,"cacheWriteInputTokens":30}"#,
        )
        .unwrap();
        let ir = wire.to_ir();
        assert_eq!(ir.input_tokens, 100);
        assert_eq!(ir.output_tokens, 7);
        assert_eq!(ir.cache_read_tokens, Some(60));
        assert_eq!(ir.cache_write_tokens, Some(30));
        assert_eq!(WireUsage::from_ir(&ir), wire);
    }

    #[test]
    fn usage_encoding_saturates_and_writes_cache_counts_only_when_known() {
        let mut ir = Usage::new(5, 1);
        ir.cache_read_tokens = Some(9);
        let wire = WireUsage::from_ir(&ir);
        assert_eq!((wire.input_tokens, wire.total_tokens), (0, 6));
        let json = serde_json::to_string(&WireUsage::from_ir(&Usage::new(4, 2))).unwrap();
        assert_eq!(
            json,
            r#"{"inputTokens":4,"outputTokens":2,"totalTokens":6}"#
        );
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        for (wire, ir) in [
            ("end_turn", StopReason::EndTurn),
            ("tool_use", StopReason::ToolUse),
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::StopSequence),
            ("content_filtered", StopReason::ContentFilter),
            ("malformed_model_output", StopReason::Error),
            (
                "model_context_window_exceeded",
                StopReason::ContextWindowExceeded,
            ),
        ] {
            assert_eq!(stop_reason_from_wire(wire), ir);
            assert_eq!(stop_reason_to_wire(&ir), wire);
        }
        assert_eq!(
            stop_reason_from_wire("guardrail_intervened"),
            StopReason::ContentFilter
        );
        assert_eq!(
            stop_reason_from_wire("malformed_tool_use"),
            StopReason::Error
        );
        assert_eq!(
            stop_reason_to_wire(&StopReason::Refusal),
            "content_filtered"
        );
        assert_eq!(stop_reason_to_wire(&StopReason::PauseTurn), "end_turn");
        assert_eq!(
            stop_reason_from_wire("brand_new"),
            StopReason::Other("brand_new".into())
        );
        assert_eq!(
            stop_reason_to_wire(&StopReason::Other("brand_new".into())),
            "end_turn"
        );
        // A reason another format did not know but Bedrock does survives.
        assert_eq!(
            stop_reason_to_wire(&StopReason::Other("guardrail_intervened".into())),
            "guardrail_intervened"
        );
    }
}
