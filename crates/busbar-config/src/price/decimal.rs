//! Decimal text to exact integers: dollars to picodollars, dollars per
//! million tokens to a [`Rate`].
//!
//! A YAML number reaches here as the shortest text that reads back as the
//! same float (`0.3`, never `0.299999…`), so `0.30` and `"0.30"` agree.

use super::{Money, Rate};

/// Dollars per million tokens, at most six decimal places.
pub(crate) fn rate(text: &str) -> Result<Rate, String> {
    let picodollars = fixed(text, 6)?;
    u64::try_from(picodollars)
        .map(Rate::from_picodollars)
        .map_err(|_| "is too large".to_owned())
}

/// Dollars, at most twelve decimal places.
pub(crate) fn dollars(text: &str) -> Result<Money, String> {
    fixed(text, 12).map(Money::from_picodollars)
}

/// `text`, a non-negative decimal, times 10^`places`.
fn fixed(text: &str, places: usize) -> Result<u128, String> {
    let shape = || "must be a non-negative amount of dollars such as `3` or `0.075`".to_owned();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
        return Err(shape());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > places {
        return Err(format!("has more than {places} decimal places"));
    }
    let scale = 10u128.pow(u32::try_from(places).unwrap_or(0));
    let whole: u128 = whole.parse().map_err(|_| "is too large".to_owned())?;
    let fraction_value = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{fraction:0<places$}");
        padded.parse::<u128>().map_err(|_| shape())?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction_value))
        .ok_or_else(|| "is too large".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_exactly() {
        let picos = |text| rate(text).map(Rate::picodollars);
        assert_eq!(picos("3"), Ok(3_000_000));
        assert_eq!(picos("3.75"), Ok(3_750_000));
        assert_eq!(picos("0.30"), Ok(300_000));
        assert_eq!(picos("0.075"), Ok(75_000));
        assert_eq!(picos("0.01875"), Ok(18_750));
        assert_eq!(picos("0.000001"), Ok(1));
        assert_eq!(picos("0"), Ok(0));
        assert_eq!(picos("0.0000010"), Ok(1));
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in [
            "", ".5", "5.", "-1", "+1", "1e3", "1,5", "$3", " 3", "3.0.0", "1_000",
        ] {
            assert!(rate(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            rate("0.0000001").unwrap_err(),
            "has more than 6 decimal places"
        );
        assert_eq!(rate("99999999999999999999").unwrap_err(), "is too large");
    }

    #[test]
    fn fees_are_read_to_the_picodollar() {
        assert_eq!(dollars("0.005"), Ok(Money::from_picodollars(5_000_000_000)));
        assert_eq!(dollars("1"), Ok(Money::from_picodollars(1_000_000_000_000)));
        assert!(dollars("0.0000000000001").is_err());
    }
}
