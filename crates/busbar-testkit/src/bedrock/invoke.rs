//! Claude through InvokeModel and InvokeModelWithResponseStream: the Messages body in Bedrock's
//! envelope (no `model` or `stream`, an `anthropic_version` required, betas in
//! `anthropic_beta`), answered by the Anthropic module and wrapped back: a complete reply with
//! Bedrock's token-count headers, or `chunk` frames whose `bytes` are each stream event's JSON in
//! base64, the last with `amazon-bedrock-invocationMetrics`. Errors are Bedrock's.

use aws_smithy_types::base64;
use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderName, StatusCode};
use serde_json::{json, Value};

use super::events::{frame, padding};
use super::{decode_model, sigv4, validation};
use crate::format::{Outcome, Request};
use crate::server::Shared;

/// Milliseconds reported as the invocation's latency: fixed, so replies stay deterministic.
const LATENCY_MS: u64 = 1;

/// The raw model id and whether it streams, when `path` is `…/model/{id}/invoke` or
/// `/invoke-with-response-stream`.
pub(crate) fn route(path: &str) -> Option<(&str, bool)> {
    let at = path.rfind("/model/")?;
    let rest = &path[at + "/model/".len()..];
    let (model, stream) = match rest.strip_suffix("/invoke-with-response-stream") {
        Some(model) => (model, true),
        None => (rest.strip_suffix("/invoke")?, false),
    };
    (!model.is_empty() && !model.contains('/')).then_some((model, stream))
}

/// Answers `POST …/model/{id}/invoke` and `/invoke-with-response-stream`.
pub(crate) fn handle(shared: &Shared, request: &Request<'_>) -> Outcome {
    let Some((model, stream)) = route(request.path) else {
        return super::not_found();
    };
    if let Err(refusal) = sigv4::check(shared, request) {
        return refusal;
    }
    let Some(object) = request.json.and_then(Value::as_object) else {
        return validation("Malformed input request, please reformat your input and try again.");
    };
    // Bedrock's JSON-schema check of Claude's body, in its words.
    for key in ["model", "stream"] {
        if object.contains_key(key) {
            return validation(&format!(
                "Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."
            ));
        }
    }
    let version = match object.get("anthropic_version") {
        Some(Value::String(version)) if !version.is_empty() => version.as_str(),
        Some(_) => {
            return validation("Malformed input request: #/anthropic_version: expected type: String, please reformat your input and try again.")
        }
        None => {
            return validation("Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.")
        }
    };
    let betas = match object.get("anthropic_beta") {
        None => false,
        Some(Value::Array(betas)) if betas.iter().all(Value::is_string) => !betas.is_empty(),
        Some(_) => {
            return validation("Malformed input request: #/anthropic_beta: expected type: JSONArray, please reformat your input and try again.")
        }
    };
    let mut body = Value::Object(object.clone());
    body["model"] = Value::from(decode_model(model).into_owned());
    body["stream"] = Value::Bool(stream);
    if let Some(fields) = body.as_object_mut() {
        fields.remove("anthropic_version");
        fields.remove("anthropic_beta");
    }
    // Bedrock's documented version keeps the sampling parameters; so does any older one.
    let sampling = version.starts_with("bedrock-");
    match crate::anthropic::answer_unwrapped(shared, &body, betas, sampling) {
        Outcome::Json { status, body, .. } if status != StatusCode::OK => {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "Malformed input request".to_owned());
            validation(&message)
        }
        Outcome::Json { body, .. } => {
            let usage = serde_json::from_slice::<Value>(&body)
                .map(|message| message["usage"].clone())
                .unwrap_or_default();
            let count = |name: &str| usage[name].as_u64().unwrap_or(0).to_string();
            let header = |value: String| HeaderValue::from_str(&value).ok();
            let mut outcome = Outcome::json(StatusCode::OK, body);
            for (name, field) in [
                ("x-amzn-bedrock-input-token-count", "input_tokens"),
                ("x-amzn-bedrock-output-token-count", "output_tokens"),
            ] {
                if let Some(value) = header(count(field)) {
                    outcome = outcome.header(HeaderName::from_static(name), value);
                }
            }
            if let Some(value) = header(LATENCY_MS.to_string()) {
                outcome = outcome.header(
                    HeaderName::from_static("x-amzn-bedrock-invocation-latency"),
                    value,
                );
            }
            outcome
        }
        Outcome::Stream { events, .. } => {
            Outcome::stream_of("application/vnd.amazon.eventstream", chunks(&events))
        }
    }
}

/// The words of a CountTokens `invokeModel` input whose base64 `body` is Claude's InvokeModel
/// body.
pub(super) fn count(input: &Value) -> Option<u64> {
    let bytes = base64::decode(input.get("body")?.as_str()?).ok()?;
    let mut body: Value = serde_json::from_slice(&bytes).ok()?;
    let fields = body.as_object_mut()?;
    fields.remove("anthropic_version")?;
    fields.remove("anthropic_beta");
    fields.insert("model".into(), Value::from("count"));
    crate::anthropic::count_unwrapped(&body)
}

/// Server-sent Anthropic events as InvokeModelWithResponseStream frames them.
fn chunks(events: &[Bytes]) -> Vec<Bytes> {
    let (mut input, mut output) = (0, 0);
    let mut frames = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let text = String::from_utf8_lossy(event);
        let Some(data) = text.lines().find_map(|line| line.strip_prefix("data: ")) else {
            continue;
        };
        let Ok(mut data) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        match data["type"].as_str() {
            Some("message_start") => {
                input = data["message"]["usage"]["input_tokens"]
                    .as_u64()
                    .unwrap_or(0);
            }
            Some("message_delta") => {
                output = data["usage"]["output_tokens"].as_u64().unwrap_or(output);
            }
            Some("message_stop") => {
                data["amazon-bedrock-invocationMetrics"] = json!({
                    "inputTokenCount": input, "outputTokenCount": output,
                    "invocationLatency": LATENCY_MS, "firstByteLatency": LATENCY_MS,
                });
            }
            _ => {}
        }
        let payload = json!({
            "bytes": base64::encode(data.to_string()),
            "p": padding(index),
        });
        let headers = [
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ];
        frames.push(frame(&headers, &payload));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_routes() {
        assert_eq!(route("/model/a.b:0/invoke"), Some(("a.b:0", false)));
        assert_eq!(
            route("/p/model/a.b%3A0/invoke-with-response-stream"),
            Some(("a.b%3A0", true))
        );
        assert_eq!(route("/model/m/converse"), None);
        assert_eq!(route("/model//invoke"), None);
    }
}
