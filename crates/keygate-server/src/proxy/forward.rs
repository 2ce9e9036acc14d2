//! The OpenAI-style endpoints (chat, completions, embeddings, Responses) and `forward`, which
//! every proxy endpoint (`messages.rs` too) uses: admit the request (model, tiers) and hand
//! it to the attempt loop in `exchange.rs`; plus the helpers that loop uses to order keys,
//! prefer a session's key, wait for a cooling key and answer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keygate_core::select::{Candidate, Strategy, try_order};

use super::ProxyState;
use super::admit::admit;
use super::anthropic_error::anthropic_response;
use super::auth::ProxyRequest;
use super::catalog::{LiveKey, LiveProvider, max_errors};
use super::exchange::{Inbound, serve};
use super::ledger::new_request_id;
use super::routing::Tier;
use super::sticky::{Session, key_tag};
use crate::AppState;

pub async fn chat_completions(State(state): State<AppState>, request: ProxyRequest) -> Response {
    forward(&state, request, Inbound::Chat).await
}

pub async fn completions(State(state): State<AppState>, request: ProxyRequest) -> Response {
    forward(&state, request, Inbound::Completions).await
}

pub async fn responses(State(state): State<AppState>, request: ProxyRequest) -> Response {
    forward(&state, request, Inbound::Responses).await
}

pub async fn embeddings(State(state): State<AppState>, request: ProxyRequest) -> Response {
    forward(&state, request, Inbound::Embeddings).await
}

/// Admits and serves one request on any endpoint (`messages.rs` too); errors come in the
/// schema of the endpoint called.
pub(super) async fn forward(state: &AppState, request: ProxyRequest, inbound: Inbound) -> Response {
    let ProxyRequest {
        caller,
        headers,
        body,
    } = request;
    let request_id = new_request_id();
    let catalog = state.proxy().catalog();
    let served = match admit(&catalog, &caller, &headers, &body) {
        Ok(admitted) => {
            serve(
                state,
                &caller,
                &headers,
                &body,
                inbound,
                admitted,
                &request_id,
            )
            .await
        }
        Err(err) => Err(err),
    };
    let mut response = match served {
        Ok(response) => response,
        Err(err) if matches!(inbound, Inbound::Messages | Inbound::CountTokens) => {
            anthropic_response(err)
        }
        Err(err) => err.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
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

/// The headers KeyGate adds to its answers.
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-keygate-request-id");
const PROVIDER: HeaderName = HeaderName::from_static("x-keygate-provider");
const KEY: HeaderName = HeaderName::from_static("x-keygate-key");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-keygate-attempts");

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
        (PROVIDER, HeaderValue::from_str(provider)),
        (KEY, HeaderValue::from_str(key_label)),
        (ATTEMPTS, Ok(HeaderValue::from(attempts))),
    ] {
        if let Ok(value) = value {
            headers.insert(name, value);
        }
    }
    response
}
