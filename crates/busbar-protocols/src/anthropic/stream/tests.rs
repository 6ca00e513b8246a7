//! Unit tests of the Anthropic stream decoder and encoder.

use busbar_ir::{ApiError, ErrorKind, StopReason, Usage};

use super::*;
use crate::{ReplyOptions, StreamEncoder};

fn decode_all(bytes: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out)?;
    decoder.finish(&mut out)?;
    Ok(out)
}

fn encode_all(events: &[StreamEvent]) -> String {
    let mut encoder = Encoder::new(&ReplyOptions::new(0));
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out).unwrap()
}

const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":40,\"output_tokens\":1}}}\n\n";

fn start_event() -> StreamEvent {
    let mut usage = Usage::new(50, 1);
    usage.cache_read_tokens = Some(40);
    usage.cache_write_tokens = Some(0);
    StreamEvent::MessageStart {
        id: "msg_1".into(),
        model: "claude-x".into(),
        created: None,
        usage,
    }
}

fn delta(index: usize, delta: BlockDelta) -> StreamEvent {
    StreamEvent::BlockDelta { index, delta }
}

#[test]
fn server_tool_blocks_are_skipped_and_indexes_renumbered() {
    let body = format!(
        "{START}event: ping\ndata: {{\"type\": \"ping\"}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{{}}}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{}}\"}}}}\n\n\
         event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"citations_delta\",\"citation\":{{}}}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"text_delta\",\"text\":\"Hi\"}}}}\n\n\
         event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":1}}\n\n\
         event: some_future_event\ndata: {{\"type\":\"some_future_event\"}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":9}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    let mut usage = Usage::new(50, 9);
    usage.cache_read_tokens = Some(40);
    usage.cache_write_tokens = Some(0);
    assert_eq!(
        decode_all(body.as_bytes()).unwrap(),
        vec![
            start_event(),
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text
            },
            delta(0, BlockDelta::Text("Hi".into())),
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::MessageDelta {
                stop_reason: Some(StopReason::EndTurn),
                stop_sequence: None,
                usage: Some(usage),
            },
            StreamEvent::MessageStop,
        ]
    );
}

#[test]
fn initial_block_content_becomes_deltas_and_frames_need_no_event_line() {
    let body = format!(
        "{START}data: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"Hel\"}}}}\n\n\
         data: {{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{{\"a\": 1}}}}}}\n\n\
         data: {{\"type\":\"content_block_stop\",\"index\":1}}\n\n\
         data: {{\"type\":\"message_stop\"}}\n\n"
    );
    let events = decode_all(body.as_bytes()).unwrap();
    assert_eq!(
        events[1..6],
        [
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text
            },
            delta(0, BlockDelta::Text("Hel".into())),
            // The open text block is closed before the next one opens.
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockStart::ToolUse {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    signature: None
                },
            },
            delta(1, BlockDelta::ToolArguments("{\"a\":1}".into())),
        ]
    );
}

#[test]
fn message_delta_usage_overrides_the_start_counts_it_carries() {
    let body = format!(
        "{START}event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null}},\"usage\":{{\"input_tokens\":12,\"cache_creation_input_tokens\":5,\"output_tokens\":100,\"output_tokens_details\":{{\"thinking_tokens\":60}}}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    let events = decode_all(body.as_bytes()).unwrap();
    let StreamEvent::MessageDelta {
        usage: Some(usage),
        stop_reason,
        ..
    } = &events[1]
    else {
        panic!("{events:?}");
    };
    assert_eq!(stop_reason, &Some(StopReason::MaxTokens));
    assert_eq!(usage.input_tokens, 12 + 5 + 40);
    assert_eq!(usage.cache_write_tokens, Some(5));
    assert_eq!(usage.cache_read_tokens, Some(40));
    assert_eq!(
        (usage.output_tokens, usage.reasoning_tokens),
        (100, Some(60))
    );
}

#[test]
fn an_error_event_ends_the_stream() {
    let body = format!(
        "{START}event: error\ndata: {{\"type\": \"error\", \"error\": {{\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    let events = decode_all(body.as_bytes()).unwrap();
    assert_eq!(events.len(), 2);
    let StreamEvent::Error(error) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (error.kind, error.status, error.message.as_str()),
        (ErrorKind::Overloaded, 529, "Overloaded")
    );
    // Without an `event:` line the data's type says it is an error too.
    let bare = format!("{START}data: {{\"type\":\"error\",\"error\":{{\"type\":\"api_error\",\"message\":\"x\"}}}}\n\n");
    assert!(matches!(
        decode_all(bare.as_bytes()).unwrap()[1],
        StreamEvent::Error(_)
    ));
}

#[test]
fn a_stream_cut_short_is_truncated_unless_its_stop_reason_arrived() {
    let text = format!(
        "{START}event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n"
    );
    assert!(matches!(
        decode_all(text.as_bytes()),
        Err(DecodeError::Truncated)
    ));
    assert!(matches!(decode_all(b""), Err(DecodeError::Truncated)));
    let delta = format!(
        "{START}event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":3}}}}\n"
    );
    // The last frame lacks its blank line: it still counts, and the stream
    // is complete in all but its marker.
    let events = decode_all(delta.as_bytes()).unwrap();
    assert_eq!(events.last(), Some(&StreamEvent::MessageStop));
}

#[test]
fn broken_streams_are_errors_not_panics() {
    let early = b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\n";
    assert!(matches!(decode_all(early), Err(DecodeError::Stream(_))));
    assert!(decode_all(b"event: message_start\ndata: {not json\n\n").is_err());
    let stray = format!(
        "{START}event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":7,\"delta\":{{\"type\":\"text_delta\",\"text\":\"x\"}}}}\n\n\
         event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":7}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    assert_eq!(decode_all(stray.as_bytes()).unwrap().len(), 3);
}

#[test]
fn a_delta_of_another_kind_than_its_block_is_a_broken_stream() {
    // Found by the anthropic_stream fuzz target: text inside a tool call
    // has no place in formats that stream calls apart from text.
    let mixed = format!(
        "{START}event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{{}}}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"x\"}}}}\n\n"
    );
    let Err(DecodeError::Stream(message)) = decode_all(mixed.as_bytes()) else {
        panic!("a text_delta in a tool_use block was accepted");
    };
    assert_eq!(message, "a text_delta arrived in a tool_use block");
}

#[test]
fn encoder_writes_the_frames_the_sdk_expects() {
    let mut final_usage = Usage::new(120, 30);
    final_usage.cache_read_tokens = Some(100);
    final_usage.reasoning_tokens = Some(20);
    let events = vec![
        StreamEvent::MessageStart {
            id: "chatcmpl-1".into(),
            model: "gpt-4o".into(),
            created: Some(1),
            usage: Usage::default(),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Thinking,
        },
        delta(0, BlockDelta::ThinkingSignature("ab".into())),
        delta(0, BlockDelta::Thinking("hm".into())),
        delta(0, BlockDelta::ThinkingSignature("cd".into())),
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::ToolUse {
                id: "call_1".into(),
                name: "f".into(),
                signature: None,
            },
        },
        delta(1, BlockDelta::ToolArguments("{\"a\":".into())),
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::BlockStart {
            index: 2,
            block: BlockStart::RedactedThinking { data: "xyz".into() },
        },
        StreamEvent::BlockStop { index: 2 },
        StreamEvent::MessageDelta {
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: Some(final_usage),
        },
        StreamEvent::MessageStop,
    ];
    let expected = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"chatcmpl-1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"gpt-4o\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"abcd\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"f\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"xyz\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":20,\"output_tokens\":30,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":100,\"output_tokens_details\":{\"thinking_tokens\":20}}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    assert_eq!(encode_all(&events), expected);
}

#[test]
fn encoder_keeps_start_usage_the_final_report_lacks_and_writes_errors() {
    let events = [
        start_event(),
        StreamEvent::MessageDelta {
            stop_reason: None,
            stop_sequence: Some("END".into()),
            usage: Some(Usage::new(0, 7)),
        },
        StreamEvent::Error(ApiError::new(ErrorKind::RateLimit, "slow down")),
    ];
    let text = encode_all(&events);
    assert!(text.contains(
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null,\"stop_sequence\":\"END\"},\"usage\":{\"input_tokens\":10,\"output_tokens\":7,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":40}}\n\n"
    ));
    assert!(text.ends_with(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n"
    ));
}

#[test]
fn events_before_a_broken_line_are_delivered_then_the_error() {
    crate::testing::check_events_before_a_framing_error(
        || crate::Protocol::Anthropic.stream_decoder(),
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".as_bytes(),
        crate::testing::BROKEN_SSE_LINE,
    );
}

#[test]
fn response_events_start_with_known_usage() {
    // `Response` carries no start usage; the stream's first frame therefore
    // reports zeros, which the SDK accepts.
    let response = busbar_ir::Response::new("msg", "m", vec![]);
    let mut encoder = Encoder::new(&ReplyOptions::new(0));
    let mut bytes = Vec::new();
    for event in response.to_events() {
        encoder.encode(&event, &mut bytes);
    }
    encoder.finish(&mut bytes);
    let bytes = String::from_utf8(bytes).unwrap();
    assert!(bytes.starts_with("event: message_start\ndata: {\"type\":\"message_start\""));
    assert!(bytes.contains("\"usage\":{\"input_tokens\":0,\"output_tokens\":0,"));
}
