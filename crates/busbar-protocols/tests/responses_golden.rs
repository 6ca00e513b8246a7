//! Golden files for the OpenAI Responses format, and a check of what Busbar
//! writes against OpenAI's own OpenAPI description.
//!
//! Under `test_data/responses/`:
//!
//! * `requests/*.json` — client request bodies. Expected: the `ir`, the
//!   `unsupported` names, and the body `encoded` for a Responses upstream
//!   with its `dropped` names (or the decode `error`).
//! * `encode/*.json` — IR requests as another format decodes them. Expected:
//!   the `body` a Responses upstream gets and the `dropped` names.
//! * `responses/*.json` — reply bodies. Expected: the `ir`, and the reply
//!   `encoded` for a Responses client.
//! * `streams/*.sse` — upstream stream transcripts. Expected: the `outcome`,
//!   the `accumulated` reply and the `events`; a complete stream re-encoded
//!   for a client is compared with `NAME.out.sse`.
//! * `streamout/*.json` — IR events from another format. Expected: the exact
//!   client stream in `NAME.expected.sse`.
//! * `errors/STATUS_*.{json,html}` — error bodies. Expected: the `ir` and the
//!   re-encoded `status` and `body`.
//!
//! Run with `BUSBAR_BLESS=1` to write the expected files after a deliberate
//! change, then review the diff: a blessed file is only as right as the
//! reader who checked it.

#[path = "support/golden.rs"]
mod golden;
#[path = "support/spec.rs"]
mod spec;

use std::fs;
use std::path::{Path, PathBuf};

use busbar_ir::{Request, StreamAccumulator, StreamEvent};
use busbar_protocols::responses::{error, request, response, stream};
use busbar_protocols::{DecodeError, ReplyOptions, RequestOptions, StreamEncoder};
use golden::{body_json, check_json, check_text, decode_error_json, report, sibling};
use serde_json::{json, Value};

/// The payloads of one kind under `test_data/responses/`.
fn inputs(kind: &str, extension: &str) -> Vec<PathBuf> {
    golden::inputs("responses", kind, extension)
}

/// Decodes `pieces` as one stream: the events, and the error it ended with.
fn decode_stream(pieces: &[&[u8]]) -> (Vec<StreamEvent>, Option<DecodeError>) {
    golden::decode_stream(stream::Decoder::new(), pieces)
}

fn options() -> RequestOptions {
    RequestOptions::new("upstream-model")
}

/// An `encode/` case: an IR request.
fn ir_request(path: &Path) -> Request {
    serde_json::from_slice(&fs::read(path).unwrap())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn responses_golden_requests() {
    let mut failures = Vec::new();
    for path in inputs("requests", ".json") {
        let bytes = fs::read(&path).unwrap();
        let expected = match request::decode(&bytes) {
            Ok(ir) => {
                let encoded = request::encode(&ir, &options());
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
fn responses_golden_encode() {
    let mut failures = Vec::new();
    for path in inputs("encode", ".json") {
        let encoded = request::encode(&ir_request(&path), &options());
        let expected = json!({"body": body_json(&encoded.body), "dropped": encoded.dropped});
        failures.extend(check_json(&sibling(&path, ".expected.json"), &expected));
    }
    report(failures);
}

#[test]
fn responses_golden_responses() {
    let mut failures = Vec::new();
    for path in inputs("responses", ".json") {
        let ir = response::decode(&fs::read(&path).unwrap()).unwrap();
        let encoded = response::encode(&ir, 0, &[]);
        let expected = json!({
            "ir": ir,
            "encoded": body_json(&encoded.body),
            "dropped": encoded.dropped,
        });
        failures.extend(check_json(&sibling(&path, ".expected.json"), &expected));
    }
    report(failures);
}

fn encode_stream(events: &[StreamEvent]) -> String {
    let mut encoder = stream::Encoder::new(&ReplyOptions::new(1_700_000_000));
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn responses_golden_streams() {
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

/// IR events from another format's stream.
fn ir_events(path: &Path) -> Vec<StreamEvent> {
    serde_json::from_slice(&fs::read(path).unwrap())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn responses_golden_streamout() {
    let mut failures = Vec::new();
    for path in inputs("streamout", ".json") {
        let out = encode_stream(&ir_events(&path));
        failures.extend(check_text(&sibling(&path, ".expected.sse"), &out));
    }
    report(failures);
}

#[test]
fn responses_golden_errors() {
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

/// Checks each event of an encoded client stream against its schema.
fn check_stream(spec: &spec::Spec, stream: &str, path: &Path, failures: &mut Vec<String>) {
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
    let spec = spec::Spec::load("openai-responses.json");
    let mut failures = Vec::new();
    for path in inputs("requests", ".json") {
        if let Ok(ir) = request::decode(&fs::read(&path).unwrap()) {
            let body = body_json(&request::encode(&ir, &options()).body);
            failures.extend(spec.check("CreateResponse", &body, &path));
        }
    }
    for path in inputs("encode", ".json") {
        let body = body_json(&request::encode(&ir_request(&path), &options()).body);
        failures.extend(spec.check("CreateResponse", &body, &path));
    }
    for path in inputs("responses", ".json") {
        let ir = response::decode(&fs::read(&path).unwrap()).unwrap();
        let body = body_json(&response::encode(&ir, 0, &[]).body);
        failures.extend(spec.check("Response", &body, &path));
    }
    for path in inputs("streams", ".sse") {
        let (events, _) = decode_stream(&[&fs::read(&path).unwrap()]);
        check_stream(&spec, &encode_stream(&events), &path, &mut failures);
    }
    for path in inputs("streamout", ".json") {
        check_stream(
            &spec,
            &encode_stream(&ir_events(&path)),
            &path,
            &mut failures,
        );
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
fn responses_spec_checker_finds_wrong_bodies() {
    let spec = spec::Spec::load("openai-responses.json");
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
