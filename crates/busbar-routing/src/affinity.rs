//! Session affinity by weighted rendezvous hashing: the same key goes to the same usable member.
//!
//! Every (key, member) pair gets a score, `weight / -ln(u)`, where `u` in
//! (0, 1) comes from a hash of the key and the member's model name; the
//! members ranked by score give the session's preference order. This is
//! highest-random-weight hashing with logarithmic weighting, which has the
//! three properties affinity needs:
//!
//! * **Deterministic and stable across restarts and reloads.** The hash is our
//!   own (FNV-1a with a final mix), not std's randomly keyed one, and it is
//!   keyed by the model name, not by the member's position.
//! * **Minimal movement.** When a member becomes unusable only the sessions
//!   that preferred it move, each to its own second choice; every other
//!   session stays where it was. When the member comes back its sessions
//!   return to it.
//! * **Weighted.** A member's share of sessions is proportional to its weight.

use crate::lane::LaneId;

/// One member as affinity sees it: its lane, model name and weight.
pub(crate) struct Candidate<'a> {
    pub(crate) lane: LaneId,
    pub(crate) name: &'a str,
    pub(crate) weight: u32,
}

/// `candidates` in the order the session `key` prefers them: the highest
/// score first. Ties (vanishingly rare) keep the given order.
pub(crate) fn rank<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = Candidate<'a>>,
) -> Vec<LaneId> {
    let mut scored: Vec<(f64, LaneId)> = candidates
        .into_iter()
        .map(|c| (score(key, c.name, c.weight), c.lane))
        .collect();
    // A stable sort, descending by score.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, lane)| lane).collect()
}

/// The weighted rendezvous score of `member` for `key`.
fn score(key: &str, member: &str, weight: u32) -> f64 {
    let h = hash(key, member);
    // The top 53 bits, centred in their interval, give u strictly inside (0, 1),
    // so -ln(u) is finite and positive.
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(weight.max(1)) / -u.ln()
}

/// FNV-1a over `key`, a separator no UTF-8 text contains, and `member`,
/// finished with splitmix64's mixer so every output bit depends on every input bit.
fn hash(key: &str, member: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain([0xff]).chain(member.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 4] = ["sonnet", "gpt-4o", "gemini", "command"];

    fn members(weights: &[u32], down: Option<usize>) -> Vec<Candidate<'static>> {
        weights
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != down)
            .map(|(i, &weight)| Candidate {
                lane: LaneId::new(i),
                name: NAMES[i],
                weight,
            })
            .collect()
    }

    fn first(key: &str, weights: &[u32], down: Option<usize>) -> LaneId {
        rank(key, members(weights, down))[0]
    }

    #[test]
    fn the_same_key_always_gets_the_same_member() {
        for key in ["session-1", "session-2", "", "ünïcode"] {
            let a = rank(key, members(&[1, 1, 1], None));
            let b = rank(key, members(&[1, 1, 1], None));
            assert_eq!(a, b);
            assert_eq!(a.len(), 3, "every member is ranked once");
        }
    }

    #[test]
    fn the_ranking_does_not_depend_on_member_order() {
        let forward = rank("user-42", members(&[2, 1, 3], None));
        let mut reversed = members(&[2, 1, 3], None);
        reversed.reverse();
        assert_eq!(rank("user-42", reversed), forward);
    }

    #[test]
    fn a_downed_member_moves_only_its_own_keys_and_they_come_back() {
        let weights = [1, 1, 1, 1];
        let keys: Vec<String> = (0..2_000).map(|i| format!("session-{i}")).collect();
        let mut moved = 0;
        for key in &keys {
            let before = first(key, &weights, None);
            let after = first(key, &weights, Some(2));
            if before == LaneId::new(2) {
                moved += 1;
                // It goes to its own second choice.
                assert_eq!(after, rank(key, members(&weights, None))[1]);
            } else {
                assert_eq!(after, before, "{key} moved although its member is up");
            }
            assert_eq!(first(key, &weights, None), before, "it returns");
        }
        assert!(
            (400..600).contains(&moved),
            "about a quarter moved: {moved}"
        );
    }

    #[test]
    fn shares_follow_weights() {
        let weights = [3, 1];
        let n = 8_000;
        let heavy = (0..n)
            .filter(|i| first(&format!("k{i}"), &weights, None) == LaneId::new(0))
            .count();
        // Expect 3/4 of the keys; allow a few percent of hashing noise.
        assert!((5_700..6_300).contains(&heavy), "{heavy} of {n}");
    }

    #[test]
    fn scores_are_finite_and_positive() {
        for key in ["", "a", "session"] {
            for name in NAMES {
                let s = score(key, name, 1);
                assert!(s.is_finite() && s > 0.0, "{key}/{name}: {s}");
            }
        }
        assert_ne!(hash("ab", "c"), hash("a", "bc"), "the separator matters");
    }
}
