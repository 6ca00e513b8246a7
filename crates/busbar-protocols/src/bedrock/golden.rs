//! Golden files: `test_data/bedrock/`, Converse payloads shaped after AWS's
//! service model and documentation, and what Busbar must make of them.
//!
//! Each case is a payload plus `NAME.expected.json`; the file name's prefix
//! says what it is:
//!
//! * `request_*.json` — a request body. Expected: `ir`, `unsupported`, and
//!   `reencoded` (the body re-encoded; omitted when equal to the payload)
//!   with its `dropped` names.
//! * `encode_*.json` — `{options, request}`: an IR request from another
//!   format. Expected: `body` and `dropped`.
//! * `response_*.json` — a reply body. Expected: `ir`, and `reencoded` when
//!   re-encoding does not give the payload back.
//! * `stream_*.bin` — a ConverseStream reply as raw event-stream bytes
//!   (written from `stream_*.frames.json` by `make_streams.py`, an
//!   implementation independent of Busbar's). Expected: `events`, the
//!   accumulated `response`, or the `error` the decoder fails with.
//! * `streamout_*.json` — IR events. Expected: the exact bytes in
//!   `NAME.expected.bin`, and their frames, readable, in
//!   `NAME.expected.json`.
//! * `error_*.txt` — an error reply: the first line is the HTTP status and
//!   the `x-amzn-errortype` header (`-` for none), the rest the body.
//!   Expected: `ir`, and the re-encoded `status`, `error_type` and `body`.
//!
//! `check_with_botocore.py` runs the expected replies, streams and errors
//! through botocore's own parsers, and the encoded requests through its
//! parameter validation. Run with `BUSBAR_BLESS=1` to rewrite the
//! expectations from the current output (then review the diff).

use std::path::PathBuf;

use busbar_ir::{Request, StreamAccumulator, StreamEvent};
use serde_json::{json, Value};

use super::eventstream::{FrameDecoder, HeaderValue};
use super::{error, request, response, stream};
use crate::golden_support::{
    self, check, check_exact, decode_bytewise, decode_whole, encode_all, read_json,
};
use crate::{ReplyOptions, RequestOptions};

/// The cases under `test_data/bedrock/` named `{prefix}*{ext}`.
fn cases(prefix: &str, ext: &str) -> Vec<PathBuf> {
    golden_support::cases("bedrock", prefix, ext)
}

#[test]
fn bedrock_golden_requests() {
    for path in cases("request_", ".json") {
        let body = std::fs::read(&path).unwrap();
        let wire: Value = serde_json::from_slice(&body).unwrap();
        let ir = request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = request::encode(&ir, &RequestOptions::new("anthropic.claude-sonnet-4-5"));
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
fn bedrock_golden_encodes() {
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
fn bedrock_golden_responses() {
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
fn bedrock_golden_streams() {
    for path in cases("stream_", ".bin") {
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
                // Re-encoding the events and decoding them again is
                // lossless, but for usage, which the encoder always reports.
                let out = encode_all(stream::Encoder::new(&ReplyOptions::new(0)), &events);
                let again = decode_whole(stream::Decoder::new(), &out);
                let expected: Vec<StreamEvent> = events.iter().cloned().map(with_usage).collect();
                assert_eq!(again, expected, "{}", path.display());
            }
            Err(error) => actual["error"] = json!(error.to_string()),
        }
        check(&path, actual);
    }
}

fn with_usage(mut event: StreamEvent) -> StreamEvent {
    if let StreamEvent::MessageDelta { usage, .. } = &mut event {
        usage.get_or_insert_with(Default::default);
    }
    event
}

#[test]
fn bedrock_golden_stream_encodes() {
    for path in cases("streamout_", ".json") {
        let events: Vec<StreamEvent> = serde_json::from_value(read_json(&path)).unwrap();
        let encoder = stream::Encoder::new(&ReplyOptions::new(1_700_000_000));
        let out = encode_all(encoder, &events);
        check(&path, json!({"frames": frames_view(&out)}));
        check_exact(&path, "bin", &out);
    }
}

/// Frames as JSON for review: string headers, and the payload parsed.
fn frames_view(bytes: &[u8]) -> Value {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    decoder.feed(bytes, &mut frames).unwrap();
    assert_eq!(decoder.buffered(), 0);
    frames
        .iter()
        .map(|frame| {
            let headers: serde_json::Map<String, Value> = frame
                .headers
                .iter()
                .map(|header| {
                    let value = match &header.value {
                        HeaderValue::String(text) => json!(text),
                        other => json!(format!("{other:?}")),
                    };
                    (header.name.clone(), value)
                })
                .collect();
            let payload: Value = serde_json::from_slice(&frame.payload).unwrap();
            json!({"headers": headers, "payload": payload})
        })
        .collect()
}

#[test]
fn bedrock_golden_errors() {
    for path in cases("error_", ".txt") {
        let text = std::fs::read_to_string(&path).unwrap();
        let (first, body) = text.split_once('\n').unwrap();
        let (status, error_type) = first.trim().split_once(' ').unwrap();
        let error_type = Some(error_type).filter(|t| *t != "-");
        let ir = error::decode(status.parse().unwrap(), body.as_bytes(), error_type);
        let (status, body, error_type) = error::encode(&ir);
        let body: Value = serde_json::from_slice(&body).unwrap();
        check(
            &path,
            json!({"ir": ir, "status": status, "error_type": error_type, "body": body}),
        );
    }
}
