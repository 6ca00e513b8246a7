//! Golden files: `test_data/<format>/`, vendor-shaped payloads and what
//! Busbar must make of them, for all seven formats through one runner.
//!
//! Each case is a payload plus its expectations beside it; the file name's
//! prefix says what it is:
//!
//! * `request_*.json` — a request body. Expected in `NAME.expected.json`:
//!   `ir` (the decoded [`Request`]), `unsupported` (the fields the IR cannot
//!   carry), and the body `reencoded` for the format's upstream (omitted when
//!   equal to the payload) with its `dropped` names; or, for a body the
//!   decoder rejects, the `error`.
//! * `encode_*.json` — `{options, request}`: an IR request as another format
//!   decodes it. Expected: the `body` and its `dropped` names.
//! * `response_*.json` — a reply body. Expected: `ir`, `dropped`, and
//!   `reencoded` when re-encoding does not give the payload back.
//! * `stream_*` — a stream transcript (`.sse`; Gemini's also `.json`, a
//!   streamed array; Bedrock's `.bin`, raw event-stream bytes). Decoded whole
//!   and byte by byte, which must agree. Expected: the `events`, then the
//!   accumulated `response`, or the `error` the decoder fails with. A
//!   complete stream re-encoded for a client of the same format must give
//!   the bytes in `NAME.out.<ext>`, and must decode back to what it said.
//! * `streamout_*.json` — IR events from another format (or
//!   `{json_array, events}`). Expected: the exact client stream in
//!   `NAME.expected.<ext>`.
//! * `error_*.txt` — an error reply: the first line is the HTTP status
//!   (Bedrock's adds the `x-amzn-errortype` header, `-` for none), the rest
//!   the body. Expected: `ir`, and the re-encoded `status`, `body` (and
//!   Bedrock's `error_type`).
//!
//! What differs between formats is in each one's [`Table`], at the end of
//! this file. Run `BUSBAR_BLESS=1 cargo test -p busbar-protocols golden` to
//! rewrite the expectations from the current output, then review the diff:
//! a blessed file is only as right as the reader who checked it.

mod spec;

use std::path::{Path, PathBuf};

use busbar_ir::{ContentBlock, Request, Response, StreamAccumulator, StreamEvent};
use serde_json::{json, Value};

use crate::bedrock::eventstream::{FrameDecoder, HeaderValue};
use crate::{DecodeError, Protocol, ReplyOptions, RequestOptions};

/// How one format's cases run: the choices that differ between formats.
struct Table {
    protocol: Protocol,
    /// The model a decoded request is re-encoded for; `None`: its own.
    request_model: Option<&'static str>,
    /// Re-encoded requests and replies decode to the very IR they came from.
    lossless: bool,
    /// The extensions of stream transcripts.
    stream_exts: &'static [&'static str],
    /// The extension of a client stream's bytes.
    out_ext: &'static str,
    /// The options a client stream is encoded with.
    reply_options: fn() -> ReplyOptions,
    /// What a re-encoded stream decodes back to.
    round_trip: RoundTrip,
    /// A readable view of a client stream, checked beside its bytes.
    describe: Option<fn(&[u8]) -> Value>,
}

/// What a decoded stream, re-encoded for a client and decoded again, must
/// say.
enum RoundTrip {
    /// The same events, each as the format's encoder necessarily writes it.
    Events(fn(StreamEvent) -> StreamEvent),
    /// The same reply, accumulated (for Gemini, in both framings), as the
    /// format's encoder necessarily writes it.
    Reply(fn(Response) -> Response),
}

/// Runs every case of `table`'s format; fails listing every mismatch.
fn run(table: &Table) {
    let format = table.protocol.name();
    let mut failures = Vec::new();
    let mut count = 0;
    let mut each = |prefix: &str, ext: &str, check: &dyn Fn(&Path) -> Vec<String>| {
        for path in cases(format, prefix, ext) {
            count += 1;
            failures.extend(check(&path));
        }
    };
    each("request_", ".json", &|path| request(table, path));
    each("encode_", ".json", &|path| encode(table, path));
    each("response_", ".json", &|path| response(table, path));
    for ext in table.stream_exts {
        each("stream_", ext, &|path| stream(table, path));
    }
    each("streamout_", ".json", &|path| streamout(table, path));
    each("error_", ".txt", &|path| error(table, path));
    assert!(count > 0, "no golden files under test_data/{format}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn request(table: &Table, path: &Path) -> Vec<String> {
    let protocol = table.protocol;
    let bytes = read(path);
    let decoded = match protocol.decode_request(&bytes) {
        Ok(decoded) => decoded,
        Err(error) => return check(path, json!({ "error": decode_error_json(&error) })),
    };
    let ir = decoded.request;
    let model = table.request_model.unwrap_or(&ir.model);
    let encoded = protocol.encode_request(&ir, &RequestOptions::new(model));
    // What the encoder writes, the decoder reads.
    let mut failures = match protocol.decode_request(&encoded.body) {
        Ok(again) if table.lossless && again.request != ir => {
            vec![format!(
                "{}: re-encoded, decodes differently",
                path.display()
            )]
        }
        Ok(_) => Vec::new(),
        Err(error) => vec![format!("{}: re-encoded, fails: {error}", path.display())],
    };
    let mut actual = json!({
        "ir": ir,
        "unsupported": decoded.unsupported,
        "dropped": encoded.dropped,
    });
    let reencoded = parse(&encoded.body);
    if reencoded != parse(&bytes) {
        actual["reencoded"] = reencoded;
    }
    failures.extend(check(path, actual));
    failures
}

fn encode(table: &Table, path: &Path) -> Vec<String> {
    let protocol = table.protocol;
    let case = parse(&read(path));
    let request: Request = serde_json::from_value(case["request"].clone())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut options = RequestOptions::new(case["options"]["model"].as_str().unwrap());
    if let Some(max) = case["options"]["default_max_tokens"].as_u64() {
        options.default_max_tokens = max;
    }
    let encoded = protocol.encode_request(&request, &options);
    let mut failures = Vec::new();
    if let Err(error) = protocol.decode_request(&encoded.body) {
        failures.push(format!(
            "{}: the body fails to decode: {error}",
            path.display()
        ));
    }
    let actual = json!({"body": parse(&encoded.body), "dropped": encoded.dropped});
    failures.extend(check(path, actual));
    failures
}

fn response(table: &Table, path: &Path) -> Vec<String> {
    let protocol = table.protocol;
    let bytes = read(path);
    let ir = protocol
        .decode_response(&bytes)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let encoded = protocol.encode_response(&ir, &ReplyOptions::new(0));
    let mut failures = match protocol.decode_response(&encoded.body) {
        Ok(again) if table.lossless && again != ir => {
            vec![format!(
                "{}: re-encoded, decodes differently",
                path.display()
            )]
        }
        Ok(_) => Vec::new(),
        Err(error) => vec![format!("{}: re-encoded, fails: {error}", path.display())],
    };
    let mut actual = json!({"ir": ir, "dropped": encoded.dropped});
    let reencoded = parse(&encoded.body);
    if reencoded != parse(&bytes) {
        actual["reencoded"] = reencoded;
    }
    failures.extend(check(path, actual));
    failures
}

fn stream(table: &Table, path: &Path) -> Vec<String> {
    let protocol = table.protocol;
    let bytes = read(path);
    let (events, result) = decode_stream(protocol, &[&bytes]);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    let (again, result_again) = decode_stream(protocol, &bytewise);
    let mut failures = Vec::new();
    if again != events || result.is_ok() != result_again.is_ok() {
        failures.push(format!("{}: decoding depends on the split", path.display()));
    }
    let mut actual = json!({ "events": events });
    match result {
        Ok(()) => {
            actual["response"] = match accumulate(&events) {
                Ok(response) => json!(response),
                Err(error) => json!({ "error": error }),
            };
            let out = encode_stream(protocol, &(table.reply_options)(), &events);
            failures.extend(check_exact(path, &format!("out.{}", table.out_ext), &out));
            if !round_trips(table, &events) {
                failures.push(format!(
                    "{}: re-encoded, decodes to something else",
                    path.display()
                ));
            }
        }
        Err(error) => actual["error"] = json!(error.to_string()),
    }
    failures.extend(check(path, actual));
    failures
}

/// Whether `events`, re-encoded and decoded again, say what they said.
fn round_trips(table: &Table, events: &[StreamEvent]) -> bool {
    let protocol = table.protocol;
    let again = |options: &ReplyOptions| {
        let (again, result) = decode_stream(protocol, &[&encode_stream(protocol, options, events)]);
        result.map(|()| again).ok()
    };
    match table.round_trip {
        RoundTrip::Events(normalise) => {
            let expected: Vec<StreamEvent> = events.iter().cloned().map(normalise).collect();
            again(&(table.reply_options)()) == Some(expected)
        }
        RoundTrip::Reply(normalise) => [false, true].into_iter().all(|json_array| {
            let mut options = (table.reply_options)();
            options.json_array = json_array;
            again(&options)
                .is_some_and(|again| accumulate(&again) == accumulate(events).map(normalise))
        }),
    }
}

fn streamout(table: &Table, path: &Path) -> Vec<String> {
    let case = parse(&read(path));
    let mut options = (table.reply_options)();
    let events = match case {
        Value::Array(_) => case,
        mut case => {
            options.json_array = case["json_array"].as_bool().unwrap_or(false);
            case["events"].take()
        }
    };
    let events: Vec<StreamEvent> = serde_json::from_value(events)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let out = encode_stream(table.protocol, &options, &events);
    let mut failures = Vec::new();
    if let Some(describe) = table.describe {
        failures.extend(check(path, describe(&out)));
    }
    failures.extend(check_exact(
        path,
        &format!("expected.{}", table.out_ext),
        &out,
    ));
    failures
}

fn error(table: &Table, path: &Path) -> Vec<String> {
    let protocol = table.protocol;
    let text = std::fs::read_to_string(path).unwrap();
    let (first, body) = text.split_once('\n').unwrap();
    let (status, error_type) = match first.trim().split_once(' ') {
        Some((status, error_type)) => (status, Some(error_type).filter(|t| *t != "-")),
        None => (first.trim(), None),
    };
    let status = status
        .parse()
        .unwrap_or_else(|_| panic!("{}: the first line is the status", path.display()));
    let ir = protocol.decode_error(status, body.as_bytes(), error_type);
    let encoded = protocol.encode_error(&ir);
    let mut actual = json!({"ir": ir, "status": encoded.status});
    if let Some(error_type) = encoded.error_type {
        actual["error_type"] = json!(error_type);
    }
    actual["body"] = parse(&encoded.body);
    check(path, actual)
}

/// Whether to write the expectations instead of checking them.
fn bless() -> bool {
    std::env::var_os("BUSBAR_BLESS").is_some()
}

/// The cases under `test_data/{format}` whose names start with `prefix` and
/// end with `ext`, sorted; expectations, client streams and Bedrock's frame
/// listings excluded.
fn cases(format: &str, prefix: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(format);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.starts_with(prefix)
                && name.ends_with(ext)
                && ![".expected.", ".out.", ".frames."]
                    .iter()
                    .any(|mark| name.contains(mark))
        })
        .collect();
    paths.sort();
    paths
}

/// `NAME.{suffix}` beside the case `NAME.*`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    path.with_file_name(format!("{stem}.{suffix}"))
}

/// Compares `actual` with the case's `NAME.expected.json`, or writes it when
/// blessing.
fn check(path: &Path, actual: Value) -> Vec<String> {
    let expected_path = sibling(path, "expected.json");
    if bless() {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&expected_path, text).unwrap();
        return Vec::new();
    }
    let expected = std::fs::read(&expected_path)
        .map(|text| parse(&text))
        .unwrap_or(Value::Null);
    if actual == expected {
        return Vec::new();
    }
    vec![format!(
        "{} differs:\n--- expected\n{expected:#}\n--- actual\n{actual:#}",
        expected_path.display()
    )]
}

/// Compares `actual` byte for byte with the case's `NAME.{suffix}`, or
/// writes it when blessing.
fn check_exact(path: &Path, suffix: &str, actual: &[u8]) -> Vec<String> {
    let expected_path = sibling(path, suffix);
    if bless() {
        std::fs::write(&expected_path, actual).unwrap();
        return Vec::new();
    }
    let expected = std::fs::read(&expected_path).unwrap_or_default();
    if actual == expected {
        return Vec::new();
    }
    // Shown as text: every such expectation but Bedrock's binary one is
    // text, and a lossy rendering still locates the difference there.
    vec![format!(
        "{} differs:\n--- expected\n{}\n--- actual\n{}",
        expected_path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual),
    )]
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// JSON bytes (a case, or a body Busbar wrote), parsed.
fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A decode error as it is recorded in expected files.
fn decode_error_json(error: &DecodeError) -> Value {
    match error {
        DecodeError::Invalid { field, reason } => json!({"field": field, "reason": reason}),
        other => json!(other.to_string()),
    }
}

/// Feeds `pieces` to a fresh decoder of `protocol` and finishes it, stopping
/// at the first error as a relay would: the events, and how it ended.
fn decode_stream(
    protocol: Protocol,
    pieces: &[&[u8]],
) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    let mut decoder = protocol.stream_decoder();
    let mut events = Vec::new();
    let result = pieces
        .iter()
        .try_for_each(|piece| decoder.feed(piece, &mut events))
        .and_then(|()| decoder.finish(&mut events));
    (events, result)
}

/// Encodes `events` as a client stream of `protocol` and finishes it.
fn encode_stream(protocol: Protocol, options: &ReplyOptions, events: &[StreamEvent]) -> Vec<u8> {
    let mut encoder = protocol.stream_encoder(options);
    let mut out = Vec::new();
    events
        .iter()
        .for_each(|event| encoder.encode(event, &mut out));
    encoder.finish(&mut out);
    out
}

fn accumulate(events: &[StreamEvent]) -> Result<Response, busbar_ir::ApiError> {
    let mut accumulator = StreamAccumulator::new();
    events.iter().for_each(|event| accumulator.push(event));
    accumulator.finish()
}

/// Bedrock's frames as JSON for review: string headers, and the payload
/// parsed.
fn frames_view(bytes: &[u8]) -> Value {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    decoder.feed(bytes, &mut frames).unwrap();
    assert_eq!(decoder.buffered(), 0);
    let frames: Vec<Value> = frames
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
            json!({"headers": headers, "payload": parse(&frame.payload)})
        })
        .collect();
    json!({ "frames": frames })
}

/// [`frames_view`] with each chunk's base64 `bytes` shown as the JSON
/// event it holds (Bedrock InvokeModel).
fn chunks_view(bytes: &[u8]) -> Value {
    use base64::Engine as _;
    let mut view = frames_view(bytes);
    if let Some(frames) = view["frames"].as_array_mut() {
        for frame in frames {
            if let Some(encoded) = frame["payload"]["bytes"].as_str() {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap();
                frame["payload"]["bytes"] = parse(&decoded);
            }
        }
    }
    view
}

fn reply_options() -> ReplyOptions {
    ReplyOptions::new(1_700_000_000)
}

fn same<T>(value: T) -> T {
    value
}

#[test]
fn openai_golden() {
    run(&Table {
        protocol: Protocol::OpenAi,
        request_model: Some("upstream-model"),
        lossless: false,
        stream_exts: &[".sse"],
        out_ext: "sse",
        // The client asked for usage, as Busbar asks an OpenAI upstream.
        reply_options: || {
            let mut options = reply_options();
            options.include_usage = true;
            options
        },
        // Thinking has no Chat Completions form, and every usage count is
        // written.
        round_trip: RoundTrip::Reply(|mut reply| {
            reply.content.retain(|block| {
                !matches!(
                    block,
                    ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. }
                )
            });
            let usage = &mut reply.usage;
            for count in [
                &mut usage.cache_read_tokens,
                &mut usage.cache_write_tokens,
                &mut usage.reasoning_tokens,
            ] {
                count.get_or_insert(0);
            }
            reply
        }),
        describe: None,
    });
}

#[test]
fn responses_golden() {
    run(&Table {
        protocol: Protocol::Responses,
        request_model: Some("upstream-model"),
        lossless: false,
        stream_exts: &[".sse"],
        out_ext: "sse",
        reply_options,
        round_trip: RoundTrip::Reply(same),
        describe: None,
    });
}

#[test]
fn anthropic_golden() {
    run(&Table {
        protocol: Protocol::Anthropic,
        request_model: None,
        lossless: false,
        stream_exts: &[".sse"],
        out_ext: "sse",
        reply_options,
        round_trip: RoundTrip::Events(|mut event| {
            match &mut event {
                StreamEvent::MessageStart { usage, .. }
                | StreamEvent::MessageDelta {
                    usage: Some(usage), ..
                } => *usage = crate::testing::with_cache_counts(usage),
                _ => {}
            }
            event
        }),
        describe: None,
    });
}

#[test]
fn gemini_golden() {
    run(&Table {
        protocol: Protocol::Gemini,
        request_model: Some("gemini-3-flash-preview"),
        lossless: false,
        stream_exts: &[".sse", ".json"],
        out_ext: "txt",
        reply_options,
        round_trip: RoundTrip::Reply(same),
        describe: None,
    });
}

#[test]
fn cohere_golden() {
    run(&Table {
        protocol: Protocol::Cohere,
        request_model: None,
        lossless: true,
        stream_exts: &[".sse"],
        out_ext: "sse",
        reply_options,
        round_trip: RoundTrip::Events(same),
        describe: None,
    });
}

#[test]
fn bedrock_golden() {
    run(&Table {
        protocol: Protocol::Bedrock,
        request_model: Some("anthropic.claude-sonnet-4-5"),
        lossless: false,
        stream_exts: &[".bin"],
        out_ext: "bin",
        reply_options,
        // The encoder always reports usage.
        round_trip: RoundTrip::Events(|mut event| {
            if let StreamEvent::MessageDelta { usage, .. } = &mut event {
                usage.get_or_insert_with(Default::default);
            }
            event
        }),
        describe: Some(frames_view),
    });
}

#[test]
fn bedrock_invoke_golden() {
    run(&Table {
        protocol: Protocol::BedrockInvoke,
        request_model: Some("anthropic.claude-sonnet-4-5-20250929-v1:0"),
        lossless: false,
        stream_exts: &[".bin"],
        out_ext: "bin",
        reply_options,
        // The Anthropic encoder inside states both cache counts.
        round_trip: RoundTrip::Events(|mut event| {
            match &mut event {
                StreamEvent::MessageStart { usage, .. }
                | StreamEvent::MessageDelta {
                    usage: Some(usage), ..
                } => *usage = crate::testing::with_cache_counts(usage),
                _ => {}
            }
            event
        }),
        describe: Some(chunks_view),
    });
}
