//! What the CLI configures, through the admin API for the UI: access tokens
//! (`GET|POST /api/tokens`, `DELETE /api/tokens/{name}`; a new token is shown once), routes
//! (`GET /api/routes`, `PUT|DELETE /api/routes/{alias}`) and proxy settings
//! (`GET /api/settings`, `PUT /api/settings/{name}`; read when the engine starts).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_core::health_machine::parse_expiry;
use keygate_core::select::{Strategy, validate_alias};
use keygate_core::token::{
    token_from_random_bytes, token_hash, token_hint, validate_model_glob, validate_token_name,
};
use keygate_store::{NewToken, RouteTier};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::proxy::{SETTINGS, validate_setting};
use crate::{ApiError, AppState};

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(body: JsonBody<T>, code: &'static str, shape: &str) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        ApiError::invalid(
            code,
            vec![(
                "body".into(),
                format!("expected {shape} ({})", e.body_text()),
            )],
        )
    })
}

pub async fn list_tokens(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let tokens = state.with_store(|store| Ok(store.list_tokens()?)).await?;
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    #[serde(default)]
    models: Vec<String>,
    expires: Option<String>,
}

/// Creates a token and answers it once; only its hash and a hint are kept.
pub async fn create_token(
    State(state): State<AppState>,
    request: JsonBody<NewTokenBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body(request, "invalid_token", "{name, models?, expires?}")?;
    let mut problems = Vec::new();
    if let Err(e) = validate_token_name(&request.name) {
        problems.push(("name".to_string(), e));
    }
    let models: Vec<String> = request
        .models
        .iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    for glob in &models {
        if let Err(e) = validate_model_glob(glob) {
            problems.push(("models".into(), e));
        }
    }
    let now = chrono::Utc::now().timestamp();
    let expires_at = match request.expires.as_deref().map(parse_expiry).transpose() {
        Ok(Some(at)) if at <= now => {
            problems.push(("expires".into(), "is in the past".into()));
            None
        }
        Ok(at) => at.and_then(|at| {
            chrono::DateTime::from_timestamp(at, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
        Err(e) => {
            problems.push(("expires".into(), e));
            None
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid_token", problems));
    }
    let bytes: [u8; 64] = rand::random();
    let token = token_from_random_bytes(&bytes)
        .ok_or_else(|| ApiError::internal("the random generator gave too few usable bytes"))?;
    let row = NewToken {
        name: request.name.clone(),
        hash: token_hash(&token),
        hint: token_hint(&token),
        models: models.clone(),
        expires_at: expires_at.clone(),
    };
    let reload = state.clone();
    state
        .with_store(move |store| {
            store.insert_token(&row)?;
            reload.reload_catalog(store);
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "name": request.name, "token": token, "models": models, "expires_at": expires_at }),
        ),
    ))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let revoked = name.clone();
    let reload = state.clone();
    state
        .with_store(move |store| {
            store.revoke_token(&revoked)?;
            reload.reload_catalog(store);
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "revoked": name })))
}

pub async fn list_routes(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let routes = state.with_store(|store| Ok(store.list_routes()?)).await?;
    Ok(Json(json!({ "routes": routes })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// `[{provider, model}]`, tried in this order.
    tiers: Vec<RouteTier>,
    strategy: Option<String>,
}

pub async fn put_route(
    State(state): State<AppState>,
    Path(alias): Path<String>,
    request: JsonBody<RouteBody>,
) -> Result<Json<Value>, ApiError> {
    let request = body(
        request,
        "invalid_route",
        "{tiers: [{provider, model}], strategy?}",
    )?;
    let mut problems = Vec::new();
    if let Err(e) = validate_alias(&alias) {
        problems.push(("alias".to_string(), e));
    }
    let strategy = request.strategy.as_deref().unwrap_or("priority");
    if let Err(e) = strategy.parse::<Strategy>() {
        problems.push(("strategy".into(), e));
    }
    if request.tiers.is_empty() {
        problems.push((
            "tiers".into(),
            "give at least one provider and model".into(),
        ));
    }
    if request
        .tiers
        .iter()
        .any(|t| t.provider.trim().is_empty() || t.model.trim().is_empty())
    {
        problems.push((
            "tiers".into(),
            "every tier needs a provider and a model".into(),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid_route", problems));
    }
    let strategy = strategy.to_string();
    let tiers = request.tiers;
    let reload = state.clone();
    state
        .with_store(move |store| {
            for tier in &tiers {
                if store.get_provider(&tier.provider)?.is_none() {
                    return Err(ApiError::invalid(
                        "invalid_route",
                        vec![(
                            "tiers".into(),
                            format!("no provider named {:?}", tier.provider),
                        )],
                    ));
                }
            }
            store.upsert_route(&alias, &tiers, &strategy)?;
            reload.reload_catalog(store);
            Ok(Json(
                json!({ "alias": alias, "tiers": tiers, "strategy": strategy }),
            ))
        })
        .await
}

pub async fn delete_route(
    State(state): State<AppState>,
    Path(alias): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let deleted = alias.clone();
    let reload = state.clone();
    state
        .with_store(move |store| {
            store.delete_route(&deleted)?;
            reload.reload_catalog(store);
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "deleted": alias })))
}

pub async fn list_settings(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let settings = state
        .with_store(|store| {
            SETTINGS
                .iter()
                .map(|&(name, about, default)| {
                    let value = store
                        .get_setting::<u64>(name)?
                        .filter(|v| validate_setting(name, *v).is_ok())
                        .unwrap_or(default);
                    Ok(json!({ "name": name, "value": value, "default": default, "about": about }))
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(Json(
        json!({ "settings": settings, "applies": "when the engine starts" }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingBody {
    value: u64,
}

pub async fn put_setting(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: JsonBody<SettingBody>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request, "invalid_setting", "{value: number}")?;
    validate_setting(&name, request.value)
        .map_err(|e| ApiError::invalid("invalid_setting", vec![("value".into(), e)]))?;
    let value = request.value;
    let saved = name.clone();
    state
        .with_store(move |store| Ok(store.set_setting(&saved, &value)?))
        .await?;
    Ok(Json(
        json!({ "name": name, "value": value, "applies": "when the engine starts" }),
    ))
}
