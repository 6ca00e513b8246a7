//! Reservations from admission to settlement: refunds, lapses, drops and
//! renewals, run once per backend.

use std::time::Duration;

use serde_json::json;

use crate::suite::{budget_refused, cents};
use crate::support::{start, Backend, Harness};
use busbar_governance::{Outcome, Pricing};

pub(crate) async fn reservations_settle_to_real_usage(backend: Backend) {
    let pricing = Pricing::new(1.0, 10.0).expect("valid");
    let h = Harness::open(backend, pricing).await;
    let key = h
        .create(json!({"name": "k", "max_budget_cents": 100}))
        .await;
    let a1 = h.ask(&key.secret, 4000).await.expect("41 of 100");
    assert_eq!(a1.reserved(), cents(41));
    let a2 = h.ask(&key.secret, 4000).await.expect("82 of 100");
    budget_refused(h.ask(&key.secret, 4000).await);

    a1.settle(Outcome::Succeeded { total_tokens: 1000 })
        .await
        .expect("settles at 11");
    let a3 = h
        .ask(&key.secret, 4000)
        .await
        .expect("11 spent + 82 held ≤ 100");
    a2.settle(Outcome::Failed).await.expect("refunded");
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.tokens, usage.requests),
        (cents(11), 1000, 1)
    );

    a3.settle(Outcome::Succeeded { total_tokens: 2500 })
        .await
        .expect("settles at 26");
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.tokens, usage.requests),
        (cents(37), 3500, 2)
    );

    // 37 spent: a worst case of 64 would make 101, one of 63 makes exactly 100.
    budget_refused(h.ask(&key.secret, 6300).await);
    let last = h.ask(&key.secret, 6200).await.expect("exactly at the cap");
    last.settle(Outcome::Succeeded { total_tokens: 6200 })
        .await
        .expect("settles");
    budget_refused(h.ask(&key.secret, 0).await);
    assert_eq!(
        h.governor
            .usage(&key.key.id)
            .await
            .expect("usage")
            .spend_cents,
        cents(100)
    );
    h.finish().await;
}

pub(crate) async fn unsettled_reservations_lapse(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "max_budget_cents": 1})).await;
    // A crash: the admission is never settled and never dropped.
    std::mem::forget(h.ask(&key.secret, 0).await.expect("admitted"));
    budget_refused(h.ask(&key.secret, 0).await);
    let ttl = h.governor.options().reservation_ttl;
    h.clock.set(
        start()
            .saturating_add(ttl)
            .saturating_sub(Duration::from_millis(1)),
    );
    budget_refused(h.ask(&key.secret, 0).await);
    h.clock.set(start().saturating_add(ttl));
    let after = h
        .ask(&key.secret, 0)
        .await
        .expect("the lapsed hold no longer counts");
    assert_eq!(h.governor.reap().await.expect("reaps"), 1);
    after.settle(Outcome::Failed).await.expect("ok");
    assert_eq!(h.governor.reap().await.expect("reaps"), 0);
    h.finish().await;
}

pub(crate) async fn dropped_admissions_are_released(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "max_budget_cents": 1})).await;
    drop(h.ask(&key.secret, 0).await.expect("admitted"));
    let mut admitted = None;
    for _ in 0..100 {
        if let Ok(a) = h.ask(&key.secret, 0).await {
            admitted = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let admitted = admitted.expect("the dropped admission's hold was released");
    admitted
        .settle(Outcome::Succeeded { total_tokens: 0 })
        .await
        .expect("ok");
    assert_eq!(
        h.governor.usage(&key.key.id).await.expect("usage").requests,
        1,
        "the drop charged nothing"
    );
    h.finish().await;
}

pub(crate) async fn renewal_keeps_a_long_stream_held(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "max_budget_cents": 1})).await;
    let stream = h.ask(&key.secret, 0).await.expect("admitted");
    h.clock.advance(Duration::from_secs(480));
    stream.renew().await.expect("renews");
    h.clock.advance(Duration::from_secs(480));
    budget_refused(h.ask(&key.secret, 0).await);
    stream
        .settle(Outcome::Succeeded { total_tokens: 0 })
        .await
        .expect("ok");
    budget_refused(h.ask(&key.secret, 0).await);
    assert_eq!(
        h.governor
            .usage(&key.key.id)
            .await
            .expect("usage")
            .spend_cents,
        cents(1)
    );
    h.finish().await;
}
