//! A reply as a stream of events.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::response::StopReason;
use crate::usage::Usage;

/// One event of a streamed reply.
///
/// A well-formed stream is `MessageStart`, then for each content block
/// `BlockStart`, any number of `BlockDelta`s and `BlockStop`, then one
/// `MessageDelta` carrying the stop reason and final usage, then
/// `MessageStop`. Blocks are numbered from 0 in the order they start, and at
/// most one block is open at a time, and a block's deltas are of its own
/// kind (see [`BlockStart`]). An `Error` may arrive at any point and
/// ends the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamEvent {
    /// The reply begins.
    MessageStart {
        /// The vendor's id for the reply.
        id: String,
        /// The model producing it.
        model: String,
        /// Unix seconds when the reply was created, when the vendor says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        created: Option<u64>,
        /// Usage known at the start (input tokens, for vendors that say).
        #[serde(default)]
        usage: Usage,
    },
    /// A content block opens.
    BlockStart {
        /// The block's position in the reply.
        index: usize,
        /// What kind of block it is.
        block: BlockStart,
    },
    /// A content block grows.
    BlockDelta {
        /// The block's position in the reply.
        index: usize,
        /// What is added.
        delta: BlockDelta,
    },
    /// A content block is complete.
    BlockStop {
        /// The block's position in the reply.
        index: usize,
    },
    /// The reply's closing facts.
    MessageDelta {
        /// Why generation stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_reason: Option<StopReason>,
        /// The stop sequence that matched, when one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_sequence: Option<String>,
        /// Cumulative usage for the whole reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
    },
    /// The reply is complete.
    MessageStop,
    /// The vendor reported an error; the stream ends here.
    Error(ApiError),
}

impl StreamEvent {
    /// The usage this event reports, if it reports any. Reports are
    /// cumulative: fold them with [`Usage::merge`].
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            Self::MessageStart { usage, .. } => Some(usage),
            Self::MessageDelta { usage, .. } => usage.as_ref(),
            _ => None,
        }
    }
}

/// The kind of a content block that opens in a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BlockStart {
    /// Text follows in [`BlockDelta::Text`].
    Text,
    /// A tool call; its arguments follow in [`BlockDelta::ToolArguments`].
    ToolUse {
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
        /// An opaque signature to send back unchanged (Gemini).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// Reasoning follows in [`BlockDelta::Thinking`] and
    /// [`BlockDelta::ThinkingSignature`].
    Thinking,
    /// Encrypted reasoning, complete at the start.
    RedactedThinking {
        /// The opaque payload.
        data: String,
    },
}

/// What a [`StreamEvent::BlockDelta`] adds to its block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BlockDelta {
    /// More text.
    Text(String),
    /// More of a tool call's JSON arguments text.
    ToolArguments(String),
    /// More reasoning text.
    Thinking(String),
    /// The reasoning block's signature (sent whole or in pieces, appended).
    ThinkingSignature(String),
}

#[cfg(test)]
mod usage_tests {
    use super::*;

    #[test]
    fn only_start_and_delta_events_report_usage() {
        let usage = Usage::new(3, 4);
        let start = StreamEvent::MessageStart {
            id: "m".into(),
            model: "x".into(),
            created: None,
            usage,
        };
        assert_eq!(start.usage(), Some(&usage));
        let delta = StreamEvent::MessageDelta {
            stop_reason: None,
            stop_sequence: None,
            usage: None,
        };
        assert_eq!(delta.usage(), None);
        assert_eq!(StreamEvent::MessageStop.usage(), None);
    }
}
