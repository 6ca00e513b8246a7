//! Unit tests of the stream decoder and encoder.

use busbar_ir::{
    ApiError, BlockDelta, BlockStart, ErrorKind, StopReason, StreamAccumulator, StreamEvent, Usage,
};

use super::{Decoder, Encoder};
use crate::{DecodeError, ReplyOptions, StreamDecoder, StreamEncoder};

fn decode(bytes: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    decoder.feed(bytes, &mut events)?;
    decoder.finish(&mut events)?;
    Ok(events)
}

fn encode(events: &[StreamEvent], json_array: bool) -> String {
    let mut options = ReplyOptions::new(0);
    options.json_array = json_array;
    let mut encoder = Encoder::new(&options);
    let mut out = Vec::new();
    events
        .iter()
        .for_each(|event| encoder.encode(event, &mut out));
    encoder.finish(&mut out);
    String::from_utf8(out).unwrap()
}

const CHUNKS: [&str; 4] = [
    r#"{"candidates": [{"content": {"parts": [{"text": "The weather"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 12},"modelVersion": "gemini-2.5-flash","responseId": "abc"}"#,
    r#"{"candidates": [{"content": {"parts": [{"text": " is sunny."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 4,"totalTokenCount": 16},"modelVersion": "gemini-2.5-flash","responseId": "abc"}"#,
    r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}},"thoughtSignature": "c2ln"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 9,"totalTokenCount": 21},"modelVersion": "gemini-2.5-flash","responseId": "abc"}"#,
    r#"{"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 9,"totalTokenCount": 30,"thoughtsTokenCount": 9},"modelVersion": "gemini-2.5-flash","responseId": "abc"}"#,
];

fn sse(chunks: &[&str]) -> String {
    chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect()
}

fn expected_events() -> Vec<StreamEvent> {
    let mut start_usage = Usage::default();
    start_usage.input_tokens = 12;
    let mut usage = Usage::new(12, 18);
    usage.reasoning_tokens = Some(9);
    vec![
        StreamEvent::MessageStart {
            id: "abc".into(),
            model: "gemini-2.5-flash".into(),
            created: None,
            usage: start_usage,
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Text("The weather".into()),
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Text(" is sunny.".into()),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::ToolUse {
                id: "gcall_abc_0".into(),
                name: "get_weather".into(),
                signature: Some("c2ln".into()),
            },
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::ToolArguments(r#"{"city":"Paris"}"#.into()),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::MessageDelta {
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: Some(usage),
        },
        StreamEvent::MessageStop,
    ]
}

#[test]
fn an_sse_stream_decodes_and_ends_at_eof_after_a_finish_reason() {
    assert_eq!(decode(sse(&CHUNKS).as_bytes()).unwrap(), expected_events());
}

#[test]
fn a_json_array_stream_decodes_the_same() {
    let array = format!("[{}]", CHUNKS.join(",\r\n"));
    assert_eq!(decode(array.as_bytes()).unwrap(), expected_events());
    let spaced = format!("\n  [{}\n]\n", CHUNKS.join(" ,\n"));
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    for byte in spaced.as_bytes().chunks(1) {
        decoder.feed(byte, &mut events).unwrap();
    }
    decoder.finish(&mut events).unwrap();
    assert_eq!(events, expected_events());
}

#[test]
fn a_stream_without_a_finish_reason_is_truncated() {
    assert!(matches!(
        decode(sse(&CHUNKS[..3]).as_bytes()),
        Err(DecodeError::Truncated)
    ));
    assert!(matches!(decode(b""), Err(DecodeError::Truncated)));
    let array = format!("[{}", CHUNKS[..2].join(","));
    assert!(matches!(
        decode(array.as_bytes()),
        Err(DecodeError::Truncated)
    ));
    // The closing bracket is not needed once the last chunk said it ended.
    let array = format!("[{}", CHUNKS.join(","));
    assert!(decode(array.as_bytes()).is_ok());
}

#[test]
fn an_error_chunk_ends_the_stream() {
    let error = r#"{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}"#;
    let events = decode(sse(&[CHUNKS[0], error]).as_bytes()).unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[3], StreamEvent::BlockStop { index: 0 });
    let StreamEvent::Error(api_error) = &events[4] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (api_error.kind, api_error.status),
        (ErrorKind::RateLimit, 429)
    );
    let only = decode(format!("[{error}]").as_bytes()).unwrap();
    assert!(matches!(only.as_slice(), [StreamEvent::Error(_)]));
}

#[test]
fn a_blocked_prompt_is_a_complete_filtered_stream() {
    let events = decode(
        br#"data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 5}, "responseId": "b"}

"#,
    )
    .unwrap();
    assert!(matches!(
        &events[1],
        StreamEvent::MessageDelta {
            stop_reason: Some(StopReason::ContentFilter),
            ..
        }
    ));
}

#[test]
fn thinking_then_text_streams_fold_across_chunks() {
    let chunks = [
        r#"{"candidates": [{"content": {"parts": [{"text": "Plan", "thought": true}]}}], "responseId": "t"}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": " it.", "thought": true}]}}], "responseId": "t"}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": "Done"}]}}], "responseId": "t"}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "c2ln"}]}, "finishReason": "MAX_TOKENS"}], "responseId": "t"}"#,
    ];
    let mut accumulator = StreamAccumulator::new();
    decode(sse(&chunks).as_bytes())
        .unwrap()
        .iter()
        .for_each(|event| accumulator.push(event));
    let response = accumulator.finish().unwrap();
    assert_eq!(
        response.content,
        vec![
            busbar_ir::ContentBlock::thinking("Plan it.", None),
            busbar_ir::ContentBlock::text("Done"),
            busbar_ir::ContentBlock::thinking("", Some("c2ln".into())),
        ]
    );
    assert_eq!(response.stop_reason, Some(StopReason::MaxTokens));
}

#[test]
fn malformed_chunks_are_errors() {
    assert!(decode(b"data: {not json}\n\n").is_err());
    assert!(decode(b"data: [1]\n\n").is_err());
    assert!(decode(b"[1, 2]").is_err());
}

fn sample_events() -> Vec<StreamEvent> {
    let mut usage = Usage::new(10, 7);
    usage.reasoning_tokens = Some(3);
    vec![
        StreamEvent::MessageStart {
            id: "msg_1".into(),
            model: "claude-x".into(),
            created: None,
            usage: Usage::new(10, 0),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Thinking,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Thinking("Hm".into()),
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::ThinkingSignature("c2".into()),
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::ThinkingSignature("ln".into()),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::Text("Hi".into()),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::BlockStart {
            index: 2,
            block: BlockStart::ToolUse {
                id: "toolu_1".into(),
                name: "f".into(),
                signature: None,
            },
        },
        StreamEvent::BlockDelta {
            index: 2,
            delta: BlockDelta::ToolArguments("{\"a\":".into()),
        },
        StreamEvent::BlockDelta {
            index: 2,
            delta: BlockDelta::ToolArguments("1}".into()),
        },
        StreamEvent::BlockStop { index: 2 },
        StreamEvent::MessageDelta {
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: Some(usage),
        },
        StreamEvent::MessageStop,
    ]
}

const SAMPLE_CHUNKS: [&str; 5] = [
    r#"{"candidates":[{"content":{"parts":[{"text":"Hm","thought":true}],"role":"model"},"index":0}],"modelVersion":"claude-x","responseId":"msg_1"}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"","thought":true,"thoughtSignature":"c2ln"}],"role":"model"},"index":0}],"modelVersion":"claude-x","responseId":"msg_1"}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"modelVersion":"claude-x","responseId":"msg_1"}"#,
    r#"{"candidates":[{"content":{"parts":[{"functionCall":{"id":"toolu_1","name":"f","args":{"a":1}}}],"role":"model"},"index":0}],"modelVersion":"claude-x","responseId":"msg_1"}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"totalTokenCount":17,"thoughtsTokenCount":3},"modelVersion":"claude-x","responseId":"msg_1"}"#,
];

#[test]
fn the_encoder_writes_sse_chunks_with_the_space_and_crlf() {
    assert_eq!(encode(&sample_events(), false), sse(&SAMPLE_CHUNKS));
}

#[test]
fn the_encoder_writes_one_json_array_when_asked() {
    let array = encode(&sample_events(), true);
    assert_eq!(array, format!("[{}]", SAMPLE_CHUNKS.join(",\r\n")));
    let value: serde_json::Value = serde_json::from_str(&array).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 5);
    assert_eq!(encode(&[], true), "[]");
}

#[test]
fn encoded_streams_decode_to_the_same_reply() {
    for json_array in [false, true] {
        let mut expected = StreamAccumulator::new();
        sample_events()
            .iter()
            .for_each(|event| expected.push(event));
        let mut actual = StreamAccumulator::new();
        decode(encode(&sample_events(), json_array).as_bytes())
            .unwrap()
            .iter()
            .for_each(|event| actual.push(event));
        assert_eq!(actual.finish().unwrap(), expected.finish().unwrap());
    }
}

#[test]
fn errors_are_written_as_error_chunks() {
    let events = [
        sample_events()[0].clone(),
        StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "busy")),
    ];
    assert_eq!(
        encode(&events, false),
        "data: {\"error\":{\"code\":503,\"message\":\"busy\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n"
    );
    assert_eq!(
        encode(&events, true),
        "[{\"error\":{\"code\":503,\"message\":\"busy\",\"status\":\"UNAVAILABLE\"}}]"
    );
}

#[test]
fn a_signature_after_text_rides_on_an_empty_text_part() {
    let events = [
        sample_events()[0].clone(),
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Text("Hi".into()),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::Thinking,
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::ThinkingSignature("c2ln".into()),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::MessageDelta {
            stop_reason: None,
            stop_sequence: None,
            usage: None,
        },
        StreamEvent::MessageStop,
    ];
    let text = encode(&events, false);
    assert!(
        text.contains(r#"{"parts":[{"text":"","thoughtSignature":"c2ln"}]"#),
        "{text}"
    );
    assert!(text.contains(r#""finishReason":"STOP""#));
    let decoded = decode(text.as_bytes()).unwrap();
    assert_eq!(&decoded[1..7], &events[1..7]);
}

#[test]
fn events_before_a_broken_line_are_delivered_then_the_error() {
    crate::testing::check_events_before_a_framing_error(
        || crate::Protocol::Gemini.stream_decoder(),
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"m\"}\n\n".as_bytes(),
        crate::testing::BROKEN_SSE_LINE,
    );
}

#[test]
fn elements_before_a_broken_one_are_delivered_then_the_error() {
    crate::testing::check_events_before_a_framing_error(
        || crate::Protocol::Gemini.stream_decoder(),
        b"[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},\"index\":0}]}",
        b",x",
    );
}
