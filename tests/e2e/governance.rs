//! Governance end to end (docs/configuration.md, *Governance*): busbar with `governance.enabled`,
//! its SQLite store in the test's temporary directory and its admin token
//! from an environment variable set on the child only.
//!
//! * `admin` — the admin API: create (secret once), list, get, patch,
//!   delete, usage, and the routes' absence without governance;
//! * `admission` — keys as the only credential, `allowed_pools` with
//!   `/stats` and model lists, budgets, RPM, token counting;
//! * `durability` — what is charged when a request fails or its client
//!   leaves, spend across a restart, budgets under concurrency, reloads;
//! * `charging` — reservations for many replies (`n`, `candidateCount`),
//!   and the usage of a stream whose client left before it came;
//! * `spend` — the spend report after requests on two lanes, usage by
//!   token class, and the report's parameter checks;
//! * `shapes` — each ingress protocol's refusal shapes;
//! * `crash` — `kill -9` in the middle of a load: nothing double counted;
//! * `replicas` — two processes sharing one PostgreSQL budget and RPM
//!   window (`#[ignore]`d: they need `BUSBAR_TEST_POSTGRES`);
//! * `sigv4` — Bedrock clients signing with a virtual key.

mod admin;
mod admission;
mod charging;
mod crash;
mod durability;
mod replicas;
mod shapes;
mod sigv4;
mod spend;

use std::path::PathBuf;

use busbar_testkit::MockUpstream;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::support::{config_yaml, key_env, providers_yaml, Busbar, Client, Reply, TempDir};

/// The admin token, set on the child as [`ADMIN_ENV`].
const ADMIN_TOKEN: &str = "bb-admin-e2e-0123456789";
/// The variable `governance.admin_token` names.
const ADMIN_ENV: &str = "BUSBAR_E2E_ADMIN_TOKEN";
/// A variable for `governance.secret_key_env`, set on every child so
/// replicas seal keys alike.
const SEAL_ENV: &str = "BUSBAR_E2E_SEAL";
/// Its value.
const SEAL: &str = "busbar-e2e-seal-4f1c9a7e2b6d8035";

/// Two pools over the default models: `fast` (the OpenAI mock) and `slow`
/// (the Anthropic mock).
const POOLS: &str = "pools:
  fast:
    members:
      - target: gpt
  slow:
    members:
      - target: claude
";

/// A governed busbar in front of a mock upstream. The files and the
/// database live in `dir`, so [`Governed::restart`] finds its spend again.
struct Governed {
    mock: MockUpstream,
    /// Holds the files and the database until the test ends.
    dir: TempDir,
    /// `config.yaml` as first written.
    config: String,
    args: Vec<String>,
    busbar: Option<Busbar>,
    base: String,
    client: Client,
}

impl Governed {
    /// Governance on with `settings` added under `governance:` (indented
    /// `key: value` lines), the [`POOLS`] and `extra` top-level YAML.
    async fn start(settings: &str, extra: &str) -> Self {
        Self::start_with_models(crate::support::DEFAULT_MODELS, settings, extra).await
    }

    /// [`Governed::start`] with `models` (indented entries under `models:`)
    /// instead of the default ones.
    async fn start_with_models(models: &str, settings: &str, extra: &str) -> Self {
        let mock = MockUpstream::start()
            .await
            .expect("start the mock upstream");
        let dir = TempDir::new("gov");
        let db: PathBuf = dir.path().join("governance.db");
        let governance = format!(
            "governance:
  enabled: true
  db_path: {}
  admin_token: ${{{ADMIN_ENV}}}
{settings}
{POOLS}
{extra}",
            db.display()
        );
        let providers = dir.write("providers.yaml", &providers_yaml(&mock.base_url()));
        let config_text = config_yaml(models, &governance);
        let config = dir.write("config.yaml", &config_text);
        let args = vec![
            "--providers".into(),
            providers.display().to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        let mut governed = Self {
            mock,
            dir,
            config: config_text,
            args,
            busbar: None,
            base: String::new(),
            client: Client::new(),
        };
        governed.serve().await;
        governed
    }

    async fn serve(&mut self) {
        let busbar = self.spawn().await;
        self.base = format!("http://{}", busbar.addr());
        self.busbar = Some(busbar);
    }

    /// Another busbar on the same files (its own port), for replicas.
    async fn spawn(&self) -> Busbar {
        let args = self.args.clone();
        let mut env = key_env();
        env.push((ADMIN_ENV.to_owned(), ADMIN_TOKEN.to_owned()));
        env.push((SEAL_ENV.to_owned(), SEAL.to_owned()));
        tokio::task::spawn_blocking(move || Busbar::serve(&args, &env))
            .await
            .expect("the start-up thread does not panic")
    }

    /// Kills busbar (SIGKILL: nothing is flushed on the way out) and starts
    /// it again on the same files and database.
    async fn restart(&mut self) {
        drop(self.busbar.take());
        self.serve().await;
    }

    /// Rewrites `config.yaml` with governance on or off and sends SIGHUP.
    fn reload(&self, governance: bool) {
        let text = if governance {
            self.config.clone()
        } else {
            self.config.replace("  enabled: true", "  enabled: false")
        };
        self.dir.write("config.yaml", &text);
        if let Some(busbar) = &self.busbar {
            busbar.signal("HUP");
        }
    }

    fn log(&self) -> String {
        self.busbar.as_ref().map(Busbar::log).unwrap_or_default()
    }

    async fn send(&self, method: &str, path: &str, body: Bytes, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}{path}", self.base);
        self.client.send(method, &url, body, headers).await
    }

    /// An admin call with the admin token in `x-admin-token`.
    async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map_or_else(Bytes::new, |body| Bytes::from(body.to_string()));
        self.send(method, path, body, &[("x-admin-token", ADMIN_TOKEN)])
            .await
    }

    /// Creates a key from `spec`; answers its id and secret.
    async fn create_key(&self, spec: Value) -> (String, String) {
        let reply = self.admin("POST", "/admin/keys", Some(&spec)).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let created = reply.json();
        let id = created["id"].as_str().expect("an id").to_owned();
        let secret = created["secret"].as_str().expect("a secret").to_owned();
        (id, secret)
    }

    /// The key's usage in its current window.
    async fn usage(&self, id: &str) -> Value {
        let reply = self
            .admin("GET", &format!("/admin/keys/{id}/usage"), None)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// An OpenAI chat request for `model` with `secret` as Bearer.
    async fn chat(&self, secret: &str, model: &str) -> Reply {
        let bearer = format!("Bearer {secret}");
        self.send(
            "POST",
            "/v1/chat/completions",
            Bytes::from(chat(model).to_string()),
            &[("authorization", &bearer)],
        )
        .await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, Bytes::new(), headers).await
    }

    async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        self.send("POST", path, Bytes::from(body.to_string()), headers)
            .await
    }
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]})
}

/// Busbar settles a reply that was sent whole before sending it, and a
/// stream's just after its end; this waits for the latter.
async fn usage_settled(governed: &Governed, id: &str, requests: u64) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let usage = governed.usage(id).await;
        if usage["requests"] == requests || tokio::time::Instant::now() > deadline {
            return usage;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
