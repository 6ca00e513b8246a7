//! Lane limits: `max_concurrent` refuses rather than queues, and
//! `max_requests` is a lifetime budget charged only for what succeeded.

use std::time::{Duration, Instant};

use busbar_testkit::{Fault, FaultRule};
use serde_json::{json, Value};

use crate::support::{anthropic_error, openai_error, Gateway, Setup, DEFAULT_MODELS};

const SOLO: &str = "
  solo:
    provider: mock-anthropic
    max_concurrent: 1
";

const CAPPED: &str = "
  capped:
    provider: mock-openai
    max_concurrent: 4
    max_requests: 2
  capped-claude:
    provider: mock-anthropic
    max_concurrent: 4
    max_requests: 2
";

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

fn messages() -> Value {
    json!({"max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]})
}

/// Polls until the upstream has seen `count` requests (at most 10 s).
async fn wait_for_upstream(gateway: &Gateway, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while gateway.mock.request_count() < count {
        assert!(
            Instant::now() < deadline,
            "the upstream never saw request {count}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn max_concurrent_refuses_a_second_request_with_429_while_the_first_succeeds() {
    let gateway = Setup::new().models(SOLO).start().await;
    gateway
        .mock
        .push_fault(Fault::DelayHeaders(Duration::from_millis(1500)));
    let first = {
        let url = format!("{}/v1/chat/completions", gateway.base);
        let body = chat("solo").to_string();
        tokio::spawn(async move {
            crate::support::Client::new()
                .send("POST", &url, body.into(), &[])
                .await
        })
    };
    wait_for_upstream(&gateway, 1).await;

    let refused = gateway
        .post_json("/v1/chat/completions", &chat("solo"))
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(
        refused.header("retry-after").is_some(),
        "{:?}",
        refused.headers
    );
    openai_error(&refused);

    let refused = gateway.post_json("/solo/v1/messages", &messages()).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(
        refused.header("retry-after").is_some(),
        "{:?}",
        refused.headers
    );
    anthropic_error(&refused);

    let first = first.await.expect("the first request's task");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(
        gateway.received().len(),
        1,
        "refused requests never go upstream"
    );

    let after = gateway
        .post_json("/v1/chat/completions", &chat("solo"))
        .await;
    assert_eq!(
        after.status,
        200,
        "the slot is free again: {}",
        after.text()
    );
}

#[tokio::test]
async fn a_stream_holds_its_slot_until_it_ends() {
    let gateway = Setup::new().models(SOLO).start().await;
    gateway.mock.push_fault(Fault::StallStream {
        after_events: 2,
        pause: Duration::from_millis(800),
    });
    let mut body = chat("solo");
    body["stream"] = json!(true);
    let mut open = gateway
        .open_stream("/v1/chat/completions", &body, &[])
        .await;
    assert_eq!(open.status, 200);
    open.next_chunk().await.expect("a first chunk");

    let refused = gateway
        .post_json("/v1/chat/completions", &chat("solo"))
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text());

    let stream = open.finish().await;
    assert!(stream.text().contains("[DONE]"), "{}", stream.text());
    let after = gateway
        .post_json("/v1/chat/completions", &chat("solo"))
        .await;
    assert_eq!(after.status, 200, "{}", after.text());
}

#[tokio::test]
async fn max_requests_is_a_lifetime_budget() {
    let gateway = Setup::new()
        .models(&format!("{DEFAULT_MODELS}{CAPPED}"))
        .start()
        .await;
    assert_eq!(gateway.lane_stats("capped").await["budget"], 2);
    for _ in 0..2 {
        let reply = gateway
            .post_json("/v1/chat/completions", &chat("capped"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // At 0 the lane is dead.
    let lane = gateway.lane_stats("capped").await;
    assert_eq!(lane["dead"], true, "{lane}");
    assert_eq!(lane["dead_reason"], "budget_exhausted", "{lane}");
    assert_eq!(lane["usable"], false, "{lane}");
    assert_eq!(lane["budget"], 0, "{lane}");

    let spent = gateway
        .post_json("/v1/chat/completions", &chat("capped"))
        .await;
    assert_eq!(spent.status, 503, "{}", spent.text());
    openai_error(&spent);
    let spent = gateway.post_json("/capped/v1/messages", &messages()).await;
    assert_eq!(spent.status, 503, "{}", spent.text());
    anthropic_error(&spent);
    assert_eq!(
        gateway.received().len(),
        2,
        "a spent lane sends nothing upstream"
    );

    // Other lanes are unaffected.
    gateway.assert_still_serving().await;
}

#[tokio::test]
async fn failed_upstream_calls_do_not_consume_max_requests() {
    let gateway = Setup::new()
        .models(&format!("{DEFAULT_MODELS}{CAPPED}"))
        .start()
        .await;
    gateway.mock.push_fault(Fault::server_error());
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("capped"))
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    gateway.mock.push_fault(Fault::Reset);
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("capped"))
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        gateway.lane_stats("capped").await["budget"],
        2,
        "errors are not charged"
    );

    // A stream that breaks after its 200 is refunded.
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::AbortStream { after_events: 2 }));
    let mut body = chat("capped-claude");
    body["stream"] = json!(true);
    let broken = gateway.stream("/v1/chat/completions", &body).await;
    assert_eq!(broken.status, 200);
    let lane = gateway.lane_stats("capped-claude").await;
    assert_eq!(lane["budget"], 2, "a broken stream is refunded: {lane}");

    for _ in 0..2 {
        let reply = gateway
            .post_json("/v1/chat/completions", &chat("capped"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let spent = gateway
        .post_json("/v1/chat/completions", &chat("capped"))
        .await;
    assert_eq!(spent.status, 503, "{}", spent.text());
    assert_eq!(
        gateway.lane_stats("capped").await["dead_reason"],
        "budget_exhausted"
    );
}

/// The value of an unlabelled gauge in `/metrics` (0 when absent).
async fn gauge(gateway: &Gateway, name: &str) -> f64 {
    let text = gateway.get("/metrics", &[]).await.text();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Polls until `name` satisfies `done` (at most 10 s).
async fn wait_for_gauge(gateway: &Gateway, name: &str, done: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = gauge(gateway, name).await;
        if done(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stayed at {value}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn request_bodies_held_together_are_bounded_and_the_excess_gets_503() {
    use tokio::io::AsyncWriteExt;
    const HELD: &str = "busbar_request_body_bytes_buffered";
    let gateway = Setup::new()
        .extra("limits: {max_body_bytes: 100000, max_buffered_body_bytes: 150000}")
        .start()
        .await;
    // The recorder is installed just after start; a gauge moved before it
    // would be missed.
    crate::support::Metrics::ready(&gateway).await;
    // A body that is 90 KB in and never finishes holds its bytes.
    let addr = gateway.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    slow.write_all(&[b' '; 90_000]).await.expect("write");
    wait_for_gauge(&gateway, HELD, |held| held >= 90_000.0).await;

    // 70 KB more would pass 150 KB: refused at once, in each caller's shape.
    let padding = "x".repeat(70_000);
    let big_chat = json!({"model": "gpt", "messages": [{"role": "user", "content": padding}]});
    let refused = gateway.post_json("/v1/chat/completions", &big_chat).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    openai_error(&refused);
    let big_messages = json!({"model": "claude", "max_tokens": 20, "messages": [{"role": "user", "content": padding}]});
    let refused = gateway.post_json("/v1/messages", &big_messages).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    anthropic_error(&refused);
    // A small body still fits beside the held one.
    assert_eq!(
        gateway
            .post_json("/v1/chat/completions", &chat("gpt"))
            .await
            .status,
        200
    );

    // The held bytes are given back when that client goes.
    drop(slow);
    wait_for_gauge(&gateway, HELD, |held| held == 0.0).await;
    let served = gateway.post_json("/v1/chat/completions", &big_chat).await;
    assert_eq!(served.status, 200, "{}", served.text());
}
