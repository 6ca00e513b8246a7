//! Clients that speak the clouds' paths: Claude and Gemini at Vertex AI's
//! publisher-model paths, OpenAI Chat and Responses at Azure OpenAI's
//! deployment and v1 paths, each served by lanes of several protocols,
//! streamed and not, with the model named by the path.

use serde_json::{json, Value};

use crate::support::{
    anthropic_error, anthropic_stream_text, openai_error, openai_stream_text, text_of, Gateway,
    Setup, StreamReply, CLAUDE_UPSTREAM,
};

/// A lane of every protocol; `claude-sonnet-4-5@20250929` is a Vertex
/// model id used as a Busbar model name.
const MODELS: &str = "
  claude-sonnet-4-5@20250929:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
  claude:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
  gpt:
    provider: mock-openai
    max_concurrent: 8
    upstream_model: gpt-4o-mini
  gem:
    provider: mock-gemini
    max_concurrent: 8
    upstream_model: gemini-up
  resp:
    provider: mock-responses
    max_concurrent: 8
    upstream_model: resp-up
  rock:
    provider: mock-bedrock
    max_concurrent: 8
    upstream_model: rock.up-v1:0
  cohere:
    provider: mock-cohere
    max_concurrent: 8
    upstream_model: command-up
";

/// Every lane but the Vertex-named one.
const LANES: [&str; 6] = ["claude", "gpt", "gem", "resp", "rock", "cohere"];

const VERTEX_CLAUDE: &str =
    "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models";
const VERTEX_GEMINI: &str =
    "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models";

async fn gateway() -> Gateway {
    Setup::new().every_protocol().models(MODELS).start().await
}

/// What `AnthropicVertex` sends: no `model`, its own `anthropic_version`.
fn vertex_claude_body(text: &str, stream: bool) -> Value {
    json!({"anthropic_version": "2026-10-21", "max_tokens": 64, "stream": stream,
           "messages": [{"role": "user", "content": text}]})
}

fn gemini_body(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// The text of a Gemini stream's chunks.
fn gemini_stream_text(reply: &StreamReply) -> String {
    reply
        .data()
        .iter()
        .filter_map(|chunk| chunk["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect()
}

/// The text of a Responses stream's `output_text.delta` events.
fn responses_stream_text(reply: &StreamReply) -> String {
    reply
        .data()
        .iter()
        .filter(|event| event["type"] == "response.output_text.delta")
        .filter_map(|event| event["delta"].as_str())
        .collect()
}

#[tokio::test]
async fn vertex_claude_reaches_every_protocol_streamed_and_not() {
    let gateway = gateway().await;
    for lane in LANES {
        let path = format!("{VERTEX_CLAUDE}/{lane}:rawPredict");
        let reply = gateway
            .post_json(&path, &vertex_claude_body("hello vertex", false))
            .await;
        assert_eq!(reply.status, 200, "{lane}: {}", reply.text());
        assert_eq!(reply.header("x-busbar-model"), Some(lane));
        let body = reply.json();
        assert_eq!(body["type"], "message", "{lane}: {body}");
        assert_eq!(text_of(&body["content"]), "Echo: hello vertex", "{lane}");

        let path = format!("{VERTEX_CLAUDE}/{lane}:streamRawPredict");
        let streamed = gateway
            .stream(&path, &vertex_claude_body("streamed vertex", true))
            .await;
        assert_eq!(streamed.status, 200, "{lane}: {}", streamed.text());
        assert_eq!(
            anthropic_stream_text(&streamed),
            "Echo: streamed vertex",
            "{lane}"
        );
    }
}

#[tokio::test]
async fn vertex_claude_relayed_to_anthropic_loses_only_the_platforms_fields() {
    let gateway = gateway().await;
    // The `@` of a Vertex model id, literal or escaped.
    for name in ["claude-sonnet-4-5@20250929", "claude-sonnet-4-5%4020250929"] {
        gateway.mock.clear();
        let path = format!("{VERTEX_CLAUDE}/{name}:rawPredict");
        let reply = gateway
            .post(
                &path,
                vertex_claude_body("relayed", false).to_string(),
                &[("anthropic-beta", "context-1m-2025-08-07")],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(
            reply.header("x-busbar-model"),
            Some("claude-sonnet-4-5@20250929")
        );
        let sent = gateway.received_one();
        assert_eq!(sent.path, "/v1/messages");
        assert_eq!(
            sent.headers
                .get("anthropic-beta")
                .and_then(|v| v.to_str().ok()),
            Some("context-1m-2025-08-07")
        );
        let body: Value = serde_json::from_slice(&sent.body).expect("JSON");
        assert_eq!(body["model"], CLAUDE_UPSTREAM);
        assert!(body.get("anthropic_version").is_none(), "{body}");
        assert_eq!(body["max_tokens"], 64);
    }
}

#[tokio::test]
async fn vertex_claude_counts_tokens_with_the_model_in_the_body() {
    let gateway = gateway().await;
    for (lane, source) in [
        ("claude", "upstream"),
        ("gem", "upstream"),
        ("gpt", "estimate"),
    ] {
        gateway.mock.clear();
        let body = json!({"anthropic_version": "vertex-2023-10-16", "model": lane,
                          "messages": [{"role": "user", "content": "one two three"}]});
        let path = format!("{VERTEX_CLAUDE}/count-tokens:rawPredict");
        let reply = gateway.post_json(&path, &body).await;
        assert_eq!(reply.status, 200, "{lane}: {}", reply.text());
        assert_eq!(reply.header("x-busbar-token-count"), Some(source), "{lane}");
        assert!(reply.json()["input_tokens"].as_u64().is_some(), "{lane}");
        if lane == "claude" {
            let sent: Value = serde_json::from_slice(&gateway.received_one().body).expect("JSON");
            assert_eq!(sent["model"], CLAUDE_UPSTREAM);
            assert!(sent.get("anthropic_version").is_none(), "{sent}");
        }
    }
}

#[tokio::test]
async fn vertex_gemini_reaches_every_protocol_in_each_framing() {
    let gateway = gateway().await;
    for lane in LANES {
        for base in [
            VERTEX_GEMINI,
            "/v1/projects/p/locations/global/publishers/google/models",
            "/publishers/google/models",
        ] {
            let reply = gateway
                .post_json(
                    &format!("{base}/{lane}:generateContent"),
                    &gemini_body("hello gemini"),
                )
                .await;
            assert_eq!(reply.status, 200, "{lane} {base}: {}", reply.text());
            assert_eq!(
                reply.json()["candidates"][0]["content"]["parts"][0]["text"],
                "Echo: hello gemini",
                "{lane} {base}"
            );
        }
        let streamed = gateway
            .stream(
                &format!("{VERTEX_GEMINI}/{lane}:streamGenerateContent?alt=sse"),
                &gemini_body("streamed gemini"),
            )
            .await;
        assert_eq!(streamed.status, 200, "{lane}: {}", streamed.text());
        assert_eq!(
            gemini_stream_text(&streamed),
            "Echo: streamed gemini",
            "{lane}"
        );
        // Without `alt=sse`, one JSON array.
        let array = gateway
            .post_json(
                &format!("{VERTEX_GEMINI}/{lane}:streamGenerateContent"),
                &gemini_body("array"),
            )
            .await;
        assert_eq!(array.status, 200, "{lane}: {}", array.text());
        let chunks = array.json();
        let text: String = chunks
            .as_array()
            .expect("a JSON array")
            .iter()
            .filter_map(|chunk| chunk["candidates"][0]["content"]["parts"][0]["text"].as_str())
            .collect();
        assert_eq!(text, "Echo: array", "{lane}");
    }
    let count = gateway
        .post_json(
            &format!("{VERTEX_GEMINI}/gem:countTokens"),
            &gemini_body("one two three"),
        )
        .await;
    assert_eq!(count.status, 200, "{}", count.text());
    assert_eq!(count.json()["totalTokens"], 3);
}

#[tokio::test]
async fn azure_chat_names_the_model_by_deployment() {
    let gateway = gateway().await;
    for lane in LANES {
        // The deployments API: no `model` in the body needed.
        let path = format!("/openai/deployments/{lane}/chat/completions?api-version=2024-10-21");
        let body = json!({"messages": [{"role": "user", "content": "hello azure"}]});
        let reply = gateway
            .post(&path, body.to_string(), &[("api-key", "any")])
            .await;
        assert_eq!(reply.status, 200, "{lane}: {}", reply.text());
        assert_eq!(reply.header("x-busbar-model"), Some(lane));
        assert_eq!(
            reply.json()["choices"][0]["message"]["content"],
            "Echo: hello azure",
            "{lane}"
        );
        // The v1 API, streamed: the body names the model.
        let body = json!({"model": lane, "stream": true,
                          "messages": [{"role": "user", "content": "streamed azure"}]});
        let streamed = gateway.stream("/openai/v1/chat/completions", &body).await;
        assert_eq!(streamed.status, 200, "{lane}: {}", streamed.text());
        assert_eq!(
            openai_stream_text(&streamed),
            "Echo: streamed azure",
            "{lane}"
        );
    }
    // The deployment wins over a body's `model`, as Azure routes by it.
    gateway.mock.clear();
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": "x"}]});
    let reply = gateway
        .post_json("/openai/deployments/gpt/chat/completions", &body)
        .await;
    assert_eq!(reply.header("x-busbar-model"), Some("gpt"));
}

#[tokio::test]
async fn azure_responses_at_each_path() {
    let gateway = gateway().await;
    for lane in LANES {
        for path in [
            "/openai/responses?api-version=2025-04-01-preview".to_owned(),
            "/openai/v1/responses".to_owned(),
            format!("/openai/deployments/{lane}/responses?api-version=2025-04-01-preview"),
        ] {
            let body = json!({"model": lane, "input": "hello responses"});
            let reply = gateway.post_json(&path, &body).await;
            assert_eq!(reply.status, 200, "{lane} {path}: {}", reply.text());
            let output = reply.json();
            let text: String = output["output"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|item| item["content"].as_array().into_iter().flatten())
                .filter_map(|part| part["text"].as_str())
                .collect();
            assert_eq!(text, "Echo: hello responses", "{lane} {path}");
        }
        let body = json!({"model": lane, "input": "streamed responses", "stream": true});
        let streamed = gateway.stream("/openai/v1/responses", &body).await;
        assert_eq!(streamed.status, 200, "{lane}: {}", streamed.text());
        assert_eq!(
            responses_stream_text(&streamed),
            "Echo: streamed responses",
            "{lane}"
        );
    }
}

#[tokio::test]
async fn malformed_cloud_paths_are_404s_in_the_callers_shape() {
    let gateway = gateway().await;
    for path in [
        format!("{VERTEX_CLAUDE}/:rawPredict"),
        format!("{VERTEX_CLAUDE}/claude:rawPredict/"),
        format!("{VERTEX_CLAUDE}/claude:predict"),
        format!("{VERTEX_CLAUDE}/count-tokens:streamRawPredict"),
        "/v1/projects/p/publishers/anthropic/models/claude:rawPredict".to_owned(),
    ] {
        let reply = gateway
            .post_json(&path, &vertex_claude_body("x", false))
            .await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text());
        assert_eq!(anthropic_error(&reply)["type"], "not_found_error", "{path}");
    }
    for path in [
        format!("{VERTEX_GEMINI}/gem:embedContent"),
        format!("{VERTEX_GEMINI}/gem"),
        "/v1beta1/projects/p/locations/l/publishers/google/gem:generateContent".to_owned(),
    ] {
        let reply = gateway.post_json(&path, &gemini_body("x")).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["error"]["status"], "NOT_FOUND", "{path}: {body}");
    }
    let reply = gateway
        .post_json(
            "/openai/deployments//chat/completions",
            &json!({"messages": []}),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    openai_error(&reply);
    // A model that is not configured: the caller's shape, as on native paths.
    let reply = gateway
        .post_json(
            &format!("{VERTEX_CLAUDE}/nope:rawPredict"),
            &vertex_claude_body("x", false),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    anthropic_error(&reply);
    assert!(gateway.received().is_empty());
}

#[tokio::test]
async fn cloud_clients_present_busbar_tokens_in_their_own_carriers() {
    let gateway = Setup::new()
        .every_protocol()
        .models(MODELS)
        .extra("auth:\n  mode: token\n  client_tokens:\n    - tok-cloud\n")
        .start()
        .await;
    let vertex = format!("{VERTEX_CLAUDE}/gpt:rawPredict");
    let body = vertex_claude_body("authed", false).to_string();
    let reply = gateway
        .post(
            &vertex,
            body.clone(),
            &[("authorization", "Bearer tok-cloud")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = gateway
        .post(&vertex, body, &[("authorization", "Bearer wrong")])
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    anthropic_error(&reply);

    let azure = "/openai/deployments/claude/chat/completions?api-version=2024-10-21";
    let body = json!({"messages": [{"role": "user", "content": "authed"}]}).to_string();
    let reply = gateway
        .post(azure, body.clone(), &[("api-key", "tok-cloud")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = gateway.post(azure, body, &[("api-key", "wrong")]).await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    openai_error(&reply);

    let gemini = format!("{VERTEX_GEMINI}/claude:generateContent");
    let reply = gateway
        .post(
            &gemini,
            gemini_body("authed").to_string(),
            &[("authorization", "Bearer tok-cloud")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}
