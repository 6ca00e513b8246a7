//! Loading tests: whole documents in, resolved configs or error lists out.
//!
//! - `defaults`: the example configurations, the shipped catalog, every default.
//! - `environment`: `${NAME}` expansion as seen through loading.
//! - `providers`: catalog merge, overrides, keys, the SSRF guard, upstream URLs.
//! - `models_and_auth`: models, names, auth, governance, limits, listen.
//! - `pools`: members, breaker, failover, exhaustion, affinity, cycles.
//! - `prices`: the catalog's models and prices, `models.NAME.price`, aliases.
//! - `reporting`: unknown keys, suggestions, and all errors in one report.

mod defaults;
mod environment;
mod models_and_auth;
mod pools;
mod prices;
mod providers;
mod reporting;

use std::collections::BTreeMap;

use crate::{load_str, Loaded};

/// The catalog Busbar ships.
const CATALOG: &str = include_str!("../../../providers.yaml");

/// The smallest configuration that starts (README.md, docs/configuration.md).
const MINIMAL: &str = "
providers:
  anthropic:
    api_key_env: ANTHROPIC_KEY
models:
  claude-sonnet:
    provider: anthropic
    max_concurrent: 10
";

/// Two providers, a weighted pool, client tokens.
const POOL: &str = r#"
auth:
  mode: token
  client_tokens:
    - "${BUSBAR_CLIENT_TOKEN}"
providers:
  anthropic:
    api_key_env: ANTHROPIC_KEY
  openai:
    api_key_env: OPENAI_KEY
models:
  claude-sonnet:
    provider: anthropic
    max_concurrent: 20
  gpt-4o:
    provider: openai
    max_concurrent: 20
pools:
  smart:
    members:
      - target: claude-sonnet
        weight: 2
      - target: gpt-4o
        weight: 1
"#;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The variables the examples need.
fn example_env() -> BTreeMap<String, String> {
    env(&[
        ("ANTHROPIC_KEY", "sk-ant-test-key"),
        ("OPENAI_KEY", "sk-openai-test-key"),
        ("BUSBAR_CLIENT_TOKEN", "client-token-1"),
        (
            "AWS_BEDROCK_CREDS",
            "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
    ])
}

/// Loads `config` against the shipped catalog and the examples' variables.
fn load(config: &str) -> Loaded {
    load_with(CATALOG, config, &example_env())
}

/// Loads `config` against `catalog`. The warning about models without a
/// price is dropped, since the examples' model names are no vendor's ids;
/// `prices` tests it.
fn load_with(catalog: &str, config: &str, env: &BTreeMap<String, String>) -> Loaded {
    let mut loaded = load_priced(catalog, config, env);
    loaded
        .warnings
        .retain(|warning| !warning.starts_with("models: the catalog has no price for"));
    loaded
}

/// Loads `config` against `catalog`, every warning kept.
fn load_priced(catalog: &str, config: &str, env: &BTreeMap<String, String>) -> Loaded {
    match load_str(catalog, config, env) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("expected a valid configuration, got:\n{errors}"),
    }
}

/// The error lines for `config` against the shipped catalog.
fn errors(config: &str) -> Vec<String> {
    errors_with(CATALOG, config, &example_env())
}

fn errors_with(catalog: &str, config: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    match load_str(catalog, config, env) {
        Ok(_) => panic!("expected errors, the configuration loaded"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// `MINIMAL` plus `extra` YAML at the top level.
fn minimal_with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}
