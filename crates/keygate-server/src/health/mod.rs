//! Key health beyond live traffic: one-click tests (`key test`, `POST /api/keys/{id}/test`)
//! that probe a key without spending tokens, and apply what they learn to the key's live state.

mod checker;
pub(crate) use checker::off_for_this_run;
pub mod config;
mod probe;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keygate_store::{HealthUpdate, KeyRow, Store};
use keygate_vault::Vault;
use serde::{Deserialize, Serialize};

pub use checker::{spawn_checker, time_scale};
pub use config::{CONFIG_SETTING, CheckerConfig};
pub use probe::{ListedModels, TestClass, TestReport, apply_report, test_key};

use crate::proxy::Registry;
use crate::proxy::catalog::{Catalog, Clock, LiveKey, LiveProvider};
use crate::proxy::state::{ProxyState, WriteOp};

/// Probes a key of the running engine: applies the outcome to its live state, queues its
/// health and the check for the store, and announces a change of state.
pub async fn probe_live(
    proxy: &ProxyState,
    provider: &LiveProvider,
    key: &LiveKey,
    deep: bool,
) -> TestReport {
    let before = key.runtime.health(proxy.clock.now_ms());
    let started = Instant::now();
    let mut report = test_key(&proxy.client, provider, key, deep, TEST_TIMEOUT).await;
    let update = apply_report(&mut report, key, &proxy.clock, started.elapsed());
    let _ = proxy.writer_tx.send(WriteOp::Check(report.check_row()));
    if let Some(update) = update {
        let _ = proxy.writer_tx.send(WriteOp::Health(update));
        let after = key.runtime.health(proxy.clock.now_ms());
        proxy.announce_change(key, &provider.name, before, after);
    }
    report
}

/// How long one key test may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The live provider and key for a stored key that can be tested; `None` for a key the proxy
/// cannot use (disabled, or its secret is missing). The row decides "disabled": it is fresher
/// than the catalog, which reloads a moment after a change.
pub fn testable_key(
    catalog: &Catalog,
    row: &KeyRow,
) -> Option<(std::sync::Arc<LiveProvider>, std::sync::Arc<LiveKey>)> {
    if !row.enabled {
        return None;
    }
    catalog.providers.iter().find_map(|p| {
        p.keys
            .iter()
            .find(|k| k.id == row.id)
            .map(|k| (p.clone(), k.clone()))
    })
}

/// Tests one key of `catalog` (`row` is its stored row): the report, and the health to save
/// when the test was conclusive.
pub async fn test_in_catalog(
    catalog: &Catalog,
    client: &reqwest::Client,
    clock: &Clock,
    row: &KeyRow,
    deep: bool,
) -> (TestReport, Option<HealthUpdate>) {
    let Some((provider, key)) = testable_key(catalog, row) else {
        return (TestReport::unavailable(row), None);
    };
    let started = Instant::now();
    let mut report = test_key(client, &provider, &key, deep, TEST_TIMEOUT).await;
    let update = apply_report(&mut report, &key, clock, started.elapsed());
    if update.is_none() {
        // The test could not tell: the key's health is what it was.
        report.state = row.health.state;
        report.reason = row.health.reason;
    }
    (report, update)
}

/// Tests keys when no engine is running: the catalog is built from the store and vault here,
/// the tests run concurrently, and their health is saved.
pub async fn test_keys_offline(
    store: &mut Store,
    vault: &Vault,
    rows: &[KeyRow],
    deep: bool,
) -> Result<Vec<TestReport>, String> {
    let clock = Clock::new();
    let catalog = Registry::default()
        .build(store, vault, clock.now_ms())
        .map_err(|e| e.to_string())?;
    let client = crate::proxy::upstream::client(Duration::from_secs(10))
        .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
    let tests = rows
        .iter()
        .map(|row| test_in_catalog(&catalog, &client, &clock, row, deep));
    let mut results = futures_util::future::join_all(tests).await;
    let (balances, events) =
        crate::balance::fetch_and_record(store, &catalog, &client, rows).await?;
    for balance in balances {
        if let Some((report, _)) = results.iter_mut().find(|(r, _)| r.key_id == balance.key_id) {
            report.balance = Some(balance);
        }
    }
    let updates: Vec<HealthUpdate> = results.iter().filter_map(|(_, u)| u.clone()).collect();
    store
        .write_batch(&[], &updates)
        .map_err(|e| e.to_string())?;
    let checks: Vec<_> = results
        .iter()
        .filter(|(r, _)| r.class != TestClass::DISABLED)
        .map(|(r, _)| r.check_row())
        .collect();
    store
        .write_activity(&events, &checks)
        .map_err(|e| e.to_string())?;
    Ok(results.into_iter().map(|(report, _)| report).collect())
}

/// Tests a secret that is not saved yet ("Test before save"): a model-list request with it
/// against `provider` (an existing provider's row, or a preset's), nothing stored or changed.
pub async fn check_secret(
    client: &reqwest::Client,
    provider: keygate_store::NewProvider,
    secret: keygate_vault::Sensitive<String>,
) -> TestReport {
    let mut live = LiveProvider {
        name: provider.name,
        kind: provider.kind,
        base_url: provider.base_url,
        headers: provider.headers,
        priority: 0,
        keys: Vec::new(),
        runtime: std::sync::Arc::default(),
        endpoints: std::collections::HashMap::new(),
        keyring_problem: None,
    };
    live.endpoints = crate::proxy::upstream::model_free_endpoints(&live);
    let key = LiveKey {
        id: "unsaved".into(),
        label: "new key".into(),
        redactor: std::sync::Arc::new(keygate_core::redact::Redactor::new([secret
            .expose()
            .as_str()])),
        secret,
        priority: 0,
        weight: 1,
        limits: keygate_core::key::KeyLimits::default(),
        expires_at: None,
        runtime: std::sync::Arc::default(),
        low_balance: None,
    };
    test_key(client, &live, &key, false, Duration::from_secs(15)).await
}

/// `keygate model sync`: asks `provider` for its model list through its first key that
/// answers, and saves the list (and the prices it carries). Returns the models and the label
/// of the key used.
pub async fn sync_models(
    store: &mut Store,
    vault: &Vault,
    provider: &str,
) -> Result<(Vec<String>, String), String> {
    let catalog = Registry::default()
        .build(store, vault, 0)
        .map_err(|e| e.to_string())?;
    let client = crate::proxy::upstream::client(Duration::from_secs(10))
        .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
    let (listed, key) = fetch_provider_models(&catalog, &client, provider).await?;
    save_listed(store, provider, &listed).map_err(|e| e.to_string())?;
    Ok((listed.ids, key))
}

/// Saves what a provider listed: its models, and the prices the list carries as catalog
/// prices from now on (`<provider> model list`).
pub fn save_listed(
    store: &mut Store,
    provider: &str,
    listed: &ListedModels,
) -> Result<(), keygate_store::StoreError> {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    store.replace_provider_models(provider, &listed.ids, &at)?;
    if !listed.prices.is_empty() {
        let rows: Vec<keygate_store::PriceRow> = listed
            .prices
            .iter()
            .map(|(model, price)| keygate_store::PriceRow {
                provider: provider.to_string(),
                model: model.clone(),
                effective_from: at.clone(),
                input_micros: price.input,
                output_micros: price.output,
                cached_micros: price.cached_input,
            })
            .collect();
        store.import_catalog_prices(&rows, &format!("{provider} model list"), &at)?;
    }
    Ok(())
}

/// The models `provider` lists, through its first key that answers (with that key's label).
pub async fn fetch_provider_models(
    catalog: &Catalog,
    client: &reqwest::Client,
    provider: &str,
) -> Result<(ListedModels, String), String> {
    let live = catalog.provider(provider).ok_or_else(|| {
        format!("no enabled provider named {provider:?}; see keygate provider list")
    })?;
    if live.keys.is_empty() {
        return Err(format!(
            "provider {provider:?} has no enabled key whose secret is available; add one with keygate key add"
        ));
    }
    let mut problems = Vec::new();
    for key in &live.keys {
        match probe::fetch_models(client, live, key, Duration::from_secs(15)).await {
            Ok(models) => return Ok((models, key.label.clone())),
            Err(why) => problems.push(format!("key {:?}: {why}", key.label)),
        }
    }
    Err(format!(
        "no key of {provider:?} could list models: {}",
        problems.join("; ")
    ))
}

/// Where a running engine says how to reach it (`KEYGATE_HOME/engine.json`), so the CLI can
/// ask it instead of acting behind its back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineInfo {
    pub port: u16,
    pub pid: u32,
}

pub fn engine_file(home: &Path) -> PathBuf {
    home.join("engine.json")
}

impl EngineInfo {
    /// The engine that last announced itself in `home`, if its file is there.
    pub fn read(home: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(engine_file(home)).ok()?;
        serde_json::from_str(&text).ok()
    }
}
