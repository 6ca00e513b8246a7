//! A small HTTP client for the tests: sends a request, collects the frames as they arrive.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use busbar_testkit::sse::{self, SseEvent};
use busbar_testkit::MockUpstream;

/// OpenAI credentials.
pub(crate) const OPENAI: &[(&str, &str)] = &[("authorization", "Bearer sk-test")];
/// Anthropic credentials and version.
pub(crate) const ANTHROPIC: &[(&str, &str)] = &[
    ("x-api-key", "sk-ant-test"),
    ("anthropic-version", "2023-06-01"),
];

/// A received response.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Body frames as the client saw them arrive.
    pub(crate) frames: usize,
    /// Whether the body ended in an error rather than cleanly.
    pub(crate) body_failed: bool,
    /// Time until the response headers arrived.
    pub(crate) head_after: Duration,
    /// Time until the first body byte arrived.
    pub(crate) first_byte_after: Option<Duration>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn events(&self) -> Vec<SseEvent> {
        sse::parse(&self.text())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method path` with `headers` and `body`; `Err` when no response arrived.
pub(crate) async fn send(
    upstream: &MockUpstream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Answer, String> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder().method(method).uri(upstream.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let head_after = started.elapsed();
    let (parts, mut body) = response.into_parts();
    let (mut collected, mut frames, mut body_failed, mut first_byte_after) =
        (Vec::new(), 0, false, None);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    first_byte_after.get_or_insert_with(|| started.elapsed());
                    frames += 1;
                    collected.extend_from_slice(&data);
                }
            }
            Err(_) => {
                body_failed = true;
                break;
            }
        }
    }
    Ok(Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: Bytes::from(collected),
        frames,
        body_failed,
        head_after,
        first_byte_after,
    })
}

/// Posts JSON and expects a response.
pub(crate) async fn post(
    upstream: &MockUpstream,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Answer {
    match send(upstream, "POST", path, headers, &body.to_string()).await {
        Ok(answer) => answer,
        Err(error) => panic!("no response from the mock: {error}"),
    }
}

/// Starts a mock on the current runtime.
pub(crate) async fn mock() -> MockUpstream {
    match MockUpstream::start().await {
        Ok(upstream) => upstream,
        Err(error) => panic!("mock upstream failed to start: {error}"),
    }
}
