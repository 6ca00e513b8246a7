//! Probe targets per mode, and what a probe's success or failure changes.

use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::breaker::{BreakerPolicy, Trip};
use crate::cell::BreakerState;
use crate::classify::FailureClass;
use crate::clock::ManualClock;
use crate::lane::{DeadReason, HardDownReason, Lane};
use crate::pool::{Member, Pool};

const OK: LaneId = LaneId::new(0);
const DOWN: LaneId = LaneId::new(1);
const OPEN: LaneId = LaneId::new(2);
const SPENT: LaneId = LaneId::new(3);

fn n(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).expect("non-zero in tests")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Four lanes in one pool whose breaker opens on the first failure: one
/// healthy, one hard-down, one open in the pool, one with its budget spent.
fn fixture() -> (Router, ManualClock) {
    let clock = ManualClock::new();
    let lanes = vec![
        Lane::new("ok", "p", n(4), None),
        Lane::new("down", "p", n(4), None),
        Lane::new("open", "p", n(4), None),
        Lane::new("spent", "p", n(4), NonZeroU64::new(1)),
    ];
    let touchy =
        BreakerPolicy::new(Trip::Consecutive { n: n(1) }, secs(15), secs(120)).with_jitter(0.0);
    let members = (0..4).map(|i| Member::new(LaneId::new(i), n(1))).collect();
    let pool = Pool::new("all", members)
        .expect("pool")
        .with_breaker(touchy);
    let router = Router::new(lanes, vec![pool], Arc::new(clock.clone())).expect("topology");
    router.hard_down(DOWN, HardDownReason::Auth, HARD_DOWN_FOR);
    let all = router.resolve("all").expect("pool");
    let _ = all
        .try_acquire(OPEN)
        .expect("open")
        .finish(Outcome::failed(FailureClass::Overloaded));
    all.try_acquire(SPENT).expect("spent").charge();
    (router, clock)
}

#[test]
fn dead_mode_targets_hard_down_and_open_lanes_only() {
    let (router, clock) = fixture();
    assert_eq!(router.probe_targets(ProbeMode::Dead), [DOWN, OPEN]);
    assert!(
        !router.needs_probe(SPENT, ProbeMode::Dead),
        "no probe revives a spent budget"
    );
    assert!(!router.needs_probe(LaneId::new(42), ProbeMode::Active));
    // Half-open still counts: the lane has not proven itself yet.
    clock.advance(secs(15));
    assert_eq!(router.probe_targets(ProbeMode::Dead), [DOWN, OPEN]);
}

#[test]
fn active_mode_targets_every_lane_that_can_recover() {
    let (router, _) = fixture();
    assert_eq!(router.probe_targets(ProbeMode::Active), [OK, DOWN, OPEN]);
}

#[test]
fn asking_for_targets_changes_nothing() {
    let (router, clock) = fixture();
    clock.advance(secs(15));
    let before = router.snapshot();
    let _ = router.probe_targets(ProbeMode::Dead);
    let _ = router.needs_probe(OPEN, ProbeMode::Dead);
    assert_eq!(router.snapshot(), before);
    let cell = router.pools()[0].cell(OPEN).expect("cell");
    assert_eq!(
        cell.state(router.clock().now()),
        BreakerState::HalfOpen,
        "the probe is still free"
    );
}

#[test]
fn a_successful_probe_revives_and_half_opens() {
    let (router, _) = fixture();
    let revived = router.probe_result(DOWN, Outcome::Success);
    assert_eq!(
        (revived.revived, revived.half_opened, revived.hard_down),
        (true, 0, false)
    );
    assert!(router.resolve("down").expect("model").is_usable(DOWN));

    let all = router.resolve("all").expect("pool");
    assert!(!all.is_usable(OPEN));
    let cut = router.probe_result(OPEN, Outcome::Success);
    assert_eq!((cut.revived, cut.half_opened), (false, 1));
    let cell = all.pool().cell(OPEN).expect("cell");
    assert_eq!(cell.state(router.clock().now()), BreakerState::HalfOpen);
    let probe = all.try_acquire(OPEN).expect("the next request probes");
    assert!(probe.is_probe());
    assert!(
        probe.finish(Outcome::Success).breaker.is_some(),
        "and closes it"
    );
    assert_eq!(router.probe_targets(ProbeMode::Dead), Vec::<LaneId>::new());
}

#[test]
fn failed_probes_renew_hard_downs_and_leave_breakers_alone() {
    let (router, clock) = fixture();
    clock.advance(secs(60));
    let effect = router.probe_result(DOWN, Outcome::failed(FailureClass::Billing));
    assert!(effect.hard_down);
    let lane = router.lane(DOWN).expect("lane");
    assert_eq!(
        lane.dead_reason(router.clock().now()),
        Some(DeadReason::Billing)
    );
    assert_eq!(lane.cooldown_remaining(router.clock().now()), HARD_DOWN_FOR);

    let effect = router.probe_result(OPEN, Outcome::failed(FailureClass::ServerError));
    assert_eq!(effect, ProbeEffect::default());
    let effect = router.probe_result(OK, Outcome::Failure);
    assert_eq!(effect, ProbeEffect::default(), "probes are not traffic");
    let ok = router.lane(OK).expect("lane");
    assert_eq!((ok.ok(), ok.err()), (0, 0));
    assert_eq!(
        router.probe_result(LaneId::new(42), Outcome::Success),
        ProbeEffect::default()
    );
}
