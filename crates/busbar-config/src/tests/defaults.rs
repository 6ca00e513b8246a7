//! The example configurations, the shipped catalog, and every default.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::{
    AuthMode, AuthScheme, Breaker, Failover, FailureClass, Governance, GovernancePricing, Health,
    HealthMode, Limits, OnExhausted, Protocol, Target, Trip, TripMode,
};

#[test]
fn minimal_config_loads_with_every_default() {
    let loaded = load(MINIMAL);
    let config = &loaded.config;
    assert_eq!(config.listen, "0.0.0.0:8080");
    assert_eq!(config.tls, None);
    assert_eq!(config.auth.mode, AuthMode::None);
    assert!(config.auth.client_tokens.is_empty());
    assert!(config.pools.is_empty());
    assert_eq!(config.governance, Governance::default());
    assert_eq!(config.limits, Limits::default());
    assert_eq!(config.observability, Default::default());

    let model = &config.models["claude-sonnet"];
    assert_eq!(model.provider, "anthropic");
    assert_eq!(model.max_concurrent, 10);
    assert_eq!(model.max_requests, None);
    assert_eq!(model.default_max_tokens, 4096);
    assert_eq!(model.upstream_model, "claude-sonnet");

    let provider = &config.providers["anthropic"];
    assert_eq!(provider.protocol, Protocol::Anthropic);
    assert_eq!(provider.base_url, "https://api.anthropic.com");
    assert_eq!(provider.path, None);
    assert_eq!(provider.auth, AuthScheme::Native);
    assert_eq!(provider.health, Health::default());
    assert!(!provider.allow_private);
    assert_eq!(provider.region, None);
    assert_eq!(provider.api_key_env.as_deref(), Some("ANTHROPIC_KEY"));
    assert_eq!(
        provider.api_key.as_ref().map(|k| k.expose()),
        Some("sk-ant-test-key")
    );
    assert_eq!(
        provider.error_map.get("overloaded_error"),
        Some(&FailureClass::Overloaded)
    );

    // The open relay on 0.0.0.0 is the one thing worth saying.
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].starts_with("auth.mode: none while listening on 0.0.0.0:8080"));
}

#[test]
fn default_values_match_the_documentation() {
    let health = Health::default();
    assert_eq!(
        (health.mode, health.interval, health.timeout),
        (HealthMode::None, secs(30), secs(5))
    );
    let breaker = Breaker::default();
    assert_eq!(
        (breaker.base_cooldown, breaker.max_cooldown),
        (secs(15), secs(120))
    );
    let trip = Trip::default();
    assert_eq!(trip.mode, TripMode::ErrorRate);
    assert_eq!(
        (trip.window, trip.threshold, trip.min_requests, trip.n),
        (secs(30), 0.5, 5, 3)
    );
    let failover = Failover::default();
    assert_eq!(
        (failover.deadline, failover.cap, failover.exclusions.len()),
        (secs(120), 3, 0)
    );
    let limits = Limits::default();
    assert_eq!(limits.max_body_bytes, 33_554_432);
    assert_eq!(limits.max_buffered_body_bytes, 536_870_912);
    assert_eq!(
        (
            limits.connect_timeout,
            limits.first_byte_timeout,
            limits.idle_timeout,
            limits.shutdown_grace
        ),
        (secs(10), secs(120), secs(120), secs(30))
    );
    assert_eq!(
        (
            limits.header_read_timeout,
            limits.body_read_timeout,
            limits.keepalive_idle,
            limits.http2_keepalive_interval,
            limits.http2_keepalive_timeout
        ),
        (secs(30), secs(30), secs(60), secs(20), secs(20))
    );
    assert_eq!(
        (
            limits.http2_max_streams,
            limits.max_connections,
            limits.max_connections_per_ip
        ),
        (100, None, 256)
    );
    let g = Governance::default();
    assert!(!g.enabled && !g.fail_open);
    assert_eq!(g.db_path, PathBuf::from("busbar-governance.db"));
    assert_eq!(
        (g.price_per_request_cents, g.price_per_1k_tokens_cents),
        (1.0, 0.0)
    );
    assert_eq!(g.pricing, GovernancePricing::Flat);
    assert_eq!((g.admin_token, g.store, g.secret_key), (None, None, None));
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn pool_config_loads() {
    let loaded = load(POOL);
    let config = &loaded.config;
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(config.auth.mode, AuthMode::Token);
    assert_eq!(config.auth.client_tokens.len(), 1);
    assert!(config.auth.client_tokens[0].matches("client-token-1"));

    let pool = &config.pools["smart"];
    let members: Vec<(&str, u32)> = pool
        .members
        .iter()
        .map(|m| (m.target.as_str(), m.weight))
        .collect();
    assert_eq!(members, [("claude-sonnet", 2), ("gpt-4o", 1)]);
    assert!(pool.members.iter().all(|m| m.context_max.is_none()));
    assert_eq!(pool.breaker, Breaker::default());
    assert_eq!(pool.failover, Failover::default());
    assert_eq!(pool.on_exhausted, OnExhausted::Reject);
    assert_eq!(pool.affinity, None);

    assert!(matches!(config.target("smart"), Some(Target::Pool(p)) if p.name == "smart"));
    assert!(matches!(config.target("gpt-4o"), Some(Target::Model(m)) if m.name == "gpt-4o"));
    assert_eq!(config.target("nope"), None);
    let gpt = &config.models["gpt-4o"];
    assert_eq!(
        config.provider_of(gpt).map(|p| p.protocol),
        Some(Protocol::OpenAi)
    );
}

#[test]
fn bedrock_and_max_tokens_examples_load() {
    let config = load(
        "
providers:
  bedrock:
    api_key_env: AWS_BEDROCK_CREDS
  anthropic:
    api_key_env: ANTHROPIC_KEY
models:
  claude-bedrock:
    provider: bedrock
    max_concurrent: 10
  claude-sonnet:
    provider: anthropic
    max_concurrent: 20
    default_max_tokens: 8192
",
    )
    .config;
    assert_eq!(config.models["claude-sonnet"].default_max_tokens, 8192);
    let bedrock = &config.providers["bedrock"];
    assert_eq!(bedrock.aws_region(), "us-east-1");
    let creds = bedrock.aws_credentials().unwrap();
    assert_eq!(creds.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(
        creds.secret_access_key.expose(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    assert_eq!(creds.session_token, None);
}

/// Every entry of the shipped catalog resolves when switched on.
#[test]
fn shipped_catalog_is_valid_and_every_entry_resolves() {
    let mut w = crate::walk::Walker::new("providers.yaml");
    let catalog = crate::catalog::read(&mut w, &crate::yaml::parse(CATALOG).unwrap());
    assert!(w.into_errors().is_empty());
    let names: Vec<&str> = catalog.names().collect();
    for required in [
        "openai",
        "responses",
        "anthropic",
        "gemini",
        "cohere",
        "bedrock",
        "bedrock-us-west-2",
        "bedrock-eu-central-1",
        "bedrock-ap-northeast-1",
        "groq",
        "together",
        "fireworks",
        "deepseek",
        "mistral",
        "xai",
        "openrouter",
        "cerebras",
        "deepinfra",
        "perplexity",
        "vertex",
        "vertex-anthropic",
        "azure",
        "azure-responses",
    ] {
        assert!(names.contains(&required), "catalog lacks {required}");
    }

    let mut config = String::from("listen: 127.0.0.1:8080\nproviders:\n");
    for name in &names {
        config.push_str(&format!(
            "  {name}:\n    api_key_env: KEY_{}\n",
            name.replace('-', "_")
        ));
        // What a cloud platform's entry leaves to the deployment.
        if name.starts_with("vertex") {
            config.push_str("    project: p\n");
        } else if name.starts_with("azure") {
            config.push_str("    base_url: https://res.openai.azure.com\n");
        }
    }
    config.push_str("models:\n");
    for name in &names {
        config.push_str(&format!(
            "  m-{name}:\n    provider: {name}\n    max_concurrent: 1\n"
        ));
    }
    let env: BTreeMap<String, String> = names
        .iter()
        .map(|name| {
            (
                format!("KEY_{}", name.replace('-', "_")),
                "AKIDEXAMPLE:secretexample".to_owned(),
            )
        })
        .collect();
    let loaded = load_with(CATALOG, &config, &env);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let providers = &loaded.config.providers;
    assert_eq!(providers.len(), names.len());

    for provider in providers.values() {
        assert!(provider.base_url.starts_with("https://") && !provider.base_url.ends_with('/'));
        if provider.protocol == Protocol::Bedrock {
            let region = provider.aws_region();
            assert!(
                provider.base_url.contains(&format!(".{region}.")),
                "{}",
                provider.name
            );
        }
    }
    let url = |name: &str, model: &str, stream: bool| providers[name].url(model, stream);
    let count = |name: &str, model: &str| providers[name].count_url(model);
    assert_eq!(
        count("anthropic", "x").as_deref(),
        Some("https://api.anthropic.com/v1/messages/count_tokens")
    );
    assert_eq!(
        count("responses", "x").as_deref(),
        Some("https://api.openai.com/v1/responses/input_tokens")
    );
    assert_eq!(
        count("gemini", "gemini-2.0-flash").as_deref(),
        Some(
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:countTokens"
        )
    );
    assert_eq!(
        count("bedrock-us-west-2", "anthropic.claude-v1:0").as_deref(),
        Some("https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-v1%3A0/count-tokens")
    );
    assert_eq!(count("openai", "gpt-4o"), None);
    assert_eq!(count("cohere", "x"), None);
    assert_eq!(
        url("openai", "gpt-4o", false),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(
        url("responses", "gpt-4o", true),
        "https://api.openai.com/v1/responses"
    );
    assert_eq!(
        url("anthropic", "x", false),
        "https://api.anthropic.com/v1/messages"
    );
    assert_eq!(url("cohere", "x", false), "https://api.cohere.com/v2/chat");
    assert_eq!(
        url("gemini", "gemini-2.0-flash", true),
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        url("bedrock-us-west-2", "anthropic.claude-3-5-sonnet-20240620-v1:0", false),
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert_eq!(
        url("groq", "llama", false),
        "https://api.groq.com/openai/v1/chat/completions"
    );
    assert_eq!(
        url("deepinfra", "m", false),
        "https://api.deepinfra.com/v1/openai/chat/completions"
    );
    assert_eq!(
        url("openrouter", "m", false),
        "https://openrouter.ai/api/v1/chat/completions"
    );
    assert_eq!(
        providers["bedrock-eu-central-1"].aws_region(),
        "eu-central-1"
    );

    let classify = |name: &str, code: &str| providers[name].error_map.get(code).copied();
    assert_eq!(
        classify("openai", "insufficient_quota"),
        Some(FailureClass::Billing)
    );
    assert_eq!(
        classify("openai", "rate_limit_exceeded"),
        Some(FailureClass::RateLimit)
    );
    assert_eq!(
        classify("openai", "context_length_exceeded"),
        Some(FailureClass::ContextLength)
    );
    assert_eq!(
        classify("openai", "invalid_api_key"),
        Some(FailureClass::Auth)
    );
    assert_eq!(
        classify("responses", "insufficient_quota"),
        Some(FailureClass::Billing)
    );
    assert_eq!(
        classify("anthropic", "rate_limit_error"),
        Some(FailureClass::RateLimit)
    );
    assert_eq!(
        classify("anthropic", "authentication_error"),
        Some(FailureClass::Auth)
    );
    assert_eq!(
        classify("anthropic", "billing_error"),
        Some(FailureClass::Billing)
    );
    assert_eq!(
        classify("anthropic", "api_error"),
        Some(FailureClass::ServerError)
    );
    assert_eq!(
        classify("gemini", "RESOURCE_EXHAUSTED"),
        Some(FailureClass::RateLimit)
    );
    assert_eq!(
        classify("gemini", "UNAVAILABLE"),
        Some(FailureClass::Overloaded)
    );
    assert_eq!(
        classify("gemini", "PERMISSION_DENIED"),
        Some(FailureClass::Auth)
    );
    assert_eq!(
        classify("bedrock-ap-northeast-1", "ThrottlingException"),
        Some(FailureClass::RateLimit)
    );
    assert_eq!(classify("openrouter", "402"), Some(FailureClass::Billing));
}

#[test]
fn explicit_defaults_equal_omitted_ones() {
    let explicit = load(
        "
listen: 0.0.0.0:8080
auth: {mode: none, client_tokens: []}
providers:
  anthropic:
    api_key_env: ANTHROPIC_KEY
    health: {mode: none, interval_secs: 30, timeout_secs: 5}
    allow_private: false
models:
  claude-sonnet:
    provider: anthropic
    max_concurrent: 10
    max_requests: -1
    default_max_tokens: 4096
    upstream_model: claude-sonnet
pools:
  p:
    members: [{target: claude-sonnet, weight: 1}]
    breaker:
      trip: {mode: error_rate, window_s: 30, threshold: 0.5, min_requests: 5, n: 3}
      base_cooldown_secs: 15
      max_cooldown_secs: 120
    failover: {deadline_secs: 120, cap: 3, exclusions: []}
    on_exhausted: {action: reject}
governance:
  enabled: false
  db_path: busbar-governance.db
  price_per_request_cents: 1
  price_per_1k_tokens_cents: 0
  fail_open: false
limits:
  max_body_bytes: 33554432
  max_buffered_body_bytes: 536870912
  connect_timeout_secs: 10
  first_byte_timeout_secs: 120
  idle_timeout_secs: 120
  shutdown_grace_secs: 30
  header_read_timeout_secs: 30
  body_read_timeout_secs: 30
  keepalive_idle_secs: 60
  http2_max_streams: 100
  http2_keepalive_interval_secs: 20
  http2_keepalive_timeout_secs: 20
  max_connections: auto
  max_connections_per_ip: 256
observability: {}
",
    );
    let implicit = load(&minimal_with(
        "pools:\n  p:\n    members: [{target: claude-sonnet}]\n",
    ));
    assert_eq!(explicit, implicit);
}
