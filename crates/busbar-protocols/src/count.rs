//! Token counting: the vendors' counting endpoints, and Busbar's own
//! estimate for the formats that have none.
//!
//! Four formats can count a prompt without generating a reply, each at its
//! own endpoint and in its own words:
//!
//! | format | endpoint | request | reply |
//! |---|---|---|---|
//! | Anthropic | `POST /v1/messages/count_tokens` | a Messages body without `max_tokens` | `{"input_tokens": N}` |
//! | Gemini | `POST /v1beta/models/M:countTokens` | `{"contents"}` or `{"generateContentRequest": {…}}` | `{"totalTokens": N}` |
//! | Responses | `POST /v1/responses/input_tokens` | a Responses body | `{"object": "response.input_tokens", "input_tokens": N}` |
//! | Bedrock | `POST /model/M/count-tokens` | `{"input": {"converse": {…}}}` | `{"inputTokens": N}` |
//!
//! Each of those format modules has a `count` module of the same shape:
//! `decode_request` (a count request into the IR), `encode_request` (the IR
//! as that format's count request), `decode_reply` (the count out of the
//! vendor's reply) and `encode_reply` (a count as the vendor writes it).
//! [`Protocol`] dispatches to them. OpenAI Chat Completions and Cohere have
//! no counting endpoint: for them [`Protocol::encode_count_request`] is
//! `None` and a caller answers with [`estimate`].
//!
//! # The estimate
//!
//! [`estimate`] is deliberately simple and stable, so callers can rely on
//! it and tests can pin it. It is the sum of:
//!
//! * one token per four characters (Unicode scalar values), rounded up, of
//!   all the prompt's text: text and thinking blocks, each tool call's name
//!   and arguments, the text of tool results, and each tool's name,
//!   description and parameter schema (as compact JSON);
//! * [`MESSAGE_OVERHEAD`] tokens per message (system messages included) and
//!   [`TOOL_OVERHEAD`] per tool, for the role and framing tokens every
//!   vendor adds;
//! * [`IMAGE_TOKENS`] per image, wherever it appears.
//!
//! Signatures, redacted thinking and cache points are opaque or free and
//! count nothing. Four characters a token is about right for English prose
//! and code with the vendors' tokenizers; it undercounts text in scripts
//! such as Chinese or Japanese.

use busbar_ir::{ContentBlock, Request, ToolResultContent};
use serde_json::Value;

use crate::dialect::{named, DecodedRequest, Encoded, Protocol, RequestOptions};
use crate::error::DecodeError;

/// Tokens added per message by [`estimate`].
pub const MESSAGE_OVERHEAD: u64 = 4;

/// Tokens added per tool definition by [`estimate`].
pub const TOOL_OVERHEAD: u64 = 4;

/// Tokens counted per image by [`estimate`].
pub const IMAGE_TOKENS: u64 = 1000;

/// Busbar's estimate of a request's input tokens (see the module
/// documentation for the rule).
pub fn estimate(request: &Request) -> u64 {
    let mut chars: u64 = 0;
    let mut images: u64 = 0;
    let mut add = |text: &str| chars += text.chars().count() as u64;
    for message in &request.messages {
        for block in &message.content {
            match block {
                ContentBlock::Text { text } | ContentBlock::Thinking { text, .. } => add(text),
                ContentBlock::ToolUse {
                    name, arguments, ..
                } => {
                    add(name);
                    add(arguments);
                }
                ContentBlock::ToolResult { content, .. } => {
                    for piece in content {
                        match piece {
                            ToolResultContent::Text { text } => add(text),
                            ToolResultContent::Image { .. } => images += 1,
                            _ => {}
                        }
                    }
                }
                ContentBlock::Image { .. } => images += 1,
                _ => {}
            }
        }
    }
    for tool in &request.tools {
        add(&tool.name);
        if let Some(description) = &tool.description {
            add(description);
        }
        if !tool.parameters.is_null() {
            add(&tool.parameters.to_string());
        }
    }
    let messages = request.messages.len() as u64;
    let tools = request.tools.len() as u64;
    chars.div_ceil(4) + messages * MESSAGE_OVERHEAD + tools * TOOL_OVERHEAD + images * IMAGE_TOKENS
}

impl Protocol {
    /// Whether the format has a token-counting endpoint.
    pub fn counts_tokens(self) -> bool {
        self.wire().counts_tokens()
    }

    /// Decodes a token-count request of this format into the IR. OpenAI Chat
    /// and Cohere have no count request; their generation body is read.
    pub fn decode_count_request(self, body: &[u8]) -> Result<DecodedRequest, DecodeError> {
        self.decode_count_request_named(body, None)
    }

    /// [`decode_count_request`](Self::decode_count_request) for a request
    /// whose path named `model` (see [`Protocol::decode_request_named`]).
    pub fn decode_count_request_named(
        self,
        body: &[u8],
        model: Option<&str>,
    ) -> Result<DecodedRequest, DecodeError> {
        let value = named(serde_json::from_slice(body)?, model);
        match self.wire().decode_count_request(&value) {
            Some(decoded) => decoded,
            None => self.decode_request_named(body, model),
        }
    }

    /// The request for this format's counting endpoint; `None` when the
    /// format has none.
    pub fn encode_count_request(
        self,
        request: &Request,
        options: &RequestOptions,
    ) -> Option<Encoded> {
        self.wire().encode_count_request(request, options)
    }

    /// The count in a reply from this format's counting endpoint.
    pub fn decode_count_reply(self, body: &[u8]) -> Result<u64, DecodeError> {
        self.wire().decode_count_reply(body).unwrap_or_else(|| {
            Err(DecodeError::invalid(
                "",
                format!("{} has no token-counting endpoint", self.name()),
            ))
        })
    }

    /// A count as this format's counting endpoint replies it. OpenAI Chat
    /// and Cohere, which have none, get Anthropic's `{"input_tokens": N}`.
    pub fn encode_count_reply(self, tokens: u64) -> Vec<u8> {
        self.wire()
            .encode_count_reply(tokens)
            .or_else(|| Protocol::Anthropic.wire().encode_count_reply(tokens))
            .unwrap_or_default()
    }
}

/// `body` (JSON an encoder of this crate wrote) as an object holding only
/// `fields`, in their original order.
pub(crate) fn keep_fields(body: &[u8], fields: &[&str]) -> serde_json::Map<String, Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut object)) => {
            object.retain(|key, _| fields.contains(&key.as_str()));
            object
        }
        _ => serde_json::Map::new(),
    }
}

/// The non-negative integer at `field` of a count reply.
pub(crate) fn read_count(body: &[u8], field: &str) -> Result<u64, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    match value.get(field) {
        Some(number) => number
            .as_u64()
            .ok_or_else(|| DecodeError::invalid(field, "must be a non-negative integer")),
        None => Err(DecodeError::invalid(field, "is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use busbar_ir::{Message, Role, Tool};

    #[test]
    fn the_estimate_is_characters_over_four_plus_overheads() {
        // "hello world": 11 characters → 3 tokens, plus one message.
        let request = Request::new("m", vec![Message::text(Role::User, "hello world")]);
        assert_eq!(estimate(&request), 3 + MESSAGE_OVERHEAD);
        let mut request = Request::new(
            "m",
            vec![
                Message::text(Role::System, "abcd"),
                Message::text(Role::User, "é"),
            ],
        );
        // 5 characters (é is one) → 2 tokens, plus two messages.
        assert_eq!(estimate(&request), 2 + 2 * MESSAGE_OVERHEAD);
        request
            .tools
            .push(Tool::new("f", None, serde_json::json!({"type": "object"})));
        // + "f" and `{"type":"object"}` (17): 5 + 1 + 17 = 23 → 6, plus one tool.
        assert_eq!(estimate(&request), 6 + 2 * MESSAGE_OVERHEAD + TOOL_OVERHEAD);
    }

    #[test]
    fn an_empty_request_counts_nothing() {
        assert_eq!(estimate(&Request::default()), 0);
    }
}
