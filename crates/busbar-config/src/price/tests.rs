//! The cost of usage: every token class, tiers, fees, and exactness.

use busbar_ir::Usage;

use super::*;

fn per_mtok(text: &str) -> Rate {
    rate(text).expect("a rate")
}

/// Claude Sonnet 4.5's list price, with its 1M-context tier.
fn sonnet() -> Price {
    let mut base = Rates::new(per_mtok("3"), per_mtok("15"));
    base.cache_read = Some(per_mtok("0.30"));
    base.cache_write = Some(per_mtok("3.75"));
    base.cache_write_1h = Some(per_mtok("6"));
    let mut long = Rates::new(per_mtok("6"), per_mtok("22.50"));
    long.cache_read = Some(per_mtok("0.60"));
    long.cache_write = Some(per_mtok("7.50"));
    Price::new(base).with_tier(Tier::new(200_000, long))
}

fn usage(input: u64, output: u64) -> Usage {
    Usage::new(input, output)
}

#[test]
fn input_and_output_are_charged_at_their_rates() {
    // 1000 × $3/MTok + 500 × $15/MTok = $0.003 + $0.0075.
    let cost = sonnet().cost(&usage(1000, 500));
    assert_eq!(cost.picodollars(), 10_500_000_000);
    assert_eq!(cost.micro_dollars(), 10_500);
    assert_eq!(cost.to_string(), "$0.0105");
}

#[test]
fn cache_counts_are_taken_out_of_input_and_charged_at_their_own_rates() {
    let mut used = usage(10_000, 100);
    used.cache_read_tokens = Some(6_000);
    used.cache_write_tokens = Some(3_000);
    // 1000 uncached × 3 + 6000 × 0.30 + 3000 × 3.75 + 100 × 15, in µ$/MTok.
    let expected = 1_000 * 3_000_000 + 6_000 * 300_000 + 3_000 * 3_750_000 + 100 * 15_000_000;
    assert_eq!(sonnet().cost(&used).picodollars(), expected);
}

#[test]
fn one_hour_cache_writes_are_charged_at_their_rate_and_the_rest_at_five_minutes() {
    let mut used = usage(10_000, 0);
    used.cache_write_tokens = Some(3_000);
    used.cache_write_1h_tokens = Some(2_000);
    // 7000 uncached × 3 + 1000 five-minute writes × 3.75 + 2000 one-hour
    // writes × 6, in µ$/MTok.
    let expected = 7_000 * 3_000_000 + 1_000 * 3_750_000 + 2_000 * 6_000_000;
    assert_eq!(sonnet().cost(&used).picodollars(), expected);
    // An unknown split charges every write at the 5-minute rate.
    used.cache_write_1h_tokens = None;
    let expected = 7_000 * 3_000_000 + 3_000 * 3_750_000;
    assert_eq!(sonnet().cost(&used).picodollars(), expected);
}

#[test]
fn one_hour_writes_without_a_rate_fall_back_to_the_cache_write_rate_then_input() {
    let mut rates = Rates::new(per_mtok("2"), per_mtok("8"));
    let mut used = usage(100, 0);
    used.cache_write_tokens = Some(40);
    used.cache_write_1h_tokens = Some(30);
    assert_eq!(
        Price::new(rates).cost(&used),
        Price::new(rates).cost(&usage(100, 0))
    );
    rates.cache_write = Some(per_mtok("2.5"));
    assert_eq!(
        Price::new(rates).cost(&used).picodollars(),
        60 * 2_000_000 + 40 * 2_500_000
    );
    // A long-context tier without a 1-hour rate uses its own write rate.
    let mut long = usage(300_000, 0);
    long.cache_write_tokens = Some(100_000);
    long.cache_write_1h_tokens = Some(100_000);
    assert_eq!(
        sonnet().cost(&long).picodollars(),
        200_000 * 6_000_000 + 100_000 * 7_500_000
    );
}

#[test]
fn reasoning_is_part_of_output_and_never_charged_twice() {
    let mut base = Rates::new(per_mtok("1"), per_mtok("10"));
    let mut used = usage(0, 1_000);
    used.reasoning_tokens = Some(800);
    // Without its own rate, reasoning costs what output does.
    assert_eq!(
        Price::new(base).cost(&used),
        Price::new(base).cost(&usage(0, 1_000))
    );
    base.reasoning = Some(per_mtok("3.5"));
    let expected = 200 * 10_000_000 + 800 * 3_500_000;
    assert_eq!(Price::new(base).cost(&used).picodollars(), expected);
}

#[test]
fn classes_without_a_rate_are_charged_as_their_parent() {
    let rates = Rates::new(per_mtok("2"), per_mtok("8"));
    let mut used = usage(100, 0);
    used.cache_read_tokens = Some(40);
    used.cache_write_tokens = Some(10);
    assert_eq!(
        Price::new(rates).cost(&used),
        Price::new(rates).cost(&usage(100, 0))
    );
}

#[test]
fn a_prompt_past_a_tier_charges_every_token_at_the_tier() {
    let price = sonnet();
    // At the boundary the base rates still apply.
    assert_eq!(
        price.cost(&usage(200_000, 0)).picodollars(),
        200_000 * 3_000_000
    );
    // One token more and the whole request moves, output included.
    assert_eq!(
        price.cost(&usage(200_001, 1_000)).picodollars(),
        200_001 * 6_000_000 + 1_000 * 22_500_000
    );
    // Cached tokens count toward the prompt's size, as the vendors count it.
    let mut cached = usage(250_000, 0);
    cached.cache_read_tokens = Some(240_000);
    assert_eq!(
        price.cost(&cached).picodollars(),
        10_000 * 6_000_000 + 240_000 * 600_000
    );
}

#[test]
fn the_highest_tier_exceeded_wins_whatever_order_they_were_added_in() {
    let tier = |above, input| Tier::new(above, Rates::new(per_mtok(input), per_mtok("0")));
    let price = Price::new(Rates::new(per_mtok("1"), per_mtok("0")))
        .with_tier(tier(500, "3"))
        .with_tier(tier(100, "2"));
    let input_rate = |prompt| price.rates_for(prompt).input;
    assert_eq!(input_rate(100), per_mtok("1"));
    assert_eq!(input_rate(101), per_mtok("2"));
    assert_eq!(input_rate(501), per_mtok("3"));
}

#[test]
fn a_fee_per_request_is_added_once() {
    let price = Price::new(Rates::new(per_mtok("1"), per_mtok("1")))
        .with_per_request(dollars("0.005").expect("a fee"));
    assert_eq!(price.cost(&usage(0, 0)).to_string(), "$0.005");
    assert_eq!(price.cost(&usage(1_000_000, 0)).to_string(), "$1.005");
}

#[test]
fn sums_of_small_costs_stay_exact() {
    // $0.075/MTok is 0.075 micro-dollars a token, which no binary float holds.
    let price = Price::new(Rates::new(per_mtok("0.075"), per_mtok("0.30")));
    let one = price.cost(&usage(1, 1));
    let mut total = Money::ZERO;
    for _ in 0..1_000_000 {
        total = total.plus(one);
    }
    assert_eq!(total.picodollars(), 375_000_000_000);
    assert_eq!(total.micro_dollars(), 375_000);
}

#[test]
fn inconsistent_reports_never_go_below_zero() {
    let mut used = usage(10, 5);
    used.cache_read_tokens = Some(50);
    used.reasoning_tokens = Some(9);
    let mut rates = Rates::new(per_mtok("1"), per_mtok("2"));
    // 50 cache reads (as input) + 0 uncached + 0 plain output + 9 reasoning.
    assert_eq!(
        Price::new(rates).cost(&used).picodollars(),
        50 * 1_000_000 + 9 * 2_000_000
    );
    // More 1-hour writes than writes: the 1-hour ones, none at 5 minutes.
    let mut writes = usage(10, 0);
    writes.cache_write_tokens = Some(4);
    writes.cache_write_1h_tokens = Some(6);
    rates.cache_write_1h = Some(per_mtok("3"));
    assert_eq!(
        Price::new(rates).cost(&writes).picodollars(),
        6 * 1_000_000 + 6 * 3_000_000
    );
}

#[test]
fn amounts_print_as_dollars() {
    let show = |picos| Money::from_picodollars(picos).to_string();
    assert_eq!(show(0), "$0.00");
    assert_eq!(show(1), "$0.000000000001");
    assert_eq!(show(1_500_000_000_000), "$1.50");
    assert_eq!(per_mtok("3.75").to_string(), "$3.75/MTok");
    assert_eq!(per_mtok("0.075").to_string(), "$0.075/MTok");
}
