//! Cohere Chat v2 as a whole: paths, credentials and codecs.

use busbar_ir::{ApiError, Request, Response};
use serde_json::Value;

use crate::wire::{Endpoint, IngressRoute, PathMatch, Wire};
use crate::{
    DecodeError, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions, StreamDecoder,
    StreamEncoder,
};

/// Cohere Chat v2 (`cohere`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CohereChat;

impl Wire for CohereChat {
    fn protocol(&self) -> Protocol {
        Protocol::Cohere
    }

    fn name(&self) -> &'static str {
        "cohere"
    }

    fn route(&self, path: &str, _query: Option<&str>) -> PathMatch {
        match path {
            "/v2/chat" => PathMatch::Route(IngressRoute::new(Protocol::Cohere, Endpoint::Generate)),
            _ => PathMatch::No,
        }
    }

    fn max_tokens_fields(&self) -> &'static [&'static [&'static str]] {
        &[&["max_tokens"]]
    }

    fn upstream_path(&self, _model: &str, _stream: bool) -> String {
        "/v2/chat".to_owned()
    }

    fn end_markers(&self) -> &'static [&'static [u8]] {
        &[b"message-end\""]
    }

    fn decode_request(&self, value: &Value) -> Result<Request, DecodeError> {
        super::request::decode_value(value)
    }

    fn unsupported_fields(&self, value: &Value) -> Vec<&'static str> {
        super::request::unsupported_fields(value)
    }

    fn encode_request(&self, request: &Request, options: &RequestOptions) -> Encoded {
        super::request::encode(request, options)
    }

    fn decode_response(&self, body: &[u8]) -> Result<Response, DecodeError> {
        super::response::decode(body)
    }

    fn encode_response(&self, response: &Response, options: &ReplyOptions) -> Encoded {
        super::response::encode(response, options.created)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(super::stream::Decoder::new())
    }

    fn stream_encoder(&self, options: &ReplyOptions) -> Box<dyn StreamEncoder> {
        Box::new(super::stream::Encoder::new(options))
    }

    fn decode_error(&self, status: u16, body: &[u8], _error_type: Option<&str>) -> ApiError {
        super::error::decode(status, body)
    }

    fn encode_error(&self, error: &ApiError) -> EncodedError {
        EncodedError::plain(super::error::encode(error))
    }
}
