//! IR events → an Anthropic client stream.

use busbar_ir::{BlockDelta, BlockStart, StreamEvent, Usage};
use serde::Serialize;

use crate::anthropic::{error, stop_reason_to_wire, WireUsage};
use crate::{ReplyOptions, StreamEncoder};

/// Turns IR events into one Anthropic client stream.
///
/// Every frame carries an `event:` line, since the SDK ignores frames
/// without one. Usage in `message_delta` is the whole reply's, input
/// included: when the upstream reported input tokens only at the end
/// (OpenAI), this is where the client learns them. A thinking block's
/// signature pieces are sent as one `signature_delta` just before the
/// block's stop, because the SDK keeps only the last one it sees.
#[derive(Debug)]
pub struct Encoder {
    start_usage: Usage,
    signature: String,
}

impl Encoder {
    /// An encoder for one stream. Anthropic streams carry no creation time
    /// and always report usage, so the options change nothing.
    pub fn new(options: &ReplyOptions) -> Self {
        let _ = options;
        Self {
            start_usage: Usage::default(),
            signature: String::new(),
        }
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::MessageStart {
                id, model, usage, ..
            } => {
                self.start_usage = *usage;
                let message = OutMessage {
                    id,
                    kind: "message",
                    role: "assistant",
                    model,
                    content: &[],
                    stop_reason: None,
                    stop_sequence: None,
                    usage: WireUsage::from_ir(usage),
                };
                frame(out, "message_start", &OutEvent::MessageStart { message });
            }
            StreamEvent::BlockStart { index, block } => {
                self.signature.clear();
                let content_block = match block {
                    BlockStart::ToolUse { id, name, .. } => OutStartBlock::ToolUse {
                        id,
                        name,
                        input: Empty {},
                    },
                    BlockStart::Thinking => OutStartBlock::Thinking {
                        thinking: "",
                        signature: "",
                    },
                    BlockStart::RedactedThinking { data } => {
                        OutStartBlock::RedactedThinking { data }
                    }
                    _ => OutStartBlock::Text { text: "" },
                };
                let index = *index;
                frame(
                    out,
                    "content_block_start",
                    &OutEvent::ContentBlockStart {
                        index,
                        content_block,
                    },
                );
            }
            StreamEvent::BlockDelta { index, delta } => {
                let delta = match delta {
                    BlockDelta::Text(text) => OutDelta::Text { text },
                    BlockDelta::ToolArguments(partial_json) => OutDelta::InputJson { partial_json },
                    BlockDelta::Thinking(thinking) => OutDelta::Thinking { thinking },
                    BlockDelta::ThinkingSignature(piece) => {
                        self.signature.push_str(piece);
                        return;
                    }
                    _ => return,
                };
                let index = *index;
                frame(
                    out,
                    "content_block_delta",
                    &OutEvent::ContentBlockDelta { index, delta },
                );
            }
            StreamEvent::BlockStop { index } => {
                let index = *index;
                if !self.signature.is_empty() {
                    let delta = OutDelta::Signature {
                        signature: &self.signature,
                    };
                    frame(
                        out,
                        "content_block_delta",
                        &OutEvent::ContentBlockDelta { index, delta },
                    );
                    self.signature.clear();
                }
                frame(
                    out,
                    "content_block_stop",
                    &OutEvent::ContentBlockStop { index },
                );
            }
            StreamEvent::MessageDelta {
                stop_reason,
                stop_sequence,
                usage,
            } => {
                let mut total = self.start_usage;
                if let Some(usage) = usage {
                    total.merge(usage);
                }
                let event = OutEvent::MessageDelta {
                    delta: OutMessageDelta {
                        stop_reason: stop_reason.as_ref().map(stop_reason_to_wire),
                        stop_sequence: stop_sequence.as_deref(),
                    },
                    usage: WireUsage::from_ir(&total),
                };
                frame(out, "message_delta", &event);
            }
            StreamEvent::MessageStop => frame(out, "message_stop", &OutEvent::MessageStop),
            StreamEvent::Error(api_error) => frame(out, "error", &error::Body::new(api_error)),
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }
}

/// Appends `event: NAME`, the data as compact JSON, and the blank line.
fn frame<T: Serialize>(out: &mut Vec<u8>, name: &str, data: &T) {
    let start = out.len();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if serde_json::to_writer(&mut *out, data).is_err() {
        // Unreachable with these types (no maps with non-string keys, no
        // floats); never leave half a frame behind.
        out.truncate(start);
        return;
    }
    out.extend_from_slice(b"\n\n");
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutEvent<'a> {
    MessageStart {
        message: OutMessage<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: OutStartBlock<'a>,
    },
    ContentBlockDelta {
        index: usize,
        delta: OutDelta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: OutMessageDelta<'a>,
        usage: WireUsage,
    },
    MessageStop,
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'static [Empty],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: WireUsage,
}

#[derive(Debug, Serialize)]
struct OutMessageDelta<'a> {
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
}

/// Serialises as `{}`.
#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutStartBlock<'a> {
    Text {
        text: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Empty,
    },
    Thinking {
        thinking: &'static str,
        signature: &'static str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
}
