use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use keygate_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An admin-API error: `{"error":{"code":"snake_case","message":"…"}}` with a fitting status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Field-level problems of a request body (`"fields": {"name": "what is wrong"}`).
    pub fields: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// 422 with one message per field; `message` joins them for clients that read only it.
    pub fn invalid(code: &'static str, fields: Vec<(String, String)>) -> Self {
        let message = fields
            .iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            fields,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin token: open the URL that `keygate serve` prints, or the desktop app",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            other => Self::internal(other.to_string()),
        }
    }
}

/// Every error: `{"error": {code, message, fields?}}` with a fitting status.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and `snake_case` (`not_found`, `invalid_key`, `unauthorized`, …).
    code: &'static str,
    /// Fit to show a person.
    message: String,
    /// Per-field problems of a rejected request body (422), keyed by the body's field names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    fields: BTreeMap<String, String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                fields: self.fields.into_iter().collect(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Where a JSON body went wrong, from axum's rejection: the field path (`rpm`,
/// `tiers[0].model`; `body` when the body as a whole is wrong) and what serde said about it
/// (`invalid value: integer `5000000000`, expected u32`). A number out of a field's type is
/// then a 422 that names the field, like any other out-of-range value.
pub fn rejected_field(rejection: &axum::extract::rejection::JsonRejection) -> (String, String) {
    type PathError = serde_path_to_error::Error<serde_json::Error>;
    let mut source = std::error::Error::source(rejection);
    while let Some(err) = source {
        if let Some(err) = err.downcast_ref::<PathError>() {
            let path = err.path().to_string();
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            // serde's position ("at line 1 column 30") says nothing to an API client.
            let text = err.inner().to_string();
            let message = text.split(" at line ").next().unwrap_or(&text).to_string();
            return (field, message);
        }
        source = err.source();
    }
    ("body".into(), rejection.body_text())
}

impl ApiError {
    /// A 422 for a body axum could not read into its type, naming the field at fault;
    /// `shape` says what the body should look like when the body as a whole is wrong.
    pub fn rejected(
        code: &'static str,
        shape: &str,
        rejection: &axum::extract::rejection::JsonRejection,
    ) -> Self {
        let (field, message) = rejected_field(rejection);
        let message = if field == "body" {
            format!("expected {shape} ({message})")
        } else {
            message
        };
        Self::invalid(code, vec![(field, message)])
    }
}
