//! Usage benchmark (`make bench-usage`): seeds a temporary database with request rows through
//! the same batched write the engine's usage writer uses (rollups included), then times the
//! reports and chart queries over them. Prints a table; not a test, so nothing here can fail
//! on a slow machine.
//!
//! `KEYGATE_BENCH_ROWS` sets how many rows (default 1 000 000).

use std::time::{Duration, Instant};

use keygate_store::{AttemptLog, Bucket, GroupBy, LatencyMetric, RequestRow, Store};

const BATCH: usize = 1024;

fn row(i: u64, at: &str) -> RequestRow {
    const PROVIDERS: [&str; 4] = ["openai", "anthropic", "deepseek", "gemini"];
    const MODELS: [&str; 6] = [
        "gpt-4o-mini",
        "gpt-4.1",
        "claude-sonnet-4",
        "deepseek-chat",
        "gemini-2.5-flash",
        "o4-mini",
    ];
    let provider = PROVIDERS[(i % 4) as usize];
    RequestRow {
        id: format!("req-{i:010}"),
        at: at.to_string(),
        token: Some(format!("tool-{}", i % 5)),
        endpoint: "/chat/completions".into(),
        model_requested: MODELS[(i % 6) as usize].into(),
        model_served: Some(MODELS[(i % 6) as usize].into()),
        provider: Some(provider.into()),
        key_id: Some(format!("k_{:02}", i % 24)),
        status: if i.is_multiple_of(50) { 502 } else { 200 },
        error_class: None,
        attempts: vec![AttemptLog {
            provider: provider.into(),
            key_id: format!("k_{:02}", i % 24),
            key_label: format!("key {}", i % 24),
            status: Some(200),
            class: "success".into(),
            latency_ms: 100 + i % 900,
        }],
        latency_ms: 100 + (i * 7919) % 2900,
        ttfb_ms: Some(50 + (i * 104_729) % 700),
        stream: i.is_multiple_of(3),
        prompt_tokens: Some(200 + i % 3000),
        completion_tokens: Some(20 + i % 800),
        cached_tokens: Some(i % 150),
        cost_micros: (!i.is_multiple_of(97)).then_some(50 + i % 20_000),
    }
}

fn time<T>(label: &str, f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    println!("{label:<48} {:>10.1} ms", took.as_secs_f64() * 1000.0);
    (out, took)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u64 = std::env::var("KEYGATE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let mut store = Store::open_in(dir.path())?;
    // Rows spread evenly over the 90 days before 2026-11-30.
    let end = chrono::DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z")?.to_utc();
    let span_ms = 90 * 86_400_000i64;
    let step = span_ms / i64::try_from(rows.max(1))?;
    let start = end - chrono::TimeDelta::milliseconds(span_ms);
    println!("usage benchmark: {rows} request rows over 90 days, batches of {BATCH}");
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..rows {
        let at = (start + chrono::TimeDelta::milliseconds(step * i64::try_from(i)?))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        batch.push(row(i, &at));
        if batch.len() == BATCH {
            store.write_batch(&batch, &[])?;
            batch.clear();
        }
    }
    store.write_batch(&batch, &[])?;
    let took = started.elapsed();
    println!(
        "{:<48} {:>10.1} ms  ({:.0} rows/s, rollups included)",
        "write (batched, like the usage writer)",
        took.as_secs_f64() * 1000.0,
        rows as f64 / took.as_secs_f64()
    );
    let db = dir.path().join(keygate_store::DB_FILE_NAME);
    println!(
        "{:<48} {:>10.1} MB",
        "database size",
        std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    let (from, to) = ("2026-09-01T00:00:00.000Z", "2026-11-30T00:00:00.000Z");
    for (label, by) in [
        ("report 90 days by day", GroupBy::Day),
        ("report 90 days by hour", GroupBy::Hour),
        ("report 90 days by provider", GroupBy::Provider),
        ("report 90 days by model", GroupBy::Model),
        ("report 90 days by key", GroupBy::Key),
        ("report 90 days by token", GroupBy::Token),
    ] {
        let (r, _) = time(label, || store.usage_report(from, to, by));
        r?;
    }
    let (r, _) = time("report with unaligned ends (rows at the edges)", || {
        store.usage_report(
            "2026-09-01T00:17:03.250Z",
            "2026-11-29T23:42:00.000Z",
            GroupBy::Provider,
        )
    });
    r?;
    let (r, _) = time("report over one day with unaligned ends", || {
        store.usage_report(
            "2026-11-28T00:00:01.000Z",
            "2026-11-28T23:59:59.000Z",
            GroupBy::Model,
        )
    });
    r?;
    let (r, _) = time("chart series: 24 h hourly by provider", || {
        store.usage_series(
            "2026-11-29T00",
            "2026-11-30T00",
            Bucket::Hour,
            Some(GroupBy::Provider),
        )
    });
    r?;
    let (r, _) = time("chart series: 90 days daily by key", || {
        store.usage_series(
            "2026-09-01T00",
            "2026-11-30T00",
            Bucket::Day,
            Some(GroupBy::Key),
        )
    });
    r?;
    let (r, _) = time("latency percentiles: 90 days daily", || {
        store.latency_series(
            "2026-09-01T00",
            "2026-11-30T00",
            Bucket::Day,
            LatencyMetric::Latency,
        )
    });
    r?;
    let (r, _) = time("metrics over the last 7 days", || {
        store.metrics_since("2026-11-23T00:00:00.000Z")
    });
    r?;
    let (r, _) = time("prune the oldest 10 % in 5000-row batches", || {
        let cutoff = (start + chrono::TimeDelta::days(9))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut pruned = 0;
        loop {
            let n = store.prune_requests(&cutoff, 5000)?;
            pruned += n;
            if n < 5000 {
                break;
            }
        }
        Ok::<_, keygate_store::StoreError>(pruned)
    });
    println!("{:<48} {:>10}", "rows pruned", r?);
    Ok(())
}
