//! Chat Completions request bodies ⇄ [`Request`].
//!
//! Ingress accepts what current and legacy clients send: content as a string
//! or parts, `max_tokens` or `max_completion_tokens`, `tools` or the legacy
//! `functions`/`function_call`. Egress writes the current form only:
//! `max_completion_tokens`, `tools`, and `stream_options.include_usage`
//! whenever it streams.

use busbar_ir::Request;
use serde_json::Value;

use crate::json::get;
use crate::{DecodeError, Encoded, RequestOptions};

mod decode;
mod encode;

/// Decodes a Chat Completions request body. Unknown fields are ignored;
/// [`unsupported_fields`] names the known ones the IR cannot hold. A field of
/// the wrong type is a [`DecodeError::Invalid`] naming its path
/// (`messages[1].content`).
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    decode::decode(&value)
}

/// Decodes an already parsed request body, for callers that also inspect it
/// with [`unsupported_fields`].
pub fn decode_value(body: &Value) -> Result<Request, DecodeError> {
    decode::decode(body)
}

/// Encodes `request` for an OpenAI-compatible upstream, sending
/// `options.model`. [`Encoded::dropped`] names what Chat Completions cannot
/// express: `thinking` blocks and budget-only reasoning, `top_k`,
/// `tool_result.image`, `tool_result.is_error`.
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    encode::encode(request, options)
}

/// Names the fields of a request body that the caller set but the IR cannot
/// carry, so a translated request silently lacks them: `n` > 1, log
/// probabilities, `logit_bias`, audio output, predicted outputs, web search,
/// `verbosity`, non-function tools and `allowed_tools` restrictions. Fields
/// that change nothing in the reply (`store`, `metadata`, `service_tier`,
/// `prompt_cache_key`, …) are not named.
pub fn unsupported_fields(body: &Value) -> Vec<&'static str> {
    let mut names = Vec::new();
    let Some(body) = body.as_object() else {
        return names;
    };
    if get(body, "n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        names.push("n");
    }
    if get(body, "logprobs") == Some(&Value::Bool(true)) {
        names.push("logprobs");
    }
    for name in [
        "top_logprobs",
        "audio",
        "prediction",
        "web_search_options",
        "verbosity",
    ] {
        if get(body, name).is_some() {
            names.push(name);
        }
    }
    if get(body, "logit_bias")
        .and_then(Value::as_object)
        .is_some_and(|bias| !bias.is_empty())
    {
        names.push("logit_bias");
    }
    if get(body, "modalities")
        .and_then(Value::as_array)
        .is_some_and(|modalities| modalities.iter().any(|m| m == "audio"))
    {
        names.push("modalities");
    }
    if get(body, "tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools
                .iter()
                .any(|tool| tool.get("type").is_some_and(|t| t != "function"))
        })
    {
        names.push("tools");
    }
    if get(body, "tool_choice").and_then(|choice| choice.get("type"))
        == Some(&Value::from("allowed_tools"))
    {
        names.push("tool_choice");
    }
    names
}

#[cfg(test)]
mod tests;
