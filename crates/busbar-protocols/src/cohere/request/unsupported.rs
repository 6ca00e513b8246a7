//! Naming what a caller set that the IR cannot carry.

use serde_json::Value;

use crate::json::get;

/// Names the features set in a Cohere request body that the IR cannot
/// carry, each once, in the order met: `documents`, `citation_options`,
/// `safety_mode`, `logprobs`, `document` content in user messages and
/// `citations` in assistant messages. Fields that change nothing in the
/// reply (`priority`) are not named.
pub fn unsupported_fields(body: &Value) -> Vec<&'static str> {
    let mut names = Vec::new();
    let Some(body) = body.as_object() else {
        return names;
    };
    if get(body, "documents").is_some_and(|docs| docs.as_array().is_none_or(|d| !d.is_empty())) {
        names.push("documents");
    }
    for name in ["citation_options", "safety_mode"] {
        if get(body, name).is_some() {
            names.push(name);
        }
    }
    if get(body, "logprobs") == Some(&Value::Bool(true)) {
        names.push("logprobs");
    }
    let messages = get(body, "messages").and_then(Value::as_array);
    for message in messages.into_iter().flatten() {
        match message.get("role").and_then(Value::as_str) {
            Some("user") => {
                let parts = message.get("content").and_then(Value::as_array);
                if parts
                    .into_iter()
                    .flatten()
                    .any(|part| part.get("type").and_then(Value::as_str) == Some("document"))
                    && !names.contains(&"document")
                {
                    names.push("document");
                }
            }
            Some("assistant") => {
                let cited = message
                    .get("citations")
                    .and_then(Value::as_array)
                    .is_some_and(|citations| !citations.is_empty());
                if cited && !names.contains(&"citations") {
                    names.push("citations");
                }
            }
            _ => {}
        }
    }
    names
}
