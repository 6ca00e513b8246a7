//! Bedrock Converse: SigV4 verified with AWS's signer, validation in AWS's words, replies, and
//! ConverseStream decoded with AWS's own event-stream decoder.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use busbar_testkit::{MockOptions, MockUpstream, THINKING_SIGNATURE, THINKING_TEXT};

use crate::support::{
    eventstream, frame_event, frame_header, post, post_signed, send, sigv4_headers, Answer,
    AWS_ACCESS_KEY, AWS_SECRET,
};

const CONVERSE: &str = "/model/anthropic.claude-test-v1%3A0/converse";
const STREAM: &str = "/model/anthropic.claude-test-v1%3A0/converse-stream";

fn ask(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": text}]}]})
}

fn tools() -> Value {
    json!({"tools": [
        {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object",
            "properties": {"city": {"type": "string"}}}}}},
        {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object"}}}}
    ]})
}

/// A mock that verifies signatures with the tests' credentials.
async fn verifying() -> MockUpstream {
    let options = MockOptions::default().aws_credentials(AWS_ACCESS_KEY, AWS_SECRET);
    MockUpstream::start_with(options).await.expect("start")
}

fn error_type(answer: &Answer) -> Option<&str> {
    answer
        .header("x-amzn-errortype")
        .and_then(|v| v.split(':').next())
}

#[tokio::test]
async fn signed_requests_get_the_vendor_reply() {
    let upstream = verifying().await;
    let mut request = ask("hello there");
    request["system"] = json!([{"text": "Be brief."}]);
    let answer = post_signed(&upstream, CONVERSE, &request).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.header("x-amzn-requestid").is_some());
    let body = answer.json();
    assert_eq!(
        body["output"],
        json!({"message": {"role": "assistant", "content": [{"text": "Echo: hello there"}]}})
    );
    assert_eq!(body["stopReason"], "end_turn");
    assert_eq!(
        body["usage"],
        json!({"inputTokens": 4, "outputTokens": 3, "totalTokens": 7})
    );
    assert!(body["metrics"]["latencyMs"].is_u64());
    let recorded = upstream.received();
    assert_eq!(
        recorded[0].path, CONVERSE,
        "the model id stays percent-encoded"
    );
}

#[tokio::test]
async fn signatures_are_checked_like_aws_does() {
    let upstream = verifying().await;
    let body = ask("hi").to_string();
    let send_with = |headers: Vec<(String, String)>, body: String| {
        let upstream = &upstream;
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            send(upstream, "POST", CONVERSE, &headers, &body)
                .await
                .expect("answer")
        }
    };
    let now = SystemTime::now();
    let wrong_secret = sigv4_headers(&upstream, CONVERSE, &body, "not-the-secret", "bedrock", now);
    let answer = send_with(wrong_secret, body.clone()).await;
    assert_eq!(
        (answer.status, error_type(&answer)),
        (403, Some("InvalidSignatureException"))
    );
    assert!(answer.json()["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("The request signature we calculated does not match")));

    let signed = sigv4_headers(&upstream, CONVERSE, &body, AWS_SECRET, "bedrock", now);
    let tampered = send_with(signed.clone(), ask("ho").to_string()).await;
    assert_eq!(error_type(&tampered), Some("InvalidSignatureException"));
    assert_eq!(send_with(signed, body.clone()).await.status, 200);

    let wrong_service = sigv4_headers(&upstream, CONVERSE, &body, AWS_SECRET, "s3", now);
    let answer = send_with(wrong_service, body.clone()).await;
    assert_eq!(
        answer.json()["message"],
        "Credential should be scoped to correct service: 'bedrock'. "
    );
    let stale = now - Duration::from_secs(20 * 60);
    let answer = send_with(
        sigv4_headers(&upstream, CONVERSE, &body, AWS_SECRET, "bedrock", stale),
        body.clone(),
    )
    .await;
    assert!(answer.json()["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Signature expired:")));

    let answer = send_with(Vec::new(), body.clone()).await;
    assert_eq!(
        (answer.status, error_type(&answer)),
        (403, Some("MissingAuthenticationTokenException"))
    );
    let other_key = vec![
        (
            "authorization".to_owned(),
            "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20240101/us-east-1/bedrock/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00"
                .to_owned(),
        ),
        ("x-amz-date".to_owned(), "20240101T000000Z".to_owned()),
    ];
    let answer = send_with(other_key, body.clone()).await;
    assert_eq!(error_type(&answer), Some("UnrecognizedClientException"));
    let bearer = vec![(
        "authorization".to_owned(),
        "Bearer bedrock-api-key".to_owned(),
    )];
    assert_eq!(send_with(bearer, body).await.status, 200);
}

#[tokio::test]
async fn unverified_mocks_check_only_the_header_shape() {
    let upstream = MockUpstream::start().await.expect("start");
    let body = ask("hi").to_string();
    let headers = sigv4_headers(
        &upstream,
        CONVERSE,
        &body,
        "any",
        "bedrock",
        SystemTime::now(),
    );
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let answer = send(&upstream, "POST", CONVERSE, &headers, &body)
        .await
        .expect("answer");
    assert_eq!(answer.status, 200);
    let incomplete = [("authorization", "AWS4-HMAC-SHA256 Credential=AK/x")];
    let answer = post(&upstream, CONVERSE, &incomplete, &ask("hi")).await;
    assert_eq!(error_type(&answer), Some("IncompleteSignatureException"));
}

#[tokio::test]
async fn validation_errors_speak_aws() {
    let upstream = verifying().await;
    let assistant_first = json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]});
    let doubled = json!({"messages": [{"role": "user", "content": [{"text": "a"}]},
                                      {"role": "user", "content": [{"text": "b"}]}]});
    let blank = ask(" ");
    let mut bad_tool = ask("x");
    bad_tool["toolConfig"] = json!({"tools": [{"toolSpec": {"name": "get.weather",
                                                           "inputSchema": {"json": {}}}}]});
    let tool_without_config = json!({"messages": [
        {"role": "user", "content": [{"text": "w?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "18C"}]}}]}]});
    let cases = [
        (assistant_first, "A conversation must start with a user message."),
        (doubled, "A conversation must alternate between user and assistant roles."),
        (blank, "The text field in the ContentBlock object at messages.0.content.0 is blank."),
        (bad_tool, "1 validation error detected: Value 'get.weather' at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"),
        (tool_without_config, "The toolConfig field must be defined when using toolUse and toolResult content blocks."),
    ];
    for (request, message) in cases {
        let answer = post_signed(&upstream, CONVERSE, &request).await;
        assert_eq!(
            (answer.status, error_type(&answer)),
            (400, Some("ValidationException"))
        );
        assert!(
            answer.json()["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message)),
            "{}",
            answer.text()
        );
    }
    let missing = post_signed(&upstream, "/model/m/retrieve", &ask("x")).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn tools_results_limits_and_reasoning() {
    let upstream = verifying().await;
    let mut request = ask("weather in parallel");
    request["toolConfig"] = tools();
    let body = post_signed(&upstream, CONVERSE, &request).await.json();
    assert_eq!(body["stopReason"], "tool_use");
    let content = body["output"]["message"]["content"]
        .as_array()
        .expect("content");
    assert_eq!(
        content[0],
        json!({"text": "Calling get_weather and get_time."})
    );
    let tool_use = &content[1]["toolUse"];
    assert!(tool_use["toolUseId"]
        .as_str()
        .is_some_and(|id| id.starts_with("tooluse_")));
    assert_eq!(
        (&tool_use["name"], &tool_use["input"]),
        (&json!("get_weather"), &json!({"city": "Paris"}))
    );
    assert_eq!(content[2]["toolUse"]["input"], json!({}));
    request["toolConfig"]["toolChoice"] = json!({"tool": {"name": "get_time"}});
    let body = post_signed(&upstream, CONVERSE, &request).await.json();
    assert_eq!(
        body["output"]["message"]["content"][1]["toolUse"]["name"],
        "get_time"
    );

    let result = json!({"toolConfig": tools(), "messages": [
        {"role": "user", "content": [{"text": "weather?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "toolu_1:x", "name": "get_weather", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "toolu_1:x",
            "content": [{"json": {"result": "18C"}}], "status": "success"}}]}]});
    let body = post_signed(&upstream, CONVERSE, &result).await.json();
    assert_eq!(
        body["output"]["message"]["content"][0]["text"],
        "Tool result received: 18C"
    );

    let mut limited = ask("alpha beta gamma");
    limited["inferenceConfig"] = json!({"maxTokens": 2});
    let body = post_signed(&upstream, CONVERSE, &limited).await.json();
    assert_eq!(
        (
            &body["stopReason"],
            &body["output"]["message"]["content"][0]["text"]
        ),
        (&json!("max_tokens"), &json!("Echo: alpha"))
    );
    limited["inferenceConfig"] = json!({"stopSequences": ["gamma"]});
    let body = post_signed(&upstream, CONVERSE, &limited).await.json();
    assert_eq!(body["stopReason"], "stop_sequence");

    let mut thinking = ask("think");
    thinking["additionalModelRequestFields"] =
        json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
    let body = post_signed(&upstream, CONVERSE, &thinking).await.json();
    assert_eq!(
        body["output"]["message"]["content"][0],
        json!({"reasoningContent": {"reasoningText": {"text": THINKING_TEXT, "signature": THINKING_SIGNATURE}}})
    );
}

#[tokio::test]
async fn stream_is_an_aws_event_stream() {
    let upstream = verifying().await;
    let answer = post_signed(&upstream, STREAM, &ask("a b c d e f g")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    let messages = eventstream(&answer.body);
    assert!(messages
        .iter()
        .all(|m| frame_header(m, ":message-type") == Some("event")
            && frame_header(m, ":content-type") == Some("application/json")));
    let events: Vec<(String, Value)> = messages.iter().map(frame_event).collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "messageStart");
    assert_eq!(
        names[names.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    assert!(
        names[1..names.len() - 3]
            .iter()
            .all(|n| *n == "contentBlockDelta"),
        "no start for text"
    );
    assert_eq!(events[0].1["role"], "assistant");
    assert!(
        events.iter().all(|(_, payload)| payload["p"].is_string()),
        "padded like AWS"
    );
    let text: String = events
        .iter()
        .filter_map(|(_, p)| p["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Echo: a b c d e f g");
    assert_eq!(events[events.len() - 2].1["stopReason"], "end_turn");
    let metadata = &events[events.len() - 1].1;
    assert_eq!(
        metadata["usage"],
        json!({"inputTokens": 7, "outputTokens": 8, "totalTokens": 15})
    );
    assert!(metadata["metrics"]["latencyMs"].is_u64());
}

#[tokio::test]
async fn tool_and_reasoning_stream_matches_the_vendor() {
    let upstream = verifying().await;
    let mut request = ask("go");
    request["toolConfig"] = tools();
    request["additionalModelRequestFields"] =
        json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
    let answer = post_signed(&upstream, STREAM, &request).await;
    let events: Vec<(String, Value)> = eventstream(&answer.body).iter().map(frame_event).collect();
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "contentBlockStart")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(starts.len(), 1, "only the tool use opens with a start");
    assert_eq!(starts[0]["contentBlockIndex"], 2);
    assert_eq!(starts[0]["start"]["toolUse"]["name"], "get_weather");
    let deltas = |index: u64| -> Vec<&Value> {
        events
            .iter()
            .filter(|(n, p)| n == "contentBlockDelta" && p["contentBlockIndex"] == index)
            .map(|(_, p)| &p["delta"])
            .collect()
    };
    let reasoning: String = deltas(0)
        .iter()
        .filter_map(|d| d["reasoningContent"]["text"].as_str())
        .collect();
    assert_eq!(reasoning, THINKING_TEXT);
    assert_eq!(
        deltas(0)
            .last()
            .map(|d| &d["reasoningContent"]["signature"]),
        Some(&json!(THINKING_SIGNATURE))
    );
    let input: Vec<&str> = deltas(2)
        .iter()
        .filter_map(|d| d["toolUse"]["input"].as_str())
        .collect();
    assert!(input.len() > 1, "tool input arrives in pieces");
    assert_eq!(
        serde_json::from_str::<Value>(&input.concat()).ok(),
        Some(json!({"city": "Paris"}))
    );
    let stop = events
        .iter()
        .find(|(n, _)| n == "messageStop")
        .expect("messageStop");
    assert_eq!(stop.1["stopReason"], "tool_use");
}
