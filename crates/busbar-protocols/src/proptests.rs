//! Property tests of the six wire formats, written once and run for each.
//!
//! A format is described in [`formats`] by a [`Format`]: what it can carry
//! (its [`Capabilities`], which keep the generated values within reach) and
//! the few choices of its own that a round trip shows (a model id written
//! from the route, a stop reason derived from the content, a count always
//! written), each documented where it is stated. The properties:
//!
//! * IR → wire → IR is the identity, up to those choices, for requests
//!   (naming exactly what the encoder dropped), replies, streams (in any
//!   split of their bytes) and errors;
//! * a stream says what the complete reply says;
//! * no decoder panics, on JSON shaped with the format's own field names
//!   and on byte-level mutations of valid payloads (its golden inputs and
//!   what its encoders write), fed to its request, reply, error and stream
//!   decoders through the fuzz targets' functions, which also check that a
//!   stream decodes the same however it is split ([`inputs`]);
//! * whatever a stream decoder makes of such input is a well-formed IR
//!   stream: blocks open and close in turn.

mod formats;
mod inputs;

use busbar_ir::{ApiError, ErrorKind, Request, Response, StreamAccumulator, StreamEvent};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::testing::{self, Capabilities};
use crate::{fuzzing, Protocol, ReplyOptions, RequestOptions};

/// One wire format, as the properties need it.
pub(crate) struct Format {
    pub(crate) protocol: Protocol,
    /// What the format carries losslessly.
    pub(crate) caps: Capabilities,
    /// The upstream model requests are encoded for.
    pub(crate) model: &'static str,
    /// Requests the format's encoder writes as they are (the encoder's
    /// adjustments of the others have their own tests).
    pub(crate) request: fn(&Capabilities) -> BoxedStrategy<Request>,
    /// A request as the format gives it back, and the names its encoding
    /// drops.
    pub(crate) request_back: fn(Request, &RequestOptions) -> (Request, Vec<&'static str>),
    /// Replies within the format's reach.
    pub(crate) response: fn(&Capabilities) -> BoxedStrategy<Response>,
    /// A reply as the format gives it back.
    pub(crate) response_back: fn(Response) -> Response,
    /// A reply's events as the format's stream gives them back, when they
    /// come back event for event (else only what they add up to is checked).
    pub(crate) events_back: Option<fn(&Response) -> Vec<StreamEvent>>,
    /// The options a client stream is encoded with.
    pub(crate) reply_options: fn() -> ReplyOptions,
    /// The error kinds the format tells apart.
    pub(crate) error_kinds: &'static [ErrorKind],
    /// The kind and status a client reads back, from the kind sent, the
    /// IR's status for it and the status on the wire.
    pub(crate) error_back: fn(ErrorKind, u16, u16) -> (ErrorKind, u16),
    /// The field names and words of the format's bodies and streams,
    /// separated by whitespace.
    pub(crate) words: &'static str,
}

fn request_round_trips(format: &Format, request: Request) -> Result<(), TestCaseError> {
    let protocol = format.protocol;
    let options = RequestOptions::new(format.model);
    let encoded = protocol.encode_request(&request, &options);
    let (expected, dropped) = (format.request_back)(request, &options);
    prop_assert_eq!(&encoded.dropped, &dropped);
    let decoded = protocol
        .decode_request(&encoded.body)
        .map_err(|error| TestCaseError::fail(format!("{error}")))?;
    prop_assert_eq!(decoded.request, expected);
    Ok(())
}

fn response_round_trips(format: &Format, response: Response) -> Result<(), TestCaseError> {
    let protocol = format.protocol;
    let encoded = protocol.encode_response(&response, &ReplyOptions::new(0));
    prop_assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
    let decoded = protocol
        .decode_response(&encoded.body)
        .map_err(|error| TestCaseError::fail(format!("{error}")))?;
    prop_assert_eq!(decoded, (format.response_back)(response));
    Ok(())
}

/// The reply streamed in any split decodes to the same events, which say
/// what the reply says, and what the complete reply, sent whole, says.
fn stream_round_trips(
    format: &Format,
    response: Response,
    json_array: bool,
    cuts: &[prop::sample::Index],
) -> Result<(), TestCaseError> {
    let protocol = format.protocol;
    let mut options = (format.reply_options)();
    options.json_array = json_array;
    let bytes = encode_stream(protocol, &options, &response.to_events());
    let whole = decode_stream(protocol, &[&bytes])?;
    prop_assert_eq!(
        &decode_stream(protocol, &testing::split(&bytes, cuts))?,
        &whole
    );
    if let Some(events_back) = format.events_back {
        prop_assert_eq!(&whole, &events_back(&response));
    }
    let mut accumulator = StreamAccumulator::new();
    whole.iter().for_each(|event| accumulator.push(event));
    prop_assert!(accumulator.is_complete());
    let streamed = accumulator
        .finish()
        .map_err(|error| TestCaseError::fail(format!("{error:?}")))?;
    prop_assert_eq!(&streamed, &(format.response_back)(response.clone()));
    let body = protocol
        .encode_response(&response, &ReplyOptions::new(0))
        .body;
    let reply = protocol
        .decode_response(&body)
        .map_err(|error| TestCaseError::fail(format!("{error}")))?;
    prop_assert_eq!(streamed, reply);
    Ok(())
}

fn errors_round_trip(
    format: &Format,
    kind: ErrorKind,
    message: String,
) -> Result<(), TestCaseError> {
    let protocol = format.protocol;
    let error = ApiError::new(kind, message);
    let encoded = protocol.encode_error(&error);
    let back = protocol.decode_error(encoded.status, &encoded.body, encoded.error_type);
    let (kind_back, status_back) = (format.error_back)(kind, error.status, encoded.status);
    prop_assert_eq!(back.kind, kind_back);
    prop_assert_eq!(back.status, status_back);
    prop_assert_eq!(&back.message, &error.message);
    if let Some(name) = encoded.error_type {
        prop_assert_eq!(back.code.as_deref(), Some(name));
    }
    Ok(())
}

/// Runs `data` through the fuzz target of `kind` for `format`: it must not
/// panic, and a stream must decode the same however it is split.
fn never_panics(format: &Format, kind: inputs::Kind, data: &[u8]) {
    match kind {
        inputs::Kind::Request => {
            // The decoder names unsupported fields only of bodies it reads.
            if let Ok(body) = serde_json::from_slice(data) {
                unsupported_fields(format.protocol, &body);
            }
            fuzzing::request(format.protocol, data);
        }
        inputs::Kind::Response => fuzzing::response(format.protocol, data),
        inputs::Kind::Stream => fuzzing::stream(format.protocol, data),
    }
}

fn unsupported_fields(protocol: Protocol, body: &serde_json::Value) -> Vec<&'static str> {
    match protocol {
        Protocol::OpenAi => crate::openai::request::unsupported_fields(body),
        Protocol::Responses => crate::responses::request::unsupported_fields(body),
        Protocol::Anthropic => crate::anthropic::request::unsupported_fields(body),
        Protocol::Gemini => crate::gemini::request::unsupported_fields(body),
        Protocol::Cohere => crate::cohere::request::unsupported_fields(body),
        Protocol::Bedrock => crate::bedrock::request::unsupported_fields(body),
        Protocol::BedrockInvoke => Protocol::BedrockInvoke.wire().unsupported_fields(body),
    }
}

/// Whatever a decoder made of a stream, its events are well formed: blocks
/// numbered from 0 in the order they open, at most one open, deltas only
/// to it, nothing else while it is, and nothing after the end.
fn well_formed(events: &[StreamEvent]) -> Result<(), TestCaseError> {
    let mut open = None;
    let mut next = 0;
    let mut ended = false;
    for event in events {
        prop_assert!(!ended, "{:?}", events);
        match event {
            StreamEvent::BlockStart { index, .. } => {
                prop_assert!(open.is_none(), "{:?}", events);
                prop_assert_eq!(*index, next, "{:?}", events);
                open = Some(*index);
                next += 1;
            }
            StreamEvent::BlockDelta { index, .. } => {
                prop_assert_eq!(open, Some(*index), "{:?}", events)
            }
            StreamEvent::BlockStop { index } => {
                prop_assert_eq!(open.take(), Some(*index), "{:?}", events)
            }
            StreamEvent::MessageStop | StreamEvent::Error(_) => {
                prop_assert!(open.is_none(), "{:?}", events);
                ended = true;
            }
            _ => prop_assert!(open.is_none(), "{:?}", events),
        }
    }
    Ok(())
}

/// The events a fresh decoder of `protocol` makes of `bytes`, whether or
/// not the stream ends well.
fn decode_lossy(protocol: Protocol, bytes: &[u8]) -> Vec<StreamEvent> {
    let mut decoder = protocol.stream_decoder();
    let mut events = Vec::new();
    if decoder.feed(bytes, &mut events).is_ok() {
        let _ = decoder.finish(&mut events);
    }
    events
}

fn decode_stream(protocol: Protocol, pieces: &[&[u8]]) -> Result<Vec<StreamEvent>, TestCaseError> {
    let mut decoder = protocol.stream_decoder();
    let mut events = Vec::new();
    let fail = |error| TestCaseError::fail(format!("{} stream: {error}", protocol.name()));
    for piece in pieces {
        decoder.feed(piece, &mut events).map_err(fail)?;
    }
    decoder.finish(&mut events).map_err(fail)?;
    Ok(events)
}

fn encode_stream(protocol: Protocol, options: &ReplyOptions, events: &[StreamEvent]) -> Vec<u8> {
    let mut encoder = protocol.stream_encoder(options);
    let mut bytes = Vec::new();
    for event in events {
        encoder.encode(event, &mut bytes);
    }
    encoder.finish(&mut bytes);
    bytes
}

/// The same properties for each format: `name => the format's description`.
macro_rules! properties {
    ($($name:ident => $format:expr;)*) => {$(
        mod $name {
            use proptest::prelude::*;

            use super::*;

            fn format() -> Format {
                $format
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(128))]

                #[test]
                fn request_round_trips(request in (format().request)(&format().caps)) {
                    super::request_round_trips(&format(), request)?;
                }

                #[test]
                fn response_round_trips(response in (format().response)(&format().caps)) {
                    super::response_round_trips(&format(), response)?;
                }

                #[test]
                fn stream_round_trips_in_any_split(
                    response in (format().response)(&format().caps),
                    json_array in any::<bool>(),
                    cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
                ) {
                    // Only Gemini has a second framing; the others ignore it.
                    super::stream_round_trips(&format(), response, json_array, &cuts)?;
                }

                #[test]
                fn errors_round_trip(
                    kind in proptest::sample::select(format().error_kinds),
                    message in testing::text(),
                ) {
                    super::errors_round_trip(&format(), kind, message)?;
                }
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(96))]

                #[test]
                fn decoders_never_panic_on_shaped_json(
                    (kind, data) in inputs::shaped(&format()),
                ) {
                    never_panics(&format(), kind, &data);
                }

                #[test]
                fn decoders_never_panic_on_mutated_payloads(
                    (kind, data) in inputs::mutated(&format()),
                ) {
                    never_panics(&format(), kind, &data);
                }

                #[test]
                fn streams_of_shaped_events_decode_well_formed(
                    bytes in inputs::shaped_stream(&format()),
                ) {
                    well_formed(&decode_lossy(format().protocol, &bytes))?;
                }
            }
        }
    )*};
}

properties! {
    openai => formats::openai();
    responses => formats::responses();
    anthropic => formats::anthropic();
    gemini => formats::gemini();
    cohere => formats::cohere();
    bedrock => formats::bedrock();
    bedrock_invoke => formats::bedrock_invoke();
}
