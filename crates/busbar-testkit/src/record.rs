//! Recording: every request the mock receives, kept for tests asserting what the gateway sent.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

/// One request as the mock received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// Path and query, as sent (e.g. `/v1/messages` or `/openai/deployments/d/chat/completions?api-version=1`).
    pub path: String,
    /// Every header, as sent.
    pub headers: HeaderMap,
    /// The body bytes, as sent.
    pub body: Bytes,
}

impl RecordedRequest {
    pub(crate) fn new(method: Method, path: String, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            method,
            path,
            headers,
            body,
        }
    }

    /// The path without the query.
    pub fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(path, _)| path)
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, query)| query)
    }

    /// A header's value, when present and valid UTF-8 (the first of several).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body's `model` field, when the body is JSON with a string `model`.
    pub fn model(&self) -> Option<String> {
        self.json()?.get("model")?.as_str().map(str::to_owned)
    }

    /// The API key the request carried: `x-api-key`, `api-key`, `x-goog-api-key`, the
    /// `Authorization: Bearer` token or a `key=` query parameter. SigV4 signatures are not keys.
    pub fn api_key(&self) -> Option<&str> {
        let bearer = self.header("authorization").and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim())
        });
        let query_key = self
            .query()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("key=")));
        self.header("x-api-key")
            .or_else(|| self.header("api-key"))
            .or_else(|| self.header("x-goog-api-key"))
            .or(bearer)
            .or(query_key)
    }
}

/// The log of received requests.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    requests: Mutex<Vec<RecordedRequest>>,
}

impl Recorder {
    pub(crate) fn push(&self, request: RecordedRequest) {
        self.lock().push(request);
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        // A panic elsewhere while holding the lock leaves the log intact: keep using it.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn accessors_read_the_request() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        let body = Bytes::from_static(br#"{"model":"m","stream":true}"#);
        let request =
            RecordedRequest::new(Method::POST, "/a/v1/messages?x=1".into(), headers, body);
        assert_eq!(
            (request.path_only(), request.query()),
            ("/a/v1/messages", Some("x=1"))
        );
        assert_eq!(request.api_key(), Some("sk-1"));
        assert_eq!(request.model().as_deref(), Some("m"));
        assert_eq!(request.header("missing"), None);
        let keyed = RecordedRequest::new(
            Method::POST,
            "/v1beta/models/g:generateContent?alt=sse&key=AIza".into(),
            HeaderMap::new(),
            Bytes::new(),
        );
        assert_eq!(keyed.api_key(), Some("AIza"));

        let recorder = Recorder::default();
        recorder.push(request);
        assert_eq!(recorder.snapshot().len(), 1);
        recorder.clear();
        assert!(recorder.snapshot().is_empty());
    }
}
