//! [`Wire`]: everything Busbar knows about one wire format, in one place.
//!
//! Each format's module implements the trait once (its `wire.rs`), and the
//! rest of the workspace asks it: the server's ingress router for the paths a
//! client calls and where the model name is; the upstream request builder
//! for the path, the credential scheme and the extra headers; governance for
//! the token cap and the number of replies asked for; the relay for the
//! content types and the end-of-stream markers; translation for the codecs.
//! [`Protocol::wire`] finds a format's implementation.

use busbar_ir::{ApiError, Request, Response};
use serde_json::Value;

use crate::cloud::Platform;
use crate::error::DecodeError;
use crate::{
    DecodedRequest, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions, StreamDecoder,
    StreamEncoder,
};

/// What a client's request path asks of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngressRoute {
    /// The format the client speaks.
    pub protocol: Protocol,
    /// Generation or token counting.
    pub endpoint: Endpoint,
    /// The model name, for paths that carry it.
    pub model: Option<String>,
    /// Streamed or not, for paths that say so (Gemini, Bedrock); `None` when
    /// the body's `stream` field decides.
    pub stream: Option<bool>,
    /// Gemini's `:streamGenerateContent` without `alt=sse`: the reply
    /// streams as one JSON array.
    pub json_array: bool,
    /// The cloud platform whose path the client called (Vertex AI's
    /// `:rawPredict`, Azure's `/openai/deployments/D/…`), if any.
    pub platform: Option<Platform>,
}

impl IngressRoute {
    /// A route whose path names neither the model nor streaming.
    pub fn new(protocol: Protocol, endpoint: Endpoint) -> Self {
        Self {
            protocol,
            endpoint,
            model: None,
            stream: None,
            json_array: false,
            platform: None,
        }
    }

    /// The same route naming `model`.
    pub fn with_model(mut self, model: String) -> Self {
        self.model = Some(model);
        self
    }

    /// The same route, called at `platform`'s path.
    pub fn on(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// The same route, streamed or not as its path says.
    pub fn with_stream(mut self, stream: bool) -> Self {
        self.stream = Some(stream);
        self
    }
}

/// Which of a format's endpoints a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Generating a reply.
    Generate,
    /// Counting a request's input tokens.
    CountTokens,
}

/// How a format answers a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The path is not the format's.
    No,
    /// One of the format's endpoints.
    Route(IngressRoute),
    /// The path lies in the format's namespace (`/v1beta/models/…`) but names
    /// no endpoint: a 404, whatever another format would make of it.
    NotFound,
    /// A path that is the format's only when no other format claims it
    /// (Anthropic's `/{model}/v1/messages`, whose prefix is free-form).
    Fallback(IngressRoute),
}

/// How a format presents an API key upstream when the provider sets no
/// `auth:` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// The key alone, in the named header (`x-api-key`).
    Named(&'static str),
}

/// A header a format's upstream requests carry besides the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamHeader {
    /// The header's name, lower-case.
    pub name: &'static str,
    /// The value sent when the client gave none (or is translated).
    pub default: Option<&'static str>,
    /// Whether a client of the same format has its own value forwarded.
    pub forwarded: bool,
}

/// One wire format: its paths, credentials, headers, framing and codecs.
///
/// Implemented once per format module; reach one with [`Protocol::wire`].
pub trait Wire: Send + Sync {
    /// The format this is.
    fn protocol(&self) -> Protocol;

    /// The format's name in configuration (`openai`, `bedrock`, …).
    fn name(&self) -> &'static str;

    // ----- Ingress: what clients call -----

    /// What the request path (without its query) names, if it is this
    /// format's. Only POST routes are described here; the server answers
    /// other methods on them with 405.
    fn route(&self, path: &str, query: Option<&str>) -> PathMatch;

    /// Body fields a client calling at `platform`'s path adds to the
    /// format's own (Vertex's `anthropic_version` beside Claude's
    /// Messages): left out of a same-format relay to a lane that is not on
    /// that platform, whose vendor would refuse them.
    fn platform_fields(&self, platform: Platform) -> &'static [&'static str] {
        let _ = platform;
        &[]
    }

    /// The paths where a client lists models with GET, in this format's
    /// list shape (OpenAI's `/v1/models`, Gemini's `/v1beta/models`).
    fn model_list_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// The model list at [`model_list_paths`](Self::model_list_paths):
    /// `names` (pools and models a caller may use), `created` Unix seconds
    /// where the shape wants a time.
    fn encode_model_list(&self, names: &[&str], created: u64) -> Vec<u8> {
        let _ = (names, created);
        Vec::new()
    }

    /// Whether the request body names the model (`model` field); Gemini and
    /// Bedrock put it in the path instead.
    fn model_in_body(&self) -> bool {
        true
    }

    /// Where a request states its reply's token cap, in order of precedence:
    /// each entry a path of object keys (`["inferenceConfig", "maxTokens"]`).
    fn max_tokens_fields(&self) -> &'static [&'static [&'static str]];

    /// Where a request asks for several alternative replies at once (OpenAI
    /// Chat's `n`, Gemini's `generationConfig.candidateCount`), in order of
    /// precedence; each reply may use the whole token cap, so governance
    /// reserves that many times it. Empty for formats that always answer
    /// with one reply.
    fn choice_count_fields(&self) -> &'static [&'static [&'static str]] {
        &[]
    }

    /// Where a client opts in to usage in its stream (OpenAI Chat's
    /// `stream_options.include_usage`), for formats where streams carry it
    /// only when asked; `None` when a stream always reports usage.
    fn stream_usage_flag(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Request headers that may carry a client's credential, in the order
    /// they are read (`Authorization: Bearer` is read for every format).
    fn credential_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// A query parameter that may carry a client's credential (`key`).
    fn credential_query(&self) -> Option<&'static str> {
        None
    }

    /// Whether the format's requests carry reasoning signatures back to the
    /// vendor (see `signature.rs`).
    fn carries_signatures(&self) -> bool {
        false
    }

    /// Whether the format's signatures are base64 bytes (Gemini), so a
    /// signature marked with another origin reaches its clients
    /// base64-wrapped.
    fn signatures_in_base64(&self) -> bool {
        false
    }

    // ----- Upstream: what Busbar calls -----

    /// The upstream path for `model` (percent-encoded where the path carries
    /// it), streamed or not.
    fn upstream_path(&self, model: &str, stream: bool) -> String;

    /// The token-counting path derived from a generation path (without a
    /// query); `None` when the format has no counting endpoint or `path` does
    /// not end the way the format's generation path does.
    fn count_path(&self, path: &str) -> Option<String> {
        let _ = path;
        None
    }

    /// How an API key is presented when the provider says nothing else.
    fn key_header(&self, key: &str) -> KeyHeader {
        let _ = key;
        KeyHeader::Bearer
    }

    /// The AWS service name when requests are signed with SigV4 (Bedrock's
    /// `bedrock`): Busbar signs its own when the key is an AWS key pair, and
    /// clients may sign theirs.
    fn sigv4_service(&self) -> Option<&'static str> {
        None
    }

    /// Headers sent upstream besides the credential.
    fn upstream_headers(&self) -> &'static [UpstreamHeader] {
        &[]
    }

    /// The `Accept` header of a streamed upstream request, if the format
    /// wants one.
    fn stream_accept(&self) -> Option<&'static str> {
        Some("text/event-stream")
    }

    /// A same-format token-count body readied for an upstream serving
    /// `model`, when the body itself names a model; `None` sends it as it
    /// came.
    fn count_body_for(&self, body: &[u8], model: &str) -> Option<Vec<u8>> {
        let _ = (body, model);
        None
    }

    // ----- Replies -----

    /// The `Content-Type` of a streamed reply.
    fn stream_content_type(&self, options: &ReplyOptions) -> &'static str {
        let _ = options;
        "text/event-stream"
    }

    /// Byte strings that only the format's terminal stream event contains,
    /// chosen so that text inside a JSON string can never produce one (see
    /// [`EndWatch`](crate::EndWatch)).
    fn end_markers(&self) -> &'static [&'static [u8]];

    // ----- Codecs -----

    /// Decodes a request body, already parsed as JSON.
    fn decode_request(&self, value: &Value) -> Result<Request, DecodeError>;

    /// The request fields the client set that the IR cannot carry.
    fn unsupported_fields(&self, value: &Value) -> Vec<&'static str>;

    /// Responses only: the request's `namespace` tool names.
    fn tool_namespaces(&self, value: &Value) -> Vec<String> {
        let _ = value;
        Vec::new()
    }

    /// Encodes a request for an upstream of this format.
    fn encode_request(&self, request: &Request, options: &RequestOptions) -> Encoded;

    /// Decodes a complete reply body.
    fn decode_response(&self, body: &[u8]) -> Result<Response, DecodeError>;

    /// Encodes a complete reply for a client of this format.
    fn encode_response(&self, response: &Response, options: &ReplyOptions) -> Encoded;

    /// A decoder for one upstream stream.
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;

    /// An encoder for one client stream.
    fn stream_encoder(&self, options: &ReplyOptions) -> Box<dyn StreamEncoder>;

    /// Reads an upstream error reply; `error_type` is the `x-amzn-errortype`
    /// header (Bedrock names its errors there).
    fn decode_error(&self, status: u16, body: &[u8], error_type: Option<&str>) -> ApiError;

    /// Renders an error for a client of this format.
    fn encode_error(&self, error: &ApiError) -> EncodedError;

    // ----- Token counting -----

    /// Whether the format has a token-counting endpoint.
    fn counts_tokens(&self) -> bool {
        false
    }

    /// Decodes a token-count request; `None` for formats without one, whose
    /// generation body is read instead.
    fn decode_count_request(&self, value: &Value) -> Option<Result<DecodedRequest, DecodeError>> {
        let _ = value;
        None
    }

    /// The request for the counting endpoint; `None` when there is none.
    fn encode_count_request(&self, request: &Request, options: &RequestOptions) -> Option<Encoded> {
        let _ = (request, options);
        None
    }

    /// The count in a reply from the counting endpoint.
    fn decode_count_reply(&self, body: &[u8]) -> Option<Result<u64, DecodeError>> {
        let _ = body;
        None
    }

    /// A count as the counting endpoint replies it; `None` for formats
    /// without one.
    fn encode_count_reply(&self, tokens: u64) -> Option<Vec<u8>> {
        let _ = tokens;
        None
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a
/// model id inside a path (`…-v1:0` → `…-v1%3A0`, an ARN's `/` → `%2F`).
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes. `None` when an escape is malformed or the result
/// is not UTF-8.
pub fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return Some(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A path segment that names a model: percent-decoded and not empty.
pub(crate) fn model_segment(segment: &str) -> Option<String> {
    percent_decode(segment).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips_and_rejects_bad_escapes() {
        let id = "arn:aws:bedrock:us-east-1:1:inference-profile/x y";
        assert_eq!(
            percent_encode(id),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx%20y"
        );
        assert_eq!(percent_decode(&percent_encode(id)).as_deref(), Some(id));
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("a%4"), None);
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(model_segment(""), None);
    }

    #[test]
    fn every_format_names_itself_and_has_end_markers() {
        for protocol in Protocol::ALL {
            let wire = protocol.wire();
            assert_eq!(wire.protocol(), protocol);
            assert_eq!(Protocol::from_name(wire.name()), Some(protocol));
            assert!(!wire.end_markers().is_empty(), "{protocol}");
            assert!(!wire.max_tokens_fields().is_empty(), "{protocol}");
            assert_eq!(
                wire.counts_tokens(),
                wire.encode_count_reply(1).is_some(),
                "{protocol}"
            );
        }
    }
}
