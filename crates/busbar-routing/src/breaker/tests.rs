//! Breaker arithmetic: cooldown doubling, cap and jitter, the trip rules, the sliding window.

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at_millis(ms: u64) -> Moment {
    Moment::from_epoch(Duration::from_millis(ms))
}

fn exact() -> BreakerPolicy {
    BreakerPolicy::default().with_jitter(0.0)
}

#[test]
fn cooldown_doubles_per_streak_up_to_the_cap() {
    let p = exact();
    let seq: Vec<u64> = (0..6).map(|s| p.cooldown(s, 0.0).as_secs()).collect();
    assert_eq!(seq, [15, 30, 60, 120, 120, 120]);
    assert_eq!(
        p.cooldown(u32::MAX, 0.0),
        secs(120),
        "huge streaks stay capped"
    );
    let huge = BreakerPolicy::new(Trip::default(), Duration::MAX, Duration::MAX);
    assert_eq!(huge.with_jitter(0.0).cooldown(40, 0.0), Duration::MAX);
}

#[test]
fn jitter_scales_by_at_most_ten_percent_after_the_cap() {
    let p = BreakerPolicy::default();
    assert_eq!(p.jitter, 0.1);
    assert_eq!(p.cooldown(0, -1.0), Duration::from_millis(13_500));
    assert_eq!(p.cooldown(0, 1.0), Duration::from_millis(16_500));
    assert_eq!(p.cooldown(0, 0.0), secs(15));
    // At the cap the jitter still applies, so capped lanes do not reopen in lockstep.
    assert_eq!(p.cooldown(9, 1.0), secs(132));
    assert_eq!(p.cooldown(9, -1.0), secs(108));
    // Out-of-range units and ratios are clamped rather than trusted.
    assert_eq!(p.cooldown(0, 7.0), Duration::from_millis(16_500));
    assert_eq!(p.with_jitter(5.0).cooldown(0, -1.0), Duration::ZERO);
    assert_eq!(p.with_jitter(-1.0).cooldown(0, 1.0), secs(15));
    assert_eq!(p.with_jitter(f64::NAN).cooldown(0, 1.0), secs(15));
}

#[test]
fn jitter_draws_are_deterministic_bounded_and_spread() {
    let mut a = Jitter::seeded(42);
    let mut b = Jitter::seeded(42);
    let draws: Vec<f64> = (0..10_000).map(|_| a.next_unit()).collect();
    assert!(draws.iter().all(|&u| (-1.0..1.0).contains(&u)));
    assert!(draws
        .iter()
        .zip(std::iter::repeat_with(|| b.next_unit()))
        .all(|(x, y)| *x == y));
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    assert!(mean.abs() < 0.05, "mean {mean}");
    assert!(draws.iter().any(|&u| u < -0.9) && draws.iter().any(|&u| u > 0.9));

    let policy = BreakerPolicy::default();
    let mut jitter = Jitter::seeded(7);
    for _ in 0..1_000 {
        let c = policy.cooldown(0, jitter.next_unit());
        assert!(c >= Duration::from_millis(13_500) && c <= Duration::from_millis(16_500));
    }

    // Cells draw from different sequences; the same cell always the same one.
    let first = |pool: &str, lane| Jitter::for_cell(pool, lane).next_unit();
    assert_eq!(first("smart", 0), first("smart", 0));
    assert_ne!(first("smart", 0), first("smart", 1));
    assert_ne!(first("smart", 0), first("cheap", 0));
    assert!(
        Jitter::seeded(0).next_unit().is_finite(),
        "a zero seed is remapped"
    );
}

#[test]
fn consecutive_rule_trips_at_n() {
    let n = NonZeroU32::new(3).expect("three");
    let rule = Trip::Consecutive { n };
    assert!(!rule.is_met(2, (100, 100)));
    assert!(rule.is_met(3, (0, 0)));
    assert!(rule.is_met(4, (0, 0)));
    assert_eq!(rule.window(), Duration::ZERO);
}

#[test]
fn error_rate_rule_needs_min_requests_and_the_threshold() {
    let rule = Trip::default();
    assert_eq!(rule.window(), secs(30));
    assert!(!rule.is_met(0, (4, 4)), "below min_requests");
    assert!(rule.is_met(0, (5, 5)));
    assert!(!rule.is_met(0, (5, 2)), "0.4 < 0.5");
    assert!(rule.is_met(0, (6, 3)), "exactly the threshold trips");
    let zero_min = Trip::ErrorRate {
        window: secs(30),
        threshold: 1.0,
        min_requests: 0,
    };
    assert!(!zero_min.is_met(0, (0, 0)), "min_requests 0 acts as 1");
    assert!(zero_min.is_met(0, (1, 1)));
    let nan = Trip::ErrorRate {
        window: secs(30),
        threshold: f64::NAN,
        min_requests: 1,
    };
    assert!(!nan.is_met(0, (10, 10)), "a NaN threshold never trips");
}

#[test]
fn the_window_slides_in_tenths() {
    let mut w = Window::new(secs(10));
    w.add(at_millis(500), true);
    w.add(at_millis(1_200), false);
    w.add(at_millis(9_999), true);
    assert_eq!(w.totals(at_millis(9_999)), (3, 2));
    // At 10 s the first second's bucket leaves the window.
    assert_eq!(w.totals(at_millis(10_000)), (2, 1));
    assert_eq!(w.totals(at_millis(11_000)), (1, 1));
    // The failure at 9.999 s sits in the tenth [9 s, 10 s), which leaves at 19 s.
    assert_eq!(w.totals(at_millis(18_999)), (1, 1));
    assert_eq!(w.totals(at_millis(19_000)), (0, 0));
    // A bucket reused a whole window later starts from zero.
    w.add(at_millis(20_500), false);
    assert_eq!(w.totals(at_millis(20_500)), (1, 0));
    w.clear();
    assert_eq!(w.totals(at_millis(20_500)), (0, 0));
}

#[test]
fn degenerate_windows_do_not_panic() {
    let mut w = Window::new(Duration::ZERO);
    w.add(Moment::EPOCH, true);
    assert_eq!(w.totals(Moment::EPOCH), (1, 1));
    let mut w = Window::new(Duration::MAX);
    w.add(Moment::from_epoch(Duration::MAX), true);
    assert_eq!(w.totals(Moment::from_epoch(Duration::MAX)), (1, 1));
}
