//! An OpenAI Chat client calling a model served by an Anthropic upstream,
//! complete replies: what goes upstream and what comes back.

use busbar_testkit::{Fault, VendorError};
use serde_json::{json, Value};

use crate::support::{
    openai_tools, parsed_arguments, text_of, time_arguments, weather_arguments, Gateway, Reply,
    ANTHROPIC_KEY, CLAUDE_UPSTREAM, PNG_BASE64,
};

/// Sends `body` to `/v1/chat/completions`, expects a 200, and returns the
/// reply and the JSON the upstream received.
async fn exchange(gateway: &Gateway, body: &Value) -> (Reply, Value) {
    let reply = gateway.post_json("/v1/chat/completions", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = gateway.received_one();
    assert_eq!(upstream.path, "/v1/messages");
    let sent = upstream.json().expect("the upstream body is JSON");
    (reply, sent)
}

#[tokio::test]
async fn text_and_system_prompt_with_headers_defaults_and_usage() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "temperature": 0.7, "top_p": 0.9,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "hello there"}]});
    let (reply, sent) = exchange(&gateway, &body).await;

    let upstream = gateway.received_one();
    assert_eq!(upstream.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(upstream.header("authorization"), None);
    assert_eq!(upstream.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent["model"], CLAUDE_UPSTREAM);
    assert_eq!(
        sent["max_tokens"], 4096,
        "default_max_tokens is injected: {sent}"
    );
    assert_eq!(text_of(&sent["system"]), "Be brief.");
    let messages = sent["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        1,
        "the system prompt is not a message: {sent}"
    );
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(text_of(&messages[0]["content"]), "hello there");
    assert_eq!(sent["temperature"].as_f64(), Some(0.7));
    assert_eq!(sent["top_p"].as_f64(), Some(0.9));
    assert_ne!(sent["stream"], true);

    assert_eq!(reply.header("x-busbar-model"), Some("claude"));
    assert_eq!(reply.header("x-busbar-dropped"), None);
    let reply = reply.json();
    assert_eq!(reply["object"], "chat.completion");
    assert!(
        reply["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{reply}"
    );
    let choice = &reply["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Echo: hello there");
    assert_eq!(choice["finish_reason"], "stop");
    // Words: "Be brief." + "hello there" in, "Echo: hello there" out.
    assert_eq!(reply["usage"]["prompt_tokens"], 4);
    assert_eq!(reply["usage"]["completion_tokens"], 3);
    assert_eq!(reply["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn default_max_tokens_follows_the_model_and_never_overrides_the_client() {
    let gateway = Gateway::start().await;
    let ask = |model: &str, extra: Value| {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        if let Value::Object(extra) = extra {
            body.as_object_mut().expect("object").extend(extra);
        }
        body
    };
    let cases = [
        (ask("claude-big", json!({})), 8192),
        (ask("claude", json!({"max_tokens": 5})), 5),
        (ask("claude-big", json!({"max_completion_tokens": 6})), 6),
    ];
    for (body, expected) in cases {
        gateway.mock.clear();
        let (_, sent) = exchange(&gateway, &body).await;
        assert_eq!(sent["max_tokens"], expected, "for {body}: {sent}");
    }
}

#[tokio::test]
async fn reaching_max_tokens_finishes_with_length() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "max_tokens": 3,
        "messages": [{"role": "user", "content": "one two three four five"}]});
    let (reply, _) = exchange(&gateway, &body).await;
    let reply = reply.json();
    assert_eq!(reply["choices"][0]["message"]["content"], "Echo: one two");
    assert_eq!(reply["choices"][0]["finish_reason"], "length");
    assert_eq!(reply["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn stop_sequences_go_upstream_and_end_with_stop() {
    let gateway = Gateway::start().await;
    for stop in [json!(["three", "nine"]), json!("three")] {
        gateway.mock.clear();
        let body = json!({"model": "claude", "stop": stop,
            "messages": [{"role": "user", "content": "one two three four"}]});
        let (reply, sent) = exchange(&gateway, &body).await;
        let expected = if stop.is_array() {
            stop.clone()
        } else {
            json!([stop])
        };
        assert_eq!(sent["stop_sequences"], expected);
        let reply = reply.json();
        assert_eq!(reply["choices"][0]["message"]["content"], "Echo: one two ");
        assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    }
}

#[tokio::test]
async fn multi_turn_history_keeps_roles_and_order() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "messages": [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    let messages = sent["messages"].as_array().expect("messages");
    let turns: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                text_of(&m["content"]),
            )
        })
        .collect();
    assert_eq!(
        turns,
        [
            ("user", "first question"),
            ("assistant", "first answer"),
            ("user", "second question")
        ]
        .map(|(r, t)| (r.to_owned(), t.to_owned()))
    );
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Echo: second question"
    );
}

#[tokio::test]
async fn tool_definitions_and_a_tool_call_reply() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "tools": openai_tools(),
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let (reply, sent) = exchange(&gateway, &body).await;

    let tools = sent["tools"].as_array().expect("tools upstream");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "get_weather");
    assert_eq!(tools[0]["description"], "Weather for a city.");
    assert_eq!(
        tools[0]["input_schema"],
        openai_tools()[0]["function"]["parameters"]
    );
    assert_eq!(tools[1]["name"], "get_time");

    let reply = reply.json();
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let calls = choice["message"]["tool_calls"]
        .as_array()
        .expect("tool_calls");
    assert_eq!(calls.len(), 1, "{reply}");
    assert!(
        calls[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("toolu_mock")),
        "{reply}"
    );
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(parsed_arguments(&calls[0]), weather_arguments());
    // The mock says what it is about to do before calling: text and calls survive together.
    assert_eq!(
        choice["message"]["content"], "Calling get_weather.",
        "{reply}"
    );
}

#[tokio::test]
async fn tool_choice_maps_to_anthropic_forms() {
    let gateway = Gateway::start().await;
    let cases = [
        (json!("required"), json!({"type": "any"})),
        (
            json!({"type": "function", "function": {"name": "get_time"}}),
            json!({"type": "tool", "name": "get_time"}),
        ),
    ];
    for (choice, expected) in cases {
        gateway.mock.clear();
        let body = json!({"model": "claude", "tools": openai_tools(), "tool_choice": choice,
            "messages": [{"role": "user", "content": "go"}]});
        let (reply, sent) = exchange(&gateway, &body).await;
        for (key, value) in expected.as_object().expect("object") {
            assert_eq!(
                &sent["tool_choice"][key], value,
                "tool_choice for {choice}: {sent}"
            );
        }
        let reply = reply.json();
        assert_eq!(
            reply["choices"][0]["finish_reason"], "tool_calls",
            "{reply}"
        );
    }
    // `none`: no call, whether Busbar sends {type: none} or leaves the tools out.
    gateway.mock.clear();
    let body = json!({"model": "claude", "tools": openai_tools(), "tool_choice": "none",
        "messages": [{"role": "user", "content": "just talk"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    assert!(
        sent["tool_choice"]["type"] == "none" || sent.get("tools").is_none(),
        "tool_choice none was lost: {sent}"
    );
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Echo: just talk"
    );
    // A named choice makes the mock call that tool.
    gateway.mock.clear();
    let body = json!({"model": "claude", "tools": openai_tools(),
        "tool_choice": {"type": "function", "function": {"name": "get_time"}},
        "messages": [{"role": "user", "content": "time?"}]});
    let (reply, _) = exchange(&gateway, &body).await;
    let reply = reply.json();
    let call = &reply["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_time");
    assert_eq!(parsed_arguments(call), time_arguments());
}

#[tokio::test]
async fn parallel_tool_calls_and_their_opt_out() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "tools": openai_tools(),
        "messages": [{"role": "user", "content": "both in parallel please"}]});
    let (reply, _) = exchange(&gateway, &body).await;
    let reply = reply.json();
    let calls = reply["choices"][0]["message"]["tool_calls"]
        .as_array()
        .expect("tool_calls");
    let names: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["function"]["name"].as_str())
        .collect();
    assert_eq!(names, ["get_weather", "get_time"]);
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Calling get_weather and get_time."
    );
    assert_eq!(parsed_arguments(&calls[1]), time_arguments());

    gateway.mock.clear();
    let body = json!({"model": "claude", "tools": openai_tools(), "parallel_tool_calls": false,
        "messages": [{"role": "user", "content": "both in parallel please"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    assert_eq!(
        sent["tool_choice"]["disable_parallel_tool_use"], true,
        "{sent}"
    );
    let reply = reply.json();
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn tool_results_become_tool_result_blocks() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "tools": openai_tools(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_abc", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18C and sunny"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    let messages = sent["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3, "{sent}");
    assert_eq!(messages[1]["role"], "assistant");
    let call = messages[1]["content"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b["type"] == "tool_use"))
        .unwrap_or_else(|| panic!("no tool_use block: {sent}"));
    assert_eq!(call["id"], "call_abc");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "Paris"}));
    assert_eq!(messages[2]["role"], "user");
    let result = &messages[2]["content"][0];
    assert_eq!(
        result["type"], "tool_result",
        "the tool result comes first: {sent}"
    );
    assert_eq!(result["tool_use_id"], "call_abc");
    assert_eq!(text_of(&result["content"]), "18C and sunny");
    let reply = reply.json();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Tool result received: 18C and sunny"
    );
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn data_url_images_become_base64_sources() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_BASE64}")}}]}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    let content = sent["messages"][0]["content"].as_array().expect("blocks");
    let image = content
        .iter()
        .find(|b| b["type"] == "image")
        .unwrap_or_else(|| panic!("no image block: {sent}"));
    assert_eq!(
        image["source"],
        json!({"type": "base64", "media_type": "image/png", "data": PNG_BASE64})
    );
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Echo: what is this"
    );
}

#[tokio::test]
async fn fields_anthropic_cannot_express_are_dropped_and_named() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "seed": 42, "frequency_penalty": 0.5,
        "messages": [{"role": "user", "content": "hi"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    assert_eq!(sent.get("seed"), None);
    assert_eq!(sent.get("frequency_penalty"), None);
    let dropped = reply.header("x-busbar-dropped").unwrap_or_default();
    for field in ["seed", "frequency_penalty"] {
        assert!(
            dropped.contains(field),
            "x-busbar-dropped `{dropped}` lacks {field}"
        );
    }
}

#[tokio::test]
async fn cache_tokens_count_into_prompt_tokens() {
    let gateway = Gateway::start().await;
    let upstream = json!({"id": "msg_cache", "type": "message", "role": "assistant",
        "model": CLAUDE_UPSTREAM, "content": [{"type": "text", "text": "cached"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5,
                  "cache_read_input_tokens": 20, "output_tokens": 7}});
    gateway
        .mock
        .push_fault(Fault::Error(VendorError::raw(200, upstream.to_string())));
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]});
    let (reply, _) = exchange(&gateway, &body).await;
    let reply = reply.json();
    assert_eq!(reply["choices"][0]["message"]["content"], "cached");
    let usage = &reply["usage"];
    // Anthropic's input_tokens excludes the cache; OpenAI's prompt_tokens includes it.
    assert_eq!(usage["prompt_tokens"], 35, "{usage}");
    assert_eq!(usage["completion_tokens"], 7);
    assert_eq!(usage["total_tokens"], 42);
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"], 20,
        "{usage}"
    );
    assert_eq!(
        usage["prompt_tokens_details"]["cache_write_tokens"], 5,
        "{usage}"
    );
}
