//! Unit tests of the Cohere stream decoder and encoder.

use busbar_ir::{ApiError, BlockDelta, BlockStart, ErrorKind, StopReason, StreamEvent, Usage};

use super::{Decoder, Encoder};
use crate::{DecodeError, ReplyOptions, StreamDecoder, StreamEncoder};

fn decode(bytes: &str) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    decoder.feed(bytes.as_bytes(), &mut events)?;
    decoder.finish(&mut events)?;
    Ok(events)
}

fn start(id: &str) -> StreamEvent {
    StreamEvent::MessageStart {
        id: id.into(),
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

fn end(reason: StopReason, usage: Option<Usage>) -> [StreamEvent; 2] {
    [
        StreamEvent::MessageDelta {
            stop_reason: Some(reason),
            stop_sequence: None,
            usage,
        },
        StreamEvent::MessageStop,
    ]
}

fn tool(id: &str, name: &str) -> BlockStart {
    BlockStart::ToolUse {
        id: id.into(),
        name: name.into(),
        signature: None,
    }
}

const THINKING_THEN_TEXT: &str = r#"event: message-start
data: {"id":"c1","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}

event: content-start
data: {"type":"content-start","index":0,"delta":{"message":{"content":{"type":"thinking","thinking":""}}}}

event: content-delta
data: {"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"Two sisters."}}}}

event: content-end
data: {"type":"content-end","index":0}

event: content-start
data: {"type":"content-start","index":1,"delta":{"message":{"content":{"type":"text","text":""}}}}

event: content-delta
data: {"type":"content-delta","index":1,"delta":{"message":{"content":{"text":"Three"}}},"logprobs":null}

event: citation-start
data: {"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":5,"text":"Three","sources":[]}}}}

event: citation-end
data: {"type":"citation-end","index":0}

event: content-end
data: {"type":"content-end","index":1}

event: message-end
data: {"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":9},"tokens":{"input_tokens":71,"output_tokens":9},"cached_tokens":64}}}

data: [DONE]

"#;

#[test]
fn thinking_and_text_blocks_decode_in_order() {
    let mut usage = Usage::new(71, 9);
    usage.cache_read_tokens = Some(64);
    let mut expected = vec![
        start("c1"),
        block(0, BlockStart::Thinking),
        delta(0, BlockDelta::Thinking("Two sisters.".into())),
        stop(0),
        block(1, BlockStart::Text),
        delta(1, BlockDelta::Text("Three".into())),
        stop(1),
    ];
    expected.extend(end(StopReason::EndTurn, Some(usage)));
    assert_eq!(decode(THINKING_THEN_TEXT).unwrap(), expected);
}

#[test]
fn the_tool_plan_is_a_text_block_and_tool_calls_count_from_zero() {
    let bytes = r#"event: message-start
data: {"id":"c2","type":"message-start","delta":{"message":{"role":"assistant"}}}

event: tool-plan-delta
data: {"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will"}}}

event: tool-plan-delta
data: {"type":"tool-plan-delta","delta":{"message":{"tool_plan":" check."}}}

event: tool-call-start
data: {"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"q_1","type":"function","function":{"name":"query","arguments":""}}}}}

event: tool-call-delta
data: {"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\"day\":"}}}}}

event: tool-call-delta
data: {"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":" \"29\"}"}}}}}

event: tool-call-end
data: {"type":"tool-call-end","index":0}

event: tool-call-start
data: {"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"q_2","type":"function","function":{"name":"catalog","arguments":"{}"}}}}}

event: tool-call-end
data: {"type":"tool-call-end","index":1}

event: message-end
data: {"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"tokens":{"input_tokens":1589,"output_tokens":135}}}}

data: [DONE]

"#;
    let mut expected = vec![
        start("c2"),
        block(0, BlockStart::Text),
        delta(0, BlockDelta::Text("I will".into())),
        delta(0, BlockDelta::Text(" check.".into())),
        stop(0),
        block(1, tool("q_1", "query")),
        delta(1, BlockDelta::ToolArguments("{\"day\":".into())),
        delta(1, BlockDelta::ToolArguments(" \"29\"}".into())),
        stop(1),
        block(2, tool("q_2", "catalog")),
        delta(2, BlockDelta::ToolArguments("{}".into())),
        stop(2),
    ];
    expected.extend(end(StopReason::ToolUse, Some(Usage::new(1589, 135))));
    assert_eq!(decode(bytes).unwrap(), expected);
}

#[test]
fn streams_without_event_lines_indexes_or_content_start_decode() {
    // The shape several client libraries' fixtures use.
    let bytes = concat!(
        "data: {\"type\":\"message-start\",\"id\":\"586ac33f\"}\n\n",
        "data: {\"type\":\"content-delta\",\"delta\":{\"message\":{\"content\":{\"text\":\"Hello\"}}}}\n\n",
        "data: {\"type\":\"content-delta\",\"delta\":{\"message\":{\"content\":{\"text\":\", World!\"}}}}\n\n",
        "data: {\"type\":\"tool-call-start\",\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}}}}\n\n",
        "data: {\"type\":\"tool-call-delta\",\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n\n",
        "data: {\"type\":\"tool-call-end\"}\n\n",
        "data: {\"type\":\"debug\",\"prompt\":\"x\"}\n\n",
        "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"MAX_TOKENS\"}}\n\n",
    );
    let mut expected = vec![
        start("586ac33f"),
        block(0, BlockStart::Text),
        delta(0, BlockDelta::Text("Hello".into())),
        delta(0, BlockDelta::Text(", World!".into())),
        stop(0),
        block(1, tool("t", "f")),
        delta(1, BlockDelta::ToolArguments("{}".into())),
        stop(1),
    ];
    expected.extend(end(StopReason::MaxTokens, None));
    assert_eq!(decode(bytes).unwrap(), expected);
}

#[test]
fn content_before_message_start_gets_one_made_up() {
    let events = decode(concat!(
        "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"x\"}}}}\n\n",
        "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n",
    ))
    .unwrap();
    assert_eq!(events[0], start(""));
    assert_eq!(events[1], block(0, BlockStart::Text));
}

#[test]
fn a_message_end_with_an_error_ends_the_stream_with_an_ir_error() {
    let events = decode(concat!(
        "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"e\"}\n\n",
        "event: content-start\ndata: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}\n\n",
        "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Par\"}}}}\n\n",
        "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"error\":\"internal server error\",\"finish_reason\":\"ERROR\"}}\n\n",
        "data: [DONE]\n\n",
    ))
    .unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[3], stop(0));
    let StreamEvent::Error(error) = &events[4] else {
        panic!("{events:?}");
    };
    assert_eq!(
        (error.kind, error.status, error.message.as_str()),
        (ErrorKind::Server, 500, "internal server error")
    );
}

#[test]
fn an_error_finish_without_a_message_is_a_stop_reason() {
    let events = decode(concat!(
        "data: {\"type\":\"message-start\",\"id\":\"e\"}\n\n",
        "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\"}}\n\n",
    ))
    .unwrap();
    assert_eq!(events[1..], end(StopReason::Error, None));
}

#[test]
fn an_error_body_inside_the_stream_is_an_ir_error() {
    let events = decode(concat!(
        "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"e\"}\n\n",
        "data: {\"id\":\"2b1c\",\"message\":\"too many tokens: size limit exceeded\"}\n\n",
    ))
    .unwrap();
    let StreamEvent::Error(error) = &events[1] else {
        panic!("{events:?}");
    };
    assert_eq!(error.kind, ErrorKind::ContextLength);
    let events = decode("event: error\ndata: upstream went away\n\n").unwrap();
    assert!(matches!(&events[0], StreamEvent::Error(e) if e.message == "upstream went away"));
}

#[test]
fn a_stream_cut_before_message_end_is_truncated() {
    let cut = "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"e\"}\n\n\
               event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Par\"}}}}\n\n";
    assert!(matches!(decode(cut), Err(DecodeError::Truncated)));
    let done_early = format!("{cut}data: [DONE]\n\n");
    assert!(matches!(decode(&done_early), Err(DecodeError::Truncated)));
    assert!(matches!(decode(""), Err(DecodeError::Truncated)));
    // The terminal event without its closing blank line still counts.
    let unterminated = format!(
        "{cut}event: message-end\ndata: {{\"type\":\"message-end\",\"delta\":{{\"finish_reason\":\"COMPLETE\"}}}}\n"
    );
    assert!(decode(&unterminated).is_ok());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(matches!(
        decode("data: {not json\n\n"),
        Err(DecodeError::Json(_))
    ));
    assert!(decode(
        "data: {\"type\":\"tool-call-start\",\"delta\":{\"message\":{\"tool_calls\":[]}}}\n\n"
    )
    .is_err());
}

fn encode(events: &[StreamEvent]) -> String {
    let mut encoder = Encoder::new(&ReplyOptions::new(0));
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn a_text_stream_encodes_as_cohere_sends_it() {
    let mut events = vec![
        StreamEvent::MessageStart {
            id: "c1".into(),
            model: "gpt-4o".into(),
            created: Some(1),
            usage: Usage::new(71, 0),
        },
        block(0, BlockStart::Text),
        delta(0, BlockDelta::Text("Hi".into())),
        stop(0),
    ];
    events.extend(end(StopReason::EndTurn, Some(Usage::new(0, 2))));
    let expected = concat!(
        "event: message-start\n",
        "data: {\"type\":\"message-start\",\"id\":\"c1\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n",
        "event: content-start\n",
        "data: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}\n\n",
        "event: content-delta\n",
        "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n",
        "event: content-end\n",
        "data: {\"type\":\"content-end\",\"index\":0}\n\n",
        "event: message-end\n",
        "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":71,\"output_tokens\":2},\"tokens\":{\"input_tokens\":71,\"output_tokens\":2}}}}\n\n",
        "data: [DONE]\n\n",
    );
    assert_eq!(encode(&events), expected);
}

#[test]
fn tool_calls_and_content_are_numbered_apart_and_skipped_blocks_leave_no_trace() {
    let mut events = vec![
        start("c"),
        block(0, BlockStart::Thinking),
        delta(0, BlockDelta::Thinking("hmm".into())),
        delta(0, BlockDelta::ThinkingSignature("sig".into())),
        stop(0),
        block(
            1,
            BlockStart::RedactedThinking {
                data: "opaque".into(),
            },
        ),
        stop(1),
        block(2, BlockStart::Text),
        delta(2, BlockDelta::Text("Checking.".into())),
        stop(2),
        block(3, tool("call_1", "f")),
        delta(3, BlockDelta::ToolArguments("{}".into())),
        stop(3),
        block(4, tool("call_2", "g")),
        stop(4),
    ];
    // Gemini says a tool-call turn simply ended.
    events.extend(end(StopReason::EndTurn, None));
    let out = encode(&events);
    assert!(!out.contains("opaque") && !out.contains("sig"), "{out}");
    assert!(out.contains("\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"thinking\",\"thinking\":\"\"}}}"));
    assert!(out.contains("{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"thinking\":\"hmm\"}}}}"));
    assert!(out.contains("{\"type\":\"content-start\",\"index\":1,"));
    assert!(out.contains("{\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}}}}"));
    assert!(out.contains("{\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}"));
    assert!(out.contains("{\"type\":\"tool-call-end\",\"index\":1}"));
    assert!(out.contains("\"finish_reason\":\"TOOL_CALL\""));
    // What the encoder writes, the decoder reads back.
    let back = decode(&out).unwrap();
    let starts: Vec<&BlockStart> = back
        .iter()
        .filter_map(|event| match event {
            StreamEvent::BlockStart { block, .. } => Some(block),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        [
            &BlockStart::Thinking,
            &BlockStart::Text,
            &tool("call_1", "f"),
            &tool("call_2", "g")
        ]
    );
    assert_eq!(back.len(), 14);
}

#[test]
fn an_ir_error_is_a_message_end_with_the_error() {
    let events = [
        start("c"),
        block(0, BlockStart::Text),
        delta(0, BlockDelta::Text("Par".into())),
        StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "Overloaded")),
        // Nothing after the end is written.
        StreamEvent::MessageStop,
    ];
    let out = encode(&events);
    assert!(out.ends_with(concat!(
        "event: content-end\ndata: {\"type\":\"content-end\",\"index\":0}\n\n",
        "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"error\":\"Overloaded\",\"finish_reason\":\"ERROR\"}}\n\n",
        "data: [DONE]\n\n",
    )), "{out}");
    let back = decode(&out).unwrap();
    assert!(matches!(back.last(), Some(StreamEvent::Error(e)) if e.message == "Overloaded"));
}

#[test]
fn an_unfinished_stream_gets_no_done_marker() {
    let out = encode(&[start("c"), block(0, BlockStart::Text)]);
    assert!(!out.contains("[DONE]"));
}

#[test]
fn events_before_a_broken_line_are_delivered_then_the_error() {
    crate::testing::check_events_before_a_framing_error(
        || crate::Protocol::Cohere.stream_decoder(),
        "event: message-start\ndata: {\"id\":\"a\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n".as_bytes(),
        crate::testing::BROKEN_SSE_LINE,
    );
}

#[test]
fn a_reply_without_blocks_streams_and_decodes() {
    let response = busbar_ir::Response::new("r", "", vec![]);
    let mut encoder = Encoder::new(&ReplyOptions::new(0));
    let mut bytes = Vec::new();
    for event in response.to_events() {
        encoder.encode(&event, &mut bytes);
    }
    encoder.finish(&mut bytes);
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    decoder.feed(&bytes, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    let mut expected = response;
    expected.stop_reason = Some(StopReason::EndTurn);
    assert_eq!(events, expected.to_events());
}
