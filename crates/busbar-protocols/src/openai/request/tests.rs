//! Tests of the request mapping: the round trip, decoding, encoding.

use serde_json::json;

use super::*;

#[test]
fn unsupported_fields_names_what_the_ir_cannot_carry() {
    let body = json!({
        "model": "m", "messages": [], "n": 2, "logprobs": true, "top_logprobs": 3,
        "logit_bias": {"50256": -100}, "audio": {"voice": "alloy", "format": "wav"},
        "modalities": ["text", "audio"], "prediction": {"type": "content", "content": "x"},
        "web_search_options": {}, "verbosity": "low",
        "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "custom", "custom": {"name": "c"}}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
        "store": true, "metadata": {"a": "b"}, "service_tier": "flex",
    });
    assert_eq!(
        unsupported_fields(&body),
        [
            "n",
            "logprobs",
            "top_logprobs",
            "audio",
            "prediction",
            "web_search_options",
            "verbosity",
            "logit_bias",
            "modalities",
            "tools",
            "tool_choice"
        ]
    );
    let harmless = json!({"model": "m", "messages": [], "n": 1, "logprobs": false,
        "logit_bias": {}, "modalities": ["text"], "audio": null, "store": false});
    assert!(unsupported_fields(&harmless).is_empty());
    assert!(unsupported_fields(&json!("not an object")).is_empty());
}

/// Ingress: what clients send, current and legacy.
mod decoding {
    use busbar_ir::{ContentBlock, ImageSource, Role, ThinkingMode, ToolChoice, ToolResultContent};
    use serde_json::json;

    use crate::DecodeError;

    fn decode(body: serde_json::Value) -> Result<busbar_ir::Request, DecodeError> {
        crate::openai::request::decode_value(&body)
    }

    fn field_of(result: Result<busbar_ir::Request, DecodeError>) -> String {
        match result {
            Err(DecodeError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn model_and_messages_are_required() {
        assert_eq!(field_of(decode(json!({"messages": []}))), "model");
        assert_eq!(field_of(decode(json!({"model": "m"}))), "messages");
        assert_eq!(
            field_of(decode(json!({"model": 1, "messages": []}))),
            "model"
        );
        assert_eq!(
            field_of(decode(json!({"model": "m", "messages": {}}))),
            "messages"
        );
        assert_eq!(field_of(decode(json!([1]))), "body");
    }

    #[test]
    fn wrong_types_name_their_path() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": 5}]});
        assert_eq!(field_of(decode(body)), "messages[1].content");
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]});
        assert_eq!(
            field_of(decode(body)),
            "messages[0].content[0].image_url.url"
        );
        let body = json!({"model": "m", "messages": [], "temperature": "hot"});
        assert_eq!(field_of(decode(body)), "temperature");
        let body = json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]});
        assert_eq!(field_of(decode(body)), "messages[0].role");
        let body = json!({"model": "m", "messages": [], "stop": ["a", 1]});
        assert_eq!(field_of(decode(body)), "stop[1]");
    }

    #[test]
    fn audio_and_file_parts_cannot_be_carried() {
        for part in [
            json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
            json!({"type": "file", "file": {"file_id": "file-1"}}),
        ] {
            let body = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}]});
            assert_eq!(field_of(decode(body)), "messages[0].content[1]");
        }
    }

    #[test]
    fn system_and_developer_messages_become_system_parts() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "one", "name": "ignored"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "three"}]},
            {"role": "user", "content": "hi", "name": "alice"},
        ]});
        let request = decode(body).unwrap();
        assert_eq!(
            request.system_parts().collect::<Vec<_>>(),
            ["one", "two", "three"]
        );
        assert_eq!(request.conversation().len(), 1);
        assert_eq!(
            request.conversation()[0].content,
            vec![ContentBlock::text("hi")]
        );
    }

    #[test]
    fn a_system_message_after_a_turn_stays_in_place() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "lead"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "developer", "content": "now be terse"},
            {"role": "user", "content": "again"},
        ]});
        let request = decode(body).unwrap();
        assert_eq!(request.system_text().as_deref(), Some("lead"));
        let roles: Vec<Role> = request.conversation().iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::User, Role::Assistant, Role::System, Role::User]
        );
    }

    #[test]
    fn images_keep_data_urls_inline_and_detail() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
        ]}]});
        let content = &decode(body).unwrap().messages[0].content;
        assert_eq!(
            content[1],
            ContentBlock::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into()
                },
                detail: Some("low".into()),
            }
        );
        assert!(
            matches!(&content[2], ContentBlock::Image { source: ImageSource::Url { url }, detail: None } if url == "https://example.com/cat.jpg")
        );
    }

    #[test]
    fn tool_turns_merge_into_one_user_turn_results_first() {
        let body = json!({"model": "m", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rain"}]},
            {"role": "user", "content": "thanks"},
            {"role": "user", "content": "and tomorrow?"},
        ]});
        let messages = decode(body).unwrap().messages;
        assert_eq!(messages.len(), 4);
        assert_eq!(
            messages[1].content,
            vec![
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
    fn assistant_content_forms() {
        let body = json!({"model": "m", "messages": [
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
            {"role": "assistant", "content": null, "refusal": "I can't"},
        ]});
        let messages = decode(body).unwrap().messages;
        assert_eq!(
            messages[0].content,
            vec![ContentBlock::tool_use("c", "f", "{\"a\":1}")]
        );
        assert_eq!(
            messages[1].content,
            vec![ContentBlock::text("a"), ContentBlock::text("no")]
        );
        assert_eq!(messages[2].content, vec![ContentBlock::text("I can't")]);
        let custom = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {}}]}]});
        assert_eq!(field_of(decode(custom)), "messages[0].tool_calls[0].type");
    }

    #[test]
    fn legacy_functions_map_to_tools() {
        let body = json!({"model": "m",
        "functions": [{"name": "f", "parameters": {"type": "object"}}],
        "function_call": {"name": "f"},
        "messages": [
            {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "42"},
        ]});
        let request = decode(body).unwrap();
        assert_eq!(request.tools[0].name, "f");
        assert_eq!(request.tool_choice, Some(ToolChoice::Tool("f".into())));
        let ContentBlock::ToolUse { id, .. } = &request.messages[0].content[0] else {
            panic!("{:?}", request.messages);
        };
        let ContentBlock::ToolResult {
            tool_use_id,
            name,
            content,
            ..
        } = &request.messages[1].content[0]
        else {
            panic!("{:?}", request.messages);
        };
        assert_eq!(tool_use_id, id);
        assert_eq!(name.as_deref(), Some("f"));
        assert_eq!(content, &vec![ToolResultContent::text("42")]);
    }

    #[test]
    fn tools_and_tool_choice() {
        let body = json!({"model": "m", "messages": [],
            "tools": [
                {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}, "strict": true}},
                {"type": "function", "function": {"name": "g"}},
                {"type": "web_search"},
            ],
            "tool_choice": {"type": "function", "function": {"name": "g"}},
            "parallel_tool_calls": false});
        let request = decode(body).unwrap();
        assert_eq!(request.tools.len(), 2);
        assert_eq!(request.tools[0].strict, Some(true));
        assert_eq!(request.tools[0].description.as_deref(), Some("d"));
        assert_eq!(
            request.tools[1].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(request.tool_choice, Some(ToolChoice::Tool("g".into())));
        assert_eq!(request.parallel_tool_calls, Some(false));
        for (choice, expected) in [
            ("auto", ToolChoice::Auto),
            ("required", ToolChoice::Required),
            ("none", ToolChoice::None),
        ] {
            let body = json!({"model": "m", "messages": [], "tool_choice": choice});
            assert_eq!(decode(body).unwrap().tool_choice, Some(expected));
        }
        let allowed = json!({"model": "m", "messages": [], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": []}}});
        assert_eq!(
            decode(allowed).unwrap().tool_choice,
            Some(ToolChoice::Required)
        );
        let bad = json!({"model": "m", "messages": [], "tool_choice": "sometimes"});
        assert_eq!(field_of(decode(bad)), "tool_choice");
    }

    #[test]
    fn sampling_limits_and_formats() {
        let body = json!({"model": "m", "messages": [],
            "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0.7, "top_p": 1,
            "frequency_penalty": -0.5, "presence_penalty": 0.25, "seed": -3, "stop": "END",
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true, "description": "d"}},
            "reasoning_effort": "high", "user": "u-1", "stream": true, "stream_options": {"include_usage": true}});
        let request = decode(body).unwrap();
        assert_eq!(request.max_tokens, Some(20));
        assert_eq!(request.temperature, Some(0.7));
        assert_eq!(request.top_p, Some(1.0));
        assert_eq!(request.frequency_penalty, Some(-0.5));
        assert_eq!(request.presence_penalty, Some(0.25));
        assert_eq!(request.seed, Some(-3));
        assert_eq!(request.stop_sequences, ["END"]);
        assert!(
            matches!(&request.response_format, Some(busbar_ir::ResponseFormat::JsonSchema { name, strict: Some(true), .. }) if name == "answer")
        );
        let reasoning = request.reasoning.unwrap();
        assert_eq!(
            (reasoning.mode, reasoning.effort.as_deref()),
            (ThinkingMode::Enabled, Some("high"))
        );
        assert_eq!(request.user.as_deref(), Some("u-1"));
        assert!(request.stream && request.stream_usage);
        let legacy = json!({"model": "m", "messages": [], "max_tokens": 10, "reasoning_effort": "none", "stop": null});
        let request = decode(legacy).unwrap();
        assert_eq!(request.max_tokens, Some(10));
        assert_eq!(request.reasoning.unwrap().mode, ThinkingMode::Disabled);
        assert!(request.stop_sequences.is_empty());
    }
}

/// Egress: what upstreams get.
mod encoding {
    use busbar_ir::{
        ContentBlock, ImageSource, Message, Reasoning, Request, Role, ThinkingMode, Tool,
        ToolChoice, ToolResultContent,
    };
    use serde_json::{json, Value};

    use crate::{Encoded, RequestOptions};

    fn encode(request: &Request) -> (Value, Vec<&'static str>) {
        let Encoded { body, dropped } =
            crate::openai::request::encode(request, &RequestOptions::new("upstream-model"));
        (serde_json::from_slice(&body).unwrap(), dropped)
    }

    #[test]
    fn minimal_request_uses_the_upstream_model() {
        let request = Request::new("alias", vec![Message::text(Role::User, "hi")]);
        let (body, dropped) = encode(&request);
        assert_eq!(
            body,
            json!({"model": "upstream-model", "messages": [{"role": "user", "content": "hi"}]})
        );
        assert!(dropped.is_empty());
    }

    #[test]
    fn system_parts_join_into_one_message() {
        let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
        request.push_system("one");
        request.push_system("two");
        let (body, _) = encode(&request);
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "one\n\ntwo"})
        );
    }

    #[test]
    fn tool_results_become_tool_messages_before_the_rest_of_the_turn() {
        let image = ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "AAAA".into(),
        };
        let request = Request::new(
            "m",
            vec![Message::new(
                Role::User,
                vec![
                    ContentBlock::Text {
                        text: "and now?".into(),
                    },
                    ContentBlock::ToolResult {
                        tool_use_id: "call_1".into(),
                        name: Some("f".into()),
                        content: vec![
                            ToolResultContent::text("a"),
                            ToolResultContent::Image {
                                source: image.clone(),
                            },
                            ToolResultContent::text("b"),
                        ],
                        is_error: true,
                    },
                    ContentBlock::image(image),
                ],
            )],
        );
        let (body, dropped) = encode(&request);
        assert_eq!(
            body["messages"],
            json!([
                {"role": "tool", "tool_call_id": "call_1", "content": "a\nb"},
                {"role": "user", "content": [
                    {"type": "text", "text": "and now?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ]},
            ])
        );
        assert_eq!(dropped, ["tool_result.is_error", "tool_result.image"]);
    }

    #[test]
    fn assistant_text_joins_and_content_is_null_beside_tool_calls() {
        let request = Request::new(
            "m",
            vec![
                Message::new(
                    Role::Assistant,
                    vec![
                        ContentBlock::thinking("hmm", Some("sig".into())),
                        ContentBlock::text("a"),
                        ContentBlock::tool_use("call_1", "f", "{\"x\":1}"),
                        ContentBlock::text("b"),
                    ],
                ),
                Message::new(
                    Role::Assistant,
                    vec![ContentBlock::tool_use("call_2", "g", "")],
                ),
            ],
        );
        let (body, dropped) = encode(&request);
        assert_eq!(
            body["messages"],
            json!([
                {"role": "assistant", "content": "ab", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}]},
            ])
        );
        assert_eq!(dropped, ["thinking"]);
    }

    #[test]
    fn parameters_tools_and_streaming() {
        let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
        request.tools = vec![Tool::new("f", Some("d".into()), json!({"type": "object"}))];
        request.tool_choice = Some(ToolChoice::Tool("f".into()));
        request.parallel_tool_calls = Some(false);
        request.max_tokens = Some(100);
        request.temperature = Some(0.7);
        request.top_k = Some(40);
        request.seed = Some(7);
        request.stop_sequences = vec!["END".into()];
        request.user = Some("u".into());
        request.stream = true;
        let mut reasoning = Reasoning::default();
        reasoning.effort = Some("low".into());
        request.reasoning = Some(reasoning);
        let (body, dropped) = encode(&request);
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}])
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(body["parallel_tool_calls"], json!(false));
        assert_eq!(body["max_completion_tokens"], json!(100));
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["temperature"], json!(0.7));
        assert_eq!(body["seed"], json!(7));
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["user"], json!("u"));
        assert_eq!(body["reasoning_effort"], json!("low"));
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(dropped, ["top_k"]);
    }

    #[test]
    fn tool_choice_needs_tools_and_budgets_are_dropped() {
        let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
        request.tool_choice = Some(ToolChoice::Required);
        request.parallel_tool_calls = Some(true);
        let mut reasoning = Reasoning::default();
        reasoning.budget_tokens = Some(2048);
        request.reasoning = Some(reasoning);
        let (body, dropped) = encode(&request);
        assert!(body.get("tool_choice").is_none() && body.get("parallel_tool_calls").is_none());
        assert!(body.get("reasoning_effort").is_none());
        assert_eq!(dropped, ["thinking"]);
        let mut off = Reasoning::default();
        off.mode = ThinkingMode::Disabled;
        request.reasoning = Some(off);
        assert_eq!(encode(&request).1, Vec::<&str>::new());
    }
}
