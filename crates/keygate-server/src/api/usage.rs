//! `GET /api/usage?from&to&by=`: usage and cost over a period, grouped by day, hour, provider,
//! model, key or access token (the same report as `keygate report`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use keygate_core::prices::report_period;
use keygate_store::{GroupBy, Metrics, UsageRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// A date (`2026-11-01`) or RFC 3339 time; default 7 days ago.
    from: Option<String>,
    /// A date or RFC 3339 time; default now.
    to: Option<String>,
    /// Default `day`.
    #[param(value_type = Option<GroupBy>)]
    by: Option<String>,
}

/// `GET /api/usage` and `GET /api/usage/cost`; costs in micro-dollars.
#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    from: String,
    to: String,
    by: GroupBy,
    rows: Vec<UsageRow>,
    total: UsageTotal,
}

#[derive(Serialize, ToSchema)]
pub struct UsageTotal {
    requests: u64,
    cost_micros: u64,
}

/// `GET /api/metrics`: one set of figures per window.
#[derive(Serialize, ToSchema)]
pub struct MetricsReport {
    #[serde(rename = "1h")]
    hour: Metrics,
    #[serde(rename = "24h")]
    day: Metrics,
    #[serde(rename = "7d")]
    week: Metrics,
}

#[utoipa::path(get, path = "/api/usage", tag = "usage", operation_id = "getUsage",
    params(UsageQuery),
    responses(
        (status = 200, description = "totals per group", body = UsageReport),
        (status = 422, description = "a bad period or grouping", body = crate::error::ErrorBody),
    ))]
pub async fn usage(
    State(state): State<AppState>,
    Query(query): Query<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let invalid = |field: &str, message: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            format!("{field}: {message}"),
        )
    };
    let by: GroupBy = match query.by.as_deref() {
        None => GroupBy::Day,
        Some(text) => text.parse().map_err(|e| invalid("by", e))?,
    };
    let (from, to) = report_period(
        query.from.as_deref(),
        query.to.as_deref(),
        chrono::Utc::now(),
    )
    .map_err(|(field, e)| invalid(field, e))?;
    let (f, t) = (from.clone(), to.clone());
    let rows = state
        .with_store(move |store| Ok(store.usage_report(&f, &t, by)?))
        .await?;
    let total_cost: u64 = rows.iter().map(|r| r.cost_micros).sum();
    let total_requests: u64 = rows.iter().map(|r| r.requests).sum();
    Ok(Json(UsageReport {
        from,
        to,
        by,
        rows,
        total: UsageTotal {
            requests: total_requests,
            cost_micros: total_cost,
        },
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    /// `provider` (the default), `model` or `key`.
    group_by: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/usage/cost?group_by=provider|model|key`: cost per group over a period.
#[utoipa::path(get, path = "/api/usage/cost", tag = "usage", operation_id = "getCost",
    params(CostQuery),
    responses(
        (status = 200, description = "totals per group", body = UsageReport),
        (status = 422, description = "a bad period or grouping", body = crate::error::ErrorBody),
    ))]
pub async fn cost(
    state: State<AppState>,
    Query(query): Query<CostQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let by = query.group_by.unwrap_or_else(|| "provider".into());
    if !matches!(by.as_str(), "provider" | "model" | "key") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            format!("group_by: {by:?} is not one of provider, model, key"),
        ));
    }
    usage(
        state,
        Query(UsageQuery {
            from: query.from,
            to: query.to,
            by: Some(by),
        }),
    )
    .await
}

/// `GET /api/metrics`: requests, success and error rates, latency and time-to-first-byte
/// percentiles over the last hour, day and week.
#[utoipa::path(get, path = "/api/metrics", tag = "usage", operation_id = "getMetrics",
    responses((status = 200, description = "figures for the last hour, day and week", body = MetricsReport)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Json<MetricsReport>, ApiError> {
    let now = chrono::Utc::now();
    let since = |hours: i64| {
        (now - chrono::Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let (hour, day, week) = (since(1), since(24), since(24 * 7));
    let report = state
        .with_store(move |store| {
            Ok(MetricsReport {
                hour: store.metrics_since(&hour)?,
                day: store.metrics_since(&day)?,
                week: store.metrics_since(&week)?,
            })
        })
        .await?;
    Ok(Json(report))
}
