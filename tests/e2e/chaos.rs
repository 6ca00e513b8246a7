//! Chaos: the mock upstream fails in every way it can, and each test checks
//! what the client received (status, body in its own protocol, headers) and
//! what the gateway reports about it in `/stats` and `/metrics`.
//!
//! * `failover` — one failure kind at a time: on one lane (the other lane
//!   serves), then on every lane (the status the client sees);
//! * `breaker` — trips, cooldowns, the half-open probe, `/healthz`, and the
//!   hard-down an auth error causes;
//! * `routing` — weights, session affinity, context-length failover, the
//!   failover cap, exclusions and deadline, and the exhaustion policies.
//!
//! The lanes are named after their upstream model ids (`a`, `b`, …), so a
//! fault rule for model `a` hits exactly lane `a`. Breakers use short
//! cooldowns ([`FAST_BREAKER`]); where a test must see a breaker open for a
//! while, the failures carry a `Retry-After`, which floors the cooldown, so
//! the window is wide enough on a slow machine and no test sleeps blindly.

mod breaker;
mod failover;
mod routing;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub(crate) use crate::support::Metrics;
use crate::support::{anthropic_error, openai_error, text_of, Gateway, Reply, Setup};

/// Four lanes on the mock, each sending its own name upstream: `a` and `c`
/// speak OpenAI, `b` and `d` Anthropic.
pub(crate) const LANES: &str = "
  a:
    provider: mock-openai
    max_concurrent: 32
  b:
    provider: mock-anthropic
    max_concurrent: 32
  c:
    provider: mock-openai
    max_concurrent: 32
  d:
    provider: mock-anthropic
    max_concurrent: 32
";

/// A breaker that opens after two failures in a row for one second (two
/// after a failed probe).
pub(crate) const FAST_BREAKER: &str =
    "{trip: {mode: consecutive, n: 2}, base_cooldown_secs: 1, max_cooldown_secs: 2}";

/// What every request in these tests asks.
pub(crate) const PROMPT: &str = "hello";

/// A gateway over [`LANES`] with `extra` top-level YAML (pools, limits).
pub(crate) async fn gateway(extra: &str) -> Gateway {
    Setup::new().models(LANES).extra(extra).start().await
}

/// An OpenAI Chat request for `model`.
pub(crate) fn openai_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// An Anthropic Messages request (the model goes in the URL).
pub(crate) fn anthropic_body(text: &str) -> Value {
    json!({"max_tokens": 64, "messages": [{"role": "user", "content": text}]})
}

/// The same request, streamed.
pub(crate) fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

/// Asks `name` through the OpenAI Chat ingress.
pub(crate) async fn ask_openai(gateway: &Gateway, name: &str) -> Reply {
    gateway
        .post_json("/v1/chat/completions", &openai_body(name, PROMPT))
        .await
}

/// Asks `name` through the Anthropic ingress (`/NAME/v1/messages`).
pub(crate) async fn ask_anthropic(gateway: &Gateway, name: &str) -> Reply {
    gateway
        .post_json(&format!("/{name}/v1/messages"), &anthropic_body(PROMPT))
        .await
}

/// The lane that served a reply (`x-busbar-model`), or `""`.
pub(crate) fn served(reply: &Reply) -> String {
    reply
        .header("x-busbar-model")
        .unwrap_or_default()
        .to_owned()
}

/// Checks an OpenAI chat completion answering [`PROMPT`].
pub(crate) fn assert_openai_answer(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        format!("Echo: {PROMPT}"),
        "{body}"
    );
}

/// Checks an Anthropic message answering [`PROMPT`].
pub(crate) fn assert_anthropic_answer(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["type"], "message", "{body}");
    assert_eq!(
        text_of(&body["content"]),
        format!("Echo: {PROMPT}"),
        "{body}"
    );
}

/// Checks an OpenAI error reply with `status` and returns its error object.
pub(crate) fn assert_openai_error(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    openai_error(reply)
}

/// Checks an Anthropic error reply with `status` and returns its error object.
pub(crate) fn assert_anthropic_error(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    anthropic_error(reply)
}

/// `Retry-After` as whole seconds; fails when absent or not a number.
pub(crate) fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {:?}", reply.headers))
}

/// The model of every request the upstream received, in order.
pub(crate) fn upstream_models(gateway: &Gateway) -> Vec<String> {
    gateway
        .received()
        .iter()
        .map(|request| request.model().unwrap_or_default())
        .collect()
}

/// How many requests for `model` the upstream received.
pub(crate) fn upstream_count(gateway: &Gateway, model: &str) -> usize {
    upstream_models(gateway)
        .iter()
        .filter(|m| *m == model)
        .count()
}

/// A lane's `/stats` entry as the numbers tests compare.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LaneView {
    pub(crate) ok: u64,
    pub(crate) err: u64,
    pub(crate) client_fault: u64,
    pub(crate) inflight: u64,
    pub(crate) usable: bool,
    pub(crate) dead: bool,
    pub(crate) dead_reason: Option<String>,
    pub(crate) cooldown_remaining_s: u64,
    pub(crate) streak: u64,
}

/// Reads lane `model` from `/stats`, checking the fields are the types
/// docs/operations.md gives them.
pub(crate) async fn lane(gateway: &Gateway, model: &str) -> LaneView {
    let stats = gateway.lane_stats(model).await;
    let number = |field: &str| {
        stats[field]
            .as_u64()
            .unwrap_or_else(|| panic!("`{field}` is not a whole number: {stats}"))
    };
    let flag = |field: &str| {
        stats[field]
            .as_bool()
            .unwrap_or_else(|| panic!("`{field}` is not a boolean: {stats}"))
    };
    let view = LaneView {
        ok: number("ok"),
        err: number("err"),
        client_fault: number("client_fault"),
        inflight: number("inflight"),
        usable: flag("usable"),
        dead: flag("dead"),
        dead_reason: match &stats["dead_reason"] {
            Value::Null => None,
            Value::String(reason) => Some(reason.clone()),
            other => panic!("`dead_reason` is neither null nor a string: {other}"),
        },
        cooldown_remaining_s: number("cooldown_remaining_s"),
        streak: number("streak"),
    };
    assert_eq!(view.dead, !view.usable, "dead is exactly !usable: {stats}");
    assert_eq!(
        view.dead_reason.is_some(),
        view.dead,
        "a reason exactly when dead: {stats}"
    );
    view
}

/// Polls lane `model` until `done` holds, for at most `limit`; returns the
/// view that satisfied it.
pub(crate) async fn wait_for_lane(
    gateway: &Gateway,
    model: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&LaneView) -> bool,
) -> LaneView {
    let deadline = Instant::now() + limit;
    loop {
        let view = lane(gateway, model).await;
        if done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "lane `{model}` never got {what}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
