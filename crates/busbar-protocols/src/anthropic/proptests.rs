//! Property tests: IR → Anthropic → IR is the identity on what Anthropic
//! expresses, and stream decoding does not depend on how bytes are split.
//!
//! Where the expected value is normalised, the normalisation is one of the
//! format's documented choices (see each `normalise_*`).

use busbar_ir::{
    ApiError, ErrorKind, Request, Response, ResponseFormat, StopReason, StreamAccumulator,
    StreamEvent, ToolChoice,
};
use proptest::prelude::*;

use super::{error, request, response, stream, WireUsage};
use crate::testing::{self, Capabilities, Count};
use crate::{ReplyOptions, RequestOptions, StreamDecoder, StreamEncoder};

/// What Anthropic Messages can say.
fn caps() -> Capabilities {
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
        reasoning_tokens: Count::Maybe,
    }
}

/// A request Anthropic accepts as is (the encoder adjusts the others, as
/// its own tests check): a temperature of at most 1; and with thinking, a
/// budget below `max_tokens`, no sampling changes and no forced tool.
fn anthropic_request() -> impl Strategy<Value = Request> {
    testing::request(&caps()).prop_map(|mut request| {
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

/// The request as Anthropic gives it back:
/// * the upstream model id and a `max_tokens` are always written;
/// * OpenAI's stream usage switch does not exist (Anthropic always reports);
/// * parallel tool use rides on `tool_choice`: with no choice it is sent as
///   an `auto` choice only to turn parallel calls off, and a `none` choice
///   carries no switch;
/// * a JSON schema format has no name (decoded as `response`), strictness or
///   description; JSON-object mode and plain text are not sent.
fn normalise_request(mut request: Request, options: &RequestOptions) -> Request {
    request.model.clone_from(&options.model);
    request.max_tokens = Some(request.max_tokens.unwrap_or(options.default_max_tokens));
    request.stream_usage = false;
    match (&request.tool_choice, request.parallel_tool_calls) {
        (None, Some(false)) => request.tool_choice = Some(ToolChoice::Auto),
        (None | Some(ToolChoice::None), _) => request.parallel_tool_calls = None,
        _ => {}
    }
    request.response_format = match request.response_format.take() {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            schema,
            strict: None,
            description: None,
        }),
        _ => None,
    };
    request
}

/// Anthropic's `message_start` usage always carries both cache counts.
fn normalise_events(mut events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    if let Some(StreamEvent::MessageStart { usage, .. }) = events.first_mut() {
        *usage = WireUsage::from_ir(usage).to_ir();
    }
    events
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
    proptest::sample::select(vec![
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
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn anthropic_request_round_trips(request in anthropic_request()) {
        let options = RequestOptions::new("claude-sonnet-4-5");
        let encoded = request::encode(&request, &options);
        let json_object = request.response_format == Some(ResponseFormat::JsonObject);
        let expected_dropped: &[&str] = if json_object { &["response_format"] } else { &[] };
        prop_assert_eq!(&encoded.dropped, expected_dropped);
        let decoded = request::decode(&encoded.body).unwrap();
        prop_assert_eq!(decoded, normalise_request(request, &options));
    }

    #[test]
    fn anthropic_response_round_trips(response in testing::response(&caps())) {
        let encoded = response::encode(&response);
        prop_assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
        prop_assert_eq!(response::decode(&encoded.body).unwrap(), response);
    }

    #[test]
    fn anthropic_stream_round_trips_in_any_split(
        response in testing::response(&caps()),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let events = response.to_events();
        let bytes = encode_events(&events);
        let whole = decode_pieces(&[&bytes]);
        prop_assert_eq!(decode_pieces(&testing::split(&bytes, &cuts)), whole.clone());
        prop_assert_eq!(&whole, &normalise_events(events));
        // The stream says what the complete reply says.
        let mut accumulator = StreamAccumulator::new();
        whole.iter().for_each(|event| accumulator.push(event));
        prop_assert!(accumulator.is_complete());
        prop_assert_eq!(accumulator.finish().unwrap(), response);
    }

    #[test]
    fn anthropic_stream_and_reply_agree(response in testing::response(&caps())) {
        let reply = response::decode(&response::encode(&response).body).unwrap();
        let mut accumulator = StreamAccumulator::new();
        for event in decode_pieces(&[&encode_events(&response.to_events())]) {
            accumulator.push(&event);
        }
        prop_assert_eq!(accumulator.finish().unwrap(), reply);
    }

    #[test]
    fn anthropic_errors_round_trip(kind in error_kind(), message in testing::text()) {
        let error = ApiError::new(kind, message);
        let (status, body) = error::encode(&error);
        let back = error::decode(status, &body);
        prop_assert_eq!(back.kind, kind);
        prop_assert_eq!(&back.message, &error.message);
        let expected_status = if kind == ErrorKind::Overloaded { 529 } else { error.status };
        prop_assert_eq!(back.status, expected_status);
    }

    #[test]
    fn anthropic_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = request::decode(&bytes);
        let _ = response::decode(&bytes);
        let _ = error::decode(500, &bytes);
        let mut decoder = stream::Decoder::new();
        let mut events = Vec::new();
        let _ = decoder.feed(&bytes, &mut events);
        let _ = decoder.finish(&mut events);
    }
}

#[test]
fn anthropic_response_events_start_with_known_usage() {
    // `Response` carries no start usage; the stream's first frame therefore
    // reports zeros, which the SDK accepts.
    let response = Response::new("msg", "m", vec![]);
    let events = response.to_events();
    let bytes = String::from_utf8(encode_events(&events)).unwrap();
    assert!(bytes.starts_with("event: message_start\ndata: {\"type\":\"message_start\""));
    assert!(bytes.contains("\"usage\":{\"input_tokens\":0,\"output_tokens\":0,"));
}
