//! The InvokeModel body: the Messages body without `model` and `stream`,
//! with `anthropic_version` and the betas as `anthropic_beta`.

use busbar_ir::Request;
use serde_json::Value;

use crate::{anthropic, DecodeError, Encoded, RequestOptions};

/// The `anthropic_version` the Bedrock documentation gives for Claude.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The envelope's own members: not Messages fields, so never named as
/// dropped.
const ENVELOPE: [&str; 2] = ["anthropic_version", "anthropic_beta"];

/// Decodes an InvokeModel body. The model comes from the path; a wrongly
/// typed `anthropic_version` is refused as Bedrock refuses it.
pub(super) fn decode_value(value: &Value) -> Result<Request, DecodeError> {
    if let Some(version) = value.get("anthropic_version") {
        if !version.is_string() {
            return Err(DecodeError::invalid(
                "anthropic_version",
                "expected a string",
            ));
        }
    }
    anthropic::request::decode_value(value)
}

/// The Messages fields the IR cannot carry; the envelope's members are not
/// among them.
pub(super) fn unsupported_fields(value: &Value) -> Vec<&'static str> {
    let mut fields = anthropic::request::unsupported_fields(value);
    fields.retain(|name| !ENVELOPE.contains(name));
    fields
}

/// Encodes a request as the Messages body, then moves it into the envelope.
pub(super) fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    let encoded = anthropic::request::encode(request, options);
    Encoded {
        body: envelop(encoded.body),
        dropped: encoded.dropped,
    }
}

/// A Messages body as InvokeModel takes it: `model` and `stream` removed,
/// `anthropic_version` added when absent. A body that is not a JSON object
/// is returned as it is.
pub(super) fn envelop(body: Vec<u8>) -> Vec<u8> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    object.remove("model");
    object.remove("stream");
    object
        .entry("anthropic_version")
        .or_insert_with(|| Value::from(BEDROCK_ANTHROPIC_VERSION));
    serde_json::to_vec(&Value::Object(object)).unwrap_or(body)
}

/// A first-party Messages body (a client of `anthropic`) put into the
/// envelope as it came, so that what the IR cannot carry (betas,
/// `context_management`, server tools, …) reaches Claude on Bedrock:
/// `model` and `stream` removed, `anthropic_version` added, and the
/// `anthropic-beta` header's values as `anthropic_beta`. `None` when the body
/// must go through the IR instead: not a JSON object, or holding a reasoning
/// signature (those go back only to the vendor that wrote them, which the IR
/// path enforces).
pub fn from_messages(body: &[u8], betas: Option<&str>) -> Option<Vec<u8>> {
    if memchr::memmem::find(body, b"\"signature\"").is_some() {
        return None;
    }
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let betas: Vec<Value> = betas
        .into_iter()
        .flat_map(|header| header.split(','))
        .map(str::trim)
        .filter(|beta| !beta.is_empty())
        .map(Value::from)
        .collect();
    if !betas.is_empty() {
        object.insert("anthropic_beta".to_owned(), Value::Array(betas));
    }
    serde_json::to_vec(&Value::Object(object)).ok().map(envelop)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_envelope_drops_model_and_stream_and_names_a_version() {
        let body = json!({"model": "m", "stream": true, "max_tokens": 5, "messages": []});
        let out: Value = serde_json::from_slice(&envelop(body.to_string().into_bytes())).unwrap();
        assert_eq!(
            out,
            json!({"max_tokens": 5, "messages": [], "anthropic_version": "bedrock-2023-05-31"})
        );
        let own = json!({"anthropic_version": "2026-10-21"});
        let out: Value = serde_json::from_slice(&envelop(own.to_string().into_bytes())).unwrap();
        assert_eq!(out, own);
        assert_eq!(envelop(b"[1]".to_vec()), b"[1]");
    }

    #[test]
    fn a_messages_body_goes_into_the_envelope_with_its_betas() {
        let body = json!({"model": "claude", "stream": true, "max_tokens": 5,
                          "context_management": {"edits": []}, "messages": []});
        let out = from_messages(
            body.to_string().as_bytes(),
            Some("context-management-2025-06-27, token-efficient-tools-2025-02-19"),
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            json!({"max_tokens": 5, "context_management": {"edits": []}, "messages": [],
                   "anthropic_beta": ["context-management-2025-06-27", "token-efficient-tools-2025-02-19"],
                   "anthropic_version": "bedrock-2023-05-31"})
        );
        let signed = json!({"messages": [{"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "EqQB"}]}]});
        assert_eq!(from_messages(signed.to_string().as_bytes(), None), None);
        assert_eq!(from_messages(b"[]", None), None);
    }

    #[test]
    fn envelope_members_are_read_and_not_named_dropped() {
        let body = json!({
            "anthropic_version": "2026-10-21", "anthropic_beta": ["context-1m-2025-08-07"],
            "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]
        });
        assert!(decode_value(&body).is_ok());
        assert!(unsupported_fields(&body).is_empty());
        let bad = json!({"anthropic_version": 1, "max_tokens": 5, "messages": []});
        assert_eq!(
            decode_value(&bad).unwrap_err().param(),
            Some("anthropic_version")
        );
    }
}
