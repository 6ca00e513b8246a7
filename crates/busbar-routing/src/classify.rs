//! What an upstream failure means for routing: the [`FailureClass`] and the [`classify`] pipeline.
//!
//! The pipeline runs in a fixed order (contract §6):
//!
//! 1. the provider's `error_map`, looked up by the error code from the body,
//!    because the provider knows its own codes best (`insufficient_quota` →
//!    `billing` on a 429 that would otherwise read as a rate limit);
//! 2. built-in context-length detection, on 400 and 413 only: OpenAI's
//!    `context_length_exceeded` code, then each provider's own phrase. Never on
//!    a 5xx, where a message mentioning context is a server fault, not a hint
//!    that a bigger model would help;
//! 3. the status: 401/403 `auth`, 429 `rate_limit`, 408 `timeout`,
//!    529 `overloaded`, other 5xx `server_error`, other 4xx `client_error`.
//!
//! Transport failures have no status: the server reports them directly as
//! [`FailureClass::Network`] (connect, reset, truncated body) or
//! [`FailureClass::Timeout`] (no first byte, or an idle stream, in time).

use std::fmt;

use serde::Serialize;

use crate::lane::HardDownReason;

/// What an upstream failure means for routing (contract §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureClass {
    /// Too many requests (`rate_limit`). Transient.
    RateLimit,
    /// The provider is overloaded (`overloaded`). Transient.
    Overloaded,
    /// The provider failed (`server_error`). Transient.
    ServerError,
    /// The provider did not answer in time (`timeout`). Transient.
    Timeout,
    /// The connection failed (`network`). Transient.
    Network,
    /// The key was refused (`auth`): the lane goes hard-down; the error is
    /// returned to the caller.
    Auth,
    /// The account cannot pay (`billing`): the lane goes hard-down; the
    /// request fails over.
    Billing,
    /// The request itself is wrong (`client_error`): returned, no penalty.
    ClientError,
    /// The prompt is too long for the model (`context_length`): no penalty;
    /// fail over to a member with a larger or unknown `context_max`.
    ContextLength,
}

impl FailureClass {
    /// All nine, in the contract's order.
    pub const ALL: [FailureClass; 9] = [
        FailureClass::RateLimit,
        FailureClass::Overloaded,
        FailureClass::ServerError,
        FailureClass::Timeout,
        FailureClass::Network,
        FailureClass::Auth,
        FailureClass::Billing,
        FailureClass::ClientError,
        FailureClass::ContextLength,
    ];

    /// The name used in `error_map`, logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::RateLimit => "rate_limit",
            FailureClass::Overloaded => "overloaded",
            FailureClass::ServerError => "server_error",
            FailureClass::Timeout => "timeout",
            FailureClass::Network => "network",
            FailureClass::Auth => "auth",
            FailureClass::Billing => "billing",
            FailureClass::ClientError => "client_error",
            FailureClass::ContextLength => "context_length",
        }
    }

    /// The class named `name` in `error_map`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether the failure counts toward a breaker trip: `rate_limit`,
    /// `overloaded`, `server_error`, `timeout`, `network`.
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            FailureClass::RateLimit
                | FailureClass::Overloaded
                | FailureClass::ServerError
                | FailureClass::Timeout
                | FailureClass::Network
        )
    }

    /// Whether another lane may succeed where this one failed, so the request
    /// should fail over (while no byte has reached the client): every
    /// transient class, `billing` and `context_length`. `auth` and
    /// `client_error` are returned to the caller.
    pub const fn fails_over(self) -> bool {
        self.is_transient() || matches!(self, FailureClass::Billing | FailureClass::ContextLength)
    }

    /// Whether the failure costs the lane anything at all; `client_error`
    /// and `context_length` do not.
    pub const fn penalizes(self) -> bool {
        !matches!(
            self,
            FailureClass::ClientError | FailureClass::ContextLength
        )
    }

    /// The hard-down this class puts the lane into, if any.
    pub const fn hard_down_reason(self) -> Option<HardDownReason> {
        match self {
            FailureClass::Auth => Some(HardDownReason::Auth),
            FailureClass::Billing => Some(HardDownReason::Billing),
            _ => None,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error code OpenAI (and OpenAI-compatible providers) send when the
/// prompt does not fit.
const CONTEXT_LENGTH_CODE: &str = "context_length_exceeded";

/// Phrases that mean "the prompt does not fit", compared ASCII
/// case-insensitively against the error message, with the provider that
/// uses each.
const CONTEXT_LENGTH_PHRASES: &[(&str, &str)] = &[
    ("openai", "maximum context length"),
    ("anthropic", "prompt is too long"),
    ("gemini", "exceeds the maximum number of tokens allowed"),
    ("cohere", "too many tokens"),
    ("bedrock", "input is too long for requested model"),
    ("generic", "context window"),
    ("generic", "context length"),
];

/// Classifies an upstream error response (see the module documentation for
/// the order of the rules).
///
/// `code` is the provider's error code from the body (OpenAI's `error.code`
/// or `error.type`, Anthropic's `error.type`, Gemini's `error.status`, a
/// Bedrock exception name), `message` its human-readable message, and
/// `error_map` the provider's code → class table. A status outside 400–599
/// (an upstream that answered an error body with an unexpected status) is a
/// `server_error`.
pub fn classify(
    status: u16,
    code: Option<&str>,
    message: &str,
    error_map: &impl Fn(&str) -> Option<FailureClass>,
) -> FailureClass {
    if let Some(class) = code.and_then(error_map) {
        return class;
    }
    if matches!(status, 400 | 413) && is_context_length(code, message) {
        return FailureClass::ContextLength;
    }
    match status {
        401 | 403 => FailureClass::Auth,
        408 => FailureClass::Timeout,
        429 => FailureClass::RateLimit,
        529 => FailureClass::Overloaded,
        400..=499 => FailureClass::ClientError,
        _ => FailureClass::ServerError,
    }
}

/// Whether a 400/413 body says the prompt was too long.
fn is_context_length(code: Option<&str>, message: &str) -> bool {
    code.is_some_and(|c| c.eq_ignore_ascii_case(CONTEXT_LENGTH_CODE))
        || CONTEXT_LENGTH_PHRASES
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
            .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests;
