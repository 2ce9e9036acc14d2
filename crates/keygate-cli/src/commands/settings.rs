use anyhow::Result;
use keygate_server::proxy::{SETTINGS, applies_live, validate_setting};

use super::engine::{self, Change};
use serde::Serialize;

use crate::cli::SettingsCommand;
use crate::context::{Context, usage};
use crate::output;

#[derive(Serialize)]
struct SettingView {
    name: &'static str,
    value: u64,
    default: u64,
    about: &'static str,
}

pub fn run(ctx: &Context, command: SettingsCommand) -> Result<()> {
    match command {
        SettingsCommand::List => list(ctx),
        SettingsCommand::Set { name, value } => {
            validate_setting(&name, value).map_err(usage)?;
            ctx.store()?.set_setting(&name, &value)?;
            engine::apply(ctx, Change::Catalog);
            println!("{name} = {value}{}", when(&name));
            Ok(())
        }
        SettingsCommand::Reset { name } => {
            let Some((_, _, default)) = SETTINGS.iter().find(|(n, _, _)| *n == name) else {
                validate_setting(&name, 0).map_err(usage)?;
                return Ok(());
            };
            ctx.store()?.remove_setting(&name)?;
            engine::apply(ctx, Change::Catalog);
            println!("{name} = {default} (the default){}", when(&name));
            Ok(())
        }
    }
}

/// When a running engine applies the change.
fn when(name: &str) -> &'static str {
    if applies_live(name) {
        "; a running engine uses it from its next request."
    } else {
        "; a running engine applies it when restarted."
    }
}

fn list(ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let views = SETTINGS
        .iter()
        .map(|&(name, about, default)| {
            let value = store
                .get_setting::<u64>(name)?
                .filter(|v| validate_setting(name, *v).is_ok())
                .unwrap_or(default);
            Ok(SettingView {
                name,
                value,
                default,
                about,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if ctx.json {
        return output::json(&views);
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.name.to_string(),
                v.value.to_string(),
                v.default.to_string(),
                v.about.to_string(),
            ]
        })
        .collect();
    output::table(&["SETTING", "VALUE", "DEFAULT", "MEANING"], &rows);
    Ok(())
}
