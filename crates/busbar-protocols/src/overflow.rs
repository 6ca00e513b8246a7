//! Whether an error says the prompt does not fit the model, in any vendor's
//! words.
//!
//! Each format's error decoder knows its own vendor's phrasing; providers
//! relay one another's errors, though (an OpenAI-compatible router in front
//! of Claude, Bedrock in front of Mistral), so [`Protocol::decode_error`]
//! also checks every phrase here on a 400 or 413.
//!
//! [`Protocol::decode_error`]: crate::Protocol::decode_error

/// The code OpenAI and compatible servers send when the prompt does not fit.
const CODE: &str = "context_length_exceeded";

/// Phrases that mean "the prompt does not fit", compared ASCII
/// case-insensitively, with the vendor that uses each.
const PHRASES: &[(&str, &str)] = &[
    ("openai", "maximum context length"),
    ("anthropic", "prompt is too long"),
    ("gemini", "exceeds the maximum number of tokens allowed"),
    ("cohere", "too many tokens"),
    ("bedrock", "input is too long for requested model"),
    ("generic", "context window"),
    ("generic", "context length"),
];

/// Whether an error's code or message says the prompt was too long.
pub(crate) fn says_prompt_too_long(code: Option<&str>, message: &str) -> bool {
    code.is_some_and(|code| code.eq_ignore_ascii_case(CODE))
        || PHRASES
            .iter()
            .any(|(_, phrase)| contains_ignore_ascii_case(message, phrase))
}

/// Substring search ignoring ASCII case, without allocating a lowercased
/// copy of what may be a long message.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;
    use busbar_ir::ErrorKind;

    const MESSAGES: [&str; 7] = [
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        "prompt is too long: 210000 tokens > 200000 maximum",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        "too many tokens: total number of tokens in the prompt cannot exceed 128000",
        "Input is too long for requested model.",
        "Requested tokens exceed context window of 8192",
        "input exceeds the model's CONTEXT LENGTH",
    ];

    #[test]
    fn every_vendors_phrase_is_recognised_by_every_format_on_400_and_413() {
        assert_eq!(PHRASES.len(), MESSAGES.len(), "a message per phrase");
        for protocol in Protocol::ALL {
            for message in MESSAGES {
                let body = serde_json::json!({"message": message, "error": {"message": message}});
                for status in [400, 413] {
                    let error = protocol.decode_error(status, body.to_string().as_bytes(), None);
                    assert_eq!(
                        error.kind,
                        ErrorKind::ContextLength,
                        "{protocol} {status}: {message}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_code_counts_in_any_case_and_phrases_never_on_a_5xx() {
        assert!(says_prompt_too_long(Some("CONTEXT_LENGTH_EXCEEDED"), ""));
        assert!(!says_prompt_too_long(
            Some("rate_limit"),
            "invalid temperature"
        ));
        let body = br#"{"error":{"message":"prompt is too long"}}"#;
        for protocol in Protocol::ALL {
            assert_ne!(
                protocol.decode_error(500, body, None).kind,
                ErrorKind::ContextLength,
                "{protocol}"
            );
        }
    }

    #[test]
    fn substring_search_ignores_case_and_handles_edges() {
        assert!(contains_ignore_ascii_case("ABC", "b"));
        assert!(contains_ignore_ascii_case("", ""));
        assert!(!contains_ignore_ascii_case("ab", "abc"));
        assert!(contains_ignore_ascii_case(
            "ümlaut Context Window",
            "context window"
        ));
    }
}
