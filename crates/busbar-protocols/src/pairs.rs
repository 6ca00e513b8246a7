//! Properties of every ingress × egress pair (36 of them): what one
//! format's encoder writes, its own decoder accepts; and a translated stream
//! says what the translated complete reply says.

use busbar_ir::{ContentBlock, Request, Response, StopReason, StreamAccumulator, StreamEvent};
use proptest::prelude::*;

use crate::testing::{self, Capabilities, Count};
use crate::{Protocol, ReplyOptions, RequestOptions};

/// What all six formats can carry: text, tool definitions and calls, tool
/// results as one text piece, a system prompt, and the stop reasons every
/// format tells apart.
fn common() -> Capabilities {
    Capabilities {
        system_parts: false,
        thinking: false,
        redacted_thinking: false,
        interleaved_blocks: false,
        image_urls: false,
        image_detail: false,
        rich_tool_results: false,
        tool_result_errors: false,
        tool_strict: false,
        top_k: false,
        seed: false,
        penalties: false,
        user: false,
        parallel_tool_calls: false,
        response_format: false,
        reasoning_effort: false,
        reasoning_budget: false,
        stop_reasons: &[
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::ToolUse,
        ],
        stop_sequence: false,
        created: false,
        cache_read: Count::Never,
        cache_write: Count::Never,
        cache_write_1h: Count::Never,
        reasoning_tokens: Count::Never,
    }
}

/// What a client can tell of a reply whatever its format: the text, the
/// calls (name and arguments as JSON), the stop reason and the token counts.
#[derive(Debug, PartialEq)]
struct Gist {
    text: String,
    calls: Vec<(String, serde_json::Value)>,
    stop_reason: Option<StopReason>,
    input_tokens: u64,
    output_tokens: u64,
}

fn gist(response: &Response) -> Gist {
    let calls = response
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolUse {
                name, arguments, ..
            } => Some((
                name.clone(),
                serde_json::from_str(arguments).unwrap_or(serde_json::Value::Null),
            )),
            _ => None,
        })
        .collect();
    Gist {
        text: response.text(),
        calls,
        stop_reason: response.stop_reason.clone(),
        input_tokens: response.usage.input_tokens,
        output_tokens: response.usage.output_tokens,
    }
}

/// Encodes `events` as `protocol`'s stream and decodes them back. Usage is
/// asked for, as Busbar asks an OpenAI upstream for it.
fn through_stream(protocol: Protocol, events: &[StreamEvent]) -> Vec<StreamEvent> {
    let mut bytes = Vec::new();
    let mut options = ReplyOptions::new(1_700_000_000);
    options.include_usage = true;
    let mut encoder = protocol.stream_encoder(&options);
    for event in events {
        encoder.encode(event, &mut bytes);
    }
    encoder.finish(&mut bytes);
    let mut decoder = protocol.stream_decoder();
    let mut out = Vec::new();
    decoder
        .feed(&bytes, &mut out)
        .unwrap_or_else(|error| panic!("{} rejects its own stream: {error}", protocol.name()));
    decoder
        .finish(&mut out)
        .unwrap_or_else(|error| panic!("{} stream incomplete: {error}", protocol.name()));
    out
}

fn accumulate(events: &[StreamEvent]) -> Response {
    let mut accumulator = StreamAccumulator::new();
    for event in events {
        accumulator.push(event);
    }
    accumulator.finish().expect("no error event")
}

/// A reply the upstream sends, as the egress format round-trips it.
fn as_sent(egress: Protocol, reply: &Response) -> Response {
    let body = egress
        .encode_response(reply, &ReplyOptions::new(1_700_000_000))
        .body;
    egress
        .decode_response(&body)
        .unwrap_or_else(|error| panic!("{} rejects its own reply: {error}", egress.name()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every egress encoder writes a request its own decoder reads back.
    #[test]
    fn every_egress_request_is_accepted_by_its_own_parser(request in testing::request(&common())) {
        for egress in Protocol::ALL {
            let mut request: Request = request.clone();
            request.max_tokens.get_or_insert(64);
            let encoded = egress.encode_request(&request, &RequestOptions::new("m"));
            if let Err(error) = egress.decode_request(&encoded.body) {
                panic!("{} rejects its own request: {error}\n{}", egress.name(),
                    String::from_utf8_lossy(&encoded.body));
            }
        }
    }

    /// For each pair: the reply translated whole and the same reply
    /// translated as a stream tell a client the same thing.
    #[test]
    fn a_translated_stream_equals_the_translated_reply(reply in testing::response(&common())) {
        for egress in Protocol::ALL {
            let upstream = as_sent(egress, &reply);
            let streamed_upstream = through_stream(egress, &upstream.to_events());
            for ingress in Protocol::ALL {
                let whole = as_sent(ingress, &upstream);
                let streamed = accumulate(&through_stream(ingress, &streamed_upstream));
                prop_assert_eq!(
                    gist(&streamed),
                    gist(&whole),
                    "{} upstream, {} client",
                    egress.name(),
                    ingress.name()
                );
            }
        }
    }
}
