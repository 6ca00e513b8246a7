//! Admission: virtual keys as the only credential (in every carrier),
//! `allowed_pools` with `/stats` and the model lists, budgets, RPM, and
//! the tokens a key is charged for.

use serde_json::{json, Value};

use super::{chat, usage_settled, Governed, ADMIN_TOKEN};
use crate::support::{openai_error, OPENAI_KEY};

#[tokio::test]
async fn only_a_virtual_key_admits_and_it_never_goes_upstream() {
    // A static client token is configured but no longer admits.
    let governed =
        Governed::start("", "auth:\n  mode: token\n  client_tokens: [tok-static]\n").await;
    let (_, secret) = governed.create_key(json!({"name": "app"})).await;
    let fake = "sk-bb-0123456789abcdef0123456789abcdef";
    for token in ["", "tok-static", fake, ADMIN_TOKEN] {
        let headers = if token.is_empty() {
            vec![]
        } else {
            vec![("authorization", format!("Bearer {token}"))]
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = governed
            .post("/v1/chat/completions", &chat("fast"), &headers)
            .await;
        assert_eq!(reply.status, 401, "{token}: {}", reply.text());
        assert_eq!(openai_error(&reply)["code"], "invalid_api_key");
    }
    // An unknown model with a bad key is still a bad key; with a good one, 404.
    let reply = governed.chat(fake, "no-such-model").await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    let reply = governed.chat(&secret, "no-such-model").await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(governed.mock.received().is_empty());

    // Every carrier of §5 carries the key.
    let bearer = format!("Bearer {secret}");
    let reply = governed
        .post(
            "/v1/chat/completions",
            &chat("fast"),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let messages = json!({"max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]});
    let reply = governed
        .post("/slow/v1/messages", &messages, &[("x-api-key", &secret)])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let reply = governed
        .post(
            "/v1beta/models/fast:generateContent",
            &contents,
            &[("x-goog-api-key", &secret)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = governed
        .post(
            &format!("/v1beta/models/slow:generateContent?key={secret}"),
            &contents,
            &[],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let converse = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
    let reply = governed
        .post(
            "/model/fast/converse",
            &converse,
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    for request in governed.mock.received() {
        let key = request.api_key().unwrap_or_default().to_owned();
        assert!(
            !key.starts_with("sk-bb-"),
            "a virtual key went upstream: {key}"
        );
        if request.path.contains("chat/completions") {
            assert_eq!(key, OPENAI_KEY);
        }
    }

    // /healthz is open; /stats and /metrics need a key or the admin token.
    assert_eq!(governed.get("/healthz", &[]).await.status, 200);
    for path in ["/stats", "/metrics", "/v1/models"] {
        assert_eq!(governed.get(path, &[]).await.status, 401, "{path}");
        let static_token = [("authorization", "Bearer tok-static")];
        assert_eq!(
            governed.get(path, &static_token).await.status,
            401,
            "{path}"
        );
        let key = [("authorization", bearer.as_str())];
        assert_eq!(governed.get(path, &key).await.status, 200, "{path}");
        let admin = [("x-admin-token", ADMIN_TOKEN)];
        assert_eq!(governed.get(path, &admin).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn allowed_pools_bound_requests_stats_and_model_lists() {
    let governed = Governed::start("", "").await;
    let (_, secret) = governed
        .create_key(json!({"name": "fast-only", "allowed_pools": ["fast"]}))
        .await;
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    for name in ["slow", "gpt", "claude"] {
        let reply = governed.chat(&secret, name).await;
        assert_eq!(reply.status, 403, "{name}: {}", reply.text());
        assert_eq!(openai_error(&reply)["type"], "permission_error");
    }
    let bearer = format!("Bearer {secret}");
    let auth = [("authorization", bearer.as_str())];
    let stats = governed.get("/stats", &auth).await.json();
    assert_eq!(stats["pools"], json!({"fast": ["gpt"]}), "{stats}");
    let lanes: Vec<&str> = stats["lanes"]
        .as_array()
        .map(|lanes| lanes.iter().filter_map(|l| l["model"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(lanes, ["gpt"], "{stats}");
    let models = governed.get("/v1/models", &auth).await.json();
    assert_eq!(models["data"].as_array().map(Vec::len), Some(1), "{models}");
    assert_eq!(models["data"][0]["id"], "fast");
    let gemini = governed
        .get("/v1beta/models", &[("x-goog-api-key", &secret)])
        .await;
    assert_eq!(
        gemini.json()["models"],
        json!([{"name": "models/fast", "displayName": "fast",
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent"]}])
    );

    // The admin token and an unrestricted key see everything.
    let admin = governed
        .get("/stats", &[("x-admin-token", ADMIN_TOKEN)])
        .await
        .json();
    assert_eq!(
        admin["pools"].as_object().map(|p| p.len()),
        Some(2),
        "{admin}"
    );
    assert_eq!(admin["lanes"].as_array().map(Vec::len), Some(4), "{admin}");
    let (_, open) = governed.create_key(json!({"name": "all"})).await;
    let all = governed
        .get(
            "/v1/models",
            &[("authorization", &format!("Bearer {open}"))],
        )
        .await
        .json();
    assert_eq!(all["data"].as_array().map(Vec::len), Some(6), "{all}");
}

#[tokio::test]
async fn a_budget_admits_exactly_what_it_pays_for() {
    let governed = Governed::start("  price_per_request_cents: 1\n", "").await;
    let (id, secret) = governed
        .create_key(json!({"name": "three", "max_budget_cents": 3}))
        .await;
    for n in 0..3 {
        let reply = governed.chat(&secret, "fast").await;
        assert_eq!(reply.status, 200, "request {n}: {}", reply.text());
    }
    let refused = governed.chat(&secret, "fast").await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    let error = openai_error(&refused);
    assert_eq!(error["type"], "insufficient_quota");
    assert_eq!(error["code"], "insufficient_quota");
    assert!(
        refused.header("retry-after").is_none(),
        "a spent budget is not a wait"
    );
    assert_eq!(governed.mock.received().len(), 3);
    let usage = governed.usage(&id).await;
    assert_eq!(
        (usage["requests"].clone(), usage["spend_cents"].clone()),
        (json!(3), json!(3))
    );

    // Raising the budget lets the key through again.
    governed
        .admin(
            "PATCH",
            &format!("/admin/keys/{id}"),
            Some(&json!({"max_budget_cents": 4})),
        )
        .await;
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    assert_eq!(governed.chat(&secret, "fast").await.status, 429);
    let metrics = governed
        .get("/metrics", &[("x-admin-token", ADMIN_TOKEN)])
        .await
        .text();
    assert!(
        metrics.contains("busbar_governance_refusals_total{reason=\"budget\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn rpm_and_tpm_limits_answer_429_with_retry_after() {
    let governed = Governed::start("", "").await;
    let (_, secret) = governed
        .create_key(json!({"name": "slowpoke", "rpm_limit": 2}))
        .await;
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    assert_eq!(governed.chat(&secret, "slow").await.status, 200);
    let limited = governed.chat(&secret, "fast").await;
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(openai_error(&limited)["code"], "rate_limit_exceeded");
    let wait: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(governed.mock.received().len(), 2);

    // The token limit counts what replies used: one reply spends it.
    let (_, thrifty) = governed
        .create_key(json!({"name": "thrifty", "tpm_limit": 1}))
        .await;
    assert_eq!(governed.chat(&thrifty, "fast").await.status, 200);
    let limited = governed.chat(&thrifty, "fast").await;
    assert_eq!(limited.status, 429, "{}", limited.text());
    let error = openai_error(&limited);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("tpm_limit"),
        "{error}"
    );
    assert!(limited.header("retry-after").is_some());
}

#[tokio::test]
async fn a_key_pays_for_the_tokens_of_every_kind_of_reply() {
    let governed = Governed::start("", "").await;
    let (id, secret) = governed.create_key(json!({"name": "counted"})).await;
    let bearer = format!("Bearer {secret}");
    let auth = [("authorization", bearer.as_str())];
    // Complete replies: relayed (fast → OpenAI) and translated (slow → Anthropic).
    let mut expected = 0;
    for model in ["fast", "slow"] {
        let reply = governed.chat(&secret, model).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        expected += reply.json()["usage"]["total_tokens"]
            .as_u64()
            .expect("usage");
    }
    let usage = governed.usage(&id).await;
    assert_eq!(usage["tokens"], expected, "{usage}");
    // Streams: relayed with usage asked for, relayed without (Busbar asks
    // the upstream itself and hides the chunk), and translated.
    let mut streams = 0;
    for (model, include_usage) in [("fast", true), ("fast", false), ("slow", false)] {
        let mut body = chat(model);
        body["stream"] = json!(true);
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        let reply = governed.post("/v1/chat/completions", &body, &auth).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let chunks: Vec<Value> = text
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect();
        let reported = chunks
            .iter()
            .find_map(|c| c["usage"]["total_tokens"].as_u64());
        assert_eq!(
            reported.is_some(),
            include_usage,
            "{model} {include_usage}: {text}"
        );
        streams += 1;
    }
    // Each stream said "hello there" as the complete requests did.
    let usage = usage_settled(&governed, &id, 2 + streams).await;
    assert_eq!(usage["requests"], 2 + streams, "{usage}");
    let per_reply = expected / 2;
    assert_eq!(usage["tokens"], expected + streams * per_reply, "{usage}");
}

/// Sends a request's headers announcing a large body, and no body: the
/// answer must come without it.
async fn headers_only(governed: &Governed, path: &str, headers: &[(&str, &str)]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = governed.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 30000000\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write headers");
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered while the body was still unsent")
        .expect("read");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn a_refused_key_is_answered_before_its_body_is_read() {
    let governed = Governed::start("", "").await;
    let unknown = "Bearer sk-bb-0123456789abcdef0123456789abcdef";
    let answer = headers_only(
        &governed,
        "/v1/chat/completions",
        &[("authorization", unknown)],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let answer = headers_only(
        &governed,
        "/v1/messages",
        &[("x-api-key", "sk-bb-0123456789abcdef0123456789abcdef")],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // A suspended key too.
    let (id, secret) = governed.create_key(json!({"name": "paused"})).await;
    let suspend = json!({"enabled": false});
    let reply = governed
        .admin("PATCH", &format!("/admin/keys/{id}"), Some(&suspend))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let bearer = format!("Bearer {secret}");
    let answer = headers_only(
        &governed,
        "/v1/chat/completions",
        &[("authorization", &bearer)],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // A SigV4 signature by a key id that names no key, and one out of date.
    let date = "20000101T000000Z";
    let forged = "AWS4-HMAC-SHA256 Credential=vk_0123456789abcdef/20000101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
    let answer = headers_only(
        &governed,
        "/model/claude/converse",
        &[("authorization", forged), ("x-amz-date", date)],
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 4"),
        "refused before the body: {answer}"
    );
    assert!(governed.mock.received().is_empty());
}

/// The gateway's resident memory, from `/proc` (Linux).
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

/// Sends a request with a large body by a caller who will be refused, on a
/// connection of its own left open: all of the body but its last MiB, so a
/// gateway that reads bodies before checking credentials holds the rest.
async fn refused_upload(
    addr: String,
    path: &'static str,
    credential: (&'static str, &'static str),
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    const BODY: usize = 16 * 1024 * 1024;
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {BODY}\r\n{}: {}\r\n\r\n",
        credential.0, credential.1
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write headers");
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 1..BODY / chunk.len() {
        // Refused callers are not read: the writes stall or fail, which is
        // the point.
        match tokio::time::timeout(
            std::time::Duration::from_millis(300),
            stream.write_all(&chunk),
        )
        .await
        {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    stream
}

#[tokio::test]
async fn refused_callers_cannot_fill_the_gateways_memory_with_bodies() {
    let governed = Governed::start("", "").await;
    let pid = governed.busbar.as_ref().expect("running").pid();
    let addr = governed.base.trim_start_matches("http://").to_owned();
    let before = resident_bytes(pid);
    let unknown = (
        "authorization",
        "Bearer sk-bb-0123456789abcdef0123456789abcdef",
    );
    let forged = (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=vk_0123456789abcdef/20000101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
    );
    let mut uploads = Vec::new();
    for _ in 0..6 {
        uploads.push(tokio::spawn(refused_upload(
            addr.clone(),
            "/v1/chat/completions",
            unknown,
        )));
        uploads.push(tokio::spawn(refused_upload(
            addr.clone(),
            "/model/claude/converse",
            forged,
        )));
    }
    let mut open = Vec::new();
    for upload in uploads {
        open.push(upload.await.expect("the upload task does not panic"));
    }
    let after = resident_bytes(pid);
    // Twelve 16 MiB bodies would be 192 MiB; refused before reading, they
    // cost next to nothing.
    let grown = after.saturating_sub(before);
    assert!(
        grown < 48 * 1024 * 1024,
        "resident memory grew by {} MiB",
        grown / (1024 * 1024)
    );
    drop(open);
}

#[tokio::test]
async fn the_request_log_names_the_admitting_key_and_never_its_secret() {
    let logs = crate::support::TempDir::new("gov-reqlog");
    let path = logs.path().join("requests.jsonl");
    let governed = Governed::start(
        "",
        &format!(
            "observability:\n  request_log: {{file: '{}', bodies: true}}\n",
            path.display()
        ),
    )
    .await;
    let (id, secret) = governed.create_key(json!({"name": "logged"})).await;
    let reply = governed.chat(&secret, "fast").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "no record");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let record: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(record["key_id"], id.as_str());
    assert_eq!(record["pool"], "fast");
    assert!(
        !text.contains(&secret),
        "the key's secret was logged: {text}"
    );
    assert!(!text.contains(ADMIN_TOKEN), "the admin token was logged");
}
