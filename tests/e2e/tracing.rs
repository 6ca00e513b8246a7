//! OpenTelemetry traces: busbar exports to an OTLP collector the test runs
//! itself on 127.0.0.1 (OTLP/HTTP, or OTLP/gRPC over cleartext HTTP/2),
//! which decodes the real protobuf (`ExportTraceServiceRequest`) and keeps
//! the spans. Each test checks the
//! spans — names, kinds, parents, GenAI attributes, token counts, failover —
//! and what the upstream was sent (`traceparent`); and that a collector
//! that is dead or never answers costs requests nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use busbar_testkit::{Fault, FaultRule};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::{Gateway, Metrics, Setup, CLAUDE_UPSTREAM};

/// Two lanes on the mock, named after their upstream model ids: `a` speaks
/// OpenAI, `b` Anthropic; pool `p` tries `a` first.
const LANES: &str = "
  a:
    provider: mock-openai
    max_concurrent: 8
  b:
    provider: mock-anthropic
    max_concurrent: 8
  claude:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
";

const POOL: &str = "
pools:
  p:
    members:
      - target: a
      - target: b
";

/// The client's trace: busbar's spans must join it.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// A gateway exporting to `endpoint`, its batches sent every 100 ms.
async fn traced(endpoint: &str, extra: &str) -> Gateway {
    Setup::new()
        .models(LANES)
        .extra(&format!(
            "observability: {{otlp_endpoint: '{endpoint}'}}\n{extra}"
        ))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start()
        .await
}

#[tokio::test]
async fn a_request_is_a_server_span_over_one_client_span_per_attempt_with_failover() {
    let collector = Collector::start().await;
    let gateway = traced(&collector.endpoint(), POOL).await;
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::server_error()).model("a"));
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let body = json!({
        "model": "p",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello"}],
    });
    let reply = gateway
        .post(
            "/v1/chat/completions",
            body.to_string(),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-model"), Some("b"));
    let usage = &reply.json()["usage"];

    let spans = collector.wait_for(3).await;
    let request = only(&spans, |span| span.kind == SpanKind::Server as i32);
    assert_eq!(request.name, "chat p");
    assert_eq!(hex(&request.trace_id), CLIENT_TRACE);
    assert_eq!(hex(&request.parent_span_id), CLIENT_SPAN);
    let attrs = attributes(request);
    assert_eq!(attrs["gen_ai.operation.name"], json!("chat"));
    assert_eq!(attrs["gen_ai.request.model"], json!("p"));
    assert_eq!(attrs["gen_ai.request.max_tokens"], json!(50));
    // What the reply said is on the attempt that got it, once.
    for reply_attribute in ["gen_ai.usage.input_tokens", "gen_ai.response.model"] {
        assert!(!attrs.contains_key(reply_attribute), "{attrs:?}");
    }
    assert_eq!(attrs["busbar.pool"], json!("p"));
    assert_eq!(attrs["busbar.lane"], json!("b"));
    assert_eq!(attrs["busbar.attempts"], json!(2));
    assert_eq!(attrs["busbar.ingress_protocol"], json!("openai"));
    assert_eq!(
        attrs["busbar.request_id"].as_str(),
        reply.header("x-request-id")
    );
    assert!(!attrs.contains_key("error.type"), "{attrs:?}");

    let attempts: Vec<&Span> = spans
        .iter()
        .filter(|span| span.kind == SpanKind::Client as i32)
        .collect();
    assert_eq!(attempts.len(), 2);
    for attempt in &attempts {
        assert_eq!(attempt.trace_id, request.trace_id);
        assert_eq!(attempt.parent_span_id, request.span_id);
    }
    let first = only(&spans, |span| span.name == "chat a");
    let attrs = attributes(first);
    assert_eq!(attrs["gen_ai.provider.name"], json!("openai"));
    assert_eq!(attrs["gen_ai.request.model"], json!("a"));
    assert_eq!(attrs["busbar.lane"], json!("a"));
    assert_eq!(attrs["busbar.egress_protocol"], json!("openai"));
    assert_eq!(attrs["server.address"], json!("127.0.0.1"));
    assert_eq!(attrs["error.type"], json!("server_error"));
    assert_eq!(attrs["http.response.status_code"], json!(500));
    assert_eq!(attrs["busbar.attempt"], json!(1));
    assert_eq!(first.status.as_ref().map(|s| s.code), Some(2), "ERROR");

    let second = only(&spans, |span| span.name == "chat b");
    let attrs = attributes(second);
    assert_eq!(attrs["gen_ai.provider.name"], json!("anthropic"));
    assert_eq!(attrs["busbar.failover_reason"], json!("server_error"));
    assert_eq!(attrs["busbar.attempt"], json!(2));
    assert_eq!(attrs["gen_ai.usage.input_tokens"], usage["prompt_tokens"]);
    assert_eq!(
        attrs["gen_ai.usage.output_tokens"],
        usage["completion_tokens"]
    );
    assert!(attrs["gen_ai.usage.output_tokens"].as_i64() > Some(0));
    assert_eq!(attrs["gen_ai.response.model"], json!("b"));
    assert_eq!(attrs["gen_ai.response.finish_reasons"], json!(["stop"]));
    assert!(!attrs.contains_key("error.type"), "{attrs:?}");

    // Each attempt went upstream as a child of its own span, in the
    // client's trace; the client's own header was not passed on.
    let sent: Vec<String> = gateway
        .received()
        .iter()
        .map(|request| {
            request
                .headers
                .get("traceparent")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        sent,
        [
            format!("00-{CLIENT_TRACE}-{}-01", hex(&first.span_id)),
            format!("00-{CLIENT_TRACE}-{}-01", hex(&second.span_id)),
        ]
    );
}

#[tokio::test]
async fn a_streamed_request_span_ends_with_its_stream_and_carries_its_usage() {
    let collector = Collector::start().await;
    let gateway = traced(&collector.endpoint(), "").await;
    // The stream pauses after its start, so a span ended at the headers
    // would be visibly shorter than the stream.
    let pause = Duration::from_millis(700);
    gateway.mock.set_fault(FaultRule::new(Fault::StallStream {
        after_events: 2,
        pause,
    }));
    let body = json!({
        "model": "claude",
        "max_tokens": 64,
        "stream": true,
        "messages": [{"role": "user", "content": "hello"}],
    });
    let opened = Instant::now();
    let reply = gateway.stream("/v1/messages", &body).await;
    assert!(opened.elapsed() >= pause);
    assert_eq!(reply.status, 200);
    let events = reply.data();
    let input = events
        .iter()
        .find_map(|event| event["message"]["usage"]["input_tokens"].as_i64())
        .expect("message_start carries input tokens");
    let output = events
        .iter()
        .rev()
        .find_map(|event| event["usage"]["output_tokens"].as_i64())
        .expect("message_delta carries output tokens");

    let spans = collector.wait_for(2).await;
    let request = only(&spans, |span| span.kind == SpanKind::Server as i32);
    let attempt = only(&spans, |span| span.kind == SpanKind::Client as i32);
    assert_eq!(request.name, "chat claude");
    assert_eq!(attempt.name, format!("chat {CLAUDE_UPSTREAM}"));
    for span in [request, attempt] {
        let lasted = span.end_time_unix_nano - span.start_time_unix_nano;
        assert!(
            lasted >= pause.as_nanos() as u64,
            "{}: {lasted} ns",
            span.name
        );
    }
    let attrs = attributes(attempt);
    assert_eq!(
        attrs["gen_ai.usage.input_tokens"],
        json!(input),
        "{attrs:?}"
    );
    assert_eq!(attrs["gen_ai.usage.output_tokens"], json!(output));
    assert_eq!(attrs["gen_ai.response.finish_reasons"], json!(["stop"]));
    assert_eq!(attrs["gen_ai.provider.name"], json!("anthropic"));
    let attrs = attributes(request);
    assert_eq!(attrs["gen_ai.request.stream"], json!(true));
    assert_eq!(attrs["gen_ai.operation.name"], json!("chat"));
    // Without a client traceparent the request span starts a trace.
    assert!(request.parent_span_id.is_empty());
}

#[tokio::test]
async fn a_stream_cut_short_ends_its_spans_with_the_failure() {
    let collector = Collector::start().await;
    let gateway = traced(&collector.endpoint(), "").await;
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::AbortStream { after_events: 3 }));
    let body = json!({
        "model": "claude",
        "max_tokens": 64,
        "stream": true,
        "messages": [{"role": "user", "content": "hello"}],
    });
    let reply = gateway.stream("/v1/messages", &body).await;
    assert_eq!(reply.status, 200);
    let spans = collector.wait_for(2).await;
    for span in &spans {
        let attrs = attributes(span);
        assert_eq!(attrs["error.type"], json!("network"), "{}", span.name);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2), "ERROR");
    }
    let attempt = only(&spans, |span| span.kind == SpanKind::Client as i32);
    assert_eq!(
        attributes(attempt)["gen_ai.response.finish_reasons"],
        json!(["error"])
    );
}

#[tokio::test]
async fn a_request_that_fails_everywhere_ends_its_span_with_the_status() {
    let collector = Collector::start().await;
    let gateway = traced(&collector.endpoint(), "").await;
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::rate_limited(None)));
    let reply = gateway
        .post_json(
            "/v1/messages",
            &json!({"model": "claude", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 429);
    let spans = collector.wait_for(2).await;
    let request = only(&spans, |span| span.kind == SpanKind::Server as i32);
    let attrs = attributes(request);
    assert_eq!(attrs["error.type"], json!("rate_limit"));
    assert_eq!(attrs["http.response.status_code"], json!(429));
    let attempt = only(&spans, |span| span.kind == SpanKind::Client as i32);
    assert_eq!(attributes(attempt)["http.response.status_code"], json!(429));
}

/// A collector's API key from the OpenTelemetry variables reaches it with
/// every export, over both transports.
#[tokio::test]
async fn the_otlp_header_variables_reach_the_collector() {
    for scheme in ["http", "grpc"] {
        let collector = Collector::start().await;
        let gateway = Setup::new()
            .models(LANES)
            .extra(&format!(
                "observability: {{otlp_endpoint: '{scheme}://{}'}}\n",
                collector.addr
            ))
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=not-this")
            .env(
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "x-api-key=collector%20key",
            )
            .start()
            .await;
        let body = json!({"model": "a", "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(
            gateway
                .post_json("/v1/chat/completions", &body)
                .await
                .status,
            200
        );
        collector.wait_for(2).await;
        let keys = collector.api_keys();
        assert!(!keys.is_empty(), "{scheme}: no export carried the key");
        assert!(
            keys.iter().all(|key| key == "collector key"),
            "{scheme}: {keys:?}"
        );
    }
}

#[tokio::test]
async fn a_grpc_endpoint_receives_the_same_spans_over_otlp_grpc() {
    let collector = Collector::start().await;
    let gateway = traced(&format!("grpc://{}", collector.addr), "").await;
    let reply = gateway
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "a", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let spans = collector.wait_for(2).await;
    let request = only(&spans, |span| span.kind == SpanKind::Server as i32);
    assert_eq!(request.name, "chat a");
    let attempt = only(&spans, |span| span.kind == SpanKind::Client as i32);
    assert_eq!(attempt.parent_span_id, request.span_id);
    assert_eq!(
        attributes(attempt)["gen_ai.usage.output_tokens"],
        reply.json()["usage"]["completion_tokens"]
    );
    assert!(collector.transports().iter().all(|t| *t == "grpc"));
}

#[tokio::test]
async fn a_collector_that_is_dead_or_silent_costs_requests_nothing() {
    // One port with nobody on it, one that accepts and never answers, over
    // each transport.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    for endpoint in [
        format!("http://{dead}"),
        format!("http://{silent_addr}"),
        format!("grpc://{dead}"),
        format!("grpc://{silent_addr}"),
    ] {
        let gateway = traced(&endpoint, "").await;
        let started = Instant::now();
        for _ in 0..20 {
            let reply = gateway
                .post_json(
                    "/v1/chat/completions",
                    &json!({"model": "a", "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(reply.status, 200, "{endpoint}: {}", reply.text());
        }
        let stream = gateway
            .stream(
                "/v1/messages",
                &json!({"model": "claude", "max_tokens": 8, "stream": true,
                        "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(stream.status, 200);
        // Twenty-one requests to a local mock; exports are batched every
        // 100 ms and time out after seconds, so waiting on one would show.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{endpoint}: {:?}",
            started.elapsed()
        );
        // A refused export loses its spans, and says so.
        if endpoint.contains(&dead.to_string()) {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let dropped = Metrics::read(&gateway)
                    .await
                    .sum("busbar_trace_spans_dropped_total", &[]);
                if dropped > 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{endpoint}: no span counted as dropped"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    held.abort();
}

#[tokio::test]
async fn a_client_trace_not_sampled_is_not_recorded_but_still_carried_upstream() {
    let collector = Collector::start().await;
    let gateway = traced(&collector.endpoint(), "").await;
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-00");
    let reply = gateway
        .post(
            "/v1/chat/completions",
            json!({"model": "a", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(reply.status, 200);
    let sent = gateway.received_one();
    let sent = sent.headers["traceparent"].to_str().expect("ascii");
    assert!(
        sent.starts_with(&format!("00-{CLIENT_TRACE}-")) && sent.ends_with("-00"),
        "{sent}"
    );
    assert_ne!(sent, traceparent);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(collector.spans.lock().expect("not poisoned").is_empty());
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_and_no_traceparent_goes_upstream() {
    let gateway = Setup::new().start().await;
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let reply = gateway
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(gateway.received_one().headers.get("traceparent").is_none());
}

/// An OTLP collector on 127.0.0.1 speaking both transports: OTLP/HTTP
/// (`POST /v1/traces`) and OTLP/gRPC (the `TraceService/Export` call over
/// cleartext HTTP/2). It decodes each export's protobuf and keeps its spans.
struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    transports: Arc<Mutex<Vec<&'static str>>>,
    /// The `x-api-key` header of each export, when it had one.
    api_keys: Arc<Mutex<Vec<String>>>,
    _server: tokio::task::JoinHandle<()>,
}

/// The gRPC method an OTLP trace export calls.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type Trailers = std::future::Ready<Option<Result<http::HeaderMap, std::convert::Infallible>>>;
type ReplyBody = http_body_util::combinators::WithTrailers<Full<Bytes>, Trailers>;

impl Collector {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let transports = Arc::new(Mutex::new(Vec::new()));
        let api_keys = Arc::new(Mutex::new(Vec::new()));
        let (kept, seen, keys) = (spans.clone(), transports.clone(), api_keys.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, seen, keys) = (kept.clone(), seen.clone(), keys.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let (kept, seen, keys) = (kept.clone(), seen.clone(), keys.clone());
                            async move {
                                if let Some(key) = request.headers().get("x-api-key") {
                                    let key = key.to_str().expect("ascii").to_owned();
                                    keys.lock().expect("not poisoned").push(key);
                                }
                                let grpc = request.uri().path() == GRPC_EXPORT;
                                if !grpc {
                                    assert_eq!(request.uri().path(), "/v1/traces");
                                    assert_eq!(
                                        request.headers()["content-type"],
                                        "application/x-protobuf"
                                    );
                                }
                                seen.lock().expect("not poisoned").push(if grpc {
                                    "grpc"
                                } else {
                                    "http"
                                });
                                let body = request.into_body().collect().await?.to_bytes();
                                // A gRPC message: a compression flag (0) and a
                                // big-endian length before the protobuf.
                                let message = if grpc {
                                    assert_eq!(body[0], 0, "uncompressed");
                                    let length =
                                        u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
                                    assert_eq!(body.len(), 5 + length as usize);
                                    body.slice(5..)
                                } else {
                                    body
                                };
                                keep(&kept, &message);
                                let reply = ExportTraceServiceResponse::default().encode_to_vec();
                                Ok::<_, hyper::Error>(if grpc {
                                    let mut framed = vec![0];
                                    framed.extend_from_slice(&(reply.len() as u32).to_be_bytes());
                                    framed.extend_from_slice(&reply);
                                    let mut trailers = http::HeaderMap::new();
                                    trailers
                                        .insert("grpc-status", http::HeaderValue::from_static("0"));
                                    reply_with(framed, "application/grpc", Some(trailers))
                                } else {
                                    reply_with(reply, "application/x-protobuf", None)
                                })
                            }
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            spans,
            transports,
            api_keys,
            _server: server,
        }
    }

    /// The transport of each export received (`http`, `grpc`).
    fn transports(&self) -> Vec<&'static str> {
        self.transports.lock().expect("not poisoned").clone()
    }

    fn api_keys(&self) -> Vec<String> {
        self.api_keys.lock().expect("not poisoned").clone()
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The spans once `count` have arrived (and a moment for strays).
    async fn wait_for(&self, count: usize) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let have = self.spans.lock().expect("not poisoned").len();
            if have >= count {
                break;
            }
            assert!(Instant::now() < deadline, "{have} of {count} spans arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let spans = self.spans.lock().expect("not poisoned").clone();
        assert_eq!(spans.len(), count, "{spans:#?}");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        for span in &spans {
            assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
            assert!(span.end_time_unix_nano <= now);
        }
        spans
    }
}

/// Decodes one `ExportTraceServiceRequest` and keeps its spans.
fn keep(kept: &Mutex<Vec<Span>>, message: &[u8]) {
    let export =
        ExportTraceServiceRequest::decode(message).expect("a valid ExportTraceServiceRequest");
    for resource in export.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.clone());
        assert_eq!(service, Some(Any::StringValue("busbar".into())));
        for scope in resource.scope_spans {
            kept.lock().expect("not poisoned").extend(scope.spans);
        }
    }
}

fn reply_with(
    body: Vec<u8>,
    content_type: &'static str,
    trailers: Option<http::HeaderMap>,
) -> http::Response<ReplyBody> {
    let body = Full::new(Bytes::from(body)).with_trailers(std::future::ready(trailers.map(Ok)));
    let mut response = http::Response::new(body);
    response
        .headers_mut()
        .insert("content-type", http::HeaderValue::from_static(content_type));
    response
}

/// The one span matching `pick`.
fn only(spans: &[Span], pick: impl Fn(&Span) -> bool) -> &Span {
    let found: Vec<&Span> = spans.iter().filter(|span| pick(span)).collect();
    assert_eq!(found.len(), 1, "{spans:#?}");
    found[0]
}

/// A span's attributes as JSON values.
fn attributes(span: &Span) -> HashMap<String, Value> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = kv
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
                .map_or(Value::Null, json_of);
            (kv.key.clone(), value)
        })
        .collect()
}

fn json_of(value: &Any) -> Value {
    match value {
        Any::StringValue(s) => json!(s),
        Any::BoolValue(b) => json!(b),
        Any::IntValue(i) => json!(i),
        Any::DoubleValue(d) => json!(d),
        Any::ArrayValue(array) => Value::Array(
            array
                .values
                .iter()
                .filter_map(|v| v.value.as_ref().map(json_of))
                .collect(),
        ),
        other => json!(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
