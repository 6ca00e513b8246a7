//! Request pieces several tests share: two tools in each vendor's shape, a
//! tiny image, and the arguments the mock derives from the tools' schemas.

use serde_json::{json, Value};

/// A 1×1 PNG, base64.
pub(crate) const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// The schema of `get_weather`.
fn weather_schema() -> Value {
    json!({"type": "object",
           "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
           "required": ["city"]})
}

/// The schema of `get_time`.
fn time_schema() -> Value {
    json!({"type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}}})
}

/// The arguments the mock puts in a `get_weather` call.
pub(crate) fn weather_arguments() -> Value {
    json!({"city": "Paris", "days": 1})
}

/// The arguments the mock puts in a `get_time` call.
pub(crate) fn time_arguments() -> Value {
    json!({"zone": "UTC"})
}

/// `get_weather` and `get_time` as OpenAI function tools.
pub(crate) fn openai_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                          "parameters": weather_schema()}},
        {"type": "function", "function": {"name": "get_time", "description": "Time in a zone.",
                                          "parameters": time_schema()}},
    ])
}

/// `get_weather` and `get_time` as Anthropic tools.
pub(crate) fn anthropic_tools() -> Value {
    json!([
        {"name": "get_weather", "description": "Weather for a city.", "input_schema": weather_schema()},
        {"name": "get_time", "description": "Time in a zone.", "input_schema": time_schema()},
    ])
}

/// Parses an OpenAI tool call's `arguments` string.
pub(crate) fn parsed_arguments(call: &Value) -> Value {
    let text = call["function"]["arguments"]
        .as_str()
        .unwrap_or_else(|| panic!("arguments are not a string: {call}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("arguments are not JSON ({e}): {text}"))
}
