//! Chat Completions streams: `data: {chat.completion.chunk}` frames ending in
//! `data: [DONE]`, ⇄ IR [`StreamEvent`]s.
//!
//! The upstream side ([`Decoder`]) tolerates what compatible servers send:
//! `data:` without a space, comments and blank keep-alives, tool-call ids
//! repeated on every fragment, a missing `[DONE]` after a `finish_reason`.
//! The client side ([`Encoder`]) writes exactly what the official SDKs
//! expect: the role in the first chunk, tool calls counted from 0, the usage
//! chunk with empty `choices` only when the client asked for it.

mod encode;
#[cfg(test)]
mod tests;

pub use encode::Encoder;

use std::borrow::Cow;

use busbar_ir::{BlockDelta, BlockStart, StopReason, StreamEvent, Usage};
use serde::Deserialize;
use serde_json::Value;

use super::{choice_stop, error, WireUsage};
use crate::sse::{self, Handler as _};
use crate::{DecodeError, StreamDecoder};

/// Decodes one upstream Chat Completions stream. One value per stream.
///
/// Content, reasoning and each tool call become IR blocks, numbered in the
/// order they open; a block closes when another opens. The stop reason is
/// held until `data: [DONE]`, because the usage chunk arrives after the one
/// carrying `finish_reason`.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: sse::Driver,
    started: bool,
    done: bool,
    /// The open IR block and what it holds.
    open: Option<(usize, Open)>,
    next_block: usize,
    /// Each upstream tool call seen: its OpenAI `index` and id. Only the last
    /// one can be open.
    tool_calls: Vec<(usize, String)>,
    finish_seen: bool,
    stop_reason: Option<StopReason>,
    stop_sequence: Option<String>,
    usage: Option<Usage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// A tool call, by its position in `tool_calls`.
    Tool(usize),
}

impl Decoder {
    /// A decoder for a new stream.
    pub fn new() -> Self {
        Self::default()
    }

    fn frame(&mut self, frame: &sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let data = frame.data.trim();
        if data == "[DONE]" {
            self.complete(out);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        // serde would read a JSON array as a struct of its fields in order.
        if data.starts_with('[') {
            return Err(DecodeError::Stream(format!(
                "expected a JSON object, got `{data:.40}`"
            )));
        }
        let chunk: Chunk<'_> = serde_json::from_str(data)?;
        if let Some(error) = &chunk.error {
            let value = serde_json::json!({ "error": error });
            let error = error::from_value(&value, None).unwrap_or_else(|| {
                busbar_ir::ApiError::new(busbar_ir::ErrorKind::Server, error.to_string())
            });
            out.push(StreamEvent::Error(error));
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.start(
                chunk.id.as_deref().unwrap_or_default(),
                chunk.model.as_deref().unwrap_or_default(),
                chunk.created,
                out,
            );
        }
        // Groq reports usage inside its own `x_groq` object.
        if let Some(usage) = chunk.usage.or(chunk.x_groq.and_then(|groq| groq.usage)) {
            self.usage
                .get_or_insert_with(Usage::default)
                .merge(&usage.into());
        }
        // Choices other than the first (n > 1) have no IR home.
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            if let Some(delta) = choice.delta {
                self.delta(delta, out)?;
            }
            if choice.finish_reason.is_some() {
                let (reason, sequence) =
                    choice_stop(choice.finish_reason.as_deref(), choice.stop_reason.as_ref());
                self.finish_seen = true;
                self.stop_reason = reason;
                self.stop_sequence = sequence;
            }
        }
        Ok(())
    }

    fn start(&mut self, id: &str, model: &str, created: Option<u64>, out: &mut Vec<StreamEvent>) {
        self.started = true;
        out.push(StreamEvent::MessageStart {
            id: id.to_owned(),
            model: model.to_owned(),
            created,
            usage: Usage::default(),
        });
    }

    fn delta(&mut self, delta: Delta<'_>, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if let Some(reasoning) = delta.reasoning_content.or(delta.reasoning) {
            if !reasoning.is_empty() {
                let index = self.ensure(Open::Thinking, BlockStart::Thinking, out);
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::Thinking(reasoning),
                });
            }
        }
        for text in [delta.content, delta.refusal].into_iter().flatten() {
            if !text.is_empty() {
                let index = self.ensure(Open::Text, BlockStart::Text, out);
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::Text(text),
                });
            }
        }
        for call in delta.tool_calls.unwrap_or_default() {
            let function = call.function.unwrap_or_default();
            self.tool_fragment(call.index, call.id, function, out)?;
        }
        // The legacy single `function_call` behaves as tool call 0.
        if let Some(function) = delta.function_call {
            let id = function.name.as_ref().map(|_| Cow::Borrowed("call_0"));
            self.tool_fragment(0, id, function, out)?;
        }
        Ok(())
    }

    fn tool_fragment(
        &mut self,
        openai_index: usize,
        id: Option<Cow<'_, str>>,
        function: FunctionDelta<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        let known = self
            .tool_calls
            .iter()
            .rposition(|(index, _)| *index == openai_index);
        let position = match (known, id) {
            // A fragment repeating its call's id (some vendors send it on
            // every fragment) continues that call.
            (Some(position), Some(id)) if self.tool_calls[position].1 == id => position,
            (_, Some(id)) => {
                self.open_tool(openai_index, id.into_owned(), function.name.as_deref(), out)
            }
            (Some(position), None) => position,
            // A first fragment without an id (some compatible servers omit
            // it): the call gets one.
            (None, None) => {
                let id = format!("call_{openai_index}");
                self.open_tool(openai_index, id, function.name.as_deref(), out)
            }
        };
        let Some(arguments) = function.arguments.filter(|arguments| !arguments.is_empty()) else {
            return Ok(());
        };
        match self.open {
            Some((index, Open::Tool(open))) if open == position => {
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::ToolArguments(arguments.into_owned()),
                });
                Ok(())
            }
            _ => Err(DecodeError::Stream(format!(
                "arguments for tool call {openai_index} arrived after it ended"
            ))),
        }
    }

    fn open_tool(
        &mut self,
        openai_index: usize,
        id: String,
        name: Option<&str>,
        out: &mut Vec<StreamEvent>,
    ) -> usize {
        let position = self.tool_calls.len();
        self.tool_calls.push((openai_index, id.clone()));
        self.open_block(
            Open::Tool(position),
            BlockStart::ToolUse {
                id,
                name: name.unwrap_or_default().to_owned(),
                signature: None,
            },
            out,
        );
        position
    }

    /// The index of the open block of `kind`, opening one if needed.
    fn ensure(&mut self, kind: Open, start: BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        match self.open {
            Some((index, open)) if open == kind => index,
            _ => self.open_block(kind, start, out),
        }
    }

    fn open_block(&mut self, kind: Open, start: BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        self.close_block(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, kind));
        out.push(StreamEvent::BlockStart {
            index,
            block: start,
        });
        index
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    /// The stream is over: closes the open block and reports the stop.
    fn complete(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.start("", "", None, out);
        }
        self.close_block(out);
        out.push(StreamEvent::MessageDelta {
            stop_reason: self.stop_reason.take(),
            stop_sequence: self.stop_sequence.take(),
            usage: self.usage,
        });
        out.push(StreamEvent::MessageStop);
        self.done = true;
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
            return Ok(());
        }
        // No `[DONE]`, but the last choice chunk said how it ended: some
        // compatible servers stop there, and nothing is missing.
        if self.finish_seen {
            self.complete(out);
            return Ok(());
        }
        Err(DecodeError::Truncated)
    }
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    created: Option<u64>,
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    x_groq: Option<Groq>,
}

#[derive(Deserialize)]
struct Groq {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    stop_reason: Option<Value>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
    #[serde(default, borrow)]
    function_call: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default)]
    index: usize,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function: Option<FunctionDelta<'a>>,
}

#[derive(Default, Deserialize)]
struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}
