//! The background writer: request rows and health updates reach the database in batches, one
//! transaction per batch, on the writer's own connection. Usage of non-streamed answers is
//! read here from the answer's bytes, so the request path never parses a response body.
//!
//! The same connection watches for changes made by others (the CLI, the admin API) and
//! reloads the proxy's catalog: `PRAGMA data_version` does not count the connection's own
//! commits, so the writer's batches never trigger a reload.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use keygate_store::{HealthUpdate, RequestRow, Store};
use keygate_vault::Vault;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::task::JoinHandle;

use keygate_core::prices::{PriceBook, cost_micros};

use super::budgets::BudgetWatch;
use super::catalog::Clock;
use super::relay::Usage;
use super::{ProxyState, WriteOp};

const MAX_BATCH: usize = 1024;
/// How long the writer gathers after the first item of a batch: one transaction per ~50 ms
/// instead of one per request keeps SQLite's CPU cost off a busy proxy's cores.
const GATHER: Duration = Duration::from_millis(50);
const GATHER_POLL: Duration = Duration::from_millis(5);
/// How often the writer looks for changes made by other connections while it is idle.
const CATALOG_POLL: Duration = Duration::from_millis(500);

/// Runs until every sender is gone (the engine stopped), then returns after the last batch:
/// nothing queued is lost on a graceful shutdown. Holds the proxy weakly, for reloads only.
/// Call from within the runtime.
pub fn spawn_writer(
    mut store: Store,
    mut rx: mpsc::UnboundedReceiver<WriteOp>,
    proxy: Weak<ProxyState>,
    vault: Vault,
) -> JoinHandle<()> {
    let runtime = tokio::runtime::Handle::current();
    let clock = proxy.upgrade().map(|p| p.clock).unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let mut seen = store.data_version().unwrap_or(0);
        let mut next_prune = Instant::now();
        // The prices in force, kept after the engine dropped its state so the last rows of
        // a shutdown are priced like the others.
        let mut prices = Arc::new(PriceBook::default());
        let mut budgets = BudgetWatch::default();
        loop {
            // Held only for this statement: the proxy owns the channel's sender, and the loop
            // ends when the last sender is gone.
            if let Some(proxy) = proxy.upgrade() {
                prices = proxy.catalog().prices.clone();
                budgets.release_due(&proxy);
            }
            if Instant::now() >= next_prune {
                prune(&mut store);
                next_prune = Instant::now() + PRUNE_EVERY;
            }
            let first = match runtime.block_on(tokio::time::timeout(CATALOG_POLL, rx.recv())) {
                Ok(Some(op)) => Some(op),
                Ok(None) => break,
                Err(_) => None,
            };
            if let Some(first) = first {
                write_batch(
                    &mut store,
                    &mut rx,
                    first,
                    clock,
                    &prices,
                    (&proxy, &mut budgets),
                );
            }
            reload_if_changed(&store, &mut seen, &proxy, &vault);
        }
    })
}

/// Gathers a batch starting with `first` and writes it in one transaction.
fn write_batch(
    store: &mut Store,
    rx: &mut mpsc::UnboundedReceiver<WriteOp>,
    first: WriteOp,
    clock: Clock,
    prices: &PriceBook,
    (proxy, budgets): (&Weak<ProxyState>, &mut BudgetWatch),
) {
    let deadline = Instant::now() + GATHER;
    let mut next = Some(first);
    let mut requests: Vec<RequestRow> = Vec::new();
    let mut health: Vec<HealthUpdate> = Vec::new();
    let mut events = Vec::new();
    let mut checks = Vec::new();
    let mut flushed = Vec::new();
    loop {
        match next.take() {
            Some(WriteOp::Flush(ack)) => {
                flushed.push(ack);
                break;
            }
            Some(WriteOp::Event(event)) => events.push(event),
            Some(WriteOp::Check(check)) => checks.push(check),
            Some(WriteOp::Health(update)) => {
                // Only a key's latest health matters within one batch.
                health.retain(|h| h.key_id != update.key_id);
                health.push(update);
            }
            Some(WriteOp::Request(mut row, body, key)) => {
                if let Some(usage) = body.as_deref().and_then(Usage::of_answer) {
                    row.prompt_tokens = Some(usage.prompt_tokens);
                    row.completion_tokens = Some(usage.completion_tokens);
                    row.cached_tokens = Some(usage.cached_tokens);
                }
                if let (Some(provider), Some(model), Some(prompt), Some(completion)) = (
                    row.provider.as_deref(),
                    row.model_served.as_deref(),
                    row.prompt_tokens,
                    row.completion_tokens,
                ) && let Some(price) = prices.price_at(provider, model, &row.at)
                {
                    row.cost_micros = Some(cost_micros(
                        price,
                        prompt,
                        completion,
                        row.cached_tokens.unwrap_or(0),
                    ));
                }
                // Tokens count against the key's --tpm once known (slightly after the fact),
                // cost and tokens against its budgets.
                let tokens = row.prompt_tokens.unwrap_or(0) + row.completion_tokens.unwrap_or(0);
                if let Some(key) = key {
                    if tokens > 0 {
                        key.runtime.limiter.note_tokens(clock.now_ms(), tokens);
                    }
                    budgets.count(
                        proxy.upgrade().as_deref(),
                        clock,
                        &key,
                        row.provider.as_deref().unwrap_or_default(),
                        row.cost_micros.unwrap_or(0),
                        tokens,
                    );
                }
                requests.push(*row);
            }
            None => {}
        }
        if requests.len() + health.len() + events.len() + checks.len() >= MAX_BATCH {
            break;
        }
        match rx.try_recv() {
            Ok(op) => next = Some(op),
            // The engine stopped: write what we have, then the loop ends.
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if Instant::now() >= deadline => break,
            Err(TryRecvError::Empty) => std::thread::sleep(GATHER_POLL),
        }
    }
    if let Err(err) = store.write_batch(&requests, &health) {
        tracing::warn!(
            "could not save {} request rows and {} health updates: {err}",
            requests.len(),
            health.len()
        );
    }
    if let Err(err) = store.write_activity(&events, &checks) {
        tracing::warn!(
            "could not save {} events and {} health checks: {err}",
            events.len(),
            checks.len()
        );
    }
    for ack in flushed {
        let _ = ack.send(());
    }
}

/// How often old request rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: u32 = 5000;

/// Deletes request rows older than `retention.request_days` (default 90), a batch per short
/// transaction, so neither the writer nor other connections wait long.
fn prune(store: &mut Store) {
    let days = store
        .get_setting::<u64>("retention.request_days")
        .ok()
        .flatten()
        .filter(|d| super::validate_setting("retention.request_days", *d).is_ok())
        .unwrap_or(90);
    let before = (chrono::Utc::now() - chrono::Duration::days(i64::try_from(days).unwrap_or(90)))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut pruned = 0;
    loop {
        match store.prune_requests(&before, PRUNE_BATCH) {
            Ok(n) => {
                pruned += n;
                if n < PRUNE_BATCH as usize {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!("could not prune old request rows: {err}");
                break;
            }
        }
    }
    if pruned > 0 {
        tracing::info!("pruned {pruned} request rows older than {days} days");
    }
}

/// Rebuilds the proxy's catalog when another connection committed since the last look.
fn reload_if_changed(store: &Store, seen: &mut i64, proxy: &Weak<ProxyState>, vault: &Vault) {
    let Ok(version) = store.data_version() else {
        return;
    };
    if version == *seen {
        return;
    }
    *seen = version;
    let Some(proxy) = proxy.upgrade() else { return };
    if let Err(err) = proxy.rebuild_catalog(store, vault) {
        tracing::warn!("could not reload providers and keys: {err}");
    }
}
