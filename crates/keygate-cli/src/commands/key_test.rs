//! `keygate key test` and `keygate health-check`: test keys with one cheap request each.
//! When an engine is running for this KEYGATE_HOME, it runs the tests (so its live key state
//! learns from them); otherwise they run here and their health is saved to the store.

use anyhow::{Result, anyhow};
use keygate_server::health::test_keys_offline;
use keygate_store::KeyRow;
use serde_json::{Value, json};

use crate::context::{Context, usage};
use crate::output;

pub fn run(ctx: &Context, ids: &[String], all: bool, tag: Option<&str>, deep: bool) -> Result<()> {
    if ids.is_empty() && !all && tag.is_none() {
        return Err(usage("name the keys to test, or use --all or --tag TAG"));
    }
    let mut store = ctx.store()?;
    let targets = chosen_keys(store.list_keys()?, ids, tag)?;
    if targets.is_empty() {
        if ctx.json {
            return output::json(&Vec::<Value>::new());
        }
        println!("No keys to test.");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let target_ids: Vec<String> = targets.iter().map(|r| r.id.clone()).collect();
    let reports = runtime.block_on(async {
        if let Some(reports) = through_engine(ctx, &target_ids, deep).await {
            return Ok(reports);
        }
        let reports = test_keys_offline(&mut store, &ctx.vault, &targets, deep)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        Ok::<_, anyhow::Error>(
            reports
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                .collect::<Vec<Value>>(),
        )
    })?;
    let failed = reports.iter().filter(|r| r["ok"] != true).count();
    if ctx.json {
        output::json(&reports)?;
    } else {
        print_table(&reports);
    }
    if failed > 0 {
        return Err(anyhow!(
            "{failed} of {} key(s) did not pass the test",
            reports.len()
        ));
    }
    Ok(())
}

/// The keys named by `ids` (each must exist), or with none named every enabled key (with
/// `tag`, only those tagged so).
pub(super) fn chosen_keys(
    rows: Vec<KeyRow>,
    ids: &[String],
    tag: Option<&str>,
) -> Result<Vec<KeyRow>> {
    if ids.is_empty() {
        return Ok(rows
            .into_iter()
            .filter(|r| r.enabled && tag.is_none_or(|t| r.tags.iter().any(|x| x == t)))
            .collect());
    }
    ids.iter()
        .map(|id| {
            rows.iter()
                .find(|r| &r.id == id)
                .cloned()
                .ok_or_else(|| usage(format!("no key with id {id:?} (see `keygate key list`)")))
        })
        .collect()
}

/// Asks the engine running for this home to test the keys; `None` when there is none (or it
/// cannot be reached with the admin token).
async fn through_engine(ctx: &Context, ids: &[String], deep: bool) -> Option<Vec<Value>> {
    let body = json!({ "ids": ids, "action": "test", "deep": deep });
    let (status, answer) = super::engine::post(ctx, "/api/keys/batch", &body).await?;
    if !status.is_success() {
        eprintln!("warning: the running engine refused the test ({status}); testing here instead");
        return None;
    }
    answer["results"].as_array().cloned()
}

fn print_table(reports: &[Value]) {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let result = if r["ok"] == true {
                "ok".to_string()
            } else {
                text(&r["class"])
            };
            let status = r["status"]
                .as_u64()
                .map_or_else(|| "-".into(), |s| s.to_string());
            let headroom = match (
                r["headroom"]["requests_remaining"].as_u64(),
                r["headroom"]["requests_limit"].as_u64(),
            ) {
                (Some(left), Some(limit)) => format!("{left}/{limit} req"),
                (Some(left), None) => format!("{left} req"),
                _ => "-".into(),
            };
            vec![
                text(&r["label"]),
                text(&r["provider"]),
                result,
                status,
                format!("{} ms", r["latency_ms"].as_u64().unwrap_or(0)),
                r["model_count"].as_u64().unwrap_or(0).to_string(),
                headroom,
                text(&r["state"]),
                text(&r["hint"]),
            ]
        })
        .collect();
    output::table(
        &[
            "LABEL", "PROVIDER", "RESULT", "HTTP", "LATENCY", "MODELS", "HEADROOM", "HEALTH",
            "HINT",
        ],
        &rows,
    );
}
