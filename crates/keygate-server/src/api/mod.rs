//! The admin API (`/api`): JSON in and out, errors as `{"error":{"code","message"}}`.

mod charts;
mod health;
mod key_actions;
mod key_create;
pub(crate) mod keys;
mod logs;
mod models;
mod providers;
mod usage;

use axum::Router;
use axum::routing::{get, post, put};
use axum::{Json, middleware};
use serde_json::{Value, json};

pub use keys::KeyView;

use crate::guard::admin_auth;
use crate::{ApiError, AppState};

/// Routes that need no admin token.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

/// Routes behind the admin token.
pub fn admin_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/keys", get(keys::list).post(key_create::create))
        .route("/api/keys/import", post(key_create::import))
        .route("/api/keys/{id}", get(keys::get))
        .route("/api/keys/{id}/test", post(key_actions::test_one))
        .route("/api/keys/{id}/limits", put(keys::put_limits))
        .route("/api/keys/batch", post(key_actions::batch))
        .route("/api/keys/{id}/health", get(health::key_health))
        .route("/api/providers/health", get(health::providers_health))
        .route("/api/health-check/force/{id}", post(key_actions::test_one))
        .route(
            "/api/health-check/config",
            get(health::get_config).put(health::put_config),
        )
        .route("/api/events", get(health::events))
        .route("/api/events/recent", get(health::recent_events))
        .route("/api/providers", get(providers::list))
        .route("/api/presets", get(providers::presets))
        .route("/api/logs", get(logs::list))
        .route("/api/usage", get(usage::usage))
        .route("/api/usage/cost", get(usage::cost))
        .route("/api/metrics", get(usage::metrics))
        .route("/api/charts/{file}", get(charts::chart))
        .route("/api/models", get(models::list))
        .route("/api/models/price", put(models::set_price))
        .route("/api/models/sync", post(models::sync))
        .route("/api/{*rest}", axum::routing::any(unknown))
        .route_layer(middleware::from_fn_with_state(state, admin_auth))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn unknown() -> ApiError {
    ApiError::not_found("no such API endpoint")
}
