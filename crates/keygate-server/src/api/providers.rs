use axum::Json;
use axum::extract::State;
use keygate_core::provider::{PRESETS, find_preset};
use serde_json::{Value, json};

use crate::{ApiError, AppState};

#[utoipa::path(get, path = "/api/providers", tag = "providers", operation_id = "listProviders",
    responses((status = 200, description = "the providers", body = super::shapes::ProviderList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let providers = state
        .with_store(|store| Ok(store.list_providers()?))
        .await?;
    let providers: Vec<Value> = providers
        .into_iter()
        .map(|p| {
            let docs_url = find_preset(&p.name).map_or("", |preset| preset.docs_url);
            json!({
                "name": p.name,
                "kind": p.kind,
                "base_url": p.base_url,
                "enabled": p.enabled,
                "priority": p.priority,
                "key_count": p.key_count,
                "docs_url": docs_url,
                "header_names": p.headers.keys().collect::<Vec<_>>(),
                "created_at": p.created_at,
            })
        })
        .collect();
    Ok(Json(json!({ "providers": providers })))
}

/// The provider presets a key can be added for: picking one creates the provider.
#[utoipa::path(get, path = "/api/presets", tag = "providers", operation_id = "listPresets",
    responses((status = 200, description = "the built-in presets", body = super::shapes::PresetList)))]
pub async fn presets() -> Json<Value> {
    Json(json!({ "presets": PRESETS }))
}
