//! What Chat Completions accepts today — the fields of `CreateChatCompletionRequest` in OpenAI's
//! OpenAPI description (vendored under `test_data/vendor/`) — and OpenAI's wording of a refused
//! request, which the Responses API shares except for unknown fields.

use serde_json::Value;

use crate::check::{self, each, one_of, opt, req, tag, Fault, Kind, Problem, Table};
use crate::format::Outcome;

/// `reasoning_effort` and Responses' `reasoning.effort` (`ReasoningEffort`).
pub(crate) const EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh", "max"];

/// `verbosity` and Responses' `text.verbosity` (`Verbosity`).
pub(crate) const VERBOSITY: &[&str] = &["low", "medium", "high"];

/// `service_tier` (`ServiceTier`).
pub(crate) const SERVICE_TIERS: &[&str] = &["auto", "default", "flex", "scale", "priority", "fast"];

/// `prompt_cache_retention`.
pub(crate) const CACHE_RETENTION: &[&str] = &["in_memory", "24h"];

const ROLES: &[&str] = &[
    "developer",
    "system",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Fields of `CreateChatCompletionRequest`; `model` and `messages` are checked first, with their
/// own messages, by the caller.
const CHAT: Table = &[
    ("model", req(Kind::Str)),
    ("messages", req(Kind::Arr)),
    ("metadata", opt(Kind::Obj)),
    ("top_logprobs", opt(Kind::Int)),
    ("temperature", opt(Kind::Num)),
    ("top_p", opt(Kind::Num)),
    ("user", opt(Kind::Str)),
    ("safety_identifier", opt(Kind::Str)),
    ("prompt_cache_key", opt(Kind::Str)),
    ("prompt_cache_retention", one_of(CACHE_RETENTION)),
    ("prompt_cache_options", opt(Kind::Obj)),
    ("service_tier", one_of(SERVICE_TIERS)),
    ("modalities", opt(Kind::Arr)),
    ("verbosity", one_of(VERBOSITY)),
    ("reasoning_effort", one_of(EFFORTS)),
    ("max_completion_tokens", opt(Kind::Int)),
    ("frequency_penalty", opt(Kind::Num)),
    ("presence_penalty", opt(Kind::Num)),
    ("web_search_options", opt(Kind::Obj)),
    ("response_format", opt(Kind::Obj)),
    ("audio", opt(Kind::Obj)),
    ("store", opt(Kind::Bool)),
    ("moderation", opt(Kind::Any)),
    ("stream", opt(Kind::Bool)),
    ("stop", opt(Kind::StrOrArr)),
    ("logit_bias", opt(Kind::Obj)),
    ("logprobs", opt(Kind::Bool)),
    ("max_tokens", opt(Kind::Int)),
    ("n", opt(Kind::Int)),
    ("prediction", opt(Kind::Obj)),
    ("seed", opt(Kind::Int)),
    ("stream_options", opt(Kind::Obj)),
    ("tools", opt(Kind::Arr)),
    ("tool_choice", opt(Kind::StrOrObj)),
    ("parallel_tool_calls", opt(Kind::Bool)),
    ("function_call", opt(Kind::StrOrObj)),
    ("functions", opt(Kind::Arr)),
];

/// Checks a Chat Completions body past `model` and `messages`; the refusal as OpenAI words it.
///
/// Fields the table does not name pass: this format also stands for the OpenAI-compatible
/// servers (vLLM, Ollama, OpenRouter, …) that take vendor extensions, and Busbar relays those
/// byte for byte (`tests/e2e/relay.rs`). OpenAI itself would answer `Unrecognized request
/// argument supplied: x`, the wording `Unknown::Unrecognized` keeps for nested objects.
pub(crate) fn check_chat(body: &Value) -> Result<(), Outcome> {
    check_fields(body).map_err(|problem| refusal(&problem, Unknown::Unrecognized))
}

fn check_fields(body: &Value) -> Result<(), Problem> {
    check::object(body, CHAT, false)?;
    each(body.get("messages"), |m| {
        check::object(m, const { &[("role", tag(ROLES))] }, false)
    })
    .map_err(|p| p.under("messages"))?;
    each(body.get("modalities"), |m| {
        check::field_value(m, &one_of(&["text", "audio"]))
    })
    .map_err(|p| p.under("modalities"))?;
    if let Some(prediction) = body.get("prediction").filter(|p| !p.is_null()) {
        let table: Table = const {
            &[
                ("type", tag(&["content"])),
                ("content", req(Kind::StrOrArr)),
            ]
        };
        check::object(prediction, table, true).map_err(|p| p.under("prediction"))?;
    }
    each(body.get("tools"), |tool| {
        check::tagged(tool, "type", &["function", "custom"], |kind| match kind {
            "function" => Some((
                const { &[("type", tag(&["function"])), ("function", req(Kind::Obj))] },
                true,
            )),
            "custom" => Some((
                const { &[("type", tag(&["custom"])), ("custom", req(Kind::Obj))] },
                true,
            )),
            _ => None,
        })?;
        let function = tool.get("function").filter(|f| f.is_object());
        match function {
            Some(f) => check::object(f, const { &[("name", req(Kind::Str))] }, false)
                .map_err(|p| p.under("function")),
            None => Ok(()),
        }
    })
    .map_err(|p| p.under("tools"))
}

/// How an API words a field it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Chat Completions: `Unrecognized request argument supplied: x`.
    Unrecognized,
    /// Responses: `Unknown parameter: 'x'.`, code `unknown_parameter`.
    Parameter,
}

/// A problem as OpenAI's 400: the message, `param` and `code` it writes.
pub(crate) fn refusal(problem: &Problem, unknown: Unknown) -> Outcome {
    let param = problem.bracketed();
    match &problem.fault {
        Fault::Missing => {
            let message = format!("Missing required parameter: '{param}'.");
            super::invalid(&message, Some(&param), Some("missing_required_parameter"))
        }
        Fault::Unknown if unknown == Unknown::Unrecognized => {
            let message = format!("Unrecognized request argument supplied: {param}");
            super::invalid(&message, None, None)
        }
        Fault::Unknown => {
            let message = format!("Unknown parameter: '{param}'.");
            super::invalid(&message, Some(&param), Some("unknown_parameter"))
        }
        Fault::Type(kind) => super::wrong_type(&param, kind_words(*kind)),
        Fault::Enum(values, got) => {
            let message = format!(
                "Invalid value: '{got}'. Supported values are: {}.",
                quoted_list(values)
            );
            super::invalid(&message, Some(&param), Some("invalid_value"))
        }
        Fault::Range(bound) => {
            let message = format!("Invalid '{param}': expected a value {bound}.");
            super::invalid(&message, Some(&param), Some("invalid_value"))
        }
    }
}

fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Int => "an integer",
        Kind::Num => "a number",
        Kind::Bool => "a boolean",
        Kind::Obj => "an object",
        Kind::Arr => "an array",
        Kind::StrOrArr => "one of a string or array",
        Kind::StrOrObj => "one of a string or object",
        Kind::BoolOrArr => "one of a boolean or array",
        Kind::Any => "a value",
    }
}

/// `'a', 'b', and 'c'`, as OpenAI lists supported values.
fn quoted_list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if rest.len() > 1 => format!("{}, and {last}", rest.join(", ")),
        Some((last, [first])) => format!("{first} and {last}"),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problem(body: Value) -> Option<String> {
        check_fields(&body).err().map(|p| p.bracketed())
    }

    #[test]
    fn todays_fields_pass_and_wrong_ones_are_named() {
        let ok = json!({"model": "m", "messages": [{"role": "developer", "content": "x"}],
            "reasoning_effort": "xhigh", "verbosity": "low", "modalities": ["text"],
            "prediction": {"type": "content", "content": "x"}, "prompt_cache_key": "k"});
        assert_eq!(problem(ok), None);
        let bad = json!({"model": "m", "messages": [], "reasoning_effort": "huge"});
        assert_eq!(problem(bad).as_deref(), Some("reasoning_effort"));
        let bad = json!({"model": "m", "messages": [{"role": "robot"}]});
        assert_eq!(problem(bad).as_deref(), Some("messages[0].role"));
        let extension = json!({"model": "m", "messages": [], "x_vendor_extension": {}});
        assert_eq!(problem(extension), None);
        assert_eq!(quoted_list(&["a", "b", "c"]), "'a', 'b', and 'c'");
        assert_eq!(quoted_list(&["a", "b"]), "'a' and 'b'");
    }
}
