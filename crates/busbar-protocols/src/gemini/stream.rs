//! Gemini streams ⇄ [`StreamEvent`]s.
//!
//! Upstream, `streamGenerateContent?alt=sse` sends `data: <reply chunk>`
//! events and no terminal marker: text comes in increments, a
//! `functionCall` whole in one chunk, `finishReason` on the last chunk and
//! `usageMetadata` (cumulative) on each. Without `alt=sse` the same chunks
//! come as one JSON array. The decoder reads both, telling them apart by the
//! first byte that is not whitespace.

mod array;
mod encode;
#[cfg(test)]
mod tests;

pub use encode::Encoder;

use busbar_ir::{StreamEvent, Usage};

use super::parts::{Events, Folder};
use super::response::WireResponse;
use super::{error, stop_reason_from_wire, WireUsage};
use crate::sse::{self, Handler as _};
use crate::{DecodeError, StreamDecoder};

/// Turns one Gemini stream into IR events.
///
/// The first chunk opens the message (its `responseId` and `modelVersion`
/// name it); parts fold into blocks across chunks as the module docs of
/// `gemini` describe; only candidate 0 is read. An `{"error": …}` chunk
/// ends the stream with [`StreamEvent::Error`].
///
/// Gemini has no terminal marker: the stream is complete when it ends after
/// a chunk that carried a `finishReason` (or a blocked prompt's
/// `promptFeedback`), and the closing events are emitted at
/// [`StreamDecoder::finish`]; a stream ending before is
/// [`DecodeError::Truncated`]. A JSON array cut after its last chunk but
/// before its `]` is complete by the same rule.
#[derive(Debug)]
pub struct Decoder {
    mode: Mode,
    /// Bytes seen before the first non-whitespace one.
    leading: Vec<u8>,
    sse: sse::Driver,
    array: array::Splitter,
    elements: Vec<String>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Undecided,
    Sse,
    Array,
}

/// What the chunks have said so far.
#[derive(Debug)]
struct State {
    started: bool,
    done: bool,
    folder: Folder,
    next_index: usize,
    usage: WireUsage,
    finish_reason: Option<String>,
    blocked: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self {
            mode: Mode::Undecided,
            leading: Vec::new(),
            sse: sse::Driver::default(),
            array: array::Splitter::default(),
            elements: Vec::new(),
            state: State {
                started: false,
                done: false,
                folder: Folder::for_reply(""),
                next_index: 0,
                usage: WireUsage::default(),
                finish_reason: None,
                blocked: false,
            },
        }
    }

    fn feed_mode(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        match self.mode {
            Mode::Sse => self.feed_sse(bytes, out),
            // The array's elements follow the SSE rule on a broken one (see
            // `sse::Handler`): those before it are read, then the error.
            Mode::Array => {
                if self.state.done {
                    return Ok(());
                }
                let mut elements = std::mem::take(&mut self.elements);
                let split = self.array.feed(bytes, &mut elements);
                let read = elements
                    .iter()
                    .try_for_each(|element| self.state.chunk(element, out));
                elements.clear();
                self.elements = elements;
                read?;
                if self.state.done {
                    return Ok(());
                }
                split
            }
            Mode::Undecided => Ok(()),
        }
    }
}

impl State {
    /// Handles one chunk's JSON text.
    fn chunk(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.done || data.trim().is_empty() || data.trim() == "[DONE]" {
            return Ok(());
        }
        if !data.trim_start().starts_with('{') {
            return Err(DecodeError::Stream("a chunk is not a JSON object".into()));
        }
        let chunk: WireResponse = serde_json::from_str(data)?;
        if let Some(error) = chunk.error {
            self.folder.close(&mut Events {
                out,
                next_index: &mut self.next_index,
            });
            out.push(StreamEvent::Error(error::from_stream_value(error)));
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            let id = chunk.response_id.clone().unwrap_or_default();
            self.folder = Folder::for_reply(&id);
            let mut usage = Usage::default();
            if let Some(wire) = chunk.usage_metadata {
                usage.input_tokens = wire.to_ir().input_tokens;
            }
            out.push(StreamEvent::MessageStart {
                id,
                model: chunk.model_version.clone().unwrap_or_default(),
                created: None,
                usage,
            });
        }
        if let Some(usage) = chunk.usage_metadata {
            self.usage = usage;
        }
        let candidates = chunk.candidates.unwrap_or_default();
        if candidates.is_empty()
            && chunk
                .prompt_feedback
                .is_some_and(|f| f.block_reason.is_some())
        {
            self.blocked = true;
        }
        if let Some(mut candidate) = candidates.into_iter().find(|c| c.is_first()) {
            let finish_reason = candidate.finish_reason.take();
            let mut sink = Events {
                out,
                next_index: &mut self.next_index,
            };
            for (i, part) in candidate.parts().into_iter().enumerate() {
                self.folder.part(part, i, &mut sink)?;
            }
            if finish_reason.is_some() {
                self.finish_reason = finish_reason;
            }
        }
        Ok(())
    }

    /// Whether the stream said how it ended.
    fn is_complete(&self) -> bool {
        self.finish_reason.is_some() || self.blocked
    }

    /// Emits the closing events.
    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.folder.close(&mut Events {
            out,
            next_index: &mut self.next_index,
        });
        let stop_reason = match &self.finish_reason {
            Some(reason) => stop_reason_from_wire(reason, self.folder.calls > 0),
            None => Some(busbar_ir::StopReason::ContentFilter),
        };
        out.push(StreamEvent::MessageDelta {
            stop_reason,
            stop_sequence: None,
            usage: Some(self.usage.to_ir()),
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
        self.state.chunk(&event.data, out)
    }

    fn ended(&self) -> bool {
        self.state.done
    }
}

impl StreamDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.mode != Mode::Undecided {
            return self.feed_mode(bytes, out);
        }
        match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
            None => {
                self.leading.extend_from_slice(bytes);
                Ok(())
            }
            Some(first) => {
                self.mode = if bytes[first] == b'[' {
                    Mode::Array
                } else {
                    Mode::Sse
                };
                // Leading whitespace is blank lines to SSE and nothing to an
                // array; either way it is safe to replay.
                let leading = std::mem::take(&mut self.leading);
                self.feed_mode(&leading, out)?;
                self.feed_mode(bytes, out)
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.mode == Mode::Sse {
            self.finish_sse(out)?;
        }
        if self.state.done {
            return Ok(());
        }
        if !self.state.started || !self.state.is_complete() {
            return Err(DecodeError::Truncated);
        }
        self.state.end(out);
        Ok(())
    }
}
