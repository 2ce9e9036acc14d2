use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    limit: Option<u32>,
}

/// The newest proxied requests, each with its attempts (which key, what failed, why).
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
