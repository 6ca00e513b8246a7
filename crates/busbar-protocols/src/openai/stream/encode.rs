//! Writing IR events as a client's `chat.completion.chunk` stream.

use busbar_ir::{BlockDelta, BlockStart, StopReason, StreamEvent, Usage};
use serde::Serialize;

use super::super::{error, finish_reason, UsageOut};
use crate::{ReplyOptions, StreamEncoder};

/// Encodes one client's Chat Completions stream. One value per stream.
///
/// Each text or tool-argument delta becomes one chunk, written straight from
/// small borrowed structs. Tool calls are numbered 0, 1, … in the order they
/// start, whatever their IR block index; thinking has no Chat Completions
/// form and is left out.
#[derive(Debug)]
pub struct Encoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    finish_sent: bool,
    /// No event is encoded any more (after `MessageStop` or an error).
    ended: bool,
    errored: bool,
    /// The open tool call: its IR block index and OpenAI tool-call index.
    open_tool: Option<(usize, usize)>,
    tool_calls: usize,
    usage: Usage,
}

impl Encoder {
    /// An encoder for a new stream.
    pub fn new(options: &ReplyOptions) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created: options.created,
            include_usage: options.include_usage,
            started: false,
            finish_sent: false,
            ended: false,
            errored: false,
            open_tool: None,
            tool_calls: 0,
            usage: Usage::default(),
        }
    }

    /// The first chunk carries the role; it also covers events arriving
    /// without a `MessageStart`.
    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            let delta = DeltaOut {
                role: Some("assistant"),
                content: Some(""),
                ..DeltaOut::default()
            };
            self.chunk(out, delta, None);
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: DeltaOut<'_>, finish_reason: Option<&'static str>) {
        let choices = [ChoiceOut {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        }];
        self.write(out, &choices, self.include_usage.then_some(None));
    }

    fn write(&self, out: &mut Vec<u8>, choices: &[ChoiceOut<'_>], usage: Option<Option<UsageOut>>) {
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        out.extend_from_slice(b"data: ");
        // Serialising these borrowed structs into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &chunk);
        out.extend_from_slice(b"\n\n");
    }

    fn finish_chunk(&mut self, stop_reason: Option<&StopReason>, out: &mut Vec<u8>) {
        self.ensure_started(out);
        self.finish_sent = true;
        let reason = finish_reason(stop_reason, self.tool_calls > 0);
        self.chunk(out, DeltaOut::default(), Some(reason));
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::MessageStart {
                id,
                model,
                created,
                usage,
            } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                if let Some(created) = created {
                    self.created = *created;
                }
                self.usage.merge(usage);
                self.ensure_started(out);
            }
            StreamEvent::BlockStart {
                index,
                block: BlockStart::ToolUse { id, name, .. },
            } => {
                self.ensure_started(out);
                let ordinal = self.tool_calls;
                self.tool_calls += 1;
                self.open_tool = Some((*index, ordinal));
                let call = ToolCallOut {
                    index: ordinal,
                    id: Some(id),
                    kind: Some("function"),
                    function: FunctionOut {
                        name: Some(name),
                        arguments: "",
                    },
                };
                let delta = DeltaOut {
                    tool_calls: Some([call]),
                    ..DeltaOut::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::BlockDelta {
                delta: BlockDelta::Text(text),
                ..
            } if !text.is_empty() => {
                self.ensure_started(out);
                let delta = DeltaOut {
                    content: Some(text),
                    ..DeltaOut::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::BlockDelta {
                index,
                delta: BlockDelta::ToolArguments(arguments),
            } if !arguments.is_empty() => {
                // Arguments of a block that is not the open tool call have
                // nowhere to go.
                let Some((_, ordinal)) = self.open_tool.filter(|(open, _)| open == index) else {
                    return;
                };
                let call = ToolCallOut {
                    index: ordinal,
                    id: None,
                    kind: None,
                    function: FunctionOut {
                        name: None,
                        arguments,
                    },
                };
                let delta = DeltaOut {
                    tool_calls: Some([call]),
                    ..DeltaOut::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::BlockStop { index }
                if self.open_tool.is_some_and(|(open, _)| open == *index) =>
            {
                self.open_tool = None;
            }
            StreamEvent::MessageDelta {
                stop_reason, usage, ..
            } => {
                if let Some(usage) = usage {
                    self.usage.merge(usage);
                }
                if !self.finish_sent {
                    self.finish_chunk(stop_reason.as_ref(), out);
                }
            }
            StreamEvent::MessageStop => {
                if !self.finish_sent {
                    self.finish_chunk(None, out);
                }
                if self.include_usage {
                    self.write(out, &[], Some(Some(UsageOut::from(&self.usage))));
                }
                self.ended = true;
            }
            StreamEvent::Error(api_error) => {
                out.extend_from_slice(b"data: ");
                error::write_body(api_error, out);
                out.extend_from_slice(b"\n\n");
                self.ended = true;
                self.errored = true;
            }
            // Thinking, empty deltas and other block starts have no chunk.
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        // An errored stream gets no `[DONE]`: the SDKs raise on the error
        // chunk, and `[DONE]` after it would read as a clean end.
        if !self.errored {
            out.extend_from_slice(b"data: [DONE]\n\n");
        }
    }
}

#[derive(Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChoiceOut<'a>],
    /// Absent unless the client asked for usage; then `null` on every chunk
    /// but the last, as OpenAI sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageOut>>,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    delta: DeltaOut<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Default, Serialize)]
struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}
