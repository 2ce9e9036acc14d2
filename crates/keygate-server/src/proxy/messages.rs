//! The Anthropic Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`, for
//! Claude Code and the Anthropic SDKs. Same auth, routing, failover and ledger as the OpenAI
//! endpoints (see `exchange.rs`); every error reaches the client in Anthropic's schema.
//!
//! `count_tokens` is answered only by `anthropic`-kind providers: KeyGate does not guess token
//! counts, so a model routed to OpenAI-style providers only gets a 404 `not_found_error` that
//! says so.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;

use super::admit::admit;
use super::anthropic_error::anthropic_response;
use super::auth::ProxyRequest;
use super::exchange::{Inbound, serve};
use super::ledger::new_request_id;
use crate::AppState;

pub async fn messages(State(state): State<AppState>, request: ProxyRequest) -> Response {
    handle(&state, request, Inbound::Messages).await
}

pub async fn count_tokens(State(state): State<AppState>, request: ProxyRequest) -> Response {
    handle(&state, request, Inbound::CountTokens).await
}

async fn handle(state: &AppState, request: ProxyRequest, inbound: Inbound) -> Response {
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
    let mut response = served.unwrap_or_else(anthropic_response);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(super::forward::REQUEST_ID, value);
    }
    response
}
