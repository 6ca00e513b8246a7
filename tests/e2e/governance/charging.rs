//! What a key pays for, exactly: a request for many replies reserves each
//! of them.

use serde_json::json;

use super::Governed;
use crate::support::openai_error;

#[tokio::test]
async fn a_request_for_many_replies_reserves_each_of_them() {
    // Ten cents per 1000 tokens: one reply of 1000 tokens fits 50 cents,
    // 128 of them (OpenAI's `n`) or 8 (Gemini's `candidateCount`) do not.
    let governed = Governed::start(
        "  price_per_request_cents: 0\n  price_per_1k_tokens_cents: 10\n",
        "",
    )
    .await;
    let (id, secret) = governed
        .create_key(json!({"name": "many", "max_budget_cents": 50}))
        .await;
    let bearer = format!("Bearer {secret}");
    let auth = [("authorization", bearer.as_str())];
    let chat = |n: u64| {
        json!({"model": "fast", "n": n, "max_tokens": 1000,
               "messages": [{"role": "user", "content": "hello there"}]})
    };
    let refused = governed
        .post("/v1/chat/completions", &chat(128), &auth)
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(openai_error(&refused)["code"], "insufficient_quota");
    let gemini = |count: u64| {
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
               "generationConfig": {"candidateCount": count, "maxOutputTokens": 1000}})
    };
    let path = "/v1beta/models/fast:generateContent";
    let google = [("x-goog-api-key", secret.as_str())];
    let refused = governed.post(path, &gemini(8), &google).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(governed.mock.received().is_empty(), "nothing went upstream");

    // Four replies of 1000 tokens (40 cents and the prompt) fit.
    let reply = governed.post("/v1/chat/completions", &chat(4), &auth).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = governed.post(path, &gemini(1), &google).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = governed.usage(&id).await;
    assert_eq!(usage["requests"], 2, "{usage}");
    assert!(usage["spend_cents"].as_f64() < Some(1.0), "{usage}");
    assert_eq!(usage["reserved_cents"], 0, "{usage}");
}
