//! Load under faults: 200 requests from 20 concurrent clients, OpenAI and
//! Anthropic, streamed and not, against a pool whose upstream fails in a mix
//! of ways. Every reply must be a success or a well-formed error in the
//! client's own protocol, none may hang, and afterwards the gateway's
//! counters must agree with what the clients saw.
//!
//! # Reconciliation
//!
//! With `N` requests, of which the clients saw `ok` complete successes,
//! `cut` streams that began (200) and ended with an in-stream error, and
//! `failed` error statuses (`ok + cut + failed = N`), and Δ the change in a
//! `/stats` lane counter summed over the pool's lanes:
//!
//! 1. Σ over outcomes of `busbar_requests_total{pool}` = `N`, and per
//!    `ingress_protocol` the number each protocol sent;
//! 2. `busbar_requests_total{pool,outcome="success"}` = `ok + cut` (the
//!    outcome is decided when the response starts);
//! 3. Δ`ok` = `ok`: a lane counts a success only for a reply delivered whole;
//! 4. Δ(`ok + err + client_fault`) = the upstream requests the mock received
//!    = Σ `busbar_upstream_attempts_total{pool}`: every attempt is settled
//!    on its lane exactly once;
//! 5. Δ(`err + client_fault`) = Σ `busbar_upstream_failures_total{pool}` +
//!    `cut`: failures before the first byte are counted by the metric,
//!    failures after it only by the lane;
//! 6. every lane ends with `inflight` 0: no permit leaks.

use std::time::Duration;

use busbar_testkit::{ErrorKind, Fault, FaultRule, VendorError};
use serde_json::{json, Value};

use crate::chaos::{gateway, lane, Metrics};
use crate::support::{anthropic_stream_text, openai_stream_text, text_of, Gateway, StreamReply};

/// Requests in the run, and clients sending them at once.
const REQUESTS: usize = 200;
const CLIENTS: usize = 20;

/// The longest one request may take: far above the 1 s first-byte limit and
/// the few failovers a request can make, far below a hang.
const PER_REQUEST: Duration = Duration::from_secs(15);

/// The lanes of pool `mix`: the chaos lanes, `a` and `c` OpenAI, `b` and
/// `d` Anthropic.
const MEMBERS: [&str; 4] = ["a", "b", "c", "d"];

/// What a client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// A complete answer.
    Ok,
    /// 200, then an in-stream error instead of the end of the stream.
    Cut,
    /// An error status with an error body in the client's protocol.
    Failed(u16),
}

/// A fault that changes nothing: a slot in a lane's queue that lets one
/// request through, so failures are spread over the run instead of all
/// hitting a lane's first requests.
fn pass() -> Fault {
    Fault::DelayHeaders(Duration::ZERO)
}

/// Queues each lane's faults; `d` fails always (sticky), so its breaker
/// opens and stays open.
fn script_faults(gateway: &Gateway) {
    let plan: [(&str, Vec<Fault>, usize); 3] = [
        (
            "a",
            vec![
                Fault::server_error(),
                pass(),
                Fault::status(400),
                pass(),
                pass(),
            ],
            5,
        ),
        (
            "b",
            vec![
                Fault::rate_limited(Some(1)),
                pass(),
                Fault::overloaded(),
                pass(),
            ],
            4,
        ),
        (
            "c",
            vec![
                Fault::Reset,
                pass(),
                Fault::DelayHeaders(Duration::from_millis(1500)),
                pass(),
                Fault::context_length(),
                pass(),
            ],
            3,
        ),
    ];
    for (model, cycle, rounds) in plan {
        for _ in 0..rounds {
            for fault in &cycle {
                gateway
                    .mock
                    .push_fault(FaultRule::new(fault.clone()).model(model));
            }
        }
    }
    // Stream-only faults wait for the first streamed requests to their lane.
    for _ in 0..6 {
        gateway.mock.push_fault(
            FaultRule::new(Fault::StreamError {
                after_events: 2,
                error: VendorError::new(ErrorKind::Overloaded),
            })
            .model("a"),
        );
        gateway
            .mock
            .push_fault(FaultRule::new(Fault::TruncateStream { after_events: 2 }).model("b"));
    }
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::server_error()).model("d"));
}

/// Request `i`: its ingress (`openai` or `anthropic`), whether it streams,
/// its path and body.
fn request(i: usize) -> (&'static str, bool, String, Value) {
    let text = format!("load test {i}");
    let stream = i % 4 >= 2;
    if i.is_multiple_of(2) {
        let body = json!({"model": "mix", "stream": stream,
                          "messages": [{"role": "user", "content": text}]});
        ("openai", stream, "/v1/chat/completions".to_owned(), body)
    } else {
        let body = json!({"max_tokens": 64, "stream": stream,
                          "messages": [{"role": "user", "content": text}]});
        ("anthropic", stream, "/mix/v1/messages".to_owned(), body)
    }
}

/// Sends request `i` and judges what came back; panics on anything that is
/// neither a success nor a well-formed error in the client's protocol.
async fn run_one(gateway: &Gateway, i: usize) -> (&'static str, Seen) {
    let (client, stream, path, body) = request(i);
    let reply = tokio::time::timeout(PER_REQUEST, async {
        gateway.open_stream(&path, &body, &[]).await.finish().await
    })
    .await
    .unwrap_or_else(|_| panic!("request {i} ({client}, stream {stream}) hung"));
    let what = format!("request {i} ({client}, stream {stream})");
    assert!(
        reply.transport_error.is_none(),
        "{what}: the body broke off: {:?}\n{}",
        reply.transport_error,
        reply.text()
    );
    let expected = format!("Echo: load test {i}");
    let seen = if reply.status != 200 {
        assert_error_body(&reply, client, &what);
        Seen::Failed(reply.status)
    } else {
        let lane = reply.header("x-busbar-model").unwrap_or_default();
        assert!(MEMBERS.contains(&lane), "{what}: served by `{lane}`");
        if stream {
            judge_stream(&reply, client, &expected, &what)
        } else {
            judge_complete(&reply, client, &expected, &what);
            Seen::Ok
        }
    };
    (client, seen)
}

/// An error reply: JSON in the client's protocol's error shape.
fn assert_error_body(reply: &StreamReply, client: &str, what: &str) {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
        panic!(
            "{what}: error {} is not JSON ({e}): {}",
            reply.status,
            reply.text()
        )
    });
    let error = &body["error"];
    let typed = error["type"].is_string() && error["message"].is_string();
    match client {
        "openai" => assert!(typed, "{what}: not an OpenAI error: {body}"),
        _ => assert!(
            typed && body["type"] == "error",
            "{what}: not an Anthropic error: {body}"
        ),
    }
}

/// A complete (non-streamed) 200 reply: the whole answer.
fn judge_complete(reply: &StreamReply, client: &str, expected: &str, what: &str) {
    let body: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{what}: reply is not JSON ({e}): {}", reply.text()));
    let text = match client {
        "openai" => body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        _ => {
            assert_eq!(body["type"], "message", "{what}: {body}");
            text_of(&body["content"])
        }
    };
    assert_eq!(text, expected, "{what}: {body}");
}

/// A streamed 200 reply: the whole answer with the protocol's end, or an
/// in-stream error without it.
fn judge_stream(reply: &StreamReply, client: &str, expected: &str, what: &str) -> Seen {
    let (errored, complete, text) = match client {
        "openai" => (
            reply
                .data()
                .iter()
                .any(|chunk| chunk.get("error").is_some_and(Value::is_object)),
            reply.text().ends_with("data: [DONE]\n\n"),
            openai_stream_text(reply),
        ),
        _ => (
            reply
                .events
                .iter()
                .any(|event| event.name.as_deref() == Some("error")),
            reply.names().last() == Some(&"message_stop"),
            anthropic_stream_text(reply),
        ),
    };
    match (errored, complete) {
        (false, true) => {
            assert_eq!(text, expected, "{what}: {}", reply.text());
            Seen::Ok
        }
        (true, false) => Seen::Cut,
        _ => panic!(
            "{what}: neither a whole stream nor one ending in an error (error {errored}, end {complete}): {}",
            reply.text()
        ),
    }
}

/// `(ok, err, client_fault)` summed over the pool's lanes.
async fn lane_totals(gateway: &Gateway) -> (u64, u64, u64) {
    let mut totals = (0, 0, 0);
    for model in MEMBERS {
        let view = lane(gateway, model).await;
        totals.0 += view.ok;
        totals.1 += view.err;
        totals.2 += view.client_fault;
    }
    totals
}

/// Waits (at most 5 s) until no lane holds a slot: a reply's last bytes can
/// reach the client a moment before its permit is settled.
async fn wait_until_idle(gateway: &Gateway) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut busy = Vec::new();
        for model in MEMBERS {
            let view = lane(gateway, model).await;
            if view.inflight > 0 {
                busy.push((model, view.inflight));
            }
        }
        if busy.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "permits still held after the run: {busy:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_under_faults_get_well_formed_replies_and_counters_reconcile() {
    let gateway = gateway(
        "
limits:
  first_byte_timeout_secs: 1
pools:
  mix:
    breaker: {trip: {mode: consecutive, n: 6}, base_cooldown_secs: 1, max_cooldown_secs: 4}
    members: [{target: a}, {target: b}, {target: c}, {target: d}]
",
    )
    .await;
    Metrics::ready(&gateway).await;
    script_faults(&gateway);
    let before = lane_totals(&gateway).await;
    let upstream_before = gateway.mock.request_count();

    let gateway = std::sync::Arc::new(gateway);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let gateway = gateway.clone();
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for i in (client..REQUESTS).step_by(CLIENTS) {
                seen.push(run_one(&gateway, i).await);
            }
            seen
        }));
    }
    let mut seen = Vec::new();
    for client in clients {
        seen.extend(client.await.expect("a client task failed"));
    }
    assert_eq!(seen.len(), REQUESTS);
    let count = |want: fn(&Seen) -> bool| seen.iter().filter(|(_, s)| want(s)).count() as u64;
    let ok = count(|s| *s == Seen::Ok);
    let cut = count(|s| *s == Seen::Cut);
    let failed = count(|s| matches!(s, Seen::Failed(_)));
    assert!(ok > 0 && failed > 0, "the mix serves and fails: {seen:?}");

    wait_until_idle(&gateway).await;
    let after = lane_totals(&gateway).await;
    let delta = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    let upstream = gateway.mock.request_count() - upstream_before;
    let metrics = Metrics::read(&gateway).await;
    let mix = [("pool", "mix")];
    let mut statuses: Vec<u16> = seen
        .iter()
        .filter_map(|(_, s)| match s {
            Seen::Failed(status) => Some(*status),
            _ => None,
        })
        .collect();
    statuses.sort_unstable();
    let report = format!(
        "clients saw ok {ok}, cut {cut}, failed {failed} {statuses:?}; \
         lanes Δ(ok, err, client_fault) {delta:?}; upstream requests {upstream}"
    );
    // Captured unless the test fails or runs with --nocapture.
    println!("{report}");

    // 1.
    assert_eq!(
        metrics.sum("busbar_requests_total", &mix),
        REQUESTS as u64,
        "{report}"
    );
    for protocol in ["openai", "anthropic"] {
        let labels = [("pool", "mix"), ("ingress_protocol", protocol)];
        let sent = seen.iter().filter(|(c, _)| *c == protocol).count() as u64;
        assert_eq!(
            metrics.sum("busbar_requests_total", &labels),
            sent,
            "{protocol}: {report}"
        );
    }
    // 2.
    let success = [("pool", "mix"), ("outcome", "success")];
    assert_eq!(
        metrics.sum("busbar_requests_total", &success),
        ok + cut,
        "{report}"
    );
    // 3.
    assert_eq!(delta.0, ok, "{report}");
    // 4.
    assert_eq!(delta.0 + delta.1 + delta.2, upstream, "{report}");
    assert_eq!(
        metrics.sum("busbar_upstream_attempts_total", &mix),
        upstream,
        "{report}"
    );
    // 5.
    assert_eq!(
        delta.1 + delta.2,
        metrics.sum("busbar_upstream_failures_total", &mix) + cut,
        "{report}"
    );
    // The always-failing lane was taken out by its breaker.
    let d = [("pool", "mix"), ("lane", "d")];
    assert!(
        metrics.sum("busbar_breaker_trips_total", &d) >= 1,
        "{report}"
    );

    // The gateway is healthy and serving afterwards.
    gateway.mock.clear_faults();
    assert_eq!(gateway.get("/healthz", &[]).await.status, 200);
    assert_eq!(run_one(&gateway, 0).await.1, Seen::Ok);
}
