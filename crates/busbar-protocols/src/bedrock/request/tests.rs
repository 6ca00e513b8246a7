//! Converse requests: each decoding and encoding rule.

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    Tool, ToolChoice, ToolResultContent,
};
use serde_json::{json, Value};

use super::*;
use crate::RequestOptions;

fn encode_json(request: &Request) -> (Value, Vec<&'static str>) {
    let encoded = encode(request, &RequestOptions::new("anthropic.claude-sonnet-4-5"));
    (
        serde_json::from_slice(&encoded.body).unwrap(),
        encoded.dropped,
    )
}

fn user(text: &str) -> Message {
    Message::text(Role::User, text)
}

#[test]
fn a_full_request_decodes() {
    let body = json!({
        "messages": [
            {"role": "user", "content": [
                {"text": "What is in this picture, and the weather?"},
                {"image": {"format": "webp", "source": {"bytes": "UklGRg=="}}}
            ]},
            {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "Check weather.", "signature": "c2ln"}}},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp": 21}}], "status": "success"}}
            ]}
        ],
        "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}, {"text": "Use tools."}],
        "inferenceConfig": {"maxTokens": 2048, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather now",
                        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
                        "strict": true}}],
            "toolChoice": {"tool": {"name": "get_weather"}}
        },
        "additionalModelRequestFields": {"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": "{\"type\":\"object\"}", "name": "answer", "description": "The answer"}}}}
    });
    let request = decode_value(&body).unwrap();
    assert_eq!(request.model, "");
    assert!(!request.stream);
    assert_eq!(
        request.system_parts().collect::<Vec<_>>(),
        vec!["Be brief.", "Use tools."]
    );
    assert_eq!(
        request.system_prompt(),
        [Message::new(
            Role::System,
            vec![
                ContentBlock::text("Be brief."),
                ContentBlock::cache_point(),
                ContentBlock::text("Use tools.")
            ]
        )]
    );
    assert_eq!(
        request.conversation(),
        vec![
            Message::new(
                Role::User,
                vec![
                    ContentBlock::text("What is in this picture, and the weather?"),
                    ContentBlock::image(ImageSource::Base64 {
                        media_type: "image/webp".into(),
                        data: "UklGRg==".into()
                    }),
                ]
            ),
            Message::new(
                Role::Assistant,
                vec![
                    ContentBlock::thinking("Check weather.", Some("c2ln".into())),
                    ContentBlock::tool_use("tooluse_1", "get_weather", r#"{"city":"Paris"}"#),
                ]
            ),
            Message::new(
                Role::User,
                vec![ContentBlock::tool_result("tooluse_1", r#"{"temp":21}"#)]
            ),
        ]
    );
    assert_eq!(request.max_tokens, Some(2048));
    assert_eq!(request.temperature, Some(0.5));
    assert_eq!(request.top_p, Some(0.9));
    assert_eq!(request.stop_sequences, vec!["END"]);
    assert_eq!(request.top_k, Some(40));
    let mut tool = Tool::new(
        "get_weather",
        Some("Weather now".into()),
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    );
    tool.strict = Some(true);
    assert_eq!(request.tools, vec![tool]);
    assert_eq!(
        request.tool_choice,
        Some(ToolChoice::Tool("get_weather".into()))
    );
    let mut reasoning = Reasoning::default();
    reasoning.budget_tokens = Some(1024);
    assert_eq!(request.reasoning, Some(reasoning));
    assert_eq!(
        request.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            schema: json!({"type": "object"}),
            strict: None,
            description: Some("The answer".into()),
        })
    );
    // Cache points are carried, not dropped.
    assert!(!unsupported_fields(&body).contains(&"cachePoint"));
}

#[test]
fn malformed_requests_name_the_field() {
    for (body, field) in [
        (json!([]), "body"),
        (json!({}), "messages"),
        (json!({"messages": {}}), "messages"),
        (
            json!({"messages": [{"role": "tool", "content": []}]}),
            "messages[0].role",
        ),
        (
            json!({"messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
        (json!({"messages": [], "system": "text"}), "system"),
        (
            json!({"messages": [], "inferenceConfig": {"maxTokens": "10"}}),
            "inferenceConfig.maxTokens",
        ),
        (
            json!({"messages": [], "toolConfig": {}}),
            "toolConfig.tools",
        ),
        (
            json!({"messages": [], "toolConfig": {"tools": [{"toolSpec": {"name": "f"}}]}}),
            "toolConfig.tools[0].toolSpec.inputSchema.json",
        ),
        (
            json!({"messages": [], "toolConfig": {"tools": [], "toolChoice": {"none": {}}}}),
            "toolConfig.toolChoice",
        ),
        (
            json!({"messages": [], "additionalModelRequestFields": {"thinking": {"type": "on"}}}),
            "additionalModelRequestFields.thinking.type",
        ),
        (
            json!({"messages": [], "outputConfig": {"textFormat": {"type": "json_schema",
                "structure": {"jsonSchema": {"schema": "{not json"}}}}}),
            "outputConfig.textFormat.structure.jsonSchema.schema",
        ),
    ] {
        let error = decode_value(&body).unwrap_err();
        assert_eq!(error.param(), Some(field), "{body}");
    }
    assert!(decode(b"not json").is_err());
}

#[test]
fn features_the_ir_lacks_are_named() {
    let body = json!({
        "messages": [{"role": "user", "content": [
            {"text": "hi"},
            {"document": {"name": "d", "format": "pdf", "source": {"bytes": "JVBERi0="}}},
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k.png"}}}},
            {"toolResult": {"toolUseId": "t", "content": [{"json": {}}, {"video": {}}]}},
            {"cachePoint": {"type": "default"}}
        ]}],
        "system": [{"guardContent": {"text": {"text": "x"}}}],
        "toolConfig": {"tools": [{"systemTool": {"name": "nova_grounding"}}, {"cachePoint": {"type": "default"}}]},
        "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
        "promptVariables": {"topic": {"text": "x"}},
        "requestMetadata": {"k": "v"},
        "performanceConfig": {"latency": "optimized"},
        "serviceTier": {"type": "priority"},
        "additionalModelResponseFieldPaths": ["/stop_sequence"],
        "additionalModelRequestFields": {"top_k": 5, "anthropic_beta": ["x"]}
    });
    assert_eq!(
        unsupported_fields(&body),
        vec![
            "guardrailConfig",
            "promptVariables",
            "requestMetadata",
            "performanceConfig",
            "serviceTier",
            "additionalModelResponseFieldPaths",
            "guardContent",
            "document",
            "s3Location",
            "video",
            "systemTool",
            "additionalModelRequestFields",
        ]
    );
    assert!(unsupported_fields(
        &json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
        "additionalModelRequestFields": {"top_k": 5, "thinking": {"type": "disabled"}}})
    )
    .is_empty());
    assert!(unsupported_fields(&json!("x")).is_empty());
}

#[test]
fn turns_are_merged_with_tool_results_first_and_blank_text_skipped() {
    let request = Request::new(
        "m",
        vec![
            user("first"),
            Message::new(Role::User, vec![ContentBlock::text("  \n")]),
            Message::new(
                Role::Assistant,
                vec![ContentBlock::tool_use("call_1", "f", r#"{"a":1}"#)],
            ),
            Message::new(Role::Assistant, vec![ContentBlock::text("")]),
            user("then"),
            Message::new(Role::User, vec![ContentBlock::tool_result("call_1", "ok")]),
        ],
    );
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "first"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "f", "input": {"a": 1}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "ok"}]}},
                {"text": "then"}
            ]}
        ])
    );
    // No tools were given, but the conversation uses one: Bedrock needs a
    // toolConfig, so a stand-in is sent.
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
    );
    assert!(body.get("inferenceConfig").is_none());
    assert!(body.get("modelId").is_none() && body.get("model").is_none());
}

#[test]
fn images_go_inline_in_bedrocks_formats_only() {
    let request = Request::new(
        "m",
        vec![Message::new(
            Role::User,
            vec![
                ContentBlock::Image {
                    source: ImageSource::Base64 {
                        media_type: "image/jpeg".into(),
                        data: "/9j/".into(),
                    },
                    detail: Some("high".into()),
                },
                ContentBlock::image(ImageSource::Url {
                    url: "https://example.com/cat.png".into(),
                }),
                ContentBlock::image(ImageSource::Base64 {
                    media_type: "image/tiff".into(),
                    data: "SUkq".into(),
                }),
                ContentBlock::ToolResult {
                    tool_use_id: "t".into(),
                    name: Some("f".into()),
                    content: vec![
                        ToolResultContent::text("see"),
                        ToolResultContent::Image {
                            source: ImageSource::Base64 {
                                media_type: "image/gif".into(),
                                data: "R0lG".into(),
                            },
                        },
                    ],
                    is_error: true,
                },
            ],
        )],
    );
    let (body, dropped) = encode_json(&request);
    assert_eq!(dropped, vec!["detail", "image_url", "image"]);
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"toolResult": {"toolUseId": "t", "content": [
                {"text": "see"}, {"image": {"format": "gif", "source": {"bytes": "R0lG"}}}
            ], "status": "error"}},
            {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}}
        ])
    );
}

#[test]
fn reasoning_blocks_need_a_signature_to_go_back() {
    let mut tool_use = ContentBlock::tool_use("t", "f", "[1]");
    if let ContentBlock::ToolUse { signature, .. } = &mut tool_use {
        *signature = Some("gemini-sig".into());
    }
    let request = Request::new(
        "m",
        vec![
            user("q"),
            Message::new(
                Role::Assistant,
                vec![
                    ContentBlock::thinking("unsigned", None),
                    ContentBlock::thinking("signed", Some("c2ln".into())),
                    ContentBlock::RedactedThinking {
                        data: "cmVk".into(),
                    },
                    tool_use,
                ],
            ),
        ],
    );
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        dropped,
        vec!["thinking", "tool_use.signature", "tool_use.arguments"]
    );
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"reasoningContent": {"reasoningText": {"text": "signed", "signature": "c2ln"}}},
            {"reasoningContent": {"redactedContent": "cmVk"}},
            {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}
        ])
    );
}

#[test]
fn sampling_and_limits_go_in_inference_config() {
    let mut request = Request::new("m", vec![user("hi")]);
    request.push_system("sys");
    request.push_system(" ");
    request.max_tokens = Some(300);
    request.temperature = Some(1.5);
    request.top_p = Some(0.25);
    request.top_k = Some(7);
    request.stop_sequences = vec!["STOP".into(), String::new()];
    request.frequency_penalty = Some(0.1);
    request.presence_penalty = Some(0.1);
    request.seed = Some(3);
    request.user = Some("u".into());
    request.parallel_tool_calls = Some(false);
    request.response_format = Some(ResponseFormat::JsonObject);
    request.stream = true;
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        body,
        json!({
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "system": [{"text": "sys"}],
            "inferenceConfig": {"maxTokens": 300, "temperature": 1.0, "topP": 0.25, "stopSequences": ["STOP"]},
            "additionalModelRequestFields": {"top_k": 7}
        })
    );
    assert_eq!(
        dropped,
        vec![
            "temperature",
            "response_format",
            "frequency_penalty",
            "presence_penalty",
            "seed",
            "user",
            "parallel_tool_calls"
        ]
    );
}

#[test]
fn a_json_schema_goes_in_output_config_as_text() {
    let mut request = Request::new("m", vec![user("hi")]);
    request.response_format = Some(ResponseFormat::JsonSchema {
        name: "answer".into(),
        schema: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        strict: Some(true),
        description: None,
    });
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty());
    assert_eq!(
        body["outputConfig"],
        json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": r#"{"type":"object","properties":{"a":{"type":"string"}}}"#, "name": "answer"}}}})
    );
    let back = decode(
        &encode(
            &request,
            &RequestOptions::new("anthropic.claude-sonnet-4-5"),
        )
        .body,
    )
    .unwrap();
    assert_eq!(
        back.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            schema: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            strict: None,
            description: None,
        })
    );
}

fn reasoning(mode: ThinkingMode, budget: Option<u64>, effort: Option<&str>) -> Reasoning {
    let mut reasoning = Reasoning::default();
    reasoning.mode = mode;
    reasoning.budget_tokens = budget;
    reasoning.effort = effort.map(str::to_owned);
    reasoning
}

#[test]
fn what_the_encoder_writes_the_decoder_reads() {
    let mut request = Request::new(
        "",
        vec![
            user("q"),
            Message::new(
                Role::Assistant,
                vec![ContentBlock::tool_use("t", "f", r#"{"x":[1,2]}"#)],
            ),
            Message::new(Role::User, vec![ContentBlock::tool_result("t", "done")]),
        ],
    );
    request.tools = vec![Tool::new("f", Some("F".into()), json!({"type": "object"}))];
    request.tool_choice = Some(ToolChoice::Auto);
    request.max_tokens = Some(9000);
    request.reasoning = Some(reasoning(ThinkingMode::Enabled, Some(3000), None));
    request.top_p = Some(0.97);
    let encoded = encode(
        &request,
        &RequestOptions::new("anthropic.claude-sonnet-4-5"),
    );
    assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
    assert_eq!(decode(&encoded.body).unwrap(), request);
}
