//! `thinking` and the effort level ⇄ [`Reasoning`], both ways, and the
//! sampling limits Anthropic sets beside thinking.

use busbar_ir::{Reasoning, Request, ThinkingMode, ToolChoice};
use serde::Serialize;
use serde_json::Value;

use crate::claude::{thinking_style, ThinkingStyle};
use crate::json::{non_null, object, opt_str, opt_u64};
use crate::DecodeError;

/// `thinking` as IR reasoning settings (the effort level is read with
/// `output_config`).
pub(super) fn decode_thinking(thinking: Option<&Value>) -> Result<Option<Reasoning>, DecodeError> {
    let Some(thinking) = non_null(thinking) else {
        return Ok(None);
    };
    let thinking = object(thinking, "thinking")?;
    let mut reasoning = Reasoning::default();
    match opt_str(thinking, "thinking", "type")? {
        Some("enabled") => {
            reasoning.mode = ThinkingMode::Enabled;
            reasoning.budget_tokens = opt_u64(thinking, "thinking", "budget_tokens")?;
        }
        Some("disabled") => reasoning.mode = ThinkingMode::Disabled,
        // `between_tools` (think only between tool calls) is the model's
        // own choice of when to think, as adaptive is, to other formats.
        Some("adaptive" | "between_tools") => reasoning.mode = ThinkingMode::Adaptive,
        _ => {
            return Err(DecodeError::invalid(
                "thinking.type",
                "must be one of enabled, disabled, adaptive, between_tools",
            ))
        }
    }
    Ok(Some(reasoning))
}

/// The smallest thinking budget Anthropic accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The `thinking` object of a request.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutThinking {
    Enabled { budget_tokens: u64 },
    Disabled,
    Adaptive,
}

impl OutThinking {
    /// Whether the model thinks, which narrows what else Anthropic accepts.
    fn is_on(&self) -> bool {
        !matches!(self, Self::Disabled)
    }
}

/// Sampling numbers Anthropic accepts beside the thinking setting sent.
pub(super) struct Sampling {
    pub(super) temperature: Option<f64>,
    pub(super) top_p: Option<f64>,
    pub(super) top_k: Option<u64>,
}

/// The request's sampling numbers, less those Anthropic refuses: above 1
/// for `temperature`, and beside thinking any `temperature` but 1, any
/// `top_k`, and `top_p` below 0.95.
pub(super) fn encode_sampling(
    request: &Request,
    thinking: Option<&OutThinking>,
    dropped: &mut Vec<&'static str>,
) -> Sampling {
    let mut sampling = Sampling {
        temperature: request.temperature,
        top_p: request.top_p,
        top_k: request.top_k,
    };
    if sampling.temperature.is_some_and(|t| t > 1.0) {
        sampling.temperature = Some(1.0);
        dropped.push("temperature");
    }
    if thinking.is_some_and(OutThinking::is_on) {
        if sampling.temperature.is_some_and(|t| t != 1.0) {
            sampling.temperature = None;
            dropped.push("temperature");
        }
        if sampling.top_k.take().is_some() {
            dropped.push("top_k");
        }
        if sampling.top_p.is_some_and(|p| p < 0.95) {
            sampling.top_p = None;
            dropped.push("top_p");
        }
    }
    sampling
}

/// The `thinking` object and `output_config.effort` for the request's
/// reasoning settings (see [`super::encode`] for the rules).
pub(super) fn encode_reasoning(
    request: &Request,
    model: &str,
    max_tokens: u64,
    dropped: &mut Vec<&'static str>,
) -> (Option<OutThinking>, Option<&'static str>) {
    let Some(reasoning) = &request.reasoning else {
        return (None, None);
    };
    let (thinking, effort) = match thinking_style(model) {
        ThinkingStyle::Adaptive if reasoning.mode == ThinkingMode::Enabled => {
            adaptive(reasoning, dropped)
        }
        _ => thinking_and_effort(reasoning, max_tokens, dropped),
    };
    // Anthropic refuses thinking beside a forced tool call; the caller's
    // tool choice is the instruction that changes what the reply means.
    let forced_tool = !request.tools.is_empty()
        && matches!(
            request.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Tool(_))
        );
    if forced_tool && thinking.as_ref().is_some_and(OutThinking::is_on) {
        dropped.push("reasoning");
        return (None, effort);
    }
    (thinking, effort)
}

fn thinking_and_effort(
    reasoning: &Reasoning,
    max_tokens: u64,
    dropped: &mut Vec<&'static str>,
) -> (Option<OutThinking>, Option<&'static str>) {
    let effort = reasoning.effort.as_deref();
    match reasoning.mode {
        ThinkingMode::Disabled => (Some(OutThinking::Disabled), wire_effort(effort, dropped)),
        ThinkingMode::Adaptive => (Some(OutThinking::Adaptive), wire_effort(effort, dropped)),
        _ if reasoning.budget_tokens.is_none() && effort == Some("none") => {
            (Some(OutThinking::Disabled), None)
        }
        _ => {
            let (budget, effort) = match reasoning.budget_tokens {
                Some(budget) => (budget, wire_effort(effort, dropped)),
                None => (budget_for_effort(effort), None),
            };
            let Some(budget_tokens) = fit_budget(budget, max_tokens) else {
                dropped.push("reasoning");
                return (None, effort);
            };
            (Some(OutThinking::Enabled { budget_tokens }), effort)
        }
    }
}

/// Thinking on, for a model that thinks adaptively: an effort stays an
/// effort (`none` turns thinking off), a budget becomes the effort level
/// nearest it (`reasoning.budget_tokens` named, since the exact number is
/// lost).
fn adaptive(
    reasoning: &Reasoning,
    dropped: &mut Vec<&'static str>,
) -> (Option<OutThinking>, Option<&'static str>) {
    match (reasoning.effort.as_deref(), reasoning.budget_tokens) {
        (Some("none"), None) => (Some(OutThinking::Disabled), None),
        (Some(_), None) => (
            Some(OutThinking::Adaptive),
            wire_effort(reasoning.effort.as_deref(), dropped),
        ),
        (_, Some(budget)) => {
            dropped.push("reasoning.budget_tokens");
            (Some(OutThinking::Adaptive), Some(effort_for_budget(budget)))
        }
        (None, None) => (Some(OutThinking::Adaptive), None),
    }
}

/// The effort level nearest a thinking budget.
pub(crate) fn effort_for_budget(budget: u64) -> &'static str {
    match budget {
        0..=2048 => "low",
        2049..=8192 => "medium",
        8193..=24576 => "high",
        _ => "max",
    }
}

/// The thinking budget standing in for an OpenAI-style effort level.
fn budget_for_effort(effort: Option<&str>) -> u64 {
    match effort {
        Some("minimal" | "low") => 1024,
        Some("high") => 16384,
        Some("xhigh" | "max") => 32768,
        _ => 4096,
    }
}

/// `budget` moved into Anthropic's range `1024..max_tokens`, if it has room.
fn fit_budget(budget: u64, max_tokens: u64) -> Option<u64> {
    let ceiling = max_tokens.checked_sub(1)?;
    (ceiling >= MIN_THINKING_BUDGET).then(|| budget.clamp(MIN_THINKING_BUDGET, ceiling))
}

/// Anthropic's `output_config.effort` for an IR effort level.
fn wire_effort(effort: Option<&str>, dropped: &mut Vec<&'static str>) -> Option<&'static str> {
    match effort? {
        "minimal" | "low" => Some("low"),
        "medium" => Some("medium"),
        "high" => Some("high"),
        "xhigh" => Some("xhigh"),
        "max" => Some("max"),
        "none" => None,
        _ => {
            dropped.push("reasoning.effort");
            None
        }
    }
}
