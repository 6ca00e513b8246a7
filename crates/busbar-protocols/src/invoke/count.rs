//! Token counts for an InvokeModel lane: Bedrock's CountTokens
//! (`POST /model/M/count-tokens`) with the InvokeModel body as a blob,
//! `{"input": {"invokeModel": {"body": "<base64 of the body>"}}}` in,
//! `{"inputTokens": N}` out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use busbar_ir::Request;
use serde_json::Value;

use crate::count::read_count;
use crate::dialect::{DecodedRequest, Encoded, RequestOptions};
use crate::error::DecodeError;

/// Decodes a CountTokens request whose input is an InvokeModel body.
pub(super) fn decode_request(value: &Value) -> Result<DecodedRequest, DecodeError> {
    let body = value
        .pointer("/input/invokeModel/body")
        .and_then(Value::as_str)
        .ok_or_else(|| DecodeError::invalid("input.invokeModel.body", "is required"))?;
    let bytes = STANDARD
        .decode(body)
        .map_err(|_| DecodeError::invalid("input.invokeModel.body", "is not base64"))?;
    let mut body: Value = serde_json::from_slice(&bytes)?;
    if let Some(object) = body.as_object_mut() {
        // A count needs no cap; the Messages decoder does.
        object.entry("max_tokens").or_insert_with(|| Value::from(1));
    }
    let mut request = super::request::decode_value(&body)?;
    request.max_tokens = None;
    request.stream = false;
    Ok(DecodedRequest {
        request,
        unsupported: super::request::unsupported_fields(&body),
        tool_namespaces: Vec::new(),
    })
}

/// Encodes `request` as a CountTokens body holding its InvokeModel body.
pub(super) fn encode_request(request: &Request, options: &RequestOptions) -> Encoded {
    let encoded = super::request::encode(request, options);
    let body = serde_json::json!({
        "input": {"invokeModel": {"body": STANDARD.encode(&encoded.body)}}
    });
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped: encoded.dropped,
    }
}

/// The count in a CountTokens reply.
pub(super) fn decode_reply(body: &[u8]) -> Result<u64, DecodeError> {
    read_count(body, "inputTokens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_goes_as_a_base64_blob_and_comes_back() {
        let request = crate::Protocol::Anthropic
            .decode_request(
                br#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#,
            )
            .unwrap()
            .request;
        let encoded = encode_request(&request, &RequestOptions::new("anthropic.claude-v1:0"));
        let value: Value = serde_json::from_slice(&encoded.body).unwrap();
        let inner = STANDARD
            .decode(value["input"]["invokeModel"]["body"].as_str().unwrap())
            .unwrap();
        let inner: Value = serde_json::from_slice(&inner).unwrap();
        assert_eq!(inner["anthropic_version"], "bedrock-2023-05-31");
        assert!(inner.get("model").is_none());
        let decoded = decode_request(&value).unwrap();
        assert_eq!(decoded.request.messages, request.messages);
        assert_eq!(decode_reply(br#"{"inputTokens":12}"#).unwrap(), 12);
        assert!(decode_request(&serde_json::json!({"input": {"converse": {}}})).is_err());
    }
}
