//! What a request is charged when it fails or its client leaves, spend
//! that outlives the process and holds that do not, budgets that hold under
//! a burst, and governance switched by a reload.

use std::sync::Arc;
use std::time::Duration;

use busbar_testkit::Fault;
use bytes::Bytes;
use serde_json::json;

use super::{chat, usage_settled, Governed, ADMIN_TOKEN};
use crate::support::openai_error;

#[tokio::test]
async fn failures_cost_nothing_and_a_client_that_leaves_pays() {
    let governed = Governed::start(
        "  price_per_request_cents: 1
",
        "",
    )
    .await;
    let (id, secret) = governed
        .create_key(json!({"name": "fragile", "max_budget_cents": 1}))
        .await;
    let bearer = format!("Bearer {secret}");
    let auth = [("authorization", bearer.as_str())];
    // An upstream error, and a stream that breaks after its 200: no charge,
    // and the whole one-cent budget is still there afterwards.
    governed.mock.push_fault(Fault::server_error());
    let failed = governed.chat(&secret, "fast").await;
    assert_eq!(failed.status, 500, "{}", failed.text());
    governed
        .mock
        .push_fault(Fault::AbortStream { after_events: 2 });
    let mut body = chat("slow");
    body["stream"] = json!(true);
    let broken = governed.post("/v1/chat/completions", &body, &auth).await;
    assert_eq!(broken.status, 200);
    assert!(broken.text().contains("error"), "{}", broken.text());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let usage = governed.usage(&id).await;
    assert_eq!(
        (usage["requests"].clone(), usage["spend_cents"].clone()),
        (json!(0), json!(0))
    );

    // A client that hangs up mid-stream was served: it pays, once Busbar
    // has read the rest of the stream for its usage.
    governed.mock.push_fault(Fault::StallStream {
        after_events: 2,
        pause: Duration::from_millis(500),
    });
    let url = format!("{}/v1/chat/completions", governed.base);
    let mut open = governed
        .client
        .open("POST", &url, Bytes::from(body.to_string()), &auth)
        .await;
    assert_eq!(open.status, 200);
    assert!(open.next_chunk().await.is_some());
    drop(open);
    let usage = usage_settled(&governed, &id, 1).await;
    assert_eq!(
        (usage["requests"].clone(), usage["spend_cents"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(governed.chat(&secret, "fast").await.status, 429);
}

#[tokio::test]
async fn spend_and_keys_survive_a_restart() {
    let mut governed = Governed::start("  price_per_request_cents: 1\n", "").await;
    let (id, secret) = governed
        .create_key(json!({"name": "durable", "max_budget_cents": 3}))
        .await;
    for _ in 0..2 {
        assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    }
    governed.restart().await;
    // The same secret still works, and the spend before the restart counts.
    let reply = governed.chat(&secret, "fast").await;
    assert_eq!(reply.status, 200, "{}\n{}", reply.text(), governed.log());
    let refused = governed.chat(&secret, "fast").await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(openai_error(&refused)["code"], "insufficient_quota");
    let usage = governed.usage(&id).await;
    assert_eq!(usage["requests"], 3, "{usage}");
    assert_eq!(usage["spend_cents"], 3, "{usage}");
    let list = governed.admin("GET", "/admin/keys", None).await.json();
    assert_eq!(list["keys"][0]["id"], id.as_str());
}

#[tokio::test]
async fn a_restart_releases_what_requests_in_flight_at_a_crash_held() {
    let mut governed = Governed::start("  price_per_request_cents: 1\n", "").await;
    let (id, secret) = governed
        .create_key(json!({"name": "crashed", "max_budget_cents": 1}))
        .await;
    governed.mock.push_fault(Fault::StallStream {
        after_events: 1,
        pause: Duration::from_secs(30),
    });
    let mut body = chat("fast");
    body["stream"] = json!(true);
    let bearer = format!("Bearer {secret}");
    let auth = [("authorization", bearer.as_str())];
    let url = format!("{}/v1/chat/completions", governed.base);
    let open = governed
        .client
        .open("POST", &url, Bytes::from(body.to_string()), &auth)
        .await;
    assert_eq!(open.status, 200);
    let usage = governed.usage(&id).await;
    assert_eq!(
        (usage["in_flight"].clone(), usage["reserved_cents"].clone()),
        (json!(1), json!(1)),
        "{usage}"
    );
    assert_eq!(governed.chat(&secret, "fast").await.status, 429);
    // kill -9 with the stream in flight: its hold goes with the process.
    governed.restart().await;
    drop(open);
    let usage = governed.usage(&id).await;
    assert_eq!(
        (usage["in_flight"].clone(), usage["reserved_cents"].clone()),
        (json!(0), json!(0)),
        "{usage}"
    );
    let reply = governed.chat(&secret, "fast").await;
    assert_eq!(reply.status, 200, "{}\n{}", reply.text(), governed.log());
    assert_eq!(governed.usage(&id).await["spend_cents"], 1);
}

#[tokio::test]
async fn forty_concurrent_requests_against_a_budget_for_ten() {
    let governed = Arc::new(Governed::start("  price_per_request_cents: 1\n", "").await);
    let (id, secret) = governed
        .create_key(json!({"name": "burst", "max_budget_cents": 10}))
        .await;
    let secret = Arc::new(secret);
    let mut tasks = Vec::new();
    for n in 0..40 {
        let governed = Arc::clone(&governed);
        let secret = Arc::clone(&secret);
        let model = if n % 2 == 0 { "fast" } else { "slow" };
        tasks.push(tokio::spawn(async move {
            let reply = governed.chat(&secret, model).await;
            (reply.status, reply.text())
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, text) = task.await.expect("the request task does not panic");
        match status {
            200 => ok += 1,
            429 => {
                assert!(text.contains("insufficient_quota"), "{text}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {text}"),
        }
    }
    assert_eq!((ok, refused), (10, 30));
    assert_eq!(governed.mock.received().len(), 10);
    let usage = governed.usage(&id).await;
    assert_eq!(
        (usage["requests"].clone(), usage["spend_cents"].clone()),
        (json!(10), json!(10))
    );
    let metrics = governed
        .get("/metrics", &[("x-admin-token", ADMIN_TOKEN)])
        .await
        .text();
    assert!(
        metrics.contains("busbar_governance_refusals_total{reason=\"budget\"} 30"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_reload_keeps_keys_and_switches_governance_off_and_on() {
    let governed = Governed::start("", "").await;
    let (id, secret) = governed.create_key(json!({"name": "kept"})).await;
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    // Unchanged settings: the running governor carries on.
    governed.reload(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    assert_eq!(governed.chat("", "fast").await.status, 401);

    governed.reload(false);
    let open = poll(|| async { governed.chat("", "fast").await.status == 200 }).await;
    assert!(open, "governance did not switch off:\n{}", governed.log());
    assert_eq!(governed.admin("GET", "/admin/keys", None).await.status, 404);

    governed.reload(true);
    let closed = poll(|| async { governed.chat("", "fast").await.status == 401 }).await;
    assert!(closed, "governance did not switch on:\n{}", governed.log());
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    let usage = governed.usage(&id).await;
    assert_eq!(usage["requests"], 3, "{usage}");
}

/// Polls `check` for up to five seconds.
async fn poll<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
