//! What differs between Claude model generations, for the two formats that
//! reach Claude (Anthropic Messages and Bedrock Converse).
//!
//! Claude 4.6 and later think adaptively (`thinking: {type: adaptive}` with
//! an `effort` level); the newest accept nothing else. Earlier models take a
//! token budget (`thinking: {type: enabled, budget_tokens}`) only. The model
//! id decides; a name that is not recognisably an earlier Claude is treated
//! as a current one, as Claude Code itself does.

/// How a Claude model is asked to think.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThinkingStyle {
    /// `enabled` with `budget_tokens` (Claude 3.7 to 4.5).
    Budget,
    /// `adaptive` with `output_config.effort` (Claude 4.6 and later).
    Adaptive,
}

/// The thinking style of the model `id` names (`claude-sonnet-4-5-20250929`,
/// `us.anthropic.claude-3-7-sonnet-20250219-v1:0`, `claude-opus-4-7`, …).
pub(crate) fn thinking_style(id: &str) -> ThinkingStyle {
    let id = id.to_ascii_lowercase();
    let Some(at) = id.find("claude-") else {
        return ThinkingStyle::Adaptive;
    };
    let rest = &id[at + "claude-".len()..];
    // Versions come before the family (`claude-3-7-sonnet`) or after it
    // (`claude-sonnet-4-5`).
    let rest = ["opus-", "sonnet-", "haiku-"]
        .iter()
        .find_map(|family| rest.strip_prefix(family))
        .unwrap_or(rest);
    let mut numbers = rest
        .split(['-', '.', '@', ':'])
        .map_while(|part| part.parse::<u32>().ok())
        // A date (`20250514`) is not a minor version.
        .filter(|n| *n < 100);
    let major = numbers.next();
    let minor = numbers.next().unwrap_or(0);
    match major {
        Some(major) if major < 4 || (major == 4 && minor <= 5) => ThinkingStyle::Budget,
        _ => ThinkingStyle::Adaptive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_before_4_6_take_budgets() {
        for id in [
            "claude-3-7-sonnet-20250219",
            "claude-sonnet-4-20250514",
            "claude-opus-4-1-20250805",
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "claude-sonnet-4@20250514",
        ] {
            assert_eq!(thinking_style(id), ThinkingStyle::Budget, "{id}");
        }
    }

    #[test]
    fn later_and_unknown_models_think_adaptively() {
        for id in [
            "claude-opus-4-6",
            "claude-opus-4-7",
            "claude-sonnet-5",
            "claude-opus-5-5-20261101",
            "global.anthropic.claude-opus-4-8-v1:0",
            "demo-anthropic",
            "glm-4.6",
        ] {
            assert_eq!(thinking_style(id), ThinkingStyle::Adaptive, "{id}");
        }
    }
}
