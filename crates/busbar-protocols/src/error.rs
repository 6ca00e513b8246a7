//! Why a body could not be decoded.

/// Why bytes could not be decoded as a wire format's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not JSON, or not JSON of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is well-formed but a field is missing or wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault, as a JSON path (`messages[2].content`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stream broke its format's framing rules.
    #[error("malformed stream: {0}")]
    Stream(String),
    /// A stream ended before its format's terminal event.
    #[error("stream ended before it was complete")]
    Truncated,
}

impl DecodeError {
    /// A field-level error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The parameter at fault, when the error names one.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}
