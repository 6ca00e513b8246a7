//! Unit tests of the Cohere request parameters: sampling, formats,
//! thinking, and the fields named as dropped or unsupported.

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
};
use serde_json::{json, Value};

use super::{decode_json, encode_json, user, weather_tool};
use crate::cohere::request::{decode, decode_value, unsupported_fields};

#[test]
fn sampling_fields_use_cohere_names() {
    let request = decode_json(json!({
        "model": "m", "messages": [],
        "max_tokens": 300, "temperature": 0.3, "p": 0.75, "k": 40, "seed": 42,
        "frequency_penalty": 0.1, "presence_penalty": 0.2, "stop_sequences": ["END"], "stream": true
    }));
    assert_eq!(request.max_tokens, Some(300));
    assert_eq!(request.temperature, Some(0.3));
    assert_eq!(request.top_p, Some(0.75));
    assert_eq!(request.top_k, Some(40));
    assert_eq!(request.seed, Some(42));
    assert_eq!(request.frequency_penalty, Some(0.1));
    assert_eq!(request.presence_penalty, Some(0.2));
    assert_eq!(request.stop_sequences, vec!["END"]);
    assert!(request.stream);
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty());
    assert_eq!(
        body,
        json!({"model": "command-a-03-2025", "messages": [], "max_tokens": 300, "stop_sequences": ["END"],
               "temperature": 0.3, "seed": 42, "frequency_penalty": 0.1, "presence_penalty": 0.2,
               "k": 40, "p": 0.75, "stream": true})
    );
}

#[test]
fn values_outside_cohere_ranges_are_moved_and_named() {
    let mut request = Request::new("m", vec![]);
    request.temperature = Some(1.5);
    request.top_p = Some(1.0);
    request.top_k = Some(1000);
    request.frequency_penalty = Some(-0.5);
    request.presence_penalty = Some(2.0);
    request.seed = Some(-7);
    request.stop_sequences = (1..=7).map(|n| n.to_string()).collect();
    let (body, dropped) = encode_json(&request);
    assert_eq!(body["temperature"], 1.0);
    assert_eq!(body["p"], 0.99);
    assert_eq!(body["k"], 500);
    assert_eq!(body["frequency_penalty"], 0.0);
    assert_eq!(body["presence_penalty"], 1.0);
    assert_eq!(body.get("seed"), None);
    assert_eq!(body["stop_sequences"], json!(["1", "2", "3", "4", "5"]));
    assert_eq!(
        dropped,
        vec![
            "stop_sequences",
            "temperature",
            "seed",
            "frequency_penalty",
            "presence_penalty",
            "top_k",
            "top_p"
        ]
    );
}

#[test]
fn response_formats() {
    let format = |value: Value| {
        decode_json(json!({"model": "m", "messages": [], "response_format": value})).response_format
    };
    assert_eq!(format(json!({"type": "text"})), Some(ResponseFormat::Text));
    assert_eq!(
        format(json!({"type": "json_object"})),
        Some(ResponseFormat::JsonObject)
    );
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
    let expected = ResponseFormat::JsonSchema {
        name: "response".into(),
        schema: schema.clone(),
        strict: None,
        description: None,
    };
    assert_eq!(
        format(json!({"type": "json_object", "json_schema": schema})),
        Some(expected.clone())
    );
    assert_eq!(
        format(json!({"type": "json_object", "schema": schema})),
        Some(expected)
    );

    let mut request = Request::new("m", vec![]);
    request.response_format = Some(ResponseFormat::JsonSchema {
        name: "person".into(),
        schema: schema.clone(),
        strict: Some(true),
        description: Some("A person".into()),
    });
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        body["response_format"],
        json!({"type": "json_object", "json_schema": schema})
    );
    assert!(dropped.is_empty());
}

#[test]
fn thinking_is_reasoning_with_a_token_budget() {
    let thinking = |value: Value| {
        decode_json(json!({"model": "m", "messages": [], "thinking": value})).reasoning
    };
    let mut enabled = Reasoning::default();
    enabled.budget_tokens = Some(500);
    assert_eq!(
        thinking(json!({"type": "enabled", "token_budget": 500})),
        Some(enabled.clone())
    );
    assert_eq!(thinking(json!({"token_budget": 500})), Some(enabled));
    let mut disabled = Reasoning::default();
    disabled.mode = ThinkingMode::Disabled;
    assert_eq!(thinking(json!({"type": "disabled"})), Some(disabled));

    let encode_reasoning = |mode: ThinkingMode, budget: Option<u64>, effort: Option<&str>| {
        let mut request = Request::new("m", vec![]);
        let mut reasoning = Reasoning::default();
        reasoning.mode = mode;
        reasoning.budget_tokens = budget;
        reasoning.effort = effort.map(str::to_owned);
        request.reasoning = Some(reasoning);
        let (body, dropped) = encode_json(&request);
        (body["thinking"].clone(), dropped)
    };
    assert_eq!(
        encode_reasoning(ThinkingMode::Enabled, Some(2048), None),
        (json!({"type": "enabled", "token_budget": 2048}), vec![])
    );
    assert_eq!(
        encode_reasoning(ThinkingMode::Adaptive, None, None),
        (json!({"type": "enabled"}), vec![])
    );
    assert_eq!(
        encode_reasoning(ThinkingMode::Disabled, None, None),
        (json!({"type": "disabled"}), vec![])
    );
    assert_eq!(
        encode_reasoning(ThinkingMode::Enabled, None, Some("none")),
        (json!({"type": "disabled"}), vec![])
    );
    assert_eq!(
        encode_reasoning(ThinkingMode::Enabled, None, Some("high")),
        (json!({"type": "enabled"}), vec!["reasoning.effort"])
    );
}

#[test]
fn fields_cohere_lacks_are_named_on_encode() {
    let mut request = Request::new(
        "m",
        vec![
            user("Hi"),
            Message::new(
                Role::Assistant,
                vec![
                    ContentBlock::image(ImageSource::Url {
                        url: "https://x/y.png".into(),
                    }),
                    ContentBlock::tool_result("t", "x"),
                    ContentBlock::text("ok"),
                ],
            ),
        ],
    );
    request.user = Some("u-1".into());
    request.tools = vec![weather_tool()];
    request.parallel_tool_calls = Some(false);
    request.stream_usage = true;
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        dropped,
        vec!["image", "content_block", "user", "parallel_tool_calls"]
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": "ok"})
    );
    assert_eq!(body.get("stream"), None);
}

#[test]
fn unsupported_fields_are_named_once() {
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Q"}, {"type": "document", "document": {"data": {"text": "d"}}}]},
            {"role": "assistant", "content": "A", "citations": [{"start": 0, "end": 1, "text": "A", "sources": []}]},
            {"role": "user", "content": [{"type": "document", "document": {"data": {"text": "e"}}}]}
        ],
        "documents": ["doc"],
        "citation_options": {"mode": "FAST"},
        "safety_mode": "STRICT",
        "logprobs": true,
        "priority": 3
    });
    assert_eq!(
        unsupported_fields(&body),
        vec![
            "documents",
            "citation_options",
            "safety_mode",
            "logprobs",
            "document",
            "citations"
        ]
    );
    let request = decode_value(&body).unwrap();
    assert_eq!(request.messages[0].content, vec![ContentBlock::text("Q")]);
    assert!(unsupported_fields(
        &json!({"model": "m", "messages": [], "documents": [], "logprobs": false})
    )
    .is_empty());
    assert!(unsupported_fields(&json!([])).is_empty());
}

#[test]
fn malformed_requests_name_the_field_at_fault() {
    let param = |body: Value| decode_value(&body).unwrap_err().param().map(str::to_owned);
    assert_eq!(param(json!({"messages": []})).as_deref(), Some("model"));
    assert_eq!(param(json!({"model": "m"})).as_deref(), Some("messages"));
    assert_eq!(
        param(json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]})).as_deref(),
        Some("messages[0].role")
    );
    assert_eq!(
        param(json!({"model": "m", "messages": [{"role": "user", "content": 5}]})).as_deref(),
        Some("messages[0].content")
    );
    assert_eq!(
        param(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "audio"}]}]})
        )
        .as_deref(),
        Some("messages[0].content[0].type")
    );
    assert_eq!(
        param(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]})).as_deref(),
        Some("messages[0].tool_call_id")
    );
    assert_eq!(
        param(json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]}))
            .as_deref(),
        Some("messages[0].tool_calls[0].function.name")
    );
    assert_eq!(
        param(json!({"model": "m", "messages": [], "k": -1})).as_deref(),
        Some("k")
    );
    assert_eq!(
        param(json!({"model": "m", "messages": [], "thinking": {"type": "maybe"}})).as_deref(),
        Some("thinking.type")
    );
    assert!(decode(b"not json").is_err());
    assert!(decode(b"[]").is_err());
}
