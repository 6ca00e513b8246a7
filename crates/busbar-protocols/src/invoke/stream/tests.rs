//! The envelope both ways: chunk framing, base64, exceptions.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use busbar_ir::{ApiError, ErrorKind, StreamEvent};

use super::*;
use crate::bedrock::eventstream::write_frame;

/// One chunk frame holding `event` as Bedrock sends it (with padding).
fn chunk(event: &str) -> Vec<u8> {
    let payload = format!(r#"{{"bytes":"{}","p":"abcdefgh"}}"#, STANDARD.encode(event));
    let mut out = Vec::new();
    write_frame(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.as_bytes(),
        &mut out,
    )
    .unwrap();
    out
}

const EVENTS: [&str; 6] = [
    r#"{"type":"message_start","message":{"id":"msg_bdrk_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}"#,
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi\nthere"}}"#,
    r#"{"type":"content_block_stop","index":0}"#,
    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}"#,
    r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":9,"outputTokenCount":3,"invocationLatency":120,"firstByteLatency":40}}"#,
];

fn decode_all(bytes: &[u8], split: usize) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(split.max(1)) {
        decoder.feed(piece, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

#[test]
fn chunks_decode_as_the_anthropic_stream_in_any_split() {
    let bytes: Vec<u8> = EVENTS.iter().flat_map(|event| chunk(event)).collect();
    let whole = decode_all(&bytes, bytes.len()).unwrap();
    assert!(matches!(
        whole.first(),
        Some(StreamEvent::MessageStart { .. })
    ));
    assert_eq!(whole.last(), Some(&StreamEvent::MessageStop));
    let text: String = whole
        .iter()
        .filter_map(|event| match event {
            StreamEvent::BlockDelta {
                delta: busbar_ir::BlockDelta::Text(text),
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hi\nthere");
    for split in [1, 7, 100] {
        assert_eq!(decode_all(&bytes, split).unwrap(), whole, "split {split}");
    }
}

#[test]
fn a_stream_without_message_stop_is_truncated_and_bad_chunks_are_malformed() {
    let bytes: Vec<u8> = EVENTS[..3].iter().flat_map(|event| chunk(event)).collect();
    assert!(matches!(decode_all(&bytes, 5), Err(DecodeError::Truncated)));
    let mut bad = Vec::new();
    write_frame(
        &[(":event-type", "chunk"), (":message-type", "event")],
        br#"{"bytes":"***"}"#,
        &mut bad,
    )
    .unwrap();
    assert!(matches!(decode_all(&bad, 64), Err(DecodeError::Stream(_))));
}

#[test]
fn an_exception_frame_is_the_streams_error_and_its_end() {
    let mut bytes = chunk(EVENTS[0]);
    write_frame(
        &[
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        br#"{"message":"Too many requests"}"#,
        &mut bytes,
    )
    .unwrap();
    let events = decode_all(&bytes, 3).unwrap();
    let Some(StreamEvent::Error(error)) = events.last() else {
        panic!("no error: {events:?}");
    };
    assert_eq!(error.kind, ErrorKind::RateLimit);
    assert_eq!(error.message, "Too many requests");

    // A block left open is closed before the error.
    let mut bytes: Vec<u8> = EVENTS[..3].iter().flat_map(|event| chunk(event)).collect();
    write_frame(
        &[
            (":exception-type", "modelStreamErrorException"),
            (":message-type", "exception"),
        ],
        br#"{"message":"broke"}"#,
        &mut bytes,
    )
    .unwrap();
    let events = decode_all(&bytes, 5).unwrap();
    assert!(matches!(
        events[events.len() - 2..],
        [StreamEvent::BlockStop { index: 0 }, StreamEvent::Error(_)]
    ));
    let Some(StreamEvent::Error(error)) = events.last() else {
        panic!("no error: {events:?}");
    };
    assert_eq!(error.message, "broke");
}

#[test]
fn encoding_wraps_each_event_in_one_chunk_and_decodes_back() {
    let bytes: Vec<u8> = EVENTS.iter().flat_map(|event| chunk(event)).collect();
    let events = decode_all(&bytes, bytes.len()).unwrap();
    let mut encoder = Encoder::new(&ReplyOptions::new(0));
    let mut out = Vec::new();
    for event in &events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    // Every frame is a chunk whose bytes are one Anthropic event.
    let mut frames = Vec::new();
    FrameDecoder::new().feed(&out, &mut frames).unwrap();
    assert!(frames.len() >= 5);
    for frame in &frames {
        assert_eq!(frame.header_str(":event-type"), Some("chunk"));
        let chunk: ChunkIn = serde_json::from_slice(&frame.payload).unwrap();
        let event: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(chunk.bytes).unwrap()).unwrap();
        assert!(event["type"].is_string());
    }
    // The Anthropic encoder states cache counts, zero when unknown.
    let expected: Vec<StreamEvent> = events
        .into_iter()
        .map(|mut event| {
            match &mut event {
                StreamEvent::MessageStart { usage, .. }
                | StreamEvent::MessageDelta {
                    usage: Some(usage), ..
                } => *usage = crate::testing::with_cache_counts(usage),
                _ => {}
            }
            event
        })
        .collect();
    assert_eq!(decode_all(&out, 11).unwrap(), expected);
    let mut watch = crate::EndWatch::new(crate::Protocol::BedrockInvoke);
    watch.feed(&out);
    assert!(watch.is_complete());
}

#[test]
fn an_error_is_encoded_as_an_exception_frame() {
    let mut encoder = Encoder::new(&ReplyOptions::new(0));
    let mut out = Vec::new();
    let error = ApiError::new(ErrorKind::Overloaded, "busy");
    encoder.encode(&StreamEvent::Error(error), &mut out);
    let mut frames = Vec::new();
    FrameDecoder::new().feed(&out, &mut frames).unwrap();
    assert_eq!(frames[0].header_str(":message-type"), Some("exception"));
    assert_eq!(
        frames[0].header_str(":exception-type"),
        Some("serviceUnavailableException")
    );
    let mut watch = crate::EndWatch::new(crate::Protocol::BedrockInvoke);
    watch.feed(&out);
    assert!(watch.is_complete());
}
