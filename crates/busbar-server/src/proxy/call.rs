//! One proxied request's shared context, across its attempts.

use std::time::{SystemTime, UNIX_EPOCH};

use busbar_protocols::DecodedRequest;
use busbar_routing::Route;

use crate::error::GatewayError;
use crate::governance::Governance;
use crate::ingress::peek::Peeked;
use crate::ingress::Inbound;
use crate::record::Record;
use crate::reply::Meter;
use crate::state::State;
use crate::trace::Trace;

/// Everything one request's attempts share.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a State,
    pub(crate) inbound: &'a Inbound,
    pub(crate) peeked: &'a Peeked<'a>,
    pub(crate) stream: bool,
    /// Decoded lazily: a same-protocol hop never needs the IR.
    pub(crate) decoded: Option<DecodedRequest>,
    /// The governance admission, until an attempt's reply takes it.
    pub(crate) meter: Option<Meter>,
    /// A stream whose client did not ask for usage (OpenAI Chat without
    /// `stream_options.include_usage`): on a lane where Busbar must count
    /// tokens anyway (governed, or priced), the upstream is asked for it and
    /// the client does not see the extra chunk.
    pub(crate) usage_unasked: bool,
    /// Whether the body carries a reasoning signature marked as another
    /// vendor's, learnt the first time a same-protocol lane is tried.
    pub(crate) marked_signatures: Option<bool>,
    /// The request's log record, when the request log is on.
    pub(crate) record: &'a mut Option<Box<Record>>,
    /// The request's spans, when traced, until an attempt's reply takes
    /// them (and while it is tried: its span is open inside).
    pub(crate) trace: &'a mut Option<Box<Trace>>,
}

impl Call<'_> {
    /// Whether an upstream of the client's own protocol may take the body
    /// as it is: not when it carries signatures Busbar marked as another
    /// vendor's (they must be stripped or dropped on the way).
    pub(crate) fn relayable(&mut self) -> bool {
        let inbound = self.inbound;
        !*self
            .marked_signatures
            .get_or_insert_with(|| inbound.protocol().carries_marked_signatures(&inbound.body))
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The body's top-level fields, the name asked for, and its route.
pub(crate) fn resolve<'a, 's>(
    state: &'s State,
    inbound: &'a Inbound,
) -> Result<(Peeked<'a>, String, Route<'s>), GatewayError> {
    let peeked = Peeked::parse(&inbound.body)?;
    let name = match &inbound.ingress.model {
        Some(name) => name.clone(),
        None => peeked.model()?.ok_or(GatewayError::MissingModel)?,
    };
    let route = state
        .resolve(&name)
        .ok_or_else(|| GatewayError::UnknownModel(name.clone()))?;
    Ok((peeked, name, route))
}

/// Under governance, an error found before admission goes only to a valid
/// key; anyone else hears that their key is not.
pub(crate) async fn vet(
    governance: Option<&Governance>,
    inbound: &Inbound,
    error: GatewayError,
) -> GatewayError {
    let Some(governance) = governance else {
        return error;
    };
    let secret = inbound.virtual_key.as_deref().unwrap_or_default();
    match governance.identify(secret).await {
        Ok(_) => error,
        Err(refusal) => refusal,
    }
}
