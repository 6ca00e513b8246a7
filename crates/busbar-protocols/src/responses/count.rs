//! `POST /v1/responses/input_tokens`: a Responses body in,
//! `{"object": "response.input_tokens", "input_tokens": N}` out.

use busbar_ir::Request;
use serde_json::Value;

use crate::count::{keep_fields, read_count};
use crate::dialect::{DecodedRequest, Encoded, RequestOptions};
use crate::error::DecodeError;

/// The fields `input_tokens` takes (`TokenCountsBody`); generation-only
/// fields (`max_output_tokens`, `stream`, sampling, `store`) are left out.
const FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "text",
    "truncation",
    "previous_response_id",
    "conversation",
];

/// Decodes a count request: a Responses body.
pub fn decode_request(value: &Value) -> Result<DecodedRequest, DecodeError> {
    let mut request = super::request::decode_value(value)?;
    request.max_tokens = None;
    request.stream = false;
    Ok(DecodedRequest {
        request,
        unsupported: super::request::unsupported_fields(value),
        tool_namespaces: super::request::tool_namespaces(value),
    })
}

/// Encodes `request` as an `input_tokens` body for `options.model`.
pub fn encode_request(request: &Request, options: &RequestOptions) -> Encoded {
    let encoded = super::request::encode(request, options);
    let body = keep_fields(&encoded.body, FIELDS);
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped: encoded.dropped,
    }
}

/// The count in an `input_tokens` reply.
pub fn decode_reply(body: &[u8]) -> Result<u64, DecodeError> {
    read_count(body, "input_tokens")
}

/// An `input_tokens` reply.
pub fn encode_reply(tokens: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "object": "response.input_tokens",
        "input_tokens": tokens,
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_count_body_is_a_responses_body() {
        let body = json!({"model": "gpt", "instructions": "be brief", "input": "hi"});
        let decoded = decode_request(&body).unwrap();
        assert_eq!(decoded.request.system_text().as_deref(), Some("be brief"));
        assert_eq!(decoded.request.messages.len(), 2);
    }

    #[test]
    fn the_encoded_count_body_has_no_generation_fields() {
        let mut request = busbar_ir::Request::new(
            "x",
            vec![busbar_ir::Message::text(busbar_ir::Role::User, "hi")],
        );
        request.max_tokens = Some(10);
        request.temperature = Some(0.5);
        request.stream = true;
        let encoded = encode_request(&request, &RequestOptions::new("gpt-up"));
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(keys.iter().all(|key| FIELDS.contains(key)), "{keys:?}");
        assert_eq!(body["model"], "gpt-up");
    }

    #[test]
    fn replies_round_trip() {
        let reply: Value = serde_json::from_slice(&encode_reply(7)).unwrap();
        assert_eq!(
            reply,
            json!({"object": "response.input_tokens", "input_tokens": 7})
        );
        assert_eq!(decode_reply(&encode_reply(7)).unwrap(), 7);
    }
}
