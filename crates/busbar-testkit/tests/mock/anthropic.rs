//! Anthropic Messages: replies, auth, validation and streams as the vendor shapes them.

use serde_json::{json, Value};

use busbar_testkit::{sse, MockOptions, MockUpstream, PANGRAM, THINKING_SIGNATURE, THINKING_TEXT};

use crate::support::{mock, post, send, ANTHROPIC};

const PATH: &str = "/v1/messages";

fn tools() -> Value {
    json!([
        {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "object",
            "properties": {"offset": {"type": "number"}}}}}}
    ])
}

fn ask(text: &str) -> Value {
    json!({"model": "claude-test", "max_tokens": 100, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn text_reply_has_the_vendor_shape() {
    let upstream = mock().await;
    let request = json!({"model": "claude-test", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]});
    let answer = post(&upstream, "/pool/v1/messages", ANTHROPIC, &request).await;
    assert_eq!(answer.status, 200);
    assert!(answer
        .header("request-id")
        .is_some_and(|id| id.starts_with("req_mock")));
    let body = answer.json();
    assert!(body["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("msg_mock")));
    assert_eq!(
        (&body["type"], &body["role"], &body["model"]),
        (
            &json!("message"),
            &json!("assistant"),
            &json!("claude-test")
        )
    );
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Echo: hello there"}])
    );
    assert_eq!(
        (&body["stop_reason"], &body["stop_sequence"]),
        (&json!("end_turn"), &Value::Null)
    );
    let usage = &body["usage"];
    assert_eq!(
        (
            usage["input_tokens"].as_u64(),
            usage["output_tokens"].as_u64()
        ),
        (Some(4), Some(3))
    );
    assert_eq!(
        (
            &usage["cache_read_input_tokens"],
            &usage["cache_creation_input_tokens"]
        ),
        (&json!(0), &json!(0))
    );

    let image_only = json!({"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]});
    let body = post(&upstream, PATH, ANTHROPIC, &image_only).await.json();
    assert_eq!(body["content"][0]["text"], PANGRAM);
}

#[tokio::test]
async fn auth_and_version_follow_the_vendor() {
    let upstream = mock().await;
    let answer = post(
        &upstream,
        PATH,
        &[("anthropic-version", "2023-06-01")],
        &ask("hi"),
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["type"], "error");
    assert_eq!(answer.json()["error"]["type"], "authentication_error");
    let answer = post(&upstream, PATH, &[("x-api-key", "k")], &ask("hi")).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
    let bearer = [
        ("authorization", "Bearer k"),
        ("anthropic-version", "2026-10-21"),
    ];
    assert_eq!(post(&upstream, PATH, &bearer, &ask("hi")).await.status, 200);

    let keyed = MockUpstream::start_with(MockOptions::default().expected_key("sk-ant-right"))
        .await
        .expect("start");
    let answer = post(&keyed, PATH, ANTHROPIC, &ask("hi")).await;
    assert_eq!(
        (answer.status, answer.json()["error"]["message"].clone()),
        (401, json!("invalid x-api-key"))
    );
    let right = [
        ("x-api-key", "sk-ant-right"),
        ("anthropic-version", "2023-06-01"),
    ];
    assert_eq!(post(&keyed, PATH, &right, &ask("hi")).await.status, 200);
}

#[tokio::test]
async fn validation_errors_have_the_vendor_body() {
    let upstream = mock().await;
    let bad_json = send(&upstream, "POST", PATH, ANTHROPIC, "{nope")
        .await
        .expect("answer");
    assert_eq!(
        (bad_json.status, bad_json.json()["error"]["type"].clone()),
        (400, json!("invalid_request_error"))
    );
    let cases = [
        (
            json!({"max_tokens": 5, "messages": []}),
            "model: Field required",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required",
        ),
        (
            json!({"model": "m", "max_tokens": 5}),
            "messages: Field required",
        ),
    ];
    for (request, message) in cases {
        let answer = post(&upstream, PATH, ANTHROPIC, &request).await;
        assert_eq!(answer.status, 400);
        assert_eq!(
            answer.json(),
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        );
    }
    let missing = send(&upstream, "POST", "/v1/complete", ANTHROPIC, "{}")
        .await
        .expect("answer");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn tools_stop_sequences_and_thinking() {
    let upstream = mock().await;
    let mut request = ask("weather in parallel");
    request["tools"] = tools();
    let body = post(&upstream, PATH, ANTHROPIC, &request).await.json();
    assert_eq!(body["stop_reason"], "tool_use");
    let content = body["content"].as_array().expect("content");
    assert_eq!(content.len(), 3);
    assert_eq!(
        content[0],
        json!({"type": "text", "text": "Calling get_weather and get_time."})
    );
    assert!(content[1]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("toolu_mock")));
    assert_eq!(content[1]["input"], json!({"city": "Paris", "unit": "c"}));
    assert_eq!(content[2]["input"], json!({"zone": {"offset": 1}}));

    request["tool_choice"] = json!({"type": "tool", "name": "get_time"});
    let body = post(&upstream, PATH, ANTHROPIC, &request).await.json();
    assert_eq!(body["content"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["content"][1]["name"], "get_time");

    let result = json!({"model": "m", "max_tokens": 50, "tools": tools(), "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "18C"}]}]}]});
    let body = post(&upstream, PATH, ANTHROPIC, &result).await.json();
    assert_eq!(body["content"][0]["text"], "Tool result received: 18C");

    let mut request = ask("alpha beta gamma");
    request["stop_sequences"] = json!(["gamma"]);
    let body = post(&upstream, PATH, ANTHROPIC, &request).await.json();
    assert_eq!(
        (&body["stop_reason"], &body["stop_sequence"]),
        (&json!("stop_sequence"), &json!("gamma"))
    );
    assert_eq!(body["content"][0]["text"], "Echo: alpha beta ");
    request["max_tokens"] = json!(1);
    request["stop_sequences"] = json!([]);
    let body = post(&upstream, PATH, ANTHROPIC, &request).await.json();
    assert_eq!(
        (&body["stop_reason"], &body["content"][0]["text"]),
        (&json!("max_tokens"), &json!("Echo:"))
    );

    let mut request = ask("think");
    request["max_tokens"] = json!(2048);
    request["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let body = post(&upstream, PATH, ANTHROPIC, &request).await.json();
    assert_eq!(
        body["content"][0],
        json!({"type": "thinking", "thinking": THINKING_TEXT, "signature": THINKING_SIGNATURE})
    );
    assert_eq!(body["content"][1]["text"], "Echo: think");
}

#[tokio::test]
async fn text_stream_matches_the_vendor() {
    let upstream = mock().await;
    let mut request = ask("one two three four five");
    request["stream"] = json!(true);
    let answer = post(&upstream, PATH, ANTHROPIC, &request).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = answer.events();
    let names = sse::event_names(&events);
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(names[3..names.len() - 3]
        .iter()
        .all(|n| *n == "content_block_delta"));
    let data: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    assert!(
        data.iter().zip(&names).all(|(d, name)| d["type"] == *name),
        "data repeats the event type"
    );
    let start = &data[0]["message"];
    assert_eq!(
        (&start["content"], &start["stop_reason"]),
        (&json!([]), &Value::Null)
    );
    assert_eq!(start["usage"]["input_tokens"], 5);
    let text: String = data
        .iter()
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Echo: one two three four five");
    let delta = &data[data.len() - 2];
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(delta["usage"]["output_tokens"], 6);
}

#[tokio::test]
async fn thinking_and_tool_stream_matches_the_vendor() {
    let upstream = mock().await;
    let mut request = ask("go");
    request["stream"] = json!(true);
    request["tools"] = tools();
    request["max_tokens"] = json!(2048);
    request["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let events = post(&upstream, PATH, ANTHROPIC, &request).await.events();
    let data: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    let starts: Vec<&Value> = data
        .iter()
        .filter(|d| d["type"] == "content_block_start")
        .collect();
    assert_eq!(
        starts[0]["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    assert_eq!(
        starts[1]["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(deltas_text(&data), "Calling get_weather.");
    assert_eq!(starts[2]["content_block"]["type"], "tool_use");
    assert_eq!(starts[2]["content_block"]["input"], json!({}));
    let deltas = |kind: &str, field: &str| -> String {
        data.iter()
            .filter(|d| d["delta"]["type"] == kind)
            .filter_map(|d| d["delta"][field].as_str())
            .collect()
    };
    assert_eq!(deltas("thinking_delta", "thinking"), THINKING_TEXT);
    assert_eq!(deltas("signature_delta", "signature"), THINKING_SIGNATURE);
    let input: Value =
        serde_json::from_str(&deltas("input_json_delta", "partial_json")).expect("input JSON");
    assert_eq!(input, json!({"city": "Paris", "unit": "c"}));
    let pieces = data
        .iter()
        .filter(|d| d["delta"]["type"] == "input_json_delta")
        .count();
    assert!(pieces > 2, "tool input arrives in pieces");
    let message_delta = data
        .iter()
        .find(|d| d["type"] == "message_delta")
        .expect("message_delta");
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
}

fn deltas_text(data: &[Value]) -> String {
    data.iter()
        .filter(|d| d["delta"]["type"] == "text_delta")
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect()
}
