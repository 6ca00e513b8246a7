//! A small checker of JSON values against OpenAI's OpenAPI description:
//! `$ref`, `allOf`/`anyOf`/`oneOf`, `type` (with `nullable` and `null`),
//! `enum`, `required`, `properties` and `items`. That is what decides
//! whether an SDK's typed model accepts a body; formats, ranges and
//! `additionalProperties` are not checked.
//!
//! The schemas are extracted from the published description into
//! `test_data/specs/` by `scripts/vendor-openai-spec.py`: `openai-chat.json`
//! for Chat Completions, `openai-responses.json` (`… responses`) for the
//! Responses API (request, response object, stream events, error), so the
//! tests need nothing outside the repository.
//!
//! The tests at the end run what Busbar writes for the golden cases of
//! `test_data/openai/` and `test_data/responses/` through it.

use std::path::Path;

use busbar_ir::{Request, StreamEvent};
use serde_json::{json, Value};

use super::{cases, decode_stream, encode_stream, parse, read};
use crate::{Protocol, ReplyOptions, RequestOptions};

/// Fields the description marks required that the SDK does not require and
/// real OpenAI bodies omit. Busbar writes every required field (and leaves
/// out a Responses `usage` until it is known, which the description types
/// non-nullable), so none is excused today; the list is where a future false
/// positive would go, by `schema.field`.
const NOT_REALLY_REQUIRED: &[&str] = &[];

pub(crate) struct Spec {
    document: Value,
}

impl Spec {
    /// Reads `test_data/specs/{file}`, one vendored extract.
    pub(crate) fn load(file: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_data/specs")
            .join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {} ({error})", path.display()));
        Self {
            document: serde_json::from_str(&text).expect("the OpenAPI description is JSON"),
        }
    }

    /// What is wrong with `value` as an instance of the named schema.
    pub(crate) fn check(&self, schema: &str, value: &Value, source: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        self.validate(&self.schema(schema), value, schema, &mut problems);
        problems
            .into_iter()
            .map(|problem| format!("{}: {problem}", source.display()))
            .collect()
    }

    fn schema(&self, name: &str) -> Value {
        self.document["components"]["schemas"][name].clone()
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        if value.is_null() && allows_null(schema) {
            return;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/components/schemas/");
            self.validate(&self.schema(name), value, at, problems);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.validate(part, value, at, problems);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(variants) = schema.get(key).and_then(Value::as_array) {
                let attempts: Vec<Vec<String>> = variants
                    .iter()
                    .map(|variant| {
                        let mut found = Vec::new();
                        self.validate(variant, value, at, &mut found);
                        found
                    })
                    .collect();
                if attempts.iter().all(|found| !found.is_empty()) {
                    let closest = attempts
                        .into_iter()
                        .min_by_key(Vec::len)
                        .unwrap_or_default();
                    problems.push(format!("{at}: matches no variant of {key}"));
                    problems.extend(closest);
                }
            }
        }
        if let Some(kind) = schema.get("type") {
            let kinds: Vec<&str> = match kind {
                Value::String(kind) => vec![kind.as_str()],
                Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !kinds.iter().any(|kind| has_type(value, kind)) {
                problems.push(format!("{at}: expected {kinds:?}, got {value}"));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                problems.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let Value::Object(object) = value {
            for field in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let field = field.as_str().unwrap_or_default();
                let excused = NOT_REALLY_REQUIRED.contains(&format!("{at}.{field}").as_str());
                if !object.contains_key(field) && !excused {
                    problems.push(format!("{at}: missing required `{field}`"));
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (field, property) in properties {
                    if let Some(child) = object.get(field) {
                        self.validate(property, child, &format!("{at}.{field}"), problems);
                    }
                }
            }
        }
        if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.validate(item_schema, item, &format!("{at}[{i}]"), problems);
            }
        }
    }
}

fn allows_null(schema: &Value) -> bool {
    schema.get("nullable") == Some(&Value::Bool(true))
        || match schema.get("type") {
            Some(Value::String(kind)) => kind == "null",
            Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "null"),
            _ => false,
        }
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// The body of an `error_*.txt` case: all but its status line.
fn error_body(path: &Path) -> Vec<u8> {
    let text = read(path);
    let start = text.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    text[start..].to_vec()
}

/// Decodes a stream case and re-encodes it for a client of the same format.
fn client_stream(protocol: Protocol, options: &ReplyOptions, path: &Path) -> Option<String> {
    let (events, result) = decode_stream(protocol, &[&read(path)]);
    result.ok()?;
    Some(String::from_utf8(encode_stream(protocol, options, &events)).unwrap())
}

/// Every body and chunk Busbar writes for an OpenAI client has the fields
/// OpenAI's OpenAPI description requires, of the types it names.
#[test]
fn openai_output_matches_the_openapi_spec() {
    let protocol = Protocol::OpenAi;
    let spec = Spec::load("openai-chat.json");
    let mut failures = Vec::new();
    for path in cases("openai", "response_", ".json") {
        let ir = protocol.decode_response(&read(&path)).unwrap();
        let body = parse(&protocol.encode_response(&ir, &ReplyOptions::new(0)).body);
        failures.extend(spec.check("CreateChatCompletionResponse", &body, &path));
    }
    let mut options = ReplyOptions::new(1_700_000_000);
    options.include_usage = true;
    for path in cases("openai", "stream_", ".sse") {
        let Some(stream) = client_stream(protocol, &options, &path) else {
            continue;
        };
        for line in stream.lines() {
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            if data == "[DONE]" {
                continue;
            }
            let chunk: Value = serde_json::from_str(data).unwrap();
            let schema = if chunk.get("error").is_some() {
                "ErrorResponse"
            } else {
                "CreateChatCompletionStreamResponse"
            };
            failures.extend(spec.check(schema, &chunk, &path));
        }
    }
    for path in cases("openai", "error_", ".txt") {
        let ir = protocol.decode_error(500, &error_body(&path), None);
        let body = parse(&protocol.encode_error(&ir).body);
        failures.extend(spec.check("ErrorResponse", &body, &path));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The checker itself catches what it is meant to catch.
#[test]
fn openai_spec_checker_finds_wrong_bodies() {
    let spec = Spec::load("openai-chat.json");
    let here = Path::new("inline");
    let good = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": null}]});
    assert!(spec
        .check("CreateChatCompletionStreamResponse", &good, here)
        .is_empty());
    let missing = json!({"id": "x", "created": 1, "model": "m", "choices": []});
    assert_eq!(
        spec.check("CreateChatCompletionStreamResponse", &missing, here)
            .len(),
        1
    );
    let bad_reason = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "end_turn"}]});
    assert!(!spec
        .check("CreateChatCompletionStreamResponse", &bad_reason, here)
        .is_empty());
    let bad_code = json!({"error": {"message": "m", "type": "t", "param": null, "code": 5}});
    assert!(!spec.check("ErrorResponse", &bad_code, here).is_empty());
}

/// Checks each event of an encoded Responses client stream against its
/// schema, its numbering and its event line.
fn check_responses_stream(spec: &Spec, stream: &str, path: &Path, failures: &mut Vec<String>) {
    let mut sequence = 0;
    let mut event_name = None;
    for line in stream.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event_name = Some(name.to_owned());
            continue;
        }
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let event: Value = serde_json::from_str(data).unwrap();
        failures.extend(spec.check("ResponseStreamEvent", &event, path));
        if event["sequence_number"] != json!(sequence) {
            failures.push(format!(
                "{}: sequence_number {sequence} expected",
                path.display()
            ));
        }
        if event_name.take().as_deref() != event["type"].as_str() {
            failures.push(format!("{}: event line and type differ", path.display()));
        }
        // The SDK raises on any event whose data has a top-level `error`.
        if event.get("error").is_some_and(|error| !error.is_null()) {
            failures.push(format!("{}: top-level error in {data}", path.display()));
        }
        sequence += 1;
    }
}

/// Every body and event Busbar writes for a Responses client or upstream has
/// the fields OpenAI's OpenAPI description requires, of the types it names.
#[test]
fn responses_output_matches_the_openapi_spec() {
    let protocol = Protocol::Responses;
    let spec = Spec::load("openai-responses.json");
    let options = RequestOptions::new("upstream-model");
    let reply = ReplyOptions::new(1_700_000_000);
    let mut failures = Vec::new();
    for path in cases("responses", "request_", ".json") {
        if let Ok(decoded) = protocol.decode_request(&read(&path)) {
            let body = parse(&protocol.encode_request(&decoded.request, &options).body);
            failures.extend(spec.check("CreateResponse", &body, &path));
        }
    }
    for path in cases("responses", "encode_", ".json") {
        let request: Request =
            serde_json::from_value(parse(&read(&path))["request"].take()).unwrap();
        let body = parse(&protocol.encode_request(&request, &options).body);
        failures.extend(spec.check("CreateResponse", &body, &path));
    }
    for path in cases("responses", "response_", ".json") {
        let ir = protocol.decode_response(&read(&path)).unwrap();
        let body = parse(&protocol.encode_response(&ir, &ReplyOptions::new(0)).body);
        failures.extend(spec.check("Response", &body, &path));
    }
    for path in cases("responses", "stream_", ".sse") {
        // Also the events before a stream's failure.
        let (events, _) = decode_stream(protocol, &[&read(&path)]);
        let stream = String::from_utf8(encode_stream(protocol, &reply, &events)).unwrap();
        check_responses_stream(&spec, &stream, &path, &mut failures);
    }
    for path in cases("responses", "streamout_", ".json") {
        let events: Vec<StreamEvent> = serde_json::from_slice(&read(&path)).unwrap();
        let stream = String::from_utf8(encode_stream(protocol, &reply, &events)).unwrap();
        check_responses_stream(&spec, &stream, &path, &mut failures);
    }
    for path in cases("responses", "error_", ".txt") {
        let ir = protocol.decode_error(500, &error_body(&path), None);
        let body = parse(&protocol.encode_error(&ir).body);
        failures.extend(spec.check("ErrorResponse", &body, &path));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The checker itself catches what it is meant to catch.
#[test]
fn responses_spec_checker_finds_wrong_bodies() {
    let spec = Spec::load("openai-responses.json");
    let here = Path::new("inline");
    let good = json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
        "content_index": 0, "delta": "x", "logprobs": [], "sequence_number": 3});
    assert!(spec.check("ResponseStreamEvent", &good, here).is_empty());
    let missing = json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
        "delta": "x", "logprobs": [], "sequence_number": 3});
    assert!(!spec.check("ResponseStreamEvent", &missing, here).is_empty());
    let usage = json!({"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 2});
    assert_eq!(spec.check("ResponseUsage", &usage, here).len(), 1);
    let bad_code = json!({"code": "overloaded", "message": "m"});
    assert!(!spec.check("ResponseError", &bad_code, here).is_empty());
}
