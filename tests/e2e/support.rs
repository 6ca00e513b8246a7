//! The harness: a mock upstream plus a `busbar` child process configured to
//! use it, and helpers to talk to the pair.
//!
//! [`Setup`] writes `providers.yaml` and `config.yaml` into a fresh
//! temporary directory, with two providers on the mock (`mock-openai`,
//! protocol `openai`; `mock-anthropic`, protocol `anthropic`) whose keys are
//! set on the child only, then starts the binary with `listen: 127.0.0.1:0`
//! and waits for its `busbar listening` line. [`Gateway`] is the running
//! pair; dropping it kills the child.

mod client;
mod fixtures;
mod metrics;
mod process;
mod wire;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use busbar_testkit::{MockOptions, MockUpstream, RecordedRequest};
use bytes::Bytes;
use serde_json::Value;

pub(crate) use client::{Client, Reply, StreamReply};
pub(crate) use fixtures::{
    anthropic_tools, openai_tools, parsed_arguments, time_arguments, weather_arguments, PNG_BASE64,
};
pub(crate) use metrics::Metrics;
pub(crate) use process::{run_busbar, Busbar};
pub(crate) use wire::{
    anthropic_error, anthropic_stream_text, normalize_ids, openai_error, openai_stream_text,
    text_of,
};

/// The key of the `mock-openai` provider, set on the child only.
pub(crate) const OPENAI_KEY: &str = "sk-e2e-openai-0123456789";
/// The key of the `mock-anthropic` provider, set on the child only.
pub(crate) const ANTHROPIC_KEY: &str = "sk-ant-e2e-0123456789";
/// The variable naming [`OPENAI_KEY`].
pub(crate) const OPENAI_KEY_ENV: &str = "BUSBAR_E2E_OPENAI_KEY";
/// The variable naming [`ANTHROPIC_KEY`].
pub(crate) const ANTHROPIC_KEY_ENV: &str = "BUSBAR_E2E_ANTHROPIC_KEY";

/// The models every gateway has unless a test replaces them:
/// `gpt` and `gpt-direct` on the OpenAI mock (the first renamed upstream),
/// `claude` and `claude-big` on the Anthropic mock (the second with its own
/// `default_max_tokens`).
pub(crate) const DEFAULT_MODELS: &str = "
  gpt:
    provider: mock-openai
    max_concurrent: 8
    upstream_model: gpt-4o-mini
  gpt-direct:
    provider: mock-openai
    max_concurrent: 8
  claude:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
  claude-big:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
    default_max_tokens: 8192
";

/// The upstream id of the `gpt` model.
pub(crate) const GPT_UPSTREAM: &str = "gpt-4o-mini";
/// The upstream id of the `claude` and `claude-big` models.
pub(crate) const CLAUDE_UPSTREAM: &str = "claude-3-5-haiku";

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "busbar-e2e-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).expect("write a temporary file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The catalog pointing every provider at `base_url` (`http://HOST:PORT`
/// with an optional path prefix): `mock-openai` and `mock-anthropic`, which
/// every config switches on, and `mock-responses`, `mock-gemini`,
/// `mock-bedrock` and `mock-cohere`, which [`Setup::every_protocol`] does.
pub(crate) fn providers_yaml(base_url: &str) -> String {
    format!(
        "providers:
  mock-openai:
    protocol: openai
    base_url: {base_url}
    allow_private: true
  mock-anthropic:
    protocol: anthropic
    base_url: {base_url}
    allow_private: true
  mock-responses:
    protocol: responses
    base_url: {base_url}
    allow_private: true
  mock-gemini:
    protocol: gemini
    base_url: {base_url}
    allow_private: true
  mock-bedrock:
    protocol: bedrock
    base_url: {base_url}
    allow_private: true
  mock-cohere:
    protocol: cohere
    base_url: {base_url}
    allow_private: true
  mock-invoke:
    protocol: bedrock-invoke
    base_url: {base_url}
    allow_private: true
"
    )
}

/// The config entries switching on `mock-responses`, `mock-gemini`, `mock-bedrock` and
/// `mock-cohere` (the mock takes any key; Bedrock's is an AWS key pair, so
/// its requests are SigV4-signed).
const EVERY_PROTOCOL_PROVIDERS: &str = "  mock-cohere:
    api_key_env: BUSBAR_E2E_OPENAI_KEY
  mock-responses:
    api_key_env: BUSBAR_E2E_OPENAI_KEY
  mock-gemini:
    api_key_env: BUSBAR_E2E_OPENAI_KEY
  mock-bedrock:
    api_key_env: BUSBAR_E2E_AWS_KEY
  mock-invoke:
    api_key_env: BUSBAR_E2E_AWS_KEY
";

/// A `config.yaml` with both providers switched on, `models` (the indented
/// entries under `models:`) and `extra` top-level YAML.
pub(crate) fn config_yaml(models: &str, extra: &str) -> String {
    config_yaml_with("", models, extra)
}

/// [`config_yaml`] with more entries under `providers:`.
fn config_yaml_with(providers: &str, models: &str, extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0
providers:
  mock-openai:
    api_key_env: {OPENAI_KEY_ENV}
  mock-anthropic:
    api_key_env: {ANTHROPIC_KEY_ENV}
{providers}models:
{models}
{extra}
"
    )
}

/// The provider keys, as the child's environment.
pub(crate) fn key_env() -> Vec<(String, String)> {
    vec![
        (OPENAI_KEY_ENV.to_owned(), OPENAI_KEY.to_owned()),
        (ANTHROPIC_KEY_ENV.to_owned(), ANTHROPIC_KEY.to_owned()),
        (
            "BUSBAR_E2E_AWS_KEY".to_owned(),
            "AKIDE2EEXAMPLE:e2e-secret-access-key".to_owned(),
        ),
    ]
}

/// How to start a [`Gateway`].
pub(crate) struct Setup {
    providers: String,
    models: String,
    extra: String,
    mock: MockOptions,
    prefix: String,
    env: Vec<(String, String)>,
}

impl Setup {
    pub(crate) fn new() -> Self {
        Self {
            providers: String::new(),
            models: DEFAULT_MODELS.to_owned(),
            extra: String::new(),
            mock: MockOptions::default(),
            prefix: String::new(),
            env: Vec::new(),
        }
    }

    /// Replaces the models (indented entries under `models:`).
    pub(crate) fn models(mut self, yaml: &str) -> Self {
        yaml.clone_into(&mut self.models);
        self
    }

    /// Switches on the `mock-responses`, `mock-gemini`, `mock-bedrock` and `mock-cohere`
    /// providers too, for models of every protocol.
    pub(crate) fn every_protocol(mut self) -> Self {
        EVERY_PROTOCOL_PROVIDERS.clone_into(&mut self.providers);
        self
    }

    /// Switches on catalog providers with these entries under `providers:`
    /// (indented by two), instead of [`every_protocol`](Self::every_protocol)'s;
    /// `{MOCK_BASE_URL}` in them stands for the mock's address.
    pub(crate) fn providers(mut self, yaml: &str) -> Self {
        yaml.clone_into(&mut self.providers);
        self
    }

    /// Adds top-level YAML (`auth`, `limits`, `pools`, …).
    pub(crate) fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self.extra.push('\n');
        self
    }

    /// Options for the mock upstream.
    pub(crate) fn mock(mut self, options: MockOptions) -> Self {
        self.mock = options;
        self
    }

    /// Sets an environment variable for busbar (besides the provider keys).
    pub(crate) fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A path prefix for both providers' `base_url`.
    pub(crate) fn base_url_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// Starts the mock, writes the files and starts busbar.
    pub(crate) async fn start(self) -> Gateway {
        let mock = MockUpstream::start_with(self.mock)
            .await
            .expect("start the mock upstream");
        let dir = TempDir::new("gw");
        let providers = dir.write(
            "providers.yaml",
            &providers_yaml(&format!("{}{}", mock.base_url(), self.prefix)),
        );
        let config = dir.write(
            "config.yaml",
            &config_yaml_with(
                &self.providers.replace("{MOCK_BASE_URL}", &mock.base_url()),
                &self.models,
                &self.extra,
            ),
        );
        let args: Vec<String> = vec![
            "--providers".into(),
            providers.display().to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        let mut env = key_env();
        env.extend(self.env);
        let busbar = tokio::task::spawn_blocking(move || Busbar::serve(&args, &env))
            .await
            .expect("the start-up thread does not panic");
        let base = format!("http://{}", busbar.addr());
        Gateway {
            mock,
            base,
            busbar,
            client: Client::new(),
            dir,
        }
    }
}

/// A running busbar in front of a running mock upstream.
pub(crate) struct Gateway {
    /// The upstream both providers point at.
    pub(crate) mock: MockUpstream,
    /// `http://127.0.0.1:PORT` of busbar.
    pub(crate) base: String,
    pub(crate) busbar: Busbar,
    client: Client,
    /// Holds `providers.yaml` and `config.yaml`.
    dir: TempDir,
}

impl Gateway {
    /// A gateway with the default models and no extra settings.
    pub(crate) async fn start() -> Self {
        Setup::new().start().await
    }

    /// Replaces `config.yaml` (for reload tests).
    pub(crate) fn rewrite_config(&self, contents: &str) {
        self.dir.write("config.yaml", contents);
    }

    /// Every request the upstream received so far.
    pub(crate) fn received(&self) -> Vec<RecordedRequest> {
        self.mock.received()
    }

    /// The only request the upstream received; fails when there were more or none.
    pub(crate) fn received_one(&self) -> RecordedRequest {
        let mut received = self.received();
        assert_eq!(
            received.len(),
            1,
            "expected exactly one upstream request, got {:?}",
            received.iter().map(|r| &r.path).collect::<Vec<_>>()
        );
        received.remove(0)
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        body: impl Into<Bytes>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        self.client.send("POST", &url, body.into(), headers).await
    }

    /// POSTs `body` as JSON with no extra headers.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path, body.to_string(), &[]).await
    }

    /// POSTs `body` as JSON; a connection failure is returned, not fatal.
    pub(crate) async fn try_post_json(&self, path: &str, body: &Value) -> Result<Reply, String> {
        let url = format!("{}{path}", self.base);
        let open = self
            .client
            .try_open("POST", &url, Bytes::from(body.to_string()), &[])
            .await?;
        let (status, headers) = (open.status, open.headers.clone());
        let body = open.finish().await.body;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}{path}", self.base);
        self.client.send("GET", &url, Bytes::new(), headers).await
    }

    /// POSTs and reads the reply as it arrives, chunk by chunk.
    pub(crate) async fn stream(&self, path: &str, body: &Value) -> StreamReply {
        self.open_stream(path, body, &[]).await.finish().await
    }

    /// POSTs and returns once the response headers are in.
    pub(crate) async fn open_stream(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> client::OpenStream {
        let url = format!("{}{path}", self.base);
        self.client
            .open("POST", &url, Bytes::from(body.to_string()), headers)
            .await
    }

    /// Sends `body` straight to the mock, bypassing busbar: what the
    /// upstream answers to exactly these bytes.
    pub(crate) async fn direct_stream(
        &self,
        path: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> StreamReply {
        let url = self.mock.url(path);
        self.client
            .open("POST", &url, body, headers)
            .await
            .finish()
            .await
    }

    /// A request that must succeed: proves the gateway still serves.
    pub(crate) async fn assert_still_serving(&self) {
        let reply = self
            .post_json(
                "/v1/chat/completions",
                &serde_json::json!({"model": "claude", "messages": [{"role": "user", "content": "still there"}]}),
            )
            .await;
        assert_eq!(
            reply.status,
            200,
            "a follow-up request failed: {}",
            reply.text()
        );
        assert_eq!(
            reply.json()["choices"][0]["message"]["content"],
            "Echo: still there"
        );
        let reply = self
            .post_json(
                "/gpt/v1/messages",
                &serde_json::json!({"max_tokens": 50, "messages": [{"role": "user", "content": "still there"}]}),
            )
            .await;
        assert_eq!(
            reply.status,
            200,
            "a follow-up request failed: {}",
            reply.text()
        );
    }

    /// The named lane's entry in `/stats`.
    pub(crate) async fn lane_stats(&self, model: &str) -> Value {
        let stats = self.get("/stats", &[]).await;
        assert_eq!(stats.status, 200, "{}", stats.text());
        let stats = stats.json();
        stats["lanes"]
            .as_array()
            .and_then(|lanes| lanes.iter().find(|lane| lane["model"] == model))
            .cloned()
            .unwrap_or_else(|| panic!("no lane `{model}` in /stats: {stats}"))
    }
}
