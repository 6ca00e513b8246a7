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
//! Each span is the SDK's own span object, held by the `Trace` itself
//! rather than behind a `Context` (whose shared span takes a lock and a
//! dynamic call for every attribute), with room made up front for every
//! attribute it will get: what is added later (on routing, at the end)
//! is a push into a vector that does not grow. The request span starts at
//! arrival, so the configured sampler decides there and the attempts
//! inherit its decision through their parent context.
//!
//! The attribute names follow the OpenTelemetry GenAI semantic conventions
//! (see `docs/operations.md#traces` for the version read); Busbar's own are
//! under `busbar.`.

mod export;
mod otlp;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use busbar_ir::{StopReason, StreamEvent, Usage};
use busbar_protocols::Protocol;
use http::{HeaderMap, HeaderValue, Uri};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span};

/// Where spans are made and sent: the SDK's provider with its batch
/// exporter. Cheap to clone; kept across reloads.
#[derive(Clone)]
pub(crate) struct Tracer {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    /// The endpoint as configured, to tell a reload that changes it.
    endpoint: Arc<str>,
}

impl Tracer {
    /// Starts exporting to `endpoint` (already validated by the
    /// configuration). Needs the tokio runtime the exports run on.
    pub(crate) fn start(endpoint: &str) -> Result<Self, String> {
        let provider = export::provider(endpoint)?;
        let tracer = provider.tracer_with_scope(
            opentelemetry::InstrumentationScope::builder("busbar")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        Ok(Self {
            provider,
            tracer,
            endpoint: endpoint.into(),
        })
    }

    /// The endpoint spans go to.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Exports what is queued and stops, waiting at most `timeout`. Blocks
    /// the calling thread: call it where blocking is allowed.
    pub(crate) fn shutdown(&self, timeout: Duration) {
        if let Err(error) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!(%error, "traces: the last spans could not be exported");
        }
    }

    /// Opens a request's span: a child of the client's `traceparent` when
    /// it sent a valid one, else the root of a new trace.
    pub(crate) fn request(
        &self,
        headers: &HeaderMap,
        ingress: Protocol,
        request_id: &HeaderValue,
    ) -> Box<Trace> {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let operation = operation(ingress);
        let mut attributes = Vec::with_capacity(REQUEST_ATTRIBUTES);
        attributes.extend([
            KeyValue::new(OPERATION, operation),
            KeyValue::new("busbar.ingress_protocol", ingress.name()),
            KeyValue::new(
                "busbar.request_id",
                String::from_utf8_lossy(request_id.as_bytes()).into_owned(),
            ),
        ]);
        let mut builder = self
            .tracer
            .span_builder(operation)
            .with_kind(SpanKind::Server);
        // Set as made, not through `with_attributes`, to keep its capacity.
        builder.attributes = Some(attributes);
        let span = self.tracer.build_with_context(builder, &parent);
        Box::new(Trace {
            tracer: self.tracer.clone(),
            recording: span.is_recording(),
            request: span,
            parent: None,
            operation,
            attempt: None,
            attempts: 0,
            last_failure: None,
            reply: Reply::default(),
            ended: false,
        })
    }
}

/// What names one lane in its attempt spans, made once per lane.
#[derive(Clone)]
pub(crate) struct LaneAttributes {
    span_name: Cow<'static, str>,
    attributes: Arc<[KeyValue]>,
    lane: StringValue,
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
        let mut attributes = vec![
            KeyValue::new(OPERATION, operation),
            KeyValue::new(PROVIDER, provider_name(protocol)),
            KeyValue::new(REQUEST_MODEL, shared(model_id)),
            KeyValue::new("busbar.lane", shared(lane)),
            KeyValue::new("busbar.provider", shared(provider)),
            KeyValue::new("busbar.egress_protocol", protocol.name()),
        ];
        if let Some(host) = uri.host() {
            attributes.push(KeyValue::new("server.address", shared(host)));
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        Self {
            span_name: format!("{operation} {model_id}").into(),
            attributes: attributes.into(),
            lane: shared(lane),
        }
    }
}

/// A request's spans, from the handler to the end of its reply body.
pub(crate) struct Trace {
    tracer: SdkTracer,
    /// Whether the spans are sampled: when not (the client's trace is
    /// not), attributes are not gathered and usage is not decoded.
    recording: bool,
    /// The request span (kind SERVER).
    request: Span,
    /// The request span's context, the attempts' parent: made at the
    /// first attempt.
    parent: Option<Context>,
    /// The request's operation (`chat`, `generate_content`).
    operation: &'static str,
    /// The attempt in progress or being replied from (kind CLIENT).
    attempt: Option<Attempt>,
    attempts: u32,
    /// The failure class of the latest failed attempt.
    last_failure: Option<&'static str>,
    reply: Reply,
    ended: bool,
}

struct Attempt {
    span: Span,
    lane: StringValue,
}

/// What the reply said about itself, as it passed.
#[derive(Default)]
struct Reply {
    usage: Option<Usage>,
    finish: Option<&'static str>,
    other_finish: Option<String>,
    model: Option<String>,
}

impl Trace {
    /// The request resolved to `name` (a pool or model), served by `pool`.
    pub(crate) fn routed(&mut self, name: &str, pool: &str, stream: bool, max_tokens: Option<u64>) {
        if !self.recording {
            return;
        }
        let span = &mut self.request;
        let mut span_name = String::with_capacity(self.operation.len() + 1 + name.len());
        span_name.push_str(self.operation);
        span_name.push(' ');
        span_name.push_str(name);
        span.update_name(span_name);
        span.set_attribute(KeyValue::new(REQUEST_MODEL, name.to_owned()));
        span.set_attribute(KeyValue::new("busbar.pool", pool.to_owned()));
        if stream {
            span.set_attribute(KeyValue::new("gen_ai.request.stream", true));
        }
        if let Some(max) = max_tokens {
            span.set_attribute(KeyValue::new(
                "gen_ai.request.max_tokens",
                i64::try_from(max).unwrap_or(i64::MAX),
            ));
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
        let mut attributes = Vec::new();
        if self.recording {
            attributes.reserve(lane.attributes.len() + ATTEMPT_ATTRIBUTES);
            attributes.extend(lane.attributes.iter().cloned());
            attributes.push(KeyValue::new("busbar.pool", pool.to_owned()));
            attributes.push(KeyValue::new("busbar.attempt", i64::from(self.attempts)));
            if let Some(reason) = failover_reason {
                attributes.push(KeyValue::new("busbar.failover_reason", reason));
            }
        }
        let request = &self.request;
        let parent = self.parent.get_or_insert_with(|| {
            // Not remote: the context is the request span's own, local.
            Context::new().with_remote_span_context(request.span_context().clone())
        });
        let mut builder = self
            .tracer
            .span_builder(lane.span_name.clone())
            .with_kind(SpanKind::Client);
        builder.attributes = Some(attributes);
        let span = self.tracer.build_with_context(builder, parent);
        self.attempt = Some(Attempt {
            span,
            lane: lane.lane.clone(),
        });
    }

    /// Writes the attempt's context into an upstream request's headers as
    /// W3C `traceparent` (and `tracestate`, when the client sent one),
    /// replacing whatever was there.
    pub(crate) fn inject(&self, headers: &mut HeaderMap) {
        let Some(attempt) = &self.attempt else {
            return;
        };
        let context = attempt.span.span_context();
        if !context.is_valid() {
            return;
        }
        if let Ok(value) = HeaderValue::from_bytes(&traceparent(context)) {
            headers.insert(TRACEPARENT, value);
        }
        let state = context.trace_state().header();
        if !state.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&state) {
                headers.insert(TRACESTATE, value);
            }
        }
    }

    /// The attempt failed with `class` before any byte reached the client;
    /// `status` is the upstream's HTTP status when it answered.
    pub(crate) fn attempt_failed(&mut self, class: &'static str, status: Option<u16>) {
        self.last_failure = Some(class);
        let Some(mut attempt) = self.attempt.take() else {
            return;
        };
        let span = &mut attempt.span;
        span.set_attribute(KeyValue::new(ERROR_TYPE, class));
        if let Some(status) = status {
            span.set_attribute(KeyValue::new(STATUS_CODE, i64::from(status)));
        }
        span.set_status(Status::error(class));
        span.end();
    }

    /// A stream event of the reply passed.
    pub(crate) fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::MessageStart { model, usage, .. } => {
                if !model.is_empty() {
                    self.reply.model = Some(model.clone());
                }
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
        if !model.is_empty() {
            self.reply.model = Some(model.to_owned());
        }
        if let Some(reason) = stop {
            self.finish(reason);
        }
        self.usage(usage);
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
        if !self.recording {
            self.end(None);
            return;
        }
        let class = self.last_failure;
        let span = &mut self.request;
        span.set_attribute(KeyValue::new(STATUS_CODE, i64::from(status)));
        let error = match class {
            Some(class) => Cow::Borrowed(class),
            None => Cow::Owned(status.to_string()),
        };
        self.ended = true;
        span.set_attribute(KeyValue::new(ERROR_TYPE, error.clone()));
        span.set_status(Status::error(error));
        span.set_attribute(KeyValue::new("busbar.attempts", i64::from(self.attempts)));
        span.end();
    }

    /// Ends the reply's attempt span and the request span, with what the
    /// reply said and `error` when it broke off. What the reply said (its
    /// model, usage, finish reason) goes on the attempt span only, the
    /// inference span of the conventions, so that a backend adding up
    /// GenAI usage across spans counts it once.
    fn end(&mut self, error: Option<&'static str>) {
        self.ended = true;
        if !self.recording {
            if let Some(mut attempt) = self.attempt.take() {
                attempt.span.end();
            }
            self.request.end();
            return;
        }
        let lane = match self.attempt.take() {
            Some(mut attempt) => {
                let span = &mut attempt.span;
                if let Some(model) = self.reply.model.take() {
                    span.set_attribute(KeyValue::new("gen_ai.response.model", model));
                }
                if let Some(usage) = self.reply.usage {
                    set_usage(span, &usage);
                }
                let finish = match (self.reply.finish, self.reply.other_finish.take()) {
                    (Some(name), _) => Some(StringValue::from(name)),
                    (None, Some(raw)) => Some(StringValue::from(raw)),
                    (None, None) => None,
                };
                if let Some(finish) = finish {
                    span.set_attribute(KeyValue::new(
                        "gen_ai.response.finish_reasons",
                        Value::Array(Array::String(vec![finish])),
                    ));
                }
                if let Some(error) = error {
                    span.set_attribute(KeyValue::new(ERROR_TYPE, error));
                    span.set_status(Status::error(error));
                }
                span.end();
                Some(attempt.lane)
            }
            None => None,
        };
        let span = &mut self.request;
        if let Some(error) = error {
            span.set_attribute(KeyValue::new(ERROR_TYPE, error));
        }
        if let Some(lane) = lane {
            span.set_attribute(KeyValue::new("busbar.lane", lane));
        }
        span.set_attribute(KeyValue::new("busbar.attempts", i64::from(self.attempts)));
        if let Some(error) = error {
            span.set_status(Status::error(error));
        }
        span.end();
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

/// The most attributes a request span gets: three at arrival, four on
/// routing, three at its end.
const REQUEST_ATTRIBUTES: usize = 10;
/// The most attributes an attempt span gets beyond its lane's: three at
/// its start, eight at its end (model, five counts, finish, error) or two
/// when it fails.
const ATTEMPT_ATTRIBUTES: usize = 11;

const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");
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
        Protocol::Bedrock => "aws.bedrock",
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

/// The W3C `traceparent` of `context`: `00-{trace id}-{span id}-{flags}`
/// in lowercase hex. Written by hand: this runs on every attempt, and
/// `format!` through the ids' `Display` cost ten times as much.
fn traceparent(context: &SpanContext) -> [u8; 55] {
    fn hex(bytes: &[u8], out: &mut [u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
    }
    let mut value = [b'-'; 55];
    value[..2].copy_from_slice(b"00");
    hex(&context.trace_id().to_bytes(), &mut value[3..35]);
    hex(&context.span_id().to_bytes(), &mut value[36..52]);
    hex(&[context.trace_flags().to_u8()], &mut value[53..]);
    value
}

/// A string value cloned by reference count, for attributes every attempt
/// of a lane repeats.
fn shared(value: &str) -> StringValue {
    StringValue::from(Arc::<str>::from(value))
}

fn set_usage(span: &mut Span, usage: &Usage) {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    span.set_attribute(KeyValue::new(
        "gen_ai.usage.input_tokens",
        count(usage.input_tokens),
    ));
    span.set_attribute(KeyValue::new(
        "gen_ai.usage.output_tokens",
        count(usage.output_tokens),
    ));
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
            span.set_attribute(KeyValue::new(key, count(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::traceparent;

    #[test]
    fn traceparent_is_the_w3c_header_in_lowercase_hex() {
        for (trace, span, flags) in [
            (0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, 1),
            (1, 0xffff_ffff_ffff_ffff, 0),
            (u128::MAX, 1, 0xff),
        ] {
            let context = SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                TraceFlags::new(flags),
                false,
                TraceState::NONE,
            );
            let expected = format!("00-{trace:032x}-{span:016x}-{flags:02x}");
            assert_eq!(
                std::str::from_utf8(&traceparent(&context)),
                Ok(expected.as_str())
            );
        }
    }
}
