//! Scripted faults, on both formats: vendor errors, delays, resets and broken streams.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use busbar_testkit::{sse, ErrorKind, Fault, FaultRule, Format, VendorError};

use crate::support::{mock, post, send, ANTHROPIC, OPENAI};

const OPENAI_PATH: &str = "/v1/chat/completions";
const ANTHROPIC_PATH: &str = "/v1/messages";

fn openai(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "a b c d e f"}]})
}

fn anthropic(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "a b c d e f"}]})
}

#[tokio::test]
async fn errors_take_each_vendors_status_and_body() {
    let upstream = mock().await;
    upstream.set_fault(Fault::rate_limited(Some(7)));
    let answer = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false)).await;
    assert_eq!(
        (answer.status, answer.header("retry-after")),
        (429, Some("7"))
    );
    assert_eq!(answer.json()["error"]["code"], "rate_limit_exceeded");
    let answer = post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("m", false)).await;
    assert_eq!(
        (answer.status, answer.header("retry-after")),
        (429, Some("7"))
    );
    assert_eq!(answer.json()["error"]["type"], "rate_limit_error");

    upstream.set_fault(Fault::overloaded());
    assert_eq!(
        post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false))
            .await
            .status,
        503
    );
    let answer = post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("m", false)).await;
    assert_eq!(answer.status, 529);
    assert_eq!(
        answer.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );

    upstream.set_fault(Fault::server_error());
    let answer = post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("m", false)).await;
    assert_eq!(
        (answer.status, answer.json()["error"]["type"].clone()),
        (500, json!("api_error"))
    );
    upstream.set_fault(Fault::context_length());
    let answer = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false)).await;
    assert_eq!(
        (answer.status, answer.json()["error"]["code"].clone()),
        (400, json!("context_length_exceeded"))
    );

    let custom = VendorError::new(ErrorKind::InsufficientQuota).with_message("broke");
    upstream.set_fault(Fault::Error(custom));
    let answer = post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("m", false)).await;
    assert_eq!(
        (answer.status, answer.json()["error"]["message"].clone()),
        (402, json!("broke"))
    );
    upstream.set_fault(Fault::Error(VendorError::raw(
        502,
        "<html>bad gateway</html>",
    )));
    let answer = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false)).await;
    assert_eq!(
        (answer.status, answer.text()),
        (502, "<html>bad gateway</html>".to_owned())
    );
    upstream.clear_faults();
    assert_eq!(
        post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn queued_faults_are_used_once_by_the_matching_request() {
    let upstream = mock().await;
    upstream.push_fault(FaultRule::new(Fault::status(503)).model("b"));
    upstream.push_fault(FaultRule::new(Fault::server_error()).format(Format::Anthropic));
    upstream.push_fault(FaultRule::new(Fault::TruncateStream { after_events: 1 }));
    assert_eq!(upstream.pending_faults(), 3);
    assert_eq!(
        post(&upstream, OPENAI_PATH, OPENAI, &openai("a", false))
            .await
            .status,
        200
    );
    assert_eq!(
        post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("a", false))
            .await
            .status,
        500
    );
    assert_eq!(
        post(&upstream, OPENAI_PATH, OPENAI, &openai("b", false))
            .await
            .status,
        503
    );
    assert_eq!(
        post(&upstream, OPENAI_PATH, OPENAI, &openai("b", false))
            .await
            .status,
        200
    );
    assert_eq!(
        upstream.pending_faults(),
        1,
        "the stream fault waits for a stream"
    );
    let events = post(&upstream, OPENAI_PATH, OPENAI, &openai("b", true))
        .await
        .events();
    assert_eq!(events.len(), 1);
    assert_eq!(upstream.pending_faults(), 0);
    assert_eq!(
        upstream.received().len(),
        5,
        "faulted requests are recorded too"
    );
}

#[tokio::test]
async fn delays_hold_the_headers_or_the_first_byte() {
    let upstream = mock().await;
    upstream.push_fault(Fault::DelayHeaders(Duration::from_millis(300)));
    let answer = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false)).await;
    assert_eq!(answer.status, 200);
    assert!(answer.head_after >= Duration::from_millis(300));

    upstream.push_fault(Fault::DelayFirstByte(Duration::from_millis(300)));
    let answer = post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("m", true)).await;
    assert!(
        answer.head_after < Duration::from_millis(250),
        "headers leave at once"
    );
    assert!(answer
        .first_byte_after
        .is_some_and(|t| t >= Duration::from_millis(300)));
    assert_eq!(
        sse::event_names(&answer.events()).last(),
        Some(&"message_stop")
    );

    upstream.push_fault(Fault::DelayFirstByte(Duration::from_millis(300)));
    let answer = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false)).await;
    assert!(answer
        .first_byte_after
        .is_some_and(|t| t >= Duration::from_millis(300)));
    assert_eq!(answer.json()["object"], "chat.completion");

    upstream.push_fault(Fault::StallStream {
        after_events: 2,
        pause: Duration::from_millis(300),
    });
    let started = std::time::Instant::now();
    let answer = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", true)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(answer
        .first_byte_after
        .is_some_and(|t| t < Duration::from_millis(250)));
    assert_eq!(
        answer.events().last().map(|e| e.data.clone()),
        Some("[DONE]".to_owned())
    );
}

#[tokio::test]
async fn reset_drops_the_connection_with_an_rst() {
    let upstream = mock().await;
    upstream.push_fault(Fault::Reset);
    assert!(send(
        &upstream,
        "POST",
        OPENAI_PATH,
        OPENAI,
        &openai("m", false).to_string()
    )
    .await
    .is_err());

    upstream.push_fault(Fault::Reset);
    let mut stream = tokio::net::TcpStream::connect(upstream.addr())
        .await
        .expect("connect");
    let body = openai("m", false).to_string();
    let request = format!(
        "POST {OPENAI_PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("in time");
    assert_eq!(
        read.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
    assert_eq!(
        post(&upstream, OPENAI_PATH, OPENAI, &openai("m", false))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn streams_can_be_truncated_aborted_or_failed() {
    let upstream = mock().await;
    upstream.push_fault(Fault::TruncateStream { after_events: 3 });
    let answer = post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("m", true)).await;
    assert!(!answer.body_failed);
    assert_eq!(
        sse::event_names(&answer.events()),
        ["message_start", "content_block_start", "ping"]
    );

    upstream.push_fault(Fault::AbortStream { after_events: 2 });
    let answer = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", true)).await;
    assert!(answer.body_failed);
    assert_eq!(answer.events().len(), 2);

    let overloaded = VendorError::new(ErrorKind::Overloaded);
    upstream.push_fault(Fault::StreamError {
        after_events: 4,
        error: overloaded.clone(),
    });
    let events = post(&upstream, ANTHROPIC_PATH, ANTHROPIC, &anthropic("m", true))
        .await
        .events();
    assert_eq!(events.len(), 5);
    assert_eq!(events[4].event.as_deref(), Some("error"));
    assert_eq!(
        events[4].json(),
        Some(
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        )
    );

    upstream.push_fault(Fault::StreamError {
        after_events: 2,
        error: overloaded,
    });
    let events = post(&upstream, OPENAI_PATH, OPENAI, &openai("m", true))
        .await
        .events();
    assert_eq!(events.len(), 3);
    let error = events[2].json().expect("error chunk");
    assert_eq!(error["error"]["type"], "server_error");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
}
