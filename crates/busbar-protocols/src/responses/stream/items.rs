//! Output items that open and close IR blocks: function calls, reasoning
//! items, and items whose content arrives only when they are done.

use busbar_ir::{BlockDelta, BlockStart, ContentBlock, StreamEvent};
use serde::Deserialize;
use serde_json::Value;

use super::super::response::{item_type, read_item, WireReasoning};
use super::super::{INVENTED_REDACTED, INVENTED_THINKING, SIGNATURE_PREFIX};
use super::{Decoder, Kind};
use crate::DecodeError;

impl Decoder {
    pub(super) fn item_added(
        &mut self,
        item: &Value,
        output_index: usize,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        match item_type(item) {
            Some("function_call") => {
                let mut blocks = Vec::new();
                self.facts
                    .merge(read_item(item, &mut blocks, output_index)?);
                if let Some(ContentBlock::ToolUse {
                    id,
                    name,
                    arguments,
                    ..
                }) = blocks.pop()
                {
                    let start = BlockStart::ToolUse {
                        id,
                        name,
                        signature: None,
                    };
                    self.open_block(output_index, Kind::Tool, start, out);
                    if !arguments.is_empty() {
                        self.delta(BlockDelta::ToolArguments(arguments), out);
                    }
                }
            }
            Some("reasoning") => {
                let reasoning = WireReasoning::deserialize(item)
                    .map_err(|error| DecodeError::Stream(format!("reasoning item: {error}")))?;
                let id = reasoning.id.unwrap_or_default();
                if id.starts_with(INVENTED_REDACTED) {
                    // Its data is complete only in the done event.
                    self.close_block(out);
                    self.redacted = Some(output_index);
                    return Ok(());
                }
                let invented = id.starts_with(INVENTED_THINKING);
                let kind = Kind::Reasoning {
                    invented,
                    summaries: 0,
                    separate: false,
                };
                self.open_block(output_index, kind, BlockStart::Thinking, out);
                if !invented {
                    // The encrypted content follows in the done event; the
                    // id heads the signature now, pieces being appended.
                    self.push_delta(
                        BlockDelta::ThinkingSignature(format!("{SIGNATURE_PREFIX}{id}:")),
                        out,
                    );
                }
            }
            // A message's blocks open with its content parts; other items
            // have no IR form.
            _ => self.close_block(out),
        }
        Ok(())
    }

    pub(super) fn item_done(
        &mut self,
        item: &Value,
        output_index: usize,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        let kind = item_type(item);
        if kind == Some("reasoning") && self.redacted == Some(output_index) {
            self.redacted = None;
            let mut blocks = Vec::new();
            read_item(item, &mut blocks, output_index)?;
            if let Some(ContentBlock::RedactedThinking { data }) = blocks.pop() {
                self.open_block(
                    output_index,
                    Kind::Whole,
                    BlockStart::RedactedThinking { data },
                    out,
                );
                self.close_block(out);
            }
            return Ok(());
        }
        let open_here = self
            .open
            .as_ref()
            .is_some_and(|open| open.output_index == output_index);
        if !open_here && self.last_item_with_blocks != Some(output_index) {
            // Nothing of this item was streamed: its blocks come whole.
            self.close_block(out);
            let mut blocks = Vec::new();
            self.facts
                .merge(read_item(item, &mut blocks, output_index)?);
            for block in blocks {
                self.whole_block(block, output_index, out);
            }
            return Ok(());
        }
        if !open_here {
            return Ok(());
        }
        match kind {
            Some("function_call") => {
                let mut blocks = Vec::new();
                read_item(item, &mut blocks, output_index)?;
                if let Some(ContentBlock::ToolUse { arguments, .. }) = blocks.pop() {
                    self.fill(BlockDelta::ToolArguments(arguments), out);
                }
            }
            Some("reasoning") => {
                let reasoning = WireReasoning::deserialize(item)
                    .map_err(|error| DecodeError::Stream(format!("reasoning item: {error}")))?;
                if !self.open.as_ref().is_some_and(|open| open.streamed) {
                    let text = reasoning.text();
                    if !text.is_empty() {
                        self.push_delta(BlockDelta::Thinking(text), out);
                    }
                }
                let encrypted = reasoning.encrypted_content.unwrap_or_default();
                if !encrypted.is_empty() {
                    self.push_delta(BlockDelta::ThinkingSignature(encrypted), out);
                }
            }
            _ => {}
        }
        self.close_block(out);
        Ok(())
    }

    /// A block that arrived complete in an item's done event.
    fn whole_block(
        &mut self,
        block: ContentBlock,
        output_index: usize,
        out: &mut Vec<StreamEvent>,
    ) {
        let (start, deltas) = match block {
            ContentBlock::Text { text } => (BlockStart::Text, vec![BlockDelta::Text(text)]),
            ContentBlock::ToolUse {
                id,
                name,
                arguments,
                ..
            } => (
                BlockStart::ToolUse {
                    id,
                    name,
                    signature: None,
                },
                vec![BlockDelta::ToolArguments(arguments)],
            ),
            ContentBlock::Thinking { text, signature } => {
                let mut deltas = vec![BlockDelta::Thinking(text)];
                deltas.extend(signature.map(BlockDelta::ThinkingSignature));
                (BlockStart::Thinking, deltas)
            }
            ContentBlock::RedactedThinking { data } => {
                (BlockStart::RedactedThinking { data }, vec![])
            }
            _ => return,
        };
        self.open_block(output_index, Kind::Whole, start, out);
        for delta in deltas {
            self.push_delta(delta, out);
        }
        self.close_block(out);
    }
}
