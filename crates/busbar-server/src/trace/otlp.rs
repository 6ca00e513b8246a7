//! OTLP/HTTP export written straight from the SDK's finished spans.
//!
//! `opentelemetry-otlp`'s HTTP exporter first copies every span into the
//! generated protobuf structs (a `String` per attribute key and value, a
//! `Vec` per id) and then encodes them, asking each nested message for its
//! length again at every level; on a busy gateway that was most of the
//! export thread's time. This exporter writes the same
//! `ExportTraceServiceRequest` bytes directly from the [`SpanData`] into one
//! reused buffer. The wire format is OTLP's `trace.proto` (v1); the e2e
//! tests decode what it sends with a real protobuf decoder.
//!
//! Like the SDK's exporter it sends the headers named by
//! `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (a
//! collector's API key). gRPC endpoints still go through
//! `opentelemetry-otlp`'s tonic exporter.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use busbar_protocols::wire::percent_decode;
use bytes::Bytes;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_http::{HttpClient, Request};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

/// Posts batches of spans to an OTLP/HTTP endpoint as protobuf.
pub(super) struct HttpExporter<C> {
    client: C,
    url: http::Uri,
    /// Sent with every export (from the environment).
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The `Resource` message, encoded once when the provider sets it.
    resource: Vec<u8>,
    /// The buffer each batch is encoded into, kept between exports.
    buffer: Mutex<Vec<u8>>,
}

impl<C> std::fmt::Debug for HttpExporter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExporter")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl<C: HttpClient> HttpExporter<C> {
    pub(super) fn new(client: C, url: http::Uri) -> Self {
        let general = std::env::var("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default();
        let traces = std::env::var("OTEL_EXPORTER_OTLP_TRACES_HEADERS").unwrap_or_default();
        Self {
            client,
            url,
            headers: env_headers(&general, &traces),
            resource: Vec::new(),
            buffer: Mutex::new(Vec::new()),
        }
    }
}

impl<C: HttpClient + 'static> SpanExporter for HttpExporter<C> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        let body = {
            let mut buffer = self
                .buffer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            buffer.clear();
            encode_request(&mut buffer, &self.resource, &batch);
            Bytes::copy_from_slice(&buffer)
        };
        drop(batch);
        let mut request = Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?;
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let response = self
            .client
            .send_bytes(request)
            .await
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(OTelSdkError::InternalFailure(format!(
                "the collector answered {}",
                response.status()
            )))
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        let mut encoded = Vec::new();
        for (key, value) in resource.iter() {
            message(&mut encoded, 1, |out| {
                string(out, 1, key.as_str());
                message(out, 2, |out| any_value(out, value));
            });
        }
        self.resource = encoded;
    }
}

/// The headers `OTEL_EXPORTER_OTLP_HEADERS` (`general`) and
/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (`traces`, winning on a name both
/// give) ask for: `name=value` pairs separated by commas, values
/// percent-encoded. A pair that is not a valid header (or whose value has
/// a malformed escape) is skipped, with a
/// warning that names it but not its value (which is often a secret).
fn env_headers(general: &str, traces: &str) -> Vec<(http::HeaderName, http::HeaderValue)> {
    let mut headers: Vec<(http::HeaderName, http::HeaderValue)> = Vec::new();
    for pair in general.split(',').chain(traces.split(',')) {
        if pair.trim().is_empty() {
            continue;
        }
        let parsed = pair.split_once('=').and_then(|(name, value)| {
            let name = http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
            let value = percent_decode(value.trim())?;
            let value = http::HeaderValue::from_str(&value).ok()?;
            Some((name, value))
        });
        match parsed {
            Some((name, value)) => {
                headers.retain(|(kept, _)| *kept != name);
                headers.push((name, value));
            }
            None => {
                let name = pair.split_once('=').map_or("", |(name, _)| name.trim());
                tracing::warn!(
                    header = name,
                    "traces: an OTLP header from the environment is not valid and is not sent"
                );
            }
        }
    }
    headers
}

/// Writes `ExportTraceServiceRequest { resource_spans: [ResourceSpans] }`:
/// one resource, and a `ScopeSpans` per run of spans from one scope.
pub(super) fn encode_request(out: &mut Vec<u8>, resource: &[u8], spans: &[SpanData]) {
    message(out, 1, |out| {
        // ResourceSpans.resource
        tag(out, 1, LEN);
        varint(out, resource.len() as u64);
        out.extend_from_slice(resource);
        let mut rest = spans;
        while let Some(first) = rest.first() {
            let scope = &first.instrumentation_scope;
            let run = rest
                .iter()
                .position(|span| span.instrumentation_scope != *scope)
                .unwrap_or(rest.len());
            let (same, after) = rest.split_at(run);
            // ResourceSpans.scope_spans
            message(out, 2, |out| {
                message(out, 1, |out| instrumentation_scope(out, scope));
                for span in same {
                    message(out, 2, |out| encode_span(out, span));
                }
                if let Some(url) = scope.schema_url() {
                    string(out, 3, url);
                }
            });
            rest = after;
        }
    });
}

fn instrumentation_scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    string(out, 1, scope.name());
    if let Some(version) = scope.version() {
        string(out, 2, version);
    }
    for attribute in scope.attributes() {
        message(out, 3, |out| key_value(out, attribute));
    }
}

/// `Span` flags: the W3C trace flags, and whether the parent is remote.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn encode_span(out: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    bytes(out, 1, &context.trace_id().to_bytes());
    bytes(out, 2, &context.span_id().to_bytes());
    let state = context.trace_state().header();
    if !state.is_empty() {
        string(out, 3, &state);
    }
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes(out, 4, &span.parent_span_id.to_bytes());
    }
    string(out, 5, &span.name);
    let kind = match span.span_kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    tag(out, 6, VARINT);
    varint(out, kind);
    fixed64(out, 7, nanos(span.start_time));
    fixed64(out, 8, nanos(span.end_time));
    for attribute in &span.attributes {
        message(out, 9, |out| key_value(out, attribute));
    }
    uint32(out, 10, span.dropped_attributes_count);
    for event in span.events.iter() {
        message(out, 11, |out| {
            fixed64(out, 1, nanos(event.timestamp));
            string(out, 2, &event.name);
            for attribute in &event.attributes {
                message(out, 3, |out| key_value(out, attribute));
            }
            uint32(out, 4, event.dropped_attributes_count);
        });
    }
    uint32(out, 12, span.events.dropped_count);
    for link in span.links.iter() {
        message(out, 13, |out| {
            let context = &link.span_context;
            bytes(out, 1, &context.trace_id().to_bytes());
            bytes(out, 2, &context.span_id().to_bytes());
            let state = context.trace_state().header();
            if !state.is_empty() {
                string(out, 3, &state);
            }
            for attribute in &link.attributes {
                message(out, 4, |out| key_value(out, attribute));
            }
            uint32(out, 5, link.dropped_attributes_count);
            let remote = if context.is_remote() { IS_REMOTE } else { 0 };
            let flags = u32::from(context.trace_flags().to_u8()) | HAS_IS_REMOTE | remote;
            fixed32(out, 6, flags);
        });
    }
    uint32(out, 14, span.links.dropped_count);
    message(out, 15, |out| match &span.status {
        Status::Unset => {}
        Status::Ok => {
            tag(out, 3, VARINT);
            varint(out, 1);
        }
        Status::Error { description } => {
            if !description.is_empty() {
                string(out, 2, description);
            }
            tag(out, 3, VARINT);
            varint(out, 2);
        }
    });
    let remote = if span.parent_span_is_remote {
        IS_REMOTE
    } else {
        0
    };
    let flags = u32::from(context.trace_flags().to_u8()) | HAS_IS_REMOTE | remote;
    fixed32(out, 16, flags);
}

fn key_value(out: &mut Vec<u8>, attribute: &KeyValue) {
    string(out, 1, attribute.key.as_str());
    message(out, 2, |out| any_value(out, &attribute.value));
}

/// `AnyValue`, its one field set.
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(value) => {
            tag(out, 2, VARINT);
            varint(out, u64::from(*value));
        }
        Value::I64(value) => {
            tag(out, 3, VARINT);
            // int64: two's complement, as ten bytes when negative.
            varint(out, *value as u64);
        }
        Value::F64(value) => {
            tag(out, 4, I64);
            out.extend_from_slice(&value.to_le_bytes());
        }
        Value::String(value) => {
            // Written even when empty: an AnyValue with no field set means
            // no value at all.
            tag(out, 1, LEN);
            varint(out, value.as_str().len() as u64);
            out.extend_from_slice(value.as_str().as_bytes());
        }
        Value::Array(array) => message(out, 5, |out| match array {
            Array::Bool(values) => {
                for value in values {
                    message(out, 1, |out| any_value(out, &Value::Bool(*value)));
                }
            }
            Array::I64(values) => {
                for value in values {
                    message(out, 1, |out| any_value(out, &Value::I64(*value)));
                }
            }
            Array::F64(values) => {
                for value in values {
                    message(out, 1, |out| any_value(out, &Value::F64(*value)));
                }
            }
            Array::String(values) => {
                for value in values {
                    message(out, 1, |out| {
                        tag(out, 1, LEN);
                        varint(out, value.as_str().len() as u64);
                        out.extend_from_slice(value.as_str().as_bytes());
                    });
                }
            }
            // A kind of array added to the API after this was written.
            _ => {}
        }),
        // A kind of value added to the API after this was written: sent
        // as its text, so it is not lost.
        other => {
            let text = other.to_string();
            tag(out, 1, LEN);
            varint(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

fn nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    })
}

// Protobuf wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire_type));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A nested message: its body is written by `body` in place, then its
/// length (known only then) is put in front of it. One byte is kept for
/// the length, enough for most attributes; a longer body is moved along
/// to make room for the rest.
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, LEN);
    out.push(0);
    let start = out.len();
    body(out);
    let end = out.len();
    let length = end - start;
    if length < 0x80 {
        out[start - 1] = length as u8;
        return;
    }
    let mut prefix = [0_u8; 10];
    let mut width = 0;
    let mut rest = length as u64;
    loop {
        let byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            prefix[width] = byte;
            width += 1;
            break;
        }
        prefix[width] = byte | 0x80;
        width += 1;
    }
    // The kept byte takes the first; the rest need room.
    out.resize(end + width - 1, 0);
    out.copy_within(start..end, start + width - 1);
    out[start - 1..start - 1 + width].copy_from_slice(&prefix[..width]);
}

/// A string field; proto3 leaves an empty one out.
fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    bytes(out, field, value.as_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if value.is_empty() {
        return;
    }
    tag(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// A `uint32` field; proto3 leaves a zero out.
fn uint32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, u64::from(value));
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, I64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, I32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{Event, Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message as _;

    use super::*;

    fn span(name: &'static str, kind: SpanKind, status: Status, scope: &str) -> SpanData {
        let at = UNIX_EPOCH + Duration::from_nanos(1_765_000_000_123_456_789);
        let context = SpanContext::new(
            TraceId::from_bytes([7; 16]),
            SpanId::from_bytes([9; 8]),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("vendor", "value")]).unwrap(),
        );
        let mut events = SpanEvents::default();
        events.events.push(Event::new(
            "retry",
            at,
            vec![KeyValue::new("attempt", 2_i64)],
            1,
        ));
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            SpanContext::new(
                TraceId::from_bytes([1; 16]),
                SpanId::from_bytes([2; 8]),
                TraceFlags::default(),
                true,
                TraceState::default(),
            ),
            vec![KeyValue::new("why", "follows")],
            0,
        ));
        SpanData {
            span_context: context,
            parent_span_id: SpanId::from_bytes([3; 8]),
            parent_span_is_remote: true,
            span_kind: kind,
            name: Cow::Borrowed(name),
            start_time: at,
            end_time: at + Duration::from_millis(250),
            attributes: vec![
                KeyValue::new("gen_ai.request.model", "gpt-5"),
                KeyValue::new("gen_ai.usage.input_tokens", 1234_i64),
                KeyValue::new("negative", -5_i64),
                KeyValue::new("gen_ai.request.stream", true),
                KeyValue::new("ratio", 0.25_f64),
                KeyValue::new("empty", ""),
                KeyValue::new(
                    "gen_ai.response.finish_reasons",
                    Value::Array(Array::String(vec!["stop".into(), "length".into()])),
                ),
                KeyValue::new("ints", Value::Array(Array::I64(vec![1, -2]))),
            ],
            dropped_attributes_count: 2,
            events,
            links,
            status,
            instrumentation_scope: InstrumentationScope::builder(scope.to_owned())
                .with_version("1.2.3")
                .with_attributes([KeyValue::new("scope.attr", "x")])
                .build(),
        }
    }

    /// What Busbar writes decodes, with a real protobuf decoder, to exactly
    /// what `opentelemetry-proto`'s own conversion of the same spans is.
    #[test]
    fn the_encoding_matches_opentelemetry_protos_conversion() {
        let spans = vec![
            span("chat gpt-5", SpanKind::Server, Status::Unset, "busbar"),
            span(
                "chat pool",
                SpanKind::Client,
                Status::error("rate_limit"),
                "busbar",
            ),
            span("other", SpanKind::Internal, Status::Ok, "another scope"),
        ];
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "busbar"),
                KeyValue::new("service.version", "0.1.0"),
            ])
            .build();
        let mut exporter =
            HttpExporter::new(NoClient, "http://127.0.0.1/v1/traces".parse().unwrap());
        exporter.set_resource(&resource);

        let mut written = Vec::new();
        encode_request(&mut written, &exporter.resource, &spans);
        let decoded = ExportTraceServiceRequest::decode(written.as_slice()).unwrap();

        let mut expected = group_spans_by_resource_and_scope(
            spans,
            &ResourceAttributesWithSchema::from(&resource),
        );
        // Both write the resource's attributes in its own (unordered) order.
        let sort = |request: &mut Vec<opentelemetry_proto::tonic::trace::v1::ResourceSpans>| {
            for resource_spans in request {
                if let Some(resource) = &mut resource_spans.resource {
                    resource.attributes.sort_by(|a, b| a.key.cmp(&b.key));
                }
            }
        };
        let mut decoded = decoded.resource_spans;
        sort(&mut decoded);
        sort(&mut expected);
        assert_eq!(decoded, expected);
    }

    #[test]
    fn varints_and_lengths_take_as_many_bytes_as_they_need() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        varint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
        out.clear();
        message(&mut out, 1, |out| out.extend_from_slice(&[7; 200]));
        assert_eq!(&out[..3], &[0x0a, 0xc8, 0x01]);
        assert_eq!(out.len(), 203);
        assert!(out[3..].iter().all(|&byte| byte == 7));
        out.clear();
        message(&mut out, 2, |out| out.extend_from_slice(&[7; 127]));
        assert_eq!(&out[..2], &[0x12, 0x7f]);
        assert_eq!(out.len(), 129);
        out.clear();
        message(&mut out, 1, |out| out.extend_from_slice(&[7; 20_000]));
        assert_eq!(&out[..4], &[0x0a, 0xa0, 0x9c, 0x01]);
        assert_eq!(out.len(), 20_004);
    }

    #[test]
    fn headers_come_from_both_variables_the_traces_one_winning() {
        let headers = env_headers(
            "x-api-key=general, tenant = a%20b ,broken,bad name=1",
            "x-api-key=for%2Ctraces",
        );
        let found: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            found,
            [
                ("tenant".to_owned(), "a b".to_owned()),
                ("x-api-key".to_owned(), "for,traces".to_owned())
            ]
        );
        assert!(env_headers("", "").is_empty());
        assert!(env_headers("a=100%", "b=%zz").is_empty());
    }

    #[derive(Debug)]
    struct NoClient;

    #[async_trait::async_trait]
    impl HttpClient for NoClient {
        async fn send_bytes(
            &self,
            _request: Request<Bytes>,
        ) -> Result<opentelemetry_http::Response<Bytes>, opentelemetry_http::HttpError> {
            Err("no client in this test".into())
        }
    }
}
