//! The OpenAI-style endpoints (chat, completions, embeddings, Responses) and `forward`, which
//! every proxy endpoint (`messages.rs` too) uses: admit the request (model, tiers) and hand
//! it to `exchange.rs`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::admit::admit;
use super::answer::with_request_id;
use super::anthropic_error::anthropic_response;
use super::auth::ProxyRequest;
use super::exchange::{Inbound, serve};
use super::ledger::new_request_id;
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
    let request_id = new_request_id();
    let catalog = state.proxy().catalog();
    let served = match admit(&catalog, &request.caller, &request.headers, &request.body) {
        Ok(admitted) => serve(state, &request, inbound, admitted, &request_id).await,
        Err(err) => Err(err),
    };
    let response = match served {
        Ok(response) => response,
        Err(err) if matches!(inbound, Inbound::Messages | Inbound::CountTokens) => {
            anthropic_response(err)
        }
        Err(err) => err.into_response(),
    };
    with_request_id(response, &request_id)
}
