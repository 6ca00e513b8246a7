//! A small HTTP client for the tests: sends a request, collects the frames as they arrive.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream::Message;

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

/// Gemini credentials.
pub(crate) const GEMINI: &[(&str, &str)] = &[("x-goog-api-key", "AIza-test")];
/// Cohere credentials.
pub(crate) const COHERE: &[(&str, &str)] = &[("authorization", "Bearer co-test")];

/// The access key the Bedrock tests sign with.
pub(crate) const AWS_ACCESS_KEY: &str = "AKIDMOCKTEST";
/// Its secret.
pub(crate) const AWS_SECRET: &str = "mock/secret/key";

/// SigV4 headers for `POST path` with `body` to `upstream`, signed by AWS's signer at `time`
/// for `service` in `us-east-1`.
pub(crate) fn sigv4_headers(
    upstream: &MockUpstream,
    path: &str,
    body: &str,
    secret: &str,
    service: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    let identity: Identity =
        Credentials::new(AWS_ACCESS_KEY, secret, None, None, "busbar-testkit-tests").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        "POST",
        upstream.url(path),
        std::iter::empty(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Posts JSON to a Bedrock path, SigV4-signed with the test credentials, now.
pub(crate) async fn post_signed(upstream: &MockUpstream, path: &str, body: &Value) -> Answer {
    let body = body.to_string();
    let signed = sigv4_headers(
        upstream,
        path,
        &body,
        AWS_SECRET,
        "bedrock",
        SystemTime::now(),
    );
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    match send(upstream, "POST", path, &headers, &body).await {
        Ok(answer) => answer,
        Err(error) => panic!("no response from the mock: {error}"),
    }
}

/// Splits an event-stream body into messages with AWS's own decoder.
pub(crate) fn eventstream(body: &Bytes) -> Vec<Message> {
    let mut decoder = MessageFrameDecoder::new();
    let mut buffer = body.clone();
    let mut messages = Vec::new();
    while !buffer.is_empty() {
        match decoder.decode_frame(&mut buffer) {
            Ok(DecodedFrame::Complete(message)) => messages.push(message),
            Ok(DecodedFrame::Incomplete) => break,
            Err(error) => panic!("invalid event-stream frame: {error}"),
        }
    }
    messages
}

/// A string header of an event-stream message.
pub(crate) fn frame_header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|v| v.as_str())
}

/// An event-stream message's `:event-type` (or `:exception-type`) and JSON payload.
pub(crate) fn frame_event(message: &Message) -> (String, Value) {
    let name = frame_header(message, ":event-type")
        .or_else(|| frame_header(message, ":exception-type"))
        .unwrap_or_default();
    let payload = serde_json::from_slice(message.payload()).unwrap_or(Value::Null);
    (name.to_owned(), payload)
}
