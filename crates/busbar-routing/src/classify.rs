//! What an upstream failure means for routing: the [`FailureClass`] and the [`classify`] pipeline.
//!
//! The pipeline runs in a fixed order:
//!
//! 1. the provider's `error_map`, looked up by the error's code and then by
//!    its status, because the provider knows its own codes best
//!    (`insufficient_quota` → `billing` on a 429 that would otherwise read as
//!    a rate limit);
//! 2. what the protocol's error decoder recognised (`busbar-protocols` holds
//!    every vendor's words): a prompt too long for the model, on 400 and 413
//!    only — never on a 5xx, where a message mentioning context is a server
//!    fault, not a hint that a bigger model would help; an account out of
//!    credit (`billing`); a refused credential (`auth`);
//! 3. the status: 401/403 `auth`, 402 `billing`, 429 `rate_limit`,
//!    408 `timeout`, 529 `overloaded`, other 5xx `server_error`, other 4xx
//!    `client_error`; an error with no error status (an event inside a
//!    stream) by its kind.
//!
//! Transport failures have no status: the server reports them directly as
//! [`FailureClass::Network`] (connect, reset, truncated body) or
//! [`FailureClass::Timeout`] (no first byte, or an idle stream, in time).

use std::fmt;

use serde::Serialize;

use busbar_ir::{ApiError, ErrorKind};

use crate::lane::HardDownReason;

/// What an upstream failure means for routing.
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
    /// All nine, in the order the configuration reference lists them.
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

/// Where an upstream error was seen, which decides whether its status
/// means anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// An error reply: the error's status is the HTTP status it came with.
    Reply,
    /// An error event inside a stream whose headers said 2xx: its status is
    /// only what the decoder supposed, so the kind decides.
    Stream,
}

/// Classifies an upstream error, decoded by its protocol: the one place
/// Busbar decides what a failure means for routing.
///
/// `error_map` is the provider's code → class table. The order (see the
/// module documentation) is: the map by the error's code, then by its status
/// (catalogs key some entries by status, `"402": billing`); then, for an
/// error reply, a prompt too long for the model on a 400 or 413 as the
/// decoder recognised it, then the status; for an error inside a stream,
/// its kind.
pub fn classify(
    error: &ApiError,
    source: ErrorSource,
    error_map: impl Fn(&str) -> Option<FailureClass>,
) -> FailureClass {
    let status = error.status;
    let mapped = error.code.as_deref().and_then(&error_map).or_else(|| {
        let mut digits = [0u8; 5];
        error_map(status_key(status, &mut digits))
    });
    if let Some(class) = mapped {
        return class;
    }
    if source == ErrorSource::Stream {
        return class_of_kind(error.kind);
    }
    match status {
        400 | 413 if error.kind == ErrorKind::ContextLength => FailureClass::ContextLength,
        401 | 403 => FailureClass::Auth,
        // Payment Required: what the status means, whoever sent it; another
        // lane's account may well be in credit.
        402 => FailureClass::Billing,
        408 => FailureClass::Timeout,
        429 => FailureClass::RateLimit,
        529 => FailureClass::Overloaded,
        400..=499 => FailureClass::ClientError,
        // Any other status (a 5xx, or an error body with a status that is no
        // error status at all): the upstream misbehaved.
        _ => FailureClass::ServerError,
    }
}

/// What an error means when only its kind is known.
fn class_of_kind(kind: ErrorKind) -> FailureClass {
    match kind {
        ErrorKind::RateLimit => FailureClass::RateLimit,
        ErrorKind::Overloaded | ErrorKind::Unavailable => FailureClass::Overloaded,
        ErrorKind::Timeout => FailureClass::Timeout,
        ErrorKind::BadGateway => FailureClass::Network,
        ErrorKind::Authentication | ErrorKind::PermissionDenied => FailureClass::Auth,
        ErrorKind::InsufficientQuota => FailureClass::Billing,
        ErrorKind::ContextLength => FailureClass::ContextLength,
        ErrorKind::InvalidRequest | ErrorKind::NotFound | ErrorKind::RequestTooLarge => {
            FailureClass::ClientError
        }
        _ => FailureClass::ServerError,
    }
}

/// `status` in decimal, written into `buffer` without allocating.
fn status_key(status: u16, buffer: &mut [u8; 5]) -> &str {
    let mut at = buffer.len();
    let mut rest = status;
    loop {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[at..]).unwrap_or("0")
}

#[cfg(test)]
mod tests;
