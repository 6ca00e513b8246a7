//! OpenAI Responses: the Response object, validation, reasoning and the typed event stream.

use serde_json::{json, Value};

use busbar_testkit::{sse, MockOptions, MockUpstream, THINKING_SIGNATURE, THINKING_TEXT};

use crate::support::{mock, post, OPENAI};

const PATH: &str = "/v1/responses";

fn tools() -> Value {
    json!([
        {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"type": "function", "name": "get_time", "parameters": {"type": "object",
            "properties": {"utc": {"type": "boolean"}}}},
        {"type": "web_search"}
    ])
}

/// Twenty words, enough to run past the API's smallest `max_output_tokens`.
const LONG: &str = "one two three four five six seven eight nine ten eleven twelve thirteen \
                    fourteen fifteen sixteen seventeen eighteen nineteen twenty";

#[tokio::test]
async fn text_reply_is_a_response_object() {
    let upstream = mock().await;
    let request = json!({"model": "gpt-test", "instructions": "Be brief.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "hello there"}]}]});
    let answer = post(&upstream, "/openai/v1/responses", OPENAI, &request).await;
    assert_eq!(answer.status, 200);
    assert!(answer.header("x-request-id").is_some());
    let body = answer.json();
    assert!(body["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("resp_mock")));
    assert_eq!(
        (&body["object"], &body["status"], &body["model"]),
        (&json!("response"), &json!("completed"), &json!("gpt-test"))
    );
    assert!(body["created_at"].is_u64());
    assert_eq!(body["instructions"], "Be brief.");
    let output = body["output"].as_array().expect("output");
    assert_eq!(output.len(), 1);
    assert_eq!(
        (&output[0]["type"], &output[0]["role"], &output[0]["status"]),
        (&json!("message"), &json!("assistant"), &json!("completed"))
    );
    assert_eq!(
        output[0]["content"],
        json!([{"type": "output_text", "text": "Echo: hello there", "annotations": [], "logprobs": []}])
    );
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 4, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
               "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 7})
    );
    assert_eq!(body["text"]["format"], json!({"type": "text"}));

    let plain = json!({"model": "m", "input": "just a string"});
    let body = post(&upstream, PATH, OPENAI, &plain).await.json();
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "Echo: just a string"
    );
}

#[tokio::test]
async fn validation_and_auth_follow_openai() {
    let upstream = mock().await;
    let answer = post(&upstream, PATH, &[], &json!({"model": "m", "input": "x"})).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
    let keyed = MockUpstream::start_with(MockOptions::default().expected_key("sk-right"))
        .await
        .expect("start");
    let answer = post(&keyed, PATH, OPENAI, &json!({"model": "m", "input": "x"})).await;
    assert_eq!(answer.json()["error"]["code"], "invalid_api_key");

    let cases = [
        (
            json!({"input": "x"}),
            "model",
            "Missing required parameter: 'model'.",
        ),
        (
            json!({"model": "m", "input": "x", "max_output_tokens": 5}),
            "max_output_tokens",
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, \
             but got 5 instead.",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "call_9",
                                            "output": "18C"}]}),
            "input",
            "No tool call found for function call output with call_id call_9.",
        ),
        (
            json!({"model": "m", "input": [{"type": "reasoning", "id": "rs_1"}]}),
            "input[0].summary",
            "Missing required parameter: 'input[0].summary'.",
        ),
        (
            json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
            "input[0].role",
            "Invalid value: 'robot'. Supported values are: 'assistant', 'system', 'developer', \
             and 'user'.",
        ),
        (
            json!({"model": "m", "input": "x", "tools": tools(),
                   "tool_choice": {"type": "function", "name": "nope"}}),
            "tool_choice",
            "Tool choice 'function' not found in 'tools' parameter.",
        ),
    ];
    for (request, param, message) in cases {
        let answer = post(&upstream, PATH, OPENAI, &request).await;
        assert_eq!(answer.status, 400, "{request}");
        assert_eq!(answer.json()["error"]["param"], param);
        assert_eq!(answer.json()["error"]["message"], message);
    }
}

#[tokio::test]
async fn tools_results_limits_and_reasoning() {
    let upstream = mock().await;
    let request = json!({"model": "m", "tools": tools(), "input": "weather in parallel"});
    let body = post(&upstream, PATH, OPENAI, &request).await.json();
    let output = body["output"].as_array().expect("output");
    assert_eq!(output.len(), 3);
    assert_eq!(
        output[0]["content"][0]["text"],
        "Calling get_weather and get_time."
    );
    assert_eq!(output[1]["type"], "function_call");
    assert_eq!(output[1]["arguments"], r#"{"city":"Paris"}"#);
    assert!(output[1]["call_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_mock")));
    assert!(output[1]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("fc_mock")));
    assert_eq!(output[2]["name"], "get_time");
    assert_eq!(body["status"], "completed");

    let result = json!({"model": "m", "tools": tools(), "input": [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"}]});
    let body = post(&upstream, PATH, OPENAI, &result).await.json();
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "Tool result received: 18C"
    );

    let limited = json!({"model": "m", "input": LONG, "max_output_tokens": 16});
    let body = post(&upstream, PATH, OPENAI, &limited).await.json();
    assert_eq!(body["status"], "incomplete");
    assert_eq!(
        body["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(body["output"][0]["status"], "incomplete");
    assert_eq!(body["usage"]["output_tokens"], 16);

    let reasoning = json!({"model": "m", "input": "think", "reasoning": {"effort": "low"}});
    let body = post(&upstream, PATH, OPENAI, &reasoning).await.json();
    let item = &body["output"][0];
    assert_eq!(
        (&item["type"], &item["summary"]),
        (&json!("reasoning"), &json!([]))
    );
    assert!(item.get("encrypted_content").is_none());
    let reasoning = json!({"model": "m", "input": "think", "include": ["reasoning.encrypted_content"],
                           "reasoning": {"effort": "high", "summary": "auto"}});
    let body = post(&upstream, PATH, OPENAI, &reasoning).await.json();
    let item = &body["output"][0];
    assert_eq!(item["encrypted_content"], THINKING_SIGNATURE);
    assert_eq!(
        item["summary"],
        json!([{"type": "summary_text", "text": THINKING_TEXT}])
    );
    let thinking_words = THINKING_TEXT.split_whitespace().count();
    assert_eq!(
        body["usage"]["output_tokens_details"]["reasoning_tokens"],
        thinking_words
    );
    assert_eq!(body["output"][1]["content"][0]["text"], "Echo: think");
}

fn stream_data(events: &[sse::SseEvent]) -> Vec<Value> {
    let data: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    assert_eq!(data.len(), events.len(), "every event is JSON");
    for (index, (event, data)) in events.iter().zip(&data).enumerate() {
        assert_eq!(
            Some(data["type"].as_str().unwrap_or_default()),
            event.event.as_deref()
        );
        assert_eq!(
            data["sequence_number"], index,
            "sequence numbers rise by one"
        );
    }
    data
}

#[tokio::test]
async fn text_stream_matches_the_vendor() {
    let upstream = mock().await;
    let request = json!({"model": "m", "stream": true, "input": "a b c d e f g"});
    let answer = post(&upstream, PATH, OPENAI, &request).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = answer.events();
    let data = stream_data(&events);
    let names = sse::event_names(&events);
    assert_eq!(
        names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        names[names.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert!(names[4..names.len() - 4]
        .iter()
        .all(|n| *n == "response.output_text.delta"));
    assert_eq!(data[0]["response"]["status"], "in_progress");
    assert_eq!(data[0]["response"]["output"], json!([]));
    assert_eq!(data[2]["item"]["status"], "in_progress");
    assert_eq!(data[2]["item"]["content"], json!([]));
    let text: String = data.iter().filter_map(|d| d["delta"].as_str()).collect();
    assert_eq!(text, "Echo: a b c d e f g");
    let done = &data[data.len() - 4];
    assert_eq!(done["text"], "Echo: a b c d e f g");
    let completed = &data[data.len() - 1]["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["usage"]["output_tokens"], 8);
    assert_eq!(completed["output"][0]["content"][0]["text"], text);

    let limited = json!({"model": "m", "stream": true, "input": LONG, "max_output_tokens": 16});
    let events = post(&upstream, PATH, OPENAI, &limited).await.events();
    assert_eq!(
        sse::event_names(&events).last(),
        Some(&"response.incomplete")
    );
}

#[tokio::test]
async fn tool_and_reasoning_stream_matches_the_vendor() {
    let upstream = mock().await;
    let request = json!({"model": "m", "stream": true, "tools": tools(), "input": "go",
                         "reasoning": {"effort": "medium", "summary": "detailed"}});
    let events = post(&upstream, PATH, OPENAI, &request).await.events();
    let data = stream_data(&events);
    let added: Vec<&Value> = data
        .iter()
        .filter(|d| d["type"] == "response.output_item.added")
        .map(|d| &d["item"])
        .collect();
    assert_eq!(added.len(), 3);
    assert_eq!(
        (&added[0]["type"], &added[0]["summary"]),
        (&json!("reasoning"), &json!([]))
    );
    assert_eq!(added[2]["type"], "function_call");
    assert_eq!(
        (&added[2]["arguments"], &added[2]["status"]),
        (&json!(""), &json!("in_progress"))
    );
    let summary: String = data
        .iter()
        .filter(|d| d["type"] == "response.reasoning_summary_text.delta")
        .filter_map(|d| d["delta"].as_str())
        .collect();
    assert_eq!(summary, THINKING_TEXT);
    let pieces: Vec<&str> = data
        .iter()
        .filter(|d| d["type"] == "response.function_call_arguments.delta")
        .filter_map(|d| d["delta"].as_str())
        .collect();
    assert!(pieces.len() > 1, "arguments arrive in pieces");
    assert_eq!(pieces.concat(), r#"{"city":"Paris"}"#);
    let arguments_done = data
        .iter()
        .find(|d| d["type"] == "response.function_call_arguments.done")
        .expect("arguments done");
    assert_eq!(
        (&arguments_done["name"], &arguments_done["arguments"]),
        (&json!("get_weather"), &json!(r#"{"city":"Paris"}"#))
    );
    assert_eq!(arguments_done["item_id"], added[2]["id"]);
    let completed = data.last().expect("events");
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(
        completed["response"]["output"].as_array().map(Vec::len),
        Some(3)
    );
}
