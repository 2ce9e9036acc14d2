//! What the CLI configures, through the admin API for the UI: access tokens
//! (`GET|POST /api/tokens`, `DELETE /api/tokens/{name}`, `PUT /api/tokens/{name}/budgets`; a
//! new token is shown once), routes
//! (`GET /api/routes`, `PUT|DELETE /api/routes/{alias}`) and proxy settings
//! (`GET /api/settings`, `PUT /api/settings/{name}`; in force from the next request).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_core::bounds::check_name;
use keygate_core::budget::{BudgetStatus, Budgets};
use keygate_core::health_machine::parse_expiry;
use keygate_core::key::{format_usd, parse_usd_micros};
use keygate_core::select::{Strategy, validate_alias};
use keygate_core::token::{
    token_from_random_bytes, token_hash, token_hint, validate_model_glob, validate_token_name,
};
use keygate_store::{NewToken, RouteRow, RouteTier, TokenRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::proxy::{ProxySettings, SETTINGS, applies_live, validate_setting};
use crate::{ApiError, AppState};

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// `GET /api/tokens`.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenView>,
}

/// An access token (never the token itself), its budgets and where they stand now.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    #[serde(flatten)]
    token: TokenRow,
    limits: TokenBudgets,
    /// Each budget the token has: used, limit, percent and when it resets.
    budgets: Vec<BudgetStatus>,
}

/// A token's spend and token budgets, per UTC day and calendar month; `null` or absent is
/// none. Dollars are exact decimal text ("2.50"). `PUT /api/tokens/{name}/budgets` replaces
/// all four at once.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBudgets {
    #[serde(default)]
    daily_budget_usd: Option<String>,
    #[serde(default)]
    monthly_budget_usd: Option<String>,
    #[serde(default)]
    daily_tokens: Option<u64>,
    #[serde(default)]
    monthly_tokens: Option<u64>,
}

impl TokenBudgets {
    /// The budgets as the API shows them (the CLI's `--json` too).
    pub fn shown(b: &Budgets) -> Self {
        Self {
            daily_budget_usd: b.daily_spend_micros.map(format_usd),
            monthly_budget_usd: b.monthly_spend_micros.map(format_usd),
            daily_tokens: b.daily_tokens,
            monthly_tokens: b.monthly_tokens,
        }
    }

    /// The budgets these fields give, with what is wrong with each put in `problems`.
    fn parse(&self, problems: &mut Vec<(String, String)>) -> Budgets {
        let mut usd = |field: &str, text: &Option<String>| {
            let micros = text.as_deref().map(parse_usd_micros)?;
            match micros.map(|v| u64::try_from(v).unwrap_or(0)) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push((field.to_string(), e));
                    None
                }
            }
        };
        let budgets = Budgets {
            daily_spend_micros: usd("daily_budget_usd", &self.daily_budget_usd),
            monthly_spend_micros: usd("monthly_budget_usd", &self.monthly_budget_usd),
            daily_tokens: self.daily_tokens,
            monthly_tokens: self.monthly_tokens,
        };
        problems.extend(
            budgets
                .problems()
                .into_iter()
                .map(|(field, e)| (field.to_string(), e)),
        );
        budgets
    }
}

impl TokenView {
    /// `token` with its live budget figures from the proxy.
    fn live(token: TokenRow, proxy: &crate::proxy::ProxyState) -> Self {
        let budgets = if token.budgets.is_empty() {
            Vec::new()
        } else {
            let now = chrono::Utc::now().timestamp();
            proxy
                .catalog()
                .tokens
                .iter()
                .find(|t| t.name == token.name)
                .map(|t| t.budget.meter.status(&t.budgets, now))
                .unwrap_or_default()
        };
        Self {
            limits: TokenBudgets::shown(&token.budgets),
            token,
            budgets,
        }
    }
}

/// `POST /api/tokens`: `token` is shown this once and never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    name: String,
    token: String,
    models: Vec<String>,
    expires_at: Option<String>,
    limits: TokenBudgets,
}

/// `DELETE /api/tokens/{name}`.
#[derive(Serialize, ToSchema)]
pub struct RevokedToken {
    revoked: String,
}

/// `GET /api/routes`.
#[derive(Serialize, ToSchema)]
pub struct RouteList {
    routes: Vec<RouteRow>,
}

/// `PUT /api/routes/{alias}`.
#[derive(Serialize, ToSchema)]
pub struct SavedRoute {
    alias: String,
    tiers: Vec<RouteTier>,
    strategy: String,
}

/// `DELETE /api/routes/{alias}`.
#[derive(Serialize, ToSchema)]
pub struct DeletedRoute {
    deleted: String,
}

fn body<T>(body: JsonBody<T>, code: &'static str, shape: &str) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::rejected(code, shape, &e))
}

#[utoipa::path(get, path = "/api/tokens", tag = "tokens", operation_id = "listTokens",
    responses((status = 200, description = "the access tokens (hints, never the tokens)", body = TokenList)))]
pub async fn list_tokens(State(state): State<AppState>) -> Result<Json<TokenList>, ApiError> {
    let tokens = state.with_store(|store| Ok(store.list_tokens()?)).await?;
    let proxy = state.proxy();
    let tokens = tokens
        .into_iter()
        .map(|t| TokenView::live(t, proxy))
        .collect();
    Ok(Json(TokenList { tokens }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    /// Model globs the token may use; none means every model.
    #[serde(default)]
    models: Vec<String>,
    /// A date or RFC 3339 time.
    expires: Option<String>,
    /// Spend per UTC day in dollars ("5", "12.50"); over it the token is answered 429.
    daily_budget_usd: Option<String>,
    /// Spend per calendar month in dollars.
    monthly_budget_usd: Option<String>,
    /// Prompt plus completion tokens per UTC day.
    daily_tokens: Option<u64>,
    /// Prompt plus completion tokens per calendar month.
    monthly_tokens: Option<u64>,
}

/// Creates a token and answers it once; only its hash and a hint are kept.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", operation_id = "createToken",
    request_body = NewTokenBody,
    responses(
        (status = 201, description = "the token, shown this once", body = CreatedToken),
        (status = 409, description = "a token with that name exists", body = crate::error::ErrorBody),
        (status = 422, description = "a field is wrong (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    request: JsonBody<NewTokenBody>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let request = body(
        request,
        "invalid_token",
        "{name, models?, expires?, daily_budget_usd?, monthly_budget_usd?, daily_tokens?, monthly_tokens?}",
    )?;
    let mut problems = Vec::new();
    if let Err(e) = validate_token_name(&request.name) {
        problems.push(("name".to_string(), e));
    }
    let limits = TokenBudgets {
        daily_budget_usd: request.daily_budget_usd.clone(),
        monthly_budget_usd: request.monthly_budget_usd.clone(),
        daily_tokens: request.daily_tokens,
        monthly_tokens: request.monthly_tokens,
    };
    let budgets = limits.parse(&mut problems);
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
        budgets,
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
        Json(CreatedToken {
            name: request.name,
            token,
            models,
            expires_at,
            limits: TokenBudgets::shown(&budgets),
        }),
    ))
}

/// Replaces all of a token's budgets; in force from its next request. A token over a budget
/// is answered 429 `token_budget_exceeded` until the period resets or the budget is raised.
#[utoipa::path(put, path = "/api/tokens/{name}/budgets", tag = "tokens", operation_id = "putTokenBudgets",
    params(("name" = String, Path, description = "the token's name")),
    request_body = TokenBudgets,
    responses(
        (status = 200, description = "the token as it is now", body = TokenView),
        (status = 404, description = "no token with that name", body = crate::error::ErrorBody),
        (status = 422, description = "a budget is invalid (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn put_token_budgets(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: JsonBody<TokenBudgets>,
) -> Result<Json<TokenView>, ApiError> {
    let request = body(
        request,
        "invalid_budgets",
        "{daily_budget_usd?, monthly_budget_usd?, daily_tokens?, monthly_tokens?}",
    )?;
    let mut problems = Vec::new();
    let budgets = request.parse(&mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid_budgets", problems));
    }
    let reload = state.clone();
    let token = state
        .with_store(move |store| {
            store.set_token_budgets(&name, &budgets)?;
            reload.reload_catalog(store);
            store
                .list_tokens()?
                .into_iter()
                .find(|t| t.name == name)
                .ok_or_else(|| ApiError::not_found("no token with that name"))
        })
        .await?;
    Ok(Json(TokenView::live(token, state.proxy())))
}

#[utoipa::path(delete, path = "/api/tokens/{name}", tag = "tokens", operation_id = "revokeToken",
    params(("name" = String, Path, description = "the token's name")),
    responses(
        (status = 200, description = "the token is revoked", body = RevokedToken),
        (status = 404, description = "no token with that name", body = crate::error::ErrorBody),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RevokedToken>, ApiError> {
    let revoked = name.clone();
    let reload = state.clone();
    state
        .with_store(move |store| {
            store.revoke_token(&revoked)?;
            reload.reload_catalog(store);
            Ok(())
        })
        .await?;
    Ok(Json(RevokedToken { revoked: name }))
}

#[utoipa::path(get, path = "/api/routes", tag = "routes", operation_id = "listRoutes",
    responses((status = 200, description = "the model aliases and their tiers", body = RouteList)))]
pub async fn list_routes(State(state): State<AppState>) -> Result<Json<RouteList>, ApiError> {
    let routes = state.with_store(|store| Ok(store.list_routes()?)).await?;
    Ok(Json(RouteList { routes }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// `[{provider, model}]`, tried in this order.
    tiers: Vec<RouteTier>,
    /// How keys are picked within a tier; default `priority`.
    strategy: Option<String>,
}

/// Creates or replaces a route alias.
#[utoipa::path(put, path = "/api/routes/{alias}", tag = "routes", operation_id = "putRoute",
    params(("alias" = String, Path, description = "the model alias")),
    request_body = RouteBody,
    responses(
        (status = 200, description = "the saved route", body = SavedRoute),
        (status = 422, description = "a field is wrong (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn put_route(
    State(state): State<AppState>,
    Path(alias): Path<String>,
    request: JsonBody<RouteBody>,
) -> Result<Json<SavedRoute>, ApiError> {
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
    for (i, tier) in request.tiers.iter().enumerate() {
        if let Err(e) = check_name(&tier.model) {
            problems.push((format!("tiers[{i}].model"), e));
        }
        if let Err(e) = check_name(&tier.provider) {
            problems.push((format!("tiers[{i}].provider"), e));
        }
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
            Ok(Json(SavedRoute {
                alias,
                tiers,
                strategy,
            }))
        })
        .await
}

#[utoipa::path(delete, path = "/api/routes/{alias}", tag = "routes", operation_id = "deleteRoute",
    params(("alias" = String, Path, description = "the model alias")),
    responses(
        (status = 200, description = "the route is gone", body = DeletedRoute),
        (status = 404, description = "no route with that alias", body = crate::error::ErrorBody),
    ))]
pub async fn delete_route(
    State(state): State<AppState>,
    Path(alias): Path<String>,
) -> Result<Json<DeletedRoute>, ApiError> {
    let deleted = alias.clone();
    let reload = state.clone();
    state
        .with_store(move |store| {
            store.delete_route(&deleted)?;
            reload.reload_catalog(store);
            Ok(())
        })
        .await?;
    Ok(Json(DeletedRoute { deleted: alias }))
}

/// Proxy and retention settings: each value in force, where it comes from, and when a change applies.
/// `GET /api/settings`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingList {
    settings: Vec<EngineSetting>,
}

/// Where a setting's value in force comes from.
#[derive(Serialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    Default,
    Saved,
}

/// When a saved value takes effect.
#[derive(Serialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum SettingApplies {
    /// From the next request.
    Now,
    /// When the engine next starts.
    Restart,
}

/// A setting: the value in force, its default, where the value comes from, and when a change applies.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EngineSetting {
    name: &'static str,
    value: u64,
    default: u64,
    about: &'static str,
    source: SettingSource,
    applies: SettingApplies,
}

/// `PUT /api/settings/{name}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SavedSetting {
    name: String,
    value: u64,
    source: SettingSource,
    applies: SettingApplies,
}

fn applies(name: &str) -> SettingApplies {
    if applies_live(name) {
        SettingApplies::Now
    } else {
        SettingApplies::Restart
    }
}

#[utoipa::path(get, path = "/api/settings", tag = "settings", operation_id = "listSettings",
    responses((status = 200, description = "every setting with its value and default", body = SettingList)))]
pub async fn list_settings(State(state): State<AppState>) -> Result<Json<SettingList>, ApiError> {
    let settings = state
        .with_store(|store| {
            SETTINGS
                .iter()
                .map(|&(name, about, default)| {
                    let saved = store
                        .get_setting::<u64>(name)?
                        .filter(|v| validate_setting(name, *v).is_ok());
                    Ok(EngineSetting {
                        name,
                        value: saved.unwrap_or(default),
                        default,
                        about,
                        source: if saved.is_some() {
                            SettingSource::Saved
                        } else {
                            SettingSource::Default
                        },
                        applies: applies(name),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(Json(SettingList { settings }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingBody {
    value: u64,
}

#[utoipa::path(put, path = "/api/settings/{name}", tag = "settings", operation_id = "putSetting",
    params(("name" = String, Path, description = "the setting's name")),
    request_body = SettingBody,
    responses(
        (status = 200, description = "the saved value", body = SavedSetting),
        (status = 422, description = "an unknown setting or a value out of range", body = crate::error::ErrorBody),
    ))]
pub async fn put_setting(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: JsonBody<SettingBody>,
) -> Result<Json<SavedSetting>, ApiError> {
    let request = body(request, "invalid_setting", "{value: number}")?;
    validate_setting(&name, request.value)
        .map_err(|e| ApiError::invalid("invalid_setting", vec![("value".into(), e)]))?;
    let value = request.value;
    let saved = name.clone();
    let proxy = state.proxy_arc();
    state
        .with_store(move |store| {
            store.set_setting(&saved, &value)?;
            // Acknowledged means in force: the next request runs with it.
            proxy.replace_settings(ProxySettings::load(store));
            Ok(())
        })
        .await?;
    Ok(Json(SavedSetting {
        applies: applies(&name),
        name,
        value,
        source: SettingSource::Saved,
    }))
}
