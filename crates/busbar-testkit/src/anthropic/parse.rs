//! Reading a checked Messages request into the mock's vendor-neutral [`Conversation`], with its
//! word count and its cacheable prefix (the text up to the last `cache_control` marker).

use serde_json::Value;

use crate::behaviour::{self, Conversation, LastTurn, ToolChoice, ToolDef};

/// A request the mock accepted.
pub(super) struct MessagesRequest<'a> {
    pub(super) model: &'a str,
    pub(super) stream: bool,
    /// Words of every input text (system, messages), cached or not.
    pub(super) words: u64,
    /// The text up to and including the last block with a cache marker, when there is one.
    pub(super) cache_prefix: Option<String>,
    /// The text up to and including the last block whose marker has `ttl: 1h`.
    pub(super) cache_prefix_1h: Option<String>,
    /// `thinking.display: omitted`: thinking blocks come back with their signature only.
    pub(super) omit_thinking: bool,
    pub(super) conversation: Conversation<'a>,
}

/// Reads a request that passed `request::check`.
pub(super) fn parse(body: &Value) -> MessagesRequest<'_> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let Input {
        text,
        cache_prefix,
        cache_prefix_1h,
    } = input_text(body, messages);
    let words = behaviour::count_words(&text);
    let mut tools = Vec::new();
    for tool in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // Server tools (web search, code execution, …) carry a versioned type and no schema.
        if !matches!(
            tool.get("type").and_then(Value::as_str),
            None | Some("custom")
        ) {
            continue;
        }
        if let Some(name) = tool.get("name").and_then(Value::as_str) {
            tools.push(ToolDef {
                name,
                schema: tool.get("input_schema"),
            });
        }
    }
    let choice = body.get("tool_choice");
    let tool_choice = match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Required,
        Some("tool") => {
            let name = choice.and_then(|c| c.get("name")).and_then(Value::as_str);
            ToolChoice::Named(name.unwrap_or_default().to_owned())
        }
        _ => ToolChoice::Auto,
    };
    let disable_parallel = choice
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stop = body
        .get("stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let thinking = body.pointer("/thinking/type").and_then(Value::as_str);
    let conversation = Conversation {
        last: last_turn(messages),
        tools,
        tool_choice,
        parallel_allowed: !disable_parallel,
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
        stop: stop.filter_map(Value::as_str).map(str::to_owned).collect(),
        input_tokens: words,
        thinking: matches!(thinking, Some("enabled" | "adaptive")),
    };
    MessagesRequest {
        model,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        words,
        cache_prefix,
        cache_prefix_1h,
        omit_thinking: body.pointer("/thinking/display").and_then(Value::as_str) == Some("omitted"),
        conversation,
    }
}

/// A request's input text and its cacheable prefixes.
struct Input {
    text: String,
    cache_prefix: Option<String>,
    cache_prefix_1h: Option<String>,
}

/// Every input text in the order the API caches it (tools, system, messages), the text up to the
/// last marked block, and the text up to the last block marked for an hour. Tools hold no counted
/// text, so a marker there caches nothing; a top-level `cache_control` marks the last block, so
/// the whole input.
fn input_text(body: &Value, messages: &[Value]) -> Input {
    let mut input = Input {
        text: String::new(),
        cache_prefix: None,
        cache_prefix_1h: None,
    };
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    if tools.into_iter().any(|tool| marker(tool).is_some()) {
        input.cache_prefix = Some(String::new());
    }
    let take = |block_text: String, marker: Option<Ttl>, input: &mut Input| {
        let text = &mut input.text;
        if !block_text.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&block_text);
        }
        if marker.is_some() {
            input.cache_prefix = Some(text.clone());
        }
        if marker == Some(Ttl::OneHour) {
            input.cache_prefix_1h = Some(text.clone());
        }
    };
    let system = std::iter::once(body.get("system"));
    let contents = system.chain(messages.iter().map(|m| m.get("content")));
    for content in contents {
        match content {
            Some(Value::String(plain)) => take(plain.clone(), None, &mut input),
            Some(Value::Array(blocks)) => {
                for block in blocks {
                    take(block_text(block), marker(block), &mut input);
                }
            }
            _ => {}
        }
    }
    if let Some(ttl) = marker(body) {
        take(String::new(), Some(ttl), &mut input);
    }
    input
}

/// A cache marker's lifetime.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ttl {
    FiveMinutes,
    OneHour,
}

/// The lifetime of the block's (or the body's) `cache_control`, when it has one.
fn marker(block: &Value) -> Option<Ttl> {
    let control = block.get("cache_control").filter(|c| !c.is_null())?;
    Some(match control.get("ttl").and_then(Value::as_str) {
        Some("1h") => Ttl::OneHour,
        _ => Ttl::FiveMinutes,
    })
}

/// The latest user message: its `tool_result` blocks when it has any, else its text.
fn last_turn(messages: &[Value]) -> LastTurn {
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let Some(content) = user.and_then(|m| m.get("content")) else {
        return LastTurn::Text(String::new());
    };
    let results: Vec<String> = content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| blocks_text(b.get("content")))
        .collect();
    if results.is_empty() {
        LastTurn::Text(blocks_text(Some(content)))
    } else {
        LastTurn::ToolResult(results.join(" "))
    }
}

/// The text of a string or of an array of blocks (`text` blocks and `tool_result` contents).
pub(super) fn blocks_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => {
            let texts: Vec<String> = blocks
                .iter()
                .map(block_text)
                .filter(|t| !t.is_empty())
                .collect();
            texts.join(" ")
        }
        _ => String::new(),
    }
}

fn block_text(block: &Value) -> String {
    match block.get("type").and_then(Value::as_str) {
        Some("text") => block
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Some("tool_result") => blocks_text(block.get("content")),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cache_prefix_ends_at_the_last_marker() {
        let mark = json!({"type": "ephemeral"});
        let body = json!({"model": "m", "max_tokens": 9,
            "system": [{"type": "text", "text": "be brief", "cache_control": mark}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "one two", "cache_control": mark},
                                             {"type": "text", "text": "three"}]},
                {"role": "system", "content": "four"}]});
        let request = parse(&body);
        assert_eq!(request.words, 6);
        assert_eq!(request.cache_prefix.as_deref(), Some("be brief one two"));
        let mut whole = body.clone();
        whole["cache_control"] = mark;
        let request = parse(&whole);
        assert_eq!(
            request.cache_prefix.as_deref(),
            Some("be brief one two three four")
        );
        let plain =
            json!({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(parse(&plain).cache_prefix, None);
    }

    #[test]
    fn the_one_hour_prefix_ends_at_the_last_one_hour_marker() {
        let hour = json!({"type": "ephemeral", "ttl": "1h"});
        let five = json!({"type": "ephemeral", "ttl": "5m"});
        let body = json!({"model": "m", "max_tokens": 9,
            "system": [{"type": "text", "text": "be brief", "cache_control": hour}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "one two", "cache_control": five},
                                             {"type": "text", "text": "three"}]}]});
        let request = parse(&body);
        assert_eq!(request.cache_prefix.as_deref(), Some("be brief one two"));
        assert_eq!(request.cache_prefix_1h.as_deref(), Some("be brief"));
        let mut whole = body.clone();
        whole["cache_control"] = hour;
        assert_eq!(
            parse(&whole).cache_prefix_1h.as_deref(),
            Some("be brief one two three")
        );
    }
}
