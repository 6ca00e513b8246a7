//! Reading wire formats in assertions: text out of either vendor's content,
//! streamed text out of either vendor's events, and ids made comparable.

use serde_json::Value;

use super::client::{Reply, StreamReply};

/// Checks an OpenAI error reply (`{"error": {"message", "type", …}}`) and
/// returns the error object.
pub(crate) fn openai_error(reply: &Reply) -> Value {
    let body = reply.json();
    let error = &body["error"];
    assert!(error.is_object(), "not an OpenAI error body: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an OpenAI error needs a message: {body}"
    );
    assert!(
        error["type"].is_string(),
        "an OpenAI error needs a type: {body}"
    );
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    error.clone()
}

/// Checks an Anthropic error reply (`{"type": "error", "error": {"type",
/// "message"}}`) and returns the error object.
pub(crate) fn anthropic_error(reply: &Reply) -> Value {
    let body = reply.json();
    assert_eq!(body["type"], "error", "not an Anthropic error body: {body}");
    let error = &body["error"];
    assert!(
        error["type"].is_string(),
        "an Anthropic error needs a type: {body}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an Anthropic error needs a message: {body}"
    );
    error.clone()
}

/// The text of a `content` (or `system`) value: a string, or its text
/// blocks/parts concatenated.
pub(crate) fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| matches!(b["type"].as_str(), None | Some("text")))
            .filter_map(|b| b["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

/// The text of an OpenAI chat stream: every `choices[0].delta.content`.
pub(crate) fn openai_stream_text(reply: &StreamReply) -> String {
    reply
        .data()
        .iter()
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// The text of an Anthropic stream: every `text_delta`.
pub(crate) fn anthropic_stream_text(reply: &StreamReply) -> String {
    reply
        .data()
        .iter()
        .filter(|event| {
            event["type"] == "content_block_delta" && event["delta"]["type"] == "text_delta"
        })
        .filter_map(|event| event["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// `text` with the mock's per-request numbers (ids, `created`, request ids)
/// replaced by `N`, so two answers to the same request compare equal.
pub(crate) fn normalize_ids(text: &str) -> String {
    const PREFIXES: [&str; 6] = [
        "chatcmpl-mock",
        "msg_mock",
        "toolu_mock",
        "call_mock",
        "req_mock",
        "\"created\":",
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for prefix in PREFIXES {
            if let Some(after) = rest.strip_prefix(prefix) {
                out.push_str(prefix);
                let digits =
                    after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                if digits > 0 {
                    out.push('N');
                }
                rest = &after[digits..];
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[test]
fn normalize_ids_blanks_only_the_counters() {
    assert_eq!(
        normalize_ids(r#"{"id":"chatcmpl-mock00000012","created":1700000000,"n":3}"#),
        r#"{"id":"chatcmpl-mockN","created":N,"n":3}"#
    );
    assert_eq!(
        normalize_ids("msg_mock7 toolu_mock9x"),
        "msg_mockN toolu_mockNx"
    );
}
