//! The one place that keeps every error under `/api` in the API's schema. axum answers an
//! extractor's rejection (a bad query string, body or path segment) in plain text and a method
//! no route takes with an empty 405; this layer rewrites such answers as
//! `{"error":{"code","message"}}` with the same status, naming the offending parameter or
//! field when axum did. Handlers keep using axum's extractors as they are, and answers that
//! are already JSON (every `ApiError`) pass untouched.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// What axum's rejection texts start with, and the code each gets.
const REJECTIONS: [(&str, &str); 7] = [
    ("Failed to deserialize query string", "invalid_query"),
    ("Failed to parse the request body as JSON", "invalid_json"),
    (
        "Failed to deserialize the JSON body into the target type",
        "invalid_body",
    ),
    (
        "Expected request with `Content-Type: application/json`",
        "unsupported_media_type",
    ),
    ("Failed to buffer the request body", "body_unreadable"),
    ("Invalid URL", "invalid_path"),
    ("Wrong number of path arguments", "invalid_path"),
];

/// Rejection texts are a line or two; anything longer is cut.
const TEXT_LIMIT: usize = 16 * 1024;

/// `middleware::from_fn` for the `/api` routers.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    if !is_plain_error(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = read_text(body).await;
    let mut rewritten = api_error(parts.status, &method, &text).into_response();
    if let Some(allow) = parts.headers.get(ALLOW) {
        rewritten.headers_mut().insert(ALLOW, allow.clone());
    }
    rewritten
}

/// An error answer in plain text or with no body at all: never one of ours.
fn is_plain_error(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && response
            .headers()
            .get(CONTENT_TYPE)
            .is_none_or(|t| t.as_bytes().starts_with(b"text/plain"))
}

async fn read_text(body: Body) -> String {
    match to_bytes(body, TEXT_LIMIT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    }
}

/// The API error for axum's plain answer `text` with `status`.
fn api_error(status: StatusCode, method: &Method, text: &str) -> ApiError {
    let Some((prefix, code)) = REJECTIONS.iter().find(|(p, _)| text.starts_with(p)) else {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such API endpoint".to_string()),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                format!("this endpoint does not take {method} requests"),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("body_too_large", "the request body is too large".into())
            }
            s if s.is_server_error() => ("internal", "the engine could not answer".into()),
            _ => ("bad_request", "the request is not valid".into()),
        };
        let message = if text.is_empty() {
            message
        } else {
            text.to_string()
        };
        return ApiError::new(status, code, message);
    };
    let detail = text[prefix.len()..].trim_start_matches([':', ' ']);
    // serde_path_to_error (behind Query and Json) writes `path: what is wrong`.
    let field = detail
        .split_once(": ")
        .filter(|(path, _)| is_field_path(path));
    let message = match (field, *code) {
        (Some((name, problem)), "invalid_query") => {
            format!("query parameter `{name}`: {problem}")
        }
        (Some((name, problem)), _) => format!("field `{name}`: {problem}"),
        (None, _) => text.to_string(),
    };
    ApiError {
        fields: field
            .map(|(name, problem)| vec![(name.to_string(), problem.to_string())])
            .unwrap_or_default(),
        ..ApiError::new(status, code, message)
    }
}

/// `limit`, `keys[0].label`: a path into the request, not a sentence.
fn is_field_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_query_value_is_a_400_that_names_the_parameter() {
        let err = api_error(
            StatusCode::BAD_REQUEST,
            &Method::GET,
            "Failed to deserialize query string: limit: invalid digit found in string",
        );
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, "invalid_query");
        assert_eq!(
            err.message,
            "query parameter `limit`: invalid digit found in string"
        );
        assert_eq!(
            err.fields,
            vec![("limit".into(), "invalid digit found in string".into())]
        );
    }

    #[test]
    fn rejections_without_a_field_keep_axums_text() {
        let err = api_error(
            StatusCode::BAD_REQUEST,
            &Method::GET,
            "Failed to deserialize query string: unknown field `nope`, expected `limit`",
        );
        assert_eq!(err.code, "invalid_query");
        assert!(
            err.message.contains("unknown field `nope`"),
            "{}",
            err.message
        );
        assert!(err.fields.is_empty());
        let err = api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &Method::POST,
            "Expected request with `Content-Type: application/json`",
        );
        assert_eq!(err.code, "unsupported_media_type");
    }

    #[test]
    fn an_empty_405_says_which_method() {
        let err = api_error(StatusCode::METHOD_NOT_ALLOWED, &Method::DELETE, "");
        assert_eq!(err.code, "method_not_allowed");
        assert!(err.message.contains("DELETE"), "{}", err.message);
    }
}
