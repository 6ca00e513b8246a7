//! Pool tests: exact SWRR sequences, skipping unusable members, failover orders.

use std::num::NonZeroU32;

use super::*;

const A: LaneId = LaneId::new(0);
const B: LaneId = LaneId::new(1);
const C: LaneId = LaneId::new(2);
const D: LaneId = LaneId::new(3);

fn pool(weights: &[u32]) -> Pool {
    let members = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            Member::new(
                LaneId::new(i),
                NonZeroU32::new(w).expect("test weights are >= 1"),
            )
        })
        .collect();
    Pool::new("p", members).expect("valid test pool")
}

/// `n` picks with every member usable, as letters: lane 0 is `a`, lane 1 `b`, …
fn picks(pool: &Pool, n: usize) -> String {
    picks_where(pool, n, |_| true)
}

fn picks_where(pool: &Pool, n: usize, usable: impl Fn(LaneId) -> bool) -> String {
    (0..n)
        .map(|_| pool.pick(&usable).map_or('-', letter))
        .collect()
}

fn letter(lane: LaneId) -> char {
    char::from(b'a' + u8::try_from(lane.index()).expect("few test lanes"))
}

#[test]
fn two_to_one_gives_nginx_sequence_a_b_a() {
    // Current weights after adding: (2,1) → a, then (1,2) → b, then (3,0) → a, back to (0,0).
    // The documented "A A B per three requests" holds as a count per window, not as an order.
    let p = pool(&[2, 1]);
    assert_eq!(picks(&p, 9), "abaabaaba");
}

#[test]
fn every_window_of_total_weight_holds_the_exact_shares() {
    for weights in [&[2, 1][..], &[5, 1, 1], &[3, 2], &[1, 1, 1], &[4, 3, 2, 1]] {
        let p = pool(weights);
        let total: u32 = weights.iter().sum();
        let window = usize::try_from(total).expect("small");
        let seq = picks(&p, window * 20);
        for chunk in seq.as_bytes().chunks(window) {
            for (i, &w) in weights.iter().enumerate() {
                let c = b'a' + u8::try_from(i).expect("small");
                let n = chunk.iter().filter(|&&x| x == c).count();
                assert_eq!(
                    n,
                    w as usize,
                    "weights {weights:?}, window {:?}",
                    std::str::from_utf8(chunk)
                );
            }
        }
    }
}

#[test]
fn five_one_one_gives_nginx_documented_sequence() {
    // The example in nginx's ngx_http_upstream_round_robin.c commentary.
    let p = pool(&[5, 1, 1]);
    assert_eq!(picks(&p, 14), "aabacaaaabacaa");
}

#[test]
fn other_weight_sets_give_their_exact_sequences() {
    assert_eq!(picks(&pool(&[1, 1, 1]), 6), "abcabc");
    assert_eq!(picks(&pool(&[3, 2]), 5), "ababa");
    assert_eq!(picks(&pool(&[4, 3, 2, 1]), 10), "abcabdacba");
    assert_eq!(picks(&pool(&[1]), 3), "aaa");
}

#[test]
fn unusable_members_are_skipped_and_keep_their_place() {
    let p = pool(&[5, 1, 1]);
    assert_eq!(picks_where(&p, 6, |l| l != A), "bcbcbc");
    // `a` rejoins with its current weight untouched (still 0): the pool's
    // state is as if the b/c run had been a pool of its own.
    assert_eq!(picks(&p, 7), "aabacaa");
    assert_eq!(picks_where(&p, 3, |_| false), "---");
    assert_eq!(
        picks(&p, 7),
        "aabacaa",
        "a pick with nobody usable changes nothing"
    );
}

#[test]
fn candidates_start_with_the_pick_and_never_repeat() {
    let p = pool(&[5, 1, 1]);
    assert_eq!(p.candidates(|_| true), vec![A, B, C]);
    assert_eq!(p.candidates(|_| true), vec![A, B, C]);
    // The third pick is b; failover then goes where SWRR would go next.
    assert_eq!(p.candidates(|_| true), vec![B, A, C]);
    assert_eq!(p.candidates(|l| l != A), vec![C, B]);
    assert_eq!(p.candidates(|_| false), Vec::<LaneId>::new());
}

#[test]
fn candidates_move_the_shared_state_exactly_like_pick() {
    let by_pick = pool(&[4, 3, 2, 1]);
    let by_candidates = pool(&[4, 3, 2, 1]);
    for _ in 0..25 {
        let first = by_candidates.candidates(|l| l != D);
        let picked = by_pick.pick(|l| l != D);
        assert_eq!(first.first().copied(), picked);
        assert_eq!(first.len(), 3);
    }
}

#[test]
fn failover_order_follows_weights() {
    // After a pick of the heaviest member, the next failover is the next heaviest.
    let p = pool(&[1, 6, 3]);
    let order = p.candidates(|_| true);
    assert_eq!(order, vec![B, C, A]);
}

#[test]
fn members_cells_and_context_are_kept() {
    let two = NonZeroU32::new(2).expect("two");
    let p = Pool::new(
        "smart",
        vec![
            Member::new(A, two).with_context_max(200_000),
            Member::new(C, NonZeroU32::MIN),
        ],
    )
    .expect("valid");
    assert_eq!(p.name(), "smart");
    assert_eq!(p.member(A).and_then(|m| m.context_max), Some(200_000));
    assert_eq!(
        p.member(C).map(|m| (m.weight.get(), m.context_max)),
        Some((1, None))
    );
    assert!(p.member(B).is_none());
    assert_eq!(p.cell(C).map(Cell::lane), Some(C));
    assert_eq!(p.cells().map(Cell::lane).collect::<Vec<_>>(), vec![A, C]);
}

#[test]
fn empty_and_repeating_pools_are_refused() {
    assert_eq!(
        Pool::new("none", vec![]).err(),
        Some(TopologyError::EmptyPool {
            pool: "none".into()
        })
    );
    let twice = vec![
        Member::new(B, NonZeroU32::MIN),
        Member::new(B, NonZeroU32::MIN),
    ];
    assert_eq!(
        Pool::new("twice", twice).err(),
        Some(TopologyError::DuplicateMember {
            pool: "twice".into(),
            lane: B
        })
    );
}

#[test]
fn current_weights_stay_bounded_while_members_come_and_go() {
    let p = pool(&[7, 3, 1, 1]);
    // A fixed pseudo-random pattern of outages, deterministic across runs.
    let mut seed: u32 = 0x9e37_79b9;
    for _ in 0..100_000 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let down = seed;
        let _ = p.pick(|l| down & (1 << l.index()) == 0);
    }
    let current = p.lock_current();
    assert!(current.iter().all(|w| w.abs() <= 4 * 12), "{current:?}");
}
