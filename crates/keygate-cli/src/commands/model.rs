//! `keygate model list | price | sync`: the models KeyGate knows, their prices (for cost and
//! `lowest_cost` routes), limits and abilities.

use anyhow::Result;
use keygate_core::prices::usd_text;
use keygate_server::model_catalog::{ModelEntry, entries, price_row};

use super::engine::{self, Change};
use crate::cli::{ModelCommand, PricesCommand};
use crate::context::{Context, usage};
use crate::output;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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
            let row = price_row(
                provider.as_deref(),
                &model,
                &input,
                &output,
                cached.as_deref(),
                from.as_deref(),
                &now(),
            )
            .map_err(|problems| {
                let text: Vec<String> = problems
                    .into_iter()
                    .map(|(field, e)| match field {
                        "model" => e,
                        _ => format!("--{field}: {e}"),
                    })
                    .collect();
                usage(text.join("; "))
            })?;
            ctx.store()?.set_price(&row)?;
            engine::apply(ctx, Change::Catalog);
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
        ModelCommand::Sync { provider } => sync(ctx, &provider),
        ModelCommand::Prices {
            command: PricesCommand::Refresh { from, effective },
        } => refresh_prices(ctx, &from, effective.as_deref()),
    }
}

/// Through the running engine when there is one (its keys and secrets are live), else here.
fn sync(ctx: &Context, provider: &str) -> Result<()> {
    let mut store = ctx.store()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = serde_json::json!({ "provider": provider });
    let (models, key) = match runtime.block_on(super::engine::post(ctx, "/api/models/sync", &body))
    {
        Some((status, answer)) if status.is_success() => {
            let list = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|m| m.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            (
                list(&answer["models"]),
                answer["key"].as_str().unwrap_or("?").to_string(),
            )
        }
        Some((_, answer)) => {
            return Err(anyhow::anyhow!(
                "{}",
                answer["error"]["message"]
                    .as_str()
                    .unwrap_or("the engine refused the sync")
            ));
        }
        None => runtime
            .block_on(keygate_server::health::sync_models(
                &mut store, &ctx.vault, provider,
            ))
            .map_err(anyhow::Error::msg)?,
    };
    let listed = entries(&store, Some(provider), &now())?;
    let unpriced: Vec<&ModelEntry> = listed.iter().filter(|e| e.synced && !e.priced).collect();
    if ctx.json {
        return output::json(&serde_json::json!({
            "provider": provider, "key": key, "models": models,
            "unpriced": unpriced.iter().map(|e| &e.model).collect::<Vec<_>>(),
        }));
    }
    println!(
        "{provider}: {} models listed (through key {key:?}); {} without a price.",
        models.len(),
        unpriced.len()
    );
    for e in &unpriced {
        println!("  no price: {}", e.model);
    }
    if !unpriced.is_empty() {
        println!(
            "Set one with: keygate model price MODEL --provider {provider} --input USD --output USD"
        );
    }
    Ok(())
}

/// The largest catalog read (models.dev's is a few MB).
const MAX_CATALOG_BYTES: usize = 64 * 1024 * 1024;

fn refresh_prices(ctx: &Context, from: &str, effective: Option<&str>) -> Result<()> {
    let effective_from = match effective {
        Some(text) => keygate_core::prices::period_bound(text)
            .map_err(|e| usage(format!("--effective: {e}")))?,
        None => now(),
    };
    let bytes = if from.starts_with("http://") || from.starts_with("https://") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(from)
                .timeout(std::time::Duration::from_secs(60))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot fetch {from}: {}", e.without_url()))?;
            if !response.status().is_success() {
                anyhow::bail!("{from} answered HTTP {}", response.status().as_u16());
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read {from}: {}", e.without_url()))?;
            Ok(body.to_vec())
        })?
    } else {
        std::fs::read(from).map_err(|e| usage(format!("cannot read {from}: {e}")))?
    };
    if bytes.len() > MAX_CATALOG_BYTES {
        return Err(usage(format!(
            "{from} is over {} MiB: not a price catalog",
            MAX_CATALOG_BYTES / (1024 * 1024)
        )));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| usage(format!("{from} is not JSON: {e}")))?;
    let prices = keygate_core::prices::read_price_catalog(&json)
        .map_err(|e| usage(format!("{from}: {e}")))?;
    let rows: Vec<keygate_store::PriceRow> = prices
        .into_iter()
        .map(|(provider, model, price)| keygate_store::PriceRow {
            provider,
            model,
            effective_from: effective_from.clone(),
            input_micros: price.input.min(keygate_core::bounds::MAX_PRICE_MICROS),
            output_micros: price.output.min(keygate_core::bounds::MAX_PRICE_MICROS),
            cached_micros: price
                .cached_input
                .min(keygate_core::bounds::MAX_PRICE_MICROS),
        })
        .filter(|r| {
            keygate_core::bounds::check_name(&r.provider).is_ok()
                && keygate_core::bounds::check_name(&r.model).is_ok()
        })
        .collect();
    let providers: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.provider.as_str()).collect();
    let source = std::path::Path::new(from)
        .file_name()
        .filter(|_| !from.contains("://"))
        .map_or_else(|| from.to_string(), |f| f.to_string_lossy().into_owned());
    let count = ctx.store()?.import_catalog_prices(&rows, &source, &now())?;
    engine::apply(ctx, Change::Catalog);
    if ctx.json {
        return output::json(&serde_json::json!({
            "source": source, "models": count, "providers": providers.len(),
            "effective_from": effective_from,
        }));
    }
    println!(
        "Imported {count} prices for {} providers from {source}, in effect from {effective_from}. Your own prices (keygate model price) still win.",
        providers.len()
    );
    Ok(())
}

fn list(ctx: &Context, provider: Option<&str>) -> Result<()> {
    let store = ctx.store()?;
    let views = entries(&store, provider, &now())?;
    if ctx.json {
        return output::json(&views);
    }
    match store.last_price_import()? {
        Some(import) => println!(
            "Prices: built-in as of {}; last import {} from {} ({} models).",
            keygate_core::prices::PRICES_AS_OF,
            import.imported_at.get(..10).unwrap_or(&import.imported_at),
            import.source,
            import.models
        ),
        None => println!(
            "Prices: built-in as of {}; none imported (keygate model prices refresh --from https://models.dev/api.json).",
            keygate_core::prices::PRICES_AS_OF
        ),
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.provider.clone(),
                v.model.clone(),
                dash(&v.input_usd),
                dash(&v.output_usd),
                dash(&v.cached_usd),
                v.abilities
                    .context_window
                    .map_or("-".into(), |c| format!("{}k", c / 1000)),
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
            "CONTEXT",
            "SOURCE",
        ],
        &rows,
    );
    Ok(())
}
