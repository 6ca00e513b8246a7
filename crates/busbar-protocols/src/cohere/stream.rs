//! Cohere Chat v2 streams (`event: TYPE` + `data: {"type": TYPE, …}`) ⇄
//! [`StreamEvent`]s.
//!
//! A stream is `message-start`, then blocks — `content-start`,
//! `content-delta`…, `content-end` for text and thinking; `tool-plan-delta`…
//! for the plan; `tool-call-start`, `tool-call-delta`…, `tool-call-end` for
//! each call — then `message-end` carrying `finish_reason` and `usage`, and
//! finally `data: [DONE]`. Content and tool calls are numbered separately
//! (`index` 0, 1… each); the tool plan has no index.

mod encode;
#[cfg(test)]
mod tests;

pub use encode::Encoder;

use busbar_ir::{BlockDelta, BlockStart, StreamEvent};
use serde::Deserialize;

use super::response::WireToolCall;
use super::{error, stop_reason_from_wire, WireUsage};
use crate::sse::{self, Handler as _};
use crate::{DecodeError, StreamDecoder};

/// Turns one Cohere stream into IR events.
///
/// The tool plan becomes a text block of its own. Blocks are renumbered
/// from 0 in start order, and a block still open when another starts is
/// closed first. The decoder is lenient where real streams and proxies
/// differ from the reference: frames without an `event:` line, events
/// without `index`, `content-delta`s with no `content-start` (a block is
/// opened for them), and content before `message-start` (one is made up,
/// with an empty id) are all accepted; unknown event types (`citation-*`,
/// `debug`) are ignored.
///
/// The stream is complete at `message-end`; `data: [DONE]` may follow and
/// is not required. A `message-end` with a `delta.error` — how Cohere
/// reports a generation that failed after the 200 — ends the stream with
/// [`StreamEvent::Error`], as does a data object with a `message` and no
/// `type` (an error body). A stream that ends earlier is
/// [`DecodeError::Truncated`].
#[derive(Debug, Default)]
pub struct Decoder {
    sse: sse::Driver,
    started: bool,
    done: bool,
    open: Option<Open>,
    next_index: usize,
}

/// The block being streamed.
#[derive(Debug, Clone, Copy)]
struct Open {
    kind: Kind,
    /// Cohere's `index` for it (content and tool calls count separately).
    vendor: Option<u64>,
    /// The IR index.
    index: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Plan,
    Tool,
}

impl Open {
    /// Whether an event about Cohere block `vendor` of `kind` is about this
    /// one. An event without an index is about the open block.
    fn is(&self, kinds: &[Kind], vendor: Option<u64>) -> bool {
        kinds.contains(&self.kind)
            && (vendor.is_none() || self.vendor.is_none() || self.vendor == vendor)
    }
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
        if self.done || frame.data.trim() == "[DONE]" {
            return Ok(());
        }
        if frame.event.as_deref() == Some("error") {
            return self.fail(&error_message(&frame.data), out);
        }
        let event = match serde_json::from_str::<WireEvent>(&frame.data) {
            Ok(event) => event,
            Err(parse_error) => {
                return match untyped_error(&frame.data) {
                    Some(message) => self.fail(&message, out),
                    None => Err(parse_error.into()),
                }
            }
        };
        if !self.started && !matches!(event, WireEvent::Other) {
            self.started = true;
            let id = match &event {
                WireEvent::MessageStart { id } => id.clone().unwrap_or_default(),
                _ => String::new(),
            };
            out.push(StreamEvent::MessageStart {
                id,
                model: String::new(),
                created: None,
                usage: Default::default(),
            });
        }
        match event {
            WireEvent::MessageStart { .. } | WireEvent::Other => {}
            WireEvent::ContentStart { index, delta } => {
                let piece = delta.and_then(|d| d.message).and_then(|m| m.content);
                let piece = piece.unwrap_or_default();
                let kind = match (piece.kind.as_deref(), &piece.thinking) {
                    (Some("thinking"), _) | (None, Some(_)) => Kind::Thinking,
                    _ => Kind::Text,
                };
                self.start(kind, index, out);
                let text = if kind == Kind::Thinking {
                    piece.thinking
                } else {
                    piece.text
                };
                self.delta(kind, text.unwrap_or_default(), out);
            }
            WireEvent::ContentDelta { index, delta } => {
                let piece = delta.and_then(|d| d.message).and_then(|m| m.content);
                let (kind, text) = match piece {
                    Some(ContentPiece {
                        thinking: Some(text),
                        ..
                    }) => (Kind::Thinking, text),
                    Some(ContentPiece {
                        text: Some(text), ..
                    }) => (Kind::Text, text),
                    _ => return Ok(()),
                };
                if !self.open.is_some_and(|open| open.is(&[kind], index)) {
                    self.start(kind, index, out);
                }
                self.delta(kind, text, out);
            }
            WireEvent::ContentEnd { index } => self.end(&[Kind::Text, Kind::Thinking], index, out),
            WireEvent::ToolPlanDelta { delta } => {
                let plan = delta.and_then(|d| d.message).and_then(|m| m.tool_plan);
                let plan = plan.unwrap_or_default();
                if plan.is_empty() {
                    return Ok(());
                }
                if !self.open.is_some_and(|open| open.kind == Kind::Plan) {
                    self.start(Kind::Plan, None, out);
                }
                self.delta(Kind::Plan, plan, out);
            }
            WireEvent::ToolCallStart { index, delta } => {
                let call = delta.and_then(|d| d.message).and_then(|m| m.tool_calls);
                let Some(call) = call else {
                    return Ok(());
                };
                let function = call.function.unwrap_or_default();
                self.close(out);
                let ir = self.next_index;
                self.next_index += 1;
                self.open = Some(Open {
                    kind: Kind::Tool,
                    vendor: index,
                    index: ir,
                });
                out.push(StreamEvent::BlockStart {
                    index: ir,
                    block: BlockStart::ToolUse {
                        id: call.id,
                        name: function.name.unwrap_or_default(),
                        signature: None,
                    },
                });
                let arguments = match function.arguments {
                    Some(serde_json::Value::String(arguments)) => arguments,
                    Some(serde_json::Value::Object(map)) if !map.is_empty() => {
                        serde_json::Value::Object(map).to_string()
                    }
                    _ => String::new(),
                };
                self.delta(Kind::Tool, arguments, out);
            }
            WireEvent::ToolCallDelta { index, delta } => {
                let arguments = delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_calls)
                    .and_then(|c| c.function)
                    .and_then(|f| f.arguments);
                if self.open.is_some_and(|open| open.is(&[Kind::Tool], index)) {
                    self.delta(Kind::Tool, arguments.unwrap_or_default(), out);
                }
            }
            WireEvent::ToolCallEnd { index } => self.end(&[Kind::Tool], index, out),
            WireEvent::MessageEnd { delta } => {
                let delta = delta.unwrap_or_default();
                if let Some(message) = delta.error.filter(|message| !message.is_empty()) {
                    return self.fail(&message, out);
                }
                self.close(out);
                out.push(StreamEvent::MessageDelta {
                    stop_reason: delta.finish_reason.as_deref().map(stop_reason_from_wire),
                    stop_sequence: None,
                    usage: delta.usage.map(WireUsage::to_ir),
                });
                out.push(StreamEvent::MessageStop);
                self.done = true;
            }
        }
        Ok(())
    }

    /// Closes the open block and opens one of `kind`.
    fn start(&mut self, kind: Kind, vendor: Option<u64>, out: &mut Vec<StreamEvent>) {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(Open {
            kind,
            vendor,
            index,
        });
        let block = match kind {
            Kind::Thinking => BlockStart::Thinking,
            _ => BlockStart::Text,
        };
        out.push(StreamEvent::BlockStart { index, block });
    }

    /// Appends `text` to the open block, which is of `kind`; empty text
    /// says nothing and is not passed on.
    fn delta(&mut self, kind: Kind, text: String, out: &mut Vec<StreamEvent>) {
        let Some(open) = self.open else {
            return;
        };
        if text.is_empty() {
            return;
        }
        let delta = match kind {
            Kind::Text | Kind::Plan => BlockDelta::Text(text),
            Kind::Thinking => BlockDelta::Thinking(text),
            Kind::Tool => BlockDelta::ToolArguments(text),
        };
        out.push(StreamEvent::BlockDelta {
            index: open.index,
            delta,
        });
    }

    /// Closes the open block if it is of one of `kinds` and has `vendor`'s
    /// index.
    fn end(&mut self, kinds: &[Kind], vendor: Option<u64>, out: &mut Vec<StreamEvent>) {
        if self.open.is_some_and(|open| open.is(kinds, vendor)) {
            self.close(out);
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::BlockStop { index: open.index });
        }
    }

    fn fail(&mut self, message: &str, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        self.close(out);
        out.push(StreamEvent::Error(error::from_stream_message(message)));
        self.done = true;
        Ok(())
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
        if self.done {
            Ok(())
        } else {
            Err(DecodeError::Truncated)
        }
    }
}

/// The message of an error frame's data: its `message` when it is a JSON
/// error body, else the text itself.
fn error_message(data: &str) -> String {
    untyped_error(data).unwrap_or_else(|| data.trim().to_owned())
}

/// The `message` of a data object that has one and no `type`.
fn untyped_error(data: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Untyped {
        #[serde(rename = "type", default)]
        kind: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_str::<Untyped>(data) {
        Ok(Untyped {
            kind: None,
            message: Some(message),
        }) => Some(message),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum WireEvent {
    MessageStart {
        #[serde(default)]
        id: Option<String>,
    },
    ContentStart {
        #[serde(default)]
        index: Option<u64>,
        #[serde(default)]
        delta: Option<Delta<ContentMessage>>,
    },
    ContentDelta {
        #[serde(default)]
        index: Option<u64>,
        #[serde(default)]
        delta: Option<Delta<ContentMessage>>,
    },
    ContentEnd {
        #[serde(default)]
        index: Option<u64>,
    },
    ToolPlanDelta {
        #[serde(default)]
        delta: Option<Delta<PlanMessage>>,
    },
    ToolCallStart {
        #[serde(default)]
        index: Option<u64>,
        #[serde(default)]
        delta: Option<Delta<ToolStartMessage>>,
    },
    ToolCallDelta {
        #[serde(default)]
        index: Option<u64>,
        #[serde(default)]
        delta: Option<Delta<ToolDeltaMessage>>,
    },
    ToolCallEnd {
        #[serde(default)]
        index: Option<u64>,
    },
    MessageEnd {
        #[serde(default)]
        delta: Option<EndDelta>,
    },
    /// `citation-start`, `citation-end`, `debug`, and event types newer than
    /// this code.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct Delta<M> {
    // A missing `Option` field is `None` without `default`, which would
    // make serde require `M: Default`.
    message: Option<M>,
}

#[derive(Debug, Deserialize)]
struct ContentMessage {
    #[serde(default)]
    content: Option<ContentPiece>,
}

#[derive(Debug, Default, Deserialize)]
struct ContentPiece {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PlanMessage {
    #[serde(default)]
    tool_plan: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ToolStartMessage {
    #[serde(default)]
    tool_calls: Option<WireToolCall>,
}

#[derive(Debug, Deserialize)]
struct ToolDeltaMessage {
    #[serde(default)]
    tool_calls: Option<ToolDeltaCall>,
}

#[derive(Debug, Deserialize)]
struct ToolDeltaCall {
    #[serde(default)]
    function: Option<ToolDeltaFunction>,
}

#[derive(Debug, Deserialize)]
struct ToolDeltaFunction {
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct EndDelta {
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<String>,
}
