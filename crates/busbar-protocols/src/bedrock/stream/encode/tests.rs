//! The ConverseStream encoder, rule by rule: frames as Bedrock sends them,
//! checked by decoding them again.

use busbar_ir::{
    ApiError, BlockDelta, BlockStart, ContentBlock, ErrorKind, Response, StopReason,
    StreamAccumulator, StreamEvent, Usage,
};
use serde_json::{json, Value};

use super::{Encoder, MAX_PIECE};
use crate::bedrock::eventstream::FrameDecoder;
use crate::bedrock::stream::Decoder;
use crate::{ReplyOptions, StreamDecoder, StreamEncoder};

fn start() -> StreamEvent {
    StreamEvent::MessageStart {
        id: String::new(),
        model: String::new(),
        created: None,
        usage: Usage::default(),
    }
}

fn block(index: usize, block: BlockStart) -> StreamEvent {
    StreamEvent::BlockStart { index, block }
}

fn delta(index: usize, delta: BlockDelta) -> StreamEvent {
    StreamEvent::BlockDelta { index, delta }
}

fn stop(index: usize) -> StreamEvent {
    StreamEvent::BlockStop { index }
}

fn decode(bytes: &[u8]) -> Vec<StreamEvent> {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    decoder.feed(bytes, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events
}

fn encode(events: &[StreamEvent]) -> Vec<u8> {
    let mut encoder = Encoder::new(&ReplyOptions::new(0));
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    out
}

/// The frames of `bytes` as `(event or exception type, payload)`.
fn frames(bytes: &[u8]) -> Vec<(String, Value)> {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    decoder.feed(bytes, &mut frames).unwrap();
    assert_eq!(decoder.buffered(), 0);
    frames
        .into_iter()
        .map(|frame| {
            let kind = match frame.header_str(":message-type") {
                Some("event") => {
                    assert_eq!(frame.header_str(":content-type"), Some("application/json"));
                    frame.header_str(":event-type").unwrap().to_owned()
                }
                Some("exception") => {
                    format!("!{}", frame.header_str(":exception-type").unwrap())
                }
                other => panic!("message type {other:?}"),
            };
            (kind, serde_json::from_slice(&frame.payload).unwrap())
        })
        .collect()
}

#[test]
fn the_encoder_writes_what_bedrock_sends() {
    let mut response = Response::new(
        "msg_1",
        "claude",
        vec![
            ContentBlock::thinking("Hm.", Some("sig".into())),
            ContentBlock::text("Hi"),
            ContentBlock::tool_use("tooluse_1", "f", r#"{"a":1}"#),
        ],
    );
    response.stop_reason = Some(StopReason::ToolUse);
    let mut usage = Usage::new(100, 7);
    usage.cache_write_tokens = Some(60);
    response.usage = usage;
    let got = frames(&encode(&response.to_events()));
    let expected: Vec<(String, Value)> = [
        ("messageStart", json!({"role": "assistant"})),
        ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hm."}}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}})),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "Hi"}})),
        ("contentBlockStop", json!({"contentBlockIndex": 1})),
        ("contentBlockStart", json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "f"}}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"a\":1}"}}})),
        ("contentBlockStop", json!({"contentBlockIndex": 2})),
        ("messageStop", json!({"stopReason": "tool_use"})),
        ("metadata", json!({"usage": {"inputTokens": 40, "outputTokens": 7, "totalTokens": 107,
            "cacheWriteInputTokens": 60}, "metrics": {"latencyMs": 0}})),
    ]
    .into_iter()
    .map(|(name, payload)| (name.to_owned(), payload))
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn empty_blocks_signatures_and_redacted_thinking_are_still_seen() {
    let events = vec![
        start(),
        block(0, BlockStart::Text),
        stop(0),
        block(1, BlockStart::Thinking),
        delta(1, BlockDelta::ThinkingSignature("ab".into())),
        delta(1, BlockDelta::ThinkingSignature("cd".into())),
        stop(1),
        block(2, BlockStart::Thinking),
        stop(2),
        block(
            3,
            BlockStart::RedactedThinking {
                data: "cmVk".into(),
            },
        ),
        stop(3),
        // No MessageDelta: MessageStop alone still ends the stream.
        StreamEvent::MessageStop,
    ];
    let got: Vec<(String, Value)> = frames(&encode(&events));
    let names: Vec<&str> = got.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "contentBlockDelta",
            "contentBlockStop",
            "contentBlockDelta",
            "contentBlockStop",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(got[1].1["delta"], json!({"text": ""}));
    assert_eq!(
        got[3].1["delta"],
        json!({"reasoningContent": {"signature": "abcd"}})
    );
    assert_eq!(got[5].1["delta"], json!({"reasoningContent": {"text": ""}}));
    assert_eq!(
        got[7].1["delta"],
        json!({"reasoningContent": {"redactedContent": "cmVk"}})
    );
    assert_eq!(got[9].1, json!({"stopReason": "end_turn"}));
    // And they decode back to the same blocks.
    let decoded = decode(&encode(&events));
    let response = {
        let mut accumulator = StreamAccumulator::new();
        decoded.iter().for_each(|event| accumulator.push(event));
        accumulator.finish().unwrap()
    };
    assert_eq!(
        response.content,
        vec![
            ContentBlock::text(""),
            ContentBlock::thinking("", Some("abcd".into())),
            ContentBlock::thinking("", None),
            ContentBlock::RedactedThinking {
                data: "cmVk".into()
            },
        ]
    );
}

#[test]
fn errors_become_exception_frames() {
    let events = vec![
        start(),
        StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "busy \"now\"")),
    ];
    let got = frames(&encode(&events));
    assert_eq!(
        got[1],
        (
            "!serviceUnavailableException".to_owned(),
            json!({"message": "busy \"now\""})
        )
    );
    let decoded = decode(&encode(&events));
    let StreamEvent::Error(error) = &decoded[1] else {
        panic!("{decoded:?}");
    };
    assert_eq!(
        (error.kind, error.status, error.message.as_str()),
        (ErrorKind::Unavailable, 503, "busy \"now\"")
    );
}

#[test]
fn long_text_is_split_across_frames() {
    let long = "é".repeat(MAX_PIECE);
    let events = vec![
        start(),
        block(0, BlockStart::Text),
        delta(0, BlockDelta::Text(long.clone())),
        stop(0),
        StreamEvent::MessageStop,
    ];
    let bytes = encode(&events);
    let got = frames(&bytes);
    let pieces: Vec<&str> = got
        .iter()
        .filter_map(|(_, payload)| payload.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(pieces.len(), 2);
    assert_eq!(pieces.concat(), long);
}
