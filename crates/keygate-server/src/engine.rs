use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use keygate_store::{Store, StoreError};
use keygate_vault::{Sensitive, Vault};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::guard::HostGuard;
use crate::health::{CONFIG_SETTING, CheckerConfig, spawn_checker};
use crate::proxy::{ProxySettings, ProxyState};
use crate::{ApiError, AppState, api, proxy, ui};

/// Everything the engine needs, passed in by the binary that starts it.
pub struct EngineConfig {
    /// `KEYGATE_HOME`: where `keygate.db` lives (for a SQLite store), the engine file and the
    /// admin token.
    pub home: PathBuf,
    /// Where the store is: `StoreLocation::Sqlite(home)` on a desktop, a PostgreSQL database
    /// for a team server (`--store`).
    pub store: keygate_store::StoreLocation,
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
    #[error("cannot create the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A running engine: its address, and a handle to wait for it to finish draining.
pub struct EngineHandle {
    addr: SocketAddr,
    monitor: crate::monitor::EngineMonitor,
    task: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<()>,
    /// `engine.json`, removed once the engine has stopped.
    engine_file: PathBuf,
}

impl EngineHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Key counts, live events and the proxy's pause switch, for a shell such as the tray.
    pub fn monitor(&self) -> crate::monitor::EngineMonitor {
        self.monitor.clone()
    }

    /// Waits until the server has stopped (after the shutdown future resolved and in-flight
    /// requests finished) and every pending request row and health update is saved.
    pub async fn wait(self) -> std::io::Result<()> {
        let served = self.task.await.map_err(std::io::Error::other);
        let written = self.writer.await.map_err(std::io::Error::other);
        let _ = std::fs::remove_file(&self.engine_file);
        written?;
        served?
    }
}

pub struct Engine;

impl Engine {
    /// Starts serving on `listener` until `shutdown` resolves: opens (and migrates) the store,
    /// reconciles key secrets, loads the proxy's catalog, then serves.
    pub async fn start<F>(
        config: EngineConfig,
        listener: TcpListener,
        shutdown: F,
    ) -> Result<EngineHandle, EngineError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().map_err(EngineError::Listener)?;
        let location = config.store.clone();
        let (store, writer_store, settings, checker_config) =
            tokio::task::spawn_blocking(move || {
                let store = Store::connect(&location)?;
                let settings = ProxySettings::load(&store);
                let checker = store
                    .get_setting::<CheckerConfig>(CONFIG_SETTING)
                    .ok()
                    .flatten()
                    .filter(|c| c.problems().is_empty())
                    .unwrap_or_default();
                Ok::<_, StoreError>((store, Store::connect(&location)?, settings, checker))
            })
            .await??;
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let proxy = Arc::new(ProxyState::new(settings, writer_tx)?);
        proxy
            .registry
            .set_max_errors(checker_config.max_error_count);
        proxy.health_config.send_replace(checker_config);
        let state = AppState::new(
            config.home.clone(),
            store,
            config.vault,
            &config.admin_token,
            addr.port(),
            proxy.clone(),
        );
        crate::keyring_watch::reconcile_and_load(&state).await;
        crate::keyring_watch::spawn_watch(state.clone());
        let monitor = crate::monitor::EngineMonitor::new(&state);
        let writer = proxy::spawn_writer(
            writer_store,
            writer_rx,
            Arc::downgrade(&proxy),
            state.vault().clone(),
        );
        spawn_checker(Arc::downgrade(&proxy));
        let stop_proxy = Arc::downgrade(&proxy);
        drop(proxy);

        let app = router(state);
        let drain_timeout = config.drain_timeout;
        let graceful = async move {
            shutdown.await;
            // Event streams and the checker end now, so draining waits only for requests.
            if let Some(proxy) = stop_proxy.upgrade() {
                proxy.begin_stop();
            }
        };
        let task = tokio::spawn(crate::serve::serve(listener, app, graceful, drain_timeout));
        let info = crate::health::EngineInfo {
            port: addr.port(),
            pid: std::process::id(),
        };
        let engine_file = crate::health::engine_file(&config.home);
        if let Ok(text) = serde_json::to_string(&info)
            && let Err(err) = std::fs::write(&engine_file, text)
        {
            tracing::warn!("cannot write {}: {err}", engine_file.display());
        }
        Ok(EngineHandle {
            addr,
            monitor,
            task,
            writer,
            engine_file,
        })
    }
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(proxy::routes(state.clone()))
        .merge(api::public_routes())
        .merge(api::admin_routes(state.clone()))
        .fallback(unmatched)
        .layer(HostGuard { port: state.port() })
        .with_state(state)
}

/// What no route serves: under the proxy's and the API's paths a JSON 404 in their schema
/// (their clients are programs), else the UI, for a browser's navigation (GET) only — a
/// client that asks for JSON and not HTML is a program too.
async fn unmatched(method: Method, uri: Uri, headers: axum::http::HeaderMap) -> Response {
    let path = uri.path();
    if proxy::is_proxy_path(path) {
        return proxy::not_found(&method, path);
    }
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let wants_json = accept.contains("application/json") && !accept.contains("text/html");
    if (method == Method::GET || method == Method::HEAD) && !api::is_api_path(path) && !wants_json {
        return ui::serve(uri).await;
    }
    ApiError::not_found(format!("no such endpoint: {method} {path}")).into_response()
}
