use axum::Json;
use axum::extract::{Path, State};
use keygate_core::budget::BudgetStatus;
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::health_machine::{Expiry, expiry};
use keygate_core::key::{KeyLimits, format_usd_micros, parse_usd_micros};
use keygate_core::provider::ProviderKind;
use keygate_store::KeyRow;
use serde::{Deserialize, Serialize};

use crate::proxy::state::ProxyState;
use crate::{ApiError, AppState};

/// Where a stored expiry time stands now.
pub fn expiry_of(expires_at: Option<&str>) -> Expiry {
    let at = expires_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp());
    expiry(at, chrono::Utc::now().timestamp())
}

/// A key as the API shows it: metadata, fingerprint and health; never the secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub(super) id: String,
    provider: String,
    provider_kind: ProviderKind,
    pub(super) label: String,
    fingerprint: String,
    tags: Vec<String>,
    priority: i64,
    weight: i64,
    enabled: bool,
    secret_ref: String,
    pub(super) health: HealthView,
    limits: LimitsView,
    created_at: String,
    /// RFC 3339; after it the key is red and never used.
    expires_at: Option<String>,
    expiry: ExpiryText,
    /// Whole days left before the expiry date, while it is near.
    expires_in_days: Option<i64>,
    /// Each budget's use in its current period (known while the engine serves the key).
    budgets: Vec<BudgetStatus>,
    /// When the key last served a proxied request.
    last_used_at: Option<String>,
    /// Requests the key served over the last 7 days, and how many of them failed (in the
    /// list; `null` where not computed).
    activity_7d: Option<keygate_store::KeyActivity>,
    /// The provider balance as last fetched (key tests, the checker, `POST
    /// /api/keys/{id}/balance`); `null` when never fetched. `available: false` with a note
    /// for providers without a balance endpoint.
    balance: Option<keygate_store::BalanceRow>,
    /// When the balance counts as low: an amount in its currency (`10`) or days of spend left
    /// at the last 7 days' rate (`3d`); `null` for only at zero.
    low_balance: Option<String>,
}

/// Where a key's expiry date stands: `soon` is within 7 days.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryText {
    Valid,
    Soon,
    Expired,
}

/// `GET /api/keys`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

/// A key's health as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = KeyHealth)]
pub(super) struct HealthView {
    state: HealthState,
    reason: Option<HealthReason>,
    /// The reason in words.
    reason_text: Option<&'static str>,
    consecutive_errors: i64,
    last_status: Option<i64>,
    /// The upstream's last error text (never holds the secret).
    last_error: Option<String>,
    last_checked_at: Option<String>,
    last_success_at: Option<String>,
    cooldown_until: Option<String>,
}

/// A key's local limits; `null` means none. Dollars are exact decimal text ("2.50").
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = KeyLimits)]
struct LimitsView {
    rpm: Option<u32>,
    tpm: Option<u32>,
    rpd: Option<u32>,
    daily_budget_usd: Option<String>,
    monthly_budget_usd: Option<String>,
    daily_tokens: Option<u64>,
    monthly_tokens: Option<u64>,
}

impl From<KeyRow> for KeyView {
    fn from(row: KeyRow) -> Self {
        let health = row.health;
        let expiry = expiry_of(row.expires_at.as_deref());
        Self {
            balance: row.balance,
            low_balance: row.low_balance,
            last_used_at: row.last_used_at,
            activity_7d: None,
            id: row.id,
            provider: row.provider,
            provider_kind: row.provider_kind,
            label: row.label,
            fingerprint: row.fingerprint,
            tags: row.tags,
            priority: row.priority,
            weight: row.weight,
            enabled: row.enabled,
            secret_ref: row.secret_ref,
            health: HealthView {
                state: health.state,
                reason: health.reason,
                reason_text: health.reason.map(HealthReason::describe),
                consecutive_errors: health.consecutive_errors,
                last_status: health.last_status,
                last_error: health.last_error,
                last_checked_at: health.last_checked_at,
                last_success_at: health.last_success_at,
                cooldown_until: health.cooldown_until,
            },
            limits: LimitsView {
                rpm: row.limits.rpm,
                tpm: row.limits.tpm,
                rpd: row.limits.rpd,
                daily_budget_usd: row.limits.daily_budget_micros.map(format_usd_micros),
                monthly_budget_usd: row.limits.monthly_budget_micros.map(format_usd_micros),
                daily_tokens: row.limits.daily_token_budget,
                monthly_tokens: row.limits.monthly_token_budget,
            },
            budgets: Vec::new(),
            created_at: row.created_at,
            expiry: match expiry {
                Expiry::Valid => ExpiryText::Valid,
                Expiry::Soon { .. } => ExpiryText::Soon,
                Expiry::Expired => ExpiryText::Expired,
            },
            expires_in_days: match expiry {
                Expiry::Soon { days_left } => Some(days_left),
                _ => None,
            },
            expires_at: row.expires_at,
        }
    }
}

impl KeyView {
    /// The view with the engine's live budget figures for the key.
    pub fn live(row: KeyRow, proxy: &ProxyState) -> Self {
        let limits = row.limits.clone();
        let mut view = Self::from(row);
        if limits == KeyLimits::default() {
            return view;
        }
        let catalog = proxy.catalog();
        if let Some(key) = catalog
            .providers
            .iter()
            .flat_map(|p| p.keys.iter())
            .find(|k| k.id == view.id)
        {
            view.budgets = key
                .runtime
                .budget
                .meter
                .status(&limits.budgets(), chrono::Utc::now().timestamp());
        }
        view
    }
}

/// Every key, with its live budget figures.
#[utoipa::path(get, path = "/api/keys", tag = "keys", operation_id = "listKeys",
    responses((status = 200, description = "the keys", body = KeyList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let week_ago = (chrono::Utc::now() - chrono::Duration::days(7))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (keys, activity) = state
        .with_store(move |store| Ok((store.list_keys()?, store.key_activity_since(&week_ago)?)))
        .await?;
    let proxy = state.proxy();
    let keys: Vec<KeyView> = keys
        .into_iter()
        .map(|k| {
            let seen = activity.get(&k.id).copied().unwrap_or_default();
            let mut view = KeyView::live(k, proxy);
            view.activity_7d = Some(seen);
            view
        })
        .collect();
    Ok(Json(KeyList { keys }))
}

/// One key.
#[utoipa::path(get, path = "/api/keys/{id}", tag = "keys", operation_id = "getKey",
    params(("id" = String, Path, description = "the key's id")),
    responses(
        (status = 200, description = "the key", body = KeyView),
        (status = 404, description = "no key with that id", body = crate::error::ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let key = state
        .with_store(move |store| Ok(store.get_key(&id)?))
        .await?;
    key.map(|k| Json(KeyView::live(k, state.proxy())))
        .ok_or_else(|| ApiError::not_found("no key with that id"))
}

/// `PUT /api/keys/{id}/limits`: the key's local limits and budgets, all at once (`null` or
/// absent removes one). Dollar amounts are strings ("5", "12.50") so they stay exact.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    rpm: Option<u32>,
    tpm: Option<u32>,
    rpd: Option<u32>,
    daily_budget_usd: Option<String>,
    monthly_budget_usd: Option<String>,
    daily_tokens: Option<u64>,
    monthly_tokens: Option<u64>,
}

/// A key edit: every field is optional; what is left out stays as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyEditBody {
    label: Option<String>,
    /// Replaces all of the key's tags.
    tags: Option<Vec<String>>,
    priority: Option<i64>,
    weight: Option<i64>,
    enabled: Option<bool>,
    /// When the provider balance counts as low: `10` (in the balance's currency) or `3d`
    /// (days of spend left); an empty string removes it.
    low_balance: Option<String>,
}

/// Changes a key's label, tags, priority, weight, enabled switch or low-balance threshold (its
/// secret never changes: a new secret is a new key).
#[utoipa::path(put, path = "/api/keys/{id}", tag = "keys", operation_id = "editKey",
    params(("id" = String, Path, description = "the key's id")),
    request_body = KeyEditBody,
    responses(
        (status = 200, description = "the updated key", body = KeyView),
        (status = 404, description = "no key with that id", body = crate::error::ErrorBody),
        (status = 422, description = "a value is invalid (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<KeyEditBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<KeyView>, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::rejected(
            "invalid_key_edit",
            "{label?, tags?, priority?, weight?, enabled?, low_balance?}",
            &e,
        )
    })?;
    let tags = body.tags.as_deref().map(keygate_core::key::tidy_tags);
    let label = body.label.map(|l| l.trim().to_string());
    let mut problems = keygate_core::key::edit_problems(
        label.as_deref(),
        tags.as_deref(),
        body.priority,
        body.weight,
    );
    let low_balance = body.low_balance.map(|t| t.trim().to_string());
    if let Some(t) = low_balance.as_deref().filter(|t| !t.is_empty())
        && let Err(e) = t.parse::<keygate_core::balance::LowBalance>()
    {
        problems.push(("low_balance".to_string(), e));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid_key_edit", problems));
    }
    let edit = keygate_store::KeyEdit {
        label,
        tags,
        priority: body.priority,
        weight: body.weight,
        enabled: body.enabled,
    };
    changed_key(&state, id, move |store, id| {
        store.edit_key(id, &edit)?;
        if let Some(t) = low_balance {
            store.set_low_balance(id, Some(t.as_str()).filter(|t| !t.is_empty()))?;
        }
        Ok(())
    })
    .await
}

/// Fetches the key's provider balance now (what the checker does hourly) and answers the key
/// with it. A provider without a balance endpoint is answered without a request.
#[utoipa::path(post, path = "/api/keys/{id}/balance", tag = "keys", operation_id = "refreshKeyBalance",
    params(("id" = String, Path, description = "the key's id")),
    responses(
        (status = 200, description = "the key with its balance", body = KeyView),
        (status = 404, description = "no key with that id", body = crate::error::ErrorBody),
        (status = 409, description = "the key is disabled or its secret cannot be read", body = crate::error::ErrorBody),
    ))]
pub async fn refresh_balance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let lookup = id.clone();
    let row = state
        .with_store(move |store| {
            store
                .get_key(&lookup)?
                .ok_or_else(|| ApiError::not_found("no key with that id"))
        })
        .await?;
    let proxy = state.proxy();
    let Some((provider, key)) = crate::health::testable_key(&proxy.catalog(), &row) else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "key_unavailable",
            "the key is disabled or its secret cannot be read, so its balance cannot be fetched",
        ));
    };
    crate::balance::refresh_live(proxy, &provider, &key, row.low_balance.clone()).await;
    proxy.flush_writes().await;
    let row = state
        .with_store(move |store| {
            store
                .get_key(&id)?
                .ok_or_else(|| ApiError::not_found("no key with that id"))
        })
        .await?;
    Ok(Json(KeyView::live(row, proxy)))
}

/// Replaces all of a key's limits and budgets.
#[utoipa::path(put, path = "/api/keys/{id}/limits", tag = "keys", operation_id = "putKeyLimits",
    params(("id" = String, Path, description = "the key's id")),
    request_body = LimitsBody,
    responses(
        (status = 200, description = "the updated key", body = KeyView),
        (status = 404, description = "no key with that id", body = crate::error::ErrorBody),
        (status = 422, description = "a limit is out of range (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn put_limits(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<LimitsBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<KeyView>, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::rejected(
            "invalid_limits",
            "{rpm?, tpm?, rpd?, daily_budget_usd?, monthly_budget_usd?, daily_tokens?, monthly_tokens?}",
            &e,
        )
    })?;
    let mut problems = Vec::new();
    let mut usd = |field: &str, text: Option<String>| {
        text.and_then(|t| match parse_usd_micros(&t) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push((field.to_string(), e));
                None
            }
        })
    };
    let limits = KeyLimits {
        rpm: body.rpm,
        tpm: body.tpm,
        rpd: body.rpd,
        daily_budget_micros: usd("daily_budget_usd", body.daily_budget_usd),
        monthly_budget_micros: usd("monthly_budget_usd", body.monthly_budget_usd),
        daily_token_budget: body.daily_tokens,
        monthly_token_budget: body.monthly_tokens,
    };
    for (field, e) in limits.problems() {
        let field = match field {
            "daily_budget" | "monthly_budget" => format!("{field}_usd"),
            other => other.to_string(),
        };
        problems.push((field, e));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid_limits", problems));
    }
    changed_key(&state, id, move |store, id| {
        Ok(store.set_key_limits(id, &limits)?)
    })
    .await
}

/// Changes key `id` in the store with `change`, puts the change in force in the proxy, and
/// answers the key as it is now (a 404 for an unknown id comes from `change`).
async fn changed_key<F>(state: &AppState, id: String, change: F) -> Result<Json<KeyView>, ApiError>
where
    F: FnOnce(&mut keygate_store::Store, &str) -> Result<(), ApiError> + Send + 'static,
{
    let reload = state.clone();
    let row = state
        .with_store(move |store| {
            change(store, &id)?;
            reload.reload_catalog(store);
            store
                .get_key(&id)?
                .ok_or_else(|| ApiError::not_found("no key with that id"))
        })
        .await?;
    Ok(Json(KeyView::live(row, state.proxy())))
}
