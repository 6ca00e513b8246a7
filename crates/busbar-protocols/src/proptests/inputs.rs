//! Inputs that reach deep into the decoders: JSON shaped with a format's own
//! field names and words, framed as its streams frame events; and valid
//! payloads (its golden inputs, and what its encoders write) mutated byte
//! by byte.
//!
//! Random bytes alone fail JSON parsing at the first byte and test nothing
//! past it; these get through the parser to the field-by-field readers, the
//! stream state machines and the framing code.

use std::path::Path;

use busbar_ir::{ApiError, ErrorKind, Response, StreamEvent};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use super::{encode_stream, Format};
use crate::bedrock::eventstream::write_frame;
use crate::{Protocol, ReplyOptions, RequestOptions};

/// Which decoders an input is for, as the fuzz targets split them: a reply
/// input also goes to the error decoder.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Request,
    Response,
    Stream,
}

/// A JSON value built from `words`: as keys, as strings, and beside numbers,
/// booleans, nulls and odd text.
fn json(words: Vec<&'static str>) -> BoxedStrategy<Value> {
    let word = proptest::sample::select(words);
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => (-3i64..5_000).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => (-1.0e3f64..1.0e3).prop_map(Value::from),
        4 => word.clone().prop_map(Value::from),
        1 => "\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            1 => vec(inner.clone(), 0..4).prop_map(Value::Array),
            3 => object(word.clone(), inner),
        ]
    })
    .boxed()
}

/// An object of fields named from `word`.
fn object(
    word: impl Strategy<Value = &'static str> + Clone + 'static,
    value: impl Strategy<Value = Value> + Clone + 'static,
) -> BoxedStrategy<Value> {
    vec((word, value), 0..7)
        .prop_map(|fields| {
            Value::Object(
                fields
                    .into_iter()
                    .map(|(key, value)| (key.to_owned(), value))
                    .collect(),
            )
        })
        .boxed()
}

/// A body: an object whose fields the format's decoders look at.
fn body(format: &Format) -> BoxedStrategy<Value> {
    object(proptest::sample::select(words(format)), json(words(format)))
}

fn words(format: &Format) -> Vec<&'static str> {
    format.words.split_whitespace().collect()
}

/// A seed for the fuzz functions' split of a stream, then the stream.
fn with_split(seed: u8, bytes: Vec<u8>) -> Vec<u8> {
    let mut data = Vec::with_capacity(bytes.len() + 1);
    data.push(seed);
    data.extend(bytes);
    data
}

/// Shaped bodies for the request and reply decoders, and shaped streams.
pub(super) fn shaped(format: &Format) -> BoxedStrategy<(Kind, Vec<u8>)> {
    let body = body(format).prop_map(|value| serde_json::to_vec(&value).unwrap());
    prop_oneof![
        body.clone().prop_map(|bytes| (Kind::Request, bytes)),
        body.prop_map(|bytes| (Kind::Response, bytes)),
        (any::<u8>(), shaped_stream(format))
            .prop_map(|(seed, bytes)| (Kind::Stream, with_split(seed, bytes))),
    ]
    .boxed()
}

/// Shaped bodies framed as the format's stream frames them: SSE events
/// named with its words (and `data: [DONE]`), a Gemini JSON array, or
/// Bedrock event-stream frames with its event and exception names.
pub(super) fn shaped_stream(format: &Format) -> BoxedStrategy<Vec<u8>> {
    let word = proptest::sample::select(words(format));
    // Most events say what they are, as every SSE format's data does.
    let typed = (body(format), option::of(word.clone())).prop_map(|(mut body, kind)| {
        if let (Value::Object(fields), Some(kind)) = (&mut body, kind) {
            fields.insert("type".to_owned(), Value::from(kind));
        }
        body
    });
    match format.protocol {
        Protocol::Bedrock => vec(
            (
                word.clone(),
                proptest::sample::select(&["event", "exception", "error"][..]),
                typed,
            ),
            0..12,
        )
        .prop_map(|frames| {
            let mut out = Vec::new();
            for (name, kind, payload) in frames {
                let headers = [
                    (":event-type", name),
                    (":exception-type", name),
                    (":message-type", kind),
                ];
                write_frame(&headers, payload.to_string().as_bytes(), &mut out).unwrap();
            }
            out
        })
        .boxed(),
        Protocol::BedrockInvoke => vec((any::<bool>(), typed), 0..12)
            .prop_map(|frames| {
                use base64::Engine as _;
                let mut out = Vec::new();
                for (exception, event) in frames {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .encode(event.to_string().as_bytes());
                    let payload = serde_json::json!({"bytes": bytes, "p": "abc"}).to_string();
                    let headers: &[(&str, &str)] = if exception {
                        &[
                            (":exception-type", "throttlingException"),
                            (":message-type", "exception"),
                        ]
                    } else {
                        &[(":event-type", "chunk"), (":message-type", "event")]
                    };
                    write_frame(headers, payload.as_bytes(), &mut out).unwrap();
                }
                out
            })
            .boxed(),
        protocol => {
            let event = (option::of(word), typed, any::<bool>()).prop_map(|(name, data, done)| {
                let mut out = Vec::new();
                if done {
                    crate::sse::write_event(&mut out, None, "[DONE]");
                } else {
                    crate::sse::write_event(&mut out, name, &data.to_string());
                }
                (out, data)
            });
            let array = protocol == Protocol::Gemini;
            (vec(event, 0..12), any::<bool>())
                .prop_map(move |(events, as_array)| {
                    if array && as_array {
                        let values: Vec<Value> = events.into_iter().map(|(_, v)| v).collect();
                        serde_json::to_vec(&values).unwrap()
                    } else {
                        events.into_iter().flat_map(|(bytes, _)| bytes).collect()
                    }
                })
                .boxed()
        }
    }
}

/// Valid payloads of the format, mutated.
pub(super) fn mutated(format: &Format) -> BoxedStrategy<(Kind, Vec<u8>)> {
    let goldens = golden_inputs(format.protocol);
    let encoded = encoded_inputs(format);
    (
        prop_oneof![proptest::sample::select(goldens), encoded],
        vec(mutation(), 1..5),
        any::<u8>(),
    )
        .prop_map(|((kind, mut bytes), mutations, seed)| {
            for mutation in &mutations {
                mutation.apply(&mut bytes);
            }
            match kind {
                Kind::Stream => (kind, with_split(seed, bytes)),
                _ => (kind, bytes),
            }
        })
        .boxed()
}

/// The inputs under `test_data/<format>/`: requests, replies, error bodies
/// (after their status line) and stream transcripts.
fn golden_inputs(protocol: Protocol) -> Vec<(Kind, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(protocol.name());
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if [".expected.", ".out.", ".frames.", ".py"]
            .iter()
            .any(|mark| name.contains(mark))
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let kind = match name.split('_').next() {
            Some("request") => Kind::Request,
            Some("response") => Kind::Response,
            Some("stream") => Kind::Stream,
            Some("error") => {
                let start = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
                inputs.push((Kind::Response, bytes[start..].to_vec()));
                continue;
            }
            _ => continue,
        };
        inputs.push((kind, bytes));
    }
    inputs.sort_by(|a, b| a.1.cmp(&b.1));
    assert!(!inputs.is_empty(), "no golden inputs in {}", dir.display());
    inputs
}

/// What the format's encoders write for generated values.
fn encoded_inputs(format: &Format) -> BoxedStrategy<(Kind, Vec<u8>)> {
    let protocol = format.protocol;
    let options = (format.reply_options)();
    let kinds = format.error_kinds;
    prop_oneof![
        (format.request)(&format.caps).prop_map(move |request| {
            let body = protocol
                .encode_request(&request, &RequestOptions::new("m"))
                .body;
            (Kind::Request, body)
        }),
        (format.response)(&format.caps).prop_map(move |response: Response| {
            let body = protocol
                .encode_response(&response, &ReplyOptions::new(0))
                .body;
            (Kind::Response, body)
        }),
        (format.response)(&format.caps).prop_map(move |response: Response| {
            let events: Vec<StreamEvent> = response.to_events();
            (Kind::Stream, encode_stream(protocol, &options, &events))
        }),
        (proptest::sample::select(kinds), "\\PC{0,16}").prop_map(
            move |(kind, message): (ErrorKind, String)| {
                let body = protocol.encode_error(&ApiError::new(kind, message)).body;
                (Kind::Response, body)
            }
        ),
    ]
    .boxed()
}

/// One byte-level change.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index, usize),
    /// Copies a run of the bytes to another place.
    Splice(Index, Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to JSON and SSE framing, and any byte.
    let byte = prop_oneof![
        proptest::sample::select(&b"{}[]\",:\\\n\r 0-e.tn"[..]),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, bits)| Mutation::Flip(at, bits | 1)),
        (any::<Index>(), byte).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        (any::<Index>(), 1usize..16).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<Index>(), any::<Index>(), 1usize..64)
            .prop_map(|(from, to, len)| Mutation::Splice(from, to, len)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match *self {
            Mutation::Flip(at, bits) if len > 0 => bytes[at.index(len)] ^= bits,
            Mutation::Insert(at, byte) => bytes.insert(at.index(len + 1), byte),
            Mutation::Delete(at, n) if len > 0 => {
                let start = at.index(len);
                bytes.drain(start..(start + n).min(len));
            }
            Mutation::Splice(from, to, n) if len > 0 => {
                let start = from.index(len);
                let run = bytes[start..(start + n).min(len)].to_vec();
                let at = to.index(len + 1);
                bytes.splice(at..at, run);
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(len + 1)),
            _ => {}
        }
    }
}
