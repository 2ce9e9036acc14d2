//! `GET /v1/models` (and `/v1/models/{id}`): the union of the models every provider with a usable key lists, plus the
//! route aliases, filtered by what the caller's token may use. Upstream lists are cached for a
//! minute, so tools that poll this endpoint do not hammer providers.

use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::auth::Caller;
use super::catalog::LiveProvider;
use super::openai_error::ProxyError;
use super::state::ModelEntry;
use super::upstream::{endpoint_url, request_headers};
use crate::AppState;

const CACHE_FOR: Duration = Duration::from_secs(60);
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Response {
    let data: Vec<Value> = visible(&state, &caller)
        .await
        .into_iter()
        .map(|(id, owner)| model_object(&id, &owner))
        .collect();
    Json(json!({ "object": "list", "data": data })).into_response()
}

/// `GET /v1beta/models` (Google's shape): the same models, each with the methods KeyGate
/// relays for it.
pub async fn gemini_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let models: Vec<Value> = visible(&state, &caller)
        .await
        .into_iter()
        .map(|(id, _)| {
            json!({
                "name": format!("models/{id}"), "displayName": id,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            })
        })
        .collect();
    Json(json!({ "models": models })).into_response()
}

/// `GET /v1/models/{id}`: one model `/v1/models` lists (aliases too), in OpenAI's shape; ids
/// may hold slashes (`openrouter/anthropic/claude-…`), so the route takes the rest of the path.
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    // An id that does not decode (bad percent-encoding) names no model either.
    let id = id.map(|Path(id)| id).unwrap_or_default();
    match visible(&state, &caller)
        .await
        .into_iter()
        .find(|(m, _)| *m == id)
    {
        Some((id, owner)) => Json(model_object(&id, &owner)).into_response(),
        None => ProxyError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("The model `{id}` does not exist or you do not have access to it."),
        )
        .into_response(),
    }
}

fn model_object(id: &str, owner: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": owner })
}

/// Every model the caller may use: the providers' lists (cached) and the route aliases,
/// sorted, each id once.
async fn visible(state: &AppState, caller: &Caller) -> Vec<ModelEntry> {
    let proxy = state.proxy();
    let mut entries = match proxy.models.fresh(CACHE_FOR) {
        Some(entries) => entries,
        None => {
            let catalog = proxy.catalog();
            let lists = catalog
                .providers
                .iter()
                .filter(|p| !p.keys.is_empty())
                .map(|p| list_provider(state, p));
            let entries: Vec<ModelEntry> = futures_util::future::join_all(lists)
                .await
                .into_iter()
                .flatten()
                .collect();
            proxy.models.put(entries.clone());
            entries
        }
    };
    let catalog = proxy.catalog();
    entries.extend(
        catalog
            .routes
            .keys()
            .filter(|alias| !alias.contains('*'))
            .map(|alias| (alias.clone(), "keygate".to_string())),
    );
    entries.sort();
    entries.dedup_by(|a, b| a.0 == b.0);
    entries.retain(|(id, _)| caller.may_use(id));
    entries
}

/// One provider's model ids, through its first usable key; empty when it cannot be listed.
async fn list_provider(state: &AppState, provider: &LiveProvider) -> Vec<ModelEntry> {
    let proxy = state.proxy();
    let now = proxy.clock.now_ms();
    let Some(key) = provider.keys.iter().find(|k| k.runtime.available(now)) else {
        return Vec::new();
    };
    let Some(url) = endpoint_url(provider, "/models", "") else {
        return Vec::new();
    };
    let request = proxy
        .client
        .get(url)
        .headers(request_headers(&HeaderMap::new(), provider, key))
        .send();
    let Ok(Ok(response)) = tokio::time::timeout(LIST_TIMEOUT, request).await else {
        return Vec::new();
    };
    if !response.status().is_success() {
        return Vec::new();
    }
    let Ok(Ok(bytes)) = tokio::time::timeout(LIST_TIMEOUT, response.bytes()).await else {
        return Vec::new();
    };
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    body["data"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m["id"].as_str())
                .map(|id| (id.to_string(), provider.name.clone()))
                .collect()
        })
        .unwrap_or_default()
}
