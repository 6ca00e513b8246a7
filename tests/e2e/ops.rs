//! Operations: `/healthz`, `/stats`, `/metrics`, the headers every response
//! carries, client authentication, and graceful shutdown.

use std::time::{Duration, Instant};

use busbar_testkit::MockOptions;
use serde_json::{json, Value};

use crate::support::{
    anthropic_error, config_yaml, openai_error, openai_stream_text, Gateway, Setup, DEFAULT_MODELS,
};

const POOL: &str = "
pools:
  both:
    members:
      - target: gpt
        weight: 2
      - target: claude
";

const TOKENS: &str = "
auth:
  mode: token
  client_tokens:
    - tok-alpha
    - tok-beta
";

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

fn messages() -> Value {
    json!({"max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn healthz_answers_ok() {
    let gateway = Gateway::start().await;
    let reply = gateway.get("/healthz", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "ok");
    assert!(
        gateway.received().is_empty(),
        "/healthz has no side effects"
    );
}

/// Sends `request` as it is and reads the whole answer (the server closes
/// after it: every request here says `connection: close` or is refused).
async fn raw(gateway: &Gateway, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gateway.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn head_is_answered_wherever_get_is() {
    let gateway = Gateway::start().await;
    for path in ["/healthz", "/stats", "/v1/models", "/v1beta/models"] {
        let answer = raw(
            &gateway,
            &format!("HEAD {path} HTTP/1.1\r\nhost: busbar\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        let (_, body) = answer.split_once("\r\n\r\n").expect("a blank line");
        assert!(body.is_empty(), "{path}: HEAD has no body: {body:?}");
    }
}

#[tokio::test]
async fn an_http11_request_needs_exactly_one_host() {
    let gateway = Gateway::start().await;
    let none = raw(
        &gateway,
        "GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(none.starts_with("HTTP/1.1 400"), "{none}");
    let two = raw(
        &gateway,
        "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    let body = chat("gpt").to_string();
    let anthropic = raw(
        &gateway,
        &format!(
            "POST /v1/messages HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(anthropic.starts_with("HTTP/1.1 400"), "{anthropic}");
    assert!(
        anthropic.contains("invalid_request_error"),
        "in the route's own shape: {anthropic}"
    );
    // HTTP/1.0 has no Host requirement.
    let old = raw(&gateway, "GET /healthz HTTP/1.0\r\n\r\n").await;
    assert!(
        old.starts_with("HTTP/1.0 200") || old.starts_with("HTTP/1.1 200"),
        "{old}"
    );
    assert!(gateway.received().is_empty());
}

#[tokio::test]
async fn stats_lists_pools_and_lanes_with_every_field() {
    let gateway = Setup::new().extra(POOL).start().await;
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("gpt"))
        .await;
    assert_eq!(reply.status, 200);
    let stats = gateway.get("/stats", &[]).await;
    assert_eq!(stats.status, 200);
    assert!(stats
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    let stats = stats.json();
    assert_eq!(
        stats["pools"],
        json!({"both": ["gpt", "claude"]}),
        "{stats}"
    );
    let lanes = stats["lanes"].as_array().expect("lanes");
    let mut models: Vec<&str> = lanes.iter().filter_map(|l| l["model"].as_str()).collect();
    models.sort_unstable();
    assert_eq!(models, ["claude", "claude-big", "gpt", "gpt-direct"]);
    let fields = [
        "model",
        "provider",
        "max_concurrent",
        "inflight",
        "free_slots",
        "ok",
        "err",
        "client_fault",
        "usable",
        "dead",
        "dead_reason",
        "cooldown_remaining_s",
        "streak",
        "budget",
    ];
    for lane in lanes {
        for field in fields {
            assert!(lane.get(field).is_some(), "lane without `{field}`: {lane}");
        }
    }
    let gpt = gateway.lane_stats("gpt").await;
    assert_eq!(gpt["provider"], "mock-openai");
    assert_eq!(gpt["max_concurrent"], 8);
    assert_eq!(
        (gpt["inflight"].as_u64(), gpt["free_slots"].as_u64()),
        (Some(0), Some(8))
    );
    assert_eq!(
        (gpt["ok"].as_u64(), gpt["err"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        (gpt["usable"].as_bool(), gpt["dead"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(gpt["dead_reason"], Value::Null);
    assert_eq!(gpt["budget"], -1, "unlimited by default");
}

#[tokio::test]
async fn a_pool_spreads_requests_by_weight() {
    let gateway = Setup::new().extra(POOL).start().await;
    let mut served = Vec::new();
    for _ in 0..6 {
        let reply = gateway
            .post_json("/v1/chat/completions", &chat("both"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        served.push(
            reply
                .header("x-busbar-model")
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let gpt = served.iter().filter(|m| *m == "gpt").count();
    assert_eq!((gpt, served.len() - gpt), (4, 2), "weights 2:1: {served:?}");
}

#[tokio::test]
async fn metrics_count_requests_and_translations() {
    let gateway = Setup::new().extra(POOL).start().await;
    // The recorder comes up on a background thread (its clock calibration
    // must not delay the first request); what is counted before is lost.
    crate::support::Metrics::ready(&gateway).await;
    assert_eq!(
        gateway
            .post_json("/v1/chat/completions", &chat("claude"))
            .await
            .status,
        200
    );
    assert_eq!(
        gateway
            .post_json("/v1/chat/completions", &chat("both"))
            .await
            .status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let reply = gateway.get("/metrics", &[]).await;
        assert_eq!(reply.status, 200);
        let text = reply.text();
        if text.contains("busbar_translations_total") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let requests: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("busbar_requests_total{"))
        .collect();
    assert!(!requests.is_empty(), "no busbar_requests_total:\n{text}");
    for label in ["ingress_protocol=\"openai\"", "pool=", "outcome="] {
        assert!(
            requests.iter().any(|line| line.contains(label)),
            "busbar_requests_total lacks the {label} label: {requests:?}"
        );
    }
    assert!(
        requests.iter().any(|line| line.contains("pool=\"both\"")),
        "no series for pool `both`: {requests:?}"
    );
    let translations: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("busbar_translations_total{"))
        .collect();
    assert!(
        translations
            .iter()
            .any(|line| line.contains("from=\"openai\"") && line.contains("to=\"anthropic\"")),
        "no openai→anthropic translation counted: {translations:?}"
    );
    assert!(text.contains("busbar_request_duration_seconds"), "{text}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_proxied_ones_the_model() {
    let gateway = Gateway::start().await;
    let replies = [
        ("healthz", gateway.get("/healthz", &[]).await),
        ("stats", gateway.get("/stats", &[]).await),
        ("metrics", gateway.get("/metrics", &[]).await),
        ("not found", gateway.get("/nowhere", &[]).await),
        (
            "unknown model",
            gateway
                .post_json("/v1/chat/completions", &chat("nope"))
                .await,
        ),
        (
            "relayed",
            gateway
                .post_json("/v1/chat/completions", &chat("gpt"))
                .await,
        ),
        (
            "translated",
            gateway.post_json("/gpt/v1/messages", &messages()).await,
        ),
    ];
    let mut ids = Vec::new();
    for (what, reply) in &replies {
        let id = reply
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{what}: no x-request-id"));
        assert!(!id.is_empty());
        ids.push(id.to_owned());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), replies.len(), "request ids are unique: {ids:?}");
    assert_eq!(replies[5].1.header("x-busbar-model"), Some("gpt"));
    assert_eq!(replies[6].1.header("x-busbar-model"), Some("gpt"));

    let mine = [("x-request-id", "client-chosen-id-42")];
    let reply = gateway
        .post("/v1/chat/completions", chat("claude").to_string(), &mine)
        .await;
    assert_eq!(reply.header("x-request-id"), Some("client-chosen-id-42"));
    assert_eq!(reply.header("x-busbar-model"), Some("claude"));
    let mut body = chat("claude");
    body["stream"] = json!(true);
    let stream = gateway
        .open_stream("/v1/chat/completions", &body, &mine)
        .await;
    assert_eq!(
        stream.headers.get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"client-chosen-id-42"[..])
    );
    assert_eq!(
        stream.headers.get("x-busbar-model").map(|v| v.as_bytes()),
        Some(&b"claude"[..])
    );
    stream.finish().await;
}

#[tokio::test]
async fn token_auth_guards_everything_but_healthz() {
    let gateway = Setup::new().extra(TOKENS).start().await;
    // No token, or a wrong one: 401 in the ingress shape, nothing upstream.
    for headers in [vec![], vec![("authorization", "Bearer wrong")]] {
        let reply = gateway
            .post("/v1/chat/completions", chat("gpt").to_string(), &headers)
            .await;
        assert_eq!(reply.status, 401, "{}", reply.text());
        openai_error(&reply);
        let reply = gateway
            .post("/claude/v1/messages", messages().to_string(), &headers)
            .await;
        assert_eq!(reply.status, 401, "{}", reply.text());
        assert_eq!(anthropic_error(&reply)["type"], "authentication_error");
    }
    let reply = gateway
        .post(
            "/claude/v1/messages",
            messages().to_string(),
            &[("x-api-key", "nope")],
        )
        .await;
    assert_eq!(reply.status, 401);
    assert!(gateway.received().is_empty());

    assert_eq!(gateway.get("/healthz", &[]).await.status, 200);
    assert_eq!(gateway.get("/stats", &[]).await.status, 401);
    assert_eq!(gateway.get("/metrics", &[]).await.status, 401);
    let bearer = [("authorization", "Bearer tok-beta")];
    assert_eq!(gateway.get("/stats", &bearer).await.status, 200);
    assert_eq!(gateway.get("/metrics", &bearer).await.status, 200);

    // Bearer and x-api-key both carry a client token; neither goes upstream.
    let reply = gateway
        .post("/v1/chat/completions", chat("claude").to_string(), &bearer)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let key = [("x-api-key", "tok-alpha")];
    let reply = gateway
        .post("/claude/v1/messages", messages().to_string(), &key)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = gateway
        .post("/gpt/v1/messages", messages().to_string(), &bearer)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    for request in gateway.received() {
        let key = request.api_key().unwrap_or_default();
        assert!(
            !key.starts_with("tok-"),
            "a client token went upstream: {key}"
        );
    }
}

#[tokio::test]
async fn passthrough_forwards_the_callers_own_key() {
    let gateway = Setup::new()
        .extra("auth:\n  mode: passthrough")
        .start()
        .await;
    let own = [("x-api-key", "caller-own-anthropic-key")];
    let reply = gateway
        .post("/claude/v1/messages", messages().to_string(), &own)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let own = [("authorization", "Bearer caller-own-openai-key")];
    let reply = gateway
        .post("/v1/chat/completions", chat("gpt").to_string(), &own)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let keys: Vec<Option<String>> = gateway
        .received()
        .iter()
        .map(|r| r.api_key().map(str::to_owned))
        .collect();
    assert_eq!(
        keys,
        [
            Some("caller-own-anthropic-key".to_owned()),
            Some("caller-own-openai-key".to_owned())
        ]
    );
}

#[tokio::test]
async fn sigterm_lets_a_stream_in_flight_finish_then_exits_zero() {
    let mut gateway = Setup::new()
        .mock(
            MockOptions::default()
                .words_per_delta(1)
                .event_interval(Duration::from_millis(40)),
        )
        .start()
        .await;
    let words = "one two three four five six seven eight nine ten eleven twelve";
    let body =
        json!({"model": "gpt", "stream": true, "messages": [{"role": "user", "content": words}]});
    let mut open = gateway
        .open_stream("/v1/chat/completions", &body, &[])
        .await;
    assert_eq!(open.status, 200);
    open.next_chunk().await.expect("a first chunk");

    gateway.busbar.signal("TERM");
    let stream = open.finish().await;
    assert!(
        stream.transport_error.is_none(),
        "{:?}",
        stream.transport_error
    );
    assert!(
        stream.text().ends_with("data: [DONE]\n\n"),
        "the stream was cut: {}",
        stream.text()
    );
    assert_eq!(openai_stream_text(&stream), format!("Echo: {words}"));

    // Blocking is fine here: the stream is over and the mock has nothing left to serve.
    let status = gateway.busbar.wait_exit();
    assert_eq!(status.code(), Some(0), "log:\n{}", gateway.busbar.log());
}

/// Polls (at most 10 s) until `model` answers 200, failing if busbar exits.
async fn wait_until_served(gateway: &mut Gateway, model: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match gateway
            .try_post_json("/v1/chat/completions", &chat(model))
            .await
        {
            Ok(reply) if reply.status == 200 => return,
            Ok(reply) => assert!(
                Instant::now() < deadline,
                "`{model}` never became available: {}",
                reply.text()
            ),
            Err(error) => {
                let status = gateway.busbar.wait_exit();
                panic!(
                    "busbar stopped answering ({error}) and exited with {status}; log:\n{}",
                    gateway.busbar.log()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_swaps_in_a_valid_config_and_keeps_the_old_one_on_errors() {
    let mut gateway = Gateway::start().await;
    let added =
        format!("{DEFAULT_MODELS}  gpt-added:\n    provider: mock-openai\n    max_concurrent: 2\n");
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("gpt-added"))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());

    gateway.rewrite_config(&config_yaml(&added, ""));
    gateway.busbar.signal("HUP");
    wait_until_served(&mut gateway, "gpt-added").await;

    // An invalid file is refused and the running configuration stays.
    gateway.rewrite_config("models: [this is not a config");
    gateway.busbar.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gateway.busbar.log().contains("config.yaml") {
        assert!(
            Instant::now() < deadline,
            "the bad reload was not logged:\n{}",
            gateway.busbar.log()
        );
        assert!(
            gateway.busbar.exited().is_none(),
            "busbar exited:\n{}",
            gateway.busbar.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        gateway.busbar.exited().is_none(),
        "busbar exited:\n{}",
        gateway.busbar.log()
    );
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("gpt-added"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Every credential a request can carry or Busbar can send, at `trace`:
/// none may appear in any log line, whatever the mode or route.
#[tokio::test]
async fn no_credential_reaches_the_log_even_at_trace() {
    const CLIENT_TOKEN: &str = "tok-trace-client-secret-0451";
    const WRONG_TOKEN: &str = "tok-trace-wrong-secret-0452";
    const OWN_KEY: &str = "own-trace-caller-key-0453";
    let models = format!(
        "{DEFAULT_MODELS}
  gem:
    provider: mock-gemini
    max_concurrent: 8
  rock:
    provider: mock-bedrock
    max_concurrent: 8
    upstream_model: rock.up-v1:0
"
    );
    let token_mode = format!("auth:\n  mode: token\n  client_tokens:\n    - {CLIENT_TOKEN}\n");
    let gateway = Setup::new()
        .every_protocol()
        .models(&models)
        .extra(&token_mode)
        .env("RUST_LOG", "trace")
        .start()
        .await;
    let bearer = format!("Bearer {CLIENT_TOKEN}");
    let wrong = format!("Bearer {WRONG_TOKEN}");
    for (path, body) in [
        ("/v1/chat/completions", chat("gpt")),
        ("/v1/chat/completions", chat("claude")),
        ("/v1/chat/completions", chat("gem")),
        ("/v1/chat/completions", chat("rock")),
        ("/claude/v1/messages", messages()),
    ] {
        let reply = gateway
            .post(path, body.to_string(), &[("authorization", &bearer)])
            .await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let reply = gateway
            .post(path, body.to_string(), &[("authorization", &wrong)])
            .await;
        assert_eq!(reply.status, 401, "{path}: {}", reply.text());
    }
    let reply = gateway
        .post(
            "/claude/v1/messages",
            messages().to_string(),
            &[("x-api-key", CLIENT_TOKEN)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = gateway
        .post(
            "/v1beta/models/gem:generateContent",
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
            &[("x-goog-api-key", CLIENT_TOKEN)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let passthrough = Setup::new()
        .extra("auth:\n  mode: passthrough")
        .env("RUST_LOG", "trace")
        .start()
        .await;
    let reply = passthrough
        .post(
            "/v1/chat/completions",
            chat("gpt").to_string(),
            &[("authorization", &format!("Bearer {OWN_KEY}"))],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let log = format!("{}{}", gateway.busbar.log(), passthrough.busbar.log());
    assert!(
        log.lines().count() > 20,
        "trace logging is not on; the test would prove nothing:\n{log}"
    );
    for secret in [
        CLIENT_TOKEN,
        WRONG_TOKEN,
        OWN_KEY,
        crate::support::OPENAI_KEY,
        crate::support::ANTHROPIC_KEY,
        "e2e-secret-access-key",
    ] {
        if let Some(line) = log.lines().find(|line| line.contains(secret)) {
            panic!("a credential reached the log: {line}");
        }
    }
}
