//! What each reply cost: its tokens by class and, for a lane with a price,
//! its money, counted in `/metrics` and in the lane's `/stats` totals.
//!
//! A [`Tally`] travels in the reply's guard beside governance's meter and
//! sees the same usage reports; it records once, however the reply ends —
//! whole, broken off, or left by its client — with the tokens the upstream
//! reported by then, since those are what the vendor bills. The cost is
//! exact: `busbar_config::Price::cost` gives picodollars, a lane's
//! [`LaneSpend`] adds them up, and `busbar_cost_total` (whole micro-dollars)
//! is raised by the whole micro-dollars each (pool, lane) total has gained,
//! so the remainders below a micro-dollar are carried, never rounded away.

use std::sync::{Arc, Mutex, PoisonError};

use busbar_config::{Money, Price};
use busbar_ir::{StreamEvent, Usage};
use serde::Serialize;

/// The token classes, as `busbar_tokens_total`'s `class` label and `/stats`
/// name them. They partition a reply's tokens, as its price charges them:
/// `input` is the input read neither from nor into the cache, `cache_write`
/// the writes other than the 1-hour ones (5-minute writes, and writes whose
/// lifetime was not reported), `output` the output other than reasoning, so
/// the six add up to the total.
const CLASSES: [&str; 6] = [
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
];

/// A lane's tokens by class, for `/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Tokens {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: u64,
    pub(crate) cache_write: u64,
    pub(crate) cache_write_1h: u64,
    pub(crate) reasoning: u64,
}

impl Tokens {
    /// `usage` split into the six classes.
    fn of(usage: &Usage) -> Self {
        let reasoning = usage.reasoning_tokens.unwrap_or(0);
        let cache_write_1h = usage.cache_write_1h_tokens.unwrap_or(0);
        Self {
            input: usage.uncached_input_tokens(),
            output: usage.output_tokens.saturating_sub(reasoning),
            cache_read: usage.cache_read_tokens.unwrap_or(0),
            cache_write: usage
                .cache_write_tokens
                .unwrap_or(0)
                .saturating_sub(cache_write_1h),
            cache_write_1h,
            reasoning,
        }
    }

    fn counts(&self) -> [u64; 6] {
        [
            self.input,
            self.output,
            self.cache_read,
            self.cache_write,
            self.cache_write_1h,
            self.reasoning,
        ]
    }

    fn add(&mut self, other: &Tokens) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
        self.cache_write_1h = self.cache_write_1h.saturating_add(other.cache_write_1h);
        self.reasoning = self.reasoning.saturating_add(other.reasoning);
    }
}

/// One lane's running totals since it was built; kept across a reload
/// that keeps the lane.
#[derive(Debug, Default)]
pub(crate) struct LaneSpend {
    totals: Mutex<Totals>,
}

#[derive(Debug, Default)]
struct Totals {
    tokens: Tokens,
    cost: Money,
    /// Each pool's cost through this lane, for carrying the metric's
    /// remainders; pools are few, so a list.
    by_pool: Vec<(String, Money)>,
}

impl LaneSpend {
    /// The lane's tokens by class and its cost so far.
    pub(crate) fn snapshot(&self) -> (Tokens, Money) {
        let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        (totals.tokens, totals.cost)
    }

    /// Adds a reply's tokens and cost; returns the whole micro-dollars the
    /// pool's total through this lane gained.
    fn add(&self, pool: &str, tokens: &Tokens, cost: Option<Money>) -> u64 {
        let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        totals.tokens.add(tokens);
        let Some(cost) = cost else {
            return 0;
        };
        totals.cost = totals.cost.plus(cost);
        let at = match totals.by_pool.iter().position(|(name, _)| name == pool) {
            Some(at) => at,
            None => {
                totals.by_pool.push((pool.to_owned(), Money::ZERO));
                totals.by_pool.len() - 1
            }
        };
        let before = totals.by_pool[at].1;
        let after = before.plus(cost);
        totals.by_pool[at].1 = after;
        after.micro_dollars() - before.micro_dollars()
    }
}

/// One reply's usage on its way to the lane's totals and the metrics.
pub(crate) struct Tally {
    pool: String,
    lane: String,
    price: Option<Arc<Price>>,
    spend: Arc<LaneSpend>,
    usage: Usage,
}

impl Tally {
    /// A tally for a reply from `lane` (which has `price`, if any) to a
    /// request routed as `pool`.
    pub(crate) fn new(
        pool: &str,
        lane: &str,
        price: Option<Arc<Price>>,
        spend: Arc<LaneSpend>,
    ) -> Self {
        Self {
            pool: pool.to_owned(),
            lane: lane.to_owned(),
            price,
            spend,
            usage: Usage::default(),
        }
    }

    /// Folds a stream event's usage report in (reports are cumulative).
    pub(crate) fn observe(&mut self, event: &StreamEvent) {
        if let Some(usage) = event.usage() {
            self.usage.merge(usage);
        }
    }

    /// Takes a complete reply's usage.
    pub(crate) fn record(&mut self, usage: &Usage) {
        self.usage.merge(usage);
    }

    /// Counts what was seen: in the lane's totals, and in
    /// `busbar_tokens_total` and (when the lane has a price)
    /// `busbar_cost_total`.
    pub(crate) fn finish(self) {
        let tokens = Tokens::of(&self.usage);
        let cost = self.price.as_ref().map(|price| price.cost(&self.usage));
        let micro_dollars = self.spend.add(&self.pool, &tokens, cost);
        for (class, count) in CLASSES.into_iter().zip(tokens.counts()) {
            if count > 0 {
                metrics::counter!(
                    "busbar_tokens_total",
                    "pool" => self.pool.clone(),
                    "lane" => self.lane.clone(),
                    "class" => class
                )
                .increment(count);
            }
        }
        if cost.is_some() {
            // Raised by nothing, too, so a priced lane's series exists from
            // its first reply.
            metrics::counter!(
                "busbar_cost_total",
                "pool" => self.pool,
                "lane" => self.lane
            )
            .increment(micro_dollars);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use busbar_config::{Rate, Rates};

    #[test]
    fn classes_partition_the_tokens() {
        let mut usage = Usage::new(100, 40);
        usage.cache_read_tokens = Some(60);
        usage.cache_write_tokens = Some(30);
        usage.reasoning_tokens = Some(25);
        let tokens = Tokens::of(&usage);
        assert_eq!(tokens.counts(), [10, 15, 60, 30, 0, 25]);
        assert_eq!(tokens.counts().iter().sum::<u64>(), usage.total_tokens());
        // The 1-hour writes are taken out of the writes.
        usage.cache_write_1h_tokens = Some(20);
        let tokens = Tokens::of(&usage);
        assert_eq!(tokens.counts(), [10, 15, 60, 10, 20, 25]);
        assert_eq!(tokens.counts().iter().sum::<u64>(), usage.total_tokens());
    }

    #[test]
    fn remainders_below_a_micro_dollar_are_carried_per_pool() {
        let spend = LaneSpend::default();
        // 0.4 µ$ each: the third one crosses a whole micro-dollar.
        let cost = Money::from_picodollars(400_000);
        let gained: Vec<u64> = (0..5)
            .map(|_| spend.add("a", &Tokens::default(), Some(cost)))
            .collect();
        assert_eq!(gained, [0, 0, 1, 0, 1]);
        assert_eq!(spend.add("b", &Tokens::default(), Some(cost)), 0);
        assert_eq!(spend.snapshot().1, Money::from_picodollars(2_400_000));
    }

    #[test]
    fn a_tally_adds_its_usage_to_the_lane() {
        let spend = Arc::new(LaneSpend::default());
        let price = Price::new(Rates::new(
            Rate::from_picodollars(3_000_000),
            Rate::from_picodollars(15_000_000),
        ));
        let mut tally = Tally::new("pool", "lane", Some(Arc::new(price)), Arc::clone(&spend));
        tally.observe(&StreamEvent::MessageStart {
            id: String::new(),
            model: String::new(),
            created: None,
            usage: Usage::new(1000, 0),
        });
        tally.observe(&StreamEvent::MessageDelta {
            stop_reason: None,
            stop_sequence: None,
            usage: Some(Usage::new(0, 200)),
        });
        tally.finish();
        let (tokens, cost) = spend.snapshot();
        assert_eq!((tokens.input, tokens.output), (1000, 200));
        assert_eq!(cost.micro_dollars(), 6000);
    }
}
