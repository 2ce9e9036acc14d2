use anyhow::Result;
use keygate_core::select::{Strategy, validate_alias};
use keygate_store::RouteTier;

use super::engine::{self, Change};
use crate::cli::RouteCommand;
use crate::context::{Context, usage};
use crate::output;

pub fn run(ctx: &Context, command: RouteCommand) -> Result<()> {
    match command {
        RouteCommand::Add {
            alias,
            to,
            strategy,
        } => add(ctx, &alias, &to, &strategy),
        RouteCommand::List => list(ctx),
        RouteCommand::Rm { alias } => {
            ctx.store()?.delete_route(&alias)?;
            engine::apply(ctx, Change::Catalog);
            println!("Removed route {alias}.");
            Ok(())
        }
    }
}

fn add(ctx: &Context, alias: &str, to: &[String], strategy: &str) -> Result<()> {
    validate_alias(alias).map_err(usage)?;
    let strategy: Strategy = strategy.parse().map_err(usage)?;
    let tiers = to
        .iter()
        .map(|item| {
            let (provider, model) = item
                .split_once(':')
                .filter(|(p, m)| !p.is_empty() && !m.is_empty())
                .ok_or_else(|| {
                    usage(format!(
                        "invalid tier {item:?}: write provider:model, e.g. openai:gpt-4o"
                    ))
                })?;
            keygate_core::bounds::check_name(model)
                .map_err(|e| usage(format!("invalid tier {provider:?}: the model {e}")))?;
            Ok(RouteTier {
                provider: provider.to_string(),
                model: model.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    ctx.store()?
        .upsert_route(alias, &tiers, strategy.as_str())?;
    engine::apply(ctx, Change::Catalog);
    let shown: Vec<String> = tiers
        .iter()
        .map(|t| format!("{}:{}", t.provider, t.model))
        .collect();
    println!("Route {alias} → {} ({strategy}).", shown.join(" → "));
    Ok(())
}

fn list(ctx: &Context) -> Result<()> {
    let routes = ctx.store()?.list_routes()?;
    if ctx.json {
        return output::json(&routes);
    }
    if routes.is_empty() {
        println!(
            "No routes yet. Example: keygate route add smart --to openai:gpt-4o,deepseek:deepseek-chat"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            let tiers: Vec<String> = r
                .tiers
                .iter()
                .map(|t| format!("{}:{}", t.provider, t.model))
                .collect();
            vec![r.alias.clone(), tiers.join(" → "), r.strategy.clone()]
        })
        .collect();
    output::table(&["ALIAS", "TIERS", "STRATEGY"], &rows);
    Ok(())
}
