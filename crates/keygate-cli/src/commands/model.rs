//! `keygate model list | price`: the prices KeyGate uses for cost and `lowest_cost` routes.

use anyhow::Result;
use keygate_core::key::parse_usd_micros;
use keygate_core::prices::{PRICES_AS_OF, Price, builtin_prices, period_bound, usd_text};
use keygate_store::PriceRow;
use serde::Serialize;

use crate::cli::ModelCommand;
use crate::context::{Context, usage};
use crate::output;

#[derive(Serialize)]
struct PriceView {
    provider: String,
    model: String,
    input_usd: String,
    output_usd: String,
    cached_usd: String,
    /// `built-in (as of …)` or `set, from …`.
    source: String,
}

pub fn run(ctx: &Context, command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::List { provider } => list(ctx, provider.as_deref()),
        ModelCommand::Price {
            model,
            input,
            output,
            cached,
            provider,
            from,
        } => {
            let dollars = |field: &str, text: &str| {
                parse_usd_micros(text)
                    .ok()
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| {
                        usage(format!(
                            "--{field}: {text:?} is not a price in USD per million tokens (like 2.50)"
                        ))
                    })
            };
            if model.trim().is_empty() || model.len() > 200 {
                return Err(usage("give a model name or prefix"));
            }
            let input_micros = dollars("input", &input)?;
            let row = PriceRow {
                provider: provider.unwrap_or_else(|| "*".into()),
                model: model.trim().to_string(),
                effective_from: match from {
                    Some(text) => period_bound(&text).map_err(usage)?,
                    None => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                },
                input_micros,
                output_micros: dollars("output", &output)?,
                cached_micros: match cached {
                    Some(text) => dollars("cached", &text)?,
                    None => input_micros,
                },
            };
            ctx.store()?.set_price(&row)?;
            println!(
                "{} on {}: ${} in / ${} out / ${} cached per 1M tokens from {}.",
                row.model,
                row.provider,
                usd_text(row.input_micros),
                usd_text(row.output_micros),
                usd_text(row.cached_micros),
                row.effective_from
            );
            Ok(())
        }
    }
}

fn list(ctx: &Context, provider: Option<&str>) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let set = ctx.store()?.list_prices()?;
    let view = |provider: &str, model: &str, price: Price, source: String| PriceView {
        provider: provider.into(),
        model: model.into(),
        input_usd: usd_text(price.input),
        output_usd: usd_text(price.output),
        cached_usd: usd_text(price.cached_input),
        source,
    };
    // The user's prices in force now: for each (provider, model), the latest already started.
    let mut views: Vec<PriceView> = Vec::new();
    for row in set.iter().filter(|r| r.effective_from <= now) {
        let newer = set.iter().any(|o| {
            o.provider == row.provider
                && o.model == row.model
                && o.effective_from > row.effective_from
                && o.effective_from <= now
        });
        if !newer {
            let price = Price {
                input: row.input_micros,
                output: row.output_micros,
                cached_input: row.cached_micros,
            };
            views.push(view(
                &row.provider,
                &row.model,
                price,
                format!("set, from {}", &row.effective_from[..10]),
            ));
        }
    }
    for (p, model, price) in builtin_prices() {
        if !views.iter().any(|v| v.provider == p && v.model == model) {
            views.push(view(p, model, price, format!("built-in ({PRICES_AS_OF})")));
        }
    }
    views.retain(|v| provider.is_none_or(|p| v.provider == p || v.provider == "*"));
    if ctx.json {
        return output::json(&views);
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.provider.clone(),
                v.model.clone(),
                v.input_usd.clone(),
                v.output_usd.clone(),
                v.cached_usd.clone(),
                v.source.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "PROVIDER",
            "MODEL",
            "INPUT $/1M",
            "OUTPUT $/1M",
            "CACHED $/1M",
            "SOURCE",
        ],
        &rows,
    );
    Ok(())
}
