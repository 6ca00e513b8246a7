//! Property tests: IR → Converse → IR is the identity on what Converse
//! expresses, and stream decoding does not depend on how bytes are split.
//!
//! Where the expected value is normalised, the normalisation is one of the
//! format's documented choices (see each `normalise_*`).

use busbar_ir::{
    ApiError, ContentBlock, ErrorKind, Request, Response, ResponseFormat, StreamAccumulator,
    StreamEvent, Tool, ToolChoice,
};
use proptest::prelude::*;
use serde_json::json;

use super::eventstream::write_frame;
use super::{capabilities as caps, error, request, response, stream};
use crate::testing;
use crate::{ReplyOptions, RequestOptions, StreamDecoder, StreamEncoder};

/// A request Converse accepts as is (the encoder adjusts the others, as its
/// own tests check): no blank text (Bedrock refuses it), a temperature of
/// at most 1, and beside thinking a budget below `max_tokens`, no sampling
/// changes and no forced tool.
fn bedrock_request() -> impl Strategy<Value = Request> {
    testing::request(&caps()).prop_map(|mut request| {
        for block in request.messages.iter_mut().flat_map(|m| &mut m.content) {
            if let ContentBlock::Text { text } = block {
                if text.trim().is_empty() {
                    text.insert(0, 'x');
                }
            }
        }
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
    })
}

/// Redacted thinking is a blob on the wire: data that is not base64 goes
/// out base64-encoded.
fn with_blobs(blocks: &mut [ContentBlock]) {
    for block in blocks {
        if let ContentBlock::RedactedThinking { data } = block {
            *data = super::content::blob(data).into_owned();
        }
    }
}

fn has_tool_blocks(request: &Request) -> bool {
    request
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .any(|block| {
            matches!(
                block,
                ContentBlock::ToolUse { .. } | ContentBlock::ToolResult { .. }
            )
        })
}

/// The request as Converse gives it back:
/// * the model and streaming come from the route, not the body;
/// * a `none` tool choice withholds the tools, or (beside tool blocks) is
///   left out; a conversation with tool calls but no tools gets stand-ins;
/// * a JSON schema format has no strictness; JSON-object mode and plain
///   text are not sent;
/// * redacted thinking is base64.
fn normalise_request(mut request: Request) -> Request {
    request.model = String::new();
    for message in &mut request.messages {
        with_blobs(&mut message.content);
    }
    request.stream = false;
    request.stream_usage = false;
    let tool_blocks = has_tool_blocks(&request);
    if request.tool_choice == Some(ToolChoice::None) {
        request.tool_choice = None;
        if !tool_blocks {
            request.tools.clear();
        }
    }
    if request.tools.is_empty() && tool_blocks {
        let mut names: Vec<String> = Vec::new();
        for block in request.messages.iter().flat_map(|m| &m.content) {
            if let ContentBlock::ToolUse { name, .. } = block {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        request.tools = names
            .into_iter()
            .map(|name| Tool::new(name, None, json!({"type": "object", "properties": {}})))
            .collect();
    }
    request.response_format = match request.response_format.take() {
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            description,
            ..
        }) => Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict: None,
            description,
        }),
        _ => None,
    };
    request
}

fn expected_dropped(request: &Request) -> Vec<&'static str> {
    let mut dropped = Vec::new();
    if request.tool_choice == Some(ToolChoice::None)
        && !request.tools.is_empty()
        && has_tool_blocks(request)
    {
        dropped.push("tool_choice");
    }
    if request.response_format == Some(ResponseFormat::JsonObject) {
        dropped.push("response_format");
    }
    dropped
}

/// The reply as Converse gives it back: no id or model, redacted thinking
/// in base64.
fn normalise_response(mut response: Response) -> Response {
    response.id.clear();
    response.model.clear();
    with_blobs(&mut response.content);
    response
}

fn encode_events(events: &[StreamEvent]) -> Vec<u8> {
    let mut encoder = stream::Encoder::new(&ReplyOptions::new(0));
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

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    // Overloaded is rendered as ServiceUnavailableException and so reads
    // back as Unavailable; ContextLength depends on the message's words.
    proptest::sample::select(vec![
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::RequestTooLarge,
        ErrorKind::RateLimit,
        ErrorKind::InsufficientQuota,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::BadGateway,
        ErrorKind::Server,
    ])
}

/// A frame with a ConverseStream event type (or a stranger) and a small
/// JSON payload, for feeding the decoder nonsense that is framed correctly.
fn odd_frame() -> impl Strategy<Value = Vec<u8>> {
    let name = proptest::sample::select(vec![
        "messageStart",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
        "other",
    ]);
    let kind = proptest::sample::select(vec!["event", "exception", "error"]);
    let payload = prop_oneof![
        Just(json!({})),
        (0u64..4).prop_map(|i| json!({"contentBlockIndex": i, "delta": {"text": "t"}})),
        (0u64..4).prop_map(|i| json!({"contentBlockIndex": i, "delta": {"toolUse": {"input": "{"}}})),
        (0u64..4).prop_map(|i| json!({"contentBlockIndex": i, "delta": {"reasoningContent": {"signature": "s"}}})),
        (0u64..4).prop_map(|i| json!({"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": "t", "name": "n"}}})),
        (0u64..4).prop_map(|i| json!({"contentBlockIndex": i})),
        Just(json!({"stopReason": "end_turn"})),
        Just(json!({"usage": {"inputTokens": 1}})),
        Just(json!([1, 2])),
    ];
    (name, kind, payload).prop_map(|(name, kind, payload)| {
        let mut out = Vec::new();
        let headers = [
            (":event-type", name),
            (":exception-type", name),
            (":message-type", kind),
        ];
        write_frame(&headers, payload.to_string().as_bytes(), &mut out).unwrap();
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn bedrock_request_round_trips(request in bedrock_request()) {
        let options = RequestOptions::new("anthropic.claude-sonnet-4-5");
        let encoded = request::encode(&request, &options);
        prop_assert_eq!(&encoded.dropped, &expected_dropped(&request));
        let decoded = request::decode(&encoded.body).unwrap();
        prop_assert_eq!(decoded, normalise_request(request));
    }

    #[test]
    fn bedrock_response_round_trips(response in testing::response(&caps())) {
        let encoded = response::encode(&response, 0);
        prop_assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
        prop_assert_eq!(response::decode(&encoded.body).unwrap(), normalise_response(response));
    }

    #[test]
    fn bedrock_stream_round_trips_in_any_split(
        response in testing::response(&caps()),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes = encode_events(&response.to_events());
        let whole = decode_pieces(&[&bytes]);
        prop_assert_eq!(decode_pieces(&testing::split(&bytes, &cuts)), whole.clone());
        prop_assert_eq!(&whole, &normalise_response(response.clone()).to_events());
        // The stream says what the complete reply says.
        let mut accumulator = StreamAccumulator::new();
        whole.iter().for_each(|event| accumulator.push(event));
        prop_assert!(accumulator.is_complete());
        let reply = response::decode(&response::encode(&response, 0).body).unwrap();
        prop_assert_eq!(accumulator.finish().unwrap(), reply);
    }

    #[test]
    fn bedrock_errors_round_trip(kind in error_kind(), message in testing::text()) {
        let error = ApiError::new(kind, message);
        let (status, body, name) = error::encode(&error);
        let back = error::decode(status, &body, Some(name));
        prop_assert_eq!(back.kind, kind);
        prop_assert_eq!(&back.message, &error.message);
        prop_assert_eq!(back.status, status);
        prop_assert_eq!(back.code.as_deref(), Some(name));
    }

    #[test]
    fn bedrock_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = request::decode(&bytes);
        let _ = response::decode(&bytes);
        let _ = error::decode(500, &bytes, None);
        let mut decoder = stream::Decoder::new();
        let mut events = Vec::new();
        let _ = decoder.feed(&bytes, &mut events);
        let _ = decoder.finish(&mut events);
    }

    #[test]
    fn bedrock_stream_decoder_survives_odd_frames(
        frames in proptest::collection::vec(odd_frame(), 0..12),
    ) {
        let mut decoder = stream::Decoder::new();
        let mut events = Vec::new();
        for frame in &frames {
            if decoder.feed(frame, &mut events).is_err() {
                break;
            }
        }
        let _ = decoder.finish(&mut events);
        // Whatever came out obeys the IR's stream shape: blocks numbered in
        // order, at most one open, nothing after the end.
        let mut next = 0;
        let mut open = None;
        let mut ended = false;
        for event in &events {
            prop_assert!(!ended, "{:?}", events);
            match event {
                StreamEvent::BlockStart { index, .. } => {
                    prop_assert_eq!(open, None);
                    prop_assert_eq!(*index, next);
                    open = Some(*index);
                    next += 1;
                }
                StreamEvent::BlockDelta { index, .. } => prop_assert_eq!(open, Some(*index)),
                StreamEvent::BlockStop { index } => {
                    prop_assert_eq!(open, Some(*index));
                    open = None;
                }
                StreamEvent::MessageStop | StreamEvent::Error(_) => ended = true,
                _ => {}
            }
        }
    }
}
