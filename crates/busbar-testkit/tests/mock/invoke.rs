//! Claude through InvokeModel: the envelope checked as Bedrock checks it, SigV4 verified, the
//! Anthropic reply with Bedrock's token-count headers, and the stream's chunks decoded with AWS's
//! own event-stream decoder.

use aws_smithy_types::base64;
use serde_json::{json, Value};

use busbar_testkit::{MockOptions, MockUpstream};

use crate::support::{
    eventstream, frame_event, frame_header, post_signed, AWS_ACCESS_KEY, AWS_SECRET,
};

const INVOKE: &str = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke";
const STREAM: &str =
    "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream";

fn ask(text: &str) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
           "messages": [{"role": "user", "content": text}]})
}

async fn verifying() -> MockUpstream {
    let options = MockOptions::default().aws_credentials(AWS_ACCESS_KEY, AWS_SECRET);
    MockUpstream::start_with(options).await.expect("start")
}

#[tokio::test]
async fn invoke_answers_the_messages_reply_with_token_headers() {
    let upstream = verifying().await;
    let answer = post_signed(&upstream, INVOKE, &ask("hello there")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["model"],
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    assert_eq!(body["content"][0]["text"], "Echo: hello there");
    assert_eq!(
        answer.header("x-amzn-bedrock-output-token-count"),
        Some(body["usage"]["output_tokens"].to_string().as_str())
    );
    assert!(answer.header("x-amzn-bedrock-input-token-count").is_some());
}

#[tokio::test]
async fn the_envelope_is_checked_as_bedrock_checks_it() {
    let upstream = verifying().await;
    let mut with_model = ask("x");
    with_model["model"] = json!("claude");
    let mut without_version = ask("x");
    without_version
        .as_object_mut()
        .unwrap()
        .remove("anthropic_version");
    let mut streaming = ask("x");
    streaming["stream"] = json!(true);
    let mut no_max = ask("x");
    no_max.as_object_mut().unwrap().remove("max_tokens");
    for (body, words) in [
        (with_model, "extraneous key [model]"),
        (without_version, "required key [anthropic_version]"),
        (streaming, "extraneous key [stream]"),
        (no_max, "max_tokens"),
    ] {
        let answer = post_signed(&upstream, INVOKE, &body).await;
        assert_eq!(answer.status, 400, "{}", answer.text());
        assert!(answer
            .header("x-amzn-errortype")
            .is_some_and(|t| t.starts_with("ValidationException")));
        assert!(
            answer.json()["message"].as_str().unwrap().contains(words),
            "{}",
            answer.text()
        );
    }
    // Any version string is taken (the Anthropic SDK 2.x sends its own API version).
    let mut sdk = ask("x");
    sdk["anthropic_version"] = json!("2026-10-21");
    sdk["anthropic_beta"] = json!(["context-1m-2025-08-07"]);
    assert_eq!(post_signed(&upstream, INVOKE, &sdk).await.status, 200);
}

#[tokio::test]
async fn the_stream_is_chunks_of_base64_anthropic_events() {
    let upstream = verifying().await;
    let answer = post_signed(&upstream, STREAM, &ask("a b c")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    let messages = eventstream(&answer.body);
    let events: Vec<Value> = messages
        .iter()
        .map(|message| {
            assert_eq!(frame_header(message, ":event-type"), Some("chunk"));
            let (_, payload) = frame_event(message);
            assert!(payload["p"].is_string(), "padded like AWS");
            let bytes = base64::decode(payload["bytes"].as_str().unwrap()).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"));
    assert_eq!(kinds.last(), Some(&"message_stop"));
    let text: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Echo: a b c");
    let metrics = &events.last().unwrap()["amazon-bedrock-invocationMetrics"];
    assert!(metrics["inputTokenCount"].is_u64() && metrics["outputTokenCount"].is_u64());
}
