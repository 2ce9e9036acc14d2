//! Usage reports over the request log: requests, errors, tokens and cost grouped by time or by
//! provider, model, key or access token. Costs are summed as integers (micro-dollars), so
//! totals are exact however many rows they cover.

use std::collections::BTreeMap;

use crate::sql::params;
use chrono::DurationRound;
use serde::Serialize;

use crate::rollups::{LatencyMetric, bucket_of, quantile};
use crate::{Store, StoreError};

/// How a report groups requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UsageGroupBy))]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Day,
    Hour,
    Provider,
    Model,
    Key,
    Token,
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "day" => Self::Day,
            "hour" => Self::Hour,
            "provider" => Self::Provider,
            "model" => Self::Model,
            "key" => Self::Key,
            "token" => Self::Token,
            other => {
                return Err(format!(
                    "cannot group by {other:?}: use day, hour, provider, model, key or token"
                ));
            }
        })
    }
}

/// How a request no provider answered is named in reports: `refused: ` and its reason.
const REFUSED: &str = "'refused: '";

impl GroupBy {
    /// The SQL expression of the group (over `requests r` left-joined with `keys k`; for
    /// failed attempts, `r` carries the attempt's provider and key).
    fn expression(self) -> String {
        let refused = format!("{REFUSED} || COALESCE(r.error_class, CAST(r.status AS TEXT))");
        match self {
            // Request times are RFC 3339 UTC: the first 10 / 13 characters are the day / hour.
            Self::Day => "substr(r.at, 1, 10)".into(),
            Self::Hour => "substr(r.at, 1, 13) || ':00'".into(),
            Self::Provider => format!("COALESCE(r.provider, {refused})"),
            Self::Model => "COALESCE(r.model_served, r.model_requested)".into(),
            Self::Key => format!(
                "CASE WHEN r.provider IS NULL THEN {refused} ELSE COALESCE(r.key_id, '(none)') END"
            ),
            Self::Token => "COALESCE(r.token, '(none)')".into(),
        }
    }

    /// What a group is called: a key's label for keys (the group stays the id, so two keys
    /// with one label are still two rows), the group itself otherwise.
    fn label_expression(self, group: &str) -> String {
        match self {
            Self::Key => format!("COALESCE(k.label, {group})"),
            _ => group.to_string(),
        }
    }
}

/// The same groups over the hourly rollups (`usage_hourly u` left-joined with `keys k`), where
/// "none" is stored as an empty string. Must name groups exactly like [`GroupBy::expression`].
pub(crate) fn rollup_expression(by: GroupBy) -> String {
    let refused = format!("{REFUSED} || u.refusal");
    match by {
        GroupBy::Day => "substr(u.hour, 1, 10)".into(),
        GroupBy::Hour => "u.hour || ':00'".into(),
        GroupBy::Provider => {
            format!("CASE WHEN u.refusal != '' THEN {refused} ELSE u.provider END")
        }
        GroupBy::Model => "u.model".into(),
        GroupBy::Key => format!(
            "CASE WHEN u.refusal != '' THEN {refused} ELSE COALESCE(NULLIF(u.key_id, ''), '(none)') END"
        ),
        GroupBy::Token => "COALESCE(NULLIF(u.token, ''), '(none)')".into(),
    }
}

/// The label of a rollup group (see [`GroupBy::label_expression`]).
pub(crate) fn rollup_label(by: GroupBy) -> String {
    by.label_expression(&rollup_expression(by))
}

/// Splits `[from, to)` into whole hours (read from the rollups) and the partial hours at
/// either end (read from the request log): `(hour_from, hour_to, head_end, tail_start)`.
fn split_hours(from: &str, to: &str) -> (String, String, String, String) {
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let (Some(start), Some(end)) = (parse(from), parse(to)) else {
        return (String::new(), String::new(), to.to_string(), to.to_string());
    };
    let floor = |t: chrono::DateTime<chrono::Utc>| {
        t.duration_trunc(chrono::TimeDelta::hours(1)).unwrap_or(t)
    };
    let first = if floor(start) == start {
        start
    } else {
        floor(start) + chrono::TimeDelta::hours(1)
    };
    let last = floor(end);
    if first >= last {
        return (String::new(), String::new(), to.to_string(), to.to_string());
    }
    let hour = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H").to_string();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    (hour(first), hour(last), at(first), at(last))
}

/// One group's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageRow {
    /// The group: a day, an hour, a provider, a model, a key's id or a token; requests no
    /// provider answered are `refused: REASON` by provider and by key.
    pub group: String,
    /// What to call the group: the key's label when grouped by key, else the group.
    pub label: String,
    pub requests: u64,
    /// Requests that did not end in a complete 2xx answer (a stream cut mid-way counts).
    pub errors: u64,
    /// Attempts that failed in the group: by key or provider, against that key or provider,
    /// also when the request then failed over and succeeded elsewhere.
    pub failed_attempts: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost_micros: u64,
    /// Requests whose cost is unknown (no usage, or no price for the model).
    pub unpriced: u64,
}

impl Store {
    /// Totals per group for requests with `from <= at < to`, ordered by time for time groups
    /// and by cost (then requests) otherwise. The bounds must be written like the stored times
    /// (RFC 3339 UTC with milliseconds, `2026-11-01T00:00:00.000Z`), which compare as text.
    pub fn usage_report(
        &self,
        from: &str,
        to: &str,
        by: GroupBy,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let order = match by {
            GroupBy::Day | GroupBy::Hour => "g",
            _ => "cost DESC, n DESC, g",
        };
        // Whole hours come from the rollups; only the partial hours at the ends are summed
        // from request rows, so a year-long report reads thousands of rows, not millions.
        let (hour_from, hour_to, head_end, tail_start) = split_hours(from, to);
        let group = by.expression();
        let label = by.label_expression(&group);
        let requests = |range: &str| {
            format!(
                "SELECT {group} AS g, {label} AS l, 1 AS n, \
                 CASE WHEN r.status BETWEEN 200 AND 299 AND r.error_class IS NULL THEN 0 ELSE 1 END AS e, \
                 0 AS fa, COALESCE(r.prompt_tokens, 0) AS p, COALESCE(r.completion_tokens, 0) AS c, \
                 COALESCE(r.cached_tokens, 0) AS ca, COALESCE(r.cost_micros, 0) AS cost, \
                 CASE WHEN r.cost_micros IS NULL THEN 1 ELSE 0 END AS unpriced \
                 FROM requests r LEFT JOIN keys k ON k.id = r.key_id WHERE {range}"
            )
        };
        // A failed attempt counts for its own provider and key (what the rollups keep).
        let postgres = self.conn.is_postgres();
        let attempts = |range: &str| {
            // `->>` reads a field as SQL text in both (SQLite 3.38+).
            let elements = if postgres {
                "jsonb_array_elements(r.attempts::jsonb) AS a(value)"
            } else {
                "json_each(r.attempts) a"
            };
            format!(
                "SELECT {group} AS g, {label} AS l, 0 AS n, 0 AS e, 1 AS fa, 0 AS p, 0 AS c, \
                 0 AS ca, 0 AS cost, 0 AS unpriced FROM ( \
                 SELECT r.at, r.token, r.model_served, r.model_requested, r.status, r.error_class, \
                 a.value->>'provider' AS provider, a.value->>'key_id' AS key_id \
                 FROM requests r, {elements} \
                 WHERE {range} AND a.value->>'class' != 'success') r \
                 LEFT JOIN keys k ON k.id = r.key_id"
            )
        };
        let (head, tail) = ("r.at >= ?1 AND r.at < ?5", "r.at >= ?6 AND r.at < ?2");
        let sql = format!(
            "SELECT g, MAX(l), SUM(n) AS n, SUM(e), SUM(fa), SUM(p), SUM(c), SUM(ca), \
             SUM(cost) AS cost, SUM(unpriced) FROM ( \
             SELECT {rg} AS g, {rl} AS l, u.requests AS n, u.errors AS e, u.failed_attempts AS fa, \
             u.prompt_tokens AS p, u.completion_tokens AS c, u.cached_tokens AS ca, \
             u.cost_micros AS cost, u.unpriced AS unpriced \
             FROM usage_hourly u LEFT JOIN keys k ON k.id = u.key_id \
             WHERE u.hour >= ?3 AND u.hour < ?4 \
             UNION ALL {h} UNION ALL {t} UNION ALL {ha} UNION ALL {ta}) AS parts \
             GROUP BY g ORDER BY {order}",
            rg = rollup_expression(by),
            rl = rollup_label(by),
            h = requests(head),
            t = requests(tail),
            ha = attempts(head),
            ta = attempts(tail),
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(
            params![from, to, hour_from, hour_to, head_end, tail_start],
            |r| {
                Ok(UsageRow {
                    group: r.get(0)?,
                    label: r.get(1)?,
                    requests: r.get(2)?,
                    errors: r.get(3)?,
                    failed_attempts: r.get(4)?,
                    prompt_tokens: r.get(5)?,
                    completion_tokens: r.get(6)?,
                    cached_tokens: r.get(7)?,
                    cost_micros: r.get(8)?,
                    unpriced: r.get(9)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Traffic figures for one window: counts, rates and latency percentiles (milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Metrics {
    pub requests: u64,
    pub successes: u64,
    pub success_rate: Option<f64>,
    pub error_rate: Option<f64>,
    pub latency_ms: Percentiles,
    pub ttfb_ms: Percentiles,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Percentiles {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub p99: Option<u64>,
}

impl Store {
    /// Deletes request rows older than `before` (stored time format), at most `batch` per
    /// call, in one short transaction; returns how many went. Call until it returns less than
    /// `batch`, so no single write holds the database for long.
    pub fn prune_requests(&mut self, before: &str, batch: u32) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM requests WHERE rowid IN \
             (SELECT rowid FROM requests WHERE at < ?1 ORDER BY at LIMIT ?2)",
            params![before, batch],
        )?)
    }

    /// Deletes hourly rollups and latency histograms of hours before `before_hour`
    /// (`YYYY-MM-DDTHH`), at most `batch` rows of each table per call, in one short
    /// transaction; returns how many went. Call until it returns less than `batch`.
    pub fn prune_rollups(&mut self, before_hour: &str, batch: u32) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        // Both tables are keyed by hour first, so each pick is an index range.
        let usage = tx.execute(
            "DELETE FROM usage_hourly WHERE (hour, provider, model, key_id, token) IN \
             (SELECT hour, provider, model, key_id, token FROM usage_hourly \
              WHERE hour < ?1 ORDER BY hour LIMIT ?2)",
            params![before_hour, batch],
        )?;
        let latency = tx.execute(
            "DELETE FROM latency_hourly WHERE (hour, metric, bucket) IN \
             (SELECT hour, metric, bucket FROM latency_hourly \
              WHERE hour < ?1 ORDER BY hour LIMIT ?2)",
            params![before_hour, batch],
        )?;
        tx.commit()?;
        Ok(usage.max(latency))
    }

    /// Metrics over requests since `from` (stored time format, see [`Store::usage_report`]).
    /// Whole hours come from the rollups and latency histograms (percentiles within about
    /// 6 %), only the partial first hour from request rows: a week of millions of requests
    /// costs a few thousand rows, and the figures outlive the request rows' retention.
    pub fn metrics_since(&self, from: &str) -> Result<Metrics, StoreError> {
        const OPEN_END: &str = "9999-12-31T23:59:59.999Z";
        let (hour_from, _, head_end, _) = split_hours(from, OPEN_END);
        let (mut requests, mut successes): (u64, u64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status BETWEEN 200 AND 299 AND error_class IS NULL THEN 1 ELSE 0 END), 0) \
             FROM requests WHERE at >= ?1 AND at < ?2",
            [from, &head_end],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !hour_from.is_empty() {
            let (n, ok): (u64, u64) = self.conn.query_row(
                "SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(requests - errors), 0) \
                 FROM usage_hourly WHERE hour >= ?1",
                [&hour_from],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            requests += n;
            successes += ok;
        }
        let rate = |n: u64| (requests > 0).then(|| n as f64 / requests as f64);
        let window = (from, hour_from.as_str(), head_end.as_str());
        Ok(Metrics {
            requests,
            successes,
            success_rate: rate(successes),
            error_rate: rate(requests - successes),
            latency_ms: self.percentiles(window, LatencyMetric::Latency)?,
            ttfb_ms: self.percentiles(window, LatencyMetric::Ttfb)?,
        })
    }

    /// Percentiles from the hourly histograms since `hour_from` plus the rows in
    /// `[from, head_end)`, bucketed the same way.
    fn percentiles(
        &self,
        (from, hour_from, head_end): (&str, &str, &str),
        metric: LatencyMetric,
    ) -> Result<Percentiles, StoreError> {
        let mut histogram: BTreeMap<u32, u64> = BTreeMap::new();
        if !hour_from.is_empty() {
            let mut stmt = self.conn.prepare(
                "SELECT bucket, SUM(count) FROM latency_hourly WHERE hour >= ?1 AND metric = ?2 \
                 GROUP BY bucket",
            )?;
            let rows = stmt.query_map(params![hour_from, metric as u8], |r| {
                Ok((r.get::<u32>(0)?, r.get::<u64>(1)?))
            })?;
            for row in rows {
                let (bucket, n) = row?;
                *histogram.entry(bucket).or_default() += n;
            }
        }
        let column = match metric {
            LatencyMetric::Latency => "latency_ms",
            LatencyMetric::Ttfb => "ttfb_ms",
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {column} FROM requests WHERE at >= ?1 AND at < ?2 AND {column} IS NOT NULL"
        ))?;
        for value in stmt.query_map(params![from, head_end], |r| r.get(0))? {
            *histogram.entry(bucket_of(value?)).or_default() += 1;
        }
        let histogram: Vec<(u32, u64)> = histogram.into_iter().collect();
        let count: u64 = histogram.iter().map(|(_, n)| n).sum();
        if count == 0 {
            return Ok(Percentiles::default());
        }
        Ok(Percentiles {
            p50: Some(quantile(&histogram, count, 0.50)),
            p95: Some(quantile(&histogram, count, 0.95)),
            p99: Some(quantile(&histogram, count, 0.99)),
        })
    }
}

/// What a key served over a period, and what failed on it (from the hourly rollups).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyActivity {
    /// Requests the key answered.
    pub requests: u64,
    /// Attempts that failed on the key, also those that another key then answered.
    pub failed: u64,
}

impl Store {
    /// Each key's requests and failures since `from` (a stored-form time), by key id.
    pub fn key_activity_since(
        &self,
        from: &str,
    ) -> Result<std::collections::HashMap<String, KeyActivity>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT key_id, sum(requests), sum(failed_attempts) FROM usage_hourly \
             WHERE hour >= ?1 AND key_id != '' GROUP BY key_id",
        )?;
        let rows = stmt.query_map([crate::rollups::hour_of(from)], |r| {
            Ok((
                r.get::<String>(0)?,
                KeyActivity {
                    requests: r.get::<i64>(1)?.max(0) as u64,
                    failed: r.get::<i64>(2)?.max(0) as u64,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestRow;

    fn row(
        id: &str,
        at: &str,
        provider: &str,
        model: &str,
        status: u16,
        cost: Option<u64>,
    ) -> RequestRow {
        RequestRow {
            id: id.into(),
            at: at.into(),
            token: Some("cli".into()),
            endpoint: "/chat/completions".into(),
            model_requested: model.into(),
            model_served: Some(model.into()),
            provider: Some(provider.into()),
            key_id: None,
            status,
            error_class: None,
            attempts: Vec::new(),
            latency_ms: 10,
            ttfb_ms: None,
            stream: false,
            prompt_tokens: Some(100),
            completion_tokens: Some(10),
            cached_tokens: Some(0),
            cost_micros: cost,
        }
    }

    #[test]
    fn groups_sum_exactly_and_respect_the_time_range() {
        let db = crate::testing::fresh();
        let mut store = db.open();
        let rows = vec![
            row(
                "a",
                "2026-11-01T10:00:00.000Z",
                "openai",
                "gpt-4o",
                200,
                Some(1_234_567),
            ),
            row(
                "b",
                "2026-11-01T11:30:00.000Z",
                "openai",
                "gpt-4o",
                200,
                Some(1),
            ),
            row(
                "c",
                "2026-11-02T09:00:00.000Z",
                "deepseek",
                "deepseek-chat",
                502,
                None,
            ),
            row(
                "d",
                "2026-12-01T00:00:00.000Z",
                "openai",
                "gpt-4o",
                200,
                Some(5),
            ),
        ];
        store.write_batch(&rows, &[]).expect("write");
        let from = "2026-11-01T00:00:00.000Z";
        let to = "2026-12-01T00:00:00.000Z";
        let by_day = store.usage_report(from, to, GroupBy::Day).expect("report");
        assert_eq!(
            by_day
                .iter()
                .map(|r| (r.group.as_str(), r.requests))
                .collect::<Vec<_>>(),
            [("2026-11-01", 2), ("2026-11-02", 1)]
        );
        assert_eq!(by_day[0].cost_micros, 1_234_568);
        assert_eq!(by_day[1].errors, 1);
        assert_eq!(by_day[1].unpriced, 1);
        let by_provider = store
            .usage_report(from, to, GroupBy::Provider)
            .expect("report");
        assert_eq!(by_provider[0].group, "openai", "most expensive first");
        assert_eq!(by_provider[0].prompt_tokens, 200);
        let by_hour = store.usage_report(from, to, GroupBy::Hour).expect("report");
        assert_eq!(by_hour[0].group, "2026-11-01T10:00");
        assert!("week".parse::<GroupBy>().is_err());

        let metrics = store.metrics_since(from).expect("metrics");
        assert_eq!(metrics.requests, 4);
        assert_eq!(metrics.successes, 3);
        assert_eq!(metrics.error_rate, Some(0.25));
        assert_eq!(metrics.latency_ms.p50, Some(10));
        assert_eq!(metrics.ttfb_ms, Percentiles::default(), "no ttfb recorded");
        assert_eq!(
            store
                .prune_requests("2026-11-02T00:00:00.000Z", 1)
                .expect("prune"),
            1
        );
        assert_eq!(
            store
                .prune_requests("2026-11-02T00:00:00.000Z", 10)
                .expect("prune"),
            1,
            "the rest of the old rows, newer ones kept"
        );
        assert_eq!(store.recent_requests(10).expect("rows").len(), 2);
        let none = store
            .metrics_since("2027-01-01T00:00:00.000Z")
            .expect("metrics");
        assert_eq!(none.requests, 0);
        assert_eq!(none.success_rate, None);
    }

    #[test]
    fn rollups_older_than_the_retention_are_pruned_in_batches() {
        let db = crate::testing::fresh();
        let mut store = db.open();
        let rows: Vec<RequestRow> = (0..30)
            .map(|i| {
                let at = format!("2026-11-{:02}T10:00:00.000Z", i + 1);
                row(&format!("r{i}"), &at, "openai", "gpt-4o", 200, Some(1))
            })
            .collect();
        store.write_batch(&rows, &[]).expect("write");
        let report = |store: &Store| {
            store
                .usage_report(
                    "2026-01-01T00:00:00.000Z",
                    "2027-01-01T00:00:00.000Z",
                    GroupBy::Day,
                )
                .expect("report")
                .len()
        };
        assert_eq!(report(&store), 30);
        // Two at a time, as the writer does in bigger batches: the first 20 days go.
        let mut pruned = 0;
        loop {
            let n = store.prune_rollups("2026-11-21T00", 2).expect("prune");
            pruned += n;
            if n < 2 {
                break;
            }
        }
        assert_eq!(pruned, 20);
        assert_eq!(report(&store), 10);
        let latency = store
            .latency_series(
                "2026-01-01T00",
                "2027-01-01T00",
                crate::Bucket::Day,
                crate::LatencyMetric::Latency,
            )
            .expect("latency");
        assert_eq!(latency.len(), 10, "the histograms go with the rollups");
    }
}
