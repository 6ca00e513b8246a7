//! `POST /v1/messages/count_tokens`: a Messages body without `max_tokens`
//! in, `{"input_tokens": N}` out.

use busbar_ir::Request;
use serde_json::Value;

use crate::count::{keep_fields, read_count};
use crate::dialect::{DecodedRequest, Encoded, RequestOptions};
use crate::error::DecodeError;

/// The fields `count_tokens` takes (`MessageCountTokensParams`); the rest of
/// a Messages body (`max_tokens`, `stream`, `stop_sequences`, sampling,
/// `metadata`) is refused there.
const FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "cache_control",
];

/// Decodes a count request: a Messages body whose `max_tokens` is optional
/// (and ignored).
pub fn decode_request(value: &Value) -> Result<DecodedRequest, DecodeError> {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        // The Messages decoder requires `max_tokens`; a count has none.
        object.insert("max_tokens".to_owned(), Value::from(1));
    }
    let mut request = super::request::decode_value(&value)?;
    request.max_tokens = None;
    request.stream = false;
    Ok(DecodedRequest {
        request,
        unsupported: super::request::unsupported_fields(&value),
        tool_namespaces: Vec::new(),
    })
}

/// Encodes `request` as a `count_tokens` body for `options.model`.
pub fn encode_request(request: &Request, options: &RequestOptions) -> Encoded {
    let encoded = super::request::encode(request, options);
    let body = keep_fields(&encoded.body, FIELDS);
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped: encoded.dropped,
    }
}

/// The count in a `count_tokens` reply.
pub fn decode_reply(body: &[u8]) -> Result<u64, DecodeError> {
    read_count(body, "input_tokens")
}

/// A `count_tokens` reply.
pub fn encode_reply(tokens: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "input_tokens": tokens })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_count_body_needs_no_max_tokens() {
        let body = json!({"model": "claude", "system": "be brief",
                          "messages": [{"role": "user", "content": "hi"}]});
        let decoded = decode_request(&body).unwrap();
        assert_eq!(decoded.request.max_tokens, None);
        assert_eq!(decoded.request.system_text().as_deref(), Some("be brief"));
        assert!(decoded.unsupported.is_empty());
    }

    #[test]
    fn the_encoded_count_body_has_only_count_fields() {
        let mut request = busbar_ir::Request::new(
            "x",
            vec![busbar_ir::Message::text(busbar_ir::Role::User, "hi")],
        );
        request.temperature = Some(0.5);
        request.stop_sequences = vec!["END".into()];
        let encoded = encode_request(&request, &RequestOptions::new("claude-up"));
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "claude-up", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
        );
    }

    #[test]
    fn replies_round_trip() {
        assert_eq!(decode_reply(&encode_reply(42)).unwrap(), 42);
        assert!(decode_reply(br#"{"tokens": 1}"#).is_err());
        assert!(decode_reply(br#"{"input_tokens": -1}"#).is_err());
    }
}
