use anyhow::{Context as _, Result, anyhow};
use keygate_core::bounds::{check_priority, check_weight};
use keygate_core::budget::Budgets;
use keygate_core::fingerprint::fingerprint;
use keygate_core::health_machine::parse_expiry;
use keygate_core::key::{
    KeyLimits, format_usd, parse_usd_micros, validate_key_id, validate_label, validate_tag,
};
use keygate_server::KeyView;
use keygate_store::{KeyRow, NewKey, NewProvider};
use keygate_vault::SecretRef;

use super::engine::{self, Change};
use crate::cli::{BudgetArgs, KeyAddArgs, KeyCommand, LimitArgs};
use crate::context::{Context, usage};
use crate::output;
use crate::secret_input::read_secret;
use keygate_server::key_admin::{
    PendingKey, default_label, new_key_id, provider_to_create, store_keys,
};

pub fn run(ctx: &Context, command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Add(args) => add(ctx, args),
        KeyCommand::List => list(ctx),
        KeyCommand::Limits { id, limits } => set_limits(ctx, &id, &limits),
        KeyCommand::Edit {
            id,
            label,
            tags,
            priority,
            weight,
            enable,
            disable,
        } => {
            let enabled = match (enable, disable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            edit(ctx, &id, label, tags, priority, weight, enabled)
        }
        KeyCommand::Enable { ids } => set_enabled(ctx, &ids, true),
        KeyCommand::Disable { ids } => set_enabled(ctx, &ids, false),
        KeyCommand::Rm { ids } => remove(ctx, &ids),
        KeyCommand::Reset { ids, failed } => reset(ctx, &ids, failed),
        KeyCommand::Test {
            ids,
            all,
            tag,
            deep,
        } => super::key_test::run(ctx, &ids, all, tag.as_deref(), deep),
        KeyCommand::Balance {
            ids,
            all,
            low_balance,
        } => super::key_balance::run(ctx, &ids, all, low_balance.as_deref()),
    }
}

fn add(ctx: &Context, args: KeyAddArgs) -> Result<()> {
    if let Some(label) = &args.label {
        validate_label(label).map_err(usage)?;
    }
    for tag in &args.tags {
        validate_tag(tag).map_err(usage)?;
    }
    check_weight(args.weight).map_err(|e| usage(format!("--weight {e}")))?;
    check_priority(args.priority).map_err(|e| usage(format!("--priority {e}")))?;
    let limits = apply_limits(&args.limits, KeyLimits::default()).map_err(usage)?;
    let mut store = ctx.store()?;
    let new_provider = provider_to_create(&store, &args.provider).map_err(usage)?;
    let (secret_ref, secret) = match &args.secret_env {
        Some(var) => {
            let secret_ref = SecretRef::env(var).map_err(|e| usage(e.to_string()))?;
            let value = ctx
                .vault
                .resolve(&secret_ref, "")?
                .ok_or_else(|| anyhow!("environment variable {var} is not set or empty; export it before adding the key"))?;
            (secret_ref, value)
        }
        None => {
            // Fail before asking for the secret if it has nowhere to go.
            keygate_server::key_admin::keyring_secrets_allowed(&store)
                .map_err(|e| usage(e.to_string()))?;
            ctx.vault.check()?;
            let prompt = format!("API key for {} (input hidden): ", args.provider);
            (SecretRef::Keyring, read_secret(&prompt)?)
        }
    };
    let expires_at = args
        .expires
        .as_deref()
        .map(|text| {
            let at = parse_expiry(text).map_err(usage)?;
            chrono::DateTime::from_timestamp(at, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .ok_or_else(|| usage(format!("invalid expiry {text:?}")))
        })
        .transpose()?;
    let id = new_key_id();
    let label = match args.label {
        Some(label) => label,
        None => default_label(&store, &args.provider)?,
    };
    let key = NewKey {
        id: id.clone(),
        provider: args.provider.clone(),
        label,
        fingerprint: fingerprint(secret.expose()),
        secret_ref: secret_ref.to_string(),
        tags: args.tags,
        priority: args.priority,
        weight: args.weight,
        limits,
        expires_at,
    };
    let keyring_secret = matches!(secret_ref, SecretRef::Keyring).then_some(secret);
    let providers: Vec<NewProvider> = new_provider.into_iter().collect();
    store_keys(
        &ctx.vault,
        &mut store,
        &providers,
        &[PendingKey {
            key,
            keyring_secret,
        }],
    )?;
    let row = store
        .get_key(&id)?
        .context("the key vanished right after it was added")?;
    engine::apply(ctx, Change::Catalog);
    if ctx.json {
        return output::json(&KeyView::from(row));
    }
    for provider in &providers {
        println!(
            "Created provider {} from its preset ({}).",
            provider.name, provider.base_url
        );
    }
    let place = match &secret_ref {
        SecretRef::Keyring => format!("in the OS keyring (service {:?})", ctx.vault.service()),
        SecretRef::Env(var) => format!("as a reference to ${var}"),
    };
    println!(
        "Added key {id} ({}, {:?}, {}); secret kept {place}.",
        row.provider, row.label, row.fingerprint
    );
    Ok(())
}

fn list(ctx: &Context) -> Result<()> {
    let keys = ctx.store()?.list_keys()?;
    if ctx.json {
        let views: Vec<KeyView> = keys.into_iter().map(KeyView::from).collect();
        return output::json(&views);
    }
    if keys.is_empty() {
        println!("No keys yet. Add one: keygate key add --provider openai   (then paste the key)");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys.iter().map(key_row).collect();
    output::table(
        &[
            "ID",
            "PROVIDER",
            "LABEL",
            "HEALTH",
            "BALANCE",
            "FINGERPRINT",
            "TAGS",
            "PRIO",
            "SECRET",
        ],
        &rows,
    );
    Ok(())
}

fn key_row(k: &KeyRow) -> Vec<String> {
    let health = match k.health.reason {
        Some(reason) => format!("{} ({})", k.health.state, reason.describe()),
        None => k.health.state.to_string(),
    };
    vec![
        k.id.clone(),
        k.provider.clone(),
        k.label.clone(),
        health,
        super::key_balance::balance_cell(k.balance.as_ref()),
        k.fingerprint.clone(),
        if k.tags.is_empty() {
            "-".into()
        } else {
            k.tags.join(",")
        },
        k.priority.to_string(),
        k.secret_ref.clone(),
    ]
}

fn check_ids(ids: &[String]) -> Result<()> {
    for id in ids {
        validate_key_id(id).map_err(usage)?;
    }
    Ok(())
}

fn edit(
    ctx: &Context,
    id: &str,
    label: Option<String>,
    tags: Option<Vec<String>>,
    priority: Option<i64>,
    weight: Option<i64>,
    enabled: Option<bool>,
) -> Result<()> {
    let tags = tags.as_deref().map(keygate_core::key::tidy_tags);
    let label = label.map(|l| l.trim().to_string());
    let edit = keygate_store::KeyEdit {
        label,
        tags,
        priority,
        weight,
        enabled,
    };
    if edit == keygate_store::KeyEdit::default() {
        return Err(usage(
            "say what to change: --label, --tag, --priority, --weight, --enable or --disable",
        ));
    }
    let problems = keygate_core::key::edit_problems(
        edit.label.as_deref(),
        edit.tags.as_deref(),
        edit.priority,
        edit.weight,
    );
    if let Some((field, problem)) = problems.first() {
        return Err(usage(format!(
            "--{}: {problem}",
            field.trim_end_matches('s')
        )));
    }
    let mut store = ctx.store()?;
    store.edit_key(id, &edit).map_err(|e| match e {
        keygate_store::StoreError::NotFound(_) => {
            usage(format!("no key with id {id:?}; see keygate key list"))
        }
        other => other.into(),
    })?;
    engine::apply(ctx, Change::Catalog);
    let key = store
        .get_key(id)?
        .ok_or_else(|| usage(format!("no key with id {id:?}")))?;
    if ctx.json {
        return output::json(&KeyView::from(key));
    }
    println!(
        "{id} ({}): tags {} · priority {} · weight {} · {}",
        key.label,
        if key.tags.is_empty() {
            "-".to_string()
        } else {
            key.tags.join(",")
        },
        key.priority,
        key.weight,
        if key.enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

fn set_enabled(ctx: &Context, ids: &[String], enabled: bool) -> Result<()> {
    check_ids(ids)?;
    ctx.store()?.set_keys_enabled(ids, enabled)?;
    engine::apply(ctx, Change::Catalog);
    let verb = if enabled { "Enabled" } else { "Disabled" };
    println!("{verb} {}.", ids.join(", "));
    Ok(())
}

fn remove(ctx: &Context, ids: &[String]) -> Result<()> {
    check_ids(ids)?;
    let deleted = ctx.store()?.delete_keys(ids)?;
    engine::apply(ctx, Change::Catalog);
    let mut leftovers = Vec::new();
    for key in &deleted {
        if key.secret_ref == SecretRef::Keyring.to_string()
            && let Err(err) = ctx.vault.remove(&key.id)
        {
            leftovers.push(format!("{}: {err}", key.id));
        }
    }
    println!("Removed {}.", ids.join(", "));
    if !leftovers.is_empty() {
        return Err(anyhow!(
            "the keys are removed from KeyGate, but their keyring entries (service {:?}) could not be deleted: {}",
            ctx.vault.service(),
            leftovers.join("; ")
        ));
    }
    Ok(())
}

fn reset(ctx: &Context, ids: &[String], failed: bool) -> Result<()> {
    if ids.is_empty() && !failed {
        return Err(usage(
            "name the keys to reset, or use --failed for every unhealthy or degraded key",
        ));
    }
    check_ids(ids)?;
    let reset = ctx.store()?.reset_keys(ids, failed)?;
    engine::apply(ctx, Change::KeysReset(&reset));
    if ctx.json {
        return output::json(&reset);
    }
    if reset.is_empty() {
        println!("No failed keys to reset.");
    } else {
        println!("Reset {}.", reset.join(", "));
    }
    Ok(())
}

/// A flag's whole number, or `None` for `none`/`off`.
fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<Option<T>, String> {
    match text.trim() {
        "none" | "off" => Ok(None),
        t => t
            .parse()
            .map(Some)
            .map_err(|_| format!("--{flag} takes a whole number or none, not {text:?}")),
    }
}

/// `base` changed by the budget options given: an amount sets a budget, `none` removes it.
/// Errors name the flag.
pub(super) fn apply_budgets(args: &BudgetArgs, mut budgets: Budgets) -> Result<Budgets, String> {
    fn dollars(flag: &str, text: &str) -> Result<Option<u64>, String> {
        match text.trim() {
            "none" | "off" => Ok(None),
            t => parse_usd_micros(t)
                .map(|v| Some(u64::try_from(v).unwrap_or(0)))
                .map_err(|e| format!("--{flag}: {e}")),
        }
    }
    if let Some(t) = &args.daily_budget {
        budgets.daily_spend_micros = dollars("daily-budget", t)?;
    }
    if let Some(t) = &args.monthly_budget {
        budgets.monthly_spend_micros = dollars("monthly-budget", t)?;
    }
    if let Some(t) = &args.daily_tokens {
        budgets.daily_tokens = number("daily-tokens", t)?;
    }
    if let Some(t) = &args.monthly_tokens {
        budgets.monthly_tokens = number("monthly-tokens", t)?;
    }
    if let Some((field, e)) = budgets.problems().into_iter().next() {
        return Err(format!("--{} {e}", field.replace('_', "-")));
    }
    Ok(budgets)
}

/// Budgets as one line: `daily $5 · monthly - · daily tokens - · monthly tokens 1000000`.
pub(super) fn budgets_line(b: &Budgets) -> String {
    let usd = |v: Option<u64>| v.map_or("-".to_string(), |m| format!("${}", format_usd(m)));
    let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    format!(
        "daily {} · monthly {} · daily tokens {} · monthly tokens {}",
        usd(b.daily_spend_micros),
        usd(b.monthly_spend_micros),
        n(b.daily_tokens),
        n(b.monthly_tokens),
    )
}

/// `base` changed by the options given: a number sets a limit, `none` removes it.
fn apply_limits(args: &LimitArgs, mut limits: KeyLimits) -> Result<KeyLimits, String> {
    let budgets = apply_budgets(&args.budgets, limits.budgets())?;
    let stored = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    limits.daily_budget_micros = stored(budgets.daily_spend_micros);
    limits.monthly_budget_micros = stored(budgets.monthly_spend_micros);
    limits.daily_token_budget = budgets.daily_tokens;
    limits.monthly_token_budget = budgets.monthly_tokens;
    if let Some(t) = &args.rpm {
        limits.rpm = number("rpm", t)?;
    }
    if let Some(t) = &args.tpm {
        limits.tpm = number("tpm", t)?;
    }
    if let Some(t) = &args.rpd {
        limits.rpd = number("rpd", t)?;
    }
    // The same rules as the admin API: a limit the store cannot hold is the flag's error,
    // not a database error later.
    let problems: Vec<String> = limits
        .problems()
        .into_iter()
        .map(|(field, e)| format!("--{} {e}", field.replace('_', "-")))
        .collect();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(limits)
}

fn set_limits(ctx: &Context, id: &str, args: &LimitArgs) -> Result<()> {
    let mut store = ctx.store()?;
    let key = store
        .get_key(id)?
        .ok_or_else(|| usage(format!("no key with id {id:?}; see keygate key list")))?;
    let limits = apply_limits(args, key.limits.clone()).map_err(usage)?;
    if limits != key.limits {
        store.set_key_limits(id, &limits)?;
        engine::apply(ctx, Change::Catalog);
    }
    let n = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    println!(
        "{id} ({}): rpm {} · tpm {} · rpd {} · {}",
        key.label,
        n(limits.rpm),
        n(limits.tpm),
        n(limits.rpd),
        budgets_line(&limits.budgets()),
    );
    Ok(())
}
