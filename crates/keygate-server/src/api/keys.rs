use axum::Json;
use axum::extract::{Path, State};
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::health_machine::{Expiry, expiry};
use keygate_core::key::format_usd_micros;
use keygate_core::provider::ProviderKind;
use keygate_store::KeyRow;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

/// Where a stored expiry time stands now.
pub fn expiry_of(expires_at: Option<&str>) -> Expiry {
    let at = expires_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp());
    expiry(at, chrono::Utc::now().timestamp())
}

/// A key as the API shows it: metadata, fingerprint and health; never the secret.
#[derive(Debug, Serialize)]
pub struct KeyView {
    id: String,
    provider: String,
    provider_kind: ProviderKind,
    label: String,
    fingerprint: String,
    tags: Vec<String>,
    priority: i64,
    weight: i64,
    enabled: bool,
    secret_ref: String,
    health: HealthView,
    limits: LimitsView,
    created_at: String,
    expires_at: Option<String>,
    /// `valid`, `soon` (within 7 days) or `expired`.
    expiry: &'static str,
    /// Whole days left before the expiry date, while it is near.
    expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize)]
struct HealthView {
    state: HealthState,
    reason: Option<HealthReason>,
    reason_text: Option<&'static str>,
    consecutive_errors: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    last_checked_at: Option<String>,
    last_success_at: Option<String>,
    cooldown_until: Option<String>,
}

#[derive(Debug, Serialize)]
struct LimitsView {
    rpm: Option<u32>,
    tpm: Option<u32>,
    rpd: Option<u32>,
    daily_budget_usd: Option<String>,
}

impl From<KeyRow> for KeyView {
    fn from(row: KeyRow) -> Self {
        let health = row.health;
        let expiry = expiry_of(row.expires_at.as_deref());
        Self {
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
            },
            created_at: row.created_at,
            expiry: match expiry {
                Expiry::Valid => "valid",
                Expiry::Soon { .. } => "soon",
                Expiry::Expired => "expired",
            },
            expires_in_days: match expiry {
                Expiry::Soon { days_left } => Some(days_left),
                _ => None,
            },
            expires_at: row.expires_at,
        }
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.with_store(|store| Ok(store.list_keys()?)).await?;
    let keys: Vec<KeyView> = keys.into_iter().map(KeyView::from).collect();
    Ok(Json(json!({ "keys": keys })))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let key = state
        .with_store(move |store| Ok(store.get_key(&id)?))
        .await?;
    key.map(|k| Json(k.into()))
        .ok_or_else(|| ApiError::not_found("no key with that id"))
}
