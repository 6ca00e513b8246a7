//! Golden files: `test_data/cohere/`, real Cohere-shaped payloads (after the
//! v2 API reference and the `cohere` SDK's types) and what Busbar must make
//! of them.
//!
//! Each case is a payload plus `NAME.expected.json`; the file name's prefix
//! says what it is:
//!
//! * `request_*.json` — a request body. Expected: `ir` (the decoded
//!   [`Request`]), `unsupported` (from `unsupported_fields`), and `reencoded`
//!   (the body re-encoded for the same model; omitted when equal to the
//!   payload) with its `dropped` names.
//! * `encode_*.json` — `{options, request}`: an IR request from another
//!   format. Expected: `body` and `dropped`.
//! * `response_*.json` — a reply body. Expected: `ir`, and `reencoded` when
//!   re-encoding does not give the payload back.
//! * `stream_*.sse` — a stream transcript. Expected: `events`, the
//!   accumulated `response`, or the `error` the decoder fails with.
//! * `streamout_*.json` — IR events. Expected: the exact bytes in
//!   `NAME.expected.sse`.
//! * `error_*.txt` — an error body whose first line is its HTTP status.
//!   Expected: `ir`, and the re-encoded `status` and `body`.
//!
//! Run with `BUSBAR_BLESS=1` to rewrite the expectations from the current
//! output (then review the diff).

use std::path::PathBuf;

use busbar_ir::{Request, StreamAccumulator, StreamEvent};
use serde_json::{json, Value};

use super::{error, request, response, stream};
use crate::golden_support::{self, check, check_exact, decode_bytewise, encode_all, read_json};
use crate::{DecodeError, ReplyOptions, RequestOptions};

/// The cases under `test_data/cohere/` named `{prefix}*{ext}`.
fn cases(prefix: &str, ext: &str) -> Vec<PathBuf> {
    golden_support::cases("cohere", prefix, ext)
}

fn decode_stream(bytes: &[u8]) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    decode_bytewise(stream::Decoder::new(), bytes)
}

fn encode_stream(events: &[StreamEvent]) -> Vec<u8> {
    encode_all(
        stream::Encoder::new(&ReplyOptions::new(1_700_000_000)),
        events,
    )
}

#[test]
fn cohere_golden_requests() {
    for path in cases("request_", ".json") {
        let body = std::fs::read(&path).unwrap();
        let wire: Value = serde_json::from_slice(&body).unwrap();
        let ir = request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = request::encode(&ir, &RequestOptions::new(ir.model.clone()));
        let reencoded: Value = serde_json::from_slice(&encoded.body).unwrap();
        // What the encoder writes, the decoder reads back as the same IR.
        assert_eq!(
            request::decode(&encoded.body).unwrap(),
            ir,
            "{}",
            path.display()
        );
        let mut actual = json!({
            "ir": ir,
            "unsupported": request::unsupported_fields(&wire),
            "dropped": encoded.dropped,
        });
        if reencoded != wire {
            actual["reencoded"] = reencoded;
        }
        check(&path, actual);
    }
}

#[test]
fn cohere_golden_encodes() {
    for path in cases("encode_", ".json") {
        let case = read_json(&path);
        let request: Request = serde_json::from_value(case["request"].clone()).unwrap();
        let options = RequestOptions::new(case["options"]["model"].as_str().unwrap());
        let encoded = request::encode(&request, &options);
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        request::decode(&encoded.body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check(&path, json!({"body": body, "dropped": encoded.dropped}));
    }
}

#[test]
fn cohere_golden_responses() {
    for path in cases("response_", ".json") {
        let body = std::fs::read(&path).unwrap();
        let wire: Value = serde_json::from_slice(&body).unwrap();
        let ir = response::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = response::encode(&ir, 0);
        let reencoded: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            response::decode(&encoded.body).unwrap(),
            ir,
            "{}",
            path.display()
        );
        let mut actual = json!({"ir": ir, "dropped": encoded.dropped});
        if reencoded != wire {
            actual["reencoded"] = reencoded;
        }
        check(&path, actual);
    }
}

#[test]
fn cohere_golden_streams() {
    for path in cases("stream_", ".sse") {
        let bytes = std::fs::read(&path).unwrap();
        let (events, result) = decode_stream(&bytes);
        let mut actual = json!({"events": events});
        match result {
            Ok(()) => {
                let mut accumulator = StreamAccumulator::new();
                events.iter().for_each(|event| accumulator.push(event));
                actual["response"] = match accumulator.finish() {
                    Ok(response) => json!(response),
                    Err(error) => json!({"error": error}),
                };
                // Re-encoding the events and decoding them again is lossless.
                let (again, result) = decode_stream(&encode_stream(&events));
                result.unwrap();
                assert_eq!(again, events, "{}", path.display());
            }
            Err(error) => actual["error"] = json!(error.to_string()),
        }
        check(&path, actual);
    }
}

#[test]
fn cohere_golden_stream_encodes() {
    for path in cases("streamout_", ".json") {
        let events: Vec<StreamEvent> = serde_json::from_value(read_json(&path)).unwrap();
        let actual = String::from_utf8(encode_stream(&events)).unwrap();
        check_exact(&path, "sse", actual.as_bytes());
    }
}

#[test]
fn cohere_golden_errors() {
    for path in cases("error_", ".txt") {
        let text = std::fs::read_to_string(&path).unwrap();
        let (status, body) = text.split_once('\n').unwrap();
        let ir = error::decode(status.trim().parse().unwrap(), body.as_bytes());
        let (status, body) = error::encode(&ir);
        let body: Value = serde_json::from_slice(&body).unwrap();
        check(&path, json!({"ir": ir, "status": status, "body": body}));
    }
}
