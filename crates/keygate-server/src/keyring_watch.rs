//! Secrets the keyring would not give. At start-up, and whenever the keyring may have come
//! back, reconcile reads every key's secret: keys whose keyring is locked or not running turn
//! red "secret unavailable" with the keyring's reason, and the proxy's catalog leaves them
//! out. A watch then asks the keyring every [`RETRY_INTERVAL`] whether those entries are still
//! locked, which never shows an unlock prompt, and reconciles again once they are not; a key
//! test of such a key reconciles at once (a read the person asked for may prompt).

use std::time::{Duration, Instant};

use keygate_vault::LockState;

use crate::events::Event;
use crate::{AppState, reconcile};

/// How often the watch asks whether the keyring is still locked.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// Where the platform cannot tell without a read (which may prompt), a read this often at most.
const BLIND_RETRY_INTERVAL: Duration = Duration::from_secs(60);

/// Reconciles the keys' secrets with the keyring and rebuilds the proxy's catalog with what it
/// read, so each secret is read once; announces keys that turned red or came back.
pub async fn reconcile_and_load(state: &AppState) {
    let vault = state.vault().clone();
    let proxy = state.proxy_arc();
    let result = state
        .with_store(move |store| {
            let registry = &proxy.registry;
            registry.retry_unavailable();
            match reconcile::reconcile_secrets(store, &vault, &mut |id, secret| {
                registry.cache_secret(id, secret)
            }) {
                Ok(report) => {
                    log(&report);
                    for (id, cause) in &report.unavailable {
                        registry.note_unavailable(id, cause);
                    }
                    for change in report.changes {
                        proxy.emit(Event::key_state(
                            &change.id,
                            &change.label,
                            &change.provider,
                            change.from,
                            change.to,
                        ));
                    }
                }
                Err(err) => tracing::warn!("could not reconcile key secrets: {err}"),
            }
            proxy.rebuild_catalog(store, &vault)?;
            Ok(())
        })
        .await;
    if let Err(err) = result {
        tracing::warn!("could not load providers and keys: {}", err.message);
    }
}

fn log(report: &reconcile::ReconcileReport) {
    if !report.orphans_removed.is_empty() {
        tracing::warn!(
            "removed {} orphaned keyring entries left by an interrupted add or import",
            report.orphans_removed.len()
        );
    }
    if !report.missing.is_empty() {
        tracing::warn!(missing = ?report.missing, "keys whose secret is missing are marked red");
    }
    if let Some((_, cause)) = report.unavailable.first() {
        tracing::warn!(
            "{} keys are red until the keyring gives their secrets: {cause}",
            report.unavailable.len()
        );
    } else if !report.changes.is_empty() {
        tracing::info!(
            "the keyring gave {} keys' secrets again",
            report.changes.len()
        );
    }
}

/// Reads the unavailable keys' secrets again now (for a key test): reconnects to the keyring
/// first, since a daemon that restarted invalidates the old connection's session.
pub async fn retry_now(state: &AppState) {
    let vault = state.vault().clone();
    let reconnected = tokio::task::spawn_blocking(move || vault.reconnect()).await;
    if let Ok(Err(err)) = reconnected {
        tracing::debug!("cannot reconnect to the keyring: {err}");
    }
    reconcile_and_load(state).await;
}

/// Watches for the keyring to give the unavailable keys' secrets, until the engine stops.
pub fn spawn_watch(state: AppState) {
    let mut stopping = state.proxy().stopping();
    tokio::spawn(async move {
        let mut last_blind_read = Instant::now();
        loop {
            tokio::select! {
                _ = stopping.changed() => return,
                () = tokio::time::sleep(RETRY_INTERVAL) => {}
            }
            if state.proxy().registry.unavailable().is_empty() {
                continue;
            }
            let vault = state.vault().clone();
            let lock = tokio::task::spawn_blocking(move || vault.lock_state())
                .await
                .unwrap_or(LockState::Locked);
            let due = match lock {
                LockState::Readable => true,
                LockState::Locked => false,
                LockState::Unknown => last_blind_read.elapsed() >= BLIND_RETRY_INTERVAL,
            };
            if due {
                last_blind_read = Instant::now();
                retry_now(&state).await;
            }
        }
    });
}
