//! Tests of the reply mapping.

use busbar_ir::{ContentBlock, StopReason, Usage};
use serde_json::{json, Value};

use super::*;

fn decode_json(body: Value) -> Response {
    decode(body.to_string().as_bytes()).unwrap()
}

fn encode_json(response: &Response) -> (Value, Vec<&'static str>) {
    let encoded = encode(response, 1_700_000_000, &[]);
    (
        serde_json::from_slice(&encoded.body).unwrap(),
        encoded.dropped,
    )
}

#[test]
fn decodes_reasoning_text_tool_calls_and_usage() {
    let response = decode_json(json!({
        "id": "resp_1", "object": "response", "created_at": 1741476777.5, "status": "completed",
        "model": "gpt-5", "error": null, "incomplete_details": null,
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan."}], "encrypted_content": "gAAA"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
            {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "w", "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
        ],
        "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 0},
                  "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 29},
    }));
    assert_eq!(
        (
            response.id.as_str(),
            response.model.as_str(),
            response.created
        ),
        ("resp_1", "gpt-5", Some(1_741_476_777))
    );
    assert_eq!(
        response.content,
        vec![
            ContentBlock::thinking("Plan.", Some("responses:rs_1:gAAA".into())),
            ContentBlock::text("Checking."),
            ContentBlock::tool_use("call_1", "w", "{\"city\":\"Paris\"}"),
        ]
    );
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(response.usage.cache_read_tokens, Some(8));
    assert_eq!(response.usage.cache_write_tokens, Some(0));
    assert_eq!(response.usage.reasoning_tokens, Some(4));
    assert_eq!(response.usage.total_tokens(), 29);
}

#[test]
fn statuses_refusals_and_odd_shapes() {
    let incomplete = decode_json(json!({"id": "r", "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "Once upon"}]}]}));
    assert_eq!(incomplete.stop_reason, Some(StopReason::MaxTokens));
    assert_eq!(incomplete.text(), "Once upon");
    let filtered = decode_json(
        json!({"status": "incomplete", "incomplete_details": {"reason": "content_filter"}, "output": []}),
    );
    assert_eq!(filtered.stop_reason, Some(StopReason::ContentFilter));
    let refusal = decode_json(json!({"status": "completed", "output": [{"type": "message",
        "content": [{"type": "refusal", "refusal": "I can't help with that."}]}]}));
    assert_eq!(
        refusal.content,
        vec![ContentBlock::text("I can't help with that.")]
    );
    assert_eq!(refusal.stop_reason, Some(StopReason::Refusal));
    let failed = decode_json(
        json!({"status": "failed", "error": {"code": "server_error", "message": "x"}, "output": []}),
    );
    assert_eq!(failed.stop_reason, Some(StopReason::Error));
    let lenient = decode_json(json!({"output": [
        {"type": "function_call", "id": "fc_9", "name": "f", "arguments": {"a": 1}},
        {"type": "message", "content": null},
        {"type": "reasoning", "id": "rs_busbar_redacted_x_2", "summary": [], "encrypted_content": "opaque"},
        {"type": "mcp_list_tools", "content": 5}]}));
    assert_eq!(
        lenient.content,
        vec![
            ContentBlock::tool_use("fc_9", "f", "{\"a\":1}"),
            ContentBlock::RedactedThinking {
                data: "opaque".into()
            },
        ]
    );
    assert_eq!(lenient.stop_reason, None);
    assert!(matches!(decode(b" []"), Err(DecodeError::Invalid { .. })));
    assert!(matches!(decode(b"<html>"), Err(DecodeError::Json(_))));
    let wrong = br#"{"output": [{"type": "message", "content": "text"}]}"#;
    assert!(
        matches!(decode(wrong), Err(DecodeError::Invalid { field, .. }) if field == "output[0]")
    );
}

#[test]
fn encodes_the_sdk_shape() {
    let mut response = Response::new("resp_1", "gpt-5", vec![ContentBlock::text("Hi")]);
    response.stop_reason = Some(StopReason::EndTurn);
    response.usage = Usage::new(5, 2);
    let encoded = encode(&response, 1_700_000_000, &[]);
    assert!(encoded.dropped.is_empty());
    assert_eq!(
        String::from_utf8(encoded.body).unwrap(),
        concat!(
            r#"{"id":"resp_1","object":"response","created_at":1700000000,"status":"completed","error":null,"incomplete_details":null,"#,
            r#""instructions":null,"max_output_tokens":null,"model":"gpt-5","output":[{"type":"message","id":"msg_1_0","status":"completed","role":"assistant","#,
            r#""content":[{"type":"output_text","text":"Hi","annotations":[],"logprobs":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"#,
            r#""temperature":null,"tool_choice":"auto","tools":[],"top_p":null,"metadata":{},"usage":{"input_tokens":5,"#,
            r#""input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":7}}"#
        )
    );
}

#[test]
fn encodes_items_ids_and_statuses() {
    let mut response = Response::new(
        "msg_01",
        "claude",
        vec![
            ContentBlock::thinking("hmm", Some("EqQBsig".into())),
            ContentBlock::RedactedThinking {
                data: "opaque".into(),
            },
            ContentBlock::thinking("", Some("responses:rs_7:gAAA".into())),
            ContentBlock::tool_use("toolu_1", "f", "{}"),
            ContentBlock::image(busbar_ir::ImageSource::Url {
                url: "https://x/y.png".into(),
            }),
        ],
    );
    response.created = Some(5);
    response.stop_reason = Some(StopReason::ToolUse);
    let (body, dropped) = encode_json(&response);
    assert_eq!(dropped, ["image"]);
    assert_eq!(body["created_at"], 5);
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["output"],
        json!([
            {"type": "reasoning", "id": "rs_busbar_thinking_msg_01_0", "summary": [{"type": "summary_text", "text": "hmm"}], "encrypted_content": "EqQBsig"},
            {"type": "reasoning", "id": "rs_busbar_redacted_msg_01_1", "summary": [], "encrypted_content": "opaque"},
            {"type": "reasoning", "id": "rs_7", "summary": [], "encrypted_content": "gAAA"},
            {"type": "function_call", "id": "fc_msg_01_3", "call_id": "toolu_1", "name": "f", "arguments": "{}", "status": "completed"},
        ])
    );
    for (stop, status, reason) in [
        (
            StopReason::MaxTokens,
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        (
            StopReason::Refusal,
            "incomplete",
            json!({"reason": "content_filter"}),
        ),
        (StopReason::StopSequence, "completed", Value::Null),
    ] {
        response.stop_reason = Some(stop);
        let (body, _) = encode_json(&response);
        assert_eq!(
            (&body["status"], &body["incomplete_details"]),
            (&json!(status), &reason)
        );
        assert_eq!(body["error"], Value::Null);
    }
    response.stop_reason = Some(StopReason::Error);
    let (body, _) = encode_json(&response);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["code"], "server_error");
    let unnamed = Response::new("", "m", vec![]);
    assert_eq!(encode_json(&unnamed).0["id"], "resp_1700000000");
}

#[test]
fn calls_to_namespace_functions_name_their_namespace() {
    let mut response = Response::new(
        "resp_1",
        "m",
        vec![
            ContentBlock::tool_use("c1", "agents__spawn", "{}"),
            ContentBlock::tool_use("c2", "exec", "{}"),
        ],
    );
    response.stop_reason = Some(StopReason::ToolUse);
    let body: Value =
        serde_json::from_slice(&encode(&response, 0, &["agents".to_owned()]).body).unwrap();
    assert_eq!(body["output"][0]["namespace"], "agents");
    assert_eq!(body["output"][0]["name"], "spawn");
    assert!(body["output"][1].get("namespace").is_none());
    assert_eq!(body["output"][1]["name"], "exec");
    // And a Responses upstream's namespaced call reads back joined.
    let decoded = decode(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert!(matches!(
        &decoded.content[0],
        ContentBlock::ToolUse { name, .. } if name == "agents__spawn"
    ));
}
