//! The model catalog: `GET /api/models[?provider=]` (prices in force, limits, abilities, synced
//! models without a price), `PUT /api/models/price` (a price from a date on) and
//! `POST /api/models/sync` (ask a provider for its model list through one of its keys).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use keygate_store::PriceRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model_catalog::{ModelEntry, entries, price_row};
use crate::{ApiError, AppState};

/// `GET /api/models`.
#[derive(Serialize, ToSchema)]
pub struct ModelList {
    models: Vec<ModelEntry>,
    /// When the built-in list was checked, and the last catalog import (`keygate model
    /// prices refresh`, or a provider's priced model list at sync).
    prices: PriceSources,
}

#[derive(Serialize, ToSchema)]
pub struct PriceSources {
    builtin_as_of: &'static str,
    last_import: Option<keygate_store::PriceImport>,
}

/// `GET /api/models/unpriced`.
#[derive(Serialize, ToSchema)]
pub struct UnpricedList {
    models: Vec<UnpricedModel>,
}

/// A model that served tokens in the period and has no price now: its usage counts as $0.
#[derive(Serialize, ToSchema)]
pub struct UnpricedModel {
    provider: String,
    model: String,
    requests: u64,
    tokens: u64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnpricedQuery {
    /// Since when (a date or RFC 3339 time); default: 30 days ago.
    from: Option<String>,
}

/// Models served without a price (in the rollups since `from`, priced by nothing in force
/// now): what the Usage page's "set price" banner lists.
#[utoipa::path(get, path = "/api/models/unpriced", tag = "models", operation_id = "listUnpricedModels",
    params(UnpricedQuery),
    responses(
        (status = 200, description = "the models served without a price", body = UnpricedList),
        (status = 422, description = "`from` is not a date", body = crate::error::ErrorBody),
    ))]
pub async fn unpriced(
    State(state): State<AppState>,
    Query(query): Query<UnpricedQuery>,
) -> Result<Json<UnpricedList>, ApiError> {
    let from = match query.from.as_deref() {
        Some(text) => keygate_core::prices::period_bound(text)
            .map_err(|e| ApiError::invalid("invalid_query", vec![("from".into(), e)]))?,
        None => (chrono::Utc::now() - chrono::Duration::days(30))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    let hour = from.get(..13).unwrap_or(&from).to_string();
    let now = now();
    let models = state
        .with_store(move |store| {
            let book = crate::model_catalog::price_book(store)?;
            Ok(store
                .served_models_since(&hour)?
                .into_iter()
                .filter(|(provider, model, _, _)| book.price_at(provider, model, &now).is_none())
                .map(|(provider, model, requests, tokens)| UnpricedModel {
                    provider,
                    model,
                    requests,
                    tokens,
                })
                .collect())
        })
        .await?;
    Ok(Json(UnpricedList { models }))
}

/// `PUT /api/models/price`.
#[derive(Serialize, ToSchema)]
pub struct SavedPrice {
    price: PriceRow,
}

/// `POST /api/models/sync`.
#[derive(Serialize, ToSchema)]
pub struct SyncResult {
    provider: String,
    /// The key that listed the models.
    key: String,
    models: Vec<String>,
    /// Listed models KeyGate has no price for.
    unpriced: Vec<String>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelsQuery {
    /// Only this provider's models.
    provider: Option<String>,
}

/// The model catalog: prices in force, limits and abilities, synced models without a price.
#[utoipa::path(get, path = "/api/models", tag = "models", operation_id = "listModels",
    params(ModelsQuery),
    responses((status = 200, description = "the catalog", body = ModelList)))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ModelsQuery>,
) -> Result<Json<ModelList>, ApiError> {
    let (models, last_import) = state
        .with_store(move |store| {
            Ok((
                entries(store, query.provider.as_deref(), &now())?,
                store.last_price_import()?,
            ))
        })
        .await?;
    let prices = PriceSources {
        builtin_as_of: keygate_core::prices::PRICES_AS_OF,
        last_import,
    };
    Ok(Json(ModelList { models, prices }))
}

/// Prices are strings in USD per million tokens ("2.50"), so they stay exact.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    provider: Option<String>,
    model: String,
    input_usd: String,
    output_usd: String,
    cached_usd: Option<String>,
    /// A date or RFC 3339 time; default now.
    from: Option<String>,
}

/// Sets a model's price from a date on.
#[utoipa::path(put, path = "/api/models/price", tag = "models", operation_id = "setModelPrice",
    request_body = PriceBody,
    responses(
        (status = 200, description = "the saved price (micro-dollars per million tokens)", body = SavedPrice),
        (status = 422, description = "a field is wrong (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn set_price(
    State(state): State<AppState>,
    body: Result<Json<PriceBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SavedPrice>, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::rejected(
            "invalid_price",
            "{provider?, model, input_usd, output_usd, cached_usd?, from?}",
            &e,
        )
    })?;
    let row = price_row(
        body.provider.as_deref(),
        &body.model,
        &body.input_usd,
        &body.output_usd,
        body.cached_usd.as_deref(),
        body.from.as_deref(),
        &now(),
    )
    .map_err(|problems| {
        let fields = problems
            .into_iter()
            .map(|(field, message)| {
                let field = match field {
                    "input" | "output" | "cached" => format!("{field}_usd"),
                    other => other.to_string(),
                };
                (field, message)
            })
            .collect();
        ApiError::invalid("invalid_price", fields)
    })?;
    let saved = row.clone();
    let reload = state.clone();
    state
        .with_store(move |store| {
            store.set_price(&saved)?;
            reload.reload_catalog(store);
            Ok(())
        })
        .await?;
    Ok(Json(SavedPrice { price: row }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    provider: String,
}

/// Asks the provider (through one of its keys) which models it offers.
#[utoipa::path(post, path = "/api/models/sync", tag = "models", operation_id = "syncModels",
    request_body = SyncBody,
    responses(
        (status = 200, description = "the models listed", body = SyncResult),
        (status = 404, description = "no enabled provider with that name", body = crate::error::ErrorBody),
        (status = 502, description = "the provider did not answer with a model list", body = crate::error::ErrorBody),
    ))]
pub async fn sync(
    State(state): State<AppState>,
    body: Result<Json<SyncBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SyncResult>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::rejected("invalid_sync", "{provider}", &e))?;
    let proxy = state.proxy_arc();
    let catalog = proxy.catalog();
    if catalog.provider(&body.provider).is_none() {
        return Err(ApiError::not_found(format!(
            "no enabled provider named {:?}",
            body.provider
        )));
    }
    let (listed, key) =
        crate::health::fetch_provider_models(&catalog, &proxy.client, &body.provider)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "sync_failed", e))?;
    let provider = body.provider.clone();
    let models = listed.ids.clone();
    let priced = !listed.prices.is_empty();
    let reload = state.clone();
    let unpriced = state
        .with_store(move |store| {
            crate::health::save_listed(store, &provider, &listed)?;
            if priced {
                reload.reload_catalog(store);
            }
            Ok(entries(store, Some(&provider), &now())?
                .into_iter()
                .filter(|e| e.synced && !e.priced)
                .map(|e| e.model)
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(SyncResult {
        provider: body.provider,
        key,
        models,
        unpriced,
    }))
}
