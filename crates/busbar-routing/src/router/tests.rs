//! Router tests: resolution order, routes and permits, health, and the `/stats` snapshot.

use std::num::{NonZeroU32, NonZeroU64};

use super::*;
use crate::clock::ManualClock;
use crate::lane::{DeadReason, Outcome};

const SONNET: LaneId = LaneId::new(0);
const GPT: LaneId = LaneId::new(1);
const LOCAL: LaneId = LaneId::new(2);

fn n(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).expect("non-zero in tests")
}

/// Three lanes; pool `smart` = sonnet×2 + gpt×1; pool `cheap` = gpt + local;
/// and a pool named `local` that shadows the model `local`.
fn fixture() -> (Router, ManualClock) {
    let clock = ManualClock::new();
    let lanes = vec![
        Lane::new("sonnet", "anthropic", n(2), None),
        Lane::new("gpt-4o", "openai", n(4), NonZeroU64::new(10)),
        Lane::new("local", "vllm", n(1), None),
    ];
    let pools = vec![
        Pool::new(
            "smart",
            vec![Member::new(SONNET, n(2)), Member::new(GPT, n(1))],
        )
        .expect("smart"),
        Pool::new(
            "cheap",
            vec![Member::new(GPT, n(1)), Member::new(LOCAL, n(1))],
        )
        .expect("cheap"),
        Pool::new("local", vec![Member::new(SONNET, n(1))]).expect("local"),
    ];
    let router = Router::new(lanes, pools, Arc::new(clock.clone())).expect("valid topology");
    (router, clock)
}

fn names(router: &Router, ids: &[LaneId]) -> Vec<String> {
    ids.iter()
        .map(|&id| router.lane(id).expect("known lane").name().to_owned())
        .collect()
}

#[test]
fn names_resolve_to_a_pool_first_then_a_model() {
    let (router, _) = fixture();
    let smart = router.resolve("smart").expect("pool");
    assert_eq!((smart.name(), smart.kind()), ("smart", RouteKind::Pool));

    let shadowed = router.resolve("local").expect("pool wins");
    assert_eq!(shadowed.kind(), RouteKind::Pool);
    assert_eq!(shadowed.candidates(), vec![SONNET]);

    let direct = router.resolve("gpt-4o").expect("model");
    assert_eq!((direct.name(), direct.kind()), ("gpt-4o", RouteKind::Model));
    assert_eq!(direct.candidates(), vec![GPT]);

    assert!(router.resolve("nope").is_none());
    assert!(router.resolve("").is_none());
    assert_eq!(router.lane_id("local"), Some(LOCAL));
    assert_eq!(router.lane_id("smart"), None);
}

#[test]
fn a_route_picks_by_weight_and_fails_over_in_order() {
    let (router, _) = fixture();
    let smart = router.resolve("smart").expect("pool");
    let firsts: Vec<LaneId> = (0..6).map(|_| smart.candidates()[0]).collect();
    assert_eq!(
        names(&router, &firsts),
        ["sonnet", "gpt-4o", "sonnet", "sonnet", "gpt-4o", "sonnet"]
    );
    assert_eq!(names(&router, &smart.candidates()), ["sonnet", "gpt-4o"]);
}

#[test]
fn unusable_lanes_drop_out_of_every_route_until_they_recover() {
    let (router, clock) = fixture();
    router.hard_down(SONNET, HardDownReason::Auth, Duration::from_secs(1800));
    let smart = router.resolve("smart").expect("pool");
    assert_eq!(smart.candidates(), vec![GPT]);
    assert!(!smart.is_usable(SONNET));
    assert_eq!(
        smart.try_acquire(SONNET).err(),
        Some(AcquireError::Unusable)
    );
    assert!(router
        .resolve("sonnet")
        .expect("model")
        .candidates()
        .is_empty());

    clock.advance(Duration::from_secs(1800));
    assert!(smart.is_usable(SONNET));
    assert_eq!(smart.candidates().len(), 2);
}

#[test]
fn try_acquire_checks_membership_capacity_and_budget() {
    let (router, _) = fixture();
    let cheap = router.resolve("cheap").expect("pool");
    assert_eq!(
        cheap.try_acquire(SONNET).err(),
        Some(AcquireError::NotAMember)
    );
    assert_eq!(
        cheap.try_acquire(LaneId::new(99)).err(),
        Some(AcquireError::NotAMember)
    );

    let held = cheap.try_acquire(LOCAL).expect("the one slot");
    assert_eq!(held.lane().name(), "local");
    assert_eq!(
        cheap.try_acquire(LOCAL).err(),
        Some(AcquireError::Saturated)
    );
    // Slots belong to the lane, whichever route took them.
    assert_eq!(router.lane(LOCAL).map(Lane::free_slots), Some(0));
    drop(held);
    assert!(cheap.try_acquire(LOCAL).is_ok());
}

#[test]
fn permits_report_to_the_lane_and_their_own_cell_only() {
    let (router, _) = fixture();
    let smart = router.resolve("smart").expect("pool");
    let cheap = router.resolve("cheap").expect("pool");
    let direct = router.resolve("gpt-4o").expect("model");

    let mut p = smart.try_acquire(GPT).expect("slot");
    p.charge();
    p.finish(Outcome::Success);
    cheap
        .try_acquire(GPT)
        .expect("slot")
        .finish(Outcome::Failure);
    direct
        .try_acquire(GPT)
        .expect("slot")
        .finish(Outcome::Failure);

    let cell = |route: &Route<'_>| {
        let c = route.pool().cell(GPT).expect("member");
        (c.ok(), c.err())
    };
    assert_eq!(cell(&smart), (1, 0));
    assert_eq!(cell(&cheap), (0, 1));
    assert_eq!(cell(&direct), (0, 1));
    let lane = router.lane(GPT).expect("lane");
    assert_eq!((lane.ok(), lane.err(), lane.budget()), (1, 2, Some(9)));
}

#[test]
fn any_usable_is_true_while_one_lane_is_and_changes_nothing() {
    let (router, clock) = fixture();
    assert!(router.any_usable());
    for lane in [SONNET, GPT] {
        router.hard_down(lane, HardDownReason::Billing, Duration::from_secs(60));
    }
    assert!(router.any_usable(), "local is still up");
    router.hard_down(LOCAL, HardDownReason::Auth, Duration::from_secs(30));
    assert!(!router.any_usable());
    let before = router.snapshot();
    assert!(!router.any_usable());
    assert_eq!(router.snapshot(), before, "health checks leave no trace");
    clock.advance(Duration::from_secs(30));
    assert!(router.any_usable());
}

#[test]
fn snapshot_lists_pools_and_every_lane() {
    let (router, clock) = fixture();
    let _held = router
        .resolve("gpt-4o")
        .expect("model")
        .try_acquire(GPT)
        .expect("slot");
    router.hard_down(SONNET, HardDownReason::Auth, Duration::from_millis(90_500));
    clock.advance(Duration::from_secs(30));

    let snap = router.snapshot();
    let json = serde_json::to_value(&snap).expect("serializable");
    assert_eq!(
        json,
        serde_json::json!({
            "pools": {
                "cheap": ["gpt-4o", "local"],
                "local": ["sonnet"],
                "smart": ["sonnet", "gpt-4o"],
            },
            "lanes": [
                {
                    "model": "sonnet", "provider": "anthropic", "max_concurrent": 2,
                    "inflight": 0, "free_slots": 2, "ok": 0, "err": 0, "client_fault": 0,
                    "usable": false, "dead": true, "dead_reason": "auth",
                    "cooldown_remaining_s": 61, "streak": 0, "budget": -1,
                },
                {
                    "model": "gpt-4o", "provider": "openai", "max_concurrent": 4,
                    "inflight": 1, "free_slots": 3, "ok": 0, "err": 0, "client_fault": 0,
                    "usable": true, "dead": false, "dead_reason": null,
                    "cooldown_remaining_s": 0, "streak": 0, "budget": 10,
                },
                {
                    "model": "local", "provider": "vllm", "max_concurrent": 1,
                    "inflight": 0, "free_slots": 1, "ok": 0, "err": 0, "client_fault": 0,
                    "usable": true, "dead": false, "dead_reason": null,
                    "cooldown_remaining_s": 0, "streak": 0, "budget": -1,
                },
            ],
        })
    );
}

#[test]
fn an_exhausted_budget_shows_in_the_snapshot() {
    let (router, _) = fixture();
    let gpt = router.resolve("gpt-4o").expect("model");
    for _ in 0..10 {
        let mut p = gpt.try_acquire(GPT).expect("budget left");
        p.charge();
        p.finish(Outcome::Success);
    }
    assert_eq!(gpt.try_acquire(GPT).err(), Some(AcquireError::Unusable));
    let snap = router.snapshot();
    let stats = &snap.lanes[GPT.index()];
    assert_eq!(
        (stats.dead, stats.dead_reason, stats.budget),
        (true, Some(DeadReason::BudgetExhausted), Some(0))
    );
    assert_eq!(stats.ok, 10);
    assert_eq!(
        router.resolve("cheap").expect("pool").candidates(),
        vec![LOCAL]
    );
}

#[test]
fn a_filtered_snapshot_shows_only_what_the_caller_may_reach() {
    let (router, _) = fixture();
    let snap = router.snapshot_for(|name| name == "cheap");
    assert_eq!(snap.pools.keys().collect::<Vec<_>>(), ["cheap"]);
    let models: Vec<&str> = snap.lanes.iter().map(|l| l.model.as_str()).collect();
    assert_eq!(models, ["gpt-4o", "local"]);

    let snap = router.snapshot_for(|name| name == "sonnet");
    assert!(snap.pools.is_empty());
    assert_eq!(snap.lanes.len(), 1);
    assert_eq!(snap.lanes[0].model, "sonnet");
}

#[test]
fn inconsistent_topologies_are_refused() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
    let lane = |name: &str| Lane::new(name, "p", n(1), None);
    let err = Router::new(vec![lane("a"), lane("a")], vec![], clock.clone()).err();
    assert_eq!(
        err,
        Some(TopologyError::DuplicateModel { name: "a".into() })
    );

    let pool = |name: &str, id: usize| {
        Pool::new(name, vec![Member::new(LaneId::new(id), n(1))]).expect("pool")
    };
    let err = Router::new(
        vec![lane("a")],
        vec![pool("p", 0), pool("p", 0)],
        clock.clone(),
    )
    .err();
    assert_eq!(err, Some(TopologyError::DuplicatePool { name: "p".into() }));

    let err = Router::new(vec![lane("a")], vec![pool("p", 1)], clock.clone()).err();
    assert_eq!(
        err,
        Some(TopologyError::UnknownLane {
            pool: "p".into(),
            lane: LaneId::new(1)
        })
    );
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("pool `p` refers to lane #1, which does not exist")
    );

    let empty = Router::new(vec![], vec![], clock).expect("an empty router is valid");
    assert!(!empty.any_usable());
    assert!(empty.snapshot().lanes.is_empty());
}

#[test]
fn routers_and_permits_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Router>();
    assert_send_sync::<Permit>();
    assert_send_sync::<Lane>();
    assert_send_sync::<crate::Attempts<'static>>();
}

#[test]
fn snapshots_fold_in_every_cell_and_report_the_worst() {
    let clock = ManualClock::new();
    let touchy = crate::BreakerPolicy::new(
        crate::Trip::Consecutive { n: n(1) },
        Duration::from_secs(15),
        Duration::from_secs(120),
    )
    .with_jitter(0.0);
    let lanes = vec![
        Lane::new("sonnet", "anthropic", n(2), None),
        Lane::new("gpt-4o", "openai", n(2), None),
    ];
    let smart = Pool::new(
        "smart",
        vec![Member::new(SONNET, n(1)), Member::new(GPT, n(1))],
    )
    .expect("smart")
    .with_breaker(touchy);
    let router = Router::new(lanes, vec![smart], Arc::new(clock.clone())).expect("topology");
    let pool = router.resolve("smart").expect("pool");
    let opened = pool
        .try_acquire(SONNET)
        .expect("slot")
        .finish(Outcome::Failure);
    assert!(opened.tripped());
    clock.advance(Duration::from_secs(15));
    let probe = pool.try_acquire(SONNET).expect("the probe");
    let reopened = probe.finish(Outcome::failed(crate::FailureClass::Overloaded));
    assert!(reopened.tripped());
    clock.advance(Duration::from_millis(500));

    let stats = |router: &Router| router.snapshot().lanes[SONNET.index()].clone();
    let s = stats(&router);
    assert_eq!(
        (
            s.usable,
            s.dead,
            s.dead_reason,
            s.cooldown_remaining_s,
            s.streak,
            s.err
        ),
        (true, false, None, 30, 1, 2),
        "open in `smart`, still usable called directly"
    );
    assert_eq!(
        router
            .cells(SONNET)
            .map(|(p, c)| (p, c.trips()))
            .collect::<Vec<_>>(),
        [("smart", 2), ("sonnet", 0)]
    );

    // Five direct failures trip the direct cell's default error-rate breaker.
    let direct = router.resolve("sonnet").expect("model");
    for _ in 0..5 {
        let _ = direct
            .try_acquire(SONNET)
            .expect("slot")
            .finish(Outcome::Failure);
    }
    let s = stats(&router);
    assert_eq!(
        (s.usable, s.dead, s.dead_reason),
        (false, true, Some(DeadReason::BreakerOpen))
    );
    assert_eq!(
        serde_json::to_value(&s).expect("json")["dead_reason"],
        serde_json::json!("breaker_open")
    );
    assert!(router.any_usable(), "gpt-4o is fine");
    let _ = pool
        .try_acquire(GPT)
        .expect("slot")
        .finish(Outcome::Failure);
    assert!(router.any_usable(), "gpt-4o's direct cell still admits it");
    let direct = router.resolve("gpt-4o").expect("model");
    for _ in 0..5 {
        let _ = direct
            .try_acquire(GPT)
            .expect("slot")
            .finish(Outcome::Failure);
    }
    assert!(!router.any_usable(), "every cell of every lane is open");
}

#[test]
fn auth_and_billing_take_the_lane_down_everywhere_for_thirty_minutes() {
    for (class, reason) in [
        (crate::FailureClass::Auth, DeadReason::Auth),
        (crate::FailureClass::Billing, DeadReason::Billing),
    ] {
        let (router, clock) = fixture();
        let cheap = router.resolve("cheap").expect("pool");
        let mut permit = cheap.try_acquire(GPT).expect("slot");
        permit.charge();
        let t = permit.finish(Outcome::failed(class));
        let down = t.hard_down.expect("hard-down");
        assert_eq!(down.until, clock.now().saturating_add(crate::HARD_DOWN_FOR));
        assert!(!t.tripped(), "{class}: a hard-down is not a breaker trip");
        let lane = router.lane(GPT).expect("lane");
        assert_eq!(lane.budget(), Some(10), "{class}: the charge was refunded");
        for name in ["smart", "cheap", "gpt-4o"] {
            assert!(
                !router.resolve(name).expect("route").is_usable(GPT),
                "{name}"
            );
        }
        let stats = &router.snapshot().lanes[GPT.index()];
        assert_eq!(
            (stats.dead_reason, stats.cooldown_remaining_s),
            (Some(reason), 1800)
        );
        clock.advance(crate::HARD_DOWN_FOR - Duration::from_millis(1));
        assert!(!cheap.is_usable(GPT));
        clock.advance(Duration::from_millis(1));
        assert!(cheap.is_usable(GPT), "{class}: back after 30 minutes");
    }
}

#[test]
fn client_errors_and_context_length_never_cost_the_lane() {
    let (router, _) = fixture();
    let smart = router.resolve("smart").expect("pool");
    for i in 0..20 {
        let class = if i % 2 == 0 {
            crate::FailureClass::ClientError
        } else {
            crate::FailureClass::ContextLength
        };
        let t = smart
            .try_acquire(SONNET)
            .expect("slot")
            .finish(Outcome::failed(class));
        assert!(t.is_unchanged());
    }
    let _ = smart
        .try_acquire(SONNET)
        .expect("slot")
        .finish(Outcome::ClientFault);
    assert!(smart.is_usable(SONNET));
    let lane = router.lane(SONNET).expect("lane");
    assert_eq!((lane.ok(), lane.err(), lane.client_fault()), (0, 0, 21));
    let cell = smart.pool().cell(SONNET).expect("cell");
    assert_eq!(
        (cell.err(), cell.consecutive_errors(), cell.trips()),
        (0, 0, 0)
    );
}
