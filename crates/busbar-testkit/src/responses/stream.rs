//! The Responses event stream: typed events, each repeating its name in `type` and carrying a
//! rising `sequence_number`, derived from the finished Response object so the stream and the
//! non-streamed reply can never disagree.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::behaviour;
use crate::server::Shared;
use crate::sse;

/// Bytes of function-call arguments per `function_call_arguments.delta`.
const ARGUMENT_PIECE: usize = 12;

/// Collects events and numbers them.
struct Events {
    events: Vec<Bytes>,
}

impl Events {
    fn push(&mut self, name: &str, mut data: Value) {
        if let Some(fields) = data.as_object_mut() {
            // `type` first and `sequence_number` last, as the API orders them.
            let mut ordered = serde_json::Map::with_capacity(fields.len() + 2);
            ordered.insert("type".to_owned(), json!(name));
            ordered.append(fields);
            ordered.insert("sequence_number".to_owned(), json!(self.events.len()));
            data = Value::Object(ordered);
        }
        self.events.push(sse::json_event(Some(name), &data));
    }
}

/// The whole stream for a finished `response`.
pub(super) fn events(shared: &Shared, response: &Value) -> Vec<Bytes> {
    let mut out = Events { events: Vec::new() };
    let mut opening = response.clone();
    opening["status"] = json!("in_progress");
    opening["output"] = json!([]);
    opening["usage"] = Value::Null;
    opening["incomplete_details"] = Value::Null;
    out.push("response.created", json!({"response": opening}));
    out.push("response.in_progress", json!({"response": opening}));

    let items = response["output"].as_array().map_or(&[][..], Vec::as_slice);
    for (index, item) in items.iter().enumerate() {
        match item["type"].as_str() {
            Some("reasoning") => reasoning(&mut out, shared, index, item),
            Some("function_call") => function_call(&mut out, index, item),
            _ => message(&mut out, shared, index, item),
        }
        out.push(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }

    let terminal = match response["status"].as_str() {
        Some("incomplete") => "response.incomplete",
        _ => "response.completed",
    };
    out.push(terminal, json!({"response": response}));
    out.events
}

fn reasoning(out: &mut Events, shared: &Shared, index: usize, item: &Value) {
    let mut added = item.clone();
    added["summary"] = json!([]);
    out.push(
        "response.output_item.added",
        json!({"output_index": index, "item": added}),
    );
    let id = &item["id"];
    let summaries = item["summary"].as_array().map_or(&[][..], Vec::as_slice);
    for (summary_index, part) in summaries.iter().enumerate() {
        let at = json!({"item_id": id, "output_index": index, "summary_index": summary_index});
        let with = |extra: Value| merge(&at, extra);
        out.push(
            "response.reasoning_summary_part.added",
            with(json!({"part": {"type": "summary_text", "text": ""}})),
        );
        let text = part["text"].as_str().unwrap_or_default();
        for piece in behaviour::word_pieces(text, shared.words_per_delta()) {
            out.push(
                "response.reasoning_summary_text.delta",
                with(json!({"delta": piece})),
            );
        }
        out.push(
            "response.reasoning_summary_text.done",
            with(json!({"text": text})),
        );
        out.push(
            "response.reasoning_summary_part.done",
            with(json!({"part": part})),
        );
    }
}

fn message(out: &mut Events, shared: &Shared, index: usize, item: &Value) {
    let mut added = item.clone();
    added["status"] = json!("in_progress");
    added["content"] = json!([]);
    out.push(
        "response.output_item.added",
        json!({"output_index": index, "item": added}),
    );
    let parts = item["content"].as_array().map_or(&[][..], Vec::as_slice);
    for (content_index, part) in parts.iter().enumerate() {
        let at =
            json!({"item_id": item["id"], "output_index": index, "content_index": content_index});
        let with = |extra: Value| merge(&at, extra);
        out.push(
            "response.content_part.added",
            with(
                json!({"part": {"type": "output_text", "annotations": [], "logprobs": [],
                                 "text": ""}}),
            ),
        );
        let text = part["text"].as_str().unwrap_or_default();
        let pieces = behaviour::word_pieces(text, shared.words_per_delta());
        for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
            out.push(
                "response.output_text.delta",
                with(json!({"delta": piece, "logprobs": []})),
            );
        }
        out.push(
            "response.output_text.done",
            with(json!({"text": text, "logprobs": []})),
        );
        out.push("response.content_part.done", with(json!({"part": part})));
    }
}

fn function_call(out: &mut Events, index: usize, item: &Value) {
    let mut added = item.clone();
    added["status"] = json!("in_progress");
    added["arguments"] = json!("");
    out.push(
        "response.output_item.added",
        json!({"output_index": index, "item": added}),
    );
    let at = json!({"item_id": item["id"], "output_index": index});
    let arguments = item["arguments"].as_str().unwrap_or_default();
    for piece in behaviour::byte_pieces(arguments, ARGUMENT_PIECE) {
        out.push(
            "response.function_call_arguments.delta",
            merge(&at, json!({"delta": piece})),
        );
    }
    out.push(
        "response.function_call_arguments.done",
        merge(&at, json!({"name": item["name"], "arguments": arguments})),
    );
}

/// `base`'s fields followed by `extra`'s.
fn merge(base: &Value, extra: Value) -> Value {
    let mut merged = base.clone();
    if let (Some(merged), Value::Object(extra)) = (merged.as_object_mut(), extra) {
        merged.extend(extra);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_repeat_their_type_and_count_up() {
        let mut out = Events { events: Vec::new() };
        out.push("a", json!({"x": 1}));
        out.push("b", json!({}));
        let events = sse::parse(&String::from_utf8_lossy(&out.events.concat()));
        assert_eq!(sse::event_names(&events), ["a", "b"]);
        assert_eq!(events[0].data, r#"{"type":"a","x":1,"sequence_number":0}"#);
        assert_eq!(
            events[1].json(),
            Some(json!({"type": "b", "sequence_number": 1}))
        );
        assert_eq!(
            merge(&json!({"a": 1}), json!({"b": 2})),
            json!({"a": 1, "b": 2})
        );
    }
}
