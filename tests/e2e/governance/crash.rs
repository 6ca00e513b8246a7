//! `kill -9` in the middle of a load on the SQLite store: after a restart
//! the key is charged for every reply a client received and for none twice.
//!
//! The exact rule: with `seen` the 2xx replies clients received before the
//! kill and `in_flight` the requests sent before the kill that got no reply,
//! `seen <= requests <= seen + in_flight`, and `spend_cents` is `requests`
//! times the price. Busbar settles a complete reply before sending it, so
//! every reply seen was charged; a request whose charge was settled but
//! whose reply was lost with the process may be charged too, and nothing
//! else can be.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use busbar_testkit::Fault;
use bytes::Bytes;
use serde_json::json;

use super::{chat, Governed};

/// Clients sending at once, and requests in all.
const CLIENTS: usize = 10;
const REQUESTS: usize = 60;
/// Successes seen before the kill.
const KILL_AFTER: usize = 20;
const PRICE_CENTS: u64 = 3;

/// What the clients saw.
#[derive(Default)]
struct Tally {
    seen: AtomicUsize,
    in_flight: AtomicUsize,
    sent: AtomicUsize,
}

#[tokio::test]
async fn kill_9_mid_load_charges_each_reply_once() {
    let mut governed =
        Governed::start(&format!("  price_per_request_cents: {PRICE_CENTS}\n"), "").await;
    let (id, secret) = governed
        .create_key(json!({"name": "crash", "max_budget_cents": 100_000}))
        .await;
    for _ in 0..REQUESTS {
        governed
            .mock
            .push_fault(Fault::DelayHeaders(Duration::from_millis(100)));
    }
    let url = format!("{}/v1/chat/completions", governed.base);
    let bearer = format!("Bearer {secret}");
    let tally = Arc::new(Tally::default());
    let killed = Arc::new(AtomicBool::new(false));
    let client = Arc::new(crate::support::Client::new());
    let workers: Vec<_> = (0..CLIENTS)
        .map(|n| {
            // Half on each pool, within both lanes' `max_concurrent` of 8.
            let model = if n.is_multiple_of(2) { "fast" } else { "slow" };
            let (tally, killed, client) = (tally.clone(), killed.clone(), client.clone());
            let (url, bearer) = (url.clone(), bearer.clone());
            tokio::spawn(async move {
                while tally.sent.fetch_add(1, Ordering::SeqCst) < REQUESTS {
                    let before_kill = !killed.load(Ordering::SeqCst);
                    let body = Bytes::from(chat(model).to_string());
                    let headers = [("authorization", bearer.as_str())];
                    let reply = match client.try_open("POST", &url, body, &headers).await {
                        Ok(open) => Some(open.finish().await),
                        Err(_) => None,
                    };
                    match reply {
                        Some(reply) if reply.status == 200 && reply.transport_error.is_none() => {
                            tally.seen.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(reply) if reply.transport_error.is_none() => {
                            panic!("unexpected {}: {}", reply.status, reply.text())
                        }
                        _ => {
                            // The process is gone: this client stops.
                            if before_kill {
                                tally.in_flight.fetch_add(1, Ordering::SeqCst);
                            }
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    // Kill once a third of the load is through, with requests in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tally.seen.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(tokio::time::Instant::now() < deadline, "the load stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen_at_kill = tally.seen.load(Ordering::SeqCst);
    killed.store(true, Ordering::SeqCst);
    governed
        .busbar
        .as_ref()
        .expect("busbar is running")
        .signal("KILL");
    for worker in workers {
        worker.await.expect("a client does not panic");
    }
    let seen = tally.seen.load(Ordering::SeqCst);
    let in_flight = tally.in_flight.load(Ordering::SeqCst);
    // Replies that completed between the snapshot and the signal count as seen.
    assert!(seen >= seen_at_kill && seen < REQUESTS, "{seen}");
    assert!(in_flight > 0, "the kill came with no request in flight");

    governed.restart().await;
    let usage = governed.usage(&id).await;
    let requests = usage["requests"].as_u64().expect("requests") as usize;
    eprintln!("kill -9: {seen} replies seen, {in_flight} in flight, {requests} charged");
    assert!(
        seen <= requests && requests <= seen + in_flight,
        "seen {seen}, in flight {in_flight}, charged {usage}"
    );
    assert_eq!(
        usage["spend_cents"],
        requests as u64 * PRICE_CENTS,
        "{usage}"
    );
    assert!(requests <= governed.mock.received().len());
    // The restarted process goes on charging from where the store was.
    let reply = governed.chat(&secret, "fast").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let after = governed.usage(&id).await;
    assert_eq!(after["requests"], requests as u64 + 1, "{after}");
}
