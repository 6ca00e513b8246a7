//! Scripted faults on Responses, Gemini, Cohere and Bedrock: each vendor's error bodies, its
//! in-stream failure, and broken streams of every kind, the binary event stream included.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use busbar_testkit::{sse, ErrorKind, Fault, FaultRule, Format, VendorError};

use crate::support::{eventstream, frame_event, frame_header, mock, post, COHERE, GEMINI, OPENAI};

const RESPONSES: &str = "/v1/responses";
const GEMINI_PATH: &str = "/v1beta/models/gemini-x:generateContent";
const GEMINI_STREAM: &str = "/v1beta/models/gemini-x:streamGenerateContent";
const COHERE_PATH: &str = "/v2/chat";
const BEDROCK_PATH: &str = "/model/vendor.model-x%3A0/converse";
const BEDROCK_STREAM: &str = "/model/vendor.model-x%3A0/converse-stream";
const BEARER: &[(&str, &str)] = &[("authorization", "Bearer bedrock-key")];

fn responses(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "input": "a b c d e f"})
}

fn gemini() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "a b c d e f"}]}]})
}

fn cohere(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "a b c d e f"}]})
}

fn bedrock() -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": "a b c d e f"}]}]})
}

#[tokio::test]
async fn errors_take_each_vendors_status_and_body() {
    let upstream = mock().await;
    upstream.set_fault(Fault::rate_limited(Some(3)));
    let answer = post(&upstream, RESPONSES, OPENAI, &responses(false)).await;
    assert_eq!(
        (answer.status, answer.header("retry-after")),
        (429, Some("3"))
    );
    assert_eq!(answer.json()["error"]["code"], "rate_limit_exceeded");
    let answer = post(&upstream, GEMINI_PATH, GEMINI, &gemini()).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(answer.json()["error"]["code"], 429);
    let answer = post(&upstream, COHERE_PATH, COHERE, &cohere(false)).await;
    assert_eq!(answer.status, 429);
    assert!(answer.json()["message"].is_string() && answer.json()["id"].is_string());
    let answer = post(&upstream, BEDROCK_PATH, BEARER, &bedrock()).await;
    assert_eq!(
        (answer.status, answer.header("retry-after")),
        (429, Some("3"))
    );
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/")
    );
    assert_eq!(
        answer.json(),
        json!({"message": "Too many requests, please wait before trying again."})
    );

    upstream.set_fault(Fault::overloaded());
    let answer = post(&upstream, GEMINI_PATH, GEMINI, &gemini()).await;
    assert_eq!(
        (answer.status, answer.json()["error"]["status"].clone()),
        (503, json!("UNAVAILABLE"))
    );
    let answer = post(&upstream, BEDROCK_PATH, BEARER, &bedrock()).await;
    assert_eq!(answer.status, 503);
    assert!(answer
        .header("x-amzn-errortype")
        .is_some_and(|t| t.starts_with("ServiceUnavailableException:")));
    assert_eq!(
        post(&upstream, COHERE_PATH, COHERE, &cohere(false))
            .await
            .status,
        503
    );

    upstream.set_fault(Fault::context_length());
    let answer = post(&upstream, BEDROCK_PATH, BEARER, &bedrock()).await;
    assert_eq!(
        answer.json()["message"],
        "Input is too long for requested model."
    );
    let answer = post(&upstream, COHERE_PATH, COHERE, &cohere(false)).await;
    assert!(answer.json()["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("too many tokens")));
    let custom = VendorError::new(ErrorKind::Timeout)
        .with_type("ModelNotReadyException")
        .with_status(429);
    upstream.set_fault(Fault::Error(custom));
    let answer = post(&upstream, BEDROCK_PATH, BEARER, &bedrock()).await;
    assert_eq!(answer.status, 429);
    assert!(answer
        .header("x-amzn-errortype")
        .is_some_and(|t| t.starts_with("ModelNotReadyException:")));
}

#[tokio::test]
async fn faults_match_models_named_in_the_url() {
    let upstream = mock().await;
    upstream.push_fault(FaultRule::new(Fault::server_error()).model("vendor.model-x:0"));
    upstream.push_fault(
        FaultRule::new(Fault::status(404))
            .model("gemini-x")
            .format(Format::Gemini),
    );
    upstream.push_fault(
        FaultRule::new(Fault::TruncateStream { after_events: 1 }).format(Format::Gemini),
    );
    assert_eq!(
        post(&upstream, COHERE_PATH, COHERE, &cohere(false))
            .await
            .status,
        200
    );
    assert_eq!(
        post(&upstream, BEDROCK_PATH, BEARER, &bedrock())
            .await
            .status,
        500
    );
    let answer = post(&upstream, GEMINI_PATH, GEMINI, &gemini()).await;
    assert_eq!(
        (answer.status, answer.json()["error"]["status"].clone()),
        (404, json!("NOT_FOUND"))
    );
    assert_eq!(
        post(&upstream, GEMINI_PATH, GEMINI, &gemini()).await.status,
        200
    );
    assert_eq!(
        upstream.pending_faults(),
        1,
        "the stream fault waits for a streaming path"
    );
    let path = format!("{GEMINI_STREAM}?alt=sse");
    let events = post(&upstream, &path, GEMINI, &gemini()).await.events();
    assert_eq!(events.len(), 1);
    assert_eq!(upstream.pending_faults(), 0);
}

fn stream_error(after_events: usize) -> Fault {
    Fault::StreamError {
        after_events,
        error: VendorError::new(ErrorKind::Overloaded),
    }
}

#[tokio::test]
async fn streams_fail_in_each_vendors_form() {
    let upstream = mock().await;
    upstream.push_fault(stream_error(3));
    let events = post(&upstream, RESPONSES, OPENAI, &responses(true))
        .await
        .events();
    assert_eq!(events.len(), 4);
    assert_eq!(events[3].event.as_deref(), Some("error"));
    let error = events[3].json().expect("JSON");
    assert_eq!(
        (&error["type"], &error["sequence_number"]),
        (&json!("error"), &json!(3))
    );
    assert_eq!(
        error["message"],
        "The engine is currently overloaded, please try again later"
    );

    upstream.push_fault(stream_error(2));
    let path = format!("{GEMINI_STREAM}?alt=sse");
    let events = post(&upstream, &path, GEMINI, &gemini()).await.events();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2].json().map(|e| e["error"]["status"].clone()),
        Some(json!("UNAVAILABLE"))
    );

    upstream.push_fault(stream_error(2));
    let answer = post(&upstream, GEMINI_STREAM, GEMINI, &gemini()).await;
    let array = answer.json();
    let array = array.as_array().expect("still one JSON array");
    assert_eq!(array.len(), 3);
    assert_eq!(array[2]["error"]["code"], 503);

    upstream.push_fault(stream_error(2));
    let events = post(&upstream, COHERE_PATH, COHERE, &cohere(true))
        .await
        .events();
    assert_eq!(
        sse::event_names(&events),
        ["message-start", "content-start", "message-end"]
    );
    let end = events[2].json().expect("JSON");
    assert_eq!(end["delta"]["finish_reason"], "ERROR");
    assert!(end["delta"]["error"].is_string());

    upstream.push_fault(Fault::StreamError {
        after_events: 2,
        error: VendorError::new(ErrorKind::RateLimited),
    });
    let answer = post(&upstream, BEDROCK_STREAM, BEARER, &bedrock()).await;
    let messages = eventstream(&answer.body);
    assert_eq!(messages.len(), 3);
    let last = &messages[2];
    assert_eq!(frame_header(last, ":message-type"), Some("exception"));
    let (name, payload) = frame_event(last);
    assert_eq!(name, "throttlingException");
    assert_eq!(
        payload["message"],
        "Too many requests, please wait before trying again."
    );
}

#[tokio::test]
async fn event_streams_can_be_truncated_aborted_or_stalled() {
    let upstream = mock().await;
    upstream.push_fault(Fault::TruncateStream { after_events: 2 });
    let answer = post(&upstream, BEDROCK_STREAM, BEARER, &bedrock()).await;
    assert!(!answer.body_failed);
    let names: Vec<String> = eventstream(&answer.body)
        .iter()
        .map(|m| frame_event(m).0)
        .collect();
    assert_eq!(names, ["messageStart", "contentBlockDelta"]);

    upstream.push_fault(Fault::AbortStream { after_events: 1 });
    let answer = post(&upstream, BEDROCK_STREAM, BEARER, &bedrock()).await;
    assert!(answer.body_failed);
    assert_eq!(eventstream(&answer.body).len(), 1);

    upstream.push_fault(Fault::StallStream {
        after_events: 1,
        pause: Duration::from_millis(300),
    });
    let started = Instant::now();
    let answer = post(&upstream, BEDROCK_STREAM, BEARER, &bedrock()).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    let names: Vec<String> = eventstream(&answer.body)
        .iter()
        .map(|m| frame_event(m).0)
        .collect();
    assert_eq!(names.last().map(String::as_str), Some("metadata"));

    upstream.push_fault(Fault::AbortStream { after_events: 2 });
    let answer = post(&upstream, GEMINI_STREAM, GEMINI, &gemini()).await;
    assert!(answer.body_failed);
    upstream.push_fault(Fault::TruncateStream { after_events: 3 });
    let answer = post(&upstream, COHERE_PATH, COHERE, &cohere(true)).await;
    assert_eq!(answer.events().len(), 3);
    assert!(answer.events().iter().all(|e| e.data != "[DONE]"));
}
