//! How problems are reported: unknown keys, suggestions, types, syntax, and
//! every error in one report.

use std::io::Write;

use super::*;
use crate::ConfigError;

#[test]
fn unknown_keys_get_a_suggestion_when_one_is_close() {
    let config = "
provider:
  anthropic: {api_key_env: ANTHROPIC_KEY}
models:
  m: {provider: anthropic, max_concurent: 1, colour: blue}
";
    assert_eq!(
        errors(config),
        [
            "config.yaml: provider: unknown field; did you mean `providers`?",
            "config.yaml: providers: required: at least one provider with its `api_key_env`",
            "config.yaml: models.m.max_concurent: unknown field; did you mean `max_concurrent`?",
            "config.yaml: models.m.colour: unknown field; expected one of: `provider`, `max_concurrent`, `max_requests`, `default_max_tokens`, `upstream_model`, `price`",
            "config.yaml: models.m.provider: `anthropic` is in the catalog but not configured; add it under `providers:` with its `api_key_env`",
            "config.yaml: models.m.max_concurrent: required",
        ]
    );
}

#[test]
fn every_error_is_reported_together_with_its_path() {
    let config = "
listen: nowhere
auth: {mode: token}
providers:
  anthropic: {api_key_env: UNSET_KEY}
  openai: {api_key_env: OPENAI_KEY, base_url: 'http://127.0.0.1'}
models:
  claude: {provider: anthropic, max_concurrent: 0, max_requests: 0}
  gpt: {provider: openai, max_concurrent: 2, default_max_tokens: -5}
pools:
  smart:
    members:
      - target: claude
      - target: gpt
        weight: 0
    on_exhausted: {action: explode}
limits: {max_body_bytes: 0}
";
    let err = crate::load_str(CATALOG, config, &example_env()).unwrap_err();
    let expected = [
        "config.yaml: listen: must be `host:port`, e.g. `0.0.0.0:8080` or `[::1]:8080`",
        "config.yaml: providers.anthropic.api_key_env: environment variable `UNSET_KEY` is not set",
        "config.yaml: providers.openai.base_url: must use https:// (set `allow_private: true` for a plain-http upstream such as a local server)",
        "config.yaml: models.claude.max_concurrent: must be >= 1",
        "config.yaml: models.claude.max_requests: must be -1 (unlimited) or a positive budget",
        "config.yaml: models.gpt.default_max_tokens: must be >= 1",
        "config.yaml: pools.smart.members[1].weight: must be >= 1",
        "config.yaml: pools.smart.on_exhausted.action: unknown action `explode`; expected one of: `reject`, `503`, `least_bad`, `fallback_pool:NAME`",
        "config.yaml: limits.max_body_bytes: must be >= 1",
        "config.yaml: auth.client_tokens: must list at least one token under auth.mode: token",
    ];
    assert_eq!(err.to_string(), expected.join("\n"));
    assert_eq!(err.len(), expected.len());
    assert_eq!(
        err.errors()[6].path(),
        Some("pools.smart.members[1].weight")
    );
    assert_eq!(err.errors()[6].file(), "config.yaml");
}

#[test]
fn errors_in_both_files_are_reported_together() {
    let catalog = "x: {protocol: smoke-signals, base_url: 'https://x.example.com'}\n";
    let config = "providers:\n  x: {api_key_env: K}\nmodels:\n  m: {provider: x, max_concurrent: 1, extra: 1}\n";
    assert_eq!(
        errors_with(catalog, config, &env(&[("K", "v")])),
        [
            "providers.yaml: x.protocol: unknown value `smoke-signals`; expected one of: `openai`, `responses`, `anthropic`, `gemini`, `cohere`, `bedrock`, `bedrock-invoke`",
            "config.yaml: models.m.extra: unknown field; expected one of: `provider`, `max_concurrent`, `max_requests`, `default_max_tokens`, `upstream_model`, `price`",
        ]
    );
}

#[test]
fn wrong_types_are_named_without_echoing_values() {
    assert_eq!(
        errors("providers: [anthropic]\nmodels:\n  m: {provider: 42, max_concurrent: many}\nlisten: 8080\n"),
        [
            "config.yaml: listen: expected a string, found a number; put the value in quotes",
            "config.yaml: providers: expected a mapping, found a list",
            "config.yaml: providers: must configure at least one provider",
            "config.yaml: models.m.provider: expected a string, found a number; put the value in quotes",
            "config.yaml: models.m.max_concurrent: expected a whole number, found a string",
        ]
    );
}

#[test]
fn empty_config_names_the_required_sections() {
    assert_eq!(
        errors(""),
        [
            "config.yaml: providers: required: at least one provider with its `api_key_env`",
            "config.yaml: models: required: at least one model",
        ]
    );
}

#[test]
fn yaml_syntax_errors_name_the_file_and_position() {
    let errors = errors("providers:\n  anthropic: {api_key_env: [\n");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("config.yaml: invalid YAML: "),
        "{errors:?}"
    );
    assert!(errors[0].contains("line"), "{errors:?}");
}

#[test]
fn files_are_read_from_disk() {
    let dir = std::env::temp_dir().join(format!("busbar-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let providers = dir.join("providers.yaml");
    let config = dir.join("config.yaml");
    std::fs::File::create(&providers)
        .unwrap()
        .write_all(CATALOG.as_bytes())
        .unwrap();
    std::fs::File::create(&config)
        .unwrap()
        .write_all(MINIMAL.as_bytes())
        .unwrap();

    let loaded = crate::load_with_env(&providers, &config, &example_env()).unwrap();
    assert_eq!(loaded.config.models.len(), 1);

    let missing = dir.join("missing.yaml");
    let err = crate::load_with_env(&missing, &missing, &example_env()).unwrap_err();
    assert_eq!(err.len(), 2);
    assert!(
        matches!(&err.errors()[0], ConfigError::Read { file, .. } if file.ends_with("missing.yaml"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
