//! One failure kind at a time: on one lane of a two-lane pool the other lane
//! serves the request; on every lane the client gets the status of what
//! happened, in its own protocol. After the first byte nothing fails over:
//! the stream ends with an in-stream error.

use std::time::{Duration, Instant};

use busbar_testkit::{ErrorKind, Fault, FaultRule, VendorError};
use serde_json::Value;

use super::{
    anthropic_body, ask_anthropic, ask_openai, assert_anthropic_answer, assert_anthropic_error,
    assert_openai_answer, assert_openai_error, gateway, lane, openai_body, retry_after, served,
    streamed, upstream_count, upstream_models, Metrics, PROMPT,
};
use crate::support::{anthropic_stream_text, openai_stream_text, StreamReply};

/// `p` over `a` (OpenAI) then `b` (Anthropic), weights 1:1, so smooth
/// round-robin picks `a`, `b`, `a`, … first, and every failover crosses
/// protocols.
const POOL_AB: &str = "
pools:
  p:
    members:
      - target: a
      - target: b
";

#[tokio::test]
async fn a_server_error_on_one_lane_is_served_by_the_other() {
    let gateway = gateway(POOL_AB).await;
    Metrics::ready(&gateway).await;
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::server_error()).model("a"));
    for _ in 0..2 {
        // Picks `a` first: it fails and `b` serves.
        let reply = ask_openai(&gateway, "p").await;
        assert_openai_answer(&reply);
        assert_eq!(served(&reply), "b");
        // Picks `b` first.
        let reply = ask_anthropic(&gateway, "p").await;
        assert_anthropic_answer(&reply);
        assert_eq!(served(&reply), "b");
    }
    assert_eq!(upstream_models(&gateway), ["a", "b", "b", "a", "b", "b"]);

    // Two failures are below the default trip rule: `a` stays in use.
    let a = lane(&gateway, "a").await;
    assert_eq!((a.ok, a.err, a.client_fault), (0, 2, 0), "{a:?}");
    assert!(a.usable && a.dead_reason.is_none(), "{a:?}");
    assert_eq!((a.streak, a.cooldown_remaining_s), (0, 0), "{a:?}");
    let b = lane(&gateway, "b").await;
    assert_eq!((b.ok, b.err), (4, 0), "{b:?}");

    let metrics = Metrics::read(&gateway).await;
    let failures = [("pool", "p"), ("lane", "a"), ("disposition", "failover")];
    assert_eq!(metrics.sum("busbar_upstream_failures_total", &failures), 2);
    assert_eq!(
        metrics.sum("busbar_upstream_failures_total", &[("lane", "b")]),
        0
    );
    let server_error = [("pool", "p"), ("reason", "server_error")];
    assert_eq!(metrics.sum("busbar_failovers_total", &server_error), 2);
    assert_eq!(metrics.sum("busbar_breaker_trips_total", &[]), 0);
    let attempts = |lane| {
        metrics.sum(
            "busbar_upstream_attempts_total",
            &[("pool", "p"), ("lane", lane)],
        )
    };
    assert_eq!((attempts("a"), attempts("b")), (2, 4));
    for protocol in ["openai", "anthropic"] {
        let labels = [
            ("ingress_protocol", protocol),
            ("pool", "p"),
            ("outcome", "success"),
        ];
        assert_eq!(
            metrics.sum("busbar_requests_total", &labels),
            2,
            "{protocol}"
        );
    }
}

#[tokio::test]
async fn rate_limits_on_every_lane_reach_the_client_as_429_with_retry_after() {
    let gateway = gateway(POOL_AB).await;
    Metrics::ready(&gateway).await;
    gateway.mock.set_fault(Fault::rate_limited(Some(7)));

    // `a` then `b`: Anthropic's 429, translated for the OpenAI client.
    let reply = ask_openai(&gateway, "p").await;
    assert_openai_error(&reply, 429);
    assert_eq!(retry_after(&reply), 7);
    // `b` then `a`: OpenAI's 429, translated for the Anthropic client.
    let reply = ask_anthropic(&gateway, "p").await;
    assert_eq!(
        assert_anthropic_error(&reply, 429)["type"],
        "rate_limit_error"
    );
    assert_eq!(retry_after(&reply), 7);
    assert_eq!(upstream_models(&gateway), ["a", "b", "b", "a"]);

    let metrics = Metrics::read(&gateway).await;
    assert_eq!(
        metrics.sum("busbar_upstream_failures_total", &[("pool", "p")]),
        4
    );
    let failed = [("pool", "p"), ("outcome", "upstream_error")];
    assert_eq!(metrics.sum("busbar_requests_total", &failed), 2);
    // Each request failed over once (a → b, b → a); its second failure had
    // no lane left to go to, so it was returned, not failed over.
    let rate_limit = [("pool", "p"), ("reason", "rate_limit")];
    assert_eq!(
        metrics.sum("busbar_failovers_total", &rate_limit),
        2,
        "busbar_failovers_total counts failovers that happened"
    );
}

#[tokio::test]
async fn overload_fails_over_and_when_every_lane_is_overloaded_the_client_gets_503() {
    let gateway = gateway(
        "
pools:
  o:
    members:
      - target: b
      - target: a
  q:
    members:
      - target: b
      - target: d
",
    )
    .await;
    Metrics::ready(&gateway).await;
    // Anthropic's 529 on `b`: `a` serves.
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::overloaded()).model("b"));
    let reply = ask_openai(&gateway, "o").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "a");
    let metrics = Metrics::read(&gateway).await;
    let overloaded = [("pool", "o"), ("reason", "overloaded")];
    assert_eq!(metrics.sum("busbar_failovers_total", &overloaded), 1);

    // Every lane of `q` answers 529.
    gateway.mock.set_fault(Fault::overloaded());
    let reply = ask_openai(&gateway, "q").await;
    assert_openai_error(&reply, 503);
    // The Anthropic client gets Anthropic's own overload reply (529, or 503).
    let reply = ask_anthropic(&gateway, "q").await;
    assert!(
        matches!(reply.status, 503 | 529),
        "{} {}",
        reply.status,
        reply.text()
    );
    assert_eq!(
        assert_anthropic_error(&reply, reply.status)["type"],
        "overloaded_error"
    );
    assert_eq!(upstream_count(&gateway, "b"), 3);
    assert_eq!(upstream_count(&gateway, "d"), 2);
}

#[tokio::test]
async fn a_connection_reset_fails_over_and_resets_everywhere_are_a_502() {
    let gateway = gateway(POOL_AB).await;
    Metrics::ready(&gateway).await;
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::Reset).model("a"));
    let reply = ask_openai(&gateway, "p").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "b");

    gateway.mock.set_fault(Fault::Reset);
    let reply = ask_openai(&gateway, "p").await;
    assert_openai_error(&reply, 502);
    let reply = ask_anthropic(&gateway, "p").await;
    assert_anthropic_error(&reply, 502);
    assert_eq!(upstream_models(&gateway), ["a", "b", "b", "a", "a", "b"]);

    let metrics = Metrics::read(&gateway).await;
    assert!(
        metrics.sum(
            "busbar_failovers_total",
            &[("pool", "p"), ("reason", "network")]
        ) >= 3
    );
    assert_eq!(
        metrics.sum("busbar_upstream_failures_total", &[("pool", "p")]),
        5
    );
}

#[tokio::test]
async fn a_header_timeout_fails_over_and_timeouts_everywhere_are_a_504() {
    let gateway = gateway(&format!("limits:\n  first_byte_timeout_secs: 1\n{POOL_AB}")).await;
    Metrics::ready(&gateway).await;
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::DelayHeaders(Duration::from_secs(3))).model("a"));
    let started = Instant::now();
    let reply = ask_openai(&gateway, "p").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "b");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_millis(2900),
        "`a` was given up after first_byte_timeout_secs, not waited for: {waited:?}"
    );

    gateway
        .mock
        .set_fault(Fault::DelayHeaders(Duration::from_secs(3)));
    let (openai, anthropic) = tokio::join!(ask_openai(&gateway, "p"), ask_anthropic(&gateway, "p"));
    assert_openai_error(&openai, 504);
    assert_anthropic_error(&anthropic, 504);
    let metrics = Metrics::read(&gateway).await;
    let timeouts = [("pool", "p"), ("reason", "timeout")];
    assert!(metrics.sum("busbar_failovers_total", &timeouts) >= 3);
    assert_eq!(upstream_models(&gateway).len(), 6);
}

#[tokio::test]
async fn a_stream_whose_first_byte_is_late_fails_over() {
    let gateway = gateway(&format!("limits:\n  first_byte_timeout_secs: 1\n{POOL_AB}")).await;
    let slow = || FaultRule::new(Fault::DelayFirstByte(Duration::from_secs(3))).model("a");
    gateway.mock.push_fault(slow());
    gateway.mock.push_fault(slow());

    // Picks `a`: headers at once, then nothing for longer than the limit.
    let reply = gateway
        .stream("/v1/chat/completions", &streamed(openai_body("p", PROMPT)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-model"), Some("b"));
    assert_eq!(openai_stream_text(&reply), format!("Echo: {PROMPT}"));
    assert!(
        reply.text().ends_with("data: [DONE]\n\n"),
        "{}",
        reply.text()
    );

    // Picks `b`, which is fine.
    assert_openai_answer(&ask_openai(&gateway, "p").await);

    // Picks `a` again, for an Anthropic client this time.
    let reply = gateway
        .stream("/p/v1/messages", &streamed(anthropic_body(PROMPT)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-model"), Some("b"));
    assert_eq!(anthropic_stream_text(&reply), format!("Echo: {PROMPT}"));
    assert!(reply.names().contains(&"message_stop"), "{}", reply.text());

    assert_eq!(upstream_models(&gateway), ["a", "b", "b", "a", "b"]);
    let a = lane(&gateway, "a").await;
    assert_eq!((a.ok, a.err), (0, 2), "{a:?}");
}

#[tokio::test]
async fn streams_late_on_every_lane_are_a_504() {
    let gateway = gateway(&format!("limits:\n  first_byte_timeout_secs: 1\n{POOL_AB}")).await;
    gateway
        .mock
        .set_fault(Fault::DelayFirstByte(Duration::from_secs(3)));
    let (openai_request, anthropic_request) = (
        streamed(openai_body("p", PROMPT)),
        streamed(anthropic_body(PROMPT)),
    );
    let (openai, anthropic) = tokio::join!(
        gateway.stream("/v1/chat/completions", &openai_request),
        gateway.stream("/p/v1/messages", &anthropic_request),
    );
    // Timeouts, like a late header: 504, not a network error's 502.
    assert_eq!(openai.status, 504, "{}", openai.text());
    assert_eq!(anthropic.status, 504, "{}", anthropic.text());
    assert_eq!(upstream_models(&gateway).len(), 4);
}

/// Whether a streamed reply carries an in-stream error in the format of the
/// client that asked (`openai` or `anthropic`).
fn has_stream_error(reply: &StreamReply, client: &str) -> bool {
    match client {
        "openai" => reply
            .data()
            .iter()
            .any(|chunk| chunk.get("error").is_some_and(Value::is_object)),
        _ => reply
            .events
            .iter()
            .any(|event| event.name.as_deref() == Some("error")),
    }
}

/// Whether a streamed reply ended as a complete stream would.
fn looks_complete(reply: &StreamReply, client: &str) -> bool {
    match client {
        "openai" => reply.text().contains("[DONE]"),
        _ => reply.names().contains(&"message_stop"),
    }
}

#[tokio::test]
async fn a_stream_cut_after_the_first_byte_ends_with_an_in_stream_error_and_no_failover() {
    // Failures after the first byte count toward the trip rule; this test
    // cuts twelve streams in a row, so its breaker is made to never trip.
    let gateway = gateway(
        "
pools:
  p:
    breaker: {trip: {mode: consecutive, n: 100}}
    members:
      - target: a
      - target: b
",
    )
    .await;
    Metrics::ready(&gateway).await;
    let cuts = [
        Fault::StreamError {
            after_events: 3,
            error: VendorError::new(ErrorKind::Overloaded),
        },
        Fault::TruncateStream { after_events: 3 },
        Fault::AbortStream { after_events: 3 },
    ];
    let mut sent = 0;
    for cut in cuts {
        // The pool picks `a`, `b`, `a`, `b`: each client meets a relayed and
        // a translated stream.
        for client in ["openai", "anthropic", "anthropic", "openai"] {
            // No model in the rule: whichever lane the pool picks is cut.
            gateway.mock.push_fault(FaultRule::new(cut.clone()));
            let words = "one two three four five six seven eight nine ten";
            let reply = if client == "openai" {
                gateway
                    .stream("/v1/chat/completions", &streamed(openai_body("p", words)))
                    .await
            } else {
                gateway
                    .stream("/p/v1/messages", &streamed(anthropic_body(words)))
                    .await
            };
            sent += 1;
            assert_eq!(
                reply.status, 200,
                "{cut:?}/{client}: headers went out first"
            );
            let lane_name = reply
                .header("x-busbar-model")
                .unwrap_or_default()
                .to_owned();
            let relayed = matches!(
                (client, lane_name.as_str()),
                ("openai", "a") | ("anthropic", "b")
            );
            assert!(
                !looks_complete(&reply, client),
                "{cut:?}/{client} via {lane_name}: a cut stream must not look complete: {}",
                reply.text()
            );
            // A relayed abort may close the connection instead; anything
            // else must end with the client's own in-stream error event.
            let broken_off = relayed
                && matches!(cut, Fault::AbortStream { .. })
                && reply.transport_error.is_some();
            assert!(
                broken_off || has_stream_error(&reply, client),
                "{cut:?}/{client} via {lane_name}: no in-stream error: {}",
                reply.text()
            );
            // One upstream request: nothing fails over after the first byte.
            assert_eq!(
                gateway.received().len(),
                sent,
                "{cut:?}/{client}: {:?}",
                upstream_models(&gateway)
            );
        }
    }
    assert_eq!(gateway.mock.pending_faults(), 0);
    let (a, b) = (lane(&gateway, "a").await, lane(&gateway, "b").await);
    assert_eq!((a.ok + b.ok, a.err + b.err), (0, 12), "{a:?} {b:?}");
    let metrics = Metrics::read(&gateway).await;
    assert_eq!(metrics.sum("busbar_failovers_total", &[]), 0);
    assert_eq!(
        metrics.sum("busbar_requests_total", &[("pool", "p")]),
        12,
        "every cut stream is one request"
    );
    // The lanes still serve whole streams.
    let reply = gateway
        .stream("/v1/chat/completions", &streamed(openai_body("p", PROMPT)))
        .await;
    assert!(looks_complete(&reply, "openai"), "{}", reply.text());
}

#[tokio::test]
async fn a_stream_that_opens_with_an_error_event_fails_over() {
    let gateway = gateway(POOL_AB).await;
    let opens_with_error = || {
        FaultRule::new(Fault::StreamError {
            after_events: 0,
            error: VendorError::new(ErrorKind::Overloaded),
        })
        .model("a")
    };
    // Picks `a`: translated for the Anthropic client. Its first event is an
    // error and nothing has reached the client yet, so `b` is tried.
    gateway.mock.push_fault(opens_with_error());
    let reply = gateway
        .stream("/p/v1/messages", &streamed(anthropic_body(PROMPT)))
        .await;
    assert_eq!(
        reply.header("x-busbar-model"),
        Some("b"),
        "{}",
        reply.text()
    );
    assert_eq!(anthropic_stream_text(&reply), format!("Echo: {PROMPT}"));

    // Picks `b`, which is fine.
    assert_openai_answer(&ask_openai(&gateway, "p").await);

    // Picks `a` again: relayed for the OpenAI client, the same rule holds.
    gateway.mock.push_fault(opens_with_error());
    let reply = gateway
        .stream("/v1/chat/completions", &streamed(openai_body("p", PROMPT)))
        .await;
    assert_eq!(
        reply.header("x-busbar-model"),
        Some("b"),
        "a relayed stream whose first event is an error is failed over too: {}",
        reply.text()
    );
    assert_eq!(openai_stream_text(&reply), format!("Echo: {PROMPT}"));
    assert_eq!(upstream_models(&gateway), ["a", "b", "b", "a", "b"]);
}

#[tokio::test]
async fn a_relayed_reply_that_breaks_off_fails_over_and_is_never_sent_cut_short() {
    let gateway = gateway(POOL_AB).await;
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::AbortReply { after_bytes: 40 }).model("a"));
    // `a` speaks the client's protocol, so its reply would be relayed: it
    // breaks off after 40 bytes, and `b` serves the request whole.
    let reply = ask_openai(&gateway, "p").await;
    assert_openai_answer(&reply);
    assert_eq!(served(&reply), "b");
    let a = lane(&gateway, "a").await;
    assert_eq!((a.ok, a.err), (0, 1), "{a:?}");

    // With no other lane the client gets a 502, not a truncated 200.
    let reply = ask_openai(&gateway, "a").await;
    let error = assert_openai_error(&reply, 502);
    assert!(
        error["message"].as_str().unwrap().contains("broke off"),
        "{error}"
    );
}
