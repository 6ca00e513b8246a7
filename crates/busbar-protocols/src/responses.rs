//! OpenAI Responses (`POST /v1/responses`).
//!
//! * [`request`] — the request body ⇄ [`busbar_ir::Request`]. `instructions`
//!   is the system prompt and system/developer items system messages in
//!   place ([`busbar_ir::Request::system_prompt`]);
//!   `function_call` and `function_call_output` items become tool calls and
//!   tool results. Busbar translates statelessly: `previous_response_id`,
//!   `conversation`, `prompt` and `background` are named, not honoured.
//! * [`response`] — the `response` object ⇄ [`busbar_ir::Response`].
//! * [`stream`] — typed Server-Sent Events (`response.created` …
//!   `response.completed`) ⇄ [`busbar_ir::StreamEvent`]s.
//! * [`error`] — the OpenAI error body, shared with Chat Completions.
//!
//! # Namespace tools
//!
//! A `namespace` tool groups function tools under a name (Codex sends its
//! sub-agent and MCP tools so). Other formats have no groups, so each
//! function in one becomes a plain IR tool named `NAMESPACE__NAME`, and a
//! `function_call` item's `namespace` joins its name the same way. On the
//! way back to a Responses client, a call whose name starts with one of the
//! request's namespaces and `__` is written as `{namespace, name}` again
//! ([`crate::ReplyOptions::tool_namespaces`]).
//!
//! # Reasoning items and thinking blocks
//!
//! A `reasoning` item becomes a [`ContentBlock::Thinking`] whose text is the
//! item's summary texts joined by a blank line. Sending the item back later
//! needs its `id` as well as its `encrypted_content`, so the block's
//! signature carries both as `responses:{id}:{encrypted_content}` (the
//! content part empty when the item had none); encoders for Responses unpack
//! it. OpenAI's ids (`rs_` and hex) never hold a `:`.
//!
//! Thinking from another vendor has no Responses id. A Responses client still
//! gets it as a reasoning item, under an id Busbar invents —
//! `rs_busbar_thinking_…` with the vendor's signature as `encrypted_content`,
//! or `rs_busbar_redacted_…` with a redacted block's data — so that when the
//! client sends the item back, the block is restored exactly (Anthropic
//! rejects a signature that changed). A Responses upstream never sees such an
//! item: the request encoder drops thinking that did not come from Responses.

use std::borrow::Cow;

use busbar_ir::{ContentBlock, StopReason, Usage};
use serde::{Deserialize, Serialize};

pub mod count;
pub mod error;
pub mod request;
pub mod response;
pub mod stream;
mod wire;

pub use wire::OpenAiResponses;

mod output;

/// How an IR thinking signature that carries a reasoning item begins.
const SIGNATURE_PREFIX: &str = "responses:";
/// The id prefix of reasoning items invented for another vendor's thinking.
const INVENTED_THINKING: &str = "rs_busbar_thinking_";
/// The id prefix of reasoning items invented for redacted thinking.
const INVENTED_REDACTED: &str = "rs_busbar_redacted_";

/// Joins a namespace tool's name to a function inside it.
const NAMESPACE_JOIN: &str = "__";

/// The IR name of function `name` in `namespace`.
fn join_namespace(namespace: &str, name: &str) -> String {
    format!("{namespace}{NAMESPACE_JOIN}{name}")
}

/// `name` split into the namespace it was joined with and the function's
/// own name, when it starts with one of `namespaces` (the longest that
/// fits); otherwise no namespace and the name as it is.
fn split_namespace<'a>(namespaces: &[String], name: &'a str) -> (Option<&'a str>, &'a str) {
    namespaces
        .iter()
        .filter_map(|namespace| {
            let rest = name.strip_prefix(namespace.as_str())?;
            let function = rest.strip_prefix(NAMESPACE_JOIN)?;
            (!function.is_empty()).then(|| (&name[..namespace.len()], function))
        })
        .max_by_key(|(namespace, _)| namespace.len())
        .map_or((None, name), |(namespace, function)| {
            (Some(namespace), function)
        })
}

/// The IR signature of a reasoning item with this id and encrypted content.
/// `None` for an item Busbar invented around a thinking block that had none.
fn thinking_signature(id: &str, encrypted: Option<&str>) -> Option<String> {
    if id.starts_with(INVENTED_THINKING) {
        return encrypted
            .filter(|encrypted| !encrypted.is_empty())
            .map(str::to_owned);
    }
    Some(format!(
        "{SIGNATURE_PREFIX}{id}:{}",
        encrypted.unwrap_or_default()
    ))
}

/// The IR block for a reasoning item: redacted thinking for the items Busbar
/// invents around redacted blocks, thinking otherwise.
fn reasoning_block(id: &str, text: String, encrypted: Option<&str>) -> ContentBlock {
    if id.starts_with(INVENTED_REDACTED) {
        return ContentBlock::RedactedThinking {
            data: encrypted.unwrap_or_default().to_owned(),
        };
    }
    ContentBlock::thinking(text, thinking_signature(id, encrypted))
}

/// The reasoning item id and encrypted content a signature carries, when it
/// came from Responses.
fn parse_signature(signature: &str) -> Option<(&str, Option<&str>)> {
    let rest = signature.strip_prefix(SIGNATURE_PREFIX)?;
    Some(match rest.split_once(':') {
        Some((id, encrypted)) => (id, Some(encrypted).filter(|e| !e.is_empty())),
        None => (rest, None),
    })
}

/// The response id a client sees: the reply's own, or one made from the
/// creation time when the upstream gave none.
fn response_id(id: &str, created: u64) -> Cow<'_, str> {
    if id.is_empty() {
        Cow::Owned(format!("resp_{created}"))
    } else {
        Cow::Borrowed(id)
    }
}

/// An output item id: `prefix`, the response id without its `resp_`, and
/// the item's position, so ids are unique across a conversation.
fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}{base}_{index}")
}

/// The IR stop reason of a response's `status` and `incomplete_details`.
fn stop_reason(
    status: Option<&str>,
    incomplete: Option<&str>,
    has_tool_calls: bool,
    has_refusal: bool,
) -> Option<StopReason> {
    Some(match status? {
        "completed" if has_tool_calls => StopReason::ToolUse,
        "completed" if has_refusal => StopReason::Refusal,
        "completed" => StopReason::EndTurn,
        "incomplete" => match incomplete {
            None | Some("max_output_tokens") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::ContentFilter,
            Some(other) => StopReason::Other(other.to_owned()),
        },
        "failed" => StopReason::Error,
        // `in_progress` and `queued` say nothing yet.
        "in_progress" | "queued" => return None,
        other => StopReason::Other(other.to_owned()),
    })
}

/// A response's `status` and `incomplete_details.reason` for an IR stop
/// reason. Responses has no stop sequences, pauses or refusals of its own:
/// they end a completed response, a refusal a filtered one.
fn status(stop: Option<&StopReason>) -> (&'static str, Option<&'static str>) {
    match stop {
        Some(StopReason::MaxTokens | StopReason::ContextWindowExceeded) => {
            ("incomplete", Some("max_output_tokens"))
        }
        Some(StopReason::ContentFilter | StopReason::Refusal) => {
            ("incomplete", Some("content_filter"))
        }
        Some(StopReason::Error) => ("failed", None),
        _ => ("completed", None),
    }
}

/// `usage` as Responses reports it; counts optional for lenient reading.
#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<WireInputDetails>,
    #[serde(default)]
    output_tokens_details: Option<WireOutputDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct WireInputDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct WireOutputDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(wire: WireUsage) -> Self {
        let input = wire.input_tokens_details.unwrap_or_default();
        let output = wire.output_tokens_details.unwrap_or_default();
        let mut usage = Usage::new(
            wire.input_tokens.unwrap_or(0),
            wire.output_tokens.unwrap_or(0),
        );
        usage.cache_read_tokens = input.cached_tokens;
        usage.cache_write_tokens = input.cache_write_tokens;
        usage.reasoning_tokens = output.reasoning_tokens;
        usage
    }
}

/// `usage` as Busbar writes it: every count present, because the SDK's
/// strict validation requires the detail objects and all their fields
/// (`cache_write_tokens` included).
#[derive(Debug, Clone, Copy, Serialize)]
struct UsageOut {
    input_tokens: u64,
    input_tokens_details: InputDetailsOut,
    output_tokens: u64,
    output_tokens_details: OutputDetailsOut,
    total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct InputDetailsOut {
    cached_tokens: u64,
    cache_write_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct OutputDetailsOut {
    reasoning_tokens: u64,
}

impl From<&Usage> for UsageOut {
    fn from(usage: &Usage) -> Self {
        Self {
            input_tokens: usage.input_tokens,
            input_tokens_details: InputDetailsOut {
                cached_tokens: usage.cache_read_tokens.unwrap_or(0),
                cache_write_tokens: usage.cache_write_tokens.unwrap_or(0),
            },
            output_tokens: usage.output_tokens,
            output_tokens_details: OutputDetailsOut {
                reasoning_tokens: usage.reasoning_tokens.unwrap_or(0),
            },
            total_tokens: usage.total_tokens(),
        }
    }
}

/// What Responses carries losslessly, for the shared proptest strategies.
/// Requests differ in one point: thinking survives only with a Responses
/// signature, and redacted thinking not at all (see the request tests).
#[cfg(test)]
pub(crate) fn capabilities() -> crate::testing::Capabilities {
    use crate::testing::{Capabilities, Count};
    Capabilities {
        system_parts: true,
        thinking: true,
        redacted_thinking: true,
        interleaved_blocks: true,
        image_urls: true,
        image_detail: true,
        rich_tool_results: true,
        tool_result_errors: false,
        tool_strict: true,
        top_k: false,
        seed: false,
        penalties: false,
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
    fn joined_names_split_back_on_the_longest_known_namespace() {
        let namespaces = vec!["mcp".to_owned(), "mcp__files".to_owned()];
        assert_eq!(join_namespace("mcp", "read"), "mcp__read");
        assert_eq!(
            split_namespace(&namespaces, "mcp__read"),
            (Some("mcp"), "read")
        );
        assert_eq!(
            split_namespace(&namespaces, "mcp__files__read"),
            (Some("mcp__files"), "read")
        );
        // Not a namespace the request had, or nothing after the join.
        assert_eq!(
            split_namespace(&namespaces, "other__read"),
            (None, "other__read")
        );
        assert_eq!(split_namespace(&namespaces, "mcp__"), (None, "mcp__"));
        assert_eq!(split_namespace(&[], "mcp__read"), (None, "mcp__read"));
    }

    #[test]
    fn reasoning_items_carry_their_id_in_the_signature() {
        let signature = thinking_signature("rs_1", Some("gAAA")).unwrap();
        assert_eq!(signature, "responses:rs_1:gAAA");
        assert_eq!(parse_signature(&signature), Some(("rs_1", Some("gAAA"))));
        let bare = thinking_signature("rs_2", None).unwrap();
        assert_eq!(bare, "responses:rs_2:");
        assert_eq!(parse_signature(&bare), Some(("rs_2", None)));
        assert_eq!(parse_signature("responses:rs_3"), Some(("rs_3", None)));
        // Another vendor's signature is no Responses one.
        assert_eq!(parse_signature("EqQBCkYIARgCIkBx"), None);
    }

    #[test]
    fn invented_items_give_back_the_original_block() {
        assert_eq!(
            reasoning_block("rs_busbar_thinking_x_0", "t".into(), Some("EqQB")),
            ContentBlock::thinking("t", Some("EqQB".into()))
        );
        assert_eq!(
            reasoning_block("rs_busbar_thinking_x_0", "t".into(), None),
            ContentBlock::thinking("t", None)
        );
        assert_eq!(
            reasoning_block("rs_busbar_redacted_x_1", String::new(), Some("opaque")),
            ContentBlock::RedactedThinking {
                data: "opaque".into()
            }
        );
        assert_eq!(
            reasoning_block("rs_9", "t".into(), None),
            ContentBlock::thinking("t", Some("responses:rs_9:".into()))
        );
    }

    #[test]
    fn ids_derive_from_the_response_id() {
        assert_eq!(response_id("resp_1", 5), "resp_1");
        assert_eq!(response_id("", 5), "resp_5");
        assert_eq!(item_id("msg_", "resp_abc", 2), "msg_abc_2");
        assert_eq!(item_id("fc_", "msg_01", 0), "fc_msg_01_0");
    }

    #[test]
    fn statuses_map_to_stop_reasons_and_back() {
        let cases = [
            (("completed", None), StopReason::EndTurn),
            (
                ("incomplete", Some("max_output_tokens")),
                StopReason::MaxTokens,
            ),
            (
                ("incomplete", Some("content_filter")),
                StopReason::ContentFilter,
            ),
            (("failed", None), StopReason::Error),
        ];
        for ((wire, reason), ir) in cases {
            assert_eq!(
                stop_reason(Some(wire), reason, false, false),
                Some(ir.clone())
            );
            assert_eq!(status(Some(&ir)), (wire, reason));
        }
        assert_eq!(
            stop_reason(Some("completed"), None, true, true),
            Some(StopReason::ToolUse)
        );
        assert_eq!(
            stop_reason(Some("completed"), None, false, true),
            Some(StopReason::Refusal)
        );
        assert_eq!(
            stop_reason(Some("incomplete"), None, false, false),
            Some(StopReason::MaxTokens)
        );
        assert_eq!(stop_reason(Some("in_progress"), None, false, false), None);
        assert_eq!(
            stop_reason(Some("cancelled"), None, false, false),
            Some(StopReason::Other("cancelled".into()))
        );
        for (ir, wire) in [
            (StopReason::StopSequence, ("completed", None)),
            (StopReason::ToolUse, ("completed", None)),
            (StopReason::PauseTurn, ("completed", None)),
            (StopReason::Refusal, ("incomplete", Some("content_filter"))),
            (
                StopReason::ContextWindowExceeded,
                ("incomplete", Some("max_output_tokens")),
            ),
        ] {
            assert_eq!(status(Some(&ir)), wire, "{ir:?}");
        }
        assert_eq!(status(None), ("completed", None));
    }

    #[test]
    fn usage_reads_details_and_writes_every_count() {
        let wire: WireUsage = serde_json::from_str(
            r#"{"input_tokens":100,"input_tokens_details":{"cached_tokens":60,"cache_write_tokens":30},
                "output_tokens":20,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":120}"#,
        )
        .unwrap();
        let usage = Usage::from(wire);
        assert_eq!((usage.input_tokens, usage.output_tokens), (100, 20));
        assert_eq!(usage.cache_read_tokens, Some(60));
        assert_eq!(usage.cache_write_tokens, Some(30));
        assert_eq!(usage.reasoning_tokens, Some(12));
        let out = serde_json::to_string(&UsageOut::from(&Usage::new(3, 4))).unwrap();
        assert_eq!(
            out,
            r#"{"input_tokens":3,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":7}"#
        );
    }
}
