//! `POST /model/M/count-tokens` (CountTokens): a Converse body wrapped as
//! `{"input": {"converse": {…}}}` in, `{"inputTokens": N}` out.
//!
//! The other input form, `{"input": {"invokeModel": {"body": …}}}`, holds a
//! model-native body Busbar cannot read: it is relayed to a Bedrock lane
//! but cannot be translated or estimated.

use busbar_ir::Request;
use serde_json::Value;

use crate::count::{keep_fields, read_count};
use crate::dialect::{DecodedRequest, Encoded, RequestOptions};
use crate::error::DecodeError;

/// The Converse fields CountTokens' `converse` input takes.
const FIELDS: &[&str] = &[
    "messages",
    "system",
    "toolConfig",
    "additionalModelRequestFields",
];

/// Decodes a CountTokens request with a `converse` input.
pub fn decode_request(value: &Value) -> Result<DecodedRequest, DecodeError> {
    let input = value
        .get("input")
        .ok_or_else(|| DecodeError::invalid("input", "is required"))?;
    let Some(converse) = input.get("converse") else {
        let reason = if input.get("invokeModel").is_some() {
            "an invokeModel input can be counted only by a Bedrock upstream"
        } else {
            "must hold `converse`"
        };
        return Err(DecodeError::invalid("input", reason));
    };
    let mut converse = converse.clone();
    if let Some(object) = converse.as_object_mut() {
        // CountTokens lets `messages` be left out; the Converse decoder
        // does not.
        object
            .entry("messages")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
    let mut request = super::request::decode_value(&converse)?;
    request.max_tokens = None;
    request.stream = false;
    Ok(DecodedRequest {
        request,
        unsupported: super::request::unsupported_fields(&converse),
        tool_namespaces: Vec::new(),
    })
}

/// Encodes `request` as a CountTokens body.
pub fn encode_request(request: &Request, options: &RequestOptions) -> Encoded {
    let encoded = super::request::encode(request, options);
    let converse = keep_fields(&encoded.body, FIELDS);
    let body = serde_json::json!({ "input": { "converse": converse } });
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped: encoded.dropped,
    }
}

/// The count in a CountTokens reply.
pub fn decode_reply(body: &[u8]) -> Result<u64, DecodeError> {
    read_count(body, "inputTokens")
}

/// A CountTokens reply.
pub fn encode_reply(tokens: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "inputTokens": tokens })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_converse_input_decodes() {
        let body = json!({"input": {"converse": {
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "hi"}]}]}}});
        let decoded = decode_request(&body).unwrap();
        assert_eq!(decoded.request.system_text().as_deref(), Some("be brief"));
        let bare = json!({"input": {"converse": {"system": [{"text": "x"}]}}});
        assert_eq!(decode_request(&bare).unwrap().request.messages.len(), 1);
        let invoke = json!({"input": {"invokeModel": {"body": "e30="}}});
        let error = decode_request(&invoke).unwrap_err().to_string();
        assert!(error.contains("invokeModel"), "{error}");
        assert!(decode_request(&json!({})).is_err());
    }

    #[test]
    fn the_encoded_count_body_wraps_converse() {
        let mut request = busbar_ir::Request::new(
            "x",
            vec![busbar_ir::Message::text(busbar_ir::Role::User, "hi")],
        );
        request.max_tokens = Some(100);
        let encoded = encode_request(&request, &RequestOptions::new("m"));
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            body,
            json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}})
        );
    }

    #[test]
    fn replies_round_trip() {
        assert_eq!(decode_reply(&encode_reply(5)).unwrap(), 5);
    }
}
