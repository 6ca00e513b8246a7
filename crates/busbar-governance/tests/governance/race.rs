//! Exactness under concurrency: many requests released at once against one
//! budget or one rate limit, through one governor or several "replicas"
//! sharing a store.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Barrier;

use crate::support::{success, Backend, Harness};
use busbar_governance::{Cents, Governor, RateLimit, Refusal, WorstCase};

/// What a race produced: admitted count and every refusal.
pub(crate) struct Tally {
    pub(crate) admitted: usize,
    pub(crate) refusals: Vec<Refusal>,
}

/// Releases `requests` tasks at once, spread round-robin over `replicas`,
/// each asking for `secret`; admitted ones settle as successes of 0 tokens.
pub(crate) async fn race(replicas: &[Governor], secret: &str, requests: usize) -> Tally {
    let barrier = Arc::new(Barrier::new(requests));
    let mut tasks = Vec::with_capacity(requests);
    for i in 0..requests {
        let governor = replicas[i % replicas.len()].clone();
        let (secret, barrier) = (secret.to_owned(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            match governor
                .authorize(&secret, "pool", WorstCase::tokens(0))
                .await
            {
                Ok(admission) => {
                    admission.settle(success(0)).await.expect("settles");
                    Ok(())
                }
                Err(refusal) => Err(refusal),
            }
        }));
    }
    let mut tally = Tally {
        admitted: 0,
        refusals: Vec::new(),
    };
    for task in tasks {
        match task.await.expect("task ran") {
            Ok(()) => tally.admitted += 1,
            Err(refusal) => tally.refusals.push(refusal),
        }
    }
    tally
}

/// 200 concurrent requests against a budget that allows 50: exactly 50 pass
/// and exactly 50 cents are spent.
pub(crate) async fn budget_is_exact_under_concurrency(backend: Backend) {
    let h = Harness::open(backend, Default::default()).await;
    let key = h
        .create(json!({"name": "burst", "max_budget_cents": 50}))
        .await;
    let tally = race(std::slice::from_ref(&h.governor), &key.secret, 200).await;
    assert_eq!(tally.admitted, 50);
    assert!(
        tally
            .refusals
            .iter()
            .all(|r| matches!(r, Refusal::BudgetExhausted { .. })),
        "{:?}",
        tally.refusals
    );
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!((usage.spend_cents, usage.requests), (Cents::whole(50), 50));
    h.finish().await;
}

/// 100 concurrent requests against `rpm_limit: 30`: exactly 30 pass.
pub(crate) async fn rpm_is_exact_under_concurrency(backend: Backend) {
    let h = Harness::open(backend, Default::default()).await;
    let key = h.create(json!({"name": "burst", "rpm_limit": 30})).await;
    let tally = race(std::slice::from_ref(&h.governor), &key.secret, 100).await;
    assert_eq!(tally.admitted, 30);
    assert_rate_limited(&tally.refusals, 70);
    h.finish().await;
}

pub(crate) fn assert_rate_limited(refusals: &[Refusal], expected: usize) {
    assert_eq!(refusals.len(), expected);
    for refusal in refusals {
        match refusal {
            Refusal::RateLimited {
                limit: RateLimit::Requests,
                retry_after_secs,
                ..
            } => {
                assert_eq!(
                    *retry_after_secs, 60,
                    "the clock does not move during the race"
                );
            }
            other => panic!("expected an RPM refusal, got {other:?}"),
        }
    }
}
