//! IR events → a ConverseStream client stream (AWS event-stream frames).

#[cfg(test)]
mod tests;

use busbar_ir::{BlockDelta, BlockStart, StreamEvent, Usage};
use serde::Serialize;

use crate::bedrock::content::blob;
use crate::bedrock::eventstream::write_frame;
use crate::bedrock::{error, stop_reason_to_wire, WireMetrics, WireUsage, NO_METRICS};
use crate::{ReplyOptions, StreamEncoder};

/// The longest text put in one delta frame, in bytes. JSON escaping can
/// grow text sixfold, and a frame's payload may not exceed 24 MiB.
const MAX_PIECE: usize = 2 * 1024 * 1024;

/// Turns IR events into one ConverseStream client stream.
///
/// Every event frame carries `:event-type`, `:content-type:
/// application/json` and `:message-type: event`, as Bedrock's do. As
/// Bedrock does, only tool-use blocks get a `contentBlockStart` (botocore
/// refuses a start union with no member); a text or thinking block that
/// received no delta gets an empty one, so the client still sees it. A
/// thinking block's signature pieces go out as one `signature` delta just
/// before the block's stop, as Bedrock sends it. Redacted thinking that is
/// not base64 is base64-encoded, since botocore decodes it (see the
/// request encoder). The IR's `MessageDelta`
/// becomes `messageStop` then `metadata` (whole-reply usage, `latencyMs` 0);
/// an error becomes an exception frame with one of the exception types
/// ConverseStream declares.
#[derive(Debug)]
pub struct Encoder {
    start_usage: Usage,
    open: Option<OpenBlock>,
    signature: String,
    stopped: bool,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct OpenBlock {
    index: usize,
    thinking: bool,
    has_delta: bool,
}

impl Encoder {
    /// An encoder for one stream. ConverseStream carries no creation time
    /// and always reports usage, so the options change nothing.
    pub fn new(options: &ReplyOptions) -> Self {
        let _ = options;
        Self {
            start_usage: Usage::default(),
            open: None,
            signature: String::new(),
            stopped: false,
            payload: Vec::new(),
        }
    }

    /// Appends an event frame whose payload is `body` as JSON.
    fn event<T: Serialize>(&mut self, out: &mut Vec<u8>, name: &str, body: &T) {
        self.payload.clear();
        if serde_json::to_writer(&mut self.payload, body).is_err() {
            // Unreachable with these types; never write half a frame.
            return;
        }
        let headers = [
            (":event-type", name),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ];
        // The payload was kept under the frame limit by `MAX_PIECE`.
        let _ = write_frame(&headers, &self.payload, out);
    }

    fn delta(&mut self, out: &mut Vec<u8>, index: usize, delta: DeltaOut<'_>) {
        if let Some(open) = self.open.as_mut().filter(|open| open.index == index) {
            open.has_delta = true;
        }
        let body = BlockDeltaOut {
            content_block_index: index,
            delta,
        };
        self.event(out, "contentBlockDelta", &body);
    }

    fn message_stop(&mut self, out: &mut Vec<u8>, stop_reason: &'static str, usage: Usage) {
        self.event(out, "messageStop", &MessageStopOut { stop_reason });
        let metadata = MetadataOut {
            usage: WireUsage::from_ir(&usage),
            metrics: NO_METRICS,
        };
        self.event(out, "metadata", &metadata);
        self.stopped = true;
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::MessageStart { usage, .. } => {
                self.start_usage = *usage;
                self.event(out, "messageStart", &MessageStartOut { role: "assistant" });
            }
            StreamEvent::BlockStart { index, block } => {
                let index = *index;
                self.signature.clear();
                self.open = Some(OpenBlock {
                    index,
                    thinking: matches!(block, BlockStart::Thinking),
                    has_delta: false,
                });
                match block {
                    BlockStart::ToolUse { id, name, .. } => {
                        let start = BlockStartOut {
                            content_block_index: index,
                            start: StartOut {
                                tool_use: ToolStartOut {
                                    tool_use_id: id,
                                    name,
                                },
                            },
                        };
                        self.event(out, "contentBlockStart", &start);
                        // A tool call needs no delta to be seen.
                        if let Some(open) = self.open.as_mut() {
                            open.has_delta = true;
                        }
                    }
                    BlockStart::RedactedThinking { data } => {
                        let data = blob(data);
                        let delta =
                            DeltaOut::ReasoningContent(ReasoningOut::RedactedContent(&data));
                        self.delta(out, index, delta);
                    }
                    _ => {}
                }
            }
            StreamEvent::BlockDelta { index, delta } => {
                let index = *index;
                let (text, wrap): (&str, fn(&str) -> DeltaOut<'_>) = match delta {
                    BlockDelta::Text(text) => (text, |text| DeltaOut::Text(text)),
                    BlockDelta::ToolArguments(input) => {
                        (input, |input| DeltaOut::ToolUse { input })
                    }
                    BlockDelta::Thinking(text) => (text, |text| {
                        DeltaOut::ReasoningContent(ReasoningOut::Text(text))
                    }),
                    BlockDelta::ThinkingSignature(piece) => {
                        self.signature.push_str(piece);
                        return;
                    }
                    _ => return,
                };
                for piece in pieces(text) {
                    self.delta(out, index, wrap(piece));
                }
            }
            StreamEvent::BlockStop { index } => {
                let index = *index;
                if let Some(open) = self.open.take().filter(|open| open.index == index) {
                    if !open.has_delta && self.signature.is_empty() {
                        let delta = if open.thinking {
                            DeltaOut::ReasoningContent(ReasoningOut::Text(""))
                        } else {
                            DeltaOut::Text("")
                        };
                        self.delta(out, index, delta);
                    }
                }
                if !self.signature.is_empty() {
                    let signature = std::mem::take(&mut self.signature);
                    let delta = DeltaOut::ReasoningContent(ReasoningOut::Signature(&signature));
                    self.delta(out, index, delta);
                }
                let stop = BlockStopOut {
                    content_block_index: index,
                };
                self.event(out, "contentBlockStop", &stop);
            }
            StreamEvent::MessageDelta {
                stop_reason, usage, ..
            } => {
                let mut total = self.start_usage;
                if let Some(usage) = usage {
                    total.merge(usage);
                }
                let reason = stop_reason.as_ref().map_or("end_turn", stop_reason_to_wire);
                self.message_stop(out, reason, total);
            }
            StreamEvent::MessageStop if !self.stopped => {
                self.message_stop(out, "end_turn", self.start_usage);
            }
            StreamEvent::Error(api_error) => {
                error::write_exception_frame(api_error, &mut self.payload, out);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }
}

/// `text` in pieces of at most [`MAX_PIECE`] bytes, cut on character
/// boundaries; one (possibly empty) piece for short text.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        if text.len() <= MAX_PIECE {
            rest = None;
            return Some(text);
        }
        let mut end = MAX_PIECE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        rest = Some(&text[end..]);
        Some(&text[..end])
    })
}

#[derive(Debug, Serialize)]
struct MessageStartOut {
    role: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockStartOut<'a> {
    content_block_index: usize,
    start: StartOut<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StartOut<'a> {
    tool_use: ToolStartOut<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolStartOut<'a> {
    tool_use_id: &'a str,
    name: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockDeltaOut<'a> {
    content_block_index: usize,
    delta: DeltaOut<'a>,
}

/// A delta union: exactly one member, as botocore requires.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum DeltaOut<'a> {
    Text(&'a str),
    ToolUse { input: &'a str },
    ReasoningContent(ReasoningOut<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum ReasoningOut<'a> {
    Text(&'a str),
    Signature(&'a str),
    RedactedContent(&'a str),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockStopOut {
    content_block_index: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageStopOut {
    stop_reason: &'static str,
}

#[derive(Debug, Serialize)]
struct MetadataOut {
    usage: WireUsage,
    metrics: WireMetrics,
}
