//! Wall-clock times as RFC 3339 UTC strings, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

use super::line::{digits, pair};

/// `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds); a time before
/// 1970 (a clock gone wrong) reads as the epoch.
#[cfg(test)]
pub(super) fn rfc3339(at: SystemTime) -> String {
    let mut out = Vec::with_capacity(24);
    write_rfc3339(&mut out, at);
    String::from_utf8(out).expect("ASCII")
}

/// Appends `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (see [`rfc3339`]) to `out`,
/// two digits at a time: it is written for every request.
pub(super) fn write_rfc3339(out: &mut Vec<u8>, at: SystemTime) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let of_day = (secs % 86_400) as u32;
    let (year, month, day) = civil(days);
    let year = u64::try_from(year).unwrap_or(0);
    if year < 10_000 {
        pair(out, (year / 100) as u8);
        pair(out, (year % 100) as u8);
    } else {
        digits(out, year);
    }
    out.push(b'-');
    pair(out, month as u8);
    out.push(b'-');
    pair(out, day as u8);
    out.push(b'T');
    pair(out, (of_day / 3600) as u8);
    out.push(b':');
    pair(out, (of_day / 60 % 60) as u8);
    out.push(b':');
    pair(out, (of_day % 60) as u8);
    out.push(b'.');
    let millis = since.subsec_millis();
    out.push(b'0' + (millis / 100) as u8);
    pair(out, (millis % 100) as u8);
    out.push(b'Z');
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`: eras of 400 years, years starting in March).
pub(super) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * shifted_month + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, millis: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
    }

    #[test]
    fn known_instants_format_exactly() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(1_735_689_600, 0), "2025-01-01T00:00:00.000Z");
        assert_eq!(at(4_107_542_400, 120), "2100-03-01T00:00:00.120Z");
    }
}
