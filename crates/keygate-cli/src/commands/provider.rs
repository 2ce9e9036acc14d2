use std::collections::BTreeMap;

use anyhow::Result;
use keygate_core::provider::{
    API_VERSION_HEADER, PRESETS, ProviderKind, check_api_version, check_header, new_provider_parts,
    validate_base_url,
};
use keygate_store::{NewProvider, ProviderEdit, StoreError};
use keygate_vault::SecretRef;

use super::engine::{self, Change};
use crate::cli::{ProviderAddArgs, ProviderCommand, ProviderEditArgs};
use crate::context::{Context, usage};
use crate::output;

pub fn run(ctx: &Context, command: ProviderCommand) -> Result<()> {
    match command {
        ProviderCommand::Add(args) => add(ctx, args),
        ProviderCommand::List => list(ctx),
        ProviderCommand::Edit(args) => edit(ctx, args),
        ProviderCommand::Rm { name, with_keys } => remove(ctx, &name, with_keys),
        ProviderCommand::Presets => presets(ctx),
    }
}

fn add(ctx: &Context, args: ProviderAddArgs) -> Result<()> {
    keygate_core::bounds::check_priority(args.priority)
        .map_err(|e| usage(format!("--priority {e}")))?;
    let (kind, base_url) =
        new_provider_parts(&args.name, args.kind.as_deref(), args.base_url.as_deref()).map_err(
            |e| {
                usage(
                    e.replace("a base URL", "--base-url")
                        .replace("its kind", "--kind"),
                )
            },
        )?;
    let mut headers = parse_headers(&args.headers)?;
    if let Some(version) = &args.api_version {
        check_api_version(version).map_err(|e| usage(format!("--api-version: {e}")))?;
        headers.insert(API_VERSION_HEADER.to_string(), version.clone());
    }
    ctx.store()?.insert_provider(&NewProvider {
        name: args.name.clone(),
        kind,
        base_url: base_url.clone(),
        headers,
        priority: args.priority,
    })?;
    engine::apply(ctx, Change::Catalog);
    if ctx.json {
        return output::json(
            &serde_json::json!({ "name": args.name, "kind": kind, "base_url": base_url }),
        );
    }
    println!("Added provider {} ({kind}, {base_url}).", args.name);
    Ok(())
}

fn edit(ctx: &Context, args: ProviderEditArgs) -> Result<()> {
    let mut edit = ProviderEdit {
        kind: args
            .kind
            .as_deref()
            .map(|k| k.parse::<ProviderKind>().map_err(|e| usage(e.to_string())))
            .transpose()?,
        base_url: args
            .base_url
            .as_deref()
            .map(|url| {
                let url = url.trim().trim_end_matches('/').to_string();
                validate_base_url(&url).map(|()| url).map_err(usage)
            })
            .transpose()?,
        priority: args.priority,
        enabled: (args.enable || args.disable).then_some(args.enable),
        ..ProviderEdit::default()
    };
    if let Some(priority) = edit.priority {
        keygate_core::bounds::check_priority(priority)
            .map_err(|e| usage(format!("--priority {e}")))?;
    }
    for (name, value) in parse_headers(&args.headers)? {
        edit.headers.insert(name, Some(value));
    }
    for name in &args.unset_headers {
        edit.headers.insert(name.trim().to_ascii_lowercase(), None);
    }
    if let Some(version) = &args.api_version {
        check_api_version(version).map_err(|e| usage(format!("--api-version: {e}")))?;
        edit.headers
            .insert(API_VERSION_HEADER.to_string(), Some(version.clone()));
    }
    if edit == ProviderEdit::default() {
        return Err(usage(
            "say what to change: --base-url, --kind, --header, --unset-header, --api-version, --priority, --enable or --disable",
        ));
    }
    let row = ctx
        .store()?
        .edit_provider(&args.name, &edit)
        .map_err(|e| match e {
            StoreError::NotFound(m) => usage(m),
            other => other.into(),
        })?;
    engine::apply(ctx, Change::Catalog);
    if ctx.json {
        return output::json(&row);
    }
    println!(
        "{} ({}, {}): priority {} · {}",
        row.name,
        row.kind,
        row.base_url,
        row.priority,
        if row.enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

fn remove(ctx: &Context, name: &str, with_keys: bool) -> Result<()> {
    let removal = ctx.store()?.remove_provider(name, with_keys)?;
    engine::apply(ctx, Change::Catalog);
    let mut leftovers = Vec::new();
    for key in &removal.keys {
        if key.secret_ref == SecretRef::Keyring.to_string()
            && let Err(err) = ctx.vault.remove(&key.id)
        {
            leftovers.push(format!("{}: {err}", key.id));
        }
    }
    if ctx.json {
        output::json(&serde_json::json!({
            "name": name,
            "keys_removed": removal.keys.iter().map(|k| &k.id).collect::<Vec<_>>(),
            "routes_changed": removal.routes_changed,
            "routes_removed": removal.routes_removed,
        }))?;
    } else {
        let mut took = Vec::new();
        if !removal.keys.is_empty() {
            took.push(format!("{} key(s)", removal.keys.len()));
        }
        if !removal.routes_removed.is_empty() {
            took.push(format!("route(s) {}", removal.routes_removed.join(", ")));
        }
        if took.is_empty() {
            println!("Removed provider {name}.");
        } else {
            println!("Removed provider {name} with {}.", took.join(" and "));
        }
        if !removal.routes_changed.is_empty() {
            println!(
                "Route(s) {} no longer try {name}.",
                removal.routes_changed.join(", ")
            );
        }
    }
    if !leftovers.is_empty() {
        return Err(anyhow::anyhow!(
            "the keys are removed from KeyGate, but their keyring entries (service {:?}) could not be deleted: {}",
            ctx.vault.service(),
            leftovers.join("; ")
        ));
    }
    Ok(())
}

fn parse_headers(raw: &[String]) -> Result<BTreeMap<String, String>> {
    let mut headers = BTreeMap::new();
    for item in raw {
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| usage(format!("invalid --header {item:?}: write NAME:VALUE")))?;
        let (name, value) = check_header(name, value).map_err(usage)?;
        headers.insert(name, value);
    }
    Ok(headers)
}

fn list(ctx: &Context) -> Result<()> {
    let providers = ctx.store()?.list_providers()?;
    if ctx.json {
        return output::json(&providers);
    }
    if providers.is_empty() {
        println!(
            "No providers yet. `keygate key add --provider openai` creates one from its preset."
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = providers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.kind.to_string(),
                p.base_url.clone(),
                p.key_count.to_string(),
                p.priority.to_string(),
            ]
        })
        .collect();
    output::table(&["NAME", "KIND", "BASE URL", "KEYS", "PRIORITY"], &rows);
    Ok(())
}

fn presets(ctx: &Context) -> Result<()> {
    if ctx.json {
        return output::json(PRESETS);
    }
    let rows: Vec<Vec<String>> = PRESETS
        .iter()
        .map(|p| {
            vec![
                p.name.to_string(),
                p.kind.to_string(),
                if p.base_url.is_empty() {
                    "(your endpoint)".into()
                } else {
                    p.base_url.to_string()
                },
            ]
        })
        .collect();
    output::table(&["PRESET", "KIND", "BASE URL"], &rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_refused() {
        let err = parse_headers(&["Authorization: Bearer sk-x".into()]).expect_err("refused");
        assert!(err.to_string().contains("keyring"));
        let ok = parse_headers(&["HTTP-Referer: https://me.example".into()]).expect("ok");
        assert_eq!(
            ok.get("http-referer").map(String::as_str),
            Some("https://me.example")
        );
    }
}
