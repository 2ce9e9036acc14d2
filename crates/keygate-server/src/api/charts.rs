//! `GET /api/charts/{name}.svg?range=24h&by=provider&theme=dark&width=900&height=360`: the usage
//! charts as SVG (or `.png`), drawn from the rollups. `{name}.json` answers the same SVG with
//! the values drawn and where they are in the picture, for a page's hover values.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use keygate_charts::{Format, RenderOptions, Theme, render_with_layout};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::charts::{ChartRequest, build};
use crate::{ApiError, AppState};

/// A chart as SVG with its data: each series' value per bucket as drawn (`null`: no data),
/// and where the plot area and each bucket are in the picture (in its pixels).
#[derive(Serialize, ToSchema)]
pub struct ChartData {
    svg: String,
    title: String,
    /// The unit of the values (`requests`, `tokens`, `USD`, `ms`, `%`).
    unit: String,
    /// Each bucket's start (RFC 3339).
    buckets: Vec<String>,
    bucket_seconds: i64,
    series: Vec<ChartSeries>,
    /// `null` when there was nothing to draw.
    plot: Option<PlotArea>,
}

#[derive(Serialize, ToSchema)]
pub struct ChartSeries {
    name: String,
    values: Vec<Option<f64>>,
}

#[derive(Serialize, ToSchema)]
pub struct PlotArea {
    left: i32,
    top: i32,
    width: i32,
    height: i32,
    /// The x of each bucket's centre.
    bucket_x: Vec<i32>,
}

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

/// A usage chart (`requests`, `tokens`, `cost`, `latency`, `ttfb`, `success`) as SVG or PNG,
/// or as JSON with the SVG and its values.
#[utoipa::path(get, path = "/api/charts/{file}", tag = "usage", operation_id = "getChart",
    params(("file" = String, Path, description = "`NAME.svg`, `NAME.png` or `NAME.json` (a `ChartName`)"), ChartQuery),
    responses(
        (status = 200, description = "the chart", content(
            (String = "image/svg+xml"),
            (String = "image/png"),
            (ChartData = "application/json"),
        )),
        (status = 404, description = "no such chart", body = crate::error::ErrorBody),
        (status = 422, description = "a bad query value", body = crate::error::ErrorBody),
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
    } else if let Some(name) = file.strip_suffix(".json") {
        (name, Format::Svg, "application/json")
    } else {
        return Err(ApiError::not_found(format!(
            "no chart file {file:?}: ask for NAME.svg, NAME.png or NAME.json"
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
    let json = mime == "application/json";
    let (chart, rendered) = state
        .with_store(move |store| {
            let chart = build(store, &request, chrono::Utc::now())?;
            let rendered = render_with_layout(&chart, &options).map_err(|e| {
                ApiError::invalid("invalid_query", vec![("size".into(), e.to_string())])
            })?;
            Ok((chart, rendered))
        })
        .await?;
    let no_store = (header::CACHE_CONTROL, "no-store");
    if !json {
        return Ok(([(header::CONTENT_TYPE, mime), no_store], rendered.bytes).into_response());
    }
    let finite = |v: &f64| v.is_finite().then_some(*v);
    let data = ChartData {
        svg: String::from_utf8(rendered.bytes).unwrap_or_default(),
        title: chart.title,
        unit: chart.y_label,
        buckets: chart
            .buckets
            .iter()
            .filter_map(|t| chrono::DateTime::from_timestamp(*t, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .collect(),
        bucket_seconds: chart.bucket_seconds,
        series: rendered
            .series
            .into_iter()
            .map(|s| ChartSeries {
                values: s.values.iter().map(finite).collect(),
                name: s.name,
            })
            .collect(),
        plot: rendered.layout.map(|l| PlotArea {
            left: l.left,
            top: l.top,
            width: l.width,
            height: l.height,
            bucket_x: l.bucket_x,
        }),
    };
    Ok(([no_store], Json(data)).into_response())
}
