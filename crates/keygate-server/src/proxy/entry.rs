//! What every proxy route does before its handler, in one layer.

use axum::middleware;

use super::settings::ProxySettings;
use crate::AppState;

/// What every proxy route does before its handler, in one layer (each layer costs a boxed
/// future and a clone of the service behind it, per request): refuse while the proxy is
/// paused, name the caller by its access token, and only then read the body. Errors come in
/// the schema of the endpoint called.
pub(super) async fn entry(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let anthropic = super::anthropic_error::is_anthropic_path(request.uri().path());
    let gemini = super::gemini::is_gemini_path(request.uri().path());
    let admitted = if state.proxy_paused() {
        Err(super::openai_error::ProxyError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "proxy_paused",
            "proxy_paused",
            "the KeyGate proxy is paused: resume it from the tray menu or the Settings page",
        ))
    } else {
        // Google's SDKs may put the key in the URL; `forwarded_query` never passes it on.
        let query_key = gemini
            .then(|| request.uri().query().and_then(super::gemini::query_key))
            .flatten();
        super::auth::caller(&state, request.headers(), query_key)
    };
    let read = match admitted {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            read_body(&state.proxy().settings(), request).await
        }
        Err(err) => Err(err),
    };
    match read {
        Ok(request) => next.run(request).await,
        Err(err) if anthropic => super::anthropic_error::anthropic_response(err),
        Err(err) if gemini => super::gemini::gemini_response(err),
        Err(err) => axum::response::IntoResponse::into_response(err),
    }
}

/// Reads the request body before the handler, within the body limit and the idle timeout:
/// a client that announces a body and never sends it (or dribbles it) is answered 408 instead
/// of holding its connection, and an oversized body gets a 413 in the endpoint's error schema
/// after it was read up to the limit (so a client still writing sees the answer, not a broken
/// pipe).
async fn read_body(
    settings: &ProxySettings,
    request: axum::extract::Request,
) -> Result<axum::extract::Request, super::openai_error::ProxyError> {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        settings.idle_timeout,
        axum::body::to_bytes(body, settings.body_limit),
    )
    .await;
    match read {
        Ok(Ok(bytes)) => Ok(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        )),
        Ok(Err(err)) => {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                super::openai_error::ProxyError::new(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request_error",
                    "request_too_large",
                    format!(
                        "the request body is over {} MiB (setting proxy.body_limit_mib)",
                        settings.body_limit / (1024 * 1024)
                    ),
                )
            } else {
                super::openai_error::ProxyError::invalid_request(
                    "body_unreadable",
                    "the request body could not be read",
                )
            })
        }
        Err(_) => Err(super::openai_error::ProxyError::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "request_timeout",
            format!(
                "the request body did not arrive within {} s (setting proxy.idle_timeout_seconds)",
                settings.idle_timeout.as_secs()
            ),
        )),
    }
}
