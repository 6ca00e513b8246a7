//! The connector of every outgoing HTTP client: upstream calls, the
//! request-log webhook and OTLP export.
//!
//! Plain HTTP or HTTPS by the URL's scheme, HTTP/1.1, `TCP_NODELAY`. TLS is
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
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(keepalive);
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}
