use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many requests (1 to 1000, default 100).
    limit: Option<u32>,
}

/// The newest proxied requests, each with its attempts (which key, what failed, why).
#[utoipa::path(get, path = "/api/logs", tag = "logs", operation_id = "listLogs",
    params(LogQuery),
    responses((status = 200, description = "the newest requests, newest first", body = super::shapes::RequestList)))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let requests = state
        .with_store(move |store| Ok(store.recent_requests(limit)?))
        .await?;
    Ok(Json(json!({ "requests": requests })))
}
