//! Tools, tool choice and tool calls, as Cohere writes them.

use busbar_ir::{Request, Tool, ToolChoice};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
pub(in crate::cohere) struct OutToolCall<'a> {
    pub(in crate::cohere) id: &'a str,
    #[serde(rename = "type")]
    pub(in crate::cohere) kind: &'static str,
    pub(in crate::cohere) function: OutFunctionCall<'a>,
}

#[derive(Debug, Serialize)]
pub(in crate::cohere) struct OutFunctionCall<'a> {
    pub(in crate::cohere) name: &'a str,
    pub(in crate::cohere) arguments: &'a str,
}

impl<'a> OutToolCall<'a> {
    /// A call as Cohere writes it, in requests and replies. Empty arguments
    /// are `{}`: Cohere wants JSON text.
    pub(in crate::cohere) fn new(id: &'a str, name: &'a str, arguments: &'a str) -> Self {
        let arguments = if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        };
        Self {
            id,
            kind: "function",
            function: OutFunctionCall { name, arguments },
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct OutTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Debug, Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: Value,
}

/// The tools to send and the `tool_choice` (see [`super::encode`] for the
/// rules).
pub(super) fn encode_tools<'a>(
    request: &'a Request,
    dropped: &mut Vec<&'static str>,
) -> (Vec<&'a Tool>, Option<&'static str>) {
    let tools: Vec<&Tool> = request.tools.iter().collect();
    if tools.is_empty() {
        return (tools, None);
    }
    match &request.tool_choice {
        Some(ToolChoice::Required) => (tools, Some("REQUIRED")),
        Some(ToolChoice::None) => (tools, Some("NONE")),
        Some(ToolChoice::Tool(name)) => {
            let named: Vec<&Tool> = tools.iter().copied().filter(|t| &t.name == name).collect();
            if named.is_empty() {
                dropped.push("tool_choice");
                (tools, Some("REQUIRED"))
            } else {
                (named, Some("REQUIRED"))
            }
        }
        _ => (tools, None),
    }
}

pub(super) fn strict_tools(tools: &[&Tool], dropped: &mut Vec<&'static str>) -> Option<bool> {
    let strict = tools.iter().filter(|t| t.strict == Some(true)).count();
    if strict > 0 {
        if strict < tools.len() {
            dropped.push("strict");
        }
        Some(true)
    } else if tools.iter().any(|t| t.strict == Some(false)) {
        Some(false)
    } else {
        None
    }
}

/// Cohere wants an object schema; OpenAI lets a function omit its
/// parameters.
pub(super) fn encode_tool(tool: &Tool) -> OutTool<'_> {
    let parameters = match &tool.parameters {
        Value::Object(_) => tool.parameters.clone(),
        _ => serde_json::json!({"type": "object", "properties": {}}),
    };
    OutTool {
        kind: "function",
        function: OutFunction {
            name: &tool.name,
            description: tool.description.as_deref(),
            parameters,
        },
    }
}
