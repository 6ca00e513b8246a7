//! The process: command line, `busbar check`, start-up failures, the
//! listening log line, and `busbar demo`.

use crate::support::{
    config_yaml, key_env, providers_yaml, run_busbar, Busbar, Client, Gateway, TempDir,
    ANTHROPIC_KEY_ENV, DEFAULT_MODELS,
};

/// A config with several independent mistakes, each on its own field.
const BROKEN_MODELS: &str = "
  gpt:
    provider: mock-openai
    max_concurrent: 8
    max_requets: 5
  claude:
    provider: mock-anthropc
    max_concurrent: 8
  tiny:
    provider: mock-anthropic
    max_concurrent: 2
";

const BROKEN_POOLS: &str = "
pools:
  smart:
    members:
      - target: gpt
      - target: tiny
        weight: 0
";

#[test]
fn version_prints_the_package_version() {
    for flag in ["--version", "-V"] {
        let out = run_busbar(&[flag], &[]);
        assert_eq!(out.code(), Some(0), "{flag}: {}", out.stderr);
        assert_eq!(
            out.stdout.trim(),
            format!("busbar {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn help_exits_zero_and_names_the_commands() {
    for flag in ["--help", "-h"] {
        let out = run_busbar(&[flag], &[]);
        assert_eq!(out.code(), Some(0), "{flag}: {}", out.stderr);
        for word in ["--providers", "--config", "check"] {
            assert!(
                out.stdout.contains(word),
                "{flag} does not mention {word}:\n{}",
                out.stdout
            );
        }
        assert_eq!(
            out.stdout.contains("busbar demo"),
            cfg!(feature = "demo"),
            "{flag} offers `demo` only in a build with the demo feature:\n{}",
            out.stdout
        );
    }
}

/// Built with `--no-default-features`, the binary has no mock upstream:
/// `demo` is a usage error that says how to get a build with one.
#[cfg(not(feature = "demo"))]
#[test]
fn a_build_without_the_demo_feature_refuses_demo() {
    let out = run_busbar(&["demo"], &[]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("without the `demo` feature") && out.stderr.contains("cargo build"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_argument_is_refused() {
    let out = run_busbar(&["--bogus"], &[]);
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("--bogus"), "{}", out.stderr);
}

#[test]
fn check_accepts_a_valid_configuration() {
    let dir = TempDir::new("check-ok");
    let providers = dir.write("providers.yaml", &providers_yaml("http://127.0.0.1:9"));
    let config = dir.write("config.yaml", &config_yaml(DEFAULT_MODELS, ""));
    let (providers, config) = (
        providers.display().to_string(),
        config.display().to_string(),
    );
    let out = run_busbar(
        &["check", "--providers", &providers, "--config", &config],
        &key_env(),
    );
    assert_eq!(
        out.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn check_lists_every_mistake_with_its_field_path_in_one_run() {
    let dir = TempDir::new("check-bad");
    let providers = dir.write("providers.yaml", &providers_yaml("http://127.0.0.1:9"));
    let config = dir.write("config.yaml", &config_yaml(BROKEN_MODELS, BROKEN_POOLS));
    let (providers, config) = (
        providers.display().to_string(),
        config.display().to_string(),
    );
    let out = run_busbar(
        &["check", "--providers", &providers, "--config", &config],
        &key_env(),
    );
    assert_eq!(
        out.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    let expected = [
        // an unknown key, with a suggestion
        ("models.gpt.max_requets", Some("max_requests")),
        // a provider that is not configured, with a suggestion
        ("models.claude.provider", Some("mock-anthropic")),
        // a weight below 1
        ("pools.smart.members[1].weight", None),
    ];
    for (path, suggestion) in expected {
        let line = all
            .lines()
            .find(|line| line.contains(path))
            .unwrap_or_else(|| panic!("no error names `{path}`:\n{all}"));
        if let Some(suggestion) = suggestion {
            assert!(
                line.contains("did you mean") && line.contains(suggestion),
                "`{path}` has no did-you-mean `{suggestion}`: {line}"
            );
        }
    }
}

#[test]
fn serving_a_broken_configuration_exits_one_listing_the_errors() {
    let dir = TempDir::new("serve-bad");
    let providers = dir.write("providers.yaml", &providers_yaml("http://127.0.0.1:9"));
    let config = dir.write("config.yaml", &config_yaml(BROKEN_MODELS, BROKEN_POOLS));
    let (providers, config) = (
        providers.display().to_string(),
        config.display().to_string(),
    );
    let out = run_busbar(
        &["--providers", &providers, "--config", &config],
        &key_env(),
    );
    assert_eq!(out.code(), Some(1));
    assert!(
        out.stderr.contains("models.gpt.max_requets"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pools.smart.members[1].weight"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_api_key_variable_fails_start_up_loudly() {
    let dir = TempDir::new("no-key");
    let providers = dir.write("providers.yaml", &providers_yaml("http://127.0.0.1:9"));
    let config = dir.write("config.yaml", &config_yaml(DEFAULT_MODELS, ""));
    let (providers, config) = (
        providers.display().to_string(),
        config.display().to_string(),
    );
    let only_openai: Vec<_> = key_env()
        .into_iter()
        .filter(|(name, _)| name != ANTHROPIC_KEY_ENV)
        .collect();
    let out = run_busbar(
        &["--providers", &providers, "--config", &config],
        &only_openai,
    );
    assert_eq!(
        out.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains(ANTHROPIC_KEY_ENV),
        "the error does not name the variable: {}",
        out.stderr
    );
    assert!(!out.stdout.contains("busbar listening"), "{}", out.stdout);

    // Set but empty is just as fatal.
    let mut empty = only_openai.clone();
    empty.push((ANTHROPIC_KEY_ENV.to_owned(), String::new()));
    let out = run_busbar(&["--providers", &providers, "--config", &config], &empty);
    assert_eq!(
        out.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(out.stderr.contains(ANTHROPIC_KEY_ENV), "{}", out.stderr);
}

#[test]
fn missing_files_fail_start_up_naming_the_path() {
    let dir = TempDir::new("no-files");
    let providers = dir
        .path()
        .join("absent-providers.yaml")
        .display()
        .to_string();
    let config = dir.path().join("absent-config.yaml").display().to_string();
    let out = run_busbar(
        &["--providers", &providers, "--config", &config],
        &key_env(),
    );
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("absent-config.yaml"), "{}", out.stderr);
}

#[tokio::test]
async fn listen_port_zero_logs_the_real_port_which_accepts_connections() {
    let gateway = Gateway::start().await;
    let addr = gateway.busbar.addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0, "the logged port must be the bound one");
    let health = gateway.get("/healthz", &[]).await;
    assert_eq!(health.status, 200);
    let log = gateway.busbar.log();
    assert_eq!(
        log.matches("busbar listening").count(),
        1,
        "one listening event:\n{log}"
    );
}

#[tokio::test]
async fn environment_variables_name_the_files_when_no_flag_does() {
    let mock = busbar_testkit::MockUpstream::start().await.expect("mock");
    let dir = TempDir::new("env-paths");
    let providers = dir.write("providers.yaml", &providers_yaml(&mock.base_url()));
    let config = dir.write("config.yaml", &config_yaml(DEFAULT_MODELS, ""));
    let mut env = key_env();
    env.push(("BUSBAR_PROVIDERS".into(), providers.display().to_string()));
    env.push(("BUSBAR_CONFIG".into(), config.display().to_string()));
    let busbar = tokio::task::spawn_blocking(move || Busbar::serve(&[], &env))
        .await
        .expect("start-up thread");
    let client = Client::new();
    let url = format!("http://{}/healthz", busbar.addr());
    let reply = client.send("GET", &url, Default::default(), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "ok");
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn demo_serves_translated_chat_completions_without_keys() {
    use serde_json::json;

    let dir = crate::support::TempDir::new("demo");
    let log = dir.path().join("requests.jsonl");
    let env = [(
        "BUSBAR_DEMO_REQUEST_LOG".to_owned(),
        log.display().to_string(),
    )];
    let busbar = tokio::task::spawn_blocking(move || {
        Busbar::serve(
            &["demo".into(), "--listen".into(), "127.0.0.1:0".into()],
            &env,
        )
    })
    .await
    .expect("start-up thread");
    let client = Client::new();
    let url = format!("http://{}/v1/chat/completions", busbar.addr());
    let body = json!({"model": "demo-anthropic", "messages": [{"role": "user", "content": "What is a busbar?"}]});
    let reply = client
        .send("POST", &url, body.to_string().into(), &[])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = reply.json();
    assert_eq!(reply["object"], "chat.completion");
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!text.is_empty(), "no text in {reply}");
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");

    // The demo logs each request to a JSONL file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let record = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break serde_json::from_str::<serde_json::Value>(line).expect("a JSON record");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request log record"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(record["model"], "demo-anthropic");
    assert_eq!(record["egress"], "anthropic");
    assert_eq!(record["outcome"], "success");
}
