//! Time: the injected clock, UTC budget windows and RFC 3339 timestamps.
//!
//! Nothing in this crate reads the system clock except [`SystemClock`]; every
//! rule takes a [`Timestamp`] so tests can stand at 23:59:59.999 on the last
//! day of a month and step over it.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

const MS_PER_DAY: i64 = 86_400_000;

/// The length of the sliding rate window behind `rpm_limit` and `tpm_limit`.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// An instant in UTC, in milliseconds since the Unix epoch.
///
/// Serializes as an RFC 3339 string with second precision
/// (`2025-03-01T00:00:00Z`), the shape of `created_at` in the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z, also the start of every `total` budget window.
    pub const EPOCH: Self = Self(0);

    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// The instant at `hour:minute:second` UTC on the given civil date, or
    /// `None` for a date or time that does not exist.
    pub fn from_utc(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> Option<Self> {
        let month_ok = (1..=12).contains(&month);
        if !month_ok || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Some(Self(days * MS_PER_DAY + secs * 1000))
    }

    /// This instant moved forward by `by`, saturating at the far future.
    pub fn saturating_add(self, by: Duration) -> Self {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// This instant moved back by `by`, saturating at the far past.
    pub fn saturating_sub(self, by: Duration) -> Self {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(ms))
    }

    /// The civil date `(year, month, day)` of this instant in UTC.
    fn civil_date(self) -> (i64, u32, u32) {
        civil_from_days(self.0.div_euclid(MS_PER_DAY))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, whole seconds: `2025-03-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.civil_date();
        let secs_of_day = self.0.rem_euclid(MS_PER_DAY) / 1000;
        let (hh, mm, ss) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
        write!(f, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A UTC calendar day: the spend ledger's unit of time.
///
/// Parses and prints as `YYYY-MM-DD`; stored as the Unix milliseconds of
/// its midnight, like every other time in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// The day `at` falls on, in UTC.
    pub const fn of(at: Timestamp) -> Self {
        Self(at.0.div_euclid(MS_PER_DAY))
    }

    /// The day's midnight, UTC.
    pub const fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(MS_PER_DAY))
    }

    /// The day whose midnight is `ms` (any instant of the day will do).
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self::of(Timestamp(ms))
    }

    /// The first day of this day's month.
    pub fn first_of_month(self) -> Self {
        let (y, m, _) = civil_from_days(self.0);
        Self(days_from_civil(y, m, 1))
    }

    /// The last day of this day's month.
    pub fn last_of_month(self) -> Self {
        let (y, m, _) = civil_from_days(self.0);
        Self(days_from_civil(y, m, days_in_month(y, m)))
    }

    /// Days from `self` to `later`, inclusive of both: 1 for the same day.
    pub const fn days_through(self, later: Self) -> i64 {
        later.0 - self.0 + 1
    }

    /// Parses `YYYY-MM-DD` (a four-digit year, two-digit month and day);
    /// `None` for any other shape or a date that does not exist.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shaped {
            return None;
        }
        let year = text[..4].parse().ok()?;
        let month = text[5..7].parse().ok()?;
        let day = text[8..].parse().ok()?;
        Timestamp::from_utc(year, month, day, 0, 0, 0).map(Self::of)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The source of "now" for budget windows, rate windows and reservations.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // A clock set before 1970 reads as the epoch rather than failing.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to, for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(AtomicI64::new(at.0))
    }

    /// Moves the clock to `at` (backwards too).
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// The window a key's `max_budget_cents` applies to (`budget_period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BudgetPeriod {
    /// One window for the key's whole life.
    #[default]
    Total,
    /// A new window at every UTC midnight.
    Daily,
    /// A new window at 00:00 UTC on the first of every month.
    Monthly,
}

impl BudgetPeriod {
    /// The spelling used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }

    /// Parses `total`, `daily` or `monthly`, ignoring ASCII case.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Total, Self::Daily, Self::Monthly]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(text))
    }

    /// The start of the window that contains `now`: the epoch for `total`,
    /// the last UTC midnight for `daily`, the first of the month for
    /// `monthly`. Spend is recorded per (key, window start).
    pub fn window_start(self, now: Timestamp) -> Timestamp {
        match self {
            Self::Total => Timestamp::EPOCH,
            Self::Daily => Timestamp(now.0.div_euclid(MS_PER_DAY) * MS_PER_DAY),
            Self::Monthly => {
                let (y, m, _) = now.civil_date();
                Timestamp(days_from_civil(y, m, 1) * MS_PER_DAY)
            }
        }
    }
}

impl fmt::Display for BudgetPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil: the proleptic Gregorian calendar as a
// count of days since 1970-01-01, valid for every representable year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both values are small by construction (1..=31, 1..=12).
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        Timestamp::from_utc(y, mo, d, h, mi, s).expect("valid date")
    }

    #[test]
    fn days_parse_print_and_bound_their_month() {
        let day = Day::parse("2024-02-10").expect("a date");
        assert_eq!(day.to_string(), "2024-02-10");
        assert_eq!(day, Day::of(at(2024, 2, 10, 23, 59, 59)));
        assert_eq!(day.start(), at(2024, 2, 10, 0, 0, 0));
        assert_eq!(day.first_of_month().to_string(), "2024-02-01");
        assert_eq!(day.last_of_month().to_string(), "2024-02-29");
        assert_eq!(day.first_of_month().days_through(day.last_of_month()), 29);
        assert_eq!(Day::from_unix_millis(day.start().unix_millis()), day);
        for bad in [
            "2024-02-30",
            "2024-2-10",
            "24-02-10",
            "2024/02/10",
            "2024-02-10x",
            "+024-02-10",
            "",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_round_trips_known_instants() {
        assert_eq!(Timestamp::EPOCH.to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            at(2024, 2, 29, 23, 59, 59).to_string(),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(1_700_000_000_000).to_string(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(-1).to_string(),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn civil_conversions_agree_over_four_centuries() {
        for days in (-146_097..146_097 * 2).step_by(13) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(Timestamp::from_utc(2023, 2, 29, 0, 0, 0).is_none());
        assert!(Timestamp::from_utc(2024, 13, 1, 0, 0, 0).is_none());
        assert!(Timestamp::from_utc(2024, 4, 31, 0, 0, 0).is_none());
        assert!(Timestamp::from_utc(2024, 4, 30, 24, 0, 0).is_none());
    }

    #[test]
    fn daily_window_rolls_over_at_utc_midnight() {
        let last_ms = at(2025, 3, 1, 0, 0, 0).saturating_sub(Duration::from_millis(1));
        let daily = BudgetPeriod::Daily;
        assert_eq!(daily.window_start(last_ms), at(2025, 2, 28, 0, 0, 0));
        assert_eq!(
            daily.window_start(at(2025, 3, 1, 0, 0, 0)),
            at(2025, 3, 1, 0, 0, 0)
        );
        assert_eq!(
            daily.window_start(at(2025, 3, 1, 13, 5, 0)),
            at(2025, 3, 1, 0, 0, 0)
        );
    }

    #[test]
    fn monthly_window_rolls_over_on_the_first() {
        let monthly = BudgetPeriod::Monthly;
        let before = at(2024, 3, 1, 0, 0, 0).saturating_sub(Duration::from_millis(1));
        assert_eq!(monthly.window_start(before), at(2024, 2, 1, 0, 0, 0));
        assert_eq!(
            monthly.window_start(at(2024, 3, 1, 0, 0, 0)),
            at(2024, 3, 1, 0, 0, 0)
        );
        assert_eq!(
            monthly.window_start(at(2024, 12, 31, 23, 59, 59)),
            at(2024, 12, 1, 0, 0, 0)
        );
        assert_eq!(
            monthly.window_start(at(2025, 1, 1, 0, 0, 0)),
            at(2025, 1, 1, 0, 0, 0)
        );
    }

    #[test]
    fn total_window_never_moves() {
        let total = BudgetPeriod::Total;
        assert_eq!(
            total.window_start(at(1999, 1, 1, 0, 0, 0)),
            Timestamp::EPOCH
        );
        assert_eq!(
            total.window_start(at(2099, 7, 4, 12, 0, 0)),
            Timestamp::EPOCH
        );
    }

    #[test]
    fn periods_parse_case_insensitively_and_print_lowercase() {
        assert_eq!(BudgetPeriod::parse("Monthly"), Some(BudgetPeriod::Monthly));
        assert_eq!(BudgetPeriod::parse("weekly"), None);
        assert_eq!(BudgetPeriod::Daily.to_string(), "daily");
        let json = serde_json::to_string(&BudgetPeriod::Total).expect("serializes");
        assert_eq!(json, "\"total\"");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(at(2025, 1, 1, 0, 0, 0));
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), at(2025, 1, 1, 0, 1, 30));
        clock.set(Timestamp::EPOCH);
        assert_eq!(clock.now(), Timestamp::EPOCH);
    }
}
