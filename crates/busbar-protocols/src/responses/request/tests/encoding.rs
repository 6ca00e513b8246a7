//! Egress: the bodies Responses upstreams get.

use busbar_ir::{Reasoning, ResponseFormat, ThinkingMode, ToolChoice};
use serde_json::Value;

use super::*;

fn encode(request: &Request) -> (Value, Vec<&'static str>) {
    let Encoded { body, dropped } = super::encode(request, &RequestOptions::new("upstream-model"));
    (serde_json::from_slice(&body).unwrap(), dropped)
}

#[test]
fn minimal_request_uses_the_upstream_model() {
    let request = Request::new("alias", vec![Message::text(Role::User, "hi")]);
    let (body, dropped) = encode(&request);
    assert_eq!(
        body,
        json!({"model": "upstream-model", "input": [{"type": "message", "role": "user", "content": "hi"}]})
    );
    assert!(dropped.is_empty());
}

#[test]
fn the_system_prompt_is_the_instructions_a_later_one_a_developer_message() {
    let mut request = Request::new(
        "m",
        vec![
            Message::text(Role::User, "hi"),
            Message::text(Role::System, "three"),
        ],
    );
    request.push_system("one");
    request.push_system("two");
    let (body, _) = encode(&request);
    assert_eq!(body["instructions"], "one\n\ntwo");
    assert_eq!(
        body["input"][1],
        json!({"type": "message", "role": "developer", "content": "three"})
    );
}

#[test]
fn tool_results_come_first_and_images_name_a_detail() {
    let image = ImageSource::Base64 {
        media_type: "image/png".into(),
        data: "AAAA".into(),
    };
    let request = Request::new(
        "m",
        vec![Message::new(
            Role::User,
            vec![
                ContentBlock::text("and now?"),
                ContentBlock::ToolResult {
                    tool_use_id: "call_1".into(),
                    name: Some("f".into()),
                    content: vec![
                        ToolResultContent::text("a"),
                        ToolResultContent::Image {
                            source: image.clone(),
                        },
                    ],
                    is_error: true,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "call_2".into(),
                    name: None,
                    content: vec![],
                    is_error: false,
                },
                ContentBlock::image(image),
            ],
        )],
    );
    let (body, dropped) = encode(&request);
    assert_eq!(
        body["input"],
        json!([
            {"type": "function_call_output", "call_id": "call_1", "output": [
                {"type": "input_text", "text": "a"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
            {"type": "function_call_output", "call_id": "call_2", "output": ""},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "and now?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
            ]},
        ])
    );
    assert_eq!(dropped, ["tool_result.is_error"]);
}

#[test]
fn assistant_blocks_become_items_and_foreign_thinking_is_dropped() {
    let request = Request::new(
        "m",
        vec![Message::new(
            Role::Assistant,
            vec![
                ContentBlock::thinking("hmm", Some("responses:rs_1:gAAA".into())),
                ContentBlock::thinking("anthropic", Some("EqQBsig".into())),
                ContentBlock::RedactedThinking { data: "x".into() },
                ContentBlock::thinking("", Some("responses:rs_2:".into())),
                ContentBlock::text("a"),
                ContentBlock::tool_use("call_1", "f", "{\"x\":1}"),
                ContentBlock::text("b"),
                ContentBlock::tool_use("call_2", "g", ""),
            ],
        )],
    );
    let (body, dropped) = encode(&request);
    assert_eq!(
        body["input"],
        json!([
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}], "encrypted_content": "gAAA"},
            {"type": "reasoning", "id": "rs_2", "summary": []},
            {"type": "message", "role": "assistant", "content": "a"},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"x\":1}"},
            {"type": "message", "role": "assistant", "content": "b"},
            {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{}"},
        ])
    );
    assert_eq!(dropped, ["thinking"]);
}

#[test]
fn parameters_tools_and_what_responses_lacks() {
    let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
    let mut strict = Tool::new("g", None, json!({"type": "object"}));
    strict.strict = Some(true);
    request.tools = vec![
        Tool::new("f", Some("d".into()), json!({"type": "object"})),
        strict,
    ];
    request.tool_choice = Some(ToolChoice::Tool("f".into()));
    request.parallel_tool_calls = Some(false);
    request.max_tokens = Some(100);
    request.temperature = Some(0.7);
    request.top_p = Some(0.5);
    request.top_k = Some(40);
    request.seed = Some(7);
    request.frequency_penalty = Some(0.1);
    request.presence_penalty = Some(0.2);
    request.stop_sequences = vec!["END".into()];
    request.user = Some("u".into());
    request.stream = true;
    request.stream_usage = true;
    request.response_format = Some(ResponseFormat::JsonSchema {
        name: "a".into(),
        schema: json!({"type": "object"}),
        strict: Some(true),
        description: None,
    });
    let mut reasoning = Reasoning::default();
    reasoning.effort = Some("low".into());
    request.reasoning = Some(reasoning);
    let (body, dropped) = encode(&request);
    assert_eq!(
        body["tools"],
        json!([
            {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": false},
            {"type": "function", "name": "g", "parameters": {"type": "object"}, "strict": true},
        ])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "name": "f"})
    );
    assert_eq!(body["parallel_tool_calls"], json!(false));
    assert_eq!(body["max_output_tokens"], json!(100));
    assert_eq!(
        (&body["temperature"], &body["top_p"]),
        (&json!(0.7), &json!(0.5))
    );
    assert_eq!(
        body["text"],
        json!({"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}, "strict": true}})
    );
    assert_eq!(body["reasoning"], json!({"effort": "low"}));
    assert_eq!(body["safety_identifier"], json!("u"));
    assert_eq!(body["stream"], json!(true));
    assert!(body.get("stream_options").is_none() && body.get("user").is_none());
    assert_eq!(
        dropped,
        [
            "stop_sequences",
            "top_k",
            "seed",
            "frequency_penalty",
            "presence_penalty"
        ]
    );
}

#[test]
fn choices_need_tools_long_user_ids_and_budgets() {
    let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
    request.tool_choice = Some(ToolChoice::Required);
    request.parallel_tool_calls = Some(true);
    request.user = Some("u".repeat(65));
    let mut reasoning = Reasoning::default();
    reasoning.budget_tokens = Some(2048);
    request.reasoning = Some(reasoning);
    let (body, dropped) = encode(&request);
    assert!(body.get("tool_choice").is_none() && body.get("parallel_tool_calls").is_none());
    assert!(body.get("reasoning").is_none());
    assert_eq!(body["user"], json!("u".repeat(65)));
    assert!(body.get("safety_identifier").is_none());
    assert_eq!(dropped, ["thinking"]);
    let mut off = Reasoning::default();
    off.mode = ThinkingMode::Disabled;
    off.budget_tokens = Some(0);
    request.reasoning = Some(off);
    assert!(encode(&request).1.is_empty());
}

#[test]
fn the_prompt_cache_key_crosses_between_chat_and_responses() {
    let chat = crate::openai::request::decode(
        br#"{"model": "m", "prompt_cache_key": "conv-1", "messages": [{"role": "user", "content": "hi"}]}"#,
    )
    .unwrap();
    assert_eq!(chat.cache_key.as_deref(), Some("conv-1"));
    let (body, _) = encode(&chat);
    assert_eq!(body["prompt_cache_key"], "conv-1");
    let back = super::super::decode(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(back.cache_key.as_deref(), Some("conv-1"));
}
