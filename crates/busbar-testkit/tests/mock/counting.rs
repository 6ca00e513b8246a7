//! The token-counting endpoints (Anthropic `count_tokens`, Responses `input_tokens`, Gemini
//! `countTokens`, Bedrock `count-tokens`) and the prompt-cache rule of usage, each predicted from
//! the mock's word count.

use busbar_testkit::sse;
use serde_json::json;

use crate::support::{mock, post, post_signed, ANTHROPIC, GEMINI, OPENAI};

#[tokio::test]
async fn counts_follow_the_word_rule_in_each_vendors_shape() {
    let upstream = mock().await;
    let anthropic = json!({"model": "m", "system": "be brief",
                           "messages": [{"role": "user", "content": "count these words"}]});
    let answer = post(
        &upstream,
        "/v1/messages/count_tokens",
        ANTHROPIC,
        &anthropic,
    )
    .await;
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"input_tokens": 5}))
    );

    let responses = json!({"model": "m", "instructions": "be brief", "input": "count these words"});
    let answer = post(&upstream, "/v1/responses/input_tokens", OPENAI, &responses).await;
    assert_eq!(
        answer.json(),
        json!({"object": "response.input_tokens", "input_tokens": 5})
    );

    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "count these words"}]}]});
    let answer = post(&upstream, "/v1beta/models/g:countTokens", GEMINI, &gemini).await;
    assert_eq!(answer.json()["totalTokens"], 3);
    let whole = json!({"generateContentRequest": {"model": "models/g", "contents": gemini["contents"],
                       "systemInstruction": {"parts": [{"text": "be brief"}]}}});
    let answer = post(&upstream, "/v1beta/models/g:countTokens", GEMINI, &whole).await;
    assert_eq!(answer.json()["totalTokens"], 5);

    let bedrock = json!({"input": {"converse": {"system": [{"text": "be brief"}],
        "messages": [{"role": "user", "content": [{"text": "count these words"}]}]}}});
    let answer = post_signed(&upstream, "/model/m/count-tokens", &bedrock).await;
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"inputTokens": 5}))
    );

    let refused = post(
        &upstream,
        "/v1/messages/count_tokens",
        ANTHROPIC,
        &json!({"model": "m"}),
    )
    .await;
    assert_eq!(
        refused.json()["error"]["message"],
        "messages: Field required"
    );
}

#[tokio::test]
async fn cache_markers_write_first_and_read_after() {
    let upstream = mock().await;
    let mark = json!({"type": "ephemeral"});
    let request = json!({"model": "m", "max_tokens": 50,
        "system": [{"type": "text", "text": "a long stable prefix", "cache_control": mark}],
        "messages": [{"role": "user", "content": "hello there"}]});
    let first = post(&upstream, "/v1/messages", ANTHROPIC, &request)
        .await
        .json();
    assert_eq!(
        (
            &first["usage"]["input_tokens"],
            &first["usage"]["cache_creation_input_tokens"],
            &first["usage"]["cache_read_input_tokens"]
        ),
        (&json!(2), &json!(4), &json!(0))
    );
    let second = post(&upstream, "/v1/messages", ANTHROPIC, &request)
        .await
        .json();
    assert_eq!(
        (
            &second["usage"]["cache_creation_input_tokens"],
            &second["usage"]["cache_read_input_tokens"]
        ),
        (&json!(0), &json!(4))
    );

    let converse = json!({"system": [{"text": "a long stable prefix"}, {"cachePoint": {"type": "default"}}],
        "messages": [{"role": "user", "content": [{"text": "hello there"}]}]});
    let first = post_signed(&upstream, "/model/m/converse", &converse)
        .await
        .json();
    assert_eq!(
        (
            &first["usage"]["inputTokens"],
            &first["usage"]["cacheWriteInputTokens"]
        ),
        (&json!(2), &json!(4))
    );
    let second = post_signed(&upstream, "/model/m/converse", &converse)
        .await
        .json();
    assert_eq!(second["usage"]["cacheReadInputTokens"], 4);
    let plain = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
    let usage = &post_signed(&upstream, "/model/m/converse", &plain)
        .await
        .json()["usage"];
    assert!(usage.get("cacheReadInputTokens").is_none(), "{usage}");
}

#[tokio::test]
async fn cache_writes_are_split_by_the_markers_lifetimes() {
    let upstream = mock().await;
    let hour = json!({"type": "ephemeral", "ttl": "1h"});
    let request = json!({"model": "m", "max_tokens": 50, "stream": true,
        "system": [{"type": "text", "text": "a long stable prefix", "cache_control": hour}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "three more words", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "hello"}]}]});
    let stream = post(&upstream, "/v1/messages", ANTHROPIC, &request).await;
    let start = stream
        .events()
        .first()
        .and_then(sse::SseEvent::json)
        .expect("message_start");
    let usage = &start["message"]["usage"];
    assert_eq!(usage["input_tokens"], 1, "{usage}");
    assert_eq!(usage["cache_creation_input_tokens"], 7, "{usage}");
    assert_eq!(
        usage["cache_creation"],
        json!({"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 4})
    );
    let mut again = request.clone();
    again["stream"] = json!(false);
    let usage = &post(&upstream, "/v1/messages", ANTHROPIC, &again)
        .await
        .json()["usage"];
    assert_eq!(usage["cache_read_input_tokens"], 7, "{usage}");
    assert_eq!(
        usage["cache_creation"],
        json!({"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0})
    );

    let converse = json!({"system": [{"text": "a long stable prefix"}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [{"text": "three more words"},
            {"cachePoint": {"type": "default"}}, {"text": "hello"}]}]});
    let usage = &post_signed(&upstream, "/model/m/converse", &converse)
        .await
        .json()["usage"];
    assert_eq!(usage["cacheWriteInputTokens"], 7, "{usage}");
    assert_eq!(
        usage["cacheDetails"],
        json!([{"ttl": "1h", "inputTokens": 4}, {"ttl": "5m", "inputTokens": 3}])
    );
    let usage = &post_signed(&upstream, "/model/m/converse", &converse)
        .await
        .json()["usage"];
    assert_eq!(usage["cacheReadInputTokens"], 7, "{usage}");
    assert_eq!(usage["cacheDetails"], json!([]));
}

#[tokio::test]
async fn adaptive_thinking_with_display_omitted_keeps_the_signature_only() {
    let upstream = mock().await;
    let request = json!({"model": "m", "max_tokens": 500, "thinking": {"type": "adaptive", "display": "omitted"},
                         "messages": [{"role": "user", "content": "hi"}]});
    let body = post(&upstream, "/v1/messages", ANTHROPIC, &request)
        .await
        .json();
    assert_eq!(body["content"][0]["type"], "thinking");
    assert_eq!(body["content"][0]["thinking"], "");
    assert_eq!(
        body["content"][0]["signature"],
        busbar_testkit::THINKING_SIGNATURE
    );
}
