//! Streamed replies: relayed byte for byte on the same protocol, translated
//! event by event across protocols, delivered as they arrive.

use std::time::Duration;

use busbar_testkit::{Fault, FaultRule, MockOptions};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::support::{
    anthropic_stream_text, anthropic_tools, normalize_ids, openai_stream_text, openai_tools,
    time_arguments, weather_arguments, Gateway, Setup, StreamReply, ANTHROPIC_KEY, OPENAI_KEY,
};

/// Checks the frame of an OpenAI chat stream: `data:` events only, JSON
/// chunks of one id, the role first, `[DONE]` last. Returns the chunks.
fn openai_chunks(reply: &StreamReply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.transport_error.is_none(),
        "{:?}",
        reply.transport_error
    );
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{:?}",
        reply.headers
    );
    assert!(
        reply.names().is_empty(),
        "OpenAI streams have no event names: {}",
        reply.text()
    );
    let last = reply.events.last().map(|e| e.data.as_str());
    assert_eq!(last, Some("[DONE]"), "{}", reply.text());
    let chunks = reply.data();
    assert_eq!(
        chunks.len() + 1,
        reply.events.len(),
        "every event but [DONE] is JSON: {}",
        reply.text()
    );
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(chunk["id"], chunks[0]["id"], "one id per stream");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["role"],
        "assistant",
        "{}",
        reply.text()
    );
    chunks
}

/// The `finish_reason`s the stream carries, in order.
fn finish_reasons(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned))
        .collect()
}

/// Checks the frame of an Anthropic stream: every event named after its
/// `type`, `message_start` first, `message_stop` last. Returns the data.
fn anthropic_events(reply: &StreamReply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.transport_error.is_none(),
        "{:?}",
        reply.transport_error
    );
    assert!(reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream")));
    for event in &reply.events {
        let data = event
            .json()
            .unwrap_or_else(|| panic!("not JSON: {}", event.data));
        assert_eq!(
            event.name.as_deref(),
            data["type"].as_str(),
            "{}",
            reply.text()
        );
    }
    let names = reply.names();
    assert_eq!(names.first(), Some(&"message_start"), "{}", reply.text());
    assert_eq!(names.last(), Some(&"message_stop"), "{}", reply.text());
    reply.data()
}

/// The `message_delta` event of an Anthropic stream.
fn message_delta(events: &[Value]) -> &Value {
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message_delta")
        .collect();
    assert_eq!(deltas.len(), 1, "one message_delta");
    deltas[0]
}

/// Tool calls assembled from OpenAI deltas: `(id, name, arguments)` by index.
fn openai_tool_calls(chunks: &[Value]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for chunk in chunks {
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().expect("a tool-call index") as usize;
            if index == calls.len() {
                let id = call["id"].as_str().expect("the first fragment has the id");
                let name = call["function"]["name"].as_str().expect("and the name");
                assert_eq!(call["type"], "function");
                calls.push((id.to_owned(), name.to_owned(), String::new()));
            }
            assert!(index < calls.len(), "tool-call index {index} skips ahead");
            if let Some(piece) = call["function"]["arguments"].as_str() {
                calls[index].2.push_str(piece);
            }
        }
    }
    calls
}

/// Tool uses assembled from Anthropic blocks: `(id, name, input JSON text)`.
fn anthropic_tool_uses(events: &[Value]) -> Vec<(String, String, String)> {
    let mut uses = Vec::new();
    let mut open: Option<(u64, usize)> = None;
    for event in events {
        match event["type"].as_str() {
            Some("content_block_start") if event["content_block"]["type"] == "tool_use" => {
                let block = &event["content_block"];
                let id = block["id"].as_str().expect("tool_use id").to_owned();
                let name = block["name"].as_str().expect("tool_use name").to_owned();
                uses.push((id, name, String::new()));
                open = Some((event["index"].as_u64().expect("index"), uses.len() - 1));
            }
            Some("content_block_delta") if event["delta"]["type"] == "input_json_delta" => {
                let (index, at) = open.expect("input_json_delta inside a tool_use block");
                assert_eq!(event["index"].as_u64(), Some(index));
                uses[at]
                    .2
                    .push_str(event["delta"]["partial_json"].as_str().unwrap_or_default());
            }
            Some("content_block_stop") => open = None,
            _ => {}
        }
    }
    uses
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn openai_stream_is_relayed_byte_for_byte() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "gpt", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "one two three four five six seven"}]});
    let reply = gateway.stream("/v1/chat/completions", &body).await;
    openai_chunks(&reply);
    assert_eq!(reply.header("x-busbar-model"), Some("gpt"));

    let sent = gateway.received_one();
    let bearer = format!("Bearer {OPENAI_KEY}");
    let direct = gateway
        .direct_stream(
            &sent.path,
            sent.body.clone(),
            &[("authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(direct.status, 200);
    assert_eq!(normalize_ids(&reply.text()), normalize_ids(&direct.text()));
}

#[tokio::test]
async fn anthropic_stream_is_relayed_byte_for_byte() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": "one two three four five six seven"}]});
    let reply = gateway.stream("/claude/v1/messages", &body).await;
    anthropic_events(&reply);

    let sent = gateway.received_one();
    let headers = [
        ("x-api-key", ANTHROPIC_KEY),
        ("anthropic-version", "2023-06-01"),
    ];
    let direct = gateway
        .direct_stream(&sent.path, sent.body.clone(), &headers)
        .await;
    assert_eq!(direct.status, 200);
    assert_eq!(normalize_ids(&reply.text()), normalize_ids(&direct.text()));
}

#[tokio::test]
async fn streams_reach_the_client_as_they_arrive() {
    let gateway = Setup::new()
        .mock(
            MockOptions::default()
                .event_interval(Duration::from_millis(5))
                .words_per_delta(1),
        )
        .start()
        .await;
    let cases = [
        ("/v1/chat/completions", json!({"model": "gpt"}), "[DONE]"),
        ("/v1/chat/completions", json!({"model": "claude"}), "[DONE]"),
        (
            "/claude/v1/messages",
            json!({"max_tokens": 100}),
            "message_stop",
        ),
        (
            "/gpt/v1/messages",
            json!({"max_tokens": 100}),
            "message_stop",
        ),
    ];
    for (path, mut body, terminal) in cases {
        // The upstream pauses after two events: whatever reached the client
        // before the pause must not hold the end of the stream.
        gateway.mock.push_fault(Fault::StallStream {
            after_events: 2,
            pause: Duration::from_millis(300),
        });
        body["stream"] = json!(true);
        body["messages"] = json!([{"role": "user", "content": "alpha beta gamma delta epsilon"}]);
        let mut open = gateway.open_stream(path, &body, &[]).await;
        assert_eq!(open.status, 200, "{path}");
        let first: Bytes = open.next_chunk().await.expect("a first chunk");
        let first = String::from_utf8_lossy(&first).into_owned();
        assert!(
            !first.contains(terminal),
            "{path} {body}: buffered until the end: {first}"
        );
        let reply = open.finish().await;
        assert!(reply.chunks.len() >= 2, "{path}: one chunk only");
        assert!(reply.text().contains(terminal), "{path}: {}", reply.text());
    }
}

#[tokio::test]
async fn openai_client_gets_a_translated_text_stream() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "stream": true,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "one two three four five six seven"}]});
    let reply = gateway.stream("/v1/chat/completions", &body).await;
    let chunks = openai_chunks(&reply);
    assert_eq!(reply.header("x-busbar-model"), Some("claude"));
    assert_eq!(
        openai_stream_text(&reply),
        "Echo: one two three four five six seven"
    );
    assert_eq!(finish_reasons(&chunks), ["stop"]);
    for chunk in &chunks {
        assert!(
            chunk["usage"].is_null(),
            "usage without include_usage: {chunk}"
        );
        assert!(
            !chunk["choices"].as_array().is_some_and(Vec::is_empty),
            "an empty-choices chunk: {chunk}"
        );
    }
    let sent = gateway.received_one().json().expect("JSON");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["max_tokens"], 4096);
    assert_eq!(
        sent.get("stream_options"),
        None,
        "an Anthropic body has no stream_options: {sent}"
    );
}

#[tokio::test]
async fn include_usage_adds_a_usage_chunk_only_when_asked() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "one two three"}]});
    let reply = gateway.stream("/v1/chat/completions", &body).await;
    let chunks = openai_chunks(&reply);
    let last = chunks.last().expect("chunks");
    assert_eq!(
        last["choices"],
        json!([]),
        "usage comes in a trailing chunk: {}",
        reply.text()
    );
    assert_eq!(last["usage"]["prompt_tokens"], 3);
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(last["usage"]["total_tokens"], 7);
    let with_usage = chunks.iter().filter(|c| !c["usage"].is_null()).count();
    assert_eq!(with_usage, 1, "{}", reply.text());
    assert_eq!(finish_reasons(&chunks), ["stop"]);
}

#[tokio::test]
async fn openai_client_gets_streamed_parallel_tool_calls() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "stream": true, "tools": openai_tools(),
        "messages": [{"role": "user", "content": "both in parallel please"}]});
    let reply = gateway.stream("/v1/chat/completions", &body).await;
    let chunks = openai_chunks(&reply);
    let calls = openai_tool_calls(&chunks);
    let names: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(names, ["get_weather", "get_time"], "{}", reply.text());
    assert_ne!(calls[0].0, calls[1].0);
    assert_eq!(parse(&calls[0].2), weather_arguments());
    assert_eq!(parse(&calls[1].2), time_arguments());
    assert_eq!(
        openai_stream_text(&reply),
        "Calling get_weather and get_time."
    );
    assert_eq!(finish_reasons(&chunks), ["tool_calls"]);
}

#[tokio::test]
async fn openai_stream_ends_with_length_at_max_tokens() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "stream": true, "max_tokens": 3,
        "messages": [{"role": "user", "content": "one two three four five"}]});
    let reply = gateway.stream("/v1/chat/completions", &body).await;
    let chunks = openai_chunks(&reply);
    assert_eq!(openai_stream_text(&reply), "Echo: one two");
    assert_eq!(finish_reasons(&chunks), ["length"]);
}

#[tokio::test]
async fn anthropic_client_gets_a_translated_text_stream_with_usage() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "stream": true, "system": "Be brief.",
        "messages": [{"role": "user", "content": "one two three four five six seven"}]});
    let reply = gateway.stream("/gpt/v1/messages", &body).await;
    let events = anthropic_events(&reply);
    assert_eq!(reply.header("x-busbar-model"), Some("gpt"));
    assert_eq!(
        anthropic_stream_text(&reply),
        "Echo: one two three four five six seven"
    );
    let start = events
        .iter()
        .find(|e| e["type"] == "content_block_start")
        .expect("a block");
    assert_eq!(start["index"], 0);
    assert_eq!(start["content_block"]["type"], "text");
    let delta = message_delta(&events);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 8, "{delta}");
    // Input usage arrives last from OpenAI: in message_delta or message_start.
    let input = delta["usage"]["input_tokens"]
        .as_u64()
        .or_else(|| events[0]["message"]["usage"]["input_tokens"].as_u64());
    assert_eq!(input, Some(9), "{}", reply.text());

    let sent = gateway.received_one().json().expect("JSON");
    assert_eq!(sent["stream"], true);
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "usage is asked upstream: {sent}"
    );
}

#[tokio::test]
async fn anthropic_client_gets_streamed_parallel_tool_use() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "stream": true, "tools": anthropic_tools(),
        "messages": [{"role": "user", "content": "both in parallel please"}]});
    let reply = gateway.stream("/gpt/v1/messages", &body).await;
    let events = anthropic_events(&reply);
    let uses = anthropic_tool_uses(&events);
    let names: Vec<&str> = uses.iter().map(|u| u.1.as_str()).collect();
    assert_eq!(names, ["get_weather", "get_time"], "{}", reply.text());
    assert_ne!(uses[0].0, uses[1].0);
    assert_eq!(parse(&uses[0].2), weather_arguments());
    assert_eq!(parse(&uses[1].2), time_arguments());
    assert_eq!(
        anthropic_stream_text(&reply),
        "Calling get_weather and get_time."
    );
    assert_eq!(message_delta(&events)["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn anthropic_stream_stops_with_max_tokens() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 3, "stream": true,
        "messages": [{"role": "user", "content": "one two three four five"}]});
    let reply = gateway.stream("/gpt/v1/messages", &body).await;
    let events = anthropic_events(&reply);
    assert_eq!(anthropic_stream_text(&reply), "Echo: one two");
    assert_eq!(message_delta(&events)["delta"]["stop_reason"], "max_tokens");
}

#[tokio::test]
async fn a_stream_fault_on_one_request_leaves_the_next_stream_whole() {
    let gateway = Gateway::start().await;
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::AbortStream { after_events: 2 }));
    let body = json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "x y"}]});
    let broken = gateway.stream("/v1/chat/completions", &body).await;
    assert!(
        !broken.text().contains("\"finish_reason\":\"stop\""),
        "{}",
        broken.text()
    );
    let whole = gateway.stream("/v1/chat/completions", &body).await;
    openai_chunks(&whole);
    assert_eq!(openai_stream_text(&whole), "Echo: x y");
}
