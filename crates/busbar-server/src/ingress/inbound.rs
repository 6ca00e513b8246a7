//! A proxied request as it came in, its body read within the limit.

use busbar_protocols::Protocol;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Limited};
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

/// Reads a client's request body, refusing more than `limit` bytes.
pub(crate) async fn read_request_body(body: Incoming, limit: u64) -> Result<Bytes, GatewayError> {
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit })
        }
        Err(error) => Err(GatewayError::InvalidBody(
            busbar_protocols::DecodeError::Stream(format!(
                "could not read the request body: {error}"
            )),
        )),
    }
}
