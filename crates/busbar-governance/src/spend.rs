//! The spend report (`GET /admin/spend`): what the ledger holds, summed per
//! key, model, lane and day over a range of days.
//!
//! Every settled charge is added, in the settlement's transaction, to one
//! ledger row per (key, model, lane, UTC day of admission): requests, tokens
//! by class and cost. A report sums those rows over `from..=to`, grouped by
//! any of the four, in one `GROUP BY` that both stores run from the SQL
//! built here. Rows are capped at [`MAX_ROWS`]; the totals are over every
//! row in the range whatever the cap cut.
//!
//! The query's parameters arrive decoded from the server (this crate knows
//! no URLs) and are validated here, so each 400 names its parameter.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::error::AdminError;
use crate::money::Cents;
use crate::tokens::TokenCounts;
use crate::window::Day;

/// The most rows a report returns; past it the answer says `truncated`.
pub const MAX_ROWS: usize = 10_000;

/// What a report may be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Dimension {
    /// The virtual key's id (`key_id` in rows).
    Key,
    /// The model that answered.
    Model,
    /// The lane that carried the request.
    Lane,
    /// The UTC day the request was admitted.
    Day,
}

impl Dimension {
    /// Every dimension, in the default grouping's order.
    pub const ALL: [Self; 4] = [Self::Key, Self::Model, Self::Lane, Self::Day];

    /// The name `group_by` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Model => "model",
            Self::Lane => "lane",
            Self::Day => "day",
        }
    }

    /// The ledger column; a literal, so it may be spliced into SQL.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Self::Key => "key_id",
            Self::Model => "model",
            Self::Lane => "lane",
            Self::Day => "day",
        }
    }
}

/// A validated report request: the days, inclusive, and the grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpendQuery {
    /// The first day, UTC.
    pub from: Day,
    /// The last day, UTC, inclusive.
    pub to: Day,
    /// The dimensions rows are grouped by, in order; never empty.
    pub group_by: Vec<Dimension>,
    /// The most rows to return.
    pub limit: usize,
}

impl SpendQuery {
    /// A query over `from..=to` grouped by every dimension.
    pub fn new(from: Day, to: Day) -> Self {
        Self {
            from,
            to,
            group_by: Dimension::ALL.to_vec(),
            limit: MAX_ROWS,
        }
    }

    /// This query grouped by `group_by` instead.
    pub fn grouped_by(mut self, group_by: &[Dimension]) -> Self {
        self.group_by = group_by.to_vec();
        self
    }

    /// Reads `from`, `to` and `group_by` from a query string's decoded
    /// parameters. `from` defaults to the first and `to` to the last day of
    /// the month `today` is in; `group_by` to `key,model,lane,day`. Every
    /// error names the parameter at fault.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        today: Day,
    ) -> Result<Self, AdminError> {
        let (mut from, mut to, mut group_by) = (None, None, None);
        for (name, value) in params {
            let slot = match name {
                "from" => &mut from,
                "to" => &mut to,
                "group_by" => &mut group_by,
                other => {
                    return Err(AdminError::invalid(format!(
                        "unknown parameter `{other}` (expected from, to, group_by)"
                    )))
                }
            };
            if slot.replace(value).is_some() {
                return Err(AdminError::invalid(format!("{name} is given twice")));
            }
        }
        let day = |name: &str, value: Option<&str>, default: Day| match value {
            None => Ok(default),
            Some(text) => Day::parse(text).ok_or_else(|| {
                AdminError::invalid(format!(
                    "{name} must be a date as YYYY-MM-DD (UTC), not `{text}`"
                ))
            }),
        };
        let from_day = day("from", from, today.first_of_month())?;
        let to_day = day("to", to, today.last_of_month())?;
        if from_day > to_day {
            let default = |given: Option<&str>| {
                if given.is_none() {
                    " (the default)"
                } else {
                    ""
                }
            };
            return Err(AdminError::invalid(format!(
                "from {from_day}{} must not be after to {to_day}{}",
                default(from),
                default(to)
            )));
        }
        let group_by = match group_by {
            None => Dimension::ALL.to_vec(),
            Some(text) => parse_group_by(text)?,
        };
        Ok(Self {
            from: from_day,
            to: to_day,
            group_by,
            limit: MAX_ROWS,
        })
    }

    /// The grouped query, with `$n`-style (`dollar`) or `?n`-style
    /// placeholders: `n` = 1 the first day's midnight, 2 the last's, 3 the
    /// row limit. Columns come out as the grouping's, then [`SUMS`].
    pub(crate) fn grouped_sql(&self, dollar: bool) -> String {
        let p = |n: u8| {
            if dollar {
                format!("${n}")
            } else {
                format!("?{n}")
            }
        };
        let columns: Vec<&str> = self.group_by.iter().map(|d| d.column()).collect();
        let columns = columns.join(", ");
        format!(
            "SELECT {columns}, {SUMS} FROM busbar_ledger WHERE day >= {} AND day <= {} \
             GROUP BY {columns} ORDER BY {columns} LIMIT {}",
            p(1),
            p(2),
            p(3)
        )
    }

    /// The totals over the range, columns as [`SUMS`].
    pub(crate) fn totals_sql(&self, dollar: bool) -> String {
        let p = |n: u8| {
            if dollar {
                format!("${n}")
            } else {
                format!("?{n}")
            }
        };
        format!(
            "SELECT {SUMS} FROM busbar_ledger WHERE day >= {} AND day <= {}",
            p(1),
            p(2)
        )
    }
}

/// The summed columns of a report, in [`SpendTotals::from_sums`] order.
pub(crate) const SUMS: &str = "CAST(COALESCE(SUM(requests), 0) AS BIGINT), \
     CAST(COALESCE(SUM(tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(cache_write_tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(cost), 0) AS BIGINT)";

fn parse_group_by(text: &str) -> Result<Vec<Dimension>, AdminError> {
    let invalid = || {
        AdminError::invalid(format!(
            "group_by must list key, model, lane or day, separated by commas, each once, not `{text}`"
        ))
    };
    let mut dims = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let dim = Dimension::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(part))
            .ok_or_else(invalid)?;
        if dims.contains(&dim) {
            return Err(invalid());
        }
        dims.push(dim);
    }
    Ok(dims)
}

/// Requests, tokens and cost summed over some ledger rows.
///
/// Serializes flat: `requests`, `tokens` (what the key's window counts),
/// the [`TokenCounts`] classes, `cost_cents` and `cost_usd` (an exact
/// decimal string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SpendTotals {
    /// Charged (successful) requests.
    pub requests: u64,
    /// Tokens as the key's budget window counts them: reported totals, and
    /// the worst case of a reply whose usage never came.
    pub tokens: u64,
    /// Tokens by class, as reported.
    pub classes: TokenCounts,
    /// What they cost.
    pub cost: Cents,
}

impl SpendTotals {
    /// Decodes the eight [`SUMS`] columns.
    pub(crate) fn from_sums(sums: [i64; 8]) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Self {
            requests: n(sums[0]),
            tokens: n(sums[1]),
            classes: TokenCounts::new(n(sums[2]), n(sums[3]))
                .with_cache(n(sums[4]), n(sums[5]))
                .with_reasoning(n(sums[6])),
            cost: Cents::from_micros(sums[7]),
        }
    }
}

impl Serialize for SpendTotals {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = &self.classes;
        let mut map = serializer.serialize_map(Some(9))?;
        map.serialize_entry("requests", &self.requests)?;
        map.serialize_entry("tokens", &self.tokens)?;
        map.serialize_entry("input_tokens", &c.input)?;
        map.serialize_entry("output_tokens", &c.output)?;
        map.serialize_entry("cache_read_tokens", &c.cache_read)?;
        map.serialize_entry("cache_write_tokens", &c.cache_write)?;
        map.serialize_entry("reasoning_tokens", &c.reasoning)?;
        map.serialize_entry("cost_cents", &self.cost)?;
        map.serialize_entry("cost_usd", &self.cost.usd_string())?;
        map.end()
    }
}

/// One row of a report: the values of the dimensions grouped by (the
/// others absent), and the sums.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SpendRow {
    /// The key's id, when grouped by key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The model, when grouped by model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The lane, when grouped by lane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    /// The day, when grouped by day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<Day>,
    /// The sums.
    #[serde(flatten)]
    pub totals: SpendTotals,
}

impl SpendRow {
    /// A row with no dimension set.
    pub(crate) fn new(totals: SpendTotals) -> Self {
        Self {
            key_id: None,
            model: None,
            lane: None,
            day: None,
            totals,
        }
    }
}

/// What a store answers a [`SpendQuery`] with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpendTable {
    /// At most the query's limit of rows, ordered by the grouping.
    pub rows: Vec<SpendRow>,
    /// Whether more rows matched than were returned.
    pub truncated: bool,
    /// The sums over the whole range.
    pub total: SpendTotals,
}

impl SpendTable {
    /// Bundles a store's answer.
    pub fn new(rows: Vec<SpendRow>, truncated: bool, total: SpendTotals) -> Self {
        Self {
            rows,
            truncated,
            total,
        }
    }
}

/// The answer to `GET /admin/spend`: `{from, to, group_by, rows, total,
/// truncated}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SpendReport {
    /// The first day covered.
    pub from: Day,
    /// The last day covered, inclusive.
    pub to: Day,
    /// The grouping of `rows`.
    pub group_by: Vec<Dimension>,
    /// The rows, ordered by the grouping.
    pub rows: Vec<SpendRow>,
    /// The sums over every row in the range.
    pub total: SpendTotals,
    /// Whether rows past [`MAX_ROWS`] were left out (the total still
    /// counts them).
    pub truncated: bool,
}

impl SpendReport {
    pub(crate) fn new(query: SpendQuery, table: SpendTable) -> Self {
        Self {
            from: query.from,
            to: query.to,
            group_by: query.group_by,
            rows: table.rows,
            total: table.total,
            truncated: table.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn june(day: u32) -> Day {
        Day::parse(&format!("2025-06-{day:02}")).expect("a date")
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<SpendQuery, AdminError> {
        SpendQuery::from_params(pairs.iter().copied(), june(14))
    }

    #[test]
    fn defaults_are_this_month_grouped_by_everything() {
        let query = parse(&[]).expect("valid");
        assert_eq!((query.from, query.to), (june(1), june(30)));
        assert_eq!(query.group_by, Dimension::ALL.to_vec());
        let query = parse(&[("from", "2025-05-31"), ("group_by", "Day, key")]).expect("valid");
        let may_31 = Day::parse("2025-05-31").expect("a date");
        assert_eq!((query.from, query.to), (may_31, june(30)));
        assert_eq!(query.group_by, vec![Dimension::Day, Dimension::Key]);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (pairs, named) in [
            (vec![("from", "2025-6-1")], "from"),
            (vec![("to", "yesterday")], "to"),
            (vec![("to", "2025-02-30")], "to"),
            (
                vec![("from", "2025-07-01")],
                "from 2025-07-01 must not be after to 2025-06-30 (the default)",
            ),
            (vec![("from", "2025-06-02"), ("to", "2025-06-01")], "from"),
            (vec![("group_by", "key,week")], "group_by"),
            (vec![("group_by", "key,key")], "group_by"),
            (vec![("group_by", "")], "group_by"),
            (
                vec![("from", "2025-06-01"), ("from", "2025-06-02")],
                "from is given twice",
            ),
            (vec![("limit", "5")], "`limit`"),
        ] {
            let error = parse(&pairs).expect_err("invalid");
            assert!(matches!(error, AdminError::Invalid(_)), "{error:?}");
            assert!(error.to_string().contains(named), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn sql_groups_by_the_chosen_literal_columns() {
        let query =
            SpendQuery::new(june(1), june(2)).grouped_by(&[Dimension::Lane, Dimension::Day]);
        let sql = query.grouped_sql(true);
        assert!(sql.starts_with("SELECT lane, day, CAST("), "{sql}");
        assert!(
            sql.contains(
                "WHERE day >= $1 AND day <= $2 GROUP BY lane, day ORDER BY lane, day LIMIT $3"
            ),
            "{sql}"
        );
        assert!(query
            .totals_sql(false)
            .ends_with("WHERE day >= ?1 AND day <= ?2"));
    }

    #[test]
    fn rows_show_only_their_dimensions_and_money_two_ways() {
        let mut row = SpendRow::new(SpendTotals::from_sums([
            2, 150, 120, 30, 100, 0, 12, 1_500_000,
        ]));
        row.lane = Some("gpt".into());
        row.day = Some(june(3));
        assert_eq!(
            serde_json::to_value(&row).expect("json"),
            json!({"lane": "gpt", "day": "2025-06-03", "requests": 2, "tokens": 150,
                   "input_tokens": 120, "output_tokens": 30, "cache_read_tokens": 100,
                   "cache_write_tokens": 0, "reasoning_tokens": 12,
                   "cost_cents": 1.5, "cost_usd": "0.015"})
        );
    }
}
