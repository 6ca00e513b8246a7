//! `busbar demo`: an embedded configuration whose providers are in-process
//! mock upstreams, so a first request needs no key and no network.

use std::collections::BTreeMap;
use std::net::SocketAddr;
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
  demo-anthropic:
    protocol: anthropic
    base_url: ${BUSBAR_DEMO_UPSTREAM}/anthropic
    allow_private: true
";

const CONFIG: &str = "\
listen: ${BUSBAR_DEMO_LISTEN}
providers:
  demo-openai:
    api_key_env: BUSBAR_DEMO_KEY
  demo-anthropic:
    api_key_env: BUSBAR_DEMO_KEY
models:
  demo-openai:
    provider: demo-openai
    max_concurrent: 256
  demo-anthropic:
    provider: demo-anthropic
    max_concurrent: 256
pools:
  demo:
    members:
      - target: demo-openai
      - target: demo-anthropic
";

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
        .event_interval(Duration::from_millis(15));
    let upstream = MockUpstream::start_with(options)
        .await
        .map_err(|error| format!("cannot start the demo's mock upstream: {error}"))?;
    let env: BTreeMap<String, String> = [
        ("BUSBAR_DEMO_UPSTREAM", upstream.base_url()),
        ("BUSBAR_DEMO_LISTEN", listen),
        ("BUSBAR_DEMO_KEY", "demo-key".to_owned()),
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
         Models: demo-openai, demo-anthropic; pool: demo (both). Try:\n\n\
         curl -s {base}/v1/chat/completions -H 'Content-Type: application/json' \\\n  \
         -d '{{\"model\": \"demo-anthropic\", \"messages\": [{{\"role\": \"user\", \"content\": \"What is a busbar?\"}}]}}'\n\n\
         curl -s {base}/demo-openai/v1/messages -H 'Content-Type: application/json' \\\n  \
         -d '{{\"max_tokens\": 256, \"messages\": [{{\"role\": \"user\", \"content\": \"What is a busbar?\"}}]}}'\n\n\
         curl -sN {base}/v1/chat/completions -H 'Content-Type: application/json' \\\n  \
         -d '{{\"model\": \"demo\", \"stream\": true, \"messages\": [{{\"role\": \"user\", \"content\": \"Stream to me\"}}]}}'\n\n\
         curl -s {base}/stats\n"
    );
}
