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

/// Reads a client's request body, refusing more than `limit` bytes and
/// giving up when no bytes arrive for `stall`.
pub(crate) async fn read_request_body(
    body: Incoming,
    limit: u64,
    stall: Duration,
) -> Result<Bytes, GatewayError> {
    match collect_within(body, usize::try_from(limit).unwrap_or(usize::MAX), stall).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyReadError::TooLarge) => Err(GatewayError::BodyTooLarge { limit }),
        Err(BodyReadError::Stalled) => Err(GatewayError::BodyStalled { after: stall }),
        Err(BodyReadError::Broken(error)) => Err(GatewayError::InvalidBody(
            busbar_protocols::DecodeError::Stream(format!(
                "could not read the request body: {error}"
            )),
        )),
    }
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
