//! The proxy (`/v1`): OpenAI-compatible and Anthropic Messages endpoints that pick a healthy key, fail over to
//! another key or provider when one breaks, and stream bytes as they arrive. The request path
//! reads an atomically swapped catalog and atomics only: no database access, no global lock.

mod admit;
mod answer;
mod anthropic_error;
pub(crate) mod attempt;
mod auth;
mod budgets;
pub(crate) mod catalog;
mod commit;
mod entry;
mod exchange;
mod failover;
mod final_error;
mod forward;
mod gemini;
mod ledger;
mod legs;
mod messages;
mod models;
mod openai_error;
pub(crate) mod outcome;
mod passthrough;
mod peek;
mod redacted;
mod registry;
mod relay;
mod rescue;
pub(crate) mod routing;
mod select;
mod settings;
mod shaper;
mod splice;
pub(crate) mod state;
mod sticky;
mod stream;
mod unmatched;
pub(crate) mod upstream;
mod upstream_client;
mod writer;
mod writer_status;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Router, middleware};

pub use catalog::{Catalog, Clock};
pub use registry::Registry;
pub use relay::Usage;
pub use settings::{ProxySettings, SETTINGS, applies_live, validate_setting};
pub use state::{ProxyState, WriteOp};
pub(crate) use unmatched::{is_proxy_path, not_found};
pub use writer::{MAX_BATCH_AGE, MAX_PENDING_ROWS, WriterHealth, WriterStatus, spawn_writer};

use crate::AppState;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(forward::chat_completions))
        .route("/v1/completions", post(forward::completions))
        .route("/v1/embeddings", post(forward::embeddings))
        .route("/v1/responses", post(forward::responses))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/models", get(models::list))
        // POST: Gemini's `models/{model}:{method}` under the `/v1` version Google also serves.
        .route("/v1/models/{*id}", get(models::get).post(gemini::models))
        .route("/v1beta/models", get(models::gemini_list))
        .route("/v1beta/models/{model_method}", post(gemini::models))
        .route(
            "/p/{provider}/{*path}",
            axum::routing::any(passthrough::passthrough),
        )
        // `entry::read_body` reads the body within the limit in force (a live setting); the
        // handlers get it whole.
        .layer(DefaultBodyLimit::disable())
        .route_layer(middleware::from_fn_with_state(state, entry::entry))
        .method_not_allowed_fallback(unmatched::method_not_allowed)
}
