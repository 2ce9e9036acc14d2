//! `POST /api/reload`: rebuild the proxy's catalog (and its settings) from the store now. For changes another
//! process wrote to the store: the CLI asks for this after each write and waits for the
//! answer, so a disabled key or a revoked token is out before the command returns. The
//! writer's watch on the store (`PRAGMA data_version`, polled) stays the fallback for writers
//! that do not ask.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::{ApiError, AppState};

/// What the catalog in force holds after the reload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// Always true: the catalog in force was built from the store after the request arrived.
    reloaded: bool,
    /// Enabled providers.
    providers: usize,
    /// Keys the proxy may pick (enabled, on an enabled provider, secret found).
    keys: usize,
    /// Access tokens (revoked ones are gone).
    tokens: usize,
    /// Model aliases.
    routes: usize,
}

/// Rebuilds the proxy's catalog from the store and answers once the new one is in force.
#[utoipa::path(post, path = "/api/reload", tag = "meta", operation_id = "reloadCatalog",
    responses(
        (status = 200, description = "the catalog in force was built from the store after this request arrived", body = Reloaded),
        (status = 500, description = "the store could not be read; the catalog in force is unchanged", body = crate::error::ErrorBody),
    ))]
pub async fn reload(State(state): State<AppState>) -> Result<Json<Reloaded>, ApiError> {
    let rebuild = state.clone();
    state
        .with_store(move |store| {
            // Not `reload_catalog`, which only logs a failure: the caller must learn of it.
            rebuild.proxy().rebuild_catalog(store, rebuild.vault())?;
            // `keygate settings set` asks for this too: settings are in force at once.
            rebuild
                .proxy()
                .replace_settings(crate::proxy::ProxySettings::load(store));
            Ok(())
        })
        .await?;
    let catalog = state.proxy().catalog();
    Ok(Json(Reloaded {
        reloaded: true,
        providers: catalog.providers.len(),
        keys: catalog.providers.iter().map(|p| p.keys.len()).sum(),
        tokens: catalog.tokens.len(),
        routes: catalog.routes.len(),
    }))
}
