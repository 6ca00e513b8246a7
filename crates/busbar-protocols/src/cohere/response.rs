use crate::{DecodeError, Encoded};
use busbar_ir::Response;
pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
    Err(DecodeError::invalid("body", "not implemented yet"))
}
pub fn encode(response: &Response, created: u64) -> Encoded {
    Encoded::new(Vec::new())
}
