//! Tests of the stream mapping: upstream transcripts, client output, and the
//! round trip.

use busbar_ir::{
    ApiError, BlockDelta, BlockStart, ContentBlock, ErrorKind, Response, StopReason,
    StreamAccumulator, StreamEvent, Usage,
};

use super::*;
use crate::{DecodeError, ReplyOptions, StreamDecoder, StreamEncoder};

fn decode_pieces(pieces: &[&[u8]]) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut events)?;
    }
    decoder.finish(&mut events)?;
    Ok(events)
}

fn decode(bytes: &str) -> Result<Vec<StreamEvent>, DecodeError> {
    decode_pieces(&[bytes.as_bytes()])
}

fn encode(events: &[StreamEvent], include_usage: bool) -> String {
    let mut options = ReplyOptions::new(1_700_000_000);
    options.include_usage = include_usage;
    let mut encoder = Encoder::new(&options);
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out).unwrap()
}

fn accumulate(events: &[StreamEvent]) -> Result<Response, ApiError> {
    let mut accumulator = StreamAccumulator::new();
    for event in events {
        accumulator.push(event);
    }
    accumulator.finish()
}

fn chunk(delta: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"gpt-x\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
    )
}

fn start() -> StreamEvent {
    StreamEvent::MessageStart {
        id: "chatcmpl-1".into(),
        model: "gpt-x".into(),
        created: Some(7),
        usage: Usage::default(),
    }
}

#[test]
fn text_stream_with_usage_chunk() {
    let stream = [
        chunk(r#"{"role":"assistant","content":""}"#, "null"),
        chunk(r#"{"content":"Hel"}"#, "null"),
        chunk(r#"{"content":"lo"}"#, "null"),
        chunk("{}", r#""stop""#),
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let events = decode(&stream).unwrap();
    let text = |s: &str| StreamEvent::BlockDelta {
        index: 0,
        delta: BlockDelta::Text(s.into()),
    };
    assert_eq!(
        events,
        vec![
            start(),
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text
            },
            text("Hel"),
            text("lo"),
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::MessageDelta {
                stop_reason: Some(StopReason::EndTurn),
                stop_sequence: None,
                usage: Some(Usage::new(5, 2)),
            },
            StreamEvent::MessageStop,
        ]
    );
}

#[test]
fn reasoning_then_text_then_parallel_tool_calls() {
    let stream = [
        chunk(r#"{"role":"assistant","reasoning_content":"Think"}"#, "null"),
        chunk(r#"{"content":"Sure."}"#, "null"),
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":""}}]}"#,
            "null",
        ),
        chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]}"#, "null"),
        chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}"#, "null"),
        chunk(
            r#"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"g","arguments":"{}"}}]}"#,
            "null",
        ),
        chunk("{}", r#""tool_calls""#),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let events = decode(&stream).unwrap();
    let response = accumulate(&events).unwrap();
    assert_eq!(
        response.content,
        vec![
            ContentBlock::thinking("Think", None),
            ContentBlock::text("Sure."),
            ContentBlock::tool_use("call_a", "f", "{\"x\":1}"),
            ContentBlock::tool_use("call_b", "g", "{}"),
        ]
    );
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    let starts: Vec<usize> = events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::BlockStart { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [0, 1, 2, 3]);
}

#[test]
fn repeated_ids_continue_and_late_fragments_fail() {
    let call = |index: u32, id: &str, args: &str| {
        chunk(
            &format!(
                r#"{{"tool_calls":[{{"index":{index},"id":"{id}","function":{{"name":"f","arguments":"{args}"}}}}]}}"#
            ),
            "null",
        )
    };
    let ok = [
        call(0, "a", "{"),
        call(0, "a", "}"),
        chunk("{}", r#""tool_calls""#),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let response = accumulate(&decode(&ok).unwrap()).unwrap();
    assert_eq!(
        response.content,
        vec![ContentBlock::tool_use("a", "f", "{}")]
    );
    let late = [
        call(0, "a", "{"),
        call(1, "b", "{}"),
        chunk(
            r#"{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}"#,
            "null",
        ),
    ]
    .concat();
    assert!(matches!(decode(&late), Err(DecodeError::Stream(_))));
}

#[test]
fn tolerates_missing_space_comments_and_keepalives() {
    let stream = ": OPENROUTER PROCESSING\n\n\n\ndata:{\"id\":\"x\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\r\n\r\ndata: [DONE]\n\n";
    let response = accumulate(&decode(stream).unwrap()).unwrap();
    assert_eq!(response.text(), "hi");
    assert_eq!((response.id.as_str(), response.model.as_str()), ("x", "m"));
}

#[test]
fn groq_usage_is_read_from_x_groq() {
    let stream = [
        chunk(r#"{"content":"a"}"#, "null"),
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_1\",\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let response = accumulate(&decode(&stream).unwrap()).unwrap();
    assert_eq!(response.usage, Usage::new(4, 1));
}

#[test]
fn a_finish_reason_without_done_completes_and_nothing_truncates() {
    let ended = [
        chunk(r#"{"content":"a"}"#, "null"),
        chunk("{}", r#""length""#),
    ]
    .concat();
    let events = decode(&ended).unwrap();
    assert_eq!(events.last(), Some(&StreamEvent::MessageStop));
    assert_eq!(
        accumulate(&events).unwrap().stop_reason,
        Some(StopReason::MaxTokens)
    );
    let cut = chunk(r#"{"content":"a"}"#, "null");
    assert!(matches!(decode(&cut), Err(DecodeError::Truncated)));
    assert!(matches!(decode(""), Err(DecodeError::Truncated)));
}

#[test]
fn error_chunks_end_the_stream() {
    let stream = [
        chunk(r#"{"content":"a"}"#, "null"),
        "data: {\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n".into(),
    ]
    .concat();
    let events = decode(&stream).unwrap();
    let Some(StreamEvent::Error(error)) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(error.kind, ErrorKind::RateLimit);
    assert_eq!(error.code.as_deref(), Some("rate_limit_exceeded"));
    assert!(matches!(
        decode("data: {not json}\n\n"),
        Err(DecodeError::Json(_))
    ));
}

#[test]
fn encodes_the_sdk_shape_with_and_without_usage() {
    let mut response = Response::new("chatcmpl-1", "gpt-x", vec![ContentBlock::text("Hi")]);
    response.stop_reason = Some(StopReason::EndTurn);
    response.usage = Usage::new(3, 1);
    let head = r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-x","choices":[{"index":0,"delta":"#;
    assert_eq!(
        encode(&response.to_events(), false),
        [
            head,
            r#"{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            "\n\n",
            head,
            r#"{"content":"Hi"},"logprobs":null,"finish_reason":null}]}"#,
            "\n\n",
            head,
            r#"{},"logprobs":null,"finish_reason":"stop"}]}"#,
            "\n\n",
            "data: [DONE]\n\n",
        ]
        .concat()
    );
    let with_usage = encode(&response.to_events(), true);
    let lines: Vec<&str> = with_usage.split("\n\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 5);
    assert!(
        lines[..3]
            .iter()
            .all(|line| line.ends_with(r#""usage":null}"#)),
        "{with_usage}"
    );
    assert!(lines[3].contains(
        r#""choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"#
    ));
    assert_eq!(lines[4], "data: [DONE]");
}

#[test]
fn tool_call_indexes_count_calls_and_thinking_is_dropped() {
    let mut response = Response::new(
        "r",
        "m",
        vec![
            ContentBlock::thinking("hmm", Some("sig".into())),
            ContentBlock::text("Calling."),
            ContentBlock::tool_use("call_1", "f", "{\"a\":1}"),
            ContentBlock::tool_use("call_2", "g", "{}"),
        ],
    );
    response.stop_reason = Some(StopReason::ToolUse);
    let out = encode(&response.to_events(), false);
    assert!(!out.contains("hmm"), "{out}");
    assert!(out.contains(r#""tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]"#), "{out}");
    assert!(
        out.contains(r#""tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]"#),
        "{out}"
    );
    assert!(out.contains(r#""tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"g","arguments":""}}]"#), "{out}");
    assert!(out.contains(r#""finish_reason":"tool_calls""#), "{out}");
}

#[test]
fn errors_become_an_error_chunk_without_done() {
    let events = [
        start(),
        StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "busy").with_status(529)),
        StreamEvent::MessageStop,
    ];
    let out = encode(&events, true);
    assert!(out.ends_with(
        "data: {\"error\":{\"message\":\"busy\",\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}\n\n"
    ), "{out}");
    assert!(!out.contains("[DONE]"), "{out}");
    let back = decode_pieces(&[out.as_bytes()]).unwrap();
    assert!(
        matches!(back.last(), Some(StreamEvent::Error(error)) if error.kind == ErrorKind::Overloaded)
    );
}

#[test]
fn events_before_a_broken_line_are_delivered_then_the_error() {
    crate::testing::check_events_before_a_framing_error(
        || crate::Protocol::OpenAi.stream_decoder(),
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n".as_bytes(),
        crate::testing::BROKEN_SSE_LINE,
    );
}
