//! Anthropic Messages (`POST /v1/messages`).
//!
//! The IR was modelled on this format, so most of the mapping is one to one:
//! system prompt parts, content blocks (text, image, tool use and result,
//! thinking with its signature, redacted thinking), stop reasons and the
//! streaming event sequence. The differences the modules below handle:
//!
//! * **Usage.** Anthropic's `input_tokens` excludes cache reads and writes;
//!   the IR's includes them. Decoders add `cache_read_input_tokens` and
//!   `cache_creation_input_tokens`, encoders subtract them (saturating).
//!   Encoders always write both cache counts (0 when unknown), as Anthropic
//!   does, so clients that add them up never meet a missing field. The
//!   writes' split by lifetime (`cache_creation`) is read wherever it comes
//!   and written only when known: in a reply, `message_start` and
//!   `message_delta` (where the SDK's types do not declare it, but where a
//!   translated stream first knows it; the SDKs ignore it there).
//! * **Tool arguments.** Anthropic's `input` is a JSON object; the IR keeps
//!   the text. Encoders parse it, and write `{}` for empty or invalid text.
//! * **Strict alternation.** Anthropic wants user and assistant turns to
//!   alternate and tool results first in their user turn; the request encoder
//!   merges consecutive turns of the same role and reorders within a turn.
//! * **Streams.** Every frame has an `event:` line (the SDK ignores frames
//!   without one). Block indexes are renumbered by the decoder so skipped
//!   server-tool blocks leave no holes.
//!
//! The module does not know HTTP: the `anthropic-version` and `anthropic-beta`
//! headers are the server's concern.

pub mod count;
pub mod error;
pub mod request;
pub mod response;
pub mod stream;
mod wire;

pub use wire::AnthropicMessages;

use busbar_ir::{StopReason, Usage};
use serde::{Deserialize, Serialize};

/// The IR stop reason for an Anthropic `stop_reason`.
fn stop_reason_from_wire(reason: &str) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "pause_turn" => StopReason::PauseTurn,
        "refusal" => StopReason::Refusal,
        "model_context_window_exceeded" => StopReason::ContextWindowExceeded,
        other => StopReason::Other(other.to_owned()),
    }
}

/// The Anthropic `stop_reason` for an IR stop reason. The SDK validates the
/// value against a closed list, so reasons Anthropic lacks map to the nearest
/// one it has.
fn stop_reason_to_wire(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::PauseTurn => "pause_turn",
        StopReason::ContentFilter | StopReason::Refusal => "refusal",
        StopReason::ContextWindowExceeded => "model_context_window_exceeded",
        _ => "end_turn",
    }
}

/// `usage` as Anthropic reports it: in a reply, in `message_start` and in
/// `message_delta` (where every count is cumulative and all but
/// `output_tokens` may be absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct WireUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_creation: Option<CacheCreation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_tokens_details: Option<OutputTokensDetails>,
}

/// `cache_creation`: the cache writes by lifetime, whose sum is
/// `cache_creation_input_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: u64,
    #[serde(default)]
    ephemeral_1h_input_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct OutputTokensDetails {
    #[serde(default)]
    thinking_tokens: u64,
}

impl WireUsage {
    /// Anthropic's counts for IR usage: input without the cache counts.
    fn from_ir(usage: &Usage) -> Self {
        let cache_write = usage.cache_write_tokens.unwrap_or(0);
        Self {
            input_tokens: Some(usage.uncached_input_tokens()),
            output_tokens: usage.output_tokens,
            cache_creation_input_tokens: Some(cache_write),
            cache_read_input_tokens: Some(usage.cache_read_tokens.unwrap_or(0)),
            cache_creation: usage.cache_write_1h_tokens.map(|one_hour| CacheCreation {
                ephemeral_5m_input_tokens: cache_write.saturating_sub(one_hour),
                ephemeral_1h_input_tokens: one_hour,
            }),
            output_tokens_details: usage
                .reasoning_tokens
                .map(|thinking_tokens| OutputTokensDetails { thinking_tokens }),
        }
    }

    /// IR usage for Anthropic's counts: input including the cache counts.
    /// Without `cache_creation_input_tokens`, a `cache_creation` split
    /// gives the writes.
    fn to_ir(self) -> Usage {
        let cache_write = self
            .cache_creation_input_tokens
            .or(self.cache_creation.map(|c| {
                c.ephemeral_5m_input_tokens
                    .saturating_add(c.ephemeral_1h_input_tokens)
            }));
        let mut usage = Usage::new(
            self.input_tokens
                .unwrap_or(0)
                .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
                .saturating_add(cache_write.unwrap_or(0)),
            self.output_tokens,
        );
        usage.cache_read_tokens = self.cache_read_input_tokens;
        usage.cache_write_tokens = cache_write;
        usage.cache_write_1h_tokens = self.cache_creation.map(|c| c.ephemeral_1h_input_tokens);
        usage.reasoning_tokens = self.output_tokens_details.map(|d| d.thinking_tokens);
        usage
    }

    /// Folds a later cumulative report into this one: counts it carries
    /// replace these, counts it lacks are kept.
    fn merge(&mut self, later: &WireUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens;
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation = later.cache_creation.or(self.cache_creation);
        self.output_tokens_details = later.output_tokens_details.or(self.output_tokens_details);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_input_includes_cache_counts_in_the_ir_and_excludes_them_on_the_wire() {
        let wire = WireUsage {
            input_tokens: Some(10),
            output_tokens: 7,
            cache_creation_input_tokens: Some(30),
            cache_read_input_tokens: Some(60),
            cache_creation: None,
            output_tokens_details: Some(OutputTokensDetails { thinking_tokens: 3 }),
        };
        let ir = wire.to_ir();
        assert_eq!(ir.input_tokens, 100);
        assert_eq!(ir.output_tokens, 7);
        assert_eq!(ir.cache_read_tokens, Some(60));
        assert_eq!(ir.cache_write_tokens, Some(30));
        assert_eq!(ir.cache_write_1h_tokens, None);
        assert_eq!(ir.reasoning_tokens, Some(3));
        assert_eq!(WireUsage::from_ir(&ir), wire);
    }

    #[test]
    fn the_cache_writes_split_by_lifetime_both_ways() {
        let wire: WireUsage = serde_json::from_str(
            r#"{"input_tokens":10,"output_tokens":7,"cache_creation_input_tokens":30,
                "cache_read_input_tokens":0,
                "cache_creation":{"ephemeral_5m_input_tokens":12,"ephemeral_1h_input_tokens":18}}"#,
        )
        .unwrap();
        let ir = wire.to_ir();
        assert_eq!(ir.input_tokens, 40);
        assert_eq!(ir.cache_write_tokens, Some(30));
        assert_eq!(ir.cache_write_1h_tokens, Some(18));
        assert_eq!(WireUsage::from_ir(&ir), wire);
        // The split alone gives the writes.
        let split: WireUsage = serde_json::from_str(
            r#"{"input_tokens":1,"output_tokens":0,
                "cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":3}}"#,
        )
        .unwrap();
        let ir = split.to_ir();
        assert_eq!((ir.input_tokens, ir.cache_write_tokens), (6, Some(5)));
        assert_eq!(ir.cache_write_1h_tokens, Some(3));
        // A later report without the split keeps the earlier one.
        let mut merged = wire;
        merged.merge(&WireUsage {
            output_tokens: 9,
            ..WireUsage::default()
        });
        assert_eq!(merged.to_ir().cache_write_1h_tokens, Some(18));
    }

    #[test]
    fn usage_encoding_saturates_and_always_writes_cache_counts() {
        let mut ir = Usage::new(5, 1);
        ir.cache_read_tokens = Some(9);
        let wire = WireUsage::from_ir(&ir);
        assert_eq!(wire.input_tokens, Some(0));
        assert_eq!(wire.cache_creation_input_tokens, Some(0));
        assert_eq!(wire.cache_creation, None);
        assert_eq!(wire.to_ir().cache_write_tokens, Some(0));
        assert_eq!(wire.to_ir().input_tokens, 9);
        let json = serde_json::to_string(&WireUsage::from_ir(&Usage::new(4, 2))).unwrap();
        assert_eq!(
            json,
            r#"{"input_tokens":4,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}"#
        );
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        for (wire, ir) in [
            ("end_turn", StopReason::EndTurn),
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::StopSequence),
            ("tool_use", StopReason::ToolUse),
            ("pause_turn", StopReason::PauseTurn),
            ("refusal", StopReason::Refusal),
            (
                "model_context_window_exceeded",
                StopReason::ContextWindowExceeded,
            ),
        ] {
            assert_eq!(stop_reason_from_wire(wire), ir);
            assert_eq!(stop_reason_to_wire(&ir), wire);
        }
        assert_eq!(stop_reason_to_wire(&StopReason::ContentFilter), "refusal");
        assert_eq!(stop_reason_to_wire(&StopReason::Error), "end_turn");
        assert_eq!(
            stop_reason_to_wire(&StopReason::Other("x".into())),
            "end_turn"
        );
        assert_eq!(
            stop_reason_from_wire("new_reason"),
            StopReason::Other("new_reason".into())
        );
    }
}
