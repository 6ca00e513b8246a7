//! What a key pays for, exactly: a request for many replies reserves each
//! of them, and a client that leaves a stream before its usage chunk still
//! pays the usage (or, when the rest never comes, the worst case reserved).

use std::time::Duration;

use busbar_testkit::Fault;
use bytes::Bytes;
use serde_json::{json, Value};

use super::{usage_settled, Governed};
use crate::support::openai_error;

/// One cent per token and nothing per request, so `spend_cents` is the
/// tokens charged.
const CENT_A_TOKEN: &str = "  price_per_request_cents: 0\n  price_per_1k_tokens_cents: 1000\n";

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

/// A streamed OpenAI chat request for `model`, with or without the
/// client's own `include_usage` (without, Busbar asks the upstream for usage
/// and the reply goes through translation).
fn stream_body(model: &str, include_usage: bool) -> Value {
    let mut body = json!({"model": model, "stream": true, "max_tokens": 50,
                          "messages": [{"role": "user", "content": "hello there"}]});
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// The SSE `data:` payloads of a body, `[DONE]` left out.
fn data_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect()
}

fn has_finish(chunk: &Value) -> bool {
    chunk["choices"][0]["finish_reason"].is_string()
}

fn has_content(chunk: &Value) -> bool {
    chunk["choices"][0]["delta"]["content"]
        .as_str()
        .is_some_and(|text| !text.is_empty())
}

/// Streams `model` once to the end as the reference: how many upstream
/// events come up to and including the finish chunk (for an OpenAI
/// upstream), and the tokens charged.
async fn reference_stream(
    governed: &Governed,
    auth: &[(&str, &str)],
    id: &str,
    model: &str,
) -> (usize, u64) {
    let reply = governed
        .post("/v1/chat/completions", &stream_body(model, true), auth)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = data_events(&reply.text());
    let finish = events.iter().position(has_finish).expect("a finish chunk");
    assert!(events[finish + 1]["usage"].is_object(), "{}", reply.text());
    let usage = usage_settled(governed, id, 1).await;
    let tokens = usage["tokens"].as_u64().expect("tokens");
    assert!(tokens > 0, "{usage}");
    assert_eq!(usage["spend_cents"], tokens, "{usage}");
    (finish + 1, tokens)
}

/// Opens `body` with the upstream pausing for `pause` after `stall_after`
/// events, reads until a chunk passes `leave_at` and hangs up.
async fn leave_early(
    governed: &Governed,
    auth: &[(&str, &str)],
    body: &Value,
    stall_after: usize,
    pause: Duration,
    leave_at: fn(&Value) -> bool,
) {
    governed.mock.push_fault(Fault::StallStream {
        after_events: stall_after,
        pause,
    });
    let url = format!("{}/v1/chat/completions", governed.base);
    let body = Bytes::from(body.to_string());
    let mut open = governed.client.open("POST", &url, body, auth).await;
    assert_eq!(open.status, 200);
    let mut seen = String::new();
    while !data_events(&seen).iter().any(leave_at) {
        let chunk = open.next_chunk().await.expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !seen.contains("\"usage\":{"),
        "the usage came early: {seen}"
    );
    drop(open);
}

#[tokio::test]
async fn a_client_that_leaves_before_the_usage_chunk_pays_the_usage() {
    let governed = Governed::start(CENT_A_TOKEN, "").await;
    let (id, secret) = governed.create_key(json!({"name": "leaver"})).await;
    let bearer = format!("Bearer {secret}");
    let auth = [("authorization", bearer.as_str())];
    let (finish_events, tokens) = reference_stream(&governed, &auth, &id, "fast").await;
    // The upstream pauses between the finish chunk and the usage chunk,
    // and the client leaves in the pause.
    let pause = Duration::from_millis(500);
    let body = stream_body("fast", true);
    leave_early(&governed, &auth, &body, finish_events, pause, has_finish).await;
    // While Busbar reads on, the request is in flight.
    let usage = governed.usage(&id).await;
    assert_eq!(usage["in_flight"], 1, "{usage}");
    let usage = usage_settled(&governed, &id, 2).await;
    assert_eq!(
        (usage["requests"].clone(), usage["tokens"].clone()),
        (json!(2), json!(2 * tokens)),
        "{usage}"
    );
    assert_eq!(usage["spend_cents"], 2 * tokens, "{usage}");
    assert_eq!(usage["in_flight"], 0, "{usage}");
}

#[tokio::test]
async fn a_client_that_leaves_a_translated_stream_pays_its_usage() {
    // An Anthropic upstream reports the output tokens in its last events;
    // the OpenAI client leaves after the first words.
    for include_usage in [true, false] {
        let governed = Governed::start(CENT_A_TOKEN, "").await;
        let (id, secret) = governed.create_key(json!({"name": "leaver"})).await;
        let bearer = format!("Bearer {secret}");
        let auth = [("authorization", bearer.as_str())];
        let (_, tokens) = reference_stream(&governed, &auth, &id, "slow").await;
        let pause = Duration::from_millis(500);
        let body = stream_body("slow", include_usage);
        leave_early(&governed, &auth, &body, 4, pause, has_content).await;
        let usage = governed.usage(&id).await;
        assert_eq!(
            usage["in_flight"], 1,
            "include_usage {include_usage}: {usage}"
        );
        let usage = usage_settled(&governed, &id, 2).await;
        assert_eq!(
            (usage["requests"].clone(), usage["tokens"].clone()),
            (json!(2), json!(2 * tokens)),
            "include_usage {include_usage}: {usage}"
        );
    }
}

#[tokio::test]
async fn a_client_that_leaves_a_stream_whose_usage_never_comes_pays_the_worst_case() {
    let governed = Governed::start(CENT_A_TOKEN, "limits:\n  idle_timeout_secs: 1\n").await;
    let (id, secret) = governed.create_key(json!({"name": "leaver"})).await;
    let bearer = format!("Bearer {secret}");
    let auth = [("authorization", bearer.as_str())];
    let (finish_events, tokens) = reference_stream(&governed, &auth, &id, "fast").await;
    // The upstream goes silent for longer than the idle timeout.
    let body = stream_body("fast", true);
    let pause = Duration::from_secs(3);
    leave_early(&governed, &auth, &body, finish_events, pause, has_finish).await;
    let usage = usage_settled(&governed, &id, 2).await;
    // The worst case: `max_tokens` plus the body's bytes, a cent each.
    let worst = 50 + body.to_string().len() as u64;
    assert_eq!(usage["requests"], 2, "{usage}");
    assert_eq!(usage["spend_cents"], tokens + worst, "{usage}");
    assert_eq!(usage["tokens"], tokens + worst, "{usage}");
}
