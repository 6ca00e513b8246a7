//! The request log: one JSON record per model request, in a JSONL file
//! rotated by size and in batches posted to a webhook (a receiver this
//! test starts on 127.0.0.1), with the fields each kind of request fills —
//! a success, a failover, a stream, a client error — and a receiver that
//! hangs costing records, counted, never the requests' time.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use busbar_testkit::{Fault, FaultRule};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::{Gateway, Metrics, Setup, TempDir, CLAUDE_UPSTREAM, GPT_UPSTREAM, OPENAI_KEY};

/// A gateway whose request log is the file `requests.jsonl` in `dir`, with
/// `settings` added to `request_log` and `extra` top-level YAML.
async fn logging(dir: &TempDir, settings: &str, extra: &str) -> Gateway {
    let file = dir.path().join("requests.jsonl");
    Setup::new()
        .extra(&format!(
            "observability:\n  request_log: {{file: '{}'{settings}}}\n{extra}",
            file.display()
        ))
        .start()
        .await
}

/// Every record in `path`, each line parsed.
fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Waits until `path` holds at least `count` records, and returns them.
async fn wait_for_records(path: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = records(path);
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} records after 10 s, expected {count}: {found:?}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The record with `request_id`.
fn find<'a>(records: &'a [Value], request_id: &str) -> &'a Value {
    records
        .iter()
        .find(|record| record["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no record for {request_id} in {records:?}"))
}

fn ms(record: &Value, field: &str) -> f64 {
    record[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number: {record}"))
}

/// The times every record must keep: all non-negative, `overhead` the
/// difference of `total` and `upstream`.
fn assert_times(record: &Value) {
    let (total, upstream, overhead) = (
        ms(record, "total_ms"),
        ms(record, "upstream_ms"),
        ms(record, "overhead_ms"),
    );
    assert!(
        total >= 0.0 && upstream >= 0.0 && overhead >= 0.0,
        "{record}"
    );
    assert!((total - upstream - overhead).abs() < 0.01, "{record}");
    let time = record["time"].as_str().expect("time");
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
}

#[tokio::test]
async fn a_success_a_stream_and_client_errors_are_one_record_each() {
    let dir = TempDir::new("reqlog");
    let path = dir.path().join("requests.jsonl");
    let gateway = logging(&dir, "", "").await;

    // A complete reply, under a request id that needs escaping in JSON.
    let id = r#"id-"quoted"\back"#;
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hello"}]});
    let reply = gateway
        .post(
            "/v1/chat/completions",
            body.to_string(),
            &[("x-request-id", id)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // A stream, translated (Anthropic in, OpenAI out).
    let stream = json!({"model": "gpt", "max_tokens": 32, "stream": true,
        "messages": [{"role": "user", "content": "hello"}]});
    let streamed = gateway.stream("/v1/messages", &stream).await;
    assert_eq!(streamed.status, 200);
    let stream_id = streamed.header("x-request-id").expect("an id").to_owned();

    // Client errors: an unknown model, a body that is not JSON.
    let unknown = gateway
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "no-such-model", "messages": []}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let unknown_id = unknown.header("x-request-id").expect("an id").to_owned();
    let broken = gateway.post("/v1/messages", "{not json", &[]).await;
    let broken_id = broken.header("x-request-id").expect("an id").to_owned();

    let found = wait_for_records(&path, 4).await;
    assert_eq!(found.len(), 4, "{found:?}");

    let success = find(&found, id);
    assert_eq!(success["kind"], "generate");
    assert_eq!(success["ingress"], "openai");
    assert_eq!(success["path"], "/v1/chat/completions");
    assert_eq!(success["model"], "gpt");
    assert_eq!(success["pool"], "gpt");
    assert_eq!(success["stream"], false);
    assert_eq!(success["status"], 200);
    assert_eq!(success["outcome"], "success");
    assert_eq!(success["failure"], Value::Null);
    assert_eq!(success["lane"], "gpt");
    assert_eq!(success["egress"], "openai");
    assert_eq!(success["upstream_model"], GPT_UPSTREAM);
    assert_eq!(success["key_id"], Value::Null);
    assert_eq!(success["cost_microdollars"], Value::Null);
    assert_eq!(success["dropped"], json!([]));
    assert!(
        success["client"]
            .as_str()
            .is_some_and(|client| client.starts_with("127.0.0.1:")),
        "{success}"
    );
    let attempts = success["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{success}");
    assert_eq!(attempts[0]["lane"], "gpt");
    assert_eq!(attempts[0]["provider"], "mock-openai");
    assert_eq!(attempts[0]["status"], 200);
    assert_eq!(attempts[0]["failure"], Value::Null);
    let usage = &success["usage"];
    assert!(usage["input"].as_u64().is_some_and(|n| n > 0), "{success}");
    assert!(usage["output"].as_u64().is_some_and(|n| n > 0), "{success}");
    assert!(ms(success, "upstream_ms") > 0.0, "{success}");
    assert!(success.get("request_body").is_none(), "{success}");
    assert_times(success);

    let stream = find(&found, &stream_id);
    assert_eq!(stream["ingress"], "anthropic");
    assert_eq!(stream["stream"], true);
    assert_eq!(stream["outcome"], "success");
    assert_eq!(stream["egress"], "openai");
    assert_eq!(stream["upstream_model"], GPT_UPSTREAM);
    let first_byte = ms(stream, "first_byte_ms");
    assert!(
        first_byte > 0.0 && first_byte <= ms(stream, "total_ms"),
        "{stream}"
    );
    assert!(
        stream["usage"]["output"].as_u64().is_some_and(|n| n > 0),
        "{stream}"
    );
    assert_times(stream);

    let unknown = find(&found, &unknown_id);
    assert_eq!(unknown["status"], 404);
    assert_eq!(unknown["outcome"], "error");
    assert_eq!(unknown["pool"], "unresolved");
    assert_eq!(unknown["model"], "no-such-model");
    assert_eq!(unknown["attempts"], json!([]));
    assert_eq!(unknown["upstream_ms"], 0.0);
    assert!(
        unknown["error"]
            .as_str()
            .is_some_and(|error| error.contains("no-such-model")),
        "{unknown}"
    );
    assert_times(unknown);

    let broken = find(&found, &broken_id);
    assert_eq!(broken["status"], 400, "{broken}");
    assert_eq!(broken["ingress"], "anthropic");
    assert_eq!(broken["outcome"], "error");
}

#[tokio::test]
async fn a_failover_records_each_lane_tried_with_its_failure_class() {
    let dir = TempDir::new("reqlog-failover");
    let path = dir.path().join("requests.jsonl");
    let gateway = logging(
        &dir,
        "",
        "pools:\n  p:\n    members:\n      - target: gpt\n      - target: claude\n",
    )
    .await;
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::server_error()).model(GPT_UPSTREAM));
    let body = json!({"model": "p", "messages": [{"role": "user", "content": "hello"}]});
    let reply = gateway.post_json("/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-model"), Some("claude"));

    // Every lane failing: the upstream's error goes back, and the record
    // names its class.
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::rate_limited(None)));
    let failed = gateway.post_json("/v1/chat/completions", &body).await;
    assert_eq!(failed.status, 429, "{}", failed.text());

    let found = wait_for_records(&path, 2).await;
    let served = find(&found, reply.header("x-request-id").expect("an id"));
    assert_eq!(served["pool"], "p");
    assert_eq!(served["outcome"], "success");
    assert_eq!(served["lane"], "claude");
    assert_eq!(served["egress"], "anthropic");
    assert_eq!(served["upstream_model"], CLAUDE_UPSTREAM);
    let attempts = served["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{served}");
    assert_eq!(attempts[0]["lane"], "gpt");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[0]["failure"], "server_error");
    assert_eq!(attempts[1]["lane"], "claude");
    assert_eq!(attempts[1]["status"], 200);
    assert_eq!(attempts[1]["failure"], Value::Null);
    let upstream: f64 = attempts
        .iter()
        .map(|attempt| attempt["upstream_ms"].as_f64().expect("timed"))
        .sum();
    assert!(
        (upstream - ms(served, "upstream_ms")).abs() < 0.01,
        "{served}"
    );
    assert_times(served);

    let failed = find(&found, failed.header("x-request-id").expect("an id"));
    assert_eq!(failed["outcome"], "upstream_error");
    assert_eq!(failed["status"], 429);
    assert_eq!(failed["failure"], "rate_limit");
    assert_eq!(failed["lane"], Value::Null);
    let classes: Vec<&Value> = failed["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|attempt| &attempt["failure"])
        .collect();
    assert_eq!(classes, [&json!("rate_limit"), &json!("rate_limit")]);
}

#[tokio::test]
async fn the_file_rotates_at_max_bytes_and_keeps_k_files() {
    let dir = TempDir::new("reqlog-rotate");
    let path = dir.path().join("requests.jsonl");
    let gateway = logging(&dir, ", max_bytes: 4096, keep: 2", "").await;
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hello"}]});
    let mut ids = Vec::new();
    for _ in 0..24 {
        let reply = gateway.post_json("/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 200);
        ids.push(reply.header("x-request-id").expect("an id").to_owned());
    }
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    // The newest record lands last; wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !records(&path)
        .iter()
        .any(|record| record["request_id"] == ids[23])
    {
        assert!(Instant::now() < deadline, "the last record never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(numbered(1).exists() && numbered(2).exists());
    assert!(!numbered(3).exists());
    let mut kept = Vec::new();
    for file in [numbered(2), numbered(1), path.clone()] {
        let size = std::fs::metadata(&file).expect("a file").len();
        assert!(size <= 4096, "{} holds {size} bytes", file.display());
        kept.extend(records(&file));
    }
    // Oldest first across the files, the newest kept, the oldest rotated away.
    let mut kept: Vec<&str> = kept
        .iter()
        .map(|record| record["request_id"].as_str().expect("an id"))
        .collect();
    assert!(kept.len() < ids.len(), "nothing was rotated away");
    kept.sort_unstable();
    kept.dedup();
    assert!(kept.iter().all(|id| ids.iter().any(|mine| mine == id)));
    assert!(kept.contains(&ids[23].as_str()));
}

/// A webhook receiver on 127.0.0.1: every POST body it got, or (`hang`) a
/// receiver that never answers.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(hang: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let kept = bodies.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let kept = kept.clone();
                        async move {
                            if hang {
                                std::future::pending::<()>().await;
                            }
                            let body = request.into_body().collect().await.map(|b| b.to_bytes());
                            kept.lock().expect("lock").push(body.unwrap_or_default());
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, bodies, task }
    }

    fn batches(&self) -> Vec<Vec<Value>> {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .map(|body| serde_json::from_slice(body).expect("a JSON array"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn the_webhook_receives_records_in_batched_posts() {
    let receiver = Receiver::start(false).await;
    let gateway = Setup::new()
        .extra(&format!(
            "observability:\n  request_log_webhook_url: {}\n  request_log: {{webhook_batch_records: 3, webhook_batch_ms: 300}}\n",
            receiver.url
        ))
        .start()
        .await;
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hello"}]});
    let mut ids = Vec::new();
    for _ in 0..5 {
        let reply = gateway.post_json("/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 200);
        ids.push(reply.header("x-request-id").expect("an id").to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let batches = loop {
        let batches = receiver.batches();
        if batches.iter().map(Vec::len).sum::<usize>() >= 5 {
            break batches;
        }
        assert!(Instant::now() < deadline, "batches so far: {batches:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        batches
            .iter()
            .all(|batch| !batch.is_empty() && batch.len() <= 3),
        "{batches:?}"
    );
    assert!(batches.iter().any(|batch| batch.len() > 1), "{batches:?}");
    let mut posted: Vec<&str> = batches
        .iter()
        .flatten()
        .map(|record| record["request_id"].as_str().expect("an id"))
        .collect();
    posted.sort_unstable();
    ids.sort_unstable();
    assert_eq!(posted, ids);
    assert!(batches
        .iter()
        .flatten()
        .all(|record| record["outcome"] == "success"));
}

#[tokio::test]
async fn a_webhook_that_hangs_costs_records_not_request_time() {
    let receiver = Receiver::start(true).await;
    let gateway = Setup::new()
        .extra(&format!(
            "observability:\n  request_log_webhook_url: {}\n  request_log: {{queue_records: 2, webhook_batch_records: 1, webhook_batch_ms: 1}}\n",
            receiver.url
        ))
        .start()
        .await;
    Metrics::ready(&gateway).await;
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hello"}]});
    for _ in 0..10 {
        let started = Instant::now();
        let reply = gateway.post_json("/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a request waited {:?} on the log",
            started.elapsed()
        );
    }
    // The first batch hangs in its POST; two wait in the queue; the rest
    // (and Metrics::ready's requests) are dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dropped = Metrics::read(&gateway)
            .await
            .sum("busbar_request_log_dropped_total", &[("sink", "webhook")]);
        if dropped >= 7 {
            break;
        }
        assert!(Instant::now() < deadline, "only {dropped} records dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(receiver.batches().is_empty());
}

#[tokio::test]
async fn logged_bodies_are_capped_and_carry_no_credential() {
    let dir = TempDir::new("reqlog-bodies");
    let path = dir.path().join("requests.jsonl");
    let gateway = logging(&dir, ", bodies: true, body_max_bytes: 2000", "").await;
    let leaky = json!({
        "model": "gpt",
        "api_key": "sk-client-leaked-0123456789abcdef",
        "messages": [{"role": "user", "content": format!("the key is {OPENAI_KEY}")}],
    });
    let reply = gateway
        .post(
            "/v1/chat/completions",
            leaky.to_string(),
            &[("authorization", "Bearer sk-client-header-0123456789abcdef")],
        )
        .await;
    assert_eq!(reply.status, 200);
    let long = json!({"model": "gpt", "messages": [{"role": "user", "content": "x".repeat(5000)}]});
    let cut = gateway.post_json("/v1/chat/completions", &long).await;
    assert_eq!(cut.status, 200);

    let found = wait_for_records(&path, 2).await;
    let text = std::fs::read_to_string(&path).expect("the log");
    for secret in [OPENAI_KEY, "sk-client-leaked", "sk-client-header"] {
        assert!(!text.contains(secret), "{secret} was logged: {text}");
    }
    let leaky = find(&found, reply.header("x-request-id").expect("an id"));
    assert_eq!(leaky["request_body"]["api_key"], "[redacted]");
    assert_eq!(
        leaky["request_body"]["messages"][0]["content"],
        "the key is [redacted]"
    );
    assert_eq!(leaky["response_body"]["object"], "chat.completion");
    assert!(leaky["response_body_bytes"].as_u64().is_some_and(|n| n > 0));

    let cut = find(&found, cut.header("x-request-id").expect("an id"));
    let logged = cut["request_body"].as_str().expect("cut bodies are text");
    assert_eq!(logged.len(), 2000);
    assert_eq!(
        cut["request_body_bytes"].as_u64(),
        Some(long.to_string().len() as u64)
    );
}

#[tokio::test]
async fn a_broken_stream_and_a_client_that_leaves_end_their_records() {
    let dir = TempDir::new("reqlog-endings");
    let path = dir.path().join("requests.jsonl");
    let gateway = logging(&dir, "", "").await;
    let body = json!({"model": "gpt", "stream": true,
        "messages": [{"role": "user", "content": "hello"}]});

    // The upstream connection breaks after two events: the client's stream
    // ends with an error event, and the record says why.
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::AbortStream { after_events: 2 }));
    let broken = gateway.stream("/v1/chat/completions", &body).await;
    assert_eq!(broken.status, 200);
    let broken_id = broken.header("x-request-id").expect("an id").to_owned();

    // The upstream pauses after two events and the client hangs up.
    gateway.mock.set_fault(FaultRule::new(Fault::StallStream {
        after_events: 2,
        pause: Duration::from_secs(5),
    }));
    let mut left = gateway
        .open_stream("/v1/chat/completions", &body, &[])
        .await;
    let left_id = left
        .headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .expect("an id")
        .to_owned();
    assert!(left.next_chunk().await.is_some());
    let hung_up = Instant::now();
    drop(left);

    let found = wait_for_records(&path, 2).await;
    let broken = find(&found, &broken_id);
    assert_eq!(broken["status"], 200);
    assert_eq!(broken["outcome"], "stream_error", "{broken}");
    assert_eq!(broken["failure"], "network");
    assert_eq!(broken["lane"], "gpt");
    assert!(broken["first_byte_ms"].is_f64(), "{broken}");
    assert_times(broken);

    let left = find(&found, &left_id);
    assert_eq!(left["outcome"], "client_gone", "{left}");
    assert_eq!(left["failure"], Value::Null);
    assert!(left["first_byte_ms"].is_f64(), "{left}");
    // Written when the client left, not when the stall ended.
    assert!(hung_up.elapsed() < Duration::from_secs(5));
    assert!(ms(left, "total_ms") < 5000.0, "{left}");
    assert_times(left);
}

#[tokio::test]
async fn a_priced_lanes_record_carries_the_requests_exact_cost() {
    let dir = TempDir::new("reqlog-cost");
    let path = dir.path().join("requests.jsonl");
    // $3 and $15 a million tokens: 3 and 15 micro-dollars a token.
    let models = crate::support::DEFAULT_MODELS.replacen(
        &format!("upstream_model: {GPT_UPSTREAM}"),
        &format!("upstream_model: {GPT_UPSTREAM}\n    price: {{input: 3, output: 15}}"),
        1,
    );
    let gateway = Setup::new()
        .models(&models)
        .extra(&format!(
            "observability:\n  request_log: {{file: '{}'}}\n",
            path.display()
        ))
        .start()
        .await;
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hello there"}]});
    let reply = gateway.post_json("/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = &reply.json()["usage"];
    let input = usage["prompt_tokens"].as_u64().expect("prompt tokens");
    let output = usage["completion_tokens"]
        .as_u64()
        .expect("completion tokens");
    let found = wait_for_records(&path, 1).await;
    assert_eq!(
        found[0]["cost_microdollars"],
        json!(3 * input + 15 * output),
        "{}",
        found[0]
    );
}

#[tokio::test]
async fn a_token_count_records_the_lane_it_asked() {
    let dir = TempDir::new("reqlog-count");
    let path = dir.path().join("requests.jsonl");
    let gateway = logging(&dir, "", "").await;
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": "count me"}]});
    let reply = gateway.post_json("/v1/messages/count_tokens", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-token-count"), Some("upstream"));

    let found = wait_for_records(&path, 1).await;
    let record = find(&found, reply.header("x-request-id").expect("an id"));
    assert_eq!(record["kind"], "count_tokens", "{record}");
    assert_eq!(record["model"], "claude");
    assert_eq!(record["outcome"], "success");
    assert_eq!(record["lane"], "claude");
    assert_eq!(record["egress"], "anthropic");
    let attempts = record["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{record}");
    assert_eq!(attempts[0]["status"], 200);
    assert_eq!(attempts[0]["failure"], Value::Null);
    assert!(ms(record, "upstream_ms") > 0.0, "{record}");
    assert_eq!(record["cost_microdollars"], Value::Null, "a count is free");
    assert_times(record);
}
