//! `pools:` in `config.yaml`: members, breaker, failover, exhaustion policy,
//! affinity, and the cross-checks between pools.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::model::{
    Affinity, AffinityMode, Breaker, Failover, OnExhausted, Pool, PoolMember, Trip, TripMode,
};
use crate::walk::{index, join, suggest, Fields, Walker};
use crate::yaml::Node;

const POOL_FIELDS: [&str; 5] = ["members", "breaker", "failover", "on_exhausted", "affinity"];
const MEMBER_FIELDS: [&str; 3] = ["target", "weight", "context_max"];
const BREAKER_FIELDS: [&str; 3] = ["trip", "base_cooldown_secs", "max_cooldown_secs"];
const TRIP_FIELDS: [&str; 5] = ["mode", "window_s", "threshold", "min_requests", "n"];
const FAILOVER_FIELDS: [&str; 3] = ["deadline_secs", "cap", "exclusions"];

/// Resolves every pool; `models` and `providers` are the declared names.
pub(super) fn pools(
    w: &mut Walker,
    top: &Fields<'_>,
    models: &BTreeSet<String>,
    providers: &BTreeSet<String>,
) -> BTreeMap<String, Pool> {
    let mut out = BTreeMap::new();
    let Some((section, node)) = top.get("pools") else {
        return out;
    };
    let entries = w.named(&section, node);
    let names: BTreeSet<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    let mut order = Vec::new();
    for (name, node) in entries {
        let path = join(&section, name);
        if !w.name(&path, name) {
            continue;
        }
        if models.contains(name) {
            w.error(
                &path,
                format!("a pool must not share its name with the model `{name}`"),
            );
        } else if providers.contains(name) {
            w.error(
                &path,
                format!("a pool must not share its name with the provider `{name}`"),
            );
        }
        let Some(f) = w.object(&path, node, &POOL_FIELDS) else {
            continue;
        };
        let members = members(w, &f, models);
        let breaker = f
            .get("breaker")
            .map_or(Some(Breaker::default()), |(p, n)| breaker(w, &p, n));
        let failover = f
            .get("failover")
            .map_or(Some(Failover::default()), |(p, n)| {
                failover(w, &p, n, models)
            });
        let on_exhausted = f
            .get("on_exhausted")
            .map_or(Some(OnExhausted::Reject), |(p, n)| {
                on_exhausted(w, &p, n, &names)
            });
        let affinity = f
            .get("affinity")
            .map_or(Some(None), |(p, n)| affinity(w, &p, n).map(Some));
        order.push(name.clone());
        if let (Some(breaker), Some(failover), Some(on_exhausted), Some(affinity)) =
            (breaker, failover, on_exhausted, affinity)
        {
            out.insert(
                name.clone(),
                Pool {
                    name: name.clone(),
                    members,
                    breaker,
                    failover,
                    on_exhausted,
                    affinity,
                },
            );
        }
    }
    report_cycles(w, &section, &order, &out);
    out
}

fn members(w: &mut Walker, f: &Fields<'_>, models: &BTreeSet<String>) -> Vec<PoolMember> {
    let mut out = Vec::new();
    let Some((path, node)) = f.get("members") else {
        w.error(&join(f.path(), "members"), "required: at least one member");
        return out;
    };
    let items = w.list(&path, node);
    if items.is_empty() && matches!(node, Node::Seq(_)) {
        w.error(&path, "must not be empty");
    }
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let member_path = index(&path, i);
        let Some(m) = w.object(&member_path, item, &MEMBER_FIELDS) else {
            continue;
        };
        let target = m.str(w, "target");
        let target = m.require(w, "target", target).filter(|target| {
            let target_path = join(&member_path, "target");
            model_reference(w, &target_path, target, models)
                && (seen.insert(target.clone()) || {
                    w.error(
                        &target_path,
                        format!("`{target}` is already a member of this pool"),
                    );
                    false
                })
        });
        let weight = m
            .get("weight")
            .map_or(Some(1), |(p, n)| w.at_least(&p, n, 1));
        // Outer `Option`: valid or not; inner: given or not.
        let context_max = m
            .get("context_max")
            .map_or(Some(None), |(p, n)| w.at_least(&p, n, 1).map(Some));
        if let (Some(target), Some(weight), Some(context_max)) = (target, weight, context_max) {
            out.push(PoolMember {
                target,
                weight,
                context_max,
            });
        }
    }
    out
}

/// Reports `name` unless it is a declared model.
fn model_reference(w: &mut Walker, path: &str, name: &str, models: &BTreeSet<String>) -> bool {
    if models.contains(name) {
        return true;
    }
    let hint = suggest(name, models.iter().map(String::as_str))
        .map(|close| format!("; did you mean `{close}`?"))
        .unwrap_or_default();
    w.error(path, format!("`{name}` is not a model{hint}"));
    false
}

fn breaker(w: &mut Walker, path: &str, node: &Node) -> Option<Breaker> {
    let f = w.object(path, node, &BREAKER_FIELDS)?;
    let defaults = Breaker::default();
    let trip = f
        .get("trip")
        .map_or(Some(defaults.trip), |(p, n)| trip(w, &p, n));
    let base = f
        .get("base_cooldown_secs")
        .map_or(Some(defaults.base_cooldown), |(p, n)| {
            w.at_least(&p, n, 1).map(Duration::from_secs)
        });
    let max = f
        .get("max_cooldown_secs")
        .map_or(Some(defaults.max_cooldown), |(p, n)| {
            w.at_least(&p, n, 1).map(Duration::from_secs)
        });
    let (trip, base, max) = (trip?, base?, max?);
    if max < base {
        w.error(
            &join(path, "max_cooldown_secs"),
            format!("must be >= base_cooldown_secs ({})", base.as_secs()),
        );
        return None;
    }
    Some(Breaker {
        trip,
        base_cooldown: base,
        max_cooldown: max,
    })
}

fn trip(w: &mut Walker, path: &str, node: &Node) -> Option<Trip> {
    let f = w.object(path, node, &TRIP_FIELDS)?;
    let defaults = Trip::default();
    let mode = f.get("mode").map_or(Some(defaults.mode), |(p, n)| {
        w.choice(
            &p,
            n,
            &[
                ("error_rate", TripMode::ErrorRate),
                ("consecutive", TripMode::Consecutive),
            ],
        )
    });
    let window = f.get("window_s").map_or(Some(defaults.window), |(p, n)| {
        w.at_least(&p, n, 1).map(Duration::from_secs)
    });
    let threshold = f
        .get("threshold")
        .map_or(Some(defaults.threshold), |(p, n)| {
            let t = w.number(&p, n)?;
            if t > 0.0 && t <= 1.0 {
                Some(t)
            } else {
                w.error(&p, "must be greater than 0 and at most 1");
                None
            }
        });
    let min_requests = f
        .get("min_requests")
        .map_or(Some(defaults.min_requests), |(p, n)| w.at_least(&p, n, 1));
    let n = f
        .get("n")
        .map_or(Some(defaults.n), |(p, node)| w.at_least(&p, node, 1));
    Some(Trip {
        mode: mode?,
        window: window?,
        threshold: threshold?,
        min_requests: min_requests?,
        n: n?,
    })
}

fn failover(
    w: &mut Walker,
    path: &str,
    node: &Node,
    models: &BTreeSet<String>,
) -> Option<Failover> {
    let f = w.object(path, node, &FAILOVER_FIELDS)?;
    let defaults = Failover::default();
    let deadline = f
        .get("deadline_secs")
        .map_or(Some(defaults.deadline), |(p, n)| {
            w.at_least(&p, n, 1).map(Duration::from_secs)
        });
    let cap = f
        .get("cap")
        .map_or(Some(defaults.cap), |(p, n)| w.at_least(&p, n, 0));
    let mut exclusions = Vec::new();
    let mut valid = true;
    if let Some((p, n)) = f.get("exclusions") {
        for (i, item) in w.list(&p, n).iter().enumerate() {
            let item_path = index(&p, i);
            match w.string(&item_path, item) {
                Some(name) if model_reference(w, &item_path, &name, models) => {
                    exclusions.push(name)
                }
                _ => valid = false,
            }
        }
    }
    Some(Failover {
        deadline: deadline?,
        cap: cap?,
        exclusions,
    })
    .filter(|_| valid)
}

fn on_exhausted(
    w: &mut Walker,
    path: &str,
    node: &Node,
    pools: &BTreeSet<&str>,
) -> Option<OnExhausted> {
    let f = w.object(path, node, &["action"])?;
    let Some((p, n)) = f.get("action") else {
        return Some(OnExhausted::Reject);
    };
    // `503` is usually written bare, which YAML reads as a number.
    if *n == Node::Int(503) {
        return Some(OnExhausted::Reject);
    }
    let action = w.string(&p, n)?;
    match action.as_str() {
        "reject" | "503" => return Some(OnExhausted::Reject),
        "least_bad" => return Some(OnExhausted::LeastBad),
        _ => {}
    }
    if let Some(target) = action.strip_prefix("fallback_pool:") {
        let target = target.trim();
        if target.is_empty() {
            w.error(
                &p,
                "`fallback_pool:` needs a pool name, e.g. `fallback_pool:backup`",
            );
            return None;
        }
        if !pools.contains(target) {
            let hint = suggest(target, pools.iter().copied())
                .map(|close| format!("; did you mean `{close}`?"))
                .unwrap_or_default();
            w.error(&p, format!("fallback pool `{target}` is not a pool{hint}"));
            return None;
        }
        return Some(OnExhausted::FallbackPool(target.to_owned()));
    }
    let options = ["reject", "503", "least_bad", "fallback_pool:NAME"];
    let hint = suggest(&action, options)
        .map(|close| format!("; did you mean `{close}`?"))
        .unwrap_or_default();
    w.error(
        &p,
        format!("unknown action `{action}`; expected one of: `reject`, `503`, `least_bad`, `fallback_pool:NAME`{hint}"),
    );
    None
}

fn affinity(w: &mut Walker, path: &str, node: &Node) -> Option<Affinity> {
    let f = w.object(path, node, &["mode", "header_name"])?;
    let mode = f.get("mode").map_or(Some(AffinityMode::Session), |(p, n)| {
        w.choice(&p, n, &[("session", AffinityMode::Session)])
    });
    let header_name = match f.get("header_name") {
        None => Some("x-session-id".to_owned()),
        Some((p, n)) => w.string(&p, n).filter(|name| {
            // RFC 9110 token characters.
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                w.error(&p, "must be a valid HTTP header name");
            }
            token
        }),
    };
    Some(Affinity {
        mode: mode?,
        header_name: header_name?.to_ascii_lowercase(),
    })
}

/// Fallback chains must end; each cycle is reported once, at its member that
/// comes first in the file.
fn report_cycles(w: &mut Walker, section: &str, order: &[String], pools: &BTreeMap<String, Pool>) {
    let next = |name: &str| match pools.get(name).map(|p| &p.on_exhausted) {
        Some(OnExhausted::FallbackPool(target)) => Some(target.as_str()),
        _ => None,
    };
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for start in order {
        if reported.contains(start.as_str()) {
            continue;
        }
        let mut chain = vec![start.as_str()];
        let mut current = start.as_str();
        while let Some(target) = next(current) {
            if target == start {
                chain.push(target);
                w.error(
                    &join(&join(section, start), "on_exhausted.action"),
                    format!("fallback pools form a cycle: {}", chain.join(" → ")),
                );
                reported.extend(chain.iter().copied());
                break;
            }
            if chain.contains(&target) {
                // A cycle that does not pass through `start`; reported from
                // its own first member.
                break;
            }
            chain.push(target);
            current = target;
        }
    }
}
