//! The Anthropic Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`, for
//! Claude Code and the Anthropic SDKs. Same auth, routing, failover and ledger as the OpenAI
//! endpoints (see `exchange.rs`); every error reaches the client in Anthropic's schema.
//!
//! `count_tokens` is answered only by `anthropic`-kind providers: KeyGate does not guess token
//! counts, so a model routed to OpenAI-style providers only gets a 404 `not_found_error` that
//! says so.

use axum::extract::State;
use axum::response::Response;

use super::auth::ProxyRequest;
use super::exchange::Inbound;
use super::forward::forward;
use crate::AppState;

pub async fn messages(State(state): State<AppState>, request: ProxyRequest) -> Response {
    forward(&state, request, Inbound::Messages).await
}

pub async fn count_tokens(State(state): State<AppState>, request: ProxyRequest) -> Response {
    forward(&state, request, Inbound::CountTokens).await
}
