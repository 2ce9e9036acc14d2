//! `keygate model list | price | sync`: the models KeyGate knows, their prices (for cost and
//! `lowest_cost` routes), limits and abilities.

use anyhow::Result;
use keygate_core::prices::usd_text;
use keygate_server::model_catalog::{ModelEntry, entries, price_row};

use super::engine::{self, Change};
use crate::cli::ModelCommand;
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

fn list(ctx: &Context, provider: Option<&str>) -> Result<()> {
    let views = entries(&ctx.store()?, provider, &now())?;
    if ctx.json {
        return output::json(&views);
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
