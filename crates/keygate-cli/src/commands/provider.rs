use std::collections::BTreeMap;

use anyhow::Result;
use keygate_core::provider::{
    PRESETS, ProviderKind, find_preset, validate_base_url, validate_provider_name,
};
use keygate_store::NewProvider;

use super::engine::{self, Change};
use crate::cli::{ProviderAddArgs, ProviderCommand};
use crate::context::{Context, usage};
use crate::output;

/// Headers that would carry a credential: keys belong in the keyring, not in provider config.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "proxy-authorization",
    "cookie",
];

pub fn run(ctx: &Context, command: ProviderCommand) -> Result<()> {
    match command {
        ProviderCommand::Add(args) => add(ctx, args),
        ProviderCommand::List => list(ctx),
        ProviderCommand::Rm { name } => {
            ctx.store()?.delete_provider(&name)?;
            engine::apply(ctx, Change::Catalog);
            println!("Removed provider {name}.");
            Ok(())
        }
        ProviderCommand::Presets => presets(ctx),
    }
}

fn add(ctx: &Context, args: ProviderAddArgs) -> Result<()> {
    validate_provider_name(&args.name).map_err(usage)?;
    keygate_core::bounds::check_priority(args.priority)
        .map_err(|e| usage(format!("--priority {e}")))?;
    let preset = find_preset(&args.name);
    let kind = match (&args.kind, preset) {
        (Some(kind), _) => kind
            .parse::<ProviderKind>()
            .map_err(|e| usage(e.to_string()))?,
        (None, Some(preset)) => preset.kind,
        (None, None) => {
            return Err(usage(format!(
                "provider {:?} is not a preset: give --kind (openai, anthropic, gemini or azure)",
                args.name
            )));
        }
    };
    let base_url = match (&args.base_url, preset) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Some(preset)) if !preset.base_url.is_empty() => preset.base_url.to_string(),
        _ => return Err(usage(format!("provider {:?} needs --base-url", args.name))),
    };
    validate_base_url(&base_url).map_err(usage)?;
    let headers = parse_headers(&args.headers)?;
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

fn parse_headers(raw: &[String]) -> Result<BTreeMap<String, String>> {
    let mut headers = BTreeMap::new();
    for item in raw {
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| usage(format!("invalid --header {item:?}: write NAME:VALUE")))?;
        let name = name.trim().to_ascii_lowercase();
        let valid_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid_name {
            return Err(usage(format!("invalid header name {name:?}")));
        }
        if CREDENTIAL_HEADERS.contains(&name.as_str()) {
            return Err(usage(format!(
                "header {name:?} would carry a credential in plain configuration; add the key with `keygate key add` so it lives in the OS keyring"
            )));
        }
        if let Err(e) = keygate_core::bounds::check_name(value) {
            return Err(usage(format!("invalid value for header {name:?}: it {e}")));
        }
        headers.insert(name, value.trim().to_string());
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
