//! `GET /api/connect` (each tool's state), `POST /api/connect/{tool}` (connect it; `dry_run`
//! answers the diff and changes nothing) and `DELETE /api/connect/{tool}` (undo).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_core::connect::Tool;
use serde::Serialize;

use crate::connect::{
    ConnectFailure, ConnectOptions, ConnectOutcome, Connector, ToolStatus, UndoOutcome,
};
use crate::{ApiError, AppState};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolList {
    tools: Vec<ToolStatus>,
}

/// The options of a connect, all optional.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ConnectRequest)]
struct ConnectRequestDoc {
    /// Answer the diff and change nothing.
    dry_run: Option<bool>,
    /// The model or route alias the tool should ask for.
    model: Option<String>,
    /// Serve the tool's models from this provider.
    serve_from: Option<crate::connect::ServeFrom>,
}

fn failure(error: ConnectFailure) -> ApiError {
    let status = match &error {
        ConnectFailure::Config(keygate_core::connect::ConnectError::UnknownTool(_)) => {
            StatusCode::NOT_FOUND
        }
        ConnectFailure::NotConnected(_) => StatusCode::NOT_FOUND,
        ConnectFailure::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ConnectFailure::Store(_) | ConnectFailure::Record { .. } | ConnectFailure::Random => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::CONFLICT,
    };
    ApiError::new(status, error.code(), error.to_string())
}

fn connector(state: &AppState) -> Result<Connector, ApiError> {
    Connector::from_env(state.home(), format!("http://127.0.0.1:{}", state.port())).map_err(failure)
}

fn tool(name: &str) -> Result<Tool, ApiError> {
    Tool::parse(name).map_err(|e| failure(e.into()))
}

#[utoipa::path(get, path = "/api/connect", tag = "connect", operation_id = "listConnections",
    responses((status = 200, description = "each tool: installed, connected, drifted, last used", body = ToolList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ToolList>, ApiError> {
    let connector = connector(&state)?;
    let mut tools = state
        .with_store(move |store| connector.status(store).map_err(failure))
        .await?;
    // A tool whose models no provider serves gets nowhere, connected or not: say so.
    let catalog = state.proxy().catalog();
    for tool in &mut tools {
        let Some(model) = tool.default_model else {
            continue;
        };
        if !crate::proxy::routing::serves_by_name(&catalog, model) {
            tool.warning = Some(if tool.serves_from_any {
                format!(
                    "{} asks for {model}, and no provider with keys serves it: add a key of that provider, or serve its models from one you have",
                    tool.title
                )
            } else {
                format!(
                    "{} asks for {model}, and no provider with keys serves it",
                    tool.title
                )
            });
        }
    }
    Ok(Json(ToolList { tools }))
}

#[utoipa::path(post, path = "/api/connect/{tool}", tag = "connect", operation_id = "connectTool",
    params(("tool" = String, Path, description = "claude-code, codex, gemini-cli, opencode, aider, continue or shell")),
    request_body(content = ConnectRequestDoc, description = "optional"),
    responses(
        (status = 200, description = "what changed (or would, with dry_run): a diff per file", body = ConnectOutcome),
        (status = 404, description = "no such tool", body = crate::error::ErrorBody),
        (status = 409, description = "a file KeyGate will not edit (malformed, read-only, a link); nothing was written", body = crate::error::ErrorBody),
    ))]
pub async fn apply(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ConnectOutcome>, ApiError> {
    let tool = tool(&name)?;
    // The body is optional: none is a plain connect.
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        ConnectOptions::default()
    } else {
        serde_json::from_slice::<ConnectOptions>(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_connect",
                format!("the body must be {{\"dry_run\"?: bool, \"model\"?: string}}: {e}"),
            )
        })?
    };
    if let Some(model) = &options.model {
        keygate_core::token::validate_model_glob(model)
            .map_err(|e| ApiError::invalid("invalid_connect", vec![("model".into(), e)]))?;
    }
    let connector = connector(&state)?;
    let reload = state.clone();
    let outcome = state
        .with_store(move |store| {
            let outcome = connector.connect(store, tool, &options).map_err(failure)?;
            if !outcome.dry_run {
                reload.reload_catalog(store);
            }
            Ok(outcome)
        })
        .await?;
    Ok(Json(outcome))
}

#[utoipa::path(delete, path = "/api/connect/{tool}", tag = "connect", operation_id = "disconnectTool",
    params(("tool" = String, Path, description = "the tool to undo")),
    responses(
        (status = 200, description = "each file restored (or merged, removed, unchanged), the tool's token revoked", body = UndoOutcome),
        (status = 404, description = "no such tool, or KeyGate did not connect it", body = crate::error::ErrorBody),
        (status = 409, description = "a setting KeyGate wrote was changed since; nothing was written", body = crate::error::ErrorBody),
    ))]
pub async fn undo(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<UndoOutcome>, ApiError> {
    let tool = tool(&name)?;
    let connector = connector(&state)?;
    let reload = state.clone();
    let outcome = state
        .with_store(move |store| {
            let outcome = connector.undo(store, tool).map_err(failure)?;
            reload.reload_catalog(store);
            Ok(outcome)
        })
        .await?;
    Ok(Json(outcome))
}
