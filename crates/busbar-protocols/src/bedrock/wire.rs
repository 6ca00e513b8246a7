//! Bedrock Converse as a whole: paths, SigV4, event-stream framing and
//! codecs.

use busbar_ir::{ApiError, Request, Response};
use serde_json::Value;

use crate::wire::{model_segment, percent_encode, Endpoint, IngressRoute, PathMatch, Wire};
use crate::{
    DecodeError, DecodedRequest, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions,
    StreamDecoder, StreamEncoder,
};

/// Amazon Bedrock Converse (`bedrock`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BedrockConverse;

impl Wire for BedrockConverse {
    fn protocol(&self) -> Protocol {
        Protocol::Bedrock
    }

    fn name(&self) -> &'static str {
        "bedrock"
    }

    /// `/model/NAME/converse`, `/model/NAME/converse-stream` and
    /// `/model/NAME/count-tokens`.
    fn route(&self, path: &str, _query: Option<&str>) -> PathMatch {
        let Some(rest) = path.strip_prefix("/model/") else {
            return PathMatch::No;
        };
        if crate::invoke::BedrockInvoke::is_invoke_path(path) {
            return PathMatch::No;
        }
        let (name, endpoint, stream) = if let Some(name) = rest.strip_suffix("/converse-stream") {
            (name, Endpoint::Generate, true)
        } else if let Some(name) = rest.strip_suffix("/count-tokens") {
            (name, Endpoint::CountTokens, false)
        } else if let Some(name) = rest.strip_suffix("/converse") {
            (name, Endpoint::Generate, false)
        } else {
            return PathMatch::NotFound;
        };
        match model_segment(name) {
            Some(name) => PathMatch::Route(
                IngressRoute::new(Protocol::Bedrock, endpoint)
                    .with_model(name)
                    .with_stream(stream),
            ),
            None => PathMatch::NotFound,
        }
    }

    fn model_in_body(&self) -> bool {
        false
    }

    fn carries_signatures(&self) -> bool {
        true
    }

    fn max_tokens_fields(&self) -> &'static [&'static [&'static str]] {
        &[&["inferenceConfig", "maxTokens"]]
    }

    fn upstream_path(&self, model: &str, stream: bool) -> String {
        let model = percent_encode(model);
        if stream {
            format!("/model/{model}/converse-stream")
        } else {
            format!("/model/{model}/converse")
        }
    }

    fn count_path(&self, path: &str) -> Option<String> {
        Some(format!("{}/count-tokens", path.strip_suffix("/converse")?))
    }

    fn sigv4_service(&self) -> Option<&'static str> {
        Some("bedrock")
    }

    fn stream_accept(&self) -> Option<&'static str> {
        None
    }

    fn stream_content_type(&self, _options: &ReplyOptions) -> &'static str {
        "application/vnd.amazon.eventstream"
    }

    /// Header values with their two length bytes: the `messageStop` event,
    /// or an exception frame (the error reached the client).
    fn end_markers(&self) -> &'static [&'static [u8]] {
        &[b"\x00\x0bmessageStop", b"\x00\x09exception"]
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

    fn decode_error(&self, status: u16, body: &[u8], error_type: Option<&str>) -> ApiError {
        super::error::decode(status, body, error_type)
    }

    fn encode_error(&self, error: &ApiError) -> EncodedError {
        let (status, body, name) = super::error::encode(error);
        EncodedError {
            status,
            body,
            error_type: Some(name),
        }
    }

    fn counts_tokens(&self) -> bool {
        true
    }

    fn decode_count_request(&self, value: &Value) -> Option<Result<DecodedRequest, DecodeError>> {
        Some(super::count::decode_request(value))
    }

    fn encode_count_request(&self, request: &Request, options: &RequestOptions) -> Option<Encoded> {
        Some(super::count::encode_request(request, options))
    }

    fn decode_count_reply(&self, body: &[u8]) -> Option<Result<u64, DecodeError>> {
        Some(super::count::decode_reply(body))
    }

    fn encode_count_reply(&self, tokens: u64) -> Option<Vec<u8>> {
        Some(super::count::encode_reply(tokens))
    }
}
