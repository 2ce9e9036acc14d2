//! `keygate key balance`: fetch keys' provider balances now, and set when one counts as low.
//! When an engine is running for this KEYGATE_HOME it fetches them (so its live key state
//! learns a zero balance); otherwise they are fetched here and saved to the store.

use anyhow::{Result, anyhow};
use keygate_core::balance::LowBalance;
use keygate_server::balance::refresh_offline;
use keygate_store::{BalanceRow, KeyRow};
use serde_json::{Value, json};

use super::engine::{self, Change};
use crate::context::{Context, usage};
use crate::output::{self, or_dash};

pub fn run(ctx: &Context, ids: &[String], all: bool, low_balance: Option<&str>) -> Result<()> {
    if ids.is_empty() && !all {
        return Err(usage("name the keys, or use --all"));
    }
    let threshold = match low_balance.map(str::trim) {
        None => None,
        Some("none" | "off") => Some(None),
        Some(t) => {
            t.parse::<LowBalance>()
                .map_err(|e| usage(format!("--low-balance {e}")))?;
            Some(Some(t.to_string()))
        }
    };
    let mut store = ctx.store()?;
    let targets = super::key_test::chosen_keys(store.list_keys()?, ids, None)?;
    if let Some(threshold) = &threshold {
        for key in &targets {
            store.set_low_balance(&key.id, threshold.as_deref())?;
        }
        engine::apply(ctx, Change::Catalog);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ids: Vec<String> = targets.iter().map(|r| r.id.clone()).collect();
    let through_engine = runtime.block_on(async {
        let mut answered = Vec::new();
        for id in &ids {
            let (status, _) =
                engine::post(ctx, &format!("/api/keys/{id}/balance"), &json!({})).await?;
            if !status.is_success() && status.as_u16() != 409 {
                eprintln!(
                    "warning: the running engine refused the balance check ({status}); fetching here instead"
                );
                return None;
            }
            answered.push(id.clone());
        }
        Some(answered)
    });
    if through_engine.is_none() {
        runtime
            .block_on(refresh_offline(&mut store, &ctx.vault, &targets))
            .map_err(|e| anyhow!("{e}"))?;
    }
    let shown: Vec<KeyRow> = ids
        .iter()
        .filter_map(|id| store.get_key(id).ok().flatten())
        .collect();
    if ctx.json {
        let rows: Vec<Value> = shown
            .iter()
            .map(|k| {
                json!({ "id": k.id, "provider": k.provider, "label": k.label,
                    "balance": k.balance, "low_balance": k.low_balance })
            })
            .collect();
        return output::json(&rows);
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|k| {
            let b = k.balance.as_ref();
            vec![
                k.id.clone(),
                k.provider.clone(),
                k.label.clone(),
                balance_cell(b),
                or_dash(k.low_balance.as_ref()),
                b.map_or("-".into(), |b| b.checked_at.clone()),
                b.map_or_else(
                    || "not fetched: the key is disabled or its secret cannot be read".into(),
                    |b| b.note.clone(),
                ),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "PROVIDER", "LABEL", "BALANCE", "LOW AT", "CHECKED", "NOTE",
        ],
        &rows,
    );
    Ok(())
}

/// A balance in a table cell: `¥110.00`, `$74.50 LOW`, `n/a` (no endpoint), `-` (never
/// fetched), `?` (fetched, no amount).
pub fn balance_cell(balance: Option<&BalanceRow>) -> String {
    let Some(b) = balance else {
        return "-".into();
    };
    if !b.available {
        return "n/a".into();
    }
    let Some(amount) = b.amount else {
        return "?".into();
    };
    let amount = match b.currency.as_deref() {
        Some("USD") => format!("${amount:.2}"),
        Some("CNY") => format!("¥{amount:.2}"),
        Some(other) => format!("{amount:.2} {other}"),
        None => format!("{amount:.2}"),
    };
    if b.low {
        format!("{amount} LOW")
    } else {
        amount
    }
}
