//! The request's tools and tool choice → Converse `toolConfig`.

use std::borrow::Cow;

use busbar_ir::{ContentBlock, Message, Request, Tool, ToolChoice};
use serde::Serialize;
use serde_json::{json, Value};

use super::names::fit_tool_name;
use crate::bedrock::content::OutCachePoint;

/// `name` as a tool name Bedrock accepts; a rewrite is named `tool_name`.
pub(super) fn fitted_name<'a>(name: &'a str, dropped: &mut Vec<&'static str>) -> Cow<'a, str> {
    let fitted = fit_tool_name(name);
    if matches!(fitted, Cow::Owned(_)) {
        dropped.push("tool_name");
    }
    fitted
}

/// The `toolConfig` for the request, if one is to be sent (see
/// [`encode`](super::encode) for the rules).
pub(super) fn encode_tool_config<'a>(
    request: &'a Request,
    dropped: &mut Vec<&'static str>,
) -> Option<ToolConfig<'a>> {
    let has_tool_blocks = request.messages.iter().any(|message| {
        message.content.iter().any(|block| {
            matches!(
                block,
                ContentBlock::ToolUse { .. } | ContentBlock::ToolResult { .. }
            )
        })
    });
    let choice_none = matches!(request.tool_choice, Some(ToolChoice::None));
    let forced = matches!(
        request.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tool(_))
    );
    if request.tools.is_empty() {
        // A choice among no tools cannot be sent, and stand-ins must never
        // be forced on the model.
        if forced {
            dropped.push("tool_choice");
        }
        let tools = if has_tool_blocks {
            stand_in_tools(&request.messages, dropped)
        } else {
            Vec::new()
        };
        return (!tools.is_empty()).then_some(ToolConfig {
            tools,
            tool_choice: None,
        });
    }
    if choice_none && !has_tool_blocks {
        return None;
    }
    let tools = request
        .tools
        .iter()
        .flat_map(|tool| {
            let point = tool.cache_point.as_ref().map(OutCachePoint::new);
            [
                Some(encode_tool(tool, dropped)),
                point.map(OutTool::CachePoint),
            ]
        })
        .flatten()
        .collect();
    let tool_choice = match &request.tool_choice {
        Some(ToolChoice::Auto) => Some(OutToolChoice::Auto(Empty {})),
        Some(ToolChoice::Required) => Some(OutToolChoice::Any(Empty {})),
        Some(ToolChoice::Tool(name)) => Some(OutToolChoice::Tool {
            name: fitted_name(name, dropped),
        }),
        Some(ToolChoice::None) => {
            dropped.push("tool_choice");
            None
        }
        _ => None,
    };
    Some(ToolConfig { tools, tool_choice })
}

/// One tool per tool name the conversation's calls use, in order of first
/// use, with an empty object schema.
fn stand_in_tools<'a>(
    messages: &'a [Message],
    dropped: &mut Vec<&'static str>,
) -> Vec<OutTool<'a>> {
    let mut names: Vec<&str> = Vec::new();
    for block in messages.iter().flat_map(|message| &message.content) {
        if let ContentBlock::ToolUse { name, .. } = block {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            OutTool::ToolSpec(ToolSpec {
                name: fitted_name(name, dropped),
                description: None,
                input_schema: InputSchema {
                    json: json!({"type": "object", "properties": {}}),
                },
                strict: None,
            })
        })
        .collect()
}

/// Bedrock passes the schema to the model, and Claude requires an object
/// schema with `type`; OpenAI lets a function omit its parameters.
fn encode_tool<'a>(tool: &'a Tool, dropped: &mut Vec<&'static str>) -> OutTool<'a> {
    let json = match &tool.parameters {
        Value::Object(schema) if schema.contains_key("type") => tool.parameters.clone(),
        Value::Object(schema) => {
            let mut schema = schema.clone();
            schema.insert("type".to_owned(), Value::from("object"));
            Value::Object(schema)
        }
        _ => json!({"type": "object", "properties": {}}),
    };
    OutTool::ToolSpec(ToolSpec {
        name: fitted_name(&tool.name, dropped),
        description: tool.description.as_deref().filter(|d| !d.is_empty()),
        input_schema: InputSchema { json },
        strict: tool.strict,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolConfig<'a> {
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum OutTool<'a> {
    ToolSpec(ToolSpec<'a>),
    CachePoint(OutCachePoint<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec<'a> {
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: InputSchema,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Debug, Serialize)]
struct InputSchema {
    json: Value,
}

/// Serialises as `{}`.
#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum OutToolChoice<'a> {
    Auto(Empty),
    Any(Empty),
    Tool { name: Cow<'a, str> },
}

#[cfg(test)]
mod tests {
    use busbar_ir::{ContentBlock, Message, Request, Role, Tool, ToolChoice};
    use serde_json::{json, Value};

    use crate::RequestOptions;

    fn encode_json(request: &Request) -> (Value, Vec<&'static str>) {
        let encoded = super::super::encode(request, &RequestOptions::new("m"));
        (
            serde_json::from_slice(&encoded.body).unwrap(),
            encoded.dropped,
        )
    }

    fn user(text: &str) -> Message {
        Message::text(Role::User, text)
    }

    #[test]
    fn names_and_ids_bedrock_refuses_are_rewritten_consistently() {
        let mut request = Request::new(
            "m",
            vec![
                user("go"),
                Message::new(
                    Role::Assistant,
                    vec![ContentBlock::tool_use("call 1/ä", "search.web", "{}")],
                ),
                Message::new(
                    Role::User,
                    vec![ContentBlock::tool_result("call 1/ä", "found")],
                ),
            ],
        );
        request.tools = vec![Tool::new("search.web", None, json!({"type": "object"}))];
        request.tool_choice = Some(ToolChoice::Tool("search.web".into()));
        let (body, dropped) = encode_json(&request);
        assert_eq!(dropped, vec!["tool_name"]);
        let id = body["messages"][1]["content"][0]["toolUse"]["toolUseId"].clone();
        let name = body["messages"][1]["content"][0]["toolUse"]["name"].clone();
        assert!(id.as_str().unwrap().starts_with("call_1___"), "{id}");
        assert!(name.as_str().unwrap().starts_with("search_web_"), "{name}");
        assert_eq!(
            body["messages"][2]["content"][0]["toolResult"]["toolUseId"],
            id
        );
        assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["name"], name);
        assert_eq!(body["toolConfig"]["toolChoice"]["tool"]["name"], name);
    }

    #[test]
    fn tool_choices_map_and_none_withholds_the_tools() {
        let tools = vec![Tool::new(
            "f",
            Some(String::new()),
            json!({"properties": {}}),
        )];
        for (choice, expected) in [
            (Some(ToolChoice::Auto), Some(json!({"auto": {}}))),
            (Some(ToolChoice::Required), Some(json!({"any": {}}))),
            (
                Some(ToolChoice::Tool("f".into())),
                Some(json!({"tool": {"name": "f"}})),
            ),
            (None, None),
        ] {
            let mut request = Request::new("m", vec![user("hi")]);
            request.tools = tools.clone();
            request.tool_choice = choice;
            let (body, dropped) = encode_json(&request);
            assert!(dropped.is_empty());
            // An empty description is left out; a schema gets its `type`.
            assert_eq!(
                body["toolConfig"]["tools"],
                json!([{"toolSpec": {"name": "f", "inputSchema": {"json": {"properties": {}, "type": "object"}}}}])
            );
            assert_eq!(body["toolConfig"].get("toolChoice"), expected.as_ref());
        }
        let mut none = Request::new("m", vec![user("hi")]);
        none.tools = tools.clone();
        none.tool_choice = Some(ToolChoice::None);
        let (body, dropped) = encode_json(&none);
        assert!(body.get("toolConfig").is_none());
        assert!(dropped.is_empty());
        // With tool blocks in the conversation the tools must go, unforced.
        none.messages.push(Message::new(
            Role::Assistant,
            vec![ContentBlock::tool_use("t", "f", "{}")],
        ));
        let (body, dropped) = encode_json(&none);
        assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["name"], "f");
        assert!(body["toolConfig"].get("toolChoice").is_none());
        assert_eq!(dropped, vec!["tool_choice"]);
        // Stand-in tools are never forced.
        let mut history = Request::new(
            "m",
            vec![
                user("hi"),
                Message::new(
                    Role::Assistant,
                    vec![ContentBlock::tool_use("t", "f", "{}")],
                ),
                Message::new(Role::User, vec![ContentBlock::tool_result("t", "ok")]),
            ],
        );
        history.tool_choice = Some(ToolChoice::Tool("f".into()));
        let (body, dropped) = encode_json(&history);
        assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["name"], "f");
        assert!(body["toolConfig"].get("toolChoice").is_none());
        assert_eq!(dropped, vec!["tool_choice"]);
        // Tool results alone name no tool to stand in.
        history.messages.remove(1);
        history.tool_choice = None;
        let (body, dropped) = encode_json(&history);
        assert!(body.get("toolConfig").is_none());
        assert!(dropped.is_empty());
        // A forced choice without any tool cannot be sent.
        let mut forced = Request::new("m", vec![user("hi")]);
        forced.tool_choice = Some(ToolChoice::Required);
        let (body, dropped) = encode_json(&forced);
        assert!(body.get("toolConfig").is_none());
        assert_eq!(dropped, vec!["tool_choice"]);
    }
}
