//! `GET /api/charts/{name}.svg?range=24h&by=provider&theme=dark&width=900&height=360`: the usage
//! charts as SVG (or `.png`), drawn from the rollups.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use keygate_charts::{Format, RenderOptions, Theme, render};
use serde::Deserialize;

use crate::charts::{ChartRequest, build};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// Hours or days back from now (`24h`, `7d`, `30d`, up to 365 days).
    range: Option<String>,
    /// Split the series by `provider`, `model`, `key` or `token`.
    by: Option<String>,
    /// `light` (the default) or `dark`.
    theme: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

/// A usage chart (`requests`, `tokens`, `cost`, `latency`, `ttfb`, `success`) as SVG or PNG.
#[utoipa::path(get, path = "/api/charts/{file}", tag = "usage", operation_id = "getChart",
    params(("file" = String, Path, description = "`NAME.svg` or `NAME.png`"), ChartQuery),
    responses(
        (status = 200, description = "the chart", content(
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 404, description = "no such chart", body = super::shapes::ErrorBody),
        (status = 422, description = "a bad query value", body = super::shapes::ErrorBody),
    ))]
pub async fn chart(
    State(state): State<AppState>,
    Path(file): Path<String>,
    query: Result<Query<ChartQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::invalid("invalid_query", vec![("query".into(), e.body_text())]))?;
    let (name, format, mime) = if let Some(name) = file.strip_suffix(".svg") {
        (name, Format::Svg, "image/svg+xml")
    } else if let Some(name) = file.strip_suffix(".png") {
        (name, Format::Png, "image/png")
    } else {
        return Err(ApiError::not_found(format!(
            "no chart file {file:?}: ask for NAME.svg or NAME.png"
        )));
    };
    let mut problems = Vec::new();
    let request = match ChartRequest::parse(name, query.range.as_deref(), query.by.as_deref()) {
        Ok(r) => Some(r),
        Err(found) => {
            if let Some((_, message)) = found.iter().find(|(field, _)| *field == "name") {
                return Err(ApiError::not_found(message.clone()));
            }
            problems.extend(found.into_iter().map(|(f, m)| (f.to_string(), m)));
            None
        }
    };
    let theme = match query.theme.as_deref() {
        None | Some("light") => Theme::Light,
        Some("dark") => Theme::Dark,
        Some(other) => {
            problems.push(("theme".into(), format!("{other:?} is not light or dark")));
            Theme::Light
        }
    };
    let defaults = RenderOptions::default();
    let options = RenderOptions {
        width: query.width.unwrap_or(defaults.width),
        height: query.height.unwrap_or(defaults.height),
        theme,
        format,
    };
    let (Some(request), true) = (request, problems.is_empty()) else {
        return Err(ApiError::invalid("invalid_query", problems));
    };
    let bytes = state
        .with_store(move |store| {
            let chart = build(store, &request, chrono::Utc::now())?;
            render(&chart, &options).map_err(|e| {
                ApiError::invalid("invalid_query", vec![("size".into(), e.to_string())])
            })
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}
