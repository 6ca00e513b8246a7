//! The connector of every outgoing HTTP client: upstream calls, the
//! request-log webhook and OTLP export.
//!
//! Plain HTTP or HTTPS by the URL's scheme, HTTP/1.1 (HTTP/2 only for
//! OTLP/gRPC export), `TCP_NODELAY`. TLS is
//! rustls with the Mozilla root set compiled in, so the binary needs no
//! system certificate store.

use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

/// A connector that gives up connecting after `connect_timeout`, with TCP
/// keep-alive probes every `keepalive` when set.
pub(crate) fn connector(
    connect_timeout: Duration,
    keepalive: Option<Duration>,
) -> HttpsConnector<HttpConnector> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config())
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp(connect_timeout, keepalive))
}

/// A connector for HTTP/2 only (gRPC): ALPN `h2` over TLS, and HTTP/2 with
/// prior knowledge in the clear (the client must be built `http2_only`).
pub(crate) fn h2_connector(connect_timeout: Duration) -> HttpsConnector<HttpConnector> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config())
        .https_or_http()
        .enable_http2()
        .wrap_connector(tcp(connect_timeout, None))
}

fn tcp(connect_timeout: Duration, keepalive: Option<Duration>) -> HttpConnector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(keepalive);
    http
}

/// TLS trusting the Mozilla roots compiled into the binary.
fn tls_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth()
}
