//! `${NAME}` expansion as loading reports it.

use super::*;
use crate::{ConfigError, EnvError};

#[test]
fn references_are_expanded_before_parsing() {
    let mut vars = example_env();
    vars.insert("LISTEN".into(), "127.0.0.1:9999".into());
    vars.insert(
        "PROVIDER_BLOCK".into(),
        "{api_key_env: ANTHROPIC_KEY}".into(),
    );
    let config = "listen: ${LISTEN}\nproviders:\n  anthropic: ${PROVIDER_BLOCK}\nmodels:\n  m: {provider: anthropic, max_concurrent: 1}\n";
    let loaded = load_with(CATALOG, config, &vars);
    assert_eq!(loaded.config.listen, "127.0.0.1:9999");
    assert!(loaded.warnings.is_empty());
}

#[test]
fn unset_variable_is_fatal() {
    let config = minimal_with("auth:\n  mode: token\n  client_tokens: [\"${NOT_SET}\"]\n");
    let errors = errors(&config);
    assert_eq!(
        errors,
        ["config.yaml:11: unset environment variable: NOT_SET"]
    );
}

#[test]
fn unclosed_reference_is_fatal() {
    assert_eq!(
        errors(&minimal_with("listen: ${LISTEN\n")),
        ["config.yaml:9: unclosed `${`"]
    );
}

#[test]
fn empty_reference_is_fatal() {
    assert_eq!(
        errors(&minimal_with("listen: ${}\n")),
        ["config.yaml:9: empty `${}`"]
    );
}

#[test]
fn control_characters_in_values_are_fatal() {
    for bad in [
        "a\nb",
        "a\rb",
        "a\tb",
        "a\0b",
        "a\u{7f}b",
        "a\u{85}b",
        "a\u{2028}b",
        "a\u{2029}b",
    ] {
        let mut vars = example_env();
        vars.insert("TOKEN".into(), bad.into());
        let config = "auth: {mode: token, client_tokens: ['${TOKEN}']}\n";
        let errors = errors_with(CATALOG, config, &vars);
        assert_eq!(
            errors,
            ["config.yaml:1: environment variable TOKEN holds a control character"],
            "{bad:?}"
        );
    }
}

#[test]
fn expansion_errors_from_both_files_are_reported_together() {
    let catalog = "x:\n  protocol: openai\n  base_url: ${CATALOG_URL}\n";
    let config = "providers: ${A}\nmodels: ${B}\n";
    let err = crate::load_str(catalog, config, &env(&[])).unwrap_err();
    let lines: Vec<String> = err.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "providers.yaml:3: unset environment variable: CATALOG_URL",
            "config.yaml:1: unset environment variable: A",
            "config.yaml:2: unset environment variable: B",
        ]
    );
    assert_eq!(
        err.errors()[1],
        ConfigError::Env {
            file: "config.yaml".into(),
            line: 1,
            source: EnvError::Unset("A".into())
        }
    );
}

#[test]
fn the_process_environment_is_the_default() {
    // PATH is set in every test environment; reading it proves `SystemEnv`
    // is wired without mutating the shared process environment.
    assert!(crate::Env::var(&crate::SystemEnv, "PATH").is_some());
    assert_eq!(
        crate::Env::var(&crate::SystemEnv, "BUSBAR_CONFIG_TEST_SURELY_UNSET"),
        None
    );
}
