//! Errors a vendor reports, in no vendor's words.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong, as a class every vendor's error taxonomy maps onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was malformed or semantically invalid.
    InvalidRequest,
    /// The credential is missing or wrong.
    Authentication,
    /// The credential may not do this.
    PermissionDenied,
    /// The model or route does not exist.
    NotFound,
    /// The request body is too large.
    RequestTooLarge,
    /// The prompt does not fit the model's context window.
    ContextLength,
    /// Too many requests or tokens; retry later.
    RateLimit,
    /// The account is out of credit or budget.
    InsufficientQuota,
    /// The vendor is temporarily overloaded.
    Overloaded,
    /// The vendor's service is unavailable.
    Unavailable,
    /// A request or upstream call took too long.
    Timeout,
    /// An upstream could not be reached or answered garbage.
    BadGateway,
    /// The vendor failed internally.
    Server,
}

impl ErrorKind {
    /// The HTTP status this kind is most commonly reported with.
    pub fn default_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::ContextLength => 400,
            Self::Authentication => 401,
            Self::InsufficientQuota => 429,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::RequestTooLarge => 413,
            Self::RateLimit => 429,
            Self::Overloaded | Self::Unavailable => 503,
            Self::Timeout => 504,
            Self::BadGateway => 502,
            Self::Server => 500,
        }
    }

    /// The kind an HTTP status implies when nothing better is known.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            402 => Self::InsufficientQuota,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            413 => Self::RequestTooLarge,
            429 => Self::RateLimit,
            502 => Self::BadGateway,
            503 => Self::Unavailable,
            529 => Self::Overloaded,
            500..=599 => Self::Server,
            _ => Self::InvalidRequest,
        }
    }
}

/// An error as a vendor reported it, or as Busbar reports it to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiError {
    /// The class of error.
    pub kind: ErrorKind,
    /// A human-readable explanation.
    pub message: String,
    /// The HTTP status it came with or should go out with.
    pub status: u16,
    /// The vendor's own error code or type, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The request parameter at fault, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl ApiError {
    /// An error of `kind` with its usual status.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status: kind.default_status(),
            code: None,
            param: None,
        }
    }

    /// The same error with another HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same error with a vendor code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// The same error naming the parameter at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?}): {}", self.status, self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_kinds_agree_both_ways() {
        for kind in [
            ErrorKind::Authentication,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::RequestTooLarge,
            ErrorKind::RateLimit,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
            ErrorKind::BadGateway,
            ErrorKind::Server,
        ] {
            assert_eq!(ErrorKind::from_status(kind.default_status()), kind);
        }
        assert_eq!(ErrorKind::from_status(529), ErrorKind::Overloaded);
        assert_eq!(ErrorKind::from_status(422), ErrorKind::InvalidRequest);
    }
}
