//! The record as written: one JSON object per line, and the words it
//! uses for what a request was and how it ended.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// A duration in milliseconds, to the microsecond.
pub(super) fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// The record as written: one JSON object per line.
#[derive(Serialize)]
pub(super) struct Line<'a> {
    pub(super) request_id: &'a str,
    pub(super) time: String,
    pub(super) kind: Kind,
    pub(super) key_id: Option<&'a str>,
    pub(super) client: String,
    pub(super) ingress: &'static str,
    pub(super) path: &'a str,
    pub(super) model: Option<&'a str>,
    pub(super) pool: Option<&'a str>,
    pub(super) stream: Option<bool>,
    pub(super) status: u16,
    pub(super) outcome: Outcome,
    pub(super) failure: Option<&'static str>,
    pub(super) error: Option<&'a str>,
    pub(super) lane: Option<&'a str>,
    pub(super) egress: Option<&'static str>,
    pub(super) upstream_model: Option<&'a str>,
    pub(super) attempts: Vec<AttemptLine<'a>>,
    pub(super) usage: Option<UsageLine>,
    pub(super) cost_microdollars: Option<u64>,
    pub(super) total_ms: f64,
    pub(super) first_byte_ms: Option<f64>,
    pub(super) upstream_ms: f64,
    pub(super) overhead_ms: f64,
    pub(super) dropped: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) request_body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) request_body_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_body_bytes: Option<u64>,
}

#[derive(Serialize)]
pub(super) struct AttemptLine<'a> {
    pub(super) lane: &'a str,
    pub(super) provider: &'a str,
    pub(super) egress: &'static str,
    pub(super) upstream_model: &'a str,
    pub(super) status: Option<u16>,
    pub(super) failure: Option<&'static str>,
    pub(super) upstream_ms: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct UsageLine {
    pub(super) input: u64,
    pub(super) output: u64,
    pub(super) cache_read: Option<u64>,
    pub(super) cache_write: Option<u64>,
    pub(super) cache_write_1h: Option<u64>,
    pub(super) reasoning: Option<u64>,
}

/// What a model route was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// A reply.
    Generate,
    /// A prompt's token count.
    CountTokens,
}

/// How the request ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// The reply reached its end.
    Success,
    /// The upstream's error was returned (no lane left to fail over to).
    UpstreamError,
    /// Busbar refused or could not serve the request.
    Error,
    /// A stream began and ended with an in-stream error event.
    StreamError,
    /// The client left before the body's end.
    ClientGone,
}
