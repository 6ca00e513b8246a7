//! `busbar demo`: an embedded configuration whose providers are in-process
//! mock upstreams, so a first request needs no key and no network.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use busbar_testkit::{MockOptions, MockUpstream};

/// The catalog: each protocol's mock lives under its own path prefix on one
/// mock server, the way a real provider's `base_url` carries a prefix.
const PROVIDERS: &str = "\
providers:
  demo-openai:
    protocol: openai
    base_url: ${BUSBAR_DEMO_UPSTREAM}/openai
    allow_private: true
  demo-responses:
    protocol: responses
    base_url: ${BUSBAR_DEMO_UPSTREAM}/responses
    allow_private: true
  demo-anthropic:
    protocol: anthropic
    base_url: ${BUSBAR_DEMO_UPSTREAM}/anthropic
    allow_private: true
  demo-gemini:
    protocol: gemini
    base_url: ${BUSBAR_DEMO_UPSTREAM}/gemini
    allow_private: true
  demo-cohere:
    protocol: cohere
    base_url: ${BUSBAR_DEMO_UPSTREAM}/cohere
    allow_private: true
  demo-bedrock:
    protocol: bedrock
    base_url: ${BUSBAR_DEMO_UPSTREAM}/bedrock
    region: us-east-1
    allow_private: true
  demo-bedrock-invoke:
    protocol: bedrock-invoke
    base_url: ${BUSBAR_DEMO_UPSTREAM}/bedrock
    region: us-east-1
    allow_private: true
";

/// The demo's Bedrock key pair: the mock verifies Busbar's SigV4 signatures
/// with it, as AWS would.
const DEMO_AWS_KEY_ID: &str = "AKIDBUSBARDEMO";
const DEMO_AWS_SECRET: &str = "demo-secret";

/// One model per protocol, a pool over all seven, and the request log in a
/// JSONL file, so the first thing to look at after a request is its record.
const CONFIG: &str = "\
listen: ${BUSBAR_DEMO_LISTEN}
providers:
  demo-openai: {api_key_env: BUSBAR_DEMO_KEY}
  demo-responses: {api_key_env: BUSBAR_DEMO_KEY}
  demo-anthropic: {api_key_env: BUSBAR_DEMO_KEY}
  demo-gemini: {api_key_env: BUSBAR_DEMO_KEY}
  demo-cohere: {api_key_env: BUSBAR_DEMO_KEY}
  demo-bedrock: {api_key_env: BUSBAR_DEMO_AWS_KEYS}
  demo-bedrock-invoke: {api_key_env: BUSBAR_DEMO_AWS_KEYS}
models:
  # A made-up price, so /metrics and /stats show what requests cost.
  demo-openai: {provider: demo-openai, max_concurrent: 256, price: &demo_price {input: 1, output: 2}}
  demo-responses: {provider: demo-responses, max_concurrent: 256, price: *demo_price}
  demo-anthropic: {provider: demo-anthropic, max_concurrent: 256, price: *demo_price}
  demo-gemini: {provider: demo-gemini, max_concurrent: 256, price: *demo_price}
  demo-cohere: {provider: demo-cohere, max_concurrent: 256, price: *demo_price}
  demo-bedrock: {provider: demo-bedrock, max_concurrent: 256, price: *demo_price}
  demo-bedrock-invoke: {provider: demo-bedrock-invoke, max_concurrent: 256, price: *demo_price}
pools:
  demo:
    members:
      - target: demo-openai
      - target: demo-responses
      - target: demo-anthropic
      - target: demo-gemini
      - target: demo-cohere
      - target: demo-bedrock
      - target: demo-bedrock-invoke
observability:
  request_log:
    file: '${BUSBAR_DEMO_REQUEST_LOG}'
    max_bytes: 10485760
    keep: 1
";

/// Where the demo's request log goes: `$BUSBAR_DEMO_REQUEST_LOG`, else
/// `busbar-demo-requests.jsonl` in the system's temporary directory.
fn request_log_path() -> PathBuf {
    std::env::var_os("BUSBAR_DEMO_REQUEST_LOG")
        .filter(|path| !path.is_empty())
        .map_or_else(
            || std::env::temp_dir().join("busbar-demo-requests.jsonl"),
            PathBuf::from,
        )
}

/// The mock upstream and the configuration that points at it. The mock
/// stops when this is dropped, so it lives as long as the server.
pub(crate) struct Demo {
    pub(crate) config: busbar_config::Config,
    _upstream: MockUpstream,
}

/// Starts the mock upstreams and loads the embedded configuration.
pub(crate) async fn start(listen: String) -> Result<Demo, String> {
    // Paced streams, so a person watching `curl -N` sees tokens arrive;
    // nothing is recorded, since no test reads the demo's requests.
    let options = MockOptions::default()
        .record(false)
        .event_interval(Duration::from_millis(15))
        .aws_credentials(DEMO_AWS_KEY_ID, DEMO_AWS_SECRET);
    let upstream = MockUpstream::start_with(options)
        .await
        .map_err(|error| format!("cannot start the demo's mock upstream: {error}"))?;
    let env: BTreeMap<String, String> = [
        ("BUSBAR_DEMO_UPSTREAM", upstream.base_url()),
        ("BUSBAR_DEMO_LISTEN", listen),
        ("BUSBAR_DEMO_KEY", "demo-key".to_owned()),
        // Inside single quotes in YAML, a quote is written twice.
        (
            "BUSBAR_DEMO_REQUEST_LOG",
            request_log_path().display().to_string().replace('\'', "''"),
        ),
        // Bedrock lanes sign with SigV4: an access key id and a secret.
        (
            "BUSBAR_DEMO_AWS_KEYS",
            format!("{DEMO_AWS_KEY_ID}:{DEMO_AWS_SECRET}"),
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let loaded = busbar_config::load_str(PROVIDERS, CONFIG, &env)
        .map_err(|errors| format!("the embedded demo configuration is invalid:\n{errors}"))?;
    Ok(Demo {
        config: loaded.config,
        _upstream: upstream,
    })
}

/// Prints requests to paste into another terminal.
pub(crate) fn announce(addr: SocketAddr) {
    let base = format!("http://{addr}");
    println!(
        "\nBusbar demo is serving on {base} with mock providers (no key, no network).\n\
         Models: demo-openai, demo-responses, demo-anthropic, demo-gemini, demo-cohere,\n\
         demo-bedrock, demo-bedrock-invoke (one per protocol); pool: demo (all seven). Try:\n\n\
         curl -s {base}/v1/chat/completions -H 'Content-Type: application/json' \\\n  \
         -d '{{\"model\": \"demo-anthropic\", \"messages\": [{{\"role\": \"user\", \"content\": \"What is a busbar?\"}}]}}'\n\n\
         curl -s {base}/demo-openai/v1/messages -H 'Content-Type: application/json' \\\n  \
         -d '{{\"max_tokens\": 256, \"messages\": [{{\"role\": \"user\", \"content\": \"What is a busbar?\"}}]}}'\n\n\
         curl -sN {base}/v1/chat/completions -H 'Content-Type: application/json' \\\n  \
         -d '{{\"model\": \"demo\", \"stream\": true, \"messages\": [{{\"role\": \"user\", \"content\": \"Stream to me\"}}]}}'\n\n\
         curl -s '{base}/v1beta/models/demo-cohere:generateContent' -H 'Content-Type: application/json' \\\n  \
         -d '{{\"contents\": [{{\"role\": \"user\", \"parts\": [{{\"text\": \"What is a busbar?\"}}]}}]}}'\n\n\
         curl -s {base}/stats\n\n\
         Each request's record is appended to {}.\n",
        request_log_path().display()
    );
}
