//! Health in the admin API: a key's health and check history, health per provider, forcing a
//! check, the checker's configuration (changed live), and the event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use keygate_store::{CheckRow, Event as StoredEvent};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::KeyView;
use super::keys::HealthView;
use crate::health::{CONFIG_SETTING, CheckerConfig};
use crate::proxy::WriterHealth;
use crate::{ApiError, AppState};

/// Whether the engine is up, and whether the request log keeps up (rows
/// waiting for a locked database, rows lost); needs no token.
#[utoipa::path(get, path = "/api/health", tag = "meta", operation_id = "getEngineHealth",
    security(()),
    responses((status = 200, description = "the engine is up", body = EngineHealth)))]
pub async fn engine(State(state): State<AppState>) -> Json<EngineHealth> {
    Json(EngineHealth {
        status: "ok",
        service: "keygate",
        version: env!("CARGO_PKG_VERSION"),
        writer: state.proxy().writer.health(),
        store: state.store_kind(),
        shared: "none",
        health_checker_off_for_this_run: crate::health::off_for_this_run(),
    })
}

/// `GET /api/health`.
#[derive(Serialize, ToSchema)]
pub struct EngineHealth {
    /// `ok`.
    status: &'static str,
    /// `keygate`: tells a KeyGate on its port from another program.
    service: &'static str,
    version: &'static str,
    /// The request-log writer: rows waiting, rows lost, its last error.
    writer: WriterHealth,
    /// Where the data lives: `sqlite` (the desktop's file) or `postgres` (a team's database).
    #[schema(example = "sqlite")]
    store: &'static str,
    /// The live state engines share (cooldowns, limits, budgets): `none` for an engine on
    /// its own, `ok` or `unreachable` for one started with `--shared`.
    #[schema(example = "none")]
    shared: &'static str,
    /// True when this engine was started with `KEYGATE_HEALTH_CHECKER=off`: no background
    /// checks run, whatever the saved health-checker configuration says.
    health_checker_off_for_this_run: bool,
}

/// `GET /api/keys/{id}/health`.
#[derive(Serialize, ToSchema)]
pub struct KeyHealthReport {
    key_id: String,
    label: String,
    health: HealthView,
    /// The newest checks and tests, newest first.
    checks: Vec<CheckRow>,
}

/// `GET /api/events/recent`.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    events: Vec<StoredEvent>,
}

/// `GET /api/keys/{id}/health`: the key's health and its newest checks.
#[utoipa::path(get, path = "/api/keys/{id}/health", tag = "health", operation_id = "getKeyHealth",
    params(("id" = String, Path, description = "the key's id")),
    responses(
        (status = 200, description = "the key's health and newest checks", body = KeyHealthReport),
        (status = 404, description = "no key with that id", body = crate::error::ErrorBody),
    ))]
pub async fn key_health(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyHealthReport>, ApiError> {
    let (row, checks) = state
        .with_store(move |store| {
            let row = store
                .get_key(&id)?
                .ok_or_else(|| ApiError::not_found("no key with that id"))?;
            let checks = store.key_checks(&id, 50)?;
            Ok((row, checks))
        })
        .await?;
    let view = KeyView::from(row);
    Ok(Json(KeyHealthReport {
        key_id: view.id,
        label: view.label,
        health: view.health,
        checks,
    }))
}

/// `GET /api/providers/health`: per provider, its keys by state and its circuit breaker.
#[utoipa::path(get, path = "/api/providers/health", tag = "health", operation_id = "getProvidersHealth",
    responses((status = 200, description = "health per provider", body = super::providers::ProvidersHealth)))]
pub async fn providers_health(
    State(state): State<AppState>,
) -> Result<Json<super::providers::ProvidersHealth>, ApiError> {
    let rows = state.with_store(|store| Ok(store.list_keys()?)).await?;
    let proxy = state.proxy();
    Ok(Json(super::providers::providers_health(
        &proxy.catalog(),
        &rows,
        proxy.clock.now_ms(),
    )))
}

/// `GET /api/health-check/config`.
#[utoipa::path(get, path = "/api/health-check/config", tag = "health", operation_id = "getHealthCheckConfig",
    responses((status = 200, description = "the checker's configuration", body = CheckerConfig)))]
pub async fn get_config(State(state): State<AppState>) -> Json<CheckerConfig> {
    Json(state.proxy().health_config.borrow().clone())
}

/// `PUT /api/health-check/config`: validated, saved, and in force at once.
#[utoipa::path(put, path = "/api/health-check/config", tag = "health", operation_id = "putHealthCheckConfig",
    request_body = CheckerConfig,
    responses(
        (status = 200, description = "the configuration in force", body = CheckerConfig),
        (status = 422, description = "a value is out of range", body = crate::error::ErrorBody),
    ))]
pub async fn put_config(
    State(state): State<AppState>,
    body: Result<Json<CheckerConfig>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CheckerConfig>, ApiError> {
    let Json(config) = body.map_err(|e| {
        ApiError::rejected(
            "invalid_config",
            "{enabled, interval_minutes, max_error_count, retry_after_minutes}",
            &e,
        )
    })?;
    let problems = config.problems();
    if !problems.is_empty() {
        // Each problem reads "field: what is allowed".
        let fields = problems
            .into_iter()
            .map(|p| match p.split_once(": ") {
                Some((field, message)) => (field.to_string(), message.to_string()),
                None => ("body".to_string(), p),
            })
            .collect();
        return Err(ApiError::invalid("invalid_config", fields));
    }
    let saved = config.clone();
    state
        .with_store(move |store| Ok(store.set_setting(CONFIG_SETTING, &saved)?))
        .await?;
    state
        .proxy()
        .registry
        .set_max_errors(config.max_error_count);
    state.proxy().health_config.send_replace(config.clone());
    Ok(Json(config))
}

/// `GET /api/events`: server-sent events as they happen (`event:` is the kind, `data:` the
/// event as JSON). Ends when the engine stops.
#[utoipa::path(get, path = "/api/events", tag = "health", operation_id = "watchEvents",
    responses((status = 200, description = "a `text/event-stream`: each message's `event:` is the \
        kind and its `data:` a `LiveEvent` as JSON", content_type = "text/event-stream", body = String)))]
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let proxy = state.proxy();
    let receiver = proxy.subscribe();
    let stopping = proxy.stopping();
    let stream = futures_util::stream::unfold(
        (receiver, stopping),
        |(mut receiver, mut stopping)| async move {
            loop {
                let next = tokio::select! {
                    next = receiver.recv() => next,
                    _ = stopping.wait_for(|s| *s) => return None,
                };
                match next {
                    Ok(event) => {
                        let data = serde_json::to_string(&event).unwrap_or_default();
                        let sse = SseEvent::default().event(event.kind.as_str()).data(data);
                        return Some((Ok(sse), (receiver, stopping)));
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// `GET /api/events/recent`: the newest saved events.
#[utoipa::path(get, path = "/api/events/recent", tag = "health", operation_id = "listRecentEvents",
    responses((status = 200, description = "the newest 200 events, newest first", body = EventList)))]
pub async fn recent_events(State(state): State<AppState>) -> Result<Json<EventList>, ApiError> {
    let events = state
        .with_store(|store| Ok(store.recent_events(200)?))
        .await?;
    Ok(Json(EventList { events }))
}
