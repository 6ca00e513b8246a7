//! Tests of the request mapping: the round trip, decoding, encoding.

use busbar_ir::{ContentBlock, ImageSource, Message, Role, Tool, ToolResultContent};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::{Encoded, RequestOptions};

#[test]
fn unsupported_fields_names_what_a_translation_cannot_honour() {
    let body = json!({
        "model": "m", "input": [
            {"role": "user", "content": "hi"},
            {"type": "item_reference", "id": "msg_1"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        ],
        "previous_response_id": "resp_1", "conversation": "conv_1",
        "prompt": {"id": "pmpt_1"}, "background": true, "top_logprobs": 2, "max_tool_calls": 3,
        "context_management": [{"type": "compaction"}],
        "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}],
        "tool_choice": {"type": "web_search_preview"},
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
        "reasoning": {"effort": "low", "summary": "auto"}, "text": {"verbosity": "low"},
        "truncation": "auto", "store": false, "metadata": {"a": "b"}, "service_tier": "flex",
    });
    assert_eq!(
        unsupported_fields(&body),
        [
            "previous_response_id",
            "conversation",
            "prompt",
            "top_logprobs",
            "max_tool_calls",
            "context_management",
            "background",
            "input",
            "tools",
            "tool_choice",
            "include",
            "reasoning.summary",
            "text.verbosity",
            "truncation"
        ]
    );
    let harmless = json!({"model": "m", "input": [{"role": "user", "content": "hi"}],
        "previous_response_id": null, "background": false, "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "low", "summary": null}, "truncation": "disabled", "store": false,
        "tool_choice": {"type": "function", "name": "f"}});
    assert!(unsupported_fields(&harmless).is_empty());
    assert!(unsupported_fields(&json!("not an object")).is_empty());
}

fn field_of(result: Result<Request, DecodeError>) -> String {
    match result {
        Err(DecodeError::Invalid { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

/// Ingress: what clients send.
mod decoding {
    use busbar_ir::{ResponseFormat, ThinkingMode, ToolChoice};

    use super::*;

    fn decode(body: serde_json::Value) -> Result<Request, DecodeError> {
        super::decode(body.to_string().as_bytes())
    }

    #[test]
    fn a_string_input_is_one_user_turn_and_instructions_come_first() {
        let request = decode(
            json!({"model": "gpt-5", "input": "Hello", "instructions": "Be brief.",
            "max_output_tokens": 100, "temperature": 0.7, "top_p": 0.9, "stream": true,
            "user": "old", "safety_identifier": "new"}),
        )
        .unwrap();
        assert_eq!(request.model, "gpt-5");
        assert_eq!(request.system_parts().collect::<Vec<_>>(), ["Be brief."]);
        assert_eq!(request.conversation(), [Message::text(Role::User, "Hello")]);
        assert_eq!(request.max_tokens, Some(100));
        assert_eq!((request.temperature, request.top_p), (Some(0.7), Some(0.9)));
        assert!(request.stream && !request.stream_usage);
        assert_eq!(request.user.as_deref(), Some("new"));
        let legacy = decode(json!({"model": "m", "input": [], "user": "old"})).unwrap();
        assert_eq!(legacy.user.as_deref(), Some("old"));
        assert!(legacy.messages.is_empty());
        // Input may come from a stored prompt instead.
        assert!(decode(json!({"model": "m"})).unwrap().messages.is_empty());
    }

    #[test]
    fn leading_system_and_developer_items_join_the_instructions_later_ones_stay() {
        let request = decode(json!({"model": "m", "instructions": "one", "input": [
            {"role": "developer", "content": "two"},
            {"role": "user", "content": "hi"},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "three"}]},
        ]}))
        .unwrap();
        assert_eq!(request.system_parts().collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(
            request.conversation(),
            [
                Message::text(Role::User, "hi"),
                Message::text(Role::System, "three")
            ]
        );
    }

    #[test]
    fn items_form_alternating_turns_with_tool_results_first() {
        let request = decode(json!({"model": "m", "input": [
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"type": "reasoning", "id": "rs_1", "summary": [
                {"type": "summary_text", "text": "Two cities."}, {"type": "summary_text", "text": "Two calls."}],
                "encrypted_content": "gAAAA"},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "w", "arguments": "{\"city\": \"Paris\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "w", "arguments": {"city": "Rome"}},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "rain"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "thanks"}]},
            {"role": "user", "content": "and tomorrow?"},
        ]}))
        .unwrap();
        let messages = request.messages;
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[1].role, Role::Assistant);
        assert_eq!(
            messages[1].content,
            vec![
                ContentBlock::thinking(
                    "Two cities.\n\nTwo calls.",
                    Some("responses:rs_1:gAAAA".into())
                ),
                ContentBlock::text("Checking."),
                // Arguments are kept verbatim, spaces and all.
                ContentBlock::tool_use("call_1", "w", "{\"city\": \"Paris\"}"),
                ContentBlock::tool_use("call_2", "w", "{\"city\":\"Rome\"}"),
            ]
        );
        assert_eq!(messages[2].role, Role::User);
        assert_eq!(
            messages[2].content,
            vec![
                ContentBlock::tool_result("call_1", "sunny"),
                ContentBlock::tool_result("call_2", "rain"),
                ContentBlock::text("thanks"),
            ]
        );
        assert_eq!(
            messages[3].content,
            vec![ContentBlock::text("and tomorrow?")]
        );
    }

    #[test]
    fn reasoning_items_keep_their_id_and_invented_ones_their_original() {
        let request = decode(json!({"model": "m", "input": [
            {"type": "reasoning", "id": "rs_2", "summary": []},
            {"type": "reasoning", "id": "rs_3", "summary": [], "content": [{"type": "reasoning_text", "text": "raw"}]},
            {"type": "reasoning", "id": "rs_busbar_thinking_abc_0", "summary": [{"type": "summary_text", "text": "t"}], "encrypted_content": "EqQBsig"},
            {"type": "reasoning", "id": "rs_busbar_redacted_abc_1", "summary": [], "encrypted_content": "opaque"},
        ]}))
        .unwrap();
        assert_eq!(
            request.messages[0].content,
            vec![
                ContentBlock::thinking("", Some("responses:rs_2:".into())),
                ContentBlock::thinking("raw", Some("responses:rs_3:".into())),
                ContentBlock::thinking("t", Some("EqQBsig".into())),
                ContentBlock::RedactedThinking {
                    data: "opaque".into()
                },
            ]
        );
    }

    #[test]
    fn images_and_tool_output_parts() {
        let request = decode(json!({"model": "m", "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "what is this"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"},
            ]},
            {"type": "function_call_output", "call_id": "c", "output": [
                {"type": "input_text", "text": "a"},
                {"type": "input_image", "image_url": "https://example.com/chart.png"}]},
            {"type": "function_call_output", "call_id": "d", "output": ""},
            {"type": "function_call_output", "call_id": "e", "output": {"ok": true}},
        ]}))
        .unwrap();
        assert_eq!(
            request.messages[0].content[1],
            ContentBlock::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into()
                },
                detail: Some("low".into()),
            }
        );
        assert_eq!(
            request.messages[1].content,
            vec![
                ContentBlock::ToolResult {
                    tool_use_id: "c".into(),
                    name: None,
                    content: vec![
                        ToolResultContent::text("a"),
                        ToolResultContent::Image {
                            source: ImageSource::Url {
                                url: "https://example.com/chart.png".into()
                            }
                        }
                    ],
                    is_error: false,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "d".into(),
                    name: None,
                    content: vec![],
                    is_error: false,
                },
                ContentBlock::tool_result("e", "{\"ok\":true}"),
            ]
        );
    }

    #[test]
    fn stored_content_and_unknown_items_are_skipped_but_files_fail() {
        let request = decode(json!({"model": "m", "input": [
            {"type": "item_reference", "id": "msg_1"},
            {"id": "msg_2"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
            {"role": "user", "content": "hi"},
        ]}))
        .unwrap();
        assert_eq!(request.messages, vec![Message::text(Role::User, "hi")]);
        let file = json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_file", "file_id": "file-1"}]}]});
        assert_eq!(field_of(decode(file)), "input[0].content[0]");
        let by_id = json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_image", "file_id": "file-1", "detail": "auto"}]}]});
        assert_eq!(field_of(decode(by_id)), "input[0].content[0].file_id");
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let cases = [
            (json!({"input": "x"}), "model"),
            (json!({"model": 5, "input": "x"}), "model"),
            (json!({"model": "m", "input": 5}), "input"),
            (
                json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
                "input[0].role",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": 5}]}),
                "input[0].content",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}),
                "input[0].call_id",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": 5}]}),
                "input[0].output",
            ),
            (
                json!({"model": "m", "input": [{"type": "reasoning", "summary": []}]}),
                "input[0].id",
            ),
            (
                json!({"model": "m", "input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "x"}]}]}),
                "input[0].content[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "max_output_tokens": -1}),
                "max_output_tokens",
            ),
            (
                json!({"model": "m", "input": "x", "tool_choice": "sometimes"}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}),
                "text.format.type",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
                "tools[0].name",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(decode(body.clone())), field, "{body}");
        }
        assert!(matches!(
            super::decode(b"[]"),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            super::decode(b"<html>"),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn namespace_functions_become_joined_tools_and_calls() {
        let body = json!({"model": "m",
        "tools": [
            {"type": "function", "name": "exec", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "agents", "description": "Sub-agents.", "tools": [
                {"type": "function", "name": "spawn", "description": "Spawn one.",
                 "parameters": {"type": "object", "properties": {"task": {"type": "string"}}}},
                {"type": "custom", "name": "grammar_tool"}
            ]}
        ],
        "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "namespace": "agents", "name": "spawn", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"}
        ]});
        let request = decode(body.clone()).unwrap();
        let names: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["exec", "agents__spawn"]);
        assert_eq!(request.tools[1].description.as_deref(), Some("Spawn one."));
        assert!(matches!(
            &request.messages[1].content[0],
            ContentBlock::ToolUse { name, .. } if name == "agents__spawn"
        ));
        assert_eq!(tool_namespaces(&body), ["agents"]);
        // The custom tool inside the namespace is what is lost.
        assert!(unsupported_fields(&body).contains(&"tools"));
        let functions_only = json!({"model": "m", "tools": [{"type": "namespace", "name": "a",
            "tools": [{"type": "function", "name": "f"}]}]});
        assert!(!unsupported_fields(&functions_only).contains(&"tools"));
    }

    #[test]
    fn tools_choices_formats_and_reasoning() {
        let body = json!({"model": "m", "input": "x",
            "tools": [
                {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}, "strict": true},
                {"type": "function", "name": "g", "parameters": null, "strict": null},
                {"type": "web_search"},
            ],
            "tool_choice": {"type": "function", "name": "g"},
            "parallel_tool_calls": false,
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true, "description": "d"}},
            "reasoning": {"effort": "high", "summary": "auto"}});
        let request = decode(body).unwrap();
        assert_eq!(request.tools.len(), 2);
        assert_eq!(request.tools[0].strict, Some(true));
        assert_eq!(request.tools[0].description.as_deref(), Some("d"));
        assert_eq!(
            request.tools[1],
            Tool::new("g", None, json!({"type": "object", "properties": {}}))
        );
        assert_eq!(request.tool_choice, Some(ToolChoice::Tool("g".into())));
        assert_eq!(request.parallel_tool_calls, Some(false));
        assert!(
            matches!(&request.response_format, Some(ResponseFormat::JsonSchema { name, strict: Some(true), description: Some(_), .. }) if name == "answer")
        );
        let reasoning = request.reasoning.unwrap();
        assert_eq!(
            (reasoning.mode, reasoning.effort.as_deref()),
            (ThinkingMode::Enabled, Some("high"))
        );
        for (choice, expected) in [
            (json!("auto"), Some(ToolChoice::Auto)),
            (json!("required"), Some(ToolChoice::Required)),
            (json!("none"), Some(ToolChoice::None)),
            (
                json!({"type": "allowed_tools", "mode": "required", "tools": []}),
                Some(ToolChoice::Required),
            ),
            (
                json!({"type": "allowed_tools", "mode": "auto", "tools": []}),
                Some(ToolChoice::Auto),
            ),
            (json!({"type": "file_search"}), None),
        ] {
            let body = json!({"model": "m", "input": "x", "tool_choice": choice});
            assert_eq!(decode(body).unwrap().tool_choice, expected);
        }
        let off = decode(
            json!({"model": "m", "input": "x", "reasoning": {"effort": "none"},
            "text": {"format": {"type": "json_object"}}}),
        )
        .unwrap();
        assert_eq!(off.reasoning.unwrap().mode, ThinkingMode::Disabled);
        assert_eq!(off.response_format, Some(ResponseFormat::JsonObject));
        let summary_only =
            decode(json!({"model": "m", "input": "x", "reasoning": {"summary": "auto"}})).unwrap();
        assert_eq!(summary_only.reasoning, None);
    }
}

/// Egress: what upstreams get.
mod encoding;

/// Any JSON at all, nested a few levels.
fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        prop::sample::select(vec![
            "model",
            "input",
            "message",
            "user",
            "assistant",
            "reasoning",
            "function_call",
            "function_call_output",
            "input_image",
            "input_text",
            "x"
        ])
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop::sample::select(vec![
                    "model",
                    "input",
                    "type",
                    "role",
                    "content",
                    "output",
                    "call_id",
                    "id",
                    "summary",
                    "text",
                    "tools",
                    "tool_choice",
                    "name",
                    "image_url",
                    "reasoning",
                    "effort",
                    "format",
                    "include"
                ]),
                inner,
                0..6,
            )
            .prop_map(|map| serde_json::Value::Object(
                map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #[test]
    fn decoding_never_panics(body in arbitrary_json()) {
        let _ = decode_value(&body);
        let _ = unsupported_fields(&body);
    }
}
