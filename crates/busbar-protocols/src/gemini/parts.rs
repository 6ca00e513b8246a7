//! Gemini `Part`s ⇄ IR content blocks, shared by requests, replies and
//! streams.
//!
//! [`Folder`] reads a `model` turn's parts in order and reports blocks to a
//! [`Sink`]: [`Blocks`] builds [`ContentBlock`]s (requests, complete
//! replies), [`Events`] emits [`StreamEvent`]s (streams). One folder serves
//! a whole stream, so a text block can span chunks. [`write`] turns blocks
//! back into parts.

use busbar_ir::{BlockDelta, BlockStart, ContentBlock, ImageSource, StreamEvent};
use serde::Deserialize;
use serde_json::Value;

use super::{DERIVED_ID_PREFIX, SKIP_SIGNATURE};
use crate::signature::from_gemini_client;
use crate::DecodeError;

mod write;

pub(super) use write::{
    args_object, image_part, model_parts, valid_signature, OutBlob, OutFunctionCall,
    OutFunctionResponse, OutPart, OutResponsePart, Side,
};

/// A part as Gemini sends it. Kinds the IR does not hold (executable code,
/// server tool calls, …) deserialise with every field empty.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePart {
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) thought: Option<bool>,
    #[serde(default, alias = "thought_signature")]
    pub(super) thought_signature: Option<String>,
    #[serde(default, alias = "function_call")]
    pub(super) function_call: Option<WireFunctionCall>,
    #[serde(default, alias = "inline_data")]
    pub(super) inline_data: Option<WireBlob>,
    #[serde(default, alias = "file_data")]
    pub(super) file_data: Option<WireFileData>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct WireFunctionCall {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireBlob {
    #[serde(default, alias = "mime_type")]
    pub(super) mime_type: Option<String>,
    #[serde(default)]
    pub(super) data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireFileData {
    #[serde(default, alias = "mime_type")]
    pub(super) mime_type: Option<String>,
    #[serde(default, alias = "file_uri")]
    pub(super) file_uri: Option<String>,
}

/// Whether a part's MIME type is one the IR holds as an image (an absent
/// type is taken to be one).
pub(super) fn is_image_type(mime_type: Option<&str>) -> bool {
    mime_type.is_none_or(|mime| mime.starts_with("image/"))
}

impl WirePart {
    /// The part's image, when it holds one.
    pub(super) fn image(&mut self) -> Option<ImageSource> {
        if let Some(blob) = self.inline_data.take() {
            if is_image_type(blob.mime_type.as_deref()) {
                return Some(ImageSource::Base64 {
                    media_type: blob.mime_type.unwrap_or_else(|| "image/png".to_owned()),
                    data: blob.data.unwrap_or_default(),
                });
            }
        }
        if let Some(file) = self.file_data.take() {
            if is_image_type(file.mime_type.as_deref()) {
                return Some(ImageSource::Url {
                    url: file.file_uri.unwrap_or_default(),
                });
            }
        }
        None
    }
}

/// Where a [`Folder`] reports the blocks it reads.
pub(super) trait Sink {
    fn start(&mut self, block: BlockStart);
    fn delta(&mut self, delta: BlockDelta);
    fn stop(&mut self);
    /// An image part (replies from image models; requests). Streams cannot
    /// carry one.
    fn image(&mut self, source: ImageSource);
}

/// Builds content blocks.
#[derive(Debug, Default)]
pub(super) struct Blocks(pub(super) Vec<ContentBlock>);

impl Sink for Blocks {
    fn start(&mut self, block: BlockStart) {
        self.0.push(match block {
            BlockStart::ToolUse {
                id,
                name,
                signature,
            } => ContentBlock::ToolUse {
                id,
                name,
                arguments: String::new(),
                signature,
            },
            BlockStart::Thinking => ContentBlock::thinking("", None),
            _ => ContentBlock::text(""),
        });
    }

    fn delta(&mut self, delta: BlockDelta) {
        match (self.0.last_mut(), delta) {
            (Some(ContentBlock::Text { text }), BlockDelta::Text(more))
            | (Some(ContentBlock::Thinking { text, .. }), BlockDelta::Thinking(more))
            | (
                Some(ContentBlock::ToolUse {
                    arguments: text, ..
                }),
                BlockDelta::ToolArguments(more),
            ) => text.push_str(&more),
            (
                Some(ContentBlock::Thinking { signature, .. }),
                BlockDelta::ThinkingSignature(more),
            ) => signature.get_or_insert_with(String::new).push_str(&more),
            _ => {}
        }
    }

    fn stop(&mut self) {}

    fn image(&mut self, source: ImageSource) {
        self.0.push(ContentBlock::image(source));
    }
}

/// Emits stream events, numbering blocks from `next_index`.
pub(super) struct Events<'a> {
    pub(super) out: &'a mut Vec<StreamEvent>,
    pub(super) next_index: &'a mut usize,
}

impl Sink for Events<'_> {
    fn start(&mut self, block: BlockStart) {
        self.out.push(StreamEvent::BlockStart {
            index: *self.next_index,
            block,
        });
    }

    fn delta(&mut self, delta: BlockDelta) {
        self.out.push(StreamEvent::BlockDelta {
            index: *self.next_index,
            delta,
        });
    }

    fn stop(&mut self) {
        self.out.push(StreamEvent::BlockStop {
            index: *self.next_index,
        });
        *self.next_index += 1;
    }

    fn image(&mut self, source: ImageSource) {
        let _ = source;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    Text,
    Thinking,
}

/// How a [`Folder`] names calls that carry no id.
#[derive(Debug, Clone)]
pub(super) enum Ids {
    /// `gcall_{content}_{part}`: a turn of a request.
    Request { content: usize },
    /// `gcall_{prefix}{n}`, counting the reply's calls: a reply or stream.
    Reply { prefix: String },
}

/// Folds a turn's parts into blocks (see the module docs of `gemini`).
#[derive(Debug)]
pub(super) struct Folder {
    open: Open,
    ids: Ids,
    /// Calls read so far.
    pub(super) calls: usize,
}

impl Folder {
    pub(super) fn new(ids: Ids) -> Self {
        Self {
            open: Open::Nothing,
            ids,
            calls: 0,
        }
    }

    /// A folder for a reply with this `responseId`.
    pub(super) fn for_reply(response_id: &str) -> Self {
        let prefix = if response_id.is_empty() {
            String::new()
        } else {
            format!("{response_id}_")
        };
        Self::new(Ids::Reply { prefix })
    }

    /// Reads one part; `position` is its index in its turn.
    pub(super) fn part<S: Sink>(
        &mut self,
        mut part: WirePart,
        position: usize,
        sink: &mut S,
    ) -> Result<(), DecodeError> {
        // A client's signature Busbar wrapped comes back as its origin's.
        let signature = part
            .thought_signature
            .take()
            .filter(|s| !s.is_empty() && s != SKIP_SIGNATURE)
            .map(|s| from_gemini_client(&s).into_owned());
        if let Some(call) = part.function_call.take() {
            self.close(sink);
            let id = match call.id.filter(|id| !id.is_empty()) {
                Some(id) => id,
                None => self.derived_id(position),
            };
            self.calls += 1;
            sink.start(BlockStart::ToolUse {
                id,
                name: call.name.unwrap_or_default(),
                signature,
            });
            sink.delta(BlockDelta::ToolArguments(arguments_text(call.args)?));
            sink.stop();
            return Ok(());
        }
        if let Some(text) = part.text.take() {
            if part.thought == Some(true) {
                if !text.is_empty() || signature.is_some() {
                    self.open_as(Open::Thinking, sink);
                    if !text.is_empty() {
                        sink.delta(BlockDelta::Thinking(text));
                    }
                    if let Some(signature) = signature {
                        sink.delta(BlockDelta::ThinkingSignature(signature));
                        self.close(sink);
                    }
                }
                return Ok(());
            }
            if !text.is_empty() {
                self.open_as(Open::Text, sink);
                sink.delta(BlockDelta::Text(text));
            }
        } else if let Some(image) = part.image() {
            self.close(sink);
            sink.image(image);
        }
        if let Some(signature) = signature {
            // A signature on text (or on a part the IR does not hold) has no
            // field of its own: it becomes an empty thinking block after it.
            self.close(sink);
            sink.start(BlockStart::Thinking);
            sink.delta(BlockDelta::ThinkingSignature(signature));
            sink.stop();
        }
        Ok(())
    }

    /// Closes the open text or thinking block, if any.
    pub(super) fn close<S: Sink>(&mut self, sink: &mut S) {
        if self.open != Open::Nothing {
            sink.stop();
            self.open = Open::Nothing;
        }
    }

    fn open_as<S: Sink>(&mut self, kind: Open, sink: &mut S) {
        if self.open == kind {
            return;
        }
        self.close(sink);
        sink.start(match kind {
            Open::Thinking => BlockStart::Thinking,
            _ => BlockStart::Text,
        });
        self.open = kind;
    }

    fn derived_id(&self, position: usize) -> String {
        match &self.ids {
            Ids::Request { content } => format!("{DERIVED_ID_PREFIX}{content}_{position}"),
            Ids::Reply { prefix } => format!("{DERIVED_ID_PREFIX}{prefix}{}", self.calls),
        }
    }
}

/// A call's `args` as the IR's arguments text: compact JSON, `{}` when
/// absent.
fn arguments_text(args: Option<Value>) -> Result<String, DecodeError> {
    match args {
        Some(args) if !args.is_null() => Ok(serde_json::to_string(&args)?),
        _ => Ok("{}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(parts: Value) -> Vec<ContentBlock> {
        let parts: Vec<WirePart> = serde_json::from_value(parts).unwrap();
        let mut folder = Folder::for_reply("resp");
        let mut sink = Blocks::default();
        for (i, part) in parts.into_iter().enumerate() {
            folder.part(part, i, &mut sink).unwrap();
        }
        folder.close(&mut sink);
        sink.0
    }

    #[test]
    fn adjacent_text_and_thought_parts_fold_into_one_block_each() {
        let blocks = fold(serde_json::json!([
            {"text": "Let ", "thought": true},
            {"text": "me see.", "thought": true, "thoughtSignature": "c2ln"},
            {"text": "Hello"},
            {"text": ", world", "thoughtSignature": "dGV4dA=="},
            {"text": "!"},
            {"text": ""}
        ]));
        assert_eq!(
            blocks,
            vec![
                ContentBlock::thinking("Let me see.", Some("c2ln".into())),
                ContentBlock::text("Hello, world"),
                ContentBlock::thinking("", Some("dGV4dA==".into())),
                ContentBlock::text("!"),
            ]
        );
    }

    #[test]
    fn calls_take_their_id_or_a_derived_one_and_their_signature() {
        let blocks = fold(serde_json::json!([
            {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"id": "call_9", "name": "b"}},
            {"function_call": {"name": "c", "args": {}}, "thought_signature": SKIP_SIGNATURE}
        ]));
        let mut first = ContentBlock::tool_use("gcall_resp_0", "a", r#"{"x":1}"#);
        if let ContentBlock::ToolUse { signature, .. } = &mut first {
            *signature = Some("c2ln".into());
        }
        assert_eq!(
            blocks,
            vec![
                first,
                ContentBlock::tool_use("call_9", "b", "{}"),
                ContentBlock::tool_use("gcall_resp_2", "c", "{}"),
            ]
        );
        let mut folder = Folder::new(Ids::Request { content: 3 });
        let mut sink = Blocks::default();
        folder
            .part(
                serde_json::from_value(serde_json::json!({"functionCall": {"name": "f"}})).unwrap(),
                4,
                &mut sink,
            )
            .unwrap();
        assert!(matches!(&sink.0[0], ContentBlock::ToolUse { id, .. } if id == "gcall_3_4"));
    }

    #[test]
    fn images_fold_and_other_media_are_skipped() {
        let blocks = fold(serde_json::json!([
            {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x/y.jpg"}},
            {"executableCode": {"language": "PYTHON", "code": "1"}}
        ]));
        assert_eq!(
            blocks,
            vec![
                ContentBlock::image(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBO".into()
                }),
                ContentBlock::image(ImageSource::Url {
                    url: "https://x/y.jpg".into()
                }),
            ]
        );
    }
}
