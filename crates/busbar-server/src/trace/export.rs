//! Where spans go: a bounded queue that a finished span joins without
//! waiting, and one task on the server's runtime that sends what is queued
//! to `observability.otlp_endpoint` in batches.
//!
//! The endpoint's scheme picks the transport: `http://` and `https://` are
//! OTLP over HTTP with protobuf bodies, posted to `/v1/traces` (appended
//! when the URL has no path of its own); `grpc://` (in the clear, HTTP/2
//! with prior knowledge) and `grpcs://` (TLS, the Mozilla roots) are OTLP
//! over gRPC: the same message, framed, posted to the trace service's
//! `Export` method. Both go through a hyper client of the same make as the
//! upstream one (no second HTTP stack).
//!
//! A full queue drops the span, counted in
//! `busbar_trace_spans_dropped_total`, so a slow or dead collector never
//! holds up a request; a failed export is logged and its spans counted
//! there too. The batch processor's `OTEL_BSP_*` variables apply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{oneshot, Notify};

use super::otlp::{env_headers, export_request};

/// The largest collector reply read.
const MAX_REPLY: usize = 64 * 1024;

/// gRPC's frame header: a compression flag and the message's length.
const GRPC_HEADER: usize = 5;

/// The gRPC method spans are exported with.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// How an endpoint is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport {
    /// OTLP/HTTP with protobuf bodies, posted to this URL.
    Http(String),
    /// OTLP/gRPC to this `http://` or `https://` origin.
    Grpc { origin: String, tls: bool },
}

impl Transport {
    /// The transport `endpoint` names (see the module's comment).
    pub(crate) fn of(endpoint: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("observability.otlp_endpoint `{endpoint}`: {why}");
        let grpc = |rest: &str, tls: bool| {
            let scheme = if tls { "https" } else { "http" };
            let origin = format!("{scheme}://{}", rest.trim_end_matches('/'));
            origin
                .parse::<Uri>()
                .map_err(|error| bad(&error.to_string()))?;
            Ok(Self::Grpc { origin, tls })
        };
        if let Some(rest) = endpoint.strip_prefix("grpc://") {
            return grpc(rest, false);
        }
        if let Some(rest) = endpoint.strip_prefix("grpcs://") {
            return grpc(rest, true);
        }
        let uri = endpoint
            .parse::<Uri>()
            .map_err(|error| bad(&error.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(bad("not an http://, https://, grpc:// or grpcs:// URL"));
        }
        let url = if matches!(uri.path(), "" | "/") {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        } else {
            endpoint.to_owned()
        };
        Ok(Self::Http(url))
    }
}

/// The batch processor's settings: the OpenTelemetry `OTEL_BSP_*`
/// variables, with Busbar's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Batching {
    /// `OTEL_BSP_SCHEDULE_DELAY`: how often a batch is sent.
    pub(super) delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`: spans waiting beyond this are dropped.
    pub(super) max_queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: the most spans in one export (a
    /// queue this long is sent without waiting for the delay).
    pub(super) max_batch: usize,
    /// `OTEL_BSP_EXPORT_TIMEOUT`: how long one export may take.
    pub(super) timeout: Duration,
}

impl Batching {
    pub(super) fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str, default: u64| -> u64 {
            match lookup(name) {
                None => default,
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(value) if value > 0 => value,
                    _ => {
                        tracing::warn!(
                            variable = name,
                            value = text,
                            "traces: not a positive whole number; using {default}"
                        );
                        default
                    }
                },
            }
        };
        let max_queue = number("OTEL_BSP_MAX_QUEUE_SIZE", 8192);
        let max_batch = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512).min(max_queue);
        Self {
            delay: Duration::from_millis(number("OTEL_BSP_SCHEDULE_DELAY", 5000)),
            max_queue: usize::try_from(max_queue).unwrap_or(usize::MAX),
            max_batch: usize::try_from(max_batch).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(number("OTEL_BSP_EXPORT_TIMEOUT", 10_000)),
        }
    }
}

/// Finished spans waiting for export.
pub(super) struct Queue {
    spans: Mutex<Vec<Vec<u8>>>,
    max: usize,
    /// Wakes the exporter early: a full batch is waiting, or a flush.
    wake: Notify,
    /// The batch size that wakes the exporter.
    batch: usize,
    /// Flush requests, answered once everything queued before was sent.
    flushes: Mutex<Vec<oneshot::Sender<()>>>,
}

impl Queue {
    /// Queues a finished span's body; a full queue drops it, counted.
    pub(super) fn push(&self, span: Vec<u8>) {
        self.push_all([span]);
    }

    /// Queues two finished spans under one lock (a request's two).
    pub(super) fn push_two(&self, first: Vec<u8>, second: Vec<u8>) {
        self.push_all([first, second]);
    }

    fn push_all<const N: usize>(&self, spans: [Vec<u8>; N]) {
        let (before, after, lost) = {
            let mut queue = self
                .spans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let before = queue.len();
            let room = self.max.saturating_sub(before);
            let lost = N.saturating_sub(room);
            queue.extend(spans.into_iter().take(room));
            (before, queue.len(), lost)
        };
        if lost > 0 {
            dropped(lost);
        }
        // Wake the exporter when this push made a full batch.
        if before < self.batch && after >= self.batch {
            self.wake.notify_one();
        }
    }

    /// A queue no exporter reads, for tests that look at the spans.
    #[cfg(test)]
    pub(super) fn detached() -> Self {
        Self {
            spans: Mutex::new(Vec::new()),
            max: usize::MAX,
            wake: Notify::new(),
            batch: usize::MAX,
            flushes: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(
            &mut *self
                .spans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

fn dropped(spans: usize) {
    metrics::counter!("busbar_trace_spans_dropped_total").increment(spans as u64);
}

/// The exporter's handle: its queue, and a way to have it send what is
/// queued.
pub(super) struct Exporter {
    pub(super) queue: Arc<Queue>,
}

impl Exporter {
    /// Starts the export task for `endpoint` on the current runtime.
    pub(super) fn start(
        endpoint: &str,
        batching: Batching,
        resource: Vec<u8>,
        scope: Vec<u8>,
    ) -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            "observability.otlp_endpoint needs a tokio runtime to export on".to_owned()
        })?;
        let transport = Transport::of(endpoint)?;
        if let Transport::Http(url) = &transport {
            if url.contains(":4317/") {
                tracing::warn!(
                    endpoint,
                    "traces: port 4317 is OTLP/gRPC's; this sends OTLP/HTTP (write grpc://… for gRPC)"
                );
            }
        }
        let general = std::env::var("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default();
        let traces = std::env::var("OTEL_EXPORTER_OTLP_TRACES_HEADERS").unwrap_or_default();
        let sender = Sender::new(&transport, env_headers(&general, &traces), batching.timeout)
            .map_err(|error| format!("observability.otlp_endpoint `{endpoint}`: {error}"))?;
        let queue = Arc::new(Queue {
            spans: Mutex::new(Vec::new()),
            max: batching.max_queue,
            wake: Notify::new(),
            batch: batching.max_batch,
            flushes: Mutex::new(Vec::new()),
        });
        runtime.spawn(run(Arc::clone(&queue), sender, batching, resource, scope));
        Ok(Self { queue })
    }

    /// Sends everything queued, waiting at most `within`.
    pub(super) async fn flush(&self, within: Duration) {
        let (done, answer) = oneshot::channel();
        self.queue
            .flushes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(done);
        self.queue.wake.notify_one();
        let _ = tokio::time::timeout(within, answer).await;
    }
}

/// The export loop: every `delay`, or sooner when a batch is full or a
/// flush asked, sends what is queued. It runs as long as the process.
async fn run(
    queue: Arc<Queue>,
    sender: Sender,
    batching: Batching,
    resource: Vec<u8>,
    scope: Vec<u8>,
) {
    // Room is kept in front of the message for gRPC's frame header.
    let front = if sender.grpc { GRPC_HEADER } else { 0 };
    let mut capacity = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(batching.delay) => {}
            () = queue.wake.notified() => {}
        }
        let flushes = std::mem::take(
            &mut *queue
                .flushes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let spans = queue.take();
        for batch in spans.chunks(batching.max_batch.max(1)) {
            // Sized like the last one, so it is rarely grown while written.
            let mut body = Vec::with_capacity(capacity);
            body.resize(front, 0);
            export_request(&mut body, &resource, &scope, batch);
            capacity = body.len();
            if let Err(error) = sender.send(body).await {
                tracing::warn!(%error, spans = batch.len(), "traces: an export failed; its spans are lost");
                dropped(batch.len());
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error("the collector could not be reached: {0}")]
    Unreachable(String),
    #[error("the collector did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the collector answered {0}")]
    Status(http::StatusCode),
    #[error("the collector answered gRPC status {code}: {message}")]
    Grpc { code: String, message: String },
}

/// Posts export requests to the collector.
struct Sender {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    grpc: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

impl Sender {
    fn new(
        transport: &Transport,
        headers: Vec<(HeaderName, HeaderValue)>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let (url, grpc) = match transport {
            Transport::Http(url) => (url.clone(), false),
            Transport::Grpc { origin, .. } => (format!("{origin}{GRPC_EXPORT}"), true),
        };
        let url = url.parse::<Uri>().map_err(|error| error.to_string())?;
        let mut builder = Client::builder(TokioExecutor::new());
        let connector = if grpc {
            builder.http2_only(true);
            crate::https::h2_connector(timeout)
        } else {
            crate::https::connector(timeout, None)
        };
        Ok(Self {
            client: builder.build(connector),
            url,
            grpc,
            headers,
            timeout,
        })
    }

    /// Posts `body`: the export message, after [`GRPC_HEADER`] bytes of
    /// room for gRPC's frame header when the transport is gRPC.
    async fn send(&self, mut body: Vec<u8>) -> Result<(), ExportError> {
        if self.grpc {
            // gRPC's frame: not compressed, then the length, big-endian.
            let length = u32::try_from(body.len() - GRPC_HEADER).unwrap_or(u32::MAX);
            body[0] = 0;
            body[1..GRPC_HEADER].copy_from_slice(&length.to_be_bytes());
        }
        let body = Bytes::from(body);
        let mut request = Request::post(self.url.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = if self.grpc {
            request
                .header(http::header::CONTENT_TYPE, "application/grpc")
                .header(http::header::TE, "trailers")
        } else {
            request.header(http::header::CONTENT_TYPE, "application/x-protobuf")
        }
        .body(Full::new(body))
        .map_err(|error| ExportError::Unreachable(error.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| ExportError::Unreachable(error.to_string()))?;
            let (parts, body) = response.into_parts();
            let collected = Limited::new(body, MAX_REPLY)
                .collect()
                .await
                .map_err(|error| ExportError::Unreachable(error.to_string()))?;
            if !parts.status.is_success() {
                return Err(ExportError::Status(parts.status));
            }
            if self.grpc {
                // A reply with no message carries its status in the headers.
                let trailers = collected.trailers().cloned().unwrap_or_default();
                let field = |name: &str| {
                    trailers
                        .get(name)
                        .or_else(|| parts.headers.get(name))
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned)
                };
                let code = field("grpc-status").unwrap_or_else(|| "missing".to_owned());
                if code != "0" {
                    return Err(ExportError::Grpc {
                        code,
                        message: field("grpc-message").unwrap_or_default(),
                    });
                }
            }
            Ok(())
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ExportError::Timeout(self.timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_transport() {
        let http = |url: &str| Transport::Http(url.to_owned());
        let cases = [
            ("http://otel:4318", http("http://otel:4318/v1/traces")),
            ("http://otel:4318/", http("http://otel:4318/v1/traces")),
            (
                "https://o.example.com/otlp/v1/traces",
                http("https://o.example.com/otlp/v1/traces"),
            ),
            (
                "grpc://otel:4317",
                Transport::Grpc {
                    origin: "http://otel:4317".into(),
                    tls: false,
                },
            ),
            (
                "grpcs://otel.example.com/",
                Transport::Grpc {
                    origin: "https://otel.example.com".into(),
                    tls: true,
                },
            ),
        ];
        for (endpoint, expected) in cases {
            assert_eq!(Transport::of(endpoint), Ok(expected), "{endpoint}");
        }
        assert!(Transport::of("ftp://otel").is_err());
    }

    #[test]
    fn the_batch_variables_apply_and_bad_values_fall_back() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            Batching::from_lookup(move |name| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            })
        };
        assert_eq!(
            vars(&[]),
            Batching {
                delay: Duration::from_secs(5),
                max_queue: 8192,
                max_batch: 512,
                timeout: Duration::from_secs(10),
            }
        );
        let set = vars(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "abc"),
        ]);
        assert_eq!(set.delay, Duration::from_millis(100));
        assert_eq!(set.max_queue, 64);
        assert_eq!(set.max_batch, 64, "a batch is never larger than the queue");
        assert_eq!(set.timeout, Duration::from_secs(10));
    }
}
