//! Claude on Bedrock's InvokeModel as a whole: paths, SigV4, the envelope
//! and the Anthropic codecs inside it.

use busbar_ir::{ApiError, Request, Response};
use serde_json::Value;

use crate::wire::{model_segment, percent_encode, Endpoint, IngressRoute, PathMatch, Wire};
use crate::{
    anthropic, bedrock, DecodeError, DecodedRequest, Encoded, EncodedError, Protocol, ReplyOptions,
    RequestOptions, StreamDecoder, StreamEncoder,
};

/// Anthropic Messages through Amazon Bedrock's InvokeModel
/// (`bedrock-invoke`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BedrockInvoke;

const INVOKE: &str = "/invoke";
const INVOKE_STREAM: &str = "/invoke-with-response-stream";

impl BedrockInvoke {
    /// Whether `path` is one of InvokeModel's (so Converse leaves it alone).
    pub(crate) fn is_invoke_path(path: &str) -> bool {
        path.starts_with("/model/") && (path.ends_with(INVOKE) || path.ends_with(INVOKE_STREAM))
    }
}

impl Wire for BedrockInvoke {
    fn protocol(&self) -> Protocol {
        Protocol::BedrockInvoke
    }

    fn name(&self) -> &'static str {
        "bedrock-invoke"
    }

    /// `/model/NAME/invoke` and `/model/NAME/invoke-with-response-stream`;
    /// the name may be percent-encoded (boto3) or not (the Anthropic SDK
    /// leaves the `:` of `…-v1:0` as it is).
    fn route(&self, path: &str, _query: Option<&str>) -> PathMatch {
        let Some(rest) = path.strip_prefix("/model/") else {
            return PathMatch::No;
        };
        let (name, stream) = if let Some(name) = rest.strip_suffix(INVOKE_STREAM) {
            (name, true)
        } else if let Some(name) = rest.strip_suffix(INVOKE) {
            (name, false)
        } else {
            return PathMatch::No;
        };
        match model_segment(name) {
            Some(name) => PathMatch::Route(
                IngressRoute::new(Protocol::BedrockInvoke, Endpoint::Generate)
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
        &[&["max_tokens"]]
    }

    fn upstream_path(&self, model: &str, stream: bool) -> String {
        let model = percent_encode(model);
        if stream {
            format!("/model/{model}{INVOKE_STREAM}")
        } else {
            format!("/model/{model}{INVOKE}")
        }
    }

    /// Bedrock's CountTokens, beside the model's InvokeModel path.
    fn count_path(&self, path: &str) -> Option<String> {
        Some(format!("{}/count-tokens", path.strip_suffix(INVOKE)?))
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

    /// The chunk whose bytes open with `{"type":"message_stop"` (base64 of
    /// its first 21 bytes: no text can make it, since all text is inside
    /// base64 too), or an exception frame.
    fn end_markers(&self) -> &'static [&'static [u8]] {
        &[
            b"\"bytes\":\"eyJ0eXBlIjoibWVzc2FnZV9zdG9w",
            b"\x00\x09exception",
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
        anthropic::response::decode(body)
    }

    fn encode_response(&self, response: &Response, _options: &ReplyOptions) -> Encoded {
        anthropic::response::encode(response)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(super::Decoder::new())
    }

    fn stream_encoder(&self, options: &ReplyOptions) -> Box<dyn StreamEncoder> {
        Box::new(super::Encoder::new(options))
    }

    fn decode_error(&self, status: u16, body: &[u8], error_type: Option<&str>) -> ApiError {
        bedrock::error::decode(status, body, error_type)
    }

    fn encode_error(&self, error: &ApiError) -> EncodedError {
        let (status, body, name) = bedrock::error::encode(error);
        EncodedError {
            status,
            body,
            error_type: Some(name),
        }
    }

    // Clients count through Bedrock's `count-tokens` route, which is
    // Converse's; a lane of this format counts upstream with the
    // `invokeModel` input.

    fn decode_count_request(&self, value: &Value) -> Option<Result<DecodedRequest, DecodeError>> {
        Some(super::count::decode_request(value))
    }

    fn encode_count_request(&self, request: &Request, options: &RequestOptions) -> Option<Encoded> {
        Some(super::count::encode_request(request, options))
    }

    fn decode_count_reply(&self, body: &[u8]) -> Option<Result<u64, DecodeError>> {
        Some(super::count::decode_reply(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_paths_route_with_the_model_encoded_or_not() {
        for path in [
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke",
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
        ] {
            assert_eq!(
                BedrockInvoke.route(path, None),
                PathMatch::Route(
                    IngressRoute::new(Protocol::BedrockInvoke, Endpoint::Generate)
                        .with_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0".into())
                        .with_stream(false)
                )
            );
        }
        let PathMatch::Route(route) =
            BedrockInvoke.route("/model/m/invoke-with-response-stream", None)
        else {
            panic!("not routed");
        };
        assert_eq!(route.stream, Some(true));
        assert_eq!(
            BedrockInvoke.route("/model/m/converse", None),
            PathMatch::No
        );
        assert_eq!(
            BedrockInvoke.route("/model//invoke", None),
            PathMatch::NotFound
        );
        assert_eq!(
            BedrockInvoke.upstream_path("anthropic.claude-v1:0", true),
            "/model/anthropic.claude-v1%3A0/invoke-with-response-stream"
        );
    }
}
