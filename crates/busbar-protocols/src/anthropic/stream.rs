//! Anthropic streams (`event: NAME` + `data: {…}` frames) ⇄ [`StreamEvent`]s.
//!
//! The event sequence is the IR's own: `message_start`, then per block
//! `content_block_start`, deltas and `content_block_stop`, then
//! `message_delta` (stop reason, cumulative usage) and `message_stop`;
//! `ping` may come anywhere and `error` may end a 200 stream.

mod encode;
#[cfg(test)]
mod tests;

pub use encode::Encoder;

use busbar_ir::{BlockDelta, BlockStart, StreamEvent};
use serde::Deserialize;
use serde_json::Value;

use super::response::input_text;
use super::{error, stop_reason_from_wire, WireUsage};
use crate::sse::{self, Handler as _};
use crate::{DecodeError, StreamDecoder};

/// Turns one Anthropic stream into IR events.
///
/// Vendor block indexes are renumbered from 0 in start order, and blocks the
/// IR does not hold (server tool use and results) are skipped with their
/// deltas. Unknown event and delta types are ignored, so newer streams still
/// decode. Frames are recognised by the `type` in their data, so frames
/// without an `event:` line are accepted too.
///
/// The stream is complete at `message_stop`, at an `error` event, or — when
/// the upstream closed right after it — at a `message_delta` that carried a
/// stop reason; anything shorter is [`DecodeError::Truncated`].
#[derive(Debug, Default)]
pub struct Decoder {
    sse: sse::Driver,
    started: bool,
    done: bool,
    /// Cumulative usage in Anthropic's terms (input excluding cache).
    usage: WireUsage,
    /// The vendor index, IR index and kind of the open block.
    open: Option<(u64, usize, Kind)>,
    next_index: usize,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    saw_message_delta: bool,
}

impl Decoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    fn handle(
        &mut self,
        frame: &sse::Event,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        if self.done || frame.event.as_deref() == Some("ping") {
            return Ok(());
        }
        if frame.event.as_deref() == Some("error") {
            return self.fail(&frame.data, out);
        }
        let event: WireEvent = serde_json::from_str(&frame.data)?;
        if !self.started
            && !matches!(
                event,
                WireEvent::MessageStart { .. } | WireEvent::Error {} | WireEvent::Other
            )
        {
            return Err(DecodeError::Stream("content before message_start".into()));
        }
        match event {
            WireEvent::MessageStart { message } => {
                if self.started {
                    return Ok(());
                }
                self.started = true;
                self.usage = message.usage;
                out.push(StreamEvent::MessageStart {
                    id: message.id,
                    model: message.model,
                    created: None,
                    usage: self.usage.to_ir(),
                });
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => self.start_block(index, content_block, out)?,
            WireEvent::ContentBlockDelta { index, delta } => {
                let Some((open, ir, kind)) = self.open else {
                    return Ok(());
                };
                let delta = match (kind, delta) {
                    _ if open != index => return Ok(()),
                    (_, WireDelta::Other) => return Ok(()),
                    (Kind::Text, WireDelta::TextDelta { text }) => BlockDelta::Text(text),
                    (Kind::ToolUse, WireDelta::InputJsonDelta { partial_json }) => {
                        BlockDelta::ToolArguments(partial_json)
                    }
                    (Kind::Thinking, WireDelta::ThinkingDelta { thinking }) => {
                        BlockDelta::Thinking(thinking)
                    }
                    (Kind::Thinking, WireDelta::SignatureDelta { signature }) => {
                        BlockDelta::ThinkingSignature(signature)
                    }
                    (kind, delta) => {
                        return Err(DecodeError::Stream(format!(
                            "a {} arrived in a {} block",
                            delta.wire_name(),
                            kind.wire_name()
                        )))
                    }
                };
                out.push(StreamEvent::BlockDelta { index: ir, delta });
            }
            WireEvent::ContentBlockStop { index } => {
                if self.open.is_some_and(|(open, _, _)| open == index) {
                    self.close_block(out);
                }
            }
            WireEvent::MessageDelta { delta, usage } => {
                self.close_block(out);
                self.saw_message_delta = true;
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(reason);
                }
                if let Some(sequence) = delta.stop_sequence {
                    self.stop_sequence = Some(sequence);
                }
                if let Some(usage) = usage {
                    self.usage.merge(&usage);
                }
            }
            WireEvent::MessageStop => self.end(out),
            WireEvent::Error {} => return self.fail(&frame.data, out),
            WireEvent::Other => {}
        }
        Ok(())
    }

    fn start_block(
        &mut self,
        index: u64,
        block: WireStartBlock,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        self.close_block(out);
        let (kind, start, initial) = match block {
            WireStartBlock::Text { text } => (
                Kind::Text,
                BlockStart::Text,
                [Some(BlockDelta::Text(text)), None],
            ),
            WireStartBlock::ToolUse { id, name, input } => {
                let input = match input {
                    Some(Value::Object(map)) if map.is_empty() => None,
                    Some(input) => Some(BlockDelta::ToolArguments(input_text(Some(&input))?)),
                    None => None,
                };
                let start = BlockStart::ToolUse {
                    id,
                    name,
                    signature: None,
                };
                (Kind::ToolUse, start, [input, None])
            }
            WireStartBlock::Thinking {
                thinking,
                signature,
            } => (
                Kind::Thinking,
                BlockStart::Thinking,
                [
                    Some(BlockDelta::Thinking(thinking)),
                    Some(BlockDelta::ThinkingSignature(signature)),
                ],
            ),
            WireStartBlock::RedactedThinking { data } => (
                Kind::RedactedThinking,
                BlockStart::RedactedThinking { data },
                [None, None],
            ),
            WireStartBlock::Other => return Ok(()),
        };
        let ir = self.next_index;
        self.next_index += 1;
        self.open = Some((index, ir, kind));
        out.push(StreamEvent::BlockStart {
            index: ir,
            block: start,
        });
        for delta in initial.into_iter().flatten() {
            if !delta_is_empty(&delta) {
                out.push(StreamEvent::BlockDelta { index: ir, delta });
            }
        }
        Ok(())
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((_, index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_block(out);
        out.push(StreamEvent::MessageDelta {
            stop_reason: self.stop_reason.as_deref().map(stop_reason_from_wire),
            stop_sequence: self.stop_sequence.take(),
            usage: Some(self.usage.to_ir()),
        });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }

    fn fail(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        out.push(StreamEvent::Error(error::from_stream_data(data)));
        self.done = true;
        Ok(())
    }
}

fn delta_is_empty(delta: &BlockDelta) -> bool {
    match delta {
        BlockDelta::Text(s)
        | BlockDelta::ToolArguments(s)
        | BlockDelta::Thinking(s)
        | BlockDelta::ThinkingSignature(s) => s.is_empty(),
        _ => false,
    }
}

impl sse::Handler for Decoder {
    fn driver(&mut self) -> &mut sse::Driver {
        &mut self.sse
    }

    fn event(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        self.handle(event, out)
    }

    fn ended(&self) -> bool {
        self.done
    }
}

impl StreamDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        self.feed_sse(bytes, out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        self.finish_sse(out)?;
        if !self.done && self.started && self.saw_message_delta && self.stop_reason.is_some() {
            self.end(out);
        }
        if self.done {
            Ok(())
        } else {
            Err(DecodeError::Truncated)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: WireStartBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        #[serde(default)]
        delta: WireMessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error {},
    /// `ping`, and event types newer than this code.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct WireStartMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireStartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    /// `citations_delta`, and delta types newer than this code.
    #[serde(other)]
    Other,
}

impl WireDelta {
    fn wire_name(&self) -> &'static str {
        match self {
            Self::TextDelta { .. } => "text_delta",
            Self::InputJsonDelta { .. } => "input_json_delta",
            Self::ThinkingDelta { .. } => "thinking_delta",
            Self::SignatureDelta { .. } => "signature_delta",
            Self::Other => "delta",
        }
    }
}

/// The kind of the open block, which decides the deltas it may receive.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    ToolUse,
    Thinking,
    RedactedThinking,
}

impl Kind {
    fn wire_name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::ToolUse => "tool_use",
            Self::Thinking => "thinking",
            Self::RedactedThinking => "redacted_thinking",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct WireMessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
}
