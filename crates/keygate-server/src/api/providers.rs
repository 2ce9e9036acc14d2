//! Providers in the admin API: list them with their live state, add one (from a preset or a
//! custom endpoint), edit, enable or disable it, delete it (with its keys when asked), and test
//! all of its keys. Every answer is a typed struct: these types are the documented shapes.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use keygate_core::breaker::BreakerState;
use keygate_core::health::HealthState;
use keygate_core::provider::{
    API_VERSION_HEADER, PRESETS, ProviderKind, check_api_version, check_header, find_preset,
    new_provider_parts, validate_base_url,
};
use keygate_store::{KeyRow, NewProvider, ProviderEdit, ProviderRow, Store, StoreError};
use keygate_vault::SecretRef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::health::TestReport;
use crate::proxy::Catalog;
use crate::{ApiError, AppState};

/// `GET /api/providers`.
#[derive(Serialize, ToSchema)]
pub struct ProviderList {
    providers: Vec<ProviderView>,
}

/// A provider as the admin API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Provider)]
pub struct ProviderView {
    name: String,
    kind: ProviderKind,
    base_url: String,
    enabled: bool,
    priority: i64,
    key_count: i64,
    /// The preset's documentation page; empty when the provider is not a preset.
    docs_url: String,
    /// The preset it was made from, if its name is one.
    preset: Option<String>,
    /// Extra headers sent upstream (names only: values can hold secrets).
    header_names: Vec<String>,
    /// Azure's `api-version` when one is set.
    api_version: Option<String>,
    /// Routes with a tier on this provider.
    routes: Vec<String>,
    /// What the engine knows of it right now.
    state: ProviderState,
    created_at: String,
}

/// A provider's live state: its keys by health, its circuit breaker and any pause.
#[derive(Serialize, ToSchema)]
pub struct ProviderState {
    /// The provider's keys by state (disabled keys count as `disabled`).
    keys: KeyStateCounts,
    /// `null` while the engine does not serve the provider (disabled, or no usable key).
    breaker: Option<BreakerText>,
    /// How long the provider stays paused after a failure burst (0: not paused).
    paused_for_ms: u64,
}

#[derive(Serialize, ToSchema, Default)]
pub struct KeyStateCounts {
    healthy: u64,
    degraded: u64,
    unhealthy: u64,
    unknown: u64,
    disabled: u64,
}

/// A provider's circuit breaker.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum BreakerText {
    Closed,
    Open,
    HalfOpen,
}

/// `GET /api/providers/health`.
#[derive(Serialize, ToSchema)]
pub struct ProvidersHealth {
    providers: Vec<ProviderHealth>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderHealth {
    provider: String,
    #[serde(flatten)]
    state: ProviderState,
}

/// The live state of `name` from its key rows and the running catalog.
pub fn live_state(catalog: &Catalog, keys: &[KeyRow], name: &str, now_ms: u64) -> ProviderState {
    let mut counts = KeyStateCounts::default();
    for row in keys.iter().filter(|r| r.provider == name) {
        let state = if row.enabled {
            row.health.state
        } else {
            HealthState::Disabled
        };
        match state {
            HealthState::Healthy => counts.healthy += 1,
            HealthState::Degraded => counts.degraded += 1,
            HealthState::Unhealthy => counts.unhealthy += 1,
            HealthState::Disabled => counts.disabled += 1,
            HealthState::Unknown => counts.unknown += 1,
        }
    }
    let live = catalog.provider(name);
    let breaker = live
        .and_then(|p| p.runtime.breaker.lock().ok().map(|b| b.state(now_ms)))
        .map(|s| match s {
            BreakerState::Closed => BreakerText::Closed,
            BreakerState::Open => BreakerText::Open,
            BreakerState::HalfOpen => BreakerText::HalfOpen,
        });
    let paused_for_ms = live.map_or(0, |p| {
        p.runtime
            .paused_until_ms
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(now_ms)
    });
    ProviderState {
        keys: counts,
        breaker,
        paused_for_ms,
    }
}

/// `GET /api/providers/health`: per provider with keys, its keys by state and its breaker.
pub fn providers_health(catalog: &Catalog, keys: &[KeyRow], now_ms: u64) -> ProvidersHealth {
    let mut names: Vec<&str> = keys.iter().map(|r| r.provider.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    ProvidersHealth {
        providers: names
            .into_iter()
            .map(|name| ProviderHealth {
                provider: name.to_string(),
                state: live_state(catalog, keys, name, now_ms),
            })
            .collect(),
    }
}

fn view(state: &AppState, store: &Store, row: ProviderRow) -> Result<ProviderView, StoreError> {
    let keys = store.list_keys()?;
    let routes = store.list_routes()?;
    Ok(view_of(state, &keys, &routes, row))
}

fn view_of(
    state: &AppState,
    keys: &[KeyRow],
    routes: &[keygate_store::RouteRow],
    row: ProviderRow,
) -> ProviderView {
    let proxy = state.proxy();
    let preset = find_preset(&row.name);
    let state = live_state(&proxy.catalog(), keys, &row.name, proxy.clock.now_ms());
    ProviderView {
        docs_url: preset.map_or("", |p| p.docs_url).to_string(),
        preset: preset.map(|p| p.name.to_string()),
        header_names: row
            .headers
            .keys()
            .filter(|h| !h.starts_with("x-keygate-"))
            .cloned()
            .collect(),
        api_version: row.headers.get(API_VERSION_HEADER).cloned(),
        routes: routes
            .iter()
            .filter(|r| r.tiers.iter().any(|t| t.provider == row.name))
            .map(|r| r.alias.clone())
            .collect(),
        state,
        name: row.name,
        kind: row.kind,
        base_url: row.base_url,
        enabled: row.enabled,
        priority: row.priority,
        key_count: row.key_count,
        created_at: row.created_at,
    }
}

#[utoipa::path(get, path = "/api/providers", tag = "providers", operation_id = "listProviders",
    responses((status = 200, description = "the providers with their live state", body = ProviderList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ProviderList>, ApiError> {
    let (providers, keys, routes) = state
        .with_store(|store| {
            Ok((
                store.list_providers()?,
                store.list_keys()?,
                store.list_routes()?,
            ))
        })
        .await?;
    let providers = providers
        .into_iter()
        .map(|row| view_of(&state, &keys, &routes, row))
        .collect();
    Ok(Json(ProviderList { providers }))
}

/// A provider to add: a preset's name fills in its kind and URL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProviderBody {
    name: String,
    /// `openai`, `anthropic`, `gemini` or `azure`; the preset's when left out.
    kind: Option<String>,
    /// The preset's when left out; needed for custom and Azure endpoints.
    base_url: Option<String>,
    /// Extra headers sent upstream (e.g. `HTTP-Referer`); never a credential.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    priority: i64,
    /// Azure's `api-version` (default 2024-10-21).
    api_version: Option<String>,
}

/// Adds a provider. Its keys are added afterwards (`POST /api/keys`).
#[utoipa::path(post, path = "/api/providers", tag = "providers", operation_id = "createProvider",
    request_body = NewProviderBody,
    responses(
        (status = 201, description = "the new provider", body = ProviderView),
        (status = 409, description = "a provider of that name exists", body = crate::error::ErrorBody),
        (status = 422, description = "a value is invalid (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewProviderBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::rejected("invalid_provider", "{name, …}", &e))?;
    let mut problems = Vec::new();
    let parts = new_provider_parts(&body.name, body.kind.as_deref(), body.base_url.as_deref())
        .map_err(|e| {
            let field = if e.contains("name") {
                "name"
            } else if e.contains("kind") {
                "kind"
            } else {
                "base_url"
            };
            problems.push((field.to_string(), e));
        })
        .ok();
    if let Err(e) = keygate_core::bounds::check_priority(body.priority) {
        problems.push(("priority".into(), e));
    }
    let mut headers = BTreeMap::new();
    for (name, value) in &body.headers {
        match check_header(name, value) {
            Ok((name, value)) => {
                headers.insert(name, value);
            }
            Err(e) => problems.push((format!("headers.{name}"), e)),
        }
    }
    if let Some(version) = body
        .api_version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        match check_api_version(version) {
            Ok(()) => {
                headers.insert(API_VERSION_HEADER.to_string(), version.to_string());
            }
            Err(e) => problems.push(("api_version".into(), e)),
        }
    }
    let Some((kind, base_url)) = parts.filter(|_| problems.is_empty()) else {
        return Err(ApiError::invalid("invalid_provider", problems));
    };
    let reload = state.clone();
    let answer = state.clone();
    let view = state
        .with_store(move |store| {
            store.insert_provider(&NewProvider {
                name: body.name.clone(),
                kind,
                base_url,
                headers,
                priority: body.priority,
            })?;
            reload.reload_catalog(store);
            let row = store
                .get_provider(&body.name)?
                .ok_or_else(|| ApiError::internal("the provider was not saved"))?;
            Ok(view(&answer, store, row)?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A provider edit: what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderEditBody {
    kind: Option<String>,
    base_url: Option<String>,
    /// Headers to set; a `null` value removes that header.
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
    priority: Option<i64>,
    /// A disabled provider is not used by the proxy; its keys are kept.
    enabled: Option<bool>,
    /// Azure's `api-version`; an empty text goes back to the default.
    api_version: Option<String>,
}

/// Changes a provider; it takes effect for the next request.
#[utoipa::path(put, path = "/api/providers/{name}", tag = "providers", operation_id = "editProvider",
    params(("name" = String, Path, description = "the provider's name")),
    request_body = ProviderEditBody,
    responses(
        (status = 200, description = "the updated provider", body = ProviderView),
        (status = 404, description = "no provider of that name", body = crate::error::ErrorBody),
        (status = 422, description = "a value is invalid (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn edit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<ProviderEditBody>, JsonRejection>,
) -> Result<Json<ProviderView>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::rejected("invalid_provider", "{…}", &e))?;
    let mut problems = Vec::new();
    let mut edit = ProviderEdit {
        priority: body.priority,
        enabled: body.enabled,
        ..ProviderEdit::default()
    };
    if let Some(kind) = &body.kind {
        match kind.parse::<ProviderKind>() {
            Ok(kind) => edit.kind = Some(kind),
            Err(e) => problems.push(("kind".into(), e.to_string())),
        }
    }
    if let Some(url) = &body.base_url {
        let url = url.trim().trim_end_matches('/').to_string();
        match validate_base_url(&url) {
            Ok(()) => edit.base_url = Some(url),
            Err(e) => problems.push(("base_url".into(), e)),
        }
    }
    if let Some(Err(e)) = body.priority.map(keygate_core::bounds::check_priority) {
        problems.push(("priority".into(), e));
    }
    for (header, value) in &body.headers {
        match value {
            Some(value) => match check_header(header, value) {
                Ok((header, value)) => {
                    edit.headers.insert(header, Some(value));
                }
                Err(e) => problems.push((format!("headers.{header}"), e)),
            },
            None => {
                edit.headers
                    .insert(header.trim().to_ascii_lowercase(), None);
            }
        }
    }
    if let Some(version) = body.api_version.as_deref().map(str::trim) {
        if version.is_empty() {
            edit.headers.insert(API_VERSION_HEADER.to_string(), None);
        } else if let Err(e) = check_api_version(version) {
            problems.push(("api_version".into(), e));
        } else {
            edit.headers
                .insert(API_VERSION_HEADER.to_string(), Some(version.to_string()));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid_provider", problems));
    }
    let reload = state.clone();
    let answer = state.clone();
    let view = state
        .with_store(move |store| {
            let row = store.edit_provider(&name, &edit)?;
            // Acknowledged means applied: the next request sees the new URL or switch.
            reload.reload_catalog(store);
            Ok(view(&answer, store, row)?)
        })
        .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also delete the provider's keys and their keyring entries.
    #[serde(default)]
    with_keys: bool,
}

/// What deleting a provider took with it.
#[derive(Serialize, ToSchema)]
pub struct ProviderDeleted {
    name: String,
    /// The keys deleted with it.
    keys_deleted: Vec<String>,
    /// Routes that no longer try this provider but kept other tiers.
    routes_changed: Vec<String>,
    /// Routes that served only from this provider, deleted with it.
    routes_removed: Vec<String>,
    /// Keys whose keyring entry could not be removed (remove those by hand).
    keyring_entries_left: Vec<String>,
}

/// Deletes a provider. One that still has keys is refused (409) unless `with_keys=true`.
#[utoipa::path(delete, path = "/api/providers/{name}", tag = "providers", operation_id = "deleteProvider",
    params(("name" = String, Path, description = "the provider's name"), DeleteQuery),
    responses(
        (status = 200, description = "what was deleted", body = ProviderDeleted),
        (status = 404, description = "no provider of that name", body = crate::error::ErrorBody),
        (status = 409, description = "the provider still has keys", body = crate::error::ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<Json<ProviderDeleted>, ApiError> {
    let vault = state.vault().clone();
    let reload = state.clone();
    let deleted = state
        .with_store(move |store| {
            let removal = store.remove_provider(&name, query.with_keys)?;
            reload.reload_catalog(store);
            let keyring_entries_left = removal
                .keys
                .iter()
                .filter(|k| k.secret_ref == SecretRef::Keyring.to_string())
                .filter_map(|k| vault.remove(&k.id).err().map(|_| k.id.clone()))
                .collect();
            Ok(ProviderDeleted {
                name,
                keys_deleted: removal.keys.into_iter().map(|k| k.id).collect(),
                routes_changed: removal.routes_changed,
                routes_removed: removal.routes_removed,
                keyring_entries_left,
            })
        })
        .await?;
    Ok(Json(deleted))
}

/// What testing a provider's keys found.
#[derive(Serialize, ToSchema)]
pub struct ProviderTested {
    provider: String,
    /// One report per key, in the keys' order.
    results: Vec<TestReport>,
}

/// Tests every key of the provider with one cheap request each.
#[utoipa::path(post, path = "/api/providers/{name}/test", tag = "providers", operation_id = "testProvider",
    params(("name" = String, Path, description = "the provider's name")),
    responses(
        (status = 200, description = "a report per key", body = ProviderTested),
        (status = 404, description = "no provider of that name", body = crate::error::ErrorBody),
    ))]
pub async fn test(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProviderTested>, ApiError> {
    let wanted = name.clone();
    let ids = state
        .with_store(move |store| {
            if store.get_provider(&wanted)?.is_none() {
                return Err(ApiError::not_found(format!("no provider named {wanted:?}")));
            }
            Ok(store
                .list_keys()?
                .into_iter()
                .filter(|k| k.provider == wanted)
                .map(|k| k.id)
                .collect::<Vec<_>>())
        })
        .await?;
    let results = super::key_actions::run_tests(&state, &ids, false).await?;
    Ok(Json(ProviderTested {
        provider: name,
        results,
    }))
}

/// `GET /api/presets`.
#[derive(Serialize, ToSchema)]
pub struct PresetList {
    presets: &'static [keygate_core::provider::Preset],
}

/// The provider presets a key can be added for: picking one creates the provider.
#[utoipa::path(get, path = "/api/presets", tag = "providers", operation_id = "listPresets",
    responses((status = 200, description = "the built-in presets", body = PresetList)))]
pub async fn presets() -> Json<PresetList> {
    Json(PresetList { presets: PRESETS })
}
