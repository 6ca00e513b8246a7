//! OpenAI Chat Completions (`POST /v1/chat/completions`), the format most
//! OpenAI-compatible vendors (Groq, Together, DeepSeek, vLLM, …) also speak.
//!
//! * [`request`] — the request body ⇄ [`busbar_ir::Request`]. System and
//!   developer messages become system messages in place
//!   ([`busbar_ir::Request::system_prompt`]); `tool` messages
//!   become user turns of [`busbar_ir::ContentBlock::ToolResult`]s. Egress
//!   always writes `max_completion_tokens` and, when streaming, asks for usage.
//! * [`response`] — `chat.completion` ⇄ [`busbar_ir::Response`]; the
//!   DeepSeek/vLLM `reasoning_content` becomes a thinking block.
//! * [`stream`] — `chat.completion.chunk` SSE frames ending in `data: [DONE]`
//!   ⇄ [`busbar_ir::StreamEvent`]s. Tool-call `index` counts tool calls.
//! * [`error`] — `{"error":{"message","type","param","code"}}` ⇄
//!   [`busbar_ir::ApiError`].
//!
//! Choice `n` > 1 has no home in the IR: only the first choice is read.

use busbar_ir::{StopReason, Usage};
use serde::{Deserialize, Serialize};

pub mod error;
pub mod request;
pub mod response;
pub mod stream;
mod wire;

pub use wire::OpenAiChat;

/// The IR stop reason for an OpenAI `finish_reason`.
fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        // OpenRouter's finish reason for a generation that failed mid-way.
        "error" => StopReason::Error,
        other => StopReason::Other(other.to_owned()),
    }
}

/// The OpenAI `finish_reason` for an IR stop reason. A reply holding tool
/// calls reports `tool_calls` even when the upstream said it simply ended
/// (Gemini does), because OpenAI clients run their tool loop on that value.
fn finish_reason(stop: Option<&StopReason>, has_tool_calls: bool) -> &'static str {
    match stop {
        Some(StopReason::MaxTokens | StopReason::ContextWindowExceeded) => "length",
        Some(StopReason::ToolUse) => "tool_calls",
        Some(StopReason::ContentFilter | StopReason::Refusal) => "content_filter",
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// The stop reason and matched stop sequence of a choice. vLLM reports the
/// stop string that matched in a `stop_reason` beside `finish_reason`.
fn choice_stop(
    finish_reason: Option<&str>,
    matched: Option<&serde_json::Value>,
) -> (Option<StopReason>, Option<String>) {
    match (finish_reason, matched) {
        (Some("stop"), Some(serde_json::Value::String(sequence))) => {
            (Some(StopReason::StopSequence), Some(sequence.clone()))
        }
        (Some(reason), _) => (Some(stop_reason(reason)), None),
        (None, _) => (None, None),
    }
}

/// `usage` as OpenAI and its imitators report it. Counts are optional
/// because some compatible vendors send `null` for the ones they lack.
#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<WireCompletionDetails>,
    /// DeepSeek's name for cache reads.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct WireCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(wire: WireUsage) -> Self {
        let prompt = wire.prompt_tokens_details.unwrap_or_default();
        let completion = wire.completion_tokens_details.unwrap_or_default();
        let mut usage = Usage::new(
            wire.prompt_tokens.unwrap_or(0),
            wire.completion_tokens.unwrap_or(0),
        );
        usage.cache_read_tokens = prompt.cached_tokens.or(wire.prompt_cache_hit_tokens);
        usage.cache_write_tokens = prompt.cache_write_tokens;
        usage.reasoning_tokens = completion.reasoning_tokens;
        usage
    }
}

/// `usage` as Busbar writes it: every count present, as OpenAI does, so
/// strict clients find the detail objects they expect.
#[derive(Debug, Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetailsOut,
    completion_tokens_details: CompletionDetailsOut,
}

#[derive(Debug, Serialize)]
struct PromptDetailsOut {
    cached_tokens: u64,
    cache_write_tokens: u64,
}

#[derive(Debug, Serialize)]
struct CompletionDetailsOut {
    reasoning_tokens: u64,
}

impl From<&Usage> for UsageOut {
    fn from(usage: &Usage) -> Self {
        Self {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens(),
            prompt_tokens_details: PromptDetailsOut {
                cached_tokens: usage.cache_read_tokens.unwrap_or(0),
                cache_write_tokens: usage.cache_write_tokens.unwrap_or(0),
            },
            completion_tokens_details: CompletionDetailsOut {
                reasoning_tokens: usage.reasoning_tokens.unwrap_or(0),
            },
        }
    }
}

/// Tool-call arguments as text: OpenAI sends a JSON string, but some
/// compatible vendors send the object itself.
fn arguments_text(arguments: Option<serde_json::Value>) -> String {
    match arguments {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text,
        Some(other) => other.to_string(),
    }
}

/// What Chat Completions carries losslessly, for the shared proptest
/// strategies: one system string, one text block before the tool calls, no
/// thinking, text-only tool results, the four finish reasons, every usage
/// count (always written).
#[cfg(test)]
pub(crate) fn capabilities() -> crate::testing::Capabilities {
    use crate::testing::{Capabilities, Count};
    Capabilities {
        system_parts: false,
        thinking: false,
        redacted_thinking: false,
        interleaved_blocks: false,
        image_urls: true,
        image_detail: true,
        rich_tool_results: false,
        tool_result_errors: false,
        tool_strict: true,
        top_k: false,
        seed: true,
        penalties: true,
        user: true,
        parallel_tool_calls: true,
        response_format: true,
        reasoning_effort: true,
        reasoning_budget: false,
        stop_reasons: &[
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::ToolUse,
            StopReason::ContentFilter,
        ],
        stop_sequence: false,
        created: true,
        cache_read: Count::Always,
        cache_write: Count::Always,
        cache_write_1h: Count::Never,
        reasoning_tokens: Count::Always,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_map_both_ways() {
        for (wire, ir) in [
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
            ("tool_calls", StopReason::ToolUse),
            ("content_filter", StopReason::ContentFilter),
        ] {
            assert_eq!(stop_reason(wire), ir);
            assert_eq!(finish_reason(Some(&ir), false), wire);
        }
        assert_eq!(stop_reason("function_call"), StopReason::ToolUse);
        assert_eq!(stop_reason("error"), StopReason::Error);
        assert_eq!(stop_reason("eos"), StopReason::Other("eos".into()));
    }

    #[test]
    fn stop_reasons_openai_lacks_fold_onto_its_four() {
        let cases = [
            (StopReason::StopSequence, "stop"),
            (StopReason::Refusal, "content_filter"),
            (StopReason::ContextWindowExceeded, "length"),
            (StopReason::PauseTurn, "stop"),
            (StopReason::Error, "stop"),
            (StopReason::Other("x".into()), "stop"),
        ];
        for (ir, wire) in cases {
            assert_eq!(finish_reason(Some(&ir), false), wire, "{ir:?}");
        }
        assert_eq!(finish_reason(None, false), "stop");
        assert_eq!(
            finish_reason(Some(&StopReason::EndTurn), true),
            "tool_calls"
        );
        assert_eq!(finish_reason(Some(&StopReason::MaxTokens), true), "length");
    }

    #[test]
    fn vllm_stop_strings_become_stop_sequences() {
        let matched = serde_json::json!("END");
        assert_eq!(
            choice_stop(Some("stop"), Some(&matched)),
            (Some(StopReason::StopSequence), Some("END".into()))
        );
        let token = serde_json::json!(128009);
        assert_eq!(
            choice_stop(Some("stop"), Some(&token)),
            (Some(StopReason::EndTurn), None)
        );
    }

    #[test]
    fn usage_reads_cache_and_reasoning_details() {
        let wire: WireUsage = serde_json::from_str(
            r#"{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
                "prompt_tokens_details":{"cached_tokens":60,"cache_write_tokens":30},
                "completion_tokens_details":{"reasoning_tokens":12}}"#,
        )
        .unwrap();
        let usage = Usage::from(wire);
        assert_eq!((usage.input_tokens, usage.output_tokens), (100, 20));
        assert_eq!(usage.cache_read_tokens, Some(60));
        assert_eq!(usage.cache_write_tokens, Some(30));
        assert_eq!(usage.reasoning_tokens, Some(12));
        let deepseek: WireUsage = serde_json::from_str(
            r#"{"prompt_tokens":9,"completion_tokens":null,"prompt_cache_hit_tokens":4}"#,
        )
        .unwrap();
        let usage = Usage::from(deepseek);
        assert_eq!((usage.input_tokens, usage.output_tokens), (9, 0));
        assert_eq!(usage.cache_read_tokens, Some(4));
    }

    #[test]
    fn usage_out_writes_every_count() {
        let out = serde_json::to_string(&UsageOut::from(&Usage::new(3, 4))).unwrap();
        assert_eq!(
            out,
            r#"{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}"#
        );
    }
}
