//! The admin API (`/api`): JSON in and out, errors as `{"error":{"code","message"}}`.

mod charts;
mod config;
mod connect;
mod health;
mod key_actions;
mod key_create;
pub(crate) mod keys;
mod logs;
mod models;
mod openapi;

pub use openapi::document as openapi_document;
mod providers;
mod reject;
mod reload;
mod session;
mod shapes;
mod usage;

use axum::Router;
use axum::routing::{get, post, put};
use axum::{Json, middleware};
use serde_json::{Value, json};

pub use keys::KeyView;
pub(crate) use shapes::ModelAbilities;

use crate::guard::admin_auth;
use crate::{ApiError, AppState};

/// True for the admin API's paths: what no route serves there is a JSON 404, not the UI.
pub(crate) fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Routes that need no admin token.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health::engine))
        .layer(middleware::from_fn(reject::json_errors))
}

/// Routes behind the admin token.
pub fn admin_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/keys", get(keys::list).post(key_create::create))
        .route("/api/keys/import", post(key_create::import))
        .route("/api/keys/check", post(key_create::check))
        .route("/api/keys/{id}", get(keys::get).put(keys::edit))
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
        .route(
            "/api/providers",
            get(providers::list).post(providers::create),
        )
        .route(
            "/api/providers/{name}",
            put(providers::edit).delete(providers::delete),
        )
        .route("/api/providers/{name}/test", post(providers::test))
        .route("/api/presets", get(providers::presets))
        .route("/api/logs", get(logs::list))
        .route("/api/usage", get(usage::usage))
        .route("/api/usage/cost", get(usage::cost))
        .route("/api/metrics", get(usage::metrics))
        .route("/api/charts/{file}", get(charts::chart))
        .route("/api/proxy/state", get(proxy_state).put(set_proxy_state))
        .route(
            "/api/tokens",
            get(config::list_tokens).post(config::create_token),
        )
        .route(
            "/api/tokens/{name}",
            axum::routing::delete(config::revoke_token),
        )
        .route("/api/connect", get(connect::list))
        .route(
            "/api/connect/{tool}",
            post(connect::apply).delete(connect::undo),
        )
        .route("/api/routes", get(config::list_routes))
        .route(
            "/api/routes/{alias}",
            put(config::put_route).delete(config::delete_route),
        )
        .route("/api/settings", get(config::list_settings))
        .route("/api/settings/{name}", put(config::put_setting))
        .route("/api/models", get(models::list))
        .route("/api/models/price", put(models::set_price))
        .route("/api/models/sync", post(models::sync))
        .route("/api/reload", post(reload::reload))
        .route(
            "/api/session",
            get(session::get).post(session::open).delete(session::close),
        )
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/{*rest}", axum::routing::any(unknown))
        .route_layer(middleware::from_fn_with_state(state, admin_auth))
        .layer(middleware::from_fn(reject::json_errors))
}

async fn unknown() -> ApiError {
    ApiError::not_found("no such API endpoint")
}

/// `GET|PUT /api/proxy/state` `{"paused": bool}`: the proxy's pause switch (the tray's too).
#[utoipa::path(get, path = "/api/proxy/state", tag = "proxy", operation_id = "getProxyState",
    responses((status = 200, description = "whether the proxy is paused", body = ProxyStateBody)))]
async fn proxy_state(axum::extract::State(state): axum::extract::State<AppState>) -> Json<Value> {
    Json(json!({ "paused": state.proxy_paused() }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyState)]
struct ProxyStateBody {
    paused: bool,
}

/// Pauses or resumes the proxy at once.
#[utoipa::path(put, path = "/api/proxy/state", tag = "proxy", operation_id = "putProxyState",
    request_body = ProxyStateBody,
    responses(
        (status = 200, description = "the state in force", body = ProxyStateBody),
        (status = 422, description = "the body is not `{paused: bool}`", body = shapes::ErrorBody),
    ))]
async fn set_proxy_state(
    axum::extract::State(state): axum::extract::State<AppState>,
    body: Result<Json<ProxyStateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body
        .map_err(|e| ApiError::invalid("invalid_state", vec![("paused".into(), e.body_text())]))?;
    state.set_proxy_paused(body.paused);
    Ok(Json(json!({ "paused": state.proxy_paused() })))
}
