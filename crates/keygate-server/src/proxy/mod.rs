//! The proxy (`/v1`): OpenAI-compatible endpoints that pick a healthy key, fail over to
//! another key or provider when one breaks, and stream bytes as they arrive. The request path
//! reads an atomically swapped catalog and atomics only: no database access, no global lock.

mod attempt;
mod auth;
pub(crate) mod catalog;
mod final_error;
mod forward;
mod ledger;
mod models;
mod openai_error;
mod outcome;
mod passthrough;
mod relay;
mod routing;
mod stream;
mod upstream;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Router, middleware};
use bytes::Bytes;
use keygate_store::{HealthUpdate, RequestRow};
use tokio::sync::mpsc;

pub use catalog::{Catalog, Clock, Registry};
pub use relay::Usage;
pub use writer::spawn_writer;

use crate::AppState;

/// Limits and timeouts of the proxy.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub max_attempts: usize,
    /// The whole request, all attempts included, until the response starts.
    pub total_deadline: Duration,
    pub connect_timeout: Duration,
    /// From sending the request to the upstream's response headers.
    pub first_byte_timeout: Duration,
    /// The longest silence inside a response body or stream.
    pub idle_timeout: Duration,
    pub body_limit: usize,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            total_deadline: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(90),
            idle_timeout: Duration::from_secs(120),
            body_limit: 32 * 1024 * 1024,
        }
    }
}

/// What the request path hands to the background writer.
pub enum WriteOp {
    Health(HealthUpdate),
    /// A finished request; `body` is a non-streamed answer whose usage the writer reads, off
    /// the request path.
    Request(Box<RequestRow>, Option<Bytes>),
}

/// Everything the proxy needs at run time.
pub struct ProxyState {
    catalog: ArcSwap<Catalog>,
    pub registry: Registry,
    pub clock: Clock,
    pub client: reqwest::Client,
    pub settings: ProxySettings,
    pub writer_tx: mpsc::UnboundedSender<WriteOp>,
    pub models: models::ModelCache,
}

impl ProxyState {
    pub fn new(
        settings: ProxySettings,
        writer_tx: mpsc::UnboundedSender<WriteOp>,
    ) -> reqwest::Result<Self> {
        Ok(Self {
            catalog: ArcSwap::from_pointee(Catalog::default()),
            registry: Registry::default(),
            clock: Clock::new(),
            client: upstream::client(settings.connect_timeout)?,
            settings,
            writer_tx,
            models: models::ModelCache::default(),
        })
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    pub fn replace_catalog(&self, catalog: Catalog) {
        self.catalog.store(Arc::new(catalog));
    }
}

pub fn routes(state: AppState) -> Router<AppState> {
    let limit = state.proxy().settings.body_limit;
    Router::new()
        .route("/v1/chat/completions", post(forward::chat_completions))
        .route("/v1/completions", post(forward::completions))
        .route("/v1/embeddings", post(forward::embeddings))
        .route("/v1/models", get(models::list))
        .route(
            "/p/{provider}/{*path}",
            axum::routing::any(passthrough::passthrough),
        )
        .layer(DefaultBodyLimit::max(limit))
        .route_layer(middleware::from_fn_with_state(state, auth::require_token))
}
