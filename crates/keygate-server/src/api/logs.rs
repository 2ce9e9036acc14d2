use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::shapes::RequestList;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many requests (1 to 1000, default 100).
    limit: Option<u32>,
}

/// The newest proxied requests, each with its attempts (which key, what failed, why), and
/// the writer's state: rows not saved yet show up later.
#[utoipa::path(get, path = "/api/logs", tag = "logs", operation_id = "listLogs",
    params(LogQuery),
    responses((status = 200, description = "the newest requests, newest first", body = RequestList)))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestList>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::invalid(
            "invalid_query",
            vec![(
                "limit".into(),
                format!("a whole number from 1 to 1000 ({e})"),
            )],
        )
    })?;
    // At most 1000 rows of clipped texts (see `Store::recent_requests`): a page is at most
    // a few MB whatever clients sent.
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let requests = state
        .with_store(move |store| Ok(store.recent_requests(limit)?))
        .await?;
    Ok(Json(RequestList {
        requests,
        writer: state.proxy().writer.health(),
    }))
}
