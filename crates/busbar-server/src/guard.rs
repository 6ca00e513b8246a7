//! The lane permit a request holds while its reply is in flight.

use busbar_ir::ErrorKind;
use busbar_routing::{FailureClass, Outcome, Permit};

/// Holds a lane's concurrency slot (and budget unit) until the reply body
/// is finished, and reports how it ended exactly once.
pub(crate) struct Guard {
    permit: Option<Permit>,
}

impl Guard {
    /// A guard for a request whose upstream answered 2xx: the budget unit is
    /// charged now.
    pub(crate) fn charged(mut permit: Permit) -> Self {
        permit.charge();
        Self {
            permit: Some(permit),
        }
    }

    /// The body reached its end: a success.
    pub(crate) fn body_complete(&mut self) {
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::Success);
        }
    }

    /// The body broke off: the charge is refunded and the lane takes a
    /// failure of `class`.
    pub(crate) fn body_failed(&mut self, class: FailureClass) {
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::failed(class));
        }
    }

    /// Takes the permit back, its charge refunded, when the reply failed
    /// before any byte reached the client and another lane may be tried.
    pub(crate) fn recall(mut self) -> Option<Permit> {
        let mut permit = self.permit.take()?;
        permit.refund();
        Some(permit)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Dropped before the end: the client went away. The upstream did
        // nothing wrong and the request was served as far as anyone asked,
        // so the charge stands and nothing counts against the lane.
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::Success);
        }
    }
}

/// What an error an upstream reported means for routing, when all Busbar
/// has is the IR's kind (a stream's error event).
pub(crate) fn class_of(kind: ErrorKind) -> FailureClass {
    match kind {
        ErrorKind::RateLimit => FailureClass::RateLimit,
        ErrorKind::Overloaded | ErrorKind::Unavailable => FailureClass::Overloaded,
        ErrorKind::Timeout => FailureClass::Timeout,
        ErrorKind::BadGateway => FailureClass::Network,
        ErrorKind::Authentication | ErrorKind::PermissionDenied => FailureClass::Auth,
        ErrorKind::InsufficientQuota => FailureClass::Billing,
        ErrorKind::ContextLength => FailureClass::ContextLength,
        ErrorKind::Server => FailureClass::ServerError,
        _ => FailureClass::ClientError,
    }
}
