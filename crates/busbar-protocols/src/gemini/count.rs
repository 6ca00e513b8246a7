//! `POST /v1beta/models/M:countTokens`: `{"contents"}` or
//! `{"generateContentRequest": {…}}` in, `{"totalTokens": N}` out.
//!
//! Busbar always sends the `generateContentRequest` form: it is the only
//! one that counts a system instruction and tools too.

use busbar_ir::Request;
use serde_json::{Map, Value};

use crate::count::{keep_fields, read_count};
use crate::dialect::{DecodedRequest, Encoded, RequestOptions};
use crate::error::DecodeError;

/// The fields of a `generateContentRequest` that hold input; generation
/// settings do not change the count.
const FIELDS: &[&str] = &[
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "cachedContent",
];

/// Decodes a count request, in either form.
pub fn decode_request(value: &Value) -> Result<DecodedRequest, DecodeError> {
    let inner = value
        .get("generateContentRequest")
        .or_else(|| value.get("generate_content_request"))
        .filter(|inner| !inner.is_null())
        .unwrap_or(value);
    let mut request = super::request::decode_value(inner)?;
    request.max_tokens = None;
    request.stream = false;
    Ok(DecodedRequest {
        request,
        unsupported: super::request::unsupported_fields(inner),
        tool_namespaces: Vec::new(),
    })
}

/// Encodes `request` as a `countTokens` body for `options.model`.
pub fn encode_request(request: &Request, options: &RequestOptions) -> Encoded {
    let encoded = super::request::encode(request, options);
    let mut inner = Map::new();
    inner.insert(
        "model".to_owned(),
        Value::String(format!("models/{}", options.model)),
    );
    inner.extend(keep_fields(&encoded.body, FIELDS));
    let body = serde_json::json!({ "generateContentRequest": inner });
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped: encoded.dropped,
    }
}

/// A client's count body for an upstream that serves `model`: a
/// `generateContentRequest` names its model too, so that name is replaced;
/// any other body is returned as it came.
pub fn with_model(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let inner = value.get_mut("generateContentRequest")?.as_object_mut()?;
    inner.get("model")?;
    inner.insert("model".to_owned(), Value::String(format!("models/{model}")));
    serde_json::to_vec(&value).ok()
}

/// The count in a `countTokens` reply.
pub fn decode_reply(body: &[u8]) -> Result<u64, DecodeError> {
    read_count(body, "totalTokens")
}

/// A `countTokens` reply.
pub fn encode_reply(tokens: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "totalTokens": tokens })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_forms_decode() {
        let contents = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        assert_eq!(decode_request(&contents).unwrap().request.messages.len(), 1);
        let wrapped = json!({"generateContentRequest": {
            "model": "models/g",
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}});
        let decoded = decode_request(&wrapped).unwrap();
        assert_eq!(decoded.request.system_text().as_deref(), Some("be brief"));
        assert!(decoded.unsupported.is_empty(), "{:?}", decoded.unsupported);
    }

    #[test]
    fn the_encoded_count_body_wraps_a_generate_content_request() {
        let mut request = busbar_ir::Request::new(
            "x",
            vec![busbar_ir::Message::text(busbar_ir::Role::User, "hi")],
        );
        request.push_system("be brief");
        request.temperature = Some(0.2);
        let encoded = encode_request(&request, &RequestOptions::new("gemini-up"));
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        let inner = &body["generateContentRequest"];
        assert_eq!(inner["model"], "models/gemini-up");
        assert_eq!(inner["systemInstruction"]["parts"][0]["text"], "be brief");
        assert_eq!(inner["contents"][0]["parts"][0]["text"], "hi");
        assert!(inner.get("generationConfig").is_none(), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_relayed_body_names_the_upstream_model() {
        let wrapped = br#"{"generateContentRequest":{"model":"models/alias","contents":[]}}"#;
        let body: Value = serde_json::from_slice(&with_model(wrapped, "g-up").unwrap()).unwrap();
        assert_eq!(body["generateContentRequest"]["model"], "models/g-up");
        assert_eq!(with_model(br#"{"contents":[]}"#, "g-up"), None);
    }

    #[test]
    fn replies_round_trip() {
        assert_eq!(decode_reply(&encode_reply(9)).unwrap(), 9);
        assert_eq!(
            decode_reply(br#"{"totalTokens": 3, "promptTokensDetails": []}"#).unwrap(),
            3
        );
    }
}
