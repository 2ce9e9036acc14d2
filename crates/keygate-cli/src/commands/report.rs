//! `keygate report`: usage and cost over a period from the request log.

use anyhow::{Context as _, Result};
use keygate_charts::{Format, RenderOptions, Theme, render};
use keygate_core::prices::{report_period, usd_text};
use keygate_server::charts::ChartRequest;
use keygate_store::{GroupBy, UsageRow};

use crate::cli::ReportArgs;
use crate::context::{Context, usage};
use crate::output;

/// The figures' columns, after the group's: in CSV, and in tables.
const CSV_COLUMNS: [&str; 8] = [
    "requests",
    "errors",
    "failed_attempts",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "unpriced",
];
const TABLE_COLUMNS: [&str; 8] = [
    "REQUESTS",
    "ERRORS",
    "FAILED ATTEMPTS",
    "PROMPT",
    "COMPLETION",
    "CACHED",
    "COST $",
    "UNPRICED",
];

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<()> {
    let format = if ctx.json {
        "json"
    } else {
        args.format.as_str()
    };
    if !matches!(format, "table" | "csv" | "json") {
        return Err(usage(format!(
            "unknown format {format:?}: use table, csv or json"
        )));
    }
    if let Some(month) = &args.month {
        return month_summary(ctx, month, format);
    }
    let by: GroupBy = args.by.parse().map_err(usage)?;
    let (from, to) = report_period(args.from.as_deref(), args.to.as_deref(), chrono::Utc::now())
        .map_err(|(field, e)| usage(format!("--{field}: {e}")))?;
    let store = ctx.store()?;
    if let Some(path) = &args.chart {
        write_chart(&store, args, &from, &to, path)?;
    }
    let rows = store.usage_report(&from, &to, by)?;
    match format {
        "json" => output::json(&serde_json::json!({
            "from": from, "to": to, "by": args.by, "rows": rows, "total": total(&rows),
        })),
        "csv" => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(std::iter::once("group").chain(CSV_COLUMNS))?;
            for r in &rows {
                // The group is text (a model, a key label, a token name); the rest are numbers.
                let mut row = cells(r);
                row[0] = output::csv_text(&row[0]);
                out.write_record(row)?;
            }
            out.flush()?;
            Ok(())
        }
        _ => {
            if rows.is_empty() {
                println!("No requests between {from} and {to}.");
                return Ok(());
            }
            let mut table: Vec<Vec<String>> = rows.iter().map(cells).collect();
            table.push(cells(&total(&rows)));
            let by = args.by.to_uppercase();
            let header: Vec<&str> = std::iter::once(by.as_str()).chain(TABLE_COLUMNS).collect();
            output::table(&header, &table);
            Ok(())
        }
    }
}

fn cells(r: &UsageRow) -> Vec<String> {
    let name = if r.label == r.group {
        r.group.clone()
    } else {
        format!("{} ({})", r.label, r.group)
    };
    vec![
        name,
        r.requests.to_string(),
        r.errors.to_string(),
        r.failed_attempts.to_string(),
        r.prompt_tokens.to_string(),
        r.completion_tokens.to_string(),
        r.cached_tokens.to_string(),
        usd_text(r.cost_micros),
        r.unpriced.to_string(),
    ]
}

fn total(rows: &[UsageRow]) -> UsageRow {
    let sum = |f: fn(&UsageRow) -> u64| rows.iter().map(f).sum();
    UsageRow {
        group: "total".into(),
        label: "total".into(),
        requests: sum(|r| r.requests),
        errors: sum(|r| r.errors),
        failed_attempts: sum(|r| r.failed_attempts),
        prompt_tokens: sum(|r| r.prompt_tokens),
        completion_tokens: sum(|r| r.completion_tokens),
        cached_tokens: sum(|r| r.cached_tokens),
        cost_micros: sum(|r| r.cost_micros),
        unpriced: sum(|r| r.unpriced),
    }
}

/// `[from, to)` of a UTC month written `YYYY-MM`, in the stored time form.
fn month_bounds(month: &str) -> Result<(String, String)> {
    let bad = || usage(format!("--month {month:?}: write a month like 2026-11"));
    let start =
        chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").map_err(|_| bad())?;
    if month.len() != 7 {
        return Err(bad());
    }
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(bad)?;
    let at = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    Ok((at(start), at(end)))
}

/// `keygate report --month YYYY-MM`: the month's usage and cost by provider and by key, with
/// its total; one table each, one CSV with a `section` column, or one JSON object.
fn month_summary(ctx: &Context, month: &str, format: &str) -> Result<()> {
    let (from, to) = month_bounds(month)?;
    let store = ctx.store()?;
    let providers = store.usage_report(&from, &to, GroupBy::Provider)?;
    let keys = store.usage_report(&from, &to, GroupBy::Key)?;
    let sum = total(&providers);
    match format {
        "json" => output::json(&serde_json::json!({
            "month": month, "from": from, "to": to,
            "providers": providers, "keys": keys, "total": sum,
        })),
        "csv" => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(["section", "group"].into_iter().chain(CSV_COLUMNS))?;
            let sections = [("provider", &providers), ("key", &keys)];
            for (section, rows) in sections {
                for r in rows.iter() {
                    let mut row = cells(r);
                    row[0] = output::csv_text(&row[0]);
                    out.write_record(std::iter::once(section.to_string()).chain(row))?;
                }
            }
            let mut row = cells(&sum);
            row[0] = "total".into();
            out.write_record(std::iter::once("total".to_string()).chain(row))?;
            out.flush()?;
            Ok(())
        }
        _ => {
            if providers.is_empty() {
                println!("No requests in {month} ({from} to {to}).");
                return Ok(());
            }
            println!("Usage in {month} (UTC)\n");
            for (title, rows) in [("PROVIDER", &providers), ("KEY", &keys)] {
                let mut table: Vec<Vec<String>> = rows.iter().map(cells).collect();
                table.push(cells(&sum));
                let header: Vec<&str> = std::iter::once(title).chain(TABLE_COLUMNS).collect();
                output::table(&header, &table);
                println!();
            }
            Ok(())
        }
    }
}

/// Draws the report's period as a chart file; the format follows the file's extension.
fn write_chart(
    store: &keygate_store::Store,
    args: &ReportArgs,
    from: &str,
    to: &str,
    path: &std::path::Path,
) -> Result<()> {
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => Format::Svg,
        Some("png") => Format::Png,
        _ => {
            return Err(usage(format!(
                "--chart {}: the file must end in .svg or .png",
                path.display()
            )));
        }
    };
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.to_utc())
            .map_err(|e| anyhow::anyhow!("bad period bound {t:?}: {e}"))
    };
    let (start, end) = (parse(from)?, parse(to)?);
    let hours = ((end - start).num_minutes() + 59)
        .div_euclid(60)
        .clamp(1, 365 * 24);
    let split = match args.by.as_str() {
        "day" | "hour" => None,
        other => Some(other),
    };
    let request = ChartRequest::parse(&args.chart_of, Some(&format!("{hours}h")), split).map_err(
        |problems| {
            let text: Vec<String> = problems
                .into_iter()
                .map(|(field, e)| match field {
                    "name" => format!("--chart-of: {e}"),
                    _ => format!("--{field}: {e}"),
                })
                .collect();
            usage(text.join("; "))
        },
    )?;
    let last = end - chrono::TimeDelta::milliseconds(1);
    let chart = keygate_server::charts::build(store, &request, last)?;
    let options = RenderOptions {
        theme: if args.dark { Theme::Dark } else { Theme::Light },
        format,
        ..RenderOptions::default()
    };
    let bytes = render(&chart, &options)?;
    std::fs::write(path, bytes)
        .with_context(|| format!("could not write the chart to {}", path.display()))?;
    eprintln!("chart: {} ({})", path.display(), chart.title);
    Ok(())
}
