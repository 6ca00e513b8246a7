//! Reservations from admission to settlement: refunds, lapses, drops,
//! renewals and the holds of a process that died, run once per backend.

use std::time::Duration;

use serde_json::json;

use crate::suite::{budget_refused, cents};
use crate::support::{governor_as, governor_on, start, success, Backend, Harness};
use busbar_governance::{Outcome, Pricing, WorstCase};

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

    a1.settle(success(1000)).await.expect("settles at 11");
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

    a3.settle(success(2500)).await.expect("settles at 26");
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.tokens, usage.requests),
        (cents(37), 3500, 2)
    );

    // 37 spent: a worst case of 64 would make 101, one of 63 makes exactly 100.
    budget_refused(h.ask(&key.secret, 6300).await);
    let last = h.ask(&key.secret, 6200).await.expect("exactly at the cap");
    last.settle(success(6200)).await.expect("settles");
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
    admitted.settle(success(0)).await.expect("ok");
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
    stream.settle(success(0)).await.expect("ok");
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

/// A process that crashes leaves its reservations in the store. `/usage`
/// shows them in flight; they are released when the next process starts
/// (SQLite, one process per file) or once the dead process's heartbeat is
/// stale (PostgreSQL, where a fresh owner may be a live replica), never
/// when a live process opens another governor (a reload).
pub(crate) async fn a_dead_processes_reservations_are_released(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "max_budget_cents": 2})).await;
    let store = || std::sync::Arc::clone(&h.store);
    let crashed = governor_as(store(), Pricing::default(), &h.clock, "own_crashed").await;
    // kill -9: the admission is neither settled nor dropped.
    std::mem::forget(
        crashed
            .authorize(&key.secret, "pool", WorstCase::tokens(0))
            .await
            .expect("1 of 2"),
    );
    drop(crashed);
    let held = h.ask(&key.secret, 0).await.expect("2 of 2");
    budget_refused(h.ask(&key.secret, 0).await);
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.reserved_cents, usage.in_flight),
        (cents(0), cents(2), 2)
    );
    // A reload in this process opens another governor: nothing it holds
    // is anyone's to release.
    let reloaded = governor_on(store(), Pricing::default(), &h.clock).await;
    let usage = reloaded.usage(&key.key.id).await.expect("usage");
    match backend {
        Backend::Sqlite => {
            // The reload's check-in is a start: the crashed process's hold
            // went, this process's stayed.
            assert_eq!((usage.reserved_cents, usage.in_flight), (cents(1), 1));
        }
        Backend::Postgres => {
            // The crashed owner's heartbeat is fresh: it may be a live
            // replica, so its hold stays until the heartbeat is stale.
            assert_eq!((usage.reserved_cents, usage.in_flight), (cents(2), 2));
            let stale = h.governor.options().owner_stale_after;
            h.clock
                .advance(stale.saturating_sub(Duration::from_secs(1)));
            assert_eq!(h.governor.check_in(false).await.expect("beats"), 0);
            h.clock.advance(Duration::from_secs(1));
            assert_eq!(h.governor.check_in(false).await.expect("beats"), 1);
        }
    }
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!((usage.reserved_cents, usage.in_flight), (cents(1), 1));
    let freed = h.ask(&key.secret, 0).await.expect("the dead hold is free");
    budget_refused(h.ask(&key.secret, 0).await);
    for admission in [held, freed] {
        admission.settle(success(0)).await.expect("settles");
    }
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.reserved_cents, usage.in_flight),
        (cents(2), cents(0), 0)
    );
    h.finish().await;
}

/// On SQLite a new process releases everything an earlier one held, at
/// once, whatever its heartbeat said.
pub(crate) async fn a_restart_frees_the_crashed_processes_holds(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "max_budget_cents": 1})).await;
    let before = governor_as(
        std::sync::Arc::clone(&h.store),
        Pricing::default(),
        &h.clock,
        "own_before",
    )
    .await;
    std::mem::forget(
        before
            .authorize(&key.secret, "pool", WorstCase::tokens(0))
            .await
            .expect("admitted"),
    );
    drop(before);
    budget_refused(h.ask(&key.secret, 0).await);
    let after = governor_as(
        std::sync::Arc::clone(&h.store),
        Pricing::default(),
        &h.clock,
        "own_after",
    )
    .await;
    let usage = after.usage(&key.key.id).await.expect("usage");
    match backend {
        Backend::Sqlite => {
            assert_eq!((usage.reserved_cents, usage.in_flight), (cents(0), 0));
            let admission = after
                .authorize(&key.secret, "pool", WorstCase::tokens(0))
                .await
                .expect("the crashed hold was released at start");
            admission.settle(Outcome::Failed).await.expect("ok");
        }
        Backend::Postgres => {
            assert_eq!((usage.reserved_cents, usage.in_flight), (cents(1), 1));
            budget_refused(
                after
                    .authorize(&key.secret, "pool", WorstCase::tokens(0))
                    .await,
            );
        }
    }
    h.finish().await;
}
