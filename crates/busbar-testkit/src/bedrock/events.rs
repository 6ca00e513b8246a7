//! ConverseStream: `application/vnd.amazon.eventstream` frames written with AWS's own encoder
//! (`aws-smithy-eventstream`), so a hand-written decoder is checked against the real thing.
//!
//! Every event carries the headers `:event-type`, `:content-type: application/json` and
//! `:message-type: event`, and a JSON payload that, like Bedrock's, includes a `p` field of
//! padding of varying length. Text blocks get no `contentBlockStart`; tool uses do.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{defaults, LATENCY_MS};
use crate::behaviour;
use crate::faults::{ErrorKind, VendorError};
use crate::format::Outcome;
use crate::server::Shared;

/// The stream's content type.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Bytes of tool input per `contentBlockDelta`.
const INPUT_PIECE: usize = 12;

/// Characters Bedrock draws its padding from.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The whole stream for a reply whose blocks are `content`.
pub(super) fn stream(
    shared: &Shared,
    content: &[Value],
    stop_reason: &str,
    usage: Value,
) -> Outcome {
    let mut frames = Frames::default();
    frames.event("messageStart", json!({"role": "assistant"}));
    let words = shared.words_per_delta();
    for (index, block) in content.iter().enumerate() {
        let delta = |delta: Value| json!({"contentBlockIndex": index, "delta": delta});
        if let Some(reasoning) = block.pointer("/reasoningContent/reasoningText") {
            let text = reasoning["text"].as_str().unwrap_or_default();
            for piece in behaviour::word_pieces(text, words) {
                frames.event(
                    "contentBlockDelta",
                    delta(json!({"reasoningContent": {"text": piece}})),
                );
            }
            frames.event(
                "contentBlockDelta",
                delta(json!({"reasoningContent": {"signature": reasoning["signature"]}})),
            );
        } else if let Some(tool_use) = block.get("toolUse") {
            let start = json!({"toolUse": {"toolUseId": tool_use["toolUseId"],
                                           "name": tool_use["name"]}});
            frames.event(
                "contentBlockStart",
                json!({"contentBlockIndex": index, "start": start}),
            );
            let input = tool_use["input"].to_string();
            for piece in behaviour::byte_pieces(&input, INPUT_PIECE) {
                frames.event(
                    "contentBlockDelta",
                    delta(json!({"toolUse": {"input": piece}})),
                );
            }
        } else {
            let text = block["text"].as_str().unwrap_or_default();
            for piece in behaviour::word_pieces(text, words)
                .into_iter()
                .filter(|p| !p.is_empty())
            {
                frames.event("contentBlockDelta", delta(json!({"text": piece})));
            }
        }
        frames.event("contentBlockStop", json!({"contentBlockIndex": index}));
    }
    frames.event("messageStop", json!({"stopReason": stop_reason}));
    frames.event(
        "metadata",
        json!({"usage": usage, "metrics": {"latencyMs": LATENCY_MS}}),
    );
    Outcome::stream_of(EVENT_STREAM, frames.frames)
}

/// Collects encoded frames.
#[derive(Default)]
struct Frames {
    frames: Vec<Bytes>,
}

impl Frames {
    fn event(&mut self, event_type: &'static str, mut payload: Value) {
        let padding = padding(self.frames.len());
        if let Some(fields) = payload.as_object_mut() {
            fields.insert("p".to_owned(), json!(padding));
        }
        let headers = [
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ];
        self.frames.push(frame(&headers, &payload));
    }
}

/// Padding that varies in length from event to event, as Bedrock's does.
pub(super) fn padding(index: usize) -> &'static str {
    let len = 1 + (index * 7) % (PADDING.len() - 1);
    &PADDING[..len]
}

/// One frame: string headers and a JSON payload, encoded by AWS's implementation.
pub(super) fn frame(headers: &[(&'static str, &str)], payload: &Value) -> Bytes {
    let message = headers.iter().fold(
        Message::new(Bytes::from(payload.to_string())),
        |message, (name, value)| {
            let value = HeaderValue::String((*value).to_owned().into());
            message.add_header(Header::new(*name, value))
        },
    );
    let mut out = Vec::with_capacity(message.payload().len() + 128);
    match write_message_to(&message, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(error) => {
            // Only oversized headers or payloads fail, which the mock never writes.
            tracing::debug!(%error, "mock upstream could not encode an event-stream frame");
            Bytes::new()
        }
    }
}

/// The `:message-type: exception` frame Bedrock sends when a stream fails after its headers.
pub(crate) fn stream_error_event(error: &VendorError) -> Bytes {
    let exception = match &error.error_type {
        Some(name) => lower_first(name),
        None => match error.kind {
            ErrorKind::RateLimited => "throttlingException".to_owned(),
            ErrorKind::Overloaded => "serviceUnavailableException".to_owned(),
            ErrorKind::ContextLength | ErrorKind::BadRequest => "validationException".to_owned(),
            ErrorKind::Timeout => "modelStreamErrorException".to_owned(),
            _ => "internalServerException".to_owned(),
        },
    };
    let message = error.message.as_deref().unwrap_or(defaults(error.kind).2);
    let headers = [
        (":exception-type", exception.as_str()),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ];
    frame(&headers, &json!({"message": message}))
}

/// `ThrottlingException` → `throttlingException`: the event-stream member name.
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn frames_decode_with_aws_reader() {
        let bytes = frame(
            &[(":event-type", "messageStop")],
            &json!({"stopReason": "end_turn"}),
        );
        let message = read_message_from(bytes).expect("a valid frame");
        assert_eq!(message.headers()[0].name().as_str(), ":event-type");
        assert_eq!(&message.payload()[..], br#"{"stopReason":"end_turn"}"#);
        let exception = stream_error_event(&VendorError::new(ErrorKind::RateLimited));
        let message = read_message_from(exception).expect("a valid frame");
        let value = message.headers()[0]
            .value()
            .as_string()
            .map(|s| s.as_str().to_owned());
        assert_eq!(value.ok().as_deref(), Some("throttlingException"));
        assert_eq!(lower_first("X"), "x");
        assert_ne!(padding(0).len(), padding(1).len());
    }
}
