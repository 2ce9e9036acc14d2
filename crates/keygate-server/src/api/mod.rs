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
mod usage;

use axum::routing::any;
use axum::{Json, Router, middleware};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use keys::KeyView;

use crate::guard::admin_auth;
use crate::{ApiError, AppState};

/// True for the admin API's paths: what no route serves there is a JSON 404, not the UI.
pub(crate) fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Routes that need no admin token.
pub fn public_routes() -> Router<AppState> {
    public_api().split_for_parts().0
}

/// Routes behind the admin token.
pub fn admin_routes(state: AppState) -> Router<AppState> {
    admin_api()
        .split_for_parts()
        .0
        .route("/api/{*rest}", any(unknown))
        .route_layer(middleware::from_fn_with_state(state, admin_auth))
        .layer(middleware::from_fn(reject::json_errors))
}

/// The public routes with their OpenAPI paths: what is routed is what is documented, and the
/// other way round, because both come from the same `routes!`.
fn public_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::engine))
        .layer(middleware::from_fn(reject::json_errors))
}

/// The admin routes with their OpenAPI paths (one `routes!` per path, its methods together).
fn admin_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(keys::list, key_create::create))
        .routes(routes!(key_create::import))
        .routes(routes!(key_create::check))
        .routes(routes!(keys::get, keys::edit))
        .routes(routes!(key_actions::test_one))
        .routes(routes!(keys::put_limits))
        .routes(routes!(key_actions::batch))
        .routes(routes!(health::key_health))
        .routes(routes!(health::providers_health))
        .routes(routes!(key_actions::force_check))
        .routes(routes!(health::get_config, health::put_config))
        .routes(routes!(health::events))
        .routes(routes!(health::recent_events))
        .routes(routes!(providers::list, providers::create))
        .routes(routes!(providers::edit, providers::delete))
        .routes(routes!(providers::test))
        .routes(routes!(providers::presets))
        .routes(routes!(logs::list))
        .routes(routes!(usage::usage))
        .routes(routes!(usage::cost))
        .routes(routes!(usage::metrics))
        .routes(routes!(charts::chart))
        .routes(routes!(proxy_state, set_proxy_state))
        .routes(routes!(config::list_tokens, config::create_token))
        .routes(routes!(config::revoke_token))
        .routes(routes!(connect::list))
        .routes(routes!(connect::apply, connect::undo))
        .routes(routes!(config::list_routes))
        .routes(routes!(config::put_route, config::delete_route))
        .routes(routes!(config::list_settings))
        .routes(routes!(config::put_setting))
        .routes(routes!(models::list))
        .routes(routes!(models::set_price))
        .routes(routes!(models::sync))
        .routes(routes!(reload::reload))
        .routes(routes!(session::get, session::open, session::close))
        .routes(routes!(openapi::serve))
}

/// Every route's OpenAPI path and the schemas they use, from the routers themselves.
fn routed_paths() -> OpenApi {
    let mut doc = public_api().into_openapi();
    doc.merge(admin_api().into_openapi());
    doc
}

async fn unknown() -> ApiError {
    ApiError::not_found("no such API endpoint")
}

/// `GET|PUT /api/proxy/state` `{"paused": bool}`: the proxy's pause switch (the tray's too).
#[utoipa::path(get, path = "/api/proxy/state", tag = "proxy", operation_id = "getProxyState",
    responses((status = 200, description = "whether the proxy is paused", body = ProxyStateBody)))]
async fn proxy_state(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Json<ProxyStateBody> {
    Json(ProxyStateBody {
        paused: state.proxy_paused(),
    })
}

#[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
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
        (status = 422, description = "the body is not `{paused: bool}`", body = crate::error::ErrorBody),
    ))]
async fn set_proxy_state(
    axum::extract::State(state): axum::extract::State<AppState>,
    body: Result<Json<ProxyStateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ProxyStateBody>, ApiError> {
    let Json(body) = body
        .map_err(|e| ApiError::invalid("invalid_state", vec![("paused".into(), e.body_text())]))?;
    state.set_proxy_paused(body.paused);
    Ok(Json(ProxyStateBody {
        paused: state.proxy_paused(),
    }))
}
