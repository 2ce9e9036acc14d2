//! The usage charts, by name: the data comes from the hourly rollups (never the request log),
//! the drawing from `keygate-charts`. The admin API serves them as SVG
//! (`GET /api/charts/{name}.svg`) and `keygate report --chart` writes them as SVG or PNG.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use keygate_charts::{ChartKind, Series, TimeSeriesChart};
use keygate_store::{Bucket, GroupBy, LatencyMetric, Store, StoreError};

/// The charts there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartName {
    Requests,
    Tokens,
    Cost,
    /// Latency percentiles.
    Latency,
    /// Time to first byte percentiles.
    Ttfb,
    /// Share of requests that succeeded.
    Success,
}

impl ChartName {
    pub const ALL: [Self; 6] = [
        Self::Requests,
        Self::Tokens,
        Self::Cost,
        Self::Latency,
        Self::Ttfb,
        Self::Success,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
            Self::Cost => "cost",
            Self::Latency => "latency",
            Self::Ttfb => "ttfb",
            Self::Success => "success",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == text)
    }
}

/// What to chart: which one, over how long, split by what.
#[derive(Debug, Clone)]
pub struct ChartRequest {
    pub name: ChartName,
    /// Hours covered, ending with the current hour.
    pub hours: i64,
    /// How stacked charts are split (provider, model, key or token).
    pub by: GroupBy,
}

impl ChartRequest {
    /// Reads `range` (`24h`, `7d`, `30d`, … up to 365 days) and `by`; `None` takes each
    /// chart's default (cost: 30 days, others: 24 hours; by provider). Every problem is
    /// reported, each with the field it is about.
    pub fn parse(
        name: &str,
        range: Option<&str>,
        by: Option<&str>,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let chart = ChartName::parse(name);
        if chart.is_none() {
            let names: Vec<&str> = ChartName::ALL.iter().map(|n| n.as_str()).collect();
            problems.push((
                "name",
                format!("no chart named {name:?}: use one of {}", names.join(", ")),
            ));
        }
        let hours = match range {
            None if chart == Some(ChartName::Cost) => 30 * 24,
            None => 24,
            Some(text) => parse_range(text).unwrap_or_else(|e| {
                problems.push(("range", e));
                0
            }),
        };
        let by = match by.map(|text| (text, text.parse::<GroupBy>())) {
            None => GroupBy::Provider,
            Some((
                _,
                Ok(g @ (GroupBy::Provider | GroupBy::Model | GroupBy::Key | GroupBy::Token)),
            )) => g,
            Some((text, _)) => {
                problems.push((
                    "by",
                    format!("cannot split a chart by {text:?}: use provider, model, key or token"),
                ));
                GroupBy::Provider
            }
        };
        match chart {
            Some(name) if problems.is_empty() => Ok(Self { name, hours, by }),
            _ => Err(problems),
        }
    }
}

/// `48h`, `7d`: whole hours from 1 hour to 365 days.
fn parse_range(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid range {text:?}: use hours or days like 24h, 7d or 30d");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let hours = match unit {
        "h" => n,
        "d" => n.checked_mul(24).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if !(1..=365 * 24).contains(&hours) {
        return Err(format!("range {text:?} must be between 1h and 365d"));
    }
    Ok(hours)
}

fn by_name(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Provider => "provider",
        GroupBy::Model => "model",
        GroupBy::Key => "key",
        GroupBy::Token => "token",
        GroupBy::Day | GroupBy::Hour => "time",
    }
}

/// Builds the chart's data as of `now`: hourly buckets up to two days, daily beyond.
pub fn build(
    store: &Store,
    request: &ChartRequest,
    now: DateTime<Utc>,
) -> Result<TimeSeriesChart, StoreError> {
    let hourly = request.hours <= 48;
    let (step, bucket) = if hourly {
        (TimeDelta::hours(1), Bucket::Hour)
    } else {
        (TimeDelta::days(1), Bucket::Day)
    };
    let end = now.duration_trunc(step).unwrap_or(now) + step;
    let count = if hourly {
        request.hours
    } else {
        (request.hours + 23) / 24
    };
    let start = end - step * i32::try_from(count).unwrap_or(1);
    let starts: Vec<DateTime<Utc>> = (0..count)
        .map(|i| start + step * i32::try_from(i).unwrap_or(0))
        .collect();
    let label = |t: &DateTime<Utc>| {
        if hourly {
            t.format("%Y-%m-%dT%H").to_string()
        } else {
            t.format("%Y-%m-%d").to_string()
        }
    };
    let index: BTreeMap<String, usize> = starts
        .iter()
        .enumerate()
        .map(|(i, t)| (label(t), i))
        .collect();
    let (from_hour, to_hour) = (
        start.format("%Y-%m-%dT%H").to_string(),
        end.format("%Y-%m-%dT%H").to_string(),
    );
    let per = if hourly { "hour" } else { "day" };
    let by = by_name(request.by);
    let n = starts.len();
    let (title, y_label, kind, series) = match request.name {
        ChartName::Latency | ChartName::Ttfb => {
            let metric = if request.name == ChartName::Latency {
                LatencyMetric::Latency
            } else {
                LatencyMetric::Ttfb
            };
            let points = store.latency_series(&from_hour, &to_hour, bucket, metric)?;
            let mut lines = [
                ("p50", vec![f64::NAN; n]),
                ("p95", vec![f64::NAN; n]),
                ("p99", vec![f64::NAN; n]),
            ];
            for p in points {
                if let Some(&i) = index.get(&p.bucket) {
                    lines[0].1[i] = p.p50 as f64;
                    lines[1].1[i] = p.p95 as f64;
                    lines[2].1[i] = p.p99 as f64;
                }
            }
            let title = if request.name == ChartName::Latency {
                format!("Latency percentiles per {per}")
            } else {
                format!("Time to first byte per {per}")
            };
            let series = lines
                .into_iter()
                .map(|(name, values)| Series {
                    name: name.to_string(),
                    values,
                })
                .collect();
            (title, "ms".to_string(), ChartKind::Lines, series)
        }
        ChartName::Success => {
            let points = store.usage_series(&from_hour, &to_hour, bucket, None)?;
            let mut values = vec![f64::NAN; n];
            for p in points {
                if let Some(&i) = index.get(&p.bucket)
                    && p.requests > 0
                {
                    values[i] = (p.requests - p.errors) as f64 * 100.0 / p.requests as f64;
                }
            }
            (
                format!("Success rate per {per}"),
                "%".to_string(),
                ChartKind::Lines,
                vec![Series {
                    name: "success rate".to_string(),
                    values,
                }],
            )
        }
        name => {
            let points = store.usage_series(&from_hour, &to_hour, bucket, Some(request.by))?;
            let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            let mut labels: BTreeMap<String, String> = BTreeMap::new();
            for p in points {
                let Some(&i) = index.get(&p.bucket) else {
                    continue;
                };
                let value = match name {
                    ChartName::Tokens => (p.prompt_tokens + p.completion_tokens) as f64,
                    ChartName::Cost => p.cost_micros as f64 / 1_000_000.0,
                    _ => p.requests as f64,
                };
                labels.insert(p.group.clone(), p.label);
                groups.entry(p.group).or_insert_with(|| vec![0.0; n])[i] += value;
            }
            let (title, unit, kind) = match name {
                ChartName::Tokens => (
                    format!("Tokens per {per} by {by}"),
                    "tokens",
                    ChartKind::StackedArea,
                ),
                ChartName::Cost => (
                    format!("Cost per {per} by {by}"),
                    "USD",
                    ChartKind::StackedBars,
                ),
                _ => (
                    format!("Requests per {per} by {by}"),
                    "requests",
                    ChartKind::StackedArea,
                ),
            };
            let series = named_series(groups, &labels);
            (title, unit.to_string(), kind, series)
        }
    };
    Ok(TimeSeriesChart {
        title,
        y_label,
        buckets: starts.iter().map(DateTime::timestamp).collect(),
        bucket_seconds: step.num_seconds(),
        series,
        kind,
    })
}

/// Each group as a series named by its label (a key's label, not its id); a label two
/// groups share gets the group in brackets, so the legend tells them apart.
fn named_series(
    groups: BTreeMap<String, Vec<f64>>,
    labels: &BTreeMap<String, String>,
) -> Vec<Series> {
    let label = |group: &String| labels.get(group).unwrap_or(group).clone();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for group in groups.keys() {
        *seen.entry(label(group)).or_default() += 1;
    }
    groups
        .into_iter()
        .map(|(group, values)| {
            let name = label(&group);
            let name = if seen[&name] > 1 && name != group {
                format!("{name} ({group})")
            } else {
                name
            };
            Series { name, values }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_by_label_and_shared_labels_keep_the_group() {
        let groups: BTreeMap<String, Vec<f64>> = [("k_1", 1.0), ("k_2", 2.0), ("k_3", 3.0)]
            .into_iter()
            .map(|(g, v)| (g.to_string(), vec![v]))
            .collect();
        let labels: BTreeMap<String, String> = [("k_1", "work"), ("k_2", "work"), ("k_3", "home")]
            .into_iter()
            .map(|(g, l)| (g.to_string(), l.to_string()))
            .collect();
        let names: Vec<String> = named_series(groups, &labels)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["work (k_1)", "work (k_2)", "home"]);
    }

    #[test]
    fn ranges_and_names_are_checked() {
        assert_eq!(parse_range("24h"), Ok(24));
        assert_eq!(parse_range("7d"), Ok(168));
        assert!(parse_range("0h").is_err());
        assert!(parse_range("400d").is_err());
        assert!(parse_range("week").is_err());
        assert!(parse_range("").is_err());
        assert!(ChartRequest::parse("pie", None, None).is_err());
        assert_eq!(
            ChartRequest::parse("requests", None, Some("day")).expect_err("by day")[0].0,
            "by"
        );
        assert_eq!(
            ChartRequest::parse("pie", Some("9y"), Some("day"))
                .expect_err("all wrong")
                .len(),
            3
        );
        let cost = ChartRequest::parse("cost", None, Some("model")).expect("cost");
        assert_eq!((cost.hours, cost.by), (720, GroupBy::Model));
    }

    #[test]
    fn an_empty_store_gives_empty_series_with_every_bucket() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open_in(dir.path()).expect("store");
        let now = DateTime::parse_from_rfc3339("2026-11-30T10:30:00Z")
            .expect("t")
            .to_utc();
        let day = build(
            &store,
            &ChartRequest::parse("requests", None, None).expect("r"),
            now,
        )
        .expect("chart");
        assert_eq!(day.buckets.len(), 24);
        assert_eq!(day.bucket_seconds, 3600);
        assert_eq!(
            day.buckets.last().copied(),
            Some(
                now.duration_trunc(TimeDelta::hours(1))
                    .expect("t")
                    .timestamp()
            )
        );
        assert!(day.series.is_empty());
        let month = build(
            &store,
            &ChartRequest::parse("cost", None, None).expect("c"),
            now,
        )
        .expect("chart");
        assert_eq!((month.buckets.len(), month.bucket_seconds), (30, 86_400));
        let latency = build(
            &store,
            &ChartRequest::parse("latency", None, None).expect("l"),
            now,
        )
        .expect("chart");
        assert_eq!(latency.series.len(), 3);
    }
}
