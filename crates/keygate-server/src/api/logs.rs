use axum::Json;
use axum::extract::{Query, State};
use keygate_store::{LogCursor, Outcome, RequestFilter, RequestRow};
use serde::{Deserialize, Serialize};

use crate::proxy::WriterHealth;
use crate::{ApiError, AppState};

/// `GET /api/logs`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestList {
    requests: Vec<RequestRow>,
    /// Send as `before` for the next (older) page; `null` on the last page.
    next: Option<String>,
    /// Whether rows are still on their way (the database was locked) or were lost.
    writer: WriterHealth,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many requests (1 to 1000, default 100).
    limit: Option<u32>,
    /// The `next` of the page before: this page starts after it.
    before: Option<String>,
    /// A date (`2026-11-01`) or RFC 3339 time: requests at or after it.
    from: Option<String>,
    /// A date or RFC 3339 time: requests before it.
    to: Option<String>,
    /// `ok`, `failed`, or an HTTP status such as `429`.
    status: Option<String>,
    provider: Option<String>,
    /// A key's id.
    key: Option<String>,
    /// An access token's name (the client).
    token: Option<String>,
    /// A model, as requested or as served.
    model: Option<String>,
    /// Words that must all appear in the request (model, client, provider, key, status, error).
    q: Option<String>,
}

/// Proxied requests, newest first, each with its attempts (which key, what failed, why),
/// filtered and paged by keyset (`before` = the previous page's `next`); and the writer's
/// state: rows not saved yet show up later.
#[utoipa::path(get, path = "/api/logs", tag = "logs", operation_id = "listLogs",
    params(LogQuery),
    responses(
        (status = 200, description = "a page of requests, newest first", body = RequestList),
        (status = 422, description = "a filter is invalid (`fields` names it)", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestList>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::invalid("invalid_query", vec![query_problem(&e)]))?;
    let filter =
        filter_of(&query).map_err(|problems| ApiError::invalid("invalid_query", problems))?;
    // At most 1000 rows of clipped texts (see `Store::find_requests`): a page is at most
    // a few MB whatever clients sent.
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let page = state
        .with_store(move |store| Ok(store.find_requests(&filter, limit)?))
        .await?;
    Ok(Json(RequestList {
        requests: page.rows,
        next: page.next.map(|c| c.encode()),
        writer: state.proxy().writer.health(),
    }))
}

/// The parameter a query rejection is about and what is wrong with it: serde names it
/// (`limit: invalid digit found in string`); a number out of range says the range.
fn query_problem(rejection: &axum::extract::rejection::QueryRejection) -> (String, String) {
    let text = rejection.body_text();
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    match detail.split_once(": ") {
        Some(("limit", _)) => ("limit".into(), "a whole number from 1 to 1000".into()),
        Some((field, problem))
            if !field.is_empty()
                && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            (field.to_string(), problem.to_string())
        }
        _ => ("query".into(), detail.to_string()),
    }
}

fn filter_of(query: &LogQuery) -> Result<RequestFilter, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| keygate_core::bounds::clip(v).to_string())
    };
    let mut time = |field: &str, v: &Option<String>| {
        given(v).and_then(|text| {
            keygate_core::prices::period_bound(&text)
                .map_err(|e| problems.push((field.to_string(), e)))
                .ok()
        })
    };
    let from = time("from", &query.from);
    let to = time("to", &query.to);
    let outcome = given(&query.status).and_then(|s| match s.as_str() {
        "ok" => Some(Outcome::Succeeded),
        "failed" => Some(Outcome::Failed),
        code => match code.parse::<u16>() {
            Ok(n) if (100..=599).contains(&n) => Some(Outcome::Status(n)),
            _ => {
                problems.push((
                    "status".into(),
                    format!("{code:?} is not ok, failed or an HTTP status"),
                ));
                None
            }
        },
    });
    let before = given(&query.before).and_then(|text| {
        LogCursor::decode(&text).or_else(|| {
            problems.push((
                "before".into(),
                "not a cursor this API gave out (send back a page's `next`)".into(),
            ));
            None
        })
    });
    if problems.is_empty() {
        Ok(RequestFilter {
            before,
            from,
            to,
            outcome,
            provider: given(&query.provider),
            key_id: given(&query.key),
            token: given(&query.token),
            model: given(&query.model),
            search: given(&query.q),
        })
    } else {
        Err(problems)
    }
}
