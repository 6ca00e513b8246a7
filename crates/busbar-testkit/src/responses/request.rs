//! What the Responses API accepts today: the fields of `CreateResponse` (and of `TokenCountsBody`
//! for `POST …/responses/input_tokens`) in OpenAI's OpenAPI description, the tool types of its
//! `Tool` union — hosted tools, `custom`, and `namespace` groups of function tools as Codex CLI
//! sends them — and the `reasoning` settings, refused in OpenAI's words.

use serde_json::Value;

use crate::check::{self, each, one_of, opt, req, tag, Fault, Kind, Problem, Table};
use crate::format::Outcome;
use crate::openai::request::{
    refusal, Unknown, CACHE_RETENTION, EFFORTS, SERVICE_TIERS, VERBOSITY,
};

/// Fields of `CreateResponse`. `client_metadata` is not in the description, but Codex CLI sends
/// it on every request and the API takes it (see `tests/agents/captures/`, recorded in
/// `test_data/vendor/README.md`), so the mock knows it too.
const CREATE: Table = &[
    ("model", opt(Kind::Str)),
    ("input", opt(Kind::StrOrArr)),
    ("metadata", opt(Kind::Obj)),
    ("top_logprobs", opt(Kind::Int)),
    ("temperature", opt(Kind::Num)),
    ("top_p", opt(Kind::Num)),
    ("user", opt(Kind::Str)),
    ("safety_identifier", opt(Kind::Str)),
    ("prompt_cache_key", opt(Kind::Str)),
    ("prompt_cache_retention", one_of(CACHE_RETENTION)),
    ("prompt_cache_options", opt(Kind::Obj)),
    ("previous_response_id", opt(Kind::Str)),
    ("background", opt(Kind::Bool)),
    ("max_tool_calls", opt(Kind::Int)),
    ("text", opt(Kind::Obj)),
    ("tools", opt(Kind::Arr)),
    ("tool_choice", opt(Kind::StrOrObj)),
    ("prompt", opt(Kind::Obj)),
    ("service_tier", one_of(SERVICE_TIERS)),
    ("truncation", one_of(&["auto", "disabled"])),
    ("reasoning", opt(Kind::Obj)),
    ("include", opt(Kind::Arr)),
    ("parallel_tool_calls", opt(Kind::Bool)),
    ("store", opt(Kind::Bool)),
    ("instructions", opt(Kind::StrOrArr)),
    ("moderation", opt(Kind::Any)),
    ("stream", opt(Kind::Bool)),
    ("stream_options", opt(Kind::Obj)),
    ("conversation", opt(Kind::StrOrObj)),
    ("context_management", opt(Kind::Arr)),
    ("max_output_tokens", opt(Kind::Int)),
    ("client_metadata", opt(Kind::Obj)),
];

/// Fields of `TokenCountsBody`.
const COUNT: Table = &[
    ("model", opt(Kind::Str)),
    ("input", opt(Kind::StrOrArr)),
    ("previous_response_id", opt(Kind::Str)),
    ("tools", opt(Kind::Arr)),
    ("text", opt(Kind::Obj)),
    ("reasoning", opt(Kind::Obj)),
    ("truncation", one_of(&["auto", "disabled"])),
    ("instructions", opt(Kind::StrOrArr)),
    ("conversation", opt(Kind::StrOrObj)),
    ("tool_choice", opt(Kind::StrOrObj)),
    ("parallel_tool_calls", opt(Kind::Bool)),
];

/// The `type` of every member of the `Tool` union.
const TOOL_TYPES: &[&str] = &[
    "function",
    "file_search",
    "computer",
    "computer_use_preview",
    "web_search",
    "web_search_2025_08_26",
    "mcp",
    "code_interpreter",
    "programmatic_tool_calling",
    "image_generation",
    "local_shell",
    "shell",
    "custom",
    "namespace",
    "tool_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "apply_patch",
];

/// `IncludeEnum`.
const INCLUDABLE: &[&str] = &[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
];

const REASONING: Table = &[
    ("effort", one_of(EFFORTS)),
    ("summary", one_of(&["auto", "concise", "detailed"])),
    ("generate_summary", one_of(&["auto", "concise", "detailed"])),
    ("context", one_of(&["auto", "current_turn", "all_turns"])),
    ("mode", opt(Kind::Str)),
];

const FUNCTION: Table = &[
    ("type", tag(&["function"])),
    ("name", req(Kind::Str)),
    ("description", opt(Kind::Str)),
    ("parameters", opt(Kind::Obj)),
    ("strict", opt(Kind::Bool)),
    ("output_schema", opt(Kind::Obj)),
    ("defer_loading", opt(Kind::Bool)),
    ("allowed_callers", opt(Kind::Arr)),
];
const CUSTOM: Table = &[
    ("type", tag(&["custom"])),
    ("name", req(Kind::Str)),
    ("description", opt(Kind::Str)),
    ("format", opt(Kind::Obj)),
    ("defer_loading", opt(Kind::Bool)),
    ("allowed_callers", opt(Kind::Arr)),
];
const NAMESPACE: Table = &[
    ("type", tag(&["namespace"])),
    ("name", req(Kind::Str)),
    ("description", req(Kind::Str)),
    ("tools", req(Kind::Arr)),
];

/// Checks a Responses body (or a token-count body); the refusal as OpenAI words it.
pub(crate) fn check(body: &Value, count: bool) -> Result<(), Outcome> {
    check_fields(body, count).map_err(|problem| refusal(&problem, Unknown::Parameter))
}

fn check_fields(body: &Value, count: bool) -> Result<(), Problem> {
    check::object(body, if count { COUNT } else { CREATE }, true)?;
    each(body.get("tools"), tool).map_err(|p| p.under("tools"))?;
    each(body.get("include"), |item| {
        check::field_value(item, &one_of(INCLUDABLE))
    })
    .map_err(|p| p.under("include"))?;
    if let Some(reasoning) = body.get("reasoning").filter(|r| !r.is_null()) {
        check::object(reasoning, REASONING, true).map_err(|p| p.under("reasoning"))?;
    }
    if let Some(text) = body.get("text").filter(|t| !t.is_null()) {
        let table: Table =
            const { &[("format", opt(Kind::Obj)), ("verbosity", one_of(VERBOSITY))] };
        check::object(text, table, true).map_err(|p| p.under("text"))?;
    }
    each(body.get("input"), |item| {
        if item.get("type").and_then(Value::as_str) != Some("reasoning") {
            return Ok(());
        }
        let table: Table = const {
            &[
                ("type", tag(&["reasoning"])),
                ("summary", req(Kind::Arr)),
                ("id", opt(Kind::Str)),
                ("encrypted_content", opt(Kind::Str)),
                ("content", opt(Kind::Arr)),
                (
                    "status",
                    one_of(&["in_progress", "completed", "incomplete"]),
                ),
            ]
        };
        check::object(item, table, true)
    })
    .map_err(|p| p.under("input"))
}

fn tool(value: &Value) -> Result<(), Problem> {
    check::tagged(value, "type", TOOL_TYPES, |kind| match kind {
        "function" => Some((FUNCTION, true)),
        "custom" => Some((CUSTOM, true)),
        "namespace" => Some((NAMESPACE, true)),
        // Hosted tools: their settings are the API's business, the type is the mock's.
        other => TOOL_TYPES.contains(&other).then_some((&[][..], false)),
    })?;
    if value["type"] != "namespace" {
        return Ok(());
    }
    if value["tools"].as_array().is_some_and(Vec::is_empty) {
        let problem = Problem::new(Fault::Range("with at least 1 item")).under("tools");
        return Err(problem);
    }
    each(value.get("tools"), |inner| {
        check::tagged(inner, "type", &["function", "custom"], |kind| match kind {
            "function" => Some((FUNCTION, true)),
            "custom" => Some((CUSTOM, true)),
            _ => None,
        })
    })
    .map_err(|p| p.under("tools"))
}

/// Function tools in order, those inside `namespace` groups in their place.
pub(crate) fn function_tools(body: &Value) -> Vec<&Value> {
    let mut functions = Vec::new();
    for tool in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => functions.push(tool),
            Some("namespace") => {
                let inner = tool
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                functions.extend(inner.filter(|t| t["type"] == "function"));
            }
            _ => {}
        }
    }
    functions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problem(body: Value) -> Option<String> {
        check_fields(&body, false).err().map(|p| p.bracketed())
    }

    #[test]
    fn codex_style_requests_pass_and_mistakes_are_named() {
        let function = json!({"type": "function", "name": "f", "parameters": {}, "strict": false});
        let ok = json!({"model": "m", "input": [
                {"type": "message", "role": "developer", "content": "x"},
                {"type": "reasoning", "summary": [], "encrypted_content": "abc"}],
            "tools": [function, {"type": "namespace", "name": "ns", "description": "d",
                                 "tools": [{"type": "function", "name": "g"}]},
                      {"type": "web_search", "external_web_access": false}],
            "reasoning": {"effort": "xhigh", "summary": "auto"}, "store": false,
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k",
            "client_metadata": {"a": "b"}});
        assert_eq!(problem(ok.clone()), None);
        assert_eq!(function_tools(&ok).len(), 2);
        let bad = json!({"model": "m", "tools": [{"type": "namespace", "name": "ns",
                                                  "description": "d", "tools": [{"type": "web_search"}]}]});
        assert_eq!(problem(bad).as_deref(), Some("tools[0].tools[0].type"));
        let bad = json!({"model": "m", "reasoning": {"effort": "huge"}});
        assert_eq!(problem(bad).as_deref(), Some("reasoning.effort"));
        let bad = json!({"model": "m", "include": ["everything"]});
        assert_eq!(problem(bad).as_deref(), Some("include[0]"));
        let bad = json!({"model": "m", "max_tokens": 5});
        assert_eq!(problem(bad).as_deref(), Some("max_tokens"));
    }
}
