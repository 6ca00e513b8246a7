//! [`Protocol`]: one wire format, chosen at run time.

use std::fmt;

use busbar_ir::{ApiError, ErrorKind, Request, Response, StreamEvent};

use crate::error::DecodeError;
use crate::wire::Wire;
use crate::{anthropic, bedrock, cohere, gemini, invoke, openai, overflow, responses, signature};

/// A wire format Busbar speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OpenAI Chat Completions.
    OpenAi,
    /// OpenAI Responses.
    Responses,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// Cohere Chat v2.
    Cohere,
    /// Amazon Bedrock Converse.
    Bedrock,
    /// Anthropic Messages through Amazon Bedrock's InvokeModel.
    BedrockInvoke,
}

/// An error rendered for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodedError {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The exception name for the `x-amzn-errortype` header (Bedrock).
    pub error_type: Option<&'static str>,
}

impl EncodedError {
    /// An error rendered as a status and a body alone.
    pub fn plain((status, body): (u16, Vec<u8>)) -> Self {
        Self {
            status,
            body,
            error_type: None,
        }
    }
}

/// Bytes produced by an encoder, with the names of request or response fields
/// the target format could not express and therefore dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Encoded {
    /// The encoded body.
    pub body: Vec<u8>,
    /// Fields left out, as the source format names them (`top_k`, `seed`).
    pub dropped: Vec<&'static str>,
}

impl Encoded {
    /// Encoded bytes with nothing dropped.
    pub fn new(body: Vec<u8>) -> Self {
        Self {
            body,
            dropped: Vec::new(),
        }
    }
}

/// A decoded request and the fields the client set that the IR cannot carry.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecodedRequest {
    /// The request.
    pub request: Request,
    /// Fields set but not representable, as the ingress format names them.
    pub unsupported: Vec<&'static str>,
    /// Responses only: the names of the request's `namespace` tools, whose
    /// functions the IR holds as `NAMESPACE__NAME`.
    pub tool_namespaces: Vec<String>,
}

impl DecodedRequest {
    /// Everything a translation leaves out: the fields the IR could not
    /// carry, then those the egress encoder `dropped`, each named once.
    pub fn dropped_with(&self, dropped: &[&'static str]) -> Vec<&'static str> {
        let mut names = self.unsupported.clone();
        names.extend(
            dropped
                .iter()
                .filter(|name| !self.unsupported.contains(name)),
        );
        names
    }
}

/// What an egress request encoder needs beyond the request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestOptions {
    /// The model id to send upstream.
    pub model: String,
    /// `max_tokens` to send when the request has none and the format requires
    /// one (Anthropic).
    pub default_max_tokens: u64,
    /// The client's protocol, when known: a reasoning signature without an
    /// origin prefix came from that vendor, and goes to no other (see
    /// `signature.rs`).
    pub ingress: Option<Protocol>,
}

impl RequestOptions {
    /// Options for sending to `model`, with Busbar's default `max_tokens` (4096).
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            default_max_tokens: 4096,
            ingress: None,
        }
    }
}

/// What an ingress reply encoder (streamed or not) needs beyond the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyOptions {
    /// Unix seconds to report as the reply's creation time when the events
    /// carry none.
    pub created: u64,
    /// Whether the client asked for usage in the stream (OpenAI
    /// `stream_options.include_usage`); formats that always report usage
    /// ignore it.
    pub include_usage: bool,
    /// Gemini only: stream one JSON array (`:streamGenerateContent` without
    /// `alt=sse`) rather than Server-Sent Events.
    pub json_array: bool,
    /// Responses only: the request's namespace tools (see
    /// [`DecodedRequest::tool_namespaces`]), so that a call to one of their
    /// functions goes back as `{namespace, name}`.
    pub tool_namespaces: Vec<String>,
    /// The protocol the reply came from, on a translated hop: its reasoning
    /// signatures reach the client prefixed with its name (see
    /// `signature.rs`).
    pub egress: Option<Protocol>,
}

impl ReplyOptions {
    /// Options with the given creation time and no usage chunk.
    pub fn new(created: u64) -> Self {
        Self {
            created,
            include_usage: false,
            json_array: false,
            tool_namespaces: Vec::new(),
            egress: None,
        }
    }
}

/// Turns one upstream stream's bytes into IR events. One value per stream: it
/// keeps the state the format needs (open blocks, pending stop reason, …).
pub trait StreamDecoder: Send {
    /// Decodes the next bytes as they arrived, in any split; appends the
    /// events they complete to `out`.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError>;

    /// The upstream ended. Appends any events still pending; fails with
    /// [`DecodeError::Truncated`] when the stream ended before its format's
    /// terminal event.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError>;
}

/// Turns IR events into one client stream's bytes. One value per stream.
pub trait StreamEncoder: Send {
    /// Appends the bytes for `event` to `out` (possibly none).
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>);

    /// The stream is over: appends any terminal marker the format needs
    /// (OpenAI's `data: [DONE]`). Called once, after the last event.
    fn finish(&mut self, out: &mut Vec<u8>);
}

/// Runs `$body` with `$wire` bound to the format's own `Wire` type: the one
/// list of the formats' implementations. The codec calls on the request path
/// go through it, so they are static (and inlined) rather than calls through
/// the trait object [`Protocol::wire`] returns; measured, that is about a
/// tenth of a translated request's protocol work.
macro_rules! on_wire {
    ($protocol:expr, |$wire:ident| $body:expr) => {
        match $protocol {
            Protocol::OpenAi => {
                let $wire = &openai::OpenAiChat;
                $body
            }
            Protocol::Responses => {
                let $wire = &responses::OpenAiResponses;
                $body
            }
            Protocol::Anthropic => {
                let $wire = &anthropic::AnthropicMessages;
                $body
            }
            Protocol::Gemini => {
                let $wire = &gemini::GeminiGenerate;
                $body
            }
            Protocol::Cohere => {
                let $wire = &cohere::CohereChat;
                $body
            }
            Protocol::Bedrock => {
                let $wire = &bedrock::BedrockConverse;
                $body
            }
            Protocol::BedrockInvoke => {
                let $wire = &invoke::BedrockInvoke;
                $body
            }
        }
    };
}

/// `value` with `model` added when it is an object naming none.
pub(crate) fn named(mut value: serde_json::Value, model: Option<&str>) -> serde_json::Value {
    if let (Some(model), Some(object)) = (model, value.as_object_mut()) {
        let entry = object.entry("model").or_insert(serde_json::Value::Null);
        if entry.is_null() {
            *entry = serde_json::Value::from(model);
        }
    }
    value
}

impl Protocol {
    /// All seven, in the order README.md's route table lists them.
    pub const ALL: [Protocol; 7] = [
        Protocol::OpenAi,
        Protocol::Responses,
        Protocol::Anthropic,
        Protocol::Gemini,
        Protocol::Cohere,
        Protocol::Bedrock,
        Protocol::BedrockInvoke,
    ];

    /// Everything Busbar knows about the format: its paths, credentials,
    /// headers, framing and codecs.
    pub fn wire(self) -> &'static dyn Wire {
        on_wire!(self, |wire| wire)
    }

    /// The format's name as configuration spells it.
    pub fn name(self) -> &'static str {
        self.wire().name()
    }

    /// The format called `name` in configuration.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|protocol| protocol.name() == name)
    }

    /// Whether the request body names the model (`model` field). Gemini and
    /// Bedrock put it in the URL path instead.
    pub fn model_in_body(self) -> bool {
        self.wire().model_in_body()
    }

    /// Decodes a request body, naming the fields it set that the IR cannot
    /// carry (and a translation will therefore drop).
    pub fn decode_request(self, body: &[u8]) -> Result<DecodedRequest, DecodeError> {
        self.decode_request_named(body, None)
    }

    /// [`decode_request`](Self::decode_request) for a request whose path
    /// named `model`: a body without a `model` of its own is read as naming
    /// it (Azure's deployments API, whose bodies may leave it out).
    pub fn decode_request_named(
        self,
        body: &[u8],
        model: Option<&str>,
    ) -> Result<DecodedRequest, DecodeError> {
        let value = named(serde_json::from_slice(body)?, model);
        on_wire!(self, |wire| Ok(DecodedRequest {
            request: wire.decode_request(&value)?,
            unsupported: wire.unsupported_fields(&value),
            tool_namespaces: wire.tool_namespaces(&value),
        }))
    }

    /// Whether a request body of this format may carry a reasoning signature
    /// that Busbar marked as another vendor's: such a request must go
    /// through the IR even to an upstream of this format, so that the mark is
    /// honoured rather than relayed.
    pub fn carries_marked_signatures(self, body: &[u8]) -> bool {
        signature::carries_marked(self, body)
    }

    /// Encodes a request body for an upstream of this format.
    pub fn encode_request(self, request: &Request, options: &RequestOptions) -> Encoded {
        on_wire!(self, |wire| wire.encode_request(request, options))
    }

    /// Decodes a complete reply body.
    pub fn decode_response(self, body: &[u8]) -> Result<Response, DecodeError> {
        on_wire!(self, |wire| wire.decode_response(body))
    }

    /// Encodes a complete reply body for a client of this format; the
    /// options' `created` (Unix seconds) is used when the reply carries none.
    pub fn encode_response(self, response: &Response, options: &ReplyOptions) -> Encoded {
        let response = &*signature::mark_response(response, self, options.egress);
        on_wire!(self, |wire| wire.encode_response(response, options))
    }

    /// A decoder for one upstream stream of this format.
    pub fn stream_decoder(self) -> Box<dyn StreamDecoder> {
        on_wire!(self, |wire| wire.stream_decoder())
    }

    /// An encoder for one client stream of this format.
    pub fn stream_encoder(self, options: &ReplyOptions) -> Box<dyn StreamEncoder> {
        let encoder = on_wire!(self, |wire| wire.stream_encoder(options));
        match options.egress {
            Some(egress) if egress != self => {
                Box::new(signature::Marking::new(encoder, self, egress))
            }
            _ => encoder,
        }
    }

    /// Reads an upstream error reply of this format. `error_type` is the
    /// `x-amzn-errortype` response header, which Bedrock names its errors in.
    ///
    /// Beyond what the format's own decoder recognises, a 400 or 413 whose
    /// words say the prompt does not fit (in any vendor's phrasing: a
    /// provider may relay another's error) is a context-length error.
    pub fn decode_error(self, status: u16, body: &[u8], error_type: Option<&str>) -> ApiError {
        let mut error = self.wire().decode_error(status, body, error_type);
        if matches!(status, 400 | 413)
            && matches!(
                error.kind,
                ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge
            )
            && overflow::says_prompt_too_long(error.code.as_deref(), &error.message)
        {
            error.kind = ErrorKind::ContextLength;
        }
        error
    }

    /// Renders an error for a client of this format.
    pub fn encode_error(self, error: &ApiError) -> EncodedError {
        self.wire().encode_error(error)
    }

    /// The `Content-Type` of this format's streamed replies.
    pub fn stream_content_type(self, options: &ReplyOptions) -> &'static str {
        self.wire().stream_content_type(options)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_named_model_fills_in_for_a_body_without_one() {
        let body = br#"{"messages":[{"role":"user","content":"hi"}]}"#;
        assert!(Protocol::OpenAi.decode_request(body).is_err());
        let decoded = Protocol::OpenAi
            .decode_request_named(body, Some("deployment"))
            .unwrap();
        assert_eq!(decoded.request.model, "deployment");
        // A body's own model is kept; the server routes by the path's.
        let own = br#"{"model":"own","input":"hi"}"#;
        let decoded = Protocol::Responses
            .decode_request_named(own, Some("deployment"))
            .unwrap();
        assert_eq!(decoded.request.model, "own");
        let counted = Protocol::Responses
            .decode_count_request_named(br#"{"input":"hi"}"#, Some("d"))
            .unwrap();
        assert_eq!(counted.request.model, "d");
    }
}
