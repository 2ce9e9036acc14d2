//! Errors in the OpenAI schema, which every OpenAI-compatible client knows how to show:
//! `{"error":{"message","type","param","code"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ProxyError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// Attempts made before KeyGate gave up (sent as `x-keygate-attempts`, like on answers).
    pub attempts: Option<usize>,
}

impl ProxyError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            code,
            message: message.into(),
            retry_after_secs: None,
            attempts: None,
        }
    }

    /// Adds `retry-after` and `x-keygate-attempts` to an error answer in either schema.
    pub fn add_headers(&self, response: &mut Response) {
        for (name, value) in [
            ("retry-after", self.retry_after_secs.map(|s| s as usize)),
            ("x-keygate-attempts", self.attempts),
        ] {
            if let Some(value) = value
                && let Ok(value) = HeaderValue::from_str(&value.to_string())
            {
                response.headers_mut().insert(name, value);
            }
        }
    }

    pub fn invalid_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            message,
        )
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "message": self.message, "type": self.kind, "param": null, "code": self.code }
        });
        let mut response = (self.status, Json(body)).into_response();
        self.add_headers(&mut response);
        response
    }
}
