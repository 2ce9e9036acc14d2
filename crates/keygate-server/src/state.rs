use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use keygate_store::Store;
use keygate_vault::{Sensitive, Vault};
use sha2::{Digest, Sha256};

use crate::ApiError;
use crate::proxy::state::ProxyState;

/// What every request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    home: PathBuf,
    store: Mutex<Store>,
    vault: Vault,
    admin_token_hash: [u8; 32],
    port: u16,
    proxy: Arc<ProxyState>,
    /// The tray's Pause: proxy endpoints answer 503 while set.
    pub(crate) paused: std::sync::atomic::AtomicBool,
    /// The web UI's browser sessions (`crate::sessions`).
    sessions: crate::sessions::Sessions,
    /// `sqlite` or `postgres`.
    store_kind: &'static str,
}

impl AppState {
    pub fn new(
        home: PathBuf,
        store: Store,
        vault: Vault,
        admin_token: &Sensitive<String>,
        port: u16,
        proxy: Arc<ProxyState>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                home,
                store_kind: store.kind(),
                store: Mutex::new(store),
                vault,
                admin_token_hash: Sha256::digest(admin_token.expose().as_bytes()).into(),
                port,
                proxy,
                paused: std::sync::atomic::AtomicBool::new(false),
                sessions: crate::sessions::Sessions::default(),
            }),
        }
    }

    pub fn proxy_paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Pauses or resumes the proxy; a change is announced on the event bus (the UI and the
    /// tray follow it).
    pub fn set_proxy_paused(&self, paused: bool) {
        let was = self
            .inner
            .paused
            .swap(paused, std::sync::atomic::Ordering::Relaxed);
        if was != paused {
            let (kind, message) = if paused {
                (
                    keygate_core::events::EventKind::ProxyPaused,
                    "the proxy is paused: requests get 503 until it resumes",
                )
            } else {
                (
                    keygate_core::events::EventKind::ProxyResumed,
                    "the proxy is serving again",
                )
            };
            self.proxy()
                .emit(crate::events::Event::new(kind, message.to_string()));
        }
    }

    /// Rebuilds the proxy's catalog from `store` now, so an admin change (a token, a route,
    /// a key, a price) applies to the next request rather than at the writer's next look.
    pub fn reload_catalog(&self, store: &Store) {
        if let Err(err) = self.proxy().rebuild_catalog(store, self.vault()) {
            tracing::warn!("could not reload providers and keys: {err}");
        }
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| Self { inner })
    }

    pub fn home(&self) -> &PathBuf {
        &self.inner.home
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn proxy(&self) -> &ProxyState {
        &self.inner.proxy
    }

    pub fn proxy_arc(&self) -> Arc<ProxyState> {
        self.inner.proxy.clone()
    }

    pub fn sessions(&self) -> &crate::sessions::Sessions {
        &self.inner.sessions
    }

    /// `sqlite` or `postgres`: which store this engine runs on.
    pub fn store_kind(&self) -> &'static str {
        self.inner.store_kind
    }

    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Compares a presented admin token with the real one in constant time (on their hashes).
    pub fn is_admin_token(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented
            .iter()
            .zip(self.inner.admin_token_hash.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Runs a store operation on the blocking pool, so SQLite never stalls the async workers.
    pub async fn with_store<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = state.inner.store.lock().map_err(|_| {
                ApiError::internal("the database connection was poisoned by an earlier panic")
            })?;
            op(&mut store)
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }
}
