//! Encoding: IR → Gemini request bodies.

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    Tool, ToolChoice, ToolResultContent,
};
use serde_json::{json, Value};

use super::{decode_json, encode_json, signed};
use crate::gemini::request::{decode_value, encode};
use crate::gemini::SKIP_SIGNATURE;
use crate::RequestOptions;

fn tool_loop() -> Request {
    let mut request = Request::new(
        "gpt-4o",
        vec![
            Message::text(Role::User, "Weather?"),
            Message::new(
                Role::Assistant,
                vec![
                    ContentBlock::text("Checking."),
                    ContentBlock::tool_use("call_a", "get_weather", r#"{"city":"Paris"}"#),
                    signed(
                        ContentBlock::tool_use("call_b", "get_weather", "{}"),
                        "c2ln",
                    ),
                ],
            ),
            Message::new(Role::User, vec![ContentBlock::tool_result("call_a", "21C")]),
            Message::new(
                Role::User,
                vec![ContentBlock::ToolResult {
                    tool_use_id: "call_b".into(),
                    name: None,
                    content: vec![ToolResultContent::text("down")],
                    is_error: true,
                }],
            ),
        ],
    );
    request.tools = vec![Tool::new("get_weather", None, json!({"type": "object"}))];
    request
}

#[test]
fn encoding_merges_turns_names_results_and_signs_the_first_call() {
    let (body, dropped) = encode_json(&tool_loop());
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [
                {"text": "Checking."},
                {"functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Paris"}},
                 "thoughtSignature": SKIP_SIGNATURE},
                {"functionCall": {"id": "call_b", "name": "get_weather", "args": {}}, "thoughtSignature": "c2ln"}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "call_a", "name": "get_weather", "response": {"result": "21C"}}},
                {"functionResponse": {"id": "call_b", "name": "get_weather", "response": {"error": "down"}}}
            ]}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {"type": "object"}}]}])
    );
    assert!(body.get("model").is_none());
    // What the encoder writes, the decoder reads back, placeholder and all.
    let back = decode_value(&body).unwrap();
    assert_eq!(
        back.messages[1].content[1],
        ContentBlock::tool_use("call_a", "get_weather", r#"{"city":"Paris"}"#)
    );
}

#[test]
fn derived_ids_stay_home() {
    let request = decode_json(json!({"contents": [
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"result": "ok"}}}]}
    ]}));
    let (body, _) = encode_json(&request);
    assert_eq!(
        body["contents"],
        json!([
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SKIP_SIGNATURE}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"result": "ok"}}}]}
        ])
    );
}

#[test]
fn tool_results_become_response_objects_that_read_back() {
    use crate::gemini::request::encode::response_object;
    let text = |t: &str| vec![ToolResultContent::text(t)];
    for (content, is_error, expected) in [
        (text("plain"), false, json!({"result": "plain"})),
        (text(r#"{"temp": 21}"#), false, json!({"temp": 21})),
        (
            text(r#"{"result": 1}"#),
            false,
            json!({"result": {"result": 1}}),
        ),
        (
            text(r#"{"error": "x"}"#),
            false,
            json!({"result": {"error": "x"}}),
        ),
        (text("[1,2]"), false, json!({"result": [1, 2]})),
        (text("42"), false, json!({"result": "42"})),
        (text("boom"), true, json!({"error": "boom"})),
        (text(r#"{"code": 7}"#), true, json!({"error": {"code": 7}})),
        (
            vec![ToolResultContent::text("a"), ToolResultContent::text("b")],
            false,
            json!({"result": "a\nb"}),
        ),
        (vec![], false, json!({"result": ""})),
    ] {
        let object = response_object(&content, is_error);
        assert_eq!(object, expected);
        let (back, error) = crate::gemini::request::result_content(Some(&object)).unwrap();
        assert_eq!(error, is_error);
        if content.len() == 1 {
            let ToolResultContent::Text { text } = &back[0] else {
                panic!()
            };
            let original = match &content[0] {
                ToolResultContent::Text { text } => text.clone(),
                _ => unreachable!(),
            };
            let normal = serde_json::from_str::<Value>(&original)
                .ok()
                .filter(Value::is_object)
                .map_or(original, |v| v.to_string());
            assert_eq!(text, &normal);
        }
    }
}

#[test]
fn results_without_a_known_call_and_url_images_are_named() {
    let mut request = Request::new(
        "m",
        vec![Message::new(
            Role::User,
            vec![ContentBlock::ToolResult {
                tool_use_id: "nowhere".into(),
                name: None,
                content: vec![
                    ToolResultContent::text("x"),
                    ToolResultContent::Image {
                        source: ImageSource::Url {
                            url: "https://x/y.png".into(),
                        },
                    },
                    ToolResultContent::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBO".into(),
                        },
                    },
                ],
                is_error: false,
            }],
        )],
    );
    request.user = Some("u1".into());
    request.parallel_tool_calls = Some(false);
    request.seed = Some(i64::MAX);
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        dropped,
        vec![
            "tool_result.name",
            "tool_result.image",
            "seed",
            "user",
            "parallel_tool_calls"
        ]
    );
    assert_eq!(
        body["contents"][0]["parts"][0],
        json!({"functionResponse": {"id": "nowhere", "name": "unknown", "response": {"result": "x"},
            "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}})
    );
    assert!(body.get("generationConfig").is_none());
    let back = decode_value(&body).unwrap();
    let ContentBlock::ToolResult { content, .. } = &back.messages[0].content[0] else {
        panic!()
    };
    assert_eq!(content.len(), 2);
}

#[test]
fn generation_config_encodes_every_setting() {
    let mut request = Request::new("m", vec![Message::text(Role::User, "x")]);
    request.push_system("one");
    request.push_system("");
    request.push_system("two");
    request.max_tokens = Some(100);
    request.temperature = Some(0.5);
    request.top_p = Some(0.9);
    request.top_k = Some(20);
    request.seed = Some(-7);
    request.presence_penalty = Some(0.1);
    request.frequency_penalty = Some(0.2);
    request.stop_sequences = vec!["END".into()];
    request.response_format = Some(ResponseFormat::JsonSchema {
        name: "answer".into(),
        schema: json!({"type": "object"}),
        strict: Some(true),
        description: None,
    });
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty());
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "one"}, {"text": "two"}]})
    );
    assert_eq!(
        body["generationConfig"],
        json!({"stopSequences": ["END"], "responseMimeType": "application/json",
               "responseJsonSchema": {"type": "object"}, "maxOutputTokens": 100, "temperature": 0.5,
               "topP": 0.9, "topK": 20, "seed": -7, "presencePenalty": 0.1, "frequencyPenalty": 0.2})
    );
}

#[test]
fn tool_choices_encode_only_beside_tools() {
    let mut request = tool_loop();
    for (choice, config) in [
        (ToolChoice::Auto, json!({"mode": "AUTO"})),
        (ToolChoice::Required, json!({"mode": "ANY"})),
        (ToolChoice::None, json!({"mode": "NONE"})),
        (
            ToolChoice::Tool("get_weather".into()),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ),
    ] {
        request.tool_choice = Some(choice);
        let (body, _) = encode_json(&request);
        assert_eq!(body["toolConfig"]["functionCallingConfig"], config);
    }
    request.tools.clear();
    assert!(encode_json(&request).0.get("toolConfig").is_none());
    request.tools = vec![{
        let mut tool = Tool::new("t", None, Value::Null);
        tool.strict = Some(true);
        tool
    }];
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "t"}]}])
    );
    assert_eq!(dropped, vec!["strict"]);
}

#[test]
fn reasoning_encodes_as_levels_or_budgets_by_model() {
    let thinking = |mode: ThinkingMode, budget: Option<u64>, effort: Option<&str>, model: &str| {
        let mut request = Request::new("m", vec![Message::text(Role::User, "x")]);
        let mut reasoning = Reasoning::default();
        reasoning.mode = mode;
        reasoning.budget_tokens = budget;
        reasoning.effort = effort.map(str::to_owned);
        request.reasoning = Some(reasoning);
        let encoded = encode(&request, &RequestOptions::new(model));
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        (
            body["generationConfig"]["thinkingConfig"].clone(),
            encoded.dropped,
        )
    };
    let g3 = "gemini-3-pro-preview";
    assert_eq!(
        thinking(ThinkingMode::Disabled, None, None, g3).0,
        json!({"thinkingBudget": 0})
    );
    assert_eq!(
        thinking(ThinkingMode::Adaptive, None, None, g3).0,
        json!({"includeThoughts": true, "thinkingBudget": -1})
    );
    assert_eq!(
        thinking(ThinkingMode::Enabled, Some(4096), None, g3).0,
        json!({"includeThoughts": true, "thinkingBudget": 4096})
    );
    assert_eq!(
        thinking(ThinkingMode::Enabled, None, Some("low"), g3).0,
        json!({"includeThoughts": true, "thinkingLevel": "LOW"})
    );
    assert_eq!(
        thinking(ThinkingMode::Enabled, None, Some("xhigh"), g3).0,
        json!({"includeThoughts": true, "thinkingLevel": "HIGH"})
    );
    assert_eq!(
        thinking(
            ThinkingMode::Enabled,
            None,
            Some("medium"),
            "models/gemini-2.5-flash"
        )
        .0,
        json!({"includeThoughts": true, "thinkingBudget": 8192})
    );
    assert_eq!(
        thinking(ThinkingMode::Enabled, None, Some("none"), g3).0,
        json!({"thinkingBudget": 0})
    );
    assert_eq!(
        thinking(ThinkingMode::Enabled, None, Some("extreme"), g3),
        (json!({"includeThoughts": true}), vec!["reasoning.effort"])
    );
    assert_eq!(
        thinking(ThinkingMode::Enabled, Some(1024), Some("low"), g3),
        (
            json!({"includeThoughts": true, "thinkingBudget": 1024}),
            vec!["reasoning.effort"]
        )
    );
}

#[test]
fn images_and_empty_turns_encode() {
    let request = Request::new(
        "m",
        vec![
            Message::new(
                Role::User,
                vec![
                    ContentBlock::text(""),
                    ContentBlock::image(ImageSource::Url {
                        url: "https://x/cat.webp".into(),
                    }),
                    ContentBlock::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/jpeg".into(),
                            data: "/9j/".into(),
                        },
                        detail: Some("low".into()),
                    },
                ],
            ),
            Message::new(Role::Assistant, vec![ContentBlock::text("")]),
        ],
    );
    let (body, dropped) = encode_json(&request);
    assert_eq!(dropped, vec!["detail"]);
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [
            {"fileData": {"mimeType": "image/webp", "fileUri": "https://x/cat.webp"}},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}}
        ]}])
    );
}
