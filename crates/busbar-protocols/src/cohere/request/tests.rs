//! Unit tests of the Cohere request mapping, one rule each: messages and
//! tools here, the other parameters in [`parameters`].

use busbar_ir::{
    ContentBlock, ImageSource, Message, Request, Role, Tool, ToolChoice, ToolResultContent,
};
use serde_json::{json, Value};

use super::{decode_value, encode};
use crate::RequestOptions;

mod parameters;

fn decode_json(body: Value) -> Request {
    decode_value(&body).unwrap()
}

fn encode_json(request: &Request) -> (Value, Vec<&'static str>) {
    let encoded = encode(request, &RequestOptions::new("command-a-03-2025"));
    (
        serde_json::from_slice(&encoded.body).unwrap(),
        encoded.dropped,
    )
}

fn user(text: &str) -> Message {
    Message::text(Role::User, text)
}

fn weather_tool() -> Tool {
    Tool::new(
        "get_weather",
        Some("Weather in a city".into()),
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    )
}

#[test]
fn system_messages_become_system_parts_in_order() {
    let request = decode_json(json!({
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "One"}, {"type": "text", "text": "Two"}]},
            {"role": "user", "content": "Hi"}
        ]
    }));
    assert_eq!(
        request.system_parts().collect::<Vec<_>>(),
        vec!["Be brief.", "One", "Two"]
    );
    assert_eq!(request.conversation(), vec![user("Hi")]);
}

#[test]
fn system_parts_are_one_system_message_first() {
    let mut request = Request::new("m", vec![user("Hi")]);
    request.push_system("A");
    let (body, _) = encode_json(&request);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "A"})
    );
    request.push_system("B");
    let (body, _) = encode_json(&request);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]})
    );
    request.messages.drain(..2);
    request.push_system("");
    let (body, _) = encode_json(&request);
    assert_eq!(body["messages"][0]["role"], "user");
}

#[test]
fn user_content_holds_text_and_images() {
    let request = decode_json(json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "https://cohere.com/favicon-32x32.png", "detail": "auto"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        ]}]
    }));
    assert_eq!(
        request.messages[0].content,
        vec![
            ContentBlock::text("Describe"),
            ContentBlock::Image {
                source: ImageSource::Url {
                    url: "https://cohere.com/favicon-32x32.png".into()
                },
                detail: Some("auto".into()),
            },
            ContentBlock::image(ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }),
        ]
    );
    let (body, dropped) = encode_json(&request);
    assert!(dropped.is_empty());
    assert_eq!(
        body["messages"][0]["content"][2],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}})
    );
}

#[test]
fn tool_messages_join_one_user_turn_with_the_user_message_after_them() {
    let request = decode_json(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_plan": "I will check.", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "a", "content": "18C"},
            {"role": "tool", "tool_call_id": "b", "content": [
                {"type": "document", "document": {"data": {"temp": "4C"}, "id": "doc_1"}},
                {"type": "document", "document": {"data": "{\"wind\": 3}"}},
                {"type": "text", "text": "cloudy"}
            ]},
            {"role": "user", "content": "Thanks"}
        ]
    }));
    assert_eq!(request.messages.len(), 3);
    assert_eq!(
        request.messages[1].content,
        vec![
            ContentBlock::text("I will check."),
            ContentBlock::tool_use("a", "get_weather", r#"{"city":"Paris"}"#),
            ContentBlock::tool_use("b", "get_weather", r#"{"city":"Oslo"}"#),
        ]
    );
    let results = &request.messages[2];
    assert_eq!(results.role, Role::User);
    assert_eq!(
        results.content,
        vec![
            ContentBlock::tool_result("a", "18C"),
            ContentBlock::ToolResult {
                tool_use_id: "b".into(),
                name: None,
                content: vec![
                    ToolResultContent::text(r#"{"temp":"4C"}"#),
                    ToolResultContent::text(r#"{"wind": 3}"#),
                    ToolResultContent::text("cloudy"),
                ],
                is_error: false,
            },
            ContentBlock::text("Thanks"),
        ]
    );
}

#[test]
fn a_user_turn_is_tool_messages_then_a_user_message() {
    let request = Request::new(
        "m",
        vec![Message::new(
            Role::User,
            vec![
                ContentBlock::tool_result("a", "18C"),
                ContentBlock::ToolResult {
                    tool_use_id: "b".into(),
                    name: Some("get_weather".into()),
                    content: vec![
                        ToolResultContent::text("x"),
                        ToolResultContent::Image {
                            source: ImageSource::Url {
                                url: "https://x/y.png".into(),
                            },
                        },
                        ToolResultContent::text("y"),
                    ],
                    is_error: true,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "c".into(),
                    name: None,
                    content: vec![],
                    is_error: false,
                },
                ContentBlock::text("Thanks"),
            ],
        )],
    );
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "tool", "tool_call_id": "a", "content": "18C"},
            {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]},
            {"role": "tool", "tool_call_id": "c", "content": ""},
            {"role": "user", "content": "Thanks"}
        ])
    );
    assert_eq!(dropped, vec!["tool_result.is_error", "tool_result.image"]);
}

#[test]
fn assistant_content_then_plan_then_calls() {
    let request = decode_json(json!({
        "model": "m",
        "messages": [{"role": "assistant",
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": ""}],
            "tool_plan": "Plan.",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}],
            "citations": []}]
    }));
    assert_eq!(
        request.messages[0].content,
        vec![
            ContentBlock::thinking("hmm", None),
            ContentBlock::text("Plan."),
            ContentBlock::tool_use("c", "f", "{}"),
        ]
    );
}

#[test]
fn assistant_text_beside_tool_calls_is_written_as_the_tool_plan() {
    let request = Request::new(
        "m",
        vec![
            user("Hi"),
            Message::new(
                Role::Assistant,
                vec![
                    ContentBlock::thinking("hmm", Some("sig".into())),
                    ContentBlock::text("Checking."),
                    ContentBlock::ToolUse {
                        id: "c".into(),
                        name: "f".into(),
                        arguments: " ".into(),
                        signature: Some("gemini".into()),
                    },
                    ContentBlock::text("More."),
                    ContentBlock::RedactedThinking { data: "x".into() },
                ],
            ),
            Message::new(Role::Assistant, vec![ContentBlock::text("Plain answer")]),
            Message::new(
                Role::Assistant,
                vec![ContentBlock::RedactedThinking { data: "y".into() }],
            ),
        ],
    );
    let (body, dropped) = encode_json(&request);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant",
             "content": [{"type": "thinking", "thinking": "hmm"}],
             "tool_plan": "Checking.\n\nMore.",
             "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "assistant", "content": "Plain answer"}
        ])
    );
    assert_eq!(
        dropped,
        vec![
            "thinking.signature",
            "tool_use.signature",
            "redacted_thinking"
        ]
    );
}

#[test]
fn tools_and_strict_tools() {
    let request = decode_json(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
                  {"type": "function", "function": {"name": "noop"}}],
        "strict_tools": true
    }));
    let mut expected = weather_tool();
    expected.strict = Some(true);
    assert_eq!(request.tools[0], expected);
    assert_eq!(
        request.tools[1].parameters,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(request.tools[1].strict, Some(true));
    let (body, dropped) = encode_json(&request);
    assert_eq!(body["strict_tools"], true);
    assert!(dropped.is_empty());
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})
    );

    let mut mixed = Request::new("m", vec![user("Hi")]);
    mixed.tools = vec![expected, Tool::new("other", None, Value::Null)];
    let (body, dropped) = encode_json(&mixed);
    assert_eq!(body["strict_tools"], true);
    assert_eq!(dropped, vec!["strict"]);
    assert_eq!(
        body["tools"][1]["function"]["parameters"],
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn tool_choice_required_none_and_auto() {
    let decode_choice = |choice: Value| {
        decode_json(json!({"model": "m", "messages": [], "tool_choice": choice})).tool_choice
    };
    assert_eq!(decode_choice(json!("REQUIRED")), Some(ToolChoice::Required));
    assert_eq!(decode_choice(json!("NONE")), Some(ToolChoice::None));
    assert_eq!(decode_choice(json!("required")), Some(ToolChoice::Required));
    assert_eq!(decode_choice(Value::Null), None);
    assert!(decode_value(&json!({"model": "m", "messages": [], "tool_choice": "ANY"})).is_err());

    let mut request = Request::new("m", vec![user("Hi")]);
    request.tools = vec![weather_tool()];
    for (choice, wire) in [
        (ToolChoice::Required, json!("REQUIRED")),
        (ToolChoice::None, json!("NONE")),
        (ToolChoice::Auto, Value::Null),
    ] {
        request.tool_choice = Some(choice);
        assert_eq!(encode_json(&request).0["tool_choice"], wire);
    }
    // No tool_choice without tools: Cohere requires tools beside REQUIRED.
    request.tools.clear();
    request.tool_choice = Some(ToolChoice::Required);
    assert_eq!(encode_json(&request).0.get("tool_choice"), None);
}

#[test]
fn a_named_tool_is_required_with_only_that_tool_offered() {
    let mut request = Request::new("m", vec![user("Hi")]);
    request.tools = vec![weather_tool(), Tool::new("other", None, json!({}))];
    request.tool_choice = Some(ToolChoice::Tool("get_weather".into()));
    let (body, dropped) = encode_json(&request);
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert!(dropped.is_empty());

    request.tool_choice = Some(ToolChoice::Tool("missing".into()));
    let (body, dropped) = encode_json(&request);
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"].as_array().unwrap().len(), 2);
    assert_eq!(dropped, vec!["tool_choice"]);
}

#[test]
fn a_plain_user_turn_round_trips() {
    let request = Request::new("m", vec![Message::text(Role::User, "hi")]);
    let encoded = encode(&request, &RequestOptions::new("m"));
    assert_eq!(super::decode(&encoded.body).unwrap(), request);
}
