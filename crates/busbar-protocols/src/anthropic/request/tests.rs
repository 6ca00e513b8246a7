//! Unit tests of the Anthropic request decoder and encoder.

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    ToolChoice,
};
use serde_json::{json, Value};

use super::{decode, encode, unsupported_fields};
use crate::{DecodeError, RequestOptions};

fn decode_json(body: Value) -> Result<Request, DecodeError> {
    decode(&serde_json::to_vec(&body).unwrap())
}

fn encode_json(request: &Request) -> (Value, Vec<&'static str>) {
    let encoded = encode(request, &RequestOptions::new("claude-sonnet-4-5"));
    (
        serde_json::from_slice(&encoded.body).unwrap(),
        encoded.dropped,
    )
}

fn invalid_field(result: Result<Request, DecodeError>) -> String {
    match result {
        Err(DecodeError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn required_fields_are_named_when_missing_or_wrong() {
    let messages = json!([{"role": "user", "content": "hi"}]);
    assert_eq!(
        invalid_field(decode_json(json!({"model": "m", "messages": messages}))),
        "max_tokens"
    );
    assert_eq!(
        invalid_field(decode_json(json!({"model": "m", "max_tokens": 5}))),
        "messages"
    );
    assert_eq!(
        invalid_field(decode_json(
            json!({"model": "m", "max_tokens": -1, "messages": messages})
        )),
        "max_tokens"
    );
    assert_eq!(
        invalid_field(decode_json(
            json!({"max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]})
        )),
        "messages[0].role"
    );
    assert_eq!(
        invalid_field(decode_json(json!({"max_tokens": 5, "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "x"}}]}
        ]}))),
        "messages[0].content[0].source.media_type"
    );
    assert!(matches!(decode(b"{"), Err(DecodeError::Json(_))));
    assert_eq!(invalid_field(decode(b"[]")), "body");
    // The model may come from the route instead.
    assert_eq!(
        decode_json(json!({"max_tokens": 5, "messages": messages}))
            .unwrap()
            .model,
        ""
    );
}

#[test]
fn system_string_or_blocks_and_tool_choice_decode() {
    let request = decode_json(json!({
        "model": "m", "max_tokens": 5, "messages": [],
        "system": [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "two"}],
        "tools": [
            {"name": "f", "description": "d", "input_schema": {"type": "object"}, "strict": true},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
        ],
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true},
        "metadata": {"user_id": "u-1"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}}
    }))
    .unwrap();
    assert_eq!(
        request.system_parts().collect::<Vec<_>>(),
        vec!["one", "two"]
    );
    assert_eq!(request.tools.len(), 1);
    assert_eq!(request.tools[0].strict, Some(true));
    assert_eq!(request.tool_choice, Some(ToolChoice::Tool("f".into())));
    assert_eq!(request.parallel_tool_calls, Some(false));
    assert_eq!(request.user.as_deref(), Some("u-1"));
    let reasoning = request.reasoning.unwrap();
    assert_eq!(
        (reasoning.mode, reasoning.budget_tokens),
        (ThinkingMode::Enabled, Some(2048))
    );
    assert_eq!(reasoning.effort.as_deref(), Some("high"));
    assert!(
        matches!(request.response_format, Some(ResponseFormat::JsonSchema { ref name, .. }) if name == "response")
    );
}

#[test]
fn unsupported_features_are_named_once() {
    let body = json!({
        "model": "m", "max_tokens": 5, "container": "c", "service_tier": "auto",
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
            {"type": "image", "source": {"type": "file", "file_id": "f"}},
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "search_result", "source": "s", "title": "t", "content": []}]},
            {"type": "web_search_tool_result", "tool_use_id": "s", "content": []},
            {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
        ]}],
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}, {"type": "mystery_1", "name": "m"}],
        "output_config": {"effort": "low"}
    });
    assert_eq!(
        unsupported_fields(&body),
        vec![
            "container",
            "service_tier",
            "document",
            "file",
            "search_result",
            "server_tool_result",
            "code_execution",
            "server_tool",
            "output_config.effort",
        ]
    );
    let request = decode_json(body).unwrap();
    assert_eq!(
        request.conversation()[0].content,
        vec![
            ContentBlock::ToolResult {
                tool_use_id: "t".into(),
                name: None,
                content: vec![],
                is_error: false
            },
            ContentBlock::text("x"),
            ContentBlock::cache_point()
        ]
    );
    assert!(request.reasoning.is_none());
    assert!(unsupported_fields(&json!("not an object")).is_empty());
}

#[test]
fn consecutive_turns_merge_with_tool_results_first() {
    let mut request = Request::new(
        "m",
        vec![
            Message::text(Role::Assistant, "prefill is allowed first"),
            Message::new(
                Role::Assistant,
                vec![ContentBlock::tool_use("t1", "f", "{\"x\": 1}")],
            ),
            Message::text(Role::User, "and also"),
            Message::new(
                Role::User,
                vec![
                    ContentBlock::tool_result("t1", "42"),
                    ContentBlock::text(""),
                ],
            ),
            Message::text(Role::Assistant, ""),
            Message::text(Role::User, "more"),
        ],
    );
    request.push_system("only");
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 4096, "system": "only",
            "messages": [
                {"role": "assistant", "content": [
                    {"type": "text", "text": "prefill is allowed first"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
                    {"type": "text", "text": "and also"},
                    {"type": "text", "text": "more"}
                ]}
            ]
        })
    );
}

#[test]
fn fields_anthropic_lacks_are_dropped_and_named() {
    let mut request = Request::new(
        "m",
        vec![Message::new(
            Role::Assistant,
            vec![
                ContentBlock::thinking("unsigned", None),
                ContentBlock::thinking("signed", Some("sig".into())),
                ContentBlock::ToolUse {
                    id: "t".into(),
                    name: "f".into(),
                    arguments: "not json".into(),
                    signature: Some("gemini".into()),
                },
                ContentBlock::Image {
                    source: ImageSource::from_url("data:image/png;base64,AAAA"),
                    detail: Some("high".into()),
                },
            ],
        )],
    );
    request.frequency_penalty = Some(0.5);
    request.presence_penalty = Some(0.5);
    request.seed = Some(7);
    request.response_format = Some(ResponseFormat::JsonObject);
    request.push_system("a");
    request.push_system("");
    request.push_system("b");
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        dropped,
        vec![
            "response_format",
            "frequency_penalty",
            "presence_penalty",
            "seed",
            "thinking",
            "tool_use.signature",
            "tool_use.arguments",
            "detail"
        ]
    );
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "thinking", "thinking": "signed", "signature": "sig"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
        ])
    );
}

#[test]
fn tool_choice_and_parallel_calls_encode() {
    let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
    request.tools = vec![busbar_ir::Tool::new("f", None, Value::Null)];
    request.parallel_tool_calls = Some(false);
    let (body, _) = encode_json(&request);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "f", "input_schema": {"type": "object", "properties": {}}}])
    );
    for (choice, expected) in [
        (
            ToolChoice::Required,
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            ToolChoice::Tool("f".into()),
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}),
        ),
        (ToolChoice::None, json!({"type": "none"})),
    ] {
        request.tool_choice = Some(choice);
        assert_eq!(encode_json(&request).0["tool_choice"], expected);
    }
    request.tools.clear();
    assert!(encode_json(&request).0.get("tool_choice").is_none());
}

fn reasoning(mode: ThinkingMode, budget: Option<u64>, effort: Option<&str>) -> Reasoning {
    let mut reasoning = Reasoning::default();
    reasoning.mode = mode;
    reasoning.budget_tokens = budget;
    reasoning.effort = effort.map(str::to_owned);
    reasoning
}

#[test]
fn reasoning_budgets_fit_anthropic_bounds() {
    let cases = [
        (
            reasoning(ThinkingMode::Enabled, None, Some("low")),
            8000,
            json!({"type": "enabled", "budget_tokens": 1024}),
            Value::Null,
        ),
        (
            reasoning(ThinkingMode::Enabled, None, Some("medium")),
            8000,
            json!({"type": "enabled", "budget_tokens": 4096}),
            Value::Null,
        ),
        (
            reasoning(ThinkingMode::Enabled, None, Some("high")),
            8000,
            json!({"type": "enabled", "budget_tokens": 7999}),
            Value::Null,
        ),
        (
            reasoning(ThinkingMode::Enabled, Some(100), None),
            8000,
            json!({"type": "enabled", "budget_tokens": 1024}),
            Value::Null,
        ),
        (
            reasoning(ThinkingMode::Enabled, Some(2000), Some("high")),
            8000,
            json!({"type": "enabled", "budget_tokens": 2000}),
            json!({"effort": "high"}),
        ),
        (
            reasoning(ThinkingMode::Enabled, None, Some("none")),
            8000,
            json!({"type": "disabled"}),
            Value::Null,
        ),
        (
            reasoning(ThinkingMode::Disabled, None, None),
            8000,
            json!({"type": "disabled"}),
            Value::Null,
        ),
        (
            reasoning(ThinkingMode::Adaptive, None, Some("minimal")),
            8000,
            json!({"type": "adaptive"}),
            json!({"effort": "low"}),
        ),
    ];
    for (reasoning, max_tokens, thinking, output_config) in cases {
        let mut request = Request::new("m", vec![]);
        request.max_tokens = Some(max_tokens);
        request.reasoning = Some(reasoning.clone());
        let (body, dropped) = encode_json(&request);
        assert_eq!(body["thinking"], thinking, "{reasoning:?}");
        assert_eq!(body["output_config"], output_config, "{reasoning:?}");
        assert!(dropped.is_empty());
    }
    let mut request = Request::new("m", vec![]);
    request.max_tokens = Some(1024);
    request.reasoning = Some(reasoning(ThinkingMode::Enabled, Some(2048), None));
    let (body, dropped) = encode_json(&request);
    assert!(body.get("thinking").is_none());
    assert_eq!(dropped, vec!["reasoning"]);
}

#[test]
fn sampling_user_stop_and_stream_pass_through() {
    let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
    request.temperature = Some(0.7);
    request.top_p = Some(0.123456789012345);
    request.top_k = Some(40);
    request.stop_sequences = vec!["END".into()];
    request.user = Some("u".into());
    request.stream = true;
    request.max_tokens = Some(10);
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty());
    let text = body.to_string();
    assert!(
        text.contains("\"temperature\":0.7") && text.contains("0.123456789012345"),
        "{text}"
    );
    assert_eq!(body["metadata"], json!({"user_id": "u"}));
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(decode(&serde_json::to_vec(&body).unwrap()).unwrap(), {
        let mut back = request.clone();
        back.model = "claude-sonnet-4-5".into();
        back
    });
}

#[test]
fn thinking_wins_over_sampling_and_loses_to_a_forced_tool() {
    let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
    request.max_tokens = Some(8000);
    request.reasoning = Some(reasoning(ThinkingMode::Enabled, Some(2000), None));
    request.temperature = Some(0.2);
    request.top_p = Some(0.5);
    request.top_k = Some(5);
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2000})
    );
    assert!(
        body.get("temperature").is_none()
            && body.get("top_p").is_none()
            && body.get("top_k").is_none()
    );
    assert_eq!(dropped, vec!["temperature", "top_k", "top_p"]);
    request.temperature = Some(1.0);
    request.top_p = Some(0.96);
    request.top_k = None;
    assert!(encode_json(&request).1.is_empty());

    request.tools = vec![busbar_ir::Tool::new("f", None, json!({"type": "object"}))];
    request.tool_choice = Some(ToolChoice::Required);
    request.temperature = Some(1.5);
    let (body, dropped) = encode_json(&request);
    assert!(body.get("thinking").is_none());
    assert_eq!(body["tool_choice"], json!({"type": "any"}));
    assert_eq!(body["temperature"], json!(1.0));
    assert_eq!(dropped, vec!["reasoning", "temperature"]);
}

#[test]
fn current_claude_thinks_adaptively_with_an_effort() {
    let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
    let mut reasoning = busbar_ir::Reasoning::default();
    reasoning.effort = Some("high".into());
    request.reasoning = Some(reasoning.clone());
    let encode_for = |request: &Request, model: &str| {
        let encoded = encode(request, &RequestOptions::new(model));
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        (body, encoded.dropped)
    };
    let (body, dropped) = encode_for(&request, "claude-opus-4-7");
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
    assert_eq!(body["output_config"], json!({"effort": "high"}));
    assert!(dropped.is_empty());
    // A budget becomes the nearest effort, and says so.
    reasoning.effort = None;
    reasoning.budget_tokens = Some(5000);
    request.reasoning = Some(reasoning);
    let (body, dropped) = encode_for(&request, "claude-opus-4-7");
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
    assert_eq!(body["output_config"], json!({"effort": "medium"}));
    assert_eq!(dropped, ["reasoning.budget_tokens"]);
    // Earlier Claude keeps the budget, below the default max_tokens of 4096.
    let (body, _) = encode_for(&request, "claude-sonnet-4-5-20250929");
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 4095})
    );
}

#[test]
fn top_level_cache_control_caches_up_to_the_last_block() {
    let request = decode_json(json!({"model": "m", "max_tokens": 5,
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
        "messages": [{"role": "user", "content": "hi"}]}))
    .unwrap();
    assert_eq!(
        request.messages[0].content,
        vec![
            ContentBlock::text("hi"),
            ContentBlock::CachePoint(busbar_ir::CachePoint::new(Some("1h".into())))
        ]
    );
    let (body, _) = encode_json(&request);
    assert_eq!(
        body["messages"][0]["content"][0]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"})
    );
}
