//! OpenAI Chat Completions as a whole: paths, credentials and codecs.

use busbar_ir::{ApiError, Request, Response};
use serde_json::{json, Value};

use crate::cloud::{azure_path, Platform};
use crate::wire::{Endpoint, IngressRoute, PathMatch, Wire};
use crate::{
    DecodeError, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions, StreamDecoder,
    StreamEncoder,
};

/// OpenAI Chat Completions (`openai`), also spoken by most OpenAI-compatible
/// providers.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiChat;

impl Wire for OpenAiChat {
    fn protocol(&self) -> Protocol {
        Protocol::OpenAi
    }

    fn name(&self) -> &'static str {
        "openai"
    }

    /// `/v1/chat/completions` or `/chat/completions`, and Azure OpenAI's
    /// `/openai/deployments/D/chat/completions` (the deployment names the
    /// model) and `/openai/v1/chat/completions`.
    fn route(&self, path: &str, _query: Option<&str>) -> PathMatch {
        let (deployment, path, platform) = match azure_path(path) {
            Some((deployment, rest)) => (deployment, rest, Some(Platform::Azure)),
            None => (None, path, None),
        };
        // The OpenAI SDKs append their paths to whatever base URL they are
        // given, and a base URL without `/v1` is a common setting.
        match path {
            "/v1/chat/completions" | "/chat/completions" => {
                let mut route = IngressRoute::new(Protocol::OpenAi, Endpoint::Generate);
                route.model = deployment;
                route.platform = platform;
                PathMatch::Route(route)
            }
            _ => PathMatch::No,
        }
    }

    /// Azure OpenAI's `api-key`, which its clients send for Chat and
    /// Responses alike.
    fn credential_headers(&self) -> &'static [&'static str] {
        &["api-key"]
    }

    fn model_list_paths(&self) -> &'static [&'static str] {
        &["/v1/models", "/models"]
    }

    fn encode_model_list(&self, names: &[&str], created: u64) -> Vec<u8> {
        let data: Vec<Value> = names
            .iter()
            .map(|name| json!({"id": name, "object": "model", "created": created, "owned_by": "busbar"}))
            .collect();
        serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default()
    }

    fn max_tokens_fields(&self) -> &'static [&'static [&'static str]] {
        &[&["max_completion_tokens"], &["max_tokens"]]
    }

    fn choice_count_fields(&self) -> &'static [&'static [&'static str]] {
        &[&["n"]]
    }

    fn stream_usage_flag(&self) -> Option<&'static [&'static str]> {
        Some(&["stream_options", "include_usage"])
    }

    fn upstream_path(&self, _model: &str, _stream: bool) -> String {
        "/v1/chat/completions".to_owned()
    }

    fn end_markers(&self) -> &'static [&'static [u8]] {
        &[b"\ndata: [DONE]", b"\ndata:[DONE]"]
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
