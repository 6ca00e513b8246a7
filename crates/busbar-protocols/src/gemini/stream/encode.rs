//! IR events → a Gemini client stream.

use busbar_ir::{BlockDelta, BlockStart, StopReason, StreamEvent, Usage};
use serde::Serialize;

use crate::gemini::parts::{args_object, valid_signature, OutFunctionCall, OutPart, Side};
use crate::gemini::response::{OutCandidate, OutContent, WireOut};
use crate::gemini::{error, finish_reason_to_wire, UsageOut};
use crate::{ReplyOptions, StreamEncoder};

/// Turns IR events into one Gemini client stream: Server-Sent Events
/// (`data: <chunk>` and a blank line, CRLF line ends, the space after
/// `data:` that google-genai requires), or with
/// [`ReplyOptions::json_array`] one JSON array written element by element.
///
/// Each chunk is a whole reply with the new parts of candidate 0: every text
/// or thinking delta is sent at once; a tool call is sent whole when its
/// block stops, since Gemini never streams partial arguments; a thinking
/// block's signature is sent when it stops, on an empty thought part (or, for
/// a thinking block with no text right after a text block, on an empty text
/// part, where Gemini puts a text's signature). The last chunk carries the
/// `finishReason` (`STOP` when the events named none) and the reply's
/// `usageMetadata`. Every chunk has at least one part, since google-genai's
/// chat sessions drop a turn with an empty chunk. An error is sent as
/// `{"error": …}` and ends the stream.
#[derive(Debug)]
pub struct Encoder {
    json_array: bool,
    elements: usize,
    id: String,
    model: String,
    start_usage: Usage,
    open: Open,
    after_text: bool,
    stop_reason: Option<StopReason>,
    usage: Option<Usage>,
}

#[derive(Debug)]
enum Open {
    Nothing,
    Text,
    Thinking {
        sent_text: bool,
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        signature: Option<String>,
        arguments: String,
    },
}

impl Encoder {
    /// An encoder for one stream; `options.json_array` picks the framing.
    pub fn new(options: &ReplyOptions) -> Self {
        Self {
            json_array: options.json_array,
            elements: 0,
            id: String::new(),
            model: String::new(),
            start_usage: Usage::default(),
            open: Open::Nothing,
            after_text: false,
            stop_reason: None,
            usage: None,
        }
    }

    /// Writes one chunk holding `parts`.
    fn chunk(
        &mut self,
        out: &mut Vec<u8>,
        parts: Vec<OutPart<'_>>,
        finish_reason: Option<&'static str>,
        usage_metadata: Option<UsageOut>,
    ) {
        let chunk = WireOut {
            candidates: [OutCandidate {
                content: OutContent::new(parts),
                finish_reason,
                index: 0,
            }],
            usage_metadata,
            model_version: &self.model,
            response_id: &self.id,
        };
        let (json_array, elements) = (self.json_array, self.elements);
        if write_element(out, json_array, elements, &chunk) {
            self.elements += 1;
        }
    }

    fn block_stop(&mut self, out: &mut Vec<u8>) {
        if matches!(self.open, Open::Nothing) {
            return;
        }
        let open = std::mem::replace(&mut self.open, Open::Nothing);
        let after_text = std::mem::replace(&mut self.after_text, false);
        match open {
            Open::Text => self.after_text = true,
            Open::Thinking {
                sent_text,
                signature,
            } => {
                let Some(signature) =
                    valid_signature(Some(&signature), Side::Client, &mut Vec::new())
                else {
                    return;
                };
                let part = OutPart {
                    text: Some(""),
                    thought: (sent_text || !after_text).then_some(true),
                    thought_signature: Some(signature),
                    ..OutPart::default()
                };
                self.chunk(out, vec![part], None, None);
            }
            Open::ToolUse {
                id,
                name,
                signature,
                arguments,
            } => {
                let part = OutPart {
                    function_call: Some(OutFunctionCall {
                        id: Some(id.as_str()).filter(|id| !id.is_empty()),
                        name: &name,
                        args: args_object(&arguments, &mut Vec::new()),
                    }),
                    thought_signature: valid_signature(
                        signature.as_ref(),
                        Side::Client,
                        &mut Vec::new(),
                    ),
                    ..OutPart::default()
                };
                self.chunk(out, vec![part], None, None);
            }
            _ => {}
        }
    }
}

/// Frames one element: `data: …` + a blank line, or an array element with
/// its opening bracket or separating comma. Returns whether it wrote.
fn write_element<T: Serialize>(
    out: &mut Vec<u8>,
    json_array: bool,
    written: usize,
    data: &T,
) -> bool {
    let start = out.len();
    out.extend_from_slice(match (json_array, written) {
        (false, _) => b"data: ".as_slice(),
        (true, 0) => b"[",
        (true, _) => b",\r\n",
    });
    if serde_json::to_writer(&mut *out, data).is_err() {
        // Unreachable with these types; never leave half a frame behind.
        out.truncate(start);
        return false;
    }
    if !json_array {
        out.extend_from_slice(b"\r\n\r\n");
    }
    true
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::MessageStart {
                id, model, usage, ..
            } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.start_usage = *usage;
            }
            StreamEvent::BlockStart { block, .. } => {
                self.block_stop(out);
                self.open = match block {
                    BlockStart::Text => Open::Text,
                    BlockStart::Thinking => Open::Thinking {
                        sent_text: false,
                        signature: String::new(),
                    },
                    BlockStart::ToolUse {
                        id,
                        name,
                        signature,
                    } => Open::ToolUse {
                        id: id.clone(),
                        name: name.clone(),
                        signature: signature.clone(),
                        arguments: String::new(),
                    },
                    // Redacted thinking has no Gemini form.
                    _ => Open::Nothing,
                };
            }
            StreamEvent::BlockDelta { delta, .. } => match (&mut self.open, delta) {
                (Open::Text, BlockDelta::Text(text)) if !text.is_empty() => {
                    let part = OutPart {
                        text: Some(text),
                        ..OutPart::default()
                    };
                    self.chunk(out, vec![part], None, None);
                }
                (Open::Thinking { sent_text, .. }, BlockDelta::Thinking(text))
                    if !text.is_empty() =>
                {
                    *sent_text = true;
                    let part = OutPart {
                        text: Some(text),
                        thought: Some(true),
                        ..OutPart::default()
                    };
                    self.chunk(out, vec![part], None, None);
                }
                (Open::Thinking { signature, .. }, BlockDelta::ThinkingSignature(piece)) => {
                    signature.push_str(piece)
                }
                (Open::ToolUse { arguments, .. }, BlockDelta::ToolArguments(piece)) => {
                    arguments.push_str(piece)
                }
                _ => {}
            },
            StreamEvent::BlockStop { .. } => self.block_stop(out),
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
            StreamEvent::MessageStop => {
                self.block_stop(out);
                let mut usage = self.start_usage;
                if let Some(later) = &self.usage {
                    usage.merge(later);
                }
                let finish_reason = self
                    .stop_reason
                    .as_ref()
                    .map_or("STOP", finish_reason_to_wire);
                self.chunk(
                    out,
                    Vec::new(),
                    Some(finish_reason),
                    Some(UsageOut::from_ir(&usage)),
                );
            }
            StreamEvent::Error(api_error) => {
                self.open = Open::Nothing;
                let (json_array, elements) = (self.json_array, self.elements);
                if write_element(out, json_array, elements, &error::Body::new(api_error)) {
                    self.elements += 1;
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.json_array {
            if self.elements == 0 {
                out.push(b'[');
            }
            out.push(b']');
        }
    }
}
