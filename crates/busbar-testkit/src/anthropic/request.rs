//! What the Messages API accepts today, as tables checked before a request is read: the fields of
//! `anthropic` 2.17's `MessageCreateParams` (and `MessageCountTokensParams`), the beta fields its
//! `beta.MessageCreateParams` adds when an `anthropic-beta` header is sent, and the sampling
//! fields `anthropic-version: 2023-06-01` still takes. Problems are worded as the API's
//! pydantic-style messages: `path: Input should be …`. Content blocks are in `blocks.rs`.

use serde_json::Value;

use super::blocks::{block, cache_control, system};
use crate::check::{self, each, one_of, opt, req, tag, Fault, Kind, Problem, Table};

/// Fields of `MessageCreateParams`, in the order the API reports missing ones.
const CREATE: Table = &[
    ("model", req(Kind::Str)),
    ("max_tokens", req(Kind::Int)),
    ("messages", req(Kind::Arr)),
    ("cache_control", opt(Kind::Obj)),
    ("container", opt(Kind::StrOrObj)),
    ("diagnostics", opt(Kind::Obj)),
    ("inference_geo", opt(Kind::Str)),
    ("metadata", opt(Kind::Obj)),
    ("output_config", opt(Kind::Obj)),
    ("service_tier", one_of(&["auto", "standard_only"])),
    ("speed", one_of(&["standard", "fast"])),
    ("stop_sequences", opt(Kind::Arr)),
    ("stream", opt(Kind::Bool)),
    ("system", opt(Kind::StrOrArr)),
    ("thinking", opt(Kind::Obj)),
    ("tool_choice", opt(Kind::Obj)),
    ("tools", opt(Kind::Arr)),
];

/// Fields of `MessageCountTokensParams`.
const COUNT: Table = &[
    ("model", req(Kind::Str)),
    ("messages", req(Kind::Arr)),
    ("cache_control", opt(Kind::Obj)),
    ("output_config", opt(Kind::Obj)),
    ("speed", one_of(&["standard", "fast"])),
    ("system", opt(Kind::StrOrArr)),
    ("thinking", opt(Kind::Obj)),
    ("tool_choice", opt(Kind::Obj)),
    ("tools", opt(Kind::Arr)),
];

/// What `beta.MessageCreateParams` adds (Claude Code sends `context_management`).
const BETA: Table = &[
    ("billing_policy", opt(Kind::Any)),
    ("compaction", opt(Kind::Any)),
    ("context_management", opt(Kind::Obj)),
    ("fallback_credit_token", opt(Kind::Any)),
    ("fallbacks", opt(Kind::Any)),
    ("mcp_servers", opt(Kind::Arr)),
    ("thread", opt(Kind::Any)),
];

/// Sampling fields: gone from the 2.x SDK's types, still taken under `2023-06-01`.
const SAMPLING: Table = &[
    ("temperature", opt(Kind::Num)),
    ("top_p", opt(Kind::Num)),
    ("top_k", opt(Kind::Int)),
];

const ROLES: &[&str] = &["user", "assistant", "system"];

const CUSTOM_TOOL: Table = &[
    ("name", req(Kind::Str)),
    ("input_schema", req(Kind::Obj)),
    ("type", one_of(&["custom"])),
    ("description", opt(Kind::Str)),
    ("cache_control", opt(Kind::Obj)),
    ("strict", opt(Kind::Bool)),
    ("defer_loading", opt(Kind::Bool)),
    ("eager_input_streaming", opt(Kind::Bool)),
    ("input_examples", opt(Kind::Arr)),
    ("allowed_callers", opt(Kind::Arr)),
];

/// Versioned server and Anthropic-defined tool types (`ToolUnionParam`, beta's included).
const SERVER_TOOL_TYPES: &[&str] = &[
    "bash_20241022",
    "bash_20250124",
    "code_execution_20250522",
    "code_execution_20250825",
    "code_execution_20260120",
    "code_execution_20260521",
    "browser_toolset_20260801",
    "computer_20241022",
    "computer_20250124",
    "computer_20251124",
    "computer_toolset_20260801",
    "memory_20250818",
    "text_editor_20241022",
    "text_editor_20250124",
    "text_editor_20250429",
    "text_editor_20250728",
    "web_search_20250305",
    "web_search_20260209",
    "web_search_20260318",
    "web_fetch_20250910",
    "web_fetch_20260209",
    "web_fetch_20260309",
    "web_fetch_20260318",
    "tool_search_tool_bm25_20251119",
    "tool_search_tool_bm25",
    "tool_search_tool_regex_20251119",
    "tool_search_tool_regex",
    "advisor_20260301",
    "mcp_toolset",
];

const TOOL_CHOICE_TYPES: &[&str] = &["auto", "any", "tool", "none"];
const THINKING_TYPES: &[&str] = &["enabled", "disabled", "adaptive", "between_tools"];
const DISPLAY: &[&str] = &["summarized", "omitted"];
const EDIT_TYPES: &[&str] = &[
    "clear_tool_uses_20250919",
    "clear_thinking_20251015",
    "compact_20260112",
];

/// The smallest `thinking.budget_tokens` the API takes.
pub(crate) const MIN_THINKING_BUDGET: u64 = 1024;

/// What the request is, for the checks that depend on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// `POST …/v1/messages/count_tokens` rather than a message.
    pub(crate) count: bool,
    /// An `anthropic-beta` header was sent, so the beta fields are known.
    pub(crate) beta: bool,
    /// `anthropic-version: 2023-06-01`, which still takes `temperature`, `top_p`, `top_k`.
    pub(crate) sampling: bool,
}

/// Checks a request body; the first problem, worded as the API words it.
pub(crate) fn check(body: &Value, dialect: Dialect) -> Result<(), String> {
    check_body(body, dialect).map_err(|problem| words(&problem))
}

fn check_body(body: &Value, dialect: Dialect) -> Result<(), Problem> {
    let main = if dialect.count { COUNT } else { CREATE };
    check::object(body, main, false)?;
    let mut known: Vec<Table> = vec![main];
    if dialect.beta {
        check::object(body, BETA, false)?;
        known.push(BETA);
    }
    if dialect.sampling && !dialect.count {
        check::object(body, SAMPLING, false)?;
        known.push(SAMPLING);
    }
    let fields = body.as_object().into_iter().flatten();
    for (name, _) in fields {
        if !known.iter().any(|t| t.iter().any(|(n, _)| n == name)) {
            return Err(Problem::new(Fault::Unknown).under(name));
        }
    }
    if let Some(max) = body.get("max_tokens").and_then(Value::as_i64) {
        if max < 0 {
            return Err(
                Problem::new(Fault::Range("greater than or equal to 0")).under("max_tokens")
            );
        }
    }
    for (name, range) in [("temperature", 1.0), ("top_p", 1.0)] {
        let value = body.get(name).and_then(Value::as_f64);
        if value.is_some_and(|v| !(0.0..=range).contains(&v)) {
            let bound = "less than or equal to 1";
            return Err(Problem::new(Fault::Range(bound)).under(name));
        }
    }
    match body.get("messages").and_then(Value::as_array) {
        Some(messages) if messages.is_empty() && !dialect.count => {
            return Err(Problem::new(Fault::Range("at least one message")).under("messages"))
        }
        _ => {}
    }
    each(body.get("messages"), message).map_err(|p| p.under("messages"))?;
    system(body.get("system")).map_err(|p| p.under("system"))?;
    each(body.get("tools"), tool).map_err(|p| p.under("tools"))?;
    each(body.get("stop_sequences"), |s| {
        check::field_value(s, &req(Kind::Str))
    })
    .map_err(|p| p.under("stop_sequences"))?;
    optional(body, "cache_control", cache_control)?;
    optional(body, "tool_choice", tool_choice)?;
    optional(body, "thinking", |t| thinking(t, body.get("max_tokens")))?;
    optional(body, "output_config", output_config)?;
    optional(body, "metadata", |m| {
        check::object(m, const { &[("user_id", opt(Kind::Str))] }, true)
    })?;
    optional(body, "context_management", context_management)?;
    Ok(())
}

/// Runs `check` on a field when it is present and not null, naming it in the problem.
pub(super) fn optional(
    body: &Value,
    name: &str,
    check: impl FnOnce(&Value) -> Result<(), Problem>,
) -> Result<(), Problem> {
    match body.get(name).filter(|v| !v.is_null()) {
        Some(value) => check(value).map_err(|p| p.under(name)),
        None => Ok(()),
    }
}

fn message(value: &Value) -> Result<(), Problem> {
    check::object(
        value,
        const { &[("role", tag(ROLES)), ("content", req(Kind::StrOrArr))] },
        true,
    )?;
    // A mid-conversation system message holds text only, as the top-level `system` does.
    if value["role"] == "system" {
        return system(value.get("content")).map_err(|p| p.under("content"));
    }
    each(value.get("content"), block).map_err(|p| p.under("content"))
}

fn tool(value: &Value) -> Result<(), Problem> {
    match value.get("type").and_then(Value::as_str) {
        None | Some("custom") => check::object(value, CUSTOM_TOOL, true)?,
        Some(kind) if SERVER_TOOL_TYPES.contains(&kind) => {}
        Some(kind) => {
            let problem = Problem::new(Fault::Enum(SERVER_TOOL_TYPES, kind.to_owned()));
            return Err(problem.under("type"));
        }
    }
    optional(value, "cache_control", cache_control)
}

fn tool_choice(value: &Value) -> Result<(), Problem> {
    check::tagged(value, "type", TOOL_CHOICE_TYPES, |kind| {
        let table: Table = match kind {
            "auto" => {
                const {
                    &[
                        ("type", tag(&["auto"])),
                        ("disable_parallel_tool_use", opt(Kind::Bool)),
                    ]
                }
            }
            "any" => {
                const {
                    &[
                        ("type", tag(&["any"])),
                        ("disable_parallel_tool_use", opt(Kind::Bool)),
                    ]
                }
            }
            "tool" => {
                const {
                    &[
                        ("type", tag(&["tool"])),
                        ("name", req(Kind::Str)),
                        ("disable_parallel_tool_use", opt(Kind::Bool)),
                    ]
                }
            }
            "none" => const { &[("type", tag(&["none"]))] },
            _ => return None,
        };
        Some((table, true))
    })
}

fn thinking(value: &Value, max_tokens: Option<&Value>) -> Result<(), Problem> {
    check::tagged(value, "type", THINKING_TYPES, |kind| {
        let table: Table = match kind {
            "enabled" => {
                const {
                    &[
                        ("type", tag(&["enabled"])),
                        ("budget_tokens", req(Kind::Int)),
                        ("display", one_of(DISPLAY)),
                    ]
                }
            }
            "adaptive" => const { &[("type", tag(&["adaptive"])), ("display", one_of(DISPLAY))] },
            "disabled" => const { &[("type", tag(&["disabled"]))] },
            "between_tools" => const { &[("type", tag(&["between_tools"]))] },
            _ => return None,
        };
        Some((table, true))
    })?;
    let Some(budget) = value.get("budget_tokens").and_then(Value::as_u64) else {
        return Ok(());
    };
    if budget < MIN_THINKING_BUDGET {
        let bound = "greater than or equal to 1024";
        return Err(Problem::new(Fault::Range(bound)).under("budget_tokens"));
    }
    if max_tokens
        .and_then(Value::as_u64)
        .is_some_and(|max| budget >= max)
    {
        return Err(Problem::new(Fault::Range("less than max_tokens")).under("budget_tokens"));
    }
    Ok(())
}

fn output_config(value: &Value) -> Result<(), Problem> {
    let table: Table = const {
        &[
            ("effort", one_of(&["low", "medium", "high", "xhigh", "max"])),
            ("format", opt(Kind::Obj)),
            ("task_budget", opt(Kind::Obj)),
        ]
    };
    check::object(value, table, true)?;
    optional(value, "format", |format| {
        let table: Table = const { &[("type", tag(&["json_schema"])), ("schema", req(Kind::Obj))] };
        check::object(format, table, true)
    })
}

fn context_management(value: &Value) -> Result<(), Problem> {
    check::object(value, const { &[("edits", opt(Kind::Arr))] }, true)?;
    each(value.get("edits"), |edit| {
        check::tagged(edit, "type", EDIT_TYPES, |kind| {
            let table: Table = match kind {
                "clear_tool_uses_20250919" => {
                    const {
                        &[
                            ("type", tag(&["clear_tool_uses_20250919"])),
                            ("clear_at_least", opt(Kind::Obj)),
                            ("clear_tool_inputs", opt(Kind::BoolOrArr)),
                            ("exclude_tools", opt(Kind::Arr)),
                            ("keep", opt(Kind::Obj)),
                            ("trigger", opt(Kind::Obj)),
                        ]
                    }
                }
                "clear_thinking_20251015" => {
                    const {
                        &[
                            ("type", tag(&["clear_thinking_20251015"])),
                            ("keep", opt(Kind::StrOrObj)),
                        ]
                    }
                }
                "compact_20260112" => {
                    const {
                        &[
                            ("type", tag(&["compact_20260112"])),
                            ("instructions", opt(Kind::Str)),
                            ("pause_after_compaction", opt(Kind::Bool)),
                            ("trigger", opt(Kind::Obj)),
                        ]
                    }
                }
                _ => return None,
            };
            Some((table, true))
        })
    })
    .map_err(|p| p.under("edits"))
}

/// A problem in the API's words: `messages.1.role: Input should be 'user', 'assistant' or 'system'`.
fn words(problem: &Problem) -> String {
    let what = match &problem.fault {
        Fault::Missing => "Field required".to_owned(),
        Fault::Unknown => "Extra inputs are not permitted".to_owned(),
        Fault::Type(kind) => format!("Input should be {}", kind_words(*kind)),
        Fault::Enum(values, _) => format!("Input should be {}", quoted_list(values)),
        Fault::Range("at least one message") => "at least one message is required".to_owned(),
        // The API words this one without a path.
        Fault::Range("less than max_tokens") => {
            return "`max_tokens` must be greater than `thinking.budget_tokens`.".to_owned()
        }
        Fault::Range(bound) => format!("Input should be {bound}"),
    };
    format!("{}: {what}", problem.dotted())
}

fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a valid string",
        Kind::Int => "a valid integer",
        Kind::Num => "a valid number",
        Kind::Bool => "a valid boolean",
        Kind::Obj => "a valid dictionary",
        Kind::Arr => "a valid list",
        Kind::StrOrArr => "a valid string or a valid list",
        Kind::StrOrObj => "a valid string or a valid dictionary",
        Kind::BoolOrArr => "a valid boolean or a valid list",
        Kind::Any => "a value",
    }
}

/// `'a', 'b' or 'c'`, as pydantic lists literal values.
fn quoted_list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}
