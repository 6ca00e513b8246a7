//! OpenTelemetry traces: one span per proxied request and a child span per
//! upstream attempt, exported in batches to `observability.otlp_endpoint`.
//!
//! A request's [`Trace`] is made in the handler, where the client's W3C
//! `traceparent` (if any) becomes the request span's parent. It rides with
//! the request through the attempt plan, where each attempt opens its child
//! span (whose context goes upstream as our own `traceparent`), and the
//! attempt whose reply reaches the client hands it to the lane's `Guard`
//! inside the reply body. So both spans end when the body does — after the
//! last byte of a stream — with the usage and finish reason the body saw.
//! A `Trace` dropped before it was ended (the client went away) ends its
//! spans as cancelled.
//!
//! Without an endpoint there is no [`Tracer`] and no `Trace`: a request
//! pays for nothing but a `None`.
//!
//! Spans are Busbar's own, not an SDK's span objects: each is written
//! straight into its OTLP protobuf as it goes (`otlp.rs`), an attribute
//! at a time, and queued when it ends (`export.rs`). A lane's constant
//! attributes are encoded once, when the lane is configured. This is what
//! the OpenTelemetry SDK's spans (a boxed attribute list per span, a
//! `String` per value, the exporter's copy of each) cost several times
//! over on a gateway's hot path; the wire format, the W3C propagation and
//! the SDK's sampler and batch variables are the same (`context.rs`,
//! `export.rs`).
//!
//! The attribute names follow the OpenTelemetry GenAI semantic conventions
//! (see `docs/operations.md#traces` for the version read); Busbar's own are
//! under `busbar.`.

mod context;
mod export;
mod otlp;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use busbar_ir::{StopReason, StreamEvent, Usage};
use busbar_protocols::Protocol;
use http::{HeaderMap, HeaderValue, Uri};

use context::{Sampler, SpanId, TraceId, SAMPLED, TRACEPARENT, TRACESTATE};
use export::{Batching, Exporter, Queue};
use otlp::{bool_attribute, int_attribute, string_attribute, strings_attribute, Kind, SpanWriter};

/// Where spans are made and sent: the sampler and the exporter's queue.
/// Cheap to clone; kept across reloads.
#[derive(Clone)]
pub(crate) struct Tracer {
    shared: Arc<Shared>,
}

struct Shared {
    exporter: Exporter,
    sampler: Sampler,
    /// Each ingress protocol's first two request-span attributes
    /// (`gen_ai.operation.name`, `busbar.ingress_protocol`), encoded once.
    openings: Vec<(Protocol, Vec<u8>)>,
    /// The endpoint as configured, to tell a reload that changes it.
    endpoint: Box<str>,
}

impl Tracer {
    /// Starts exporting to `endpoint` (already validated by the
    /// configuration). Needs the tokio runtime the exports run on.
    pub(crate) fn start(endpoint: &str) -> Result<Self, String> {
        let resource = otlp::resource(&resource_attributes(
            std::env::var("OTEL_SERVICE_NAME").ok().as_deref(),
            &std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default(),
        ));
        let scope = otlp::scope("busbar", env!("CARGO_PKG_VERSION"));
        let exporter = Exporter::start(endpoint, Batching::from_env(), resource, scope)?;
        Ok(Self {
            shared: Arc::new(Shared {
                exporter,
                sampler: Sampler::from_env(),
                openings: Protocol::ALL
                    .into_iter()
                    .map(|protocol| {
                        let mut encoded = Vec::new();
                        string_attribute(&mut encoded, OPERATION, operation(protocol));
                        string_attribute(&mut encoded, "busbar.ingress_protocol", protocol.name());
                        (protocol, encoded)
                    })
                    .collect(),
                endpoint: endpoint.into(),
            }),
        })
    }

    /// The endpoint spans go to.
    pub(crate) fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// Exports what is queued, waiting at most `within`.
    pub(crate) async fn flush(&self, within: Duration) {
        self.shared.exporter.flush(within).await;
    }

    /// Opens a request's span: a child of the client's `traceparent` when
    /// it sent a valid one, else the root of a new trace.
    pub(crate) fn request(
        &self,
        headers: &HeaderMap,
        ingress: Protocol,
        request_id: &str,
    ) -> Box<Trace> {
        let parent = context::parent(headers);
        let trace_id = parent
            .as_ref()
            .map_or_else(context::new_trace_id, |parent| parent.trace_id);
        let recording = self.shared.sampler.sampled(&trace_id, parent.as_ref());
        let flags = match &parent {
            Some(parent) => (parent.flags & !SAMPLED) | if recording { SAMPLED } else { 0 },
            None if recording => SAMPLED,
            None => 0,
        };
        let state = parent.as_ref().and_then(|_| context::tracestate(headers));
        let span_id = context::new_span_id();
        let operation = operation(ingress);
        let request = recording.then(|| {
            let mut span = SpanWriter::start(
                &trace_id,
                &span_id,
                state.as_ref().map_or(&[][..], HeaderValue::as_bytes),
                parent.as_ref().map(|parent| &parent.span_id),
                Kind::Server,
                now(),
            );
            let out = span.attributes();
            match self
                .shared
                .openings
                .iter()
                .find(|(protocol, _)| *protocol == ingress)
            {
                Some((_, encoded)) => out.extend_from_slice(encoded),
                None => {
                    string_attribute(out, OPERATION, operation);
                    string_attribute(out, "busbar.ingress_protocol", ingress.name());
                }
            }
            string_attribute(out, "busbar.request_id", request_id);
            span
        });
        Box::new(Trace {
            queue: Arc::clone(&self.shared.exporter.queue),
            trace_id,
            span_id,
            remote_parent: parent.is_some(),
            flags,
            state,
            request,
            named: false,
            pool: None,
            pool_len: 0,
            operation,
            attempt: None,
            attempts: 0,
            served: None,
            last_failure: None,
            reply: Reply::default(),
            ended: false,
        })
    }
}

/// The resource's attributes: `OTEL_RESOURCE_ATTRIBUTES` (`key=value`
/// pairs separated by commas, values percent-encoded), with
/// `service.name` from `OTEL_SERVICE_NAME` (else those attributes, else
/// `busbar`) and `service.version` Busbar's own unless given.
fn resource_attributes(service_name: Option<&str>, attributes: &str) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = Vec::new();
    for pair in attributes.split(',') {
        let Some((key, value)) = pair.split_once('=') else {
            if !pair.trim().is_empty() {
                tracing::warn!(
                    pair,
                    "traces: OTEL_RESOURCE_ATTRIBUTES has a pair without `=`; it is ignored"
                );
            }
            continue;
        };
        let key = key.trim();
        match busbar_protocols::wire::percent_decode(value.trim()) {
            Some(value) if !key.is_empty() => {
                all.retain(|(kept, _)| kept != key);
                all.push((key.to_owned(), value));
            }
            _ => tracing::warn!(
                key,
                "traces: an OTEL_RESOURCE_ATTRIBUTES pair is not valid; it is ignored"
            ),
        }
    }
    let mut set = |key: &str, value: &str, replace: bool| match all
        .iter_mut()
        .find(|(kept, _)| kept == key)
    {
        Some(kept) if replace => kept.1 = value.to_owned(),
        Some(_) => {}
        None => all.push((key.to_owned(), value.to_owned())),
    };
    match service_name.map(str::trim).filter(|name| !name.is_empty()) {
        Some(name) => set("service.name", name, true),
        None => set("service.name", "busbar", false),
    }
    set("service.version", env!("CARGO_PKG_VERSION"), false);
    set("telemetry.sdk.name", "busbar", true);
    set("telemetry.sdk.language", "rust", true);
    set("telemetry.sdk.version", env!("CARGO_PKG_VERSION"), true);
    all
}

/// What names one lane in its attempt spans, made once per lane: the span
/// name and the lane's attributes, already encoded.
#[derive(Clone)]
pub(crate) struct LaneAttributes {
    lane: Arc<LaneSpan>,
}

struct LaneSpan {
    name: String,
    /// `busbar.lane` for the request span of a request this lane served,
    /// encoded.
    served_by: Vec<u8>,
    /// `gen_ai.operation.name`, `gen_ai.provider.name`,
    /// `gen_ai.request.model`, `busbar.lane`, `busbar.provider`,
    /// `busbar.egress_protocol`, `server.address`, `server.port`.
    attributes: Vec<u8>,
}

impl LaneAttributes {
    /// The attributes of attempts on lane `lane` (model `model_id` at the
    /// configured provider `provider`, speaking `protocol` at `uri`).
    pub(crate) fn new(
        lane: &str,
        provider: &str,
        protocol: Protocol,
        model_id: &str,
        uri: &Uri,
    ) -> Self {
        let operation = operation(protocol);
        let mut attributes = Vec::new();
        let out = &mut attributes;
        string_attribute(out, OPERATION, operation);
        string_attribute(out, PROVIDER, provider_name(protocol));
        string_attribute(out, REQUEST_MODEL, model_id);
        string_attribute(out, "busbar.lane", lane);
        string_attribute(out, "busbar.provider", provider);
        string_attribute(out, "busbar.egress_protocol", protocol.name());
        if let Some(host) = uri.host() {
            string_attribute(out, "server.address", host);
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
            int_attribute(out, "server.port", i64::from(port));
        }
        let mut served_by = Vec::new();
        string_attribute(&mut served_by, "busbar.lane", lane);
        Self {
            lane: Arc::new(LaneSpan {
                name: format!("{operation} {model_id}"),
                served_by,
                attributes,
            }),
        }
    }
}

/// A request's spans, from the handler to the end of its reply body.
pub(crate) struct Trace {
    queue: Arc<Queue>,
    trace_id: TraceId,
    /// The request span's id, the attempts' parent.
    span_id: SpanId,
    /// The request span's parent is the client's.
    remote_parent: bool,
    /// The W3C trace flags sent upstream (sampled or not).
    flags: u8,
    /// The client's `tracestate`, carried on.
    state: Option<HeaderValue>,
    /// The request span (kind SERVER) being written; `None` when the trace
    /// is not sampled, and then attributes are not gathered and usage is
    /// not decoded.
    request: Option<SpanWriter>,
    /// The request span has its routed name.
    named: bool,
    /// Where the request span's `busbar.pool` attribute is in its buffer
    /// (it ends with the pool's name), for the attempts to copy.
    pool: Option<std::ops::Range<usize>>,
    /// The length of that pool's name.
    pool_len: usize,
    /// The request's operation (`chat`, `generate_content`).
    operation: &'static str,
    /// The attempt in progress or being replied from (kind CLIENT).
    attempt: Option<Attempt>,
    attempts: u32,
    /// The lane whose reply reached the client.
    served: Option<Arc<LaneSpan>>,
    /// The failure class of the latest failed attempt.
    last_failure: Option<&'static str>,
    reply: Reply,
    ended: bool,
}

struct Attempt {
    span_id: SpanId,
    /// `None` when the trace is not sampled.
    span: Option<SpanWriter>,
    lane: Arc<LaneSpan>,
}

/// What the reply said about itself, as it passed.
#[derive(Default)]
struct Reply {
    usage: Option<Usage>,
    finish: Option<&'static str>,
    other_finish: Option<String>,
}

impl Trace {
    fn recording(&self) -> bool {
        self.request.is_some()
    }

    /// The request resolved to `name` (a pool or model), served by `pool`.
    pub(crate) fn routed(&mut self, name: &str, pool: &str, stream: bool, max_tokens: Option<u64>) {
        let Some(span) = &mut self.request else {
            return;
        };
        self.named = true;
        let out = span.attributes();
        otlp::name(out, &[self.operation, " ", name]);
        string_attribute(out, REQUEST_MODEL, name);
        let start = out.len();
        string_attribute(out, "busbar.pool", pool);
        self.pool = Some(start..out.len());
        self.pool_len = pool.len();
        if stream {
            bool_attribute(out, "gen_ai.request.stream", true);
        }
        if let Some(max) = max_tokens {
            int_attribute(
                out,
                "gen_ai.request.max_tokens",
                i64::try_from(max).unwrap_or(i64::MAX),
            );
        }
    }

    /// Opens an attempt's span on `lane`; `failover_reason` is the failure
    /// class of the attempt before it, when this one is a failover.
    pub(crate) fn attempt(
        &mut self,
        lane: &LaneAttributes,
        pool: &str,
        failover_reason: Option<&'static str>,
    ) {
        self.attempts += 1;
        let span_id = context::new_span_id();
        let span = self.recording().then(|| {
            let mut span = SpanWriter::start(
                &self.trace_id,
                &span_id,
                self.state.as_ref().map_or(&[][..], HeaderValue::as_bytes),
                Some(&self.span_id),
                Kind::Client,
                now(),
            );
            let out = span.attributes();
            otlp::name(out, &[&lane.lane.name]);
            out.extend_from_slice(&lane.lane.attributes);
            // The request span's own, when it names the same pool (same
            // name, so the same length and bytes before it).
            let routed_len = self.pool_len;
            let routed =
                self.request
                    .as_mut()
                    .zip(self.pool.clone())
                    .and_then(|(request, range)| {
                        let encoded = request.attributes().get(range)?;
                        (routed_len == pool.len() && encoded.ends_with(pool.as_bytes()))
                            .then_some(encoded)
                    });
            match routed {
                Some(encoded) => out.extend_from_slice(encoded),
                None => string_attribute(out, "busbar.pool", pool),
            }
            int_attribute(out, "busbar.attempt", i64::from(self.attempts));
            if let Some(reason) = failover_reason {
                string_attribute(out, "busbar.failover_reason", reason);
            }
            span
        });
        self.attempt = Some(Attempt {
            span_id,
            span,
            lane: Arc::clone(&lane.lane),
        });
    }

    /// Writes the attempt's context into an upstream request's headers as
    /// W3C `traceparent` (and `tracestate`, when the client sent one),
    /// replacing whatever was there.
    pub(crate) fn inject(&self, headers: &mut HeaderMap) {
        let Some(attempt) = &self.attempt else {
            return;
        };
        let value = context::traceparent(&self.trace_id, &attempt.span_id, self.flags);
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            headers.insert(TRACEPARENT, value);
        }
        if let Some(state) = &self.state {
            headers.insert(TRACESTATE, state.clone());
        }
    }

    /// The attempt failed with `class` before any byte reached the client;
    /// `status` is the upstream's HTTP status when it answered.
    pub(crate) fn attempt_failed(&mut self, class: &'static str, status: Option<u16>) {
        self.last_failure = Some(class);
        let Some(Attempt {
            span: Some(mut span),
            ..
        }) = self.attempt.take()
        else {
            return;
        };
        let out = span.attributes();
        string_attribute(out, ERROR_TYPE, class);
        if let Some(status) = status {
            int_attribute(out, STATUS_CODE, i64::from(status));
        }
        self.queue
            .push(span.finish(now(), Some(class), self.flags, false));
    }

    /// A stream event of the reply passed.
    pub(crate) fn observe(&mut self, event: &StreamEvent) {
        if !self.recording() {
            return;
        }
        match event {
            StreamEvent::MessageStart { model, usage, .. } => {
                self.response_model(model);
                self.usage(usage);
            }
            StreamEvent::MessageDelta {
                stop_reason, usage, ..
            } => {
                if let Some(reason) = stop_reason {
                    self.finish(reason);
                }
                if let Some(usage) = usage {
                    self.usage(usage);
                }
            }
            _ => {}
        }
    }

    /// A complete reply's model, finish reason and usage.
    pub(crate) fn complete(&mut self, model: &str, stop: Option<&StopReason>, usage: &Usage) {
        if !self.recording() {
            return;
        }
        self.response_model(model);
        if let Some(reason) = stop {
            self.finish(reason);
        }
        self.usage(usage);
    }

    /// `gen_ai.response.model`, written on the attempt's span as it comes.
    fn response_model(&mut self, model: &str) {
        if model.is_empty() {
            return;
        }
        if let Some(Attempt {
            span: Some(span), ..
        }) = &mut self.attempt
        {
            string_attribute(span.attributes(), "gen_ai.response.model", model);
        }
    }

    fn usage(&mut self, usage: &Usage) {
        if *usage != Usage::default() {
            self.reply
                .usage
                .get_or_insert_with(Usage::default)
                .merge(usage);
        }
    }

    fn finish(&mut self, reason: &StopReason) {
        match finish_reason(reason) {
            Some(name) => self.reply.finish = Some(name),
            None => {
                if let StopReason::Other(raw) = reason {
                    self.reply.other_finish = Some(raw.clone());
                }
            }
        }
    }

    /// The reply reached its end.
    pub(crate) fn succeeded(mut self: Box<Self>) {
        self.end(None);
    }

    /// The reply broke off after its first byte with a failure of `class`.
    pub(crate) fn broke_off(mut self: Box<Self>, class: &'static str) {
        self.reply.finish = Some("error");
        self.end(Some(class));
    }

    /// The request failed before any reply: it answered `status`.
    pub(crate) fn failed(mut self: Box<Self>, status: u16) {
        self.ended = true;
        let Some(mut span) = self.request.take() else {
            return;
        };
        let out = span.attributes();
        if !self.named {
            otlp::name(out, &[self.operation]);
        }
        int_attribute(out, STATUS_CODE, i64::from(status));
        let status_text;
        let error = match self.last_failure {
            Some(class) => class,
            None => {
                status_text = status.to_string();
                &status_text
            }
        };
        string_attribute(out, ERROR_TYPE, error);
        int_attribute(out, "busbar.attempts", i64::from(self.attempts));
        self.queue
            .push(span.finish(now(), Some(error), self.flags, self.remote_parent));
    }

    /// Ends the reply's attempt span and the request span, with what the
    /// reply said and `error` when it broke off. What the reply said (its
    /// model, usage, finish reason) goes on the attempt span only, the
    /// inference span of the conventions, so that a backend adding up
    /// GenAI usage across spans counts it once.
    fn end(&mut self, error: Option<&'static str>) {
        self.ended = true;
        let Some(mut request) = self.request.take() else {
            return;
        };
        let ended = now();
        let mut attempt_span = None;
        if let Some(attempt) = self.attempt.take() {
            if let Some(mut span) = attempt.span {
                let out = span.attributes();
                if let Some(usage) = &self.reply.usage {
                    usage_attributes(out, usage);
                }
                let other = self.reply.other_finish.take();
                if let Some(finish) = self.reply.finish.or(other.as_deref()) {
                    strings_attribute(out, "gen_ai.response.finish_reasons", &[finish]);
                }
                if let Some(error) = error {
                    string_attribute(out, ERROR_TYPE, error);
                }
                attempt_span = Some(span.finish(ended, error, self.flags, false));
            }
            self.served = Some(attempt.lane);
        }
        let out = request.attributes();
        if !self.named {
            otlp::name(out, &[self.operation]);
        }
        if let Some(error) = error {
            string_attribute(out, ERROR_TYPE, error);
        }
        if let Some(lane) = &self.served {
            out.extend_from_slice(&lane.served_by);
        }
        int_attribute(out, "busbar.attempts", i64::from(self.attempts));
        let request = request.finish(ended, error, self.flags, self.remote_parent);
        match attempt_span {
            Some(attempt) => self.queue.push_two(attempt, request),
            None => self.queue.push(request),
        }
    }
}

impl Drop for Trace {
    /// Ended by nobody: the client went away (or the request's task was
    /// dropped) before the reply ended.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.reply.finish = Some("error");
        self.end(Some("cancelled"));
    }
}

/// Now, in nanoseconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

const OPERATION: &str = "gen_ai.operation.name";
const PROVIDER: &str = "gen_ai.provider.name";
const REQUEST_MODEL: &str = "gen_ai.request.model";
const ERROR_TYPE: &str = "error.type";
const STATUS_CODE: &str = "http.response.status_code";

/// The GenAI operation a protocol's generation call is.
fn operation(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Gemini => "generate_content",
        _ => "chat",
    }
}

/// `gen_ai.provider.name`: the convention's well-known value for the
/// vendor whose API a protocol is. It names the telemetry flavour, not the
/// company behind a lane (`busbar.provider` says which one it is).
fn provider_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::OpenAi | Protocol::Responses => "openai",
        Protocol::Anthropic => "anthropic",
        Protocol::Gemini => "gcp.gemini",
        Protocol::Cohere => "cohere",
        Protocol::Bedrock | Protocol::BedrockInvoke => "aws.bedrock",
        _ => "unknown",
    }
}

/// A finish reason in OpenAI's words, which the conventions' examples use;
/// `None` for a vendor's own reason, which is reported as it came.
fn finish_reason(reason: &StopReason) -> Option<&'static str> {
    Some(match reason {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens | StopReason::ContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter | StopReason::Refusal => "content_filter",
        StopReason::PauseTurn => "pause_turn",
        StopReason::Error => "error",
        _ => return None,
    })
}

fn usage_attributes(out: &mut Vec<u8>, usage: &Usage) {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    int_attribute(out, "gen_ai.usage.input_tokens", count(usage.input_tokens));
    int_attribute(
        out,
        "gen_ai.usage.output_tokens",
        count(usage.output_tokens),
    );
    for (key, value) in [
        (
            "gen_ai.usage.cache_read.input_tokens",
            usage.cache_read_tokens,
        ),
        (
            "gen_ai.usage.cache_write.input_tokens",
            usage.cache_write_tokens,
        ),
        (
            "gen_ai.usage.reasoning.output_tokens",
            usage.reasoning_tokens,
        ),
    ] {
        if let Some(value) = value {
            int_attribute(out, key, count(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message as _;

    use super::*;

    fn attribute<'s>(span: &'s Span, key: &str) -> Option<&'s Any> {
        span.attributes
            .iter()
            .find(|pair| pair.key == key)
            .and_then(|pair| pair.value.as_ref()?.value.as_ref())
    }

    fn text(value: Option<&Any>) -> Option<&str> {
        match value {
            Some(Any::StringValue(text)) => Some(text),
            _ => None,
        }
    }

    /// A request routed to one pool whose first attempt fails and whose
    /// second is made for another pool: each span names its own pool,
    /// though the first attempt's is copied from the request span.
    #[test]
    fn each_attempt_names_the_pool_it_was_made_for() {
        let queue = Arc::new(Queue::detached());
        let shared = Shared {
            exporter: Exporter {
                queue: Arc::clone(&queue),
            },
            sampler: Sampler::named("always_on", None),
            openings: Vec::new(),
            endpoint: "http://127.0.0.1:1".into(),
        };
        let tracer = Tracer {
            shared: Arc::new(shared),
        };
        let uri: Uri = "https://api.example.com/v1/chat/completions"
            .parse()
            .unwrap();
        let lane = LaneAttributes::new("fast", "vendor", Protocol::OpenAi, "gpt-x", &uri);
        let mut trace = tracer.request(&HeaderMap::new(), Protocol::Anthropic, "req_1");
        trace.routed("fast-pool", "fast-pool", true, Some(64));
        trace.attempt(&lane, "fast-pool", None);
        trace.attempt_failed("rate_limit", Some(429));
        trace.attempt(&lane, "fast-poo", Some("rate_limit"));
        trace.complete("gpt-x-2026", Some(&StopReason::EndTurn), &Usage::default());
        trace.succeeded();

        let mut body = Vec::new();
        otlp::export_request(&mut body, &[], &[], &queue.take());
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 3);
        let (first, second, server) = (&spans[0], &spans[1], &spans[2]);
        assert_eq!(server.name, "chat fast-pool");
        assert_eq!(text(attribute(server, "busbar.pool")), Some("fast-pool"));
        assert_eq!(text(attribute(server, "busbar.lane")), Some("fast"));
        assert_eq!(
            text(attribute(server, "busbar.ingress_protocol")),
            Some("anthropic")
        );
        assert_eq!(text(attribute(first, "busbar.pool")), Some("fast-pool"));
        assert_eq!(text(attribute(second, "busbar.pool")), Some("fast-poo"));
        assert_eq!(first.name, "chat gpt-x");
        assert_eq!(text(attribute(first, "error.type")), Some("rate_limit"));
        assert_eq!(
            text(attribute(second, "gen_ai.response.model")),
            Some("gpt-x-2026")
        );
        assert_eq!(first.parent_span_id, server.span_id);
        assert_eq!(second.trace_id, server.trace_id);
    }

    #[test]
    fn the_resource_comes_from_the_environment_with_busbars_defaults() {
        let found = resource_attributes(None, "");
        let get = |all: &[(String, String)], key: &str| {
            all.iter()
                .find(|(kept, _)| kept == key)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(get(&found, "service.name").as_deref(), Some("busbar"));
        assert_eq!(
            get(&found, "service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        let set = resource_attributes(
            None,
            "service.name=gw-eu,deployment.environment=prod%20eu, broken ,k8s.pod.name=busbar-0",
        );
        assert_eq!(get(&set, "service.name").as_deref(), Some("gw-eu"));
        assert_eq!(
            get(&set, "deployment.environment").as_deref(),
            Some("prod eu")
        );
        assert_eq!(get(&set, "k8s.pod.name").as_deref(), Some("busbar-0"));
        let named = resource_attributes(Some("edge"), "service.name=gw-eu");
        assert_eq!(get(&named, "service.name").as_deref(), Some("edge"));
    }
}
