//! The background writer: request rows and health updates reach the database in batches, one
//! transaction per batch, on the writer's own connection. Usage of non-streamed answers is
//! read here from the answer's bytes, so the request path never parses a response body.
//!
//! How long a row waits in memory is bounded and documented (docs/ARCHITECTURE.md, "The
//! request log"): a batch is committed at most [`MAX_BATCH_AGE`] after its first row arrived,
//! plus the time the write takes, so a `kill -9` loses the answers of about that window. When
//! another process holds the database (a CLI call, a backup) the writer keeps the batch,
//! keeps taking new rows into memory up to [`MAX_PENDING_ROWS`], and retries with backoff;
//! only past that bound does it drop rows, and it counts them ([`WriterStatus`], shown by
//! `/api/health` and `/api/logs`) and says so in the log once per incident.
//!
//! The same connection watches for changes made by others (the CLI, the admin API) and
//! reloads the proxy's catalog: `PRAGMA data_version` does not count the connection's own
//! commits, so the writer's batches never trigger a reload.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use keygate_store::{CheckRow, HealthUpdate, NewEvent, RequestRow, Store, StoreError};
use keygate_vault::Vault;
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use keygate_core::events::EventKind;
use keygate_core::prices::{PriceBook, cost_micros};

pub use super::writer_status::{MAX_PENDING_ROWS, WriterHealth, WriterStatus};

use super::budgets::BudgetWatch;
use super::catalog::{Clock, LiveKey};
use super::relay::Usage;
use super::state::{Finished, ProxyState, WriteOp};
use crate::events::Event;

const MAX_BATCH: usize = 1024;
/// How long the writer gathers after the first item of a batch: one transaction per ~50 ms
/// instead of one per request keeps SQLite's CPU cost off a busy proxy's cores. It is also
/// the longest a row waits in memory before its batch is written (the write's own time
/// aside), which bounds what a `kill -9` can lose.
pub const MAX_BATCH_AGE: Duration = Duration::from_millis(50);
/// How often the writer looks for changes made by other connections while it is idle.
const CATALOG_POLL: Duration = Duration::from_millis(500);
/// Events and health checks held in memory while the database cannot be written.
const MAX_PENDING_ACTIVITY: usize = 2_000;
/// How long one write waits for another connection's lock before the writer backs off and
/// takes in new rows; far below the store's usual 10 s, since the writer retries anyway.
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// Backoff between retries of a batch: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_LAST: Duration = Duration::from_secs(2);
/// A write that fails for another reason than a lock (disk full, I/O) is retried this many
/// times before its batch is dropped: such errors rarely pass, and must not stall the log.
const OTHER_ERROR_RETRIES: u32 = 5;
/// After the engine stopped, how long the writer keeps retrying a locked database before it
/// gives up on what it holds (shutdown must end).
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// What the writer holds and has not saved yet.
#[derive(Default)]
struct Backlog {
    requests: Vec<RequestRow>,
    health: Vec<HealthUpdate>,
    events: Vec<NewEvent>,
    checks: Vec<CheckRow>,
    flushed: Vec<oneshot::Sender<()>>,
    /// Balances the checker fetched: saved with the key's threshold applied.
    balances: Vec<(Box<crate::balance::Fetched>, Arc<LiveKey>)>,
}

impl Backlog {
    fn is_empty(&self) -> bool {
        self.requests.is_empty()
            && self.health.is_empty()
            && self.events.is_empty()
            && self.checks.is_empty()
            && self.flushed.is_empty()
            && self.balances.is_empty()
    }

    fn items(&self) -> usize {
        self.requests.len() + self.health.len() + self.events.len() + self.checks.len()
    }
}

/// What the writer needs to turn a finished request into a row: prices, budgets, the clock.
struct Rows<'a> {
    clock: Clock,
    prices: Arc<PriceBook>,
    proxy: &'a Weak<ProxyState>,
    budgets: &'a mut BudgetWatch,
    status: &'a WriterStatus,
    /// Provider and model pairs served without a price this run, told once each.
    unpriced: &'a mut std::collections::HashSet<(String, String)>,
}

impl Rows<'_> {
    /// The prices in force now: read again when a wait ends, so a price saved while the
    /// writer waited applies to the rows after it (the proxy's cost header already uses it).
    fn refresh_prices(&mut self) {
        if let Some(proxy) = self.proxy.upgrade() {
            self.prices = proxy.catalog().prices.clone();
        }
    }
}

/// Runs until every sender is gone (the engine stopped), then returns after the last batch:
/// nothing queued is lost on a graceful shutdown. Holds the proxy weakly, for reloads only.
/// Call from within the runtime.
pub fn spawn_writer(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<WriteOp>,
    proxy: Weak<ProxyState>,
    vault: Vault,
) -> JoinHandle<()> {
    let runtime = tokio::runtime::Handle::current();
    let clock = proxy.upgrade().map(|p| p.clock).unwrap_or_default();
    let status = proxy
        .upgrade()
        .map(|p| p.writer.clone())
        .unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let mut store = store;
        if let Err(err) = store.set_busy_timeout(BUSY_TIMEOUT) {
            tracing::warn!("could not set the writer's busy timeout: {err}");
        }
        let mut seen = store.data_version().unwrap_or(0);
        let mut next_prune = Instant::now();
        // The prices in force, kept after the engine dropped its state so the last rows of
        // a shutdown are priced like the others.
        let mut prices = Arc::new(PriceBook::default());
        let mut budgets = BudgetWatch::default();
        let mut unpriced = std::collections::HashSet::new();
        let mut backlog = Backlog::default();
        let mut open = true;
        while open || !backlog.is_empty() {
            // Held only for this statement: the proxy owns the channel's sender, and the loop
            // ends when the last sender is gone.
            if let Some(proxy) = proxy.upgrade() {
                prices = proxy.catalog().prices.clone();
                budgets.release_due(&proxy);
            }
            let mut rows = Rows {
                clock,
                prices,
                proxy: &proxy,
                budgets: &mut budgets,
                status: &status,
                unpriced: &mut unpriced,
            };
            if backlog.is_empty() {
                if Instant::now() >= next_prune {
                    prune(&mut store);
                    next_prune = Instant::now() + PRUNE_EVERY;
                }
                match runtime.block_on(tokio::time::timeout(CATALOG_POLL, rx.recv())) {
                    Ok(Some(first)) => {
                        rows.refresh_prices();
                        // A flush is written at once; anything else starts a batch.
                        if !take(&mut backlog, first, &mut rows) {
                            let deadline = Instant::now() + MAX_BATCH_AGE;
                            open = gather(&runtime, &mut rx, &mut backlog, &mut rows, deadline);
                        }
                    }
                    Ok(None) => open = false,
                    Err(_) => {}
                }
            }
            if !backlog.is_empty() {
                open = save(&runtime, &mut store, &mut rx, &mut backlog, &mut rows, open);
            }
            prices = rows.prices;
            reload_if_changed(&store, &mut seen, &proxy, &vault);
        }
    })
}

/// Takes ops from the channel into `backlog` until `deadline`, a full batch or a flush;
/// returns whether the channel is still open.
///
/// One timer and one entry into the runtime per batch, not per op: at low load every op
/// arrives on its own, and a fresh `timeout` per wait (timer wheel insert and removal, a
/// `block_on` each) cost the writer about a thousand instructions per request.
fn gather(
    runtime: &tokio::runtime::Handle,
    rx: &mut mpsc::UnboundedReceiver<WriteOp>,
    backlog: &mut Backlog,
    rows: &mut Rows<'_>,
    deadline: Instant,
) -> bool {
    let start = backlog.items();
    runtime.block_on(async {
        let expired = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::pin!(expired);
        while backlog.items().saturating_sub(start) < MAX_BATCH {
            let op = match rx.try_recv() {
                Ok(op) => op,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
                Err(mpsc::error::TryRecvError::Empty) if Instant::now() >= deadline => {
                    return true;
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::select! {
                        biased;
                        op = rx.recv() => match op {
                            Some(op) => op,
                            None => return false,
                        },
                        () = &mut expired => return true,
                    }
                }
            };
            if take(backlog, op, rows) {
                // A flush: write what we have now.
                return true;
            }
        }
        true
    })
}

/// Adds one op to the backlog; true for a flush request.
fn take(backlog: &mut Backlog, op: WriteOp, rows: &mut Rows<'_>) -> bool {
    match op {
        WriteOp::Flush(ack) => {
            backlog.flushed.push(ack);
            return true;
        }
        WriteOp::Event(event) if backlog.events.len() < MAX_PENDING_ACTIVITY => {
            backlog.events.push(event);
        }
        WriteOp::Check(check) if backlog.checks.len() < MAX_PENDING_ACTIVITY => {
            backlog.checks.push(check);
        }
        // Activity past its bound only happens while the database is held for long; the
        // events also went out live, and a key's newest check is in its health.
        WriteOp::Event(_) | WriteOp::Check(_) => {}
        WriteOp::Health(update) => {
            // Only a key's latest health matters until it is written.
            backlog.health.retain(|h| h.key_id != update.key_id);
            backlog.health.push(update);
        }
        WriteOp::Balance(fetched, key) => backlog.balances.push((fetched, key)),
        WriteOp::Request(finished) => {
            let row = finish_row(*finished, rows);
            if backlog.requests.len() < MAX_PENDING_ROWS {
                backlog.requests.push(row);
            } else {
                rows.status.dropped(1);
            }
        }
    }
    false
}

/// Tells once per run that `model` of `provider` is served without a price: its usage counts
/// as $0 until one is set.
fn unpriced(rows: &mut Rows<'_>, provider: &str, model: &str) {
    let pair = (provider.to_string(), model.to_string());
    if rows.unpriced.contains(&pair) {
        return;
    }
    let Some(proxy) = rows.proxy.upgrade() else {
        return;
    };
    let mut event = Event::new(
        EventKind::ModelUnpriced,
        format!(
            "model {model:?} of {provider} has no price, so its usage counts as $0: set one with \
             keygate model price {model} --provider {provider} --input USD --output USD"
        ),
    );
    event.provider = Some(provider.to_string());
    proxy.emit(event);
    rows.unpriced.insert(pair);
}

/// The row with its usage (from a non-streamed answer's bytes) and cost; the tokens count
/// against the key's `--tpm` (slightly after the fact), cost and tokens against the key's and
/// the access token's budgets.
fn finish_row(finished: Finished, rows: &mut Rows<'_>) -> RequestRow {
    let Finished {
        mut row,
        body,
        key,
        token,
    } = finished;
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
    ) && let Some(price) = rows.prices.price_at(provider, model, &row.at)
    {
        row.cost_micros = Some(cost_micros(
            price,
            prompt,
            completion,
            row.cached_tokens.unwrap_or(0),
        ));
    }
    let tokens = row
        .prompt_tokens
        .unwrap_or(0)
        .saturating_add(row.completion_tokens.unwrap_or(0));
    if row.cost_micros.is_none()
        && tokens > 0
        && let (Some(provider), Some(model)) = (&row.provider, &row.model_served)
    {
        unpriced(rows, provider, model);
    }
    if let Some(key) = key {
        if tokens > 0 {
            key.runtime.limiter.note_tokens(rows.clock.now_ms(), tokens);
        }
        rows.budgets.count(
            rows.proxy.upgrade().as_deref(),
            rows.clock,
            &key,
            row.provider.as_deref().unwrap_or_default(),
            row.cost_micros.unwrap_or(0),
            tokens,
        );
    }
    if !token.budgets.is_empty() {
        rows.budgets.count_token(
            rows.proxy.upgrade().as_deref(),
            rows.clock,
            &token,
            row.cost_micros.unwrap_or(0),
            tokens,
        );
    }
    row
}

/// Writes the backlog, retrying with backoff while the database is held by another
/// connection, and taking in new ops meanwhile. Returns whether the channel is still open.
fn save(
    runtime: &tokio::runtime::Handle,
    store: &mut Store,
    rx: &mut mpsc::UnboundedReceiver<WriteOp>,
    backlog: &mut Backlog,
    rows: &mut Rows<'_>,
    mut open: bool,
) -> bool {
    let mut wait = RETRY_FIRST;
    let mut other_errors = 0;
    let mut closed_at: Option<Instant> = None;
    loop {
        let err = match write(store, backlog, rows.status, rows.proxy) {
            Ok(()) => {
                rows.status.recovered();
                return open;
            }
            Err(err) => err,
        };
        rows.status.failed(&err, backlog.requests.len());
        if !err.is_busy() {
            other_errors += 1;
        }
        if !open {
            closed_at.get_or_insert_with(Instant::now);
        }
        let out_of_patience = closed_at.is_some_and(|t| t.elapsed() >= SHUTDOWN_PATIENCE);
        if other_errors > OTHER_ERROR_RETRIES || out_of_patience {
            rows.status.dropped(backlog.requests.len());
            backlog.requests.clear();
            backlog.health.clear();
            backlog.events.clear();
            backlog.checks.clear();
            for ack in backlog.flushed.drain(..) {
                let _ = ack.send(());
            }
            return open;
        }
        // Back off, taking in what arrives meanwhile (the bound applies in `take`).
        let until = Instant::now() + wait;
        while open && Instant::now() < until {
            open = gather(runtime, rx, backlog, rows, until);
        }
        if !open {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        wait = (wait * 2).min(RETRY_LAST);
    }
}

/// One attempt at writing everything held: request rows a batch per transaction (health
/// updates with the first), then events and checks. What was written leaves the backlog, so
/// a retry writes only the rest.
fn write(
    store: &mut Store,
    backlog: &mut Backlog,
    status: &WriterStatus,
    proxy: &Weak<ProxyState>,
) -> Result<(), StoreError> {
    // Balances first: a key that turned yellow has its health written with the batch below.
    // In arrival order, so a newer balance of a key overwrites an older one; after a failed
    // save the ones behind it stay for the retry.
    while !backlog.balances.is_empty() {
        let (fetched, key) = backlog.balances.remove(0);
        let provider = fetched.provider.clone();
        let (row, event) = crate::balance::record(store, *fetched)?;
        let proxy = proxy.upgrade();
        let now = proxy.as_ref().map(|p| p.clock.now_ms()).unwrap_or_default();
        let before = key.runtime.health(now);
        crate::balance::apply(&key, &row);
        match proxy {
            Some(proxy) => {
                let after = key.runtime.health(now);
                if after != before {
                    proxy.announce_change(&key, &provider, before, after);
                    backlog
                        .health
                        .push(super::outcome::health_update(&key, None, None, false, now));
                }
                if let Some(event) = event {
                    proxy.emit(event);
                }
            }
            None => backlog.events.extend(event.map(|e| e.row())),
        }
    }
    while !backlog.requests.is_empty() || !backlog.health.is_empty() {
        let n = backlog.requests.len().min(MAX_BATCH);
        store.write_batch(&backlog.requests[..n], &backlog.health)?;
        backlog.requests.drain(..n);
        backlog.health.clear();
        status.saved(n);
    }
    if !backlog.events.is_empty() || !backlog.checks.is_empty() {
        store.write_activity(&backlog.events, &backlog.checks)?;
        backlog.events.clear();
        backlog.checks.clear();
    }
    for ack in backlog.flushed.drain(..) {
        let _ = ack.send(());
    }
    Ok(())
}

/// How often old request rows and rollups are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: u32 = 5000;

/// Deletes request rows older than `retention.request_days` (default 90) and rollups older
/// than `retention.rollup_days` (default 730, 0 = never), a batch per short transaction, so
/// neither the writer nor other connections wait long.
fn prune(store: &mut Store) {
    let days = |name: &str, default: u64| {
        store
            .get_setting::<u64>(name)
            .ok()
            .flatten()
            .filter(|d| super::settings::validate_setting(name, *d).is_ok())
            .unwrap_or(default)
    };
    let (request_days, rollup_days) = (
        days("retention.request_days", 90),
        days("retention.rollup_days", 730),
    );
    let ago = |days: u64| {
        chrono::Utc::now() - chrono::Duration::days(i64::try_from(days).unwrap_or(i64::MAX / 2))
    };
    let before = ago(request_days).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let pruned = prune_in_batches(
        || store.prune_requests(&before, PRUNE_BATCH),
        "request rows",
    );
    if pruned > 0 {
        tracing::info!("pruned {pruned} request rows older than {request_days} days");
    }
    if rollup_days == 0 {
        return;
    }
    let before_hour = ago(rollup_days).format("%Y-%m-%dT%H").to_string();
    let pruned = prune_in_batches(|| store.prune_rollups(&before_hour, PRUNE_BATCH), "rollups");
    if pruned > 0 {
        tracing::info!("pruned {pruned} hourly rollups older than {rollup_days} days");
    }
}

fn prune_in_batches(mut step: impl FnMut() -> Result<usize, StoreError>, what: &str) -> usize {
    let mut pruned = 0;
    loop {
        match step() {
            Ok(n) => {
                pruned += n;
                if n < PRUNE_BATCH as usize {
                    return pruned;
                }
            }
            Err(err) => {
                tracing::warn!("could not prune old {what}: {err}");
                return pruned;
            }
        }
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
