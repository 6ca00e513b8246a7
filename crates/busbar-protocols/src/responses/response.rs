//! `response` objects ⇄ [`Response`].
//!
//! Reading keeps message text parts (refusals included), function calls and
//! reasoning items, each as one IR block in output order; built-in tool items
//! (web search, code interpreter, …) have no IR form and are skipped. The
//! stop reason comes from `status`: `completed` is a tool use when the output
//! holds function calls, `incomplete` says why in `incomplete_details`,
//! `failed` is [`StopReason::Error`](busbar_ir::StopReason::Error).
//!
//! Writing gives every IR text block its own assistant message item, so the
//! blocks survive the round trip, and writes every field the SDK validates.

use busbar_ir::{ContentBlock, Response};
use serde::Deserialize;
use serde_json::Value;

use super::error::ResponseErrorOut;
use super::output::{self, Header, ResponseOut};
use super::{join_namespace, reasoning_block, response_id, status, stop_reason, WireUsage};
use crate::{DecodeError, Encoded};

/// Decodes a `response` object.
pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
    // serde would read a JSON array as a struct of its fields in order.
    if body.trim_ascii_start().first() == Some(&b'[') {
        return Err(DecodeError::invalid("body", "expected a JSON object"));
    }
    let wire: WireResponse = serde_json::from_slice(body)?;
    let mut response = Response::new(
        wire.id.clone().unwrap_or_default(),
        wire.model.clone().unwrap_or_default(),
        Vec::new(),
    );
    response.created = wire.created();
    let mut facts = Facts::default();
    for (i, item) in wire.output.iter().enumerate() {
        facts.merge(read_item(item, &mut response.content, i)?);
    }
    response.stop_reason = wire.stop_reason(facts);
    response.usage = wire.usage.map(Into::into).unwrap_or_default();
    Ok(response)
}

/// Encodes `response` as a `response` object; `created` stands in when the
/// response carries no creation time, and a call to a function of one of
/// `tool_namespaces` names its namespace (see the module docs). Images have
/// no place in model output and are named in [`Encoded::dropped`].
pub fn encode(response: &Response, created: u64, tool_namespaces: &[String]) -> Encoded {
    let mut dropped = Vec::new();
    let created_at = response.created.unwrap_or(created);
    let id = response_id(&response.id, created_at);
    let items = output::items(&response.content, &id, tool_namespaces, &mut dropped);
    let header = Header {
        id: &id,
        model: &response.model,
        created_at,
    };
    let status = status(response.stop_reason.as_ref());
    let mut body = ResponseOut::new(header, status, &items, Some(&response.usage));
    if status.0 == "failed" {
        body = body.with_error(ResponseErrorOut::generation_failed());
    }
    // Serialising these borrowed structs into a Vec cannot fail.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Encoded { body, dropped }
}

/// A `response` object, read leniently: the stream's `response.*` events
/// carry one too. Output items stay JSON until their type is known, so an
/// unknown item of an unexpected shape is skipped rather than fatal.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireResponse {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) model: Option<String>,
    #[serde(default)]
    created_at: Option<f64>,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    incomplete_details: Option<WireIncomplete>,
    #[serde(default)]
    pub(super) output: Vec<Value>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default)]
    pub(super) error: Option<WireError>,
}

impl WireResponse {
    /// Unix seconds; the SDK types the field as a float.
    pub(super) fn created(&self) -> Option<u64> {
        self.created_at
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            // Whole seconds are what the IR holds; the cast saturates.
            .map(|seconds| seconds as u64)
    }

    /// The IR stop reason, given what the output held.
    pub(super) fn stop_reason(&self, facts: Facts) -> Option<busbar_ir::StopReason> {
        let incomplete = self
            .incomplete_details
            .as_ref()
            .and_then(|details| details.reason.as_deref());
        stop_reason(
            self.status.as_deref(),
            incomplete,
            facts.tool_calls,
            facts.refusal,
        )
    }
}

#[derive(Debug, Default, Deserialize)]
struct WireIncomplete {
    #[serde(default)]
    reason: Option<String>,
}

/// A failed response's `error`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireError {
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
}

/// What an output item said beyond its blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Facts {
    /// It was a function call.
    pub(super) tool_calls: bool,
    /// It held a refusal.
    pub(super) refusal: bool,
}

impl Facts {
    pub(super) fn merge(&mut self, other: Facts) {
        self.tool_calls |= other.tool_calls;
        self.refusal |= other.refusal;
    }
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<Vec<WirePart>>,
}

#[derive(Deserialize)]
struct WirePart {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct WireReasoning {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    summary: Option<Vec<WirePart>>,
    #[serde(default)]
    content: Option<Vec<WirePart>>,
    #[serde(default)]
    pub(super) encrypted_content: Option<String>,
}

impl WireReasoning {
    /// The summary texts joined by a blank line; the raw reasoning text when
    /// there is no summary (open-weight models served by vLLM send that).
    pub(super) fn text(&self) -> String {
        let join = |parts: &Option<Vec<WirePart>>| {
            parts
                .iter()
                .flatten()
                .filter_map(|part| part.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        let summary = join(&self.summary);
        if summary.is_empty() {
            join(&self.content)
        } else {
            summary
        }
    }
}

/// The type of an output item.
pub(super) fn item_type(item: &Value) -> Option<&str> {
    item.get("type").and_then(Value::as_str)
}

/// Appends the IR blocks of output item `index` to `out`.
pub(super) fn read_item(
    item: &Value,
    out: &mut Vec<ContentBlock>,
    index: usize,
) -> Result<Facts, DecodeError> {
    let at = |error: serde_json::Error| {
        DecodeError::invalid(format!("output[{index}]"), error.to_string())
    };
    let mut facts = Facts::default();
    match item_type(item) {
        Some("message") => {
            let message = WireMessage::deserialize(item).map_err(at)?;
            for part in message.content.into_iter().flatten() {
                let text = match part.kind.as_deref() {
                    Some("refusal") => {
                        facts.refusal = true;
                        part.refusal.or(part.text)
                    }
                    _ => part.text,
                };
                if let Some(text) = text.filter(|text| !text.is_empty()) {
                    out.push(ContentBlock::text(text));
                }
            }
        }
        Some("function_call") => {
            let call = WireCall::deserialize(item).map_err(at)?;
            facts.tool_calls = true;
            let name = call.name.unwrap_or_default();
            out.push(ContentBlock::tool_use(
                call.call_id.or(call.id).unwrap_or_default(),
                match call.namespace {
                    Some(namespace) => join_namespace(&namespace, &name),
                    None => name,
                },
                arguments_text(call.arguments),
            ));
        }
        Some("reasoning") => {
            let reasoning = WireReasoning::deserialize(item).map_err(at)?;
            out.push(reasoning_block(
                reasoning.id.as_deref().unwrap_or_default(),
                reasoning.text(),
                reasoning.encrypted_content.as_deref(),
            ));
        }
        // Built-in tool calls and their results have no IR form.
        _ => {}
    }
    Ok(facts)
}

/// Function call arguments as text: a JSON string, or (from lenient
/// servers) the object itself.
pub(super) fn arguments_text(arguments: Option<Value>) -> String {
    match arguments {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text,
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
pub(super) mod tests;
