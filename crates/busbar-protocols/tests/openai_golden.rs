//! Golden files for the OpenAI Chat Completions format, and a check of what
//! Busbar writes against OpenAI's own OpenAPI description.
//!
//! Every payload under `test_data/openai/{requests,responses,streams,errors}`
//! is decoded; the IR (and, where meaningful, its re-encoding) is compared
//! with the `NAME.expected.json` beside it, and a re-encoded stream with
//! `NAME.out.sse`. Run with `BUSBAR_BLESS=1` to write the expected files after
//! a deliberate change, then review the diff: a blessed file is only as right
//! as the reader who checked it.

#[path = "support/golden.rs"]
mod golden;
#[path = "support/spec.rs"]
mod spec;

use std::fs;
use std::path::{Path, PathBuf};

use busbar_ir::{StreamAccumulator, StreamEvent};
use busbar_protocols::openai::{error, request, response, stream};
use busbar_protocols::{DecodeError, ReplyOptions, RequestOptions, StreamEncoder};
use golden::{body_json, check_json, check_text, decode_error_json, report, sibling};
use serde_json::{json, Value};

/// The payloads of one kind under `test_data/openai/`.
fn inputs(kind: &str, extension: &str) -> Vec<PathBuf> {
    golden::inputs("openai", kind, extension)
}

/// Decodes `pieces` as one stream: the events, and the error it ended with.
fn decode_stream(pieces: &[&[u8]]) -> (Vec<StreamEvent>, Option<DecodeError>) {
    golden::decode_stream(stream::Decoder::new(), pieces)
}

#[test]
fn openai_golden_requests() {
    let mut failures = Vec::new();
    for path in inputs("requests", ".json") {
        let bytes = fs::read(&path).unwrap();
        let expected = match request::decode(&bytes) {
            Ok(ir) => {
                let encoded = request::encode(&ir, &RequestOptions::new("upstream-model"));
                json!({
                    "ir": ir,
                    "unsupported": request::unsupported_fields(&body_json(&bytes)),
                    "encoded": body_json(&encoded.body),
                    "dropped": encoded.dropped,
                })
            }
            Err(error) => json!({ "error": decode_error_json(&error) }),
        };
        failures.extend(check_json(&sibling(&path, ".expected.json"), &expected));
    }
    report(failures);
}

#[test]
fn openai_golden_responses() {
    let mut failures = Vec::new();
    for path in inputs("responses", ".json") {
        let ir = response::decode(&fs::read(&path).unwrap()).unwrap();
        let encoded = response::encode(&ir, 0);
        let expected = json!({
            "ir": ir,
            "encoded": body_json(&encoded.body),
            "dropped": encoded.dropped,
        });
        failures.extend(check_json(&sibling(&path, ".expected.json"), &expected));
    }
    report(failures);
}

/// Encodes `events` for a client that asked for usage.
fn encode_stream(events: &[StreamEvent]) -> String {
    let mut options = ReplyOptions::new(1_700_000_000);
    options.include_usage = true;
    let mut encoder = stream::Encoder::new(&options);
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn openai_golden_streams() {
    let mut failures = Vec::new();
    for path in inputs("streams", ".sse") {
        let bytes = fs::read(&path).unwrap();
        let (events, error) = decode_stream(&[&bytes]);
        // One byte at a time must say the same.
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        let (again, error_again) = decode_stream(&bytewise);
        if again != events || error_again.is_some() != error.is_some() {
            failures.push(format!("{}: decoding depends on the split", path.display()));
        }
        let mut accumulator = StreamAccumulator::new();
        events.iter().for_each(|event| accumulator.push(event));
        let outcome = match &error {
            None => json!("complete"),
            Some(error) => decode_error_json(error),
        };
        let accumulated = match accumulator.finish() {
            Ok(response) => json!({ "response": response }),
            Err(error) => json!({ "error": error }),
        };
        let expected = json!({ "outcome": outcome, "accumulated": accumulated, "events": events });
        failures.extend(check_json(&sibling(&path, ".expected.json"), &expected));
        if error.is_none() {
            failures.extend(check_text(
                &sibling(&path, ".out.sse"),
                &encode_stream(&events),
            ));
        }
    }
    report(failures);
}

#[test]
fn openai_golden_errors() {
    let mut failures = Vec::new();
    for extension in [".json", ".html"] {
        for path in inputs("errors", extension) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let status: u16 = name[..3]
                .parse()
                .expect("error payloads are named STATUS_…");
            let ir = error::decode(status, &fs::read(&path).unwrap());
            let (status, body) = error::encode(&ir);
            let expected = json!({
                "ir": ir,
                "encoded": { "status": status, "body": body_json(&body) },
            });
            failures.extend(check_json(&sibling(&path, ".expected.json"), &expected));
        }
    }
    report(failures);
}

/// Every body and chunk Busbar writes for an OpenAI client has the fields
/// OpenAI's OpenAPI description requires, of the types it names.
#[test]
fn openai_output_matches_the_openapi_spec() {
    let spec = spec::Spec::load("openai-chat.json");
    let mut failures = Vec::new();
    for path in inputs("responses", ".json") {
        let ir = response::decode(&fs::read(&path).unwrap()).unwrap();
        let body = body_json(&response::encode(&ir, 0).body);
        failures.extend(spec.check("CreateChatCompletionResponse", &body, &path));
    }
    for path in inputs("streams", ".sse") {
        let (events, error) = decode_stream(&[&fs::read(&path).unwrap()]);
        if error.is_some() {
            continue;
        }
        for line in encode_stream(&events).lines() {
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
    for path in inputs("errors", ".json") {
        let ir = error::decode(500, &fs::read(&path).unwrap());
        let body = body_json(&error::encode(&ir).1);
        failures.extend(spec.check("ErrorResponse", &body, &path));
    }
    report(failures);
}

/// The checker itself catches what it is meant to catch.
#[test]
fn openai_spec_checker_finds_wrong_bodies() {
    let spec = spec::Spec::load("openai-chat.json");
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
