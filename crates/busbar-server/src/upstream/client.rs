//! The pooled upstream HTTP client.
//!
//! HTTP/1.1 only, on purpose: hyper multiplexes HTTP/2 over a single
//! connection per host, so under load requests would queue behind the
//! server's stream limit. A large keep-alive pool of HTTP/1.1 connections
//! with `TCP_NODELAY` has no such ceiling. The connector is
//! [`crate::https::connector`].

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The client every upstream call goes through.
pub(crate) type UpstreamClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the shared client.
pub(crate) fn build(connect_timeout: Duration) -> UpstreamClient {
    let https = crate::https::connector(connect_timeout, Some(Duration::from_secs(60)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(usize::MAX)
        .build(https)
}
