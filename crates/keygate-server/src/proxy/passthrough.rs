//! `/p/{provider}/{*path}`: any request to a provider's own API, with a key injected the way
//! that provider expects it and failover between its keys. The path is relative to the
//! provider's base URL (`/p/openai/models` → `https://api.openai.com/v1/models`); answers are
//! relayed as raw bytes, streams included.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keygate_core::failure::{FailureClass, RequestAction, classify};
use keygate_core::select::Strategy;
use serde_json::Value;

use super::attempt::{answered, send};
use super::auth::Caller;
use super::forward::{answer, key_order};
use super::openai_error::ProxyError;
use super::outcome::record;
use super::upstream::{native_headers, response_headers};
use crate::AppState;

pub async fn passthrough(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((provider_name, path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match relay(
        &state,
        &caller,
        &provider_name,
        &path,
        method,
        &uri,
        &headers,
        body,
    )
    .await
    {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn relay(
    state: &AppState,
    caller: &Caller,
    provider_name: &str,
    path: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ProxyError> {
    let proxy = state.proxy();
    let catalog = proxy.catalog();
    let provider: Arc<_> = catalog.provider(provider_name).cloned().ok_or_else(|| {
        ProxyError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_provider",
            format!("no provider named {provider_name:?} (see `keygate provider list`)"),
        )
    })?;
    if path
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
        || path.contains('\\')
    {
        return Err(ProxyError::invalid_request(
            "invalid_path",
            "the path may not contain . or .. segments",
        ));
    }
    // A token limited to some models may only send requests that name an allowed model.
    if !caller.models.is_empty() {
        let model = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("model").and_then(Value::as_str).map(str::to_string))
            .or_else(|| gemini_model(path));
        if !model.as_deref().is_some_and(|m| caller.may_use(m)) {
            return Err(ProxyError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "model_not_allowed",
                format!(
                    "the access token {:?} is limited to some models, and this request does not name one of them",
                    caller.token_name
                ),
            ));
        }
    }
    let url = upstream_url(&provider.base_url, path, uri.query());
    let deadline = Instant::now() + proxy.settings.total_deadline;
    let mut attempts = 0;
    let mut last: Option<(StatusCode, HeaderMap, Bytes)> = None;
    for key in key_order(proxy, &provider, Strategy::Priority) {
        if attempts >= proxy.settings.max_attempts || Instant::now() >= deadline {
            break;
        }
        attempts += 1;
        let tried_at = Instant::now();
        let request = proxy
            .client
            .request(method.clone(), &url)
            .headers(native_headers(headers, &provider, &key))
            .body(body.clone());
        let upstream = match send(proxy, request, deadline).await {
            Ok(upstream) => upstream,
            Err(outcome) => {
                let decision = classify(&outcome);
                record(
                    proxy,
                    &provider,
                    &key,
                    &decision,
                    None,
                    Some(decision.class.as_str().into()),
                    tried_at.elapsed(),
                );
                continue;
            }
        };
        let status = upstream.status();
        if status.is_success() {
            let (outcome, _) = answered(status, upstream.headers(), &[]);
            record(
                proxy,
                &provider,
                &key,
                &classify(&outcome),
                Some(status.as_u16()),
                None,
                tried_at.elapsed(),
            );
            let headers = response_headers(upstream.headers());
            let body = Body::from_stream(upstream.bytes_stream());
            return Ok(answer(
                status,
                headers,
                body,
                &provider.name,
                &key.label,
                attempts,
            ));
        }
        let upstream_headers = upstream.headers().clone();
        let body = tokio::time::timeout(proxy.settings.idle_timeout, upstream.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let (outcome, error_text) = answered(status, &upstream_headers, &body);
        let decision = classify(&outcome);
        record(
            proxy,
            &provider,
            &key,
            &decision,
            Some(status.as_u16()),
            error_text,
            tried_at.elapsed(),
        );
        if decision.request == RequestAction::Deliver || decision.class == FailureClass::Success {
            let headers = response_headers(&upstream_headers);
            return Ok(answer(
                status,
                headers,
                Body::from(body),
                &provider.name,
                &key.label,
                attempts,
            ));
        }
        last = Some((status, response_headers(&upstream_headers), body));
    }
    // Every key failed: hand the client the last upstream answer, as the provider wrote it.
    match last {
        Some((status, headers, body)) => {
            let mut response = (status, body).into_response();
            response.headers_mut().extend(headers);
            if let Ok(value) = attempts.to_string().parse() {
                response.headers_mut().insert("x-keygate-attempts", value);
            }
            Ok(response)
        }
        None => Err(ProxyError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "no_key_available",
            format!(
                "provider {:?} has no key that answered ({attempts} attempt(s))",
                provider.name
            ),
        )),
    }
}

/// `base` + `/` + `path` + the query, minus any `key=` parameter (Gemini accepts keys in the
/// URL; KeyGate never puts one there, and never forwards the caller's).
fn upstream_url(base: &str, path: &str, query: Option<&str>) -> String {
    let mut url = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    let kept: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("key="))
        .collect();
    if !kept.is_empty() {
        url.push('?');
        url.push_str(&kept.join("&"));
    }
    url
}

/// Gemini names the model in the path: `models/gemini-2.5-pro:generateContent`.
fn gemini_model(path: &str) -> Option<String> {
    let rest = path.split("models/").nth(1)?;
    Some(rest.split([':', '/']).next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_the_query_but_never_a_key() {
        assert_eq!(
            upstream_url("https://api.openai.com/v1/", "models", None),
            "https://api.openai.com/v1/models"
        );
        assert_eq!(
            upstream_url(
                "https://g.example/v1beta",
                "models/gemini-pro:streamGenerateContent",
                Some("alt=sse&key=AIzaLEAK")
            ),
            "https://g.example/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            upstream_url("https://x/v1", "a", Some("key=only")),
            "https://x/v1/a"
        );
    }

    #[test]
    fn gemini_model_names_come_from_the_path() {
        assert_eq!(
            gemini_model("models/gemini-2.5-pro:generateContent").as_deref(),
            Some("gemini-2.5-pro")
        );
        assert_eq!(gemini_model("chat/completions"), None);
    }
}
