use anyhow::{Result, anyhow};
use chrono::{DateTime, SecondsFormat, Utc};
use keygate_core::budget::Budgets;
use keygate_core::token::{
    token_from_random_bytes, token_hash, token_hint, validate_model_glob, validate_token_name,
};
use keygate_server::TokenBudgets;
use keygate_store::{NewToken, TokenRow};

use super::engine::{self, Change};
use super::key::{apply_budgets, budgets_line};
use crate::cli::{BudgetArgs, TokenCommand};
use crate::context::{Context, usage};
use crate::output::{self, or_dash};

pub fn run(ctx: &Context, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            name,
            models,
            expires,
            budgets,
        } => create(ctx, name, models, expires, &budgets),
        TokenCommand::List => list(ctx),
        TokenCommand::Budget { name, budgets } => set_budgets(ctx, &name, &budgets),
        TokenCommand::Revoke { name } => {
            ctx.store()?.revoke_token(&name)?;
            engine::apply(ctx, Change::Catalog);
            println!("Revoked token {name}; tools using it are refused from now on.");
            Ok(())
        }
    }
}

fn create(
    ctx: &Context,
    name: String,
    models: Vec<String>,
    expires: Option<String>,
    budgets: &BudgetArgs,
) -> Result<()> {
    validate_token_name(&name).map_err(usage)?;
    let budgets = apply_budgets(budgets, Budgets::default()).map_err(usage)?;
    let models: Vec<String> = models
        .into_iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    for glob in &models {
        validate_model_glob(glob).map_err(usage)?;
    }
    let expires_at = expires
        .as_deref()
        .map(|text| parse_expiry(text, Utc::now()))
        .transpose()
        .map_err(usage)?;
    let bytes: [u8; 64] = rand::random();
    let token = token_from_random_bytes(&bytes)
        .ok_or_else(|| anyhow!("the random generator gave too few usable bytes; try again"))?;
    ctx.store()?.insert_token(&NewToken {
        name: name.clone(),
        hash: token_hash(&token),
        hint: token_hint(&token),
        models: models.clone(),
        expires_at: expires_at.clone(),
        budgets,
    })?;
    engine::apply(ctx, Change::Catalog);
    if ctx.json {
        return output::json(&serde_json::json!({
            "name": name, "token": token, "models": models, "expires_at": expires_at,
            "limits": limits_json(&budgets),
        }));
    }
    println!(
        "Created token {name}. Copy it now; KeyGate keeps only its hash and cannot show it again:\n"
    );
    println!("  {token}\n");
    println!("Use it as the API key of your tool, with base URL http://127.0.0.1:5397/v1");
    if !budgets.is_empty() {
        println!("Budgets: {}", budgets_line(&budgets));
    }
    Ok(())
}

/// A token's budgets as the admin API shows them (`limits` of `GET /api/tokens`).
fn limits_json(b: &Budgets) -> serde_json::Value {
    serde_json::to_value(TokenBudgets::shown(b)).unwrap_or_default()
}

fn token_json(t: &TokenRow) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(t)?;
    value["limits"] = limits_json(&t.budgets);
    Ok(value)
}

fn set_budgets(ctx: &Context, name: &str, args: &BudgetArgs) -> Result<()> {
    let store = ctx.store()?;
    let token = store
        .list_tokens()?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| usage(format!("no token named {name:?}; see keygate token list")))?;
    let budgets = apply_budgets(args, token.budgets).map_err(usage)?;
    if budgets != token.budgets {
        store.set_token_budgets(name, &budgets)?;
        engine::apply(ctx, Change::Catalog);
    }
    if ctx.json {
        return output::json(&token_json(&TokenRow { budgets, ..token })?);
    }
    println!("{name}: {}", budgets_line(&budgets));
    Ok(())
}

/// `YYYY-MM-DD` means through the end of that day (UTC); RFC 3339 is taken as given. The
/// same rules (and year range) as the admin API's, from core.
fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<String, String> {
    let at = keygate_core::health_machine::parse_expiry(text)
        .ok()
        .and_then(|at| DateTime::from_timestamp(at, 0))
        .ok_or_else(|| {
            format!(
                "invalid --expires {text:?}: use YYYY-MM-DD or an RFC 3339 time between 1970 and 9999"
            )
        })?;
    if at <= now {
        return Err(format!("--expires {text} is in the past"));
    }
    Ok(at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn list(ctx: &Context) -> Result<()> {
    let tokens = ctx.store()?.list_tokens()?;
    if ctx.json {
        let tokens: Vec<serde_json::Value> =
            tokens.iter().map(token_json).collect::<Result<_>>()?;
        return output::json(&tokens);
    }
    if tokens.is_empty() {
        println!("No tokens yet. Create one for each tool: keygate token create cursor");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.hint.clone(),
                if t.models.is_empty() {
                    "*".into()
                } else {
                    t.models.join(",")
                },
                or_dash(t.expires_at.as_ref()),
                budget_cell(&t.budgets),
                t.created_at.clone(),
                or_dash(t.last_used_at.as_ref()),
            ]
        })
        .collect();
    output::table(
        &[
            "NAME",
            "TOKEN",
            "MODELS",
            "EXPIRES",
            "BUDGETS",
            "CREATED",
            "LAST USED",
        ],
        &rows,
    );
    Ok(())
}

/// The budgets a token has, short: `$5/day, 2000000 tok/mo`; `-` for none.
fn budget_cell(b: &Budgets) -> String {
    let usd = |m: u64| format!("${}", keygate_core::key::format_usd(m));
    let parts: Vec<String> = [
        b.daily_spend_micros.map(|m| format!("{}/day", usd(m))),
        b.monthly_spend_micros.map(|m| format!("{}/mo", usd(m))),
        b.daily_tokens.map(|n| format!("{n} tok/day")),
        b.monthly_tokens.map(|n| format!("{n} tok/mo")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn expiry_dates_mean_end_of_day_and_past_dates_are_refused() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("date");
        assert_eq!(
            parse_expiry("2026-12-31", now),
            Ok("2026-12-31T23:59:59Z".into())
        );
        assert_eq!(
            parse_expiry("2027-01-01T08:00:00+02:00", now),
            Ok("2027-01-01T06:00:00Z".into())
        );
        assert!(parse_expiry("2026-11-22", now).is_err());
        assert!(parse_expiry("tomorrow", now).is_err());
    }
}
