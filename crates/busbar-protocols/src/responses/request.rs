//! Responses request bodies ⇄ [`Request`].
//!
//! Ingress reads `input` as a string or a list of items: messages (any role,
//! content as a string or parts), `function_call`, `function_call_output` and
//! `reasoning` items. Consecutive assistant-side items (reasoning, assistant
//! messages, function calls) form one IR assistant turn; consecutive
//! `function_call_output` items, and a user message right after them, form
//! one IR user turn with the tool results first.
//!
//! Egress writes `instructions` (the first system part; later parts become
//! `developer` messages), one item per IR block, and `strict: false` on tools
//! that did not ask for strictness (Responses would otherwise make them
//! strict).

use busbar_ir::Request;
use serde_json::Value;

use crate::json::get;
use crate::{DecodeError, Encoded, RequestOptions};

mod decode;
mod encode;

/// The names of the request's `namespace` tools, for
/// [`crate::ReplyOptions::tool_namespaces`].
pub fn tool_namespaces(body: &Value) -> Vec<String> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|tool| tool.get("type").and_then(Value::as_str) == Some("namespace"))
        .filter_map(|tool| tool.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Whether a `tools` entry is a function tool, or a namespace of function
/// tools only: what the IR carries.
fn is_function_tools(tool: &Value) -> bool {
    match tool.get("type").and_then(Value::as_str) {
        None | Some("function") => true,
        Some("namespace") => tool
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .all(|inner| {
                matches!(
                    inner.get("type").and_then(Value::as_str),
                    None | Some("function")
                )
            }),
        Some(_) => false,
    }
}

/// Decodes a Responses request body. Unknown fields are ignored;
/// [`unsupported_fields`] names the known ones the IR cannot hold. A field of
/// the wrong type is a [`DecodeError::Invalid`] naming its path
/// (`input[1].content[0].image_url`).
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let value: Value = serde_json::from_slice(body)?;
    decode::decode(&value)
}

/// Decodes an already parsed request body, for callers that also inspect it
/// with [`unsupported_fields`].
pub fn decode_value(body: &Value) -> Result<Request, DecodeError> {
    decode::decode(body)
}

/// Encodes `request` for a Responses upstream, sending `options.model`.
/// [`Encoded::dropped`] names what Responses cannot express: `stop`
/// sequences, `top_k`, `seed`, penalties, thinking that did not come from
/// Responses (see the [module docs](super)), budget-only reasoning,
/// `tool_result.is_error`.
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    encode::encode(request, options)
}

/// Names the fields of a request body that the caller set but a translation
/// cannot honour. Busbar translates statelessly, so server-side state is
/// named: `previous_response_id`, `conversation`, `prompt`, `background`,
/// `input` items that refer to stored ones or to built-in tools. Also named:
/// non-function `tools` and `tool_choice`, `include` beyond
/// `reasoning.encrypted_content`, `reasoning.summary`, `text.verbosity`,
/// `top_logprobs`, `truncation: auto`, `max_tool_calls`,
/// `context_management`. Fields that change nothing in the reply (`store`,
/// `metadata`, `service_tier`, `prompt_cache_key`, …) are not named.
pub fn unsupported_fields(body: &Value) -> Vec<&'static str> {
    let mut names = Vec::new();
    let Some(body) = body.as_object() else {
        return names;
    };
    for name in [
        "previous_response_id",
        "conversation",
        "prompt",
        "top_logprobs",
        "max_tool_calls",
        "context_management",
    ] {
        if get(body, name).is_some() {
            names.push(name);
        }
    }
    if get(body, "background") == Some(&Value::Bool(true)) {
        names.push("background");
    }
    if get(body, "input")
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|item| !decode::is_translatable_item(item)))
    {
        names.push("input");
    }
    if get(body, "tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| tools.iter().any(|tool| !is_function_tools(tool)))
    {
        names.push("tools");
    }
    if get(body, "tool_choice")
        .and_then(|choice| choice.get("type"))
        .is_some_and(|kind| kind != "function")
    {
        names.push("tool_choice");
    }
    if get(body, "include")
        .and_then(Value::as_array)
        .is_some_and(|include| {
            include
                .iter()
                .any(|value| value != "reasoning.encrypted_content")
        })
    {
        names.push("include");
    }
    let nested = |outer: &str, inner: &str| {
        get(body, outer)
            .and_then(|value| value.get(inner))
            .is_some_and(|value| !value.is_null())
    };
    if nested("reasoning", "summary") || nested("reasoning", "generate_summary") {
        names.push("reasoning.summary");
    }
    if nested("text", "verbosity") {
        names.push("text.verbosity");
    }
    if get(body, "truncation") == Some(&Value::from("auto")) {
        names.push("truncation");
    }
    names
}

#[cfg(test)]
mod tests;
