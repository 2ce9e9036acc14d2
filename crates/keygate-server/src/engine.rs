use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use keygate_store::{Store, StoreError};
use keygate_vault::{Sensitive, Vault};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::guard::host_guard;
use crate::{AppState, api, reconcile, ui};

/// Everything the engine needs, passed in by the binary that starts it.
pub struct EngineConfig {
    /// `KEYGATE_HOME`: where `keygate.db` lives.
    pub home: PathBuf,
    pub vault: Vault,
    pub admin_token: Sensitive<String>,
    /// How long shutdown waits for in-flight requests (streams included) before it stops
    /// anyway.
    pub drain_timeout: Duration,
}

/// The drain timeout binaries use unless told otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the listener's address: {0}")]
    Listener(std::io::Error),
    #[error("the start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A running engine: its address, and a handle to wait for it to finish draining.
pub struct EngineHandle {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl EngineHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server has stopped (after the shutdown future resolved and in-flight
    /// requests finished).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }
}

pub struct Engine;

impl Engine {
    /// Starts serving on `listener` until `shutdown` resolves. Opens (and migrates) the store,
    /// then reconciles key secrets in the background so start-up stays fast.
    pub async fn start<F>(
        config: EngineConfig,
        listener: TcpListener,
        shutdown: F,
    ) -> Result<EngineHandle, EngineError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().map_err(EngineError::Listener)?;
        let home = config.home.clone();
        let config_drain = config.drain_timeout;
        let store = tokio::task::spawn_blocking(move || Store::open_in(&home)).await??;
        let state = AppState::new(
            config.home,
            store,
            config.vault,
            &config.admin_token,
            addr.port(),
        );
        spawn_reconcile(state.clone());
        let app = router(state);
        let drain_timeout = config_drain;
        let (stopping_tx, mut stopping_rx) = watch::channel(false);
        let graceful = async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        };
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(graceful);
            let deadline = async move {
                let _ = stopping_rx.wait_for(|stopping| *stopping).await;
                tokio::time::sleep(drain_timeout).await;
            };
            tokio::select! {
                result = serve => result,
                () = deadline => {
                    tracing::warn!("requests still in flight after {drain_timeout:?}; stopping anyway");
                    Ok(())
                }
            }
        });
        Ok(EngineHandle { addr, task })
    }
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::public_routes())
        .merge(api::admin_routes(state.clone()))
        .fallback(ui::serve)
        .layer(middleware::from_fn_with_state(state.clone(), host_guard))
        .with_state(state)
}

fn spawn_reconcile(state: AppState) {
    tokio::spawn(async move {
        let vault = state.vault().clone();
        let result = state
            .with_store(move |store| {
                reconcile::reconcile_secrets(store, &vault)
                    .map_err(|e| crate::ApiError::internal(e.to_string()))
            })
            .await;
        match result {
            Ok(report) if !report.missing.is_empty() => {
                tracing::warn!(missing = ?report.missing, "keys whose secret is missing are marked red");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!("could not reconcile key secrets: {}", err.message),
        }
    });
}
