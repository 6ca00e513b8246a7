//! Money: cents held as integer micro-cents, and the price of a request.
//!
//! Prices are configured as `f64` cents (`price_per_1k_tokens_cents: 0.15`),
//! but a budget gate that sums floats is not exact: 0.1 + 0.2 is not 0.3, and
//! whether the 50th request fits would depend on the order of additions.
//! Every amount is therefore converted once, at the edge, to an integer count
//! of millionths of a cent; sums and comparisons are then exact, in the
//! database as in Rust.

use std::fmt;

use serde::{Serialize, Serializer};

const MICROS_PER_CENT: i64 = 1_000_000;

/// Micro-cents in a micro-dollar: a hundred, exactly.
const MICROS_PER_MICRODOLLAR: i64 = 100;

/// The largest amount accepted from configuration or the admin API:
/// ten billion dollars, far below where micro-cents would overflow.
pub const MAX_CENTS: f64 = 1e12;

/// An amount of money in cents, exact to a millionth of a cent.
///
/// Serializes as a JSON integer when it is a whole number of cents (`50`)
/// and as a number otherwise (`0.25`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(i64);

impl Cents {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// An amount given in millionths of a cent.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// This amount in millionths of a cent.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whole cents, for literals in code and tests.
    pub const fn whole(cents: i64) -> Self {
        Self(cents.saturating_mul(MICROS_PER_CENT))
    }

    /// Converts a configured or requested amount, rounding to the nearest
    /// micro-cent; `None` unless it is finite and within `0..=MAX_CENTS`.
    pub fn from_f64(cents: f64) -> Option<Self> {
        if !cents.is_finite() || !(0.0..=MAX_CENTS).contains(&cents) {
            return None;
        }
        // In range by the check above: at most 1e18 < i64::MAX.
        Some(Self((cents * MICROS_PER_CENT as f64).round() as i64))
    }

    /// This amount as a float number of cents, for display.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_CENT as f64
    }

    /// An amount given in millionths of a dollar, the unit of the price
    /// catalog: exact, since a micro-dollar is a hundred micro-cents.
    /// Saturates far above any budget (at about 92 billion dollars).
    pub fn from_microdollars(microdollars: u64) -> Self {
        let micros = i128::from(microdollars) * i128::from(MICROS_PER_MICRODOLLAR);
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// The sum, saturating instead of overflowing.
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// This amount in dollars as an exact decimal string, with at least two
    /// decimals and no trailing zeros beyond them: `"0.015"`, `"12.50"`,
    /// `"0.00000001"` (one micro-cent).
    pub fn usd_string(self) -> String {
        // A dollar is 10^8 micro-cents: eight decimals hold any amount.
        const PER_DOLLAR: u64 = 100 * MICROS_PER_CENT as u64;
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let fraction = format!("{:08}", magnitude % PER_DOLLAR);
        let mut fraction = fraction.trim_end_matches('0').to_owned();
        while fraction.len() < 2 {
            fraction.push('0');
        }
        format!("{sign}{}.{fraction}", magnitude / PER_DOLLAR)
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % MICROS_PER_CENT == 0 {
            write!(f, "{}", self.0 / MICROS_PER_CENT)
        } else {
            write!(f, "{}", self.as_f64())
        }
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % MICROS_PER_CENT == 0 {
            serializer.serialize_i64(self.0 / MICROS_PER_CENT)
        } else {
            serializer.serialize_f64(self.as_f64())
        }
    }
}

/// What a request costs (docs/configuration.md, *Governance*): `price_per_request_cents +
/// total_tokens / 1000 · price_per_1k_tokens_cents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    per_request: Cents,
    per_1k_tokens: Cents,
}

impl Default for Pricing {
    /// The configuration defaults: one cent a request, tokens free.
    fn default() -> Self {
        Self {
            per_request: Cents::whole(1),
            per_1k_tokens: Cents::ZERO,
        }
    }
}

impl Pricing {
    /// A price list; `None` when either price is negative, not finite or
    /// above [`MAX_CENTS`].
    pub fn new(per_request_cents: f64, per_1k_tokens_cents: f64) -> Option<Self> {
        Some(Self {
            per_request: Cents::from_f64(per_request_cents)?,
            per_1k_tokens: Cents::from_f64(per_1k_tokens_cents)?,
        })
    }

    /// The fixed price of one successful request.
    pub fn per_request(&self) -> Cents {
        self.per_request
    }

    /// The price of a thousand tokens.
    pub fn per_1k_tokens(&self) -> Cents {
        self.per_1k_tokens
    }

    /// The price of a successful request that used `total_tokens`, rounded
    /// to the nearest micro-cent. This is also the amount reserved before a
    /// call, with the request's worst-case token count.
    pub fn cost(&self, total_tokens: u64) -> Cents {
        let tokens = i128::from(total_tokens) * i128::from(self.per_1k_tokens.0);
        let token_part = (tokens + 500) / 1000;
        let token_part = i64::try_from(token_part).unwrap_or(i64::MAX);
        self.per_request.saturating_add(Cents(token_part))
    }
}

/// What admission reserves for a request: its worst case in tokens and,
/// when the caller priced it itself, that price.
///
/// Flat pricing ([`WorstCase::tokens`]) reserves the governor's [`Pricing`]
/// of the tokens. Catalog pricing ([`WorstCase::priced`]) reserves the
/// amount given, which the caller computed from the prices of the models
/// that may serve the request; the tokens are still kept, as the count a
/// request whose usage never arrives is recorded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorstCase {
    tokens: u64,
    amount: Option<Cents>,
}

impl WorstCase {
    /// At most `tokens` tokens, priced by the governor's flat prices.
    pub const fn tokens(tokens: u64) -> Self {
        Self {
            tokens,
            amount: None,
        }
    }

    /// At most `tokens` tokens, costing at most `amount`.
    pub const fn priced(tokens: u64, amount: Cents) -> Self {
        Self {
            tokens,
            amount: Some(amount),
        }
    }

    /// The worst case in tokens.
    pub const fn token_count(&self) -> u64 {
        self.tokens
    }

    /// The amount to reserve under `pricing`: the caller's, when it gave one.
    pub fn amount(&self, pricing: &Pricing) -> Cents {
        self.amount.unwrap_or_else(|| pricing.cost(self.tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_prices_add_up_exactly() {
        let tenth = Cents::from_f64(0.1).expect("in range");
        let fifth = Cents::from_f64(0.2).expect("in range");
        assert_eq!(
            tenth.saturating_add(fifth),
            Cents::from_f64(0.3).expect("in range")
        );
    }

    #[test]
    fn out_of_range_amounts_are_refused() {
        assert_eq!(Cents::from_f64(-0.5), None);
        assert_eq!(Cents::from_f64(f64::NAN), None);
        assert_eq!(Cents::from_f64(f64::INFINITY), None);
        assert_eq!(Cents::from_f64(MAX_CENTS * 2.0), None);
        assert_eq!(Cents::from_f64(0.0), Some(Cents::ZERO));
    }

    #[test]
    fn whole_cents_serialize_as_integers() {
        assert_eq!(
            serde_json::to_string(&Cents::whole(50)).expect("json"),
            "50"
        );
        let quarter = Cents::from_f64(0.25).expect("in range");
        assert_eq!(serde_json::to_string(&quarter).expect("json"), "0.25");
        assert_eq!(quarter.to_string(), "0.25");
        assert_eq!(Cents::whole(7).to_string(), "7");
    }

    #[test]
    fn cost_is_per_request_plus_tokens_per_thousand() {
        let pricing = Pricing::new(1.0, 0.5).expect("valid prices");
        assert_eq!(pricing.cost(0), Cents::whole(1));
        assert_eq!(pricing.cost(1000), Cents::from_f64(1.5).expect("in range"));
        assert_eq!(
            pricing.cost(4096),
            Cents::from_f64(1.0 + 4.096 * 0.5).expect("in range")
        );
        // One token at half a cent per thousand is 500 micro-cents exactly.
        assert_eq!(pricing.cost(1), Cents::from_micros(1_000_000 + 500));
    }

    #[test]
    fn cost_saturates_instead_of_overflowing() {
        let pricing = Pricing::new(MAX_CENTS, MAX_CENTS).expect("valid prices");
        assert_eq!(pricing.cost(u64::MAX), Cents::from_micros(i64::MAX));
    }

    #[test]
    fn a_worst_case_is_priced_flat_unless_it_carries_an_amount() {
        let pricing = Pricing::new(1.0, 2.0).expect("valid");
        assert_eq!(WorstCase::tokens(500).amount(&pricing), Cents::whole(2));
        let priced = WorstCase::priced(500, Cents::from_microdollars(1_234));
        assert_eq!(priced.amount(&pricing), Cents::from_micros(123_400));
        assert_eq!(priced.token_count(), 500);
    }

    #[test]
    fn microdollars_convert_exactly() {
        assert_eq!(Cents::from_microdollars(0), Cents::ZERO);
        assert_eq!(Cents::from_microdollars(1), Cents::from_micros(100));
        // Ten thousand micro-dollars is one cent.
        assert_eq!(Cents::from_microdollars(10_000), Cents::whole(1));
        assert_eq!(
            Cents::from_microdollars(u64::MAX),
            Cents::from_micros(i64::MAX)
        );
    }

    #[test]
    fn dollars_print_as_exact_decimals() {
        assert_eq!(Cents::ZERO.usd_string(), "0.00");
        assert_eq!(Cents::whole(1250).usd_string(), "12.50");
        assert_eq!(
            Cents::from_f64(1.5).expect("in range").usd_string(),
            "0.015"
        );
        assert_eq!(Cents::from_micros(1).usd_string(), "0.00000001");
        assert_eq!(Cents::from_micros(-150_000_000).usd_string(), "-1.50");
    }

    #[test]
    fn negative_prices_are_refused() {
        assert!(Pricing::new(-1.0, 0.0).is_none());
        assert!(Pricing::new(1.0, f64::NAN).is_none());
        assert_eq!(Pricing::default().cost(10_000), Cents::whole(1));
    }
}
