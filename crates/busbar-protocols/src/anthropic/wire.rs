//! Anthropic Messages as a whole: paths, credentials, headers and codecs.

use busbar_ir::{ApiError, Request, Response};
use serde_json::Value;

use crate::cloud::{vertex_path, Platform, VertexPath};
use crate::wire::{
    model_segment, Endpoint, IngressRoute, KeyHeader, PathMatch, UpstreamHeader, Wire,
};
use crate::{
    DecodeError, DecodedRequest, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions,
    StreamDecoder, StreamEncoder,
};

/// Anthropic Messages (`anthropic`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicMessages;

const GENERATE: &str = "/v1/messages";
const COUNT: &str = "/v1/messages/count_tokens";

/// Claude's publisher on Vertex AI.
const VERTEX_PUBLISHER: &str = "anthropic";

/// The model segment of Vertex's Claude token-counting path.
const VERTEX_COUNT_MODEL: &str = "count-tokens";

impl Wire for AnthropicMessages {
    fn protocol(&self) -> Protocol {
        Protocol::Anthropic
    }

    fn name(&self) -> &'static str {
        "anthropic"
    }

    /// `/v1/messages` and `/v1/messages/count_tokens`, optionally after a
    /// model name (`/claude-sonnet/v1/messages`, `/org/model/v1/messages`),
    /// which is how a client whose base URL names the model calls; and
    /// Claude on Vertex AI (`…/publishers/anthropic/models/M:rawPredict`,
    /// `:streamRawPredict`, `count-tokens:rawPredict`), where the body's
    /// `stream` still says whether the reply streams.
    fn route(&self, path: &str, _query: Option<&str>) -> PathMatch {
        let route = |endpoint| IngressRoute::new(Protocol::Anthropic, endpoint);
        match vertex_path(path) {
            VertexPath::Method {
                publisher: VERTEX_PUBLISHER,
                model,
                method,
            } => {
                let vertex = |endpoint| route(endpoint).on(Platform::Vertex);
                return match (model.as_str(), method) {
                    // One counting endpoint for every model: the body names it.
                    (VERTEX_COUNT_MODEL, "rawPredict") => {
                        PathMatch::Route(vertex(Endpoint::CountTokens))
                    }
                    (VERTEX_COUNT_MODEL, _) => PathMatch::NotFound,
                    (_, "rawPredict" | "streamRawPredict") => {
                        PathMatch::Route(vertex(Endpoint::Generate).with_model(model))
                    }
                    _ => PathMatch::NotFound,
                };
            }
            VertexPath::Malformed {
                publisher: VERTEX_PUBLISHER,
            } => return PathMatch::NotFound,
            _ => {}
        }
        match path {
            GENERATE => return PathMatch::Route(route(Endpoint::Generate)),
            COUNT => return PathMatch::Route(route(Endpoint::CountTokens)),
            _ => {}
        }
        let named = |suffix: &str, endpoint| {
            let name = path.strip_suffix(suffix)?.strip_prefix('/')?;
            Some(PathMatch::Fallback(
                route(endpoint).with_model(model_segment(name)?),
            ))
        };
        named(COUNT, Endpoint::CountTokens)
            .or_else(|| named(GENERATE, Endpoint::Generate))
            .unwrap_or(PathMatch::No)
    }

    fn platform_fields(&self, platform: Platform) -> &'static [&'static str] {
        match platform {
            Platform::Vertex => &["anthropic_version"],
            _ => &[],
        }
    }

    fn carries_signatures(&self) -> bool {
        true
    }

    fn max_tokens_fields(&self) -> &'static [&'static [&'static str]] {
        &[&["max_tokens"]]
    }

    fn credential_headers(&self) -> &'static [&'static str] {
        &["x-api-key"]
    }

    fn upstream_path(&self, _model: &str, _stream: bool) -> String {
        GENERATE.to_owned()
    }

    fn count_path(&self, path: &str) -> Option<String> {
        path.ends_with("/messages")
            .then(|| format!("{path}/count_tokens"))
    }

    /// `x-api-key`, except that OAuth tokens (`sk-ant-oat…`) go as bearer.
    fn key_header(&self, key: &str) -> KeyHeader {
        if key.starts_with("sk-ant-oat") {
            KeyHeader::Bearer
        } else {
            KeyHeader::Named("x-api-key")
        }
    }

    fn upstream_headers(&self) -> &'static [UpstreamHeader] {
        &[
            UpstreamHeader {
                name: "anthropic-version",
                default: Some("2023-06-01"),
                forwarded: true,
            },
            UpstreamHeader {
                name: "anthropic-beta",
                default: None,
                forwarded: true,
            },
        ]
    }

    fn end_markers(&self) -> &'static [&'static [u8]] {
        &[b"message_stop\""]
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

    fn encode_response(&self, response: &Response, _options: &ReplyOptions) -> Encoded {
        super::response::encode(response)
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
