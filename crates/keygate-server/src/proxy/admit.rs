//! What every model-routed endpoint checks before it tries a key: a JSON body, a model the
//! caller's token may use, and the tiers that can serve it. Errors are in the OpenAI schema;
//! the Anthropic endpoints rewrite them into theirs.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use keygate_core::bounds::check_client_text;

use super::auth::Caller;
use super::catalog::Catalog;
use super::openai_error::ProxyError;
use super::peek::{Peek, peek};
use super::routing::{RouteError, Tier, tiers};

use super::sticky::SESSION_HEADERS;

/// Refuses a text a client sent that KeyGate would store, log or quote (a model name, a
/// session id, a `/p/` path) when it is longer than
/// [`keygate_core::bounds::MAX_TEXT_BYTES`]: a 400 in the OpenAI schema (the Anthropic
/// endpoints rewrite it into theirs) that names `field` and never quotes the value. Call it
/// before building the request's [`super::ledger::Ledger`].
pub fn check_client_string(field: &str, value: &str) -> Result<(), ProxyError> {
    check_client_text(value)
        .map_err(|e| ProxyError::invalid_request("string_too_long", format!("`{field}` {e}")))
}

/// A request that passed the checks.
pub struct Admitted {
    pub request: Peek,
    /// The model the client asked for (an alias, `provider/model` or a bare model).
    pub model: String,
    pub tiers: Vec<Tier>,
}

pub fn admit(
    catalog: &Catalog,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Admitted, ProxyError> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(ProxyError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "unsupported_media_type",
            format!(
                "the request body must be JSON (Content-Type: application/json), not {content_type:?}"
            ),
        ));
    }
    let request = peek(body).map_err(|e| {
        ProxyError::invalid_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let Some(model) = request.model.clone() else {
        return Err(ProxyError::invalid_request(
            "missing_model",
            "the request has no \"model\"",
        ));
    };
    // Before anything quotes or stores them: the model goes to the request log, the session
    // id picks a key. Only the length: a model name is the client's business with its
    // provider, control characters included (it stays inside JSON everywhere).
    check_client_string("model", &model)?;
    if let Some(session) = &request.session {
        check_client_string(
            "session id (prompt_cache_key, user or metadata.user_id)",
            session,
        )?;
    }
    for name in &SESSION_HEADERS {
        if let Some(value) = headers.get(name) {
            check_client_string(name.as_str(), value.to_str().unwrap_or_default())?;
        }
    }
    let tiers = tiers(catalog, &model).map_err(|e| match e {
        // A scoped token learns nothing about models outside its scope.
        _ if !caller.models().is_empty() && !caller.may_use(&model) => {
            caller.out_of_scope(&format!("{model:?} is not one of them"))
        }
        RouteError::UnknownProvider(p) => ProxyError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("no provider named {p:?} and no provider known to serve {model:?}; add one with `keygate key add --provider NAME`"),
        ),
        RouteError::NoProvider(m) => ProxyError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("no provider with keys is known to serve {m:?}: ask for PROVIDER/{m}, or add a key for a provider that serves it"),
        ),
    })?;
    // The scope holds for the models that will really be served, after aliases and routes.
    let tiers = if caller.models().is_empty() {
        tiers
    } else {
        let allowed: Vec<Tier> = tiers
            .into_iter()
            .filter(|t| caller.may_serve(&t.provider.name, &t.model))
            .collect();
        if allowed.is_empty() {
            return Err(caller.out_of_scope(&format!("{model:?} is not served by any of them")));
        }
        allowed
    };
    Ok(Admitted {
        request,
        model,
        tiers,
    })
}
