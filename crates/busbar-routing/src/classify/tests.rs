//! Classification tables: every status rule, every provider's context-length phrase, error_map precedence.

use super::*;

fn no_map(_: &str) -> Option<FailureClass> {
    None
}

fn plain(status: u16) -> FailureClass {
    classify(status, None, "", &no_map)
}

use FailureClass::*;

#[test]
fn statuses_map_to_their_classes() {
    let table: &[(u16, FailureClass)] = &[
        (400, ClientError),
        (401, Auth),
        (402, ClientError),
        (403, Auth),
        (404, ClientError),
        (408, Timeout),
        (409, ClientError),
        (413, ClientError),
        (422, ClientError),
        (429, RateLimit),
        (499, ClientError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (529, Overloaded),
        (599, ServerError),
        // Not an error status at all: the upstream misbehaved.
        (200, ServerError),
        (302, ServerError),
        (600, ServerError),
        (0, ServerError),
    ];
    for &(status, class) in table {
        assert_eq!(plain(status), class, "status {status}");
    }
}

#[test]
fn every_providers_context_length_phrase_is_recognised_on_400_and_413() {
    let messages = [
        // OpenAI
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        // Anthropic
        "prompt is too long: 210000 tokens > 200000 maximum",
        // Gemini
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        // Cohere
        "too many tokens: total number of tokens in the prompt cannot exceed 128000",
        // Bedrock
        "Input is too long for requested model.",
        // Generic OpenAI-compatible servers
        "Requested tokens exceed context window of 8192",
        "input exceeds the model's CONTEXT LENGTH",
    ];
    for message in messages {
        for status in [400, 413] {
            assert_eq!(
                classify(status, None, message, &no_map),
                ContextLength,
                "{status}: {message}"
            );
        }
    }
    assert_eq!(
        classify(400, Some("context_length_exceeded"), "", &no_map),
        ContextLength
    );
    assert_eq!(
        classify(400, Some("CONTEXT_LENGTH_EXCEEDED"), "", &no_map),
        ContextLength
    );
    assert_eq!(CONTEXT_LENGTH_PHRASES.len(), 7, "a phrase per provider");
}

#[test]
fn context_phrases_never_apply_outside_400_and_413() {
    let message = "prompt is too long";
    assert_eq!(classify(500, None, message, &no_map), ServerError);
    assert_eq!(classify(503, None, message, &no_map), ServerError);
    assert_eq!(classify(529, None, message, &no_map), Overloaded);
    assert_eq!(classify(422, None, message, &no_map), ClientError);
    assert_eq!(classify(429, None, message, &no_map), RateLimit);
    assert_eq!(
        classify(500, Some("context_length_exceeded"), "", &no_map),
        ServerError
    );
    assert_eq!(
        classify(400, None, "invalid temperature", &no_map),
        ClientError
    );
}

#[test]
fn error_map_wins_over_phrases_and_status() {
    let map = |code: &str| match code {
        "insufficient_quota" => Some(Billing),
        "overloaded_error" => Some(Overloaded),
        "context_length_exceeded" => Some(ClientError),
        _ => None,
    };
    assert_eq!(classify(429, Some("insufficient_quota"), "", &map), Billing);
    assert_eq!(
        classify(500, Some("overloaded_error"), "", &map),
        Overloaded
    );
    assert_eq!(
        classify(
            400,
            Some("context_length_exceeded"),
            "prompt is too long",
            &map
        ),
        ClientError,
        "the operator's map beats the built-in detection"
    );
    assert_eq!(
        classify(401, Some("unmapped"), "", &map),
        Auth,
        "an unknown code falls through to the status"
    );
    assert_eq!(
        classify(400, Some("unmapped"), "prompt is too long", &map),
        ContextLength
    );
}

#[test]
fn classes_know_their_consequences() {
    let transient = [RateLimit, Overloaded, ServerError, Timeout, Network];
    for class in FailureClass::ALL {
        assert_eq!(class.is_transient(), transient.contains(&class), "{class}");
        assert_eq!(
            class.penalizes(),
            !matches!(class, ClientError | ContextLength),
            "{class}"
        );
        assert_eq!(
            class.fails_over(),
            !matches!(class, Auth | ClientError),
            "{class}"
        );
        assert_eq!(FailureClass::from_name(class.as_str()), Some(class));
        assert_eq!(class.to_string(), class.as_str());
    }
    assert_eq!(Auth.hard_down_reason(), Some(HardDownReason::Auth));
    assert_eq!(Billing.hard_down_reason(), Some(HardDownReason::Billing));
    assert_eq!(RateLimit.hard_down_reason(), None);
    assert_eq!(FailureClass::from_name("teapot"), None);
    assert_eq!(
        serde_json::to_value(ContextLength).expect("serializable"),
        serde_json::json!("context_length")
    );
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
