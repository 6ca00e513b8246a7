//! Where spans go: the OTLP exporter for `observability.otlp_endpoint`,
//! behind the SDK's batch processor, and the HTTP client it posts with.
//!
//! The endpoint's scheme picks the transport: `http://` and `https://` are
//! OTLP over HTTP with protobuf bodies, posted to `/v1/traces` (appended
//! when the URL has no path of its own); `grpc://` (in the clear) and
//! `grpcs://` (TLS, the Mozilla roots) are OTLP over gRPC.
//!
//! The batch processor keeps a bounded queue that a finished span joins
//! without waiting (a full queue drops the span), and exports from its own
//! thread, so a slow or dead collector never holds up a request. OTLP/HTTP
//! is encoded by Busbar's own writer (`otlp.rs`) and posted through a hyper
//! client of the same make as the upstream one (no second HTTP stack), its
//! requests spawned on the server's runtime.

use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tokio::runtime::Handle;

/// How long one export may take, connection included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Spans waiting for export; more are dropped (and counted by the SDK's
/// own log) rather than held.
const MAX_QUEUE: usize = 8192;

/// The largest collector reply read.
const MAX_REPLY: usize = 64 * 1024;

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

/// The tracer provider exporting to `endpoint`, in batches.
pub(super) fn provider(endpoint: &str) -> Result<SdkTracerProvider, String> {
    let runtime = Handle::try_current()
        .map_err(|_| "observability.otlp_endpoint needs a tokio runtime to export on".to_owned())?;
    let transport = Transport::of(endpoint)?;
    if let Transport::Http(url) = &transport {
        if url.contains(":4317/") {
            tracing::warn!(
                endpoint,
                "traces: port 4317 is OTLP/gRPC's; this sends OTLP/HTTP (write grpc://… for gRPC)"
            );
        }
    }
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(MAX_QUEUE)
        .build();
    let processor = match transport {
        Transport::Http(url) => {
            let url = url
                .parse::<Uri>()
                .map_err(|error| format!("observability.otlp_endpoint `{endpoint}`: {error}"))?;
            let exporter = super::otlp::HttpExporter::new(Collector::new(runtime), url);
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build()
        }
        Transport::Grpc { origin, tls } => {
            // tonic's channel starts its worker on the runtime it is made in.
            let _entered = runtime.enter();
            let builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_protocol(Protocol::Grpc)
                .with_endpoint(origin)
                .with_timeout(EXPORT_TIMEOUT);
            let builder = if tls {
                builder.with_tls_config(
                    opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new()
                        .with_webpki_roots(),
                )
            } else {
                builder
            };
            let exporter = builder
                .build()
                .map_err(|error| format!("observability.otlp_endpoint `{endpoint}`: {error}"))?;
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build()
        }
    };
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder()
                .with_service_name("busbar")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build())
}

/// Posts OTLP/HTTP exports. The batch processor calls it from its own
/// thread, outside any runtime, so each request is spawned on the server's.
struct Collector {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: Handle,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Collector")
    }
}

impl Collector {
    fn new(runtime: Handle) -> Self {
        let https = crate::https::connector(EXPORT_TIMEOUT, None);
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            runtime,
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Collector {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, Full::new(body));
        let exchange = async move {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_REPLY).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        self.runtime
            .spawn(async move {
                tokio::time::timeout(EXPORT_TIMEOUT, exchange)
                    .await
                    .map_err(|_| HttpError::from("the collector did not answer in time"))?
            })
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::Transport;

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
}
