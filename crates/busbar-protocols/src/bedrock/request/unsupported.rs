//! Naming what a caller set that the IR cannot carry.

use serde_json::Value;

use crate::json::non_null;
use crate::names::push_once;

/// Names the features set in a Converse request body that the IR cannot
/// carry, each once, in the order met, spelled as Converse spells them.
/// Decoding leaves them out.
pub fn unsupported_fields(body: &Value) -> Vec<&'static str> {
    let mut names = Vec::new();
    let tools = body.pointer("/toolConfig/tools");
    let Some(body) = body.as_object() else {
        return names;
    };
    for (key, name) in [
        ("guardrailConfig", "guardrailConfig"),
        ("promptVariables", "promptVariables"),
        ("requestMetadata", "requestMetadata"),
        ("performanceConfig", "performanceConfig"),
        ("serviceTier", "serviceTier"),
        (
            "additionalModelResponseFieldPaths",
            "additionalModelResponseFieldPaths",
        ),
    ] {
        if non_null(body.get(key)).is_some() {
            push_once(&mut names, name);
        }
    }
    if let Some(Value::Array(system)) = body.get("system") {
        scan_blocks(system, &mut names);
    }
    if let Some(Value::Array(messages)) = body.get("messages") {
        for message in messages {
            if let Some(Value::Array(blocks)) = message.get("content") {
                scan_blocks(blocks, &mut names);
            }
        }
    }
    if let Some(Value::Array(tools)) = tools {
        for tool in tools.iter().filter_map(Value::as_object) {
            for (kind, _) in tool.iter().filter(|(_, value)| !value.is_null()) {
                match kind.as_str() {
                    "toolSpec" => {}
                    "systemTool" => push_once(&mut names, "systemTool"),
                    "cachePoint" => {}
                    _ => push_once(&mut names, "tool"),
                }
            }
        }
    }
    if let Some(Value::Object(fields)) = body.get("additionalModelRequestFields") {
        const CARRIED: [&str; 4] = ["top_k", "thinking", "reasoning_effort", "reasoningConfig"];
        if fields.keys().any(|key| !CARRIED.contains(&key.as_str())) {
            push_once(&mut names, "additionalModelRequestFields");
        }
    }
    names
}

fn scan_blocks(blocks: &[Value], names: &mut Vec<&'static str>) {
    for block in blocks.iter().filter_map(Value::as_object) {
        for (kind, value) in block.iter().filter(|(_, value)| !value.is_null()) {
            match kind.as_str() {
                "text" | "toolUse" | "reasoningContent" | "cachePoint" => {}
                "image" => scan_image(value, names),
                "toolResult" => {
                    if let Some(Value::Array(parts)) = value.get("content") {
                        scan_blocks(parts, names);
                    }
                }
                // The tool-result content members the IR holds.
                "json" => {}
                kind => push_once(names, block_name(kind)),
            }
        }
    }
}

fn scan_image(image: &Value, names: &mut Vec<&'static str>) {
    if non_null(image.pointer("/source/s3Location")).is_some() {
        push_once(names, "s3Location");
    }
}

/// The static name of a content block kind the IR does not hold.
fn block_name(kind: &str) -> &'static str {
    match kind {
        "document" => "document",
        "video" => "video",
        "audio" => "audio",
        "guardContent" => "guardContent",
        "citationsContent" => "citationsContent",
        "searchResult" => "searchResult",
        "toolAddition" | "toolRemoval" => "tool_change",
        _ => "content_block",
    }
}
