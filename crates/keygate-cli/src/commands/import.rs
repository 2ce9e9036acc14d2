use super::engine::{self, Change};
use crate::cli::ImportArgs;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result, anyhow};
use keygate_core::import::{ImportError, parse_csv, parse_lines, parse_toml};
use keygate_server::key_admin::{ImportPlan, plan_import, store_keys};

pub fn run(ctx: &Context, args: ImportArgs) -> Result<()> {
    let shown = args.file.display().to_string();
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {shown}"))?;
    let env = |name: &str| std::env::var(name).ok();
    let extension = args
        .file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let parsed = match extension.as_deref() {
        _ if args.provider.is_some() => {
            parse_lines(&shown, &text, args.provider.as_deref().unwrap_or_default())
        }
        Some("csv") => parse_csv(&shown, &text, &env),
        Some("toml") => parse_toml(&shown, &text, &env),
        _ => {
            return Err(UsageError(format!(
                "{shown}: the file must end in .csv or .toml, or give --provider P for one key per line"
            ))
            .into());
        }
    };
    let rows = parsed.map_err(report)?;
    let mut store = ctx.store()?;
    let plan = plan_import(&store, &ctx.vault, &shown, &rows).map_err(report)?;
    if args.dry_run {
        return preview(ctx, &shown, &plan);
    }
    store_keys(&ctx.vault, &mut store, &plan.providers, &plan.pending)
        .with_context(|| format!("{shown}: nothing was imported"))?;
    engine::apply(ctx, Change::Catalog);
    if ctx.json {
        let ids: Vec<&str> = plan.pending.iter().map(|p| p.key.id.as_str()).collect();
        return output::json(&serde_json::json!({ "imported": ids }));
    }
    println!("Imported {} key(s) from {shown}.", plan.pending.len());
    Ok(())
}

fn preview(ctx: &Context, shown: &str, plan: &ImportPlan) -> Result<()> {
    let (providers, pending) = (&plan.providers, &plan.pending);
    if ctx.json {
        let keys: Vec<serde_json::Value> = pending
            .iter()
            .map(|p| serde_json::json!({ "provider": p.key.provider, "label": p.key.label, "fingerprint": p.key.fingerprint, "secret_ref": p.key.secret_ref }))
            .collect();
        return output::json(
            &serde_json::json!({ "dry_run": true, "new_providers": providers.iter().map(|p| &p.name).collect::<Vec<_>>(), "keys": keys }),
        );
    }
    println!("{shown} is valid. Would import {} key(s):", pending.len());
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|p| {
            vec![
                p.key.provider.clone(),
                p.key.label.clone(),
                p.key.fingerprint.clone(),
                p.key.secret_ref.clone(),
            ]
        })
        .collect();
    output::table(&["PROVIDER", "LABEL", "FINGERPRINT", "SECRET"], &rows);
    for provider in providers {
        println!("Would create provider {} from its preset.", provider.name);
    }
    println!("Nothing was imported (--dry-run).");
    Ok(())
}

fn report(errors: Vec<ImportError>) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    anyhow!(
        "the import file has {} problem(s); nothing was imported:\n  {}",
        lines.len(),
        lines.join("\n  ")
    )
}
