//! Proptest strategies for IR values, shared by the wire-format modules' tests.
//!
//! A format states what it can carry in a [`Capabilities`]; the strategies
//! then generate only values the format expresses losslessly, already in the
//! shape its decoder produces (e.g. tool results first in a user turn), so a
//! test can assert `decode(encode(x)) == x` and normalise only the few facts
//! that are the format's own choices (documented at each such test).
//!
//! Conversations alternate user and assistant turns starting with the user,
//! which every format accepts.

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, Response, ResponseFormat, Role,
    StopReason, Tool, ToolChoice, ToolResultContent, Usage,
};
use proptest::prelude::*;
use proptest::{collection::vec, option};
use serde_json::json;

/// What a wire format can express, for the strategies to stay within.
#[derive(Debug, Clone)]
pub(crate) struct Capabilities {
    /// Several system parts survive (else at most one is generated).
    pub(crate) system_parts: bool,
    /// Thinking blocks (with signatures) in assistant turns and replies.
    pub(crate) thinking: bool,
    /// Redacted thinking blocks.
    pub(crate) redacted_thinking: bool,
    /// Assistant content may hold several text blocks in any order with
    /// tool calls (else at most one text block, before the tool calls).
    pub(crate) interleaved_blocks: bool,
    /// Images by URL (else inline base64 only).
    pub(crate) image_urls: bool,
    /// OpenAI's `detail` hint on images.
    pub(crate) image_detail: bool,
    /// Tool results with images or several pieces (else one text piece).
    pub(crate) rich_tool_results: bool,
    /// `is_error` on tool results.
    pub(crate) tool_result_errors: bool,
    /// `strict` on tools.
    pub(crate) tool_strict: bool,
    /// `top_k`.
    pub(crate) top_k: bool,
    /// `seed`.
    pub(crate) seed: bool,
    /// `frequency_penalty` and `presence_penalty`.
    pub(crate) penalties: bool,
    /// `user`.
    pub(crate) user: bool,
    /// `parallel_tool_calls` (generated only beside tools).
    pub(crate) parallel_tool_calls: bool,
    /// `response_format`.
    pub(crate) response_format: bool,
    /// Reasoning given as an effort level (`low`, `medium`, `high`).
    pub(crate) reasoning_effort: bool,
    /// Reasoning given as a token budget.
    pub(crate) reasoning_budget: bool,
    /// The stop reasons the format tells apart.
    pub(crate) stop_reasons: &'static [StopReason],
    /// A reply's matched stop sequence.
    pub(crate) stop_sequence: bool,
    /// A reply's creation time (always written when the format has one).
    pub(crate) created: bool,
    /// Cache-read input tokens in usage.
    pub(crate) cache_read: Count,
    /// Cache-write input tokens in usage.
    pub(crate) cache_write: Count,
    /// The 1-hour part of the cache writes (generated only beside a
    /// cache-write count, and at most it).
    pub(crate) cache_write_1h: Count,
    /// Reasoning output tokens in usage.
    pub(crate) reasoning_tokens: Count,
}

/// Whether an optional usage count survives a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// The format has no such count: always `None`.
    Never,
    /// The format always writes it (0 when unknown): always `Some`.
    Always,
    /// The format writes it only when known: `None` or `Some`.
    Maybe,
}

/// Short text with the characters JSON escaping gets wrong: quotes,
/// backslashes, newlines, non-ASCII.
pub(crate) fn text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9 .,!?\"'\\\\{}\n\t]{1,24}",
        "\\PC{1,12}",
        Just("ünïcödé ✓ 日本語 🚀".to_owned()),
    ]
    .boxed()
}

/// An identifier in the alphabet every vendor accepts for tool-call ids.
pub(crate) fn id() -> BoxedStrategy<String> {
    "[a-zA-Z0-9_-]{1,16}"
        .prop_map(|id| format!("call_{id}"))
        .boxed()
}

/// A tool name every vendor accepts (Bedrock's is the strictest).
pub(crate) fn tool_name() -> BoxedStrategy<String> {
    "[a-zA-Z_][a-zA-Z0-9_-]{0,20}".boxed()
}

/// Tool-call arguments: a JSON object as compact text with sorted keys, the
/// form every format's decoder produces.
pub(crate) fn arguments() -> BoxedStrategy<String> {
    let scalar = prop_oneof![
        any::<bool>().prop_map(|b| json!(b)),
        any::<i32>().prop_map(|n| json!(n)),
        text().prop_map(|s| json!(s)),
    ];
    proptest::collection::btree_map("[a-z_]{1,8}", scalar, 0..4)
        .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()).to_string())
        .boxed()
}

/// A decimal in `[lo, hi]` hundredths, exactly representable as JSON text.
fn hundredths(lo: i32, hi: i32) -> BoxedStrategy<f64> {
    (lo..=hi).prop_map(|n| f64::from(n) / 100.0).boxed()
}

fn image(caps: &Capabilities) -> BoxedStrategy<ContentBlock> {
    let inline = (
        prop_oneof![Just("image/png"), Just("image/jpeg"), Just("image/webp")],
        "[A-Za-z0-9+/]{4,40}",
    )
        .prop_map(|(media_type, data)| ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: format!("{data}=="),
        });
    let source = if caps.image_urls {
        prop_oneof![
            inline,
            "[a-z]{1,10}".prop_map(|name| ImageSource::Url {
                url: format!("https://example.com/{name}.png")
            }),
        ]
        .boxed()
    } else {
        inline.boxed()
    };
    let detail = if caps.image_detail {
        option::of(prop_oneof![Just("low"), Just("high"), Just("auto")].prop_map(str::to_owned))
            .boxed()
    } else {
        Just(None).boxed()
    };
    (source, detail)
        .prop_map(|(source, detail)| ContentBlock::Image { source, detail })
        .boxed()
}

fn tool_result(caps: &Capabilities) -> BoxedStrategy<ContentBlock> {
    let content = if caps.rich_tool_results {
        let piece = prop_oneof![
            text().prop_map(ToolResultContent::text),
            image(caps).prop_map(|image| match image {
                ContentBlock::Image { source, .. } => ToolResultContent::Image { source },
                _ => ToolResultContent::text("unreachable"),
            }),
        ];
        vec(piece, 0..3).boxed()
    } else {
        text()
            .prop_map(|text| vec![ToolResultContent::text(text)])
            .boxed()
    };
    let is_error = if caps.tool_result_errors {
        any::<bool>().boxed()
    } else {
        Just(false).boxed()
    };
    (id(), content, is_error)
        .prop_map(
            |(tool_use_id, content, is_error)| ContentBlock::ToolResult {
                tool_use_id,
                name: None,
                content,
                is_error,
            },
        )
        .boxed()
}

/// A user turn: tool results first, then text and images; never empty.
pub(crate) fn user_turn(caps: &Capabilities) -> BoxedStrategy<Message> {
    let part = prop_oneof![3 => text().prop_map(ContentBlock::text), 1 => image(caps)];
    (vec(tool_result(caps), 0..3), vec(part, 0..3))
        .prop_filter("a turn holds something", |(results, parts)| {
            !results.is_empty() || !parts.is_empty()
        })
        .prop_map(|(mut content, parts)| {
            content.extend(parts);
            Message::new(Role::User, content)
        })
        .boxed()
}

fn tool_use() -> BoxedStrategy<ContentBlock> {
    (id(), tool_name(), arguments())
        .prop_map(|(id, name, arguments)| ContentBlock::tool_use(id, name, arguments))
        .boxed()
}

/// Assistant content in the format's canonical order: thinking first, then
/// text and tool calls. May be empty.
pub(crate) fn assistant_content(caps: &Capabilities) -> BoxedStrategy<Vec<ContentBlock>> {
    let thinking = match (caps.thinking, caps.redacted_thinking) {
        (false, _) => Just(None).boxed(),
        (true, redacted) => {
            let signed = (text(), "[A-Za-z0-9+/]{8,32}")
                .prop_map(|(text, signature)| ContentBlock::thinking(text, Some(signature)));
            if redacted {
                option::of(prop_oneof![
                    signed,
                    "[A-Za-z0-9+/]{8,32}".prop_map(|data| ContentBlock::RedactedThinking { data }),
                ])
                .boxed()
            } else {
                option::of(signed).boxed()
            }
        }
    };
    let body = if caps.interleaved_blocks {
        vec(
            prop_oneof![text().prop_map(ContentBlock::text), tool_use()],
            0..4,
        )
        .boxed()
    } else {
        (option::of(text()), vec(tool_use(), 0..3))
            .prop_map(|(text, calls)| {
                text.map(ContentBlock::text)
                    .into_iter()
                    .chain(calls)
                    .collect()
            })
            .boxed()
    };
    (thinking, body)
        .prop_map(|(thinking, body)| thinking.into_iter().chain(body).collect())
        .boxed()
}

fn assistant_turn(caps: &Capabilities) -> BoxedStrategy<Message> {
    assistant_content(caps)
        .prop_filter("a turn holds something", |content| !content.is_empty())
        .prop_map(|content| Message::new(Role::Assistant, content))
        .boxed()
}

/// Alternating turns, user first and last.
pub(crate) fn conversation(caps: &Capabilities) -> BoxedStrategy<Vec<Message>> {
    (
        vec((user_turn(caps), assistant_turn(caps)), 0..3),
        user_turn(caps),
    )
        .prop_map(|(pairs, last)| {
            let mut messages: Vec<Message> = pairs.into_iter().flat_map(|(u, a)| [u, a]).collect();
            messages.push(last);
            messages
        })
        .boxed()
}

fn tool(caps: &Capabilities) -> BoxedStrategy<Tool> {
    let parameters = prop_oneof![
        Just(json!({"type": "object", "properties": {}})),
        Just(
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
        ),
        Just(
            json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}, "tags": {"type": "array", "items": {"type": "string"}}}})
        ),
    ];
    let strict = if caps.tool_strict {
        option::of(any::<bool>()).boxed()
    } else {
        Just(None).boxed()
    };
    (tool_name(), option::of(text()), parameters, strict)
        .prop_map(|(name, description, parameters, strict)| {
            let mut tool = Tool::new(name, description, parameters);
            tool.strict = strict;
            tool
        })
        .boxed()
}

fn tool_choice() -> BoxedStrategy<ToolChoice> {
    prop_oneof![
        Just(ToolChoice::Auto),
        Just(ToolChoice::Required),
        Just(ToolChoice::None),
        tool_name().prop_map(ToolChoice::Tool),
    ]
    .boxed()
}

fn response_format() -> BoxedStrategy<ResponseFormat> {
    prop_oneof![
        Just(ResponseFormat::Text),
        Just(ResponseFormat::JsonObject),
        (
            "[a-z_]{1,12}",
            option::of(any::<bool>()),
            option::of(text())
        )
            .prop_map(|(name, strict, description)| ResponseFormat::JsonSchema {
                name,
                schema: json!({"type": "object", "properties": {"answer": {"type": "string"}}}),
                strict,
                description,
            }),
    ]
    .boxed()
}

fn reasoning(caps: &Capabilities) -> BoxedStrategy<Option<Reasoning>> {
    let effort = prop_oneof![Just("low"), Just("medium"), Just("high")].prop_map(|effort| {
        let mut reasoning = Reasoning::default();
        reasoning.effort = Some(effort.to_owned());
        reasoning
    });
    let budget = (1024u64..32_000).prop_map(|budget| {
        let mut reasoning = Reasoning::default();
        reasoning.budget_tokens = Some(budget);
        reasoning
    });
    match (caps.reasoning_effort, caps.reasoning_budget) {
        (true, true) => option::of(prop_oneof![effort, budget]).boxed(),
        (true, false) => option::of(effort).boxed(),
        (false, true) => option::of(budget).boxed(),
        (false, false) => Just(None).boxed(),
    }
}

/// `strategy` when `enabled`, else always `None`.
fn maybe<T: std::fmt::Debug + Clone + 'static>(
    enabled: bool,
    strategy: BoxedStrategy<T>,
) -> BoxedStrategy<Option<T>> {
    if enabled {
        option::of(strategy).boxed()
    } else {
        Just(None).boxed()
    }
}

/// A request within `caps`. `tool_choice` and `parallel_tool_calls` are set
/// only beside tools.
pub(crate) fn request(caps: &Capabilities) -> BoxedStrategy<Request> {
    let system = if caps.system_parts {
        vec(text(), 0..3).boxed()
    } else {
        option::of(text())
            .prop_map(|part| part.into_iter().collect())
            .boxed()
    };
    let tools = (
        vec(tool(caps), 0..3),
        option::of(tool_choice()),
        maybe(caps.parallel_tool_calls, any::<bool>().boxed()),
    );
    let sampling = (
        option::of(1u64..100_000),
        option::of(hundredths(0, 200)),
        option::of(hundredths(0, 100)),
        maybe(caps.top_k, (1u64..500).boxed()),
        maybe(caps.penalties, hundredths(-200, 200)),
        maybe(caps.penalties, hundredths(-200, 200)),
        maybe(caps.seed, any::<i64>().boxed()),
        vec("[a-zA-Z#\n]{1,8}", 0..3),
    );
    let rest = (
        maybe(caps.response_format, response_format()),
        reasoning(caps),
        maybe(caps.user, id()),
        any::<bool>(),
        any::<bool>(),
    );
    (
        "[a-z0-9.-]{1,20}",
        system,
        conversation(caps),
        tools,
        sampling,
        rest,
    )
        .prop_map(|(model, system, messages, tools, sampling, rest)| {
            let mut request = Request::new(model, messages);
            if !system.is_empty() {
                let blocks = system.into_iter().map(ContentBlock::text).collect();
                request
                    .messages
                    .insert(0, Message::new(Role::System, blocks));
            }
            let (tools, tool_choice, parallel) = tools;
            if !tools.is_empty() {
                request.tool_choice = tool_choice;
                request.parallel_tool_calls = parallel;
            }
            request.tools = tools;
            let (max_tokens, temperature, top_p, top_k, frequency, presence, seed, stops) =
                sampling;
            request.max_tokens = max_tokens;
            request.temperature = temperature;
            request.top_p = top_p;
            request.top_k = top_k;
            request.frequency_penalty = frequency;
            request.presence_penalty = presence;
            request.seed = seed;
            request.stop_sequences = stops;
            let (response_format, reasoning, user, stream, stream_usage) = rest;
            request.response_format = response_format;
            request.reasoning = reasoning;
            request.user = user;
            request.stream = stream;
            request.stream_usage = stream_usage;
            request
        })
        .boxed()
}

fn count(count: Count) -> BoxedStrategy<Option<u64>> {
    match count {
        Count::Never => Just(None).boxed(),
        Count::Always => (0u64..5_000).prop_map(Some).boxed(),
        Count::Maybe => option::of(0u64..5_000).boxed(),
    }
}

/// Usage within `caps`; the cache counts are parts of `input_tokens`, the
/// 1-hour writes part of the writes.
pub(crate) fn usage(caps: &Capabilities) -> BoxedStrategy<Usage> {
    (
        0u64..1_000_000,
        0u64..100_000,
        count(caps.cache_read),
        count(caps.cache_write),
        count(caps.cache_write_1h),
        count(caps.reasoning_tokens),
    )
        .prop_map(|(uncached, output, read, write, one_hour, reasoning)| {
            let mut usage = Usage::new(
                uncached + read.unwrap_or(0) + write.unwrap_or(0),
                output + reasoning.unwrap_or(0),
            );
            usage.cache_read_tokens = read;
            usage.cache_write_tokens = write;
            usage.cache_write_1h_tokens =
                write.and_then(|write| one_hour.map(|one_hour| one_hour.min(write)));
            usage.reasoning_tokens = reasoning;
            usage
        })
        .boxed()
}

/// A reply within `caps`.
pub(crate) fn response(caps: &Capabilities) -> BoxedStrategy<Response> {
    let stop = proptest::sample::select(caps.stop_reasons.to_vec());
    let created = if caps.created {
        (0u64..4_000_000_000).prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    let stop_sequence = caps.stop_sequence;
    (
        "[a-zA-Z0-9_-]{1,24}",
        "[a-z0-9.-]{1,20}",
        created,
        assistant_content(caps),
        stop,
        "[a-zA-Z#]{1,8}",
        usage(caps),
    )
        .prop_map(
            move |(id, model, created, content, stop, sequence, usage)| {
                let mut response = Response::new(id, model, content);
                response.created = created;
                if stop_sequence && stop == StopReason::StopSequence {
                    response.stop_sequence = Some(sequence);
                }
                response.stop_reason = Some(stop);
                response.usage = usage;
                response
            },
        )
        .boxed()
}

/// Usage as Anthropic writes it: both cache counts always (0 when unknown),
/// and an input count that includes them.
pub(crate) fn with_cache_counts(usage: &Usage) -> Usage {
    let read = usage.cache_read_tokens.unwrap_or(0);
    let write = usage.cache_write_tokens.unwrap_or(0);
    let input = usage
        .uncached_input_tokens()
        .saturating_add(read)
        .saturating_add(write);
    let mut out = *usage;
    out.input_tokens = input;
    out.cache_read_tokens = Some(read);
    out.cache_write_tokens = Some(write);
    out
}

/// Cuts `bytes` at the given points (any order, any count), for testing that
/// a stream decoder is independent of how its input is split.
pub(crate) fn split<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        pieces.push(&bytes[start..point]);
        start = point;
    }
    pieces.push(&bytes[start..]);
    pieces
}

/// An SSE line that is not UTF-8: a framing error to every SSE decoder.
pub(crate) const BROKEN_SSE_LINE: &[u8] = b"data: \xff\xfe\n\n";

/// Checks the one rule on a framing error (see `sse::Handler`): `good`
/// then `broken` fails with a stream error after delivering exactly the
/// events `good` alone yields, whether the two arrive in one read or two.
pub(crate) fn check_events_before_a_framing_error(
    new: impl Fn() -> Box<dyn crate::StreamDecoder>,
    good: &[u8],
    broken: &[u8],
) {
    let mut expected = Vec::new();
    new().feed(good, &mut expected).unwrap();
    assert!(!expected.is_empty(), "the good bytes yield no event");
    for pieces in [
        vec![[good, broken].concat()],
        vec![good.to_vec(), broken.to_vec()],
    ] {
        let mut decoder = new();
        let mut out = Vec::new();
        let result = pieces
            .iter()
            .try_for_each(|piece| decoder.feed(piece, &mut out));
        assert!(
            matches!(result, Err(crate::DecodeError::Stream(_))),
            "{result:?}"
        );
        assert_eq!(out, expected, "in {} reads", pieces.len());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn usage_counts_follow_the_capabilities(
            usage in usage(&Capabilities {
                cache_read: Count::Never,
                cache_write: Count::Always,
                ..crate::openai::capabilities()
            })
        ) {
            prop_assert_eq!(usage.cache_read_tokens, None);
            let write = usage.cache_write_tokens.unwrap_or(u64::MAX);
            prop_assert!(write <= usage.input_tokens);
        }

        #[test]
        fn one_hour_writes_are_a_part_of_the_writes(
            usage in usage(&Capabilities {
                cache_write: Count::Maybe,
                cache_write_1h: Count::Maybe,
                ..crate::openai::capabilities()
            })
        ) {
            if let Some(one_hour) = usage.cache_write_1h_tokens {
                prop_assert!(one_hour <= usage.cache_write_tokens.unwrap_or(0));
            }
        }
    }
}
