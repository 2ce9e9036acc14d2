//! Hourly rollups of the request log, kept for `retention.rollup_days` (request rows go
//! much sooner, after `retention.request_days`). The batch writer folds each batch into them in the same transaction
//! as the rows, so reports and charts over months read a few thousand rollup rows instead of
//! millions of requests, and the rollups never disagree with the log.
//!
//! Latency and time to first byte are kept as hourly histograms with buckets about 12 % wide,
//! so percentiles per hour or day come out of the rollups too.

use crate::sql::{Conn, params};
use keygate_core::bounds::{clip, saturate};
use serde::Serialize;

use crate::{RequestRow, Store, StoreError};

/// The rollup dimensions of one request: hour (`YYYY-MM-DDTHH`), provider, model, key, token,
/// and why it was refused when no provider answered ('' otherwise).
type RollupKey = (String, String, String, String, String, String);

#[derive(Debug, Default)]
struct Totals {
    requests: u64,
    errors: u64,
    /// Attempts that failed against this key (a request that failed over counts here for the
    /// keys it left, and in `requests` only for the one that answered).
    failed_attempts: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    cost_micros: u64,
    unpriced: u64,
    latency_ms_sum: u64,
}

/// Which histogram a latency sample goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyMetric {
    Latency = 0,
    Ttfb = 1,
}

/// A batch's contribution to the rollups, gathered in memory before one upsert per group.
///
/// Lists, not maps: a batch holds a few groups and histogram buckets, and a row finds its own
/// by comparing borrowed text, so only a batch's first row of a group allocates its key.
#[derive(Debug, Default)]
pub(crate) struct RollupBatch {
    usage: Vec<(RollupKey, Totals)>,
    latency: Vec<((String, u8, u32), u64)>,
}

/// A rollup group's dimensions as a row has them (see [`RollupKey`]).
type GroupOf<'a> = [&'a str; 6];

impl RollupBatch {
    fn totals(&mut self, group: GroupOf<'_>) -> &mut Totals {
        let same = |k: &RollupKey| {
            [&k.0, &k.1, &k.2, &k.3, &k.4, &k.5]
                .iter()
                .zip(group)
                .all(|(a, b)| a.as_str() == b)
        };
        let i = match self.usage.iter().position(|(k, _)| same(k)) {
            Some(i) => i,
            None => {
                let [hour, provider, model, key, token, refusal] = group.map(str::to_string);
                let key = (hour, provider, model, key, token, refusal);
                self.usage.push((key, Totals::default()));
                self.usage.len() - 1
            }
        };
        &mut self.usage[i].1
    }

    fn sample(&mut self, hour: &str, metric: LatencyMetric, ms: u64) {
        let (metric, bucket) = (metric as u8, bucket_of(ms));
        let found = self
            .latency
            .iter_mut()
            .find(|((h, m, b), _)| *m == metric && *b == bucket && h == hour);
        match found {
            Some((_, count)) => *count += 1,
            None => self.latency.push(((hour.to_string(), metric, bucket), 1)),
        }
    }

    pub(crate) fn add(&mut self, r: &RequestRow) {
        let hour = hour_of(&r.at);
        // Clipped and saturated like the row itself (see `write_batch`).
        fn text(t: &Option<String>) -> &str {
            clip(t.as_deref().unwrap_or_default())
        }
        let model = clip(r.model_served.as_deref().unwrap_or(&r.model_requested));
        let token = text(&r.token);
        for attempt in r.attempts.iter().filter(|a| a.class != "success") {
            let (provider, key) = (clip(&attempt.provider), clip(&attempt.key_id));
            self.totals([hour, provider, model, key, token, ""])
                .failed_attempts += 1;
        }
        let refused = refusal(r);
        let group = [
            hour,
            text(&r.provider),
            model,
            text(&r.key_id),
            token,
            &refused,
        ];
        let t = self.totals(group);
        let add =
            |sum: &mut u64, n: Option<u64>| *sum = saturate(sum.saturating_add(n.unwrap_or(0)));
        t.requests += 1;
        t.errors += u64::from(r.failed());
        add(&mut t.prompt_tokens, r.prompt_tokens);
        add(&mut t.completion_tokens, r.completion_tokens);
        add(&mut t.cached_tokens, r.cached_tokens);
        match r.cost_micros {
            Some(cost) => add(&mut t.cost_micros, Some(cost)),
            None => t.unpriced += 1,
        }
        add(&mut t.latency_ms_sum, Some(r.latency_ms));
        self.sample(hour, LatencyMetric::Latency, r.latency_ms);
        if let Some(ttfb) = r.ttfb_ms {
            self.sample(hour, LatencyMetric::Ttfb, ttfb);
        }
    }

    pub(crate) fn write(&self, tx: &Conn) -> Result<(), StoreError> {
        let mut usage = tx.prepare(
            "INSERT INTO usage_hourly (hour, provider, model, key_id, token, refusal, requests, \
             errors, failed_attempts, prompt_tokens, completion_tokens, cached_tokens, cost_micros, \
             unpriced, latency_ms_sum) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
             ON CONFLICT (hour, provider, model, key_id, token, refusal) DO UPDATE SET \
             requests = usage_hourly.requests + excluded.requests, errors = usage_hourly.errors + excluded.errors, \
             failed_attempts = usage_hourly.failed_attempts + excluded.failed_attempts, \
             prompt_tokens = usage_hourly.prompt_tokens + excluded.prompt_tokens, \
             completion_tokens = usage_hourly.completion_tokens + excluded.completion_tokens, \
             cached_tokens = usage_hourly.cached_tokens + excluded.cached_tokens, \
             cost_micros = usage_hourly.cost_micros + excluded.cost_micros, \
             unpriced = usage_hourly.unpriced + excluded.unpriced, \
             latency_ms_sum = usage_hourly.latency_ms_sum + excluded.latency_ms_sum",
        )?;
        for ((hour, provider, model, key_id, token, refusal), t) in &self.usage {
            usage.execute(params![
                hour,
                provider,
                model,
                key_id,
                token,
                refusal,
                t.requests,
                t.errors,
                t.failed_attempts,
                t.prompt_tokens,
                t.completion_tokens,
                t.cached_tokens,
                t.cost_micros,
                t.unpriced,
                t.latency_ms_sum
            ])?;
        }
        let mut latency = tx.prepare(
            "INSERT INTO latency_hourly (hour, metric, bucket, count) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (hour, metric, bucket) DO UPDATE SET count = latency_hourly.count + excluded.count",
        )?;
        for ((hour, metric, bucket), count) in &self.latency {
            latency.execute(params![hour, metric, bucket, count])?;
        }
        Ok(())
    }
}

/// Why a request that no provider answered was refused (its error class, or its status when
/// it has none); '' for a request a provider answered.
pub(crate) fn refusal(r: &RequestRow) -> std::borrow::Cow<'_, str> {
    if r.provider.is_some() {
        return "".into();
    }
    match &r.error_class {
        Some(class) => clip(class).into(),
        None => r.status.to_string().into(),
    }
}

/// The hour of a stored request time (`2026-11-01T10:15:00.000Z` → `2026-11-01T10`).
pub(crate) fn hour_of(at: &str) -> &str {
    at.get(..13).unwrap_or(at)
}

/// Exact below 16 ms, then 8 buckets per power of two (each at most 12.5 % wide).
pub fn bucket_of(ms: u64) -> u32 {
    if ms < 16 {
        return ms as u32;
    }
    let exp = 63 - ms.leading_zeros(); // >= 4
    let sub = (ms >> (exp - 3)) & 7;
    16 + (exp - 4) * 8 + sub as u32
}

/// The middle of a bucket's range, in milliseconds.
pub fn bucket_value(bucket: u32) -> u64 {
    if bucket < 16 {
        return u64::from(bucket);
    }
    let exp = (bucket - 16) / 8 + 4;
    let sub = u64::from((bucket - 16) % 8);
    let low = (8 + sub) << (exp - 3);
    let width = 1u64 << (exp - 3);
    low + width / 2
}

/// One time bucket of a chart series: totals for one group in one hour or day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesPoint {
    /// `YYYY-MM-DDTHH` for hours, `YYYY-MM-DD` for days.
    pub bucket: String,
    pub group: String,
    /// What to call the group (a key's label; see [`crate::UsageRow::label`]).
    pub label: String,
    pub failed_attempts: u64,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost_micros: u64,
}

/// Latency percentiles of one time bucket (from the histograms, about ±6 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencyPoint {
    pub bucket: String,
    pub count: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
}

/// Whether series are bucketed by hour or by day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    fn expression(self) -> &'static str {
        match self {
            Self::Hour => "u.hour",
            Self::Day => "substr(u.hour, 1, 10)",
        }
    }
}

impl Store {
    /// Totals per time bucket and group over whole hours `from_hour <= hour < to_hour`
    /// (`YYYY-MM-DDTHH`), from the rollups only. `by: None` gives one group, `"all"`.
    pub fn usage_series(
        &self,
        from_hour: &str,
        to_hour: &str,
        bucket: Bucket,
        by: Option<crate::GroupBy>,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let (group, label) = by.map_or(("'all'".to_string(), "'all'".to_string()), |by| {
            (
                crate::usage::rollup_expression(by),
                crate::usage::rollup_label(by),
            )
        });
        let sql = format!(
            "SELECT {b} AS b, {group} AS g, SUM(u.requests), SUM(u.errors), SUM(u.prompt_tokens), \
             SUM(u.completion_tokens), SUM(u.cached_tokens), SUM(u.cost_micros), MAX({label}), \
             SUM(u.failed_attempts) \
             FROM usage_hourly u LEFT JOIN keys k ON k.id = u.key_id \
             WHERE u.hour >= ?1 AND u.hour < ?2 GROUP BY b, g ORDER BY b, g",
            b = bucket.expression()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![from_hour, to_hour], |r| {
            Ok(SeriesPoint {
                bucket: r.get(0)?,
                group: r.get(1)?,
                requests: r.get(2)?,
                errors: r.get(3)?,
                prompt_tokens: r.get(4)?,
                completion_tokens: r.get(5)?,
                cached_tokens: r.get(6)?,
                cost_micros: r.get(7)?,
                label: r.get(8)?,
                failed_attempts: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Latency (or TTFB) percentiles per time bucket over whole hours, from the histograms.
    pub fn latency_series(
        &self,
        from_hour: &str,
        to_hour: &str,
        bucket: Bucket,
        metric: LatencyMetric,
    ) -> Result<Vec<LatencyPoint>, StoreError> {
        let sql = format!(
            "SELECT {b} AS b, u.bucket, SUM(u.count) FROM latency_hourly u \
             WHERE u.hour >= ?1 AND u.hour < ?2 AND u.metric = ?3 \
             GROUP BY b, u.bucket ORDER BY b, u.bucket",
            b = bucket.expression()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut histograms: Vec<(String, Vec<(u32, u64)>)> = Vec::new();
        let rows = stmt.query_map(params![from_hour, to_hour, metric as u8], |r| {
            Ok((r.get::<String>(0)?, (r.get(1)?, r.get(2)?)))
        })?;
        for row in rows {
            let (b, entry): (String, (u32, u64)) = row?;
            match histograms.last_mut() {
                Some((last, h)) if *last == b => h.push(entry),
                _ => histograms.push((b, vec![entry])),
            }
        }
        Ok(histograms
            .into_iter()
            .map(|(bucket, h)| {
                let count = h.iter().map(|(_, n)| n).sum();
                LatencyPoint {
                    bucket,
                    count,
                    p50: quantile(&h, count, 0.50),
                    p95: quantile(&h, count, 0.95),
                    p99: quantile(&h, count, 0.99),
                }
            })
            .collect())
    }

    /// A key's cost and tokens since `from_hour` (`YYYY-MM-DDTHH`), from the rollups: what
    /// budgets start from when the engine starts.
    pub fn key_spend_since(&self, key_id: &str, from_hour: &str) -> Result<(u64, u64), StoreError> {
        self.spend_since("key_id", key_id, from_hour)
    }

    /// Cost and tokens from the rollups where `column` (`key_id` or `token`) is `who`, from
    /// `from_hour` on.
    fn spend_since(
        &self,
        column: &'static str,
        who: &str,
        from_hour: &str,
    ) -> Result<(u64, u64), StoreError> {
        let sql = format!(
            "SELECT COALESCE(SUM(cost_micros), 0), \
             COALESCE(SUM(prompt_tokens + completion_tokens), 0) \
             FROM usage_hourly WHERE {column} = ?1 AND hour >= ?2"
        );
        Ok(self.conn.query_row(&sql, params![who, from_hour], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?)
    }

    /// Each provider and model that served tokens from `from_hour` on, with its requests and
    /// tokens (prompt plus completion), from the rollups.
    pub fn served_models_since(
        &self,
        from_hour: &str,
    ) -> Result<Vec<(String, String, u64, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT provider, model, SUM(requests), SUM(prompt_tokens + completion_tokens) \
             FROM usage_hourly WHERE hour >= ?1 AND provider != '' AND model != '' \
             GROUP BY provider, model HAVING SUM(prompt_tokens + completion_tokens) > 0 \
             ORDER BY provider, model",
        )?;
        let rows = stmt.query_map([from_hour], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An access token's cost (micro-dollars) and tokens from `from_hour` on, from the
    /// rollups: what its budgets continue from when the engine starts.
    pub fn token_spend_since(
        &self,
        token: &str,
        from_hour: &str,
    ) -> Result<(u64, u64), StoreError> {
        self.spend_since("token", token, from_hour)
    }
}

/// The value below which a fraction `q` of the histogram's samples fall.
pub(crate) fn quantile(histogram: &[(u32, u64)], count: u64, q: f64) -> u64 {
    let rank = ((count.saturating_sub(1)) as f64 * q).round() as u64;
    let mut seen = 0;
    for (bucket, n) in histogram {
        seen += n;
        if seen > rank {
            return bucket_value(*bucket);
        }
    }
    histogram.last().map_or(0, |(b, _)| bucket_value(*b))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{GroupBy, UsageRow};

    fn row(i: u64, at: String) -> RequestRow {
        let providers = ["openai", "deepseek", "anthropic"];
        RequestRow {
            id: format!("r{i}"),
            at,
            token: (!i.is_multiple_of(4)).then(|| format!("t{}", i % 3)),
            endpoint: "/chat/completions".into(),
            model_requested: "m".into(),
            model_served: Some(format!("model-{}", i % 5)),
            provider: (!i.is_multiple_of(7)).then(|| providers[(i % 3) as usize].to_string()),
            key_id: (!i.is_multiple_of(7)).then(|| format!("k{}", i % 6)),
            status: if i.is_multiple_of(7) {
                503
            } else if i.is_multiple_of(9) {
                502
            } else {
                200
            },
            error_class: i.is_multiple_of(7).then(|| format!("refusal_{}", i % 2)),
            // Every fifth request failed over from another key first (and the ninth failed
            // on its own key as well).
            attempts: attempts(i),
            latency_ms: 5 + i % 300,
            ttfb_ms: (i.is_multiple_of(2)).then_some(3 + i % 50),
            stream: i.is_multiple_of(2),
            prompt_tokens: Some(100 + i),
            completion_tokens: Some(i % 40),
            cached_tokens: Some(i % 11),
            cost_micros: (!i.is_multiple_of(8)).then_some(1_000 + i * 37),
        }
    }

    fn attempts(i: u64) -> Vec<crate::AttemptLog> {
        if i.is_multiple_of(7) {
            return Vec::new();
        }
        let attempt = |key: u64, class: &str| crate::AttemptLog {
            provider: ["openai", "deepseek", "anthropic"][(key % 3) as usize].to_string(),
            key_id: format!("k{key}"),
            key_label: format!("label {key}"),
            status: Some(if class == "success" { 200 } else { 429 }),
            class: class.to_string(),
            latency_ms: 3,
        };
        let mut out = Vec::new();
        if i.is_multiple_of(5) {
            out.push(attempt((i + 1) % 6, "rate_limited"));
        }
        let last = if i.is_multiple_of(9) {
            "server_error"
        } else {
            "success"
        };
        out.push(attempt(i % 6, last));
        out
    }

    fn slot(all: &mut BTreeMap<String, UsageRow>, group: String) -> &mut UsageRow {
        all.entry(group.clone()).or_insert(UsageRow {
            label: group.clone(),
            group,
            requests: 0,
            errors: 0,
            failed_attempts: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_tokens: 0,
            cost_micros: 0,
            unpriced: 0,
        })
    }

    /// The report summed straight from request rows, as the rollups must reproduce it.
    fn naive(store: &Store, from: &str, to: &str, by: GroupBy) -> Vec<UsageRow> {
        let mut all: BTreeMap<String, UsageRow> = BTreeMap::new();
        for r in store.recent_requests(u32::MAX).expect("rows") {
            if r.at.as_str() < from || r.at.as_str() >= to {
                continue;
            }
            let refused = || {
                format!(
                    "refused: {}",
                    r.error_class
                        .clone()
                        .unwrap_or_else(|| r.status.to_string())
                )
            };
            let group_of = |provider: Option<&str>, key: Option<&str>| match by {
                GroupBy::Day => r.at[..10].to_string(),
                GroupBy::Hour => format!("{}:00", &r.at[..13]),
                GroupBy::Provider => provider.map_or_else(refused, str::to_string),
                GroupBy::Model => r.model_served.clone().unwrap_or_default(),
                GroupBy::Key if provider.is_none() => refused(),
                GroupBy::Key => key.unwrap_or("(none)").to_string(),
                GroupBy::Token => r.token.clone().unwrap_or_else(|| "(none)".into()),
            };
            for a in r.attempts.iter().filter(|a| a.class != "success") {
                slot(&mut all, group_of(Some(&a.provider), Some(&a.key_id))).failed_attempts += 1;
            }
            let u = slot(
                &mut all,
                group_of(r.provider.as_deref(), r.key_id.as_deref()),
            );
            u.requests += 1;
            u.errors += u64::from(r.failed());
            u.prompt_tokens += r.prompt_tokens.unwrap_or(0);
            u.completion_tokens += r.completion_tokens.unwrap_or(0);
            u.cached_tokens += r.cached_tokens.unwrap_or(0);
            u.cost_micros += r.cost_micros.unwrap_or(0);
            u.unpriced += u64::from(r.cost_micros.is_none());
        }
        all.into_values().collect()
    }

    fn sorted(mut rows: Vec<UsageRow>) -> Vec<UsageRow> {
        rows.sort_by(|a, b| a.group.cmp(&b.group));
        rows
    }

    #[test]
    fn reports_from_rollups_equal_reports_from_rows_for_any_range() {
        let db = crate::testing::fresh();
        let mut store = db.open();
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").expect("t");
        let rows: Vec<RequestRow> = (0..600u64)
            .map(|i| {
                let at = start + chrono::TimeDelta::seconds((i * 437) as i64);
                row(
                    i,
                    at.to_utc()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                )
            })
            .collect();
        // Two batches, the second repeating a row: a row saved twice counts once.
        store.write_batch(&rows[..300], &[]).expect("write");
        store.write_batch(&rows[299..], &[]).expect("write");
        let ranges = [
            ("2026-11-01T00:00:00.000Z", "2026-11-05T00:00:00.000Z"),
            ("2026-11-01T00:17:03.250Z", "2026-11-02T13:59:59.999Z"),
            ("2026-11-01T05:10:00.000Z", "2026-11-01T05:50:00.000Z"),
            ("2026-11-01T05:00:00.000Z", "2026-11-01T06:00:00.000Z"),
            ("not a time", "2026-11-02T00:00:00.000Z"),
        ];
        for (from, to) in ranges {
            for by in [
                GroupBy::Day,
                GroupBy::Hour,
                GroupBy::Provider,
                GroupBy::Model,
                GroupBy::Key,
                GroupBy::Token,
            ] {
                let fast = sorted(store.usage_report(from, to, by).expect("report"));
                assert_eq!(fast, naive(&store, from, to, by), "{from}..{to} by {by:?}");
            }
        }
        // Metrics: exact counts, percentiles within a bucket of the exact ones.
        let since = "2026-11-01T00:17:03.250Z";
        let metrics = store.metrics_since(since).expect("metrics");
        let mut latencies: Vec<u64> = rows[..]
            .iter()
            .filter(|r| r.at.as_str() >= since)
            .map(|r| r.latency_ms)
            .collect();
        latencies.sort_unstable();
        assert_eq!(metrics.requests, latencies.len() as u64);
        let failed = rows
            .iter()
            .filter(|r| r.at.as_str() >= since && r.failed())
            .count();
        assert_eq!(metrics.successes, metrics.requests - failed as u64);
        let exact = latencies[(latencies.len() - 1) / 2] as f64;
        let p50 = metrics.latency_ms.p50.expect("p50") as f64;
        assert!((p50 - exact).abs() / exact < 0.13, "{p50} vs {exact}");
        let whole = store
            .usage_report(ranges[0].0, ranges[0].1, GroupBy::Provider)
            .expect("report");
        // Request rows go after the retention period; whole-hour reports keep every number.
        assert_eq!(
            store.prune_requests(ranges[0].1, 10_000).expect("prune"),
            600
        );
        let after = store
            .usage_report(ranges[0].0, ranges[0].1, GroupBy::Provider)
            .expect("report");
        assert_eq!(after, whole);

        let series = store
            .usage_series(
                "2026-11-01T00",
                "2026-11-02T00",
                Bucket::Hour,
                Some(GroupBy::Provider),
            )
            .expect("series");
        assert!(
            series
                .iter()
                .any(|p| p.bucket == "2026-11-01T05" && p.group == "openai")
        );
        let total: u64 = series.iter().map(|p| p.requests).sum();
        let day = store
            .usage_series("2026-11-01T00", "2026-11-02T00", Bucket::Day, None)
            .expect("series");
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].requests, total);
        let latency = store
            .latency_series(
                "2026-11-01T00",
                "2026-11-02T00",
                Bucket::Day,
                LatencyMetric::Latency,
            )
            .expect("latency");
        assert_eq!(latency[0].count, total);
        assert!(latency[0].p50 <= latency[0].p95 && latency[0].p95 <= latency[0].p99);
        let (cost, tokens) = store.key_spend_since("k1", "2026-11-01T00").expect("spend");
        assert!(cost > 0 && tokens > 0);
    }

    #[test]
    fn buckets_are_exact_when_small_and_within_an_eighth_when_large() {
        for ms in 0..16 {
            assert_eq!(bucket_value(bucket_of(ms)), ms);
        }
        let mut last = 0;
        for ms in [16, 17, 100, 999, 1000, 12_345, 600_000, u64::from(u32::MAX)] {
            let b = bucket_of(ms);
            assert!(b >= last, "buckets grow with the value");
            last = b;
            let v = bucket_value(b) as f64;
            assert!(
                (v - ms as f64).abs() / ms as f64 <= 0.0625 + 1e-9,
                "{ms} ms -> bucket {b} -> {v}"
            );
        }
    }

    #[test]
    fn quantiles_come_from_the_histogram() {
        let h: Vec<(u32, u64)> = vec![
            (bucket_of(10), 90),
            (bucket_of(200), 9),
            (bucket_of(5000), 1),
        ];
        assert_eq!(quantile(&h, 100, 0.5), 10);
        let p95 = quantile(&h, 100, 0.95);
        assert!((180..=220).contains(&p95), "{p95}");
        let max = quantile(&h, 100, 1.0);
        assert!((4500..=5500).contains(&max), "{max}");
    }
}
