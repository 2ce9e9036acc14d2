//! Live state kept across catalog rebuilds, by id: key and provider runtimes (so a reload
//! never forgives a cooling key), secrets read once, and the keys whose secret the keyring
//! would not give (locked or unreachable): those are not read again on every rebuild, since a
//! read of a locked entry shows an unlock prompt, until the engine sees the keyring readable
//! (`Registry::retry_unavailable`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keygate_core::breaker::BreakerConfig;
use keygate_core::budget::{BudgetGate, period_starts};
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::redact::Redactor;
use keygate_store::{KeyRow, Store};
use keygate_vault::{SecretRef, Sensitive, Vault};

use super::catalog::{
    Catalog, ErrorLimit, KeyRuntime, LiveKey, LiveProvider, LiveRoute, LiveToken, ProviderRuntime,
};

/// Runtime state by id, kept across reloads so a reload never forgives a cooling key.
#[derive(Default)]
pub struct Registry {
    keys: Mutex<HashMap<String, Arc<KeyRuntime>>>,
    providers: Mutex<HashMap<String, Arc<ProviderRuntime>>>,
    secrets: Mutex<HashMap<String, Sensitive<String>>>,
    /// Keys whose secret the keyring would not give, with the keyring's reason.
    unavailable: Mutex<HashMap<String, String>>,
    /// Access tokens' budget meters by token name, kept across catalog builds.
    token_budgets: Mutex<HashMap<String, Arc<BudgetGate>>>,
    /// The consecutive-error limit every key of this engine shares.
    max_errors: ErrorLimit,
    /// How each provider's circuit breaker behaves (`proxy.breaker_probe_seconds`).
    breaker: BreakerConfig,
}

impl Registry {
    /// A registry whose providers' breakers probe as `breaker` says.
    pub fn with_breaker(breaker: BreakerConfig) -> Self {
        Self {
            breaker,
            ..Self::default()
        }
    }

    /// Sets the consecutive-error limit (the health checker's `max_error_count`) for every key.
    pub fn set_max_errors(&self, n: u32) {
        self.max_errors.set(n);
    }

    /// Remembers a secret read elsewhere (start-up reconcile), so `build` need not read it again.
    pub fn cache_secret(&self, key_id: &str, secret: Sensitive<String>) {
        self.secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key_id.to_string(), secret);
    }

    /// Notes that the keyring would not give `key_id`'s secret (start-up reconcile), so builds
    /// leave the key out without asking the keyring again.
    pub fn note_unavailable(&self, key_id: &str, cause: &str) {
        lock(&self.unavailable).insert(key_id.to_string(), cause.to_string());
    }

    /// The keys whose secret the keyring would not give, with its reason.
    pub fn unavailable(&self) -> HashMap<String, String> {
        lock(&self.unavailable).clone()
    }

    /// Lets the next build ask the keyring again for every key it would not give.
    pub fn retry_unavailable(&self) {
        lock(&self.unavailable).clear();
    }

    /// Builds a catalog from the store. Secrets are resolved once per key and cached; keys whose
    /// secret cannot be resolved are left out (start-up reconcile marks them red).
    pub fn build(
        &self,
        store: &Store,
        vault: &Vault,
        now_ms: u64,
    ) -> Result<Catalog, keygate_store::StoreError> {
        let rows = store.list_keys()?;
        let providers = store.list_providers()?;
        let tokens = store.list_tokens()?;
        let routes: std::collections::HashMap<String, LiveRoute> = store
            .list_routes()?
            .into_iter()
            .map(|r| {
                let tiers = r.tiers.into_iter().map(|t| (t.provider, t.model)).collect();
                let strategy = r.strategy.parse().unwrap_or_default();
                (r.alias, LiveRoute { tiers, strategy })
            })
            .collect();
        let mut key_runtimes = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut provider_runtimes = self
            .providers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut secrets = self
            .secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut unavailable = lock(&self.unavailable);
        secrets.retain(|id, _| rows.iter().any(|r| &r.id == id));
        unavailable.retain(|id, _| rows.iter().any(|r| &r.id == id));
        key_runtimes.retain(|id, _| rows.iter().any(|r| &r.id == id));

        let now_s = chrono::Utc::now().timestamp();
        let (day_start, month_start) = period_starts(now_s);
        let mut live: Vec<Arc<LiveProvider>> = Vec::new();
        for p in providers.into_iter().filter(|p| p.enabled) {
            let mut resolved = Vec::new();
            let mut keyring_problem = None;
            for row in rows.iter().filter(|r| r.provider == p.name && r.enabled) {
                let secret = match secret_of(&mut secrets, &mut unavailable, vault, row) {
                    Ok(secret) => secret,
                    Err(Some(cause)) => {
                        keyring_problem.get_or_insert(cause);
                        continue;
                    }
                    Err(None) => continue,
                };
                let runtime = key_runtimes.entry(row.id.clone()).or_insert_with(|| {
                    let rt = KeyRuntime::new(self.max_errors.clone());
                    // A key the store already knows as benched stays benched until its backoff.
                    if row.health.state == HealthState::Unhealthy
                        && let Some(reason @ (HealthReason::Auth | HealthReason::Quota)) =
                            row.health.reason
                    {
                        rt.quarantine(reason, now_ms);
                    }
                    // Budgets continue from what the rollups hold for this day and month.
                    let day = store.key_spend_since(&row.id, &day_start);
                    let month = store.key_spend_since(&row.id, &month_start);
                    if let (Ok(day), Ok(month)) = (day, month) {
                        rt.budget.meter.seed(now_s, day, month);
                    }
                    Arc::new(rt)
                });
                // Limits may have changed: a raised budget lets the key back in at once.
                runtime.apply_budgets(&row.limits, now_s, now_ms);
                runtime.out_of_credit.store(
                    crate::balance::out_of_credit(row.balance.as_ref()),
                    std::sync::atomic::Ordering::Relaxed,
                );
                resolved.push((row, secret, runtime.clone()));
            }
            let redactor = Arc::new(Redactor::new(
                resolved
                    .iter()
                    .map(|(_, secret, _)| secret.expose().as_str()),
            ));
            let mut keys = Vec::new();
            for (row, secret, runtime) in resolved {
                keys.push(Arc::new(LiveKey {
                    id: row.id.clone(),
                    label: row.label.clone(),
                    secret,
                    redactor: redactor.clone(),
                    priority: row.priority,
                    weight: u32::try_from(row.weight).unwrap_or(1),
                    limits: row.limits.clone(),
                    expires_at: row
                        .expires_at
                        .as_deref()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.timestamp()),
                    runtime,
                    low_balance: row.low_balance.clone(),
                }));
            }
            let runtime = provider_runtimes
                .entry(p.name.clone())
                .or_insert_with(|| Arc::new(ProviderRuntime::new(self.breaker)))
                .clone();
            let mut provider = LiveProvider {
                name: p.name,
                kind: p.kind,
                base_url: p.base_url,
                headers: p.headers,
                priority: p.priority,
                keys,
                runtime,
                endpoints: HashMap::new(),
                keyring_problem,
            };
            provider.endpoints = super::upstream::model_free_endpoints(&provider);
            live.push(Arc::new(provider));
        }
        let mut token_budgets = lock(&self.token_budgets);
        token_budgets.retain(|name, _| tokens.iter().any(|t| &t.name == name));
        let tokens = tokens
            .into_iter()
            .filter_map(|t| {
                let mut hash = [0u8; 32];
                hex_to_bytes(&t.hash, &mut hash)?;
                let budget = token_budgets
                    .entry(t.name.clone())
                    .or_insert_with(|| {
                        // Budgets continue from what the rollups hold for this day and month.
                        let gate = BudgetGate::default();
                        let day = store.token_spend_since(&t.name, &day_start);
                        let month = store.token_spend_since(&t.name, &month_start);
                        if let (Ok(day), Ok(month)) = (day, month) {
                            gate.meter.seed(now_s, day, month);
                        }
                        Arc::new(gate)
                    })
                    .clone();
                // Budgets may have changed: a raised one lets the token back in at once.
                budget.apply(&t.budgets, now_s, now_ms);
                Some(Arc::new(LiveToken {
                    name: t.name,
                    hash,
                    models: t.models,
                    expires_at: t
                        .expires_at
                        .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e).ok())
                        .map(|e| e.with_timezone(&chrono::Utc)),
                    budgets: t.budgets,
                    budget,
                }))
            })
            .collect();
        drop(token_budgets);
        let prices = Arc::new(crate::model_catalog::price_book(store)?);
        Ok(Catalog {
            providers: live,
            tokens,
            route_patterns: super::catalog::route_patterns(&routes),
            routes,
            prices,
        })
    }
}

fn hex_to_bytes(hex: &str, out: &mut [u8; 32]) -> Option<()> {
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(())
}

/// `row`'s secret: cached, or read now. `Err(Some(cause))`: the keyring would not give it (now
/// or at an earlier build); `Err(None)`: the key has no secret to use (reconcile marks it red).
fn secret_of(
    secrets: &mut HashMap<String, Sensitive<String>>,
    unavailable: &mut HashMap<String, String>,
    vault: &Vault,
    row: &KeyRow,
) -> Result<Sensitive<String>, Option<String>> {
    if let Some(secret) = secrets.get(&row.id) {
        return Ok(secret.clone());
    }
    if let Some(cause) = unavailable.get(&row.id) {
        return Err(Some(cause.clone()));
    }
    let Ok(secret_ref) = row.secret_ref.parse::<SecretRef>() else {
        return Err(None);
    };
    match vault.resolve(&secret_ref, &row.id) {
        Ok(Some(secret)) => {
            secrets.insert(row.id.clone(), secret.clone());
            Ok(secret)
        }
        Ok(None) => Err(None),
        Err(err) if err.is_keyring_unusable() => {
            tracing::warn!(key = %row.id, "cannot read the key's secret: {err}");
            let cause = err.to_string();
            unavailable.insert(row.id.clone(), cause.clone());
            Err(Some(cause))
        }
        Err(err) => {
            tracing::warn!(key = %row.id, "cannot read the key's secret: {err}");
            Err(None)
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
