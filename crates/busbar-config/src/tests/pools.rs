//! Pools: members, breaker, failover, exhaustion policy, affinity, cycles.

use std::time::Duration;

use super::*;
use crate::{Affinity, AffinityMode, OnExhausted, TripMode};

/// Two models `a` and `b` plus the given `pools:` body.
fn pools(body: &str) -> String {
    format!(
        "listen: 127.0.0.1:8080
providers:
  anthropic: {{api_key_env: ANTHROPIC_KEY}}
models:
  a: {{provider: anthropic, max_concurrent: 1}}
  b: {{provider: anthropic, max_concurrent: 1}}
pools:
{body}"
    )
}

#[test]
fn member_weight_must_be_at_least_one() {
    let config =
        pools("  smart:\n    members:\n      - target: a\n      - target: b\n        weight: 0\n");
    assert_eq!(
        errors(&config),
        ["config.yaml: pools.smart.members[1].weight: must be >= 1"]
    );
}

#[test]
fn members_are_required_non_empty_models_without_repeats() {
    assert_eq!(
        errors(&pools("  p: {}\n")),
        ["config.yaml: pools.p.members: required: at least one member"]
    );
    assert_eq!(
        errors(&pools("  p: {members: []}\n")),
        ["config.yaml: pools.p.members: must not be empty"]
    );
    assert_eq!(
        errors(&pools("  p: {members: [{target: c}, {target: a}, {target: a}, {weight: 2}]}\n  q: {members: [{target: p}]}\n")),
        [
            "config.yaml: pools.p.members[0].target: `c` is not a model",
            "config.yaml: pools.p.members[2].target: `a` is already a member of this pool",
            "config.yaml: pools.p.members[3].target: required",
            "config.yaml: pools.q.members[0].target: `p` is not a model",
        ]
    );
}

#[test]
fn context_max_is_optional_and_positive() {
    let config = load(&pools(
        "  p: {members: [{target: a, context_max: 200000}, {target: b}]}\n",
    ))
    .config;
    let members = &config.pools["p"].members;
    assert_eq!(
        (members[0].context_max, members[1].context_max),
        (Some(200_000), None)
    );
    assert_eq!(
        errors(&pools("  p: {members: [{target: a, context_max: 0}]}\n")),
        ["config.yaml: pools.p.members[0].context_max: must be >= 1"]
    );
}

#[test]
fn pool_names_must_not_shadow_models_or_providers() {
    assert_eq!(
        errors(&pools("  a: {members: [{target: b}]}\n  anthropic: {members: [{target: b}]}\n")),
        [
            "config.yaml: pools.a: a pool must not share its name with the model `a`",
            "config.yaml: pools.anthropic: a pool must not share its name with the provider `anthropic`",
        ]
    );
}

#[test]
fn breaker_settings_resolve_and_are_bounded() {
    let config = load(&pools(
        "  p:
    members: [{target: a}]
    breaker:
      trip: {mode: consecutive, n: 5, window_s: 60, threshold: 1, min_requests: 10}
      base_cooldown_secs: 5
      max_cooldown_secs: 5
",
    ))
    .config;
    let breaker = config.pools["p"].breaker;
    assert_eq!(breaker.trip.mode, TripMode::Consecutive);
    assert_eq!(
        (
            breaker.trip.n,
            breaker.trip.min_requests,
            breaker.trip.threshold
        ),
        (5, 10, 1.0)
    );
    assert_eq!(breaker.trip.window, Duration::from_secs(60));
    assert_eq!(
        (breaker.base_cooldown, breaker.max_cooldown),
        (Duration::from_secs(5), Duration::from_secs(5))
    );

    assert_eq!(
        errors(&pools(
            "  p:
    members: [{target: a}]
    breaker:
      trip: {mode: rate, threshold: 0, window_s: 0, min_requests: 0, n: 0}
      base_cooldown_secs: 60
      max_cooldown_secs: 30
  q:
    members: [{target: a}]
    breaker: {trip: {threshold: 1.5}}
"
        )),
        [
            "config.yaml: pools.p.breaker.trip.mode: unknown value `rate`; expected one of: `error_rate`, `consecutive`",
            "config.yaml: pools.p.breaker.trip.window_s: must be >= 1",
            "config.yaml: pools.p.breaker.trip.threshold: must be greater than 0 and at most 1",
            "config.yaml: pools.p.breaker.trip.min_requests: must be >= 1",
            "config.yaml: pools.p.breaker.trip.n: must be >= 1",
            "config.yaml: pools.q.breaker.trip.threshold: must be greater than 0 and at most 1",
        ]
    );
    assert_eq!(
        errors(&pools("  p:\n    members: [{target: a}]\n    breaker: {base_cooldown_secs: 60, max_cooldown_secs: 30}\n")),
        ["config.yaml: pools.p.breaker.max_cooldown_secs: must be >= base_cooldown_secs (60)"]
    );
}

#[test]
fn failover_settings_and_exclusions() {
    let config = load(&pools(
        "  p:\n    members: [{target: a}, {target: b}]\n    failover: {deadline_secs: 30, cap: 0, exclusions: [b]}\n",
    ))
    .config;
    let failover = &config.pools["p"].failover;
    assert_eq!(
        (failover.deadline, failover.cap),
        (Duration::from_secs(30), 0)
    );
    assert_eq!(failover.exclusions, ["b"]);
    assert_eq!(
        errors(&pools("  p:\n    members: [{target: a}]\n    failover: {deadline_secs: 0, exclusions: [zz, bb]}\n")),
        [
            "config.yaml: pools.p.failover.deadline_secs: must be >= 1",
            "config.yaml: pools.p.failover.exclusions[0]: `zz` is not a model",
            "config.yaml: pools.p.failover.exclusions[1]: `bb` is not a model",
        ]
    );
}

#[test]
fn on_exhausted_actions() {
    let action = |value: &str| {
        load(&pools(&format!(
            "  p: {{members: [{{target: a}}], on_exhausted: {{action: {value}}}}}\n  backup: {{members: [{{target: b}}]}}\n"
        )))
        .config
        .pools["p"]
        .on_exhausted
        .clone()
    };
    assert_eq!(action("reject"), OnExhausted::Reject);
    assert_eq!(action("503"), OnExhausted::Reject);
    assert_eq!(action("'503'"), OnExhausted::Reject);
    assert_eq!(action("least_bad"), OnExhausted::LeastBad);
    assert_eq!(
        action("'fallback_pool:backup'"),
        OnExhausted::FallbackPool("backup".into())
    );
    assert_eq!(
        errors(&pools(
            "  p: {members: [{target: a}], on_exhausted: {action: least-bad}}\n  q: {members: [{target: a}], on_exhausted: {action: 'fallback_pool:bakup'}}\n  backup: {members: [{target: b}]}\n"
        )),
        [
            "config.yaml: pools.p.on_exhausted.action: unknown action `least-bad`; expected one of: `reject`, `503`, `least_bad`, `fallback_pool:NAME`; did you mean `least_bad`?",
            "config.yaml: pools.q.on_exhausted.action: fallback pool `bakup` is not a pool; did you mean `backup`?",
        ]
    );
}

#[test]
fn fallback_cycles_are_errors_reported_once() {
    let config = pools(
        "  first: {members: [{target: a}], on_exhausted: {action: 'fallback_pool:second'}}
  second: {members: [{target: b}], on_exhausted: {action: 'fallback_pool:third'}}
  third: {members: [{target: b}], on_exhausted: {action: 'fallback_pool:second'}}
  selfish: {members: [{target: a}], on_exhausted: {action: 'fallback_pool:selfish'}}
",
    );
    assert_eq!(
        errors(&config),
        [
            "config.yaml: pools.second.on_exhausted.action: fallback pools form a cycle: second → third → second",
            "config.yaml: pools.selfish.on_exhausted.action: fallback pools form a cycle: selfish → selfish",
        ]
    );
    // A chain that ends is fine.
    let config = pools(
        "  first: {members: [{target: a}], on_exhausted: {action: 'fallback_pool:second'}}\n  second: {members: [{target: b}]}\n",
    );
    assert_eq!(load(&config).config.pools.len(), 2);
}

#[test]
fn affinity_defaults_and_checks() {
    let config = load(&pools(
        "  p: {members: [{target: a}], affinity: {mode: session}}\n  q: {members: [{target: a}], affinity: {header_name: X-Conversation}}\n",
    ))
    .config;
    let expected = |header: &str| {
        Some(Affinity {
            mode: AffinityMode::Session,
            header_name: header.to_owned(),
        })
    };
    assert_eq!(config.pools["p"].affinity, expected("x-session-id"));
    assert_eq!(config.pools["q"].affinity, expected("x-conversation"));
    assert_eq!(
        errors(&pools("  p: {members: [{target: a}], affinity: {mode: sticky, header_name: 'bad header'}}\n")),
        [
            "config.yaml: pools.p.affinity.mode: unknown value `sticky`; expected one of: `session`",
            "config.yaml: pools.p.affinity.header_name: must be a valid HTTP header name",
        ]
    );
}

#[test]
fn yaml_anchors_share_settings_between_pools() {
    let config = load(&pools(
        "  p:
    members: [{target: a}]
    breaker: &shared {base_cooldown_secs: 7}
  q:
    members: [{target: b}]
    breaker: *shared
",
    ))
    .config;
    assert_eq!(
        config.pools["q"].breaker.base_cooldown,
        Duration::from_secs(7)
    );
    assert_eq!(config.pools["p"].breaker, config.pools["q"].breaker);
}
