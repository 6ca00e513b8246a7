//! Golden files: `test_data/gemini/`, Gemini-shaped payloads (after Google's
//! REST reference and the google-genai SDK types) and what Busbar must make
//! of them.
//!
//! Each case is a payload plus `NAME.expected.json`; the file name's prefix
//! says what it is:
//!
//! * `request_*.json` — a request body. Expected: `ir` (the decoded
//!   [`Request`]), `unsupported` (from `unsupported_fields`), `dropped`, and
//!   `reencoded` (the body re-encoded for `gemini-3-flash-preview`; omitted
//!   when equal to the payload).
//! * `encode_*.json` — `{options, request}`: an IR request from another
//!   format. Expected: `body` and `dropped`.
//! * `response_*.json` — a reply body. Expected: `ir`, `dropped`, and
//!   `reencoded` when re-encoding does not give the payload back.
//! * `stream_*.sse` (Server-Sent Events) and `stream_*.json` (a streamed
//!   JSON array) — a stream transcript, fed byte by byte. Expected:
//!   `events`, then the accumulated `response`, or the `error` the decoder
//!   fails with.
//! * `streamout_*.json` — `{json_array, events}`: IR events. Expected: the
//!   exact bytes in `NAME.expected.txt`.
//! * `error_*.txt` — an error body whose first line is its HTTP status.
//!   Expected: `ir`, and the re-encoded `status` and `body`.
//!
//! Run with `BUSBAR_BLESS=1` to rewrite the expectations from the current
//! output (then review the diff).

use std::path::PathBuf;

use busbar_ir::{Request, StreamAccumulator, StreamEvent};
use serde_json::{json, Value};

use super::{error, request, response, stream};
use crate::golden_support::{
    self, check, check_exact, decode_bytewise, decode_whole, encode_all, read_json,
};
use crate::{ReplyOptions, RequestOptions};

/// The cases under `test_data/gemini/` named `{prefix}*{ext}`.
fn cases(prefix: &str, ext: &str) -> Vec<PathBuf> {
    golden_support::cases("gemini", prefix, ext)
}

#[test]
fn gemini_golden_requests() {
    for path in cases("request_", ".json") {
        let body = std::fs::read(&path).unwrap();
        let wire: Value = serde_json::from_slice(&body).unwrap();
        let ir = request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = request::encode(&ir, &RequestOptions::new("gemini-3-flash-preview"));
        let reencoded: Value = serde_json::from_slice(&encoded.body).unwrap();
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
fn gemini_golden_encodes() {
    for path in cases("encode_", ".json") {
        let case = read_json(&path);
        let request: Request = serde_json::from_value(case["request"].clone()).unwrap();
        let options = RequestOptions::new(case["options"]["model"].as_str().unwrap());
        let encoded = request::encode(&request, &options);
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        // What the encoder writes, the decoder must read.
        request::decode(&encoded.body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check(&path, json!({"body": body, "dropped": encoded.dropped}));
    }
}

#[test]
fn gemini_golden_responses() {
    for path in cases("response_", ".json") {
        let body = std::fs::read(&path).unwrap();
        let wire: Value = serde_json::from_slice(&body).unwrap();
        let ir = response::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = response::encode(&ir, 0);
        let reencoded: Value = serde_json::from_slice(&encoded.body).unwrap();
        let mut actual = json!({"ir": ir, "dropped": encoded.dropped});
        if reencoded != wire {
            actual["reencoded"] = reencoded;
        }
        check(&path, actual);
    }
}

#[test]
fn gemini_golden_streams() {
    let mut paths = cases("stream_", ".sse");
    paths.extend(cases("stream_", ".json"));
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let (events, result) = decode_bytewise(stream::Decoder::new(), &bytes);
        let mut actual = json!({"events": events});
        match result {
            Ok(()) => {
                let mut accumulator = StreamAccumulator::new();
                events.iter().for_each(|event| accumulator.push(event));
                let accumulated = accumulator.finish();
                actual["response"] = match &accumulated {
                    Ok(response) => json!(response),
                    Err(error) => json!({"error": error}),
                };
                // Re-encoding the events for a Gemini client and decoding
                // them again says the same thing.
                for json_array in [false, true] {
                    let mut options = ReplyOptions::new(0);
                    options.json_array = json_array;
                    let out = encode_all(stream::Encoder::new(&options), &events);
                    let again = decode_whole(stream::Decoder::new(), &out);
                    let mut accumulator = StreamAccumulator::new();
                    again.iter().for_each(|event| accumulator.push(event));
                    assert_eq!(
                        accumulator.finish(),
                        accumulated.clone(),
                        "{}",
                        path.display()
                    );
                }
            }
            Err(error) => actual["error"] = json!(error.to_string()),
        }
        check(&path, actual);
    }
}

#[test]
fn gemini_golden_stream_encodes() {
    for path in cases("streamout_", ".json") {
        let case = read_json(&path);
        let events: Vec<StreamEvent> = serde_json::from_value(case["events"].clone()).unwrap();
        let mut options = ReplyOptions::new(1_700_000_000);
        options.json_array = case["json_array"].as_bool().unwrap_or(false);
        let actual =
            String::from_utf8(encode_all(stream::Encoder::new(&options), &events)).unwrap();
        check_exact(&path, "txt", actual.as_bytes());
    }
}

#[test]
fn gemini_golden_errors() {
    for path in cases("error_", ".txt") {
        let text = std::fs::read_to_string(&path).unwrap();
        let (status, body) = text.split_once('\n').unwrap();
        let ir = error::decode(status.trim().parse().unwrap(), body.as_bytes());
        let (status, body) = error::encode(&ir);
        let body: Value = serde_json::from_slice(&body).unwrap();
        check(&path, json!({"ir": ir, "status": status, "body": body}));
    }
}
