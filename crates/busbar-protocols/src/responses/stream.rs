//! Responses streams: typed Server-Sent Events, each an `event: TYPE` line
//! and data repeating the `type` with a rising `sequence_number`, ⇄ IR
//! [`StreamEvent`]s.
//!
//! A reply streams as `response.created`, `response.in_progress`, then per
//! output item `response.output_item.added`, its content events
//! (`response.content_part.added`, `response.output_text.delta`…,
//! `response.function_call_arguments.delta`…,
//! `response.reasoning_summary_text.delta`…) and `response.output_item.done`,
//! and finally `response.completed`, `response.incomplete` or
//! `response.failed`, each carrying the whole response object. An `error`
//! event may also end a stream.
//!
//! The upstream side ([`Decoder`]) also reads content that arrives only in
//! done events. The client side ([`Encoder`]) writes what the official SDK's
//! stream helper checks: `response.created` first, `output_index` counting
//! items as they were added, `content_index` counting a message's parts,
//! and an IR error as `response.failed` with a code from the SDK's list.

mod encode;
mod items;
#[cfg(test)]
mod tests;
mod wire;

pub use encode::Encoder;

use busbar_ir::{BlockDelta, BlockStart, StreamEvent, Usage};
use serde_json::Value;

use super::error::from_stream;
use super::response::{item_type, Facts, WireResponse};
use crate::sse::{self, Handler as _};
use crate::{DecodeError, StreamDecoder};

use wire::{is_known, Event, Head, WirePart};

/// Decodes one upstream Responses stream. One value per stream.
///
/// Each text content part, function call and reasoning item becomes one IR
/// block, numbered in the order they open; a block closes when its part or
/// item is done (or another opens). The stream ends at `response.completed`,
/// `response.incomplete`, `response.failed` or `error`; anything else at the
/// end is a truncation. Event types Busbar does not know (built-in tool
/// progress, annotations, audio) are skipped.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: sse::Driver,
    started: bool,
    done: bool,
    open: Option<Open>,
    next_block: usize,
    /// The last output item that produced a block, so that an item whose
    /// content arrives only in `response.output_item.done` is not read twice.
    last_item_with_blocks: Option<usize>,
    /// A redacted reasoning item (one Busbar invented) waiting for its done
    /// event, which carries its data: its output index.
    redacted: Option<usize>,
    facts: Facts,
}

/// The open IR block and where its content comes from.
#[derive(Debug)]
struct Open {
    index: usize,
    output_index: usize,
    kind: Kind,
    /// Whether any content arrived in deltas (else a done event supplies it).
    streamed: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Text {
        content_index: usize,
    },
    Tool,
    Reasoning {
        /// Whether the item id is one Busbar invented, so the signature is
        /// the encrypted content alone.
        invented: bool,
        /// Summary parts seen; text of a later one starts after a blank line.
        summaries: usize,
        /// A new summary part began and its first text is still to come.
        separate: bool,
    },
    /// A block that arrived complete and closes at once.
    Whole,
}

impl Decoder {
    /// A decoder for a new stream.
    pub fn new() -> Self {
        Self::default()
    }

    fn frame(&mut self, frame: &sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let data = frame.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        // serde would read a JSON array as a struct of its fields in order.
        if !data.starts_with('{') {
            return Err(DecodeError::Stream(format!(
                "expected a JSON object, got `{data:.40}`"
            )));
        }
        let event: Event = match serde_json::from_str(data) {
            Ok(event) => event,
            // An event Busbar does not know may use a known field name for
            // something else; only known events must parse.
            Err(error) => {
                let head: Head = serde_json::from_str(data)?;
                let kind = head.kind.or_else(|| frame.event.clone());
                if kind.as_deref().is_some_and(is_known) {
                    return Err(error.into());
                }
                return Ok(());
            }
        };
        let kind = event.kind.clone().or_else(|| frame.event.clone());
        self.event(kind.as_deref().unwrap_or_default(), event, out)
    }

    fn event(
        &mut self,
        kind: &str,
        event: Event,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        match kind {
            "response.created" | "response.in_progress" | "response.queued" => {
                self.start(event.response.as_ref(), out);
            }
            "response.output_item.added" => {
                self.start(None, out);
                let Some(item) = &event.item else {
                    return Ok(());
                };
                self.item_added(item, event.output_index.unwrap_or(0), out)?;
            }
            "response.content_part.added" => {
                self.start(None, out);
                let part = event.part.as_ref();
                if part.and_then(|part| part.kind.as_deref()) == Some("refusal") {
                    self.facts.refusal = true;
                }
                let output_index = event.output_index.unwrap_or(0);
                let content_index = event.content_index.unwrap_or(0);
                self.open_block(
                    output_index,
                    Kind::Text { content_index },
                    BlockStart::Text,
                    out,
                );
                if let Some(text) = part.and_then(WirePart::text) {
                    self.delta(BlockDelta::Text(text.to_owned()), out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                if kind == "response.refusal.delta" {
                    self.facts.refusal = true;
                }
                let text = event.delta.unwrap_or_default();
                if !text.is_empty() {
                    self.text_block(event.output_index, event.content_index, out);
                    self.delta(BlockDelta::Text(text), out);
                }
            }
            "response.output_text.done" | "response.refusal.done" => {
                let text = event.text.or(event.refusal).unwrap_or_default();
                self.text_done(event.output_index, event.content_index, text, out);
            }
            "response.content_part.done" => {
                let text = event
                    .part
                    .as_ref()
                    .and_then(WirePart::text)
                    .unwrap_or_default()
                    .to_owned();
                self.text_done(event.output_index, event.content_index, text, out);
                if self.is_open(event.output_index, |kind| matches!(kind, Kind::Text { .. })) {
                    self.close_block(out);
                }
            }
            "response.function_call_arguments.delta" => {
                let arguments = event.delta.unwrap_or_default();
                if arguments.is_empty() {
                    return Ok(());
                }
                if !self.is_open(event.output_index, |kind| *kind == Kind::Tool) {
                    return Err(DecodeError::Stream(format!(
                        "arguments for output item {} arrived outside its function call",
                        event.output_index.unwrap_or(0)
                    )));
                }
                self.delta(BlockDelta::ToolArguments(arguments), out);
            }
            "response.function_call_arguments.done"
                if self.is_open(event.output_index, |kind| *kind == Kind::Tool) =>
            {
                self.fill(
                    BlockDelta::ToolArguments(event.arguments.unwrap_or_default()),
                    out,
                );
            }
            "response.reasoning_summary_part.added" => {
                if let Some(Open {
                    kind:
                        Kind::Reasoning {
                            summaries,
                            separate,
                            ..
                        },
                    ..
                }) = &mut self.open
                {
                    *separate = *summaries > 0;
                    *summaries += 1;
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let text = event.delta.unwrap_or_default();
                if self.is_open(event.output_index, |kind| {
                    matches!(kind, Kind::Reasoning { .. })
                }) {
                    self.thinking(text, out);
                }
            }
            "response.reasoning_summary_text.done" => {
                let text = event.text.unwrap_or_default();
                if self.is_open(event.output_index, |kind| {
                    matches!(kind, Kind::Reasoning { .. })
                }) && !self.open.as_ref().is_some_and(|open| open.streamed)
                {
                    self.thinking(text, out);
                }
            }
            "response.output_item.done" => {
                let Some(item) = &event.item else {
                    return Ok(());
                };
                self.item_done(item, event.output_index.unwrap_or(0), out)?;
            }
            "response.completed" | "response.incomplete" => {
                self.start(event.response.as_ref(), out);
                self.close_block(out);
                let response = event.response.unwrap_or_default();
                // Function calls seen only in the final object count too.
                if response
                    .output
                    .iter()
                    .any(|item| item_type(item) == Some("function_call"))
                {
                    self.facts.tool_calls = true;
                }
                out.push(StreamEvent::MessageDelta {
                    stop_reason: response.stop_reason(self.facts),
                    stop_sequence: None,
                    usage: response.usage.map(Usage::from),
                });
                out.push(StreamEvent::MessageStop);
                self.done = true;
            }
            "response.failed" => {
                let error = event
                    .response
                    .and_then(|response| response.error)
                    .unwrap_or_default();
                let message = error
                    .message
                    .unwrap_or_else(|| "the upstream response failed".to_owned());
                out.push(StreamEvent::Error(from_stream(
                    error.code.as_deref(),
                    &message,
                    None,
                )));
                self.done = true;
            }
            "error" => {
                let code = match &event.code {
                    Some(Value::String(code)) => Some(code.clone()),
                    Some(Value::Number(number)) => Some(number.to_string()),
                    _ => None,
                };
                let message = event
                    .message
                    .unwrap_or_else(|| "the upstream stream failed".to_owned());
                out.push(StreamEvent::Error(from_stream(
                    code.as_deref(),
                    &message,
                    event.param.as_deref(),
                )));
                self.done = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn start(&mut self, response: Option<&WireResponse>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(StreamEvent::MessageStart {
            id: response.and_then(|r| r.id.clone()).unwrap_or_default(),
            model: response.and_then(|r| r.model.clone()).unwrap_or_default(),
            created: response.and_then(WireResponse::created),
            usage: Usage::default(),
        });
    }

    /// Makes sure a text block is open for the given content part.
    fn text_block(
        &mut self,
        output_index: Option<usize>,
        content_index: Option<usize>,
        out: &mut Vec<StreamEvent>,
    ) {
        let content_index = content_index.unwrap_or(0);
        let matches = self.open.as_ref().is_some_and(|open| {
            output_index.is_none_or(|index| index == open.output_index)
                && open.kind == Kind::Text { content_index }
        });
        if !matches {
            let output_index = output_index
                .or(self.open.as_ref().map(|open| open.output_index))
                .unwrap_or(0);
            self.open_block(
                output_index,
                Kind::Text { content_index },
                BlockStart::Text,
                out,
            );
        }
    }

    /// A text part is done: its text, when none was streamed.
    fn text_done(
        &mut self,
        output_index: Option<usize>,
        content_index: Option<usize>,
        text: String,
        out: &mut Vec<StreamEvent>,
    ) {
        let part = Kind::Text {
            content_index: content_index.unwrap_or(0),
        };
        let streamed = self.is_open(output_index, |kind| *kind == part)
            && self.open.as_ref().is_some_and(|open| open.streamed);
        if text.is_empty() || streamed {
            return;
        }
        self.text_block(output_index, content_index, out);
        self.delta(BlockDelta::Text(text), out);
    }

    fn thinking(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        let separate = match &mut self.open {
            Some(Open {
                kind: Kind::Reasoning { separate, .. },
                ..
            }) => std::mem::take(separate),
            _ => false,
        };
        let text = if separate {
            format!("\n\n{text}")
        } else {
            text
        };
        self.delta(BlockDelta::Thinking(text), out);
    }

    /// Whether the open block belongs to `output_index` (when given) and is
    /// of a kind `accept` takes.
    fn is_open(&self, output_index: Option<usize>, accept: impl Fn(&Kind) -> bool) -> bool {
        self.open.as_ref().is_some_and(|open| {
            output_index.is_none_or(|index| index == open.output_index) && accept(&open.kind)
        })
    }

    /// A delta carrying content for the open block.
    fn delta(&mut self, delta: BlockDelta, out: &mut Vec<StreamEvent>) {
        if let Some(open) = &mut self.open {
            open.streamed = true;
        }
        self.push_delta(delta, out);
    }

    /// The full content from a done event, when none was streamed.
    fn fill(&mut self, delta: BlockDelta, out: &mut Vec<StreamEvent>) {
        let empty = match &delta {
            BlockDelta::Text(text)
            | BlockDelta::ToolArguments(text)
            | BlockDelta::Thinking(text) => text.is_empty(),
            _ => false,
        };
        if !empty && !self.open.as_ref().is_some_and(|open| open.streamed) {
            self.delta(delta, out);
        }
    }

    fn push_delta(&mut self, delta: BlockDelta, out: &mut Vec<StreamEvent>) {
        if let Some(open) = &self.open {
            out.push(StreamEvent::BlockDelta {
                index: open.index,
                delta,
            });
        }
    }

    fn open_block(
        &mut self,
        output_index: usize,
        kind: Kind,
        start: BlockStart,
        out: &mut Vec<StreamEvent>,
    ) {
        // However out of order the upstream's events, a block never opens
        // before the message does.
        self.start(None, out);
        self.close_block(out);
        if matches!(start, BlockStart::ToolUse { .. }) {
            self.facts.tool_calls = true;
        }
        let index = self.next_block;
        self.next_block += 1;
        self.last_item_with_blocks = Some(output_index);
        out.push(StreamEvent::BlockStart {
            index,
            block: start,
        });
        self.open = Some(Open {
            index,
            output_index,
            kind,
            streamed: false,
        });
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::BlockStop { index: open.index });
        }
    }
}

impl sse::Handler for Decoder {
    fn driver(&mut self) -> &mut sse::Driver {
        &mut self.sse
    }

    fn event(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        self.frame(event, out)
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
