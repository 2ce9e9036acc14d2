//! `keygate connect [TOOL] [--dry-run] [--undo] [--status] [--json] [--model M]`: the same
//! [`Connector`] the admin API uses, on this home's store, then the engine is told of the
//! tool's new token.

use anyhow::Result;
use keygate_core::connect::Tool;
use keygate_server::connect::{ConnectOptions, Connector, ServeFrom, ToolState};
use keygate_server::health::EngineInfo;

use super::engine::{self, Change};
use crate::cli::ConnectArgs;
use crate::context::{Context, usage};
use crate::output::{self, or_dash};

pub fn run(ctx: &Context, args: &ConnectArgs) -> Result<()> {
    // The address tools are given: the running engine's port, else KEYGATE_PORT or 5397.
    let port = EngineInfo::read(&ctx.home)
        .map(|info| info.port)
        .or_else(|| std::env::var("KEYGATE_PORT").ok()?.parse().ok())
        .unwrap_or(5397);
    let connector = Connector::from_env(&ctx.home, format!("http://127.0.0.1:{port}"))?;
    let Some(name) = args.tool.as_deref().filter(|_| !args.status) else {
        if args.dry_run || args.undo || args.model.is_some() {
            return Err(usage(
                "name the tool: keygate connect TOOL --dry-run|--undo",
            ));
        }
        return status(ctx, &connector);
    };
    let tool = Tool::parse(name).map_err(|e| usage(e.to_string()))?;
    let mut store = ctx.store()?;
    if args.undo {
        let outcome = connector.undo(&mut store, tool)?;
        engine::apply(ctx, Change::Catalog);
        if ctx.json {
            return output::json(&outcome);
        }
        for file in &outcome.files {
            println!("{:<10} {}", file.action, file.path);
        }
        for alias in &outcome.routes_restored {
            println!("route {alias} put back as it was");
        }
        match &outcome.token_revoked {
            Some(token) => println!(
                "Disconnected {}; its token {token} is revoked.",
                tool.title()
            ),
            None => println!("Disconnected {}.", tool.title()),
        }
        return Ok(());
    }
    if let Some(model) = &args.model {
        keygate_core::token::validate_model_glob(model).map_err(usage)?;
    }
    let serve_from = match &args.serve_from {
        Some(text) => {
            let (provider, model) = text
                .split_once(':')
                .filter(|(p, m)| !p.is_empty() && !m.is_empty())
                .ok_or_else(|| {
                    usage(format!(
                        "--serve-from {text:?}: use PROVIDER:MODEL, e.g. deepseek:deepseek-chat"
                    ))
                })?;
            Some(ServeFrom {
                provider: provider.to_string(),
                model: model.to_string(),
                fast_model: args.fast_model.clone(),
            })
        }
        None => None,
    };
    let options = ConnectOptions {
        dry_run: args.dry_run,
        model: args.model.clone(),
        serve_from,
    };
    let outcome = connector.connect(&mut store, tool, &options)?;
    if !outcome.dry_run {
        engine::apply(ctx, Change::Catalog);
    }
    if ctx.json {
        return output::json(&outcome);
    }
    for file in &outcome.files {
        if file.changed {
            print!("{}", file.diff);
        }
    }
    for route in &outcome.routes {
        let replaced = route
            .replaced
            .as_ref()
            .map_or_else(String::new, |before| format!(" (was {before})"));
        println!("route {} -> {}{replaced}", route.alias, route.to);
    }
    if !outcome.changed && outcome.routes.is_empty() {
        println!(
            "{} already points at KeyGate; nothing to change.",
            tool.title()
        );
    } else if outcome.dry_run {
        println!(
            "\nDry run: nothing was written. Run without --dry-run to connect {}.",
            tool.title()
        );
    } else {
        let backups: Vec<&str> = outcome
            .files
            .iter()
            .filter_map(|f| f.backup.as_deref())
            .collect();
        println!(
            "\nConnected {} with the token {}{}.",
            tool.title(),
            outcome.token,
            if outcome.token_created { " (new)" } else { "" }
        );
        if !backups.is_empty() {
            println!("Backup of the files as they were: {}", backups.join(", "));
        }
        println!("Undo with: keygate connect {} --undo", tool.id());
    }
    Ok(())
}

fn status(ctx: &Context, connector: &Connector) -> Result<()> {
    let tools = connector.status(&ctx.store()?)?;
    if ctx.json {
        return output::json(&tools);
    }
    let rows: Vec<Vec<String>> = tools
        .iter()
        .map(|t| {
            vec![
                t.tool.to_string(),
                if t.installed { "yes" } else { "no" }.to_string(),
                match t.state {
                    ToolState::Connected => "connected",
                    ToolState::NotConnected => "not connected",
                    ToolState::Drifted => "drifted",
                }
                .to_string(),
                or_dash(t.token.as_ref()),
                or_dash(t.last_used_at.as_ref()),
                if t.state == ToolState::Connected {
                    String::new()
                } else {
                    t.detail.clone()
                },
            ]
        })
        .collect();
    output::table(
        &["TOOL", "INSTALLED", "STATE", "TOKEN", "LAST USED", "WHY"],
        &rows,
    );
    Ok(())
}
