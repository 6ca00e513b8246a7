//! Cohere Chat v2: replies with tool plans, auth, validation and the typed event stream.

use serde_json::{json, Value};

use busbar_testkit::{sse, MockOptions, MockUpstream, THINKING_TEXT};

use crate::support::{mock, post, COHERE};

const PATH: &str = "/v2/chat";

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
            "properties": {"utc": {"type": "boolean"}}}}}
    ])
}

fn ask(text: &str) -> Value {
    json!({"model": "command-test", "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn text_reply_has_the_vendor_shape() {
    let upstream = mock().await;
    let request = json!({"model": "command-test", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hello there"}]}]});
    let answer = post(&upstream, "/cohere/v2/chat", COHERE, &request).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert!(
        body["id"].as_str().is_some_and(|id| id.len() == 36),
        "a UUID"
    );
    assert_eq!(body["finish_reason"], "COMPLETE");
    assert_eq!(
        body["message"],
        json!({"role": "assistant", "content": [{"type": "text", "text": "Echo: hello there"}]})
    );
    assert_eq!(
        body["usage"],
        json!({"billed_units": {"input_tokens": 4, "output_tokens": 3},
               "tokens": {"input_tokens": 4, "output_tokens": 3}, "cached_tokens": 0})
    );

    let mut request = ask("alpha beta gamma");
    request["stop_sequences"] = json!(["gamma"]);
    let body = post(&upstream, PATH, COHERE, &request).await.json();
    assert_eq!(body["finish_reason"], "STOP_SEQUENCE");
    assert_eq!(body["message"]["content"][0]["text"], "Echo: alpha beta ");
    request["stop_sequences"] = json!([]);
    request["max_tokens"] = json!(2);
    let body = post(&upstream, PATH, COHERE, &request).await.json();
    assert_eq!(body["finish_reason"], "MAX_TOKENS");
    assert_eq!(body["message"]["content"][0]["text"], "Echo: alpha");
}

#[tokio::test]
async fn auth_and_validation_follow_the_vendor() {
    let upstream = mock().await;
    let answer = post(&upstream, PATH, &[], &ask("hi")).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["message"], "no api key supplied");
    assert!(answer.json()["id"].is_string());
    let keyed = MockUpstream::start_with(MockOptions::default().expected_key("co-right"))
        .await
        .expect("start");
    let answer = post(&keyed, PATH, COHERE, &ask("hi")).await;
    assert_eq!(
        (answer.status, answer.json()["message"].clone()),
        (401, json!("invalid api token"))
    );

    let cases = [
        json!({"messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m", "messages": []}),
        json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
               "stop_sequences": ["a", "b", "c", "d", "e", "f"]}),
    ];
    for request in cases {
        let answer = post(&upstream, PATH, COHERE, &request).await;
        assert_eq!(answer.status, 400, "{request}");
        assert!(answer.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid request")));
    }
}

#[tokio::test]
async fn tool_calls_come_with_a_tool_plan() {
    let upstream = mock().await;
    let mut request = ask("weather in parallel");
    request["tools"] = tools();
    let body = post(&upstream, PATH, COHERE, &request).await.json();
    assert_eq!(body["finish_reason"], "TOOL_CALL");
    let message = &body["message"];
    assert_eq!(message["tool_plan"], "Calling get_weather and get_time.");
    assert!(message.get("content").is_none());
    let calls = message["tool_calls"].as_array().expect("tool calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["type"], "function");
    assert!(calls[0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("get_weather_")));
    assert_eq!(
        calls[0]["function"],
        json!({"name": "get_weather", "arguments": r#"{"city":"Paris"}"#})
    );

    request["tool_choice"] = json!("NONE");
    let body = post(&upstream, PATH, COHERE, &request).await.json();
    assert_eq!(body["finish_reason"], "COMPLETE");

    let result = json!({"model": "m", "tools": tools(), "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_plan": "I will check.", "tool_calls": [{"id": "w1",
            "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "w1", "content": [
            {"type": "document", "document": {"data": "18C"}}]}]});
    let body = post(&upstream, PATH, COHERE, &result).await.json();
    assert_eq!(
        body["message"]["content"][0]["text"],
        "Tool result received: 18C"
    );

    let mut thinking = ask("think");
    thinking["thinking"] = json!({"type": "enabled", "token_budget": 100});
    let body = post(&upstream, PATH, COHERE, &thinking).await.json();
    assert_eq!(
        body["message"]["content"],
        json!([{"type": "thinking", "thinking": THINKING_TEXT}, {"type": "text", "text": "Echo: think"}])
    );
}

/// The events' data, checking each repeats its `event:` name in `type`.
fn stream_data(events: &[sse::SseEvent]) -> Vec<Value> {
    let (done, events) = events.split_last().expect("events");
    assert_eq!(
        (done.event.as_deref(), done.data.as_str()),
        (None, "[DONE]")
    );
    events
        .iter()
        .map(|event| {
            let data = event.json().expect("JSON data");
            assert_eq!(
                Some(data["type"].as_str().unwrap_or_default()),
                event.event.as_deref()
            );
            data
        })
        .collect()
}

#[tokio::test]
async fn text_stream_matches_the_vendor() {
    let upstream = mock().await;
    let mut request = ask("a b c d e f g");
    request["stream"] = json!(true);
    let answer = post(&upstream, PATH, COHERE, &request).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = answer.events();
    let data = stream_data(&events);
    let names = sse::event_names(&events);
    assert_eq!(names[..2], ["message-start", "content-start"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content-end", "message-end", "data"]
    );
    assert!(names[2..names.len() - 3]
        .iter()
        .all(|n| *n == "content-delta"));
    assert_eq!(data[0]["delta"]["message"]["role"], "assistant");
    assert!(data[0]["id"].is_string());
    assert_eq!(
        data[1]["delta"]["message"]["content"],
        json!({"type": "text", "text": ""})
    );
    let text: String = data
        .iter()
        .filter_map(|d| d["delta"]["message"]["content"]["text"].as_str())
        .collect();
    assert_eq!(text, "Echo: a b c d e f g");
    let end = &data[data.len() - 1];
    assert_eq!(end["delta"]["finish_reason"], "COMPLETE");
    assert_eq!(end["delta"]["usage"]["billed_units"]["output_tokens"], 8);
}

#[tokio::test]
async fn tool_stream_matches_the_vendor() {
    let upstream = mock().await;
    let mut request = ask("parallel");
    request["stream"] = json!(true);
    request["tools"] = tools();
    let events = post(&upstream, PATH, COHERE, &request).await.events();
    let data = stream_data(&events);
    let names = sse::event_names(&events);
    assert!(
        !names.contains(&"content-start"),
        "a tool plan, not content"
    );
    let plan: String = data
        .iter()
        .filter(|d| d["type"] == "tool-plan-delta")
        .filter_map(|d| d["delta"]["message"]["tool_plan"].as_str())
        .collect();
    assert_eq!(plan, "Calling get_weather and get_time.");
    let starts: Vec<&Value> = data
        .iter()
        .filter(|d| d["type"] == "tool-call-start")
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["index"], 1);
    let call = &starts[0]["delta"]["message"]["tool_calls"];
    assert!(call.is_object(), "one call per start event");
    assert_eq!(
        call["function"],
        json!({"name": "get_weather", "arguments": ""})
    );
    let arguments: String = data
        .iter()
        .filter(|d| d["type"] == "tool-call-delta" && d["index"] == 0)
        .filter_map(|d| d["delta"]["message"]["tool_calls"]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"city":"Paris"}"#);
    assert_eq!(names.iter().filter(|n| **n == "tool-call-end").count(), 2);
    assert_eq!(data[data.len() - 1]["delta"]["finish_reason"], "TOOL_CALL");
}
