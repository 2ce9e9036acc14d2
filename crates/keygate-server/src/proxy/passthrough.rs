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
use keygate_core::failure::{FailureClass, RequestAction};
use keygate_core::provider::ProviderKind;
use keygate_core::select::Strategy;
use serde_json::Value;

use super::admit::check_client_string;
use super::answer::{answer, with_request_id};
use super::attempt::{Tried, answered, conclude, send};
use super::auth::Caller;
use super::catalog::LiveProvider;
use super::commit::Opened;
use super::failover::{Candidate, Failover};
use super::final_error::final_error;
use super::ledger::{Ledger, Settled, new_request_id};
use super::openai_error::ProxyError;
use super::redacted;
use super::routing::Tier;
use super::shaper::{Raw, RawKind, Shaper};
use super::stream::{FirstStream, stream_response};
use super::upstream::{azure_api_version, forwarded_query, native_headers, response_headers};
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
    let request_id = new_request_id();
    let response = match relay(
        &state,
        &caller,
        &provider_name,
        &path,
        method,
        &uri,
        &headers,
        body,
        &request_id,
    )
    .await
    {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    with_request_id(response, &request_id)
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
    request_id: &str,
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
    let request_json = serde_json::from_slice::<Value>(&body).ok();
    // Only a request that sends a body acts on the model it names (a `model` in the body of
    // a GET or DELETE is ignored upstream, so it cannot open a scope either).
    let sends_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    let body_model = request_json
        .as_ref()
        .filter(|_| sends_body)
        .and_then(|v| v.get("model").and_then(Value::as_str).map(str::to_string));
    let path_model = path_model(path);
    // A token limited to some models may only send requests that name models, and only
    // allowed ones: the path's model (what Gemini and Azure really serve) and the body's.
    if !caller.models().is_empty() {
        let named: Vec<&str> = [path_model.as_deref(), body_model.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if named.is_empty() {
            return Err(caller.out_of_scope("this request names no model"));
        }
        if let Some(denied) = named.iter().find(|m| !caller.may_serve(&provider.name, m)) {
            return Err(caller.out_of_scope(&format!("{denied:?} is not one of them")));
        }
    }
    let model = path_model.or(body_model);
    check_client_string("path", path)?;
    if let Some(model) = &model {
        check_client_string("model", model)?;
    }
    let url: Uri = upstream_url(&provider, path, uri.query())
        .parse()
        .map_err(|_| {
            ProxyError::invalid_request(
                "invalid_path",
                "the provider's base URL and this path do not make a valid URL",
            )
        })?;
    let stream = uri.query().is_some_and(|q| q.contains("alt=sse"))
        || path.ends_with(":streamGenerateContent")
        || request_json
            .as_ref()
            .and_then(|v| v.get("stream"))
            .and_then(Value::as_bool)
            == Some(true);
    let mut ledger = Ledger::new(
        request_id,
        &caller.token,
        format!("/p/{provider_name}/{path}"),
        model.clone().unwrap_or_default(),
        stream,
    );
    ledger.row.model_served = model;
    let tiers = [Tier {
        provider: provider.clone(),
        model: ledger.row.model_served.clone().unwrap_or_default(),
        strategy: Strategy::Priority,
    }];
    let what = if tiers[0].model.is_empty() {
        path
    } else {
        tiers[0].model.as_str()
    };
    let request = Native {
        method,
        headers,
        body,
        what,
    };
    relay_native(state, &tiers, |_| Some(url.clone()), request, ledger).await
}

/// A request relayed in the provider's own protocol: its method, headers and body, and what
/// it names (for the error when no key could be tried).
pub(super) struct Native<'a> {
    pub method: Method,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub what: &'a str,
}

/// Tries `tiers` with the failover driver, each at `url_for(tier)`, with the key added the way
/// its provider expects; a success goes to the client through the relay as the provider
/// wrote it. When every attempt failed, the client gets the last upstream answer (less any
/// secret it echoed); with none, why no key could be tried.
pub(super) async fn relay_native(
    state: &AppState,
    tiers: &[Tier],
    url_for: impl Fn(&Tier) -> Option<Uri>,
    request: Native<'_>,
    mut ledger: Ledger,
) -> Result<Response, ProxyError> {
    let proxy = state.proxy();
    let Native {
        method,
        headers,
        body,
        what,
    } = request;
    let deadline = ledger.started + proxy.settings().total_deadline;
    let mut failover = Failover::new(proxy, tiers, None, deadline);
    let mut last: Option<(StatusCode, HeaderMap, Bytes)> = None;
    while let Some(candidate) = failover.next().await {
        let Candidate { tier, key, .. } = &candidate;
        let (provider, key) = (&tier.provider, key.clone());
        let Some(url) = url_for(tier) else {
            failover.unused(&candidate);
            continue;
        };
        ledger.row.model_served = (!tier.model.is_empty()).then(|| tier.model.clone());
        let attempts = failover.attempts();
        let tried_at = Instant::now();
        let upstream = match send(
            proxy,
            (method.clone(), &url),
            native_headers(headers, provider, &key),
            body.clone(),
            deadline,
        )
        .await
        {
            Ok(upstream) => upstream,
            Err(outcome) => {
                let tried = Tried::unanswered(outcome, tried_at.elapsed());
                let decision = conclude(proxy, &mut ledger, provider, &key, tried);
                failover.failed(decision.class, &key);
                continue;
            }
        };
        let status = upstream.status();
        key.runtime.note_rate_headers(upstream.headers());
        if status.is_success() {
            ledger.attempt(
                provider,
                &key,
                FailureClass::Success,
                Some(status.as_u16()),
                tried_at.elapsed(),
            );
            let kind = upstream
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map_or(RawKind::Other, RawKind::of);
            let first = FirstStream {
                provider: provider.clone(),
                key,
                opened: Opened::whole(upstream),
                shaper: Shaper::Raw(Raw::new(kind)),
                tried_at,
            };
            return Ok(stream_response(state.clone(), first, ledger, None));
        }
        let upstream_headers = upstream.headers().clone();
        let body = tokio::time::timeout(proxy.settings().idle_timeout, upstream.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let (outcome, error_text) = answered(status, &upstream_headers, &body);
        let tried = Tried {
            outcome,
            status: Some(status.as_u16()),
            error: error_text,
            took: tried_at.elapsed(),
        };
        let decision = conclude(proxy, &mut ledger, provider, &key, tried);
        if decision.request == RequestAction::Deliver || decision.class == FailureClass::Success {
            ledger.finish(
                proxy,
                Settled {
                    status: status.as_u16(),
                    error_class: Some(decision.class.as_str()),
                    ttfb: Some(tried_at.elapsed()),
                    ..Settled::default()
                },
            );
            let headers = response_headers(&upstream_headers);
            return Ok(answer(
                status,
                headers,
                Body::from(redacted::body(&key.redactor, body)),
                &provider.name,
                &key.label,
                attempts,
            ));
        }
        failover.failed(decision.class, &key);
        last = Some((
            status,
            response_headers(&upstream_headers),
            redacted::body(&key.redactor, body),
        ));
    }
    // Every key failed: hand the client the last upstream answer, as the provider wrote it
    // (less any secret it echoed); with none, why no key could be tried.
    let attempts = failover.attempts();
    let Some((status, headers, body)) = last else {
        let mut error = final_error(proxy, tiers, &ledger.row.attempts, what, true);
        error.attempts = Some(attempts);
        ledger.finish(proxy, Settled::failed(error.status.as_u16(), error.code));
        return Err(error);
    };
    let class = ledger
        .row
        .attempts
        .last()
        .map_or("no_key_available", |a| a.class.as_str())
        .to_string();
    ledger.finish(proxy, Settled::failed(status.as_u16(), &class));
    let mut response = (status, body).into_response();
    response.headers_mut().extend(headers);
    if let Ok(value) = attempts.to_string().parse() {
        response.headers_mut().insert("x-keygate-attempts", value);
    }
    Ok(response)
}

/// The provider's base URL + `/` + `path` + the query, minus any `key=` parameter (Gemini
/// accepts keys in the URL; KeyGate never puts one there, and never forwards the caller's).
/// Azure deployment paths get the provider's `api-version` when the caller named none.
fn upstream_url(provider: &LiveProvider, path: &str, query: Option<&str>) -> String {
    let api_version = (provider.kind == ProviderKind::Azure
        && path
            .trim_start_matches('/')
            .starts_with("openai/deployments/"))
    .then(|| azure_api_version(provider));
    join_url(&provider.base_url, path, query, api_version)
}

/// `v1`, `v1beta`, `v4`, `v2alpha`: a path segment that names an API version.
fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && rest[digits..].bytes().all(|b| b.is_ascii_lowercase())
}

fn join_url(base: &str, path: &str, query: Option<&str>, api_version: Option<&str>) -> String {
    let base = base.trim_end_matches('/');
    let mut path = path.trim_start_matches('/');
    // Tools add the API version themselves (Gemini CLI always sends `/v1beta/models/…`):
    // a version the base URL already ends with is given once, not doubled.
    if let Some((_, version)) = base.rsplit_once('/')
        && is_version(version)
        && let Some(rest) = path.strip_prefix(version)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        path = rest.trim_start_matches('/');
    }
    let mut url = format!("{base}/{path}");
    let mut kept = query.and_then(forwarded_query);
    if let Some(version) = api_version
        && !kept
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .any(|pair| pair.starts_with("api-version="))
    {
        let version = format!("api-version={version}");
        kept = Some(kept.map_or(version.clone(), |q| format!("{q}&{version}")));
    }
    if let Some(kept) = kept {
        url.push('?');
        url.push_str(&kept);
    }
    url
}

/// The model a provider path names: Gemini's `models/gemini-2.5-pro:generateContent`, a
/// model resource (`models/ft:…`), or an Azure deployment (`openai/deployments/gpt-4o/…`).
fn path_model(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .windows(2)
        .find(|pair| matches!(pair[0], "models" | "deployments") && !pair[1].is_empty())
        .map(|pair| {
            let name = pair[1];
            // `gemini-pro:generateContent` names the model before the method; a fine-tuned
            // OpenAI model (`ft:gpt-4o:org::id`) keeps its colons.
            match name.rsplit_once(':') {
                Some((model, method))
                    if !model.is_empty()
                        && method.chars().next().is_some_and(char::is_lowercase)
                        && method.chars().all(char::is_alphanumeric)
                        && !name.starts_with("ft:") =>
                {
                    model.to_string()
                }
                _ => name.to_string(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_the_base_already_has_is_not_doubled() {
        // Gemini CLI with GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:5397/p/gemini.
        assert_eq!(
            join_url(
                "https://g.example/v1beta",
                "v1beta/models/gemini-pro:streamGenerateContent",
                Some("alt=sse"),
                None
            ),
            "https://g.example/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            join_url(
                "https://api.openai.com/v1",
                "/v1/chat/completions",
                None,
                None
            ),
            "https://api.openai.com/v1/chat/completions"
        );
        // Only a whole, matching version segment goes.
        assert_eq!(
            join_url("https://x.example/v1", "v1beta/models", None, None),
            "https://x.example/v1/v1beta/models"
        );
        assert_eq!(
            join_url("https://x.example/api", "api/v1/x", None, None),
            "https://x.example/api/api/v1/x"
        );
        assert!(is_version("v4") && is_version("v1beta") && !is_version("vx") && !is_version("v"));
    }

    #[test]
    fn upstream_urls_keep_the_query_but_never_a_key() {
        assert_eq!(
            join_url("https://api.openai.com/v1/", "models", None, None),
            "https://api.openai.com/v1/models"
        );
        assert_eq!(
            join_url(
                "https://g.example/v1beta",
                "models/gemini-pro:streamGenerateContent",
                Some("alt=sse&key=AIzaLEAK"),
                None
            ),
            "https://g.example/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            join_url("https://x/v1", "a", Some("key=only"), None),
            "https://x/v1/a"
        );
        assert_eq!(
            join_url(
                "https://r.example",
                "openai/deployments/d/chat/completions",
                None,
                Some("2024-10-21")
            ),
            "https://r.example/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            join_url(
                "https://r.example",
                "x",
                Some("api-version=1"),
                Some("2024-10-21")
            ),
            "https://r.example/x?api-version=1",
            "the caller's api-version wins"
        );
    }

    #[test]
    fn path_models_are_read_for_gemini_azure_and_model_resources() {
        assert_eq!(
            path_model("models/gemini-2.5-pro:generateContent").as_deref(),
            Some("gemini-2.5-pro")
        );
        assert_eq!(
            path_model("v1beta/models/gemini-2.5-flash:streamGenerateContent").as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            path_model("openai/deployments/gpt-4o/chat/completions").as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(
            path_model("models/ft:gpt-4o-mini:org::abc123").as_deref(),
            Some("ft:gpt-4o-mini:org::abc123")
        );
        assert_eq!(path_model("models").as_deref(), None);
        assert_eq!(path_model("chat/completions"), None);
        assert_eq!(path_model("files"), None);
    }
}
