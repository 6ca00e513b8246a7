//! The rules every store must keep, run once per backend (see the
//! `suite!` invocations in `sqlite.rs` and `postgres.rs`).

use std::time::Duration;

use serde_json::json;

use crate::support::{start, success, Backend, Harness};
use busbar_governance::{
    lookup_hash, AdminError, Cents, KeyPatch, OpenError, Outcome, Pricing, RateLimit, Refusal,
    Sealer, Timestamp, WorstCase,
};

pub(crate) fn cents(n: i64) -> Cents {
    Cents::whole(n)
}

fn patch(body: serde_json::Value) -> KeyPatch {
    KeyPatch::from_json(body.to_string().as_bytes()).expect("valid patch")
}

fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
    Timestamp::from_utc(y, mo, d, h, mi, s).expect("valid date")
}

fn rate_limited(result: Result<busbar_governance::Admission, Refusal>) -> (RateLimit, u64) {
    match result {
        Err(Refusal::RateLimited {
            limit,
            retry_after_secs,
            ..
        }) => (limit, retry_after_secs),
        other => panic!("expected a rate limit, got {other:?}"),
    }
}

pub(crate) fn budget_refused(result: Result<busbar_governance::Admission, Refusal>) {
    match result {
        Err(refusal @ Refusal::BudgetExhausted { .. }) => {
            assert_eq!(refusal.code(), "insufficient_quota");
        }
        other => panic!("expected insufficient_quota, got {other:?}"),
    }
}

pub(crate) async fn admin_lifecycle(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let created = h
        .create(json!({"name": "team-a", "allowed_pools": ["pool"], "max_budget_cents": 100, "metadata": {"owner": "ana"}}))
        .await;
    assert!(busbar_governance::looks_like_virtual_key(&created.secret));
    assert!(busbar_governance::looks_like_key_id(&created.key.id));
    assert_eq!(created.key.created_at, start());
    let id = created.key.id.clone();

    let listed = h.governor.list_keys().await.expect("lists");
    let text = serde_json::to_string(&listed).expect("json");
    assert!(
        !text.contains(&created.secret) && !text.contains(&lookup_hash(&created.secret)),
        "{text}"
    );
    assert!(!text.contains("secret") && !text.contains("hash"), "{text}");
    assert_eq!(listed.keys, vec![created.key.clone()]);
    assert_eq!(h.governor.get_key(&id).await.expect("found"), created.key);

    let updated = h
        .governor
        .update_key(
            &id,
            &patch(json!({"rpm_limit": 5, "max_budget_cents": null})),
        )
        .await;
    let updated = updated.expect("patched");
    assert_eq!((updated.rpm_limit, updated.max_budget), (Some(5), None));
    assert_eq!(updated.allowed_pools, ["pool"], "absent fields stay");
    assert_eq!(
        h.governor.get_key(&id).await.expect("found"),
        updated,
        "the patch was stored"
    );

    h.governor
        .update_key(&id, &patch(json!({"enabled": false})))
        .await
        .expect("suspends");
    let refused = h.ask(&created.secret, 0).await.expect_err("suspended");
    assert!(matches!(&refused, Refusal::KeyDisabled { key_id } if *key_id == id));
    h.governor
        .update_key(&id, &patch(json!({"enabled": true})))
        .await
        .expect("resumes");
    h.ask(&created.secret, 0)
        .await
        .expect("admitted")
        .settle(Outcome::Failed)
        .await
        .expect("settles");

    let usage = h.governor.usage(&id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.tokens, usage.requests),
        (Cents::ZERO, 0, 0)
    );

    assert_eq!(
        h.governor.delete_key(&id).await.expect("deleted").deleted,
        id
    );
    let missing = |e: AdminError| assert_eq!(e, AdminError::NotFound(id.clone()));
    missing(h.governor.get_key(&id).await.expect_err("gone"));
    missing(h.governor.delete_key(&id).await.expect_err("gone"));
    missing(h.governor.usage(&id).await.expect_err("gone"));
    missing(
        h.governor
            .update_key(&id, &KeyPatch::default())
            .await
            .expect_err("gone"),
    );
    assert!(matches!(
        h.governor
            .get_key("../etc")
            .await
            .expect_err("malformed id"),
        AdminError::NotFound(_)
    ));
    assert_eq!(
        h.ask(&created.secret, 0).await.expect_err("deleted"),
        Refusal::UnknownKey
    );
    h.finish().await;
}

/// `identify` finds a key by its secret as admission does, follows every
/// change to it (a key created later, suspended, resumed, deleted) and
/// neither holds budget nor counts toward a rate limit.
pub(crate) async fn identify_admits_nothing_and_follows_changes(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let first = h
        .create(json!({"name": "first", "max_budget_cents": 1, "rpm_limit": 1}))
        .await;
    let id = first.key.id.clone();
    for _ in 0..3 {
        assert_eq!(
            h.governor.identify(&first.secret).await,
            Ok(first.key.clone())
        );
    }
    // The one request a cent and `rpm_limit: 1` allow is still there.
    h.ask(&first.secret, 0)
        .await
        .expect("identifying held nothing")
        .settle(Outcome::Failed)
        .await
        .expect("settles");
    rate_limited(h.ask(&first.secret, 0).await);
    assert_eq!(
        h.governor.identify(&first.secret).await,
        Ok(first.key.clone()),
        "a full rate window is no reason not to know who is calling"
    );

    let second = h.create(json!({"name": "second"})).await;
    assert_eq!(
        h.governor.identify(&second.secret).await,
        Ok(second.key.clone())
    );
    let usage = h.governor.usage(&second.key.id).await.expect("usage");
    assert_eq!((usage.requests, usage.spend_cents), (0, Cents::ZERO));

    let made_up = "sk-bb-0123456789abcdef0123456789abcdef";
    assert!(busbar_governance::looks_like_virtual_key(made_up));
    for wrong in [made_up, "not-a-key", "", &lookup_hash(&first.secret)] {
        assert_eq!(h.governor.identify(wrong).await, Err(Refusal::UnknownKey));
    }

    h.governor
        .update_key(&id, &patch(json!({"enabled": false})))
        .await
        .expect("suspends");
    let refused = h
        .governor
        .identify(&first.secret)
        .await
        .expect_err("suspended");
    assert_eq!(refused.key_id(), Some(id.as_str()));
    assert!(matches!(refused, Refusal::KeyDisabled { .. }));
    h.governor
        .update_key(&id, &patch(json!({"enabled": true})))
        .await
        .expect("resumes");
    assert_eq!(
        h.governor.identify(&first.secret).await.map(|k| k.id),
        Ok(id.clone())
    );

    h.governor.delete_key(&id).await.expect("deleted");
    assert_eq!(
        h.governor.identify(&first.secret).await,
        Err(Refusal::UnknownKey)
    );
    assert_eq!(h.governor.identify(&second.secret).await, Ok(second.key));
    h.finish().await;
}

pub(crate) async fn checks_run_in_contract_order(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h
        .create(
            json!({"name": "k", "allowed_pools": ["pool"], "max_budget_cents": 0, "rpm_limit": 1}),
        )
        .await;
    let wrong_pool = h
        .governor
        .authorize(&key.secret, "other", WorstCase::tokens(0))
        .await
        .expect_err("403 first");
    assert!(matches!(wrong_pool, Refusal::NotAllowed { .. }));
    budget_refused(h.ask(&key.secret, 0).await);
    h.governor
        .update_key(&key.key.id, &patch(json!({"max_budget_cents": 10})))
        .await
        .expect("raised");
    let first = h.ask(&key.secret, 0).await.expect("admitted");
    assert_eq!(
        rate_limited(h.ask(&key.secret, 0).await),
        (RateLimit::Requests, 60)
    );
    first.settle(success(0)).await.expect("settles");
    assert_eq!(
        h.ask("not-a-key", 0).await.expect_err("garbage"),
        Refusal::UnknownKey
    );
    let stranger = "sk-bb-00000000000000000000000000000000";
    assert_eq!(
        h.ask(stranger, 0).await.expect_err("unknown"),
        Refusal::UnknownKey
    );
    h.finish().await;
}

pub(crate) async fn daily_budget_rolls_over_at_utc_midnight(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h
        .create(json!({"name": "k", "max_budget_cents": 2, "budget_period": "daily"}))
        .await;
    for _ in 0..2 {
        h.ask(&key.secret, 0)
            .await
            .expect("fits")
            .settle(success(5))
            .await
            .expect("ok");
    }
    budget_refused(h.ask(&key.secret, 0).await);
    h.clock
        .set(at(2025, 2, 1, 0, 0, 0).saturating_sub(Duration::from_millis(1)));
    budget_refused(h.ask(&key.secret, 0).await);
    h.clock.set(at(2025, 2, 1, 0, 0, 0));
    assert_eq!(
        h.governor.usage(&key.key.id).await.expect("usage").requests,
        0,
        "a new window"
    );
    let fresh = h.ask(&key.secret, 0).await.expect("new day");
    fresh.settle(success(5)).await.expect("ok");
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.tokens, usage.requests),
        (cents(1), 5, 1)
    );
    h.finish().await;
}

pub(crate) async fn monthly_budget_rolls_over_on_the_first(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h
        .create(json!({"name": "k", "max_budget_cents": 1, "budget_period": "monthly"}))
        .await;
    let spend = |h: &Harness| {
        let secret = key.secret.clone();
        let governor = h.governor.clone();
        async move {
            let admitted = governor
                .authorize(&secret, "pool", WorstCase::tokens(0))
                .await
                .expect("fits");
            admitted.settle(success(0)).await.expect("ok");
        }
    };
    spend(&h).await;
    budget_refused(h.ask(&key.secret, 0).await);
    h.clock.set(at(2025, 2, 1, 0, 0, 0));
    spend(&h).await;
    h.clock.set(at(2025, 2, 28, 23, 59, 59));
    budget_refused(h.ask(&key.secret, 0).await);
    h.clock.set(at(2025, 3, 1, 0, 0, 0));
    spend(&h).await;

    let total = h.create(json!({"name": "t", "max_budget_cents": 1})).await;
    h.ask(&total.secret, 0)
        .await
        .expect("fits")
        .settle(success(0))
        .await
        .expect("ok");
    h.clock.set(at(2026, 3, 1, 0, 0, 0));
    budget_refused(h.ask(&total.secret, 0).await);
    h.finish().await;
}

pub(crate) async fn rpm_is_a_sliding_minute(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "rpm_limit": 2})).await;
    let t0 = start();
    let at = |secs: u64, ms: u64| {
        t0.saturating_add(Duration::from_secs(secs) + Duration::from_millis(ms))
    };
    let admit_and_fail = |h: &Harness| {
        let (secret, governor) = (key.secret.clone(), h.governor.clone());
        async move {
            // A failed request still counts: it was admitted.
            governor
                .authorize(&secret, "pool", WorstCase::tokens(0))
                .await
                .expect("admitted")
                .settle(Outcome::Failed)
                .await
                .expect("ok");
        }
    };
    admit_and_fail(&h).await;
    h.clock.set(at(10, 0));
    admit_and_fail(&h).await;
    h.clock.set(at(20, 0));
    assert_eq!(
        rate_limited(h.ask(&key.secret, 0).await),
        (RateLimit::Requests, 40)
    );
    h.clock.set(at(59, 999));
    assert_eq!(
        rate_limited(h.ask(&key.secret, 0).await),
        (RateLimit::Requests, 1)
    );
    h.clock.set(at(60, 0));
    admit_and_fail(&h).await;
    h.clock.set(at(61, 0));
    assert_eq!(
        rate_limited(h.ask(&key.secret, 0).await),
        (RateLimit::Requests, 9)
    );
    h.finish().await;
}

pub(crate) async fn tpm_counts_settled_tokens(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "tpm_limit": 1000})).await;
    let t0 = start();
    h.ask(&key.secret, 0)
        .await
        .expect("empty")
        .settle(success(600))
        .await
        .expect("ok");
    h.clock.set(t0.saturating_add(Duration::from_secs(10)));
    h.ask(&key.secret, 0)
        .await
        .expect("600 < 1000")
        .settle(success(500))
        .await
        .expect("ok");
    h.clock.set(t0.saturating_add(Duration::from_secs(20)));
    assert_eq!(
        rate_limited(h.ask(&key.secret, 0).await),
        (RateLimit::Tokens, 40)
    );
    h.clock.set(t0.saturating_add(Duration::from_secs(60)));
    // 500 left in the window; two in flight are both admitted, since
    // in-flight requests have no token count yet.
    let a = h.ask(&key.secret, 0).await.expect("500 < 1000");
    let b = h.ask(&key.secret, 0).await.expect("still 500");
    a.settle(success(600)).await.expect("ok");
    b.settle(Outcome::Failed)
        .await
        .expect("failures carry no tokens");
    assert_eq!(
        h.governor.usage(&key.key.id).await.expect("usage").tokens,
        1700
    );
    assert_eq!(
        rate_limited(h.ask(&key.secret, 0).await),
        (RateLimit::Tokens, 10)
    );
    h.finish().await;
}

pub(crate) async fn sealed_secrets_recover_for_sigv4(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "bedrock"})).await;
    let recovered = h
        .governor
        .recover_secret(&key.key.id)
        .await
        .expect("store")
        .expect("present");
    assert_eq!(recovered.expose(), key.secret);
    assert!(h
        .governor
        .recover_secret("vk_0000000000000000")
        .await
        .expect("store")
        .is_none());
    assert!(h
        .governor
        .recover_secret("not-an-id")
        .await
        .expect("store")
        .is_none());
    let sealed = h
        .store
        .sealed_secret(&key.key.id)
        .await
        .expect("store")
        .expect("present");
    assert!(!sealed
        .windows(key.secret.len())
        .any(|w| w == key.secret.as_bytes()));

    let other = Sealer::from_secret("a different server secret").expect("non-empty");
    let mismatch =
        busbar_governance::Governor::with_store(h.store.clone(), other, Default::default()).await;
    assert!(
        matches!(mismatch, Err(OpenError::SealingKeyMismatch)),
        "{mismatch:?}"
    );
    h.finish().await;
}
