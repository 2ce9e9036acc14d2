use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, Result, anyhow};
use keygate_core::fingerprint::fingerprint;
use keygate_core::import::{ImportError, ImportRow, ImportSecret, parse_csv, parse_toml};
use keygate_store::{NewKey, NewProvider};
use keygate_vault::{SecretRef, Sensitive};

use super::key::{PendingKey, new_key_id, store_keys};
use super::provider::provider_to_create;
use crate::cli::ImportArgs;
use crate::context::{Context, UsageError};
use crate::output;

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
        Some("csv") => parse_csv(&shown, &text, &env),
        Some("toml") => parse_toml(&shown, &text, &env),
        _ => return Err(UsageError(format!("{shown}: the file must end in .csv or .toml")).into()),
    };
    let rows = parsed.map_err(report)?;
    let mut store = ctx.store()?;

    let mut errors = Vec::new();
    let mut providers: BTreeMap<String, NewProvider> = BTreeMap::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut pending = Vec::new();
    for row in &rows {
        match provider_to_create(&store, &row.provider) {
            Ok(Some(p)) => {
                providers.insert(p.name.clone(), p);
            }
            Ok(None) => {}
            Err(message) => errors.push(ImportError {
                file: shown.clone(),
                line: row.line,
                message,
            }),
        }
        match pending_key(ctx, row) {
            Ok(item) => {
                let dup_key = (row.provider.clone(), item.key.fingerprint.clone());
                if let Some(first) = seen.insert(dup_key, row.line) {
                    errors.push(ImportError {
                        file: shown.clone(),
                        line: row.line,
                        message: format!("the same secret as line {first}"),
                    });
                }
                pending.push(item);
            }
            Err(message) => errors.push(ImportError {
                file: shown.clone(),
                line: row.line,
                message,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(report(errors));
    }

    if args.dry_run {
        return preview(ctx, &shown, &providers, &pending);
    }
    let providers: Vec<NewProvider> = providers.into_values().collect();
    store_keys(&ctx.vault, &mut store, &providers, &pending)
        .with_context(|| format!("{shown}: nothing was imported"))?;
    if ctx.json {
        let ids: Vec<&str> = pending.iter().map(|p| p.key.id.as_str()).collect();
        return output::json(&serde_json::json!({ "imported": ids }));
    }
    println!("Imported {} key(s) from {shown}.", pending.len());
    Ok(())
}

fn pending_key(ctx: &Context, row: &ImportRow) -> Result<PendingKey, String> {
    let id = new_key_id();
    let (secret_ref, secret) = match &row.secret {
        ImportSecret::Literal(value) => (SecretRef::Keyring, Sensitive::new(value.clone())),
        ImportSecret::EnvRef(var) => {
            let secret_ref = SecretRef::env(var).map_err(|e| e.to_string())?;
            let value = ctx
                .vault
                .resolve(&secret_ref, &id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("environment variable {var} is not set or empty"))?;
            (secret_ref, value)
        }
    };
    let label = row
        .label
        .clone()
        .unwrap_or_else(|| format!("{}-line{}", row.provider, row.line));
    let key = NewKey {
        id,
        provider: row.provider.clone(),
        label,
        fingerprint: fingerprint(secret.expose()),
        secret_ref: secret_ref.to_string(),
        tags: row.tags.clone(),
        priority: row.priority,
        weight: row.weight,
        limits: row.limits.clone(),
        expires_at: None,
    };
    let keyring_secret = matches!(secret_ref, SecretRef::Keyring).then_some(secret);
    Ok(PendingKey {
        key,
        keyring_secret,
    })
}

fn preview(
    ctx: &Context,
    shown: &str,
    providers: &BTreeMap<String, NewProvider>,
    pending: &[PendingKey],
) -> Result<()> {
    if ctx.json {
        let keys: Vec<serde_json::Value> = pending
            .iter()
            .map(|p| serde_json::json!({ "provider": p.key.provider, "label": p.key.label, "fingerprint": p.key.fingerprint, "secret_ref": p.key.secret_ref }))
            .collect();
        return output::json(
            &serde_json::json!({ "dry_run": true, "new_providers": providers.keys().collect::<Vec<_>>(), "keys": keys }),
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
    for name in providers.keys() {
        println!("Would create provider {name} from its preset.");
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
