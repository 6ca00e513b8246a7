//! An admitted request's hold on its key's budget, until it settles.
//!
//! [`Admission`] is a guard: the server keeps it for the life of the
//! request (for a stream, inside the response body) and calls
//! [`settle`](Admission::settle) exactly once with what happened. Settling
//! consumes it, so a request cannot be charged twice. If it is dropped
//! unsettled (a bug, a panic, a cancelled task), the reservation is released
//! in the background without charge; if the process dies, the reservation
//! lapses at its expiry and the reaper deletes it.

use std::fmt;
use std::sync::Arc;

use crate::api::KeyMetadata;
use crate::error::StoreError;
use crate::governor::Inner;
use crate::money::Cents;
use crate::store::{Charge, Reservation, Settlement};
use crate::tokens::{Served, TokenCounts};

/// How an admitted request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The upstream answered with success: charge the request's cost and
    /// count it. A stream cut off by the client after a 2xx settles here
    /// too, with the tokens known so far.
    Succeeded {
        /// The model and lane that served it, for the spend ledger.
        served: Served,
        /// The tokens its usage reported, by class.
        tokens: TokenCounts,
        /// Its cost, when the caller priced it (catalog pricing); `None`
        /// charges the governor's flat prices of `tokens.total()`.
        cost: Option<Cents>,
    },
    /// No successful answer (every attempt failed, or the request was
    /// refused upstream before any byte reached the client): charge nothing.
    Failed,
    /// The upstream answered with success but its usage was never learnt (a
    /// stream whose client left, and whose rest could not be read): charge
    /// the worst case reserved, and count its tokens as the estimate.
    Unreported {
        /// The model and lane that served it.
        served: Served,
    },
}

impl Outcome {
    /// A success charged at the flat prices of its tokens.
    pub fn succeeded(served: Served, tokens: TokenCounts) -> Self {
        Self::Succeeded {
            served,
            tokens,
            cost: None,
        }
    }

    /// A success that cost `cost`, as the caller priced it.
    pub fn succeeded_at(served: Served, tokens: TokenCounts, cost: Cents) -> Self {
        Self::Succeeded {
            served,
            tokens,
            cost: Some(cost),
        }
    }
}

/// A request admitted by [`Governor::authorize`](crate::Governor::authorize),
/// holding its worst-case cost until settled.
#[must_use = "an admission holds budget until it is settled"]
pub struct Admission {
    pub(crate) key: KeyMetadata,
    pub(crate) reservation: Option<Reservation>,
    /// The worst case in tokens the reservation is the price of.
    pub(crate) reserved_tokens: u64,
    pub(crate) inner: Arc<Inner>,
}

impl Admission {
    /// The key that was admitted, as it stood at admission: its id for
    /// logs, its `allowed_pools` for filtering `/stats` and `/v1/models`.
    pub fn key(&self) -> &KeyMetadata {
        &self.key
    }

    /// Whether spend is being tracked. `false` only for a request admitted
    /// while the store was unreachable under `fail_open`: it is neither
    /// budgeted nor rate limited, and settling it records nothing.
    pub fn is_metered(&self) -> bool {
        self.reservation.is_some()
    }

    /// The amount held for this request.
    pub fn reserved(&self) -> Cents {
        self.reservation.as_ref().map_or(Cents::ZERO, |r| r.amount)
    }

    /// Ends the request: releases the reservation and, for a success,
    /// records its real cost, tokens and one request, in the key's budget
    /// window and in the spend ledger, in one transaction. A success that
    /// cost more than was reserved (a prompt larger than the caller
    /// estimated) is still charged in full; one whose usage never came
    /// ([`Outcome::Unreported`]) is charged what was reserved.
    pub async fn settle(mut self, outcome: Outcome) -> Result<(), StoreError> {
        let Some(reservation) = self.reservation.take() else {
            return Ok(());
        };
        let charge = match outcome {
            Outcome::Succeeded {
                served,
                tokens,
                cost,
            } => {
                let cost = cost.unwrap_or_else(|| self.inner.options.pricing.cost(tokens.total()));
                Some(Charge::new(cost, tokens, served))
            }
            Outcome::Unreported { served } => Some(
                Charge::new(reservation.amount, TokenCounts::default(), served)
                    .counting(self.reserved_tokens),
            ),
            Outcome::Failed => None,
        };
        let now = self.inner.options.clock.now();
        self.inner
            .store
            .settle(Settlement::new(reservation, charge, now))
            .await
    }

    /// Pushes the reservation's expiry one `reservation_ttl` past now. A
    /// stream that may outlive the TTL should call this periodically (every
    /// half TTL is plenty) so its budget stays held.
    pub async fn renew(&self) -> Result<(), StoreError> {
        let Some(reservation) = &self.reservation else {
            return Ok(());
        };
        let options = &self.inner.options;
        let expires_at = options.clock.now().saturating_add(options.reservation_ttl);
        self.inner.store.renew(reservation.id, expires_at).await
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("key_id", &self.key.id)
            .field("reservation", &self.reservation)
            .finish_non_exhaustive()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        tracing::debug!(key_id = %self.key.id, "admission dropped unsettled; releasing its reservation");
        // Without a runtime there is nowhere to run the release; the
        // reservation then lapses at its expiry instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = Arc::clone(&self.inner.store);
            let now = self.inner.options.clock.now();
            runtime.spawn(async move {
                if let Err(err) = store.settle(Settlement::new(reservation, None, now)).await {
                    tracing::warn!(error = %err, "releasing an unsettled reservation failed; it will lapse");
                }
            });
        }
    }
}
