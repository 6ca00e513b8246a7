//! Tests of the stream mapping: upstream transcripts, client output, and the
//! round trip.

use busbar_ir::{
    ApiError, BlockDelta, BlockStart, ContentBlock, ErrorKind, Response, StopReason,
    StreamAccumulator, StreamEvent, Usage,
};
use proptest::prelude::*;
use serde_json::{json, Value};

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

fn encode(events: &[StreamEvent]) -> String {
    let mut encoder = Encoder::new(&ReplyOptions::new(1_700_000_000));
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn streamed_calls_to_namespace_functions_name_their_namespace() {
    let mut response = Response::new(
        "resp_1",
        "m",
        vec![ContentBlock::tool_use("c1", "agents__spawn", "{}")],
    );
    response.stop_reason = Some(busbar_ir::StopReason::ToolUse);
    let mut options = ReplyOptions::new(1_700_000_000);
    options.tool_namespaces = vec!["agents".to_owned()];
    let mut encoder = Encoder::new(&options);
    let mut out = Vec::new();
    for event in response.to_events() {
        encoder.encode(&event, &mut out);
    }
    encoder.finish(&mut out);
    let text = String::from_utf8(out).unwrap();
    let added = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .find(|data| data.contains("response.output_item.added"))
        .unwrap();
    let added: Value = serde_json::from_str(added).unwrap();
    assert_eq!(added["item"]["namespace"], "agents");
    assert_eq!(added["item"]["name"], "spawn");
    assert!(
        text.contains(r#""namespace":"agents","name":"spawn""#),
        "{text}"
    );
    assert!(!text.contains("agents__spawn"), "{text}");
}

fn accumulate(events: &[StreamEvent]) -> Result<Response, ApiError> {
    let mut accumulator = StreamAccumulator::new();
    for event in events {
        accumulator.push(event);
    }
    accumulator.finish()
}

/// `event: TYPE` + data, as OpenAI writes each event.
fn frames(events: &[Value]) -> String {
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let mut event = event.clone();
            event["sequence_number"] = json!(i);
            format!(
                "event: {}\ndata: {event}\n\n",
                event["type"].as_str().unwrap()
            )
        })
        .collect()
}

fn response_object(status: &str, output: Value, usage: Value) -> Value {
    json!({"id": "resp_1", "object": "response", "created_at": 1741487325, "status": status,
        "error": null, "incomplete_details": null, "model": "gpt-5", "output": output,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "usage": usage})
}

fn created() -> Value {
    json!({"type": "response.created", "response": response_object("in_progress", json!([]), Value::Null)})
}

fn usage() -> Value {
    json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
        "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 42})
}

/// A reasoning model's reply: two summary parts, text, then a tool call.
fn openai_transcript() -> String {
    let reasoning_done = json!({"type": "reasoning", "id": "rs_1", "summary": [
        {"type": "summary_text", "text": "First."}, {"type": "summary_text", "text": "Second."}],
        "encrypted_content": "gAAAA"});
    let message_done = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]});
    let call_done = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "w",
        "arguments": "{\"c\":1}", "status": "completed"});
    frames(&[
        created(),
        json!({"type": "response.in_progress", "response": response_object("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "First."}),
        json!({"type": "response.reasoning_summary_text.done", "item_id": "rs_1", "output_index": 0, "summary_index": 0, "text": "First."}),
        json!({"type": "response.reasoning_summary_part.done", "item_id": "rs_1", "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": "First."}}),
        json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0, "summary_index": 1, "part": {"type": "summary_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 1, "delta": "Second."}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning_done}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 1, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": "Hel", "logprobs": []}),
        json!({"type": "response.output_text.annotation.added", "item_id": "msg_1", "output_index": 1, "content_index": 0, "annotation_index": 0, "annotation": {"type": "url_citation"}}),
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": "lo", "logprobs": []}),
        json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 1, "content_index": 0, "text": "Hello", "logprobs": []}),
        json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 1, "content_index": 0, "part": {"type": "output_text", "text": "Hello", "annotations": []}}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": message_done}),
        json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "w", "arguments": "", "status": "in_progress"}}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 2, "delta": "{\"c\":"}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 2, "delta": "1}"}),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 2, "name": "w", "arguments": "{\"c\":1}"}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": call_done}),
        json!({"type": "response.completed", "response": response_object("completed",
            json!([reasoning_done, message_done, call_done]), usage())}),
    ])
}

#[test]
fn reads_an_openai_stream_as_blocks() {
    let events = decode(&openai_transcript()).unwrap();
    assert_eq!(
        events[0],
        StreamEvent::MessageStart {
            id: "resp_1".into(),
            model: "gpt-5".into(),
            created: Some(1_741_487_325),
            usage: Usage::default(),
        }
    );
    let starts: Vec<usize> = events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::BlockStart { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [0, 1, 2]);
    let response = accumulate(&events).unwrap();
    assert_eq!(
        response.content,
        vec![
            ContentBlock::thinking("First.\n\nSecond.", Some("responses:rs_1:gAAAA".into())),
            ContentBlock::text("Hello"),
            ContentBlock::tool_use("call_1", "w", "{\"c\":1}"),
        ]
    );
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(response.usage.reasoning_tokens, Some(20));
    assert_eq!(response.usage.cache_read_tokens, Some(2));
    // The stream says what the complete reply says.
    let complete = response_object(
        "completed",
        json!([
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "First."}, {"type": "summary_text", "text": "Second."}], "encrypted_content": "gAAAA"},
            {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hello"}]},
            {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{\"c\":1}"}]),
        usage(),
    );
    let decoded = crate::responses::response::decode(complete.to_string().as_bytes()).unwrap();
    assert_eq!(decoded, response);
}

#[test]
fn content_that_arrives_only_in_done_events_is_read() {
    let message = json!({"type": "message", "id": "msg_1", "role": "assistant",
        "content": [{"type": "output_text", "text": "Whole"}, {"type": "refusal", "refusal": "No."}]});
    let stream = frames(&[
        created(),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.done", "output_index": 0, "arguments": "{}"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": message}),
        json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "reasoning", "id": "rs_2", "summary": []}}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "late"}]}}),
        json!({"type": "response.output_item.added", "output_index": 3, "item": {"type": "message", "id": "msg_3", "content": []}}),
        json!({"type": "response.content_part.added", "output_index": 3, "content_index": 0, "part": {"type": "output_text", "text": ""}}),
        json!({"type": "response.output_text.done", "output_index": 3, "content_index": 0, "text": "done-only"}),
        json!({"type": "response.content_part.done", "output_index": 3, "content_index": 0, "part": {"type": "output_text", "text": "done-only"}}),
        json!({"type": "response.output_item.done", "output_index": 3, "item": {"type": "message", "content": [{"type": "output_text", "text": "done-only"}]}}),
        json!({"type": "response.completed", "response": response_object("completed", json!([]), Value::Null)}),
    ]);
    let response = accumulate(&decode(&stream).unwrap()).unwrap();
    assert_eq!(
        response.content,
        vec![
            ContentBlock::tool_use("c", "f", "{}"),
            ContentBlock::text("Whole"),
            ContentBlock::text("No."),
            ContentBlock::thinking("late", Some("responses:rs_2:".into())),
            ContentBlock::text("done-only"),
        ]
    );
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
}

#[test]
fn terminal_events_and_truncation() {
    let text = |delta: &str| json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": delta});
    let incomplete = frames(&[
        created(),
        text("Once"),
        json!({"type": "response.incomplete", "response": {"id": "resp_1", "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"}, "output": [], "usage": usage()}}),
    ]);
    let response = accumulate(&decode(&incomplete).unwrap()).unwrap();
    assert_eq!(response.text(), "Once");
    assert_eq!(response.stop_reason, Some(StopReason::MaxTokens));
    let failed = frames(&[
        created(),
        text("a"),
        json!({"type": "response.failed", "response": {"id": "resp_1", "status": "failed",
            "error": {"code": "rate_limit_exceeded", "message": "Slow down."}, "output": []}}),
    ]);
    let error = accumulate(&decode(&failed).unwrap()).unwrap_err();
    assert_eq!(
        (error.kind, error.message.as_str()),
        (ErrorKind::RateLimit, "Slow down.")
    );
    let errored = frames(&[
        created(),
        json!({"type": "error", "code": "ERR_SOMETHING", "message": "Something went wrong", "param": null}),
    ]);
    let error = accumulate(&decode(&errored).unwrap()).unwrap_err();
    assert_eq!(
        (error.kind, error.code.as_deref()),
        (ErrorKind::Server, Some("ERR_SOMETHING"))
    );
    let cut = frames(&[created(), text("a")]);
    assert!(matches!(decode(&cut), Err(DecodeError::Truncated)));
    assert!(matches!(decode(""), Err(DecodeError::Truncated)));
    assert!(matches!(
        decode("data: {not json}\n\n"),
        Err(DecodeError::Json(_))
    ));
    assert!(matches!(
        decode("data: [1]\n\n"),
        Err(DecodeError::Stream(_))
    ));
}

#[test]
fn unknown_events_are_skipped_and_misplaced_arguments_fail() {
    let stream = frames(&[
        created(),
        json!({"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"}),
        json!({"type": "response.image_generation_call.partial_image", "output_index": 0, "partial_image_b64": "AAAA", "delta": {"odd": true}}),
        json!({"type": "response.something_new", "delta": 5}),
        json!({"type": "response.completed", "response": response_object("completed", json!([]), Value::Null)}),
    ]) + "data: [DONE]\n\n";
    let events = decode(&stream).unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    let late = frames(&[
        created(),
        json!({"type": "response.function_call_arguments.delta", "output_index": 4, "delta": "{"}),
    ]);
    assert!(matches!(decode(&late), Err(DecodeError::Stream(_))));
    // A known event of the wrong shape is an error.
    let bad = frames(&[
        created(),
        json!({"type": "response.output_text.delta", "delta": 5}),
    ]);
    assert!(matches!(decode(&bad), Err(DecodeError::Json(_))));
}

fn start() -> StreamEvent {
    StreamEvent::MessageStart {
        id: "resp_1".into(),
        model: "gpt-5".into(),
        created: Some(7),
        usage: Usage::default(),
    }
}

/// Each `data:` of an encoded stream, as JSON.
fn datas(stream: &str) -> Vec<Value> {
    stream
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

#[test]
fn encodes_the_sdk_event_sequence() {
    let mut response = Response::new("resp_1", "gpt-5", vec![ContentBlock::text("Hi")]);
    response.created = Some(7);
    response.stop_reason = Some(StopReason::EndTurn);
    response.usage = Usage::new(3, 1);
    let out = encode(&response.to_events());
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let datas = datas(&out);
    for (i, data) in datas.iter().enumerate() {
        assert_eq!(data["sequence_number"], json!(i));
        assert_eq!(data["type"], json!(names[i]));
    }
    assert_eq!(
        datas[4],
        json!({"type": "response.output_text.delta", "item_id": "msg_1_0", "output_index": 0,
            "content_index": 0, "delta": "Hi", "logprobs": [], "sequence_number": 4})
    );
    assert_eq!(datas[0]["response"]["status"], "in_progress");
    assert!(datas[0]["response"].get("usage").is_none());
    let done = &datas[8]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hi");
    assert_eq!(
        done["usage"]["input_tokens_details"]["cache_write_tokens"],
        0
    );
    // The final object is the complete reply's.
    let complete: Value =
        serde_json::from_slice(&crate::responses::response::encode(&response, 0, &[]).body)
            .unwrap();
    assert_eq!(done, &complete);
}

#[test]
fn tool_calls_and_reasoning_items_carry_consistent_ids() {
    let mut response = Response::new(
        "resp_9",
        "m",
        vec![
            ContentBlock::thinking("hmm", Some("EqQBsig".into())),
            ContentBlock::tool_use("call_1", "f", "{\"a\":1}"),
        ],
    );
    response.stop_reason = Some(StopReason::ToolUse);
    let datas = datas(&encode(&response.to_events()));
    let ids: Vec<(&str, &Value, &Value)> = datas
        .iter()
        .filter(|data| data.get("output_index").is_some())
        .map(|data| {
            let id = data.get("item_id").unwrap_or(&data["item"]["id"]);
            (data["type"].as_str().unwrap(), id, &data["output_index"])
        })
        .collect();
    for (kind, id, index) in &ids {
        let expected = if *index == &json!(0) {
            "rs_busbar_thinking_9_0"
        } else {
            "fc_9_1"
        };
        assert_eq!(*id, &json!(expected), "{kind}");
    }
    let args = datas
        .iter()
        .find(|data| data["type"] == "response.function_call_arguments.done")
        .unwrap();
    assert_eq!(
        (&args["name"], &args["arguments"]),
        (&json!("f"), &json!("{\"a\":1}"))
    );
    let last = datas.last().unwrap();
    assert_eq!(
        last["response"]["output"][0]["encrypted_content"],
        "EqQBsig"
    );
    assert_eq!(last["response"]["output"][1]["call_id"], "call_1");
}

#[test]
fn a_responses_reasoning_item_keeps_its_id_through_ir() {
    let events = decode(&openai_transcript()).unwrap();
    let out = encode(&events);
    let datas = datas(&out);
    let added = datas
        .iter()
        .find(|data| data["type"] == "response.output_item.added")
        .unwrap();
    assert_eq!(added["item"]["id"], "rs_1");
    let again = decode(&out).unwrap();
    assert_eq!(accumulate(&again).unwrap(), accumulate(&events).unwrap());
}

#[test]
fn errors_become_a_failed_response() {
    let events = [
        start(),
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Text("partial".into()),
        },
        StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "busy").with_status(529)),
        StreamEvent::MessageStop,
    ];
    let out = encode(&events);
    let datas = datas(&out);
    let last = datas.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(
        last["response"]["error"],
        json!({"code": "server_error", "message": "busy"})
    );
    assert_eq!(last["response"]["output"], json!([]));
    let back = decode(&out).unwrap();
    assert!(matches!(back.last(), Some(StreamEvent::Error(error)) if error.message == "busy"));
    // An error before anything else still follows `response.created`.
    let early = encode(&[StreamEvent::Error(ApiError::new(
        ErrorKind::RateLimit,
        "slow",
    ))]);
    let names: Vec<&str> = early
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    assert!(early.contains(r#""code":"rate_limit_exceeded""#), "{early}");
    // A reply that ended in an upstream error is a failed response too.
    let mut failed = Response::new("resp_1", "m", vec![]);
    failed.stop_reason = Some(StopReason::Error);
    let out = encode(&failed.to_events());
    assert!(out.contains("event: response.failed\n"), "{out}");
}

/// An event of a known type with arbitrary, possibly inconsistent fields.
fn arbitrary_event() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(vec![
        "response.created",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.completed",
        "response.failed",
        "error",
        "response.unknown",
    ]);
    let item_type = prop::sample::select(vec![
        "message",
        "function_call",
        "reasoning",
        "web_search_call",
    ]);
    let id = prop::sample::select(vec![
        "rs_1",
        "rs_busbar_thinking_x_0",
        "rs_busbar_redacted_x_1",
        "msg_1",
    ]);
    (
        kinds,
        proptest::option::of(0usize..4),
        proptest::option::of(0usize..3),
        proptest::option::of("[a-z{}\":]{0,6}"),
        item_type,
        id,
        any::<bool>(),
    )
        .prop_map(|(kind, output_index, content_index, text, item_type, id, status)| {
            json!({
                "type": kind, "output_index": output_index, "content_index": content_index,
                "summary_index": content_index, "delta": text, "text": text, "arguments": text,
                "part": {"type": "output_text", "text": text},
                "item": {"type": item_type, "id": id, "call_id": "c", "name": "f", "arguments": text,
                    "summary": [{"type": "summary_text", "text": text}], "encrypted_content": text,
                    "content": [{"type": "output_text", "text": text}]},
                "response": {"id": "r", "status": if status { "completed" } else { "incomplete" },
                    "output": [], "error": {"code": text, "message": text}},
                "code": text, "message": text,
            })
        })
}

/// IR events in any order, with any indexes.
fn arbitrary_ir_event() -> impl Strategy<Value = StreamEvent> {
    let index = 0usize..3;
    prop_oneof![
        Just(start()),
        (index.clone(), prop::sample::select(vec![0u8, 1, 2, 3])).prop_map(|(index, kind)| {
            let block = match kind {
                0 => BlockStart::Text,
                1 => BlockStart::Thinking,
                2 => BlockStart::RedactedThinking { data: "d".into() },
                _ => BlockStart::ToolUse {
                    id: "c".into(),
                    name: "f".into(),
                    signature: None,
                },
            };
            StreamEvent::BlockStart { index, block }
        }),
        (
            index.clone(),
            prop::sample::select(vec![0u8, 1, 2, 3]),
            "[a-z:]{0,12}"
        )
            .prop_map(|(index, kind, text)| {
                let delta = match kind {
                    0 => BlockDelta::Text(text),
                    1 => BlockDelta::Thinking(text),
                    2 => BlockDelta::ThinkingSignature(format!("responses:{text}")),
                    _ => BlockDelta::ToolArguments(text),
                };
                StreamEvent::BlockDelta { index, delta }
            }),
        index.prop_map(|index| StreamEvent::BlockStop { index }),
        Just(StreamEvent::MessageDelta {
            stop_reason: Some(StopReason::Error),
            stop_sequence: None,
            usage: None
        }),
        Just(StreamEvent::MessageStop),
        Just(StreamEvent::Error(ApiError::new(ErrorKind::Timeout, "t"))),
    ]
}

proptest! {
    #[test]
    fn the_decoder_never_panics(events in proptest::collection::vec(arbitrary_event(), 0..24)) {
        let _ = decode(&frames(&events));
    }

    #[test]
    fn the_encoder_never_panics_and_numbers_its_events(
        events in proptest::collection::vec(arbitrary_ir_event(), 0..24),
    ) {
        let out = encode(&events);
        for (i, data) in datas(&out).iter().enumerate() {
            prop_assert_eq!(&data["sequence_number"], &json!(i));
        }
    }
}

#[test]
fn events_before_a_broken_line_are_delivered_then_the_error() {
    crate::testing::check_events_before_a_framing_error(
        || crate::Protocol::Responses.stream_decoder(),
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"m\",\"output\":[]}}\n\n".as_bytes(),
        crate::testing::BROKEN_SSE_LINE,
    );
}
