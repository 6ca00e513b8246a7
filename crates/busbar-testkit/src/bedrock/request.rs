//! What Converse (and CountTokens' `converse` input) accepts today, after botocore 1.44's
//! `bedrock-runtime` model: message roles `user`, `assistant` and `system`; content, system and
//! tool blocks as unions with exactly one member — `cachePoint` and `reasoningContent` among
//! them — and Bedrock's own rules (a user message first, alternating turns, no blank text, tool
//! name and id patterns). The request is then read into a [`Conversation`] with its word count and
//! its cacheable prefix (the text before the last `cachePoint`).

use serde_json::{json, Value};

use super::{constraint, validation};
use crate::behaviour::{self, Conversation, LastTurn, ToolChoice, ToolDef};
use crate::format::Outcome;

/// Members of the `ContentBlock` union.
const CONTENT_MEMBERS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
    "toolAddition",
    "toolRemoval",
];

/// Members of `SystemContentBlock` and of `Tool`.
const SYSTEM_MEMBERS: &[&str] = &["text", "guardContent", "cachePoint"];
const TOOL_MEMBERS: &[&str] = &["toolSpec", "systemTool", "cachePoint"];

/// A request the mock accepted, read.
pub(super) struct ConverseRequest<'a> {
    /// Words of every input text.
    pub(super) words: u64,
    /// The text before the last `cachePoint`, when there is one.
    pub(super) cache_prefix: Option<String>,
    /// The text before the last `cachePoint` with `ttl: 1h`.
    pub(super) cache_prefix_1h: Option<String>,
    pub(super) conversation: Conversation<'a>,
}

/// Checks and reads a Converse body (or CountTokens' `input.converse`).
pub(super) fn parse(body: &Value) -> Result<ConverseRequest<'_>, Outcome> {
    let messages = body.get("messages").and_then(Value::as_array);
    let messages = messages.map_or(&[][..], Vec::as_slice);
    if messages.first().and_then(|m| m.get("role")) != Some(&json!("user")) {
        return Err(validation(
            "A conversation must start with a user message. Try again with a conversation that \
             starts with a user message.",
        ));
    }
    let mut text = String::new();
    let mut cache_prefix = None;
    let mut cache_prefix_1h = None;
    let tools = body.pointer("/toolConfig/tools").and_then(Value::as_array);
    for (index, tool) in tools.into_iter().flatten().enumerate() {
        let path = format!("toolConfig.tools.{}.member", index + 1);
        union(tool, TOOL_MEMBERS, &path)?;
        if tool.get("cachePoint").is_some() {
            cache_point(&tool["cachePoint"], &path)?;
            cache_prefix = Some(String::new());
        }
    }
    let system = body.get("system").and_then(Value::as_array);
    for (index, block) in system.into_iter().flatten().enumerate() {
        let path = format!("system.{}.member", index + 1);
        union(block, SYSTEM_MEMBERS, &path)?;
        if let Some(words) = block.get("text").and_then(Value::as_str) {
            push(&mut text, words);
        }
        if block.get("cachePoint").is_some() {
            if cache_point(&block["cachePoint"], &path)? {
                cache_prefix_1h = Some(text.clone());
            }
            cache_prefix = Some(text.clone());
        }
    }
    let mut tool_blocks = false;
    let mut previous: Option<&str> = None;
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "user" | "assistant" | "system") {
            return Err(constraint(
                role,
                &format!("messages.{}.member.role", index + 1),
                "Member must satisfy enum value set: [user, assistant, system]",
            ));
        }
        // System messages sit between turns; the user and assistant turns still alternate.
        if role != "system" {
            if previous == Some(role) {
                return Err(validation(
                    "A conversation must alternate between user and assistant roles. Make sure \
                     the conversation alternates between user and assistant roles and try again.",
                ));
            }
            previous = Some(role);
        }
        let blocks = message.get("content").and_then(Value::as_array);
        for (at, block) in blocks.into_iter().flatten().enumerate() {
            let path = format!("messages.{}.member.content.{}.member", index + 1, at + 1);
            union(block, CONTENT_MEMBERS, &path)?;
            if let Some(words) = block.get("text").and_then(Value::as_str) {
                if words.trim().is_empty() {
                    return Err(validation(&format!(
                        "The text field in the ContentBlock object at messages.{index}.content.{at} \
                         is blank. Add text to the text field, and try again."
                    )));
                }
            }
            for kind in ["toolUse", "toolResult"] {
                if let Some(id) = block.get(kind).map(|b| &b["toolUseId"]) {
                    tool_blocks = true;
                    let id = id.as_str().unwrap_or_default();
                    check_name(id, &format!("{path}.{kind}.toolUseId"), "[a-zA-Z0-9_.:-]+")?;
                }
            }
            if let Some(reasoning) = block.get("reasoningContent") {
                union(
                    reasoning,
                    &["reasoningText", "redactedContent"],
                    &format!("{path}.reasoningContent"),
                )?;
                let reasoning_text = reasoning.get("reasoningText");
                if reasoning_text.is_some_and(|r| !r.get("text").is_some_and(Value::is_string)) {
                    return Err(validation(&format!(
                        "1 validation error detected: Value null at \
                         '{path}.reasoningContent.reasoningText.text' failed to satisfy \
                         constraint: Member must not be null"
                    )));
                }
            }
            if block.get("cachePoint").is_some() {
                let one_hour = cache_point(&block["cachePoint"], &path)?;
                push(&mut text, &block_text(block));
                if one_hour {
                    cache_prefix_1h = Some(text.clone());
                }
                cache_prefix = Some(text.clone());
            } else {
                push(&mut text, &block_text(block));
            }
        }
    }
    let tool_config = body.get("toolConfig");
    if tool_blocks && tool_config.is_none() {
        return Err(validation(
            "The toolConfig field must be defined when using toolUse and toolResult content \
             blocks.",
        ));
    }
    let mut tools = Vec::new();
    let specs = tool_config
        .and_then(|c| c.get("tools"))
        .and_then(Value::as_array);
    for (index, tool) in specs.into_iter().flatten().enumerate() {
        let Some(spec) = tool.get("toolSpec") else {
            continue;
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
        let path = format!("toolConfig.tools.{}.member.toolSpec.name", index + 1);
        check_name(name, &path, "[a-zA-Z0-9_-]+")?;
        tools.push(ToolDef {
            name,
            schema: spec.pointer("/inputSchema/json"),
        });
    }
    let choice = tool_config.and_then(|c| c.get("toolChoice"));
    let tool_choice = match choice {
        Some(choice) if choice.get("any").is_some() => ToolChoice::Required,
        Some(choice) => match choice.pointer("/tool/name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Auto,
        },
        None => ToolChoice::Auto,
    };
    let inference = body.get("inferenceConfig");
    let max_tokens = inference
        .and_then(|c| c.get("maxTokens"))
        .and_then(Value::as_u64);
    if max_tokens == Some(0) {
        return Err(constraint(
            "0",
            "inferenceConfig.maxTokens",
            "Member must have value greater than or equal to 1",
        ));
    }
    let stop = inference
        .and_then(|c| c.get("stopSequences"))
        .and_then(Value::as_array);
    let extra = body.get("additionalModelRequestFields");
    let thinking = extra
        .and_then(|e| {
            e.pointer("/thinking/type")
                .or_else(|| e.pointer("/reasoning_config/type"))
        })
        .and_then(Value::as_str);
    let words = behaviour::count_words(&text);
    let conversation = Conversation {
        last: last_turn(messages),
        tools,
        tool_choice,
        parallel_allowed: true,
        max_tokens,
        stop: stop
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        input_tokens: words,
        thinking: matches!(thinking, Some("enabled" | "adaptive")),
    };
    Ok(ConverseRequest {
        words,
        cache_prefix,
        cache_prefix_1h,
        conversation,
    })
}

fn push(text: &mut String, words: &str) {
    if words.is_empty() {
        return;
    }
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(words);
}

/// A union shape: an object with exactly one member, one of `members`.
fn union(value: &Value, members: &[&str], path: &str) -> Result<(), Outcome> {
    let Some(fields) = value.as_object() else {
        return Err(validation(&format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: \
             Member must be a structure"
        )));
    };
    if let Some(unknown) = fields.keys().find(|k| !members.contains(&k.as_str())) {
        return Err(validation(&format!(
            "Malformed input request: #/{path}: extraneous key [{unknown}] is not permitted, \
             please reformat your input and try again."
        )));
    }
    if fields.len() != 1 {
        return Err(validation(&format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: \
             Member must have exactly one field set"
        )));
    }
    Ok(())
}

/// `CachePointBlock`: `type` `default`, optional `ttl` `5m` or `1h`.
/// Checks a `cachePoint`; answers whether its lifetime is an hour.
fn cache_point(value: &Value, path: &str) -> Result<bool, Outcome> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("null");
    if kind != "default" {
        let rule = "Member must satisfy enum value set: [default]";
        return Err(constraint(kind, &format!("{path}.cachePoint.type"), rule));
    }
    match value.get("ttl") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(ttl)) if ttl == "5m" || ttl == "1h" => Ok(ttl == "1h"),
        Some(other) => {
            let rule = "Member must satisfy enum value set: [5m, 1h]";
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            Err(constraint(&shown, &format!("{path}.cachePoint.ttl"), rule))
        }
    }
}

/// AWS's pattern and length constraint on tool names and tool-use ids.
pub(super) fn check_name(value: &str, path: &str, pattern: &str) -> Result<(), Outcome> {
    let extra = if pattern.contains('.') { ".:" } else { "" };
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(c);
    if value.is_empty() || value.len() > 64 {
        let rule = "Member must have length less than or equal to 64";
        return Err(constraint(value, path, rule));
    }
    if !value.chars().all(allowed) {
        let rule = format!("Member must satisfy regular expression pattern: {pattern}");
        return Err(constraint(value, path, &rule));
    }
    Ok(())
}

/// The text of a content block: text, a tool result's contents, nothing for other kinds.
fn block_text(block: &Value) -> String {
    if let Some(text) = block.get("text").and_then(Value::as_str) {
        return text.to_owned();
    }
    let results = block
        .pointer("/toolResult/content")
        .and_then(Value::as_array);
    let texts: Vec<String> = results
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("text").or_else(|| item.get("json")))
        .map(behaviour::value_text)
        .collect();
    texts.join(" ")
}

/// The last user message: its tool results when it has any, else its text.
fn last_turn(messages: &[Value]) -> LastTurn {
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let blocks = user
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let results: Vec<String> = blocks
        .iter()
        .filter(|block| block.get("toolResult").is_some())
        .map(block_text)
        .collect();
    if !results.is_empty() {
        return LastTurn::ToolResult(results.join(" "));
    }
    let texts: Vec<&str> = blocks
        .iter()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    LastTurn::Text(texts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_patterns() {
        assert!(check_name("get_weather-2", "p", "[a-zA-Z0-9_-]+").is_ok());
        assert!(check_name("get.weather", "p", "[a-zA-Z0-9_-]+").is_err());
        assert!(check_name("toolu_1:a.b", "p", "[a-zA-Z0-9_.:-]+").is_ok());
        assert!(check_name(&"x".repeat(65), "p", "[a-zA-Z0-9_.:-]+").is_err());
        assert!(check_name("", "p", "[a-zA-Z0-9_.:-]+").is_err());
    }

    #[test]
    fn tool_results_flatten_text_and_json() {
        let messages = [
            json!({"role": "user", "content": [{"toolResult": {"toolUseId": "t",
            "content": [{"text": "18C"}, {"json": {"result": "sunny"}}]}}]}),
        ];
        assert_eq!(
            last_turn(&messages),
            LastTurn::ToolResult("18C sunny".into())
        );
    }

    #[test]
    fn cache_points_mark_the_prefix_and_unions_hold_one_member() {
        let body = json!({"system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
            "messages": [{"role": "user", "content": [{"text": "one two"},
                {"cachePoint": {"type": "default", "ttl": "1h"}}, {"text": "three"}]},
                {"role": "system", "content": [{"text": "four"}]}]});
        let Ok(request) = parse(&body) else {
            panic!("a request with cache points is valid");
        };
        assert_eq!(request.words, 6);
        assert_eq!(request.cache_prefix.as_deref(), Some("be brief one two"));
        assert_eq!(request.cache_prefix_1h.as_deref(), Some("be brief one two"));
        let two = json!({"messages": [{"role": "user", "content": [{"text": "a", "cachePoint": {"type": "default"}}]}]});
        assert!(parse(&two).is_err());
        let ttl = json!({"messages": [{"role": "user", "content": [{"text": "a"}, {"cachePoint": {"type": "default", "ttl": "2h"}}]}]});
        assert!(parse(&ttl).is_err());
        let unknown = json!({"messages": [{"role": "user", "content": [{"txt": "a"}]}]});
        assert!(parse(&unknown).is_err());
    }
}
