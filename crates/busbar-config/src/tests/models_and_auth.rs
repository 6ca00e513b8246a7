//! Models, names, auth, governance, limits, listen, TLS and observability.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::{AuthMode, GovernancePricing};

/// `MINIMAL` with the model's body replaced.
fn model(body: &str) -> String {
    format!("providers:\n  anthropic: {{api_key_env: ANTHROPIC_KEY}}\nmodels:\n  claude:\n{body}")
}

#[test]
fn max_concurrent_is_required_and_at_least_one() {
    assert_eq!(
        errors(&model("    provider: anthropic\n")),
        ["config.yaml: models.claude.max_concurrent: required"]
    );
    assert_eq!(
        errors(&model("    provider: anthropic\n    max_concurrent: 0\n")),
        ["config.yaml: models.claude.max_concurrent: must be >= 1"]
    );
}

#[test]
fn max_requests_is_minus_one_or_positive() {
    let budget = |value: &str| {
        load(&model(&format!(
            "    provider: anthropic\n    max_concurrent: 1\n    max_requests: {value}\n"
        )))
        .config
        .models["claude"]
            .max_requests
    };
    assert_eq!(budget("-1"), None);
    assert_eq!(budget("250"), Some(250));
    for bad in ["0", "-2"] {
        assert_eq!(
            errors(&model(&format!("    provider: anthropic\n    max_concurrent: 1\n    max_requests: {bad}\n"))),
            ["config.yaml: models.claude.max_requests: must be -1 (unlimited) or a positive budget"]
        );
    }
}

#[test]
fn default_max_tokens_must_be_positive_and_upstream_model_defaults_to_the_key() {
    assert_eq!(
        errors(&model(
            "    provider: anthropic\n    max_concurrent: 1\n    default_max_tokens: 0\n"
        )),
        ["config.yaml: models.claude.default_max_tokens: must be >= 1"]
    );
    let config = load(&model(
        "    provider: anthropic\n    max_concurrent: 1\n    upstream_model: claude-sonnet-4-20250514\n",
    ))
    .config;
    assert_eq!(
        config.models["claude"].upstream_model,
        "claude-sonnet-4-20250514"
    );
}

#[test]
fn model_provider_must_be_configured() {
    assert_eq!(
        errors(&model("    provider: antropic\n    max_concurrent: 1\n")),
        ["config.yaml: models.claude.provider: `antropic` is not a configured provider; did you mean `anthropic`?"]
    );
    assert_eq!(
        errors(&model("    provider: openai\n    max_concurrent: 1\n")),
        ["config.yaml: models.claude.provider: `openai` is in the catalog but not configured; add it under `providers:` with its `api_key_env`"]
    );
    assert_eq!(
        errors(&model("    max_concurrent: 1\n")),
        ["config.yaml: models.claude.provider: required"]
    );
}

#[test]
fn real_upstream_ids_are_valid_names() {
    let config = "
providers:
  anthropic: {api_key_env: ANTHROPIC_KEY}
models:
  anthropic.claude-3-5-sonnet-20240620-v1:0: {provider: anthropic, max_concurrent: 1}
  meta-llama/Llama-3.3-70B: {provider: anthropic, max_concurrent: 1}
  claude@2025: {provider: anthropic, max_concurrent: 1}
";
    let models = load(config).config.models;
    let names: Vec<&str> = models.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "claude@2025",
            "meta-llama/Llama-3.3-70B"
        ]
    );
}

#[test]
fn reserved_and_malformed_names_are_refused() {
    let config = "
providers:
  anthropic: {api_key_env: ANTHROPIC_KEY}
  admin: {api_key_env: OPENAI_KEY, protocol: openai, base_url: 'https://a.example.com'}
models:
  admin: {provider: anthropic, max_concurrent: 1}
  'two words': {provider: anthropic, max_concurrent: 1}
  '': {provider: anthropic, max_concurrent: 1}
  ok: {provider: anthropic, max_concurrent: 1}
pools:
  Admin: {members: [{target: ok}]}
";
    assert_eq!(
        errors(config),
        [
            "config.yaml: providers.admin: `admin` is reserved for the admin API",
            "config.yaml: models.admin: `admin` is reserved for the admin API",
            "config.yaml: models.two words: a name must not contain whitespace or control characters",
            "config.yaml: models.: a name must not be empty",
            "config.yaml: pools.Admin: `admin` is reserved for the admin API",
        ]
    );
}

#[test]
fn auth_mode_is_case_insensitive_and_checked() {
    let mode = |m: &str| {
        load(&minimal_with(&format!(
            "auth: {{mode: {m}, client_tokens: [t]}}\n"
        )))
        .config
        .auth
        .mode
    };
    assert_eq!(mode("Token"), AuthMode::Token);
    assert_eq!(mode("PASSTHROUGH"), AuthMode::Passthrough);
    assert_eq!(mode("None"), AuthMode::None);
    assert_eq!(
        errors(&minimal_with("auth: {mode: tokens}\n")),
        ["config.yaml: auth.mode: unknown value `tokens`; expected one of: `none`, `token`, `passthrough`; did you mean `token`?"]
    );
}

#[test]
fn token_mode_needs_client_tokens() {
    assert_eq!(
        errors(&minimal_with("auth: {mode: token}\n")),
        ["config.yaml: auth.client_tokens: must list at least one token under auth.mode: token"]
    );
    assert_eq!(
        errors(&minimal_with(
            "auth: {mode: token, client_tokens: ['', 'a b']}\n"
        )),
        [
            "config.yaml: auth.client_tokens[0]: must not be empty",
            "config.yaml: auth.client_tokens[1]: must not contain whitespace or control characters",
            "config.yaml: auth.client_tokens: must list at least one token under auth.mode: token",
        ]
    );
}

#[test]
fn deprecated_auth_token_is_folded_into_client_tokens_with_a_warning() {
    let loaded = load(&minimal_with(
        "auth: {mode: token, token: legacy, client_tokens: [modern]}\n",
    ));
    let tokens: Vec<&str> = loaded
        .config
        .auth
        .client_tokens
        .iter()
        .map(|t| t.expose())
        .collect();
    assert_eq!(tokens, ["modern", "legacy"]);
    assert_eq!(
        loaded.warnings,
        ["auth.token: deprecated; its value was added to auth.client_tokens (move it there)"]
    );
    let alone = load(&minimal_with("auth: {mode: token, token: legacy}\n"));
    assert_eq!(alone.config.auth.client_tokens.len(), 1);
}

#[test]
fn open_relay_warns_only_off_loopback() {
    for listen in ["127.0.0.1:8080", "[::1]:8080", "localhost:8080"] {
        let loaded = load(&minimal_with(&format!("listen: '{listen}'\n")));
        assert!(
            loaded.warnings.is_empty(),
            "{listen}: {:?}",
            loaded.warnings
        );
    }
    let loaded = load(&minimal_with("listen: '[::]:9000'\n"));
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].contains("anyone who can reach it"));
    assert!(
        load(&minimal_with("auth: {mode: token, client_tokens: [t]}\n"))
            .warnings
            .is_empty()
    );
}

#[test]
fn listen_must_be_host_and_port() {
    for good in ["0.0.0.0:0", "gateway.internal:443", "[2001:db8::1]:8080"] {
        assert_eq!(
            load(&minimal_with(&format!("listen: '{good}'\n")))
                .config
                .listen,
            good
        );
    }
    for bad in ["8080", "0.0.0.0", "host:99999", "a b:80", ":80"] {
        assert_eq!(
            errors(&minimal_with(&format!("listen: '{bad}'\n"))),
            ["config.yaml: listen: must be `host:port`, e.g. `0.0.0.0:8080` or `[::1]:8080`"],
            "{bad}"
        );
    }
}

#[test]
fn tls_needs_both_files() {
    let tls = load(&minimal_with(
        "tls: {cert_file: /etc/busbar/cert.pem, key_file: /etc/busbar/key.pem}\n",
    ))
    .config
    .tls
    .unwrap();
    assert_eq!(tls.cert_file, PathBuf::from("/etc/busbar/cert.pem"));
    assert_eq!(tls.key_file, PathBuf::from("/etc/busbar/key.pem"));
    assert_eq!(
        errors(&minimal_with("tls: {cert_file: ''}\n")),
        [
            "config.yaml: tls.cert_file: must not be empty",
            "config.yaml: tls.key_file: required"
        ]
    );
}

#[test]
fn governance_fields_resolve() {
    let mut vars = example_env();
    vars.insert("SEAL".into(), "0123456789abcdef0123456789abcdef".into());
    vars.insert("ADMIN".into(), "admin-secret".into());
    let config = minimal_with(
        "governance:
  enabled: true
  db_path: /var/lib/busbar/gov.db
  admin_token: ${ADMIN}
  price_per_request_cents: 0.5
  price_per_1k_tokens_cents: 2
  store: postgres://busbar:pw@db.example.com/busbar
  secret_key_env: SEAL
  fail_open: true
",
    );
    let loaded = load_with(CATALOG, &config, &vars);
    let g = &loaded.config.governance;
    assert!(g.enabled && g.fail_open);
    assert_eq!(g.db_path, PathBuf::from("/var/lib/busbar/gov.db"));
    assert!(g.admin_token.as_ref().unwrap().matches("admin-secret"));
    assert_eq!(
        (g.price_per_request_cents, g.price_per_1k_tokens_cents),
        (0.5, 2.0)
    );
    assert_eq!(
        g.store.as_ref().map(|s| s.expose()),
        Some("postgres://busbar:pw@db.example.com/busbar")
    );
    assert_eq!(g.secret_key.as_ref().map(|s| s.expose().len()), Some(32));
    // Governance replaces the open relay, so no warning.
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("request_log")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn governance_rules() {
    assert_eq!(
        errors(&minimal_with("auth: {mode: passthrough}\ngovernance: {enabled: true, admin_token: x}\n")),
        ["config.yaml: governance.enabled: governance cannot be enabled with auth.mode: passthrough (callers' provider keys would bypass virtual keys)"]
    );
    assert_eq!(
        errors(&minimal_with(
            "governance: {enabled: true, store: 'mysql://x', secret_key_env: UNSET_SEAL, price_per_request_cents: -1}\n"
        )),
        [
            "config.yaml: governance.price_per_request_cents: must be >= 0",
            "config.yaml: governance.store: must be a postgres:// URL",
            "config.yaml: governance.secret_key_env: environment variable `UNSET_SEAL` is not set",
        ]
    );
    assert_eq!(
        errors(&minimal_with("governance: {pricing: per_token}\n")),
        ["config.yaml: governance.pricing: must be flat or catalog"]
    );
    let loaded = load(&minimal_with("governance: {pricing: Catalog}\n"));
    assert_eq!(loaded.config.governance.pricing, GovernancePricing::Catalog);
    let loaded = load(&minimal_with("governance: {pricing: Flat}\n"));
    assert_eq!(loaded.config.governance.pricing, GovernancePricing::Flat);
    // Disabled governance reads no variables.
    let loaded = load(&minimal_with(
        "governance: {enabled: false, secret_key_env: UNSET_SEAL}\n",
    ));
    assert_eq!(loaded.config.governance.secret_key, None);
    // Enabled without an admin token: allowed, but said.
    let loaded = load(&minimal_with("governance: {enabled: true}\n"));
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].starts_with("governance.admin_token: not set"));
}

#[test]
fn token_mode_under_governance_needs_no_static_tokens() {
    let loaded = load(&minimal_with(
        "auth: {mode: token}\ngovernance: {enabled: true, admin_token: x}\n",
    ));
    assert_eq!(loaded.config.auth.mode, AuthMode::Token);
}

#[test]
fn limits_are_checked() {
    let limits = load(&minimal_with(
        "limits: {max_body_bytes: 1048576, connect_timeout_secs: 3, first_byte_timeout_secs: 60, idle_timeout_secs: 30, shutdown_grace_secs: 0}\n",
    ))
    .config
    .limits;
    assert_eq!(limits.max_body_bytes, 1_048_576);
    assert_eq!(limits.connect_timeout, Duration::from_secs(3));
    assert_eq!(limits.first_byte_timeout, Duration::from_secs(60));
    assert_eq!(limits.idle_timeout, Duration::from_secs(30));
    assert_eq!(limits.shutdown_grace, Duration::ZERO);
    assert_eq!(
        errors(&minimal_with(
            "limits: {max_body_bytes: 0, connect_timeout_secs: 0, shutdown_grace_secs: -1}\n"
        )),
        [
            "config.yaml: limits.max_body_bytes: must be >= 1",
            "config.yaml: limits.connect_timeout_secs: must be >= 1",
            "config.yaml: limits.shutdown_grace_secs: must be >= 0",
        ]
    );
}

#[test]
fn buffered_bodies_must_hold_at_least_one_largest_body() {
    let limits = load(&minimal_with(
        "limits: {max_buffered_body_bytes: 40000000}\n",
    ))
    .config
    .limits;
    assert_eq!(limits.max_buffered_body_bytes, 40_000_000);
    assert_eq!(
        errors(&minimal_with(
            "limits: {max_body_bytes: 2000, max_buffered_body_bytes: 1000}\n"
        )),
        ["config.yaml: limits.max_buffered_body_bytes: must be at least max_body_bytes (2000), or a body of the largest allowed size could never be read"]
    );
}

#[test]
fn connection_bounds_are_checked() {
    let limits = load(&minimal_with(
        "limits: {header_read_timeout_secs: 2, body_read_timeout_secs: 3, keepalive_idle_secs: 4, http2_max_streams: 8, http2_keepalive_interval_secs: 5, http2_keepalive_timeout_secs: 6, max_connections: 500, max_connections_per_ip: 9}\n",
    ))
    .config
    .limits;
    assert_eq!(limits.header_read_timeout, Duration::from_secs(2));
    assert_eq!(limits.body_read_timeout, Duration::from_secs(3));
    assert_eq!(limits.keepalive_idle, Duration::from_secs(4));
    assert_eq!(limits.http2_max_streams, 8);
    assert_eq!(limits.http2_keepalive_interval, Duration::from_secs(5));
    assert_eq!(limits.http2_keepalive_timeout, Duration::from_secs(6));
    assert_eq!(limits.max_connections, Some(500));
    assert_eq!(limits.max_connections_per_ip, 9);
    let auto = load(&minimal_with("limits: {max_connections: auto}\n"));
    assert_eq!(auto.config.limits.max_connections, None);
    assert_eq!(
        errors(&minimal_with(
            "limits: {header_read_timeout_secs: 0, body_read_timeout_secs: 0, keepalive_idle_secs: 0, http2_max_streams: 0, max_connections: many, max_connections_per_ip: 0, keepalive_idle_sec: 5}\n"
        )),
        [
            "config.yaml: limits.keepalive_idle_sec: unknown field; did you mean `keepalive_idle_secs`?",
            "config.yaml: limits.header_read_timeout_secs: must be >= 1",
            "config.yaml: limits.body_read_timeout_secs: must be >= 1",
            "config.yaml: limits.keepalive_idle_secs: must be >= 1",
            "config.yaml: limits.http2_max_streams: must be >= 1",
            "config.yaml: limits.max_connections: expected a whole number >= 1 or `auto`",
            "config.yaml: limits.max_connections_per_ip: must be >= 1",
        ]
    );
}

#[test]
fn observability_urls_are_checked() {
    let obs = load(&minimal_with(
        "observability: {otlp_endpoint: 'http://otel:4318', request_log_webhook_url: 'https://logs.example.com/hook'}\n",
    ))
    .config
    .observability;
    assert_eq!(obs.otlp_endpoint.as_deref(), Some("http://otel:4318"));
    assert_eq!(
        obs.request_log_webhook_url.as_deref(),
        Some("https://logs.example.com/hook")
    );
    assert_eq!(
        errors(&minimal_with(
            "observability: {otlp_endpoint: 'otel:4318'}\n"
        )),
        ["config.yaml: observability.otlp_endpoint: must be an http://, https:// (OTLP/HTTP), grpc:// or grpcs:// (OTLP/gRPC) URL"]
    );
    for good in [
        "grpc://otel:4317",
        "grpcs://otel.example.com",
        "https://otel.example.com/otlp",
    ] {
        let obs = load(&minimal_with(&format!(
            "observability: {{otlp_endpoint: '{good}'}}\n"
        )))
        .config
        .observability;
        assert_eq!(obs.otlp_endpoint.as_deref(), Some(good));
    }
    for bad in ["grpc://", "ftp://otel:21", "http:///v1/traces"] {
        assert_eq!(
            errors(&minimal_with(&format!(
                "observability: {{otlp_endpoint: '{bad}'}}\n"
            )))
            .len(),
            1,
            "{bad}"
        );
    }
}

#[test]
fn the_request_log_has_defaults_and_checked_fields() {
    let loaded = load(&minimal_with(
        "observability:\n  request_log: {file: /var/log/busbar/requests.jsonl}\n",
    ));
    let log = &loaded.config.observability.request_log;
    assert!(loaded.config.observability.logs_requests());
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("request_log")),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(
        log.file.as_deref(),
        Some(std::path::Path::new("/var/log/busbar/requests.jsonl"))
    );
    assert_eq!(
        (log.max_bytes, log.keep, log.bodies, log.body_max_bytes),
        (100 * 1024 * 1024, 5, false, 64 * 1024)
    );
    assert_eq!(
        (
            log.queue_records,
            log.webhook_batch_records,
            log.webhook_batch_wait
        ),
        (10_000, 100, Duration::from_millis(1000))
    );

    let set = load(&minimal_with(
        "observability:\n  request_log_webhook_url: http://127.0.0.1:9000/logs\n  request_log: {max_bytes: 4096, keep: 0, bodies: true, body_max_bytes: 10, queue_records: 2, webhook_batch_records: 3, webhook_batch_ms: 50}\n",
    ))
    .config
    .observability;
    assert!(set.logs_requests());
    let log = &set.request_log;
    assert_eq!(log.file, None);
    assert_eq!(
        (log.max_bytes, log.keep, log.bodies, log.body_max_bytes),
        (4096, 0, true, 10)
    );
    assert_eq!(
        (
            log.queue_records,
            log.webhook_batch_records,
            log.webhook_batch_wait
        ),
        (2, 3, Duration::from_millis(50))
    );

    assert!(!load(MINIMAL).config.observability.logs_requests());
    assert_eq!(
        errors(&minimal_with(
            "observability:\n  request_log: {file: '', max_bytes: 100, keep: -1, bodies: maybe, body_max_bytes: 0, queue_records: 0, webhook_batch_records: 0, webhook_batch_ms: 0, rotate: daily}\n"
        )),
        [
            "config.yaml: observability.request_log.rotate: unknown field; expected one of: `file`, `max_bytes`, `keep`, `bodies`, `body_max_bytes`, `queue_records`, `webhook_batch_records`, `webhook_batch_ms`",
            "config.yaml: observability.request_log.file: must not be empty",
            "config.yaml: observability.request_log.max_bytes: must be >= 4096",
            "config.yaml: observability.request_log.keep: must be >= 0",
            "config.yaml: observability.request_log.bodies: expected true or false, found a string",
            "config.yaml: observability.request_log.body_max_bytes: must be >= 1",
            "config.yaml: observability.request_log.queue_records: must be >= 1",
            "config.yaml: observability.request_log.webhook_batch_records: must be >= 1",
            "config.yaml: observability.request_log.webhook_batch_ms: must be >= 1",
        ]
    );
}

#[test]
fn a_request_log_without_a_sink_is_a_warning() {
    let loaded = load(&minimal_with(
        "observability:\n  request_log: {bodies: true}\n",
    ));
    assert!(!loaded.config.observability.logs_requests());
    let warnings: Vec<_> = loaded
        .warnings
        .iter()
        .filter(|w| w.contains("request_log"))
        .collect();
    assert_eq!(
        warnings,
        ["observability.request_log: neither `file` nor `observability.request_log_webhook_url` is set, so no request is logged"]
    );
}
