//! Failover plans: order, cap, deadline, exclusions, context length, affinity, exhaustion and fallbacks.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::{Arc, Barrier};
use std::thread;

use super::*;
use crate::breaker::{BreakerPolicy, Trip};
use crate::clock::{Clock, ManualClock};
use crate::error::TopologyError;
use crate::lane::{HardDownReason, Lane};
use crate::pool::{Member, Pool};
use crate::router::Router;

const A: LaneId = LaneId::new(0);
const B: LaneId = LaneId::new(1);
const C: LaneId = LaneId::new(2);
const D: LaneId = LaneId::new(3);

fn n(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).expect("non-zero in tests")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Lanes `a b c d`; `a` has one slot, `d` a budget of one request.
fn lanes() -> Vec<Lane> {
    vec![
        Lane::new("a", "p", n(1), None),
        Lane::new("b", "p", n(16), None),
        Lane::new("c", "p", n(16), None),
        Lane::new("d", "p", n(16), NonZeroU64::new(1)),
    ]
}

fn pool(name: &str, weights: &[(LaneId, u32)]) -> Pool {
    let members = weights.iter().map(|&(l, w)| Member::new(l, n(w))).collect();
    Pool::new(name, members).expect("valid pool")
}

/// Opens on the first transient failure, 15 s, no jitter.
fn touchy() -> BreakerPolicy {
    BreakerPolicy::new(Trip::Consecutive { n: n(1) }, secs(15), secs(120)).with_jitter(0.0)
}

fn router(pools: Vec<Pool>) -> (Router, ManualClock) {
    let clock = ManualClock::new();
    let router = Router::new(lanes(), pools, Arc::new(clock.clone())).expect("valid topology");
    (router, clock)
}

/// Runs a plan to its end, failing every attempt with `class`.
fn run(attempts: &mut Attempts<'_>, class: FailureClass) -> Vec<LaneId> {
    while let Some((_, permit)) = attempts.next_attempt() {
        let _ = attempts.finish(permit, Outcome::failed(class));
    }
    attempts.tried().to_vec()
}

#[test]
fn a_plan_is_the_swrr_order_and_advances_selection_once() {
    let (r, _) = router(vec![
        pool("p", &[(A, 2), (B, 1), (C, 1)]),
        pool("twin", &[(A, 2), (B, 1), (C, 1)]),
    ]);
    let (p, twin) = (r.resolve("p").expect("p"), r.resolve("twin").expect("twin"));
    for _ in 0..8 {
        let plan = p.plan(None).expect("usable");
        assert_eq!(plan.order(), twin.candidates().as_slice());
        assert!(!plan.is_forced());
        assert_eq!(plan.route().name(), "p");
    }
}

#[test]
fn the_cap_limits_further_attempts_and_lanes_never_repeat() {
    let policy = FailoverPolicy::new(secs(120), 1);
    let (r, _) = router(vec![
        pool("p", &[(B, 1), (C, 1), (D, 1)]).with_failover(policy)
    ]);
    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    assert_eq!(run(&mut plan, FailureClass::ServerError), [B, C]);
    assert_eq!(plan.stopped(), Some(Stop::Cap));
    assert_eq!(
        plan.next_attempt().map(|(l, _)| l),
        None,
        "a stopped plan stays stopped"
    );

    let (r, _) = router(vec![
        pool("p", &[(B, 1), (C, 1)]).with_failover(FailoverPolicy::new(secs(1), 0))
    ]);
    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    assert_eq!(
        run(&mut plan, FailureClass::ServerError),
        [B],
        "cap 0: no failover"
    );

    let (r, _) = router(vec![pool("p", &[(B, 1), (C, 1)])]);
    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    assert_eq!(run(&mut plan, FailureClass::Overloaded), [B, C]);
    assert_eq!(
        plan.stopped(),
        Some(Stop::Exhausted),
        "out of lanes before the cap"
    );
}

#[test]
fn no_attempt_starts_after_the_deadline_but_the_first() {
    let policy = FailoverPolicy::new(secs(10), 3);
    let (r, clock) = router(vec![pool("p", &[(B, 1), (C, 1)]).with_failover(policy)]);
    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    assert_eq!(plan.deadline(), secs(10));
    clock.advance(secs(30));
    let (first, permit) = plan
        .next_attempt()
        .expect("the first attempt always starts");
    assert_eq!(first, B);
    let _ = plan.finish(permit, Outcome::Failure);
    assert!(plan.next_attempt().is_none());
    assert_eq!(plan.stopped(), Some(Stop::Deadline));

    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    let (_, permit) = plan.next_attempt().expect("first");
    let _ = plan.finish(permit, Outcome::Failure);
    clock.advance(Duration::from_millis(9_999));
    assert!(plan.next_attempt().is_some(), "still inside the deadline");
}

#[test]
fn excluded_lanes_may_be_picked_first_but_are_never_failed_over_to() {
    let policy = FailoverPolicy::new(secs(120), 3).excluding([C]);
    let (r, _) = router(vec![
        pool("p", &[(A, 1), (B, 1), (C, 1)]).with_failover(policy)
    ]);
    let p = r.resolve("p").expect("p");
    let orders: Vec<Vec<LaneId>> = (0..3)
        .map(|_| p.plan(None).expect("usable").order().to_vec())
        .collect();
    assert_eq!(orders, [vec![A, B], vec![B, A], vec![C, A, B]]);
    assert!(p.pool().failover().excludes(C));
}

#[test]
fn refusing_lanes_are_skipped_without_using_an_attempt() {
    let (r, _) = router(vec![
        pool("p", &[(A, 5), (B, 1)]).with_failover(FailoverPolicy::new(secs(1), 0))
    ]);
    let p = r.resolve("p").expect("p");
    let _held = p.try_acquire(A).expect("a's only slot");
    let mut plan = p.plan(None).expect("usable");
    assert_eq!(plan.order(), [A, B]);
    let (lane, _permit) = plan.next_attempt().expect("b");
    assert_eq!(lane, B);
    assert_eq!(plan.refused(), [(A, AcquireError::Saturated)]);
    assert_eq!(plan.tried(), [B]);
}

#[test]
fn context_length_failover_moves_only_to_larger_or_unknown_contexts() {
    let members = vec![
        Member::new(A, n(10)).with_context_max(8_000),
        Member::new(B, n(1)).with_context_max(32_000),
        Member::new(C, n(1)),
        Member::new(D, n(1)).with_context_max(4_000),
    ];
    let (r, _) = router(vec![Pool::new("p", members).expect("pool")]);
    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    assert_eq!(plan.order(), [A, B, C, D]);
    let mut step = |class| {
        let (lane, permit) = plan.next_attempt()?;
        let _ = plan.finish(permit, Outcome::failed(class));
        Some(lane)
    };
    assert_eq!(step(FailureClass::ContextLength), Some(A));
    assert_eq!(step(FailureClass::ContextLength), Some(B), "32k > 8k");
    assert_eq!(
        step(FailureClass::ServerError),
        Some(C),
        "unknown may be larger"
    );
    assert_eq!(step(FailureClass::ServerError), None, "d's 4k is too small");
    assert_eq!(plan.stopped(), Some(Stop::Exhausted));
}

#[test]
fn an_unknown_failing_context_rules_nothing_out() {
    let members = vec![
        Member::new(C, n(10)),
        Member::new(D, n(1)).with_context_max(4_000),
    ];
    let (r, _) = router(vec![Pool::new("p", members).expect("pool")]);
    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    assert_eq!(run(&mut plan, FailureClass::ContextLength), [C, D]);
}

#[test]
fn affinity_keeps_a_session_on_its_member_without_moving_swrr() {
    let sticky = pool("sticky", &[(A, 1), (B, 1), (C, 1)]).with_affinity("x-session-id");
    let (r, _) = router(vec![sticky, pool("plain", &[(A, 1), (B, 1), (C, 1)])]);
    let route = r.resolve("sticky").expect("pool");
    assert_eq!(route.pool().affinity_header(), Some("x-session-id"));
    let first = |key: &str| route.plan(Some(key)).expect("usable").order()[0];
    let home = first("user-1");
    for _ in 0..5 {
        assert_eq!(first("user-1"), home);
    }
    assert_eq!(
        route.plan(None).expect("usable").order()[0],
        A,
        "SWRR untouched"
    );

    let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
    let before: HashMap<&str, LaneId> = keys.iter().map(|k| (k.as_str(), first(k))).collect();
    r.hard_down(B, HardDownReason::Billing, secs(60));
    for (key, &lane) in &before {
        let now = first(key);
        assert_ne!(now, B);
        if lane != B {
            assert_eq!(now, lane, "{key} moved although its member is up");
        }
    }
    r.lane(B).expect("b").revive();
    assert!(
        before.iter().all(|(k, &l)| first(k) == l),
        "sessions return"
    );

    let plain = r.resolve("plain").expect("pool");
    let firsts: Vec<LaneId> = (0..3)
        .map(|_| plain.plan(Some("user-1")).expect("usable").order()[0])
        .collect();
    assert_eq!(firsts, [A, B, C], "a pool without affinity ignores the key");
}

#[test]
fn reject_reports_the_soonest_recovery() {
    let (r, _) = router(vec![pool("p", &[(A, 1), (B, 1)]), pool("spent", &[(D, 1)])]);
    r.hard_down(A, HardDownReason::Auth, secs(60));
    r.hard_down(B, HardDownReason::Billing, secs(30));
    let p = r.resolve("p").expect("p");
    let err = p.plan(None).expect_err("nothing usable");
    assert_eq!(
        err,
        PoolExhausted {
            pool: "p".into(),
            retry_after: Some(secs(30))
        }
    );
    assert_eq!(p.retry_after(), Some(secs(30)));
    assert_eq!(err.to_string(), "no member of pool `p` is usable");

    let spent = r.resolve("spent").expect("spent");
    spent.try_acquire(D).expect("the one unit").charge();
    assert_eq!(
        spent.plan(None).expect_err("spent").retry_after,
        None,
        "never recovers"
    );
}

#[test]
fn least_bad_uses_the_member_that_recovers_first() {
    let pool = pool("p", &[(B, 1), (C, 1)])
        .with_breaker(touchy())
        .with_on_exhausted(OnExhausted::LeastBad);
    let (r, clock) = router(vec![pool]);
    let p = r.resolve("p").expect("p");
    r.hard_down(B, HardDownReason::Auth, secs(60));
    let _ = p.try_acquire(C).expect("c").finish(Outcome::Failure);
    clock.advance(secs(5));
    assert!(!p.is_usable(C));
    let mut plan = p.plan(None).expect("least bad");
    assert!(plan.is_forced());
    assert_eq!(
        plan.order(),
        [C],
        "c is open for 10 s more, b hard-down for 55"
    );
    let (lane, permit) = plan.next_attempt().expect("used anyway");
    assert!(!permit.is_probe());
    let transition = plan.finish(permit, Outcome::Success);
    assert_eq!(lane, C);
    assert!(
        transition.is_unchanged(),
        "a forced success does not close the breaker"
    );
    assert!(!p.is_usable(C));

    let (r, _) = router(vec![pool_spent_least_bad()]);
    let spent = r.resolve("spent").expect("spent");
    spent.try_acquire(D).expect("unit").charge();
    assert!(
        spent.plan(None).is_err(),
        "a spent budget is never the least bad"
    );
}

fn pool_spent_least_bad() -> Pool {
    pool("spent", &[(D, 1)]).with_on_exhausted(OnExhausted::LeastBad)
}

#[test]
fn fallback_pools_chain_until_one_has_a_usable_member() {
    let fall = |to: &str| OnExhausted::FallbackPool(to.into());
    let (r, _) = router(vec![
        pool("first", &[(A, 1)]).with_on_exhausted(fall("second")),
        pool("second", &[(B, 1)]).with_on_exhausted(fall("third")),
        pool("third", &[(C, 1)]),
    ]);
    let first = r.resolve("first").expect("first");
    assert_eq!(
        first.plan(None).expect("own member").route().name(),
        "first"
    );
    r.hard_down(A, HardDownReason::Auth, secs(60));
    r.hard_down(B, HardDownReason::Auth, secs(90));
    let plan = first.plan(None).expect("third serves");
    assert_eq!((plan.route().name(), plan.order()), ("third", &[C][..]));
    r.hard_down(C, HardDownReason::Auth, secs(30));
    assert_eq!(
        first.plan(None).expect_err("all down"),
        PoolExhausted {
            pool: "third".into(),
            retry_after: Some(secs(30))
        }
    );
}

#[test]
fn fallback_cycles_and_unknown_fallbacks_are_refused() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
    let fall = |to: &str| OnExhausted::FallbackPool(to.into());
    let build = |pools| Router::new(lanes(), pools, clock.clone()).err();
    let cycle = build(vec![
        pool("x", &[(A, 1)]).with_on_exhausted(fall("y")),
        pool("y", &[(B, 1)]).with_on_exhausted(fall("z")),
        pool("z", &[(C, 1)]).with_on_exhausted(fall("y")),
    ]);
    assert_eq!(
        cycle,
        Some(TopologyError::FallbackCycle {
            pools: vec!["y".into(), "z".into(), "y".into()]
        })
    );
    assert_eq!(
        cycle.map(|e| e.to_string()).as_deref(),
        Some("fallback pools form a cycle: y -> z -> y")
    );
    let own = build(vec![pool("x", &[(A, 1)]).with_on_exhausted(fall("x"))]);
    assert_eq!(
        own,
        Some(TopologyError::FallbackCycle {
            pools: vec!["x".into(), "x".into()]
        })
    );
    let unknown = build(vec![pool("x", &[(A, 1)]).with_on_exhausted(fall("a"))]);
    assert_eq!(
        unknown,
        Some(TopologyError::UnknownFallback {
            pool: "x".into(),
            fallback: "a".into()
        })
    );
    let excluded =
        build(vec![pool("x", &[(A, 1)]).with_failover(
            FailoverPolicy::default().excluding([LaneId::new(9)]),
        )]);
    assert_eq!(
        excluded,
        Some(TopologyError::UnknownLane {
            pool: "x".into(),
            lane: LaneId::new(9)
        })
    );
}

#[test]
fn racing_requests_after_a_cooldown_take_exactly_one_probe() {
    const THREADS: usize = 8;
    let (r, clock) = router(vec![pool("p", &[(B, 1)]).with_breaker(touchy())]);
    let r = Arc::new(r);
    let p = r.resolve("p").expect("p");
    let opened = p
        .try_acquire(B)
        .expect("b")
        .finish(Outcome::failed(FailureClass::RateLimit));
    assert!(opened.tripped());
    clock.advance(secs(15));
    let start = Arc::new(Barrier::new(THREADS));
    let (tx, rx) = std::sync::mpsc::channel();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (r, start, tx) = (Arc::clone(&r), Arc::clone(&start), tx.clone());
            thread::spawn(move || {
                start.wait();
                let route = r.resolve("p").expect("p");
                // Hold the permit until everyone has tried, so a quick finish
                // cannot close the breaker and let a second request in.
                let permit = route.try_acquire(B).ok();
                let _ = tx.send(permit.is_some());
                start.wait();
                permit.map(|p| p.is_probe())
            })
        })
        .collect();
    drop(tx);
    let results: Vec<Option<bool>> = workers
        .into_iter()
        .map(|w| w.join().expect("worker"))
        .collect();
    assert_eq!(rx.iter().filter(|&won| won).count(), 1);
    assert_eq!(
        results.iter().flatten().collect::<Vec<_>>(),
        [&true],
        "the winner is the probe"
    );
    assert!(p.is_usable(B), "the dropped probe was handed back");
}

#[test]
fn finishing_through_a_plan_reports_trips_and_hard_downs() {
    let (r, _) = router(vec![
        pool("p", &[(B, 1), (C, 1)]).with_breaker(touchy()),
        pool("q", &[(B, 1)]),
    ]);
    let mut plan = r.resolve("p").expect("p").plan(None).expect("usable");
    let (lane, permit) = plan.next_attempt().expect("b");
    let t = plan.finish(permit, Outcome::failed(FailureClass::Timeout));
    assert_eq!((lane, t.tripped(), t.hard_down), (B, true, None));
    let (lane, permit) = plan.next_attempt().expect("c");
    let t = plan.finish(permit, Outcome::failed(FailureClass::Auth));
    assert_eq!(lane, C);
    assert!(!t.tripped(), "auth takes the lane down instead of counting");
    assert_eq!(t.hard_down.map(|h| h.reason), Some(HardDownReason::Auth));
    assert!(
        r.resolve("q").expect("q").is_usable(B),
        "b's breaker is p's alone"
    );
    assert!(
        !r.resolve("c").expect("model").is_usable(C),
        "c is down everywhere"
    );
}
