//! Reading upstream replies: bounded bodies, the headers that pass to the
//! client, and client errors described with their causes.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::error::GatewayError;

/// Reads an upstream body whole, refusing more than `limit` bytes and
/// giving up when it stalls for `idle`.
pub(crate) async fn read_limited(
    body: Incoming,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, GatewayError> {
    match tokio::time::timeout(idle, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(GatewayError::BadUpstreamReply(error.to_string())),
        Err(_) => Err(GatewayError::Timeout("upstream body stalled".into())),
    }
}

/// Copies the upstream's response headers except hop-by-hop ones and those
/// Busbar sets itself.
pub(crate) fn copy_end_to_end_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let skip = matches!(
            name.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "te"
                | "trailer"
                | "upgrade"
                | "x-request-id"
                | "date"
                | "server"
        );
        if !skip {
            to.append(name.clone(), value.clone());
        }
    }
}

pub(crate) fn describe(error: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
