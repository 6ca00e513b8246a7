//! Property tests: IR → Gemini → IR is the identity on what Gemini
//! expresses, stream decoding does not depend on how bytes are split, and a
//! stream says what the complete reply says.
//!
//! Generated values are first brought within Gemini's reach (`gemini_*`),
//! and expectations are normalised only by the format's documented choices
//! (`normalise_*`).

use std::collections::HashMap;

use busbar_ir::{
    ApiError, ContentBlock, ErrorKind, Message, Request, Response, ResponseFormat, Role,
    StopReason, StreamAccumulator, StreamEvent, ToolResultContent,
};
use proptest::prelude::*;
use serde_json::Value;

use super::{error, request, response, stream};
use crate::testing::{self, Capabilities, Count};
use crate::{ReplyOptions, RequestOptions, StreamDecoder, StreamEncoder};

/// What Gemini `generateContent` can say.
fn caps() -> Capabilities {
    Capabilities {
        system_parts: true,
        thinking: true,
        redacted_thinking: false,
        interleaved_blocks: true,
        image_urls: true,
        image_detail: false,
        rich_tool_results: false,
        tool_result_errors: true,
        tool_strict: false,
        top_k: true,
        seed: true,
        penalties: true,
        user: false,
        parallel_tool_calls: false,
        response_format: true,
        reasoning_effort: true,
        reasoning_budget: true,
        stop_reasons: &[
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::ToolUse,
            StopReason::ContentFilter,
        ],
        stop_sequence: false,
        created: false,
        cache_read: Count::Maybe,
        cache_write: Count::Never,
        reasoning_tokens: Count::Maybe,
    }
}

/// A signature as Gemini's: base64 (the shared strategy's may have a
/// length no base64 text has).
fn base64ish(signature: &str) -> String {
    signature[..signature.len() / 4 * 4].to_owned()
}

/// Blocks within Gemini's reach: base64 thinking signatures, and tool calls
/// signed or not as `signatures` says.
fn gemini_blocks(
    blocks: &mut [ContentBlock],
    signatures: &mut impl Iterator<Item = Option<String>>,
) {
    for block in blocks {
        match block {
            ContentBlock::Thinking {
                signature: Some(signature),
                ..
            } => *signature = base64ish(signature),
            ContentBlock::ToolUse { signature, .. } => {
                *signature = signatures.next().flatten().map(|s| base64ish(&s))
            }
            _ => {}
        }
    }
}

fn signatures() -> impl Strategy<Value = Vec<Option<String>>> {
    proptest::collection::vec(proptest::option::of("[A-Za-z0-9+/]{8,32}"), 12)
}

fn gemini_request() -> impl Strategy<Value = Request> {
    (testing::request(&caps()), signatures()).prop_map(|(mut request, signatures)| {
        let mut signatures = signatures.into_iter().cycle();
        for message in &mut request.messages {
            gemini_blocks(&mut message.content, &mut signatures);
        }
        // Gemini's seed is 32 bits; the encoder's handling of larger ones
        // has its own test.
        request.seed = request.seed.map(|seed| i64::from(seed as i32));
        request
    })
}

fn gemini_response() -> impl Strategy<Value = Response> {
    (testing::response(&caps()), signatures()).prop_map(|(mut response, signatures)| {
        gemini_blocks(&mut response.content, &mut signatures.into_iter().cycle());
        response
    })
}

/// Adjacent text parts are one text block to Gemini.
fn merge_texts(blocks: Vec<ContentBlock>) -> Vec<ContentBlock> {
    let mut out: Vec<ContentBlock> = Vec::with_capacity(blocks.len());
    for block in blocks {
        match (out.last_mut(), block) {
            (Some(ContentBlock::Text { text }), ContentBlock::Text { text: more }) => {
                text.push_str(&more)
            }
            (_, block) => out.push(block),
        }
    }
    out
}

/// A tool result's text as it reads back: a JSON object in compact form.
fn compact(text: String) -> String {
    match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object.to_string(),
        _ => text,
    }
}

/// The request as Gemini gives it back, and the names its encoding drops:
/// * the model and the stream switches are the URL's;
/// * a JSON schema format has no name (decoded as `response`), strictness
///   or description;
/// * adjacent text blocks are one;
/// * a tool result carries the name of its call (`unknown`, named
///   `tool_result.name`, when the conversation has no such call), and JSON
///   object text reads back compact.
fn normalise_request(mut request: Request) -> (Request, Vec<&'static str>) {
    request.model = String::new();
    request.stream = false;
    request.stream_usage = false;
    request.response_format = match request.response_format.take() {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            schema,
            strict: None,
            description: None,
        }),
        other => other,
    };
    let names: HashMap<String, String> = request
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .filter_map(|block| match block {
            ContentBlock::ToolUse { id, name, .. } => Some((id.clone(), name.clone())),
            _ => None,
        })
        .collect();
    let mut dropped = Vec::new();
    for message in &mut request.messages {
        let content = std::mem::take(&mut message.content);
        message.content = match message.role {
            Role::Assistant => merge_texts(content),
            _ => content
                .into_iter()
                .map(|block| match block {
                    ContentBlock::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                        ..
                    } => {
                        let name = names.get(&tool_use_id).cloned().unwrap_or_else(|| {
                            dropped.push("tool_result.name");
                            "unknown".to_owned()
                        });
                        ContentBlock::ToolResult {
                            tool_use_id,
                            name: Some(name),
                            content: content
                                .into_iter()
                                .map(|piece| match piece {
                                    ToolResultContent::Text { text } => {
                                        ToolResultContent::text(compact(text))
                                    }
                                    other => other,
                                })
                                .collect(),
                            is_error,
                        }
                    }
                    other => other,
                })
                .collect(),
        };
    }
    dropped.dedup();
    (request, dropped)
}

/// The reply as Gemini gives it back: adjacent text blocks are one, and a
/// finished turn is a tool-use stop exactly when it holds a call.
fn normalise_response(mut response: Response) -> Response {
    response.content = merge_texts(std::mem::take(&mut response.content));
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

fn encode_events(events: &[StreamEvent], json_array: bool) -> Vec<u8> {
    let mut options = ReplyOptions::new(0);
    options.json_array = json_array;
    let mut encoder = stream::Encoder::new(&options);
    let mut bytes = Vec::new();
    for event in events {
        encoder.encode(event, &mut bytes);
    }
    encoder.finish(&mut bytes);
    bytes
}

fn decode_pieces(pieces: &[&[u8]]) -> Vec<StreamEvent> {
    let mut decoder = stream::Decoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut events).unwrap();
    }
    decoder.finish(&mut events).unwrap();
    events
}

fn accumulate(events: &[StreamEvent]) -> Response {
    let mut accumulator = StreamAccumulator::new();
    events.iter().for_each(|event| accumulator.push(event));
    assert!(accumulator.is_complete());
    accumulator.finish().unwrap()
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    proptest::sample::select(vec![
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::RequestTooLarge,
        ErrorKind::ContextLength,
        ErrorKind::RateLimit,
        ErrorKind::InsufficientQuota,
        ErrorKind::Overloaded,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::BadGateway,
        ErrorKind::Server,
    ])
}

/// The kind a Gemini client reads back: Google's statuses merge some.
fn gemini_kind(kind: ErrorKind) -> ErrorKind {
    match kind {
        ErrorKind::RequestTooLarge | ErrorKind::ContextLength => ErrorKind::InvalidRequest,
        ErrorKind::InsufficientQuota => ErrorKind::RateLimit,
        ErrorKind::Overloaded | ErrorKind::BadGateway => ErrorKind::Unavailable,
        kind => kind,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn gemini_request_round_trips(request in gemini_request()) {
        let encoded = request::encode(&request, &RequestOptions::new("gemini-3-flash-preview"));
        let decoded = request::decode(&encoded.body).unwrap();
        let (expected, dropped) = normalise_request(request);
        prop_assert_eq!(&encoded.dropped, &dropped);
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn gemini_response_round_trips(response in gemini_response()) {
        let encoded = response::encode(&response, 0);
        prop_assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
        prop_assert_eq!(response::decode(&encoded.body).unwrap(), normalise_response(response));
    }

    #[test]
    fn gemini_stream_round_trips_in_any_split(
        response in gemini_response(),
        json_array in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes = encode_events(&response.to_events(), json_array);
        let whole = decode_pieces(&[&bytes]);
        prop_assert_eq!(decode_pieces(&testing::split(&bytes, &cuts)), whole.clone());
        prop_assert_eq!(accumulate(&whole), normalise_response(response));
    }

    #[test]
    fn gemini_stream_and_reply_agree(response in gemini_response()) {
        let reply = response::decode(&response::encode(&response, 0).body).unwrap();
        let streamed = accumulate(&decode_pieces(&[&encode_events(&response.to_events(), false)]));
        prop_assert_eq!(streamed, reply);
    }

    #[test]
    fn gemini_errors_round_trip(kind in error_kind(), message in testing::text()) {
        let error = ApiError::new(kind, message);
        let (status, body) = error::encode(&error);
        let back = error::decode(status, &body);
        prop_assert_eq!(back.kind, gemini_kind(kind));
        prop_assert_eq!(&back.message, &error.message);
        prop_assert_eq!(back.status, status);
    }

    #[test]
    fn gemini_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = request::decode(&bytes);
        let _ = response::decode(&bytes);
        let _ = error::decode(500, &bytes);
        let mut decoder = stream::Decoder::new();
        let mut events = Vec::new();
        let _ = decoder.feed(&bytes, &mut events);
        let _ = decoder.finish(&mut events);
    }

    #[test]
    fn gemini_decoders_never_panic_on_json(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let _ = request::decode(&bytes);
        let _ = request::unsupported_fields(&value);
        let _ = response::decode(&bytes);
        let mut decoder = stream::Decoder::new();
        let mut events = Vec::new();
        let mut sse = b"data: ".to_vec();
        sse.extend_from_slice(&bytes);
        sse.extend_from_slice(b"\n\n");
        let _ = decoder.feed(&sse, &mut events);
        let _ = decoder.finish(&mut events);
    }
}

/// JSON shaped like Gemini bodies, with the field names the decoders look
/// at, to reach past the first type check.
fn json_value() -> impl Strategy<Value = Value> {
    let key = proptest::sample::select(vec![
        "contents",
        "role",
        "parts",
        "text",
        "thought",
        "thoughtSignature",
        "functionCall",
        "functionResponse",
        "name",
        "args",
        "id",
        "response",
        "inlineData",
        "mimeType",
        "data",
        "fileData",
        "fileUri",
        "candidates",
        "content",
        "finishReason",
        "usageMetadata",
        "generationConfig",
        "thinkingConfig",
        "thinkingBudget",
        "tools",
        "functionDeclarations",
        "toolConfig",
        "functionCallingConfig",
        "mode",
        "error",
        "result",
        "model",
        "user",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        "[a-zA-Z0-9 ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..5).prop_map(|fields| {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

#[test]
fn gemini_turns_of_one_role_merge_on_the_way_out() {
    let request = Request::new(
        "m",
        vec![
            Message::text(Role::User, "a"),
            Message::text(Role::User, "b"),
        ],
    );
    let decoded =
        request::decode(&request::encode(&request, &RequestOptions::new("m")).body).unwrap();
    assert_eq!(
        decoded.messages,
        vec![Message::new(
            Role::User,
            vec![ContentBlock::text("a"), ContentBlock::text("b")]
        )]
    );
}
