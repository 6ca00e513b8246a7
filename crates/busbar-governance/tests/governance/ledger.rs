//! Money from the caller and the spend ledger: explicit (catalog) amounts
//! reserved and charged, the ledger's rows per (key, model, lane, day), and
//! the report's grouping, range, totals and cap, run once per backend.

use std::time::Duration;

use serde_json::json;

use crate::suite::{budget_refused, cents};
use crate::support::{Backend, Harness};
use busbar_governance::{
    Cents, Day, Dimension, Outcome, Pricing, Served, SpendQuery, SpendRow, TokenCounts, WorstCase,
};

fn day(text: &str) -> Day {
    Day::parse(text).expect("a date")
}

fn served(model: &str, lane: &str) -> Served {
    Served::new(model, lane)
}

/// Under catalog pricing the caller names the amounts: the worst case is
/// reserved as given, the real cost charged as given (here a thousandth of
/// a micro-dollar would not fit: catalog costs are whole micro-dollars),
/// and a reply whose usage never came is charged the reservation.
pub(crate) async fn explicit_amounts_are_reserved_and_charged(backend: Backend) {
    let h = Harness::open(backend, Pricing::default()).await;
    let key = h.create(json!({"name": "k", "max_budget_cents": 10})).await;
    let ask = |amount: Cents| {
        h.governor
            .authorize(&key.secret, "pool", WorstCase::priced(300, amount))
    };
    let first = ask(cents(6)).await.expect("6 of 10");
    assert_eq!(first.reserved(), cents(6));
    budget_refused(ask(cents(5)).await);
    // 20,000 micro-dollars: two cents, whatever the flat price says.
    let cost = Cents::from_microdollars(20_000);
    let tokens = TokenCounts::new(200, 50)
        .with_cache(150, 10)
        .with_reasoning(20);
    first
        .settle(Outcome::succeeded_at(served("gpt-4o", "gpt"), tokens, cost))
        .await
        .expect("settles");
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (
            usage.spend_cents,
            usage.tokens,
            usage.requests,
            usage.classes
        ),
        (cents(2), 250, 1, tokens)
    );
    let second = ask(cents(5)).await.expect("2 spent + 5 held ≤ 10");
    second
        .settle(Outcome::Unreported {
            served: served("gpt-4o", "gpt"),
        })
        .await
        .expect("settles at the reservation");
    let usage = h.governor.usage(&key.key.id).await.expect("usage");
    assert_eq!(
        (usage.spend_cents, usage.tokens, usage.requests),
        (cents(7), 550, 2),
        "the unreported reply is charged 5 and counted at its 300-token worst case"
    );
    assert_eq!(usage.classes, tokens, "but adds no reported class");
    // A token-priced worst case still uses the flat prices.
    let flat = h
        .governor
        .authorize(&key.secret, "pool", WorstCase::tokens(10_000))
        .await
        .expect("1 cent of the 3 left");
    assert_eq!(flat.reserved(), cents(1));
    flat.settle(Outcome::Failed).await.expect("released");
    h.finish().await;
}

/// Every charge lands in its (key, model, lane, admission day) row; a
/// report sums rows over a range of days as grouped, with totals over the
/// whole range even when the rows are cut.
pub(crate) async fn the_ledger_groups_spend_by_key_model_lane_and_day(backend: Backend) {
    // Half a cent a request and 1 cent per 1000 tokens.
    let h = Harness::open(backend, Pricing::new(0.5, 1.0).expect("valid")).await;
    let a = h.create(json!({"name": "a"})).await;
    let b = h.create(json!({"name": "b"})).await;
    let charge = |secret: String, model: &'static str, lane: &'static str, input: u64| {
        let governor = h.governor.clone();
        async move {
            let admission = governor
                .authorize(&secret, "pool", WorstCase::tokens(input))
                .await
                .expect("admitted");
            let tokens = TokenCounts::new(input, 500).with_reasoning(100);
            admission
                .settle(Outcome::succeeded(served(model, lane), tokens))
                .await
                .expect("settles");
        }
    };
    // 2025-01-31, from 23:58: a on two lanes, b on one; a failure adds
    // nothing anywhere.
    charge(a.secret.clone(), "gpt-4o", "gpt", 1500).await;
    charge(a.secret.clone(), "gpt-4o", "gpt", 500).await;
    charge(a.secret.clone(), "claude", "claude", 500).await;
    charge(b.secret.clone(), "gpt-4o", "gpt", 1500).await;
    let failed = h.ask(&a.secret, 0).await.expect("admitted");
    failed.settle(Outcome::Failed).await.expect("released");
    // Past midnight: 2025-02-01.
    h.clock.advance(Duration::from_secs(180));
    charge(a.secret.clone(), "gpt-4o", "gpt", 500).await;

    let jan_31 = day("2025-01-31");
    let feb_1 = day("2025-02-01");
    let report = h
        .governor
        .spend_report(SpendQuery::new(jan_31, feb_1))
        .await
        .expect("a report");
    let rows: Vec<_> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.key_id.as_deref() == Some(a.key.id.as_str()),
                r.model.clone().unwrap_or_default(),
                r.lane.clone().unwrap_or_default(),
                r.day.map(|d| d.to_string()).unwrap_or_default(),
                r.totals.requests,
                r.totals.classes.input,
            )
        })
        .collect();
    let mut expected = vec![
        (
            true,
            "claude".into(),
            "claude".into(),
            "2025-01-31".into(),
            1,
            500,
        ),
        (
            true,
            "gpt-4o".into(),
            "gpt".into(),
            "2025-01-31".into(),
            2,
            2000,
        ),
        (
            true,
            "gpt-4o".into(),
            "gpt".into(),
            "2025-02-01".into(),
            1,
            500,
        ),
        (
            false,
            "gpt-4o".into(),
            "gpt".into(),
            "2025-01-31".into(),
            1,
            1500,
        ),
    ];
    // Rows come ordered by key id first, and ids are random.
    if b.key.id < a.key.id {
        expected.rotate_right(1);
    }
    assert_eq!(rows, expected);
    // a's two gpt requests on the 31st: 0.5 + 2 cents, and 0.5 + 1.
    let a_gpt = &report.rows[if b.key.id < a.key.id { 2 } else { 1 }];
    assert_eq!(a_gpt.totals.cost, cents(4));
    assert_eq!(a_gpt.totals.tokens, 3000);
    assert_eq!(a_gpt.totals.classes.reasoning, 200);
    assert_eq!(report.total.requests, 5);
    assert_eq!(report.total.tokens, 4500 + 2500);
    assert!(!report.truncated);

    // By lane alone, over the 31st alone.
    let by_lane = h
        .governor
        .spend_report(SpendQuery::new(jan_31, jan_31).grouped_by(&[Dimension::Lane]))
        .await
        .expect("a report");
    let lanes: Vec<(Option<String>, u64, Cents)> = by_lane
        .rows
        .iter()
        .map(|r: &SpendRow| (r.lane.clone(), r.totals.requests, r.totals.cost))
        .collect();
    assert_eq!(
        lanes,
        vec![
            (Some("claude".into()), 1, Cents::from_f64(1.5).expect("ok")),
            (
                Some("gpt".into()),
                3,
                Cents::from_f64(2.5 + 1.5 + 2.5).expect("ok")
            ),
        ]
    );
    assert!(by_lane
        .rows
        .iter()
        .all(|r| r.key_id.is_none() && r.day.is_none()));
    assert_eq!(by_lane.total.requests, 4);

    // A day with nothing in it, and a cut report whose total is whole.
    let empty = h
        .governor
        .spend_report(SpendQuery::new(day("2025-02-02"), day("2025-03-01")))
        .await
        .expect("a report");
    assert!(empty.rows.is_empty() && empty.total.requests == 0);
    let mut cut = SpendQuery::new(jan_31, feb_1).grouped_by(&[Dimension::Day]);
    cut.limit = 1;
    let cut = h.governor.spend_report(cut).await.expect("a report");
    assert_eq!(cut.rows.len(), 1);
    assert!(cut.truncated);
    assert_eq!(cut.rows[0].day, Some(jan_31));
    assert_eq!(cut.total.requests, 5);

    // Deleting a key keeps its history in the ledger.
    h.governor.delete_key(&a.key.id).await.expect("deleted");
    let after = h
        .governor
        .spend_report(SpendQuery::new(jan_31, feb_1).grouped_by(&[Dimension::Key]))
        .await
        .expect("a report");
    assert_eq!(after.rows.len(), 2);
    assert_eq!(after.total.requests, 5);
    h.finish().await;
}
