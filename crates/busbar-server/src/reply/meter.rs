//! A governed request's admission, carried with its reply until the reply
//! ends, counting the tokens the reply reports on the way.
//!
//! A [`Meter`] travels in the lane's `Guard` inside the response body, so it
//! settles when the body does: `Succeeded` with the reply's usage when the
//! reply completes, `Failed` when the upstream breaks off. When the client
//! of a stream goes away, the body reads the rest of the stream for its
//! usage (see `drain`) and settles `Succeeded` with it, or `Unreported` (the
//! worst case reserved) when the rest cannot be read. A meter dropped without
//! settling (every attempt failed, a panic) drops its admission, which
//! releases the reservation without charge.
//!
//! Settling needs the store, so a body (which is polled, not awaited)
//! spawns it; a complete reply that Busbar reads whole settles before it is
//! sent, so the client's next request already sees the spend.

use std::sync::Arc;
use std::time::Duration;

use busbar_governance::{Admission, Cents, Outcome, Served, TokenCounts};
use busbar_ir::{StreamEvent, Usage};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How often a long reply renews its reservation: half the governor's
/// default 10-minute reservation TTL, so a renewal that runs late still
/// lands before the hold lapses.
const RENEW_EVERY: Duration = Duration::from_secs(300);

/// An admitted request's hold on its key's budget, the lane serving it
/// and the usage seen.
pub(crate) struct Meter {
    /// Shared with renewals in flight; taken when the request settles.
    admission: Arc<Mutex<Option<Admission>>>,
    usage: Usage,
    renew_at: Instant,
    /// Whether the serving lane's catalog price is charged.
    catalog: bool,
    /// The model and lane of the attempt whose reply this meter follows.
    served: Served,
    /// That lane's catalog price, under catalog pricing.
    price: Option<LanePrice>,
}

impl Meter {
    /// A meter for `admission`, charging catalog prices when `catalog`.
    pub(crate) fn new(admission: Admission, catalog: bool) -> Self {
        Self {
            admission: Arc::new(Mutex::new(Some(admission))),
            usage: Usage::default(),
            renew_at: Instant::now() + RENEW_EVERY,
            catalog,
            served: Served::default(),
            price: None,
        }
    }

    /// The reply comes from the model and lane `served`, which go in the
    /// spend ledger; under catalog pricing, `price` (that lane's, if the
    /// catalog has one) is what is charged.
    pub(crate) fn served_by(&mut self, served: Served, price: Option<LanePrice>) {
        self.served = served;
        self.price = if self.catalog { price } else { None };
    }

    /// The admitted key's id, for the request log.
    pub(crate) fn key_id(&self) -> Option<String> {
        let held = self.admission.try_lock().ok()?;
        held.as_ref().map(|admission| admission.key().id.clone())
    }

    /// Folds a stream event's usage report in (reports are cumulative).
    pub(crate) fn observe(&mut self, event: &StreamEvent) {
        if let Some(usage) = event.usage() {
            self.usage.merge(usage);
        }
    }

    /// Takes a complete reply's usage.
    pub(crate) fn record(&mut self, usage: &Usage) {
        self.usage.merge(usage);
    }

    /// Renews the reservation in the background when it is due. Called as
    /// a long reply's frames pass.
    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        if now < self.renew_at {
            return;
        }
        self.renew_at = now + RENEW_EVERY;
        let shared = Arc::clone(&self.admission);
        spawn(async move {
            let held = shared.lock().await;
            if let Some(admission) = held.as_ref() {
                if let Err(error) = admission.renew().await {
                    tracing::warn!(%error, "renewing a governance reservation failed");
                    store_error("renew");
                }
            }
        });
    }

    /// Settles in the background: for a body, which cannot wait.
    pub(crate) fn finish(self, succeeded: bool) {
        spawn(self.settle(succeeded));
    }

    /// Settles in the background at the worst case reserved: the reply
    /// succeeded but its usage never came.
    pub(crate) fn finish_unreported(mut self) {
        let served = std::mem::take(&mut self.served);
        spawn(self.settle_as(Outcome::Unreported { served }));
    }

    /// Settles now: `Succeeded` with the tokens seen (at the lane's catalog
    /// price, when it has one and catalog pricing is on), or `Failed`.
    pub(crate) async fn settle(mut self, succeeded: bool) {
        let outcome = if succeeded {
            let served = std::mem::take(&mut self.served);
            let tokens = token_counts(&self.usage);
            match &self.price {
                Some(price) => Outcome::succeeded_at(served, tokens, price.cost(&self.usage)),
                None => Outcome::succeeded(served, tokens),
            }
        } else {
            Outcome::Failed
        };
        self.settle_as(outcome).await;
    }

    async fn settle_as(self, outcome: Outcome) {
        let Some(admission) = self.admission.lock().await.take() else {
            return;
        };
        let key_id = admission.key().id.clone();
        if let Err(error) = admission.settle(outcome).await {
            tracing::warn!(%error, key_id, "settling a governed request failed; its reservation will lapse");
            store_error("settle");
        }
    }
}

/// A lane's price in the model price catalog (or its `models.NAME.price`),
/// as the meter charges it under `governance.pricing: catalog`.
#[derive(Debug, Clone)]
pub(crate) struct LanePrice(pub(crate) std::sync::Arc<busbar_config::Price>);

impl LanePrice {
    /// What `usage` cost on this lane, class by class, exact to the
    /// micro-cent governance keeps (a picodollar remainder below it is
    /// rounded to the nearest).
    pub(crate) fn cost(&self, usage: &Usage) -> Cents {
        money_to_cents(self.0.cost(usage))
    }
}

/// `money` in governance's micro-cents (10⁻⁸ USD, 10⁴ picodollars),
/// rounded to the nearest.
pub(crate) fn money_to_cents(money: busbar_config::Money) -> Cents {
    const PICODOLLARS_PER_MICRO_CENT: u128 = 10_000;
    let micros =
        (money.picodollars() + PICODOLLARS_PER_MICRO_CENT / 2) / PICODOLLARS_PER_MICRO_CENT;
    Cents::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// A reply's usage by class, as governance records it.
fn token_counts(usage: &Usage) -> TokenCounts {
    TokenCounts::new(usage.input_tokens, usage.output_tokens)
        .with_cache(
            usage.cache_read_tokens.unwrap_or(0),
            usage.cache_write_tokens.unwrap_or(0),
        )
        .with_reasoning(usage.reasoning_tokens.unwrap_or(0))
}

/// Runs `task` on the current runtime. Without one (a body dropped after
/// the runtime shut down) there is nothing to run it on; the reservation
/// then lapses at its expiry.
fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(task);
    }
}

/// Counts a failed store operation: `admit`, `settle`, `renew` or `admin`.
pub(crate) fn store_error(operation: &'static str) {
    metrics::counter!("busbar_governance_store_errors_total", "operation" => operation)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use busbar_governance::{NewKey, Refusal, WorstCase};
    use busbar_ir::{StreamEvent, Usage};

    use crate::governance::tests::{fixture, key, refusal};

    #[tokio::test]
    async fn a_meter_charges_the_tokens_it_saw_and_failures_nothing() {
        let fixture = fixture().await;
        let governance = &fixture.governance;
        let mut spec = NewKey::named("metered");
        spec.allowed_pools = vec!["fast".into()];
        let (id, secret) = key(governance, spec).await;
        let mut meter = governance
            .admit(&secret, "fast", WorstCase::tokens(100))
            .await
            .expect("admitted");
        meter.observe(&StreamEvent::MessageStart {
            id: String::new(),
            model: String::new(),
            created: None,
            usage: Usage::new(12, 0),
        });
        meter.observe(&StreamEvent::MessageDelta {
            stop_reason: None,
            stop_sequence: None,
            usage: Some(Usage::new(0, 30)),
        });
        meter.settle(true).await;
        let failed = governance
            .admit(&secret, "fast", WorstCase::tokens(100))
            .await
            .expect("admitted");
        failed.settle(false).await;
        let usage = governance.governor().usage(&id).await.expect("usage");
        assert_eq!((usage.requests, usage.tokens), (1, 42));
        let error = governance
            .admit(&secret, "slow", WorstCase::tokens(100))
            .await
            .err()
            .expect("refused");
        assert!(matches!(refusal(error), Refusal::NotAllowed { .. }));
    }

    #[tokio::test]
    async fn a_dropped_meter_gives_its_reservation_back() {
        let fixture = fixture().await;
        let governance = &fixture.governance;
        let spec = NewKey::from_json(br#"{"name": "one", "max_budget_cents": 1}"#).expect("spec");
        let (_, secret) = key(governance, spec).await;
        let held = governance
            .admit(&secret, "fast", WorstCase::tokens(0))
            .await
            .expect("admitted");
        let error = governance
            .admit(&secret, "fast", WorstCase::tokens(0))
            .await
            .err()
            .expect("held");
        assert!(matches!(refusal(error), Refusal::BudgetExhausted { .. }));
        drop(held);
        let mut admitted = false;
        for _ in 0..100 {
            if let Ok(meter) = governance
                .admit(&secret, "fast", WorstCase::tokens(0))
                .await
            {
                meter.settle(false).await;
                admitted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(admitted, "the reservation was never released");
    }
}

#[cfg(test)]
mod price_tests {
    use super::*;

    #[test]
    fn money_becomes_micro_cents_rounded_to_the_nearest() {
        let picodollars = |p| money_to_cents(busbar_config::Money::from_picodollars(p)).micros();
        // One micro-cent is 10⁻⁸ dollars: 10,000 picodollars.
        assert_eq!(picodollars(10_000), 1);
        assert_eq!(picodollars(14_999), 1);
        assert_eq!(picodollars(15_000), 2);
        assert_eq!(picodollars(0), 0);
        // $3 a million tokens is 3,000,000 picodollars a token: 300 micro-cents.
        assert_eq!(picodollars(3_000_000 * 7), 2_100);
    }
}
