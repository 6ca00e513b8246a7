//! The six formats as the property tests see them: what each carries, and
//! each of its own choices a round trip shows, documented where stated.
//! Gemini's and Bedrock's, the longest, have files of their own.

mod bedrock;
mod gemini;

pub(super) use bedrock::bedrock;
pub(super) use gemini::gemini;

use busbar_ir::{
    BlockDelta, ContentBlock, ErrorKind, Message, Request, Response, ResponseFormat, Role,
    StopReason, StreamEvent, ToolChoice,
};
use proptest::prelude::*;

use super::Format;
use crate::testing::{self, Capabilities, Count};
use crate::{Protocol, ReplyOptions};

/// Every error kind but the context-length one, whose reading depends on
/// the message's words.
const ERROR_KINDS: &[ErrorKind] = &[
    ErrorKind::InvalidRequest,
    ErrorKind::Authentication,
    ErrorKind::PermissionDenied,
    ErrorKind::NotFound,
    ErrorKind::RequestTooLarge,
    ErrorKind::RateLimit,
    ErrorKind::InsufficientQuota,
    ErrorKind::Overloaded,
    ErrorKind::Unavailable,
    ErrorKind::Timeout,
    ErrorKind::BadGateway,
    ErrorKind::Server,
];

fn plain_requests(caps: &Capabilities) -> BoxedStrategy<Request> {
    testing::request(caps)
}

fn plain_responses(caps: &Capabilities) -> BoxedStrategy<Response> {
    testing::response(caps)
}

/// A JSON schema format as a format without names, strictness or
/// descriptions gives it back (named `response`); `keep` says what becomes
/// of the other formats.
fn schema_only(format: Option<ResponseFormat>, keep: bool) -> Option<ResponseFormat> {
    match format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            schema,
            strict: None,
            description: None,
        }),
        other if keep => other,
        _ => None,
    }
}

/// A finished reply reports a tool-use stop exactly when it holds a call.
fn tool_use_stop(mut response: Response) -> Response {
    if matches!(
        response.stop_reason,
        Some(StopReason::EndTurn | StopReason::ToolUse)
    ) {
        response.stop_reason = Some(if response.has_tool_use() {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        });
    }
    response
}

// ------------------------------------------------------------ Chat Completions

/// OpenAI has no overloaded error of its own: it reads back as the 503 it
/// is sent as.
fn openai_error_back(kind: ErrorKind, status: u16, wire: u16) -> (ErrorKind, u16) {
    match kind {
        ErrorKind::Overloaded => (ErrorKind::Unavailable, wire),
        _ => (kind, status),
    }
}

pub(super) fn openai() -> Format {
    Format {
        protocol: Protocol::OpenAi,
        caps: crate::openai::capabilities(),
        model: "gpt-4.1",
        request: plain_requests,
        // The upstream model is written, and streaming always asks for usage.
        request_back: |mut request, options| {
            request.model.clone_from(&options.model);
            request.stream_usage = request.stream;
            (request, Vec::new())
        },
        response: plain_responses,
        // A reply holding calls that simply ended says `tool_calls`.
        response_back: |mut response| {
            if response.has_tool_use() && response.stop_reason == Some(StopReason::EndTurn) {
                response.stop_reason = Some(StopReason::ToolUse);
            }
            response
        },
        events_back: None,
        // Usage asked for, as Busbar asks an OpenAI upstream.
        reply_options: || {
            let mut options = ReplyOptions::new(1_700_000_000);
            options.include_usage = true;
            options
        },
        error_kinds: ERROR_KINDS,
        error_back: openai_error_back,
        words: "
            model messages role content type text image_url url detail tool_calls
            tool_call_id function name arguments tools tool_choice parameters strict
            choices delta message index finish_reason usage prompt_tokens
            completion_tokens prompt_tokens_details cached_tokens error code param id
            object created stream stream_options include_usage response_format
            json_schema schema reasoning_effort reasoning_content refusal
            parallel_tool_calls max_tokens max_completion_tokens stop n functions
            function_call system user assistant tool developer stop length tool_calls
            chat.completion.chunk [DONE]
        ",
    }
}

// ------------------------------------------------------------------- Responses

pub(super) fn responses() -> Format {
    Format {
        protocol: Protocol::Responses,
        // Redacted thinking from elsewhere has no Responses form.
        caps: Capabilities {
            redacted_thinking: false,
            ..crate::responses::capabilities()
        },
        model: "gpt-5",
        request: |caps| {
            testing::request(caps)
                .prop_map(|mut request| {
                    // No stop sequences, and thinking only as it comes from
                    // Responses, signed with its item id.
                    request.stop_sequences.clear();
                    let mut item = 0;
                    for block in request.messages.iter_mut().flat_map(|m| &mut m.content) {
                        if let ContentBlock::Thinking {
                            signature: Some(signature),
                            ..
                        } = block
                        {
                            *signature = format!("responses:rs_{item}:{signature}");
                            item += 1;
                        }
                    }
                    request
                })
                .boxed()
        },
        // The upstream model is written; the system prompt is one
        // `instructions` string; tools without `strict` go non-strict;
        // images always name a detail; usage is always streamed.
        request_back: |mut request, options| {
            request.model.clone_from(&options.model);
            request.stream_usage = false;
            if let Some(text) = request.system_text() {
                let len = request.system_prompt().len();
                request
                    .messages
                    .splice(..len, [Message::text(Role::System, text)]);
            }
            for tool in &mut request.tools {
                tool.strict.get_or_insert(false);
            }
            for block in request.messages.iter_mut().flat_map(|m| &mut m.content) {
                if let ContentBlock::Image { detail, .. } = block {
                    detail.get_or_insert_with(|| "auto".to_owned());
                }
            }
            (request, Vec::new())
        },
        response: plain_responses,
        // `completed` is a tool use exactly when function calls are present.
        response_back: tool_use_stop,
        events_back: None,
        reply_options: || ReplyOptions::new(1_700_000_000),
        error_kinds: ERROR_KINDS,
        error_back: openai_error_back,
        words: "
            model input instructions type role content output call_id id summary text
            tools tool_choice name arguments image_url detail reasoning effort format
            include encrypted_content status item part delta output_index content_index
            summary_index sequence_number response usage input_tokens output_tokens
            error code message incomplete_details max_output_tokens message
            function_call function_call_output input_text output_text input_image
            summary_text completed incomplete failed response.created
            response.output_item.added response.output_item.done
            response.content_part.added response.output_text.delta
            response.function_call_arguments.delta response.reasoning_summary_text.delta
            response.completed response.failed user assistant developer
        ",
    }
}

// ------------------------------------------------------------------- Anthropic

/// What Anthropic Messages can say.
fn anthropic_caps() -> Capabilities {
    Capabilities {
        system_parts: true,
        thinking: true,
        redacted_thinking: true,
        interleaved_blocks: true,
        image_urls: true,
        image_detail: false,
        rich_tool_results: true,
        tool_result_errors: true,
        tool_strict: true,
        top_k: true,
        seed: false,
        penalties: false,
        user: true,
        parallel_tool_calls: true,
        response_format: true,
        // An effort level becomes a budget on the way out.
        reasoning_effort: false,
        reasoning_budget: true,
        stop_reasons: &[
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::StopSequence,
            StopReason::ToolUse,
            StopReason::PauseTurn,
            StopReason::Refusal,
            StopReason::ContextWindowExceeded,
        ],
        stop_sequence: true,
        created: false,
        cache_read: Count::Always,
        cache_write: Count::Always,
        cache_write_1h: Count::Maybe,
        reasoning_tokens: Count::Maybe,
    }
}

/// With thinking, a budget below `max_tokens`, no sampling changes and no
/// forced tool, as Anthropic and Converse require.
fn within_thinking_rules(mut request: Request) -> Request {
    request.temperature = request.temperature.map(|t| t.min(1.0));
    if let Some(budget) = request.reasoning.as_ref().and_then(|r| r.budget_tokens) {
        let max_tokens = request.max_tokens.unwrap_or(0).max(budget + 1);
        request.max_tokens = Some(max_tokens);
        request.temperature = None;
        request.top_p = None;
        request.top_k = None;
        if matches!(
            request.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Tool(_))
        ) {
            request.tool_choice = Some(ToolChoice::Auto);
        }
    }
    request
}

pub(super) fn anthropic() -> Format {
    Format {
        protocol: Protocol::Anthropic,
        caps: anthropic_caps(),
        model: "claude-sonnet-4-5",
        // A temperature of at most 1, and the thinking rules.
        request: |caps| {
            testing::request(caps)
                .prop_map(within_thinking_rules)
                .boxed()
        },
        // The upstream model and a `max_tokens` are always written; usage is
        // always reported; parallel tool use rides on `tool_choice` (with no
        // choice, an `auto` one is sent only to turn parallel calls off; a
        // `none` choice carries no switch); a JSON schema format has no
        // name, strictness or description; JSON-object mode and plain text
        // are not sent, and JSON-object mode is named dropped.
        request_back: |mut request, options| {
            let dropped = if request.response_format == Some(ResponseFormat::JsonObject) {
                vec!["response_format"]
            } else {
                Vec::new()
            };
            request.model.clone_from(&options.model);
            request.max_tokens = Some(request.max_tokens.unwrap_or(options.default_max_tokens));
            request.stream_usage = false;
            match (&request.tool_choice, request.parallel_tool_calls) {
                (None, Some(false)) => request.tool_choice = Some(ToolChoice::Auto),
                (None | Some(ToolChoice::None), _) => request.parallel_tool_calls = None,
                _ => {}
            }
            request.response_format = schema_only(request.response_format.take(), false);
            (request, dropped)
        },
        response: plain_responses,
        response_back: |response| response,
        // `message_start` usage always carries both cache counts.
        events_back: Some(|response| {
            let mut events = response.to_events();
            if let Some(StreamEvent::MessageStart { usage, .. }) = events.first_mut() {
                *usage = testing::with_cache_counts(usage);
            }
            events
        }),
        reply_options: || ReplyOptions::new(0),
        error_kinds: ERROR_KINDS,
        // Overloaded is Anthropic's own 529.
        error_back: |kind, status, _| match kind {
            ErrorKind::Overloaded => (kind, 529),
            _ => (kind, status),
        },
        words: "
            model messages system role content type text image source media_type data
            url base64 tool_use id name input tool_result tool_use_id is_error thinking
            signature redacted_thinking max_tokens tools tool_choice input_schema
            disable_parallel_tool_use budget_tokens stop_reason stop_sequence usage
            input_tokens output_tokens cache_read_input_tokens
            cache_creation_input_tokens cache_creation ephemeral_5m_input_tokens
            ephemeral_1h_input_tokens message index content_block delta text_delta
            input_json_delta partial_json thinking_delta signature_delta message_start
            content_block_start content_block_delta content_block_stop message_delta
            message_stop ping error server_tool_use web_search_tool_result user
            assistant end_turn tool_use max_tokens auto any tool none
        ",
    }
}

// -------------------------------------------------------------- Bedrock Invoke

/// Anthropic's codecs in Bedrock's envelope, with Bedrock's errors.
pub(super) fn bedrock_invoke() -> Format {
    let bedrock = bedrock();
    Format {
        protocol: Protocol::BedrockInvoke,
        model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
        // As Anthropic, but the model is the path's and streaming the
        // path's: neither is in the body.
        request_back: |request, options| {
            let (mut request, dropped) = (anthropic().request_back)(request, options);
            request.model = String::new();
            request.stream = false;
            (request, dropped)
        },
        error_kinds: bedrock.error_kinds,
        error_back: bedrock.error_back,
        ..anthropic()
    }
}

// ---------------------------------------------------------------------- Cohere

/// Thinking without its signature: Cohere has none.
fn unsigned(content: &mut [ContentBlock]) {
    for block in content {
        if let ContentBlock::Thinking { signature, .. } = block {
            *signature = None;
        }
    }
}

/// The reply as Cohere gives it back: no model name, a `finish_reason`
/// always (`COMPLETE` when unknown), and a reply holding tool calls that
/// "simply ended" reports `TOOL_CALL`.
fn cohere_response_back(mut response: Response) -> Response {
    response.model.clear();
    if matches!(response.stop_reason, None | Some(StopReason::EndTurn)) {
        response.stop_reason = Some(if response.has_tool_use() {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        });
    }
    response
}

pub(super) fn cohere() -> Format {
    Format {
        protocol: Protocol::Cohere,
        caps: crate::cohere::capabilities(),
        model: "command-a-03-2025",
        // Unsigned thinking, `temperature` and penalties within `0..=1`,
        // `top_p` within `0.01..=0.99`, a non-negative `seed`.
        request: |caps| {
            testing::request(caps)
                .prop_map(|mut request| {
                    request
                        .messages
                        .iter_mut()
                        .for_each(|m| unsigned(&mut m.content));
                    request.temperature = request.temperature.map(|t| t.min(1.0));
                    request.top_p = request.top_p.map(|p| p.clamp(0.01, 0.99));
                    request.frequency_penalty =
                        request.frequency_penalty.map(|f| f.clamp(0.0, 1.0));
                    request.presence_penalty = request.presence_penalty.map(|p| p.clamp(0.0, 1.0));
                    request.seed = request.seed.map(|seed| seed & i64::MAX);
                    request
                })
                .boxed()
        },
        // The upstream model is written; usage is always reported; auto is
        // the absent `tool_choice`; a named tool is `REQUIRED` with only the
        // tools of that name (all of them, and `tool_choice` named dropped,
        // when none has it); a JSON schema format has no name, strictness or
        // description.
        request_back: |mut request, options| {
            let mut dropped = Vec::new();
            request.model.clone_from(&options.model);
            request.stream_usage = false;
            match request.tool_choice.take() {
                Some(ToolChoice::Auto) | None => {}
                Some(ToolChoice::Tool(name)) => {
                    if request.tools.iter().any(|tool| tool.name == name) {
                        request.tools.retain(|tool| tool.name == name);
                    } else {
                        dropped.push("tool_choice");
                    }
                    request.tool_choice = Some(ToolChoice::Required);
                }
                choice => request.tool_choice = choice,
            }
            request.response_format = schema_only(request.response_format.take(), true);
            (request, dropped)
        },
        response: |caps| {
            testing::response(caps)
                .prop_map(|mut response| {
                    unsigned(&mut response.content);
                    response
                })
                .boxed()
        },
        response_back: cohere_response_back,
        // The events of the reply given back, without signature deltas.
        events_back: Some(|response| {
            cohere_response_back(response.clone())
                .to_events()
                .into_iter()
                .filter(|event| {
                    !matches!(
                        event,
                        StreamEvent::BlockDelta {
                            delta: BlockDelta::ThinkingSignature(_),
                            ..
                        }
                    )
                })
                .collect()
        }),
        reply_options: || ReplyOptions::new(0),
        error_kinds: ERROR_KINDS,
        error_back: |kind, status, _| match kind {
            ErrorKind::Overloaded => (ErrorKind::Unavailable, 503),
            ErrorKind::InsufficientQuota => (kind, 402),
            _ => (kind, status),
        },
        words: "
            model messages role content type text image_url url tool_calls tool_call_id
            function name arguments tool_plan thinking token_budget delta message index
            finish_reason usage billed_units tokens input_tokens output_tokens
            response_format json_schema documents citations id tools parameters
            tool_choice strict_tools temperature p k seed stop_sequences message-start
            content-start content-delta content-end tool-plan-delta tool-call-start
            tool-call-delta tool-call-end message-end citation-start error COMPLETE
            MAX_TOKENS TOOL_CALL ERROR REQUIRED NONE user assistant system tool document
        ",
    }
}
