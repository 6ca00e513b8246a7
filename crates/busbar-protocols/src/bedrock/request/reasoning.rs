//! Anthropic-style `thinking` in `additionalModelRequestFields` ⇄
//! [`Reasoning`], and the sampling limits Claude sets beside thinking.
//!
//! `thinking` is how Claude models on Bedrock are asked to reason, so a
//! request that sets it is a request for Claude, and Claude's rules apply:
//! a budget of at least 1024 tokens and below `maxTokens`; no forced tool
//! beside thinking; beside thinking a `temperature` of 1 only, no `top_k`,
//! and `top_p` of at least 0.95.

use busbar_ir::{Reasoning, Request, ThinkingMode, ToolChoice};
use serde::Serialize;
use serde_json::Value;

use crate::anthropic::request::effort_for_budget;
use crate::claude::{thinking_style, ThinkingStyle};
use crate::json::{non_null, object, opt_str, opt_u64};
use crate::DecodeError;

/// `additionalModelRequestFields.thinking` as IR reasoning settings.
pub(super) fn decode_thinking(thinking: Option<&Value>) -> Result<Option<Reasoning>, DecodeError> {
    let Some(thinking) = non_null(thinking) else {
        return Ok(None);
    };
    let path = "additionalModelRequestFields.thinking";
    let thinking = object(thinking, path)?;
    let mut reasoning = Reasoning::default();
    match opt_str(thinking, path, "type")? {
        Some("enabled") => {
            reasoning.mode = ThinkingMode::Enabled;
            reasoning.budget_tokens = opt_u64(thinking, path, "budget_tokens")?;
        }
        Some("disabled") => reasoning.mode = ThinkingMode::Disabled,
        Some("adaptive") => reasoning.mode = ThinkingMode::Adaptive,
        _ => {
            return Err(DecodeError::invalid(
                format!("{path}.type"),
                "must be one of enabled, disabled, adaptive",
            ))
        }
    }
    Ok(Some(reasoning))
}

/// gpt-oss's `reasoning_effort` or Nova's `reasoningConfig` as IR reasoning
/// settings.
pub(super) fn decode_other_families(
    fields: &serde_json::Map<String, Value>,
) -> Result<Option<Reasoning>, DecodeError> {
    let path = "additionalModelRequestFields";
    if let Some(effort) = opt_str(fields, path, "reasoning_effort")? {
        let mut reasoning = Reasoning::default();
        reasoning.effort = Some(effort.to_owned());
        return Ok(Some(reasoning));
    }
    let Some(config) = non_null(fields.get("reasoningConfig")) else {
        return Ok(None);
    };
    let path = "additionalModelRequestFields.reasoningConfig";
    let config = object(config, path)?;
    let mut reasoning = Reasoning::default();
    match opt_str(config, path, "type")? {
        Some("disabled") => reasoning.mode = ThinkingMode::Disabled,
        _ => {
            reasoning.effort = opt_str(config, path, "maxReasoningEffort")?.map(str::to_owned);
        }
    }
    Ok(Some(reasoning))
}

/// The smallest thinking budget Claude accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The `thinking` member of `additionalModelRequestFields`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutThinking {
    Enabled { budget_tokens: u64 },
    Disabled,
    Adaptive,
}

impl OutThinking {
    fn is_on(self) -> bool {
        !matches!(self, Self::Disabled)
    }
}

/// What reasoning settings turn into: Claude's `thinking` member (or
/// another family's field) and the `maxTokens` to send.
pub(super) struct Encoded {
    pub(super) thinking: Option<OutThinking>,
    pub(super) max_tokens: Option<u64>,
    /// Converse's `outputConfig.effort` (Claude 4.6 and later).
    pub(super) effort: Option<&'static str>,
    /// `reasoning_effort` in `additionalModelRequestFields` (OpenAI gpt-oss).
    pub(super) reasoning_effort: Option<&'static str>,
    /// `reasoningConfig` in `additionalModelRequestFields` (Amazon Nova 2).
    pub(super) reasoning_config: Option<NovaReasoning>,
}

/// Amazon Nova's `reasoningConfig`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NovaReasoning {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_reasoning_effort: Option<&'static str>,
}

/// The model families on Bedrock that reason, each in its own field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Claude (and any model not recognised as another family): `thinking`.
    Claude(ThinkingStyle),
    /// OpenAI's open-weight models: `reasoning_effort`.
    GptOss,
    /// Amazon Nova: `reasoningConfig`.
    Nova,
}

fn family(model: &str) -> Family {
    let id = model.to_ascii_lowercase();
    if id.contains("gpt-oss") {
        Family::GptOss
    } else if id.contains("amazon.nova") || id.starts_with("nova") {
        Family::Nova
    } else {
        Family::Claude(thinking_style(model))
    }
}

/// An IR reasoning request as one of the three levels gpt-oss and Nova take.
fn three_levels(reasoning: &Reasoning) -> Option<&'static str> {
    let effort = match (reasoning.effort.as_deref(), reasoning.budget_tokens) {
        (Some(effort), _) => effort,
        (None, Some(budget)) => effort_for_budget(budget),
        (None, None) => "medium",
    };
    match effort {
        "none" => None,
        "minimal" | "low" => Some("low"),
        "medium" => Some("medium"),
        _ => Some("high"),
    }
}

/// Reasoning for a model of `family` other than budget-style Claude.
fn other_family(reasoning: &Reasoning, family: Family, unchanged: Encoded) -> Encoded {
    let on = reasoning.mode != ThinkingMode::Disabled;
    match family {
        Family::GptOss => Encoded {
            reasoning_effort: if on {
                three_levels(reasoning)
            } else {
                Some("low")
            },
            ..unchanged
        },
        Family::Nova => Encoded {
            reasoning_config: Some(match three_levels(reasoning).filter(|_| on) {
                Some(level) => NovaReasoning {
                    kind: "enabled",
                    max_reasoning_effort: Some(level),
                },
                None => NovaReasoning {
                    kind: "disabled",
                    max_reasoning_effort: None,
                },
            }),
            ..unchanged
        },
        Family::Claude(_) => match reasoning.mode {
            ThinkingMode::Disabled => with(unchanged, OutThinking::Disabled),
            _ if reasoning.effort.as_deref() == Some("none")
                && reasoning.budget_tokens.is_none() =>
            {
                with(unchanged, OutThinking::Disabled)
            }
            _ => {
                let effort = match (reasoning.effort.as_deref(), reasoning.budget_tokens) {
                    (_, Some(budget)) => Some(effort_for_budget(budget)),
                    (Some(effort), None) => claude_effort(effort),
                    (None, None) => None,
                };
                Encoded {
                    effort,
                    ..with(unchanged, OutThinking::Adaptive)
                }
            }
        },
    }
}

/// Converse's `outputConfig.effort` for an IR effort level.
fn claude_effort(effort: &str) -> Option<&'static str> {
    match effort {
        "minimal" | "low" => Some("low"),
        "medium" => Some("medium"),
        "high" => Some("high"),
        "xhigh" => Some("xhigh"),
        "max" => Some("max"),
        _ => None,
    }
}

/// The `thinking` member and `maxTokens` for the request's settings:
///
/// * an effort level without a budget becomes one (`minimal`/`low` 1024,
///   `medium` or unknown 4096, `high` 16384, `xhigh`/`max` 32768; `none`
///   turns thinking off); an effort beside a budget is named
///   `reasoning.effort`, as Bedrock has no field for it;
/// * with thinking on and no `max_tokens`, `maxTokens` is the budget plus
///   `default_max_tokens`, so the answer has room after the thinking;
/// * the budget is moved into `1024..maxTokens`; when that range is empty,
///   or beside a forced tool choice, thinking is left out and `reasoning`
///   named.
pub(super) fn encode(
    request: &Request,
    model: &str,
    default_max_tokens: u64,
    dropped: &mut Vec<&'static str>,
) -> Encoded {
    let unchanged = Encoded {
        thinking: None,
        max_tokens: request.max_tokens,
        effort: None,
        reasoning_effort: None,
        reasoning_config: None,
    };
    let Some(reasoning) = &request.reasoning else {
        return unchanged;
    };
    let family = family(model);
    if family != Family::Claude(ThinkingStyle::Budget) {
        if reasoning.budget_tokens.is_some() {
            dropped.push("reasoning.budget_tokens");
        }
        return other_family(reasoning, family, unchanged);
    }
    let effort = reasoning.effort.as_deref();
    let budget = match reasoning.mode {
        ThinkingMode::Disabled => return with(unchanged, OutThinking::Disabled),
        ThinkingMode::Adaptive => return with(unchanged, OutThinking::Adaptive),
        _ if reasoning.budget_tokens.is_none() && effort == Some("none") => {
            return with(unchanged, OutThinking::Disabled)
        }
        _ => match reasoning.budget_tokens {
            Some(budget) => {
                if effort.is_some() {
                    dropped.push("reasoning.effort");
                }
                budget
            }
            None => budget_for_effort(effort),
        },
    };
    let forced_tool = !request.tools.is_empty()
        && matches!(
            request.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Tool(_))
        );
    let max_tokens = request
        .max_tokens
        .unwrap_or_else(|| budget.saturating_add(default_max_tokens));
    match fit_budget(budget, max_tokens) {
        Some(budget_tokens) if !forced_tool => Encoded {
            thinking: Some(OutThinking::Enabled { budget_tokens }),
            max_tokens: Some(max_tokens),
            ..unchanged
        },
        _ => {
            dropped.push("reasoning");
            unchanged
        }
    }
}

fn with(mut encoded: Encoded, thinking: OutThinking) -> Encoded {
    encoded.thinking = Some(thinking);
    encoded
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

/// `budget` moved into `1024..max_tokens`, if that range has room.
fn fit_budget(budget: u64, max_tokens: u64) -> Option<u64> {
    let ceiling = max_tokens.checked_sub(1)?;
    (ceiling >= MIN_THINKING_BUDGET).then(|| budget.clamp(MIN_THINKING_BUDGET, ceiling))
}

/// Sampling numbers to send beside the thinking setting.
pub(super) struct Sampling {
    pub(super) temperature: Option<f64>,
    pub(super) top_p: Option<f64>,
    pub(super) top_k: Option<u64>,
}

/// The request's sampling numbers, less those Bedrock or Claude refuse:
/// a `temperature` above Bedrock's maximum of 1 is sent as 1 and named;
/// beside thinking, a `temperature` other than 1, any `top_k` and a `top_p`
/// below 0.95 are left out and named.
pub(super) fn sampling(
    request: &Request,
    thinking: Option<OutThinking>,
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

#[cfg(test)]
mod tests {
    use busbar_ir::{Message, Reasoning, Request, Role, ThinkingMode, Tool, ToolChoice};
    use serde_json::{json, Value};

    use crate::RequestOptions;

    fn encode_json(request: &Request) -> (Value, Vec<&'static str>) {
        let encoded =
            super::super::encode(request, &RequestOptions::new("anthropic.claude-sonnet-4-5"));
        (
            serde_json::from_slice(&encoded.body).unwrap(),
            encoded.dropped,
        )
    }

    fn user(text: &str) -> Message {
        Message::text(Role::User, text)
    }

    fn reasoning(mode: ThinkingMode, budget: Option<u64>, effort: Option<&str>) -> Reasoning {
        let mut reasoning = Reasoning::default();
        reasoning.mode = mode;
        reasoning.budget_tokens = budget;
        reasoning.effort = effort.map(str::to_owned);
        reasoning
    }

    #[test]
    fn reasoning_becomes_claudes_thinking() {
        let cases = [
            // (reasoning, max_tokens, thinking, maxTokens, dropped)
            (
                reasoning(ThinkingMode::Enabled, Some(2000), None),
                Some(8000),
                json!({"type": "enabled", "budget_tokens": 2000}),
                json!(8000),
                vec![],
            ),
            (
                reasoning(ThinkingMode::Enabled, None, Some("high")),
                Some(32000),
                json!({"type": "enabled", "budget_tokens": 16384}),
                json!(32000),
                vec![],
            ),
            // No max_tokens: room for the budget plus the default answer size.
            (
                reasoning(ThinkingMode::Enabled, None, Some("low")),
                None,
                json!({"type": "enabled", "budget_tokens": 1024}),
                json!(1024 + 4096),
                vec![],
            ),
            // The budget is kept below maxTokens and at least 1024.
            (
                reasoning(ThinkingMode::Enabled, Some(9000), Some("medium")),
                Some(5000),
                json!({"type": "enabled", "budget_tokens": 4999}),
                json!(5000),
                vec!["reasoning.effort"],
            ),
            (
                reasoning(ThinkingMode::Enabled, Some(10), None),
                Some(5000),
                json!({"type": "enabled", "budget_tokens": 1024}),
                json!(5000),
                vec![],
            ),
            (
                reasoning(ThinkingMode::Disabled, None, None),
                None,
                json!({"type": "disabled"}),
                Value::Null,
                vec![],
            ),
            (
                reasoning(ThinkingMode::Enabled, None, Some("none")),
                None,
                json!({"type": "disabled"}),
                Value::Null,
                vec![],
            ),
            (
                reasoning(ThinkingMode::Adaptive, None, None),
                Some(100),
                json!({"type": "adaptive"}),
                json!(100),
                vec![],
            ),
        ];
        for (settings, max_tokens, thinking, wire_max, expected_dropped) in cases {
            let mut request = Request::new("m", vec![user("hi")]);
            request.max_tokens = max_tokens;
            request.reasoning = Some(settings.clone());
            let (body, dropped) = encode_json(&request);
            assert_eq!(
                body["additionalModelRequestFields"]["thinking"], thinking,
                "{settings:?}"
            );
            assert_eq!(
                body.pointer("/inferenceConfig/maxTokens")
                    .cloned()
                    .unwrap_or(Value::Null),
                wire_max,
                "{settings:?}"
            );
            assert_eq!(dropped, expected_dropped, "{settings:?}");
        }
    }

    #[test]
    fn thinking_yields_to_tight_limits_and_forced_tools_and_limits_sampling() {
        let mut tight = Request::new("m", vec![user("hi")]);
        tight.max_tokens = Some(1024);
        tight.reasoning = Some(reasoning(ThinkingMode::Enabled, Some(2048), None));
        let (body, dropped) = encode_json(&tight);
        assert!(body.get("additionalModelRequestFields").is_none());
        assert_eq!(body["inferenceConfig"]["maxTokens"], 1024);
        assert_eq!(dropped, vec!["reasoning"]);

        let mut forced = Request::new("m", vec![user("hi")]);
        forced.tools = vec![Tool::new("f", None, json!({"type": "object"}))];
        forced.tool_choice = Some(ToolChoice::Required);
        forced.reasoning = Some(reasoning(ThinkingMode::Enabled, Some(2048), None));
        forced.temperature = Some(0.2);
        let (body, dropped) = encode_json(&forced);
        assert!(body.get("additionalModelRequestFields").is_none());
        assert_eq!(body["inferenceConfig"]["temperature"], 0.2);
        assert_eq!(dropped, vec!["reasoning"]);

        let mut sampled = Request::new("m", vec![user("hi")]);
        sampled.max_tokens = Some(8000);
        sampled.reasoning = Some(reasoning(ThinkingMode::Enabled, Some(2048), None));
        sampled.temperature = Some(0.2);
        sampled.top_p = Some(0.5);
        sampled.top_k = Some(3);
        let (body, dropped) = encode_json(&sampled);
        assert_eq!(body["inferenceConfig"], json!({"maxTokens": 8000}));
        assert_eq!(
            body["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})
        );
        assert_eq!(dropped, vec!["temperature", "top_k", "top_p"]);

        // Beside thinking that is off, sampling is free.
        let mut off = sampled.clone();
        off.reasoning = Some(reasoning(ThinkingMode::Disabled, None, None));
        let (body, dropped) = encode_json(&off);
        assert_eq!(body["inferenceConfig"]["temperature"], 0.2);
        assert_eq!(body["additionalModelRequestFields"]["top_k"], 3);
        assert!(dropped.is_empty());
    }

    #[test]
    fn each_family_reasons_in_its_own_field() {
        let request = |effort: &str| {
            let mut request = Request::new("m", vec![user("hi")]);
            request.reasoning = Some(reasoning(ThinkingMode::Enabled, None, Some(effort)));
            request
        };
        let body_for = |request: &Request, model: &str| {
            let encoded = super::super::encode(request, &RequestOptions::new(model));
            serde_json::from_slice::<Value>(&encoded.body).unwrap()
        };
        let claude = body_for(&request("high"), "global.anthropic.claude-opus-4-7");
        assert_eq!(
            claude["additionalModelRequestFields"]["thinking"],
            json!({"type": "adaptive"})
        );
        assert_eq!(claude["outputConfig"]["effort"], "high");
        let oss = body_for(&request("minimal"), "openai.gpt-oss-120b-1:0");
        assert_eq!(
            oss["additionalModelRequestFields"],
            json!({"reasoning_effort": "low"})
        );
        let nova = body_for(&request("medium"), "us.amazon.nova-2-lite-v1:0");
        assert_eq!(
            nova["additionalModelRequestFields"],
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"}})
        );
        // And back.
        for body in [oss, nova] {
            let decoded = crate::bedrock::request::decode_value(&body).unwrap();
            assert!(decoded.reasoning.unwrap().effort.is_some(), "{body}");
        }
    }
}
