//! OpenAI Chat Completions: replies, auth, validation and streams as the vendor shapes them.

use serde_json::{json, Value};

use busbar_testkit::{sse, MockOptions, MockUpstream, STRING_ARGUMENT};

use crate::support::{mock, post, send, OPENAI};

const PATH: &str = "/v1/chat/completions";

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
            "properties": {"utc": {"type": "boolean"}}}}}
    ])
}

#[tokio::test]
async fn text_reply_has_the_vendor_shape_and_is_recorded() {
    let upstream = mock().await;
    let request = json!({"model": "gpt-test", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hello big world"}]}]});
    let answer = post(&upstream, "/openai/v1/chat/completions", OPENAI, &request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(answer
        .header("x-request-id")
        .is_some_and(|id| id.starts_with("req_mock")));
    let body = answer.json();
    assert!(body["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("chatcmpl-mock")));
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-test");
    assert!(body["created"].is_u64());
    let choice = &body["choices"][0];
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": "Echo: hello big world",
                                         "refusal": null, "annotations": []})
    );
    assert_eq!(
        (&choice["finish_reason"], &choice["logprobs"]),
        (&json!("stop"), &Value::Null)
    );
    let usage = &body["usage"];
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(5), Some(4))
    );
    assert_eq!(usage["total_tokens"], 9);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);

    let received = upstream.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/openai/v1/chat/completions");
    assert_eq!(received[0].api_key(), Some("sk-test"));
    assert_eq!(received[0].json(), Some(request));
}

#[tokio::test]
async fn auth_follows_the_vendor() {
    let upstream = mock().await;
    let request = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let answer = post(&upstream, PATH, &[], &request).await;
    assert_eq!(answer.status, 401);
    let error = &answer.json()["error"];
    assert_eq!(
        (&error["type"], &error["code"], &error["param"]),
        (
            &json!("invalid_request_error"),
            &json!("invalid_api_key"),
            &Value::Null
        )
    );
    assert!(error["message"].is_string());
    assert_eq!(
        post(&upstream, PATH, &[("api-key", "azure")], &request)
            .await
            .status,
        200
    );

    let keyed = MockUpstream::start_with(MockOptions::default().expected_key("sk-right"))
        .await
        .expect("start");
    assert_eq!(post(&keyed, PATH, OPENAI, &request).await.status, 401);
    assert_eq!(
        post(
            &keyed,
            PATH,
            &[("authorization", "Bearer sk-right")],
            &request
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn validation_errors_have_the_vendor_body() {
    let upstream = mock().await;
    let bad_json = send(&upstream, "POST", PATH, OPENAI, "{nope")
        .await
        .expect("answer");
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.json()["error"]["type"], "invalid_request_error");
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            Value::Null,
        ),
        (json!({"model": "m"}), json!("messages")),
        (json!({"model": "m", "messages": []}), json!("messages")),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            json!("messages[0].role"),
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "stream_options": {"include_usage": true}}),
            json!("stream_options"),
        ),
    ];
    for (request, param) in cases {
        let answer = post(&upstream, PATH, OPENAI, &request).await;
        assert_eq!(answer.status, 400, "{request}");
        assert_eq!(answer.json()["error"]["param"], param, "{request}");
    }
    let missing = send(&upstream, "GET", "/v1/nothing", OPENAI, "")
        .await
        .expect("answer");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["error"]["message"],
        "Invalid URL (GET /v1/nothing)"
    );
    let wrong_method = send(&upstream, "GET", PATH, OPENAI, "")
        .await
        .expect("answer");
    assert_eq!(wrong_method.status, 404);
}

#[tokio::test]
async fn tools_calls_and_results() {
    let upstream = mock().await;
    let ask = |text: &str| {
        json!({"model": "m", "tools": weather_tools(),
                                  "messages": [{"role": "user", "content": text}]})
    };
    let body = post(&upstream, PATH, OPENAI, &ask("weather?")).await.json();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Calling get_weather.");
    let calls = choice["message"]["tool_calls"]
        .as_array()
        .expect("tool_calls");
    assert_eq!(calls.len(), 1);
    assert!(calls[0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_mock")));
    assert_eq!(
        (&calls[0]["type"], &calls[0]["function"]["name"]),
        (&json!("function"), &json!("get_weather"))
    );
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().expect("string"))
            .expect("arguments are JSON text");
    assert_eq!(arguments, json!({"city": STRING_ARGUMENT, "days": 1}));

    let body = post(&upstream, PATH, OPENAI, &ask("both in Parallel please"))
        .await
        .json();
    let names: Vec<&Value> = body["choices"][0]["message"]["tool_calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| &c["function"]["name"])
        .collect();
    assert_eq!(names, [&json!("get_weather"), &json!("get_time")]);

    let result = json!({"model": "m", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}]});
    let body = post(&upstream, PATH, OPENAI, &result).await.json();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Tool result received: 18C and sunny"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn max_tokens_and_stop_are_honoured() {
    let upstream = mock().await;
    let request = json!({"model": "m", "max_completion_tokens": 2,
                         "messages": [{"role": "user", "content": "one two three"}]});
    let body = post(&upstream, PATH, OPENAI, &request).await.json();
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: one");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 2);
    let request = json!({"model": "m", "stop": ["three"], "messages": [{"role": "user", "content": "one two three"}]});
    let body = post(&upstream, PATH, OPENAI, &request).await.json();
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: one two ");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn text_stream_matches_the_vendor() {
    let upstream = mock().await;
    let request = json!({"model": "m", "stream": true,
                         "messages": [{"role": "user", "content": "a b c d e f g"}]});
    let answer = post(&upstream, PATH, OPENAI, &request).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = answer.events();
    assert!(events.iter().all(|e| e.event.is_none()));
    assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    assert_eq!(chunks.len(), events.len() - 1);
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c.get("usage").is_none()));
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Echo: a b c d e f g");
    assert!(chunks.len() >= 5, "text arrives in several deltas");
    let last = &chunks[chunks.len() - 1]["choices"][0];
    assert_eq!(
        (&last["delta"], &last["finish_reason"]),
        (&json!({}), &json!("stop"))
    );

    let request = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                         "messages": [{"role": "user", "content": "a b"}]});
    let events = post(&upstream, PATH, OPENAI, &request).await.events();
    let chunks: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    let (usage_chunk, rest) = chunks.split_last().expect("chunks");
    assert!(rest
        .iter()
        .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        (
            usage_chunk["usage"]["prompt_tokens"].as_u64(),
            usage_chunk["usage"]["completion_tokens"].as_u64()
        ),
        (Some(2), Some(3))
    );
}

#[tokio::test]
async fn tool_call_stream_matches_the_vendor() {
    let upstream = mock().await;
    let request = json!({"model": "m", "stream": true, "tools": weather_tools(),
                         "messages": [{"role": "user", "content": "parallel"}]});
    let events = post(&upstream, PATH, OPENAI, &request).await.events();
    let chunks: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    let mut arguments = [String::new(), String::new()];
    let mut firsts = Vec::new();
    for chunk in &chunks {
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().expect("index") as usize;
            if call.get("id").is_some() {
                assert_eq!(call["function"]["arguments"], "");
                assert_eq!(call["type"], "function");
                firsts.push((index, call["function"]["name"].clone()));
            }
            arguments[index].push_str(call["function"]["arguments"].as_str().expect("arguments"));
        }
    }
    assert_eq!(
        firsts,
        vec![(0, json!("get_weather")), (1, json!("get_time"))]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&arguments[0]).ok(),
        Some(json!({"city": "Paris", "days": 1}))
    );
    assert_eq!(
        serde_json::from_str::<Value>(&arguments[1]).ok(),
        Some(json!({"utc": true}))
    );
    assert_eq!(
        chunks[chunks.len() - 1]["choices"][0]["finish_reason"],
        "tool_calls"
    );
}
