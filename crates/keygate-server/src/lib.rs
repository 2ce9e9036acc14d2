//! KeyGate's engine at run time: one local HTTP server that serves the admin API (`/api`),
//! the web UI (`/`) and, as later slices land, the proxy (`/v1`, `/p/{provider}/…`).
//!
//! The engine takes an already bound listener and a shutdown future, so the desktop shell,
//! `keygate serve` and tests all own their port. It must never log, return or persist a secret,
//! and never accept a request whose Host header is not its own loopback address.

mod api;
pub mod balance;
pub mod charts;
pub mod connect;
mod connections;
mod engine;
mod error;
pub mod events;
mod guard;
pub mod health;
pub mod key_admin;
mod keyring_watch;
pub mod model_catalog;
pub mod monitor;
pub mod proxy;
mod reconcile;
mod serve;
pub mod sessions;
mod startup;
mod state;
mod ui;

pub use api::openapi_document;
pub use api::{KeyView, TokenBudgets};
pub use engine::{DEFAULT_DRAIN_TIMEOUT, Engine, EngineConfig, EngineError, EngineHandle};
pub use error::ApiError;
pub use keygate_store::StoreLocation;
pub use reconcile::{ReconcileReport, reconcile_secrets};
pub use serve::{FIRST_BYTES_TIMEOUT, LOBBY_CAPACITY, MAX_CONNECTIONS_PER_PEER};
pub use startup::{
    ADMIN_TOKEN_ACCOUNT, ADMIN_TOKEN_ENV, StartupError, bind_listener, load_or_create_admin_token,
    resolve_home, vault_from_env,
};
pub use state::AppState;

/// The router for an engine state; tests drive it with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> axum::Router {
    engine::router(state)
}
