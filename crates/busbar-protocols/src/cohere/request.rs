use crate::{DecodeError, Encoded, RequestOptions};
use busbar_ir::Request;
use serde_json::Value;
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    decode_value(&serde_json::from_slice(body)?)
}
pub fn decode_value(body: &Value) -> Result<Request, DecodeError> {
    Err(DecodeError::invalid("body", "not implemented yet"))
}
pub fn unsupported_fields(body: &Value) -> Vec<&'static str> {
    Vec::new()
}
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    Encoded::new(Vec::new())
}
