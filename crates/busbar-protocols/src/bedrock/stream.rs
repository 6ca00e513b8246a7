use crate::{DecodeError, StreamOptions};
use busbar_ir::StreamEvent;
pub struct Decoder;
impl Decoder {
    pub fn new() -> Self {
        Decoder
    }
}
impl crate::StreamDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        Err(DecodeError::Stream("not implemented yet".into()))
    }
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        Err(DecodeError::Truncated)
    }
}
pub struct Encoder;
impl Encoder {
    pub fn new(options: &StreamOptions) -> Self {
        Encoder
    }
}
impl crate::StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {}
    fn finish(&mut self, out: &mut Vec<u8>) {}
}
