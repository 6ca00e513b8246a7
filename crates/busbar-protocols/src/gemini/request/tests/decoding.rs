//! Decoding: Gemini request bodies → IR.

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, ResponseFormat, Role, ThinkingMode, Tool,
    ToolChoice, ToolResultContent,
};
use serde_json::{json, Value};

use super::{decode_json, encode_json, signed};
use crate::gemini::request::{decode_value, unsupported_fields};

#[test]
fn a_minimal_request_decodes_with_no_model() {
    let request = decode_json(json!({"contents": [{"parts": [{"text": "Hi"}]}]}));
    assert_eq!(request.model, "");
    assert!(!request.stream);
    assert_eq!(request.messages, vec![Message::text(Role::User, "Hi")]);
    assert!(decode_value(&json!({})).is_err());
    assert!(decode_value(&json!({"contents": "Hi"})).is_err());
    assert!(decode_value(&json!({"contents": [{"role": "system", "parts": []}]})).is_err());
    assert!(decode_value(&json!([])).is_err());
}

#[test]
fn camel_and_snake_case_names_and_single_objects_are_accepted() {
    let camel = decode_json(json!({
        "contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 64, "topK": 40.0, "stopSequences": ["END"]}
    }));
    let snake = decode_json(json!({
        "contents": {"role": "user", "parts": {"inline_data": {"mime_type": "image/png", "data": "iVBO"}}},
        "system_instruction": {"role": "system", "parts": [{"text": "Be brief."}]},
        "generation_config": {"max_output_tokens": 64, "top_k": 40, "stop_sequences": ["END"]}
    }));
    assert_eq!(camel, snake);
    assert_eq!(camel.system_parts().collect::<Vec<_>>(), vec!["Be brief."]);
    assert_eq!(camel.max_tokens, Some(64));
    assert_eq!(camel.top_k, Some(40));
    assert_eq!(
        camel.conversation()[0].content,
        vec![ContentBlock::image(ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "iVBO".into()
        })]
    );
}

#[test]
fn calls_without_ids_get_positional_ones_and_responses_pair_by_name() {
    let request = decode_json(json!({"contents": [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            {"functionCall": {"name": "get_time", "args": {}}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_weather", "response": {"error": "no station"}}}
        ]},
        {"role": "function", "parts": [
            {"functionResponse": {"name": "lost", "response": {"output": "x"}}}
        ]}
    ]}));
    assert_eq!(
        request.messages[1].content,
        vec![
            signed(
                ContentBlock::tool_use("gcall_1_0", "get_weather", r#"{"city":"Paris"}"#),
                "c2ln"
            ),
            ContentBlock::tool_use("gcall_1_1", "get_weather", r#"{"city":"Rome"}"#),
            ContentBlock::tool_use("gcall_1_2", "get_time", "{}"),
        ]
    );
    let result = |id: &str, name: &str, text: &str, is_error: bool| ContentBlock::ToolResult {
        tool_use_id: id.into(),
        name: Some(name.into()),
        content: vec![ToolResultContent::text(text)],
        is_error,
    };
    assert_eq!(
        request.messages[2].content,
        vec![
            result("gcall_1_2", "get_time", "noon", false),
            result("gcall_1_0", "get_weather", r#"{"temp":21}"#, false),
            result("gcall_1_1", "get_weather", "no station", true),
        ]
    );
    assert_eq!(request.messages[3].role, Role::User);
    assert_eq!(
        request.messages[3].content,
        vec![result("gcall_3_0", "lost", "x", false)]
    );
}

#[test]
fn ids_given_by_gemini_are_kept_and_matched() {
    let request = decode_json(json!({"contents": [
        {"role": "model", "parts": [
            {"functionCall": {"id": "c1", "name": "f", "args": {}}},
            {"functionCall": {"id": "c2", "name": "f", "args": {}}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "c2", "name": "f", "response": {"result": "two"}}},
            {"functionResponse": {"id": "stray", "name": "f", "response": {"result": "one"}}}
        ]}
    ]}));
    let ids: Vec<&str> = request.messages[1]
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolResult { tool_use_id, .. } => Some(tool_use_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec!["c2", "c1"]);
}

#[test]
fn thoughts_and_signed_text_in_history_become_thinking_blocks() {
    let request = decode_json(json!({"contents": [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [
            {"text": "Thinking.", "thought": true, "thoughtSignature": "c2ln"},
            {"text": "Hello!", "thoughtSignature": "dGV4dA=="}
        ]}
    ]}));
    assert_eq!(
        request.messages[1].content,
        vec![
            ContentBlock::thinking("Thinking.", Some("c2ln".into())),
            ContentBlock::text("Hello!"),
            ContentBlock::thinking("", Some("dGV4dA==".into())),
        ]
    );
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(
        body["contents"][1]["parts"],
        json!([
            {"text": "Thinking.", "thought": true, "thoughtSignature": "c2ln"},
            {"text": "Hello!", "thoughtSignature": "dGV4dA=="}
        ])
    );
}

#[test]
fn tools_choice_and_schemas_decode_as_json_schema() {
    let request = decode_json(json!({
        "contents": [{"parts": [{"text": "x"}]}],
        "tools": [
            {"functionDeclarations": [
                {"name": "a", "description": "A", "parameters": {"type": "OBJECT",
                    "properties": {"type": {"type": "STRING"}, "tags": {"type": "ARRAY", "items": {"type": "STRING"}}}}},
                {"name": "b", "parametersJsonSchema": {"type": "object", "additionalProperties": false}},
                {"name": "c"}
            ]},
            {"googleSearch": {}}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}}
    }));
    assert_eq!(
        request.tools,
        vec![
            Tool::new(
                "a",
                Some("A".into()),
                json!({"type": "object",
                "properties": {"type": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}})
            ),
            Tool::new(
                "b",
                None,
                json!({"type": "object", "additionalProperties": false})
            ),
            Tool::new("c", None, json!({"type": "object", "properties": {}})),
        ]
    );
    assert_eq!(request.tool_choice, Some(ToolChoice::Tool("b".into())));
    for (mode, names, choice) in [
        ("AUTO", json!([]), ToolChoice::Auto),
        ("VALIDATED", json!([]), ToolChoice::Auto),
        ("any", json!(["a", "b"]), ToolChoice::Required),
        ("NONE", json!([]), ToolChoice::None),
    ] {
        let request = decode_json(json!({"contents": [],
            "toolConfig": {"function_calling_config": {"mode": mode, "allowed_function_names": names}}}));
        assert_eq!(request.tool_choice, Some(choice), "{mode}");
    }
    assert!(decode_value(
        &json!({"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}})
    )
    .is_err());
}

#[test]
fn generation_config_and_response_formats_decode() {
    let request = decode_json(json!({
        "contents": [],
        "generationConfig": {
            "temperature": 0.7, "topP": 0.9, "seed": 42, "presencePenalty": 0.5, "frequencyPenalty": -0.5,
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}}
        }
    }));
    assert_eq!(request.temperature, Some(0.7));
    assert_eq!(request.top_p, Some(0.9));
    assert_eq!(request.seed, Some(42));
    assert_eq!(request.presence_penalty, Some(0.5));
    assert_eq!(request.frequency_penalty, Some(-0.5));
    assert_eq!(
        request.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({"type": "object", "properties": {"answer": {"type": "string"}}}),
            strict: None,
            description: None,
        })
    );
    for (config, format) in [
        (
            json!({"responseMimeType": "application/json"}),
            Some(ResponseFormat::JsonObject),
        ),
        (
            json!({"responseMimeType": "text/plain"}),
            Some(ResponseFormat::Text),
        ),
        (json!({"responseMimeType": "text/x.enum"}), None),
    ] {
        let request = decode_json(json!({"contents": [], "generationConfig": config}));
        assert_eq!(request.response_format, format);
    }
    assert!(
        decode_value(&json!({"contents": [], "generationConfig": {"maxOutputTokens": -1}}))
            .is_err()
    );
    assert!(
        decode_value(&json!({"contents": [], "generationConfig": {"temperature": "hot"}})).is_err()
    );
}

#[test]
fn thinking_config_decodes_to_reasoning() {
    let reasoning = |config: Value| {
        decode_json(json!({"contents": [], "generationConfig": {"thinkingConfig": config}}))
            .reasoning
    };
    let with = |mode: ThinkingMode, budget: Option<u64>, effort: Option<&str>| {
        let mut r = Reasoning::default();
        r.mode = mode;
        r.budget_tokens = budget;
        r.effort = effort.map(str::to_owned);
        Some(r)
    };
    assert_eq!(
        reasoning(json!({"thinkingBudget": 0})),
        with(ThinkingMode::Disabled, None, None)
    );
    assert_eq!(
        reasoning(json!({"thinkingBudget": -1})),
        with(ThinkingMode::Adaptive, None, None)
    );
    assert_eq!(
        reasoning(json!({"thinkingBudget": 2048, "includeThoughts": true})),
        with(ThinkingMode::Enabled, Some(2048), None)
    );
    assert_eq!(
        reasoning(json!({"thinking_level": "HIGH"})),
        with(ThinkingMode::Enabled, None, Some("high"))
    );
    assert_eq!(
        reasoning(json!({"includeThoughts": true})),
        with(ThinkingMode::Enabled, None, None)
    );
    assert_eq!(reasoning(json!({"includeThoughts": false})), None);
}

#[test]
fn unsupported_fields_are_named_once() {
    let body = json!({
        "contents": [{"parts": [
            {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x/a.pdf"}},
            {"inline_data": {"mime_type": "audio/wav", "data": "UklG"}},
            {"executableCode": {"code": "1"}}
        ]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc",
        "tools": [{"googleSearch": {}}, {"code_execution": {}}, {"functionDeclarations": [{"name": "f", "behavior": "NON_BLOCKING"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f", "g"]}},
        "generationConfig": {"candidateCount": 2, "responseModalities": ["TEXT", "IMAGE"], "responseLogprobs": true,
                             "responseMimeType": "text/x.enum"}
    });
    assert_eq!(
        unsupported_fields(&body),
        vec![
            "cachedContent",
            "safetySettings",
            "fileData",
            "inlineData",
            "executableCode",
            "tools.googleSearch",
            "tools.codeExecution",
            "functionDeclarations.behavior",
            "toolConfig.functionCallingConfig.allowedFunctionNames",
            "generationConfig.candidateCount",
            "generationConfig.responseLogprobs",
            "generationConfig.responseModalities",
            "generationConfig.responseMimeType",
        ]
    );
    assert!(unsupported_fields(
        &json!({"contents": [], "generationConfig": {"candidateCount": 1}})
    )
    .is_empty());
    assert!(unsupported_fields(&json!("x")).is_empty());
}
