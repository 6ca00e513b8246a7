//! A model's complete reply.

use serde::{Deserialize, Serialize};

use crate::content::ContentBlock;
use crate::usage::Usage;

/// A model's complete (non-streamed) reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Response {
    /// The vendor's id for the reply.
    pub id: String,
    /// The model that produced it, as the vendor names it.
    pub model: String,
    /// Unix seconds when the reply was created, when the vendor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// The assistant's content blocks, in order.
    pub content: Vec<ContentBlock>,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that matched, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<String>,
    /// Tokens consumed.
    #[serde(default)]
    pub usage: Usage,
}

impl Response {
    /// A reply with the given id, model and content, and nothing else set.
    pub fn new(
        id: impl Into<String>,
        model: impl Into<String>,
        content: Vec<ContentBlock>,
    ) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            content,
            ..Self::default()
        }
    }

    /// All text blocks concatenated.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(ContentBlock::as_text)
            .collect()
    }

    /// Whether the reply holds at least one tool call.
    pub fn has_tool_use(&self) -> bool {
        self.content
            .iter()
            .any(|block| matches!(block, ContentBlock::ToolUse { .. }))
    }
}

/// Why the model stopped generating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The model finished its turn.
    EndTurn,
    /// The reply hit the token limit.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The model called one or more tools.
    ToolUse,
    /// A safety or content filter stopped the reply.
    ContentFilter,
    /// The model refused.
    Refusal,
    /// The context window filled up.
    ContextWindowExceeded,
    /// The vendor paused a long-running turn (Anthropic `pause_turn`).
    PauseTurn,
    /// The vendor reported an error while generating.
    Error,
    /// A reason no other variant covers, in the vendor's words.
    Other(String),
}
