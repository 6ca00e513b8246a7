//! Naming what a caller set that the IR cannot carry.

use serde_json::{Map, Value};

use super::fields::{get, integral};
use crate::names::push_once;

/// Names the features set in a Gemini request body that the IR cannot
/// carry, each once, in the order met (camelCase, whichever spelling the
/// body used). Decoding leaves them out.
pub fn unsupported_fields(body: &Value) -> Vec<&'static str> {
    let mut names = Vec::new();
    let Some(body) = body.as_object() else {
        return names;
    };
    for (camel, snake, name) in [
        ("cachedContent", "cached_content", "cachedContent"),
        ("safetySettings", "safety_settings", "safetySettings"),
        ("labels", "labels", "labels"),
        ("serviceTier", "service_tier", "serviceTier"),
    ] {
        if get(body, camel, snake).is_some() {
            push_once(&mut names, name);
        }
    }
    for content in items(get(body, "contents", "contents")) {
        if let Some(content) = content.as_object() {
            scan_parts(get(content, "parts", "parts"), &mut names);
        }
    }
    if let Some(Value::Object(system)) = get(body, "systemInstruction", "system_instruction") {
        scan_parts(get(system, "parts", "parts"), &mut names);
    }
    for tool in items(get(body, "tools", "tools")) {
        if let Some(tool) = tool.as_object() {
            scan_tool(tool, &mut names);
        }
    }
    if let Some(Value::Object(config)) = get(body, "toolConfig", "tool_config") {
        scan_tool_config(config, &mut names);
    }
    if let Some(Value::Object(config)) = get(body, "generationConfig", "generation_config") {
        scan_generation_config(config, &mut names);
    }
    names
}

/// A repeated field's items (a lone object counts as one).
fn items(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    let items: &[Value] = match value {
        Some(Value::Array(items)) => items,
        Some(item @ Value::Object(_)) => std::slice::from_ref(item),
        _ => &[],
    };
    items.iter()
}

fn scan_parts(parts: Option<&Value>, names: &mut Vec<&'static str>) {
    for part in items(parts) {
        let Some(part) = part.as_object() else {
            continue;
        };
        for (camel, snake, name) in [
            ("executableCode", "executable_code", "executableCode"),
            (
                "codeExecutionResult",
                "code_execution_result",
                "codeExecutionResult",
            ),
            ("videoMetadata", "video_metadata", "videoMetadata"),
            ("mediaResolution", "media_resolution", "mediaResolution"),
            ("toolCall", "tool_call", "toolCall"),
            ("toolResponse", "tool_response", "toolResponse"),
        ] {
            if get(part, camel, snake).is_some() {
                push_once(names, name);
            }
        }
        for (camel, snake, name) in [
            ("inlineData", "inline_data", "inlineData"),
            ("fileData", "file_data", "fileData"),
        ] {
            let mime = get(part, camel, snake)
                .and_then(|media| get(media.as_object()?, "mimeType", "mime_type"))
                .and_then(Value::as_str);
            if mime.is_some_and(|mime| !mime.starts_with("image/")) {
                push_once(names, name);
            }
        }
    }
}

fn scan_tool(tool: &Map<String, Value>, names: &mut Vec<&'static str>) {
    for key in tool.keys() {
        let name = match key.as_str() {
            "functionDeclarations" | "function_declarations" => continue,
            "googleSearch" | "google_search" => "tools.googleSearch",
            "googleSearchRetrieval" | "google_search_retrieval" => "tools.googleSearchRetrieval",
            "codeExecution" | "code_execution" => "tools.codeExecution",
            "urlContext" | "url_context" => "tools.urlContext",
            "fileSearch" | "file_search" => "tools.fileSearch",
            "googleMaps" | "google_maps" => "tools.googleMaps",
            "computerUse" | "computer_use" => "tools.computerUse",
            "retrieval" => "tools.retrieval",
            "enterpriseWebSearch" | "enterprise_web_search" => "tools.enterpriseWebSearch",
            "mcpServers" | "mcp_servers" => "tools.mcpServers",
            _ => "tools",
        };
        if !tool[key].is_null() {
            push_once(names, name);
        }
    }
    for declaration in items(get(tool, "functionDeclarations", "function_declarations")) {
        let Some(declaration) = declaration.as_object() else {
            continue;
        };
        for (camel, snake, name) in [
            ("response", "response", "functionDeclarations.response"),
            (
                "responseJsonSchema",
                "response_json_schema",
                "functionDeclarations.response",
            ),
            ("behavior", "behavior", "functionDeclarations.behavior"),
        ] {
            if get(declaration, camel, snake).is_some() {
                push_once(names, name);
            }
        }
    }
}

fn scan_tool_config(config: &Map<String, Value>, names: &mut Vec<&'static str>) {
    if get(config, "retrievalConfig", "retrieval_config").is_some() {
        push_once(names, "toolConfig.retrievalConfig");
    }
    let Some(Value::Object(calling)) =
        get(config, "functionCallingConfig", "function_calling_config")
    else {
        return;
    };
    let mode = get(calling, "mode", "mode").and_then(Value::as_str);
    if mode.is_some_and(|mode| mode.eq_ignore_ascii_case("VALIDATED")) {
        push_once(names, "toolConfig.functionCallingConfig.mode");
    }
    let allowed = match get(calling, "allowedFunctionNames", "allowed_function_names") {
        Some(Value::Array(allowed)) => allowed.len(),
        _ => 0,
    };
    let forced = mode.is_some_and(|mode| mode.eq_ignore_ascii_case("ANY"));
    if allowed > 1 || (allowed == 1 && !forced) {
        push_once(
            names,
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        );
    }
}

fn scan_generation_config(config: &Map<String, Value>, names: &mut Vec<&'static str>) {
    if get(config, "candidateCount", "candidate_count")
        .and_then(integral)
        .is_some_and(|count| count > 1)
    {
        push_once(names, "generationConfig.candidateCount");
    }
    for (camel, snake, name) in [
        (
            "responseLogprobs",
            "response_logprobs",
            "generationConfig.responseLogprobs",
        ),
        ("logprobs", "logprobs", "generationConfig.logprobs"),
        (
            "speechConfig",
            "speech_config",
            "generationConfig.speechConfig",
        ),
        (
            "imageConfig",
            "image_config",
            "generationConfig.imageConfig",
        ),
        (
            "mediaResolution",
            "media_resolution",
            "generationConfig.mediaResolution",
        ),
        (
            "audioTimestamp",
            "audio_timestamp",
            "generationConfig.audioTimestamp",
        ),
        (
            "routingConfig",
            "routing_config",
            "generationConfig.routingConfig",
        ),
        (
            "enableEnhancedCivicAnswers",
            "enable_enhanced_civic_answers",
            "generationConfig.enableEnhancedCivicAnswers",
        ),
    ] {
        if get(config, camel, snake).is_some_and(|value| value != &Value::Bool(false)) {
            push_once(names, name);
        }
    }
    if let Some(Value::Array(modalities)) = get(config, "responseModalities", "response_modalities")
    {
        if modalities
            .iter()
            .any(|m| !m.as_str().is_some_and(|m| m.eq_ignore_ascii_case("TEXT")))
        {
            push_once(names, "generationConfig.responseModalities");
        }
    }
    let mime = get(config, "responseMimeType", "response_mime_type").and_then(Value::as_str);
    if mime.is_some_and(|mime| mime != "application/json" && mime != "text/plain") {
        push_once(names, "generationConfig.responseMimeType");
    }
}
