//! Two busbar processes on one PostgreSQL store: one budget and one RPM
//! window, held exactly across both.
//!
//! The database comes from `BUSBAR_TEST_POSTGRES` (a `postgres://` URL).
//! The tests are `#[ignore]`d, so a plain `cargo test` lists them as
//! ignored; run on purpose (`-- --ignored`) without the variable, they fail.
//! `.ci/postgres.sh` runs them against a throwaway cluster. Tests share the
//! database: each works on keys of its own, and budgets and windows are per
//! key.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;

use super::{chat, Governed, SEAL_ENV};
use crate::support::{Busbar, Reply};

/// The store URL; a test run without one fails rather than pass having
/// tested nothing.
fn postgres_url() -> String {
    match std::env::var("BUSBAR_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "this PostgreSQL test needs BUSBAR_TEST_POSTGRES, a database it may create \
             tables in, e.g. postgres://postgres@127.0.0.1:5432/busbar_test \
             (.ci/postgres.sh starts a throwaway one and runs these tests)"
        ),
    }
}

/// A name no other run of any test uses, so keys never collide in the
/// shared database.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}-{}-{nanos}", std::process::id())
}

/// Replica A (the [`Governed`] itself, whose admin API creates the keys)
/// and replica B, a second process on the same configuration and store.
struct Replicas {
    a: Governed,
    b: Busbar,
}

impl Replicas {
    async fn start(url: &str, settings: &str) -> Self {
        let store = format!("  store: {url}\n  secret_key_env: {SEAL_ENV}\n{settings}");
        let a = Governed::start(&store, "").await;
        let b = a.spawn().await;
        Self { a, b }
    }

    /// A chat request with `secret`, to A for even `n` and to B for odd.
    async fn chat(&self, n: usize, secret: &str) -> Reply {
        let base = if n.is_multiple_of(2) {
            self.a.base.clone()
        } else {
            format!("http://{}", self.b.addr())
        };
        let bearer = format!("Bearer {secret}");
        let url = format!("{base}/v1/chat/completions");
        let body = Bytes::from(chat("fast").to_string());
        self.a
            .client
            .send("POST", &url, body, &[("authorization", &bearer)])
            .await
    }

    /// Fires `count` requests at once, alternating replicas; answers the
    /// number of 200s, and fails on anything but 200 or a 429 with `code`.
    async fn burst(self: &Arc<Self>, count: usize, secret: &str, code: &str) -> usize {
        let secret: Arc<str> = Arc::from(secret);
        let tasks: Vec<_> = (0..count)
            .map(|n| {
                let replicas = Arc::clone(self);
                let secret = Arc::clone(&secret);
                tokio::spawn(async move {
                    let reply = replicas.chat(n, &secret).await;
                    (reply.status, reply.text())
                })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            let (status, text) = task.await.expect("the request task does not panic");
            match status {
                200 => ok += 1,
                429 => assert!(text.contains(code), "{text}"),
                other => panic!("unexpected {other}: {text}"),
            }
        }
        ok
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]
async fn two_replicas_share_one_budget_exactly() {
    let url = postgres_url();
    let replicas = Arc::new(Replicas::start(&url, "  price_per_request_cents: 1\n").await);
    let (id, secret) = replicas
        .a
        .create_key(json!({"name": unique("replicas-budget"), "max_budget_cents": 10}))
        .await;
    let ok = replicas.burst(40, &secret, "insufficient_quota").await;
    assert_eq!(ok, 10, "A:\n{}\nB:\n{}", replicas.a.log(), replicas.b.log());
    assert_eq!(replicas.a.mock.received().len(), 10);
    let usage = replicas.a.usage(&id).await;
    assert_eq!(
        (usage["requests"].clone(), usage["spend_cents"].clone()),
        (json!(10), json!(10)),
        "{usage}"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: BUSBAR_TEST_POSTGRES=postgres://… cargo test -- --ignored"]
async fn two_replicas_share_one_rpm_window() {
    let url = postgres_url();
    let replicas = Arc::new(Replicas::start(&url, "").await);
    let (id, secret) = replicas
        .a
        .create_key(json!({"name": unique("replicas-rpm"), "rpm_limit": 6}))
        .await;
    let ok = replicas.burst(20, &secret, "rate_limit_exceeded").await;
    assert_eq!(ok, 6);
    assert_eq!(replicas.a.mock.received().len(), 6);
    let usage = replicas.a.usage(&id).await;
    assert_eq!(usage["requests"], 6, "{usage}");
}
