//! Claude through Bedrock's InvokeModel, both sides: `POST /model/ID/invoke`
//! and `/invoke-with-response-stream` answered by a lane of every protocol,
//! and every protocol's clients answered by an InvokeModel lane, streamed and
//! not, with a tool turn. The stream is AWS event-stream `chunk` frames
//! carrying base64 Anthropic events; upstream requests are SigV4-signed and
//! carry the envelope (no `model` or `stream`, an `anthropic_version`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{
    anthropic_tools, openai_stream_text, openai_tools, text_of, weather_arguments, Gateway, Setup,
    StreamReply,
};

/// The Bedrock id of the InvokeModel lane's model.
const CLAUDE_ON_BEDROCK: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// One lane of each protocol, and the InvokeModel lane.
const MODELS: &str = "
  gpt:
    provider: mock-openai
    max_concurrent: 8
  claude:
    provider: mock-anthropic
    max_concurrent: 8
  resp:
    provider: mock-responses
    max_concurrent: 8
  gem:
    provider: mock-gemini
    max_concurrent: 8
  coh:
    provider: mock-cohere
    max_concurrent: 8
  rock:
    provider: mock-bedrock
    max_concurrent: 8
    upstream_model: anthropic.claude-3-5-haiku-v1:0
  inv:
    provider: mock-invoke
    max_concurrent: 8
    upstream_model: us.anthropic.claude-sonnet-4-5-20250929-v1:0
";

/// The lanes an InvokeModel client is answered by: every protocol.
const EGRESS: [&str; 7] = ["gpt", "claude", "resp", "gem", "coh", "rock", "inv"];

async fn gateway() -> Gateway {
    Setup::new().every_protocol().models(MODELS).start().await
}

/// An InvokeModel body as the Anthropic SDK's Bedrock client sends it.
fn invoke_body(text: &str) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
           "messages": [{"role": "user", "content": text}]})
}

/// The Anthropic stream events inside an InvokeModelWithResponseStream
/// reply, each frame checked to be a `chunk` (or an exception, returned as
/// `{"exception": TYPE, ...payload}`).
fn chunks(reply: &StreamReply) -> Vec<Value> {
    let mut events = Vec::new();
    let mut rest = &reply.body[..];
    while !rest.is_empty() {
        assert!(rest.len() >= 16, "a torn frame: {:?}", rest);
        let total = u32::from_be_bytes(rest[0..4].try_into().unwrap()) as usize;
        let headers_len = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
        let (frame, tail) = rest.split_at(total);
        rest = tail;
        let mut headers = std::collections::HashMap::new();
        let mut at = 12;
        while at < 12 + headers_len {
            let name_len = frame[at] as usize;
            let name = String::from_utf8_lossy(&frame[at + 1..at + 1 + name_len]).into_owned();
            at += 1 + name_len;
            assert_eq!(frame[at], 7, "string headers only");
            let value_len = u16::from_be_bytes([frame[at + 1], frame[at + 2]]) as usize;
            let value = String::from_utf8_lossy(&frame[at + 3..at + 3 + value_len]).into_owned();
            at += 3 + value_len;
            headers.insert(name, value);
        }
        let payload: Value = serde_json::from_slice(&frame[12 + headers_len..total - 4]).unwrap();
        if headers.get(":message-type").map(String::as_str) == Some("exception") {
            let mut error = payload;
            error["exception"] = json!(headers[":exception-type"]);
            events.push(error);
            continue;
        }
        assert_eq!(headers[":event-type"], "chunk");
        let bytes = STANDARD.decode(payload["bytes"].as_str().unwrap()).unwrap();
        events.push(serde_json::from_slice(&bytes).unwrap());
    }
    events
}

/// The text deltas of Anthropic stream events.
fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|event| event["delta"]["text"].as_str())
        .collect()
}

#[tokio::test]
async fn invoke_clients_are_answered_by_every_protocol() {
    let gateway = gateway().await;
    for lane in EGRESS {
        let reply = gateway
            .post_json(
                &format!("/model/{lane}/invoke"),
                &invoke_body("hello busbar"),
            )
            .await;
        assert_eq!(reply.status, 200, "{lane}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["type"], "message", "{lane}: {body}");
        assert_eq!(body["role"], "assistant");
        assert_eq!(text_of(&body["content"]), "Echo: hello busbar", "{lane}");
        assert_eq!(body["stop_reason"], "end_turn", "{lane}");
        assert!(
            body["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{lane}"
        );
        assert_eq!(reply.header("x-busbar-model"), Some(lane));
    }
}

#[tokio::test]
async fn invoke_streams_are_chunk_frames_from_every_protocol() {
    let gateway = gateway().await;
    for lane in EGRESS {
        let reply = gateway
            .stream(
                &format!("/model/{lane}/invoke-with-response-stream"),
                &invoke_body("one two three"),
            )
            .await;
        assert_eq!(reply.status, 200, "{lane}: {}", reply.text());
        assert_eq!(
            reply.header("content-type"),
            Some("application/vnd.amazon.eventstream"),
            "{lane}"
        );
        let events = chunks(&reply);
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(kinds.first(), Some(&"message_start"), "{lane}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"message_stop"), "{lane}: {kinds:?}");
        assert_eq!(streamed_text(&events), "Echo: one two three", "{lane}");
    }
}

#[tokio::test]
async fn a_tool_turn_through_invoke_ingress_on_every_protocol() {
    let gateway = gateway().await;
    for lane in EGRESS {
        let mut body = invoke_body("weather please");
        body["tools"] = anthropic_tools();
        let reply = gateway
            .post_json(&format!("/model/{lane}/invoke"), &body)
            .await;
        assert_eq!(reply.status, 200, "{lane}: {}", reply.text());
        let message = reply.json();
        assert_eq!(message["stop_reason"], "tool_use", "{lane}: {message}");
        let call = message["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|block| block["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{lane}: no tool_use in {message}"))
            .clone();
        assert_eq!(call["name"], "get_weather", "{lane}");
        assert_eq!(call["input"], weather_arguments(), "{lane}");

        // The result goes back, streamed this time.
        body["messages"] = json!([
            {"role": "user", "content": "weather please"},
            {"role": "assistant", "content": message["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                          "content": "sunny"}]},
        ]);
        let reply = gateway
            .stream(&format!("/model/{lane}/invoke-with-response-stream"), &body)
            .await;
        let events = chunks(&reply);
        assert_eq!(
            streamed_text(&events),
            "Tool result received: sunny",
            "{lane}: {events:?}"
        );
    }
}

#[tokio::test]
async fn a_streamed_tool_call_arrives_as_input_json_deltas() {
    let gateway = gateway().await;
    for lane in ["gpt", "gem", "rock", "inv"] {
        let mut body = invoke_body("weather please");
        body["tools"] = anthropic_tools();
        let reply = gateway
            .stream(&format!("/model/{lane}/invoke-with-response-stream"), &body)
            .await;
        let events = chunks(&reply);
        let start = events
            .iter()
            .find(|e| e["content_block"]["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{lane}: no tool_use block: {events:?}"));
        assert_eq!(start["content_block"]["name"], "get_weather");
        let arguments: String = events
            .iter()
            .filter_map(|e| e["delta"]["partial_json"].as_str())
            .collect();
        let arguments: Value = serde_json::from_str(&arguments).unwrap();
        assert_eq!(arguments, weather_arguments(), "{lane}");
    }
}

#[tokio::test]
async fn every_ingress_reaches_an_invoke_lane_in_its_envelope() {
    let gateway = gateway().await;
    let prompt = "hello invoke";
    let requests = [
        (
            "/v1/chat/completions",
            json!({"model": "inv", "messages": [{"role": "user", "content": prompt}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "inv", "max_tokens": 100,
                   "messages": [{"role": "user", "content": prompt}]}),
        ),
        ("/v1/responses", json!({"model": "inv", "input": prompt})),
        (
            "/v1beta/models/inv:generateContent",
            json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]}),
        ),
        (
            "/v2/chat",
            json!({"model": "inv", "messages": [{"role": "user", "content": prompt}]}),
        ),
        (
            "/model/inv/converse",
            json!({"messages": [{"role": "user", "content": [{"text": prompt}]}]}),
        ),
    ];
    for (path, body) in requests {
        let reply = gateway.post_json(path, &body).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert!(
            reply.text().contains("Echo: hello invoke"),
            "{path}: {}",
            reply.text()
        );
    }
    let received = gateway.received();
    assert_eq!(received.len(), 6);
    for request in &received {
        assert_eq!(
            request.path,
            format!("/model/{}/invoke", CLAUDE_ON_BEDROCK.replace(':', "%3A"))
        );
        let sent = request.json().unwrap();
        assert!(
            sent.get("model").is_none() && sent.get("stream").is_none(),
            "{sent}"
        );
        assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
        let authorization = request.header("authorization").unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=")
                && authorization.contains("/bedrock/aws4_request"),
            "{authorization}"
        );
    }
}

#[tokio::test]
async fn streams_and_tool_calls_from_an_invoke_lane_reach_other_protocols() {
    let gateway = gateway().await;
    // OpenAI Chat, streamed.
    let reply = gateway
        .stream(
            "/v1/chat/completions",
            &json!({"model": "inv", "stream": true,
                    "messages": [{"role": "user", "content": "a b c"}]}),
        )
        .await;
    assert_eq!(openai_stream_text(&reply), "Echo: a b c");
    assert!(gateway.received()[0]
        .path
        .ends_with("/invoke-with-response-stream"));
    // OpenAI Chat, a tool call.
    let reply = gateway
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "inv", "tools": openai_tools(),
                    "messages": [{"role": "user", "content": "weather"}]}),
        )
        .await;
    let call = &reply.json()["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather", "{}", reply.text());
    // Gemini, streamed.
    let reply = gateway
        .stream(
            "/v1beta/models/inv:streamGenerateContent?alt=sse",
            &json!({"contents": [{"role": "user", "parts": [{"text": "x y"}]}]}),
        )
        .await;
    let text: String = reply
        .data()
        .iter()
        .filter_map(|d| {
            d["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Echo: x y");
}

#[tokio::test]
async fn invoke_to_invoke_is_relayed_with_the_clients_envelope() {
    let gateway = gateway().await;
    let mut body = invoke_body("relay me");
    body["anthropic_version"] = json!("2026-10-21");
    body["anthropic_beta"] = json!(["context-1m-2025-08-07"]);
    body["max_tokens"] = json!(50);
    let reply = gateway.post_json("/model/inv/invoke", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway.received_one();
    assert_eq!(sent.json().unwrap(), body, "the body goes as it came");
    let reply = gateway
        .stream("/model/inv/invoke-with-response-stream", &body)
        .await;
    assert_eq!(streamed_text(&chunks(&reply)), "Echo: relay me");
}

#[tokio::test]
async fn errors_speak_bedrock() {
    let gateway = gateway().await;
    // A body the decoder refuses, on a translated hop.
    let reply = gateway
        .post_json(
            "/model/gpt/invoke",
            &json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                    "messages": [{"role": "robot", "content": "x"}]}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply
        .header("x-amzn-errortype")
        .is_some_and(|name| name.starts_with("ValidationException")));
    assert!(reply.json()["message"].is_string(), "{}", reply.text());
    // An unknown model.
    let reply = gateway
        .post_json("/model/nope/invoke", &invoke_body("x"))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(reply.json()["message"].is_string(), "{}", reply.text());
    // The upstream refuses a body without `max_tokens` in Bedrock's words,
    // which reach the client as they came.
    let reply = gateway
        .post_json(
            "/model/inv/invoke",
            &json!({"anthropic_version": "bedrock-2023-05-31",
                    "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply
        .header("x-amzn-errortype")
        .is_some_and(|name| name.starts_with("ValidationException")));
}

/// An upstream that checks SigV4 as AWS does accepts the InvokeModel lane's
/// signature over the percent-encoded Bedrock id, streamed and not; a wrong
/// secret is refused, and the refusal reaches an InvokeModel client as
/// Bedrock said it.
#[tokio::test]
async fn the_upstream_verifies_the_lanes_sigv4_signature() {
    let gateway = Setup::new()
        .every_protocol()
        .models(MODELS)
        .mock(
            busbar_testkit::MockOptions::default()
                .aws_credentials("AKIDE2EEXAMPLE", "e2e-secret-access-key"),
        )
        .start()
        .await;
    let reply = gateway
        .post_json(
            "/v1/messages",
            &json!({"model": "inv", "max_tokens": 50,
                    "messages": [{"role": "user", "content": "signed"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = gateway
        .stream(
            "/model/inv/invoke-with-response-stream",
            &invoke_body("signed"),
        )
        .await;
    assert_eq!(streamed_text(&chunks(&reply)), "Echo: signed");

    let refusing = Setup::new()
        .every_protocol()
        .models(MODELS)
        .mock(busbar_testkit::MockOptions::default().aws_credentials("AKIDE2EEXAMPLE", "another"))
        .start()
        .await;
    let reply = refusing
        .post_json("/model/inv/invoke", &invoke_body("signed"))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply.text().contains("signature"), "{}", reply.text());
}

/// A token count for an InvokeModel lane is asked of Bedrock's CountTokens,
/// the InvokeModel body inside as a base64 `invokeModel` blob.
#[tokio::test]
async fn counts_for_an_invoke_lane_go_to_count_tokens() {
    let gateway = gateway().await;
    let reply = gateway
        .post_json(
            "/v1/messages/count_tokens",
            &json!({"model": "inv", "messages": [{"role": "user", "content": "one two three"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-token-count"), Some("upstream"));
    assert_eq!(reply.json()["input_tokens"], 3, "{}", reply.text());
    let sent = gateway.received_one();
    assert_eq!(
        sent.path,
        format!(
            "/model/{}/count-tokens",
            CLAUDE_ON_BEDROCK.replace(':', "%3A")
        )
    );
    let blob = sent.json().unwrap()["input"]["invokeModel"]["body"]
        .as_str()
        .map(str::to_owned)
        .expect("an invokeModel input");
    let body: Value = serde_json::from_slice(&STANDARD.decode(blob).unwrap()).unwrap();
    assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
    assert!(body.get("model").is_none(), "{body}");
}

/// An Anthropic client's request reaches an InvokeModel lane as it came, in
/// the envelope: its betas (header) as `anthropic_beta`, and the Messages
/// fields the IR lacks kept. With a reasoning signature in it, it is
/// translated instead, and what the IR lacks is named dropped.
#[tokio::test]
async fn anthropic_clients_keep_their_betas_and_fields_on_an_invoke_lane() {
    let gateway = gateway().await;
    let body = json!({"model": "inv", "max_tokens": 50, "stream": false,
                      "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
                      "messages": [{"role": "user", "content": "beta please"}]});
    let reply = gateway
        .post(
            "/v1/messages",
            body.to_string(),
            &[
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
                ("anthropic-beta", "context-management-2025-06-27"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(text_of(&reply.json()["content"]), "Echo: beta please");
    assert_eq!(reply.header("x-busbar-dropped"), None);
    let sent = gateway.received_one().json().unwrap();
    assert_eq!(
        sent["anthropic_beta"],
        json!(["context-management-2025-06-27"])
    );
    assert_eq!(sent["context_management"], body["context_management"]);
    assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
    assert!(
        sent.get("model").is_none() && sent.get("stream").is_none(),
        "{sent}"
    );

    let signed = json!({"model": "inv", "max_tokens": 50,
        "context_management": {"edits": []},
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "EqQBCkgIBxAB"},
                {"type": "text", "text": "a"}]},
            {"role": "user", "content": "again"}]});
    let reply = gateway.post_json("/v1/messages", &signed).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply
            .header("x-busbar-dropped")
            .is_some_and(|names| names.contains("context_management")),
        "{:?}",
        reply.header("x-busbar-dropped")
    );
}
