//! Answers for requests under the proxy's paths that no route serves (an unknown path, a
//! method the endpoint does not take): JSON in the caller's protocol schema, since the
//! clients there are SDKs and tools that cannot read the UI's page.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::anthropic_error::{anthropic_response, is_anthropic_path};
use super::gemini::{gemini_response, is_gemini_path};
use super::openai_error::ProxyError;

/// True for the paths the proxy owns (`/v1…`, `/v1beta…`, `/p/…`): a request there that no
/// route serves is answered in its protocol's error schema, never with the UI's page.
pub(crate) fn is_proxy_path(path: &str) -> bool {
    ["/v1", "/v1beta", "/p"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A JSON 404 for a proxy path no route serves.
pub(crate) fn not_found(method: &Method, path: &str) -> Response {
    unmatched(
        path,
        ProxyError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_url",
            format!("Invalid URL ({method} {path}): KeyGate serves no such endpoint"),
        ),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    unmatched(
        uri.path(),
        ProxyError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!("{} does not take {method} requests", uri.path()),
        ),
    )
}

/// `err` in the schema of the path's protocol: Anthropic for `/v1/messages…`, Gemini's
/// `{"error":{"code","message","status"}}` for `/v1beta…`, else OpenAI's.
fn unmatched(path: &str, err: ProxyError) -> Response {
    if is_anthropic_path(path) {
        return anthropic_response(err);
    }
    if is_gemini_path(path) {
        return gemini_response(err);
    }
    err.into_response()
}

#[cfg(test)]
mod tests {
    use super::is_proxy_path;

    #[test]
    fn the_proxy_owns_v1_v1beta_and_p_but_not_lookalikes() {
        for path in [
            "/v1",
            "/v1/",
            "/v1/nope",
            "/v1beta/models/x:generateContent",
            "/p/x",
        ] {
            assert!(is_proxy_path(path), "{path}");
        }
        for path in ["/", "/v1x", "/v10/models", "/providers", "/api/keys", "/p"] {
            assert_eq!(is_proxy_path(path), path == "/p", "{path}");
        }
    }
}
