//! Naming what a caller set that the IR cannot carry.

use serde_json::Value;

use crate::json::get;

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
