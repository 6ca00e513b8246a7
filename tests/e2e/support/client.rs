//! A small HTTP/1.1 client over hyper: complete replies, and streamed replies
//! read chunk by chunk as they arrive and split into SSE events.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::process::PATIENCE;

/// The longest a test waits for one reply or one chunk.
const REPLY_TIMEOUT: Duration = PATIENCE;

/// The client: a pooled hyper client for plain HTTP.
pub(crate) struct Client {
    inner: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Client {
    pub(crate) fn new() -> Self {
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        Self { inner }
    }

    /// Sends a request and reads the whole reply.
    pub(crate) async fn send(
        &self,
        method: &str,
        url: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Reply {
        let open = self.open(method, url, body, headers).await;
        let status = open.status;
        let headers = open.headers.clone();
        let streamed = open.finish().await;
        if let Some(error) = &streamed.transport_error {
            panic!("{method} {url}: the reply body broke off: {error}");
        }
        Reply {
            status,
            headers,
            body: streamed.body,
        }
    }

    /// Sends a request and returns once the response headers are in.
    pub(crate) async fn open(
        &self,
        method: &str,
        url: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> OpenStream {
        self.try_open(method, url, body, headers)
            .await
            .unwrap_or_else(|error| panic!("{method} {url}: {error}"))
    }

    /// Like [`Client::open`], but a connection failure is returned rather
    /// than failing the test.
    pub(crate) async fn try_open(
        &self,
        method: &str,
        url: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<OpenStream, String> {
        let mut request = Request::builder().method(method).uri(url);
        let has_type = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !body.is_empty() && !has_type {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).expect("a valid request");
        let response = tokio::time::timeout(REPLY_TIMEOUT, self.inner.request(request))
            .await
            .map_err(|_| "no response headers in time".to_owned())?
            .map_err(|error| error.to_string())?;
        let (parts, body) = response.into_parts();
        Ok(OpenStream {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            chunks: Vec::new(),
        })
    }
}

/// A complete reply.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON; fails the test with the body when it is not JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "reply {} is not JSON ({error}): {}",
                self.status,
                self.text()
            )
        })
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A reply whose headers are in and whose body is still arriving.
pub(crate) struct OpenStream {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    body: Incoming,
    chunks: Vec<Bytes>,
}

impl OpenStream {
    /// The next data chunk, or `None` at the end (or on a transport error,
    /// which [`OpenStream::finish`] then reports).
    pub(crate) async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let frame = tokio::time::timeout(REPLY_TIMEOUT, self.body.frame())
                .await
                .expect("a body chunk in time");
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            self.chunks.push(data.clone());
                            return Some(data);
                        }
                    }
                }
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Reads the rest of the body.
    pub(crate) async fn finish(mut self) -> StreamReply {
        let mut transport_error = None;
        loop {
            let frame = tokio::time::timeout(REPLY_TIMEOUT, self.body.frame())
                .await
                .expect("a body chunk in time");
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            self.chunks.push(data);
                        }
                    }
                }
                Some(Err(error)) => {
                    transport_error = Some(error.to_string());
                    break;
                }
                None => break,
            }
        }
        let mut body = BytesMut::new();
        for chunk in &self.chunks {
            body.extend_from_slice(chunk);
        }
        let body = body.freeze();
        let events = parse_sse(&String::from_utf8_lossy(&body));
        StreamReply {
            status: self.status,
            headers: self.headers,
            chunks: self.chunks,
            body,
            events,
            transport_error,
        }
    }
}

/// A reply read to its end, kept as the chunks that arrived.
pub(crate) struct StreamReply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    /// The body's data chunks in arrival order.
    pub(crate) chunks: Vec<Bytes>,
    /// The chunks concatenated.
    pub(crate) body: Bytes,
    /// The body split into server-sent events.
    pub(crate) events: Vec<Event>,
    /// Set when the body broke off instead of ending.
    pub(crate) transport_error: Option<String>,
}

impl StreamReply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `data` of every event, parsed as JSON (`[DONE]` and other
    /// non-JSON data left out).
    pub(crate) fn data(&self) -> Vec<Value> {
        self.events.iter().filter_map(Event::json).collect()
    }

    /// The names of the events (`event:` lines), in order.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| e.name.as_deref())
            .collect()
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) name: Option<String>,
    pub(crate) data: String,
}

impl Event {
    pub(crate) fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }
}

/// Splits an SSE body into events: blank-line separated, `event:` and
/// `data:` fields (several `data:` lines joined by `\n`), comments skipped.
pub(crate) fn parse_sse(text: &str) -> Vec<Event> {
    let text = text.replace("\r\n", "\n");
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => name = Some(value.to_owned()),
                "data" => data.push(value),
                _ => {}
            }
        }
        if name.is_some() || !data.is_empty() {
            events.push(Event {
                name,
                data: data.join("\n"),
            });
        }
    }
    events
}
