//! ConverseStream decoding, rule by rule, on frames shaped as Bedrock sends
//! them.

use busbar_ir::{BlockDelta, BlockStart, ErrorKind, StopReason, StreamEvent, Usage};
use serde_json::{json, Value};

use super::*;
use crate::bedrock::eventstream::write_frame;

/// An event frame as Bedrock writes it, `p` padding included.
fn event(name: &str, mut payload: Value) -> Vec<u8> {
    payload["p"] = json!("abcdefghijklmnopqrstuvwxyzABCDEF");
    let mut out = Vec::new();
    write_frame(
        &[
            (":event-type", name),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
        &mut out,
    )
    .unwrap();
    out
}

fn exception(name: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(
        &[
            (":exception-type", name),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
        &mut out,
    )
    .unwrap();
    out
}

fn decode(frames: &[Vec<u8>]) -> Result<Vec<StreamEvent>, crate::DecodeError> {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    for frame in frames {
        decoder.feed(frame, &mut events)?;
    }
    decoder.finish(&mut events)?;
    Ok(events)
}

fn start() -> StreamEvent {
    StreamEvent::MessageStart {
        id: String::new(),
        model: String::new(),
        created: None,
        usage: Usage::default(),
    }
}

fn delta(index: usize, delta: BlockDelta) -> StreamEvent {
    StreamEvent::BlockDelta { index, delta }
}

fn block(index: usize, block: BlockStart) -> StreamEvent {
    StreamEvent::BlockStart { index, block }
}

fn stop(index: usize) -> StreamEvent {
    StreamEvent::BlockStop { index }
}

fn ending(reason: StopReason, usage: Option<Usage>) -> [StreamEvent; 2] {
    [
        StreamEvent::MessageDelta {
            stop_reason: Some(reason),
            stop_sequence: None,
            usage,
        },
        StreamEvent::MessageStop,
    ]
}

fn metadata(input: u64, output: u64) -> Vec<u8> {
    event(
        "metadata",
        json!({"usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
               "metrics": {"latencyMs": 415}}),
    )
}

#[test]
fn text_and_reasoning_blocks_open_at_their_first_delta() {
    let frames = [
        event("messageStart", json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me "}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think."}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "EqoB"}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": "Hello"}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": ", world"}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_x", "name": "get_weather"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 2})),
        event("messageStop", json!({"stopReason": "tool_use"})),
        event(
            "metadata",
            json!({"usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 79,
            "cacheReadInputTokens": 50}, "metrics": {"latencyMs": 700}}),
        ),
    ];
    let mut usage = Usage::new(70, 9);
    usage.cache_read_tokens = Some(50);
    let mut expected = vec![
        start(),
        block(0, BlockStart::Thinking),
        delta(0, BlockDelta::Thinking("Let me ".into())),
        delta(0, BlockDelta::Thinking("think.".into())),
        delta(0, BlockDelta::ThinkingSignature("EqoB".into())),
        stop(0),
        block(1, BlockStart::Text),
        delta(1, BlockDelta::Text("Hello".into())),
        delta(1, BlockDelta::Text(", world".into())),
        stop(1),
        block(
            2,
            BlockStart::ToolUse {
                id: "tooluse_x".into(),
                name: "get_weather".into(),
                signature: None,
            },
        ),
        delta(2, BlockDelta::ToolArguments("{\"city\":".into())),
        delta(2, BlockDelta::ToolArguments("\"Paris\"}".into())),
        stop(2),
    ];
    expected.extend(ending(StopReason::ToolUse, Some(usage)));
    assert_eq!(decode(&frames).unwrap(), expected);
    // The same bytes in one piece, and byte by byte.
    let bytes = frames.concat();
    assert_eq!(decode(std::slice::from_ref(&bytes)).unwrap(), expected);
    let singles: Vec<Vec<u8>> = bytes.iter().map(|b| vec![*b]).collect();
    assert_eq!(decode(&singles).unwrap(), expected);
}

#[test]
fn blocks_the_ir_lacks_are_skipped_and_indexes_renumbered() {
    let frames = [
        event("messageStart", json!({"role": "assistant"})),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 0, "start": {"toolResult": {"toolUseId": "srv_1"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"toolResult": [{"text": "result"}]}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"citation": {"title": "t"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": "Cited."}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"newKind": {}}}),
        ),
        event("someNewEvent", json!({})),
        // A stop for a block that never opened changes nothing.
        event("contentBlockStop", json!({"contentBlockIndex": 7})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"reasoningContent": {"redactedContent": "AAAA"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"reasoningContent": {"redactedContent": "BBBB"}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 2})),
        // A tool delta without its start has no call to belong to.
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}),
        ),
        event("messageStop", json!({"stopReason": "end_turn"})),
        metadata(5, 6),
    ];
    let mut expected = vec![
        start(),
        block(0, BlockStart::Text),
        delta(0, BlockDelta::Text("Cited.".into())),
        stop(0),
        block(
            1,
            BlockStart::RedactedThinking {
                data: "AAAA".into(),
            },
        ),
        stop(1),
        block(
            2,
            BlockStart::RedactedThinking {
                data: "BBBB".into(),
            },
        ),
        stop(2),
    ];
    expected.extend(ending(StopReason::EndTurn, Some(Usage::new(5, 6))));
    assert_eq!(decode(&frames).unwrap(), expected);
}

#[test]
fn a_new_block_closes_the_open_one_even_without_a_stop() {
    let frames = [
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "a"}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": ""}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"reasoningContent": {"text": "b"}}}),
        ),
        event("messageStop", json!({"stopReason": "max_tokens"})),
    ];
    // No messageStart (synthesised), no metadata (complete at EOF after
    // messageStop, usage unknown); an empty delta opens its block.
    let mut expected = vec![
        start(),
        block(0, BlockStart::Text),
        delta(0, BlockDelta::Text("a".into())),
        stop(0),
        block(1, BlockStart::Text),
        stop(1),
        block(2, BlockStart::Thinking),
        delta(2, BlockDelta::Thinking("b".into())),
        stop(2),
    ];
    expected.extend(ending(StopReason::MaxTokens, None));
    assert_eq!(decode(&frames).unwrap(), expected);
}

#[test]
fn metadata_may_come_before_message_stop() {
    let frames = [
        event("messageStart", json!({"role": "assistant"})),
        metadata(1, 2),
        event("messageStop", json!({"stopReason": "guardrail_intervened"})),
    ];
    let mut expected = vec![start()];
    expected.extend(ending(StopReason::ContentFilter, Some(Usage::new(1, 2))));
    assert_eq!(decode(&frames).unwrap(), expected);
}

#[test]
fn exceptions_end_the_stream_with_an_error() {
    for (name, kind, status) in [
        ("throttlingException", ErrorKind::RateLimit, 429),
        ("validationException", ErrorKind::InvalidRequest, 400),
        ("modelStreamErrorException", ErrorKind::Server, 424),
        ("internalServerException", ErrorKind::Server, 500),
        ("serviceUnavailableException", ErrorKind::Unavailable, 503),
    ] {
        let frames = [
            event("messageStart", json!({"role": "assistant"})),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
            ),
            exception(name, "it broke"),
            // Nothing after the exception is read.
            event("messageStop", json!({"stopReason": "end_turn"})),
        ];
        let events = decode(&frames).unwrap();
        assert_eq!(events.len(), 4, "{events:?}");
        let StreamEvent::Error(error) = &events[3] else {
            panic!("{events:?}");
        };
        assert_eq!((error.kind, error.status), (kind, status), "{name}");
        assert_eq!(error.message, "it broke");
    }
    let mut generic = Vec::new();
    write_frame(
        &[
            (":message-type", "error"),
            (":error-code", "InternalFailure"),
            (":error-message", "oops"),
        ],
        b"",
        &mut generic,
    )
    .unwrap();
    let events = decode(&[generic]).unwrap();
    let StreamEvent::Error(error) = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(
        (error.kind, error.message.as_str()),
        (ErrorKind::Server, "oops")
    );
    assert_eq!(error.code.as_deref(), Some("InternalFailure"));
}

#[test]
fn a_stream_without_message_stop_is_truncated() {
    let opened = event("messageStart", json!({"role": "assistant"}));
    let text = event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    );
    assert!(matches!(
        decode(&[opened.clone(), text.clone()]),
        Err(crate::DecodeError::Truncated)
    ));
    assert!(matches!(decode(&[]), Err(crate::DecodeError::Truncated)));
    // Cut inside the metadata frame after messageStop: the reply is whole.
    let stop = event("messageStop", json!({"stopReason": "end_turn"}));
    let meta = metadata(1, 1);
    let cut = meta[..meta.len() / 2].to_vec();
    assert!(decode(&[opened.clone(), text.clone(), stop, cut.clone()]).is_ok());
    // Cut inside a content frame: truncated.
    assert!(matches!(
        decode(&[opened, text, cut]),
        Err(crate::DecodeError::Truncated)
    ));
}

#[test]
fn corrupt_frames_and_payloads_are_errors() {
    let mut bad = event("messageStart", json!({"role": "assistant"}));
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    let error = decoder.feed(&bad, &mut events).unwrap_err();
    assert!(matches!(error, crate::DecodeError::Stream(_)), "{error}");
    let not_json = {
        let mut out = Vec::new();
        write_frame(
            &[
                (":event-type", "contentBlockDelta"),
                (":message-type", "event"),
            ],
            b"{not json",
            &mut out,
        )
        .unwrap();
        out
    };
    assert!(decode(&[not_json]).is_err());
    let missing_index = event("contentBlockDelta", json!({"delta": {"text": "x"}}));
    assert!(decode(&[missing_index]).is_err());
}

#[test]
fn frames_before_a_broken_one_are_delivered_then_the_error() {
    let good = [
        event("messageStart", json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ),
    ]
    .concat();
    // A frame whose message checksum is wrong.
    let mut broken = event("contentBlockStop", json!({"contentBlockIndex": 0}));
    let last = broken.len() - 1;
    broken[last] ^= 0xFF;
    crate::testing::check_events_before_a_framing_error(
        || crate::Protocol::Bedrock.stream_decoder(),
        &good,
        &broken,
    );
}
