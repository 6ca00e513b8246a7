//! OTLP's protobuf (`opentelemetry/proto/trace/v1/trace.proto` and the
//! collector's `ExportTraceServiceRequest`, v1), written by hand.
//!
//! A span is encoded once, when it ends, straight from the request's own
//! fields into a buffer of its own ([`SpanWriter`]); an export then wraps
//! the queued span bodies in one resource and one scope without decoding
//! or copying them field by field. The same bytes go over OTLP/HTTP and,
//! framed, over OTLP/gRPC. The unit tests decode what is written with
//! `opentelemetry-proto`'s generated types; the e2e tests do the same on
//! the collector's side.

use busbar_protocols::wire::percent_decode;

use super::context::{SpanId, TraceId};

/// `Span.kind`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Server = 2,
    Client = 3,
}

/// `Span` flags beyond the W3C trace flags: whether the parent's remoteness
/// is known, and that it is remote.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// One span's `Span` message body, written field by field: the ids, kind
/// and start first, then its name and attributes as they become known (the
/// order of fields is free), then [`SpanWriter::finish`].
pub(super) struct SpanWriter {
    out: Vec<u8>,
}

/// How big a span's body usually gets, so it is not grown step by step.
const SPAN_CAPACITY: usize = 768;

impl SpanWriter {
    /// A span of trace `trace_id` with id `span_id`, child of `parent`
    /// (if any), carrying the W3C `trace_state`, started at `start`
    /// (nanoseconds since the Unix epoch).
    pub(super) fn start(
        trace_id: &TraceId,
        span_id: &SpanId,
        trace_state: &[u8],
        parent: Option<&SpanId>,
        kind: Kind,
        start: u64,
    ) -> Self {
        let mut out = Vec::with_capacity(SPAN_CAPACITY);
        bytes(&mut out, 1, trace_id);
        bytes(&mut out, 2, span_id);
        bytes(&mut out, 3, trace_state);
        if let Some(parent) = parent {
            bytes(&mut out, 4, parent);
        }
        tag(&mut out, 6, VARINT);
        varint(&mut out, kind as u64);
        fixed64(&mut out, 7, start);
        Self { out }
    }

    /// The buffer attributes are written into (see [`string_attribute`]
    /// and the others), or already-encoded attributes appended to.
    pub(super) fn attributes(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Ends the span at `end` (nanoseconds), with an error status and its
    /// description when `error` is set (else unset), and the W3C `flags`;
    /// `remote_parent` says whether its parent came from the client.
    pub(super) fn finish(
        mut self,
        end: u64,
        error: Option<&str>,
        flags: u8,
        remote_parent: bool,
    ) -> Vec<u8> {
        let out = &mut self.out;
        fixed64(out, 8, end);
        // Status { message = 2, code = 3 (ERROR = 2) }
        match error {
            Some(description) => {
                let length = 1 + varint_len(description.len()) + description.len() + 2;
                tag(out, 15, LEN);
                varint(out, length as u64);
                bytes(out, 2, description.as_bytes());
                tag(out, 3, VARINT);
                varint(out, 2);
            }
            None => {
                tag(out, 15, LEN);
                varint(out, 0);
            }
        }
        let remote = if remote_parent { IS_REMOTE } else { 0 };
        fixed32(out, 16, u32::from(flags) | HAS_IS_REMOTE | remote);
        self.out
    }
}

/// The span's name (`Span.name`), the concatenation of `parts`; written
/// once per span.
pub(super) fn name(out: &mut Vec<u8>, parts: &[&str]) {
    let length: usize = parts.iter().map(|part| part.len()).sum();
    tag(out, 5, LEN);
    varint(out, length as u64);
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
}

/// A string attribute (`KeyValue { key, value: AnyValue { string_value } }`).
/// An empty value is still written: an `AnyValue` with no field set means
/// no value at all.
#[inline(always)]
pub(super) fn string_attribute(out: &mut Vec<u8>, key: &str, value: &str) {
    let value_field = 1 + varint_len(value.len()) + value.len();
    key_value_head(out, key, value_field);
    tag(out, 1, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

/// An integer attribute (`int_value`).
#[inline(always)]
pub(super) fn int_attribute(out: &mut Vec<u8>, key: &str, value: i64) {
    // int64: two's complement, so a negative one takes ten bytes.
    let value = value as u64;
    key_value_head(out, key, 1 + varint_len_u64(value));
    tag(out, 3, VARINT);
    varint(out, value);
}

/// A boolean attribute (`bool_value`).
#[inline(always)]
pub(super) fn bool_attribute(out: &mut Vec<u8>, key: &str, value: bool) {
    key_value_head(out, key, 2);
    tag(out, 2, VARINT);
    varint(out, u64::from(value));
}

/// An attribute whose value is an array of strings (`array_value`).
pub(super) fn strings_attribute(out: &mut Vec<u8>, key: &str, values: &[&str]) {
    // ArrayValue { values: [AnyValue { string_value }] }
    let element = |value: &str| 1 + varint_len(value.len()) + value.len();
    let array: usize = values
        .iter()
        .map(|value| 1 + varint_len(element(value)) + element(value))
        .sum();
    key_value_head(out, key, 1 + varint_len(array) + array);
    tag(out, 5, LEN);
    varint(out, array as u64);
    for value in values {
        tag(out, 1, LEN);
        varint(out, element(value) as u64);
        tag(out, 1, LEN);
        varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

/// A `KeyValue` attribute's tag, length, key and the head of its value,
/// whose `AnyValue` body (`value_body` bytes) follows.
///
/// Inlined into each caller, where the key is a literal: its length is
/// then known when compiling, and the usual attribute (every length under
/// 128, one byte each) is a few stores and one copy of the value.
#[inline(always)]
fn key_value_head(out: &mut Vec<u8>, key: &str, value_body: usize) {
    let key_field = 1 + varint_len(key.len()) + key.len();
    let value_field = 1 + varint_len(value_body) + value_body;
    let total = key_field + value_field;
    // Span.attributes = 9, KeyValue.key = 1, KeyValue.value = 2.
    if total < 0x80 {
        out.reserve(2 + total);
        out.extend_from_slice(&[9 << 3 | LEN, total as u8, 1 << 3 | LEN, key.len() as u8]);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&[2 << 3 | LEN, value_body as u8]);
        return;
    }
    tag(out, 9, LEN);
    varint(out, total as u64);
    tag(out, 1, LEN);
    varint(out, key.len() as u64);
    out.extend_from_slice(key.as_bytes());
    tag(out, 2, LEN);
    varint(out, value_body as u64);
}

/// A `Resource` body: string attributes (field 1, like a span's field 9).
pub(super) fn resource(attributes: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in attributes {
        let start = out.len();
        string_attribute(&mut out, key, value);
        // Same layout as a span attribute but in field 1.
        out[start] = 1 << 3 | LEN;
    }
    out
}

/// An `InstrumentationScope` body: its name and version.
pub(super) fn scope(name: &str, version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    bytes(&mut out, 1, name.as_bytes());
    bytes(&mut out, 2, version.as_bytes());
    out
}

/// Writes `ExportTraceServiceRequest { resource_spans: [ResourceSpans {
/// resource, scope_spans: [ScopeSpans { scope, spans }] }] }` around the
/// encoded span bodies. The lengths are added up first, so nothing is
/// written twice.
pub(super) fn export_request(out: &mut Vec<u8>, resource: &[u8], scope: &[u8], spans: &[Vec<u8>]) {
    let field = |length: usize| 1 + varint_len(length) + length;
    let scope_spans =
        field(scope.len()) + spans.iter().map(|span| field(span.len())).sum::<usize>();
    let resource_spans = field(resource.len()) + field(scope_spans);
    out.reserve(field(resource_spans));
    tag(out, 1, LEN);
    varint(out, resource_spans as u64);
    bytes_always(out, 1, resource);
    tag(out, 2, LEN);
    varint(out, scope_spans as u64);
    bytes_always(out, 1, scope);
    for span in spans {
        bytes_always(out, 2, span);
    }
}

/// The headers `OTEL_EXPORTER_OTLP_HEADERS` (`general`) and
/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (`traces`, winning on a name both
/// give) ask for: `name=value` pairs separated by commas, values
/// percent-encoded. A pair that is not a valid header (or whose value has
/// a malformed escape) is skipped, with a warning that names it but not
/// its value (which is often a secret).
pub(super) fn env_headers(
    general: &str,
    traces: &str,
) -> Vec<(http::HeaderName, http::HeaderValue)> {
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

// Protobuf wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

#[inline]
fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire_type));
}

#[inline]
fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[inline]
fn varint_len(value: usize) -> usize {
    varint_len_u64(value as u64)
}

#[inline]
fn varint_len_u64(value: u64) -> usize {
    // One byte per started group of seven bits; zero takes one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A bytes or string field; proto3 leaves an empty one out.
fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        bytes_always(out, field, value);
    }
}

/// A length-delimited field written even when empty (a nested message).
fn bytes_always(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    tag(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
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
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, InstrumentationScope, KeyValue,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message as _;

    use super::*;

    fn value(value: Any) -> Option<AnyValue> {
        Some(AnyValue { value: Some(value) })
    }

    fn pair(key: &str, any: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value(any),
            ..Default::default()
        }
    }

    /// What Busbar writes decodes, with `opentelemetry-proto`'s generated
    /// types, to exactly the spans meant.
    #[test]
    fn spans_decode_to_what_was_written() {
        let long = "x".repeat(300);
        let mut server = SpanWriter::start(
            &[7; 16],
            &[9; 8],
            b"vendor=value",
            Some(&[3; 8]),
            Kind::Server,
            1_765_000_000_123_456_789,
        );
        name(server.attributes(), &["chat", " ", "gpt-5"]);
        string_attribute(server.attributes(), "gen_ai.request.model", "gpt-5");
        string_attribute(server.attributes(), "empty", "");
        string_attribute(server.attributes(), "long", &long);
        int_attribute(server.attributes(), "gen_ai.usage.input_tokens", 1234);
        int_attribute(server.attributes(), "negative", -5);
        int_attribute(server.attributes(), "zero", 0);
        bool_attribute(server.attributes(), "gen_ai.request.stream", true);
        strings_attribute(
            server.attributes(),
            "gen_ai.response.finish_reasons",
            &["stop", "length"],
        );
        let server = server.finish(1_765_000_000_373_456_789, None, 1, true);
        let mut client = SpanWriter::start(&[7; 16], &[4; 8], b"", Some(&[9; 8]), Kind::Client, 5);
        name(client.attributes(), &["chat pool"]);
        let client = client.finish(6, Some(&long), 0, false);

        let resource_body = resource(&[
            ("service.name".into(), "busbar".into()),
            ("service.version".into(), "0.1.0".into()),
        ]);
        let scope_body = scope("busbar", "0.1.0");
        let mut written = Vec::new();
        export_request(&mut written, &resource_body, &scope_body, &[server, client]);
        let decoded = ExportTraceServiceRequest::decode(written.as_slice()).unwrap();

        let expected = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        pair("service.name", Any::StringValue("busbar".into())),
                        pair("service.version", Any::StringValue("0.1.0".into())),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "busbar".into(),
                        version: "0.1.0".into(),
                        ..Default::default()
                    }),
                    spans: vec![
                        Span {
                            trace_id: vec![7; 16],
                            span_id: vec![9; 8],
                            trace_state: "vendor=value".into(),
                            parent_span_id: vec![3; 8],
                            flags: 1 | HAS_IS_REMOTE | IS_REMOTE,
                            name: "chat gpt-5".into(),
                            kind: 2,
                            start_time_unix_nano: 1_765_000_000_123_456_789,
                            end_time_unix_nano: 1_765_000_000_373_456_789,
                            attributes: vec![
                                pair("gen_ai.request.model", Any::StringValue("gpt-5".into())),
                                pair("empty", Any::StringValue(String::new())),
                                pair("long", Any::StringValue(long.clone())),
                                pair("gen_ai.usage.input_tokens", Any::IntValue(1234)),
                                pair("negative", Any::IntValue(-5)),
                                pair("zero", Any::IntValue(0)),
                                pair("gen_ai.request.stream", Any::BoolValue(true)),
                                pair(
                                    "gen_ai.response.finish_reasons",
                                    Any::ArrayValue(ArrayValue {
                                        values: vec![
                                            AnyValue {
                                                value: Some(Any::StringValue("stop".into())),
                                            },
                                            AnyValue {
                                                value: Some(Any::StringValue("length".into())),
                                            },
                                        ],
                                    }),
                                ),
                            ],
                            status: Some(Status::default()),
                            ..Default::default()
                        },
                        Span {
                            trace_id: vec![7; 16],
                            span_id: vec![4; 8],
                            parent_span_id: vec![9; 8],
                            flags: HAS_IS_REMOTE,
                            name: "chat pool".into(),
                            kind: 3,
                            start_time_unix_nano: 5,
                            end_time_unix_nano: 6,
                            status: Some(Status {
                                message: long.clone(),
                                code: 2,
                            }),
                            ..Default::default()
                        },
                    ],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(decoded, expected);
    }

    #[test]
    fn varints_take_as_many_bytes_as_they_need() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            varint(&mut out, value);
            assert_eq!(out.len(), varint_len_u64(value), "{value}");
        }
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
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
}
