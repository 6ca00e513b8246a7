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
//!   all input plus output. `cacheDetails` splits the writes by lifetime
//!   (`[{ttl: "1h"|"5m", inputTokens}]`, 1h first); it is read into the
//!   IR's 1-hour count and written only when that is known.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_details: Option<CacheDetails>,
}

/// `cacheDetails`, the cache writes by lifetime: those of 1 hour, and the
/// rest (`5m`, and any lifetime newer than this code, charged as 5 minutes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<WireCacheDetail>", into = "Vec<WireCacheDetail>")]
struct CacheDetails {
    one_hour: u64,
    rest: u64,
}

impl CacheDetails {
    /// Counts `tokens` written with lifetime `ttl`.
    fn add(&mut self, ttl: &str, tokens: u64) {
        let class = if ttl == "1h" {
            &mut self.one_hour
        } else {
            &mut self.rest
        };
        *class = class.saturating_add(tokens);
    }
}

/// One entry of `cacheDetails`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCacheDetail {
    ttl: String,
    #[serde(default)]
    input_tokens: u64,
}

impl From<Vec<WireCacheDetail>> for CacheDetails {
    fn from(entries: Vec<WireCacheDetail>) -> Self {
        let mut details = CacheDetails::default();
        for entry in entries {
            details.add(&entry.ttl, entry.input_tokens);
        }
        details
    }
}

/// As Bedrock writes them: 1h before 5m, a lifetime with no writes left
/// out (no writes at all is an empty list).
impl From<CacheDetails> for Vec<WireCacheDetail> {
    fn from(details: CacheDetails) -> Self {
        [("1h", details.one_hour), ("5m", details.rest)]
            .into_iter()
            .filter(|&(_, tokens)| tokens > 0)
            .map(|(ttl, input_tokens)| WireCacheDetail {
                ttl: ttl.to_owned(),
                input_tokens,
            })
            .collect()
    }
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
            cache_details: usage.cache_write_1h_tokens.map(|one_hour| CacheDetails {
                one_hour,
                rest: usage
                    .cache_write_tokens
                    .unwrap_or(0)
                    .saturating_sub(one_hour),
            }),
        }
    }

    /// IR usage for Bedrock's counts: input including the cache counts.
    /// Without `cacheWriteInputTokens`, `cacheDetails` gives the writes.
    fn to_ir(self) -> Usage {
        let cache_write = self.cache_write_input_tokens.or(self
            .cache_details
            .map(|details| details.one_hour.saturating_add(details.rest)));
        let mut usage = Usage::new(
            self.input_tokens
                .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
                .saturating_add(cache_write.unwrap_or(0)),
            self.output_tokens,
        );
        usage.cache_read_tokens = self.cache_read_input_tokens;
        usage.cache_write_tokens = cache_write;
        usage.cache_write_1h_tokens = self.cache_details.map(|details| details.one_hour);
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
        cache_write_1h: Count::Maybe,
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
    fn the_cache_writes_split_by_lifetime_both_ways() {
        let wire: WireUsage = serde_json::from_str(
            r#"{"inputTokens":10,"outputTokens":7,"totalTokens":57,"cacheWriteInputTokens":40,
                "cacheDetails":[{"ttl":"1h","inputTokens":25},{"ttl":"5m","inputTokens":15}]}"#,
        )
        .unwrap();
        let ir = wire.to_ir();
        assert_eq!(ir.input_tokens, 50);
        assert_eq!(ir.cache_write_tokens, Some(40));
        assert_eq!(ir.cache_write_1h_tokens, Some(25));
        assert_eq!(WireUsage::from_ir(&ir), wire);
        let json = serde_json::to_value(WireUsage::from_ir(&ir)).unwrap();
        assert_eq!(
            json["cacheDetails"],
            serde_json::json!([{"ttl": "1h", "inputTokens": 25}, {"ttl": "5m", "inputTokens": 15}])
        );
        // No writes: an empty list, read back as no 1-hour writes.
        let mut none = Usage::new(3, 1);
        none.cache_write_tokens = Some(0);
        none.cache_write_1h_tokens = Some(0);
        let json = serde_json::to_value(WireUsage::from_ir(&none)).unwrap();
        assert_eq!(json["cacheDetails"], serde_json::json!([]));
        // The details alone give the writes; an unknown lifetime is not 1h.
        let details: WireUsage = serde_json::from_str(
            r#"{"inputTokens":1,"cacheDetails":[{"ttl":"1h","inputTokens":2},{"ttl":"24h","inputTokens":3}]}"#,
        )
        .unwrap();
        let ir = details.to_ir();
        assert_eq!((ir.input_tokens, ir.cache_write_tokens), (6, Some(5)));
        assert_eq!(ir.cache_write_1h_tokens, Some(2));
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
