//! ConverseStream replies (AWS event-stream frames) ⇄ [`StreamEvent`]s.
//!
//! Each frame names its event in `:event-type`, with a JSON payload:
//! `messageStart {role}`, `contentBlockStart {contentBlockIndex, start}`
//! (tool use only), `contentBlockDelta {contentBlockIndex, delta}`,
//! `contentBlockStop {contentBlockIndex}`, `messageStop {stopReason}`, then
//! `metadata {usage, metrics}`. A frame with `:message-type: exception`
//! carries an error named by `:exception-type`.

mod encode;
#[cfg(test)]
mod tests;

pub use encode::Encoder;

use busbar_ir::{ApiError, BlockDelta, BlockStart, ErrorKind, StreamEvent, Usage};
use serde::Deserialize;

use super::eventstream::{Frame, FrameDecoder};
use super::{error, stop_reason_from_wire, WireUsage};
use crate::{DecodeError, StreamDecoder};

/// Turns one ConverseStream reply into IR events.
///
/// Bedrock opens only tool-use blocks with `contentBlockStart`; a text or
/// reasoning block begins with its first delta, and the decoder opens the IR
/// block there. Vendor block indexes are renumbered from 0 in start order;
/// a block of a kind the IR lacks (a server tool's result, an image) is
/// skipped with its deltas, as are citation deltas. A block's
/// `redactedContent` pieces each become a redacted-thinking block of their
/// own, since the IR carries redacted thinking whole. Unknown event types
/// and unknown members are ignored, so newer streams still decode.
///
/// `messageStop` carries the stop reason and `metadata` the usage after it;
/// the IR's `MessageDelta` and `MessageStop` are sent once both are in. The
/// stream is complete at `metadata` after `messageStop`, at `messageStop`
/// when the upstream then closes (even inside the `metadata` frame: the
/// reply is whole, only its usage is unknown), or at an exception; anything
/// shorter is [`DecodeError::Truncated`].
#[derive(Debug, Default)]
pub struct Decoder {
    frames: FrameDecoder,
    pending: Vec<Frame>,
    started: bool,
    done: bool,
    open: Option<Open>,
    /// The vendor index of a block being skipped.
    skipped: Option<u64>,
    next_index: usize,
    stop_reason: Option<String>,
    usage: Option<Usage>,
}

/// The open block: its vendor index, IR index and kind.
#[derive(Debug, Clone, Copy)]
struct Open {
    vendor: u64,
    index: usize,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    ToolUse,
    Redacted,
}

impl Decoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    fn handle(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.done {
            return Ok(());
        }
        match frame.header_str(":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let kind = frame
                    .header_str(":exception-type")
                    .unwrap_or("internalServerException");
                return self.fail(error::from_stream_exception(kind, &frame.payload), out);
            }
            "error" => {
                let code = frame.header_str(":error-code").unwrap_or("InternalFailure");
                let message = frame
                    .header_str(":error-message")
                    .unwrap_or("upstream stream failed");
                let error = ApiError::new(ErrorKind::Server, message).with_code(code);
                return self.fail(error, out);
            }
            _ => return Ok(()),
        }
        let payload = &frame.payload;
        match frame.header_str(":event-type").unwrap_or_default() {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                let event: BlockStartEvent = serde_json::from_slice(payload)?;
                self.start(out);
                self.close_block(out);
                match event.start.tool_use {
                    Some(tool) => {
                        let block = BlockStart::ToolUse {
                            id: tool.tool_use_id,
                            name: tool.name,
                            signature: None,
                        };
                        self.open_block(event.content_block_index, Kind::ToolUse, block, out);
                    }
                    None => self.skipped = Some(event.content_block_index),
                }
            }
            "contentBlockDelta" => {
                let event: BlockDeltaEvent = serde_json::from_slice(payload)?;
                self.start(out);
                self.delta(event, out);
            }
            "contentBlockStop" => {
                let event: BlockStopEvent = serde_json::from_slice(payload)?;
                if self
                    .open
                    .is_some_and(|open| open.vendor == event.content_block_index)
                {
                    self.close_block(out);
                }
                if self.skipped == Some(event.content_block_index) {
                    self.skipped = None;
                }
            }
            "messageStop" => {
                let event: MessageStopEvent = serde_json::from_slice(payload)?;
                self.start(out);
                self.close_block(out);
                self.stop_reason = Some(event.stop_reason);
                if self.usage.is_some() {
                    self.end(out);
                }
            }
            "metadata" => {
                let event: MetadataEvent = serde_json::from_slice(payload)?;
                self.usage = Some(event.usage.to_ir());
                if self.stop_reason.is_some() {
                    self.end(out);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn delta(&mut self, event: BlockDeltaEvent, out: &mut Vec<StreamEvent>) {
        let vendor = event.content_block_index;
        if self.skipped == Some(vendor) {
            return;
        }
        let delta = event.delta;
        let (kind, piece) = if let Some(text) = delta.text {
            (Kind::Text, Some(BlockDelta::Text(text)))
        } else if let Some(tool_use) = delta.tool_use {
            (
                Kind::ToolUse,
                Some(BlockDelta::ToolArguments(tool_use.input)),
            )
        } else if let Some(reasoning) = delta.reasoning_content {
            if let Some(data) = reasoning.redacted_content {
                self.close_block(out);
                let block = BlockStart::RedactedThinking { data };
                self.open_block(vendor, Kind::Redacted, block, out);
                return;
            } else if let Some(text) = reasoning.text {
                (Kind::Thinking, Some(BlockDelta::Thinking(text)))
            } else if let Some(signature) = reasoning.signature {
                (
                    Kind::Thinking,
                    Some(BlockDelta::ThinkingSignature(signature)),
                )
            } else {
                (Kind::Thinking, None)
            }
        } else {
            // Citations, tool-result and image deltas: nothing the IR holds.
            return;
        };
        let continues = self
            .open
            .is_some_and(|open| open.vendor == vendor && open.kind == kind);
        if !continues {
            // A tool call needs the id and name its start carries; without
            // one there is no call to attach the arguments to.
            if kind == Kind::ToolUse {
                return;
            }
            self.close_block(out);
            let block = match kind {
                Kind::Text => BlockStart::Text,
                _ => BlockStart::Thinking,
            };
            self.open_block(vendor, kind, block, out);
        }
        let Some(open) = self.open else {
            return;
        };
        if let Some(delta) = piece.filter(|delta| !delta_is_empty(delta)) {
            out.push(StreamEvent::BlockDelta {
                index: open.index,
                delta,
            });
        }
    }

    /// Sends `MessageStart` unless it was sent: Bedrock's `messageStart`
    /// carries nothing the IR needs, so a stream missing it still decodes.
    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                id: String::new(),
                model: String::new(),
                created: None,
                usage: Usage::default(),
            });
        }
    }

    fn open_block(
        &mut self,
        vendor: u64,
        kind: Kind,
        block: BlockStart,
        out: &mut Vec<StreamEvent>,
    ) {
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(Open {
            vendor,
            index,
            kind,
        });
        out.push(StreamEvent::BlockStart { index, block });
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::BlockStop { index: open.index });
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_block(out);
        out.push(StreamEvent::MessageDelta {
            stop_reason: self.stop_reason.as_deref().map(stop_reason_from_wire),
            stop_sequence: None,
            usage: self.usage,
        });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }

    fn fail(&mut self, error: ApiError, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        out.push(StreamEvent::Error(error));
        self.done = true;
        Ok(())
    }

    fn handle_pending(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let mut frames = std::mem::take(&mut self.pending);
        let result = frames.iter().try_for_each(|frame| self.handle(frame, out));
        frames.clear();
        self.pending = frames;
        result
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

impl StreamDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.done {
            // Whatever follows the end (nothing, from Bedrock) is not read.
            return Ok(());
        }
        let framed = self.frames.feed(bytes, &mut self.pending);
        self.handle_pending(out)?;
        // Frames before a broken one still count: if they ended the stream
        // (an exception), what follows is ignored however it was split.
        if self.done {
            return Ok(());
        }
        framed.map_err(|e| DecodeError::Stream(e.to_string()))
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if !self.done && self.stop_reason.is_some() {
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
#[serde(rename_all = "camelCase")]
struct BlockStartEvent {
    content_block_index: u64,
    #[serde(default)]
    start: WireStart,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStart {
    #[serde(default)]
    tool_use: Option<WireToolStart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToolStart {
    tool_use_id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDeltaEvent {
    content_block_index: u64,
    delta: WireDelta,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDelta {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<WireToolDelta>,
    #[serde(default)]
    reasoning_content: Option<WireReasoningDelta>,
}

#[derive(Debug, Deserialize)]
struct WireToolDelta {
    #[serde(default)]
    input: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReasoningDelta {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    redacted_content: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStopEvent {
    content_block_index: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStopEvent {
    stop_reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataEvent {
    #[serde(default)]
    usage: WireUsage,
}
