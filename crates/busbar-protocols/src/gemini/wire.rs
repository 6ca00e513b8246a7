//! The Gemini API as a whole: paths, credentials, framing and codecs.

use busbar_ir::{ApiError, Request, Response};
use serde_json::{json, Value};

use crate::cloud::{vertex_path, Platform, VertexPath};
use crate::wire::{
    model_segment, percent_encode, Endpoint, IngressRoute, KeyHeader, PathMatch, Wire,
};
use crate::{
    DecodeError, DecodedRequest, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions,
    StreamDecoder, StreamEncoder,
};

/// Gemini's publisher on Vertex AI.
const VERTEX_PUBLISHER: &str = "google";

/// The route for `method` on model `name`.
fn action(name: String, method: &str, query: Option<&str>) -> PathMatch {
    let (endpoint, stream) = match method {
        "generateContent" => (Endpoint::Generate, false),
        "streamGenerateContent" => (Endpoint::Generate, true),
        "countTokens" => (Endpoint::CountTokens, false),
        _ => return PathMatch::NotFound,
    };
    let sse = query.is_some_and(|query| query.split('&').any(|pair| pair == "alt=sse"));
    let mut route = IngressRoute::new(Protocol::Gemini, endpoint)
        .with_model(name)
        .with_stream(stream);
    route.json_array = stream && !sse;
    PathMatch::Route(route)
}

/// Google Gemini `generateContent` (`gemini`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiGenerate;

impl Wire for GeminiGenerate {
    fn protocol(&self) -> Protocol {
        Protocol::Gemini
    }

    fn name(&self) -> &'static str {
        "gemini"
    }

    /// `/v1beta/models/NAME:ACTION` (or `/v1/models/…`), where the action is
    /// `generateContent`, `streamGenerateContent` (`?alt=sse` for Server-Sent
    /// Events, else one JSON array) or `countTokens`; and the same actions on
    /// Vertex AI (`…/publishers/google/models/NAME:ACTION`).
    fn route(&self, path: &str, query: Option<&str>) -> PathMatch {
        match vertex_path(path) {
            VertexPath::Method {
                publisher: VERTEX_PUBLISHER,
                model,
                method,
            } => {
                return match action(model, method, query) {
                    PathMatch::Route(route) => PathMatch::Route(route.on(Platform::Vertex)),
                    other => other,
                }
            }
            VertexPath::Malformed {
                publisher: VERTEX_PUBLISHER,
            } => return PathMatch::NotFound,
            _ => {}
        }
        let Some(rest) = path
            .strip_prefix("/v1beta/models/")
            .or_else(|| path.strip_prefix("/v1/models/"))
        else {
            return PathMatch::No;
        };
        let Some((name, method)) = rest.rsplit_once(':') else {
            return PathMatch::NotFound;
        };
        let Some(name) = model_segment(name) else {
            return PathMatch::NotFound;
        };
        action(name, method, query)
    }

    fn model_list_paths(&self) -> &'static [&'static str] {
        &["/v1beta/models"]
    }

    fn encode_model_list(&self, names: &[&str], _created: u64) -> Vec<u8> {
        let models: Vec<Value> = names
            .iter()
            .map(|name| {
                json!({
                    "name": format!("models/{name}"),
                    "displayName": name,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
                })
            })
            .collect();
        serde_json::to_vec(&json!({ "models": models })).unwrap_or_default()
    }

    fn model_in_body(&self) -> bool {
        false
    }

    fn carries_signatures(&self) -> bool {
        true
    }

    fn signatures_in_base64(&self) -> bool {
        true
    }

    fn max_tokens_fields(&self) -> &'static [&'static [&'static str]] {
        &[
            &["generationConfig", "maxOutputTokens"],
            &["generationConfig", "max_output_tokens"],
            &["generation_config", "maxOutputTokens"],
            &["generation_config", "max_output_tokens"],
        ]
    }

    fn choice_count_fields(&self) -> &'static [&'static [&'static str]] {
        &[
            &["generationConfig", "candidateCount"],
            &["generationConfig", "candidate_count"],
            &["generation_config", "candidateCount"],
            &["generation_config", "candidate_count"],
        ]
    }

    fn credential_headers(&self) -> &'static [&'static str] {
        &["x-goog-api-key"]
    }

    fn credential_query(&self) -> Option<&'static str> {
        Some("key")
    }

    fn upstream_path(&self, model: &str, stream: bool) -> String {
        let model = percent_encode(model);
        if stream {
            format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("/v1beta/models/{model}:generateContent")
        }
    }

    fn count_path(&self, path: &str) -> Option<String> {
        Some(format!(
            "{}:countTokens",
            path.strip_suffix(":generateContent")?
        ))
    }

    fn key_header(&self, _key: &str) -> KeyHeader {
        KeyHeader::Named("x-goog-api-key")
    }

    fn count_body_for(&self, body: &[u8], model: &str) -> Option<Vec<u8>> {
        super::count::with_model(body, model)
    }

    fn stream_content_type(&self, options: &ReplyOptions) -> &'static str {
        if options.json_array {
            "application/json"
        } else {
            "text/event-stream"
        }
    }

    /// A finish reason, a blocked prompt, or an error chunk.
    fn end_markers(&self) -> &'static [&'static [u8]] {
        &[
            b"\"finishReason\":",
            b"\"finishReason\" :",
            b"\"blockReason\":",
            b"{\"error\":",
        ]
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
