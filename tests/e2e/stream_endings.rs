//! How a reply ends when the upstream does not end it well: a relayed
//! stream that goes idle, breaks or outlives the shutdown grace still ends
//! with its protocol's error event and a clean end of body, and a complete
//! JSON reply to a streamed request reaches the client as the stream it
//! asked for — never as an empty 200.

use std::time::Duration;

use busbar_testkit::Fault;
use serde_json::{json, Value};

use crate::support::{
    anthropic_stream_text, openai_error, openai_stream_text, Gateway, Setup, StreamReply,
};

/// One lane of each protocol whose streams Busbar relays untouched.
const RELAYED: &str = "
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
    upstream_model: rock.up-v1:0
";

/// A streamed request for each relayed lane: the path, the body, and the
/// marker of a clean end that must not appear when the upstream failed.
fn streamed_requests() -> Vec<(&'static str, Value, &'static str)> {
    let prompt = "alpha beta gamma delta epsilon zeta eta theta";
    vec![
        (
            "/v1/chat/completions",
            json!({"model": "gpt", "stream": true,
                   "messages": [{"role": "user", "content": prompt}]}),
            "[DONE]",
        ),
        (
            "/v1/messages",
            json!({"model": "claude", "stream": true, "max_tokens": 100,
                   "messages": [{"role": "user", "content": prompt}]}),
            "message_stop",
        ),
        (
            "/v1/responses",
            json!({"model": "resp", "stream": true, "input": prompt}),
            "response.completed",
        ),
        (
            "/v1beta/models/gem:streamGenerateContent?alt=sse",
            json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]}),
            "finishReason",
        ),
        (
            // Cohere ends a failed stream with `message-end` too, but not
            // with `COMPLETE`.
            "/v2/chat",
            json!({"model": "coh", "stream": true,
                   "messages": [{"role": "user", "content": prompt}]}),
            "COMPLETE",
        ),
        (
            "/model/rock/converse-stream",
            json!({"messages": [{"role": "user", "content": [{"text": prompt}]}]}),
            "messageStop",
        ),
    ]
}

async fn relaying_gateway(extra: &str) -> Gateway {
    Setup::new()
        .every_protocol()
        .models(RELAYED)
        .extra(extra)
        .start()
        .await
}

/// The stream ended with an error event saying `why`, and a clean end of
/// the HTTP body, without the protocol's terminal marker.
fn assert_ended_with_error(path: &str, reply: &StreamReply, terminal: &str, why: &str) {
    let text = reply.text();
    assert_eq!(reply.status, 200, "{path}: {text}");
    assert!(
        reply.transport_error.is_none(),
        "{path}: the body was torn, not ended: {:?}\n{text}",
        reply.transport_error
    );
    assert!(
        text.contains(why),
        "{path}: no error event saying {why:?}:\n{text}"
    );
    assert!(!text.contains(terminal), "{path}: looks complete:\n{text}");
}

#[tokio::test]
async fn a_relayed_stream_that_goes_idle_ends_with_its_protocols_error_event() {
    let gateway = relaying_gateway("limits: {idle_timeout_secs: 1}").await;
    for (path, body, terminal) in streamed_requests() {
        gateway.mock.push_fault(Fault::StallStream {
            after_events: 2,
            pause: Duration::from_secs(4),
        });
        let reply = gateway.stream(path, &body).await;
        assert_ended_with_error(path, &reply, terminal, "upstream stream went idle");
    }
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn a_relayed_stream_that_breaks_ends_with_its_protocols_error_event() {
    let gateway = relaying_gateway("").await;
    for (path, body, terminal) in streamed_requests() {
        gateway
            .mock
            .push_fault(Fault::AbortStream { after_events: 2 });
        let reply = gateway.stream(path, &body).await;
        assert_ended_with_error(path, &reply, terminal, "upstream stream failed");

        gateway
            .mock
            .push_fault(Fault::TruncateStream { after_events: 2 });
        let reply = gateway.stream(path, &body).await;
        assert_ended_with_error(path, &reply, terminal, "ended before its final event");
    }
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn a_stream_open_when_the_shutdown_grace_ends_gets_an_error_event() {
    let mut gateway = relaying_gateway("limits: {shutdown_grace_secs: 1}").await;
    let (path, body, terminal) = streamed_requests().swap_remove(1);
    gateway.mock.push_fault(Fault::StallStream {
        after_events: 2,
        pause: Duration::from_secs(30),
    });
    let mut open = gateway.open_stream(path, &body, &[]).await;
    assert_eq!(open.status, 200);
    open.next_chunk().await.expect("a first chunk");
    gateway.busbar.signal("TERM");
    let reply = open.finish().await;
    assert_ended_with_error(path, &reply, terminal, "shutting down");
    let status = gateway.busbar.wait_exit();
    assert_eq!(status.code(), Some(0), "log:\n{}", gateway.busbar.log());
}

const OPENAI_COMPLETION: &str = r#"{"id":"chatcmpl-json1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from JSON"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#;

const ANTHROPIC_MESSAGE: &str = r#"{"id":"msg_json1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hello from JSON"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":3}}"#;

const GEMINI_RESPONSE: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from JSON"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8},"modelVersion":"gemini-x"}"#;

#[tokio::test]
async fn a_json_reply_to_a_streamed_request_becomes_the_clients_stream() {
    let gateway = relaying_gateway("").await;
    let requests = streamed_requests();

    // Same protocol, relayed otherwise.
    gateway
        .mock
        .push_fault(Fault::json_reply(OPENAI_COMPLETION));
    let reply = gateway.stream(requests[0].0, &requests[0].1).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.headers.get("content-type").unwrap(),
        "text/event-stream"
    );
    assert_eq!(openai_stream_text(&reply), "Hello from JSON");
    assert!(
        reply.text().ends_with("data: [DONE]\n\n"),
        "{}",
        reply.text()
    );

    gateway
        .mock
        .push_fault(Fault::json_reply(ANTHROPIC_MESSAGE));
    let reply = gateway.stream(requests[1].0, &requests[1].1).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(anthropic_stream_text(&reply), "Hello from JSON");
    assert!(reply.names().contains(&"message_stop"), "{}", reply.text());

    gateway.mock.push_fault(Fault::json_reply(GEMINI_RESPONSE));
    let reply = gateway.stream(requests[3].0, &requests[3].1).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text: String = reply
        .data()
        .iter()
        .filter_map(|chunk| chunk["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello from JSON");

    // Translated: an Anthropic client on an OpenAI lane.
    gateway
        .mock
        .push_fault(Fault::json_reply(OPENAI_COMPLETION));
    let body = json!({"stream": true, "max_tokens": 100,
                      "messages": [{"role": "user", "content": "hi"}]});
    let reply = gateway.stream("/gpt/v1/messages", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(anthropic_stream_text(&reply), "Hello from JSON");
    assert!(reply.names().contains(&"message_stop"), "{}", reply.text());
}

#[tokio::test]
async fn json_that_is_no_reply_to_a_streamed_request_is_a_502_not_an_empty_200() {
    let gateway = relaying_gateway("").await;
    let (path, body, _) = streamed_requests().swap_remove(0);
    gateway
        .mock
        .push_fault(Fault::json_reply(r#"{"status":"ok"}"#));
    let reply = gateway.stream(path, &body).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    let reply = crate::support::Reply {
        status: reply.status,
        headers: reply.headers.clone(),
        body: reply.body.clone(),
    };
    let error = openai_error(&reply);
    assert!(
        error["message"].as_str().unwrap().contains("not a reply"),
        "{error}"
    );
    let stats = gateway.lane_stats("gpt").await;
    assert_eq!(stats["err"], 1, "{stats}");
}
