//! Google's Gemini API on KeyGate's own port, for Gemini CLI and the google-genai SDKs:
//! `POST /v1beta/models/{model}:{method}` (`generateContent`, `streamGenerateContent`,
//! `countTokens`, `embedContent`, `batchEmbedContents`) and `GET /v1beta/models`, the local
//! token in `x-goog-api-key`, `?key=` (never forwarded) or `Authorization: Bearer`. The model
//! goes through routes and aliases like on every endpoint. A route of Gemini-kind tiers only
//! is tried with the failover driver over their pooled keys in Gemini's own protocol (bytes
//! pass as the provider wrote them, usage read from JSON answers and SSE events alike); a
//! route with tiers of other kinds has its generate calls translated through the hub
//! (`keygate_core::translate::hub`) and served by the attempt loop (`exchange`), so Gemini CLI
//! runs on Claude, DeepSeek or any other model. Errors come in Google's schema
//! `{"error":{"code","message","status"}}`.
//!
//! Gemini CLI works with `GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:5397` and
//! `GEMINI_API_KEY=kg-…`: it calls `/v1beta/models/…` itself, and KeyGate appends that to a
//! Gemini provider's base URL (`…/v1beta`) as `/models/…`, so the version is never doubled.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keygate_core::provider::ProviderKind;
use serde_json::{Value, json};

use super::admit::Admitted;
use super::admit::check_client_string;
use super::answer::with_request_id;
use super::auth::{Caller, ProxyRequest};
use super::exchange::{self, Inbound};
use super::ledger::{Ledger, new_request_id};
use super::openai_error::ProxyError;
use super::passthrough::{Native, relay_native};
use super::peek::Peek;
use super::routing::{RouteError, tiers};
use super::upstream::forwarded_query;
use crate::AppState;

/// The methods of a model KeyGate relays.
const METHODS: [&str; 5] = [
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "embedContent",
    "batchEmbedContents",
];

/// True for the paths whose clients expect Google's error schema.
pub fn is_gemini_path(path: &str) -> bool {
    path == "/v1beta" || path.starts_with("/v1beta/")
}

/// The token of a `?key=` query parameter (the Gemini API's way of passing a key).
pub fn query_key(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|key| !key.is_empty())
}

/// Google's status name for an HTTP status.
fn google_status(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 | 405 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// An error body in Google's schema `{"error":{"code","message","status"}}`.
pub fn google_error_body(status: u16, message: &str) -> Value {
    json!({ "error": { "code": status, "message": message, "status": google_status(status) } })
}

/// The event that ends a translated Gemini stream that broke: Google's error object as the
/// last `data:` event.
pub fn gemini_sse_error_event(message: &str) -> Bytes {
    Bytes::from(format!("data: {}\r\n\r\n", google_error_body(502, message)))
}

/// A KeyGate error as a Gemini client expects it: same status and message, and Google's
/// status name for it.
pub fn gemini_response(err: ProxyError) -> Response {
    let body = google_error_body(err.status.as_u16(), &err.message);
    let mut response = (err.status, Json(body)).into_response();
    err.add_headers(&mut response);
    response
}

pub async fn models(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(model_method): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = new_request_id();
    let response = match serve(
        &state,
        &caller,
        &model_method,
        &uri,
        &headers,
        body,
        &request_id,
    )
    .await
    {
        Ok(response) => response,
        Err(err) => gemini_response(err),
    };
    with_request_id(response, &request_id)
}

async fn serve(
    state: &AppState,
    caller: &Caller,
    model_method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Result<Response, ProxyError> {
    let not_found = |message: String| {
        ProxyError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            message,
        )
    };
    let Some((model, method)) = model_method
        .rsplit_once(':')
        .filter(|(model, method)| !model.is_empty() && METHODS.contains(method))
    else {
        return Err(not_found(format!(
            "models/{model_method} is not a method KeyGate relays (it relays {})",
            METHODS.join(", ")
        )));
    };
    check_client_string("model", model)?;
    let catalog = state.proxy().catalog();
    let routed = tiers(&catalog, model).map_err(|e| match e {
        RouteError::UnknownProvider(p) => not_found(format!("no provider named {p:?}")),
        RouteError::NoProvider(m) => not_found(format!(
            "no provider serves {m:?}: add a Gemini provider (`keygate provider add gemini --preset gemini`) or a route (`keygate route add`)"
        )),
    })?;
    let in_scope: Vec<_> = routed
        .into_iter()
        .filter(|t| caller.may_serve(&t.provider.name, &t.model))
        .collect();
    if in_scope.is_empty() && !caller.models().is_empty() {
        return Err(caller.out_of_scope(&format!("{model:?} is not one of them")));
    }
    let generates = matches!(method, "generateContent" | "streamGenerateContent");
    if generates
        && in_scope
            .iter()
            .any(|t| t.provider.kind != ProviderKind::Gemini)
    {
        let stream = method == "streamGenerateContent";
        return translated(
            state, caller, headers, &body, model, stream, in_scope, request_id,
        )
        .await;
    }
    let gemini: Vec<_> = in_scope
        .into_iter()
        .filter(|t| t.provider.kind == ProviderKind::Gemini)
        .collect();
    if gemini.is_empty() {
        // As Google answers a model it does not have.
        return Err(not_found(format!(
            "no Gemini-kind provider serves {model:?}: {method} is relayed to Gemini providers only"
        )));
    }
    let query = uri.query().and_then(forwarded_query);
    let url_for = |tier: &super::routing::Tier| -> Option<Uri> {
        let base = tier.provider.base_url.trim_end_matches('/');
        let mut url = format!("{base}/models/{}:{method}", tier.model);
        if let Some(query) = &query {
            url.push('?');
            url.push_str(query);
        }
        url.parse().ok()
    };
    let ledger = Ledger::new(
        request_id,
        &caller.token,
        format!("/v1beta/models:{method}"),
        model.to_string(),
        method == "streamGenerateContent",
    );
    let request = Native {
        method: Method::POST,
        headers,
        body,
        what: model,
    };
    relay_native(state, &gemini, url_for, request, ledger).await
}

/// A generate call for a route with tiers of other kinds: through the hub and the attempt
/// loop, every tier spoken to in chat completions or Messages (a Gemini tier of such a route
/// through its OpenAI-compatible surface). The body names no model and no streaming, so both
/// are added for the translator.
#[allow(clippy::too_many_arguments)]
async fn translated(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Bytes,
    model: &str,
    stream: bool,
    tiers: Vec<super::routing::Tier>,
    request_id: &str,
) -> Result<Response, ProxyError> {
    let mut request: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| {
            ProxyError::invalid_request(
                "invalid_json",
                format!("the request body is not a JSON object: {e}"),
            )
        })?;
    request.insert("model".into(), model.into());
    request.insert("stream".into(), stream.into());
    let body = serde_json::to_vec(&request)
        .map(Bytes::from)
        .map_err(|e| ProxyError::invalid_request("invalid_json", e.to_string()))?;
    let client = ProxyRequest {
        caller: caller.clone(),
        headers: headers.clone(),
        body,
        query: None,
    };
    let admitted = Admitted {
        request: Peek {
            model: Some(model.to_string()),
            stream,
            include_usage: None,
            session: None,
        },
        model: model.to_string(),
        tiers,
    };
    exchange::serve(
        state,
        &client,
        Inbound::Gemini { stream },
        admitted,
        request_id,
    )
    .await
}
