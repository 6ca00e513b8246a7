//! The wire formats the mock speaks, and the dispatch from a request path to a format module.
//!
//! Every format module has the same inner shape: `handle` (auth, validation, reply or stream),
//! `error` (a [`VendorError`] as that vendor's status and body), `stream_error_event` and
//! `not_found`. Adding a format means one module and one arm in each match below.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::cloud::{self, Cloud};
use crate::faults::VendorError;
use crate::server::Shared;
use crate::{anthropic, bedrock, cohere, gemini, openai, responses};

/// A vendor wire format the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// OpenAI Chat Completions: `POST …/chat/completions`.
    OpenAiChat,
    /// OpenAI Responses: `POST …/responses` (and `…/responses/input_tokens`).
    Responses,
    /// Anthropic Messages: `POST …/v1/messages` (and `…/v1/messages/count_tokens`).
    Anthropic,
    /// Gemini: `POST …/models/{model}:generateContent`, `:streamGenerateContent` and `:countTokens`.
    Gemini,
    /// Cohere Chat v2: `POST …/v2/chat`.
    Cohere,
    /// Bedrock Converse: `POST …/model/{model}/converse`, `/converse-stream` and `/count-tokens`.
    Bedrock,
    /// Claude through Bedrock's InvokeModel: `POST …/model/{model}/invoke` and
    /// `/invoke-with-response-stream`.
    BedrockInvoke,
}

/// What a format module sees of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    /// The path, without the query.
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    /// The body as received (Bedrock's signature covers it).
    pub(crate) body: &'a [u8],
    /// The body parsed, when it is JSON.
    pub(crate) json: Option<&'a Value>,
}

impl Request<'_> {
    /// The first value of a query parameter, as sent (not percent-decoded).
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find_map(|(key, value)| (key == name).then_some(value))
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case("bearer ")
        .then(|| value[7..].trim())
}

impl Format {
    /// Every format served.
    pub const ALL: &'static [Format] = &[
        Format::OpenAiChat,
        Format::Responses,
        Format::Anthropic,
        Format::Gemini,
        Format::Cohere,
        Format::Bedrock,
        Format::BedrockInvoke,
    ];

    /// The vendor's own path for the format, `{model}` standing for the model where the path
    /// names it; the mock also accepts it under any prefix.
    pub fn default_path(self) -> &'static str {
        match self {
            Self::OpenAiChat => "/v1/chat/completions",
            Self::Responses => "/v1/responses",
            Self::Anthropic => "/v1/messages",
            Self::Gemini => "/v1beta/models/{model}:generateContent",
            Self::Cohere => "/v2/chat",
            Self::Bedrock => "/model/{model}/converse",
            Self::BedrockInvoke => "/model/{model}/invoke",
        }
    }

    /// The format served at `path` (without query), matched by suffix.
    pub fn for_path(path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        // `/chat/completions` rather than `/v1/chat/completions` so Azure's
        // `/openai/deployments/D/chat/completions` is served too.
        if path.ends_with("/chat/completions") {
            Some(Self::OpenAiChat)
        } else if path.ends_with("/responses") || path.ends_with("/responses/input_tokens") {
            Some(Self::Responses)
        } else if path.ends_with("/v1/messages")
            || anthropic::is_count_path(path)
            || cloud::vertex_claude(path).is_some()
        {
            Some(Self::Anthropic)
        } else if path.ends_with("/v2/chat") {
            Some(Self::Cohere)
        } else if gemini::route(path).is_some() || gemini::count_route(path).is_some() {
            Some(Self::Gemini)
        } else if bedrock::invoke::route(path).is_some() {
            Some(Self::BedrockInvoke)
        } else if bedrock::route(path).is_some() || bedrock::count_route(path).is_some() {
            Some(Self::Bedrock)
        } else {
            None
        }
    }

    /// The model a request asks for: from the path for Gemini and Bedrock, else the body.
    pub(crate) fn model<'a>(self, path: &'a str, json: Option<&'a Value>) -> Option<Cow<'a, str>> {
        match self {
            Self::Gemini => gemini::route(path)
                .map(|(model, _)| model)
                .or_else(|| gemini::count_route(path))
                .map(Cow::Borrowed),
            Self::Bedrock => bedrock::route(path)
                .map(|(model, _)| model)
                .or_else(|| bedrock::count_route(path))
                .map(bedrock::decode_model),
            Self::BedrockInvoke => bedrock::invoke::route(path)
                .map(|(model, _)| model)
                .map(bedrock::decode_model),
            Self::Anthropic => match cloud::vertex_claude(path) {
                Some(claude) => claude.model.map(Cow::Borrowed),
                None => json?.get("model")?.as_str().map(Cow::Borrowed),
            },
            _ => json?.get("model")?.as_str().map(Cow::Borrowed),
        }
    }

    /// Whether a request asks for a stream: by path for Gemini and Bedrock, else `stream: true`.
    pub(crate) fn streams(self, path: &str, json: Option<&Value>) -> bool {
        match self {
            Self::Gemini => gemini::route(path).is_some_and(|(_, stream)| stream),
            Self::Bedrock => bedrock::route(path).is_some_and(|(_, stream)| stream),
            Self::BedrockInvoke => bedrock::invoke::route(path).is_some_and(|(_, stream)| stream),
            _ => json
                .and_then(|j| j.get("stream"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// The format whose error shape suits a request to an unknown path.
    pub(crate) fn guess(path: &str, query: Option<&str>, headers: &HeaderMap) -> Self {
        let has = |name: &str| headers.contains_key(name);
        let aws_signed = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("AWS4-"));
        let keyed_query = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("key=")));
        if has("anthropic-version") || has("x-api-key") || path.contains("anthropic") {
            Self::Anthropic
        } else if has("x-goog-api-key") || keyed_query || path.contains("/v1beta/") {
            Self::Gemini
        } else if aws_signed || has("x-amz-date") || path.contains("/model/") {
            Self::Bedrock
        } else if path.contains("/v2/") {
            Self::Cohere
        } else {
            Self::OpenAiChat
        }
    }

    /// The response header carrying the vendor's request id, when the vendor sends one.
    pub(crate) fn request_id_header(self) -> Option<HeaderName> {
        match self {
            Self::OpenAiChat | Self::Responses => Some(HeaderName::from_static("x-request-id")),
            Self::Anthropic => Some(HeaderName::from_static("request-id")),
            Self::Bedrock | Self::BedrockInvoke => {
                Some(HeaderName::from_static("x-amzn-requestid"))
            }
            Self::Gemini | Self::Cohere => None,
        }
    }

    /// Answers a request routed to this format.
    pub(crate) fn handle(self, shared: &Shared, request: &Request<'_>) -> Outcome {
        if request.method != Method::POST {
            return self.not_found(request.method, request.path);
        }
        let platform = Cloud::of(request.path);
        if let Some(refusal) = platform.and_then(|cloud| cloud::refusal(shared, request, cloud)) {
            return refusal;
        }
        // The platform checked the credential; the vendor's own check is not made.
        let keyed = platform.is_none();
        match self {
            Self::OpenAiChat => openai::handle(shared, request.headers, request.json, keyed),
            Self::Responses => responses::handle(shared, request),
            Self::Anthropic => anthropic::handle(shared, request),
            Self::Gemini => gemini::handle(shared, request),
            Self::Cohere => cohere::handle(shared, request.headers, request.json),
            Self::Bedrock => bedrock::handle(shared, request),
            Self::BedrockInvoke => bedrock::invoke::handle(shared, request),
        }
    }

    /// A vendor error as a complete reply.
    pub(crate) fn error(self, error: &VendorError) -> Outcome {
        if let Some(body) = &error.raw_body {
            let status = error.status.unwrap_or(500);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Outcome::json(status, body.clone()).retry_after(error.retry_after);
        }
        let outcome = match self {
            Self::OpenAiChat | Self::Responses => openai::error(error),
            Self::Anthropic => anthropic::error(error),
            Self::Gemini => gemini::error(error),
            Self::Cohere => cohere::error(error),
            Self::Bedrock | Self::BedrockInvoke => bedrock::error(error),
        };
        outcome.retry_after(error.retry_after)
    }

    /// The event a vendor sends when a stream fails after its headers went out, as the
    /// `sequence`-th event of the stream (counting from 0).
    pub(crate) fn stream_error_event(
        self,
        error: &VendorError,
        request: &Request<'_>,
        sequence: usize,
    ) -> Bytes {
        match self {
            Self::OpenAiChat => openai::stream_error_event(error),
            Self::Responses => responses::stream_error_event(error, sequence),
            Self::Anthropic => anthropic::stream_error_event(error),
            Self::Gemini => gemini::stream_error_event(error, request),
            Self::Cohere => cohere::stream_error_event(error),
            Self::Bedrock | Self::BedrockInvoke => bedrock::stream_error_event(error),
        }
    }

    /// The vendor's 404 for a route it does not serve.
    pub(crate) fn not_found(self, method: &Method, path: &str) -> Outcome {
        match self {
            Self::OpenAiChat | Self::Responses => openai::not_found(method, path),
            Self::Anthropic => anthropic::not_found(),
            Self::Gemini => gemini::not_found(path),
            Self::Cohere => cohere::not_found(),
            Self::Bedrock | Self::BedrockInvoke => bedrock::not_found(),
        }
    }
}

/// A format module's answer, before faults on the body are applied.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A complete JSON body.
    Json {
        status: StatusCode,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    },
    /// A 200 event stream; each entry is one complete event, written as its own body frame.
    Stream {
        headers: Vec<(HeaderName, HeaderValue)>,
        events: Vec<Bytes>,
    },
}

impl Outcome {
    /// A JSON reply.
    pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self::Json {
            status,
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body: body.into(),
        }
    }

    /// A server-sent events reply.
    pub(crate) fn stream(events: Vec<Bytes>) -> Self {
        Self::stream_of("text/event-stream; charset=utf-8", events).header(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        )
    }

    /// A 200 streamed reply of `content_type` (Gemini's JSON array, Bedrock's event stream).
    pub(crate) fn stream_of(content_type: &'static str, events: Vec<Bytes>) -> Self {
        let headers = vec![(CONTENT_TYPE, HeaderValue::from_static(content_type))];
        Self::Stream { headers, events }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        match &mut self {
            Self::Json { headers, .. } | Self::Stream { headers, .. } => {
                headers.push((name, value))
            }
        }
        self
    }

    fn retry_after(self, seconds: Option<u64>) -> Self {
        match seconds {
            Some(seconds) => self.header(http::header::RETRY_AFTER, HeaderValue::from(seconds)),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_by_suffix() {
        let cases = [
            ("/v1/chat/completions", Some(Format::OpenAiChat)),
            ("/openai/v1/chat/completions/", Some(Format::OpenAiChat)),
            (
                "/openai/deployments/gpt/chat/completions",
                Some(Format::OpenAiChat),
            ),
            ("/pool/v1/messages", Some(Format::Anthropic)),
            ("/v1/messages/count_tokens", Some(Format::Anthropic)),
            ("/v1/messages/batches", None),
            ("/v1/models", None),
            ("/openai/v1/responses", Some(Format::Responses)),
            ("/v1/responses/resp_1", None),
            ("/v1/responses/input_tokens", Some(Format::Responses)),
            (
                "/v1beta/models/gemini-2.5-pro:generateContent",
                Some(Format::Gemini),
            ),
            (
                "/g/v1/models/gemini-3:streamGenerateContent",
                Some(Format::Gemini),
            ),
            ("/v1beta/models/gemini-3:countTokens", Some(Format::Gemini)),
            ("/v1beta/models/gemini-3:embedContent", None),
            ("/v1beta/models/:generateContent", None),
            ("/cohere/v2/chat", Some(Format::Cohere)),
            ("/v1/chat", None),
            (
                "/model/anthropic.claude-v2%3A1/converse",
                Some(Format::Bedrock),
            ),
            ("/b/model/m/converse-stream", Some(Format::Bedrock)),
            ("/model/m/invoke", Some(Format::BedrockInvoke)),
            ("/model/m/count-tokens", Some(Format::Bedrock)),
            ("/model//converse", None),
        ];
        for (path, format) in cases {
            assert_eq!(Format::for_path(path), format, "{path}");
        }
        for &format in Format::ALL {
            assert_eq!(Format::for_path(format.default_path()), Some(format));
        }
    }

    #[test]
    fn models_and_streams_come_from_the_path_or_the_body() {
        let body = serde_json::json!({"model": "m", "stream": true});
        let gemini = "/v1beta/models/gemini-x:streamGenerateContent";
        assert_eq!(
            Format::Gemini.model(gemini, None).as_deref(),
            Some("gemini-x")
        );
        assert!(Format::Gemini.streams(gemini, Some(&body)));
        let bedrock = "/model/us.anthropic.claude%3A0/converse";
        assert_eq!(
            Format::Bedrock.model(bedrock, Some(&body)).as_deref(),
            Some("us.anthropic.claude:0")
        );
        assert!(!Format::Bedrock.streams(bedrock, Some(&body)));
        assert_eq!(
            Format::Cohere.model("/v2/chat", Some(&body)).as_deref(),
            Some("m")
        );
        assert!(Format::Responses.streams("/v1/responses", Some(&body)));
    }

    #[test]
    fn unknown_paths_guess_the_vendor() {
        let mut headers = HeaderMap::new();
        assert_eq!(Format::guess("/nope", None, &headers), Format::OpenAiChat);
        assert_eq!(
            Format::guess("/nope", Some("a=1&key=k"), &headers),
            Format::Gemini
        );
        assert_eq!(Format::guess("/v2/nope", None, &headers), Format::Cohere);
        headers.insert("x-amz-date", HeaderValue::from_static("20240101T000000Z"));
        assert_eq!(Format::guess("/nope", None, &headers), Format::Bedrock);
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(Format::guess("/nope", None, &headers), Format::Anthropic);
    }

    #[test]
    fn query_parameters_and_bearer_tokens() {
        let headers = HeaderMap::new();
        let request = Request {
            method: &Method::POST,
            path: "/x",
            query: Some("alt=sse&key=abc&flag"),
            headers: &headers,
            body: b"",
            json: None,
        };
        assert_eq!(request.query_param("key"), Some("abc"));
        assert_eq!(request.query_param("flag"), Some(""));
        assert_eq!(request.query_param("nope"), None);
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("bearer  tok "));
        assert_eq!(bearer(&headers), Some("tok"));
        headers.insert("authorization", HeaderValue::from_static("Basic x"));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn raw_errors_keep_their_body_and_retry_after() {
        let error = VendorError::raw(418, "{\"x\":1}").with_retry_after(7);
        let Outcome::Json {
            status,
            headers,
            body,
        } = Format::Anthropic.error(&error)
        else {
            panic!("a raw error is a JSON outcome");
        };
        assert_eq!(status.as_u16(), 418);
        assert_eq!(&body[..], b"{\"x\":1}");
        assert!(headers.iter().any(|(n, v)| n == "retry-after" && v == "7"));
    }
}
