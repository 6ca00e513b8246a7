//! Lane tests: slots and budgets under thread races, permit bookkeeping, hard-down timing.

use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use super::*;

fn lane(max_concurrent: u32, max_requests: Option<u64>) -> Lane {
    Lane::new(
        "sonnet",
        "anthropic",
        NonZeroU32::new(max_concurrent).expect("test lanes have slots"),
        max_requests.map(|n| NonZeroU64::new(n).expect("test budgets are non-zero")),
    )
}

fn at(secs: u64) -> Moment {
    Moment::from_epoch(Duration::from_secs(secs))
}

#[test]
fn permits_fill_slots_and_dropping_frees_them() {
    let lane = lane(2, None);
    let a = lane.try_acquire().expect("first slot");
    let b = lane.try_acquire().expect("second slot");
    assert_eq!((lane.inflight(), lane.free_slots()), (2, 0));
    assert_eq!(lane.try_acquire().err(), Some(AcquireError::Saturated));
    drop(a);
    assert_eq!((lane.inflight(), lane.free_slots()), (1, 1));
    let c = lane.try_acquire().expect("freed slot");
    drop((b, c));
    assert_eq!(lane.inflight(), 0);
}

#[test]
fn permits_never_exceed_max_concurrent_across_threads() {
    const MAX: u32 = 3;
    const THREADS: usize = 8;
    let lane = lane(MAX, None);
    let holding = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lane, holding, peak, start) =
                (lane.clone(), holding.clone(), peak.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut got = 0u32;
                for _ in 0..2_000 {
                    if let Ok(permit) = lane.try_acquire() {
                        got += 1;
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        assert!(lane.inflight() <= MAX);
                        thread::yield_now();
                        holding.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                }
                got
            })
        })
        .collect();
    let total: u32 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert!(total > 0);
    assert!(peak.load(Ordering::SeqCst) <= MAX);
    assert_eq!(lane.inflight(), 0, "every slot came back");
    assert_eq!(lane.free_slots(), MAX);
}

#[test]
fn racing_threads_charge_a_budget_of_n_exactly_n_times() {
    const BUDGET: u64 = 1_000;
    const THREADS: usize = 8;
    let lane = lane(64, Some(BUDGET));
    let charged = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lane, charged, start) = (lane.clone(), charged.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut i = 0usize;
                // Refusals while units are reserved elsewhere are expected;
                // keep going until the budget is truly spent.
                while lane.budget() != Some(0) {
                    i += 1;
                    match lane.try_acquire() {
                        Ok(mut permit) => {
                            permit.charge();
                            permit.charge(); // a second charge must be a no-op
                            charged.fetch_add(1, Ordering::SeqCst);
                            // Some threads also drop uncharged permits, which
                            // must hand their reservation back.
                            if (t + i).is_multiple_of(3) {
                                drop(lane.try_acquire());
                            }
                        }
                        Err(AcquireError::NoBudget) => thread::yield_now(),
                        Err(other) => panic!("unexpected refusal {other:?}"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(charged.load(Ordering::SeqCst), BUDGET);
    assert_eq!(lane.budget(), Some(0));
    assert_eq!(lane.try_acquire().err(), Some(AcquireError::NoBudget));
    assert_eq!(lane.dead_reason(at(0)), Some(DeadReason::BudgetExhausted));
    assert_eq!(lane.inflight(), 0);
}

#[test]
fn racing_charges_and_refunds_balance_exactly() {
    const BUDGET: u64 = 50;
    const THREADS: usize = 8;
    let lane = lane(16, Some(BUDGET));
    let kept = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lane, kept, start) = (lane.clone(), kept.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..500 {
                    let Ok(mut permit) = lane.try_acquire() else {
                        continue;
                    };
                    permit.charge();
                    if (t + i).is_multiple_of(4) {
                        kept.fetch_add(1, Ordering::SeqCst);
                        permit.finish(Outcome::Success);
                    } else {
                        // The body failed: refund twice to prove it only counts once.
                        permit.refund();
                        permit.refund();
                        permit.finish(Outcome::Failure);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let kept = kept.load(Ordering::SeqCst);
    assert!(kept <= BUDGET, "never more charges than the budget");
    assert_eq!(lane.budget(), Some(BUDGET - kept));
    assert_eq!(lane.ok(), kept);
    assert_eq!(lane.inflight(), 0);
}

#[test]
fn in_flight_reservations_hold_the_budget_until_settled() {
    let lane = lane(4, Some(1));
    let mut first = lane.try_acquire().expect("the one unit");
    assert_eq!(lane.try_acquire().err(), Some(AcquireError::NoBudget));
    assert_eq!(lane.budget(), Some(1), "reserved, not yet charged");
    assert!(
        lane.is_usable(at(0)),
        "a reservation does not kill the lane"
    );
    assert_eq!(lane.inflight(), 1, "a refused acquire gives its slot back");

    first.charge();
    assert!(first.is_charged());
    assert_eq!(lane.budget(), Some(0));
    assert_eq!(lane.dead_reason(at(0)), Some(DeadReason::BudgetExhausted));

    first.refund();
    assert!(!first.is_charged());
    assert_eq!(lane.budget(), Some(1), "the failed body's charge came back");
    assert!(lane.is_usable(at(0)));
    first.charge();
    assert_eq!(lane.budget(), Some(1), "no charge after a refund");
    drop(first);
    assert!(
        lane.try_acquire().is_ok(),
        "the refunded unit is free again"
    );
}

#[test]
fn dropping_an_uncharged_permit_returns_its_reservation() {
    let lane = lane(1, Some(1));
    drop(lane.try_acquire().expect("unit"));
    let mut again = lane.try_acquire().expect("the unit came back");
    again.refund(); // nothing charged: no effect
    assert_eq!(lane.budget(), Some(1));
}

#[test]
fn finish_counts_outcomes_and_refunds_a_failed_charge() {
    let lane = lane(4, Some(10));
    let mut p = lane.try_acquire().expect("slot");
    p.charge();
    p.finish(Outcome::Success);
    let mut p = lane.try_acquire().expect("slot");
    p.charge();
    p.finish(Outcome::Failure);
    lane.try_acquire()
        .expect("slot")
        .finish(Outcome::ClientFault);
    assert_eq!((lane.ok(), lane.err(), lane.client_fault()), (1, 1, 1));
    assert_eq!(lane.budget(), Some(9));
    assert_eq!(lane.inflight(), 0);
}

#[test]
fn unbudgeted_lanes_never_run_dry() {
    let lane = lane(1, None);
    for _ in 0..100 {
        let mut p = lane.try_acquire().expect("slot");
        p.charge();
        assert!(p.is_charged());
    }
    assert_eq!((lane.budget(), lane.max_requests()), (None, None));
    assert!(lane.is_usable(at(0)));
}

#[test]
fn hard_down_lasts_until_its_deadline_or_a_revival() {
    let lane = lane(1, None);
    lane.hard_down(HardDownReason::Auth, at(1800));
    assert_eq!(lane.dead_reason(at(0)), Some(DeadReason::Auth));
    assert_eq!(lane.cooldown_remaining(at(1799)), Duration::from_secs(1));
    assert!(!lane.is_usable(at(1799)));
    assert!(lane.is_usable(at(1800)));
    assert_eq!(lane.cooldown_remaining(at(1800)), Duration::ZERO);

    lane.hard_down(HardDownReason::Billing, at(100));
    assert_eq!(lane.dead_reason(at(50)), Some(DeadReason::Billing));
    lane.hard_down(HardDownReason::Billing, at(10));
    assert!(
        !lane.is_usable(at(50)),
        "an earlier deadline does not shorten it"
    );
    lane.revive();
    assert!(lane.is_usable(at(50)));
}

#[test]
fn an_exhausted_budget_outranks_a_hard_down() {
    let lane = lane(1, Some(1));
    lane.try_acquire().expect("unit").charge();
    lane.hard_down(HardDownReason::Auth, at(60));
    assert_eq!(lane.dead_reason(at(0)), Some(DeadReason::BudgetExhausted));
}

#[test]
fn stats_report_the_lane_and_round_cooldowns_up() {
    let lane = lane(4, Some(3));
    let _held = lane.try_acquire().expect("slot");
    let mut p = lane.try_acquire().expect("slot");
    p.charge();
    p.finish(Outcome::Success);
    lane.hard_down(
        HardDownReason::Billing,
        Moment::from_epoch(Duration::from_millis(2_500)),
    );
    let s = lane.stats(at(1));
    assert_eq!(
        s,
        LaneStats {
            model: "sonnet".into(),
            provider: "anthropic".into(),
            max_concurrent: 4,
            inflight: 1,
            free_slots: 3,
            ok: 1,
            err: 0,
            client_fault: 0,
            usable: false,
            dead: true,
            dead_reason: Some(DeadReason::Billing),
            cooldown_remaining_s: 2,
            streak: 0,
            budget: Some(2),
        }
    );
    assert_eq!(whole_seconds_up(Duration::MAX), u64::MAX);
    assert_eq!(whole_seconds_up(Duration::ZERO), 0);
}

#[test]
fn lane_ids_are_indexes() {
    assert_eq!(LaneId::new(7).index(), 7);
}

#[test]
fn outcomes_carry_their_class_and_retry_after() {
    use crate::classify::FailureClass;
    let wait = Duration::from_secs(7);
    assert_eq!(Outcome::Success.class(), None);
    assert_eq!(Outcome::Success.with_retry_after(wait), Outcome::Success);
    assert_eq!(Outcome::Failure.class(), Some(FailureClass::ServerError));
    assert_eq!(
        Outcome::ClientFault.class(),
        Some(FailureClass::ClientError)
    );
    let limited = Outcome::failed(FailureClass::RateLimit).with_retry_after(wait);
    assert_eq!(
        limited,
        Outcome::Failed {
            class: FailureClass::RateLimit,
            retry_after: Some(wait)
        }
    );
    assert_eq!(limited.retry_after(), Some(wait));
    assert_eq!(
        Outcome::Failure.with_retry_after(wait).retry_after(),
        Some(wait)
    );
    assert!(Outcome::Success.is_success() && !limited.is_success());
}

#[test]
fn every_class_lands_in_one_counter_and_refunds_a_charge() {
    use crate::classify::FailureClass;
    let lane = lane(4, Some(100));
    for class in FailureClass::ALL {
        let mut p = lane.try_acquire().expect("slot");
        p.charge();
        let t = p.finish(Outcome::failed(class));
        assert!(
            t.is_unchanged(),
            "a bare lane permit has no cell and no clock"
        );
    }
    assert_eq!((lane.ok(), lane.err(), lane.client_fault()), (0, 7, 2));
    assert_eq!(lane.budget(), Some(100), "every charge came back");
    assert!(lane.is_usable(at(0)));
}
