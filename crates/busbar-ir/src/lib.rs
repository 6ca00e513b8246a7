//! The intermediate representation every Busbar translation goes through.
//!
//! Six LLM wire protocols (OpenAI Chat Completions, OpenAI Responses,
//! Anthropic Messages, Gemini, Cohere Chat v2 and Bedrock Converse) say
//! nearly the same things in different words. This crate is the superset
//! vocabulary they are all translated into and out of: a decoder for format A
//! produces these types, an encoder for format B consumes them, so N formats
//! need 2·N translators rather than N².
//!
//! # Design
//!
//! * **A superset, not a common denominator.** Every field that two or more
//!   formats can express has a home here: system prompts, multi-turn history,
//!   images, tool definitions and choice, tool calls and results, thinking
//!   blocks with their signatures, stop sequences, sampling numbers, response
//!   formats, usage with cache and reasoning tokens, stop reasons.
//! * **Lossless numbers.** Sampling parameters are `f64` because every wire
//!   format carries JSON numbers and `f32` would turn `0.7` into
//!   `0.699999988079071`.
//! * **Tool arguments stay text.** A tool call's arguments arrive in pieces
//!   while streaming and are only guaranteed to be valid JSON once complete,
//!   so [`ContentBlock::ToolUse`] keeps them as raw JSON text; formats that
//!   need an object parse it at the edge.
//! * **Streams are blocks.** [`StreamEvent`] models a response as a message
//!   holding content blocks opened, extended and closed in order, with one
//!   closing delta carrying the stop reason and usage. Every vendor's stream
//!   maps onto it, with per-stream state kept by the translators.
//! * **No transport.** Nothing here knows HTTP, YAML or any vendor's name.
//!
//! Every public type is `#[non_exhaustive]` so new fields and variants can be
//! added without breaking embedders; build values with the constructors and
//! `Default`.
#![deny(missing_docs)]

mod accumulate;
mod content;
mod error;
mod request;
mod response;
mod stream;
mod usage;

pub use accumulate::StreamAccumulator;
pub use content::{CachePoint, ContentBlock, ImageSource, Message, Role, ToolResultContent};
pub use error::{ApiError, ErrorKind};
pub use request::{Reasoning, Request, ResponseFormat, ThinkingMode, Tool, ToolChoice};
pub use response::{Response, StopReason};
pub use stream::{BlockDelta, BlockStart, StreamEvent};
pub use usage::Usage;
