//! Reading prices from YAML: a catalog entry's `models` and `price_source`,
//! and a model's `price` in `config.yaml`, which share their fields.

use std::collections::BTreeMap;

use super::{decimal, Listing, Price, Rates, Tier};
use crate::walk::{index, join, Fields, Walker};
use crate::yaml::Node;

/// The fields of a price, in `config.yaml` and in the catalog.
pub(crate) const PRICE_FIELDS: [&str; 8] = [
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
    "per_request",
    "long_context",
];

const LISTING_FIELDS: [&str; 10] = [
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
    "per_request",
    "long_context",
    "context_window",
    "max_output",
];

const TIER_FIELDS: [&str; 7] = [
    "above",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
];

/// `models.NAME.price` in `config.yaml`.
pub(crate) fn price(w: &mut Walker, path: &str, node: &Node) -> Option<Price> {
    let f = w.object(path, node, &PRICE_FIELDS)?;
    price_fields(w, &f)
}

/// A catalog entry's `models`: upstream id → listing.
pub(crate) fn listings(w: &mut Walker, path: &str, node: &Node) -> BTreeMap<String, Listing> {
    let mut out = BTreeMap::new();
    for (id, node) in w.named(path, node) {
        let path = join(path, id);
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            w.error(
                &path,
                "a model id must be non-empty without whitespace or control characters",
            );
            continue;
        }
        let Some(f) = w.object(&path, node, &LISTING_FIELDS) else {
            continue;
        };
        let price = price_fields(w, &f);
        let context_window = f.at_least(w, "context_window", 1);
        let max_output = f.at_least(w, "max_output", 1);
        if let Some(price) = price {
            out.insert(
                id.clone(),
                Listing {
                    id: id.clone(),
                    price,
                    context_window,
                    max_output,
                },
            );
        }
    }
    out
}

/// A catalog entry's `price_source: {url, checked}`: where its prices were
/// read and on which day, so a reader can tell how stale they are.
pub(crate) fn source(w: &mut Walker, path: &str, node: &Node) {
    let Some(f) = w.object(path, node, &["url", "checked"]) else {
        return;
    };
    if let Some(url) = f.str(w, "url") {
        if !url.starts_with("https://") || url.chars().any(char::is_whitespace) {
            w.error(&join(path, "url"), "must be an https:// URL");
        }
    } else {
        f.require(w, "url", None::<()>);
    }
    match f.get("checked") {
        Some((path, node)) => {
            if let Some(date) = w.string(&path, node) {
                if !is_date(&date) {
                    w.error(&path, "must be a date written YYYY-MM-DD");
                }
            }
        }
        None => {
            f.require(w, "checked", None::<()>);
        }
    }
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn price_fields(w: &mut Walker, f: &Fields<'_>) -> Option<Price> {
    let base = rates(w, f);
    let per_request = f.get("per_request").and_then(|(path, node)| {
        let text = amount_text(w, &path, node)?;
        decimal::dollars(&text)
            .map_err(|reason| w.error(&path, reason))
            .ok()
    });
    let mut tiers: Vec<Tier> = Vec::new();
    if let Some((path, node)) = f.get("long_context") {
        for (i, item) in w.list(&path, node).iter().enumerate() {
            let path = index(&path, i);
            let Some(t) = w.object(&path, item, &TIER_FIELDS) else {
                continue;
            };
            let above = t.at_least(w, "above", 1);
            let above = t.require(w, "above", above);
            let tier_rates = rates(w, &t);
            if let (Some(above), Some(tier_rates)) = (above, tier_rates) {
                if tiers.iter().any(|tier| tier.above == above) {
                    w.error(
                        &join(&path, "above"),
                        format!("another tier starts above {above}"),
                    );
                } else {
                    tiers.push(Tier::new(above, tier_rates));
                }
            }
        }
    }
    let mut price = Price::new(base?);
    for tier in tiers {
        price = price.with_tier(tier);
    }
    if let Some(fee) = per_request {
        price = price.with_per_request(fee);
    }
    Some(price)
}

/// `input` and `output` (required), the optional class rates.
fn rates(w: &mut Walker, f: &Fields<'_>) -> Option<Rates> {
    let mut rate = |key: &str| {
        let (path, node) = f.get(key)?;
        let text = amount_text(w, &path, node)?;
        decimal::rate(&text)
            .map_err(|reason| w.error(&path, reason))
            .ok()
    };
    let input = rate("input");
    let output = rate("output");
    let cache_read = rate("cache_read");
    let cache_write = rate("cache_write");
    let cache_write_1h = rate("cache_write_1h");
    let reasoning = rate("reasoning");
    let input = f.require(w, "input", input);
    let output = f.require(w, "output", output);
    let mut rates = Rates::new(input?, output?);
    rates.cache_read = cache_read;
    rates.cache_write = cache_write;
    rates.cache_write_1h = cache_write_1h;
    rates.reasoning = reasoning;
    Some(rates)
}

/// A number or a quoted decimal as decimal text. A float comes as the
/// shortest text that reads back as it, which is how it was written for
/// any price with a handful of decimals.
fn amount_text(w: &mut Walker, path: &str, node: &Node) -> Option<String> {
    let text = match node {
        Node::Int(i) => i.to_string(),
        Node::Float(f) if f.is_finite() => format!("{f}"),
        Node::Str(s) => s.clone(),
        other => {
            w.error(
                path,
                format!("expected an amount of dollars, found {}", other.kind()),
            );
            return None;
        }
    };
    Some(text)
}
