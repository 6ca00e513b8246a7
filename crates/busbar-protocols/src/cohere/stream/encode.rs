//! IR events → a Cohere client stream.

use busbar_ir::{BlockDelta, BlockStart, StopReason, StreamEvent, Usage};
use serde::Serialize;
use serde_json::Value;

use crate::cohere::request::{OutFunctionCall, OutToolCall};
use crate::cohere::{finish_reason_to_wire, WireUsage};
use crate::{ReplyOptions, StreamEncoder};

/// Turns IR events into one Cohere client stream.
///
/// Every frame has an `event:` line and repeats its type in the data, as
/// Cohere sends them; `message-start` carries the empty message Cohere
/// starts with. Text and thinking blocks are `content-*` events and tool
/// calls `tool-call-*` events, each numbered from 0 on its own; redacted
/// thinking and thinking signatures have no Cohere form and are skipped.
/// Text is never streamed as `tool-plan-delta`, since whether tool calls
/// follow is not known when it starts.
///
/// `message-end` is written at `MessageStop` with the stop reason and the
/// whole reply's usage (input tokens learnt at the start included), then
/// `data: [DONE]` at [`StreamEncoder::finish`]. An IR error becomes a
/// `message-end` with `finish_reason` `ERROR` and the message in
/// `delta.error`, Cohere's own way of failing a stream after the 200.
#[derive(Debug)]
pub struct Encoder {
    start_usage: Usage,
    stop_reason: Option<StopReason>,
    usage: Option<Usage>,
    open: Option<Open>,
    next_content: usize,
    next_tool: usize,
    has_calls: bool,
    ended: bool,
}

/// The Cohere block the open IR block is streamed as.
#[derive(Debug, Clone, Copy)]
enum Open {
    Text(usize),
    Thinking(usize),
    Tool(usize),
    Skipped,
}

impl Encoder {
    /// An encoder for one stream. Cohere streams carry no creation time and
    /// always report usage, so the options change nothing.
    pub fn new(options: &ReplyOptions) -> Self {
        let _ = options;
        Self {
            start_usage: Usage::default(),
            stop_reason: None,
            usage: None,
            open: None,
            next_content: 0,
            next_tool: 0,
            has_calls: false,
            ended: false,
        }
    }

    fn start_block(&mut self, block: &BlockStart, out: &mut Vec<u8>) {
        self.close(out);
        let (open, event) = match block {
            BlockStart::Text | BlockStart::Thinking => {
                let index = self.next_content;
                self.next_content += 1;
                let thinking = matches!(block, BlockStart::Thinking);
                let piece = if thinking {
                    Piece::start("thinking")
                } else {
                    Piece::start("text")
                };
                let open = if thinking {
                    Open::Thinking(index)
                } else {
                    Open::Text(index)
                };
                (
                    open,
                    OutEvent::ContentStart {
                        index,
                        delta: message(piece.into()),
                    },
                )
            }
            BlockStart::ToolUse { id, name, .. } => {
                let index = self.next_tool;
                self.next_tool += 1;
                self.has_calls = true;
                let call = OutToolCall {
                    id,
                    kind: "function",
                    function: OutFunctionCall {
                        name,
                        arguments: "",
                    },
                };
                let delta = message(ToolCalls { tool_calls: call });
                (Open::Tool(index), OutEvent::ToolCallStart { index, delta })
            }
            _ => {
                self.open = Some(Open::Skipped);
                return;
            }
        };
        self.open = Some(open);
        event.write(out);
    }

    fn delta(&mut self, delta: &BlockDelta, out: &mut Vec<u8>) {
        let event = match (self.open, delta) {
            (Some(Open::Text(index)), BlockDelta::Text(text)) => OutEvent::ContentDelta {
                index,
                delta: message(Piece::text(text).into()),
            },
            (Some(Open::Thinking(index)), BlockDelta::Thinking(thinking)) => {
                OutEvent::ContentDelta {
                    index,
                    delta: message(Piece::thinking(thinking).into()),
                }
            }
            (Some(Open::Tool(index)), BlockDelta::ToolArguments(arguments)) => {
                OutEvent::ToolCallDelta {
                    index,
                    delta: message(ToolCalls {
                        tool_calls: ArgumentsOnly {
                            function: Arguments { arguments },
                        },
                    }),
                }
            }
            _ => return,
        };
        event.write(out);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        match self.open.take() {
            Some(Open::Text(index) | Open::Thinking(index)) => {
                OutEvent::ContentEnd { index }.write(out)
            }
            Some(Open::Tool(index)) => OutEvent::ToolCallEnd { index }.write(out),
            _ => {}
        }
    }

    fn end(&mut self, error: Option<&str>, out: &mut Vec<u8>) {
        self.close(out);
        let delta = match error {
            Some(error) => EndDelta {
                error: Some(error),
                finish_reason: "ERROR",
                usage: None,
            },
            None => {
                let mut total = self.start_usage;
                if let Some(usage) = &self.usage {
                    total.merge(usage);
                }
                EndDelta {
                    error: None,
                    finish_reason: finish_reason_to_wire(self.stop_reason.as_ref(), self.has_calls),
                    usage: Some(WireUsage::from_ir(&total)),
                }
            }
        };
        OutEvent::MessageEnd { delta }.write(out);
        self.ended = true;
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::MessageStart { id, usage, .. } => {
                self.start_usage = *usage;
                OutEvent::MessageStart {
                    id,
                    delta: message(StartMessage {
                        role: "assistant",
                        content: &[],
                        tool_plan: "",
                        tool_calls: &[],
                        citations: &[],
                    }),
                }
                .write(out);
            }
            StreamEvent::BlockStart { block, .. } => self.start_block(block, out),
            StreamEvent::BlockDelta { delta, .. } => self.delta(delta, out),
            StreamEvent::BlockStop { .. } => self.close(out),
            StreamEvent::MessageDelta {
                stop_reason, usage, ..
            } => {
                if stop_reason.is_some() {
                    self.stop_reason.clone_from(stop_reason);
                }
                if usage.is_some() {
                    self.usage = *usage;
                }
            }
            StreamEvent::MessageStop => self.end(None, out),
            StreamEvent::Error(error) => self.end(Some(&error.message), out),
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            out.extend_from_slice(b"data: [DONE]\n\n");
        }
    }
}

/// `{"message": inner}`, the `delta` of every Cohere event.
fn message<T>(message: T) -> Message<T> {
    Message { message }
}

#[derive(Debug, Serialize)]
struct Message<T> {
    message: T,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum OutEvent<'a> {
    MessageStart {
        id: &'a str,
        delta: Message<StartMessage>,
    },
    ContentStart {
        index: usize,
        delta: Message<Content<'a>>,
    },
    ContentDelta {
        index: usize,
        delta: Message<Content<'a>>,
    },
    ContentEnd {
        index: usize,
    },
    ToolCallStart {
        index: usize,
        delta: Message<ToolCalls<OutToolCall<'a>>>,
    },
    ToolCallDelta {
        index: usize,
        delta: Message<ToolCalls<ArgumentsOnly<'a>>>,
    },
    ToolCallEnd {
        index: usize,
    },
    MessageEnd {
        delta: EndDelta<'a>,
    },
}

impl OutEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message-start",
            Self::ContentStart { .. } => "content-start",
            Self::ContentDelta { .. } => "content-delta",
            Self::ContentEnd { .. } => "content-end",
            Self::ToolCallStart { .. } => "tool-call-start",
            Self::ToolCallDelta { .. } => "tool-call-delta",
            Self::ToolCallEnd { .. } => "tool-call-end",
            Self::MessageEnd { .. } => "message-end",
        }
    }

    /// Appends `event: NAME`, the data as compact JSON, and the blank line.
    fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        if serde_json::to_writer(&mut *out, self).is_err() {
            // Unreachable with these types (no non-string map keys, no NaN:
            // usage counts are integers); never leave half a frame behind.
            out.truncate(start);
            return;
        }
        out.extend_from_slice(b"\n\n");
    }
}

/// The message Cohere's `message-start` announces: empty, to be filled.
#[derive(Debug, Serialize)]
struct StartMessage {
    role: &'static str,
    content: &'static [Value],
    tool_plan: &'static str,
    tool_calls: &'static [Value],
    citations: &'static [Value],
}

#[derive(Debug, Serialize)]
struct Content<'a> {
    content: Piece<'a>,
}

impl<'a> From<Piece<'a>> for Content<'a> {
    fn from(content: Piece<'a>) -> Self {
        Self { content }
    }
}

/// A content block at its start (`type` and an empty text) or a piece of it.
#[derive(Debug, Serialize)]
struct Piece<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
}

impl<'a> Piece<'a> {
    fn start(kind: &'static str) -> Self {
        let thinking = kind == "thinking";
        Self {
            kind: Some(kind),
            text: (!thinking).then_some(""),
            thinking: thinking.then_some(""),
        }
    }

    fn text(text: &'a str) -> Self {
        Self {
            kind: None,
            text: Some(text),
            thinking: None,
        }
    }

    fn thinking(thinking: &'a str) -> Self {
        Self {
            kind: None,
            text: None,
            thinking: Some(thinking),
        }
    }
}

#[derive(Debug, Serialize)]
struct ToolCalls<T> {
    tool_calls: T,
}

#[derive(Debug, Serialize)]
struct ArgumentsOnly<'a> {
    function: Arguments<'a>,
}

#[derive(Debug, Serialize)]
struct Arguments<'a> {
    arguments: &'a str,
}

#[derive(Debug, Serialize)]
struct EndDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    finish_reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<WireUsage>,
}
