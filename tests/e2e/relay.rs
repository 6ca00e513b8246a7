//! Same protocol in and out: the request body goes upstream untouched but
//! the model name, and the reply comes back byte for byte.

use busbar_testkit::{Fault, VendorError};
use serde_json::{json, Value};

use crate::support::{Gateway, Setup, ANTHROPIC_KEY, CLAUDE_UPSTREAM, GPT_UPSTREAM, OPENAI_KEY};

/// A compact OpenAI body with values a re-serializer would change: an
/// escaped character, a number with a trailing zero, an exponent, fields
/// Busbar does not model (OpenAI, like the mock, refuses unknown ones).
const OPENAI_BODY: &str = r#"{"model":"gpt","messages":[{"role":"user","content":"caf\u00e9  au lait"}],"temperature":0.70,"frequency_penalty":1e-1,"seed":7,"user":"u-1","metadata":{"k":"v"},"prediction":{"type":"content","content":"caf\u00e9"},"verbosity":"low"}"#;

#[tokio::test]
async fn openai_body_reaches_the_upstream_untouched_but_the_model() {
    let gateway = Gateway::start().await;
    let reply = gateway.post("/v1/chat/completions", OPENAI_BODY, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let upstream = gateway.received_one();
    assert_eq!(upstream.path, "/v1/chat/completions");
    let expected = OPENAI_BODY.replace(r#""model":"gpt""#, &format!(r#""model":"{GPT_UPSTREAM}""#));
    assert_eq!(String::from_utf8_lossy(&upstream.body), expected);
    assert_eq!(
        upstream.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(upstream.header("x-api-key"), None);
    assert_eq!(upstream.header("anthropic-version"), None);

    let reply = reply.json();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(
        reply["model"], GPT_UPSTREAM,
        "a relayed reply keeps the upstream's model"
    );
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Echo: café  au lait"
    );
    assert_eq!(reply["system_fingerprint"], "fp_mock");
}

#[tokio::test]
async fn a_model_without_upstream_model_goes_upstream_under_its_own_name() {
    let gateway = Gateway::start().await;
    let body = r#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-direct","n":1}"#;
    let reply = gateway.post("/v1/chat/completions", body, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(String::from_utf8_lossy(&gateway.received_one().body), body);
}

#[tokio::test]
async fn same_protocol_requests_get_no_default_max_tokens() {
    let gateway = Gateway::start().await;
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "no limit"}]});
    let reply = gateway.post_json("/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = gateway.received_one().json().expect("JSON upstream body");
    assert_eq!(upstream.get("max_tokens"), None, "{upstream}");
    assert_eq!(upstream.get("max_completion_tokens"), None, "{upstream}");
}

#[tokio::test]
async fn openai_reply_is_returned_byte_for_byte() {
    let gateway = Gateway::start().await;
    // Pretty-printed, odd key order, an unknown field: anything re-encoded would differ.
    let upstream_reply = "{\n  \"object\": \"chat.completion\",\n  \"id\": \"chatcmpl-raw\",\n  \"x_extra\": {\"kept\": true},\n  \"created\": 1,\n  \"model\": \"gpt-4o-mini\",\n  \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"caf\\u00e9\"}, \"finish_reason\": \"stop\", \"logprobs\": null}],\n  \"usage\": {\"prompt_tokens\": 1, \"completion_tokens\": 1, \"total_tokens\": 2}\n}\n";
    gateway
        .mock
        .push_fault(Fault::Error(VendorError::raw(200, upstream_reply)));
    let reply = gateway.post("/v1/chat/completions", OPENAI_BODY, &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), upstream_reply);
    assert_eq!(reply.header("x-busbar-model"), Some("gpt"));
}

#[tokio::test]
async fn anthropic_reply_is_returned_byte_for_byte() {
    let gateway = Gateway::start().await;
    let upstream_reply = "{\"type\":\"message\",  \"id\":\"msg_raw\",\"role\":\"assistant\",\"model\":\"claude-3-5-haiku\",\"content\":[{\"type\":\"text\",\"text\":\"caf\\u00e9\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1},\"x_extra\":1.50}";
    gateway
        .mock
        .push_fault(Fault::Error(VendorError::raw(200, upstream_reply)));
    let body = json!({"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let reply = gateway.post_json("/claude/v1/messages", &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), upstream_reply);
}

#[tokio::test]
async fn anthropic_model_from_the_path_is_added_to_the_body() {
    let gateway = Gateway::start().await;
    let members = [
        r#""max_tokens":64"#,
        r#""messages":[{"role":"user","content":[{"type":"text","text":"hello  there"}]}]"#,
        r#""temperature":0.250"#,
        r#""metadata":{"user_id":"u\u002d1"}"#,
    ];
    let body = format!("{{{}}}", members.join(","));
    let reply = gateway.post("/claude/v1/messages", body.clone(), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let upstream = gateway.received_one();
    assert_eq!(upstream.path, "/v1/messages");
    let sent: Value = upstream.json().expect("JSON upstream body");
    let mut expected: Value = serde_json::from_str(&body).expect("valid test body");
    expected["model"] = json!(CLAUDE_UPSTREAM);
    assert_eq!(sent, expected);
    let raw = String::from_utf8_lossy(&upstream.body);
    for member in members {
        assert!(raw.contains(member), "`{member}` was rewritten: {raw}");
    }
    assert_eq!(upstream.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(upstream.header("authorization"), None);
    assert_eq!(upstream.header("anthropic-version"), Some("2023-06-01"));

    let reply = reply.json();
    assert_eq!(reply["type"], "message");
    assert_eq!(reply["content"][0]["text"], "Echo: hello  there");
    assert_eq!(reply["model"], CLAUDE_UPSTREAM);
}

#[tokio::test]
async fn anthropic_body_model_routes_on_the_bare_messages_path() {
    let gateway = Gateway::start().await;
    let body = r#"{"max_tokens":8,"model":"claude","messages":[{"role":"user","content":"hi"}]}"#;
    let reply = gateway.post("/v1/messages", body, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let expected = body.replace(
        r#""model":"claude""#,
        &format!(r#""model":"{CLAUDE_UPSTREAM}""#),
    );
    assert_eq!(
        String::from_utf8_lossy(&gateway.received_one().body),
        expected
    );
    assert_eq!(reply.header("x-busbar-model"), Some("claude"));
}

#[tokio::test]
async fn anthropic_version_and_beta_headers_of_the_client_pass_through() {
    let gateway = Gateway::start().await;
    let body = json!({"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let headers = [
        ("anthropic-version", "2026-10-21"),
        ("anthropic-beta", "prompt-caching-2024-07-31"),
    ];
    let reply = gateway
        .post("/claude/v1/messages", body.to_string(), &headers)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let upstream = gateway.received_one();
    assert_eq!(upstream.header("anthropic-version"), Some("2026-10-21"));
    assert_eq!(
        upstream.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
}

#[tokio::test]
async fn client_credentials_are_never_forwarded_upstream() {
    let gateway = Gateway::start().await;
    let secret = [
        ("authorization", "Bearer client-secret"),
        ("x-api-key", "client-secret"),
    ];
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    let reply = gateway
        .post("/v1/chat/completions", body.to_string(), &secret)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = json!({"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let reply = gateway
        .post("/claude/v1/messages", body.to_string(), &secret)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let received = gateway.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(received[0].header("x-api-key"), None);
    assert_eq!(received[1].header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(received[1].header("authorization"), None);
}

#[tokio::test]
async fn a_base_url_path_prefix_is_kept() {
    let gateway = Setup::new().base_url_prefix("/team-a/api").start().await;
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        gateway
            .post_json("/v1/chat/completions", &body)
            .await
            .status,
        200
    );
    let body = json!({"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        gateway.post_json("/claude/v1/messages", &body).await.status,
        200
    );
    let paths: Vec<String> = gateway.received().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/team-a/api/v1/chat/completions", "/team-a/api/v1/messages"]
    );
}

#[tokio::test]
async fn model_names_with_slashes_and_colons_route_from_the_path() {
    let models = "
  anthropic.claude-3-5-sonnet-20240620-v1:0:
    provider: mock-anthropic
    max_concurrent: 2
  meta-llama/Llama-3.3-70B:
    provider: mock-openai
    max_concurrent: 2
";
    let gateway = Setup::new().models(models).start().await;
    let body = json!({"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let paths = [
        (
            "/anthropic.claude-3-5-sonnet-20240620-v1%3A0/v1/messages",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            "/anthropic.claude-3-5-sonnet-20240620-v1:0/v1/messages",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            "/meta-llama/Llama-3.3-70B/v1/messages",
            "meta-llama/Llama-3.3-70B",
        ),
        (
            "/meta-llama%2FLlama-3.3-70B/v1/messages",
            "meta-llama/Llama-3.3-70B",
        ),
    ];
    for (path, model) in paths {
        gateway.mock.clear();
        let reply = gateway.post_json(path, &body).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(
            gateway.received_one().model().as_deref(),
            Some(model),
            "{path}"
        );
    }
}
