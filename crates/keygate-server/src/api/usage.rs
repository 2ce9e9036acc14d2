//! `GET /api/usage?from&to&by=`: usage and cost over a period, grouped by day, hour, provider,
//! model, key or access token (the same report as `keygate report`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use keygate_core::prices::period_bound;
use keygate_store::GroupBy;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
}

pub async fn usage(
    State(state): State<AppState>,
    Query(query): Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    let invalid = |field: &str, message: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            format!("{field}: {message}"),
        )
    };
    let by_text = query.by.unwrap_or_else(|| "day".into());
    let by: GroupBy = by_text.parse().map_err(|e| invalid("by", e))?;
    let now = chrono::Utc::now();
    let from = match query.from {
        Some(text) => period_bound(&text).map_err(|e| invalid("from", e))?,
        None => {
            (now - chrono::Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }
    };
    let to = match query.to {
        Some(text) => period_bound(&text).map_err(|e| invalid("to", e))?,
        None => (now + chrono::Duration::seconds(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    if from >= to {
        return Err(invalid("from", "must be before to".into()));
    }
    let (f, t) = (from.clone(), to.clone());
    let rows = state
        .with_store(move |store| Ok(store.usage_report(&f, &t, by)?))
        .await?;
    let total_cost: u64 = rows.iter().map(|r| r.cost_micros).sum();
    let total_requests: u64 = rows.iter().map(|r| r.requests).sum();
    Ok(Json(json!({
        "from": from, "to": to, "by": by_text, "rows": rows,
        "total": { "requests": total_requests, "cost_micros": total_cost },
    })))
}
