//! A proxied request as it came in, its body read within the size limit
//! and the stall timeout.

use busbar_protocols::Protocol;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::routes::Ingress;
use crate::error::GatewayError;
use crate::state::{BodyBudget, BufferedBody};
use crate::upstream::FromClient;

/// The request as it came in.
pub(crate) struct Inbound {
    /// The protocol and what the URL says.
    pub(crate) ingress: Ingress,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The caller's own credential, for `auth.mode: passthrough`.
    pub(crate) client_credential: Option<String>,
    /// The caller's virtual key, under governance (never sent upstream).
    pub(crate) virtual_key: Option<String>,
    /// This request's `x-request-id`, which also names replies whose
    /// upstream format gives them no id.
    pub(crate) request_id: HeaderValue,
    /// The body's share of the buffered-bytes budget, given back when the
    /// request ends.
    pub(crate) _buffered: BufferedBody,
}

impl Inbound {
    pub(crate) fn protocol(&self) -> Protocol {
        self.ingress.protocol
    }

    /// What goes from the client to the upstream request.
    pub(crate) fn client_side(&self) -> FromClient<'_> {
        FromClient {
            headers: &self.headers,
            credential: self.client_credential.as_deref(),
        }
    }

    /// An id for a reply whose upstream gave it none.
    pub(crate) fn fallback_reply_id(&self) -> String {
        format!("busbar-{}", self.request_id.to_str().unwrap_or("reply"))
    }
}

/// What bounds the reading of one request body.
pub(crate) struct BodyLimits<'a> {
    /// The largest body one request may send.
    pub(crate) per_request: u64,
    /// The longest silence between two pieces of the body.
    pub(crate) stall: Duration,
    /// The bytes all requests together may hold, and what they hold now.
    pub(crate) buffered: u64,
    pub(crate) budget: &'a BodyBudget,
}

/// Reads a client's request body, refusing more than `limits.per_request`
/// bytes and more than the process may buffer across all requests at once,
/// and giving up when no bytes arrive for `limits.stall`. Each chunk is
/// counted as it arrives, so an over-budget body is refused before it is
/// held.
pub(crate) async fn read_request_body(
    mut body: Incoming,
    limits: BodyLimits<'_>,
) -> Result<(Bytes, BufferedBody), GatewayError> {
    let mut share = limits.budget.share();
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(limits.stall, body.frame()).await {
            Err(_) => {
                return Err(GatewayError::BodyStalled {
                    after: limits.stall,
                })
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                return Err(GatewayError::InvalidBody(
                    busbar_protocols::DecodeError::Stream(format!(
                        "could not read the request body: {error}"
                    )),
                ))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers carry nothing Busbar reads.
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let size = chunk.len() as u64;
        if share.bytes() + size > limits.per_request {
            return Err(GatewayError::BodyTooLarge {
                limit: limits.per_request,
            });
        }
        if !limits.budget.take(&mut share, size, limits.buffered) {
            return Err(GatewayError::BodiesOverBudget);
        }
        // A body that arrives in one chunk (most do) is kept without a copy.
        match first.take() {
            None if rest.is_empty() => first = Some(chunk),
            previous => {
                if let Some(previous) = previous {
                    rest.extend_from_slice(&previous);
                }
                rest.extend_from_slice(&chunk);
            }
        }
    }
    let body = match first {
        Some(whole) => whole,
        None => rest.freeze(),
    };
    Ok((body, share))
}

/// Why a client's body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyReadError {
    /// More bytes than allowed.
    #[error("the body is larger than allowed")]
    TooLarge,
    /// No bytes arrived for the stall timeout.
    #[error("the body stalled")]
    Stalled,
    /// The connection failed or the framing was broken.
    #[error("{0}")]
    Broken(hyper::Error),
}

/// Collects `body` up to `limit` bytes, each frame due within `stall` of the
/// one before: the timeout bounds silence, not the whole upload, so a large
/// body on a slow but steady link still arrives.
pub(crate) async fn collect_within(
    body: Incoming,
    limit: usize,
    stall: Duration,
) -> Result<Bytes, BodyReadError> {
    let mut body = body;
    let mut collected = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => return Err(BodyReadError::Stalled),
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(Err(error))) => return Err(BodyReadError::Broken(error)),
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers carry nothing Busbar reads.
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - collected.len() {
                return Err(BodyReadError::TooLarge);
            }
            collected.extend_from_slice(&data);
        }
    }
}
