//! Naming what a caller set that the IR cannot carry.

use serde_json::Value;

use crate::json::get;

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
        .is_some_and(|items| items.iter().any(|item| !super::is_translatable_item(item)))
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
