//! The proxy's request path: parse just enough of the request, pick tiers and keys, try them
//! with failover, and relay the answer — streams byte-for-byte as they arrive.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keygate_core::failure::{FailureClass, RequestAction, UpstreamOutcome, classify};
use keygate_core::provider::ProviderKind;
use keygate_core::select::{Candidate, Strategy, try_order};
use serde_json::Value;

use super::ProxyState;
use super::admit::{Admitted, admit};
use super::attempt::{answered, send};
use super::auth::Caller;
use super::catalog::{LiveKey, LiveProvider, max_errors};
use super::exchange::{Inbound, serve};
use super::final_error::final_error;
use super::ledger::{Ledger, new_request_id};
use super::openai_error::ProxyError;
use super::outcome::record;
use super::peek::upstream_body;
use super::relay::{Dialect, SseRelay};
use super::routing::Tier;
use super::sticky::{Session, key_tag};
use super::stream::stream_response;
use super::upstream::{endpoint_url, request_headers, response_headers};
use crate::AppState;

pub async fn chat_completions(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    forward(state, caller, headers, body, "/chat/completions").await
}

pub async fn completions(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    forward(state, caller, headers, body, "/completions").await
}

pub async fn responses(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    forward(state, caller, headers, body, "/responses").await
}

pub async fn embeddings(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    forward(state, caller, headers, body, "/embeddings").await
}

async fn forward(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
    suffix: &'static str,
) -> Response {
    let request_id = new_request_id();
    let mut response =
        match forward_inner(&state, &caller, &headers, body, suffix, &request_id).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-keygate-request-id", value);
    }
    response
}

async fn forward_inner(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Bytes,
    suffix: &'static str,
    request_id: &str,
) -> Result<Response, ProxyError> {
    let proxy = state.proxy();
    let catalog = proxy.catalog();
    let admitted = admit(&catalog, caller, headers, &body)?;
    // A chat request whose route reaches an Anthropic-kind provider is translated for that
    // tier; everything else stays on the untranslated path below.
    if suffix == "/chat/completions"
        && admitted
            .tiers
            .iter()
            .any(|t| t.provider.kind == ProviderKind::Anthropic)
    {
        return serve(
            state,
            caller,
            headers,
            &body,
            Inbound::Chat,
            admitted,
            request_id,
        )
        .await;
    }
    let Admitted {
        request,
        model,
        tiers,
    } = admitted;
    let stream = request.stream;

    // KeyGate always wants usage, also from streams; a client that did not ask for it will
    // not see it. Responses streams carry usage in their terminal event anyway.
    let dialect = if suffix == "/responses" {
        Dialect::Responses
    } else {
        Dialect::Chat
    };
    let strip_usage = stream && dialect == Dialect::Chat && request.include_usage != Some(true);
    let mut parsed: Option<Value> = None;

    let settings = &proxy.settings;
    let mut ledger = Ledger::new(
        request_id,
        &caller.token_name,
        suffix.to_string(),
        model.clone(),
        stream,
    );
    let started = ledger.started;
    let deadline = started + settings.total_deadline;
    let session = if settings.sticky_sessions {
        proxy
            .sessions
            .of(&caller.token_name, headers, request.session.as_deref())
    } else {
        None
    };
    let mut tried_any_provider = false;
    let mut waited = Duration::ZERO;
    'rounds: loop {
        'tiers: for tier in &tiers {
            let provider = &tier.provider;
            let Some(url) = endpoint_url(provider, suffix, &tier.model) else {
                continue;
            };
            tried_any_provider = true;
            ledger.row.model_served = Some(tier.model.clone());
            let rename = (tier.model != model).then_some(tier.model.as_str());
            let upstream_body = upstream_body(&body, &mut parsed, rename, strip_usage)
                .map_err(|e| ProxyError::invalid_request("invalid_json", e))?;
            let mut keys = key_order(proxy, provider, tier.strategy);
            if let Some(session) = session {
                prefer_session_key(proxy, session, &mut keys);
            }
            for key in keys {
                if ledger.row.attempts.len() >= settings.max_attempts || Instant::now() >= deadline
                {
                    break 'rounds;
                }
                let now_ms = proxy.clock.now_ms();
                let acquired = provider
                    .runtime
                    .breaker
                    .lock()
                    .map(|mut b| b.try_acquire(now_ms))
                    .unwrap_or(true);
                if !acquired {
                    continue 'tiers;
                }
                let tried_at = Instant::now();
                key.runtime.limiter.note_request(now_ms);
                let request = proxy
                    .client
                    .post(url.clone())
                    .headers(request_headers(headers, provider, &key))
                    .body(upstream_body.clone());
                let outcome = send(proxy, request, deadline).await;
                let upstream = match outcome {
                    Ok(upstream) => upstream,
                    Err(outcome) => {
                        let decision = classify(&outcome);
                        let error = Some(decision.class.as_str().to_string());
                        record(
                            proxy,
                            provider,
                            &key,
                            &decision,
                            None,
                            error,
                            tried_at.elapsed(),
                        );
                        ledger.attempt(provider, &key, decision.class, None, tried_at.elapsed());
                        continue;
                    }
                };
                let status = upstream.status();
                key.runtime.note_rate_headers(upstream.headers());
                let is_sse = upstream
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ct| ct.starts_with("text/event-stream"));
                if stream && status.is_success() && is_sse {
                    ledger.attempt(
                        provider,
                        &key,
                        FailureClass::Success,
                        Some(status.as_u16()),
                        tried_at.elapsed(),
                    );
                    if let Some(session) = session {
                        proxy.sessions.remember(session, key_tag(&key.id));
                    }
                    let key = key.clone();
                    return Ok(stream_response(
                        state.clone(),
                        provider.clone(),
                        key,
                        upstream,
                        SseRelay::new(strip_usage, dialect),
                        tried_at,
                        ledger,
                    ));
                }
                let ttfb = started.elapsed();
                let upstream_headers = upstream.headers().clone();
                let body = match tokio::time::timeout(settings.idle_timeout, upstream.bytes()).await
                {
                    Ok(Ok(body)) => body,
                    Ok(Err(_)) | Err(_) => {
                        let decision = classify(&UpstreamOutcome::Timeout);
                        let error = Some("the answer's body was not received".to_string());
                        record(
                            proxy,
                            provider,
                            &key,
                            &decision,
                            Some(status.as_u16()),
                            error,
                            tried_at.elapsed(),
                        );
                        ledger.attempt(provider, &key, decision.class, None, tried_at.elapsed());
                        continue;
                    }
                };
                let (outcome, error_text) = answered(status, &upstream_headers, &body);
                let decision = classify(&outcome);
                record(
                    proxy,
                    provider,
                    &key,
                    &decision,
                    Some(status.as_u16()),
                    error_text,
                    tried_at.elapsed(),
                );
                ledger.attempt(
                    provider,
                    &key,
                    decision.class,
                    Some(status.as_u16()),
                    tried_at.elapsed(),
                );
                if decision.request == RequestAction::Deliver {
                    let attempts = ledger.row.attempts.len();
                    let success = decision.class == FailureClass::Success;
                    if success && let Some(session) = session {
                        proxy.sessions.remember(session, key_tag(&key.id));
                    }
                    let class = (!success).then_some(decision.class.as_str());
                    ledger.finish(
                        proxy,
                        status.as_u16(),
                        class,
                        Some(ttfb),
                        None,
                        success.then(|| body.clone()),
                    );
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
            }
        }
        // Every key that could serve is cooling down: wait for the first to cool, within
        // `max_wait` and the deadline, when the user allows it.
        match first_cool(proxy, &tiers) {
            Some(wait)
                if waited + wait <= settings.max_wait
                    && Instant::now() + wait < deadline
                    && ledger.row.attempts.len() < settings.max_attempts =>
            {
                waited += wait;
                tokio::time::sleep(wait).await;
            }
            _ => break 'rounds,
        }
    }
    let error = final_error(
        proxy,
        &tiers,
        &ledger.row.attempts,
        &model,
        tried_any_provider,
    );
    ledger.finish(
        proxy,
        error.status.as_u16(),
        Some(error.code),
        None,
        None,
        None,
    );
    Err(error)
}

/// Moves the key that last served `session` to the front, if it is among `keys` (available).
pub(super) fn prefer_session_key(proxy: &ProxyState, session: Session, keys: &mut [Arc<LiveKey>]) {
    let Some(tag) = proxy.sessions.key_of(session) else {
        return;
    };
    if let Some(at) = keys.iter().position(|k| key_tag(&k.id) == tag) {
        keys[..=at].rotate_right(1);
    }
}

/// How long until the first key of `tiers` that is only cooling down (429, or its provider
/// paused) may be tried again; `None` when no key is merely cooling.
pub(super) fn first_cool(proxy: &ProxyState, tiers: &[Tier]) -> Option<Duration> {
    let now = proxy.clock.now_ms();
    tiers
        .iter()
        .flat_map(|tier| {
            let paused = tier
                .provider
                .runtime
                .paused_until_ms
                .load(Ordering::Relaxed);
            tier.provider.keys.iter().filter_map(move |key| {
                let health = key.runtime.snapshot();
                let benched =
                    health.bench_reason.is_some() || health.consecutive_errors >= max_errors();
                let until = health.cooling_until_ms.max(paused);
                (!benched && until > now).then(|| until - now)
            })
        })
        .min()
        .map(Duration::from_millis)
}

/// The keys of a provider in the order to try them now (empty while the provider is paused).
pub(super) fn key_order(
    proxy: &ProxyState,
    provider: &LiveProvider,
    strategy: Strategy,
) -> Vec<Arc<LiveKey>> {
    let now = proxy.clock.now_ms();
    if now < provider.runtime.paused_until_ms.load(Ordering::Relaxed) {
        return Vec::new();
    }
    let candidates: Vec<Candidate> = provider
        .keys
        .iter()
        .map(|k| {
            let headroom = k.runtime.headroom(&k.limits, now);
            Candidate {
                priority: k.priority,
                weight: k.weight,
                // A key at its local limit (rpm/tpm/rpd) waits like a cooling one; an expired
                // key is never used.
                available: k.runtime.available(now)
                    && k.runtime.limiter.allows(&k.limits, now)
                    && !k.expired_now(),
                uses: k.runtime.uses.load(Ordering::Relaxed),
                latency_us: k.runtime.latency_us.load(Ordering::Relaxed),
                cost: 0,
                headroom,
            }
        })
        .collect();
    let rotation = provider.runtime.rotation.fetch_add(1, Ordering::Relaxed);
    try_order(
        strategy,
        &candidates,
        usize::try_from(rotation).unwrap_or(0),
        rand::random(),
    )
    .into_iter()
    .map(|i| provider.keys[i].clone())
    .collect()
}

/// The client's answer: the upstream's status and allowed headers, the body, and KeyGate's
/// own headers naming who served it.
pub(super) fn answer(
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
    provider: &str,
    key_label: &str,
    attempts: usize,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-keygate-provider", provider.to_string()),
        ("x-keygate-key", key_label.to_string()),
        ("x-keygate-attempts", attempts.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
