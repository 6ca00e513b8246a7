//! Failures: bad requests, upstream errors and broken streams, each in the
//! client's own protocol, and the gateway serving on afterwards.

use busbar_testkit::{ErrorKind, Fault, FaultRule, VendorError};
use serde_json::{json, Value};

use crate::support::{anthropic_error, openai_error, Gateway, Setup, StreamReply};

const OPENAI_PATH: &str = "/v1/chat/completions";

fn openai_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "one two three four five six"}]})
}

fn anthropic_body() -> Value {
    json!({"max_tokens": 100, "messages": [{"role": "user", "content": "one two three four five six"}]})
}

fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

/// The error object of an OpenAI in-stream error (`data: {"error": …}`).
fn openai_stream_error(reply: &StreamReply) -> Option<Value> {
    reply
        .data()
        .into_iter()
        .find(|chunk| chunk.get("error").is_some_and(Value::is_object))
        .map(|chunk| chunk["error"].clone())
}

/// The data of an Anthropic `event: error`.
fn anthropic_stream_error(reply: &StreamReply) -> Option<Value> {
    reply
        .events
        .iter()
        .find(|event| event.name.as_deref() == Some("error"))
        .and_then(|event| event.json())
}

#[tokio::test]
async fn invalid_json_is_a_400_in_the_ingress_shape() {
    let gateway = Gateway::start().await;
    for body in [
        "{\"model\": \"gpt\", \"messages\": [",
        "[1, 2]",
        "not json at all",
    ] {
        let reply = gateway.post(OPENAI_PATH, body, &[]).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert_eq!(openai_error(&reply)["type"], "invalid_request_error");

        let reply = gateway.post("/claude/v1/messages", body, &[]).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert_eq!(anthropic_error(&reply)["type"], "invalid_request_error");
    }
    assert!(gateway.received().is_empty(), "nothing goes upstream");
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn unknown_model_is_a_404_in_the_ingress_shape() {
    let gateway = Gateway::start().await;
    let reply = gateway
        .post_json(OPENAI_PATH, &openai_body("no-such-model"))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    let error = openai_error(&reply);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-model")),
        "{error}"
    );

    let reply = gateway
        .post_json("/no-such-model/v1/messages", &anthropic_body())
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(anthropic_error(&reply)["type"], "not_found_error");

    let mut body = anthropic_body();
    body["model"] = json!("no-such-model");
    let reply = gateway.post_json("/v1/messages", &body).await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    anthropic_error(&reply);

    assert!(gateway.received().is_empty());
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn missing_model_and_wrong_method_are_refused_in_the_ingress_shape() {
    let gateway = Gateway::start().await;
    let reply = gateway
        .post_json(
            OPENAI_PATH,
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    openai_error(&reply);
    let reply = gateway.post_json("/v1/messages", &anthropic_body()).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    anthropic_error(&reply);
    let reply = gateway.get(OPENAI_PATH, &[]).await;
    assert_eq!(reply.status, 405, "{}", reply.text());
    openai_error(&reply);
    let reply = gateway.get("/claude/v1/messages", &[]).await;
    assert_eq!(reply.status, 405, "{}", reply.text());
    anthropic_error(&reply);
    assert!(gateway.received().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_in_the_ingress_shape() {
    let gateway = Setup::new()
        .extra("limits:\n  max_body_bytes: 2048")
        .start()
        .await;
    let big = "word ".repeat(1000);
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": big}]});
    let reply = gateway.post_json(OPENAI_PATH, &body).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    openai_error(&reply);

    let body = json!({"max_tokens": 10, "messages": [{"role": "user", "content": big}]});
    let reply = gateway.post_json("/claude/v1/messages", &body).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    anthropic_error(&reply);

    assert!(gateway.received().is_empty());
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn upstream_429_is_translated_keeping_retry_after() {
    let gateway = Gateway::start().await;
    // OpenAI client, Anthropic upstream.
    gateway.mock.push_fault(Fault::rate_limited(Some(7)));
    let reply = gateway.post_json(OPENAI_PATH, &openai_body("claude")).await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("7"));
    openai_error(&reply);

    // Anthropic client, OpenAI upstream.
    gateway.mock.push_fault(Fault::rate_limited(Some(9)));
    let reply = gateway
        .post_json("/gpt/v1/messages", &anthropic_body())
        .await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("9"));
    assert_eq!(anthropic_error(&reply)["type"], "rate_limit_error");

    // Same protocol: the vendor's own error comes back as it was.
    gateway.mock.push_fault(Fault::rate_limited(Some(3)));
    let reply = gateway.post_json(OPENAI_PATH, &openai_body("gpt")).await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("3"));
    assert_eq!(openai_error(&reply)["code"], "rate_limit_exceeded");

    assert_eq!(gateway.received().len(), 3);
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn upstream_server_errors_reach_the_client_in_its_shape() {
    let gateway = Gateway::start().await;
    gateway.mock.push_fault(Fault::server_error());
    let reply = gateway.post_json(OPENAI_PATH, &openai_body("claude")).await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    openai_error(&reply);

    gateway.mock.push_fault(Fault::server_error());
    let reply = gateway
        .post_json("/gpt/v1/messages", &anthropic_body())
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    anthropic_error(&reply);

    // One 500 on a one-lane model does not take the lane out.
    gateway.assert_still_serving().await;

    // Anthropic's 529 overload is a 503 for an OpenAI client.
    gateway.mock.push_fault(Fault::overloaded());
    let reply = gateway.post_json(OPENAI_PATH, &openai_body("claude")).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    openai_error(&reply);

    // OpenAI's 503 overload is Anthropic's overloaded_error.
    gateway.mock.push_fault(Fault::overloaded());
    let reply = gateway
        .post_json("/gpt/v1/messages", &anthropic_body())
        .await;
    assert!(
        matches!(reply.status, 503 | 529),
        "{} {}",
        reply.status,
        reply.text()
    );
    assert_eq!(anthropic_error(&reply)["type"], "overloaded_error");
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn an_upstream_connection_reset_is_a_502_in_the_client_shape() {
    let gateway = Gateway::start().await;
    for model in ["claude", "gpt"] {
        gateway.mock.push_fault(Fault::Reset);
        let reply = gateway.post_json(OPENAI_PATH, &openai_body(model)).await;
        assert_eq!(reply.status, 502, "{model}: {}", reply.text());
        openai_error(&reply);
    }
    for name in ["gpt", "claude"] {
        gateway.mock.push_fault(Fault::Reset);
        let reply = gateway
            .post_json(&format!("/{name}/v1/messages"), &anthropic_body())
            .await;
        assert_eq!(reply.status, 502, "{name}: {}", reply.text());
        anthropic_error(&reply);
    }
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn an_upstream_error_mid_stream_becomes_the_client_protocol_error_event() {
    let gateway = Gateway::start().await;
    let fault = || Fault::StreamError {
        after_events: 3,
        error: VendorError::new(ErrorKind::Overloaded),
    };

    gateway.mock.push_fault(fault());
    let reply = gateway
        .stream(OPENAI_PATH, &streamed(openai_body("claude")))
        .await;
    assert_eq!(reply.status, 200, "the headers went out before the failure");
    let error = openai_stream_error(&reply)
        .unwrap_or_else(|| panic!("no in-stream error for the OpenAI client: {}", reply.text()));
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    assert!(
        !reply.text().contains("\"finish_reason\":\"stop\""),
        "{}",
        reply.text()
    );

    gateway.mock.push_fault(fault());
    let reply = gateway
        .stream("/gpt/v1/messages", &streamed(anthropic_body()))
        .await;
    assert_eq!(reply.status, 200);
    let error = anthropic_stream_error(&reply)
        .unwrap_or_else(|| panic!("no event: error for the Anthropic client: {}", reply.text()));
    assert_eq!(error["type"], "error");
    assert!(error["error"]["type"].is_string(), "{error}");
    assert!(!reply.names().contains(&"message_stop"), "{}", reply.text());

    // Same protocol: the vendor's error event is relayed.
    gateway.mock.push_fault(fault());
    let reply = gateway
        .stream("/claude/v1/messages", &streamed(anthropic_body()))
        .await;
    let error = anthropic_stream_error(&reply).unwrap_or_else(|| panic!("{}", reply.text()));
    assert_eq!(error["error"]["type"], "overloaded_error");

    gateway.assert_still_serving().await;
}

/// Streams cut three ways before their terminal event, across protocols: the
/// client must see an in-stream error in its own protocol.
#[tokio::test]
async fn a_translated_stream_cut_short_ends_with_an_in_stream_error() {
    let gateway = Gateway::start().await;
    let cuts = [
        Fault::TruncateStream { after_events: 3 },
        Fault::AbortStream { after_events: 3 },
    ];
    for cut in cuts {
        gateway.mock.push_fault(FaultRule::new(cut.clone()));
        let reply = gateway
            .stream(OPENAI_PATH, &streamed(openai_body("claude")))
            .await;
        assert!(
            openai_stream_error(&reply).is_some(),
            "{cut:?}: the OpenAI client got no in-stream error: {}",
            reply.text()
        );
        assert!(
            !reply.text().contains("\"finish_reason\":\"stop\""),
            "{cut:?}: {}",
            reply.text()
        );

        gateway.mock.push_fault(FaultRule::new(cut.clone()));
        let reply = gateway
            .stream("/gpt/v1/messages", &streamed(anthropic_body()))
            .await;
        assert!(
            anthropic_stream_error(&reply).is_some(),
            "{cut:?}: the Anthropic client got no event: error: {}",
            reply.text()
        );
        assert!(
            !reply.names().contains(&"message_stop"),
            "{cut:?}: {}",
            reply.text()
        );
    }
    gateway.assert_still_serving().await;
}

/// Cuts a relayed stream of each protocol with `cut`: the client must not
/// see a complete-looking stream, but an in-stream error and a clean end.
async fn assert_relayed_cut_is_not_a_clean_end(cut: Fault) {
    let gateway = Gateway::start().await;
    gateway.mock.push_fault(FaultRule::new(cut.clone()));
    let reply = gateway
        .stream(OPENAI_PATH, &streamed(openai_body("gpt")))
        .await;
    assert!(
        !reply.text().contains("[DONE]"),
        "{cut:?}: {}",
        reply.text()
    );
    assert!(
        reply.transport_error.is_none() && openai_stream_error(&reply).is_some(),
        "{cut:?}: the OpenAI relay ended without [DONE] and without an error event: {}",
        reply.text()
    );

    gateway.mock.push_fault(FaultRule::new(cut.clone()));
    let reply = gateway
        .stream("/claude/v1/messages", &streamed(anthropic_body()))
        .await;
    assert!(
        !reply.names().contains(&"message_stop"),
        "{cut:?}: {}",
        reply.text()
    );
    assert!(
        reply.transport_error.is_none() && anthropic_stream_error(&reply).is_some(),
        "{cut:?}: the Anthropic relay ended without message_stop and without an error event: {}",
        reply.text()
    );
    gateway.assert_still_serving().await;
}

/// The upstream ends its body cleanly, without the terminal event.
#[tokio::test]
async fn a_relayed_stream_truncated_upstream_does_not_end_cleanly() {
    assert_relayed_cut_is_not_a_clean_end(Fault::TruncateStream { after_events: 3 }).await;
}

/// The upstream connection breaks mid-body.
#[tokio::test]
async fn a_relayed_stream_aborted_upstream_does_not_end_cleanly() {
    assert_relayed_cut_is_not_a_clean_end(Fault::AbortStream { after_events: 3 }).await;
}
