//! An Anthropic Messages client calling a model served by an OpenAI Chat
//! upstream, complete replies: what goes upstream and what comes back.

use busbar_testkit::{Fault, VendorError};
use serde_json::{json, Value};

use crate::support::{
    anthropic_tools, parsed_arguments, text_of, time_arguments, weather_arguments, Gateway, Reply,
    GPT_UPSTREAM, OPENAI_KEY, PNG_BASE64,
};

/// Sends `body` to `/gpt/v1/messages`, expects a 200, and returns the reply
/// and the JSON the upstream received.
async fn exchange(gateway: &Gateway, body: &Value) -> (Reply, Value) {
    let reply = gateway.post_json("/gpt/v1/messages", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = gateway.received_one();
    assert_eq!(upstream.path, "/v1/chat/completions");
    let sent = upstream.json().expect("the upstream body is JSON");
    (reply, sent)
}

/// The OpenAI `max_tokens` or `max_completion_tokens` of an upstream body.
fn max_tokens(sent: &Value) -> &Value {
    match sent.get("max_completion_tokens") {
        Some(value) => value,
        None => &sent["max_tokens"],
    }
}

fn text_blocks(reply: &Value) -> String {
    text_of(&reply["content"])
}

#[tokio::test]
async fn text_and_system_prompt_with_headers_and_usage() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "system": "Be brief.", "temperature": 0.7, "top_p": 0.9,
        "messages": [{"role": "user", "content": "hello there"}]});
    let (reply, sent) = exchange(&gateway, &body).await;

    let upstream = gateway.received_one();
    assert_eq!(
        upstream.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(upstream.header("x-api-key"), None);
    assert_eq!(upstream.header("anthropic-version"), None);
    assert_eq!(sent["model"], GPT_UPSTREAM);
    assert_eq!(max_tokens(&sent), 100);
    let messages = sent["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{sent}");
    assert!(
        matches!(messages[0]["role"].as_str(), Some("system" | "developer")),
        "{sent}"
    );
    assert_eq!(text_of(&messages[0]["content"]), "Be brief.");
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(text_of(&messages[1]["content"]), "hello there");
    assert_eq!(sent["temperature"].as_f64(), Some(0.7));
    assert_eq!(sent["top_p"].as_f64(), Some(0.9));

    assert_eq!(reply.header("x-busbar-model"), Some("gpt"));
    assert_eq!(reply.header("x-busbar-dropped"), None);
    let reply = reply.json();
    assert_eq!(reply["type"], "message");
    assert_eq!(reply["role"], "assistant");
    assert!(
        reply["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{reply}"
    );
    assert_eq!(
        reply["content"],
        json!([{"type": "text", "text": "Echo: hello there"}])
    );
    assert_eq!(reply["stop_reason"], "end_turn");
    assert_eq!(reply["stop_sequence"], Value::Null);
    assert_eq!(reply["usage"]["input_tokens"], 4);
    assert_eq!(reply["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn model_from_the_body_on_the_bare_messages_path() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "gpt", "max_tokens": 10,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
    let reply = gateway.post_json("/v1/messages", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway.received_one().json().expect("JSON");
    assert_eq!(sent["model"], GPT_UPSTREAM);
    assert_eq!(text_of(&sent["messages"][0]["content"]), "Be brief.");
    assert_eq!(text_blocks(&reply.json()), "Echo: hi");
}

#[tokio::test]
async fn reaching_max_tokens_stops_with_max_tokens() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 3, "messages": [{"role": "user", "content": "one two three four five"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    assert_eq!(max_tokens(&sent), 3);
    let reply = reply.json();
    assert_eq!(text_blocks(&reply), "Echo: one two");
    assert_eq!(reply["stop_reason"], "max_tokens");
    assert_eq!(reply["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn stop_sequences_go_upstream_as_stop() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 50, "stop_sequences": ["three", "nine"],
        "messages": [{"role": "user", "content": "one two three four"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    assert_eq!(sent["stop"], json!(["three", "nine"]));
    let reply = reply.json();
    assert_eq!(text_blocks(&reply), "Echo: one two ");
    // OpenAI reports a matched stop sequence as a plain `stop`.
    assert!(
        matches!(
            reply["stop_reason"].as_str(),
            Some("end_turn" | "stop_sequence")
        ),
        "{reply}"
    );
}

#[tokio::test]
async fn tool_definitions_and_a_tool_use_reply() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "tools": anthropic_tools(),
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let (reply, sent) = exchange(&gateway, &body).await;

    let tools = sent["tools"].as_array().expect("tools upstream");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "get_weather");
    assert_eq!(tools[0]["function"]["description"], "Weather for a city.");
    assert_eq!(
        tools[0]["function"]["parameters"],
        anthropic_tools()[0]["input_schema"]
    );
    assert_eq!(tools[1]["function"]["name"], "get_time");

    let reply = reply.json();
    assert_eq!(reply["stop_reason"], "tool_use");
    let uses: Vec<&Value> = reply["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .collect();
    assert_eq!(uses.len(), 1, "{reply}");
    assert_eq!(
        reply["content"][0]["type"], "text",
        "the text comes before the call: {reply}"
    );
    assert_eq!(text_blocks(&reply), "Calling get_weather.");
    assert!(
        uses[0]["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{reply}"
    );
    assert_eq!(uses[0]["name"], "get_weather");
    assert_eq!(uses[0]["input"], weather_arguments());
}

#[tokio::test]
async fn tool_choice_maps_to_openai_forms() {
    let gateway = Gateway::start().await;
    let cases = [
        (json!({"type": "any"}), json!("required")),
        (
            json!({"type": "tool", "name": "get_time"}),
            json!({"type": "function", "function": {"name": "get_time"}}),
        ),
        (json!({"type": "none"}), json!("none")),
    ];
    for (choice, expected) in cases {
        gateway.mock.clear();
        let body = json!({"max_tokens": 100, "tools": anthropic_tools(), "tool_choice": choice,
            "messages": [{"role": "user", "content": "go"}]});
        let (_, sent) = exchange(&gateway, &body).await;
        assert_eq!(sent["tool_choice"], expected, "for {choice}: {sent}");
    }
    gateway.mock.clear();
    let body = json!({"max_tokens": 100, "tools": anthropic_tools(),
        "tool_choice": {"type": "tool", "name": "get_time"},
        "messages": [{"role": "user", "content": "time?"}]});
    let (reply, _) = exchange(&gateway, &body).await;
    let reply = reply.json();
    let call = reply["content"]
        .as_array()
        .and_then(|c| c.iter().find(|b| b["type"] == "tool_use"))
        .unwrap_or_else(|| panic!("no tool_use: {reply}"));
    assert_eq!(call["name"], "get_time");
    assert_eq!(call["input"], time_arguments());
}

#[tokio::test]
async fn parallel_tool_use_and_its_opt_out() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "tools": anthropic_tools(),
        "messages": [{"role": "user", "content": "both in parallel please"}]});
    let (reply, _) = exchange(&gateway, &body).await;
    let reply = reply.json();
    let uses: Vec<&Value> = reply["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .collect();
    let names: Vec<&str> = uses.iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["get_weather", "get_time"]);
    assert_ne!(uses[0]["id"], uses[1]["id"]);

    gateway.mock.clear();
    let body = json!({"max_tokens": 100, "tools": anthropic_tools(),
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [{"role": "user", "content": "both in parallel please"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    assert_eq!(sent["parallel_tool_calls"], false, "{sent}");
    let reply = reply.json();
    let uses = reply["content"]
        .as_array()
        .map(|c| c.iter().filter(|b| b["type"] == "tool_use").count());
    assert_eq!(uses, Some(1), "{reply}");
}

#[tokio::test]
async fn tool_results_become_tool_messages() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "tools": anthropic_tools(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_abc", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_abc", "content": "18C and sunny"}]}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    let messages = sent["messages"].as_array().expect("messages");
    let assistant = messages
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap_or_else(|| panic!("no assistant turn: {sent}"));
    let call = &assistant["tool_calls"][0];
    assert_eq!(call["id"], "toolu_abc");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(parsed_arguments(call), json!({"city": "Paris"}));
    assert_eq!(text_of(&assistant["content"]), "Let me look.");
    let last = messages.last().expect("messages");
    assert_eq!(last["role"], "tool", "{sent}");
    assert_eq!(last["tool_call_id"], "toolu_abc");
    assert_eq!(text_of(&last["content"]), "18C and sunny");
    let reply = reply.json();
    assert_eq!(text_blocks(&reply), "Tool result received: 18C and sunny");
    assert_eq!(reply["stop_reason"], "end_turn");
}

#[tokio::test]
async fn base64_images_become_data_urls() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}},
        {"type": "text", "text": "what is this"}]}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    let parts = sent["messages"][0]["content"].as_array().expect("parts");
    let image = parts
        .iter()
        .find(|p| p["type"] == "image_url")
        .unwrap_or_else(|| panic!("no image_url part: {sent}"));
    assert_eq!(
        image["image_url"]["url"],
        format!("data:image/png;base64,{PNG_BASE64}")
    );
    assert_eq!(text_blocks(&reply.json()), "Echo: what is this");
}

#[tokio::test]
async fn fields_openai_cannot_express_are_dropped_and_named() {
    let gateway = Gateway::start().await;
    let body =
        json!({"max_tokens": 10, "top_k": 5, "messages": [{"role": "user", "content": "hi"}]});
    let (reply, sent) = exchange(&gateway, &body).await;
    assert_eq!(sent.get("top_k"), None);
    let dropped = reply.header("x-busbar-dropped").unwrap_or_default();
    assert!(
        dropped.contains("top_k"),
        "x-busbar-dropped `{dropped}` lacks top_k"
    );
}

#[tokio::test]
async fn input_tokens_exclude_the_cache() {
    let gateway = Gateway::start().await;
    let upstream = json!({"id": "chatcmpl-cache", "object": "chat.completion", "created": 1,
        "model": GPT_UPSTREAM,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "cached"},
                     "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 35, "completion_tokens": 7, "total_tokens": 42,
                  "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 5}}});
    gateway
        .mock
        .push_fault(Fault::Error(VendorError::raw(200, upstream.to_string())));
    let body = json!({"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (reply, _) = exchange(&gateway, &body).await;
    let reply = reply.json();
    assert_eq!(text_blocks(&reply), "cached");
    let usage = &reply["usage"];
    assert_eq!(usage["input_tokens"], 10, "{usage}");
    assert_eq!(usage["cache_read_input_tokens"], 20, "{usage}");
    assert_eq!(usage["cache_creation_input_tokens"], 5, "{usage}");
    assert_eq!(usage["output_tokens"], 7);
}
