//! `keygate report`: usage and cost over a period from the request log.

use anyhow::{Context as _, Result};
use keygate_charts::{Format, RenderOptions, Theme, render};
use keygate_core::prices::{report_period, usd_text};
use keygate_server::charts::ChartRequest;
use keygate_store::{GroupBy, UsageRow};

use crate::cli::ReportArgs;
use crate::context::{Context, usage};
use crate::output;

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<()> {
    let by: GroupBy = args.by.parse().map_err(usage)?;
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
            out.write_record([
                "group",
                "requests",
                "errors",
                "failed_attempts",
                "prompt_tokens",
                "completion_tokens",
                "cached_tokens",
                "cost_usd",
                "unpriced",
            ])?;
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
            output::table(
                &[
                    &args.by.to_uppercase(),
                    "REQUESTS",
                    "ERRORS",
                    "FAILED ATTEMPTS",
                    "PROMPT",
                    "COMPLETION",
                    "CACHED",
                    "COST $",
                    "UNPRICED",
                ],
                &table,
            );
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
