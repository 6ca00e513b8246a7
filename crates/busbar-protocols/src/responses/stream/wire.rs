//! The upstream's events as Busbar reads them: every field optional.

use serde::Deserialize;
use serde_json::Value;

use super::super::response::WireResponse;

/// The event types whose fields Busbar reads: one of these must parse.
pub(super) fn is_known(kind: &str) -> bool {
    matches!(
        kind,
        "error"
            | "response.created"
            | "response.in_progress"
            | "response.queued"
            | "response.output_item.added"
            | "response.output_item.done"
            | "response.content_part.added"
            | "response.content_part.done"
            | "response.output_text.delta"
            | "response.output_text.done"
            | "response.refusal.delta"
            | "response.refusal.done"
            | "response.function_call_arguments.delta"
            | "response.function_call_arguments.done"
            | "response.reasoning_summary_part.added"
            | "response.reasoning_summary_text.delta"
            | "response.reasoning_summary_text.done"
            | "response.reasoning_text.delta"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
    )
}

#[derive(Deserialize)]
pub(super) struct Head {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
}

/// Any event, every field optional.
#[derive(Deserialize)]
pub(super) struct Event {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) response: Option<WireResponse>,
    #[serde(default)]
    pub(super) item: Option<Value>,
    #[serde(default)]
    pub(super) output_index: Option<usize>,
    #[serde(default)]
    pub(super) content_index: Option<usize>,
    #[serde(default)]
    pub(super) part: Option<WirePart>,
    #[serde(default)]
    pub(super) delta: Option<String>,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) refusal: Option<String>,
    #[serde(default)]
    pub(super) arguments: Option<String>,
    #[serde(default)]
    pub(super) code: Option<Value>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) param: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WirePart {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) refusal: Option<String>,
}

impl WirePart {
    pub(super) fn text(&self) -> Option<&str> {
        self.text
            .as_deref()
            .or(self.refusal.as_deref())
            .filter(|text| !text.is_empty())
    }
}
