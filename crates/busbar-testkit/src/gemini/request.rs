//! What `generateContent` and `countTokens` accept today: the request fields and the
//! `generationConfig` / `thinkingConfig` fields of `google-genai` 3.6's types, in camelCase or the
//! proto's snake_case, refused as Google's JSON parser words it (`Unknown name "x" at 'y'`).

use serde_json::Value;

use super::{field, wire};
use crate::format::Outcome;

/// Fields of `GenerateContentRequest`, camelCase.
const REQUEST: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
    "labels",
];

/// Fields of `CountTokensRequest`.
const COUNT: &[&str] = &["contents", "generateContentRequest"];

/// Fields of `GenerationConfig`.
const GENERATION: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "_responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
    "audioTimestamp",
    "responseFormat",
];

/// Fields of `ThinkingConfig`.
const THINKING: &[&str] = &["includeThoughts", "thinkingBudget", "thinkingLevel"];

/// `ThinkingLevel` values; the API takes them in either case.
const LEVELS: &[&str] = &[
    "THINKING_LEVEL_UNSPECIFIED",
    "MINIMAL",
    "LOW",
    "MEDIUM",
    "HIGH",
    "XHIGH",
];

/// Checks a `generateContent` body (`count` false) or a `countTokens` body.
pub(super) fn check(body: &Value, count: bool) -> Result<(), Outcome> {
    known(body, if count { COUNT } else { REQUEST }, "")?;
    if count {
        if let Some(inner) = field(body, "generateContentRequest") {
            return check(inner, false).map_err(|_| {
                wire::invalid(
                    "Invalid value at 'generate_content_request' (GenerateContentRequest)",
                )
            });
        }
        return Ok(());
    }
    let Some(generation) = field(body, "generationConfig") else {
        return Ok(());
    };
    known(generation, GENERATION, "generation_config")?;
    for (name, kind) in [
        ("maxOutputTokens", "TYPE_INT32"),
        ("topK", "TYPE_INT32"),
        ("candidateCount", "TYPE_INT32"),
    ] {
        if let Some(value) = field(generation, name).filter(|v| !v.is_u64() && !v.is_null()) {
            return Err(bad_value(
                &format!("generation_config.{}", snake(name)),
                kind,
                value,
            ));
        }
    }
    let Some(thinking) = field(generation, "thinkingConfig") else {
        return Ok(());
    };
    let at = "generation_config.thinking_config";
    known(thinking, THINKING, at)?;
    if let Some(value) = field(thinking, "thinkingBudget").filter(|v| !v.is_i64()) {
        return Err(bad_value(
            &format!("{at}.thinking_budget"),
            "TYPE_INT32",
            value,
        ));
    }
    if let Some(value) = field(thinking, "includeThoughts").filter(|v| !v.is_boolean()) {
        return Err(bad_value(
            &format!("{at}.include_thoughts"),
            "TYPE_BOOL",
            value,
        ));
    }
    if let Some(value) = field(thinking, "thinkingLevel") {
        let level = value.as_str().map(str::to_ascii_uppercase);
        if !level.is_some_and(|l| LEVELS.contains(&l.as_str())) {
            let kind = "type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel";
            return Err(bad_value(&format!("{at}.thinking_level"), kind, value));
        }
    }
    if field(thinking, "thinkingBudget").is_some() && field(thinking, "thinkingLevel").is_some() {
        // Gemini 3 takes one knob or the other, never both.
        return Err(wire::invalid(
            "You can only set only one of thinking budget and thinking level.",
        ));
    }
    Ok(())
}

/// Refuses the first field of `value` that is not in `fields` (either spelling).
fn known(value: &Value, fields: &[&str], at: &str) -> Result<(), Outcome> {
    let Some(object) = value.as_object() else {
        let path = if at.is_empty() { "" } else { at };
        return Err(bad_value(path, "TYPE_MESSAGE", value));
    };
    for name in object.keys() {
        let camel = camel(name);
        if fields.contains(&camel.as_str()) {
            continue;
        }
        let place = if at.is_empty() {
            String::new()
        } else {
            format!(" at '{at}'")
        };
        return Err(wire::invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{name}\"{place}: Cannot find field."
        )));
    }
    Ok(())
}

/// Google's refusal of a value its parser could not take.
fn bad_value(path: &str, kind: &str, value: &Value) -> Outcome {
    wire::invalid(&format!("Invalid value at '{path}' ({kind}), {value}"))
}

fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for (index, ch) in name.chars().enumerate() {
        if ch == '_' && index > 0 {
            upper = true;
        } else if upper {
            out.push(ch.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for ch in name.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(body: Value) -> bool {
        check(&body, false).is_err()
    }

    #[test]
    fn thinking_config_follows_the_sdk_types() {
        let contents = json!([{"role": "user", "parts": [{"text": "hi"}]}]);
        let with = |config: Value| json!({"contents": contents, "generationConfig": {"thinkingConfig": config}});
        assert!(!refused(with(
            json!({"includeThoughts": true, "thinkingBudget": 1024})
        )));
        assert!(!refused(with(json!({"thinkingLevel": "high"}))));
        assert!(!refused(with(
            json!({"thinking_level": "XHIGH", "include_thoughts": true})
        )));
        assert!(refused(with(json!({"thinkingLevel": "huge"}))));
        assert!(refused(with(json!({"thinkingBudget": "lots"}))));
        assert!(refused(with(
            json!({"thinkingBudget": 1, "thinkingLevel": "LOW"})
        )));
        assert!(refused(with(json!({"budget": 1}))));
        assert!(refused(
            json!({"contents": contents, "generation_config": {"maxTokens": 5}})
        ));
        assert!(refused(json!({"contents": contents, "temperature": 1})));
        assert!(check(&json!({"contents": contents}), true).is_ok());
        assert_eq!(
            (camel("thinking_level"), snake("topK")),
            ("thinkingLevel".into(), "top_k".into())
        );
    }
}
