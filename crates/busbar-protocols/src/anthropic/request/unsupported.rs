//! Naming what a caller set that the IR cannot carry.

use serde_json::Value;

use crate::json::non_null;
use crate::names::push_once;

/// Names the features set in an Anthropic request body that the IR cannot
/// carry, each once, in the order met. Decoding leaves them out.
pub fn unsupported_fields(body: &Value) -> Vec<&'static str> {
    let mut names = Vec::new();
    let Some(body) = body.as_object() else {
        return names;
    };
    for (key, name) in [
        ("container", "container"),
        ("context_management", "context_management"),
        ("mcp_servers", "mcp_servers"),
        ("service_tier", "service_tier"),
        ("inference_geo", "inference_geo"),
    ] {
        if non_null(body.get(key)).is_some() {
            push_once(&mut names, name);
        }
    }
    if let Some(Value::Array(system)) = body.get("system") {
        scan_blocks(system, false, &mut names);
    }
    if let Some(Value::Array(messages)) = body.get("messages") {
        for message in messages {
            if let Some(Value::Array(blocks)) = message.get("content") {
                scan_blocks(blocks, false, &mut names);
            }
        }
    }
    if let Some(Value::Array(tools)) = body.get("tools") {
        for tool in tools {
            match tool.get("type").and_then(Value::as_str) {
                None | Some("custom") => {}
                Some(kind) => push_once(&mut names, server_tool_name(kind)),
            }
        }
    }
    if let Some(thinking) = body.get("thinking") {
        if non_null(thinking.get("display")).is_some() {
            push_once(&mut names, "thinking.display");
        }
    }
    let effort = body
        .get("output_config")
        .and_then(|c| non_null(c.get("effort")));
    if effort.is_some() && non_null(body.get("thinking")).is_none() {
        push_once(&mut names, "output_config.effort");
    }
    names
}

/// Names what `blocks` hold that the IR cannot carry. Cache markers are
/// carried (as cache points) except inside a tool result (`nested`).
fn scan_blocks(blocks: &[Value], nested: bool, names: &mut Vec<&'static str>) {
    for block in blocks {
        if nested && non_null(block.get("cache_control")).is_some() {
            push_once(names, "cache_control");
        }
        if non_null(block.get("citations")).is_some() {
            push_once(names, "citations");
        }
        match block.get("type").and_then(Value::as_str) {
            Some("image")
                if block.pointer("/source/type").and_then(Value::as_str) == Some("file") =>
            {
                push_once(names, "file")
            }
            Some("text" | "image" | "tool_use" | "thinking" | "redacted_thinking") => {}
            Some("tool_result") => {
                if let Some(Value::Array(content)) = block.get("content") {
                    scan_blocks(content, true, names);
                }
            }
            Some(kind) => push_once(names, block_name(kind)),
            None => {}
        }
    }
}

/// The static name of a content block type the IR does not hold.
fn block_name(kind: &str) -> &'static str {
    match kind {
        "document" => "document",
        "search_result" => "search_result",
        "server_tool_use" => "server_tool_use",
        "container_upload" => "container_upload",
        "mid_conv_system" => "mid_conv_system",
        "tool_addition" | "tool_removal" => "tool_change",
        "tool_reference" => "tool_reference",
        kind if kind.ends_with("_tool_result") => "server_tool_result",
        _ => "content_block",
    }
}

/// The static name of a server tool, from its versioned `type`
/// (`web_search_20250305` → `web_search`).
fn server_tool_name(kind: &str) -> &'static str {
    const KNOWN: [&str; 7] = [
        "web_search",
        "web_fetch",
        "code_execution",
        "bash",
        "text_editor",
        "memory",
        "tool_search",
    ];
    KNOWN
        .into_iter()
        .find(|name| kind.starts_with(name))
        .unwrap_or("server_tool")
}
