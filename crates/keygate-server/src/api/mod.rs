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

pub use config::TokenBudgets;
pub use keys::KeyView;

use crate::guard::admin_auth;
use crate::{ApiError, AppState};

/// True for the admin API's paths: what no route serves there is a JSON 404, not the UI.
pub(crate) fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Routes that need no admin token.
pub fn public_routes() -> Router<AppState> {
    public_router().layer(middleware::from_fn(reject::json_errors))
}

/// Routes behind the admin token.
pub fn admin_routes(state: AppState) -> Router<AppState> {
    admin_router()
        .route("/api/{*rest}", any(unknown))
        .route_layer(middleware::from_fn_with_state(state, admin_auth))
        .layer(middleware::from_fn(reject::json_errors))
}

/// The API's paths, one line of handlers per path. Each list makes two things: a router
/// (`$router`, from each handler's documented path and methods only: cheap, at start-up) and
/// the same routes with their documentation (`$documented`, through utoipa-axum's `routes!`,
/// built only when the document is asked for). What is routed is what is documented.
macro_rules! api_paths {
    ($router:ident, $documented:ident: $( [$($handler:ident $(:: $rest:ident)*),+] )+) => {
        fn $router() -> Router<AppState> {
            use utoipa_axum::PathItemExt as _;
            let mut router = Router::new();
            $(
                let mut path: Option<String> = None;
                let mut methods = axum::routing::MethodRouter::new();
                $(
                    let this = routes!(@path [path()] of $handler $(:: $rest)*);
                    assert!(path.as_ref().is_none_or(|p| *p == this), "one path per line: {this}");
                    path = Some(this);
                    for method in routes!(@path [methods()] of $handler $(:: $rest)*) {
                        methods = methods.on(method.to_method_filter(), $handler $(:: $rest)*);
                    }
                )+
                router = router.route(path.as_deref().unwrap_or_default(), methods);
            )+
            router
        }

        fn $documented() -> OpenApiRouter<AppState> {
            OpenApiRouter::new() $( .routes(routes!($($handler $(:: $rest)*),+)) )+
        }
    };
}

api_paths!(public_router, public_api: [health::engine]);

api_paths!(admin_router, admin_api:
    [keys::list, key_create::create]
    [key_create::import]
    [key_create::check]
    [keys::get, keys::edit]
    [key_actions::test_one]
    [keys::put_limits]
    [keys::refresh_balance]
    [key_actions::batch]
    [health::key_health]
    [health::providers_health]
    [key_actions::force_check]
    [health::get_config, health::put_config]
    [health::events]
    [health::recent_events]
    [providers::list, providers::create]
    [providers::edit, providers::delete]
    [providers::test]
    [providers::presets]
    [logs::list]
    [usage::usage]
    [usage::cost]
    [usage::metrics]
    [charts::chart]
    [proxy_state, set_proxy_state]
    [config::list_tokens, config::create_token]
    [config::revoke_token]
    [config::put_token_budgets]
    [connect::list]
    [connect::apply, connect::undo]
    [config::list_routes]
    [config::put_route, config::delete_route]
    [config::list_settings]
    [config::put_setting]
    [models::list]
    [models::set_price]
    [models::sync]
    [models::unpriced]
    [reload::reload]
    [session::get, session::open, session::close]
    [openapi::serve]
);

/// Every route's OpenAPI path and the schemas they use, from the same lists as the routers.
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
