//! The proxy (`/v1`): OpenAI-compatible and Anthropic Messages endpoints that pick a healthy key, fail over to
//! another key or provider when one breaks, and stream bytes as they arrive. The request path
//! reads an atomically swapped catalog and atomics only: no database access, no global lock.

mod admit;
mod anthropic_error;
pub(crate) mod attempt;
mod auth;
mod budgets;
pub(crate) mod catalog;
mod exchange;
mod final_error;
mod forward;
mod ledger;
mod messages;
mod models;
mod openai_error;
pub(crate) mod outcome;
mod passthrough;
mod peek;
mod redacted;
mod registry;
mod relay;
mod routing;
mod sticky;
mod stream;
mod translated_stream;
mod unmatched;
pub(crate) mod upstream;
mod upstream_client;
mod writer;
mod writer_status;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Router, middleware};
use bytes::Bytes;
use keygate_store::{HealthUpdate, RequestRow};
use tokio::sync::mpsc;

pub use catalog::{Catalog, Clock};
pub use registry::Registry;
pub use relay::Usage;
pub(crate) use unmatched::{is_proxy_path, not_found};
pub use writer::{MAX_BATCH_AGE, MAX_PENDING_ROWS, WriterHealth, WriterStatus, spawn_writer};

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
    /// When every key that could serve a request is cooling down (429), wait up to this long
    /// for the first one to cool instead of failing. Zero: fail at once.
    pub max_wait: Duration,
    /// Keep a client conversation (a session id) on the key that served it while that key is
    /// healthy, so provider-side prompt caches keep working.
    pub sticky_sessions: bool,
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
            max_wait: Duration::ZERO,
            sticky_sessions: true,
        }
    }
}

/// The proxy settings a user may change (`keygate settings set NAME VALUE`), stored in the
/// settings table and read when the engine starts: name, what it means, and its default.
pub const SETTINGS: [(&str, &str, u64); 8] = [
    (
        "proxy.max_attempts",
        "attempts per request, across keys and tiers",
        3,
    ),
    (
        "proxy.deadline_seconds",
        "total time for all attempts of a request",
        120,
    ),
    (
        "proxy.max_wait_ms",
        "wait up to this long for a cooling key instead of failing (0 = never wait)",
        0,
    ),
    (
        "proxy.sticky_sessions",
        "keep a session on its key while healthy (1 = on, 0 = off)",
        1,
    ),
    ("proxy.body_limit_mib", "largest request body accepted", 32),
    (
        "proxy.idle_timeout_seconds",
        "longest silence inside an upstream answer; longest wait for a request's body",
        120,
    ),
    (
        "retention.request_days",
        "days request-log rows are kept (older ones are pruned hourly)",
        90,
    ),
    (
        "retention.rollup_days",
        "days hourly usage rollups (reports, charts) are kept; 0 = forever",
        730,
    ),
];

/// Checks a value for one of [`SETTINGS`]; the error names the allowed range.
pub fn validate_setting(name: &str, value: u64) -> Result<(), String> {
    let range = match name {
        "proxy.max_attempts" => 1..=10,
        "proxy.deadline_seconds" => 1..=3600,
        "proxy.max_wait_ms" => 0..=600_000,
        "proxy.sticky_sessions" => 0..=1,
        "proxy.body_limit_mib" => 1..=1024,
        "proxy.idle_timeout_seconds" => 1..=3600,
        "retention.request_days" => 1..=3650,
        // Budgets start from a month of rollups, so less than 32 days would forget spend.
        "retention.rollup_days" if value == 0 => return Ok(()),
        "retention.rollup_days" => 32..=36_500,
        _ => {
            let known: Vec<&str> = SETTINGS.iter().map(|(n, _, _)| *n).collect();
            return Err(format!(
                "unknown setting {name:?}; known: {}",
                known.join(", ")
            ));
        }
    };
    if range.contains(&value) {
        Ok(())
    } else {
        let forever = if name == "retention.rollup_days" {
            " (or 0 to keep them forever)"
        } else {
            ""
        };
        Err(format!(
            "{name} must be between {} and {}{forever}, not {value}",
            range.start(),
            range.end()
        ))
    }
}

impl ProxySettings {
    /// The defaults, overridden by what the user stored.
    pub fn load(store: &keygate_store::Store) -> Self {
        let mut settings = Self::default();
        let get = |name: &str| {
            store
                .get_setting::<u64>(name)
                .ok()
                .flatten()
                .filter(|v| validate_setting(name, *v).is_ok())
        };
        if let Some(v) = get("proxy.max_attempts") {
            settings.max_attempts = usize::try_from(v).unwrap_or(settings.max_attempts);
        }
        if let Some(v) = get("proxy.deadline_seconds") {
            settings.total_deadline = Duration::from_secs(v);
        }
        if let Some(v) = get("proxy.max_wait_ms") {
            settings.max_wait = Duration::from_millis(v);
        }
        if let Some(v) = get("proxy.sticky_sessions") {
            settings.sticky_sessions = v == 1;
        }
        if let Some(v) = get("proxy.body_limit_mib") {
            settings.body_limit = usize::try_from(v * 1024 * 1024).unwrap_or(settings.body_limit);
        }
        if let Some(v) = get("proxy.idle_timeout_seconds") {
            settings.idle_timeout = Duration::from_secs(v);
        }
        settings
    }
}

/// What the request path hands to the background writer.
pub enum WriteOp {
    Health(HealthUpdate),
    /// An event for the events table.
    Event(keygate_store::NewEvent),
    /// A health check or key test for the key's history.
    Check(keygate_store::CheckRow),
    /// A finished request; `body` is a non-streamed answer whose usage the writer reads, off
    /// the request path; the key that served it gets the tokens counted against its limits
    /// and the cost against its budgets.
    Request(
        Box<RequestRow>,
        Option<Bytes>,
        Option<Arc<catalog::LiveKey>>,
    ),
    /// Write the batch being gathered now, then answer: everything sent before is stored.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Everything the proxy needs at run time.
pub struct ProxyState {
    catalog: ArcSwap<Catalog>,
    /// Held while a catalog is built and installed (see `rebuild_catalog`).
    catalog_rebuild: std::sync::Mutex<()>,
    pub registry: Registry,
    pub clock: Clock,
    pub client: reqwest::Client,
    /// The client for proxied requests (reqwest's layers cost too much on the request path).
    pub upstream: upstream_client::UpstreamClient,
    pub settings: ProxySettings,
    pub writer_tx: mpsc::UnboundedSender<WriteOp>,
    /// What the writer holds, lost and last failed on (`/api/health`).
    pub writer: Arc<WriterStatus>,
    pub models: models::ModelCache,
    pub sessions: sticky::Sessions,
    pub events: tokio::sync::broadcast::Sender<crate::events::Event>,
    /// Flips to true when the engine starts shutting down (long-lived streams end on it).
    stopping: tokio::sync::watch::Sender<bool>,
    /// The health checker's configuration; changing it wakes the checker.
    pub health_config: tokio::sync::watch::Sender<crate::health::CheckerConfig>,
}

impl ProxyState {
    pub fn new(
        settings: ProxySettings,
        writer_tx: mpsc::UnboundedSender<WriteOp>,
    ) -> reqwest::Result<Self> {
        let tls = upstream::tls_config();
        let client = upstream::client_with_tls(settings.connect_timeout, tls.clone())?;
        Ok(Self {
            catalog: ArcSwap::from_pointee(Catalog::default()),
            catalog_rebuild: std::sync::Mutex::new(()),
            registry: Registry::default(),
            clock: Clock::new(),
            upstream: upstream_client::UpstreamClient::new(
                settings.connect_timeout,
                tls,
                client.clone(),
            ),
            client,
            settings,
            writer_tx,
            writer: Arc::default(),
            models: models::ModelCache::default(),
            sessions: sticky::Sessions::default(),
            events: tokio::sync::broadcast::channel(crate::events::BUS_CAPACITY).0,
            stopping: tokio::sync::watch::channel(false).0,
            health_config: tokio::sync::watch::channel(crate::health::CheckerConfig::default()).0,
        })
    }

    /// Tells long-lived tasks and streams (checker, event streams) that the engine is stopping.
    pub fn begin_stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Waits (at most a second) until everything queued for the store so far is written: for
    /// admin actions that answer with what they saved (a key test), not for the request path.
    pub async fn flush_writes(&self) {
        let (ack, written) = tokio::sync::oneshot::channel();
        if self.writer_tx.send(WriteOp::Flush(ack)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), written).await;
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Builds the catalog from `store` and installs it. Rebuilds take turns: the writer's
    /// background reload can race an admin change's own reload, and a build that read the
    /// store before the change must not be installed after the one that read it after (it
    /// would bring back, after the change was acknowledged, what the change removed).
    pub fn rebuild_catalog(
        &self,
        store: &keygate_store::Store,
        vault: &keygate_vault::Vault,
    ) -> Result<(), keygate_store::StoreError> {
        let _turn = self
            .catalog_rebuild
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let catalog = self.registry.build(store, vault, self.clock.now_ms())?;
        self.catalog.store(Arc::new(catalog));
        Ok(())
    }
}

pub fn routes(state: AppState) -> Router<AppState> {
    let limit = state.proxy().settings.body_limit;
    Router::new()
        .route("/v1/chat/completions", post(forward::chat_completions))
        .route("/v1/completions", post(forward::completions))
        .route("/v1/embeddings", post(forward::embeddings))
        .route("/v1/responses", post(forward::responses))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::get))
        .route(
            "/p/{provider}/{*path}",
            axum::routing::any(passthrough::passthrough),
        )
        .layer(DefaultBodyLimit::max(limit))
        .route_layer(middleware::from_fn_with_state(state, entry))
        .method_not_allowed_fallback(unmatched::method_not_allowed)
}

/// What every proxy route does before its handler, in one layer (each layer costs a boxed
/// future and a clone of the service behind it, per request): refuse while the proxy is
/// paused, name the caller by its access token, and only then read the body. Errors come in
/// the schema of the endpoint called.
async fn entry(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let anthropic = anthropic_error::is_anthropic_path(request.uri().path());
    let admitted = if state.proxy_paused() {
        Err(openai_error::ProxyError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "proxy_paused",
            "proxy_paused",
            "the KeyGate proxy is paused: resume it from the tray menu or the Settings page",
        ))
    } else {
        auth::caller(&state, request.headers())
    };
    let read = match admitted {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            read_body(&state.proxy().settings, request).await
        }
        Err(err) => Err(err),
    };
    match read {
        Ok(request) => next.run(request).await,
        Err(err) if anthropic => anthropic_error::anthropic_response(err),
        Err(err) => axum::response::IntoResponse::into_response(err),
    }
}

/// Reads the request body before the handler, within the body limit and the idle timeout:
/// a client that announces a body and never sends it (or dribbles it) is answered 408 instead
/// of holding its connection, and an oversized body gets a 413 in the endpoint's error schema
/// after it was read up to the limit (so a client still writing sees the answer, not a broken
/// pipe).
async fn read_body(
    settings: &ProxySettings,
    request: axum::extract::Request,
) -> Result<axum::extract::Request, openai_error::ProxyError> {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        settings.idle_timeout,
        axum::body::to_bytes(body, settings.body_limit),
    )
    .await;
    match read {
        Ok(Ok(bytes)) => Ok(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        )),
        Ok(Err(err)) => {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                openai_error::ProxyError::new(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request_error",
                    "request_too_large",
                    format!(
                        "the request body is over {} MiB (setting proxy.body_limit_mib)",
                        settings.body_limit / (1024 * 1024)
                    ),
                )
            } else {
                openai_error::ProxyError::invalid_request(
                    "body_unreadable",
                    "the request body could not be read",
                )
            })
        }
        Err(_) => Err(openai_error::ProxyError::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "request_timeout",
            format!(
                "the request body did not arrive within {} s (setting proxy.idle_timeout_seconds)",
                settings.idle_timeout.as_secs()
            ),
        )),
    }
}
