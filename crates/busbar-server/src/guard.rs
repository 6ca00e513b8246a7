//! The lane permit a request holds while its reply is in flight.

use busbar_routing::{Outcome, Permit};

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

    /// The body broke off: the charge is refunded and the lane takes the
    /// failure.
    pub(crate) fn body_failed(&mut self) {
        if let Some(mut permit) = self.permit.take() {
            permit.refund();
            permit.finish(Outcome::Failure);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Dropped before the end: the client went away. The upstream did
        // nothing wrong, and the request was served as far as anyone asked,
        // so the charge stands and nothing counts against the lane.
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::Success);
        }
    }
}
