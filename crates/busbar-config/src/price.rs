//! Model prices, and the exact cost of a request's usage.
//!
//! Money is integral all the way through, so sums never drift: a [`Rate`]
//! is a whole number of picodollars (10⁻¹² USD) per token, which is the
//! same number as micro-dollars per million tokens, the unit vendors' price
//! lists are written in (`$3.00 / MTok` is 3 000 000). A cost is then a sum
//! of `tokens × rate` in picodollars ([`Money`]), exact for any price that
//! has at most six decimal places of a dollar per million tokens. Prices
//! are read from decimal text, never through a binary float.
//!
//! **Token classes.** [`busbar_ir::Usage`] counts every input token in
//! `input_tokens`, the cache reads and writes among them, and every output
//! token in `output_tokens`, reasoning among them (each protocol converts
//! its vendor's counts to that at its edge), and every cache write in
//! `cache_write_tokens`, the 1-hour ones among them. So a cost charges the
//! cache counts at their own rates and only the rest of the input at
//! `input`, reasoning at its rate and only the rest of the output at
//! `output`, and the 1-hour writes at theirs and only the rest of the
//! writes at `cache_write`: no token is charged twice. A class without a
//! rate of its own is charged at its parent's: cache reads and writes as
//! input, reasoning as output, 1-hour cache writes as 5-minute ones. Writes
//! whose lifetime the vendor did not report are charged as 5-minute ones.
//!
//! **Long context.** Some vendors charge every token of a request at higher
//! rates once its prompt passes a size (Gemini 2.5 Pro and Claude's
//! 1M-token context above 200 000 input tokens). The prompt is every input
//! token, cached ones included, as both vendors count it; the highest
//! [`Tier`] whose `above` the prompt exceeds sets all of the request's rates.

mod alias;
mod decimal;
pub(crate) mod read;

use std::collections::BTreeMap;
use std::fmt;

use busbar_ir::Usage;

pub use alias::candidates as alias_candidates;
#[cfg(test)]
pub(crate) use decimal::{dollars, rate};

/// An amount of US dollars, exact to a picodollar (10⁻¹² USD).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(u128);

impl Money {
    /// Nothing.
    pub const ZERO: Money = Money(0);

    /// `picodollars` × 10⁻¹² USD.
    pub const fn from_picodollars(picodollars: u128) -> Self {
        Money(picodollars)
    }

    /// The amount in picodollars.
    pub const fn picodollars(self) -> u128 {
        self.0
    }

    /// The whole micro-dollars (10⁻⁶ USD) in the amount, rounded down.
    pub fn micro_dollars(self) -> u64 {
        u64::try_from(self.0 / 1_000_000).unwrap_or(u64::MAX)
    }

    /// The sum, saturating (no request costs anywhere near 10²⁶ dollars).
    #[must_use]
    pub const fn plus(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Money {
    /// Dollars with as many decimals as the amount needs (at least two).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SCALE: u128 = 1_000_000_000_000;
        let (whole, fraction) = (self.0 / SCALE, self.0 % SCALE);
        let digits = format!("{fraction:012}");
        let digits = digits.trim_end_matches('0');
        write!(f, "${whole}.{digits:0<2}")
    }
}

/// A price per token, in picodollars (equally: micro-dollars per million
/// tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u64);

impl Rate {
    /// `picodollars` per token.
    pub const fn from_picodollars(picodollars: u64) -> Self {
        Rate(picodollars)
    }

    /// Picodollars per token.
    pub const fn picodollars(self) -> u64 {
        self.0
    }

    /// What `tokens` cost at this rate.
    pub fn times(self, tokens: u64) -> Money {
        Money(u128::from(self.0) * u128::from(tokens))
    }
}

impl fmt::Display for Rate {
    /// Dollars per million tokens, as price lists write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_million = Money::from_picodollars(u128::from(self.0) * 1_000_000);
        write!(f, "{per_million}/MTok")
    }
}

/// The rates of one price (or one long-context tier), per token class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rates {
    /// Input tokens neither read from nor written to the cache.
    pub input: Rate,
    /// Output tokens other than reasoning.
    pub output: Rate,
    /// Input tokens read from the prompt cache (`None`: as `input`).
    pub cache_read: Option<Rate>,
    /// Input tokens written to the prompt cache, at the default (5-minute)
    /// lifetime (`None`: as `input`).
    pub cache_write: Option<Rate>,
    /// Cache writes with a 1-hour lifetime (`None`: as `cache_write`),
    /// charged when usage reports them (`Usage::cache_write_1h_tokens`).
    pub cache_write_1h: Option<Rate>,
    /// Reasoning (thinking) tokens (`None`: as `output`).
    pub reasoning: Option<Rate>,
}

impl Rates {
    /// Input and output rates; every other class as its parent.
    pub const fn new(input: Rate, output: Rate) -> Self {
        Self {
            input,
            output,
            cache_read: None,
            cache_write: None,
            cache_write_1h: None,
            reasoning: None,
        }
    }

    /// The rate cache reads are charged at.
    pub fn cache_read(&self) -> Rate {
        self.cache_read.unwrap_or(self.input)
    }

    /// The rate cache writes are charged at.
    pub fn cache_write(&self) -> Rate {
        self.cache_write.unwrap_or(self.input)
    }

    /// The rate cache writes with a 1-hour lifetime are charged at.
    pub fn cache_write_1h(&self) -> Rate {
        self.cache_write_1h.unwrap_or_else(|| self.cache_write())
    }

    /// The rate reasoning tokens are charged at.
    pub fn reasoning(&self) -> Rate {
        self.reasoning.unwrap_or(self.output)
    }
}

/// Rates that replace the base ones for a request whose prompt has more
/// than `above` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tier {
    /// The prompt size, in input tokens (cached ones included), past which
    /// the tier applies.
    pub above: u64,
    /// The tier's rates, for every token of the request.
    pub rates: Rates,
}

impl Tier {
    /// A tier for prompts of more than `above` tokens.
    pub const fn new(above: u64, rates: Rates) -> Self {
        Self { above, rates }
    }
}

/// What a model costs: rates per token class, long-context tiers, and a fee
/// per request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Price {
    /// The rates for prompts no tier covers.
    pub rates: Rates,
    /// Long-context tiers, ascending by `above` (no two alike).
    pub tiers: Vec<Tier>,
    /// Charged once per request, whatever its tokens.
    pub per_request: Money,
}

impl Price {
    /// A price with `rates`, no tiers and no fee.
    pub fn new(rates: Rates) -> Self {
        Self {
            rates,
            tiers: Vec::new(),
            per_request: Money::ZERO,
        }
    }

    /// The same price with a long-context tier added (kept in order).
    #[must_use]
    pub fn with_tier(mut self, tier: Tier) -> Self {
        let at = self.tiers.partition_point(|t| t.above < tier.above);
        self.tiers.insert(at, tier);
        self
    }

    /// The same price with a fee per request.
    #[must_use]
    pub fn with_per_request(mut self, fee: Money) -> Self {
        self.per_request = fee;
        self
    }

    /// The rates a request with `prompt_tokens` of input is charged at.
    pub fn rates_for(&self, prompt_tokens: u64) -> &Rates {
        self.tiers
            .iter()
            .rev()
            .find(|tier| prompt_tokens > tier.above)
            .map_or(&self.rates, |tier| &tier.rates)
    }

    /// The exact cost of `usage` (see the module documentation for how the
    /// token classes are charged).
    pub fn cost(&self, usage: &Usage) -> Money {
        let rates = self.rates_for(usage.input_tokens);
        let cache_read = usage.cache_read_tokens.unwrap_or(0);
        // A report whose parts exceed its whole is charged as its parts say,
        // never below zero for the rest.
        let cache_write_1h = usage.cache_write_1h_tokens.unwrap_or(0);
        let cache_write = usage
            .cache_write_tokens
            .unwrap_or(0)
            .saturating_sub(cache_write_1h);
        let reasoning = usage.reasoning_tokens.unwrap_or(0);
        let output = usage.output_tokens.saturating_sub(reasoning);
        rates
            .input
            .times(usage.uncached_input_tokens())
            .plus(rates.cache_read().times(cache_read))
            .plus(rates.cache_write().times(cache_write))
            .plus(rates.cache_write_1h().times(cache_write_1h))
            .plus(rates.output.times(output))
            .plus(rates.reasoning().times(reasoning))
            .plus(self.per_request)
    }
}

/// A model as the catalog lists it: its price and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listing {
    /// The id it is listed under (a dated or regional id the lane sends may
    /// have matched it as an alias).
    pub id: String,
    /// Its list price.
    pub price: Price,
    /// The most tokens a request may hold (prompt plus output), when known.
    pub context_window: Option<u64>,
    /// The most tokens one reply may generate, when known.
    pub max_output: Option<u64>,
}

/// The listing for upstream model `id`: the id itself, else its first
/// shorter form (see [`alias_candidates`]) that is listed.
pub(crate) fn lookup<'a>(listings: &'a BTreeMap<String, Listing>, id: &str) -> Option<&'a Listing> {
    alias::candidates(id)
        .iter()
        .find_map(|candidate| listings.get(candidate))
}

#[cfg(test)]
mod tests;
