//! OpenAI Responses as a whole: paths, credentials and codecs.

use busbar_ir::{ApiError, Request, Response};
use serde_json::Value;

use crate::cloud::{azure_path, Platform};
use crate::wire::{Endpoint, IngressRoute, PathMatch, Wire};
use crate::{
    DecodeError, DecodedRequest, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions,
    StreamDecoder, StreamEncoder,
};

/// OpenAI Responses (`responses`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiResponses;

impl Wire for OpenAiResponses {
    fn protocol(&self) -> Protocol {
        Protocol::Responses
    }

    fn name(&self) -> &'static str {
        "responses"
    }

    /// `/v1/responses` and `/v1/responses/input_tokens` (also without
    /// `/v1`), and the same under Azure OpenAI's `/openai/`, `/openai/v1/`
    /// and `/openai/deployments/D/` (the deployment names the model).
    fn route(&self, path: &str, _query: Option<&str>) -> PathMatch {
        let (deployment, path, platform) = match azure_path(path) {
            Some((deployment, rest)) => (deployment, rest, Some(Platform::Azure)),
            None => (None, path, None),
        };
        let endpoint = match path {
            "/v1/responses" | "/responses" => Endpoint::Generate,
            "/v1/responses/input_tokens" | "/responses/input_tokens" => Endpoint::CountTokens,
            _ => return PathMatch::No,
        };
        let mut route = IngressRoute::new(Protocol::Responses, endpoint);
        route.model = deployment;
        route.platform = platform;
        PathMatch::Route(route)
    }

    fn carries_signatures(&self) -> bool {
        true
    }

    fn max_tokens_fields(&self) -> &'static [&'static [&'static str]] {
        &[&["max_output_tokens"]]
    }

    fn upstream_path(&self, _model: &str, _stream: bool) -> String {
        "/v1/responses".to_owned()
    }

    fn count_path(&self, path: &str) -> Option<String> {
        path.ends_with("/responses")
            .then(|| format!("{path}/input_tokens"))
    }

    fn end_markers(&self) -> &'static [&'static [u8]] {
        &[
            b"response.completed\"",
            b"response.incomplete\"",
            b"response.failed\"",
        ]
    }

    fn decode_request(&self, value: &Value) -> Result<Request, DecodeError> {
        super::request::decode_value(value)
    }

    fn unsupported_fields(&self, value: &Value) -> Vec<&'static str> {
        super::request::unsupported_fields(value)
    }

    fn tool_namespaces(&self, value: &Value) -> Vec<String> {
        super::request::tool_namespaces(value)
    }

    fn encode_request(&self, request: &Request, options: &RequestOptions) -> Encoded {
        super::request::encode(request, options)
    }

    fn decode_response(&self, body: &[u8]) -> Result<Response, DecodeError> {
        super::response::decode(body)
    }

    fn encode_response(&self, response: &Response, options: &ReplyOptions) -> Encoded {
        super::response::encode(response, options.created, &options.tool_namespaces)
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
