//! What the mock answers, whatever the wire format: a vendor-neutral view of the request and reply.
//!
//! Each format module reads its request into a [`Conversation`], asks [`reply`] for a [`Reply`] and
//! writes that back in its own shape, so every format answers the same question the same way and
//! a cross-protocol test can predict the answer from the request alone.
//!
//! The rules, in order:
//! - tools defined, tool choice not `none`, last turn not a tool result → call the first tool (the
//!   named one under a forced choice), or the first two tools when the last user text holds the
//!   word "parallel" and parallel calls are allowed; arguments follow each tool's JSON schema; the
//!   calls follow a short text, `Calling <name>.` (`Calling a and b.` for two);
//! - two markers in the last user text steer that rule, for clients such as coding agents that
//!   send dozens of tools on every request, whose first tool may spawn a sub-agent or write files:
//!   `mock:no-tools` answers with text whatever tools are defined (a forced named choice still
//!   calls), and `mock:call=NAME` calls the tool NAME instead of the first one, or none when the
//!   request does not define it; a JSON object right after the name (`mock:call=Bash {"command":
//!   "echo hi"}`) becomes the arguments verbatim, so a test picks a harmless command or path
//!   rather than a schema-made `Paris`;
//! - last turn a tool result → `Tool result received: <content>`;
//! - otherwise `Echo: <last user text>`, or [`PANGRAM`] when the last user turn holds no text;
//! - a stop sequence cuts the text before its first match; `max_tokens` keeps that many words.
//!
//! Tokens are whitespace-separated words, in and out.

use serde_json::{Map, Value};

/// The reply text when the last user turn carries no text (only images, documents, …).
pub const PANGRAM: &str = "The quick brown fox jumps over the lazy dog.";

/// The thinking text returned when a request enables extended thinking.
pub const THINKING_TEXT: &str = "The user wants a short answer. I will reply directly.";

/// The signature that accompanies [`THINKING_TEXT`] (base64 of `mock-thinking-signature`).
pub const THINKING_SIGNATURE: &str = "bW9jay10aGlua2luZy1zaWduYXR1cmU=";

/// The example value the mock puts in a tool argument whose schema type is `string`.
pub const STRING_ARGUMENT: &str = "Paris";

/// Nesting depth past which schema examples become `null`, so a recursive schema cannot loop.
const MAX_SCHEMA_DEPTH: usize = 8;

/// The last meaningful turn of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LastTurn {
    /// The latest user turn, as text (empty when it held none).
    Text(String),
    /// The conversation ends with tool output, flattened to text.
    ToolResult(String),
}

/// A tool the request defines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolDef<'a> {
    pub(crate) name: &'a str,
    pub(crate) schema: Option<&'a Value>,
}

/// How the request constrains tool use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

/// The vendor-neutral request.
#[derive(Debug, Clone)]
pub(crate) struct Conversation<'a> {
    pub(crate) last: LastTurn,
    pub(crate) tools: Vec<ToolDef<'a>>,
    pub(crate) tool_choice: ToolChoice,
    pub(crate) parallel_allowed: bool,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) stop: Vec<String>,
    pub(crate) input_tokens: u64,
    pub(crate) thinking: bool,
}

/// A tool call in the reply; `arguments` is always a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub(crate) name: String,
    pub(crate) arguments: Value,
}

/// Why the reply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finish {
    End,
    MaxTokens,
    StopSequence(String),
    ToolUse,
}

/// The vendor-neutral reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// Thinking text and signature, when the request enabled thinking.
    pub(crate) thinking: Option<(String, String)>,
    /// The text; `None` when the reply is only tool calls.
    pub(crate) text: Option<String>,
    pub(crate) tool_calls: Vec<ToolCall>,
    pub(crate) finish: Finish,
    pub(crate) output_tokens: u64,
}

/// Decides the reply to a conversation.
pub(crate) fn reply(conversation: &Conversation<'_>) -> Reply {
    let thinking = conversation
        .thinking
        .then(|| (THINKING_TEXT.to_owned(), THINKING_SIGNATURE.to_owned()));
    let thinking_tokens = thinking.as_ref().map_or(0, |(text, _)| count_words(text));

    let tool_calls = tool_calls(conversation);
    if !tool_calls.is_empty() {
        let call_tokens: u64 = tool_calls
            .iter()
            .map(|call| count_words(&call.name) + count_words(&call.arguments.to_string()))
            .sum();
        // Models usually say what they are about to do before a call; a
        // preamble also lets tests check text and calls survive together.
        let names: Vec<&str> = tool_calls.iter().map(|call| call.name.as_str()).collect();
        let preamble = format!("Calling {}.", names.join(" and "));
        return Reply {
            thinking,
            output_tokens: thinking_tokens + call_tokens + count_words(&preamble),
            text: Some(preamble),
            tool_calls,
            finish: Finish::ToolUse,
        };
    }

    let full = match &conversation.last {
        LastTurn::ToolResult(content) => format!("Tool result received: {content}"),
        LastTurn::Text(text) if text.trim().is_empty() => PANGRAM.to_owned(),
        LastTurn::Text(text) => format!("Echo: {text}"),
    };
    let (mut text, mut finish) = match first_stop(&full, &conversation.stop) {
        Some((at, sequence)) => (
            full[..at].to_owned(),
            Finish::StopSequence(sequence.to_owned()),
        ),
        None => (full, Finish::End),
    };
    if let Some(max) = conversation.max_tokens {
        let budget = max.saturating_sub(thinking_tokens);
        if let Some(kept) = truncate_words(&text, budget) {
            text = kept.to_owned();
            finish = Finish::MaxTokens;
        }
    }
    let output_tokens = thinking_tokens + count_words(&text);
    Reply {
        thinking,
        text: Some(text),
        tool_calls: Vec::new(),
        finish,
        output_tokens,
    }
}

fn tool_calls(conversation: &Conversation<'_>) -> Vec<ToolCall> {
    let tools = &conversation.tools;
    let text = match &conversation.last {
        LastTurn::Text(text) if !tools.is_empty() => text.as_str(),
        _ => return Vec::new(),
    };
    let marker = marker(text);
    let chosen: Vec<&ToolDef<'_>> = match (&conversation.tool_choice, &marker) {
        (ToolChoice::None, _) => Vec::new(),
        (ToolChoice::Named(name), _) => tools.iter().filter(|t| t.name == name).take(1).collect(),
        (_, Some(Marker::NoTools)) => Vec::new(),
        (_, Some(Marker::Call(name, _))) => {
            tools.iter().filter(|t| t.name == name).take(1).collect()
        }
        (ToolChoice::Auto | ToolChoice::Required, None) => {
            let parallel = conversation.parallel_allowed && contains_word(text, "parallel");
            tools.iter().take(if parallel { 2 } else { 1 }).collect()
        }
    };
    chosen
        .into_iter()
        .map(|tool| ToolCall {
            name: tool.name.to_owned(),
            arguments: match &marker {
                Some(Marker::Call(name, Some(arguments))) if name == tool.name => arguments.clone(),
                _ => arguments_for(tool.schema),
            },
        })
        .collect()
}

/// A steering marker found in the last user text (see the module's rules).
#[derive(Debug, Clone, PartialEq)]
enum Marker {
    NoTools,
    /// The tool to call, and the arguments when a JSON object follows its name.
    Call(String, Option<Value>),
}

const NO_TOOLS_MARKER: &str = "mock:no-tools";
const CALL_MARKER: &str = "mock:call=";

/// The first marker in `text`; `mock:no-tools` wins when both appear.
fn marker(text: &str) -> Option<Marker> {
    if text.contains(NO_TOOLS_MARKER) {
        return Some(Marker::NoTools);
    }
    let after = &text[text.find(CALL_MARKER)? + CALL_MARKER.len()..];
    let end = after
        .find(|c: char| c.is_whitespace() || c == '{')
        .unwrap_or(after.len());
    let (name, rest) = after.split_at(end);
    // One JSON value, then anything: the marker may sit in the middle of a sentence.
    let arguments = serde_json::Deserializer::from_str(rest.trim_start())
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .filter(Value::is_object);
    Some(Marker::Call(name.to_owned(), arguments))
}

/// Builds tool-call arguments from a JSON schema: always an object.
pub(crate) fn arguments_for(schema: Option<&Value>) -> Value {
    match schema.map(|s| example_for(s, 0)) {
        Some(value @ Value::Object(_)) => value,
        _ => Value::Object(Map::new()),
    }
}

/// An example value satisfying `schema` in the simple cases tools use.
fn example_for(schema: &Value, depth: usize) -> Value {
    if depth > MAX_SCHEMA_DEPTH {
        return Value::Null;
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        let first = schema
            .get(combinator)
            .and_then(Value::as_array)
            .and_then(|a| a.first());
        if let Some(first) = first {
            return example_for(first, depth + 1);
        }
    }
    let declared = match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| !t.eq_ignore_ascii_case("null")),
        _ => None,
    };
    let kind = declared.unwrap_or(if schema.get("properties").is_some() {
        "object"
    } else {
        "string"
    });
    // Gemini's OpenAPI-style schemas spell types in capitals (`OBJECT`, `STRING`).
    match kind.to_ascii_lowercase().as_str() {
        "number" | "integer" => Value::from(1),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        "array" => {
            let item = schema.get("items").map_or_else(
                || Value::String(STRING_ARGUMENT.to_owned()),
                |items| example_for(items, depth + 1),
            );
            Value::Array(vec![item])
        }
        "object" => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let fields = properties.into_iter().flatten();
            Value::Object(
                fields
                    .map(|(k, v)| (k.clone(), example_for(v, depth + 1)))
                    .collect(),
            )
        }
        _ => Value::String(STRING_ARGUMENT.to_owned()),
    }
}

/// The text a tool result or message part carries: a string as is, an object with a single
/// field holding a string, object or array (`{"result": "18C"}`, as translators wrap tool output)
/// as that field's text, an array as its items' texts (`text` fields or values) joined by
/// spaces, anything else as compact JSON.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Object(fields) if fields.len() == 1 => match fields.values().next() {
            Some(inner @ (Value::String(_) | Value::Object(_) | Value::Array(_))) => {
                value_text(inner)
            }
            _ => value.to_string(),
        },
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .map(|item| match item.get("text") {
                    Some(Value::String(text)) => text.clone(),
                    _ => value_text(item),
                })
                .collect();
            texts.join(" ")
        }
        _ => value.to_string(),
    }
}

/// Number of whitespace-separated words: the mock's token count.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The earliest match of any non-empty stop sequence: its byte offset and the sequence.
fn first_stop<'s>(text: &str, stops: &'s [String]) -> Option<(usize, &'s str)> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.as_str())))
        .min_by_key(|(at, _)| *at)
}

/// The prefix of `text` holding its first `max` words, or `None` when it has no more than that.
fn truncate_words(text: &str, max: u64) -> Option<&str> {
    let mut words = 0u64;
    let mut in_word = false;
    for (at, ch) in text.char_indices() {
        if ch.is_whitespace() {
            in_word = false;
        } else if !in_word {
            if words == max {
                return Some(text[..at].trim_end());
            }
            in_word = true;
            words += 1;
        }
    }
    None
}

fn contains_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// Splits `text` into pieces of `words` words each; the pieces concatenate back to `text`.
pub(crate) fn word_pieces(text: &str, words: usize) -> Vec<&str> {
    let words = words.max(1);
    let mut pieces = Vec::new();
    let (mut start, mut count, mut in_word) = (0, 0, false);
    for (at, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if in_word && count == words {
                pieces.push(&text[start..at]);
                (start, count) = (at, 0);
            }
            in_word = false;
        } else if !in_word {
            in_word = true;
            count += 1;
        }
    }
    if start < text.len() || pieces.is_empty() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits `text` into pieces of about `bytes` bytes on character boundaries.
pub(crate) fn byte_pieces(text: &str, bytes: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = bytes.max(1).min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn talk(last: LastTurn) -> Conversation<'static> {
        Conversation {
            last,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            parallel_allowed: true,
            max_tokens: None,
            stop: Vec::new(),
            input_tokens: 0,
            thinking: false,
        }
    }

    #[test]
    fn echoes_text_and_counts_words() {
        let r = reply(&talk(LastTurn::Text("hello there world".into())));
        assert_eq!(r.text.as_deref(), Some("Echo: hello there world"));
        assert_eq!((r.finish, r.output_tokens), (Finish::End, 4));
        let r = reply(&talk(LastTurn::Text(String::new())));
        assert_eq!(r.text.as_deref(), Some(PANGRAM));
    }

    #[test]
    fn max_tokens_and_stop_sequences_cut_the_text() {
        let mut c = talk(LastTurn::Text("one two  three four".into()));
        c.max_tokens = Some(3);
        let r = reply(&c);
        assert_eq!(
            (r.text.as_deref(), r.finish),
            (Some("Echo: one two"), Finish::MaxTokens)
        );
        c.max_tokens = Some(10);
        c.stop = vec!["four".into(), "three".into()];
        let r = reply(&c);
        assert_eq!(r.text.as_deref(), Some("Echo: one two  "));
        assert_eq!(r.finish, Finish::StopSequence("three".into()));
        assert_eq!(r.output_tokens, 3);
    }

    #[test]
    fn tools_become_calls_with_schema_arguments() {
        let schema = json!({"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"},
            "unit": {"enum": ["c", "f"]}, "tags": {"type": "array", "items": {"type": "number"}},
            "at": {"type": "object", "properties": {"lat": {"type": ["null", "number"]}}}}});
        let other = json!({"type": "object"});
        let mut c = talk(LastTurn::Text("use them in parallel, please".into()));
        c.tools = vec![
            ToolDef {
                name: "weather",
                schema: Some(&schema),
            },
            ToolDef {
                name: "time",
                schema: Some(&other),
            },
        ];
        let r = reply(&c);
        assert_eq!(r.finish, Finish::ToolUse);
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(
            r.tool_calls[0].arguments,
            json!({"city": "Paris", "days": 1, "metric": true, "unit": "c", "tags": [1], "at": {"lat": 1}})
        );
        assert_eq!(r.tool_calls[1].arguments, json!({}));
        let gemini = json!({"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}});
        assert_eq!(arguments_for(Some(&gemini)), json!({"n": 1}));
        c.parallel_allowed = false;
        assert_eq!(reply(&c).tool_calls.len(), 1);
        c.tool_choice = ToolChoice::Named("time".into());
        assert_eq!(reply(&c).tool_calls[0].name, "time");
        c.tool_choice = ToolChoice::None;
        assert!(reply(&c).tool_calls.is_empty());
        c.tool_choice = ToolChoice::Auto;
        c.last = LastTurn::ToolResult("18C".into());
        assert_eq!(reply(&c).text.as_deref(), Some("Tool result received: 18C"));
    }

    #[test]
    fn markers_pick_the_tool_and_its_arguments_or_none() {
        let agent = json!({"type": "object", "properties": {"prompt": {"type": "string"}}});
        let bash = json!({"type": "object", "properties": {"command": {"type": "string"}}});
        let mut c = talk(LastTurn::Text("list files mock:call=Bash please".into()));
        c.tools = vec![
            ToolDef {
                name: "Agent",
                schema: Some(&agent),
            },
            ToolDef {
                name: "Bash",
                schema: Some(&bash),
            },
        ];
        let r = reply(&c);
        assert_eq!(r.text.as_deref(), Some("Calling Bash."));
        assert_eq!(r.tool_calls[0].arguments, json!({"command": "Paris"}));

        c.last = LastTurn::Text(r#"run mock:call=Bash {"command": "echo ok"} now"#.into());
        let r = reply(&c);
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(r.tool_calls[0].arguments, json!({"command": "echo ok"}));
        c.last = LastTurn::Text(r#"mock:call=Bash{"command":"a b"}"#.into());
        assert_eq!(reply(&c).tool_calls[0].arguments, json!({"command": "a b"}));

        c.last = LastTurn::Text("mock:call=Missing".into());
        let r = reply(&c);
        assert!(r.tool_calls.is_empty());
        assert_eq!(r.text.as_deref(), Some("Echo: mock:call=Missing"));

        c.last = LastTurn::Text("hello mock:no-tools in parallel".into());
        let r = reply(&c);
        assert!(r.tool_calls.is_empty());
        assert_eq!(r.finish, Finish::End);
        c.tool_choice = ToolChoice::Named("Agent".into());
        assert_eq!(reply(&c).tool_calls[0].name, "Agent");

        c.tool_choice = ToolChoice::Auto;
        c.last = LastTurn::ToolResult("done".into());
        assert!(reply(&c).tool_calls.is_empty());
    }

    #[test]
    fn thinking_counts_toward_output() {
        let mut c = talk(LastTurn::Text("hi".into()));
        c.thinking = true;
        let r = reply(&c);
        assert_eq!(
            r.thinking.as_ref().map(|t| t.1.as_str()),
            Some(THINKING_SIGNATURE)
        );
        assert_eq!(r.output_tokens, count_words(THINKING_TEXT) + 2);
    }

    #[test]
    fn pieces_concatenate_back() {
        let text = "Echo: a  bb ccc\ndddd é";
        for n in 1..5 {
            assert_eq!(word_pieces(text, n).concat(), text);
            assert_eq!(byte_pieces(text, n).concat(), text);
        }
        assert_eq!(
            word_pieces(text, 2),
            vec!["Echo: a", "  bb ccc", "\ndddd é"]
        );
        assert_eq!(word_pieces("", 3), vec![""]);
        assert!(byte_pieces("", 3).is_empty());
    }

    #[test]
    fn tool_output_values_flatten_to_text() {
        assert_eq!(value_text(&json!("18C")), "18C");
        assert_eq!(value_text(&json!({"result": "18C"})), "18C");
        assert_eq!(value_text(&json!({"t": 18})), "{\"t\":18}");
        assert_eq!(
            value_text(&json!([{"text": "a"}, "b", {"json": {"c": "d"}}])),
            "a b d"
        );
        assert_eq!(value_text(&Value::Null), "");
    }
}
