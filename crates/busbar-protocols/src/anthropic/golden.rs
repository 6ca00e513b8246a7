//! Golden files: `test_data/anthropic/`, real Anthropic-shaped payloads and
//! what Busbar must make of them.
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

use super::{error, request, response, stream, WireUsage};
use crate::golden_support::{
    self, check, check_exact, decode_bytewise, decode_whole, encode_all, read_json,
};
use crate::{ReplyOptions, RequestOptions};

/// The cases under `test_data/anthropic/` named `{prefix}*{ext}`.
fn cases(prefix: &str, ext: &str) -> Vec<PathBuf> {
    golden_support::cases("anthropic", prefix, ext)
}

#[test]
fn anthropic_golden_requests() {
    for path in cases("request_", ".json") {
        let body = std::fs::read(&path).unwrap();
        let wire: Value = serde_json::from_slice(&body).unwrap();
        let ir = request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut options = RequestOptions::new(ir.model.clone());
        options.default_max_tokens = ir.max_tokens.unwrap_or(4096);
        let encoded = request::encode(&ir, &options);
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
fn anthropic_golden_encodes() {
    for path in cases("encode_", ".json") {
        let case = read_json(&path);
        let request: Request = serde_json::from_value(case["request"].clone()).unwrap();
        let mut options = RequestOptions::new(case["options"]["model"].as_str().unwrap());
        if let Some(max) = case["options"]["default_max_tokens"].as_u64() {
            options.default_max_tokens = max;
        }
        let encoded = request::encode(&request, &options);
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        // What the encoder writes, the decoder must read.
        request::decode(&encoded.body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check(&path, json!({"body": body, "dropped": encoded.dropped}));
    }
}

#[test]
fn anthropic_golden_responses() {
    for path in cases("response_", ".json") {
        let body = std::fs::read(&path).unwrap();
        let wire: Value = serde_json::from_slice(&body).unwrap();
        let ir = response::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = response::encode(&ir);
        let reencoded: Value = serde_json::from_slice(&encoded.body).unwrap();
        let mut actual = json!({"ir": ir, "dropped": encoded.dropped});
        if reencoded != wire {
            actual["reencoded"] = reencoded;
        }
        check(&path, actual);
    }
}

#[test]
fn anthropic_golden_streams() {
    for path in cases("stream_", ".sse") {
        let bytes = std::fs::read(&path).unwrap();
        let (events, result) = decode_bytewise(stream::Decoder::new(), &bytes);
        let mut actual = json!({"events": events});
        match result {
            Ok(()) => {
                let mut accumulator = StreamAccumulator::new();
                events.iter().for_each(|event| accumulator.push(event));
                actual["response"] = match accumulator.finish() {
                    Ok(response) => json!(response),
                    Err(error) => json!({"error": error}),
                };
                // Re-encoding the events and decoding them again is lossless,
                // but for the cache counts Anthropic always writes.
                let out = encode_all(stream::Encoder::new(&ReplyOptions::new(0)), &events);
                let again = decode_whole(stream::Decoder::new(), &out);
                let expected: Vec<StreamEvent> =
                    events.iter().cloned().map(with_cache_counts).collect();
                assert_eq!(again, expected, "{}", path.display());
            }
            Err(error) => actual["error"] = json!(error.to_string()),
        }
        check(&path, actual);
    }
}

fn with_cache_counts(mut event: StreamEvent) -> StreamEvent {
    match &mut event {
        StreamEvent::MessageStart { usage, .. }
        | StreamEvent::MessageDelta {
            usage: Some(usage), ..
        } => *usage = WireUsage::from_ir(usage).to_ir(),
        _ => {}
    }
    event
}

#[test]
fn anthropic_golden_stream_encodes() {
    for path in cases("streamout_", ".json") {
        let events: Vec<StreamEvent> = serde_json::from_value(read_json(&path)).unwrap();
        let encoder = stream::Encoder::new(&ReplyOptions::new(1_700_000_000));
        let actual = String::from_utf8(encode_all(encoder, &events)).unwrap();
        check_exact(&path, "sse", actual.as_bytes());
    }
}

#[test]
fn anthropic_golden_errors() {
    for path in cases("error_", ".txt") {
        let text = std::fs::read_to_string(&path).unwrap();
        let (status, body) = text.split_once('\n').unwrap();
        let ir = error::decode(status.trim().parse().unwrap(), body.as_bytes());
        let (status, body) = error::encode(&ir);
        let body: Value = serde_json::from_slice(&body).unwrap();
        check(&path, json!({"ir": ir, "status": status, "body": body}));
    }
}
