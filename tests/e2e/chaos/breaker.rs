//! Breakers: a lane that keeps failing opens its (pool, lane) breaker, cools
//! down, and the half-open probe decides; `/healthz` follows; an auth error
//! takes a lane hard-down everywhere.
//!
//! `/stats` folds every cell of a lane together: a lane is `usable` while
//! any cell admits it, including its own cell for direct calls, and shows
//! the longest cooldown and streak among its cells.

use std::time::Duration;

use busbar_testkit::{ErrorKind, Fault, FaultRule, VendorError};

use super::{
    ask_anthropic, ask_openai, assert_anthropic_answer, assert_anthropic_error,
    assert_openai_answer, assert_openai_error, gateway, lane, openai_body, retry_after, served,
    streamed, upstream_count, wait_for_lane, Metrics, FAST_BREAKER, PROMPT,
};
use crate::support::{Gateway, Setup};

/// A 500 whose `Retry-After: 2` floors the cooldown, so an open breaker
/// stays open for at least two seconds whatever the jitter and the load.
fn server_error_retry_after_2() -> Fault {
    Fault::Error(VendorError::new(ErrorKind::ServerError).with_retry_after(2))
}

/// Asks `p` alternately through both ingresses, `n` times, expecting every
/// answer from lane `b`.
async fn all_served_by_b(gateway: &Gateway, n: usize) {
    for i in 0..n {
        let reply = if i % 2 == 0 {
            ask_openai(gateway, "p").await
        } else {
            ask_anthropic(gateway, "p").await
        };
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(served(&reply), "b", "request {i}");
    }
}

#[tokio::test]
async fn a_lane_that_keeps_failing_opens_its_breaker_and_the_probe_decides() {
    let gateway = gateway(&format!(
        "
pools:
  p:
    breaker: {FAST_BREAKER}
    members:
      - target: a
      - target: b
"
    ))
    .await;
    Metrics::ready(&gateway).await;
    gateway
        .mock
        .set_fault(FaultRule::new(server_error_retry_after_2()).model("a"));

    // `a`, `b`, `a` are picked first: `a` fails twice in a row and trips;
    // every request is still answered, by `b`.
    all_served_by_b(&gateway, 3).await;
    assert_eq!(upstream_count(&gateway, "a"), 2);
    let metrics = Metrics::read(&gateway).await;
    let a_in_p = [("pool", "p"), ("lane", "a")];
    assert_eq!(metrics.sum("busbar_breaker_trips_total", &a_in_p), 1);
    let a = lane(&gateway, "a").await;
    assert_eq!(a.streak, 0, "a fresh trip: {a:?}");
    assert!(
        (1..=3).contains(&a.cooldown_remaining_s),
        "Retry-After 2 floors the 1 s cooldown: {a:?}"
    );
    // Open in `p` only: `a` is still usable through its direct cell.
    assert!(a.usable && !a.dead, "{a:?}");
    assert_eq!(a.err, 2);

    // While it cools down, `p` sends nothing to `a`.
    all_served_by_b(&gateway, 4).await;
    assert_eq!(
        upstream_count(&gateway, "a"),
        2,
        "no traffic to an open lane"
    );

    // Cooled down: the next request that picks `a` is the probe. It fails,
    // so the breaker reopens with the streak one higher.
    wait_for_lane(
        &gateway,
        "a",
        Duration::from_secs(5),
        "its cooldown end",
        |a| a.cooldown_remaining_s == 0,
    )
    .await;
    assert_eq!(upstream_count(&gateway, "a"), 2, "/stats never probes");
    for _ in 0..2 {
        if upstream_count(&gateway, "a") == 3 {
            break;
        }
        all_served_by_b(&gateway, 1).await;
    }
    assert_eq!(upstream_count(&gateway, "a"), 3, "exactly one probe");
    let a = lane(&gateway, "a").await;
    assert_eq!(a.streak, 1, "{a:?}");
    assert!((1..=3).contains(&a.cooldown_remaining_s), "{a:?}");
    let metrics = Metrics::read(&gateway).await;
    assert_eq!(metrics.sum("busbar_breaker_trips_total", &a_in_p), 2);

    // The upstream recovers; after the (doubled) cooldown the probe
    // succeeds and closes the breaker.
    gateway.mock.clear_faults();
    wait_for_lane(
        &gateway,
        "a",
        Duration::from_secs(5),
        "its cooldown end",
        |a| a.cooldown_remaining_s == 0,
    )
    .await;
    let mut by_a = None;
    for _ in 0..2 {
        let reply = ask_openai(&gateway, "p").await;
        assert_openai_answer(&reply);
        if served(&reply) == "a" {
            by_a = Some(reply);
            break;
        }
    }
    assert!(by_a.is_some(), "the probe went to `a` and succeeded");
    let a = lane(&gateway, "a").await;
    assert_eq!((a.ok, a.streak, a.cooldown_remaining_s), (1, 0, 0), "{a:?}");
    // Closed: `a` takes its share again.
    let mut lanes = Vec::new();
    for _ in 0..4 {
        let reply = ask_anthropic(&gateway, "p").await;
        assert_anthropic_answer(&reply);
        lanes.push(served(&reply));
    }
    assert_eq!(lanes.iter().filter(|l| *l == "a").count(), 2, "{lanes:?}");
}

#[tokio::test]
async fn healthz_is_503_while_every_cell_is_open_and_ok_once_a_cooldown_ends() {
    let gateway = Setup::new()
        .models(
            "
  solo:
    provider: mock-openai
    max_concurrent: 8
",
        )
        .extra(&format!(
            "
pools:
  p:
    breaker: {FAST_BREAKER}
    members:
      - target: solo
"
        ))
        .start()
        .await;
    Metrics::ready(&gateway).await;
    gateway.mock.set_fault(server_error_retry_after_2());

    // Direct calls use the model's own cell, which has the default breaker
    // (error rate 0.5 over at least 5 requests, 15 s cooldown).
    for _ in 0..5 {
        assert_openai_error(&ask_openai(&gateway, "solo").await, 500);
    }
    let reply = gateway.get("/healthz", &[]).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "ok"),
        "pool `p` still admits `solo`"
    );
    // Two failures in a row open `solo` in `p` too.
    for _ in 0..2 {
        assert_openai_error(&ask_openai(&gateway, "p").await, 500);
    }
    let reply = gateway.get("/healthz", &[]).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (503, "no usable lanes")
    );
    let solo = lane(&gateway, "solo").await;
    assert!(solo.dead && !solo.usable, "{solo:?}");
    assert_eq!(solo.dead_reason.as_deref(), Some("breaker_open"));
    assert_eq!(solo.streak, 0);
    assert!(
        (12..=17).contains(&solo.cooldown_remaining_s),
        "the longest cooldown among its cells (the direct one, ~15 s): {solo:?}"
    );

    // An exhausted pool rejects at once, with the soonest cooldown.
    let upstream_before = gateway.received().len();
    let reply = ask_openai(&gateway, "p").await;
    assert_openai_error(&reply, 503);
    assert!(
        (1..=3).contains(&retry_after(&reply)),
        "{:?}",
        reply.headers
    );
    let reply = ask_anthropic(&gateway, "solo").await;
    assert_anthropic_error(&reply, 503);
    assert!(retry_after(&reply) >= 12, "{:?}", reply.headers);
    assert_eq!(gateway.received().len(), upstream_before);

    // Once `p`'s cooldown ends its cell is half-open, which counts as usable.
    gateway.mock.clear_faults();
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    loop {
        let reply = gateway.get("/healthz", &[]).await;
        if reply.status == 200 {
            assert_eq!(reply.text(), "ok");
            break;
        }
        assert_eq!(reply.text(), "no usable lanes");
        assert!(std::time::Instant::now() < deadline, "/healthz stayed 503");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        gateway.received().len(),
        upstream_before,
        "/healthz and /stats never take the probe"
    );
    // The next request is the probe; it succeeds and closes the breaker.
    let reply = ask_openai(&gateway, "p").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "solo");
    let solo = lane(&gateway, "solo").await;
    assert!(solo.usable && solo.dead_reason.is_none(), "{solo:?}");
    assert_eq!((solo.ok, solo.streak), (1, 0), "{solo:?}");
    assert_eq!(gateway.get("/healthz", &[]).await.status, 200);

    let metrics = Metrics::read(&gateway).await;
    let trips = |pool| {
        metrics.sum(
            "busbar_breaker_trips_total",
            &[("pool", pool), ("lane", "solo")],
        )
    };
    assert_eq!(
        (trips("p"), trips("solo")),
        (1, 1),
        "the pool's and the direct cell"
    );
}

#[tokio::test]
async fn an_auth_error_is_returned_and_takes_the_lane_hard_down() {
    let gateway = gateway(
        "
pools:
  p:
    members:
      - target: a
      - target: b
",
    )
    .await;
    Metrics::ready(&gateway).await;
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::status(401)).model("a"));
    // Same protocol: the vendor's 401 comes back as it was, not failed over.
    let reply = ask_openai(&gateway, "p").await;
    assert_eq!(assert_openai_error(&reply, 401)["code"], "invalid_api_key");
    assert_eq!(gateway.received().len(), 1);

    let a = lane(&gateway, "a").await;
    assert!(a.dead && !a.usable, "{a:?}");
    assert_eq!(a.dead_reason.as_deref(), Some("auth"));
    assert!(
        (1700..=1800).contains(&a.cooldown_remaining_s),
        "hard-down for 30 minutes: {a:?}"
    );
    assert_eq!((a.err, a.client_fault), (1, 0));

    // Every pool and direct call avoids it; the rest keeps serving.
    for _ in 0..2 {
        let reply = ask_openai(&gateway, "p").await;
        assert_openai_answer(&reply);
        assert_eq!(served(&reply), "b");
        let reply = ask_anthropic(&gateway, "p").await;
        assert_anthropic_answer(&reply);
        assert_eq!(served(&reply), "b");
    }
    let reply = ask_openai(&gateway, "a").await;
    assert_openai_error(&reply, 503);
    assert!(
        (1700..=1800).contains(&retry_after(&reply)),
        "{:?}",
        reply.headers
    );
    assert_eq!(upstream_count(&gateway, "a"), 1);
    assert_eq!(gateway.get("/healthz", &[]).await.status, 200);

    // Translated: an Anthropic client of an OpenAI lane sees its own 401.
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::status(401)).model("c"));
    let reply = ask_anthropic(&gateway, "c").await;
    assert_eq!(
        assert_anthropic_error(&reply, 401)["type"],
        "authentication_error"
    );
    assert_eq!(
        lane(&gateway, "c").await.dead_reason.as_deref(),
        Some("auth")
    );

    let metrics = Metrics::read(&gateway).await;
    let returned = [("pool", "p"), ("lane", "a"), ("disposition", "returned")];
    assert_eq!(metrics.sum("busbar_upstream_failures_total", &returned), 1);
    assert_eq!(metrics.sum("busbar_failovers_total", &[]), 0);
    let upstream_error = [("pool", "p"), ("outcome", "upstream_error")];
    assert_eq!(metrics.sum("busbar_requests_total", &upstream_error), 1);
}

#[tokio::test]
async fn a_trip_caused_by_failures_after_the_first_byte_is_counted_in_metrics() {
    let gateway = gateway(
        "
pools:
  p:
    breaker: {trip: {mode: consecutive, n: 2}, base_cooldown_secs: 5, max_cooldown_secs: 10}
    members:
      - target: a
      - target: b
",
    )
    .await;
    Metrics::ready(&gateway).await;
    for _ in 0..2 {
        gateway.mock.push_fault(
            FaultRule::new(Fault::StreamError {
                after_events: 2,
                error: VendorError::new(ErrorKind::ServerError),
            })
            .model("a"),
        );
    }
    // `a`, `b`, `a`: both streams on `a` break after their first bytes.
    let body = streamed(openai_body("p", PROMPT));
    let mut lanes = Vec::new();
    for _ in 0..3 {
        let reply = gateway.stream("/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 200);
        lanes.push(
            reply
                .header("x-busbar-model")
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(lanes, ["a", "b", "a"]);
    let a = lane(&gateway, "a").await;
    assert_eq!(a.err, 2, "{a:?}");
    assert!(
        a.cooldown_remaining_s > 0,
        "two failures in a row opened it: {a:?}"
    );
    let metrics = Metrics::read(&gateway).await;
    assert_eq!(
        metrics.sum(
            "busbar_breaker_trips_total",
            &[("pool", "p"), ("lane", "a")]
        ),
        1,
        "every opening is counted, whatever stage the failure came at"
    );
}
