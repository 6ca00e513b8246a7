//! Property tests: IR → Cohere → IR is the identity on what Cohere
//! expresses, stream decoding does not depend on how bytes are split, and a
//! stream says what the complete reply says.
//!
//! Where the expected value is normalised, the normalisation is one of the
//! format's documented choices (see each `normalise_*`).

use busbar_ir::{
    ApiError, BlockDelta, ContentBlock, ErrorKind, Message, Request, Response, ResponseFormat,
    StopReason, StreamAccumulator, StreamEvent, ToolChoice,
};
use proptest::prelude::*;

use super::{capabilities, error, request, response, stream};
use crate::testing;
use crate::{ReplyOptions, RequestOptions, StreamDecoder, StreamEncoder};

/// Thinking without its signature: Cohere has none.
fn unsigned(content: &mut [ContentBlock]) {
    for block in content {
        if let ContentBlock::Thinking { signature, .. } = block {
            *signature = None;
        }
    }
}

/// A request Cohere accepts as is (the encoder moves the others into range,
/// as its own tests check): unsigned thinking, `temperature` and penalties
/// within `0..=1`, `top_p` within `0.01..=0.99`, a non-negative `seed`.
fn cohere_request() -> impl Strategy<Value = Request> {
    testing::request(&capabilities()).prop_map(|mut request| {
        request
            .messages
            .iter_mut()
            .for_each(|m| unsigned(&mut m.content));
        request.temperature = request.temperature.map(|t| t.min(1.0));
        request.top_p = request.top_p.map(|p| p.clamp(0.01, 0.99));
        request.frequency_penalty = request.frequency_penalty.map(|f| f.clamp(0.0, 1.0));
        request.presence_penalty = request.presence_penalty.map(|p| p.clamp(0.0, 1.0));
        request.seed = request.seed.map(|seed| seed & i64::MAX);
        request
    })
}

/// The request as Cohere gives it back:
/// * the upstream model id is written;
/// * OpenAI's stream usage switch does not exist (Cohere always reports);
/// * auto is the absent `tool_choice`; a named tool is `REQUIRED` with only
///   the tools of that name (all of them when none has it);
/// * a JSON schema format has no name (decoded as `response`), strictness or
///   description.
fn normalise_request(mut request: Request, options: &RequestOptions) -> Request {
    request.model.clone_from(&options.model);
    request.stream_usage = false;
    match request.tool_choice.take() {
        Some(ToolChoice::Auto) | None => {}
        Some(ToolChoice::Tool(name)) => {
            if request.tools.iter().any(|tool| tool.name == name) {
                request.tools.retain(|tool| tool.name == name);
            }
            request.tool_choice = Some(ToolChoice::Required);
        }
        choice => request.tool_choice = choice,
    }
    request.response_format = match request.response_format.take() {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            schema,
            strict: None,
            description: None,
        }),
        other => other,
    };
    request
}

/// A reply as the shared strategy makes it, with unsigned thinking.
fn cohere_response() -> impl Strategy<Value = Response> {
    testing::response(&capabilities()).prop_map(|mut response| {
        unsigned(&mut response.content);
        response
    })
}

/// The reply as Cohere gives it back: no model name, a `finish_reason`
/// always (`COMPLETE` when unknown), and a reply holding tool calls that
/// "simply ended" reports `TOOL_CALL`.
fn normalise_response(mut response: Response) -> Response {
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

/// The events as Cohere gives them back: those of the normalised reply.
fn normalise_events(response: &Response) -> Vec<StreamEvent> {
    normalise_response(response.clone())
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
    fn cohere_request_round_trips(request in cohere_request()) {
        let options = RequestOptions::new("command-a-03-2025");
        let encoded = request::encode(&request, &options);
        let unknown_tool = matches!(
            &request.tool_choice,
            Some(ToolChoice::Tool(name)) if !request.tools.iter().any(|t| &t.name == name)
        );
        let expected_dropped: &[&str] = if unknown_tool { &["tool_choice"] } else { &[] };
        prop_assert_eq!(&encoded.dropped, expected_dropped);
        let decoded = request::decode(&encoded.body).unwrap();
        prop_assert_eq!(decoded, normalise_request(request, &options));
    }

    #[test]
    fn cohere_response_round_trips(response in cohere_response()) {
        let encoded = response::encode(&response, 0);
        prop_assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
        prop_assert_eq!(response::decode(&encoded.body).unwrap(), normalise_response(response));
    }

    #[test]
    fn cohere_stream_round_trips_in_any_split(
        response in cohere_response(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes = encode_events(&response.to_events());
        let whole = decode_pieces(&[&bytes]);
        prop_assert_eq!(decode_pieces(&testing::split(&bytes, &cuts)), whole.clone());
        prop_assert_eq!(&whole, &normalise_events(&response));
        let mut accumulator = StreamAccumulator::new();
        whole.iter().for_each(|event| accumulator.push(event));
        prop_assert!(accumulator.is_complete());
        prop_assert_eq!(accumulator.finish().unwrap(), normalise_response(response));
    }

    #[test]
    fn cohere_stream_and_reply_agree(response in cohere_response()) {
        let reply = response::decode(&response::encode(&response, 0).body).unwrap();
        let mut accumulator = StreamAccumulator::new();
        for event in decode_pieces(&[&encode_events(&response.to_events())]) {
            accumulator.push(&event);
        }
        prop_assert_eq!(accumulator.finish().unwrap(), reply);
    }

    #[test]
    fn cohere_errors_round_trip(kind in error_kind(), message in testing::text()) {
        let error = ApiError::new(kind, message);
        let (status, body) = error::encode(&error);
        let back = error::decode(status, &body);
        let (expected_kind, expected_status) = match kind {
            ErrorKind::Overloaded => (ErrorKind::Unavailable, 503),
            ErrorKind::InsufficientQuota => (kind, 402),
            _ => (kind, error.status),
        };
        prop_assert_eq!(back.kind, expected_kind);
        prop_assert_eq!(back.status, expected_status);
        prop_assert_eq!(&back.message, &error.message);
    }

    #[test]
    fn cohere_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = request::decode(&bytes);
        let _ = response::decode(&bytes);
        let _ = error::decode(500, &bytes);
        let mut decoder = stream::Decoder::new();
        let mut events = Vec::new();
        let _ = decoder.feed(&bytes, &mut events);
        let _ = decoder.finish(&mut events);
    }

    #[test]
    fn cohere_stream_decoder_never_panics_on_shuffled_frames(
        order in proptest::collection::vec(0usize..FRAMES.len(), 0..16),
    ) {
        let bytes: String = order.iter().map(|&i| FRAMES[i]).collect();
        let mut decoder = stream::Decoder::new();
        let mut events = Vec::new();
        let _ = decoder.feed(bytes.as_bytes(), &mut events);
        let _ = decoder.finish(&mut events);
        // Whatever the order, the IR stays well formed: blocks open and
        // close in turn.
        let mut open = None;
        for event in &events {
            match event {
                StreamEvent::BlockStart { index, .. } => {
                    prop_assert!(open.is_none());
                    open = Some(*index);
                }
                StreamEvent::BlockDelta { index, .. } => prop_assert_eq!(open, Some(*index)),
                StreamEvent::BlockStop { index } => {
                    prop_assert_eq!(open.take(), Some(*index));
                }
                _ => prop_assert!(open.is_none()),
            }
        }
    }
}

/// Frames of every kind, for shuffling.
const FRAMES: [&str; 10] = [
    "data: {\"type\":\"message-start\",\"id\":\"a\"}\n\n",
    "data: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}\n\n",
    "data: {\"type\":\"content-delta\",\"index\":1,\"delta\":{\"message\":{\"content\":{\"thinking\":\"t\"}}}}\n\n",
    "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"x\"}}}}\n\n",
    "data: {\"type\":\"content-end\",\"index\":0}\n\n",
    "data: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"p\"}}}\n\n",
    "data: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}}}}\n\n",
    "data: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n\n",
    "data: {\"type\":\"tool-call-end\",\"index\":0}\n\n",
    "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n",
];

#[test]
fn a_reply_without_blocks_streams_and_decodes() {
    let response = Response::new("r", "", vec![]);
    let events = decode_pieces(&[&encode_events(&response.to_events())]);
    assert_eq!(events, normalise_events(&response));
    // Messages the IR shares with other formats survive, too.
    let request = Request::new("m", vec![Message::text(busbar_ir::Role::User, "hi")]);
    let encoded = request::encode(&request, &RequestOptions::new("m"));
    assert_eq!(request::decode(&encoded.body).unwrap(), request);
}
