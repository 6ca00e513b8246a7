//! What coding agents send, translated: Claude Code's mid-conversation
//! system messages reach an OpenAI upstream in place, and Codex's namespace
//! tools reach an Anthropic upstream as plain tools and come back to Codex
//! under their namespace; a reasoning signature goes back only to the
//! vendor that wrote it.

use serde_json::{json, Value};

use crate::support::{text_of, Gateway, Setup};

#[tokio::test]
async fn a_mid_conversation_system_message_stays_in_place() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "gpt", "max_tokens": 64,
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"},
    "messages": [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "Answer in French from now on."}]},
        {"role": "user", "content": "how are you"}
    ]});
    let reply = gateway.post_json("/v1/messages", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway.received_one().json().expect("JSON upstream body");
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "system", "user"]);
    assert_eq!(text_of(&sent["messages"][0]["content"]), "You are terse.");
    assert_eq!(
        text_of(&sent["messages"][3]["content"]),
        "Answer in French from now on."
    );
    assert_eq!(sent["reasoning_effort"], "low");
    let dropped = reply.header("x-busbar-dropped").unwrap_or_default();
    assert!(dropped.contains("cache_control"), "{dropped}");
    assert_eq!(reply.json()["content"][0]["type"], "text");
}

#[tokio::test]
async fn namespace_tools_cross_over_and_come_back_under_their_namespace() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "claude", "max_output_tokens": 64,
        "tools": [{"type": "namespace", "name": "agents", "description": "Sub-agents.",
                   "tools": [{"type": "function", "name": "spawn", "description": "Spawn one.",
                              "parameters": {"type": "object", "properties": {"task": {"type": "string"}},
                                             "required": ["task"]}}]}],
        "input": [{"role": "user", "content": "delegate this"}]});
    let reply = gateway.post_json("/v1/responses", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway.received_one().json().expect("JSON upstream body");
    assert_eq!(sent["tools"][0]["name"], "agents__spawn");
    let reply: Value = reply.json();
    let call = reply["output"]
        .as_array()
        .expect("output")
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap_or_else(|| panic!("a call: {reply}"));
    assert_eq!(call["namespace"], "agents");
    assert_eq!(call["name"], "spawn");

    // The next turn sends the call back under its namespace; it reaches the
    // upstream joined again, next to its result.
    let call_id = call["call_id"].as_str().expect("call_id").to_owned();
    let mut next = body.clone();
    next["input"] = json!([
        {"role": "user", "content": "delegate this"},
        {"type": "function_call", "call_id": call_id, "namespace": "agents", "name": "spawn",
         "arguments": "{\"task\":\"x\"}"},
        {"type": "function_call_output", "call_id": call_id, "output": "spawned"}
    ]);
    let reply = gateway.post_json("/v1/responses", &next).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let received = gateway.received();
    assert_eq!(received.len(), 2);
    let sent = received[1].json().expect("JSON upstream body");
    let tool_use = &sent["messages"][1]["content"][0];
    assert_eq!(tool_use["type"], "tool_use");
    assert_eq!(tool_use["name"], "agents__spawn");
}

/// A Bedrock lane and a Gemini lane, for signatures crossing vendors.
const SIGNATURE_MODELS: &str = "
  gem:
    provider: mock-gemini
    max_concurrent: 8
  rock:
    provider: mock-bedrock
    max_concurrent: 8
    upstream_model: rock.up-v1:0
";

#[tokio::test]
async fn a_signature_goes_back_only_to_the_vendor_that_wrote_it() {
    let gateway = Setup::new()
        .every_protocol()
        .models(SIGNATURE_MODELS)
        .start()
        .await;
    let first = json!({"model": "rock", "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "messages": [{"role": "user", "content": "think first"}]});
    let reply = gateway.post_json("/v1/messages", &first).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = reply.json();
    let thinking = reply["content"]
        .as_array()
        .expect("content")
        .iter()
        .find(|block| block["type"] == "thinking")
        .unwrap_or_else(|| panic!("a thinking block: {reply}"))
        .clone();
    let signature = thinking["signature"].as_str().expect("signature");
    let raw = signature
        .strip_prefix("bedrock:")
        .unwrap_or_else(|| panic!("marked with its origin: {signature}"));

    let next = |model: &str| {
        json!({"model": model, "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "messages": [
            {"role": "user", "content": "think first"},
            {"role": "assistant", "content": [thinking.clone(), {"type": "text", "text": "done"}]},
            {"role": "user", "content": "again"}
        ]})
    };
    // Back to Bedrock: the signature as Bedrock wrote it.
    let reply = gateway.post_json("/v1/messages", &next("rock")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway
        .received()
        .pop()
        .expect("a request")
        .json()
        .expect("JSON");
    let body = sent.to_string();
    assert!(body.contains(&format!(r#""signature":"{raw}""#)), "{body}");
    assert!(!body.contains("bedrock:"), "{body}");

    // To Gemini: Bedrock's signature would be refused, so it stays behind.
    let reply = gateway.post_json("/v1/messages", &next("gem")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway
        .received()
        .pop()
        .expect("a request")
        .json()
        .expect("JSON");
    let body = sent.to_string();
    assert!(!body.contains(raw), "{body}");
}

#[tokio::test]
async fn a_marked_signature_is_not_relayed_to_the_clients_own_protocol() {
    let gateway = Gateway::start().await;
    // A signature Busbar marked as Bedrock's, now sent to an Anthropic lane:
    // relaying it would have Anthropic refuse the turn.
    let body = json!({"model": "claude", "max_tokens": 4000,
    "thinking": {"type": "enabled", "budget_tokens": 2000},
    "messages": [
        {"role": "user", "content": "think first"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "bedrock:EqQB"},
            {"type": "text", "text": "done"}]},
        {"role": "user", "content": "again"}
    ]});
    let reply = gateway.post_json("/v1/messages", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway.received_one().json().expect("JSON upstream body");
    assert!(!sent.to_string().contains("EqQB"), "{sent}");
    assert_eq!(sent["messages"][1]["content"][0]["type"], "text");
    let dropped = reply.header("x-busbar-dropped").unwrap_or_default();
    assert!(dropped.contains("thinking"), "{dropped}");
}
