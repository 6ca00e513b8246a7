//! Breaker transitions, one by one: trips, cooldowns, Retry-After, the single half-open probe.

use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};
use std::thread;

use super::*;
use crate::breaker::Trip;
use crate::classify::FailureClass::{self, *};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64) -> Moment {
    Moment::from_epoch(secs(s))
}

/// Trips after `n` failures in a row; 15 s base, 120 s max, no jitter.
fn consecutive(n: u32) -> Cell {
    let n = NonZeroU32::new(n).expect("n >= 1");
    let policy = BreakerPolicy::new(Trip::Consecutive { n }, secs(15), secs(120));
    Cell::new(LaneId::new(0), policy.with_jitter(0.0), Jitter::seeded(1))
}

/// The default error-rate rule (30 s, 0.5, at least 5), no jitter.
fn error_rate() -> Cell {
    let policy = BreakerPolicy::default().with_jitter(0.0);
    Cell::new(LaneId::new(0), policy, Jitter::seeded(1))
}

fn fail(cell: &Cell, class: FailureClass, t: Moment) -> Option<BreakerChange> {
    cell.record(Outcome::failed(class), Admission::Normal, t)
}

fn ok(cell: &Cell, t: Moment) -> Option<BreakerChange> {
    cell.record(Outcome::Success, Admission::Normal, t)
}

fn opened(until: Moment, streak: u32) -> Option<BreakerChange> {
    Some(BreakerChange::Opened { until, streak })
}

/// Trips a `consecutive(1)` cell at `t` and claims its probe when it is due.
fn tripped_and_probing(cell: &Cell, t: u64) -> Moment {
    assert!(fail(cell, ServerError, at(t)).is_some());
    let due = at(t + 15);
    assert_eq!(cell.try_claim(due), Ok(Admission::Probe));
    due
}

#[test]
fn consecutive_failures_trip_at_n_and_not_before() {
    let cell = consecutive(3);
    assert_eq!(fail(&cell, ServerError, at(0)), None);
    assert_eq!(fail(&cell, RateLimit, at(1)), None);
    assert!(
        cell.admits(at(1)),
        "below the threshold the lane stays usable"
    );
    assert_eq!(cell.consecutive_errors(), 2);
    assert_eq!(fail(&cell, Timeout, at(2)), opened(at(17), 0));
    assert_eq!(cell.state(at(2)), BreakerState::Open { until: at(17) });
    assert!(!cell.admits(at(2)));
    assert_eq!(cell.cooldown_remaining(at(10)), secs(7));
    assert_eq!(
        (cell.trips(), cell.streak(), cell.consecutive_errors()),
        (1, 0, 0)
    );
    assert_eq!(cell.try_claim(at(16)), Err(AcquireError::Unusable));
}

#[test]
fn a_success_breaks_the_run_and_harmless_failures_count_neither_way() {
    let cell = consecutive(2);
    fail(&cell, Network, at(0));
    ok(&cell, at(1));
    assert_eq!(fail(&cell, Network, at(2)), None, "the run restarted");
    for class in [ClientError, ContextLength, Auth, Billing] {
        assert_eq!(fail(&cell, class, at(3)), None, "{class}");
    }
    assert_eq!(cell.consecutive_errors(), 1, "nor did they break the run");
    assert_eq!(fail(&cell, Overloaded, at(4)), opened(at(19), 0));
    // Auth and billing cost the lane (hard-down, elsewhere); the cell counts them as errors.
    assert_eq!((cell.ok(), cell.err()), (1, 5));
}

#[test]
fn error_rate_waits_for_min_requests() {
    let cell = error_rate();
    for t in 0..4 {
        assert_eq!(
            fail(&cell, ServerError, at(t)),
            None,
            "{t}: only {t} requests"
        );
    }
    assert!(cell.admits(at(4)));
    assert_eq!(fail(&cell, ServerError, at(4)), opened(at(19), 0));
}

#[test]
fn error_rate_trips_at_the_threshold_ratio() {
    let cell = error_rate();
    for t in 0..3 {
        ok(&cell, at(t));
    }
    assert_eq!(fail(&cell, ServerError, at(3)), None);
    assert_eq!(fail(&cell, ServerError, at(4)), None, "2 of 5 is below 0.5");
    assert_eq!(fail(&cell, ServerError, at(5)), opened(at(20), 0), "3 of 6");
}

#[test]
fn old_failures_slide_out_of_the_window() {
    let cell = error_rate();
    for t in 0..4 {
        fail(&cell, ServerError, at(t));
    }
    // 31 s later the first failures are gone: one request in the window.
    assert_eq!(fail(&cell, ServerError, at(34)), None);
    for t in 35..38 {
        assert_eq!(fail(&cell, ServerError, at(t)), None);
    }
    assert_eq!(fail(&cell, ServerError, at(38)), opened(at(53), 0));
}

#[test]
fn after_the_cooldown_exactly_one_claim_is_the_probe() {
    let cell = consecutive(1);
    fail(&cell, ServerError, at(0));
    assert_eq!(cell.state(at(15)), BreakerState::HalfOpen);
    for _ in 0..3 {
        assert!(cell.admits(at(15)), "asking never claims the probe");
    }
    assert_eq!(cell.try_claim(at(15)), Ok(Admission::Probe));
    assert_eq!(cell.try_claim(at(15)), Err(AcquireError::Unusable));
    assert_eq!(cell.state(at(99)), BreakerState::Probing);
    assert!(!cell.admits(at(99)));
    assert_eq!(cell.cooldown_remaining(at(99)), Duration::ZERO);
}

#[test]
fn racing_claims_after_the_cooldown_yield_one_probe() {
    const THREADS: usize = 8;
    for _round in 0..50 {
        let cell = Arc::new(consecutive(1));
        fail(&cell, ServerError, at(0));
        let start = Arc::new(Barrier::new(THREADS));
        let winners: usize = (0..THREADS)
            .map(|_| {
                let (cell, start) = (Arc::clone(&cell), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    cell.try_claim(at(15)) == Ok(Admission::Probe)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().expect("claimer")))
            .sum();
        assert_eq!(winners, 1);
    }
}

#[test]
fn a_successful_probe_closes_and_resets_the_streak() {
    let cell = consecutive(1);
    let t = tripped_and_probing(&cell, 0);
    let failed = cell.record(Outcome::Failure, Admission::Probe, t);
    assert_eq!(failed, opened(at(45), 1), "reopened for 2 · 15 s");
    assert_eq!(cell.try_claim(at(45)), Ok(Admission::Probe));
    assert_eq!(
        cell.record(Outcome::Success, Admission::Probe, at(46)),
        Some(BreakerChange::Closed)
    );
    assert_eq!(cell.state(at(46)), BreakerState::Closed);
    assert_eq!((cell.streak(), cell.trips()), (0, 2));
    assert_eq!(cell.try_claim(at(46)), Ok(Admission::Normal));
    assert_eq!(
        fail(&cell, ServerError, at(50)),
        opened(at(65), 0),
        "back to base"
    );
}

#[test]
fn failed_probes_double_the_cooldown_up_to_the_cap() {
    let cell = consecutive(1);
    let mut t = tripped_and_probing(&cell, 0);
    let mut cooldowns = Vec::new();
    for streak in 1..=5 {
        let Some(BreakerChange::Opened { until, streak: s }) =
            cell.record(Outcome::failed(Timeout), Admission::Probe, t)
        else {
            panic!("a failed probe reopens");
        };
        assert_eq!(s, streak);
        assert_eq!(cell.streak(), streak);
        cooldowns.push(until.saturating_since(t).as_secs());
        t = until;
        assert_eq!(cell.try_claim(t), Ok(Admission::Probe));
    }
    assert_eq!(cooldowns, [30, 60, 120, 120, 120]);
    assert_eq!(cell.trips(), 6);
}

#[test]
fn any_answer_but_a_penalizing_failure_closes_from_the_probe() {
    for class in [ClientError, ContextLength] {
        let cell = consecutive(1);
        let t = tripped_and_probing(&cell, 0);
        assert_eq!(
            cell.record(Outcome::failed(class), Admission::Probe, t),
            Some(BreakerChange::Closed),
            "{class}"
        );
    }
    for class in [Auth, Billing] {
        let cell = consecutive(1);
        let t = tripped_and_probing(&cell, 0);
        assert_eq!(
            cell.record(Outcome::failed(class), Admission::Probe, t),
            opened(at(45), 1),
            "{class}"
        );
    }
}

#[test]
fn retry_after_is_a_floor_capped_at_a_day() {
    let cell = consecutive(1);
    let with = |s| Outcome::failed(RateLimit).with_retry_after(secs(s));
    assert_eq!(
        cell.record(with(100), Admission::Normal, at(0)),
        opened(at(100), 0)
    );
    let t = at(100);
    assert_eq!(cell.try_claim(t), Ok(Admission::Probe));
    // Shorter than the doubled cooldown: the cooldown wins.
    assert_eq!(
        cell.record(with(5), Admission::Probe, t),
        opened(at(130), 1)
    );
    assert_eq!(cell.try_claim(at(130)), Ok(Admission::Probe));
    let week = 7 * 24 * 3600;
    assert_eq!(
        cell.record(with(week), Admission::Probe, at(130)),
        opened(at(130).saturating_add(MAX_RETRY_AFTER), 2)
    );
}

#[test]
fn retry_after_from_an_earlier_failure_still_counts() {
    let cell = consecutive(3);
    let limited = Outcome::failed(RateLimit).with_retry_after(secs(60));
    assert_eq!(cell.record(limited, Admission::Normal, at(0)), None);
    fail(&cell, ServerError, at(1));
    assert_eq!(fail(&cell, ServerError, at(2)), opened(at(60), 0));
}

#[test]
fn jittered_cooldowns_are_exact_given_the_seed() {
    let policy = BreakerPolicy::default();
    let cell = Cell::new(LaneId::new(0), policy, Jitter::seeded(99));
    for t in 0..4 {
        fail(&cell, ServerError, at(t));
    }
    let expected = policy.cooldown(0, Jitter::seeded(99).next_unit());
    assert_eq!(
        fail(&cell, ServerError, at(4)),
        opened(at(4).saturating_add(expected), 0)
    );
    assert!(expected >= Duration::from_millis(13_500) && expected <= Duration::from_millis(16_500));
    assert_ne!(expected, secs(15), "seed 99 does jitter");
}

#[test]
fn late_outcomes_and_forced_attempts_do_not_move_the_breaker() {
    let cell = consecutive(1);
    fail(&cell, ServerError, at(0));
    // Admitted before the trip, finishing after it: counted, not acted on.
    assert_eq!(ok(&cell, at(1)), None);
    assert_eq!(fail(&cell, ServerError, at(1)), None);
    assert_eq!(cell.state(at(1)), BreakerState::Open { until: at(15) });
    for outcome in [Outcome::Success, Outcome::Failure] {
        assert_eq!(cell.record(outcome, Admission::Forced, at(2)), None);
    }
    assert_eq!(cell.state(at(2)), BreakerState::Open { until: at(15) });
    assert_eq!((cell.ok(), cell.err()), (2, 3));
}

#[test]
fn a_released_probe_is_offered_again() {
    let cell = consecutive(1);
    let t = tripped_and_probing(&cell, 0);
    cell.release_probe();
    assert_eq!(cell.state(t), BreakerState::HalfOpen);
    assert_eq!(cell.try_claim(t), Ok(Admission::Probe));
    cell.release_probe();
    cell.release_probe();
    assert_eq!(
        cell.state(t),
        BreakerState::HalfOpen,
        "releasing twice is harmless"
    );
}

#[test]
fn a_health_probe_cuts_the_cooldown_short() {
    let cell = consecutive(1);
    assert!(!cell.cut_cooldown(at(0)), "nothing to cut while closed");
    fail(&cell, ServerError, at(0));
    assert!(cell.cut_cooldown(at(3)));
    assert_eq!(cell.state(at(3)), BreakerState::HalfOpen);
    assert!(!cell.cut_cooldown(at(3)), "already due");
    assert_eq!(cell.try_claim(at(3)), Ok(Admission::Probe));
    assert!(!cell.cut_cooldown(at(4)), "a probe in flight is left alone");
}

#[test]
fn the_state_word_round_trips_and_clamps() {
    for phase in [Phase::Closed, Phase::Open, Phase::Probing] {
        let word = Word {
            phase,
            until: Moment::from_epoch(Duration::new(1_234, 567)),
        };
        assert_eq!(Word::unpack(word.pack()), word);
    }
    let forever = Word::open_until(Moment::from_epoch(Duration::MAX));
    assert_eq!(forever.phase, Phase::Open);
    assert_eq!(
        forever.until.since_epoch(),
        Duration::from_nanos(Word::MAX_NANOS)
    );
    assert!(forever.until.since_epoch() > secs(146 * 365 * 24 * 3600));
}
