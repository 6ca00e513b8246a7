//! The wire formats the mock speaks, and the dispatch from a request path to a format module.
//!
//! Every format module has the same inner shape: `handle` (auth, validation, reply or stream),
//! `error` (a [`VendorError`] as that vendor's status and body), `stream_error_event` and
//! `not_found`. Adding a format means one module and one arm in each match below.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::faults::VendorError;
use crate::server::Shared;
use crate::{anthropic, openai};

/// A vendor wire format the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// OpenAI Chat Completions: `POST …/chat/completions`.
    OpenAiChat,
    /// Anthropic Messages: `POST …/v1/messages`.
    Anthropic,
}

impl Format {
    /// Every format served.
    pub const ALL: &'static [Format] = &[Format::OpenAiChat, Format::Anthropic];

    /// The vendor's own path for the format; the mock also accepts it under any prefix.
    pub fn default_path(self) -> &'static str {
        match self {
            Self::OpenAiChat => "/v1/chat/completions",
            Self::Anthropic => "/v1/messages",
        }
    }

    /// The format served at `path` (without query), matched by suffix.
    pub fn for_path(path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        // `/chat/completions` rather than `/v1/chat/completions` so Azure's
        // `/openai/deployments/D/chat/completions` is served too.
        if path.ends_with("/chat/completions") {
            Some(Self::OpenAiChat)
        } else if path.ends_with("/v1/messages") {
            Some(Self::Anthropic)
        } else {
            None
        }
    }

    /// The format whose error shape suits a request to an unknown path.
    pub(crate) fn guess(path: &str, headers: &HeaderMap) -> Self {
        let anthropic = headers.contains_key("anthropic-version")
            || headers.contains_key("x-api-key")
            || path.contains("anthropic");
        if anthropic {
            Self::Anthropic
        } else {
            Self::OpenAiChat
        }
    }

    /// The response header carrying the vendor's request id.
    pub(crate) fn request_id_header(self) -> HeaderName {
        match self {
            Self::OpenAiChat => HeaderName::from_static("x-request-id"),
            Self::Anthropic => HeaderName::from_static("request-id"),
        }
    }

    /// Answers a request routed to this format. `json` is `None` when the body is not JSON.
    pub(crate) fn handle(
        self,
        shared: &Shared,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        json: Option<&Value>,
    ) -> Outcome {
        if method != Method::POST {
            return self.not_found(method, path);
        }
        match self {
            Self::OpenAiChat => openai::handle(shared, headers, json),
            Self::Anthropic => anthropic::handle(shared, headers, json),
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
            Self::OpenAiChat => openai::error(error),
            Self::Anthropic => anthropic::error(error),
        };
        outcome.retry_after(error.retry_after)
    }

    /// The event a vendor sends when a stream fails after its headers went out.
    pub(crate) fn stream_error_event(self, error: &VendorError) -> Bytes {
        match self {
            Self::OpenAiChat => openai::stream_error_event(error),
            Self::Anthropic => anthropic::stream_error_event(error),
        }
    }

    /// The vendor's 404 for a route it does not serve.
    pub(crate) fn not_found(self, method: &Method, path: &str) -> Outcome {
        match self {
            Self::OpenAiChat => openai::not_found(method, path),
            Self::Anthropic => anthropic::not_found(),
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

    /// An event stream reply.
    pub(crate) fn stream(events: Vec<Bytes>) -> Self {
        let headers = vec![
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream; charset=utf-8"),
            ),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ),
        ];
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
        assert_eq!(
            Format::for_path("/v1/chat/completions"),
            Some(Format::OpenAiChat)
        );
        assert_eq!(
            Format::for_path("/openai/v1/chat/completions/"),
            Some(Format::OpenAiChat)
        );
        assert_eq!(
            Format::for_path("/openai/deployments/gpt/chat/completions"),
            Some(Format::OpenAiChat)
        );
        assert_eq!(
            Format::for_path("/pool/v1/messages"),
            Some(Format::Anthropic)
        );
        assert_eq!(Format::for_path("/v1/messages/count_tokens"), None);
        assert_eq!(Format::for_path("/v1/models"), None);
        for &format in Format::ALL {
            assert_eq!(Format::for_path(format.default_path()), Some(format));
        }
    }

    #[test]
    fn unknown_paths_guess_the_vendor() {
        let mut headers = HeaderMap::new();
        assert_eq!(Format::guess("/nope", &headers), Format::OpenAiChat);
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(Format::guess("/nope", &headers), Format::Anthropic);
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
