//! What an upstream failure means for routing: the provider's `error_map`
//! and the one call into [`busbar_routing::classify`].

use std::collections::BTreeMap;
use std::sync::Arc;

use busbar_ir::ApiError;
use busbar_routing::{ErrorSource, FailureClass};

/// A provider's `error_map`: its error codes (and statuses) and what they
/// mean for routing. Shared by the lane and the reply bodies it serves.
pub(crate) type ErrorMap = Arc<BTreeMap<String, FailureClass>>;

/// What an upstream error means for routing, with `error_map`.
pub(crate) fn classify(
    error_map: &ErrorMap,
    error: &ApiError,
    source: ErrorSource,
) -> FailureClass {
    busbar_routing::classify(error, source, |code| error_map.get(code).copied())
}
