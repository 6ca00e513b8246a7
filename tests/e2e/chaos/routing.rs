//! Where requests go while lanes fail: weights, session affinity,
//! context-length failover, the failover cap, exclusions and deadline, and
//! what a pool does when none of its members is usable.

use std::collections::BTreeMap;
use std::time::Duration;

use busbar_testkit::{Fault, FaultRule};

use super::{
    anthropic_body, ask_anthropic, ask_openai, assert_anthropic_answer, assert_anthropic_error,
    assert_openai_answer, assert_openai_error, gateway, lane, openai_body, retry_after, served,
    streamed, upstream_models, Metrics, FAST_BREAKER, PROMPT,
};
use crate::support::{openai_stream_text, Gateway, Setup};

#[tokio::test]
async fn weights_two_to_one_put_exactly_two_of_every_three_requests_on_the_first_member() {
    let gateway = gateway(
        "
pools:
  w:
    members:
      - target: a
        weight: 2
      - target: b
",
    )
    .await;
    let mut lanes = Vec::new();
    for i in 0..9 {
        let lane = match i % 3 {
            0 => {
                let reply = ask_openai(&gateway, "w").await;
                assert_openai_answer(&reply);
                served(&reply)
            }
            1 => {
                let reply = ask_anthropic(&gateway, "w").await;
                assert_anthropic_answer(&reply);
                served(&reply)
            }
            _ => {
                let reply = gateway
                    .stream("/v1/chat/completions", &streamed(openai_body("w", PROMPT)))
                    .await;
                assert_eq!(openai_stream_text(&reply), format!("Echo: {PROMPT}"));
                reply
                    .header("x-busbar-model")
                    .unwrap_or_default()
                    .to_owned()
            }
        };
        lanes.push(lane);
    }
    for three in lanes.chunks(3) {
        assert_eq!(
            three.iter().filter(|l| *l == "a").count(),
            2,
            "every three requests: {lanes:?}"
        );
    }
    assert_eq!(upstream_models(&gateway), lanes);
}

/// Asks pool `s` for `session` through either ingress; returns the lane
/// that served it.
async fn ask_session(gateway: &Gateway, session: &str, anthropic: bool) -> String {
    let headers = [("x-session-id", session)];
    let reply = if anthropic {
        gateway
            .post(
                "/s/v1/messages",
                anthropic_body(PROMPT).to_string(),
                &headers,
            )
            .await
    } else {
        gateway
            .post(
                "/v1/chat/completions",
                openai_body("s", PROMPT).to_string(),
                &headers,
            )
            .await
    };
    assert_eq!(reply.status, 200, "{}", reply.text());
    served(&reply)
}

#[tokio::test]
async fn session_affinity_keeps_each_session_on_one_member() {
    let gateway = gateway(
        "
pools:
  s:
    affinity: {mode: session, header_name: x-session-id}
    members:
      - target: a
      - target: b
      - target: c
",
    )
    .await;
    let mut home = BTreeMap::new();
    for n in 0..8 {
        let session = format!("user-{n}");
        let first = ask_session(&gateway, &session, false).await;
        for anthropic in [true, false, true] {
            assert_eq!(
                ask_session(&gateway, &session, anthropic).await,
                first,
                "{session}"
            );
        }
        home.insert(session, first);
    }
    let mut members: Vec<&String> = home.values().collect();
    members.sort_unstable();
    members.dedup();
    assert!(members.len() >= 2, "sessions spread over members: {home:?}");

    // The member of `user-0` fails: that session moves to one other member
    // and stays there; sessions elsewhere do not move.
    let failing = home["user-0"].clone();
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::server_error()).model(failing.as_str()));
    let moved = ask_session(&gateway, "user-0", false).await;
    assert_ne!(moved, failing);
    assert_eq!(ask_session(&gateway, "user-0", true).await, moved);
    for (session, member) in &home {
        if *member != failing {
            assert_eq!(
                &ask_session(&gateway, session, true).await,
                member,
                "{session}"
            );
        }
    }
    gateway.mock.clear_faults();
    assert_eq!(
        ask_session(&gateway, "user-0", false).await,
        failing,
        "it comes back"
    );

    // Without the header the pool round-robins.
    let mut lanes = Vec::new();
    for _ in 0..3 {
        lanes.push(served(&ask_openai(&gateway, "s").await));
    }
    lanes.sort_unstable();
    assert_eq!(lanes, ["a", "b", "c"]);
}

#[tokio::test]
async fn a_prompt_too_long_fails_over_to_a_member_with_a_larger_context() {
    let gateway = Setup::new()
        .models(
            "
  small:
    provider: mock-anthropic
    max_concurrent: 8
  tiny:
    provider: mock-openai
    max_concurrent: 8
  big:
    provider: mock-openai
    max_concurrent: 8
",
        )
        .extra(
            "
pools:
  ctx:
    members:
      - target: small
        context_max: 1000
      - target: tiny
        context_max: 500
      - target: big
        context_max: 100000
  narrow:
    members:
      - target: small
        context_max: 1000
      - target: tiny
        context_max: 500
",
        )
        .start()
        .await;
    Metrics::ready(&gateway).await;
    let too_long = || FaultRule::new(Fault::context_length()).model("small");

    // `small` refuses; `tiny` is smaller still and skipped; `big` serves.
    gateway.mock.push_fault(too_long());
    let reply = ask_openai(&gateway, "ctx").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "big");
    assert_eq!(upstream_models(&gateway), ["small", "big"]);
    let small = lane(&gateway, "small").await;
    assert_eq!(
        (small.err, small.client_fault),
        (0, 1),
        "no penalty: {small:?}"
    );
    assert!(small.usable && small.streak == 0, "{small:?}");

    // Round-robin goes on: `tiny`, `big`, then `small` again, this time for
    // an Anthropic client.
    assert_eq!(served(&ask_openai(&gateway, "ctx").await), "tiny");
    assert_eq!(served(&ask_openai(&gateway, "ctx").await), "big");
    gateway.mock.push_fault(too_long());
    let reply = ask_anthropic(&gateway, "ctx").await;
    assert_anthropic_answer(&reply);
    assert_eq!(served(&reply), "big");

    // No member is larger: the client gets the refusal, in its own shape.
    gateway.mock.push_fault(too_long());
    let before = gateway.received().len();
    let reply = ask_openai(&gateway, "narrow").await;
    assert_openai_error(&reply, 400);
    assert_eq!(upstream_models(&gateway)[before..], ["small"]);

    let metrics = Metrics::read(&gateway).await;
    let context = [("pool", "ctx"), ("reason", "context_length")];
    assert_eq!(metrics.sum("busbar_failovers_total", &context), 2);
    assert_eq!(metrics.sum("busbar_breaker_trips_total", &[]), 0);
}

#[tokio::test]
async fn failover_stops_at_the_cap_skips_exclusions_and_ends_at_the_deadline() {
    let gateway = gateway(
        "
limits:
  first_byte_timeout_secs: 1
pools:
  capped:
    failover: {cap: 1}
    members: [{target: a}, {target: b}, {target: c}]
  excl:
    failover: {exclusions: [b]}
    members: [{target: a}, {target: b}, {target: c}]
  late:
    failover: {deadline_secs: 1}
    members: [{target: a}, {target: b}, {target: c}]
",
    )
    .await;
    // cap 1: the first pick and one more, then the client gets the error.
    gateway.mock.set_fault(Fault::server_error());
    let reply = ask_openai(&gateway, "capped").await;
    assert_openai_error(&reply, 500);
    assert_eq!(upstream_models(&gateway), ["a", "b"]);
    gateway.mock.clear_faults();

    // `b` is never failed over to, but may be picked first.
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::server_error()).model("a"));
    let reply = ask_openai(&gateway, "excl").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "c");
    assert_eq!(served(&ask_openai(&gateway, "excl").await), "b");
    assert_eq!(upstream_models(&gateway)[2..], ["a", "c", "b"]);

    // deadline 1 s: the first attempt times out after 1 s and no other starts.
    gateway
        .mock
        .set_fault(Fault::DelayHeaders(Duration::from_secs(3)));
    let reply = ask_anthropic(&gateway, "late").await;
    assert_anthropic_error(&reply, 504);
    assert_eq!(upstream_models(&gateway).len(), 6);
}

/// `rj` rejects and `lb` uses the least bad member, over the same two lanes,
/// each with its own breakers.
const EXHAUSTIBLE: &str = "
pools:
  rj:
    breaker: BREAKER
    members: [{target: a}, {target: b}]
  lb:
    breaker: BREAKER
    on_exhausted: {action: least_bad}
    members: [{target: a}, {target: b}]
  main:
    breaker: BREAKER
    on_exhausted: {action: \"fallback_pool:other\"}
    members: [{target: a}, {target: b}]
  other:
    members: [{target: c}]
";

/// Queues two 429s for `a` (`Retry-After: 3`) and two for `b` (6 s): enough
/// to open both in one pool, `a` recovering first.
fn queue_rate_limits(gateway: &Gateway) {
    for (model, wait) in [("a", 3), ("a", 3), ("b", 6), ("b", 6)] {
        gateway
            .mock
            .push_fault(FaultRule::new(Fault::rate_limited(Some(wait))).model(model));
    }
}

#[tokio::test]
async fn an_exhausted_pool_rejects_uses_the_least_bad_member_or_falls_back() {
    let gateway = gateway(&EXHAUSTIBLE.replace("BREAKER", FAST_BREAKER)).await;
    Metrics::ready(&gateway).await;

    // Open both lanes in `rj`: every request fails on both.
    queue_rate_limits(&gateway);
    for _ in 0..2 {
        assert_openai_error(&ask_openai(&gateway, "rj").await, 429);
    }
    assert_eq!(gateway.mock.pending_faults(), 0);
    let a = lane(&gateway, "a").await;
    assert!((2..=3).contains(&a.cooldown_remaining_s), "{a:?}");
    assert!(a.usable, "still closed in the other pools: {a:?}");
    assert!((5..=6).contains(&lane(&gateway, "b").await.cooldown_remaining_s));

    // reject: 503 with the soonest cooldown, nothing sent upstream.
    let before = gateway.received().len();
    let reply = ask_openai(&gateway, "rj").await;
    assert_openai_error(&reply, 503);
    assert!(
        (1..=3).contains(&retry_after(&reply)),
        "{:?}",
        reply.headers
    );
    let reply = ask_anthropic(&gateway, "rj").await;
    assert_anthropic_error(&reply, 503);
    assert_eq!(gateway.received().len(), before);

    // Breakers are per (pool, lane): `lb` still uses both lanes.
    let reply = ask_openai(&gateway, "lb").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "a");

    // Open both in `lb` too; least_bad then uses `a`, whose cooldown ends first.
    queue_rate_limits(&gateway);
    for _ in 0..2 {
        assert_eq!(ask_openai(&gateway, "lb").await.status, 429);
    }
    let reply = ask_anthropic(&gateway, "lb").await;
    assert_anthropic_answer(&reply);
    assert_eq!(served(&reply), "a");
    // A least_bad request is no probe: the breaker stays open.
    assert!(lane(&gateway, "a").await.cooldown_remaining_s > 0);

    // Open both in `main`; its requests then go to pool `other`.
    queue_rate_limits(&gateway);
    for _ in 0..2 {
        assert_eq!(ask_openai(&gateway, "main").await.status, 429);
    }
    let reply = ask_openai(&gateway, "main").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "c");
    let reply = ask_anthropic(&gateway, "main").await;
    assert_anthropic_answer(&reply);
    assert_eq!(served(&reply), "c");

    let metrics = Metrics::read(&gateway).await;
    for pool in ["rj", "lb", "main"] {
        for lane in ["a", "b"] {
            let labels = [("pool", pool), ("lane", lane)];
            assert_eq!(
                metrics.sum("busbar_breaker_trips_total", &labels),
                1,
                "{pool}/{lane}"
            );
        }
    }
    let main = [("pool", "main"), ("outcome", "success")];
    assert_eq!(metrics.sum("busbar_requests_total", &main), 2);
    let fallback = [("pool", "other"), ("lane", "c")];
    assert_eq!(metrics.sum("busbar_upstream_attempts_total", &fallback), 2);
}
